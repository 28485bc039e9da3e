"""Rules for scipy.special, reverse and forward side by side.

SciPy is optional: without it this module fails to import and registers
nothing (see ``ad_compiler/rules/__init__.py``).

Derivatives in an integer argument (the order of ``polygamma``, the
dimension of ``multigammaln``) are not assigned.  Derivatives in the order
of ``jn``/``yn`` (which SciPy also accepts as a float) and ``iv``/``ive``
have no closed form: asking for them raises ``NotImplementedError`` at run
time.  The shape parameters of the
incomplete gamma and beta functions are differentiated by quadrature
(``ads.gammainc_da``...), to about 1e-10 relative accuracy.
"""
import numpy as np
import scipy.special as sp

from ad_compiler import runtime as ad
from ad_compiler import runtime_scipy as ads
from ad_compiler.registry import forward, nondifferentiable, reverse

d = None  # the d[x] notation of templates; never evaluated

_SQRT_PI_2 = 0.886226925452758      # sqrt(pi) / 2
_TWO_SQRT_PI = 1.1283791670955126   # 2 / sqrt(pi)
_LOG_SQRT_2PI = 0.9189385332046727  # log(sqrt(2 pi))


# --- error function family -------------------------------------------------

@reverse(sp.erf, name="scipy.special.erf")
def erf(z, x):
    d[x] = d[z] * _TWO_SQRT_PI * np.exp(-x * x)


@forward(sp.erf, name="scipy.special.erf")
def erf(z, x):
    d[z] = d[x] * _TWO_SQRT_PI * np.exp(-x * x)


@reverse(sp.erfc, name="scipy.special.erfc")
def erfc(z, x):
    d[x] = -d[z] * _TWO_SQRT_PI * np.exp(-x * x)


@forward(sp.erfc, name="scipy.special.erfc")
def erfc(z, x):
    d[z] = -d[x] * _TWO_SQRT_PI * np.exp(-x * x)


@reverse(sp.erfinv, name="scipy.special.erfinv")
def erfinv(z, x):
    d[x] = d[z] * _SQRT_PI_2 * np.exp(z * z)


@forward(sp.erfinv, name="scipy.special.erfinv")
def erfinv(z, x):
    d[z] = d[x] * _SQRT_PI_2 * np.exp(z * z)


@reverse(sp.erfcinv, name="scipy.special.erfcinv")
def erfcinv(z, x):
    d[x] = -d[z] * _SQRT_PI_2 * np.exp(z * z)


@forward(sp.erfcinv, name="scipy.special.erfcinv")
def erfcinv(z, x):
    d[z] = -d[x] * _SQRT_PI_2 * np.exp(z * z)


@reverse(sp.ndtr, name="scipy.special.ndtr")
def ndtr(z, x):
    d[x] = d[z] * np.exp(-0.5 * x * x - _LOG_SQRT_2PI)


@forward(sp.ndtr, name="scipy.special.ndtr")
def ndtr(z, x):
    d[z] = d[x] * np.exp(-0.5 * x * x - _LOG_SQRT_2PI)


@reverse(sp.log_ndtr, name="scipy.special.log_ndtr")
def log_ndtr(z, x):
    d[x] = d[z] * np.exp(-0.5 * x * x - _LOG_SQRT_2PI - z)


@forward(sp.log_ndtr, name="scipy.special.log_ndtr")
def log_ndtr(z, x):
    d[z] = d[x] * np.exp(-0.5 * x * x - _LOG_SQRT_2PI - z)


# --- logistic -----------------------------------------------------------------

@reverse(sp.expit, name="scipy.special.expit")
def expit(z, x):
    d[x] = d[z] * z * (1.0 - z)


@forward(sp.expit, name="scipy.special.expit")
def expit(z, x):
    d[z] = d[x] * z * (1.0 - z)


@reverse(sp.logit, name="scipy.special.logit")
def logit(z, x):
    d[x] = d[z] / (x * (1.0 - x))


@forward(sp.logit, name="scipy.special.logit")
def logit(z, x):
    d[z] = d[x] / (x * (1.0 - x))


@reverse(sp.logsumexp, name="scipy.special.logsumexp", static={"return_sign": False})
def logsumexp(z, a, axis=None, b=None, keepdims=False, return_sign=False):
    w = np.exp(a - ad.expand(z, a, axis, keepdims))
    g = ad.expand(d[z], a, axis, keepdims)
    d[a] = ad.unbroadcast(g * w * (1.0 if b is None else b), a)
    d[b] = ad.unbroadcast(g * w, b)


@forward(sp.logsumexp, name="scipy.special.logsumexp", static={"return_sign": False})
def logsumexp(z, a, axis=None, b=None, keepdims=False, return_sign=False):
    w = np.exp(a - ad.expand(z, a, axis, keepdims))
    d[z] = np.sum(w * (d[a] * (1.0 if b is None else b) + d[b]), axis=axis, keepdims=keepdims)


@reverse(sp.xlogy, name="scipy.special.xlogy")
def xlogy(z, x, y):
    d[x] = ad.unbroadcast(d[z] * sp.xlogy(1.0, y), x)
    d[y] = ad.unbroadcast(d[z] * x / y, y)


@forward(sp.xlogy, name="scipy.special.xlogy")
def xlogy(z, x, y):
    d[z] = ads.bcast(d[x] * sp.xlogy(1.0, y) + d[y] * x / y, z)


@forward(ads.bcast)
def bcast(r, t, z):
    # t broadcast to z's shape: linear in t (z gives only the shape)
    d[r] = ads.bcast(d[t], z)


@reverse(sp.xlog1py, name="scipy.special.xlog1py")
def xlog1py(z, x, y):
    d[x] = ad.unbroadcast(d[z] * np.log1p(y), x)
    d[y] = ad.unbroadcast(d[z] * x / (1.0 + y), y)


@forward(sp.xlog1py, name="scipy.special.xlog1py")
def xlog1py(z, x, y):
    d[z] = ads.bcast(d[x] * np.log1p(y) + d[y] * x / (1.0 + y), z)


# --- gamma family ---------------------------------------------------------------

@reverse(sp.gamma, name="scipy.special.gamma")
def gamma(z, x):
    d[x] = d[z] * z * sp.digamma(x)


@forward(sp.gamma, name="scipy.special.gamma")
def gamma(z, x):
    d[z] = d[x] * z * sp.digamma(x)


@reverse(sp.gammaln, name="scipy.special.gammaln")
def gammaln(z, x):
    d[x] = d[z] * sp.digamma(x)


@forward(sp.gammaln, name="scipy.special.gammaln")
def gammaln(z, x):
    d[z] = d[x] * sp.digamma(x)


@reverse(sp.rgamma, name="scipy.special.rgamma")
def rgamma(z, x):
    d[x] = -d[z] * z * sp.digamma(x)


@forward(sp.rgamma, name="scipy.special.rgamma")
def rgamma(z, x):
    d[z] = -d[x] * z * sp.digamma(x)


@reverse(sp.gammasgn, name="scipy.special.gammasgn")
def gammasgn(z, x):
    # piecewise constant: the derivative is zero wherever it exists
    d[x] = d[z] * 0.0


@forward(sp.gammasgn, name="scipy.special.gammasgn")
def gammasgn(z, x):
    d[z] = d[x] * 0.0


@reverse(sp.digamma, name="scipy.special.digamma")   # sp.psi is the same ufunc
def digamma(z, x):
    d[x] = d[z] * sp.polygamma(1, x)


@forward(sp.digamma, name="scipy.special.digamma")
def digamma(z, x):
    d[z] = d[x] * sp.polygamma(1, x)


@reverse(sp.polygamma, name="scipy.special.polygamma")
def polygamma(z, n, x):
    d[x] = ad.unbroadcast(d[z] * sp.polygamma(n + 1, x), x)


@forward(sp.polygamma, name="scipy.special.polygamma")
def polygamma(z, n, x):
    d[z] = ads.bcast(d[x] * sp.polygamma(n + 1, x), z)


@reverse(sp.multigammaln, name="scipy.special.multigammaln")
def multigammaln(z, a, dim):
    # scipy names the dimension ``d``; pass it by position
    d[a] = d[z] * ads.multipolygamma(0, a, dim)


@forward(sp.multigammaln, name="scipy.special.multigammaln")
def multigammaln(z, a, dim):
    d[z] = d[a] * ads.multipolygamma(0, a, dim)


@forward(ads.multipolygamma)
def multipolygamma(z, n, a, dim):
    d[z] = d[a] * ads.multipolygamma(n + 1, a, dim)


@reverse(sp.beta, name="scipy.special.beta")
def beta(z, a, b):
    psab = sp.digamma(a + b)
    d[a] = ad.unbroadcast(d[z] * z * (sp.digamma(a) - psab), a)
    d[b] = ad.unbroadcast(d[z] * z * (sp.digamma(b) - psab), b)


@forward(sp.beta, name="scipy.special.beta")
def beta(z, a, b):
    psab = sp.digamma(a + b)
    d[z] = z * (d[a] * (sp.digamma(a) - psab) + d[b] * (sp.digamma(b) - psab))


@reverse(sp.betaln, name="scipy.special.betaln")
def betaln(z, a, b):
    psab = sp.digamma(a + b)
    d[a] = ad.unbroadcast(d[z] * (sp.digamma(a) - psab), a)
    d[b] = ad.unbroadcast(d[z] * (sp.digamma(b) - psab), b)


@forward(sp.betaln, name="scipy.special.betaln")
def betaln(z, a, b):
    psab = sp.digamma(a + b)
    d[z] = ads.bcast(d[a] * (sp.digamma(a) - psab) + d[b] * (sp.digamma(b) - psab), z)


# --- incomplete gamma and beta -------------------------------------------------

@reverse(sp.gammainc, name="scipy.special.gammainc")
def gammainc(z, a, x):
    d[a] = ad.unbroadcast(d[z] * ads.gammainc_da(a, x), a)
    d[x] = ad.unbroadcast(d[z] * ads.gammainc_dx(a, x), x)


@forward(sp.gammainc, name="scipy.special.gammainc")
def gammainc(z, a, x):
    d[z] = ads.bcast(d[a] * ads.gammainc_da(a, x) + d[x] * ads.gammainc_dx(a, x), z)


@reverse(sp.gammaincc, name="scipy.special.gammaincc")
def gammaincc(z, a, x):
    d[a] = ad.unbroadcast(-d[z] * ads.gammainc_da(a, x), a)
    d[x] = ad.unbroadcast(-d[z] * ads.gammainc_dx(a, x), x)


@forward(sp.gammaincc, name="scipy.special.gammaincc")
def gammaincc(z, a, x):
    d[z] = ads.bcast(-d[a] * ads.gammainc_da(a, x) - d[x] * ads.gammainc_dx(a, x), z)


@forward(ads.gammainc_da)
def gammainc_da(z, a, x):
    d[z] = (d[a] * ads.gammainc_daa(a, x)
            + d[x] * ads.gammainc_dx(a, x) * (np.log(x) - sp.digamma(a)))


@forward(ads.gammainc_dx)
def gammainc_dx(z, a, x):
    d[z] = z * (d[a] * (np.log(x) - sp.digamma(a)) + d[x] * ((a - 1.0) / x - 1.0))


@reverse(sp.betainc, name="scipy.special.betainc")
def betainc(z, a, b, x):
    d[a] = ad.unbroadcast(d[z] * ads.betainc_da(a, b, x), a)
    d[b] = ad.unbroadcast(d[z] * ads.betainc_db(a, b, x), b)
    d[x] = ad.unbroadcast(d[z] * ads.betainc_dx(a, b, x), x)


@forward(sp.betainc, name="scipy.special.betainc")
def betainc(z, a, b, x):
    d[z] = ads.bcast(d[a] * ads.betainc_da(a, b, x) + d[b] * ads.betainc_db(a, b, x)
                     + d[x] * ads.betainc_dx(a, b, x), z)


@forward(ads.betainc_da)
def betainc_da(z, a, b, x):
    d[z] = (d[a] * ads.betainc_d2(a, b, x, "aa") + d[b] * ads.betainc_d2(a, b, x, "ab")
            + d[x] * ads.betainc_dx(a, b, x) * (np.log(x) - sp.digamma(a) + sp.digamma(a + b)))


@forward(ads.betainc_db)
def betainc_db(z, a, b, x):
    d[z] = (d[a] * ads.betainc_d2(a, b, x, "ab") + d[b] * ads.betainc_d2(a, b, x, "bb")
            + d[x] * ads.betainc_dx(a, b, x) * (np.log1p(-x) - sp.digamma(b) + sp.digamma(a + b)))


@forward(ads.betainc_dx)
def betainc_dx(z, a, b, x):
    psab = sp.digamma(a + b)
    d[z] = z * (d[a] * (np.log(x) - sp.digamma(a) + psab)
                + d[b] * (np.log1p(-x) - sp.digamma(b) + psab)
                + d[x] * ((a - 1.0) / x - (b - 1.0) / (1.0 - x)))


# --- Bessel functions ------------------------------------------------------------

@reverse(sp.i0, name="scipy.special.i0")
def i0(z, x):
    d[x] = d[z] * sp.i1(x)


@forward(sp.i0, name="scipy.special.i0")
def i0(z, x):
    d[z] = d[x] * sp.i1(x)


@reverse(sp.i1, name="scipy.special.i1")
def i1(z, x):
    d[x] = d[z] * 0.5 * (sp.i0(x) + sp.iv(2.0, x))


@forward(sp.i1, name="scipy.special.i1")
def i1(z, x):
    d[z] = d[x] * 0.5 * (sp.i0(x) + sp.iv(2.0, x))


@reverse(sp.iv, name="scipy.special.iv")
def iv(z, v, x):
    d[x] = ad.unbroadcast(d[z] * 0.5 * (sp.iv(v - 1.0, x) + sp.iv(v + 1.0, x)), x)
    d[v] = ads.no_derivative(d[z], "scipy.special.iv", "v")


@forward(sp.iv, name="scipy.special.iv")
def iv(z, v, x):
    d[z] = ads.bcast(d[x] * 0.5 * (sp.iv(v - 1.0, x) + sp.iv(v + 1.0, x))
                     + ads.no_derivative(d[v], "scipy.special.iv", "v"), z)


# ive = iv * exp(-|Re x|): the scaling is not holomorphic for complex x (it
# follows Re x only)
@reverse(sp.ive, name="scipy.special.ive")
def ive(z, v, x):
    d[x] = ad.unbroadcast(d[z] * 0.5 * (sp.ive(v - 1.0, x) + sp.ive(v + 1.0, x))
                          - np.sign(np.real(x)) * np.real(d[z] * z), x)
    d[v] = ads.no_derivative(d[z], "scipy.special.ive", "v")


@forward(sp.ive, name="scipy.special.ive")
def ive(z, v, x):
    d[z] = ads.bcast(d[x] * 0.5 * (sp.ive(v - 1.0, x) + sp.ive(v + 1.0, x))
                     - np.sign(np.real(x)) * z * np.real(d[x])
                     + ads.no_derivative(d[v], "scipy.special.ive", "v"), z)


@reverse(sp.j0, name="scipy.special.j0")
def j0(z, x):
    d[x] = -d[z] * sp.j1(x)


@forward(sp.j0, name="scipy.special.j0")
def j0(z, x):
    d[z] = -d[x] * sp.j1(x)


@reverse(sp.j1, name="scipy.special.j1")
def j1(z, x):
    d[x] = d[z] * 0.5 * (sp.j0(x) - sp.jn(2, x))


@forward(sp.j1, name="scipy.special.j1")
def j1(z, x):
    d[z] = d[x] * 0.5 * (sp.j0(x) - sp.jn(2, x))


@reverse(sp.jn, name="scipy.special.jn")
def jn(z, n, x):
    d[x] = ad.unbroadcast(d[z] * 0.5 * (sp.jn(n - 1, x) - sp.jn(n + 1, x)), x)
    d[n] = ads.no_derivative(d[z], "scipy.special.jn", "n")


@forward(sp.jn, name="scipy.special.jn")
def jn(z, n, x):
    d[z] = ads.bcast(d[x] * 0.5 * (sp.jn(n - 1, x) - sp.jn(n + 1, x))
                     + ads.no_derivative(d[n], "scipy.special.jn", "n"), z)


@reverse(sp.y0, name="scipy.special.y0")
def y0(z, x):
    d[x] = -d[z] * sp.y1(x)


@forward(sp.y0, name="scipy.special.y0")
def y0(z, x):
    d[z] = -d[x] * sp.y1(x)


@reverse(sp.y1, name="scipy.special.y1")
def y1(z, x):
    d[x] = d[z] * 0.5 * (sp.y0(x) - sp.yn(2, x))


@forward(sp.y1, name="scipy.special.y1")
def y1(z, x):
    d[z] = d[x] * 0.5 * (sp.y0(x) - sp.yn(2, x))


@reverse(sp.yn, name="scipy.special.yn")
def yn(z, n, x):
    d[x] = ad.unbroadcast(d[z] * 0.5 * (sp.yn(n - 1, x) - sp.yn(n + 1, x)), x)
    d[n] = ads.no_derivative(d[z], "scipy.special.yn", "n")


@forward(sp.yn, name="scipy.special.yn")
def yn(z, n, x):
    d[z] = ads.bcast(d[x] * 0.5 * (sp.yn(n - 1, x) - sp.yn(n + 1, x))
                     + ads.no_derivative(d[n], "scipy.special.yn", "n"), z)


# helpers that only raise, or compute masks and shapes
nondifferentiable(ads.no_derivative, ads.no_second_derivative)
