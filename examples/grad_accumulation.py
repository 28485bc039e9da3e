"""Gradient accumulation: summing the gradients of micro-batches gives the
full-batch gradient.

When a batch does not fit in memory, compute the gradient on micro-batches
and add them up, each weighted by its share of the samples (the loss is a
mean, so a micro-batch of m of the N samples contributes m / N of its own
mean's gradient; the last micro-batch may be smaller).  The parameters are a
dict; ``ad_compiler.tree`` adds and scales the gradient dicts.  The script
checks the full-batch gradient against central finite differences, then
that the accumulated gradient equals it and that an Adam step taken with
either gives the same parameters (exit status 1 otherwise).

    python examples/grad_accumulation.py
    python examples/grad_accumulation.py --micro-batch 7
"""
import argparse
import sys

import numpy as np

from ad_compiler import grad, optim
from ad_compiler.tree import ravel, tree_add, tree_leaves, tree_scale, tree_zeros_like

SEED = 0
TOLERANCE = 1e-12


def make_problem(n=203, d=6, hidden=16, seed=SEED):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = np.sin(X @ rng.normal(size=d)) + 0.1 * rng.normal(size=n)
    params = {"W1": rng.normal(size=(d, hidden)) / np.sqrt(d), "b1": np.zeros(hidden),
              "w2": rng.normal(size=hidden) / np.sqrt(hidden), "b2": 0.0}
    return X, y, params


def loss(params, X, y):
    """Mean squared error of a one-hidden-layer network."""
    h = np.tanh(X @ params["W1"] + params["b1"])
    pred = h @ params["w2"] + params["b2"]
    return np.mean((pred - y) ** 2)


dloss = grad(loss)


def accumulated_grad(params, X, y, micro_batch):
    """The full-batch gradient, one micro-batch at a time."""
    n = len(X)
    total = tree_zeros_like(params)
    for start in range(0, n, micro_batch):
        xb, yb = X[start:start + micro_batch], y[start:start + micro_batch]
        total = tree_add(total, tree_scale(dloss(params, xb, yb), len(xb) / n))
    return total


def max_difference(a, b):
    return max(float(np.max(np.abs(np.asarray(u) - np.asarray(v))))
               for u, v in zip(tree_leaves(a), tree_leaves(b)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--micro-batch", type=int, default=32)
    args = parser.parse_args(argv)

    X, y, params = make_problem()
    full = dloss(params, X, y)

    # the full-batch gradient against central finite differences
    v, unravel = ravel(params)
    eps = 1e-6
    fd = np.array([(loss(unravel(v + eps * e), X, y) - loss(unravel(v - eps * e), X, y))
                   / (2 * eps) for e in np.eye(v.size)])
    fd_error = float(np.max(np.abs(ravel(full)[0] - fd)))
    print(f"gradient check: max |AD - FD| = {fd_error:.2e} ({v.size} parameters)")

    n_micro = -(-len(X) // args.micro_batch)
    acc = accumulated_grad(params, X, y, args.micro_batch)
    diff = max_difference(acc, full)
    print(f"{len(X)} samples in {n_micro} micro-batches of {args.micro_batch} "
          f"(last one: {len(X) - (n_micro - 1) * args.micro_batch})")
    print(f"max |accumulated - full-batch gradient| = {diff:.2e}")

    opt = optim.adam(lr=1e-2)
    state = opt.init(params)
    step_full = optim.apply_updates(params, opt.update(full, state, params)[0])
    step_acc = optim.apply_updates(params, opt.update(acc, state, params)[0])
    step_diff = max_difference(step_full, step_acc)
    print(f"max |parameters after an Adam step: accumulated - full| = {step_diff:.2e}")

    if not (fd_error < 1e-6 and diff < TOLERANCE and step_diff < TOLERANCE):
        print("gradient accumulation check FAILED", file=sys.stderr)
        return 1
    print("accumulated gradients match the full-batch gradient")
    return 0


if __name__ == "__main__":
    sys.exit(main())
