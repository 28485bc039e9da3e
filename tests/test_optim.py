"""ad_compiler.optim against PyTorch, step by step on the same numbers.

Each optimizer runs 20 steps in float64 next to ``torch.optim.X`` (single
tensor implementation, ``foreach=False``) on a pytree of parameters; the
gradient at each step is a fixed random vector plus a term that depends on
the current parameters (so a wrong step changes every later gradient); the
parameters must agree to 1e-12 after every step.  Learning-rate schedules
are compared with ``torch.optim.lr_scheduler`` (rate and trajectory), the
clipping functions with ``torch.nn.utils.clip_grad_norm_`` /
``clip_grad_value_``.  The PyTorch tests skip without torch; the rest
(dtypes, no mutation, errors) always run.
"""
import copy
import math
import warnings
from collections import namedtuple

import numpy as np
import pytest

from ad_compiler import optim
from ad_compiler.tree import tree_flatten, tree_leaves, tree_map, tree_unflatten

N_STEPS = 20
TOL = 1e-12

Params = namedtuple("Params", "w b")


def make_params():
    rng = np.random.default_rng(0)
    return {"layer": Params(rng.normal(size=(3, 4)), rng.normal(size=4)),
            "scale": 0.7,
            "extra": [rng.normal(size=2)]}


def make_grad_fn():
    rng = np.random.default_rng(1)
    noise = [[rng.normal(size=leaf.shape if hasattr(leaf, "shape") else ())
              for leaf in tree_leaves(make_params())] for _ in range(N_STEPS)]

    def grads(step, leaves):
        """The gradient at ``step`` for parameters with these leaves (numpy
        arrays or 0-d); a leaf of the same shape each."""
        return [n + 0.5 * np.sin(np.asarray(p)) for n, p in zip(noise[step], leaves)]
    return grads


def run_ours(opt, n_steps=N_STEPS):
    params = make_params()
    grads_at = make_grad_fn()
    _, treedef = tree_flatten(params)
    state = opt.init(params)
    history = []
    for k in range(n_steps):
        leaves = tree_leaves(params)
        g = grads_at(k, leaves)
        g = [float(x) if isinstance(p, float) else x for x, p in zip(g, leaves)]
        updates, state = opt.update(tree_unflatten(treedef, g), state, params)
        params = optim.apply_updates(params, updates)
        history.append([np.array(x, dtype=float) for x in tree_leaves(params)])
    return history, params


def run_torch(make_opt, make_sched=None, n_steps=N_STEPS):
    torch = pytest.importorskip("torch")
    tensors = [torch.tensor(np.asarray(x, dtype=np.float64))
               for x in tree_leaves(make_params())]
    for t in tensors:
        t.requires_grad_(True)
    opt = make_opt(tensors)
    sched = make_sched(opt) if make_sched else None
    grads_at = make_grad_fn()
    history, lrs = [], []
    for k in range(n_steps):
        g = grads_at(k, [t.detach().numpy() for t in tensors])
        for t, gi in zip(tensors, g):
            t.grad = torch.tensor(np.asarray(gi, dtype=np.float64))
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        if sched is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                sched.step()
        history.append([t.detach().numpy().copy() for t in tensors])
    return history, lrs


def assert_same_trajectory(ours, theirs, tol=TOL):
    for k, (a, b) in enumerate(zip(ours, theirs)):
        for i, (x, y) in enumerate(zip(a, b)):
            err = np.max(np.abs(x - y)) if np.size(x) else 0.0
            assert err <= tol * max(1.0, np.max(np.abs(y))), \
                f"step {k + 1}, leaf {i}: max |ours - torch| = {err:.3g}"


SGD_CASES = [
    dict(lr=0.05),
    dict(lr=0.05, momentum=0.9),
    dict(lr=0.05, momentum=0.9, dampening=0.3),
    dict(lr=0.05, momentum=0.9, nesterov=True),
    dict(lr=0.02, momentum=0.5, weight_decay=0.1),
    dict(lr=0.02, momentum=0.8, weight_decay=0.05, nesterov=True),
]
ADAM_CASES = [
    dict(),
    dict(lr=0.05, betas=(0.5, 0.9)),
    dict(lr=0.01, weight_decay=0.1),
    dict(lr=0.02, amsgrad=True),
    dict(lr=0.03, eps=1e-3, weight_decay=0.05, amsgrad=True),
]
ADAMW_CASES = [
    dict(),
    dict(lr=0.05, weight_decay=0.3),
    dict(lr=0.02, betas=(0.8, 0.95), amsgrad=True),
]
RMSPROP_CASES = [
    dict(),
    dict(lr=0.01, centered=True),
    dict(lr=0.005, momentum=0.7),
    dict(lr=0.005, momentum=0.5, centered=True, weight_decay=0.1),
    dict(lr=0.02, alpha=0.5, eps=1e-4),
]
ADAGRAD_CASES = [
    dict(),
    dict(lr=0.1, lr_decay=0.1),
    dict(lr=0.05, initial_accumulator_value=0.5),
    dict(lr=0.05, weight_decay=0.2, eps=1e-3),
]


def _torch_optim(name, kw):
    def make(tensors):
        import torch
        cls = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam,
               "adamw": torch.optim.AdamW, "rmsprop": torch.optim.RMSprop,
               "adagrad": torch.optim.Adagrad}[name]
        kwargs = dict(kw)
        if name == "sgd" and "lr" not in kwargs:
            kwargs["lr"] = 1e-3
        return cls(tensors, foreach=False, **kwargs)
    return make


@pytest.mark.parametrize("name, kw", (
    [("sgd", kw) for kw in SGD_CASES] + [("adam", kw) for kw in ADAM_CASES]
    + [("adamw", kw) for kw in ADAMW_CASES]
    + [("rmsprop", kw) for kw in RMSPROP_CASES]
    + [("adagrad", kw) for kw in ADAGRAD_CASES]),
    ids=lambda v: v if isinstance(v, str) else ",".join(f"{k}={x}" for k, x in v.items()))
def test_optimizer_matches_torch(name, kw):
    theirs, _ = run_torch(_torch_optim(name, kw))
    ours, _ = run_ours(getattr(optim, name)(**kw))
    assert_same_trajectory(ours, theirs)


# --------------------------------------------------------------------------
# schedules
# --------------------------------------------------------------------------

def _sched_cases():
    import torch.optim.lr_scheduler as S
    return [
        ("step", lambda o: S.StepLR(o, step_size=3, gamma=0.5),
         optim.step_decay(0.1, step_size=3, gamma=0.5)),
        ("cosine", lambda o: S.CosineAnnealingLR(o, T_max=N_STEPS, eta_min=0.001),
         optim.cosine_decay(0.1, N_STEPS, eta_min=0.001)),
        ("warmup+cosine", lambda o: S.SequentialLR(
            o, [S.LinearLR(o, start_factor=0.25, total_iters=5),
                S.CosineAnnealingLR(o, T_max=N_STEPS - 5)], milestones=[5]),
         optim.linear_warmup(optim.cosine_decay(0.1, N_STEPS - 5), 5,
                             start_factor=0.25)),
        ("warmup default", lambda o: S.LinearLR(o, total_iters=7),
         optim.linear_warmup(0.1, 7)),
        ("warmup+step", lambda o: S.SequentialLR(
            o, [S.LinearLR(o, start_factor=0.5, total_iters=4),
                S.StepLR(o, step_size=5, gamma=0.3)], milestones=[4]),
         optim.linear_warmup(optim.step_decay(0.1, 5, 0.3), 4, start_factor=0.5)),
    ]


@pytest.mark.parametrize("index", range(5))
@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_schedule_matches_torch(index, name):
    pytest.importorskip("torch")
    label, make_sched, schedule = _sched_cases()[index]
    kw = {"lr": 0.1, "momentum": 0.9} if name == "sgd" else {"lr": 0.1}
    theirs, lrs = run_torch(_torch_optim(name, kw), make_sched)
    ours_lr = [schedule(k) for k in range(N_STEPS)]
    np.testing.assert_allclose(ours_lr, lrs, rtol=1e-13, atol=1e-15, err_msg=label)
    ours, _ = run_ours(getattr(optim, name)(**dict(kw, lr=schedule)))
    assert_same_trajectory(ours, theirs)


def test_cosine_decay_stays_at_eta_min_after_decay_steps():
    s = optim.cosine_decay(1.0, 10, eta_min=0.1)
    assert s(0) == 1.0
    assert s(5) == pytest.approx(0.55, abs=1e-15)
    assert s(10) == pytest.approx(0.1, abs=1e-15)
    assert s(11) == s(50) == s(10)


def test_schedule_arguments():
    with pytest.raises(ValueError, match="step_size"):
        optim.step_decay(0.1, 0)
    with pytest.raises(ValueError, match="decay_steps"):
        optim.cosine_decay(0.1, 0)
    with pytest.raises(ValueError, match="start_factor"):
        optim.linear_warmup(0.1, 3, start_factor=2.0)
    with pytest.raises(ValueError, match="step"):
        optim.step_decay(0.1, 2)(-1)
    assert optim.linear_warmup(0.1, 0)(0) == 0.1
    assert "CosineDecay" in repr(optim.linear_warmup(optim.cosine_decay(0.1, 5), 2))


# --------------------------------------------------------------------------
# clipping
# --------------------------------------------------------------------------

def _grads():
    rng = np.random.default_rng(3)
    return {"a": rng.normal(size=(3, 4)), "b": (rng.normal(size=5), -1.5),
            "c": np.zeros(0), "d": None}


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.5, math.inf, 0.5])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    torch = pytest.importorskip("torch")
    g = _grads()
    before = copy.deepcopy(g)
    clipped, total = optim.clip_grad_norm(g, max_norm, norm_type=norm_type)
    tensors = [torch.tensor(np.asarray(x, dtype=np.float64), requires_grad=True)
               for x in tree_leaves(g)]
    for t, x in zip(tensors, tree_leaves(g)):
        t.grad = torch.tensor(np.asarray(x, dtype=np.float64))
    # (PyTorch refuses the inf-norm of an empty tensor; it adds nothing to
    # any norm, ours counts it as 0)
    t_total = torch.nn.utils.clip_grad_norm_([t for t in tensors if t.numel()],
                                             max_norm, norm_type=norm_type,
                                             foreach=False)
    assert isinstance(total, float)
    assert total == pytest.approx(float(t_total), rel=1e-13)
    for ours, t in zip(tree_leaves(clipped), tensors):
        np.testing.assert_allclose(ours, t.grad.numpy(), rtol=1e-13, atol=1e-15)
    assert type(clipped["b"][1]) is float and clipped["d"] is None
    assert (total > max_norm) == (not np.allclose(clipped["a"], g["a"]))
    # nothing modified, the result shares no array with the input
    tree_map(np.testing.assert_array_equal, g, before)
    assert clipped["a"] is not g["a"]


def test_clip_grad_norm_is_the_norm_of_the_concatenation():
    g = _grads()
    flat = np.concatenate([np.ravel(x) for x in tree_leaves(g)])
    for p in (1.0, 2.0, 3.0):
        assert optim.clip_grad_norm(g, 1.0, p)[1] == pytest.approx(
            np.sum(np.abs(flat) ** p) ** (1 / p), rel=1e-13)
    assert optim.clip_grad_norm(g, 1.0, np.inf)[1] == np.max(np.abs(flat))
    clipped, total = optim.clip_grad_norm(g, 1.0)
    after = np.concatenate([np.ravel(x) for x in tree_leaves(clipped)])
    assert np.linalg.norm(after) == pytest.approx(total / (total + 1e-6), rel=1e-12)


def test_clip_grad_norm_nonfinite_and_empty():
    with pytest.raises(ValueError, match="non-finite"):
        optim.clip_grad_norm({"a": np.array([1.0, np.inf])}, 1.0, error_if_nonfinite=True)
    clipped, total = optim.clip_grad_norm({"a": np.array([1.0, np.nan])}, 1.0)
    assert math.isnan(total) and np.all(np.isnan(clipped["a"]))
    assert optim.clip_grad_norm({}, 1.0) == ({}, 0.0)
    assert optim.clip_grad_norm([None], 1.0) == ([None], 0.0)
    with pytest.raises(ValueError, match="norm_type"):
        optim.clip_grad_norm([np.ones(2)], 1.0, norm_type=0)


def test_clip_grad_norm_keeps_float32():
    g = [np.ones(3, dtype=np.float32) * 10]
    clipped, total = optim.clip_grad_norm(g, 1.0)
    assert clipped[0].dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(clipped[0]), 1.0, rtol=1e-6)


@pytest.mark.parametrize("clip", [0.0, 0.3, 10.0])
def test_clip_grad_value_matches_torch(clip):
    torch = pytest.importorskip("torch")
    g = _grads()
    before = copy.deepcopy(g)
    clipped = optim.clip_grad_value(g, clip)
    tensors = [torch.tensor(np.asarray(x, dtype=np.float64), requires_grad=True)
               for x in tree_leaves(g)]
    for t, x in zip(tensors, tree_leaves(g)):
        t.grad = torch.tensor(np.asarray(x, dtype=np.float64))
    torch.nn.utils.clip_grad_value_(tensors, clip, foreach=False)
    for ours, t in zip(tree_leaves(clipped), tensors):
        np.testing.assert_array_equal(ours, t.grad.numpy())
    tree_map(np.testing.assert_array_equal, g, before)
    assert type(clipped["b"][1]) is float


# --------------------------------------------------------------------------
# contract: no mutation, structure and dtypes kept, errors
# --------------------------------------------------------------------------

ALL = [optim.sgd(0.1, momentum=0.9, weight_decay=0.1), optim.adam(0.1, amsgrad=True),
       optim.adamw(0.1), optim.rmsprop(0.1, momentum=0.5, centered=True),
       optim.adagrad(0.1)]


@pytest.mark.parametrize("opt", ALL, ids=["sgd", "adam", "adamw", "rmsprop", "adagrad"])
def test_no_mutation_and_structure_kept(opt):
    params = make_params()
    grads = tree_map(lambda x: x * 0.5 + 0.1, params)
    p0, g0 = copy.deepcopy(params), copy.deepcopy(grads)
    state = opt.init(params)
    s0 = copy.deepcopy(state)
    updates, state2 = opt.update(grads, state, params)
    new = optim.apply_updates(params, updates)
    for a, b in ((params, p0), (grads, g0), (state, s0)):
        tree_map(np.testing.assert_array_equal, a, b)
    assert type(new["layer"]) is Params and type(updates["layer"]) is Params
    assert type(new["scale"]) is float and isinstance(new["extra"], list)
    assert tree_flatten(new)[1] == tree_flatten(params)[1]
    assert state2.count == 1 and type(state2) is type(state)
    # a second update from the same old state gives the same result (pure)
    again, _ = opt.update(grads, state, params)
    tree_map(np.testing.assert_array_equal, again, updates)


@pytest.mark.parametrize("opt", ALL, ids=["sgd", "adam", "adamw", "rmsprop", "adagrad"])
def test_float32_params_stay_float32(opt):
    params = {"w": np.ones(3, dtype=np.float32)}
    state = opt.init(params)
    for _ in range(3):
        updates, state = opt.update({"w": np.full(3, 0.5, np.float32)}, state, params)
        assert updates["w"].dtype == np.float32
        params = optim.apply_updates(params, updates)
    assert params["w"].dtype == np.float32


def test_dict_order_of_grads_does_not_matter():
    params = {"a": np.ones(2), "b": np.zeros(3)}
    grads = {"b": np.ones(3), "a": np.full(2, 2.0)}
    opt = optim.sgd(0.5)
    updates, _ = opt.update(grads, opt.init(params), params)
    assert list(updates) == ["a", "b"]
    np.testing.assert_array_equal(updates["a"], [-1.0, -1.0])


def test_errors():
    opt = optim.adam(0.1)
    params = {"a": np.ones(2)}
    state = opt.init(params)
    with pytest.raises(ValueError, match=r"grads and params have different structures"):
        opt.update({"b": np.ones(2)}, state, params)
    with pytest.raises(ValueError, match=r"at \['a'\], params has a leaf \(ndarray\), "
                       r"grads has a list of length 1"):
        opt.update({"a": [np.ones(2)]}, state, params)
    with pytest.raises(ValueError, match=r"state and params have different structures"):
        opt.update({"b": np.ones(2)}, state, {"b": np.ones(2)})
    with pytest.raises(TypeError, match="AdamState"):
        opt.update({"a": np.ones(2)}, optim.sgd().init(params), params)
    with pytest.raises(ValueError, match="needs the parameters"):
        optim.adamw().update({"a": np.ones(2)}, optim.adamw().init(params))
    updates, _ = opt.update({"a": np.ones(2)}, state)      # params optional otherwise
    assert updates["a"].shape == (2,)
    with pytest.raises(ValueError, match="different structures"):
        optim.apply_updates(params, [np.ones(2)])
    with pytest.raises(ValueError, match="nesterov"):
        optim.sgd(0.1, nesterov=True)
    with pytest.raises(ValueError, match="learning rate"):
        optim.adam(-1.0)
    with pytest.raises(TypeError, match="lr must be"):
        optim.sgd("0.1")
    with pytest.raises(ValueError, match="beta"):
        optim.adam(betas=(0.9, 1.0))
    with pytest.raises(TypeError, match="real floating-point parameters"):
        optim.adam().init({"a": np.ones(2, dtype=complex)})
    with pytest.raises(TypeError, match="real floating-point parameters"):
        optim.sgd().init({"n": 3})
    with pytest.raises(TypeError, match=r"parameter at \[.p.\]\.b has dtype int"):
        optim.adam().init({"p": Params(np.ones(2), 3)})


@pytest.mark.parametrize("opt, steps", [
    (optim.sgd(0.1, momentum=0.9, nesterov=True), 300),
    (optim.adam(optim.cosine_decay(0.1, 2000, eta_min=1e-3)), 2000),
    (optim.rmsprop(optim.step_decay(0.01, 300, 0.3)), 1500),
    (optim.adagrad(0.5), 1500),
], ids=["sgd", "adam", "rmsprop", "adagrad"])
def test_training_with_grad_reaches_the_least_squares_solution(opt, steps):
    """ad_compiler.grad + an optimizer on a dict/list of parameters converge
    to the least-squares solution given by np.linalg.lstsq."""
    from ad_compiler import grad
    rng = np.random.default_rng(5)
    X = rng.normal(size=(40, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.3 + 0.1 * rng.normal(size=40)

    def loss(p, X, y):
        r = X @ p["w"][0] + p["b"] - y
        return np.mean(r * r)

    dloss = grad(loss)
    params = {"w": [np.zeros(3)], "b": 0.0}
    state = opt.init(params)
    for _ in range(steps):
        updates, state = opt.update(dloss(params, X, y), state, params)
        params = optim.apply_updates(params, updates)
    exact = np.linalg.lstsq(np.c_[X, np.ones(40)], y, rcond=None)[0]
    np.testing.assert_allclose(np.r_[params["w"][0], params["b"]], exact, atol=1e-3)
    assert type(params["b"]) is float
