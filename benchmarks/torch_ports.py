"""PyTorch (eager, CPU, float64) ports of the workloads in ``workloads.py``.

Line for line the same computations with ``torch`` ops; gradients come from
``torch.autograd.grad``.  Imported only when torch is installed.
"""
import torch


def logistic_loss(w, b, X, y):
    z = X @ w + b
    p = 1 / (1 + torch.exp(-z))
    log_lik = y * torch.log(p) + (1 - y) * torch.log(1 - p)
    return -torch.mean(log_lik)


def mlp_loss(W1, b1, W2, b2, X, Y):
    h = torch.tanh(X @ W1 + b1)
    logits = h @ W2 + b2
    logits = logits - torch.amax(logits, dim=1, keepdim=True)
    log_probs = logits - torch.log(torch.sum(torch.exp(logits), dim=1, keepdim=True))
    return -torch.mean(torch.sum(Y * log_probs, dim=1))


def rnn_loss(Wx, Wh, b, wo, xs, ys):
    h = torch.zeros(Wh.shape[0], dtype=Wh.dtype)
    total = 0.0
    for t in range(xs.shape[0]):
        h = torch.tanh(Wx @ xs[t] + Wh @ h + b)
        pred = torch.dot(wo, h)
        total = total + (pred - ys[t]) ** 2
    return total / xs.shape[0]


def while_branch(x, c):
    total = 0.0
    while total < 10.0:
        if torch.mean(x) > 0.0:
            x = torch.tanh(c * x) - 0.25
        else:
            x = torch.sin(c * x) + 0.25
        total = total + torch.mean(x * x) + 0.1
    return torch.mean(x * x)


def elementwise_chain(x, a, b):
    u = x * a + b
    v = torch.sin(u) * torch.exp(-0.5 * u * u)
    w = v / (1.0 + x * x) + torch.sqrt(1.0 + u * u) * a
    return torch.mean(w)


def to_torch(args, wrt):
    """NumPy/float arguments -> float64 tensors; ``wrt`` ones require grad."""
    out = []
    for i, a in enumerate(args):
        t = torch.as_tensor(a, dtype=torch.float64)
        if i in wrt:
            t = t.detach().clone().requires_grad_(True)
        out.append(t)
    return out


def make_grad(fn, wrt):
    """``args -> tuple of gradient tensors`` with respect to ``wrt``."""
    def g(*targs):
        loss = fn(*targs)
        return torch.autograd.grad(loss, [targs[i] for i in wrt])
    return g
