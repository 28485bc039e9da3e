"""User functions with user-defined derivative rules, for test_user_rules.py.

Kept out of the test module and imported only when the tests run, so that
collecting the test suite does not add these user primitives to the registry
that tests/test_rules.py walks (it checks the built-in rules).
"""

import numpy as np
import scipy.special as sp
from scipy import linalg

from ad_compiler import forward, reverse

d = None  # the d[x] notation of templates; never evaluated


# --- 1. a numerically stable logsumexp -----------------------------------------

def my_logsumexp(x):
    m = np.max(x)
    return m + np.log(np.sum(np.exp(x - m)))


@reverse(my_logsumexp)
def _my_logsumexp_rev(z, x):
    d[x] = d[z] * np.exp(x - z)


@forward(my_logsumexp)
def _my_logsumexp_fwd(z, x):
    d[z] = np.sum(d[x] * np.exp(x - z))


def lse_loss(w, x):
    return my_logsumexp(x * w) - np.sum(x * w) / 3.0


# --- 2. a function implemented in C -------------------------------------------

def log_gamma(x):
    # a C routine: the compiler has no source to differentiate
    return sp.gammaln(x)


@reverse(log_gamma)
def _log_gamma_rev(z, x):
    d[x] = d[z] * sp.digamma(x)


@forward(log_gamma)
def _log_gamma_fwd(z, x):
    d[z] = d[x] * sp.digamma(x)


def gamma_loss(a):
    return np.sum(log_gamma(a * a + 1.0))


def tri_solve(L, b):
    return linalg.solve_triangular(L, b, lower=True)


@reverse(tri_solve)
def _tri_solve_rev(z, L, b):
    bb = linalg.solve_triangular(L, d[z], trans="T", lower=True)
    d[b] = bb
    d[L] = -np.tril(np.outer(bb, z))


@forward(tri_solve)
def _tri_solve_fwd(z, L, b):
    d[z] = linalg.solve_triangular(L, d[b] - np.tril(d[L]) @ z, lower=True)


def tri_loss(L, b):
    x = tri_solve(L, b)
    return np.sum(x * x)


# --- 3. gradient clipping: identity forward, clipped adjoint backward ------------

def clip_gradient(x, c):
    return x


@reverse(clip_gradient)
def _clip_gradient_rev(z, x, c):
    d[x] = np.clip(d[z], -c, c)


@forward(clip_gradient)
def _clip_gradient_fwd(z, x, c):
    d[z] = d[x]


def clipped_loss(x):
    return np.sum(clip_gradient(x, 0.5) ** 2)


# --- a reverse-only rule and a deliberately missing forward rule ------------------

def only_reverse(x):
    return x * 2.0


@reverse(only_reverse)
def _only_reverse_rev(z, x):
    d[x] = d[z] * 2.0


def uses_only_reverse(x):
    return np.sum(only_reverse(x))
