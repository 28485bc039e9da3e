"""Input specs for the SciPy rules (one or more per primitive).

Each spec is a dict:

* ``name``:  the primitive's qualified name, as in the coverage targets;
* ``src``:   the source of a function ``f`` that calls the primitive (the
  compiler needs real source: tests write these into a module file whose
  header is ``HEADER``);
* ``args``:  the positional arguments, a tuple;
* ``wrt``:   the positions to differentiate (default: every float argument);
* ``order``: 2 when the hessian (forward over reverse) is checked too, on
  ``np.sum(np.sin(f(...)))``;
* ``rtol`` / ``atol`` / ``eps``: optional tolerances for the comparison with
  central finite differences.

Inputs keep clear of singularities, branch cuts and support edges so that
central differences are accurate.  ``tests/test_rules_scipy.py`` checks every
spec in both modes through the public API (``ad_compiler.testing.check_grads``).
"""
import numpy as np

HEADER = """\
import numpy as np
import scipy.special as sp
from scipy import integrate, linalg, signal, stats
"""

_rng = np.random.default_rng(1234)

X3 = np.array([-0.7, 0.2, 1.1])
P3 = np.array([0.6, 1.7, 3.2])          # positive
U3 = np.array([0.15, 0.45, 0.8])        # in (0, 1)
U3b = np.array([-0.6, 0.1, 0.55])       # in (-1, 1)
M3 = _rng.standard_normal((3, 3))
SPD3 = M3 @ M3.T + 3.0 * np.eye(3)
TRI3 = np.triu(M3) + 3.0 * np.eye(3)
B3 = _rng.standard_normal(3)
B32 = _rng.standard_normal((3, 2))


def _s(name, src, args, order=1, wrt=None, **tol):
    spec = dict(name=name, src=src, args=args, order=order)
    if wrt is not None:
        spec["wrt"] = wrt
    spec.update(tol)
    return spec


SPECS = [
    # --- scipy.special: one argument
    _s("scipy.special.erf", "def f(x):\n    return sp.erf(x)", (X3,), order=2),
    _s("scipy.special.erfc", "def f(x):\n    return sp.erfc(x)", (X3,), order=2),
    _s("scipy.special.erfinv", "def f(x):\n    return sp.erfinv(x)", (U3b,), order=2),
    _s("scipy.special.erfcinv", "def f(x):\n    return sp.erfcinv(x)", (U3 + 0.3,), order=2),
    _s("scipy.special.expit", "def f(x):\n    return sp.expit(x)", (X3,), order=2),
    _s("scipy.special.logit", "def f(x):\n    return sp.logit(x)", (U3,), order=2),
    _s("scipy.special.gamma", "def f(x):\n    return sp.gamma(x)", (P3,), order=2),
    _s("scipy.special.gamma", "def f(x):\n    return sp.gamma(x)", (np.array([-0.5, -1.5]),)),
    _s("scipy.special.gammaln", "def f(x):\n    return sp.gammaln(x)", (P3,), order=2),
    _s("scipy.special.gammasgn", "def f(x):\n    return sp.gammasgn(x) * x", (np.array([-0.5, 1.5]),),
       order=2),
    _s("scipy.special.rgamma", "def f(x):\n    return sp.rgamma(x)", (P3,), order=2),
    _s("scipy.special.digamma", "def f(x):\n    return sp.digamma(x)", (P3,), order=2),
    _s("scipy.special.psi", "def f(x):\n    return sp.psi(x)", (P3,), order=2),
    _s("scipy.special.polygamma", "def f(x):\n    return sp.polygamma(2, x)", (P3,), order=2),
    _s("scipy.special.multigammaln", "def f(a):\n    return sp.multigammaln(a, 3)", (2.7,), order=2),
    _s("scipy.special.i0", "def f(x):\n    return sp.i0(x)", (X3,), order=2),
    _s("scipy.special.i1", "def f(x):\n    return sp.i1(x)", (X3,), order=2),
    _s("scipy.special.j0", "def f(x):\n    return sp.j0(x)", (X3,), order=2),
    _s("scipy.special.j1", "def f(x):\n    return sp.j1(x)", (X3,), order=2),
    _s("scipy.special.y0", "def f(x):\n    return sp.y0(x)", (P3,), order=2),
    _s("scipy.special.y1", "def f(x):\n    return sp.y1(x)", (P3,), order=2),
    _s("scipy.special.ndtr", "def f(x):\n    return sp.ndtr(x)", (X3,), order=2),
    _s("scipy.special.log_ndtr", "def f(x):\n    return sp.log_ndtr(x)", (X3 * 3.0,), order=2),
    # --- scipy.special: two or more arguments
    _s("scipy.special.iv", "def f(x):\n    return sp.iv(1.5, x)", (P3,), order=2),
    _s("scipy.special.ive", "def f(x):\n    return sp.ive(2.5, x)", (P3,), order=2),
    _s("scipy.special.ive", "def f(x):\n    return sp.ive(2, x)", (X3,), order=2),
    _s("scipy.special.jn", "def f(x):\n    return sp.jn(3, x)", (X3,), order=2),
    _s("scipy.special.yn", "def f(x):\n    return sp.yn(2, x)", (P3,), order=2),
    _s("scipy.special.beta", "def f(a, b):\n    return sp.beta(a, b)", (P3, 1.3), order=2),
    _s("scipy.special.betaln", "def f(a, b):\n    return sp.betaln(a, b)", (P3, U3 + 1.0), order=2),
    _s("scipy.special.xlogy", "def f(x, y):\n    return sp.xlogy(x, y)", (X3, P3), order=2),
    _s("scipy.special.xlog1py", "def f(x, y):\n    return sp.xlog1py(x, y)", (X3, U3), order=2),
    _s("scipy.special.gammainc", "def f(a, x):\n    return sp.gammainc(a, x)",
       (np.array([0.7, 2.5]), np.array([0.4, 3.0])), order=2, rtol=1e-4),
    _s("scipy.special.gammaincc", "def f(a, x):\n    return sp.gammaincc(a, x)",
       (np.array([1.3, 4.0]), np.array([2.0, 1.5])), order=2, rtol=1e-4),
    _s("scipy.special.betainc", "def f(a, b, x):\n    return sp.betainc(a, b, x)",
       (np.array([0.8, 2.5]), np.array([1.7, 3.0]), np.array([0.3, 0.6])), order=2,
       rtol=1e-4),
    _s("scipy.special.logsumexp", "def f(a):\n    return sp.logsumexp(a)",
       (_rng.standard_normal(4),), order=2),
    _s("scipy.special.logsumexp", "def f(a, b):\n    return sp.logsumexp(a, axis=1, b=b)",
       (_rng.standard_normal((2, 3)), np.array([0.5, 1.0, 2.0])), order=2),
    _s("scipy.special.logsumexp",
       "def f(a):\n    return sp.logsumexp(a, axis=0, keepdims=True)",
       (_rng.standard_normal((3, 2)),)),
    # --- scipy.stats
    _s("scipy.stats.norm.pdf", "def f(x, m, s):\n    return stats.norm.pdf(x, m, s)",
       (X3, 0.3, 1.4), order=2),
    _s("scipy.stats.norm.logpdf", "def f(x, m, s):\n    return stats.norm.logpdf(x, loc=m, scale=s)",
       (X3, 0.3, 1.4), order=2),
    _s("scipy.stats.norm.cdf", "def f(x, m, s):\n    return stats.norm.cdf(x, m, s)",
       (X3, 0.3, 1.4), order=2),
    _s("scipy.stats.norm.logcdf", "def f(x, m, s):\n    return stats.norm.logcdf(x, m, s)",
       (X3 * 4.0, 0.3, 1.4), order=2),
    _s("scipy.stats.norm.sf", "def f(x, m, s):\n    return stats.norm.sf(x, m, s)",
       (X3, 0.3, 1.4), order=2),
    _s("scipy.stats.norm.logsf", "def f(x, m, s):\n    return stats.norm.logsf(x, m, s)",
       (X3 * 4.0, 0.3, 1.4), order=2),
    _s("scipy.stats.norm.logpdf", "def f(x):\n    return stats.norm.logpdf(x)", (X3,), order=2),
    _s("scipy.stats.t.pdf", "def f(x, df, m, s):\n    return stats.t.pdf(x, df, m, s)",
       (X3, 3.5, 0.2, 1.3), order=2),
    _s("scipy.stats.t.logpdf", "def f(x, df, m, s):\n    return stats.t.logpdf(x, df, loc=m, scale=s)",
       (X3, 3.5, 0.2, 1.3), order=2),
    _s("scipy.stats.t.cdf", "def f(x, df, m, s):\n    return stats.t.cdf(x, df, m, s)",
       (X3, 3.5, 0.2, 1.3), rtol=1e-4),
    _s("scipy.stats.t.cdf", "def f(x, m, s):\n    return stats.t.cdf(x, 4.0, m, s)",
       (X3, 0.2, 1.3), order=2),
    _s("scipy.stats.t.logcdf", "def f(x, df, m, s):\n    return stats.t.logcdf(x, df, m, s)",
       (X3, 3.5, 0.2, 1.3), rtol=1e-4),
    _s("scipy.stats.gamma.pdf", "def f(x, a, m, s):\n    return stats.gamma.pdf(x, a, m, s)",
       (P3, 2.2, 0.1, 1.5), order=2),
    _s("scipy.stats.gamma.logpdf", "def f(x, a, m, s):\n    return stats.gamma.logpdf(x, a, m, s)",
       (P3, 2.2, 0.1, 1.5), order=2),
    _s("scipy.stats.gamma.cdf", "def f(x, a, m, s):\n    return stats.gamma.cdf(x, a, m, s)",
       (P3, 2.2, 0.1, 1.5), order=2, rtol=1e-4),
    _s("scipy.stats.chi2.pdf", "def f(x, k):\n    return stats.chi2.pdf(x, k)", (P3, 3.3), order=2),
    _s("scipy.stats.chi2.logpdf", "def f(x, k, m, s):\n    return stats.chi2.logpdf(x, k, m, s)",
       (P3, 3.3, -0.2, 1.2), order=2),
    _s("scipy.stats.chi2.cdf", "def f(x, k):\n    return stats.chi2.cdf(x, k)", (P3, 3.3), order=2,
       rtol=1e-4),
    _s("scipy.stats.beta.pdf", "def f(x, a, b):\n    return stats.beta.pdf(x, a, b)",
       (U3, 1.7, 2.4), order=2),
    _s("scipy.stats.beta.logpdf", "def f(x, a, b, m, s):\n    return stats.beta.logpdf(x, a, b, m, s)",
       (U3, 1.7, 2.4, -0.1, 1.3), order=2),
    _s("scipy.stats.beta.cdf", "def f(x, a, b):\n    return stats.beta.cdf(x, a, b)",
       (U3, 1.7, 2.4), order=2, rtol=1e-4),
    _s("scipy.stats.poisson.pmf", "def f(mu):\n    return stats.poisson.pmf(np.arange(4), mu)",
       (2.3,), order=2),
    _s("scipy.stats.poisson.logpmf", "def f(mu):\n    return stats.poisson.logpmf(np.arange(4), mu)",
       (np.array([1.1, 2.3, 0.7, 4.0]),), order=2),
    _s("scipy.stats.poisson.cdf", "def f(mu):\n    return stats.poisson.cdf(np.arange(4), mu)",
       (2.3,), order=2),
    _s("scipy.stats.dirichlet.logpdf",
       "def f(y, alpha):\n    x = np.exp(y) / np.sum(np.exp(y))\n"
       "    return stats.dirichlet.logpdf(x, alpha)",
       (np.array([0.1, -0.3, 0.4]), np.array([1.5, 2.0, 0.8])), order=2),
    _s("scipy.stats.dirichlet.pdf",
       "def f(y, alpha):\n    x = np.exp(y) / np.sum(np.exp(y))\n"
       "    return stats.dirichlet.pdf(x, alpha)",
       (np.array([0.1, -0.3, 0.4]), np.array([1.5, 2.0, 0.8])), order=2),
    _s("scipy.stats.multivariate_normal.logpdf",
       "def f(x, mean, l):\n    cov = l @ l.T + np.eye(3)\n"
       "    return stats.multivariate_normal.logpdf(x, mean, cov)",
       (B32.T, B3 * 0.5, M3 * 0.5), order=2),
    _s("scipy.stats.multivariate_normal.logpdf",
       "def f(x, v):\n    return stats.multivariate_normal.logpdf(x, np.zeros(3), v)",
       (B3, P3), order=2),
    _s("scipy.stats.multivariate_normal.logpdf",
       "def f(x, c):\n    return stats.multivariate_normal.logpdf(x, cov=c)",
       (B3, 1.3), order=2),
    _s("scipy.stats.multivariate_normal.pdf",
       "def f(x, mean, l):\n    cov = l @ l.T + np.eye(3)\n"
       "    return stats.multivariate_normal.pdf(x, mean, cov)",
       (B3, B3 * 0.5, M3 * 0.5), order=2),
    _s("scipy.stats.multivariate_normal.entropy",
       "def f(l):\n    cov = l @ l.T + np.eye(3)\n"
       "    return stats.multivariate_normal.entropy(None, cov)",
       (M3,), order=2),
    _s("scipy.stats.multivariate_normal.entropy",
       "def f(c):\n    return stats.multivariate_normal.entropy(np.zeros(2), c)", (1.7,), order=2),
    # --- scipy.linalg
    _s("scipy.linalg.solve_triangular", "def f(a, b):\n    return linalg.solve_triangular(a, b)",
       (TRI3, B32), order=2),
    _s("scipy.linalg.solve_triangular",
       "def f(a, b):\n    return linalg.solve_triangular(a, b, trans='T', lower=True)",
       (TRI3.T, B3), order=2),
    _s("scipy.linalg.solve_triangular",
       "def f(a, b):\n    return linalg.solve_triangular(a, b, lower=True, unit_diagonal=True)",
       (TRI3.T, B3)),
    _s("scipy.linalg.solve_banded",
       "def f(ab, b):\n    return linalg.solve_banded((1, 1), ab, b)",
       (np.array([[0.0, 0.5, -0.3, 0.2], [3.0, 2.5, 3.2, 2.8], [0.4, -0.6, 0.1, 0.0]]),
        np.array([1.0, -0.5, 0.3, 0.8])), order=2),
    _s("scipy.linalg.solve_banded",
       "def f(ab, b):\n    return linalg.solve_banded((2, 0), ab, b)",
       (np.array([[3.0, 2.5, 3.2], [0.4, -0.6, 0.0], [0.3, 0.0, 0.0]]), B32)),
    _s("scipy.linalg.solve_sylvester", "def f(a, b, q):\n    return linalg.solve_sylvester(a, b, q)",
       (SPD3, np.diag([1.0, 2.0]) + 0.1, B32), order=2),
    _s("scipy.linalg.sqrtm", "def f(a):\n    return linalg.sqrtm(a)", (SPD3,), order=2),
    # --- scipy.signal
    _s("scipy.signal.convolve", "def f(a, b):\n    return signal.convolve(a, b)",
       (_rng.standard_normal(5), _rng.standard_normal(3)), order=2),
    _s("scipy.signal.convolve", "def f(a, b):\n    return signal.convolve(a, b, mode='same')",
       (_rng.standard_normal(5), _rng.standard_normal(4)), order=2),
    _s("scipy.signal.convolve", "def f(a, b):\n    return signal.convolve(a, b, 'valid')",
       (_rng.standard_normal(3), _rng.standard_normal(6))),
    _s("scipy.signal.convolve", "def f(a, b):\n    return signal.convolve(a, b, mode='same')",
       (_rng.standard_normal((3, 4)), _rng.standard_normal((2, 2)))),
    # --- scipy.integrate (first order only)
    _s("scipy.integrate.odeint",
       "def _rhs(y, t, k):\n    return -k * y + np.sin(t) * y[::-1]\n\n"
       "def f(y0, t, k):\n    return integrate.odeint(_rhs, y0, t, args=(k,), rtol=1e-11, atol=1e-11)",
       (np.array([1.0, 0.5]), np.array([0.0, 0.4, 1.0]), 0.7), rtol=1e-4, atol=1e-6),
    _s("scipy.integrate.odeint",
       "def _rhs2(t, y):\n    return np.array([y[1], -np.sin(y[0])])\n\n"
       "def f(y0):\n    return integrate.odeint(_rhs2, y0, np.linspace(0.0, 1.5, 4), tfirst=True,\n"
       "                            rtol=1e-11, atol=1e-11)",
       (np.array([0.3, 0.1]),), rtol=1e-4, atol=1e-6),
]

# Names of the coverage targets that have no spec here, with the reason.
NO_SPEC = {}
