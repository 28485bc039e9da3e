"""The compile cache and function identity: what is differentiated is the
function that runs (decorators' wrappers included), the cache never returns
a derivative of code that no longer runs (callees, aliases, closure cells and
methods rebound; the file edited after import), and it does not keep dead
functions or their generated code alive.  Numbers are checked against
central finite differences (tests/reference.py) and, where it runs,
autograd."""
import functools
import gc
import importlib.util
import linecache
import os
import types

import numpy as np
import pytest

from ad_compiler import CompileError, compiler, grad, jvp, value_and_grad, vjp
from tests.reference import fd_jacobian

try:
    import autograd
    import autograd.numpy as anp
except ImportError:        # pragma: no cover
    autograd = None

X = np.array([0.3, -1.2, 0.7])
T = np.array([0.5, 1.0, -2.0])     # a tangent


def close(a, b, tol=1e-6):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=tol, atol=tol)


def fd(f, x=X):
    return fd_jacobian(f, (x,), 0)


def check_all_modes(f, x=X):
    """grad, value_and_grad, vjp and jvp of ``f`` against finite differences
    of ``f`` as it runs now."""
    ref = fd(f, x)
    close(grad(f)(x), ref)
    value, g = value_and_grad(f)(x)
    close(value, f(x))
    close(g, ref)
    out, pull = vjp(f, x)
    close(pull(1.0)[0], ref)
    close(jvp(f, (x,), (T,))[1], ref @ T)


@pytest.fixture
def count_compiles(monkeypatch):
    """The number of times the pipeline runs (cache misses)."""
    calls = []
    real = compiler.transform

    def counting(fn, *args, **kwargs):
        calls.append(fn.__name__)
        return real(fn, *args, **kwargs)
    monkeypatch.setattr(compiler, "transform", counting)
    return calls


# --- decorators: the wrapper is what runs ----------------------------------

def times_two(f):
    @functools.wraps(f)
    def wrapper(x):
        return 2.0 * f(x)
    return wrapper


def forwarding(f):
    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        return 2.0 * f(*args, **kwargs)
    return wrapper


def method_times_three(f):
    @functools.wraps(f)
    def wrapper(self, x):
        return 3.0 * f(self, x)
    return wrapper


@times_two
def doubled(x):
    return np.sum(np.sin(x) * x)


@times_two
def doubled_helper(x):
    return np.sum(x ** 3)


def calls_decorated(x):
    return doubled_helper(x) + np.sum(x)


@forwarding
def forwarded(x):
    return np.sum(x * x)


@functools.lru_cache(maxsize=None)
def cached_square(x):
    return x * x


def calls_cached(x):
    return cached_square(x) + x


class Model:
    @method_times_three
    def energy(self, x):
        return np.sum(x ** 2)

    @staticmethod
    def cube(x):
        return np.sum(x ** 3)

    def loss(self, x):
        return self.energy(x) + self.cube(x)


def test_decorated_function_differentiates_its_wrapper():
    assert doubled.__wrapped__ is not doubled
    check_all_modes(doubled)
    close(grad(doubled)(X), 2.0 * (np.cos(X) * X + np.sin(X)))
    if autograd is not None:
        close(grad(doubled)(X), autograd.grad(lambda x: 2.0 * anp.sum(anp.sin(x) * x))(X))


def test_decorated_helper_called_from_differentiated_code():
    check_all_modes(calls_decorated)
    close(grad(calls_decorated)(X), 6.0 * X ** 2 + 1.0)


def test_decorated_method_and_staticmethod():
    m = Model()
    check_all_modes(m.energy)
    check_all_modes(m.loss)
    close(grad(m.loss)(X), 6.0 * X + 3.0 * X ** 2)
    check_all_modes(Model.cube)


def test_wrapper_forwarding_star_args_is_refused_naming_the_decorator():
    with pytest.raises(CompileError) as err:
        grad(forwarded)(X)
    text = str(err.value)
    assert "*args/**kwargs" in text
    assert "decorator" in text and "forwarded.__wrapped__" in text
    assert err.value.filename == __file__
    # the undecorated function, as the hint says
    close(grad(forwarded.__wrapped__)(X), 2 * X)


def test_lru_cache_is_refused_clearly():
    with pytest.raises(TypeError, match=r"cached_square\.__wrapped__"):
        grad(cached_square)
    with pytest.raises(CompileError, match="lru_cache_wrapper") as err:
        grad(calls_cached)(1.5)
    assert "cached_square.__wrapped__" in str(err.value)
    close(grad(cached_square.__wrapped__)(1.5), 3.0)


def test_partial_and_bound_methods():
    # (partials are differentiated: tests/test_callables.py has the rest)
    fixed = functools.partial(calls_decorated)
    close(grad(fixed)(X), fd(calls_decorated))
    close(jvp(fixed, (X,), (T,))[1], fd(calls_decorated) @ T)
    close(vjp(fixed, X)[1](1.0)[0], fd(calls_decorated))
    m = Model()
    close(grad(m.loss)(X), fd(m.loss))
    close(jvp(m.loss, (X,), (T,))[1], fd(m.loss) @ T)


class WithClassMethod:
    @staticmethod
    def cube(x):
        return np.sum(x ** 3)

    @classmethod
    def twice(cls, x):
        return 2.0 * cls.cube(x)


def test_classmethod_calling_through_cls_is_refused_not_wrong():
    close(grad(WithClassMethod.cube)(X), 3 * X ** 2)
    with pytest.raises(CompileError, match=r"\.cube\(\)"):
        grad(WithClassMethod.twice)(X)


# --- stale entries: rebinding what a compile resolved ------------------------

def _sin_callee(x):
    return np.sum(np.sin(x))


def _cos_callee(x):
    return np.sum(np.cos(x))


_callee = _sin_callee
_act = np.tanh
_W = np.array([1.0, 2.0, 3.0])
user_lib = types.ModuleType("user_lib")     # a user module: attributes rebindable
user_lib.act = np.tanh


def calls_callee(x):
    return 2.0 * _callee(x)


def uses_alias(x):
    return np.sum(_act(x))


def uses_module_attribute(x):
    return np.sum(user_lib.act(x))


def uses_data(x):
    return np.sum(_W * x * x)


def test_rebound_callee_recompiles(monkeypatch):
    g = grad(calls_callee)
    close(g(X), fd(calls_callee))
    monkeypatch.setitem(globals(), "_callee", _cos_callee)   # 'def _callee' again
    close(g(X), fd(calls_callee))
    close(g(X), -2.0 * np.sin(X))
    check_all_modes(calls_callee)


def test_rebound_global_alias_recompiles(monkeypatch):
    g = grad(uses_alias)
    close(g(X), 1 - np.tanh(X) ** 2)
    monkeypatch.setitem(globals(), "_act", np.sin)
    close(g(X), np.cos(X))
    check_all_modes(uses_alias)


def test_rebound_module_attribute_recompiles(monkeypatch):
    g = grad(uses_module_attribute)
    close(g(X), 1 - np.tanh(X) ** 2)
    monkeypatch.setattr(user_lib, "act", np.sin)
    close(g(X), np.cos(X))
    check_all_modes(uses_module_attribute)


def test_rebound_closure_cell_recompiles():
    def make():
        k = np.tanh

        def loss(x):
            return np.sum(k(x))

        def set_k(v):
            nonlocal k
            k = v
        return loss, set_k
    loss, set_k = make()
    g = grad(loss)
    close(g(X), fd(loss))
    set_k(np.cos)
    close(g(X), -np.sin(X))
    check_all_modes(loss)


def test_method_rebound_on_the_class_recompiles(monkeypatch):
    class Net:
        def forward(self, x):
            return np.sin(x)

        def loss(self, x):
            return np.sum(self.forward(x))

    def forward_cos(self, x):
        return np.cos(x)

    net = Net()
    g = grad(net.loss)
    close(g(X), np.cos(X))
    monkeypatch.setattr(Net, "forward", forward_cos)
    close(g(X), -np.sin(X))
    check_all_modes(net.loss)


def test_rebinding_data_does_not_recompile(monkeypatch, count_compiles):
    g = grad(uses_data)
    close(g(X), 2 * _W * X)
    assert count_compiles == ["uses_data"]
    W2 = np.array([-1.0, 0.5, 4.0])
    monkeypatch.setitem(globals(), "_W", W2)
    close(g(X), 2 * W2 * X)                 # read live by the generated code
    assert count_compiles == ["uses_data"]


def test_callee_rebound_below_a_callee(monkeypatch):
    def outer(x):
        return calls_callee(x) + np.sum(x)
    g = grad(outer)
    close(g(X), 2 * np.cos(X) + 1)
    monkeypatch.setitem(globals(), "_callee", _cos_callee)
    close(g(X), -2 * np.sin(X) + 1)


# --- the file edited after import -------------------------------------------

MODULE = '''\
import numpy as np


def f(x):
    return np.sum(x * 2.0 * x)
'''


def _import(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _edit(path, text):
    path.write_text(text)
    st = os.stat(path)
    os.utime(path, (st.st_atime + 10, st.st_mtime + 10))   # (a new mtime for linecache)


@pytest.mark.parametrize("edit", [
    MODULE.replace("x * 2.0 * x", "x * 3.0 * x"),           # same length
    MODULE.replace("def f", "\n\ndef f"),                   # lines moved
    MODULE.replace("x * 2.0 * x", "np.sin(x) + 2 * x"),
])
def test_source_edited_after_import_is_refused(tmp_path, edit):
    path = tmp_path / "edited_module.py"
    path.write_text(MODULE)
    module = _import(path, f"edited_module_{abs(hash(edit))}")
    close(grad(module.f)(X), 4 * X)
    _edit(path, edit)
    with pytest.raises(CompileError, match="not the code that runs") as err:
        jvp(module.f, (X,), (T,))        # a compile after the edit
    assert "reload" in str(err.value)
    # reloaded: differentiated as it now runs
    module = _import(path, f"edited_module_b_{abs(hash(edit))}")
    close(jvp(module.f, (X,), (T,))[1], fd(module.f) @ T)


def test_unedited_file_compiles(tmp_path):
    path = tmp_path / "plain_module.py"
    path.write_text(MODULE.replace("def f", "class C:\n    def g(self, x):\n"
                                            "        return np.sum(x ** 2)\n\n\ndef f"))
    module = _import(path, "plain_module")
    close(jvp(module.f, (X,), (T,))[1], (4 * X) @ T)
    close(grad(module.C().g)(X), 2 * X)


# --- memory ----------------------------------------------------------------

def _make_cubic():
    def cubic(x):
        return np.sum(x ** 3)
    return cubic


def test_dead_functions_are_dropped_with_their_generated_code():
    f = _make_cubic()
    ref = weakref_to(f)
    close(grad(f)(X), 3 * X ** 2)
    del f
    gc.collect()
    assert ref() is None
    gc.collect()
    before = _generated_in_linecache()
    for _ in range(200):
        h = _make_cubic()
        h.__code__ = h.__code__.replace()      # a fresh code object: a fresh compile
        grad(h)(X)
        jvp(h, (X,), (T,))
    del h
    gc.collect()
    assert _generated_in_linecache() <= before + 8     # (the last few: a bounded list)


def _generated_in_linecache():
    return sum(1 for name in list(linecache.cache) if name.startswith("<ad_compiler-"))


def weakref_to(obj):
    import weakref
    return weakref.ref(obj)


def _make_loss(lam):
    def loss(w):
        return np.sum(np.tanh(w) * lam) + lam * np.sum(w * w)
    return loss


def test_fresh_closures_of_one_def_compile_once(count_compiles):
    for lam in np.linspace(-2.0, 3.0, 50):
        loss = _make_loss(lam)
        g = grad(loss)(X)
        close(g, fd(loss))
        close(g, lam * (1 - np.tanh(X) ** 2) + 2 * lam * X)
    assert count_compiles == ["loss"]
    # both sweeps of a pullback and forward mode read the current closure too
    for lam in (0.5, -1.5):
        loss = _make_loss(lam)
        close(vjp(loss, X)[1](1.0)[0], fd(loss))
        close(jvp(loss, (X,), (T,))[1], fd(loss) @ T)


def _make_activation_loss(act):
    def loss(x):
        return np.sum(act(x))
    return loss


def test_closures_holding_different_functions_compile_apart(count_compiles):
    tanh_loss = _make_activation_loss(np.tanh)
    sin_loss = _make_activation_loss(np.sin)
    for _ in range(3):
        close(grad(tanh_loss)(X), 1 - np.tanh(X) ** 2)
        close(grad(sin_loss)(X), np.cos(X))
    assert count_compiles == ["loss", "loss"]


def _recursive(x, n):
    if n == 0:
        return x
    return np.sin(_recursive(x, n - 1))


def test_recursion_through_the_cache():
    def f(x):
        return np.sum(_recursive(x, 3))
    close(grad(f)(X), fd(f))
    close(jvp(f, (X,), (T,))[1], fd(f) @ T)


# --- a rule registered after a compile ---------------------------------------

d = None  # the d[x] notation of rule templates; never evaluated


def _clipped(x):
    return x * 1.0


def uses_clipped(x):
    return np.sum(np.sin(_clipped(x)))


def test_rule_registered_after_a_compile_is_used():
    from ad_compiler import forward, reverse
    g = grad(uses_clipped)
    close(g(X), np.cos(X))                   # through _clipped's source

    @reverse(_clipped)
    def _clipped_rev(z, x):
        d[x] = np.clip(d[z], -0.5, 0.5)       # gradient clipping

    @forward(_clipped)
    def _clipped_fwd(z, x):
        d[z] = d[x]

    close(g(X), np.clip(np.cos(X), -0.5, 0.5))
    close(jvp(uses_clipped, (X,), (T,))[1], np.cos(X) @ T)


def test_second_derivatives_of_fresh_closures():
    from ad_compiler import hessian
    from tests.reference import fd_hessian
    for lam in (1.0, -3.0):
        loss = _make_loss(lam)
        H = hessian(loss)(X)
        close(H, fd_hessian(loss, (X,), 0), tol=1e-4)
        close(jvp(grad(loss), (X,), (T,))[1], H @ T)


# --- the parse cache (transforms/frontend/parse.py) --------------------------

def test_parse_cache_gives_each_caller_its_own_tree():
    from ad_compiler.transforms.frontend import parse

    def f(x):
        return np.sum(x * x)
    first = parse.parse_function(f)
    first.node.body[0].value = None            # a pass rewriting its tree
    first.node.name = "changed"
    second = parse.parse_function(f)
    assert f.__code__ in parse._PARSED          # (served from the cache)
    assert second.node is not first.node and second.node.name == "f"
    assert second.node.body[0].value is not None
    assert second.fn is f and second.node.lineno == f.__code__.co_firstlineno
    close(grad(f)(X), 2 * X)


def test_parse_cache_follows_the_function_not_the_code():
    # closures of one 'def' share the code; the parse serves each with its
    # own cells, and a wrapper renamed by functools.wraps keeps its name
    from ad_compiler.transforms.frontend import parse

    def make(k):
        def scaled(x):
            return np.sum(k * x * x)
        return scaled
    a, b = make(2.0), make(3.0)
    ia, ib = parse.parse_function(a), parse.parse_function(b)
    assert ia.closure["k"].cell_contents == 2.0 and ib.closure["k"].cell_contents == 3.0
    close(grad(a)(X), 4 * X)
    close(grad(b)(X), 6 * X)
    sq = lambda x: np.sum(x ** 2)       # noqa: E731
    other = types.FunctionType(sq.__code__, sq.__globals__, "renamed")
    assert parse.parse_function(sq).node.name == "<lambda>"
    assert parse.parse_function(other).node.name == "renamed"
    close(grad(other)(X), 2 * X)


def test_parse_cache_does_not_keep_functions_alive():
    from ad_compiler.transforms.frontend import parse
    f = _make_cubic()
    f.__code__ = f.__code__.replace()
    parse.parse_function(f)
    code_ref = weakref_to(f.__code__)
    fn_ref = weakref_to(f)
    assert f.__code__ in parse._PARSED
    del f
    gc.collect()
    assert fn_ref() is None and code_ref() is None
