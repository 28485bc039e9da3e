"""The layers of ad_compiler (issue #12): a lower layer never imports a
higher one, at module top or inside a function.

  1. runtime      ad_compiler.arrays, errors, runtime, runtime_numpy,
                  runtime_scipy, runtime_sets: what generated code imports.
                  NumPy (and SciPy for runtime_scipy) and the standard library
                  only.  ``errors`` belongs here: it is stdlib-only, and the
                  runtime raises CompileError at run time (aliasing guards), so
                  runtime imports it at module top.
  2. declarations registry, rules/, checkpointing, tree, check: what functions
                  mean to the compiler, and support code that needs no pass.
  3. transforms   every pass (ad_compiler.transforms.*).
  4. top          compiler, freshness, compose, api, convenience, testing, optim,
                  backends, __main__, the package ad_compiler itself.

Where a lower layer needs the top at run time (the runtime calling back into
ad_compiler.compose for a derivative called in differentiated code, or
runtime_scipy's odeint rules calling ad_compiler.vjp; the compiler asking
"is this a function the API returned?"), the top layer registers its entry
points in a table of the lower one when it is imported
(``runtime.register_composition``, filled by ad_compiler/compose.py): that
is not an import upward.

The imports are read with ``ast`` (no module is executed), so a function-local
``from ad_compiler import api`` in a transform is caught like one at the top.
"""
import ast
import os
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

RUNTIME, DECLARATIONS, TRANSFORMS, TOP = 1, 2, 3, 4
LAYER_NAMES = {RUNTIME: "runtime", DECLARATIONS: "declarations", TRANSFORMS: "transforms",
               TOP: "top"}

# module (or package prefix) -> layer; the longest matching prefix wins
LAYERS = {
    "ad_compiler.arrays": RUNTIME,
    "ad_compiler.errors": RUNTIME,
    "ad_compiler.runtime": RUNTIME,
    "ad_compiler.runtime_numpy": RUNTIME,
    "ad_compiler.runtime_scipy": RUNTIME,
    "ad_compiler.runtime_sets": RUNTIME,
    "ad_compiler.registry": DECLARATIONS,
    "ad_compiler.rules": DECLARATIONS,
    "ad_compiler.checkpointing": DECLARATIONS,
    "ad_compiler.tree": DECLARATIONS,
    "ad_compiler.check": DECLARATIONS,
    "ad_compiler.transforms": TRANSFORMS,
    "ad_compiler": TOP,                 # the package's __init__
    "ad_compiler.compiler": TOP,
    "ad_compiler.freshness": TOP,
    "ad_compiler.compose": TOP,
    "ad_compiler.api": TOP,
    "ad_compiler.convenience": TOP,
    "ad_compiler.testing": TOP,
    "ad_compiler.optim": TOP,
    "ad_compiler.backends": TOP,
    "ad_compiler.__main__": TOP,
}

# What the runtime layer may import besides the standard library and itself.
RUNTIME_THIRD_PARTY = {
    "ad_compiler.runtime_scipy": {"numpy", "scipy"},
}
RUNTIME_THIRD_PARTY_DEFAULT = {"numpy"}

# (importer, imported) -> why this import upward is allowed.  Keep it short:
# an entry that no longer matches an import fails test_no_stale_exceptions.
UPWARD_EXCEPTIONS = {
    # ad_compiler/__init__.py runs first for every ``import ad_compiler.x``
    # and must set up ``ad_compiler.transforms`` before anything imports it;
    # it imports the rest of the API lazily (module __getattr__).
}

# Import cycles at module top (same layer: allowed by the order above, but
# each one listed here with its reason).
ALLOWED_CYCLES = {
    frozenset({"ad_compiler.api", "ad_compiler.compose"}):
        "compose differentiates the API's derivatives (it needs api._Derivative, "
        "api.jvp...) and the API hands calls of derivatives to compose; api imports "
        "compose at its last line",
}


def module_files():
    """{module name: path} of ad_compiler and its transforms (the repository's
    top-level transforms/ folder, installed as ad_compiler.transforms)."""
    out = {}
    for folder, package in (("ad_compiler", "ad_compiler"),
                            ("transforms", "ad_compiler.transforms")):
        base = os.path.join(ROOT, folder)
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith((".", "__pycache__")))
            for f in sorted(filenames):
                if not f.endswith(".py"):
                    continue
                rel = os.path.relpath(os.path.join(dirpath, f), base)[:-3].split(os.sep)
                if rel[-1] == "__init__":
                    rel = rel[:-1]
                out[".".join([package] + rel)] = os.path.join(dirpath, f)
    return out


MODULES = module_files()


def imports_of(source, module, is_package, known=MODULES):
    """[(imported module, line, local)] of ``source``: every import, at module
    top or inside a function (``local``).  ``from X import Y`` counts as an
    import of X.Y when that is a module, else of X."""
    tree = ast.parse(source)
    out = []

    def visit(node, local):
        for child in ast.iter_child_nodes(node):
            inner = local or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                ast.Lambda))
            if isinstance(child, ast.Import):
                for alias in child.names:
                    out.append((alias.name, child.lineno, inner))
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    parts = module.split(".")
                    if not is_package:
                        parts = parts[:-1]
                    parts = parts[:len(parts) - (child.level - 1)]
                    base = ".".join(parts + ([child.module] if child.module else []))
                else:
                    base = child.module
                for alias in child.names:
                    full = f"{base}.{alias.name}"
                    out.append((full if full in known else base, child.lineno, inner))
            visit(child, inner)

    visit(tree, False)
    return out


def layer_of(module):
    best = None
    for prefix in LAYERS:
        if module == prefix or module.startswith(prefix + "."):
            if best is None or len(prefix) > len(best):
                best = prefix
    return None if best is None else LAYERS[best]


def all_imports():
    out = {}
    for module, path in MODULES.items():
        with open(path, encoding="utf-8") as fh:
            src = fh.read()
        out[module] = imports_of(src, module, path.endswith("__init__.py"))
    return out


IMPORTS = all_imports()


def upward_imports(imports=None):
    """[(importer, imported, line, local)] where a module imports a higher layer."""
    bad = []
    for module, found in (IMPORTS if imports is None else imports).items():
        low = layer_of(module)
        for target, line, local in found:
            if not (target == "ad_compiler" or target.startswith("ad_compiler.")):
                continue
            high = layer_of(target)
            if low is not None and high is not None and high > low:
                bad.append((module, target, line, local))
    return bad


def test_every_module_has_a_layer():
    missing = [m for m in MODULES if layer_of(m) is None]
    assert not missing, f"give these modules a layer in tests/test_layers.py LAYERS: {missing}"


def test_lower_layers_never_import_higher_ones():
    bad = [b for b in upward_imports() if (b[0], b[1]) not in UPWARD_EXCEPTIONS]
    report = "\n".join(
        f"  {m} ({LAYER_NAMES[layer_of(m)]}) imports {t} ({LAYER_NAMES[layer_of(t)]}) "
        f"at line {line}{' inside a function' if local else ''}"
        for m, t, line, local in bad)
    assert not bad, ("imports from a lower layer into a higher one (see the layers in "
                     "tests/test_layers.py; register a hook instead):\n" + report)


def test_no_stale_exceptions():
    used = {(m, t) for m, t, _, _ in upward_imports()}
    stale = set(UPWARD_EXCEPTIONS) - used
    assert not stale, f"UPWARD_EXCEPTIONS entries that no longer happen: {sorted(stale)}"


def _stdlib():
    names = set(getattr(sys, "stdlib_module_names", ()))
    assert names, "needs Python 3.10+ (sys.stdlib_module_names)"
    return names


def test_runtime_layer_imports_numpy_scipy_and_stdlib_only():
    stdlib = _stdlib()
    bad = []
    for module, found in IMPORTS.items():
        if layer_of(module) != RUNTIME:
            continue
        allowed = RUNTIME_THIRD_PARTY.get(module, RUNTIME_THIRD_PARTY_DEFAULT)
        for target, line, _ in found:
            top = target.split(".")[0]
            if top == "ad_compiler":
                if layer_of(target) != RUNTIME:
                    bad.append((module, target, line))
            elif top not in stdlib and top not in allowed:
                bad.append((module, target, line))
    assert not bad, f"the runtime layer imports outside NumPy/SciPy/stdlib: {bad}"


def test_runtime_modules_import_each_other_without_cycles():
    # runtime_numpy, runtime_scipy, runtime_sets build on runtime; runtime on
    # arrays and errors; never the other way round (not even inside a function)
    order = ["ad_compiler.errors", "ad_compiler.arrays", "ad_compiler.runtime",
             "ad_compiler.runtime_sets", "ad_compiler.runtime_numpy",
             "ad_compiler.runtime_scipy"]
    bad = []
    for i, module in enumerate(order):
        for target, line, _ in IMPORTS[module]:
            if target in order and order.index(target) >= i:
                bad.append((module, target, line))
    assert not bad, bad


def _cycles():
    """Strongly connected components (of more than one module) of the graph of
    module-top imports inside ad_compiler."""
    graph = {m: {t for t, _, local in found if not local and t in MODULES and t != m}
             for m, found in IMPORTS.items()}
    index, low, stack, on, out = {}, {}, [], set(), []
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10000))

    def strong(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(frozenset(comp))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


def test_no_import_cycles_but_the_listed_ones():
    found = _cycles()
    # a package's __init__ importing its own submodules is no cycle worth naming
    found = [c for c in found if not all(
        any(m.startswith(o + ".") for o in c if o != m) or
        any(o.startswith(m + ".") for o in c if o != m) for m in c)]
    unexpected = [sorted(c) for c in found if c not in ALLOWED_CYCLES]
    assert not unexpected, f"import cycles at module top: {unexpected}"


# --- the checker itself must catch what it is for -----------------------------

def test_checker_catches_a_function_local_import_of_the_api_in_a_transform():
    src = textwrap.dedent("""
        import numpy as np
        from ad_compiler import registry

        def helper(x):
            from ad_compiler import api
            return api.grad
    """)
    module = "ad_compiler.transforms.ad.fake_pass"
    found = imports_of(src, module, False)
    assert ("ad_compiler.api", 6, True) in found
    bad = upward_imports({module: found})
    assert [(m, t) for m, t, _, _ in bad] == [(module, "ad_compiler.api")]


def test_checker_catches_relative_and_module_top_imports():
    module = "ad_compiler.transforms.ad.fake_pass"
    found = imports_of("from .. import compose\n", "ad_compiler.rules.fake", False)
    assert found == [("ad_compiler.compose", 1, False)]
    assert upward_imports({"ad_compiler.rules.fake": found})
    found = imports_of("import ad_compiler.api\n", module, False)
    assert upward_imports({module: found})
    found = imports_of("from ad_compiler.runtime import composition\n", module, False)
    assert not upward_imports({module: found})


def test_checker_catches_the_runtime_importing_scipy_or_the_api():
    found = imports_of("def f():\n    import scipy.linalg\n", "ad_compiler.runtime", False)
    assert ("scipy.linalg", 2, True) in found
    assert "scipy" not in RUNTIME_THIRD_PARTY_DEFAULT
    found = imports_of("def f():\n    from ad_compiler import compose\n",
                       "ad_compiler.runtime", False)
    assert upward_imports({"ad_compiler.runtime": found})


# --- at run time ----------------------------------------------------------------

def test_importing_the_runtime_loads_no_compiler():
    code = textwrap.dedent("""
        import sys
        import ad_compiler.runtime, ad_compiler.runtime_numpy, ad_compiler.runtime_sets
        try:
            import ad_compiler.runtime_scipy
        except ImportError:
            pass
        print(" ".join(sorted(m for m in sys.modules if m.startswith("ad_compiler"))))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    loaded = set(out.stdout.split())
    assert "ad_compiler.runtime" in loaded
    higher = sorted(m for m in loaded if layer_of(m) > RUNTIME
                    and m not in ("ad_compiler", "ad_compiler.transforms",
                                  "ad_compiler.checkpointing"))
    # (the package __init__ sets up the transforms package, a docstring, and
    # imports errors and checkpointing (stdlib only); nothing else)
    assert not higher, f"import ad_compiler.runtime loaded {higher}"
    for name in ("ad_compiler.api", "ad_compiler.compose", "ad_compiler.compiler"):
        assert name not in loaded


def test_public_names_load_on_first_use():
    code = textwrap.dedent("""
        import sys
        import ad_compiler
        assert "ad_compiler.api" not in sys.modules
        from ad_compiler import grad, hvp, reverse, stop_gradient, CompileError
        import ad_compiler.compose as compose
        assert compose.is_maker(grad) and compose.is_maker(hvp)
        assert set(ad_compiler.__all__) <= set(dir(ad_compiler))
        try:
            ad_compiler.no_such_name
        except AttributeError:
            print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_compose_fills_the_runtime_table():
    import numpy as np

    import ad_compiler
    from ad_compiler import compose, runtime
    assert runtime.composition.runtime_vjp is compose.runtime_vjp
    assert runtime.composition.vjp_of is compose.vjp_of
    assert runtime.composition.is_maker(ad_compiler.hessian)
    assert runtime.composition.is_vjp(ad_compiler.vjp)
    assert not runtime.composition.is_vjp(ad_compiler.jvp)
    # and the path through the table works: grad of a function calling grad,
    # against the analytic second derivative and central differences
    g = ad_compiler.grad(lambda x: np.sum(np.sin(x) * x))
    h = ad_compiler.grad(lambda x: np.sum(g(x) * x))
    x = np.array([0.3, -1.2, 2.0])
    # d/dx sum((sin x + x cos x) x) = sin x + x cos x + x (2 cos x - x sin x)
    expected = np.sin(x) + x * np.cos(x) + x * (2 * np.cos(x) - x * np.sin(x))
    eps = 1e-6
    fd = np.array([(np.sum(g(x + eps * e) * (x + eps * e)) - np.sum(g(x - eps * e) * (x - eps * e)))
                   / (2 * eps) for e in np.eye(3)])
    np.testing.assert_allclose(h(x), expected, rtol=1e-10)
    np.testing.assert_allclose(h(x), fd, rtol=1e-6)


def test_a_missing_entry_is_a_clear_error():
    from ad_compiler import runtime
    table = type(runtime.composition)()
    with pytest.raises(RuntimeError, match="not registered"):
        table.runtime_vjp
    assert table.is_derivative(object()) is False
    with pytest.raises(AttributeError):
        table.__wrapped__
