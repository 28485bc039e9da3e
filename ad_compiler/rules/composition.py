"""Rules for calls of derivatives inside differentiated code.

``grad(energy)(x)``, ``hvp``-style ``jvp(grad(f), ...)``, ``hessian(f)(x)``
or a ``jvp(f, primals, tangents)`` (whose rules are in compose.py) written in a function that is itself
differentiated: the rules hand the derivative to ``ad_compiler.compose``,
which transforms its generated code once more (see that module for why
forward mode suffices).  The helpers the generated code then calls get
forward rules of their own here, so any nesting can be differentiated
again.
"""
from ad_compiler import runtime as ad
from ad_compiler.registry import forward, nondifferentiable, reverse

d = None  # the d[x] notation of templates; never evaluated


@reverse(ad.call_derivative, name="a derivative")
def call_derivative(z, fn, args, kwargs=None):
    d[args] = ad.derivative_vjp(fn, args, kwargs, d[z])


@forward(ad.call_derivative, name="a derivative")
def call_derivative(z, fn, args, kwargs=None):
    d[z] = ad.derivative_jvp(fn, args, kwargs, d[args])


@forward(ad.derivative_jvp)
def derivative_jvp(z, fn, args, kwargs, tangents):
    d[z] = ad.derivative_jvp(ad.jvp_of(fn), (args, tangents), kwargs,
                             (d[args], d[tangents]))


@forward(ad.derivative_vjp)
def derivative_vjp(z, fn, args, kwargs, ct):
    d[z] = ad.derivative_jvp(ad.vjp_of(fn), (args, ct), kwargs, (d[args], d[ct]))


@reverse(ad.tree_vdot)
def tree_vdot(z, a, b):
    d[a] = ad.tree_scale(b, d[z])
    d[b] = ad.tree_scale(a, d[z])


@forward(ad.tree_vdot)
def tree_vdot(z, a, b):
    d[z] = ad.tree_vdot(d[a], b) + ad.tree_vdot(a, d[b])


@reverse(ad.tree_scale)
def tree_scale(z, x, s):
    d[x] = ad.tree_scale(d[z], s)
    d[s] = ad.tree_vdot(d[z], x)


@forward(ad.tree_scale)
def tree_scale(z, x, s):
    d[z] = ad.tree_scale(d[x], s) + ad.tree_scale(x, d[s])


@reverse(ad.tree_sum)
def tree_sum(z, x):
    d[x] = ad.tree_fill(x, d[z])


@forward(ad.tree_sum)
def tree_sum(z, x):
    d[z] = ad.tree_sum(d[x])


# (tree_fill reads x for its shapes only: no reverse rule, as the other
# helpers of reverse-mode code)
@forward(ad.tree_fill)
def tree_fill(z, x, s):
    d[z] = ad.tree_fill(x, d[s])


nondifferentiable(ad.jvp_of, ad.vjp_of, ad.jvp_pair_of)
