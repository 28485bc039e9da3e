"""Rules for Python's operators (``+ - * / ** @``, unary minus, indexing).

The normalizer turns ``a + b`` into a call of ``operator.add`` as far as the
registry is concerned; the generated code keeps the operator syntax.
"""
import operator

import numpy as np

from ad_compiler import runtime as ad
from ad_compiler import registry
from ad_compiler.registry import forward, reverse

d = None  # the d[x] notation of templates; never evaluated


@reverse(operator.add)
def add(z, x, y):
    d[x] = ad.unbroadcast(d[z], x)
    d[y] = ad.unbroadcast(d[z], y)


@forward(operator.add)
def add(z, x, y):
    d[z] = ad.like(d[x] + d[y], z)


@reverse(operator.sub)
def sub(z, x, y):
    d[x] = ad.unbroadcast(d[z], x)
    d[y] = ad.unbroadcast(-d[z], y)


@forward(operator.sub)
def sub(z, x, y):
    d[z] = ad.like(d[x] - d[y], z)


@reverse(operator.mul)
def mul(z, x, y):
    d[x] = ad.unbroadcast(d[z] * y, x)
    d[y] = ad.unbroadcast(x * d[z], y)


@forward(operator.mul)
def mul(z, x, y):
    d[z] = d[x] * y + x * d[y]


@reverse(operator.truediv)
def truediv(z, x, y):
    d[x] = ad.unbroadcast(d[z] / y, x)
    d[y] = ad.unbroadcast(-d[z] * z / y, y)


@forward(operator.truediv)
def truediv(z, x, y):
    d[z] = d[x] / y - z * d[y] / y


@reverse(operator.pow)
def pow(z, x, y):
    d[x] = ad.unbroadcast(d[z] * y * x ** (y - (y != 0)), x)
    d[y] = ad.unbroadcast(d[z] * z * np.log(np.where(x > 0, x, 1.0)), y)


@forward(operator.pow)
def pow(z, x, y):
    d[z] = d[x] * y * x ** (y - (y != 0)) + d[y] * z * np.log(np.where(x > 0, x, 1.0))


@reverse(operator.mod)
def mod(z, x, y):
    d[x] = ad.unbroadcast(d[z], x)
    d[y] = ad.unbroadcast(-d[z] * np.floor_divide(x, y), y)


@forward(operator.mod)
def mod(z, x, y):
    d[z] = d[x] - d[y] * np.floor_divide(x, y)


@reverse(operator.matmul)
def matmul(z, x, y):
    d[x] = ad.matmul_grad_left(d[z], x, y)
    d[y] = ad.matmul_grad_right(d[z], x, y)


@forward(operator.matmul)
def matmul(z, x, y):
    d[z] = d[x] @ y + x @ d[y]


@reverse(operator.neg)
def neg(z, x):
    d[x] = -d[z]


@forward(operator.neg)
def neg(z, x):
    d[z] = -d[x]


@reverse(operator.pos)
def pos(z, x):
    d[x] = d[z]


@forward(operator.pos)
def pos(z, x):
    d[z] = d[x]


@reverse(operator.getitem)
def getitem(z, x, idx):
    d[x] = ad.scatter(d[z], x, idx)


@forward(operator.getitem)
def getitem(z, x, idx):
    d[z] = d[x][idx]


# an index selects: no derivative flows through it, even where it is computed
# from a differentiated value (i = s.astype(dt) with dt known only when the
# code runs: the cast's rule gives i a zero derivative)
for _kind in ("reverse", "forward"):
    getattr(registry.lookup(operator.getitem), _kind).__ad_nondiff__ = ("idx",)


# --- containers ----------------------------------------------------------

@reverse(ad.dict_get)
def dict_get(z, d_, key, default=None):
    d[d_] = ad.dict_get_grad(d[z], d_, key)
    d[default] = ad.dict_get_default_grad(d[z], d_, key, default)


@forward(ad.dict_get)
def dict_get(z, d_, key, default=None):
    d[z] = ad.dict_get(d[d_], key, ad.zero_or(d[default], default))


@forward(ad.dict_get_grad)
def dict_get_grad(z, g, d_, key):
    d[z] = ad.dict_get_grad(d[g], d_, key)


@forward(ad.dict_get_default_grad)
def dict_get_default_grad(z, g, d_, key, default):
    d[z] = ad.dict_get_default_grad(d[g], d_, key, default)


@reverse(ad.r_)
def r_(z, items):
    d[items] = ad.r_grad(d[z], items)


@forward(ad.r_)
def r_(z, items):
    d[z] = ad.r_(d[items])


@reverse(ad.c_)
def c_(z, items):
    d[items] = ad.c_grad(d[z], items)


@forward(ad.c_)
def c_(z, items):
    d[z] = ad.c_(d[items])


@forward(ad.r_grad)
def r_grad(z, g, items):
    d[z] = ad.r_grad(d[g], items)


@forward(ad.c_grad)
def c_grad(z, g, items):
    d[z] = ad.c_grad(d[g], items)


@reverse(ad.zip_)
def zip_(z, seqs):
    d[seqs] = ad.zip_grad(d[z], seqs)


@forward(ad.zip_)
def zip_(z, seqs):
    d[z] = ad.zip_(d[seqs])


@forward(ad.zip_grad)
def zip_grad(z, g, seqs):
    d[z] = ad.zip_grad(d[g], seqs)


@reverse(ad.enumerate_)
def enumerate_(z, x, start=0):
    d[x] = ad.enumerate_grad(d[z], x)


@forward(ad.enumerate_)
def enumerate_(z, x, start=0):
    d[z] = ad.enumerate_tangent(d[x])


@forward(ad.enumerate_tangent)
def enumerate_tangent(z, t):
    d[z] = ad.enumerate_tangent(d[t])


@forward(ad.enumerate_grad)
def enumerate_grad(z, g, x):
    d[z] = ad.enumerate_grad(d[g], x)


@reverse(ad.reversed_)
def reversed_(z, x):
    d[x] = ad.reversed_grad(d[z], x)


@forward(ad.reversed_)
def reversed_(z, x):
    d[z] = ad.reversed_(d[x])


@forward(ad.reversed_grad)
def reversed_grad(z, g, x):
    d[z] = ad.reversed_grad(d[g], x)


@reverse(ad.sorted_)
def sorted_(z, x, key=None, reverse=False):
    d[x] = ad.sorted_grad(d[z], x, key, reverse)


@forward(ad.sorted_)
def sorted_(z, x, key=None, reverse=False):
    d[z] = ad.sorted_tangent(d[x], x, key, reverse)


@forward(ad.sorted_grad)
def sorted_grad(z, g, x, key=None, reverse=False):
    d[z] = ad.sorted_grad(d[g], x, key, reverse)


@reverse(list)
def list_(z, iterable=()):
    d[iterable] = ad.members_grad(d[z], iterable)


@forward(list)
def list_(z, iterable=()):
    d[z] = ad.members_tangent(d[iterable], z)


@reverse(tuple)
def tuple_(z, iterable=()):
    d[iterable] = ad.members_grad(d[z], iterable)


@forward(tuple)
def tuple_(z, iterable=()):
    d[z] = ad.members_tangent(d[iterable], z)


@forward(ad.members_grad)
def members_grad(z, g, x):
    d[z] = ad.members_grad(d[g], x)


@forward(ad.members_tangent)
def members_tangent(z, t, like):
    d[z] = ad.members_tangent(d[t], like)


# --- NamedTuples and dataclasses: attribute reads, construction, replace ---
# (transforms/ad/ops.py: _attribute_op, _record_call_op, _replace_method_op give
# these primitives to ``p.W``, ``Params(W, b)``, ``p._replace(W=v)``, ``dataclasses.replace``)

@reverse(ad.field)
def field(z, x, name):
    d[x] = ad.field_grad(d[z], x, name)


@forward(ad.field)
def field(z, x, name):
    d[z] = ad.field_tangent(d[x], x, name)


@forward(ad.field_grad)
def field_grad(z, g, x, name):
    d[z] = ad.field_grad(d[g], x, name)


@reverse(ad.record)
def record(z, cls, fields, values):
    d[values] = ad.record_grad(d[z], cls, fields, values)


@forward(ad.record)
def record(z, cls, fields, values):
    d[z] = ad.record_tangent(z, fields, d[values])


@forward(ad.record_grad)
def record_grad(z, g, like, fields, values):
    d[z] = ad.record_grad(d[g], like, fields, values)


@reverse(ad.replace_fields)
def replace_fields(z, x, fields, values):
    d[x] = ad.replace_grad(d[z], x, fields)
    d[values] = ad.record_grad(d[z], x, fields, values)


@forward(ad.replace_fields)
def replace_fields(z, x, fields, values):
    d[z] = ad.replaced_tangent(d[x], x, fields, d[values])


@forward(ad.replace_grad)
def replace_grad(z, g, x, fields):
    d[z] = ad.replace_grad(d[g], x, fields)


# --- + and * where an operand may be a list or tuple ---------------------
# (transforms/ad/sequences.py gives these primitives to the statements whose
# operands it cannot prove are arrays or numbers; the helpers decide from
# the operands' types at run time: concatenation/repetition or NumPy)

@reverse(ad.seq_add)
def seq_add(z, x, y):
    d[x] = ad.add_grad_left(d[z], x, y)
    d[y] = ad.add_grad_right(d[z], x, y)


@forward(ad.seq_add)
def seq_add(z, x, y):
    d[z] = ad.add_tangent(d[x], d[y], x, y, z)


@reverse(ad.seq_mul)
def seq_mul(z, x, y):
    d[x] = ad.mul_grad_left(d[z], x, y)
    d[y] = ad.mul_grad_right(d[z], x, y)


@forward(ad.seq_mul)
def seq_mul(z, x, y):
    d[z] = ad.mul_tangent(d[x], d[y], x, y)


@forward(ad.add_grad_left)
def add_grad_left(z, g, x, y):
    d[z] = ad.add_grad_left(d[g], x, y)


@forward(ad.add_grad_right)
def add_grad_right(z, g, x, y):
    d[z] = ad.add_grad_right(d[g], x, y)


@forward(ad.mul_grad_left)
def mul_grad_left(z, g, x, y):
    d[z] = ad.mul_grad_left_tangent(d[g], d[y], g, x, y)


@forward(ad.mul_grad_right)
def mul_grad_right(z, g, x, y):
    d[z] = ad.mul_grad_right_tangent(d[g], d[x], g, x, y)


# their tangents differentiated again (third derivatives: grad of code calling
# jvp(h)/hessian(h)): each is bilinear in (first tangent or adjoint, operand),
# so its tangent is the helper of the new tangents plus ad.mul_cross of the
# first tangents with the operands' new tangents (zero for a repetition)

@forward(ad.mul_tangent)
def mul_tangent(t, dx, dy, x, y):
    d[t] = ad.add(ad.mul_tangent(d[dx], d[dy], x, y), ad.mul_cross(dx, dy, d[x], d[y], x, y))


@forward(ad.mul_grad_left_tangent)
def mul_grad_left_tangent(t, dg, dy, g, x, y):
    d[t] = ad.add(ad.mul_grad_left_tangent(d[dg], d[dy], g, x, y),
                  ad.mul_cross(dg, dy, d[g], d[y], x, y, x))


@forward(ad.mul_grad_right_tangent)
def mul_grad_right_tangent(t, dg, dx, g, x, y):
    d[t] = ad.add(ad.mul_grad_right_tangent(d[dg], d[dx], g, x, y),
                  ad.mul_cross(dx, dg, d[x], d[g], x, y, y))


@forward(ad.mul_cross)
def mul_cross(t, a, b, ta, tb, x, y, to=None):
    d[t] = ad.add(ad.mul_cross(d[a], d[b], ta, tb, x, y, to),
                  ad.mul_cross(a, b, d[ta], d[tb], x, y, to))
