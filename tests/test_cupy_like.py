"""The same derivative on CuPy arrays (issue #11).

Without a GPU the shared code path is checked with ``Device``, a NumPy
stand-in that behaves like CuPy where it matters: it implements
``__array_function__`` / ``__array_ufunc__``, refuses to be converted to a
NumPy array (``np.asarray``: CuPy raises TypeError, and we count the
attempts) and refuses to be mixed with NumPy arrays of one or more
dimensions (host memory).  The tests assert that the stand-in type survives
to the gradient and that nothing was ever converted.  With CuPy and a GPU,
the same cases run on ``cupy`` arrays.
"""
import numpy as np
import pytest

from ad_compiler import grad, jvp, value_and_grad, vjp
from ad_compiler.arrays import is_foreign
from ad_compiler.tree import tree_leaves
from tests._foreign_arrays_cases import CASES, autograd_grads, data, fd_grads, mlp_tree

DATA = data()


def _unwrap(x):
    if isinstance(x, Device):
        return x.a
    if isinstance(x, np.ndarray) and x.ndim:
        raise TypeError(f"Device: a host (NumPy) array of shape {x.shape} mixed with "
                        f"device arrays")
    if isinstance(x, (list, tuple)):
        return type(x)(_unwrap(v) for v in x)
    if isinstance(x, dict):
        return {k: _unwrap(v) for k, v in x.items()}
    return x


def _unwrap_any(x):
    return tuple(v.a if isinstance(v, Device) else v for v in x)


def _wrap(x):
    if isinstance(x, (np.ndarray, np.generic)):    # (CuPy's reductions give 0-d arrays)
        return Device(x)
    if isinstance(x, (list, tuple)):
        return type(x)(_wrap(v) for v in x)
    return x


class Device(np.lib.mixins.NDArrayOperatorsMixin):
    """An array on a pretend device: NumPy inside, CuPy's manners outside."""

    conversions = 0          # attempts to make a NumPy array of one

    def __init__(self, a):
        self.a = np.array(a)

    shape = property(lambda self: self.a.shape)
    dtype = property(lambda self: self.a.dtype)
    ndim = property(lambda self: self.a.ndim)
    size = property(lambda self: self.a.size)
    T = property(lambda self: Device(self.a.T))

    def __array__(self, dtype=None, copy=None):
        Device.conversions += 1
        raise TypeError("Implicit conversion to a NumPy array is not allowed. "
                        "Please use `.get()` to construct a NumPy array explicitly.")

    def get(self):
        return self.a.copy()

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if "out" in kwargs:
            kwargs["out"] = _unwrap(kwargs["out"])
        out = getattr(ufunc, method)(*_unwrap(inputs), **kwargs)
        return _wrap(out)

    def __array_function__(self, func, types, args, kwargs):
        if func in (np.asarray, np.array):       # np.asarray(a, like=x): to the device
            return Device(func(*_unwrap_any(args), **kwargs))
        return _wrap(func(*_unwrap(args), **_unwrap(kwargs)))

    def __getitem__(self, idx):
        return _wrap(self.a[_unwrap(idx)])

    def __setitem__(self, idx, value):
        self.a[_unwrap(idx)] = _unwrap(value)

    def __len__(self):
        return len(self.a)

    def __float__(self):
        return float(self.a)

    def __getattr__(self, name):       # methods: x.sum(axis=0), x.dot(w), x.copy()...
        if name.startswith("__"):      # (no __array_interface__: no back door to NumPy)
            raise AttributeError(name)
        attr = getattr(self.a, name)
        if not callable(attr):
            return _wrap(attr)
        return lambda *args, **kwargs: _wrap(attr(*_unwrap(args), **_unwrap(kwargs)))

    def __repr__(self):
        return f"Device({self.a!r})"


@pytest.fixture(autouse=True)
def no_conversions():
    Device.conversions = 0
    yield
    assert Device.conversions == 0, "a Device array was converted with np.asarray"


def _on_device(tree):
    leaves = tree_leaves(tree)
    assert leaves and all(type(v) is Device for v in leaves), [type(v) for v in leaves]


def _close(got, name, scale=1.0):
    params, X, y = DATA[name]
    fd = fd_grads(name, params, X, y)
    ag = autograd_grads(name, params, X, y)
    for k, g in enumerate(got):
        g = g.get() / scale
        np.testing.assert_allclose(g, fd[k], rtol=1e-6, atol=1e-8)
        if ag is not None:
            np.testing.assert_allclose(g, ag[k], rtol=1e-10, atol=1e-12)


def _args(name):
    params, X, y = DATA[name]
    return tuple(Device(p) for p in params), Device(X), Device(y)


def test_stand_in_is_foreign():
    assert is_foreign(Device(np.ones(2))) and not is_foreign(np.ones(2))
    with pytest.raises(TypeError):
        np.asarray(Device(np.ones(2)))
    with pytest.raises(TypeError, match="host"):
        Device(np.ones(2)) + np.ones(2)
    Device.conversions = 0


@pytest.mark.parametrize("name", sorted(CASES))
def test_grad(name):
    params, X, y = _args(name)
    g = grad(CASES[name], wrt=tuple(range(len(params))))(*params, X, y)
    _on_device(g)
    _close(g, name)


@pytest.mark.parametrize("name", sorted(CASES))
def test_value_and_grad(name):
    params, X, y = _args(name)
    value, g = value_and_grad(CASES[name], wrt=tuple(range(len(params))))(*params, X, y)
    _on_device((value, g))
    np_params, Xn, yn = DATA[name]
    np.testing.assert_allclose(value.get(), CASES[name](*np_params, Xn, yn), rtol=1e-12)
    _close(g, name)


@pytest.mark.parametrize("name", sorted(CASES))
def test_jvp(name):
    params, X, y = _args(name)
    rng = np.random.default_rng(1)
    tangents = [rng.normal(size=p.shape) for p in params]
    out, dout = jvp(CASES[name], tuple(params) + (X, y),
                    tuple(Device(t) for t in tangents) + (None, None))
    _on_device((out, dout))
    np_params, Xn, yn = DATA[name]
    fd = fd_grads(name, np_params, Xn, yn)
    np.testing.assert_allclose(dout.get(), sum(np.sum(r * t) for r, t in zip(fd, tangents)),
                               rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name", sorted(CASES))
def test_vjp(name):
    params, X, y = _args(name)
    out, pullback = vjp(CASES[name], *params, X, y)
    cts = pullback(2.0)[:len(params)]
    _on_device((out,) + tuple(cts))
    _close(cts, name, scale=2.0)


def test_pytree_parameters():
    params, X, y = _args("mlp")
    tree = dict(zip(("W1", "b1", "W2", "b2"), params))
    g = grad(mlp_tree)(tree, X, y)
    _on_device(g)
    _close([g[k] for k in ("W1", "b1", "W2", "b2")], "mlp")


# --- the real thing, where there is a GPU ------------------------------------

def _cupy():
    cp = pytest.importorskip("cupy")
    try:
        if cp.cuda.runtime.getDeviceCount() < 1:
            pytest.skip("no GPU")
    except Exception as exc:           # (no driver)
        pytest.skip(f"no GPU: {exc}")
    return cp


@pytest.mark.parametrize("name", sorted(CASES))
def test_cupy_grad_and_jvp(name):
    cp = _cupy()
    params, X, y = DATA[name]
    dparams = tuple(cp.asarray(p) for p in params)
    g = grad(CASES[name], wrt=tuple(range(len(params))))(*dparams, cp.asarray(X), cp.asarray(y))
    assert all(isinstance(v, cp.ndarray) for v in g)
    fd = fd_grads(name, params, X, y)
    for k, v in enumerate(g):
        np.testing.assert_allclose(cp.asnumpy(v), fd[k], rtol=1e-6, atol=1e-8)
    tangents = [np.ones(np.shape(p)) for p in params]
    _, dout = jvp(CASES[name], dparams + (cp.asarray(X), cp.asarray(y)),
                  tuple(cp.asarray(t) for t in tangents) + (None, None))
    np.testing.assert_allclose(float(dout), sum(np.sum(r) for r in fd), rtol=1e-6)
