"""Checkpointed loops (issue #11): peak memory and time of the gradient of a
10,000-step loop, plain vs ``grad(f, checkpoint="auto")`` vs a few snapshot
counts.  Not a test; writes benchmarks/results/checkpoint.md.

    python -m benchmarks.checkpoint [--steps 10000] [--size 256] [--repeats 5]
                                    [--blas-threads 1]

Memory is tracemalloc's peak above the arguments during one gradient call
(NumPy's allocations are traced); time is the median of ``--repeats`` calls
measured without tracemalloc, the gradients interleaved (one call of each per
round, so that a change of the machine's load falls on all of them alike).
"Runs of the body" counts the loop body's executions per step: the primal
sweep's, and the adjoint sweep's (from the snapshots, and the run with pushes
of each reversed step), from the schedule of ``ad.Revolve``.
``--blas-threads N`` limits BLAS to N threads (threadpoolctl) around the
measurements: on a machine shared with other work, OpenBLAS threads of small
matrix products spin against the other processes (the same 128 x 256 by
128 x 256 product measured 0.5 ms with one thread and 3-13 ms with two).
"""
import contextlib
import argparse
import os
import platform
import statistics
import time
import tracemalloc

import numpy as np

from ad_compiler import grad
from ad_compiler import runtime


def rnn_like(x, W, n):
    """A recurrent update with several intermediates per step."""
    for t in range(n):
        a = W @ x
        b = np.tanh(a)
        c = b * x
        x = x + 0.01 * c
    return np.sum(x * x)


def _peak(fn, *args):
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        fn(*args)
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def _once(fn, args):
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def body_runs(steps, snapshots):
    """Runs of the loop body per step (primal + adjoint sweep) of a
    checkpointed loop, from the schedule of ``ad.Revolve``."""
    if snapshots is None:
        return 1.0
    cp = runtime.Revolve(steps, snapshots, 0)
    for i in range(steps):
        cp.keep(i + 1)
    for i in cp.backward():
        for j in range(cp.start, i):
            cp.keep(j + 1)
    return (steps + cp.runs) / steps


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=10000)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--blas-threads", type=int, default=None,
                    help="limit BLAS to this many threads (threadpoolctl)")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results",
                                                  "checkpoint.md"))
    a = ap.parse_args(argv)
    with _blas_threads(a.blas_threads):
        _run(a)


@contextlib.contextmanager
def _blas_threads(n):
    if n is None:
        yield
        return
    from threadpoolctl import threadpool_limits
    with threadpool_limits(limits=n, user_api="blas"):
        yield


def _run(a):
    r = np.random.default_rng(0)
    x = r.standard_normal(a.size)
    W = r.standard_normal((a.size, a.size)) / np.sqrt(a.size)
    args = (x, W, a.steps)
    configs = [("plain", None), ("auto", "auto"), ("10 snapshots", 10),
               ("30 snapshots", 30), ("300 snapshots", 300)]
    grads, errs, peaks, ref = [], [], [], None
    for label, ck in configs:
        g = grad(rnn_like, wrt=(0, 1), checkpoint=ck)
        g(x, W, 3)                              # compile outside the measurements
        out = g(*args)
        if ref is None:
            ref = out
        errs.append(max(float(np.max(np.abs(o - p)) / (np.max(np.abs(p)) or 1.0))
                        for o, p in zip(out, ref)))
        peaks.append(_peak(g, *args))
        grads.append(g)
    times = [[] for _ in configs]
    primal = []
    for _ in range(a.repeats):
        primal.append(_once(rnn_like, args))
        for k, g in enumerate(grads):
            times[k].append(_once(g, args))
    times = [statistics.median(t) for t in times]
    primal = statistics.median(primal)
    pm, pt = peaks[0], times[0]
    threads = "" if a.blas_threads is None else f" --blas-threads {a.blas_threads}"
    lines = [f"# Checkpointed loops: {a.steps} steps, state of {a.size} floats",
             "",
             f"`python -m benchmarks.checkpoint --steps {a.steps} --size {a.size} "
             f"--repeats {a.repeats}{threads}` "
             f"({platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
             f"Python {platform.python_version()}, NumPy {np.__version__}); gradient "
             f"w.r.t. x and W of `rnn_like` (4 intermediates per step); medians of "
             f"{a.repeats} interleaved calls.  The function alone: {primal * 1e3:.0f} ms.",
             "",
             "| gradient | peak memory | vs plain | time | vs plain | runs of the body "
             "per step | max rel. diff |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for (label, ck), m, t, err in zip(configs, peaks, times, errs):
        lines.append(f"| {label} | {m / 1e6:.2f} MB | {m / pm:.3f}x | {t * 1e3:.0f} ms | "
                     f"{t / pt:.2f}x | {body_runs(a.steps, ck):.2f} | {err:.1e} |")
    text = "\n".join(lines) + "\n"
    print(text)
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w") as fh:
        fh.write(text)


if __name__ == "__main__":
    main()
