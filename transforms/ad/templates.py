"""Filling derivative-rule templates (see ``ad_compiler.registry``).

``instantiate`` turns a rule template plus one call site into plain
statements: parameters are replaced by the call's operands, ``d[p]`` by the
derivative names the caller chooses, template temporaries by fresh names and
the rule module's globals (``np``, ``ad``) by names the generated code
receives.  Derivatives known to be zero are simplified away, so a forward
rule ``d[z] = d[x] * y + x * d[y]`` with an inactive ``y`` becomes
``dz = dx * y``.
"""
import builtins
import functools
import inspect
import operator
import textwrap

import gast

from ad_compiler import runtime as _runtime
from ad_compiler.transforms import annotations, nodes
from ad_compiler.transforms.annotations import Key

ZERO = "__ad_zero__"


class Template:
    """A parsed rule template."""

    def __init__(self, fn):
        self.fn = fn
        src = textwrap.dedent(inspect.getsource(fn))
        tree = nodes.parse(src).body[0]
        self.node = tree
        sig = inspect.signature(fn)
        names = list(sig.parameters)
        self.result = names[0]
        self.params = names[1:]
        self.signature = sig.replace(parameters=list(sig.parameters.values())[1:])
        self.defaults = {p.name: p.default for p in sig.parameters.values()
                         if p.default is not inspect.Parameter.empty}
        self.globals = fn.__globals__
        self.body = [s for s in tree.body
                     if not (isinstance(s, gast.Expr)
                             and isinstance(s.value, gast.Constant))]
        self.assigned = set()     # p of every d[p] = ... (reverse rules)
        self.read = set()         # p of every d[p] read (forward rules)
        # parameters that only give a shape or select a piece (np.full_like's
        # a, heaviside's x1): their derivative is zero almost everywhere, so
        # the rule gives none and the compiler does not ask for one
        self.nondiff = set(getattr(fn, "__ad_nondiff__", ()))
        for stmt in self.body:
            for t in getattr(stmt, "targets", []):
                if _is_d(t):
                    self.assigned.add(t.slice.id)
            for n in nodes.walk(stmt.value) if hasattr(stmt, "value") else ():
                if _is_d(n):
                    self.read.add(n.slice.id)
        self.locals = set()
        for stmt in self.body:
            for t in getattr(stmt, "targets", []):
                if isinstance(t, gast.Name):
                    self.locals.add(t.id)
        # every identifier of the body, in walk order (instantiate maps the
        # rule module's globals among them, once per call site)
        self.identifiers = [sub.id for node in self.body for sub in nodes.walk(node)
                            if isinstance(sub, gast.Name)]

    @property
    def name(self):
        return self.fn.__name__


@functools.lru_cache(maxsize=None)
def get_template(fn):
    return Template(fn)


class BindError(Exception):
    pass


def bind(template, args, keywords):
    """Map template parameters to the call's operand nodes.

    ``args``: positional operand nodes; ``keywords``: (name, node) pairs.
    Missing parameters take the template's defaults as constants.
    """
    kw = {}
    for k, v in keywords:
        if k not in template.params and k is not None and f"{k}_" in template.params:
            k = f"{k}_"        # 'd' is the notation: a parameter d is written d_
        kw[k] = v
    try:
        bound = template.signature.bind_partial(*args, **kw)
    except TypeError as exc:
        # a rule may say what to do (``template.__ad_bind_hint__``)
        raise BindError(str(exc) + getattr(template.fn, "__ad_bind_hint__", "")) from None
    out_arg = bound.arguments.get("out")
    if out_arg is not None and not (isinstance(out_arg, gast.Constant) and out_arg.value is None):
        raise BindError("out= is not supported: assign the result instead")
    for p, required in getattr(template.fn, "__ad_static__", {}).items():
        if p in bound.arguments:
            node = bound.arguments[p]
            if not (isinstance(node, gast.Constant) and node.value == required
                    and type(node.value) is type(required)):
                raise BindError(f"only {p}={required!r} is supported")
    out = {}
    for p in template.params:
        if p in bound.arguments:
            out[p] = bound.arguments[p]
        elif p in template.defaults:
            out[p] = _const_node(template.defaults[p])
        else:
            raise BindError(f"missing argument '{p}'")
    return out


def _const_node(value):
    if isinstance(value, (tuple, list)):
        return nodes.tuple_([_const_node(v) for v in value])
    return nodes.const(value)


def _is_d(node):
    return (isinstance(node, gast.Subscript) and nodes.is_name(node.value, "d")
            and isinstance(node.slice, gast.Name))


def index_as_value(node):
    """An index expression (may hold slices) as an ordinary value."""
    node = nodes.copy_node(node)
    if isinstance(node, gast.Slice):
        parts = [node.lower, node.upper, node.step]
        func = nodes.name("slice")
        annotations.set(func, Key.BUILTIN, True)   # bound to the builtin when loaded
        return nodes.call(func, [p if p is not None else nodes.const(None) for p in parts])
    if isinstance(node, gast.Tuple):
        return nodes.tuple_([index_as_value(e) for e in node.elts])
    return node


class _Filler(nodes.Transformer):
    def __init__(self, binding, result, deriv, rename, globals_map):
        self.binding = binding
        self.result = result
        self.deriv = deriv
        self.rename = rename
        self.globals_map = globals_map

    def visit_Subscript(self, node):
        if _is_d(node):
            out = nodes.copy_node(self.deriv(node.slice.id))
            for sub in nodes.walk(out):
                annotations.set(sub, Key.BEARING, True)
            return out
        node.value = self.visit(node.value)
        if isinstance(node.slice, gast.Name) and node.slice.id in self.binding:
            node.slice = nodes.copy_node(self.binding[node.slice.id])
        else:
            node.slice = self.visit(node.slice)
        return node

    def visit_Name(self, node):
        ident = node.id
        if ident == self.result_name:
            return nodes.set_ctx(nodes.copy_node(self.result), isinstance(node.ctx, gast.Store))
        if ident in self.binding:
            return index_as_value(self.binding[ident])
        if ident in self.rename:
            return nodes.name(self.rename[ident], isinstance(node.ctx, gast.Store))
        if ident in self.globals_map:
            return nodes.name(self.globals_map[ident])
        return node


def is_zero(node):
    return isinstance(node, gast.Name) and node.id == ZERO


def has_zero(node):
    return any(is_zero(n) for n in nodes.walk(node))


class _ZeroSimplifier(nodes.Transformer):
    """Propagate known-zero derivatives through linear expressions."""

    def __init__(self, runtime_name=None):
        self.runtime_name = runtime_name

    def visit_BinOp(self, node):
        self.generic_visit(node)
        lz, rz = is_zero(node.left), is_zero(node.right)
        if isinstance(node.op, gast.Add):
            if lz and rz:
                return nodes.name(ZERO)
            if lz:
                return node.right
            if rz:
                return node.left
        elif isinstance(node.op, gast.Sub):
            if lz and rz:
                return nodes.name(ZERO)
            if rz:
                return node.left
            if lz:
                return gast.UnaryOp(op=gast.USub(), operand=node.right)
        elif isinstance(node.op, (gast.Mult, gast.MatMult, gast.BitAnd)):
            if lz or rz:
                return nodes.name(ZERO)
        elif isinstance(node.op, (gast.Div, gast.FloorDiv, gast.Mod)):
            if lz:
                return nodes.name(ZERO)
        return node

    def visit_UnaryOp(self, node):
        self.generic_visit(node)
        if is_zero(node.operand) and isinstance(node.op, (gast.USub, gast.UAdd)):
            return nodes.name(ZERO)
        return node

    def visit_Subscript(self, node):
        self.generic_visit(node)
        if is_zero(node.value):
            return nodes.name(ZERO)
        return node

    def _runtime(self, node, attr):
        return (isinstance(node.func, gast.Attribute) and node.func.attr == attr
                and nodes.is_name(node.func.value, self.runtime_name))

    def visit_Call(self, node):
        self.generic_visit(node)
        if self._runtime(node, "zero_or"):
            return node           # materializes a zero: never itself zero
        if (self._runtime(node, "like") and node.args and isinstance(node.args[0], gast.BinOp)
                and isinstance(node.args[0].op, (gast.Add, gast.Sub))):
            return node.args[0]  # both terms kept: the sum already has z's shape
        if self._runtime(node, "add") and len(node.args) == 2 and not node.keywords:
            # ad.add(0, t) is t: the known zero would be the scalar 0.0, which
            # adds nothing to an array or float t (its shape stays t's) and
            # cannot be added to a container tangent (a dict, a record's list)
            a, b = node.args
            if is_zero(a):
                return b
            if is_zero(b):
                return a
        operands = list(node.args) + [k.value for k in node.keywords]
        marked = [a for a in operands
                  if any(annotations.get(n, Key.BEARING, False) or is_zero(n)
                         for n in nodes.walk(a))]
        if marked and all(is_zero(a) for a in marked):
            return nodes.name(ZERO)
        return node


def _same_constant(node, value):
    if not isinstance(node, gast.AST):      # a plain default value
        return type(node) is type(value) and node == value
    if isinstance(node, gast.Constant):
        return type(node.value) is type(value) and node.value == value
    return False


def _parameters(fn):
    """``fn``'s parameters, or None when it has no signature (memoized: the
    same few runtime helpers come back at every call site)."""
    try:
        return _PARAMETERS[fn]
    except KeyError:
        pass
    except TypeError:             # unhashable callable: not memoized
        return _signature_parameters(fn)
    out = _PARAMETERS[fn] = _signature_parameters(fn)
    return out


_PARAMETERS = {}


def _signature_parameters(fn):
    try:
        return list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return None


class _DefaultArgsDropper(nodes.Transformer):
    def __init__(self, resolve):
        self.resolve = resolve

    def visit_Call(self, call):
        self.generic_visit(call)
        fn = self.resolve(call.func)
        if fn is None:
            return call
        params = _parameters(fn)
        if params is None:
            return call
        empty = inspect.Parameter.empty
        positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY,
                                                      p.POSITIONAL_OR_KEYWORD)]
        args = list(call.args)
        while args and len(args) <= len(positional) and not isinstance(args[-1], gast.Starred):
            p = positional[len(args) - 1]
            # a known-zero derivative is the constant 0.0 in generated code
            zero = is_zero(args[-1]) and _same_constant(p.default, 0.0)
            if p.default is empty or not (zero or _same_constant(args[-1], p.default)):
                break
            args.pop()
        call.args = args
        by_name = {p.name: p for p in params}
        call.keywords = [k for k in call.keywords
                         if not (k.arg in by_name and by_name[k.arg].default is not empty
                                 and _same_constant(k.value, by_name[k.arg].default))]
        return call


def _drop_default_args(node, resolve):
    """``ad.expand(g, x, None, False)`` -> ``ad.expand(g, x)`` when those are
    the callee's defaults: generated code shows only what matters."""
    return _DefaultArgsDropper(resolve).visit(node)


class _StaticFolder(nodes.Transformer):
    def visit_Compare(self, n):
        self.generic_visit(n)
        if (len(n.ops) == 1 and isinstance(n.ops[0], (gast.Is, gast.IsNot))
                and isinstance(n.left, (gast.Constant, gast.Tuple, gast.List))
                and isinstance(n.comparators[0], gast.Constant)
                and n.comparators[0].value is None):
            res = isinstance(n.left, gast.Constant) and n.left.value is None
            if isinstance(n.ops[0], gast.IsNot):
                res = not res
            return nodes.const(res)
        num = (int, float)
        if (len(n.ops) == 1 and isinstance(n.ops[0], (gast.Eq, gast.NotEq))
                and isinstance(n.left, gast.Constant) and isinstance(n.left.value, num)
                and isinstance(n.comparators[0], gast.Constant)
                and isinstance(n.comparators[0].value, num)):
            # ``x2 != 0`` in the power rules, for a literal exponent
            res = n.left.value == n.comparators[0].value
            return nodes.const(res if isinstance(n.ops[0], gast.Eq) else not res)
        return n

    def visit_BinOp(self, n):
        self.generic_visit(n)
        num = (int, float)
        l, r = n.left, n.right
        lc = isinstance(l, gast.Constant) and isinstance(l.value, num) and not isinstance(l.value, bool)
        rc = isinstance(r, gast.Constant) and isinstance(r.value, num) and not isinstance(r.value, bool)
        if lc and rc and isinstance(n.op, (gast.Add, gast.Sub, gast.Mult)):
            f = {gast.Add: operator.add, gast.Sub: operator.sub,
                 gast.Mult: operator.mul}[type(n.op)]
            return nodes.const(f(l.value, r.value))
        if (lc and isinstance(n.op, gast.Sub) and isinstance(r, gast.Constant)
                and isinstance(r.value, bool)):
            return nodes.const(l.value - int(r.value))     # 3 - (3 != 0) -> 2
        if rc and r.value == 1 and isinstance(n.op, (gast.Pow, gast.Mult, gast.Div)):
            return l          # x ** 1, x * 1, x / 1
        if lc and l.value == 1 and isinstance(n.op, gast.Mult):
            return r
        return n

    def visit_IfExp(self, n):
        self.generic_visit(n)
        if isinstance(n.test, gast.Constant):
            return n.body if n.test.value else n.orelse
        return n


def _fold_static(node):
    """Fold ``C is None`` / ``C is not None`` and IfExps on constants."""
    return _StaticFolder().visit(node)


def instantiate(template, binding, result, deriv, fresh, global_name, mode):
    """Fill ``template`` for one call site.

    binding:     param -> operand node (from ``bind``)
    result:      node of the primitive's result (a Name)
    deriv:       callable(param-or-result name) -> derivative node, or a
                 ``ZERO`` Name when it is known to be zero
    fresh:       callable(base) -> fresh temporary name
    global_name: callable(ident, obj) -> the name generated code uses for a
                 global of the rules module
    mode:        "reverse" or "forward"

    Returns a list of items: ("stmt", node) for temporaries, and
    ("deriv", param, expr) for each ``d[p] = expr`` of the template (reverse:
    one per parameter; forward: ``p`` is the result).
    """
    rename = {name: fresh(name) for name in sorted(template.locals)}
    globals_map = {}
    for ident in template.identifiers:
        if (ident in binding or ident in rename or ident == template.result
                or ident == "d"):
            continue
        if ident in template.globals:
            globals_map[ident] = global_name(ident, template.globals[ident])
        elif hasattr(builtins, ident):
            # a builtin (float(...)): under a name the user does not rebind
            globals_map[ident] = global_name(ident, getattr(builtins, ident))

    inverse = {generated: ident for ident, generated in globals_map.items()}
    runtime_alias = next((g for i, g in globals_map.items()
                          if template.globals.get(i) is _runtime), None)

    def resolve(func):
        path = []
        while isinstance(func, gast.Attribute):
            path.append(func.attr)
            func = func.value
        if not isinstance(func, gast.Name) or func.id not in inverse:
            return None
        ident = inverse[func.id]
        obj = template.globals[ident] if ident in template.globals else getattr(builtins, ident)
        for attr in reversed(path):
            obj = getattr(obj, attr, None)
        return obj if callable(obj) else None

    items = []
    zero_temps = set()
    for stmt in template.body:
        stmt = nodes.copy_node(stmt)
        if not isinstance(stmt, gast.Assign) or len(stmt.targets) != 1:
            raise ValueError(f"rule {template.name}: only assignments are "
                             f"allowed in a template body")
        target = stmt.targets[0]
        filler = _Filler(binding, result, deriv, rename, globals_map)
        filler.result_name = template.result
        value = filler.visit(stmt.value)
        # zero temporaries propagate; the simplifications below run where
        # they can change something: _ZeroSimplifier with a known zero or an
        # ``ad.like`` call, _fold_static with a constant, comparison or
        # conditional (what its folds start from)
        zero = static = False
        Name, Constant, Compare, IfExp, Call = (gast.Name, gast.Constant, gast.Compare,
                                                gast.IfExp, gast.Call)
        for sub in nodes.walk(value):
            cls = type(sub)
            if cls is Name:
                if sub.id in zero_temps:
                    sub.id = ZERO
                if sub.id == ZERO:
                    zero = True
            elif cls is Constant or cls is Compare or cls is IfExp:
                static = True
            elif cls is Call and getattr(sub.func, "attr", None) == "like":
                zero = True
        if zero:
            value = _ZeroSimplifier(runtime_alias).visit(value)
        if static:
            value = _fold_static(value)
        value = _drop_default_args(value, resolve)
        if _is_d(target):
            items.append(("deriv", target.slice.id, value))
        else:
            tname = rename[target.id]
            if is_zero(value):
                zero_temps.add(tname)
                continue
            items.append(("stmt", nodes.assign(tname, value)))
    return items


def replace_zero(node, zero_factory):
    """Replace the remaining ZERO markers inside ``node``."""

    class R(nodes.Transformer):
        def visit_Name(self, n):
            if n.id == ZERO:
                return zero_factory()
            return n

    return R().visit(node)


def prune(items, keep):
    """Drop ``deriv`` items whose param is not in ``keep`` and temporaries
    that only they used."""
    kept = [it for it in items if it[0] == "stmt" or it[1] in keep]
    used = set()
    out = []
    for it in reversed(kept):
        if it[0] == "deriv":
            used |= nodes.loaded_names(it[2])
            out.append(it)
        else:
            tgt = it[1].targets[0].id
            if tgt in used:
                used |= nodes.loaded_names(it[1].value)
                out.append(it)
    return list(reversed(out))
