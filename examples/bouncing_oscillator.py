"""Differentiating through a simulation: a damped spring bouncing off a wall.

An explicit Euler integrator, written as a plain Python ``for`` loop, steps a
damped oscillator ``x'' = -k (x - x_rest) - c x'``.  Its rest position lies
behind a wall at ``x = 0``, so the mass keeps hitting the wall: a
data-dependent ``if`` reflects position and velocity (with restitution) when
the position crosses zero.

``ad_compiler.grad`` differentiates the time-averaged squared position with
respect to the damping ``c`` and the initial state ``(x0, v0)``.  The
gradients are printed next to central finite differences; the script exits
with status 1 if they disagree.

    python examples/bouncing_oscillator.py
"""
import argparse
import sys

import numpy as np

from ad_compiler import grad, source

STIFFNESS = 4.0
REST = -0.5          # rest position, behind the wall at x = 0
RESTITUTION = 0.8    # fraction of the speed kept at a bounce
DT = 0.01
N_STEPS = 400
RTOL = 1e-5


def mean_sq_position(c, state0, k, dt, n_steps):
    """Time average of x(t)**2 along an explicit Euler trajectory."""
    x = state0[0]
    v = state0[1]
    total = 0.0
    for i in range(n_steps):
        a = -k * (x - REST) - c * v
        x = x + dt * v
        v = v + dt * a
        if x < 0.0:
            # bounce: mirror the position, reverse and damp the velocity
            x = -x
            v = -RESTITUTION * v
        total = total + x * x
    return total / n_steps


# Gradient with respect to the damping and the initial state, by name.
dloss = grad(mean_sq_position, wrt=("c", "state0"))


def count_bounces(c, state0, k, dt, n_steps):
    """Same integrator, plain Python, counting the bounces (for display)."""
    x, v = float(state0[0]), float(state0[1])
    bounces = 0
    closest = np.inf
    for _ in range(n_steps):
        a = -k * (x - REST) - c * v
        x, v = x + dt * v, v + dt * a
        if x < 0.0:
            x, v = -x, -RESTITUTION * v
            bounces += 1
        closest = min(closest, abs(x))
    return bounces, closest


def finite_difference(c, state0, k, dt, n_steps, eps=1e-6):
    f = mean_sq_position
    dc = (f(c + eps, state0, k, dt, n_steps) - f(c - eps, state0, k, dt, n_steps)) / (2 * eps)
    ds = np.zeros_like(state0)
    for i in range(state0.size):
        e = np.zeros_like(state0)
        e[i] = eps
        ds[i] = (f(c, state0 + e, k, dt, n_steps) - f(c, state0 - e, k, dt, n_steps)) / (2 * eps)
    return dc, ds


def close(a, b):
    return np.allclose(a, b, rtol=RTOL, atol=RTOL * max(1.0, float(np.max(np.abs(b)))))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--show-source", action="store_true")
    args = parser.parse_args(argv)

    ok = True
    for c, state0 in [(0.3, np.array([1.0, 0.0])),
                      (0.8, np.array([0.5, 2.0])),
                      (0.1, np.array([1.5, -1.0]))]:
        value = mean_sq_position(c, state0, STIFFNESS, DT, N_STEPS)
        dc, ds = dloss(c, state0, STIFFNESS, DT, N_STEPS)
        fdc, fds = finite_difference(c, state0, STIFFNESS, DT, N_STEPS)
        bounces, _ = count_bounces(c, state0, STIFFNESS, DT, N_STEPS)
        print(f"c = {c:.2f}, x0 = {state0[0]:+.2f}, v0 = {state0[1]:+.2f}: "
              f"loss {value:.6f}, {bounces} bounces")
        print(f"    d/dc      AD {float(dc):+.8f}   FD {fdc:+.8f}")
        for name, g, fd in zip(("x0", "v0"), np.asarray(ds), fds):
            print(f"    d/d{name}     AD {float(g):+.8f}   FD {fd:+.8f}")
        good = (np.shape(ds) == state0.shape and close(dc, fdc) and close(ds, fds))
        if not good:
            print("    MISMATCH between AD and FD")
            ok = False

    if args.show_source:
        print(source(dloss))
    if not ok:
        print("FAILED: AD gradient disagrees with finite differences", file=sys.stderr)
        raise SystemExit(1)
    print("all gradients match finite differences")


if __name__ == "__main__":
    main()
