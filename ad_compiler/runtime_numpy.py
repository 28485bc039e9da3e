"""Helpers that the NumPy rules (``rules/numpy_more.py``, ``rules/linalg.py``,
``rules/fft.py``) call; generated code receives this module as ``adn``.

NumPy is the only dependency.  Conventions:

* a helper named ``*_adjoint`` / ``*_vjp`` is linear in its first argument
  (the cotangent); its other arguments are shapes, indices or primal values;
* every helper that reverse-mode templates call has a forward rule (so that
  ``hessian``, forward over reverse, can differentiate the gradient code) or
  is declared non-differentiable (it computes masks, indices or shapes);
* derivatives keep the dtype of the primal (float32 stays float32);
* complex values follow autograd's convention: the adjoint of ``z`` is
  ``dL/dRe(z) - 1j * dL/dIm(z)``, so holomorphic rules need no conjugation.
"""
import inspect

import numpy as np

from ad_compiler import runtime as _rt

# --------------------------------------------------------------------------
# small utilities
# --------------------------------------------------------------------------


def _float_dtype(x):
    dt = np.result_type(x)
    return dt if dt.kind in "fc" else np.dtype(np.float64)


def _zeros(x):
    """Float zeros shaped like ``x``."""
    return np.zeros(np.shape(x), dtype=_float_dtype(x))


def _norm_axis(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (tuple, list)):
        return tuple(int(a) % ndim for a in axis)
    return (int(axis) % ndim,)


def _dense(t, like):
    """A tangent/cotangent that may be a known zero (0.0) as a full array."""
    if t is None or (np.ndim(t) == 0 and np.ndim(like) != 0 and not np.any(t)):
        return _zeros(like)
    return t


match_complex = _rt.match_complex   # (defined in the runtime: dot_vjp_a uses it)


def cot(g, z, i):
    """Component ``i`` of the cotangent ``g`` of a tuple/list result ``z``
    (zeros where there is none)."""
    if g is None:
        return _zeros(z[i])
    gi = g[i]
    return _zeros(z[i]) if gi is None else gi


def zeros_f(x):
    """Float zeros shaped like ``x`` (a tangent for an integer result)."""
    return _zeros(x)


# --------------------------------------------------------------------------
# shapes
# --------------------------------------------------------------------------


def rollaxis_dest(axis, start, ndim):
    """Where ``np.rollaxis(a, axis, start)`` puts ``axis`` (for moveaxis)."""
    axis = axis % ndim
    if start < 0:
        start += ndim
    return start - 1 if start > axis else start


def fit(x, like):
    """Truncate or zero-pad ``x`` (same ndim as ``like``) to like's shape."""
    shape = np.shape(like)
    if np.shape(x) == shape:
        return x
    x = x[tuple(slice(0, n) for n in shape)]
    pads = [(0, max(0, n - m)) for n, m in zip(shape, np.shape(x))]
    if any(p[1] for p in pads):
        x = np.pad(x, pads)
    return x


def fit_axis(x, n, axis):
    """Truncate or zero-pad ``x`` along ``axis`` to length ``n``."""
    axis = axis % np.ndim(x)
    m = np.shape(x)[axis]
    if m == n:
        return x
    if m > n:
        idx = [slice(None)] * np.ndim(x)
        idx[axis] = slice(0, n)
        return x[tuple(idx)]
    pads = [(0, 0)] * np.ndim(x)
    pads[axis] = (0, n - m)
    return np.pad(x, pads)


def diag_adjoint(g, shape, k=0):
    """Adjoint of ``np.diag(v, k)`` with ``v`` of shape ``shape``."""
    if len(shape) == 1:
        return np.diag(g, k)
    out = np.zeros(shape, dtype=np.result_type(g))
    n = np.shape(g)[0]
    i = np.arange(n)
    if k >= 0:
        out[i, i + k] = g
    else:
        out[i - k, i] = g
    return out


def diagonal_adjoint(g, shape, offset=0, axis1=0, axis2=1):
    """Adjoint of ``np.diagonal``: zeros of ``shape`` with ``g`` on the diagonal."""
    g = np.asarray(g)
    nd = len(shape)
    a1, a2 = axis1 % nd, axis2 % nd
    out = np.zeros(shape, dtype=_float_dtype(g))
    moved = np.moveaxis(out, (a1, a2), (-2, -1))
    n = g.shape[-1]
    i = np.arange(n)
    if offset >= 0:
        moved[..., i, i + offset] = g
    else:
        moved[..., i - offset, i] = g
    return out


def diagonal_len(shape, offset, axis1, axis2):
    nd = len(shape)
    n1, n2 = shape[axis1 % nd], shape[axis2 % nd]
    if offset >= 0:
        return max(0, min(n1, n2 - offset))
    return max(0, min(n1 + offset, n2))


def trace_adjoint(g, shape, offset=0, axis1=0, axis2=1):
    """Adjoint of ``np.trace``."""
    g = np.asarray(g)
    n = diagonal_len(shape, offset, axis1, axis2)
    return diagonal_adjoint(np.broadcast_to(g[..., None], g.shape + (n,)), shape,
                            offset, axis1, axis2)


def diff_adjoint(g, n=1, axis=-1):
    """Adjoint of ``np.diff(a, n, axis)``."""
    g = np.asarray(g)
    for _ in range(n):
        shape = list(g.shape)
        shape[axis] = 1
        z = np.zeros(shape, dtype=g.dtype)
        g = np.concatenate([z, g], axis=axis) - np.concatenate([g, z], axis=axis)
    return g


def _gradient_axes(axis, ndim):
    if axis is None:
        return list(range(ndim))
    if isinstance(axis, (tuple, list)):
        return [a % ndim for a in axis]
    return [axis % ndim]


def gradient_adjoint(g, shape, axis=None, edge_order=1):
    """Adjoint of ``np.gradient(f, axis=axis, edge_order=edge_order)``
    (unit spacing); ``g`` is one array or a list (None = zero)."""
    axes = _gradient_axes(axis, len(shape))
    gs = list(g) if isinstance(g, (list, tuple)) else [g]
    out = None
    for a, gi in zip(axes, gs):
        if gi is None:
            continue
        G = np.moveaxis(np.asarray(gi), a, 0)
        r = np.zeros(G.shape, dtype=_float_dtype(G))
        r[2:] += 0.5 * G[1:-1]
        r[:-2] -= 0.5 * G[1:-1]
        if edge_order == 1:
            r[1] += G[0]
            r[0] -= G[0]
            r[-1] += G[-1]
            r[-2] -= G[-1]
        else:
            r[0] -= 1.5 * G[0]
            r[1] += 2.0 * G[0]
            r[2] -= 0.5 * G[0]
            r[-1] += 1.5 * G[-1]
            r[-2] -= 2.0 * G[-1]
            r[-3] += 0.5 * G[-1]
        r = np.moveaxis(r, 0, a)
        out = r if out is None else out + r
    if out is None:
        return np.zeros(shape)
    return out


def repeat_adjoint(g, shape, repeats, axis=None):
    """Adjoint of ``np.repeat``."""
    g = np.asarray(g)
    if axis is None:
        size = int(np.prod(shape))
        if np.ndim(repeats) == 0:
            return g.reshape(size, int(repeats)).sum(axis=1).reshape(shape)
        out = np.zeros(size, dtype=g.dtype)
        np.add.at(out, np.repeat(np.arange(size), repeats), g)
        return out.reshape(shape)
    axis = axis % len(shape)
    n = shape[axis]
    gm = np.moveaxis(g, axis, 0)
    if np.ndim(repeats) == 0 or np.size(repeats) == 1:
        r = int(np.ravel(repeats)[0])
        out = gm.reshape((n, r) + gm.shape[1:]).sum(axis=1)
    else:
        out = np.zeros((n,) + gm.shape[1:], dtype=g.dtype)
        np.add.at(out, np.repeat(np.arange(n), repeats), gm)
    return np.moveaxis(out, 0, axis)


def tile_adjoint(g, shape, reps):
    """Adjoint of ``np.tile``."""
    g = np.asarray(g)
    reps = (int(reps),) if np.ndim(reps) == 0 else tuple(int(r) for r in reps)
    d = max(len(reps), len(shape))
    ashape = (1,) * (d - len(shape)) + tuple(shape)
    reps = (1,) * (d - len(reps)) + reps
    g = g.reshape(sum(((r, s) for r, s in zip(reps, ashape)), ()))
    g = g.sum(axis=tuple(range(0, 2 * d, 2)))
    return g.reshape(shape)


def _pad_pairs(pad_width, ndim):
    """np.pad's pad_width as (ndim, 2) (before, after) pairs."""
    return np.broadcast_to(np.asarray(pad_width, dtype=int), (ndim, 2))


_PAD_INDEX_MODES = ("edge", "reflect", "symmetric", "wrap")


def pad_adjoint(g, shape, pad_width, mode="constant"):
    """Adjoint of ``np.pad`` for the modes that are linear in the array."""
    g = np.asarray(g)
    if mode == "constant":
        pw = _pad_pairs(pad_width, len(shape))
        return g[tuple(slice(int(b), int(b) + s) for (b, _), s in zip(pw, shape))]
    if mode in _PAD_INDEX_MODES:
        size = int(np.prod(shape))
        idx = np.pad(np.arange(size).reshape(shape), pad_width, mode=mode)
        out = np.zeros(size, dtype=g.dtype)
        np.add.at(out, idx.ravel(), g.ravel())
        return out.reshape(shape)
    raise NotImplementedError(f"derivative of np.pad with mode={mode!r} (supported: "
                              f"'constant', {', '.join(map(repr, _PAD_INDEX_MODES))})")


def pad_mask(array, pad_width):
    """1.0 where ``np.pad`` writes its constant, 0.0 on the copied array."""
    return np.pad(np.zeros(np.shape(array), dtype=_float_dtype(array)), pad_width,
                  constant_values=1.0)


def unpermute(g, perm, axis, shape):
    """Adjoint of ``np.take_along_axis(a, perm, axis)`` for a permutation."""
    g = np.asarray(g)
    if axis is None:
        out = np.zeros(int(np.prod(shape)), dtype=g.dtype)
        out[np.ravel(perm)] = np.ravel(g)
        return out.reshape(shape)
    out = np.zeros(shape, dtype=g.dtype)
    np.put_along_axis(out, perm, g, axis)
    return out


def sort_perm(a, axis=-1):
    """The permutation ``np.sort`` applies (flattened for axis=None)."""
    return np.argsort(a, axis=axis, kind="stable")


def take_adjoint(g, shape, indices, axis=None, mode="raise"):
    """Adjoint of ``np.take`` (repeated indices accumulate)."""
    g = np.asarray(g)
    indices = np.asarray(indices)
    n = int(np.prod(shape)) if axis is None else shape[axis % len(shape)]
    if mode == "clip":
        indices = np.clip(indices, 0, n - 1)
    else:
        indices = indices % n
    if axis is None:
        out = np.zeros(n, dtype=g.dtype)
        np.add.at(out, indices, g)
        return out.reshape(shape)
    axis = axis % len(shape)
    out = np.zeros(shape, dtype=g.dtype)
    view = np.moveaxis(out, axis, 0)
    k = indices.ndim
    gm = np.moveaxis(g, list(range(axis, axis + k)), list(range(k)))
    np.add.at(view, indices, gm)
    return out


def take_along_axis_adjoint(g, shape, indices, axis=-1):
    """Adjoint of ``np.take_along_axis`` (repeated indices accumulate)."""
    g = np.asarray(g)
    indices = np.asarray(indices)
    if axis is None:
        n = int(np.prod(shape))
        out = np.zeros(n, dtype=g.dtype)
        np.add.at(out, indices % n, g)
        return out.reshape(shape)
    nd = len(shape)
    axis = axis % nd
    res = g.shape
    idx = []
    for dim in range(nd):
        if dim == axis:
            idx.append(indices % shape[axis])
            continue
        view = [1] * nd
        view[dim] = res[dim]
        rng = np.arange(res[dim]) if shape[dim] == res[dim] else np.zeros(res[dim], dtype=int)
        idx.append(rng.reshape(view))
    out = np.zeros(shape, dtype=g.dtype)
    np.add.at(out, tuple(idx), g)
    return out


def split_adjoint(g, z, axis):
    """Adjoint of ``np.split``-like calls: the pieces' cotangents concatenated
    (missing pieces are zeros).  ``axis="h"`` means hsplit's axis."""
    if axis == "h":
        axis = 1 if np.ndim(z[0]) > 1 else 0
    parts = [cot(g, z, i) for i in range(len(z))]
    return np.concatenate(parts, axis=axis)


def _stack_axis_shapes(arrays, kind):
    if kind == "h":
        shapes = [np.shape(np.atleast_1d(np.empty(np.shape(a), dtype=bool))) for a in arrays]
        axis = 0 if len(shapes[0]) == 1 else 1
    elif kind == "v":
        shapes = [np.shape(np.atleast_2d(np.empty(np.shape(a), dtype=bool))) for a in arrays]
        axis = 0
    elif kind == "d":
        shapes = [np.shape(np.atleast_3d(np.empty(np.shape(a), dtype=bool))) for a in arrays]
        axis = 2
    else:  # column_stack
        shapes = [(np.size(a), 1) if np.ndim(a) < 2 else np.shape(a) for a in arrays]
        axis = 1
    return shapes, axis


def stack_like_split(g, arrays, kind):
    """Adjoint of hstack/vstack/dstack/column_stack: pieces shaped like the inputs."""
    shapes, axis = _stack_axis_shapes(arrays, kind)
    sizes = np.cumsum([s[axis] for s in shapes])[:-1]
    pieces = np.split(np.asarray(g), sizes, axis=axis)
    return _rt.like_sequence([np.reshape(p, np.shape(a)) for p, a in zip(pieces, arrays)],
                            arrays)


def append_adjoint(g, arr, values, axis, which):
    """Adjoint of ``np.append(arr, values, axis)`` with respect to ``arr``
    (which=0) or ``values`` (which=1); axis=None flattened both."""
    g = np.asarray(g)
    if axis is None:
        n = np.size(arr)
        piece = g.reshape(-1)[:n] if which == 0 else g.reshape(-1)[n:]
    else:
        n = np.shape(arr)[axis] if np.ndim(arr) else 1
        piece = np.take(g, range(n), axis=axis) if which == 0 else \
            np.take(g, range(n, g.shape[axis]), axis=axis)
    x = arr if which == 0 else values
    return _rt.unbroadcast(np.reshape(piece, np.shape(x)), x)


def _positions(x, start=1):
    """Integers ``start, start+1, ...`` shaped like ``x``: pushed through a
    linear index-moving function (insert, delete, block, meshgrid), they
    tell where each element of ``x`` lands."""
    return np.arange(start, start + np.size(x)).reshape(np.shape(x))


def _gather_back(g, pos, n):
    """The adjoint of an index-moving function, flat: ``g``'s entries summed
    onto the elements they came from (``pos`` holds 1 + the element's flat
    index, 0 for entries that come from elsewhere)."""
    g = np.asarray(g)
    out = np.zeros(n + 1, dtype=_float_dtype(g))
    np.add.at(out, np.ravel(pos), np.ravel(np.broadcast_to(g, np.shape(pos))))
    return out[1:]


def _shaped_like(flat, x):
    return _rt.unbroadcast(np.reshape(flat, np.shape(x)), x)


def insert_adjoint(g, arr, obj, values, axis, which):
    """Adjoint of ``np.insert(arr, obj, values, axis)`` with respect to
    ``arr`` (which=0) or ``values`` (which=1, broadcast values summed back)."""
    if which == 0:
        pos = np.insert(_positions(arr), obj, 0, axis)
        return _shaped_like(_gather_back(g, pos, np.size(arr)), arr)
    pos = np.insert(np.zeros(np.shape(arr), dtype=np.intp), obj, _positions(values), axis)
    return _shaped_like(_gather_back(g, pos, np.size(values)), values)


def delete_adjoint(g, arr, obj, axis):
    """Adjoint of ``np.delete(arr, obj, axis)``: ``g`` in the kept places."""
    pos = np.delete(_positions(arr), obj, axis)
    return _shaped_like(_gather_back(g, pos, np.size(arr)), arr)


def _block_positions(arrays, offset):
    if isinstance(arrays, list):
        out = []
        for a in arrays:
            p, offset = _block_positions(a, offset)
            out.append(p)
        return out, offset
    return _positions(arrays, offset), offset + np.size(arrays)


def _block_pieces(arrays, flat, offset):
    if isinstance(arrays, list):
        out = []
        for a in arrays:
            p, offset = _block_pieces(a, flat, offset)
            out.append(p)
        return out, offset
    n = np.size(arrays)
    return _shaped_like(flat[offset:offset + n], arrays), offset + n


def block_adjoint(g, arrays):
    """Adjoint of ``np.block(arrays)``: the pieces of ``g`` in the nested
    list structure of ``arrays``."""
    positions, end = _block_positions(arrays, 1)
    flat = _gather_back(g, np.block(positions), end - 1)
    return _block_pieces(arrays, flat, 0)[0]


def unstack_adjoint(g, z, axis):
    """Adjoint of ``np.unstack(x, axis=axis)``: the pieces' cotangents stacked
    (missing pieces are zeros)."""
    return np.stack([cot(g, z, i) for i in range(len(z))], axis=axis)


def _meshgrid_axis(k, n, indexing):
    """The axis along which output ``k`` of an n-input meshgrid varies."""
    if indexing == "xy" and n > 1 and k < 2:
        return 1 - k
    return k


def meshgrid_adjoint(g, z, x, k, indexing="xy"):
    """Adjoint of ``np.meshgrid`` with respect to its input ``k`` (``x``):
    output k's cotangent summed over the axes x was repeated along."""
    gk = np.asarray(cot(g, z, k))
    axis = _meshgrid_axis(k, len(z), indexing)
    other = tuple(a for a in range(gk.ndim) if a != axis)
    return _shaped_like(np.sum(gk, axis=other), x)


def meshgrid_tangent(z, indexing, t0=0.0, t1=0.0, t2=0.0, t3=0.0, t4=0.0, t5=0.0, t6=0.0,
                     t7=0.0):
    """Tangent of ``z = np.meshgrid(x0, ..., indexing=indexing)`` from the
    inputs' tangents (0.0 for a constant input)."""
    ts = (t0, t1, t2, t3, t4, t5, t6, t7)
    out = []
    for k, zk in enumerate(z):
        shape = [1] * np.ndim(zk)
        shape[_meshgrid_axis(k, len(z), indexing)] = -1
        t = np.reshape(ts[k], shape) if np.ndim(ts[k]) else ts[k]
        dt = np.result_type(zk, t, 0.0)
        out.append(np.array(np.broadcast_to(t, np.shape(zk)), dtype=dt))
    return tuple(out) if isinstance(z, tuple) else out


def _select_index(condlist, shape):
    """For each element: the position of the first true condition, or -1."""
    conds = [np.asarray(c, dtype=bool) for c in condlist]
    idx = np.full(shape, -1)
    for k in range(len(conds) - 1, -1, -1):
        idx = np.where(conds[k], k, idx)
    return np.broadcast_to(idx, shape)


def select_adjoint(g, condlist, choicelist):
    """Adjoint of ``np.select`` with respect to the choices: ``g`` where a
    choice was taken (its condition is the first true one), summed back to
    each choice's shape, in the structure of ``choicelist``."""
    g = np.asarray(g)
    idx = _select_index(condlist, g.shape)
    pieces = [_rt.unbroadcast(np.where(idx == k, g, 0), c) for k, c in enumerate(choicelist)]
    return _rt.like_sequence(pieces, choicelist)


def select_default_mask(condlist, z):
    """Where ``np.select`` took its default (no condition is true)."""
    return _select_index(condlist, np.shape(z)) < 0


# --------------------------------------------------------------------------
# reductions and scans
# --------------------------------------------------------------------------


def _lanes(x, axis):
    """x moved so that ``axis`` is last and flattened to (lanes, n)."""
    x = np.asarray(x)
    if axis is None:
        return x.reshape(1, -1), None
    m = np.moveaxis(x, axis, -1)
    return m.reshape(-1, m.shape[-1]), m.shape


def _unlanes(y, x, axis, mshape):
    if axis is None:
        return y.reshape(np.shape(x))
    return np.moveaxis(y.reshape(mshape), -1, axis)


def _cumprod_matrix(lane):
    """M[j, k] = d cumprod(lane)[j] / d lane[k], exact with zeros."""
    n = lane.shape[0]
    M = np.zeros((n, n), dtype=lane.dtype)
    for k in range(n):
        y = lane.copy()
        y[k] = 1
        M[k:, k] = np.cumprod(y)[k:]
    return M


def cumprod_grad(g, a, z, axis=None):
    """Adjoint of ``np.cumprod(a, axis)``; exact also where ``a`` has zeros."""
    a = np.asarray(a)
    A, mshape = _lanes(a, axis)
    G, _ = _lanes(g, axis)
    Z, _ = _lanes(z, axis)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.flip(np.cumsum(np.flip(G * Z, -1), -1), -1) / A
    bad = np.any(A == 0, axis=-1)
    for i in np.nonzero(bad)[0]:
        out[i] = _cumprod_matrix(A[i]).T @ G[i]
    return _unlanes(out, a, axis, mshape)


def cumprod_grad_tangent(g, a, z, da, dz, axis=None):
    """Tangent of ``cumprod_grad`` in (a, z) (exact where a has no zeros)."""
    A, mshape = _lanes(a, axis)
    G, _ = _lanes(g, axis)
    dA, _ = _lanes(_dense(da, a), axis)
    dZ, _ = _lanes(_dense(dz, z), axis)
    Z, _ = _lanes(z, axis)
    rc = lambda v: np.flip(np.cumsum(np.flip(v, -1), -1), -1)  # noqa: E731
    out = rc(G * dZ) / A - rc(G * Z) * dA / (A * A)
    return _unlanes(out, np.asarray(a), axis, mshape)


def cumprod_jvp(da, a, z, axis=None):
    """Tangent of ``np.cumprod(a, axis)``; exact also where ``a`` has zeros."""
    a = np.asarray(a)
    A, mshape = _lanes(a, axis)
    D, _ = _lanes(da, axis)
    Z, _ = _lanes(z, axis)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = Z * np.cumsum(D / A, axis=-1)
    bad = np.any(A == 0, axis=-1)
    for i in np.nonzero(bad)[0]:
        out[i] = _cumprod_matrix(A[i]) @ D[i]
    zshape = np.shape(z)
    if axis is None:
        return out.reshape(zshape)
    return _unlanes(out, a, axis, mshape)


extremum_mask = _rt.extremum_mask


def nan_count(a, axis=None, keepdims=False):
    """Number of non-NaN entries reduced like np.nanmean, in a's float dtype."""
    return np.sum(np.logical_not(np.isnan(a)), axis=axis, keepdims=keepdims,
                  dtype=_float_dtype(a))


def bcast_weights(w, a, axis=None):
    """Weights of np.average shaped to broadcast against ``a`` (ones if None)."""
    a_shape = np.shape(a)
    if w is None:
        shape = [1] * len(a_shape)
        for ax in _norm_axis(axis, len(a_shape)):
            shape[ax] = a_shape[ax]
        return np.ones(shape, dtype=_float_dtype(a))
    if np.shape(w) == a_shape:
        return w
    shape = [1] * len(a_shape)
    shape[axis % len(a_shape)] = np.shape(w)[0]
    return np.reshape(w, shape)


def unbcast_weights(g, w, axis=None):
    """Adjoint of ``bcast_weights`` (``g`` is shaped like the array)."""
    if w is None:
        return None
    if np.shape(g) == np.shape(w):
        return g
    ax = axis % np.ndim(g)
    return np.sum(g, axis=tuple(i for i in range(np.ndim(g)) if i != ax))


def _check_method(method):
    if method not in ("linear",):
        raise NotImplementedError(f"derivative of quantile/percentile/median with "
                                  f"method={method!r} (only 'linear')")


def _quantile_parts(a, q, axis):
    """Sorted order and the two order statistics each quantile interpolates."""
    a = np.asarray(a)
    if axis is None:
        work = a.reshape(1, -1)
    else:
        if isinstance(axis, (tuple, list)):
            raise NotImplementedError("derivative of quantile with a tuple axis")
        work = np.moveaxis(a, axis, -1)
    n = work.shape[-1]
    order = np.argsort(work, axis=-1, kind="stable")
    qa = np.asarray(q, dtype=_float_dtype(a))
    pos = qa * (n - 1)
    lo_f = np.clip(np.floor(pos), 0, max(n - 2, 0))
    t = pos - lo_f
    lo = lo_f.astype(np.intp)
    hi = np.minimum(lo + 1, n - 1)
    return work, order, qa, lo, hi, t, n


def _quantile_scatter(g, a, q, axis, keepdims, wlo, whi):
    """sum_q g * (wlo at the lower order statistic + whi at the upper)."""
    a = np.asarray(a)
    work, order, qa, lo, hi, t, n = _quantile_parts(a, q, axis)
    wlo = wlo(t, n)
    whi = whi(t, n)
    lanes = work.shape[:-1]
    g = np.asarray(g)
    if keepdims and axis is not None:
        g = np.squeeze(g, axis=qa.ndim + axis % a.ndim)
    g = g.reshape(qa.shape + lanes)
    flat_order = order.reshape(-1, n)
    nl = flat_order.shape[0]
    out = np.zeros((nl, n), dtype=np.result_type(g, work, wlo, 0.0))
    rows = np.arange(nl)
    for k in np.ndindex(qa.shape):
        gk = g[k].reshape(nl)
        np.add.at(out, (rows, flat_order[:, lo[k]]), gk * wlo[k])
        np.add.at(out, (rows, flat_order[:, hi[k]]), gk * whi[k])
    out = out.reshape(work.shape)
    if axis is None:
        return out.reshape(a.shape)
    return np.moveaxis(out, -1, axis)


def quantile_vjp(g, a, q, axis=None, keepdims=False, method="linear"):
    """Adjoint of ``np.quantile(a, q, axis, keepdims=...)`` w.r.t. ``a``."""
    _check_method(method)
    return _quantile_scatter(g, a, q, axis, keepdims,
                             lambda t, n: 1.0 - t, lambda t, n: t)


def quantile_vjp_dq(g, a, q, dq, axis=None, keepdims=False, method="linear"):
    """Tangent of ``quantile_vjp`` in ``q``."""
    dq = np.broadcast_to(_dense(dq, q), np.shape(q))
    return _quantile_scatter(g, a, q, axis, keepdims,
                             lambda t, n: -dq * (n - 1), lambda t, n: dq * (n - 1))


def quantile_jvp(da, a, q, axis=None, keepdims=False, method="linear"):
    """Tangent of ``np.quantile`` in ``a``."""
    _check_method(method)
    a = np.asarray(a)
    work, order, qa, lo, hi, t, n = _quantile_parts(a, q, axis)
    dwork = np.asarray(da).reshape(1, -1) if axis is None else np.moveaxis(np.asarray(da), axis, -1)
    ds = np.take_along_axis(dwork, order, axis=-1)
    res = ds[..., lo] * (1.0 - t) + ds[..., hi] * t       # lanes + q.shape
    res = np.moveaxis(res, tuple(range(work.ndim - 1)),
                      tuple(range(qa.ndim, qa.ndim + work.ndim - 1)))
    if axis is None:
        res = res.reshape(qa.shape + ((1,) * a.ndim if keepdims else ()))
    elif keepdims:
        res = np.expand_dims(res, qa.ndim + (axis % a.ndim))
    return res


def quantile_knot(a, q, axis=None, upper=0):
    """The quantile levels of the two order statistics q interpolates."""
    work, order, qa, lo, hi, t, n = _quantile_parts(a, q, axis)
    k = hi if upper else lo
    return (k / max(n - 1, 1)).astype(qa.dtype)


def lead_sum(x, q):
    """Sum ``x`` (shape q.shape + rest) down to q's shape."""
    nd = np.ndim(q)
    x = np.asarray(x)
    return np.sum(x, axis=tuple(range(nd, x.ndim)))


def lead_expand(dq, z):
    """A tangent of q shaped to broadcast against z (q.shape + rest)."""
    dq = np.asarray(dq)
    return dq.reshape(dq.shape + (1,) * (np.ndim(z) - dq.ndim))


def interp_index(x, xp):
    """Segment index used by np.interp for each x."""
    xp = np.asarray(xp)
    j = np.searchsorted(xp, x, side="right") - 1
    return np.clip(j, 0, len(xp) - 2)


def interp_inside(x, xp):
    return (np.asarray(x) >= xp[0]) & (np.asarray(x) <= xp[-1])


def interp_edges(g, x, xp, fp, left=None, right=None):
    """Cotangent of fp from the points np.interp clamps to fp[0]/fp[-1]."""
    g = np.asarray(g)
    out = np.zeros(np.shape(fp), dtype=np.result_type(g, fp, 0.0))
    x = np.asarray(x)
    if left is None:
        out[0] += np.sum(g * (x < xp[0]))
    if right is None:
        out[-1] += np.sum(g * (x > xp[-1]))
    return out


def interp_tangent(inner, inside, x, xp, dfp, dleft, dright, left=None, right=None):
    """Assemble the tangent of np.interp from its interior part."""
    x = np.asarray(x)
    out = np.where(inside, inner, 0.0)
    below = x < xp[0]
    above = x > xp[-1]
    lo = dleft if left is not None else (np.asarray(dfp)[0] if np.ndim(dfp) else 0.0)
    hi = dright if right is not None else (np.asarray(dfp)[-1] if np.ndim(dfp) else 0.0)
    return out + below * lo + above * hi


def scatter_add(values, idx, like):
    """Zeros shaped like ``like`` with ``values`` added at ``idx`` (repeats add)."""
    out = np.zeros(np.shape(like), dtype=np.result_type(values, like, 0.0))
    np.add.at(out, idx, values)
    return out


# --------------------------------------------------------------------------
# products
# --------------------------------------------------------------------------


EINSUM_ARGS = 16
"""How many positional arguments the einsum rules take: 15 operands with a
subscripts string, 7 in the (operand, sublist) form with an output sublist."""


def _einsum_args(fn):
    """Give ``fn(*lead, *args)`` the signature ``(*lead, a0, a1=None, ...,
    a15=None, *, optimize=False)``: the einsum rules pass all sixteen
    positional slots, and the code generator drops the trailing ``None``s
    (the defaults), so generated code shows the user's own call."""
    sig = inspect.signature(fn)
    P = inspect.Parameter
    lead = [p for p in sig.parameters.values() if p.kind is P.POSITIONAL_OR_KEYWORD]
    slots = [P("a0", P.POSITIONAL_OR_KEYWORD)] + [
        P(f"a{k}", P.POSITIONAL_OR_KEYWORD, default=None) for k in range(1, EINSUM_ARGS)]
    fn.__signature__ = sig.replace(parameters=lead + slots + [
        P("optimize", P.KEYWORD_ONLY, default=False)])
    return fn


def _einsum_parts(args):
    """``np.einsum``'s positional arguments (either form, trailing Nones
    dropped) as (operands, input subscripts, output subscript, position of
    each operand among ``args``), ellipses spelled as letters."""
    args = list(args)
    while args and args[-1] is None:
        args.pop()
    try:
        from numpy._core.einsumfunc import _parse_einsum_input
    except ImportError:          # NumPy 1.x
        from numpy.core.einsumfunc import _parse_einsum_input
    if isinstance(args[0], str):
        positions = list(range(1, len(args)))
    else:                        # op0, sublist0, op1, sublist1, ..., [output sublist]
        positions = list(range(0, len(args) - 1, 2))
    ins, out, ops = _parse_einsum_input(args)
    return list(ops), ins.split(","), out, positions


@_einsum_args
def einsum(*args, optimize=False):
    """np.einsum of the positional arguments that are not trailing Nones."""
    args = list(args)
    while args and args[-1] is None:
        args.pop()
    return np.einsum(*args, optimize=optimize)


def _sum_to(x, shape):
    x = np.asarray(x)
    axes = tuple(i for i, (a, b) in enumerate(zip(shape, x.shape)) if a == 1 and b != 1)
    if axes:
        x = np.sum(x, axis=axes, keepdims=True)
    return x


def _einsum_adjoint(g, ops, ins, out, m, optimize):
    """Adjoint of einsum(ins -> out)(*ops) with respect to operand ``m``: the
    einsum of the cotangent with the other operands onto ``m``'s subscripts.
    Subscripts that only ``m`` carries (summed away in the primal) are
    broadcast back; a subscript repeated in ``m`` (a diagonal) is written
    back onto that diagonal; size-1 broadcasting is summed back."""
    target = ins[m]
    op = np.asarray(ops[m])
    g = np.asarray(g)
    others = [s for j, s in enumerate(ins) if j != m]
    other_ops = [o for j, o in enumerate(ops) if j != m]
    unique = "".join(dict.fromkeys(target))
    present = set(out).union(*others)
    kept = "".join(c for c in unique if c in present)
    size = {c: op.shape[k] for k, c in enumerate(target)}
    r = np.einsum(",".join([out] + others) + "->" + kept, g, *other_ops,
                  optimize=bool(optimize) or len(other_ops) > 1)
    shape = tuple(size[c] for c in unique)
    r = np.reshape(r, tuple(r.shape[kept.index(c)] if c in kept else 1 for c in unique))
    r = np.broadcast_to(_sum_to(r, shape), shape)
    if len(unique) != len(target):  # repeated subscripts: onto the diagonal
        full = np.zeros(op.shape, dtype=np.result_type(r, _float_dtype(g)))
        view = np.einsum(target + "->" + unique, full)   # a writeable view
        view += r
        r = full
    return match_complex(r, op)


@_einsum_args
def einsum_vjp(g, k, *args, optimize=False):
    """Adjoint of ``np.einsum(*args)`` with respect to its positional
    argument ``k`` (an operand, in either form)."""
    ops, ins, out, positions = _einsum_parts(args)
    return _einsum_adjoint(g, ops, ins, out, positions.index(k), optimize)


@_einsum_args
def einsum_vjp_at(g, k, at, *args, optimize=False):
    """``einsum_vjp(g, k, *args)`` where the slots in the tuple ``at`` hold
    tangents in place of operands (a term of its derivative: einsum_vjp is
    multilinear in ``g`` and the operands other than ``k``).  Zeros shaped
    like operand ``k`` when ``k`` is in ``at`` (the adjoint of operand k
    does not depend on it) or a substituted tangent is a known zero."""
    like = args[k]
    if k in at:
        return np.zeros(np.shape(like))
    for i in at:
        t = args[i]
        if t is None or (np.ndim(t) == 0 and not np.any(t)):
            return _zeros(like)
    return einsum_vjp(g, k, *args, optimize=optimize)


# (moved down into ad_compiler.runtime, whose defer_dot_* use them)
_tensordot_axes = _rt._tensordot_axes
tensordot_vjp_a = _rt.tensordot_vjp_a
tensordot_vjp_b = _rt.tensordot_vjp_b
dot_vjp_a = _rt.dot_vjp_a
dot_vjp_b = _rt.dot_vjp_b
dot_axes = _rt.dot_axes


def abs_dir(x):
    """d|x|/dx in autograd's convention: sign(x), or conj(x)/|x| (0 at 0)."""
    if not np.iscomplexobj(x):
        return np.sign(x)
    r = np.abs(x)
    return np.conj(x) / np.where(r == 0, 1, r) * (r != 0)


def _sign_is_unit(x):
    """np.sign(x) is x / |x| (NumPy 2, complex x), not piecewise constant."""
    return _NUMPY2 and np.iscomplexobj(x)


def _sign_parts(x):
    """|x| (1 where 0), the mask x != 0, and the Wirtinger derivatives
    A = d sign / dx = 1 / 2|x| and B = d sign / d conj(x) = -x^2 / 2|x|^3."""
    r = np.abs(x)
    nz = r != 0
    rs = np.where(nz, r, 1)
    return rs, nz, 0.5 / rs, -0.5 * x * x / rs ** 3


def sign_jvp(dx, x):
    """Tangent of np.sign: zero (piecewise constant), except for complex x on
    NumPy 2, where sign(x) = x / |x| (0 at 0)."""
    if not _sign_is_unit(x):
        return _zeros(x)
    dx = _dense(dx, x)
    _, nz, a, b = _sign_parts(x)
    return (a * dx + b * np.conj(dx)) * nz


def sign_vjp(g, x):
    """Adjoint of np.sign (autograd's convention for complex x)."""
    if not _sign_is_unit(x):
        return _zeros(x)
    g = _dense(g, x)
    _, nz, a, b = _sign_parts(x)
    return (a * g + np.conj(b * g)) * nz


def sign_vjp_tangent(g, x, dg, dx):
    """Tangent of ``sign_vjp`` in g and x."""
    if not _sign_is_unit(x):
        return _zeros(x)
    g, dg, dx = _dense(g, x), _dense(dg, x), _dense(dx, x)
    rs, nz, a, b = _sign_parts(x)
    dr = np.real(np.conj(x) * dx) / rs
    da = -0.5 * dr / rs ** 2
    db = -x * dx / rs ** 3 + 1.5 * x * x * dr / rs ** 4
    return (a * dg + np.conj(b * dg) + da * g + np.conj(db * g)) * nz


def sign_vjp_curvature(g, x, dx, tx):
    """The part of the tangent of ``sign_vjp_tangent(g, x, dg, dx)`` where x
    moves again (by ``tx``): (A''[dx, tx] g + conj(B''[dx, tx] g)) * (x != 0)
    with A, B the Wirtinger derivatives of ``_sign_parts``; zero where sign
    is piecewise constant (real x)."""
    if not _sign_is_unit(x):
        return _zeros(x)
    g, dx, tx = _dense(g, x), _dense(dx, x), _dense(tx, x)
    rs, nz, _, _ = _sign_parts(x)
    rv = np.real(np.conj(x) * dx) / rs                 # |x|'[dx]
    rw = np.real(np.conj(x) * tx) / rs                 # |x|'[tx]
    rvw = (np.real(np.conj(tx) * dx) - rv * rw) / rs    # |x|''[dx, tx]
    daa = rv * rw / rs ** 3 - 0.5 * rvw / rs ** 2
    dbb = (-tx * dx / rs ** 3 + 3.0 * x * (dx * rw + tx * rv) / rs ** 4
           - 6.0 * x * x * rv * rw / rs ** 5 + 1.5 * x * x * rvw / rs ** 4)
    return (daa * g + np.conj(dbb * g)) * nz


def abs_dir_tangent(x, dx):
    """Tangent of ``abs_dir``: zero for real x."""
    if not np.iscomplexobj(x):
        return np.zeros(np.shape(x), dtype=_float_dtype(x))
    dx = _dense(dx, x)
    r = np.abs(x)
    rs = np.where(r == 0, 1, r)
    dr = np.real(np.conj(x) * dx) / rs
    return (np.conj(dx) / rs - np.conj(x) * dr / (rs * rs)) * (r != 0)


def inner_axes(a, b):
    """np.inner(a, b) as a tensordot: its axes argument."""
    if np.ndim(a) == 0 or np.ndim(b) == 0:
        return 0
    return ([np.ndim(a) - 1], [np.ndim(b) - 1])


def _kron_parts(G, a, b):
    A, B = np.atleast_2d(a), np.atleast_2d(b)
    # np.kron promotes both to the same ndim by prepending ones
    nd = max(A.ndim, B.ndim)
    A = A.reshape((1,) * (nd - A.ndim) + A.shape)
    B = B.reshape((1,) * (nd - B.ndim) + B.shape)
    shape = []
    for sa, sb in zip(A.shape, B.shape):
        shape += [sa, sb]
    Gr = np.reshape(G, shape)
    return A, B, Gr, nd


def kron_vjp_a(g, a, b):
    A, B, Gr, nd = _kron_parts(g, a, b)
    out = np.einsum(Gr, list(range(2 * nd)), B, list(range(1, 2 * nd, 2)),
                    list(range(0, 2 * nd, 2)))
    return match_complex(np.reshape(out, np.shape(a)), a)


def kron_vjp_b(g, a, b):
    A, B, Gr, nd = _kron_parts(g, a, b)
    out = np.einsum(Gr, list(range(2 * nd)), A, list(range(0, 2 * nd, 2)),
                    list(range(1, 2 * nd, 2)))
    return match_complex(np.reshape(out, np.shape(b)), b)


# --------------------------------------------------------------------------
# linear algebra
# --------------------------------------------------------------------------


def _mT(x):
    return np.swapaxes(x, -1, -2)


def diag_embed(v):
    """Batched diagonal matrices with ``v`` (..., n) on the diagonal."""
    v = np.asarray(v)
    n = v.shape[-1]
    out = np.zeros(v.shape + (n,), dtype=_float_dtype(v))
    i = np.arange(n)
    out[..., i, i] = v
    return out


def diag_part(x):
    """Batched diagonal matrices keeping only the diagonal of ``x``."""
    return diag_embed(np.diagonal(x, axis1=-2, axis2=-1))


def eig_gap_inv(w):
    """F[..., i, j] = 1 / (w_j - w_i), zero on the diagonal and for ties."""
    w = np.asarray(w)
    diff = w[..., None, :] - w[..., :, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        f = np.where(diff == 0, 0, 1 / np.where(diff == 0, 1, diff))
    return f


def sym_lower(x, uplo="L"):
    """Adjoint of reading a Hermitian matrix from one triangle: the
    cotangent ``x`` folded onto the triangle that is read."""
    x = np.asarray(x)
    n = x.shape[-1]
    tri = np.tril(np.ones((n, n), dtype=bool), -1) if uplo in ("L", "l") \
        else np.triu(np.ones((n, n), dtype=bool), 1)
    i = np.arange(n)
    out = np.where(tri, x + np.conj(_mT(x)), 0)
    out = out.astype(np.result_type(x), copy=False)
    out[..., i, i] = np.real(x[..., i, i])
    return out


def sym_from_lower(x, uplo="L"):
    """The Hermitian matrix that a routine reading one triangle of ``x`` sees."""
    x = np.asarray(x)
    t = np.tril(x, -1) if uplo in ("L", "l") else np.triu(x, 1)
    n = x.shape[-1]
    i = np.arange(n)
    d = np.zeros_like(x)
    d[..., i, i] = np.real(x[..., i, i])
    return t + np.conj(_mT(t)) + d


def tril_half(x):
    """Lower triangle of ``x`` with the diagonal halved (Cholesky's Phi)."""
    x = np.asarray(x)
    out = np.tril(x)
    n = x.shape[-1]
    i = np.arange(n)
    out[..., i, i] *= 0.5
    return out


def copyltu(x):
    """tril(x) + tril(x, -1)^T (QR's adjoint symmetrization)."""
    return np.tril(x) + _mT(np.tril(x, -1))


# np.linalg.solve(a, b) reads b as a (stack of) vector(s): on NumPy 2 when b is
# 1-D; on NumPy 1.x when b.ndim == a.ndim - 1 (a 2-D b with a 3-D a is a stack
# of vectors there, a matrix on NumPy 2).
_NUMPY2 = np.lib.NumpyVersion(np.__version__) >= "2.0.0"


def _vector_rhs(b, a):
    if a is None or _NUMPY2:
        return np.ndim(b) == 1
    return np.ndim(b) == np.ndim(a) - 1


def vec_as_mat(x, b, a=None):
    """``x[..., None]`` when ``b`` (the right-hand side of solve with matrix
    ``a``, or of lstsq when ``a`` is not given) is read as a vector by the
    running NumPy."""
    return np.asarray(x)[..., None] if _vector_rhs(b, a) else x


def mat_as_vec(x, b, a=None):
    return np.asarray(x)[..., 0] if _vector_rhs(b, a) else x


def cols(x, k):
    """x[..., :, :k]"""
    return np.asarray(x)[..., :, :k]


def cols_from(x, k):
    """x[..., :, k:]"""
    return np.asarray(x)[..., :, k:]


def rows(x, k):
    return np.asarray(x)[..., :k, :]


def rows_from(x, k):
    return np.asarray(x)[..., k:, :]


def min_dim(a):
    return min(np.shape(a)[-2:])


def slogdet_sign_tangent(sign, tr):
    """Tangent of slogdet's sign: sign * 1j * Im(tr(A^-1 dA)); zero if real."""
    if not np.iscomplexobj(sign):
        return np.zeros(np.shape(sign), dtype=_float_dtype(sign))
    return sign * 1j * np.imag(tr)


def svd_phase(x, s):
    """The complex-SVD gauge term of autograd's svd adjoint (0 if real)."""
    if not np.iscomplexobj(x):
        return 0.0
    return 1j * np.imag(diag_part(x)) / np.asarray(s)[..., None, :]


def _svd_parts(a, full_matrices=False):
    u, s, vh = np.linalg.svd(a, full_matrices=full_matrices)
    return u, s, vh


def svals_vjp(g, a):
    """Adjoint of the singular values of ``a``: U diag(g) V^H (conj as needed)."""
    g = np.asarray(g)
    if not np.any(g):
        return np.zeros(np.shape(a), dtype=np.result_type(g, a, np.float16))
    u, s, vh = _svd_parts(a)
    out = np.matmul(np.conj(u) * g[..., None, :], np.conj(vh))
    return match_complex(out, a)


def _svd_reduced_jvp(u, s, vh, da):
    """Tangents (du, ds, dvh) of the reduced SVD (real; complex without the
    phase gauge term)."""
    v = np.conj(_mT(vh))
    uh = np.conj(_mT(u))
    dP = np.matmul(np.matmul(uh, da), v)
    ds = np.real(np.diagonal(dP, axis1=-2, axis2=-1))
    f = eig_gap_inv(s * s)
    S = s[..., None, :]
    Sr = s[..., :, None]
    dPh = np.conj(_mT(dP))
    du = np.matmul(u, f * (dP * S + Sr * dPh))
    dv = np.matmul(v, f * (Sr * dP + dPh * S))
    # components outside the column spaces
    dav = np.matmul(da, v) / S
    du = du + dav - np.matmul(u, np.matmul(uh, dav))
    dahu = np.matmul(np.conj(_mT(da)), u) / S
    dv = dv + dahu - np.matmul(v, np.matmul(np.conj(_mT(v)), dahu))
    return du, ds, np.conj(_mT(dv))


def svd_jvp(a, z, da, full_matrices=True, compute_uv=True):
    """Tangent of ``np.linalg.svd``.  With full_matrices and a non-square
    matrix the extra singular vectors get the minimal-rotation tangent."""
    da = _dense(da, a)
    if not compute_uv:
        u, s, vh = _svd_parts(a)
        return np.real(np.sum(np.conj(u) * np.matmul(da, np.conj(_mT(vh))), axis=-2))
    k = len(z[1]) if np.ndim(z[1]) == 1 else np.shape(z[1])[-1]
    u_full, s, vh_full = z
    u, vh = cols(u_full, k), rows(vh_full, k)
    du, ds, dvh = _svd_reduced_jvp(u, s, vh, da)
    if full_matrices:
        ue = cols_from(u_full, k)
        if ue.shape[-1]:
            due = -np.matmul(u, np.matmul(np.conj(_mT(du)), ue))
            du = np.concatenate([du, due], axis=-1)
        ve = np.conj(_mT(rows_from(vh_full, k)))
        if ve.shape[-1]:
            v = np.conj(_mT(vh))
            dv = np.conj(_mT(dvh))
            dve = -np.matmul(v, np.matmul(np.conj(_mT(dv)), ve))
            dvh = np.concatenate([dvh, np.conj(_mT(dve))], axis=-2)
    return (du, ds, dvh)


def svals_vjp_da(g, a, da):
    """Tangent of ``svals_vjp(g, a)`` in ``a``."""
    if not np.any(g):
        return np.zeros(np.shape(a), dtype=np.result_type(g, a, np.float16))
    u, s, vh = _svd_parts(a)
    du, ds, dvh = _svd_reduced_jvp(u, s, vh, _dense(da, a))
    g = np.asarray(g)[..., None, :]
    out = np.matmul(np.conj(du) * g, np.conj(vh)) + np.matmul(np.conj(u) * g, np.conj(dvh))
    return match_complex(out, a)


def eig_jvp(a, z, da):
    """Tangent of ``np.linalg.eig`` (unit-norm eigenvectors)."""
    e, u = z
    da = _dense(da, a)
    m = np.linalg.solve(u, np.matmul(da, u))
    de = np.diagonal(m, axis1=-2, axis2=-1)
    f = eig_gap_inv(e)
    du0 = np.matmul(u, f * m)
    corr = np.real(np.sum(np.conj(u) * du0, axis=-2))
    du = du0 - u * corr[..., None, :]
    return (de, du)


def _match_perm(z, e):
    """For each value of ``z``, the index of the nearest value of ``e``."""
    return np.argmin(np.abs(np.asarray(z)[..., :, None] - np.asarray(e)[..., None, :]), axis=-1)


def eigvecs_like(ev, e, ref=None):
    """The eigenvectors of ``ev = np.linalg.eig(a)`` ordered like the
    eigenvalues ``e`` (e.g. from np.linalg.eigvals); with ``ref`` (the primal
    pair) ``ev`` is a tangent pair reordered the same way."""
    ref = ev if ref is None else ref
    perm = _match_perm(e, ref[0])
    return np.take_along_axis(np.asarray(ev[1]), perm[..., None, :], axis=-1)


def eigvals_jvp(a, z, da):
    """Tangent of ``np.linalg.eigvals``."""
    ev = np.linalg.eig(a)
    u = eigvecs_like(ev, z)
    m = np.linalg.solve(u, np.matmul(_dense(da, a), u))
    return np.diagonal(m, axis1=-2, axis2=-1)


def slogdet_tangent(z, tr):
    """Tangent of slogdet from tr = trace(a^-1 da)."""
    sign = z[0]
    tr = _dense(tr, sign)
    return (slogdet_sign_tangent(sign, tr), np.real(tr))


def eigh_jvp(a, z, da, uplo="L"):
    """Tangent of ``np.linalg.eigh`` (reads the ``uplo`` triangle)."""
    w, v = z
    dA = sym_from_lower(_dense(da, a), uplo)
    vh = np.conj(_mT(v))
    m = np.matmul(vh, np.matmul(dA, v))
    dw = np.real(np.diagonal(m, axis1=-2, axis2=-1))
    dv = np.matmul(v, eig_gap_inv(w) * m)
    return (dw, dv)


def cholesky_jvp(L, da, upper=False):
    """Tangent of ``np.linalg.cholesky`` (reads the lower, or upper, triangle)."""
    dA = sym_from_lower(da, "U" if upper else "L")
    if upper:
        L = np.conj(_mT(L))
    X = np.linalg.solve(L, dA)
    X = np.conj(_mT(np.linalg.solve(L, np.conj(_mT(X)))))
    dL = np.matmul(L, tril_half(X))
    return np.conj(_mT(dL)) if upper else dL


def _qr_check(mode):
    if mode not in ("reduced", "complete"):
        raise NotImplementedError(f"derivative of np.linalg.qr with mode={mode!r} "
                                  f"(supported: 'reduced', and 'complete' for m <= n)")


def qr_check(a, mode):
    """k = min(m, n); refuses modes whose derivative is not defined here."""
    _qr_check(mode)
    m, n = np.shape(a)[-2:]
    if mode == "complete" and m > n:
        raise NotImplementedError("derivative of np.linalg.qr(mode='complete') for a tall "
                                  "matrix (the extra columns of Q are not unique); use "
                                  "mode='reduced'")
    return min(m, n)


def qr_jvp(a, z, da, mode="reduced"):
    """Tangent of ``np.linalg.qr``."""
    k = qr_check(a, mode)
    q, r = z
    da = _dense(da, a)
    dx, dy = cols(da, k), cols_from(da, k)
    u, v = cols(r, k), cols_from(r, k)
    x_inv_t = lambda m: _mT(np.linalg.solve(_mT(u), _mT(m)))  # noqa: E731  m U^-1
    C = np.matmul(_mT(q), x_inv_t(dx))
    low = np.tril(C, -1)
    omega = low - _mT(low)
    du = np.matmul(C - omega, u)
    dq = x_inv_t(dx) - np.matmul(q, C) + np.matmul(q, omega)
    if v.shape[-1]:
        # R = [U | V] with V = Q^T Y
        dv = np.matmul(_mT(dq), cols_from(a, k)) + np.matmul(_mT(q), dy)
        dr = np.concatenate([du, dv], axis=-1)
    else:
        dr = du
    return (dq, dr)


def _mpow_pos_vjp(g, a, n):
    at = _mT(a)
    powers = [None] * n
    eye = np.broadcast_to(np.eye(a.shape[-1], dtype=_float_dtype(a)), a.shape)
    powers[0] = eye
    for k in range(1, n):
        powers[k] = np.matmul(powers[k - 1], at)
    out = 0
    for k in range(n):
        out = out + np.matmul(np.matmul(powers[k], g), powers[n - 1 - k])
    return out


def matrix_power_vjp(g, a, n):
    """Adjoint of ``np.linalg.matrix_power(a, n)``."""
    a = np.asarray(a)
    g = np.asarray(g)
    if n == 0:
        return _zeros(a)
    if n > 0:
        return _mpow_pos_vjp(g, a, n)
    b = np.linalg.inv(a)
    gb = _mpow_pos_vjp(g, b, -n)
    return -np.matmul(np.matmul(_mT(b), gb), _mT(b))


def _mpow_pos_vjp_da(g, a, da, n):
    at, dat = _mT(a), _mT(da)
    eye = np.broadcast_to(np.eye(a.shape[-1], dtype=_float_dtype(a)), a.shape)
    P = [eye]
    dP = [np.zeros_like(eye)]
    for k in range(1, n):
        P.append(np.matmul(P[-1], at))
        dP.append(np.matmul(dP[-1], at) + np.matmul(P[-2], dat))
    out = 0
    for k in range(n):
        m = n - 1 - k
        out = out + np.matmul(np.matmul(dP[k], g), P[m]) + np.matmul(np.matmul(P[k], g), dP[m])
    return out


def matrix_power_vjp_da(g, a, da, n):
    """Tangent of ``matrix_power_vjp(g, a, n)`` in ``a``."""
    a = np.asarray(a)
    da = _dense(da, a)
    g = np.asarray(g)
    if n == 0:
        return _zeros(a)
    if n > 0:
        return _mpow_pos_vjp_da(g, a, da, n)
    b = np.linalg.inv(a)
    db = -np.matmul(np.matmul(b, da), b)
    gb = _mpow_pos_vjp(g, b, -n)
    dgb = _mpow_pos_vjp_da(g, b, db, -n)
    bt, dbt = _mT(b), _mT(db)
    return -(np.matmul(np.matmul(dbt, gb), bt) + np.matmul(np.matmul(bt, dgb), bt)
             + np.matmul(np.matmul(bt, gb), dbt))


def matrix_power_jvp(a, da, n):
    """Tangent of ``np.linalg.matrix_power(a, n)``."""
    a = np.asarray(a)
    da = _dense(da, a)
    if n == 0:
        return _zeros(a)
    if n < 0:
        b = np.linalg.inv(a)
        return matrix_power_jvp(b, -np.matmul(np.matmul(b, da), b), -n)
    eye = np.broadcast_to(np.eye(a.shape[-1], dtype=_float_dtype(a)), a.shape)
    P = [eye]
    for _ in range(1, n):
        P.append(np.matmul(P[-1], a))
    out = 0
    for k in range(n):
        out = out + np.matmul(np.matmul(P[k], da), P[n - 1 - k])
    return out


def pinv_jvp(a, z, da):
    """Tangent of ``np.linalg.pinv`` (constant rank)."""
    da = _dense(da, a)
    zt, dat = _mT(z), _mT(da)
    t1 = -np.matmul(np.matmul(z, da), z)
    zzt = np.matmul(z, zt)
    t2 = np.matmul(zzt, dat) - np.matmul(np.matmul(np.matmul(zzt, dat), a), z)
    ztz = np.matmul(zt, z)
    t3 = np.matmul(dat, ztz) - np.matmul(np.matmul(z, a), np.matmul(dat, ztz))
    return t1 + t2 + t3


def lstsq_res_cot(gr, b):
    """Cotangent of lstsq's residuals shaped to broadcast against b - a @ x."""
    gr = np.asarray(gr)
    if gr.size == 0:
        return 0.0
    return gr[0] if np.ndim(b) == 1 else gr[..., None, :]


def lstsq_jvp(a, b, z, da, db):
    """Tangent of ``np.linalg.lstsq(a, b)``: (dx, dresiduals, 0, ds)."""
    x, res, rank, s = z
    da = _dense(da, a)
    db = _dense(db, b)
    pa = np.linalg.pinv(a)
    dpa = pinv_jvp(a, pa, da)
    dx = np.matmul(dpa, b) + np.matmul(pa, db)
    if np.size(res):
        r = b - np.matmul(a, x)
        dr = db - np.matmul(da, x)
        dres = 2.0 * np.sum(r * dr, axis=0)
        dres = np.reshape(dres, np.shape(res))
    else:
        dres = _zeros(res)
    ds = svd_jvp(a, None, da, compute_uv=False)
    return (dx, dres, _zeros(rank), ds)


# --------------------------------------------------------------------------
# FFT
# --------------------------------------------------------------------------

_DUAL_NORM = {None: "forward", "backward": "forward", "ortho": "ortho", "forward": "backward"}


def dual_norm(norm):
    """The norm under which rfft is the adjoint-scale of irfft's ``norm``."""
    return _DUAL_NORM[norm]


def fft_len(a, n, axis):
    """The transform length along ``axis`` (``n`` or the input's length)."""
    return np.shape(a)[axis] if n is None else n


def irfft_len(a, n, axis):
    """Output length of irfft: ``n`` or 2 * (m - 1)."""
    return 2 * (np.shape(a)[axis] - 1) if n is None else n


def _fftn_axes(a, s, axes):
    nd = np.ndim(a)
    if axes is None:
        axes = list(range(nd)) if s is None else list(range(nd - len(s), nd))
    return [ax % nd for ax in axes]


def rfftn_last_axis(a, s=None, axes=None):
    return _fftn_axes(a, s, axes)[-1]


def rfftn_last_len(a, s=None, axes=None):
    axes = _fftn_axes(a, s, axes)
    return np.shape(a)[axes[-1]] if s is None else s[-1]


def irfftn_last_len(a, s=None, axes=None):
    axes = _fftn_axes(a, s, axes)
    return 2 * (np.shape(a)[axes[-1]] - 1) if s is None else s[-1]


def irfftn_other_axes(a, s=None, axes=None):
    return _fftn_axes(a, s, axes)[:-1]


def halve_ends(x, n, axis):
    """Halve the entries of a half spectrum that irfft counts once (0, and
    n/2 for even n) along ``axis``."""
    x = np.array(x, copy=True)
    idx = [slice(None)] * x.ndim
    idx[axis] = 0
    x[tuple(idx)] *= 0.5
    if n % 2 == 0 and x.shape[axis] > n // 2:
        idx[axis] = n // 2
        x[tuple(idx)] *= 0.5
    return x


# --------------------------------------------------------------------------
# constants and dtypes
# --------------------------------------------------------------------------


def tangent_dtype(z):
    """The dtype of a derivative of ``z`` (float64 for integer results)."""
    return _float_dtype(z)


def linspace_t(z, num, endpoint=True, axis=0):
    """The interpolation weights of np.linspace, shaped to broadcast against z."""
    num = int(num)
    div = (num - 1) if endpoint else num
    t = np.arange(num, dtype=_float_dtype(z)) / max(div, 1)
    shape = [1] * np.ndim(z)
    shape[axis % np.ndim(z)] = num
    return t.reshape(shape)
