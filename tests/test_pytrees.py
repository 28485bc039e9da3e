"""Pytrees of user types and containers built from differentiated values
(issue #10): ``tuple(...)``/``list(...)`` of arrays and of the results of
multi-output functions, NamedTuples and dataclasses of arrays as arguments,
built inside the function, read by attribute, replaced, returned; mixed
nesting with None and integer leaves.

Every derivative is compared with central finite differences in float64
(leaf by leaf, in the tree's own structure) in grad, value_and_grad, vjp and
jvp, and with autograd where it runs the construct.  The structure of every
gradient, cotangent and tangent is checked too: a NamedTuple or dataclass
argument gets a gradient of the same type (dataclass gradients are built
without calling __init__/__post_init__)."""
import dataclasses
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pytest

from ad_compiler import CompileError, grad, hessian, jvp, value_and_grad, vjp

RNG = np.random.RandomState(2024)


# --- a reference pytree flattening of our own (records kept apart) --------

def _is_nt(x):
    return isinstance(x, tuple) and hasattr(type(x), "_fields")


def _is_dc(x):
    return dataclasses.is_dataclass(x) and not isinstance(x, type)


def flatten(x):
    """(float leaves, rebuild): ints and None are constants kept by rebuild."""
    leaves = []
    tangent = [False]

    def walk(v):
        if isinstance(v, dict):
            subs = {k: walk(e) for k, e in v.items()}
            return lambda it: {k: s(it) for k, s in subs.items()}
        if _is_nt(v):
            subs = [walk(e) for e in v]
            return lambda it: type(v)(*[s(it) for s in subs])
        if isinstance(v, (list, tuple)):
            subs = [walk(e) for e in v]
            return lambda it: type(v)(s(it) for s in subs)
        if _is_dc(v):
            subs = {f.name: walk(getattr(v, f.name)) for f in dataclasses.fields(v)}
            return lambda it: dataclasses.replace(v, **{k: s(it) for k, s in subs.items()})
        if v is None or isinstance(v, (bool, int, np.integer)):
            return lambda it: None if tangent[0] and v is not None else v
        leaves.append(np.asarray(v, dtype=np.float64))
        scalar = np.ndim(v) == 0 and not isinstance(v, np.ndarray)
        return lambda it: float(next(it)) if scalar else next(it)
    build = walk(x)

    def rebuild(ls, as_tangent=False):
        tangent[0] = as_tangent       # constant leaves: None in tangents
        return build(iter(ls))
    return leaves, rebuild


def signature(x):
    """The structure of a tree: types, keys and leaf shapes (int/None kept)."""
    if isinstance(x, dict):
        return ("dict", tuple((k, signature(v)) for k, v in x.items()))
    if isinstance(x, (list, tuple)):
        return (type(x).__name__, tuple(signature(v) for v in x))
    if _is_dc(x):
        return (type(x).__name__, tuple((f.name, signature(getattr(x, f.name)))
                                        for f in dataclasses.fields(x)))
    if x is None:
        return None
    return np.shape(x)


def _copy(x):
    leaves, build = flatten(x)
    return build([v.copy() for v in leaves])


def fd_jacobian(f, args, p, eps=1e-6):
    """blocks[o][k]: d out-leaf o / d leaf k of argument p (central FD)."""
    leaves, build = flatten(args[p])

    def out_leaves(ls):
        a = list(args)
        a[p] = build(ls)
        return flatten(f(*[_copy(v) for v in a]))[0]
    base = out_leaves([v.copy() for v in leaves])
    blocks = [[np.zeros(o.shape + v.shape) for v in leaves] for o in base]
    for k, v in enumerate(leaves):
        for i in np.ndindex(v.shape):
            lp = [u.copy() for u in leaves]
            lm = [u.copy() for u in leaves]
            lp[k][i] += eps
            lm[k][i] -= eps
            for o, (a, b) in enumerate(zip(out_leaves(lp), out_leaves(lm))):
                blocks[o][k][(...,) + i] = (a - b) / (2 * eps)
    return blocks


def _random_like(x, rng):
    leaves, build = flatten(x)
    return build([rng.standard_normal(v.shape) for v in leaves])


def same(got, want, what, rtol=1e-5, atol=1e-6):
    assert signature(got) == signature(want), f"{what}: {signature(got)} != {signature(want)}"
    for a, b in zip(flatten(got)[0], flatten(want)[0]):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=what)


def check(f, args, wrt=None, modes=("grad", "vjp", "jvp")):
    """Every derivative of f at args w.r.t. the positions wrt against FD."""
    args = tuple(args)
    wrt = tuple(range(len(args))) if wrt is None else tuple(wrt)
    snapshot = [_copy(a) for a in args]
    rng = np.random.RandomState(7)
    out = f(*[_copy(a) for a in args])
    blocks = {p: fd_jacobian(f, args, p) for p in wrt}
    out_leaves = flatten(out)[0]

    def expected_ct(ct):
        cts = flatten(ct)[0]
        res = []
        for p in wrt:
            leaves, build = flatten(args[p])
            g = []
            for k, leaf in enumerate(leaves):
                acc = np.zeros(leaf.shape)
                for o, c in enumerate(cts):
                    acc = acc + np.tensordot(c, blocks[p][o][k], axes=c.ndim)
                g.append(acc)
            res.append(build(g))
        return res

    if "grad" in modes:
        got = grad(f, wrt=wrt)(*args)
        for g, w in zip(got, expected_ct(1.0)):
            same(g, w, "grad")
        value, got = value_and_grad(f, wrt=wrt)(*args)
        np.testing.assert_allclose(value, out)
        for g, w in zip(got, expected_ct(1.0)):
            same(g, w, "value_and_grad")
    if "vjp" in modes:
        ct = _random_like(out, rng)
        value, pullback = vjp(f, *args)
        same(value, out, "vjp value", rtol=1e-12, atol=0)
        got = pullback(ct)
        for p, w in zip(wrt, expected_ct(ct)):
            same(got[p], w, f"vjp arg {p}")
    if "jvp" in modes:
        tangents = []
        for p, a in enumerate(args):
            leaves, build = flatten(a)
            tangents.append(build([rng.standard_normal(v.shape) if p in wrt else np.zeros(v.shape)
                                   for v in leaves], as_tangent=True))
        want = [np.zeros(o.shape) for o in out_leaves]
        for p in wrt:
            for k, t in enumerate(flatten(tangents[p])[0]):
                for o in range(len(out_leaves)):
                    want[o] = want[o] + np.tensordot(blocks[p][o][k], t, axes=t.ndim)
        value, tan = jvp(f, args, tuple(tangents))
        same(value, out, "jvp value", rtol=1e-12, atol=0)
        same(tan, flatten(out)[1](want), "jvp")
    for a, s in zip(args, snapshot):          # the user's objects are untouched
        same(a, s, "argument modified", rtol=0, atol=0)


def autograd_check(f, args, p=0):
    """grad against autograd's, on a copy of f reading autograd.numpy as np."""
    ag = pytest.importorskip("autograd")
    anp = pytest.importorskip("autograd.numpy")
    import types
    f_ag = types.FunctionType(f.__code__, dict(f.__globals__, np=anp), f.__name__)
    want = ag.grad(f_ag, p)(*args)
    got = grad(f, wrt=p)(*args)
    same(got, want, "autograd")


# --- 1. tuple(...) / list(...) of differentiated values ---------------------

def svd_tuple(A):
    U, s, Vt = tuple(np.linalg.svd(A, full_matrices=False))
    return np.sum(s ** 2) + np.sum(s * np.arange(3.0))


def svd_list(A):
    r = list(np.linalg.svd(A, full_matrices=False))
    return np.sum(r[1] ** 3)


def eigh_list(A):
    w, V = list(np.linalg.eigh(A + A.T))
    return np.sum(w ** 3) + np.sum(V[:, 0] ** 2 * np.arange(3.0))


def rows_of_vector(x):
    t = tuple(x)
    return t[0] * t[1] + t[2] ** 2


def rows_of_matrix(X):
    rows = list(X)
    return np.sum(rows[0] * rows[2]) + np.sum(np.sin(rows[1]))


def split_tuple(x):
    a, b, c = tuple(np.split(x, 3))
    return np.sum(a * b + c ** 2)


def zip_list(x):
    pairs = list(zip(x[:3], np.sin(x[3:])))
    s = 0.0
    for u, v in pairs:
        s = s + u * v ** 2
    return s + pairs[0][0] * pairs[2][1]


# a container built from an array's members, read both by a loop and by
# indexing: its adjoint was accumulated with += (list concatenation) when
# the argument was known to be an array -- silently wrong before
def rows_loop_and_index(x):
    rows = list(x)
    s = 0.0
    for u in rows:
        s = s + u * u
    return s + rows[0] * rows[2]


def tuple_loop(x):
    t = tuple(x)
    s = 0.0
    for u in t:
        s = s + u * u
    return s


def split_loop_and_index(x):
    parts = np.split(x, 3)
    s = 0.0
    for u in parts:
        s = s + np.sum(u * u)
    return s + np.sum(parts[0] * parts[2])


def array_split_loop(x):
    parts = np.array_split(x, 2)
    s = 0.0
    for u in parts:
        s = s + np.sum(np.sin(u))
    return s + np.sum(parts[0] * parts[1])


def svd_loop(x):
    r = np.linalg.svd(np.outer(x[:3], x[3:]) + np.eye(3))
    s = 0.0
    for u in r:
        s = s + np.sum(u * 0.0)
    return s + np.sum(r[1] ** 2) + np.sum(r.S)


def svd_fields(A):
    r = np.linalg.svd(A)            # a NamedTuple result read by attribute
    return np.sum(r.S ** 2) + np.sum(np.linalg.eigh(A @ A.T).eigenvalues[-1])


def containers_out(x):
    return tuple(np.split(np.sin(x), 2)), list(zip(x[:2], x[2:] ** 2))


@pytest.mark.parametrize("f, shape", [
    (svd_tuple, (3, 3)), (svd_list, (4, 3)), (eigh_list, (3, 3)), (rows_of_vector, (3,)),
    (rows_of_matrix, (3, 4)), (split_tuple, (6,)), (zip_list, (6,)), (svd_fields, (3, 3)),
    (rows_loop_and_index, (6,)), (tuple_loop, (4,)), (split_loop_and_index, (6,)),
    (array_split_loop, (6,)), (svd_loop, (6,))])
def test_containers_of_arrays(f, shape):
    x = RNG.standard_normal(shape)
    check(f, (x,))
    if f not in (svd_fields, svd_loop, tuple_loop, rows_loop_and_index):
        autograd_check(f, (x,))


def test_containers_as_outputs():
    check(containers_out, (RNG.standard_normal(4),), modes=("vjp", "jvp"))


# --- 2. NamedTuples -----------------------------------------------------------

class Params(NamedTuple):
    W: np.ndarray
    b: np.ndarray


class Scaled(NamedTuple):
    p: Params
    scale: float = 1.0


def nt_loss(p, x):
    return np.sum(np.tanh(x @ p.W + p.b) ** 2)


def nt_indexed(p, x):
    W, b = p
    return np.sum(np.tanh(x @ W + p[1]) ** 2)


def nt_built(W, b, x):
    p = Params(W, b)
    return nt_loss(p, x)


def nt_keywords_replace(W, b, x):
    p = Params(b=b * 2.0, W=W)
    q = p._replace(W=p.W * 3.0)
    return np.sum(np.sin(x @ q.W + q.b)) + np.sum(p[0] ** 2)


def _make(W, b):
    return Params(np.sin(W), b * W[0])


def nt_from_helper(W, b, x):
    p = _make(W, b)
    return np.sum(x @ p.W * p.b)


def nt_default_field(p, x):
    s = Scaled(p)
    t = s._replace(scale=np.sum(p.b))
    return np.sum(x @ t.p.W) * t.scale * s.scale


def nt_iterated(p):
    s = 0.0
    for v in p:
        s = s + np.sum(v ** 2)
    return s + np.sum(tuple(p)[1])


def test_namedtuple_argument():
    p = Params(RNG.standard_normal((3, 2)), RNG.standard_normal(2))
    x = RNG.standard_normal((4, 3))
    for f in (nt_loss, nt_indexed, nt_default_field):
        check(f, (p, x))
    check(nt_iterated, (p,))
    g = grad(nt_loss)(p, x)
    assert type(g) is Params


def test_namedtuple_built_inside():
    W, b, x = RNG.standard_normal((3, 2)), RNG.standard_normal(2), RNG.standard_normal((4, 3))
    check(nt_built, (W, b, x))
    check(nt_keywords_replace, (W, b, x))
    check(nt_from_helper, (W, b, x))


def test_namedtuple_output():
    W, b = RNG.standard_normal((3, 2)), RNG.standard_normal(2)
    check(_make, (W, b), modes=("vjp", "jvp"))
    out, pullback = vjp(_make, W, b)
    assert type(out) is Params
    gW, gb = pullback(Params(np.ones((3, 2)), np.ones(2)))
    gW2, gb2 = pullback((np.ones((3, 2)), np.ones(2)))      # a plain tuple too
    np.testing.assert_allclose(gW, gW2)
    _, t = jvp(_make, (W, b), (W, b))
    assert type(t) is Params


def test_namedtuple_hessian():
    W, b, x = RNG.standard_normal((3, 2)), RNG.standard_normal(2), RNG.standard_normal((4, 3))

    def g_of(W):
        return grad(nt_keywords_replace)(W, b, x)
    H = hessian(nt_keywords_replace)(W, b, x)
    eps = 1e-5
    for i in np.ndindex(W.shape):
        Wp, Wm = W.copy(), W.copy()
        Wp[i] += eps
        Wm[i] -= eps
        np.testing.assert_allclose(H[(...,) + i], (g_of(Wp) - g_of(Wm)) / (2 * eps),
                                   rtol=1e-5, atol=1e-6)


# --- 3. dataclasses -------------------------------------------------------------

@dataclass
class DParams:
    W: np.ndarray
    b: np.ndarray


@dataclass(frozen=True)
class FParams:
    W: np.ndarray
    b: np.ndarray
    n: int = 2


@dataclass
class Checked:
    W: np.ndarray

    def __post_init__(self):
        self.W = np.asarray(self.W) * 2.0


def dc_loss(p, x):
    return np.sum(np.tanh(x @ p.W + p.b) ** 2)


def dc_int_field(p, x):
    return np.sum(np.tanh(x @ p.W + p.b) ** p.n)


def dc_built(W, b, x):
    p = DParams(W, b=b)
    q = dataclasses.replace(p, b=p.b * np.sum(W))
    r = FParams(q.W, q.b, 3)
    return dc_loss(q, x) + np.sum(r.W ** 2) * r.n


def dc_returned(W, b):
    return FParams(W * 2.0, np.cos(b))


def dc_write(p, x):
    p.W = p.W * 2.0
    return dc_loss(p, x)


def dc_post_init(W):
    c = Checked(W)
    return np.sum(c.W)


def test_dataclass_argument():
    x = RNG.standard_normal((4, 3))
    for cls in (DParams, FParams):
        p = cls(RNG.standard_normal((3, 2)), RNG.standard_normal(2))
        check(dc_loss, (p, x))
        g = grad(dc_loss)(p, x)
        assert type(g) is cls
    p = FParams(RNG.standard_normal((3, 2)), RNG.standard_normal(2), 3)
    check(dc_int_field, (p, x), wrt=(0,))
    g = grad(dc_int_field)(p, x)
    assert g.n == 0.0           # an integer field: no derivative (zero)


def test_dataclass_built_inside_and_returned():
    W, b, x = RNG.standard_normal((3, 2)), RNG.standard_normal(2), RNG.standard_normal((4, 3))
    check(dc_built, (W, b, x))
    check(dc_returned, (W, b), modes=("vjp", "jvp"))
    out, pullback = vjp(dc_returned, W, b)
    assert type(out) is FParams
    _, t = jvp(dc_returned, (W, b), (W, b))
    assert type(t) is FParams and t.n == 0.0


def test_dataclass_attribute_write_refused():
    p = DParams(RNG.standard_normal((3, 2)), RNG.standard_normal(2))
    W = p.W
    with pytest.raises(CompileError, match=r"write to the attribute \.W of 'p'") as err:
        grad(dc_write)(p, RNG.standard_normal((4, 3)))
    assert err.value.lineno == dc_write.__code__.co_firstlineno + 1
    assert "p.W = p.W * 2.0" in str(err.value)
    assert p.W is W


def test_dataclass_with_post_init_refused():
    with pytest.raises(CompileError, match=r"constructor of the dataclass Checked"):
        grad(dc_post_init)(RNG.standard_normal(2))


# --- 4. mixed nesting, None and integer leaves ---------------------------------

def mixed(tree, x):
    layers, opts = tree["layers"], tree["opts"]
    h = x
    for lay in layers:
        h = np.tanh(h @ lay.W + lay.b)
    s = np.sum(h ** 2) * opts[0]["scale"]
    if opts[1] is None:
        s = s + np.sum(tree["nt"].W) * tree["count"]
    return s


def test_mixed_nesting():
    tree = {
        "layers": [DParams(RNG.standard_normal((3, 3)), RNG.standard_normal(3)),
                   DParams(RNG.standard_normal((3, 2)), RNG.standard_normal(2))],
        "opts": ({"scale": 1.5}, None),
        "nt": Params(RNG.standard_normal((2, 2)), RNG.standard_normal(2)),
        "count": 3,
    }
    x = RNG.standard_normal((4, 3))
    check(mixed, (tree, x))
    g = grad(mixed)(tree, x)
    assert type(g["layers"][1]) is DParams and type(g["nt"]) is Params
    assert g["opts"][1] is None and g["count"] == 0.0


# --- 5. argument checks -----------------------------------------------------------

def test_mismatched_structures_are_clear_errors():
    p = Params(RNG.standard_normal((3, 2)), RNG.standard_normal(2))
    x = RNG.standard_normal((4, 3))
    with pytest.raises(ValueError, match=r"tangent 0 does not match.*Params\(W=\(3, 2\)"):
        jvp(nt_loss, (p, x), ((np.ones((3, 2)),), x))
    d = DParams(p.W, p.b)
    with pytest.raises(ValueError, match="does not match"):
        jvp(dc_loss, (d, x), (p, x))            # a NamedTuple for a dataclass
    out, pullback = vjp(dc_returned, p.W, p.b)
    with pytest.raises(ValueError, match=r"cotangent must match.*FParams"):
        pullback((np.ones((3, 2)), np.ones(2)))
    with pytest.raises(TypeError, match="leaf .*has no derivative"):
        jvp(mixed, ({"layers": [], "opts": ({"scale": 1.0}, None), "nt": p, "count": 3}, x),
            ({"layers": [], "opts": ({"scale": 1.0}, None), "nt": p, "count": 1}, x))


class Clash(NamedTuple):
    shape: np.ndarray


def clash_loss(c):
    return np.sum(c.shape ** 2)


def test_field_named_like_an_array_attribute_refused():
    with pytest.raises(TypeError, match="field 'shape'"):
        grad(clash_loss)(Clash(np.ones(2)))


# -- jacobian of a dataclass argument: blocks in the dataclass (JAX's nesting)

def test_jacobian_of_a_dataclass_argument_keeps_its_type():
    import dataclasses as dc
    from ad_compiler import jacobian

    @dc.dataclass
    class Layer:
        W: np.ndarray
        b: np.ndarray

    def f(layer, x):
        return np.tanh(layer.W @ x + layer.b)

    W0, b0, x = np.array([[0.5, -0.2], [0.3, 0.8]]), np.array([0.1, 0.2]), np.array([0.3, -0.4])
    h = 1e-6
    fdW = np.zeros((2, 2, 2))
    for j in range(2):
        for k in range(2):
            E = np.zeros((2, 2))
            E[j, k] = h
            fdW[:, j, k] = (f(Layer(W0 + E, b0), x) - f(Layer(W0 - E, b0), x)) / (2 * h)
    fdb = np.stack([(f(Layer(W0, b0 + h * e), x) - f(Layer(W0, b0 - h * e), x)) / (2 * h)
                    for e in np.eye(2)], axis=1)
    for mode in ("rev", "fwd"):
        J = jacobian(f, mode=mode)(Layer(W0, b0), x)
        assert isinstance(J, Layer)
        np.testing.assert_allclose(J.W, fdW, rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(J.b, fdb, rtol=1e-6, atol=1e-9)


# --- second derivatives w.r.t. a scalar beside a pytree that is not
# differentiated (BUG-27, BUG-27b): the gradient code accumulates the tree's
# adjoint with ad.add, and its first contribution (p.b added as is, a .get
# default, an unread field) has a zero tangent under forward mode.

class PTup(NamedTuple):
    W: np.ndarray
    b: np.ndarray


def s_nt(s, p):
    return np.sum(np.tanh(p.W * s) + p.b)


def s_dc(s, p):
    return np.sum(np.tanh(p.W * s) ** p.n + p.b)


def s_dict_get(s, d):
    return np.sum(np.tanh(d['W'] * s)) + d.get('c', 0.5)


def s_nested(s, d):
    return (np.sum(np.sin(d['layers'][0]['W'] * s) * d['layers'][1]['W'])
            + d.get('c', 1.5) * s + np.sum(d['layers'][1]['W']))


def s_records(s, ps):
    t = 0.0
    for p in ps:
        t = t + np.sum(np.tanh(p.W * s) * p.b) + np.sum(p.W)
    return t


SCALAR_BESIDE_TREE = [
    (s_nt, PTup(np.array([0.3, 0.5]), np.array([1.0, 2.0]))),
    (s_dc, FParams(np.array([0.3, 0.5]), np.array([1.0, 2.0]), 3)),
    (s_dict_get, {"W": np.array([0.3, 0.5])}),
    (s_dict_get, {"W": np.array([0.3, 0.5]), "c": 2.0}),
    (s_nested, {"layers": [{"W": np.array([0.3, 0.5])}, {"W": np.array([1.3, -0.5])}]}),
    (s_records, [PTup(np.array([0.3, 0.5]), np.array([1.0, 2.0])),
                 PTup(np.array([0.7]), np.array([-1.0]))]),
]


@pytest.mark.parametrize("f, p", SCALAR_BESIDE_TREE,
                         ids=[f"{f.__name__}-{type(p).__name__}" for f, p in SCALAR_BESIDE_TREE])
def test_second_derivative_wrt_scalar_beside_a_tree(f, p):
    from ad_compiler import elementwise_grad, hvp, jacobian
    ag = pytest.importorskip("autograd")
    anp = pytest.importorskip("autograd.numpy")
    import types
    s, h = 0.4, 1e-4
    fd = (f(s + h, p) - 2.0 * f(s, p) + f(s - h, p)) / h ** 2      # central, float64
    f_ag = types.FunctionType(f.__code__, dict(f.__globals__, np=anp), f.__name__)
    want = ag.grad(ag.grad(f_ag, 0), 0)(s, p)
    np.testing.assert_allclose(want, fd, rtol=1e-5, atol=1e-7)
    g = grad(f, wrt="s")

    def g_of_s(u):
        return g(u, p)
    got = {
        "hessian": hessian(f, wrt="s")(s, p),
        "grad(grad)": grad(g, wrt="s")(s, p),
        "jacobian(grad)": jacobian(g, wrt="s")(s, p),
        "jvp(grad)": jvp(g_of_s, (s,), (1.0,))[1],
        "hvp": hvp(f, wrt="s")(s, p, 1.0),
        "elementwise_grad(grad)": elementwise_grad(g, wrt=0)(s, p),
    }
    for what, v in got.items():
        np.testing.assert_allclose(v, want, rtol=1e-10, atol=1e-12, err_msg=what)
        np.testing.assert_allclose(v, fd, rtol=1e-5, atol=1e-7, err_msg=what)


def test_forward_code_of_gradient_adds_no_zero_to_a_tree_tangent():
    """ad.add(0, t) is t: the tangent of the tree's adjoint is the one
    contribution that has one, never 0.0 + a dict (BUG-27b)."""
    from ad_compiler import source
    g = grad(s_dict_get, wrt=(0, 1))
    g(0.4, {"W": np.array([0.3, 0.5])})
    src = source(g._compiled().function, mode="fwd", wrt=(0, 1))
    assert "ad.add(0.0," not in src and "ad.add(" in src, src


def test_grad_of_elementwise_grad_with_a_loop_over_records():
    from ad_compiler import elementwise_grad
    ps = SCALAR_BESIDE_TREE[-1][1]
    s, h = 0.4, 1e-4
    fd = (s_records(s + h, ps) - 2.0 * s_records(s, ps) + s_records(s - h, ps)) / h ** 2
    got = grad(elementwise_grad(s_records, wrt="s"), wrt="s")(s, ps)
    np.testing.assert_allclose(got, fd, rtol=1e-5)
