"""NumPy functions with derivative rules given directly to the API
(``grad(np.sin)``, ``elementwise_grad(np.tanh)``, as in JAX and autograd),
checked against finite differences and autograd."""
import numpy as np
import pytest

from ad_compiler import elementwise_grad, grad, hessian, jacobian, jvp, vjp
from tests.reference import fd_jacobian

autograd = pytest.importorskip("autograd")
anp = pytest.importorskip("autograd.numpy")


def _fd_scalar(f, x, h=1e-6):
    return (f(x + h) - f(x - h)) / (2 * h)


@pytest.mark.parametrize("name", ["sin", "tanh", "exp", "log1p", "arctan", "sqrt"])
def test_grad_of_a_ufunc(name):
    f, fa = getattr(np, name), getattr(anp, name)
    x = 0.7
    assert grad(f)(x) == pytest.approx(_fd_scalar(f, x), rel=1e-7)
    assert grad(f)(x) == pytest.approx(autograd.grad(fa)(x), rel=1e-12)
    # nested: the third derivative, as autograd's
    ref = autograd.grad(autograd.grad(autograd.grad(fa)))(x)
    assert grad(grad(grad(f)))(x) == pytest.approx(ref, rel=1e-9)
    xs = np.array([0.2, 0.5, 0.9])
    np.testing.assert_allclose(elementwise_grad(f)(xs), autograd.elementwise_grad(fa)(xs),
                               rtol=1e-12)
    np.testing.assert_allclose(jvp(f, (xs,), (np.ones(3),))[1],
                               autograd.elementwise_grad(fa)(xs), rtol=1e-12)
    out, pb = vjp(f, xs)
    np.testing.assert_allclose(pb(np.ones(3))[0], autograd.elementwise_grad(fa)(xs),
                               rtol=1e-12)


def test_two_argument_ufunc_and_linalg():
    a, b = 0.3, -0.8
    ga, gb = grad(np.arctan2, wrt=(0, 1))(a, b)
    assert ga == pytest.approx(_fd_scalar(lambda t: np.arctan2(t, b), a), rel=1e-7)
    assert gb == pytest.approx(_fd_scalar(lambda t: np.arctan2(a, t), b), rel=1e-7)
    A = np.array([[2.0, 0.3], [0.1, 1.5]])
    np.testing.assert_allclose(grad(np.linalg.det)(A), fd_jacobian(np.linalg.det, (A,), 0),
                               rtol=1e-6)
    np.testing.assert_allclose(jacobian(np.linalg.inv)(A), fd_jacobian(np.linalg.inv, (A,), 0),
                               rtol=1e-6, atol=1e-8)
    x = np.array([0.1, 0.4])
    np.testing.assert_allclose(hessian(lambda v: np.sum(np.sin(v)))(x), np.diag(-np.sin(x)),
                               rtol=1e-12)


def test_a_function_without_rules_is_still_a_clear_type_error():
    with pytest.raises(TypeError, match="Wrap it"):
        grad(np.random.rand)(0.3)
