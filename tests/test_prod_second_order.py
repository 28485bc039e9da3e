"""Second derivatives of np.prod where entries are exactly zero (BUG-30:
they were silently NaN); checked against finite differences of the
gradient, which is right there (autograd itself gives NaN at zeros)."""
import numpy as np
import pytest

from ad_compiler import grad, hessian


def _fd_hessian(f, x, h=1e-6):
    g = grad(f)
    cols = []
    for k in range(x.size):
        e = np.zeros(x.size)
        e[k] = h
        e = e.reshape(x.shape)
        cols.append(((g(x + e) - g(x - e)) / (2 * h)).reshape(-1))
    return np.stack(cols, axis=1).reshape(x.shape + x.shape)


def _prod_all(v):
    return np.prod(v)


def _prod_axis0_sq(v):
    return np.sum(np.prod(v, axis=0) ** 2)


def _prod_axis1_keep(v):
    return np.sum(np.prod(v, axis=1, keepdims=True) * v)


@pytest.mark.parametrize("fn, x", [
    (_prod_all, np.array([0.0, 2.0, 3.0, 0.5])),
    (_prod_all, np.array([0.0, 0.0, 3.0])),
    (_prod_axis0_sq, np.array([[0.0, 2.0], [1.5, 0.0], [1.0, 3.0]])),
    (_prod_axis0_sq, np.array([[0.0, 0.0], [1.5, 0.0], [1.0, 3.0]])),
    (_prod_axis1_keep, np.array([[0.0, 2.0], [1.5, 0.0], [1.0, 3.0]])),
])
def test_hessian_of_prod_with_zero_entries(fn, x):
    H = hessian(fn)(x)
    assert not np.isnan(H).any()
    np.testing.assert_allclose(H, _fd_hessian(fn, x), atol=1e-5)
