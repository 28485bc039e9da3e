"""Rules of NumPy functions that were once declared non-differentiable but
whose results do carry a derivative in some arguments: values picked out of
an argument (np.unique, union1d, setdiff1d, setxor1d), weighted counts
(bincount, histogram), fill values and grids (full_like, arange, logspace,
geomspace, fftfreq's spacing), heaviside's value at 0.

Arguments that only give a shape or select a piece (full_like's ``a``,
heaviside's ``x1``, arange's ``stop``) have a derivative that is zero almost
everywhere: the rules name them in ``__ad_nondiff__`` and give none.

Functions whose derivative needs what generated code cannot see (the noise a
random generator drew, which elements two arrays share) are ``refused``: a
differentiated argument is a CompileError, constant arguments run as written.
"""
import numpy as np

from ad_compiler import runtime as ad
from ad_compiler import runtime_numpy as adn
from ad_compiler import runtime_sets as adset
from ad_compiler.registry import forward, nondifferentiable, optional, refused, reverse

d = None  # the d[x] notation of templates; never evaluated


def _nondiff_args(*params):
    """Mark template parameters whose derivative is zero almost everywhere."""
    def deco(template):
        template.__ad_nondiff__ = params
        return template
    return deco


# --- fill values and grids -------------------------------------------------------

@reverse(np.full_like)
@_nondiff_args("a")
def full_like(z, a, fill_value, dtype=None, order="K", subok=True, shape=None, *,
              device=None):
    d[fill_value] = ad.unbroadcast(d[z], fill_value)


@forward(np.full_like)
@_nondiff_args("a")
def full_like(z, a, fill_value, dtype=None, order="K", subok=True, shape=None, *,
              device=None):
    d[z] = np.full(np.shape(z), d[fill_value], dtype=adn.tangent_dtype(z))


# np.arange(start, stop, step) is start + i * step (its length, set by stop,
# is constant almost everywhere); np.arange(stop) has no derivative.
@reverse(np.arange)
@_nondiff_args("stop")
def arange(z, start, stop=None, step=None, dtype=None, *, device=None, like=None):
    d[start] = np.zeros_like(start, dtype=float) if stop is None else np.sum(d[z])
    d[step] = np.sum(d[z] * np.arange(np.size(z)))


@forward(np.arange)
@_nondiff_args("stop")
def arange(z, start, stop=None, step=None, dtype=None, *, device=None, like=None):
    d[z] = np.zeros(np.shape(z)) if stop is None else ad.like(
        d[start] + d[step] * np.arange(np.size(z)), z)


@reverse(np.logspace)
def logspace(z, start, stop, num=50, endpoint=True, base=10.0, dtype=None, axis=0):
    gy = d[z] * z * np.log(np.expand_dims(base, axis))
    t = adn.linspace_t(z, num, endpoint, axis)
    d[start] = ad.unbroadcast(np.sum(gy * (1.0 - t), axis=axis), start)
    d[stop] = ad.unbroadcast(np.sum(gy * t, axis=axis), stop)
    d[base] = ad.unbroadcast(np.sum(d[z] * z * np.linspace(start, stop, num, endpoint, axis=axis),
                                    axis=axis) / base, base)


@forward(np.logspace)
def logspace(z, start, stop, num=50, endpoint=True, base=10.0, dtype=None, axis=0):
    t = adn.linspace_t(z, num, endpoint, axis)
    d[z] = z * ad.like(np.log(np.expand_dims(base, axis)) * (
        np.expand_dims(d[start], axis) * (1.0 - t) + np.expand_dims(d[stop], axis) * t)
        + np.linspace(start, stop, num, endpoint, axis=axis) * np.expand_dims(d[base] / base, axis),
        z)


@reverse(np.geomspace)
def geomspace(z, start, stop, num=50, endpoint=True, dtype=None, axis=0):
    t = adn.linspace_t(z, num, endpoint, axis)
    d[start] = ad.unbroadcast(np.sum(d[z] * z * (1.0 - t), axis=axis) / start, start)
    d[stop] = ad.unbroadcast(np.sum(d[z] * z * t, axis=axis) / stop, stop)


@forward(np.geomspace)
def geomspace(z, start, stop, num=50, endpoint=True, dtype=None, axis=0):
    t = adn.linspace_t(z, num, endpoint, axis)
    d[z] = z * ad.like(np.expand_dims(d[start] / start, axis) * (1.0 - t)
                       + np.expand_dims(d[stop] / stop, axis) * t, z)


# np.fft.fftfreq(n, d) is k / (n * d).  (The parameter is named ``d`` in NumPy,
# which is the template notation: the rule takes it positionally.)
@reverse(np.fft.fftfreq, np.fft.rfftfreq)
@_nondiff_args("n")
def fftfreq(z, n, spacing=1.0, /):
    d[spacing] = -np.sum(d[z] * z) / spacing


@forward(np.fft.fftfreq, np.fft.rfftfreq)
@_nondiff_args("n")
def fftfreq(z, n, spacing=1.0, /):
    d[z] = -z * (d[spacing] / spacing)


# heaviside(x1, x2) is x2 where x1 == 0 (exact zeros of constant data).
@reverse(np.heaviside)
@_nondiff_args("x1")
def heaviside(z, x1, x2):
    d[x2] = ad.unbroadcast(d[z] * (x1 == 0), x2)


@forward(np.heaviside)
@_nondiff_args("x1")
def heaviside(z, x1, x2):
    d[z] = ad.like(d[x2] * (x1 == 0), z)


# --- values picked out of the arguments -------------------------------------------

_UNIQUE_STATIC = {"axis": None}


@reverse(np.unique, static=_UNIQUE_STATIC)
def unique(z, ar, return_index=False, return_inverse=False, return_counts=False,
           axis=None, *, equal_nan=True, sorted=True):
    d[ar] = adset.put(adset.values_cot(d[z], z), adset.value_index(adset.values(z), ar), ar)


@forward(np.unique, static=_UNIQUE_STATIC)
def unique(z, ar, return_index=False, return_inverse=False, return_counts=False,
           axis=None, *, equal_nan=True, sorted=True):
    d[z] = adset.values_tangent(
        adset.take(d[ar], 0.0, adset.value_index(adset.values(z), ar), ar), z)


@reverse(optional(np, "unique_values"), optional(np, "unique_counts"),
         optional(np, "unique_inverse"), optional(np, "unique_all"))
def unique_values(z, x):
    d[x] = adset.put(adset.values_cot(d[z], z), adset.value_index(adset.values(z), x), x)


@forward(optional(np, "unique_values"), optional(np, "unique_counts"),
         optional(np, "unique_inverse"), optional(np, "unique_all"))
def unique_values(z, x):
    d[z] = adset.values_tangent(adset.take(d[x], 0.0, adset.value_index(adset.values(z), x), x), z)


@reverse(np.union1d, np.setxor1d)
def union1d(z, ar1, ar2, assume_unique=False):
    d[ar1] = adset.put(d[z], adset.value_index(z, ar1, ar2), ar1, ar2, 0)
    d[ar2] = adset.put(d[z], adset.value_index(z, ar1, ar2), ar1, ar2, 1)


@forward(np.union1d, np.setxor1d)
def union1d(z, ar1, ar2, assume_unique=False):
    d[z] = adset.take(d[ar1], d[ar2], adset.value_index(z, ar1, ar2), ar1, ar2)


# setdiff1d's values come from ar1; ar2 only removes some of them.
@reverse(np.setdiff1d)
@_nondiff_args("ar2")
def setdiff1d(z, ar1, ar2, assume_unique=False):
    d[ar1] = adset.put(d[z], adset.value_index(z, ar1), ar1)


@forward(np.setdiff1d)
@_nondiff_args("ar2")
def setdiff1d(z, ar1, ar2, assume_unique=False):
    d[z] = adset.take(d[ar1], 0.0, adset.value_index(z, ar1), ar1)


# --- weighted counts ---------------------------------------------------------------

@reverse(np.bincount)
@_nondiff_args("x")
def bincount(z, x, weights=None, minlength=0):
    d[weights] = np.take(d[z], x)


@forward(np.bincount)
@_nondiff_args("x")
def bincount(z, x, weights=None, minlength=0):
    d[z] = adset.bincount_tangent(x, d[weights], minlength)


_HIST_STATIC = {"density": False}


@reverse(np.histogram, static=_HIST_STATIC)
def histogram(z, a, bins=10, range=None, density=None, weights=None):
    d[a] = adset.histogram_vjp(d[z], a, bins, range, weights, "a")
    d[bins] = adset.histogram_vjp(d[z], a, bins, range, weights, "bins")
    d[range] = adset.histogram_vjp(d[z], a, bins, range, weights, "range")
    d[weights] = adset.histogram_vjp(d[z], a, bins, range, weights, "weights")


@forward(np.histogram, static=_HIST_STATIC)
def histogram(z, a, bins=10, range=None, density=None, weights=None):
    d[z] = adset.histogram_jvp(z, a, bins, range, weights, d[a], d[bins], d[range], d[weights])


@reverse(np.histogram_bin_edges)
@_nondiff_args("weights")
def histogram_bin_edges(z, a, bins=10, range=None, weights=None):
    d[a] = adset.histogram_vjp(d[z], a, bins, range, weights, "a", True)
    d[bins] = adset.histogram_vjp(d[z], a, bins, range, weights, "bins", True)
    d[range] = adset.histogram_vjp(d[z], a, bins, range, weights, "range", True)


@forward(np.histogram_bin_edges)
@_nondiff_args("weights")
def histogram_bin_edges(z, a, bins=10, range=None, weights=None):
    d[z] = adset.histogram_jvp(z, a, bins, range, weights, d[a], d[bins], d[range], 0.0, True)


# --- helpers: linear in the derivative they carry, constant (almost
# everywhere) in the arguments that give indices and shapes --------------------------

nondifferentiable(adset.value_index, adset.values)


@forward(adset.values_cot)
@_nondiff_args("z")
def values_cot(r, g, z):
    d[r] = adset.values_cot(d[g], z)


@forward(adset.values_tangent)
@_nondiff_args("z")
def values_tangent(r, t, z):
    d[r] = adset.values_tangent(d[t], z)


@forward(adset.take)
def take(r, t1, t2, idx, ar1, ar2=None):
    d[r] = adset.take(d[t1], d[t2], idx, ar1, ar2)


@forward(adset.put)
def put(r, g, idx, ar1, ar2=None, part=0):
    d[r] = adset.put(d[g], idx, ar1, ar2, part)


@forward(adset.bincount_tangent)
def bincount_tangent(r, x, dweights, minlength=0):
    d[r] = adset.bincount_tangent(x, d[dweights], minlength)


@forward(adset.histogram_vjp)
def histogram_vjp(r, g, a, bins, range, weights, wrt, edges_only=False):
    d[r] = adset.histogram_vjp(d[g], a, bins, range, weights, wrt, edges_only)


@forward(adset.histogram_jvp)
def histogram_jvp(r, z, a, bins, range, weights, da, dbins, drange, dweights, edges_only=False):
    d[r] = adset.histogram_jvp(z, a, bins, range, weights, d[da], d[dbins], d[drange],
                               d[dweights], edges_only)


# --- refused: the derivative exists but generated code cannot compute it ------------

_NOT_SHARED = ("the values both arrays share (ties between them have no derivative)",
               "wrap the arguments in stop_gradient(...) if no derivative should flow, "
               "or select the values with a boolean mask: x[np.isin(x, other)]")
refused(np.intersect1d, *_NOT_SHARED, name="numpy.intersect1d")
for _name in ("histogram2d", "histogramdd"):
    refused(getattr(np, _name), "its samples or weights (no rule yet)",
            "compute the bin of each sample (np.digitize) and sum the weights with "
            "np.bincount, which is differentiated in its weights", name=f"numpy.{_name}")

# Random draws: a derivative with respect to a distribution's parameters goes
# through the drawn noise (loc + scale * noise), which generated code cannot see.
_RANDOM_HINT = ("draw parameter-free noise and transform it yourself, e.g. "
                "loc + scale * np.random.standard_normal(size) (the "
                "reparameterisation), or wrap the argument in stop_gradient(...)")
for _name in ("normal", "uniform", "exponential", "gamma", "beta", "standard_gamma",
              "multivariate_normal", "lognormal", "laplace", "logistic", "dirichlet",
              "chisquare", "gumbel", "vonmises", "wald", "weibull", "pareto", "power",
              "rayleigh", "triangular", "standard_t", "f", "noncentral_chisquare",
              "noncentral_f"):
    refused(getattr(np.random, _name, None),
            "its distribution parameters (the derivative goes through the drawn noise)",
            _RANDOM_HINT, name=f"numpy.random.{_name}")
for _name in ("choice", "permutation"):
    refused(getattr(np.random, _name, None),
            "the array it draws from (the derivative is a gather at the drawn indices)",
            "draw the indices instead and index: x[np.random.choice(len(x), k)] "
            "(or np.random.permutation(len(x)))", name=f"numpy.random.{_name}")
