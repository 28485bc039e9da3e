"""Careful hand-written NumPy gradients of the workloads in ``workloads.py``.

Each ``grad_<fn>`` takes the same arguments as the loss and returns the tuple
of gradients for the workload's ``wrt`` positions, in order.  They compute
only what the gradient needs (no log terms of the loss, no max-shift of the
softmax, matrix products batched after the time loop where possible), the
way someone tuning a gradient by hand would.  ``tests/test_benchmarks.py``
checks every one against central finite differences.
"""
import numpy as np


def grad_logistic_loss(w, b, X, y):
    z = X @ w + b
    p = 1.0 / (1.0 + np.exp(-z))
    r = (p - y) / y.shape[0]          # d loss / d z
    return X.T @ r, float(np.sum(r))


def grad_mlp_loss(W1, b1, W2, b2, X, Y):
    n = X.shape[0]
    h = np.tanh(X @ W1 + b1)
    logits = h @ W2 + b2
    e = np.exp(logits - np.max(logits, axis=1, keepdims=True))
    probs = e / np.sum(e, axis=1, keepdims=True)
    # d loss / d logits = (softmax * rowsum(Y) - Y) / n; rows of Y sum to 1
    # for one-hot labels, but keep the general form cheap:
    dlogits = (probs * np.sum(Y, axis=1, keepdims=True) - Y) / n
    dW2 = h.T @ dlogits
    db2 = np.sum(dlogits, axis=0)
    da = (dlogits @ W2.T) * (1.0 - h * h)
    dW1 = X.T @ da
    db1 = np.sum(da, axis=0)
    return dW1, db1, dW2, db2


def grad_rnn_loss(Wx, Wh, b, wo, xs, ys):
    T = xs.shape[0]
    H = Wh.shape[0]
    hs = np.zeros((T + 1, H))         # hs[t + 1] = h after step t; hs[0] = 0
    # the input projection of all steps at once
    xproj = xs @ Wx.T + b
    for t in range(T):
        hs[t + 1] = np.tanh(xproj[t] + Wh @ hs[t])
    preds = hs[1:] @ wo
    dpred = 2.0 * (preds - ys) / T    # (T,)
    dwo = dpred @ hs[1:]
    das = np.empty((T, H))            # d loss / d pre-activation, per step
    dh = np.zeros(H)
    for t in range(T - 1, -1, -1):
        dh = dh + dpred[t] * wo
        da = dh * (1.0 - hs[t + 1] * hs[t + 1])
        das[t] = da
        dh = Wh.T @ da
    dWx = das.T @ xs
    dWh = das.T @ hs[:-1]
    db = np.sum(das, axis=0)
    return dWx, dWh, db, dwo


def grad_while_branch(x, c):
    xs = [x]                          # xs[k] is the input of step k
    branch = []                       # True: tanh step, False: sin step
    total = 0.0
    while total < 10.0:
        if np.mean(x) > 0.0:
            branch.append(True)
            x = np.tanh(c * x) - 0.25
        else:
            branch.append(False)
            x = np.sin(c * x) + 0.25
        xs.append(x)
        total = total + np.mean(x * x) + 0.1
    dx = (2.0 / x.size) * x
    dc = 0.0
    for k in range(len(branch) - 1, -1, -1):
        if branch[k]:
            th = xs[k + 1] + 0.25     # = tanh(c * xs[k]), not recomputed
            da = dx * (1.0 - th * th)
        else:
            da = dx * np.cos(c * xs[k])
        dc += float(np.dot(da, xs[k]))
        dx = da * c
    return dx, dc


def grad_elementwise_chain(x, a, b):
    # u = x a + b;  v = sin(u) exp(-u^2/2);  w = v / (1 + x^2) + sqrt(1 + u^2) a
    # loss = mean(w)
    g = 1.0 / x.size                  # d loss / d w (a constant)
    u = x * a + b
    e = np.exp(-0.5 * u * u)
    s = np.sqrt(1.0 + u * u)
    r = 1.0 / (1.0 + x * x)
    sin_u = np.sin(u)
    v = sin_u * e
    # d w / d u = r e (cos u - u sin u) + a u / s
    du = g * (r * e * (np.cos(u) - u * sin_u) + a * u / s)
    # explicit x dependence through r: d r / d x = -2 x r^2
    dx = du * a - (2.0 * g) * v * x * r * r
    da = np.sum(du * x + g * s, axis=0)
    db = np.sum(du, axis=1, keepdims=True)
    return dx, da, db


GRADIENTS = {
    "logistic_loss": grad_logistic_loss,
    "mlp_loss": grad_mlp_loss,
    "rnn_loss": grad_rnn_loss,
    "while_branch": grad_while_branch,
    "elementwise_chain": grad_elementwise_chain,
}
