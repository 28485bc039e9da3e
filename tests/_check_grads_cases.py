"""Functions and user rules (some deliberately wrong) for test_check_grads.py.

Imported only when the tests run, so that collecting the test suite does not
add these user primitives to the registry that tests/test_rules.py walks.
"""
import numpy as np

from ad_compiler import forward, reverse

d = None  # the d[x] notation of templates; never evaluated


def model(w, b, x):
    return np.tanh(x @ w + b)


def loss(w, b, x):
    return np.sum(model(w, b, x) ** 2) + 0.1 * np.sum(w * w)


def scalar_args(a, b):
    return np.sin(a) * b ** 3


# a user primitive whose reverse rule is wrong (sin instead of cos), forward right
def bad_sin(x):
    return np.sin(x)


@reverse(bad_sin)
def _bad_sin_rev(z, x):
    d[x] = d[z] * np.sin(x)


@forward(bad_sin)
def _bad_sin_fwd(z, x):
    d[z] = d[x] * np.cos(x)


def uses_bad_sin(x, y):
    return np.sum(bad_sin(x) * y)


# wrong only at x > 2 (forward rule), to test where the worst error is reported
def kinked(x):
    return x * x


@reverse(kinked)
def _kinked_rev(z, x):
    d[x] = d[z] * 2.0 * x


@forward(kinked)
def _kinked_fwd(z, x):
    d[z] = d[x] * 2.0 * x * np.where(x > 2.0, 1.5, 1.0)


def uses_kinked(x):
    return kinked(x)


# right first derivatives, wrong second derivative: the helper's forward rule
# (used by hessian, forward over reverse) is wrong
def square_helper(x):
    return x * x


@forward(square_helper)
def _square_helper_fwd(z, x):
    d[z] = d[x] * x            # should be 2 * x


def cube(x):
    return x * x * x


@reverse(cube)
def _cube_rev(z, x):
    d[x] = d[z] * 3.0 * square_helper(x)


@forward(cube)
def _cube_fwd(z, x):
    d[z] = d[x] * 3.0 * x * x


def uses_cube(x):
    return np.sum(cube(x))
