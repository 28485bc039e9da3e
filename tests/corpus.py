"""Shared test corpus: small functions written the way NumPy users write them.

Every differentiated function below is a module-level ``def`` (or a closure
made by a module-level factory and bound to a module-level name, or a method
of a module-level class) that uses ``np.`` calls.  ``tests/reference.py``
loads this file a second time with the line ``import numpy as np`` replaced
by ``import autograd.numpy as np`` so that the very same functions run under
HIPS autograd as an independent AD reference.  The registration machinery
therefore uses ``_np`` (always the real NumPy) and never ``np``.

A case is registered with ``register(fn, args, ...)`` right after the function
(no decorators: the compiler sees the function's source untouched):

* ``args``: a tuple of argument specs (``Normal``, ``Uniform``, ``Positive``,
  ``AwayFrom``, ``Distinct``, ``PyFloat``, ``Signs``) or literal values
  (ints, Python floats, int index arrays -- copied for every call), or a
  callable ``rng -> tuple`` for inputs that need structure.  A dict, list or
  tuple of specs builds a pytree argument (``{"W": Normal((3, 2)), ...}``).
  Arguments are deterministic: the generator is seeded from the case name.
* differentiable positions are detected from the generated arguments: float64
  arrays, Python floats and non-empty pytrees of them are differentiable,
  everything else (ints, int arrays) is a constant.
* ``out``: ``"scalar"`` (grad / value_and_grad / hessian apply), ``"array"``
  or ``"tree"`` (a dict/list/tuple of arrays and floats; jvp/vjp only).
* ``smooth``: the Hessian is well defined and checkable by finite differences
  at the registered inputs (inputs are kept away from kinks).
* ``exclude``: modes not to run for this case (with a reason in ``notes``).
  Pytree cases exclude jacobian/hessian automatically (reason recorded).
* ``autograd``: ``False`` when the function cannot run under autograd; the
  reason goes in ``autograd_reason``.  ``test_reference_self_consistency``
  checks that this flag is truthful in both directions.
* ``rtol`` / ``atol``: finite-difference comparison tolerances.
* ``receiver`` (methods), ``has_aux``, ``frozen`` (``stop_gradient``
  references) and ``mutates_args`` (writes into inputs): see ``register``.
"""
import inspect as _inspect
import io
import math
import types as _types
import zlib
from dataclasses import dataclass, field
from typing import Callable

import numpy as _np
import numpy as np

try:
    from ad_compiler import stop_gradient
except Exception:                        # package broken/incomplete: the
    def stop_gradient(x):                # references never call it (they use
        return x                         # the case's ``frozen`` variant)

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
    """A fresh copy of a literal argument (arrays and containers copied)."""
    if isinstance(v, _np.ndarray):
        return v.copy()
    if isinstance(v, dict):
        return {k: _copy_value(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return type(v)(_copy_value(x) for x in v)
    return v


def _make_value(spec, rng):
    """Build one argument from a spec; dict/list/tuple specs build pytrees."""
    if isinstance(spec, _Spec):
        return spec.make(rng)
    if isinstance(spec, dict):
        return {k: _make_value(v, rng) for k, v in spec.items()}
    if isinstance(spec, (list, tuple)):
        return type(spec)(_make_value(v, rng) for v in spec)
    return _copy_value(spec)


def is_container(v):
    return isinstance(v, (dict, list, tuple))


def tree_leaves(v):
    """The leaves of a dict/list/tuple pytree (dicts in sorted-key order)."""
    if isinstance(v, dict):
        return [leaf for k in sorted(v) for leaf in tree_leaves(v[k])]
    if isinstance(v, (list, tuple)):
        return [leaf for x in v for leaf in tree_leaves(x)]
    return [v]


def _is_float_leaf(v):
    if isinstance(v, bool):
        return False
    if isinstance(v, float):           # includes np.float64
        return True
    if isinstance(v, _np.ndarray):
        return v.dtype == _np.float64
    return False


def is_differentiable_value(v):
    """Float arrays and Python floats are differentiable; ints etc. are not.

    A dict/list/tuple is differentiable (a pytree) when it is non-empty and
    every leaf is.
    """
    if is_container(v):
        leaves = tree_leaves(v)
        return bool(leaves) and all(_is_float_leaf(x) for x in leaves)
    return _is_float_leaf(v)


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
    # --- Python-coverage extensions ---------------------------------------
    receiver: Callable = None     # rng -> object; ``fn`` is then a method
    has_aux: bool = False         # fn returns (output, aux)
    frozen: Callable = None       # stop_gradient reference, see register()
    mutates_args: bool = False    # the plain function writes into its inputs
    skip_reasons: tuple = ()      # ((mode, reason), ...) for excluded modes

    def make_args(self):
        """Fresh, deterministic arguments (a new tuple of new arrays)."""
        rng = _np.random.default_rng(zlib.crc32(self.name.encode()))
        if callable(self.args_spec):
            vals = self.args_spec(rng)
        else:
            vals = [_make_value(a, rng) for a in self.args_spec]
        return tuple(vals)

    def target(self):
        """The callable handed to the API: ``fn`` itself, or ``fn`` bound to
        a freshly built (deterministic) receiver object."""
        if self.receiver is None:
            return self.fn
        rng = _np.random.default_rng(zlib.crc32((self.name + "/receiver").encode()))
        return _types.MethodType(self.fn, self.receiver(rng))

    @property
    def is_method(self):
        return self.receiver is not None or _inspect.ismethod(self.fn)

    @property
    def is_tree(self):
        """Pytree arguments or outputs (array-only APIs do not apply)."""
        return self.out == "tree" or any(is_container(a) for a in self.make_args())

    def skip_reason(self, mode):
        return dict(self.skip_reasons).get(mode) or self.notes or "see corpus"

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

_ARRAY_ONLY_MODES = ("jacobian_rev", "jacobian_fwd", "hessian")
_AUX_SKIPPED_MODES = ("jvp", "vjp") + _ARRAY_ONLY_MODES


def register(fn, args, *, name=None, out="scalar", smooth=True, exclude=(),
             autograd=True, autograd_reason="", rtol=1e-5, atol=1e-6,
             tags=(), notes="", receiver=None, has_aux=False, frozen=None,
             mutates_args=False):
    """Register a case (see the module docstring).

    Python-coverage extensions:

    * ``receiver``: ``rng -> object``; ``fn`` is a function defined in a
      module-level class and the case differentiates the bound method
      ``fn.__get__(receiver(rng))`` (``Case.target()``).  ``fn`` may also be
      a bound method of a module-level object directly.
    * ``out="tree"``: the function returns a dict/list/tuple of arrays.
      Pytree cases (tree arguments or outputs) skip jacobian/hessian (the
      API's jacobian/hessian take and return arrays only).
    * ``has_aux``: ``fn`` returns ``(output, aux)``; grad/value_and_grad run
      with ``has_aux=True`` (jvp/vjp/jacobian/hessian have no has_aux).
    * ``frozen``: for functions calling ``stop_gradient``:
      ``frozen(*base_args)`` returns a function of the same arguments in
      which every ``stop_gradient(e)`` is replaced by ``e`` evaluated at the
      base arguments (a constant); the references (FD and autograd) use it.
    * ``mutates_args``: the plain function writes into its input arrays
      (the API must not: every API test checks the caller's arrays).
    """
    name = name or fn.__name__
    if name in CASES:
        raise ValueError(f"duplicate case name {name!r}")
    if out not in ("scalar", "array", "tree"):
        raise ValueError(f"{name}: out must be 'scalar', 'array' or 'tree'")
    bad = set(exclude) - set(MODES)
    if bad:
        raise ValueError(f"{name}: unknown modes {bad}")
    if not autograd and not autograd_reason:
        raise ValueError(f"{name}: autograd=False needs an autograd_reason")
    reasons = {m: notes for m in exclude if notes}
    c = Case(name=name, fn=fn, args_spec=args, out=out, smooth=smooth,
             exclude=frozenset(exclude), autograd=autograd,
             autograd_reason=autograd_reason, rtol=rtol, atol=atol,
             tags=tuple(tags), notes=notes, receiver=receiver,
             has_aux=has_aux, frozen=frozen, mutates_args=mutates_args)
    vals = c.make_args()
    diff = tuple(i for i, v in enumerate(vals) if is_differentiable_value(v))
    if not diff:
        raise ValueError(f"{name}: no differentiable argument")
    excl = set(exclude)
    if has_aux:
        for m in _AUX_SKIPPED_MODES:
            excl.add(m)
            reasons.setdefault(m, "has_aux: only grad/value_and_grad take has_aux")
    if c.is_tree:
        for m in _ARRAY_ONLY_MODES:
            excl.add(m)
            reasons.setdefault(m, "pytree arguments/outputs: the API's "
                                  "jacobian/hessian are array-only")
    object.__setattr__(c, "diff", diff)
    object.__setattr__(c, "exclude", frozenset(excl))
    object.__setattr__(c, "skip_reasons", tuple(sorted(reasons.items())))
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


# ==========================================================================
# K. in-place writes into arrays that carry derivatives
# ==========================================================================

_INPLACE_AG = "autograd cannot assign into arrays (item assignment)"
_COPY_AG = "autograd's ArrayBox has no .copy() and cannot be assigned into"


def inplace_rows_loop(x):
    n = x.shape[0] - 2
    out = np.zeros((n, 3))
    for i in range(n):
        out[i] = x[i:i + 3] * x[i]
    return np.sum(out ** 2)


register(inplace_rows_loop, (Normal(5),), tags=("inplace", "loop"),
         autograd=False, autograd_reason=_INPLACE_AG)


def inplace_column_augadd(X, v):
    Y = X * 1.0
    for j in range(Y.shape[1]):
        Y[:, j] += v * (j + 1)
    return Y


register(inplace_column_augadd, (Normal((3, 4)), Normal(3)), out="array",
         tags=("inplace", "loop", "augassign"),
         autograd=False, autograd_reason=_INPLACE_AG)


def inplace_fancy_scale(x, idx, s):
    y = x.copy()
    y[idx] *= s
    return y * x


register(inplace_fancy_scale, (Normal(6), _np.array([4, 0, 2]), PyFloat()),
         out="array", tags=("inplace", "index", "augassign", "pyfloat"),
         autograd=False, autograd_reason=_COPY_AG)


def inplace_branch_loop(x):
    out = np.zeros_like(x)
    for i in range(len(x)):
        if x[i] > 0:
            out[i] = x[i] ** 2
        else:
            out[i] = -0.5 * x[i]
    return out


register(inplace_branch_loop, (AwayFrom(6),), out="array",
         tags=("inplace", "loop", "control", "kink"),
         autograd=False, autograd_reason=_INPLACE_AG)


def inplace_slice_assign(x):
    out = np.ones(7)
    out[1:4] = x[:3] * 2.0
    out[4:] = np.exp(x[2:5])
    out[0] = out[1] * out[5]
    return out


register(inplace_slice_assign, (Normal(5),), out="array", tags=("inplace", "index"),
         autograd=False, autograd_reason=_INPLACE_AG)


def inplace_overwrite_read(x):
    y = x * 1.0
    y[0] = y[1] * y[2]
    y[2] = y[0] + np.sin(y[1])
    y[1] = y[1] * y[0]
    return y


register(inplace_overwrite_read, (Normal(4),), out="array", tags=("inplace",),
         autograd=False, autograd_reason=_INPLACE_AG)


def inplace_matrix_scatter(x):
    M = np.zeros((3, 3))
    M[0, :] = x
    M[:, 0] += x
    M[1, 1] = x[0] * x[1]
    M[2, 1:] = x[1:] ** 2
    return M @ x


register(inplace_matrix_scatter, (Normal(3),), out="array",
         tags=("inplace", "augassign", "linalg"),
         autograd=False, autograd_reason=_INPLACE_AG)


def inplace_cumsum_loop(x):
    c = np.zeros_like(x)
    c[0] = x[0]
    for i in range(1, len(x)):
        c[i] = c[i - 1] * 0.5 + x[i] ** 2
    return c


register(inplace_cumsum_loop, (Normal(5),), out="array", tags=("inplace", "loop"),
         autograd=False, autograd_reason=_INPLACE_AG)


def inplace_mask_leaky(x):
    y = x * 1.0
    y[y < 0] *= 0.1
    return np.sum(y ** 2 + y)


register(inplace_mask_leaky, (AwayFrom(6),), tags=("inplace", "kink", "augassign"),
         autograd=False, autograd_reason=_INPLACE_AG)


def inplace_rotation_matrix(theta, v):
    R = np.zeros((2, 2))
    R[0, 0] = np.cos(theta)
    R[0, 1] = -np.sin(theta)
    R[1, 0] = np.sin(theta)
    R[1, 1] = np.cos(theta)
    return R @ v


register(inplace_rotation_matrix, (PyFloat(), Normal(2)), out="array",
         tags=("inplace", "pyfloat", "realistic"),
         autograd=False, autograd_reason=_INPLACE_AG)


def inplace_while_write(x):
    y = x * 1.0
    i = 0
    while i < len(y) - 1:
        y[i + 1] = y[i + 1] + np.tanh(y[i])
        i += 1
    return np.sum(y ** 2)


register(inplace_while_write, (Normal(4),), tags=("inplace", "while"),
         autograd=False, autograd_reason=_INPLACE_AG)


def inplace_negative_index(x):
    y = np.zeros(5)
    y[-1] = x[0] * 3.0
    y[-3:-1] += x[1:3] ** 2
    y[:2] -= np.exp(x[2:4])
    return y


register(inplace_negative_index, (Normal(4),), out="array",
         tags=("inplace", "index", "augassign"),
         autograd=False, autograd_reason=_INPLACE_AG)


def inplace_fancy_augadd(x, idx):
    acc = np.zeros(6)
    acc[idx] += x
    acc[idx[:2]] *= x[:2]
    return acc * np.arange(1, 7)


register(inplace_fancy_augadd, (Normal(4), _np.array([5, 1, 3, 0])), out="array",
         tags=("inplace", "index", "augassign"),
         autograd=False, autograd_reason=_INPLACE_AG)


def inplace_row_col_scale(X, s):
    Y = X * 1.0
    Y[1] *= s
    Y[:, 2] /= 1.0 + X[:, 0] ** 2
    return np.sum(Y * X)


register(inplace_row_col_scale, (Normal((3, 4)), Normal(4)),
         tags=("inplace", "augassign", "broadcast"),
         autograd=False, autograd_reason=_INPLACE_AG)


def inplace_2d_fancy(X, rows, cols):
    Y = np.zeros_like(X)
    Y[rows, cols] = X[rows, cols] ** 2
    Y[rows[0]] += X[rows[0]] * 0.5
    return Y


register(inplace_2d_fancy, (Normal((3, 4)), _np.array([0, 2, 1]), _np.array([3, 1, 0])),
         out="array", tags=("inplace", "index", "augassign"),
         autograd=False, autograd_reason=_INPLACE_AG)


# repeated indices: NumPy keeps the last of repeated writes (a[[0, 0]] = v is
# a[0] = v[1]); the adjoint must give the cotangent to that last one only
def inplace_repeated_index(x, idx):
    a = x * 1.0
    a[idx] = x[:4] ** 2
    a[[0, 0, 3]] += np.sin(x[1:4])
    a[idx[::-1]] *= x[1:] + 2.0
    A = np.outer(x[:3], x[:2])
    A[[0, 0, 2], [1, 1, 0]] -= x[:3]
    A[[1, 1]] = x[None, :2] * np.array([[1.0], [3.0]])
    return np.sum(a * np.arange(1.0, 6.0)) + np.sum(A * A)


register(inplace_repeated_index, (Normal(5), _np.array([1, 4, 1, 4])),
         tags=("inplace", "index", "augassign", "repeated_index"),
         autograd=False, autograd_reason=_INPLACE_AG)


# a write whose value is the target itself (y[::-1] = y): the value's
# cotangent is taken before bx[idx] is zeroed
def inplace_self_assign(x):
    y = np.tanh(x)
    y[::-1] = y
    y[[2, 0, 3, 1]] = y.copy()     # (y[idx] = y itself: tests/test_mutation.py)
    Y = np.outer(x, y)
    Y[1:] = Y[:-1]
    return np.sum(y * np.arange(1.0, 5.0)) + np.sum(Y * Y)


register(inplace_self_assign, (Normal(4),), tags=("inplace", "index", "self_assign"),
         autograd=False, autograd_reason=_INPLACE_AG)


def list_reverse_sort(x):
    lst = [x[0], x[1] * x[2], x[2], x[3] ** 2]
    lst.reverse()
    s = lst[0] * 1.0 + lst[1] * 2.0 + lst[2] * 3.0 + lst[3] * 4.0
    lst.sort()
    return s + lst[0] * 5.0 + lst[1] * 6.0 + lst[2] * 7.0 + lst[3] * 8.0


register(list_reverse_sort, (Distinct(4, lo=0.5, hi=2.0),), tags=("list", "list_methods"))


def inplace_in_branch_matrix(X, flag):
    Y = X * 2.0
    if flag > 0:
        Y[0] = np.tanh(X[0])
    else:
        Y[:, 0] = X[:, 0] ** 3
    return np.sum(Y * X)


register(inplace_in_branch_matrix, (Normal((3, 3)), 1), name="inplace_in_branch_if",
         tags=("inplace", "control"),
         autograd=False, autograd_reason=_INPLACE_AG)
register(inplace_in_branch_matrix, (Normal((3, 3)), -1), name="inplace_in_branch_else",
         tags=("inplace", "control"),
         autograd=False, autograd_reason=_INPLACE_AG)


# writes into an input argument: the plain function modifies the caller's
# array; the API must not (every API test checks the caller's arguments).

def input_write_scale(x):
    x[0] *= 2.0
    x[1:] = x[1:] ** 2
    return np.sum(x * np.arange(1.0, len(x) + 1))


register(input_write_scale, (Normal(4),), tags=("inplace", "input_write"),
         mutates_args=True, autograd=False, autograd_reason=_INPLACE_AG)


def input_write_loop(X, w):
    for i in range(X.shape[0]):
        X[i] = X[i] * w + 0.1 * i
    return np.sum(np.tanh(X))


register(input_write_loop, (Normal((3, 2)), Normal(2)),
         tags=("inplace", "input_write", "loop"),
         mutates_args=True, autograd=False, autograd_reason=_INPLACE_AG)


def input_write_normalize(x):
    x -= np.mean(x)
    x /= np.linalg.norm(x)
    return x


register(input_write_normalize, (Normal(4),), out="array",
         tags=("inplace", "input_write", "augassign"), mutates_args=True)


def input_write_dict_leaf(params, x):
    W = params["W"]
    W[:, 0] = W[:, 0] * x[0]
    return np.sum(np.tanh(W @ x) * params["v"])


register(input_write_dict_leaf, ({"W": Normal((3, 2)), "v": Normal(3)}, Normal(2)),
         tags=("inplace", "input_write", "pytree"),
         mutates_args=True, autograd=False, autograd_reason=_INPLACE_AG)


# Helpers that write into their arguments are refused (the change would be
# invisible to the derivative code): see tests/error_cases.py.


# ==========================================================================
# L. containers: lists, tuples, dicts; pytree arguments and outputs
# ==========================================================================

def append_stack(x):
    xs = []
    for i in range(3):
        xs.append(np.sin(x) * (i + 1) + x ** i)
    return np.stack(xs)


register(append_stack, (Normal(4),), out="array", tags=("container", "loop"))


def append_scalars_array(x):
    vals = []
    for v in x:
        vals.append(v ** 2 - v)
    return np.array(vals) * np.arange(len(x))


register(append_scalars_array, (Normal(5),), out="array", tags=("container", "loop"))


def list_index_unpack(x):
    parts = [x[0], x[1:3], x[3:]]
    a, b, c = parts
    return a * np.sum(b) + np.sum(c ** 2) * parts[1][0] + parts[-1][-1]


register(list_index_unpack, (Normal(6),), tags=("container", "unpack", "index"))


def tuple_pack_unpack(x, y):
    pair = (x * 2.0, y - 1.0)
    u, v = pair
    (a, b), c = (x[0], x[1]), y[2]
    return np.sum(pair[0] * v) + np.sum(u ** 2) * pair[1][0] + a * b * c


register(tuple_pack_unpack, (Normal(3), Normal(3)), tags=("container", "unpack"))


def zip_rows_dot(W, X):
    s = 0.0
    for w, x in zip(W, X):
        s = s + np.dot(w, x) ** 2
    return s


register(zip_rows_dot, (Normal((3, 4)), Normal((3, 4))),
         tags=("container", "zip_enumerate", "loop"))


def enumerate_weighted(x):
    s = 0.0
    for i, v in enumerate(x):
        s += v * (i + 1) ** 2 + np.sin(v) / (i + 1)
    return s


register(enumerate_weighted, (Normal(5),), tags=("container", "zip_enumerate", "loop"))


def zip_enumerate_layers(ws, bs, x):
    h = x
    for i, (W, b) in enumerate(zip(ws, bs)):
        h = np.tanh(W @ h + b) * (1.0 + 0.5 * i)
    return np.sum(h ** 2)


register(zip_enumerate_layers,
         ([Normal((3, 2), 0.7), Normal((3, 3), 0.7)], [Normal(3), Normal(3)], Normal(2)),
         tags=("container", "zip_enumerate", "pytree", "loop", "unpack"))


def dict_mlp_loss(params, X, y):
    h = np.tanh(X @ params["W1"] + params["b1"])
    pred = h @ params["W2"] + params["b2"]
    return np.mean((pred - y) ** 2)


register(dict_mlp_loss,
         ({"W1": Normal((3, 4), 0.5), "b1": Normal(4, 0.5), "W2": Normal(4, 0.5),
           "b2": PyFloat(-0.5, 0.5)}, Normal((5, 3)), Normal(5)),
         tags=("container", "pytree", "realistic"))


def list_of_layers(ws, x):
    h = x
    for W in ws:
        h = np.tanh(W @ h)
    return np.sum(h)


register(list_of_layers, ([Normal((3, 2)), Normal((3, 3)), Normal((2, 3))], Normal(2)),
         tags=("container", "pytree", "loop"))


def tuple_arg_affine(wb, x):
    w, b = wb
    return np.sum(np.tanh(w * x + b) ** 2)


register(tuple_arg_affine, ((Normal(4), PyFloat()), Normal(4)),
         tags=("container", "pytree", "unpack"))


def nested_dict_tuples(params, x):
    W1, b1 = params["layer1"]
    W2, b2 = params["layer2"]
    h = np.tanh(W1 @ x + b1)
    return np.sum((W2 @ h + b2) ** 2)


register(nested_dict_tuples,
         ({"layer1": (Normal((3, 2)), Normal(3)), "layer2": (Normal((2, 3)), Normal(2))},
          Normal(2)),
         tags=("container", "pytree", "unpack"))


def dict_items_regularizer(params, lam):
    total = 0.0
    for name, W in params.items():
        total = total + lam * np.sum(W ** 2) + np.sum(np.sin(W)) * len(name)
    for k in params:
        total = total + np.mean(params[k])
    return total


register(dict_items_regularizer,
         ({"w": Normal(3), "bias": Normal((2, 2)), "z": PyFloat()}, PyFloat()),
         tags=("container", "pytree", "loop"))


def sum_list_of_arrays(x):
    terms = [x, x ** 2, np.cos(x)]
    return np.sum(sum(terms) * terms[1])


register(sum_list_of_arrays, (Normal(4),), tags=("container", "builtin"))


def returns_tuple(x, y):
    return x * y, np.sum(x) * y


register(returns_tuple, (Normal(3), Normal(3)), out="tree",
         tags=("container", "tree_out"))


def returns_dict(x):
    return {"mean": np.mean(x), "scaled": 2.0 * x, "sq": x ** 2}


register(returns_dict, (Normal(4),), out="tree", tags=("container", "tree_out"))


def returns_list(x, a):
    return [x ** 2 * a, np.cos(x), a * a]


register(returns_list, (Normal(3), PyFloat()), out="tree",
         tags=("container", "tree_out", "pyfloat"))


def dict_in_dict_out(params, x):
    return {"y": params["a"] * x, "z": params["b"] ** 2 + np.sum(x)}


register(dict_in_dict_out, ({"a": Normal(3), "b": PyFloat()}, Normal(3)), out="tree",
         tags=("container", "tree_out", "pytree"))


def nested_tree_out(x):
    return {"pair": (x[0] * x[1], np.exp(x)), "list": [np.sum(x ** 2)]}


register(nested_tree_out, (Normal(3),), out="tree", tags=("container", "tree_out"))


def list_out_from_append(x):
    outs = []
    for i in range(3):
        outs.append(x[i] * x)
    return outs


register(list_out_from_append, (Normal(3),), out="tree",
         tags=("container", "tree_out", "loop"))


# ==========================================================================
# M. functions inside functions: closures, nested defs, lambdas,
#    conditional expressions, comprehensions, recursion
# ==========================================================================

def make_scaled_quadratic(c):
    def scaled_quadratic(x):
        return c * np.sum(x ** 2) + np.sum(x) / c
    return scaled_quadratic


scaled_quadratic = make_scaled_quadratic(2.5)
register(scaled_quadratic, (Normal(4),), tags=("closure",))


def make_linear_predictor(W, b):
    def linear_predictor(x):
        return np.tanh(W @ x + b)
    return linear_predictor


linear_predictor = make_linear_predictor(
    _np.array([[0.5, -1.0, 0.3], [0.2, 0.4, -0.7]]), _np.array([0.1, -0.2]))
register(linear_predictor, (Normal(3),), out="array", tags=("closure",))


def make_penalized_loss(lam, power):
    def penalty(w):
        return lam * np.sum(np.abs(w) ** power)

    def penalized_loss(w, X, y):
        r = X @ w - y
        return np.mean(r ** 2) + penalty(w)
    return penalized_loss


penalized_loss = make_penalized_loss(0.3, 3)
register(penalized_loss, (AwayFrom(3), Normal((5, 3)), Normal(5)),
         tags=("closure", "realistic", "kink"))


def make_activation(kind):
    if kind == "softplus":
        def act(z):
            return np.log1p(np.exp(z))
    else:
        def act(z):
            return np.tanh(z)
    return act


_SOFTPLUS = make_activation("softplus")
_TANH = make_activation("tanh")


def two_activations(x):
    return np.sum(_SOFTPLUS(x) * _TANH(x))


register(two_activations, (Normal(5),), tags=("closure", "call"))


def nested_def_helper(x, a):
    def bump(v):
        return np.exp(-v ** 2) * a
    return np.sum(bump(x) + bump(2.0 * x))


register(nested_def_helper, (Normal(4), PyFloat()), tags=("nested_def", "pyfloat"))


def nested_def_closure_local(x, s):
    scale = s * 2.0

    def g(v):
        return np.sin(v) * scale
    total = 0.0
    for i in range(3):
        total = total + np.sum(g(x * (i + 1)))
    return total


register(nested_def_closure_local, (Normal(3), PyFloat()),
         tags=("nested_def", "closure", "loop"))


def nested_def_defaults(x):
    def poly(v, c0=1.0, c1=0.5, c2=-0.25):
        return c0 + c1 * v + c2 * v ** 2
    return np.sum(poly(x) * poly(x, c2=0.1))


register(nested_def_defaults, (Normal(4),), tags=("nested_def", "call"))


def nested_def_returns_tuple(x, y):
    def stats(v):
        return np.mean(v), np.std(v)
    mx, sx = stats(x)
    my, sy = stats(y)
    return (mx - my) ** 2 + (sx - sy) ** 2


register(nested_def_returns_tuple, (Normal(5), Normal(5)),
         tags=("nested_def", "unpack"))


def lambda_bound(x):
    sq = lambda v: v * v  # noqa: E731
    cube = lambda v: v * sq(v)  # noqa: E731
    return np.sum(sq(x) + 0.1 * cube(x))


register(lambda_bound, (Normal(4),), tags=("lambda",))


def lambda_captures(x, a):
    act = lambda z: np.tanh(z) * a  # noqa: E731
    return np.sum(act(x) + act(x * 2.0))


register(lambda_captures, (Normal(4), PyFloat()), tags=("lambda", "closure"))


def lambda_in_loop(X):
    f = lambda row, k: np.sum(row ** 2) * k  # noqa: E731
    total = 0.0
    for i in range(X.shape[0]):
        total = total + f(X[i], i + 1)
    return total


register(lambda_in_loop, (Normal((3, 2)),), tags=("lambda", "loop"))


def condexpr_scalar(a, b):
    m = a if a > b else b
    s = a * b if m > 1.0 else a + b
    return m * s


register(condexpr_scalar, (1.5, 0.7), name="condexpr_scalar_first",
         tags=("condexpr", "pyfloat"))
register(condexpr_scalar, (0.3, 0.6), name="condexpr_scalar_second",
         tags=("condexpr", "pyfloat"))


def condexpr_in_loop(x):
    total = 0.0
    for v in x:
        total = total + (v ** 2 if v > 0 else -v)
    return total


register(condexpr_in_loop, (AwayFrom(6),), tags=("condexpr", "loop", "kink"))


def condexpr_array_select(x, y, flag):
    z = x * y if flag else x + y
    return np.sum(np.sin(z))


register(condexpr_array_select, (Normal(3), Normal(3), 1),
         name="condexpr_array_select_true", tags=("condexpr",))
register(condexpr_array_select, (Normal(3), Normal(3), 0),
         name="condexpr_array_select_false", tags=("condexpr",))


def listcomp_stack(x, w):
    ys = [np.sin(x * w[i]) for i in range(len(w))]
    return np.stack(ys)


register(listcomp_stack, (Normal(3), Normal(2)), out="array", tags=("comprehension",))


def genexpr_poly(w, x):
    return sum(w[i] * x ** i for i in range(len(w)))


register(genexpr_poly, (Normal(4), Normal(3)), out="array",
         tags=("comprehension", "builtin"))


def genexpr_pairs(A, B):
    return sum(np.dot(a, b) for a, b in zip(A, B))


register(genexpr_pairs, (Normal((3, 2)), Normal((3, 2))),
         tags=("comprehension", "zip_enumerate", "builtin"))


def listcomp_filter(x):
    return np.sum(np.array([x[i] * x[i + 1] for i in range(len(x) - 1) if i % 2 == 0]))


register(listcomp_filter, (Normal(6),), tags=("comprehension", "intarith"))


def listcomp_nested(X):
    return sum([X[i, j] ** 2 * (i - j) for i in range(X.shape[0]) for j in range(X.shape[1])])


register(listcomp_nested, (Normal((2, 3)),), tags=("comprehension", "builtin"))


def listcomp_of_pairs(x):
    pairs = [(x[i], x[i] ** 2) for i in range(3)]
    return sum(a * b for a, b in pairs)


register(listcomp_of_pairs, (Normal(3),), tags=("comprehension", "unpack", "container"))


def _power_tower(x, depth):
    if depth == 0:
        return x
    return np.sin(_power_tower(x, depth - 1)) + 0.5 * x


def recursive_tower(x):
    return np.sum(_power_tower(x, 3) ** 2)


register(recursive_tower, (Normal(4),), tags=("recursion", "call"))


def _horner_rec(coeffs, x, k):
    if k == len(coeffs) - 1:
        return coeffs[k] + 0.0 * x
    return coeffs[k] + x * _horner_rec(coeffs, x, k + 1)


def recursive_horner(coeffs, x):
    return _horner_rec(coeffs, x, 0)


register(recursive_horner, (Normal(4), Normal(3)), out="array",
         tags=("recursion", "call"))


def _tree_reduce(x, lo, hi):
    if hi - lo == 1:
        return x[lo]
    mid = (lo + hi) // 2
    return _tree_reduce(x, lo, mid) * np.tanh(_tree_reduce(x, mid, hi)) + x[lo]


def recursive_split(x):
    return _tree_reduce(x, 0, len(x))


register(recursive_split, (Normal(5),), tags=("recursion", "intarith"))


def _matpow(A, n):
    if n == 1:
        return A
    half = _matpow(A, n // 2)
    sq = half @ half
    return sq @ A if n % 2 == 1 else sq


def recursive_matpow(A):
    return _matpow(A, 5)


register(recursive_matpow, (Normal((3, 3), 0.5),), out="array",
         tags=("recursion", "condexpr", "intarith", "linalg"))


# ==========================================================================
# N. Python scalars and builtins: math.*, abs/min/max/sum/pow/float,
#    integer arithmetic, boolean operators, chained comparisons,
#    assert/print/docstrings/annotations
# ==========================================================================

_MATH_AG = "math.* needs a real float; autograd's ArrayBox is not one"
_LOG = io.StringIO()        # corpus functions print here, not to stdout


def math_exp_sin(a, b):
    return math.exp(a) * math.sin(b) + math.cos(a * b)


register(math_exp_sin, (PyFloat(), PyFloat()), tags=("pymath", "pyfloat"),
         autograd=False, autograd_reason=_MATH_AG)


def math_log_sqrt(a, b):
    return math.log(a) + math.sqrt(a * b) + math.log(b, 2.0) + math.log10(a + b)


register(math_log_sqrt, (PyFloat(), PyFloat()), tags=("pymath", "pyfloat"),
         autograd=False, autograd_reason=_MATH_AG)


def math_tanh_atan2(a, b):
    return math.tanh(a - b) + math.atan2(a, b) * math.hypot(a, b)


register(math_tanh_atan2, (PyFloat(-1.0, 1.0), PyFloat()), tags=("pymath", "pyfloat"),
         autograd=False, autograd_reason=_MATH_AG)


def math_loop_float(x):
    s = 0.0
    for i in range(len(x)):
        v = float(x[i])
        s = s + math.exp(-v * v) * (i + 1)
    return s


register(math_loop_float, (Normal(4),), tags=("pymath", "builtin", "loop"),
         autograd=False, autograd_reason="float() of an ArrayBox fails")


def math_mixed_array(a, x):
    return np.sum(math.exp(a) * x ** 2) + math.sinh(a) * math.pow(a, 1.5)


register(math_mixed_array, (PyFloat(), Normal(3)), tags=("pymath", "pyfloat"),
         autograd=False, autograd_reason=_MATH_AG)


def math_trig_more(a):
    return (math.asin(a) + math.acos(a / 2.0) * math.atan(a) + math.tan(a)
            + math.log1p(a) * math.expm1(a) + math.erf(a) + math.cosh(a) + math.fabs(a - 1.0))


register(math_trig_more, (PyFloat(0.2, 0.7),), tags=("pymath", "pyfloat"),
         autograd=False, autograd_reason=_MATH_AG)


def builtin_abs_min_max(a, b):
    return abs(a - b) + min(a, b) * max(a, b) + max(a * a, b) - min(-a, b * 0.5)


register(builtin_abs_min_max, (1.3, 0.4), name="builtin_abs_min_max_a",
         tags=("builtin", "pyfloat", "kink"))
register(builtin_abs_min_max, (0.2, 0.9), name="builtin_abs_min_max_b",
         tags=("builtin", "pyfloat", "kink"))


def builtin_max_over_list(x):
    cands = [x[0] * 2.0, x[1] ** 2, np.sum(x) - 1.0]
    return max(cands) + min([x[2], x[3], -x[0]])


register(builtin_max_over_list, (_np.array([0.3, 1.2, -0.5, 0.8]),),
         tags=("builtin", "container", "kink"))


def builtin_sum_pow(x):
    return sum(x) ** 2 + pow(x[0], 3) + pow(2.0, x[1]) + sum(v * v for v in x)


register(builtin_sum_pow, (Positive(4),), tags=("builtin", "comprehension"))


def builtin_float_active(x):
    f = float(np.sum(x))
    g = float(x[0]) * 2.0
    return f * f + g * x[1]


register(builtin_float_active, (Normal(3),), tags=("builtin",),
         autograd=False, autograd_reason="float() of an ArrayBox fails")


def builtin_abs_elements(x):
    return sum(abs(v) for v in x) + abs(np.sum(x)) * max(x)


register(builtin_abs_elements, (_np.array([0.7, -1.1, 0.4, -0.9, 1.6]),),
         tags=("builtin", "kink", "comprehension"))


def int_index_arith(x, n):
    a = x[n // 2] * x[n % 3]
    b = x[(n << 1) - 5] + x[n >> 1] * x[-(n % 4) - 1]
    c = x[(n * 3) // 4:n - 1]
    return a + b * np.sum(c)


register(int_index_arith, (Normal(10), 7), tags=("intarith", "index"))


def int_arith_loop(x):
    total = 0.0
    n = len(x)
    for i in range(n):
        j = (i * 3 + 1) % n
        k = i // 2
        w = (1 << (i % 3)) + (i & 1) - (i ^ 2) % 2
        total = total + x[j] * x[k] ** 2 * w
    return total


register(int_arith_loop, (Normal(5),), tags=("intarith", "loop", "index"))


def chained_compare_scalar(a):
    if 0.0 < a < 1.0:
        return a * a * 3.0
    elif 1.0 <= a < 2.0 and not a > 1.8:
        return a ** 3
    return -a


register(chained_compare_scalar, (0.4,), name="chained_compare_scalar_low",
         tags=("boolops", "control", "pyfloat"))
register(chained_compare_scalar, (1.5,), name="chained_compare_scalar_mid",
         tags=("boolops", "control", "pyfloat"))
register(chained_compare_scalar, (2.5,), name="chained_compare_scalar_high",
         tags=("boolops", "control", "pyfloat"))


def boolops_not_or(a, b, flag):
    ok = (a > 0 or b > 0) and not flag
    return a * b if ok else a - b * b


register(boolops_not_or, (0.5, -0.3, 0), name="boolops_not_or_true",
         tags=("boolops", "condexpr", "pyfloat"))
register(boolops_not_or, (0.5, -0.3, 1), name="boolops_not_or_false",
         tags=("boolops", "condexpr", "pyfloat"))


def chained_compare_elems(x):
    total = 0.0
    for v in x:
        if -1.0 < v <= 0.5:
            total = total + v ** 2
        elif v > 0.5 or v < -1.5:
            total = total + 2.0 * v
    return total


register(chained_compare_elems, (AwayFrom(8, kinks=(-1.5, -1.0, 0.5), gap=0.15),),
         tags=("boolops", "loop", "control", "kink"))


def documented_annotated(x: np.ndarray, scale: float = 2.0) -> float:
    """Scaled squared norm, with a docstring and annotations."""
    assert x.ndim == 1, "expects a vector"
    total: float = scale * np.sum(x ** 2)
    return total + np.sum(np.sin(x))


register(documented_annotated, (Normal(4), PyFloat()), tags=("assert_print",))


def print_and_assert(x, w):
    """Logs progress the way user code does (to a StringIO, not stdout)."""
    assert len(x) == len(w)
    assert np.all(np.isfinite(x)), "bad input"
    s = 0.0
    for i in range(len(x)):
        s = s + w[i] * np.sin(x[i])
        if i == 0:
            print("first term", s, file=_LOG)
    print("done:", s, file=_LOG)
    return s


register(print_and_assert, (Normal(3), Normal(3)), tags=("assert_print", "loop"))


def assert_on_active(x):
    y = np.exp(x)
    assert np.min(y) > 0.0
    assert y.shape == x.shape, "shape changed"
    n: int = len(x)
    return np.sum(y) / n


register(assert_on_active, (Normal(4),), tags=("assert_print",))


# ==========================================================================
# O. methods of user classes (differentiated through bound methods)
# ==========================================================================

class LinearRegressor:
    """A model object holding its parameters (constants for grad w.r.t. x)."""

    def __init__(self, W, b):
        self.W = W
        self.b = b

    def forward(self, x):
        return self.W @ x + self.b

    def loss(self, x, y):
        r = self.forward(x) - y
        return np.sum(r ** 2)


def _make_linear_regressor(rng):
    return LinearRegressor(rng.standard_normal((2, 3)), rng.standard_normal(2))


register(LinearRegressor.loss, (Normal(3), Normal(2)), name="method_linear_loss",
         receiver=_make_linear_regressor, tags=("class", "call"))
register(LinearRegressor.forward, (Normal(3),), name="method_linear_forward",
         out="array", receiver=_make_linear_regressor, tags=("class",))


class TinyMLP:
    """A two-layer network; ``loss`` calls ``forward`` calls ``hidden``."""

    def __init__(self, W1, b1, W2, activation="tanh"):
        self.W1 = W1
        self.b1 = b1
        self.W2 = W2
        self.activation = activation
        self.scale = 0.5

    def hidden(self, x):
        z = self.W1 @ x + self.b1
        if self.activation == "tanh":
            return np.tanh(z)
        return np.log1p(np.exp(z))

    def forward(self, x):
        return self.W2 @ self.hidden(x)

    def loss(self, x, y):
        return self.scale * np.sum((self.forward(x) - y) ** 2)

    def apply(self, params, x):
        h = np.tanh(params["W1"] @ x + params["b1"])
        return params["W2"] @ h

    def loss_params(self, params, x, y):
        return self.scale * np.sum((self.apply(params, x) - y) ** 2)

    def loss_and_pred(self, x, y):
        pred = self.forward(x)
        return np.mean((pred - y) ** 2), pred


def _make_tiny_mlp(rng):
    return TinyMLP(0.7 * rng.standard_normal((4, 3)), rng.standard_normal(4),
                   0.7 * rng.standard_normal((2, 4)))


def _make_tiny_mlp_softplus(rng):
    return TinyMLP(0.7 * rng.standard_normal((4, 3)), rng.standard_normal(4),
                   0.7 * rng.standard_normal((2, 4)), activation="softplus")


register(TinyMLP.loss, (Normal(3), Normal(2)), name="method_mlp_loss",
         receiver=_make_tiny_mlp, tags=("class", "call"))
register(TinyMLP.loss, (Normal(3), Normal(2)), name="method_mlp_loss_softplus",
         receiver=_make_tiny_mlp_softplus, tags=("class", "call", "control"))
register(TinyMLP.forward, (Normal(3),), name="method_mlp_forward", out="array",
         receiver=_make_tiny_mlp, tags=("class", "call"))
register(TinyMLP.loss_params,
         ({"W1": Normal((4, 3), 0.7), "b1": Normal(4), "W2": Normal((2, 4), 0.7)},
          Normal(3), Normal(2)),
         name="method_mlp_loss_params", receiver=_make_tiny_mlp,
         tags=("class", "pytree", "call"))
register(TinyMLP.loss_and_pred, (Normal(3), Normal(2)), name="method_mlp_loss_aux",
         receiver=_make_tiny_mlp, has_aux=True, tags=("class", "aux"))

# a bound method of a module-level object
MODULE_MODEL = TinyMLP(_np.array([[0.3, -0.8, 0.5], [0.9, 0.1, -0.4]]),
                       _np.array([0.2, -0.1]), _np.array([[1.0, -0.5]]))
register(MODULE_MODEL.loss, (Normal(3), Normal(1)), name="bound_module_model_loss",
         tags=("class", "call"))


class QuadraticEnergy:
    def __init__(self, A, c):
        self.A = A
        self.c = c

    def energy(self, x, scale=1.0):
        return scale * 0.5 * (x @ self.A @ x) + self.c * np.sum(x)

    def penalized(self, x, lam):
        return self.energy(x, scale=2.0) + lam * square_sum(x)


def _make_quadratic_energy(rng):
    B = rng.standard_normal((3, 3))
    return QuadraticEnergy(B @ B.T + _np.eye(3), 0.3)


register(QuadraticEnergy.penalized, (Normal(3), PyFloat()), name="method_quadratic_penalized",
         receiver=_make_quadratic_energy, tags=("class", "call", "pyfloat"))


# ==========================================================================
# P. has_aux and stop_gradient
# ==========================================================================

def aux_loss_pred(w, X, y):
    pred = X @ w
    loss = np.mean((pred - y) ** 2)
    return loss, pred


register(aux_loss_pred, (Normal(3), Normal((5, 3)), Normal(5)), has_aux=True,
         tags=("aux", "realistic"))


def aux_dict_stats(x):
    loss = np.sum(np.tanh(x) ** 2)
    return loss, {"norm": np.linalg.norm(x), "n_pos": int(np.sum(x > 0))}


register(aux_dict_stats, (AwayFrom(5),), has_aux=True, tags=("aux", "container"))


def aux_params_dict(params, x):
    h = np.tanh(params["W"] @ x + params["b"])
    return np.sum(h ** 2), (h, np.max(h))


register(aux_params_dict, ({"W": Normal((3, 2)), "b": Normal(3)}, Normal(2)),
         has_aux=True, tags=("aux", "pytree"))


def sg_target_regression(w, X, y):
    """Semi-gradient regression: the bootstrapped target is held fixed."""
    target = y + 0.9 * stop_gradient(X @ w)
    return np.mean((X @ w - target) ** 2)


def _frozen_sg_target_regression(w0, X0, y0):
    t0 = 0.9 * (X0 @ w0)

    def f(w, X, y):
        return np.mean((X @ w - (y + t0)) ** 2)
    return f


register(sg_target_regression, (Normal(3), Normal((4, 3)), Normal(4)),
         frozen=_frozen_sg_target_regression, tags=("stop_gradient", "realistic"))


def sg_normalize(x):
    return x / stop_gradient(np.linalg.norm(x))


def _frozen_sg_normalize(x0):
    n0 = np.linalg.norm(x0)
    return lambda x: x / n0


register(sg_normalize, (Normal(4),), out="array", frozen=_frozen_sg_normalize,
         tags=("stop_gradient",))


def sg_straight_through(x):
    q = x + stop_gradient(np.round(x) - x)
    return np.sum(q ** 2 * np.arange(1.0, 5.0))


def _frozen_sg_straight_through(x0):
    d0 = np.round(x0) - x0
    return lambda x: np.sum((x + d0) ** 2 * np.arange(1.0, 5.0))


register(sg_straight_through, (Normal(4, 2.0),), frozen=_frozen_sg_straight_through,
         tags=("stop_gradient", "nondiff"))


def sg_baseline_aux(x, w):
    pred = np.tanh(x * w)
    baseline = stop_gradient(np.mean(pred))
    return np.sum((pred - baseline) ** 2), baseline


def _frozen_sg_baseline_aux(x0, w0):
    b0 = np.mean(np.tanh(x0 * w0))

    def f(x, w):
        pred = np.tanh(x * w)
        return np.sum((pred - b0) ** 2), b0
    return f


register(sg_baseline_aux, (Normal(4), Normal(4)), has_aux=True,
         frozen=_frozen_sg_baseline_aux, tags=("stop_gradient", "aux"))


# --------------------------------------------------------------------------
# Outside style: models written the way other AD tools' examples, tutorials
# and users write them (tuples of arguments concatenated, parameter lists of
# (W, b) pairs read twice, *args helpers, generator expressions over
# parameters, logsumexp by hand, dict parameters with .get), not the way
# this project writes its own tests.  Each is checked in every mode against
# finite differences and autograd like every other case.
# --------------------------------------------------------------------------

def os_concat_and_multiply(weights, *args):
    cat_state = np.hstack(args + (np.ones((args[0].shape[0], 1)),))
    return np.dot(cat_state, weights)


def os_rnn_predict(params, inputs):
    hiddens = np.repeat(params["init hiddens"], inputs.shape[1], axis=0)
    outputs = []
    for input in inputs:
        hiddens = np.tanh(os_concat_and_multiply(params["change"], input, hiddens))
        output = os_concat_and_multiply(params["predict"], hiddens)
        outputs.append(output - np.log(np.sum(np.exp(output), axis=1, keepdims=True)))
    return outputs


def os_rnn_log_likelihood(params, inputs, targets):
    logprobs = os_rnn_predict(params, inputs)
    loglik = 0.0
    num_time_steps, num_examples, _ = inputs.shape
    for t in range(num_time_steps):
        loglik += np.sum(logprobs[t] * targets[t])
    return loglik / (num_time_steps * num_examples)


def _os_rnn_args(rng):
    params = {"init hiddens": rng.standard_normal((1, 3)) * 0.5,
              "change": rng.standard_normal((2 + 3 + 1, 3)) * 0.5,
              "predict": rng.standard_normal((3 + 1, 2)) * 0.5}
    inputs = rng.standard_normal((4, 2, 2))
    targets = np.eye(2)[rng.integers(0, 2, size=(4, 2))]
    return params, inputs, targets


register(os_rnn_log_likelihood, _os_rnn_args, tags=("outside", "realistic"))


def os_neural_net_predict(params, inputs):
    for W, b in params:
        outputs = np.dot(inputs, W) + b
        inputs = np.tanh(outputs)
    return outputs - os_logsumexp(outputs)


def os_logsumexp(X):
    max_X = np.max(X, axis=1, keepdims=True)
    return max_X + np.log(np.sum(np.exp(X - max_X), axis=1, keepdims=True))


def os_l2_norm(params):
    return sum(np.sum(W ** 2) + np.sum(b ** 2) for W, b in params)


def os_log_posterior(params, inputs, targets, L2_reg):
    log_prior = -L2_reg * os_l2_norm(params)
    log_lik = np.sum(os_neural_net_predict(params, inputs) * targets)
    return log_prior + log_lik


def _os_mlp_args(rng):
    sizes = [3, 4, 2]
    params = [(0.5 * rng.standard_normal((m, n)), 0.5 * rng.standard_normal(n))
              for m, n in zip(sizes[:-1], sizes[1:])]
    inputs = rng.standard_normal((5, 3))
    targets = np.eye(2)[rng.integers(0, 2, size=5)]
    return params, inputs, targets, 0.1


register(os_log_posterior, _os_mlp_args, tags=("outside", "realistic"))


def os_two_views(params, x):
    # the same list of (W, b) pairs read twice (JAX tutorials' predict)
    def predict(ps, inputs):
        for W, b in ps:
            inputs = np.tanh(inputs @ W + b)
        return inputs
    return np.sum(predict(params, x)) + np.sum(predict(params, 2.0 * x) ** 2)


register(os_two_views, lambda rng: (_os_mlp_args(rng)[0], rng.standard_normal((2, 3))),
         tags=("outside",))


def os_unpack_kernel(params):
    mean = params[0]
    cov_params = params[2:]
    noise_scale = np.exp(params[1]) + 0.001
    return mean, cov_params, noise_scale


def os_rbf(x, xp, cov_params):
    output_scale = np.exp(cov_params[0])
    lengthscales = np.exp(cov_params[1:])
    diffs = np.expand_dims(x / lengthscales, 1) - np.expand_dims(xp / lengthscales, 0)
    return output_scale * np.exp(-0.5 * np.sum(diffs ** 2, axis=2))


def os_gp_log_marginal_likelihood(params, x, y):
    mean, cov_params, noise_scale = os_unpack_kernel(params)
    cov_y_y = os_rbf(x, x, cov_params) + noise_scale * np.eye(len(y))
    r = y - mean
    alpha = np.linalg.solve(cov_y_y, r)
    sign, logdet = np.linalg.slogdet(cov_y_y)
    return -0.5 * np.dot(r, alpha) - 0.5 * logdet - 0.5 * len(y) * np.log(2 * np.pi)


register(os_gp_log_marginal_likelihood,
         lambda rng: (0.1 * rng.standard_normal(4), rng.standard_normal((5, 2)),
                      rng.standard_normal(5)),
         tags=("outside", "realistic"))


def os_mixture_loglik(params, data):
    # parameters as a dict read with .get, log-sum-exp by hand over components
    log_weights = params["log_weights"] - os_logsumexp(params["log_weights"][None, :])[0]
    means = params.get("means")
    log_scales = params.get("log_scales", np.zeros_like(means))
    z = (data[:, None] - means[None, :]) / np.exp(log_scales)[None, :]
    comp = -0.5 * z ** 2 - log_scales[None, :] - 0.5 * np.log(2 * np.pi) + log_weights[None, :]
    return np.sum(os_logsumexp(comp))


register(os_mixture_loglik,
         lambda rng: ({"log_weights": rng.standard_normal(3), "means": rng.standard_normal(3),
                       "log_scales": 0.3 * rng.standard_normal(3)}, rng.standard_normal(6)),
         tags=("outside", "realistic"))


def os_sigmoid(x):
    return 0.5 * (np.tanh(x) + 1.0)


def os_lstm(params, xs):
    h = np.zeros(params["W"].shape[1] // 4)
    c = np.zeros_like(h)
    for x in xs:
        gates = np.concatenate([x, h]) @ params["W"] + params["b"]
        i, f, o, g = np.split(gates, 4)
        c = os_sigmoid(f) * c + os_sigmoid(i) * np.tanh(g)
        h = os_sigmoid(o) * np.tanh(c)
    return np.sum(h ** 2)


register(os_lstm, lambda rng: ({"W": 0.4 * rng.standard_normal((2 + 3, 12)),
                                "b": 0.1 * rng.standard_normal(12)},
                               rng.standard_normal((4, 2))),
         tags=("outside", "realistic"))


def os_attention(q, k, v):
    d = q.shape[-1]
    scores = q @ k.T / np.sqrt(d)
    scores = scores - scores.max(axis=-1, keepdims=True)
    w = np.exp(scores)
    w = w / w.sum(axis=-1, keepdims=True)
    return (w @ v).sum()


register(os_attention, (Normal((3, 4)), Normal((5, 4)), Normal((5, 2))),
         tags=("outside", "realistic"))


def os_chain_energy(x, k):
    # a harmonic chain with periodic boundary, written with np.roll and np.diff
    stretch = np.roll(x, -1) - x
    bend = np.diff(x, n=2)
    return 0.5 * k * np.sum(stretch ** 2) + 0.25 * np.sum(bend ** 4)


register(os_chain_energy, (Normal(6), 1.5), tags=("outside",))


def os_tangent_style(x):
    # scalars, an early return in a loop, a while on the value (Tangent's tests)
    a = x * x
    for i in range(3):
        a = a * 0.9 + np.sin(a)
        if a > 10.0:
            return a
    n = 0
    while a > 0.5 and n < 5:
        a = a / 2.0
        n += 1
    return a * -x - (-a)


register(os_tangent_style, (1.3,), tags=("outside",))


def os_negations(x, y):
    z = -x
    w = -(y * -z)
    return np.sum(-z * -y - (-w) + -(-x) ** 2 - -1.5 * z)


register(os_negations, (Normal(3), Normal(3)), tags=("outside",))


def os_logistic_predictions(weights, inputs):
    return os_sigmoid(np.dot(inputs, weights))


def os_training_loss(weights, inputs, targets):
    preds = os_logistic_predictions(weights, inputs)
    label_probabilities = preds * targets + (1 - preds) * (1 - targets)
    return -np.sum(np.log(label_probabilities))


register(os_training_loss, lambda rng: (rng.standard_normal(3) * 0.5, rng.standard_normal((4, 3)),
                                        np.array([1.0, 0.0, 1.0, 1.0])),
         tags=("outside", "realistic"))


def os_tanh(x):
    y = np.exp(-2.0 * x)
    return (1.0 - y) / (1.0 + y)


register(os_tanh, (Normal(4),), out="array", tags=("outside",))


def os_selu(x, alpha=1.67, scale=1.05):
    return scale * np.where(x > 0, x, alpha * np.exp(x) - alpha)


register(os_selu, (AwayFrom((5,)),), out="array", tags=("outside",))


def os_lennard_jones(pos):
    n = pos.shape[0]
    diff = pos[:, None, :] - pos[None, :, :]
    r2 = np.sum(diff ** 2, axis=-1) + np.eye(n)
    inv6 = 1.0 / r2 ** 3
    e = 4.0 * (inv6 ** 2 - inv6)
    return np.sum(np.triu(e, k=1))


register(os_lennard_jones, lambda rng: (np.array([[0.0, 0.0], [1.1, 0.1], [0.2, 1.2], [1.3, 1.25]])
                                        + 0.05 * rng.standard_normal((4, 2)),),
         tags=("outside", "realistic"))


def os_batchnorm_mlp(W1, W2, x):
    # written like code ported from PyTorch: methods, .clip, batch statistics
    h = (x @ W1).clip(0)
    mu = h.mean(0)
    var = h.var(0)
    hn = (h - mu) / np.sqrt(var + 1e-5)
    out = hn @ W2
    return ((out - 1.0) ** 2).mean()


register(os_batchnorm_mlp, (Normal((3, 4)), Normal((4, 2)), Normal((6, 3))),
         smooth=False, autograd=False,
         autograd_reason="autograd's ArrayBox.clip(0) calls np.clip without a_max",
         tags=("outside", "realistic"))


# --------------------------------------------------------------------------
# Outside style, second batch: the idioms of NumPy numerical code and of other
# tools' tutorials (Gaussian processes via Cholesky, a VAE-like loss, Euler and
# leapfrog integrators, convolutions written as loops, the log-sum-exp trick,
# Kalman filtering, Black-Scholes, pairwise energies with np.triu_indices, a
# CRF forward pass, polynomial fits, batch norm, multi-head attention).  In-place
# updates of local arrays, x.T / .dot / @, keepdims and axis=-1, np.newaxis,
# comprehensions, tuple unpacking, early returns, enumerate/zip, default
# arguments, helpers and dicts of parameters.
# --------------------------------------------------------------------------

# (imported here, not at the top, so the line numbers of the cases above, which
# the golden sources quote, stay put)
import scipy.special  # noqa: E402
import scipy.stats  # noqa: E402


def os_sq_exp_kernel(X1, X2, lengthscale=1.0, variance=1.0):
    sqdist = np.sum(X1 ** 2, 1).reshape(-1, 1) + np.sum(X2 ** 2, 1) - 2 * np.dot(X1, X2.T)
    return variance * np.exp(-0.5 / lengthscale ** 2 * sqdist)


def os_gp_nll_cholesky(params, X, y):
    ell, sf, sn = np.exp(params["log_ell"]), np.exp(params["log_sf"]), np.exp(params["log_sn"])
    K = os_sq_exp_kernel(X, X, ell, sf ** 2) + (sn ** 2 + 1e-8) * np.eye(X.shape[0])
    L = np.linalg.cholesky(K)
    alpha = np.linalg.solve(L.T, np.linalg.solve(L, y))
    n = len(y)
    return 0.5 * y.dot(alpha) + np.sum(np.log(np.diag(L))) + 0.5 * n * np.log(2 * np.pi)


register(os_gp_nll_cholesky,
         lambda rng: ({"log_ell": 0.2 * rng.standard_normal(), "log_sf": 0.1 * rng.standard_normal(),
                       "log_sn": -1.0 + 0.1 * rng.standard_normal()},
                      rng.uniform(-2, 2, (6, 1)), rng.standard_normal(6)),
         autograd=False, autograd_reason="autograd's ArrayBox has no .dot method",
         tags=("outside", "realistic"))


def os_dense(params, x, act=np.tanh):
    W, b = params
    return act(x @ W + b)


def os_vae_loss(enc, dec, x, eps):
    # encoder -> (mu, log_var), reparameterize with fixed noise, decode, ELBO
    h = os_dense(enc[0], x)
    stats = h @ enc[1][0] + enc[1][1]
    mu, log_var = np.split(stats, 2, axis=-1)
    z = mu + np.exp(0.5 * log_var) * eps
    logits = os_dense(dec[1], os_dense(dec[0], z), act=lambda a: a)
    # Bernoulli likelihood written with logaddexp (stable)
    rec = np.sum(x * logits - np.logaddexp(0.0, logits), axis=-1)
    kl = -0.5 * np.sum(1 + log_var - mu ** 2 - np.exp(log_var), axis=-1)
    return np.mean(kl - rec)


def _os_vae_args(rng):
    def layer(m, n):
        return (0.3 * rng.standard_normal((m, n)), 0.1 * rng.standard_normal(n))
    enc = [layer(5, 4), layer(4, 2 * 2)]
    dec = [layer(2, 4), layer(4, 5)]
    x = (rng.uniform(size=(3, 5)) > 0.5).astype(float)
    return enc, dec, x, rng.standard_normal((3, 2))


register(os_vae_loss, _os_vae_args, tags=("outside", "realistic"))


def os_odefunc(y, t, params):
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    h = np.tanh(np.dot(y, W1) + b1 + t)
    return np.dot(h, W2) + b2


def os_euler_loss(params, y0, target, t1=1.0, n_steps=8):
    dt = t1 / n_steps
    y, t = y0, 0.0
    trajectory = [y0]
    for _ in range(n_steps):
        y = y + dt * os_odefunc(y, t, params)
        t += dt
        trajectory.append(y)
    traj = np.stack(trajectory)
    return np.mean((traj[-1] - target) ** 2) + 0.01 * np.mean(traj ** 2)


register(os_euler_loss,
         lambda rng: ({"W1": 0.5 * rng.standard_normal((2, 5)), "b1": 0.1 * rng.standard_normal(5),
                       "W2": 0.5 * rng.standard_normal((5, 2)), "b2": 0.1 * rng.standard_normal(2)},
                      rng.standard_normal(2), rng.standard_normal(2)),
         tags=("outside", "realistic"))


def os_init_sizes():
    return [1, 8, 8, 1]


def os_sinusoid_mse(params, inputs, targets):
    # MAML-style sinusoid regression: a list of (W, b), relu hidden layers
    hidden, last = params[:-1], params[-1]
    x = inputs
    for W, b in hidden:
        x = np.maximum(x @ W + b, 0.0)
    preds = x @ last[0] + last[1]
    return np.mean((preds - targets) ** 2)


def _os_sinusoid_args(rng):
    sizes = os_init_sizes()
    params = [(rng.standard_normal((m, n)) / np.sqrt(m), 0.1 * rng.standard_normal(n))
              for m, n in zip(sizes[:-1], sizes[1:])]
    xs = rng.uniform(-5, 5, (7, 1))
    return params, xs, 1.3 * np.sin(xs + 0.4)


register(os_sinusoid_mse, _os_sinusoid_args, smooth=False,
         notes="relu: the Hessian is zero almost everywhere but FD crosses kinks",
         tags=("outside", "realistic"))


def os_conv2d(images, filters, bias):
    # a "valid" convolution layer written with loops and in-place writes
    n, h, w, c_in = images.shape
    kh, kw, _, c_out = filters.shape
    out = np.zeros((n, h - kh + 1, w - kw + 1, c_out))
    for i in range(h - kh + 1):
        for j in range(w - kw + 1):
            patch = images[:, i:i + kh, j:j + kw, :]
            out[:, i, j, :] = np.tensordot(patch, filters, axes=([1, 2, 3], [0, 1, 2]))
    out += bias
    return np.sum(np.tanh(out) ** 2)


register(os_conv2d, (Normal((2, 4, 4, 2)), Normal((2, 2, 2, 3), scale=0.5), Normal(3, scale=0.1)),
         autograd=False, autograd_reason=_INPLACE_AG, tags=("outside", "realistic", "inplace"))


def os_softmax_cross_entropy(W, b, X, labels):
    logits = X.dot(W) + b
    logits -= logits.max(axis=-1, keepdims=True)
    log_probs = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))
    n = X.shape[0]
    return -log_probs[np.arange(n), labels].mean()


register(os_softmax_cross_entropy,
         lambda rng: (0.5 * rng.standard_normal((4, 3)), 0.1 * rng.standard_normal(3),
                      rng.standard_normal((6, 4)), rng.integers(0, 3, size=6)),
         autograd=False, autograd_reason="in-place '-=' on an ArrayBox",
         tags=("outside", "realistic"))


def os_kalman_nll(q, r, ys, F=None, H=None):
    # a Kalman filter's negative log-likelihood with (log) noise scales
    F = np.array([[1.0, 0.1], [0.0, 1.0]]) if F is None else F
    H = np.array([[1.0, 0.0]]) if H is None else H
    Q = np.exp(q) * np.eye(2)
    R = np.exp(r) * np.eye(1)
    x, P = np.zeros(2), np.eye(2)
    nll = 0.0
    for y in ys:
        x = F.dot(x)
        P = F.dot(P).dot(F.T) + Q
        S = H @ P @ H.T + R
        K = P @ H.T @ np.linalg.inv(S)
        innov = y - H @ x
        nll = nll + 0.5 * (innov @ np.linalg.solve(S, innov) + np.log(np.linalg.det(S)))
        x = x + K @ innov
        P = (np.eye(2) - K @ H) @ P
    return nll


register(os_kalman_nll, lambda rng: (PyFloat(-1.0, 0.0).make(rng), PyFloat(-1.0, 0.0).make(rng),
                                     rng.standard_normal((5, 1))),
         autograd=False,
         autograd_reason="F.dot(P) with a plain ndarray F and an ArrayBox P builds an object array",
         tags=("outside", "realistic"))


def os_black_scholes_call(S, K, T, r, sigma):
    d1 = (np.log(S / K) + (r + 0.5 * sigma ** 2) * T) / (sigma * np.sqrt(T))
    d2 = d1 - sigma * np.sqrt(T)
    return S * scipy.stats.norm.cdf(d1) - K * np.exp(-r * T) * scipy.stats.norm.cdf(d2)


register(os_black_scholes_call, (Positive(4, 80.0, 120.0), 100.0, Positive(4, 0.25, 2.0),
                                 0.03, Positive(4, 0.1, 0.4)),
         out="array", rtol=1e-4, autograd=False,
         autograd_reason="scipy.stats.norm.cdf is SciPy's, not autograd's (the reference swaps numpy only)",
         tags=("outside", "realistic"))


def os_himmelblau(p):
    x, y = p
    return (x ** 2 + y - 11) ** 2 + (x + y ** 2 - 7) ** 2


def os_rosen_plus_himmelblau(x, a=1.0, b=100.0):
    rosen = np.sum(b * (x[1:] - x[:-1] ** 2) ** 2 + (a - x[:-1]) ** 2)
    return rosen + 0.1 * os_himmelblau(x[:2])


register(os_rosen_plus_himmelblau, (Normal(4),), tags=("outside",))


def os_morse_energy(pos, D=1.0, a=1.5, r0=1.0):
    n = len(pos)
    i, j = np.triu_indices(n, k=1)
    diff = pos[:, np.newaxis, :] - pos[np.newaxis, :, :]
    r = np.sqrt(np.sum(diff[i, j] ** 2, axis=-1))
    return np.sum(D * (1 - np.exp(-a * (r - r0))) ** 2 - D)


register(os_morse_energy, lambda rng: (np.array([[0.0, 0.0, 0.0], [1.0, 0.1, 0.0],
                                                 [0.1, 1.1, 0.2], [0.9, 1.0, 0.8]])
                                       + 0.05 * rng.standard_normal((4, 3)),),
         tags=("outside", "realistic"))


def os_logreg_l2(w, X, y, lam=1e-2, eps=1e-7):
    p = 1.0 / (1.0 + np.exp(-X @ w))
    p = np.clip(p, eps, 1 - eps)
    loss = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    return loss + lam / 2 * w.T.dot(w)


register(os_logreg_l2, lambda rng: (0.3 * rng.standard_normal(3), rng.standard_normal((8, 3)),
                                    (rng.uniform(size=8) > 0.5).astype(float)),
         autograd=False, autograd_reason="autograd's ArrayBox has no .dot method",
         tags=("outside", "realistic"))


def os_crf_log_partition(emissions, transitions):
    # forward algorithm in log space with np.logaddexp.reduce
    alpha = emissions[0]
    for t in range(1, emissions.shape[0]):
        alpha = np.logaddexp.reduce(alpha[:, np.newaxis] + transitions, axis=0) + emissions[t]
    return np.logaddexp.reduce(alpha)


register(os_crf_log_partition, (Normal((5, 3)), Normal((3, 3), scale=0.5)),
         autograd=False, autograd_reason="autograd's np.logaddexp is a function without .reduce",
         tags=("outside", "realistic"))


def os_crf_nll(emissions, transitions, tags):
    score = emissions[0, tags[0]]
    for t, (prev, cur) in enumerate(zip(tags[:-1], tags[1:]), start=1):
        score = score + transitions[prev, cur] + emissions[t, cur]
    alpha = emissions[0]
    for emit in emissions[1:]:
        alpha = scipy.special.logsumexp(alpha[:, None] + transitions, axis=0) + emit
    return scipy.special.logsumexp(alpha) - score


register(os_crf_nll, (Normal((4, 3)), Normal((3, 3), scale=0.5), _np.array([0, 2, 1, 1])),
         autograd=False,
         autograd_reason="scipy.special.logsumexp is SciPy's, not autograd's (the reference swaps numpy only)",
         tags=("outside", "realistic"))


def os_polyfit_loss(coeffs, x, y):
    deg = len(coeffs) - 1
    A = np.vander(x, deg + 1)
    resid = A @ coeffs - y
    smooth = np.polyval(np.polyder(coeffs), x)
    return resid @ resid + 0.01 * np.sum(smooth ** 2)


register(os_polyfit_loss, (Normal(4), Uniform(-1, 1, 7), Normal(7)),
         autograd=False, autograd_reason="autograd defines no VJP of np.polyder",
         tags=("outside",))


def os_batchnorm(x, gamma, beta, eps=1e-5):
    mu = x.mean(axis=0, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=0, keepdims=True)
    x_hat = (x - mu) / np.sqrt(var + eps)
    return gamma * x_hat + beta


register(os_batchnorm, (Normal((5, 3)), Normal(3), Normal(3)), out="array",
         tags=("outside", "realistic"))


def os_softmax(z, axis=-1):
    e = np.exp(z - np.max(z, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def os_mha(x, params, n_heads=2):
    T, d = x.shape
    dh = d // n_heads
    q, k, v = [(x @ params[name]).reshape(T, n_heads, dh).transpose(1, 0, 2)
               for name in ("Wq", "Wk", "Wv")]
    scores = q @ k.transpose(0, 2, 1) / np.sqrt(dh)
    mask = np.triu(np.ones((T, T), dtype=bool), k=1)
    scores = np.where(mask[np.newaxis], -1e9, scores)
    out = (os_softmax(scores) @ v).transpose(1, 0, 2).reshape(T, d)
    return np.sum((out @ params["Wo"]) ** 2)


register(os_mha, lambda rng: (rng.standard_normal((3, 4)),
                              {name: 0.5 * rng.standard_normal((4, 4))
                               for name in ("Wq", "Wk", "Wv", "Wo")}),
         autograd=False,
         autograd_reason="autograd's ArrayBox.transpose takes the axes as one tuple only",
         tags=("outside", "realistic"))


def os_gmm_2d_loglik(means, chol_params, logits, X):
    # full-covariance Gaussian mixture, covariances as L L^T with log-diagonals
    log_w = logits - scipy.special.logsumexp(logits)
    comps = []
    for k, (mu, cp) in enumerate(zip(means, chol_params)):
        L = np.array([[np.exp(cp[0]), 0.0], [cp[1], np.exp(cp[2])]])
        diff = X - mu
        sol = np.linalg.solve(L, diff.T)
        maha = np.sum(sol ** 2, axis=0)
        logdet = 2.0 * (cp[0] + cp[2])
        comps.append(log_w[k] - 0.5 * (maha + logdet) - np.log(2 * np.pi))
    return np.sum(scipy.special.logsumexp(np.stack(comps), axis=0))


register(os_gmm_2d_loglik, (Normal((3, 2)), Normal((3, 3), scale=0.3), Normal(3), Normal((6, 2))),
         autograd=False,
         autograd_reason="scipy.special.logsumexp is SciPy's, not autograd's (the reference swaps numpy only)",
         tags=("outside", "realistic"))


def os_leapfrog_hamiltonian(q0, p0, k, dt=0.1, steps=5):
    # velocity Verlet on a quartic well, in-place updates on copies
    def force(q):
        return -k * q ** 3
    q = q0.copy()
    p = p0.copy()
    p += 0.5 * dt * force(q)
    for step in range(steps):
        q += dt * p
        if step < steps - 1:
            p += dt * force(q)
    p += 0.5 * dt * force(q)
    return 0.5 * np.sum(p ** 2) + 0.25 * k * np.sum(q ** 4)


register(os_leapfrog_hamiltonian, (Normal(3), Normal(3), 1.2),
         autograd=False, autograd_reason=_COPY_AG, tags=("outside", "realistic"))


def os_ridge_val_loss(log_lam, X, y, Xv, yv):
    d = X.shape[1]
    lam = np.exp(log_lam)
    w = np.linalg.solve(X.T @ X + lam * np.eye(d), X.T @ y)
    r = Xv @ w - yv
    return r.dot(r) / len(yv)


register(os_ridge_val_loss, (PyFloat(-1.0, 1.0), Normal((8, 3)), Normal(8), Normal((4, 3)), Normal(4)),
         autograd=False, autograd_reason="autograd's ArrayBox has no .dot method",
         tags=("outside", "realistic"))


def os_huber_robust_fit(theta, x, y, delta=1.0):
    resid = y - (theta[0] + theta[1] * x)
    losses = []
    for r in resid:
        if abs(r) <= delta:
            losses.append(0.5 * r ** 2)
        else:
            losses.append(delta * (abs(r) - 0.5 * delta))
    return sum(losses) / len(losses)


register(os_huber_robust_fit, lambda rng: (_np.array([0.1, 0.5]),
                                           _np.linspace(-2, 2, 6),
                                           _np.array([-3.1, -0.2, 0.35, 1.9, 0.1, 2.4])),
         smooth=False, notes="Huber: second derivative jumps at |r| = delta",
         tags=("outside", "realistic"))


def os_poly_features_fit(w, x, y, degree=3):
    # polynomial features by broadcasting a power over np.arange (x holds 0.0:
    # d/dx x**0 there is 0, not 0 * inf)
    feats = x[:, np.newaxis] ** np.arange(degree + 1)
    resid = feats @ w - y
    return 0.5 * np.mean(resid ** 2)


register(os_poly_features_fit, lambda rng: (rng.standard_normal(4), _np.array([0.0, 0.5, -1.2, 1.0, 0.0]),
                                            rng.standard_normal(5)),
         tags=("outside", "realistic"))


def os_power_series(a, coeffs):
    # a truncated series in a Python float, summed term by term; a = 0.0
    total = 0.0
    for i, c in enumerate(coeffs):
        total += c * a ** i
    return total


register(os_power_series, (0.0, Normal(4)), tags=("outside",))


# --------------------------------------------------------------------------
# Outside style, third batch (helper h4): idioms that gave silently wrong
# derivatives before (integer casts in a table lookup, matrix norms)
# --------------------------------------------------------------------------

def os_interp_table(x, table):
    # table lookup with linear interpolation, binned by astype(int)
    n = len(table) - 1
    s = np.clip(x, 0.0, 0.999) * n
    i = s.astype(int)
    frac = s - i
    return np.sum(table[i] * (1 - frac) + table[i + 1] * frac)


register(os_interp_table, (_np.array([0.13, 0.52, 0.77, 0.31]), Normal(5)),
         autograd=False,
         autograd_reason="autograd boxes the integer index s.astype(int) and cannot index with it",
         tags=("outside",))


def os_matrix_norms(A, b):
    # induced matrix norms (max column / row sums) and a vector inf-norm
    r = A @ b
    return np.linalg.norm(A, 1) + np.linalg.norm(A, np.inf) ** 2 + np.linalg.norm(r, ord=np.inf)


register(os_matrix_norms, (Distinct((3, 4)), Distinct(4)),
         autograd=False,
         autograd_reason="autograd's norm gradient supports only 'fro' and 'nuc' matrix norms",
         tags=("outside",))
