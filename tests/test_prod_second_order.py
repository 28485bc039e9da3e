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


# --- third derivatives (fuzz seed 8484: grad(grad(f)) of code calling jvp(h)
# where h takes np.prod of a vector with zeros was NaN: the forward rule of
# prod_grad_tangent divided by the entries).  The reference is autograd on the
# same products written out entry by entry (exact polynomials, no division).

from ad_compiler import jvp  # noqa: E402


def _directional(fn, v):
    return lambda x: jvp(fn, (x,), (v(x),))[1]


def _explicit_all(x):
    return x[0] * x[1] * x[2] * x[3]


def _explicit_axis0_sq(x):
    return (x[0, 0] * x[1, 0] * x[2, 0]) ** 2 + (x[0, 1] * x[1, 1] * x[2, 1]) ** 2


@pytest.mark.parametrize("fn, explicit, x", [
    (_prod_all, _explicit_all, np.array([0.0, 2.0, 3.0, 0.5])),
    (_prod_all, _explicit_all, np.array([0.0, 0.0, 3.0, 0.5])),
    (_prod_all, _explicit_all, np.array([0.0, 0.0, 0.0, 0.5])),
    (_prod_all, _explicit_all, np.array([0.7, 2.0, 3.0, 0.5])),
    (_prod_axis0_sq, _explicit_axis0_sq, np.array([[0.0, 2.0], [1.5, 0.0], [1.0, 3.0]])),
    (_prod_axis0_sq, _explicit_axis0_sq, np.array([[0.0, 0.0], [1.5, 0.0], [1.0, 3.0]])),
])
def test_third_derivative_of_prod_with_zero_entries(fn, explicit, x):
    autograd = pytest.importorskip("autograd")
    anp = pytest.importorskip("autograd.numpy")

    def v(z):
        return np.cos(z) + 0.5

    def av(z):
        return anp.cos(z) + 0.5
    g = _directional(fn, v)
    ref_g = lambda z: anp.sum(autograd.grad(explicit)(z) * av(z))  # noqa: E731
    np.testing.assert_allclose(g(x), ref_g(x), rtol=1e-12, atol=1e-12)
    got = grad(g)(x)
    assert not np.isnan(got).any()
    np.testing.assert_allclose(got, autograd.grad(ref_g)(x), rtol=1e-10, atol=1e-12)
    h = 1e-6
    fd = np.array([(g(x + h * e) - g(x - h * e)) / (2 * h)
                   for e in np.eye(x.size).reshape((x.size,) + x.shape)]).reshape(x.shape)
    np.testing.assert_allclose(got, fd, rtol=1e-6, atol=1e-6)
    # the Hessian of g: a third derivative of np.prod through reverse mode
    H = hessian(g)(x)
    assert not np.isnan(H).any()
    np.testing.assert_allclose(H, autograd.hessian(ref_g)(x), rtol=1e-10, atol=1e-12)


def _calls_grad(z):
    return np.sum(grad(_prod_all)(z) * z)


def _calls_grad_twice(z):
    return np.sum(grad(_calls_grad)(z) * z)


def test_fourth_derivative_of_prod():
    """Fourth order through np.prod (the forward rule of
    prod_grad_curvature) against autograd on the written-out product; where
    an entry is exactly 0 it is refused with a NotImplementedError."""
    autograd = pytest.importorskip("autograd")
    anp = pytest.importorskip("autograd.numpy")
    from ad_compiler import jacobian

    def ref_calls_grad(z):
        return anp.sum(autograd.grad(_explicit_all)(z) * z)

    def ref_calls_grad_twice(z):
        return anp.sum(autograd.grad(ref_calls_grad)(z) * z)
    x = np.array([0.7, 2.0, 3.0, 0.5])
    np.testing.assert_allclose(jacobian(grad(_calls_grad_twice))(x),
                               autograd.hessian(ref_calls_grad_twice)(x), rtol=1e-9, atol=1e-10)
    with pytest.raises(NotImplementedError, match="fourth derivative of np.prod"):
        jacobian(grad(_calls_grad_twice))(np.array([0.0, 2.0, 3.0, 0.5]))


# --- third derivatives of a product over one axis without keepdims (stop-16
# CI, progen helpers: grad of code calling hvp(h) where h takes
# v.prod(axis=1) raised "could not broadcast (3,) into (3, 2)": np.prod's
# forward rule seeds prod_grad with keepdims=True next to a product z reduced
# without it, and prod_grad_tangent expanded z with the seed's keepdims).

_C = np.arange(1.0, 7.0).reshape(3, 2)


def _prod_rows_sq(u):
    return np.sum((u * _C).prod(axis=1) ** 2)


def _prod_cols(v):
    return np.sum(np.prod(v, axis=0) * np.sin(v[0]))


def _prod_rows_square(v):
    # square: z of shape (3,) broadcast against (3, 3) along the wrong axis
    # gave silently wrong third derivatives before the fix
    return np.sum(np.prod(v, axis=1) ** 2 * v[:, 0])


def _prod_rows_keep(v):
    return np.sum(np.prod(v, axis=-1, keepdims=True) ** 2 * v)


@pytest.mark.parametrize("fn, shape", [
    (_prod_rows_sq, ()),
    (_prod_cols, (3, 2)),
    (_prod_rows_keep, (2, 3)),
    (_prod_rows_square, (3, 3)),
])
def test_third_derivative_of_prod_over_an_axis(fn, shape):
    autograd = pytest.importorskip("autograd")
    anp = pytest.importorskip("autograd.numpy")
    ref = {_prod_rows_sq: lambda u: anp.sum(anp.prod(u * _C, axis=1) ** 2),
           _prod_cols: lambda v: anp.sum(anp.prod(v, axis=0) * anp.sin(v[0])),
           _prod_rows_square: lambda v: anp.sum(anp.prod(v, axis=1) ** 2 * v[:, 0]),
           _prod_rows_keep: lambda v: anp.sum(anp.prod(v, axis=-1, keepdims=True) ** 2 * v)}[fn]
    x = 0.7 if not shape else np.linspace(0.4, 1.3, int(np.prod(shape))).reshape(shape)
    d = np.ones(shape) if shape else 1.0
    # reverse over reverse over reverse (scalar input) / jvp over hvp
    if not shape:
        got = grad(grad(grad(fn)))(x)
        np.testing.assert_allclose(got, autograd.grad(autograd.grad(autograd.grad(ref)))(x),
                                   rtol=1e-10)
        return
    from ad_compiler import hvp

    def hv(z):
        return np.sum(hvp(fn)(z, d) * np.cos(z))

    def ref_hv(z):
        return anp.sum(autograd.hessian_vector_product(ref)(z, d) * anp.cos(z))
    np.testing.assert_allclose(hv(x), ref_hv(x), rtol=1e-10)
    got = grad(hv)(x)
    np.testing.assert_allclose(got, autograd.grad(ref_hv)(x), rtol=1e-9, atol=1e-12)
    h = 1e-6
    fd = np.array([(hv(x + h * e) - hv(x - h * e)) / (2 * h)
                   for e in np.eye(x.size).reshape((x.size,) + x.shape)]).reshape(x.shape)
    np.testing.assert_allclose(got, fd, rtol=1e-6, atol=1e-6)
