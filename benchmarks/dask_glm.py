"""ad_compiler's gradient on Dask arrays vs a hand-written Dask gradient.

The logistic-regression gradient as dask-glm writes it by hand::

    X.T.dot(sigmoid(X.dot(beta)) - y)

against ``grad(loss)`` of the plain NumPy loss
``np.sum(np.logaddexp(0, X @ beta) - y * (X @ beta))`` called with Dask
arrays.  Per iteration of gradient descent: the time to build the graph (on
the client), the number of tasks, and the time to build and compute it;
the ratio ours / hand-written.  Both gradients are compared first.

    python -m benchmarks.dask_glm                       # threaded scheduler, ~20 s
    python -m benchmarks.dask_glm --n 2000000 --cluster # 2 worker processes
    python -m benchmarks.dask_glm --quick               # a smoke test

Needs dask[array] (and distributed for --cluster).
"""
import argparse
import statistics
import time

import numpy as np

import dask
import dask.array as da

from ad_compiler import grad


def loss(beta, X, y):
    z = X @ beta
    return np.sum(np.logaddexp(0.0, z) - y * z)


def sigmoid(x):
    return 1.0 / (1.0 + da.exp(-x))


def handwritten(beta, X, y):
    return X.T.dot(sigmoid(X.dot(beta)) - y)


def make_data(n, d, chunk_rows, seed=0):
    rs = da.random.RandomState(seed)
    X = rs.normal(size=(n, d), chunks=(chunk_rows, d))
    y = (rs.uniform(size=n, chunks=chunk_rows) < 0.5).astype(float)
    return X, y


def _tasks(x):
    return len(dict(x.__dask_graph__()))


def measure(fn, beta, X, y, repeats, compute):
    build, total = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        g = fn(beta, X, y)
        t1 = time.perf_counter()
        compute(g)
        t2 = time.perf_counter()
        build.append(t1 - t0)
        total.append(t2 - t0)
    return statistics.median(build), statistics.median(total), _tasks(fn(beta, X, y))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=400_000)
    ap.add_argument("--d", type=int, default=20)
    ap.add_argument("--chunk-rows", type=int, default=50_000)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--cluster", action="store_true",
                    help="a LocalCluster of 2 single-threaded worker processes")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    if args.quick:
        args.n, args.chunk_rows, args.repeats = 20_000, 5_000, 2

    X, y = make_data(args.n, args.d, args.chunk_rows)
    ours = grad(loss)
    beta = np.full(args.d, 0.01)

    client = cluster = None
    if args.cluster:
        from dask.distributed import Client, LocalCluster
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                               dashboard_address=":0", silence_logs=50)
        client = Client(cluster)
        X, y = client.persist(X), client.persist(y)
        compute = lambda g: client.compute(g, sync=True)         # noqa: E731
    else:
        X, y = X.persist(), y.persist()
        compute = lambda g: g.compute(scheduler="threads")        # noqa: E731
    try:
        a, b = compute(ours(beta, X, y)), compute(handwritten(beta, X, y))
        err = float(np.max(np.abs(a - b)) / np.max(np.abs(b)))
        print(f"X {X.shape} in {X.npartitions} chunks ({X.nbytes / 1e6:.0f} MB), "
              f"{'LocalCluster 2x1' if args.cluster else 'threaded scheduler'}; "
              f"max relative difference of the gradients {err:.1e}")
        if err > 1e-10:
            raise SystemExit("the gradients disagree")
        rows = {}
        for name, fn in (("hand-written", handwritten), ("ad_compiler", ours)):
            rows[name] = measure(fn, beta, X, y, args.repeats, compute)
        print(f"{'gradient':14s} {'build ms':>9s} {'tasks':>6s} {'per iteration ms':>17s}")
        for name, (build, total, tasks) in rows.items():
            print(f"{name:14s} {1e3 * build:9.2f} {tasks:6d} {1e3 * total:17.1f}")
        ratio = rows["ad_compiler"][1] / rows["hand-written"][1]
        print(f"ratio ad_compiler / hand-written per iteration: {ratio:.2f}")
        return ratio
    finally:
        if client is not None:
            client.close()
            cluster.close()


if __name__ == "__main__":
    with dask.config.set({"array.slicing.split_large_chunks": False}):
        main()
