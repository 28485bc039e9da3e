"""Check derivatives against central finite differences, from a test suite.

    from ad_compiler.testing import check_grads

    def test_my_model():
        check_grads(loss, (w, x, y), wrt=0)                # fwd and rev
        check_grads(loss, (w, x, y), wrt=0, order=2)       # and the hessian

``check_grads`` raises ``AssertionError`` with a readable report naming the
mode, the argument, the largest absolute and relative errors and the index
where the disagreement is worst, with both values there.

What is compared, for each argument ``i`` in ``wrt``:

* ``"rev"``: ``vjp(f, *args)`` pulled back with a random cotangent against
  the same contraction of the finite-difference Jacobian; for a scalar
  output also ``grad(f, wrt=i)``;
* ``"fwd"``: ``jvp(f, args, tangents)`` with a random tangent for argument
  ``i`` (None for the others) against the directional finite difference;
* ``order=2`` (scalar output only): ``hessian(f, wrt=i)`` against central
  differences of our own gradient ``grad(f, wrt=i)``.

Random directions come from a fixed seed, so failures reproduce.
"""
import numbers

import numpy as np

from ad_compiler import api

__all__ = ["check_grads", "numerical_jacobian"]


def _is_float(x):
    if isinstance(x, bool):
        return False
    if isinstance(x, (float, np.floating)):
        return True
    return isinstance(x, np.ndarray) and x.dtype.kind == "f"


def _name(f):
    return getattr(f, "__name__", None) or repr(f)


def _param_names(f):
    import inspect
    try:
        return [p.name for p in inspect.signature(f).parameters.values()]
    except (TypeError, ValueError):
        return []


def _with(args, i, value):
    out = list(args)
    out[i] = value
    return tuple(out)


def _perturbed(x, k, delta):
    if isinstance(x, np.ndarray):
        y = np.array(x, dtype=np.result_type(x, 0.0), copy=True, order="C")
        y.reshape(-1)[k] += delta
        return y
    return type(x)(x + delta) if isinstance(x, np.floating) else float(x) + delta


def numerical_jacobian(f, args, i, eps=1e-6):
    """Central-difference Jacobian of ``f(*args)`` in argument ``i``,
    shaped ``out.shape + args[i].shape``."""
    x = args[i]
    shape = np.shape(x)
    size = int(np.prod(shape)) if shape else 1
    out0 = np.asarray(f(*args), dtype=float)
    cols = []
    for k in range(size):
        hi = np.asarray(f(*_with(args, i, _perturbed(x, k, eps))), dtype=float)
        lo = np.asarray(f(*_with(args, i, _perturbed(x, k, -eps))), dtype=float)
        cols.append((hi - lo) / (2.0 * eps))
    if not cols:
        return np.zeros(out0.shape + shape)
    J = np.stack(cols, axis=-1)
    return J.reshape(out0.shape + shape)


def _compare(ad_value, fd_value, rtol, atol):
    """None if they agree, else a dict describing the worst disagreement."""
    if ad_value is None:
        ad_value = np.zeros(np.shape(fd_value))
    a = np.asarray(ad_value, dtype=float)
    b = np.asarray(fd_value, dtype=float)
    if a.shape != b.shape:
        if a.size == b.size and a.size == 1:
            a = a.reshape(b.shape)
        else:
            return {"shape": (a.shape, b.shape)}
    err = np.abs(a - b)
    tol = atol + rtol * np.abs(b)
    bad = ~(err <= tol)            # NaNs count as failures ...
    bad &= ~(np.isnan(a) & np.isnan(b))   # ... unless both sides are NaN
    if not np.any(bad):
        return None
    rel = err / np.maximum(np.abs(b), np.finfo(float).tiny)
    excess = np.where(np.isnan(err), np.inf, err - tol)
    worst = np.unravel_index(int(np.argmax(excess)), a.shape) if a.shape else ()
    return {"max_abs": float(np.nanmax(err)) if not np.all(np.isnan(err)) else float("nan"),
            "max_rel": float(np.nanmax(rel)) if not np.all(np.isnan(rel)) else float("nan"),
            "index": tuple(int(j) for j in worst), "ad": float(a[worst]),
            "fd": float(b[worst]), "count": int(np.sum(bad)), "size": int(a.size)}


def _format(what, fname, argdesc, info, rtol, atol):
    if "shape" in info:
        ad_shape, fd_shape = info["shape"]
        return (f"{what} of {fname} with respect to {argdesc}: shape {ad_shape} but "
                f"finite differences give shape {fd_shape}")
    return (f"{what} of {fname} with respect to {argdesc} disagrees with central finite "
            f"differences in {info['count']} of {info['size']} entries\n"
            f"    max abs error {info['max_abs']:.3e}, max rel error {info['max_rel']:.3e} "
            f"(rtol={rtol:g}, atol={atol:g})\n"
            f"    worst at index {info['index']}: AD = {info['ad']!r}, FD = {info['fd']!r}")


def _directions(rng, x):
    return rng.standard_normal(np.shape(x)) if np.shape(x) else float(rng.standard_normal())


def check_grads(f, args, modes=("fwd", "rev"), order=1, wrt=None, rtol=1e-5, atol=1e-6,
                eps=1e-6, seed=0):
    """Compare ad_compiler's derivatives of ``f`` at ``args`` with central
    finite differences; raise AssertionError listing every disagreement.

    f:      a function ad_compiler can compile (defined in a source file)
    args:   the positional arguments (a tuple; a single non-tuple value is
            taken as the only argument)
    modes:  any of "fwd" (jvp) and "rev" (grad / vjp)
    order:  1, or 2 to also check ``hessian`` (scalar-valued f only)
    wrt:    an argument position or a tuple of them; default: every float
            argument
    rtol, atol: the check is |AD - FD| <= atol + rtol * |FD|, entrywise
    eps:    the finite-difference step
    seed:   seed of the random directions (cotangents, tangents)
    """
    if not isinstance(args, tuple):
        args = (args,)
    if isinstance(modes, str):
        modes = (modes,)
    unknown = set(modes) - {"fwd", "rev"}
    if unknown:
        raise ValueError(f"check_grads: unknown mode(s) {sorted(unknown)}; use 'fwd' and/or 'rev'")
    if order not in (1, 2):
        raise ValueError(f"check_grads: order must be 1 or 2, got {order!r}")
    if wrt is None:
        wrt = tuple(i for i, a in enumerate(args) if _is_float(a))
        if not wrt:
            raise ValueError("check_grads: no float argument to differentiate; pass wrt=")
    elif isinstance(wrt, numbers.Integral):
        wrt = (int(wrt),)
    else:
        wrt = tuple(wrt)
    for i in wrt:
        if not 0 <= i < len(args) or not _is_float(args[i]):
            raise ValueError(f"check_grads: wrt={i} does not name a float argument of {_name(f)}")

    names = _param_names(f)
    fname = _name(f)
    rng = np.random.default_rng(seed)
    failures = []

    def argdesc(i):
        return f"argument {i} ('{names[i]}')" if i < len(names) else f"argument {i}"

    out = f(*args)
    out_arr = np.asarray(out, dtype=float)
    scalar = out_arr.size == 1
    if order == 2 and not scalar:
        raise ValueError(f"check_grads: order=2 needs a scalar-valued function; "
                         f"{fname} returns shape {out_arr.shape}")

    fd = {i: numerical_jacobian(f, args, i, eps) for i in wrt}
    nout = out_arr.ndim

    def contract(J, ct):
        # ct: out-shaped cotangent -> arg-shaped
        return np.tensordot(ct, J, axes=nout) if nout else ct * J

    if "rev" in modes:
        ct = _directions(rng, out_arr) if not scalar else np.ones(out_arr.shape)
        _, pull = api.vjp(f, *args)
        cts = pull(np.reshape(ct, np.shape(out)) if isinstance(out, np.ndarray) else float(ct))
        for i in wrt:
            info = _compare(cts[i], np.reshape(contract(fd[i], ct), np.shape(args[i])), rtol, atol)
            if info:
                failures.append(_format("rev-mode (vjp) derivative", fname, argdesc(i), info,
                                        rtol, atol))
        if scalar:
            grads = api.grad(f, wrt=tuple(wrt))(*args)
            for i, g in zip(wrt, grads):
                fd_g = np.reshape(fd[i], np.shape(args[i]))
                info = _compare(g, fd_g, rtol, atol)
                if info:
                    failures.append(_format("rev-mode (grad) gradient", fname, argdesc(i), info,
                                            rtol, atol))

    if "fwd" in modes:
        for i in wrt:
            t = _directions(rng, args[i])
            tangents = [None] * len(args)
            tangents[i] = t
            _, dout = api.jvp(f, args, tuple(tangents))
            J = fd[i]
            xnd = np.ndim(args[i])
            fd_t = np.tensordot(J, t, axes=xnd) if xnd else J * t
            info = _compare(dout, np.reshape(fd_t, out_arr.shape), rtol, atol)
            if info:
                failures.append(_format("fwd-mode (jvp) derivative", fname, argdesc(i), info,
                                        rtol, atol))

    if order == 2:
        for i in wrt:
            g = api.grad(f, wrt=i)

            def gi(*a):
                return np.asarray(g(*a), dtype=float)
            H = api.hessian(f, wrt=i)(*args)
            fd_h = numerical_jacobian(gi, args, i, eps)
            info = _compare(np.reshape(H, fd_h.shape) if np.size(H) == fd_h.size else H,
                            fd_h, rtol, atol)
            if info:
                failures.append(_format("hessian", fname, argdesc(i), info, rtol, atol))

    if failures:
        raise AssertionError("check_grads found {} disagreement(s):\n  ".format(len(failures))
                             + "\n  ".join(failures))
