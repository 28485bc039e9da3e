"""Small functions for the per-pass unit tests (real source for inspect)."""
import math

import numpy as np


def straight(x, y):
    return np.sin(x) * y + x.T


def nested_expr(x):
    return np.sum(np.exp(-(x - 1.0) ** 2) / (1.0 + np.abs(x)))


def branches(x):
    if np.sum(x) > 0:
        y = x * 2.0
    elif np.sum(x) < -1.0:
        y = -x
    else:
        y = x + 1.0
    return y


def loops(x, n):
    acc = 0.0
    for i in range(n):
        if i % 2 == 0:
            continue
        acc = acc + x[i]
        if acc > 3.0:
            break
    return acc


def while_loop(x):
    k = 0
    while np.max(np.abs(x)) > 0.1 and k < 50:
        x = x * 0.5
        k += 1
    return x, k


def early_return(x):
    for row in x:
        if np.sum(row) > 1.0:
            return row * 2.0
    return x[0]


def chained(x, a):
    y = a if 0.0 < a < 1.0 else -a
    ok = not (a > 5.0) or a < -5.0
    return x * y if ok else x


def augmented(x):
    y = x.copy()
    y += 1.0
    y *= x
    y[0] -= 2.0
    a, b = y[0], y[1]
    a, b = b, a
    return a - b + math.sqrt(abs(float(np.sum(y))))


def comprehension(x):
    sq = lambda t: t * t  # noqa: E731

    def cube(t, p=3):
        return t ** p

    ys = [sq(v) + cube(v) for v in x if v > 0.0]
    return sum(ys) + sum(v * 2.0 for v in x)


def simple_grad(x):
    return np.sum(np.sin(x) * x)


NORMALIZE_CASES = [
    (straight, lambda r: (r.normal(size=(3, 3)), r.normal(size=(3, 3)))),
    (nested_expr, lambda r: (r.normal(size=5),)),
    (branches, lambda r: (r.normal(size=4),)),
    (loops, lambda r: (r.normal(size=8) + 1.0, 8)),
    (while_loop, lambda r: (r.normal(size=3),)),
    (early_return, lambda r: (r.normal(size=(4, 3)),)),
    (chained, lambda r: (r.normal(size=3), float(r.uniform(-1, 2)))),
    (augmented, lambda r: (r.normal(size=4),)),
    (comprehension, lambda r: (r.normal(size=6),)),
]
