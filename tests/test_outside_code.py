"""Regressions found by running code written in other people's style (autograd's
examples and tests, scipy.optimize test functions, classic ML losses).

Every derivative is compared with central finite differences in float64 and,
where it has the function, with PyTorch (an independent AD) or autograd.
"""
import functools

import numpy as np
import pytest

from ad_compiler import grad, hessian, jvp, vjp
from tests.corpus import os_interp_table


def fd_grad(f, x, eps=1e-6):
    g = np.zeros(x.size)
    for i in range(x.size):
        e = np.zeros(x.size)
        e[i] = eps
        g[i] = (f(x + e.reshape(x.shape)) - f(x - e.reshape(x.shape))) / (2 * eps)
    return g.reshape(x.shape)


def fd_hess(df, x, eps=1e-5):
    cols = []
    for i in range(x.size):
        e = np.zeros(x.size)
        e[i] = eps
        cols.append(np.ravel((df(x + e.reshape(x.shape)) - df(x - e.reshape(x.shape))) / (2 * eps)))
    return np.stack(cols, axis=-1).reshape(x.shape + x.shape)


# --------------------------------------------------------------------------
# np.linalg.norm: matrix norms (ord=1, -1, inf, -inf, -2 on a 2-D array) were
# differentiated as elementwise vector norms, because ``np.ndim(None) == 0``
# made axis=None look like a single axis; ord=0 got the p-norm formula
# (x**-1 / z**-1) instead of 0; ord=-inf gave NaN.  Second derivatives of the
# vector p-norms and of the piecewise linear norms raised NotImplementedError.
# --------------------------------------------------------------------------

A = np.array([[0.3, -1.2, 0.9, 0.2], [0.15, 0.7, -0.4, -0.6], [1.1, 0.25, 0.5, 0.05]])
V = np.array([0.3, -1.2, 0.9, 0.15, -0.5])

MATRIX_ORDS = [1, -1, np.inf, -np.inf, 2, -2, "nuc", "fro", None]
VECTOR_ORDS = [1, 2, 3, 0.5, -1, -2.5, np.inf, -np.inf, 0, None]


def matrix_norm_loss(A, o):
    return np.linalg.norm(A, ord=o) ** 2 + np.linalg.norm(A.T @ A, o)


def vector_norm_loss(x, o):
    return np.linalg.norm(x, ord=o) ** 2 + np.linalg.norm(x * x, o) * x[0]


def _torch_matrix_grad(A, o):
    torch = pytest.importorskip("torch")
    t = torch.tensor(A, dtype=torch.float64, requires_grad=True)
    o = "fro" if o is None else o
    out = torch.linalg.matrix_norm(t, ord=o) ** 2 + torch.linalg.matrix_norm(t.T @ t, ord=o)
    out.backward()
    return t.grad.numpy()


@pytest.mark.parametrize("o", MATRIX_ORDS, ids=str)
def test_matrix_norm_first_order(o):
    f = lambda A: matrix_norm_loss(A, o)            # noqa: E731
    g = grad(matrix_norm_loss)(A, o)
    assert np.allclose(g, fd_grad(f, A), rtol=1e-6, atol=1e-6)
    assert np.allclose(g, _torch_matrix_grad(A, o), rtol=1e-9, atol=1e-9)
    t = np.arange(A.size, dtype=float).reshape(A.shape) / 7 - 0.8
    _, jt = jvp(matrix_norm_loss, (A, o), (t, None))
    assert np.isclose(jt, np.sum(fd_grad(f, A) * t), rtol=1e-6, atol=1e-6)
    _, pb = vjp(functools.partial(matrix_norm_loss, o=o), A)
    assert np.allclose(pb(0.5)[0], 0.5 * g, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("o", VECTOR_ORDS, ids=str)
def test_vector_norm_first_and_second_order(o):
    f = lambda x: vector_norm_loss(x, o)            # noqa: E731
    g = grad(vector_norm_loss)(V, o)
    assert np.allclose(g, fd_grad(f, V), rtol=1e-6, atol=1e-6)
    torch = pytest.importorskip("torch")
    t = torch.tensor(V, dtype=torch.float64, requires_grad=True)
    oo = 2 if o is None else o
    out = torch.linalg.vector_norm(t, ord=oo) ** 2 + torch.linalg.vector_norm(t * t, ord=oo) * t[0]
    out.backward()
    assert np.allclose(g, t.grad.numpy(), rtol=1e-9, atol=1e-9)
    H = hessian(vector_norm_loss)(V, o)
    assert np.allclose(H, fd_hess(lambda x: grad(vector_norm_loss)(x, o), V), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("o", [1, -1, np.inf, -np.inf, "fro"], ids=str)
def test_matrix_norm_second_order_and_axes(o):
    # piecewise linear matrix norms: the Hessian of the squared norm is the
    # outer product of the (locally constant) gradient
    def f(T):
        return np.sum(np.linalg.norm(T, ord=o, axis=(2, 0)) ** 2 * np.array([1.0, 2.0]))
    T = np.stack([A, A[::-1] * 1.3 + 0.01], axis=1)     # (3, 2, 4)
    g = grad(f)(T)
    assert np.allclose(g, fd_grad(f, T), rtol=1e-6, atol=1e-6)
    H = hessian(f)(T)
    assert np.allclose(H, fd_hess(grad(f), T), rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------------------
# Integer casts: ``i = s.astype(int)`` then ``frac = s - i`` (table lookup
# with linear interpolation).  The cast's rule passed the derivative of s
# through to i, so d frac / d s came out 0 instead of 1 and the gradient with
# respect to x was silently 0; with jvp, the integer index was "differentiated"
# (a CompileError at table[i]).  Now an integer or boolean cast known from
# the text has no derivative (transforms/ad/ops.py), a cast whose dtype is
# known only when the code runs gives a zero derivative (ad.through_cast), and
# an index never asks for one.
# --------------------------------------------------------------------------

TABLE = np.array([0.0, 1.5, -0.5, 2.0, 1.0])
XS = np.array([0.13, 0.52, 0.77, 0.31])


# the corpus's os_interp_table: the dtype of the cast known from the text
interp_static = os_interp_table


def interp_runtime_dtype(x, table, ref):
    n = len(table) - 1
    s = np.clip(x, 0.0, 0.999) * n
    i = s.astype(ref.dtype)               # an integer dtype, known when it runs
    frac = s - np.asarray(i, ref.dtype)
    return np.sum(table[i] * (1 - frac) + table[i + 1] * frac)


def binned(x, w):
    idx = np.minimum(np.asarray(np.abs(x) * 2, dtype=np.int64), 3)
    return np.sum(w[idx] * x * idx) + np.sum(np.take(w, idx) * x)


def _interp_slope(x, table):
    s = x * (len(table) - 1)
    i = np.floor(s).astype(int)
    return (table[i + 1] - table[i]) * (len(table) - 1)


@pytest.mark.parametrize("fn", [interp_static, interp_runtime_dtype], ids=lambda f: f.__name__)
def test_integer_cast_in_interpolation(fn):
    extra = (np.array([1, 2]),) if fn is interp_runtime_dtype else ()
    f = lambda x: fn(x, TABLE, *extra)          # noqa: E731
    gx = grad(fn)(XS, TABLE, *extra)
    assert np.allclose(gx, fd_grad(f, XS), rtol=1e-6, atol=1e-6)
    assert np.allclose(gx, _interp_slope(XS, TABLE), rtol=1e-12, atol=1e-12)
    gt = grad(fn, wrt=1)(XS, TABLE, *extra)
    assert np.allclose(gt, fd_grad(lambda t: fn(XS, t, *extra), TABLE), rtol=1e-6, atol=1e-6)
    t = np.array([0.3, -1.0, 0.5, 2.0])
    _, jt = jvp(fn, (XS, TABLE) + extra, (t, np.zeros(5)) + (None,) * len(extra))
    assert np.isclose(jt, gx @ t, rtol=1e-12, atol=1e-12)
    kw = {"ref": extra[0]} if extra else {}
    _, pb = vjp(functools.partial(fn, table=TABLE, **kw), XS)
    assert np.allclose(pb(2.0)[0], 2.0 * gx, rtol=1e-12, atol=1e-12)
    assert np.allclose(hessian(fn)(XS, TABLE, *extra), 0.0, atol=1e-12)   # piecewise linear


def test_integer_index_also_used_as_a_number():
    x, w = np.array([0.3, -1.2, 1.9, 0.1]), np.array([0.5, -1.0, 2.0, 0.3])
    for p, arg in ((0, x), (1, w)):
        g = grad(binned, wrt=p)(x, w)
        ref = fd_grad(lambda v: binned(*((v, w) if p == 0 else (x, v))), arg)
        assert np.allclose(g, ref, rtol=1e-6, atol=1e-6)
    _, jt = jvp(binned, (x, w), (np.ones(4), np.zeros(4)))
    assert np.isclose(jt, np.sum(grad(binned)(x, w)), rtol=1e-12)
    H = hessian(binned)(x, w)
    assert np.allclose(H, fd_hess(lambda v: grad(binned)(v, w), x), rtol=1e-5, atol=1e-5)
