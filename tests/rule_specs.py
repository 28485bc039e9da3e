"""Input specs for ``tests/test_rules.py``, the registry walk.

``test_rules.py`` walks every primitive of ``ad_compiler.registry`` and
checks each of its rules against central finite differences (float64) on
the specs given for it here and in every ``tests/rule_specs_*.py`` module.
A primitive without a spec FAILS (runtime helpers excepted: the hessian
checks cover their forward rules).

Spec format
-----------
A spec module defines ``SPECS``, a list of dicts, and ``HEADER``, the
imports its sources need (written at the top of the generated module file:
the compiler needs real source files).  Keys of a spec:

``name``   (required) the primitive's qualified name, importable
           (``numpy.sin``, ``numpy.linalg.svd``, ``operator.add``,
           ``builtins.abs``, ``scipy.stats.norm.cdf``...).  Aliases that are
           distinct objects (``numpy.max`` / ``numpy.amax``) need one spec each.
``src``    (required) source defining ``def f(...)`` that calls the
           primitive and returns ONE array or scalar (for several outputs,
           combine them, e.g. ``np.concatenate``).  Other helper functions
           may be defined too.
``args``   (required) the positional arguments: a tuple of concrete values.
           Complex arrays are differentiated with autograd's convention
           (the gradient is dL/dRe - 1j dL/dIm).
``wrt``    positions to differentiate (default: every float/complex arg).
``order``  1, or 2 to also check ``hessian`` (forward over reverse) of
           ``sum(real(W * f(...)))`` for each real wrt argument.  When the key
           is absent, the first two specs of each primitive get 2, the others 1
           (the hessian checks cost the most compile time).
``rtol``, ``atol``, ``eps``   tolerances |AD - FD| <= atol*scale + rtol*|FD|
           (scale = max(1, max|FD|)) and the finite-difference step.
``modes``  subset of ("rev", "fwd"); default both (whatever the primitive has).
``f32``    True: the rule is elementwise and is also checked to keep float32
           derivatives float32 (test_float32_*).
``needs``  names of core capabilities the spec relies on (see
           ``test_rules.CORE_PROBES``); when a probe shows the capability is
           broken the spec is an expected failure with the probe's reason.
``skip``   a reason (naming the NumPy version) when the call itself is not
           valid on the installed NumPy (a keyword or a shape convention of
           another version): the spec is left out, and a primitive all of
           whose specs are left out is skipped with that reason.

The helpers below (``S``, ``U``, ``Pos``...) build specs compactly:
``S("numpy.arctan2", "np.arctan2(x, y)", U(3, 4), U(4))`` is the spec of
``def f(x, y): return np.arctan2(x, y)`` at two random arrays.
"""
import textwrap

import numpy as np

HEADER = """\
import math
import operator
import numpy as np
from ad_compiler import runtime as ad
from ad_compiler import runtime_numpy as adn
"""

_rng = np.random.default_rng(20240917)
_NUMPY2 = np.lib.NumpyVersion(np.__version__) >= "2.0.0"
_ONLY_NUMPY2 = None if _NUMPY2 else f"NumPy 2 only (installed: {np.__version__})"
_ONLY_NUMPY1 = f"NumPy 1.x only (installed: {np.__version__})" if _NUMPY2 else None
_PARAMS = ("x", "y", "w", "v", "u", "t")


# --------------------------------------------------------------------------
# input generators (called at import time: the specs are deterministic)
# --------------------------------------------------------------------------

def U(*shape, lo=-2.0, hi=2.0):
    """Uniform in [lo, hi] (a float when no shape is given)."""
    if not shape:
        return float(_rng.uniform(lo, hi))
    return _rng.uniform(lo, hi, shape)


def Pos(*shape, lo=0.5, hi=2.0):
    return U(*shape, lo=lo, hi=hi)


def Cx(*shape):
    """Complex, real and imaginary parts uniform in [-2, 2]."""
    if not shape:
        return complex(U(), U())
    return U(*shape) + 1j * U(*shape)


def Mat(n, *batch, m=None):
    """A well-conditioned square (or n x m) matrix."""
    m = n if m is None else m
    a = _rng.standard_normal(batch + (n, m))
    if n == m:
        a = a + 2.5 * np.eye(n)
    return a


def SPD(n, *batch):
    a = _rng.standard_normal(batch + (n, n))
    return a @ np.swapaxes(a, -1, -2) + n * np.eye(n)


def Sym(n, *batch):
    """Symmetric with well-separated eigenvalues."""
    q, _ = np.linalg.qr(_rng.standard_normal(batch + (n, n)))
    w = np.arange(1, n + 1) * 1.5 - n / 2.0 + _rng.uniform(-0.2, 0.2, batch + (n,))
    return (q * w[..., None, :]) @ np.swapaxes(q, -1, -2)


def Distinct(*shape, lo=-2.0, hi=2.0):
    """Values at least 0.05 apart (for sort, max, median...)."""
    n = int(np.prod(shape))
    vals = np.linspace(lo, hi, n) + _rng.uniform(-0.02, 0.02, n)
    return _rng.permutation(vals).reshape(shape)


# --------------------------------------------------------------------------
# spec builders
# --------------------------------------------------------------------------

def S(name, body, *args, params=None, **opts):
    """A spec of ``def f(x, y, ...): return <body>`` (or a multi-line body
    ending in ``return``)."""
    params = list(params or _PARAMS[:len(args)])
    if "return " not in body:
        body = "return " + body
    src = f"def f({', '.join(params)}):\n" + textwrap.indent(textwrap.dedent(body).strip(), "    ")
    spec = dict(name=name, src=src, args=tuple(args))
    spec.update(opts)
    return spec


def np_src(name):
    """numpy.linalg.svd -> np.linalg.svd"""
    for prefix, short in (("numpy.", "np."), ("builtins.", "")):
        if name.startswith(prefix):
            return short + name[len(prefix):]
    return name


def A(names, body, *args, **opts):
    """One spec per alias: ``{f}`` in ``body`` is the alias' source name."""
    return [S(n, body.replace("{f}", np_src(n)), *args, **opts) for n in names.split()]


SPECS = []
add = SPECS.extend

# --------------------------------------------------------------------------
# elementwise, one argument
# --------------------------------------------------------------------------

_UNARY = [
    ("numpy.negative", U(3, 4)), ("numpy.positive", U(3, 4)),
    ("numpy.sin", U(3, 4)), ("numpy.cos", U(3, 4)), ("numpy.tan", U(3, 4, lo=-1.2, hi=1.2)),
    ("numpy.exp", U(3, 4)), ("numpy.exp2", U(3, 4)), ("numpy.expm1", U(3, 4)),
    ("numpy.log", Pos(3, 4)), ("numpy.log2", Pos(3, 4)), ("numpy.log10", Pos(3, 4)),
    ("numpy.log1p", Pos(3, 4, lo=-0.5)), ("numpy.sqrt", Pos(3, 4)),
    ("numpy.cbrt", Pos(3, 4)), ("numpy.cbrt", -Pos(5)), ("numpy.square", U(3, 4)),
    ("numpy.reciprocal", Pos(3, 4)), ("numpy.sinh", U(3, 4)), ("numpy.cosh", U(3, 4)),
    ("numpy.tanh", U(3, 4)), ("numpy.arcsin", U(3, 4, lo=-0.9, hi=0.9)),
    ("numpy.arccos", U(3, 4, lo=-0.9, hi=0.9)), ("numpy.arctan", U(3, 4)),
    ("numpy.arcsinh", U(3, 4)), ("numpy.arccosh", Pos(3, 4, lo=1.2, hi=3.0)),
    ("numpy.arctanh", U(3, 4, lo=-0.9, hi=0.9)), ("numpy.deg2rad", U(3, 4)),
    ("numpy.radians", U(3, 4)), ("numpy.rad2deg", U(3, 4)), ("numpy.degrees", U(3, 4)),
    ("numpy.abs", U(3, 4)), ("numpy.fabs", U(3, 4)), ("builtins.abs", U(3, 4)),
    ("numpy.sinc", U(3, 4)), ("numpy.real", U(3, 4)), ("numpy.conj", U(3, 4)),
    ("numpy.real_if_close", U(3, 4)),
]
for _name, _x in _UNARY:
    add([S(_name, f"{np_src(_name)}(x)", _x, f32=True)])
    add([S(_name, f"{np_src(_name)}(x)", float(np.ravel(_x)[0]), order=1)])

add([
    S("numpy.sinc", "np.sinc(x)", np.array([0.0, 0.5, -1.5]), order=1),
    S("numpy.imag", "np.imag(x) + x", U(3)),
    S("numpy.angle", "np.angle(x) + x", U(3)),
    S("numpy.nan_to_num", "np.nan_to_num(np.where(np.isfinite(y), x, y), posinf=4.0, neginf=-4.0)",
      U(5), np.array([1.0, np.nan, np.inf, -np.inf, 2.0]), wrt=(0,), f32=True),
    S("numpy.nan_to_num",
      "np.nan_to_num(np.where(np.isfinite(w), x, w), nan=y, posinf=3.0, neginf=v)",
      U(5), U(), np.array([1.0, np.nan, np.inf, -np.inf, 2.0]), U(), wrt=(0, 1, 3),
      params=("x", "y", "w", "v")),
    S("numpy.float_power", "np.float_power(x, y)", Pos(3, 4), U(4)),
])

# complex inputs and outputs (autograd's convention)
add([
    S("numpy.abs", "np.abs(x)", Cx(3, 2)),
    S("builtins.abs", "abs(x)", Cx(4)),
    S("numpy.real", "np.real(x)", Cx(3, 2)),
    S("numpy.imag", "np.imag(x)", Cx(3, 2)),
    S("numpy.conj", "np.conj(x) * y", Cx(3, 2), Cx(2)),
    S("numpy.angle", "np.angle(x)", Cx(3, 2)),
    S("numpy.angle", "np.angle(x, deg=True)", Cx(4)),
    S("numpy.real_if_close", "np.real_if_close(x)", Cx(4)),
    S("numpy.real_if_close", "np.real_if_close(x * 1e-20j + y)", U(4), U(4)),
    S("numpy.sin", "np.sin(x)", Cx(3)), S("numpy.exp", "np.exp(x)", Cx(3)),
    S("numpy.log", "np.log(x)", Cx(3)), S("numpy.sqrt", "np.sqrt(x)", Cx(3)),
    S("numpy.square", "np.square(x)", Cx(3)), S("numpy.tanh", "np.tanh(x)", Cx(3)),
    S("numpy.multiply", "np.multiply(x, y)", Cx(3), U(3), needs=("complex_real_mix",)),
    S("numpy.add", "np.add(x, y)", Cx(3), U(3), needs=("complex_real_mix",)),
    S("numpy.divide", "np.divide(x, y)", Cx(3), Cx(3)),
    S("numpy.sum", "np.sum(x, axis=0)", Cx(3, 2)),
    S("numpy.var", "np.var(x, axis=0)", Cx(4, 2)),
    S("numpy.std", "np.std(x)", Cx(4)),
    S("numpy.dot", "np.dot(x, y)", Cx(3, 2), Cx(2)),
    S("numpy.matmul", "np.matmul(x, y)", Cx(3, 2), U(2, 2), needs=("complex_real_mix",)),
])

# --------------------------------------------------------------------------
# elementwise, two arguments (with broadcasting)
# --------------------------------------------------------------------------

_BINARY = [
    ("numpy.add", U(3, 4), U(4)), ("numpy.subtract", U(3, 4), U(3, 1)),
    ("numpy.multiply", U(3, 4), U(4)), ("numpy.divide", U(3, 4), Pos(4)),
    ("numpy.true_divide", U(1, 4), Pos(3, 1)), ("numpy.power", Pos(3, 4), U(4)),
    ("numpy.pow", Pos(3, 1), U(4)), ("numpy.maximum", Distinct(3, 4), Distinct(4)),
    ("numpy.minimum", Distinct(3, 4), Distinct(4)), ("numpy.fmax", Distinct(3, 4), Distinct(4)),
    ("numpy.fmin", Distinct(3, 4), Distinct(4)), ("numpy.arctan2", U(3, 4), U(4)),
    ("numpy.atan2", U(3, 4), Pos(3, 1)), ("numpy.hypot", U(3, 4), U(4)),
    ("numpy.logaddexp", U(3, 4), U(4)), ("numpy.logaddexp2", U(3, 4), U(4)),
    ("numpy.mod", U(3, 4, lo=0.1, hi=4.9), Pos(4, lo=1.1, hi=1.9)),
    ("numpy.remainder", U(3, 4, lo=-4.9, hi=4.9), Pos(4, lo=1.1, hi=1.9)),
    ("numpy.fmod", U(3, 4, lo=0.1, hi=4.9), Pos(4, lo=1.1, hi=1.9)),
    ("numpy.float_power", Pos(3, 4), U(4)),
]
for _name, _x, _y in _BINARY:
    add([S(_name, f"{np_src(_name)}(x, y)", _x, _y, f32=_name != "numpy.float_power")])
    add([S(_name, f"{np_src(_name)}(x, y)", np.ravel(_x)[:3].copy(), float(np.ravel(_y)[0]),
           order=1)])
add([
    S("numpy.mod", "np.mod(x, 1.5)", U(4, lo=0.1, hi=1.4)),
    S("numpy.power", "np.power(x, 3.0)", U(4)),
    # a zero exponent at a zero base: d/dx x**0 is 0 there, not 0 * inf
    S("numpy.power", "np.power(x, y)", np.array([0.0, 0.0, 0.5, -1.0]),
      np.array([0.0, 1.0, 2.0, 0.0]), wrt=(0,)),
    S("numpy.fmax", "np.fmax(x, y)", U(3), np.array([np.nan, -5.0, 5.0]), wrt=(0,)),
    S("numpy.fmin", "np.fmin(x, y)", U(3), np.array([np.nan, -5.0, 5.0]), wrt=(0,)),
])
add([
    S("numpy.where", "np.where(x > 0, x, y)", U(3, 4), U(4), f32=True),
    S("numpy.where", "np.where(w, x, 2.0)", U(3, 4), U(3, 4) > 0, wrt=(0,), params=("x", "w")),
    S("numpy.clip", "np.clip(x, -1.0, 1.0)", Distinct(3, 4), f32=True),
    S("numpy.clip", "np.clip(x, y, w)", Distinct(3, 4), U(4, lo=-1.5, hi=-0.3),
      U(3, 1, lo=0.3, hi=1.5)),
    S("numpy.clip", "np.clip(x, None, y)", Distinct(3, 4), U(lo=-0.5, hi=0.5)),
])

# --------------------------------------------------------------------------
# operators and builtins
# --------------------------------------------------------------------------

add([
    S("operator.add", "x + y", U(3, 4), U(4), f32=True),
    S("operator.add", "x + 2.0", U(3)),
    S("operator.sub", "x - y", U(3, 4), U(3, 1), f32=True),
    S("operator.mul", "x * y", U(3, 4), U(4), f32=True),
    S("operator.truediv", "x / y", U(3, 4), Pos(4), f32=True),
    S("operator.pow", "x ** y", Pos(3, 4), U(4), f32=True),
    S("operator.pow", "x ** 2", U(3, 4)),
    S("operator.mod", "x % y", U(3, 4, lo=0.1, hi=4.9), Pos(4, lo=1.1, hi=1.9)),
    S("operator.matmul", "x @ y", U(3, 4), U(4, 2)),
    S("operator.matmul", "x @ y", U(2, 3, 4), U(4)),
    S("operator.neg", "-x", U(3, 4), f32=True),
    S("operator.pos", "+x", U(3, 4), f32=True),
    S("operator.getitem", "x[1:, ::2] * 2.0", U(3, 4)),
    S("operator.getitem", "x[y] * 2.0", U(5), np.array([0, 3, 3, 1]), wrt=(0,)),
    S("operator.getitem", "x[:, None, 1]", U(3, 4)),
    S("builtins.float", "float(np.sum(x)) * x", U(3)),
    S("builtins.float", "float(x) * 2.0", U()),
    S("builtins.pow", "pow(x, y)", Pos(), U()),
    S("builtins.max", "max(x, y)", 0.3, -0.4),
    S("builtins.max", "max([x, y, 2.0 * x])", 0.3, -0.4),
    S("builtins.min", "min(x, y)", 0.3, -0.4),
    S("builtins.min", "min([x, y])", 0.3, 0.9),
    S("builtins.sum", "sum([x, y, x * y])", U(3), U(3)),
    S("builtins.list", "np.stack(list(x)) * y", U(3, 2), U(2)),
    S("builtins.list", "sum(list([x, y * x]))", U(3), U(3)),
    S("builtins.tuple", "np.stack(tuple(x)) * y", U(3, 2), U(2)),
    S("builtins.tuple", "np.hstack(tuple([x, y * x]))", U(3), U(3)),
])
for _name in ("sin", "cos", "tan", "exp", "expm1", "log", "log1p", "log10", "log2", "sqrt",
              "tanh", "sinh", "cosh", "atan", "fabs", "erf"):
    add([S(f"math.{_name}", f"math.{_name}(x)", 0.7)])
add([
    S("math.asin", "math.asin(x)", 0.3), S("math.acos", "math.acos(x)", -0.4),
    S("math.atan2", "math.atan2(x, y)", 0.3, -0.8), S("math.hypot", "math.hypot(x, y)", 0.3, -0.8),
    S("math.pow", "math.pow(x, y)", 1.3, -0.8), S("math.fabs", "math.fabs(x)", -0.6),
])

# --------------------------------------------------------------------------
# reductions
# --------------------------------------------------------------------------

for _ax in ("", ", axis=0", ", axis=-1", ", axis=(0, 2)", ", axis=1, keepdims=True"):
    add([
        S("numpy.sum", f"np.sum(x{_ax})", U(2, 3, 4)),
        S("numpy.mean", f"np.mean(x{_ax})", U(2, 3, 4)),
        S("numpy.var", f"np.var(x{_ax})", U(2, 3, 4)),
        S("numpy.std", f"np.std(x{_ax})", U(2, 3, 4)),
        S("numpy.prod", f"np.prod(x{_ax})", U(2, 3, 4, lo=0.5, hi=1.5)),
        S("numpy.nansum", f"np.nansum(x{_ax})", U(2, 3, 4)),
        S("numpy.nanmean", f"np.nanmean(x{_ax})", U(2, 3, 4)),
    ])
    add(A("numpy.max numpy.amax numpy.min numpy.amin numpy.ptp", f"{{f}}(x{_ax})",
          Distinct(2, 3, 4)))
    add([S("numpy.average", f"np.average(x{_ax})", U(2, 3, 4))])
add([
    S("numpy.var", "np.var(x, axis=1, ddof=1)", U(3, 4)),
    S("numpy.std", "np.std(x, ddof=1, keepdims=True)", U(3, 4)),
    S("numpy.prod", "np.prod(x, axis=1)", np.array([[1.0, 0.0, 2.0], [0.5, 1.5, -1.0]]), order=1),
    S("numpy.prod", "np.prod(x)", np.array([1.5, 0.0, 2.0, 0.0]), order=1),
    S("numpy.prod", "np.prod(x)", np.array([1.5, 0.0, 2.0, -0.5]), order=1),
    S("numpy.nansum", "np.nansum(np.where(y, np.nan, x), axis=0)", U(2, 3),
      np.array([False, True, False]), wrt=(0,)),
    S("numpy.nanmean", "np.nanmean(np.where(y, np.nan, x), axis=1)", U(2, 3),
      np.array([[False, True, False], [True, False, False]]), wrt=(0,)),
    S("numpy.average", "np.average(x, axis=1, weights=y)", U(2, 3), Pos(3)),
    S("numpy.average", "np.average(x, weights=y)", U(2, 3), Pos(2, 3)),
    S("numpy.average", "np.average(x, axis=0, weights=y, keepdims=True)", U(2, 3), Pos(2)),
    S("numpy.median", "np.median(x)", Distinct(7)),
    S("numpy.median", "np.median(x)", Distinct(2, 3)),
    S("numpy.median", "np.median(x, axis=0)", Distinct(4, 3)),
    S("numpy.median", "np.median(x, axis=-1, keepdims=True)", Distinct(2, 5)),
    S("numpy.quantile", "np.quantile(x, y)", Distinct(7), 0.3),
    S("numpy.quantile", "np.quantile(x, y, axis=1)", Distinct(2, 6), np.array([0.15, 0.62, 0.9])),
    S("numpy.quantile", "np.quantile(x, y, axis=0, keepdims=True)", Distinct(5, 2),
      np.array([0.33, 0.7])),
    S("numpy.percentile", "np.percentile(x, y, axis=0)", Distinct(5, 3), np.array([12.0, 61.0])),
    S("numpy.percentile", "np.percentile(x, 35.0)", Distinct(2, 4)),
])

# --------------------------------------------------------------------------
# scans, differences, interpolation
# --------------------------------------------------------------------------

add([
    S("numpy.polyval", "np.polyval(x, y)", U(4), U(2, 3)),
    S("numpy.polyval", "np.polyval(x, y)", U(3), 0.7),
    S("numpy.polyval", "np.polyval(x, y)", U(1), U(3)),
    S("numpy.polyder", "np.polyder(x)", U(5)),
    S("numpy.polyder", "np.polyder(x, 2) * np.polyder(x, m=3)[0]", U(5)),
    S("numpy.polyder", "np.polyder(x, 3)", U(2)),
    S("numpy.vander", "np.vander(x)", U(4)),
    S("numpy.vander", "np.vander(x, 3, increasing=True)", np.array([0.0, 0.5, -1.2])),
    S("numpy.vander", "np.vander(x, N=5)", U(3)),
    S("numpy.add.reduce", "np.add.reduce(x)", U(3, 4)),
    S("numpy.add.reduce", "np.add.reduce(x, axis=-1, keepdims=True)", U(2, 3, 4)),
    S("numpy.add.reduce", "np.add.reduce(x, axis=None)", U(3, 2)),
    S("numpy.logaddexp.reduce", "np.logaddexp.reduce(x)", U(3, 4)),
    S("numpy.logaddexp.reduce", "np.logaddexp.reduce(x, axis=1, keepdims=True)", U(2, 3, 4)),
    S("numpy.logaddexp.reduce", "np.logaddexp.reduce(x, axis=None)", U(4)),
])

add([
    S("numpy.cumsum", "np.cumsum(x)", U(3, 4)),
    S("numpy.cumsum", "np.cumsum(x, axis=0)", U(3, 4)),
    S("numpy.cumsum", "np.cumsum(x, axis=-1)", U(2, 3, 4)),
    S("numpy.cumprod", "np.cumprod(x)", U(3, 4, lo=0.5, hi=1.5)),
    S("numpy.cumprod", "np.cumprod(x, axis=1)", U(3, 4, lo=-1.5, hi=1.5)),
    S("numpy.cumprod", "np.cumprod(x, axis=0)", np.array([[1.5, 0.0], [0.0, 2.0], [-0.7, 1.2]]),
      order=1),
    S("numpy.diff", "np.diff(x)", U(3, 5)),
    S("numpy.diff", "np.diff(x, n=2, axis=0)", U(4, 3)),
    S("numpy.gradient", "np.gradient(x)", U(6)),
    S("numpy.gradient", "np.gradient(x, axis=1, edge_order=2)", U(3, 5)),
    S("numpy.gradient", "np.gradient(x, axis=0)", U(4, 3)),
    S("numpy.gradient", "np.stack(np.gradient(x))", U(4, 3), needs=("tuple_accum",)),
    S("numpy.gradient", "np.gradient(x)[1]", U(4, 3)),
    S("numpy.interp", "np.interp(x, y, w)", U(6, lo=-0.5, hi=3.5), np.array([0.0, 1.0, 2.5, 3.0]),
      U(4), params=("x", "y", "w")),
    S("numpy.interp", "np.interp(x, y, w, left=v, right=u)", np.array([-1.0, 0.3, 1.7, 4.0]),
      np.array([0.0, 1.0, 2.5, 3.0]), U(4), U(), U(), params=("x", "y", "w", "v", "u")),
    S("numpy.interp", "np.interp(x, y, w)", 1.3, np.array([0.0, 1.0, 2.5]), U(3)),
])

# --------------------------------------------------------------------------
# shapes, indexing, joining, splitting
# --------------------------------------------------------------------------

add([
    S("numpy.transpose", "np.transpose(x)", U(2, 3, 4)),
    S("numpy.transpose", "np.transpose(x, (1, 2, 0))", U(2, 3, 4)),
    S("numpy.reshape", "np.reshape(x, (4, 3))", U(3, 4)),
    S("numpy.reshape", "np.reshape(x, -1, order='F')", U(3, 4)),
    S("numpy.ravel", "np.ravel(x)", U(3, 4)),
    S("numpy.ravel", "np.ravel(x, order='F')", U(3, 4)),
    S("numpy.expand_dims", "np.expand_dims(x, 1)", U(3, 4)),
    S("numpy.expand_dims", "np.expand_dims(x, (0, -1))", U(3)),
    S("numpy.squeeze", "np.squeeze(x)", U(3, 1, 4)),
    S("numpy.squeeze", "np.squeeze(x, axis=0)", U(1, 3)),
    S("numpy.stack", "np.stack([x, y])", U(3), U(3)),
    S("numpy.stack", "np.stack([x, y, x], axis=1)", U(2, 3), U(2, 3)),
    S("numpy.concatenate", "np.concatenate([x, y])", U(3), U(2)),
    S("numpy.concatenate", "np.concatenate([x, y], axis=1)", U(2, 3), U(2, 1)),
    S("numpy.concatenate", "np.concatenate([x, y], axis=None)", U(2, 3), U(2)),
    S("numpy.copy", "np.copy(x)", U(3, 4)),
    S("numpy.float64", "np.float64(np.sum(x * x)) * np.ones(3)", U(3, 4)),
    S("numpy.float32", "np.float32(np.sum(x)) * 2.0", U(3, 4), eps=1e-2, rtol=1e-3, atol=1e-3),
    S("numpy.array", "np.array(x)", U(3, 4)),
    S("numpy.array", "np.array([x, y])", U(), U()),
    S("numpy.asarray", "np.asarray(x)", U(3, 4)),
    S("numpy.asarray", "x.astype(np.float64)", U(3, 4)),
    S("numpy.astype", "np.astype(x, np.float32) * 1.0", U(3, 4), order=1, rtol=1e-3, atol=1e-4,
      eps=1e-3),
    S("numpy.astype", "np.astype(x, np.complex128)", U(3, 4)),
    S("numpy.atleast_1d", "np.atleast_1d(x)", U()),
    S("numpy.atleast_1d", "np.atleast_1d(x)", U(3)),
    S("numpy.atleast_2d", "np.atleast_2d(x)", U(3)),
    S("numpy.atleast_3d", "np.atleast_3d(x)", U(3)),
    S("numpy.atleast_3d", "np.atleast_3d(x)", U(3, 2)),
    S("numpy.broadcast_to", "np.broadcast_to(x, (2, 3, 4))", U(3, 1)),
    S("numpy.moveaxis", "np.moveaxis(x, 0, -1)", U(2, 3, 4)),
    S("numpy.moveaxis", "np.moveaxis(x, (0, 1), (2, 0))", U(2, 3, 4)),
    S("numpy.swapaxes", "np.swapaxes(x, 0, 2)", U(2, 3, 4)),
    S("numpy.rollaxis", "np.rollaxis(x, 2)", U(2, 3, 4)),
    S("numpy.rollaxis", "np.rollaxis(x, 0, 3)", U(2, 3, 4)),
    S("numpy.rollaxis", "np.rollaxis(x, -1, 1)", U(2, 3, 4)),
    S("numpy.matrix_transpose", "np.matrix_transpose(x)", U(2, 3, 4)),
    S("numpy.linalg.matrix_transpose", "np.linalg.matrix_transpose(x)", U(3, 4)),
    S("numpy.flip", "np.flip(x)", U(3, 4)),
    S("numpy.flip", "np.flip(x, axis=1)", U(3, 4)),
    S("numpy.fliplr", "np.fliplr(x)", U(3, 4)),
    S("numpy.flipud", "np.flipud(x)", U(3, 4)),
    S("numpy.rot90", "np.rot90(x)", U(3, 4)),
    S("numpy.rot90", "np.rot90(x, 3, axes=(1, 2))", U(2, 3, 4)),
    S("numpy.roll", "np.roll(x, 2)", U(3, 4)),
    S("numpy.roll", "np.roll(x, -1, axis=1)", U(3, 4)),
    S("numpy.roll", "np.roll(x, (1, 2), axis=(0, 1))", U(3, 4)),
    S("numpy.diag", "np.diag(x)", U(4)),
    S("numpy.diag", "np.diag(x, -1)", U(3)),
    S("numpy.diag", "np.diag(x)", U(3, 4)),
    S("numpy.diag", "np.diag(x, k=1)", U(4, 3)),
    S("numpy.diagonal", "np.diagonal(x)", U(3, 4)),
    S("numpy.diagonal", "np.diagonal(x, 1, 1, 2)", U(2, 3, 4)),
    S("numpy.diagonal", "np.diagonal(x, offset=-1, axis1=2, axis2=0)", U(3, 2, 4)),
    S("numpy.trace", "np.trace(x)", U(3, 4)),
    S("numpy.trace", "np.trace(x, 1, 1, 2)", U(2, 3, 4)),
    S("numpy.tril", "np.tril(x)", U(3, 4)),
    S("numpy.tril", "np.tril(x, -1)", U(2, 3, 3)),
    S("numpy.triu", "np.triu(x, 1)", U(3, 4)),
    S("numpy.repeat", "np.repeat(x, 2)", U(2, 3)),
    S("numpy.repeat", "np.repeat(x, 3, axis=1)", U(2, 3)),
    S("numpy.repeat", "np.repeat(x, y, axis=0)", U(3, 2), np.array([1, 0, 2]), wrt=(0,)),
    S("numpy.tile", "np.tile(x, 2)", U(3)),
    S("numpy.tile", "np.tile(x, (2, 1, 3))", U(2, 3)),
    S("numpy.pad", "np.pad(x, 1)", U(2, 3)),
    S("numpy.pad", "np.pad(x, ((1, 0), (2, 1)), constant_values=y)", U(2, 3), U()),
    S("numpy.pad", "np.pad(x, (2, 1), mode='reflect')", U(4)),
    S("numpy.pad", "np.pad(x, 2, mode='edge')", U(2, 3)),
    S("numpy.pad", "np.pad(x, ((0, 2), (1, 1)), mode='symmetric')", U(2, 3)),
    S("numpy.pad", "np.pad(x, 3, mode='wrap')", U(3)),
    S("numpy.sort", "np.sort(x)", Distinct(5)),
    S("numpy.sort", "np.sort(x, axis=0)", Distinct(3, 4)),
    S("numpy.sort", "np.sort(x, axis=None)", Distinct(3, 4)),
    S("numpy.partition", "np.partition(x, 2)", Distinct(6)),
    S("numpy.partition", "np.partition(x, (0, 3), axis=1)", Distinct(3, 5)),
    S("numpy.take", "np.take(x, y)", U(3, 4), np.array([[0, 5], [11, 5]]), wrt=(0,)),
    S("numpy.take", "np.take(x, y, axis=1)", U(2, 4, 3), np.array([[3, 0], [1, 1]]), wrt=(0,)),
    S("numpy.take", "np.take(x, [-1, 7], axis=0, mode='wrap')", U(3, 2)),
    S("numpy.take", "np.take(x, [-1, 7], mode='clip')", U(3, 2)),
    S("numpy.take_along_axis", "np.take_along_axis(x, y, axis=1)", U(3, 4),
      np.array([[0, 3], [1, 1], [2, 0]]), wrt=(0,)),
    S("numpy.take_along_axis", "np.take_along_axis(x, y, axis=0)", U(3, 4),
      np.array([[0, 2, 1, 1]]), wrt=(0,)),
    S("numpy.take_along_axis", "np.take_along_axis(x, y, axis=None)", U(2, 3),
      np.array([5, 0, 5]), wrt=(0,)),
    S("numpy.split", "np.split(x, 3)[1]", U(6, 2)),
    S("numpy.split", "np.split(x, [1, 3], axis=1)[2]", U(2, 5)),
    S("numpy.split", """
        p = np.split(x, 3)
        return p[0] * p[2] + p[1]""", U(6), needs=("tuple_accum",)),
    S("numpy.array_split", "np.array_split(x, 3)[2]", U(7)),
    S("numpy.array_split", "np.concatenate(np.array_split(x, 2, axis=1)[::-1], axis=1)", U(2, 5),
      needs=("tuple_accum",)),
    S("numpy.hsplit", "np.hsplit(x, 2)[1]", U(3, 4)),
    S("numpy.hsplit", "np.hsplit(x, [1])[0]", U(5)),
    S("numpy.vsplit", "np.vsplit(x, 2)[0]", U(4, 3)),
    S("numpy.dsplit", "np.dsplit(x, [1])[1]", U(2, 2, 3)),
    S("numpy.hstack", "np.hstack([x, y])", U(3), U(2)),
    S("numpy.hstack", "np.hstack([x, y])", U(2, 3), U(2, 1)),
    S("numpy.vstack", "np.vstack([x, y])", U(3), U(2, 3)),
    S("numpy.dstack", "np.dstack([x, y])", U(2, 3), U(2, 3, 2)),
    S("numpy.column_stack", "np.column_stack([x, y])", U(3), U(3, 2)),
    # np.row_stack: an alias of vstack, deprecated in NumPy 2 (a spec of a
    # NumPy without it is reported "does not exist here" and left out)
    S("numpy.row_stack", "np.row_stack([x, y])", U(3), U(2, 3)),
    S("numpy.row_stack", "np.row_stack((x, y * x))", U(2, 2), U(2, 2)),
    S("numpy.append", "np.append(x, y * 2)", U(2, 3), U(4), f32=True),
    S("numpy.append", "np.append(x, y, axis=0)", U(2, 3), U(1, 3)),
    S("numpy.append", "np.append(x, y, axis=1)", U(2, 3), U(2, 2)),
    S("numpy.append", "np.append(x, [y, 1.0])", U(3), U()),
    S("numpy.append", "np.append(x, y, axis=-1)", Cx(2, 2), U(2, 1)),
    S("numpy.select", "np.select([x > 0, x < -0.5], [x * y, y], default=x)", U(3, 4), U(4)),
    S("numpy.select", "np.select([x > 0], [2.0 * x])", U(5), f32=True),
    S("numpy.select", "np.select([y > 0.5, y > 0], [x, x * x], default=y)", U(2, 3), U(3)),
    S("numpy.select", "np.select([x.real > 0], [x * y], default=y)", Cx(4), U(4)),
    S("numpy.insert", "np.insert(x, 1, y, axis=0)", U(2, 3), U(3)),
    S("numpy.insert", "np.insert(x, [0, 2, 2], y)", U(2, 3), U()),
    S("numpy.insert", "np.insert(x, [1], y[:2, None], axis=1)", U(2, 3), U(3)),
    S("numpy.insert", "np.insert(x, 2, y * x[0])", Cx(4), U()),
    S("numpy.delete", "np.delete(x, 1, axis=1)", U(2, 3)),
    S("numpy.delete", "np.delete(x, [0, 3])", U(2, 3)),
    S("numpy.delete", "np.delete(x, slice(0, 4, 2), axis=0) * y", U(5, 2), U(2)),
    S("numpy.block", "np.block([[x, y], [y * 2, x]])", U(2, 3), U(2, 3)),
    S("numpy.block", "np.block([x, y, 1.0])", U(3), U(2)),
    S("numpy.block", "np.block([[x], [y]])", Cx(1, 2), U(2, 2)),
    S("numpy.unstack", "np.unstack(x, axis=1)[2] * 3", U(2, 3), skip=_ONLY_NUMPY2),
    S("numpy.unstack", "np.concatenate(np.unstack(x * y))", U(3, 2), U(2), skip=_ONLY_NUMPY2),
    S("numpy.meshgrid", """\
        a, b = np.meshgrid(x, y)
        return a * b ** 2""", U(3), U(2)),
    S("numpy.meshgrid", """\
        a, b = np.meshgrid(x, y, indexing="ij", sparse=True)
        return np.sin(a) * b""", U(3), U(2)),
    S("numpy.meshgrid", """\
        a, b, c = np.meshgrid(x, y, x[:2])
        return a * b + c""", U(3), U(2)),
    S("numpy.meshgrid", "np.meshgrid(x, 2.0 * y)[1] * x[0, 0]", U(2, 2), U(3)),
    S("numpy.full", "np.full((2, 3), x)", U()),
    S("numpy.full", "np.full((2, 3), x)", U(3)),
    S("numpy.linspace", "np.linspace(x, y, 5)", U(), U()),
    S("numpy.linspace", "np.linspace(x, y, 4, endpoint=False, axis=1)", U(3), U(3)),
    S("numpy.linspace", "np.linspace(x, 2.0, num=3)", U(2)),
])

# --------------------------------------------------------------------------
# products
# --------------------------------------------------------------------------

add([
    S("numpy.dot", "np.dot(x, y)", U(3, 4), U(4, 2)),
    S("numpy.dot", "np.dot(x, y)", U(4), U(4)),
    S("numpy.dot", "np.dot(x, y)", U(2, 3, 4), U(4)),
    S("numpy.dot", "np.dot(x, y)", U(2, 3), U(4, 3, 2)),
    S("numpy.dot", "np.dot(x, y)", U(), U(3)),
    S("numpy.matmul", "np.matmul(x, y)", U(2, 3, 4), U(4, 2)),
    S("numpy.matmul", "np.matmul(x, y)", U(4), U(2, 4, 3)),
    S("numpy.matmul", "np.matmul(x, y)", U(4), U(4)),
    S("numpy.outer", "np.outer(x, y)", U(3), U(4)),
    S("numpy.outer", "np.outer(x, y)", U(2, 2), U(3)),
    S("numpy.inner", "np.inner(x, y)", U(3), U(3)),
    S("numpy.inner", "np.inner(x, y)", U(2, 3), U(4, 3)),
    S("numpy.inner", "np.inner(x, y)", U(), U(2, 3)),
    S("numpy.tensordot", "np.tensordot(x, y)", U(2, 3, 4), U(3, 4, 2)),
    S("numpy.tensordot", "np.tensordot(x, y, axes=1)", U(2, 3), U(3, 4)),
    S("numpy.tensordot", "np.tensordot(x, y, axes=([0, 2], [2, 0]))", U(2, 3, 4), U(4, 5, 2)),
    S("numpy.tensordot", "np.tensordot(x, y, axes=0)", U(2), U(3)),
    S("numpy.kron", "np.kron(x, y)", U(2, 3), U(3, 2)),
    S("numpy.kron", "np.kron(x, y)", U(3), U(2)),
    S("numpy.kron", "np.kron(x, y)", U(2), U(2, 3)),
    S("numpy.cross", "np.cross(x, y)", U(4, 3), U(3)),
    S("numpy.cross", "np.cross(x, y, axisa=0, axisb=1, axisc=0)", U(3, 2), U(2, 3)),
    S("numpy.einsum", "np.einsum('ij,jk->ik', x, y)", U(2, 3), U(3, 4)),
    S("numpy.einsum", "np.einsum('ij,jk,kl', x, y, w)", U(2, 3), U(3, 4), U(4, 2)),
    S("numpy.einsum", "np.einsum('ii->i', x)", U(3, 3)),
    S("numpy.einsum", "np.einsum('ii', x)", U(3, 3)),
    S("numpy.einsum", "np.einsum('ij->', x)", U(2, 3)),
    S("numpy.einsum", "np.einsum('ij,j->i', x, y)", U(2, 3), U(3)),
    S("numpy.einsum", "np.einsum('...ij,...jk->...ik', x, y)", U(2, 2, 3), U(1, 3, 2)),
    S("numpy.einsum", "np.einsum('ijk,ik->j', x, y, optimize=True)", U(2, 3, 4), U(2, 4)),
    S("numpy.einsum", "np.einsum('i,i,i,i->', x, y, w, v)", U(3), U(3), U(3), U(3)),
    S("numpy.einsum", "np.einsum('ij,kl->ijkl', x, y)", Cx(2, 2), U(2, 2)),
    S("numpy.einsum", "np.einsum(x, [0, 1], y, [1, 2], [0, 2])", U(2, 3), U(3, 2)),
    S("numpy.einsum", "np.einsum(x, [Ellipsis, 1], y, [1, 0], w, [0])", U(2, 3), U(3, 2), U(2)),
    S("numpy.einsum", "np.einsum('i,i,i,i,i,i->i', x, y, w, v, u, t)",
      U(2), U(2), U(2), U(2), U(2), U(2)),
    S("numpy.vecdot", "np.vecdot(x, y)", U(3, 4), U(4)),
    S("numpy.vecdot", "np.vecdot(x, y, axis=0)", U(3, 4), U(3, 1)),
    S("numpy.vecdot", "np.vecdot(x, y)", Cx(3, 2), Cx(2)),
    S("numpy.linalg.vecdot", "np.linalg.vecdot(x, y)", U(3, 4), U(4)),
    S("numpy.matvec", "np.matvec(x, y)", U(2, 3, 4), U(4)),
    S("numpy.matvec", "np.matvec(x, y)", U(3, 4), U(2, 4)),
    S("numpy.vecmat", "np.vecmat(x, y)", U(3), U(2, 3, 4)),
    S("numpy.vecmat", "np.vecmat(x, y)", Cx(3), Cx(3, 2)),
    S("numpy.vdot", "np.vdot(x, y)", U(2, 3), U(6)),
    S("numpy.vdot", "np.vdot(x, y)", Cx(3), Cx(3)),
])

# --------------------------------------------------------------------------
# numpy.linalg
# --------------------------------------------------------------------------

add([
    S("numpy.linalg.norm", "np.linalg.norm(x)", U(5)),
    S("numpy.linalg.norm", "np.linalg.norm(x)", U(3, 4)),
    S("numpy.linalg.norm", "np.linalg.norm(x, axis=1)", U(3, 4)),
    S("numpy.linalg.norm", "np.linalg.norm(x, axis=0, keepdims=True)", U(3, 4)),
    S("numpy.linalg.norm", "np.linalg.norm(x, ord=1)", U(5), order=2),
    S("numpy.linalg.norm", "np.linalg.norm(x, ord=np.inf)", Distinct(5), order=2),
    S("numpy.linalg.norm", "np.linalg.norm(x, ord=-np.inf)", Distinct(5), order=2),
    S("numpy.linalg.norm", "np.linalg.norm(x, ord=0)", U(5), order=2),
    S("numpy.linalg.norm", "np.linalg.norm(x, ord=3, axis=-1)", U(2, 4), order=2),
    S("numpy.linalg.norm", "np.linalg.norm(x, ord=-1.5)", U(4, lo=0.5), order=2),
    # matrix norms (axis=None on a 2-D x, or a pair of axes)
    S("numpy.linalg.norm", "np.linalg.norm(x, ord=1)", Distinct(3, 4), order=2),
    S("numpy.linalg.norm", "np.linalg.norm(x, ord=-1)", Distinct(3, 4), order=2),
    S("numpy.linalg.norm", "np.linalg.norm(x, ord=np.inf)", Distinct(3, 4), order=2),
    S("numpy.linalg.norm", "np.linalg.norm(x, ord=-np.inf, axis=(2, 0), keepdims=True)",
      Distinct(3, 2, 4), order=2),
    S("numpy.linalg.norm", "np.linalg.norm(x, ord=-2)", U(3, 4), order=1),
    S("numpy.linalg.norm", "np.linalg.norm(x, ord=2)", U(5)),
    S("numpy.linalg.norm", "np.linalg.norm(x, 'fro')", U(3, 4)),
    S("numpy.linalg.norm", "np.linalg.norm(x, ord='fro', axis=(1, 2))", U(2, 3, 4)),
    S("numpy.linalg.norm", "np.linalg.norm(x, 'nuc')", U(3, 4), order=1),
    S("numpy.linalg.norm", "np.linalg.norm(x, 2)", U(3, 4), order=1),
    S("numpy.linalg.norm", "np.linalg.norm(x)", Cx(4)),
])


def _eig_real(n):
    """A non-symmetric matrix with real, well-separated eigenvalues."""
    q = _rng.standard_normal((n, n)) + 2.0 * np.eye(n)
    return q @ np.diag(np.arange(1.0, n + 1.0) * 1.3) @ np.linalg.inv(q)


def _eig_complex(n):
    """A real matrix with complex eigenvalues."""
    a = Mat(n) * 0.3
    a[0, 1] += 2.0
    a[1, 0] -= 2.0
    return a


_NT = ("namedtuple",)
_NT2 = ("namedtuple", "tuple_accum")

add([
    S("numpy.linalg.inv", "np.linalg.inv(x)", Mat(3)),
    S("numpy.linalg.inv", "np.linalg.inv(x)", Mat(3, 2)),
    S("numpy.linalg.inv", "np.linalg.inv(x)", Mat(2) + 1j * U(2, 2) * 0.3),
    S("numpy.linalg.det", "np.linalg.det(x)", Mat(3)),
    S("numpy.linalg.det", "np.linalg.det(x)", Mat(3, 2)),
    S("numpy.linalg.det", "np.linalg.det(x)", Mat(2) + 1j * U(2, 2) * 0.3),
    S("numpy.linalg.slogdet", "np.linalg.slogdet(x)[1]", Mat(3), needs=_NT),
    S("numpy.linalg.slogdet", "np.linalg.slogdet(x)[1]", Mat(3, 2), needs=_NT),
    S("numpy.linalg.slogdet", "np.linalg.slogdet(x)[1]", -Mat(3), needs=_NT),
    S("numpy.linalg.slogdet", """
        sign, logdet = np.linalg.slogdet(x)
        return sign * logdet""", Mat(3), needs=_NT2),
    S("numpy.linalg.solve", "np.linalg.solve(x, y)", Mat(3), U(3)),
    S("numpy.linalg.solve", "np.linalg.solve(x, y)", Mat(3), U(3, 2)),
    # a 1-D b with stacked a (and a 2-D b read as a matrix) is NumPy 2's rule:
    # NumPy 1.x reads b as vectors when b.ndim == a.ndim - 1 (an error here)
    S("numpy.linalg.solve", "np.linalg.solve(x, y)", Mat(3, 2), U(3), skip=_ONLY_NUMPY2),
    S("numpy.linalg.solve", "np.linalg.solve(x, y)", Mat(3, 2), U(2, 3, 2)),
    S("numpy.linalg.solve", "np.linalg.solve(x, y)", Mat(3, 2), U(3, 1), skip=_ONLY_NUMPY2),
    S("numpy.linalg.cholesky", "np.linalg.cholesky(x)", SPD(3)),
    S("numpy.linalg.cholesky", "np.linalg.cholesky(x)", SPD(3, 2)),
    # upper= is new in NumPy 2.0
    S("numpy.linalg.cholesky", "np.linalg.cholesky(x, upper=True)", SPD(3), skip=_ONLY_NUMPY2),
    S("numpy.linalg.eigh", "np.linalg.eigh(x)[0]", Sym(3), needs=_NT),
    S("numpy.linalg.eigh", """
        v = np.linalg.eigh(x, UPLO='U')[1]
        return v * v[..., :1, :]""", Sym(3, 2), needs=_NT),
    S("numpy.linalg.eigh", """
        w, v = np.linalg.eigh(x)
        return np.concatenate([w, np.ravel(v * v[:1])])""", Sym(4), needs=_NT2),
    S("numpy.linalg.eigvalsh", "np.linalg.eigvalsh(x)", Sym(4)),
    S("numpy.linalg.eigvalsh", "np.linalg.eigvalsh(x, UPLO='U')", Sym(3, 2)),
    S("numpy.linalg.eigvalsh", "np.linalg.eigvalsh(x)", Sym(3) + 1j * np.triu(U(3, 3), 1) * 0.3,
      order=1),
    S("numpy.linalg.eig", "np.linalg.eig(x)[0]", _eig_real(3), needs=_NT),
    S("numpy.linalg.eig", "np.linalg.eig(x)[0]", _eig_complex(3), needs=_NT),
    S("numpy.linalg.eig", "np.linalg.eig(x)[0]", Mat(3) + 1j * U(3, 3) * 0.5, needs=_NT),
    S("numpy.linalg.eig", """
        u = np.linalg.eig(x)[1]
        return u * u[:1]""", _eig_real(3), needs=_NT),
    S("numpy.linalg.eig", """
        e, u = np.linalg.eig(x)
        return np.concatenate([e, np.ravel(u * u[:1])])""", _eig_real(3), needs=_NT2),
    S("numpy.linalg.eigvals", "np.linalg.eigvals(x)", _eig_real(3)),
    S("numpy.linalg.eigvals", "np.linalg.eigvals(x)", _eig_complex(4)),
    S("numpy.linalg.svd", "np.linalg.svd(x, compute_uv=False)", U(3, 4)),
    S("numpy.linalg.svd", "np.linalg.svd(x, compute_uv=False)", U(2, 4, 3)),
    S("numpy.linalg.svd", "np.linalg.svd(x, compute_uv=False)", Cx(3, 2)),
    S("numpy.linalg.svd", "np.linalg.svd(x)[1]", U(4, 3), needs=_NT),
    S("numpy.linalg.svd", """
        u = np.linalg.svd(x, full_matrices=False)[0]
        return u * u[:1]""", U(4, 3), needs=_NT),
    S("numpy.linalg.svd", """
        vh = np.linalg.svd(x, full_matrices=False)[2]
        return vh * vh[:, :1]""", U(2, 3, 5), needs=_NT),
    S("numpy.linalg.svd", """
        u, s, vh = np.linalg.svd(x, full_matrices=False)
        return np.concatenate([np.ravel(u * u[:1]), s, np.ravel(vh * vh[:, :1])])""",
      U(3, 4), needs=_NT2),
    S("numpy.linalg.svd", """
        u = np.linalg.svd(x)[0]
        e = u[:, 2:]
        return np.concatenate([np.ravel(u[:, :2] * u[:1, :2]), np.ravel(e @ e.T)])""",
      U(4, 2), needs=_NT),
    S("numpy.linalg.svd", """
        vh = np.linalg.svd(x)[2]
        e = vh[2:]
        return np.concatenate([np.ravel(vh[:2] * vh[:2, :1]), np.ravel(e.T @ e)])""",
      U(2, 4), needs=_NT),
    S("numpy.linalg.svdvals", "np.linalg.svdvals(x)", U(4, 3)),
    S("numpy.linalg.qr", "np.linalg.qr(x)[0]", U(4, 3), needs=_NT),
    S("numpy.linalg.qr", "np.linalg.qr(x)[1]", U(4, 3), needs=_NT),
    S("numpy.linalg.qr", "np.linalg.qr(x)[1]", U(2, 3, 3), needs=_NT),
    S("numpy.linalg.qr", "np.linalg.qr(x)[0]", U(3, 5), needs=_NT),
    S("numpy.linalg.qr", "np.linalg.qr(x, mode='complete')[1]", U(3, 5), needs=_NT),
    S("numpy.linalg.qr", """
        q, r = np.linalg.qr(x)
        return np.concatenate([np.ravel(q), np.ravel(r)])""", U(3, 4), needs=_NT2),
    S("numpy.linalg.pinv", "np.linalg.pinv(x)", U(4, 3)),
    S("numpy.linalg.pinv", "np.linalg.pinv(x)", U(3, 4)),
    S("numpy.linalg.pinv", "np.linalg.pinv(x)", U(2, 3, 3)),
    S("numpy.linalg.matrix_power", "np.linalg.matrix_power(x, 3)", U(3, 3)),
    S("numpy.linalg.matrix_power", "np.linalg.matrix_power(x, 1)", U(2, 2, 2)),
    S("numpy.linalg.matrix_power", "np.linalg.matrix_power(x, 0)", U(2, 2), order=1),
    S("numpy.linalg.matrix_power", "np.linalg.matrix_power(x, -2)", Mat(3)),
    S("numpy.linalg.lstsq", "np.linalg.lstsq(x, y)[0]", U(5, 3), U(5)),
    S("numpy.linalg.lstsq", "np.linalg.lstsq(x, y)[0]", U(5, 3), U(5, 2)),
    S("numpy.linalg.lstsq", "np.linalg.lstsq(x, y)[0]", U(3, 5), U(3)),
    S("numpy.linalg.lstsq", "np.linalg.lstsq(x, y)[1]", U(5, 3), U(5, 2)),
    S("numpy.linalg.lstsq", "np.linalg.lstsq(x, y)[3]", U(5, 3), U(5)),
    S("numpy.linalg.lstsq", """
        x_, res, rank, s = np.linalg.lstsq(x, y)
        return np.concatenate([x_, res, s])""", U(5, 3), U(5), needs=("tuple_accum",)),
])

# --------------------------------------------------------------------------
# numpy.fft (complex outputs; complex inputs with autograd's convention)
# --------------------------------------------------------------------------

for _fn in ("fft", "ifft"):
    add([
        S(f"numpy.fft.{_fn}", f"np.fft.{_fn}(x)", U(6)),
        S(f"numpy.fft.{_fn}", f"np.fft.{_fn}(x)", Cx(5)),
        S(f"numpy.fft.{_fn}", f"np.fft.{_fn}(x, n=8, axis=0)", U(5, 2)),
        S(f"numpy.fft.{_fn}", f"np.fft.{_fn}(x, 3, norm='ortho')", Cx(2, 5)),
        S(f"numpy.fft.{_fn}", f"np.fft.{_fn}(x, norm='forward')", U(4)),
    ])
for _fn in ("fft2", "ifft2", "fftn", "ifftn"):
    add([
        S(f"numpy.fft.{_fn}", f"np.fft.{_fn}(x)", U(3, 4)),
        S(f"numpy.fft.{_fn}", f"np.fft.{_fn}(x)", Cx(2, 3)),
        S(f"numpy.fft.{_fn}", f"np.fft.{_fn}(x, s=(4, 2), axes=(0, 2), norm='ortho')", U(3, 2, 3)),
    ])
add([
    S("numpy.fft.fftn", "np.fft.fftn(x, s=(2, 5), axes=(1, 2))", Cx(2, 3, 4)),
    S("numpy.fft.ifftn", "np.fft.ifftn(x, axes=(1,), norm='forward')", U(2, 3)),
])
for _fn in ("rfft",):
    add([
        S("numpy.fft.rfft", "np.fft.rfft(x)", U(6)),
        S("numpy.fft.rfft", "np.fft.rfft(x)", U(2, 5)),
        S("numpy.fft.rfft", "np.fft.rfft(x, n=7, axis=0, norm='ortho')", U(4, 2)),
        S("numpy.fft.rfft", "np.fft.rfft(x, 4, norm='forward')", U(6)),
    ])
add([
    S("numpy.fft.irfft", "np.fft.irfft(x)", Cx(4)),
    S("numpy.fft.irfft", "np.fft.irfft(x, n=7)", Cx(2, 4)),
    S("numpy.fft.irfft", "np.fft.irfft(x, n=4, axis=0, norm='ortho')", Cx(5, 2)),
    S("numpy.fft.irfft", "np.fft.irfft(x, 9, norm='forward')", Cx(3)),
    S("numpy.fft.irfft", "np.fft.irfft(x)", U(5), order=2),
    S("numpy.fft.irfft2", "np.fft.irfft2(x)", U(3, 3), order=2),
    S("numpy.fft.irfftn", "np.fft.irfftn(x, axes=(0, 1))", U(2, 3, 2), order=2),
    S("numpy.fft.rfft2", "np.fft.rfft2(x)", U(3, 4)),
    S("numpy.fft.rfft2", "np.fft.rfft2(x, s=(2, 5), norm='ortho')", U(2, 3, 3)),
    S("numpy.fft.rfftn", "np.fft.rfftn(x)", U(2, 3, 5)),
    S("numpy.fft.rfftn", "np.fft.rfftn(x, axes=(0,), norm='forward')", U(4, 2)),
    S("numpy.fft.irfft2", "np.fft.irfft2(x)", Cx(3, 4)),
    S("numpy.fft.irfft2", "np.fft.irfft2(x, s=(4, 5), norm='ortho')", Cx(2, 3, 3)),
    S("numpy.fft.irfftn", "np.fft.irfftn(x)", Cx(2, 3, 3)),
    S("numpy.fft.irfftn", "np.fft.irfftn(x, s=(3, 4), axes=(0, 1))", Cx(3, 2, 2)),
    S("numpy.fft.irfftn", "np.fft.irfftn(x, axes=(0,), norm='forward')", Cx(4, 2)),
    S("numpy.fft.fftshift", "np.fft.fftshift(x)", U(3, 4)),
    S("numpy.fft.fftshift", "np.fft.fftshift(x, axes=1)", Cx(2, 5)),
    S("numpy.fft.ifftshift", "np.fft.ifftshift(x)", U(5)),
    S("numpy.fft.ifftshift", "np.fft.ifftshift(x, axes=(0,))", U(3, 2)),
    S("numpy.fft.fft", "np.abs(np.fft.fft(x)) ** 2", U(6)),
    S("numpy.fft.rfft", "np.real(np.fft.irfft(np.fft.rfft(x) * y))", U(6), Cx(4)),
])

# np.linalg.solve's right-hand side read by the installed NumPy's convention:
# b of shape (3, 3) with a stack of three 3x3 matrices is one matrix on NumPy 2
# and three vectors on NumPy 1.x (same call, different result: the rule must
# follow); b of shape (2, 3) with two 3x3 matrices is two vectors (1.x only)
add([
    S("numpy.linalg.solve", "np.linalg.solve(x, y)", Mat(3, 3), U(3, 3), order=2),
    S("numpy.linalg.solve", "np.linalg.solve(x, y)", Mat(3, 2), U(2, 3), order=2,
      skip=_ONLY_NUMPY1),
])

# np.reshape's keywords: newshape= (NumPy 1.x to 2.3; 2.4 dropped it), shape= (2.1)
_RESHAPE_KW = __import__("inspect").signature(np.reshape).parameters
add([
    S("numpy.reshape", "np.reshape(x, newshape=(3, 2))", U(6), order=1,
      skip=None if "newshape" in _RESHAPE_KW else f"no newshape= in NumPy {np.__version__}"),
    S("numpy.reshape", "np.reshape(x, shape=(2, 3), copy=True)", U(6), order=1,
      skip=None if "copy" in _RESHAPE_KW else f"no shape=/copy= in NumPy {np.__version__}"),
])

# np.sign: a zero derivative for real x (and for complex x on NumPy 1.x, where
# it is the sign of the real part); x / |x| for complex x on NumPy 2
add([
    S("numpy.sign", "np.sign(x) * x", Distinct(3, 4), f32=True),
    S("numpy.sign", "np.sign(x)", Cx(4), order=1),
    S("numpy.sign", "np.sign(x * y)", Cx(2, 3), Cx(3), order=1),
])
# complex vector norms other than the 2-norm (their adjoint used np.sign, whose
# complex meaning differs between NumPy 1.x and 2)
add([
    S("numpy.linalg.norm", "np.linalg.norm(x, 1)", Cx(4), order=1),
    S("numpy.linalg.norm", "np.linalg.norm(x, np.inf)", Cx(4), order=1),
    S("numpy.linalg.norm", "np.linalg.norm(x, 3, axis=1)", Cx(2, 3), order=1),
])

# np.sort(stable=...) is NumPy 2's keyword
add([
    S("numpy.sort", "np.sort(x, axis=0, stable=True)", Distinct(3, 2), order=1,
      skip=None if "stable" in __import__("inspect").signature(np.sort).parameters
      else f"no stable= in NumPy {np.__version__}"),
])

# Functions once declared non-differentiable whose results do carry a
# derivative (rules/numpy_sets.py, python_math.py; tests/test_nondiff_audit.py)
add([
    S("numpy.full_like", "np.full_like(y, x)", U(), U(2, 3), wrt=(0,)),
    S("numpy.full_like", "np.full_like(y, x) * y", U(3), U(2, 3)),
    S("numpy.arange", "np.arange(x, x + 4.5)", U()),
    S("numpy.arange", "np.arange(x, 5.0, y)", U(lo=-1.0, hi=0.5), Pos(lo=0.6, hi=0.9), order=1),
    S("numpy.logspace", "np.logspace(x, y, 5)", U(lo=-1.0, hi=1.0), U(lo=-1.0, hi=1.0)),
    S("numpy.logspace", "np.logspace(x, 1.0, 4, base=y)", U(lo=-1.0, hi=1.0), Pos(lo=1.5, hi=3.0),
      order=1),
    S("numpy.geomspace", "np.geomspace(x, y, 5)", Pos(), Pos(lo=2.5, hi=4.0)),
    S("numpy.fft.fftfreq", "np.fft.fftfreq(6, x)", Pos()),
    S("numpy.fft.rfftfreq", "np.fft.rfftfreq(7, x)", Pos()),
    S("numpy.heaviside", "np.heaviside(np.array([-1.0, 0.0, 2.0, 0.0]), x)", U()),
    S("numpy.heaviside", "np.heaviside(np.array([[0.0], [1.0]]), x) * x", U(3)),
    S("numpy.unique", "np.unique(x)", Distinct(2, 3)),
    S("numpy.unique", "np.unique(x, return_counts=True)[0]", Distinct(5), order=1),
    S("numpy.unique_values", "np.unique_values(x)", Distinct(5)),
    S("numpy.unique_counts", "np.unique_counts(x)[0]", Distinct(5)),
    S("numpy.unique_inverse", "np.unique_inverse(x)[0]", Distinct(5)),
    S("numpy.unique_all", "np.unique_all(x)[0]", Distinct(5)),
    S("numpy.union1d", "np.union1d(x, y)", Distinct(4), Distinct(3) + 5.0),
    S("numpy.setxor1d", "np.setxor1d(x, y)", Distinct(4), Distinct(3) + 5.0),
    S("numpy.setdiff1d", "np.setdiff1d(x, y)", Distinct(4), Distinct(3) + 5.0),
    S("numpy.bincount", "np.bincount(np.array([0, 2, 2, 4]), weights=x)", U(4)),
    S("numpy.bincount", "np.bincount(np.array([1, 0, 1]), x, 4)", U(3), order=1),
    S("numpy.histogram", "np.concatenate(np.histogram(x, bins=3))", Distinct(6)),
    S("numpy.histogram", "np.histogram(np.array([0.1, 0.5, 0.9, 0.45]), bins=3, weights=x)[0]",
      U(4)),
    S("numpy.histogram", "np.concatenate(np.histogram(np.array([0.1, 0.5, 0.9]), 2, (x, y)))",
      U(lo=-1.0, hi=0.0), U(lo=1.0, hi=2.0), order=1),
    S("numpy.histogram_bin_edges", "np.histogram_bin_edges(x, bins=4)", Distinct(5)),
    S("math.copysign", "math.copysign(x, -1.0) * x", U()),
    S("numpy.copysign", "np.copysign(x, y)", Distinct(3), U(3)),
    S("builtins.divmod", "divmod(x, 0.7)[1] * x", Pos(lo=1.1, hi=1.3)),
    S("builtins.divmod", "divmod(2.3, x)[1]", Pos(lo=0.8, hi=0.9), order=1),
    S("numpy.divmod", "np.divmod(x, y)[1]", Pos(3, lo=1.1, hi=1.3), Pos(3, lo=0.8, hi=0.9)),
])
