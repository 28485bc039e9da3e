"""Precision of the aliasing analysis: correct programs that write into
views of FRESH arrays (arithmetic results, NumPy allocators, copies) are
not refused and get finite-difference-correct derivatives in reverse
(grad) and forward (jvp) mode, with no run-time alias guard in the
generated code.  (A view function aliases only its direct operand.)"""
import copy

import numpy as np
import pytest

import ad_compiler
from tests.reference import fd_grad_of_copies
from ad_compiler import grad, jvp

X3 = np.array([0.3, -1.2, 0.7])
Y3 = np.array([0.5, 0.9, -0.4])
Z23 = np.array([[0.3, -1.2, 0.7], [1.1, 0.4, -0.5]])


fd_grad = fd_grad_of_copies


def check(f, *args):
    """Every float array argument: grad and jvp match central differences;
    no argument modified; no alias guard in the generated code."""
    saved = copy.deepcopy(args)
    arrays = [i for i, a in enumerate(args) if isinstance(a, np.ndarray)]
    for p in arrays:
        ref = fd_grad(f, saved, p)
        g = grad(f, wrt=p)(*copy.deepcopy(saved))
        np.testing.assert_allclose(g, ref, rtol=1e-6, atol=1e-8)
        t = np.linspace(0.5, 1.5, args[p].size).reshape(args[p].shape)
        tangents = tuple(t if i == p else np.zeros_like(a) if isinstance(a, np.ndarray)
                         else 0.0 for i, a in enumerate(args))
        _, tout = jvp(f, list(copy.deepcopy(saved)), tangents)
        np.testing.assert_allclose(tout, np.sum(ref * t), rtol=1e-6, atol=1e-8)
    for a, b in zip(args, saved):
        assert np.array_equal(a, b), "an argument was modified"
    src = ad_compiler.source(grad(f, wrt=arrays[0]))
    assert "check_not_aliased" not in src and "check_unshared" not in src, src


# -- the fuzz finds (programs reduced) ------------------------------------

def fz_ravel_of_arith(x, y):
    y = y - np.sum(x)
    v0 = np.ravel(((y * np.ones((2, 1))) / (1.0 + np.square(y))))
    v0[:1] *= np.cos(np.clip(y, -0.5, 0.5))[0]
    return np.sum(v0 * v0) + np.sum(-y * x)


def fz_reshape_of_difference(x, y):
    y = np.sqrt(1.0 + y ** 2)
    v0 = ((x.min() * np.ones(3)) - (y * np.ones(3))).reshape(1, 3)
    if np.sum(x) > -0.25:
        v0[0, 1:] *= np.cos(x[:2])
    return np.sum(v0 ** 2) + np.sum(y * x)


def fz_reshape_of_scaled_ones(x, z):
    v0 = (z.min() * np.ones((1, 3))).reshape(3)
    v0[1:] += z[:, 0]
    v0 -= x.max()
    return np.sum(v0 * x) + np.sum(z)


def fz_r_concatenation(x, d):
    v2 = np.r_[d['c'], (np.sum(x) * np.arange(3))[2]]
    v2[0] = np.sum(v2) * v2.min()
    return np.sum(v2 * v2) + np.sum(d['c'] * x[:2])


# -- user styles --------------------------------------------------------------

def u_zeros_buffer_loop(x):
    out = np.zeros(3)
    for i in range(3):
        out[i] = x[i] ** 2 + x[(i + 1) % 3]
    return np.sum(out * x)


def u_copy_then_write(x):
    out = x.copy()
    out[0] = 2.0 * x[1]
    return np.sum(out ** 2) + np.sum(x)


def u_tanh_reshape_written(x):
    h = np.tanh(x).reshape(1, 3)
    h[0, 1] = x[0] * x[2]
    return np.sum(h * h) + np.sum(x)


def u_eye_add(x):
    A = np.eye(3)
    A[0] += x
    return np.sum(A @ x) + np.sum(x)


def u_transpose_of_outer(x):
    M = np.outer(x, x).T
    M[0, 0] = np.sin(x[0])
    return np.sum(M) + np.sum(x)


def u_T_of_product(x):
    M = (x[:, None] * x[None, :]).T
    M[1] *= 2.0
    return np.sum(M * M) + x[1]


def u_expand_dims_of_exp(x):
    e = np.expand_dims(np.exp(x), 0)
    e[0, 0] = x[1]
    return np.sum(e) + np.sum(x * x)


def u_slice_of_arith(x):
    v = (x * 2.0)[1:]
    v[0] = x[0] ** 3
    return np.sum(v) + np.sum(x)


def u_flip_of_fresh(x):
    v = np.flip(x + 1.0)
    v[0] = x[2] * x[1]
    return np.sum(v * v) + np.sum(x)


def u_reshape_of_np_dot(x, z):
    v = np.dot(z, x).reshape(2, 1)
    v[1, 0] += x[0]
    return np.sum(v * v) + np.sum(z * z)


def u_view_of_stack(x):
    S = np.stack([x, 2 * x]).T
    S[0, 1] = x[2]
    return np.sum(S ** 2) + np.sum(x)


def u_view_of_concatenate(x, y):
    c = np.concatenate([x, y]).reshape(2, 3)
    c[0] *= y
    return np.sum(c) + np.sum(x * y)


def u_ravel_of_where(x):
    w = np.where(x > 0, x, 0.1 * x).ravel()
    w[1:] += x[:2]
    return np.sum(w * w) + np.sum(x)


def u_squeeze_of_matmul(x, z):
    s = np.squeeze(z @ x[:, None])
    s[0] = s[1] * x[0]
    return np.sum(s) + np.sum(z) + np.sum(x)


def u_ravel_of_pow(x):
    r = np.ravel(x ** 2)
    r[0] = 1.0
    return np.sum(r * x) + np.sum(x)


def u_asarray_of_arith(x):
    a = np.asarray(x * 3.0)
    a[2] = x[0]
    return np.sum(a * a) + np.sum(x)


def u_diag_of_fresh(x):
    D = np.diag(x).copy()
    D[0, 1] = x[2]
    return np.sum(D @ x) + np.sum(x)


def u_view_of_mean(z):
    m = np.mean(z, axis=0).reshape(3)
    m[0] = z[1, 1]
    return np.sum(m * m) + np.sum(z)


def u_view_of_astype(x):
    a = x.astype(float).reshape(3, 1)
    a[0, 0] = x[1] ** 2
    return np.sum(a) + np.sum(x)


def u_view_of_neg(x):
    n = (-x).reshape(3)
    n[1] = x[0]
    return np.sum(n * n) + np.sum(x)


def u_view_of_ifexp_fresh(x):
    v = (x * 2.0 if x[0] > 0 else x * 3.0).reshape(3)
    v[0] = x[2]
    return np.sum(v) + np.sum(x * x)


def u_view_of_sum_method(z):
    v = z.sum(axis=0).reshape(1, 3)
    v[0, 0] = z[0, 0] ** 2
    return np.sum(v) + np.sum(z * z)


def u_view_of_clip(x):
    v = np.clip(x, -1.0, 1.0)[::-1]
    v[0] = x[0]
    return np.sum(v * x) + np.sum(x)


def u_view_of_tile(x):
    v = np.tile(x, 2).reshape(2, 3)
    v[1] = x * x
    return np.sum(v) + np.sum(x)


def u_augassign_of_fresh_view(x):
    y = (x * 2.0).reshape(3)
    y += x
    return np.sum(y * y) + np.sum(x)


def u_augassign_of_arith(x):
    y = x * 2.0
    y += 1.0
    return np.sum(y * x) + np.sum(x)


def u_loop_over_fresh_view(x, z):
    M = (z * 2.0).T
    acc = 0.0
    for row in M:
        acc = acc + np.sum(row * row)
    M[0, 0] = x[0]
    return acc + np.sum(M) + np.sum(x)


def u_loop_write_into_fresh_rows(z):
    Y = np.zeros((2, 3))
    for i in range(2):
        Y[i] = np.tanh(z[i])
    return np.sum(Y * z) + np.sum(z)


def u_scalar_times_view(x):
    v = (np.sum(x) * np.ones(4)).reshape(2, 2)
    v[0, 0] = x[0]
    v[1] *= x[1]
    return np.sum(v * v) + np.sum(x)


def u_view_of_np_maximum(x, y):
    v = np.maximum(x, y).reshape(3, 1)
    v[0] = 0.0
    return np.sum(v * x[:, None]) + np.sum(x * y)


def u_float_view(x):
    v = np.linspace(0.0, 1.0, 3).reshape(1, 3)
    v[0, 1] = x[1]
    return np.sum(v * x) + np.sum(x)


CASES = [
    (fz_ravel_of_arith, (X3, Y3)),
    (fz_reshape_of_difference, (X3, Y3)),
    (fz_reshape_of_scaled_ones, (X3, Z23)),
    (u_zeros_buffer_loop, (X3,)),
    (u_copy_then_write, (X3,)),
    (u_tanh_reshape_written, (X3,)),
    (u_eye_add, (X3,)),
    (u_transpose_of_outer, (X3,)),
    (u_T_of_product, (X3,)),
    (u_expand_dims_of_exp, (X3,)),
    (u_slice_of_arith, (X3,)),
    (u_flip_of_fresh, (X3,)),
    (u_reshape_of_np_dot, (X3, Z23)),
    (u_view_of_stack, (X3,)),
    (u_view_of_concatenate, (X3, Y3)),
    (u_ravel_of_where, (X3,)),
    (u_squeeze_of_matmul, (X3, Z23)),
    (u_ravel_of_pow, (X3,)),
    (u_asarray_of_arith, (X3,)),
    (u_diag_of_fresh, (X3,)),
    (u_view_of_mean, (Z23,)),
    (u_view_of_astype, (X3,)),
    (u_view_of_neg, (X3,)),
    (u_view_of_ifexp_fresh, (X3,)),
    (u_view_of_sum_method, (Z23,)),
    (u_view_of_clip, (X3,)),
    (u_view_of_tile, (X3,)),
    (u_augassign_of_fresh_view, (X3,)),
    (u_augassign_of_arith, (X3,)),
    (u_loop_over_fresh_view, (X3, Z23)),
    (u_loop_write_into_fresh_rows, (Z23,)),
    (u_scalar_times_view, (X3,)),
    (u_view_of_np_maximum, (X3, Y3)),
    (u_float_view, (X3,)),
]


@pytest.mark.parametrize("f,args", CASES, ids=[c[0].__name__ for c in CASES])
def test_view_of_fresh_array_not_refused(f, args):
    check(f, *args)


def test_r_concatenation_of_dict_entry():
    """np.r_[d['c'], ...] concatenates (a fresh array): writing into it is
    fine, with d['c'] read again later."""
    x = X3.copy()
    d = {"c": np.array([0.2, -0.7])}
    ref = fd_grad(lambda x: fz_r_concatenation(x, copy.deepcopy(d)), [x], 0)
    np.testing.assert_allclose(grad(fz_r_concatenation)(x, d), ref, rtol=1e-6, atol=1e-8)
    _, t = jvp(fz_r_concatenation, [x, d], [np.ones(3), {"c": np.zeros(2)}])
    np.testing.assert_allclose(t, np.sum(ref), rtol=1e-6, atol=1e-8)
    assert np.array_equal(d["c"], [0.2, -0.7])


# -- helpers that write into a fresh argument ---------------------------------

def _zero_first(v):
    v[0] = 0.0
    return v


def u_module_helper_writes_fresh_arg(x):
    return np.sum(_zero_first(np.tanh(x)) * x) + np.sum(_zero_first((x * 2.0).reshape(3)))


def u_local_helper_writes_fresh_arg(x):
    def fill(v):
        v[1] = 5.0
        return v
    return np.sum(fill(np.sin(x)) * x) + np.sum(fill(np.exp(x).T))


@pytest.mark.parametrize("f", [u_module_helper_writes_fresh_arg,
                               u_local_helper_writes_fresh_arg])
def test_helper_writing_into_fresh_argument(f):
    check(f, X3)


def _refused(f, *args):
    with pytest.raises(ad_compiler.CompileError):
        grad(f)(*args)


def test_helper_writes_into_shared_argument_still_refused():
    def mod_param(x):
        return np.sum(_zero_first(x)) + np.sum(x)

    def mod_view(x):
        return np.sum(_zero_first(x.reshape(3))) + np.sum(x)

    def local_global(x):
        def fill(v):
            v[1] = 5.0
            return v
        return np.sum(fill(_G) * x) + np.sum(_G)

    for f in (mod_param, mod_view, local_global):
        _refused(f, X3.copy())


_G = np.array([1.0, 2.0, 3.0])


# -- writes through a name that MAY share memory with one read later ---------
# (were silently wrong: the write reached only the private copy)

def _ident(a):
    return a


def w_cond_view(x):
    v = (x if x[0] > 0 else x * 2.0)[1:]
    v[0] = 1.0
    return np.sum(x * x) + np.sum(v)


def w_helper_returns_param(x):
    v = _ident(x)
    v[0] = 1.0
    return np.sum(x * x)


def w_helper_returns_local(x):
    y = x * 1.0
    v = _ident(y)
    v[0] = 1.0
    return np.sum(y * x)


def w_ravel_of_local(x):
    y = x * 1.0
    v = np.ravel(y)
    v[0] = 1.0
    return np.sum(y * x)


@pytest.mark.parametrize("f", [w_cond_view, w_helper_returns_param, w_helper_returns_local,
                               w_ravel_of_local])
def test_write_through_shared_name_refused(f):
    with pytest.raises(ad_compiler.CompileError, match="shares memory"):
        grad(f)(X3.copy())
    with pytest.raises(ad_compiler.CompileError, match="shares memory"):
        jvp(f, [X3.copy()], [np.ones(3)])


def test_write_through_conditional_view_of_fresh_array():
    """The same program, taking the fresh branch at run time, is right."""
    x = np.array([-0.3, -1.2, 0.7])
    ref = fd_grad(w_cond_view, [x], 0)
    np.testing.assert_allclose(grad(w_cond_view)(x.copy()), ref, rtol=1e-6, atol=1e-8)
    _, t = jvp(w_cond_view, [x.copy()], [np.ones(3)])
    np.testing.assert_allclose(t, np.sum(ref), rtol=1e-6, atol=1e-8)
