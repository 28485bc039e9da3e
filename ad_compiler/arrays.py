"""Arrays that are not NumPy's: Dask, CuPy and other array types that
implement NumPy's dispatch protocols.

Generated code and the runtime call NumPy's functions (``np.exp``,
``np.sum``, ``np.zeros_like``, ``np.broadcast_to``...).  For an array type
that implements ``__array_function__`` / ``__array_ufunc__`` (NEP 18, NEP
13) those calls dispatch to the type's own implementation: a Dask array
stays a lazy Dask array, a CuPy array stays on its GPU.  What must never
happen to such an array is ``np.asarray(x)`` (it computes a Dask graph, and
CuPy refuses it) or a fresh ``np.zeros(shape)`` mixed with it (host memory):
the runtime uses ``asarray`` and ``zeros`` below instead where its operand
may be foreign.

A *foreign array* is an object with ``shape`` and ``dtype`` whose type
implements ``__array_function__`` (or the array API's
``__array_namespace__``) and is neither ``np.ndarray`` (nor a subclass)
nor a NumPy scalar.  Nothing here imports Dask or CuPy.
"""
import numpy as np

# type -> whether its instances are foreign arrays (a few types per program)
_FOREIGN = {np.ndarray: False, float: False, int: False, bool: False,
            complex: False, type(None): False, tuple: False, list: False,
            dict: False, str: False}


#: types that are never foreign: generated code's hot helpers test
#: ``type(x) in NATIVE`` before calling anything here
NATIVE = frozenset({np.ndarray, float, int, bool, complex, np.float64, np.float32,
                    np.complex128, np.int64, type(None)})


def is_foreign_type(t):
    """Whether instances of class ``t`` are foreign arrays."""
    known = _FOREIGN.get(t)
    if known is None:
        known = (not issubclass(t, (np.ndarray, np.generic))
                 and (hasattr(t, "__array_function__") or hasattr(t, "__array_namespace__"))
                 and hasattr(t, "shape") and hasattr(t, "dtype"))
        _FOREIGN[t] = known
    return known


def is_foreign(x):
    """Whether ``x`` is an array of another library (Dask, CuPy...)."""
    return is_foreign_type(type(x))


def is_array(x):
    """A NumPy array or a foreign array."""
    return isinstance(x, np.ndarray) or is_foreign_type(type(x))


def asarray(x):
    """``np.asarray(x)``, except that a foreign array is returned as it is
    (never converted to NumPy: that would compute a Dask graph or copy a
    GPU array to the host)."""
    if type(x) is np.ndarray or is_foreign_type(type(x)):
        return x
    return np.asarray(x)


def zeros(shape, dtype, like):
    """``np.zeros(shape, dtype)`` of the array type of ``like`` (a foreign
    array gets zeros of its own kind: lazy for Dask, on the GPU for CuPy)."""
    if is_foreign_type(type(like)):
        return np.zeros_like(like, dtype=dtype, shape=shape)
    return np.zeros(shape, dtype=dtype)


def like(g, x):
    """``g`` as an array of the kind of ``x`` where x is foreign and g is a
    NumPy array (CuPy refuses to mix them; for Dask it avoids a NumPy array
    in the graph): ``np.asarray(g, like=x)`` (NEP 35)."""
    if isinstance(g, np.ndarray) and is_foreign_type(type(x)):
        return np.asarray(g, like=x)
    return g


def size(x):
    """``np.size(x)`` (Dask warns that it does not implement np.size)."""
    if is_foreign_type(type(x)):
        return x.size
    return np.size(x)


def any_foreign(*xs):
    """The first foreign array among ``xs``, else None."""
    for x in xs:
        if is_foreign_type(type(x)):
            return x
    return None
