"""Third derivatives through np.linalg.norm (fuzz seeds
1206003820 / 1206004453: grad of code calling hessian(h), h taking a norm,
was refused: no forward rule for norm_grad_tangent).  Checked against
autograd (whose norm gradient is written in differentiable NumPy) and central
finite differences of our own lower-order derivative.  A fourth derivative
through the norm's gradient is refused with a clear error."""
import numpy as np
import pytest

from ad_compiler import grad, hessian, jacobian, jvp

autograd = pytest.importorskip("autograd")
anp = pytest.importorskip("autograd.numpy")

A = np.array([[0.3, -1.2, 0.8], [1.1, 0.4, -0.6]])

# (name, our function of a vector u of 6, autograd's twin)
CASES = [
    ("vec2", lambda u: np.linalg.norm(u) ** 3 + np.linalg.norm(u * A.ravel()),
     lambda u: anp.linalg.norm(u) ** 3 + anp.linalg.norm(u * A.ravel())),
    ("rows2", lambda u: np.sum(np.linalg.norm(u.reshape(2, 3) + A, axis=1) ** 2 * np.array([1.0, -0.5])),
     lambda u: anp.sum(anp.linalg.norm(anp.reshape(u, (2, 3)) + A, axis=1) ** 2 * anp.array([1.0, -0.5]))),
    ("cols_keep", lambda u: np.sum(np.linalg.norm(u.reshape(2, 3) * A, axis=0, keepdims=True) * u.reshape(2, 3)),
     # (autograd's hessian fails on norm(keepdims=True): the norm written out)
     lambda u: anp.sum(anp.sqrt(anp.sum((anp.reshape(u, (2, 3)) * A) ** 2, axis=0, keepdims=True))
                       * anp.reshape(u, (2, 3)))),
    ("fro", lambda u: np.linalg.norm(u.reshape(2, 3) - A, "fro") * np.sum(u ** 2),
     lambda u: anp.linalg.norm(anp.reshape(u, (2, 3)) - A, "fro") * anp.sum(u ** 2)),
    ("p3", lambda u: np.linalg.norm(u + 0.1, 3) ** 2,
     lambda u: anp.linalg.norm(u + 0.1, 3) ** 2),
    ("l1", lambda u: np.linalg.norm(u - 0.2, 1) * np.sum(np.sin(u)),
     lambda u: anp.sum(anp.abs(u - 0.2)) * anp.sum(anp.sin(u))),
]
U = np.array([0.7, -0.4, 1.3, 0.25, -0.9, 0.55])
V = np.array([0.3, 1.0, -0.5, 0.8, 0.2, -0.7])


def _fd(f, x, h=1e-5):
    return np.array([(f(x + h * e) - f(x - h * e)) / (2 * h) for e in np.eye(x.size)])


@pytest.mark.parametrize("name, f, af", CASES, ids=[c[0] for c in CASES])
def test_third_derivative_grad_of_hessian(name, f, af):
    """grad of code calling hessian(f): a third derivative of the norm."""
    def g(u):
        return np.sum(hessian(f)(u) * np.outer(V, np.cos(u)))

    def ag(u):
        return anp.sum(autograd.hessian(af)(u) * anp.outer(V, anp.cos(u)))
    np.testing.assert_allclose(g(U), ag(U), rtol=1e-10, atol=1e-12)
    got = grad(g)(U)
    np.testing.assert_allclose(got, autograd.grad(ag)(U), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(got, _fd(g, U), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name, f, af", CASES, ids=[c[0] for c in CASES])
def test_third_derivative_hessian_of_jvp(name, f, af):
    """the Hessian of code calling jvp(f): a third derivative through the
    forward rule of norm_tangent (norm_tangent_curvature's rule)."""
    def g(u):
        return jvp(f, (u,), (V,))[1]

    def ag(u):
        return anp.sum(autograd.grad(af)(u) * V)
    np.testing.assert_allclose(g(U), ag(U), rtol=1e-10, atol=1e-12)
    H = jacobian(grad(g))(U)
    np.testing.assert_allclose(H, autograd.hessian(ag)(U), rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(H, _fd(grad(g), U), rtol=1e-5, atol=1e-6)


def test_fourth_derivative_is_a_clear_error():
    """grad of code calling jvp of code calling hessian(f): a fourth
    derivative through the norm's gradient needs a forward rule of
    norm_grad_curvature, which there is not: a CompileError at the user's
    line naming the helper, never a wrong number."""
    from ad_compiler import CompileError
    f = CASES[0][1]

    def g(u):
        return np.sum(hessian(f)(u) * np.outer(V, np.cos(u)))

    def k(u):
        return jvp(g, (u,), (np.sin(u),))[1]
    with pytest.raises(CompileError, match=r"test_norm_higher_order.py:\d+:\d+: no derivative rule "
                                           r"for ad_compiler.runtime.norm_grad_curvature"):
        grad(k)(U)
