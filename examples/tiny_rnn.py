"""Gradient of a tiny recurrent network's loss, through a Python loop over time.

A tanh RNN cell ``h_t = tanh(Wx x_t + Wh h_{t-1} + b)`` with a linear readout
``y_t = wo . h_t`` is unrolled by an ordinary ``for`` loop.
``ad_compiler.value_and_grad`` gives the loss and its gradient with respect to
all four parameters; every entry is compared with a central finite difference
and the script exits with status 1 if any disagrees.

    python examples/tiny_rnn.py
"""
import argparse
import sys

import numpy as np

from ad_compiler import source, value_and_grad

N_IN, N_HIDDEN, N_STEPS = 3, 4, 6
TOLERANCE = 1e-7


def rnn_loss(Wx, Wh, b, wo, xs, ys):
    """Mean squared error of the readout over the sequence."""
    h = np.zeros(Wh.shape[0])
    total = 0.0
    for t in range(xs.shape[0]):
        h = np.tanh(Wx @ xs[t] + Wh @ h + b)
        pred = np.dot(wo, h)
        total = total + (pred - ys[t]) ** 2
    return total / xs.shape[0]


loss_and_grads = value_and_grad(rnn_loss, wrt=(0, 1, 2, 3))

PARAM_NAMES = ("Wx", "Wh", "b", "wo")


def finite_difference(params, xs, ys, eps=1e-6):
    grads = []
    for k, p in enumerate(params):
        g = np.zeros_like(p)
        for idx in np.ndindex(p.shape):
            plus = [q.copy() for q in params]
            minus = [q.copy() for q in params]
            plus[k][idx] += eps
            minus[k][idx] -= eps
            g[idx] = (rnn_loss(*plus, xs, ys) - rnn_loss(*minus, xs, ys)) / (2 * eps)
        grads.append(g)
    return grads


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--show-source", action="store_true")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(42)
    params = [0.5 * rng.normal(size=(N_HIDDEN, N_IN)),
              0.5 * rng.normal(size=(N_HIDDEN, N_HIDDEN)),
              0.1 * rng.normal(size=N_HIDDEN),
              rng.normal(size=N_HIDDEN)]
    xs = rng.normal(size=(N_STEPS, N_IN))
    ys = np.sin(np.arange(N_STEPS, dtype=float))

    value, grads = loss_and_grads(*params, xs, ys)
    fd = finite_difference(params, xs, ys)
    plain = rnn_loss(*params, xs, ys)
    print(f"loss {float(value):.10f} (plain NumPy: {plain:.10f})")

    ok = abs(float(value) - plain) <= 1e-10 * max(1.0, abs(plain))
    print(f"{'param':>5} {'shape':>8} {'max |AD - FD|':>14}")
    for name, p, g, f in zip(PARAM_NAMES, params, grads, fd):
        g = np.asarray(g)
        if g.shape != p.shape:
            print(f"{name:>5}: gradient has shape {g.shape}, expected {p.shape}")
            ok = False
            continue
        err = float(np.max(np.abs(g - f)))
        print(f"{name:>5} {str(p.shape):>8} {err:14.2e}")
        ok = ok and err < TOLERANCE
    print("d loss / d wo, AD:", np.array2string(np.asarray(grads[3]), precision=6))
    print("d loss / d wo, FD:", np.array2string(fd[3], precision=6))

    if args.show_source:
        print(source(loss_and_grads))
    if not ok:
        print("FAILED: AD gradient disagrees with finite differences", file=sys.stderr)
        raise SystemExit(1)
    print("all gradients match finite differences")


if __name__ == "__main__":
    main()
