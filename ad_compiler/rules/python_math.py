"""Rules for Python's ``math`` module and the numeric builtins
(``abs`` is with np.abs in numpy_core; ``float`` too)."""
import builtins
import math

import numpy as np

from ad_compiler import runtime as ad
from ad_compiler import runtime_numpy as adn
from ad_compiler.registry import forward, lookup, nondifferentiable, reverse, same_rules
from ad_compiler.rules import numpy_core, numpy_more  # noqa: F401  (their rules first)

d = None  # the d[x] notation of templates; never evaluated


def stop_gradient(x):
    """The value of ``x``, through which no derivative flows."""
    return x


nondifferentiable(stop_gradient, name="ad_compiler.stop_gradient")

# sin, cos, sinh and cosh: the derivative is the math twin, so plain float
# code stays plain floats (NumPy's np.cos(x) of a float is an np.float64,
# ~10x slower in the arithmetic that follows).  The primal math call has
# already refused what math refuses (inf, overflow).
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


# the other math functions of one float differentiate as their NumPy twins
for _m, _np in ((math.tan, np.tan),
                (math.exp, np.exp), (math.expm1, np.expm1), (math.log1p, np.log1p),
                (math.log10, np.log10), (math.log2, np.log2), (math.sqrt, np.sqrt),
                (math.tanh, np.tanh),
                (math.asin, np.arcsin), (math.acos, np.arccos), (math.atan, np.arctan),
                (math.fabs, np.abs)):
    same_rules(_m, _np, name=f"math.{_m.__name__}")


@reverse(math.log)
def log(z, x, base=math.e):
    d[x] = d[z] / (x * math.log(base))
    d[base] = -d[z] * z / (base * math.log(base))


@forward(math.log)
def log(z, x, base=math.e):
    d[z] = d[x] / (x * math.log(base)) - d[base] * z / (base * math.log(base))


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


@reverse(math.erf)
def erf(z, x):
    d[x] = d[z] * 2.0 / math.sqrt(math.pi) * math.exp(-x * x)


@forward(math.erf)
def erf(z, x):
    d[z] = d[x] * 2.0 / math.sqrt(math.pi) * math.exp(-x * x)


@reverse(math.pow, builtins.pow)
def pow_(z, x, y):
    d[x] = ad.unbroadcast(d[z] * y * x ** (y - (y != 0)), x)
    d[y] = ad.unbroadcast(d[z] * z * np.log(np.where(x > 0, x, 1.0)), y)


@forward(math.pow, builtins.pow)
def pow_(z, x, y):
    d[z] = d[x] * y * x ** (y - (y != 0)) + d[y] * z * np.log(np.where(x > 0, x, 1.0))


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
    d[start] = ad.sum_start_grad(d[z], start)


@forward(builtins.sum)
def sum_(z, iterable, start=0):
    # start first: lists are concatenated in this order
    d[z] = ad.like(d[start] + ad.sum_list(d[iterable]), z)


@forward(ad.sum_list_grad)
def sum_list_grad(z, g, items):
    d[z] = ad.sum_list_grad(d[g], items)


@forward(ad.sum_start_grad)
def sum_start_grad(z, g, start):
    d[z] = ad.sum_start_grad(d[g], start)


@forward(ad.builtin_extremum_grad)
def builtin_extremum_grad(z, g, m, a, b, which):
    d[z] = ad.builtin_extremum_grad(d[g], m, a, b, which)


# copysign(x1, x2) is |x1| with the sign of x2: its derivative in x1 is the
# product of the signs; in x2 it is zero almost everywhere.
@reverse(math.copysign, np.copysign)
def copysign(z, x1, x2, /):
    d[x1] = ad.unbroadcast(d[z] * np.copysign(1.0, x1) * np.copysign(1.0, x2), x1)


@forward(math.copysign, np.copysign)
def copysign(z, x1, x2, /):
    d[z] = ad.like(d[x1] * np.copysign(1.0, x1) * np.copysign(1.0, x2), z)


# divmod(a, b) is (a // b, a % b): the quotient is constant almost everywhere,
# the remainder differentiates as a - b * (a // b).
@reverse(builtins.divmod, np.divmod)
def divmod_(z, x1, x2, /):
    d[x1] = ad.unbroadcast(adn.cot(d[z], z, 1), x1)
    d[x2] = ad.unbroadcast(-adn.cot(d[z], z, 1) * z[0], x2)


@forward(builtins.divmod, np.divmod)
def divmod_(z, x1, x2, /):
    d[z] = (adn.zeros_f(z[0]), ad.like(d[x1] - d[x2] * z[0], z[1]))


for _kind in ("reverse", "forward"):       # x2 gives only a sign
    getattr(lookup(math.copysign), _kind).__ad_nondiff__ = ("x2",)
