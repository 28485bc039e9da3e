"""Normalization: the small grammar the AD passes see.

Before::

    def f(x, n):
        for i in range(n):
            if np.sum(x) > 10.0:
                break
            x = np.sin(x) * 2.0 + x.T
        return x.sum()

After (schematically; the generated names are collision-free)::

    def f(x, n):
        brk1 = False
        r1 = range(n)
        for i in r1:
            go1 = True
            t1 = np.sum(x)
            t2 = t1 > 10.0
            if t2:
                go1 = False
                brk1 = True
            if go1:
                t3 = np.sin(x)
                t4 = t3 * 2.0
                t5 = x.T
                x = t4 + t5
            if brk1:
                break
        t6 = x.sum()
        return t6

The grammar after this pass:

* ``name = op`` where ``op`` is one operation on atoms (names, constants,
  constant-rooted attributes such as ``np.pi``, tuples of atoms): a call, a
  binary/unary operation, a comparison, a subscript, an attribute, a
  tuple/list/dict display, or an opaque expression (lambda, comprehension,
  f-string) that must turn out inactive; the target never appears in ``op``;
* ``atom[index] = atom`` and ``atom.attr = atom`` stores;
* ``if name:`` and ``while name:`` (the condition is recomputed at the end of
  the body), ``for name in name:`` over a ``range`` bound to a name;
* ``break`` only as the last statement of a loop body, guarded by a flag;
  no ``continue``; a single ``return`` at the end;
* expression statements (``print(...)``), ``assert`` and ``raise`` unchanged.

Early ``return``, ``break`` and ``continue`` are lowered to flags, so every
block is structured and the reverse pass can replay it backwards.
"""
import copy
import inspect

import gast

from ad_compiler import checkpointing
from ad_compiler.transforms import nodes

_ARITH_OPS = (gast.Add, gast.Sub, gast.Mult, gast.Div, gast.Pow, gast.MatMult,
              gast.Mod, gast.FloorDiv, gast.BitAnd, gast.BitOr, gast.BitXor,
              gast.LShift, gast.RShift)
_INDEX_ARRAYS = {"array", "arange", "asarray", "argsort", "flatnonzero", "argwhere"}
_NO_COPY = {"asarray", "asanyarray", "ascontiguousarray", "asfortranarray"}
_OPSYMS = {gast.Add: "+", gast.Sub: "-", gast.Mult: "*", gast.Div: "/", gast.Pow: "**"}
_ALLOCATORS = {"zeros", "ones", "empty", "full", "zeros_like", "ones_like", "empty_like",
               "full_like", "array", "copy", "arange", "linspace", "eye", "identity",
               "concatenate", "stack", "vstack", "hstack", "tile", "repeat", "outer"}
_INPLACE_METHODS = {"sort", "fill", "partition", "resize", "put", "itemset", "byteswap",
                    "setfield"}
_VIEWS = {"reshape", "ravel", "squeeze", "transpose", "swapaxes", "moveaxis", "view",
          "expand_dims", "broadcast_to", "diagonal", "asarray", "asanyarray",
          "atleast_1d", "atleast_2d", "atleast_3d", "real", "imag"}
# NumPy functions (and array methods) whose result holds views of their input
_VIEW_LISTS = {"split", "array_split", "hsplit", "vsplit", "dsplit", "broadcast_arrays",
               "flip", "fliplr", "flipud", "rot90", "unstack", "meshgrid"}
# methods whose result holds the receiver's elements (copy: of a dict or list)
_HOLDING_METHODS = {"get", "setdefault", "pop", "values", "items", "copy"}
_OPAQUE = (gast.Lambda, gast.SetComp, gast.DictComp, gast.JoinedStr, gast.Set)


def local_names(fn):
    """Parameters and every name the function body assigns."""
    out = set()
    args = fn.args
    for a in list(args.posonlyargs) + list(args.args) + list(args.kwonlyargs):
        out.add(a.id)
    if args.vararg is not None:
        out.add(args.vararg.id)
    if args.kwarg is not None:
        out.add(args.kwarg.id)
    for node in gast.walk(fn):
        if isinstance(node, gast.Name) and isinstance(node.ctx, gast.Store):
            out.add(node.id)
    return out


def _contains(nodes_, types, stop=()):
    for node in nodes_:
        stack = [node]
        while stack:
            n = stack.pop()
            if isinstance(n, types):
                return True
            if isinstance(n, stop):
                continue
            stack.extend(gast.iter_child_nodes(n))
    return False


def written_parameters(fn, body=None):
    """[(parameter, node)] of the parameters the function writes into in place
    (``p[i] = v``, ``p[i] += v``, ``p.attr[i] = v``), first write first."""
    params = [a.id for a in fn.args.posonlyargs + fn.args.args + fn.args.kwonlyargs]
    out = []
    seen = set()
    for node in gast.walk(gast.Module(body=fn.body if body is None else body, type_ignores=[])):
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


_MUTATING_METHODS = {"append", "extend", "insert", "pop", "remove", "clear", "update",
                     "setdefault", "popitem", "reverse", "add", "discard"} | _INPLACE_METHODS
_MUTATING_NUMPY = {"copyto", "fill_diagonal", "put", "place", "putmask", "put_along_axis",
                   "shuffle", "at"}
_AUG_DUNDER = {gast.Add: "__iadd__", gast.Sub: "__isub__", gast.Mult: "__imul__",
               gast.Div: "__itruediv__", gast.FloorDiv: "__ifloordiv__", gast.Mod: "__imod__",
               gast.Pow: "__ipow__", gast.MatMult: "__imatmul__", gast.BitAnd: "__iand__",
               gast.BitOr: "__ior__", gast.BitXor: "__ixor__", gast.LShift: "__ilshift__",
               gast.RShift: "__irshift__"}


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
    from ad_compiler.transforms.frontend.parse import parse_function
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
    from ad_compiler.transforms.ad import ops
    params = _params_of(node)
    out = {}
    for p, where in written_parameters(node):
        out[p] = ("write", None, filename, where.lineno)
    for sub in gast.walk(node):
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
    from ad_compiler.transforms.ad.ops import describe
    node = copy.deepcopy(node)
    for n in gast.walk(node):
        if isinstance(n, gast.Name) and hasattr(n, "_ad_user_name"):
            n.id = n._ad_user_name
    return describe(node)


def check_no_argument_mutation(info, stmt, op, bound_names):
    """Refuse a call of a user function that writes into one of its arguments
    (or passes it to a helper that does): the change would be invisible to
    the derivative code.  (``p op= v`` on a parameter is checked at run
    time, see Normalizer._update_guards.)"""
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


class _LoopCtx:
    def __init__(self, go, brk):
        self.go = go
        self.brk = brk



def _stored_names(target):
    """The names an assignment target binds (``v0, (a, b)`` binds three)."""
    return {n.id for n in gast.walk(target)
            if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store)}

_NO_CONSTANT = object()


class Normalizer:
    def __init__(self, info, namer, resolve, inject):
        self.info = info
        self.namer = namer
        self.resolve = resolve  # callable(node) -> live object or None
        self.inject = inject    # callable(ident, obj) -> name in generated code
        self.locals = local_names(info.node)
        self.local_fns = {}
        self.retval = self.ret_go = None

    def _temp(self, prefix="t"):
        name = self.namer.temp(prefix)
        self.locals.add(name)
        return name

    def _fresh(self, base):
        name = self.namer.fresh(base)
        self.locals.add(name)
        return name

    # -- public -----------------------------------------------------------

    def run(self):
        fn = nodes.copy_node(self.info.node)
        body = fn.body
        # Drop the docstring.
        if body and isinstance(body[0], gast.Expr) and isinstance(body[0].value, gast.Constant) \
                and isinstance(body[0].value.value, str):
            body = body[1:]
        body = self._rewrite_maps(body)
        body = self._rewrite_derivative_values(body)
        body = self._extract_local_functions(body)
        body = self._copy_written_inputs(fn, body)
        body = self._lower_returns(body)
        new_body = self._function_parameters(fn) + self._block(body)
        if not new_body or not isinstance(new_body[-1], gast.Return):
            new_body.append(gast.Return(value=nodes.const(None)))
        fn.body = new_body
        fn.returns = None
        for a in fn.args.args + fn.args.posonlyargs + fn.args.kwonlyargs:
            a.annotation = None
        return fn

    # -- control flow lowering ------------------------------------------------

    def _lower_returns(self, body):
        """Lower early returns, break and continue to flags."""
        needs_ret = self._has_early_return(body)
        self.retval = self.ret_go = None
        if needs_ret:
            self.retval = self._fresh("retval")
            self.ret_go = self._fresh("go")
        loops = []
        out, _ = self._lower_block(body, self.ret_go, loops)
        if needs_ret:
            first = body[0] if body else None
            pre = [nodes.located(nodes.assign(self.retval, nodes.const(None)), first),
                   nodes.located(nodes.assign(self.ret_go, nodes.const(True)), first)]
            out = pre + out + [nodes.located(gast.Return(value=nodes.name(self.retval)), body[-1])]
        return out

    def _has_early_return(self, body):
        if not body:
            return False
        for i, stmt in enumerate(body):
            last = i == len(body) - 1
            if isinstance(stmt, gast.Return):
                if not last:
                    return True
                continue
            if _contains([stmt], gast.Return, stop=(gast.FunctionDef, gast.Lambda)):
                return True
        return False

    def _lower_block(self, stmts, flag, loops):
        out = []
        stopped = False
        for i, stmt in enumerate(stmts):
            new, may_stop = self._lower_stmt(stmt, flag, loops)
            out.extend(new)
            if may_stop:
                stopped = True
                rest = stmts[i + 1:]
                if rest:
                    rest_out, _ = self._lower_block(rest, flag, loops)
                    if rest_out:
                        out.append(nodes.located(nodes.if_(nodes.name(flag), rest_out), rest[0]))
                break
        return out, stopped

    def _lower_stmt(self, stmt, flag, loops):
        loc = lambda n: nodes.located(n, stmt)  # noqa: E731
        if isinstance(stmt, gast.Return) and self.retval is not None:
            out = [loc(nodes.assign(self.retval, stmt.value or nodes.const(None))),
                   loc(nodes.assign(self.ret_go, nodes.const(False)))]
            if loops:
                out += [loc(nodes.assign(loops[-1].go, nodes.const(False))),
                        loc(nodes.assign(loops[-1].brk, nodes.const(True)))]
            return out, True
        if isinstance(stmt, gast.Break):
            lp = loops[-1]
            return [loc(nodes.assign(lp.go, nodes.const(False))),
                    loc(nodes.assign(lp.brk, nodes.const(True)))], True
        if isinstance(stmt, gast.Continue):
            return [loc(nodes.assign(loops[-1].go, nodes.const(False)))], True
        if isinstance(stmt, gast.If):
            body, s1 = self._lower_block(stmt.body, flag, loops)
            orelse, s2 = self._lower_block(stmt.orelse, flag, loops)
            stmt.body = body or [gast.Pass()]
            stmt.orelse = orelse
            return [stmt], s1 or s2
        if isinstance(stmt, (gast.For, gast.While)):
            jumps = _contains(stmt.body, (gast.Break, gast.Continue),
                              stop=(gast.For, gast.While, gast.FunctionDef, gast.Lambda))
            returns = self.retval is not None and _contains(
                stmt.body, gast.Return, stop=(gast.FunctionDef, gast.Lambda))
            if not (jumps or returns):
                # nothing leaves this loop early; nested loops may still break
                stmt.body, _ = self._lower_block(stmt.body, flag, loops + [None])
                return [stmt], False
            lp = _LoopCtx(self._fresh("go"), self._fresh("brk"))
            body, _ = self._lower_block(stmt.body, lp.go, loops + [lp])
            stmt.body = ([loc(nodes.assign(lp.go, nodes.const(True)))] + body +
                         [loc(nodes.if_(nodes.name(lp.brk), [gast.Break()]))])
            out = [loc(nodes.assign(lp.brk, nodes.const(False))), stmt]
            if returns:
                if loops:
                    outer = loops[-1]
                    out.append(loc(nodes.if_(
                        gast.UnaryOp(op=gast.Not(), operand=nodes.name(self.ret_go)),
                        [loc(nodes.assign(outer.go, nodes.const(False))),
                         loc(nodes.assign(outer.brk, nodes.const(True)))])))
                return out, True
            return out, False
        return [stmt], False

    # -- ANF ------------------------------------------------------------------

    def _block(self, stmts):
        out = []
        for stmt in stmts:
            for new in self._stmt(stmt):
                out.append(nodes.located(new, stmt))
        return out

    def _stmt(self, stmt):
        if isinstance(stmt, gast.Assign):
            return self._assign(stmt.targets, stmt.value)
        if isinstance(stmt, gast.AnnAssign):
            if stmt.value is None:
                return []
            return self._assign([stmt.target], stmt.value)
        if isinstance(stmt, gast.AugAssign):
            return self._augassign(stmt)
        if isinstance(stmt, gast.Expr):
            if isinstance(stmt.value, gast.Constant):
                return []
            v = stmt.value
            if (isinstance(v, gast.Call) and isinstance(v.func, gast.Attribute)
                    and v.func.attr == "append" and isinstance(v.func.value, gast.Name)
                    and v.func.value.id in self.locals and len(v.args) == 1 and not v.keywords):
                # xs.append(v) -> xs = ad.append(xs, v): a new list, so that
                # the adjoint sweep can restore the old one
                lst = v.func.value.id
                return self._append(lst, v.args[0])
            if (isinstance(v, gast.Call) and isinstance(v.func, gast.Attribute)
                    and isinstance(v.func.value, gast.Name) and v.func.value.id in self.locals
                    and v.func.attr in _INPLACE_METHODS):
                return self._inplace_method(v)
            pre, op = self._simplify(stmt.value)
            return pre + [gast.Expr(value=op)]
        if isinstance(stmt, gast.If):
            pre, test = self._atomize(stmt.test)
            body = self._block(stmt.body)
            orelse = self._block(stmt.orelse)
            if isinstance(test, gast.Constant):
                return pre + (body if test.value else orelse)
            return pre + [nodes.if_(test, body, orelse)]
        if isinstance(stmt, gast.While):
            return self._while(stmt)
        if isinstance(stmt, gast.For):
            return self._for(stmt)
        if isinstance(stmt, gast.Return):
            if stmt.value is None:
                return [gast.Return(value=nodes.const(None))]
            pre, atom = self._atomize(stmt.value)
            return pre + [gast.Return(value=atom)]
        if isinstance(stmt, (gast.Pass, gast.Delete)):
            return []   # (del only passes the fence in generated code)
        if isinstance(stmt, (gast.Break, gast.Continue, gast.Assert, gast.Raise)):
            return [stmt]
        raise self.info.error(stmt, f"cannot differentiate a "
                              f"'{type(stmt).__name__}' statement",
                              construct=type(stmt).__name__)

    def _while(self, stmt):
        pre, test = self._atomize(stmt.test)
        body = self._block(stmt.body)
        if isinstance(test, gast.Constant):
            if not test.value:
                return pre
            return pre + [gast.While(test=test, body=body, orelse=[])]
        cond = self._temp("c")
        pre = pre + [nodes.assign(cond, test)]
        again, test2 = self._atomize(copy.deepcopy(stmt.test))
        again = [nodes.located(s, stmt) for s in again + [nodes.assign(cond, test2)]]
        last = body[-1] if body else None
        if (isinstance(last, gast.If) and len(last.body) == 1
                and isinstance(last.body[0], gast.Break) and isinstance(last.test, gast.Name)):
            # the loop can break: re-evaluate the condition only when it does
            # not, and keep 'if brk: break' last (a structured body for the
            # reverse sweep)
            guarded = nodes.located(nodes.if_(nodes.name(last.test.id), [gast.Pass()], again), stmt)
            return pre + [gast.While(test=nodes.name(cond), body=body[:-1] + [guarded, last],
                                     orelse=[])]
        return pre + [gast.While(test=nodes.name(cond), body=body + again, orelse=[])]

    def _builtin(self, name):
        """A builtin the generated code calls (range, len, min), under a
        name the user's function does not rebind."""
        import builtins
        return nodes.name(self.inject(name, getattr(builtins, name)))

    def _is_builtin(self, node, name):
        import builtins
        # by what the name resolves to: an alias (e = enumerate) is the builtin too
        return (isinstance(node, gast.Name) and node.id not in self.locals
                and self.resolve(node) is getattr(builtins, name))

    def _for(self, stmt):
        it = stmt.iter
        target = stmt.target
        pre = []
        unpack = []
        if isinstance(it, gast.Call) and self._is_builtin(it.func, "range") and not it.keywords:
            p, args = self._atoms(it.args)
            pre += p
            rng = self._temp("r")
            pre.append(nodes.assign(rng, nodes.call(self._builtin("range"), args)))
            if isinstance(target, gast.Name):
                index = target.id
            else:
                index = self._temp("i")
                unpack = self._assign([target], nodes.name(index))
        else:
            inner_it, inner_target = it, target
            if isinstance(it, gast.Call) and self._is_builtin(it.func, "enumerate") \
                    and len(it.args) == 1 and not it.keywords \
                    and isinstance(target, gast.Tuple) and len(target.elts) == 2:
                inner_it, inner_target = it.args[0], target.elts[1]
                if isinstance(target.elts[0], gast.Name):
                    index = target.elts[0].id
                else:
                    index = self._temp("i")
                    unpack += self._assign([target.elts[0]], nodes.name(index))
            else:
                index = self._temp("i")
            if isinstance(inner_it, gast.Call) and self._is_builtin(inner_it.func, "zip") \
                    and not inner_it.keywords and isinstance(inner_target, gast.Tuple) \
                    and len(inner_target.elts) == len(inner_it.args):
                parts = list(inner_it.args)
                elem_targets = list(inner_target.elts)
            else:
                parts = [inner_it]
                elem_targets = [inner_target]
            seqs = []
            for part in parts:
                p, seq = self._sequence(part)
                pre += p
                seqs.append(seq)
            lens = []
            for s in seqs:
                n = self._temp("n")
                pre.append(nodes.assign(n, nodes.call(self._builtin("len"), [copy.deepcopy(s)])))
                lens.append(nodes.name(n))
            if len(lens) > 1:
                n = self._temp("n")
                pre.append(nodes.assign(n, nodes.call(self._builtin("min"), lens)))
                lens = [nodes.name(n)]
            rng = self._temp("r")
            pre.append(nodes.assign(rng, nodes.call(self._builtin("range"), lens)))
            for s, t in zip(seqs, elem_targets):
                elem = gast.Subscript(value=copy.deepcopy(s), slice=nodes.name(index),
                                      ctx=gast.Load())
                unpack += self._assign([t], elem)
        body = [nodes.located(s, stmt) for s in unpack] + self._block(stmt.body)
        loop = gast.For(target=nodes.name(index, store=True), iter=nodes.name(rng),
                        body=body, orelse=[], type_comment=None)
        return [nodes.located(s, stmt) for s in pre] + [loop]

    def _sequence(self, expr):
        """An indexable sequence with the elements ``for`` would iterate:
        arrays, lists and tuples as they are; dicts give their keys,
        ``d.items()`` its pairs, anything else (zip, generators) a list."""
        from ad_compiler import runtime
        pre, atom = self._atomize(expr)
        ad = self.inject("ad", runtime)
        seq = self._temp("seq")
        call = nodes.call(nodes.attr(nodes.name(ad), "as_sequence"), [atom])
        return pre + [nodes.assign(seq, call)], nodes.name(seq)

    def _assign(self, targets, value):
        if len(targets) > 1:
            pre, atom = self._atomize(value)
            out = pre
            for t in targets:
                out += self._assign([t], copy.deepcopy(atom))
            return out
        target = targets[0]
        if isinstance(target, gast.Name):
            pre, op = self._simplify(value)
            if not self._is_atom(op) and target.id in nodes.loaded_names(op):
                tmp = self._temp()
                return pre + [nodes.assign(tmp, op),
                              nodes.assign(target.id, nodes.name(tmp))]
            return pre + [nodes.assign(target.id, op)]
        if isinstance(target, (gast.Tuple, gast.List)):
            if isinstance(value, (gast.Tuple, gast.List)) and len(value.elts) == len(target.elts):
                # a, b = b, a: evaluate all right-hand sides first
                pre = []
                atoms = []
                for v in value.elts:
                    p, a = self._atomize(v)
                    pre += p
                    if isinstance(a, gast.Name):
                        tmp = self._temp()
                        pre.append(nodes.assign(tmp, a))
                        a = nodes.name(tmp)
                    atoms.append(a)
                out = pre
                for t, a in zip(target.elts, atoms):
                    out += self._assign([t], a)
                return out
            pre, atom = self._atomize(value)
            if not isinstance(atom, gast.Name):
                tmp = self._temp()
                pre.append(nodes.assign(tmp, atom))
                atom = nodes.name(tmp)
            out = pre
            for i, t in enumerate(target.elts):
                elem = gast.Subscript(value=nodes.name(atom.id), slice=nodes.const(i),
                                      ctx=gast.Load())
                out += self._assign([t], elem)
            return out
        if isinstance(target, gast.Subscript):
            chain = self._store_chain(target)
            if chain is not None:
                p3, val = self._atomize(value)
                return chain[0] + p3 + self._chain_writes(chain[1], chain[2], val)
            pre, base = self._atomize(target.value)
            p2, index = self._index(target.slice)
            p3, val = self._atomize(value)
            store = gast.Subscript(value=base, slice=index, ctx=gast.Store())
            return pre + p2 + p3 + [nodes.assign(store, val)]
        if isinstance(target, gast.Attribute):
            pre, base = self._atomize(target.value)
            p3, val = self._atomize(value)
            store = gast.Attribute(value=base, attr=target.attr, ctx=gast.Store())
            return pre + p3 + [nodes.assign(store, val)]
        raise self.info.error(target, "cannot differentiate an assignment to "
                              f"{type(target).__name__}", construct="assignment")

    def _store_chain(self, target, check=True):
        """``a[k][i] = v`` (two or more subscripts rooted at a local name):
        (statements, root, [index atoms]) or None for a single subscript
        or a root that is not a local name.  A chain through an attribute
        (``self.W[0] = v``, ``x.T[0] = v``, ``x.flat[0] = v``) writes into
        an array the function does not own: refused.  With ``check=False``
        only say whether ``target`` is such a chain (nothing refused)."""
        parts = []
        node = target
        through = None
        while isinstance(node, (gast.Subscript, gast.Attribute)):
            if isinstance(node, gast.Attribute):
                through = through or node
            parts.append(node)
            node = node.value
        if not (isinstance(node, gast.Name) and node.id in self.locals):
            return None
        if through is not None:
            if not check:
                return False
            raise self.info.error(
                target, f"cannot differentiate an in-place write through the attribute "
                f"'.{through.attr}' of '{node.id}': it writes into an array that other "
                f"names (or the caller) hold",
                hint=f"copy it first and write into the copy, e.g. w = {node.id}."
                     f"{through.attr}.copy(); w[...] = v",
                construct="write through an attribute")
        if len(parts) < 2:
            return None
        if not check:
            return True
        pre = []
        steps = []
        for part in reversed(parts):
            p, index = self._index(part.slice)
            pre += p
            steps.append(index)
        return pre, node.id, steps

    def _chain_writes(self, root, steps, val):
        """Store ``val`` at ``root[s1][s2]...[sn]`` without writing into memory
        the function does not own: each intermediate element is read and
        copied (``t1 = ad.copy_input(root[s1])``), written, and stored back
        into its container (``root[s1] = t1``), so the write is a chain of
        ordinary subscript stores that the AD passes follow and the caller's
        nested arrays and dicts are never modified (the root itself gets its
        private copy from _copy_written_inputs/_copy_aliased_writes)."""
        from ad_compiler import runtime
        ad = self.inject("ad", runtime)
        out = []
        holders = [nodes.name(root)]
        for index in steps[:-1]:
            t = self._temp()
            out.append(nodes.assign(t, gast.Subscript(value=copy.deepcopy(holders[-1]),
                                                      slice=copy.deepcopy(index), ctx=gast.Load())))
            out.append(nodes.assign(t, nodes.call(nodes.attr(nodes.name(ad), "copy_input"),
                                                  [nodes.name(t)])))
            holders.append(nodes.name(t))
        value = val
        for holder, index in reversed(list(zip(holders, steps))):
            out.append(nodes.assign(gast.Subscript(value=nodes.name(holder.id),
                                                   slice=copy.deepcopy(index), ctx=gast.Store()),
                                    copy.deepcopy(value)))
            value = holder
        return out

    def _unshared_guard(self, stmt, name):
        """``y += v`` updates an array in place: if y is (a view of) an array
        another name holds, Python changes both and we would not.  Check at
        run time against every array the binding of y nearest before read
        (``y = z``, ``y = x[1:]``, ``y = np.reshape(x if c else z, ...)``):
        a CompileError at the user's line (floats and fresh arrays pass)."""
        if self.info.filename.startswith("<ad_compiler"):
            return []           # generated code updates buffers it owns
        scopes = getattr(self, "_inline_scopes", [])
        if scopes:
            # inside an inlined local function: its own (renamed) bindings,
            # its parameters and what its body binds before the update
            bindings, bound, helper_body = scopes[-1]
            bound = set(bound)
            for s in helper_body:
                if getattr(s, "lineno", 0) >= stmt.lineno:
                    break
                if isinstance(s, gast.Assign):
                    bound |= {t.id for t in s.targets if isinstance(t, gast.Name)}
        else:
            bindings = getattr(self, "_bindings", {})
            bound = self._definitely_before(stmt)
        before = [b for b in bindings.get(name, []) if b.lineno < stmt.lineno]
        if not before:
            return []
        binding = max(before, key=lambda b: b.lineno)
        names = {}
        roots = self._alias_roots(binding.value)     # (y = x * 2 shares nothing)
        for n in gast.walk(binding.value):
            if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Load) and n.id in roots \
                    and n.id != name and n.id in self.locals and n.id in bound:
                names.setdefault(n.id, getattr(n, "_ad_user_name", n.id))
        others = sorted(names)
        if not others:
            return []
        from ad_compiler import runtime
        ad = self.inject("ad", runtime)
        shown = getattr(stmt.target, "_ad_user_name", name)
        msg = (f"in-place update of '{shown}', which {{how}} '{{other}}' (bound at line "
               f"{binding.lineno}); write {shown} = {shown} {_OPSYMS.get(type(stmt.op), 'op')} "
               f"... or copy it first")
        return [gast.Expr(value=nodes.call(
            nodes.attr(nodes.name(ad), "check_unshared"),
            [nodes.name(name), gast.Tuple(elts=[nodes.name(o) for o in others], ctx=gast.Load()),
             gast.Tuple(elts=[nodes.const(names[o]) for o in others], ctx=gast.Load()),
             nodes.const(msg), nodes.const(self.info.filename), nodes.const(stmt.lineno),
             nodes.const(stmt.col_offset)]))]

    def _augassign(self, stmt):
        target = stmt.target
        if isinstance(target, gast.Name):
            value = gast.BinOp(left=nodes.name(target.id), op=stmt.op, right=stmt.value)
            guard = self._unshared_guard(stmt, target.id)
            return guard + self._assign([nodes.name(target.id, store=True)], value)
        if isinstance(target, gast.Subscript) and self._store_chain(target, check=False):
            # a[k][i] += v: read the element, then store the new value
            # through the chain (see _chain_writes)
            pre, root, steps = self._store_chain(target)
            read = nodes.name(root)
            for index in steps:
                old = self._temp()
                pre.append(nodes.assign(old, gast.Subscript(value=read, slice=copy.deepcopy(index),
                                                            ctx=gast.Load())))
                read = nodes.name(old)
            p3, val = self._atomize(stmt.value)
            new = self._temp()
            pre += p3 + [nodes.assign(new, gast.BinOp(left=read, op=stmt.op, right=val))]
            return pre + self._chain_writes(root, steps, nodes.name(new))
        if isinstance(target, gast.Subscript):
            pre, base = self._atomize(target.value)
            p2, index = self._index(target.slice)
            read = gast.Subscript(value=copy.deepcopy(base), slice=copy.deepcopy(index),
                                  ctx=gast.Load())
            old = self._temp()
            new = self._temp()
            p3, val = self._atomize(stmt.value)
            store = gast.Subscript(value=base, slice=index, ctx=gast.Store())
            return (pre + p2 + p3 + [nodes.assign(old, read),
                                     nodes.assign(new, gast.BinOp(left=nodes.name(old), op=stmt.op, right=val)),
                                     nodes.assign(store, nodes.name(new))])
        if isinstance(target, gast.Attribute):
            pre, base = self._atomize(target.value)
            read = gast.Attribute(value=copy.deepcopy(base), attr=target.attr, ctx=gast.Load())
            old = self._temp()
            new = self._temp()
            p3, val = self._atomize(stmt.value)
            store = gast.Attribute(value=base, attr=target.attr, ctx=gast.Store())
            return (pre + p3 + [nodes.assign(old, read),
                                nodes.assign(new, gast.BinOp(left=nodes.name(old), op=stmt.op, right=val)),
                                nodes.assign(store, nodes.name(new))])
        raise self.info.error(stmt, "cannot differentiate this augmented assignment",
                              construct="augmented assignment")

    # -- expressions ---------------------------------------------------------

    def _is_static_ref(self, node):
        """A Name/Attribute chain rooted at a non-local name (np.pi, math.e)."""
        while isinstance(node, gast.Attribute):
            node = node.value
        return isinstance(node, gast.Name) and node.id not in self.locals

    def _is_atom(self, node):
        return isinstance(node, (gast.Name, gast.Constant)) or (
            isinstance(node, gast.Attribute) and self._is_static_ref(node))

    def _atoms(self, exprs, allow_seq=True):
        pre = []
        out = []
        for e in exprs:
            p, a = self._atomize(e, allow_seq)
            pre += p
            out.append(a)
        return pre, out

    def _atomize(self, expr, allow_seq=False):
        """(statements, atom) computing ``expr``."""
        if isinstance(expr, gast.Name):
            return [], nodes.name(expr.id)
        if isinstance(expr, gast.Constant):
            return [], expr
        if isinstance(expr, gast.UnaryOp) and isinstance(expr.op, (gast.USub, gast.UAdd)) \
                and isinstance(expr.operand, gast.Constant) \
                and isinstance(expr.operand.value, (int, float, complex)) \
                and not isinstance(expr.operand.value, bool):
            v = expr.operand.value
            return [], nodes.const(-v if isinstance(expr.op, gast.USub) else v)
        if isinstance(expr, gast.Attribute) and self._is_static_ref(expr):
            return [], expr
        if allow_seq and isinstance(expr, (gast.Tuple, gast.List)) \
                and not any(isinstance(e, gast.Starred) for e in expr.elts):
            pre, elts = self._atoms(expr.elts)
            return pre, type(expr)(elts=elts, ctx=gast.Load())
        pre, op = self._simplify(expr)
        if self._is_atom(op):
            return pre, op
        tmp = self._temp()
        if not (self._alias_roots(op) - self._fresh_temps()):
            # a new array no other name holds (np.tanh(x), its views): a
            # helper may write into it (check_no_argument_mutation)
            self._fresh_temps().add(tmp)
        return pre + [nodes.assign(tmp, op)], nodes.name(tmp)

    def _fresh_temps(self):
        """The temporaries bound to fresh values (read once, by the
        expression they were made for), shared with later passes."""
        if not hasattr(self.info, "fresh_temps"):
            self.info.fresh_temps = set()
        return self.info.fresh_temps

    def _index(self, index):
        if isinstance(index, gast.Slice):
            pre = []
            parts = []
            for p in (index.lower, index.upper, index.step):
                if p is None:
                    parts.append(None)
                else:
                    s, a = self._atomize(p)
                    pre += s
                    parts.append(a)
            return pre, gast.Slice(lower=parts[0], upper=parts[1], step=parts[2])
        if isinstance(index, gast.Tuple):
            pre = []
            elts = []
            for e in index.elts:
                s, a = self._index(e)
                pre += s
                elts.append(a)
            return pre, nodes.tuple_(elts)
        return self._atomize(index, allow_seq=True)

    def _simplify(self, expr):
        """(statements, op): ``op`` is one operation on atoms."""
        if isinstance(expr, (gast.Name, gast.Constant)):
            return [], expr
        if isinstance(expr, gast.BinOp):
            p1, left = self._atomize(expr.left)
            p2, right = self._atomize(expr.right)
            return p1 + p2, gast.BinOp(left=left, op=expr.op, right=right)
        if isinstance(expr, gast.UnaryOp):
            if isinstance(expr.operand, gast.Constant) and isinstance(expr.op, (gast.USub, gast.UAdd)):
                return self._atomize(expr)
            p, operand = self._atomize(expr.operand)
            return p, gast.UnaryOp(op=expr.op, operand=operand)
        if isinstance(expr, gast.Compare):
            if len(expr.ops) == 1:
                p1, left = self._atomize(expr.left)
                p2, right = self._atomize(expr.comparators[0], allow_seq=True)
                return p1 + p2, gast.Compare(left=left, ops=expr.ops, comparators=[right])
            # a < b < c  ->  (a < b) and (b < c), b evaluated once
            pre, left = self._atomize(expr.left)
            parts = []
            operands = [left]
            for c in expr.comparators:
                p, a = self._atomize(c)
                pre += p
                operands.append(a)
            for i, op in enumerate(expr.ops):
                parts.append(gast.Compare(left=copy.deepcopy(operands[i]), ops=[op],
                                          comparators=[copy.deepcopy(operands[i + 1])]))
            p, op = self._simplify(gast.BoolOp(op=gast.And(), values=parts))
            return pre + p, op
        if isinstance(expr, gast.BoolOp):
            result = self._temp()
            return self._boolop(expr.op, expr.values, result), nodes.name(result)
        if isinstance(expr, gast.IfExp):
            result = self._temp()
            pre, test = self._atomize(expr.test)
            b1, v1 = self._simplify(expr.body)
            b2, v2 = self._simplify(expr.orelse)
            return pre + [nodes.if_(test, b1 + [nodes.assign(result, v1)],
                                    b2 + [nodes.assign(result, v2)])], nodes.name(result)
        if isinstance(expr, gast.Call):
            if isinstance(expr.func, gast.Name) and expr.func.id in self.local_fns:
                return self._inline_call(self.local_fns[expr.func.id], expr)
            if isinstance(expr.func, gast.Lambda):
                return self._inline_call(self._lambda_def(expr.func, "lambda"), expr)
            return self._call(expr)
        if isinstance(expr, (gast.ListComp, gast.GeneratorExp)):
            return self._comprehension(expr)
        if isinstance(expr, gast.Subscript):
            p1, value = self._atomize(expr.value)
            p2, index = self._index(expr.slice)
            return p1 + p2, gast.Subscript(value=value, slice=index, ctx=gast.Load())
        if isinstance(expr, gast.Attribute):
            if self._is_static_ref(expr):
                return [], expr
            p, value = self._atomize(expr.value)
            return p, gast.Attribute(value=value, attr=expr.attr, ctx=gast.Load())
        if isinstance(expr, (gast.Tuple, gast.List)):
            if any(isinstance(e, gast.Starred) for e in expr.elts):
                return [], expr
            pre, elts = self._atoms(expr.elts)
            return pre, type(expr)(elts=elts, ctx=gast.Load())
        if isinstance(expr, gast.Dict):
            if any(k is None for k in expr.keys):
                return [], expr
            p1, keys = self._atoms(expr.keys)
            p2, values = self._atoms(expr.values)
            return p1 + p2, gast.Dict(keys=keys, values=values)
        if isinstance(expr, _OPAQUE):
            return [], expr
        if isinstance(expr, gast.Starred):
            raise self.info.error(expr, "cannot differentiate a starred expression here",
                                  construct="starred")
        raise self.info.error(expr, f"cannot differentiate a '{type(expr).__name__}' expression",
                              construct=type(expr).__name__)

    # -- local functions, lambdas, comprehensions -----------------------------

    def _extract_local_functions(self, body):
        """Nested defs and lambdas bound to a name are inlined at their calls."""
        out = []
        for stmt in body:
            if isinstance(stmt, gast.FunctionDef):
                self._check_inlinable(stmt)
                self._local_aliases(stmt)
                self.local_fns[stmt.name] = stmt
                continue
            if (isinstance(stmt, gast.Assign) and len(stmt.targets) == 1
                    and isinstance(stmt.targets[0], gast.Name)
                    and isinstance(stmt.value, gast.Lambda)):
                fdef = self._lambda_def(stmt.value, stmt.targets[0].id)
                fdef._ad_lambda = stmt.value
                self._check_inlinable(fdef, stmt)
                self.local_fns[fdef.name] = fdef
                continue
            out.append(stmt)
        # a local function is inlined where it is called; used as a value
        # (passed to a helper, sorted(key=h)), it must read no variable of
        # the enclosing function: it is then the function its code makes
        for name in self.local_fns:
            called = set()
            for node in gast.walk(gast.Module(body=out, type_ignores=[])):
                if isinstance(node, gast.Call) and nodes.is_name(node.func, name):
                    called.add(id(node.func))
            for node in gast.walk(gast.Module(body=out, type_ignores=[])):
                if nodes.is_name(node, name) and id(node) not in called:
                    fdef = self.local_fns[name]
                    made, why = self._code_function(getattr(fdef, "_ad_lambda", fdef))
                    if made is None:
                        raise self.info.error(
                            node, f"the local function '{name}' is used as a value{why}; "
                                  f"such a function can only be called directly (it is "
                                  f"then inlined)",
                            hint="pass those values as parameters, or define the function "
                                 "at module level", construct="closure")
                    node._ad_user_name = name
                    node.id = self.inject(name, made)
        return out

    def _code_function(self, node):
        """``(function, "")`` for a local def or lambda ``node`` that reads
        no variable of the enclosing function and has constant defaults:
        the function its code object makes (equal to the one Python makes
        at run time); else ``(None, why)``."""
        from ad_compiler.transforms.frontend import parse
        code = parse.nested_code(self.info.fn.__code__, node,
                                 getattr(self.info, "col_shift", 0))
        if code is None:
            return None, ""
        if code.co_freevars:
            return None, (" and reads " + ", ".join(f"'{v}'" for v in code.co_freevars)
                          + " of the enclosing function")
        defaults = node.args.defaults
        if not all(isinstance(d, gast.Constant) for d in defaults) or any(
                d is not None for d in node.args.kw_defaults) or getattr(
                node, "decorator_list", None):
            return None, " with defaults that are not constants (or decorators)"
        made = parse.function_from_code(code, self.info.globals,
                                        tuple(d.value for d in defaults) or None)
        return made, ""

    def _rewrite_maps(self, body):
        """``map(h, xs, ys)`` -> ``[h(a, b) for a, b in zip(xs, ys)]`` when
        ``h`` is a name, a dotted reference or a lambda (evaluated once in
        Python; here the function is called by name, so a local def or a
        lambda is inlined and a module-level function is a call)."""
        normalizer = self

        class Maps(gast.NodeTransformer):
            def visit_Call(self, node):
                self.generic_visit(node)
                if not (normalizer._is_builtin(node.func, "map") and len(node.args) >= 2
                        and not node.keywords
                        and not any(isinstance(a, gast.Starred) for a in node.args)):
                    return node
                fn = node.args[0]
                if not (isinstance(fn, (gast.Name, gast.Lambda))
                        or normalizer._is_static_ref(fn)):
                    return node
                its = node.args[1:]
                items = [normalizer.namer.fresh("item") for _ in its]
                target = (nodes.name(items[0], store=True) if len(items) == 1 else
                          nodes.tuple_([nodes.name(i, store=True) for i in items], store=True))
                it = its[0] if len(its) == 1 else nodes.call(normalizer._builtin("zip"), its)
                elt = nodes.located(gast.Call(func=fn, args=[nodes.name(i) for i in items],
                                              keywords=[]), node)
                comp = gast.comprehension(target=target, iter=it, ifs=[], is_async=0)
                return nodes.located(gast.ListComp(elt=elt, generators=[comp]), node)

        return [Maps().visit(stmt) for stmt in body]

    def _local_aliases(self, fdef):
        """The aliasing checks of the function body (_copy_aliased_writes),
        applied to the body of a local function with its own parameters
        (``def h(v): w = v[1:]; w[0] = e; return np.sum(v)``)."""
        params = {a.id for a in fdef.args.args}
        saved = (set(self.locals), getattr(self, "_bindings", None))
        self.locals |= params
        try:
            fdef.body = self._copy_aliased_writes(fdef.body, params)
        finally:
            self.locals, self._bindings = saved

    def _copy_written_inputs(self, fn, body):
        """``x[i] = v`` on a parameter writes into the caller's array: work on
        a private copy instead (``x = ad.copy_input(x)`` first)."""
        params = [a.id for a in fn.args.posonlyargs + fn.args.args + fn.args.kwonlyargs]
        written = [p for p, _ in written_parameters(fn, body)]
        body = self._copy_aliased_writes(body)
        first = body[0] if body else None
        checks = self._unshared_parameter_checks(params, first)
        if not written:
            return checks + body
        from ad_compiler import runtime
        ad = self.inject("ad", runtime)
        pre = [nodes.located(nodes.assign(p, nodes.call(nodes.attr(nodes.name(ad), "copy_input"),
                                                        [nodes.name(p)])), first)
               for p in params if p in written]
        return checks + pre + body

    def _unshared_parameter_checks(self, params, first):
        """A parameter changed in place (``a[i] = v``, ``a += v``,
        ``a.append(v)``) that is, holds or shares memory with another
        parameter (``f(A, A, x)``, ``f(params, params["W"])``): Python would
        see the change through the other one.  A check at entry for each
        such parameter, against every other (``ad.check_param_unshared``)."""
        if len(params) < 2 or self.info.filename.startswith("<ad_compiler") \
                or self.info.node.name != getattr(self.info.fn, "__name__", None):
            return []
        mutated = _mutations_of(self.info.node, self.info.filename, self.info.fn)
        out = []
        for p in params:
            if p not in mutated:
                continue
            kind, dunder, _, line = mutated[p]
            others = [q for q in params if q != p]
            from ad_compiler import runtime
            ad = self.inject("ad", runtime)
            out.append(nodes.located(gast.Expr(value=nodes.call(
                nodes.attr(nodes.name(ad), "check_param_unshared"),
                [nodes.name(p), nodes.const(dunder if kind == "update" else None),
                 gast.Tuple(elts=[nodes.name(q) for q in others], ctx=gast.Load()),
                 gast.Tuple(elts=[nodes.const(q) for q in others], ctx=gast.Load()),
                 nodes.const(p), nodes.const(self.info.filename), nodes.const(line)])),
                first))
        return out

    def _copy_aliased_writes(self, body, params=None):
        """A name written in place (``W[0] = v``) that was bound to a value the
        function did not allocate (``W = params["W"]``, ``W = other``) could
        share memory with the caller's data or another name: give it a
        private copy right after such a binding."""
        written = {}
        for node in gast.walk(gast.Module(body=body, type_ignores=[])):
            targets = node.targets if isinstance(node, gast.Assign) else (
                [node.target] if isinstance(node, gast.AugAssign) else [])
            for t in targets:
                if isinstance(t, gast.Subscript):
                    base = t.value
                    while isinstance(base, (gast.Subscript, gast.Attribute)):
                        base = base.value
                    if isinstance(base, gast.Name):
                        written.setdefault(base.id, node)
        self._refuse_alias_updates(body, written, params)
        checks = self._alias_read_checks(body, params)
        if not written and not checks:
            return body
        from ad_compiler import runtime
        allocates = self._allocates

        def block(stmts):
            out = []
            for s in stmts:
                for field in ("body", "orelse"):
                    if getattr(s, field, None):
                        setattr(s, field, block(getattr(s, field)))
                if isinstance(s, gast.For) and ("in", id(s)) in checks:
                    s.body = checks[("in", id(s))] + s.body
                out.append(s)
                out += checks.get(id(s), [])
                if (isinstance(s, gast.Assign) and len(s.targets) == 1
                        and isinstance(s.targets[0], gast.Name) and s.targets[0].id in written
                        and not allocates(s.value)):
                    w = s.targets[0].id
                    ad = self.inject("ad", runtime)
                    out.append(nodes.located(nodes.assign(w, nodes.call(
                        nodes.attr(nodes.name(ad), "copy_input"), [nodes.name(w)])), s))
            return out

        return block(body)

    def _alias_read_checks(self, body, params=None):
        """A name bound to (a view of, an element of) ``R`` (``v = x[1:]``,
        ``W = params["W"]``, ``y = x``) and read again after an in-place write
        into ``R`` (``x[0] = e``, ``params["W"][0] = e``, ``x += e``,
        ``x.sort()``) sees the write in Python, not in the derivative code
        (the write is followed as a new value of R, or into a private copy
        of R's element).  For each such binding that reaches the write, a
        run-time check right after it: ``{id(binding): [statement]}``.  The
        check refuses only when the name does share memory with R (an
        element ``x[0]`` that is a number passes).  Reads after a rebinding
        of the name on every path (``for i ...: row = X[i]; X[i] = 2 * row``)
        do not count."""
        if self.info.filename.startswith("<ad_compiler"):
            return {}
        if params is None:
            params = {a.id for a in self.info.node.args.args + self.info.node.args.posonlyargs
                      + self.info.node.args.kwonlyargs}
        # every statement list, and where each node sits in them
        where = {}

        def collect(stmts, loop):
            for i, st in enumerate(stmts):
                for n in gast.walk(st):
                    where.setdefault(id(n), []).append((stmts, i, loop))
                for field in ("body", "orelse", "finalbody"):
                    sub = getattr(st, field, None)
                    if isinstance(sub, list) and sub and isinstance(sub[0], gast.stmt):
                        collect(sub, st if isinstance(st, (gast.For, gast.While))
                                and field == "body" else None)
        collect(body, None)
        module = gast.Module(body=body, type_ignores=[])
        # in-place writes: (root, statement, key of the first subscript, deep)
        writes = []
        for node in gast.walk(module):
            target = None
            if isinstance(node, gast.Assign):
                target = next((t for t in node.targets
                               if isinstance(t, (gast.Subscript, gast.Attribute))), None)
            elif isinstance(node, gast.AugAssign):
                target = node.target
            elif isinstance(node, gast.Expr) and isinstance(node.value, gast.Call) \
                    and isinstance(node.value.func, gast.Attribute) \
                    and node.value.func.attr in _MUTATING_METHODS:
                target = node.value.func
            if target is None:
                continue
            chain = []
            base = target
            while isinstance(base, (gast.Subscript, gast.Attribute)):
                chain.append(base)
                base = base.value
            if not isinstance(base, gast.Name) or (isinstance(node, gast.Expr) and len(chain) > 1):
                continue
            key = chain[-1].slice if chain and isinstance(chain[-1], gast.Subscript) else None
            # ``d['W'] += e`` updates the array d['W'] itself in place (its
            # __iadd__), which views of it and shallow copies of d share: a
            # write through an element, as ``d['W'][0] = e``
            through = isinstance(node, gast.AugAssign) and isinstance(target, gast.Subscript)
            writes.append((base.id, node, key, len(chain) > 1 or through))
        if not writes:
            return {}
        self._refuse_loop_source_writes(module, writes)
        # bindings: plain ``name = value``, and the names bound by unpacking
        # and by for targets (synthetic ``name = source[...]``, _bindings_of)
        bindings = {}
        for node in self._bindings_of(body):
            if isinstance(node, gast.Assign) and len(node.targets) == 1 \
                    and isinstance(node.targets[0], gast.Name):
                bindings.setdefault(node.targets[0].id, []).append(node)
        loads = {}
        for node in gast.walk(module):
            if isinstance(node, gast.Name) and isinstance(node.ctx, gast.Load):
                loads.setdefault(node.id, []).append(node)

        def killed(name, write, start, end, wrap=None):
            """Is ``name`` rebound on every path from line ``start`` to line
            ``end`` (``wrap``: through the next iteration of that loop), by a
            statement of a block that holds ``write``?"""
            for k in bindings.get(name, []):
                anchor = getattr(k, "_ad_anchor", k)
                if isinstance(anchor, gast.For):
                    # a for target is bound again at the top of every
                    # iteration (the body may not run: no kill otherwise)
                    if wrap is anchor:
                        return True
                    continue
                k = anchor
                for stmts, i, loop in where.get(id(k), []):
                    if stmts[i] is not k:
                        continue
                    # k is a statement of a list that holds the write
                    if not any(lst is stmts for lst, _, _ in where.get(id(write), [])):
                        continue
                    if wrap is None and start < k.lineno < end:
                        return True
                    if wrap is not None and wrap.body is stmts and (
                            k.lineno < end or k.lineno > start):
                        return True
            return False

        def first_read(watched, w, loops):
            """The first read of ``watched`` that can see the write ``w``."""
            for n in loads.get(watched, []):
                if n.lineno > w.lineno and not killed(watched, w, w.lineno, n.lineno):
                    return n
                if any(any(m is n for m in gast.walk(lp)) and n.lineno <= w.lineno
                       and not killed(watched, w, w.lineno, n.lineno, wrap=lp)
                       for lp in loops):
                    return n
            return None

        out = {}
        for name, binds in bindings.items():
            for b in binds:
                v = b.value
                anchor = getattr(b, "_ad_anchor", b)
                holder = self._may_hold_views(v)
                roots = {r for r in self._alias_roots(v)
                         if r != name and (r in self.locals or r in params)}
                if not roots:
                    continue
                bkey = v.slice if isinstance(v, gast.Subscript) and isinstance(v.value, gast.Name) \
                    else None
                simple = isinstance(v, gast.Name) or (
                    isinstance(v, (gast.Subscript, gast.Attribute))
                    and isinstance(v.value, gast.Name)) or (
                    isinstance(v, gast.Call) and isinstance(v.func, gast.Attribute)
                    and v.func.attr == "copy") or getattr(b, "_ad_unpacked", False)
                for root, w, key, deep in writes:
                    if w is anchor:
                        continue
                    if root in roots:
                        # a write into the source, read through ``name``
                        if isinstance(bkey, gast.Constant) and isinstance(key, gast.Constant) \
                                and bkey.value != key.value:
                            continue        # another key of the container
                        if not deep and isinstance(v, gast.Call) \
                                and isinstance(v.func, gast.Attribute) and v.func.attr == "copy":
                            continue        # a copy holds R's elements, not R's memory
                        pairs = [(name, root)]
                    elif root == name and deep and holder:
                        # ``rows = [Y[0], Y[1]]; rows[0][0] = e``: a write
                        # through an element of ``name``, read through a source
                        pairs = [(r, name) for r in sorted(roots)]
                    elif root == name and not deep and not simple:
                        # ``v = helper(x)`` / ``v = np.ravel(y)`` /
                        # ``v = (x if c else z)[1:]``, then ``v[0] = e``:
                        # refused when v does share memory with x, y or z
                        # (direct views and plain names: _refuse_alias_updates)
                        pairs = [(r, name) for r in sorted(roots)]
                    else:
                        continue
                    loops = [lp for _, _, lp in where.get(id(w), []) if lp is not None]
                    if b.lineno >= w.lineno and not any(
                            any(n is anchor for n in gast.walk(lp)) for lp in loops):
                        continue        # bound after the write
                    if b.lineno < w.lineno and killed(name, w, b.lineno, w.lineno):
                        continue        # rebound before the write
                    for watched, written in pairs:
                        read = first_read(watched, w, loops)
                        if read is None:
                            continue
                        from ad_compiler import runtime
                        ad = self.inject("ad", runtime)
                        if watched != name and not deep:
                            msg = (f"in-place write into '{written}', which shares memory "
                                   f"with '{watched}' (bound at line {b.lineno}), and "
                                   f"'{watched}' is read again at line {read.lineno}: Python "
                                   f"would see the write there, the derivative code would not")
                        elif watched == name:
                            msg = (f"in-place write into '{written}' changes '{name}' (bound to "
                                   f"it at line {b.lineno}), which is read again at line "
                                   f"{read.lineno}: Python would see the write through "
                                   f"'{name}', the derivative code would not")
                        else:
                            msg = (f"in-place write into an element of '{name}' (bound at line "
                                   f"{b.lineno}) changes '{watched}', which is read again at "
                                   f"line {read.lineno}: Python would see the write through "
                                   f"'{watched}', the derivative code would not")
                        # after the binding statement; for a for target, first
                        # thing in the loop body
                        slot = ("in", id(anchor)) if isinstance(anchor, gast.For) else id(anchor)
                        out.setdefault(slot, []).append(nodes.located(gast.Expr(value=nodes.call(
                            nodes.attr(nodes.name(ad), "check_not_aliased"),
                            [nodes.name(watched), nodes.name(written),
                             nodes.const(deep or watched != name),
                             nodes.const(msg), nodes.const(self.info.filename),
                             nodes.const(w.lineno), nodes.const(w.col_offset)])), anchor))
                    break
        return out

    def _may_hold_views(self, value):
        """May ``value`` be a new container holding views of (or the very
        arrays of) what it reads: ``[Y[0], Y[1]]``, ``{"a": Y[0]}``,
        ``[Y[i] for i ...]``, ``list(Y)``, ``np.split(Y, 2)``, ``f(Y)``?
        Arithmetic and NumPy allocators make fresh arrays."""
        if isinstance(value, (gast.List, gast.Tuple, gast.Dict, gast.Set, gast.ListComp,
                              gast.DictComp, gast.SetComp, gast.GeneratorExp, gast.IfExp,
                              gast.BoolOp)):
            return True
        if isinstance(value, gast.BinOp):
            # list concatenation / repetition of displays
            return any(isinstance(o, (gast.List, gast.Tuple, gast.ListComp))
                       for o in (value.left, value.right))
        if isinstance(value, gast.Call):
            f = value.func
            if isinstance(f, gast.Attribute) and isinstance(f.value, gast.Name) \
                    and f.value.id in self.locals:
                # a method of a local: d.get(k), a shallow d.copy() / ys.copy()
                return f.attr in _VIEWS or f.attr in _VIEW_LISTS or f.attr in _HOLDING_METHODS
            if self._allocates(value):
                return False
            import numpy
            obj = self.resolve(f)
            if isinstance(obj, numpy.ufunc):
                return any(k.arg == "out" for k in value.keywords)
            if (getattr(obj, "__module__", "") or "").startswith("numpy"):
                return getattr(obj, "__name__", "") in _VIEWS | _VIEW_LISTS
            return True
        return False

    def _alias_roots(self, value, definite=False):
        """The local names (and parameters) whose memory, or whose elements,
        the value of ``value`` may share.  Only what can hand its operand
        back propagates: a name, a basic subscript, an attribute (``x.T``),
        a view function or method applied to its DIRECT operand
        (``x.reshape(..)``, ``np.ravel(x)``, ``np.asarray(x)``), a display
        or comprehension (holds what it reads), a conditional, a container
        method (``d.get(k)``), a builtin that may return an element
        (``list``, ``min``, ``next``) and a call of a user (or unknown)
        function (any argument).  Arithmetic, comparisons, ufuncs and the
        other NumPy functions make fresh arrays: ``(y * 2).reshape(3)`` and
        ``np.ravel(np.tanh(x))`` share nothing.  ``definite``: only what
        certainly shares (chains of views down to a name), for compile-time
        refusals."""
        roots = self._alias_roots
        if isinstance(value, gast.Name):
            if value.id in self.locals:
                return {value.id}
            # a global holding data (not a module, function or class)
            obj = self.resolve(value)
            return set() if obj is None or callable(obj) or inspect.ismodule(obj) \
                or isinstance(obj, (int, float, complex, str, bool)) else {value.id}
        if isinstance(value, gast.Subscript):
            if self._advanced_index(value.slice):
                return set()
            return roots(value.value, definite)
        if isinstance(value, gast.Attribute):
            if value.attr in ("shape", "size", "ndim", "dtype", "nbytes", "itemsize"):
                return set()
            return roots(value.value, definite)
        if isinstance(value, (gast.Starred, gast.NamedExpr)):
            return roots(value.value, definite)
        if definite:
            if isinstance(value, gast.Call):
                f = value.func
                if isinstance(f, gast.Attribute) and not self._is_static_ref(f):
                    return roots(f.value, True) if f.attr in _VIEWS else set()
                obj = self.resolve(f)
                if (getattr(obj, "__module__", "") or "").startswith("numpy") \
                        and getattr(obj, "__name__", "") in _VIEWS and value.args:
                    return roots(value.args[0], True)
            return set()
        if isinstance(value, gast.IfExp):
            return roots(value.body) | roots(value.orelse)
        if isinstance(value, gast.BoolOp):
            return set().union(*(roots(v) for v in value.values))
        if isinstance(value, (gast.List, gast.Tuple, gast.Set)):
            return set().union(*(roots(e) for e in value.elts))
        if isinstance(value, gast.Dict):
            return set().union(*(roots(e) for e in value.values if e is not None))
        if isinstance(value, (gast.ListComp, gast.SetComp, gast.DictComp, gast.GeneratorExp,
                              gast.Lambda)):
            return {n.id for n in gast.walk(value) if isinstance(n, gast.Name)
                    and isinstance(n.ctx, gast.Load) and n.id in self.locals}
        if isinstance(value, gast.BinOp):
            # list / tuple concatenation and repetition of displays hold
            # their elements; arithmetic makes a fresh array
            if any(isinstance(o, (gast.List, gast.Tuple, gast.ListComp))
                   for o in (value.left, value.right)):
                return roots(value.left) | roots(value.right)
            return set()
        if not isinstance(value, gast.Call):
            return set()            # constants, unary operators, comparisons
        f = value.func
        args = list(value.args) + [k.value for k in value.keywords]
        everything = set().union(*(roots(a) for a in args)) if args else set()
        if isinstance(f, gast.Attribute) and not self._is_static_ref(f):
            # a method of a value: x.reshape(..), d.get(k, default), x.sum()
            if f.attr in _VIEWS or f.attr in _VIEW_LISTS:
                return roots(f.value)
            if f.attr in _HOLDING_METHODS:
                return roots(f.value) | everything
            return set()
        import numpy
        obj = self.resolve(f)
        if obj is None:
            return everything       # unknown callee: may return an argument
        if isinstance(obj, numpy.ufunc):
            out = [k.value for k in value.keywords if k.arg == "out"]
            return roots(out[0]) if out else set()
        mod = getattr(obj, "__module__", "") or ""
        name = getattr(obj, "__name__", "")
        if mod.startswith("numpy"):
            if name in ("broadcast_arrays", "meshgrid"):
                return everything
            if name in _VIEWS or name in _VIEW_LISTS or name in _NO_COPY:
                return roots(value.args[0]) if value.args else everything
            return set()
        if mod == "math" or obj in (float, int, len, abs, sum, range, bool, round, pow,
                                    isinstance, print, divmod, hash, str, repr):
            return set()
        return everything

    def _refuse_loop_source_writes(self, module, writes):
        """``for row in Y:`` (also ``enumerate``, ``zip``, ``d.items()``) reads
        the next element of ``Y`` at each iteration, and Python's next element
        includes the loop body's in-place writes into ``Y``; the derivative
        code iterates over ``Y`` as it was when the loop started.  A write
        into ``Y`` inside the loop is refused, unless it writes at the
        loop's own current index (``for i, row in enumerate(Y): Y[i] = ...``,
        ``for k, W in d.items(): d[k][0] = ...``, ``for k in d: d[k] = ...``),
        which no later iteration reads."""
        def sources(it):
            """(root name, current-index name or None) for each sequence
            the for loop ``it`` iterates (through views)."""
            if isinstance(it, gast.Call) and not it.keywords and (
                    self._is_builtin(it.func, "zip") or self._is_builtin(it.func, "enumerate")):
                return [r for a in it.args for r in sources(a)]
            if isinstance(it, gast.Call) and isinstance(it.func, gast.Attribute) \
                    and it.func.attr in ("items", "values", "keys") and not it.args:
                it = it.func.value
            return sorted(self._alias_roots(it, definite=True))

        for loop in gast.walk(module):
            if not isinstance(loop, gast.For):
                continue
            it, target = loop.iter, loop.target
            if isinstance(it, gast.Call) and self._is_builtin(it.func, "range"):
                continue
            roots = set(sources(it))
            if not roots:
                continue
            # the name that holds the current index (or key)
            current = None
            if isinstance(it, gast.Call) and self._is_builtin(it.func, "enumerate") \
                    and isinstance(target, gast.Tuple) and target.elts \
                    and isinstance(target.elts[0], gast.Name):
                current = target.elts[0].id
            elif isinstance(it, gast.Call) and isinstance(it.func, gast.Attribute) \
                    and it.func.attr == "items" and isinstance(target, gast.Tuple) \
                    and target.elts and isinstance(target.elts[0], gast.Name):
                current = target.elts[0].id
            elif isinstance(target, gast.Name) and (
                    isinstance(it, gast.Name) or (isinstance(it, gast.Call)
                                                  and isinstance(it.func, gast.Attribute)
                                                  and it.func.attr == "keys")):
                current = target.id     # for k in d: d[k] = ... (a dict's keys)
            inside = {id(n) for st in loop.body for n in gast.walk(st)}
            for root, w, key, deep in writes:
                if root not in roots or id(w) not in inside:
                    continue
                first = key.elts[0] if isinstance(key, gast.Tuple) and key.elts else key
                if current is not None and isinstance(first, gast.Name) and first.id == current \
                        and not any(isinstance(n, gast.Name) and n.id == current
                                    and isinstance(n.ctx, gast.Store)
                                    for st in loop.body for n in gast.walk(st)):
                    continue
                raise self.info.error(
                    w, f"in-place write into '{root}' inside a loop over '{root}' (line "
                    f"{loop.lineno}): Python's later iterations would see the write, the "
                    f"derivative code iterates over '{root}' as it was when the loop started",
                    hint=f"loop over the indices (for i in range(len({root}))) and read "
                         f"{root}[i] in the body, or write into a copy of '{root}'",
                    construct="write into the iterated sequence")

    def _allocates(self, value):
        """Does ``value`` certainly make a new array (or container)?"""
        if isinstance(value, (gast.BinOp, gast.UnaryOp, gast.List, gast.Dict, gast.ListComp,
                              gast.DictComp, gast.Constant, gast.Tuple)):
            return True
        if isinstance(value, gast.Call):
            f = value.func
            if isinstance(f, gast.Attribute) and f.attr in ("copy", "astype", "flatten"):
                return True
            obj = self.resolve(f) if not (isinstance(f, gast.Attribute)
                                          and isinstance(f.value, gast.Name)
                                          and f.value.id in self.locals) else None
            mod = getattr(obj, "__module__", "") or ""
            name = getattr(obj, "__name__", "")
            if mod.startswith("numpy") and name in _ALLOCATORS:
                return True
        return False

    def _may_be_view(self, value):
        """Is ``value`` the memory of what it reads (``x[1:]``, ``d["W"]``,
        ``x.T``, ``x.reshape(...)``, ``np.asarray(x)``), not a new array?"""
        if isinstance(value, gast.Subscript):
            return not self._advanced_index(value.slice)
        if isinstance(value, (gast.Name, gast.Attribute)):
            return True
        if isinstance(value, gast.Call):
            f = value.func
            name = f.attr if isinstance(f, gast.Attribute) else getattr(f, "id", None)
            return name in _VIEWS
        return False

    def _refuse_stale_reads(self, body, written, bindings, params):
        """``v = x[1:]; v[0] = 2.0`` works on a private copy of the view (the
        caller's x is never modified), which is Python's result only if the
        memory the view shares is not read again: a later read of ``x``
        (``params["W"]`` for ``W = params["W"]``; another key of a dict is
        fine) would see the write in Python.  Refused."""
        loops = []

        def enclosing_loops(stmts, stack):
            for st in stmts:
                if isinstance(st, (gast.For, gast.While)):
                    loops.append(st)
                    enclosing_loops(st.body, stack + [st])
                elif hasattr(st, "body"):
                    enclosing_loops(st.body, stack)
                    enclosing_loops(getattr(st, "orelse", []) or [], stack)
        enclosing_loops(body, [])
        for name, write in written.items():
            before = [b for b in bindings.get(name, []) if b.lineno < write.lineno
                      and not getattr(b, "_ad_unpacked", False)]
            if not before:
                continue
            binding = max(before, key=lambda b: b.lineno)
            value = binding.value
            key = value.slice if isinstance(value, gast.Subscript) else None
            # only what certainly shares memory is refused here: a view of
            # a fresh array ((y * 2).reshape(3)) shares nothing
            sources = {r for r in self._alias_roots(value, definite=True)
                       if r in params and r != name}
            if not sources:
                continue
            # the statements that run after the write: later lines, and the
            # whole body of each loop around the write
            after = []
            for node in gast.walk(gast.Module(body=body, type_ignores=[])):
                if isinstance(node, gast.stmt) and getattr(node, "lineno", 0) > write.lineno:
                    after.append(node)
            for lp in loops:
                inside = any(n is write for n in gast.walk(lp))
                if inside:
                    after += lp.body
            other_keys = set()
            for st in after:
                for n in gast.walk(st):
                    if isinstance(n, gast.Subscript) and isinstance(n.value, gast.Name) \
                            and n.value.id in sources and isinstance(n.slice, gast.Constant) \
                            and isinstance(key, gast.Constant) and n.slice.value != key.value:
                        other_keys.add(id(n.value))
            for st in after:
                for n in gast.walk(st):
                    if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Load) \
                            and n.id in sources and id(n) not in other_keys \
                            and n.lineno != binding.lineno:
                        raise self.info.error(
                            write, f"in-place write into '{name}', which shares memory with "
                            f"'{n.id}' (bound at line {binding.lineno}), and '{n.id}' is read "
                            f"again at line {n.lineno}: Python would see the write there",
                            hint=f"make a copy first ({name} = ....copy()) and write into it, "
                                 f"or write into '{n.id}' itself",
                            construct="aliased in-place write")

    def _definitely_before(self, stmt):
        """Names certainly bound when ``stmt`` runs (cheap, conservative):
        the parameters, what the simple statements before it assign in its
        own block and in every block around it (unpacking included), and
        the targets of the ``for`` loops around it.  Blocks are found by
        line (the statement may belong to a rewritten copy of the tree)."""
        out = {a.id for a in self.info.node.args.args + self.info.node.args.posonlyargs
               + self.info.node.args.kwonlyargs}
        line = stmt.lineno
        block = self.info.node.body
        while block:
            inner = None
            for s in block:
                first = getattr(s, "lineno", 0)
                last = getattr(s, "end_lineno", None) or first
                if first >= line:
                    break
                if last >= line:            # s contains stmt's line
                    if isinstance(s, gast.For):
                        out.update(_stored_names(s.target))
                    for field in ("body", "orelse"):
                        sub = getattr(s, field, None)
                        if isinstance(sub, list) and sub and any(
                                getattr(t, "lineno", 0) <= line <= (getattr(t, "end_lineno", 0) or 0)
                                for t in sub):
                            inner = sub
                    break
                if isinstance(s, (gast.Assign, gast.AugAssign, gast.AnnAssign)):
                    targets = s.targets if isinstance(s, gast.Assign) else [s.target]
                    for t in targets:
                        out.update(_stored_names(t))
            block = inner
        return out

    def _refuse_alias_updates(self, body, written, params=None):
        """An in-place update through one of two names for the same array
        (``y = z; y += 1.0`` or ``v = y[1:]; v[0] = 2.0``) changes both in
        Python; the derivative code would see only one: refused.  ``params``:
        the parameters (default: the function's)."""
        if params is None:
            params = {a.id for a in self.info.node.args.args + self.info.node.args.posonlyargs
                      + self.info.node.args.kwonlyargs}
        aliases = {}            # name -> (other name, binding statement)
        views = {}
        bindings = {}           # name -> [binding statements]
        for node in self._bindings_of(body):
            if (isinstance(node, gast.Assign) and len(node.targets) == 1
                    and isinstance(node.targets[0], gast.Name)):
                a = node.targets[0].id
                v = node.value
                bindings.setdefault(a, []).append(node)
                if (isinstance(v, gast.Call) and len(v.args) == 1 and not v.keywords
                        and isinstance(v.args[0], gast.Name)
                        and getattr(self.resolve(v.func), "__name__", None) in _NO_COPY
                        and (getattr(self.resolve(v.func), "__module__", "") or "").startswith("numpy")):
                    v = v.args[0]          # np.asarray(x) is x itself for an array
                if isinstance(v, gast.Name) and v.id in self.locals and v.id != a:
                    aliases.setdefault(a, (v.id, node))
                    aliases.setdefault(v.id, (a, node))
                    node._ad_alias = (a, v.id)
                elif isinstance(v, gast.Subscript) and not self._advanced_index(v.slice):
                    base = v.value
                    while isinstance(base, (gast.Subscript, gast.Attribute)):
                        base = base.value
                    if isinstance(base, gast.Name) and base.id in self.locals and base.id != a \
                            and (base.id not in params or getattr(node, "_ad_unpacked", False)):
                        views.setdefault(a, (base.id, node))
                        node._ad_alias = (a, base.id)
        self._bindings = bindings
        if self.info.filename.startswith("<ad_compiler"):
            return   # generated code updates buffers it owns
        self._refuse_stale_reads(body, written, bindings, params)
        for name, node in written.items():
            if name in aliases or name in views:
                other, where = aliases.get(name) or views.get(name)
                # the binding of name nearest before the write decides
                before = [b for b in bindings.get(name, []) if b.lineno < node.lineno]
                last = max(before, key=lambda b: b.lineno) if before else None
                if last is None or not hasattr(last, "_ad_alias"):
                    continue    # freshly allocated (or no sharing yet)
                raise self.info.error(
                    node, f"in-place write into '{name}', which may share memory with "
                    f"'{other}' (line {where.lineno})",
                    hint=f"make a copy first: {name} = ....copy()",
                    construct="aliased in-place write")

    def _bindings_of(self, body):
        """Every node of ``body``, with the names bound by unpacking
        (``a, b = x``, ``a, b = x[0], x[1]``) and by ``for`` targets
        (``for row in X``, ``for i, w in enumerate(ws)``, ``zip``) added as
        synthetic ``name = source[...]`` bindings marked ``_ad_unpacked``:
        those elements are views of (or the very arrays held by) the
        source, and no private copy is made for them."""
        def synthetic(target, value, where):
            out = []
            if isinstance(target, gast.Name):
                node = gast.Assign(targets=[nodes.name(target.id, store=True)], value=value,
                                   type_comment=None)
                node.lineno, node.col_offset = where.lineno, where.col_offset
                node._ad_unpacked = True
                node._ad_anchor = where     # the tuple assignment or the for loop
                out.append(node)
            elif isinstance(target, (gast.Tuple, gast.List)):
                if isinstance(value, (gast.Tuple, gast.List)) and len(value.elts) == len(target.elts):
                    parts = value.elts
                else:
                    parts = [gast.Subscript(value=value, slice=nodes.const(i), ctx=gast.Load())
                             for i in range(len(target.elts))]
                for t, v in zip(target.elts, parts):
                    out += synthetic(t, v, where)
            return out

        def element(seq):
            return gast.Subscript(value=seq, slice=nodes.name("_ad_index"), ctx=gast.Load())

        for node in gast.walk(gast.Module(body=body, type_ignores=[])):
            yield node
            if isinstance(node, gast.Assign) and len(node.targets) == 1 \
                    and isinstance(node.targets[0], (gast.Tuple, gast.List)):
                yield from synthetic(node.targets[0], node.value, node)
            elif isinstance(node, gast.For):
                it, target = node.iter, node.target
                if isinstance(it, gast.Call) and self._is_builtin(it.func, "range"):
                    continue
                if isinstance(it, gast.Call) and self._is_builtin(it.func, "enumerate") \
                        and len(it.args) == 1 and isinstance(target, gast.Tuple) \
                        and len(target.elts) == 2:
                    yield from synthetic(target.elts[1], element(it.args[0]), node)
                elif isinstance(it, gast.Call) and self._is_builtin(it.func, "zip") \
                        and isinstance(target, gast.Tuple) and len(target.elts) == len(it.args):
                    for t, a in zip(target.elts, it.args):
                        yield from synthetic(t, element(a), node)
                else:
                    yield from synthetic(target, element(it), node)

    def _advanced_index(self, index):
        """Is ``index`` statically an advanced index (a list, an index or
        mask array, a comparison), which makes ``x[index]`` a copy, not a
        view?"""
        if isinstance(index, gast.Tuple):
            return any(self._advanced_index(e) for e in index.elts)
        if isinstance(index, (gast.List, gast.Compare)):
            return True
        if isinstance(index, gast.Call):
            obj = self.resolve(index.func)
            return (getattr(obj, "__name__", None) in _INDEX_ARRAYS
                    and (getattr(obj, "__module__", "") or "").startswith("numpy"))
        return False

    def _lambda_def(self, lam, name):
        fdef = nodes.function_def(name, lam.args,
                                  [nodes.located(gast.Return(value=lam.body), lam)])
        return nodes.located(fdef, lam)

    def _check_inlinable(self, fdef, where=None):
        where = where or fdef
        args = fdef.args
        if fdef.decorator_list:
            raise self.info.error(where, f"cannot differentiate the decorated local function "
                                  f"'{fdef.name}'", hint="define it at module level",
                                  construct="nested def")
        if args.vararg or args.kwarg or args.kwonlyargs or args.posonlyargs:
            raise self.info.error(where, f"cannot differentiate the local function "
                                  f"'{fdef.name}' with *args, **kwargs or keyword-only "
                                  f"parameters", hint="define it at module level",
                                  construct="nested def")
        stored = sum(1 for n in gast.walk(self.info.node)
                     if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store)
                     and n.id == fdef.name)
        if stored > (0 if isinstance(where, gast.FunctionDef) else 1):
            raise self.info.error(where, f"the local function '{fdef.name}' is rebound; "
                                  f"cannot inline it", construct="nested def")
        for node in gast.walk(fdef):
            if isinstance(node, gast.Call) and nodes.is_name(node.func, fdef.name):
                raise self.info.error(node, f"cannot differentiate the recursive local "
                                      f"function '{fdef.name}'",
                                      hint="define it at module level", construct="recursion")

    def _inline_call(self, fdef, call):
        """Inline a call of a local function: its body, renamed, in ANF."""
        inner = local_names(fdef)
        params = [a.id for a in fdef.args.args]
        rename = {n: self._fresh(f"{fdef.name}_{n}" if fdef.name != "lambda" else n)
                  for n in sorted(inner)}
        self.locals |= set(rename.values())

        class Renamer(gast.NodeTransformer):
            def visit_Name(self, node):
                if node.id in rename:
                    node._ad_user_name = getattr(node, "_ad_user_name", node.id)
                    node.id = rename[node.id]
                return node

        body = [Renamer().visit(copy.deepcopy(s)) for s in fdef.body]
        # the helper's own bindings (``w = v``), for the guards of its
        # in-place updates (_unshared_guard): a scope while its body is lowered
        scope_bindings = {}
        for node in self._bindings_of(body):
            if isinstance(node, gast.Assign) and len(node.targets) == 1 \
                    and isinstance(node.targets[0], gast.Name):
                scope_bindings.setdefault(node.targets[0].id, []).append(node)
        scope = (scope_bindings, {rename[p] for p in params if p in rename}, body)
        pre = []
        bound = {}
        if any(isinstance(a, gast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
            raise self.info.error(call, "cannot inline a call with *args/**kwargs",
                                  construct="starred call")
        for p, a in zip(params, call.args):
            bound[p] = a
        if len(call.args) > len(params):
            raise self.info.error(call, f"too many arguments for '{fdef.name}'", construct="call")
        for k in call.keywords:
            if k.arg not in params or k.arg in bound:
                raise self.info.error(call, f"bad keyword argument '{k.arg}' for '{fdef.name}'",
                                      construct="call")
            bound[k.arg] = k.value
        defaults = dict(zip(params[len(params) - len(fdef.args.defaults):], fdef.args.defaults))
        for p in params:
            value = bound.get(p, defaults.get(p))
            if value is None:
                raise self.info.error(call, f"missing argument '{p}' for '{fdef.name}'",
                                      construct="call")
            pre += self._assign([nodes.name(rename[p], store=True)], copy.deepcopy(value))
        pre += self._inline_mutation_guards(fdef, call, params, bound, defaults, rename)
        # lower the inner returns with flags of its own
        saved = (self.retval, self.ret_go)
        try:
            lowered = self._lower_returns(body)
        finally:
            self.retval, self.ret_go = saved
        result = self._fresh(f"{fdef.name}_out" if fdef.name != "lambda" else "lambda_out")
        self.locals.add(result)
        if lowered and isinstance(lowered[-1], gast.Return):
            last = lowered.pop()
            lowered.append(nodes.located(nodes.assign(
                result, last.value if last.value is not None else nodes.const(None)), last))
        else:
            lowered.append(nodes.assign(result, nodes.const(None)))
        self._inline_scopes = getattr(self, "_inline_scopes", []) + [scope]
        try:
            pre += self._block(lowered)
        finally:
            self._inline_scopes = self._inline_scopes[:-1]
        return pre, nodes.name(result)

    def _inline_mutation_guards(self, fdef, call, params, bound, defaults, rename):
        """The inlined parameter of a local function is a second name for the
        caller's argument (``h_v = y``): a write into it (``v[0] = e``,
        ``v.append(e)``, ``v.sort()``) changes the caller's object in Python
        and is refused unless the argument is a fresh array; ``v op= e`` is
        checked when the call runs, as for module-level helpers (arrays and
        lists refused, floats fine)."""
        out = []
        what = ("the lambda" if fdef.name == "lambda" else
                f"the local function '{fdef.name}'")
        for p, (kind, dunder, _, lineno) in sorted(
                _mutations_of(fdef, self.info.filename, None).items()):
            if p not in rename:
                continue
            value = bound.get(p, defaults.get(p))
            if kind == "write" and not self._allocates(value) and self._alias_roots(value):
                                raise self.info.error(
                    call, f"{what} writes into its parameter '{p}' in place (line {lineno}), "
                    f"which here is '{_user_text(value)}': Python would change it, and the "
                    f"inlined code would not follow the change",
                    hint=f"return the new value from {fdef.name} and assign it here, or "
                         f"pass a copy ({_user_text(value)}.copy())",
                    construct="argument mutation")
            if kind == "update" and self._alias_roots(value):
                                out.append(nodes.located(self._update_guard(
                    rename[p], dunder, call, what, p, f"line {lineno}",
                    shown=_user_text(value)), call))
        return out

    def _inplace_method(self, call):
        """``y.sort(axis)`` sorts in place: rewritten ``y = np.sort(y, axis)``;
        other in-place array methods are refused."""
        import numpy
        name = call.func.value.id
        meth = call.func.attr
        if meth not in ("sort",):
            raise self.info.error(call, f"cannot differentiate the in-place method .{meth}()",
                                  hint=f"assign a new array instead (e.g. {name} = "
                                       f"np.full_like({name}, v) for .fill(v))",
                                  construct=f".{meth}()")
        np_name = self.inject("np", numpy)
        new = gast.Call(func=nodes.attr(nodes.name(np_name), meth),
                        args=[nodes.name(name)] + list(call.args), keywords=call.keywords)
        return self._assign([nodes.name(name, store=True)], new)

    def _append(self, lst, value):
        from ad_compiler import runtime
        pre, atom = self._atomize(value)
        ad = self.inject("ad", runtime)
        call = nodes.call(nodes.attr(nodes.name(ad), "append"), [nodes.name(lst), atom])
        return pre + self._assign([nodes.name(lst, store=True)], call)

    def _comprehension(self, expr):
        """[f(x) for x in xs if c(x)] -> a loop that appends to a fresh list."""
        rename = {}
        for gen in expr.generators:
            for n in gast.walk(gen.target):
                if isinstance(n, gast.Name):
                    rename.setdefault(n.id, self._fresh(n.id))
        self.locals |= set(rename.values())

        class Renamer(gast.NodeTransformer):
            def visit_Name(self, node):
                if node.id in rename:
                    node._ad_user_name = getattr(node, "_ad_user_name", node.id)
                    node.id = rename[node.id]
                return node

        expr = copy.deepcopy(expr)
        gens = expr.generators
        first_iter = gens[0].iter          # evaluated in the enclosing scope
        expr = Renamer().visit(expr)
        gens = expr.generators
        gens[0].iter = first_iter
        result = self._temp("items")
        self.locals.add(result)
        from ad_compiler import runtime
        self.inject("ad", runtime)
        inner = [nodes.located(gast.Expr(value=nodes.call(
            nodes.attr(nodes.name(result), "append"), [expr.elt])), expr)]
        for gen in reversed(gens):
            if getattr(gen, "is_async", 0):
                raise self.info.error(expr, "cannot differentiate an async comprehension",
                                      construct="async")
            for cond in reversed(gen.ifs):
                inner = [nodes.located(nodes.if_(cond, inner), expr)]
            inner = [nodes.located(gast.For(target=gen.target, iter=gen.iter, body=inner,
                                            orelse=[], type_comment=None), expr)]
        stmts = [nodes.located(nodes.assign(result, gast.List(elts=[], ctx=gast.Load())), expr)] + inner
        return self._block(stmts), nodes.name(result)

    def _boolop(self, op, values, result):
        pre, first = self._simplify(values[0])
        out = pre + [nodes.assign(result, first)]
        if len(values) == 1:
            return out
        rest = self._boolop(op, values[1:], result)
        if isinstance(op, gast.And):
            out.append(nodes.if_(nodes.name(result), rest))
        else:
            out.append(nodes.if_(nodes.name(result), [gast.Pass()], rest))
        return out

    _SEQUENCE_BUILTINS = {"zip": "zip_", "enumerate": "enumerate_", "reversed": "reversed_",
                          "sorted": "sorted_"}

    def _sequence_builtin(self, expr):
        """``zip(a, b)``, ``zip(*t)``, ``enumerate(x)``, ``reversed(x)``,
        ``sorted(x)`` move values: a call of the runtime's list-returning
        form (``ad.zip_((a, b))``, ``ad.zip_(t)``...), which has derivative
        rules, or None for other calls."""
        f = expr.func
        if not (isinstance(f, gast.Name) and f.id in self._SEQUENCE_BUILTINS
                and self._is_builtin(f, f.id)):
            return None
        from ad_compiler import runtime
        fn = nodes.attr(nodes.name(self.inject("ad", runtime)), self._SEQUENCE_BUILTINS[f.id])
        args = list(expr.args)
        if any(k.arg is None for k in expr.keywords):
            return None
        if f.id == "zip":
            if expr.keywords:
                return None       # zip(..., strict=True): left to Python
            if len(args) == 1 and isinstance(args[0], gast.Starred):
                args = [args[0].value]
            elif any(isinstance(a, gast.Starred) for a in args):
                return None
            else:
                args = [gast.Tuple(elts=args, ctx=gast.Load())]
        elif any(isinstance(a, gast.Starred) for a in args):
            return None
        return gast.Call(func=fn, args=args, keywords=list(expr.keywords))

    def _call(self, expr):
        seq = self._sequence_builtin(expr)
        if seq is not None:
            expr = seq
        expr = self._functions_passed(expr)
        pre = []
        func = expr.func
        label = None
        if isinstance(func, gast.Attribute) and not self._is_static_ref(func):
            cls = self._object_class(func.value)
            p, recv = self._atomize(func.value)
            pre += p
            if cls is not None and isinstance(recv, gast.Name) \
                    and self.resolve.types.get(recv.id, cls) is cls:
                self._bind_object_class(recv.id, func.value, cls)   # self.layer.forward(x)
            func = gast.Attribute(value=recv, attr=func.attr, ctx=gast.Load())
        elif isinstance(func, gast.Call) and self._static_derivative(func) is not None:
            # grad(energy)(x): the derivative is made now, read as a global
            made = self._static_derivative(func)
            func = nodes.name(self.inject(self._derivative_name(func), made))
        elif self._function_of(func) is not None:
            # f = np.sin; f(x) / acts['relu'](x): specialized, checked when run
            obj, written = self._function_of(func), expr.func
            if not isinstance(func, gast.Name):
                p, func = self._atomize(func)
                pre += p
            from ad_compiler.transforms.ad.ops import describe
            pre.append(self._function_guard(func.id, obj, expr, f"'{describe(written)}'",
                                            "what it held when compiled"))
        elif not (isinstance(func, gast.Name) or self._is_static_ref(func)):
            written = expr.func
            p, func = self._atomize(func)
            pre += p
            # messages name what the user wrote, not the temporary
            from ad_compiler.transforms.ad.ops import describe
            label = f"{describe(written)}(...)"
        args = []
        for a in expr.args:
            if isinstance(a, gast.Starred):
                p, v = self._atomize(a.value)
                pre += p
                args.append(gast.Starred(value=v, ctx=gast.Load()))
            else:
                p, v = self._atomize(a, allow_seq=True)
                pre += p
                args.append(v)
        keywords = []
        for k in expr.keywords:
            p, v = self._atomize(k.value, allow_seq=True)
            pre += p
            keywords.append(gast.keyword(arg=k.arg, value=v))
        call = gast.Call(func=func, args=args, keywords=keywords)
        if label is not None:
            call._ad_label = label
        return pre + self._update_guards(expr, call), call

    def _function_of(self, node, depth=0):
        """The function a callee expression holds when it can be told from
        the program text: a local bound once (at the top of the body) to a
        function (``f = np.sin``), an entry with a constant key of a global
        dict or list of functions (``ACTS['relu']``) or of a local dict or
        list display bound once; None otherwise (and for plain global names,
        which the resolver handles)."""
        from ad_compiler.transforms.frontend import parse
        if depth > 8:
            return None
        if isinstance(node, gast.Name):
            if node.id not in self.locals or node.id in self.local_fns \
                    or node.id in self.resolve.types:
                return None
            checked = self._checked_functions().get(node.id)
            if checked is not None:
                return checked
            value = self._single_binding(node.id)
            if value is None:
                return None
            if isinstance(value, gast.Name) and value.id in self.locals:
                return self._function_of(value, depth + 1)
            if self._is_static_ref(value):
                obj = self.resolve(value)
                return obj if parse.is_function_value(obj) else None
            return self._function_of(value, depth + 1)
        if not isinstance(node, gast.Subscript):
            return None
        key, base = self._constant_of(node.slice), node.value
        if key is _NO_CONSTANT:
            return None
        if self._is_static_ref(base):
            container = self.resolve(base)
            if not isinstance(container, (dict, list, tuple)):
                return None
            try:
                obj = container[key]
            except (KeyError, IndexError, TypeError):
                return None
            return obj if parse.is_function_value(obj) else None
        if not isinstance(base, gast.Name) or base.id not in self.locals:
            return None
        display = self._single_binding(base.id)
        entry = None
        if isinstance(display, gast.Dict):
            for k, v in zip(display.keys, display.values):
                if isinstance(k, gast.Constant) and k.value == key and type(k.value) is type(key):
                    entry = v
        elif isinstance(display, (gast.List, gast.Tuple)) and type(key) is int \
                and -len(display.elts) <= key < len(display.elts) \
                and not any(isinstance(e, gast.Starred) for e in display.elts):
            entry = display.elts[key]
        if entry is None:
            return None
        # (a lambda in the display is made again by the generated code: not
        # the function its own code makes; a local def is, see
        # _extract_local_functions)
        if isinstance(entry, gast.Name) and entry.id in self.local_fns:
            fdef = self.local_fns[entry.id]
            return self._code_function(getattr(fdef, "_ad_lambda", fdef))[0]
        if self._is_static_ref(entry):
            obj = self.resolve(entry)
            return obj if parse.is_function_value(obj) else None
        return None

    def _object_class(self, node, depth=0):
        """The user class of the object an expression holds, from the
        attribute structure of the arguments (``types`` entries such as
        ``self.layer`` and ``self.layers[]``, see parse.attribute_types):
        ``self.layer``, ``self.layers[i]``, a local bound once to one of
        them, a ``for`` target over ``self.layers``; None when unknown."""
        types = self.resolve.types
        if depth > 8:
            return None
        key = self._attribute_key(node)
        if key is not None:
            cls = types.get(key)
            return cls if isinstance(cls, type) else None
        if not isinstance(node, gast.Name) or node.id not in self.locals:
            return None
        value = self._single_binding(node.id)
        if value is not None:
            return self._object_class(value, depth + 1)
        self._single_binding("")          # (computes the counts)
        if self._binding_counts.get(node.id) != 1:
            return None
        for loop in gast.walk(self.info.node):
            if not isinstance(loop, gast.For):
                continue
            target, it = loop.target, loop.iter
            if isinstance(it, gast.Call) and self._is_builtin(it.func, "enumerate") \
                    and len(it.args) == 1 and isinstance(target, gast.Tuple) \
                    and len(target.elts) == 2:
                target, it = target.elts[1], it.args[0]
            if nodes.is_name(target, node.id):
                key = self._attribute_key(it)
                cls = types.get(key + "[]") if key is not None else None
                return cls if isinstance(cls, type) else None
        return None

    def _bind_object_class(self, name, node, cls):
        """``name`` holds the object ``node`` holds, of class ``cls``: its
        attribute structure too (``self.head.inner`` -> ``t1.inner``)."""
        types = self.resolve.types
        key = self._attribute_key(node)
        types[name] = cls
        if key is None or key == name:
            return
        for path, c in list(types.items()):
            if isinstance(path, str) and path.startswith((key + ".", key + "[")):
                types.setdefault(name + path[len(key):], c)

    def _attribute_key(self, node, stored=False):
        """``self.layer`` -> "self.layer", ``self.layers[i]`` ->
        "self.layers[]" for a parameter ``self`` holding a user object;
        None for a path (or a part of it) the function stores into."""
        if not hasattr(self, "_stored_paths"):
            # attributes the function stores (self.layer = other): not resolved
            self._stored_paths, self._stored_paths_ready = set(), False
            self._stored_paths = {
                self._attribute_key(n, stored=True) for n in gast.walk(self.info.node)
                if isinstance(n, (gast.Attribute, gast.Subscript))
                and isinstance(n.ctx, (gast.Store, gast.Del))}
            self._stored_paths_ready = True
        if isinstance(node, gast.Name):
            key = node.id if isinstance(self.resolve.types.get(node.id), type) else None
            value = self._single_binding(node.id) if key is None and \
                node.id in self.locals else None
            if isinstance(value, (gast.Attribute, gast.Subscript)):
                key = self._attribute_key(value)        # lay = net.layer
        elif isinstance(node, gast.Attribute):
            base = self._attribute_key(node.value)
            key = None if base is None else f"{base}.{node.attr}"
        elif isinstance(node, gast.Subscript):
            base = self._attribute_key(node.value)
            key = None if base is None else f"{base}[]"
        else:
            key = None
        if key is not None and self._stored_paths_ready and not stored and any(
                p is not None and (key == p or key.startswith((p + ".", p + "[")))
                for p in self._stored_paths):
            return None
        return key

    def _checked_functions(self):
        """Names checked by ``ad.check_function(name, f, ...)`` statements of
        the function's body (generated code transformed again: hessian)
        -> the function they are checked to hold."""
        if not hasattr(self, "_checked"):
            from ad_compiler import runtime
            self._checked = {}
            for st in self.info.node.body:
                call = st.value if isinstance(st, gast.Expr) else None
                if isinstance(call, gast.Call) and len(call.args) >= 2 \
                        and isinstance(call.args[0], gast.Name) \
                        and self.resolve(call.func) is runtime.check_function:
                    obj = self.resolve(call.args[1])
                    if obj is not None:
                        self._checked[call.args[0].id] = obj
        return self._checked

    def _constant_of(self, node):
        """The str/int key of ``acts[key]`` when the text tells it: a
        constant, a local bound once to one, a module-level constant, a
        parameter's default (the call is checked when it runs, so a key
        that differs then is refused, not followed)."""
        if isinstance(node, gast.Constant):
            value = node.value
        elif isinstance(node, gast.Name) and node.id in self.locals:
            value = self._single_binding(node.id)
            if isinstance(value, gast.Constant):
                value = value.value
            else:
                value = _NO_CONSTANT
                for a, d in zip(self.info.node.args.args[::-1],
                                self.info.node.args.defaults[::-1]):
                    if a.id == node.id and isinstance(d, gast.Constant):
                        value = d.value
        elif isinstance(node, gast.Name):
            value = self.resolve(node)
        else:
            return _NO_CONSTANT
        return value if type(value) in (str, int) else _NO_CONSTANT

    def _single_binding(self, name):
        """The value of ``name = value`` when that is a statement of the
        function's body (not nested) and the only binding of the name."""
        if not hasattr(self, "_top_bindings"):
            counts = {}
            for n in gast.walk(self.info.node):
                if isinstance(n, gast.Name) and isinstance(n.ctx, (gast.Store, gast.Param)):
                    counts[n.id] = counts.get(n.id, 0) + 1
            self._binding_counts = counts
            self._top_bindings = {
                st.targets[0].id: st.value for st in self.info.node.body
                if isinstance(st, gast.Assign) and len(st.targets) == 1
                and isinstance(st.targets[0], gast.Name) and counts.get(st.targets[0].id) == 1}
        return self._top_bindings.get(name)

    def _function_parameters(self, fn):
        """Parameters holding functions: specialized to the function the
        compile was given (``types``, from the call) or, when called in the
        body, to a function default (``act=np.tanh``) with a check at entry
        that the call did not pass another one.  A parameter the body
        rebinds is not specialized."""
        from ad_compiler.transforms.frontend import parse
        types = self.resolve.types
        stored = {n.id for n in gast.walk(fn) if isinstance(n, gast.Name)
                  and isinstance(n.ctx, (gast.Store, gast.Del))}
        for p in [p for p, v in types.items() if isinstance(v, parse.FunctionValue)]:
            if p in stored:
                del types[p]
        try:
            sig = inspect.signature(self.info.fn, follow_wrapped=False)
        except (TypeError, ValueError):
            return []
        called = {n.func.id for n in gast.walk(fn)
                  if isinstance(n, gast.Call) and isinstance(n.func, gast.Name)}
        out = []
        for p, param in sig.parameters.items():
            if p in types or p in stored or p not in called \
                    or not parse.is_function_value(param.default):
                continue
            out.append(self._function_guard(p, param.default, fn,
                                            f"the parameter '{p}'", "its default"))
        return out

    def _function_guard(self, name, obj, node, what, why):
        """Specialize calls of local ``name`` to function ``obj``, with a
        check that it holds ``obj`` when the code runs."""
        from ad_compiler import runtime
        from ad_compiler.transforms.frontend import parse
        self.resolve.types[name] = parse.FunctionValue(obj)
        shown = getattr(obj, "__name__", "the function")
        msg = (f"{what} was differentiated as {shown} ({why}), but here it is {{got}}")
        base = parse.display_name(obj)
        ref = self.inject(base if base != "lambda" else "lambda_", obj)
        return nodes.located(gast.Expr(value=nodes.call(
            nodes.attr(nodes.name(self.inject("ad", runtime)), "check_function"),
            [nodes.name(name), nodes.name(ref), nodes.const(msg),
             nodes.const(self.info.filename), nodes.const(node.lineno),
             nodes.const(node.col_offset)])), node)

    def _functions_passed(self, expr):
        """A lambda passed to a user function (``apply(lambda v: v**2, x)``)
        is the function its code makes when it reads no local variable, so
        that the helper is compiled for it (compiler._argument_types)."""
        if not any(isinstance(a, gast.Lambda) for a in expr.args) and not any(
                isinstance(k.value, gast.Lambda) for k in expr.keywords):
            return expr
        if self._callee_of(expr, expr)[0] is None:
            return expr

        def made(value):
            if isinstance(value, gast.Lambda):
                fn, _ = self._code_function(value)
                if fn is not None:
                    return nodes.located(nodes.name(self.inject("lambda_", fn)), value)
            return value
        return nodes.located(gast.Call(func=expr.func, args=[made(a) for a in expr.args],
                                       keywords=[gast.keyword(arg=k.arg, value=made(k.value))
                                                 for k in expr.keywords]), expr)

    def _rewrite_derivative_values(self, body):
        """Derivatives held in local names, when every use calls them:

        * ``dE = grad(energy)`` (made from what is known when compiling):
          the calls ``dE(x)`` call the derivative itself;
        * ``y, pb = vjp(f, a, b)``: ``pb_a, pb_b = a, b`` and ``y = f(a, b)``;
          the calls ``pb(v)`` become calls of ``vjp_of(f)((pb_a, pb_b), v)``,
          a derivative with its arguments in view (ad_compiler.compose).

        Anything else (a pullback stored, returned, or made from a local
        function) is left alone, and refused where a derivative reaches it."""
        from ad_compiler import compose
        from ad_compiler.api import vjp as api_vjp
        module = gast.Module(body=body, type_ignores=[])
        stores, callee_loads, loads = {}, {}, {}
        for n in gast.walk(module):
            if isinstance(n, gast.Name):
                if isinstance(n.ctx, gast.Store):
                    stores[n.id] = stores.get(n.id, 0) + 1
                elif isinstance(n.ctx, gast.Load):
                    loads[n.id] = loads.get(n.id, 0) + 1
            if isinstance(n, gast.Call) and isinstance(n.func, gast.Name):
                one_arg = len(n.args) == 1 and not n.keywords \
                    and not isinstance(n.args[0], gast.Starred)
                callee_loads.setdefault(n.func.id, []).append(one_arg)
        params = {a.id for a in self.info.node.args.args + self.info.node.args.posonlyargs
                  + self.info.node.args.kwonlyargs if isinstance(a, gast.Name)}

        def only_called(name, one_arg=False):
            uses = callee_loads.get(name, [])
            return (stores.get(name) == 1 and name not in params
                    and len(uses) == loads.get(name, 0) and (all(uses) or not one_arg))

        made = {}      # local name -> (derivative's global name, argument aliases)
        normalizer = self

        def visit_block(stmts):
            out = []
            for stmt in stmts:
                for field in ("body", "orelse"):
                    if isinstance(getattr(stmt, field, None), list) and \
                            not isinstance(stmt, (gast.FunctionDef, gast.Lambda)):
                        setattr(stmt, field, visit_block(getattr(stmt, field)))
                out += rewrite(stmt)
            return out

        def rewrite(stmt):
            if not (isinstance(stmt, gast.Assign) and len(stmt.targets) == 1
                    and isinstance(stmt.value, gast.Call)):
                return [stmt]
            target, call = stmt.targets[0], stmt.value
            if isinstance(target, gast.Name) and only_called(target.id):
                d = normalizer._static_derivative(call) \
                    if normalizer._is_static_ref(call.func) else None
                if d is not None:
                    made[target.id] = (normalizer.inject(
                        normalizer._derivative_name(call), d), None)
                    return []
            if not (isinstance(target, gast.Tuple) and len(target.elts) == 2
                    and isinstance(target.elts[1], gast.Name)
                    and normalizer._is_static_ref(call.func)
                    and normalizer.resolve(call.func) is api_vjp and call.args
                    and not call.keywords
                    and not any(isinstance(a, gast.Starred) for a in call.args)
                    and only_called(target.elts[1].id, one_arg=True)):
                return [stmt]
            f = call.args[0]
            fobj = normalizer.resolve(f) if normalizer._is_static_ref(f) else None
            if fobj is None:
                return [stmt]
            pb = target.elts[1].id
            aliases = [normalizer._fresh(f"{pb}_a{i}") for i in range(len(call.args) - 1)]
            new = [nodes.located(nodes.assign(a, v), stmt)
                   for a, v in zip(aliases, call.args[1:])]
            value = gast.Call(func=f, args=[nodes.name(a) for a in aliases], keywords=[])
            new.append(nodes.located(gast.Assign(targets=[target.elts[0]], value=value,
                                                 type_comment=None), stmt))
            name = getattr(f, "id", None) or getattr(f, "attr", "f")
            made[pb] = (normalizer.inject(f"vjp_{name}", compose.vjp_of(fobj)), aliases)
            return new

        body = visit_block(list(body))
        if not made:
            return body

        class Calls(nodes.Transformer):
            def visit_Call(self, node):
                self.generic_visit(node)
                if isinstance(node.func, gast.Name) and node.func.id in made:
                    name, aliases = made[node.func.id]
                    node.func = nodes.located(nodes.name(name), node.func)
                    if aliases is not None:   # vjp_of(f)((pb_a, pb_b), v)
                        node.args = [nodes.located(gast.Tuple(
                            elts=[nodes.name(a) for a in aliases], ctx=gast.Load()),
                            node)] + list(node.args)
                return node
        module = Calls().visit(gast.Module(body=body, type_ignores=[]))
        return module.body

    def _static_derivative(self, call):
        """``grad(f, wrt=1)`` (or another function of the API) called with
        arguments known when compiling: the derivative it returns, else
        None."""
        from ad_compiler import compose
        if not self._is_static_ref(call.func):
            return None
        maker = self.resolve(call.func)
        if maker is None or not compose.is_maker(maker):
            return None

        def value(n):
            if isinstance(n, gast.Constant):
                return n.value
            if isinstance(n, (gast.Tuple, gast.List)):
                return tuple(value(e) for e in n.elts)
            if isinstance(n, (gast.Name, gast.Attribute)) and self._is_static_ref(n):
                obj = self.resolve(n)
                if obj is not None:
                    return obj
            raise LookupError
        try:
            args = [value(a) for a in call.args]
            kw = {k.arg: value(k.value) for k in call.keywords if k.arg is not None}
        except LookupError:
            return None
        if len(kw) != len(call.keywords):
            return None
        made = self.__dict__.setdefault("_made", {})
        if id(call) not in made:
            try:
                made[id(call)] = (call, maker(*args, **kw))
            except (TypeError, ValueError) as exc:
                from ad_compiler.transforms.ad.ops import describe
                raise self.info.error(call, f"{describe(call)}: {exc}") from None
        return made[id(call)][1]

    @staticmethod
    def _derivative_name(call):
        base = getattr(call.func, "attr", None) or getattr(call.func, "id", "d")
        inner = call.args[0] if call.args else None
        inner = getattr(inner, "id", None) or getattr(inner, "attr", None)
        return f"{base}_{inner}" if inner else base

    def _callee_of(self, expr, call):
        """(user function, positional arguments) of a call, or (None, None)."""
        from ad_compiler.transforms.ad import ops
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
            if kind != "update" or not isinstance(actual, gast.Name):
                continue
            out.append(self._update_guard(actual.id, dunder, expr, f"{fn.__name__}()", param,
                                          f"{filename}:{lineno}"))
        return out

    def _update_guard(self, name, dunder, node, what, param, where, shown=None):
        from ad_compiler import runtime
        ad = self.inject("ad", runtime)
        msg = (f"{what} updates its argument '{param}' in place (at {where}); here that is "
               f"'{shown or name}' (of type {{kind}}), which Python would change, and ad_compiler does not "
               f"follow changes to arguments across calls")
        return gast.Expr(value=nodes.call(
            nodes.attr(nodes.name(ad), "check_not_updated"),
            [nodes.name(name), nodes.const(dunder), nodes.const(msg),
             nodes.const(self.info.filename), nodes.const(node.lineno),
             nodes.const(node.col_offset)]))


def normalize(info, namer, resolve, inject):
    return Normalizer(info, namer, resolve, inject).run()
