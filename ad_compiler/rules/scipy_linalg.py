"""Rules for scipy.linalg, reverse and forward side by side.

For a solve ``x = A^-1 b`` the adjoint of b is the solve with the transposed
matrix, ``bb = A^-T g``, and the adjoint of A is ``-bb x^T`` restricted to
the entries the routine reads (a triangle, a band).
"""
import numpy as np
from scipy import linalg as sla

from ad_compiler import runtime_scipy as ads
from ad_compiler.registry import forward, nondifferentiable, reverse

d = None  # the d[x] notation of templates; never evaluated


@reverse(sla.solve_triangular, name="scipy.linalg.solve_triangular")
def solve_triangular(z, a, b, trans=0, lower=False, unit_diagonal=False,
                     overwrite_b=False, check_finite=True):
    bb = sla.solve_triangular(a, d[z], trans=ads.flip_trans(trans), lower=lower,
                              unit_diagonal=unit_diagonal)
    d[b] = bb
    d[a] = ads.solve_triangular_grad_a(bb, z, trans, lower, unit_diagonal)


@forward(sla.solve_triangular, name="scipy.linalg.solve_triangular")
def solve_triangular(z, a, b, trans=0, lower=False, unit_diagonal=False,
                     overwrite_b=False, check_finite=True):
    d[z] = sla.solve_triangular(a, d[b] - ads.tri_apply(d[a], z, trans, lower, unit_diagonal),
                                trans=trans, lower=lower, unit_diagonal=unit_diagonal)


@forward(ads.tri_apply)
def tri_apply(t, dA, x, trans=0, lower=False, unit_diagonal=False):
    # op(mask(dA)) @ x: bilinear in (dA, x)
    d[t] = (ads.tri_apply(d[dA], x, trans, lower, unit_diagonal)
            + ads.tri_apply(dA, d[x], trans, lower, unit_diagonal))


@forward(ads.solve_triangular_grad_a)
def solve_triangular_grad_a(z, bb, x, trans=0, lower=False, unit_diagonal=False):
    d[z] = (ads.solve_triangular_grad_a(d[bb], x, trans, lower, unit_diagonal)
            + ads.solve_triangular_grad_a(bb, d[x], trans, lower, unit_diagonal))


@reverse(sla.solve_banded, name="scipy.linalg.solve_banded")
def solve_banded(z, l_and_u, ab, b, overwrite_ab=False, overwrite_b=False, check_finite=True):
    bb = ads.solve_banded_transpose(l_and_u, ab, d[z])
    d[b] = bb
    d[ab] = ads.banded_outer_grad(l_and_u, bb, z)


@forward(sla.solve_banded, name="scipy.linalg.solve_banded")
def solve_banded(z, l_and_u, ab, b, overwrite_ab=False, overwrite_b=False, check_finite=True):
    d[z] = sla.solve_banded(l_and_u, ab, d[b] - ads.banded_matvec(l_and_u, d[ab], z))


@forward(ads.solve_banded_transpose)
def solve_banded_transpose(z, l_and_u, ab, g):
    d[z] = ads.solve_banded_transpose(l_and_u, ab, d[g] - ads.banded_rmatvec(l_and_u, d[ab], z))


@forward(ads.banded_matvec)
def banded_matvec(t, l_and_u, dab, x):
    # A(dab) @ x: bilinear in (dab, x)
    d[t] = ads.banded_matvec(l_and_u, d[dab], x) + ads.banded_matvec(l_and_u, dab, d[x])


@forward(ads.banded_rmatvec)
def banded_rmatvec(t, l_and_u, dab, y):
    # A(dab)^T @ y: bilinear in (dab, y)
    d[t] = ads.banded_rmatvec(l_and_u, d[dab], y) + ads.banded_rmatvec(l_and_u, dab, d[y])


@forward(ads.banded_outer_grad)
def banded_outer_grad(z, l_and_u, y, x):
    d[z] = ads.banded_outer_grad(l_and_u, d[y], x) + ads.banded_outer_grad(l_and_u, y, d[x])


@reverse(sla.solve_sylvester, name="scipy.linalg.solve_sylvester")
def solve_sylvester(z, a, b, q):
    y = sla.solve_sylvester(np.transpose(a), np.transpose(b), d[z])
    d[q] = y
    d[a] = -np.matmul(y, np.transpose(z))
    d[b] = -np.matmul(np.transpose(z), y)


@forward(sla.solve_sylvester, name="scipy.linalg.solve_sylvester")
def solve_sylvester(z, a, b, q):
    d[z] = sla.solve_sylvester(a, b, d[q] - np.matmul(d[a], z) - np.matmul(z, d[b]))


@reverse(sla.sqrtm, name="scipy.linalg.sqrtm")
def sqrtm(z, A, disp=None, blocksize=None):
    d[A] = sla.solve_sylvester(np.transpose(z), np.transpose(z), d[z])


@forward(sla.sqrtm, name="scipy.linalg.sqrtm")
def sqrtm(z, A, disp=None, blocksize=None):
    d[z] = sla.solve_sylvester(z, z, d[A])


nondifferentiable(ads.flip_trans)   # computes an argument (trans), not a value
