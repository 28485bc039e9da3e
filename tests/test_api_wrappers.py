"""API: decorated functions' parameters (wrt names of the wrapped function on
a wrapper taking *args/**kwargs), derivative objects composed with
jacobian/jvp (forward over reverse), real gradients for the real leaves of
pytree arguments when the function computes with complex values.

References: central finite differences in float64 (tests/reference.py) and,
where it runs, autograd."""
import functools

import numpy as np
import pytest

from ad_compiler import CompileError, grad, hessian, jacobian, jvp, value_and_grad, vjp
from tests.reference import fd_blocks, fd_hessian, fd_jacobian, tree_flatten

TOL = dict(rtol=1e-6, atol=1e-8)


def scaled(k):
    """A decorator whose wrapper takes *args/**kwargs (functools.wraps: the
    signature users see is the wrapped function's)."""
    def deco(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            return k * fn(args[0], args[1])
        return wrapper
    return deco


def forwarding(k):
    def deco(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            return k * fn(*args, **kwargs)
        return wrapper
    return deco


@scaled(0.5)
def wrapped(x, y):
    return np.sum(np.sin(x) * y) + np.sum(x * x * y[0])


@forwarding(2.0)
def forwarded(x, y):
    return np.sum(np.sin(x) * y)


X = np.array([0.3, 0.7, -0.4])
Y = np.array([1.1, -0.4, 0.8])


def _fd_grad(f, args, p):
    return fd_jacobian(f, args, p)


@pytest.mark.parametrize("wrt, positions", [
    (0, 0), (1, 1), ("x", 0), ("y", 1), (("x", "y"), (0, 1)), (("y", 0), (1, 0)),
    ((0, "y"), (0, 1))])
def test_wrapper_wrt_names_of_the_wrapped_function(wrt, positions):
    # (was: TypeError "f() was called without the keyword argument 'x'")
    single = not isinstance(positions, tuple)
    ps = (positions,) if single else positions
    refs = [_fd_grad(wrapped, (X, Y), p) for p in ps]
    for api in (grad, lambda f, wrt: (lambda *a: value_and_grad(f, wrt=wrt)(*a)[1])):
        g = api(wrapped, wrt=wrt)(X, Y)
        got = (g,) if single else g
        assert len(got) == len(refs)
        for a, r in zip(got, refs):
            np.testing.assert_allclose(a, r, **TOL)


def test_wrapper_wrt_names_jacobian_hessian_jvp_vjp():
    for mode in ("rev", "fwd"):
        np.testing.assert_allclose(jacobian(wrapped, wrt="y", mode=mode)(X, Y),
                                   fd_jacobian(wrapped, (X, Y), 1), **TOL)
        jx, jy = jacobian(wrapped, wrt=("x", "y"), mode=mode)(X, Y)
        np.testing.assert_allclose(jx, fd_jacobian(wrapped, (X, Y), 0), **TOL)
        np.testing.assert_allclose(jy, fd_jacobian(wrapped, (X, Y), 1), **TOL)
    np.testing.assert_allclose(hessian(wrapped, wrt="x")(X, Y),
                               fd_hessian(wrapped, (X, Y), 0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(hessian(wrapped, wrt="y")(X, Y),
                               fd_hessian(wrapped, (X, Y), 1), rtol=1e-5, atol=1e-6)
    dx = np.array([0.2, -1.0, 0.5])
    _, t = jvp(wrapped, (X, Y), (dx, np.zeros(3)))
    np.testing.assert_allclose(t, fd_jacobian(wrapped, (X, Y), 0) @ dx, **TOL)
    _, pull = vjp(wrapped, X, Y)
    gx, gy = pull(1.0)
    np.testing.assert_allclose(gx, fd_jacobian(wrapped, (X, Y), 0), **TOL)
    np.testing.assert_allclose(gy, fd_jacobian(wrapped, (X, Y), 1), **TOL)


def test_wrapper_wrt_name_not_passed_says_so():
    with pytest.raises(TypeError, match=r"called without the argument 'y'.*explicitly"):
        grad(wrapped, wrt="y")(X)
    with pytest.raises(ValueError, match="same argument twice"):
        grad(wrapped, wrt=("x", 0))(X, Y)


def test_forwarding_wrapper_named_wrt_is_the_wrappers_refusal():
    # fn(*args, **kwargs) is not differentiated: the refusal is the
    # CompileError inside the wrapper, whatever wrt says (was a TypeError
    # about a missing keyword argument for names)
    for wrt in (0, "x", "y", ("x", "y")):
        with pytest.raises(CompileError, match=r"fn\(\) with \*args/\*\*kwargs"):
            grad(forwarded, wrt=wrt)(X, Y)


# -- forward over reverse: derivative objects in jacobian / jvp ---------------

def cubic(x, y):
    return np.sum(x ** 3 * y) + np.sum(np.sin(x)) * np.sum(y * y)


def _fd_grad_fn(p):
    return lambda *a: fd_jacobian(cubic, a, p)


def test_jacobian_of_grad_forward_mode():
    # (was: TypeError, _Grad is not a function)
    np.testing.assert_allclose(jacobian(grad(cubic), mode="fwd")(X, Y),
                               fd_hessian(cubic, (X, Y), 0), rtol=1e-5, atol=1e-6)
    # d(grad_x)/dy against FD of the FD gradient
    cross = fd_jacobian(_fd_grad_fn(0), (X, Y), 1, step=1e-3)
    np.testing.assert_allclose(jacobian(grad(cubic, wrt="x"), wrt="y", mode="fwd")(X, Y),
                               cross, rtol=1e-5, atol=1e-6)
    # a tuple of gradients gives a tuple of Jacobians
    hxx, hyx = jacobian(grad(cubic, wrt=(0, 1)), wrt=0, mode="fwd")(X, Y)
    np.testing.assert_allclose(hxx, fd_hessian(cubic, (X, Y), 0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(hyx, fd_jacobian(_fd_grad_fn(1), (X, Y), 0, step=1e-3),
                               rtol=1e-5, atol=1e-6)


def test_jacobian_of_grad_reverse_mode_matches_forward_mode():
    # (reverse over reverse is computed as forward over reverse: the same numbers)
    np.testing.assert_allclose(jacobian(grad(cubic), mode="rev")(X, Y),
                               fd_hessian(cubic, (X, Y), 0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(jacobian(grad(cubic))(X, Y),
                               jacobian(grad(cubic), mode="fwd")(X, Y), rtol=1e-12)
    v, g = jacobian(value_and_grad(cubic), mode="fwd")(X, Y)
    np.testing.assert_allclose(g, fd_hessian(cubic, (X, Y), 0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(v, fd_jacobian(cubic, (X, Y), 0), rtol=1e-5, atol=1e-6)


def test_jvp_of_grad():
    v = np.array([0.3, -0.2, 1.0])
    g, t = jvp(grad(cubic), (X, Y), (v, np.zeros(3)))
    np.testing.assert_allclose(g, fd_jacobian(cubic, (X, Y), 0), **TOL)
    np.testing.assert_allclose(t, fd_hessian(cubic, (X, Y), 0) @ v, rtol=1e-5, atol=1e-6)


def varargs_sum(x, *rest):
    return np.sum(x ** 2 * rest[0]) + np.sum(rest[1] ** 3)


def test_jvp_of_grad_of_an_element_of_args():
    # grad wrt an element of *args: jvp returns that element's gradient and
    # its tangent, not the whole pack's
    a, b = np.array([0.5, 2.0, 1.0]), np.array([0.1, -0.3, 0.7])
    v = np.array([1.0, 0.5, -1.0])
    g, t = jvp(grad(varargs_sum, wrt=2), (X, a, b), (np.zeros(3), np.zeros(3), v))
    np.testing.assert_allclose(g, fd_jacobian(varargs_sum, (X, a, b), 2), **TOL)
    np.testing.assert_allclose(t, fd_hessian(varargs_sum, (X, a, b), 2) @ v,
                               rtol=1e-5, atol=1e-6)


def loss(x, params):
    W, b = params["layer"]
    return np.sum(np.tanh(W @ x + b) ** 2) * params["scale"]


PARAMS = {"layer": (np.array([[0.3, -0.5, 0.2], [0.1, 0.4, -0.6]]), np.array([0.05, -0.1])),
          "scale": 1.5}


def test_hessian_and_jacobian_of_grad_with_pytree_constant():
    ref = fd_hessian(loss, (X, PARAMS), 0)
    np.testing.assert_allclose(hessian(loss)(X, PARAMS), ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(jacobian(grad(loss), mode="fwd")(X, PARAMS), ref,
                               rtol=1e-5, atol=1e-6)


def test_hessian_wrt_pytree_is_a_clear_error():
    with pytest.raises(TypeError, match="pytree"):
        hessian(loss, wrt=1)(X, PARAMS)
    # (jacobian takes pytrees: tests/test_conventions.py)


# -- real gradients for real leaves of pytrees --------------------------------

def complex_mix(x, params, y):
    W, b = params[0]
    d = params[1]
    v = np.abs(b + 1j * W[0]) ** 2 * x
    return np.sum(v) + np.sum(np.abs(d["a"] + 2j * y) ** 2) + np.sum(np.real(np.exp(1j * W)))


CPARAMS = [(np.array([[0.3, 0.5], [-0.2, 0.9]]), np.array([0.2, -0.1])),
           {"a": np.array([0.4, 0.9])}]


def _check_real_tree(g, p_index, args):
    leaves = tree_flatten(g)[0]
    blocks = fd_blocks(complex_mix, args, p_index)[0]
    assert len(leaves) == len(blocks)
    for leaf, ref in zip(leaves, blocks):
        assert not np.iscomplexobj(leaf), leaf
        np.testing.assert_allclose(leaf, ref, **TOL)


def test_complex_intermediates_give_real_gradients_for_pytree_leaves():
    # (was: complex arrays with zero imaginary part... or not: the
    # imaginary parts were garbage, e.g. 0.9+0.6j for a real 0.9)
    args = (1.5, CPARAMS, 0.7)
    _check_real_tree(grad(complex_mix, wrt=1)(*args), 1, args)
    _check_real_tree(value_and_grad(complex_mix, wrt=1)(*args)[1], 1, args)
    _, pull = vjp(complex_mix, *args)
    gx, gp, gy = pull(1.0)
    _check_real_tree(gp, 1, args)
    assert not np.iscomplexobj(gx) and not np.iscomplexobj(gy)
    np.testing.assert_allclose(gx, fd_jacobian(complex_mix, args, 0), **TOL)


def test_complex_pytree_gradient_matches_autograd():
    ag = pytest.importorskip("autograd")
    anp = pytest.importorskip("autograd.numpy")

    def f_ag(x, params, y):
        W, b = params[0]
        d = params[1]
        v = anp.abs(b + 1j * W[0]) ** 2 * x
        return (anp.sum(v) + anp.sum(anp.abs(d["a"] + 2j * y) ** 2)
                + anp.sum(anp.real(anp.exp(1j * W))))
    args = (1.5, CPARAMS, 0.7)
    ref = ag.grad(f_ag, 1)(*args)
    got = grad(complex_mix, wrt=1)(*args)
    for a, r in zip(tree_flatten(got)[0], tree_flatten(ref)[0]):
        assert not np.iscomplexobj(a)
        np.testing.assert_allclose(a, r, **TOL)


def with_complex_arg(x, c, params):
    return np.sum(np.abs(x + c) ** 2) + np.sum(np.abs(params[0] * c) ** 2)


def complex_arrays(x, c):
    return np.sum(np.abs(x + c) ** 2)


def test_complex_argument_real_gradients_on_repeated_calls():
    # arrays only: the second and later calls take the cached fast path
    # (api._raw_key), which must still project for a complex argument, and
    # a real call in between must not reuse the complex call's projection
    x = np.array([0.3, 0.5])
    f_re = lambda x, c: complex_arrays(x, c)  # noqa: E731
    g = grad(complex_arrays)
    vg = value_and_grad(complex_arrays)
    for c in (np.array([1 + 2j, -1j]), np.array([0.5, -1.5]), np.array([1 + 2j, -1j])):
        ref = fd_jacobian(lambda x: f_re(x, c), (x,), 0)
        for _ in range(3):
            for got in (g(x, c), vg(x, c)[1]):
                assert not np.iscomplexobj(got)
                np.testing.assert_allclose(got, ref, **TOL)


def test_complex_argument_real_inputs_get_real_gradients():
    # no complex constant in the code: the complexity comes from c
    x = np.array([0.3, 0.5])
    c = np.array([1 + 2j, -1j])
    params = (np.array([0.7, -0.2]),)
    args = (x, c, params)
    f_re = lambda x, params: with_complex_arg(x, c, params)  # noqa: E731
    gx, gp = grad(with_complex_arg, wrt=(0, 2))(*args)
    _, (gx2, gp2) = value_and_grad(with_complex_arg, wrt=(0, 2))(*args)
    _, pull = vjp(with_complex_arg, *args)
    gx3, _, gp3 = pull(1.0)
    for a, b in ((gx, gp), (gx2, gp2), (gx3, gp3)):
        assert not np.iscomplexobj(a) and not np.iscomplexobj(b[0])
        np.testing.assert_allclose(a, fd_jacobian(f_re, (x, params), 0), **TOL)
        np.testing.assert_allclose(b[0], fd_blocks(f_re, (x, params), 1)[0][0], **TOL)
