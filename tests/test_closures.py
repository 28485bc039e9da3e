"""Closures given to a derivative inside differentiated code (issue #10):
``grad(lambda v: loss(v, X, y))(w)`` or a local ``def`` reading locals of
the enclosing function (transforms/normalize/closures.py lifts the locals
into parameters).  Every derivative is checked against HIPS autograd
(closures written the same way with ``autograd.numpy``) and central finite
differences in float64, with respect to every argument: the derivative
with respect to a variable the closure reads must flow through it."""
import os
import sys

import numpy as np
import pytest

from ad_compiler import (CompileError, elementwise_grad, grad, hessian, hvp, jacobian, jvp,
                         value_and_grad, vjp)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference import fd_jacobian  # noqa: E402

autograd = pytest.importorskip("autograd")
anp = pytest.importorskip("autograd.numpy")

RNG = np.random.default_rng(5)
XM = RNG.uniform(-1, 1, (5, 3))
YV = RNG.uniform(-1, 1, 5)
W0 = np.array([0.3, -1.2, 0.8])


def loss(w, X, y):
    return np.mean(np.tanh(X @ w - y) ** 2)


def a_loss(w, X, y):
    return anp.mean(anp.tanh(anp.dot(X, w) - y) ** 2)


def maml_lambda(lr, w, X, y):
    g = grad(lambda v: loss(v, X, y))(w)
    return loss(w - lr * g, X, y)


def a_maml_lambda(lr, w, X, y):
    g = autograd.grad(lambda v: a_loss(v, X, y))(w)
    return a_loss(w - lr * g, X, y)


def maml_def_loop(lr, w, X, y):
    def inner(v):
        return loss(v, X, y) + 0.1 * np.sum(v ** 2)
    for _ in range(3):
        w = w - lr * grad(inner)(w)
    return loss(w, X, y)


def a_maml_def_loop(lr, w, X, y):
    def inner(v):
        return a_loss(v, X, y) + 0.1 * anp.sum(v ** 2)
    for _ in range(3):
        w = w - lr * autograd.grad(inner)(w)
    return a_loss(w, X, y)


def newton_step(w, X):
    def L(v):
        return np.sum(np.log(1.0 + np.exp(X @ v))) + 0.5 * np.sum(v * v)
    H = hessian(L)(w)
    g = grad(L)(w)
    return np.sum(np.linalg.solve(H, g) ** 2)


def a_newton_step(w, X):
    def L(v):
        return anp.sum(anp.log(1.0 + anp.exp(anp.dot(X, v)))) + 0.5 * anp.sum(v * v)
    H = autograd.hessian(L)(w)
    g = autograd.grad(L)(w)
    return anp.sum(anp.linalg.solve(H, g) ** 2)


def value_grad_jac_hvp(w, s):
    f = lambda v: np.sum(np.sin(v * s) ** 2)          # noqa: E731
    val, g = value_and_grad(f)(w)
    J = jacobian(lambda v: np.tanh(v * s))(w)
    Hv = hvp(lambda v: np.sum(np.cos(v) * s ** 2))(w, w * 0.5)
    e = elementwise_grad(lambda v: np.exp(v * s))(w)
    return val + np.sum(g ** 2) + np.sum(J @ w) + np.sum(Hv * w) + np.sum(e)


def a_value_grad_jac_hvp(w, s):
    f = lambda v: anp.sum(anp.sin(v * s) ** 2)         # noqa: E731
    val, g = autograd.value_and_grad(f)(w)
    J = autograd.jacobian(lambda v: anp.tanh(v * s))(w)
    Hv = autograd.hessian_vector_product(lambda v: anp.sum(anp.cos(v) * s ** 2))(w, w * 0.5)
    e = autograd.elementwise_grad(lambda v: anp.exp(v * s))(w)
    return val + anp.sum(g ** 2) + anp.sum(anp.dot(J, w)) + anp.sum(Hv * w) + anp.sum(e)


def jvp_of_closures(w, X):
    def f(v):
        return np.tanh(X @ v)
    _, t1 = jvp(f, (w,), (np.ones(3),))
    _, t2 = jvp(lambda v: np.sin(v * X[0]), (w,), (w * 0.5,))
    return np.sum(t1 ** 2) + np.sum(t2)


def a_jvp_of_closures(w, X):
    def f(v):
        return anp.tanh(anp.dot(X, v))
    t1 = anp.dot(autograd.jacobian(f)(w), anp.ones(3))
    t2 = anp.dot(autograd.jacobian(lambda v: anp.sin(v * X[0]))(w), w * 0.5)
    return anp.sum(t1 ** 2) + anp.sum(t2)


CASES = {
    "jvp_of_closures": (jvp_of_closures, a_jvp_of_closures, (W0, XM)),
    "maml_lambda": (maml_lambda, a_maml_lambda, (0.3, W0, XM, YV)),
    "maml_def_loop": (maml_def_loop, a_maml_def_loop, (0.2, W0, XM, YV)),
    "newton_step": (newton_step, a_newton_step, (W0, XM)),
    "value_grad_jac_hvp": (value_grad_jac_hvp, a_value_grad_jac_hvp, (W0, 1.3)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_closure_gradients_against_autograd_and_fd(case):
    _check_value_and_gradients(case, *CASES[case])


def _check_value_and_gradients(case, f, a_f, args):
    """f's value and its gradient with respect to every argument against
    autograd's twin ``a_f`` and central differences."""
    np.testing.assert_allclose(f(*args), a_f(*args), rtol=1e-12)
    for p in range(len(args)):
        ours = grad(f, wrt=p)(*args)
        np.testing.assert_allclose(ours, autograd.grad(a_f, p)(*args), rtol=1e-9, atol=1e-12,
                                   err_msg=f"{case} wrt {p} vs autograd")
        np.testing.assert_allclose(ours, fd_jacobian(f, args, p), rtol=1e-5, atol=1e-7,
                                   err_msg=f"{case} wrt {p} vs finite differences")


def test_hessian_of_code_with_a_closure():
    args = (0.3, W0, XM, YV)
    ours = hessian(maml_lambda, wrt=1)(*args)
    np.testing.assert_allclose(ours, autograd.hessian(a_maml_lambda, 1)(*args),
                               rtol=1e-8, atol=1e-11)


def test_user_function_and_globals_untouched():
    before = (maml_def_loop.__code__, dict(maml_def_loop.__globals__).keys())
    X = XM.copy()
    grad(maml_def_loop, wrt=2)(0.2, W0, X, YV)
    assert np.array_equal(X, XM)
    assert maml_def_loop.__code__ is before[0]
    assert dict(maml_def_loop.__globals__).keys() == before[1]


def vjp_of_closure(w, s):
    y, pb = vjp(lambda v: np.sin(v * s), w)
    return pb(np.ones(3))[0].sum()


def closure_reads_local_function(w, s):
    def act(v):
        return np.tanh(v)

    def inner(v):
        return np.sum(act(v * s))
    return np.sum(grad(inner)(w))


@pytest.mark.parametrize("f", [vjp_of_closure, closure_reads_local_function])
def test_unsupported_closures_are_located_compile_errors(f):
    """Not lifted (vjp of a closure; a closure reading another local
    function): a CompileError at the user's line, never a wrong number."""
    with pytest.raises(CompileError) as info:
        grad(f, wrt=1)(W0, 1.3)
    assert info.value.filename == __file__
    assert info.value.lineno is not None and info.value.lineno > f.__code__.co_firstlineno


# Nested closures (a lambda given to a derivative inside a lambda given to a
# derivative): lifted outermost first, the inner one when the lifted
# function is compiled, so each reads the variables of every enclosing level.
def nested2(a):
    return grad(lambda b: grad(lambda c: np.sin(a * b * c) * c)(b) * b)(a)


def a_nested2(a):
    return autograd.grad(lambda b: autograd.grad(lambda c: anp.sin(a * b * c) * c)(b) * b)(a)


def nested2_no_outer(a):
    return grad(lambda b: grad(lambda c: np.sin(b * c) * c)(b) * b)(a)


def a_nested2_no_outer(a):
    return autograd.grad(lambda b: autograd.grad(lambda c: anp.sin(b * c) * c)(b) * b)(a)


def nested3(a, s):
    return grad(lambda b: grad(lambda c: grad(lambda d: np.sin(a * b * c * d) * d * s)(c)
                               * b)(b) * np.cos(a))(a)


def a_nested3(a, s):
    return autograd.grad(lambda b: autograd.grad(
        lambda c: autograd.grad(lambda d: anp.sin(a * b * c * d) * d * s)(c) * b)(b)
        * anp.cos(a))(a)


def nested_vector(w, X):
    g = grad(lambda v: np.sum(grad(lambda u: np.sum(np.tanh(X @ (u * v))))(v) ** 2))(w)
    return np.sum(g * w)


def a_nested_vector(w, X):
    g = autograd.grad(lambda v: anp.sum(autograd.grad(
        lambda u: anp.sum(anp.tanh(anp.dot(X, u * v))))(v) ** 2))(w)
    return anp.sum(g * w)


def nested_jvp_inside(a):
    return grad(lambda b: jvp(lambda c: np.sin(a * b * c) * c, (b,), (1.0,))[1] * b)(a)


def nested_in_loop(a):
    s = 0.0
    for k in range(1, 3):
        s = s + grad(lambda b: grad(lambda c: np.sin(a * b * c * k) * c)(b) * b)(a)
    return s


def a_nested_in_loop(a):
    s = 0.0
    for k in range(1, 3):
        s = s + autograd.grad(lambda b: autograd.grad(
            lambda c: anp.sin(a * b * c * k) * c)(b) * b)(a)
    return s


NESTED = {
    "nested2": (nested2, a_nested2, (0.7,)),
    "nested2_no_outer": (nested2_no_outer, a_nested2_no_outer, (0.7,)),
    "nested3": (nested3, a_nested3, (0.7, 1.3)),
    "nested_vector": (nested_vector, a_nested_vector, (W0, XM)),
    "nested_jvp_inside": (nested_jvp_inside, a_nested2, (0.7,)),
    "nested_in_loop": (nested_in_loop, a_nested_in_loop, (0.6,)),
}


@pytest.mark.parametrize("case", sorted(NESTED))
def test_nested_closures_against_autograd_and_fd(case):
    _check_value_and_gradients(case, *NESTED[case])


def test_nested_closures_hessian_and_jvp():
    a = np.array(0.7)
    np.testing.assert_allclose(hessian(nested2)(0.7), autograd.hessian(a_nested2)(a),
                               rtol=1e-8, atol=1e-11)
    _, t = jvp(nested2, (0.7,), (1.0,))
    np.testing.assert_allclose(t, autograd.grad(a_nested2)(0.7), rtol=1e-9)
    H = hessian(nested_vector)(W0, XM)
    np.testing.assert_allclose(H, autograd.hessian(a_nested_vector)(W0, XM), rtol=1e-8,
                               atol=1e-11)


def test_plain_call_of_nested_closures_reads_each_call_value():
    """The lifted inner closure does not keep the cells of the lambda it
    was first compiled for (the derivative of the outer lambda is reused
    for the next lambda object of the same code)."""
    for a in (0.7, 0.9, -0.4):
        np.testing.assert_allclose(nested2(a), a_nested2(a), rtol=1e-12)


def closure_factory(s):
    def f(w):
        return np.sum(grad(lambda v: np.sum(np.sin(v * s)))(w) * w)
    return f


def test_closure_reading_the_enclosing_functions_closure_variables():
    for s in (1.0, 2.5):
        f = closure_factory(s)

        def a_f(w, s=s):
            return anp.sum(autograd.grad(lambda v: anp.sum(anp.sin(v * s)))(w) * w)
        np.testing.assert_allclose(grad(f)(W0), autograd.grad(a_f)(W0), rtol=1e-10)


def closure_inside_unlifted_lambda(a):
    h = lambda b: grad(lambda c: np.sin(a * b * c) * c)(b)     # noqa: E731
    return h(a) * a


def test_closure_reading_an_unlifted_local_function_is_a_located_compile_error():
    with pytest.raises(CompileError) as info:
        grad(closure_inside_unlifted_lambda)(0.7)
    assert info.value.filename == __file__
    assert info.value.lineno == closure_inside_unlifted_lambda.__code__.co_firstlineno + 1
    assert "'b'" in str(info.value) and "lambda" in str(info.value)
