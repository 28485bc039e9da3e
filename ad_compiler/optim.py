"""Functional optimizers, learning-rate schedules and gradient clipping on
pytrees (see ``ad_compiler.tree``).

Every optimizer is an ``Optimizer(init, update)`` pair of pure functions::

    opt = optim.adam(lr=1e-3)
    state = opt.init(params)
    for batch in batches:
        grads = grad(loss)(params, *batch)
        grads, norm = optim.clip_grad_norm(grads, max_norm=1.0)
        updates, state = opt.update(grads, state, params)
        params = optim.apply_updates(params, updates)

``params`` and ``grads`` are pytrees of the same structure (dicts, lists,
tuples, NamedTuples of float arrays or floats); ``updates`` has that
structure too and ``apply_updates(params, updates)`` is ``params + updates``
leaf by leaf.  Nothing is modified in place: ``update`` returns a new state
and ``apply_updates`` new arrays, so a state can be kept, copied or restored
like any value.  The state is a NamedTuple (``count``: the number of updates
done, then trees shaped like ``params``).

The algorithms are those of ``torch.optim`` with the same hyper-parameter
names and defaults (SGD, Adam, AdamW, RMSprop, Adagrad); a run of ``n``
updates on the same gradients gives the same parameters as PyTorch to
rounding (the tests check 1e-12 in float64).  ``lr`` is a float or a
schedule: a function ``step -> lr`` called with the number of updates done
before this one (0 for the first), as a PyTorch scheduler stepped after every
``optimizer.step()`` would give; ``step_decay``, ``cosine_decay`` and
``linear_warmup`` build the usual ones.  Parameters must be real
(floating-point); their dtype is kept (float32 parameters get float32
updates).
"""
import math
from typing import Any, Callable, NamedTuple

import numpy as np

from ad_compiler.tree import (TreeStructureError, leaf_paths, tree_flatten, tree_map,
                              tree_unflatten)

__all__ = ["Optimizer", "sgd", "adam", "adamw", "rmsprop", "adagrad",
           "apply_updates", "step_decay", "cosine_decay", "linear_warmup",
           "clip_grad_norm", "clip_grad_value", "SGDState", "AdamState",
           "RMSPropState", "AdagradState"]


class Optimizer(NamedTuple):
    """A functional optimizer: ``init(params) -> state`` and
    ``update(grads, state, params) -> (updates, new_state)``."""
    init: Callable[[Any], Any]
    update: Callable[..., Any]


class SGDState(NamedTuple):
    count: int
    momentum: Any          # the momentum buffer (a tree), None without momentum


class AdamState(NamedTuple):
    count: int
    exp_avg: Any           # first moment (a tree like params)
    exp_avg_sq: Any        # second moment
    max_exp_avg_sq: Any    # running max of exp_avg_sq (amsgrad), else None


class RMSPropState(NamedTuple):
    count: int
    square_avg: Any
    grad_avg: Any          # centered=True only, else None
    momentum: Any          # momentum > 0 only, else None


class AdagradState(NamedTuple):
    count: int
    sum: Any


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

class _Box:
    """Carries a leaf of another tree through ``tree_map`` (so that a
    container there cannot be mistaken for part of the structure)."""
    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


def _leaves(name, what, reference, tree):
    """The leaves of ``tree`` in the leaf order of ``reference``; a
    ``ValueError`` if the structures differ.  ``what``: the names of the two
    trees, as ``("params", "grads")``."""
    try:
        boxed = tree_map(lambda _, x: _Box(x), reference, tree)
    except TreeStructureError as e:
        raise ValueError(f"{name}: {what[1]} and {what[0]} have different "
                         f"structures: at {e.where}, {what[0]} has {e.expected}, "
                         f"{what[1]} has {e.got}") from None
    return [b.value for b in tree_flatten(boxed)[0]]


def _check_real(name, params):
    for i, x in enumerate(tree_flatten(params)[0]):
        dt = np.asarray(x).dtype
        if not np.issubdtype(dt, np.floating):
            where = leaf_paths(params)[i]
            raise TypeError(f"{name}: the parameter at {where} has dtype {dt}; the "
                            f"optimizers update real floating-point parameters "
                            f"only: keep integer, complex and other values out of "
                            f"the tree given to init/update")


def _zeros(x):
    return 0.0 if isinstance(x, (float, int)) else np.zeros_like(x)


def _full(x, value):
    return float(value) if isinstance(x, (float, int)) else np.full_like(x, value)


def _check_lr(name, lr):
    if callable(lr):
        return
    if isinstance(lr, bool) or not isinstance(lr, (int, float, np.floating, np.integer)):
        raise TypeError(f"{name}: lr must be a number or a schedule (a function "
                        f"step -> lr), got {type(lr).__name__}")
    if not lr >= 0:
        raise ValueError(f"{name}: invalid learning rate {lr!r} (must be >= 0)")


def _lr_at(lr, count):
    return float(lr(count)) if callable(lr) else float(lr)


def _check_range(name, what, value, low, high=None, high_open=True):
    ok = value >= low and (high is None or (value < high if high_open else value <= high))
    if not ok:
        bound = "" if high is None else (f" and < {high}" if high_open else f" and <= {high}")
        raise ValueError(f"{name}: invalid {what} {value!r} (must be >= {low}{bound})")


def _begin(name, state, cls, grads, params, needs_params):
    """Checks an ``update`` call; returns ``(ref, g, p)``: the tree whose
    structure the update follows (params, or grads without params) and the
    leaves of grads and params in its order (``p`` is ``g`` without params)."""
    if not isinstance(state, cls):
        raise TypeError(f"{name}.update: expected the state returned by this "
                        f"optimizer's init/update ({cls.__name__}), got "
                        f"{type(state).__name__}")
    if params is None:
        if needs_params:
            raise ValueError(f"{name}.update: weight decay needs the parameters: "
                             f"call update(grads, state, params)")
        ref = grads
    else:
        ref = params
    g = _leaves(f"{name}.update", ("params", "grads"),
                ref, grads)
    return ref, g, tree_flatten(ref)[0]


def _unflatten_like(params, leaves):
    return tree_unflatten(tree_flatten(params)[1], leaves)


def apply_updates(params, updates):
    """``params + updates`` leaf by leaf, as new arrays of each parameter's
    dtype (Python float parameters stay Python floats)."""
    def add(p, u):
        s = p + u
        if type(p) is float:
            return float(s)
        if isinstance(p, np.ndarray):
            return np.asarray(s).astype(p.dtype, copy=False)
        if isinstance(p, np.generic):
            return p.dtype.type(s)
        return s
    try:
        return tree_map(add, params, updates)
    except TreeStructureError as e:
        raise ValueError(f"apply_updates: updates and params have different "
                         f"structures: at {e.where}, params has {e.expected}, "
                         f"updates has {e.got}") from None


# --------------------------------------------------------------------------
# optimizers
# --------------------------------------------------------------------------

def sgd(lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    """Stochastic gradient descent (``torch.optim.SGD``).

    ``d = g + weight_decay * p``; with momentum, ``buf = d`` on the first
    step, then ``buf = momentum * buf + (1 - dampening) * d``, and
    ``d = d + momentum * buf`` (nesterov) or ``d = buf``; the update is
    ``-lr * d``.  Nesterov needs ``momentum > 0`` and ``dampening == 0``."""
    name = "sgd"
    _check_lr(name, lr)
    _check_range(name, "momentum", momentum, 0.0)
    _check_range(name, "weight_decay", weight_decay, 0.0)
    if nesterov and (momentum <= 0 or dampening != 0):
        raise ValueError("sgd: nesterov momentum requires momentum > 0 and "
                         "dampening == 0")

    def init(params):
        _check_real(name + ".init", params)
        buf = tree_map(_zeros, params) if momentum != 0 else None
        return SGDState(0, buf)

    def update(grads, state, params=None):
        params_ref, g, p = _begin(name, state, SGDState, grads, params,
                                  weight_decay != 0)
        lr_now = _lr_at(lr, state.count)
        d = [gi + weight_decay * pi if weight_decay != 0 else gi
             for gi, pi in zip(g, p)]
        new_buf = None
        if momentum != 0:
            old = _leaves(f"{name}.update", ("params", "state"),
                          params_ref, state.momentum)
            if state.count == 0:
                buf = [di * 1.0 for di in d]          # a copy
            else:
                buf = [momentum * b + (1 - dampening) * di for b, di in zip(old, d)]
            d = ([di + momentum * b for di, b in zip(d, buf)] if nesterov else buf)
            new_buf = _unflatten_like(params_ref, buf)
        updates = _unflatten_like(params_ref, [-lr_now * di for di in d])
        return updates, SGDState(state.count + 1, new_buf)

    return Optimizer(init, update)


def _adam_family(name, lr, betas, eps, weight_decay, amsgrad, decoupled):
    _check_lr(name, lr)
    try:
        beta1, beta2 = (float(b) for b in betas)
    except (TypeError, ValueError):
        raise TypeError(f"{name}: betas must be a pair of floats, got {betas!r}") from None
    _check_range(name, "beta parameter at index 0", beta1, 0.0, 1.0)
    _check_range(name, "beta parameter at index 1", beta2, 0.0, 1.0)
    _check_range(name, "epsilon value", eps, 0.0)
    _check_range(name, "weight_decay value", weight_decay, 0.0)

    def init(params):
        _check_real(name + ".init", params)
        z = tree_map(_zeros, params)
        return AdamState(0, z, tree_map(_zeros, params),
                         tree_map(_zeros, params) if amsgrad else None)

    def update(grads, state, params=None):
        ref, g, p = _begin(name, state, AdamState, grads, params, weight_decay != 0)
        where = f"{name}.update"
        m_old = _leaves(where, ("params", "state"), ref, state.exp_avg)
        v_old = _leaves(where, ("params", "state"), ref,
                        state.exp_avg_sq)
        count = state.count + 1
        lr_now = _lr_at(lr, state.count)
        if weight_decay != 0 and not decoupled:
            g = [gi + weight_decay * pi for gi, pi in zip(g, p)]
        m = [mi + (1 - beta1) * (gi - mi) for mi, gi in zip(m_old, g)]
        v = [beta2 * vi + (1 - beta2) * (gi * gi) for vi, gi in zip(v_old, g)]
        step_size = lr_now / (1 - beta1 ** count)
        bc2_sqrt = math.sqrt(1 - beta2 ** count)
        if amsgrad:
            vmax_old = _leaves(where, ("params", "state"), ref,
                               state.max_exp_avg_sq)
            vmax = [np.maximum(a, b) for a, b in zip(vmax_old, v)]
            second = vmax
        else:
            vmax = None
            second = v
        updates = []
        for mi, si, pi in zip(m, second, p):
            u = -step_size * (mi / (np.sqrt(si) / bc2_sqrt + eps))
            if weight_decay != 0 and decoupled:
                u = u - (lr_now * weight_decay) * pi
            updates.append(u)
        new_state = AdamState(
            count, _unflatten_like(ref, m), _unflatten_like(ref, v),
            _unflatten_like(ref, vmax) if amsgrad else None)
        return _unflatten_like(ref, updates), new_state

    return Optimizer(init, update)


def adam(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False):
    """Adam (``torch.optim.Adam``): L2 ``weight_decay`` added to the gradient;
    bias-corrected moments; ``amsgrad`` keeps the running maximum of the
    second moment."""
    return _adam_family("adam", lr, betas, eps, weight_decay, amsgrad, False)


def adamw(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False):
    """AdamW (``torch.optim.AdamW``): Adam with decoupled weight decay, the
    update also shrinks each parameter by ``lr * weight_decay * p``."""
    return _adam_family("adamw", lr, betas, eps, weight_decay, amsgrad, True)


def rmsprop(lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
            centered=False):
    """RMSprop (``torch.optim.RMSprop``): ``sq = alpha * sq + (1 - alpha) g^2``;
    ``avg = sqrt(sq) + eps`` (centered: ``sqrt(sq - mean_g^2) + eps``); the
    update is ``-lr * g / avg``, or with momentum
    ``buf = momentum * buf + g / avg`` and ``-lr * buf``."""
    name = "rmsprop"
    _check_lr(name, lr)
    _check_range(name, "alpha value", alpha, 0.0)
    _check_range(name, "epsilon value", eps, 0.0)
    _check_range(name, "momentum value", momentum, 0.0)
    _check_range(name, "weight_decay value", weight_decay, 0.0)

    def init(params):
        _check_real(name + ".init", params)
        return RMSPropState(0, tree_map(_zeros, params),
                            tree_map(_zeros, params) if centered else None,
                            tree_map(_zeros, params) if momentum > 0 else None)

    def update(grads, state, params=None):
        ref, g, p = _begin(name, state, RMSPropState, grads, params, weight_decay != 0)
        where = f"{name}.update"
        mismatch = ("params", "state")
        lr_now = _lr_at(lr, state.count)
        if weight_decay != 0:
            g = [gi + weight_decay * pi for gi, pi in zip(g, p)]
        sq = [alpha * s + (1 - alpha) * (gi * gi)
              for s, gi in zip(_leaves(where, mismatch, ref, state.square_avg), g)]
        if centered:
            ga = [a + (1 - alpha) * (gi - a)
                  for a, gi in zip(_leaves(where, mismatch, ref, state.grad_avg), g)]
            avg = [np.sqrt(s - a * a) + eps for s, a in zip(sq, ga)]
        else:
            ga = None
            avg = [np.sqrt(s) + eps for s in sq]
        if momentum > 0:
            buf = [momentum * b + gi / a for b, gi, a in
                   zip(_leaves(where, mismatch, ref, state.momentum), g, avg)]
            updates = [-lr_now * b for b in buf]
        else:
            buf = None
            updates = [-lr_now * (gi / a) for gi, a in zip(g, avg)]
        new_state = RMSPropState(
            state.count + 1, _unflatten_like(ref, sq),
            _unflatten_like(ref, ga) if centered else None,
            _unflatten_like(ref, buf) if momentum > 0 else None)
        return _unflatten_like(ref, updates), new_state

    return Optimizer(init, update)


def adagrad(lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0,
            eps=1e-10):
    """Adagrad (``torch.optim.Adagrad``): ``sum += g^2``; the update is
    ``-lr_t * g / (sqrt(sum) + eps)`` with ``lr_t = lr / (1 + t * lr_decay)``
    at the ``t``-th update (from 0)."""
    name = "adagrad"
    _check_lr(name, lr)
    _check_range(name, "lr_decay value", lr_decay, 0.0)
    _check_range(name, "weight_decay value", weight_decay, 0.0)
    _check_range(name, "initial_accumulator_value value", initial_accumulator_value, 0.0)
    _check_range(name, "epsilon value", eps, 0.0)

    def init(params):
        _check_real(name + ".init", params)
        return AdagradState(0, tree_map(lambda x: _full(x, initial_accumulator_value),
                                        params))

    def update(grads, state, params=None):
        ref, g, p = _begin(name, state, AdagradState, grads, params, weight_decay != 0)
        where = f"{name}.update"
        if weight_decay != 0:
            g = [gi + weight_decay * pi for gi, pi in zip(g, p)]
        clr = _lr_at(lr, state.count) / (1 + state.count * lr_decay)
        acc = [s + gi * gi for s, gi in
               zip(_leaves(where, ("params", "state"), ref,
                           state.sum), g)]
        updates = [-clr * (gi / (np.sqrt(s) + eps)) for gi, s in zip(g, acc)]
        return (_unflatten_like(ref, updates),
                AdagradState(state.count + 1, _unflatten_like(ref, acc)))

    return Optimizer(init, update)


# --------------------------------------------------------------------------
# learning-rate schedules
# --------------------------------------------------------------------------

class _Schedule:
    """Base of the schedules: callable ``step -> lr`` with a readable repr."""

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


def _check_step(name, step):
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 0:
        raise ValueError(f"{name}: the step must be an integer >= 0, got {step!r}")


class StepDecay(_Schedule):
    """``lr * gamma ** (step // step_size)`` (``torch.optim.lr_scheduler.StepLR``)."""

    def __init__(self, lr, step_size, gamma=0.1):
        if isinstance(step_size, bool) or not isinstance(step_size, int) or step_size < 1:
            raise ValueError(f"step_decay: step_size must be an integer >= 1, got "
                             f"{step_size!r}")
        self.lr, self.step_size, self.gamma = float(lr), step_size, float(gamma)

    def __call__(self, step):
        _check_step("step_decay", step)
        return self.lr * self.gamma ** (int(step) // self.step_size)


class CosineDecay(_Schedule):
    """``eta_min + (lr - eta_min) * (1 + cos(pi * step / decay_steps)) / 2``
    for ``step <= decay_steps``, then ``eta_min``."""

    def __init__(self, lr, decay_steps, eta_min=0.0):
        if isinstance(decay_steps, bool) or not isinstance(decay_steps, int) or decay_steps < 1:
            raise ValueError(f"cosine_decay: decay_steps must be an integer >= 1, got "
                             f"{decay_steps!r}")
        self.lr, self.decay_steps, self.eta_min = float(lr), decay_steps, float(eta_min)

    def __call__(self, step):
        _check_step("cosine_decay", step)
        t = min(int(step), self.decay_steps)
        return self.eta_min + (self.lr - self.eta_min) * (
            1 + math.cos(math.pi * t / self.decay_steps)) / 2


class LinearWarmup(_Schedule):
    """Linear warm-up over ``warmup_steps`` steps to ``then``'s first value,
    then ``then`` shifted by ``warmup_steps``."""

    def __init__(self, then, warmup_steps, start_factor=1.0 / 3.0):
        if isinstance(warmup_steps, bool) or not isinstance(warmup_steps, int) or warmup_steps < 0:
            raise ValueError(f"linear_warmup: warmup_steps must be an integer >= 0, "
                             f"got {warmup_steps!r}")
        if not 0.0 <= start_factor <= 1.0:
            raise ValueError(f"linear_warmup: start_factor must be in [0, 1], got "
                             f"{start_factor!r}")
        if not callable(then):
            _check_lr("linear_warmup", then)
            then = float(then)
        self.then, self.warmup_steps, self.start_factor = then, warmup_steps, float(start_factor)

    def _after(self, step):
        return float(self.then(step)) if callable(self.then) else self.then

    def __call__(self, step):
        _check_step("linear_warmup", step)
        step = int(step)
        if step >= self.warmup_steps:
            return self._after(step - self.warmup_steps)
        sf = self.start_factor
        return self._after(0) * (sf + (1.0 - sf) * step / self.warmup_steps)


def step_decay(lr, step_size, gamma=0.1):
    """The schedule ``step -> lr * gamma ** (step // step_size)``, like
    ``torch.optim.lr_scheduler.StepLR`` stepped once per update."""
    return StepDecay(lr, step_size, gamma)


def cosine_decay(lr, decay_steps, eta_min=0.0):
    """Cosine annealing from ``lr`` (step 0) to ``eta_min`` (step
    ``decay_steps``), like ``torch.optim.lr_scheduler.CosineAnnealingLR`` with
    ``T_max=decay_steps``; unlike PyTorch's, which rises again after
    ``T_max``, it stays at ``eta_min`` from then on."""
    return CosineDecay(lr, decay_steps, eta_min)


def linear_warmup(then, warmup_steps, start_factor=1.0 / 3.0):
    """Warm-up then ``then`` (a float or a schedule): for ``step <
    warmup_steps`` the rate rises linearly from ``start_factor * peak`` to
    ``peak`` (``peak`` = ``then`` at its step 0; PyTorch ``LinearLR``'s
    formula and default ``start_factor``); from ``warmup_steps`` on it is
    ``then(step - warmup_steps)``, as ``SequentialLR([LinearLR(...,
    total_iters=warmup_steps), then], milestones=[warmup_steps])`` gives."""
    return LinearWarmup(then, warmup_steps, start_factor)


# --------------------------------------------------------------------------
# gradient clipping
# --------------------------------------------------------------------------

def _scale_leaf(x, c):
    if type(x) is float or type(x) is int:
        return float(x * c)
    return x * c                # c a Python float: the dtype of x is kept


def clip_grad_norm(grads, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """``(clipped, total_norm)``: ``total_norm`` is the ``norm_type``-norm of
    all the leaves of ``grads`` together (as if concatenated into one vector;
    ``norm_type`` a float > 0 or ``inf`` for the largest absolute value), a
    Python float; ``clipped`` is ``grads`` scaled by
    ``min(1, max_norm / (total_norm + 1e-6))``, new arrays of the same
    dtypes, like ``torch.nn.utils.clip_grad_norm_`` (which scales in place).
    A non-finite norm is a ``ValueError`` with ``error_if_nonfinite=True``;
    otherwise, as in PyTorch, the gradients are scaled anyway (to NaN)."""
    norm_type = float(norm_type)
    if not norm_type > 0:
        raise ValueError(f"clip_grad_norm: norm_type must be > 0 or inf, got {norm_type!r}")
    if not max_norm >= 0:
        raise ValueError(f"clip_grad_norm: max_norm must be >= 0, got {max_norm!r}")
    leaves, treedef = tree_flatten(grads)
    if not leaves:
        return tree_unflatten(treedef, []), 0.0
    arrays = [np.abs(np.asarray(x, dtype=np.result_type(x, np.float64)))
              for x in leaves]
    if math.isinf(norm_type):
        per_leaf = np.array([a.max() if a.size else 0.0 for a in arrays])
        total = float(per_leaf.max())
    else:
        per_leaf = np.array([np.sum(a ** norm_type) ** (1.0 / norm_type)
                             if norm_type != 2.0 else math.sqrt(np.sum(a * a))
                             for a in arrays])
        total = (float(np.sum(per_leaf ** norm_type) ** (1.0 / norm_type))
                 if norm_type != 2.0 else math.sqrt(float(np.sum(per_leaf * per_leaf))))
    if error_if_nonfinite and not math.isfinite(total):
        raise ValueError(f"clip_grad_norm: the total norm of order {norm_type} of "
                         f"the gradients is non-finite ({total}), so it cannot be "
                         f"clipped; pass error_if_nonfinite=False to scale anyway")
    coef = min(1.0, float(max_norm) / (total + 1e-6)) if not math.isnan(total) else math.nan
    return tree_unflatten(treedef, [_scale_leaf(x, coef) for x in leaves]), total


def clip_grad_value(grads, clip):
    """Every gradient element clamped to ``[-clip, clip]`` (new arrays of the
    same dtypes), like ``torch.nn.utils.clip_grad_value_``."""
    if not clip >= 0:
        raise ValueError(f"clip_grad_value: clip must be >= 0, got {clip!r}")
    c = float(clip)

    def leaf(x):
        if type(x) is float or type(x) is int:
            return float(min(max(x, -c), c))
        return np.clip(x, -c, c)
    return tree_map(leaf, grads)
