"""Newton's method with ``hessian`` and ``grad``: regularized logistic
regression, quadratic convergence shown by the gradient norm per step.

Checks the AD gradient and Hessian against central finite differences.
"""
import sys

import numpy as np

from ad_compiler import grad, hessian


def loss(w, X, y, lam):
    z = X @ w
    return np.mean(np.logaddexp(0.0, z) - y * z) + 0.5 * lam * np.sum(w ** 2)


def make_data(n=200, d=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    w_true = rng.normal(size=d)
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-X @ w_true))).astype(float)
    return X, y


def fd_grad(f, w, h=1e-6):
    g = np.zeros_like(w)
    for i in range(w.size):
        e = np.zeros_like(w)
        e[i] = h
        g[i] = (f(w + e) - f(w - e)) / (2 * h)
    return g


def main(argv=None):
    X, y = make_data()
    lam = 1e-2
    w = np.zeros(X.shape[1])
    g, H = grad(loss), hessian(loss)

    def fw(v):
        return loss(v, X, y, lam)
    w_check = np.linspace(-0.5, 0.5, X.shape[1])
    err_g = np.max(np.abs(g(w_check, X, y, lam) - fd_grad(fw, w_check)))
    Hfd = np.array([fd_grad(lambda_col(g, X, y, lam, i), w_check) for i in range(w.size)])
    err_h = np.max(np.abs(H(w_check, X, y, lam) - Hfd))
    print(f"gradient check: max |AD - FD| = {err_g:.2e}")
    print(f"Hessian check:  max |AD - FD| = {err_h:.2e}")
    ok = err_g < 1e-7 and err_h < 1e-6
    norms = []
    for step in range(8):
        gw = g(w, X, y, lam)
        norms.append(np.linalg.norm(gw))
        print(f"step {step}: loss {loss(w, X, y, lam):.10f}  |grad| {norms[-1]:.3e}")
        if norms[-1] < 1e-13:
            break
        w = w - np.linalg.solve(H(w, X, y, lam), gw)
    # quadratic convergence: |g_{k+1}| <= C |g_k|^2 once close
    ratios = [b / a ** 2 for a, b in zip(norms, norms[1:]) if a < 1e-2 and b > 1e-15]
    quad = norms[-1] < 1e-12 and all(r < 10.0 for r in ratios)
    print("quadratic convergence: |g_k+1| / |g_k|^2 =",
          ", ".join(f"{r:.2f}" for r in ratios) or "(reached machine precision)")
    if not (ok and quad):
        print("FAILED")
        return 1
    print("Newton's method converged quadratically; derivatives match finite differences")
    return 0


def lambda_col(g, X, y, lam, i):
    def col(v):
        return g(v, X, y, lam)[i]
    return col


if __name__ == "__main__":
    sys.exit(main())
