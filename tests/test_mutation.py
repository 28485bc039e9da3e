"""Helpers that modify their arguments, writes through containers and views.

Python semantics: an in-place write changes every name (and the caller's
data) that holds the same memory.  ad_compiler either gets the derivative
of what Python computes, never modifying the caller's arrays, dicts and
lists, or refuses with a CompileError at the user's line.  Derivatives are
checked against central finite differences in float64 (autograd does not
support in-place writes), in reverse (grad) and forward (jvp) mode.
"""
import copy

import numpy as np
import pytest

from tests.reference import fd_grad_of_copies
from ad_compiler import CompileError, grad, jvp

X3 = np.array([0.3, -1.2, 0.7])
X23 = np.array([[0.3, -1.2, 0.7], [1.1, 0.4, -0.5]])


fd_grad = fd_grad_of_copies


def check_both_modes(f, *args):
    """grad and jvp of f w.r.t. its first argument match finite differences,
    and no argument is modified."""
    saved = copy.deepcopy(args)
    ref = fd_grad(f, saved)
    g = grad(f)(*args)
    np.testing.assert_allclose(g, ref, rtol=1e-6, atol=1e-8)
    t = np.linspace(0.5, 1.5, np.size(args[0])).reshape(np.shape(args[0]))
    tangents = (t,) + tuple(_zeros_like_tree(a) for a in args[1:])
    _, tout = jvp(f, args, tangents)
    np.testing.assert_allclose(tout, np.sum(ref * t), rtol=1e-6, atol=1e-8)
    _assert_same(args, saved)


def _zeros_like_tree(a):
    if isinstance(a, dict):
        return {k: _zeros_like_tree(v) for k, v in a.items()}
    if isinstance(a, (list, tuple)):
        return type(a)(_zeros_like_tree(v) for v in a)
    return np.zeros_like(a)


def _assert_same(a, b):
    if isinstance(a, dict):
        assert isinstance(b, dict) and sorted(a) == sorted(b)
        for k in a:
            _assert_same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for u, v in zip(a, b):
            _assert_same(u, v)
    else:
        assert np.array_equal(a, b), "an argument was modified"


def refused(f, *args, words=()):
    saved = copy.deepcopy(args)
    with pytest.raises(CompileError) as info:
        grad(f)(*args)
    err = info.value
    assert err.filename.endswith("test_mutation.py"), err
    assert err.line and err.line.strip(), err
    for w in words:
        assert w in str(err), str(err)
    _assert_same(args, saved)
    return err


# -- 1. helpers that modify their arguments ---------------------------------

def halve(v):
    v /= 2.0
    return np.sum(v)


def uses_halved(x):
    y = x * 1.0
    s = halve(y)  # the caller's y changes in Python
    return s + np.sum(y ** 2)


def add_into(A, x):
    A += x


def accumulates(x):
    A = np.zeros(3)
    add_into(A, x)
    return np.sum(A ** 2)


def triple(v):
    v *= 3.0


def passes_on(v):
    triple(v)


def nested(x):
    y = x * 1.0
    passes_on(y)
    return np.sum(y)


def push(lst, v):
    lst.append(v)


def appends(x):
    items = [x]
    push(items, x * 2.0)
    return np.sum(items[-1])


def put_key(d, v):
    d["k"] = v


def sets_key(x):
    d = {"k": x}
    put_key(d, x * 3.0)
    return np.sum(d["k"])


@pytest.mark.parametrize("f, helper, param", [
    (uses_halved, "halve()", "'v'"), (accumulates, "add_into()", "'A'"),
    (nested, "passes_on()", "'v'"), (appends, "push()", "'lst'"),
    (sets_key, "put_key()", "'d'")])
def test_helper_mutating_its_argument_is_refused(f, helper, param):
    err = refused(f, X3.copy(), words=(helper, param, "in place"))
    assert helper.rstrip("()") in err.line


def bump(v):
    v += 1.0
    return v * 2.0


def bump_float(x):
    return bump(np.sum(x)) + bump(2.0)


def rebinds(v):
    v = v * 1.0
    v += 1.0
    return np.sum(v ** 2)


def bump_rebound(x):
    y = x * 2.0
    return rebinds(y) + np.sum(y)


def test_helper_updates_of_floats_and_rebound_parameters_are_fine():
    check_both_modes(bump_float, X3.copy())
    check_both_modes(bump_rebound, X3.copy())


# -- 2. writes through containers -------------------------------------------

def dict_write(x, params):
    params["W"][0] = x[0]
    return np.sum(params["W"] * x)


def dict_update(x, params):
    params["W"] += x
    return np.sum(params["W"] * x)


def nested_write(x, params):
    params["layers"][0]["W"][1:] = x[:2]
    return np.sum(params["layers"][0]["W"] * x)


def nested_update(x, params):
    params["layers"][0]["W"] *= x
    return np.sum(params["layers"][0]["W"] * x)


def list_write(x, ws):
    ws[0][1] = x[0] * x[2]
    return np.sum(ws[0] * x)


def row_write(X):
    X[0][1] = X[1][2] * 2.0
    return np.sum(X ** 2)


def test_writes_through_containers():
    W = np.array([1.0, 2.0, 3.0])
    check_both_modes(dict_write, X3.copy(), {"W": W.copy(), "b": 1.0})
    check_both_modes(dict_update, X3.copy(), {"W": W.copy()})
    check_both_modes(nested_write, X3.copy(), {"layers": [{"W": W.copy()}]})
    check_both_modes(nested_update, X3.copy(), {"layers": [{"W": W.copy()}]})
    check_both_modes(list_write, X3.copy(), [W.copy(), W.copy()])
    check_both_modes(row_write, X23.copy())


class Model:
    def __init__(self):
        self.W = np.ones(3)

    def loss(self, x):
        self.W[0] = x[0]
        return np.sum(self.W * x)


def transposed_write(x):
    x.T[0] = 1.0
    return np.sum(x ** 2)


def flat_write(x):
    x.flat[0] = 2.0
    return np.sum(x ** 2)


def real_write(x):
    x.real[0] = 1.0
    return np.sum(x ** 2)


@pytest.mark.parametrize("f", [transposed_write, flat_write, real_write])
def test_writes_through_attributes_are_refused(f):
    refused(f, X3.copy(), words=("through the attribute",))


def test_write_into_an_object_attribute_is_refused():
    m = Model()
    refused(m.loss, X3.copy(), words=("'.W'", "'self'"))
    assert np.array_equal(m.W, np.ones(3))


# -- 3. views: loops, unpacking, slices, np.copyto ----------------------------

def row_loop_write(X):
    for row in X:
        row[0] = 1.0
    return np.sum(X ** 2)


def row_loop_update(X):
    for row in X:
        row += 1.0
    return np.sum(X ** 2)


def enumerate_update(X):
    for i, row in enumerate(X):
        row *= 2.0
    return np.sum(X ** 2)


def unpacked_view_write(X):
    a, b = X[0], X[1]
    a[0] = 5.0
    return np.sum(X ** 2) + np.sum(a)


def list_loop_update(x):
    ws = [x * 1.0, x * 2.0]
    for w in ws:
        w += 1.0
    return np.sum(ws[0] * ws[1])


def slice_view_write_then_read(x):
    v = x[1:]
    v[0] = 2.0
    return np.sum(x ** 2)


def copyto(x):
    np.copyto(x, 2.0 * x)
    return np.sum(x ** 2)


def add_at(x):
    y = np.zeros(3)
    np.add.at(y, [0, 0], x[:2])
    return np.sum(y ** 2)


@pytest.mark.parametrize("f, arg, words", [
    (row_loop_write, X23, ("'row'", "'X'")), (row_loop_update, X23, ("'row'", "'X'")),
    (enumerate_update, X23, ("'row'", "'X'")), (unpacked_view_write, X23, ("'a'", "'X'")),
    (list_loop_update, X3, ("'w'", "'ws'")),
    (slice_view_write_then_read, X3, ("'v'", "'x'", "read again")),
    (copyto, X3, ("copyto",)), (add_at, X3, ("at",))])
def test_writes_through_views_are_refused(f, arg, words):
    refused(f, arg.copy(), words=words)


def row_loop_rebinds(X):
    s = 0.0
    for row in X:
        row = row * 2.0
        row[0] = 1.0
        s = s + np.sum(row ** 2)
    return s


def float_loop_update(x):
    s = 0.0
    for v in [np.sum(x), np.prod(x)]:
        v += 1.0
        s = s + v * v
    return s


def slice_view_write_only(x):
    v = x[1:]
    v[0] = 2.0
    return np.sum(v ** 2)


def other_key_read(x, params):
    W = params["W"]
    W[0] = x[0]
    return np.sum(W * x) + np.sum(params["b"] * x)


def same_key_read(x, params):
    W = params["W"]
    W[0] = x[0]
    return np.sum(params["W"] * x)


def fill_constant(x):
    M = np.ones((3, 3))
    np.fill_diagonal(M, 0.0)
    return np.sum(M @ x ** 2)


def test_no_false_refusals():
    check_both_modes(row_loop_rebinds, X23.copy())
    check_both_modes(float_loop_update, X3.copy())
    check_both_modes(slice_view_write_only, X3.copy())
    check_both_modes(other_key_read, X3.copy(), {"W": np.ones(3), "b": np.arange(3.0)})
    check_both_modes(fill_constant, X3.copy())


def test_reading_the_written_entry_again_is_refused():
    refused(same_key_read, X3.copy(), {"W": np.ones(3)}, words=("'W'", "'params'"))


# -- 4. local helpers and lambdas (inlined) that modify their arguments ------

def local_update(x):
    def h(v):
        v *= 3.0
        return np.sum(v)
    y = x * 1.0
    s = h(y)  # the caller's y changes in Python
    return s + np.sum(y * y)


def local_setitem(x):
    def h(v):
        v[0] = 3.0
        return np.sum(v)
    y = x * 1.0
    s = h(y)
    return s + np.sum(y * y)


def local_setitem_param(x):
    def h(v):
        v[0] = 3.0
        return np.sum(v)
    s = h(x)
    return s + np.sum(x * x)


def local_append(x):
    def h(v):
        v.append(x[0])
        return 0.0
    ys = [x[1]]
    h(ys)
    return ys[0] * ys[-1]


def lambda_sort(x):
    h = lambda v: v.sort()  # noqa: E731
    y = x * 1.0
    h(y)
    return y[0] * x[1]


def local_view_write(x):
    def h(v):
        w = v[1:]
        w[0] = 5.0
        return np.sum(v)
    return h(x * 2.0)


@pytest.mark.parametrize("f, words", [
    (local_update, ("'h'", "'v'", "'y'")), (local_setitem, ("'h'", "'v'", "'y'")),
    (local_setitem_param, ("'h'", "'v'", "'x'")), (local_append, ("'h'", "'ys'")),
    (lambda_sort, ("'v'", "'y'")), (local_view_write, ("'w'", "'v'", "read again"))])
def test_local_helpers_modifying_arguments_are_refused(f, words):
    refused(f, X3.copy(), words=words)


def local_fills_fresh(x):
    def fill(v, a):
        v[0] = a * a
        v[1] = np.sin(a)
        return v
    out = fill(np.zeros(2), x[0])
    return np.sum(out * x[1:])


def local_updates_float(x):
    def h(v):
        v *= 3.0
        return v
    a = x[0] * 1.0
    b = h(a)
    return a * b + np.sum(x)


def test_local_helpers_without_aliasing_are_fine():
    check_both_modes(local_fills_fresh, X3.copy())
    check_both_modes(local_updates_float, X3.copy())


# -- 5. names bound to what is later written in place -------------------------

def alias_then_container_write(x, params):
    W = params["W"]
    params["W"][0] = x[0]  # W sees this in Python
    return np.sum(W * x)


def alias_then_other_key_write(x, params):
    W = params["W"]
    params["b"][0] = x[0]
    return np.sum(W * x) + np.sum(params["b"])


def view_then_source_write(x):
    v = x[1:]
    x[1] = 5.0 * x[2]
    return np.sum(v * v) + np.sum(x)


def branch_view_then_source_write(x, c=True):
    y = x * 1.0
    if c:
        v = y[1:]
    else:
        v = y[1:] * 1.0
    y[1] = 2.0 * x[0]
    return np.sum(v * v)


def view_then_source_update(x):
    y = x * 1.0
    v = y[1:]
    y += 1.0
    return np.sum(v * x[1:])


def alias_then_param_write(x):
    y = x
    x[0] = 5.0 * x[1]
    return np.sum(y * x)


def list_alias_append(x):
    ys = [x[0], x[1]]
    zs = ys
    ys.append(x[2])
    return zs[-1] * 2.0


def loop_row_read_after_write(X):
    Y = X * 1.0
    s = 0.0
    for i in range(2):
        row = Y[i]
        Y[i] = row * 2.0
        s = s + np.sum(row)
    return s


@pytest.mark.parametrize("f, args, words", [
    (alias_then_container_write, (X3, {"W": np.array([1.0, 2.0, 3.0])}), ("'W'", "'params'")),
    (view_then_source_write, (X3,), ("'v'", "'x'", "read again")),
    (branch_view_then_source_write, (X3,), ("'v'", "'y'")),
    (view_then_source_update, (X3,), ("'v'", "'y'")),
    (alias_then_param_write, (X3,), ("'y'", "'x'")),
    (list_alias_append, (X3,), ("'zs'", "'ys'")),
    (loop_row_read_after_write, (X23,), ("'row'", "'Y'"))])
def test_reading_a_name_after_a_write_into_what_it_shares_is_refused(f, args, words):
    refused(f, *copy.deepcopy(args), words=words)


def loop_row_rebound(X):
    Y = X * 1.0
    for i in range(2):
        row = Y[i]
        Y[i] = row * 2.0
    return np.sum(Y * Y)


def view_rebound_before_write(x):
    v = x[1:]
    s = np.sum(v)
    v = v * 2.0
    x[1] = 0.0
    return np.sum(v) + s + np.sum(x)


def element_then_write(x):
    y = x * 1.0
    a = y[0]  # a number, not a view
    y[1] = a * 2.0
    return a * np.sum(y)


def test_bindings_that_do_not_share_are_fine():
    check_both_modes(alias_then_other_key_write, X3.copy(),
                     {"W": np.array([1.0, 2.0, 3.0]), "b": np.array([1.0, 2.0])})
    check_both_modes(branch_view_then_source_write, X3.copy(), False)
    check_both_modes(loop_row_rebound, X23.copy())
    check_both_modes(view_rebound_before_write, X3.copy())
    check_both_modes(element_then_write, X3.copy())


# -- 6. names bound by for targets and unpacking; loops over what they write --

def for_row_read_after_write(X):
    Y = X * 1.0
    s = 0.0
    for i, row in enumerate(Y):
        Y[i, 0] = 5.0 * X[1, 1]  # row (a view of Y[i]) sees this in Python
        s = s + np.sum(row * row)
    return s


def unpack_rows_then_write(X):
    Y = X * 1.0
    a, b = Y[0], Y[1]
    Y[0, 1] = 3.0 * X[1, 2]
    return np.sum(a * b)


def unpack_sequence_then_write(X):
    Y = X * 1.0
    a, b = Y
    Y[1] += X[0]
    return np.sum(a * b)


def items_loop_write_then_read(x, params):
    s = 0.0
    for k, W in params.items():
        params[k][0] = x[0] * 2.0
        s = s + np.sum(W * x)
    return s


def pairs_loop_write_then_read(x, params):
    s = 0.0
    for i, (W, b) in enumerate(params):
        params[i][0][0] = x[1] * 3.0
        s = s + np.sum(W * x) + np.sum(b)
    return s


def loop_over_rows_writes_later_row(X):
    Y = X * 1.0
    s = 0.0
    for row in Y:
        s = s + np.sum(row * row)
        Y[1, 0] = 3.0 * X[0, 0]  # Python's second iteration sees this
    return s


def loop_over_list_writes_it(x):
    ys = [x[0] * 1.0, x[1] * 1.0, x[2] * 1.0]
    s = 0.0
    for y in ys:
        s = s + y * y
        ys[2] = 5.0 * x[0]
    return s


def zip_loop_writes_source(X):
    Y = X * 1.0
    s = 0.0
    for r, q in zip(Y, X):
        Y[1] = 2.0 * q
        s = s + np.sum(r * q)
    return s


@pytest.mark.parametrize("f, args, words", [
    (for_row_read_after_write, (X23,), ("'row'", "'Y'", "read again")),
    (unpack_rows_then_write, (X23,), ("'a'", "'Y'")),
    (unpack_sequence_then_write, (X23,), ("'b'", "'Y'")),
    (items_loop_write_then_read, (X3, {"W": np.array([1.0, 2.0, 3.0]),
                                      "V": np.array([0.5, 1.5, -1.0])}), ("'W'", "'params'")),
    (pairs_loop_write_then_read, (X3, [[np.array([1.0, 2.0, 3.0]), np.array([1.0])],
                                       [np.array([0.5, 1.5, -1.0]), np.array([2.0])]]),
     ("'W'", "'params'")),
    (loop_over_rows_writes_later_row, (X23,), ("'Y'", "loop over")),
    (loop_over_list_writes_it, (X3,), ("'ys'", "loop over")),
    (zip_loop_writes_source, (X23,), ("'Y'", "loop over"))])
def test_for_targets_and_unpacked_names_read_after_a_write_are_refused(f, args, words):
    refused(f, *copy.deepcopy(args), words=words)


def enumerate_rows_rewritten(X):
    Y = X * 1.0
    s = 0.0
    for i, row in enumerate(Y):
        Y[i] = row * 2.0
        s = s + np.sum(Y[i] * X[i])
    return s + np.sum(Y)


def items_loop_rewritten(x, params):
    s = 0.0
    for k, W in params.items():
        s = s + np.sum(W * x)
        params[k] = W * x[0]
    return s + np.sum(params["W"] * params["V"])


def for_rows_of_another_array(X):
    Y = X * 1.0
    s = 0.0
    for row in X:
        Y[0] = Y[0] * row
        s = s + np.sum(row)
    return s + np.sum(Y)


def unpacked_numbers_then_write(x):
    y = x * 1.0
    a, b = y[0], y[1]
    y[0] = a * b
    return a * np.sum(y)


def test_for_targets_and_unpacking_that_do_not_share_are_fine():
    check_both_modes(enumerate_rows_rewritten, X23.copy())
    check_both_modes(items_loop_rewritten, X3.copy(),
                     {"W": np.array([1.0, 2.0, 3.0]), "V": np.array([0.5, 1.5, -1.0])})
    check_both_modes(for_rows_of_another_array, X23.copy())
    check_both_modes(unpacked_numbers_then_write, X3.copy())


# -- 7. second names inside local helpers; messages show the user's names ----

def local_second_name_update(x):
    def h(v):
        w = v
        w += 1.0  # v (and the caller's y) change too in Python
        return np.sum(v * v)
    y = x * 2.0
    return h(y)


def local_view_second_name_update(x):
    def h(v):
        w = v[1:]
        w += 1.0
        return np.sum(v * v)
    return h(x * 2.0)


def local_unpacked_second_name_update(x):
    def h(v, u):
        a, b = v, u
        a *= 2.0
        return np.sum(v * b)
    return h(x * 1.0, x)


def nested_local_second_name(x):
    def g(u):
        u2 = u
        u2 *= 2.0
        return np.sum(u)

    def h(v):
        return g(v[1:])
    return h(x * 1.0)


@pytest.mark.parametrize("f, words", [
    (local_second_name_update, ("'w'", "'v'")),
    (local_view_second_name_update, ("'w'", "'v'")),
    (local_unpacked_second_name_update, ("'a'", "'v'")),
    (nested_local_second_name, ("'u2'", "'u'"))])
def test_second_names_inside_local_helpers_are_refused(f, words):
    refused(f, X3.copy(), words=words)


def local_fresh_second_name(x):
    def h(v):
        w = v * 1.0
        w += 1.0
        return np.sum(w * v)
    return h(x * 2.0)


def local_float_second_name(x):
    def h(a):
        b = a
        b += 1.0
        return a * b
    return h(x[0] * 2.0) + np.sum(x)


def test_second_names_of_fresh_values_inside_local_helpers_are_fine():
    check_both_modes(local_fresh_second_name, X3.copy())
    check_both_modes(local_float_second_name, X3.copy())


def comprehension_helper_update(X):
    def h(v):
        v *= 3.0
        return np.sum(v)
    Y = X * 1.0
    zs = [h(Y[i]) for i in range(2)]
    return sum(zs) + np.sum(Y)


def comprehension_helper_write(X):
    def h(v):
        v[0] = 3.0
        return np.sum(v)
    Y = X * 1.0
    zs = [h(Y[row]) for row in range(2)]
    return sum(zs) + np.sum(Y)


@pytest.mark.parametrize("f, shown", [(comprehension_helper_update, "'Y[i]'"),
                                      (comprehension_helper_write, "'Y[row]'")])
def test_messages_show_the_comprehension_variable_as_written(f, shown):
    with pytest.raises(CompileError) as info:
        grad(f)(X23.copy())
    msg = str(info.value)
    assert shown in msg and "_1" not in msg, msg


# -- 8. containers holding views of what is later written in place -----------

def comprehension_of_rows_then_write(X):
    Y = X * 1.0
    rows = [Y[i] for i in range(2)]
    Y[0, 0] = 3.0 * X[1, 1]  # rows[0] sees this in Python
    return np.sum(rows[0] * rows[1])


def list_of_rows_then_write(X):
    Y = X * 1.0
    rows = list(Y)
    Y[0, 0] = 3.0 * X[1, 1]
    return np.sum(rows[0] * rows[1])


def dict_of_view_then_write(X):
    Y = X * 1.0
    d = {"a": Y[0]}
    Y[0, 0] = 3.0 * X[1, 1]
    return np.sum(d["a"] * X[1])


def write_through_list_element(X):
    Y = X * 1.0
    rows = [Y[0], Y[1]]
    rows[0][0] = 3.0 * X[1, 1]  # writes into Y in Python
    return np.sum(Y * X)


@pytest.mark.parametrize("f, words", [
    (comprehension_of_rows_then_write, ("'rows'", "'Y'")),
    (list_of_rows_then_write, ("'rows'", "'Y'")),
    (dict_of_view_then_write, ("'d'", "'Y'")),
    (write_through_list_element, ("'rows'", "'Y'", "element"))])
def test_containers_of_views_read_after_a_write_are_refused(f, words):
    refused(f, X23.copy(), words=words)


def list_of_copies_then_write(X):
    Y = X * 1.0
    rows = [Y[0] * 1.0, Y[1].copy()]
    Y[0, 0] = 3.0 * X[1, 1]
    rows[1][0] = 2.0 * X[0, 2]
    return np.sum(rows[0] * rows[1]) + np.sum(Y * X)


def activations_then_write(X):
    Y = X * 1.0
    h = np.tanh(Y)
    Y[0, 0] = 3.0 * X[1, 1]
    return np.sum(h * Y)


def test_containers_of_copies_are_fine():
    check_both_modes(list_of_copies_then_write, X23.copy())
    check_both_modes(activations_then_write, X23.copy())


def get_then_container_write(x, params):
    W = params.get("W")
    params["W"][0] = x[0] * 2.0  # W sees this in Python
    return np.sum(W * x)


def shallow_dict_copy_then_write(x, params):
    p2 = params.copy()
    params["W"][0] = x[0] * 2.0  # p2["W"] is the same array
    return np.sum(p2["W"] * x)


def shallow_dict_copy_written_through(x, params):
    p2 = dict(params)
    p2["W"][0] = x[0] * 2.0  # writes into params["W"] too
    return np.sum(params["W"] * x)


def shallow_list_copy_then_write(x):
    ys = [x * 1.0, x * 2.0]
    zs = ys.copy()
    ys[0][0] = x[1] * 3.0
    return np.sum(zs[0] * x)


P3 = {"W": np.array([1.0, 2.0, 3.0]), "b": np.array([0.5])}


@pytest.mark.parametrize("f, args, words", [
    (get_then_container_write, (X3, P3), ("'W'", "'params'")),
    (shallow_dict_copy_then_write, (X3, P3), ("'p2'", "'params'")),
    (shallow_dict_copy_written_through, (X3, P3), ("'p2'", "'params'", "element")),
    (shallow_list_copy_then_write, (X3,), ("'zs'", "'ys'"))])
def test_shallow_copies_and_get_read_after_a_write_are_refused(f, args, words):
    refused(f, *copy.deepcopy(args), words=words)


def array_copy_then_write(x):
    y = x * 1.0
    z = y.copy()
    y[0] = x[1] * 3.0
    return np.sum(z * y)


def test_array_copies_are_fine():
    check_both_modes(array_copy_then_write, X3.copy())


# --- the same object passed as two parameters, one changed in place ----------
# Python sees the change through the other parameter; the derivative code
# works on a private copy (or follows a += x as a new value): refused at
# entry by ad.check_param_unshared, at the write's line.

_XP = np.array([0.3, -0.7, 1.1])


def _pp_update(a, b, x):
    a += x
    return np.sum(b * x)


def _pp_write(a, b, x):
    a[0] = x[0]
    return np.sum(np.sin(b * x))


def _pp_list(a, b, x):
    a += [x[0]]
    return sum(b) * x[1] + np.sum(np.asarray(a) ** 2)


def _pp_tree_leaf(params, W, x):
    W[0] = x[0]
    return np.sum(params["W"] * x)


def _pp_tree_root(params, W, x):
    params["W"][0] = x[0]
    return np.sum(W * x)


def _pp_tuple(a, b, x):
    a += (x[0],)
    return sum(b) * x[1] + sum(a)


def _pp_args(f, shared):
    if f is _pp_list:
        a = [1.0]
        return (a, a if shared else [1.0], _XP.copy())
    if f in (_pp_tree_leaf, _pp_tree_root):
        p = {"W": np.ones(3)}
        return (p, p["W"] if shared else np.ones(3), _XP.copy())
    a = np.ones(3)
    return (a, a if shared else a.copy(), _XP.copy())


_PP_REFUSED = [(_pp_update, "'a' and 'b'"), (_pp_write, "'a' and 'b'"),
               (_pp_list, "'a' and 'b'"), (_pp_tree_leaf, "'W' and 'params'"),
               (_pp_tree_root, "'params' and 'W'")]


def _pp_zero(v):
    if isinstance(v, dict):
        return {k: _pp_zero(u) for k, u in v.items()}
    if isinstance(v, (list, tuple)):
        return type(v)(_pp_zero(u) for u in v)
    return np.zeros_like(np.asarray(v, dtype=float))


def _pp_fd(f, args):
    out = []
    for e in np.eye(3) * 1e-6:
        hi = f(*_pp_args(f, shared=False)[:2], args[2] + e)
        lo = f(*_pp_args(f, shared=False)[:2], args[2] - e)
        out.append((hi - lo) / 2e-6)
    return np.array(out)


@pytest.mark.parametrize("f,names", _PP_REFUSED, ids=lambda v: getattr(v, "__name__", ""))
def test_same_object_as_two_parameters_one_changed_in_place_is_refused(f, names):
    import inspect
    from ad_compiler import vjp
    lines, start = inspect.getsourcelines(f)
    for run in (lambda args: grad(f, wrt=2)(*args),
                lambda args: vjp(f, *args)[1](1.0),
                lambda args: jvp(f, args, tuple(_pp_zero(a) for a in args[:2]) + (np.ones(3),))):
        args = _pp_args(f, shared=True)
        with pytest.raises(CompileError) as exc:
            run(args)
        msg = str(exc.value)
        assert names in msg and "pass a copy" in msg
        assert f":{start + 1}:" in msg and lines[1].strip() in msg
        assert np.all(np.asarray(args[1]) == 1.0)          # caller's data untouched


@pytest.mark.parametrize("f", [f for f, _ in _PP_REFUSED], ids=lambda f: f.__name__)
def test_distinct_parameters_changed_in_place_differentiate(f):
    from ad_compiler import vjp
    ref = _pp_fd(f, _pp_args(f, shared=False))
    np.testing.assert_allclose(grad(f, wrt=2)(*_pp_args(f, shared=False)), ref,
                               rtol=1e-6, atol=1e-8)
    args = _pp_args(f, shared=False)
    np.testing.assert_allclose(vjp(f, *args)[1](1.0)[2], ref, rtol=1e-6, atol=1e-8)
    t = np.array([0.5, -1.5, 2.0])
    args = _pp_args(f, shared=False)
    _, tangent = jvp(f, args, tuple(_pp_zero(a) for a in args[:2]) + (t,))
    np.testing.assert_allclose(tangent, ref @ t, rtol=1e-6, atol=1e-8)


def test_same_tuple_as_two_parameters_updated_is_not_refused():
    # a tuple is rebound by +=, not changed: Python's b does not see it
    t = (1.0,)
    ref = np.array([(_pp_tuple(t, t, _XP + e) - _pp_tuple(t, t, _XP - e)) / 2e-6
                    for e in np.eye(3) * 1e-6])
    np.testing.assert_allclose(grad(_pp_tuple, wrt=2)(t, t, _XP), ref, rtol=1e-6, atol=1e-8)


# -- second names bound by unpacking or inside a block (10,000-program fuzz) ---

def _unpacked_second_name(y):
    v0, v1 = np.sum(y, axis=0, keepdims=True), np.sum(y, axis=0, keepdims=True)
    al = v0
    al += 0.5
    return np.sum(v0 * v1)


def _branch_bound_second_name(y):
    if np.sum(y) > -10.0:
        v0 = np.sum(y, axis=0, keepdims=True)
        al = v0
        al += 0.5
    else:
        v0 = y[0]
    return np.sum(v0 * y)


def _loop_second_name_of_unpacked(y):
    v0, v1 = np.sum(y, axis=0, keepdims=True), np.sum(y, axis=0, keepdims=True)
    for r in y:
        al = v0
        al += 0.5
    return np.sum(v0 * v1)


@pytest.mark.parametrize("f", [_unpacked_second_name, _branch_bound_second_name,
                               _loop_second_name_of_unpacked], ids=lambda f: f.__name__)
def test_update_through_a_second_name_of_an_unpacked_or_block_local_is_refused(f):
    # al is the same array as v0, so Python's v0 sees al += 0.5; these names
    # were not counted as bound (unpacking, a branch), no check was made and
    # the gradient was silently that of the function without the update
    y = np.array([[0.3, -0.2, 0.1], [0.5, 1.1, 0.2]])
    for run in (lambda: grad(f)(y.copy()), lambda: jvp(f, (y.copy(),), (np.ones_like(y),))):
        with pytest.raises(CompileError) as exc:
            run()
        assert "in-place update of 'al', which is the same array as 'v0'" in str(exc.value)
        assert "al += 0.5" in str(exc.value)


# --- BUG-24: ``d['W'] += e`` updates the array d['W'] itself ------------------
# (found by the round-2 fuzz run, seed 4242: a view of the entry bound before
# the update kept the old values: wrong value and derivative)

def _view_then_update(d, x):
    v4 = d['W'][:, 1:2].squeeze()
    d['W'] += 0.1 * np.tanh(x[0])
    return np.sum(v4 * x[1])


def _shallow_copy_then_update(d, x):
    e = d.copy()
    d['W'] += x[0]
    return np.sum(e['W'] * x[1])


@pytest.mark.parametrize("fn", [_view_then_update, _shallow_copy_then_update])
def test_view_of_a_dict_entry_read_after_its_augmented_update_is_refused(fn):
    d = {"W": np.arange(6.0).reshape(3, 2)}
    with pytest.raises(CompileError, match="in-place write into 'd'") as info:
        grad(fn, wrt=1)(d, np.array([0.3, 0.7]))
    assert info.value.lineno == fn.__code__.co_firstlineno + 2
    assert np.array_equal(d["W"], np.arange(6.0).reshape(3, 2))


def _update_then_read_entry(d, x):
    d['W'] += 0.1 * np.tanh(x[0])
    return np.sum(d['W'] * x[1])


def _float_entry(d, x):
    a = d['s']
    d['s'] += x[0]
    return a * x[1] + d['s']


@pytest.mark.parametrize("fn, d", [(_update_then_read_entry, {"W": np.arange(6.0).reshape(3, 2)}),
                                   (_float_entry, {"s": 2.0})])
def test_augmented_update_of_a_dict_entry_without_a_stale_view_is_differentiated(fn, d):
    x = np.array([0.3, 0.7])
    g = grad(fn, wrt=1)(copy.deepcopy(d), x)
    np.testing.assert_allclose(g, fd_grad_of_copies(fn, (d, x), 1), rtol=1e-6, atol=1e-9)


# --- a helper updating a fresh temporary, and functools.partial entries ----
# (fuzz seed 6262: the run-time guard refused `helper(np.select(...))`, whose
# argument no other name holds, and located a refusal in a partial's wrapper)

def _scale_(p, v):
    p *= v
    return np.sum(np.sin(p))


def _on_fresh(x):
    return _scale_(x * 2.0, 3.0) + _scale_(np.select([x > 0.0], [x], default=-x), 0.5)


def _on_argument(x):
    return _scale_(x, 3.0)  # LINE-ON-ARGUMENT


def _on_view(x):
    return _scale_(x.T, 3.0)  # LINE-ON-VIEW


def _line_of(marker):
    src = open(__file__).read().splitlines()
    return next(i + 1 for i, text in enumerate(src) if marker in text)


def test_helper_may_update_a_fresh_temporary():
    x = np.array([0.3, -0.7, 1.1])
    before = x.copy()
    got = grad(_on_fresh)(x)
    np.testing.assert_allclose(got, fd_grad_of_copies(_on_fresh, (x,)), rtol=1e-7, atol=1e-9)
    np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize("fn, marker", [(_on_argument, "LINE-ON-ARGUMENT"),
                                        (_on_view, "LINE-ON-VIEW")])
def test_helper_updating_the_callers_array_is_still_refused(fn, marker):
    x = np.array([[0.3, -0.7], [1.1, 0.2]])
    with pytest.raises(CompileError) as e:
        grad(fn)(x)
    assert e.value.filename == __file__ and e.value.lineno == _line_of(marker)


def _outer(k, x):
    return k * _on_argument(x)  # LINE-PARTIAL-INNER


def test_refusal_through_a_partial_entry_is_at_the_users_line():
    import functools
    x = np.array([0.3, -0.7])
    with pytest.raises(CompileError) as direct:
        grad(_outer, wrt=1)(2.0, x)
    with pytest.raises(CompileError) as through:
        grad(functools.partial(_outer, 2.0))(x)
    for e in (direct.value, through.value):
        assert e.filename == __file__
        assert e.lineno in (_line_of("LINE-PARTIAL-INNER"), _line_of("LINE-ON-ARGUMENT"))
    assert through.value.lineno == direct.value.lineno


# --- repeated indices in fancy-index writes, and x[idx] = x -----------------
# NumPy keeps the last of repeated writes (`a[[0, 0]] = v` is `a[0] = v[1]`,
# `a[[0, 0]] += v` is `a[0] = a[0] + v[1]`): the adjoint of the written value
# used to give every repeated position the cotangent (ad.take_at), so grad
# and vjp counted the overwritten ones too.  `y[::-1] = y` zeroed the
# cotangent of y[idx] after the value's share had been added into it (grad
# 0).  Each case: grad, vjp, jvp, hessian vs central FD in float64, and the
# gradient derived by hand (autograd does not support in-place writes).

XR = np.array([0.7, -1.3, 2.1])
WR = np.array([1.0, 10.0, 100.0])


def rep_set(x):
    a = np.zeros(2)
    a[[0, 0]] = x[:2]                       # a[0] = x1
    return a[0]


def rep_add(x):
    a = np.zeros(2)
    a[np.array([0, 0])] += x[:2] ** 2       # a[0] = x1**2
    return a[0] + a[1]


def rep_sub(x):
    a = x * 1.0
    a[[0, 0, 1]] -= x ** 2                  # a0 = x0 - x1**2, a1 = x1 - x2**2
    return np.sum(a * WR)


def rep_mul(x):
    a = x * 1.0
    a[[0, 0, 1]] *= x ** 2                  # a0 = x0 * x1**2, a1 = x1 * x2**2
    return np.sum(a * WR)


def rep_div(x):
    a = x * 1.0
    a[[1, 0, 0]] /= x + 3.0                 # a1 = x1 / (x0+3), a0 = x0 / (x2+3)
    return np.sum(a * WR)


def rep_2d(v):
    A = np.ones((2, 2)) * v[0]
    A[[0, 0, 1], [1, 1, 0]] += v            # A01 = v0 + v1, A10 = v0 + v2
    return np.sum(A * np.array([[1.0, 2.0], [3.0, 4.0]]))


def rep_rows(v):
    A = np.outer(v[:2], v)
    A[[0, 0]] = v[None, :] * np.array([[1.0], [2.0]])    # row 0 = 2 v
    return np.sum(A * np.arange(6.0).reshape(2, 3))


def rep_scalar(x):
    a = x * 1.0
    a[[0, 0, 2]] = x[1]                     # broadcast: a = [x1, x1, x1]
    return a[0] + 2.0 * a[2] + 3.0 * a[1]


def rep_loop(x):
    a = np.zeros(3)
    for i in range(2):
        a[[i, i, 2]] = a[[i, i, 2]] + x * (i + 1.0)     # a = [x1, 2 x1, 3 x2]
    return np.sum(a * WR)


def self_reversed(x):
    y = x * 1.0
    y[::-1] = y
    return np.sum(y * WR)


def self_permuted(x):
    y = x * 1.0
    y[[2, 0, 1]] = y                        # y2 = x0, y0 = x1, y1 = x2
    return np.sum(y * WR)


def self_rows(x):
    A = np.outer(x, x)
    A[[1, 0, 2]] = A
    return np.sum(A * np.arange(9.0).reshape(3, 3))


def self_list(x):
    lst = [x[0], x[1], x[2]]
    lst[::-1] = lst
    return lst[0] * 1.0 + lst[1] * 10.0 + lst[2] * 100.0


def self_in_loop(x):
    y = x * 1.0
    for i in range(2):
        y[::-1] = y
        y = y * x
    return np.sum(y * WR)


x0, x1, x2 = XR
BY_HAND = {
    rep_set: [0.0, 1.0, 0.0],
    rep_add: [0.0, 2 * x1, 0.0],
    rep_sub: [1.0, -2 * x1 + 10.0, -20 * x2 + 100.0],
    rep_mul: [x1 ** 2, 2 * x0 * x1 + 10 * x2 ** 2, 20 * x1 * x2 + 100.0],
    rep_div: [1 / (x2 + 3) - 10 * x1 / (x0 + 3) ** 2, 10 / (x0 + 3) + 0.0,
              -x0 / (x2 + 3) ** 2 + 100.0],
    rep_scalar: [0.0, 1.0 + 2.0 + 3.0, 0.0],
    rep_loop: [0.0, 1.0 + 10.0 * 2.0, 100.0 * 3.0],
    self_reversed: [100.0, 10.0, 1.0],
    self_permuted: [100.0, 1.0, 10.0],
    self_list: [100.0, 10.0, 1.0],
}
del x0, x1, x2


@pytest.mark.parametrize("f", [rep_set, rep_add, rep_sub, rep_mul, rep_div, rep_2d, rep_rows,
                               rep_scalar, rep_loop, self_reversed, self_permuted, self_rows,
                               self_list, self_in_loop], ids=lambda f: f.__name__)
def test_repeated_index_writes(f):
    from ad_compiler import CompileError, hessian, vjp
    from tests.reference import fd_hessian
    x = XR.copy()
    if f in (self_permuted, self_rows) and int(np.__version__.split(".")[0]) < 2:
        # NumPy 1 writes y[idx] = y entry by entry (reading overwritten
        # entries): refused there, not followed wrongly
        with pytest.raises(CompileError, match="index array of itself with NumPy < 2"):
            grad(f)(x)
        return
    ref = fd_grad(f, (x,))
    if f in BY_HAND:
        np.testing.assert_allclose(ref, BY_HAND[f], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(grad(f)(x), ref, rtol=1e-6, atol=1e-8)
    value, pullback = vjp(f, x)
    assert value == f(XR.copy())
    np.testing.assert_allclose(pullback(1.0)[0], ref, rtol=1e-6, atol=1e-8)
    for t in np.eye(3):
        np.testing.assert_allclose(jvp(f, (x,), (t,))[1], ref @ t, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(hessian(f)(x), fd_hessian(f, (x,), 0), rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(x, XR)


def test_take_at_keeps_only_the_last_of_repeated_positions():
    from ad_compiler import runtime as ad
    g = np.arange(1.0, 7.0).reshape(2, 3)
    np.testing.assert_array_equal(ad.take_at(g[0], [0, 0, 2]), [0.0, 1.0, 3.0])
    np.testing.assert_array_equal(ad.take_at(g[0], np.array([[0, 2], [0, 2]])),
                                  [[0.0, 0.0], [1.0, 3.0]])
    np.testing.assert_array_equal(ad.take_at(g, ([0, 0, 1], [1, 1, 0])), [0.0, 2.0, 4.0])
    np.testing.assert_array_equal(ad.take_at(g, (slice(None), [2, 2])), [[0.0, 3.0], [0.0, 6.0]])
    np.testing.assert_array_equal(ad.take_at(g, [1, 1]), [[0.0] * 3, [4.0, 5.0, 6.0]])
    # no repeats: a plain copy; slices, ints and masks cannot repeat
    np.testing.assert_array_equal(ad.take_at(g, ([1, 0], [0, 2])), [4.0, 3.0])
    np.testing.assert_array_equal(ad.take_at(g, g > 3.0), [4.0, 5.0, 6.0])
    assert not ad._may_repeat((slice(None), 1, np.array([True, False])))


# -- chained assignment, attribute views ------------------------------------
#
# Each refused function marks the line the CompileError must point at with
# a trailing ``# AT-<tag>`` comment.

X6 = np.arange(1.0, 7.0) * 0.3


def refused_at(f, marker, *args, words=()):
    err = refused(f, *args, words=words)
    assert err.lineno == _line_of(marker), (err.lineno, _line_of(marker), str(err))
    return err


def chained_then_update(x):
    a = b = x * 2.0
    a += 1.0  # AT-CHAIN-UPDATE
    return np.sum(b * x)


def chained_then_writes(x):
    a = b = np.zeros(3)
    a[0] = x[0]  # AT-CHAIN-WRITE
    b[1] = x[1] * 3.0
    return np.sum(a * b) + np.sum(a) * x[2]


def chained_three_update_middle(x):
    a = b = c = x * 1.0
    b *= 2.0  # AT-CHAIN-THREE
    return np.sum(a * x) + np.sum(c)


@pytest.mark.parametrize("f, marker, words", [
    (chained_then_update, "AT-CHAIN-UPDATE", ("'a'", "'b'")),
    (chained_then_writes, "AT-CHAIN-WRITE", ("'a'", "'b'")),
    (chained_three_update_middle, "AT-CHAIN-THREE", ("'b'",))])
def test_in_place_writes_after_a_chained_assignment_are_refused(f, marker, words):
    refused_at(f, marker, X3.copy(), words=words)


def chained_scalars_rebound(x):
    a = b = 0.0
    a = a + x[0]
    b = b + x[1] * a
    return a * b


def chained_arrays_rebound(x):
    a = b = x * 2.0
    a = a + 1.0
    return np.sum(a * b)


def chained_into_an_element(x):
    y = np.zeros(3)
    y[0] = z = x[1] * 2.0
    return np.sum(y * x) + z


def chained_read_only(x):
    s = t = np.sum(x ** 2)
    u = v = x * 3.0
    return s * t + np.sum(u * v)


@pytest.mark.parametrize("f", [chained_scalars_rebound, chained_arrays_rebound,
                               chained_into_an_element, chained_read_only])
def test_chained_assignments_without_in_place_writes_differentiate(f):
    check_both_modes(f, X3.copy())


def transpose_attribute_write(x):
    X = x.reshape(2, 3) * 1.0
    Y = X.T
    Y[1, 0] = x[0] ** 2  # AT-DOT-T
    return np.sum(X)


def mT_attribute_write(x):
    X = x.reshape(2, 3) * 1.0
    Y = X.mT
    Y[1, 0] = x[0] ** 2  # AT-DOT-MT
    return np.sum(X * X)


def real_attribute_write(x):
    X = x.reshape(2, 3) * 1.0
    Y = X.real
    Y[1, 0] = x[0] ** 2  # AT-DOT-REAL
    return np.sum(X)


def transpose_attribute_update(x):
    X = x.reshape(2, 3) * 1.0
    Y = X.T
    Y += 1.0  # AT-DOT-T-UPDATE
    return np.sum(X * X)


def source_write_read_through_attribute(x):
    X = x.reshape(2, 3) * 1.0
    Y = X.T
    X[0, 1] = x[0] ** 2  # AT-DOT-T-SOURCE
    return np.sum(Y * Y)


@pytest.mark.parametrize("f, marker", [
    (transpose_attribute_write, "AT-DOT-T"),
    pytest.param(mT_attribute_write, "AT-DOT-MT", marks=pytest.mark.skipif(
        not hasattr(np.ndarray, "mT"), reason="ndarray.mT is NumPy 2")),
    (real_attribute_write, "AT-DOT-REAL"), (transpose_attribute_update, "AT-DOT-T-UPDATE"),
    (source_write_read_through_attribute, "AT-DOT-T-SOURCE")])
def test_writes_through_attribute_views_of_locals_are_refused(f, marker):
    refused_at(f, marker, X6.copy(), words=("'X'", "'Y'"))


def transpose_attribute_read(x):
    X = x.reshape(2, 3) * 1.0
    Y = X.T
    return np.sum(Y[0] * X[0, :2]) + np.sum(X.T * X.T)


def transpose_attribute_written_not_source(x):
    X = x.reshape(2, 3) * 1.0
    Y = X.T
    Y[1, 0] = x[0] ** 2
    return np.sum(Y * Y)


@pytest.mark.parametrize("f", [transpose_attribute_read, transpose_attribute_written_not_source])
def test_attribute_views_without_a_stale_read_differentiate(f):
    check_both_modes(f, X6.copy())


# -- writes through a subscript that makes a copy ---------------------------

X4 = np.array([1.0, 2.0, 3.0, 4.0]) * 0.7


def write_into_fancy_copy(x):
    A = np.outer(x[:2], x[2:4])
    A[[0, 1]][0] = 100.0  # AT-FANCY-LIST
    return np.sum(A)


def write_into_mask_copy(x):
    A = np.outer(x[:2], x[2:4])
    A[A > 1.0][0] = 100.0  # AT-FANCY-MASK
    return np.sum(A)


def update_into_index_array_copy(x):
    A = np.outer(x[:2], x[2:4])
    idx = np.array([1, 0])
    A[idx][0] += 100.0  # AT-FANCY-NAME
    return np.sum(A)


def write_into_list_index_copy(x):
    A = np.outer(x[:2], x[2:4])
    idx = [0, 1]
    A[idx][0] = x[0]  # AT-FANCY-LISTNAME
    return np.sum(A)


def write_into_list_slice_copy(x):
    L = [x[0] * 1.0, x[1] * 1.0]
    L[0:2][0] = 100.0  # AT-LIST-SLICE
    return L[0] + L[1]


@pytest.mark.parametrize("f, marker", [
    (write_into_fancy_copy, "AT-FANCY-LIST"), (write_into_mask_copy, "AT-FANCY-MASK"),
    (update_into_index_array_copy, "AT-FANCY-NAME"),
    (write_into_list_index_copy, "AT-FANCY-LISTNAME"),
    (write_into_list_slice_copy, "AT-LIST-SLICE")])
def test_writes_into_a_copy_made_by_indexing_are_refused(f, marker):
    refused_at(f, marker, X4.copy(), words=("'A'",) if "list_slice" not in f.__name__
               else ("'L'",))


def write_through_basic_chain(x):
    A = np.outer(x[:2], x[2:4])
    i = 1
    A[i][0] = x[0] ** 2
    A[0:2][0, 1] = x[1] * x[2]
    A[..., 1][None][0, 0] = x[3] ** 2
    return np.sum(A * A)


def write_through_keys_and_list_elements(x):
    d = {"a": x * 1.0, "b": x * 2.0}
    for k in ["a", "b"]:
        d[k][0] = x[1] ** 2
    ws = [x * 1.0, x * 2.0]
    for i in range(2):
        ws[i][1] += x[2] ** 2
    return np.sum(d["a"] * d["b"]) + np.sum(ws[0] * ws[1])


def fancy_reads_and_last_index_writes(x):
    A = np.outer(x[:2], x[2:4])
    A[0][[0, 1]] = x[:2] ** 2
    return np.sum(A[[0, 1]][0] * A[[1, 0]]) + np.sum(A)


@pytest.mark.parametrize("f", [write_through_basic_chain, write_through_keys_and_list_elements,
                               fancy_reads_and_last_index_writes])
def test_chained_writes_through_views_and_elements_differentiate(f):
    check_both_modes(f, X4.copy())


# -- tuple assignments whose right side holds views -------------------------

A22 = np.array([[1.0, 2.0], [3.0, 4.0]]) * 0.9


def swap_rows_through_views(A):
    A = A.copy()
    A[0], A[1] = A[1], A[0]  # AT-SWAP-ROWS
    return A[0, 0] + 10.0 * A[1, 0]


def tuple_view_into_a_name(A):
    A = A.copy()
    A[0], b = A[1] * 2.0, A[0]  # AT-SWAP-NAME
    return np.sum(b * b)


def view_read_after_a_tuple_write(A):
    A = A.copy()
    r = A[0]
    A[0], A[1] = A[1] * 2.0, A[0] * 3.0  # AT-SWAP-LATER
    return np.sum(r)


@pytest.mark.parametrize("f, marker", [
    (swap_rows_through_views, "AT-SWAP-ROWS"), (tuple_view_into_a_name, "AT-SWAP-NAME"),
    (view_read_after_a_tuple_write, "AT-SWAP-LATER")])
def test_tuple_assignments_reading_views_of_what_they_write_are_refused(f, marker):
    refused_at(f, marker, A22.copy(), words=("'A'",))


def swap_elements(A):
    x = A.ravel() * 1.0
    x[0], x[1] = x[1], x[0] * 2.0
    return x[0] + 10.0 * x[1] + x[2] * x[3]


def swap_list_entries(A):
    L = [A[0] * 1.0, A[1] * 2.0]
    L[0], L[1] = L[1], L[0]
    return np.sum(L[0]) + 10.0 * np.sum(L[1] ** 2)


def swap_row_copies(A):
    A = A.copy()
    A[0], A[1] = A[1].copy(), A[0].copy()
    return A[0, 0] + 10.0 * A[1, 0] * A[1, 1]


def tuple_of_fresh_values(A):
    B = A * 1.0
    B[0], B[1] = A[1] * 2.0, B[0] * 3.0
    return np.sum(B * B)


@pytest.mark.parametrize("f", [swap_elements, swap_list_entries, swap_row_copies,
                               tuple_of_fresh_values])
def test_tuple_assignments_of_numbers_copies_and_elements_differentiate(f):
    check_both_modes(f, A22.copy())


# -- one object in several slots of a container -----------------------------

def repeated_array_slot_update(x):
    hs = [np.zeros(3)] * 2
    hs[0] += x  # AT-REP-ARRAY
    return np.sum(hs[1] * x)


def repeated_row_write(x):
    M = [[0.0] * 2] * 2
    M[0][1] = x[0]  # AT-REP-ROWS
    return M[1][1] * 3.0


def fromkeys_shared_value_update(x):
    d = dict.fromkeys(["a", "b"], np.zeros(3))
    d["a"] += x  # AT-FROMKEYS
    return np.sum(d["b"] * x)


def same_name_twice_update(x):
    y = x * 1.0
    lst = [y, y]
    lst[0] += 1.0  # AT-SAME-NAME
    return np.sum(lst[1] * x)


def listed_name_updated_through_list(x):
    y = x * 1.0
    lst = [y]
    lst[0] += 1.0  # AT-LISTED-NAME
    return np.sum(y * x)


@pytest.mark.parametrize("f, marker", [
    (repeated_array_slot_update, "AT-REP-ARRAY"), (repeated_row_write, "AT-REP-ROWS"),
    (fromkeys_shared_value_update, "AT-FROMKEYS"), (same_name_twice_update, "AT-SAME-NAME"),
    (listed_name_updated_through_list, "AT-LISTED-NAME")])
def test_writes_through_a_slot_shared_with_another_are_refused(f, marker):
    refused_at(f, marker, X3.copy())


def repeated_numbers_updated(x):
    acc = [0.0] * 3
    acc[0] += x[0]
    acc[1] = acc[0] * x[1]
    s = x[2] * 2.0
    lst = [s, s]
    lst[0] += x[1]
    return acc[0] + acc[1] + lst[0] * lst[1]


def fresh_slots_updated(x):
    hs = [np.zeros(3) for _ in range(2)]
    hs[0] += x
    gs = [np.zeros(3)] * 2
    gs[0] = gs[0] + x
    return np.sum(hs[0] * x) + np.sum(hs[1]) + np.sum(gs[0] * gs[1] + gs[0] * x)


@pytest.mark.parametrize("f", [repeated_numbers_updated, fresh_slots_updated])
def test_updates_of_numbers_and_fresh_slots_differentiate(f):
    check_both_modes(f, X3.copy())
