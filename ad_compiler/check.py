"""Translation validation of the clean-up passes (``AD_COMPILER_CHECK=1``).

With the environment variable ``AD_COMPILER_CHECK`` set to ``1`` when a
derivative is compiled, every generated function is produced twice: the
product (after the clean-up passes ``batch``, ``specialize`` and
``optimize``) and a reference without them.  Each call runs the reference
first, on copies of the arguments, then the product, and raises
``CheckError`` (an ``AssertionError``) when their results disagree: a
different structure (tuple/list/dict, keys, lengths, ``None``), shape or
dtype, NaN or infinity at different places, integers that differ, or floats
further apart than ``|a - b| <= rtol * (|b| + max |b| of the output)`` with
``rtol`` 1e-9 for float64 (1e-4 float32, 1e-2 float16); the message names
the function, the mode, the output that differs and the largest absolute
and relative difference.

Every entry point is covered: ``grad``, ``value_and_grad``, ``jvp`` and
``jacobian(mode="fwd")`` (one checked function), ``vjp`` and
``jacobian(mode="rev")`` (the forward sweep is checked on its output and
returns both sweeps' saved values, the pullback runs the reference backward
sweep on the reference's saved values, then the product's, and compares the
cotangents), ``hessian`` (the gradient is checked when it is called; its
forward-mode derivative, compiled from the product's code, is checked in
turn).  The reference program calls the references of the functions it
calls, the product their products, so one call checks the whole program
once, recursion included.

Costs: each call runs twice (plus argument copies); code that draws random
numbers or has side effects runs them twice.  Entries compiled without the
variable stay unchecked (the cache keys include the flag).
"""
import functools
import inspect
import os
import warnings

import numpy as np

from ad_compiler.errors import CheckError

ENV = "AD_COMPILER_CHECK"


def enabled():
    return os.environ.get(ENV, "").strip() not in ("", "0")


_RTOL = {8: 1e-9, 4: 1e-4, 2: 1e-2}


def _copy(x, memo=None):
    """Copies of the arrays and containers of the arguments (an object
    passed twice is copied once; other objects, e.g. a model instance, are
    shared)."""
    memo = {} if memo is None else memo
    if id(x) in memo:
        return memo[id(x)]
    if isinstance(x, np.ndarray):
        out = x.copy()
    elif type(x) is dict:
        out = {k: _copy(v, memo) for k, v in x.items()}
    elif type(x) is list:
        out = [_copy(v, memo) for v in x]
    elif type(x) is tuple:
        out = tuple(_copy(v, memo) for v in x)
    else:
        return x
    memo[id(x)] = out
    return out


def _leaf_error(ref, out):
    """None if two leaves agree, else a description of how they differ."""
    if ref is None or out is None:
        return None if ref is out else f"{_kind(ref)} vs {_kind(out)}"
    if not _numeric(ref) or not _numeric(out):
        if _numeric(ref) != _numeric(out):
            return f"{_kind(ref)} vs {_kind(out)}"
        try:
            same = bool(ref == out) or ref is out
        except Exception:           # objects without a truth value of ==
            same = True
        return None if same else f"{ref!r} vs {out!r}"
    a, b = np.asarray(ref), np.asarray(out)
    if a.shape != b.shape:
        return f"shape {a.shape} vs {b.shape}"
    if a.dtype != b.dtype:
        return f"dtype {a.dtype} vs {b.dtype}"
    if a.dtype.kind not in "fc":
        if a.dtype.kind in "biu" and not np.array_equal(a, b):
            diff = np.abs(a.astype(np.float64) - b.astype(np.float64))
            return f"values differ (max abs difference {diff.max():.3g})"
        return None
    nan_a, nan_b = np.isnan(a), np.isnan(b)
    if not np.array_equal(nan_a, nan_b):
        where = np.argwhere(nan_a != nan_b)[0]
        return f"NaN at different places (first at index {tuple(where)})"
    inf_a, inf_b = np.isinf(a), np.isinf(b)
    if not np.array_equal(inf_a, inf_b) or not np.array_equal(a[inf_a], b[inf_b]):
        where = np.argwhere((inf_a != inf_b) | (inf_a & (a != b)))
        where = tuple(where[0]) if len(where) else ()
        return f"infinities differ (first at index {where})"
    ok = ~(nan_a | inf_a)
    if not ok.any():
        return None
    a, b = a[ok], b[ok]
    rtol = _RTOL.get(a.real.dtype.itemsize, 1e-9)
    scale = np.abs(b)
    tol = rtol * (scale + scale.max())
    diff = np.abs(a - b)
    if np.all(diff <= tol):
        return None
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        rel = diff / np.maximum(np.abs(a), np.finfo(a.real.dtype).tiny)
    return (f"values differ: max abs difference {diff.max():.3g}, max relative "
            f"difference {rel.max():.3g} (rtol {rtol:g})")


def _numeric(x):
    return isinstance(x, (np.ndarray, np.generic, int, float, complex, bool))


def _kind(x):
    if isinstance(x, np.ndarray):
        return f"array {x.dtype}{list(x.shape)}"
    return type(x).__name__


def _compare(ref, out, path, problems):
    if isinstance(ref, dict) or isinstance(out, dict):
        if not (isinstance(ref, dict) and isinstance(out, dict)) or set(ref) != set(out):
            problems.append((path, f"{_describe_tree(ref)} vs {_describe_tree(out)}"))
            return
        for k in ref:
            _compare(ref[k], out[k], f"{path}[{k!r}]", problems)
        return
    if isinstance(ref, (tuple, list)) or isinstance(out, (tuple, list)):
        if type(ref) is not type(out) or len(ref) != len(out):
            problems.append((path, f"{_describe_tree(ref)} vs {_describe_tree(out)}"))
            return
        for i, (r, o) in enumerate(zip(ref, out)):
            _compare(r, o, f"{path}[{i}]", problems)
        return
    err = _leaf_error(ref, out)
    if err is not None:
        problems.append((path, err))


def _describe_tree(x):
    if isinstance(x, dict):
        return f"dict with keys {sorted(map(str, x))}"
    if isinstance(x, (tuple, list)):
        return f"{type(x).__name__} of length {len(x)}"
    return _kind(x)


def compare(name, what, ref, out):
    """Raise CheckError if ``ref`` (unoptimized) and ``out`` (optimized)
    disagree."""
    problems = []
    _compare(ref, out, "", problems)
    if problems:
        lines = [f"{ENV}: the optimized and the unoptimized code of '{name}' ({what}) "
                 f"disagree:"]
        for path, err in problems[:5]:
            lines.append(f"  output{path or ' (the whole result)'}: {err}")
        if len(problems) > 5:
            lines.append(f"  ... and {len(problems) - 5} more")
        lines.append("this is a bug of ad_compiler's clean-up passes (batch, specialize, "
                     "optimize); please report it with this function")
        raise CheckError("\n".join(lines))


def _run_reference(ref, args, kwargs, copies=True):
    """The reference's result, or the exception it raised."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if copies:
                memo = {}
                args, kwargs = _copy(args, memo), _copy(kwargs, memo)
            return ref(*args, **kwargs), None
        except Exception as exc:        # compared with the product's below
            return None, exc


def _both(name, what, ref, opt, args, kwargs):
    ref_out, ref_exc = _run_reference(ref, args, kwargs)
    try:
        out = opt(*args, **kwargs)
    except Exception as exc:
        if ref_exc is None:
            raise CheckError(f"{ENV}: the optimized code of '{name}' ({what}) raised "
                             f"{type(exc).__name__}: {exc}, the unoptimized code did "
                             f"not") from exc
        raise
    if ref_exc is not None:
        raise CheckError(f"{ENV}: the unoptimized code of '{name}' ({what}) raised "
                         f"{type(ref_exc).__name__}: {ref_exc}, the optimized code did "
                         f"not") from ref_exc
    return ref_out, out


class _Saved:
    """What a checked forward sweep hands its backward sweep: the saved
    values of both programs."""

    __slots__ = ("opt", "ref")

    def __init__(self, opt, ref):
        self.opt, self.ref = opt, ref


def checked(opt, ref, kind, what):
    """A function that runs ``ref`` and ``opt`` and compares them.  ``kind``:
    "function" (grad, value_and_grad, jvp), "fwd" (returns ``(out, saved)``)
    or "bwd" (takes ``(saved, cotangent)``)."""
    name = opt.__name__

    if kind == "fwd":
        def run(*args, **kwargs):
            (ref_out, ref_saved), (out, saved) = _both(name, what, ref, opt, args, kwargs)
            compare(name, what, ref_out, out)
            return out, _Saved(saved, ref_saved)
    elif kind == "bwd":
        def run(saved, cotangent):
            if not isinstance(saved, _Saved):
                raise CheckError(f"{ENV}: the backward sweep '{name}' got saved values "
                                 f"that its checked forward sweep did not produce")
            # (the saved values are the reference's own, views included: the
            # sweep may restore overwritten inputs in place, then redo them)
            ref_out, ref_exc = _run_reference(ref, (saved.ref, _copy(cotangent)), {},
                                              copies=False)
            out = opt(saved.opt, cotangent)
            if ref_exc is not None:
                raise CheckError(f"{ENV}: the unoptimized code of '{name}' ({what}) raised "
                                 f"{type(ref_exc).__name__}: {ref_exc}, the optimized "
                                 f"code did not") from ref_exc
            compare(name, what, ref_out, out)
            return out
    else:
        def run(*args, **kwargs):
            ref_out, out = _both(name, what, ref, opt, args, kwargs)
            compare(name, what, ref_out, out)
            return out
    functools.update_wrapper(run, opt)
    del run.__wrapped__                 # (not a decorator: compile_function reads opt)
    run.__signature__ = inspect.signature(opt)
    run.__ad_checked__ = (opt, ref)
    run.__ad_trampoline__ = lambda: opt     # generated code transformed again reads opt
    run.__ad_recheck__ = lambda o, r: checked(o, r, kind, what)     # (codegen.rebind)
    return run


def variant(obj, which):
    """The object generated code of one variant (0: product, 1: reference)
    reads in place of ``obj``: the matching variant of a checked function."""
    pair = getattr(obj, "__ad_checked__", None)
    if pair is not None:
        return pair[which]
    if hasattr(obj, "__ad_trampoline__") and hasattr(obj, "args"):    # recursion
        return _VariantTrampoline(obj, which)
    return obj


class _VariantTrampoline:
    def __init__(self, trampoline, which):
        self.trampoline, self.which = trampoline, which
        self.__name__ = trampoline.__name__

    def __call__(self, *args, **kwargs):
        return variant(self.trampoline.__ad_trampoline__(), self.which)(*args, **kwargs)

    def __ad_trampoline__(self):
        return variant(self.trampoline.__ad_trampoline__(), 0)
