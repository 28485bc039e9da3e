"""scipy.optimize.minimize with gradients and Hessian-vector products from
ad_compiler, on parameters kept in a pytree.

An L2-regularized logistic regression whose parameters are a dict
``{"w": array, "b": float}``.  ``ad_compiler.tree.ravel`` packs the dict into
the flat float64 vector SciPy wants and unpacks SciPy's vectors back into
dicts.  ``grad`` gives ``jac=``; forward mode over the gradient
(``jvp(grad(loss), ...)``) gives ``hessp=``: a Hessian-vector product at the
cost of about one gradient, never forming the Hessian.  Newton-type methods
(trust-ncg, Newton-CG) with these are compared with BFGS given no
derivatives (SciPy then estimates the gradient by finite differences).  The
gradient and a Hessian-vector product are first checked against central
finite differences (exit status 1 if they disagree).

    python examples/scipy_minimize.py
"""
import argparse
import sys

import numpy as np

try:
    from scipy.optimize import minimize
except ImportError:                                  # pragma: no cover
    print("scipy_minimize.py needs SciPy: pip install scipy", file=sys.stderr)
    sys.exit(2)

from ad_compiler import grad, jvp
from ad_compiler.tree import ravel

SEED = 0
L2 = 1e-2
FD_TOLERANCE = 1e-6


def make_data(n=300, d=8, seed=SEED):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    w_true = rng.normal(size=d)
    p = 1.0 / (1.0 + np.exp(-(X @ w_true + 0.5)))
    y = (rng.uniform(size=n) < p).astype(float)
    return X, y


def loss(params, X, y):
    """Mean negative log-likelihood + L2 penalty on the weights."""
    z = X @ params["w"] + params["b"]
    # log(1 + exp(z)) - y z, written stably
    nll = np.logaddexp(0.0, z) - y * z
    return np.mean(nll) + 0.5 * L2 * np.sum(params["w"] ** 2)


dloss = grad(loss)


def problem(X, y, params0):
    """``(x0, fun, jac, hessp, unravel)`` on flat vectors for SciPy."""
    x0, unravel = ravel(params0)

    def fun(v):
        return loss(unravel(v), X, y)

    def jac(v):
        return ravel(dloss(unravel(v), X, y))[0]

    def hessp(v, t):
        # d/de grad(loss)(params + e * t) at e = 0; X and y are constants
        _, hv = jvp(dloss, (unravel(v), X, y), (unravel(t), None, None))
        return ravel(hv)[0]

    return x0, fun, jac, hessp, unravel


def check_derivatives(fun, jac, hessp, v, eps=1e-5, seed=1):
    """max |AD - FD| of the gradient and of one Hessian-vector product."""
    g = jac(v)
    fd = np.array([(fun(v + eps * e) - fun(v - eps * e)) / (2 * eps)
                   for e in np.eye(v.size)])
    t = np.random.default_rng(seed).normal(size=v.size)
    hv = hessp(v, t)
    fd_hv = (jac(v + eps * t) - jac(v - eps * t)) / (2 * eps)
    return np.max(np.abs(g - fd)), np.max(np.abs(hv - fd_hv))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=int, default=8)
    args = parser.parse_args(argv)

    X, y = make_data(d=args.features)
    params0 = {"w": np.zeros(X.shape[1]), "b": 0.0}
    x0, fun, jac, hessp, unravel = problem(X, y, params0)

    v = np.random.default_rng(2).normal(size=x0.size)
    g_err, h_err = check_derivatives(fun, jac, hessp, v)
    print(f"gradient check: max |AD - FD| = {g_err:.2e}; "
          f"Hessian-vector product: max |AD - FD| = {h_err:.2e}")
    if not (g_err < FD_TOLERANCE and h_err < FD_TOLERANCE):
        print("derivative check FAILED", file=sys.stderr)
        return 1

    runs = {
        "trust-ncg (jac, hessp)": minimize(fun, x0, jac=jac, hessp=hessp,
                                           method="trust-ncg", options={"gtol": 1e-8}),
        "Newton-CG (jac, hessp)": minimize(fun, x0, jac=jac, hessp=hessp,
                                           method="Newton-CG", options={"xtol": 1e-12}),
        "BFGS (jac)": minimize(fun, x0, jac=jac, method="BFGS",
                               options={"gtol": 1e-10}),
        "BFGS (no derivatives)": minimize(fun, x0, method="BFGS"),
    }
    print(f"{'method':24s} {'loss':>14s} {'|grad|':>9s} {'iters':>5s} "
          f"{'f evals':>7s} {'grad evals':>10s} {'hessp evals':>11s}")
    for name, r in runs.items():
        print(f"{name:24s} {r.fun:14.10f} {np.linalg.norm(jac(r.x)):9.1e} "
              f"{r.nit:5d} {r.nfev:7d} {getattr(r, 'njev', 0):10d} "
              f"{getattr(r, 'nhev', 0):11d}")
    best = runs["trust-ncg (jac, hessp)"]
    params = unravel(best.x)
    print(f"solution: b = {params['b']:.6f}, w[:3] = {np.round(params['w'][:3], 6)}")
    worst = 0.0
    for name, r in runs.items():
        if r is best:
            continue
        diff = np.max(np.abs(r.x - best.x))
        worst = max(worst, diff) if "no derivatives" not in name else worst
        print(f"max |difference| of {name} from trust-ncg: {diff:.1e}")
    if not best.success:
        print(f"trust-ncg failed: {best.message}", file=sys.stderr)
        return 1
    if not worst < 1e-6:
        print("the methods with exact derivatives disagree", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
