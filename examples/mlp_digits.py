"""A two-layer MLP classifying handwritten digits, trained with ad_compiler.

The data is scikit-learn's bundled 8x8 digits set (1797 images, no
download).  The loss is ordinary NumPy code on a dict of parameters;
``ad_compiler.grad`` turns it into a gradient function by source
transformation.  The first gradient is checked against central finite
differences (the script exits with status 1 if they disagree); then
``ad_compiler.optim`` trains the model: Adam, global gradient-norm clipping
and a learning rate warmed up linearly then cosine-annealed.

    python examples/mlp_digits.py
    python examples/mlp_digits.py --epochs 20 --hidden 128
"""
import argparse
import sys
import time

import numpy as np

from ad_compiler import grad, optim
from ad_compiler.tree import ravel

SEED = 0
FD_TOLERANCE = 1e-6


def load_data(seed=SEED, test_fraction=0.2):
    """(X_train, Y_train, X_test, Y_test): pixels scaled to [0, 1], labels
    one-hot; a fixed random split."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        print("mlp_digits.py needs scikit-learn for its data set "
              "(sklearn.datasets.load_digits): pip install scikit-learn",
              file=sys.stderr)
        sys.exit(2)
    digits = load_digits()
    X = digits.data / 16.0
    Y = np.eye(10)[digits.target]
    order = np.random.default_rng(seed).permutation(len(X))
    n_test = int(len(X) * test_fraction)
    test, train = order[:n_test], order[n_test:]
    return X[train], Y[train], X[test], Y[test]


def init_params(n_in, n_hidden, n_out, seed=SEED):
    rng = np.random.default_rng(seed)
    return {"W1": rng.normal(size=(n_in, n_hidden)) / np.sqrt(n_in),
            "b1": np.zeros(n_hidden),
            "W2": rng.normal(size=(n_hidden, n_out)) / np.sqrt(n_hidden),
            "b2": np.zeros(n_out)}


def logits(params, X):
    h = np.tanh(X @ params["W1"] + params["b1"])
    return h @ params["W2"] + params["b2"]


def loss(params, X, Y):
    """Mean softmax cross-entropy."""
    z = logits(params, X)
    z = z - np.max(z, axis=1, keepdims=True)
    log_p = z - np.log(np.sum(np.exp(z), axis=1, keepdims=True))
    return -np.sum(Y * log_p) / X.shape[0]


dloss = grad(loss)


def accuracy(params, X, Y):
    return float(np.mean(np.argmax(logits(params, X), axis=1) == np.argmax(Y, axis=1)))


def gradient_check(params, X, Y, n_coords=12, eps=1e-6, seed=1):
    """max |AD - FD| over a few random coordinates of the raveled parameters."""
    v, unravel = ravel(params)
    ad = ravel(dloss(params, X, Y))[0]
    worst = 0.0
    for i in np.random.default_rng(seed).choice(v.size, n_coords, replace=False):
        e = np.zeros_like(v)
        e[i] = eps
        fd = (loss(unravel(v + e), X, Y) - loss(unravel(v - e), X, Y)) / (2 * eps)
        worst = max(worst, abs(ad[i] - fd))
    return worst


def bar(fraction, width=24):
    done = int(round(fraction * width))
    return "[" + "#" * done + "-" * (width - done) + "]"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--max-norm", type=float, default=0.5)
    args = parser.parse_args(argv)

    X_train, Y_train, X_test, Y_test = load_data()
    params = init_params(X_train.shape[1], args.hidden, Y_train.shape[1])

    error = gradient_check(params, X_train[:100], Y_train[:100])
    print(f"gradient check: max |AD - FD| = {error:.2e} (12 coordinates)")
    if not error < FD_TOLERANCE:
        print("gradient check FAILED", file=sys.stderr)
        return 1

    n_batches = -(-len(X_train) // args.batch_size)
    total_steps = args.epochs * n_batches
    warmup = n_batches                               # one epoch of warm-up
    schedule = optim.linear_warmup(
        optim.cosine_decay(args.lr, total_steps - warmup), warmup, start_factor=0.1)
    opt = optim.adam(lr=schedule)
    state = opt.init(params)

    print(f"{len(X_train)} training / {len(X_test)} test images, "
          f"{n_batches} batches of {args.batch_size} per epoch, "
          f"Adam + clip_grad_norm({args.max_norm}) + warm-up/cosine schedule")
    rng = np.random.default_rng(SEED + 1)
    start = time.perf_counter()
    clipped_steps = 0
    for epoch in range(1, args.epochs + 1):
        order = rng.permutation(len(X_train))
        for b in range(n_batches):
            idx = order[b * args.batch_size:(b + 1) * args.batch_size]
            grads = dloss(params, X_train[idx], Y_train[idx])
            grads, norm = optim.clip_grad_norm(grads, args.max_norm)
            clipped_steps += norm > args.max_norm
            updates, state = opt.update(grads, state, params)
            params = optim.apply_updates(params, updates)
        train_loss = loss(params, X_train, Y_train)
        print(f"epoch {epoch:2d}/{args.epochs} {bar(epoch / args.epochs)} "
              f"loss {train_loss:.4f}  train accuracy {accuracy(params, X_train, Y_train):.3f}"
              f"  test accuracy {accuracy(params, X_test, Y_test):.3f}"
              f"  lr {schedule(state.count):.2e}")
    elapsed = time.perf_counter() - start
    test_acc = accuracy(params, X_test, Y_test)
    print(f"final test accuracy: {test_acc:.3f} ({total_steps} steps in {elapsed:.1f} s, "
          f"{clipped_steps} gradients clipped)")
    if test_acc < 0.9:
        print("test accuracy below 0.9", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
