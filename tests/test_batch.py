"""transforms/cleanup/batch.py: outer-product accumulations of adjoint loops are
summed by one matrix product after the loop.

* the pass on small hand-written adjoint code: what it batches, what it
  leaves alone (the soundness conditions);
* generated source of user programs: the batched form appears, or not;
* numbers: gradients of loop programs against central finite differences
  (float64), against autograd, and against the same compiler with the pass
  switched off (identical up to the order of the sums);
* the runtime helpers (fallbacks, dtypes, chunking) and their forward rules
  (hessian is forward mode over the batched gradient code).
"""
import textwrap
import types

import gast
import numpy as np
import pytest

import ad_compiler as ad
from ad_compiler import compiler, runtime, runtime_numpy
from ad_compiler.testing import numerical_jacobian
from ad_compiler.transforms.cleanup import batch
from ad_compiler.transforms.backend import codegen
from ad_compiler.transforms import annotations, names


# --------------------------------------------------------------------------
# the pass on hand-written adjoint code
# --------------------------------------------------------------------------

def _run_pass(src):
    """Apply the pass to ``src`` (every for loop taken as an adjoint loop)."""
    tree = gast.parse(textwrap.dedent(src)).body[0]
    for node in gast.walk(tree):
        if isinstance(node, gast.For):
            annotations.set(node, annotations.Key.ADJOINT, True)
    ctx = types.SimpleNamespace(
        runtime=runtime, injected={"ad": runtime, "adn": runtime_numpy, "np": np},
        namer=names.Namer(names.all_identifiers(tree)))
    ctx.global_name = lambda ident, obj: ident
    batch.batch_outer(tree, ctx)
    return codegen.to_source(tree)


def _lines(src):
    return [line.strip() for line in src.splitlines()]


def test_fresh_accumulator_is_assigned_the_sum():
    src = _run_pass('''
        def f(W, hs, gs):
            bW = ad.zeros_like(W)
            for t in range(3):
                h = hs[t]
                g = gs[t]
                bW += ad.matmul_grad_left(g, W, h)
            return bW
    ''')
    lines = _lines(src)
    assert "bW = ad.zeros_like(W)" not in lines
    assert lines.index("bW_parts = []") < lines.index("for t in range(3):")
    assert "bW_parts = ad.defer_matmul_left(bW_parts, g, W, h)" in lines
    assert lines[-2:] == ["bW = ad.sum_deferred(bW_parts, W)", "return bW"]


def test_accumulator_that_is_not_fresh_gets_the_sum_added():
    src = _run_pass('''
        def f(W, hs, gs, bW):
            bW = bW * 2.0
            for t in range(3):
                bW += ad.matmul_grad_right(gs[0], hs[0], W)
            return bW
    ''')
    # operands must be names or constants: subscripts are left alone
    assert "defer" not in src
    src = _run_pass('''
        def f(W, h, g, bW):
            bW = bW * 2.0
            for t in range(3):
                bW += ad.matmul_grad_right(g, h, W)
            c = 1
            return bW
    ''')
    lines = _lines(src)
    assert "bW_parts = ad.defer_matmul_right(bW_parts, g, h, W)" in lines
    assert lines.index("bW += ad.sum_deferred(bW_parts)") == lines.index("c = 1") - 1


def test_plus_form_and_dot_helpers():
    src = _run_pass('''
        def f(w, v, h, g):
            bw = ad.zeros_like(w)
            bv = ad.zeros_like(v)
            for t in range(3):
                bw = bw + adn.dot_vjp_a(g, w, h)
                bv += adn.dot_vjp_b(g, h, v)
            return bw, bv
    ''')
    lines = _lines(src)
    assert "bw_parts = ad.defer_dot_a(bw_parts, g, w, h)" in lines
    assert "bv_parts = ad.defer_dot_b(bv_parts, g, h, v)" in lines
    # bw = bw + ...: the zeros stay (their dtype may be promoted by the sum)
    assert "bw = ad.zeros_like(w)" in lines and "bw = bw + ad.sum_deferred(bw_parts)" in lines
    assert "bv = ad.sum_deferred(bv_parts, v)" in lines


def test_statement_in_a_branch_is_batched():
    src = _run_pass('''
        def f(W, h, g, c):
            bW = ad.zeros_like(W)
            for t in range(3):
                if c:
                    bW += ad.matmul_grad_left(g, W, h)
                else:
                    h = h * 2.0
            return bW
    ''')
    assert "bW_parts = ad.defer_matmul_left(bW_parts, g, W, h)" in _lines(src)


def test_nested_loops_are_batched_each_on_its_own():
    src = _run_pass('''
        def f(W, U, h, g):
            bW = ad.zeros_like(W)
            bU = ad.zeros_like(U)
            for i in range(2):
                bU += ad.matmul_grad_left(g, U, h)
                for t in range(3):
                    bW += ad.matmul_grad_left(g, W, h)
            return bW, bU
    ''')
    tree = gast.parse(src).body[0]
    outer = next(s for s in tree.body if isinstance(s, gast.For))
    inner_src = codegen.to_source(outer.body)
    assert "bU_parts = ad.defer_matmul_left(bU_parts, g, U, h)" in inner_src
    # bW is touched by the outer loop (its list and sum): batched per inner loop
    assert "bW_parts = []" in inner_src and "bW += ad.sum_deferred(bW_parts)" in inner_src
    assert _lines(src)[-2:] == ["bU = ad.sum_deferred(bU_parts, U)", "return (bW, bU)"]
    assert "bW = ad.zeros_like(W)" in _lines(src)


@pytest.mark.parametrize("why,src", [
    ("accumulator read in the loop", '''
        def f(W, h, g):
            bW = ad.zeros_like(W)
            for t in range(3):
                bW += ad.matmul_grad_left(g, W, h)
                g = bW[0]
            return bW
    '''),
    ("accumulator assigned in a nested loop", '''
        def f(W, h, g):
            bW = ad.zeros_like(W)
            for t in range(3):
                bW += ad.matmul_grad_left(g, W, h)
                for s in range(2):
                    bW = ad.zeros_like(W)
            return bW
    '''),
    ("two accumulations", '''
        def f(W, h, g):
            bW = ad.zeros_like(W)
            for t in range(3):
                bW += ad.matmul_grad_left(g, W, h)
                bW += ad.matmul_grad_left(g, W, h)
            return bW
    '''),
    ("accumulator among the operands", '''
        def f(W, h, g):
            bW = ad.zeros_like(W)
            for t in range(3):
                bW += ad.matmul_grad_left(g, bW, h)
            return bW
    '''),
    ("kept operand updated with +=", '''
        def f(W, h, g):
            bW = ad.zeros_like(W)
            for t in range(3):
                bW += ad.matmul_grad_left(g, W, h)
                g += 1.0
            return bW
    '''),
    ("kept operand written by an in-place helper", '''
        def f(W, h, g):
            bW = ad.zeros_like(W)
            for t in range(3):
                bW += ad.matmul_grad_left(g, W, h)
                ad.add_at(h, 0, 1.0)
            return bW
    '''),
    ("kept operand is a copy of a name updated in place", '''
        def f(W, h, g):
            bW = ad.zeros_like(W)
            k = g
            k += 1.0
            for t in range(3):
                bW += ad.matmul_grad_left(g, W, h)
            return bW
    '''),
    ("the function writes into an array", '''
        def f(W, h, g, xs):
            bW = ad.zeros_like(W)
            for t in range(3):
                bW += ad.matmul_grad_left(g, W, h)
                xs[t] = 0.0
            return bW
    '''),
    ("the function restores written elements", '''
        def f(W, h, g, xs, redo):
            bW = ad.zeros_like(W)
            for t in range(3):
                bW += ad.matmul_grad_left(g, W, h)
            ad.restore(redo, xs, 0, 1.0)
            return bW
    '''),
    ("another contribution function", '''
        def f(W, h, g):
            bW = ad.zeros_like(W)
            for t in range(3):
                bW += ad.unbroadcast(g, W)
            return bW
    '''),
])
def test_refusals(why, src):
    assert "defer" not in _run_pass(src), why


def test_only_adjoint_loops_are_batched():
    tree = gast.parse(textwrap.dedent('''
        def f(W, h, g):
            bW = ad.zeros_like(W)
            for t in range(3):
                bW += ad.matmul_grad_left(g, W, h)
            return bW
    ''')).body[0]
    ctx = types.SimpleNamespace(runtime=runtime, injected={"ad": runtime},
                                namer=names.Namer(names.all_identifiers(tree)),
                                global_name=lambda ident, obj: ident)
    batch.batch_outer(tree, ctx)
    assert "defer" not in codegen.to_source(tree)


def test_zero_init_kept_when_its_shape_operand_changes_in_the_loop():
    src = _run_pass('''
        def f(W, h, g):
            bW = ad.zeros_like(W)
            for t in range(3):
                bW += ad.matmul_grad_left(g, W, h)
                W = ad.pop(stack)
            return bW
    ''')
    lines = _lines(src)
    assert "bW = ad.zeros_like(W)" in lines and "bW += ad.sum_deferred(bW_parts)" in lines


# --------------------------------------------------------------------------
# user programs
# --------------------------------------------------------------------------

def rnn(Wx, Wh, b, wo, xs, ys):
    """The benchmark's RNN: matrix-vector products, a vector-vector dot."""
    h = np.zeros(Wh.shape[0])
    total = 0.0
    for t in range(xs.shape[0]):
        h = np.tanh(Wx @ xs[t] + Wh @ h + b)
        pred = np.dot(wo, h)
        total = total + (pred - ys[t]) ** 2
    return total / xs.shape[0]


def row_rnn(W, U, h0, xs):
    """Row vectors: h @ W and np.dot(x, U) (the adjoints are outer(h, g))."""
    h = h0
    for x in xs:
        h = np.sin(h @ W + np.dot(x, U))
    return np.sum(h * h)


def dot_loop(w, v, xs):
    """Vector-vector products in a loop: one factor of each term is a scalar."""
    s = 0.0
    for t in range(xs.shape[0]):
        s = s + np.tanh(np.dot(w, xs[t])) ** 2 + np.sin(xs[t] @ v)
    return s


def branchy(W, V, xs):
    """An if in the loop: the accumulation is conditional."""
    h = np.ones(W.shape[0])
    for t in range(xs.shape[0]):
        if np.sum(xs[t]) > 0.0:
            h = np.tanh(W @ xs[t]) + h
        else:
            h = np.cos(V @ h)
    return np.sum(h ** 2)


def early_exit(W, h0, xs):
    """A loop left by break."""
    h = h0
    for t in range(xs.shape[0]):
        h = np.tanh(W @ h + xs[t])
        if t >= 3:
            break
    return np.sum(h * h)


def nested(W, U, V, xs):
    """An outer loop with its own product, an inner loop with two."""
    h = np.zeros(W.shape[0])
    for i in range(2):
        h = np.tanh(U @ h + 0.5)
        for t in range(xs.shape[0]):
            h = np.tanh(W @ h + V @ xs[t])
        h = h * 0.9
    return np.sum(h ** 2)


def while_loop(W, h0):
    """A while loop (its adjoint is a counted for loop)."""
    h = h0
    k = 0
    while k < 4:
        h = np.sin(W @ h)
        k = k + 1
    return np.sum(h)


def two_loops(W, h0, xs):
    """Two loops in a row: the second adjoint loop adds to the sum of the
    first."""
    h = h0
    for t in range(xs.shape[0]):
        h = np.tanh(W @ h + xs[t])
    for t in range(xs.shape[0]):
        h = np.sin(W @ h) + xs[t]
    return np.sum(h * h)


def decaying(W, h0, xs):
    """W itself changes in the loop: its adjoint is read there (no batching)."""
    h = h0
    for t in range(xs.shape[0]):
        h = np.tanh(W @ h + xs[t])
        W = W * 0.9
    return np.sum(h ** 2)


def shared(W, h0, xs):
    """W is used twice per step: two accumulations (no batching)."""
    h = h0
    for t in range(xs.shape[0]):
        h = np.tanh(W @ h + W @ xs[t])
    return np.sum(h ** 2)


def writes(W, xs):
    """The function writes into an array (no batching at all)."""
    hs = np.zeros((xs.shape[0] + 1, W.shape[0]))
    for t in range(xs.shape[0]):
        hs[t + 1] = np.tanh(W @ hs[t] + xs[t])
    return np.sum(hs ** 2)


def matrix_steps(W, H0, X):
    """Matrix @ matrix products: the runtime helper falls back to the
    contribution itself."""
    H = H0
    for t in range(3):
        H = np.tanh(W @ H + X)
    return np.sum(H ** 2)


def _make(name, rng):
    n = lambda *s: rng.normal(size=s)   # noqa: E731
    return {
        "rnn": lambda: (n(4, 3) / 2, 0.8 * n(4, 4) / 2, 0.1 * n(4), n(4) / 2, n(6, 3),
                        np.sin(np.arange(6.0))),
        "row_rnn": lambda: (0.5 * n(4, 4), 0.5 * n(3, 4), n(4), n(5, 3)),
        "dot_loop": lambda: (n(3), n(3), n(5, 3)),
        "branchy": lambda: (0.5 * n(4, 3), 0.5 * n(4, 4), n(6, 3)),
        "early_exit": lambda: (0.5 * n(3, 3), n(3), n(7, 3)),
        "nested": lambda: (0.5 * n(3, 3), 0.5 * n(3, 3), 0.5 * n(3, 2), n(4, 2)),
        "while_loop": lambda: (0.5 * n(3, 3), n(3)),
        "two_loops": lambda: (0.5 * n(3, 3), n(3), n(4, 3)),
        "decaying": lambda: (0.5 * n(3, 3), n(3), n(5, 3)),
        "shared": lambda: (0.3 * n(3, 3), n(3), n(5, 3)),
        "writes": lambda: (0.5 * n(3, 3), n(4, 3)),
        "matrix_steps": lambda: (0.5 * n(3, 3), n(3, 2), n(3, 2)),
    }[name]()


# name -> (function, differentiated positions, is it batched?)
PROGRAMS = {
    "rnn": (rnn, (0, 1, 2, 3), True),
    "row_rnn": (row_rnn, (0, 1, 2), True),
    "dot_loop": (dot_loop, (0, 1), True),
    "branchy": (branchy, (0, 1), True),
    "early_exit": (early_exit, (0, 1), True),
    "nested": (nested, (0, 1, 2), True),
    "while_loop": (while_loop, (0, 1), True),
    "two_loops": (two_loops, (0, 1), True),
    "decaying": (decaying, (0, 1), False),
    "shared": (shared, (0, 1), False),
    "writes": (writes, (0,), False),
    "matrix_steps": (matrix_steps, (0, 1), True),
}


def _args(name, seed=0):
    return _make(name, np.random.default_rng(seed))


def _compile(fn, wrt, enabled=True, mode="grad"):
    """A fresh compile (not cached), with the pass switched on or off."""
    names_ = tuple(fn.__code__.co_varnames[i] for i in wrt)
    real = batch.batch_outer
    if not enabled:
        batch.batch_outer = lambda tree, ctx: tree
    try:
        return compiler.transform(fn, mode, names_)
    finally:
        batch.batch_outer = real


def _as_tuple(g):
    return g if isinstance(g, tuple) else (g,)


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_source_is_batched_or_not(name):
    fn, wrt, batched = PROGRAMS[name]
    src = ad.source(fn, mode="rev", wrt=wrt)
    assert ("ad.defer_" in src) == batched, src
    if batched:
        assert "ad.sum_deferred(" in src


def test_rnn_source():
    src = ad.source(rnn, mode="rev", wrt=(0, 1, 2, 3))
    lines = _lines(src)
    for line in ["bWh_parts = []", "bWx_parts = []", "bwo_parts = []",
                 "bwo_parts = ad.defer_dot_a(bwo_parts, bpred, wo, h)",
                 "bWh_parts = ad.defer_matmul_left(bWh_parts, bt7, Wh, h)",
                 "bWx_parts = ad.defer_matmul_left(bWx_parts, bt6, Wx, t5)",
                 "bWh = ad.sum_deferred(bWh_parts, Wh)", "bWx = ad.sum_deferred(bWx_parts, Wx)",
                 "bwo = ad.sum_deferred(bwo_parts, wo)", "bb = ad.zeros_like(b)",
                 "bb += ad.unbroadcast(bt9, b)"]:
        assert line in lines, line
    for gone in ["bWh = ad.zeros_like(Wh)", "bWx = ad.zeros_like(Wx)", "bwo = ad.zeros_like(wo)"]:
        assert gone not in lines
    assert "matmul_grad_left" not in src and "dot_vjp_a" not in src
    # the line comments are kept
    at = lines.index("bWh_parts = ad.defer_matmul_left(bWh_parts, bt7, Wh, h)")
    comment = next(line for line in reversed(lines[:at]) if line.startswith("#"))
    assert comment == f"# adjoint of line {rnn.__code__.co_firstlineno + 5}: " \
                      "h = np.tanh(Wx @ xs[t] + Wh @ h + b)"
    assert src.count("# adjoint of line") == 5
    assert src == ad.source(rnn, mode="rev", wrt=(0, 1, 2, 3))        # deterministic


def test_nested_source_flushes_inside_the_outer_loop():
    src = ad.source(nested, mode="rev", wrt=(0, 1, 2))
    tree = gast.parse(src).body[0]
    outer = [s for s in tree.body if isinstance(s, gast.For)][-1]
    inner_loops = [s for s in outer.body if isinstance(s, gast.For)]
    assert len(inner_loops) == 1
    body = codegen.to_source(outer.body)
    assert "bW += ad.sum_deferred(bW_parts)" in body and "bV += ad.sum_deferred(bV_parts)" in body
    assert "bU = ad.sum_deferred(bU_parts, U)" in _lines(src)


def test_second_loop_adds_to_the_sum_of_the_first():
    lines = _lines(ad.source(two_loops, mode="rev", wrt=(0, 1)))
    assert lines.index("bW = ad.sum_deferred(bW_parts, W)") \
        < lines.index("bW += ad.sum_deferred(bW_parts_1)")


def _fd_grads(fn, args, wrt):
    out = []
    for i in wrt:
        J = numerical_jacobian(fn, args, i)
        out.append(J.reshape(np.shape(args[i])))
    return out


def _autograd_version(fn):
    import autograd.numpy as anp
    glb = dict(fn.__globals__)
    glb["np"] = anp
    return types.FunctionType(fn.__code__, glb, fn.__name__, fn.__defaults__)


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_gradients_against_finite_differences_and_the_unbatched_code(name):
    fn, wrt, _ = PROGRAMS[name]
    for seed in range(2):
        args = _args(name, seed)
        got = _as_tuple(ad.grad(fn, wrt=wrt)(*args))
        fd = _fd_grads(fn, args, wrt)
        plain = _as_tuple(_compile(fn, wrt, enabled=False).function(*args))
        batched = _as_tuple(_compile(fn, wrt, enabled=True).function(*args))
        for g, f, p, b in zip(got, fd, plain, batched):
            assert np.shape(g) == np.shape(f)
            np.testing.assert_allclose(g, f, rtol=1e-6, atol=1e-7)
            np.testing.assert_allclose(b, p, rtol=1e-10, atol=1e-13)
            np.testing.assert_allclose(g, b, rtol=0, atol=0)
            assert np.result_type(g) == np.result_type(p)


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_gradients_against_autograd(name):
    autograd = pytest.importorskip("autograd")
    fn, wrt, _ = PROGRAMS[name]
    if name == "writes":
        pytest.skip("autograd does not support assignment to arrays")
    args = _args(name, 3)
    got = _as_tuple(ad.grad(fn, wrt=wrt)(*args))
    ref = autograd.grad(_autograd_version(fn), wrt)(*args)
    for g, r in zip(got, ref):
        np.testing.assert_allclose(g, r, rtol=1e-10, atol=1e-12)


def test_float32_stays_float32():
    for name in ("rnn", "row_rnn", "dot_loop", "nested"):
        fn, wrt, _ = PROGRAMS[name]
        args = _args(name, 1)
        args32 = tuple(a.astype(np.float32) if isinstance(a, np.ndarray) else a for a in args)
        got = _as_tuple(ad.grad(fn, wrt=wrt)(*args32))
        plain = _as_tuple(_compile(fn, wrt, enabled=False).function(*args32))
        ref = _as_tuple(ad.grad(fn, wrt=wrt)(*args))
        for g, p, r in zip(got, plain, ref):
            assert g.dtype == np.float32 and p.dtype == np.float32, name
            np.testing.assert_allclose(g, r, rtol=2e-4, atol=2e-5)
            np.testing.assert_allclose(g, p, rtol=2e-5, atol=2e-6)


def complex_rnn(W, h0, xs):
    h = h0
    for t in range(xs.shape[0]):
        h = np.tanh(W @ h + xs[t])
    return np.sum(np.real(h * np.conj(h)))


def test_complex_stays_complex():
    autograd = pytest.importorskip("autograd")
    rng = np.random.default_rng(2)
    W = 0.4 * (rng.normal(size=(3, 3)) + 1j * rng.normal(size=(3, 3)))
    h0 = rng.normal(size=3) + 1j * rng.normal(size=3)
    xs = rng.normal(size=(5, 3))
    src = ad.source(complex_rnn, mode="rev", wrt=(0, 1))
    assert "bW = bW + ad.sum_deferred(bW_parts)" in src
    got = ad.grad(complex_rnn, wrt=(0, 1))(W, h0, xs)
    ref = autograd.grad(_autograd_version(complex_rnn), (0, 1))(W, h0, xs)
    plain = _compile(complex_rnn, (0, 1), enabled=False).function(W, h0, xs)
    for g, r, p in zip(got, ref, plain):
        assert g.dtype == np.complex128
        np.testing.assert_allclose(g, r, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(g, p, rtol=1e-10, atol=1e-13)
    # a real matrix in a complex computation: its gradient is real
    Wr = W.real.copy()
    g = ad.grad(complex_rnn, wrt=0)(Wr, h0, xs)
    assert g.dtype == np.float64
    np.testing.assert_allclose(g, autograd.grad(_autograd_version(complex_rnn))(Wr, h0, xs),
                               rtol=1e-10, atol=1e-12)


def test_hessian_forward_over_the_batched_gradient():
    autograd = pytest.importorskip("autograd")
    for name, i in (("rnn", 1), ("row_rnn", 0), ("dot_loop", 0), ("nested", 2),
                    ("two_loops", 0)):
        fn, wrt, _ = PROGRAMS[name]
        args = _args(name, 4)
        assert "defer_" in ad.source(ad.hessian(fn, wrt=i))
        H = ad.hessian(fn, wrt=i)(*args)
        ref = autograd.hessian(_autograd_version(fn), i)(*args)
        np.testing.assert_allclose(H, ref, rtol=1e-9, atol=1e-11, err_msg=name)


def test_vjp_pullback_can_be_called_twice():
    fn, wrt, _ = PROGRAMS["rnn"]
    args = _args("rnn", 5)
    assert "defer_" in ad.source(fn, mode="vjp", wrt=wrt)
    out, pullback = ad.vjp(fn, *args)
    first = pullback(1.0)
    second = pullback(2.0)
    expected = _as_tuple(ad.grad(fn, wrt=wrt)(*args))
    for i, e in zip(wrt, expected):
        np.testing.assert_allclose(first[i], e, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(second[i], 2 * e, rtol=1e-12, atol=1e-14)


def test_long_loops_are_summed_in_chunks(monkeypatch):
    monkeypatch.setattr(runtime, "_DEFER_CHUNK", 4)
    fn, wrt, _ = PROGRAMS["rnn"]
    args = _args("rnn", 6)
    got = _compile(fn, wrt).function(*args)
    plain = _compile(fn, wrt, enabled=False).function(*args)
    for g, p in zip(got, plain):
        np.testing.assert_allclose(g, p, rtol=1e-10, atol=1e-13)


def test_zero_trip_loop():
    fn, wrt, _ = PROGRAMS["rnn"]
    Wx, Wh, b, wo, xs, ys = _args("rnn", 7)
    got = ad.grad(fn, wrt=wrt)(Wx, Wh, b, wo, xs[:1], ys[:1])
    plain = _compile(fn, wrt, enabled=False).function(Wx, Wh, b, wo, xs[:1], ys[:1])
    for g, p in zip(got, plain):
        np.testing.assert_allclose(g, p, rtol=1e-12, atol=0)
    g = ad.grad(while_loop, wrt=0)(*_args("while_loop"))
    assert g.shape == (3, 3)


# --------------------------------------------------------------------------
# the runtime helpers
# --------------------------------------------------------------------------

def _contribution(helper, g, x, y):
    return {
        runtime.defer_matmul_left: runtime.matmul_grad_left,
        runtime.defer_matmul_right: runtime.matmul_grad_right,
        runtime.defer_dot_a: runtime_numpy.dot_vjp_a,
        runtime.defer_dot_b: runtime_numpy.dot_vjp_b,
    }[helper](g, x, y)


@pytest.mark.parametrize("helper", [runtime.defer_matmul_left, runtime.defer_matmul_right,
                                    runtime.defer_dot_a, runtime.defer_dot_b])
@pytest.mark.parametrize("shapes", [((3, 4), (4,)), ((4,), (4,)), ((4,), (4, 3)),
                                    ((3, 4), (4, 2)), ((2, 3, 4), (4,))])
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.complex128])
def test_deferred_sum_equals_the_sum_of_contributions(helper, shapes, dtype):
    if helper in (runtime.defer_dot_a, runtime.defer_dot_b) and len(shapes[0]) == 3:
        pytest.skip("np.dot of a 3-d array: covered by dot_vjp_a/b's own tests")
    rng = np.random.default_rng(0)

    def arr(shape):
        a = rng.normal(size=shape)
        if dtype is np.complex128:
            a = a + 1j * rng.normal(size=shape)
        return a.astype(dtype)

    x = arr(shapes[0])
    parts, expected = [], 0
    for _ in range(5):
        y = arr(shapes[1])
        g = np.matmul(x, y)
        g = arr(np.shape(g)) if np.ndim(g) else dtype(rng.normal())
        helper(parts, g, x, y)
        expected = expected + _contribution(helper, g, x, y)
    total = runtime.sum_deferred(parts)
    assert np.shape(total) == np.shape(expected)
    assert np.result_type(total) == np.result_type(expected)
    np.testing.assert_allclose(total, expected, rtol=1e-5 if dtype is np.float32 else 1e-12)
    # pairs for matrix-vector and vector-vector products only
    pairs = [p for p in parts if type(p) is tuple]
    nx, ny = len(shapes[0]), len(shapes[1])
    if helper in (runtime.defer_matmul_left, runtime.defer_dot_a):
        assert bool(pairs) == (nx in (1, 2) and ny == 1)
    else:
        assert bool(pairs) == (nx == 1 and ny in (1, 2))


def test_sum_deferred_like_matches_in_place_accumulation():
    rng = np.random.default_rng(1)
    W = rng.normal(size=(3, 2)).astype(np.float32)
    parts = []
    acc = runtime.zeros_like(W)
    for _ in range(4):
        g = rng.normal(size=3)               # float64 adjoint, float32 matrix
        h = rng.normal(size=2).astype(np.float32)
        runtime.defer_matmul_left(parts, g, W, h)
        acc += runtime.matmul_grad_left(g, W, h)
    out = runtime.sum_deferred(parts, W)
    assert out.dtype == np.float32 and out.shape == (3, 2)
    np.testing.assert_allclose(out, acc, rtol=1e-6)
    # nothing recorded: zeros like W; without like: 0.0
    empty = runtime.sum_deferred([], W)
    assert empty.dtype == np.float32 and not empty.any()
    assert runtime.sum_deferred([]) == 0.0
    # a single full contribution is copied (the result is updated in place later)
    full = np.ones((3, 2), dtype=np.float32)
    out = runtime.sum_deferred([full], W)
    assert out is not full and np.array_equal(out, full)


def test_mixed_scalar_types_are_summed_pair_by_pair():
    y = np.arange(3.0, dtype=np.float32)
    parts = []
    runtime.defer_dot_a(parts, 2.0, y, y)                 # Python float: float32 product
    runtime.defer_dot_a(parts, np.float64(3.0), y, y)     # NumPy float64: float64 product
    total = runtime.sum_deferred(parts)
    expected = 2.0 * y + np.float64(3.0) * y
    assert total.dtype == expected.dtype
    np.testing.assert_allclose(total, expected)
    parts = []
    for k in range(3):
        runtime.defer_dot_a(parts, float(k), y, y)
    assert runtime.sum_deferred(parts).dtype == np.float32


def test_defer_tangent_skips_zero_tangents():
    x = np.ones((2, 3))
    g, y = np.ones(2), np.arange(3.0)
    dparts = runtime.defer_tangent(0.0, runtime.defer_matmul_left, g, 0.0, x, 0.0, y, 2 * y)
    assert len(dparts) == 1
    np.testing.assert_allclose(runtime.sum_deferred(dparts), np.outer(g, 2 * y))
    same = runtime.defer_tangent(dparts, runtime.defer_matmul_left, g, g, x, 0.0, y, 0.0)
    assert same is dparts and len(dparts) == 2


# --------------------------------------------------------------------------
# random loop programs: batched = unbatched = finite differences
# --------------------------------------------------------------------------

_STEPS = [
    "h = np.tanh(W{i} @ h + x)",
    "h = np.sin(h @ W{i}) * 0.9",
    "h = h + 0.1 * np.dot(W{i}, x)",
    "h = np.tanh(np.dot(h, W{i}) - 0.2)",
    "s = s + np.dot(v, h)",
    "s = s + h @ x * 0.5",
    "s = s + np.tanh(v @ x) * np.sum(h)",
    "W{i} = W{i} * 0.95",
]


def _random_program(rng):
    body = []
    for _ in range(rng.randint(2, 4)):
        kind = rng.random()
        step = rng.choice(_STEPS).format(i=rng.randint(0, 1))
        if kind < 0.2:
            body += ["if np.sum(x) > 0.0:", "    " + step, "else:", "    h = h * 0.8"]
        elif kind < 0.3:
            body += ["for u in range(2):", "    " + step.replace("x", "xs[u]")]
        else:
            body.append(step)
    if rng.random() < 0.25:
        body += ["if t >= 3:", "    break"]
    lines = ["def f(W0, W1, v, h0, xs):", "    h = h0", "    s = 0.0",
             "    for t in range(xs.shape[0]):", "        x = xs[t]"]
    lines += ["        " + b for b in body]
    if rng.random() < 0.3:                        # an outer loop around it all
        lines = lines[:3] + ["    for k in range(2):"] + ["    " + line for line in lines[3:]]
    lines.append("    return s + np.sum(h * h)")
    return "\n".join(lines) + "\n"


def test_random_loop_programs(tmp_path):
    import importlib.util
    import random
    rng = random.Random(1234)
    fired = 0
    for k in range(40):
        src = "import numpy as np\n\n\n" + _random_program(rng)
        path = tmp_path / f"prog_{k}.py"
        path.write_text(src)
        spec = importlib.util.spec_from_file_location(f"batch_prog_{k}", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        fn = mod.f
        r = np.random.default_rng(k)
        args = (0.4 * r.normal(size=(3, 3)), 0.4 * r.normal(size=(3, 3)), r.normal(size=3),
                r.normal(size=3), r.normal(size=(5, 3)))
        wrt = (0, 1, 2, 3, 4)
        fired += "ad.defer_" in ad.source(fn, mode="rev", wrt=wrt)
        got = ad.grad(fn, wrt=wrt)(*args)
        plain = _compile(fn, wrt, enabled=False).function(*args)
        fd = _fd_grads(fn, args, wrt)
        for g, p, f in zip(got, plain, fd):
            np.testing.assert_allclose(g, p, rtol=1e-10, atol=1e-12, err_msg=src)
            np.testing.assert_allclose(g, f, rtol=1e-5, atol=1e-6, err_msg=src)
    assert fired >= 20
