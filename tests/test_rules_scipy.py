"""Every SciPy rule, in both modes, against central finite differences.

The specs live in ``rule_specs_scipy.py``.  Each spec's function is written
into a real module file (the compiler needs source) and checked with
``ad_compiler.testing.check_grads``: reverse mode (vjp, and grad for scalar
outputs), forward mode (jvp) and, for specs with ``order=2``, the hessian of
``np.sum(np.sin(f(...)))``.
"""
import ast
import importlib.util
import os
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("scipy")

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

import rule_specs_scipy as specs  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TARGET_FILES = [ROOT.parent / "shared" / "coverage" / "reverse_targets.txt",
                ROOT / "shared" / "coverage" / "reverse_targets.txt"]


def _params(src):
    fn = [n for n in ast.parse(src).body if isinstance(n, ast.FunctionDef) and n.name == "f"][0]
    return [a.arg for a in fn.args.args]


def _load(spec, index, tmp_path_factory):
    params = ", ".join(_params(spec["src"]))
    text = (specs.HEADER + "\n\n" + spec["src"] + "\n\n\n"
            f"def f_scalar({params}):\n    return np.sum(np.sin(f({params})))\n")
    folder = tmp_path_factory.mktemp("scipy_specs")
    path = folder / f"scipy_spec_{index}.py"
    path.write_text(text, encoding="utf-8")
    modname = f"_ad_scipy_spec_{index}"
    mod_spec = importlib.util.spec_from_file_location(modname, path)
    mod = importlib.util.module_from_spec(mod_spec)
    sys.modules[modname] = mod
    mod_spec.loader.exec_module(mod)
    return mod


def _id(i, spec):
    return f"{spec['name'].replace('scipy.', '')}-{i}"


SPEC_PARAMS = [pytest.param(i, spec, id=_id(i, spec)) for i, spec in enumerate(specs.SPECS)]


def _tol(spec):
    return {k: spec[k] for k in ("rtol", "atol", "eps") if k in spec}


@pytest.mark.parametrize("index, spec", SPEC_PARAMS)
def test_first_order(index, spec, tmp_path_factory):
    from ad_compiler.testing import check_grads
    mod = _load(spec, index, tmp_path_factory)
    check_grads(mod.f, spec["args"], modes=("fwd", "rev"), wrt=spec.get("wrt"), **_tol(spec))


HESSIAN_PARAMS = [p for p in SPEC_PARAMS if p.values[1]["order"] == 2]


@pytest.mark.parametrize("index, spec", HESSIAN_PARAMS)
def test_hessian(index, spec, tmp_path_factory):
    from ad_compiler.testing import check_grads
    mod = _load(spec, index, tmp_path_factory)
    tol = {"rtol": 1e-4, "atol": 1e-5}
    tol.update({k: max(v, tol.get(k, 0)) for k, v in _tol(spec).items()})
    check_grads(mod.f_scalar, spec["args"], modes=(), order=2, wrt=spec.get("wrt"), **tol)


def _targets():
    for path in TARGET_FILES:
        if path.exists():
            return [line.strip() for line in path.read_text().splitlines()
                    if line.strip().startswith("scipy.")]
    return None


def _resolve(name):
    parts = name.split(".")
    obj = importlib.import_module(".".join(parts[:2]))
    for p in parts[2:]:
        obj = getattr(obj, p, None)
        if obj is None:
            return None
    return obj


def test_every_scipy_target_has_both_rules_and_a_spec():
    from ad_compiler import registry
    names = _targets()
    if names is None:
        pytest.skip("coverage targets not found")
    have_spec = {s["name"] for s in specs.SPECS}
    missing = []
    for name in names:
        obj = _resolve(name)
        if obj is None:
            continue   # not in the installed SciPy: skipped, not faked
        prim = registry.lookup(obj)
        if prim is None or prim.reverse is None or prim.forward is None:
            missing.append(f"{name}: rule missing")
        elif name not in have_spec and name not in specs.NO_SPEC:
            missing.append(f"{name}: no spec")
    assert not missing, "\n".join(missing)


def test_scipy_rules_registered_under_target_names():
    from scipy import special, stats
    from ad_compiler import registry
    assert registry.lookup(special.erf).name == "scipy.special.erf"
    assert registry.lookup(stats.norm.cdf).name == "scipy.stats.norm.cdf"
    # psi and digamma are one ufunc
    assert registry.lookup(special.psi) is registry.lookup(special.digamma)


def test_iv_order_is_refused_at_run_time(tmp_path_factory):
    import ad_compiler
    spec = dict(name="iv", src="def f(v, x):\n    return np.sum(sp.iv(v, x))", args=(), order=1)
    mod = _load(spec, "iv_order", tmp_path_factory)
    g = ad_compiler.grad(mod.f, wrt=(0, 1))
    with pytest.raises(NotImplementedError, match="with respect to 'v'"):
        g(1.5, np.array([0.5, 1.0]))
    # the x derivative alone is fine
    gx = ad_compiler.grad(mod.f, wrt=1)(1.5, np.array([0.5, 1.0]))
    assert np.all(np.isfinite(gx))


def test_odeint_hessian_is_refused(tmp_path_factory):
    import ad_compiler
    src = ("def _r(y, t):\n    return -y\n\n"
           "def f(y0):\n    return np.sum(integrate.odeint(_r, y0, np.array([0.0, 1.0])))")
    mod = _load(dict(src=src), "ode_h", tmp_path_factory)
    with pytest.raises(NotImplementedError, match="odeint"):
        ad_compiler.hessian(mod.f)(np.array([1.0, 2.0]))


def test_rule_code_is_inlined_in_generated_source(tmp_path_factory):
    import ad_compiler
    spec = dict(src="def f(x, m, s):\n    return np.sum(stats.norm.logpdf(x, m, s))")
    mod = _load(spec, "src", tmp_path_factory)
    src = ad_compiler.source(ad_compiler.grad(mod.f, wrt=(0, 1, 2)))
    assert "stats.norm.logpdf(x, m, s)" in src
    assert "ad.unbroadcast" in src
    assert "(u1 * u1 - 1.0)" in src or "u1 * u1 - 1.0" in src


def test_without_scipy_the_scipy_rule_modules_are_skipped(tmp_path):
    import subprocess
    import textwrap
    script = tmp_path / "no_scipy.py"
    script.write_text(textwrap.dedent("""\
        import sys

        class Block:
            def find_spec(self, name, path=None, target=None):
                if name == "scipy" or name.startswith("scipy."):
                    raise ImportError("scipy blocked for this test")
                return None

        sys.meta_path.insert(0, Block())
        import numpy as np
        import ad_compiler
        from ad_compiler import rules
        skipped = sorted(m for m in rules.SKIPPED if m.startswith("scipy_"))
        print(" ".join(skipped))
        assert skipped == ["scipy_integrate", "scipy_linalg", "scipy_signal",
                           "scipy_special", "scipy_stats"], rules.SKIPPED
        from ad_compiler.testing import check_grads
        import ad_compiler.__main__
        print("ok")
        """), encoding="utf-8")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          env=env, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().endswith("ok")


def test_float_bessel_order_is_refused_and_keyword_d_is_reported(tmp_path_factory):
    import ad_compiler
    src = ("def f(x, n):\n    return np.sum(sp.jn(n, x))\n\n"
           "def g(a):\n    return sp.multigammaln(a, d=3)\n\n"
           "def h(a):\n    return sp.multigammaln(a, 3)")
    mod = _load(dict(src=src), "orders", tmp_path_factory)
    with pytest.raises(NotImplementedError, match="scipy.special.jn .* 'n'"):
        ad_compiler.grad(mod.f, wrt=(0, 1))(np.array([0.5, 1.0]), 2.0)
    # scipy calls the dimension ``d``, which templates cannot name: by position only
    with pytest.raises(ad_compiler.CompileError, match="multigammaln"):
        ad_compiler.grad(mod.g)(2.5)
    assert np.isfinite(ad_compiler.grad(mod.h)(2.5))
