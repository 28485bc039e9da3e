"""Transform (compile) time of ad_compiler: every corpus function in every
mode, and a few real models, each compiled from cold caches.

    python -m benchmarks.transform_time                      # this tree, print
    python -m benchmarks.transform_time --base /tmp/old      # before/after, one run
    python -m benchmarks.transform_time --base /tmp/old --base-label main --out FILE.md
    python -m benchmarks.transform_time --clock cpu          # CPU time, not wall clock

What is timed, per function and mode:

* corpus (``tests/corpus.py``), as ``tests/golden_sources.py`` compiles it:
  ``grad`` (``grad(f)`` compiled for the case's argument shapes: the first
  call minus a second, cached, call), ``vjp`` (both sweeps) and ``fwd``
  (``jvp``), with respect to the case's differentiable arguments;
* models: the functions of ``benchmarks/workloads.py`` and of a few
  examples (nested ``grad``, ``hessian``, ``value_and_grad``, dict
  parameters), the first call of the derivative minus a second call.

Before each compile the per-function caches are cleared (compiled code,
parsed source, freshness checks of the source), so each time is a first
compile of that function; the derivative rules' parsed templates stay
warm, as in any program after its first compile.  Each time is the
minimum over ``--repeats`` runs (other processes only ever add time).

With ``--base DIR`` the same measurements run in a subprocess for each of
``DIR`` (another checkout, e.g. ``git archive main | tar -x -C DIR``) and
this tree, alternating, so both columns see the same machine load.
"""
import argparse
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIMIT_MS = 50.0
# --clock cpu: the CPU time of the measuring process (time.process_time),
# which leaves out the time spent waiting for a core on a loaded machine
_CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
_clock = _CLOCKS[os.environ.get("AD_TRANSFORM_TIME_CLOCK", "wall")]


def clear_caches():
    """Forget every per-function cache (names that a tree lacks are skipped,
    so older checkouts can be measured too)."""
    from ad_compiler import compiler
    from ad_compiler.transforms.frontend import parse
    compiler._CACHE.clear()
    for name in ("_CHECKED", "_FILE_TREES", "_PARSED", "_MADE"):
        cache = getattr(parse, name, None)
        if cache is not None:
            cache.clear()
    try:
        from ad_compiler.transforms.ad import sequences
        sequences._RETURNS_SEQUENCE.clear()
    except (ImportError, AttributeError):
        pass
    try:
        from ad_compiler import api
        api._SIGNATURES.clear()
    except AttributeError:
        pass


def _timed(thunk):
    clear_caches()
    gc.collect()
    t0 = _clock()
    try:
        thunk()
    except Exception:           # a refusal: the time to refuse
        pass
    return _clock() - t0


def _first_minus_second(make):
    """The first call of a derivative made by ``make()`` minus a second one."""
    clear_caches()
    gc.collect()
    d, args = make()
    t0 = _clock()
    try:
        d(*args)
    except Exception:           # a refusal: the time to refuse
        return _clock() - t0
    t1 = _clock()
    d(*args)
    t2 = _clock()
    return max(0.0, (t1 - t0) - (t2 - t1))


def corpus_thunks():
    """(case, mode) -> a function returning its compile time in seconds."""
    import ad_compiler as ad
    from tests.corpus import CASES
    out = {}
    for name in sorted(CASES):
        c = CASES[name]
        fn = c.target()
        wrt = tuple(c.diff)
        if c.out == "scalar" and "grad" not in c.exclude:
            args = c.make_args()

            def rev(fn=fn, wrt=wrt, c=c, args=args):
                return _first_minus_second(
                    lambda: (ad.grad(fn, wrt=wrt, has_aux=c.has_aux), args))
            out[(name, "grad")] = rev
        if not c.has_aux:
            out[(name, "vjp")] = lambda fn=fn, wrt=wrt: _timed(
                lambda: ad.source(fn, mode="vjp", wrt=wrt))
            out[(name, "fwd")] = lambda fn=fn, wrt=wrt: _timed(
                lambda: ad.source(fn, mode="fwd", wrt=wrt))
    return out


def _import_example(name):
    import importlib.util
    path = os.path.join(ROOT, "examples", name + ".py")
    spec = importlib.util.spec_from_file_location("_tt_" + name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def model_thunks():
    """model -> a function returning its transform time in seconds."""
    import numpy as np
    import ad_compiler as ad
    from benchmarks import workloads
    out = {}
    for w in workloads.WORKLOADS:
        if w.size != "small":
            continue
        out[f"workloads.{w.fn_name}"] = lambda w=w: _first_minus_second(
            lambda: (ad.grad(w.fn, wrt=w.wrt), w.make(0)))

    maml = _import_example("maml")
    rng = np.random.default_rng(0)
    mw = rng.normal(scale=0.5, size=3 * maml.HIDDEN + 1)
    mbatch = maml.tasks(rng, 2)
    out["examples/maml.meta_loss (grad of grad)"] = lambda: _first_minus_second(
        lambda: (ad.grad(maml.meta_loss, wrt=("w", "lr")), (mw, 0.05) + tuple(mbatch)))

    ef = _import_example("energy_force")
    rng = np.random.default_rng(1)
    grid = np.array([[0.0, 0.0], [1.2, 0.0], [0.0, 1.2]])
    configs = [grid + rng.normal(scale=0.15, size=(3, 2)) for _ in range(2)]
    targets = [np.zeros((3, 2)) for _ in configs]
    theta = np.array([1.0, 1.2, 1.0])
    out["examples/energy_force.force_loss (grad of grad)"] = lambda: _first_minus_second(
        lambda: (ad.grad(ef.force_loss), (theta, configs, targets)))

    nh = _import_example("newton_hessian")
    X, y = nh.make_data()
    out["examples/newton_hessian.loss (hessian)"] = lambda: _first_minus_second(
        lambda: (ad.hessian(nh.loss), (np.zeros(X.shape[1]), X, y, 1e-2)))

    bo = _import_example("bouncing_oscillator")
    out["examples/bouncing_oscillator.mean_sq_position"] = lambda: _first_minus_second(
        lambda: (ad.grad(bo.mean_sq_position, wrt=("c", "state0")),
                 (0.3, np.array([1.0, 0.0]), bo.STIFFNESS, bo.DT, 20)))

    tr = _import_example("tiny_rnn")
    rng = np.random.default_rng(0)
    rargs = (rng.normal(size=(4, 3)), rng.normal(size=(4, 4)), rng.normal(size=4),
             rng.normal(size=4), rng.normal(size=(6, 3)), rng.normal(size=6))
    out["examples/tiny_rnn.rnn_loss (value_and_grad)"] = lambda: _first_minus_second(
        lambda: (ad.value_and_grad(tr.rnn_loss, wrt=(0, 1, 2, 3)), rargs))

    md = _import_example("mlp_digits")
    params = md.init_params(8, 16, 4)
    Xd = rng.random((10, 8))
    Yd = np.eye(4)[rng.integers(0, 4, 10)]
    out["examples/mlp_digits.loss (dict parameters)"] = lambda: _first_minus_second(
        lambda: (ad.grad(md.loss), (params, Xd, Yd)))
    return out


def worker(repeats):
    """Measure this tree (the current directory); JSON on stdout."""
    sys.path.insert(0, os.getcwd())
    import ad_compiler.transforms as t
    assert os.path.dirname(os.path.dirname(os.path.abspath(t.__file__))) == os.getcwd(), \
        f"imported {t.__file__}, not the tree in {os.getcwd()}"
    import ad_compiler as ad
    ad.grad(lambda x: x * x)(1.0)      # (load the rules once: not a transform)
    corpus = corpus_thunks()
    models = model_thunks()
    gc.collect()
    gc.freeze()         # (the corpus and the rules: a cheap gc.collect() per measurement)
    result = {"corpus": {}, "models": {}}
    for _ in range(repeats):
        for key, thunk in corpus.items():
            k = f"{key[0]}\t{key[1]}"
            result["corpus"][k] = min(result["corpus"].get(k, float("inf")), thunk())
        for key, thunk in models.items():
            result["models"][key] = min(result["models"].get(key, float("inf")), thunk())
    return result


def measure(tree, repeats, clock="wall"):
    """Run the worker of this script inside ``tree`` (its own package)."""
    env = dict(os.environ, PYTHONHASHSEED="0", OPENBLAS_NUM_THREADS="1",
               OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONPATH=tree,
               AD_TRANSFORM_TIME_CLOCK=clock)
    code = ("import runpy, sys; sys.path.insert(0, %r); sys.argv = ['transform_time', "
            "'--worker', '--repeats', %r]; runpy.run_path(%r, run_name='__main__')"
            % (tree, str(repeats), os.path.abspath(__file__)))
    proc = subprocess.run([sys.executable, "-c", code], cwd=tree, env=env,
                          capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"worker in {tree} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _merge(into, new):
    for part in ("corpus", "models"):
        for k, v in new[part].items():
            into[part][k] = min(into[part].get(k, float("inf")), v)


def _summary(times_ms):
    return (statistics.median(times_ms), max(times_ms),
            sum(1 for t in times_ms if t > LIMIT_MS), len(times_ms))


def _git_describe(tree):
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=tree,
                              capture_output=True, text=True).stdout.strip() or "?"
    except OSError:
        return "?"


def report(columns, repeats, clock="wall"):
    """Markdown: per mode median / max / count over 50 ms, and the models."""
    L = []
    names = list(columns)
    L.append("# Transform time")
    L.append("")
    L.append(f"- Python {platform.python_version()}, {platform.machine()}, "
             f"{os.cpu_count()} cores (shared); minimum of {repeats} runs per function "
             f"and mode, each from cleared per-function caches; "
             f"{'wall clock' if clock == 'wall' else 'CPU time of the measuring process'}; "
             f"`python -m benchmarks.transform_time` (see its docstring).")
    L.append("")
    L.append("## Corpus (`tests/corpus.py`), per mode")
    L.append("")
    head = ["mode", "cases"]
    for n in names:
        head += [f"{n}: median", f"{n}: max", f"{n}: > {LIMIT_MS:.0f} ms"]
    L.append("| " + " | ".join(head) + " |")
    L.append("|" + "---|" * 2 + "---:|" * (3 * len(names)))
    modes = ["grad", "vjp", "fwd", "all"]
    for mode in modes:
        row = [mode, None]
        for n in names:
            times = [v * 1e3 for k, v in columns[n]["corpus"].items()
                     if mode == "all" or k.split("\t")[1] == mode]
            med, mx, over, count = _summary(times)
            row[1] = str(count)
            row += [f"{med:.1f} ms", f"{mx:.0f} ms", str(over)]
        L.append("| " + " | ".join(row) + " |")
    L.append("")
    L.append("Slowest corpus functions (" + names[-1] + "):")
    L.append("")
    last = columns[names[-1]]["corpus"]
    L.append("| case [mode] | " + " | ".join(names) + " |")
    L.append("|---|" + "---:|" * len(names))
    for k in sorted(last, key=last.get, reverse=True)[:12]:
        case, mode = k.split("\t")
        L.append(f"| {case} [{mode}] | " + " | ".join(
            f"{columns[n]['corpus'].get(k, float('nan')) * 1e3:.0f} ms" for n in names) + " |")
    L.append("")
    L.append("## Models (first call of the derivative minus a second call)")
    L.append("")
    L.append("| model | " + " | ".join(names) + " |")
    L.append("|---|" + "---:|" * len(names))
    for k in columns[names[-1]]["models"]:
        L.append(f"| {k} | " + " | ".join(
            f"{columns[n]['models'].get(k, float('nan')) * 1e3:.1f} ms" for n in names) + " |")
    return "\n".join(L) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base", help="another checkout to measure side by side (before)")
    p.add_argument("--base-label", help="what --base is (default: its git commit)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--clock", choices=sorted(_CLOCKS), default="wall",
                   help="wall clock (default) or the CPU time of the measuring process "
                        "(steadier on a shared, loaded machine)")
    p.add_argument("--out", help="write the markdown report here")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    opts = p.parse_args(argv)
    if opts.worker:
        print(json.dumps(worker(opts.repeats)))
        return 0
    trees = {}
    if opts.base:
        trees[f"before ({opts.base_label or _git_describe(opts.base)})"] = \
            os.path.abspath(opts.base)
    trees[f"after ({_git_describe(ROOT)})" if opts.base else "this tree"] = ROOT
    columns = {n: {"corpus": {}, "models": {}} for n in trees}
    for r in range(opts.repeats):           # alternate the trees
        for n, tree in (trees.items() if r % 2 == 0 else reversed(list(trees.items()))):
            print(f"run {r + 1}/{opts.repeats}: {n}", file=sys.stderr, flush=True)
            _merge(columns[n], measure(tree, 1, opts.clock))
    text = report(columns, opts.repeats, opts.clock)
    print(text)
    if opts.out:
        with open(opts.out, "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
