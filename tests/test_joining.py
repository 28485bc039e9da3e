"""Joining and grid functions: np.meshgrid was declared non-differentiable
(a silent zero gradient for a grid built from differentiated vectors); it
has rules now.  Checked against central finite differences in float64, in
grad, vjp and jvp; the per-rule checks of insert/delete/block/unstack/append/
select/row_stack are specs in rule_specs.py."""
import os
import sys

import numpy as np

from ad_compiler import grad, jvp, vjp

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from reference import fd_jacobian  # noqa: E402


def grid_loss(x, y):
    X, Y = np.meshgrid(x, y)
    return np.sum(X * Y ** 2)


def grid_ij(x, y):
    X, Y = np.meshgrid(x, y, indexing="ij")
    return np.sin(X) * Y


def test_meshgrid_gradient_is_not_zero():
    x = np.array([1.0, 2.0])
    y = np.array([0.5, 1.5, 2.5])
    gx, gy = grad(grid_loss, wrt=(0, 1))(x, y)
    np.testing.assert_allclose(gx, fd_jacobian(grid_loss, (x, y), 0), rtol=1e-8)
    np.testing.assert_allclose(gy, fd_jacobian(grid_loss, (x, y), 1), rtol=1e-8)
    assert np.all(gx != 0)


def test_meshgrid_ij_vjp_and_jvp():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=3), rng.normal(size=2)
    out = grid_ij(x, y)
    ct = rng.normal(size=out.shape)
    bx, by = vjp(grid_ij, x, y)[1](ct)
    Jx = fd_jacobian(grid_ij, (x, y), 0).reshape(out.size, -1)
    Jy = fd_jacobian(grid_ij, (x, y), 1).reshape(out.size, -1)
    np.testing.assert_allclose(bx, ct.ravel() @ Jx, atol=1e-8)
    np.testing.assert_allclose(by, ct.ravel() @ Jy, atol=1e-8)
    tx, ty = rng.normal(size=3), rng.normal(size=2)
    _, tan = jvp(grid_ij, (x, y), (tx, ty))
    np.testing.assert_allclose(tan.ravel(), Jx @ tx + Jy @ ty, atol=1e-8)
