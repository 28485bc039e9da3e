"""Second (and third) derivatives through user helpers whose reverse sweep
is split in two generated functions, ``h_fwd`` (pushes on a tape stack it
returns) and ``h_bwd`` (pops it): forward mode over them (``hessian``,
``grad(grad(f))``, ``jacobian(grad(f), mode="rev")``) compiles each for its
own active arguments.  Regressions of BUG-32 (a value pushed inactive and
popped active: IndexError / broadcast errors) and BUG-33 (the tangent of
an accumulated container derivative, ``ad.add(0.0, list)``; also BUG-27 /
BUG-27b, a record or dict argument not differentiated).

References: nested central finite differences in float64 and HIPS autograd
(on a copy of tests/_grad2_helpers_funcs.py with ``np`` = ``autograd.numpy``).
"""
import os
import sys
import types

import numpy as np
import pytest

from ad_compiler import grad, hessian, jacobian

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

import _grad2_helpers_funcs as F  # noqa: E402
from reference import fd_hessian  # noqa: E402

autograd = pytest.importorskip("autograd")


def _load_autograd_copy():
    src = open(F.__file__, encoding="utf-8").read()
    src = src.replace("import numpy as np", "import autograd.numpy as np")
    mod = types.ModuleType("_grad2_helpers_funcs_autograd")
    exec(compile(src, F.__file__ + "[autograd]", "exec"), mod.__dict__)
    return mod


A = _load_autograd_copy()

_rng = np.random.default_rng(20240)
PARAMS = [(_rng.standard_normal((2, 3)), _rng.standard_normal(2)),
          (_rng.standard_normal((3, 2)), _rng.standard_normal(3))]
WS = [PARAMS[0][0], PARAMS[1][0]]
Z = _rng.standard_normal(3)
X0 = 0.4

REST = {"s_net": (PARAMS, Z), "s_net_list": (WS, Z), "s_affine": (PARAMS, Z),
        "s_first_bias_twice": (PARAMS,), "s_fuzz_helpers": (PARAMS,),
        "s_record": (F.Layer(np.array([0.3, 0.5]), np.array([1.0, 2.0])),),
        "s_dict_get": ({"W": np.array([0.3, 0.5])},)}


def close(a, b, tol):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    assert a.shape == b.shape, (a.shape, b.shape)
    scale = max(1.0, float(np.max(np.abs(b))) if b.size else 1.0)
    assert np.max(np.abs(a - b)) <= tol * scale, (a, b)


def fd2_scalar(f, x, h=1e-3):
    """Second derivative by nested central differences (4-point each)."""
    def d1(y):
        return (f(y - 2 * h) - 8 * f(y - h) + 8 * f(y + h) - f(y + 2 * h)) / (12 * h)
    return (d1(x - 2 * h) - 8 * d1(x - h) + 8 * d1(x + h) - d1(x + 2 * h)) / (12 * h)


SECOND = {
    "grad(grad(f))": lambda f: grad(grad(f)),
    "hessian(f)": lambda f: hessian(f),
    "jacobian(grad(f), mode='rev')": lambda f: jacobian(grad(f), mode="rev"),
}


@pytest.mark.parametrize("how", list(SECOND))
@pytest.mark.parametrize("name", F.SCALAR)
def test_second_derivative_through_helper(name, how):
    f, rest = getattr(F, name), REST[name]
    ours = SECOND[how](f)(X0, *rest)
    close(ours, fd2_scalar(lambda x: f(x, *rest), X0), tol=1e-6)
    close(ours, autograd.hessian(getattr(A, name))(X0, *rest), tol=1e-9)


@pytest.mark.parametrize("name", ["s_net", "s_net_list", "s_affine", "s_first_bias_twice"])
def test_third_derivative_through_helper(name):
    # forward over forward over reverse: the tangent stack has a tangent stack
    f, rest = getattr(F, name), REST[name]
    ours = grad(grad(grad(f)))(X0, *rest)
    ref = autograd.grad(autograd.grad(autograd.grad(getattr(A, name))))(X0, *rest)
    close(ours, ref, tol=1e-8)
    close(ours, fd2_scalar(lambda x: float(grad(f)(x, *rest)), X0), tol=1e-5)


@pytest.mark.parametrize("name", F.ARRAY)
def test_hessian_wrt_array_through_helper(name):
    f = getattr(F, name)
    (W1, b1), (W2, b2) = PARAMS
    args = (Z, W1, b1, W2, b2) if name == "a_net" else (W1, Z, b1, W2, b2)
    ours = hessian(f)(*args)
    close(ours, fd_hessian(f, args, 0), tol=1e-5)
    close(ours, autograd.hessian(getattr(A, name))(*args), tol=1e-9)
