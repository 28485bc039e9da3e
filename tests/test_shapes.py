"""Shape specialization (transforms/analyses/shapes.py, api._shape_signature): the
generated gradient is specialized to the equality pattern of the argument
shapes.  Every specialized gradient is checked against central finite
differences (tests/reference.py) and autograd; the source checks pin what
the specialization removes."""
import numpy as np
import pytest

from ad_compiler import api, grad, source, value_and_grad
from tests.reference import fd_jacobian

try:
    import autograd
    import autograd.numpy as anp
except ImportError:          # pragma: no cover
    autograd = None


def _fd_grads(f, args, wrt):
    out = []
    for p in wrt:
        x = np.asarray(args[p], dtype=float)
        if np.ndim(args[p]) == 0:
            def fs(v, p=p):
                a = list(args)
                a[p] = float(v.reshape(()))
                return f(*a)
            out.append(fd_jacobian(fs, (np.array(args[p], dtype=float),), 0))
        else:
            out.append(fd_jacobian(f, args, p))
        assert out[-1].shape == x.shape
    return out


def _check(f, args, wrt, np_module=None):
    g = grad(f, wrt=wrt)
    got = g(*args)
    ref = _fd_grads(f, args, wrt)
    for a, r, p in zip(got, ref, wrt):
        assert np.shape(a) == np.shape(args[p])
        np.testing.assert_allclose(a, r, rtol=1e-6, atol=1e-8)
    return g, got


def bcast(x, a, b):
    u = x * a + b
    return np.mean(np.sin(u) * u)


def test_broadcast_adjoints_become_explicit_sums():
    rng = np.random.default_rng(0)
    args = (rng.normal(size=(4, 5)), rng.normal(size=5), rng.normal(size=(4, 1)))
    g, got = _check(bcast, args, (0, 1, 2))
    src = source(g)
    assert "unbroadcast" not in src and "mean_grad" not in src
    assert "np.sum(x * bt1, axis=0)" in src or "axis=0" in src
    assert "keepdims=True" in src
    if autograd is not None:
        def bcast_ag(x, a, b):
            u = x * a + b
            return anp.mean(anp.sin(u) * u)
        ref = autograd.grad(bcast_ag, (0, 1, 2))(*args)
        for a, r in zip(got, ref):
            np.testing.assert_allclose(a, r, rtol=1e-10)


def test_code_is_shared_by_calls_of_one_shape_pattern():
    g = grad(bcast, wrt=(0, 1, 2))
    rng = np.random.default_rng(1)
    for m, n in [(4, 5), (6, 7), (9, 3)]:
        args = (rng.normal(size=(m, n)), rng.normal(size=n), rng.normal(size=(m, 1)))
        for a, r in zip(g(*args), _fd_grads(bcast, args, (0, 1, 2))):
            np.testing.assert_allclose(a, r, rtol=1e-6, atol=1e-8)
    assert len(g._entries) == 1
    # a length that becomes 1 or equal to another length is another pattern
    for m, n in [(4, 1), (5, 5)]:
        args = (rng.normal(size=(m, n)), rng.normal(size=n), rng.normal(size=(m, 1)))
        for a, r in zip(g(*args), _fd_grads(bcast, args, (0, 1, 2))):
            np.testing.assert_allclose(a, r, rtol=1e-6, atol=1e-8)
    assert len(g._entries) == 3


def test_signature_is_an_equality_pattern():
    sig = api._shape_signature(["x", "a", "b", "c"],
                               (np.ones((4, 5)), np.ones(5), np.ones((4, 1)), 2.0))
    assert sig == (("x", ("d", (("x", 0), ("x", 1)))), ("a", ("d", (("x", 1),))),
                   ("b", ("d", (("x", 0), 1))), ("c", ("d", ())),
                   # Python floats are also recorded as such (transforms/cleanup/scalars.py)
                   ("*python", (("c", "float"),)))


def test_specializations_are_bounded():
    g = grad(bcast, wrt=0)
    rng = np.random.default_rng(2)
    shapes = [(k, 1) for k in range(2, 5)] + [(1, k) for k in range(2, 5)] + \
        [(k, k) for k in range(2, 6)] + [(2, 3), (3, 2)]
    for m, n in shapes:
        args = (rng.normal(size=(m, n)), rng.normal(size=n), rng.normal(size=(m, 1)))
        np.testing.assert_allclose(g(*args), _fd_grads(bcast, args, (0,))[0],
                                   rtol=1e-6, atol=1e-8)
    assert len(g._entries) <= api.MAX_SPECIALIZATIONS + 1


def loss(w, X, y):
    p = 1 / (1 + np.exp(-(X @ w)))
    return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))


def test_grad_does_not_compute_the_unused_loss():
    rng = np.random.default_rng(3)
    args = (rng.normal(size=3), rng.normal(size=(6, 3)), (rng.uniform(size=6) > 0.5) * 1.0)
    g, _ = _check(loss, args, (0,))
    src = source(g)
    code = "\n".join(line for line in src.splitlines() if not line.strip().startswith("#"))
    assert "np.log" not in code and "scalar_seed" not in code
    # the mean's adjoint is one number, -1/n, and stays one: each use
    # multiplies it with an array of the full shape (specialize.uniform_adjoints)
    assert " = -1.0 / X.shape[0]" in code and "np.full" not in code
    # value_and_grad needs the value: the log terms stay
    vg = value_and_grad(loss)
    v, gw = vg(*args)
    assert v == pytest.approx(loss(*args))
    assert "np.log" in source(vg)


def test_float32_keeps_the_checked_seed_and_its_dtype():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(3, 4)).astype(np.float32)
    a = rng.normal(size=4).astype(np.float32)
    g = grad(bcast, wrt=(0, 1))
    gx, ga = g(x, a, np.ones((3, 1), dtype=np.float32))
    assert gx.dtype == np.float32 and ga.dtype == np.float32
    ref = _fd_grads(bcast, (x.astype(float), a.astype(float), np.ones((3, 1))), (0, 1))
    np.testing.assert_allclose(gx, ref[0], rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(ga, ref[1], rtol=1e-3, atol=1e-4)
    assert "scalar_seed" in source(g)


def test_non_scalar_output_still_refused():
    def f(x):
        return np.sin(x)
    with pytest.raises(TypeError, match="scalar"):
        grad(f)(np.ones(3))


def rnn(W, b, xs):
    h = np.zeros(W.shape[0])
    total = 0.0
    for t in range(xs.shape[0]):
        h = np.tanh(W @ h + xs[t] + b)
        total = total + np.sum(h * h)
    return total


def test_loop_pushes_only_what_the_adjoint_reads():
    rng = np.random.default_rng(5)
    args = (0.5 * rng.normal(size=(3, 3)), rng.normal(size=3), rng.normal(size=(7, 3)))
    g, _ = _check(rnn, args, (0, 1))
    src = source(g)
    assert "unbroadcast" not in src
    # h only (code for the NumPy interpreter pushes with the list's method)
    assert src.count("stack_push(") == 1 and "ad.push(" not in src


def grows(x, n):
    y = x
    for _ in range(n):
        y = np.concatenate([y, x * y[-1]])
    return np.sum(y * y) + np.sum(x * y[:1])


def test_a_name_whose_shape_changes_keeps_runtime_reductions():
    x = np.array([0.3, -0.2])
    _check(grows, (x, 3), (0,))


def rebinds(x, c):
    x = x * c
    x = np.mean(x, axis=0)
    return np.mean(x * x) * c


def test_rebound_parameter_is_not_used_for_shapes():
    rng = np.random.default_rng(6)
    _check(rebinds, (rng.normal(size=(3, 4)), 1.7), (0, 1))


def reductions(x, w):
    s = np.sum(x * w, axis=1, keepdims=True)
    m = np.mean(x, axis=0)
    return np.sum(np.exp(s) * x) + np.sum(m * w) + np.max(np.sum(x, axis=0))


def test_reduction_adjoints_with_axes():
    rng = np.random.default_rng(7)
    args = (rng.normal(size=(3, 4)), rng.normal(size=4))
    g, _ = _check(reductions, args, (0, 1))
    assert "ad.expand" not in source(g)


def scalars(a, b, x):
    return np.sum(a * x + b) * a


@pytest.mark.parametrize("a,b", [(1.5, -0.5), (np.float64(1.5), np.array(-0.5)), (2, 3.0)])
def test_python_and_numpy_scalars(a, b):
    x = np.linspace(-1.0, 1.0, 5)
    got = grad(scalars, wrt=(0, 1, 2))(a, b, x) if isinstance(a, float) or \
        isinstance(a, np.floating) else grad(scalars, wrt=(1, 2))(a, b, x)
    wrt = (0, 1, 2) if len(got) == 3 else (1, 2)
    ref = _fd_grads(scalars, (a, b, x), wrt)
    for g_, r in zip(got, ref):
        np.testing.assert_allclose(np.asarray(g_, dtype=float), r, rtol=1e-6, atol=1e-8)


def matvec(A, v, u):
    return np.dot(u, A @ v) + np.sum(A.T @ u)


def test_matrix_products_and_transpose():
    rng = np.random.default_rng(8)
    for shape in [(3, 4), (4, 4), (1, 4), (3, 1)]:
        A = rng.normal(size=shape)
        args = (A, rng.normal(size=shape[1]), rng.normal(size=shape[0]))
        _check(matvec, args, (0, 1, 2))


def layer(W, x, b):
    return np.tanh(W @ x + b)


def two_layers(W1, b1, W2, b2, x):
    h = layer(W1, x, b1)
    return np.sum(layer(W2, h, b2) ** 2) + np.mean(h)


def test_helpers_are_specialized_to_the_shapes_at_their_call_sites():
    from ad_compiler import compiler
    rng = np.random.default_rng(9)
    args = (rng.normal(size=(4, 3)), rng.normal(size=(4, 1)), rng.normal(size=(2, 4)),
            0.3, rng.normal(size=(3, 5)))
    _check(two_layers, args, (0, 1, 2, 3))
    entries = compiler._CACHE[layer.__code__]
    # layer(W1, x, b1): every shape known at the call site; the second call
    # gets the result of the first, whose shape the caller does not infer
    specialized = [e for key, es in entries.items() if key[3] for e in es]
    assert any("unbroadcast" not in e.sources["bwd"] for e in specialized)
    if autograd is not None:
        def layer_ag(W, x, b):
            return anp.tanh(W @ x + b)

        def two_layers_ag(W1, b1, W2, b2, x):
            h = layer_ag(W1, x, b1)
            return anp.sum(layer_ag(W2, h, b2) ** 2) + anp.mean(h)
        ref = autograd.grad(two_layers_ag, (0, 1, 2, 3))(*args)
        got = grad(two_layers, wrt=(0, 1, 2, 3))(*args)
        for a, r in zip(got, ref):
            np.testing.assert_allclose(a, r, rtol=1e-10)


def test_vjp_is_specialized_and_checks_the_cotangent_shape():
    from ad_compiler import vjp

    def f(x, a):
        return np.sin(x * a) + a
    rng = np.random.default_rng(10)
    x, a = rng.normal(size=(3, 4)), rng.normal(size=4)
    out, pb = vjp(f, x, a)
    ct = rng.normal(size=(3, 4))
    gx, ga = pb(ct)
    np.testing.assert_allclose(gx, ct * np.cos(x * a) * a, rtol=1e-12)
    np.testing.assert_allclose(ga, np.sum(ct * np.cos(x * a) * x, axis=0) + ct.sum(axis=0),
                               rtol=1e-12)
    assert "unbroadcast" not in pb.__ad_source__
    with pytest.raises(ValueError, match="cotangent"):
        pb(np.ones(4))


def test_repeated_calls_take_the_fast_path_and_still_check_arguments():
    g = grad(bcast, wrt=(0, 1))
    rng = np.random.default_rng(11)
    x, a, b = rng.normal(size=(3, 4)), rng.normal(size=4), rng.normal(size=(3, 1))
    first = g(x, a, b)
    assert len(g._fast) == 1
    again = g(x, a, b)
    for u, v in zip(first, again):
        np.testing.assert_array_equal(u, v)
    # another dtype, or an integer where a float is differentiated: the
    # checks run again (the fast path is keyed by types, dtypes and shapes)
    with pytest.raises(TypeError, match="integer"):
        g(x.astype(int), a, b)
    gx, ga = g(x.astype(np.float32), a.astype(np.float32), b.astype(np.float32))
    assert gx.dtype == np.float32
    np.testing.assert_allclose(gx, first[0], rtol=1e-4)


from ad_compiler import runtime as _runtime  # noqa: E402


def through_runtime_broadcast(x):
    return np.sum(_runtime.broadcast_to(x[:, None], (x.shape[0], 3)) ** 2 * x[:, None])


@pytest.mark.parametrize("n", [4, 3000])   # materialized copy / read-only view
def test_runtime_broadcast_to_value_and_forward_rule(n):
    from ad_compiler import jvp
    x = np.linspace(-1.0, 1.0, n)
    got = _runtime.broadcast_to(x[:, None], (n, 3))
    np.testing.assert_array_equal(got, np.broadcast_to(x[:, None], (n, 3)))
    dx = np.cos(np.arange(n))
    out, dout = jvp(through_runtime_broadcast, (x,), (dx,))
    assert out == pytest.approx(through_runtime_broadcast(x))
    h = 1e-6
    fd = (through_runtime_broadcast(x + h * dx) - through_runtime_broadcast(x - h * dx)) / (2 * h)
    assert dout == pytest.approx(fd, rel=1e-6)


# --------------------------------------------------------------------------
# forward mode (jvp, jacobian(mode="fwd"), hessian's forward over reverse)
# --------------------------------------------------------------------------

def _fd_jvp(f, args, tangents, eps=1e-6):
    """Central finite difference of f along the tangents (float64)."""
    plus = [a + eps * t if t is not None else a for a, t in zip(args, tangents)]
    minus = [a - eps * t if t is not None else a for a, t in zip(args, tangents)]
    return (np.asarray(f(*plus)) - np.asarray(f(*minus))) / (2 * eps)


def _forward_entries(fn):
    """The signatures forward mode compiled ``fn`` for."""
    from ad_compiler import compiler
    return [key[3] for key in compiler._CACHE.get(fn.__code__, {}) if key[0] == "forward"]


def _fwd_source(fn, args, wrt):
    from ad_compiler import compiler
    positional = [p for p in api._Signature(fn).all_positional]
    return compiler.compile_function(fn, "forward", tuple(wrt), (),
                                     api._shape_signature(positional, args)).sources["jvp"]


def elementwise(x, a, b):
    u = x * a + b
    v = np.sin(u) * np.exp(-0.5 * u * u)
    return v / (1.0 + x * x) + np.sqrt(1.0 + u * u) * a


def test_jvp_is_specialized_per_shape_pattern():
    from ad_compiler import jvp
    rng = np.random.default_rng(20)
    for m, n in [(4, 5), (6, 7), (4, 1), (5, 5)]:
        args = (rng.normal(size=(m, n)), rng.normal(size=n), rng.normal(size=(m, 1)))
        tans = tuple(rng.normal(size=np.shape(a)) for a in args)
        out, dout = jvp(elementwise, args, tans)
        np.testing.assert_allclose(out, elementwise(*args), rtol=1e-14)
        assert dout.shape == out.shape
        np.testing.assert_allclose(dout, _fd_jvp(elementwise, args, tans), rtol=1e-6, atol=1e-8)
        if autograd is not None:
            def el_ag(x, a, b):
                u = x * a + b
                v = anp.sin(u) * anp.exp(-0.5 * u * u)
                return v / (1.0 + x * x) + anp.sqrt(1.0 + u * u) * a
            ref = autograd.make_jvp(lambda x: el_ag(x, args[1], args[2]))(args[0])(tans[0])[1]
            ref = ref + autograd.make_jvp(lambda a: el_ag(args[0], a, args[2]))(args[1])(tans[1])[1]
            ref = ref + autograd.make_jvp(lambda b: el_ag(args[0], args[1], b))(args[2])(tans[2])[1]
            np.testing.assert_allclose(dout, ref, rtol=1e-10, atol=1e-12)
    # (4, 5) and (6, 7) share a pattern; (4, 1) and (5, 5) are two others
    sigs = [s for s in _forward_entries(elementwise) if s]
    assert len(sigs) == 3
    src = _fwd_source(elementwise, args, ("x", "a", "b"))
    assert "ad.like" not in src and "ad." not in src      # plain NumPy throughout
    generic = source(elementwise, mode="fwd", wrt=(0, 1, 2))
    assert "ad.like" in generic                             # (shapes unknown there)


def test_jvp_zero_tangents_of_known_float_arrays():
    from ad_compiler import jvp

    def f(x, y):
        out = np.zeros(7)
        out[1:-1] = np.sin(x) * y
        return out
    rng = np.random.default_rng(21)
    x, y = rng.normal(size=5), rng.normal(size=5)
    tx = rng.normal(size=5)
    out, dout = jvp(f, (x, y), (tx, None))
    np.testing.assert_allclose(dout, _fd_jvp(f, (x, y), (tx, None)), rtol=1e-6, atol=1e-8)
    src = _fwd_source(f, (x, y), ("x",))
    assert "np.zeros_like(out)" in src and "ad.zeros_like" not in src


def test_jvp_float32_keeps_its_dtype():
    from ad_compiler import jvp
    rng = np.random.default_rng(22)
    x = rng.normal(size=(3, 4)).astype(np.float32)
    a = rng.normal(size=4).astype(np.float32)
    b = rng.normal(size=(3, 1)).astype(np.float32)
    tx = rng.normal(size=(3, 4)).astype(np.float32)
    out, dout = jvp(elementwise, (x, a, b), (tx, None, None))
    assert out.dtype == np.float32 and dout.dtype == np.float32
    args64 = tuple(v.astype(np.float64) for v in (x, a, b))
    ref = _fd_jvp(elementwise, args64, (tx.astype(np.float64), None, None))
    np.testing.assert_allclose(dout, ref, rtol=1e-4, atol=1e-5)


def test_jvp_rebound_parameter_is_not_used_for_shapes():
    from ad_compiler import jvp

    def f(x, c):
        y = x * c
        x = np.sum(x, axis=0)          # x is rebound: (m, n) -> (n,)
        z = x + 1.0
        return z * np.sum(y)
    rng = np.random.default_rng(23)
    x, c = rng.normal(size=(3, 4)), rng.normal(size=(3, 1))
    tx, tc = rng.normal(size=(3, 4)), rng.normal(size=(3, 1))
    out, dout = jvp(f, (x, c), (tx, tc))
    assert dout.shape == (4,)
    np.testing.assert_allclose(dout, _fd_jvp(f, (x, c), (tx, tc)), rtol=1e-6, atol=1e-8)


def test_jvp_helpers_are_specialized_at_their_call_sites():
    from ad_compiler import jvp
    rng = np.random.default_rng(24)
    args = (rng.normal(size=(4, 3)), rng.normal(size=(4, 1)), rng.normal(size=(2, 4)),
            0.3, rng.normal(size=(3, 5)))
    tans = tuple(rng.normal(size=np.shape(a)) if np.ndim(a) else 0.7 for a in args)
    out, dout = jvp(two_layers, args, tans)
    np.testing.assert_allclose(dout, _fd_jvp(two_layers, args, tans), rtol=1e-6, atol=1e-8)
    # layer(W1, x, b1) is compiled for the shapes at its call site
    assert any(s for s in _forward_entries(layer))


def test_jvp_fast_path_still_checks_its_arguments():
    from ad_compiler import jvp
    rng = np.random.default_rng(25)
    x, a, b = rng.normal(size=(3, 4)), rng.normal(size=4), rng.normal(size=(3, 1))
    t = rng.normal(size=(3, 4))
    first = jvp(elementwise, (x, a, b), (t, None, None))[1]
    again = jvp(elementwise, (x, a, b), (t, None, None))[1]
    np.testing.assert_array_equal(first, again)
    with pytest.raises(ValueError, match="does not match"):
        jvp(elementwise, (x, a, b), (np.ones(4), None, None))
    with pytest.raises(TypeError):
        jvp(elementwise, (x, a), (t, None))
    # another shape pattern (a length becoming 1) gets its own code
    x1, b1, t1 = x[:1], b[:1], t[:1]
    got = jvp(elementwise, (x1, a, b1), (t1, None, None))[1]
    np.testing.assert_allclose(got, _fd_jvp(elementwise, (x1, a, b1), (t1, None, None)),
                               rtol=1e-6, atol=1e-8)


def test_forward_specializations_are_bounded():
    from ad_compiler import jvp

    def f(x):
        return np.sin(x) * x
    rng = np.random.default_rng(26)
    for rank in range(1, 12):           # 11 shape patterns (ranks)
        x = rng.normal(size=(2,) * rank)
        t = rng.normal(size=x.shape)
        np.testing.assert_allclose(jvp(f, (x,), (t,))[1], _fd_jvp(f, (x,), (t,)),
                                   rtol=1e-6, atol=1e-8)
    sigs = _forward_entries(f)
    assert len([s for s in sigs if s]) <= api.MAX_SPECIALIZATIONS
    assert () in sigs                   # the shape-generic code served the others


def mlp(W1, b1, W2, x):
    h = np.tanh(W1 @ x + b1)
    return np.sum((W2 @ h) ** 2)


def test_hessian_and_jacobian_of_grad_use_specialized_code():
    from ad_compiler import hessian, jacobian
    rng = np.random.default_rng(27)
    W1, b1, W2, x = (rng.normal(size=(4, 3)), rng.normal(size=4), rng.normal(size=(2, 4)),
                     rng.normal(size=3))
    H = hessian(mlp, wrt=0)(W1, b1, W2, x)
    g = grad(mlp, wrt=0)
    eps = 1e-5
    ref = np.zeros((4, 3, 4, 3))
    for i in range(4):
        for j in range(3):
            E = np.zeros_like(W1)
            E[i, j] = eps
            ref[:, :, i, j] = (g(W1 + E, b1, W2, x) - g(W1 - E, b1, W2, x)) / (2 * eps)
    np.testing.assert_allclose(H, ref, rtol=1e-6, atol=1e-7)
    J = jacobian(grad(mlp, wrt=3), wrt=3, mode="fwd")(W1, b1, W2, x)
    if autograd is not None:
        def mlp_ag(W1, b1, W2, x):
            h = anp.tanh(anp.dot(W1, x) + b1)
            return anp.sum(anp.dot(W2, h) ** 2)
        np.testing.assert_allclose(H, autograd.hessian(mlp_ag, 0)(W1, b1, W2, x),
                                   rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(J, autograd.hessian(mlp_ag, 3)(W1, b1, W2, x),
                                   rtol=1e-10, atol=1e-12)
    # forward mode over the gradient: the product adjoints of known ranks
    # (and their tangents) are plain NumPy
    from ad_compiler import compiler
    gfn = g._compiled(api._user_types(g._sig.all_positional, (W1, b1, W2, x)),
                      plan=g._plan).function
    assert "matmul_grad_left" in gfn.__ad_source__
    src = _fwd_source(gfn, (W1, b1, W2, x), ("W1",))
    code = "\n".join(line for line in src.splitlines() if not line.strip().startswith("#"))
    assert "matmul_grad" not in code and "np.multiply.outer(" in code
    assert any(s for s in _forward_entries(gfn))
    assert compiler  # (the cache the entries are read from)


# --- adjoints that are one number (specialize.uniform_adjoints) ---------------

def chain(x, a, b):
    u = x * a + b
    w = np.sin(u) / (1.0 + x * x) + np.sqrt(1.0 + u * u) * a
    return np.mean(w)


def softmax_xent(W, X, Y):
    logits = X @ W
    logits = logits - np.max(logits, axis=1, keepdims=True)
    log_probs = logits - np.log(np.sum(np.exp(logits), axis=1, keepdims=True))
    return -np.mean(np.sum(Y * log_probs, axis=1))


def mean_only(x):
    return np.mean(x)


def mean_then_row(x, a):
    # the mean's adjoint meets only the row a (4,): broadcast, never full
    return np.mean(x) * np.sum(a)


def _autograd_check(f_np, f_ag, args, wrt, got):
    if autograd is None:
        return
    ref = autograd.grad(f_ag, wrt)(*args)
    for a, r in zip(got, ref if isinstance(ref, tuple) else (ref,)):
        np.testing.assert_allclose(a, r, rtol=1e-10, atol=1e-12)


def test_uniform_mean_adjoint_is_a_number_through_broadcasts():
    rng = np.random.default_rng(11)
    args = (rng.normal(size=(4, 5)), rng.normal(size=5), rng.normal(size=(4, 1)))
    g, got = _check(chain, args, (0, 1, 2))
    src = source(g)
    # bw * a keeps the row's shape, and every later use meets a (4, 5) array
    assert "np.full" not in src
    if autograd is not None:
        def chain_ag(x, a, b):
            u = x * a + b
            w = anp.sin(u) / (1.0 + x * x) + anp.sqrt(1.0 + u * u) * a
            return anp.mean(w)
        _autograd_check(chain, chain_ag, args, (0, 1, 2), got)
    # the same numbers as the array code the pass starts from (bit-identical)
    plain = grad(chain, wrt=(0, 1, 2))._compiled().function     # shape-generic code
    for a, b in zip(got, plain(*args)):
        np.testing.assert_array_equal(a, b)


def test_uniform_adjoint_spread_by_broadcast_to():
    rng = np.random.default_rng(12)
    Y = np.eye(3)[rng.integers(0, 3, size=6)]
    args = (rng.normal(size=(4, 3)), rng.normal(size=(6, 4)), Y)
    g, got = _check(softmax_xent, args, (0,))
    src = source(g)
    assert "np.full" not in src
    assert src.count("ad.broadcast_to") <= 1    # (one stays: its other factor's shape is not known)
    if autograd is not None:
        def softmax_xent_ag(W, X, Y):
            logits = X @ W
            logits = logits - anp.max(logits, axis=1, keepdims=True)
            log_probs = logits - anp.log(anp.sum(anp.exp(logits), axis=1, keepdims=True))
            return -anp.mean(anp.sum(Y * log_probs, axis=1))
        _autograd_check(softmax_xent, softmax_xent_ag, args, (0,), got)


def test_uniform_adjoint_kept_where_its_array_is_needed():
    x = np.random.default_rng(13).normal(size=(3, 4))
    g, got = _check(mean_only, (x,), (0,))
    assert got[0].shape == (3, 4) and "np.full" in source(g)     # the gradient itself
    args = (x, np.random.default_rng(14).normal(size=4))
    g, got = _check(mean_then_row, args, (0, 1))
    assert got[0].shape == (3, 4)
