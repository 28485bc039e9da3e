"""Shared test corpus: small functions written the way NumPy users write them.

Every differentiated function below is a plain module-level ``def`` that uses
``np.`` calls only.  ``tests/reference.py`` loads this file a second time with
the line ``import numpy as np`` replaced by ``import autograd.numpy as np`` so
that the very same functions run under HIPS autograd as an independent AD
reference.  The registration machinery therefore uses ``_np`` (always the real
NumPy) and never ``np``.

A case is registered with ``register(fn, args, ...)`` right after the function
(no decorators: the compiler sees the function's source untouched):

* ``args``: a tuple of argument specs (``Normal``, ``Uniform``, ``Positive``,
  ``AwayFrom``, ``Distinct``, ``PyFloat``, ``Signs``) or literal values
  (ints, Python floats, int index arrays -- copied for every call), or a
  callable ``rng -> tuple`` for inputs that need structure.  Arguments are
  deterministic: the generator is seeded from the case name.
* differentiable positions are detected from the generated arguments: float64
  arrays and Python floats are differentiable, everything else (ints, int
  arrays) is a constant.
* ``out``: ``"scalar"`` (grad / value_and_grad / hessian apply) or ``"array"``.
* ``smooth``: the Hessian is well defined and checkable by finite differences
  at the registered inputs (inputs are kept away from kinks).
* ``exclude``: modes not to run for this case (with a reason in ``notes``).
* ``autograd``: ``False`` when the function cannot run under autograd; the
  reason goes in ``autograd_reason``.  ``test_reference_self_consistency``
  checks that this flag is truthful in both directions.
* ``rtol`` / ``atol``: finite-difference comparison tolerances.
"""
import zlib
from dataclasses import dataclass, field
from typing import Callable

import numpy as _np
import numpy as np

MODES = ("grad", "value_and_grad", "jvp", "vjp", "jacobian_rev",
         "jacobian_fwd", "hessian")
SCALAR_ONLY_MODES = ("grad", "value_and_grad", "hessian")


# --------------------------------------------------------------------------
# registration machinery (not differentiated)
# --------------------------------------------------------------------------

class _Spec:
    def make(self, rng):
        raise NotImplementedError


class Normal(_Spec):
    """Float64 array of normals, ``scale * N(0,1) + loc``; shape may be ()."""

    def __init__(self, shape, scale=1.0, loc=0.0):
        self.shape, self.scale, self.loc = shape, scale, loc

    def make(self, rng):
        return _np.asarray(self.loc + self.scale * rng.standard_normal(self.shape),
                           dtype=_np.float64)


class Uniform(_Spec):
    def __init__(self, lo, hi, shape):
        self.lo, self.hi, self.shape = lo, hi, shape

    def make(self, rng):
        return _np.asarray(rng.uniform(self.lo, self.hi, self.shape),
                           dtype=_np.float64)


def Positive(shape, lo=0.5, hi=2.0):
    return Uniform(lo, hi, shape)


class AwayFrom(_Spec):
    """Uniform in [lo, hi] with every element at least ``gap`` from ``kinks``."""

    def __init__(self, shape, kinks=(0.0,), gap=0.2, lo=-2.0, hi=2.0):
        self.shape, self.kinks, self.gap, self.lo, self.hi = shape, kinks, gap, lo, hi

    def make(self, rng):
        out = _np.asarray(rng.uniform(self.lo, self.hi, self.shape), dtype=_np.float64)
        for _ in range(1000):
            bad = _np.zeros(out.shape, dtype=bool)
            for k in self.kinks:
                bad |= _np.abs(out - k) < self.gap
            if not bad.any():
                return out
            out = _np.where(bad, rng.uniform(self.lo, self.hi, self.shape), out)
        raise ValueError("AwayFrom: could not sample away from kinks")


class Distinct(_Spec):
    """Well-separated values (no ties for max/min/argmax/comparisons).

    Any two elements differ by at least ``0.5 * (hi - lo) / size``.
    """

    def __init__(self, shape, lo=-2.0, hi=2.0):
        self.shape, self.lo, self.hi = shape, lo, hi

    def make(self, rng):
        n = int(_np.prod(self.shape, dtype=int))
        slots = rng.permutation(n) + rng.uniform(0.25, 0.75, n)
        vals = self.lo + (self.hi - self.lo) * slots / n
        return _np.asarray(vals.reshape(self.shape), dtype=_np.float64)


class PyFloat(_Spec):
    """A Python float, uniform in [lo, hi]."""

    def __init__(self, lo=0.5, hi=2.0):
        self.lo, self.hi = lo, hi

    def make(self, rng):
        return float(rng.uniform(self.lo, self.hi))


class Signs(_Spec):
    """Float64 array of random +-1.0 labels."""

    def __init__(self, shape):
        self.shape = shape

    def make(self, rng):
        return _np.where(rng.uniform(size=self.shape) < 0.5, -1.0, 1.0)


def _copy_value(v):
    if isinstance(v, _np.ndarray):
        return v.copy()
    return v


def is_differentiable_value(v):
    """Float arrays and Python floats are differentiable; ints etc. are not."""
    if isinstance(v, bool):
        return False
    if isinstance(v, float):           # includes np.float64
        return True
    if isinstance(v, _np.ndarray):
        return v.dtype == _np.float64
    return False


@dataclass(frozen=True)
class Case:
    name: str
    fn: Callable
    args_spec: object
    out: str = "scalar"
    smooth: bool = True
    exclude: frozenset = frozenset()
    autograd: bool = True
    autograd_reason: str = ""
    rtol: float = 1e-5
    atol: float = 1e-6
    tags: tuple = ()
    notes: str = ""
    diff: tuple = field(default=())

    def make_args(self):
        """Fresh, deterministic arguments (a new tuple of new arrays)."""
        rng = _np.random.default_rng(zlib.crc32(self.name.encode()))
        if callable(self.args_spec):
            vals = self.args_spec(rng)
        else:
            vals = [a.make(rng) if isinstance(a, _Spec) else _copy_value(a)
                    for a in self.args_spec]
        return tuple(vals)

    @property
    def modes(self):
        """Applicable modes (output kind and smoothness), minus ``exclude``."""
        return tuple(m for m in self.applicable_modes if m not in self.exclude)

    @property
    def applicable_modes(self):
        out = []
        for m in MODES:
            if m in SCALAR_ONLY_MODES and self.out != "scalar":
                continue
            if m == "hessian" and not self.smooth:
                continue
            out.append(m)
        return tuple(out)


CASES = {}


def register(fn, args, *, name=None, out="scalar", smooth=True, exclude=(),
             autograd=True, autograd_reason="", rtol=1e-5, atol=1e-6,
             tags=(), notes=""):
    name = name or fn.__name__
    if name in CASES:
        raise ValueError(f"duplicate case name {name!r}")
    if out not in ("scalar", "array"):
        raise ValueError(f"{name}: out must be 'scalar' or 'array'")
    bad = set(exclude) - set(MODES)
    if bad:
        raise ValueError(f"{name}: unknown modes {bad}")
    if not autograd and not autograd_reason:
        raise ValueError(f"{name}: autograd=False needs an autograd_reason")
    c = Case(name=name, fn=fn, args_spec=args, out=out, smooth=smooth,
             exclude=frozenset(exclude), autograd=autograd,
             autograd_reason=autograd_reason, rtol=rtol, atol=atol,
             tags=tuple(tags), notes=notes)
    diff = tuple(i for i, v in enumerate(c.make_args())
                 if is_differentiable_value(v))
    if not diff:
        raise ValueError(f"{name}: no differentiable argument")
    object.__setattr__(c, "diff", diff)
    CASES[name] = c
    return fn


# ==========================================================================
# A. arithmetic on arrays and Python scalars, broadcasting
# ==========================================================================

def add_sub_mul(x, y):
    return x + y * x - y


register(add_sub_mul, (Normal(4), Normal(4)), out="array", tags=("arith",))


def broadcast_outer_mul(a, b):
    return a * b + a - b


register(broadcast_outer_mul, (Normal((3, 1)), Normal((1, 4))), out="array",
         tags=("arith", "broadcast"))


def broadcast_0d_array(x, c):
    return np.sum((x + c) ** 2 - c * x)


register(broadcast_0d_array, (Normal(5), Normal(())), tags=("arith", "broadcast"))


def div_broadcast(x, y):
    return x / y


register(div_broadcast, (Normal((3, 4)), Positive(4)), out="array",
         tags=("arith", "broadcast"))


def div_column_broadcast(X, s):
    return (X - s) / s


register(div_column_broadcast, (Normal((3, 4)), Positive((3, 1))), out="array",
         tags=("arith", "broadcast"))


def pow_arrays(x, y):
    return x ** y


register(pow_arrays, (Positive(4), Normal(4)), out="array", tags=("arith",))


def pow_array_broadcast(x, p):
    return x ** p


register(pow_array_broadcast, (Positive((3, 4)), Normal(4)), out="array",
         tags=("arith", "broadcast"))


def scalar_pow_array(x):
    return np.sum(2.0 ** x + 0.5 ** (x * x))


register(scalar_pow_array, (Normal(5),), tags=("arith",))


def array_pow_consts(x):
    return np.sum(x ** 2 + x ** 3 - x ** 0.5)


register(array_pow_consts, (Positive(5),), tags=("arith",))


def unary_minus(x, y):
    return -x * y - (-y) + -(x - y) ** 2


register(unary_minus, (Normal(4), Normal(4)), out="array", tags=("arith",))


def matmul_operator(A, B):
    return A @ B


register(matmul_operator, (Normal((3, 4)), Normal((4, 2))), out="array",
         tags=("arith", "linalg"))


def quadratic_form(A, x):
    return x @ A @ x


register(quadratic_form, (Normal((4, 4)), Normal(4)), tags=("arith", "linalg"))


def matvec_plus_bias(W, x, b):
    return W @ x + b


register(matvec_plus_bias, (Normal((3, 4)), Normal(4), Normal(3)), out="array",
         tags=("arith", "linalg"))


def batched_matmul(A, B):
    return A @ B


register(batched_matmul, (Normal((2, 3, 4)), Normal((4, 2))), out="array",
         tags=("arith", "linalg", "broadcast"))


def py_scalar_arith(a, b):
    return a * b + a / b - b ** 2 + 3.0 - a


register(py_scalar_arith, (PyFloat(), PyFloat()), tags=("arith", "pyfloat"))


def py_scalar_pow(a):
    return a ** 3 - 2.0 ** a + a ** 0.5 + 1.0 / a


register(py_scalar_pow, (PyFloat(),), tags=("arith", "pyfloat"))


def py_scalar_times_array(a, x):
    return a * x + x / a - a


register(py_scalar_times_array, (PyFloat(), Normal(4)), out="array",
         tags=("arith", "pyfloat", "broadcast"))


def reciprocal_shift(x):
    return 1.0 / x + 3.0 - x


register(reciprocal_shift, (Positive(5),), out="array", tags=("arith",))


def scalar_neg_power(a, x):
    return np.sum(-a * x) + (-a) ** 2 + -a ** 2 * 0.5


register(scalar_neg_power, (PyFloat(), Normal(3)), tags=("arith", "pyfloat"))


def mixed_0d_and_pyfloat(s, t, x):
    return np.sum(s * x ** 2 + t * x) * s / t


register(mixed_0d_and_pyfloat, (Normal((), loc=1.0), PyFloat(), Normal(4)),
         tags=("arith", "pyfloat", "broadcast"))


# ==========================================================================
# B. elementwise NumPy functions
# ==========================================================================

def trig_mix(x):
    return np.sin(x) * np.cos(x) + np.tan(x)


register(trig_mix, (Uniform(-1.0, 1.0, 5),), out="array", tags=("ufunc",))


def softplus(x):
    return np.log(np.exp(x) + 1.0)


register(softplus, (Normal(5),), out="array", tags=("ufunc",))


def log1p_expm1(x):
    return np.log1p(x ** 2) + np.expm1(x)


register(log1p_expm1, (Normal(5),), out="array", tags=("ufunc",))


def sqrt_square(x):
    return np.sqrt(np.square(x) + 1.0)


register(sqrt_square, (Normal(5),), out="array", tags=("ufunc",))


def hyperbolic(x):
    return np.tanh(x) + np.sinh(x) * np.cosh(x)


register(hyperbolic, (Normal(5),), out="array", tags=("ufunc",))


def inverse_trig(x):
    return np.arcsin(x) + np.arccos(x / 2.0) + np.arctan(3.0 * x)


register(inverse_trig, (Uniform(-0.8, 0.8, 5),), out="array", tags=("ufunc",))


def exp_log_sum(x, y):
    return np.sum(np.exp(-x) * np.log(y))


register(exp_log_sum, (Normal(4), Positive(4)), tags=("ufunc",))


def abs_products(x):
    return np.sum(np.abs(x) * x + np.abs(x - 3.0))


register(abs_products, (AwayFrom(5),), tags=("ufunc", "kink"))


def np_power_forms(x, y):
    return np.power(x, 3) + np.power(2.0, y) + np.power(x, y)


register(np_power_forms, (Positive(4), Normal(4)), out="array", tags=("ufunc",))


def _args_maximum_minimum(rng):
    x = AwayFrom(5, kinks=(0.5,)).make(rng)
    y = x + Signs(5).make(rng) * rng.uniform(0.2, 1.0, 5)
    return x, y


def maximum_minimum(x, y):
    return np.maximum(x, y) + np.minimum(x, 0.5) * y


register(maximum_minimum, _args_maximum_minimum, out="array",
         tags=("ufunc", "kink"))


def relu_via_maximum(x):
    return np.maximum(x, 0.0) + np.minimum(x, 0.0) * 0.1


register(relu_via_maximum, (AwayFrom(6),), out="array", tags=("ufunc", "kink"))


def where_branches(x):
    return np.where(x > 0, x ** 2, -x * 3.0)


register(where_branches, (AwayFrom(6),), out="array", tags=("ufunc", "kink"))


def leaky_relu(x):
    return np.where(x > 0, x, 0.1 * x)


register(leaky_relu, (AwayFrom(6),), out="array", tags=("ufunc", "kink"))


def clip_scaled(x):
    return np.clip(x, -1.0, 1.0) * x


register(clip_scaled, (AwayFrom(6, kinks=(-1.0, 1.0)),), out="array",
         tags=("ufunc", "kink"))


def relu_mask(x):
    return x * (x > 0)


register(relu_mask, (AwayFrom(6),), out="array", tags=("ufunc", "kink", "nondiff"))


def huber_loss(x, delta):
    small = np.abs(x) < delta
    return np.sum(np.where(small, 0.5 * x ** 2, delta * (np.abs(x) - 0.5 * delta)))


register(huber_loss, (AwayFrom(6, kinks=(-1.0, 0.0, 1.0)), 1.0),
         tags=("ufunc", "kink", "realistic"))


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


register(sigmoid, (Normal(5),), out="array", tags=("ufunc",))


# ==========================================================================
# C. reductions with axis= and keepdims=
# ==========================================================================

def sum_axis0_keepdims(x):
    return np.sum(x, axis=0, keepdims=True) * x


register(sum_axis0_keepdims, (Normal((3, 4)),), out="array", tags=("reduce",))


def mean_axis1(x):
    return np.mean(x ** 2, axis=1)


register(mean_axis1, (Normal((3, 4)),), out="array", tags=("reduce",))


def prod_axis1(x):
    return np.prod(x, axis=1)


register(prod_axis1, (AwayFrom((3, 4)),), out="array", tags=("reduce",))


def prod_all(x):
    return np.prod(x)


register(prod_all, (Uniform(0.5, 1.5, 5),), tags=("reduce",))


def max_axis1_keepdims(x):
    return x - np.max(x, axis=1, keepdims=True) * 2.0


register(max_axis1_keepdims, (Distinct((3, 4)),), out="array",
         tags=("reduce", "kink"))


def min_axis0(x):
    return np.min(x, axis=0) * np.sum(x)


register(min_axis0, (Distinct((3, 4)),), out="array", tags=("reduce", "kink"))


def min_keepdims_scale(x):
    return np.min(x, axis=1, keepdims=True) * x


register(min_keepdims_scale, (Distinct((3, 4)),), out="array",
         tags=("reduce", "kink"))


def range_max_min(x):
    return (np.max(x) - np.min(x)) * np.mean(x)


register(range_max_min, (Distinct(6),), tags=("reduce", "kink"))


def sum_negative_axis(x):
    return np.sum(np.sin(x), axis=-1)


register(sum_negative_axis, (Normal((2, 3, 4)),), out="array", tags=("reduce",))


def sum_tuple_axis(x):
    return np.sum(x ** 2, axis=(0, 2))


register(sum_tuple_axis, (Normal((2, 3, 4)),), out="array", tags=("reduce",))


def center_columns(x):
    return x - np.mean(x, axis=0, keepdims=True)


register(center_columns, (Normal((4, 3)),), out="array", tags=("reduce",))


def variance(x):
    return np.mean((x - np.mean(x)) ** 2)


register(variance, (Normal(6),), tags=("reduce",))


def weighted_column_max(x):
    return np.sum(np.mean(x, axis=0) * np.max(x, axis=0))


register(weighted_column_max, (Distinct((3, 4)),), tags=("reduce", "kink"))


# ==========================================================================
# D. linear algebra and shape manipulation
# ==========================================================================

def dot_vectors(x, y):
    return np.dot(x, y)


register(dot_vectors, (Normal(5), Normal(5)), tags=("linalg",))


def dot_matvec(A, x):
    return np.dot(A, x)


register(dot_matvec, (Normal((3, 4)), Normal(4)), out="array", tags=("linalg",))


def dot_matmat(A, B):
    return np.dot(A, B)


register(dot_matmat, (Normal((2, 3)), Normal((3, 2))), out="array",
         tags=("linalg",))


def matmul_fn(A, B):
    return np.matmul(A, B)


register(matmul_fn, (Normal((3, 2)), Normal((2, 4))), out="array",
         tags=("linalg",))


def outer_product(x, y):
    return np.outer(x, y)


register(outer_product, (Normal(3), Normal(4)), out="array", tags=("linalg",))


def gram_transpose(A):
    return np.transpose(A) @ A


register(gram_transpose, (Normal((4, 3)),), out="array", tags=("linalg", "shape"))


def transpose_axes(x):
    return np.transpose(x, (1, 0, 2)) ** 2


register(transpose_axes, (Normal((2, 3, 2)),), out="array", tags=("shape",))


def reshape_matvec(x, y):
    return np.reshape(x, (3, 4)) @ y


register(reshape_matvec, (Normal(12), Normal(4)), out="array", tags=("shape",))


def ravel_weighted(A, w):
    return np.ravel(A) * w


register(ravel_weighted, (Normal((2, 3)), Normal(6)), out="array", tags=("shape",))


def expand_dims_outer(x, y):
    return np.expand_dims(x, 0) * np.expand_dims(y, 1)


register(expand_dims_outer, (Normal(4), Normal(3)), out="array", tags=("shape",))


def squeeze_scale(x):
    return np.squeeze(x) * np.sum(x)


register(squeeze_scale, (Normal((1, 4, 1)),), out="array", tags=("shape",))


def stack_columns(x, y):
    return np.stack((x, y, x * y), axis=1)


register(stack_columns, (Normal(4), Normal(4)), out="array", tags=("shape",))


def stack_rows_sum(x, y):
    return np.sum(np.stack((x, y)) ** 2, axis=0)


register(stack_rows_sum, (Normal(3), Normal(3)), out="array", tags=("shape",))


def concatenate_vectors(x, y):
    return np.concatenate((x, y ** 2, np.sin(x)))


register(concatenate_vectors, (Normal(3), Normal(2)), out="array", tags=("shape",))


def concatenate_axis1(A, B):
    return np.concatenate((A, B), axis=1) * 2.0


register(concatenate_axis1, (Normal((2, 3)), Normal((2, 2))), out="array",
         tags=("shape",))


def norm_vector(x):
    return np.linalg.norm(x)


register(norm_vector, (Normal(5),), tags=("linalg",))


def norm_rows(X):
    return np.linalg.norm(X, axis=1)


register(norm_rows, (Normal((3, 4)),), out="array", tags=("linalg",))


def frobenius_gram(A):
    return np.linalg.norm(A @ A.T)


register(frobenius_gram, (Normal((3, 2)),), tags=("linalg",))


# ==========================================================================
# E. indexing reads
# ==========================================================================

def index_ends(x):
    return x[0] * x[-1] + np.sum(x)


register(index_ends, (Normal(5),), tags=("index",))


def finite_difference(x):
    return x[1:] - x[:-1]


register(finite_difference, (Normal(6),), out="array", tags=("index",))


def laplacian_1d(x):
    return x[1:-1] * 2.0 - x[2:] - x[:-2]


register(laplacian_1d, (Normal(6),), out="array", tags=("index",))


def column_read(X):
    return X[:, 2] * X[:, 0]


register(column_read, (Normal((3, 4)),), out="array", tags=("index",))


def strided_slices(x):
    return x[::2] * x[1::2]


register(strided_slices, (Normal(6),), out="array", tags=("index",))


def reversed_slice(x):
    return x[::-1] * x


register(reversed_slice, (Normal(5),), out="array", tags=("index",))


def block_slice(X):
    return X[1:, :2] ** 2


register(block_slice, (Normal((3, 4)),), out="array", tags=("index",))


def row_reads(X):
    return np.dot(X[1], X[2]) + X[0, 1]


register(row_reads, (Normal((3, 4)),), tags=("index",))


def int_array_index(x, idx):
    return np.sum(x[idx] ** 2)


register(int_array_index, (Normal(5), _np.array([0, 2, 2, 4])), tags=("index",))


def int_array_index_2d(X, rows, cols):
    return X[rows, cols] * 3.0


register(int_array_index_2d,
         (Normal((3, 4)), _np.array([0, 1, 2, 2]), _np.array([3, 0, 1, 1])),
         out="array", tags=("index",))


def loop_index_pairs(x, n):
    s = 0.0
    for i in range(n):
        s = s + x[i] * x[i + 1]
    return s


register(loop_index_pairs, (Normal(6), 5), tags=("index", "loop"))


def argmax_read(x):
    return x[np.argmax(x)] * np.sum(x)


register(argmax_read, (Distinct(5),), tags=("index", "nondiff"))


def last_row_from_shape(X):
    last = X[X.shape[0] - 1]
    return last * X[0]


register(last_row_from_shape, (Normal((3, 4)),), out="array",
         tags=("index", "attr"))


# ==========================================================================
# F. methods and attributes
# ==========================================================================

def method_sum_axis(x):
    return x.sum(axis=0)


register(method_sum_axis, (Normal((3, 4)),), out="array", tags=("method",))


def method_mean(x):
    return (x ** 2).mean()


register(method_mean, (Normal((2, 3)),), tags=("method",))


def method_reshape(x):
    return x.reshape(2, 3).sum(axis=1)


register(method_reshape, (Normal(6),), out="array", tags=("method",))


def method_reshape_tuple(x):
    M = x.reshape((3, 2))
    return M.T @ M


register(method_reshape_tuple, (Normal(6),), out="array", tags=("method", "attr"))


def method_dot(x, y):
    return x.dot(y)


register(method_dot, (Normal(4), Normal(4)), tags=("method",),
         autograd=False, autograd_reason="autograd's ArrayBox has no .dot method")


def method_dot_matvec(A, x):
    return A.dot(x) * 2.0


register(method_dot_matvec, (Normal((3, 4)), Normal(4)), out="array",
         tags=("method",),
         autograd=False, autograd_reason="autograd's ArrayBox has no .dot method")


def attribute_T(X):
    return X.T @ X


register(attribute_T, (Normal((3, 2)),), out="array", tags=("attr",))


def shape_for_sizes(X):
    n, m = X.shape
    return np.sum(X ** 2) / (n * m)


register(shape_for_sizes, (Normal((3, 4)),), tags=("attr", "nondiff"))


def method_chain(X, w):
    return (X.T * w).sum(axis=1).mean()


register(method_chain, (Normal((3, 4)), Normal(3)), tags=("method", "attr"))


def method_max_min(x):
    return x.max(axis=1) - x.min(axis=1)


register(method_max_min, (Distinct((3, 4)),), out="array",
         tags=("method", "kink"))


def method_misc(x):
    return x.ravel().prod() + x.transpose().squeeze().sum()


register(method_misc, (Positive((1, 4)),), tags=("method",))


def size_ndim(x):
    return np.sum(x) / x.size + x.ndim * np.mean(x ** 2)


register(size_ndim, (Normal((2, 3)),), tags=("attr", "nondiff"))


# ==========================================================================
# G. control flow
# ==========================================================================

def branch_on_sum(x):
    if np.sum(x) > 0:
        return np.sum(x ** 2)
    else:
        return np.sum(np.sin(x))


register(branch_on_sum, (Uniform(0.1, 1.0, 4),), name="branch_on_sum_pos",
         tags=("control",))
register(branch_on_sum, (Uniform(-1.0, -0.1, 4),), name="branch_on_sum_neg",
         tags=("control",))


def piecewise_scalar(a):
    if a < -1.0:
        y = -a ** 2
    elif a < 1.0:
        y = np.sin(a) * 2.0
    else:
        y = a ** 3 - a
    return y


register(piecewise_scalar, (-2.0,), name="piecewise_scalar_if",
         tags=("control", "pyfloat"))
register(piecewise_scalar, (0.3,), name="piecewise_scalar_elif",
         tags=("control", "pyfloat"))
register(piecewise_scalar, (1.7,), name="piecewise_scalar_else",
         tags=("control", "pyfloat"))


def for_range_sum(x, n):
    s = 0.0
    for i in range(n):
        s = s + np.sum(np.sin(x * i))
    return s


register(for_range_sum, (Normal(3), 4), tags=("control", "loop"))


def for_rows(X, w):
    total = 0.0
    for row in X:
        total += np.dot(row, w) ** 2
    return total


register(for_rows, (Normal((4, 3)), Normal(3)), tags=("control", "loop"))


def while_grow(y):
    while np.sum(y) < 10.0:
        y = y * 1.5 + 0.1
    return y


register(while_grow, (Positive(3),), out="array", tags=("control", "while"))


def break_loop(x, n):
    s = 1.0
    for i in range(n):
        s = s * x + 1.0
        if s > 5.0:
            break
    return s


register(break_loop, (1.3, 10), tags=("control", "loop", "pyfloat"))


def continue_loop(x):
    s = 0.0
    for i in range(len(x)):
        if i % 2 == 0:
            continue
        s += x[i] ** 2
    return s


register(continue_loop, (Normal(6),), tags=("control", "loop"))


def nested_loops(X):
    n, m = X.shape
    s = 0.0
    for i in range(n):
        for j in range(m):
            s += X[i, j] * X[j, i] * (i + 1)
    return s


register(nested_loops, (Normal((3, 3)),), tags=("control", "loop"))


def early_return_in_loop(x, w):
    for i in range(len(x)):
        if x[i] > 1.0:
            return x[i] ** 2 * w
    return np.sum(x) * w


register(early_return_in_loop, (_np.array([0.2, -0.5, 1.5, 2.0]), PyFloat()),
         name="early_return_in_loop_hit", tags=("control", "loop", "return"))
register(early_return_in_loop, (Uniform(-1.0, 0.8, 4), PyFloat()),
         name="early_return_in_loop_miss", tags=("control", "loop", "return"))


def early_return_branch(x):
    if np.max(x) > 3.0:
        return np.sum(x ** 2)
    y = np.tanh(x)
    if np.min(y) < -0.5:
        return np.sum(y ** 2)
    return np.sum(y)


register(early_return_branch, (Uniform(3.5, 4.0, 3),),
         name="early_return_branch_first", tags=("control", "return"))
register(early_return_branch, (Uniform(-2.0, -1.0, 3),),
         name="early_return_branch_second", tags=("control", "return"))
register(early_return_branch, (Uniform(-0.3, 2.0, 3),),
         name="early_return_branch_fallthrough", tags=("control", "return"))


def aug_assign_scalars(a, b):
    s = a
    s += b
    s -= 0.5 * a
    s *= a
    s /= b
    return s


register(aug_assign_scalars, (PyFloat(), PyFloat()),
         tags=("control", "augassign", "pyfloat"))


def aug_assign_arrays(x):
    y = x * 1.0
    y += x ** 2
    y -= 0.5 * x
    y *= x
    y /= 1.0 + x ** 2
    return y


register(aug_assign_arrays, (Normal(4),), out="array",
         tags=("control", "augassign"))


def aug_assign_accumulate(x, n):
    acc = np.zeros(x.shape)
    for i in range(n):
        acc += x * (i + 1)
    return acc


register(aug_assign_accumulate, (Normal(3), 3), out="array",
         tags=("control", "augassign", "loop"),
         autograd=False,
         autograd_reason="in-place '+=' of an ArrayBox into a plain ndarray "
                         "(np.zeros) raises TypeError under autograd")


def mean_and_std(v):
    m = np.mean(v)
    s = np.sqrt(np.mean((v - m) ** 2))
    return m, s


def standardize(x):
    m, s = mean_and_std(x)
    return (x - m) / s


register(standardize, (Normal(5),), out="array", tags=("control", "call", "unpack"))


def swap_recurrence(a, b, n):
    for i in range(n):
        a, b = b, a + b * 0.5
    return a * b


register(swap_recurrence, (PyFloat(), PyFloat(), 5),
         tags=("control", "loop", "unpack", "pyfloat"))


def _args_conditional_in_loop(rng):
    X = 0.3 * rng.standard_normal((3, 4)) + _np.array([[1.0], [-1.0], [1.0]])
    return (X,)


def conditional_in_loop(X):
    total = 0.0
    for row in X:
        if np.sum(row) > 0:
            total += np.sum(row ** 2)
        else:
            total -= np.sum(row) * 0.5
    return total


register(conditional_in_loop, _args_conditional_in_loop,
         tags=("control", "loop"))


def conditional_expression(x):
    y = x ** 2 if np.mean(x) > 0 else -x
    return np.sum(y)


register(conditional_expression, (Uniform(0.2, 1.0, 4),),
         name="conditional_expression_true", tags=("control",))
register(conditional_expression, (Uniform(-1.0, -0.2, 4),),
         name="conditional_expression_false", tags=("control",))


def bool_op_condition(a, b):
    if a > 0 and b > 0:
        return a * b
    elif a > 0 or b > 0:
        return a + b * 2.0
    else:
        return -a * b


register(bool_op_condition, (1.5, 0.7), name="bool_op_condition_and",
         tags=("control", "pyfloat"))
register(bool_op_condition, (-1.5, 0.7), name="bool_op_condition_or",
         tags=("control", "pyfloat"))


def while_true_break(x):
    i = 0
    s = 0.0
    while True:
        s = s + np.sum(x ** i) / (i + 1)
        i += 1
        if i >= 4:
            break
    return s


register(while_true_break, (Normal(3),), tags=("control", "while"))


# ==========================================================================
# H. calls to other user functions (nested, keywords, defaults)
# ==========================================================================

def square_sum(v):
    return np.sum(v * v)


def calls_helper(x):
    return square_sum(x) + square_sum(2.0 * x)


register(calls_helper, (Normal(4),), tags=("call",))


def affine(x, W, b=0.0, scale=1.0):
    return scale * (x @ W) + b


def dense(x, W, b, activation=True):
    z = affine(x, W, b=b)
    if activation:
        return np.tanh(z)
    return z


def two_dense(x, W1, b1, W2):
    h = dense(x, W1, b1)
    return dense(h, W2, 0.0, activation=False)


def nested_helpers_3deep(x, W1, b1, W2):
    return np.sum(two_dense(x, W1, b1, W2) ** 2)


register(nested_helpers_3deep,
         (Normal(3), Normal((3, 4), 0.5), Normal(4), Normal((4, 2), 0.5)),
         tags=("call",))


def keyword_call_reordered(x, W):
    return affine(W=W, x=x, scale=0.5, b=1.0)


register(keyword_call_reordered, (Normal(3), Normal((3, 2))), out="array",
         tags=("call",))


def poly_with_defaults(x, c0=1.0, c1=-2.0, c2=0.5):
    return c0 + c1 * x + c2 * x ** 2


def calls_with_defaults(x, a):
    return np.sum(poly_with_defaults(x) + poly_with_defaults(x, c2=a)
                  + poly_with_defaults(x, a, c1=a))


register(calls_with_defaults, (Normal(4), PyFloat()), tags=("call", "pyfloat"))


def min_max_mean(v):
    return np.min(v), np.max(v), np.mean(v)


def spread_times_mean(x):
    lo, hi, mu = min_max_mean(x)
    return (hi - lo) * mu


register(spread_times_mean, (Distinct(5),), tags=("call", "unpack", "kink"))


def helper_calls_helper(x, y):
    return square_sum(standardize(x) * y) + dense(x, np.ones((3, 2)), y[0])[1]


register(helper_calls_helper, (Normal(3), Normal(3)), tags=("call",))


# ==========================================================================
# I. realistic programs
# ==========================================================================

def logistic_loss(w, b, X, y):
    z = X @ w + b
    return np.mean(np.log1p(np.exp(-y * z)))


register(logistic_loss, (Normal(3, 0.5), PyFloat(-0.5, 0.5), Normal((8, 3)), Signs(8)),
         tags=("realistic",))


def softmax_cross_entropy(W, X, labels):
    logits = X @ W
    logits = logits - np.max(logits, axis=1, keepdims=True)
    log_probs = logits - np.log(np.sum(np.exp(logits), axis=1, keepdims=True))
    n = X.shape[0]
    return -np.mean(log_probs[np.arange(n), labels])


register(softmax_cross_entropy,
         (Normal((3, 4)), Normal((5, 3)), _np.array([0, 3, 1, 1, 2])),
         tags=("realistic", "index"))


def softmax_xent_onehot(W, X, Y):
    logits = X @ W
    m = np.max(logits, axis=1, keepdims=True)
    lse = m + np.log(np.sum(np.exp(logits - m), axis=1, keepdims=True))
    return -np.sum(Y * (logits - lse)) / X.shape[0]


register(softmax_xent_onehot,
         (Normal((3, 3)), Normal((4, 3)), _np.eye(3)[[0, 2, 1, 2]]),
         tags=("realistic",))


def mlp_loss(W1, b1, W2, b2, X, y):
    h = np.tanh(X @ W1 + b1)
    pred = h @ W2 + b2
    return np.mean((pred - y) ** 2)


register(mlp_loss,
         (Normal((3, 4), 0.5), Normal(4, 0.1), Normal(4, 0.5), PyFloat(-0.2, 0.2),
          Normal((6, 3)), Normal(6)),
         tags=("realistic",))


def rnn_loss(Wh, Wx, h0, xs):
    h = h0
    for t in range(xs.shape[0]):
        h = np.tanh(Wh @ h + Wx @ xs[t])
    return np.sum(h ** 2)


register(rnn_loss, (Normal((3, 3), 0.5), Normal((3, 2), 0.5), Normal(3), Normal((4, 2))),
         tags=("realistic", "loop"))


def rnn_over_rows(Wh, Wx, xs):
    h = np.zeros(Wh.shape[0])
    for x_t in xs:
        h = np.tanh(Wh @ h + Wx @ x_t)
    return h


register(rnn_over_rows, (Normal((3, 3), 0.5), Normal((3, 2), 0.5), Normal((4, 2))),
         out="array", tags=("realistic", "loop", "nondiff"))


def euler_ode(y0, k, dt, n):
    y = y0
    for i in range(n):
        y = y + dt * (-k * y + np.sin(y))
    return y


register(euler_ode, (Normal(3), 0.7, 0.1, 10), out="array",
         tags=("realistic", "loop", "pyfloat"))


def pendulum_rhs(state, damping):
    theta, omega = state[0], state[1]
    return np.stack((omega, -np.sin(theta) - damping * omega))


def rk4_pendulum(state0, damping, dt, n):
    s = state0
    for i in range(n):
        k1 = pendulum_rhs(s, damping)
        k2 = pendulum_rhs(s + 0.5 * dt * k1, damping)
        k3 = pendulum_rhs(s + 0.5 * dt * k2, damping)
        k4 = pendulum_rhs(s + dt * k3, damping)
        s = s + dt / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
    return s


register(rk4_pendulum, (_np.array([1.0, 0.3]), 0.2, 0.1, 8), out="array",
         tags=("realistic", "loop", "call", "unpack"))


def leapfrog_energy(q0, p0, dt, n):
    q, p = q0, p0
    for i in range(n):
        p = p - 0.5 * dt * (q + q ** 3)
        q = q + dt * p
        p = p - 0.5 * dt * (q + q ** 3)
    return 0.5 * p ** 2 + 0.5 * q ** 2 + 0.25 * q ** 4


register(leapfrog_energy, (0.8, -0.3, 0.1, 12),
         tags=("realistic", "loop", "pyfloat", "unpack"))


def newton_sqrt(a):
    x = a
    step = 1.0
    while np.abs(step) > 1e-12:
        step = (x * x - a) / (2.0 * x)
        x = x - step
    return x


register(newton_sqrt, (2.3,), tags=("realistic", "while", "pyfloat"))


def newton_cubic(c):
    x = np.zeros_like(c)
    for k in range(50):
        step = (x ** 3 + x - c) / (3.0 * x ** 2 + 1.0)
        x = x - step
        if np.max(np.abs(step)) < 1e-13:
            break
    return x


register(newton_cubic, (Normal(3),), out="array",
         tags=("realistic", "loop", "nondiff"))


def fixed_point_cos(a):
    x = 0.0
    x_new = a * np.cos(x)
    for k in range(200):
        x_new = a * np.cos(x)
        if np.abs(x_new - x) < 1e-14:
            break
        x = x_new
    return x_new


register(fixed_point_cos, (0.6,), tags=("realistic", "loop", "pyfloat"))


def horner(coeffs, x):
    p = np.zeros_like(x)
    for i in range(len(coeffs)):
        p = p * x + coeffs[i]
    return p


register(horner, (Normal(4), Normal(5)), out="array", tags=("realistic", "loop"))


def horner_iterate(coeffs, x):
    p = 0.0
    for c in coeffs:
        p = p * x + c
    return p


register(horner_iterate, (Normal(5), PyFloat(-1.0, 1.0)),
         tags=("realistic", "loop", "pyfloat"))


def logsumexp(x):
    m = np.max(x)
    return m + np.log(np.sum(np.exp(x - m)))


register(logsumexp, (Normal(6),), tags=("realistic",))


def gaussian_loglik(mu, log_sigma, x):
    sigma = np.exp(log_sigma)
    n = x.shape[0]
    z = (x - mu) / sigma
    return -0.5 * np.sum(z ** 2) - n * log_sigma - 0.5 * n * np.log(2.0 * np.pi)


register(gaussian_loglik, (PyFloat(-0.5, 0.5), PyFloat(-0.3, 0.3), Normal(10)),
         tags=("realistic", "pyfloat"))


def ridge_loss(w, X, y, lam):
    r = X @ w - y
    return np.dot(r, r) + lam * np.dot(w, w)


register(ridge_loss, (Normal(3), Normal((6, 3)), Normal(6), 0.1),
         tags=("realistic",))


def softmax(x):
    e = np.exp(x - np.max(x))
    return e / np.sum(e)


register(softmax, (Normal(5),), out="array", tags=("realistic",))


def cosine_similarity(x, y):
    return np.dot(x, y) / (np.linalg.norm(x) * np.linalg.norm(y))


register(cosine_similarity, (Normal(4), Normal(4)), tags=("realistic",))


def normalize(x):
    return x / np.linalg.norm(x)


register(normalize, (Normal(4),), out="array", tags=("realistic",))


def attention(Q, K, V):
    d = Q.shape[1]
    scores = Q @ K.T / np.sqrt(d)
    scores = scores - np.max(scores, axis=1, keepdims=True)
    w = np.exp(scores)
    w = w / np.sum(w, axis=1, keepdims=True)
    return w @ V


register(attention, (Normal((2, 3)), Normal((4, 3)), Normal((4, 2))),
         out="array", tags=("realistic",))


def poisson_nll(eta, y):
    return np.sum(np.exp(eta) - y * eta)


register(poisson_nll, (Normal(5, 0.5), _np.array([0.0, 1.0, 3.0, 2.0, 0.0])),
         tags=("realistic",))


def layer_norm(x, gamma, beta):
    mu = np.mean(x, axis=-1, keepdims=True)
    var = np.mean((x - mu) ** 2, axis=-1, keepdims=True)
    return gamma * (x - mu) / np.sqrt(var + 1e-5) + beta


register(layer_norm, (Normal((2, 4)), Normal(4), Normal(4)), out="array",
         tags=("realistic",))


def unrolled_gd(w0, X, y, lr, steps):
    w = w0
    for i in range(steps):
        r = X @ w - y
        g = 2.0 * X.T @ r / X.shape[0]
        w = w - lr * g
    r = X @ w - y
    return np.mean(r ** 2)


register(unrolled_gd, (Normal(3), Normal((6, 3)), Normal(6), 0.1, 5),
         tags=("realistic", "loop"))


def poly_features(x, w):
    return np.stack((np.ones_like(x), x, x ** 2, x ** 3), axis=1) @ w


register(poly_features, (Normal(5), Normal(4)), out="array",
         tags=("realistic", "shape", "nondiff"))


def kl_divergence(p_logits, q_logits):
    p = np.exp(p_logits) / np.sum(np.exp(p_logits))
    q = np.exp(q_logits) / np.sum(np.exp(q_logits))
    return np.sum(p * (np.log(p) - np.log(q)))


register(kl_divergence, (Normal(4), Normal(4)), tags=("realistic",))


def lasso_loss(w, X, y, lam):
    return np.mean((X @ w - y) ** 2) + lam * np.sum(np.abs(w))


register(lasso_loss, (AwayFrom(3), Normal((5, 3)), Normal(5), 0.3),
         tags=("realistic", "kink"))


def cumulative_product_sum(x):
    p = 1.0
    s = 0.0
    for v in x:
        p = p * v
        s = s + p
    return s


register(cumulative_product_sum, (Uniform(0.5, 1.5, 5),),
         tags=("realistic", "loop"))


def trapezoid_integral(y, dx):
    return dx * (np.sum(y) - 0.5 * (y[0] + y[-1]))


register(trapezoid_integral, (Normal(6), 0.25), tags=("realistic", "index"))


def spring_chain_energy(x):
    d = x[1:] - x[:-1]
    return np.sum((np.sqrt(d ** 2 + 1.0) - 1.2) ** 2)


register(spring_chain_energy, (Normal(5),), tags=("realistic", "index"))


def exp_moving_average(x, alpha):
    s = x[0]
    for i in range(1, len(x)):
        s = alpha * x[i] + (1.0 - alpha) * s
    return s


register(exp_moving_average, (Normal(6), 0.3), tags=("realistic", "loop"))


def bilinear_form(x, A, y, scale):
    return scale * (x @ A @ y)


register(bilinear_form, (Normal(3), Normal((3, 4)), Normal(4), PyFloat()),
         tags=("realistic", "linalg"))


# ==========================================================================
# J. non-differentiable pass-through inside differentiated code
# ==========================================================================

def _args_passthrough_mix(rng):
    # values {-1.6, -0.8, 0.4, 1.2, 1.9} (shuffled, jittered): the mean
    # (~0.2) is at least 0.15 away from every element, so ``mask`` is stable.
    base = _np.array([-1.6, -0.8, 0.4, 1.2, 1.9]) + rng.uniform(-0.05, 0.05, 5)
    return (rng.permutation(base),)


def passthrough_mix(x):
    n = len(x)
    m = np.shape(x)[0]
    z = np.zeros_like(x)
    o = np.ones(n)
    k = np.argmax(x)
    mask = x > np.mean(x)
    return np.sum((z + o) * x * mask) + x[k] * m


register(passthrough_mix, _args_passthrough_mix, tags=("nondiff",))


def count_positive_scale(x):
    c = np.sum(x > 0)
    return np.sum(x ** 2) * c / len(x)


register(count_positive_scale, (AwayFrom(6),), tags=("nondiff",))


def arange_weights(x):
    return np.sum(x * np.arange(len(x))) + np.sum(np.ones_like(x) * x ** 2)


register(arange_weights, (Normal(5),), tags=("nondiff",))


def shape_comparison_branch(x, y):
    if x.shape == y.shape and np.sum(x) < np.sum(y):
        return np.sum(x * y)
    return np.sum(x - y)


register(shape_comparison_branch,
         (Uniform(-1.0, 0.0, 3), Uniform(0.5, 1.0, 3)),
         tags=("nondiff", "control"))


def ones_init_product(x):
    acc = np.ones(x.shape)
    for i in range(x.shape[0]):
        acc = acc * x[i]
    return acc + np.zeros(x.shape[1])


register(ones_init_product, (Normal((3, 2)),), out="array",
         tags=("nondiff", "loop"))


def argmin_gather(X):
    idx = np.argmin(X, axis=1)
    return X[np.arange(X.shape[0]), idx] * 2.0 + np.sum(X, axis=1)


register(argmin_gather, (Distinct((3, 4)),), out="array",
         tags=("nondiff", "index"))


def float_of_int_const(x, n):
    return np.sum(x) / float(n) + np.sum(x ** 2) / n


register(float_of_int_const, (Normal(4), 3), tags=("nondiff",))


def comparison_count_loop(x):
    total = 0.0
    for i in range(len(x)):
        if x[i] > x[0]:
            total += x[i] * i
        elif x[i] < x[0]:
            total -= x[i] ** 2
    return total + x[0]


register(comparison_count_loop, (Distinct(5),), tags=("nondiff", "control", "loop"))
