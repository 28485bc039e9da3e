"""Force matching: a pair-potential energy model, forces = -grad(energy)
with respect to the positions, and a loss on the forces trained by grad
with respect to the potential's parameters (the gradient of code that
calls grad).  Checks the force-loss gradient against finite differences.
"""
import sys

import numpy as np

from ad_compiler import grad


def energy(pos, theta):
    """Sum over pairs of a soft Morse-like potential a*(1 - exp(-b*(r - r0)))**2."""
    a, b, r0 = theta[0], theta[1], theta[2]
    e = 0.0
    n = pos.shape[0]
    for i in range(n):
        for j in range(i + 1, n):
            d = pos[i] - pos[j]
            r = np.sqrt(np.sum(d * d))
            e = e + a * (1.0 - np.exp(-b * (r - r0))) ** 2
    return e


def forces(pos, theta):
    return -grad(energy)(pos, theta)


def force_loss(theta, configs, targets):
    s = 0.0
    for k in range(len(configs)):
        s = s + np.mean((forces(configs[k], theta) - targets[k]) ** 2)
    return s / len(configs)


def main(argv=None):
    rng = np.random.default_rng(1)
    true = np.array([1.3, 1.7, 1.1])
    grid = np.array([[0.0, 0.0], [1.2, 0.0], [0.0, 1.2], [1.2, 1.2]])
    configs = [grid + rng.normal(scale=0.15, size=(4, 2)) for _ in range(4)]
    targets = [forces(c, true) for c in configs]
    theta = np.array([1.0, 1.2, 1.0])
    dloss = grad(force_loss)
    g = dloss(theta, configs, targets)
    h = 1e-6
    fd = np.array([(force_loss(theta + h * e, configs, targets)
                    - force_loss(theta - h * e, configs, targets)) / (2 * h)
                   for e in np.eye(3)])
    err = np.max(np.abs(g - fd)) / max(1.0, np.max(np.abs(fd)))
    # the forces themselves against finite differences of the energy
    p = configs[0]
    ffd = np.zeros_like(p)
    for idx in np.ndindex(p.shape):
        e = np.zeros_like(p)
        e[idx] = h
        ffd[idx] = -(energy(p + e, theta) - energy(p - e, theta)) / (2 * h)
    errf = np.max(np.abs(forces(p, theta) - ffd))
    print(f"force check: max |AD - FD| = {errf:.2e}")
    print(f"force-loss gradient check: max |AD - FD| (relative) = {err:.2e}")
    lr = 0.05
    first = force_loss(theta, configs, targets)
    for step in range(60):
        theta = theta - lr * dloss(theta, configs, targets)
        if step % 20 == 19:
            print(f"step {step + 1}: force loss {force_loss(theta, configs, targets):.3e}  "
                  f"theta {np.round(theta, 3)}")
    last = force_loss(theta, configs, targets)
    if not (err < 1e-6 and errf < 1e-6 and last < 0.1 * first):
        print("FAILED")
        return 1
    print(f"force matching reduced the loss {first:.3e} -> {last:.3e} (true theta {true})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
