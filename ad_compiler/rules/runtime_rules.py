"""Forward rules of the runtime helpers that reverse-mode code calls.

They make generated gradient code differentiable again in forward mode,
which is how ``hessian`` works (forward over reverse).  Each helper is linear
in its derivative argument, so its tangent is the helper applied to the
tangent.
"""
import numpy as np

from ad_compiler import runtime as ad
from ad_compiler.registry import forward, reverse

d = None  # the d[x] notation of templates; never evaluated


@forward(ad.unbroadcast)
def unbroadcast(z, g, x):
    d[z] = ad.unbroadcast(d[g], x)


@forward(ad.expand)
def expand(z, g, x, axis=None, keepdims=False):
    d[z] = ad.expand(d[g], x, axis, keepdims)


@forward(ad.scatter)
def scatter(z, g, x, idx):
    d[z] = ad.scatter(d[g], x, idx)


@forward(ad.match)
def match(z, g, x):
    d[z] = ad.match(d[g], x)


@forward(ad.through_cast)
def through_cast(r, g, z):
    d[r] = ad.through_cast(d[g], z)


@forward(ad.add)
def add(z, a, b):
    d[z] = ad.add(d[a], d[b])


@forward(ad.matmul_grad_left)
def matmul_grad_left(z, g, x, y):
    d[z] = ad.matmul_grad_left(d[g], x, y) + ad.matmul_grad_left(g, x, d[y])


@forward(ad.matmul_grad_right)
def matmul_grad_right(z, g, x, y):
    d[z] = ad.matmul_grad_right(d[g], x, y) + ad.matmul_grad_right(g, d[x], y)


@forward(ad.dot_grad_left)
def dot_grad_left(z, g, x, y):
    d[z] = ad.dot_grad_left(d[g], x, y) + ad.dot_grad_left(g, x, d[y])


@forward(ad.dot_grad_right)
def dot_grad_right(z, g, x, y):
    d[z] = ad.dot_grad_right(d[g], x, y) + ad.dot_grad_right(g, d[x], y)


@forward(ad.stack_split)
def stack_split(z, g, arrays, axis=0):
    d[z] = ad.stack_split(d[g], arrays, axis)


@forward(ad.concat_split)
def concat_split(z, g, arrays, axis=0):
    d[z] = ad.concat_split(d[g], arrays, axis)


@forward(ad.like)
def like(z, t, z0):
    d[z] = ad.like(d[t], z0)


@forward(ad.updated)
def updated(z, a, idx, v):
    # (a's tangent is a known zero where a is a constant, np.zeros_like(out)
    # in forward-mode code: zeros of a's shape, not the scalar 0.0)
    d[z] = ad.updated(ad.zero_or(d[a], a), idx, d[v])


@forward(ad.norm_grad)
def norm_grad(z, g, x, n, ord=None, axis=None, keepdims=False):
    # second derivatives of the 2-norm / Frobenius norm (other orders raise)
    d[z] = (ad.norm_grad(d[g], x, n, ord, axis, keepdims)
            + ad.norm_grad_tangent(g, x, n, d[x], d[n], ord, axis, keepdims))


@forward(ad.norm_grad_tangent)
def norm_grad_tangent(r, g, x, z, u, w, ord=None, axis=None, keepdims=False):
    # third derivatives through a norm: r is linear in g and in (u, w); the
    # part from x and z moving is norm_grad_curvature
    d[r] = (ad.norm_grad_tangent(d[g], x, z, u, w, ord, axis, keepdims)
            + ad.norm_grad_tangent(g, x, z, d[u], d[w], ord, axis, keepdims)
            + ad.norm_grad_curvature(g, x, z, u, w, d[x], d[z], ord, axis, keepdims))


@forward(ad.norm_tangent_curvature)
def norm_tangent_curvature(t, dx, x, z, u, w, ord=None, axis=None, keepdims=False):
    # t = norm_reduce(norm_grad_tangent(1, x, z, u, w) * dx): fourth
    # derivatives through a norm, term by term
    d[t] = (ad.norm_tangent_curvature(d[dx], x, z, u, w, ord, axis, keepdims)
            + ad.norm_tangent_curvature(dx, x, z, d[u], d[w], ord, axis, keepdims)
            + ad.norm_reduce(ad.norm_grad_curvature(np.ones_like(z), x, z, u, w, d[x], d[z],
                                                    ord, axis, keepdims) * dx,
                             x, ord, axis, keepdims))


@forward(ad.norm_tangent)
def norm_tangent(t, dx, x, z, ord=None, axis=None, keepdims=False):
    # t = <norm's gradient at x, dx>, reduced: linear in dx (third
    # derivatives through a norm: grad of code calling jvp(h))
    d[t] = (ad.norm_tangent(d[dx], x, z, ord, axis, keepdims)
            + ad.norm_tangent_curvature(dx, x, z, d[x], d[z], ord, axis, keepdims))


@forward(ad.norm_reduce)
def norm_reduce(r, v, x, ord=None, axis=None, keepdims=False):
    d[r] = ad.norm_reduce(d[v], x, ord, axis, keepdims)


@forward(ad.prod_grad)
def prod_grad(z, g, x, p, axis=None, keepdims=False):
    # exact where no entry of x is zero
    d[z] = (ad.prod_grad(d[g], x, p, axis, keepdims)
            + ad.prod_grad_tangent(g, x, p, d[x], d[p], axis, keepdims))


@forward(ad.prod_grad_tangent)
def prod_grad_tangent(r, g, x, z, u, w, axis=None, keepdims=False):
    # r = G * (W / x - Z * u / x**2) (G, Z, W: g, z, w expanded): third
    # derivatives of np.prod, term by term (each term one more call)
    # (x, z moving: prod_grad_curvature, exact also where x has zeros)
    d[r] = (ad.prod_grad_tangent(d[g], x, z, u, w, axis, keepdims)
            + ad.prod_grad_tangent(g, x, z, d[u], d[w], axis, keepdims)
            + ad.prod_grad_curvature(g, x, z, u, w, d[z], d[x], axis, keepdims))


@forward(ad.prod_grad_curvature)
def prod_grad_curvature(r, g, x, z, u, w, s, t, axis=None, keepdims=False):
    # fourth derivatives of np.prod: the chain rule through the three terms
    # of the division formula (see ad.prod_grad_curvature), each a
    # prod_grad_tangent; an entry exactly 0 raises (ad.nonzero_entries)
    xn = ad.nonzero_entries(x)
    q = -2.0 * u * t / xn
    dq = -2.0 * (d[u] * t + u * d[t]) / xn + 2.0 * u * t * d[x] / (xn * xn)
    d[r] = (ad.prod_grad_tangent(d[g], x, s, u, 0.0, axis, keepdims)
            + ad.prod_grad_tangent(g, x, s, d[u], 0.0, axis, keepdims)
            + ad.prod_grad_curvature(g, x, s, u, 0.0, d[s], d[x], axis, keepdims)
            + ad.prod_grad_tangent(d[g], x, w, t, 0.0, axis, keepdims)
            + ad.prod_grad_tangent(g, x, w, d[t], 0.0, axis, keepdims)
            + ad.prod_grad_curvature(g, x, w, t, 0.0, d[w], d[x], axis, keepdims)
            + ad.prod_grad_tangent(d[g], x, z, q, 0.0, axis, keepdims)
            + ad.prod_grad_tangent(g, x, z, dq, 0.0, axis, keepdims)
            + ad.prod_grad_curvature(g, x, z, q, 0.0, d[z], d[x], axis, keepdims))


@forward(ad.nonzero_entries)
def nonzero_entries(z, x):
    d[z] = d[x]


@forward(ad.added_at)
def added_at(z, buf, idx, g):
    # linear in (buf, g): the adjoint accumulation of x[i] reads, as
    # forward mode over gradient code meets it (third derivatives)
    d[z] = ad.added_at(ad.zero_or(d[buf], buf), idx, ad.zero_or(d[g], g))


@reverse(ad.append)
def append(z, items, value):
    d[items] = d[z][:-1]
    d[value] = d[z][-1]


@forward(ad.append)
def append(z, items, value):
    d[z] = ad.append(ad.zero_or(d[items], items), ad.zero_or(d[value], value))


@forward(ad.complete)
def complete(z, g, x):
    d[z] = ad.complete(d[g], x)


@forward(ad.take_at)
def take_at(z, g, idx):
    d[z] = ad.take_at(d[g], idx)


@forward(ad.zeroed_at)
def zeroed_at(z, g, idx):
    d[z] = ad.zeroed_at(d[g], idx)


@forward(ad.read_at)
def read_at(z, x, idx):
    # the value an in-place write is about to overwrite, saved so that the
    # adjoint sweep can put it back (``x[idx] = old``): its tangent is the
    # tangent of x there (a constant here would zero the restored entries'
    # tangents in hessians)
    d[z] = ad.read_at(ad.zero_or(d[x], x), idx)


@reverse(ad.copy_input)
def copy_input(z, x):
    d[x] = d[z]


@forward(ad.copy_input)
def copy_input(z, x):
    d[z] = ad.copy_input(d[x])


@reverse(ad.aux_pair)
def aux_pair(z, value):
    d[value] = d[z]


@forward(ad.aux_pair)
def aux_pair(z, value):
    d[z] = d[value]


@forward(ad.mean_grad)
def mean_grad(z, g, x, axis=None, keepdims=False):
    d[z] = ad.mean_grad(d[g], x, axis, keepdims)


@reverse(ad.as_sequence)
def as_sequence(z, x):
    d[x] = ad.as_sequence_grad(d[z], x)


@forward(ad.as_sequence)
def as_sequence(z, x):
    d[z] = ad.as_sequence_tangent(d[x], x)


@reverse(ad.dict_items)
def dict_items(z, d_):
    d[d_] = ad.items_grad(d[z], d_)


@forward(ad.dict_items)
def dict_items(z, d_):
    d[z] = ad.items_tangent(d[d_], d_)


@reverse(ad.dict_values)
def dict_values(z, d_):
    d[d_] = ad.values_grad(d[z], d_)


@forward(ad.dict_values)
def dict_values(z, d_):
    d[z] = ad.values_tangent(d[d_], d_)


@forward(ad.as_sequence_grad)
def as_sequence_grad(z, g, x):
    d[z] = ad.as_sequence_grad(d[g], x)


@forward(ad.items_grad)
def items_grad(z, g, d_):
    d[z] = ad.items_grad(d[g], d_)


@forward(ad.values_grad)
def values_grad(z, g, d_):
    d[z] = ad.values_grad(d[g], d_)


@forward(ad.project)
def project(z, g, x):
    d[z] = ad.project(d[g], x)


# the deferred outer products of transforms/cleanup/batch.py: each defer_* is
# bilinear in g and one other operand (the third is read for its shape)

@forward(ad.defer_matmul_left)
def defer_matmul_left(z, parts, g, x, y):
    d[z] = ad.defer_tangent(d[parts], ad.defer_matmul_left, g, d[g], x, 0.0, y, d[y])


@forward(ad.defer_matmul_right)
def defer_matmul_right(z, parts, g, x, y):
    d[z] = ad.defer_tangent(d[parts], ad.defer_matmul_right, g, d[g], x, d[x], y, 0.0)


@forward(ad.defer_dot_a)
def defer_dot_a(z, parts, g, a, b):
    d[z] = ad.defer_tangent(d[parts], ad.defer_dot_a, g, d[g], a, 0.0, b, d[b])


@forward(ad.defer_dot_b)
def defer_dot_b(z, parts, g, a, b):
    d[z] = ad.defer_tangent(d[parts], ad.defer_dot_b, g, d[g], a, d[a], b, 0.0)


@forward(ad.defer_tangent)
def defer_tangent(t, dparts, defer, g, dg, x, dx, y, dy):
    # t = dparts + defer(dg, x, y) + defer(g, dx, y) + defer(g, x, dy), dx or
    # dy the constant 0.0 for the operand read for its shape: each term
    # differentiated in its two linear operands (third derivatives through
    # the batched outer products of transforms/cleanup/batch.py)
    d[t] = ad.defer_cross(
        ad.defer_cross(ad.defer_tangent(d[dparts], defer, g, d[dg], x, d[dx], y, d[dy]),
                       defer, dg, x, dx, d[x], y, dy, d[y]),
        defer, d[g], x, dx, dx, y, dy, dy)


@forward(ad.defer_cross)
def defer_cross(t, parts, defer, g, x, dx, tx, y, dy, ty):
    d[t] = ad.defer_cross(ad.defer_cross(d[parts], defer, d[g], x, dx, tx, y, dy, ty),
                          defer, g, x, dx, d[tx], y, dy, d[ty])


@forward(ad.sum_deferred)
def sum_deferred(z, parts, like=None):
    d[z] = ad.sum_deferred(d[parts], like)


@forward(ad.broadcast_to)
def broadcast_to(z, g, shape):
    d[z] = ad.broadcast_to(d[g], shape)


# --- the helpers forward-mode code calls for containers and records ---------
# (third derivatives: grad of code calling jvp(h)/hvp(h) where h loops over
# a list or dict, builds a record...).  Each is linear in its tangent
# argument(s); the primal arguments only give structure (keys, order,
# field names, the shape of a zero), which is locally constant.

@forward(ad.zero_or)
def zero_or(z, t, x):
    d[z] = ad.zero_or(d[t], x)


@forward(ad.as_sequence_tangent)
def as_sequence_tangent(z, t, x):
    d[z] = ad.as_sequence_tangent(d[t], x)


@forward(ad.items_tangent)
def items_tangent(z, t, dct):
    d[z] = ad.items_tangent(d[t], dct)


@forward(ad.values_tangent)
def values_tangent(z, t, dct):
    d[z] = ad.values_tangent(d[t], dct)


@forward(ad.sorted_tangent)
def sorted_tangent(z, t, x, key=None, reverse=False):
    d[z] = ad.sorted_tangent(d[t], x, key, reverse)


@forward(ad.field_tangent)
def field_tangent(z, t, x, name):
    d[z] = ad.field_tangent(d[t], x, name)


@forward(ad.sum_list)
def sum_list(z, items):
    d[z] = ad.sum_list(d[items])


@forward(ad.record_tangent)
def record_tangent(r, z, fields, tangents):
    d[r] = ad.record_tangent(z, fields, d[tangents])


@forward(ad.replaced_tangent)
def replaced_tangent(r, t, x, fields, tangents):
    d[r] = ad.replaced_tangent(d[t], x, fields, d[tangents])


# --- helpers of forward rules that forward mode meets again -----------------
# (third derivatives: grad of code calling jvp(h)/hvp(h)/hessian(h))

@forward(ad.add_tangent)
def add_tangent(t, dx, dy, x, y, z):
    # linear in (dx, dy); x, y, z give only the structure (concatenation or
    # NumPy addition, z's shape), which is locally constant
    d[t] = ad.add_tangent(d[dx], d[dy], x, y, z)


@forward(ad.builtin_extremum_tangent)
def builtin_extremum_tangent(t, m, a, b, da, db):
    # linear in (da, db) with the operand attaining the extremum fixed:
    # exact except at ties, where max/min is not differentiable
    d[t] = ad.builtin_extremum_tangent(m, a, b, d[da], d[db])
