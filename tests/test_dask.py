"""The same derivative on Dask arrays (issue #11, scale-out).

The generated code calls NumPy's functions; on Dask arrays they dispatch to
Dask (``__array_function__`` / ``__array_ufunc__``), so the derivative is a
lazy Dask computation.  Checked here: values equal finite differences and
autograd of the NumPy function; the results are Dask collections; nothing is
computed while the derivative is built (a scheduler that counts its calls);
mixed arguments (NumPy parameters, Dask data) and all-Dask; pytrees;
refusals; and a ``dask.distributed`` LocalCluster of two processes.
"""
import numpy as np
import pytest

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")
from dask.base import is_dask_collection  # noqa: E402

from ad_compiler import grad, jvp, value_and_grad, vjp  # noqa: E402
from ad_compiler.tree import tree_leaves  # noqa: E402
from tests._foreign_arrays_cases import (CASES, autograd_grads, data,  # noqa: E402
                                         fd_grads, mlp_tree)

DATA = data()


class Counting:
    """A Dask scheduler that counts how often something is computed."""

    def __init__(self):
        self.calls = 0

    def __call__(self, dsk, keys, **kwargs):
        self.calls += 1
        return dask.get(dsk, keys, **kwargs)


def lazily(fn, *args):
    """``fn(*args)`` with a counting scheduler: (result, number of computes)."""
    sched = Counting()
    with dask.config.set(scheduler=sched):
        out = fn(*args)
    return out, sched.calls


def to_dask(a, chunks):
    return da.from_array(a, chunks=chunks)


def _args(name, placement):
    params, X, y = DATA[name]
    Xd, yd = to_dask(X, (10, X.shape[1])), to_dask(y, 10)
    if placement == "all":
        params = tuple(da.from_array(p) for p in params)
    return params, Xd, yd


def _refs(name):
    params, X, y = DATA[name]
    fd = fd_grads(name, params, X, y)
    ag = autograd_grads(name, params, X, y)
    return fd, ag


def _close(got, fd, ag):
    for k, (g, r) in enumerate(zip(got, fd)):
        np.testing.assert_allclose(g, r, rtol=1e-6, atol=1e-8, err_msg=f"parameter {k} vs FD")
        if ag is not None:
            np.testing.assert_allclose(g, ag[k], rtol=1e-10, atol=1e-12,
                                       err_msg=f"parameter {k} vs autograd")


def _all_dask(tree):
    leaves = tree_leaves(tree)
    assert leaves and all(is_dask_collection(v) for v in leaves), [type(v) for v in leaves]


CASE_NAMES = sorted(CASES)
PLACEMENTS = ["mixed", "all"]     # NumPy parameters with Dask data / everything Dask


@pytest.mark.parametrize("placement", PLACEMENTS)
@pytest.mark.parametrize("name", CASE_NAMES)
def test_grad_is_lazy_and_right(name, placement):
    f = CASES[name]
    params, X, y = _args(name, placement)
    wrt = tuple(range(len(params)))
    g, computes = lazily(grad(f, wrt=wrt), *params, X, y)
    assert computes == 0
    _all_dask(g)
    _close(dask.compute(*g, scheduler="sync"), *_refs(name))


@pytest.mark.parametrize("placement", PLACEMENTS)
@pytest.mark.parametrize("name", CASE_NAMES)
def test_value_and_grad(name, placement):
    f = CASES[name]
    params, X, y = _args(name, placement)
    wrt = tuple(range(len(params)))
    (value, g), computes = lazily(value_and_grad(f, wrt=wrt), *params, X, y)
    assert computes == 0
    _all_dask((value, g))
    value, g = dask.compute(value, g, scheduler="sync")
    np_params, Xn, yn = DATA[name]
    np.testing.assert_allclose(value, f(*np_params, Xn, yn), rtol=1e-12)
    _close(g, *_refs(name))


@pytest.mark.parametrize("placement", PLACEMENTS)
@pytest.mark.parametrize("name", CASE_NAMES)
def test_jvp(name, placement):
    f = CASES[name]
    params, X, y = _args(name, placement)
    rng = np.random.default_rng(1)
    tangents = [rng.normal(size=np.shape(p)) for p in params]
    if placement == "all":
        tangents = [da.from_array(t) for t in tangents]
    (out, dout), computes = lazily(
        lambda: jvp(f, tuple(params) + (X, y), tuple(tangents) + (None, None)))
    assert computes == 0
    _all_dask((out, dout))
    dout = dask.compute(dout, scheduler="sync")[0]
    fd, ag = _refs(name)
    expected = sum(np.sum(r * np.asarray(t)) for r, t in zip(fd, dask.compute(*tangents)))
    np.testing.assert_allclose(dout, expected, rtol=1e-6, atol=1e-9)
    if ag is not None:
        np.testing.assert_allclose(
            dout, sum(np.sum(a * np.asarray(t)) for a, t in zip(ag, dask.compute(*tangents))),
            rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("placement", PLACEMENTS)
@pytest.mark.parametrize("name", CASE_NAMES)
def test_vjp(name, placement):
    f = CASES[name]
    params, X, y = _args(name, placement)
    (out, pullback), computes = lazily(lambda: vjp(f, *params, X, y))
    assert computes == 0
    cts, computes = lazily(pullback, 2.0)
    assert computes == 0
    n = len(params)
    _all_dask((out,) + tuple(cts[:n]))
    fd, ag = _refs(name)
    got = dask.compute(*cts[:n], scheduler="sync")
    _close([g / 2.0 for g in got], fd, ag)


def test_pytree_of_dask_parameters():
    params, X, y = DATA["mlp"]
    tree = dict(zip(("W1", "b1", "W2", "b2"), (da.from_array(p) for p in params)))
    Xd, yd = to_dask(X, (10, 3)), to_dask(y, 10)
    g, computes = lazily(grad(mlp_tree), tree, Xd, yd)
    assert computes == 0 and set(g) == set(tree)
    _all_dask(g)
    g = dask.compute(g, scheduler="sync")[0]
    _close([g[k] for k in ("W1", "b1", "W2", "b2")], *_refs("mlp"))


def test_inputs_are_not_modified():
    (w,), X, y = DATA["logistic"]
    Xd, yd = to_dask(X, (10, 3)), to_dask(y, 10)
    names = (Xd.name, yd.name)
    w0 = w.copy()
    grad(CASES["logistic"])(w, Xd, yd)
    assert (Xd.name, yd.name) == names and np.array_equal(w, w0)


def write_into(x, y):
    x[0] = 0.0                 # an in-place write into the caller's argument
    return np.sum(x * y)


def test_in_place_write_does_not_reach_the_callers_dask_array():
    x = np.arange(1.0, 7.0)
    xd = da.from_array(x, chunks=3)
    name = xd.name
    g = grad(write_into, wrt=1)(xd, da.from_array(np.ones(6), chunks=3))
    assert xd.name == name                     # (a Dask x[0] = v rebinds the array)
    np.testing.assert_array_equal(xd.compute(), x)
    expected = x.copy()
    expected[0] = 0.0
    np.testing.assert_allclose(g.compute(), expected)


def take_rows(w, X):
    return np.sum(X[np.array([0, 2, 2])] @ w)


def test_fancy_index_adjoint_is_refused_with_a_message():
    X = np.arange(12.0).reshape(4, 3)
    # the adjoint w.r.t. X needs np.add.at, which Dask has not
    with pytest.raises(TypeError, match="np.add.at"):
        grad(take_rows, wrt=1)(np.ones(3), da.from_array(X, chunks=2))
    # w.r.t. w it needs no scatter: lazy and right
    g = grad(take_rows)(np.ones(3), da.from_array(X, chunks=2))
    assert is_dask_collection(g)
    np.testing.assert_allclose(g.compute(), X[[0, 2, 2]].sum(axis=0))


def test_distributed_local_cluster():
    distributed = pytest.importorskip("distributed")
    (w,), X, y = DATA["logistic"]
    rng = np.random.default_rng(3)
    Xl = rng.normal(size=(4000, 3))
    yl = (rng.random(4000) < 1.0 / (1.0 + np.exp(-Xl @ w))).astype(float)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  memory_limit="300MB", dashboard_address=":0",
                                  silence_logs=50) as cluster, \
            distributed.Client(cluster) as client:
        Xd = client.persist(da.from_array(Xl, chunks=(500, 3)))
        yd = client.persist(da.from_array(yl, chunks=500))
        value, g = value_and_grad(CASES["logistic"])(w, Xd, yd)
        assert is_dask_collection(g)
        value, g = client.compute([value, g], sync=True)
        # the chunks were spread over both workers
        assert len(client.who_has(Xd)) and len(set(
            a for ws in client.who_has(Xd).values() for a in ws)) == 2
    np.testing.assert_allclose(value, CASES["logistic"](w, Xl, yl), rtol=1e-12)
    np.testing.assert_allclose(g, fd_grads("logistic", (w,), Xl, yl)[0], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(g, autograd_grads("logistic", (w,), Xl, yl)[0], rtol=1e-10)
