"""Shape classes: which variables provably have the same shape.

An analysis for the optimizer of derivative code: ``ad.unbroadcast(g, x)``
is the identity when ``x`` has the shape of the operation's result, and
``ad.like(t, z)`` when the tangent already has z's shape.  Knowing that
saves the call and, in loops, saves keeping ``x`` alive for the backward
sweep only to read its shape.

Facts come from single statements, so they hold every time the statement
runs: an elementwise function keeps its argument's shape; a binary
operation between an array and a scalar keeps the array's shape, and
between two operands of one class stays in that class.  Only names with a
single assignment site (and parameters) get a class, so a fact about a name
is a fact about every value it takes.  ``SCALAR`` is the class of shape
``()``: numeric constants, full reductions, ``len``, ``float``, ``math.*``.
"""
import math

import gast
import numpy as np

SCALAR = "()"

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
               np.var, np.linalg.norm}


class ShapeClasses:
    def __init__(self):
        self.parent = {}
        self.single = set()

    def find(self, a):
        while self.parent.get(a, a) != a:
            a = self.parent[a]
        return a

    def union(self, a, b):
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            if rb == SCALAR:
                ra, rb = rb, ra
            self.parent[rb] = ra

    def same(self, a, b):
        """Do names ``a`` and ``b`` provably have the same shape?"""
        if a is None or b is None or a not in self.single or b not in self.single:
            return False
        return self.find(a) == self.find(b)


def _walk(stmts):
    for s in stmts:
        yield s
        for field in ("body", "orelse"):
            yield from _walk(getattr(s, field, []) or [])


def analyze(fn, activity):
    """Shape classes of the names of a normalized function."""
    params = {a.id for a in fn.args.posonlyargs + fn.args.args + fn.args.kwonlyargs}
    sites = {}
    for stmt in _walk(fn.body):
        if isinstance(stmt, gast.Assign):
            for t in stmt.targets:
                for n in gast.walk(t):
                    if isinstance(n, gast.Name):
                        sites[n.id] = sites.get(n.id, 0) + 1
        elif isinstance(stmt, gast.For):
            sites[stmt.target.id] = sites.get(stmt.target.id, 0) + 2
    single = {n for n, c in sites.items() if c == 1 and n not in params} | {
        p for p in params if p not in sites}
    classes = ShapeClasses()

    def cls(atom):
        if isinstance(atom, gast.Constant) and isinstance(atom.value, (int, float)) \
                and not isinstance(atom.value, bool):
            return SCALAR
        if isinstance(atom, gast.Name) and atom.id in single:
            return classes.find(atom.id)
        return None

    for stmt in _walk(fn.body):
        if not (isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name)):
            continue
        t = stmt.targets[0].id
        if t not in single:
            continue
        op = activity.ops.get(id(stmt))
        if op is None:
            continue
        result = _result_class(op, cls)
        if result is not None:
            classes.union(t, result)
    classes.single = single
    return classes


def _result_class(op, cls):
    node = op.node
    if op.kind == "copy":
        return cls(node)
    if op.kind == "const":
        return cls(node)
    if isinstance(node, gast.BinOp) and op.kind == "prim":
        return _broadcast(cls(node.left), cls(node.right))
    if isinstance(node, gast.UnaryOp) and op.kind == "prim":
        return cls(node.operand)
    if op.kind in ("prim", "nondiff") and isinstance(node, gast.Call):
        fn = op.fn
        if fn in _UNARY and len(op.args) == 1 and not op.keywords:
            return cls(op.args[0])
        if fn in _BINARY and len(op.args) == 2 and not op.keywords:
            return _broadcast(cls(op.args[0]), cls(op.args[1]))
        if fn in _REDUCTIONS and len(op.args) == 1 and not op.keywords:
            return SCALAR
        if fn in (len, float, int) or getattr(fn, "__module__", None) == "math":
            return SCALAR
    return None


def _broadcast(a, b):
    if a is None or b is None:
        return None
    if a == SCALAR:
        return b
    if b == SCALAR:
        return a
    return a if a == b else None
