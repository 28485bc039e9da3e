"""Numba implementations of the ``ad.*`` runtime helpers that generated
code for float scalars and float arrays calls (``ad_compiler/runtime.py``
has the general ones).

Generated code run by the numba backend reads this module as ``ad``.  Each
helper is a plain Python stub with a ``numba.extending.overload``: numba
picks the implementation from the argument types when it compiles the
generated function, and an argument type a helper does not cover (complex,
containers, arrays of 3 or more dimensions...) is a typing error, on which
the backend runs the NumPy code instead.  Only imported when numba is.

The stacks (``ad.push``/``ad.pop``) and the deferred matrix-product parts
(``ad.defer_*``) are rewritten by ``numba_jit.rewrite`` before compiling:
numba lists hold one type, so each saved variable gets a stack of its own,
and deferred parts become an accumulator shaped like the parameter.
"""
import functools

import numpy as np
from numba import types
from numba.extending import overload

#: the helpers this module implements (``numba_jit.rewrite`` refuses others)
SUPPORTED = set()


def _helper(fn):
    SUPPORTED.add(fn.__name__)
    return fn


def _base(t):
    """The type under numba's Optional (a variable first set to None)."""
    return t.type if isinstance(t, types.Optional) else t


def _real_scalar(t):
    t = _base(t)
    return isinstance(t, (types.Float, types.Integer, types.Boolean))


def _real_array(t, ndims=(1, 2)):
    t = _base(t)
    return isinstance(t, types.Array) and isinstance(t.dtype, (types.Float, types.Integer)) \
        and t.ndim in ndims


def _float_array(t, ndims=(1, 2)):
    t = _base(t)
    return isinstance(t, types.Array) and isinstance(t.dtype, types.Float) and t.ndim in ndims


def _is_none(t):
    return t is None or isinstance(t, (types.NoneType, types.Omitted))


# --- stubs (called only from numba-compiled code) --------------------------
@_helper
def zeros_like(x):
    raise NotImplementedError


@_helper
def zeros_buffer(x):
    raise NotImplementedError


@_helper
def parts_like(x):
    raise NotImplementedError


@_helper
def scalar_seed(out):
    raise NotImplementedError


@_helper
def add(a, b):
    raise NotImplementedError


@_helper
def unbroadcast(g, x):
    raise NotImplementedError


@_helper
def mean_grad(g, x, axis=None, keepdims=False):
    raise NotImplementedError


@_helper
def expand(g, x, axis=None, keepdims=False):
    raise NotImplementedError


@_helper
def reduced_count(x, axis=None):
    raise NotImplementedError


@_helper
def scatter(g, x, idx):
    raise NotImplementedError


@_helper
def add_at(buf, idx, g):
    raise NotImplementedError


@_helper
def matmul_grad_left(g, x, y):
    raise NotImplementedError


@_helper
def matmul_grad_right(g, x, y):
    raise NotImplementedError


@_helper
def dot_grad_left(g, x, y):
    raise NotImplementedError


@_helper
def dot_grad_right(g, x, y):
    raise NotImplementedError


@_helper
def defer_matmul_left(parts, g, x, y):
    raise NotImplementedError


@_helper
def defer_matmul_right(parts, g, x, y):
    raise NotImplementedError


@_helper
def defer_dot_a(parts, g, a, b):
    raise NotImplementedError


@_helper
def defer_dot_b(parts, g, a, b):
    raise NotImplementedError


@_helper
def sum_deferred(parts, like=None):
    raise NotImplementedError


@_helper
def multiply_outer(a, b):
    """``np.multiply.outer`` (numba_jit.rewrite's name for it)."""
    raise NotImplementedError


# --- implementations ------------------------------------------------------
@overload(zeros_like)
def _zeros_like(x):
    if _real_scalar(x):
        return lambda x: 0.0
    if _real_array(x, (0, 1, 2, 3, 4)):
        return lambda x: np.zeros(x.shape, np.float64)
    return None


@overload(zeros_buffer)
def _zeros_buffer(x):
    return _zeros_like(x)


@overload(parts_like)
def _parts_like(x):
    return _zeros_like(x)


@overload(scalar_seed)
def _scalar_seed(out):
    if _real_scalar(out):
        return lambda out: 1.0
    return None        # (a 1-element array output: the NumPy code)


@overload(add)
def _add(a, b):
    if (_real_scalar(a) or _real_array(a, (0, 1, 2, 3, 4))) and \
            (_real_scalar(b) or _real_array(b, (0, 1, 2, 3, 4))):
        return lambda a, b: a + b
    return None


def _sum_to_1d(g, n):
    """``g`` (1-d) summed to length n (n == len(g) or n == 1)."""
    if g.shape[0] == n:
        return g.copy()
    out = np.zeros(1)
    out[0] = g.sum()
    return out


@overload(unbroadcast)
def _unbroadcast(g, x):
    gt, xt = _base(g), _base(x)
    if _real_scalar(xt):
        if _real_scalar(gt):
            return lambda g, x: g
        if _real_array(gt, (0, 1, 2, 3, 4)):
            return lambda g, x: g.sum()
        return None
    if not _real_array(xt, (1, 2)):
        return None
    if _real_scalar(gt):
        # (a scalar adjoint broadcast to x: the NumPy code's np.full)
        return lambda g, x: np.full(x.shape, g)
    if not _real_array(gt, (1, 2)):
        return None
    if xt.ndim == 1 and gt.ndim == 1:
        def impl(g, x):
            if g.shape[0] == x.shape[0]:
                return g
            return _sum_to_1d_jit(g, x.shape[0])
        return impl
    if xt.ndim == 1 and gt.ndim == 2:
        def impl(g, x):
            return _sum_to_1d_jit(g.sum(axis=0), x.shape[0])
        return impl
    if xt.ndim == 2 and gt.ndim == 2:
        def impl(g, x):
            if g.shape[0] == x.shape[0] and g.shape[1] == x.shape[1]:
                return g
            out = np.zeros(x.shape)
            for i in range(g.shape[0]):
                for j in range(g.shape[1]):
                    out[i if x.shape[0] != 1 else 0, j if x.shape[1] != 1 else 0] += g[i, j]
            return out
        return impl
    return None


@overload(mean_grad)
def _mean_grad(g, x, axis=None, keepdims=False):
    if not (_is_none(axis) and _real_scalar(g)):
        return None
    if _real_scalar(x):
        return lambda g, x, axis=None, keepdims=False: g
    if _real_array(x, (1, 2, 3, 4)):
        return lambda g, x, axis=None, keepdims=False: np.full(x.shape, g / x.size)
    return None


@overload(expand)
def _expand(g, x, axis=None, keepdims=False):
    if not (_is_none(axis) and _real_scalar(g)):
        return None
    if _real_scalar(x):
        return lambda g, x, axis=None, keepdims=False: g
    if _real_array(x, (1, 2, 3, 4)):
        return lambda g, x, axis=None, keepdims=False: np.full(x.shape, g)
    return None


@overload(reduced_count)
def _reduced_count(x, axis=None):
    if _is_none(axis) and _real_array(x, (0, 1, 2, 3, 4)):
        return lambda x, axis=None: x.size
    return None


@overload(scatter)
def _scatter(g, x, idx):
    if not (isinstance(_base(idx), types.Integer) and _real_array(x, (1, 2))):
        return None
    if _base(x).ndim == 1 and _real_scalar(g):
        def impl(g, x, idx):
            out = np.zeros(x.shape)
            out[idx] = g
            return out
        return impl
    if _base(x).ndim == 2 and _real_array(g, (1,)):
        def impl(g, x, idx):
            out = np.zeros(x.shape)
            out[idx, :] = g
            return out
        return impl
    return None


@overload(add_at)
def _add_at(buf, idx, g):
    if not (isinstance(_base(idx), types.Integer) and _float_array(buf, (1, 2))):
        return None
    if _base(buf).ndim == 1 and _real_scalar(g):
        def impl(buf, idx, g):
            buf[idx] += g
        return impl
    if _base(buf).ndim == 2 and _real_array(g, (1,)):
        def impl(buf, idx, g):
            buf[idx, :] += g
        return impl
    return None


def _matmul_left_impl(g, x, y):
    """``matmul_grad_left`` for operands of 1 or 2 dims; None otherwise."""
    xd, yd = _base(x).ndim if _real_array(x) else 0, _base(y).ndim if _real_array(y) else 0
    if xd == 2 and yd == 2 and _real_array(g, (2,)):
        return lambda g, x, y: g @ y.T
    if xd == 2 and yd == 1 and _real_array(g, (1,)):
        return lambda g, x, y: np.outer(g, y)
    if xd == 1 and yd == 1 and _real_scalar(g):
        return lambda g, x, y: g * y
    if xd == 1 and yd == 2 and _real_array(g, (1,)):
        return lambda g, x, y: y @ g
    return None


def _matmul_right_impl(g, x, y):
    xd, yd = _base(x).ndim if _real_array(x) else 0, _base(y).ndim if _real_array(y) else 0
    if xd == 2 and yd == 2 and _real_array(g, (2,)):
        return lambda g, x, y: x.T @ g
    if xd == 2 and yd == 1 and _real_array(g, (1,)):
        return lambda g, x, y: x.T @ g
    if xd == 1 and yd == 1 and _real_scalar(g):
        return lambda g, x, y: g * x
    if xd == 1 and yd == 2 and _real_array(g, (1,)):
        return lambda g, x, y: np.outer(x, g)
    return None


overload(matmul_grad_left)(_matmul_left_impl)
overload(matmul_grad_right)(_matmul_right_impl)
overload(dot_grad_left)(_matmul_left_impl)       # (np.dot of at most 2-d operands)
overload(dot_grad_right)(_matmul_right_impl)


def _deferred(contribution):
    """An accumulating ``defer_*``: ``parts`` is the running sum (made by
    ``parts_like``), updated in place for arrays."""
    def typer(parts, g, x, y):
        part = contribution(g, x, y)
        if part is None:
            return None
        if _real_scalar(parts):
            return lambda parts, g, x, y: parts + part(g, x, y)
        if _float_array(parts, (1, 2)):
            def impl(parts, g, x, y):
                parts += part(g, x, y)
                return parts
            return impl
        return None
    return typer


def _jit(fn):
    from numba import njit
    return njit(cache=False)(fn)


_sum_to_1d_jit = _jit(_sum_to_1d)


@functools.lru_cache(maxsize=None)
def _left_part(g, x, y):
    impl = _matmul_left_impl(g, x, y)
    return None if impl is None else _jit(impl)


@functools.lru_cache(maxsize=None)
def _right_part(g, x, y):
    impl = _matmul_right_impl(g, x, y)
    return None if impl is None else _jit(impl)


overload(defer_matmul_left)(_deferred(_left_part))
overload(defer_matmul_right)(_deferred(_right_part))
overload(defer_dot_a)(_deferred(_left_part))
overload(defer_dot_b)(_deferred(_right_part))


@overload(sum_deferred)
def _sum_deferred(parts, like=None):
    if _is_none(like):
        return None
    if _real_scalar(parts) or _float_array(parts, (1, 2)):
        return lambda parts, like=None: parts
    return None


@overload(multiply_outer)
def _multiply_outer(a, b):
    if _real_array(a, (1,)) and _real_array(b, (1,)):
        return lambda a, b: np.outer(a, b)
    if _real_scalar(a) and (_real_scalar(b) or _real_array(b, (1, 2, 3, 4))):
        return lambda a, b: a * b
    if _real_scalar(b) and _real_array(a, (1, 2, 3, 4)):
        return lambda a, b: a * b
    return None
