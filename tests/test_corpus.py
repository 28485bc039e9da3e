"""Corpus tests: every case x every applicable mode of the public API.

Each derivative computed by ``ad_compiler`` is compared with central finite
differences (``reference.fd_*``) AND with HIPS autograd run on the same source
(``reference.ag_*``) where the case runs under autograd.  Test ids are the
case names, e.g. ``test_grad[logistic_loss]``.

``ad_compiler`` is imported inside the tests (``_ad()``), so collection and
the corpus/reference self-checks work while the package is incomplete.
"""
import ast
import copy
import inspect
import os
import sys
import types

import numpy as np
import pytest

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

import corpus  # noqa: E402
import reference as ref  # noqa: E402
from corpus import CASES  # noqa: E402

# autograd and ad_compiler should agree to near machine precision
AG_RTOL, AG_ATOL = 1e-7, 1e-9
# FD Hessians (FD of an FD gradient) are noisier than FD Jacobians
HESS_FD_FACTOR = 10.0
# the primal value computed by the API vs. plain NumPy
VALUE_RTOL, VALUE_ATOL = 1e-10, 1e-12


def _ad():
    import ad_compiler
    return ad_compiler


# --------------------------------------------------------------------------
# parametrization
# --------------------------------------------------------------------------

def _params(mode, extra=None):
    """One pytest.param per case that has ``mode``; excluded modes are
    shown as skipped with the reason instead of disappearing."""
    out = []
    for name, c in CASES.items():
        if mode not in c.applicable_modes:
            continue
        if extra is not None and not extra(c):
            continue
        marks = ()
        if mode in c.exclude:
            marks = (pytest.mark.skip(reason=f"{mode} excluded for {name}: "
                                      f"{c.notes or 'see corpus'}"),)
        out.append(pytest.param(name, id=name, marks=marks))
    return out


def _multi_diff(c):
    return len(c.diff) >= 2


def _has_const_arg(c):
    return len(c.diff) < len(c.make_args())


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

def _snapshot(args):
    return copy.deepcopy(args)


def _assert_unchanged(args, snap):
    assert len(args) == len(snap)
    for i, (a, s) in enumerate(zip(args, snap)):
        assert type(a) is type(s), f"argument {i} changed type"
        if isinstance(s, np.ndarray):
            assert a.shape == s.shape and a.dtype == s.dtype, \
                f"argument {i} changed shape/dtype"
            assert np.array_equal(a, s), f"argument {i} was mutated in place"
        else:
            assert a == s, f"argument {i} was rebound/mutated"


def _random_like(value, rng):
    """A random tangent / cotangent with the shape of ``value``."""
    if isinstance(value, np.ndarray) and value.ndim > 0:
        return rng.standard_normal(value.shape)
    if isinstance(value, np.ndarray):
        return np.asarray(rng.standard_normal(), dtype=np.float64)
    return float(rng.standard_normal())


def _rng(name, salt):
    import zlib
    return np.random.default_rng(zlib.crc32(f"{name}/{salt}".encode()))


def _check_shape_dtype(value, like, what):
    expected = np.shape(like)
    assert np.shape(value) == expected, \
        f"{what}: shape {np.shape(value)} != expected {expected}"
    arr = np.asarray(value)
    assert arr.dtype == np.float64, f"{what}: dtype {arr.dtype} != float64"


def _compare(actual, refs, case, what, hessian=False):
    """Compare with every available reference ('fd' and maybe 'autograd')."""
    actual = np.asarray(actual, dtype=np.float64)
    for src, expected in refs.items():
        if src == "fd":
            factor = HESS_FD_FACTOR if hessian else 1.0
            rtol, atol = case.rtol * factor, case.atol * factor
        else:
            rtol, atol = AG_RTOL, AG_ATOL
        np.testing.assert_allclose(
            actual, expected, rtol=rtol, atol=atol,
            err_msg=f"{case.name}: {what} disagrees with the {src} reference")


def _check_value(value, case):
    expected = ref.primal(case.name)
    assert np.shape(value) == np.shape(expected), \
        f"{case.name}: primal output shape {np.shape(value)} != {np.shape(expected)}"
    np.testing.assert_allclose(np.asarray(value, dtype=np.float64), expected,
                               rtol=VALUE_RTOL, atol=VALUE_ATOL,
                               err_msg=f"{case.name}: primal output differs")


def _param_names(fn):
    return list(inspect.signature(fn).parameters)


# --------------------------------------------------------------------------
# corpus and reference sanity (independent of ad_compiler)
# --------------------------------------------------------------------------

_REQUIRED_TAGS = ("arith", "broadcast", "pyfloat", "ufunc", "kink", "reduce",
                  "linalg", "shape", "index", "method", "attr", "control",
                  "loop", "while", "return", "augassign", "unpack", "call",
                  "realistic", "nondiff")


def test_corpus_size_and_coverage():
    assert len(CASES) >= 110
    for tag in _REQUIRED_TAGS:
        n = sum(tag in c.tags for c in CASES.values())
        assert n >= 2, f"only {n} corpus case(s) tagged {tag!r}"
    assert sum(c.out == "scalar" for c in CASES.values()) >= 40
    assert sum(c.out == "array" for c in CASES.values()) >= 40


_FORBIDDEN_NODES = (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp,
                    ast.GeneratorExp, ast.List, ast.Set, ast.Try, ast.With,
                    ast.Global, ast.Nonlocal, ast.Yield, ast.YieldFrom,
                    ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef,
                    ast.Delete, ast.Await)


def _lint_function(fn, seen):
    """The corpus only uses constructs in the compiler's first scope."""
    if fn in seen:
        return
    seen.add(fn)
    tree = ast.parse(inspect.getsource(fn))
    fdef = tree.body[0]
    assert isinstance(fdef, ast.FunctionDef) and not fdef.decorator_list, \
        f"{fn.__name__}: must be a plain undecorated def"
    for stmt in fdef.body:
        for node in ast.walk(stmt):
            assert not isinstance(node, _FORBIDDEN_NODES), \
                f"{fn.__name__}: uses {type(node).__name__} (not in corpus scope)"
            targets = []
            if isinstance(node, ast.Assign):
                targets = node.targets
            elif isinstance(node, ast.AugAssign):
                targets = [node.target]
            for t in targets:
                for sub in ast.walk(t):
                    assert not isinstance(sub, (ast.Subscript, ast.Attribute)), \
                        f"{fn.__name__}: writes into an element/attribute"
            if isinstance(node, ast.Name):
                assert node.id != "_np", f"{fn.__name__}: use np, not _np"
                target = fn.__globals__.get(node.id)
                if (isinstance(target, types.FunctionType)
                        and target.__module__ == corpus.__name__):
                    _lint_function(target, seen)


@pytest.mark.parametrize("name", [pytest.param(n, id=n) for n in CASES])
def test_corpus_case_well_formed(name):
    c = CASES[name]
    assert c.fn.__module__ == corpus.__name__
    assert c.fn.__qualname__ == c.fn.__name__, "must be module level"
    assert getattr(corpus, c.fn.__name__) is c.fn
    _lint_function(c.fn, set())
    args = c.make_args()
    again = c.make_args()
    for a, b in zip(args, again):
        assert np.array_equal(a, b), "argument factory is not deterministic"
        if isinstance(a, np.ndarray):
            assert a is not b, "make_args must return fresh arrays"
    for p in c.diff:
        assert isinstance(args[p], (float, np.ndarray))
        if isinstance(args[p], np.ndarray):
            assert args[p].dtype == np.float64
    snap = _snapshot(args)
    out = c.fn(*args)
    _assert_unchanged(args, snap)
    assert np.asarray(out).dtype == np.float64
    assert np.all(np.isfinite(out))
    if c.out == "scalar":
        assert np.ndim(out) == 0
    else:
        assert np.ndim(out) >= 1


@pytest.mark.parametrize("name", [pytest.param(n, id=n) for n in CASES])
def test_reference_self_consistency(name):
    """FD and autograd agree; the ``autograd`` flag is truthful."""
    c = CASES[name]
    if c.autograd:
        for p in c.diff:
            fd, ag = ref.fd_jac(name, p), ref.ag_jac(name, p)
            assert fd.shape == ag.shape == np.shape(ref.primal(name)) + np.shape(
                c.make_args()[p])
            np.testing.assert_allclose(ag, fd, rtol=c.rtol, atol=c.atol,
                                       err_msg=f"{name}: FD vs autograd, arg {p}")
            if "hessian" in c.applicable_modes:
                fh, ah = ref.fd_hess(name, p), ref.ag_hess(name, p)
                np.testing.assert_allclose(
                    ah, fh, rtol=c.rtol * HESS_FD_FACTOR,
                    atol=c.atol * HESS_FD_FACTOR,
                    err_msg=f"{name}: FD vs autograd Hessian, arg {p}")
    else:
        assert c.autograd_reason
        failures = 0
        for p in c.diff:
            try:
                ref.autograd_jacobian_uncached(name, p)
            except Exception:
                failures += 1
        assert failures, (f"{name} is flagged autograd=False "
                          f"({c.autograd_reason}) but autograd runs it")
        for p in c.diff:                       # FD alone must still work
            assert np.all(np.isfinite(ref.fd_jac(name, p)))


# --------------------------------------------------------------------------
# the public API
# --------------------------------------------------------------------------

@pytest.mark.parametrize("name", _params("grad"))
def test_grad(name):
    ad = _ad()
    c = CASES[name]
    args = c.make_args()
    snap = _snapshot(args)
    for p in c.diff:
        g = ad.grad(c.fn, wrt=p)(*args)
        _check_shape_dtype(g, args[p], f"grad wrt {p}")
        _compare(g, ref.jacobians(name, p), c, f"grad wrt {p}")
    _assert_unchanged(args, snap)


@pytest.mark.parametrize("name", _params("grad"))
def test_grad_wrt_name(name):
    ad = _ad()
    c = CASES[name]
    args = c.make_args()
    snap = _snapshot(args)
    names = _param_names(c.fn)
    p = c.diff[-1]
    g = ad.grad(c.fn, wrt=names[p])(*args)
    _check_shape_dtype(g, args[p], f"grad wrt {names[p]!r}")
    _compare(g, ref.jacobians(name, p), c, f"grad wrt {names[p]!r}")
    _assert_unchanged(args, snap)


@pytest.mark.parametrize("name", _params("grad", _multi_diff))
def test_grad_wrt_tuple(name):
    ad = _ad()
    c = CASES[name]
    args = c.make_args()
    snap = _snapshot(args)
    names = _param_names(c.fn)
    by_index = tuple(c.diff)
    by_name_reversed = tuple(names[p] for p in reversed(c.diff))
    for wrt in (by_index, by_name_reversed):
        gs = ad.grad(c.fn, wrt=wrt)(*args)
        assert isinstance(gs, tuple) and len(gs) == len(wrt), \
            f"grad(wrt={wrt!r}) must return a tuple of {len(wrt)} gradients"
        for w, g in zip(wrt, gs):
            p = names.index(w) if isinstance(w, str) else w
            _check_shape_dtype(g, args[p], f"grad wrt {wrt!r}[{w!r}]")
            _compare(g, ref.jacobians(name, p), c, f"grad wrt {wrt!r}[{w!r}]")
    _assert_unchanged(args, snap)


@pytest.mark.parametrize("name", _params("value_and_grad"))
def test_value_and_grad(name):
    ad = _ad()
    c = CASES[name]
    args = c.make_args()
    snap = _snapshot(args)
    for p in c.diff:
        v, g = ad.value_and_grad(c.fn, wrt=p)(*args)
        _check_value(v, c)
        _check_shape_dtype(g, args[p], f"value_and_grad wrt {p}")
        _compare(g, ref.jacobians(name, p), c, f"value_and_grad wrt {p}")
    if len(c.diff) >= 2:
        v, gs = ad.value_and_grad(c.fn, wrt=tuple(c.diff))(*args)
        _check_value(v, c)
        assert isinstance(gs, tuple) and len(gs) == len(c.diff)
        for p, g in zip(c.diff, gs):
            _check_shape_dtype(g, args[p], f"value_and_grad tuple wrt {p}")
            _compare(g, ref.jacobians(name, p), c, f"value_and_grad tuple wrt {p}")
    _assert_unchanged(args, snap)


def _run_jvp(name, const_tangent):
    ad = _ad()
    c = CASES[name]
    args = c.make_args()
    snap = _snapshot(args)
    rng = _rng(name, "jvp")
    tangents = tuple(_random_like(a, rng) if p in c.diff else const_tangent
                     for p, a in enumerate(args))
    tsnap = _snapshot(tangents)
    out, tout = ad.jvp(c.fn, args, tangents)
    _check_value(out, c)
    _check_shape_dtype(tout, ref.primal(name), "jvp tangent output")
    _compare(tout, ref.expected_jvp(name, tangents), c, "jvp")
    _assert_unchanged(args, snap)
    _assert_unchanged(tangents, tsnap)


@pytest.mark.parametrize("name", _params("jvp"))
def test_jvp(name):
    _run_jvp(name, None)


@pytest.mark.parametrize("name", _params("jvp", _has_const_arg))
def test_jvp_zero_tangent_for_constants(name):
    _run_jvp(name, 0)


@pytest.mark.parametrize("name", _params("vjp"))
def test_vjp(name):
    ad = _ad()
    c = CASES[name]
    args = c.make_args()
    snap = _snapshot(args)
    out, pullback = ad.vjp(c.fn, *args)
    _check_value(out, c)
    rng = _rng(name, "vjp")
    expected_out = ref.primal(name)
    # call the pullback twice with different cotangents: it must be reusable
    for k in range(2):
        ct = _random_like(np.asarray(expected_out), rng)
        if np.ndim(expected_out) == 0:
            ct = float(ct)
        ctsnap = _snapshot((ct,))
        cts = pullback(ct)
        _assert_unchanged((ct,), ctsnap)
        assert isinstance(cts, tuple) and len(cts) == len(args), \
            "pullback must return one cotangent per primal"
        expected = ref.expected_vjp(name, ct)
        for p, a in enumerate(args):
            if p in c.diff:
                _check_shape_dtype(cts[p], a, f"vjp call {k} cotangent {p}")
                _compare(cts[p], expected[p], c, f"vjp call {k} cotangent {p}")
            else:
                assert cts[p] is None or np.all(np.asarray(cts[p]) == 0), \
                    f"cotangent of constant argument {p} must be None or zeros"
    _assert_unchanged(args, snap)


def _run_jacobian(name, mode):
    ad = _ad()
    c = CASES[name]
    args = c.make_args()
    snap = _snapshot(args)
    out_shape = np.shape(ref.primal(name))
    for p in c.diff:
        J = ad.jacobian(c.fn, wrt=p, mode=mode)(*args)
        expected_shape = out_shape + np.shape(args[p])
        assert np.shape(J) == expected_shape, \
            f"jacobian({mode}) wrt {p}: shape {np.shape(J)} != {expected_shape}"
        assert np.asarray(J).dtype == np.float64
        _compare(J, ref.jacobians(name, p), c, f"jacobian({mode}) wrt {p}")
    _assert_unchanged(args, snap)


@pytest.mark.parametrize("name", _params("jacobian_rev"))
def test_jacobian_rev(name):
    _run_jacobian(name, "rev")


@pytest.mark.parametrize("name", _params("jacobian_fwd"))
def test_jacobian_fwd(name):
    _run_jacobian(name, "fwd")


@pytest.mark.parametrize("name", _params("hessian"))
def test_hessian(name):
    ad = _ad()
    c = CASES[name]
    args = c.make_args()
    snap = _snapshot(args)
    for p in c.diff:
        H = ad.hessian(c.fn, wrt=p)(*args)
        expected_shape = np.shape(args[p]) * 2
        assert np.shape(H) == expected_shape, \
            f"hessian wrt {p}: shape {np.shape(H)} != {expected_shape}"
        assert np.asarray(H).dtype == np.float64
        _compare(H, ref.hessians(name, p), c, f"hessian wrt {p}", hessian=True)
    _assert_unchanged(args, snap)


@pytest.mark.parametrize("name", _params("grad"))
def test_source(name):
    ad = _ad()
    c = CASES[name]
    df = ad.grad(c.fn, wrt=c.diff[0])
    src = ad.source(df)
    assert isinstance(src, str) and src.strip()
    ast.parse(src)
