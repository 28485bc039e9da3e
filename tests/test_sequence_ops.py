"""``+`` and ``*`` of lists and tuples holding differentiated values
(concatenation, repetition, ``+=``/``*=``), in grad, vjp and jvp, against
central finite differences and autograd (transforms/ad/sequences.py,
runtime ``add_grad_left``... and the rules of ``ad.seq_add``/``ad.seq_mul``)."""
import numpy as np
import pytest

from ad_compiler import grad, jvp, source, vjp

X = np.array([0.3, -0.7, 1.1])
T = np.array([0.5, -1.5, 2.0])
W3 = np.arange(1.0, 4.0)


def fd_grad(f, x, eps=1e-6):
    g = np.zeros_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = eps
        g[i] = (f(x + e) - f(x - e)) / (2 * eps)
    return g


# --- functions (module level: the compiler reads their source) -------------

def concat_iterate(x):
    a = [x, x * 2] + [x * 3]
    s = 0.0
    for v in a:
        s = s + np.sum(v ** 2)
    return s


def concat_elements(x):
    a = [x[0], x[1]] + [x[2]]
    return np.sum(np.array(a) ** 2 * W3)


def repeat_list(x):
    a = [x[0]] * 3
    return np.sum(np.array(a) * np.arange(3.0))


def repeat_left(x):
    a = 2 * [x[0], x[1] ** 2]
    return np.sum(np.array(a) * np.arange(1.0, 5.0))


def tuple_concat(x):
    a = (x, 2 * x) + (x,)
    return np.sum(a[1] * a[2])


def iadd_list(x):
    lst = [x[0]]
    lst += [x[1] * 2]
    lst += [x[2]]
    return np.sum(np.array(lst) * W3)


def imul_list(x):
    lst = [x[0], x[1]]
    lst *= 2
    return np.sum(np.array(lst) * np.arange(1.0, 5.0))


def grow_in_loop(x):
    lst = []
    for i in range(3):
        lst = lst + [x[i] * (i + 1)]
    lst = lst * 2
    return np.sum(np.array(lst) ** 2 * np.arange(1.0, 7.0))


def repeat_by_len(x):
    a = [x[0], x[2]]
    n = len(a)
    b = a * n + [x[1]]
    return np.sum(np.array(b) * np.arange(1.0, 6.0))


def repeat_zero_times(x):
    a = [x[0]] * 0 + [x[1]]
    return a[0] * 3.0


def _cat(a, b):
    return a + b


def concat_in_helper(x):
    a = _cat([x[0]], [x[1], x[2] ** 2])
    return np.sum(np.array(a) * W3)


def list_plus_array(x):
    # a list + an array is NumPy addition (broadcasting), not concatenation
    a = [x[0], x[1]] + x[1:]
    return np.sum(a ** 2)


def concat_returned(x):
    return [x, 2 * x] + [x ** 2]


def concat_param(xs, y):
    a = xs + [y]
    return np.sum(np.array(a) ** 2 * W3[:, None])


def concat_param_loop(xs, y):
    a = [y] + xs
    s = 0.0
    for i in range(len(a)):
        s = s + np.sum(a[i] * (i + 1.0)) ** 2
    return s


SCALAR_FUNCTIONS = [concat_iterate, concat_elements, repeat_list, repeat_left, tuple_concat,
                    iadd_list, imul_list, grow_in_loop, repeat_by_len, repeat_zero_times,
                    concat_in_helper, list_plus_array]


@pytest.mark.parametrize("f", SCALAR_FUNCTIONS, ids=lambda f: f.__name__)
def test_grad_vjp_jvp_match_finite_differences(f):
    _check_first_order(f, (T,))


def _check_first_order(f, tangents):
    """grad, vjp (value and pullback) and jvp along each of ``tangents``
    against central differences at X; returns the reference gradient."""
    ref = fd_grad(f, X)
    np.testing.assert_allclose(grad(f)(X), ref, rtol=1e-6, atol=1e-8)
    out, pb = vjp(f, X)
    np.testing.assert_allclose(out, f(X))
    np.testing.assert_allclose(pb(1.0)[0], ref, rtol=1e-6, atol=1e-8)
    for t in tangents:
        value, tangent = jvp(f, (X,), (t,))
        np.testing.assert_allclose(value, f(X))
        np.testing.assert_allclose(tangent, ref @ t, rtol=1e-6, atol=1e-8)
    return ref


@pytest.mark.parametrize("f", [concat_iterate, concat_elements, tuple_concat, iadd_list,
                               concat_in_helper], ids=lambda f: f.__name__)
def test_matches_autograd(f):
    ag = pytest.importorskip("autograd")
    np.testing.assert_allclose(grad(f)(X), ag.grad(f)(X), rtol=1e-10, atol=1e-12)


def test_repeat_matches_autograd_by_hand():
    # autograd has no list repetition: [v] * 3 written out as [v, v, v]
    def spelled(x):
        return np.sum(np.array([x[0], x[0], x[0]]) * np.arange(3.0))
    ag = pytest.importorskip("autograd")
    np.testing.assert_allclose(grad(repeat_list)(X), ag.grad(spelled)(X), rtol=1e-12)


def test_vjp_cotangent_of_a_concatenated_list_output():
    out, pb = vjp(concat_returned, X)
    assert isinstance(out, list) and len(out) == 3
    ct = [np.array([1.0, 0.0, 2.0]), np.array([0.5, 0.5, 0.5]), np.array([-1.0, 3.0, 0.0])]
    (bx,) = pb(ct)
    ref = fd_grad(lambda x: sum(np.sum(c * o) for c, o in zip(ct, concat_returned(x))), X)
    np.testing.assert_allclose(bx, ref, rtol=1e-6, atol=1e-8)
    value, tangent = jvp(concat_returned, (X,), (T,))
    assert isinstance(tangent, list) and len(tangent) == 3
    for t, expected in zip(tangent, [T, 2 * T, 2 * X * T]):
        np.testing.assert_allclose(t, expected)


def test_list_parameter_concatenated():
    xs = [np.array([0.2, -0.3]), np.array([1.5, 0.4])]
    y = np.array([0.7, -1.1])
    gxs, gy = grad(concat_param, wrt=(0, 1))(xs, y)
    assert isinstance(gxs, list) and len(gxs) == 2
    for k in range(2):
        ref = fd_grad(lambda v: concat_param([v if j == k else xs[j] for j in range(2)], y), xs[k])
        np.testing.assert_allclose(gxs[k], ref, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(gy, fd_grad(lambda v: concat_param(xs, v), y), rtol=1e-6)
    txs = [np.array([1.0, 0.0]), np.array([0.0, 2.0])]
    ty = np.array([0.5, 0.5])
    _, tangent = jvp(concat_param, (xs, y), (txs, ty))
    eps = 1e-6
    plus = concat_param([a + eps * t for a, t in zip(xs, txs)], y + eps * ty)
    minus = concat_param([a - eps * t for a, t in zip(xs, txs)], y - eps * ty)
    np.testing.assert_allclose(tangent, (plus - minus) / (2 * eps), rtol=1e-6)


def test_list_parameter_concatenated_in_a_loop():
    xs = [np.array([0.2, -0.3]), np.array([1.5, 0.4])]
    y = np.array([0.7, -1.1])
    gxs = grad(concat_param_loop)(xs, y)
    for k in range(2):
        ref = fd_grad(lambda v: concat_param_loop([v if j == k else xs[j] for j in range(2)], y),
                      xs[k])
        np.testing.assert_allclose(gxs[k], ref, rtol=1e-6, atol=1e-8)
    gy = grad(concat_param_loop, wrt=1)(xs, y)
    np.testing.assert_allclose(gy, fd_grad(lambda v: concat_param_loop(xs, v), y), rtol=1e-6)


def test_array_code_keeps_the_numpy_rules():
    def affine(x, y):
        return np.sum(x * y + x)
    src = source(affine, mode="rev")
    assert "add_grad" not in src and "mul_grad" not in src
    g = grad(affine)
    g(X, T)
    assert "add_grad" not in source(g) and "mul_grad" not in source(g)
    # a display: the sequence rules
    src = source(repeat_list, mode="rev")
    assert "ad.mul_grad_left(" in src


@pytest.mark.parametrize("f", [concat_elements, repeat_list, grow_in_loop],
                         ids=lambda f: f.__name__)
def test_hessian_forward_over_reverse(f):
    from ad_compiler import hessian
    H = hessian(f)(X)
    ref = np.array([fd_grad(lambda x: grad(f)(x)[i], X) for i in range(X.size)])
    np.testing.assert_allclose(H, ref, rtol=1e-5, atol=1e-6)


# --- lists returned by the user's own functions -----------------------------

def _first_two(x):
    return [x[0], x[1] ** 2]


def _last(x):
    out = []
    out.append(x[2] * 2.0)
    return out


def _pass_on(x):
    return _last(x)          # a list, but only through another call


def helpers_concat(x):
    a = _first_two(x) + _last(x)
    return np.sum(np.array(a) * W3)


def helpers_concat_len1(x):
    # two lists of length 1: NumPy's rules would broadcast (silently x2)
    a = _last(x) + _last(x)
    return np.sum(np.array(a) * W3[:2])


def helper_repeat(x):
    a = _last(x) * 3
    return np.sum(np.array(a) * W3)


HELPER_FUNCTIONS = [helpers_concat, helpers_concat_len1, helper_repeat]


@pytest.mark.parametrize("f", HELPER_FUNCTIONS, ids=lambda f: f.__name__)
def test_lists_returned_by_helpers(f):
    ref = fd_grad(f, X)
    np.testing.assert_allclose(grad(f)(X), ref, rtol=1e-6, atol=1e-8)
    out, pb = vjp(f, X)
    np.testing.assert_allclose(pb(1.0)[0], ref, rtol=1e-6, atol=1e-8)
    value, tangent = jvp(f, (X,), (T,))
    np.testing.assert_allclose(value, f(X))
    np.testing.assert_allclose(tangent, ref @ T, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("f", [helpers_concat, helpers_concat_len1], ids=lambda f: f.__name__)
def test_lists_returned_by_helpers_match_autograd(f):
    ag = pytest.importorskip("autograd")
    np.testing.assert_allclose(grad(f)(X), ag.grad(f)(X), rtol=1e-10, atol=1e-12)


def hidden_concat_len1(x):
    a = _pass_on(x) + _pass_on(x)
    return np.sum(np.array(a) * W3[:2])


def hidden_repeat(x):
    a = _pass_on(x) * 3
    return np.sum(np.array(a) * W3)


@pytest.mark.parametrize("f", [hidden_concat_len1, hidden_repeat], ids=lambda f: f.__name__)
def test_unrecognized_list_arithmetic_is_an_error_not_a_wrong_number(f):
    # the list is only known at run time: the NumPy rules' unbroadcast sees
    # a list operand whose adjoint has another length, and refuses
    ref = fd_grad(f, X)
    try:
        g = grad(f)(X)
    except TypeError as exc:
        assert "concatenates or repeats lists" in str(exc)
    else:
        np.testing.assert_allclose(g, ref, rtol=1e-6, atol=1e-8)
    try:
        _, tangent = jvp(f, (X,), (T,))
    except TypeError as exc:
        assert "concatenates or repeats lists" in str(exc)
    else:
        np.testing.assert_allclose(tangent, ref @ T, rtol=1e-6, atol=1e-8)


# --- sum() of lists or tuples: concatenation ---------------------------------

def sum_rows(x):
    rows = [[x[0], x[1]], [x[2] ** 2]]
    flat = sum(rows, [])
    return np.sum(np.array(flat) * W3)


def sum_rows_with_start(x):
    flat = sum([[x[0]], [x[1] * x[2]]], [x[2]])
    return np.sum(np.array(flat) * W3)


def sum_tuples(x):
    flat = sum([(x[0],), (x[1] * x[2], x[0])], ())
    s = 0.0
    for v in flat:
        s = s + v ** 2
    return s


def sum_rows_with_constants(x):
    flat = sum([[x[0], 1.5], [2.0], [x[1] * x[2]]], [])
    return np.sum(np.array(flat) ** 2 * np.arange(1.0, 5.0))


SUM_FUNCTIONS = [sum_rows, sum_rows_with_start, sum_tuples, sum_rows_with_constants]


@pytest.mark.parametrize("f", SUM_FUNCTIONS, ids=lambda f: f.__name__)
def test_sum_of_lists_concatenates(f):
    ref = fd_grad(f, X)
    np.testing.assert_allclose(grad(f)(X), ref, rtol=1e-6, atol=1e-8)
    out, pb = vjp(f, X)
    np.testing.assert_allclose(pb(1.0)[0], ref, rtol=1e-6, atol=1e-8)
    value, tangent = jvp(f, (X,), (T,))
    np.testing.assert_allclose(value, f(X))
    np.testing.assert_allclose(tangent, ref @ T, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("f", SUM_FUNCTIONS, ids=lambda f: f.__name__)
def test_sum_of_lists_matches_autograd(f):
    ag = pytest.importorskip("autograd")
    np.testing.assert_allclose(grad(f)(X), ag.grad(f)(X), rtol=1e-10, atol=1e-12)


def test_sum_of_lists_hessian():
    from ad_compiler import hessian
    H = hessian(sum_rows_with_start)(X)
    ref = np.array([fd_grad(lambda x: grad(sum_rows_with_start)(x)[i], X) for i in range(X.size)])
    np.testing.assert_allclose(H, ref, rtol=1e-5, atol=1e-6)


# --- derivatives of lists of Python floats stay lists of floats ------------

def sorted_first(xs):
    return sorted(xs)[0] * 2.0


def sorted_weighted(xs):
    s = sorted(xs)
    return s[0] * 1.0 + s[1] * 2.0 + s[2] * 3.0


def sorted_with_constant(x):
    return sorted([x[0] * 2.0, 0.5, x[1]])


def _fd_list(f, xs, eps=1e-6):
    out = []
    for i in range(len(xs)):
        up = list(xs)
        dn = list(xs)
        up[i] += eps
        dn[i] -= eps
        out.append((f(up) - f(dn)) / (2 * eps))
    return out


@pytest.mark.parametrize("f", [sorted_first, sorted_weighted], ids=lambda f: f.__name__)
def test_sorted_list_of_floats_keeps_float_entries(f):
    xs = [0.3, -0.7, 1.1]
    ref = _fd_list(f, xs)
    for g in (grad(f)(xs), vjp(f, xs)[1](1.0)[0]):
        assert isinstance(g, list) and len(g) == 3
        assert all(np.ndim(v) == 0 and not isinstance(v, np.ndarray) for v in g), g
        np.testing.assert_allclose(g, ref, rtol=1e-6, atol=1e-8)
    ts = [0.5, -1.0, 2.0]
    _, tangent = jvp(f, (xs,), (ts,))
    np.testing.assert_allclose(tangent, np.dot(ref, ts), rtol=1e-6, atol=1e-8)
    ag = pytest.importorskip("autograd")
    np.testing.assert_allclose(grad(f)(xs), ag.grad(f)(xs), rtol=1e-12)


def test_sorted_tangent_of_a_constant_entry_is_a_float():
    value, tangent = jvp(sorted_with_constant, (X,), (T,))
    assert value == sorted([X[0] * 2.0, 0.5, X[1]])
    assert all(not isinstance(t, np.ndarray) for t in tangent), tangent
    eps = 1e-6
    plus, minus = sorted_with_constant(X + eps * T), sorted_with_constant(X - eps * T)
    np.testing.assert_allclose(tangent, (np.array(plus) - np.array(minus)) / (2 * eps),
                               rtol=1e-6, atol=1e-8)
    out, pb = vjp(sorted_with_constant, X)
    ct = [1.0, 2.0, 3.0]
    ref = fd_grad(lambda x: np.dot(ct, sorted_with_constant(x)), X)
    np.testing.assert_allclose(pb(ct)[0], ref, rtol=1e-6, atol=1e-8)


# --- lst += [v] / lst *= n with another name for the list ---------------------
# Python extends/repeats the list in place (the other name sees it); the
# derivative code rebinds: refused with a CompileError at the user's line

def aliased_iadd(x):
    lst = [x[0]]
    b = lst
    lst += [x[1] * 2.0]
    return np.sum(np.array(b) * np.arange(1.0, 3.0))


def aliased_imul(x):
    lst = [x[0], x[1]]
    b = lst
    lst *= 2
    return np.sum(np.array(b) * np.arange(1.0, 5.0))


def aliased_in_container(x):
    lst = [x[0]]
    box = [lst]
    lst += [x[1] * 2.0]
    return np.sum(np.array(box[0]) * np.arange(1.0, 3.0))


@pytest.mark.parametrize("f", [aliased_iadd, aliased_imul, aliased_in_container],
                         ids=lambda f: f.__name__)
def test_aliased_list_update_is_refused(f):
    from ad_compiler import CompileError
    for run in (lambda: grad(f)(X), lambda: vjp(f, X), lambda: jvp(f, (X,), (T,))):
        with pytest.raises(CompileError) as info:
            run()
        assert "lst" in str(info.value) and "test_sequence_ops.py" in str(info.value)


def list_param_iadd(lst, x):
    lst += [x[1] * 2.0]
    lst *= 2
    return np.sum(np.array(lst) * np.arange(1.0, 1.0 + len(lst)))


def test_list_parameter_updated_in_place_is_not_mutated():
    xs = [np.float64(1.5)]
    g = grad(list_param_iadd, wrt=1)(xs, X)
    assert len(xs) == 1
    np.testing.assert_allclose(g, fd_grad(lambda x: list_param_iadd(list(xs), x), X), rtol=1e-6)
    _, tangent = jvp(list_param_iadd, (xs, X), ([0.0], T))
    assert len(xs) == 1
    ref = fd_grad(lambda x: list_param_iadd(list(xs), x), X) @ T
    np.testing.assert_allclose(tangent, ref, rtol=1e-6)


# --- NumPy broadcasting of a list operand (not concatenation) ----------------
# ad.unbroadcast sums the adjoint down to the list's shape as for an array;
# only a length-1 list broadcast along its length is refused (a + or * of
# lists the compiler did not recognize would look the same).

XB = np.arange(6.0).reshape(2, 3) / 5 + 0.5


def bcast_mul(x):
    w = [x[0], x[1], x[2]]
    return np.sum(np.sin(XB * w))


def bcast_add(x):
    w = [x[0], x[1] ** 2, x[2]]
    return np.sum(np.sin(XB + w))


def bcast_sub_left(x):
    w = (x[0], x[1], x[2] * x[0])
    return np.sum(np.sin(w - XB))


def bcast_sub_right(x):
    w = [x[0], x[1], x[2]]
    return np.sum(np.cos(XB - w) * XB)


def bcast_div(x):
    w = [x[0] + 2.0, x[1] + 2.0, x[2] + 2.0]
    return np.sum(XB / w) + np.sum(w / XB)


def bcast_column(x):
    w = [[x[0]], [x[1] * x[2]]]          # shape (2, 1) against (2, 3)
    return np.sum(np.sin(XB * w + w))


def bcast_len1_extra_dims(x):
    w = [x[0]]                           # (1,) against (2, 3): along axis 1
    return np.sum(np.sin(XB * w - w))


BROADCAST_FUNCTIONS = [bcast_mul, bcast_add, bcast_sub_left, bcast_sub_right,
                       bcast_div, bcast_column, bcast_len1_extra_dims]


@pytest.mark.parametrize("f", BROADCAST_FUNCTIONS, ids=lambda f: f.__name__)
def test_numpy_broadcasting_of_a_list_operand(f):
    ref = fd_grad(f, X)
    np.testing.assert_allclose(grad(f)(X), ref, rtol=1e-6, atol=1e-8)
    out, pb = vjp(f, X)
    np.testing.assert_allclose(out, f(X))
    np.testing.assert_allclose(pb(1.0)[0], ref, rtol=1e-6, atol=1e-8)
    if f is bcast_sub_right:
        # forward mode: the tangent of the display is a list, and the
        # specialized tangent of XB - w is -dw (unary minus of a list)
        with pytest.raises(TypeError):
            jvp(f, (X,), (T,))
        return
    value, tangent = jvp(f, (X,), (T,))
    np.testing.assert_allclose(value, f(X))
    np.testing.assert_allclose(tangent, ref @ T, rtol=1e-6, atol=1e-8)


def bcast_len1_along_length(x):
    return np.sum(np.sin([x[0]] - x))


def test_length1_list_broadcast_along_its_length_is_refused():
    with pytest.raises(TypeError, match=r"np\.array"):
        grad(bcast_len1_along_length)(X)
    with pytest.raises(TypeError, match=r"np\.array"):
        vjp(bcast_len1_along_length, X)[1](1.0)


# --- enumerate's counters carry no tangent (found by the non-differentiable
# audit: the forward rule gave the counter itself as its tangent) -----------

def _enumerate_as_array(x):
    return np.array(list(enumerate(x)))


def _enumerate_from_one(x):
    s = 0.0
    for i, v in enumerate(x, 1):
        s = s + i * v ** 2
    return s


def _enumerate_pairs_used(x):
    pairs = list(enumerate(x, 2))
    return sum(i * v for i, v in pairs)


@pytest.mark.parametrize("fn", [_enumerate_as_array, _enumerate_from_one,
                                _enumerate_pairs_used])
def test_enumerate_counter_has_no_tangent(fn):
    from ad_compiler import jvp
    x = np.array([0.3, 0.7, 1.1])
    t = np.array([1.0, 2.0, 3.0])
    h = 1e-6
    fd = (np.asarray(fn(x + h * t)) - np.asarray(fn(x - h * t))) / (2 * h)
    np.testing.assert_allclose(jvp(fn, (x,), (t,))[1], fd, rtol=1e-6, atol=1e-9)


def _percentile_of_list_q(u):
    return np.sum(np.percentile(u, [30.0, 60.0 + u[2]]) * np.array([1.0, 2.0]))


def _quantile_of_list_q(u):
    return np.sum(np.quantile(u, [0.3, 0.6 + 0.1 * u[2]]) * np.array([1.0, 2.0]))


@pytest.mark.parametrize("f", [_percentile_of_list_q, _quantile_of_list_q])
def test_quantile_levels_given_as_a_list_with_a_differentiated_entry(f):
    """np.percentile(u, [30.0, 60.0 + u[2]]): the rule divided the list q
    by 100 (TypeError from generated code); grad and jvp vs central FD."""
    from ad_compiler import grad, jvp
    u = np.array([0.3, 1.7, 0.2, 0.9, 1.1])
    eps = 1e-6
    fd = np.array([(f(u + eps * e) - f(u - eps * e)) / (2 * eps) for e in np.eye(5)])
    np.testing.assert_allclose(grad(f)(u), fd, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose([jvp(f, (u,), (e,))[1] for e in np.eye(5)], fd,
                               rtol=1e-6, atol=1e-8)


# --- list.reverse() and list.sort() ----------------------------------------
# lst.reverse() was not followed at all (grad and jvp of the unreversed list,
# silently); lst.sort() became np.sort(lst), whose forward rule crashed on the
# list tangent ('list' object has no attribute 'ndim').  Both are now the
# functional ad.reversed_ / ad.sorted_ (a new list, as Python keeps a list).

def list_reverse(x):
    lst = [x[0], x[1], x[2]]
    lst.reverse()
    return lst[0] * 1.0 + lst[1] * 2.0 + lst[2] * 3.0      # 3 x0 + 2 x1 + x2


def list_sort(x):
    lst = [x[0] * 2.0, x[1], x[2] * x[0]]
    lst.sort()
    return lst[0] * 1.0 + lst[1] * 2.0 + lst[2] * 3.0


def list_sort_keywords(x):
    lst = [x[0], x[1], x[2]]
    lst.sort(key=abs, reverse=True)
    return lst[0] * 1.0 + lst[1] * 2.0 + lst[2] * 3.0


def list_reverse_in_loop(x):
    lst = []
    for i in range(3):
        lst.append(x[i] * (i + 1.0))
    s = 0.0
    for i in range(2):
        lst.reverse()
        s = s + lst[0] * (i + 1.0) * x[1]
    return s


def list_of_arrays_reversed(x):
    lst = [x * 1.0, x * 2.0]
    lst.reverse()
    return np.sum(lst[0] * W3) + np.sum(lst[1] ** 2)


LIST_METHODS = [list_reverse, list_sort, list_sort_keywords, list_reverse_in_loop,
                list_of_arrays_reversed]


@pytest.mark.parametrize("f", LIST_METHODS, ids=lambda f: f.__name__)
def test_list_reverse_and_sort(f):
    from ad_compiler import hessian
    from tests.reference import fd_hessian
    _check_first_order(f, (T, np.eye(3)[0]))
    np.testing.assert_allclose(hessian(f)(X), fd_hessian(f, (X,), 0), rtol=1e-4, atol=1e-5)


def test_list_reverse_by_hand():
    np.testing.assert_allclose(grad(list_reverse)(X), [3.0, 2.0, 1.0])


@pytest.mark.parametrize("f", [list_reverse, list_sort, list_sort_keywords],
                         ids=lambda f: f.__name__)
def test_list_reverse_and_sort_match_autograd(f):
    ag = pytest.importorskip("autograd")
    np.testing.assert_allclose(grad(f)(X), ag.grad(f)(X), rtol=1e-12, atol=1e-12)


# --- list.extend / insert / clear / pop as statements (they were silently
# ignored: wrong values and derivatives); list.remove and pop(i) with a
# computed index are refused

def _lm_extend(x):
    lst = [x[0], x[1]]
    lst.extend([x[2] ** 2, x[0] * x[1]])
    lst.extend(x[1:] * 2.0)
    return lst[0] + 2 * lst[1] + 3 * lst[2] + 4 * lst[3] + lst[4] * lst[-1]


def _lm_insert(x):
    lst = [x[0], x[1], x[2]]
    lst.insert(1, x[2] ** 2)
    lst.insert(-1, np.sin(x[0]))
    return lst[0] + 2 * lst[1] + 3 * lst[2] + 4 * lst[3] + 5 * lst[4]


def _lm_clear(x):
    lst = [x[0] ** 2]
    lst.clear()
    lst.append(x[1] * 3.0)
    return lst[0] + len(lst)


def _lm_pop(x):
    lst = [x[0], x[1] ** 2, x[2] * 3.0, x[0] * x[2]]
    lst.pop()
    lst.pop(0)
    lst.pop(-2)
    return lst[0] * 7.0 + len(lst)


def _lm_loop(x):
    acc = []
    for i in range(3):
        acc.extend([x[i] * (i + 1), x[i] ** 2])
        acc.insert(0, np.tanh(x[i]))
    acc.pop(1)
    return sum(acc) + acc[0] * acc[-1]


def _lm_remove(x):
    lst = [x[0], x[1]]
    lst.remove(x[0])
    return lst[0]


def _lm_pop_computed(x, i):
    lst = [x[0], x[1]]
    lst.pop(i)
    return lst[0]


@pytest.mark.parametrize("fn", [_lm_extend, _lm_insert, _lm_clear, _lm_pop, _lm_loop],
                         ids=lambda f: f.__name__)
def test_list_mutating_methods(fn):
    from ad_compiler import hessian, jvp, value_and_grad
    autograd = pytest.importorskip("autograd")
    x = np.array([0.3, -0.7, 1.1])
    h = 1e-6
    fd = np.array([(fn(x + h * e) - fn(x - h * e)) / (2 * h) for e in np.eye(3)])
    v, g = value_and_grad(fn)(x)
    assert v == pytest.approx(fn(x), rel=1e-12)
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(g, autograd.grad(fn)(x), rtol=1e-12, atol=1e-14)
    t = np.array([1.0, -2.0, 0.5])
    np.testing.assert_allclose(jvp(fn, (x,), (t,))[1], fd @ t, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(hessian(fn)(x), autograd.hessian(fn)(x), rtol=1e-10, atol=1e-12)


def test_list_remove_and_computed_pop_are_refused():
    from ad_compiler import CompileError
    x = np.array([0.3, -0.7, 1.1])
    with pytest.raises(CompileError, match=r"test_sequence_ops.py:\d+:\d+: cannot differentiate "
                                           r"list.remove\(\) here"):
        grad(_lm_remove)(x)
    with pytest.raises(CompileError, match=r"list.pop\(\) here: the index is computed"):
        grad(_lm_pop_computed)(x, 1)
