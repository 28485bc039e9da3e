"""Checkpointing (issue #11): ``checkpoint(helper)`` recomputes a helper in
the backward sweep; ``grad(f, checkpoint="auto" | s)`` keeps loops' state at
binomial snapshots (``ad.Revolve``) and runs iterations again.

Every gradient is compared with the unchecked gradient (same numbers, to
1e-12), with central finite differences in float64 and, where it runs the
function, with autograd; the schedule with the dynamic program of minimal
recomputation; memory with tracemalloc (a bound, not a timing).
"""
import functools
import tracemalloc

import numpy as np
import pytest

import ad_compiler as ad
from ad_compiler import CompileError, checkpoint, grad, hessian, jvp, source, value_and_grad, vjp
from ad_compiler import runtime

from tests.reference import fd_jacobian


# -- user code ---------------------------------------------------------------

@checkpoint
def cell(h, x, W):
    a = W @ h + x
    return np.tanh(a)


def cell_plain(h, x, W):
    a = W @ h + x
    return np.tanh(a)


def rnn(W, h, xs):
    for t in range(xs.shape[0]):
        h = cell(h, xs[t], W)
    return np.sum(h * h)


def rnn_plain(W, h, xs):
    for t in range(xs.shape[0]):
        h = cell_plain(h, xs[t], W)
    return np.sum(h * h)


def rnn_inline(W, h, xs):
    for t in range(xs.shape[0]):
        h = np.tanh(W @ h + xs[t])
    return np.sum(h * h)


@checkpoint
def inner(x):
    return np.sin(x) * np.exp(-x * x)


@checkpoint
def two(x, y):
    u = inner(x) * y          # a checkpointed helper inside a checkpointed helper
    return u + x, np.cos(u) * y


def two_outputs(x, y):
    s = 0.0
    for i in range(3):
        a, b = two(x, y)
        x = a * 0.5
        y = b + 0.1
        s = s + np.sum(a * b)
    return s


def inner_plain(x):
    return np.sin(x) * np.exp(-x * x)


def two_plain(x, y):
    u = inner_plain(x) * y
    return u + x, np.cos(u) * y


def two_outputs_plain(x, y):
    s = 0.0
    for i in range(3):
        a, b = two_plain(x, y)
        x = a * 0.5
        y = b + 0.1
        s = s + np.sum(a * b)
    return s


def lotka(y, k):
    """Explicit Euler of a Lotka-Volterra system, 10,000 steps."""
    dt = 1e-3
    for t in range(10000):
        d0 = k[0] * y[0] - k[1] * y[0] * y[1]
        d1 = k[2] * y[0] * y[1] - k[3] * y[1]
        y = y + dt * np.array([d0, d1])
    return np.sum(y * y)


def _f(y, k):
    return np.array([k[0] * y[1], -k[1] * np.sin(y[0])])


def pendulum_rk4(y, k, n):
    h = 0.01
    for t in range(n):
        a = _f(y, k)
        b = _f(y + 0.5 * h * a, k)
        c = _f(y + 0.5 * h * b, k)
        d = _f(y + h * c, k)
        y = y + h / 6.0 * (a + 2.0 * b + 2.0 * c + d)
    return y[0] * y[1] + np.sum(y)


def skip_and_stop(x, n, limit):
    hs = []
    s = 0.0
    for t in range(n):
        if t % 3 == 0:
            continue
        x = np.sin(x) + 0.3 * x + 0.1
        hs.append(x)
        if np.sum(x) > limit:
            break
        s = s + np.sum(x * x)
    return s + np.sum(hs[0])


def nested(x, W, n):
    for t in range(n):
        v = x
        for j in range(3):
            v = np.tanh(W @ v) + 0.1 * v
        x = 0.5 * x + v
    return np.sum(x ** 2)


def with_while(x):
    i = 0
    while i < 3:
        x = np.sin(x)
        i = i + 1
    return np.sum(x)


def writes_carried(x, n):
    for t in range(n):
        x[0] = np.sin(x[1])
        x = x * 1.1
    return np.sum(x)


def long_loop(x, n):
    for t in range(n):
        y = np.sin(x)
        z = y * x
        x = x + 0.001 * z
    return np.sum(x)


# -- helpers -----------------------------------------------------------------

def _fd_grad(f, args, p):
    return fd_jacobian(f, args, p)


def _rng(seed=0):
    return np.random.default_rng(seed)


def _rnn_args(T=30, n=4):
    r = _rng(1)
    return 0.5 * r.standard_normal((n, n)), 0.1 * r.standard_normal(n), r.standard_normal((T, n))


# -- checkpoint(helper) ------------------------------------------------------

def test_helper_same_numbers_fd_autograd():
    W, h, xs = _rnn_args()
    gW, gh = grad(rnn, wrt=(0, 1))(W, h, xs)
    pW, ph = grad(rnn_plain, wrt=(0, 1))(W, h, xs)
    np.testing.assert_allclose(gW, pW, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(gh, ph, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(gW, _fd_grad(rnn_plain, (W, h, xs), 0), rtol=1e-6, atol=1e-8)
    agrad = pytest.importorskip("autograd")
    anp = pytest.importorskip("autograd.numpy")

    def ref(W, h, xs):
        for t in range(xs.shape[0]):
            h = anp.tanh(anp.dot(W, h) + xs[t])
        return anp.sum(h * h)
    np.testing.assert_allclose(gW, agrad.grad(ref)(W, h, xs), rtol=1e-10, atol=1e-12)


def test_helper_source_keeps_no_tape():
    W, h, xs = _rnn_args()
    g = grad(rnn)
    g(W, h, xs)
    src = source(g)
    assert "checkpoint: cell's forward sweep is recomputed here" in src
    assert "cell_fwd(h, t3, W)" in src
    # the primal calls the helper itself and pushes no tape
    assert "_tape)" not in src.split("for t in")[1].split("return")[0].split("adjoint")[0]
    assert "t4 = cell(h, t3, W)" in src


def test_helper_several_outputs_nested_all_modes():
    x = np.array([0.3, -0.2, 0.5])
    y = np.array([1.1, 0.7, -0.4])
    gx, gy = grad(two_outputs, wrt=(0, 1))(x, y)
    px, py = grad(two_outputs_plain, wrt=(0, 1))(x, y)
    np.testing.assert_allclose(gx, px, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(gy, py, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(gx, _fd_grad(two_outputs_plain, (x, y), 0), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(gy, _fd_grad(two_outputs_plain, (x, y), 1), rtol=1e-6, atol=1e-8)
    v = np.array([1.0, -2.0, 0.5])
    out, tan = jvp(two_outputs, (x, y), (v, np.zeros(3)))
    assert out == pytest.approx(two_outputs_plain(x, y), rel=1e-14)
    assert tan == pytest.approx(px @ v, rel=1e-10)
    out, pb = vjp(two_outputs, x, y)
    for _ in range(2):                      # the pullback may be called again
        bx, by = pb(1.0)
        np.testing.assert_allclose(bx, px, rtol=1e-12, atol=1e-14)
    H = hessian(two_outputs)(x, y)
    Hp = hessian(two_outputs_plain)(x, y)
    np.testing.assert_allclose(H, Hp, rtol=1e-10, atol=1e-12)
    Hfd = fd_jacobian(lambda x: grad(two_outputs_plain)(x, y), (x,), 0)
    np.testing.assert_allclose(H, Hfd, rtol=1e-5, atol=1e-7)


def test_helper_check_mode(monkeypatch):
    monkeypatch.setenv("AD_COMPILER_CHECK", "1")
    x = np.array([0.3, -0.2, 0.5])
    y = np.array([1.1, 0.7, -0.4])
    g = grad(two_outputs, wrt=(0, 1))(x, y)
    p = grad(two_outputs_plain, wrt=(0, 1))(x, y)
    np.testing.assert_allclose(g[0], p[0], rtol=1e-12)
    W, h, xs = _rnn_args()
    np.testing.assert_allclose(grad(rnn, checkpoint=3)(W, h, xs), grad(rnn_plain)(W, h, xs),
                               rtol=1e-12)


def test_helper_alone_and_called_plainly():
    x = np.array([0.3, 0.9])
    np.testing.assert_allclose(inner(x), inner_plain(x))
    np.testing.assert_allclose(grad(lambda x: np.sum(inner(x)))(x),
                               _fd_grad(lambda x: np.sum(inner_plain(x)), (x,), 0), rtol=1e-7)
    assert checkpoint(inner) is inner
    assert inner.__name__ == "inner"
    with pytest.raises(TypeError, match="checkpoint"):
        checkpoint(np.sin)


# -- checkpointed loops --------------------------------------------------------

@pytest.mark.parametrize("snapshots", [1, 2, 3, 7, "auto"])
def test_rnn_loop_same_numbers(snapshots):
    W, h, xs = _rnn_args(T=40)
    ref = grad(rnn_inline, wrt=(0, 1, 2))(W, h, xs)
    got = grad(rnn_inline, wrt=(0, 1, 2), checkpoint=snapshots)(W, h, xs)
    for a, b in zip(got, ref):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(got[0], _fd_grad(rnn_inline, (W, h, xs), 0), rtol=1e-6, atol=1e-8)
    # a checkpointed helper inside a checkpointed loop
    got = grad(rnn, checkpoint=snapshots)(W, h, xs)
    np.testing.assert_allclose(got, ref[0], rtol=1e-12, atol=1e-14)
    v, g = value_and_grad(rnn_inline, checkpoint=snapshots)(W, h, xs)
    assert v == rnn_inline(W, h, xs)
    np.testing.assert_allclose(g, ref[0], rtol=1e-12, atol=1e-14)


def test_loop_source_is_readable():
    W, h, xs = _rnn_args()
    g = grad(rnn_inline, checkpoint=4)
    g(W, h, xs)
    src = source(g)
    assert "ad.Revolve(len(r1), 4, (h,))" in src
    assert "checkpointed loop: its state (h) is kept at snapshots" in src
    assert "for i in cp.backward():" in src
    assert "cp.keep((h,))" in src


def test_ode_euler_10000_steps():
    y = np.array([1.0, 0.5])
    k = np.array([1.1, 0.4, 0.4, 0.9])
    ref = grad(lotka, wrt=(0, 1))(y, k)
    got = grad(lotka, wrt=(0, 1), checkpoint="auto")(y, k)
    for a, b in zip(got, ref):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(got[1], _fd_grad(lotka, (y, k), 1), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("snapshots", [2, 5, "auto"])
def test_ode_rk4(snapshots):
    y = np.array([0.4, 0.1])
    k = np.array([1.0, 9.81])
    ref = grad(pendulum_rk4, wrt=(0, 1))(y, k, 300)
    got = grad(pendulum_rk4, wrt=(0, 1), checkpoint=snapshots)(y, k, 300)
    for a, b in zip(got, ref):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(got[0], _fd_grad(pendulum_rk4, (y, k, 300), 0), rtol=1e-6)
    out, tan = jvp(pendulum_rk4, (y, k, 300), (np.array([1.0, 0.0]), np.zeros(2), None))
    assert tan == pytest.approx(got[0][0], rel=1e-9)


@pytest.mark.parametrize("n,limit", [(2, 1e9), (7, 1e9), (30, 1e9), (30, 3.0), (30, 1.5)])
@pytest.mark.parametrize("snapshots", [1, 2, "auto"])
def test_continue_and_break(n, limit, snapshots):
    x = np.array([0.3, 0.5])
    ref = grad(skip_and_stop)(x, n, limit)
    got = grad(skip_and_stop, checkpoint=snapshots)(x, n, limit)
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(got, _fd_grad(skip_and_stop, (x, n, limit), 0), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("snapshots", [1, 3, "auto"])
def test_nested_loops(snapshots):
    r = _rng(3)
    x, W = r.standard_normal(3), 0.4 * r.standard_normal((3, 3))
    ref = grad(nested, wrt=(0, 1))(x, W, 25)
    got = grad(nested, wrt=(0, 1), checkpoint=snapshots)(x, W, 25)
    for a, b in zip(got, ref):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(got[1], _fd_grad(nested, (x, W, 25), 1), rtol=1e-6, atol=1e-8)


def test_loop_check_mode(monkeypatch):
    monkeypatch.setenv("AD_COMPILER_CHECK", "1")
    x = np.array([0.3, 0.5])
    np.testing.assert_allclose(grad(skip_and_stop, checkpoint=2)(x, 30, 3.0),
                               grad(skip_and_stop)(x, 30, 3.0), rtol=1e-12)
    r = _rng(3)
    x, W = r.standard_normal(3), 0.4 * r.standard_normal((3, 3))
    np.testing.assert_allclose(grad(nested, checkpoint="auto")(x, W, 9), grad(nested)(x, W, 9),
                               rtol=1e-12)


def test_refusals():
    with pytest.raises(CompileError, match="cannot checkpoint a 'while' loop") as e:
        grad(with_while, checkpoint=2)(np.ones(2))
    assert e.value.lineno is not None and "while i < 3" in str(e.value)
    grad(with_while)(np.ones(2))                 # fine without checkpointing
    with pytest.raises(CompileError, match="writes into 'x' in place"):
        grad(writes_carried, checkpoint="auto")(np.ones(3), 4)
    for bad in (0, -1, "yes", 2.5, True):
        with pytest.raises(ValueError, match="checkpoint must be"):
            grad(long_loop, checkpoint=bad)


# -- the schedule --------------------------------------------------------------

@functools.lru_cache(None)
def _dp(n, c):
    """Minimal body runs to reverse n steps from a kept state with c more
    snapshots (the recurrence the schedule is derived from)."""
    if n <= 1:
        return 0
    if c == 0:
        return n * (n - 1) // 2
    return min(m + _dp(n - m, c - 1) + _dp(m, c) for m in range(1, n))


def test_schedule_is_minimal():
    for c in range(0, 5):
        for n in range(1, 70):
            assert runtime.revolve_cost(n, c) == _dp(n, c), (n, c)
            if n > 1 and c > 0:
                m = runtime.revolve_split(n, c)
                assert m + _dp(n - m, c - 1) + _dp(m, c) == _dp(n, c), (n, c, m)


@pytest.mark.parametrize("T,s,n", [(1, 1, None), (2, 1, None), (40, 1, None), (40, 3, None),
                                   (100, 5, None), (1000, "auto", None), (50, 4, 37)])
def test_revolve_order_and_memory(T, s, n):
    cp = runtime.Revolve(T, s, 0)
    for i in range(T if n is None else n):
        cp.keep(i + 1)
    order, runs = [], 0
    for i in cp.backward(n):
        state = cp.state
        assert state == cp.start
        for j in range(cp.start, i):
            state = j + 1
            cp.keep(state)
            runs += 1
        order.append(i)
        assert len(cp.stored) <= cp.snapshots
    N = T if n is None else n
    assert order == list(range(N - 1, -1, -1))
    if n is None:       # (the primal's runs are the first chain's advances)
        assert runs <= runtime.revolve_cost(T, cp.snapshots - 1)
    if s == "auto":
        assert runs <= T          # no step runs more than twice in the adjoint sweep


# -- memory --------------------------------------------------------------------

def _peak(fn, *args):
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        out = fn(*args)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    return out, peak


def test_memory_of_a_10000_step_loop():
    x = np.linspace(0.1, 1.0, 64)
    plain, ckpt = grad(long_loop), grad(long_loop, checkpoint="auto")
    ref = plain(x, 50)
    np.testing.assert_allclose(ckpt(x, 50), ref, rtol=1e-12)     # (compiled outside)
    a, p_plain = _peak(plain, x, 10000)
    b, p_ckpt = _peak(ckpt, x, 10000)
    np.testing.assert_allclose(a, b, rtol=1e-12)
    assert p_ckpt < p_plain / 5, (p_ckpt, p_plain)


# -- weight adjoints of checkpointed loops: batched, in bounded memory ----------

def test_bounded_parts_sum_outer_products():
    r = _rng(5)
    for m, n, T in [(6, 4, 3), (6, 4, 100), (64, 64, 333), (1, 5, 70)]:
        us = [r.standard_normal(m) for _ in range(T)]
        vs = [r.standard_normal(n) for _ in range(T)]
        parts = runtime.bounded_parts()
        W = np.zeros((m, n))
        for u, v in zip(us, vs):
            parts = runtime.defer_matmul_left(parts, u, W, v)
            # never more pairs than the bound (32, or the sum's size over a pair's)
            assert len(parts) <= max(32, m * n // (m + n))
        ref = np.zeros((m, n))
        for u, v in zip(us, vs):
            ref += u[:, None] * v[None, :]
        np.testing.assert_allclose(runtime.sum_deferred(parts, W), ref, rtol=1e-12, atol=1e-12)
    # contributions recorded as values (not pairs) are summed at once
    parts = runtime.bounded_parts()
    X = r.standard_normal((3, 4))
    for _ in range(5):
        parts = runtime.defer_matmul_left(parts, np.ones((3, 2)), X, np.ones((4, 2)))
        assert len(parts) == 1
    np.testing.assert_allclose(runtime.sum_deferred(parts, X), 5 * np.full((3, 4), 2.0))


def rnn_weights(x, W, n):
    for t in range(n):
        a = W @ x
        b = np.tanh(a)
        x = 0.5 * x + 0.5 * (b * np.cos(x))       # (bounded: 4000 steps stay finite)
    return np.sum(x * x)


@pytest.mark.parametrize("snapshots", [1, 3, "auto"])
def test_weight_adjoint_batched_in_checkpointed_loop(snapshots):
    r = _rng(7)
    x, W = r.standard_normal(5), 0.5 * r.standard_normal((5, 5))
    g = grad(rnn_weights, wrt=(0, 1), checkpoint=snapshots)
    got = g(x, W, 80)
    ref = grad(rnn_weights, wrt=(0, 1))(x, W, 80)
    for a, b in zip(got, ref):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    for p in (0, 1):
        np.testing.assert_allclose(got[p], _fd_grad(rnn_weights, (x, W, 80), p),
                                   rtol=1e-6, atol=1e-8)
    src = source(g)
    # the outer products of bW are recorded and summed by matrix products
    assert "bW_parts = ad.bounded_parts()" in src
    # (W a matrix and the vectors' ranks known: the pair itself, without the
    # helper's rank tests, specialize.py)
    assert "ad.defer_outer(bW_parts" in src
    assert "bW = ad.sum_deferred(bW_parts, W)" in src


def test_weight_adjoint_memory_does_not_grow_with_steps():
    r = _rng(8)
    x, W = r.standard_normal(64), r.standard_normal((64, 64)) / 8.0
    g = grad(rnn_weights, wrt=(0, 1), checkpoint=40)
    g(x, W, 3)
    (_, short), (_, long) = _peak(g, x, W, 500), _peak(g, x, W, 4000)
    # 40 snapshots and at most 32 pairs of 64 floats (0.7 MB with bW and the
    # stacked pairs), 8x the steps: not 8x the memory
    assert long < 1.3 * short, (short, long)
    _, plain = _peak(grad(rnn_weights, wrt=(0, 1)), x, W, 4000)
    assert long < plain / 5, (long, plain)
