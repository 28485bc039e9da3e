"""Logistic regression on a dataset chunked across Dask workers.

The loss is the same NumPy code as for in-memory arrays; called with Dask
arrays, the gradient that ad_compiler generates is a lazy Dask computation
(NumPy's functions dispatch to Dask), which the workers evaluate chunk by
chunk.  The data are generated lazily with ``da.random`` and never held in
one place: the large run's dataset is bigger than a worker's memory limit.

The first gradient is checked against the hand-written Dask gradient
``X.T @ (sigmoid(X @ w) - y) / n`` (exit status 1 if they disagree), then
gradient descent runs, printing the loss per iteration.

    python examples/dask_logistic.py            # small and fast (also --small)
    python examples/dask_logistic.py --large    # 7.5M x 10 float64: 600 MB of X in
                                                # 60 chunks, 2 workers of 300 MB each
                                                # (about 7 s per iteration on 2 cores)

Needs ``pip install "ad_compiler[dask]"`` (dask[array] and distributed).
"""
import argparse
import sys
import time

import numpy as np

import dask.array as da
from dask.base import is_dask_collection
from dask.distributed import Client, LocalCluster

from ad_compiler import value_and_grad

CHECK_TOLERANCE = 1e-10
SMALL = dict(n=20_000, d=10, chunk_rows=2_500, iterations=8)
LARGE = dict(n=7_500_000, d=10, chunk_rows=125_000, iterations=10)


def loss(w, X, y):
    """Mean negative log-likelihood of a logistic model (stable form)."""
    z = X @ w
    return np.mean(np.logaddexp(0.0, z) - y * z)


def make_data(n, d, chunk_rows, seed=0):
    """Lazy data from a known logistic model: nothing is computed here."""
    rs = da.random.RandomState(seed)
    true_w = np.linspace(-2.0, 2.0, d)
    X = rs.normal(size=(n, d), chunks=(chunk_rows, d))
    p = 1.0 / (1.0 + np.exp(-(X @ true_w)))
    y = (rs.uniform(size=n, chunks=chunk_rows) < p).astype(float)
    return X, y, true_w


def handwritten_grad(w, X, y):
    """The gradient as dask-glm writes it."""
    return X.T.dot(1.0 / (1.0 + da.exp(-X.dot(w))) - y) / X.shape[0]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size = ap.add_mutually_exclusive_group()
    size.add_argument("--small", action="store_true", help="the small run (default)")
    size.add_argument("--large", action="store_true", help="600 MB of data, 200 MB workers")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--memory-limit", default="300MB",
                    help="per worker (a worker process itself takes ~120 MB)")
    ap.add_argument("--iterations", type=int, default=None)
    ap.add_argument("--lr", type=float, default=1.0)
    args = ap.parse_args(argv)
    cfg = dict(LARGE if args.large else SMALL)
    if args.iterations is not None:
        cfg["iterations"] = args.iterations

    X, y, true_w = make_data(cfg["n"], cfg["d"], cfg["chunk_rows"])
    print(f"data: X {X.shape} in {X.npartitions} chunks, {X.nbytes / 1e6:.0f} MB "
          f"(generated lazily on the workers); {args.workers} workers x {args.memory_limit}")
    gradient = value_and_grad(loss)
    with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                      memory_limit=args.memory_limit, dashboard_address=":0",
                      silence_logs=50) as cluster, Client(cluster) as client:
        w = np.zeros(cfg["d"])
        value, g = gradient(w, X, y)
        if not (is_dask_collection(value) and is_dask_collection(g)):
            print("the gradient is not a lazy Dask computation")
            return 1
        g, ref = client.compute([g, handwritten_grad(w, X, y)], sync=True)
        err = float(np.max(np.abs(g - ref)))
        print(f"gradient check: max |AD - hand-written Dask gradient| = {err:.2e}")
        if err > CHECK_TOLERANCE:
            print("gradient check FAILED")
            return 1
        first = None
        for it in range(1, cfg["iterations"] + 1):
            t0 = time.perf_counter()
            value, g = client.compute(list(gradient(w, X, y)), sync=True)
            w = w - args.lr * g
            first = value if first is None else first
            print(f"iteration {it:2d}  loss {value:.6f}  |grad| {np.linalg.norm(g):.2e}  "
                  f"({time.perf_counter() - t0:.2f} s)")
    print(f"loss went from {first:.4f} to {value:.4f}; "
          f"corr(w, true w) = {np.corrcoef(w, true_w)[0, 1]:.3f}")
    if not value < first:
        print("gradient descent did not lower the loss")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
