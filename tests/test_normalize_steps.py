"""The normalization steps of transforms/normalize/ (one module each):
their docstrings' before/after examples run as doctests, so they cannot
rot, and the normalized functions of those examples compute what the
user's functions compute."""
import doctest
import importlib
import pkgutil
import types

import numpy as np
import pytest

import ad_compiler
import ad_compiler.transforms.normalize as package
from ad_compiler.transforms.backend.codegen import to_source
from ad_compiler.transforms.normalize import demo

MODULES = sorted(m.name for m in pkgutil.iter_modules(package.__path__))
STEPS = ["early_exits", "anf", "loops", "inline", "aliasing", "closures", "derivatives",
         "function_values", "mutations", "pipeline"]


def test_every_step_is_a_module():
    assert set(STEPS) <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name):
    module = importlib.import_module(f"{package.__name__}.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, report=True)
    assert result.failed == 0
    if name in STEPS:
        # a before/after example in the module docstring itself
        assert ">>> show('''" in module.__doc__
        assert result.attempted >= 2


def test_a_wrong_example_fails():
    """The harness is not vacuous: an example whose printed result differs
    from what the step makes is a failure."""
    module = types.ModuleType("wrong_example")
    module.__doc__ = """
>>> from ad_compiler.transforms.normalize.demo import show
>>> show('''
... def f(x):
...     return np.sin(x) * 2.0
... ''')
def f(x):
    return np.sin(x) * 2.0
"""
    result = doctest.testmod(module, report=False)
    assert (result.attempted, result.failed) == (2, 1)


def energy(x):
    return np.sum(x ** 2)


# (source, arguments): each normalized by the whole pipeline, then run
SOURCES = {
    "early_exits": ("""
def f(x, n):
    for i in range(n):
        if x > 10.0:
            return 0.0
        if x < 0.0:
            continue
        x = x * 2.0
    return x
""", [(1.5, 3), (3.0, 4), (-1.0, 2), (20.0, 1)]),
    "anf": ("""
def f(x, y):
    x, y = y, x
    z = np.sin(x * y) + x[0]
    z[1] += y[1]
    return z.sum() if y[0] > 0 else 0.0
""", [(np.array([0.5, -1.0]), np.array([2.0, 3.0])),
      (np.array([-0.5, 1.0]), np.array([2.0, 3.0]))]),
    "loops": ("""
def f(xs, ys):
    s = 0.0
    for i, (a, b) in enumerate(zip(xs, ys)):
        s = s + i * a * b
    while s > 1.0:
        s = s / 2.0
    return s
""", [([1.0, 2.0, 3.0], [4.0, 5.0]), (np.array([0.1, 0.2]), [0.3, 0.4, 0.5])]),
    "inline": ("""
def f(xs):
    def h(v):
        if v > 0:
            return np.sin(v) * 2.0
        return v
    sq = lambda v: v ** 2
    return sum([h(v) for v in xs]) + sum(map(sq, xs))
""", [([0.5, -1.0, 2.0],)]),
    "aliasing": ("""
def f(x, params):
    W = params["W"]
    W[0] = 2.0 * x[0]
    x[1] = 0.0
    return W @ x
""", [(np.array([1.0, 2.0]), {"W": np.array([[1.0, 2.0], [3.0, 4.0]])})]),
    "function_values": ("""
def f(x, act=np.tanh):
    return act(x)
""", [(0.3,), (-1.2,)]),
    "mutations": ("""
def scale(p, v):
    p *= v
    return p

def f(x):
    return scale(x[0] * 2.0, 3.0) + scale(x[1], 2.0)
""", [(np.array([1.0, 2.0]),)]),
    "derivatives": ("""
def f(x):
    dE = grad(energy)
    y, pb = vjp(energy, x)
    return np.sum(dE(x)) + y + np.sum(pb(1.0))
""", [(np.array([1.0, -2.0]),)]),
}


def _copy(v):
    if isinstance(v, dict):
        return {k: _copy(w) for k, w in v.items()}
    if isinstance(v, list):
        return [_copy(w) for w in v]
    return v.copy() if isinstance(v, np.ndarray) else v


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_normalized_examples_compute_the_same(name):
    source, cases = SOURCES[name]
    env = {"grad": ad_compiler.grad, "vjp": ad_compiler.vjp, "energy": energy}
    fn_tree, namespace = demo.normalized(source, **env)
    text = to_source(fn_tree)
    exec(compile(text, "<normalized>", "exec"), namespace)
    new = namespace[fn_tree.name]
    original = {**env, "np": np}
    exec(compile(source, "<original>", "exec"), original)
    old = original[fn_tree.name]
    for args in cases:
        a1, a2 = _copy(args), _copy(args)
        want = old(*a1)
        got = new(*a2)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)
        if name == "aliasing":
            # the normalized function works on private copies: the caller's
            # arrays are the ones it passed (Python's f wrote into them)
            np.testing.assert_array_equal(a2[0], args[0])
            np.testing.assert_array_equal(a2[1]["W"], args[1]["W"])


def test_normalized_guards_refuse_what_python_would_do_differently():
    """The run-time checks the steps add fire when the call does what the
    normalized code cannot follow: another function than the default the
    code was specialized to, an array a helper updates in place."""
    from ad_compiler import CompileError
    fn_tree, namespace = demo.normalized("""
def f(x, act=np.tanh):
    return act(x)
""")
    exec(compile(to_source(fn_tree), "<normalized>", "exec"), namespace)
    with pytest.raises(CompileError, match="differentiated as tanh"):
        namespace["f"](0.3, np.sin)
    fn_tree, namespace = demo.normalized("""
def scale(p, v):
    p *= v
    return p

def f(x):
    return scale(x, 3.0)
""")
    exec(compile(to_source(fn_tree), "<normalized>", "exec"), namespace)
    with pytest.raises(CompileError, match="updates its argument 'p' in place"):
        namespace["f"](np.array([1.0, 2.0]))
    assert namespace["f"](2.0) == 6.0
