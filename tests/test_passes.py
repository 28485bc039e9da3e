"""Per-pass unit tests: normalization keeps behaviour, the generated source
of small functions is what we expect, output is deterministic, caching
notices code changes, line comments point at the user's lines."""
import ast
import inspect
import re

import numpy as np
import pytest

from ad_compiler import compiler, grad, jvp, source, value_and_grad, vjp
from tests.passes import cases


@pytest.mark.parametrize("fn,make", cases.NORMALIZE_CASES, ids=lambda v: getattr(v, "__name__", ""))
def test_normalize_preserves_behaviour(fn, make):
    norm = compiler.normalized(fn)
    for seed in range(5):
        rng = np.random.default_rng(seed)
        args = make(rng)
        expected = fn(*[a.copy() if isinstance(a, np.ndarray) else a for a in args])
        got = norm(*[a.copy() if isinstance(a, np.ndarray) else a for a in args])
        if isinstance(expected, tuple):
            for e, g in zip(expected, got):
                np.testing.assert_allclose(g, e)
        else:
            np.testing.assert_allclose(got, expected)


def _statements(src):
    tree = ast.parse(src)
    return [n for n in ast.walk(tree.body[0]) if isinstance(n, ast.stmt)][1:]


@pytest.mark.parametrize("fn,make", cases.NORMALIZE_CASES, ids=lambda v: getattr(v, "__name__", ""))
def test_normal_form_is_small(fn, make):
    """After normalization: one operation per assignment, if/while on names,
    for over a range bound to a name, a single return at the end."""
    src = compiler.normalized(fn).__ad_source__
    body = ast.parse(src).body[0]
    returns = [n for n in ast.walk(body) if isinstance(n, ast.Return)]
    assert len(returns) == 1 and body.body[-1] is returns[0]
    for node in ast.walk(body):
        if isinstance(node, (ast.If, ast.While)):
            assert isinstance(node.test, (ast.Name, ast.Constant))
        if isinstance(node, ast.For):
            assert isinstance(node.iter, ast.Name) and isinstance(node.target, ast.Name)
        if isinstance(node, ast.Continue):
            pytest.fail("continue survived normalization")
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.BinOp):
            assert isinstance(node.value.left, (ast.Name, ast.Constant))
            assert isinstance(node.value.right, (ast.Name, ast.Constant))


def test_generated_source_of_a_small_function():
    g = grad(cases.simple_grad)
    src = source(g)          # before any call: code for any shape
    line = inspect.getsourcelines(cases.simple_grad)[1] + 1
    expected = '''def grad_simple_grad(x):
    # line {l}: return np.sum(np.sin(x) * x)
    t1 = np.sin(x)
    t2 = t1 * x
    t3 = np.sum(t2)
    # adjoint of line {l}: return np.sum(np.sin(x) * x)
    bt3 = ad.scalar_seed(t3)
    del t3
    bt2 = ad.expand(bt3, t2)
    del bt3, t2
    bt1 = bt2 * x
    bx = t1 * bt2
    del bt2, t1
    bx = bx + bt1 * np.cos(x)
    return bx
'''.format(l=line)
    assert src == expected
    # called with a float64 vector: specialized to its shape (the seed of a
    # float64 scalar is 1.0; the sum's adjoint is known from x's shape, so
    # the sum itself is not computed, and it is one number, 1.0, everywhere:
    # no array of ones is built)
    x = np.array([0.3, -1.2, 2.0])
    np.testing.assert_allclose(g(x), np.cos(x) * x + np.sin(x))
    expected = '''def grad_simple_grad(x):
    # line {l}: return np.sum(np.sin(x) * x)
    t1 = np.sin(x)
    # adjoint of line {l}: return np.sum(np.sin(x) * x)
    bt1 = 1.0 * x
    bx = t1 * 1.0
    del t1
    bx = bx + bt1 * np.cos(x)
    return bx
'''.format(l=line)
    assert source(g) == expected


def test_forward_source_of_a_small_function():
    entry = compiler.compile_function(cases.straight, "forward", ("x",))
    src = entry.sources["jvp"]
    assert "def straight_jvp(x, y, *, dx):" in src
    assert "dt1 = dx * np.cos(x)" in src
    assert "dt2 = dt1 * y" in src        # the dy term is known zero: dropped
    assert "dy" not in src


def test_generated_source_is_deterministic():
    a = compiler.transform(cases.loops, "grad", ("x",)).sources["grad"]
    b = compiler.transform(cases.loops, "grad", ("x",)).sources["grad"]
    assert a == b


def test_line_comments_point_at_user_lines():
    src = source(grad(cases.branches))
    lines, start = inspect.getsourcelines(cases.branches)
    for m in re.finditer(r"# (?:adjoint of )?line (\d+): (.*)", src):
        lineno, text = int(m.group(1)), m.group(2)
        user_line = lines[lineno - start].strip()
        assert user_line.startswith(text.rstrip(".")), (lineno, text, user_line)


def test_generated_code_has_source_for_tracebacks():
    g = grad(cases.simple_grad)
    g(np.ones(3))
    fn = g._compiled().function
    assert inspect.getsource(fn).strip().startswith("def grad_simple_grad")


def test_cache_reuses_and_notices_code_changes():
    def f(x):
        return np.sum(x * x)

    e1 = compiler.compile_function(f, "grad", ("x",))
    assert compiler.compile_function(f, "grad", ("x",)) is e1
    g = grad(f)
    np.testing.assert_allclose(g(np.ones(2)), [2.0, 2.0])

    def f2(x):
        return np.sum(x * x * x)

    f.__code__ = f2.__code__
    np.testing.assert_allclose(g(np.ones(2)), [3.0, 3.0])
    assert compiler.compile_function(f, "grad", ("x",)) is not e1


def test_user_globals_are_not_written():
    before = dict(cases.__dict__)
    grad(cases.comprehension)(np.array([0.5, -0.3, 1.2]))
    vjp(cases.straight, np.ones((2, 2)), np.ones((2, 2)))[1](np.ones((2, 2)))
    jvp(cases.straight, (np.ones((2, 2)), np.ones((2, 2))), (np.ones((2, 2)), np.ones((2, 2))))
    assert set(cases.__dict__) == set(before)
    for k, v in before.items():
        assert cases.__dict__[k] is v


def test_value_and_grad_value_is_the_primal():
    x = np.array([0.2, -0.4, 1.5])
    v, g = value_and_grad(cases.loops)(np.arange(8.0) * 0.3, 8)
    assert v == cases.loops(np.arange(8.0) * 0.3, 8)


def test_unbroadcast_is_skipped_only_when_shapes_are_provably_equal():
    from tests.passes import cases as c
    # shape-generic code: y may broadcast against sin(x): the reduction stays
    generic = source(c.straight, mode="vjp", wrt=(0, 1))
    assert "ad.unbroadcast(t1 * bt2, y)" in generic
    # specialized to x (3, 3) and y (3,): an explicit sum over axis 0
    out, pullback = vjp(c.straight, np.ones((3, 3)), np.ones(3))
    src = source(pullback)
    assert "unbroadcast" not in src and "by = (t1 * bt4).sum(axis=0)" in src
    np.testing.assert_allclose(pullback(np.ones((3, 3)))[1], np.full(3, 3 * np.sin(1.0)))


def cse_reuse(x):
    y = np.cos(x)
    return np.sum(np.sin(x) * y)


def cse_written(x):
    y = np.cos(x)
    y[0] = 2.0
    return np.sum(np.sin(x) * y + np.cos(x) * x)


def test_common_subexpressions_of_primal_and_adjoint():
    from tests.reference import fd_jacobian
    x = np.linspace(-1.0, 2.0, 5)
    g = grad(cse_reuse)
    np.testing.assert_allclose(g(x), np.cos(x) ** 2 - np.sin(x) ** 2, rtol=1e-12)
    code = [l for l in source(g).splitlines() if not l.strip().startswith("#")]
    assert sum("np.cos(" in l for l in code) == 1          # the primal's, reused
    assert sum("np.sin(" in l for l in code) == 1
    # a value written in place is not a common subexpression of a later one
    g2 = grad(cse_written)
    np.testing.assert_allclose(g2(x), fd_jacobian(cse_written, (x,), 0), rtol=1e-7, atol=1e-9)


def neg_chain(w, X, y):
    p = 1.0 / (1.0 + np.exp(-(X @ w)))
    return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))


def test_negations_fold_exactly():
    from tests.reference import fd_jacobian
    rng = np.random.default_rng(4)
    args = (rng.normal(size=3), rng.normal(size=(7, 3)), (rng.uniform(size=7) > 0.5) * 1.0)
    g = grad(neg_chain)
    np.testing.assert_allclose(g(*args), fd_jacobian(neg_chain, args, 0), rtol=1e-7)
    code = [l.strip() for l in source(g).splitlines() if not l.strip().startswith("#")]
    # -(-bp * p / t) * e: no negation left; bp = -a; bp = bp + e: bp = e - a
    assert not any(l.startswith("bt") and "= -b" in l for l in code), code
    assert any(re.fullmatch(r"bp = .* - bt\d+", l) for l in code), code


# regressions found by tests/fuzz_long.py (seed 91) in mark-and-sweep dead code

def _fuzz_helper(u, v):
    return np.full(1, 0.75)


def fuzz_augassign_keeps_its_target(x, y):
    v3 = _fuzz_helper(v=np.sum(x) * np.ones((3, 2)) @ (np.sum(x) * np.full(2, 0.75)),
                      u=y.prod() + x)
    x = v3[0]
    return np.max(v3)


def test_dead_code_keeps_in_place_updates_and_their_targets():
    x = np.array([[-1.2, -1.3, 1.0], [-1.4, 0.01, -0.2]])
    y = np.array([[-1.3, 1.2, -0.9]])
    for p in (0, 1):
        v, g = value_and_grad(fuzz_augassign_keeps_its_target, wrt=p)(x.copy(), y.copy())
        assert v == 0.75
        np.testing.assert_array_equal(g, np.zeros_like((x, y)[p]))


def fancy_index_copy_written(x, y):
    z = x * 1.0
    v1 = z[np.array([2, 0])]           # advanced indexing: a copy, not a view
    v1[0] *= np.cos(y[0])
    return np.sum(v1 * v1) + np.sum(z * y[1])


def test_write_into_an_advanced_index_copy_is_not_an_alias():
    # found by tests/fuzz_long.py (seed 123): refused as an aliased write
    from tests.reference import fd_jacobian
    x, y = np.array([0.3, -1.2, 0.8]), np.array([0.4, 1.5])
    g = grad(fancy_index_copy_written, wrt=(0, 1))(x, y)
    for p in (0, 1):
        np.testing.assert_allclose(g[p], fd_jacobian(fancy_index_copy_written, (x, y), p),
                                   rtol=1e-7, atol=1e-9)
