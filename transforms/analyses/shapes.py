"""Shape and dtype inference on a normalized function.

An analysis for the code generators: ``ad.unbroadcast(g, x)`` is ``g``
when x provably has the shape of the operation's result, and an explicit
``np.sum(g, axis=...)`` when both shapes are known; the seed of a float64
scalar output is the literal ``1.0``; the adjoint of ``np.mean(x)`` is
``np.full(shape, g / n)`` built from the arguments' shapes.  Each of these
saves a call and, more importantly, stops the derivative code from reading
a primal value only for its shape: the value then need not be computed (the
loss itself, in ``grad``), nor saved in loops.

What the analysis knows comes from the *shape signature* of the call
(``signature``: for each array parameter its dtype and dims, each dim
either 1 or a symbol ``(param, axis)`` standing for a length other than 1;
two dims get the same symbol exactly when they are equal).  The compiled
code is cached per signature, so it stays valid for every call that shares
it (a new batch size reuses the code; see ``api._shape_signature``).  With
no signature, a parameter's shape is an opaque token: ``sin(x) * x`` still
has x's shape.

The facts are flow-insensitive: a name's shape is the join of the shapes of
all its binding sites (an optimistic fixed point: a binding whose operands
are never bound never runs).  A name bound in any way the rules below do not
model has an unknown shape, so every fact holds for every value it takes.
Shapes are tuples of dims; a dim is an int (a literal length), a symbol, or
``None`` (unknown).  Unknown shapes are ``None``.
"""
import math
import operator

import gast
import numpy as np

from ad_compiler.transforms import nodes

_BOT = object()          # not bound (yet)

# elementwise NumPy functions of one array argument (result shape = argument's)
_UNARY = {getattr(np, n) for n in (
    "sin", "cos", "tan", "exp", "log", "log1p", "expm1", "sqrt", "square", "tanh",
    "sinh", "cosh", "arcsin", "arccos", "arctan", "abs", "absolute", "negative",
    "exp2", "log2", "log10", "cbrt", "reciprocal", "sign", "floor", "ceil",
    "arcsinh", "arccosh", "arctanh", "deg2rad", "rad2deg", "real", "imag", "conj",
    "fabs", "sinc", "positive", "copy") if hasattr(np, n)}
_BINARY = {getattr(np, n) for n in (
    "add", "subtract", "multiply", "divide", "true_divide", "power", "maximum",
    "minimum", "arctan2", "hypot", "logaddexp", "fmax", "fmin") if hasattr(np, n)}
_REDUCTIONS = {np.sum, np.mean, np.prod, np.max, np.min, np.amax, np.amin, np.std,
               np.var}
_FLOAT_REDUCTIONS = {np.mean, np.std, np.var}
_ARITH = {operator.add, operator.sub, operator.mul, operator.truediv, operator.pow,
          operator.neg, operator.pos}
_CREATE = {np.zeros, np.ones, np.empty}
# math functions of floats returning one float
_MATH_FLOAT = {getattr(math, n) for n in (
    "sqrt", "exp", "log", "log1p", "expm1", "log2", "log10", "sin", "cos", "tan",
    "asin", "acos", "atan", "atan2", "sinh", "cosh", "tanh", "asinh", "acosh", "atanh",
    "pow", "hypot", "erf", "erfc", "gamma", "lgamma", "fabs", "copysign", "degrees",
    "radians", "fmod") if hasattr(math, n)}
_CREATE_LIKE = {np.zeros_like, np.ones_like, np.empty_like}


class Shapes:
    """The result of :func:`analyze`."""

    def __init__(self, shapes, dtypes, symbols, fixed):
        self._shapes = shapes
        self._dtypes = dtypes
        self._symbols = symbols      # symbol -> [(param, axis), ...]
        self._fixed = fixed          # parameters never rebound

    def shape(self, name):
        """The shape of every value of ``name``: a tuple of dims, an opaque
        token (a parameter's unknown shape), or None (unknown)."""
        s = self._shapes.get(name)
        return None if s is _BOT else s

    def dtype(self, name):
        """'d' (float64, or a Python float), 'l' (integer) or None."""
        return self._dtypes.get(name)

    def dim_expr(self, dim):
        """An expression for ``dim`` (an int or a symbol) read from a
        parameter that is never rebound, or None."""
        if isinstance(dim, int):
            return nodes.const(dim)
        sites = self._symbols.get(dim, ())
        for param, axis in sites:
            if param in self._fixed:
                return gast.Subscript(value=nodes.attr(nodes.name(param), "shape"),
                                      slice=nodes.const(axis), ctx=gast.Load())
        # a rebound parameter all of whose values have the dim at that axis
        # (``x = np.tanh(c * x)``): its shape reads the same wherever it is bound
        for param, axis in sites:
            s = self.shape(param)
            if type(s) is tuple and axis < len(s) and s[axis] == dim:
                return gast.Subscript(value=nodes.attr(nodes.name(param), "shape"),
                                      slice=nodes.const(axis), ctx=gast.Load())
        return None

    def shape_expr(self, shape):
        """A tuple expression for a fully known shape, or None."""
        if not isinstance(shape, tuple) or isinstance(shape, _Token):
            return None
        elts = [self.dim_expr(d) for d in shape]
        if any(e is None for e in elts):
            return None
        return gast.Tuple(elts=elts, ctx=gast.Load())


# --- dims and shapes --------------------------------------------------------

class Sym(tuple):
    """A dim of a parameter, ``(param, axis)``, standing for a length other
    than 1 (equal dims of the signature share one symbol)."""
    __slots__ = ()


class _Dims(tuple):
    """The value of ``x.shape``: a tuple of dims."""
    __slots__ = ()


def equal(a, b):
    """Provably equal shapes (opaque tokens equal only themselves)."""
    if a is None or b is None:
        return False
    if not isinstance(a, tuple) or not isinstance(b, tuple) \
            or isinstance(a, _Token) or isinstance(b, _Token):
        return a == b
    return len(a) == len(b) and all(x is not None and x == y for x, y in zip(a, b))


class _Token(tuple):
    """The unknown shape of a parameter without a signature."""
    __slots__ = ()


def reduction_axes(result, x):
    """How to sum an adjoint of shape ``result`` down to the shape ``x`` of a
    broadcast operand: ``(leading axes, axes to sum with keepdims)``, or None
    when the shapes do not tell."""
    if not (isinstance(result, tuple) and isinstance(x, tuple)) \
            or isinstance(result, _Token) or isinstance(x, _Token) or len(result) < len(x):
        return None
    k = len(result) - len(x)
    keep = []
    for i, d in enumerate(x):
        r = result[k + i]
        if d is not None and d == r:
            continue
        if d == 1 and r is not None:
            keep.append(i)
            continue
        return None
    return tuple(range(k)), tuple(keep)


def _bdim(a, b):
    if a == 1:
        return b
    if b == 1:
        return a
    if a is None:
        return b            # b is not 1, or unknown
    return a                # a is not 1: b is 1, equal to a, or the program raises


def broadcast(*shapes):
    if any(s is None for s in shapes):
        return None
    tokens = [s for s in shapes if isinstance(s, _Token)]
    tuples = [s for s in shapes if not isinstance(s, _Token)]
    if tokens:
        # an opaque shape: only with scalars or the same token
        if len(set(tokens)) == 1 and all(t == () for t in tuples):
            return tokens[0]
        return None
    n = max(len(s) for s in tuples)
    out = []
    for i in range(n):
        d = 1
        for s in tuples:
            j = len(s) - n + i
            if j >= 0:
                d = _bdim(d, s[j])
        out.append(d)
    return tuple(out)


def _join(a, b):
    if a is _BOT:
        return b
    if b is _BOT or a == b:
        return a
    if a is None or b is None or isinstance(a, _Token) or isinstance(b, _Token):
        return None
    if len(a) == len(b):
        # dims that differ become unknown (the rank is still known)
        return tuple(x if x == y else None for x, y in zip(a, b))
    return None


def _join_value(a, b):
    if a is _BOT:
        return b
    if b is _BOT:
        return a
    return a if a == b else None


# --- the analysis -----------------------------------------------------------

def _walk(stmts):
    for s in stmts:
        yield s
        for field in ("body", "orelse"):
            yield from _walk(getattr(s, field, []) or [])


def _binding_sites(fn):
    """(target, statement) of the bindings the rules model, and the names
    also bound in any other way."""
    sites, modelled = [], set()
    for stmt in _walk(fn.body):
        if isinstance(stmt, (gast.Assign, gast.AugAssign, gast.For)):
            target = stmt.targets[0] if isinstance(stmt, gast.Assign) else stmt.target
            if isinstance(target, gast.Name) and (
                    not isinstance(stmt, gast.Assign) or len(stmt.targets) == 1):
                sites.append((target.id, stmt))
                modelled.add(id(target))
    other = {n.id for n in nodes.walk(fn) if isinstance(n, gast.Name)
             and isinstance(n.ctx, (gast.Store, gast.Del)) and id(n) not in modelled}
    return sites, other


def analyze(fn, activity, signature=None):
    """Shapes and dtypes of the names of a normalized function.
    ``signature``: {param: (dtype char, dims)}, each dim 1 or ``(param, axis)``."""
    params = [a.id for a in fn.args.posonlyargs + fn.args.args + fn.args.kwonlyargs]
    signature = dict(signature or {})
    sites, other = _binding_sites(fn)
    rebound = {t for t, _ in sites} | other
    fixed = {p for p in params if p not in rebound}
    shapes, dtypes, dimvals = {}, {}, {}
    symbols = {}
    for p in params:
        if p in signature:
            char, dims = signature[p]
            dims = tuple(d if d == 1 else Sym(d) for d in dims)
            shapes[p] = dims
            dtypes[p] = {"d": "d", "l": "l", "q": "l"}.get(char)
            for axis, d in enumerate(dims):
                if d != 1:
                    symbols.setdefault(d, []).append((p, axis))
        else:
            shapes[p] = _Token(("param", p))
            dtypes[p] = None
    for t, _ in sites:
        shapes.setdefault(t, _BOT)
        dtypes.setdefault(t, _BOT)
    for n in other:
        shapes[n] = dtypes[n] = None
    # names bound only to range(...) objects: their loops count integers
    range_sites = {}
    for t, stmt in sites:
        op = activity.ops.get(id(stmt)) if isinstance(stmt, gast.Assign) else None
        is_range = op is not None and op.kind in ("prim", "nondiff") and op.fn is range
        range_sites[t] = range_sites.get(t, True) and is_range
    ranges = {t for t, r in range_sites.items() if r and t not in other}

    rules = _Rules(shapes, dtypes, dimvals, ranges, activity)
    changed = True
    while changed:
        changed = False
        for t, stmt in sites:
            if t in other:
                continue
            s, d, v = rules.result(stmt, t)
            if s is not _BOT:
                new = _join(shapes[t], s)
                if new != shapes[t]:
                    shapes[t] = new
                    changed = True
            if d is not _BOT:
                new = _join_value(dtypes[t], d)
                if new != dtypes[t]:
                    dtypes[t] = new
                    changed = True
            if s is not _BOT:
                old = dimvals.get(t, _BOT)
                new = _join_value(old, v)
                if new != old:
                    dimvals[t] = new
                    changed = True
    for table in (shapes, dtypes):
        for k, v in list(table.items()):
            if v is _BOT:
                table[k] = None
    return Shapes(shapes, dtypes, symbols, fixed)


def _float_of(fn_, d):
    """dtype of an elementwise function of a ``d`` operand."""
    if d is _BOT:
        return _BOT
    if fn_ in _KEEPS_DTYPE:
        return d if d == "d" else None
    return "d" if d in ("d", "l") else None


_KEEPS_DTYPE = {f for f in (np.abs, np.absolute, np.negative, np.positive, np.copy,
                            np.sign, np.floor, np.ceil, np.real, np.imag, np.conj,
                            np.square)}


class _Rules:
    """The shape, dtype and int value (a dim, or a tuple of dims for
    ``x.shape``) of one binding; _BOT when an operand is not bound yet."""

    def __init__(self, shapes, dtypes, dimvals, ranges, activity):
        self.shapes, self.dtypes, self.dimvals = shapes, dtypes, dimvals
        self.ranges, self.ops = ranges, activity.ops

    def sh(self, atom):
        if isinstance(atom, gast.Constant):
            v = atom.value
            return () if isinstance(v, (int, float)) and not isinstance(v, bool) else None
        if isinstance(atom, gast.Name):
            return self.shapes.get(atom.id)
        return None

    def dt(self, atom):
        if isinstance(atom, gast.Constant):
            v = atom.value
            if isinstance(v, bool):
                return None
            return "d" if isinstance(v, float) else ("l" if isinstance(v, int) else None)
        if isinstance(atom, gast.Name):
            return self.dtypes.get(atom.id)
        return None

    def dimval(self, atom):
        if isinstance(atom, gast.Constant) and isinstance(atom.value, int) \
                and not isinstance(atom.value, bool):
            return atom.value
        if isinstance(atom, gast.Name):
            v = self.dimvals.get(atom.id)
            return None if v is _BOT else v
        if isinstance(atom, gast.Tuple):
            vals = [self.dimval(e) for e in atom.elts]
            if all(v is not None and not isinstance(v, _Dims) for v in vals):
                return _Dims(vals)
        return None

    def bshape(self, args):
        ss = [self.sh(a) for a in args]
        return _BOT if _BOT in ss else broadcast(*ss)

    def dt2(self, args):
        ds = [self.dt(a) for a in args]
        if _BOT in ds:
            return _BOT
        return "d" if all(d in ("d", "l") for d in ds) and "d" in ds else None

    def arith(self, fn_, args):
        s = self.bshape(args)
        ds = [self.dt(a) for a in args]
        if _BOT in ds:
            return s, _BOT, None
        d = None
        if all(x in ("d", "l") for x in ds):
            if "d" in ds or fn_ is operator.truediv:
                d = "d"
            elif fn_ in (operator.add, operator.sub, operator.mul, operator.neg, operator.pos):
                d = "l"
        return s, d, None

    def matmul(self, args):
        a, b = self.sh(args[0]), self.sh(args[1])
        if _BOT in (a, b):
            return _BOT, _BOT, None
        d = self.dt2(args)
        if not isinstance(a, tuple) or not isinstance(b, tuple) \
                or isinstance(a, _Token) or isinstance(b, _Token):
            return None, d, None
        ranks = (len(a), len(b))
        if ranks == (1, 1):
            return (), d, None
        if ranks == (2, 1):
            return a[:1], d, None
        if ranks == (1, 2):
            return b[1:], d, None
        if ranks == (2, 2):
            return (a[0], b[1]), d, None
        return None, d, None

    def result(self, stmt, target):
        if isinstance(stmt, gast.For):
            it = stmt.iter
            if isinstance(it, gast.Name) and it.id in self.ranges:
                return (), "l", None
            s = self.sh(it)
            if s is _BOT:
                return _BOT, _BOT, None
            if isinstance(s, tuple) and not isinstance(s, _Token) and len(s) >= 1:
                return s[1:], self.dt(it), None
            return None, None, None
        if isinstance(stmt, gast.AugAssign):
            fn_ = {gast.Add: operator.add, gast.Sub: operator.sub,
                   gast.Mult: operator.mul, gast.Div: operator.truediv}.get(type(stmt.op))
            if fn_ is None:
                return None, None, None
            return self.arith(fn_, [stmt.target, stmt.value])
        op = self.ops.get(id(stmt))
        if op is None:
            return None, None, None
        if op.kind in ("copy", "const"):
            v = stmt.value
            return self.sh(v), self.dt(v), self.dimval(v)
        node = op.node
        if isinstance(node, gast.Compare) and len(node.comparators) == 1:
            return self.bshape([node.left, node.comparators[0]]), None, None
        if isinstance(node, gast.Attribute) and isinstance(node.value, gast.Name):
            return self.attribute(node)
        if isinstance(node, gast.Subscript) and isinstance(node.value, gast.Name):
            return self.subscript(node)
        if op.kind not in ("prim", "nondiff") or op.fn is None:
            return None, None, None
        args, kw = op.args, dict(op.keywords)
        if op.kind == "nondiff" and isinstance(node, gast.Call) and not args:
            # (non-differentiable calls keep their operands on the node only)
            if any(k.arg is None for k in node.keywords):
                return None, None, None
            args, kw = node.args, {k.arg: k.value for k in node.keywords}
        try:
            return self.call(op.fn, args, kw, op)
        except TypeError:       # an unhashable callable
            return None, None, None

    def attribute(self, node):
        s = self.sh(node.value)
        if s is _BOT:
            return _BOT, _BOT, None
        if isinstance(s, _Token) or s is None:
            return None, None, None
        if node.attr == "shape":
            return (len(s),), "l", _Dims(s)
        if node.attr in ("size", "ndim"):
            return (), "l", (len(s) if node.attr == "ndim" else None)
        if node.attr == "T" and len(s) <= 2:
            return s[::-1], self.dt(node.value), None
        return None, None, None

    def subscript(self, node):
        idx = node.slice
        dv = self.dimvals.get(node.value.id)
        if isinstance(dv, _Dims) and isinstance(idx, gast.Constant) \
                and isinstance(idx.value, int) and -len(dv) <= idx.value < len(dv):
            return (), "l", dv[idx.value]
        s = self.sh(node.value)
        if s is _BOT:
            return _BOT, _BOT, None
        if isinstance(s, tuple) and not isinstance(s, _Token) and len(s) >= 1 \
                and self.int_index(idx):
            return s[1:], self.dt(node.value), None
        return None, None, None

    def int_index(self, idx):
        if isinstance(idx, gast.Constant):
            return isinstance(idx.value, int) and not isinstance(idx.value, bool)
        if isinstance(idx, gast.Name):
            return self.sh(idx) == () and self.dt(idx) == "l"
        return False

    def call(self, fn_, args, kw, op):
        if fn_ in _ARITH and not kw:
            return self.arith(fn_, args)
        if fn_ in (operator.matmul, np.dot, np.matmul) and len(args) == 2 and not kw:
            return self.matmul(args)
        if fn_ in _UNARY and len(args) == 1 and not kw:
            return self.sh(args[0]), _float_of(fn_, self.dt(args[0])), None
        if fn_ in _BINARY and len(args) == 2 and not kw:
            return self.bshape(args), self.dt2(args), None
        if fn_ is np.where and len(args) == 3 and not kw:
            return self.bshape(args), None, None
        if fn_ in _REDUCTIONS and len(args) == 1 and set(kw) <= {"axis", "keepdims"}:
            s = self.sh(args[0])
            if s is _BOT:
                return _BOT, _BOT, None
            d = self.dt(args[0])
            d = "d" if d == "d" or (fn_ in _FLOAT_REDUCTIONS and d == "l") else None
            return _reduce(s, kw.get("axis"), kw.get("keepdims")), d, None
        if fn_ is np.outer and len(args) == 2 and not kw:
            a, b = self.sh(args[0]), self.sh(args[1])
            if _BOT in (a, b):
                return _BOT, _BOT, None
            ok = all(isinstance(x, tuple) and not isinstance(x, _Token) and len(x) == 1
                     for x in (a, b))
            return (a + b if ok else None), self.dt2(args), None
        if fn_ in _CREATE and len(args) == 1 and not kw:
            v = self.dimval(args[0])
            if isinstance(v, _Dims):
                return tuple(v), "d", None
            return ((v,) if v is not None else None), "d", None
        if fn_ in _CREATE_LIKE and len(args) == 1 and not kw:
            return self.sh(args[0]), self.dt(args[0]), None
        if fn_ is float or fn_ in _MATH_FLOAT:
            return (), "d", None
        if fn_ is len or fn_ is int:
            return (), "l", None
        return None, None, None


def _reduce(s, axis, keepdims):
    if s is None or isinstance(s, _Token):
        return None
    keep = False
    if keepdims is not None:
        if not (isinstance(keepdims, gast.Constant) and isinstance(keepdims.value, bool)):
            return None
        keep = keepdims.value
    if axis is None or (isinstance(axis, gast.Constant) and axis.value is None):
        axes = set(range(len(s)))
    elif isinstance(axis, gast.Constant) and isinstance(axis.value, int) \
            and not isinstance(axis.value, bool):
        axes = {axis.value}
    elif isinstance(axis, gast.Tuple) and all(isinstance(e, gast.Constant)
                                              and isinstance(e.value, int) for e in axis.elts):
        axes = {e.value for e in axis.elts}
    else:
        return None
    n = len(s)
    if any(not -n <= a < n for a in axes):
        return None
    axes = {a % n for a in axes}
    if keep:
        return tuple(1 if i in axes else d for i, d in enumerate(s))
    return tuple(d for i, d in enumerate(s) if i not in axes)
