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
from ad_compiler.transforms.annotations import Key
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
    tree = uniform_adjoints(tree, ctx, shapes)
    if scalars.SIGNATURE_KEY in ctx.signature:
        tree = Deferred().visit(tree)
    # Python float/int arguments: plain float arithmetic instead of the
    # runtime's array helpers (transforms/cleanup/scalars.py)
    return scalars.plain_floats(tree, ctx)


_ELEMENTWISE = (gast.Add, gast.Sub, gast.Mult, gast.Div)


def uniform_adjoints(tree, ctx, shapes):
    """An adjoint that is one number everywhere stays that number; an array
    broadcast to a shape stays the array.

    The adjoint of ``np.mean(x)`` is ``np.full(shape, g / n)``, that of a
    reduction's kept axis ``ad.broadcast_to(g, shape)``
    (transforms/ad/reverse.py, shapes known).  Where each use of such a name
    ends up, through ``+ - * /`` and unary minus with numbers or with arrays
    that broadcast to that shape (``bw * a``, ``a`` a row), as an operand of
    ``+ - * /`` whose other operand is a float64 array of the full shape (or
    as the ``+=`` of such an array), NumPy broadcasts the number or the
    small array itself: the same numbers come out (the same products and
    sums, bit-identical), without ``np.full`` (about 1 µs) and the full-size
    temporaries.

    Before::

        blog_lik = np.full((X.shape[0],), -1.0 / X.shape[0])
        bt9 = t7 * blog_lik

    After::

        blog_lik = -1.0 / X.shape[0]
        bt9 = t7 * blog_lik
    """
    if not isinstance(tree, gast.FunctionDef):
        return tree
    full = getattr(ctx.numpy, "full", None)
    rt = ctx.runtime
    stores = {}
    for n in nodes.walk(tree):
        if isinstance(n, gast.Name) and not isinstance(n.ctx, gast.Load):
            stores[n.id] = stores.get(n.id, 0) + 1
    for a in tree.args.posonlyargs + tree.args.args + tree.args.kwonlyargs:
        stores[a.id] = stores.get(a.id, 0) + 1

    def symbolic(expr):
        """The shape a tuple expression ``(X.shape[0], 3)`` stands for."""
        if not isinstance(expr, gast.Tuple):
            return None
        dims = []
        for e in expr.elts:
            if isinstance(e, gast.Constant) and type(e.value) is int:
                dims.append(e.value)
            elif (isinstance(e, gast.Subscript) and isinstance(e.value, gast.Attribute)
                  and e.value.attr == "shape" and isinstance(e.value.value, gast.Name)
                  and isinstance(e.slice, gast.Constant) and type(e.slice.value) is int):
                s = shapes.shape(e.value.value.id)
                if type(s) is not tuple or not 0 <= e.slice.value < len(s):
                    return None
                dims.append(s[e.slice.value])
            else:
                return None
        return tuple(dims)

    def operand_shape(e):
        """The shape of a float64 name or a number, else None."""
        if isinstance(e, gast.Constant) and type(e.value) in (int, float):
            return ()
        if isinstance(e, gast.Name) and shapes.dtype(e.id) == "d":
            s = shapes.shape(e.id)
            return s if type(s) is tuple else None
        return None

    def broadcasts_into(s, full_shape):
        return len(s) <= len(full_shape) and all(
            d == 1 or d == full_shape[len(full_shape) - len(s) + i] for i, d in enumerate(s))

    roots = {}          # name -> (its statement, the shape it is broadcast to)
    spread = {}         # name -> (statement, shape, v) for broadcast_to(v[:, None], shape)
    sources = {}        # v = np.full(...) -> w = ad.broadcast_to(v[:, None], shape)
    for stmt in nodes.walk(tree):
        if not (isinstance(stmt, gast.Assign) and len(stmt.targets) == 1
                and isinstance(stmt.targets[0], gast.Name)
                and stores.get(stmt.targets[0].id) == 1
                and annotations.get(stmt, Key.ADJOINT, False)
                and isinstance(stmt.value, gast.Call) and not stmt.value.keywords
                and len(stmt.value.args) == 2):
            continue
        f = nodes.injected_object(ctx.injected, stmt.value.func)
        if f is full and full is not None:
            shape = symbolic(stmt.value.args[0])
        elif f is rt.broadcast_to and isinstance(stmt.value.args[0], gast.Name) \
                and stores.get(stmt.value.args[0].id) == 1:
            # (g bound once: the name may then share g's array safely)
            shape = symbolic(stmt.value.args[1])
        elif f is rt.broadcast_to and _new_axes_of_name(stmt.value.args[0]):
            # broadcast_to(v[:, None], shape) of v = np.full(...): one number
            spread[stmt.targets[0].id] = (stmt, symbolic(stmt.value.args[1]),
                                          stmt.value.args[0].value.id)
            continue
        else:
            continue
        if shape:
            roots[stmt.targets[0].id] = (stmt, shape)
    for w, (stmt, shape, v) in spread.items():
        if shape and v in roots and nodes.injected_object(
                ctx.injected, roots[v][0].value.func) is full:
            roots[w] = (stmt, shape)
            sources[v] = w
    if not roots:
        return tree

    parents = {}
    loads = {}          # name -> its loads, in walk order (one walk, not one per name)
    for node in nodes.walk(tree):
        for child in gast.iter_child_nodes(node):
            parents[id(child)] = node
        if isinstance(node, gast.Name) and isinstance(node.ctx, gast.Load):
            loads.setdefault(node.id, []).append(node)

    # candidate name -> its shape; name -> the candidates its fine-ness needs
    shape_of = {n: s for n, (_, s) in roots.items()}
    needs = {}
    fine = {}
    todo = list(roots)
    while todo:
        n = todo.pop()
        if n in fine:
            continue
        fine[n] = True
        needs[n] = []
        target_shape = shape_of[n]
        for use in loads.get(n, ()):
            node = use
            w = sources.get(n)
            if w is not None and use is roots[w][0].value.args[0].value:
                needs[n].append(w)          # spread into w: fine when w is
                continue
            while True:
                parent = parents.get(id(node))
                if isinstance(parent, gast.UnaryOp) and isinstance(parent.op, gast.USub):
                    node = parent
                    continue
                if isinstance(parent, gast.BinOp) and isinstance(parent.op, _ELEMENTWISE):
                    other = operand_shape(parent.right if parent.left is node else parent.left)
                    if other == target_shape:
                        break                                   # full shape: fine
                    if other is not None and broadcasts_into(other, target_shape):
                        node = parent                           # still broadcast later
                        continue
                    fine[n] = False
                    break
                if isinstance(parent, gast.AugAssign) and parent.value is node \
                        and isinstance(parent.op, _ELEMENTWISE) \
                        and operand_shape(parent.target) == target_shape:
                    break
                if isinstance(parent, gast.Assign) and parent.value is node \
                        and len(parent.targets) == 1 and isinstance(parent.targets[0], gast.Name) \
                        and stores.get(parent.targets[0].id) == 1 \
                        and parent.targets[0].id not in roots:
                    w = parent.targets[0].id                    # w = v * a: the same for w
                    if w in shape_of and shape_of[w] != target_shape:
                        fine[n] = False
                        break
                    shape_of[w] = target_shape
                    needs[n].append(w)
                    todo.append(w)
                    break
                fine[n] = False
                break
    changed = True
    while changed:
        changed = False
        for n in fine:
            if fine[n] and not all(fine.get(w, False) for w in needs[n]):
                fine[n] = False
                changed = True
    for n, (stmt, _) in roots.items():
        for v, w in sources.items():            # w spreads v: fine together
            if w == n and not fine.get(v, False):
                fine[n] = False
    for n, (stmt, _) in roots.items():
        if fine[n]:
            f = nodes.injected_object(ctx.injected, stmt.value.func)
            stmt.value = stmt.value.args[1] if f is full else stmt.value.args[0]
            if n in spread:                     # v[:, None] of the number v: v
                stmt.value = nodes.name(spread[n][2])
    return tree


def _new_axes_of_name(e):
    """Is ``e`` ``v[:, None]`` (full slices and new axes of a name)?"""
    return (isinstance(e, gast.Subscript) and isinstance(e.value, gast.Name)
            and isinstance(e.slice, gast.Tuple) and all(
                (isinstance(x, gast.Constant) and x.value is None)
                or (isinstance(x, gast.Slice) and x.lower is None and x.upper is None
                    and x.step is None) for x in e.slice.elts))
