"""The registry walk: every rule of every primitive against finite differences.

For each primitive of ``ad_compiler.registry`` (test id = its qualified
name) every spec naming it in ``tests/rule_specs.py`` or a
``tests/rule_specs_*.py`` module (format documented in ``rule_specs.py``) is
written into a real module file and checked through the public API:

* reverse rule: ``vjp`` pulled back with a random cotangent, and ``grad`` of
  ``sum(real(W * f(...)))`` with random weights ``W``;
* forward rule: ``jvp`` with random tangents (and its primal value);
* ``order=2``: ``hessian`` of the same scalar function (forward over
  reverse, so it also exercises the forward rules of the runtime helpers the
  reverse rule calls) against central differences of our own gradient;
* ``test_rule_third_order``: one spec of every primitive (two for
  reductions: one over a trailing axis) one order up, ``jvp`` of its
  ``hessian``, and the jvp and grad of a function that calls ``jvp`` of it
  (the forward rule differentiated again), against central differences.

Everything is compared with a central-difference Jacobian in float64.
Complex arguments follow autograd's convention (gradient = dL/dRe - 1j dL/dIm).
A primitive with no spec fails (runtime helpers are exempt: the hessian
checks cover their forward rules).  ``test_float32_reverse`` and
``test_float32_forward`` check that elementwise rules keep float32 float32.
"""
import importlib
import importlib.util
import os
import re
import sys
import zlib

import numpy as np
import pytest

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)


# --------------------------------------------------------------------------
# loading the specs
# --------------------------------------------------------------------------

def _spec_modules():
    names = ["rule_specs"] + sorted(
        f[:-3] for f in os.listdir(_HERE)
        if f.startswith("rule_specs_") and f.endswith(".py"))
    mods = []
    for name in names:
        try:
            mods.append(importlib.import_module(name))
        except ImportError as exc:  # optional dependency (scipy) missing
            print(f"test_rules: skipping {name}: {exc}")
    return mods


def _load_specs():
    out = []
    for mod in _spec_modules():
        header = getattr(mod, "HEADER", "import numpy as np\n")
        for i, spec in enumerate(mod.SPECS):
            out.append((f"{mod.__name__}[{i}]", header, spec))
    return out


SPECS = _load_specs()


def _resolve(name):
    """The object a dotted name refers to, or None if it does not exist."""
    parts = name.split(".")
    if parts[0] == "builtins":
        import builtins
        return getattr(builtins, parts[1], None)
    for k in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:k]))
        except ImportError:
            continue
        for p in parts[k:]:
            obj = getattr(obj, p, None)
            if obj is None:
                return None
        return obj
    return None


def _builtin(prim):
    """A primitive whose rules ship with ad_compiler (user rules registered by
    other tests are not walked)."""
    return any((getattr(t, "__module__", "") or "").startswith("ad_compiler.rules")
               for t in (prim.reverse, prim.forward) if t is not None)


def _primitives():
    import ad_compiler  # noqa: F401  (registers the rules)
    from ad_compiler import registry
    return registry, [p for p in registry.all_primitives() if _builtin(p)]


def _specs_by_primitive():
    registry, prims = _primitives()
    by_prim = {id(p): [] for p in registry.all_primitives()}
    skipped = {}
    unresolved = []
    for sid, header, spec in SPECS:
        obj = _resolve(spec["name"])
        if obj is None:
            unresolved.append((sid, spec["name"], "does not exist here"))
            continue
        prim = registry.lookup(obj)
        if prim is None:
            unresolved.append((sid, spec["name"], "is not a registered primitive"))
            continue
        if spec.get("skip"):
            skipped.setdefault(id(prim), []).append(f"{sid}: {spec['skip']}")
            continue
        by_prim[id(prim)].append((sid, header, spec))
    return prims, by_prim, skipped, unresolved


PRIMS, BY_PRIM, SKIPPED, UNRESOLVED = _specs_by_primitive()


def _exempt(prim):
    mod = getattr(prim.fn, "__module__", "") or ""
    return mod.startswith("ad_compiler.runtime")


# --------------------------------------------------------------------------
# probes for core capabilities some specs need
# --------------------------------------------------------------------------

def _probe_namedtuple():
    from ad_compiler import runtime as ad
    try:
        ad.scatter(np.ones(2), np.linalg.eigh(np.eye(2)), 0)
    except Exception as exc:  # noqa: BLE001
        return (f"core: the adjoint of indexing a namedtuple result (np.linalg.eigh/svd/"
                f"qr/slogdet/eig) fails in runtime.scatter: {type(exc).__name__}: {exc}")
    return None


_PROBE_SRC = """\
import numpy as np

def f(x):
    p = np.split(x, 2)
    return np.sum(p[0] * p[1])
"""


def _probe_tuple_accum(tmp_dir):
    import ad_compiler
    mod = _write_module(tmp_dir, "probe_tuple_accum", _PROBE_SRC)
    x = np.arange(1.0, 5.0)
    try:
        g = ad_compiler.grad(mod.f)(x)
        ok = np.allclose(g, [3.0, 4.0, 1.0, 2.0])
    except Exception as exc:  # noqa: BLE001
        return (f"core: accumulating the adjoints of two items of a tuple-valued primitive "
                f"result fails: {type(exc).__name__}: {exc}")
    if not ok:
        return ("core: the adjoints of two items of a tuple-valued primitive result are "
                "accumulated with '+' (list concatenation) instead of ad.add")
    return None


def _probe_complex_real_mix():
    from ad_compiler import runtime as ad
    g = ad.unbroadcast(np.ones((2, 3)) * (1 + 1j), np.ones(3))
    if np.iscomplexobj(g):
        return ("core: the adjoint of a real argument of a complex-valued operation (e.g. "
                "np.multiply(z, x), z complex, x real) is complex: runtime.unbroadcast keeps "
                "the imaginary part (autograd takes the real part)")
    return None


_PROBES = {}


def _probe(name, tmp_dir):
    if name not in _PROBES:
        if name == "namedtuple":
            _PROBES[name] = _probe_namedtuple()
        elif name == "tuple_accum":
            _PROBES[name] = _probe_tuple_accum(tmp_dir)
        elif name == "complex_real_mix":
            _PROBES[name] = _probe_complex_real_mix()
        else:
            raise KeyError(f"unknown core probe {name!r}")
    return _PROBES[name]


CORE_PROBES = ("namedtuple", "tuple_accum", "complex_real_mix")

# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

_COUNTER = [0]
_MODULES = {}   # spec id -> its module (the float32 tests reuse the compilations)


def _write_module(tmp_dir, stem, text):
    _COUNTER[0] += 1
    modname = f"_ad_rule_spec_{stem}_{_COUNTER[0]}"
    path = os.path.join(str(tmp_dir), modname + ".py")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    spec = importlib.util.spec_from_file_location(modname, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[modname] = mod
    spec.loader.exec_module(mod)
    return mod


def _params_of(src):
    import ast
    fn = [n for n in ast.parse(src).body if isinstance(n, ast.FunctionDef) and n.name == "f"][0]
    return [a.arg for a in fn.args.args]


def _is_diff(x):
    if isinstance(x, bool):
        return False
    if isinstance(x, (float, complex, np.floating, np.complexfloating)):
        return True
    return isinstance(x, np.ndarray) and x.dtype.kind in "fc"


def _loss_src(src, params):
    """``_loss = sum(real(f(...) * _W))`` with f's body inlined when f returns
    only at its end (fewer compilations), else calling f."""
    import ast
    tree = ast.parse(src)
    fn = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "f"][0]
    body = fn.body
    last = body[-1]
    returns = [n for n in ast.walk(fn) if isinstance(n, ast.Return)]
    if isinstance(last, ast.Return) and returns == [last] and last.value is not None:
        lines = [ast.unparse(s) for s in body[:-1]]
        lines.append(f"return np.sum(np.real(({ast.unparse(last.value)}) * _W))")
        return f"def _loss({params}):\n" + "".join(
            "    " + ln.replace("\n", "\n    ") + "\n" for ln in lines)
    return f"def _loss({params}):\n    return np.sum(np.real(f({params}) * _W))\n"


def _build(spec, header, tmp_dir, stem):
    params = ", ".join(_params_of(spec["src"]))
    text = header + "\n\n" + spec["src"] + "\n\n\n" + _loss_src(spec["src"], params)
    return _write_module(tmp_dir, stem, text)


def _random_like(rng, x, complex_ok=True):
    shape = np.shape(x)
    if complex_ok and np.iscomplexobj(x):
        v = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
        return v if shape else complex(v)
    v = rng.standard_normal(shape)
    return v if shape else float(v)


def _dofs(x):
    """Real degrees of freedom of an argument: (flat index, unit) pairs."""
    n = int(np.prod(np.shape(x))) if np.shape(x) else 1
    units = (1.0, 1j) if np.iscomplexobj(x) else (1.0,)
    return [(k, u) for k in range(n) for u in units]


def _perturb(x, k, delta):
    if np.shape(x):
        y = np.array(x, dtype=np.result_type(x, 0.0), copy=True, order="C")
        y.reshape(-1)[k] += delta
        return y
    if isinstance(x, complex) or np.iscomplexobj(x):
        return complex(x) + delta
    return float(x) + delta


def _fd_columns(f, args, i, eps):
    """{(k, unit): d f / d (dof)} by central differences (as complex/float arrays)."""
    cols = {}
    for k, u in _dofs(args[i]):
        a1 = list(args)
        a2 = list(args)
        a1[i] = _perturb(args[i], k, eps * u)
        a2[i] = _perturb(args[i], k, -eps * u)
        cols[(k, u)] = (np.asarray(f(*a1)) - np.asarray(f(*a2))) / (2.0 * eps)
    return cols


def _grad_from_cols(cols, x, weight):
    """Gradient (autograd convention) of Re(sum(weight * f)) from FD columns."""
    shape = np.shape(x)
    g = np.zeros(int(np.prod(shape)) if shape else 1,
                 dtype=complex if np.iscomplexobj(x) else float)
    for (k, u), col in cols.items():
        val = np.real(np.sum(weight * col))
        if u == 1.0:
            g[k] += val
        else:
            g[k] -= 1j * val
    return g.reshape(shape) if shape else g[0]


def _jvp_from_cols(cols, x, t, out_shape):
    tflat = np.ravel(np.asarray(t))
    total = np.zeros(out_shape, dtype=complex)
    for (k, u), col in cols.items():
        coef = tflat[k].real if u == 1.0 else tflat[k].imag
        total = total + coef * col
    return total


def _close(ad_value, ref, rtol, atol, what):
    ref = np.asarray(ref)
    if ad_value is None:
        ad_value = np.zeros(ref.shape)
    a = np.asarray(ad_value)
    if a.shape != ref.shape:
        if a.size == ref.size == 1:
            a = a.reshape(ref.shape)
        else:
            return f"{what}: shape {a.shape}, finite differences give {ref.shape}"
    if not np.iscomplexobj(ref) or not np.any(np.imag(ref)):
        if np.iscomplexobj(a) and np.any(np.imag(a) != 0):
            if np.max(np.abs(np.imag(a))) > atol:
                return f"{what}: complex derivative {a!r} where the reference is real"
        a = np.real(a)
        ref = np.real(ref)
    scale = max(1.0, float(np.max(np.abs(ref)))) if ref.size else 1.0
    err = np.abs(a - ref)
    bad = ~(err <= atol * scale + rtol * np.abs(ref))
    if np.any(bad):
        worst = int(np.argmax(np.where(bad, err, -1)))
        idx = np.unravel_index(worst, ref.shape) if ref.shape else ()
        return (f"{what}: {int(np.sum(bad))}/{ref.size} entries off, max abs err "
                f"{float(np.max(err)):.3e}; at {idx}: AD={a[idx]!r} FD={ref[idx]!r}")
    return None


# --------------------------------------------------------------------------
# checking one spec
# --------------------------------------------------------------------------

def _spec_wrt(spec, args):
    """The positions a spec differentiates: its ``wrt``, else every float
    or complex argument."""
    wrt = spec.get("wrt")
    if wrt is None:
        return tuple(i for i, a in enumerate(args) if _is_diff(a))
    return (wrt,) if isinstance(wrt, int) else tuple(wrt)


def check_spec(sid, header, spec, prim, tmp_dir, default_order=1):
    import ad_compiler
    args = tuple(spec["args"])
    wrt = _spec_wrt(spec, args)
    rtol = spec.get("rtol", 1e-5)
    atol = spec.get("atol", 1e-6)
    eps = spec.get("eps", 1e-6)
    modes = spec.get("modes", ("rev", "fwd"))
    rng = np.random.default_rng(zlib.crc32(sid.encode()))
    mod = _build(spec, header, tmp_dir, "s")
    _MODULES[sid] = mod
    out = np.asarray(mod.f(*args))
    if out.dtype.kind not in "fc":
        return [f"{sid}: f returns dtype {out.dtype}; specs must return float or complex arrays"]
    mod._W = _random_like(rng, out)
    cols = {i: _fd_columns(mod.f, args, i, eps) for i in wrt}
    errors = []

    def err(msg):
        if msg:
            errors.append(f"{sid} ({spec['name']}): {msg}")

    if prim.reverse is not None and "rev" in modes:
        ct = _random_like(rng, out)
        try:
            val, pull = ad_compiler.vjp(mod.f, *args)
            cts = pull(ct)
            err(_close(val, out, 1e-10, 1e-12, "vjp primal value"))
            for i in wrt:
                err(_close(cts[i], _grad_from_cols(cols[i], args[i], ct), rtol, atol,
                           f"vjp wrt arg {i}"))
        except Exception as exc:  # noqa: BLE001
            err(f"vjp raised {type(exc).__name__}: {exc}")
        try:
            grads = ad_compiler.grad(mod._loss, wrt=tuple(wrt))(*args)
            for i, g in zip(wrt, grads):
                err(_close(g, _grad_from_cols(cols[i], args[i], mod._W), rtol, atol,
                           f"grad wrt arg {i}"))
        except Exception as exc:  # noqa: BLE001
            err(f"grad raised {type(exc).__name__}: {exc}")
    if prim.forward is not None and "fwd" in modes:
        tangents = [None] * len(args)
        for i in wrt:
            tangents[i] = _random_like(rng, args[i])
        try:
            val, dout = ad_compiler.jvp(mod.f, args, tuple(tangents))
            err(_close(val, out, 1e-10, 1e-12, "jvp primal value"))
            ref = sum(_jvp_from_cols(cols[i], args[i], tangents[i], out.shape) for i in wrt)
            err(_close(dout, ref, rtol, atol, "jvp"))
        except Exception as exc:  # noqa: BLE001
            err(f"jvp raised {type(exc).__name__}: {exc}")
    if spec.get("order", default_order) == 2 and prim.reverse is not None and "rev" in modes:
        for i in wrt:
            if np.iscomplexobj(args[i]):
                continue
            try:
                H = ad_compiler.hessian(mod._loss, wrt=i)(*args)
                g = ad_compiler.grad(mod._loss, wrt=i)
                gcols = _fd_columns(lambda *a: g(*a), args, i, eps)
                shape = np.shape(args[i])
                ref = np.stack([np.asarray(gcols[(k, 1.0)]) for k in range(len(gcols))], axis=-1)
                ref = ref.reshape(shape + shape)
                err(_close(H, ref, max(rtol, 1e-4), max(atol, 1e-5), f"hessian wrt arg {i}"))
            except Exception as exc:  # noqa: BLE001
                err(f"hessian raised {type(exc).__name__}: {exc}")
    return errors


# --------------------------------------------------------------------------
# the tests
# --------------------------------------------------------------------------

def _prim_params():
    """Every primitive, except runtime helpers that have no spec of their own."""
    return [pytest.param(p, id=p.name) for p in sorted(PRIMS, key=lambda p: p.name)
            if BY_PRIM[id(p)] or id(p) in SKIPPED or not _exempt(p)]


@pytest.mark.parametrize("prim", _prim_params())
def test_rule(prim, tmp_path):
    specs = BY_PRIM[id(prim)]
    if not specs and id(prim) in SKIPPED:
        pytest.skip("; ".join(SKIPPED[id(prim)]))
    if not specs:
        pytest.fail(f"{prim.name} has rules but no spec in tests/rule_specs*.py: "
                    f"add one (no rule ships unchecked)")
    errors = []
    xfails = []
    for k, (sid, header, spec) in enumerate(specs):
        broken = [r for r in (_probe(n, tmp_path) for n in spec.get("needs", ())) if r]
        errs = check_spec(sid, header, spec, prim, tmp_path, default_order=2 if k < 2 else 1)
        if broken:
            if errs:
                xfails.append(broken[0])
            continue
        errors += errs
    assert not errors, "\n".join(errors)
    if xfails:
        pytest.xfail(xfails[0])


def test_specs_name_registered_primitives():
    """Catch typos: every spec names an existing, registered primitive
    (names missing from the installed NumPy/SciPy are skipped, not faked)."""
    bad = [f"{sid}: {name} {why}" for sid, name, why in UNRESOLVED
           if why != "does not exist here"]
    assert not bad, "\n".join(bad)


def _f32_specs():
    """The f32 specs of functions the installed NumPy has (np.pow is new in 2.0)
    and that are not skipped here."""
    return [(sid, header, spec) for sid, header, spec in SPECS
            if spec.get("f32") and not spec.get("skip") and _resolve(spec["name"]) is not None]


def _f32_args(spec):
    return tuple(np.asarray(a, dtype=np.float32) if _is_diff(a) and not np.iscomplexobj(a) else a
                 for a in spec["args"])


def test_float32_reverse(tmp_path):
    """Elementwise reverse rules: float32 inputs give float32 gradients."""
    import ad_compiler
    bad = []
    for sid, header, spec in _f32_specs():
        mod = _MODULES.get(sid) or _build(spec, header, tmp_path, "f32r")
        args = _f32_args(spec)
        mod._W = np.ones(np.shape(mod.f(*args)), dtype=np.float32)
        wrt = spec.get("wrt") or tuple(i for i, a in enumerate(args) if _is_diff(a))
        grads = ad_compiler.grad(mod._loss, wrt=tuple(wrt))(*args)
        for i, g in zip(wrt, grads):
            if np.result_type(g) != np.float32:
                bad.append(f"{sid} ({spec['name']}): gradient wrt arg {i} is {np.result_type(g)}")
    assert not bad, "\n".join(bad)


def test_float32_forward(tmp_path):
    """Elementwise forward rules: float32 inputs give float32 tangents."""
    import ad_compiler
    bad = []
    for sid, header, spec in _f32_specs():
        mod = _MODULES.get(sid) or _build(spec, header, tmp_path, "f32f")
        args = _f32_args(spec)
        wrt = spec.get("wrt") or tuple(i for i, a in enumerate(args) if _is_diff(a))
        tangents = tuple(np.ones_like(a) if i in wrt else None for i, a in enumerate(args))
        _, dout = ad_compiler.jvp(mod.f, args, tangents)
        if np.result_type(dout) != np.float32:
            bad.append(f"{sid} ({spec['name']}): tangent is {np.result_type(dout)}")
    assert not bad, "\n".join(bad)


def _rule_calls(template):
    """(call node, callee object) of every call in a rule template's body
    whose callee resolves in the template's module."""
    import ast
    import builtins
    import inspect
    import textwrap
    fn = ast.parse(textwrap.dedent(inspect.getsource(template))).body[0]
    glb = template.__globals__
    for node in (n for stmt in fn.body for n in ast.walk(stmt)):
        if not isinstance(node, ast.Call):
            continue
        func, path = node.func, []
        while isinstance(func, ast.Attribute):
            path.append(func.attr)
            func = func.value
        if not isinstance(func, ast.Name):
            continue
        obj = glb.get(func.id, getattr(builtins, func.id, None))
        for attr in reversed(path):
            obj = getattr(obj, attr, None)
        if obj is not None:
            yield node, obj


def test_reverse_rules_call_only_forward_differentiable_functions():
    """hessian differentiates generated gradient code in forward mode, so
    every call in a reverse rule must have a forward rule or be declared
    non-differentiable (it only computes masks, indices or shapes)."""
    import ast
    registry, prims = _primitives()
    bad = []
    for prim in prims:
        tpl = prim.reverse
        if tpl is None:
            continue
        for node, obj in _rule_calls(tpl):
            p = registry.lookup(obj)
            if (p is not None and p.forward is not None) or registry.is_nondifferentiable(obj):
                continue
            bad.append(f"{prim.name}: calls {ast.unparse(node.func)}, which has no forward "
                       f"rule and is not declared non-differentiable")
    assert not bad, "\n".join(sorted(set(bad)))


# Runtime helpers that forward rules emit and that have no forward rule yet:
# tangent code calling them cannot be differentiated again (grad of code
# calling jvp(h), hvp(h): third and higher orders refuse with a CompileError
# at the user's line).  Remove a name when its rule is added; the test below
# fails for any other helper without one.
FORWARD_HELPERS_WITHOUT_FORWARD_RULE = {
    "runtime.norm_grad_curvature", "runtime_numpy.cholesky_jvp",
    "runtime_numpy.cumprod_grad_tangent", "runtime_numpy.cumprod_jvp", "runtime_numpy.eig_jvp",
    "runtime_numpy.eigh_jvp", "runtime_numpy.eigvals_jvp",
    "runtime_numpy.lstsq_jvp", "runtime_numpy.matrix_power_jvp",
    "runtime_numpy.matrix_power_vjp_da", "runtime_numpy.pinv_jvp", "runtime_numpy.qr_jvp",
    "runtime_numpy.sign_vjp_curvature", "runtime_numpy.svals_vjp_da", "runtime_numpy.svd_jvp",
    "runtime_scipy.betainc_d2", "runtime_scipy.dirichlet_grad_alpha_tangent",
    "runtime_scipy.dirichlet_grad_x_tangent", "runtime_scipy.dirichlet_tangent",
    "runtime_scipy.gammainc_daa", "runtime_scipy.mvn_entropy_grad_tangent",
    "runtime_scipy.mvn_entropy_tangent", "runtime_scipy.mvn_logpdf_grad_tangent",
    "runtime_scipy.mvn_logpdf_tangent", "runtime_scipy.odeint_jvp",
}


def test_forward_rules_call_only_forward_differentiable_helpers():
    """Nesting differentiates generated code again in forward mode, tangent
    code included (grad of code calling jvp(h): compose.py), so every
    runtime helper of ad_compiler that a rule of either mode emits needs a
    forward rule of its own or a declaration as non-differentiable.
    (Reverse mode never runs over generated code: compose.py turns the
    vector-Jacobian product of a derivative into forward mode, so no helper
    needs a reverse rule for nesting.)  The known gaps are listed above."""
    registry, prims = _primitives()
    missing = set()
    for prim in prims:
        for tpl in (prim.forward, prim.reverse):
            if tpl is None:
                continue
            for _, obj in _rule_calls(tpl):
                module = getattr(obj, "__module__", None) or ""
                if not module.startswith("ad_compiler."):
                    continue
                p = registry.lookup(obj)
                if (p is not None and p.forward is not None) or registry.is_nondifferentiable(obj):
                    continue
                missing.add(registry.qualified_name(obj).removeprefix("ad_compiler."))
    new = sorted(missing - FORWARD_HELPERS_WITHOUT_FORWARD_RULE)
    fixed = sorted(FORWARD_HELPERS_WITHOUT_FORWARD_RULE - missing)
    assert not new, f"runtime helpers emitted by rules without a forward rule: {new}"
    assert not fixed, f"these have forward rules now: drop them from the list: {fixed}"


def _coverage_targets():
    here = os.path.dirname(_HERE)
    for folder in (os.path.join(os.path.dirname(here), "shared", "coverage"),
                   os.path.join(here, "shared", "coverage")):
        files = [os.path.join(folder, f) for f in ("reverse_targets.txt", "beyond_targets.txt")]
        if all(os.path.exists(f) for f in files):
            names = []
            for f in files:
                with open(f, encoding="utf-8") as fh:
                    names += [ln.strip() for ln in fh if ln.strip().startswith("numpy.")]
            return names
    return None


def test_numpy_targets_have_both_rules_and_a_spec():
    """Every numpy.* coverage target that exists in the installed NumPy has a
    reverse rule, a forward rule and a spec."""
    names = _coverage_targets()
    if names is None:
        pytest.skip("coverage target lists not found")
    registry, _ = _primitives()
    missing = []
    for name in names:
        obj = _resolve(name)
        if obj is None:
            continue  # not in the installed NumPy: skipped, not faked
        prim = registry.lookup(obj)
        if prim is None or prim.reverse is None or prim.forward is None:
            missing.append(f"{name}: rule missing")
        elif not BY_PRIM.get(id(prim)):
            missing.append(f"{name}: no spec")
    assert not missing, "\n".join(missing)


_NONDIFF_SRC = """\
import numpy as np

def f(x):
    k = np.argpartition(x, 2)
    m = np.isposinf(x) | np.isneginf(x)
    freq = np.fft.fftfreq(x.shape[0])
    u = np.union1d(k, k)
    lo = np.nanargmin(x)
    return np.sum(x[k] * freq) + np.sum(np.where(m, 0.0, x)) * u.size + x[lo]
"""


def test_nondifferentiable_numpy_functions_pass_through(tmp_path):
    """Functions without a derivative (indices, masks, frequency grids, set
    operations) are constants for both modes."""
    import ad_compiler
    mod = _write_module(tmp_path, "nondiff", _NONDIFF_SRC)
    x = np.array([0.3, -1.2, 2.0, 0.7, -0.1])
    cols = _fd_columns(mod.f, (x,), 0, 1e-6)
    ref = _grad_from_cols(cols, x, 1.0)
    assert _close(ad_compiler.grad(mod.f)(x), ref, 1e-6, 1e-7, "grad") is None
    _, dout = ad_compiler.jvp(mod.f, (x,), (np.ones(5),))
    assert np.isclose(dout, np.sum(ref))


# --------------------------------------------------------------------------
# third order: the forward rules of the helpers that rules emit
# --------------------------------------------------------------------------

def _third_order_params():
    out = []
    for p in sorted(PRIMS, key=lambda p: p.name):
        specs = [s for s in BY_PRIM[id(p)] if "rev" in s[2].get("modes", ("rev", "fwd"))]
        if p.reverse is None or not specs:
            continue
        out.append(pytest.param(p, specs[0], id=p.name))
        # reductions: also one over a trailing axis (over axis 0 a result
        # missing its kept axis still broadcasts, by luck, against x)
        for k, spec in enumerate(specs[1:], 1):
            if re.search(r"axis=(-1|1)\b", spec[2]["src"]):
                out.append(pytest.param(p, spec, id=f"{p.name}[{k}]"))
                break
    return out


def _skip_known_gap(exc, what):
    """A CompileError naming a helper of FORWARD_HELPERS_WITHOUT_FORWARD_RULE
    skips the test; any other refusal fails it."""
    named = [h for h in FORWARD_HELPERS_WITHOUT_FORWARD_RULE if h.split(".")[-1] + "()" in str(exc)]
    assert named, f"{what}: {exc}"
    pytest.skip(f"known gap: no forward rule for {named[0]}")


@pytest.mark.parametrize("prim, first", _third_order_params())
def test_rule_third_order(prim, first, tmp_path):
    """The first spec of every primitive with a reverse rule, one order up:
    ``jvp`` of its ``hessian`` (forward over forward over reverse, so the
    forward rules of the helpers that the forward rules of the reverse
    rule's helpers emit run too) against central differences of our own
    hessian (itself checked against differences of the gradient above).
    Stop-16 CI found np.prod's third derivative over one axis broken this
    way (a broadcast error, or silently transposed on square inputs) and a
    fuzz run found np.linalg.norm's refused; only the known gaps of
    FORWARD_HELPERS_WITHOUT_FORWARD_RULE may refuse."""
    import ad_compiler
    sid, header, spec = first
    args = tuple(spec["args"])
    wrt = _spec_wrt(spec, args)
    if not wrt or any(np.iscomplexobj(args[i]) for i in wrt):
        pytest.skip("complex or no differentiable argument")
    i = wrt[0]
    mod = _build(spec, header, tmp_path, "t")
    out = np.asarray(mod.f(*args))
    if out.dtype.kind != "f":
        pytest.skip("complex output")
    rng = np.random.default_rng(zlib.crc32(sid.encode()) + 3)
    mod._W = _random_like(rng, out)
    t = _random_like(rng, args[i], complex_ok=False)
    H = ad_compiler.hessian(mod._loss, wrt=i)
    tangents = [None] * len(args)
    tangents[i] = t
    try:
        _, dH = ad_compiler.jvp(H, args, tuple(tangents))
    except ad_compiler.CompileError as exc:
        _skip_known_gap(exc, f"{sid} ({spec['name']}): third order refused")
    except NotImplementedError as exc:
        assert "odeint" in str(exc), f"{sid} ({spec['name']}): {exc}"
        pytest.skip(str(exc))
    eps = 1e-5
    a1, a2 = list(args), list(args)
    a1[i] = args[i] + eps * t
    a2[i] = args[i] - eps * t
    ref = (np.asarray(H(*a1)) - np.asarray(H(*a2))) / (2 * eps)
    scale = max(1.0, float(np.max(np.abs(ref))))
    err = _close(dH, ref, 1e-4, 1e-5 * scale, "jvp of hessian")
    assert not err, f"{sid} ({spec['name']}): {err}"
    # the forward rule differentiated again: the jvp of a function that
    # calls jvp(f) (forward over forward; np.prod's forward rule seeds its
    # gradient helper with keepdims=True, which only this route reaches),
    # and its gradient (reverse over forward, as grad of code calling jvp)
    if prim.forward is None or "fwd" not in spec.get("modes", ("rev", "fwd")):
        return
    # (the other arguments as module globals: a jvp of a function whose
    # inner jvp closes over an integer index array is refused, see
    # LIMITATIONS.md)
    names = _params_of(spec["src"])
    call = ", ".join("_a" if k == i else f"_G{k}" for k in range(len(names)))
    fwd = _write_module(tmp_path, "fwd", (
        f"import numpy as np\nfrom ad_compiler import jvp\nfrom {mod.__name__} import f\n"
        f"_T = None\n_W = None\n" + "".join(f"_G{k} = None\n" for k in range(len(names)))
        + f"\n\ndef _fwd(x):\n"
        f"    return np.sum(np.real(jvp(lambda _a: f({call}), (x,), (_T,))[1] * _W))\n"))
    fwd._T, fwd._W = t, mod._W
    for k, a in enumerate(args):
        setattr(fwd, f"_G{k}", a)
    ref_g = _fd_columns(fwd._fwd, (args[i],), 0, eps)
    ref_g = np.array([np.real(ref_g[(k, 1.0)]) for k in range(len(ref_g))]).reshape(np.shape(args[i]))
    s = _random_like(rng, args[i], complex_ok=False)
    try:
        _, d2 = ad_compiler.jvp(fwd._fwd, (args[i],), (s,))
        g2 = ad_compiler.grad(fwd._fwd)(args[i])
    except ad_compiler.CompileError as exc:
        _skip_known_gap(exc, f"{sid} ({spec['name']}): forward over forward refused")
    scale = max(1.0, float(np.max(np.abs(ref_g))))
    err = _close(d2, np.sum(ref_g * s), 1e-4, 1e-5 * scale, "jvp of a jvp")
    err = err or _close(g2, ref_g, 1e-4, 1e-5 * scale, "grad of a jvp")
    assert not err, f"{sid} ({spec['name']}): {err}"
