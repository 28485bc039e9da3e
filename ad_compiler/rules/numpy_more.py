"""More NumPy rules: elementwise functions, reductions, scans, shape and
indexing functions, products.  Reverse and forward rules side by side.

Helpers live in ``ad_compiler.runtime_numpy`` (``adn``); the ones that
reverse rules call have forward rules at the end of this module (for
``hessian``) or are declared non-differentiable.  Complex values follow
autograd's convention (see ``runtime_numpy``).
"""
import numpy as np

from ad_compiler import runtime as ad
from ad_compiler import runtime_numpy as adn
from ad_compiler.registry import forward, nondifferentiable, optional, reverse

d = None  # the d[x] notation of templates; never evaluated


# --- elementwise, one argument -------------------------------------------

@reverse(np.arcsinh)
def arcsinh(z, x):
    d[x] = d[z] / np.sqrt(x * x + 1.0)


@forward(np.arcsinh)
def arcsinh(z, x):
    d[z] = d[x] / np.sqrt(x * x + 1.0)


@reverse(np.arccosh)
def arccosh(z, x):
    d[x] = d[z] / np.sqrt(x * x - 1.0)


@forward(np.arccosh)
def arccosh(z, x):
    d[z] = d[x] / np.sqrt(x * x - 1.0)


@reverse(np.arctanh)
def arctanh(z, x):
    d[x] = d[z] / (1.0 - x * x)


@forward(np.arctanh)
def arctanh(z, x):
    d[z] = d[x] / (1.0 - x * x)


@reverse(np.deg2rad, np.radians)
def deg2rad(z, x):
    d[x] = d[z] * 0.017453292519943295


@forward(np.deg2rad, np.radians)
def deg2rad(z, x):
    d[z] = d[x] * 0.017453292519943295


@reverse(np.rad2deg, np.degrees)
def rad2deg(z, x):
    d[x] = d[z] * 57.29577951308232


@forward(np.rad2deg, np.degrees)
def rad2deg(z, x):
    d[z] = d[x] * 57.29577951308232


@reverse(np.exp2)
def exp2(z, x):
    d[x] = d[z] * z * 0.6931471805599453


@forward(np.exp2)
def exp2(z, x):
    d[z] = d[x] * z * 0.6931471805599453


@reverse(np.log2)
def log2(z, x):
    d[x] = d[z] / (x * 0.6931471805599453)


@forward(np.log2)
def log2(z, x):
    d[z] = d[x] / (x * 0.6931471805599453)


@reverse(np.log10)
def log10(z, x):
    d[x] = d[z] / (x * 2.302585092994046)


@forward(np.log10)
def log10(z, x):
    d[z] = d[x] / (x * 2.302585092994046)


@reverse(np.cbrt)
def cbrt(z, x):
    d[x] = d[z] / (3.0 * z * z)


@forward(np.cbrt)
def cbrt(z, x):
    d[z] = d[x] / (3.0 * z * z)


@reverse(np.reciprocal)
def reciprocal(z, x):
    d[x] = -d[z] * z * z


@forward(np.reciprocal)
def reciprocal(z, x):
    d[z] = -d[x] * z * z


# np.sign: piecewise constant for real x (and for complex x on NumPy 1.x, the
# sign of the real part); x / |x| for complex x on NumPy 2
@reverse(np.sign)
def sign(z, x):
    d[x] = adn.sign_vjp(d[z], x)


@forward(np.sign)
def sign(z, x):
    d[z] = adn.sign_jvp(d[x], x)


@forward(adn.sign_jvp)
def sign_jvp(t, dx, x):
    # t = (A dx + B conj(dx)) * (x != 0) (zero for real x): linear in dx; in
    # x, conj(sign_vjp_tangent(conj(dx), x, 0, d[x])) = (dA dx + dB conj(dx))
    # * (x != 0), dA real (zero for real x: sign is piecewise constant there)
    d[t] = adn.sign_jvp(d[dx], x) + np.conj(adn.sign_vjp_tangent(np.conj(dx), x, 0.0, d[x]))


@reverse(np.fabs)
def fabs(z, x):
    d[x] = d[z] * np.sign(x)


@forward(np.fabs)
def fabs(z, x):
    d[z] = d[x] * np.sign(x)


@reverse(np.positive)
def positive(z, x):
    d[x] = d[z]


@forward(np.positive)
def positive(z, x):
    d[z] = d[x]


@reverse(np.sinc)
def sinc(z, x):
    d[x] = d[z] * np.where(x == 0, 0.0, (np.cos(np.pi * x) - z) / np.where(x == 0, 1.0, x))


@forward(np.sinc)
def sinc(z, x):
    d[z] = d[x] * np.where(x == 0, 0.0, (np.cos(np.pi * x) - z) / np.where(x == 0, 1.0, x))


@reverse(np.nan_to_num)
def nan_to_num(z, x, copy=True, nan=0.0, posinf=None, neginf=None):
    d[x] = np.where(np.isfinite(x), d[z], 0.0)
    d[nan] = np.sum(d[z] * np.isnan(x))
    d[posinf] = np.sum(d[z] * np.isposinf(x))
    d[neginf] = np.sum(d[z] * np.isneginf(x))


@forward(np.nan_to_num)
def nan_to_num(z, x, copy=True, nan=0.0, posinf=None, neginf=None):
    d[z] = (np.where(np.isfinite(x), d[x], 0.0) + d[nan] * np.isnan(x)
            + d[posinf] * np.isposinf(x) + d[neginf] * np.isneginf(x))


# --- complex parts ---------------------------------------------------------

@reverse(np.real)
def real(z, val):
    d[val] = adn.match_complex(d[z], val)


@forward(np.real)
def real(z, val):
    d[z] = np.real(d[val])


@reverse(np.imag)
def imag(z, val):
    d[val] = adn.match_complex(-1j * d[z], val)


@forward(np.imag)
def imag(z, val):
    d[z] = np.imag(d[val])


@reverse(np.conj)
def conj(z, x):
    d[x] = np.conj(d[z])


@forward(np.conj)
def conj(z, x):
    d[z] = np.conj(d[x])


@reverse(np.angle)
def angle(out, z, deg=False):
    d[z] = adn.match_complex(
        d[out] * np.conj(z * 1j) / np.where(z == 0, 1.0, np.real(z * np.conj(z)))
        * (57.29577951308232 if deg else 1.0), z)


@forward(np.angle)
def angle(out, z, deg=False):
    d[out] = (np.imag(np.conj(z) * d[z]) / np.where(z == 0, 1.0, np.real(z * np.conj(z)))
              * (57.29577951308232 if deg else 1.0))


@reverse(np.real_if_close)
def real_if_close(z, a, tol=100):
    d[a] = adn.match_complex(d[z], a)


@forward(np.real_if_close)
def real_if_close(z, a, tol=100):
    d[z] = adn.match_complex(d[a], z)


# --- elementwise, two arguments ------------------------------------------

@reverse(np.arctan2)
def arctan2(z, x1, x2):
    d[x1] = ad.unbroadcast(d[z] * x2 / (x1 * x1 + x2 * x2), x1)
    d[x2] = ad.unbroadcast(-d[z] * x1 / (x1 * x1 + x2 * x2), x2)


@forward(np.arctan2)
def arctan2(z, x1, x2):
    d[z] = (d[x1] * x2 - x1 * d[x2]) / (x1 * x1 + x2 * x2)


@reverse(np.hypot)
def hypot(z, x1, x2):
    d[x1] = ad.unbroadcast(d[z] * x1 / z, x1)
    d[x2] = ad.unbroadcast(d[z] * x2 / z, x2)


@forward(np.hypot)
def hypot(z, x1, x2):
    d[z] = (d[x1] * x1 + d[x2] * x2) / z


@reverse(np.logaddexp)
def logaddexp(z, x1, x2):
    d[x1] = ad.unbroadcast(d[z] * np.exp(x1 - z), x1)
    d[x2] = ad.unbroadcast(d[z] * np.exp(x2 - z), x2)


@forward(np.logaddexp)
def logaddexp(z, x1, x2):
    d[z] = d[x1] * np.exp(x1 - z) + d[x2] * np.exp(x2 - z)


@reverse(np.logaddexp2)
def logaddexp2(z, x1, x2):
    d[x1] = ad.unbroadcast(d[z] * np.exp2(x1 - z), x1)
    d[x2] = ad.unbroadcast(d[z] * np.exp2(x2 - z), x2)


@forward(np.logaddexp2)
def logaddexp2(z, x1, x2):
    d[z] = d[x1] * np.exp2(x1 - z) + d[x2] * np.exp2(x2 - z)


# ufunc reductions: ``np.add.reduce(a, axis=0)`` is ``np.sum`` with axis 0 by
# default; ``np.logaddexp.reduce`` is a log-sum-exp (``initial=`` and
# ``where=`` are not taken: the call is refused naming the argument).
@reverse(np.add.reduce, name="numpy.add.reduce")
def add_reduce(z, array, axis=0, dtype=None, out=None, keepdims=False):
    d[array] = ad.expand(d[z], array, axis, keepdims)


@forward(np.add.reduce, name="numpy.add.reduce")
def add_reduce(z, array, axis=0, dtype=None, out=None, keepdims=False):
    d[z] = np.sum(d[array], axis=axis, keepdims=keepdims)


@reverse(np.logaddexp.reduce, name="numpy.logaddexp.reduce")
def logaddexp_reduce(z, array, axis=0, dtype=None, out=None, keepdims=False):
    d[array] = ad.expand(d[z], array, axis, keepdims) * np.exp(array - ad.expand(z, array, axis, keepdims))


@forward(np.logaddexp.reduce, name="numpy.logaddexp.reduce")
def logaddexp_reduce(z, array, axis=0, dtype=None, out=None, keepdims=False):
    d[z] = np.sum(d[array] * np.exp(array - ad.expand(z, array, axis, keepdims)), axis=axis,
                  keepdims=keepdims)


@reverse(np.fmax)
def fmax(z, x1, x2):
    d[x1] = ad.unbroadcast(d[z] * np.logical_or(x1 >= x2, np.isnan(x2)), x1)
    d[x2] = ad.unbroadcast(d[z] * np.logical_not(np.logical_or(x1 >= x2, np.isnan(x2))), x2)


@forward(np.fmax)
def fmax(z, x1, x2):
    d[z] = np.where(np.logical_or(x1 >= x2, np.isnan(x2)), d[x1], d[x2])


@reverse(np.fmin)
def fmin(z, x1, x2):
    d[x1] = ad.unbroadcast(d[z] * np.logical_or(x1 <= x2, np.isnan(x2)), x1)
    d[x2] = ad.unbroadcast(d[z] * np.logical_not(np.logical_or(x1 <= x2, np.isnan(x2))), x2)


@forward(np.fmin)
def fmin(z, x1, x2):
    d[z] = np.where(np.logical_or(x1 <= x2, np.isnan(x2)), d[x1], d[x2])


@reverse(np.mod)
def mod(z, x1, x2):
    d[x1] = ad.unbroadcast(d[z], x1)
    d[x2] = ad.unbroadcast(-d[z] * np.floor_divide(x1, x2), x2)


@forward(np.mod)
def mod(z, x1, x2):
    d[z] = ad.like(d[x1] - d[x2] * np.floor_divide(x1, x2), z)


@reverse(np.fmod)
def fmod(z, x1, x2):
    d[x1] = ad.unbroadcast(d[z], x1)
    d[x2] = ad.unbroadcast(-d[z] * np.trunc(x1 / x2), x2)


@forward(np.fmod)
def fmod(z, x1, x2):
    d[z] = ad.like(d[x1] - d[x2] * np.trunc(x1 / x2), z)


@reverse(np.float_power)
def float_power(z, x1, x2):
    d[x1] = ad.unbroadcast(d[z] * x2 * np.float_power(x1, x2 - (x2 != 0)), x1)
    d[x2] = ad.unbroadcast(d[z] * z * np.log(np.where(x1 > 0, x1, 1.0)), x2)


@forward(np.float_power)
def float_power(z, x1, x2):
    d[z] = d[x1] * x2 * np.float_power(x1, x2 - (x2 != 0)) + d[x2] * z * np.log(np.where(x1 > 0, x1, 1.0))


# --- reductions ------------------------------------------------------------

@reverse(np.var)
def var(z, a, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
    d[a] = (ad.expand(d[z], a, axis, keepdims) * 2.0
            * np.conj(a - np.mean(a, axis=axis, keepdims=True))
            / (ad.reduced_count(a, axis) - ddof))


@forward(np.var)
def var(z, a, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
    d[z] = (np.sum(np.real(np.conj(a - np.mean(a, axis=axis, keepdims=True)) * d[a]),
                   axis=axis, keepdims=keepdims) * 2.0 / (ad.reduced_count(a, axis) - ddof))


# Where the spread is zero (a length-1 axis, where std is 0 for every input,
# or equal entries, a kink like |x| at 0) the derivative is 0, not 0/0: the
# deviations a - mean are all zero there, so only the 1/z factor is guarded.
@reverse(np.std)
def std(z, a, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
    d[a] = (ad.expand(d[z] / np.where(z == 0, 1.0, z), a, axis, keepdims)
            * np.conj(a - np.mean(a, axis=axis, keepdims=True))
            / (ad.reduced_count(a, axis) - ddof))


@forward(np.std)
def std(z, a, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
    d[z] = (np.sum(np.real(np.conj(a - np.mean(a, axis=axis, keepdims=True)) * d[a]),
                   axis=axis, keepdims=keepdims)
            / ((ad.reduced_count(a, axis) - ddof) * np.where(z == 0, 1.0, z)))


@reverse(np.ptp)
def ptp(z, a, axis=None, out=None, keepdims=False):
    d[a] = ad.expand(d[z], a, axis, keepdims) * (
        adn.extremum_mask(a, np.max(a, axis=axis, keepdims=keepdims), axis, keepdims)
        - adn.extremum_mask(a, np.min(a, axis=axis, keepdims=keepdims), axis, keepdims))


@forward(np.ptp)
def ptp(z, a, axis=None, out=None, keepdims=False):
    d[z] = np.sum(d[a] * (
        adn.extremum_mask(a, np.max(a, axis=axis, keepdims=keepdims), axis, keepdims)
        - adn.extremum_mask(a, np.min(a, axis=axis, keepdims=keepdims), axis, keepdims)),
        axis=axis, keepdims=keepdims)


@reverse(np.nansum)
def nansum(z, a, axis=None, dtype=None, out=None, keepdims=False):
    d[a] = np.where(np.isnan(a), 0.0, ad.expand(d[z], a, axis, keepdims))


@forward(np.nansum)
def nansum(z, a, axis=None, dtype=None, out=None, keepdims=False):
    d[z] = np.sum(np.where(np.isnan(a), 0.0, d[a]), axis=axis, keepdims=keepdims)


@reverse(np.nanmean)
def nanmean(z, a, axis=None, dtype=None, out=None, keepdims=False):
    d[a] = np.where(np.isnan(a), 0.0, ad.expand(d[z], a, axis, keepdims)
                    / adn.nan_count(a, axis, True))


@forward(np.nanmean)
def nanmean(z, a, axis=None, dtype=None, out=None, keepdims=False):
    d[z] = (np.sum(np.where(np.isnan(a), 0.0, d[a]), axis=axis, keepdims=keepdims)
            / adn.nan_count(a, axis, keepdims))


@reverse(np.average)
def average(z, a, axis=None, weights=None, *, keepdims=False):
    wb = adn.bcast_weights(weights, a, axis)
    sb = np.sum(wb, axis=axis, keepdims=True)
    ge = ad.expand(d[z], a, axis, keepdims)
    d[a] = ge * wb / sb
    d[weights] = adn.unbcast_weights(ge * (a - ad.expand(z, a, axis, keepdims)) / sb, weights, axis)


@forward(np.average)
def average(z, a, axis=None, weights=None, *, keepdims=False):
    wb = adn.bcast_weights(weights, a, axis)
    d[z] = (np.sum(d[a] * wb + (a - ad.expand(z, a, axis, keepdims))
                   * adn.bcast_weights(d[weights], a, axis), axis=axis, keepdims=keepdims)
            / np.sum(wb, axis=axis, keepdims=keepdims))


@reverse(np.median)
def median(z, a, axis=None, out=None, overwrite_input=False, keepdims=False):
    d[a] = adn.quantile_vjp(d[z], a, 0.5, axis, keepdims)


@forward(np.median)
def median(z, a, axis=None, out=None, overwrite_input=False, keepdims=False):
    d[z] = adn.quantile_jvp(d[a], a, 0.5, axis, keepdims)


# d/dq of a quantile: the slope between the two order statistics it
# interpolates (quantile levels lo and hi)
@reverse(np.quantile)
def quantile(z, a, q, axis=None, out=None, overwrite_input=False, method="linear",
             keepdims=False):
    lo = adn.quantile_knot(a, q, axis, 0)
    hi = adn.quantile_knot(a, q, axis, 1)
    slope = ((np.quantile(a, hi, axis=axis, keepdims=keepdims)
              - np.quantile(a, lo, axis=axis, keepdims=keepdims)) / adn.lead_expand(hi - lo, z))
    d[a] = adn.quantile_vjp(d[z], a, q, axis, keepdims, method)
    d[q] = adn.lead_sum(d[z] * slope, q)


@forward(np.quantile)
def quantile(z, a, q, axis=None, out=None, overwrite_input=False, method="linear",
             keepdims=False):
    lo = adn.quantile_knot(a, q, axis, 0)
    hi = adn.quantile_knot(a, q, axis, 1)
    slope = ((np.quantile(a, hi, axis=axis, keepdims=keepdims)
              - np.quantile(a, lo, axis=axis, keepdims=keepdims)) / adn.lead_expand(hi - lo, z))
    d[z] = adn.quantile_jvp(d[a], a, q, axis, keepdims, method) + adn.lead_expand(d[q], z) * slope


@reverse(np.percentile)
def percentile(z, a, q, axis=None, out=None, overwrite_input=False, method="linear",
               keepdims=False):
    lo = adn.quantile_knot(a, np.divide(q, 100.0), axis, 0)
    hi = adn.quantile_knot(a, np.divide(q, 100.0), axis, 1)
    slope = ((np.quantile(a, hi, axis=axis, keepdims=keepdims)
              - np.quantile(a, lo, axis=axis, keepdims=keepdims)) / adn.lead_expand(hi - lo, z))
    # (np.divide: q may be a list, [30.0, 60.0 + u[2]])
    d[a] = adn.quantile_vjp(d[z], a, np.divide(q, 100.0), axis, keepdims, method)
    d[q] = adn.lead_sum(d[z] * slope / 100.0, q)


@forward(np.percentile)
def percentile(z, a, q, axis=None, out=None, overwrite_input=False, method="linear",
               keepdims=False):
    lo = adn.quantile_knot(a, np.divide(q, 100.0), axis, 0)
    hi = adn.quantile_knot(a, np.divide(q, 100.0), axis, 1)
    slope = ((np.quantile(a, hi, axis=axis, keepdims=keepdims)
              - np.quantile(a, lo, axis=axis, keepdims=keepdims)) / adn.lead_expand(hi - lo, z))
    d[z] = (adn.quantile_jvp(d[a], a, np.divide(q, 100.0), axis, keepdims, method)
            + adn.lead_expand(d[q], z) * slope / 100.0)


@forward(adn.quantile_jvp)
def quantile_jvp(t, da, a, q, axis=None, keepdims=False, method="linear"):
    # t = ds[lo] * (1 - w) + ds[hi] * w (ds: da in a's sort order, w the
    # fractional position of q): linear in da, the order piecewise constant
    # in a (exact except at ties), w linear in q: the q-part is da's slope
    # between the two knots, as in the rule of np.quantile
    lo = adn.quantile_knot(a, q, axis, 0)
    hi = adn.quantile_knot(a, q, axis, 1)
    slope = ((adn.quantile_jvp(da, a, hi, axis, keepdims, method)
              - adn.quantile_jvp(da, a, lo, axis, keepdims, method)) / adn.lead_expand(hi - lo, t))
    d[t] = adn.quantile_jvp(d[da], a, q, axis, keepdims, method) + adn.lead_expand(d[q], t) * slope


# --- scans and differences ---------------------------------------------------

@reverse(np.cumsum)
def cumsum(z, a, axis=None, dtype=None, out=None):
    d[a] = np.reshape(np.flip(np.cumsum(np.flip(d[z], axis), axis), axis), np.shape(a))


@forward(np.cumsum)
def cumsum(z, a, axis=None, dtype=None, out=None):
    d[z] = np.cumsum(d[a], axis)


@reverse(np.cumprod)
def cumprod(z, a, axis=None, dtype=None, out=None):
    d[a] = adn.cumprod_grad(d[z], a, z, axis)


@forward(np.cumprod)
def cumprod(z, a, axis=None, dtype=None, out=None):
    d[z] = adn.cumprod_jvp(d[a], a, z, axis)


@reverse(np.diff)
def diff(z, a, n=1, axis=-1):
    d[a] = adn.diff_adjoint(d[z], n, axis)


@forward(np.diff)
def diff(z, a, n=1, axis=-1):
    d[z] = np.diff(d[a], n, axis)


@reverse(np.gradient)
def gradient(z, f, *, axis=None, edge_order=1):
    d[f] = adn.gradient_adjoint(d[z], np.shape(f), axis, edge_order)


@forward(np.gradient)
def gradient(z, f, *, axis=None, edge_order=1):
    d[z] = np.gradient(d[f], axis=axis, edge_order=edge_order)


@reverse(np.interp)
def interp(z, x, xp, fp, left=None, right=None):
    j = adn.interp_index(x, xp)
    h = np.take(xp, j + 1) - np.take(xp, j)
    t = (x - np.take(xp, j)) / h
    s = (np.take(fp, j + 1) - np.take(fp, j)) / h
    gi = d[z] * adn.interp_inside(x, xp)
    d[x] = gi * s
    d[fp] = (adn.scatter_add(gi * (1.0 - t), j, fp) + adn.scatter_add(gi * t, j + 1, fp)
             + adn.interp_edges(d[z], x, xp, fp, left, right))
    d[xp] = adn.scatter_add(-gi * s * (1.0 - t), j, xp) + adn.scatter_add(-gi * s * t, j + 1, xp)
    d[left] = np.sum(d[z] * (x < xp[0]))
    d[right] = np.sum(d[z] * (x > xp[-1]))


@forward(np.interp)
def interp(z, x, xp, fp, left=None, right=None):
    j = adn.interp_index(x, xp)
    h = np.take(xp, j + 1) - np.take(xp, j)
    t = (x - np.take(xp, j)) / h
    s = (np.take(fp, j + 1) - np.take(fp, j)) / h
    d[z] = adn.interp_tangent(
        d[x] * s + np.take(d[fp], j) * (1.0 - t) + np.take(d[fp], j + 1) * t
        - (np.take(d[xp], j) * (1.0 - t) + np.take(d[xp], j + 1) * t) * s,
        adn.interp_inside(x, xp), x, xp, d[fp], d[left], d[right], left, right)


@forward(adn.interp_tangent)
def interp_tangent(r, inner, inside, x, xp, dfp, dleft, dright, left=None, right=None):
    # linear in (inner, dfp, dleft, dright); x and xp only choose the piece
    # (inside, below, above): exact except where x meets an end of xp
    d[r] = adn.interp_tangent(d[inner], inside, x, xp, d[dfp], d[dleft], d[dright], left, right)


# --- shapes ----------------------------------------------------------------

@reverse(np.atleast_1d, np.atleast_2d, np.atleast_3d)
def atleast_nd(z, x):
    d[x] = np.reshape(d[z], np.shape(x))


@forward(np.atleast_1d)
def atleast_1d(z, x):
    d[z] = np.atleast_1d(d[x])


@forward(np.atleast_2d)
def atleast_2d(z, x):
    d[z] = np.atleast_2d(d[x])


@forward(np.atleast_3d)
def atleast_3d(z, x):
    d[z] = np.atleast_3d(d[x])


@reverse(np.broadcast_to)
def broadcast_to(z, array, shape, subok=False):
    d[array] = ad.unbroadcast(d[z], array)


@forward(np.broadcast_to)
def broadcast_to(z, array, shape, subok=False):
    d[z] = np.broadcast_to(d[array], shape)


@reverse(np.moveaxis)
def moveaxis(z, a, source, destination):
    d[a] = np.moveaxis(d[z], destination, source)


@forward(np.moveaxis)
def moveaxis(z, a, source, destination):
    d[z] = np.moveaxis(d[a], source, destination)


@reverse(np.swapaxes)
def swapaxes(z, a, axis1, axis2):
    d[a] = np.swapaxes(d[z], axis1, axis2)


@forward(np.swapaxes)
def swapaxes(z, a, axis1, axis2):
    d[z] = np.swapaxes(d[a], axis1, axis2)


@reverse(np.rollaxis)
def rollaxis(z, a, axis, start=0):
    d[a] = np.moveaxis(d[z], adn.rollaxis_dest(axis, start, np.ndim(a)), axis)


@forward(np.rollaxis)
def rollaxis(z, a, axis, start=0):
    d[z] = np.rollaxis(d[a], axis, start)


@reverse(optional(np, "matrix_transpose"), optional(np, "linalg.matrix_transpose"))
def matrix_transpose(z, x):
    d[x] = np.swapaxes(d[z], -1, -2)


@forward(optional(np, "matrix_transpose"), optional(np, "linalg.matrix_transpose"))
def matrix_transpose(z, x):
    d[z] = np.swapaxes(d[x], -1, -2)


@reverse(np.flip)
def flip(z, m, axis=None):
    d[m] = np.flip(d[z], axis)


@forward(np.flip)
def flip(z, m, axis=None):
    d[z] = np.flip(d[m], axis)


@reverse(np.fliplr)
def fliplr(z, m):
    d[m] = np.fliplr(d[z])


@forward(np.fliplr)
def fliplr(z, m):
    d[z] = np.fliplr(d[m])


@reverse(np.flipud)
def flipud(z, m):
    d[m] = np.flipud(d[z])


@forward(np.flipud)
def flipud(z, m):
    d[z] = np.flipud(d[m])


@reverse(np.rot90)
def rot90(z, m, k=1, axes=(0, 1)):
    d[m] = np.rot90(d[z], -k, axes)


@forward(np.rot90)
def rot90(z, m, k=1, axes=(0, 1)):
    d[z] = np.rot90(d[m], k, axes)


@reverse(np.roll)
def roll(z, a, shift, axis=None):
    d[a] = np.roll(d[z], np.negative(shift), axis)


@forward(np.roll)
def roll(z, a, shift, axis=None):
    d[z] = np.roll(d[a], shift, axis)


@reverse(np.diag)
def diag(z, v, k=0):
    d[v] = adn.diag_adjoint(d[z], np.shape(v), k)


@forward(np.diag)
def diag(z, v, k=0):
    d[z] = np.diag(d[v], k)


@reverse(np.diagonal)
def diagonal(z, a, offset=0, axis1=0, axis2=1):
    d[a] = adn.diagonal_adjoint(d[z], np.shape(a), offset, axis1, axis2)


@forward(np.diagonal)
def diagonal(z, a, offset=0, axis1=0, axis2=1):
    d[z] = np.diagonal(d[a], offset, axis1, axis2)


@reverse(np.trace)
def trace(z, a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    d[a] = adn.trace_adjoint(d[z], np.shape(a), offset, axis1, axis2)


@forward(np.trace)
def trace(z, a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    d[z] = np.trace(d[a], offset, axis1, axis2)


@reverse(np.tril)
def tril(z, m, k=0):
    d[m] = np.tril(d[z], k)


@forward(np.tril)
def tril(z, m, k=0):
    d[z] = np.tril(d[m], k)


@reverse(np.triu)
def triu(z, m, k=0):
    d[m] = np.triu(d[z], k)


@forward(np.triu)
def triu(z, m, k=0):
    d[z] = np.triu(d[m], k)


@reverse(np.repeat)
def repeat(z, a, repeats, axis=None):
    d[a] = adn.repeat_adjoint(d[z], np.shape(a), repeats, axis)


@forward(np.repeat)
def repeat(z, a, repeats, axis=None):
    d[z] = np.repeat(d[a], repeats, axis)


@reverse(np.tile)
def tile(z, A, reps):
    d[A] = adn.tile_adjoint(d[z], np.shape(A), reps)


@forward(np.tile)
def tile(z, A, reps):
    d[z] = np.tile(d[A], reps)


@reverse(np.pad)
def pad(z, array, pad_width, mode="constant", constant_values=0):
    d[array] = adn.pad_adjoint(d[z], np.shape(array), pad_width, mode)
    d[constant_values] = np.sum(d[z] * adn.pad_mask(array, pad_width))


@forward(np.pad)
def pad(z, array, pad_width, mode="constant", constant_values=0):
    d[z] = (np.pad(d[array], pad_width, mode)
            + d[constant_values] * adn.pad_mask(array, pad_width))


# stable= is NumPy 2's keyword (the derivative does not depend on it)
@reverse(np.sort)
def sort(z, a, axis=-1, kind=None, order=None, *, stable=None):
    d[a] = adn.unpermute(d[z], adn.sort_perm(a, axis), axis, np.shape(a))


@forward(np.sort)
def sort(z, a, axis=-1, kind=None, order=None, *, stable=None):
    d[z] = np.take_along_axis(d[a], adn.sort_perm(a, axis), axis)


@reverse(np.partition)
def partition(z, a, kth, axis=-1, kind="introselect", order=None):
    d[a] = adn.unpermute(d[z], np.argpartition(a, kth, axis), axis, np.shape(a))


@forward(np.partition)
def partition(z, a, kth, axis=-1, kind="introselect", order=None):
    d[z] = np.take_along_axis(d[a], np.argpartition(a, kth, axis), axis)


@reverse(np.take)
def take(z, a, indices, axis=None, out=None, mode="raise"):
    d[a] = adn.take_adjoint(d[z], np.shape(a), indices, axis, mode)


@forward(np.take)
def take(z, a, indices, axis=None, out=None, mode="raise"):
    d[z] = np.take(d[a], indices, axis, mode=mode)


@reverse(np.take_along_axis)
def take_along_axis(z, arr, indices, axis=-1):
    d[arr] = adn.take_along_axis_adjoint(d[z], np.shape(arr), indices, axis)


@forward(np.take_along_axis)
def take_along_axis(z, arr, indices, axis=-1):
    d[z] = np.take_along_axis(d[arr], indices, axis)


@reverse(np.split, np.array_split)
def split(z, ary, indices_or_sections, axis=0):
    d[ary] = adn.split_adjoint(d[z], z, axis)


@forward(np.split)
def split(z, ary, indices_or_sections, axis=0):
    d[z] = np.split(d[ary], indices_or_sections, axis)


@forward(np.array_split)
def array_split(z, ary, indices_or_sections, axis=0):
    d[z] = np.array_split(d[ary], indices_or_sections, axis)


@reverse(np.hsplit)
def hsplit(z, ary, indices_or_sections):
    d[ary] = adn.split_adjoint(d[z], z, "h")


@forward(np.hsplit)
def hsplit(z, ary, indices_or_sections):
    d[z] = np.hsplit(d[ary], indices_or_sections)


@reverse(np.vsplit)
def vsplit(z, ary, indices_or_sections):
    d[ary] = adn.split_adjoint(d[z], z, 0)


@forward(np.vsplit)
def vsplit(z, ary, indices_or_sections):
    d[z] = np.vsplit(d[ary], indices_or_sections)


@reverse(np.dsplit)
def dsplit(z, ary, indices_or_sections):
    d[ary] = adn.split_adjoint(d[z], z, 2)


@forward(np.dsplit)
def dsplit(z, ary, indices_or_sections):
    d[z] = np.dsplit(d[ary], indices_or_sections)


@reverse(np.hstack)
def hstack(z, tup, *, dtype=None, casting="same_kind"):
    d[tup] = adn.stack_like_split(d[z], tup, "h")


@forward(np.hstack)
def hstack(z, tup, *, dtype=None, casting="same_kind"):
    d[z] = np.hstack(d[tup])


@reverse(np.vstack)
def vstack(z, tup, *, dtype=None, casting="same_kind"):
    d[tup] = adn.stack_like_split(d[z], tup, "v")


@forward(np.vstack)
def vstack(z, tup, *, dtype=None, casting="same_kind"):
    d[z] = np.vstack(d[tup])


@reverse(np.dstack)
def dstack(z, tup):
    d[tup] = adn.stack_like_split(d[z], tup, "d")


@forward(np.dstack)
def dstack(z, tup):
    d[z] = np.dstack(d[tup])


@reverse(np.column_stack)
def column_stack(z, tup):
    d[tup] = adn.stack_like_split(d[z], tup, "col")


@forward(np.column_stack)
def column_stack(z, tup):
    d[z] = np.column_stack(d[tup])


@reverse(optional(np, "row_stack"))
def row_stack(z, tup, *, dtype=None, casting="same_kind"):
    d[tup] = adn.stack_like_split(d[z], tup, "v")


@forward(optional(np, "row_stack"))
def row_stack(z, tup, *, dtype=None, casting="same_kind"):
    d[z] = np.vstack(d[tup])


@reverse(np.append)
def append(z, arr, values, axis=None):
    d[arr] = adn.append_adjoint(d[z], arr, values, axis, 0)
    d[values] = adn.append_adjoint(d[z], arr, values, axis, 1)


@forward(np.append)
def append(z, arr, values, axis=None):
    d[z] = np.append(ad.zero_or(d[arr], arr), ad.zero_or(d[values], values), axis)


@reverse(np.select)
def select(z, condlist, choicelist, default=0):
    d[choicelist] = adn.select_adjoint(d[z], condlist, choicelist)
    d[default] = ad.unbroadcast(d[z] * adn.select_default_mask(condlist, z), default)


@forward(np.select)
def select(z, condlist, choicelist, default=0):
    d[z] = np.select(condlist, ad.zero_or(d[choicelist], choicelist),
                     ad.zero_or(d[default], default))


@reverse(np.insert)
def insert(z, arr, obj, values, axis=None):
    d[arr] = adn.insert_adjoint(d[z], arr, obj, values, axis, 0)
    d[values] = adn.insert_adjoint(d[z], arr, obj, values, axis, 1)


@forward(np.insert)
def insert(z, arr, obj, values, axis=None):
    d[z] = np.insert(ad.zero_or(d[arr], arr), obj, ad.zero_or(d[values], values), axis)


@reverse(np.delete)
def delete(z, arr, obj, axis=None):
    d[arr] = adn.delete_adjoint(d[z], arr, obj, axis)


@forward(np.delete)
def delete(z, arr, obj, axis=None):
    d[z] = np.delete(d[arr], obj, axis)


@reverse(np.block)
def block(z, arrays):
    d[arrays] = adn.block_adjoint(d[z], arrays)


@forward(np.block)
def block(z, arrays):
    d[z] = np.block(d[arrays])


@reverse(optional(np, "unstack"))
def unstack(z, x, *, axis=0):
    d[x] = adn.unstack_adjoint(d[z], z, axis)


@forward(optional(np, "unstack"))
def unstack(z, x, *, axis=0):
    d[z] = np.unstack(d[x], axis=axis)


_MESHGRID_HINT = (" (the derivative of np.meshgrid takes at most 8 arrays): build the grid "
                  "with broadcasting instead (x[:, None, None] ...)")


@reverse(np.meshgrid)
def meshgrid(z, x0, x1=None, x2=None, x3=None, x4=None, x5=None, x6=None, x7=None, *,
             copy=True, sparse=False, indexing="xy"):
    d[x0] = adn.meshgrid_adjoint(d[z], z, x0, 0, indexing)
    d[x1] = adn.meshgrid_adjoint(d[z], z, x1, 1, indexing)
    d[x2] = adn.meshgrid_adjoint(d[z], z, x2, 2, indexing)
    d[x3] = adn.meshgrid_adjoint(d[z], z, x3, 3, indexing)
    d[x4] = adn.meshgrid_adjoint(d[z], z, x4, 4, indexing)
    d[x5] = adn.meshgrid_adjoint(d[z], z, x5, 5, indexing)
    d[x6] = adn.meshgrid_adjoint(d[z], z, x6, 6, indexing)
    d[x7] = adn.meshgrid_adjoint(d[z], z, x7, 7, indexing)


meshgrid.__ad_bind_hint__ = _MESHGRID_HINT


@forward(np.meshgrid)
def meshgrid(z, x0, x1=None, x2=None, x3=None, x4=None, x5=None, x6=None, x7=None, *,
             copy=True, sparse=False, indexing="xy"):
    d[z] = adn.meshgrid_tangent(z, indexing, d[x0], d[x1], d[x2], d[x3], d[x4], d[x5],
                                d[x6], d[x7])


@forward(adn.meshgrid_tangent)
def meshgrid_tangent(t, z, indexing, t0=0.0, t1=0.0, t2=0.0, t3=0.0, t4=0.0, t5=0.0, t6=0.0,
                     t7=0.0):
    # linear in the tangents t0..t7; z gives only the shapes
    d[t] = adn.meshgrid_tangent(z, indexing, d[t0], d[t1], d[t2], d[t3], d[t4], d[t5],
                                d[t6], d[t7])


meshgrid.__ad_bind_hint__ = _MESHGRID_HINT


@reverse(optional(np, "astype"))
def astype(z, x, dtype, *, copy=True, device=None):
    d[x] = np.asarray(adn.match_complex(ad.through_cast(d[z], z), x), dtype=np.result_type(x))


@forward(optional(np, "astype"))
def astype(z, x, dtype, *, copy=True, device=None):
    d[z] = ad.through_cast(np.asarray(d[x], dtype=adn.tangent_dtype(z)), z)


@reverse(np.full)
def full(z, shape, fill_value, dtype=None, order="C"):
    d[fill_value] = ad.unbroadcast(d[z], fill_value)


@forward(np.full)
def full(z, shape, fill_value, dtype=None, order="C"):
    d[z] = np.full(np.shape(z), d[fill_value], dtype=adn.tangent_dtype(z))


@reverse(np.linspace)
def linspace(z, start, stop, num=50, endpoint=True, dtype=None, axis=0):
    d[start] = ad.unbroadcast(np.sum(d[z] * (1.0 - adn.linspace_t(z, num, endpoint, axis)),
                                     axis=axis), start)
    d[stop] = ad.unbroadcast(np.sum(d[z] * adn.linspace_t(z, num, endpoint, axis), axis=axis), stop)


@forward(np.linspace)
def linspace(z, start, stop, num=50, endpoint=True, dtype=None, axis=0):
    d[z] = ad.like(np.expand_dims(d[start], axis) * (1.0 - adn.linspace_t(z, num, endpoint, axis))
                   + np.expand_dims(d[stop], axis) * adn.linspace_t(z, num, endpoint, axis), z)


# --- products ----------------------------------------------------------------

@reverse(np.tensordot)
def tensordot(z, a, b, axes=2):
    d[a] = adn.tensordot_vjp_a(d[z], a, b, axes)
    d[b] = adn.tensordot_vjp_b(d[z], a, b, axes)


@forward(np.tensordot)
def tensordot(z, a, b, axes=2):
    d[z] = np.tensordot(d[a], b, axes) + np.tensordot(a, d[b], axes)


@reverse(np.inner)
def inner(z, a, b):
    d[a] = adn.tensordot_vjp_a(d[z], a, b, adn.inner_axes(a, b))
    d[b] = adn.tensordot_vjp_b(d[z], a, b, adn.inner_axes(a, b))


@forward(np.inner)
def inner(z, a, b):
    d[z] = np.inner(d[a], b) + np.inner(a, d[b])


@reverse(np.kron)
def kron(z, a, b):
    d[a] = adn.kron_vjp_a(d[z], a, b)
    d[b] = adn.kron_vjp_b(d[z], a, b)


@forward(np.kron)
def kron(z, a, b):
    d[z] = np.kron(d[a], b) + np.kron(a, d[b])


@reverse(np.cross)
def cross(z, a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    d[a] = ad.unbroadcast(np.cross(b, d[z], axisb, axisc, axisa, axis), a)
    d[b] = ad.unbroadcast(np.cross(d[z], a, axisc, axisa, axisb, axis), b)


@forward(np.cross)
def cross(z, a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    d[z] = (np.cross(d[a], b, axisa, axisb, axisc, axis)
            + np.cross(a, d[b], axisa, axisb, axisc, axis))


_EINSUM_HINT = (f" (the derivative of np.einsum takes at most {adn.EINSUM_ARGS - 1} "
                f"operands with a subscripts string, {adn.EINSUM_ARGS // 2 - 1} in the "
                f"(operand, sublist) form): split the contraction into two einsum calls")


@reverse(np.einsum)
def einsum(z, a0, a1=None, a2=None, a3=None, a4=None, a5=None, a6=None, a7=None, a8=None,
           a9=None, a10=None, a11=None, a12=None, a13=None, a14=None, a15=None, *, out=None,
           optimize=False):
    d[a0] = adn.einsum_vjp(d[z], 0, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12,
                           a13, a14, a15, optimize=optimize)
    d[a1] = adn.einsum_vjp(d[z], 1, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12,
                           a13, a14, a15, optimize=optimize)
    d[a2] = adn.einsum_vjp(d[z], 2, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12,
                           a13, a14, a15, optimize=optimize)
    d[a3] = adn.einsum_vjp(d[z], 3, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12,
                           a13, a14, a15, optimize=optimize)
    d[a4] = adn.einsum_vjp(d[z], 4, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12,
                           a13, a14, a15, optimize=optimize)
    d[a5] = adn.einsum_vjp(d[z], 5, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12,
                           a13, a14, a15, optimize=optimize)
    d[a6] = adn.einsum_vjp(d[z], 6, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12,
                           a13, a14, a15, optimize=optimize)
    d[a7] = adn.einsum_vjp(d[z], 7, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12,
                           a13, a14, a15, optimize=optimize)
    d[a8] = adn.einsum_vjp(d[z], 8, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12,
                           a13, a14, a15, optimize=optimize)
    d[a9] = adn.einsum_vjp(d[z], 9, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12,
                           a13, a14, a15, optimize=optimize)
    d[a10] = adn.einsum_vjp(d[z], 10, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12,
                           a13, a14, a15, optimize=optimize)
    d[a11] = adn.einsum_vjp(d[z], 11, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12,
                           a13, a14, a15, optimize=optimize)
    d[a12] = adn.einsum_vjp(d[z], 12, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12,
                           a13, a14, a15, optimize=optimize)
    d[a13] = adn.einsum_vjp(d[z], 13, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12,
                           a13, a14, a15, optimize=optimize)
    d[a14] = adn.einsum_vjp(d[z], 14, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12,
                           a13, a14, a15, optimize=optimize)
    d[a15] = adn.einsum_vjp(d[z], 15, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12,
                           a13, a14, a15, optimize=optimize)


einsum.__ad_bind_hint__ = _EINSUM_HINT


# (adn.einsum, the call the forward rule emits, is multilinear in its
# operands as np.einsum is: the same rule, so tangent code is
# differentiated again to any order)
@forward(np.einsum, adn.einsum)
def einsum(z, a0, a1=None, a2=None, a3=None, a4=None, a5=None, a6=None, a7=None, a8=None,
           a9=None, a10=None, a11=None, a12=None, a13=None, a14=None, a15=None, *, out=None,
           optimize=False):
    d[z] = (adn.einsum(d[a0], a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14,
                       a15, optimize=optimize)
            + adn.einsum(a0, d[a1], a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14,
                       a15, optimize=optimize)
            + adn.einsum(a0, a1, d[a2], a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14,
                       a15, optimize=optimize)
            + adn.einsum(a0, a1, a2, d[a3], a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14,
                       a15, optimize=optimize)
            + adn.einsum(a0, a1, a2, a3, d[a4], a5, a6, a7, a8, a9, a10, a11, a12, a13, a14,
                       a15, optimize=optimize)
            + adn.einsum(a0, a1, a2, a3, a4, d[a5], a6, a7, a8, a9, a10, a11, a12, a13, a14,
                       a15, optimize=optimize)
            + adn.einsum(a0, a1, a2, a3, a4, a5, d[a6], a7, a8, a9, a10, a11, a12, a13, a14,
                       a15, optimize=optimize)
            + adn.einsum(a0, a1, a2, a3, a4, a5, a6, d[a7], a8, a9, a10, a11, a12, a13, a14,
                       a15, optimize=optimize)
            + adn.einsum(a0, a1, a2, a3, a4, a5, a6, a7, d[a8], a9, a10, a11, a12, a13, a14,
                       a15, optimize=optimize)
            + adn.einsum(a0, a1, a2, a3, a4, a5, a6, a7, a8, d[a9], a10, a11, a12, a13, a14,
                       a15, optimize=optimize)
            + adn.einsum(a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, d[a10], a11, a12, a13, a14,
                       a15, optimize=optimize)
            + adn.einsum(a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, d[a11], a12, a13, a14,
                       a15, optimize=optimize)
            + adn.einsum(a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, d[a12], a13, a14,
                       a15, optimize=optimize)
            + adn.einsum(a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, d[a13], a14,
                       a15, optimize=optimize)
            + adn.einsum(a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, d[a14],
                       a15, optimize=optimize)
            + adn.einsum(a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14,
                       d[a15], optimize=optimize))


einsum.__ad_bind_hint__ = _EINSUM_HINT


@reverse(optional(np, "vecdot"), optional(np, "linalg.vecdot"))
def vecdot(z, x1, x2, *, axis=-1):
    d[x1] = ad.unbroadcast(np.conj(np.expand_dims(d[z], axis) * x2), x1)
    d[x2] = ad.unbroadcast(np.expand_dims(d[z], axis) * np.conj(x1), x2)


@forward(optional(np, "vecdot"), optional(np, "linalg.vecdot"))
def vecdot(z, x1, x2, *, axis=-1):
    d[z] = np.vecdot(d[x1], x2, axis=axis) + np.vecdot(x1, d[x2], axis=axis)


@reverse(optional(np, "matvec"))
def matvec(z, x1, x2):
    d[x1] = ad.unbroadcast(np.expand_dims(d[z], -1) * np.expand_dims(x2, -2), x1)
    d[x2] = ad.unbroadcast(np.matvec(np.swapaxes(x1, -1, -2), d[z]), x2)


@forward(optional(np, "matvec"))
def matvec(z, x1, x2):
    d[z] = np.matvec(d[x1], x2) + np.matvec(x1, d[x2])


@reverse(optional(np, "vecmat"))
def vecmat(z, x1, x2):
    d[x1] = ad.unbroadcast(np.conj(np.matvec(x2, d[z])), x1)
    d[x2] = ad.unbroadcast(np.expand_dims(np.conj(x1), -1) * np.expand_dims(d[z], -2), x2)


@forward(optional(np, "vecmat"))
def vecmat(z, x1, x2):
    d[z] = np.vecmat(d[x1], x2) + np.vecmat(x1, d[x2])


@reverse(np.vdot)
def vdot(z, a, b):
    d[a] = np.reshape(np.conj(d[z] * np.ravel(b)), np.shape(a))
    d[b] = np.reshape(d[z] * np.conj(np.ravel(a)), np.shape(b))


@forward(np.vdot)
def vdot(z, a, b):
    d[z] = np.vdot(d[a], b) + np.vdot(a, d[b])


# --- polynomials (coefficients highest power first) --------------------------

@reverse(np.polyval)
def polyval(z, p, x):
    pk = np.abs(np.arange(len(p)) - (len(p) - 1))
    xk = np.expand_dims(x, -1) ** pk
    d[p] = np.sum(np.expand_dims(d[z], -1) * xk, axis=tuple(range(np.ndim(x))))
    d[x] = d[z] * np.polyval(np.polyder(p), x)


@forward(np.polyval)
def polyval(z, p, x):
    d[z] = np.polyval(d[p], x) + d[x] * np.polyval(np.polyder(p), x)


@reverse(np.polyder)
def polyder(z, p, m=1):
    # linear in p: z[i] = p[i] * c[i] with c = polyder(ones), p's last m dropped
    d[p] = np.concatenate([d[z] * np.polyder(np.ones(len(p)), m), np.zeros(m)])[:len(p)]


@forward(np.polyder)
def polyder(z, p, m=1):
    d[z] = np.polyder(d[p], m)


@reverse(np.vander)
def vander(z, x, N=None, increasing=False):
    vk = np.abs(np.arange(z.shape[1]) - (0 if increasing else z.shape[1] - 1))
    d[x] = np.sum(d[z] * vk * np.expand_dims(x, 1) ** np.maximum(vk - 1, 0), axis=1)


@forward(np.vander)
def vander(z, x, N=None, increasing=False):
    vk = np.abs(np.arange(z.shape[1]) - (0 if increasing else z.shape[1] - 1))
    d[z] = np.expand_dims(d[x], 1) * vk * np.expand_dims(x, 1) ** np.maximum(vk - 1, 0)


# --- forward rules of the helpers that reverse rules call (for hessian) -----

@forward(adn.match_complex)
def _match_complex(z, g, x):
    d[z] = adn.match_complex(d[g], x)


@forward(adn.cot)
def _cot(r, g, z, i):
    d[r] = adn.cot(d[g], z, i)


@forward(adn.diag_adjoint)
def _diag_adjoint(z, g, shape, k=0):
    d[z] = adn.diag_adjoint(d[g], shape, k)


@forward(adn.diagonal_adjoint)
def _diagonal_adjoint(z, g, shape, offset=0, axis1=0, axis2=1):
    d[z] = adn.diagonal_adjoint(d[g], shape, offset, axis1, axis2)


@forward(adn.trace_adjoint)
def _trace_adjoint(z, g, shape, offset=0, axis1=0, axis2=1):
    d[z] = adn.trace_adjoint(d[g], shape, offset, axis1, axis2)


@forward(adn.diff_adjoint)
def _diff_adjoint(z, g, n=1, axis=-1):
    d[z] = adn.diff_adjoint(d[g], n, axis)


@forward(adn.gradient_adjoint)
def _gradient_adjoint(z, g, shape, axis=None, edge_order=1):
    d[z] = adn.gradient_adjoint(d[g], shape, axis, edge_order)


@forward(adn.repeat_adjoint)
def _repeat_adjoint(z, g, shape, repeats, axis=None):
    d[z] = adn.repeat_adjoint(d[g], shape, repeats, axis)


@forward(adn.tile_adjoint)
def _tile_adjoint(z, g, shape, reps):
    d[z] = adn.tile_adjoint(d[g], shape, reps)


@forward(adn.pad_adjoint)
def _pad_adjoint(z, g, shape, pad_width, mode="constant"):
    d[z] = adn.pad_adjoint(d[g], shape, pad_width, mode)


@forward(adn.unpermute)
def _unpermute(z, g, perm, axis, shape):
    d[z] = adn.unpermute(d[g], perm, axis, shape)


@forward(adn.take_adjoint)
def _take_adjoint(z, g, shape, indices, axis=None, mode="raise"):
    d[z] = adn.take_adjoint(d[g], shape, indices, axis, mode)


@forward(adn.take_along_axis_adjoint)
def _take_along_axis_adjoint(z, g, shape, indices, axis=-1):
    d[z] = adn.take_along_axis_adjoint(d[g], shape, indices, axis)


@forward(adn.split_adjoint)
def _split_adjoint(r, g, z, axis):
    d[r] = adn.split_adjoint(d[g], z, axis)


@forward(adn.stack_like_split)
def _stack_like_split(z, g, arrays, kind):
    d[z] = adn.stack_like_split(d[g], arrays, kind)


@forward(adn.cumprod_grad)
def _cumprod_grad(r, g, a, z, axis=None):
    d[r] = adn.cumprod_grad(d[g], a, z, axis) + adn.cumprod_grad_tangent(g, a, z, d[a], d[z], axis)


@forward(adn.bcast_weights)
def _bcast_weights(z, w, a, axis=None):
    d[z] = adn.bcast_weights(d[w], a, axis)


@forward(adn.unbcast_weights)
def _unbcast_weights(z, g, w, axis=None):
    d[z] = adn.unbcast_weights(d[g], w, axis)


@forward(adn.quantile_vjp)
def _quantile_vjp(z, g, a, q, axis=None, keepdims=False, method="linear"):
    d[z] = (adn.quantile_vjp(d[g], a, q, axis, keepdims, method)
            + adn.quantile_vjp_dq(g, a, q, d[q], axis, keepdims, method))


@forward(adn.quantile_vjp_dq)
def _quantile_vjp_dq(z, g, a, q, dq, axis=None, keepdims=False, method="linear"):
    # g * dq * (n - 1) scattered to the two order statistics q interpolates:
    # bilinear in (g, dq); the order (a) and the knots (q) are piecewise
    # constant (exact except at ties and where q is a knot)
    d[z] = (adn.quantile_vjp_dq(d[g], a, q, dq, axis, keepdims, method)
            + adn.quantile_vjp_dq(g, a, q, d[dq], axis, keepdims, method))


@forward(adn.lead_sum)
def _lead_sum(z, x, q):
    d[z] = adn.lead_sum(d[x], q)


@forward(adn.lead_expand)
def _lead_expand(r, dq, z):
    d[r] = adn.lead_expand(d[dq], z)


@forward(adn.scatter_add)
def _scatter_add(z, values, idx, like):
    d[z] = adn.scatter_add(d[values], idx, like)


@forward(adn.interp_edges)
def _interp_edges(z, g, x, xp, fp, left=None, right=None):
    d[z] = adn.interp_edges(d[g], x, xp, fp, left, right)


# einsum_vjp is multilinear in the cotangent and the operands other than
# k: a term per slot, that slot's tangent in place of the operand
# (einsum_vjp_at keeps the substituted slots in `at`, so the terms of
# its own derivative are einsum_vjp_at again: any order)
@forward(adn.einsum_vjp)
def _einsum_vjp(z, g, k, a0, a1=None, a2=None, a3=None, a4=None, a5=None, a6=None, a7=None,
                a8=None, a9=None, a10=None, a11=None, a12=None, a13=None, a14=None,
                a15=None, *, optimize=False):
    d[z] = (adn.einsum_vjp(d[g], k, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12,
                a13, a14, a15, optimize=optimize)
            + adn.einsum_vjp_at(g, k, (0,), d[a0], a1, a2, a3, a4, a5, a6, a7, a8, a9, a10,
                a11, a12, a13, a14, a15, optimize=optimize)
            + adn.einsum_vjp_at(g, k, (1,), a0, d[a1], a2, a3, a4, a5, a6, a7, a8, a9, a10,
                a11, a12, a13, a14, a15, optimize=optimize)
            + adn.einsum_vjp_at(g, k, (2,), a0, a1, d[a2], a3, a4, a5, a6, a7, a8, a9, a10,
                a11, a12, a13, a14, a15, optimize=optimize)
            + adn.einsum_vjp_at(g, k, (3,), a0, a1, a2, d[a3], a4, a5, a6, a7, a8, a9, a10,
                a11, a12, a13, a14, a15, optimize=optimize)
            + adn.einsum_vjp_at(g, k, (4,), a0, a1, a2, a3, d[a4], a5, a6, a7, a8, a9, a10,
                a11, a12, a13, a14, a15, optimize=optimize)
            + adn.einsum_vjp_at(g, k, (5,), a0, a1, a2, a3, a4, d[a5], a6, a7, a8, a9, a10,
                a11, a12, a13, a14, a15, optimize=optimize)
            + adn.einsum_vjp_at(g, k, (6,), a0, a1, a2, a3, a4, a5, d[a6], a7, a8, a9, a10,
                a11, a12, a13, a14, a15, optimize=optimize)
            + adn.einsum_vjp_at(g, k, (7,), a0, a1, a2, a3, a4, a5, a6, d[a7], a8, a9, a10,
                a11, a12, a13, a14, a15, optimize=optimize)
            + adn.einsum_vjp_at(g, k, (8,), a0, a1, a2, a3, a4, a5, a6, a7, d[a8], a9, a10,
                a11, a12, a13, a14, a15, optimize=optimize)
            + adn.einsum_vjp_at(g, k, (9,), a0, a1, a2, a3, a4, a5, a6, a7, a8, d[a9], a10,
                a11, a12, a13, a14, a15, optimize=optimize)
            + adn.einsum_vjp_at(g, k, (10,), a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, d[a10],
                a11, a12, a13, a14, a15, optimize=optimize)
            + adn.einsum_vjp_at(g, k, (11,), a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10,
                d[a11], a12, a13, a14, a15, optimize=optimize)
            + adn.einsum_vjp_at(g, k, (12,), a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10,
                a11, d[a12], a13, a14, a15, optimize=optimize)
            + adn.einsum_vjp_at(g, k, (13,), a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10,
                a11, a12, d[a13], a14, a15, optimize=optimize)
            + adn.einsum_vjp_at(g, k, (14,), a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10,
                a11, a12, a13, d[a14], a15, optimize=optimize)
            + adn.einsum_vjp_at(g, k, (15,), a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10,
                a11, a12, a13, a14, d[a15], optimize=optimize))


@forward(adn.einsum_vjp_at)
def _einsum_vjp_at(z, g, k, at, a0, a1=None, a2=None, a3=None, a4=None, a5=None, a6=None, a7=None,
                   a8=None, a9=None, a10=None, a11=None, a12=None, a13=None, a14=None,
                   a15=None, *, optimize=False):
    d[z] = (adn.einsum_vjp_at(d[g], k, at, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10,
                a11, a12, a13, a14, a15, optimize=optimize)
            + adn.einsum_vjp_at(g, k, at + (0,), d[a0], a1, a2, a3, a4, a5, a6, a7, a8, a9,
                a10, a11, a12, a13, a14, a15, optimize=optimize)
            + adn.einsum_vjp_at(g, k, at + (1,), a0, d[a1], a2, a3, a4, a5, a6, a7, a8, a9,
                a10, a11, a12, a13, a14, a15, optimize=optimize)
            + adn.einsum_vjp_at(g, k, at + (2,), a0, a1, d[a2], a3, a4, a5, a6, a7, a8, a9,
                a10, a11, a12, a13, a14, a15, optimize=optimize)
            + adn.einsum_vjp_at(g, k, at + (3,), a0, a1, a2, d[a3], a4, a5, a6, a7, a8, a9,
                a10, a11, a12, a13, a14, a15, optimize=optimize)
            + adn.einsum_vjp_at(g, k, at + (4,), a0, a1, a2, a3, d[a4], a5, a6, a7, a8, a9,
                a10, a11, a12, a13, a14, a15, optimize=optimize)
            + adn.einsum_vjp_at(g, k, at + (5,), a0, a1, a2, a3, a4, d[a5], a6, a7, a8, a9,
                a10, a11, a12, a13, a14, a15, optimize=optimize)
            + adn.einsum_vjp_at(g, k, at + (6,), a0, a1, a2, a3, a4, a5, d[a6], a7, a8, a9,
                a10, a11, a12, a13, a14, a15, optimize=optimize)
            + adn.einsum_vjp_at(g, k, at + (7,), a0, a1, a2, a3, a4, a5, a6, d[a7], a8, a9,
                a10, a11, a12, a13, a14, a15, optimize=optimize)
            + adn.einsum_vjp_at(g, k, at + (8,), a0, a1, a2, a3, a4, a5, a6, a7, d[a8], a9,
                a10, a11, a12, a13, a14, a15, optimize=optimize)
            + adn.einsum_vjp_at(g, k, at + (9,), a0, a1, a2, a3, a4, a5, a6, a7, a8, d[a9],
                a10, a11, a12, a13, a14, a15, optimize=optimize)
            + adn.einsum_vjp_at(g, k, at + (10,), a0, a1, a2, a3, a4, a5, a6, a7, a8, a9,
                d[a10], a11, a12, a13, a14, a15, optimize=optimize)
            + adn.einsum_vjp_at(g, k, at + (11,), a0, a1, a2, a3, a4, a5, a6, a7, a8, a9,
                a10, d[a11], a12, a13, a14, a15, optimize=optimize)
            + adn.einsum_vjp_at(g, k, at + (12,), a0, a1, a2, a3, a4, a5, a6, a7, a8, a9,
                a10, a11, d[a12], a13, a14, a15, optimize=optimize)
            + adn.einsum_vjp_at(g, k, at + (13,), a0, a1, a2, a3, a4, a5, a6, a7, a8, a9,
                a10, a11, a12, d[a13], a14, a15, optimize=optimize)
            + adn.einsum_vjp_at(g, k, at + (14,), a0, a1, a2, a3, a4, a5, a6, a7, a8, a9,
                a10, a11, a12, a13, d[a14], a15, optimize=optimize)
            + adn.einsum_vjp_at(g, k, at + (15,), a0, a1, a2, a3, a4, a5, a6, a7, a8, a9,
                a10, a11, a12, a13, a14, d[a15], optimize=optimize))


@forward(adn.tensordot_vjp_a)
def _tensordot_vjp_a(z, g, a, b, axes=2):
    d[z] = adn.tensordot_vjp_a(d[g], a, b, axes) + adn.tensordot_vjp_a(g, a, d[b], axes)


@forward(adn.tensordot_vjp_b)
def _tensordot_vjp_b(z, g, a, b, axes=2):
    d[z] = adn.tensordot_vjp_b(d[g], a, b, axes) + adn.tensordot_vjp_b(g, d[a], b, axes)


@forward(adn.dot_vjp_a)
def _dot_vjp_a(z, g, a, b):
    d[z] = adn.dot_vjp_a(d[g], a, b) + adn.dot_vjp_a(g, a, d[b])


@forward(adn.dot_vjp_b)
def _dot_vjp_b(z, g, a, b):
    d[z] = adn.dot_vjp_b(d[g], a, b) + adn.dot_vjp_b(g, d[a], b)


@forward(adn.kron_vjp_a)
def _kron_vjp_a(z, g, a, b):
    d[z] = adn.kron_vjp_a(d[g], a, b) + adn.kron_vjp_a(g, a, d[b])


@forward(adn.kron_vjp_b)
def _kron_vjp_b(z, g, a, b):
    d[z] = adn.kron_vjp_b(d[g], a, b) + adn.kron_vjp_b(g, d[a], b)


@forward(adn.abs_dir)
def _abs_dir(r, x):
    d[r] = adn.abs_dir_tangent(x, d[x])


@forward(adn.abs_dir_tangent)
def _abs_dir_tangent(t, x, dx):
    # t = (conj(dx) - u Re(u dx)) / |x| with u = abs_dir(x) (0 where x = 0;
    # 0 for real x), differentiated with the product rule and
    # d|x| = Re(u d[x]); written with functions that have forward rules of
    # their own (this one included), so every order differentiates it
    u = adn.abs_dir(x)
    du = adn.abs_dir_tangent(x, d[x])
    a = np.abs(x)
    d[t] = (np.conj(d[dx]) - du * np.real(u * dx) - u * np.real(du * dx + u * d[dx])
            - t * np.real(u * d[x])) / np.where(a == 0, 1.0, a) * (a != 0)


@forward(adn.sign_vjp)
def _sign_vjp(r, g, x):
    d[r] = adn.sign_vjp_tangent(g, x, d[g], d[x])


@forward(adn.sign_vjp_tangent)
def _sign_vjp_tangent(t, g, x, dg, dx):
    # t = (A dg + conj(B dg) + A'[dx] g + conj(B'[dx] g)) * (x != 0): linear in
    # (g, dg), in dx through A', B'; x moving gives A'[d[x]] dg (a
    # sign_vjp_tangent again) and the curvature A''[dx, d[x]] g (all zero
    # for real x)
    d[t] = (adn.sign_vjp_tangent(d[g], x, d[dg], dx) + adn.sign_vjp_tangent(dg, x, 0.0, d[x])
            + adn.sign_vjp_tangent(g, x, 0.0, d[dx]) + adn.sign_vjp_curvature(g, x, dx, d[x]))


@forward(adn.append_adjoint)
def _append_adjoint(z, g, arr, values, axis, which):
    d[z] = adn.append_adjoint(d[g], arr, values, axis, which)


@forward(adn.select_adjoint)
def _select_adjoint(z, g, condlist, choicelist):
    d[z] = adn.select_adjoint(d[g], condlist, choicelist)


nondifferentiable(adn.select_default_mask)


@forward(adn.insert_adjoint)
def _insert_adjoint(r, g, arr, obj, values, axis, which):
    d[r] = adn.insert_adjoint(d[g], arr, obj, values, axis, which)


@forward(adn.delete_adjoint)
def _delete_adjoint(r, g, arr, obj, axis):
    d[r] = adn.delete_adjoint(d[g], arr, obj, axis)


@forward(adn.block_adjoint)
def _block_adjoint(r, g, arrays):
    d[r] = adn.block_adjoint(d[g], arrays)


@forward(adn.unstack_adjoint)
def _unstack_adjoint(r, g, z, axis):
    d[r] = adn.unstack_adjoint(d[g], z, axis)


@forward(adn.meshgrid_adjoint)
def _meshgrid_adjoint(r, g, z, x, k, indexing="xy"):
    d[r] = adn.meshgrid_adjoint(d[g], z, x, k, indexing)


# helpers that only compute indices, masks, shapes or constants
nondifferentiable(adn.rollaxis_dest, adn.pad_mask, adn.extremum_mask, adn.nan_count,
                  adn.sort_perm, adn.quantile_knot, adn.interp_index, adn.interp_inside,
                  adn.inner_axes, adn.dot_axes, adn.zeros_f, adn.linspace_t, adn.tangent_dtype)
