"""Corpus tests: every case x every applicable mode of the public API.

Each derivative computed by ``ad_compiler`` is compared with central finite
differences (``reference.fd_*``) AND with HIPS autograd run on the same source
(``reference.ag_*``) where the case runs under autograd.  Test ids are the
case names, e.g. ``test_grad[logistic_loss]``.

Arguments, gradients, tangents, cotangents and outputs may be pytrees
(dicts/lists/tuples of arrays and floats): they are compared leaf by leaf
(structure including dict keys and list-vs-tuple, then shape, dtype and
values of every leaf).  Method cases differentiate a bound method
(``Case.target()``); the receiver object must not be modified either.

``ad_compiler`` is imported inside the tests (``_ad()``), so collection and
the corpus/reference self-checks work while the package is incomplete.
"""
import ast
import contextlib
import copy
import inspect
import os
import sys
import textwrap
import types

import numpy as np
import pytest

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

import corpus  # noqa: E402
import reference as ref  # noqa: E402
from corpus import CASES  # noqa: E402
from reference import tree_flatten, tree_map  # noqa: E402

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
                                      f"{c.skip_reason(mode)}"),)
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


def _assert_same(a, s, what):
    """``a`` is exactly the snapshot ``s`` (recursively for containers)."""
    assert type(a) is type(s), f"{what} changed type"
    if isinstance(s, np.ndarray):
        assert a.shape == s.shape and a.dtype == s.dtype, \
            f"{what} changed shape/dtype"
        assert np.array_equal(a, s), f"{what} was mutated in place"
    elif isinstance(s, dict):
        assert list(a) == list(s), f"{what}: keys were added/removed"
        for k in s:
            _assert_same(a[k], s[k], f"{what}[{k!r}]")
    elif isinstance(s, (list, tuple)):
        assert len(a) == len(s), f"{what}: length changed"
        for i, (x, y) in enumerate(zip(a, s)):
            _assert_same(x, y, f"{what}[{i}]")
    else:
        assert a == s, f"{what} was rebound/mutated"


def _assert_unchanged(args, snap):
    assert len(args) == len(snap)
    for i, (a, s) in enumerate(zip(args, snap)):
        _assert_same(a, s, f"argument {i}")


@contextlib.contextmanager
def _case(name):
    """Set up one corpus case; afterwards check that neither the arguments
    nor the receiver object were modified."""
    c = CASES[name]
    args = c.make_args()
    snap = _snapshot(args)
    t = _Target(c)
    yield _ad(), c, args, t
    _assert_unchanged(args, snap)
    t.check_receiver()


class _Target:
    """The case's callable plus a snapshot of its receiver's state."""

    def __init__(self, c):
        self.fn = c.target()
        self.obj = getattr(self.fn, "__self__", None)
        self.state = copy.deepcopy(vars(self.obj)) if self.obj is not None else None

    def check_receiver(self):
        if self.obj is not None:
            now = vars(self.obj)
            assert set(now) == set(self.state), "the receiver's attributes changed"
            for k in self.state:
                _assert_same(now[k], self.state[k], f"receiver attribute {k!r}")


def _random_leaf(value, rng):
    if isinstance(value, np.ndarray) and value.ndim > 0:
        return rng.standard_normal(value.shape)
    if isinstance(value, np.ndarray):
        return np.asarray(rng.standard_normal(), dtype=np.float64)
    return float(rng.standard_normal())


def _random_like(value, rng):
    """A random tangent / cotangent with the structure and shapes of ``value``."""
    return tree_map(lambda v: _random_leaf(v, rng), value)


def _rng(name, salt):
    import zlib
    return np.random.default_rng(zlib.crc32(f"{name}/{salt}".encode()))


def _check_shape_dtype(value, like, what):
    """Same pytree structure as ``like``; every leaf float64 of its shape."""
    vleaves, vdef = tree_flatten(value)
    lleaves, ldef = tree_flatten(like)
    assert vdef == ldef, f"{what}: structure {vdef} != expected {ldef}"
    for i, (v, l) in enumerate(zip(vleaves, lleaves)):
        where = what if len(lleaves) == 1 else f"{what} leaf {i}"
        assert np.shape(v) == np.shape(l), \
            f"{where}: shape {np.shape(v)} != expected {np.shape(l)}"
        arr = np.asarray(v)
        assert arr.dtype == np.float64, f"{where}: dtype {arr.dtype} != float64"


def _compare(actual, refs, case, what, hessian=False):
    """Compare with every available reference ('fd' and maybe 'autograd'),
    leaf by leaf."""
    a_leaves, a_def = tree_flatten(actual)
    for src, expected in refs.items():
        e_leaves, e_def = tree_flatten(expected)
        assert a_def == e_def, \
            f"{case.name}: {what}: structure {a_def} != reference {e_def}"
        if src == "fd":
            factor = HESS_FD_FACTOR if hessian else 1.0
            rtol, atol = case.rtol * factor, case.atol * factor
        else:
            rtol, atol = AG_RTOL, AG_ATOL
        for i, (a, e) in enumerate(zip(a_leaves, e_leaves)):
            leaf = "" if len(e_leaves) == 1 else f" (leaf {i})"
            np.testing.assert_allclose(
                np.asarray(a, dtype=np.float64), e, rtol=rtol, atol=atol,
                err_msg=f"{case.name}: {what}{leaf} disagrees with the {src} reference")


def _check_tree_values(value, expected, what):
    v_leaves, v_def = tree_flatten(value)
    e_leaves, e_def = tree_flatten(expected)
    assert v_def == e_def, f"{what}: structure {v_def} != {e_def}"
    for i, (v, e) in enumerate(zip(v_leaves, e_leaves)):
        assert np.shape(v) == np.shape(e), \
            f"{what} (leaf {i}): shape {np.shape(v)} != {np.shape(e)}"
        if isinstance(e, (float, np.floating)) or (
                isinstance(e, np.ndarray) and e.dtype.kind == "f"):
            np.testing.assert_allclose(np.asarray(v, dtype=np.float64), e,
                                       rtol=VALUE_RTOL, atol=VALUE_ATOL,
                                       err_msg=f"{what} (leaf {i}) differs")
        else:
            assert np.array_equal(v, e), f"{what} (leaf {i}) differs"


def _check_value(value, case):
    _check_tree_values(value, ref.primal_out(case.name),
                       f"{case.name}: primal output")


def _check_aux(aux, case):
    _check_tree_values(aux, ref.primal_aux(case.name), f"{case.name}: aux")


def _param_names(fn):
    return list(inspect.signature(fn).parameters)


# --------------------------------------------------------------------------
# corpus and reference sanity (independent of ad_compiler)
# --------------------------------------------------------------------------

_REQUIRED_TAGS = ("arith", "broadcast", "pyfloat", "ufunc", "kink", "reduce",
                  "linalg", "shape", "index", "method", "attr", "control",
                  "loop", "while", "return", "augassign", "unpack", "call",
                  "realistic", "nondiff")

# the Python-coverage constructs: at least several cases each
_PYTHON_TAGS = ("inplace", "input_write", "container", "pytree", "tree_out",
                "zip_enumerate", "closure", "nested_def", "lambda", "condexpr",
                "comprehension", "recursion", "pymath", "builtin", "intarith",
                "boolops", "assert_print", "class", "aux", "stop_gradient")


def test_corpus_size_and_coverage():
    assert len(CASES) >= 230
    for tag in _REQUIRED_TAGS:
        n = sum(tag in c.tags for c in CASES.values())
        assert n >= 2, f"only {n} corpus case(s) tagged {tag!r}"
    for tag in _PYTHON_TAGS:
        n = sum(tag in c.tags for c in CASES.values())
        assert n >= 3, f"only {n} corpus case(s) tagged {tag!r}"
    assert sum(c.out == "scalar" for c in CASES.values()) >= 40
    assert sum(c.out == "array" for c in CASES.values()) >= 40
    assert sum(c.out == "tree" for c in CASES.values()) >= 3
    assert sum(c.is_method for c in CASES.values()) >= 3
    assert sum(c.mutates_args for c in CASES.values()) >= 3
    assert sum(c.has_aux for c in CASES.values()) >= 3
    assert sum(c.frozen is not None for c in CASES.values()) >= 3


# Constructs outside the compiler's scope (and so outside the corpus).
_FORBIDDEN_NODES = (ast.Set, ast.SetComp, ast.DictComp, ast.Try, ast.With,
                    ast.Global, ast.Nonlocal, ast.Yield, ast.YieldFrom,
                    ast.AsyncFunctionDef, ast.ClassDef, ast.Delete, ast.Await)


def _function_node(fn):
    tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    fdef = tree.body[0]
    assert isinstance(fdef, ast.FunctionDef) and not fdef.decorator_list, \
        f"{fn.__name__}: must be a plain undecorated def"
    return fdef


def _free_value(fn, ident):
    code = fn.__code__
    if ident in code.co_freevars and fn.__closure__:
        cell = fn.__closure__[code.co_freevars.index(ident)]
        try:
            return cell.cell_contents
        except ValueError:
            return None
    return fn.__globals__.get(ident)


def _is_corpus_function(obj):
    return (isinstance(obj, types.FunctionType) and obj.__name__ != "<lambda>"
            and obj.__module__ == corpus.__name__)


def _lint_function(fn, seen, cls=None, found=None):
    """The corpus only uses constructs in the compiler's scope.  Returns the
    set of notable constructs used (``'subscript_write'``)."""
    found = set() if found is None else found
    if fn in seen:
        return found
    seen.add(fn)
    fdef = _function_node(fn)
    for stmt in fdef.body:
        for node in ast.walk(stmt):
            assert not isinstance(node, _FORBIDDEN_NODES), \
                f"{fn.__name__}: uses {type(node).__name__} (not in corpus scope)"
            targets = []
            if isinstance(node, ast.Assign):
                targets = node.targets
            elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
                targets = [node.target]
            for t in targets:
                for sub in ast.walk(t):
                    assert not isinstance(sub, ast.Attribute), \
                        f"{fn.__name__}: writes into an attribute"
                    if isinstance(sub, ast.Subscript):
                        found.add("subscript_write")
            if isinstance(node, ast.Name):
                assert node.id != "_np", f"{fn.__name__}: use np, not _np"
                target = _free_value(fn, node.id)
                if _is_corpus_function(target):
                    _lint_function(target, seen, None, found)
            if (cls is not None and isinstance(node, ast.Attribute)
                    and isinstance(node.value, ast.Name) and node.value.id == "self"):
                target = cls.__dict__.get(node.attr)
                if _is_corpus_function(target):
                    _lint_function(target, seen, cls, found)
    return found


def _module_global_names(obj):
    return [k for k, v in vars(corpus).items() if v is obj]


def _check_definition_site(c):
    """Plain cases are module-level defs; closures come from module-level
    factories and are bound to a module-level name; methods belong to
    module-level classes.  Returns (function to lint, class or None)."""
    fn = c.fn
    if inspect.ismethod(fn):                     # a bound method
        assert c.receiver is None
        obj, func = fn.__self__, fn.__func__
        assert _module_global_names(obj), "receiver must be a module-level object"
        cls = type(obj)
        assert getattr(corpus, cls.__name__) is cls
        assert cls.__dict__.get(func.__name__) is func
        return func, cls
    assert fn.__module__ == corpus.__name__
    if c.receiver is not None:                   # fn defined in a class
        cls_name, _, meth = fn.__qualname__.partition(".")
        cls = getattr(corpus, cls_name)
        assert isinstance(cls, type) and cls.__dict__.get(meth) is fn, \
            f"{fn.__qualname__} must be a method of a module-level class"
        obj = c.target().__self__
        assert type(obj) is cls, "receiver factory must build the method's class"
        return fn, cls
    if "<locals>" in fn.__qualname__:            # a closure from a factory
        factory = fn.__qualname__.split(".<locals>.")[0]
        assert "." not in factory and isinstance(getattr(corpus, factory, None),
                                                 types.FunctionType), \
            "closures must come from a module-level factory"
        assert _module_global_names(fn), "the closure must be bound at module level"
        return fn, None
    assert fn.__qualname__ == fn.__name__, "must be module level"
    assert getattr(corpus, fn.__name__) is fn
    return fn, None


def _check_output_leaves(out, what):
    for leaf in tree_flatten(out)[0]:
        assert np.asarray(leaf).dtype == np.float64, f"{what}: non-float64 leaf"
        assert np.all(np.isfinite(leaf)), f"{what}: non-finite leaf"


@pytest.mark.parametrize("name", [pytest.param(n, id=n) for n in CASES])
def test_corpus_case_well_formed(name):
    c = CASES[name]
    fn, cls = _check_definition_site(c)
    found = _lint_function(fn, set(), cls)
    if "subscript_write" in found:
        assert "inplace" in c.tags, "writes into elements: tag the case 'inplace'"
    args = c.make_args()
    again = c.make_args()
    for i, (a, b) in enumerate(zip(args, again)):
        _assert_same(a, b, f"argument factory is not deterministic: argument {i}")
        for la, lb in zip(tree_flatten(a)[0], tree_flatten(b)[0]):
            if isinstance(la, np.ndarray):
                assert la is not lb, "make_args must return fresh arrays"
    for p in c.diff:
        for leaf in tree_flatten(args[p])[0]:
            assert isinstance(leaf, (float, np.ndarray))
            if isinstance(leaf, np.ndarray):
                assert leaf.dtype == np.float64
    snap = _snapshot(args)
    target = _Target(c)
    out = target.fn(*args)
    target.check_receiver()
    if c.mutates_args:
        with pytest.raises(AssertionError):
            _assert_unchanged(args, snap)   # the flag is truthful
    else:
        _assert_unchanged(args, snap)
    if c.has_aux:
        assert isinstance(out, tuple) and len(out) == 2, "has_aux: return (out, aux)"
        out = out[0]
    _check_output_leaves(out, name)
    if c.out == "scalar":
        assert not isinstance(out, (dict, list, tuple)) and np.ndim(out) == 0
    elif c.out == "array":
        assert isinstance(out, np.ndarray) and np.ndim(out) >= 1
    else:
        assert isinstance(out, (dict, list, tuple)), "out='tree' returns a container"
    if c.frozen is not None:
        # the frozen reference has the same value as the function
        f = c.frozen(*c.make_args())
        frozen_out = f(*c.make_args())
        if c.has_aux:
            frozen_out = frozen_out[0]
        _check_tree_values(frozen_out, out, f"{name}: frozen reference value")


@pytest.mark.parametrize("name", [pytest.param(n, id=n) for n in CASES])
def test_reference_self_consistency(name):
    """FD and autograd agree; the ``autograd`` flag is truthful."""
    c = CASES[name]
    if c.autograd:
        for p in c.diff:
            fd, ag = ref.fd_blk(name, p), ref.ag_blk(name, p)
            out_leaves = tree_flatten(ref.primal_out(name))[0]
            in_leaves = tree_flatten(c.make_args()[p])[0]
            assert len(fd) == len(ag) == len(out_leaves)
            for o, ol in enumerate(out_leaves):
                for k, il in enumerate(in_leaves):
                    assert fd[o][k].shape == ag[o][k].shape == \
                        np.shape(ol) + np.shape(il)
                    np.testing.assert_allclose(
                        ag[o][k], fd[o][k], rtol=c.rtol, atol=c.atol,
                        err_msg=f"{name}: FD vs autograd, arg {p}, block {o},{k}")
            if "hessian" in c.modes:
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
            for row in ref.fd_blk(name, p):
                for b in row:
                    assert np.all(np.isfinite(b))


# --------------------------------------------------------------------------
# the public API
# --------------------------------------------------------------------------

def _split_aux(result, c):
    """``grad(..., has_aux=True)`` returns ``(grad, aux)``."""
    if c.has_aux:
        assert isinstance(result, tuple) and len(result) == 2, \
            "grad(has_aux=True) must return (gradient, aux)"
        g, aux = result
        _check_aux(aux, c)
        return g
    return result


def _split_value_aux(value, c):
    """``value_and_grad(..., has_aux=True)`` returns ``((value, aux), grad)``."""
    if c.has_aux:
        assert isinstance(value, tuple) and len(value) == 2, \
            "value_and_grad(has_aux=True) must return ((value, aux), gradient)"
        value, aux = value
        _check_aux(aux, c)
    _check_value(value, c)


@pytest.mark.parametrize("name", _params("grad"))
def test_grad(name):
    with _case(name) as (ad, c, args, t):
        for p in c.diff:
            g = _split_aux(ad.grad(t.fn, wrt=p, has_aux=c.has_aux)(*args), c)
            _check_shape_dtype(g, args[p], f"grad wrt {p}")
            _compare(g, ref.gradients(name, p), c, f"grad wrt {p}")


@pytest.mark.parametrize("name", _params("grad"))
def test_grad_wrt_name(name):
    with _case(name) as (ad, c, args, t):
        names = _param_names(t.fn)
        p = c.diff[-1]
        g = _split_aux(ad.grad(t.fn, wrt=names[p], has_aux=c.has_aux)(*args), c)
        _check_shape_dtype(g, args[p], f"grad wrt {names[p]!r}")
        _compare(g, ref.gradients(name, p), c, f"grad wrt {names[p]!r}")


@pytest.mark.parametrize("name", _params("grad", _multi_diff))
def test_grad_wrt_tuple(name):
    with _case(name) as (ad, c, args, t):
        names = _param_names(t.fn)
        by_index = tuple(c.diff)
        by_name_reversed = tuple(names[p] for p in reversed(c.diff))
        for wrt in (by_index, by_name_reversed):
            gs = _split_aux(ad.grad(t.fn, wrt=wrt, has_aux=c.has_aux)(*args), c)
            assert isinstance(gs, tuple) and len(gs) == len(wrt), \
                f"grad(wrt={wrt!r}) must return a tuple of {len(wrt)} gradients"
            for w, g in zip(wrt, gs):
                p = names.index(w) if isinstance(w, str) else w
                _check_shape_dtype(g, args[p], f"grad wrt {wrt!r}[{w!r}]")
                _compare(g, ref.gradients(name, p), c, f"grad wrt {wrt!r}[{w!r}]")


@pytest.mark.parametrize("name", _params("value_and_grad"))
def test_value_and_grad(name):
    with _case(name) as (ad, c, args, t):
        for p in c.diff:
            v, g = ad.value_and_grad(t.fn, wrt=p, has_aux=c.has_aux)(*args)
            _split_value_aux(v, c)
            _check_shape_dtype(g, args[p], f"value_and_grad wrt {p}")
            _compare(g, ref.gradients(name, p), c, f"value_and_grad wrt {p}")
        if len(c.diff) >= 2:
            v, gs = ad.value_and_grad(t.fn, wrt=tuple(c.diff), has_aux=c.has_aux)(*args)
            _split_value_aux(v, c)
            assert isinstance(gs, tuple) and len(gs) == len(c.diff)
            for p, g in zip(c.diff, gs):
                _check_shape_dtype(g, args[p], f"value_and_grad tuple wrt {p}")
                _compare(g, ref.gradients(name, p), c, f"value_and_grad tuple wrt {p}")


def _run_jvp(name, const_tangent):
    ad = _ad()
    c = CASES[name]
    args = c.make_args()
    snap = _snapshot(args)
    t = _Target(c)
    rng = _rng(name, "jvp")
    tangents = tuple(_random_like(a, rng) if p in c.diff else const_tangent
                     for p, a in enumerate(args))
    tsnap = _snapshot(tangents)
    out, tout = ad.jvp(t.fn, args, tangents)
    _check_value(out, c)
    _check_shape_dtype(tout, ref.primal_out(name), "jvp tangent output")
    _compare(tout, ref.expected_jvp(name, tangents), c, "jvp")
    _assert_unchanged(args, snap)
    _assert_unchanged(tangents, tsnap)
    t.check_receiver()


@pytest.mark.parametrize("name", _params("jvp"))
def test_jvp(name):
    _run_jvp(name, None)


@pytest.mark.parametrize("name", _params("jvp", _has_const_arg))
def test_jvp_zero_tangent_for_constants(name):
    _run_jvp(name, 0)


@pytest.mark.parametrize("name", _params("vjp"))
def test_vjp(name):
    with _case(name) as (ad, c, args, t):
        out, pullback = ad.vjp(t.fn, *args)
        _check_value(out, c)
        rng = _rng(name, "vjp")
        expected_out = ref.primal_out(name)
        # call the pullback twice with different cotangents: it must be reusable
        for k in range(2):
            if isinstance(expected_out, (dict, list, tuple)):
                ct = _random_like(expected_out, rng)
            else:
                ct = _random_leaf(np.asarray(expected_out), rng)
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


def _run_jacobian(name, mode):
    ad = _ad()
    c = CASES[name]
    args = c.make_args()
    snap = _snapshot(args)
    t = _Target(c)
    out_shape = np.shape(ref.primal_out(name))
    for p in c.diff:
        J = ad.jacobian(t.fn, wrt=p, mode=mode)(*args)
        expected_shape = out_shape + np.shape(args[p])
        assert np.shape(J) == expected_shape, \
            f"jacobian({mode}) wrt {p}: shape {np.shape(J)} != {expected_shape}"
        assert np.asarray(J).dtype == np.float64
        _compare(J, ref.jacobians(name, p), c, f"jacobian({mode}) wrt {p}")
    _assert_unchanged(args, snap)
    t.check_receiver()


@pytest.mark.parametrize("name", _params("jacobian_rev"))
def test_jacobian_rev(name):
    _run_jacobian(name, "rev")


@pytest.mark.parametrize("name", _params("jacobian_fwd"))
def test_jacobian_fwd(name):
    _run_jacobian(name, "fwd")


@pytest.mark.parametrize("name", _params("hessian"))
def test_hessian(name):
    with _case(name) as (ad, c, args, t):
        for p in c.diff:
            H = ad.hessian(t.fn, wrt=p)(*args)
            expected_shape = np.shape(args[p]) * 2
            assert np.shape(H) == expected_shape, \
                f"hessian wrt {p}: shape {np.shape(H)} != {expected_shape}"
            assert np.asarray(H).dtype == np.float64
            _compare(H, ref.hessians(name, p), c, f"hessian wrt {p}", hessian=True)


@pytest.mark.parametrize("name", _params("grad"))
def test_source(name):
    ad = _ad()
    c = CASES[name]
    df = ad.grad(c.target(), wrt=c.diff[0], has_aux=c.has_aux)
    src = ad.source(df)
    assert isinstance(src, str) and src.strip()
    ast.parse(src)
