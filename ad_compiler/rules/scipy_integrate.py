"""Rules for scipy.integrate, reverse and forward side by side.

``odeint`` is differentiated in y0, t and the members of ``args``: in
reverse mode by the adjoint method (one backward ODE solve per output
interval), in forward mode by the sensitivity equations.  The derivatives
of the user's right-hand side ``func`` come from ad_compiler itself
(``vjp``/``jvp`` of ``func``), so ``func`` must be differentiable by it.
Second derivatives (hessian) through odeint are not implemented.
"""
from scipy import integrate

from ad_compiler import runtime_scipy as ads
from ad_compiler.registry import forward, reverse

d = None  # the d[x] notation of templates; never evaluated


@reverse(integrate.odeint, name="scipy.integrate.odeint")
def odeint(z, func, y0, t, args=(), Dfun=None, col_deriv=0, full_output=0, ml=None,
           mu=None, rtol=None, atol=None, tcrit=None, h0=0.0, hmax=0.0, hmin=0.0,
           ixpr=0, mxstep=0, mxhnil=0, mxordn=12, mxords=5, printmessg=0, tfirst=False):
    adj = ads.odeint_vjp(d[z], z, func, y0, t, args, tfirst, rtol, atol, mxstep)
    d[y0] = adj[0]
    d[t] = adj[1]
    d[args] = adj[2]


@forward(integrate.odeint, name="scipy.integrate.odeint")
def odeint(z, func, y0, t, args=(), Dfun=None, col_deriv=0, full_output=0, ml=None,
           mu=None, rtol=None, atol=None, tcrit=None, h0=0.0, hmax=0.0, hmin=0.0,
           ixpr=0, mxstep=0, mxhnil=0, mxordn=12, mxords=5, printmessg=0, tfirst=False):
    d[z] = ads.odeint_jvp(z, func, y0, t, args, d[y0], d[t], d[args], tfirst, rtol, atol,
                          mxstep)


@forward(ads.odeint_vjp)
def odeint_vjp(z, g, ys, func, y0, t, args=(), tfirst=False, rtol=None, atol=None, mxstep=0):
    d[z] = ads.no_second_derivative("scipy.integrate.odeint", d[g], d[ys], d[y0], d[t], d[args])
