"""Refusals met in code ad_compiler wrote itself point at the user's line.

Two kinds of code are ad_compiler's own: the wrapper it makes for a
``functools.partial`` (``partial_function`` in transforms/frontend/parse.py)
and generated derivative code, which nesting differentiates again (``grad``
of code calling ``jvp``/``hessian``).  A CompileError raised while compiling
either must name the user's real file, absolute line and that line's text
(``compiler._relocate``; generated code through its ``# line N:`` comments,
``codegen.user_origin``), never the synthetic file.

The modules are written to real files, as users' code is.
"""
import functools
import importlib.util
import sys

import numpy as np
import pytest

import ad_compiler
from ad_compiler import CompileError

_COUNT = [0]


def _module(tmp_path, text):
    _COUNT[0] += 1
    name = f"_ad_error_location_{_COUNT[0]}"
    path = tmp_path / f"{name}.py"
    path.write_text(text, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod, str(path), text.splitlines()


def _line_of(lines, text):
    """The 1-based number of the one line of ``lines`` that contains ``text``."""
    hits = [i + 1 for i, line in enumerate(lines) if text in line]
    assert len(hits) == 1, (text, hits)
    return hits[0]


def _assert_at(exc, path, lines, text):
    lineno = _line_of(lines, text)
    assert exc.filename == path, str(exc)
    assert exc.lineno == lineno, str(exc)
    assert exc.line == lines[lineno - 1], str(exc)
    assert "<functools.partial" not in str(exc) and "<ad_compiler" not in str(exc), str(exc)


def _central_fd(fn, x, eps=1e-6):
    return (fn(x + eps) - fn(x - eps)) / (2 * eps)


_MUTATING = """\
import numpy as np


def f(d, x):
    d['W'][-1] = np.tanh(x)
    return np.sum(d['W']) * x


def f_k(k, d, x):
    return k * f(d, x)


def h(k, d, x):
    d['W'][-1] = np.tanh(x)
    return k * np.sum(d['W'] * d['W']) * x
"""


def test_partial_of_a_function_passing_its_argument_to_a_writer(tmp_path):
    """grad(partial(f_k, 0.5)) where f_k passes d to f, which writes into
    it: refused as grad(f_k) is, at f_k's call of f (fuzz seeds 5151016791,
    5151016445, 5151016900 located it in the partial's wrapper)."""
    mod, path, lines = _module(tmp_path, _MUTATING)
    d = {"W": np.ones((2, 2))}
    with pytest.raises(CompileError) as direct:
        ad_compiler.grad(mod.f_k, wrt="d")(0.5, d, 0.3)
    with pytest.raises(CompileError) as wrapped:
        ad_compiler.grad(functools.partial(mod.f_k, 0.5), wrt="d")(d, 0.3)
    for exc in (direct.value, wrapped.value):
        _assert_at(exc, path, lines, "return k * f(d, x)")
        assert "f() writes into its argument 'd'" in exc.message


def test_partial_of_a_function_writing_into_its_own_argument(tmp_path):
    """grad(h) of an h that writes into its own argument is fine, so is
    grad(partial(h, 0.5)) (the wrapper only passes the argument on)."""
    mod, _, _ = _module(tmp_path, _MUTATING)
    W = np.array([[0.3, -0.2], [0.5, 0.1]])
    x = 0.7
    got = ad_compiler.grad(functools.partial(mod.h, 0.5), wrt=("d", "x"))({"W": W.copy()}, x)
    ref = ad_compiler.grad(mod.h, wrt=("d", "x"))(0.5, {"W": W.copy()}, x)
    np.testing.assert_allclose(got[0]["W"], ref[0]["W"])
    # central differences (h writes into d: each call gets a fresh copy)
    fd_x = _central_fd(lambda s: mod.h(0.5, {"W": W.copy()}, s), x)
    np.testing.assert_allclose(got[1], fd_x, rtol=1e-6)
    fd_W = np.zeros_like(W)
    for i in np.ndindex(W.shape):
        e = np.zeros_like(W)
        e[i] = 1.0
        fd_W[i] = _central_fd(lambda t: mod.h(0.5, {"W": W + t * e}, x), 0.0)
    np.testing.assert_allclose(got[0]["W"], fd_W, rtol=1e-6, atol=1e-9)


_REVERSE_ONLY = """\
import numpy as np
from ad_compiler import reverse

d = None


def scaled(k, x):
    return k * np.sin(x)


@reverse(scaled)
def scaled_rule(z, k, x):
    d[x] = d[z] * k * np.cos(x)
"""


def test_refusal_in_the_partial_wrapper_points_at_the_function(tmp_path):
    """A refusal of the wrapper's own call (here: forward mode of a function
    that has only a reverse rule) is located at the wrapped function's
    'def' line, and quotes the wrapper's line."""
    mod, path, lines = _module(tmp_path, _REVERSE_ONLY)
    with pytest.raises(CompileError) as info:
        ad_compiler.jvp(functools.partial(mod.scaled, 0.5), (0.3,), (1.0,))
    _assert_at(info.value, path, lines, "def scaled(k, x):")
    assert "functools.partial of scaled" in info.value.message
    assert "return func(k, x)" in info.value.message


_GENERATED = """\
import numpy as np
import scipy.special as sp
from ad_compiler import forward, jvp, reverse

d = None


def bump(x):
    return np.sin(x) + 0.5 * x


@reverse(bump)
def bump_rev(z, x):
    d[x] = d[z] * (np.cos(x) + 0.5)


@forward(bump)
def bump_fwd(z, x):
    # sp.struve has no derivative rule: the tangent code cannot be
    # differentiated again
    d[z] = d[x] * (np.cos(x) + 0.5 + 0.0 * sp.struve(0.0, x))


def f(x):
    y = np.cos(x)
    z = bump(y)
    return z * x


def g(x):
    return jvp(f, (x,), (1.0,))[1]
"""


def test_refusal_in_generated_code_differentiated_again(tmp_path):
    """grad of code calling jvp(f): the forward code of f is differentiated
    again and meets a call without a rule (fuzz seed 5151016825 met
    runtime_numpy.abs_dir_tangent so): located at f's line that the
    generated statement came from."""
    mod, path, lines = _module(tmp_path, _GENERATED)
    assert abs(mod.g(0.3) - _central_fd(mod.f, 0.3)) < 1e-6     # g itself runs
    with pytest.raises(CompileError) as info:
        ad_compiler.grad(mod.g)(0.3)
    _assert_at(info.value, path, lines, "z = bump(y)")
    assert "struve" in info.value.message
    assert "derivative code generated from this line" in info.value.message
