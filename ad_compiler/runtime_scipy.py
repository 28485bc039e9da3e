"""Helpers that the SciPy derivative rules call (imported there as ``ads``).

Generated code receives this module under the name ``ads``, as it receives
``ad`` (``ad_compiler.runtime``).  Most SciPy rules are written with NumPy
and SciPy primitives that have rules of their own, so that the code they
produce can be differentiated again (``hessian``); what cannot be written
that way lives here.  Every helper that a *reverse* rule calls has a forward
rule (next to the rules that call it, in ``ad_compiler/rules/scipy_*.py``)
or is declared non-differentiable there, so that ``hessian`` (forward over
reverse) works; where a second derivative is not implemented, the forward
rule raises ``NotImplementedError`` (``no_second_derivative``).

SciPy is imported lazily inside the helpers that need more than
``scipy.special`` (an import-time cost: scipy.signal about 0.6 s,
scipy.integrate 0.19 s, scipy.linalg 0.04 s after scipy.special, measured
with SciPy 1.17.1, one process, 2-core machine); importing this module requires SciPy.
"""
import numpy as np
import scipy.special as sp

# ad_compiler.api's vjp/jvp, registered by the top layer (the odeint rules
# differentiate the user's right-hand side with them)
from ad_compiler.runtime import composition


# --- generic ---------------------------------------------------------------

def no_derivative(g, name, param):
    """Raise: ``name`` has no derivative with respect to ``param``."""
    raise NotImplementedError(
        f"{name} is not differentiable with respect to '{param}' in ad_compiler "
        f"(no closed form); treat '{param}' as a constant")


def no_second_derivative(name, *tangents):
    """Raise: the second derivative of ``name`` is not implemented."""
    raise NotImplementedError(
        f"second derivatives (hessian) of {name} are not implemented")


def bcast(t, z):
    """A tangent ``t`` broadcast to the shape of the primal result ``z``."""
    shape = np.shape(z)
    if np.shape(t) == shape:
        return t
    return np.broadcast_to(t, shape)


def _pairs(*arrays):
    """Broadcast ``arrays`` and iterate over their elements as floats."""
    b = np.broadcast_arrays(*[np.asarray(a, dtype=float) for a in arrays])
    shape = b[0].shape
    flat = [x.reshape(-1) for x in b]
    return shape, zip(*flat)


# --- incomplete gamma and beta: derivatives in the shape parameters --------
#
# No closed forms exist; they are integrals of the integrand times powers of
# log t (and log(1 - t) for the beta function), computed by adaptive
# quadrature to ~1e-10 relative accuracy.

def _quad(fun, lo, hi, scale):
    from scipy import integrate
    val, _ = integrate.quad(fun, lo, hi, limit=200, epsabs=1e-14 * max(scale, 1e-300),
                            epsrel=1e-12)
    return val


def _gamma_moments(a, x, kmax):
    """[(1/Gamma(a)) int_0^x (log t)^k t^(a-1) e^-t dt for k in 0..kmax]."""
    if x <= 0 or not np.isfinite(a) or a <= 0:
        return [0.0] * (kmax + 1)
    lg = sp.gammaln(a)
    out = []
    for k in range(kmax + 1):
        def f(t, k=k):
            if t <= 0:
                return 0.0
            lt = np.log(t)
            return lt ** k * np.exp((a - 1.0) * lt - t - lg)
        top = min(x, max(a + 40.0 * np.sqrt(a) + 40.0, 1.0))
        out.append(_quad(f, 0.0, top, 1.0))
    return out


def gammainc_da(a, x):
    """d/da of the regularized lower incomplete gamma P(a, x)."""
    shape, items = _pairs(a, x)
    out = np.empty(int(np.prod(shape)))
    for i, (ai, xi) in enumerate(items):
        m0, m1 = _gamma_moments(ai, xi, 1)
        out[i] = m1 - sp.digamma(ai) * sp.gammainc(ai, xi)
    return out.reshape(shape)[()]


def gammainc_daa(a, x):
    """d^2/da^2 of P(a, x)."""
    shape, items = _pairs(a, x)
    out = np.empty(int(np.prod(shape)))
    for i, (ai, xi) in enumerate(items):
        m0, m1, m2 = _gamma_moments(ai, xi, 2)
        psi = sp.digamma(ai)
        p = sp.gammainc(ai, xi)
        out[i] = m2 - 2.0 * psi * m1 + (psi * psi - sp.polygamma(1, ai)) * p
    return out.reshape(shape)[()]


def gammainc_dx(a, x):
    """d/dx of P(a, x): the gamma density x^(a-1) e^-x / Gamma(a) (0 for x <= 0)."""
    a = np.asarray(a, dtype=float)
    x = np.asarray(x, dtype=float)
    pos = x > 0
    xs = np.where(pos, x, 1.0)
    return np.where(pos, np.exp(sp.xlogy(a - 1.0, xs) - xs - sp.gammaln(a)), 0.0)[()]


def _beta_moments(a, b, x, orders):
    """{(j, k): (1/B(a,b)) int_0^x log(t)^j log(1-t)^k t^(a-1) (1-t)^(b-1) dt}."""
    if x <= 0:
        return {o: 0.0 for o in orders}
    x = min(x, 1.0)
    lb = sp.betaln(a, b)
    out = {}
    for j, k in orders:
        def f(t, j=j, k=k):
            if t <= 0 or t >= 1:
                return 0.0
            lt, l1 = np.log(t), np.log1p(-t)
            return lt ** j * l1 ** k * np.exp((a - 1.0) * lt + (b - 1.0) * l1 - lb)
        pts = [0.5 * x] if x > 0.5 else None
        if pts:
            from scipy import integrate
            val, _ = integrate.quad(f, 0.0, x, limit=200, points=pts, epsabs=1e-14,
                                    epsrel=1e-12)
        else:
            val = _quad(f, 0.0, x, 1.0)
        out[(j, k)] = val
    return out


def betainc_da(a, b, x):
    """d/da of the regularized incomplete beta function I_x(a, b)."""
    shape, items = _pairs(a, b, x)
    out = np.empty(int(np.prod(shape)))
    for i, (ai, bi, xi) in enumerate(items):
        m = _beta_moments(ai, bi, xi, [(1, 0)])
        out[i] = m[(1, 0)] - (sp.digamma(ai) - sp.digamma(ai + bi)) * sp.betainc(ai, bi, xi)
    return out.reshape(shape)[()]


def betainc_db(a, b, x):
    """d/db of I_x(a, b)."""
    shape, items = _pairs(a, b, x)
    out = np.empty(int(np.prod(shape)))
    for i, (ai, bi, xi) in enumerate(items):
        m = _beta_moments(ai, bi, xi, [(0, 1)])
        out[i] = m[(0, 1)] - (sp.digamma(bi) - sp.digamma(ai + bi)) * sp.betainc(ai, bi, xi)
    return out.reshape(shape)[()]


def betainc_d2(a, b, x, which):
    """Second derivative of I_x(a, b): which = "aa", "ab" or "bb"."""
    shape, items = _pairs(a, b, x)
    out = np.empty(int(np.prod(shape)))
    for i, (ai, bi, xi) in enumerate(items):
        m = _beta_moments(ai, bi, xi, [(2, 0), (1, 1), (0, 2), (1, 0), (0, 1)])
        A = sp.digamma(ai) - sp.digamma(ai + bi)
        B = sp.digamma(bi) - sp.digamma(ai + bi)
        t_ab = sp.polygamma(1, ai + bi)
        I = sp.betainc(ai, bi, xi)
        if which == "aa":
            out[i] = m[(2, 0)] - 2 * A * m[(1, 0)] + (A * A - sp.polygamma(1, ai) + t_ab) * I
        elif which == "bb":
            out[i] = m[(0, 2)] - 2 * B * m[(0, 1)] + (B * B - sp.polygamma(1, bi) + t_ab) * I
        else:
            out[i] = m[(1, 1)] - B * m[(1, 0)] - A * m[(0, 1)] + (A * B + t_ab) * I
    return out.reshape(shape)[()]


def betainc_dx(a, b, x):
    """d/dx of I_x(a, b): the beta density (0 outside (0, 1))."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    x = np.asarray(x, dtype=float)
    inside = (x > 0) & (x < 1)
    xs = np.where(inside, x, 0.5)
    return np.where(inside, np.exp(sp.xlogy(a - 1.0, xs) + sp.xlog1py(b - 1.0, -xs)
                                   - sp.betaln(a, b)), 0.0)[()]


# --- Student t cdf: derivative in the degrees of freedom ------------------

def t_cdf_ddf(u, df):
    """d/d(df) of the standard Student t cdf at ``u``."""
    u = np.asarray(u, dtype=float)
    df = np.asarray(df, dtype=float)
    u, df = np.broadcast_arrays(u, df)
    w = df / (df + u * u)
    dw = u * u / (df + u * u) ** 2
    dI = 0.5 * betainc_da(0.5 * df, 0.5, w) + betainc_dx(0.5 * df, 0.5, w) * dw
    return (np.where(u >= 0, -0.5, 0.5) * dI)[()]


# --- multigammaln ----------------------------------------------------------

def multipolygamma(n, a, dim):
    """sum_j polygamma(n, a - j/2), j = 0..dim-1 (derivatives of multigammaln)."""
    a = np.asarray(a, dtype=float)
    j = np.arange(int(dim)).reshape((-1,) + (1,) * a.ndim)
    return np.sum(sp.polygamma(n, a - 0.5 * j), axis=0)[()]


# --- dirichlet (components along axis 0, as in scipy.stats) -----------------

def _dirichlet_full(x, alpha):
    x = np.asarray(x, dtype=float)
    alpha = np.asarray(alpha, dtype=float)
    short = x.shape[0] + 1 == alpha.shape[0]
    if short:
        x = np.concatenate([x, 1.0 - np.sum(x, axis=0, keepdims=True)], axis=0)
    return x, alpha, short


def _alpha_col(alpha, x):
    return alpha.reshape((-1,) + (1,) * (x.ndim - 1))


def dirichlet_grad_x(g, x, alpha):
    """Adjoint in x of dirichlet.logpdf(x, alpha) for an incoming adjoint g."""
    xf, alpha, short = _dirichlet_full(x, alpha)
    gx = np.asarray(g) * (_alpha_col(alpha, xf) - 1.0) / xf
    if short:
        gx = gx[:-1] - gx[-1:]
    return gx


def dirichlet_grad_alpha(g, x, alpha):
    """Adjoint in alpha of dirichlet.logpdf(x, alpha)."""
    xf, alpha, _ = _dirichlet_full(x, alpha)
    per = np.log(xf) - _alpha_col(sp.digamma(alpha) - sp.digamma(np.sum(alpha)), xf)
    g = np.asarray(g)
    return np.sum(np.reshape(g * per, (xf.shape[0], -1)), axis=1)


def dirichlet_tangent(x, alpha, dx, dalpha):
    """Tangent of dirichlet.logpdf(x, alpha)."""
    xf, alpha, short = _dirichlet_full(x, alpha)
    out = 0.0
    if np.any(np.asarray(dx) != 0):
        dx = np.broadcast_to(np.asarray(dx, dtype=float), np.shape(x))
        if short:
            dx = np.concatenate([dx, -np.sum(dx, axis=0, keepdims=True)], axis=0)
        out = out + np.sum((_alpha_col(alpha, xf) - 1.0) / xf * dx, axis=0)
    if np.any(np.asarray(dalpha) != 0):
        dalpha = np.broadcast_to(np.asarray(dalpha, dtype=float), alpha.shape)
        per = np.log(xf) - _alpha_col(sp.digamma(alpha) - sp.digamma(np.sum(alpha)), xf)
        out = out + np.sum(per * _alpha_col(dalpha, xf), axis=0)
    return out


def dirichlet_grad_x_tangent(g, x, alpha, dg, dx, dalpha):
    """Tangent of ``dirichlet_grad_x``."""
    xf, alpha, short = _dirichlet_full(x, alpha)
    a1 = _alpha_col(alpha, xf) - 1.0
    g = np.asarray(g)
    dxf = np.broadcast_to(np.asarray(dx, dtype=float), np.shape(x))
    if short:
        dxf = np.concatenate([dxf, -np.sum(dxf, axis=0, keepdims=True)], axis=0)
    da = _alpha_col(np.broadcast_to(np.asarray(dalpha, dtype=float), alpha.shape), xf)
    out = np.asarray(dg) * a1 / xf + g * da / xf - g * a1 * dxf / (xf * xf)
    if short:
        out = out[:-1] - out[-1:]
    return out


def dirichlet_grad_alpha_tangent(g, x, alpha, dg, dx, dalpha):
    """Tangent of ``dirichlet_grad_alpha``."""
    xf, alpha, short = _dirichlet_full(x, alpha)
    g = np.asarray(g)
    dxf = np.broadcast_to(np.asarray(dx, dtype=float), np.shape(x))
    if short:
        dxf = np.concatenate([dxf, -np.sum(dxf, axis=0, keepdims=True)], axis=0)
    dalpha = np.broadcast_to(np.asarray(dalpha, dtype=float), alpha.shape)
    per = np.log(xf) - _alpha_col(sp.digamma(alpha) - sp.digamma(np.sum(alpha)), xf)
    dper = dxf / xf - _alpha_col(sp.polygamma(1, alpha) * dalpha
                                 - sp.polygamma(1, np.sum(alpha)) * np.sum(dalpha), xf)
    t = np.asarray(dg) * per + g * dper
    return np.sum(np.reshape(np.broadcast_to(t, xf.shape), (xf.shape[0], -1)), axis=1)


# --- multivariate normal ---------------------------------------------------

def _mvn_setup(x, mean, cov):
    """(r, cov matrix, dim, processed x shape) as scipy.stats processes them."""
    cov_a = np.asarray(cov, dtype=float)
    if mean is not None:
        dim = np.size(mean)
    else:                       # as scipy: a scalar or vector cov alone means dim 1
        dim = cov_a.shape[0] if cov_a.ndim == 2 else 1
    mean_a = np.zeros(dim) if mean is None else np.asarray(mean, dtype=float).reshape(dim)
    if cov_a.ndim == 0:
        C = cov_a * np.eye(dim)
    elif cov_a.ndim == 1:
        C = np.diag(cov_a)
    else:
        C = cov_a
    xa = np.asarray(x, dtype=float)
    if xa.ndim == 0:
        xa = xa[np.newaxis]
    elif xa.ndim == 1:
        xa = xa[:, np.newaxis] if dim == 1 else xa[np.newaxis, :]
    return xa - mean_a, C, dim, xa.shape


def _cov_expand(dcov, cov, dim):
    """The full-matrix tangent of a cov given as scalar, diagonal or matrix."""
    dcov = np.asarray(dcov, dtype=float)
    nd = np.ndim(cov)
    if nd == 0:
        return dcov * np.eye(dim)
    if nd == 1:
        return np.diag(np.broadcast_to(dcov, (dim,)))
    return np.broadcast_to(dcov, (dim, dim))


def _cov_reduce(G, cov):
    """The adjoint of a cov given as scalar, diagonal or matrix, from the
    adjoint G of the full covariance matrix."""
    nd = np.ndim(cov)
    if nd == 0:
        return np.trace(G)
    if nd == 1:
        return np.diag(G).copy()
    return G


def mvn_logpdf_grad(g, x, mean, cov, which):
    """Adjoint of multivariate_normal.logpdf(x, mean, cov) in x, mean or cov."""
    r, C, dim, xshape = _mvn_setup(x, mean, cov)
    g = np.reshape(np.asarray(g, dtype=float), xshape[:-1])
    Ci = np.linalg.inv(C)
    s = r @ Ci                       # (..., D): Sigma^-1 r (Sigma symmetric)
    if which == "x":
        return np.reshape(-g[..., None] * s, np.shape(x))
    if which == "mean":
        return np.reshape(np.sum(np.reshape(g[..., None] * s, (-1, dim)), axis=0), np.shape(mean))
    gs = np.reshape(g, (-1,))
    sf = np.reshape(s, (-1, dim))
    G = -0.5 * (np.sum(gs) * Ci - np.einsum("n,ni,nj->ij", gs, sf, sf))
    return _cov_reduce(G, cov)


def mvn_logpdf_tangent(x, mean, cov, dx, dmean, dcov):
    """Tangent of multivariate_normal.logpdf (same shape as the result)."""
    r, C, dim, xshape = _mvn_setup(x, mean, cov)
    Ci = np.linalg.inv(C)
    s = r @ Ci
    dr = (np.broadcast_to(np.asarray(dx, dtype=float), np.shape(x)).reshape(xshape)
          - np.broadcast_to(np.asarray(dmean, dtype=float), (dim,)))
    dC = _cov_expand(dcov, cov, dim)
    out = -np.sum(s * dr, axis=-1) - 0.5 * np.trace(Ci @ dC) + 0.5 * np.einsum("...i,ij,...j->...", s, dC, s)
    return np.squeeze(out)[()]


def mvn_logpdf_grad_tangent(g, x, mean, cov, which, dg, dx, dmean, dcov):
    """Tangent of ``mvn_logpdf_grad``."""
    r, C, dim, xshape = _mvn_setup(x, mean, cov)
    g = np.reshape(np.asarray(g, dtype=float), xshape[:-1])
    dg = np.reshape(np.broadcast_to(np.asarray(dg, dtype=float), np.shape(g) if np.ndim(dg) == 0 else np.shape(dg)), xshape[:-1])
    Ci = np.linalg.inv(C)
    s = r @ Ci
    dr = (np.broadcast_to(np.asarray(dx, dtype=float), np.shape(x)).reshape(xshape)
          - np.broadcast_to(np.asarray(dmean, dtype=float), (dim,)))
    dC = _cov_expand(dcov, cov, dim)
    ds = dr @ Ci - s @ dC @ Ci
    if which == "x":
        return np.reshape(-dg[..., None] * s - g[..., None] * ds, np.shape(x))
    if which == "mean":
        t = dg[..., None] * s + g[..., None] * ds
        return np.reshape(np.sum(np.reshape(t, (-1, dim)), axis=0), np.shape(mean))
    gs, dgs = np.reshape(g, (-1,)), np.reshape(dg, (-1,))
    sf, dsf = np.reshape(s, (-1, dim)), np.reshape(ds, (-1, dim))
    dCi = -Ci @ dC @ Ci
    dG = -0.5 * (np.sum(dgs) * Ci + np.sum(gs) * dCi
                 - np.einsum("n,ni,nj->ij", dgs, sf, sf)
                 - np.einsum("n,ni,nj->ij", gs, dsf, sf)
                 - np.einsum("n,ni,nj->ij", gs, sf, dsf))
    return _cov_reduce(dG, cov)


def mvn_entropy_grad(g, mean, cov):
    """Adjoint in cov of multivariate_normal.entropy(mean, cov)."""
    _, C, dim, _ = _mvn_setup(0.0, mean, cov)
    return _cov_reduce(0.5 * np.asarray(g) * np.linalg.inv(C), cov)


def mvn_entropy_grad_tangent(g, mean, cov, dg, dcov):
    _, C, dim, _ = _mvn_setup(0.0, mean, cov)
    Ci = np.linalg.inv(C)
    dC = _cov_expand(dcov, cov, dim)
    return _cov_reduce(0.5 * np.asarray(dg) * Ci - 0.5 * np.asarray(g) * (Ci @ dC @ Ci), cov)


def mvn_entropy_tangent(mean, cov, dcov):
    _, C, dim, _ = _mvn_setup(0.0, mean, cov)
    return 0.5 * np.trace(np.linalg.solve(C, _cov_expand(dcov, cov, dim)))


# --- linear algebra ----------------------------------------------------------

def flip_trans(trans):
    """The ``trans`` argument of the transposed triangular solve."""
    return 0 if trans in (1, 2, "T", "C") else 1


def _tri_mask(A, lower, unit_diagonal):
    A = np.tril(A) if lower else np.triu(A)
    if unit_diagonal:
        A = A - np.diag(np.diag(A))
    return A


def _outer(u, v):
    u = np.asarray(u)
    v = np.asarray(v)
    if u.ndim == 1:
        return np.outer(u, v)
    return u @ v.T


def solve_triangular_grad_a(bb, x, trans=0, lower=False, unit_diagonal=False):
    """Adjoint in a of solve_triangular(a, b): bb is the adjoint in b."""
    if trans in (1, 2, "T", "C"):
        G = -_outer(x, bb)
    else:
        G = -_outer(bb, x)
    return _tri_mask(G, lower, unit_diagonal)


def tri_apply(dA, x, trans=0, lower=False, unit_diagonal=False):
    """op(mask(dA)) @ x: the part of a triangular system's tangent due to dA."""
    M = _tri_mask(np.asarray(dA), lower, unit_diagonal)
    if trans in (1, 2, "T", "C"):
        M = M.T
    return M @ x


def banded_to_dense(l_and_u, ab):
    l, u = l_and_u
    ab = np.asarray(ab)
    n = ab.shape[1]
    A = np.zeros((n, n), dtype=ab.dtype)
    for k in range(-l, u + 1):      # diagonal offset j - i = k
        row = u - k
        if k >= 0:
            idx = np.arange(n - k)
            A[idx, idx + k] = ab[row, idx + k]
        else:
            idx = np.arange(n + k)
            A[idx - k, idx] = ab[row, idx]
    return A


def dense_to_banded(l_and_u, A):
    l, u = l_and_u
    A = np.asarray(A)
    n = A.shape[0]
    ab = np.zeros((l + u + 1, n), dtype=A.dtype)
    for k in range(-l, u + 1):
        row = u - k
        if k >= 0:
            idx = np.arange(n - k)
            ab[row, idx + k] = A[idx, idx + k]
        else:
            idx = np.arange(n + k)
            ab[row, idx] = A[idx - k, idx]
    return ab


def solve_banded_transpose(l_and_u, ab, g):
    """Solve A^T y = g for the banded A given in ``ab`` storage."""
    from scipy import linalg
    l, u = l_and_u
    return linalg.solve_banded((u, l), dense_to_banded((u, l), banded_to_dense(l_and_u, ab).T), g)


def banded_outer_grad(l_and_u, y, x):
    """-y x^T restricted to the band, in ``ab`` storage (adjoint in ab)."""
    return dense_to_banded(l_and_u, -_outer(y, x))


def banded_matvec(l_and_u, dab, x):
    """A(dab) @ x for a band matrix given in ``ab`` storage."""
    return banded_to_dense(l_and_u, dab) @ x


def banded_rmatvec(l_and_u, dab, y):
    """A(dab)^T @ y."""
    return banded_to_dense(l_and_u, dab).T @ y


# --- convolution ------------------------------------------------------------

def _full_adjoint(g, s1, s2, mode):
    """Embed the adjoint ``g`` of convolve(in1, in2, mode) in the full output."""
    g = np.asarray(g)
    s1 = np.array(s1, dtype=int)
    s2 = np.array(s2, dtype=int)
    full = s1 + s2 - 1
    if mode == "full":
        return g
    if mode == "same":
        start = (full - s1) // 2
    elif mode == "valid":
        start = np.minimum(s1, s2) - 1
    else:
        raise ValueError(f"convolve: unknown mode {mode!r}")
    G = np.zeros(tuple(full), dtype=np.result_type(g, 0.0))
    G[tuple(slice(a, a + n) for a, n in zip(start, np.shape(g)))] = g
    return G


def convolve_grad1(g, in1, in2, mode="full"):
    """Adjoint in in1 of scipy.signal.convolve(in1, in2, mode)."""
    from scipy import signal
    G = _full_adjoint(g, np.shape(in1), np.shape(in2), mode)
    return signal.correlate(G, in2, mode="valid")


def convolve_grad2(g, in1, in2, mode="full"):
    """Adjoint in in2 of scipy.signal.convolve(in1, in2, mode)."""
    from scipy import signal
    G = _full_adjoint(g, np.shape(in1), np.shape(in2), mode)
    return signal.correlate(G, in1, mode="valid")


# --- odeint -------------------------------------------------------------------

def _rhs(func, tfirst):
    if tfirst:
        return lambda y, t, *args: func(t, y, *args)
    return func


def _odeint_opts(rtol, atol, mxstep):
    opts = {}
    if rtol is not None:
        opts["rtol"] = rtol
    if atol is not None:
        opts["atol"] = atol
    if mxstep:
        opts["mxstep"] = mxstep
    return opts


def _flat_args(args):
    return tuple(args) if isinstance(args, (tuple, list)) else (args,)


def odeint_vjp(g, ys, func, y0, t, args=(), tfirst=False, rtol=None, atol=None,
               mxstep=0):
    """Adjoints of scipy.integrate.odeint(func, y0, t, args) by the adjoint method.

    Returns (adjoint of y0, adjoint of t, tuple of adjoints of args).  The
    derivatives of ``func`` come from ad_compiler itself (vjp of ``func``).
    """
    from scipy import integrate
    args = _flat_args(args)
    f = _rhs(func, tfirst)
    y0 = np.asarray(y0, dtype=float)
    t = np.asarray(t, dtype=float)
    ys = np.asarray(ys, dtype=float)
    g = np.asarray(g, dtype=float).reshape(ys.shape)
    shape = y0.shape
    n = y0.size
    float_args = [i for i, a in enumerate(args) if composition.is_float_value(a)]
    arg_sizes = [np.size(args[i]) for i in float_args]
    opts = _odeint_opts(rtol, atol, mxstep)

    def fvjp(y, ti, a):
        prim = _order(tfirst, np.reshape(y, shape), ti) + tuple(args)
        out, pull = composition.vjp(func, *prim)
        cts = pull(np.reshape(a, np.shape(out)))
        cy = cts[1] if tfirst else cts[0]
        cy = np.zeros(n) if cy is None else np.ravel(cy)
        cargs = []
        for i in float_args:
            c = cts[2 + i]
            cargs.append(np.zeros(np.size(args[i])) if c is None else np.ravel(c))
        return np.ravel(out), cy, cargs

    def aug(state, ti):
        y = state[:n]
        a = state[n:2 * n]
        fy, ay, aargs = fvjp(y, ti, a)
        return np.concatenate([fy, -ay] + [-c for c in aargs])

    y_adj = g[-1].ravel().copy()
    arg_adj = [np.zeros(s) for s in arg_sizes]
    t_adj = np.zeros(t.shape)
    for i in range(len(t) - 1, 0, -1):
        fi = np.ravel(f(np.reshape(ys[i], shape), t[i], *args))
        t_adj[i] = np.dot(g[i].ravel(), fi)
        state = np.concatenate([ys[i].ravel(), y_adj] + arg_adj)
        sol = integrate.odeint(aug, state, np.array([t[i], t[i - 1]]), **opts)
        back = sol[-1]
        y_adj = back[n:2 * n]
        pos = 2 * n
        arg_adj = []
        for s in arg_sizes:
            arg_adj.append(back[pos:pos + s])
            pos += s
        if i - 1 > 0:
            y_adj = y_adj + g[i - 1].ravel()
    f0 = np.ravel(f(y0, t[0], *args))
    t_adj[0] = -np.dot(y_adj, f0)
    y_adj = y_adj + g[0].ravel()
    out_args = [None] * len(args)
    for k, i in enumerate(float_args):
        out_args[i] = np.reshape(arg_adj[k], np.shape(args[i]))
    return y_adj.reshape(shape), t_adj, tuple(out_args)


def _order(tfirst, y, t):
    return (t, y) if tfirst else (y, t)


def odeint_jvp(ys, func, y0, t, args=(), dy0=0.0, dt=0.0, dargs=None, tfirst=False,
               rtol=None, atol=None, mxstep=0):
    """Tangent of odeint(func, y0, t, args) by the forward sensitivity equations."""
    from scipy import integrate
    args = _flat_args(args)
    f = _rhs(func, tfirst)
    y0 = np.asarray(y0, dtype=float)
    t = np.asarray(t, dtype=float)
    shape = y0.shape
    n = y0.size
    dy0 = np.broadcast_to(np.asarray(dy0, dtype=float), shape)
    dt = np.broadcast_to(np.asarray(dt, dtype=float), t.shape)
    if dargs is None or (np.ndim(dargs) == 0 and not isinstance(dargs, (tuple, list))):
        dargs = [None] * len(args)
    dargs = list(dargs)
    tan_args = []
    for a, da in zip(args, dargs):
        if composition.is_float_value(a) and da is not None and np.any(np.asarray(da) != 0):
            tan_args.append(np.broadcast_to(np.asarray(da, dtype=float), np.shape(a)))
        else:
            tan_args.append(None)
    opts = _odeint_opts(rtol, atol, mxstep)

    def aug(state, ti):
        y = np.reshape(state[:n], shape)
        dy = np.reshape(state[n:], shape)
        prim = _order(tfirst, y, ti) + tuple(args)
        tans = (None, dy) if tfirst else (dy, None)
        out, dout = composition.jvp(func, prim, tans + tuple(tan_args))
        return np.concatenate([np.ravel(out), np.ravel(dout)])

    f0 = np.ravel(f(y0, t[0], *args))
    start = np.concatenate([y0.ravel(), dy0.ravel() - f0 * dt[0]])
    sol = integrate.odeint(aug, start, t, **opts)
    dys = sol[:, n:].reshape((len(t),) + shape)
    ys = np.asarray(ys, dtype=float)
    for i in range(1, len(t)):
        if dt[i] != 0:
            dys[i] = dys[i] + np.reshape(f(np.reshape(ys[i], shape), t[i], *args), shape) * dt[i]
    dys[0] = dy0
    return dys
