"""Argument mutation: what a user function may do to its caller's arguments
(``argument_mutations``).  A call of a helper that writes into an
argument (``p[i] = v``, ``p.append(v)``) is refused
(``check_no_argument_mutation``, called by the activity analysis); one
that applies ``p op= v`` to a parameter is checked when the call runs
(``ad.check_not_updated``: floats pass, arrays and lists are refused),
as the ANF walk emits for each such call.

>>> from ad_compiler.transforms.normalize.demo import show
>>> show('''
... def scale(p, v):
...     p *= v
...     return p
...
... def f(x):
...     return scale(x, 2.0)
... ''', lambda n, fn, body: n._block(body))  # doctest: +ELLIPSIS
def f(x):
    ad.check_not_updated(x, '__imul__', ..., '<demo>', 6, 11)
    t1 = scale(x, 2.0)
    return t1
"""
import copy
import inspect

import gast

from ad_compiler import checkpointing, runtime
from ad_compiler.transforms import annotations, nodes
from ad_compiler.transforms.annotations import Key
from ad_compiler.transforms.ad import ops
from ad_compiler.transforms.ad.ops import describe
from ad_compiler.transforms.frontend.parse import parse_function
from ad_compiler.transforms.normalize.common import _AUG_DUNDER, _MUTATING_METHODS, _MUTATING_NUMPY


def written_parameters(fn, body=None):
    """[(parameter, node)] of the parameters the function writes into in place
    (``p[i] = v``, ``p[i] += v``, ``p.attr[i] = v``), first write first."""
    params = [a.id for a in fn.args.posonlyargs + fn.args.args + fn.args.kwonlyargs]
    out = []
    seen = set()
    for node in nodes.walk(gast.Module(body=fn.body if body is None else body, type_ignores=[])):
        target = None
        if isinstance(node, gast.Assign):
            for t in node.targets:
                if isinstance(t, gast.Subscript):
                    target = t
        elif isinstance(node, gast.AugAssign) and isinstance(node.target, gast.Subscript):
            target = node.target
        if target is not None:
            base = target.value
            while isinstance(base, (gast.Subscript, gast.Attribute)):
                base = base.value
            if isinstance(base, gast.Name) and base.id in params and base.id not in seen:
                seen.add(base.id)
                out.append((base.id, node))
    return out


def _params_of(fn):
    args = fn.args
    return [a.id for a in args.posonlyargs + args.args + args.kwonlyargs]


def _rebound_before(fn, name, node):
    """Is ``name`` certainly rebound (``name = ...`` at the top level of the
    body) before ``node``'s line?"""
    for s in fn.body:
        if getattr(s, "lineno", 0) >= node.lineno:
            return False
        if isinstance(s, gast.Assign) and any(
                isinstance(t, gast.Name) and t.id == name for t in s.targets):
            return True
    return False


def argument_mutations(fn, _depth=0, _seen=None):
    """What the user function ``fn`` may do to its caller's arguments:
    ``{parameter: (kind, op dunder or None, filename, line)}``.  kind
    ``"write"``: it writes into the argument or its elements (``p[i] = v``,
    ``p.append(v)``, ``np.copyto(p, v)``), always refused at the call;
    ``"update"``: it applies ``p op= v`` to the parameter itself, which
    changes the caller's object when that is mutable (an array, a list),
    checked at run time (floats and ints are fine).  Calls of other user
    functions with a parameter are followed (a few levels deep)."""
    _seen = frozenset() if _seen is None else _seen
    if _depth > 4 or fn.__code__ in _seen:
        return {}
    _seen = _seen | {fn.__code__}
    try:
        info = parse_function(fn)
    except Exception:
        return {}
    return _mutations_of(info.node, info.filename, fn, _depth, _seen)


def _mutations_of(node, filename, fn, _depth=0, _seen=None):
    """argument_mutations of the parsed function ``node`` (``fn`` gives the
    globals its calls resolve in, or None)."""
    params = _params_of(node)
    out = {}
    for p, where in written_parameters(node):
        out[p] = ("write", None, filename, where.lineno)
    for sub in nodes.walk(node):
        if isinstance(sub, gast.AugAssign) and isinstance(sub.target, gast.Name) \
                and sub.target.id in params and not _rebound_before(node, sub.target.id, sub):
            out.setdefault(sub.target.id, ("update", _AUG_DUNDER.get(type(sub.op)),
                                           filename, sub.lineno))
        if not isinstance(sub, gast.Call):
            continue
        # (anywhere, not only as a statement: a lambda's body is its value)
        f = sub.func
        args = sub.args
        if isinstance(f, gast.Attribute) and isinstance(f.value, gast.Name) \
                and f.value.id in params and f.attr in _MUTATING_METHODS:
            out.setdefault(f.value.id, ("write", None, filename, sub.lineno))
            continue
        if isinstance(f, gast.Attribute) and f.attr in _MUTATING_NUMPY and args \
                and isinstance(args[0], gast.Name) and args[0].id in params:
            out.setdefault(args[0].id, ("write", None, filename, sub.lineno))
            continue
        call = sub
        f = call.func
        # a helper passing its parameter on to another helper
        callee = None
        if isinstance(f, gast.Name) and f.id not in params and fn is not None:
            callee = fn.__globals__.get(f.id)
            if callee is None and f.id in fn.__code__.co_freevars and fn.__closure__:
                try:
                    callee = fn.__closure__[fn.__code__.co_freevars.index(f.id)].cell_contents
                except ValueError:
                    callee = None
        callee = checkpointing.inner(callee)
        if callee is None or not ops.is_user_function(callee):
            continue
        try:
            bound = inspect.signature(callee, follow_wrapped=False).bind(*call.args, **{
                k.arg: k.value for k in call.keywords if k.arg}).arguments
        except (TypeError, ValueError):
            continue
        inner = argument_mutations(callee, _depth + 1, _seen)
        for q, what in inner.items():
            actual = bound.get(q)
            if isinstance(actual, gast.Name) and actual.id in params \
                    and not _rebound_before(node, actual.id, sub):
                out.setdefault(actual.id, (what[0], what[1], filename, sub.lineno))
    return out


def _user_text(node):
    """The source text of ``node`` as the user wrote it: names renamed by
    inlining and comprehension lowering (``i_1``, ``h_v``) shown with
    their original names."""
    node = copy.deepcopy(node)
    for n in nodes.walk(node):
        if isinstance(n, gast.Name) and annotations.has(n, Key.USER_NAME):
            n.id = annotations.get(n, Key.USER_NAME)
    return describe(node)


def check_no_argument_mutation(info, stmt, op, bound_names):
    """Refuse a call of a user function that writes into one of its arguments
    (or passes it to a helper that does): the change would be invisible to
    the derivative code.  (``p op= v`` on a parameter is checked at run
    time, see Normalizer._update_guards.)

    The wrapper of a ``functools.partial`` (transforms/frontend/parse.py's
    ``partial_function``) only passes its arguments on and returns: what
    the function it calls does to them is what that function, differentiated
    itself, may do (it is compiled as a callee, with the same checks), so
    the wrapper does not refuse it."""
    if getattr(info.fn, "__ad_partial__", None) is not None:
        return
    fn = op.fn
    try:
        bound = inspect.signature(fn, follow_wrapped=False).bind(*op.args, **dict(op.keywords)).arguments
    except (TypeError, ValueError):
        return
    mutations = argument_mutations(fn)
    for param in bound:
        kind, _, filename, lineno = mutations.get(param, (None, None, None, None))
        actual = bound[param]
        fresh = getattr(info, "fresh_temps", ())
        if kind == "write" and any(n in bound_names and n not in fresh
                                   for n in nodes.names_in(actual)):
            raise info.error(
                stmt, f"{op.label} writes into its argument '{param}' in place (at "
                f"{filename}:{lineno}); ad_compiler does not follow changes "
                f"to arguments across calls",
                hint=f"return the new array from {fn.__name__} and assign it here",
                construct="argument mutation")


class MutationGuards:
    def _callee_of(self, expr, call):
        """(user function, positional arguments) of a call, or (None, None)."""
        f = expr.func
        args = list(call.args)
        obj = None
        if isinstance(f, gast.Attribute) and isinstance(f.value, gast.Name) \
                and f.value.id in getattr(self.resolve, "types", {}):
            obj = getattr(self.resolve.types[f.value.id], f.attr, None)
            args = [nodes.name(f.value.id)] + args
        elif isinstance(f, gast.Name) and f.id in self.locals:
            return None, None
        elif isinstance(f, (gast.Name, gast.Attribute)):
            obj = self.resolve(f)
        obj = checkpointing.inner(obj)      # checkpoint(helper): the helper
        if obj is None or not ops.is_user_function(obj):
            return None, None
        return obj, args


    def _update_guards(self, expr, call):
        """A user function that applies ``p op= v`` to a parameter changes the
        caller's object when that is mutable (an array, a list): Python's
        caller sees the change, the derivative code would not.  Check the
        arguments passed for such parameters when the call runs."""
        if self.info.filename.startswith("<ad_compiler") or any(
                isinstance(a, gast.Starred) for a in call.args) or any(
                k.arg is None for k in call.keywords):
            return []
        if getattr(self.info.fn, "__ad_partial__", None) is not None:
            return []   # a partial's wrapper passes its arguments on (check_no_argument_mutation)
        fn, args = self._callee_of(expr, call)
        if fn is None:
            return []
        try:
            bound = inspect.signature(fn, follow_wrapped=False).bind(
                *args, **{k.arg: k.value for k in call.keywords}).arguments
        except (TypeError, ValueError):
            return []
        out = []
        for param, (kind, dunder, filename, lineno) in sorted(argument_mutations(fn).items()):
            actual = bound.get(param)
            if kind != "update" or not isinstance(actual, gast.Name) \
                    or actual.id in self._fresh_temps():
                continue    # (a new array no other name holds: nobody sees the update)
            out.append(self._update_guard(actual.id, dunder, expr, f"{fn.__name__}()", param,
                                          f"{filename}:{lineno}"))
        return out


    def _update_guard(self, name, dunder, node, what, param, where, shown=None):
        ad = self.inject("ad", runtime)
        msg = (f"{what} updates its argument '{param}' in place (at {where}); here that is "
               f"'{shown or name}' (of type {{kind}}), which Python would change, and ad_compiler does not "
               f"follow changes to arguments across calls")
        return gast.Expr(value=nodes.call(
            nodes.attr(nodes.name(ad), "check_not_updated"),
            [nodes.name(name), nodes.const(dunder), nodes.const(msg),
             nodes.const(self.info.filename), nodes.const(node.lineno),
             nodes.const(node.col_offset)]))
