"""Workloads shared by tests/test_dask.py and tests/test_cupy_like.py: the
same derivative on NumPy, Dask and CuPy(-like) arrays.

Each case is written with ``np`` only; ``autograd_case(name)`` loads this
module again with ``import autograd.numpy as np`` (an independent
reference), and ``fd_*`` below are central finite differences in float64.
"""
import os
import types

import numpy as np

from tests.reference import fd_jacobian


def logistic(w, X, y):
    z = X @ w
    p = 1.0 / (1.0 + np.exp(-z))
    return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))


def lstsq(w, X, y):
    r = X.dot(w) - y
    return 0.5 * np.sum(r ** 2) / X.shape[0]


def mlp(W1, b1, W2, b2, X, y):
    h = np.tanh(X @ W1 + b1)                  # broadcasting of b1
    out = (h @ W2 + b2)[:, 0]                 # indexing with a slice
    e = np.mean((out - y) ** 2, axis=0)       # a reduction with an axis
    head = np.sum(np.exp(h[:5, 1:]), axis=1)  # slices of both axes
    return e + 0.01 * np.mean(np.log(1.0 + head))


def mlp_tree(params, X, y):
    return mlp(params["W1"], params["b1"], params["W2"], params["b2"], X, y)


def data(n=40, d=3, hidden=4, seed=0):
    """NumPy arguments of the cases: {name: (params tuple, X, y)}."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = (rng.random(n) > 0.5).astype(float)
    w = 0.5 * rng.normal(size=d)
    W1, b1 = rng.normal(size=(d, hidden)), rng.normal(size=hidden)
    W2, b2 = rng.normal(size=(hidden, 1)), rng.normal(size=1)
    return {"logistic": ((w,), X, y), "lstsq": ((w,), X, y),
            "mlp": ((W1, b1, W2, b2), X, y)}


CASES = {"logistic": logistic, "lstsq": lstsq, "mlp": mlp}


def fd_grads(name, params, X, y):
    """Finite-difference gradients w.r.t. each parameter."""
    f = CASES[name]
    args = tuple(params) + (X, y)
    return [fd_jacobian(f, args, k).reshape(np.shape(params[k])) for k in range(len(params))]


_AUTOGRAD = None


def autograd_case(name):
    """The case compiled against autograd.numpy (None without autograd)."""
    global _AUTOGRAD
    if _AUTOGRAD is None:
        try:
            import autograd  # noqa: F401
        except ImportError:
            return None
        path = os.path.abspath(__file__)
        with open(path) as f:
            src = f.read().replace("import numpy as np", "import autograd.numpy as np", 1)
        mod = types.ModuleType("_foreign_arrays_cases_autograd")
        mod.__file__ = path
        exec(compile(src, path, "exec"), mod.__dict__)
        _AUTOGRAD = mod
    return getattr(_AUTOGRAD, name)


def autograd_grads(name, params, X, y):
    f = autograd_case(name)
    if f is None:
        return None
    import autograd
    return list(autograd.grad(f, tuple(range(len(params))))(*params, X, y))
