"""Second and third derivatives of code that writes into arrays in place.

``hessian`` is forward mode over the generated reverse-mode code, whose
adjoint sweep puts back what each in-place write overwrote
(``old1 = ad.read_at(u, idx)`` ... ``u[idx] = old1``).  Three bugs gave
silently wrong numbers or crashes there:

1. ``ad.read_at`` was declared non-differentiable: the saved old values were
   constants in forward mode, so restoring them zeroed the tangent there
   (``u = x.copy(); out = np.sum(u ** 3); u[0] = 0.0``: H[0, 0] was 0).
2. forward mode gave a name of the generated code a private copy after
   ``z = ad.pop(stack)``; the restore then went into the copy while the
   views the code saved (``t3 = z[:-1]``) kept the overwritten values.
3. ``ad.updated``'s forward rule gave the scalar 0.0 as the base when the
   array written into has no tangent (``out = np.zeros(3); out[0] = ...``):
   IndexError in jacobian(jacobian(f)).

and in split mode (a helper with in-place writes called in a loop, reversed
by ``h_fwd``/``h_bwd``), ``ad.restore`` put back the primal but not its
tangent (Hessians off by whole entries).

References: HIPS autograd on twins written without in-place writes
(autograd cannot differentiate them), and central differences of our own
lower-order derivative.
"""
import numpy as np
import pytest

from ad_compiler import grad, hessian, jacobian, jvp

autograd = pytest.importorskip("autograd")
anp = pytest.importorskip("autograd.numpy")

X = np.array([0.3, -0.7, 1.1, 0.5])
V = np.array([0.4, -1.0, 0.7, 0.2])


def _fd(f, x, h=1e-5):
    """Central differences of f (any output shape), last axis: x."""
    return np.stack([(np.asarray(f(x + h * e)) - np.asarray(f(x - h * e))) / (2 * h)
                     for e in np.eye(x.size)], -1)


# -- the functions, each with an autograd twin without in-place writes -------

def write_after_use(x):
    u = x.copy()
    out = np.sum(u ** 3)
    u[0] = 0.0
    return out


def write_after_use_ag(x):
    return anp.sum(x ** 3)


def slice_write_loop(x):
    u = x.copy()
    out = 0.0
    for k in range(3):
        out = out + np.sum(u ** 2 * x)
        u[1:] = u[1:] * 2.0
    return out


def slice_write_loop_ag(x):
    u = x
    out = 0.0
    for k in range(3):
        out = out + anp.sum(u ** 2 * x)
        u = anp.concatenate([u[:1], u[1:] * 2.0])
    return out


def stencil(x):
    u = x.copy()
    for k in range(2):
        u[1:] = u[1:] * u[:-1]
    return np.sum(u * u) + np.sum(u)


def stencil_ag(x):
    u = x
    for k in range(2):
        u = anp.concatenate([u[:1], u[1:] * u[:-1]])
    return anp.sum(u * u) + anp.sum(u)


def update_rebind(x):
    z = x.copy()
    for k in range(2):
        z[1:] += z[:-1] * z[:-1]
        z = z + 0.0
    return np.sum(z)


def update_rebind_ag(x):
    z = x
    for k in range(2):
        z = anp.concatenate([z[:1], z[1:] + z[:-1] * z[:-1]])
    return anp.sum(z)


def heat(x):
    u = x.copy()
    for k in range(3):
        lap = u[:-2] - 2.0 * u[1:-1] + u[2:]
        u[1:-1] += 0.1 * lap * u[1:-1]
        u = np.tanh(u)
    return np.sum(u ** 2)


def heat_ag(x):
    u = x
    for k in range(3):
        lap = u[:-2] - 2.0 * u[1:-1] + u[2:]
        u = anp.concatenate([u[:1], u[1:-1] + 0.1 * lap * u[1:-1], u[-1:]])
        u = anp.tanh(u)
    return anp.sum(u ** 2)


def row_product(x):
    M = np.stack([x, np.sin(x)])
    for k in range(2):
        M[0, :] = M[0, :] * M[1, :]
        M = np.cos(M) + M
    return np.sum(M[0] * M[1])


def row_product_ag(x):
    M = anp.stack([x, anp.sin(x)])
    for k in range(2):
        M = anp.stack([M[0] * M[1], M[1]])
        M = anp.cos(M) + M
    return anp.sum(M[0] * M[1])


def written_argument(x):
    x[1:] = x[1:] * x[:-1]
    return np.sum(x ** 3)


def written_argument_ag(x):
    x = anp.concatenate([x[:1], x[1:] * x[:-1]])
    return anp.sum(x ** 3)


def _looped_helper(v):
    u = v.copy()
    s = 0.0
    for k in range(2):
        s = s + np.sum(u[:-1] * u[1:]) + np.sum(u ** 3)
        u[1:] = u[1:] * u[:-1]
    u[0] = 0.5
    return s + np.sum(u ** 2)


def _looped_helper_ag(v):
    u = v
    s = 0.0
    for k in range(2):
        s = s + anp.sum(u[:-1] * u[1:]) + anp.sum(u ** 3)
        u = anp.concatenate([u[:1], u[1:] * u[:-1]])
    u = anp.concatenate([anp.array([0.5]), u[1:]])
    return s + anp.sum(u ** 2)


def split_helper(x):
    # the helper is called in a loop: its reverse sweep is split in
    # _looped_helper_fwd / _looped_helper_bwd, which restores with ad.restore
    out = 0.0
    for i in range(2):
        out = out + _looped_helper(x * (i + 1.0))
    return out


def split_helper_ag(x):
    out = 0.0
    for i in range(2):
        out = out + _looped_helper_ag(x * (i + 1.0))
    return out


CASES = [(f.__name__, f, ag) for f, ag in [
    (write_after_use, write_after_use_ag),
    (slice_write_loop, slice_write_loop_ag),
    (stencil, stencil_ag),
    (update_rebind, update_rebind_ag),
    (heat, heat_ag),
    (row_product, row_product_ag),
    (written_argument, written_argument_ag),
    (split_helper, split_helper_ag),
]]
IDS = [c[0] for c in CASES]


@pytest.mark.parametrize("name, f, ag", CASES, ids=IDS)
def test_first_order_unchanged(name, f, ag):
    x = X.copy()
    np.testing.assert_allclose(f(x.copy()), ag(X), rtol=1e-12)
    np.testing.assert_allclose(grad(f)(x), autograd.grad(ag)(X), rtol=1e-10, atol=1e-12)
    out, t = jvp(f, (x,), (V,))
    np.testing.assert_allclose(t, np.dot(autograd.grad(ag)(X), V), rtol=1e-10, atol=1e-12)
    # never the caller's array (written_argument writes into its parameter)
    np.testing.assert_array_equal(x, X)


@pytest.mark.parametrize("name, f, ag", CASES, ids=IDS)
def test_hessian(name, f, ag):
    x = X.copy()
    want = autograd.hessian(ag)(X)
    H = hessian(f)(x)
    np.testing.assert_array_equal(x, X)
    np.testing.assert_allclose(H, want, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(H, _fd(lambda z: grad(f)(z.copy()), X), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(jacobian(grad(f))(x), want, rtol=1e-9, atol=1e-10)
    np.testing.assert_array_equal(x, X)


def _grad_of_grad(f):
    def g(x):
        return np.sum(grad(f)(x) * V) + np.sum(x ** 2)
    return g


@pytest.mark.parametrize("name, f, ag", CASES, ids=IDS)
def test_grad_of_code_calling_grad(name, f, ag):
    x = X.copy()
    got = grad(_grad_of_grad(f))(x)
    np.testing.assert_array_equal(x, X)
    want = autograd.hessian(ag)(X) @ V + 2 * X
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("name, f, ag", CASES, ids=IDS)
def test_third_derivative(name, f, ag):
    x = X.copy()
    T = jacobian(hessian(f))(x)
    np.testing.assert_array_equal(x, X)
    np.testing.assert_allclose(T, autograd.jacobian(autograd.hessian(ag))(X),
                               rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(T, _fd(lambda z: hessian(f)(z.copy()), X),
                               rtol=1e-5, atol=1e-5)


# -- bug 3: a write into an array without a tangent (np.zeros) ----------------

def zeros_write(x):
    out = np.zeros(3)
    out[0] = x[0] ** 2
    out[2] = x[1] * x[2] ** 2
    return out


def zeros_write_ag(x):
    return anp.stack([x[0] ** 2, 0.0 * x[0], x[1] * x[2] ** 2])


def copy_write(x):
    y = x.copy()
    y[1] = x[0] * x[1]
    return np.sum(y * y)


def copy_write_ag(x):
    y = anp.concatenate([x[:1], (x[0] * x[1])[None], x[2:]])
    return anp.sum(y * y)


def test_jacobian_of_jacobian_of_zeros_write():
    x = X.copy()
    got = jacobian(jacobian(zeros_write))(x)
    np.testing.assert_allclose(got, autograd.jacobian(autograd.jacobian(zeros_write_ag))(X),
                               rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got, _fd(jacobian(zeros_write), X), rtol=1e-6, atol=1e-6)
    third = jacobian(jacobian(jacobian(zeros_write)))(x)
    np.testing.assert_allclose(
        third, autograd.jacobian(autograd.jacobian(autograd.jacobian(zeros_write_ag)))(X),
        rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(x, X)


def test_jacobian_of_hessian_of_copy_write():
    x = X.copy()
    got = jacobian(hessian(copy_write))(x)
    np.testing.assert_allclose(got, autograd.jacobian(autograd.hessian(copy_write_ag))(X),
                               rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got, _fd(hessian(copy_write), X), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(x, X)
