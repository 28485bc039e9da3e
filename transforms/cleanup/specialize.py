"""Runtime calls whose operand ranks are known become direct NumPy code.

The rules emit rank-generic runtime helpers for the adjoints of products
(``ad.matmul_grad_left(g, x, y)`` handles vectors, matrices and stacks at
run time).  Where the shape analysis (transforms/analyses/shapes.py) knows the ranks
of the operands, the helper's branch is chosen here, saving a Python call
and its rank tests; the expression is the one the helper would evaluate,
so results are bit-identical.  Runs after ``transforms/cleanup/batch.py``, which
looks for the helpers inside adjoint loops.

Before::

    bh = ad.matmul_grad_right(bt9, Wh, h)      # Wh (n, n), h (n,)

After::

    bh = Wh.T @ bt9
"""
import gast
import numpy as np

from ad_compiler import runtime, runtime_numpy
from ad_compiler.transforms import nodes
from ad_compiler.transforms.cleanup import scalars

_T = lambda e: nodes.attr(e, "T")                      # noqa: E731


def _matmul(a, b):
    return gast.BinOp(left=a, op=gast.MatMult(), right=b)


def _mul(a, b):
    return gast.BinOp(left=a, op=gast.Mult(), right=b)


def _outer(np_, a, b):
    return nodes.call(nodes.attr(nodes.attr(np_(), "multiply"), "outer"), [a, b])


# (rank of x, rank of y) -> builder(g, x, y, np) of the adjoint's expression
_LEFT = {   # adjoint of x @ y with respect to x
    (2, 2): lambda g, x, y, np_: _matmul(g, _T(y)),
    (2, 1): lambda g, x, y, np_: _outer(np_, g, y),
    (1, 1): lambda g, x, y, np_: _mul(g, y),
    (1, 2): lambda g, x, y, np_: _matmul(y, g),
}
_RIGHT = {  # ... with respect to y
    (2, 2): lambda g, x, y, np_: _matmul(_T(x), g),
    (2, 1): lambda g, x, y, np_: _matmul(_T(x), g),
    (1, 1): lambda g, x, y, np_: _mul(g, x),
    (1, 2): lambda g, x, y, np_: _outer(np_, x, g),
}


def _helpers():
    """runtime helper -> its table of (rank of x, rank of y) -> builder."""
    return {runtime.matmul_grad_left: _LEFT, runtime.matmul_grad_right: _RIGHT,
            runtime.dot_grad_left: _LEFT, runtime.dot_grad_right: _RIGHT,
            runtime_numpy.dot_vjp_a: _LEFT, runtime_numpy.dot_vjp_b: _RIGHT}


def specialize(tree, ctx, shapes):
    """Rewrite the calls of the helpers of ``_helpers()`` in ``tree`` where
    ``shapes`` knows the ranks of both operands (names)."""
    helpers = _helpers()

    def np_():
        return nodes.name(ctx.global_name("np", ctx.numpy))

    def rank(atom):
        if not isinstance(atom, gast.Name):
            return None
        s = shapes.shape(atom.id)
        return len(s) if type(s) is tuple else None

    class Rewrite(nodes.Transformer):
        def visit_Call(self, node):
            self.generic_visit(node)
            if len(node.args) != 3 or node.keywords:
                return node
            try:
                table = helpers.get(nodes.injected_object(ctx.injected, node.func))
            except TypeError:       # an unhashable attribute
                table = None
            if table is None:
                return node
            g, x, y = node.args
            build = table.get((rank(x), rank(y)))
            return build(g, x, y, np_) if build is not None else node

    tree = Rewrite().visit(tree)
    scalar_seeds(tree, ctx, shapes)
    # Python float/int arguments: plain float arithmetic instead of the
    # runtime's array helpers (transforms/cleanup/scalars.py)
    return scalars.plain_floats(tree, ctx)


_ELEMENTWISE = (gast.Add, gast.Sub, gast.Mult, gast.Div)


def _dims_of(shape_node, shapes):
    """The dims of a shape tuple built by the shape analysis
    (``(x.shape[0], 3)``), or None."""
    if not isinstance(shape_node, gast.Tuple):
        return None
    dims = []
    for e in shape_node.elts:
        if isinstance(e, gast.Constant) and type(e.value) is int:
            dims.append(e.value)
        elif (isinstance(e, gast.Subscript) and isinstance(e.value, gast.Attribute)
                and e.value.attr == "shape" and isinstance(e.value.value, gast.Name)
                and isinstance(e.slice, gast.Constant) and type(e.slice.value) is int):
            s = shapes.shape(e.value.value.id)
            k = e.slice.value
            if type(s) is not tuple or not 0 <= k < len(s) or s[k] is None:
                return None
            dims.append(s[k])
        else:
            return None
    return tuple(dims)


def scalar_seeds(tree, ctx, shapes):
    """``g = np.full(shape, c)`` (the adjoint of a mean or sum over all
    axes) becomes ``g = c`` when every use of g (or of a name that only
    copies it) is an operand of ``+ - * /`` whose other operand is a float64
    array of that very shape: the results are the same arrays, bit for bit,
    without a full-size array of one repeated number (the peak memory of
    ``mean(f(x))``'s gradient)."""
    fn = tree.body[0] if isinstance(tree, gast.Module) else tree
    if not isinstance(fn, gast.FunctionDef):
        return
    sites, loads, parents = {}, {}, {}
    for node in nodes.walk(fn):
        for child in gast.iter_child_nodes(node):
            parents[id(child)] = node
        if isinstance(node, gast.Name):
            if isinstance(node.ctx, gast.Load):
                loads.setdefault(node.id, []).append(node)
            else:
                sites.setdefault(node.id, []).append(node)
    params = {a.id for a in fn.args.posonlyargs + fn.args.args + fn.args.kwonlyargs}

    def only_assign(name):
        """The one ``name = value`` statement binding ``name``, or None."""
        if name in params or len(sites.get(name, ())) != 1:
            return None
        stmt = parents.get(id(sites[name][0]))
        if isinstance(stmt, gast.Assign) and len(stmt.targets) == 1 \
                and stmt.targets[0] is sites[name][0]:
            return stmt
        return None

    def uses_ok(name, dims, seen):
        if name in seen:
            return False
        seen.add(name)
        for use in loads.get(name, ()):
            parent = parents.get(id(use))
            if isinstance(parent, gast.Assign) and parent.value is use:
                target = parent.targets[0]
                if not (isinstance(target, gast.Name) and only_assign(target.id) is parent
                        and uses_ok(target.id, dims, seen)):
                    return False
                continue
            if not (isinstance(parent, gast.BinOp) and isinstance(parent.op, _ELEMENTWISE)):
                return False
            other = parent.right if parent.left is use else parent.left
            if other is use or not isinstance(other, gast.Name) \
                    or shapes.dtype(other.id) != "d" or shapes.shape(other.id) != dims:
                return False
        return True

    for name in sorted(sites):
        stmt = only_assign(name)
        if stmt is None or not isinstance(stmt.value, gast.Call):
            continue
        call = stmt.value
        if len(call.args) != 2 or call.keywords \
                or nodes.injected_object(ctx.injected, call.func) is not np.full:
            continue
        dims = _dims_of(call.args[0], shapes)
        if not dims or any(d is None for d in dims):
            continue
        if uses_ok(name, dims, set()):
            stmt.value = call.args[1]
