"""benchmarks/profile.py: a fast smoke run and the NumPy-call counter.

Nothing here checks a timing; only what must hold whatever the machine: the
cProfile categories add up to the profiled time, the counts are positive,
and the profiled and counted functions compute the right gradient.
"""
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import handwritten, workloads  # noqa: E402
from benchmarks import profile as bprofile  # noqa: E402


def _counted(x, y):
    z = np.exp(x) * 2.0 + x[0]      # ufunc, operator, operator, indexing
    z += y.T @ y                    # view, operator, in-place operator
    s = z.sum()                     # array method
    n = len(z) + 1                  # no NumPy
    return s * n                    # operator on a NumPy scalar


def test_counter_counts_each_numpy_operation_once():
    x, y = np.linspace(0.0, 1.0, 4), np.arange(3.0)
    counter, out = bprofile.count_numpy_calls(_counted, (x, y))
    assert out == _counted(x, y)
    kinds = counter.by_kind()
    assert kinds[bprofile.K_UFUNC] == 1
    assert kinds[bprofile.K_METHOD] == 1
    assert kinds[bprofile.K_OP] == 4            # *, +, @, +=
    assert kinds[bprofile.K_SCALAR] == 1
    assert kinds[bprofile.K_INDEX] == 1
    assert kinds[bprofile.K_VIEW] == 1
    assert counter.total() == 9
    names = counter.by_name()
    assert names["np.exp"] == 1 and names["ndarray.sum"] == 1 and names["a @ b"] == 1


def test_profile_one_small_workload(tmp_path):
    out = tmp_path / "profile.md"
    opts = bprofile.parse_args(["--workloads", "logistic/small", "--out", str(out),
                                "--repeats", "1", "--target-ms", "1", "--profile-ms", "50",
                                "--overhead-ms", "5"])
    results, md = bprofile.run_profile(opts, log=lambda msg: None)
    assert [r["name"] for r in results] == ["logistic/small"]
    row = results[0]

    # every gradient that was profiled, counted or timed matched the hand-written one
    assert row["checks"] and all(err is not None and err < 1e-6
                                 for err in row["checks"].values()), row["checks"]

    # the categories (and the items) add up to the profiled time
    total = row["profiled_s"]
    assert total > 0 and row["profiled_calls"] >= 5
    cat_sum = sum(v["seconds"] for v in row["categories"].values())
    assert abs(cat_sum / total - 1.0) < 0.01
    assert abs(sum(r["seconds"] for r in row["callees"]) / total - 1.0) < 0.01
    assert all(r["seconds"] >= 0 and r["calls"] >= 0 for r in row["callees"])
    assert row["categories"][bprofile.BODY]["seconds"] > 0

    # NumPy calls per gradient
    ours, hand = row["counters"]["ours"].total(), row["counters"]["hand"].total()
    assert ours > 0 and hand > 0
    assert ours >= hand          # the hand-written gradients compute only what they need
    assert all(t > 0 for t in row["time_s"].values())

    # the report
    text = out.read_text(encoding="utf-8")
    assert text.strip() == md.strip()
    assert "## logistic/small" in text
    assert f"NumPy calls per gradient: ours {ours:,}, hand-written {hand:,}" in text
    assert not list(tmp_path.glob("*.tmp"))


def test_profiled_copy_computes_the_gradient():
    from ad_compiler import grad
    w = workloads.BY_NAME["mlp/small"]
    args = w.make(0)
    g = grad(w.fn, wrt=w.wrt)
    g(*args)
    copy = bprofile.profiled_copy(g._compiled().function)
    ref = handwritten.GRADIENTS[w.fn_name](*args)
    got = copy(*args)
    assert len(got) == len(ref)
    for a, b in zip(got, ref):
        assert np.allclose(a, b, rtol=1e-9, atol=1e-12)
