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
    "shape", "size", "ndim", "zeros_like", "ones_like", "empty_like", "zeros",
    "ones", "empty", "full", "eye", "identity", "linspace", "argmax", "argmin",
    "argsort", "argwhere", "nonzero", "flatnonzero", "floor", "ceil", "round",
    "around", "rint", "trunc", "fix", "isnan", "isinf", "isfinite", "isclose",
    "allclose", "array_equal", "equal", "not_equal", "less", "less_equal",
    "greater", "greater_equal", "logical_and", "logical_or", "logical_not",
    "logical_xor", "any", "all", "count_nonzero", "searchsorted", "digitize",
    "floor_divide", "result_type", "broadcast_shapes", "iscomplexobj", "isscalar",
    "may_share_memory", "shares_memory", "indices", "tri", "diag_indices",
    "triu_indices", "tril_indices", "mask_indices", "ndindex", "signbit", "isreal",
    "iscomplex", "isrealobj", "issubdtype", "dtype", "int64", "int32", "bool_",
]
for _name in _NUMPY:
    _fn = getattr(np, _name, None)
    if _fn is not None:
        nondifferentiable(_fn, name=f"numpy.{_name}")

for _name in ("default_rng", "seed", "rand", "randn", "randint", "random", "shuffle"):
    _fn = getattr(np.random, _name, None)
    if _fn is not None:
        nondifferentiable(_fn, name=f"numpy.random.{_name}")

for _name in ("len", "range", "int", "bool", "isinstance", "type", "print",
              "round", "id", "hash", "repr", "str", "callable", "enumerate",
              "zip", "hasattr", "sorted", "reversed",
              "format", "issubclass", "chr", "ord", "any", "all"):
    nondifferentiable(getattr(builtins, _name), name=_name)

for _name in ("floor", "ceil", "trunc", "isnan", "isinf", "isfinite",
              "isclose", "factorial", "comb", "perm", "gcd"):
    _fn = getattr(math, _name, None)
    if _fn is not None:
        nondifferentiable(_fn, name=f"math.{_name}")

# Runtime helpers that only compute masks, sizes or seeds.
nondifferentiable(ad.scalar_seed, ad.zeros_like, ad.zeros_buffer, ad.reduced_count,
                  ad.extremum_mask, ad.clip_mask, ad.zeros_of, ad.where_true)

# More NumPy functions whose results carry no derivative: indices, masks,
# integer/bitwise arithmetic, sizes and dtype queries.  (np.unique and the set
# functions, histograms, bincount, full_like, arange/logspace/geomspace,
# fftfreq and heaviside have rules, intersect1d and random draws with float
# parameters are refused: rules/numpy_sets.py.)
_NUMPY_MORE = [
    "argpartition", "lexsort", "nanargmax", "nanargmin", "isneginf", "isposinf",
    "isnat", "array_equiv", "ravel_multi_index", "unravel_index",
    "diag_indices_from", "tril_indices_from", "triu_indices_from", "isin",
    "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not", "bitwise_count",
    "invert", "left_shift", "right_shift", "gcd", "lcm", "spacing", "can_cast",
    "promote_types", "min_scalar_type", "common_type", "finfo", "iinfo",
    "isfortran", "iterable", "isdtype", "ndindex", "ones", "empty", "rint", "fix",
    "signbit", "packbits", "unpackbits", "argsort",
]
for _name in _NUMPY_MORE:
    _fn = getattr(np, _name, None)
    if _fn is not None:
        nondifferentiable(_fn, name=f"numpy.{_name}")

nondifferentiable(np.linalg.matrix_rank, name="numpy.linalg.matrix_rank")

# (random draws whose distribution has float parameters are refused in
# rules/numpy_sets.py when a parameter is differentiated; these draw integers
# or parameter-free noise)
for _name in ("poisson", "binomial", "standard_normal", "standard_exponential",
              "multinomial", "random_sample", "ranf", "sample", "bytes", "geometric",
              "zipf", "standard_cauchy", "negative_binomial", "hypergeometric",
              "logseries", "get_state", "set_state"):
    _fn = getattr(np.random, _name, None)
    if _fn is not None:
        nondifferentiable(_fn, name=f"numpy.random.{_name}")
nondifferentiable(ad.restore, ad.redo)
nondifferentiable(ad.check_unshared)
nondifferentiable(ad.check_not_updated)
nondifferentiable(ad.check_not_aliased)
nondifferentiable(ad.check_element_index)
nondifferentiable(ad.check_element_unshared)
