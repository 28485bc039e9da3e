"""Rules for ``numpy.linalg``, reverse and forward side by side.

Stacks of matrices (``(..., m, n)``) are supported throughout.  Routines
that read one triangle of a Hermitian matrix (``cholesky``, ``eigh``,
``eigvalsh``) are differentiated as they compute: the cotangent lands on the
triangle they read, the tangent of the other triangle is ignored.  The
derivatives of eigen- and singular vectors assume distinct eigen/singular
values; complex eigen/singular vectors are defined up to a phase, so only
gauge-invariant functions of them have meaningful derivatives.  With
``svd(full_matrices=True)`` of a non-square matrix the extra singular
vectors are not unique: their tangent is the minimal rotation that keeps
the basis orthonormal.  Reverse rules are written with NumPy calls and
linear helpers (all with forward rules), so ``hessian`` works through them.
"""
import numpy as np

from ad_compiler import runtime as ad
from ad_compiler import runtime_numpy as adn
from ad_compiler.registry import forward, nondifferentiable, optional, reverse

d = None  # the d[x] notation of templates; never evaluated


@reverse(np.linalg.inv)
def inv(z, a):
    d[a] = -np.matmul(np.swapaxes(z, -1, -2), np.matmul(d[z], np.swapaxes(z, -1, -2)))


@forward(np.linalg.inv)
def inv(z, a):
    d[z] = -np.matmul(z, np.matmul(d[a], z))


@reverse(np.linalg.det)
def det(z, a):
    d[a] = np.expand_dims(d[z] * z, (-2, -1)) * np.swapaxes(np.linalg.inv(a), -1, -2)


@forward(np.linalg.det)
def det(z, a):
    d[z] = z * np.trace(np.linalg.solve(a, d[a]), axis1=-2, axis2=-1)


@reverse(np.linalg.slogdet)
def slogdet(z, a):
    d[a] = (np.expand_dims(adn.cot(d[z], z, 1), (-2, -1))
            * np.swapaxes(np.linalg.inv(a), -1, -2))


@forward(np.linalg.slogdet)
def slogdet(z, a):
    d[z] = adn.slogdet_tangent(z, np.trace(np.linalg.solve(a, d[a]), axis1=-2, axis2=-1))


@forward(adn.slogdet_tangent)
def slogdet_tangent(t, z, tr):
    # t = (sign * 1j * Im(tr), Re(tr)) (the first 0 for real a): bilinear in
    # (sign, tr), sign = z[0]
    d[t] = (adn.slogdet_sign_tangent(d[z][0], tr) + adn.slogdet_sign_tangent(z[0], d[tr]),
            np.real(d[tr]))


@forward(adn.slogdet_sign_tangent)
def slogdet_sign_tangent(t, sign, tr):
    # sign * 1j * Im(tr), bilinear (zeros for a real sign, whose tangent is 0)
    d[t] = adn.slogdet_sign_tangent(d[sign], tr) + adn.slogdet_sign_tangent(sign, d[tr])


@reverse(np.linalg.solve)
def solve(z, a, b):
    gb = adn.mat_as_vec(np.linalg.solve(np.swapaxes(a, -1, -2),
                                        adn.vec_as_mat(d[z], b, a)), b, a)
    d[b] = ad.unbroadcast(gb, b)
    d[a] = ad.unbroadcast(-np.matmul(adn.vec_as_mat(gb, b, a),
                                     np.swapaxes(adn.vec_as_mat(z, b, a), -1, -2)), a)


@forward(np.linalg.solve)
def solve(z, a, b):
    d[z] = adn.mat_as_vec(np.linalg.solve(
        a, adn.vec_as_mat(d[b], b, a) - np.matmul(d[a], adn.vec_as_mat(z, b, a))), b, a)


@reverse(np.linalg.cholesky)
def cholesky(z, a, *, upper=False):
    lt = z if upper else np.swapaxes(z, -1, -2)
    p = adn.tril_half(np.matmul(lt, np.swapaxes(d[z], -1, -2) if upper else d[z]))
    s = np.swapaxes(np.linalg.solve(lt, np.swapaxes(np.linalg.solve(lt, p), -1, -2)), -1, -2)
    d[a] = adn.sym_lower(s, "U" if upper else "L")


@forward(np.linalg.cholesky)
def cholesky(z, a, *, upper=False):
    d[z] = adn.cholesky_jvp(z, d[a], upper)


@reverse(np.linalg.eigh)
def eigh(z, a, UPLO="L"):
    v = z[1]
    vt = np.swapaxes(v, -1, -2)
    d[a] = adn.sym_lower(np.matmul(np.conj(v), np.matmul(
        adn.diag_embed(adn.cot(d[z], z, 0))
        + adn.eig_gap_inv(z[0]) * np.matmul(vt, adn.cot(d[z], z, 1)), vt)), UPLO)


@forward(np.linalg.eigh)
def eigh(z, a, UPLO="L"):
    d[z] = adn.eigh_jvp(a, z, d[a], UPLO)


@reverse(np.linalg.eigvalsh)
def eigvalsh(z, a, UPLO="L"):
    v = np.linalg.eigh(a, UPLO)[1]
    d[a] = adn.sym_lower(np.matmul(np.conj(v) * np.expand_dims(d[z], -2),
                                   np.swapaxes(v, -1, -2)), UPLO)


@forward(np.linalg.eigvalsh)
def eigvalsh(z, a, UPLO="L"):
    d[z] = adn.eigh_jvp(a, np.linalg.eigh(a, UPLO), d[a], UPLO)[0]


@reverse(np.linalg.eig)
def eig(z, a):
    u = z[1]
    ut = np.swapaxes(u, -1, -2)
    f = adn.eig_gap_inv(z[0])
    utgu = np.matmul(ut, adn.cot(d[z], z, 1))
    d[a] = adn.match_complex(np.matmul(np.linalg.solve(
        ut, adn.diag_embed(adn.cot(d[z], z, 0)) + f * utgu
        - f * np.matmul(np.matmul(ut, np.conj(u)), adn.diag_part(np.real(utgu)))), ut), a)


@forward(np.linalg.eig)
def eig(z, a):
    d[z] = adn.eig_jvp(a, z, d[a])


@reverse(np.linalg.eigvals)
def eigvals(z, a):
    ut = np.swapaxes(adn.eigvecs_like(np.linalg.eig(a), z), -1, -2)
    d[a] = adn.match_complex(np.matmul(np.linalg.solve(ut, adn.diag_embed(d[z])), ut), a)


@forward(np.linalg.eigvals)
def eigvals(z, a):
    d[z] = adn.eigvals_jvp(a, z, d[a])


@reverse(np.linalg.svd)
def svd(z, a, full_matrices=True, compute_uv=True, hermitian=False):
    k = adn.min_dim(a)
    s = z[1] if compute_uv else z
    u = adn.cols(z[0], k)
    vh = adn.rows(z[2], k)
    gu0 = adn.cot(d[z], z, 0)
    gvh0 = adn.cot(d[z], z, 2)
    gu = adn.cols(gu0, k) - np.matmul(adn.cols_from(z[0], k), np.matmul(
        np.swapaxes(adn.cols_from(gu0, k), -1, -2), u))
    gvh = adn.rows(gvh0, k) - np.matmul(np.matmul(
        vh, np.swapaxes(adn.rows_from(gvh0, k), -1, -2)), adn.rows_from(z[2], k))
    v = np.conj(np.swapaxes(vh, -1, -2))
    gv = np.conj(np.swapaxes(gvh, -1, -2))
    f = adn.eig_gap_inv(s * s)
    utgu = np.matmul(np.swapaxes(u, -1, -2), gu)
    vtgv = np.matmul(np.swapaxes(v, -1, -2), gv)
    core = ((f * (utgu - np.conj(np.swapaxes(utgu, -1, -2)))) * np.expand_dims(s, -2)
            + adn.diag_embed(adn.cot(d[z], z, 1))
            + np.expand_dims(s, -1) * (f * (vtgv - np.conj(np.swapaxes(vtgv, -1, -2))))
            + adn.svd_phase(utgu, s))
    ugv = np.matmul(u / np.expand_dims(s, -2), np.swapaxes(gv, -1, -2))
    vgu = np.matmul(v / np.expand_dims(s, -2), np.swapaxes(gu, -1, -2))
    full = (np.matmul(np.matmul(np.conj(u), core), np.swapaxes(v, -1, -2))
            + np.conj(ugv - np.matmul(np.matmul(ugv, v), np.conj(np.swapaxes(v, -1, -2))))
            + np.swapaxes(vgu - np.matmul(np.matmul(vgu, u), np.conj(np.swapaxes(u, -1, -2))),
                          -1, -2))
    d[a] = adn.match_complex(full, a) if compute_uv else adn.svals_vjp(d[z], a)


@forward(np.linalg.svd)
def svd(z, a, full_matrices=True, compute_uv=True, hermitian=False):
    d[z] = adn.svd_jvp(a, z, d[a], full_matrices, compute_uv)


@reverse(optional(np, "linalg.svdvals"))
def svdvals(z, x):
    d[x] = adn.svals_vjp(d[z], x)


@forward(optional(np, "linalg.svdvals"))
def svdvals(z, x):
    d[z] = adn.svd_jvp(x, z, d[x], False, False)


@reverse(np.linalg.qr)
def qr(z, a, mode="reduced"):
    k = adn.qr_check(a, mode)
    q = z[0]
    gr = adn.cot(d[z], z, 1)
    u = adn.cols(z[1], k)
    gv = adn.cols_from(gr, k)
    gq = adn.cot(d[z], z, 0) + np.matmul(adn.cols_from(a, k), np.swapaxes(gv, -1, -2))
    m = (np.matmul(u, np.swapaxes(adn.cols(gr, k), -1, -2))
         - np.matmul(np.swapaxes(gq, -1, -2), q))
    gx = np.swapaxes(np.linalg.solve(u, np.swapaxes(gq + np.matmul(q, adn.copyltu(m)), -1, -2)),
                     -1, -2)
    d[a] = np.concatenate([gx, np.matmul(q, gv)], axis=-1)


@forward(np.linalg.qr)
def qr(z, a, mode="reduced"):
    d[z] = adn.qr_jvp(a, z, d[a], mode)


@reverse(np.linalg.pinv)
def pinv(z, a, rcond=None, hermitian=False):
    zt = np.swapaxes(z, -1, -2)
    zzg = np.matmul(np.matmul(z, zt), d[z])
    gzz = np.matmul(d[z], np.matmul(zt, z))
    d[a] = np.swapaxes(-np.matmul(np.matmul(z, np.swapaxes(d[z], -1, -2)), z)
                       + zzg - np.matmul(np.matmul(zzg, a), z)
                       + gzz - np.matmul(np.matmul(z, a), gzz), -1, -2)


@forward(np.linalg.pinv)
def pinv(z, a, rcond=None, hermitian=False):
    d[z] = adn.pinv_jvp(a, z, d[a])


@reverse(np.linalg.matrix_power)
def matrix_power(z, a, n):
    d[a] = adn.matrix_power_vjp(d[z], a, n)


@forward(np.linalg.matrix_power)
def matrix_power(z, a, n):
    d[z] = adn.matrix_power_jvp(a, d[a], n)


@reverse(np.linalg.lstsq)
def lstsq(z, a, b, rcond=None):
    x = z[0]
    pa = np.linalg.pinv(a)
    pt = np.swapaxes(pa, -1, -2)
    gx = adn.cot(d[z], z, 0)
    # x = pinv(a) @ b: the pinv adjoint with the cotangent gx b^T
    gp = np.matmul(adn.vec_as_mat(gx, b), np.swapaxes(adn.vec_as_mat(b, b), -1, -2))
    zzg = np.matmul(np.matmul(pa, pt), gp)
    gzz = np.matmul(gp, np.matmul(pt, pa))
    rg = (b - np.matmul(a, x)) * adn.lstsq_res_cot(adn.cot(d[z], z, 1), b)
    d[a] = (np.swapaxes(-np.matmul(np.matmul(pa, np.swapaxes(gp, -1, -2)), pa)
                        + zzg - np.matmul(np.matmul(zzg, a), pa)
                        + gzz - np.matmul(np.matmul(pa, a), gzz), -1, -2)
            - 2.0 * np.matmul(adn.vec_as_mat(rg, b), np.swapaxes(adn.vec_as_mat(x, b), -1, -2))
            + adn.svals_vjp(adn.cot(d[z], z, 3), a))
    d[b] = np.matmul(pt, gx) + 2.0 * rg


@forward(np.linalg.lstsq)
def lstsq(z, a, b, rcond=None):
    d[z] = adn.lstsq_jvp(a, b, z, d[a], d[b])


# --- forward rules of the helpers that reverse rules call (for hessian) -----

@forward(adn.vec_as_mat)
def _vec_as_mat(r, x, b, a=None):
    d[r] = adn.vec_as_mat(d[x], b, a)


@forward(adn.mat_as_vec)
def _mat_as_vec(r, x, b, a=None):
    d[r] = adn.mat_as_vec(d[x], b, a)


@forward(adn.tril_half)
def _tril_half(r, x):
    d[r] = adn.tril_half(d[x])


@forward(adn.sym_lower)
def _sym_lower(r, x, uplo="L"):
    d[r] = adn.sym_lower(d[x], uplo)


@forward(adn.copyltu)
def _copyltu(r, x):
    d[r] = adn.copyltu(d[x])


@forward(adn.diag_embed)
def _diag_embed(r, v):
    d[r] = adn.diag_embed(d[v])


@forward(adn.diag_part)
def _diag_part(r, x):
    d[r] = adn.diag_part(d[x])


@forward(adn.eig_gap_inv)
def _eig_gap_inv(r, w):
    d[r] = -r * r * (np.expand_dims(d[w], -2) - np.expand_dims(d[w], -1))


@forward(adn.cols)
def _cols(r, x, k):
    d[r] = adn.cols(d[x], k)


@forward(adn.cols_from)
def _cols_from(r, x, k):
    d[r] = adn.cols_from(d[x], k)


@forward(adn.rows)
def _rows(r, x, k):
    d[r] = adn.rows(d[x], k)


@forward(adn.rows_from)
def _rows_from(r, x, k):
    d[r] = adn.rows_from(d[x], k)


@forward(adn.svd_phase)
def _svd_phase(r, x, s):
    d[r] = adn.svd_phase(d[x], s) - r * np.expand_dims(d[s] / s, -2)


@forward(adn.svals_vjp)
def _svals_vjp(r, g, a):
    d[r] = adn.svals_vjp(d[g], a) + adn.svals_vjp_da(g, a, d[a])


@forward(adn.matrix_power_vjp)
def _matrix_power_vjp(r, g, a, n):
    d[r] = adn.matrix_power_vjp(d[g], a, n) + adn.matrix_power_vjp_da(g, a, d[a], n)


@forward(adn.lstsq_res_cot)
def _lstsq_res_cot(r, gr, b):
    d[r] = adn.lstsq_res_cot(d[gr], b)


@forward(adn.eigvecs_like)
def _eigvecs_like(r, ev, e):
    d[r] = adn.eigvecs_like(d[ev], e, ev)


nondifferentiable(adn.min_dim, adn.qr_check)
