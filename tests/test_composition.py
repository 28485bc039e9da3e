"""Nesting of transformations (issue #10): derivatives of the functions the
API returns, and differentiated code that calls the API.

References: nested central finite differences in float64 for second
derivatives, and HIPS autograd (which nests) for every order, on a copy of
tests/_composition_funcs.py loaded with ``np`` = ``autograd.numpy``.
"""
import importlib.util
import os
import sys
import types

import numpy as np
import pytest

import ad_compiler
from ad_compiler import (CompileError, grad, hessian, jacobian, jvp, value_and_grad,
                         vjp)

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

import _composition_funcs as F  # noqa: E402
from reference import fd_hessian, fd_jacobian  # noqa: E402

autograd = pytest.importorskip("autograd")


def _load_autograd_copy():
    import autograd.numpy as anp
    src = open(F.__file__, encoding="utf-8").read()
    src = src.replace("import numpy as np", "import autograd.numpy as np")
    src = src.replace("from ad_compiler import grad, hessian, jvp, vjp", "")
    mod = types.ModuleType("_composition_funcs_autograd")

    def ag_jvp(f, primals, tangents):
        (x,), (v,) = primals, tangents
        return f(x), anp.sum(autograd.grad(f)(x) * v)

    def ag_vjp(f, x):
        pb, y = autograd.make_vjp(f)(x)
        return y, lambda ct: (pb(ct),)

    def ag_grad(f, wrt=0):
        return autograd.grad(f, wrt)

    mod.__dict__.update(grad=ag_grad, hessian=autograd.hessian, jvp=ag_jvp, vjp=ag_vjp)
    exec(compile(src, F.__file__ + "[autograd]", "exec"), mod.__dict__)
    return mod


A = _load_autograd_copy()

X = np.array([0.3, -0.5, 0.8])
W = np.array([1.1, 0.4, -0.7])
V = np.array([0.2, 0.1, -0.3])
S0 = 0.7


def close(a, b, tol=1e-9):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    assert a.shape == b.shape, (a.shape, b.shape)
    scale = max(1.0, float(np.max(np.abs(b))) if b.size else 1.0)
    assert np.max(np.abs(a - b)) <= tol * scale, (a, b)


def nested(g, f, order):
    for _ in range(order):
        f = g(f)
    return f


def fd2_scalar(f, x, h=1e-3):
    """Second derivative by nested central differences (4-point each)."""
    def d1(y):
        return (f(y - 2 * h) - 8 * f(y - h) + 8 * f(y + h) - f(y + 2 * h)) / (12 * h)
    return (d1(x - 2 * h) - 8 * d1(x - h) + 8 * d1(x + h) - d1(x + 2 * h)) / (12 * h)


# --- grad(grad(...)) of scalar functions, orders 2, 3, 4 ---------------------

@pytest.mark.parametrize("name", F.SCALAR)
def test_grad_grad_order2_vs_fd(name):
    f = getattr(F, name)
    close(grad(grad(f))(S0), fd2_scalar(f, S0), tol=1e-6)


@pytest.mark.parametrize("order", [2, 3, 4])
@pytest.mark.parametrize("name", F.SCALAR)
def test_grad_to_order_vs_autograd(name, order):
    ours = nested(grad, getattr(F, name), order)(S0)
    ref = nested(autograd.grad, getattr(A, name), order)(S0)
    close(ours, ref)


@pytest.mark.parametrize("name", ["s_tanh", "s_loop_if", "s_while_break"])
def test_mixed_orders_3_4(name):
    f, a = getattr(F, name), getattr(A, name)
    d3 = nested(autograd.grad, a, 3)(S0)
    d4 = nested(autograd.grad, a, 4)(S0)
    close(hessian(grad(f))(S0), d3)                   # hessian of a gradient
    close(grad(hessian(f))(S0), d3)                   # gradient of a Hessian
    close(jacobian(grad(grad(f)), mode="rev")(S0), d3)
    close(jacobian(grad(grad(f)), mode="fwd")(S0), d3)
    close(jvp(grad(grad(f)), (S0,), (1.0,))[1], d3)
    close(vjp(grad(grad(f)), S0)[1](1.0)[0], d3)
    close(grad(grad(grad(grad(f))))(S0), d4)
    close(hessian(hessian(f))(S0), d4)                # Hessian of a Hessian
    close(jvp(hessian(grad(f)), (S0,), (2.0,))[1], 2.0 * d4)
    v, g = value_and_grad(grad(grad(f)))(S0)
    close(v, nested(autograd.grad, a, 2)(S0))
    close(g, d3)


def test_python_float_and_float32_inputs():
    f = F.s_helper
    ref = nested(autograd.grad, A.s_helper, 3)(S0)
    out = grad(grad(grad(f)))(S0)
    assert isinstance(out, float)
    close(out, ref)
    out32 = grad(grad(f))(np.float32(S0))
    assert np.asarray(out32).dtype == np.float32
    close(out32, nested(autograd.grad, A.s_helper, 2)(S0), tol=1e-5)
    H32 = jacobian(grad(F.energy), mode="rev")(X.astype(np.float32))
    assert H32.dtype == np.float32
    close(H32, autograd.hessian(A.energy)(X), tol=1e-5)


# --- array functions: pairs of transformations ---------------------------------

@pytest.mark.parametrize("name", F.ARRAY)
def test_second_order_pairs_array(name):
    f, a = getattr(F, name), getattr(A, name)
    H = autograd.hessian(a)(X)
    close(H, fd_hessian(f, (X,), 0), tol=1e-6)        # the reference itself vs FD
    close(jacobian(grad(f), mode="rev")(X), H)
    close(jacobian(grad(f), mode="fwd")(X), H)
    close(hessian(f)(X), H)
    close(jvp(grad(f), (X,), (V,))[1], H @ V)
    y, pb = vjp(grad(f), X)
    close(y, autograd.grad(a)(X))
    close(pb(V)[0], H @ V)
    v, g = value_and_grad(f)(X)
    close(jvp(value_and_grad(f), (X,), (V,))[1][1], H @ V)


@pytest.mark.parametrize("name", F.ARRAY)
def test_third_order_pairs_array(name):
    f, a = getattr(F, name), getattr(A, name)
    T3 = autograd.jacobian(autograd.hessian(a))(X)
    close(jacobian(hessian(f))(X), T3)
    close(jacobian(jacobian(grad(f)), mode="rev")(X), T3)
    close(jvp(hessian(f), (X,), (V,))[1], T3 @ V)
    close(vjp(hessian(f), X)[1](np.outer(V, W))[0], np.einsum("ijk,ij->k", T3, np.outer(V, W)))
    close(vjp(jacobian(grad(f)), X)[1](np.eye(3))[0], np.einsum("iik->k", T3))
    # grad of a scalar built from a Hessian-vector product
    hv = lambda_free_hvp(f)
    close(grad(hv)(X), np.einsum("ijk,i,j->k", T3, V, V) + 0.0)


def lambda_free_hvp(f):
    def q(x):
        return np.dot(V, jvp(grad(f), (x,), (V,))[1])
    return q


def test_wrt_several_args():
    f, a = F.two_args, A.two_args
    Hxw = autograd.jacobian(autograd.grad(a, 0), 1)(X, W)
    close(jacobian(grad(f, wrt=0), wrt=1)(X, W), Hxw)
    close(jacobian(grad(f, wrt="x"), wrt="w", mode="rev")(X, W), Hxw)
    close(fd_jacobian(grad(f, wrt=0), (X, W), 1), Hxw, tol=1e-6)
    # vjp of a gradient with two wrt positions: H @ (u, v) over both
    Hfull = autograd.hessian(lambda z: a(z[:3], z[3:]))(np.r_[X, W])
    gx, gw = vjp(grad(f, wrt=(0, 1)), X, W)[1]((V, W))
    close(np.r_[gx, gw], Hfull @ np.r_[V, W])
    gx, gw = jvp(grad(f, wrt=(0, 1)), (X, W), (V, W))[1]
    close(np.r_[gx, gw], Hfull @ np.r_[V, W])


def test_value_and_grad_outer_several_wrt():
    def sv(a, b):
        return np.sin(a) * b ** 2 + a ** 3 * b
    import autograd.numpy as anp

    def asv(a, b):
        return anp.sin(a) * b ** 2 + a ** 3 * b
    val, (ga, gb) = value_and_grad(grad(sv), wrt=(0, 1))(0.3, 0.5)
    close(val, autograd.grad(asv)(0.3, 0.5))
    close(ga, autograd.grad(autograd.grad(asv, 0), 0)(0.3, 0.5))
    close(gb, autograd.grad(autograd.grad(asv, 0), 1)(0.3, 0.5))
    close(grad(grad(sv, wrt="b"), wrt="a")(0.3, 0.5),
          autograd.grad(autograd.grad(asv, 1), 0)(0.3, 0.5))


def test_methods():
    m = F.Model(1.3)
    am = A.Model(1.3)
    H = autograd.hessian(am.energy)(X)
    close(hessian(m.energy)(X), H)
    close(jacobian(grad(m.energy), mode="rev")(X), H)
    close(vjp(grad(m.energy), X)[1](V)[0], H @ V)
    close(jvp(grad(m.energy), (X,), (V,))[1], H @ V)
    close(jacobian(hessian(m.energy))(X), autograd.jacobian(autograd.hessian(am.energy))(X))


# --- differentiated code that calls the API ------------------------------------

@pytest.mark.parametrize("name", F.CALLERS)
def test_code_calling_the_api(name):
    f, a = getattr(F, name), getattr(A, name)
    x = W if name == "calls_grad_two_args" else X
    g = autograd.grad(a)(x)
    close(a(x), f(x))
    close(grad(f)(x), g)
    close(fd_jacobian(f, (x,), 0), g, tol=1e-6)
    close(jvp(f, (x,), (V,))[1], g @ V)
    close(vjp(f, x)[1](1.5)[0], 1.5 * g)
    v, g2 = value_and_grad(f)(x)
    close(v, a(x))
    close(g2, g)


@pytest.mark.parametrize("name", ["calls_grad", "calls_grad_alias",
                                  "calls_vjp",
                                  "calls_jvp"])
def test_hessian_of_code_calling_the_api(name):
    f, a = getattr(F, name), getattr(A, name)
    H = autograd.hessian(a)(X)
    close(hessian(f)(X), H)
    close(jacobian(grad(f), mode="rev")(X), H)


def test_grad_of_grad_of_code_calling_grad_twice():
    close(jacobian(grad(F.calls_grad_twice))(X), autograd.hessian(A.calls_grad_twice)(X))


def test_keyword_only_constant_of_inner_derivative():
    close(grad(F.calls_grad_kw_const)(X), autograd.grad(A.calls_grad_kw_const)(X))


def test_does_not_mutate_inputs():
    x = X.copy()
    grad(grad(F.s_poly))(S0)
    jacobian(grad(F.energy), mode="rev")(x)
    vjp(grad(F.energy), x)[1](V.copy())
    grad(F.calls_vjp)(x)
    assert np.array_equal(x, X)


# --- nestings we cannot do: clear errors, never a wrong number -------------------

def test_error_grad_of_non_scalar_derivative():
    with pytest.raises(TypeError, match=r"grad of grad\(energy\) needs a scalar output"):
        grad(grad(F.energy))(X)


def test_error_grad_of_has_aux_gradient():
    def aux(t):
        return t ** 3, t
    with pytest.raises(TypeError, match="has_aux=True is not supported"):
        grad(grad(aux, has_aux=True))(0.3)
    with pytest.raises(TypeError, match="has_aux=True is not supported"):
        grad(grad(F.s_sin), has_aux=True)(0.3)


def test_error_pytree_argument_of_reversed_jacobian():
    def P(p):
        return np.sum(p["a"] ** 2 * p["b"])
    with pytest.raises(TypeError, match="Jacobian of a derivative is taken with respect to a "
                                        "float or a float array"):
        jacobian(grad(P), mode="rev")({"a": X, "b": W})


def test_error_differentiated_keyword_only_argument_of_inner_derivative():
    # was a silent zero: the keyword's derivative was dropped
    with pytest.raises(CompileError, match="'kwargs', which is differentiated here") as e:
        grad(F.calls_grad_kw)(1.5)
    assert "_composition_funcs.py" in str(e.value) and "s=s" in str(e.value)
    with pytest.raises(CompileError, match="which is differentiated here"):
        jvp(F.calls_grad_kw, (1.5,), (1.0,))


def test_error_wrong_arguments():
    with pytest.raises(TypeError, match="argument 0 is int"):
        grad(grad(F.s_sin))(1)
    with pytest.raises(ValueError, match="out of range"):
        grad(grad(F.two_args), wrt=5)(X, W)


def _lse(x):
    return np.log(np.sum(np.exp(x)))


def _softmax_field(x):
    return np.exp(x) / np.sum(np.exp(x)) * x


def test_hessian_of_a_vector_valued_derivative():
    """hessian(grad(f)) of an array (JAX: hessian(g) = jacfwd(jacrev(g)) for
    any output): the third-derivative tensor, not a TypeError; hessian of a
    Jacobian likewise; a scalar input keeps forward over reverse."""
    autograd = pytest.importorskip("autograd")
    anp = pytest.importorskip("autograd.numpy")
    x = np.array([0.3, -0.7, 1.1])
    got = hessian(grad(_lse))(x)
    ref = autograd.hessian(autograd.grad(lambda v: anp.log(anp.sum(anp.exp(v)))))(x)
    assert got.shape == (3, 3, 3)
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-13)
    h = 1e-5
    fd = np.stack([(hessian(_lse)(x + h * e) - hessian(_lse)(x - h * e)) / (2 * h)
                   for e in np.eye(3)], axis=-1)
    np.testing.assert_allclose(got, fd, rtol=1e-5, atol=1e-7)
    got = hessian(jacobian(_softmax_field))(x)
    ref = autograd.hessian(autograd.jacobian(
        lambda v: anp.exp(v) / anp.sum(anp.exp(v)) * v))(x)
    assert got.shape == (3, 3, 3, 3)
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(hessian(grad(_cube))(0.7), 6.0, rtol=1e-12)
    # a plain vector-valued function likewise (JAX's hessian of any output)
    got = hessian(_softmax_field)(x)
    ref = autograd.hessian(lambda v: anp.exp(v) / anp.sum(anp.exp(v)) * v)(x)
    assert got.shape == (3, 3, 3)
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-13)
    with pytest.raises(TypeError, match="grad requires the function to return a scalar"):
        grad(_softmax_field)(x)


def _cube(x):
    return x ** 3
