"""Fence fuzzing: random functions with constructs of every kind go through grad.

Programs come from ``progen.fence_programs()``: the grammar of
``tests/progen.py`` with foreign statements and expressions mixed in (try,
with, yield, global, nonlocal, lambda, comprehensions, del, class, match,
walrus, nested async def, starred targets and displays, f-strings, dict/set
displays, nested defs, exec/eval, chained comparisons, ellipsis slices,
assert/raise, item assignment, aliasing + in-place updates, list mutation,
annotated assignment, while-else, ``out=`` arguments, in-place methods,
unregistered NumPy functions, math-module calls, ...).

The only acceptable outcomes of ``grad`` are

* a correct derivative (central finite differences, as in
  ``test_random_programs.py``), or
* ``CompileError`` whose ``lineno`` lies inside a function of the temp file
  and whose message names the file.

Anything else (KeyError, AttributeError, an AssertionError or TypeError
from inside ad_compiler, a NameError in generated code, a wrong derivative,
a non-numeric function such as a generator being accepted) fails and prints
the program.  A program that raises when run as plain Python is discarded
(``assume``).  Deterministic (``derandomize=True``); the number of programs
tried and the outcomes are printed (``pytest -s``) and recorded as test
properties.

``test_fence_fuzz`` uses the whole grammar and is expected to hit known bugs
(``test_random_programs.KNOWN_BUGS`` plus BUG-13..15b below);
``test_fence_fuzz_avoiding_known_bugs`` leaves their constructs out and must
pass.
"""
import collections
import os
import sys
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, assume, given, settings

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

import progen  # noqa: E402

REDUCE = os.environ.get("PROGEN_REDUCE") == "1"
STRUCTURAL = os.environ.get("PROGEN_STRUCTURAL") == "1"   # see test_random_programs
N_FULL = 100
N_AVOID = 200

SETTINGS = dict(deadline=None, derandomize=True, database=None,
                phases=[Phase.explicit, Phase.generate] + (
                    [Phase.shrink] if os.environ.get("PROGEN_SHRINK") == "1" else []),
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                       HealthCheck.data_too_large])

# Bugs found by fence fuzzing (constructs the compiler accepts but gets wrong);
# see also test_random_programs.KNOWN_BUGS (BUG-7, -8, -9 came from here too).
FENCE_BUGS = {
    "BUG-13": (
        "in-place method arr.sort() on an active array passes through "
        "untouched: reverse-mode gradients land on the unsorted positions",
        """\
import numpy as np


def f(x):
    v = x * 1.0
    v.sort()
    return v[0]
""", (np.array([0.3, -0.2, 0.1]),)),
    "BUG-14": (
        "ufunc out= argument (np.add(x, 1.0, out=buf)): the write into buf is "
        "invisible to AD: derivative silently zero in every mode",
        """\
import numpy as np


def f(x):
    buf = np.zeros(3)
    np.add(x, 1.0, out=buf)
    return np.sum(buf * buf)
""", (np.array([0.3, -0.2, 0.1]),)),
    "BUG-15": (
        "augmented assignment through an alias (y = z; y += 0.5) mutates the "
        "shared array in Python, but the compiler rebinds y only: wrong value "
        "and derivative of later reads of z (also when z is an argument)",
        """\
import numpy as np


def f(x):
    z = x * 1.0
    y = z
    y += 0.5
    return np.sum(z * z)
""", (np.array([0.3, -0.2, 0.1]),)),
    "BUG-15b": (
        "in-place write through a slice view (v = y[1:]; v[0] = 2.0) is not "
        "seen by later reads of y: wrong value and derivative in every mode "
        "(same with y[None], and inside a helper through a view of its "
        "argument)",
        """\
import numpy as np


def f(x):
    y = x * 1.0
    v = y[1:]
    v[0] = 2.0
    return np.sum(y * y)
""", (np.array([0.3, 0.5, 0.9]),)),
}


def _fuzz(cfg, n, record_property, label):
    counts = collections.Counter()
    t0 = time.time()

    @settings(max_examples=n, **SETTINGS)
    @given(prog=progen.fence_programs(cfg, structural=STRUCTURAL))
    def run(prog):
        counts["tried"] += 1
        try:
            outcome = progen.check_fence_program(prog)
        except progen.Discard:
            counts["discarded"] += 1
            assume(False)
        except progen.Mismatch as m:
            counts["failed"] += 1
            if REDUCE:
                red = progen.minimize(prog, fence=True)
                if red is not None:
                    raise progen.Mismatch(f"{m}\n--- reduced ({red[1]}) ---\n{red[0].source}",
                                          m.sig) from None
            raise
        counts[outcome] += 1

    try:
        run()
    finally:
        summary = (f"{label}: {counts['tried']} programs tried, {counts['ok']} correct "
                   f"derivatives, {counts['refused']} well-located CompileErrors, "
                   f"{counts['discarded']} discarded (fail as plain Python), "
                   f"{counts['failed']} failing, {time.time() - t0:.1f}s")
        print("\n" + summary)
        record_property("fence_fuzz", summary)
    # the run must have exercised both outcomes substantially
    assert counts["ok"] + counts["refused"] >= 0.8 * n, summary
    assert counts["ok"] >= 0.2 * n and counts["refused"] >= 0.1 * n, summary


@pytest.mark.xfail(strict=False, raises=progen.Mismatch,
                   reason="the full grammar hits known bugs (first BUG-14; also BUG-3, "
                          "-4, -6, -7, -9, -12, -15)")
def test_fence_fuzz(record_property):
    _fuzz(progen.FENCE_CFG, N_FULL, record_property, "fence fuzz (full grammar)")


def test_fence_fuzz_avoiding_known_bugs(record_property):
    _fuzz(progen.FENCE_EXPLORE_CFG, N_AVOID, record_property,
          "fence fuzz (avoiding known bugs)")


FIXED_FENCE_BUGS = {"BUG-13", "BUG-14", "BUG-15", "BUG-15b"}     # see test_random_programs.FIXED_BUGS


@pytest.mark.parametrize("bug", [
    pytest.param(k, id=k, marks=() if k in FIXED_FENCE_BUGS else
                 pytest.mark.xfail(strict=True, raises=progen.Mismatch, reason=v[0]))
    for k, v in FENCE_BUGS.items()])
def test_fence_known_bug(bug):
    _, source, args = FENCE_BUGS[bug]
    prog = progen.program_from_source(source, args)
    progen.check_fence_program(prog, modes=("grad", "vjp", "jvp"))


def test_refusals_point_at_the_temp_file():
    """A construct that must be refused is refused at its own line of the
    generated temp file (sanity check of the oracle itself)."""
    src = ("import numpy as np\n\n\n"
           "def f(x):\n"
           "    y = x * 2.0\n"
           "    try:\n"
           "        y = y + 1.0\n"
           "    except ValueError:\n"
           "        pass\n"
           "    return np.sum(y)\n")
    prog = progen.program_from_source(src, (np.array([0.5, 1.5]),))
    assert progen.check_fence_program(prog) == "refused"
    fn, path = progen.load(prog)
    try:
        from ad_compiler import CompileError, grad
        with pytest.raises(CompileError) as info:
            grad(fn)(np.array([0.5, 1.5]))
        assert info.value.lineno == 6
        assert os.path.basename(path) in str(info.value)
    finally:
        progen.unload(path)
