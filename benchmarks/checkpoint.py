"""Checkpointed loops (issue #11): peak memory and time of the gradient of a
10,000-step loop, plain vs ``grad(f, checkpoint="auto")`` vs a few snapshot
counts.  Not a test; writes benchmarks/results/checkpoint.md.

    python -m benchmarks.checkpoint [--steps 10000] [--size 256] [--repeats 3]

Memory is tracemalloc's peak above the arguments during one gradient call
(NumPy's allocations are traced); time is the median of ``--repeats`` calls
measured without tracemalloc.
"""
import argparse
import os
import platform
import statistics
import time
import tracemalloc

import numpy as np

from ad_compiler import grad


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


def _time(fn, args, repeats):
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(*args)
        out.append(time.perf_counter() - t0)
    return statistics.median(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=10000)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results",
                                                  "checkpoint.md"))
    a = ap.parse_args(argv)
    r = np.random.default_rng(0)
    x = r.standard_normal(a.size)
    W = r.standard_normal((a.size, a.size)) / np.sqrt(a.size)
    args = (x, W, a.steps)
    configs = [("plain", None), ("auto", "auto"), ("10 snapshots", 10),
               ("30 snapshots", 30), ("300 snapshots", 300)]
    rows, ref = [], None
    for label, ck in configs:
        g = grad(rnn_like, wrt=(0, 1), checkpoint=ck)
        g(x, W, 3)                              # compile outside the measurements
        out = g(*args)
        if ref is None:
            ref = out
        err = max(float(np.max(np.abs(o - p)) / (np.max(np.abs(p)) or 1.0))
                  for o, p in zip(out, ref))
        rows.append((label, _peak(g, *args), _time(g, args, a.repeats), err))
    pm, pt = rows[0][1], rows[0][2]
    lines = [f"# Checkpointed loops: {a.steps} steps, state of {a.size} floats",
             "",
             f"`python -m benchmarks.checkpoint --steps {a.steps} --size {a.size}` "
             f"({platform.processor() or platform.machine()}, Python {platform.python_version()}, "
             f"NumPy {np.__version__}); gradient w.r.t. x and W of `rnn_like` "
             f"(4 intermediates per step).",
             "",
             "| gradient | peak memory | vs plain | time | vs plain | max rel. diff |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for label, m, t, err in rows:
        lines.append(f"| {label} | {m / 1e6:.2f} MB | {m / pm:.3f}x | {t * 1e3:.0f} ms | "
                     f"{t / pt:.2f}x | {err:.1e} |")
    text = "\n".join(lines) + "\n"
    print(text)
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w") as fh:
        fh.write(text)


if __name__ == "__main__":
    main()
