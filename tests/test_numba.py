"""grad(f, backend="numba") (ad_compiler/backends): the generated code
compiled by numba gives the NumPy backend's numbers, both checked against
central finite differences in float64; unsupported code and a missing numba
fall back to the NumPy code with a BackendFallbackWarning.  Skipped without
numba (pip install ".[numba]"), except the option and missing-numba checks."""
import os
import sys
import warnings

import numpy as np
import pytest

from ad_compiler import backends, grad, value_and_grad
from ad_compiler.backends import BackendFallbackWarning
from benchmarks import workloads as W

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "examples"))
import bouncing_oscillator as B  # noqa: E402

try:
    import numba  # noqa: F401
    HAVE_NUMBA = True
except ImportError:
    HAVE_NUMBA = False
needs_numba = pytest.mark.skipif(not HAVE_NUMBA, reason="numba is not installed")


@pytest.fixture(scope="module", autouse=True)
def _cache_folder(tmp_path_factory):
    """Numba's machine-code cache in a temporary folder (not ~/.cache)."""
    old = os.environ.get("AD_COMPILER_NUMBA_CACHE")
    os.environ["AD_COMPILER_NUMBA_CACHE"] = str(tmp_path_factory.mktemp("numba-cache"))
    yield
    if old is None:
        del os.environ["AD_COMPILER_NUMBA_CACHE"]
    else:
        os.environ["AD_COMPILER_NUMBA_CACHE"] = old


def central_fd(f, args, i, eps=1e-6):
    """d f / d args[i] by central differences (float64)."""
    x = args[i]
    if np.ndim(x) == 0:
        lo, hi = list(args), list(args)
        lo[i], hi[i] = x - eps, x + eps
        return (f(*hi) - f(*lo)) / (2 * eps)
    out = np.zeros(np.shape(x))
    for k in np.ndindex(np.shape(x)):
        lo, hi = list(args), list(args)
        lo[i], hi[i] = np.array(x, dtype=float), np.array(x, dtype=float)
        lo[i][k] -= eps
        hi[i][k] += eps
        out[k] = (f(*hi) - f(*lo)) / (2 * eps)
    return out


def _workload(name):
    return next(w for w in W.WORKLOADS if w.name == name)


CASES = {
    "rnn/small": lambda: (_workload("rnn/small").fn, _workload("rnn/small").wrt,
                          _workload("rnn/small").make(3)),
    "while/small": lambda: (_workload("while/small").fn, _workload("while/small").wrt,
                            _workload("while/small").make(3)),
    "bouncing_oscillator": lambda: (B.mean_sq_position, (0, 1),
                                    (0.3, np.array([1.0, 0.0]), B.STIFFNESS, B.DT, 200)),
}


@needs_numba
@pytest.mark.parametrize("name", sorted(CASES))
def test_workloads_match_numpy_and_finite_differences(name):
    f, wrt, args = CASES[name]()
    with warnings.catch_warnings():
        warnings.simplefilter("error", BackendFallbackWarning)   # must compile
        got = grad(f, wrt=wrt, backend="numba")(*args)
        again = grad(f, wrt=wrt, backend="numba")(*args)         # (from the cache)
    ref = grad(f, wrt=wrt)(*args)
    for i, g, r, g2 in zip(wrt, got, ref, again):
        fd = central_fd(f, args, i)
        assert np.shape(g) == np.shape(args[i])
        np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(g, r, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(g2, r, rtol=1e-10, atol=1e-12)


def _scalar_loop(x, w, n):
    s = 0.0
    for i in range(n):
        if s < 1.0:
            s = s + np.sin(w * x) * x
        else:
            s = s - 0.1 * x * x
    return s


def _matrix_fn(W_, x):
    h = np.tanh(W_ @ x)
    return np.sum(h * h) + np.mean(W_ * W_)


@needs_numba
@pytest.mark.parametrize("case", ["scalar_loop", "matrix"])
def test_small_functions(case):
    rng = np.random.default_rng(0)
    if case == "scalar_loop":
        f, args, wrt = _scalar_loop, (0.7, 1.3, 12), (0, 1)
    else:
        f, args, wrt = _matrix_fn, (rng.normal(size=(3, 4)), rng.normal(size=4)), (0, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", BackendFallbackWarning)
        value, got = value_and_grad(f, wrt=wrt, backend="numba")(*args)
    assert value == pytest.approx(f(*args), rel=1e-12)
    for i, g in zip(wrt, got):
        np.testing.assert_allclose(g, central_fd(f, args, i), rtol=1e-5, atol=1e-7)


def _with_dict(x, d):
    return np.sum(np.sin(x) * d["scale"])


@needs_numba
def test_unsupported_code_falls_back_with_one_warning():
    x = np.array([0.1, 0.2, 0.3])
    d = {"scale": 2.0}
    g = grad(_with_dict, backend="numba")
    with pytest.warns(BackendFallbackWarning, match="runs as NumPy code"):
        got = g(x, d)
    np.testing.assert_allclose(got, central_fd(_with_dict, (x, d), 0), rtol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("error", BackendFallbackWarning)   # once only
        np.testing.assert_allclose(g(x, d), got)


def test_missing_numba_falls_back(monkeypatch):
    monkeypatch.setitem(sys.modules, "numba", None)     # import numba fails
    monkeypatch.setattr(backends, "_MISSING", [])
    x = np.array([0.1, 0.2])
    with pytest.warns(BackendFallbackWarning, match="numba is not installed"):
        got = grad(lambda x: np.sum(x * np.sin(x)), backend="numba")(x)
    np.testing.assert_allclose(got, np.sin(x) + x * np.cos(x), rtol=1e-12)


@pytest.mark.parametrize("api", [grad, value_and_grad])
def test_backend_option_is_checked(api):
    with pytest.raises(ValueError, match="backend must be 'numpy' or 'numba'"):
        api(np.sin, backend="jax")
    with pytest.raises(ValueError, match="backend must be"):
        api(backend="cuda")
    # "numpy" is the default backend
    out = api(lambda x: x * x, backend="numpy")(3.0)
    assert (out[1] if api is value_and_grad else out) == pytest.approx(6.0)
