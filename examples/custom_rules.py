"""Custom derivative rules: make your own function a primitive.

Like ``jax.custom_vjp`` or ``torch.autograd.Function``: decorate a small
template with ``ad_compiler.reverse(fn)`` / ``ad_compiler.forward(fn)`` and
the compiler inlines it wherever ``fn`` is called, instead of
differentiating ``fn``'s body.  In a template the first parameter is fn's
result, the others are fn's parameters, and ``d[x]`` is the derivative of
``x`` (the adjoint in a reverse rule, the tangent in a forward rule).

Three uses, each checked against central finite differences (the script
exits with status 1 on any disagreement):

1. a numerically stable ``logsumexp`` (its rule stays finite where the
   naive gradient overflows);
2. a function implemented in C (``scipy.special.gammaln`` under a user
   name), which the compiler has no source for;
3. gradient clipping: the identity in the forward pass whose reverse rule
   clips the incoming gradient (its forward rule is the identity).

    python examples/custom_rules.py [--show-source]
"""
import argparse
import sys

import numpy as np
import scipy.special

import ad_compiler
from ad_compiler import forward, reverse

d = None  # the d[x] notation of rule templates; never evaluated
TOLERANCE = 1e-6


# 1. a numerically stable logsumexp ---------------------------------------------

def logsumexp(x):
    m = np.max(x)
    return m + np.log(np.sum(np.exp(x - m)))


@reverse(logsumexp)
def logsumexp_rev(z, x):
    d[x] = d[z] * np.exp(x - z)          # softmax, computed stably from z


@forward(logsumexp)
def logsumexp_fwd(z, x):
    d[z] = np.sum(d[x] * np.exp(x - z))


def log_likelihood(w, X, y):
    """Softmax regression: log p(y | X, w), w of shape (features, classes)."""
    total = 0.0
    for i in range(X.shape[0]):
        scores = X[i] @ w
        total = total + scores[y[i]] - logsumexp(scores)
    return total


# 2. a function implemented in C -----------------------------------------------

def log_gamma(x):
    return scipy.special.gammaln(x)      # compiled C code: no Python source


@reverse(log_gamma)
def log_gamma_rev(z, x):
    d[x] = d[z] * scipy.special.digamma(x)


@forward(log_gamma)
def log_gamma_fwd(z, x):
    d[z] = d[x] * scipy.special.digamma(x)


def log_beta_function(a):
    """log B(a) = sum log Gamma(a_i) - log Gamma(sum a_i) (Dirichlet normalizer)."""
    return np.sum(log_gamma(a)) - log_gamma(np.sum(a))


# 3. gradient clipping -----------------------------------------------------------

def clip_gradient(x, limit):
    return x


@reverse(clip_gradient)
def clip_gradient_rev(z, x, limit):
    d[x] = np.clip(d[z], -limit, limit)


@forward(clip_gradient)
def clip_gradient_fwd(z, x, limit):
    d[z] = d[x]


def clipped_loss(x):
    return np.sum(clip_gradient(x, 1.0) ** 2)


# ---------------------------------------------------------------------------------

def fd_gradient(f, args, i, eps=1e-6):
    x = np.array(args[i], dtype=float)
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        hi, lo = x.copy(), x.copy()
        hi[idx] += eps
        lo[idx] -= eps
        a_hi = list(args)
        a_lo = list(args)
        a_hi[i], a_lo[i] = hi, lo
        g[idx] = (f(*a_hi) - f(*a_lo)) / (2 * eps)
    return g


def report(label, ad_value, fd_value):
    err = float(np.max(np.abs(np.asarray(ad_value) - fd_value)))
    print(f"{label:<34} max |AD - FD| = {err:.2e}")
    return err < TOLERANCE


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--show-source", action="store_true")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    ok = True

    # 1. logsumexp
    X = rng.normal(size=(5, 3))
    y = np.array([0, 2, 1, 1, 0])
    w = rng.normal(size=(3, 4))
    grad_ll = ad_compiler.grad(log_likelihood)
    ok &= report("softmax regression, grad", grad_ll(w, X, y),
                 fd_gradient(log_likelihood, (w, X, y), 0))
    t = rng.normal(size=w.shape)
    _, jv = ad_compiler.jvp(log_likelihood, (w, X, y), (t, None, None))
    ok &= report("softmax regression, jvp", jv,
                 np.sum(fd_gradient(log_likelihood, (w, X, y), 0) * t))
    big = np.array([1000.0, 1001.0, 1002.0])
    g_big = ad_compiler.grad(logsumexp)(big)
    print("grad of logsumexp at [1000, 1001, 1002]:", np.array2string(g_big, precision=6))
    ok &= bool(np.all(np.isfinite(g_big))) and abs(float(np.sum(g_big)) - 1.0) < 1e-12

    # 2. C function
    a = np.array([0.7, 1.9, 3.2])
    ok &= report("log Beta(a) via gammaln, grad", ad_compiler.grad(log_beta_function)(a),
                 fd_gradient(log_beta_function, (a,), 0))
    H = ad_compiler.hessian(log_beta_function)(a)
    H_exact = np.diag(scipy.special.polygamma(1, a)) - scipy.special.polygamma(1, np.sum(a))
    err = float(np.max(np.abs(H - H_exact)))
    print(f"{'log Beta(a) via gammaln, hessian':<34} max |AD - exact| = {err:.2e}")
    ok &= err < TOLERANCE

    # 3. gradient clipping
    x = np.array([0.2, -0.4, 3.0, -5.0])
    g = ad_compiler.grad(clipped_loss)(x)
    print("clipped gradient of sum(x**2):", g, "(true gradient:", 2 * x, ")")
    ok &= bool(np.allclose(g, np.clip(2 * x, -1.0, 1.0)))
    _, t_clip = ad_compiler.jvp(clipped_loss, (x,), (np.ones(4),))
    ok &= abs(t_clip - np.sum(2 * x)) < 1e-12        # forward rule: identity

    src = ad_compiler.source(ad_compiler.grad(clipped_loss))
    ok &= "np.clip(" in src           # the rule's code, inlined
    if args.show_source:
        for f in (grad_ll, ad_compiler.grad(log_beta_function), ad_compiler.grad(clipped_loss)):
            print(ad_compiler.source(f))
            print()
    if not ok:
        print("FAILED: a custom rule disagrees with finite differences", file=sys.stderr)
        raise SystemExit(1)
    print("all custom rules check out")


if __name__ == "__main__":
    main()
