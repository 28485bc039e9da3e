"""Benchmark ad_compiler against a hand-written gradient, autograd, PyTorch and JAX.

    python -m benchmarks.run            # full run (a few minutes)
    python -m benchmarks.run --quick    # short run
    python benchmarks/run.py --sizes small --repeats 2 --outdir /tmp/bench

Every system runs in this one process, interleaved: each repeat visits all
systems of a workload once (round-robin, starting at a different system each
repeat), so machine noise hits every system alike; the reported time is the
median over repeats.  Writes ``results.md``, ``results.json`` and (when
matplotlib is installed) ``chart.png`` to ``benchmarks/results/``.

Systems: the plain function (forward only), the hand-written gradient
(``benchmarks/handwritten.py``), ours (``ad_compiler.grad``), autograd (the
workload source re-executed with ``autograd.numpy``), PyTorch eager (CPU,
float64, ``benchmarks/torch_ports.py``) and JAX (``jax.jit(jax.grad(f))`` on
the workload source re-executed with ``jax.numpy``).  Systems whose package is
missing are skipped.  BLAS, PyTorch and XLA are limited to one thread.
"""
import os

# One thread everywhere, before numpy / torch / jax are imported.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
             "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false "
                                   "intra_op_parallelism_threads=1")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import argparse  # noqa: E402
import datetime  # noqa: E402
import gc  # noqa: E402
import importlib.metadata  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import re  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
import types  # noqa: E402

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:             # ``python benchmarks/run.py``
    sys.path.insert(0, _ROOT)

import numpy as np  # noqa: E402

from benchmarks import handwritten, workloads  # noqa: E402

RESULTS_DIR = os.path.join(_ROOT, "benchmarks", "results")
SYSTEMS = ("plain", "hand", "ours", "autograd", "torch", "jax")
GRAD_SYSTEMS = SYSTEMS[1:]
LABELS = {"plain": "plain f (forward)", "hand": "hand-written", "ours": "ad_compiler",
          "autograd": "autograd", "torch": "PyTorch eager", "jax": "JAX jit"}
# gradients of every system are compared with the hand-written one
CHECK_RTOL, CHECK_ATOL = 1e-6, 1e-9

_THREADPOOL_LIMIT = None


def limit_threads():
    """Limit BLAS to one thread even if numpy was imported before us."""
    global _THREADPOOL_LIMIT
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return False
    _THREADPOOL_LIMIT = threadpool_limits(limits=1)
    return True


# --------------------------------------------------------------------------
# loading the workload source under another numpy
# --------------------------------------------------------------------------

def load_workloads_with(numpy_module):
    """``workloads.py`` executed again with ``import numpy as np`` replaced by
    ``import <numpy_module> as np`` (e.g. ``autograd.numpy``)."""
    path = os.path.abspath(workloads.__file__)
    if path.endswith((".pyc", ".pyo")):
        path = path[:-1]
    with open(path, encoding="utf-8") as fh:
        src = fh.read()
    new_src, count = re.subn(r"^import numpy as np$", f"import {numpy_module} as np",
                             src, flags=re.M)
    if count != 1:
        raise RuntimeError(f"expected exactly one 'import numpy as np' line in {path}, "
                           f"found {count}")
    name = "_benchmark_workloads_under_" + numpy_module.replace(".", "_")
    mod = types.ModuleType(name)
    mod.__file__ = path
    sys.modules[name] = mod           # dataclasses need this
    exec(compile(new_src, path, "exec"), mod.__dict__)
    return mod


# --------------------------------------------------------------------------
# systems: each turns a workload into a zero-argument callable
# --------------------------------------------------------------------------

class Unavailable(Exception):
    pass


def _version(dist):
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


class Systems:
    """Lazily imported systems; ``setup(system, workload, args)`` returns
    ``(callable, info)`` or raises ``Unavailable``."""

    def __init__(self, wanted):
        self.wanted = [s for s in SYSTEMS if s in wanted]
        self.missing = {}
        self._ag = self._torch = self._jax = None
        if "autograd" in self.wanted:
            try:
                import autograd
                self._ag = (autograd, load_workloads_with("autograd.numpy"))
            except ImportError as exc:
                self.missing["autograd"] = f"not installed ({exc})"
        if "torch" in self.wanted:
            try:
                import torch
                torch.set_num_threads(1)
                try:
                    torch.set_num_interop_threads(1)
                except RuntimeError:
                    pass
                from benchmarks import torch_ports
                self._torch = (torch, torch_ports)
            except ImportError as exc:
                self.missing["torch"] = f"not installed ({exc})"
        if "jax" in self.wanted:
            try:
                import jax
                jax.config.update("jax_enable_x64", True)
                self._jax = (jax, load_workloads_with("jax.numpy"))
            except Exception as exc:      # ImportError, or a broken jaxlib
                self.missing["jax"] = f"not usable ({type(exc).__name__}: {exc})"
        self.active = [s for s in self.wanted if s not in self.missing]

    def setup(self, system, w, args):
        info = {}
        if system == "plain":
            fn = w.fn
            return (lambda: fn(*args)), info
        if system == "hand":
            g = handwritten.GRADIENTS[w.fn_name]
            return (lambda: g(*args)), info
        if system == "ours":
            from ad_compiler import grad
            g = grad(w.fn, wrt=w.wrt)
            return (lambda: g(*args)), info
        if system == "autograd":
            autograd, mod = self._ag
            g = autograd.grad(getattr(mod, w.fn_name), argnum=w.wrt)
            return (lambda: g(*args)), info
        if system == "torch":
            torch, ports = self._torch
            targs = ports.to_torch(args, w.wrt)
            g = ports.make_grad(getattr(ports, w.fn_name), w.wrt)
            return (lambda: g(*targs)), info
        if system == "jax":
            return self._setup_jax(w, args, info)
        raise ValueError(system)

    def _setup_jax(self, w, args, info):
        jax, mod = self._jax
        jnp = jax.numpy
        jargs = [jnp.asarray(a, dtype=jnp.float64) for a in args]
        f = getattr(mod, w.fn_name)
        jitted = jax.jit(jax.grad(f, argnums=w.wrt))
        t0 = time.perf_counter()
        try:
            jax.block_until_ready(jitted(*jargs))
            info["first_call_s"] = time.perf_counter() - t0
            g = jitted
        except jax.errors.JAXTypeError as exc:      # Python control flow on traced values
            info["jit"] = False
            info["note"] = f"not jittable ({type(exc).__name__}); timed un-jitted jax.grad"
            g = jax.grad(f, argnums=w.wrt)
        return (lambda: jax.block_until_ready(g(*jargs))), info


def to_numpy(grads):
    if not isinstance(grads, (tuple, list)):
        grads = (grads,)
    return [np.asarray(g, dtype=np.float64) if not hasattr(g, "detach")
            else g.detach().numpy() for g in grads]


def compare(grads, ref):
    """Largest relative error of ``grads`` against ``ref`` (None on shape mismatch)."""
    got, want = to_numpy(grads), to_numpy(ref)
    if len(got) != len(want):
        return None
    worst = 0.0
    for a, b in zip(got, want):
        if a.shape != b.shape:
            return None
        scale = max(1.0, float(np.max(np.abs(b)))) if b.size else 1.0
        err = float(np.max(np.abs(a - b))) / scale if b.size else 0.0
        if not np.isfinite(err):
            return float("inf")
        worst = max(worst, err)
    return worst


# --------------------------------------------------------------------------
# timing
# --------------------------------------------------------------------------

def _time_once(fn, number):
    gc_was = gc.isenabled()
    gc.disable()
    try:
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        return (time.perf_counter() - t0) / number
    finally:
        if gc_was:
            gc.enable()


def calibrate(fn, target):
    """Calls per sample so that one sample takes about ``target`` seconds."""
    t = _time_once(fn, 1)
    if t >= target:
        return 1
    number = max(1, int(target / max(t, 1e-7)))
    t = _time_once(fn, number)      # refine once with a longer measurement
    return max(1, int(round(number * target / max(t * number, 1e-9))))


def time_interleaved(callables, repeats, target):
    """Median seconds per call of each callable, sampled round-robin."""
    names = list(callables)
    numbers = {n: calibrate(callables[n], target) for n in names}
    samples = {n: [] for n in names}
    for r in range(repeats):
        gc.collect()
        k = r % len(names)
        for n in names[k:] + names[:k]:
            samples[n].append(_time_once(callables[n], numbers[n]))
    return ({n: statistics.median(s) for n, s in samples.items()},
            {n: (min(s), max(s)) for n, s in samples.items()}, numbers)


def call_overhead(wrapper, direct, seconds):
    """Median of paired differences ``wrapper() - direct()`` in seconds."""
    diffs = []
    deadline = time.perf_counter() + seconds
    gc.collect()
    gc.disable()
    try:
        i = 0
        while time.perf_counter() < deadline or len(diffs) < 20:
            if i % 2:                 # alternate which goes first
                t0 = time.perf_counter(); wrapper(); t1 = time.perf_counter()
                direct(); t2 = time.perf_counter()
                diffs.append((t1 - t0) - (t2 - t1))
            else:
                t0 = time.perf_counter(); direct(); t1 = time.perf_counter()
                wrapper(); t2 = time.perf_counter()
                diffs.append((t2 - t1) - (t1 - t0))
            i += 1
    finally:
        gc.enable()
    med = statistics.median(diffs)
    mad = statistics.median(abs(d - med) for d in diffs)
    # standard error of the median, from a robust (MAD) estimate of the spread
    return med, 1.2533 * 1.4826 * mad / math.sqrt(len(diffs)), len(diffs)


def transform_time(w, args, copies):
    """One-off cost of ours: first call of ``grad`` on a fresh function object
    (same code, so a cache miss) minus the cached call right after it; the
    median over ``copies`` fresh functions."""
    from ad_compiler import grad
    fn = w.fn
    diffs = []
    for _ in range(copies):
        fresh = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__,
                                   fn.__defaults__, fn.__closure__)
        g = grad(fresh, wrt=w.wrt)
        gc.collect()
        t0 = time.perf_counter()
        g(*args)
        t1 = time.perf_counter()
        g(*args)
        t2 = time.perf_counter()
        diffs.append((t1 - t0) - (t2 - t1))
    return max(0.0, statistics.median(diffs))


def peak_memory(fn):
    """tracemalloc peak (bytes) of one call; numpy's data buffers are traced."""
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        out = fn()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    del out
    return peak - base


# --------------------------------------------------------------------------
# the benchmark
# --------------------------------------------------------------------------

def run_workload(w, systems, opts, log):
    args = w.make(0)
    row = {"name": w.name, "fn": w.fn_name, "size": w.size, "dims": w.dims,
           "time_s": {}, "spread_s": {}, "number": {}, "check": {}, "errors": {},
           "notes": {}, "memory_bytes": {}}
    callables = {}
    ref = handwritten.GRADIENTS[w.fn_name](*args)
    for s in systems.active:
        try:
            fn, info = systems.setup(s, w, args)
            out = fn()                                     # warm-up and check
        except Exception as exc:                           # noqa: BLE001
            row["errors"][s] = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
            log(f"  {s:9s} FAILED: {row['errors'][s]}")
            continue
        if s != "plain":
            err = compare(out, ref)
            row["check"][s] = err
            if err is None or err > CHECK_RTOL:
                log(f"  {s:9s} WRONG GRADIENT (max rel. err {err})")
        if "note" in info:
            row["notes"][s] = info["note"]
        if s == "jax" and "first_call_s" in info:
            row["jax_first_call_s"] = info["first_call_s"]
        callables[s] = fn
    med, spread, numbers = time_interleaved(callables, opts.repeats, opts.target)
    row["time_s"], row["spread_s"], row["number"] = med, spread, numbers
    if "jax_first_call_s" in row and "jax" in med:
        row["jax_compile_s"] = max(0.0, row.pop("jax_first_call_s") - med["jax"])
    if "ours" in callables:
        row["ours_transform_s"] = transform_time(w, args, opts.copies)
        if w.size == "small":
            from ad_compiler import grad
            g = grad(w.fn, wrt=w.wrt)
            g(*args)                             # compiles, for these arguments' shapes
            direct = g._compiled().function      # the generated function itself
            ov, se, n = call_overhead(lambda: g(*args), lambda: direct(*args),
                                      opts.overhead_s)
            row["ours_overhead_s"] = ov
            row["ours_overhead_se_s"] = se
            row["ours_overhead_pairs"] = n
    for s in ("plain", "hand", "ours", "autograd"):
        if s in callables:
            row["memory_bytes"][s] = peak_memory(callables[s])
    return row


def _loadavg():
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def machine_info():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    blas = None
    try:
        from threadpoolctl import threadpool_info
        blas = ", ".join(f"{d.get('internal_api')} {d.get('version')} "
                         f"({d.get('num_threads')} thread)" for d in threadpool_info()
                         if d.get("user_api") == "blas") or None
    except ImportError:
        pass
    import ad_compiler
    import subprocess
    try:
        commit = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=_ROOT,
                                capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return {
        "commit": commit or None,
        "cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(),
        "python": platform.python_version(), "numpy": np.__version__,
        "blas": blas, "ad_compiler": ad_compiler.__version__,
        "autograd": _version("autograd"), "torch": _version("torch"),
        "jax": _version("jax"), "jaxlib": _version("jaxlib"),
        "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
    }


# --------------------------------------------------------------------------
# output
# --------------------------------------------------------------------------

def _fmt_time(s):
    if s is None:
        return "—"
    if s >= 1.0:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.3g} ms"
    return f"{s * 1e6:.3g} µs"


def _fmt_ratio(x):
    if x is None or not math.isfinite(x):
        return "—"
    return f"{x:.2f}×" if x < 10 else f"{x:.1f}×" if x < 100 else f"{x:.0f}×"


def _fmt_mb(b):
    return "—" if b is None else f"{b / 2**20:.3g} MB" if b >= 2**20 else f"{b / 1024:.3g} kB"


def _fmt_overhead(ov, se):
    if ov is None:
        return "—"
    def us(x):
        return f"{x * 1e6:.2g}" if abs(x) < 1e-4 else f"{x * 1e6:.0f}"
    if se > 1e-6 and 2 * se > abs(ov):
        return f"(noise ±{us(se)} µs)"
    return f"{us(ov)} ± {us(se)} µs"


def _cell(row, s):
    if s in row["errors"]:
        return "fails¹"
    t = row["time_s"].get(s)
    if t is None:
        return "—"
    mark = ""
    err = row["check"].get(s, 0.0)
    if err is None or err > CHECK_RTOL:
        mark = " ✗"
    if s in row["notes"]:
        mark += " †"
    return _fmt_time(t) + mark


def ratio(row, s, base):
    t, b = row["time_s"].get(s), row["time_s"].get(base)
    return None if t is None or not b else t / b


def render_markdown(rows, meta, systems, argv):
    cols = [s for s in SYSTEMS if s in systems.active]
    grad_cols = [s for s in cols if s != "plain"]
    L = []
    L.append("# Benchmarks")
    L.append("")
    L.append(f"Generated by `python -m benchmarks.run{(' ' + ' '.join(argv)) if argv else ''}` "
             f"on {meta['date']}.")
    L.append("")
    L.append(f"- CPU: {meta['cpu']} ({meta['cores']} logical cores; everything runs on "
             f"one thread)")
    L.append(f"- Python {meta['python']}, NumPy {meta['numpy']}"
             + (f" ({meta['blas']})" if meta["blas"] else "")
             + f", ad_compiler {meta['ad_compiler']}"
             + (f" (commit {meta['commit']})" if meta.get("commit") else "")
             + f", autograd {meta['autograd'] or '—'}, "
             f"PyTorch {meta['torch'] or '—'}, JAX {meta['jax'] or '—'}")
    L.append(f"- {meta['platform']}")
    L.append(f"- median of {meta['repeats']} interleaved repeats per system "
             f"(each repeat ≈ {meta['target_s'] * 1e3:g} ms of back-to-back calls); "
             f"float64 everywhere; {meta['elapsed_s']:.0f} s in all")
    if meta.get("load_before") is not None:
        L.append(f"- 1-minute load average {meta['load_before']} at the start, "
                 f"{meta['load_after']} at the end (other processes share the machine; "
                 f"interleaving spreads their noise over all systems alike)")
    if systems.missing:
        L.append("- skipped: " + "; ".join(f"{s}: {why}" for s, why in systems.missing.items()))
    L.append("")
    L.append("## Time per gradient call")
    L.append("")
    L.append("Median time of one call; in parentheses, the ratio to the hand-written "
             "NumPy gradient (lower is better).")
    L.append("")
    L.append("| workload | dims | " + " | ".join(LABELS[s] for s in cols) + " |")
    L.append("|---|---|" + "---:|" * len(cols))
    for row in rows:
        cells = []
        for s in cols:
            c = _cell(row, s)
            if s not in ("plain", "hand") and row["time_s"].get(s) is not None:
                c += f" ({_fmt_ratio(ratio(row, s, 'hand'))})"
            cells.append(c)
        L.append(f"| {row['fn']} | {row['dims']} | " + " | ".join(cells) + " |")
    L.append("")
    L.append("## Gradient time relative to the plain function")
    L.append("")
    L.append("Gradient call time divided by one forward call of the plain NumPy function "
             "(the cost of a gradient in units of function evaluations).")
    L.append("")
    L.append("| workload | dims | " + " | ".join(LABELS[s] for s in grad_cols) + " |")
    L.append("|---|---|" + "---:|" * len(grad_cols))
    for row in rows:
        L.append(f"| {row['fn']} | {row['dims']} | "
                 + " | ".join(_fmt_ratio(ratio(row, s, "plain")) for s in grad_cols) + " |")
    L.append("")
    L.append("## ad_compiler: one-off costs and memory")
    L.append("")
    L.append("Transform: first call of `grad(f)` on a fresh function minus a cached call "
             "(parse, differentiate, generate and load the code). Call overhead: "
             "`grad(f)(*args)` minus calling the generated function directly, median of "
             "paired calls ± its standard error (small workloads only: it does not depend on "
             "the data, and a long call's noise swamps it). Peak "
             "memory: `tracemalloc` peak during one call (NumPy buffers are traced).")
    if "jax" in cols:
        L.append("JAX compile: first call of `jax.jit(jax.grad(f))` minus a cached call.")
    L.append("")
    head = ["workload", "dims", "transform", "call overhead", "peak mem: plain f",
            "hand-written", "ad_compiler", "ours / hand", "autograd"]
    if "jax" in cols:
        head.append("JAX compile")
    L.append("| " + " | ".join(head) + " |")
    L.append("|---|---|" + "---:|" * (len(head) - 2))
    for row in rows:
        mem = row["memory_bytes"]
        ov, se = row.get("ours_overhead_s"), row.get("ours_overhead_se_s")
        cells = [_fmt_time(row.get("ours_transform_s")),
                 _fmt_overhead(ov, se),
                 _fmt_mb(mem.get("plain")), _fmt_mb(mem.get("hand")), _fmt_mb(mem.get("ours")),
                 _fmt_ratio(mem["ours"] / mem["hand"]) if mem.get("ours") and mem.get("hand")
                 else "—",
                 _fmt_mb(mem.get("autograd"))]
        if "jax" in cols:
            cells.append(_fmt_time(row.get("jax_compile_s")))
        L.append(f"| {row['fn']} | {row['dims']} | " + " | ".join(cells) + " |")
    L.append("")
    notes = []
    for row in rows:
        for s, e in row["errors"].items():
            notes.append(f"- ¹ {LABELS[s]} on {row['name']}: {e}")
        for s, n in row["notes"].items():
            notes.append(f"- † {LABELS[s]} on {row['name']}: {n}")
        for s, err in row["check"].items():
            if err is None or err > CHECK_RTOL:
                notes.append(f"- ✗ {LABELS[s]} on {row['name']}: gradient differs from the "
                             f"hand-written one (max relative error {err})")
    L.append("All gradients are checked against the hand-written one before timing "
             f"(relative tolerance {CHECK_RTOL:g}); the hand-written gradients are checked "
             "against central finite differences by `tests/test_benchmarks.py`.")
    if notes:
        L.append("")
        L.extend(notes)
    L.append("")
    return "\n".join(L)


def render_chart(rows, systems, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    cols = [s for s in ("ours", "autograd", "torch", "jax") if s in systems.active]
    labels = [r["name"] for r in rows]
    fig, ax = plt.subplots(figsize=(max(8, 1.1 * len(rows) + 2), 4.8))
    width = 0.8 / max(1, len(cols))
    xs = np.arange(len(rows))
    colors = {"ours": "#d62728", "autograd": "#1f77b4", "torch": "#ff7f0e", "jax": "#2ca02c"}
    for k, s in enumerate(cols):
        vals = [ratio(r, s, "hand") for r in rows]
        vals = [v if v is not None and v > 0 else np.nan for v in vals]
        bars = ax.bar(xs + (k - (len(cols) - 1) / 2) * width, vals, width, label=LABELS[s],
                      color=colors.get(s))
        for bar, r in zip(bars, rows):        # e.g. JAX timed without jit
            if s in r["notes"]:
                bar.set_hatch("//")
                bar.set_edgecolor("white")
    ax.axhline(1.0, color="black", lw=1, ls="--", label="hand-written NumPy")
    ax.set_yscale("log")
    ax.set_xticks(xs)
    ax.set_xticklabels(labels, rotation=30, ha="right")
    ax.set_ylabel("time / hand-written gradient (log scale)")
    title = "Gradient time relative to a hand-written NumPy gradient (lower is better)"
    if any(s in r["notes"] for r in rows for s in cols):
        title += "\nhatched: see the notes in results.md (e.g. not jittable, timed without jit)"
    ax.set_title(title, fontsize=10)
    ax.grid(axis="y", which="both", alpha=0.3)
    ax.legend(fontsize=8, ncol=len(cols) + 1, loc="upper left")
    fig.tight_layout()
    tmp = path + ".tmp"
    fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
    os.replace(tmp, path)
    return True


def _write(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true",
                   help="fewer repeats and shorter samples (about a minute)")
    p.add_argument("--repeats", type=int, help="interleaved repeats per workload")
    p.add_argument("--target-ms", type=float, help="length of one timing sample")
    p.add_argument("--sizes", default="small,large", help="comma list: small,large")
    p.add_argument("--workloads", default="",
                   help="comma list of workload names or prefixes (e.g. mlp,rnn/small)")
    p.add_argument("--systems", default=",".join(SYSTEMS),
                   help=f"comma list of {','.join(SYSTEMS)}")
    p.add_argument("--overhead-ms", type=float,
                   help="time spent measuring ad_compiler's call overhead per workload")
    p.add_argument("--copies", type=int,
                   help="fresh functions transformed to time ad_compiler's transform")
    p.add_argument("--outdir", default=RESULTS_DIR)
    p.add_argument("--no-chart", action="store_true")
    opts = p.parse_args(argv)
    opts.repeats = opts.repeats or (3 if opts.quick else 21)
    opts.target = (opts.target_ms / 1e3 if opts.target_ms
                   else 0.01 if opts.quick else 0.1)
    opts.copies = opts.copies or (1 if opts.quick else 5)
    opts.overhead_s = (opts.overhead_ms / 1e3 if opts.overhead_ms is not None
                       else 0.1 if opts.quick else 1.0)
    return opts


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    opts = parse_args(argv)
    limited = limit_threads()
    sizes = {s.strip() for s in opts.sizes.split(",") if s.strip()}
    wanted = {s.strip() for s in opts.systems.split(",") if s.strip()}
    unknown = wanted - set(SYSTEMS)
    if unknown:
        raise SystemExit(f"unknown system(s): {', '.join(sorted(unknown))}")
    wanted |= {"hand"}                    # the reference for checks and ratios
    prefixes = [x.strip() for x in opts.workloads.split(",") if x.strip()]
    chosen = [w for w in workloads.WORKLOADS if w.size in sizes
              and (not prefixes or any(w.name == p or w.name.startswith(p.rstrip("/") + "/")
                                       for p in prefixes))]
    if not chosen:
        raise SystemExit("no workload selected")

    def log(msg):
        print(msg, flush=True)

    systems = Systems(wanted)
    for s, why in systems.missing.items():
        log(f"skipping {s}: {why}")
    if not limited:
        log("threadpoolctl not installed: relying on OPENBLAS_NUM_THREADS=1 etc.")
    meta = machine_info()
    meta.update(repeats=opts.repeats, target_s=opts.target, argv=argv,
                load_before=_loadavg())
    t_start = time.perf_counter()
    rows = []
    for w in chosen:
        t0 = time.perf_counter()
        log(f"{w.name} ({w.dims})")
        row = run_workload(w, systems, opts, log)
        rows.append(row)
        log("  " + "  ".join(f"{s} {_fmt_time(t)}" for s, t in row["time_s"].items())
            + f"   [{time.perf_counter() - t0:.1f} s]")
    meta["elapsed_s"] = time.perf_counter() - t_start
    meta["load_after"] = _loadavg()
    os.makedirs(opts.outdir, exist_ok=True)
    md = render_markdown(rows, meta, systems, argv)
    _write(os.path.join(opts.outdir, "results.md"), md)
    _write(os.path.join(opts.outdir, "results.json"),
           json.dumps({"meta": meta, "systems": systems.active, "missing": systems.missing,
                       "rows": rows}, indent=1, default=str) + "\n")
    chart = None
    if not opts.no_chart:
        chart = os.path.join(opts.outdir, "chart.png")
        if not render_chart(rows, systems, chart):
            log("matplotlib not installed: no chart")
            chart = None
    print()
    print(md)
    log(f"wrote {os.path.join(opts.outdir, 'results.md')}"
        + (f" and {chart}" if chart else "") + f" in {meta['elapsed_s']:.0f} s")
    return rows


if __name__ == "__main__":
    main()
