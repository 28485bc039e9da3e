"""Rules for the core NumPy functions, reverse and forward side by side."""
import numpy as np

from ad_compiler import runtime as ad
from ad_compiler import runtime_numpy as adn
from ad_compiler import registry
from ad_compiler.registry import forward, reverse

d = None  # the d[x] notation of templates; never evaluated


# --- elementwise, one argument -------------------------------------------

@reverse(np.negative)
def negative(z, x):
    d[x] = -d[z]


@forward(np.negative)
def negative(z, x):
    d[z] = -d[x]


@reverse(np.sin)
def sin(z, x):
    d[x] = d[z] * np.cos(x)


@forward(np.sin)
def sin(z, x):
    d[z] = d[x] * np.cos(x)


@reverse(np.cos)
def cos(z, x):
    d[x] = -d[z] * np.sin(x)


@forward(np.cos)
def cos(z, x):
    d[z] = -d[x] * np.sin(x)


@reverse(np.tan)
def tan(z, x):
    d[x] = d[z] * (1.0 + z * z)


@forward(np.tan)
def tan(z, x):
    d[z] = d[x] * (1.0 + z * z)


@reverse(np.exp)
def exp(z, x):
    d[x] = d[z] * z


@forward(np.exp)
def exp(z, x):
    d[z] = d[x] * z


@reverse(np.log)
def log(z, x):
    d[x] = d[z] / x


@forward(np.log)
def log(z, x):
    d[z] = d[x] / x


@reverse(np.log1p)
def log1p(z, x):
    d[x] = d[z] / (1.0 + x)


@forward(np.log1p)
def log1p(z, x):
    d[z] = d[x] / (1.0 + x)


@reverse(np.expm1)
def expm1(z, x):
    d[x] = d[z] * (z + 1.0)


@forward(np.expm1)
def expm1(z, x):
    d[z] = d[x] * (z + 1.0)


@reverse(np.sqrt)
def sqrt(z, x):
    d[x] = d[z] * 0.5 / z


@forward(np.sqrt)
def sqrt(z, x):
    d[z] = d[x] * 0.5 / z


@reverse(np.square)
def square(z, x):
    d[x] = d[z] * 2.0 * x


@forward(np.square)
def square(z, x):
    d[z] = d[x] * 2.0 * x


@reverse(np.tanh)
def tanh(z, x):
    d[x] = d[z] * (1.0 - z * z)


@forward(np.tanh)
def tanh(z, x):
    d[z] = d[x] * (1.0 - z * z)


@reverse(np.sinh)
def sinh(z, x):
    d[x] = d[z] * np.cosh(x)


@forward(np.sinh)
def sinh(z, x):
    d[z] = d[x] * np.cosh(x)


@reverse(np.cosh)
def cosh(z, x):
    d[x] = d[z] * np.sinh(x)


@forward(np.cosh)
def cosh(z, x):
    d[z] = d[x] * np.sinh(x)


@reverse(np.arcsin)
def arcsin(z, x):
    d[x] = d[z] / np.sqrt(1.0 - x * x)


@forward(np.arcsin)
def arcsin(z, x):
    d[z] = d[x] / np.sqrt(1.0 - x * x)


@reverse(np.arccos)
def arccos(z, x):
    d[x] = -d[z] / np.sqrt(1.0 - x * x)


@forward(np.arccos)
def arccos(z, x):
    d[z] = -d[x] / np.sqrt(1.0 - x * x)


@reverse(np.arctan)
def arctan(z, x):
    d[x] = d[z] / (1.0 + x * x)


@forward(np.arctan)
def arctan(z, x):
    d[z] = d[x] / (1.0 + x * x)


@reverse(np.abs, np.absolute, abs)
def absolute(z, x):
    d[x] = d[z] * adn.abs_dir(x)


@forward(np.abs, np.absolute, abs)
def absolute(z, x):
    d[z] = np.real(d[x] * adn.abs_dir(x))


# --- elementwise, two arguments ------------------------------------------

@reverse(np.add)
def add(z, x1, x2):
    d[x1] = ad.unbroadcast(d[z], x1)
    d[x2] = ad.unbroadcast(d[z], x2)


@forward(np.add)
def add(z, x1, x2):
    d[z] = ad.like(d[x1] + d[x2], z)


@reverse(np.subtract)
def subtract(z, x1, x2):
    d[x1] = ad.unbroadcast(d[z], x1)
    d[x2] = ad.unbroadcast(-d[z], x2)


@forward(np.subtract)
def subtract(z, x1, x2):
    d[z] = ad.like(d[x1] - d[x2], z)


@reverse(np.multiply)
def multiply(z, x1, x2):
    d[x1] = ad.unbroadcast(d[z] * x2, x1)
    d[x2] = ad.unbroadcast(x1 * d[z], x2)


@forward(np.multiply)
def multiply(z, x1, x2):
    d[z] = d[x1] * x2 + x1 * d[x2]


@reverse(np.divide, np.true_divide)
def divide(z, x1, x2):
    d[x1] = ad.unbroadcast(d[z] / x2, x1)
    d[x2] = ad.unbroadcast(-d[z] * z / x2, x2)


@forward(np.divide, np.true_divide)
def divide(z, x1, x2):
    d[z] = d[x1] / x2 - z * d[x2] / x2


@reverse(np.power)
def power(z, x1, x2):
    d[x1] = ad.unbroadcast(d[z] * x2 * x1 ** (x2 - (x2 != 0)), x1)
    d[x2] = ad.unbroadcast(d[z] * z * np.log(np.where(x1 > 0, x1, 1.0)), x2)


@forward(np.power)
def power(z, x1, x2):
    d[z] = d[x1] * x2 * x1 ** (x2 - (x2 != 0)) + d[x2] * z * np.log(np.where(x1 > 0, x1, 1.0))


@reverse(np.maximum)
def maximum(z, x1, x2):
    d[x1] = ad.unbroadcast(d[z] * (x1 >= x2), x1)
    d[x2] = ad.unbroadcast(d[z] * (x1 < x2), x2)


@forward(np.maximum)
def maximum(z, x1, x2):
    d[z] = np.where(x1 >= x2, d[x1], d[x2])


@reverse(np.minimum)
def minimum(z, x1, x2):
    d[x1] = ad.unbroadcast(d[z] * (x1 <= x2), x1)
    d[x2] = ad.unbroadcast(d[z] * (x1 > x2), x2)


@forward(np.minimum)
def minimum(z, x1, x2):
    d[z] = np.where(x1 <= x2, d[x1], d[x2])


@reverse(np.where)
def where(z, condition, x, y):
    d[x] = ad.unbroadcast(np.where(condition, d[z], 0.0), x)
    d[y] = ad.unbroadcast(np.where(condition, 0.0, d[z]), y)


@forward(np.where)
def where(z, condition, x, y):
    d[z] = ad.like(np.where(condition, d[x], d[y]), z)


# the condition selects: no derivative flows through it, even where it is
# computed from a differentiated value (a helper's saved condition
# differentiated again)
for _kind in ("reverse", "forward"):
    getattr(registry.lookup(np.where), _kind).__ad_nondiff__ = ("condition",)


@reverse(np.clip)
def clip(z, a, a_min=None, a_max=None):
    d[a] = d[z] * ad.clip_mask(a, a_min, a_max)
    d[a_min] = ad.unbroadcast(d[z] * (a < a_min), a_min)
    d[a_max] = ad.unbroadcast(d[z] * (a > a_max), a_max)


@forward(np.clip)
def clip(z, a, a_min=None, a_max=None):
    d[z] = d[a] * ad.clip_mask(a, a_min, a_max) + d[a_min] * (a < a_min) + d[a_max] * (a > a_max)


# --- reductions ----------------------------------------------------------

@reverse(np.sum)
def sum(z, a, axis=None, dtype=None, out=None, keepdims=False):
    d[a] = ad.expand(d[z], a, axis, keepdims)


@forward(np.sum)
def sum(z, a, axis=None, dtype=None, out=None, keepdims=False):
    d[z] = np.sum(d[a], axis=axis, keepdims=keepdims)


@reverse(np.mean)
def mean(z, a, axis=None, dtype=None, out=None, keepdims=False):
    d[a] = ad.mean_grad(d[z], a, axis, keepdims)


@forward(np.mean)
def mean(z, a, axis=None, dtype=None, out=None, keepdims=False):
    d[z] = np.mean(d[a], axis=axis, keepdims=keepdims)


@reverse(np.prod)
def prod(z, a, axis=None, dtype=None, out=None, keepdims=False):
    d[a] = ad.prod_grad(d[z], a, z, axis, keepdims)


@forward(np.prod)
def prod(z, a, axis=None, dtype=None, out=None, keepdims=False):
    d[z] = np.sum(ad.prod_grad(1.0, a, z, axis, True) * d[a], axis=axis, keepdims=keepdims)


@reverse(np.max, np.amax)
def max(z, a, axis=None, out=None, keepdims=False):
    d[a] = ad.expand(d[z], a, axis, keepdims) * adn.extremum_mask(a, z, axis, keepdims)


@forward(np.max, np.amax)
def max(z, a, axis=None, out=None, keepdims=False):
    d[z] = np.sum(d[a] * adn.extremum_mask(a, z, axis, keepdims), axis=axis, keepdims=keepdims)


@reverse(np.min, np.amin)
def min(z, a, axis=None, out=None, keepdims=False):
    d[a] = ad.expand(d[z], a, axis, keepdims) * adn.extremum_mask(a, z, axis, keepdims)


@forward(np.min, np.amin)
def min(z, a, axis=None, out=None, keepdims=False):
    d[z] = np.sum(d[a] * adn.extremum_mask(a, z, axis, keepdims), axis=axis, keepdims=keepdims)


# --- linear algebra ------------------------------------------------------

@reverse(np.dot)
def dot(z, a, b):
    d[a] = adn.dot_vjp_a(d[z], a, b)
    d[b] = adn.dot_vjp_b(d[z], a, b)


@forward(np.dot)
def dot(z, a, b):
    d[z] = np.dot(d[a], b) + np.dot(a, d[b])


@reverse(np.matmul)
def matmul(z, x1, x2):
    d[x1] = ad.matmul_grad_left(d[z], x1, x2)
    d[x2] = ad.matmul_grad_right(d[z], x1, x2)


@forward(np.matmul)
def matmul(z, x1, x2):
    d[z] = np.matmul(d[x1], x2) + np.matmul(x1, d[x2])


@reverse(np.outer)
def outer(z, a, b):
    d[a] = np.reshape(np.dot(d[z], np.ravel(b)), np.shape(a))
    d[b] = np.reshape(np.dot(np.ravel(a), d[z]), np.shape(b))


@forward(np.outer)
def outer(z, a, b):
    d[z] = np.outer(d[a], b) + np.outer(a, d[b])


@reverse(np.linalg.norm)
def norm(z, x, ord=None, axis=None, keepdims=False):
    # conj(x): the complex case (autograd's convention); a no-op for real x
    d[x] = ad.norm_grad(d[z], np.conj(x), z, ord, axis, keepdims)


@forward(np.linalg.norm)
def norm(z, x, ord=None, axis=None, keepdims=False):
    d[z] = np.real(ad.norm_tangent(d[x], np.conj(x), z, ord, axis, keepdims))


# --- shapes --------------------------------------------------------------

@reverse(np.transpose)
def transpose(z, a, axes=None):
    d[a] = np.transpose(d[z], np.argsort(axes) if axes is not None else None)


@forward(np.transpose)
def transpose(z, a, axes=None):
    d[z] = np.transpose(d[a], axes)


# newshape= is NumPy 1.x's keyword (deprecated in 2.1 for shape=), copy= is 2.1's
@reverse(np.reshape)
def reshape(z, a, shape=None, order="C", *, newshape=None, copy=None):
    d[a] = np.reshape(d[z], np.shape(a), order=order)


@forward(np.reshape)
def reshape(z, a, shape=None, order="C", *, newshape=None, copy=None):
    d[z] = np.reshape(d[a], np.shape(z), order=order)


@reverse(np.ravel)
def ravel(z, a, order="C"):
    d[a] = np.reshape(d[z], np.shape(a), order=order)


@forward(np.ravel)
def ravel(z, a, order="C"):
    d[z] = np.ravel(d[a], order=order)


@reverse(np.expand_dims)
def expand_dims(z, a, axis):
    d[a] = np.reshape(d[z], np.shape(a))


@forward(np.expand_dims)
def expand_dims(z, a, axis):
    d[z] = np.expand_dims(d[a], axis)


@reverse(np.squeeze)
def squeeze(z, a, axis=None):
    d[a] = np.reshape(d[z], np.shape(a))


@forward(np.squeeze)
def squeeze(z, a, axis=None):
    d[z] = np.squeeze(d[a], axis)


@reverse(np.stack)
def stack(z, arrays, axis=0, out=None, dtype=None, casting="same_kind"):
    d[arrays] = ad.stack_split(d[z], arrays, axis)


@forward(np.stack)
def stack(z, arrays, axis=0, out=None, dtype=None, casting="same_kind"):
    d[z] = np.stack(d[arrays], axis)


@reverse(np.concatenate)
def concatenate(z, arrays, axis=0, out=None, dtype=None, casting="same_kind"):
    d[arrays] = ad.concat_split(d[z], arrays, axis)


@forward(np.concatenate)
def concatenate(z, arrays, axis=0, out=None, dtype=None, casting="same_kind"):
    d[z] = np.concatenate(d[arrays], axis)


# (an integer or boolean result, np.asarray(x, dtype=int) or x.astype(int)
# with a dtype not known when compiling: no derivative passes the cast)
@reverse(np.copy, np.array, np.asarray)
def copy(z, a, dtype=None):
    d[a] = ad.unbroadcast(d[z] if dtype is None else ad.through_cast(d[z], z), a)


@forward(np.copy, np.array, np.asarray)
def copy(z, a, dtype=None):
    d[z] = np.array(d[a]) if dtype is None else ad.through_cast(np.array(d[a], dtype=dtype), z)


@reverse(float)
def float_(z, x=0.0):
    d[x] = np.reshape(d[z], np.shape(x))


@forward(float)
def float_(z, x=0.0):
    d[z] = float(d[x])


@reverse(np.float64, np.float32)
def float_scalar(z, x=0.0):
    d[x] = ad.unbroadcast(d[z], x)


@forward(np.float64, np.float32)
def float_scalar(z, x=0.0):
    d[z] = d[x] * np.ones_like(z)
