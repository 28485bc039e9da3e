"""Edge cases of the public API: *args/**kwargs and keyword-only wrt,
cotangents given as Python floats, has_aux misuse, empty arrays, argument
errors naming the user's function, complex intermediates of real inputs,
std/var at zero spread.  Numbers are checked against central finite
differences (tests/reference.py) and, where it runs, autograd."""
import numpy as np
import pytest

from ad_compiler import grad, hessian, jacobian, jvp, source, value_and_grad, vjp
from tests.reference import fd_hessian, fd_jacobian

try:
    import autograd
    import autograd.numpy as anp
except ImportError:        # pragma: no cover
    autograd = None

RNG = np.random.default_rng(7)
X = RNG.normal(size=3)
Y = RNG.normal(size=3)


def close(a, b, tol=1e-6):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=tol, atol=tol)


# --- *args, keyword-only parameters, **kwargs -----------------------------

def prod_args(*args):
    return np.sum(args[0] * np.sin(args[1]))


def scaled(a, *rest, k=2.0, **kw):
    return np.sum(a * rest[0] * k * np.cos(kw["z"]))


def test_varargs_grad_positions():
    fd0 = fd_jacobian(lambda a, b: prod_args(a, b), (X, Y), 0)
    fd1 = fd_jacobian(lambda a, b: prod_args(a, b), (X, Y), 1)
    close(grad(prod_args)(X, Y), fd0)
    close(grad(prod_args, wrt=1)(X, Y), fd1)
    g0, g1 = grad(prod_args, wrt=(0, 1))(X, Y)
    close(g0, fd0)
    close(g1, fd1)
    v, g = value_and_grad(prod_args, wrt=1)(X, Y)
    close(v, prod_args(X, Y))
    close(g, fd1)
    if autograd is not None:
        close(g1, autograd.grad(lambda a, b: anp.sum(a * anp.sin(b)), 1)(X, Y))


def test_varargs_jvp_vjp_jacobian_hessian():
    f = lambda a, b: prod_args(a, b)     # noqa: E731  (the reference)
    J1 = fd_jacobian(f, (X, Y), 1)
    out, dout = jvp(prod_args, (X, Y), (np.zeros(3), np.ones(3)))
    close(out, f(X, Y))
    close(dout, J1 @ np.ones(3))
    out, pull = vjp(prod_args, X, Y)
    ga, gb = pull(1.0)
    close(ga, fd_jacobian(f, (X, Y), 0))
    close(gb, J1)
    for mode in ("rev", "fwd"):
        close(jacobian(prod_args, wrt=1, mode=mode)(X, Y), J1)
    close(hessian(prod_args, wrt=1)(X, Y), fd_hessian(f, (X, Y), 1), tol=1e-4)


def test_varargs_with_integer_element():
    ref = fd_jacobian(lambda a: prod_args(a, 3), (X,), 0)
    close(grad(prod_args)(X, 3), ref)
    ga, gn = vjp(prod_args, X, 3)[1](1.0)
    close(ga, ref)
    assert gn is None
    close(jvp(prod_args, (X, 3), (Y, None))[1], ref @ Y)


def test_keyword_only_and_kwargs_by_name():
    z = RNG.normal(size=3)

    def ref(a, b, k, zz):
        return scaled(a, b, k=k, z=zz)
    args = (X, Y, 1.5, z)
    close(grad(scaled, wrt="k")(X, Y, k=1.5, z=z), fd_jacobian(ref, args, 2))
    close(grad(scaled, wrt="z")(X, Y, k=1.5, z=z), fd_jacobian(ref, args, 3))
    close(grad(scaled, wrt=1)(X, Y, k=1.5, z=z), fd_jacobian(ref, args, 1))
    gk, gz = grad(scaled, wrt=("k", "z"))(X, Y, k=1.5, z=z)
    close(gz, fd_jacobian(ref, args, 3))
    for mode in ("rev", "fwd"):
        close(jacobian(scaled, wrt="z", mode=mode)(X, Y, k=1.5, z=z),
              fd_jacobian(ref, args, 3))
        # a keyword-only argument given by keyword is not dropped
        close(jacobian(scaled, wrt=0, mode=mode)(X, Y, k=1.5, z=z),
              fd_jacobian(ref, args, 0))
    close(hessian(scaled, wrt="z")(X, Y, k=1.5, z=z), fd_hessian(ref, args, 3), tol=1e-4)


def test_varargs_wrt_errors():
    with pytest.raises(TypeError, match="out of range"):
        grad(prod_args, wrt=3)(X, Y)
    with pytest.raises(ValueError, match="negative"):
        grad(prod_args, wrt=-1)
    with pytest.raises(ValueError, match=r"\*args"):
        grad(prod_args, wrt="args")
    with pytest.raises(TypeError, match="without the keyword argument 'q'"):
        grad(scaled, wrt="q")(X, Y, z=X)


# --- argument errors name the user's function ------------------------------

def two(a, b):
    return np.sum(a * b)


def test_argument_count_errors_name_the_function():
    for call in (lambda: grad(two)(X), lambda: value_and_grad(two)(X),
                 lambda: grad(two)(X, Y, Y), lambda: grad(two)(X, c=Y),
                 lambda: vjp(two, X), lambda: jvp(two, (X,), (X,)),
                 lambda: jacobian(two)(X), lambda: jacobian(two, mode="fwd")(X),
                 lambda: hessian(two)(X)):
        with pytest.raises(TypeError) as info:
            call()
        assert str(info.value).startswith("two() "), str(info.value)
        assert "grad_two" not in str(info.value)
    with pytest.raises(TypeError, match=r"^two\(\) missing 1 required positional argument: 'b'$"):
        grad(two)(X)
    grad(two)(X, Y)                 # the fast path after a good call
    with pytest.raises(TypeError, match=r"^two\(\) missing"):
        grad(two)(X)


# --- cotangents as Python floats / 0-d arrays --------------------------------

def max0(x):
    return np.max(x, axis=0)


def min0(x):
    return np.min(x, axis=0)


def amax0(x):
    return np.amax(x * x, axis=0)


def sum0(x):
    return np.sum(np.sin(x), axis=0)


def mean0(x):
    return np.mean(x * x, axis=0)


def prod0(x):
    return np.prod(x, axis=0)


def fullscalar(x):
    return np.dot(x, x)


@pytest.mark.parametrize("fn", [max0, min0, amax0, sum0, mean0, prod0, fullscalar])
@pytest.mark.parametrize("ct", [1.0, 2, np.float64(1.5), np.array(0.5)])
def test_scalar_cotangent_kinds(fn, ct):
    x = np.array([0.3, -1.2, 2.5])
    out, pull = vjp(fn, x)
    (g,) = pull(ct)
    assert isinstance(g, np.ndarray) and g.dtype == np.float64
    close(g, float(ct) * fd_jacobian(fn, (x,), 0))


def max_axis1(x):
    return np.max(x, axis=1)


def test_array_cotangent_of_ints():
    x = RNG.normal(size=(2, 3))
    (g,) = vjp(max_axis1, x)[1]([1, 2])
    J = fd_jacobian(max_axis1, (x,), 0).reshape(2, 6)
    close(g.reshape(-1), np.array([1.0, 2.0]) @ J)


# --- has_aux misuse ----------------------------------------------------------

def no_pair(x):
    return np.sum(x * x)


def array_out(x):
    return x * 2.0


def triple(x):
    return np.sum(x), 1, 2


@pytest.mark.parametrize("fn", [no_pair, array_out, triple])
def test_has_aux_requires_a_pair(fn):
    for api in (grad, value_and_grad):
        with pytest.raises(TypeError, match=r"must return a pair \(output, aux\)"):
            api(fn, has_aux=True)(X)


# --- empty arrays ------------------------------------------------------------

def double(x):
    return 2.0 * x


def sumsq(x):
    return np.sum(x * x)


def outer_sum(x):
    return np.sum(x) * np.ones(2)


def test_empty_arrays():
    e = np.zeros(0)
    for mode in ("rev", "fwd"):
        J = jacobian(double, mode=mode)(e)
        assert J.shape == (0, 0)
        J = jacobian(outer_sum, mode=mode)(e)
        assert J.shape == (2, 0)
        J = jacobian(sumsq, mode=mode)(np.zeros((0, 3)))
        assert J.shape == (0, 3)
    g = grad(sumsq)(e)
    assert g.shape == (0,)
    H = hessian(sumsq)(e)
    assert H.shape == (0, 0)
    H = hessian(sumsq)(np.zeros((2, 0)))
    assert H.shape == (2, 0, 2, 0)


# --- complex intermediates of real inputs -------------------------------------

def real_of_complex(x):
    return np.real(np.sum(np.exp(1j * x) * x))


def power_spectrum(x):
    return np.sum(np.abs(np.fft.fft(x)) ** 2)


def complex_out(x):
    return np.exp(1j * x) * x[0]


def test_complex_intermediates_real_gradients():
    for fn in (real_of_complex, power_spectrum):
        g = grad(fn)(X)
        assert g.dtype == np.float64
        close(g, fd_jacobian(fn, (X,), 0))
        (gv,) = vjp(fn, X)[1](1.0)
        assert gv.dtype == np.float64
        close(gv, g)
        _, t = jvp(fn, (X,), (Y,))
        close(t, g @ Y)
    if autograd is not None:
        close(grad(power_spectrum)(X),
              autograd.grad(lambda x: anp.sum(anp.abs(anp.fft.fft(x)) ** 2))(X))


def test_complex_output_of_real_input():
    def fd_complex(x):
        re = fd_jacobian(lambda v: np.real(complex_out(v)), (x,), 0)
        im = fd_jacobian(lambda v: np.imag(complex_out(v)), (x,), 0)
        return re + 1j * im
    ref = fd_complex(X)
    for mode in ("rev", "fwd"):
        close(jacobian(complex_out, mode=mode)(X), ref)
    # the pullback of a real input is real: Re(ct J) (as in JAX)
    ct = np.array([1.0, 1j, 0.5 - 2j])
    (g,) = vjp(complex_out, X)[1](ct)
    assert g.dtype == np.float64
    close(g, np.real(ct @ ref))


# --- std / var where the spread is zero ----------------------------------------

def std_axis0(x):
    return np.sum(np.std(x, axis=0) * np.arange(1.0, 4.0))


def std_all(x):
    return np.std(x)


def var_axis0(x):
    return np.sum(np.var(x, axis=0, keepdims=True))


def test_std_length_one_axis_is_zero_not_nan():
    x = RNG.normal(size=(1, 3))
    g = grad(std_axis0)(x)
    close(g, np.zeros((1, 3)))
    close(g, fd_jacobian(std_axis0, (x,), 0))   # std is 0 for every input
    _, t = jvp(std_axis0, (x,), (np.ones((1, 3)),))
    close(t, 0.0)
    close(grad(var_axis0)(x), np.zeros((1, 3)))
    assert np.all(np.isfinite(hessian(std_axis0)(x)))


def test_std_constant_vector_gives_zero_subgradient():
    c = np.full(4, 2.0)
    close(grad(std_all)(c), np.zeros(4))
    _, t = jvp(std_all, (c,), (np.arange(4.0),))
    close(t, 0.0)
    # away from zero spread the rule is unchanged
    x = RNG.normal(size=4)
    close(grad(std_all)(x), fd_jacobian(std_all, (x,), 0))
    _, t = jvp(std_all, (x,), (np.ones(4),))
    close(t, fd_jacobian(std_all, (x,), 0) @ np.ones(4))


# --- parameters and locals named like builtins the generated code calls ------

import builtins  # noqa: E402
import numpy  # noqa: E402

_range = builtins.range
_enumerate = builtins.enumerate


def sh_range(x, range, len, min):
    s = 0.0
    for i in _range(3):
        s = s + x[i] * x[i] * range
    for a, b in zip(x, x[1:]):
        s = s + a * b * len * min
    return s


def sh_iter(x, zip, enumerate, reversed, list, slice, tuple):
    ys = [v * v for v in x]
    s = 0.0
    for y in ys:
        s = s + y * zip
    for i, v in _enumerate(x):
        s = s + v * x[i] * enumerate
    k = 0
    while k < 2:
        s = s + np.sum(x[1:] * x[:-1]) * slice
        k = k + 1
    return s * reversed * list * tuple


def sh_np(x, np, ad, float, int, sum, abs, isinstance, getattr, object):
    s = 0.0
    for v in x:
        s = s + numpy.sin(v) * np * ad * float * int * sum
    return s * abs * isinstance * getattr * object


def sh_local(x):
    s = 0.0
    for i in _range(3):
        len = x[i] * 2.0
        range = len * x[i]
        s = s + range
    for v in x:
        min = v * v
        s = s + min
    return s


@pytest.mark.parametrize("fn", [sh_range, sh_iter, sh_np, sh_local])
def test_builtin_names_shadowed(fn):
    import inspect
    n = len(inspect.signature(fn).parameters)
    args = (np.array([0.5, -1.0, 2.0]),) + tuple(1.0 + 0.25 * i for i in range(n - 1))
    ref = fd_jacobian(fn, args, 0)
    close(grad(fn)(*args), ref)
    close(vjp(fn, *args)[1](1.0)[0], ref)
    close(jvp(fn, args, (Y,) + (None,) * (n - 1))[1], ref @ Y)
    close(hessian(fn)(*args), fd_hessian(fn, args, 0), tol=1e-4)


class _Model:
    def __init__(self):
        self.W = np.array([[0.5, -0.2], [0.1, 0.3]])

    def forward(self, x):
        return np.tanh(self.W @ x)

    def loss(self, x):
        return np.sum(self.forward(x) ** 2)


def test_source_of_a_bound_method_in_every_mode():
    """source(model.loss, mode=...) knows the receiver's class, so
    self.forward(x) resolves as it does when the derivative is called."""
    m = _Model()
    x = np.array([0.3, -0.7])
    assert "forward_fwd(self, x)" in source(m.loss, mode="vjp")
    assert "forward_jvp(self, x" in source(m.loss, mode="fwd")
    assert "def grad_loss" in source(m.loss, mode="rev")
    # the numbers the sources belong to, against central differences
    g = grad(m.loss)(x)
    eps = 1e-6
    fd = np.array([(m.loss(x + eps * e) - m.loss(x - eps * e)) / (2 * eps) for e in np.eye(2)])
    np.testing.assert_allclose(g, fd, rtol=1e-7, atol=1e-9)
