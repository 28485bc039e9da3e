"""Functions that ad_compiler must refuse, each with its offending line marked.

Every case is an ordinary, runnable NumPy function containing one construct the
compiler does not differentiate.  The line where the compiler is expected to
point is marked by a trailing comment of the form::

    offending code  # ERROR: <tag>

``tests/test_errors.py`` scans this file's text for those markers, so the
expected (absolute) line numbers never have to be written down by hand and the
cases can be edited freely.  A tag may mark more than one line when more than
one line is an equally correct place to point at (e.g. ``global x`` and the
write ``x = ...``, or ``async def`` and the ``await`` inside it); the compiler
must then report one of the marked lines.

Two registries are exported:

``STRICT_CASES``
    must raise ``ad_compiler.CompileError`` at a marked line.
``MAYBE_SUPPORTED``
    may either be differentiated correctly (checked against central finite
    differences) or raise ``CompileError`` at a marked line.

Rules for adding a case: give it a unique tag, put the marker on the line(s)
of the first offending construct (nothing unsupported may come before it in
the function), keep the marked line short and free of ``#`` inside strings,
and append a ``Case`` to one of the two lists at the bottom.

The rest of the file holds the inputs for the API-misuse tests (no source,
bad ``wrt``, non-scalar output, integer argument).
"""
from typing import Callable, NamedTuple

import numpy as np


class Case(NamedTuple):
    tag: str            # the marker tag: "# ERROR: <tag>"
    fn: Callable        # the function handed to grad()
    args: tuple         # arguments to call grad(fn)(*args) with
    wrt: object = 0     # the wrt= argument of grad


X3 = np.array([0.3, -1.2, 0.7])
X4 = np.array([0.5, 1.5, -0.25, 2.0])
P4 = np.array([0.1, 0.2, 0.3, 0.4])   # strictly positive, sums to one


# --------------------------------------------------------------------------
# Constructs that must always be refused.
# --------------------------------------------------------------------------

def running_sq_norm(x):
    total = 0.0
    for xi in x:
        total = total + xi * xi
        yield total  # ERROR: generator


def _square_terms(v):
    for vi in v:
        yield vi * vi


def centered_square_terms(x):
    centered = x - np.mean(x)
    yield from _square_terms(centered)  # ERROR: yield_from


def safe_log_likelihood(x):
    z = x * x + 1.0
    try:  # ERROR: try_except
        ll = np.sum(np.log(z))
    except FloatingPointError:
        ll = -np.inf
    return ll


def guarded_entropy(p):
    with np.errstate(divide="ignore"):  # ERROR: with
        logp = np.log(p)
    return -np.sum(p * logp)


_LAST_LOSS = 0.0


def logged_loss(x):
    global _LAST_LOSS  # ERROR: global
    loss = np.sum(x ** 2)
    _LAST_LOSS = loss  # ERROR: global
    return loss


def _make_accumulating_loss():
    calls = 0

    def accumulating_loss(x):
        nonlocal calls  # ERROR: nonlocal
        calls = calls + 1  # ERROR: nonlocal
        return np.sum(np.sin(x)) * calls

    return accumulating_loss


accumulating_loss = _make_accumulating_loss()


def exec_scaled(x):
    scope = {"x": x}
    exec("y = 3.0 * x", scope)  # ERROR: exec
    return np.sum(scope["y"])


def eval_poly(x):
    expr = "x ** 3 - 2.0 * x"
    y = eval(expr)  # ERROR: eval
    return np.sum(y)


async def async_loss(x):  # ERROR: async_def
    return np.sum(x ** 2)


async def _fetch_scale():
    return 2.0


async def awaited_loss(x):  # ERROR: await
    scale = await _fetch_scale()  # ERROR: await
    return scale * np.sum(x ** 2)


def normalized_energy(x):
    centered = x - np.mean(x)
    energy = np.sum(centered ** 2)
    del centered  # ERROR: del
    return energy / x.shape[0]


def affine_in_body(x):
    class Affine:  # ERROR: class_def
        scale = 2.0
        shift = 1.0
    y = Affine.scale * x + Affine.shift
    return np.sum(y ** 2)


def head_tail_loss(x):
    first, *rest = x  # ERROR: starred_assign
    return first ** 2 + np.sum(np.asarray(rest) ** 2)


def match_penalty(x, kind="l2"):
    match kind:  # ERROR: match
        case "l1":
            return np.sum(np.abs(x))
        case _:
            return np.sum(x ** 2)


def walrus_norm(x):
    if (s := np.sum(x ** 2)) > 1.0:  # ERROR: walrus
        return np.sqrt(s)
    return s


def for_else_energy(x):
    # No 'break' on purpose: only the for-else itself should be refused.
    total = 0.0
    for xi in x:  # ERROR: for_else
        total = total + xi * xi
    else:  # ERROR: for_else
        total = total * 0.5
    return total


def _scale_rows_inplace(A, s):
    for i in range(A.shape[0]):
        A[i] *= s[i]
    return A


def helper_mutates_argument(A, s):
    B = A * 1.0
    _scale_rows_inplace(B, s)  # ERROR: argument_mutation
    return np.sum(B ** 2) + np.sum(A * B)


def helper_mutates_input(A, s):
    C = _scale_rows_inplace(A, s)  # ERROR: argument_mutation_input
    return np.sum(C * np.cos(A))


# --------------------------------------------------------------------------
# Constructs that may become supported; refusing them is also acceptable.
# --------------------------------------------------------------------------

def lambda_loss(x):
    sq = lambda v: v * v  # ERROR: lambda
    return np.sum(sq(x) + 0.5 * x)  # ERROR: lambda


def nested_def_loss(x):
    def smooth_abs(v):  # ERROR: nested_def
        return np.sqrt(v * v + 1e-3)
    return np.sum(smooth_abs(x))  # ERROR: nested_def


def spectral_energy(x):
    # Parseval: equals sum(x**2), so the gradient is 2 * x.
    spectrum = np.fft.fft(x)  # ERROR: fft
    power = np.abs(spectrum) ** 2  # ERROR: fft
    return np.sum(power) / x.shape[0]


def halve_through_view(x):
    # Python halves x[1:] in place through the view; ad_compiler refuses
    tail = x[1:]
    tail *= 0.5  # ERROR: view_update
    return np.sum(x * x)


def scale_through_reshape(x):
    z = x * 1.0
    grid = z.reshape(2, 2)
    grid *= 3.0  # ERROR: reshape_update
    return np.sum(z * x)


def _scale_in_place(v):
    v *= 2.0


def helper_updates_argument(x):
    y = x * 1.0
    _scale_in_place(y)  # ERROR: helper_update
    return np.sum(y * y)


def _push(items, v):
    items.append(v)


def helper_appends_to_argument(x):
    items = [x]
    _push(items, x * 2.0)  # ERROR: helper_append
    return np.sum(items[-1])


def write_through_transpose(x):
    y = x * 1.0
    y.T[0] = 2.0  # ERROR: attribute_write
    return np.sum(y * x)


def write_into_loop_rows(X):
    s = 0.0
    for row in X:
        row[0] = 1.0  # ERROR: loop_element_write
        s = s + np.sum(row * row)
    return s


def copyto_parameter(x):
    np.copyto(x, x * 2.0)  # ERROR: copyto_parameter
    return np.sum(x * x)


def local_helper_writes_argument(x):
    def clip_first(v):
        v[0] = 0.0
        return np.sum(v)
    y = x * 1.0
    s = clip_first(y)  # ERROR: local_helper_write
    return s + np.sum(y * y)


def alias_read_after_container_write(x, params):
    W = params["W"]
    params["W"][0] = x[0]  # ERROR: alias_read_after_write
    return np.sum(W * x)


def rows_read_after_write(X):
    Y = X * 1.0
    s = 0.0
    for i, row in enumerate(Y):
        Y[i, 0] = 2.0  # ERROR: for_target_read_after_write
        s = s + np.sum(row * row)
    return s


def unpacked_read_after_write(X):
    Y = X * 1.0
    a, b = Y[0], Y[1]
    Y[0, 1] = 3.0  # ERROR: unpacked_read_after_write
    return np.sum(a * b)


def write_into_iterated_rows(X):
    Y = X * 1.0
    s = 0.0
    for row in Y:
        s = s + np.sum(row * row)
        Y[1, 0] = 3.0  # ERROR: loop_source_write
    return s


def local_helper_second_name_update(x):
    def bump(v):
        w = v
        w += 1.0  # ERROR: local_second_name_update
        return np.sum(v * v)
    return bump(x * 2.0)


def rows_list_read_after_write(X):
    Y = X * 1.0
    rows = [Y[0], Y[1]]
    Y[0, 0] = 3.0  # ERROR: container_of_views_read_after_write
    return np.sum(rows[0] * rows[1])


def chained_assignment_update(x):
    a = b = x * 2.0
    a += 1.0  # ERROR: chained_assignment_update
    return np.sum(b * x)


def write_through_attribute_view(x):
    X = x.reshape(2, 2) * 1.0
    Y = X.T
    Y[1, 0] = x[0] ** 2  # ERROR: attribute_view_write
    return np.sum(X)


def write_into_fancy_index_copy(x):
    A = np.outer(x[:2], x[2:4])
    A[[0, 1]][0] = 100.0  # ERROR: write_into_index_copy
    return np.sum(A)


def swap_rows_through_views(A):
    A = A * 1.0
    A[0], A[1] = A[1], A[0]  # ERROR: tuple_swap_of_views
    return A[0, 0] + 10.0 * A[1, 0]


def repeated_array_slot_update(x):
    hs = [np.zeros(3)] * 2
    hs[0] += x  # ERROR: shared_slot_update
    return np.sum(hs[1] * x)


def _apply_fn(fn, v):
    return fn(v)


def function_from_loop(x):
    s = 0.0
    for act in [np.sin, np.cos]:
        s = s + np.sum(act(x))  # ERROR: function_value_unknown
    return s


def closure_passed_as_value(x):
    c = np.sum(x)

    def scaled(v):
        return v * c
    return np.sum(_apply_fn(scaled, x))  # ERROR: closure_value


def product_by_ufunc_reduce(x):
    return np.multiply.reduce(x)  # ERROR: ufunc_method_no_rule


def quadratic_fit_residual(x):
    c = np.polyfit(np.arange(3.0), x, 1)  # ERROR: numpy_python_function_no_rule
    return np.sum(c ** 2)


STRICT_CASES = [
    Case("generator", running_sq_norm, (X3,)),
    Case("yield_from", centered_square_terms, (X3,)),
    Case("try_except", safe_log_likelihood, (X3,)),
    Case("with", guarded_entropy, (P4,)),
    Case("global", logged_loss, (X3,)),
    Case("nonlocal", accumulating_loss, (X3,)),
    Case("exec", exec_scaled, (X3,)),
    Case("eval", eval_poly, (X3,)),
    Case("async_def", async_loss, (X3,)),
    Case("await", awaited_loss, (X3,)),
    Case("del", normalized_energy, (X4,)),
    Case("class_def", affine_in_body, (X3,)),
    Case("starred_assign", head_tail_loss, (X4,)),
    Case("match", match_penalty, (X3,)),
    Case("walrus", walrus_norm, (X4,)),
    Case("for_else", for_else_energy, (X3,)),
    Case("argument_mutation", helper_mutates_argument, (np.ones((3, 2)), X3), wrt=1),
    Case("argument_mutation_input", helper_mutates_input, (np.ones((3, 2)), X3)),
    Case("view_update", halve_through_view, (X4,)),
    Case("reshape_update", scale_through_reshape, (X4,)),
    Case("helper_update", helper_updates_argument, (X3,)),
    Case("helper_append", helper_appends_to_argument, (X3,)),
    Case("attribute_write", write_through_transpose, (X3,)),
    Case("loop_element_write", write_into_loop_rows, (np.ones((3, 2)),)),
    Case("copyto_parameter", copyto_parameter, (X3.copy(),)),  # plain Python writes into it
    Case("local_helper_write", local_helper_writes_argument, (X3,)),
    Case("alias_read_after_write", alias_read_after_container_write,
         (X3, {"W": np.array([1.0, 2.0, 3.0])})),
    Case("for_target_read_after_write", rows_read_after_write, (np.ones((3, 2)),)),
    Case("unpacked_read_after_write", unpacked_read_after_write, (np.ones((2, 3)),)),
    Case("loop_source_write", write_into_iterated_rows, (np.ones((3, 2)),)),
    Case("local_second_name_update", local_helper_second_name_update, (X3,)),
    Case("container_of_views_read_after_write", rows_list_read_after_write, (np.ones((2, 3)),)),
    Case("chained_assignment_update", chained_assignment_update, (X3,)),
    Case("attribute_view_write", write_through_attribute_view, (X4,)),
    Case("write_into_index_copy", write_into_fancy_index_copy, (X4,)),
    Case("tuple_swap_of_views", swap_rows_through_views, (np.ones((2, 2)),)),
    Case("shared_slot_update", repeated_array_slot_update, (X3,)),
    Case("function_value_unknown", function_from_loop, (X3,)),
    Case("closure_value", closure_passed_as_value, (X3,)),
    Case("ufunc_method_no_rule", product_by_ufunc_reduce, (X3,)),
    Case("numpy_python_function_no_rule", quadratic_fit_residual, (X3,)),
]

MAYBE_SUPPORTED = [
    Case("lambda", lambda_loss, (X3,)),
    Case("nested_def", nested_def_loss, (X3,)),
    Case("fft", spectral_energy, (X4,)),
]


# --------------------------------------------------------------------------
# API misuse (no line markers: these are about how grad is called).
# --------------------------------------------------------------------------

# A function whose source cannot be found: it is created by exec().
_NO_SOURCE_NS = {"np": np}
exec(
    "def no_source_loss(x):\n"
    "    return np.sum(x ** 2)\n",
    _NO_SOURCE_NS,
)
no_source_loss = _NO_SOURCE_NS["no_source_loss"]


def two_param_loss(weights, bias):
    return np.sum(weights ** 2) + bias ** 2


TWO_PARAM_ARGS = (X3, 0.5)


def vector_valued(x):
    return np.sin(x) * x


def power_sum(x, n):
    return np.sum(x ** n)


def int_array_loss(x):
    return np.sum(x * x)
