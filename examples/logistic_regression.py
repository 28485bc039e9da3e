"""Logistic regression trained with gradients from ad_compiler.

The loss is ordinary NumPy code; ``ad_compiler.grad`` turns it into a gradient
function by source transformation.  The first gradient is checked against
central finite differences (the script exits with status 1 if they disagree),
then plain gradient descent trains the model.

    python examples/logistic_regression.py
    python examples/logistic_regression.py --show-source   # print the generated code
"""
import argparse
import sys
import time

import numpy as np

from ad_compiler import grad, source

N_SAMPLES = 200
N_FEATURES = 5
SEED = 0
FD_TOLERANCE = 1e-6


def make_data(n=N_SAMPLES, d=N_FEATURES, seed=SEED):
    """Linearly separable-ish data drawn from a known logistic model."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    true_w = 2.0 * rng.normal(size=d)
    true_b = 0.3
    p = 1.0 / (1.0 + np.exp(-(X @ true_w + true_b)))
    y = (rng.uniform(size=n) < p).astype(float)
    return X, y


def loss(w, b, X, y):
    """Negative mean log-likelihood of a logistic model."""
    z = X @ w + b
    p = 1 / (1 + np.exp(-z))
    log_lik = y * np.log(p) + (1 - y) * np.log(1 - p)
    return -np.mean(log_lik)


# Gradient with respect to the weights and the bias: returns (dw, db).
dloss = grad(loss, wrt=(0, 1))


def finite_difference(w, b, X, y, eps=1e-6):
    dw = np.zeros_like(w)
    for i in range(w.size):
        e = np.zeros_like(w)
        e[i] = eps
        dw[i] = (loss(w + e, b, X, y) - loss(w - e, b, X, y)) / (2 * eps)
    db = (loss(w, b + eps, X, y) - loss(w, b - eps, X, y)) / (2 * eps)
    return dw, db


def accuracy(w, b, X, y):
    return float(np.mean(((X @ w + b) > 0) == (y > 0.5)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--lr", type=float, default=0.5)
    parser.add_argument("--show-source", action="store_true",
                        help="print the generated gradient code at the end")
    args = parser.parse_args(argv)

    X, y = make_data()
    w = np.zeros(N_FEATURES)
    b = 0.0

    # 1. Check the AD gradient against central finite differences at a
    #    non-trivial point.
    rng = np.random.default_rng(1)
    w_check = 0.5 * rng.normal(size=N_FEATURES)
    b_check = -0.2
    gw, gb = dloss(w_check, b_check, X, y)
    fw, fb = finite_difference(w_check, b_check, X, y)
    err = max(float(np.max(np.abs(np.asarray(gw) - fw))), abs(float(gb) - fb))
    print(f"gradient check: max |AD - FD| = {err:.2e} (tolerance {FD_TOLERANCE:.0e})")
    if not (np.shape(gw) == w_check.shape and err < FD_TOLERANCE):
        print("FAILED: AD gradient disagrees with finite differences", file=sys.stderr)
        raise SystemExit(1)

    # 2. Plain gradient descent.
    start = time.perf_counter()
    print_every = max(1, args.epochs // 10)
    for epoch in range(args.epochs + 1):
        if epoch % print_every == 0:
            print(f"epoch {epoch:4d}  loss {loss(w, b, X, y):.5f}")
        if epoch == args.epochs:
            break
        gw, gb = dloss(w, b, X, y)
        w = w - args.lr * gw
        b = b - args.lr * gb
    elapsed = time.perf_counter() - start

    final_loss = loss(w, b, X, y)
    acc = accuracy(w, b, X, y)
    print(f"trained {args.epochs} epochs in {elapsed:.2f} s")
    print(f"final loss {final_loss:.5f}, accuracy {acc:.3f}")
    if not (np.isfinite(final_loss) and final_loss < loss(np.zeros(N_FEATURES), 0.0, X, y)):
        print("FAILED: training did not decrease the loss", file=sys.stderr)
        raise SystemExit(1)

    if args.show_source:
        print()
        print(source(dloss))


if __name__ == "__main__":
    main()
