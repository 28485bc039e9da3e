"""User-defined derivative rules, end to end (the analogue of
jax.custom_vjp / torch.autograd.Function).

A user decorates a template with ``ad_compiler.reverse(fn)`` /
``ad_compiler.forward(fn)``; ``fn`` then is a primitive: the compiler inlines
the rule instead of differentiating fn's body (or instead of refusing a
function it has no source for, such as a C routine).

The user functions and their rules are in ``_user_rules_cases.py`` (rules,
like the functions the compiler differentiates, need real source), imported
by the ``cases`` fixture when the tests run.
"""
import importlib
import os
import sys

import numpy as np
import pytest

import ad_compiler
from ad_compiler import CompileError
from ad_compiler.testing import check_grads

pytest.importorskip("scipy")

_HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture(scope="module")
def cases():
    if _HERE not in sys.path:
        sys.path.insert(0, _HERE)
    return importlib.import_module("_user_rules_cases")


X = np.array([0.3, -1.2, 2.0, 0.7])


def test_logsumexp_rule_matches_finite_differences(cases):
    check_grads(cases.lse_loss, (np.array([0.5, 1.5, -2.0, 1.0]), X), order=2)


def test_logsumexp_rule_is_stable_where_the_naive_body_overflows(cases):
    big = np.array([1000.0, 1001.0, 999.0])
    g = ad_compiler.grad(cases.my_logsumexp)(big)
    assert np.all(np.isfinite(g))
    np.testing.assert_allclose(g, np.exp(big - 1001.0) / np.sum(np.exp(big - 1001.0)))
    _, t = ad_compiler.jvp(cases.my_logsumexp, (big,), (np.ones(3),))
    np.testing.assert_allclose(t, 1.0)


def test_rule_code_is_inlined_in_source(cases):
    src = ad_compiler.source(ad_compiler.grad(cases.lse_loss))
    # the rule's arithmetic, not the body of my_logsumexp nor a call to the rule
    assert "np.exp(" in src and "- t" in src
    assert "_my_logsumexp_rev" not in src
    assert "np.max" not in src.split("adjoint")[-1]
    assert "my_logsumexp(" in src          # the primal call stays


def test_c_function_wrapped_with_rules(cases):
    check_grads(cases.gamma_loss, (np.array([0.4, 1.3, 2.2]),), order=2)
    src = ad_compiler.source(ad_compiler.grad(cases.gamma_loss))
    assert "sp.digamma(" in src


def test_triangular_solve_wrapped_with_rules(cases):
    rng = np.random.default_rng(0)
    L = np.tril(rng.standard_normal((3, 3))) + 3.0 * np.eye(3)
    b = rng.standard_normal(3)
    check_grads(cases.tri_loss, (L, b), wrt=1, order=2)
    # in L only the lower triangle is read: compare there
    g = ad_compiler.grad(cases.tri_loss, wrt=0)(L, b)
    assert np.allclose(np.triu(g, 1), 0.0)
    _, pull = ad_compiler.vjp(cases.tri_loss, L, b)
    eps = 1e-6
    for i, j in [(0, 0), (1, 0), (2, 1), (2, 2)]:
        Lp, Lm = L.copy(), L.copy()
        Lp[i, j] += eps
        Lm[i, j] -= eps
        fd = (cases.tri_loss(Lp, b) - cases.tri_loss(Lm, b)) / (2 * eps)
        assert abs(g[i, j] - fd) < 1e-6 * max(1.0, abs(fd))
    assert "linalg.solve_triangular(" in ad_compiler.source(ad_compiler.grad(cases.tri_loss))


def test_gradient_clipping_rule(cases):
    x = np.array([0.1, -0.2, 3.0, -4.0])
    g = ad_compiler.grad(cases.clipped_loss)(x)
    np.testing.assert_allclose(g, np.clip(2.0 * x, -0.5, 0.5))
    # forward rule: the identity
    _, t = ad_compiler.jvp(cases.clipped_loss, (x,), (np.ones(4),))
    assert t == pytest.approx(np.sum(2.0 * x))
    src = ad_compiler.source(ad_compiler.grad(cases.clipped_loss))
    assert "np.clip(" in src and "-0.5" in src and "0.5" in src


def test_clipping_rule_is_not_the_true_derivative(cases):
    # check_grads must notice that the clipped gradient is not the derivative
    with pytest.raises(AssertionError, match="rev-mode"):
        check_grads(cases.clipped_loss, (np.array([0.1, 3.0]),), modes=("rev",))
    check_grads(cases.clipped_loss, (np.array([0.1, 0.2]),), modes=("rev", "fwd"))


def test_reverse_only_rule_refuses_forward_mode(cases):
    x = np.array([1.0, 2.0])
    np.testing.assert_allclose(ad_compiler.grad(cases.uses_only_reverse)(x), [2.0, 2.0])
    with pytest.raises(CompileError, match="no forward-mode rule"):
        ad_compiler.jvp(cases.uses_only_reverse, (x,), (np.ones(2),))


def test_user_rules_are_in_the_registry(cases):
    from ad_compiler import registry
    prim = registry.lookup(cases.my_logsumexp)
    assert prim is not None and prim.reverse is cases._my_logsumexp_rev
    assert prim.forward is cases._my_logsumexp_fwd
    assert prim.name.endswith("my_logsumexp")
