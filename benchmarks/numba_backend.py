"""The numba backend (issue #12) on the small loop workloads, side by side
in one run: hand-written NumPy, ad_compiler (NumPy backend), ad_compiler
``backend="numba"``, and JAX (``jax.jit(jax.grad(f))``) when it is
installed.  Not a test; writes benchmarks/results/numba.md.

    python -m benchmarks.numba_backend [--repeats 21] [--out PATH]

Times are the median over ``--repeats`` interleaved rounds (each round runs
every system back to back for about 20 ms), one BLAS/XLA thread.  One-off
costs are reported apart: numba's compile at the first call with an empty
cache (a temporary folder), the first call of a new process that finds the
machine code in that cache, and JAX's first (compiling) call.
"""
import argparse
import functools
import os
import statistics
import subprocess
import sys
import tempfile
import time

from benchmarks import run as _run        # (sets one thread for BLAS and XLA first)
from benchmarks import handwritten, workloads

import numpy as np

from ad_compiler import grad

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(_ROOT, "examples"))
import bouncing_oscillator as B  # noqa: E402


def _case(name):
    """(label, dims, f, wrt, args, hand-written gradient or None, jax fn maker)."""
    if name == "bounce":
        args = (0.3, np.array([1.0, 0.0]), B.STIFFNESS, B.DT, B.N_STEPS)
        return ("bouncing_oscillator.mean_sq_position", f"{B.N_STEPS} steps, scalar state",
                B.mean_sq_position, (0, 1), args, None,
                lambda mod: B.mean_sq_position)
    w = next(w for w in workloads.WORKLOADS if w.name == name)
    hand = getattr(handwritten, "grad_" + w.fn_name)
    return (w.fn_name, w.dims, w.fn, w.wrt, w.make(0), hand,
            lambda mod: getattr(mod, w.fn_name))


CASES = ("rnn/small", "while/small", "bounce")


def _jax_setup(fn, wrt, args):
    """(callable, note, first call seconds) or None without JAX."""
    try:
        import jax
        jax.config.update("jax_enable_x64", True)
    except Exception:                               # ImportError, a broken jaxlib
        return None
    jnp = jax.numpy
    # integers (n_steps) stay Python values: static for jit
    dyn = [i for i, a in enumerate(args) if not isinstance(a, int)]
    jargs = [jnp.asarray(a, dtype=jnp.float64) if i in dyn else a
             for i, a in enumerate(args)]
    static = [i for i in range(len(args)) if i not in dyn]
    g = jax.jit(jax.grad(fn, argnums=wrt), static_argnums=static)
    t0 = time.perf_counter()
    try:
        jax.block_until_ready(g(*jargs))
        note = ""
    except jax.errors.JAXTypeError:                 # Python control flow on traced values
        g = jax.grad(fn, argnums=wrt)
        t0 = time.perf_counter()
        jax.block_until_ready(g(*jargs))
        note = "†"
    first = time.perf_counter() - t0
    return (lambda: jax.block_until_ready(g(*jargs))), note, first


def _child(name, cache):
    """First call in a fresh process with a warm cache (prints seconds)."""
    os.environ["AD_COMPILER_NUMBA_CACHE"] = cache
    _, _, fn, wrt, args, _, _ = _case(name)
    g = grad(fn, wrt=wrt, backend="numba")
    import numba  # noqa: F401  (its import is not the cache's cost)
    t0 = time.perf_counter()
    g(*args)
    print(time.perf_counter() - t0)


def _time(calls, repeats, budget=0.02):
    """Median seconds per call of each callable, interleaved rounds."""
    numbers = {}
    for k, c in calls.items():
        c()
        t0 = time.perf_counter()
        c()
        numbers[k] = max(1, int(budget / max(time.perf_counter() - t0, 1e-7)))
    samples = {k: [] for k in calls}
    for _ in range(repeats):
        for k, c in calls.items():
            n = numbers[k]
            t0 = time.perf_counter()
            for _ in range(n):
                c()
            samples[k].append((time.perf_counter() - t0) / n)
    return {k: statistics.median(v) for k, v in samples.items()}


def _fmt(s):
    if s is None:
        return "—"
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.3g} ms"
    return f"{s * 1e6:.3g} µs"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--out", default=os.path.join(_ROOT, "benchmarks", "results",
                                                      "numba.md"))
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    opts = parser.parse_args(argv)
    if opts.child:
        return _child(*opts.child)
    import numba
    cache = tempfile.mkdtemp(prefix="ad-numba-bench-")
    os.environ["AD_COMPILER_NUMBA_CACHE"] = cache
    t0 = time.perf_counter()
    numba.njit(lambda x: x + 1.0)(1.0)
    numba_init = time.perf_counter() - t0
    try:
        import jax  # noqa: F401
        jax_workloads = _run.load_workloads_with("jax.numpy")
    except Exception:                               # ImportError, a broken jaxlib
        jax_workloads = None
    rows, once = [], []
    for name in CASES:
        label, dims, fn, wrt, args, hand, _ = _case(name)
        ours = grad(fn, wrt=wrt)
        fast = grad(fn, wrt=wrt, backend="numba")
        ref = ours(*args)
        t0 = time.perf_counter()
        got = fast(*args)
        compile_s = time.perf_counter() - t0
        err = max(float(np.max(np.abs(np.asarray(a) - np.asarray(b)) /
                            (1e-12 + np.max(np.abs(np.asarray(b))))))
                  for a, b in zip(got, ref))
        warm = subprocess.run([sys.executable, "-m", "benchmarks.numba_backend",
                               "--child", name, cache], cwd=_ROOT, capture_output=True,
                              text=True, check=True)
        calls = {"ours": lambda: ours(*args), "numba": lambda: fast(*args)}
        if hand is not None:
            calls["hand"] = lambda: hand(*args)
        jx = None
        if jax_workloads is not None:
            jx = _jax_setup(_case(name)[6](jax_workloads), wrt, args)
        if jx is not None:
            calls["jax"] = jx[0]
        t = _time(calls, opts.repeats)
        base = t.get("hand")

        def cell(k):
            if k not in t:
                return "—"
            s = _fmt(t[k]) + (jx[1] if k == "jax" and jx else "")
            return s + (f" ({t[k] / base:.2f}×)" if base else "")
        vs_jax = f"{t['jax'] / t['numba']:.2f}×" if "jax" in t else "—"
        rows.append(f"| {label} | {dims} | {cell('hand')} | {cell('ours')} | {cell('numba')} "
                    f"| {cell('jax')} | {vs_jax} | {err:.1e} |")
        once.append(f"| {label} | {_fmt(compile_s)} | {_fmt(float(warm.stdout.strip()))} | "
                    f"{_fmt(jx[2]) if jx else '—'} |")
    import platform
    try:
        import jax
        jax_version = jax.__version__
    except Exception:
        jax_version = "not installed"
    load = os.getloadavg()[0]
    text = "\n".join([
        "# The numba backend (issue #12)",
        "",
        f"Generated by `python -m benchmarks.numba_backend` on "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: Python "
        f"{platform.python_version()}, NumPy {np.__version__}, numba {numba.__version__}, "
        f"JAX {jax_version}; {os.cpu_count()} logical cores, one BLAS/XLA thread, "
        f"1-minute load average {load:.2f} at the end (the machine is shared: "
        f"interleaved rounds spread its noise over all columns alike). Median of "
        f"{opts.repeats} rounds.",
        "",
        "## Time per gradient call",
        "",
        "In parentheses: the ratio to the hand-written NumPy gradient. "
        "'JAX / numba': how many times JAX jit's time numba's is (above 1: numba "
        "is faster). † JAX cannot jit Python control flow on traced values: "
        "un-jitted `jax.grad`. Max rel. diff: numba against the NumPy backend.",
        "",
        "| workload | dims | hand-written | ad_compiler (NumPy) | ad_compiler numba "
        "| JAX jit | JAX / numba | max rel. diff |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
        *rows,
        "",
        "## One-off costs",
        "",
        f"numba compile: the first call of `grad(f, backend=\"numba\")` with an empty "
        f"cache (numba's own start-up, {_fmt(numba_init)} for a one-line function, "
        f"paid before). From the cache: the first call in a new process that finds "
        f"the machine code on disk (numba imported first). JAX: the first call of "
        f"`jax.jit(jax.grad(f))` (tracing and XLA compile).",
        "",
        "| workload | numba compile (empty cache) | numba first call from the cache "
        "| JAX first call |",
        "|---|---:|---:|---:|",
        *once,
        "",
    ])
    with open(opts.out, "w", encoding="utf-8") as fh:
        fh.write(text)
    print(text)


if __name__ == "__main__":
    main()
