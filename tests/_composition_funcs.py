"""Functions for tests/test_composition.py.

Written against the module name ``np`` only, so that the test loads this
file a second time with ``np`` bound to ``autograd.numpy`` and gets an
independent reference (autograd nests: grad(grad(...)), hessian, jacobian).
Functions that call the API (``grad``, ``hessian``, ``jvp``, ``vjp``) take
them from the module globals, which the autograd copy rebinds too.
"""
import numpy as np

from ad_compiler import grad, hessian, jvp, vjp


# --- scalar -> scalar (grad(grad(...)) to order 4) -------------------------

def s_tanh(x):
    return np.tanh(x)


def s_sin(x):
    return np.sin(x)


def s_exp(x):
    return np.exp(0.5 * x)


def s_poly(x):
    return 3.0 * x ** 5 - 2.0 * x ** 3 + x - 1.0


def s_loop_if(x):
    s = x
    for i in range(3):
        if s > 0.5:
            s = np.sin(s) * x
        else:
            s = s * s + x
    return s


def _helper(u, k):
    return np.exp(u) * u + k * np.cos(u)


def s_helper(x):
    return _helper(x, 2.0) + np.sin(x) * _helper(0.5 * x, 1.0)


def s_while_break(x):
    s = x
    k = 0
    while k < 10:
        s = np.sin(s) + 0.5 * x
        k += 1
        if s > 2.0:
            break
    return s


SCALAR = ["s_tanh", "s_sin", "s_exp", "s_poly", "s_loop_if", "s_helper", "s_while_break"]


# --- array -> scalar ----------------------------------------------------------

def energy(x):
    return np.sum(np.tanh(x) ** 2) + 0.5 * np.sum(x ** 3) + np.prod(np.cos(x))


def energy_loop(x):
    e = 0.0
    for i in range(x.shape[0]):
        for j in range(i + 1, x.shape[0]):
            r = x[i] - x[j]
            e = e + np.exp(-r * r)
    return e


def two_args(x, w):
    return np.sum(np.sin(w * x)) * np.sum(w ** 2) + np.dot(x, x) * w[0]


ARRAY = ["energy", "energy_loop"]


# --- functions whose code calls the API ----------------------------------------

def calls_hessian(x):
    return np.sum(hessian(energy)(x) * np.outer(x, x))


def calls_grad(x):
    return np.sum(grad(energy)(x) ** 2)


def calls_grad_alias(x):
    dE = grad(energy)
    return np.sum(dE(x) * dE(x + 1.0))


def calls_grad_twice(x):
    # grad of a function calling grad of a function calling grad
    return np.sum(grad(calls_grad)(x) * x)


def calls_jvp(x):
    y, t = jvp(energy, (x,), (x * x,))
    return t * y


def _vec(x):
    return np.sin(x) * x


def calls_vjp(x):
    y, pb = vjp(_vec, x)
    (g,) = pb(2.0 * x)
    return np.sum(g * x) + np.sum(y)


def calls_grad_loop(x):
    s = 0.0
    for i in range(2):
        s = s + np.sum(grad(energy_loop)(x * (i + 1.0)) * x)
    return s


def calls_grad_two_args(w):
    return np.sum(grad(two_args)(np.array([0.2, -0.4, 0.9]), w) ** 2)


CALLERS = ["calls_hessian", "calls_grad", "calls_grad_alias", "calls_grad_twice",
           "calls_jvp", "calls_vjp", "calls_grad_loop", "calls_grad_two_args"]


class Model:
    def __init__(self, a):
        self.a = a

    def energy(self, x):
        return np.sum(np.sin(self.a * x) ** 2) + self.a * np.sum(x ** 4)


def kw_only(x, *, s=2.0):
    return np.sum(np.sin(s * x))


def calls_grad_kw(s):
    return np.sum(grad(kw_only)(np.array([0.3, -0.5, 0.8]), s=s))


def calls_grad_kw_const(x):
    return np.sum(grad(kw_only)(x, s=1.5) ** 2)
