"""Reference derivatives for the corpus in ``tests/corpus.py``.

Two independent references, both cached per case:

* central finite differences in float64 (fourth-order 4-point stencil, step
  ``1e-4 * max(1, |x_i|)`` per element, the full Jacobian by perturbing each
  element of each leaf of the input; Hessians as finite differences of the
  finite-difference gradient with a larger outer step);
* HIPS autograd, run on a second copy of the corpus module loaded from its
  source with ``import numpy as np`` replaced by ``import autograd.numpy as
  np``.  Cases registered with ``autograd=False`` get ``None`` here for every
  position (only FD is used for them); ``test_reference_self_consistency``
  verifies the flag (autograd must fail on at least one differentiable
  position of such a case, e.g. ``x.dot(y)`` fails w.r.t. ``x`` only).

Pytrees.  Arguments and outputs may be dicts/lists/tuples of arrays and
floats.  Everything is computed per leaf: ``blocks(name, p)[o][k]`` is the
Jacobian of output leaf ``o`` w.r.t. leaf ``k`` of argument ``p``, of shape
``out_leaf.shape + in_leaf.shape`` (leaves in ``tree_flatten`` order: dicts
by sorted key).  Gradients, JVPs and VJPs are assembled from the blocks into
trees of the right structure.  For array-only cases there is one block and
it is the plain Jacobian.

The function the references differentiate (``ref_callable``) is the case's
target (a bound method for method cases) with three adjustments: the
arguments are copied before every call (cases that write into their inputs);
for ``has_aux`` cases only the first output is kept; for ``stop_gradient``
cases the hand-written ``frozen`` variant is used, in which each
``stop_gradient(e)`` is a constant evaluated at the registered arguments.

Everything is keyed by case name; the arguments come from
``Case.make_args()`` which is deterministic.
"""
import functools
import os
import re
import sys
import types
import warnings

import numpy as np

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

import corpus  # noqa: E402

FD_STEP = 1e-4          # relative step of the 4-point first-derivative stencil
FD_HESS_OUTER_STEP = 1e-3


# --------------------------------------------------------------------------
# pytrees
# --------------------------------------------------------------------------

def tree_flatten(x):
    """``(leaves, treedef)``; dict keys in sorted order, lists and tuples
    kept apart in the treedef; anything else is a leaf."""
    leaves = []

    def walk(v):
        if isinstance(v, dict):
            keys = sorted(v)
            return ("dict", tuple(keys), tuple(walk(v[k]) for k in keys))
        if isinstance(v, (list, tuple)):
            return (type(v).__name__, len(v), tuple(walk(e) for e in v))
        leaves.append(v)
        return None
    tdef = walk(x)
    return leaves, tdef


def tree_unflatten(tdef, leaves):
    it = iter(leaves)

    def build(d):
        if d is None:
            return next(it)
        kind, meta, subs = d
        if kind == "dict":
            return {k: build(s) for k, s in zip(meta, subs)}
        vals = [build(s) for s in subs]
        return vals if kind == "list" else tuple(vals)
    out = build(tdef)
    rest = list(it)
    assert not rest, "too many leaves for the tree structure"
    return out


def tree_map(f, *trees):
    leaves0, tdef = tree_flatten(trees[0])
    others = [tree_flatten(t)[0] for t in trees[1:]]
    return tree_unflatten(tdef, [f(*vals) for vals in zip(leaves0, *others)])


def tree_copy(x):
    """Copies of every array leaf and container (floats are immutable)."""
    if isinstance(x, dict):
        return {k: tree_copy(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(tree_copy(v) for v in x)
    if isinstance(x, np.ndarray):
        return x.copy()
    return x


def _as_f64(v):
    return np.asarray(v, dtype=np.float64)


# --------------------------------------------------------------------------
# finite differences
# --------------------------------------------------------------------------

def _with_leaf_element(args, p, k, i, delta):
    """``args`` with flat element ``i`` of leaf ``k`` of argument ``p``
    shifted by ``delta`` (argument ``p`` is copied, the others are shared:
    ``ref_callable`` copies them for cases that write into their inputs)."""
    x = args[p]
    if isinstance(x, np.ndarray):           # fast path: a plain array
        new = x.copy()
        new.reshape(-1)[i] += delta
    else:
        leaves, tdef = tree_flatten(tree_copy(x))
        leaf = leaves[k]
        if isinstance(leaf, np.ndarray):
            leaf.reshape(-1)[i] += delta    # ``leaf`` is already a copy
        else:                               # Python float (or np.float64)
            leaves[k] = float(leaf) + delta
        new = tree_unflatten(tdef, leaves)
    return args[:p] + (new,) + args[p + 1:]


def fd_blocks(fn, args, p, step=FD_STEP):
    """``J[o][k]``: d(output leaf o) / d(leaf k of args[p])."""
    args = tuple(args)
    out_leaves = [_as_f64(o) for o in tree_flatten(fn(*args))[0]]
    in_leaves = tree_flatten(args[p])[0]
    blocks = [[None] * len(in_leaves) for _ in out_leaves]
    for k, leaf in enumerate(in_leaves):
        x = _as_f64(leaf)
        cols = [np.empty(o.shape + (x.size,)) for o in out_leaves]
        for i in range(x.size):
            h = step * max(1.0, abs(float(x.reshape(-1)[i])))

            def f(d):
                out = fn(*_with_leaf_element(args, p, k, i, d))
                return [_as_f64(o) for o in tree_flatten(out)[0]]
            fm2, fm1, fp1, fp2 = f(-2 * h), f(-h), f(h), f(2 * h)
            for o in range(len(out_leaves)):
                cols[o][..., i] = (fm2[o] - 8.0 * fm1[o] + 8.0 * fp1[o]
                                   - fp2[o]) / (12.0 * h)
        for o, ol in enumerate(out_leaves):
            blocks[o][k] = cols[o].reshape(ol.shape + x.shape)
    return blocks


def fd_jacobian(fn, args, p, step=FD_STEP):
    """d fn(*args) / d args[p] for array arguments and outputs:
    shape ``out.shape + args[p].shape``."""
    blocks = fd_blocks(fn, args, p, step)
    assert len(blocks) == 1 and len(blocks[0]) == 1, "fd_jacobian: arrays only"
    return blocks[0][0]


def fd_hessian(fn, args, p):
    """Hessian of a scalar ``fn`` w.r.t. array/float ``args[p]``."""
    def grad_fd(*a):
        return fd_jacobian(fn, a, p)
    return fd_jacobian(grad_fd, args, p, step=FD_HESS_OUTER_STEP)


# --------------------------------------------------------------------------
# autograd: the corpus re-loaded with autograd.numpy
# --------------------------------------------------------------------------

_AUTOGRAD_MODULE_NAME = "_corpus_under_autograd"


@functools.lru_cache(maxsize=None)
def autograd_corpus():
    """The corpus module executed a second time with autograd.numpy as np."""
    import autograd.numpy  # noqa: F401  (fail loudly if autograd is missing)
    path = os.path.abspath(corpus.__file__)
    if path.endswith((".pyc", ".pyo")):
        path = path[:-1]
    with open(path, encoding="utf-8") as fh:
        src = fh.read()
    new_src, count = re.subn(r"^import numpy as np$", "import autograd.numpy as np",
                             src, flags=re.M)
    if count != 1:
        raise RuntimeError(f"expected exactly one 'import numpy as np' line in "
                           f"{path}, found {count}")
    mod = types.ModuleType(_AUTOGRAD_MODULE_NAME)
    mod.__file__ = path
    sys.modules[_AUTOGRAD_MODULE_NAME] = mod      # dataclasses need this
    exec(compile(new_src, path, "exec"), mod.__dict__)
    return mod


def ref_callable(c, args, copy_args=None):
    """The function the references differentiate for case ``c`` (see the
    module docstring); ``args`` are the base arguments."""
    f = c.target()
    if c.frozen is not None:
        f = c.frozen(*tree_copy(tuple(args)))
    if c.has_aux:
        inner = f

        def f(*a):
            return inner(*a)[0]
    if copy_args is None:
        copy_args = c.mutates_args       # others are checked not to mutate
    if copy_args:
        base = f

        def f(*a):
            return base(*tree_copy(a))
    return f


def autograd_fn(name):
    """The autograd-module version of the case's differentiated callable."""
    c = autograd_corpus().CASES[name]
    # copies are taken of plain arrays only (autograd's boxes are leaves)
    return ref_callable(c, corpus.CASES[name].make_args())


def _ag_blocks(f, args, p):
    import autograd
    import autograd.numpy as anp
    args = tuple(args)
    in_leaves, tdef = tree_flatten(args[p])
    out_leaves = tree_flatten(f(*args))[0]
    blocks = [[None] * len(in_leaves) for _ in out_leaves]
    for k, leaf in enumerate(in_leaves):
        def g(v, k=k):
            leaves = list(in_leaves)
            leaves[k] = v
            a = args[:p] + (tree_unflatten(tdef, leaves),) + args[p + 1:]
            outs = tree_flatten(f(*a))[0]
            return anp.concatenate([anp.reshape(o, (-1,)) for o in outs])
        J = _as_f64(autograd.jacobian(g)(leaf))
        off = 0
        for o, ol in enumerate(out_leaves):
            n = int(np.size(ol))
            blocks[o][k] = J[off:off + n].reshape(np.shape(ol) + np.shape(leaf))
            off += n
    return blocks


def autograd_blocks_uncached(name, p):
    """autograd Jacobian blocks of the case w.r.t. position ``p`` (may raise)."""
    args = corpus.CASES[name].make_args()
    with warnings.catch_warnings():
        # "Output seems independent of input": zero derivatives are fine.
        warnings.simplefilter("ignore", UserWarning)
        return _ag_blocks(autograd_fn(name), args, p)


def autograd_jacobian_uncached(name, p):
    """autograd derivative blocks w.r.t. position ``p`` (may raise)."""
    return autograd_blocks_uncached(name, p)


def autograd_hessian_uncached(name, p):
    import autograd
    args = corpus.CASES[name].make_args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return _as_f64(autograd.hessian(autograd_fn(name), p)(*args))


# --------------------------------------------------------------------------
# cached per-case references
# --------------------------------------------------------------------------

def _case(name):
    return corpus.CASES[name]


@functools.lru_cache(maxsize=None)
def primal(name):
    """Plain-NumPy value of the case at its registered arguments (for
    ``has_aux`` cases the pair ``(output, aux)``)."""
    c = _case(name)
    return c.target()(*c.make_args())


def primal_out(name):
    """The differentiated output (without aux)."""
    out = primal(name)
    return out[0] if _case(name).has_aux else out


def primal_aux(name):
    assert _case(name).has_aux
    return primal(name)[1]


@functools.lru_cache(maxsize=None)
def fd_blk(name, p):
    c = _case(name)
    args = c.make_args()
    return fd_blocks(ref_callable(c, args), args, p)


@functools.lru_cache(maxsize=None)
def fd_hess(name, p):
    c = _case(name)
    args = c.make_args()
    return fd_hessian(ref_callable(c, args), args, p)


@functools.lru_cache(maxsize=None)
def ag_blk(name, p):
    """autograd blocks, or None for cases flagged ``autograd=False``."""
    if not _case(name).autograd:
        return None
    return autograd_blocks_uncached(name, p)


@functools.lru_cache(maxsize=None)
def ag_hess(name, p):
    if not _case(name).autograd:
        return None
    return autograd_hessian_uncached(name, p)


def _blocks(name, p):
    refs = {"fd": fd_blk(name, p)}
    ag = ag_blk(name, p)
    if ag is not None:
        refs["autograd"] = ag
    return refs


def _single(blocks):
    assert len(blocks) == 1 and len(blocks[0]) == 1, \
        "array-only reference requested for a pytree case"
    return blocks[0][0]


def fd_jac(name, p):
    """FD Jacobian of an array-only case: ``out.shape + arg.shape``."""
    return _single(fd_blk(name, p))


def ag_jac(name, p):
    ag = ag_blk(name, p)
    return None if ag is None else _single(ag)


def jacobians(name, p):
    """{'fd': J, 'autograd': J} (the latter only where autograd runs);
    array-only cases."""
    return {src: _single(b) for src, b in _blocks(name, p).items()}


def gradients(name, p):
    """{'fd': g, 'autograd': g}: the gradient of the scalar output w.r.t.
    argument ``p``, a tree with the structure of ``args[p]``."""
    args = _case(name).make_args()
    tdef = tree_flatten(args[p])[1]
    out = {}
    for src, b in _blocks(name, p).items():
        assert len(b) == 1, "gradients: the output must be a single scalar"
        out[src] = tree_unflatten(tdef, list(b[0]))
    return out


def hessians(name, p):
    refs = {"fd": fd_hess(name, p)}
    ag = ag_hess(name, p)
    if ag is not None:
        refs["autograd"] = ag
    return refs


def _contract(J, t):
    t = _as_f64(t)
    return np.tensordot(J, t, axes=t.ndim) if t.ndim else J * t


def expected_jvp(name, tangents):
    """{'fd': tree, 'autograd': tree}: sum_p J_p . t_p, with the output's
    structure.  ``tangents[p]`` is ignored for non-differentiable positions."""
    c = _case(name)
    out_leaves, out_def = tree_flatten(primal_out(name))
    result = {}
    for p in c.diff:
        t_leaves = tree_flatten(tangents[p])[0]
        for src, B in _blocks(name, p).items():
            acc = result.setdefault(src, [np.zeros(np.shape(o)) for o in out_leaves])
            for o in range(len(out_leaves)):
                for k, t in enumerate(t_leaves):
                    acc[o] = acc[o] + _contract(B[o][k], t)
    return {src: tree_unflatten(out_def, acc) for src, acc in result.items()}


def expected_vjp(name, cotangent):
    """{p: {'fd': tree, 'autograd': tree}} for differentiable positions, each
    tree with the structure of ``args[p]``."""
    c = _case(name)
    args = c.make_args()
    ct_leaves = [_as_f64(v) for v in tree_flatten(cotangent)[0]]
    result = {}
    for p in c.diff:
        in_leaves, in_def = tree_flatten(args[p])
        result[p] = {}
        for src, B in _blocks(name, p).items():
            acc = []
            for k, leaf in enumerate(in_leaves):
                g = np.zeros(np.shape(leaf))
                for o, ct in enumerate(ct_leaves):
                    g = g + (np.tensordot(ct, B[o][k], axes=ct.ndim) if ct.ndim
                             else ct * B[o][k])
                acc.append(g)
            result[p][src] = tree_unflatten(in_def, acc)
    return result


def fd_grad_of_copies(f, args, argnum=0, eps=1e-6):
    """Central differences of ``f`` with respect to the array
    ``args[argnum]``; every call gets deep copies of the arguments (``f`` may
    write into them, as plain Python code does)."""
    import copy
    x = np.asarray(args[argnum], dtype=float)
    g = np.zeros_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e.flat[i] = eps
        hi = list(copy.deepcopy(args))
        lo = list(copy.deepcopy(args))
        hi[argnum] = x + e
        lo[argnum] = x - e
        g.flat[i] = (f(*hi) - f(*lo)) / (2 * eps)
    return g
