"""ad_compiler.testing.check_grads: passes on right derivatives, and on wrong
ones raises an AssertionError that says which mode, which argument, how
large the error is and where it is worst."""
import importlib
import os
import re
import sys

import numpy as np
import pytest

from ad_compiler.testing import check_grads, numerical_jacobian

_HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture(scope="module")
def c():
    """The functions under test (``_check_grads_cases.py``)."""
    if _HERE not in sys.path:
        sys.path.insert(0, _HERE)
    return importlib.import_module("_check_grads_cases")


RNG = np.random.default_rng(3)
W = RNG.standard_normal((3, 2))
B = RNG.standard_normal(2)
X = RNG.standard_normal((4, 3))


def test_passes_on_correct_derivatives_both_modes_and_order_2(c):
    check_grads(c.model, (W, B, X))                 # vector output: vjp and jvp
    check_grads(c.loss, (W, B, X), order=2)         # scalar: grad, vjp, jvp, hessian
    check_grads(c.loss, (W, B, X), wrt=1, modes="rev")
    check_grads(c.scalar_args, (0.7, 1.3), order=2)


def test_catches_a_wrong_user_rule_in_reverse_mode(c):
    x = np.array([0.3, 1.1, -0.8])
    y = np.array([1.0, 2.0, 0.5])
    with pytest.raises(AssertionError) as info:
        check_grads(c.uses_bad_sin, (x, y))
    msg = str(info.value)
    assert "rev-mode" in msg
    assert "argument 0 ('x')" in msg
    assert "fwd-mode" not in msg            # the forward rule is right
    assert "argument 1" not in msg          # y's gradient is right
    assert "max abs error" in msg and "max rel error" in msg
    m = re.search(r"worst at index \((\d+),\): AD = (\S+), FD = (\S+)", msg)
    assert m, msg
    i = int(m.group(1))
    # the reported values are the AD and FD gradients at that index
    assert float(m.group(2)) == pytest.approx(y[i] * np.sin(x[i]))
    assert float(m.group(3)) == pytest.approx(y[i] * np.cos(x[i]), rel=1e-6)
    # forward mode alone passes
    check_grads(c.uses_bad_sin, (x, y), modes=("fwd",))


def test_reports_the_worst_index_and_count(c):
    x = np.array([0.5, 1.0, 3.0, -1.0])
    with pytest.raises(AssertionError) as info:
        check_grads(c.uses_kinked, (x,), modes=("fwd",))
    msg = str(info.value)
    assert "fwd-mode (jvp)" in msg
    assert "worst at index (2,)" in msg
    assert "in 1 of 4 entries" in msg
    check_grads(c.uses_kinked, (x,), modes=("rev",))


def test_catches_a_wrong_second_derivative(c):
    x = np.array([0.4, -1.3, 2.0])
    check_grads(c.uses_cube, (x,))                  # first order is right
    with pytest.raises(AssertionError, match="hessian of uses_cube"):
        check_grads(c.uses_cube, (x,), modes=(), order=2)


def test_tolerances_are_honoured(c):
    x = np.array([0.3, 1.1])
    y = np.array([1.0, 1.0])
    with pytest.raises(AssertionError):
        check_grads(c.uses_bad_sin, (x, y), modes=("rev",), wrt=0)
    check_grads(c.uses_bad_sin, (x, y), modes=("rev",), wrt=0, atol=10.0)


def test_argument_errors(c):
    with pytest.raises(ValueError, match="order"):
        check_grads(c.loss, (W, B, X), order=3)
    with pytest.raises(ValueError, match="scalar-valued"):
        check_grads(c.model, (W, B, X), order=2)
    with pytest.raises(ValueError, match="mode"):
        check_grads(c.loss, (W, B, X), modes=("sideways",))
    with pytest.raises(ValueError, match="float"):
        check_grads(c.loss, (W, B, X), wrt=5)


def test_numerical_jacobian_shape(c):
    J = numerical_jacobian(c.model, (W, B, X), 0)
    assert J.shape == (4, 2, 3, 2)
    # non-contiguous input arrays are perturbed correctly
    J_t = numerical_jacobian(c.model, (np.asfortranarray(W), B, X), 0)
    np.testing.assert_allclose(J, J_t)
