"""Rules for scipy.stats distributions, reverse and forward side by side.

The distributions' methods are bound methods of module-level instances
(``scipy.stats.norm.cdf``); the registry keys on them, so both
``from scipy.stats import norm; norm.cdf(x)`` and ``stats.norm.cdf(x)``
resolve to these rules.  Parameters are the methods' own: shape parameters
first, then ``loc`` and ``scale`` (positional or keyword).  In every rule
``u = (x - loc) / scale`` is the standardized variable.

Discrete arguments (the ``k`` of poisson, its ``loc``) are not
differentiated: the functions are piecewise constant in them.
"""
import numpy as np
import scipy.special as sp
from scipy import stats

from ad_compiler import runtime as ad
from ad_compiler import runtime_scipy as ads
from ad_compiler.registry import forward, reverse

d = None  # the d[x] notation of templates; never evaluated

_LOG_SQRT_2PI = 0.9189385332046727  # log(sqrt(2 pi))
_LOG2 = 0.6931471805599453


# --- norm ----------------------------------------------------------------------

@reverse(stats.norm.logpdf, name="scipy.stats.norm.logpdf")
def norm_logpdf(z, x, loc=0.0, scale=1.0):
    u = (x - loc) / scale
    d[x] = ad.unbroadcast(-d[z] * u / scale, x)
    d[loc] = ad.unbroadcast(d[z] * u / scale, loc)
    d[scale] = ad.unbroadcast(d[z] * (u * u - 1.0) / scale, scale)


@forward(stats.norm.logpdf, name="scipy.stats.norm.logpdf")
def norm_logpdf(z, x, loc=0.0, scale=1.0):
    u = (x - loc) / scale
    d[z] = ((d[loc] - d[x]) * u + d[scale] * (u * u - 1.0)) / scale


@reverse(stats.norm.pdf, name="scipy.stats.norm.pdf")
def norm_pdf(z, x, loc=0.0, scale=1.0):
    u = (x - loc) / scale
    d[x] = ad.unbroadcast(-d[z] * z * u / scale, x)
    d[loc] = ad.unbroadcast(d[z] * z * u / scale, loc)
    d[scale] = ad.unbroadcast(d[z] * z * (u * u - 1.0) / scale, scale)


@forward(stats.norm.pdf, name="scipy.stats.norm.pdf")
def norm_pdf(z, x, loc=0.0, scale=1.0):
    u = (x - loc) / scale
    d[z] = z * ((d[loc] - d[x]) * u + d[scale] * (u * u - 1.0)) / scale


@reverse(stats.norm.cdf, name="scipy.stats.norm.cdf")
def norm_cdf(z, x, loc=0.0, scale=1.0):
    u = (x - loc) / scale
    p = d[z] * np.exp(-0.5 * u * u - _LOG_SQRT_2PI) / scale
    d[x] = ad.unbroadcast(p, x)
    d[loc] = ad.unbroadcast(-p, loc)
    d[scale] = ad.unbroadcast(-p * u, scale)


@forward(stats.norm.cdf, name="scipy.stats.norm.cdf")
def norm_cdf(z, x, loc=0.0, scale=1.0):
    u = (x - loc) / scale
    d[z] = (d[x] - d[loc] - d[scale] * u) * np.exp(-0.5 * u * u - _LOG_SQRT_2PI) / scale


@reverse(stats.norm.sf, name="scipy.stats.norm.sf")
def norm_sf(z, x, loc=0.0, scale=1.0):
    u = (x - loc) / scale
    p = d[z] * np.exp(-0.5 * u * u - _LOG_SQRT_2PI) / scale
    d[x] = ad.unbroadcast(-p, x)
    d[loc] = ad.unbroadcast(p, loc)
    d[scale] = ad.unbroadcast(p * u, scale)


@forward(stats.norm.sf, name="scipy.stats.norm.sf")
def norm_sf(z, x, loc=0.0, scale=1.0):
    u = (x - loc) / scale
    d[z] = (d[loc] + d[scale] * u - d[x]) * np.exp(-0.5 * u * u - _LOG_SQRT_2PI) / scale


@reverse(stats.norm.logcdf, name="scipy.stats.norm.logcdf")
def norm_logcdf(z, x, loc=0.0, scale=1.0):
    u = (x - loc) / scale
    p = d[z] * np.exp(-0.5 * u * u - _LOG_SQRT_2PI - sp.log_ndtr(u)) / scale
    d[x] = ad.unbroadcast(p, x)
    d[loc] = ad.unbroadcast(-p, loc)
    d[scale] = ad.unbroadcast(-p * u, scale)


@forward(stats.norm.logcdf, name="scipy.stats.norm.logcdf")
def norm_logcdf(z, x, loc=0.0, scale=1.0):
    u = (x - loc) / scale
    d[z] = (d[x] - d[loc] - d[scale] * u) * np.exp(-0.5 * u * u - _LOG_SQRT_2PI - z) / scale


@reverse(stats.norm.logsf, name="scipy.stats.norm.logsf")
def norm_logsf(z, x, loc=0.0, scale=1.0):
    u = (x - loc) / scale
    p = d[z] * np.exp(-0.5 * u * u - _LOG_SQRT_2PI - sp.log_ndtr(-u)) / scale
    d[x] = ad.unbroadcast(-p, x)
    d[loc] = ad.unbroadcast(p, loc)
    d[scale] = ad.unbroadcast(p * u, scale)


@forward(stats.norm.logsf, name="scipy.stats.norm.logsf")
def norm_logsf(z, x, loc=0.0, scale=1.0):
    u = (x - loc) / scale
    d[z] = (d[loc] + d[scale] * u - d[x]) * np.exp(-0.5 * u * u - _LOG_SQRT_2PI - z) / scale


# --- Student t -----------------------------------------------------------------------
# logpdf = gammaln((df+1)/2) - gammaln(df/2) - log(pi df)/2 - log(scale)
#          - (df+1)/2 log1p(u^2/df)

@reverse(stats.t.logpdf, name="scipy.stats.t.logpdf")
def t_logpdf(z, x, df, loc=0.0, scale=1.0):
    u = (x - loc) / scale
    cu = -(df + 1.0) * u / (df + u * u)
    cdf_ = 0.5 * (sp.digamma(0.5 * (df + 1.0)) - sp.digamma(0.5 * df) - 1.0 / df
                  - np.log1p(u * u / df) + (df + 1.0) * u * u / (df * (df + u * u)))
    d[x] = ad.unbroadcast(d[z] * cu / scale, x)
    d[loc] = ad.unbroadcast(-d[z] * cu / scale, loc)
    d[scale] = ad.unbroadcast(-d[z] * (1.0 + cu * u) / scale, scale)
    d[df] = ad.unbroadcast(d[z] * cdf_, df)


@forward(stats.t.logpdf, name="scipy.stats.t.logpdf")
def t_logpdf(z, x, df, loc=0.0, scale=1.0):
    u = (x - loc) / scale
    cu = -(df + 1.0) * u / (df + u * u)
    cdf_ = 0.5 * (sp.digamma(0.5 * (df + 1.0)) - sp.digamma(0.5 * df) - 1.0 / df
                  - np.log1p(u * u / df) + (df + 1.0) * u * u / (df * (df + u * u)))
    d[z] = ((d[x] - d[loc]) * cu - d[scale] * (1.0 + cu * u)) / scale + d[df] * cdf_


@reverse(stats.t.pdf, name="scipy.stats.t.pdf")
def t_pdf(z, x, df, loc=0.0, scale=1.0):
    u = (x - loc) / scale
    cu = -(df + 1.0) * u / (df + u * u)
    cdf_ = 0.5 * (sp.digamma(0.5 * (df + 1.0)) - sp.digamma(0.5 * df) - 1.0 / df
                  - np.log1p(u * u / df) + (df + 1.0) * u * u / (df * (df + u * u)))
    gz = d[z] * z
    d[x] = ad.unbroadcast(gz * cu / scale, x)
    d[loc] = ad.unbroadcast(-gz * cu / scale, loc)
    d[scale] = ad.unbroadcast(-gz * (1.0 + cu * u) / scale, scale)
    d[df] = ad.unbroadcast(gz * cdf_, df)


@forward(stats.t.pdf, name="scipy.stats.t.pdf")
def t_pdf(z, x, df, loc=0.0, scale=1.0):
    u = (x - loc) / scale
    cu = -(df + 1.0) * u / (df + u * u)
    cdf_ = 0.5 * (sp.digamma(0.5 * (df + 1.0)) - sp.digamma(0.5 * df) - 1.0 / df
                  - np.log1p(u * u / df) + (df + 1.0) * u * u / (df * (df + u * u)))
    d[z] = z * (((d[x] - d[loc]) * cu - d[scale] * (1.0 + cu * u)) / scale + d[df] * cdf_)


@reverse(stats.t.cdf, name="scipy.stats.t.cdf")
def t_cdf(z, x, df, loc=0.0, scale=1.0):
    u = (x - loc) / scale
    p = d[z] * stats.t.pdf(u, df) / scale
    d[x] = ad.unbroadcast(p, x)
    d[loc] = ad.unbroadcast(-p, loc)
    d[scale] = ad.unbroadcast(-p * u, scale)
    d[df] = ad.unbroadcast(d[z] * ads.t_cdf_ddf(u, df), df)


@forward(stats.t.cdf, name="scipy.stats.t.cdf")
def t_cdf(z, x, df, loc=0.0, scale=1.0):
    u = (x - loc) / scale
    d[z] = ((d[x] - d[loc] - d[scale] * u) * stats.t.pdf(u, df) / scale
            + d[df] * ads.t_cdf_ddf(u, df))


@reverse(stats.t.logcdf, name="scipy.stats.t.logcdf")
def t_logcdf(z, x, df, loc=0.0, scale=1.0):
    u = (x - loc) / scale
    p = d[z] * np.exp(stats.t.logpdf(u, df) - z) / scale
    d[x] = ad.unbroadcast(p, x)
    d[loc] = ad.unbroadcast(-p, loc)
    d[scale] = ad.unbroadcast(-p * u, scale)
    d[df] = ad.unbroadcast(d[z] * ads.t_cdf_ddf(u, df) * np.exp(-z), df)


@forward(stats.t.logcdf, name="scipy.stats.t.logcdf")
def t_logcdf(z, x, df, loc=0.0, scale=1.0):
    u = (x - loc) / scale
    d[z] = ((d[x] - d[loc] - d[scale] * u) * np.exp(stats.t.logpdf(u, df) - z) / scale
            + d[df] * ads.t_cdf_ddf(u, df) * np.exp(-z))


@forward(ads.t_cdf_ddf)
def t_cdf_ddf(z, u, df):
    d[z] = ads.no_second_derivative("scipy.stats.t.cdf in df", d[u], d[df])


# --- gamma ------------------------------------------------------------------------------
# standard logpdf(u; a) = (a-1) log u - u - gammaln(a), u > 0

@reverse(stats.gamma.logpdf, name="scipy.stats.gamma.logpdf")
def gamma_logpdf(z, x, a, loc=0.0, scale=1.0):
    u = (x - loc) / scale
    inside = u > 0
    us = np.where(inside, u, 1.0)
    cu = np.where(inside, (a - 1.0) / us - 1.0, 0.0)
    d[x] = ad.unbroadcast(d[z] * cu / scale, x)
    d[loc] = ad.unbroadcast(-d[z] * cu / scale, loc)
    d[scale] = ad.unbroadcast(-d[z] * np.where(inside, 1.0 + cu * u, 0.0) / scale, scale)
    d[a] = ad.unbroadcast(d[z] * np.where(inside, np.log(us) - sp.digamma(a), 0.0), a)


@forward(stats.gamma.logpdf, name="scipy.stats.gamma.logpdf")
def gamma_logpdf(z, x, a, loc=0.0, scale=1.0):
    u = (x - loc) / scale
    inside = u > 0
    us = np.where(inside, u, 1.0)
    cu = (a - 1.0) / us - 1.0
    d[z] = np.where(inside, ((d[x] - d[loc]) * cu - d[scale] * (1.0 + cu * u)) / scale
                    + d[a] * (np.log(us) - sp.digamma(a)), 0.0)


@reverse(stats.gamma.pdf, name="scipy.stats.gamma.pdf")
def gamma_pdf(z, x, a, loc=0.0, scale=1.0):
    u = (x - loc) / scale
    inside = u > 0
    us = np.where(inside, u, 1.0)
    cu = np.where(inside, (a - 1.0) / us - 1.0, 0.0)
    gz = d[z] * z
    d[x] = ad.unbroadcast(gz * cu / scale, x)
    d[loc] = ad.unbroadcast(-gz * cu / scale, loc)
    d[scale] = ad.unbroadcast(-gz * np.where(inside, 1.0 + cu * u, 0.0) / scale, scale)
    d[a] = ad.unbroadcast(gz * np.where(inside, np.log(us) - sp.digamma(a), 0.0), a)


@forward(stats.gamma.pdf, name="scipy.stats.gamma.pdf")
def gamma_pdf(z, x, a, loc=0.0, scale=1.0):
    u = (x - loc) / scale
    inside = u > 0
    us = np.where(inside, u, 1.0)
    cu = (a - 1.0) / us - 1.0
    d[z] = z * np.where(inside, ((d[x] - d[loc]) * cu - d[scale] * (1.0 + cu * u)) / scale
                        + d[a] * (np.log(us) - sp.digamma(a)), 0.0)


@reverse(stats.gamma.cdf, name="scipy.stats.gamma.cdf")
def gamma_cdf(z, x, a, loc=0.0, scale=1.0):
    u = (x - loc) / scale
    p = d[z] * ads.gammainc_dx(a, u) / scale
    d[x] = ad.unbroadcast(p, x)
    d[loc] = ad.unbroadcast(-p, loc)
    d[scale] = ad.unbroadcast(-p * u, scale)
    d[a] = ad.unbroadcast(d[z] * ads.gammainc_da(a, u), a)


@forward(stats.gamma.cdf, name="scipy.stats.gamma.cdf")
def gamma_cdf(z, x, a, loc=0.0, scale=1.0):
    u = (x - loc) / scale
    d[z] = ((d[x] - d[loc] - d[scale] * u) * ads.gammainc_dx(a, u) / scale
            + d[a] * ads.gammainc_da(a, u))


# --- chi2: the gamma distribution with a = df/2 and scale 2 ------------------------------
# standard logpdf(u; k) = (k/2 - 1) log u - u/2 - (k/2) log 2 - gammaln(k/2)

@reverse(stats.chi2.logpdf, name="scipy.stats.chi2.logpdf")
def chi2_logpdf(z, x, df, loc=0.0, scale=1.0):
    u = (x - loc) / scale
    inside = u > 0
    us = np.where(inside, u, 1.0)
    cu = np.where(inside, (0.5 * df - 1.0) / us - 0.5, 0.0)
    d[x] = ad.unbroadcast(d[z] * cu / scale, x)
    d[loc] = ad.unbroadcast(-d[z] * cu / scale, loc)
    d[scale] = ad.unbroadcast(-d[z] * np.where(inside, 1.0 + cu * u, 0.0) / scale, scale)
    d[df] = ad.unbroadcast(d[z] * np.where(inside, 0.5 * (np.log(us) - _LOG2 - sp.digamma(0.5 * df)), 0.0), df)


@forward(stats.chi2.logpdf, name="scipy.stats.chi2.logpdf")
def chi2_logpdf(z, x, df, loc=0.0, scale=1.0):
    u = (x - loc) / scale
    inside = u > 0
    us = np.where(inside, u, 1.0)
    cu = (0.5 * df - 1.0) / us - 0.5
    d[z] = np.where(inside, ((d[x] - d[loc]) * cu - d[scale] * (1.0 + cu * u)) / scale
                    + d[df] * 0.5 * (np.log(us) - _LOG2 - sp.digamma(0.5 * df)), 0.0)


@reverse(stats.chi2.pdf, name="scipy.stats.chi2.pdf")
def chi2_pdf(z, x, df, loc=0.0, scale=1.0):
    u = (x - loc) / scale
    inside = u > 0
    us = np.where(inside, u, 1.0)
    cu = np.where(inside, (0.5 * df - 1.0) / us - 0.5, 0.0)
    gz = d[z] * z
    d[x] = ad.unbroadcast(gz * cu / scale, x)
    d[loc] = ad.unbroadcast(-gz * cu / scale, loc)
    d[scale] = ad.unbroadcast(-gz * np.where(inside, 1.0 + cu * u, 0.0) / scale, scale)
    d[df] = ad.unbroadcast(gz * np.where(inside, 0.5 * (np.log(us) - _LOG2 - sp.digamma(0.5 * df)), 0.0), df)


@forward(stats.chi2.pdf, name="scipy.stats.chi2.pdf")
def chi2_pdf(z, x, df, loc=0.0, scale=1.0):
    u = (x - loc) / scale
    inside = u > 0
    us = np.where(inside, u, 1.0)
    cu = (0.5 * df - 1.0) / us - 0.5
    d[z] = z * np.where(inside, ((d[x] - d[loc]) * cu - d[scale] * (1.0 + cu * u)) / scale
                        + d[df] * 0.5 * (np.log(us) - _LOG2 - sp.digamma(0.5 * df)), 0.0)


@reverse(stats.chi2.cdf, name="scipy.stats.chi2.cdf")
def chi2_cdf(z, x, df, loc=0.0, scale=1.0):
    u = (x - loc) / scale
    p = d[z] * 0.5 * ads.gammainc_dx(0.5 * df, 0.5 * u) / scale
    d[x] = ad.unbroadcast(p, x)
    d[loc] = ad.unbroadcast(-p, loc)
    d[scale] = ad.unbroadcast(-p * u, scale)
    d[df] = ad.unbroadcast(d[z] * 0.5 * ads.gammainc_da(0.5 * df, 0.5 * u), df)


@forward(stats.chi2.cdf, name="scipy.stats.chi2.cdf")
def chi2_cdf(z, x, df, loc=0.0, scale=1.0):
    u = (x - loc) / scale
    d[z] = 0.5 * ((d[x] - d[loc] - d[scale] * u) * ads.gammainc_dx(0.5 * df, 0.5 * u) / scale
                  + d[df] * ads.gammainc_da(0.5 * df, 0.5 * u))


# --- beta ---------------------------------------------------------------------------------
# standard logpdf(u; a, b) = (a-1) log u + (b-1) log(1-u) - betaln(a, b), 0 < u < 1

@reverse(stats.beta.logpdf, name="scipy.stats.beta.logpdf")
def beta_logpdf(z, x, a, b, loc=0.0, scale=1.0):
    u = (x - loc) / scale
    inside = (u > 0) & (u < 1)
    us = np.where(inside, u, 0.5)
    cu = np.where(inside, (a - 1.0) / us - (b - 1.0) / (1.0 - us), 0.0)
    psab = sp.digamma(a + b)
    d[x] = ad.unbroadcast(d[z] * cu / scale, x)
    d[loc] = ad.unbroadcast(-d[z] * cu / scale, loc)
    d[scale] = ad.unbroadcast(-d[z] * np.where(inside, 1.0 + cu * u, 0.0) / scale, scale)
    d[a] = ad.unbroadcast(d[z] * np.where(inside, np.log(us) - sp.digamma(a) + psab, 0.0), a)
    d[b] = ad.unbroadcast(d[z] * np.where(inside, np.log1p(-us) - sp.digamma(b) + psab, 0.0), b)


@forward(stats.beta.logpdf, name="scipy.stats.beta.logpdf")
def beta_logpdf(z, x, a, b, loc=0.0, scale=1.0):
    u = (x - loc) / scale
    inside = (u > 0) & (u < 1)
    us = np.where(inside, u, 0.5)
    cu = (a - 1.0) / us - (b - 1.0) / (1.0 - us)
    psab = sp.digamma(a + b)
    d[z] = np.where(inside, ((d[x] - d[loc]) * cu - d[scale] * (1.0 + cu * u)) / scale
                    + d[a] * (np.log(us) - sp.digamma(a) + psab)
                    + d[b] * (np.log1p(-us) - sp.digamma(b) + psab), 0.0)


@reverse(stats.beta.pdf, name="scipy.stats.beta.pdf")
def beta_pdf(z, x, a, b, loc=0.0, scale=1.0):
    u = (x - loc) / scale
    inside = (u > 0) & (u < 1)
    us = np.where(inside, u, 0.5)
    cu = np.where(inside, (a - 1.0) / us - (b - 1.0) / (1.0 - us), 0.0)
    psab = sp.digamma(a + b)
    gz = d[z] * z
    d[x] = ad.unbroadcast(gz * cu / scale, x)
    d[loc] = ad.unbroadcast(-gz * cu / scale, loc)
    d[scale] = ad.unbroadcast(-gz * np.where(inside, 1.0 + cu * u, 0.0) / scale, scale)
    d[a] = ad.unbroadcast(gz * np.where(inside, np.log(us) - sp.digamma(a) + psab, 0.0), a)
    d[b] = ad.unbroadcast(gz * np.where(inside, np.log1p(-us) - sp.digamma(b) + psab, 0.0), b)


@forward(stats.beta.pdf, name="scipy.stats.beta.pdf")
def beta_pdf(z, x, a, b, loc=0.0, scale=1.0):
    u = (x - loc) / scale
    inside = (u > 0) & (u < 1)
    us = np.where(inside, u, 0.5)
    cu = (a - 1.0) / us - (b - 1.0) / (1.0 - us)
    psab = sp.digamma(a + b)
    d[z] = z * np.where(inside, ((d[x] - d[loc]) * cu - d[scale] * (1.0 + cu * u)) / scale
                        + d[a] * (np.log(us) - sp.digamma(a) + psab)
                        + d[b] * (np.log1p(-us) - sp.digamma(b) + psab), 0.0)


@reverse(stats.beta.cdf, name="scipy.stats.beta.cdf")
def beta_cdf(z, x, a, b, loc=0.0, scale=1.0):
    u = (x - loc) / scale
    p = d[z] * ads.betainc_dx(a, b, u) / scale
    d[x] = ad.unbroadcast(p, x)
    d[loc] = ad.unbroadcast(-p, loc)
    d[scale] = ad.unbroadcast(-p * u, scale)
    d[a] = ad.unbroadcast(d[z] * ads.betainc_da(a, b, u), a)
    d[b] = ad.unbroadcast(d[z] * ads.betainc_db(a, b, u), b)


@forward(stats.beta.cdf, name="scipy.stats.beta.cdf")
def beta_cdf(z, x, a, b, loc=0.0, scale=1.0):
    u = (x - loc) / scale
    d[z] = ((d[x] - d[loc] - d[scale] * u) * ads.betainc_dx(a, b, u) / scale
            + d[a] * ads.betainc_da(a, b, u) + d[b] * ads.betainc_db(a, b, u))


# --- poisson (k is discrete: only mu is differentiated) ----------------------------------

@reverse(stats.poisson.logpmf, name="scipy.stats.poisson.logpmf")
def poisson_logpmf(z, k, mu, loc=0):
    kk = k - loc
    valid = (kk >= 0) & (kk == np.floor(kk))
    d[mu] = ad.unbroadcast(d[z] * np.where(valid, kk / mu - 1.0, 0.0), mu)


@forward(stats.poisson.logpmf, name="scipy.stats.poisson.logpmf")
def poisson_logpmf(z, k, mu, loc=0):
    kk = k - loc
    valid = (kk >= 0) & (kk == np.floor(kk))
    d[z] = ads.bcast(d[mu] * np.where(valid, kk / mu - 1.0, 0.0), z)


@reverse(stats.poisson.pmf, name="scipy.stats.poisson.pmf")
def poisson_pmf(z, k, mu, loc=0):
    kk = k - loc
    d[mu] = ad.unbroadcast(d[z] * z * (kk / mu - 1.0), mu)


@forward(stats.poisson.pmf, name="scipy.stats.poisson.pmf")
def poisson_pmf(z, k, mu, loc=0):
    kk = k - loc
    d[z] = d[mu] * z * (kk / mu - 1.0)


@reverse(stats.poisson.cdf, name="scipy.stats.poisson.cdf")
def poisson_cdf(z, k, mu, loc=0):
    d[mu] = ad.unbroadcast(-d[z] * stats.poisson.pmf(np.floor(k - loc), mu), mu)


@forward(stats.poisson.cdf, name="scipy.stats.poisson.cdf")
def poisson_cdf(z, k, mu, loc=0):
    d[z] = ads.bcast(-d[mu] * stats.poisson.pmf(np.floor(k - loc), mu), z)


# --- dirichlet (components along axis 0, as scipy.stats has them) ------------------------

@reverse(stats.dirichlet.logpdf, name="scipy.stats.dirichlet.logpdf")
def dirichlet_logpdf(z, x, alpha):
    d[x] = ads.dirichlet_grad_x(d[z], x, alpha)
    d[alpha] = ads.dirichlet_grad_alpha(d[z], x, alpha)


@forward(stats.dirichlet.logpdf, name="scipy.stats.dirichlet.logpdf")
def dirichlet_logpdf(z, x, alpha):
    d[z] = ads.dirichlet_tangent(x, alpha, d[x], d[alpha])


@reverse(stats.dirichlet.pdf, name="scipy.stats.dirichlet.pdf")
def dirichlet_pdf(z, x, alpha):
    d[x] = ads.dirichlet_grad_x(d[z] * z, x, alpha)
    d[alpha] = ads.dirichlet_grad_alpha(d[z] * z, x, alpha)


@forward(stats.dirichlet.pdf, name="scipy.stats.dirichlet.pdf")
def dirichlet_pdf(z, x, alpha):
    d[z] = z * ads.dirichlet_tangent(x, alpha, d[x], d[alpha])


@forward(ads.dirichlet_grad_x)
def dirichlet_grad_x(z, g, x, alpha):
    d[z] = ads.dirichlet_grad_x_tangent(g, x, alpha, d[g], d[x], d[alpha])


@forward(ads.dirichlet_grad_alpha)
def dirichlet_grad_alpha(z, g, x, alpha):
    d[z] = ads.dirichlet_grad_alpha_tangent(g, x, alpha, d[g], d[x], d[alpha])


# --- multivariate normal -------------------------------------------------------------------
# cov may be a matrix, a vector (the diagonal) or a scalar, as in scipy.stats

@reverse(stats.multivariate_normal.logpdf, name="scipy.stats.multivariate_normal.logpdf")
def mvn_logpdf(z, x, mean=None, cov=1, allow_singular=False):
    d[x] = ads.mvn_logpdf_grad(d[z], x, mean, cov, "x")
    d[mean] = ads.mvn_logpdf_grad(d[z], x, mean, cov, "mean")
    d[cov] = ads.mvn_logpdf_grad(d[z], x, mean, cov, "cov")


@forward(stats.multivariate_normal.logpdf, name="scipy.stats.multivariate_normal.logpdf")
def mvn_logpdf(z, x, mean=None, cov=1, allow_singular=False):
    d[z] = ads.mvn_logpdf_tangent(x, mean, cov, d[x], d[mean], d[cov])


@reverse(stats.multivariate_normal.pdf, name="scipy.stats.multivariate_normal.pdf")
def mvn_pdf(z, x, mean=None, cov=1, allow_singular=False):
    gz = d[z] * z
    d[x] = ads.mvn_logpdf_grad(gz, x, mean, cov, "x")
    d[mean] = ads.mvn_logpdf_grad(gz, x, mean, cov, "mean")
    d[cov] = ads.mvn_logpdf_grad(gz, x, mean, cov, "cov")


@forward(stats.multivariate_normal.pdf, name="scipy.stats.multivariate_normal.pdf")
def mvn_pdf(z, x, mean=None, cov=1, allow_singular=False):
    d[z] = z * ads.mvn_logpdf_tangent(x, mean, cov, d[x], d[mean], d[cov])


@forward(ads.mvn_logpdf_grad)
def mvn_logpdf_grad(z, g, x, mean, cov, which):
    d[z] = ads.mvn_logpdf_grad_tangent(g, x, mean, cov, which, d[g], d[x], d[mean], d[cov])


@reverse(stats.multivariate_normal.entropy, name="scipy.stats.multivariate_normal.entropy")
def mvn_entropy(z, mean=None, cov=1):
    d[cov] = ads.mvn_entropy_grad(d[z], mean, cov)


@forward(stats.multivariate_normal.entropy, name="scipy.stats.multivariate_normal.entropy")
def mvn_entropy(z, mean=None, cov=1):
    d[z] = ads.mvn_entropy_tangent(mean, cov, d[cov])


@forward(ads.mvn_entropy_grad)
def mvn_entropy_grad(z, g, mean, cov):
    d[z] = ads.mvn_entropy_grad_tangent(g, mean, cov, d[g], d[cov])
