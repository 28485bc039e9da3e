"""Reference derivatives for the corpus in ``tests/corpus.py``.

Two independent references, both cached per case:

* central finite differences in float64 (fourth-order 4-point stencil, step
  ``1e-4 * max(1, |x_i|)`` per element, the full Jacobian by perturbing each
  input element; Hessians as finite differences of the finite-difference
  gradient with a larger outer step);
* HIPS autograd, run on a second copy of the corpus module loaded from its
  source with ``import numpy as np`` replaced by ``import autograd.numpy as
  np``.  Cases registered with ``autograd=False`` get ``None`` here for every
  position (only FD is used for them); ``test_reference_self_consistency``
  verifies the flag (autograd must fail on at least one differentiable
  position of such a case, e.g. ``x.dot(y)`` fails w.r.t. ``x`` only).

Everything is keyed by case name; the arguments come from
``Case.make_args()`` which is deterministic.
"""
import functools
import os
import re
import sys
import types
import warnings

import numpy as np

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

import corpus  # noqa: E402

FD_STEP = 1e-4          # relative step of the 4-point first-derivative stencil
FD_HESS_OUTER_STEP = 1e-3


# --------------------------------------------------------------------------
# finite differences
# --------------------------------------------------------------------------

def _as_f64(v):
    return np.asarray(v, dtype=np.float64)


def _with_element(args, p, i, delta):
    """``args`` with flat element ``i`` of argument ``p`` shifted by ``delta``."""
    x = args[p]
    if isinstance(x, np.ndarray):
        new = x.copy()
        new.reshape(-1)[i] += delta
    else:                                   # Python float (or np.float64)
        new = float(x) + delta
    return args[:p] + (new,) + args[p + 1:]


def fd_jacobian(fn, args, p, step=FD_STEP):
    """d fn(*args) / d args[p], shape ``out.shape + args[p].shape``."""
    args = tuple(args)
    x = _as_f64(args[p])
    out0 = _as_f64(fn(*args))
    J = np.empty(out0.shape + (x.size,), dtype=np.float64)
    for i in range(x.size):
        h = step * max(1.0, abs(float(x.reshape(-1)[i])))

        def f(d):
            return _as_f64(fn(*_with_element(args, p, i, d)))

        J[..., i] = (f(-2 * h) - 8.0 * f(-h) + 8.0 * f(h) - f(2 * h)) / (12.0 * h)
    return J.reshape(out0.shape + x.shape)


def fd_hessian(fn, args, p):
    """Hessian of a scalar ``fn`` w.r.t. ``args[p]``: ``arg.shape * 2``."""
    def grad_fd(*a):
        return fd_jacobian(fn, a, p)
    return fd_jacobian(grad_fd, args, p, step=FD_HESS_OUTER_STEP)


# --------------------------------------------------------------------------
# autograd: the corpus re-loaded with autograd.numpy
# --------------------------------------------------------------------------

_AUTOGRAD_MODULE_NAME = "_corpus_under_autograd"


@functools.lru_cache(maxsize=None)
def autograd_corpus():
    """The corpus module executed a second time with autograd.numpy as np."""
    import autograd.numpy  # noqa: F401  (fail loudly if autograd is missing)
    path = os.path.abspath(corpus.__file__)
    if path.endswith((".pyc", ".pyo")):
        path = path[:-1]
    with open(path, encoding="utf-8") as fh:
        src = fh.read()
    new_src, count = re.subn(r"^import numpy as np$", "import autograd.numpy as np",
                             src, flags=re.M)
    if count != 1:
        raise RuntimeError(f"expected exactly one 'import numpy as np' line in "
                           f"{path}, found {count}")
    mod = types.ModuleType(_AUTOGRAD_MODULE_NAME)
    mod.__file__ = path
    sys.modules[_AUTOGRAD_MODULE_NAME] = mod      # dataclasses need this
    exec(compile(new_src, path, "exec"), mod.__dict__)
    return mod


def autograd_fn(name):
    return autograd_corpus().CASES[name].fn


def autograd_jacobian_uncached(name, p):
    """autograd.jacobian of the case w.r.t. position ``p`` (may raise)."""
    import autograd
    args = corpus.CASES[name].make_args()
    with warnings.catch_warnings():
        # "Output seems independent of input": zero derivatives are fine.
        warnings.simplefilter("ignore", UserWarning)
        return _as_f64(autograd.jacobian(autograd_fn(name), p)(*args))


def autograd_hessian_uncached(name, p):
    import autograd
    args = corpus.CASES[name].make_args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return _as_f64(autograd.hessian(autograd_fn(name), p)(*args))


# --------------------------------------------------------------------------
# cached per-case references
# --------------------------------------------------------------------------

def _case(name):
    return corpus.CASES[name]


@functools.lru_cache(maxsize=None)
def primal(name):
    """Plain-NumPy value of the case at its registered arguments."""
    c = _case(name)
    return c.fn(*c.make_args())


@functools.lru_cache(maxsize=None)
def fd_jac(name, p):
    c = _case(name)
    return fd_jacobian(c.fn, c.make_args(), p)


@functools.lru_cache(maxsize=None)
def fd_hess(name, p):
    c = _case(name)
    return fd_hessian(c.fn, c.make_args(), p)


@functools.lru_cache(maxsize=None)
def ag_jac(name, p):
    """autograd Jacobian, or None for cases flagged ``autograd=False``."""
    if not _case(name).autograd:
        return None
    return autograd_jacobian_uncached(name, p)


@functools.lru_cache(maxsize=None)
def ag_hess(name, p):
    if not _case(name).autograd:
        return None
    return autograd_hessian_uncached(name, p)


def jacobians(name, p):
    """{'fd': J, 'autograd': J} (the latter only where autograd runs)."""
    refs = {"fd": fd_jac(name, p)}
    ag = ag_jac(name, p)
    if ag is not None:
        refs["autograd"] = ag
    return refs


def hessians(name, p):
    refs = {"fd": fd_hess(name, p)}
    ag = ag_hess(name, p)
    if ag is not None:
        refs["autograd"] = ag
    return refs


def expected_jvp(name, tangents):
    """{'fd': sum_p J_p . t_p, 'autograd': ...} for the given tangents.

    ``tangents[p]`` is ignored for non-differentiable positions.
    """
    c = _case(name)
    out_shape = np.shape(primal(name))
    result = {}
    for p in c.diff:
        t = _as_f64(tangents[p])
        for src, J in jacobians(name, p).items():
            term = np.tensordot(J, t, axes=t.ndim) if t.ndim else J * t
            result[src] = result.get(src, np.zeros(out_shape)) + term
    return result


def expected_vjp(name, cotangent):
    """{p: {'fd': ct . J_p, 'autograd': ...}} for differentiable positions."""
    c = _case(name)
    ct = _as_f64(cotangent)
    result = {}
    for p in c.diff:
        result[p] = {}
        for src, J in jacobians(name, p).items():
            result[p][src] = (np.tensordot(ct, J, axes=ct.ndim) if ct.ndim
                              else ct * J)
    return result
