"""The benchmark suite in benchmarks/ is correct (nothing here is timed).

* every hand-written gradient matches central finite differences;
* ad_compiler's gradient matches the hand-written one;
* the runner runs end to end (tiny repeat count, small workloads only) and
  writes its results; the chart only when matplotlib is installed.
"""
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import handwritten, workloads  # noqa: E402

SMALL = [w for w in workloads.WORKLOADS if w.size == "small"]
FD_STEP = 1e-6
FD_RTOL = 1e-6
AD_RTOL = 1e-9


def _shift(args, p, i, delta):
    x = args[p]
    if isinstance(x, np.ndarray):
        new = x.copy()
        new.reshape(-1)[i] += delta
    else:
        new = float(x) + delta
    return args[:p] + (new,) + args[p + 1:]


def central_fd(fn, args, p):
    """Central finite-difference gradient of scalar ``fn`` w.r.t. ``args[p]``."""
    x = np.asarray(args[p], dtype=np.float64)
    g = np.empty(x.size)
    for i in range(x.size):
        h = FD_STEP * max(1.0, abs(float(x.reshape(-1)[i])))
        g[i] = (fn(*_shift(args, p, i, h)) - fn(*_shift(args, p, i, -h))) / (2 * h)
    return g.reshape(x.shape)


def assert_close(got, want, rtol, what):
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    scale = max(1.0, float(np.max(np.abs(want)))) if want.size else 1.0
    err = float(np.max(np.abs(got - want))) if want.size else 0.0
    assert err <= rtol * scale, f"{what}: max abs error {err:.3g} (scale {scale:.3g})"


def test_every_workload_has_a_hand_written_gradient_and_two_sizes():
    names = {w.fn_name for w in workloads.WORKLOADS}
    assert names == set(handwritten.GRADIENTS)
    for name in names:
        assert {w.size for w in workloads.WORKLOADS if w.fn_name == name} == {"small", "large"}


@pytest.mark.parametrize("w", SMALL, ids=lambda w: w.fn_name)
def test_hand_written_gradient_matches_finite_differences(w):
    args = w.make(0)
    grads = handwritten.GRADIENTS[w.fn_name](*args)
    assert len(grads) == len(w.wrt)
    for p, g in zip(w.wrt, grads):
        assert_close(g, central_fd(w.fn, args, p), FD_RTOL, f"{w.name} d/d arg {p}")


@pytest.mark.parametrize("w", SMALL, ids=lambda w: w.fn_name)
def test_hand_written_gradient_matches_at_another_point(w):
    """A second seed, so a lucky input cannot hide a wrong formula."""
    args = w.make(1)
    grads = handwritten.GRADIENTS[w.fn_name](*args)
    for p, g in zip(w.wrt, grads):
        assert_close(g, central_fd(w.fn, args, p), FD_RTOL, f"{w.name} d/d arg {p}")


@pytest.mark.parametrize("w", SMALL, ids=lambda w: w.fn_name)
def test_ad_compiler_matches_hand_written(w):
    from ad_compiler import grad
    args = w.make(0)
    ours = grad(w.fn, wrt=w.wrt)(*args)
    ref = handwritten.GRADIENTS[w.fn_name](*args)
    assert isinstance(ours, tuple) and len(ours) == len(ref)
    for p, a, b in zip(w.wrt, ours, ref):
        assert_close(a, b, AD_RTOL, f"{w.name} d/d arg {p}")


def test_plain_function_is_unchanged_by_the_benchmark_copy():
    """The runner's autograd copy of workloads.py computes the same values."""
    pytest.importorskip("autograd")
    from benchmarks import run
    mod = run.load_workloads_with("autograd.numpy")
    for w in SMALL:
        args = w.make(0)
        assert float(getattr(mod, w.fn_name)(*args)) == pytest.approx(
            float(w.fn(*args)), rel=1e-12)


def _run_benchmark(tmp_path, *extra):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--quick", "--sizes", "small",
         "--repeats", "1", "--target-ms", "1", "--overhead-ms", "5",
         "--outdir", str(tmp_path), *extra],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc


def test_runner_end_to_end(tmp_path):
    # JAX is left out here: jit-compiling the 200-step unrolled RNN alone
    # takes seconds (test_runner_with_jax covers the JAX path).
    _run_benchmark(tmp_path, "--systems", "plain,hand,ours,autograd,torch")
    md = (tmp_path / "results.md").read_text(encoding="utf-8")
    assert "AMD" in md or "Intel" in md or "CPU:" in md
    assert "NumPy" in md
    for w in SMALL:
        assert f"| {w.fn_name} | {w.dims} |" in md, w.name
    data = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert [r["name"] for r in data["rows"]] == [w.name for w in SMALL]
    for row in data["rows"]:
        assert not row["errors"], row["errors"]
        assert row["check"]["ours"] is not None and row["check"]["ours"] < 1e-6, row
        for s in ("plain", "hand", "ours"):
            assert row["time_s"][s] > 0
        assert row["memory_bytes"]["ours"] > 0
        assert row["ours_transform_s"] >= 0
    has_mpl = importlib.util.find_spec("matplotlib") is not None
    assert (tmp_path / "chart.png").exists() == has_mpl
    assert not list(tmp_path.glob("*.tmp"))


def test_runner_with_jax(tmp_path):
    pytest.importorskip("jax")
    _run_benchmark(tmp_path, "--systems", "ours,jax", "--workloads",
                   "logistic,while", "--no-chart")
    data = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    rows = {r["name"]: r for r in data["rows"]}
    assert set(rows) == {"logistic/small", "while/small"}
    assert rows["logistic/small"]["jax_compile_s"] >= 0
    assert rows["logistic/small"]["check"]["jax"] < 1e-6
    assert "jax" in rows["while/small"]["notes"]        # not jittable: timed eagerly
    assert not (tmp_path / "chart.png").exists()
