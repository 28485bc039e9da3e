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

from ad_compiler import runtime, runtime_numpy
from ad_compiler.transforms import annotations, nodes
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


# ``parts = ad.defer_*(parts, g, x, y)`` (transforms/cleanup/batch.py):
# (rank of x, rank of y) -> the operands (0: g, 1: x, 2: y) of the pair the
# helper records for those ranks (its own rank tests; g has the rank of the
# product, as the tables above assume); other ranks keep the helper
_DEFERRED = {
    "defer_matmul_left": {(2, 1): (0, 2)},
    "defer_matmul_right": {(1, 2): (1, 0)},
    "defer_dot_a": {(2, 1): (0, 2), (1, 1): (0, 2)},
    "defer_dot_b": {(1, 2): (1, 0), (1, 1): (0, 1)},
}


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

    class Deferred(nodes.Transformer):
        """``parts = ad.defer_matmul_left(parts, g, W, h)`` with g and h
        vectors, W a matrix -> ``ad.defer_outer(parts, g, h)``: the pair the
        helper would record, without its rank tests (code for the NumPy
        interpreter only: numba's rewrite and forward mode know the
        helpers)."""

        def visit_Assign(self, node):
            call = node.value
            if not (len(node.targets) == 1 and isinstance(node.targets[0], gast.Name)
                    and isinstance(call, gast.Call) and len(call.args) == 4
                    and not call.keywords and nodes.is_name(call.args[0], node.targets[0].id)):
                return node
            f = call.func
            if not (isinstance(f, gast.Attribute) and f.attr in _DEFERRED
                    and nodes.injected_object(ctx.injected, f) is getattr(ctx.runtime, f.attr)):
                return node
            picks = _DEFERRED[f.attr].get((rank(call.args[2]), rank(call.args[3])))
            if picks is None:
                return node
            u, v = (call.args[1 + k] for k in picks)
            new = nodes.expr_stmt(nodes.call(nodes.attr(nodes.copy_node(f.value), "defer_outer"),
                                             [call.args[0], u, v]))
            return annotations.copy(node, nodes.located(new, node))

    tree = Rewrite().visit(tree)
    if scalars.SIGNATURE_KEY in ctx.signature:
        tree = Deferred().visit(tree)
    # Python float/int arguments: plain float arithmetic instead of the
    # runtime's array helpers (transforms/cleanup/scalars.py)
    return scalars.plain_floats(tree, ctx)
