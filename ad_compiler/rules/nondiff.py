"""Callables whose results carry no derivative.

They pass through the generated code untouched: their results are constants
as far as differentiation goes (sizes, indices, masks, fresh constants).
"""
import builtins
import math

import numpy as np

from ad_compiler import runtime as ad
from ad_compiler.registry import nondifferentiable

_NUMPY = [
    "shape", "size", "ndim", "zeros_like", "ones_like", "empty_like", "full_like",
    "zeros", "ones", "empty", "full", "eye", "identity", "arange", "linspace",
    "logspace", "argmax", "argmin", "argsort", "argwhere", "nonzero", "flatnonzero",
    "sign", "floor", "ceil", "round", "around", "rint", "trunc", "fix",
    "isnan", "isinf", "isfinite", "isclose", "allclose", "array_equal",
    "equal", "not_equal", "less", "less_equal", "greater", "greater_equal",
    "logical_and", "logical_or", "logical_not", "logical_xor", "any", "all",
    "count_nonzero", "searchsorted", "digitize", "histogram", "bincount",
    "unique", "floor_divide", "result_type", "broadcast_shapes", "iscomplexobj",
    "isscalar", "may_share_memory", "shares_memory", "indices", "tri",
    "diag_indices", "triu_indices", "tril_indices", "mask_indices", "ndindex",
    "meshgrid", "heaviside", "signbit", "isreal", "iscomplex", "isrealobj",
    "issubdtype", "dtype", "float64", "float32", "int64", "int32", "bool_",
]
for _name in _NUMPY:
    _fn = getattr(np, _name, None)
    if _fn is not None:
        nondifferentiable(_fn, name=f"numpy.{_name}")

for _name in ("default_rng", "seed", "rand", "randn", "randint", "normal",
              "uniform", "random", "choice", "permutation", "shuffle"):
    _fn = getattr(np.random, _name, None)
    if _fn is not None:
        nondifferentiable(_fn, name=f"numpy.random.{_name}")

for _name in ("len", "range", "int", "bool", "isinstance", "type", "print",
              "round", "id", "hash", "repr", "str", "callable", "enumerate",
              "zip", "iter", "next", "hasattr", "getattr", "sorted", "reversed",
              "divmod", "format", "issubclass", "chr", "ord", "any", "all"):
    nondifferentiable(getattr(builtins, _name), name=_name)

for _name in ("floor", "ceil", "trunc", "isnan", "isinf", "isfinite",
              "isclose", "copysign", "factorial", "comb", "perm", "gcd"):
    _fn = getattr(math, _name, None)
    if _fn is not None:
        nondifferentiable(_fn, name=f"math.{_name}")

# Runtime helpers that only compute masks, sizes or seeds.
nondifferentiable(ad.scalar_seed, ad.zeros_like, ad.reduced_count,
                  ad.extremum_mask, ad.clip_mask, ad.zeros_of, ad.where_true)
nondifferentiable(ad.read_at)
