"""The compiler refuses what it cannot differentiate, pointing at the user's line.

The cases live in ``tests/error_cases.py``; the expected line of each is found
by scanning that file for ``# ERROR: <tag>`` markers (see its docstring).
"""
import asyncio
import inspect
import re
import sys
import traceback
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import error_cases as ec  # noqa: E402

CASES_FILE = Path(ec.__file__).resolve()
_MARKER = re.compile(r"#\s*ERROR:\s*([A-Za-z0-9_]+)\s*$")

# Constructs the brief requires a case for (tags of error_cases.py).
REQUIRED_STRICT = {
    "generator", "yield_from", "try_except", "with", "global", "nonlocal",
    "exec", "eval", "async_def", "await", "del", "class_def",
    "starred_assign", "match", "walrus", "for_else",
}
REQUIRED_MAYBE = {"lambda", "nested_def", "fft"}


def _scan_markers():
    """tag -> {absolute line number: code text of the line, comment removed}"""
    found = defaultdict(dict)
    text = CASES_FILE.read_text(encoding="utf-8")
    for lineno, line in enumerate(text.splitlines(), start=1):
        m = _MARKER.search(line)
        if m:
            found[m.group(1)][lineno] = line[:m.start()].strip()
    return dict(found)


MARKERS = _scan_markers()


@pytest.fixture(scope="module")
def ad():
    import ad_compiler
    return ad_compiler


def _describe(exc):
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


def _call_grad(ad, case):
    """grad(fn, wrt)(*args): returns ("ok", gradient) or ("error", exception).

    Any exception other than CompileError fails the test right here, with its
    traceback: an internal KeyError/AttributeError/... must never escape.
    """
    try:
        g = ad.grad(case.fn, wrt=case.wrt)(*case.args)
    except ad.CompileError as exc:
        return "error", exc
    except Exception as exc:  # noqa: BLE001 - that is the point of the test
        pytest.fail(
            f"grad({case.fn.__name__}) raised {type(exc).__name__} instead of "
            f"CompileError:\n{_describe(exc)}")
    return "ok", g


def _check_compile_error(exc, case):
    marked = MARKERS[case.tag]
    msg = str(exc)
    assert exc.filename is not None and str(exc.filename).endswith(
        "error_cases.py"), f"filename={exc.filename!r}\n{msg}"
    assert exc.lineno in marked, (
        f"{case.tag}: CompileError points at line {exc.lineno}, expected one "
        f"of {sorted(marked)}\n{msg}")
    code = marked[exc.lineno]
    assert code in msg, (
        f"{case.tag}: the message does not quote the offending line "
        f"{code!r}:\n{msg}")
    assert re.search(rf"(?<!\d){exc.lineno}(?!\d)", msg), (
        f"{case.tag}: the message does not show line number {exc.lineno}:\n{msg}")
    assert isinstance(exc.col_offset, int), f"col_offset={exc.col_offset!r}"
    full_line = CASES_FILE.read_text(encoding="utf-8").splitlines()[exc.lineno - 1]
    assert 0 <= exc.col_offset <= len(full_line), f"col_offset={exc.col_offset}"


def _central_fd(fn, args, wrt=0, eps=1e-6):
    x = np.array(args[wrt], dtype=float)
    g = np.zeros_like(x)
    flat, gflat = x.reshape(-1), g.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        hi = fn(*[x.copy() if k == wrt else a for k, a in enumerate(args)])
        flat[i] = old - eps
        lo = fn(*[x.copy() if k == wrt else a for k, a in enumerate(args)])
        flat[i] = old
        gflat[i] = (hi - lo) / (2 * eps)
    return g


# --------------------------------------------------------------------------
# Consistency of error_cases.py itself (runs without the compiler).
# --------------------------------------------------------------------------

def test_every_case_has_markers_and_every_marker_a_case():
    tags = [c.tag for c in ec.STRICT_CASES + ec.MAYBE_SUPPORTED]
    assert len(tags) == len(set(tags)), "duplicate case tags"
    assert set(tags) == set(MARKERS), (
        f"cases without markers: {set(tags) - set(MARKERS)}; "
        f"markers without cases: {set(MARKERS) - set(tags)}")
    assert REQUIRED_STRICT <= {c.tag for c in ec.STRICT_CASES}
    assert REQUIRED_MAYBE <= {c.tag for c in ec.MAYBE_SUPPORTED}


@pytest.mark.parametrize("case", ec.STRICT_CASES + ec.MAYBE_SUPPORTED,
                         ids=lambda c: c.tag)
def test_markers_lie_inside_the_case_function(case):
    lines, start = inspect.getsourcelines(case.fn)
    for lineno in MARKERS[case.tag]:
        assert start <= lineno < start + len(lines), (
            f"marker line {lineno} is outside {case.fn.__name__} "
            f"(lines {start}..{start + len(lines) - 1})")


@pytest.mark.parametrize("case", ec.STRICT_CASES + ec.MAYBE_SUPPORTED,
                         ids=lambda c: c.tag)
def test_case_runs_as_plain_python(case):
    """The cases are real code: under plain Python they run without error."""
    out = case.fn(*case.args)
    if inspect.isgenerator(out):
        out = sum(out)
    elif inspect.iscoroutine(out):
        out = asyncio.run(out)
    assert np.ndim(out) == 0 and np.isfinite(out)


# --------------------------------------------------------------------------
# Refusals.
# --------------------------------------------------------------------------

@pytest.mark.parametrize("case", ec.STRICT_CASES, ids=lambda c: c.tag)
def test_strict_case_is_refused_at_its_line(ad, case):
    outcome, value = _call_grad(ad, case)
    assert outcome == "error", (
        f"grad({case.fn.__name__}) should raise CompileError, returned {value!r}")
    _check_compile_error(value, case)


@pytest.mark.parametrize("case", ec.MAYBE_SUPPORTED, ids=lambda c: c.tag)
def test_maybe_supported_case_is_right_or_refused(ad, case):
    outcome, value = _call_grad(ad, case)
    if outcome == "error":
        _check_compile_error(value, case)
        return
    expected = _central_fd(case.fn, case.args, case.wrt)
    got = np.asarray(value, dtype=float)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_strict_case_refused_again_on_second_call(ad):
    """A cached failed compile must keep failing the same way."""
    case = ec.STRICT_CASES[0]
    first = _call_grad(ad, case)
    second = _call_grad(ad, case)
    assert first[0] == second[0] == "error"
    assert first[1].lineno == second[1].lineno


# --------------------------------------------------------------------------
# API misuse.
# --------------------------------------------------------------------------

def _expect(ad, excs, thunk):
    """Run thunk; it must raise one of excs (anything else fails loudly)."""
    try:
        thunk()
    except excs as exc:
        return exc
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"expected {excs}, got {type(exc).__name__}:\n{_describe(exc)}")
    pytest.fail(f"expected {excs}, nothing was raised")


def test_function_without_source(ad):
    exc = _expect(ad, ad.CompileError,
                  lambda: ad.grad(ec.no_source_loss)(ec.X3))
    msg = str(exc).lower()
    assert "source" in msg, str(exc)
    # ... and says what to do about it.
    assert any(w in msg for w in ("define", "file", "def ", "module")), str(exc)


def test_wrt_index_out_of_range(ad):
    exc = _expect(ad, (TypeError, ValueError),
                  lambda: ad.grad(ec.two_param_loss, wrt=5)(*ec.TWO_PARAM_ARGS))
    msg = str(exc)
    assert "5" in msg, msg
    assert ("2" in msg or ("weights" in msg and "bias" in msg)), (
        f"message should say how many / which parameters there are: {msg}")


def test_wrt_unknown_name(ad):
    exc = _expect(ad, (TypeError, ValueError),
                  lambda: ad.grad(ec.two_param_loss, wrt="nope")(*ec.TWO_PARAM_ARGS))
    msg = str(exc)
    assert "nope" in msg, msg
    assert "weights" in msg and "bias" in msg, (
        f"message should name the parameters: {msg}")


def test_non_scalar_output(ad):
    exc = _expect(ad, (TypeError, ValueError),
                  lambda: ad.grad(ec.vector_valued)(ec.X3))
    assert "scalar" in str(exc).lower(), str(exc)


@pytest.mark.parametrize(
    "fn, args, wrt",
    [
        (ec.power_sum, (ec.X3, 3), 1),
        (ec.int_array_loss, (np.arange(4),), 0),
    ],
    ids=["python_int", "int_array"],
)
def test_integer_argument(ad, fn, args, wrt):
    exc = _expect(ad, (TypeError, ValueError),
                  lambda: ad.grad(fn, wrt=wrt)(*args))
    assert "int" in str(exc).lower(), str(exc)


def test_no_rule_messages_name_the_numpy_function(ad):
    """A ufunc method is named as written (not 'ufunc.reduce'), and a NumPy
    function implemented in Python (np.polyfit, an array-function dispatcher)
    gets the plain 'no derivative rule' message, not the functools-cache hint
    to call its __wrapped__."""
    with pytest.raises(ad.CompileError) as info:
        ad.grad(ec.product_by_ufunc_reduce)(ec.X3)
    assert "no derivative rule for numpy.multiply.reduce()" in str(info.value)
    with pytest.raises(ad.CompileError) as info:
        ad.grad(ec.quadratic_fit_residual)(ec.X3)
    msg = str(info.value)
    assert "no derivative rule for numpy.polyfit()" in msg
    assert "__wrapped__" not in msg and "cache" not in msg
