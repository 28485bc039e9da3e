"""Checkpointing: trade recomputation for memory in reverse mode.

``checkpoint(helper)`` marks one of your functions: when a differentiated
function calls it, the backward sweep keeps only the helper's arguments
and runs the helper's forward sweep again when it needs the helper's
intermediate values (``torch.utils.checkpoint``, ``jax.checkpoint``)::

    @checkpoint
    def cell(h, x, W):
        return np.tanh(W @ h + x)

    def loss(W, h, xs):
        for t in range(len(xs)):
            h = cell(h, xs[t], W)     # only h is kept per step, not tanh(...)
        return np.sum(h)

Called outside differentiated code (or in forward mode) the helper runs as
it is.  Long loops are checkpointed automatically by
``grad(f, checkpoint="auto" | n_snapshots)`` (see ``runtime.Revolve``).
"""
import functools
import inspect

__all__ = ["checkpoint", "inner"]


def checkpoint(fn=None):
    """Mark ``fn`` (a Python function) to be recomputed in the backward
    sweep instead of keeping its intermediate values.  Usable as
    ``@checkpoint``, ``checkpoint(fn)`` or ``@checkpoint()``."""
    if fn is None:
        return checkpoint
    target = inner(fn)
    if inspect.ismethod(target) or not inspect.isfunction(target):
        raise TypeError(
            f"checkpoint: expected a Python function defined with 'def', got "
            f"{type(fn).__name__} {fn!r}; checkpoint the function and call it "
            f"from the method (or decorate the method in its class)")
    if target is not fn:                # checkpoint(checkpoint(f)): once is enough
        return fn

    @functools.wraps(target)
    def checkpointed(*args, **kwargs):
        return target(*args, **kwargs)

    checkpointed.__ad_checkpoint__ = target
    return checkpointed


def inner(obj):
    """The function a ``checkpoint`` wrapper runs, or ``obj`` itself."""
    while True:
        try:
            target = obj.__dict__.get("__ad_checkpoint__") if inspect.isfunction(obj) else None
        except Exception:
            return obj
        if target is None:
            return obj
        obj = target


def is_checkpointed(obj):
    return inspect.isfunction(obj) and "__ad_checkpoint__" in obj.__dict__
