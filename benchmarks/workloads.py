"""Benchmark workloads: plain NumPy loss functions, written once, the way a
user writes them, plus deterministic input factories.

Each loss function below uses only ``np.`` calls.  The benchmark runner loads
this file a second time with the line ``import numpy as np`` replaced by
``import autograd.numpy as np`` (and, when JAX is installed, by
``import jax.numpy as np``), so autograd and JAX differentiate the very same
source as ``ad_compiler``.  Only the real-NumPy copy's factories are called.

``WORKLOADS`` lists one entry per (workload, size): the function, the
argument positions to differentiate and a factory ``seed -> args``.
"""
from dataclasses import dataclass
from typing import Callable

import numpy as np


# --------------------------------------------------------------------------
# the loss functions (what a user writes)
# --------------------------------------------------------------------------

def logistic_loss(w, b, X, y):
    """Negative mean log-likelihood of a logistic model."""
    z = X @ w + b
    p = 1 / (1 + np.exp(-z))
    log_lik = y * np.log(p) + (1 - y) * np.log(1 - p)
    return -np.mean(log_lik)


def mlp_loss(W1, b1, W2, b2, X, Y):
    """Two-layer tanh MLP, softmax cross-entropy against one-hot labels Y."""
    h = np.tanh(X @ W1 + b1)
    logits = h @ W2 + b2
    logits = logits - np.max(logits, axis=1, keepdims=True)
    log_probs = logits - np.log(np.sum(np.exp(logits), axis=1, keepdims=True))
    return -np.mean(np.sum(Y * log_probs, axis=1))


def rnn_loss(Wx, Wh, b, wo, xs, ys):
    """Tanh RNN unrolled by a Python loop; mean squared error of a readout."""
    h = np.zeros(Wh.shape[0])
    total = 0.0
    for t in range(xs.shape[0]):
        h = np.tanh(Wx @ xs[t] + Wh @ h + b)
        pred = np.dot(wo, h)
        total = total + (pred - ys[t]) ** 2
    return total / xs.shape[0]


def while_branch(x, c):
    """Iterate a map until an accumulated quantity passes a threshold; which
    map is applied depends on the sign of the current mean."""
    total = 0.0
    while total < 10.0:
        if np.mean(x) > 0.0:
            x = np.tanh(c * x) - 0.25
        else:
            x = np.sin(c * x) + 0.25
        total = total + np.mean(x * x) + 0.1
    return np.mean(x * x)


def elementwise_chain(x, a, b):
    """A chain of elementwise ops; a (n,) and b (m, 1) broadcast against x (m, n)."""
    u = x * a + b
    v = np.sin(u) * np.exp(-0.5 * u * u)
    w = v / (1.0 + x * x) + np.sqrt(1.0 + u * u) * a
    return np.mean(w)


# --------------------------------------------------------------------------
# input factories (real NumPy only)
# --------------------------------------------------------------------------

def make_logistic(n, d):
    def make(seed=0):
        rng = np.random.default_rng(seed)
        X = rng.normal(size=(n, d))
        w = rng.normal(size=d) / np.sqrt(d)
        b = 0.1
        y = (rng.uniform(size=n) < 0.5).astype(float)
        return (w, b, X, y)
    return make


def make_mlp(batch, n_in, n_hidden, n_classes):
    def make(seed=0):
        rng = np.random.default_rng(seed)
        W1 = rng.normal(size=(n_in, n_hidden)) / np.sqrt(n_in)
        b1 = 0.1 * rng.normal(size=n_hidden)
        W2 = rng.normal(size=(n_hidden, n_classes)) / np.sqrt(n_hidden)
        b2 = 0.1 * rng.normal(size=n_classes)
        X = rng.normal(size=(batch, n_in))
        Y = np.eye(n_classes)[rng.integers(0, n_classes, size=batch)]
        return (W1, b1, W2, b2, X, Y)
    return make


def make_rnn(n_steps, n_in, n_hidden):
    def make(seed=0):
        rng = np.random.default_rng(seed)
        Wx = rng.normal(size=(n_hidden, n_in)) / np.sqrt(n_in)
        Wh = 0.9 * rng.normal(size=(n_hidden, n_hidden)) / np.sqrt(n_hidden)
        b = 0.1 * rng.normal(size=n_hidden)
        wo = rng.normal(size=n_hidden) / np.sqrt(n_hidden)
        xs = rng.normal(size=(n_steps, n_in))
        ys = np.sin(0.1 * np.arange(n_steps))
        return (Wx, Wh, b, wo, xs, ys)
    return make


def make_while(n):
    def make(seed=0):
        rng = np.random.default_rng(seed)
        x = rng.normal(size=n)
        c = 1.3
        return (x, c)
    return make


def make_elementwise(m, n):
    def make(seed=0):
        rng = np.random.default_rng(seed)
        x = rng.normal(size=(m, n))
        a = rng.normal(size=n)
        b = rng.normal(size=(m, 1))
        return (x, a, b)
    return make


@dataclass(frozen=True)
class Workload:
    name: str               # unique key, e.g. "logistic/small"
    fn_name: str            # name of the loss function in this module
    size: str               # "small" or "large"
    dims: str               # human-readable dimensions
    wrt: tuple              # argument positions to differentiate
    make: Callable          # seed -> args

    @property
    def fn(self):
        return globals()[self.fn_name]


WORKLOADS = [
    Workload("logistic/small", "logistic_loss", "small", "n=32, d=8", (0, 1),
             make_logistic(32, 8)),
    Workload("logistic/large", "logistic_loss", "large", "n=100000, d=100", (0, 1),
             make_logistic(100_000, 100)),
    Workload("mlp/small", "mlp_loss", "small", "batch 16, in 8, hidden 32, classes 4",
             (0, 1, 2, 3), make_mlp(16, 8, 32, 4)),
    Workload("mlp/large", "mlp_loss", "large", "batch 4096, in 256, hidden 512, classes 10",
             (0, 1, 2, 3), make_mlp(4096, 256, 512, 10)),
    Workload("rnn/small", "rnn_loss", "small", "200 steps, in 3, hidden 4",
             (0, 1, 2, 3), make_rnn(200, 3, 4)),
    Workload("rnn/large", "rnn_loss", "large", "200 steps, in 32, hidden 256",
             (0, 1, 2, 3), make_rnn(200, 32, 256)),
    Workload("while/small", "while_branch", "small", "n=10", (0, 1), make_while(10)),
    Workload("while/large", "while_branch", "large", "n=100000", (0, 1), make_while(100_000)),
    Workload("elementwise/small", "elementwise_chain", "small", "10x100", (0, 1, 2),
             make_elementwise(10, 100)),
    Workload("elementwise/large", "elementwise_chain", "large", "1000x1000", (0, 1, 2),
             make_elementwise(1000, 1000)),
]

BY_NAME = {w.name: w for w in WORKLOADS}
