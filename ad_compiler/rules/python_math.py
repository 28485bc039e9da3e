"""Rules for Python's ``math`` module and the numeric builtins
(``abs`` is with np.abs in numpy_core; ``float`` too)."""
import builtins
import math

import numpy as np

from ad_compiler import runtime as ad
from ad_compiler.registry import forward, nondifferentiable, reverse

d = None  # the d[x] notation of templates; never evaluated


def stop_gradient(x):
    """The value of ``x``, through which no derivative flows."""
    return x


nondifferentiable(stop_gradient, name="ad_compiler.stop_gradient")


@reverse(math.sin)
def sin(z, x):
    d[x] = d[z] * math.cos(x)


@forward(math.sin)
def sin(z, x):
    d[z] = d[x] * math.cos(x)


@reverse(math.cos)
def cos(z, x):
    d[x] = -d[z] * math.sin(x)


@forward(math.cos)
def cos(z, x):
    d[z] = -d[x] * math.sin(x)


@reverse(math.tan)
def tan(z, x):
    d[x] = d[z] * (1.0 + z * z)


@forward(math.tan)
def tan(z, x):
    d[z] = d[x] * (1.0 + z * z)


@reverse(math.exp)
def exp(z, x):
    d[x] = d[z] * z


@forward(math.exp)
def exp(z, x):
    d[z] = d[x] * z


@reverse(math.expm1)
def expm1(z, x):
    d[x] = d[z] * (z + 1.0)


@forward(math.expm1)
def expm1(z, x):
    d[z] = d[x] * (z + 1.0)


@reverse(math.log)
def log(z, x, base=math.e):
    d[x] = d[z] / (x * math.log(base))
    d[base] = -d[z] * z / (base * math.log(base))


@forward(math.log)
def log(z, x, base=math.e):
    d[z] = d[x] / (x * math.log(base)) - d[base] * z / (base * math.log(base))


@reverse(math.log1p)
def log1p(z, x):
    d[x] = d[z] / (1.0 + x)


@forward(math.log1p)
def log1p(z, x):
    d[z] = d[x] / (1.0 + x)


@reverse(math.log10)
def log10(z, x):
    d[x] = d[z] / (x * math.log(10.0))


@forward(math.log10)
def log10(z, x):
    d[z] = d[x] / (x * math.log(10.0))


@reverse(math.log2)
def log2(z, x):
    d[x] = d[z] / (x * math.log(2.0))


@forward(math.log2)
def log2(z, x):
    d[z] = d[x] / (x * math.log(2.0))


@reverse(math.sqrt)
def sqrt(z, x):
    d[x] = d[z] * 0.5 / z


@forward(math.sqrt)
def sqrt(z, x):
    d[z] = d[x] * 0.5 / z


@reverse(math.tanh)
def tanh(z, x):
    d[x] = d[z] * (1.0 - z * z)


@forward(math.tanh)
def tanh(z, x):
    d[z] = d[x] * (1.0 - z * z)


@reverse(math.sinh)
def sinh(z, x):
    d[x] = d[z] * math.cosh(x)


@forward(math.sinh)
def sinh(z, x):
    d[z] = d[x] * math.cosh(x)


@reverse(math.cosh)
def cosh(z, x):
    d[x] = d[z] * math.sinh(x)


@forward(math.cosh)
def cosh(z, x):
    d[z] = d[x] * math.sinh(x)


@reverse(math.asin)
def asin(z, x):
    d[x] = d[z] / math.sqrt(1.0 - x * x)


@forward(math.asin)
def asin(z, x):
    d[z] = d[x] / math.sqrt(1.0 - x * x)


@reverse(math.acos)
def acos(z, x):
    d[x] = -d[z] / math.sqrt(1.0 - x * x)


@forward(math.acos)
def acos(z, x):
    d[z] = -d[x] / math.sqrt(1.0 - x * x)


@reverse(math.atan)
def atan(z, x):
    d[x] = d[z] / (1.0 + x * x)


@forward(math.atan)
def atan(z, x):
    d[z] = d[x] / (1.0 + x * x)


@reverse(math.atan2)
def atan2(z, y, x):
    d[y] = d[z] * x / (x * x + y * y)
    d[x] = -d[z] * y / (x * x + y * y)


@forward(math.atan2)
def atan2(z, y, x):
    d[z] = (d[y] * x - d[x] * y) / (x * x + y * y)


@reverse(math.hypot)
def hypot(z, x, y):
    d[x] = d[z] * x / z
    d[y] = d[z] * y / z


@forward(math.hypot)
def hypot(z, x, y):
    d[z] = (d[x] * x + d[y] * y) / z


@reverse(math.fabs)
def fabs(z, x):
    d[x] = d[z] * np.sign(x)


@forward(math.fabs)
def fabs(z, x):
    d[z] = d[x] * np.sign(x)


@reverse(math.erf)
def erf(z, x):
    d[x] = d[z] * 2.0 / math.sqrt(math.pi) * math.exp(-x * x)


@forward(math.erf)
def erf(z, x):
    d[z] = d[x] * 2.0 / math.sqrt(math.pi) * math.exp(-x * x)


@reverse(math.pow, builtins.pow)
def pow_(z, x, y):
    d[x] = ad.unbroadcast(d[z] * y * x ** (y - 1), x)
    d[y] = ad.unbroadcast(d[z] * z * np.log(np.where(x > 0, x, 1.0)), y)


@forward(math.pow, builtins.pow)
def pow_(z, x, y):
    d[z] = d[x] * y * x ** (y - 1) + d[y] * z * np.log(np.where(x > 0, x, 1.0))


@reverse(builtins.max)
def max_(z, a, b=None):
    d[a] = ad.builtin_extremum_grad(d[z], z, a, b, 0)
    d[b] = ad.builtin_extremum_grad(d[z], z, a, b, 1)


@forward(builtins.max)
def max_(z, a, b=None):
    d[z] = ad.builtin_extremum_tangent(z, a, b, d[a], d[b])


@reverse(builtins.min)
def min_(z, a, b=None):
    d[a] = ad.builtin_extremum_grad(d[z], z, a, b, 0)
    d[b] = ad.builtin_extremum_grad(d[z], z, a, b, 1)


@forward(builtins.min)
def min_(z, a, b=None):
    d[z] = ad.builtin_extremum_tangent(z, a, b, d[a], d[b])


@reverse(builtins.sum)
def sum_(z, iterable, start=0):
    d[iterable] = ad.sum_list_grad(d[z], iterable)
    d[start] = ad.unbroadcast(d[z], start)


@forward(builtins.sum)
def sum_(z, iterable, start=0):
    d[z] = ad.like(ad.sum_list(d[iterable]) + d[start], z)


@forward(ad.sum_list_grad)
def sum_list_grad(z, g, items):
    d[z] = ad.sum_list_grad(d[g], items)


@forward(ad.builtin_extremum_grad)
def builtin_extremum_grad(z, g, m, a, b, which):
    d[z] = ad.builtin_extremum_grad(d[g], m, a, b, which)
