"""Functions given as lambdas and functools.partial objects, in every API
function and both modes, against central finite differences (float64) and,
where it runs, autograd."""
import functools
import importlib
import os
import subprocess
import sys
import textwrap
from functools import partial

import numpy as np
import pytest

import autograd
import autograd.numpy as anp

from ad_compiler import (CompileError, grad, hessian, jacobian, jvp, source,
                         value_and_grad, vjp)
from ad_compiler import compiler
from ad_compiler.transforms.frontend import parse
from tests.reference import fd_hessian, fd_jacobian

RNG = np.random.RandomState(3)
X = RNG.randn(5, 3)
Y = np.array([0.0, 1.0, 1.0, 0.0, 1.0])
W = np.array([0.1, -0.2, 0.3])
T = np.array([0.5, 1.0, -2.0])


def close(a, b, tol=1e-6):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=tol, atol=tol)


def loss(w, X, y):
    p = 1.0 / (1.0 + np.exp(-(X @ w)))
    return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))


def aloss(w, X, y):
    p = 1.0 / (1.0 + anp.exp(-anp.dot(X, w)))
    return -anp.mean(y * anp.log(p) + (1 - y) * anp.log(1 - p))


def check_scalar(f, x, ag=None):
    """Every API function on scalar-valued ``f`` of one array, against FD
    (and autograd's gradient ``ag`` when given)."""
    g = fd_jacobian(f, (x,), 0)
    close(grad(f)(x), g)
    v, g2 = value_and_grad(f)(x)
    close(v, f(x))
    close(g2, g)
    close(jvp(f, (x,), (T,))[1], g @ T)
    out, pb = vjp(f, x)
    close(pb(1.0)[0], g)
    close(jacobian(f)(x), g)
    close(jacobian(f, mode="fwd")(x), g)
    close(hessian(f)(x), fd_hessian(f, (x,), 0), tol=1e-5)
    if ag is not None:
        close(grad(f)(x), ag(x))


# -- lambdas -----------------------------------------------------------------

def test_lambda_of_closure_and_globals():
    Xc, yc = X * 0.5, Y
    check_scalar(lambda w: loss(w, Xc, yc), W, autograd.grad(lambda w: aloss(w, Xc, yc)))
    assert "def grad_lambda(w):" in source(grad(lambda w: loss(w, Xc, yc)))


def test_several_lambdas_on_one_line():
    total = grad(lambda a: np.sum(np.sin(a)))(W) + grad(lambda b: np.sum(b ** 3))(W)
    close(total, np.cos(W) + 3 * W ** 2)
    # same parameters on one line: told apart by their columns
    f1, f2 = (lambda a: np.sum(a * 2.0)), (lambda a: np.sum(a ** 3))
    close(grad(f1)(W), np.full(3, 2.0))
    close(grad(f2)(W), 3 * W ** 2)
    close(jvp(f2, (W,), (T,))[1], np.dot(3 * W ** 2, T))


def test_lambda_inside_lambda():
    f = lambda a: (lambda a: np.sum(np.sin(a) * a))(a * 2.0)   # noqa: E731
    check_scalar(f, W)


def test_ambiguous_lambdas_are_refused(monkeypatch):
    f1, f2 = (lambda a: np.sum(a * 2.0)), (lambda a: np.sum(a ** 3))
    monkeypatch.setattr(parse, "_positions", lambda code: set())   # (no column info)
    with pytest.raises(CompileError, match="cannot tell which of the 2 lambdas") as err:
        grad(f2)(W)
    assert err.value.lineno == f2.__code__.co_firstlineno
    assert "f1, f2 = " in str(err.value)
    del f1


def test_lambda_spanning_lines_with_defaults():
    f = grad(lambda w,
             k=3.0: np.sum(np.cos(w) *
                           w ** k))
    close(f(W), fd_jacobian(lambda w: np.sum(np.cos(w) * w ** 3.0), (W,), 0))
    close(f(W, 2.0), fd_jacobian(lambda w: np.sum(np.cos(w) * w ** 2.0), (W,), 0))
    pos = np.abs(W) + 0.5
    close(grad(lambda w, k=3.0: np.sum(w ** k), wrt="k")(pos, 2.0),
          np.sum(pos ** 2.0 * np.log(pos)))


def make_lambda(c):
    return lambda v: np.sum(c * np.tanh(v))


def test_lambda_in_a_function_body_reads_its_cells():
    for c in (1.0, -2.5):
        f = make_lambda(c)
        check_scalar(f, W, autograd.grad(lambda v: anp.sum(c * anp.tanh(v))))


cube = lambda v: v ** 3                           # noqa: E731
sq = lambda x: np.sum(np.sin(x) ** 2)             # noqa: E731


def calls_module_lambda(x):
    return np.sum(cube(x) * 2.0) + sq(x)


def test_module_level_lambdas():
    check_scalar(sq, W, autograd.grad(lambda x: anp.sum(anp.sin(x) ** 2)))
    assert "def grad_sq(x):" in source(grad(sq))
    check_scalar(calls_module_lambda, W)
    assert "lambda_fwd" in source(grad(calls_module_lambda)) or \
        "cube" in source(grad(calls_module_lambda))


def test_lambda_method_of_a_class():
    class C:
        scale = 3.0
        f = lambda self, x: np.sum(self.scale * x ** 2)   # noqa: E731
    c = C()
    close(grad(c.f)(W), 6 * W)
    close(jvp(c.f, (W,), (T,))[1], np.dot(6 * W, T))


def test_stale_lambda_source_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "lam_mod_stale.py"
    path.write_text("import numpy as np\nf = lambda x: np.sum(x ** 2)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    mod = importlib.import_module("lam_mod_stale")
    close(grad(mod.f)(W), 2 * W)
    path.write_text("import numpy as np\nf = lambda x: np.sum(x ** 3)\n")
    st = os.stat(path)
    os.utime(path, (st.st_atime, st.st_mtime + 5))
    import linecache
    linecache.checkcache(str(path))
    with pytest.raises(CompileError, match="not the code that runs"):
        jvp(mod.f, (W,), (T,))         # (compiled again: checked again)
    sys.modules.pop("lam_mod_stale", None)


LAYOUTS = textwrap.dedent('''\
    import numpy as np

    NOTE = """
    sq = lambda x: np.sum(x)
    """
    held = []
    held.append((1,
    lambda x: np.sum(np.sin(x) * x),
    2))
    cube = (
    lambda x: np.sum(x ** 3))
    def deco(h):
        def wrap(g):
            g.h = h
            return g
        return wrap
    @deco(lambda x: np.sum(np.exp(x)))
    def host():
        """
    pass
        """
    if True:
        sq = lambda x: np.sum(
    x ** 2)
    else:
        sq = None
    tail = lambda x: np.sum(x * np.cos(x))
    bs = \\
    lambda x: np.sum(x ** 4)
    ''')


def test_lambdas_found_in_any_layout_of_their_file(tmp_path, monkeypatch):
    # only the statements around a lambda are parsed: a start or end inside a
    # string, a bracket or a decorator, and the whole-file fallback give the
    # same lambda, checked against finite differences and its display name
    path = tmp_path / "lam_mod_layouts.py"
    path.write_text(LAYOUTS)
    monkeypatch.syspath_prepend(str(tmp_path))
    mod = importlib.import_module("lam_mod_layouts")
    fns = {"held": mod.held[0][1], "cube": mod.cube, "deco": mod.host.h,
           "sq": mod.sq, "tail": mod.tail, "bs": mod.bs}
    around = parse._statements_around
    try:
        for label, f in fns.items():
            for statements in (around, lambda lines, line: None):
                monkeypatch.setattr(parse, "_statements_around", statements)
                for cache in (parse._PARSED, parse._CHECKED, parse._FILE_TREES,
                              compiler._CACHE):
                    cache.clear()
                g = grad(f)
                close(g(W), fd_jacobian(f, (W,), 0))
                close(jvp(f, (W,), (T,))[1], fd_jacobian(f, (W,), 0) @ T)
                # (the statements around were enough: the file was not parsed)
                assert bool(parse._FILE_TREES) == (statements is not around)
                if label in ("cube", "sq", "tail", "bs"):
                    assert f"def grad_{label}(x):" in source(g), label
    finally:
        sys.modules.pop("lam_mod_layouts", None)


# -- functools.partial ------------------------------------------------------

def f2(a, x):
    return np.sum(a * np.sin(x) * x)


def af2(a, x):
    return anp.sum(a * anp.sin(x) * x)


def test_partial_with_keywords():
    p = partial(loss, X=X, y=Y)
    check_scalar(p, W, autograd.grad(lambda w: aloss(w, X, Y)))
    assert "def grad_loss(w, *, X, y):" in source(grad(p))
    # a keyword given at the call overrides, as calling the partial does
    close(grad(p)(W, X=2 * X), fd_jacobian(lambda w: loss(w, 2 * X, Y), (W,), 0))
    with pytest.raises(ValueError, match="wrt='X' names an argument the functools.partial fixes"):
        grad(p, wrt="X")


def test_partial_positional_shifts_wrt():
    p = partial(f2, 2.0)
    check_scalar(p, W, autograd.grad(lambda x: af2(2.0, x)))
    with pytest.raises(ValueError, match="out of range"):
        grad(p, wrt=1)
    q = partial(f2, x=W)
    close(grad(q)(1.5), np.sum(np.sin(W) * W))
    close(grad(q, wrt="a")(1.5), np.sum(np.sin(W) * W))


def test_nested_partials_and_new_values_reuse_code():
    p = partial(partial(f2), 2.0)
    close(grad(p)(W), autograd.grad(lambda x: af2(2.0, x))(W))

    class P(functools.partial):      # a subclass is not flattened by functools
        pass
    q = partial(P(loss, X=X), y=Y)
    close(grad(q)(W), autograd.grad(lambda w: aloss(w, X, Y))(W))
    codes = set()
    for a in (1.0, -3.0, 0.5):   # made again with new values: new numbers, same code
        r = partial(f2, a)
        close(grad(r)(W), autograd.grad(lambda x: af2(a, x))(W))
        codes.add(parse.unwrap(r).__code__)
    assert len(codes) == 1


class Model:
    def __init__(self):
        self.W = np.array([[1.0, 2.0], [0.5, -1.0], [0.0, 3.0]])

    def loss(self, c, x):
        return np.sum(c * np.tanh(x @ self.W))


def test_partial_of_a_method():
    m = Model()
    p = partial(m.loss, 2.0)
    check_scalar(p, W, autograd.grad(lambda x: anp.sum(2.0 * anp.tanh(anp.dot(x, m.W)))))


def test_partial_of_a_lambda():
    p = partial(lambda c, x: np.sum(c * x ** 3), 2.0)
    check_scalar(p, W)


# -- sources that cannot be read ----------------------------------------------

def _run(code):
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)],
                          capture_output=True, text=True, env=env, timeout=120)


def test_no_source_is_short_and_has_no_compiler_frames():
    r = _run("""
        import numpy as np
        from ad_compiler import grad
        grad(lambda x: np.sum(x ** 2))(np.ones(2))
    """)
    assert r.returncode != 0
    err = r.stderr
    assert "CompileError: <string>:4:1: cannot read the source of the lambda " \
           "(made by exec() or python -c)" in err, err
    frames = [line for line in err.splitlines() if line.startswith('  File "')]
    inside = [f for f in frames if "ad_compiler" in f or "transforms" in f]
    assert all("api.py" in f for f in inside) and len(inside) <= 2, err
    assert len(err.splitlines()) <= 12, err


def test_function_typed_at_a_prompt_with_linecache_source():
    # Python 3.13's REPL keeps what was typed in linecache under
    # <python-input-N>: such functions are read from there
    import linecache
    text = "import numpy as np\ndef f(x):\n    return np.sum(x ** 3)\ng = lambda x: np.sum(np.cos(x))\n"
    name = "<python-input-ad-test>"
    linecache.cache[name] = (len(text), None, text.splitlines(True), name)
    try:
        ns = {}
        exec(compile(text, name, "exec"), ns)
        close(grad(ns["f"])(W), 3 * W ** 2)
        close(grad(ns["g"])(W), -np.sin(W))
    finally:
        linecache.cache.pop(name, None)
    ns = {}
    exec(compile(text, "<python-input-gone>", "exec"), ns)
    with pytest.raises(CompileError, match="typed at the interactive prompt"):
        grad(ns["f"])


# -- functions passed as values ------------------------------------------------

def relu(v):
    return np.maximum(v, 0.0)


def softplus(v):
    return np.log1p(np.exp(v))


def apply(fn, x):
    return fn(x)


def layer(x, act=np.tanh):
    return act(x) * 2.0


ACTS = {"relu": relu, "tanh": np.tanh, "softplus": softplus}


def map_local_def(x):
    def h(v):
        return v ** 2 * x[2]            # reads the enclosing x: inlined
    return sum(list(map(h, [x[0], x[1]])))


def map_function_and_lambda(x, y):
    a = np.stack(list(map(np.sin, [x, y * 2.0])))
    b = list(map(lambda u, v: u * np.cos(v), [x, y], [y, x]))
    return np.sum(a) + np.sum(b[0] * b[1])


def sorted_with_local_key(x):
    def first(r):
        return r[0]
    rows = sorted([x * 2.0, x + 1.0, np.sin(x)], key=first)
    return np.sum(rows[0] * rows[2])


def callbacks(x):
    def cube(v):
        return v ** 3
    return np.sum(apply(np.tanh, x) + apply(lambda v: v ** 2, x) + apply(cube, x)
                  + apply(softplus, x))


def default_function(x):
    return np.sum(layer(x) + layer(x, act=np.sin) + layer(x, softplus))


def top_default(x, nonlinearity=np.tanh):
    return np.sum(nonlinearity(x) * x)


def dict_of_functions(x):
    def sq(v):
        return v * v
    acts = {"relu": relu, "sin": np.sin, "sq": sq}
    fns = [np.cos, softplus]
    f = np.exp
    return np.sum(ACTS["softplus"](x) + acts["sin"](x) + acts["sq"](x) + fns[1](x)
                  + f(x) + ACTS["tanh"](x) * fns[0](x))


def anp_dict_of_functions(x):
    sp = lambda v: anp.log1p(anp.exp(v))      # noqa: E731
    return anp.sum(sp(x) + anp.sin(x) + x * x + sp(x) + anp.exp(x)
                   + anp.tanh(x) * anp.cos(x))


XS = np.array([0.3, -0.7, 1.1])
YS = np.array([-0.4, 0.9, 0.2])


def check_fn(f, args, wrt=0, ag=None):
    """grad/vjp (reverse) and jvp (forward) of scalar f w.r.t. args[wrt]
    against FD, and autograd's gradient when given."""
    g = fd_jacobian(f, args, wrt)
    close(grad(f, wrt=wrt)(*args), g)
    tangents = tuple(T if i == wrt else np.zeros_like(a) for i, a in enumerate(args))
    close(jvp(f, args, tangents)[1], g @ T)
    close(vjp(f, *args)[1](1.0)[wrt], g)
    if ag is not None:
        close(g, ag(*args))


@pytest.mark.parametrize("f", [map_local_def, sorted_with_local_key, callbacks,
                               default_function, dict_of_functions])
def test_functions_passed_as_values(f):
    check_fn(f, (XS,))


def test_functions_passed_as_values_against_autograd():
    close(grad(dict_of_functions)(XS), autograd.grad(anp_dict_of_functions)(XS))
    check_fn(map_function_and_lambda, (XS, YS), 0)
    check_fn(map_function_and_lambda, (XS, YS), 1)
    close(hessian(callbacks)(XS), fd_hessian(callbacks, (XS,), 0), tol=1e-5)


def test_top_level_function_argument():
    check_fn(top_default, (XS,), ag=autograd.grad(lambda x: anp.sum(anp.tanh(x) * x)))
    # passed by position: compiled for it
    close(grad(top_default)(XS, np.sin), np.cos(XS) * XS + np.sin(XS))
    close(grad(top_default)(XS, relu), fd_jacobian(lambda x: top_default(x, relu), (XS,), 0))
    # by keyword: the code was specialized to the default; refused, not wrong
    with pytest.raises(CompileError, match="'nonlinearity' was differentiated as tanh"):
        grad(top_default)(XS, nonlinearity=np.sin)


def test_rebound_function_global_is_checked():
    saved = ACTS["tanh"]
    try:
        close(grad(dict_of_functions)(XS), autograd.grad(anp_dict_of_functions)(XS))
        ACTS["tanh"] = np.sin          # data, not code: checked when the code runs
        with pytest.raises(CompileError, match="differentiated as tanh"):
            grad(dict_of_functions)(XS)
    finally:
        ACTS["tanh"] = saved


def closure_value(x):
    s = np.sum(x)

    def h(v):
        return v * s
    return np.sum(apply(h, x))


def test_local_function_reading_enclosing_values_passed_to_a_helper_is_refused():
    with pytest.raises(CompileError, match="the local function 'h' is used as a value "
                                           "and reads 's' of the enclosing function") as err:
        grad(closure_value)(XS)
    assert "apply(h, x)" in str(err.value)


@pytest.mark.parametrize("f", [map_local_def, sorted_with_local_key, callbacks,
                               default_function, dict_of_functions, top_default])
def test_functions_passed_as_values_second_order(f):
    # forward mode over the generated gradient code, which keeps the
    # specialization and its checks
    close(hessian(f)(XS), fd_hessian(f, (XS,), 0), tol=1e-5)
    close(jacobian(f, mode="fwd")(XS), fd_jacobian(f, (XS,), 0))


# -- methods of attributes -------------------------------------------------------

class Dense:
    def __init__(self, scale):
        self.scale = scale

    def forward(self, params, x):
        return np.tanh(self.scale * (x @ params))


class Head:
    def __init__(self, c):
        self.c = c
        self.inner = Dense(0.5)

    def forward(self, params, h):
        return self.c * np.sin(self.inner.forward(params, h)) * h


class Net:
    def __init__(self):
        self.layer = Dense(1.0)
        self.layers = [Dense(1.0), Dense(-0.5), Dense(2.0)]
        self.head = Head(2.0)

    def loss(self, params, x):
        h = self.layer.forward(params, x)
        return np.sum(self.head.forward(params, h))

    def loss_indexed(self, params, x):
        for i in range(len(self.layers)):
            x = self.layers[i].forward(params, x)
        return np.sum(x)

    def loss_loop(self, params, x):
        for k, layer in enumerate(self.layers):
            x = layer.forward(params, x) * (k + 1.0)
        return np.sum(x)

    def loss_rebinding(self, params, x):
        self.layer = self.layers[1]
        return np.sum(self.layer.forward(params, x))


def net_plain(net, params, x):
    lay = net.layer
    return np.sum(lay.forward(params, x) ** 2)


P = np.array([[0.5, -0.2], [0.3, 0.8]])
XP = np.array([[0.1, 0.2], [0.3, -0.4], [1.0, 0.5]])
TP = np.array([[1.0, -0.5], [0.25, 2.0]])


def anp_net_loss(params, x):
    h = anp.tanh(anp.dot(x, params))
    return anp.sum(2.0 * anp.sin(anp.tanh(0.5 * anp.dot(h, params))) * h)


@pytest.mark.parametrize("method", ["loss", "loss_indexed", "loss_loop"])
def test_methods_of_attributes(method):
    net = Net()
    f = getattr(net, method)
    g = fd_jacobian(lambda p: f(p, XP), (P,), 0)
    close(grad(f)(P, XP), g)
    close(jvp(f, (P, XP), (TP, np.zeros_like(XP)))[1], np.sum(g * TP))
    close(vjp(f, P, XP)[1](1.0)[0], g)
    close(hessian(f)(P, XP), fd_hessian(lambda p: f(p, XP), (P,), 0), tol=1e-5)
    if method == "loss":
        close(grad(f)(P, XP), autograd.grad(anp_net_loss)(P, XP))


def test_method_of_an_attribute_in_a_plain_function():
    net = Net()
    for layer in (Dense(3.0), Head(3.0)):      # another structure: compiled for it
        net.layer = layer
        close(grad(net_plain, wrt=1)(net, P, XP),
              fd_jacobian(lambda p: net_plain(net, p, XP), (P,), 0))


def test_attribute_rebound_in_the_function_is_not_resolved():
    net = Net()
    with pytest.raises(CompileError, match=r"\.forward\(\)"):
        grad(net.loss_rebinding)(P, XP)


def functions_from_a_loop(x):
    s = 0.0
    for act in [np.sin, np.cos]:
        s = s + np.sum(apply(act, x))
    return s


def test_function_argument_not_known_when_compiling_is_refused():
    # the helper cannot be specialized: a CompileError at its call, not a number
    with pytest.raises(CompileError, match=r"no derivative rule for fn\(\): 'fn' holds a "
                                           r"function that is not known when") as err:
        grad(functions_from_a_loop)(XS)
    assert err.value.lineno == apply.__code__.co_firstlineno + 1


class Indented:
    def loss(self, x):
        # two lambdas with the same parameters on one line, in an indented def
        return np.sum(apply(lambda v: v ** 3, x) + apply(lambda v: v ** 2, x))


def test_lambdas_as_values_on_one_line_of_an_indented_function():
    obj = Indented()
    close(grad(obj.loss)(XS), 3 * XS ** 2 + 2 * XS)
    close(jvp(obj.loss, (XS,), (T,))[1], np.dot(3 * XS ** 2 + 2 * XS, T))


KIND = "softplus"


def named_activation(x, name="tanh"):
    key = "relu"
    return np.sum(ACTS[name](x) + ACTS[key](x) * ACTS[KIND](x))


def test_dict_of_functions_with_keys_held_by_names():
    def ref(x, name="tanh"):
        return np.sum(ACTS[name](x) + relu(x) * softplus(x))
    check_fn(named_activation, (XS,))
    close(grad(named_activation)(XS), fd_jacobian(ref, (XS,), 0))
    assert "ad.check_function" in source(grad(named_activation))
    # another key at run time: the code was compiled for the default's entry
    with pytest.raises(CompileError, match=r"'ACTS\[name\]' was differentiated as tanh"):
        grad(named_activation)(XS, "softplus")
