"""Functions once declared non-differentiable that silently gave a ZERO
derivative where the true one is not zero (audit of rules/nondiff.py): each
is now differentiated (grad and jvp against central finite differences) or
refused with a CompileError at the user's line; harmless uses (shape-only
arguments, integer draws) still run."""
import inspect
import math

import numpy as np
import pytest

import ad_compiler as adc
from ad_compiler import stop_gradient
from tests.reference import fd_jacobian

C = np.array([0.75, 5.0, -1.25, 3.3])
IDX = np.array([0, 2, 2, 1, 4])
Z0 = np.array([-1.0, 0.0, 2.0, 0.0, -3.0])
X = np.array([0.3, -1.2, 0.7, 2.1, -0.4])
S = 0.8


def _weigh(out):
    out = np.asarray(out)
    return np.sum(np.sin(out) * np.arange(1.0, out.size + 1.0).reshape(out.shape))


def full_like_fill(s):
    return _weigh(np.full_like(C, s))


def full_like_both(x):
    return _weigh(np.full_like(np.zeros((2, 5)), x) * x)


def arange_start(s):
    return _weigh(np.arange(s, s + 4.5))


def arange_step(s):
    return _weigh(np.arange(0.0, 3.0, s))


def logspace_base(s):
    return _weigh(np.logspace(s, 2.0, 4, base=s + 1.0))


def geomspace_ends(s):
    return _weigh(np.geomspace(s, 4.0 * s + 1.0, 4))


def heaviside_x2(s):
    return _weigh(np.heaviside(Z0, s))


def histogram_edges(x):
    return _weigh(np.histogram(x, bins=3)[1])


def histogram_weights(w):
    return _weigh(np.histogram(C, bins=3, weights=w)[0])


def histogram_bin_edges(x):
    return _weigh(np.histogram_bin_edges(x, bins=3))


def bincount_weights(w):
    return _weigh(np.bincount(IDX, weights=w))


def unique_values(x):
    return _weigh(np.unique(x))


def unique_counts_values(x):
    vals, counts = np.unique(x, return_counts=True)
    return _weigh(vals * counts)


def unique_all_values(x):
    return _weigh(np.unique_all(x)[0])


def union_values(x):
    return _weigh(np.union1d(x, C))


def setdiff_values(x):
    return _weigh(np.setdiff1d(x, C))


def setxor_values(x):
    return _weigh(np.setxor1d(C, x))


def fftfreq_spacing(s):
    return _weigh(np.fft.fftfreq(6, s))


def copysign_x(s):
    return math.copysign(s, -1.0) * math.sin(s)


def divmod_remainder(s):
    return divmod(s, 0.5)[1] * divmod(2.3, s)[1]


CASES = [
    (full_like_fill, S), (full_like_both, X), (arange_start, S), (arange_step, S),
    (logspace_base, S), (geomspace_ends, S), (heaviside_x2, S), (histogram_edges, X),
    (histogram_weights, np.array([1.0, 2.0, 0.5, -1.0])), (histogram_bin_edges, X),
    (bincount_weights, np.array([1.0, 2.0, 0.5, -1.0, 3.0])),
    (unique_values, np.array([0.3, -1.2, 0.35, 2.1, -1.1, 0.9])),
    (unique_counts_values, np.array([0.3, -1.2, 0.35, 2.1])),
    (unique_all_values, np.array([0.3, -1.2, 0.35, 2.1])),
    (union_values, X), (setdiff_values, X), (setxor_values, X), (fftfreq_spacing, S),
    (copysign_x, S), (divmod_remainder, S + 0.1),
]


@pytest.mark.parametrize("fn,x", CASES, ids=[c[0].__name__ for c in CASES])
def test_grad_and_jvp_match_finite_differences(fn, x):
    fd = fd_jacobian(fn, (x,), 0)
    assert not np.allclose(fd, 0.0)            # the derivative a silent zero would miss
    np.testing.assert_allclose(adc.grad(fn)(x), fd, rtol=1e-6, atol=1e-8)
    t = np.linspace(0.5, -1.0, np.size(x)).reshape(np.shape(x)) if np.ndim(x) else 0.7
    _, tangent = adc.jvp(fn, (x,), (t,))
    np.testing.assert_allclose(tangent, np.sum(fd * t), rtol=1e-6, atol=1e-8)


def test_hessian_of_gathered_unique_values():
    def f(x):
        return np.sum(np.unique(x) ** 3 * np.arange(1.0, 5.0))
    x = np.array([0.3, -1.2, 0.35, 2.1])
    H = adc.hessian(f)(x)
    ref = fd_jacobian(adc.grad(f), (x,), 0)
    np.testing.assert_allclose(H, ref, rtol=1e-6, atol=1e-8)


def test_shape_only_arguments_still_run():
    def f(x, s):
        np.random.seed(0)
        z = np.full_like(x, s) + np.zeros_like(x) + np.heaviside(x, 0.5)
        n = np.random.poisson(3.0, size=x.shape) + np.arange(np.size(x))
        return np.sum(z * x * n) + np.sum(np.bincount(np.array([0, 1, 1])))
    x, s = np.array([0.4, -0.3, 1.2]), 0.7
    for p in (0, 1):
        fd = fd_jacobian(lambda *a: f(*a), (x, s), p)
        np.testing.assert_allclose(adc.grad(f, wrt=p)(x, s), fd, rtol=1e-6, atol=1e-8)


def test_reparameterised_noise_is_differentiated():
    def f(mu, sigma):
        np.random.seed(0)
        z = mu + sigma * np.random.standard_normal(3)
        return np.sum(z ** 2 + np.random.normal(0.0, 1.0, size=3) * mu)
    for p in (0, 1):
        fd = fd_jacobian(f, (0.5, 2.0), p)
        np.testing.assert_allclose(adc.grad(f, wrt=p)(0.5, 2.0), fd, rtol=1e-6)


def random_loc(s):
    return np.sum(np.random.normal(s, 2.0, size=3))


def random_choice(x):
    return np.sum(np.random.choice(x, 3))


def intersect(x):
    return np.sum(np.intersect1d(x, C))


def histogram2d_weights(w):
    return np.sum(np.histogram2d(C, C, bins=2, weights=w)[0] ** 2)


def histogram_density(x):
    return np.sum(np.histogram(x, bins=3, density=True)[0] ** 2)


def tolist_values(x):
    return np.sum(np.array(x.tolist()) ** 2)


REFUSED = [
    (random_loc, S, "numpy.random.normal() with respect to its distribution parameters"),
    (random_choice, X, "numpy.random.choice() with respect to the array it draws from"),
    (intersect, X, "numpy.intersect1d()"),
    (histogram2d_weights, np.ones(4), "numpy.histogram2d()"),
    (histogram_density, X, "only density=False"),
    (tolist_values, X, "method .tolist() on a differentiated value"),
]


@pytest.mark.parametrize("fn,x,msg", REFUSED, ids=[c[0].__name__ for c in REFUSED])
def test_refused_with_the_users_line(fn, x, msg):
    line = inspect.getsourcelines(fn)[1] + 1
    for call in (lambda: adc.grad(fn)(x), lambda: adc.jvp(fn, (x,), (np.ones_like(x),))):
        with pytest.raises(adc.CompileError) as exc:
            call()
        assert msg in str(exc.value)
        assert exc.value.lineno == line
        assert exc.value.filename == __file__


def test_refused_arguments_run_when_constant():
    def f(x):
        np.random.seed(1)
        noise = np.random.normal(0.0, 2.0, size=3) + np.random.choice(C, 3)
        keep = np.intersect1d(C, np.array([5.0, 3.3]))
        return np.sum(x * noise) + np.sum(keep) * x[0] + np.sum(stop_gradient(x) ** 2)
    x = np.array([0.1, 0.2, 0.3])
    # stop_gradient(x) ** 2 contributes 2 x to the finite differences only
    np.testing.assert_allclose(adc.grad(f)(x), fd_jacobian(f, (x,), 0) - 2 * x, rtol=1e-6)
