"""Third and fourth derivatives through the runtime helpers that tangent
code calls: ``grad`` (and ``hessian``) of a function calling ``jvp(h)`` or
``hessian(h)`` differentiates h's generated code again, helpers included
(``adn.abs_dir_tangent`` for ``np.abs``, ``adn.einsum`` for
``np.einsum``: BUG-26 of tests/test_random_programs.py, fuzz seed
5151016825).  Every value is compared with central differences of our own
lower-order derivative (float64) and with autograd.
"""
import importlib.util
import sys

import autograd
import autograd.numpy as anp
import autograd.scipy.linalg as asla
import numpy as np
import pytest

import ad_compiler

_SOURCE = """\
from typing import NamedTuple

import numpy as np
import scipy.linalg as sla
import scipy.special as sp
from ad_compiler import hessian, jvp
from ad_compiler import runtime as rt

XP = np.array([-1.0, 0.0, 0.5, 1.2])


def h_abs(u):
    return np.sum(np.abs(u) * np.sin(u))


def g_abs(x):
    return jvp(h_abs, (x,), (np.cos(x),))[1]


def g_abs_hessian(x):
    return np.sum(hessian(h_abs)(x))


def h_cabs(u):
    w = u * (1.0 + 0.5j) + 0.3j
    return np.sum(np.abs(w) ** 2 * np.cos(u) + np.abs(w))


def g_cabs(x):
    return jvp(h_cabs, (x,), (np.cos(x),))[1]


def h_ein(u):
    return np.einsum('i,i->', u, np.sin(u))


def g_ein(x):
    return jvp(h_ein, (x,), (np.cos(x),))[1]


def h_norm(u):
    return np.linalg.norm(u * np.sin(u) + 0.5) ** 2 * 0.5 + np.linalg.norm(u)


def g_norm(x):
    return jvp(h_norm, (x,), (np.cos(x),))[1]


def h_norm_axis(u):
    m = np.outer(u, np.cos(u)) + 1.0
    return np.sum(np.linalg.norm(m, axis=1) * u) + np.linalg.norm(m, 'fro')


def g_norm_axis(x):
    return jvp(h_norm_axis, (x,), (np.cos(x),))[1]


def h_list(u):
    s = 0.0
    for r in [u[0:2], u[1:3] * u[0]]:
        s = s + np.sum(r * r * np.sin(r))
    return s


def h_dict(u):
    dd = {1: u[1:], 2: u[:-1] * 2.0}
    v = 0.0
    for k, r in dd.items():
        v = v + k * np.sum(np.tanh(r))
    for r in dd.values():
        v = v + np.sum(r ** 3)
    return v


def h_sorted(u):
    vals = sorted([u[0], u[1] * 2.0, u[2]])
    return vals[0] * vals[2] + np.sin(vals[1])


def h_sum(u):
    return np.sum(sum([u * u, np.sin(u), u ** 3]))


class P(NamedTuple):
    W: np.ndarray
    b: np.ndarray


def h_record(u):
    p = P(u * 2.0, np.sin(u))
    q = p._replace(b=p.b * u)
    return np.sum(q.W * q.b) + np.sum(p.b)


def g_list(x):
    return jvp(h_list, (x,), (np.cos(x),))[1]


def g_dict(x):
    return jvp(h_dict, (x,), (np.cos(x),))[1]


def g_sorted(x):
    return jvp(h_sorted, (x,), (np.cos(x),))[1]


def g_sum(x):
    return jvp(h_sum, (x,), (np.cos(x),))[1]


def g_record(x):
    return jvp(h_record, (x,), (np.cos(x),))[1]


# the helpers that forward rules emit, differentiated again (BUG-26b)

def h_seqadd(u):
    p = [u[0], u[1]]
    q = p + [u[2] * u[0]]                  # concatenation: ad.add_tangent
    s = 0.0
    for r in q:
        s = s + r * np.sin(r)
    return s


def h_max(u):                              # ad.builtin_extremum_tangent
    return (max(u[0] * u[1], np.sin(u[2])) * u[0]
            + max([u[0] ** 2, u[1] * u[2], np.cos(u[1])]) ** 2)


def h_mesh(u):                             # adn.meshgrid_tangent
    a, b = np.meshgrid(u[:2] * u[2], np.sin(u))
    return np.sum(a * b * a)


def h_sign(u):                             # adn.sign_jvp, real x
    return np.sum(np.sign(u) * u ** 3)


def h_csign(u):                            # adn.sign_jvp, complex x
    w = u * (1.0 + 0.5j) + 0.3j
    s = np.sign(w * w)
    return np.sum(np.real(s) * u + np.imag(s) ** 2)


def h_interp(u):                           # adn.interp_tangent
    fp = u[0] * XP ** 2 + np.sin(u[1] * XP)
    return np.sum(np.interp(u * 2.1, XP, fp, left=u[2] ** 2, right=np.cos(u[0])) * u)


def h_slogdet(u):                          # adn.slogdet_tangent
    m = np.outer(u, np.cos(u)) + np.diag(u ** 2 + 2.0)
    s, l = np.linalg.slogdet(m)
    return l * s + l ** 2


def h_tri(u):                              # ads.tri_apply
    a = np.outer(u, np.cos(u)) + np.diag(u ** 2 + 2.0)
    return np.sum(sla.solve_triangular(a, np.sin(u) * u, lower=True) ** 2)


def h_banded(u):                           # ads.banded_matvec
    ab = np.stack([np.concatenate([[0.0], u[:2] * 0.5]), u ** 2 + 2.0,
                   np.concatenate([np.cos(u[1:]), [0.0]])])
    return np.sum(sla.solve_banded((1, 1), ab, np.sin(u) + u) ** 2)


def h_xlogy(u):                            # ads.bcast
    return np.sum(sp.xlogy(u, u ** 2 + 1.0) * u)


def g_seqadd(x):
    return jvp(h_seqadd, (x,), (np.cos(x),))[1]


def g_max(x):
    return jvp(h_max, (x,), (np.cos(x),))[1]


def g_mesh(x):
    return jvp(h_mesh, (x,), (np.cos(x),))[1]


def g_sign(x):
    return jvp(h_sign, (x,), (np.cos(x),))[1]


def g_csign(x):
    return jvp(h_csign, (x,), (np.cos(x),))[1]


def g_interp(x):
    return jvp(h_interp, (x,), (np.cos(x),))[1]


def g_slogdet(x):
    return jvp(h_slogdet, (x,), (np.cos(x),))[1]


def g_tri(x):
    return jvp(h_tri, (x,), (np.cos(x),))[1]


def g_banded(x):
    return jvp(h_banded, (x,), (np.cos(x),))[1]


def g_xlogy(x):
    return jvp(h_xlogy, (x,), (np.cos(x),))[1]


def g_tri_hessian(x):                      # ads.tri_apply, trans=1 (the adjoint solve)
    return np.sum(hessian(h_tri)(x))


def g_banded_hessian(x):                   # ads.banded_rmatvec
    return np.sum(hessian(h_banded)(x))


def h_cslogdet(u):                         # adn.slogdet_tangent, complex sign
    m = np.outer(u, np.cos(u)) * (1.0 + 0.7j) + np.diag(u ** 2 + 2.0 - 0.4j * u)
    s, l = np.linalg.slogdet(m)
    return np.real(s) * l + np.imag(s) ** 2


def g_cslogdet(x):
    return jvp(h_cslogdet, (x,), (np.cos(x),))[1]


# list repetition (ad.seq_mul: its rules emit mul_grad_left/right_tangent in
# hessian code and mul_tangent in tangent code; their rules emit mul_cross)

def h_brep(u):
    a = [u[0], u[2] * u[1]]
    n = len(a)
    b = a * n + [u[1]]                     # a repetition
    c = n * [u[2], u[0] ** 2]              # the sequence on the right
    return np.sum(np.array(b) ** 3 * np.arange(1.0, 6.0)) + np.sum(np.sin(np.array(c)) * u[1])


def g_brep(x):
    return np.sum(hessian(h_brep)(x))


def h_arep(u):
    items = [[u[0], u[1]], u * u]
    a = items[1]                           # may be a list: ad.seq_mul, NumPy at run time
    n = len(items)
    return np.sum(np.sin(a * n) * u) + np.sum(np.cos(n * a) * u[0])


def g_arep(x):
    return np.sum(hessian(h_arep)(x))


def h_seqmul(u):
    # ad.seq_mul called directly: its forward rule (ad.mul_tangent), both paths
    b = rt.seq_mul([u[0], u[1] * u[2]], 2)
    c = rt.seq_mul(np.sin(u), u * u)
    return np.sum(np.array(b) ** 3 * np.arange(1.0, 5.0)) + np.sum(c * c * u)


def g_seqmul(x):
    return jvp(h_seqmul, (x,), (np.cos(x),))[1]


def h_rnn(u):
    # the adjoint of W @ s in the loop is batched (ad.defer_matmul_left...);
    # hessian code differentiates it with ad.defer_tangent
    W = np.outer(u, np.cos(u)) * 0.5
    s = np.sin(u)
    for _ in range(3):
        s = np.tanh(W @ s + u)
    return np.sum(s * s) + np.dot(s, W @ u)


def g_rnn(x):
    return np.sum(hessian(h_rnn)(x))


def h_quantile(u):                         # adn.quantile_jvp, q moving too
    a = np.concatenate([u * u, np.sin(u) + 0.1])
    m = np.stack([a, np.cos(a) * u[1]])
    return (np.quantile(a, 0.3 + 0.1 * u[0] ** 2) * u[2] + np.median(a * u[1])
            + np.sum(np.percentile(m, np.array([30.0, 60.0 + 5.0 * u[2]]), axis=1) * u[0]))


def g_quantile(x):
    return jvp(h_quantile, (x,), (np.cos(x),))[1]


def g_quantile_hessian(x):                 # adn.quantile_vjp_dq
    return np.sum(hessian(h_quantile)(x))
"""


@pytest.fixture(scope="module")
def mod(tmp_path_factory):
    path = tmp_path_factory.mktemp("nested") / "_ad_nested_helpers.py"
    path.write_text(_SOURCE, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("_ad_nested_helpers", path)
    m = importlib.util.module_from_spec(spec)
    sys.modules["_ad_nested_helpers"] = m
    spec.loader.exec_module(m)
    return m


# the same functions for autograd
def _h_abs(u):
    return anp.sum(anp.abs(u) * anp.sin(u))


def _h_cabs(u):
    w = u * (1.0 + 0.5j) + 0.3j
    return anp.sum(anp.abs(w) ** 2 * anp.cos(u) + anp.abs(w))


def _h_ein(u):
    return anp.einsum('i,i->', u, anp.sin(u))


def _h_norm(u):
    return anp.linalg.norm(u * anp.sin(u) + 0.5) ** 2 * 0.5 + anp.linalg.norm(u)


def _h_norm_axis(u):
    m = anp.outer(u, anp.cos(u)) + 1.0
    return anp.sum(anp.linalg.norm(m, axis=1) * u) + anp.linalg.norm(m, 'fro')


def _h_list(u):
    s = 0.0
    for r in [u[0:2], u[1:3] * u[0]]:
        s = s + anp.sum(r * r * anp.sin(r))
    return s


def _h_dict(u):
    dd = {1: u[1:], 2: u[:-1] * 2.0}
    v = 0.0
    for k, r in dd.items():
        v = v + k * anp.sum(anp.tanh(r))
    for r in dd.values():
        v = v + anp.sum(r ** 3)
    return v


def _h_sorted(u):
    vals = sorted([u[0], u[1] * 2.0, u[2]])
    return vals[0] * vals[2] + anp.sin(vals[1])


def _h_sum(u):
    return anp.sum(u * u + anp.sin(u) + u ** 3)


def _h_record(u):
    W, b = u * 2.0, anp.sin(u)
    return anp.sum(W * (b * u)) + anp.sum(b)


def _h_seqadd(u):
    s = 0.0
    for r in [u[0], u[1], u[2] * u[0]]:
        s = s + r * anp.sin(r)
    return s


def _h_max(u):
    return (max(u[0] * u[1], anp.sin(u[2])) * u[0]
            + max([u[0] ** 2, u[1] * u[2], anp.cos(u[1])]) ** 2)


def _h_mesh(u):
    x0, x1 = u[:2] * u[2], anp.sin(u)
    a, b = anp.outer(anp.ones(3), x0), anp.outer(x1, anp.ones(2))   # meshgrid, 'xy'
    return anp.sum(a * b * a)


def _h_sign(u):
    return anp.sum(anp.sign(u) * u ** 3)


def _h_slogdet(u):
    m = anp.outer(u, anp.cos(u)) + anp.diag(u ** 2 + 2.0)
    s, l = anp.linalg.slogdet(m)
    return l * s + l ** 2


def _h_tri(u):
    a = anp.outer(u, anp.cos(u)) + anp.diag(u ** 2 + 2.0)
    return anp.sum(asla.solve_triangular(a, anp.sin(u) * u, lower=True) ** 2)


def _h_banded(u):
    ab = anp.stack([anp.concatenate([anp.zeros(1), u[:2] * 0.5]), u ** 2 + 2.0,
                    anp.concatenate([anp.cos(u[1:]), anp.zeros(1)])])
    return anp.sum(asla.solve_banded((1, 1), ab, anp.sin(u) + u) ** 2)


def _h_xlogy(u):
    return anp.sum(u * anp.log(u ** 2 + 1.0) * u)     # xlogy(u, y) = u log y for y > 0


def _h_brep(u):
    a = [u[0], u[2] * u[1]]
    b = a * 2 + [u[1]]
    c = 2 * [u[2], u[0] ** 2]
    return anp.sum(anp.array(b) ** 3 * anp.arange(1.0, 6.0)) + anp.sum(anp.sin(anp.array(c)) * u[1])


def _h_arep(u):
    a = u * u
    return anp.sum(anp.sin(a * 2) * u) + anp.sum(anp.cos(2 * a) * u[0])


def _h_seqmul(u):
    b = [u[0], u[1] * u[2]] * 2
    c = anp.sin(u) * (u * u)
    return anp.sum(anp.array(b) ** 3 * anp.arange(1.0, 5.0)) + anp.sum(c * c * u)


def _h_rnn(u):
    W = anp.outer(u, anp.cos(u)) * 0.5
    s = anp.sin(u)
    for _ in range(3):
        s = anp.tanh(anp.dot(W, s) + u)
    return anp.sum(s * s) + anp.dot(s, anp.dot(W, u))


def _directional(h):
    return lambda x: anp.dot(autograd.grad(h)(x), anp.cos(x))


_AUTOGRAD = {
    "g_abs": _directional(_h_abs),
    "g_abs_hessian": lambda x: anp.sum(autograd.hessian(_h_abs)(x)),
    "g_cabs": _directional(_h_cabs),
    "g_ein": _directional(_h_ein),
    "g_norm": _directional(_h_norm),            # runtime.norm_tangent (BUG-26b)
    "g_norm_axis": _directional(_h_norm_axis),
    # the container and record helpers of forward-mode code (fuzz seed 7373:
    # as_sequence_tangent, zero_or, items_tangent had no forward rule)
    "g_list": _directional(_h_list),
    "g_dict": _directional(_h_dict),
    "g_sorted": _directional(_h_sorted),
    "g_sum": _directional(_h_sum),
    "g_record": _directional(_h_record),
    # helpers of forward rules (BUG-26b): add_tangent, builtin_extremum_tangent,
    # meshgrid_tangent, sign_jvp, slogdet_tangent, tri_apply, banded_matvec, bcast
    "g_seqadd": _directional(_h_seqadd),
    "g_max": _directional(_h_max),
    "g_mesh": _directional(_h_mesh),
    "g_sign": _directional(_h_sign),
    "g_slogdet": _directional(_h_slogdet),
    "g_tri": _directional(_h_tri),
    "g_banded": _directional(_h_banded),
    "g_xlogy": _directional(_h_xlogy),
    "g_tri_hessian": lambda x: anp.sum(autograd.hessian(_h_tri)(x)),
    "g_banded_hessian": lambda x: anp.sum(autograd.hessian(_h_banded)(x)),
    # mul_grad_left/right_tangent, mul_tangent, mul_cross
    "g_brep": lambda x: anp.sum(autograd.hessian(_h_brep)(x)),
    "g_arep": lambda x: anp.sum(autograd.hessian(_h_arep)(x)),
    "g_seqmul": _directional(_h_seqmul),
    "g_rnn": lambda x: anp.sum(autograd.hessian(_h_rnn)(x)),    # defer_tangent, defer_cross
}

# no autograd reference (np.interp, np.quantile: none there; np.sign of a
# complex number has autograd's zero derivative): central differences only
_FD_ONLY = ["g_csign", "g_cslogdet", "g_interp", "g_quantile", "g_quantile_hessian"]

X = np.array([0.3, -0.5, 0.7])


def _fd(f, x, eps=1e-5):
    out = []
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = eps
        out.append((f(x + e) - f(x - e)) / (2 * eps))
    return np.array(out)


@pytest.mark.parametrize("name", sorted(_AUTOGRAD))
def test_grad_of_a_derivative(mod, name):
    """Third order (fourth for g_abs_hessian): grad of g against central
    differences of g and autograd's gradient of the same g."""
    g = getattr(mod, name)
    got = ad_compiler.grad(g)(X)
    np.testing.assert_allclose(g(X), _AUTOGRAD[name](X), rtol=1e-10)
    np.testing.assert_allclose(got, _fd(g, X), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(got, autograd.grad(_AUTOGRAD[name])(X), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", ["g_abs", "g_cabs", "g_ein", "g_seqadd", "g_max", "g_mesh",
                                  "g_slogdet", "g_tri", "g_banded", "g_xlogy", "g_seqmul", "g_rnn",
                                  "g_sign"])
def test_hessian_of_a_derivative(mod, name):
    """Fourth order: hessian of g against central differences of our grad
    of g and autograd's hessian."""
    g = getattr(mod, name)
    got = ad_compiler.hessian(g)(X)
    grad_g = ad_compiler.grad(g)
    np.testing.assert_allclose(got, _fd(grad_g, X), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(got, autograd.hessian(_AUTOGRAD[name])(X), rtol=1e-8, atol=1e-10)


def _norm(u):
    return np.linalg.norm(u)


def _through_norm_gradient_at_zero(p):
    # grad(norm) at the zero vector is 0 (our subgradient), for every p: a constant
    return np.sum(ad_compiler.grad(_norm)(p - p) * p) + np.sum(np.sin(p))


def test_norm_gradient_tangent_at_zero_is_zero_not_nan():
    """The tangent of norm's gradient where the norm is 0 is 0 (norm_grad
    is the constant 0 there), not 0/0: found by the fuzz (seed 6262) as a
    nan gradient where finite differences give the derivative of sin."""
    p = np.array([0.3, -0.8, 0.5])
    got = ad_compiler.grad(_through_norm_gradient_at_zero)(p)
    eps = 1e-6
    fd = np.array([(_through_norm_gradient_at_zero(p + eps * e)
                    - _through_norm_gradient_at_zero(p - eps * e)) / (2 * eps) for e in np.eye(3)])
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, fd, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(got, np.cos(p), rtol=1e-12)


@pytest.mark.parametrize("name", _FD_ONLY)
def test_grad_and_hessian_of_a_derivative_fd(mod, name):
    """Third and fourth order where autograd has no reference: grad of g
    against central differences of g, hessian of g against central
    differences of our grad of g."""
    g = getattr(mod, name)
    np.testing.assert_allclose(ad_compiler.grad(g)(X), _fd(g, X), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(ad_compiler.hessian(g)(X), _fd(ad_compiler.grad(g), X),
                               rtol=1e-6, atol=1e-8)
