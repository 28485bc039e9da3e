"""Runtime helpers of ``rules/numpy_sets.py`` (imported by generated code as
``adset``): the derivatives of functions that pick values out of their
arguments (np.unique, the set functions), of histograms and bin counts.

Picking is a gather: ``z = concatenate(ravel(ar1), ravel(ar2))[idx]`` for
indices ``idx`` that are constant almost everywhere (they change only where
two values meet), so the adjoint scatters the cotangent back to ``idx`` and
the tangent gathers the arguments' tangents at ``idx``.
"""
import numpy as np


def _fdtype(*xs):
    dt = np.result_type(*[np.asarray(x) for x in xs if x is not None])
    return dt if dt.kind in "fc" else np.dtype(np.float64)


def _flat(x):
    return np.ravel(np.asarray(x))


def values(z):
    """The values of a np.unique-like result (its first item when it is a tuple)."""
    return z[0] if isinstance(z, tuple) else z


def value_index(vals, ar1, ar2=None):
    """Indices into ``concatenate(ravel(ar1), ravel(ar2))`` of the first
    occurrence of each of ``vals`` (values np.unique/union1d/setdiff1d/
    setxor1d returned, in their order)."""
    cat = _flat(ar1) if ar2 is None else np.concatenate([_flat(ar1), _flat(ar2)])
    u, first = np.unique(cat, return_index=True)
    return first[np.searchsorted(u, _flat(vals))]


def values_cot(g, z):
    """The cotangent of the values of a np.unique-like result ``z``."""
    if isinstance(z, tuple):
        g = None if g is None else g[0]
        return np.zeros(np.shape(z[0]), dtype=_fdtype(z[0])) if g is None else g
    return g


def values_tangent(t, z):
    """The tangent of a np.unique-like result ``z`` whose values have tangent
    ``t`` (zeros for its integer members: indices, counts)."""
    if isinstance(z, tuple):
        items = [t] + [np.zeros(np.shape(v), dtype=np.float64) for v in z[1:]]
        return type(z)(*items) if hasattr(z, "_fields") else tuple(items)
    return t


def take(t1, t2, idx, ar1, ar2=None):
    """``concatenate(ravel(t1), ravel(t2))[idx]``: the tangent of a gather
    (``t1``/``t2``: the tangents of ar1/ar2, 0.0 when they have none)."""
    parts = [np.broadcast_to(t1, np.shape(ar1)).ravel()]
    if ar2 is not None:
        parts.append(np.broadcast_to(t2, np.shape(ar2)).ravel())
    flat = np.concatenate(parts) if len(parts) > 1 else parts[0]
    return flat[idx]


def put(g, idx, ar1, ar2=None, part=0):
    """The adjoint of ``take`` for argument ``part`` (0: ar1, 1: ar2)."""
    n1 = np.size(ar1)
    n = n1 + (0 if ar2 is None else np.size(ar2))
    out = np.zeros(n, dtype=_fdtype(g, ar1, ar2))
    np.add.at(out, idx, np.ravel(g))
    if part == 0:
        return out[:n1].reshape(np.shape(ar1))
    return out[n1:].reshape(np.shape(ar2))


# --- histograms ---------------------------------------------------------------

def _edges_fn(a, bins, range, weights):
    """(edges, uniform, t): the bin edges np.histogram uses; uniform when they
    are np.linspace(lo, hi, n + 1) of the range or of min/max(a), with t the
    interpolation weights."""
    if np.ndim(bins) == 1:
        return np.asarray(bins, dtype=float), False, None
    edges = np.histogram_bin_edges(a, bins, range, weights)
    n = len(edges) - 1
    return edges, True, np.arange(n + 1, dtype=float) / n


def _bin_of(a, edges):
    """Each value's bin and whether it falls inside the edges."""
    a = _flat(a)
    idx = np.searchsorted(edges, a, side="right") - 1
    n = len(edges) - 1
    idx = np.where(a == edges[-1], n - 1, idx)
    inside = (a >= edges[0]) & (a <= edges[-1])
    return np.clip(idx, 0, n - 1), inside


def histogram_vjp(g, a, bins, range, weights, wrt, edges_only=False):
    """The adjoint of np.histogram(a, bins, range, weights=weights) (or of
    np.histogram_bin_edges when ``edges_only``) with respect to ``wrt`` in
    "a", "bins", "range", "weights".  Counts are sums of the weights in each
    bin; the edges are bins itself, or np.linspace(lo, hi, n + 1) with (lo, hi)
    the range or the extremes of a."""
    if edges_only:
        gh, ge = None, g
    else:
        gh = None if g is None else g[0]
        ge = None if g is None else g[1]
    edges, uniform, t = _edges_fn(a, bins, range, weights)
    if wrt == "weights":
        out = np.zeros(np.size(a), dtype=_fdtype(weights))
        if gh is not None:
            idx, inside = _bin_of(a, edges)
            out = np.where(inside, np.asarray(gh)[idx], 0.0)
        return out.reshape(np.shape(weights))
    ge = np.zeros(len(edges)) if ge is None else np.asarray(ge)
    if wrt == "bins":
        return ge if not uniform else 0.0 * np.asarray(bins, dtype=float)
    glo, ghi = np.sum(ge * (1.0 - t)), np.sum(ge * t)
    if wrt == "range":
        return (glo, ghi) if isinstance(range, (tuple, list)) else np.array([glo, ghi])
    out = np.zeros(np.size(a), dtype=_fdtype(a))
    if uniform and range is None and np.size(a):
        flat = _flat(a)
        out[np.argmin(flat)] += glo
        out[np.argmax(flat)] += ghi
    return out.reshape(np.shape(a))


def histogram_jvp(z, a, bins, range, weights, da, dbins, drange, dweights, edges_only=False):
    """The tangent of np.histogram (a tuple (counts, edges)) or, when
    ``edges_only``, of np.histogram_bin_edges."""
    edges, uniform, t = _edges_fn(a, bins, range, weights)
    if not uniform:
        de = np.broadcast_to(np.asarray(dbins, dtype=float), edges.shape).copy()
    else:
        if range is not None:
            dr = np.broadcast_to(np.asarray(drange, dtype=float), (2,))
            dlo, dhi = dr[0], dr[1]
        elif np.size(a):
            flat = _flat(a)
            dfl = np.broadcast_to(np.asarray(da, dtype=float), np.shape(a)).ravel()
            dlo, dhi = dfl[np.argmin(flat)], dfl[np.argmax(flat)]
        else:
            dlo = dhi = 0.0
        de = dlo * (1.0 - t) + dhi * t
    if edges_only:
        return de
    idx, inside = _bin_of(a, edges)
    dw = np.broadcast_to(np.asarray(dweights, dtype=float), np.shape(a)).ravel()
    dh = np.bincount(idx[inside], weights=dw[inside], minlength=len(edges) - 1)
    return (dh, de)


def bincount_tangent(x, dweights, minlength=0):
    """The tangent of np.bincount(x, weights, minlength) (linear in the weights)."""
    dw = np.broadcast_to(np.asarray(dweights, dtype=float), np.shape(x))
    return np.bincount(x, weights=dw, minlength=minlength)
