"""MAML on sine-wave regression: the inner step ``w - lr * grad(loss)(w, x, y)``
differentiated with respect to the initial weights ``w`` and the inner
learning rate ``lr`` (a gradient of code that calls grad).  Checks the
meta-gradient against central finite differences.
"""
import sys

import numpy as np

from ad_compiler import grad

HIDDEN = 8


def predict(w, x):
    W1 = np.reshape(w[:HIDDEN], (1, HIDDEN))
    b1 = w[HIDDEN:2 * HIDDEN]
    W2 = w[2 * HIDDEN:3 * HIDDEN]
    h = np.tanh(x[:, None] * W1 + b1)
    return h @ W2 + w[3 * HIDDEN]


def loss(w, x, y):
    return np.mean((predict(w, x) - y) ** 2)


def meta_loss(w, lr, xs, ys, xq, yq):
    """Mean query loss after one inner gradient step per task."""
    s = 0.0
    for k in range(len(xs)):
        adapted = w - lr * grad(loss)(w, xs[k], ys[k])
        s = s + loss(adapted, xq[k], yq[k])
    return s / len(xs)


def tasks(rng, n):
    xs, ys, xq, yq = [], [], [], []
    for _ in range(n):
        amp, phase = rng.uniform(0.5, 2.0), rng.uniform(0.0, np.pi)
        a, b = rng.uniform(-3, 3, 10), rng.uniform(-3, 3, 10)
        xs.append(a)
        ys.append(amp * np.sin(a + phase))
        xq.append(b)
        yq.append(amp * np.sin(b + phase))
    return xs, ys, xq, yq


def main(argv=None):
    rng = np.random.default_rng(0)
    w = rng.normal(scale=0.5, size=3 * HIDDEN + 1)
    lr = 0.05
    batch = tasks(rng, 4)
    meta_grad = grad(meta_loss, wrt=("w", "lr"))
    gw, glr = meta_grad(w, lr, *batch)
    h = 1e-6
    fdw = np.array([(meta_loss(w + h * e, lr, *batch) - meta_loss(w - h * e, lr, *batch))
                    / (2 * h) for e in np.eye(w.size)])
    fdlr = (meta_loss(w, lr + h, *batch) - meta_loss(w, lr - h, *batch)) / (2 * h)
    err = max(np.max(np.abs(gw - fdw)), abs(glr - fdlr))
    print(f"meta-gradient check: max |AD - FD| = {err:.2e} (d/dlr AD {glr:.6f}, FD {fdlr:.6f})")
    test = tasks(np.random.default_rng(99), 8)
    before = meta_loss(w, lr, *test)
    for step in range(30):
        gw, glr = meta_grad(w, lr, *tasks(rng, 4))
        w = w - 0.02 * gw
        lr = max(1e-3, lr - 0.002 * glr)
        if step % 10 == 9:
            print(f"meta-step {step + 1}: held-out post-adaptation loss "
                  f"{meta_loss(w, lr, *test):.4f}  inner lr {lr:.4f}")
    after = meta_loss(w, lr, *test)
    if not (err < 1e-6 and after < before):
        print("FAILED")
        return 1
    print(f"meta-training lowered the held-out loss {before:.4f} -> {after:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
