"""Plain-float loops: our gradient vs the function and a hand-written one.

    python -m benchmarks.scalar_loop                 # print the table
    python -m benchmarks.scalar_loop --write         # also benchmarks/results/scalar_loop.md

Issue #12: scalar code written with Python floats (a simulation loop) should
get a gradient costing a small multiple of the function, like a hand-written
reverse sweep.  For each workload three callables are timed side by side in
one process, interleaved (round-robin, so drifts of the machine hit all of
them alike), and the median of the repeats is reported:

* the plain function (Python floats in, a float out),
* a hand-written reverse-mode gradient in plain Python floats (a list as
  the tape: what a careful person writes by hand),
* ``ad_compiler.grad`` of the function, called as users call it (argument
  checks and the cache lookup included).

Every gradient is checked against the hand-written one and central finite
differences before timing.  Workloads (200 steps each):

``bouncing``  examples/bouncing_oscillator.py's ``mean_sq_position``: a damped
              spring bouncing off a wall (a data-dependent ``if``), a tuple
              state ``(x0, v0)``, module constants; d/d(c, state0)
``logistic``  the logistic map ``x = r * x * (1 - x)`` (r = 2.9: not chaotic), the orbit's mean;
              d/d(r, x0)
``horner``    a polynomial by Horner's rule over a tuple of coefficients,
              evaluated at 200 points of a grid ``x0 + i * h``, summed; d/d(x0, h)
``pendulum``  a damped pendulum (``math.sin``) by semi-implicit Euler, the
              final angle squared plus the mean kinetic energy; d/d(b, theta0)
"""
import argparse
import math
import os
import statistics
import sys
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
_ROOT = os.path.dirname(_HERE)
for p in (_ROOT, os.path.join(_ROOT, "examples")):
    if p not in sys.path:
        sys.path.insert(0, p)

import numpy as np  # noqa: E402

from ad_compiler import grad  # noqa: E402
import bouncing_oscillator as bo  # noqa: E402

STEPS = 200


# --- the workloads, written the way people write them ------------------------

mean_sq_position = bo.mean_sq_position


def _bouncing_hand(c, state0, k, dt, n_steps):
    REST, RESTITUTION = bo.REST, bo.RESTITUTION
    x, v = state0[0], state0[1]
    tape = []
    for _ in range(n_steps):
        tape.append((x, v))
        a = -k * (x - REST) - c * v
        x = x + dt * v
        v = v + dt * a
        bounced = x < 0.0
        if bounced:
            x = -x
            v = -RESTITUTION * v
        tape.append(bounced)
        tape.append(x)
    bx = bv = bc = 0.0
    btotal = 1.0 / n_steps
    for _ in range(n_steps):
        x1 = tape.pop()
        bounced = tape.pop()
        x, v = tape.pop()
        bx += 2.0 * x1 * btotal
        if bounced:
            bx = -bx
            bv = -RESTITUTION * bv
        # v1 = v + dt * a ; x1 = x + dt * v ; a = -k (x - REST) - c v
        ba = dt * bv
        bv = bv + dt * bx
        bx = bx - k * ba
        bc -= v * ba
        bv -= c * ba
    return bc, (bx, bv)


def logistic_mean(r, x0, n_steps):
    x = x0
    total = 0.0
    for i in range(n_steps):
        x = r * x * (1.0 - x)
        total = total + x
    return total / n_steps


def _logistic_hand(r, x0, n_steps):
    x = x0
    xs = []
    for _ in range(n_steps):
        xs.append(x)
        x = r * x * (1.0 - x)
    br = 0.0
    bx = 0.0
    b = 1.0 / n_steps
    for _ in range(n_steps):
        x = xs.pop()
        bx = bx + b                         # total += x_new
        br += bx * x * (1.0 - x)
        bx = bx * r * (1.0 - 2.0 * x)
    return br, bx


COEFFS = (0.3, -1.2, 0.5, 2.0, -0.7, 0.1, 1.5, -0.25)


def horner_sum(x0, h, coeffs, n_points):
    total = 0.0
    for i in range(n_points):
        x = x0 + i * h
        p = 0.0
        for j in range(len(coeffs)):
            p = p * x + coeffs[j]
        total = total + p
    return total


def _horner_hand(x0, h, coeffs, n_points):
    bx0 = 0.0
    bh = 0.0
    n = len(coeffs)
    for i in range(n_points):
        x = x0 + i * h
        # p_j = p_{j-1} x + c_j; dp/dx by the derivative recurrence
        p = 0.0
        dp = 0.0
        for j in range(n):
            dp = dp * x + p
            p = p * x + coeffs[j]
        bx0 += dp
        bh += dp * i
    return bx0, bh


G_OVER_L = 9.81
DT = 0.01


def pendulum_loss(b, theta0, omega0, n_steps):
    theta = theta0
    omega = omega0
    kinetic = 0.0
    for i in range(n_steps):
        omega = omega + DT * (-G_OVER_L * math.sin(theta) - b * omega)
        theta = theta + DT * omega
        kinetic = kinetic + 0.5 * omega * omega
    return theta * theta + kinetic / n_steps


def _pendulum_hand(b, theta0, omega0, n_steps):
    theta, omega = theta0, omega0
    tape = []
    for _ in range(n_steps):
        tape.append((theta, omega))
        omega = omega + DT * (-G_OVER_L * math.sin(theta) - b * omega)
        theta = theta + DT * omega
    btheta = 2.0 * theta
    bomega = 0.0
    bb = 0.0
    bk = 1.0 / n_steps
    for _ in range(n_steps):
        theta_old, omega_old = tape.pop()
        omega_new = omega_old + DT * (-G_OVER_L * math.sin(theta_old) - b * omega_old)
        bomega += bk * omega_new            # kinetic += 0.5 omega^2
        bomega += DT * btheta               # theta_new = theta_old + DT omega_new
        # omega_new = omega_old + DT (-g sin(theta_old) - b omega_old)
        btheta = btheta - DT * G_OVER_L * math.cos(theta_old) * bomega
        bb -= DT * omega_old * bomega
        bomega = bomega * (1.0 - DT * b)
    return bb, btheta


# name -> (function, wrt, args, hand-written gradient, argument positions of wrt)
WORKLOADS = {
    "bouncing": (mean_sq_position, ("c", "state0"),
                 (0.3, (1.0, 0.0), bo.STIFFNESS, bo.DT, STEPS), _bouncing_hand),
    "logistic": (logistic_mean, ("r", "x0"), (2.9, 0.2, STEPS), _logistic_hand),
    "horner": (horner_sum, ("x0", "h"), (-1.0, 0.01, COEFFS, STEPS), _horner_hand),
    "pendulum": (pendulum_loss, ("b", "theta0"), (0.3, 1.2, 0.0, STEPS), _pendulum_hand),
}


def _flat(g):
    out = []
    for v in g if isinstance(g, tuple) else (g,):
        out.extend(_flat(v) if isinstance(v, tuple) else [float(v)])
    return out


def finite_differences(fn, wrt, args, eps=1e-6):
    """Central differences of ``fn`` w.r.t. the parameters ``wrt`` (floats
    or tuples of floats), flattened."""
    import inspect
    names = list(inspect.signature(fn).parameters)
    out = []
    for name in wrt:
        i = names.index(name)
        value = args[i]
        leaves = list(value) if isinstance(value, tuple) else [value]
        for j in range(len(leaves)):
            vals = []
            for s in (eps, -eps):
                moved = list(leaves)
                moved[j] = moved[j] + s
                a = list(args)
                a[i] = tuple(moved) if isinstance(value, tuple) else moved[0]
                vals.append(fn(*a))
            out.append((vals[0] - vals[1]) / (2 * eps))
    return out


def check(name):
    fn, wrt, args, hand = WORKLOADS[name]
    ours = _flat(grad(fn, wrt=wrt)(*args))
    mine = _flat(hand(*args))
    fd = finite_differences(fn, wrt, args)
    assert np.allclose(ours, fd, rtol=1e-5, atol=1e-7), (name, ours, fd)
    assert np.allclose(mine, fd, rtol=1e-5, atol=1e-7), (name, mine, fd)
    return ours


def _time(f, args, number):
    t0 = time.perf_counter()
    for _ in range(number):
        f(*args)
    return (time.perf_counter() - t0) / number


def measure(name, repeats=25, budget=0.02):
    """Median seconds per call of the function, the hand-written gradient and
    ours, interleaved."""
    fn, wrt, args, hand = WORKLOADS[name]
    ours = grad(fn, wrt=wrt)
    ours(*args)                                     # compile
    calls = {"function": fn, "hand-written": hand, "ad_compiler": ours}
    number = {k: max(1, int(budget / max(_time(f, args, 3), 1e-7))) for k, f in calls.items()}
    samples = {k: [] for k in calls}
    for _ in range(repeats):
        for k, f in calls.items():
            samples[k].append(_time(f, args, number[k]))
    return {k: statistics.median(v) for k, v in samples.items()}


def table(results):
    lines = ["| workload | function | hand-written | ad_compiler | hand / function "
             "| ours / function | ours / hand |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, r in results.items():
        f, h, o = r["function"], r["hand-written"], r["ad_compiler"]
        lines.append(f"| {name} | {f * 1e6:.1f} µs | {h * 1e6:.1f} µs | {o * 1e6:.1f} µs "
                     f"| {h / f:.2f}x | {o / f:.2f}x | {o / h:.2f}x |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true",
                        help="write benchmarks/results/scalar_loop.md")
    parser.add_argument("--repeats", type=int, default=25)
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    args = parser.parse_args(argv)
    names = args.workloads.split(",")
    for name in names:
        check(name)
    results = {name: measure(name, args.repeats) for name in names}
    text = table(results)
    print(text)
    if args.write:
        # (replaces the "## Last run" section; the before/after notes above it stay)
        path = os.path.join(_HERE, "results", "scalar_loop.md")
        head = "# Plain-float loops (issue #12)\n\n"
        if os.path.exists(path):
            with open(path) as f:
                head = f.read().partition("## Last run")[0]
        with open(path, "w") as f:
            f.write(head + "## Last run (after)\n\n" + text + "\n")
    return results


if __name__ == "__main__":
    main()
