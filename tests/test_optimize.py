"""The clean-up passes of transforms/cleanup/optimize.py preserve values exactly.

Small functions with unary minus in every operand position (the negation
folding), copies across loops and branches (copy propagation), values
written in place (common subexpressions, negation merging), ``a*b + b*a``
(double products): the derivative's value, gradient and tangent are compared
with plain Python and central finite differences, and every compile runs in
the check mode (``AD_COMPILER_CHECK=1``), which compares the optimized code
with the code without clean-up on every call.
"""
import importlib.util
import random
import sys

import numpy as np
import pytest

from ad_compiler import grad, jvp, value_and_grad, vjp
from tests.reference import fd_jacobian

# (every one of these is ``def f(x, y, M)``: x, y vectors of 3, M 3x3)
FIXED = [
    "return np.sum(-x * -y)",
    "return np.sum(-(-x) * y)",
    "return np.sum(x - -y)",
    "return np.sum(-x / -y)",
    "return np.sum((-x) ** 2 * y)",
    "return np.sum(-x ** 2 * y)",
    "return np.sum(-(x - y) * x)",
    "return np.sum(-x @ -M * y)",
    "return np.sum(-2.0 * x * y)",
    "return np.sum(x * -1 * y)",
    "return np.sum(x - (-y) - (-x) * y)",
    "return np.sum(-x * -x * y)",
    "return np.sum(-(-x * y) * x)",
    "return np.sum(-(x / -y) * x)",
    "return np.sum(-(-(-x)) * y)",
    "return np.sum(-(-2.0 * x) * -y)",
    "y2 = -x\n    return np.sum(-y2 * -x - (-x))",
    "n = -x\n    return np.sum(n * n + n * y)",
    "n = -x\n    n = n + y * y\n    return np.sum(n * x)",
    "n = -x\n    m = -n\n    return np.sum(m * n * y)",
    "n = -x\n    m = n * -y\n    return np.sum(-m * x - n)",
    "n = -(x * y)\n    return np.sum(-n / y + n)",
    "n = -x\n    y = y * 1.0\n    n = n + y\n    return np.sum(n * x)",
    "n = -x\n    z = x.copy()\n    z[0] = 5.0\n    n = n + z\n    return np.sum(n * y)",
    "w = -x * y\n    v = -w\n    return np.sum(v * x + w)",
    "a = -1.0\n    return np.sum(-a * x * y + a)",
    "a = -1.0\n    b = -a\n    return np.sum(b * x ** a * y)",
]

_ATOMS = ["x", "y", "-x", "-y", "2.0", "-1.5", "(-x)", "-(-y)"]


def _expr(rng, depth):
    if depth == 0 or rng.random() < 0.25:
        return rng.choice(_ATOMS)
    op = rng.choice(["+", "-", "*", "*", "/", "neg", "**"])
    if op == "neg":
        return f"-({_expr(rng, depth - 1)})"
    if op == "/":                     # (denominators that keep away from 0)
        return f"({_expr(rng, depth - 1)}) / {rng.choice(['x', '-y', '(-x)', '-2.0'])}"
    if op == "**":
        return f"({_expr(rng, depth - 1)}) ** 2"
    left, right = _expr(rng, depth - 1), _expr(rng, depth - 1)
    return f"{left} {op} {'-' if rng.random() < 0.3 else ''}{right}"


def _random_bodies(n, seed=2024):
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        if rng.random() < 0.5:
            out.append(f"return np.sum(x * 0.0 + ({_expr(rng, 3)}))")
        else:
            t = rng.choice(["n", "m"])
            e1 = _expr(rng, 2)
            e2 = _expr(rng, 2).replace("y", t) if rng.random() < 0.5 else _expr(rng, 2)
            out.append(f"{t} = x * 0.0 + ({e1})\n    return np.sum({e2} + {t} * {t} - -{t})")
    return out


BODIES = FIXED + _random_bodies(16)


def _load(tmp_path, bodies):
    src = ["import numpy as np", ""]
    for i, body in enumerate(bodies):
        src += [f"def f{i}(x, y, M):", f"    {body}", ""]
    path = tmp_path / "optimize_cases.py"
    path.write_text("\n".join(src))
    spec = importlib.util.spec_from_file_location("optimize_cases", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["optimize_cases"] = module
    spec.loader.exec_module(module)
    return [getattr(module, f"f{i}") for i in range(len(bodies))]


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    return _load(tmp_path_factory.mktemp("optimize"), BODIES)


@pytest.fixture(autouse=True)
def check_mode(monkeypatch):
    monkeypatch.setenv("AD_COMPILER_CHECK", "1")


def _args():
    x = np.array([0.7, 1.3, 0.9])
    y = np.array([1.1, 0.6, 1.4])
    M = np.array([[0.5, -0.2, 0.1], [0.3, 0.8, -0.4], [-0.6, 0.2, 0.9]])
    return x, y, M


@pytest.mark.parametrize("i", range(len(BODIES)))
def test_negations_and_copies_keep_values_and_derivatives(cases, i):
    f = cases[i]
    x, y, M = _args()
    args = (x, y, M)
    value = f(*args)
    gx_fd = fd_jacobian(f, args, 0)
    gy_fd = fd_jacobian(f, args, 1)
    v, (gx, gy) = value_and_grad(f, wrt=(0, 1))(*args)
    assert v == pytest.approx(value, rel=1e-12, abs=1e-12), BODIES[i]
    np.testing.assert_allclose(gx, gx_fd, rtol=1e-6, atol=1e-7, err_msg=BODIES[i])
    np.testing.assert_allclose(gy, gy_fd, rtol=1e-6, atol=1e-7, err_msg=BODIES[i])
    np.testing.assert_allclose(grad(f)(*args), gx_fd, rtol=1e-6, atol=1e-7, err_msg=BODIES[i])
    dx, dy = np.array([0.3, -0.5, 0.2]), np.array([-0.1, 0.4, 0.6])
    out, tangent = jvp(f, args, (dx, dy, None))
    assert out == pytest.approx(value, rel=1e-12, abs=1e-12), BODIES[i]
    assert tangent == pytest.approx(gx_fd @ dx + gy_fd @ dy, rel=1e-6, abs=1e-7), BODIES[i]
    out, pullback = vjp(f, *args)
    bx, by, _ = pullback(1.0)
    np.testing.assert_allclose(bx, gx_fd, rtol=1e-6, atol=1e-7, err_msg=BODIES[i])
    np.testing.assert_allclose(by, gy_fd, rtol=1e-6, atol=1e-7, err_msg=BODIES[i])


def test_the_reported_negation_case_exactly():
    def f(x):
        y = -x
        return np.sum(-y * -x - (-x))
    x = np.array([1.0, 2.0, 3.0])
    # f(x) = sum(-x**2 + x), f'(x) = -2x + 1
    assert value_and_grad(f)(x)[0] == f(x) == -8.0
    np.testing.assert_array_equal(grad(f)(x), -2.0 * x + 1.0)
    assert jvp(f, (x,), (np.ones(3),)) == (-8.0, -9.0)




def test_double_negation_stays_a_fresh_array_where_it_is_written():
    # found by the 10,000-program fuzz run: - -x folded to x made v1 another
    # name for the input, and the write v1[-1] = ... changed the caller's x
    # (vjp) and the derivative
    def f(x):
        v0, v1 = np.maximum(x, x), - -x
        v0 = np.concatenate((np.sum(v1, axis=0, keepdims=True), v0[1:]))
        v0[-1] += x.T @ np.sum(v0, axis=1)
        v0[:, 1] *= np.cos(v1[1, -1] * v1.min(axis=1))
        v1[-1] = np.max(x, axis=0)
        return v1.sum()
    x = np.array([[0.3, -1.2, 0.7], [1.1, 0.4, -0.5], [0.9, -0.1, 0.2]])
    x0 = x.copy()
    ref = fd_jacobian(f, (x0.copy(),), 0)
    out, pullback = vjp(f, x)
    np.testing.assert_allclose(pullback(1.0)[0], ref, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(grad(f)(x), ref, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(jvp(f, (x,), (np.ones_like(x),))[1], ref.sum(), rtol=1e-6)
    np.testing.assert_array_equal(x, x0)


def test_double_products_do_not_overflow_early():
    # bx = bt1 * x + x * bt1 was 2.0 * bt1 * x: 2.0 * 1e308 is inf
    def f(x):
        return np.sum(1e308 * (x * x))
    x = np.array([1e-3, -2e-3])
    np.testing.assert_allclose(grad(f)(x), 1e308 * (2.0 * x), rtol=1e-12)
    np.testing.assert_allclose(vjp(f, x)[1](1.0)[0], 1e308 * (2.0 * x), rtol=1e-12)
    assert jvp(f, (x,), (np.ones(2),))[1] == pytest.approx(np.sum(1e308 * (2.0 * x)), rel=1e-12)


def _run_pass(src, rewrite, *args):
    """``src`` (one function) before and after ``rewrite(fn_node)``: both
    results on copies of ``args``."""
    import copy

    import gast

    from ad_compiler.transforms.backend import codegen

    def run(tree):
        ns = {"np": np}
        exec(codegen.to_source(tree), ns)
        return ns["f"](*copy.deepcopy(args))
    tree = gast.parse(src)
    before = run(tree)
    rewrite(tree.body[0])
    return before, run(tree), codegen.to_source(tree)


def test_negation_merge_not_across_an_in_place_write():
    from ad_compiler.transforms.cleanup import optimize
    src = ("def f(a, e):\n"
           "    n = -a\n"
           "    a[0] = 10.0\n"
           "    n = n + e\n"
           "    return n\n")
    before, after, text = _run_pass(src, optimize.fold_negations,
                                    np.array([1.0, 2.0]), np.array([0.5, 0.5]))
    np.testing.assert_array_equal(after, before)
    src = ("def f(a, e):\n"
           "    n = -a\n"
           "    np.copyto(a, e)\n"
           "    n = n + e\n"
           "    return n\n")
    before, after, text = _run_pass(src, optimize.fold_negations,
                                    np.array([1.0, 2.0]), np.array([0.5, 0.5]))
    np.testing.assert_array_equal(after, before)
    # (without a write in between the merge happens)
    src = "def f(a, e):\n    n = -a\n    n = n + e\n    return n\n"
    before, after, text = _run_pass(src, optimize.fold_negations,
                                    np.array([1.0, 2.0]), np.array([0.5, 0.5]))
    np.testing.assert_array_equal(after, before)
    assert "n = e - a" in text
