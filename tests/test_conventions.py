"""JAX/autograd call-site conventions: ``argnums`` as an alias of ``wrt``,
``jacfwd``/``jacrev``, ``elementwise_grad``, ``hvp`` /
``hessian_vector_product``, and ``jacobian`` of pytree arguments and
outputs with JAX's nesting.  Numbers are checked against central finite
differences (tests/reference.py) and, where it runs, autograd."""
import inspect

import numpy as np
import pytest

import ad_compiler
from ad_compiler import (elementwise_grad, grad, hessian, hessian_vector_product, hvp,
                         jacfwd, jacobian, jacrev, value_and_grad)
from tests.reference import fd_blocks, fd_hessian, fd_jacobian, tree_flatten

try:
    import autograd
    import autograd.numpy as anp
except ImportError:        # pragma: no cover
    autograd = None

RNG = np.random.default_rng(11)
X = RNG.normal(size=3)
Y = RNG.normal(size=3)
W = RNG.normal(size=(2, 3))
MODES = ("rev", "fwd")


def close(a, b, tol=1e-6):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=tol, atol=tol)


def scalar2(x, y):
    return np.sum(np.sin(x) * y ** 2) + x[0] * y[1] ** 3


def vec2(x, W):
    return np.tanh(W @ x) * x[:2]


# --- argnums: an alias of wrt ----------------------------------------------

def test_argnums_is_an_alias_of_wrt():
    g1 = fd_jacobian(scalar2, (X, Y), 1)
    g0 = fd_jacobian(scalar2, (X, Y), 0)
    close(grad(scalar2, argnums=1)(X, Y), g1)
    gx, gy = grad(scalar2, argnums=(0, 1))(X, Y)
    close(gx, g0)
    close(gy, g1)
    gy, = grad(scalar2, argnums=[1])(X, Y)         # a list, as JAX accepts
    close(gy, g1)
    v, gy = value_and_grad(scalar2, argnums=1)(X, Y)
    close(v, scalar2(X, Y))
    close(gy, g1)
    close(grad(argnums=1)(scalar2)(X, Y), g1)      # decorator form
    close(hessian(scalar2, argnums=1)(X, Y), fd_hessian(scalar2, (X, Y), 1), 1e-5)
    for mode in MODES:
        close(jacobian(vec2, argnums=1, mode=mode)(X, W), fd_jacobian(vec2, (X, W), 1))
    if autograd is not None:
        ref = autograd.grad(lambda a, b: anp.sum(anp.sin(a) * b ** 2) + a[0] * b[1] ** 3, 1)
        close(grad(scalar2, argnums=1)(X, Y), ref(X, Y))


def test_negative_argnums_count_from_the_end():
    g1 = fd_jacobian(scalar2, (X, Y), 1)
    close(grad(scalar2, argnums=-1)(X, Y), g1)
    close(grad(scalar2, wrt=-1)(X, Y), g1)
    gx, gy = grad(scalar2, argnums=(-2, -1))(X, Y)
    close(gx, fd_jacobian(scalar2, (X, Y), 0))
    close(gy, g1)
    for mode in MODES:
        close(jacobian(vec2, argnums=-1, mode=mode)(X, W), fd_jacobian(vec2, (X, W), 1))


def with_default(x, y=2.0):
    return np.sum(np.sin(x)) * y


def test_negative_argnums_when_the_call_omits_positionals_is_an_error():
    # JAX counts -1 from the arguments passed (x), the parameter list gives
    # y: never silently pick one
    close(grad(with_default, argnums=-1)(X, 3.0), np.sum(np.sin(X)))
    for call in (lambda: grad(with_default, argnums=-1)(X),
                 lambda: grad(with_default, wrt=-1)(X, y=3.0),
                 lambda: value_and_grad(with_default, argnums=-1)(X),
                 lambda: jacobian(with_default, argnums=-1)(X),
                 lambda: jacfwd(with_default, -1)(X),
                 lambda: elementwise_grad(with_default, argnums=-1)(X),
                 lambda: hessian(with_default, argnums=-1)(X)):
        with pytest.raises(TypeError, match="counts from the end"):
            call()


def test_argnums_errors():
    with pytest.raises(TypeError, match="not both"):
        grad(scalar2, wrt=0, argnums=1)
    with pytest.raises(TypeError, match="not both"):
        grad(scalar2, 0, argnums=0)
    with pytest.raises(TypeError, match="not both"):
        jacobian(vec2, wrt=1, argnums=1)
    with pytest.raises(TypeError, match="not both"):
        jacrev(vec2, 1, wrt=1)
    with pytest.raises(TypeError, match="not both"):
        hvp(scalar2, wrt=1, argnums=1)
    with pytest.raises(TypeError, match="use wrt='y'"):
        grad(scalar2, argnums="y")
    for bad in (True, 1.0, (0, "y"), np.float64(2.0)):
        with pytest.raises(TypeError, match="argnums must be an int"):
            value_and_grad(scalar2, argnums=bad)
    with pytest.raises(ValueError, match="out of range"):
        grad(scalar2, argnums=2)
    with pytest.raises(ValueError, match="out of range"):
        jacfwd(vec2, argnums=-3)
    with pytest.raises(ValueError, match="same argument twice"):
        grad(scalar2, argnums=(1, -1))


def test_default_wrt_still_reads_as_zero():
    for fn in (grad, value_and_grad, jacobian, hessian, elementwise_grad, hvp):
        p = inspect.signature(fn).parameters["wrt"]
        assert p.default == 0 and repr(p.default) == "0"
    assert inspect.signature(jacfwd).parameters["argnums"].default == 0


# --- jacfwd / jacrev ---------------------------------------------------------

def test_jacfwd_jacrev_shapes_and_values():
    Jx, JW = fd_jacobian(vec2, (X, W), 0), fd_jacobian(vec2, (X, W), 1)
    for jac in (jacfwd, jacrev):
        J = jac(vec2)(X, W)
        assert J.shape == (2, 3)
        close(J, Jx)
        jx, jw = jac(vec2, argnums=(0, 1))(X, W)
        assert jw.shape == (2, 2, 3)
        close(jx, Jx)
        close(jw, JW)
        jw, = jac(vec2, (1,))(X, W)
        close(jw, JW)
        close(jac(vec2, wrt="W")(X, W), JW)
    if autograd is not None:
        ref = autograd.jacobian(lambda x, W: anp.tanh(W @ x) * x[:2], 1)(X, W)
        close(jacrev(vec2, 1)(X, W), ref)
        close(jacfwd(vec2, 1)(X, W), ref)


def test_jacfwd_of_grad_is_the_hessian():
    H = fd_hessian(scalar2, (X, Y), 0)
    close(jacfwd(grad(scalar2), 0)(X, Y), H, 1e-5)
    close(jacfwd(grad(scalar2), argnums=0)(X, Y), H, 1e-5)


# --- elementwise_grad ------------------------------------------------------

def softplus(x):
    return np.log1p(np.exp(x)) * 2.0


def test_elementwise_grad_matches_autograd_and_fd():
    x = RNG.normal(size=(2, 3))
    g = elementwise_grad(softplus)(x)
    assert g.shape == x.shape
    close(g, np.sum(fd_jacobian(softplus, (x,), 0), axis=(0, 1)))
    close(elementwise_grad(softplus)(0.3), fd_jacobian(softplus, (0.3,), 0))
    if autograd is not None:
        ref = autograd.elementwise_grad(lambda v: anp.log1p(anp.exp(v)) * 2.0)(x)
        close(g, ref)


def two_out(x, y):
    return {"a": x * y, "b": (np.sum(x), np.cos(y))}


def test_elementwise_grad_wrt_tuple_and_pytree_output():
    # the gradient of the sum of every output leaf
    def total(x, y):
        d = two_out(x, y)
        return np.sum(d["a"]) + np.sum(d["b"][0]) + np.sum(d["b"][1])
    gx, gy = elementwise_grad(two_out, argnums=(0, 1))(X, Y)
    close(gx, fd_jacobian(total, (X, Y), 0))
    close(gy, fd_jacobian(total, (X, Y), 1))
    close(elementwise_grad(two_out, wrt="y")(X, Y), fd_jacobian(total, (X, Y), 1))


def params_out(p, x):
    return np.tanh(p["w"] * x) + p["b"]


def test_elementwise_grad_wrt_a_pytree():
    p = {"b": 0.5, "w": RNG.normal(size=3)}
    g = elementwise_grad(params_out)(p, X)
    blocks = fd_blocks(params_out, (p, X), 0)       # sorted keys: b, w
    close(g["b"], np.sum(blocks[0][0]))
    close(g["w"], np.sum(blocks[0][1], axis=0))


# --- hvp / hessian_vector_product ----------------------------------------

def cubic(x, W):
    return np.sum((W @ x) ** 3) + np.sum(x ** 4)


def test_hvp_matches_fd_and_autograd():
    v = RNG.normal(size=3)
    H = fd_hessian(cubic, (X, W), 0)
    close(hvp(cubic)(X, W, v), H @ v, 1e-5)
    assert hessian_vector_product is hvp
    Vw = RNG.normal(size=(2, 3))
    HW = fd_hessian(cubic, (X, W), 1)
    close(hvp(cubic, argnums=1)(X, W, Vw), np.tensordot(HW, Vw, 2), 1e-5)
    close(hvp(cubic, wrt="W")(X, W, Vw), np.tensordot(HW, Vw, 2), 1e-5)
    if autograd is not None:
        from autograd import hessian_vector_product as ag_hvp
        ref = ag_hvp(lambda x, W: anp.sum((W @ x) ** 3) + anp.sum(x ** 4))(X, W, v)
        close(hvp(cubic)(X, W, v), ref)


def test_hvp_wrt_tuple_gives_the_block_products():
    vx, vy = RNG.normal(size=3), RNG.normal(size=3)

    def both(z):            # scalar2 of the concatenated arguments
        return scalar2(z[:3], z[3:])
    H = fd_hessian(both, (np.concatenate([X, Y]),), 0)
    ref = H @ np.concatenate([vx, vy])
    hx, hy = hvp(scalar2, wrt=(0, 1))(X, Y, (vx, vy))
    close(hx, ref[:3], 1e-5)
    close(hy, ref[3:], 1e-5)


def elements(*args):
    return np.sum(args[0] ** 2 * args[1] ** 2)


def test_hvp_of_two_elements_of_args():
    vx, vy = RNG.normal(size=3), RNG.normal(size=3)

    def both(z):
        return elements(z[:3], z[3:])
    ref = fd_hessian(both, (np.concatenate([X, Y]),), 0) @ np.concatenate([vx, vy])
    hx, hy = hvp(elements, wrt=(0, 1))(X, Y, (vx, vy))
    close(hx, ref[:3], 1e-5)
    close(hy, ref[3:], 1e-5)


def test_hvp_errors():
    with pytest.raises(TypeError, match="followed by the vector v"):
        hvp(cubic)()
    with pytest.raises(ValueError, match="shape/structure"):
        hvp(cubic)(X, W, np.ones(4))
    with pytest.raises(TypeError, match="tuple of 2 tangents"):
        hvp(scalar2, wrt=(0, 1))(X, Y, X)
    with pytest.raises(TypeError, match="missing"):
        hvp(cubic)(X, np.ones(3))          # v taken for W: W missing
    # of a derivative: the derivative must have a scalar output
    for D in (grad(cubic), jacobian(vec2), hessian(cubic)):
        with pytest.raises(TypeError, match="scalar output"):
            hvp(D)(X, W, np.ones_like(X))


def test_hvp_of_a_derivative_is_a_third_derivative():
    def quartic(a):
        return a ** 4 + np.sin(a)
    a, v = 0.7, 1.5
    # hvp(grad(f))(a, v) = f'''(a) v
    close(hvp(grad(quartic))(a, v), (24 * a - np.cos(a)) * v, 1e-10)
    h = 1e-4
    fd = (grad(quartic)(a + h) - 2 * grad(quartic)(a) + grad(quartic)(a - h)) / h ** 2 * v
    close(hvp(grad(quartic))(a, v), fd, 1e-5)


# --- methods, keyword-only arguments ----------------------------------------

class Model:
    def __init__(self):
        self.W = W

    def out(self, x, *, k=1.0):
        return np.tanh(self.W @ x) * k

    def loss(self, x, *, k=1.0):
        return np.sum(self.out(x, k=k) ** 2) * k


def test_methods_and_keyword_only_arguments():
    m = Model()
    ref_x = fd_jacobian(lambda x: m.out(x, k=1.5), (X,), 0)
    ref_k = fd_jacobian(lambda k: m.out(X, k=k), (1.5,), 0)
    for jac in (jacfwd, jacrev):
        close(jac(m.out)(X, k=1.5), ref_x)
        close(jac(m.out, argnums=0)(X, k=1.5), ref_x)
        close(jac(m.out, wrt="k")(X, k=1.5), ref_k)
        jx, jk = jac(m.out, wrt=("x", "k"))(X, k=1.5)
        close(jx, ref_x)
        close(jk, ref_k)
        with pytest.raises(ValueError, match="out of range"):
            jac(m.out, argnums=1)          # k is keyword-only: name it
    close(elementwise_grad(m.out)(X, k=1.5), np.sum(ref_x, axis=0))
    close(elementwise_grad(m.out, wrt="k")(X, k=1.5), np.sum(ref_k))
    v = RNG.normal(size=3)
    H = fd_hessian(lambda x: m.loss(x, k=1.5), (X,), 0)
    close(hvp(m.loss)(X, v, k=1.5), H @ v, 1e-5)
    Hk = fd_hessian(lambda k: m.loss(X, k=k), (1.5,), 0)
    close(hvp(m.loss, wrt="k")(X, 2.0, k=1.5), Hk * 2.0, 1e-5)


# --- jacobian of pytrees: JAX's nesting ---------------------------------------

def tree_fn(p, x):
    return {"lin": p["W"] @ x + p["b"], "pair": (np.sum(p["b"] ** 2) * x[0], 3)}


def tree_fn_float(p, x):
    # tree_fn without the integer leaf, for finite differences
    return {"lin": p["W"] @ x + p["b"], "pair": (np.sum(p["b"] ** 2) * x[0],)}


P = {"W": W, "b": RNG.normal(size=2)}


def test_jacobian_of_a_pytree_argument_and_output():
    blocks = fd_blocks(tree_fn_float, (P, X), 0)      # [lin, pair0] x [W, b]
    for mode in MODES:
        J = jacobian(tree_fn, mode=mode)(P, X)
        assert set(J) == {"lin", "pair"} and isinstance(J["pair"], tuple)
        assert J["lin"]["W"].shape == (2, 2, 3) and J["lin"]["b"].shape == (2, 2)
        assert J["pair"][0]["W"].shape == (2, 3) and J["pair"][0]["b"].shape == (2,)
        close(J["lin"]["W"], blocks[0][0])
        close(J["lin"]["b"], blocks[0][1])
        close(J["pair"][0]["W"], blocks[1][0])
        close(J["pair"][0]["b"], blocks[1][1])
        # the integer output leaf is a constant
        assert np.all(J["pair"][1]["W"] == 0) and J["pair"][1]["W"].shape == (2, 3)
        # an array argument with a pytree output: the output's structure
        Jx = jacobian(tree_fn, wrt=1, mode=mode)(P, X)
        close(Jx["lin"], fd_blocks(tree_fn_float, (P, X), 1)[0][0])
        close(Jx["pair"][0], fd_blocks(tree_fn_float, (P, X), 1)[1][0])
        assert np.all(Jx["pair"][1] == 0) and Jx["pair"][1].shape == (3,)


def test_jacobian_tuple_wrt_of_pytrees_nests_like_jax():
    # jax.jacrev(f, argnums=(0, 1)): output structure outside, then the
    # tuple over argnums, then each argument's structure
    bp = fd_blocks(tree_fn_float, (P, X), 0)
    bx = fd_blocks(tree_fn_float, (P, X), 1)
    for jac in (jacfwd, jacrev):
        J = jac(tree_fn, argnums=(0, 1))(P, X)
        jp, jx = J["lin"]
        close(jp["W"], bp[0][0])
        close(jp["b"], bp[0][1])
        close(jx, bx[0][0])
        jp, jx = J["pair"][0]
        close(jp["b"], bp[1][1])
        close(jx, bx[1][0])


def list_fn(ws):
    a, b = ws
    return [a * b[0], (np.sum(a) * b[1], b[0] * b[1])]


def test_jacobian_of_lists_and_python_floats():
    ws = [RNG.normal(size=2), [0.7, 1.3]]
    blocks = fd_blocks(list_fn, (ws,), 0)
    for mode in MODES:
        J = jacobian(list_fn, mode=mode)(ws)
        assert isinstance(J, list) and isinstance(J[1], tuple)
        assert isinstance(J[1][1], list) and isinstance(J[1][1][1], list)
        assert np.shape(J[1][1][1][0]) == ()
        flat = tree_flatten(J)[0]
        ref = [blocks[o][k] for o in range(len(blocks)) for k in range(len(blocks[0]))]
        assert len(flat) == len(ref)
        for a, b in zip(flat, ref):
            assert np.shape(a) == np.shape(b)
            close(a, b)


def scale3(x):
    return x * 3.0 + x ** 2


def to_vec(x):
    return np.array([1.0, 2.0]) * x


def to_scalar(x):
    return np.sum(x ** 2)


def test_scalar_shapes_follow_jax():
    for jac in (jacfwd, jacrev):
        J = jac(scale3)(2.0)
        assert np.shape(J) == ()
        close(J, 7.0)
        assert np.shape(jac(to_vec)(2.0)) == (2,)
        close(jac(to_vec)(2.0), [1.0, 2.0])
        assert np.shape(jac(to_scalar)(X)) == (3,)
        close(jac(to_scalar)(X), 2 * X)


def complex_tree(p):
    return {"z": np.exp(1j * p["a"]) * p["s"]}


def test_complex_output_of_a_real_pytree_both_modes():
    p = {"a": RNG.normal(size=2), "s": 0.8}
    re = fd_blocks(lambda q: {"z": np.real(complex_tree(q)["z"])}, (p,), 0)
    im = fd_blocks(lambda q: {"z": np.imag(complex_tree(q)["z"])}, (p,), 0)
    for mode in MODES:
        J = jacobian(complex_tree, mode=mode)(p)["z"]
        close(J["a"], re[0][0] + 1j * im[0][0])
        close(J["s"], re[0][1] + 1j * im[0][1])


def text_out(x):
    return {"y": x * 2.0, "name": "x"}


def test_non_numeric_output_leaf_is_a_clear_error():
    for mode in MODES:
        with pytest.raises(TypeError, match="output has a leaf that is str"):
            jacobian(text_out, mode=mode)(X)


def test_inputs_are_not_mutated():
    p = {"W": W.copy(), "b": P["b"].copy()}
    x = X.copy()
    for mode in MODES:
        jacobian(tree_fn, argnums=(0, 1), mode=mode)(p, x)
    hvp(cubic)(x, p["W"], np.ones(3))
    elementwise_grad(tree_fn_float)(p, x)
    assert np.array_equal(p["W"], W) and np.array_equal(x, X) and set(p) == {"W", "b"}


def test_exported():
    for name in ("jacfwd", "jacrev", "elementwise_grad", "hvp", "hessian_vector_product"):
        assert name in ad_compiler.__all__ and hasattr(ad_compiler, name)


def test_error_messages_name_the_new_functions():
    with pytest.raises(ValueError, match="^hvp: 'cubic' has no parameter named 'q'"):
        hvp(cubic, wrt="q")
    with pytest.raises(TypeError, match="^jacfwd expects a function"):
        jacfwd(3)
    with pytest.raises(TypeError, match="^elementwise_grad: cannot differentiate .* integer"):
        elementwise_grad(cubic, wrt=1)(X, np.ones((2, 3), dtype=int))
    with pytest.raises(TypeError, match="scalar"):
        hvp(vec2)(X, W, np.ones(3))


def test_source_of_the_new_functions():
    assert "def " in ad_compiler.source(jacfwd(vec2))
    assert "def " in ad_compiler.source(jacrev(vec2))
    assert "def " in ad_compiler.source(elementwise_grad(softplus))
    assert "def grad_cubic" in ad_compiler.source(hvp(cubic))


def sin_sq(x):
    return np.sum(np.sin(x) ** 2)


def sin_x(x):
    return np.sin(x) * x


def test_elementwise_grad_of_a_derivative():
    # elementwise_grad of grad(f): the vjp of the gradient with ones, H @ 1
    H = fd_hessian(sin_sq, (X,), 0)
    close(elementwise_grad(grad(sin_sq))(X), H @ np.ones(3), 1e-5)
    # of jacobian(v) for elementwise v: d/dx sum(J), J = diag(x cos x + sin x)
    ref = fd_jacobian(lambda x: np.sum(x * np.cos(x) + np.sin(x)), (X,), 0)
    close(elementwise_grad(jacobian(sin_x))(X), ref)
    with pytest.raises(TypeError, match="int positions"):
        elementwise_grad(grad(sin_sq), wrt="x")
    with pytest.raises(TypeError, match="positional arguments only"):
        elementwise_grad(grad(sin_sq))(x=X)
