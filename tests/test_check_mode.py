"""AD_COMPILER_CHECK=1: optimized code is compared with unoptimized code on
every call (ad_compiler/check.py)."""
import gast
import numpy as np
import pytest

from ad_compiler import CheckError, grad, hessian, jacobian, jvp, value_and_grad, vjp
from ad_compiler.transforms.cleanup import optimize


def f(x, y):
    z = np.sin(x) * y
    return np.sum(z * x)


def g(x):
    s = 0.0
    for i in range(3):
        s = s + f(x, x) * float(i)
    return s


@pytest.fixture
def check(monkeypatch):
    monkeypatch.setenv("AD_COMPILER_CHECK", "1")


@pytest.fixture
def broken(monkeypatch):
    """An optimizer rewrite made wrong: every product becomes a sum."""
    def bad(fn):
        changed = False
        for n in gast.walk(fn):
            if isinstance(n, gast.BinOp) and isinstance(n.op, gast.Mult):
                n.op, changed = gast.Add(), True
        return changed
    monkeypatch.setattr(optimize, "double_products", bad)


def f2(x, y):
    z = np.sin(x) * y
    return np.sum(z * x)


def g2(x):
    s = 0.0
    for i in range(3):
        s = s + f2(x, x) * float(i)
    return s


ARGS = (np.array([0.3, -0.7, 1.1]), np.array([1.5, 0.2, -0.4]))


def test_catches_an_injected_optimizer_bug_in_every_entry_point(check, broken):
    x, y = ARGS
    with pytest.raises(CheckError, match=r"grad_f.*grad mode.*\n.*values differ"):
        grad(f)(x, y)
    with pytest.raises(CheckError, match="value_and_grad mode"):
        value_and_grad(f)(x, y)
    with pytest.raises(CheckError, match="forward mode"):
        jvp(f, (x, y), (np.ones(3), None))
    with pytest.raises(CheckError, match="vjp"):
        vjp(f, x, y)[1](1.0)
    with pytest.raises(CheckError):
        jacobian(g, mode="fwd")(x)
    with pytest.raises(CheckError):
        hessian(g)(x)


def test_passes_and_agrees_without_a_bug(check):
    # (other functions than the test above: its broken code stays cached)
    x, y = ARGS
    x0, y0 = x.copy(), y.copy()
    gx = grad(f2)(x, y)
    np.testing.assert_allclose(gx, (np.cos(x) * x + np.sin(x)) * y, rtol=1e-12)
    out, pb = vjp(g2, x)
    np.testing.assert_allclose(pb(1.0)[0], pb(1.0)[0])
    np.testing.assert_allclose(jvp(g2, (x,), (np.ones(3),))[1], np.sum(grad(g2)(x)), rtol=1e-12)
    H = hessian(g2)(x)
    assert H.shape == (3, 3)
    np.testing.assert_allclose(H, H.T, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(x, x0)          # inputs never written
    np.testing.assert_array_equal(y, y0)


def test_structure_dtype_and_nan_differences_are_reported():
    from ad_compiler import check as c
    with pytest.raises(CheckError, match="dtype"):
        c.compare("h", "grad mode", np.zeros(2), np.zeros(2, np.float32))
    with pytest.raises(CheckError, match="NaN"):
        c.compare("h", "grad mode", np.array([np.nan, 1.0]), np.array([1.0, 1.0]))
    with pytest.raises(CheckError, match=r"output\[1\]"):
        c.compare("h", "grad mode", (1.0, np.ones(2)), (1.0, np.ones(2) + 1e-6))
    with pytest.raises(CheckError, match="tuple of length"):
        c.compare("h", "grad mode", (1.0, 2.0), (1.0,))
    c.compare("h", "grad mode", {"a": np.ones(2)}, {"a": np.ones(2) * (1 + 1e-13)})
