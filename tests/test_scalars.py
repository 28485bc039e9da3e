"""Plain-float code (issue #12, transforms/cleanup/scalars.py): gradients of
scalar loops called with Python floats are plain float arithmetic, and stay
right for np.float64, 0-d array and int arguments.

References: central finite differences in float64 (benchmarks/scalar_loop.py
``finite_differences``), autograd where it runs (a copy of each function
with autograd.numpy for math), and the hand-written reverse sweeps of the
benchmark.
"""
import math
import sys

import numpy as np
import pytest

from ad_compiler import (elementwise_grad, grad, hessian, hvp, jacobian, jvp, source,
                         value_and_grad, vjp)
from benchmarks import scalar_loop as bench

autograd = pytest.importorskip("autograd")
import autograd.numpy as anp  # noqa: E402


def flat(g):
    out = []
    for v in g if isinstance(g, (tuple, list)) else (g,):
        out.extend(flat(v) if isinstance(v, (tuple, list)) else [float(np.asarray(v))])
    return out


def close(a, b, rtol=1e-6, atol=1e-8):
    return np.allclose(flat(a), flat(b), rtol=rtol, atol=atol)


# autograd references: the same loops, math.sin -> anp.sin
def pendulum_autograd(b, theta0, omega0, n_steps):
    theta, omega, kinetic = theta0, omega0, 0.0
    for i in range(n_steps):
        omega = omega + bench.DT * (-bench.G_OVER_L * anp.sin(theta) - b * omega)
        theta = theta + bench.DT * omega
        kinetic = kinetic + 0.5 * omega * omega
    return theta * theta + kinetic / n_steps


AUTOGRAD_FN = {"bouncing": bench.mean_sq_position, "logistic": bench.logistic_mean,
               "horner": bench.horner_sum, "pendulum": pendulum_autograd}


def autograd_grad(name, args):
    fn, wrt, _, _ = bench.WORKLOADS[name]
    import inspect
    names = list(inspect.signature(fn).parameters)
    return autograd.grad(AUTOGRAD_FN[name], tuple(names.index(w) for w in wrt))(*args)


@pytest.mark.parametrize("name", list(bench.WORKLOADS))
def test_workloads_vs_references(name):
    fn, wrt, args, hand = bench.WORKLOADS[name]
    ours = grad(fn, wrt=wrt)(*args)
    fd = bench.finite_differences(fn, wrt, args)
    assert np.allclose(flat(ours), fd, rtol=1e-5, atol=1e-7)
    assert close(ours, autograd_grad(name, args), rtol=1e-9, atol=1e-12)
    assert close(ours, hand(*args), rtol=1e-9, atol=1e-12)


def _retyped(args, kind):
    """Float arguments (and tuple elements) as ``kind``."""
    def conv(v):
        if type(v) is not float:
            return v
        return {"float": v, "float64": np.float64(v), "0d": np.array(v)}[kind]
    return tuple(tuple(conv(e) for e in a) if isinstance(a, tuple) else conv(a) for a in args)


@pytest.mark.parametrize("kind", ["float", "float64", "0d"])
@pytest.mark.parametrize("name", list(bench.WORKLOADS))
def test_argument_kinds(name, kind):
    """np.float64 and 0-d arrays get the generic code (same numbers); the
    gradient of a 0-d array is a 0-d array as before."""
    fn, wrt, args, hand = bench.WORKLOADS[name]
    args = _retyped(args, kind)
    ours = grad(fn, wrt=wrt)(*args)
    fd = bench.finite_differences(fn, wrt, tuple(
        tuple(float(e) for e in a) if isinstance(a, tuple) else
        (float(a) if isinstance(a, (float, np.ndarray)) else a) for a in args))
    assert np.allclose(flat(ours), fd, rtol=1e-5, atol=1e-7)
    ref = grad(fn, wrt=wrt)(*bench.WORKLOADS[name][2])
    assert close(ours, ref, rtol=1e-12, atol=0)
    if kind == "0d":
        first = ours[0]
        assert isinstance(first, np.ndarray) and first.shape == ()


def test_int_arguments_give_float_gradients():
    """Int arguments (not differentiated) next to float ones: the gradient is
    a float; ints inside a tuple of constants too."""
    ours = grad(bench.mean_sq_position, wrt=("c", "state0"))(0.3, (1.0, 0.0), 4, 0.01, 200)
    assert type(ours[0]) is float and all(type(g) is float for g in ours[1])
    fd = bench.finite_differences(bench.mean_sq_position, ("c", "state0"),
                                  (0.3, (1.0, 0.0), 4.0, 0.01, 200))
    assert np.allclose(flat(ours), fd, rtol=1e-5, atol=1e-7)
    g = grad(bench.horner_sum, wrt=("x0", "h"))(-1.0, 0.01, (1, -2, 3), 50)
    assert all(type(v) is float for v in g)
    fd = bench.finite_differences(bench.horner_sum, ("x0", "h"), (-1.0, 0.01, (1, -2, 3), 50))
    assert np.allclose(g, fd, rtol=1e-5, atol=1e-7)
    ag = autograd.grad(bench.horner_sum, (0, 1))(-1.0, 0.01, (1, -2, 3), 50)
    assert np.allclose(g, ag, rtol=1e-10)


@pytest.mark.parametrize("name", ["bouncing", "logistic", "horner"])
def test_float_source_has_no_array_helpers(name):
    fn, wrt, args, _ = bench.WORKLOADS[name]
    g = grad(fn, wrt=wrt)
    g(*args)
    src = source(g)
    helpers = ["ad.unbroadcast", "ad.add(", "ad.push", "ad.pop", "ad.scalar_seed"]
    if name != "horner":
        # (horner's inner-loop x is saved before its first binding, so it
        # may be None for the flow-insensitive analysis: ad.zeros_like(x)
        # stays, once per outer iteration)
        helpers += ["ad.zeros_like", "ad.zeros_buffer"]
    for helper in helpers:
        assert helper not in src, (helper, src)
    # the np.float64 / 0-d array signature keeps the generic code
    g(*_retyped(args, "0d"))
    assert "ad.unbroadcast" in source(g) or "ad.zeros" in source(g)


def test_pendulum_source_plain():
    fn, wrt, args, _ = bench.WORKLOADS["pendulum"]
    g = grad(fn, wrt=wrt)
    g(*args)
    assert "ad.unbroadcast" not in source(g) and "ad.push" not in source(g)
    # math.sin's adjoint is math.cos (a float), not np.cos (an np.float64)
    assert "math.cos(" in source(g) and "np.cos(" not in source(g)
    assert all(type(v) is float for v in g(*args))


def test_unread_saves_are_dropped():
    """Values the backward sweep never reads are not saved: the bouncing
    oscillator saves x, v and the bounce flag, not its 14 temporaries; its
    two constants -k and -RESTITUTION are computed again in the backward
    sweep instead of being saved (transforms/ad/reverse.py, _rematerialize)."""
    fn, wrt, args, _ = bench.WORKLOADS["bouncing"]
    g = grad(fn, wrt=wrt)
    g(*args)
    src = source(g)
    assert src.count("stack_push(") == 5 and src.count("stack_pop()") == 5, src
    backward = src[src.index("stack_pop()"):]
    assert "t1 = -k" in backward and "= -RESTITUTION" in backward, src


SCALE = 2.0


def scaled(x):
    t = x * SCALE
    return np.sum(t * t)


def test_float_global_rebound_to_array_recompiles():
    """The float code relies on the module constant being a Python float:
    rebinding it (here to an array) recompiles, and the gradient is right."""
    global SCALE
    g = grad(scaled)
    try:
        assert np.isclose(g(0.5), 2 * 0.5 * 4.0)
        SCALE = np.array([1.0, 3.0])
        assert np.isclose(g(0.5), 2 * 0.5 * (1.0 + 9.0))
        SCALE = 3.0
        assert np.isclose(g(0.5), 2 * 0.5 * 9.0)
    finally:
        SCALE = 2.0


def test_second_derivatives_and_vjp_of_float_code():
    def f(x, y):
        s = 0.0
        for i in range(5):
            s = s + math.sin(x * y) * x
        return s

    def f_ag(x, y):
        s = 0.0
        for i in range(5):
            s = s + anp.sin(x * y) * x
        return s

    assert np.allclose(hessian(f)(0.3, 1.2), autograd.hessian(f_ag)(0.3, 1.2), rtol=1e-10)
    v, gx = value_and_grad(f)(0.3, 1.2)
    assert np.isclose(v, f(0.3, 1.2)) and np.isclose(gx, autograd.grad(f_ag)(0.3, 1.2))
    out, pb = vjp(f, 0.3, 1.2)
    assert close(pb(2.0), [2 * g for g in autograd.grad(f_ag, (0, 1))(0.3, 1.2)])


@pytest.mark.filterwarnings("ignore:Output seems independent of input")
def test_conditional_and_early_values_of_none():
    """Names the normal form pre-binds to None, saved before their first
    binding: the float code still restores them in order."""
    def f(x, n):
        y = 0.0
        for i in range(n):
            if i % 2 == 0:
                z = x * x
            else:
                z = x + 1.0
            y = y + z * y + z
        return y

    def f_ag(x, n):
        y = 0.0
        for i in range(n):
            z = x * x if i % 2 == 0 else x + 1.0
            y = y + z * y + z
        return y

    for n in (0, 1, 2, 5):
        assert np.isclose(grad(f)(0.7, n), autograd.grad(f_ag)(0.7, n), rtol=1e-12)
    fd = (f(0.7 + 1e-6, 5) - f(0.7 - 1e-6, 5)) / 2e-6
    assert np.isclose(grad(f)(0.7, 5), fd, rtol=1e-5)


# --- derivatives of plain-float gradients ------------------------------------
# Forward mode over the plain-float code would be silently wrong (its tape is
# a Python list that forward mode does not see): every nesting must reach the
# array code.  d/d(first parameter) of the gradient w.r.t. it, 60 steps.

NEST_STEPS = 60
NEST = {
    "bouncing": (bench.mean_sq_position, (0.3, (1.0, 0.0), 4.0, 0.01, NEST_STEPS)),
    "logistic": (bench.logistic_mean, (2.9, 0.2, NEST_STEPS)),
    "horner": (bench.horner_sum, (-1.0, 0.01, bench.COEFFS, NEST_STEPS)),
    "pendulum": (bench.pendulum_loss, (0.3, 1.2, 0.0, NEST_STEPS)),
}


def _second_derivative_refs(name, args):
    """d2f/dp0^2 by central differences (float64) of the hand-written
    gradient, and by autograd."""
    fn, _, _, hand = bench.WORKLOADS[name]
    h = 1e-5
    fd = (hand(args[0] + h, *args[1:])[0] - hand(args[0] - h, *args[1:])[0]) / (2 * h)
    ag = autograd.grad(autograd.grad(AUTOGRAD_FN[name], 0), 0)(*args)
    assert np.isclose(fd, ag, rtol=1e-6, atol=1e-9)
    return fd, ag


@pytest.mark.parametrize("name", list(NEST))
def test_nestings_over_plain_float_gradients(name):
    fn, args = NEST[name]
    fd, ag = _second_derivative_refs(name, args)
    g = grad(fn, wrt=0)
    g(*args)                               # the plain-float code, compiled and cached first
    assert "ad.unbroadcast" not in source(g) and "ad.push" not in source(g)
    a1, rest = args[0], args[1:]

    def g_of(u):                           # a user function calling grad inside
        return g(u, rest[0], rest[1]) if len(rest) == 2 else (
            g(u, rest[0], rest[1], rest[2]) if len(rest) == 3 else g(u, rest[0], rest[1], rest[2], rest[3]))

    def user(u):
        return g_of(u) * 2.0 + u

    got = {
        "hessian": hessian(fn, wrt=0)(*args),
        "jacobian(grad)": jacobian(g, wrt=0)(*args),
        "jacobian(grad, fwd)": jacobian(g, wrt=0, mode="fwd")(*args),
        "jvp(grad)": jvp(g_of, (a1,), (1.0,))[1],
        "grad(grad)": grad(g, wrt=0)(*args),
        "hvp": hvp(fn, wrt=0)(*args, 1.0),
        "elementwise_grad(grad)": elementwise_grad(g, wrt=0)(*args),
        "vjp(grad)": vjp(g, *args)[1](1.0)[0],
        "grad(user)": (grad(user)(a1) - 1.0) / 2.0,
        "jvp(user)": (jvp(user, (a1,), (1.0,))[1] - 1.0) / 2.0,
    }
    user(a1)                               # called plainly: the plain-float code again
    got["grad(user) after a plain call"] = (grad(user)(a1) - 1.0) / 2.0
    for what, v in got.items():
        assert np.isclose(float(np.asarray(v)), ag, rtol=1e-9, atol=1e-12), (what, v, ag)
        assert np.isclose(float(np.asarray(v)), fd, rtol=1e-6, atol=1e-9), (what, v, fd)


def test_forward_mode_over_plain_float_code_differentiates_the_array_code():
    """The generated plain-float function itself, given to jvp or to
    source(mode='fwd'): compile_function swaps in the array code of the same
    derivative (without the swap the tangent was silently 0.0236 instead of
    -0.186 here)."""
    fn, args = NEST["logistic"]
    fd, ag = _second_derivative_refs("logistic", args)
    g = grad(fn, wrt=0)
    g(*args)
    plain = g._compiled().function
    assert "stack_pop()" in plain.__ad_source__
    value, tangent = jvp(plain, args, (1.0, 0.0, None))
    assert np.isclose(value, g(*args), rtol=1e-12)
    assert np.isclose(tangent, ag, rtol=1e-9) and np.isclose(tangent, fd, rtol=1e-6)
    fwd = source(plain, mode="fwd")
    assert "stack_pop" not in fwd and ".pop()" not in fwd and "ad.pop(" in fwd
    # the two sweeps of a vjp with Python floats too
    out, pb = vjp(fn, *args)
    assert ".pop()" in pb.__ad_source__ or "stack_pop()" in pb.__ad_source__
    fwd = source(pb._entry.bwd, mode="fwd", wrt=(0, 1))
    assert "stack_pop" not in fwd and "ad.pop(" in fwd


# --- found while checking the nestings above (not specific to plain floats:
# 0-d arrays and np.float64 failed alike): forward mode over a split-mode
# backward sweep with a loop; fixed by the tangent stack of split tapes
# (transforms/ad/forward.py, BUG-32)

def _logistic_via_vjp(r):
    out, pb = vjp(bench.logistic_mean, r, 0.2, 5)
    return pb(1.0)[0]


def test_hessian_of_a_function_calling_a_loop_pullback():
    r, h = 2.9, 1e-5
    g = autograd.grad(autograd.grad(autograd.grad(bench.logistic_mean)))(r, 0.2, 5)
    d = grad(_logistic_via_vjp)
    fd = (d(r + h) - d(r - h)) / (2 * h)
    assert np.isclose(fd, g, rtol=1e-5)
    assert np.isclose(hessian(_logistic_via_vjp)(r), g, rtol=1e-9)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__]))
