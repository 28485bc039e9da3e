"""The small runtime that generated code imports (as ``ad``).

It depends on NumPy only.  Every helper is cheap when there is nothing to do
(``unbroadcast`` of equal shapes returns its input untouched).
"""
import dataclasses
import functools
import math
import numbers

import numpy as np

from ad_compiler import arrays
from ad_compiler.errors import CompileError   # (errors.py: stdlib only, the bottom too)

_NATIVE = arrays.NATIVE     # (never Dask/CuPy arrays: the fast path of the helpers)


def _float_dtype(x, g):
    """The dtype of a derivative of ``x``: x's own if it is inexact (float32
    stays float32), else that of ``g``/float64."""
    dt = getattr(x, "dtype", None)
    if dt is not None and dt.kind in "fc":
        return dt
    gd = getattr(g, "dtype", None)
    if gd is not None and gd.kind in "fc":
        return gd
    return np.float64


_PLAIN_REALS = (float, int)


def unbroadcast(g, x):
    """Sum ``g`` down to the shape of ``x`` (the adjoint of broadcasting).
    The adjoint of a real ``x`` is real: the imaginary part that a complex
    operation (``1j * x``) leaves in it is dropped here, at every operand,
    so that it never reaches the next complex operation upstream."""
    if isinstance(g, float) and type(x) in _PLAIN_REALS:
        return g                           # Python numbers: nothing to sum
    try:                                   # the common case, cheaply
        if g.shape == x.shape:
            if g.dtype.kind == "c" and x.dtype.kind != "c":
                return g.real
            return g
    except AttributeError:
        pass
    if isinstance(x, (list, tuple)):
        return _unbroadcast_sequence(g, x)
    out = _unbroadcast_array(g, np.shape(x))
    if np.iscomplexobj(out) and not np.iscomplexobj(x):
        return np.real(out)
    return out


def _unbroadcast_array(g, shape):
    gshape = np.shape(g)
    if gshape == shape:
        return g
    if not shape:
        return np.sum(g)
    extra = len(gshape) - len(shape)
    if extra:
        g = np.sum(g, axis=tuple(range(extra)))
    axes = tuple(i for i, (a, b) in enumerate(zip(shape, np.shape(g)))
                 if a == 1 and b != 1)
    if axes:
        g = np.sum(g, axis=axes, keepdims=True)
    if np.shape(g) != shape:
        g = np.broadcast_to(g, shape)
    return g


def _unbroadcast_sequence(g, x):
    """``unbroadcast`` to a list or tuple ``x``.

    NumPy broadcasting of a list operand (``X * [a, b, c]``) is summed down
    to x's shape as for an array.  Refused is only what may be a ``+``/``*``
    that concatenated or repeated lists the compiler did not recognize (the
    array rules were chosen for a value not known to be a list, such as a
    helper's result through another call): the adjoint is then itself a
    list of another length, or x's shape cannot take part in broadcasting
    (a ragged x, incompatible shapes), or -- the one case NumPy broadcasting
    could also produce -- x has leading length 1 and the adjoint has x's
    number of dimensions but another leading length (``[a] + [b]``,
    ``[a] * 3``).  Summing those down would be a silently wrong derivative."""
    if np.ndim(g) == 0 and not isinstance(g, (list, tuple)):
        if np.all(g == 0):
            return g
    elif isinstance(g, (list, tuple)):
        if len(g) == len(x):
            return g
    else:
        try:
            shape = np.shape(x)
            gshape = np.shape(g)
            compatible = np.broadcast_shapes(shape, gshape) == gshape
        except ValueError:                 # ragged x or incompatible shapes
            compatible = False
        if compatible:
            if gshape == shape:
                return g
            if not (len(gshape) == len(shape) and shape[0] == 1 != gshape[0]):
                return _unbroadcast_array(g, shape)
    raise TypeError(
        f"cannot differentiate an operation on a {type(x).__name__} of length "
        f"{len(x)} whose result has another length or shape "
        f"({_describe_shape(g)}): a + or * that concatenates or repeats lists "
        f"the compiler could not recognize (e.g. results of your own functions "
        f"through another call), or NumPy broadcasting of a list of length 1 "
        f"along its length (which the compiler cannot tell apart from those). "
        f"Build the list with a display or list() in the same function "
        f"(a = list(f(x)) + list(g(x))), or, for a list meant as an array, "
        f"convert it with np.array(...) (np.array([a]) - x).")


def _describe_shape(g):
    if isinstance(g, (list, tuple)):
        return f"a {type(g).__name__} of length {len(g)}"
    try:
        return f"shape {np.shape(g)}"
    except ValueError:
        return type(g).__name__


# --- records: NamedTuples and dataclasses as pytrees ------------------------
# A NamedTuple's derivative is positional like a tuple's (a list or tuple of
# its fields' derivatives, or the NamedTuple itself); a dataclass's is a dict
# {field: derivative} (missing: no contribution) or the dataclass itself.
# ``complete`` gives gradients the record's own type; a dataclass gradient
# is built without calling __init__/__post_init__ (``build_dataclass``).

def is_namedtuple(x):
    return isinstance(x, tuple) and hasattr(type(x), "_fields")


def is_dataclass_instance(x):
    return hasattr(type(x), "__dataclass_fields__") and not isinstance(x, type)


def record_fields(like):
    """The field names of a NamedTuple or dataclass (instance or class), else None."""
    cls = like if isinstance(like, type) else type(like)
    if issubclass(cls, tuple) and hasattr(cls, "_fields"):
        return tuple(cls._fields)
    if hasattr(cls, "__dataclass_fields__"):
        return tuple(f.name for f in dataclasses.fields(cls))
    return None


def _rebuild(like, items):
    """A list, tuple or NamedTuple of ``like``'s type holding ``items``."""
    if isinstance(like, tuple) and hasattr(type(like), "_fields"):
        return type(like)._make(items)
    return type(like)(items)


def build_dataclass(cls, values):
    """An instance of the dataclass ``cls`` whose fields are ``values``
    (a dict; missing fields are None), made without calling __init__ or
    __post_init__ (a gradient is not a value those should validate or
    derive fields from); frozen and slotted dataclasses too."""
    obj = object.__new__(cls)
    for f in dataclasses.fields(cls):
        object.__setattr__(obj, f.name, values.get(f.name))
    return obj


def _field_dict(g):
    """A dataclass's derivative as a dict {field: derivative}."""
    if g is None:
        return {}
    if isinstance(g, dict):
        return g
    if is_dataclass_instance(g):
        return {f.name: getattr(g, f.name) for f in dataclasses.fields(g)}
    raise TypeError(f"expected the derivative of a dataclass (a dataclass or a dict of "
                    f"its fields), got {type(g).__name__}")


def _not_a_record(x, name):
    return TypeError(
        f"cannot differentiate the attribute .{name} of a {type(x).__name__}: attributes "
        f"are differentiated on NamedTuples and dataclasses only (and .T, .real, .imag "
        f"of arrays); compute the value with a NumPy function instead")


def field(x, name):
    """``x.name`` (the primitive an attribute read is differentiated as)."""
    return getattr(x, name)


def field_of(g, like, name):
    """The part for field ``name`` of the derivative ``g`` of a record like
    ``like`` (an instance or its class); None when g has none."""
    if g is None:
        return None
    if isinstance(g, dict):
        return g.get(name)
    if isinstance(g, (tuple, list)):
        return g[record_fields(like).index(name)]
    if is_dataclass_instance(g) and name in record_fields(g):
        return getattr(g, name)
    kind = like.__name__ if isinstance(like, type) else type(like).__name__
    raise TypeError(f"the derivative of a {kind} must be a {kind} (or a tuple/dict of its "
                    f"fields' derivatives), got {type(g).__name__}")


def field_grad(g, x, name):
    """Adjoint of ``x.name`` with respect to the record ``x``."""
    if is_namedtuple(x):
        out = [zeros_like(v) for v in x]
        out[x._fields.index(name)] = g
        return out
    if is_dataclass_instance(x):
        return {name: g}
    raise _not_a_record(x, name)


def field_tangent(t, x, name):
    """Tangent of ``x.name`` from the tangent ``t`` of the record ``x``."""
    if not (is_namedtuple(x) or is_dataclass_instance(x)):
        raise _not_a_record(x, name)
    v = field_of(t, x, name)
    return zeros_like(getattr(x, name)) if v is None else v


def record(cls, fields, values):
    """``cls(**dict(zip(fields, values)))``: a NamedTuple or dataclass built
    from differentiated values (the primitive of the constructor call)."""
    return cls(**dict(zip(fields, values)))


def record_grad(g, like, fields, values):
    """Adjoints of the ``values`` given for ``fields`` of a record like
    ``like`` (its class or an instance), from the record's adjoint ``g``."""
    out = []
    for f, v in zip(fields, values):
        p = field_of(g, like, f)
        out.append(zeros_like(v) if p is None else p)
    return tuple(out)


def as_record(t, x):
    """The derivative ``t`` of the record ``x`` as a record of x's type
    (missing parts are zeros)."""
    names = record_fields(x)
    parts = {}
    for f in names:
        p = field_of(t, x, f)
        parts[f] = zeros_like(getattr(x, f)) if p is None else p
    if is_namedtuple(x):
        return type(x)._make(parts[f] for f in names)
    return build_dataclass(type(x), parts)


def record_tangent(z, fields, tangents):
    """Tangent of the record ``z`` built from values for ``fields`` whose
    tangents are ``tangents`` (fields left to their defaults: zeros)."""
    given = dict(zip(fields, tangents))
    parts = {f: given[f] if f in given else zeros_like(getattr(z, f))
             for f in record_fields(z)}
    if is_namedtuple(z):
        return type(z)._make(parts[f] for f in record_fields(z))
    return build_dataclass(type(z), parts)


def replace_fields(x, fields, values):
    """``x._replace(**kw)`` / ``dataclasses.replace(x, **kw)``."""
    kw = dict(zip(fields, values))
    return x._replace(**kw) if is_namedtuple(x) else dataclasses.replace(x, **kw)


def replace_grad(g, x, fields):
    """Adjoint of ``replace_fields(x, fields, ...)`` with respect to ``x``:
    ``g`` without the replaced fields."""
    if g is None:
        return None
    if is_namedtuple(x):
        out = [field_of(g, x, f) for f in x._fields]
        for i, f in enumerate(x._fields):
            if f in fields or out[i] is None:
                out[i] = zeros_like(x[i])
        return out
    return {k: v for k, v in _field_dict(g).items() if k not in fields}


def replaced_tangent(t, x, fields, tangents):
    """Tangent of ``replace_fields(x, fields, values)``."""
    r = as_record(t, x)
    kw = dict(zip(fields, tangents))
    if is_namedtuple(x):
        return r._replace(**kw)
    parts = _field_dict(r)
    parts.update(kw)
    return build_dataclass(type(x), parts)


class NotScalarOutput(TypeError):
    """grad of a function (or a derivative) whose output is not a scalar
    (api.hessian then takes the Jacobian of its Jacobian instead)."""


def scalar_seed(out):
    """The seed adjoint of a scalar output; refuses non-scalar outputs."""
    if isinstance(out, float):               # float and np.float64
        return 1.0
    if isinstance(out, (np.ndarray, np.generic)) and out.size == 1 and out.dtype.kind in "fc":
        return np.ones_like(out) if out.ndim else out.dtype.type(1)
    if isinstance(out, int) and not isinstance(out, bool):
        return 1.0
    if arrays.is_foreign(out) and out.size == 1 and out.dtype.kind in "fc":
        # (a 0-d seed is a NumPy scalar, which Dask and CuPy broadcast; else
        # ones of the array's own kind: lazy for Dask)
        return out.dtype.type(1) if out.ndim == 0 else np.ones_like(out)
    kind = type(out).__name__
    shape = np.shape(out) if not isinstance(out, (tuple, list, dict)) else None
    raise NotScalarOutput(
        f"grad requires the function to return a scalar (a float or an "
        f"array of size 1); it returned {kind}"
        + (f" of shape {shape}" if shape is not None else "")
        + ". Use jacobian() or vjp() for non-scalar outputs, or reduce "
          "the output (e.g. with np.sum) first.")


def aux_pair(value):
    """``has_aux``: the function's return value, checked to be a pair
    ``(output, aux)`` (else ``value[0]`` would silently pick an element)."""
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return value
    raise TypeError(
        f"has_aux=True: the function must return a pair (output, aux); it returned "
        f"{type(value).__name__}"
        + (f" of length {len(value)}" if isinstance(value, (tuple, list)) else "")
        + ". Return (output, aux), or drop has_aux=True")


def zeros_like(x):
    """A zero derivative shaped like ``x`` (containers map element-wise)."""
    if isinstance(x, (tuple, list)):
        return _rebuild(x, [zeros_like(v) for v in x])
    if isinstance(x, dict):
        return {k: zeros_like(v) for k, v in x.items()}
    if x is None:
        return None
    # scalars keep their kind: a list of floats' derivative is a list of
    # floats (np.zeros_like would give 0-d arrays)
    if type(x) in (float, int, bool):
        return 0.0
    if type(x) is complex:
        return 0j
    if isinstance(x, np.generic):
        return x.dtype.type(0) if x.dtype.kind in "fc" else np.float64(0.0)
    if is_dataclass_instance(x):
        return build_dataclass(type(x), {f.name: zeros_like(getattr(x, f.name))
                                         for f in dataclasses.fields(x)})
    arr = arrays.asarray(x)
    if arr.dtype.kind in "fc":
        return np.zeros_like(arr)
    return arrays.zeros(arr.shape, np.float64, arr)


def zeros_buffer(x):
    """``zeros_like(x)`` as an adjoint buffer that ``add_at`` can update in
    place: a tuple's is a list (``complete`` gives the tuple back)."""
    z = zeros_like(x)
    return list(z) if isinstance(z, tuple) else z


def add(a, b):
    """Accumulate derivatives; understands containers (dicts merge by key)
    and ``None`` (no contribution)."""
    if type(a) is float and type(b) is float:
        return a + b
    if a is None:
        return b
    if b is None:
        return a
    if is_dataclass_instance(a) or is_dataclass_instance(b):
        # (a dataclass's derivative: the dataclass or a dict of its fields)
        a, b = _field_dict(a), _field_dict(b)
    if isinstance(a, dict):
        out = dict(a)
        for k, v in b.items():
            out[k] = add(out[k], v) if k in out else v
        return out
    if isinstance(a, (tuple, list)):
        return _rebuild(a, [add(u, v) for u, v in zip(a, b)])
    return a + b


def complete(g, x):
    """A derivative of ``x`` with exactly x's structure and shapes: missing
    entries of containers become zeros, tuples stay tuples."""
    if type(x) is tuple and type(g) is list and len(g) == len(x) and all(
            type(u) is float and type(v) is float for u, v in zip(g, x)):
        return tuple(g)                     # a tuple of Python floats (a state)
    if isinstance(x, dict):
        g = g if isinstance(g, dict) else {}
        return {k: complete(g[k], v) if k in g else zeros_like(v) for k, v in x.items()}
    if isinstance(x, (tuple, list)):
        if not isinstance(g, (tuple, list)):
            g = [None] * len(x)
        return _rebuild(x, [complete(u, v) if u is not None else zeros_like(v)
                            for u, v in zip(g, x)])
    if is_dataclass_instance(x):
        g = _field_dict(g)
        return build_dataclass(type(x), {
            f.name: complete(g.get(f.name), getattr(x, f.name)) for f in dataclasses.fields(x)})
    if g is None or _is_integer_leaf(x):
        return zeros_like(x)      # (an integer leaf of a pytree: no derivative)
    if np.shape(g) != np.shape(x):
        return match(g, x)
    return g


def like(t, z):
    """A tangent ``t`` broadcast to the shape of the primal result ``z``."""
    if isinstance(z, (list, tuple)):        # a concatenation: tangents concatenated
        if isinstance(t, (list, tuple)) and len(t) == len(z):
            return t
        if np.ndim(t) == 0 and not isinstance(t, (list, tuple)) and np.all(t == 0):
            return zeros_like(z)
        return _unbroadcast_sequence(t, z)
    shape = np.shape(z)
    if np.shape(t) == shape:
        return t
    return np.broadcast_to(t, shape)


def updated(a, idx, v):
    """Functional ``a[idx] = v``: a new array (dict, list), ``a`` untouched."""
    if isinstance(a, (dict, list)):
        out = type(a)(a)
        out[idx] = v
        return out
    out = np.array(a, dtype=np.result_type(a, v, 0.0), copy=True)
    out[idx] = v
    return out


def _is_integer_leaf(x):
    """An int, bool or integer array: a leaf of a pytree with no derivative."""
    if type(x) in (int, bool):
        return True
    return isinstance(x, (np.integer, np.bool_)) or (
        isinstance(x, np.ndarray) and x.dtype.kind in "biu")


def through_cast(g, z):
    """A derivative ``g`` carried through a cast (``x.astype(dt)``,
    ``np.asarray(x, dtype=dt)``) whose result is ``z``: zero when z is an
    integer or boolean array or number (the cast is piecewise constant, and
    its derivative must not pass the value's derivative on), else g."""
    dt = getattr(z, "dtype", None)
    kind = dt.kind if dt is not None else (
        "b" if isinstance(z, bool) else "i" if isinstance(z, int) else "f")
    if kind in "biu":
        return np.zeros(np.shape(g), dtype=_float_dtype(g, None))
    return g


def match(g, x):
    """Make a derivative ``g`` of ``x`` have exactly x's shape."""
    if isinstance(x, (tuple, list, dict)) or is_dataclass_instance(x):
        return g
    if np.shape(g) == np.shape(x):
        return g
    if (type(x) not in _NATIVE or type(g) not in _NATIVE) and arrays.any_foreign(g, x) is not None:
        return np.zeros_like(x, dtype=_float_dtype(x, g)) + arrays.like(g, x)
    return np.broadcast_to(g, np.shape(x)) + np.zeros_like(x, dtype=np.result_type(g, 0.0))


def _is_basic(idx):
    if isinstance(idx, tuple):
        return all(_is_basic(i) for i in idx)
    return (idx is None or idx is Ellipsis or isinstance(idx, (slice, int, np.integer)))


def scatter(g, x, idx):
    """The adjoint of ``x[idx]``: zeros shaped like x with ``g`` added at idx."""
    if g is None:                       # (no contribution: never a NaN entry)
        return zeros_like(x)
    if isinstance(x, dict):
        return {idx: g}
    if isinstance(x, (tuple, list)):
        out = [zeros_like(v) for v in x]
        if isinstance(idx, slice):
            for i, v in zip(range(len(x))[idx], g):
                out[i] = v
        else:
            out[idx] = g
        return out
    if (type(x) not in _NATIVE or type(g) not in _NATIVE) and arrays.any_foreign(g, x) is not None:
        return _scatter_foreign(g, x, idx)
    out = np.zeros(np.shape(x), dtype=np.result_type(x, g, 0.0))
    if _is_basic(idx):
        out[idx] = g
    else:
        np.add.at(out, idx, g)
    return out


def _scatter_foreign(g, x, idx):
    """``scatter`` for a Dask/CuPy... operand: zeros of x's kind with ``g``
    written at a basic index (slices, ints, None, ...); a fancy index,
    which could repeat entries, needs ``np.add.at``: CuPy has it
    (``cupyx.scatter_add``), Dask has not."""
    dt = np.result_type(x.dtype, getattr(g, "dtype", np.float64), 0.0)
    out = np.zeros_like(x, dtype=dt) if arrays.is_foreign(x) else arrays.zeros(np.shape(x), dt, g)
    g = arrays.like(g, out)
    if _is_basic(idx):
        out[idx] = g
        return out
    try:
        np.add.at(out, idx, g)
    except (TypeError, NotImplementedError, AttributeError) as exc:
        raise TypeError(
            f"the adjoint of indexing a {type(out).__module__}.{type(out).__name__} with an "
            f"integer/boolean array needs np.add.at, which it does not support ({exc}); "
            f"index it with slices and integers, or use NumPy arrays") from None
    return out


def add_at(buf, idx, g):
    """``buf[idx] += g`` in place, correct for repeated fancy indices."""
    if isinstance(buf, dict):
        buf[idx] = add(buf[idx], g) if idx in buf else g
        return
    if isinstance(buf, list):
        if isinstance(idx, slice):
            for i, v in zip(range(len(buf))[idx], g):
                buf[i] = add(buf[i], v)
        else:
            buf[idx] = add(buf[idx], g)
        return
    if _is_basic(idx):
        buf[idx] += g
    else:
        np.add.at(buf, idx, g)


def added_at(buf, idx, g):
    """Functional ``add_at``: a new value, ``buf`` untouched."""
    if isinstance(buf, dict):
        out = dict(buf)
    elif isinstance(buf, list):
        out = list(buf)
    else:
        out = np.array(buf, dtype=np.result_type(buf, g, 0.0), copy=True)
    add_at(out, idx, g)
    return out


def push(stack, value):
    stack.append(value)


def pop(stack):
    return stack.pop()


# --- helpers of specific rules -------------------------------------------

def _normalize_axis(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (tuple, list)):
        return tuple(a % ndim for a in axis)
    return (axis % ndim,)


def expand(g, x, axis=None, keepdims=False):
    """Broadcast the adjoint ``g`` of a reduction of ``x`` back to x's shape."""
    shape = np.shape(x)
    if (type(x) not in _NATIVE or type(g) not in _NATIVE) and arrays.any_foreign(g, x) is not None:
        return _expand_foreign(g, x, shape, axis, keepdims)
    if axis is None and np.ndim(g) == 0:
        if not shape:
            return g
        out = np.empty(shape, dtype=_float_dtype(x, g))
        out.fill(g)
        return out
    if not keepdims and axis is not None and len(shape):
        g = np.expand_dims(g, _normalize_axis(axis, len(shape)))
    return broadcast_to(g, shape)


def _expand_foreign(g, x, shape, axis, keepdims):
    """``expand`` where ``g`` or ``x`` is a Dask/CuPy... array: zeros of
    x's own kind (lazy for Dask, chunked like x) plus ``g``, broadcast."""
    if not shape:
        return g
    if not keepdims and axis is not None:
        g = np.expand_dims(g, _normalize_axis(axis, len(shape)))
    return np.zeros_like(x, dtype=_float_dtype(x, g)) + arrays.like(g, x)


_SMALL = 4096


def broadcast_to(g, shape):
    """``np.broadcast_to(g, shape)``; a small result is materialized instead
    (np.broadcast_to's Python layer costs about 2 µs, a copy of a few KB
    less).  Callers only read the result."""
    n = 1
    for d in shape:
        n *= d
    if n <= _SMALL and not arrays.is_foreign(g):
        out = np.empty(shape, dtype=getattr(g, "dtype", None) or np.result_type(g))
        out[...] = g
        return out
    return np.broadcast_to(g, shape)


def reduced_count(x, axis=None):
    """How many entries a reduction of ``x`` over ``axis`` combines."""
    if axis is None:
        return arrays.size(x)
    shape = np.shape(x)
    n = 1
    for a in _normalize_axis(axis, len(shape)):
        n *= shape[a]
    return n


def mean_grad(g, x, axis=None, keepdims=False):
    """Adjoint of np.mean."""
    n = reduced_count(x, axis)
    if axis is None and np.ndim(g) == 0:
        return expand(g / n, x)
    return expand(g, x, axis, keepdims) / n


def extremum_mask(x, z, axis=None, keepdims=False):
    """Where ``x`` attains its reduced extremum ``z``, split evenly among
    ties, in x's float dtype (float32 stays float32)."""
    x = np.asarray(x)
    zb = np.asarray(z)
    if not keepdims and axis is not None and x.ndim:
        zb = np.expand_dims(zb, _normalize_axis(axis, x.ndim))
    mask = x == zb                      # (z broadcasts: no copy of it)
    count = mask.sum(axis=axis, keepdims=True) if axis is not None else mask.sum()
    dt = x.dtype if x.dtype.kind in "fc" else np.dtype(np.float64)
    return mask / np.asarray(count, dtype=dt)


def _keep_dtype(fn):
    """Derivative helpers return x's float dtype (float32 stays float32)."""

    @functools.wraps(fn)
    def wrapper(g, x, *args, **kwargs):
        out = fn(g, x, *args, **kwargs)
        dt = getattr(x, "dtype", None)
        if dt is not None and dt.kind in "fc" and getattr(out, "dtype", dt) != dt \
                and np.result_type(dt, getattr(g, "dtype", dt)) == dt:
            out = np.asarray(out).astype(dt, copy=False)
        return out
    return wrapper


@_keep_dtype
def prod_grad(g, x, z, axis=None, keepdims=False):
    """Adjoint of np.prod, exact also when some entries are zero."""
    x = np.asarray(x)
    gz = expand(g, x, axis, keepdims)
    if axis is None:
        flat = x.reshape(-1)
        n = flat.size
        left = np.concatenate([[1.0], np.cumprod(flat[:-1])]) if n else flat
        right = np.concatenate([np.cumprod(flat[::-1][:-1])[::-1], [1.0]]) if n else flat
        return gz * (left * right).reshape(x.shape)
    ax = _normalize_axis(axis, x.ndim)
    if len(ax) != 1:
        out = np.ones_like(x, dtype=np.result_type(x, 0.0))
        moved = np.moveaxis(x, ax, tuple(range(len(ax))))
        flat = moved.reshape((-1,) + moved.shape[len(ax):])
        left = np.concatenate([np.ones_like(flat[:1]), np.cumprod(flat[:-1], axis=0)])
        right = np.concatenate([np.cumprod(flat[::-1][:-1], axis=0)[::-1], np.ones_like(flat[:1])])
        out = np.moveaxis((left * right).reshape(moved.shape), tuple(range(len(ax))), ax)
        return gz * out
    a = ax[0]
    ones = np.ones_like(np.take(x, [0], axis=a))
    left = np.concatenate([ones, np.cumprod(np.take(x, range(x.shape[a] - 1), axis=a), axis=a)], axis=a)
    rev = np.flip(x, axis=a)
    right = np.flip(np.concatenate([ones, np.cumprod(np.take(rev, range(x.shape[a] - 1), axis=a), axis=a)], axis=a), axis=a)
    return gz * left * right


def _ndim(a):
    try:
        return a.ndim
    except AttributeError:
        return np.ndim(a)


def matmul_grad_left(g, x, y):
    """Adjoint of ``x @ y`` with respect to x (vectors and stacks handled)."""
    xd, yd = _ndim(x), _ndim(y)
    if xd == 2 and yd == 2:
        return g @ y.T
    if xd == 2 and yd == 1:
        return np.multiply.outer(g, y)
    x = arrays.asarray(x); y = arrays.asarray(y); g = arrays.asarray(g)
    if yd == 1:
        if xd == 1:
            return g * y
        return unbroadcast(g[..., None] * y, x)
    if xd == 1:
        if g.ndim == 1:
            return y @ g
        return unbroadcast(np.matmul(y, g[..., None])[..., 0], x)
    return unbroadcast(np.matmul(g, np.swapaxes(y, -1, -2)), x)


def matmul_grad_right(g, x, y):
    """Adjoint of ``x @ y`` with respect to y."""
    xd, yd = _ndim(x), _ndim(y)
    if xd == 2 and yd == 2:
        return x.T @ g
    if xd == 2 and yd == 1:
        return x.T @ g
    x = arrays.asarray(x); y = arrays.asarray(y); g = arrays.asarray(g)
    if xd == 1:
        if yd == 1:
            return g * x
        return unbroadcast(x[:, None] * g[..., None, :], y)
    if yd == 1:
        return unbroadcast(np.matmul(np.swapaxes(x, -1, -2), g[..., None])[..., 0], y)
    return unbroadcast(np.matmul(np.swapaxes(x, -1, -2), g), y)


def dot_grad_left(g, x, y):
    """Adjoint of ``np.dot(x, y)`` w.r.t. x for operands of at most 2 dims
    (``dot_vjp_a`` below handles N-d operands)."""
    if _ndim(x) == 1 and _ndim(y) == 1:
        return g * y
    x = arrays.asarray(x); y = arrays.asarray(y)
    if x.ndim == 0 or y.ndim == 0:
        return unbroadcast(g * y, x)
    return matmul_grad_left(g, x, y)


def dot_grad_right(g, x, y):
    """Adjoint of ``np.dot(x, y)`` w.r.t. y (at most 2 dims, as above)."""
    if _ndim(x) == 1 and _ndim(y) == 1:
        return g * x
    x = arrays.asarray(x); y = arrays.asarray(y)
    if x.ndim == 0 or y.ndim == 0:
        return unbroadcast(g * x, y)
    return matmul_grad_right(g, x, y)


# --- N-d dot and tensordot adjoints (runtime_numpy re-exports them) ------

def match_complex(g, x):
    """Cast the derivative ``g`` to the real/complex kind of ``x``."""
    gc = np.iscomplexobj(g)
    xc = np.iscomplexobj(x)
    if gc and not xc:
        return np.real(g)
    if xc and not gc:
        return g + 0j
    return g


def _tensordot_axes(axes, a_ndim, b_ndim):
    if isinstance(axes, (int, np.integer)):
        n = max(int(axes), 0)
        return list(range(a_ndim - n, a_ndim)), list(range(n))
    ax0, ax1 = axes
    ax0 = [ax0] if isinstance(ax0, (int, np.integer)) else list(ax0)
    ax1 = [ax1] if isinstance(ax1, (int, np.integer)) else list(ax1)
    return [a % a_ndim for a in ax0], [b % b_ndim for b in ax1]


def tensordot_vjp_a(g, a, b, axes=2):
    """Adjoint of ``np.tensordot(a, b, axes)`` w.r.t. ``a``."""
    a_nd, b_nd = np.ndim(a), np.ndim(b)
    g = np.asarray(g)
    if b_nd == 0:
        return match_complex(g * b, a)
    sa, sb = _tensordot_axes(axes, a_nd, b_nd)
    free_a = [k for k in range(a_nd) if k not in sa]
    free_b = [k for k in range(b_nd) if k not in sb]
    gax = list(range(len(free_a), g.ndim))
    out = np.tensordot(g, b, (gax, free_b))
    # out axes: free_a..., then sb in order -> map back to a's axes
    perm_src = free_a + [sa[sb.index(k)] for k in sorted(sb)]
    out = np.transpose(out, np.argsort(perm_src))
    return match_complex(out, a)


def tensordot_vjp_b(g, a, b, axes=2):
    """Adjoint of ``np.tensordot(a, b, axes)`` w.r.t. ``b``."""
    a_nd, b_nd = np.ndim(a), np.ndim(b)
    g = np.asarray(g)
    if a_nd == 0:
        return match_complex(g * a, b)
    sa, sb = _tensordot_axes(axes, a_nd, b_nd)
    free_a = [k for k in range(a_nd) if k not in sa]
    free_b = [k for k in range(b_nd) if k not in sb]
    gax = list(range(len(free_a)))
    out = np.tensordot(a, g, (free_a, gax))
    # out axes: sa (a's remaining = contracted, in a order), then free_b
    contracted_a = [k for k in range(a_nd) if k in sa]
    perm_src = [sb[sa.index(k)] for k in contracted_a] + free_b
    out = np.transpose(out, np.argsort(perm_src))
    return match_complex(out, b)


def dot_vjp_a(g, a, b):
    """Adjoint of ``np.dot(a, b)`` w.r.t. ``a`` (any ndim)."""
    if _ndim(a) <= 2 and _ndim(b) <= 2:
        return dot_grad_left(g, a, b)
    return tensordot_vjp_a(g, a, b, dot_axes(a, b))


def dot_vjp_b(g, a, b):
    """Adjoint of ``np.dot(a, b)`` w.r.t. ``b`` (any ndim)."""
    if _ndim(a) <= 2 and _ndim(b) <= 2:
        return dot_grad_right(g, a, b)
    return tensordot_vjp_b(g, a, b, dot_axes(a, b))


def dot_axes(a, b):
    """np.dot(a, b) as a tensordot: its axes argument."""
    if np.ndim(a) == 0 or np.ndim(b) == 0:
        return 0
    return ([np.ndim(a) - 1], [max(np.ndim(b) - 2, 0)])


def _unit(x):
    """x / |x| elementwise (0 at 0): np.sign of NumPy 2, also for complex x on
    NumPy 1.x (where np.sign(x) is the sign of the real part)."""
    if not np.iscomplexobj(x):
        return np.sign(x)
    r = np.abs(x)
    return x / np.where(r == 0, 1, r) * (r != 0)


def _norm_kind(x, ord, axis):
    """How np.linalg.norm(x, ord, axis) reduces x: ``("vector", axis)`` (the
    2-norm of all of x when ord is None and axis is None) or ``("matrix",
    (row, col))`` with non-negative axes."""
    nd = np.ndim(x)
    if isinstance(axis, (tuple, list)) and len(axis) == 1:
        return "vector", axis
    if axis is None:
        if ord is None or nd == 1:
            return "vector", None
        return "matrix", (0, 1)
    if np.ndim(axis) == 0:
        return "vector", axis
    r, c = (int(a) % nd for a in axis)
    return "matrix", (r, c)


def _norm_ones(v, x, axes, keepdims):
    """``v`` (a norm's result or its adjoint) with the reduced ``axes`` of x
    kept as length-1 dimensions."""
    v = np.asarray(v)
    if keepdims or not np.ndim(x):
        return v
    if axes is None:
        return np.reshape(v, (1,) * np.ndim(x))
    return np.expand_dims(v, tuple(sorted(a % np.ndim(x) for a in axes)))


@_keep_dtype
def norm_grad(g, x, z, ord=None, axis=None, keepdims=False):
    """Adjoint of np.linalg.norm: vector norms of every order and the matrix
    norms (Frobenius, nuclear, 1, -1, inf, -inf, 2, -2).  ``x`` is the conj of
    the norm's argument (see the rule)."""
    x = np.asarray(x)
    kind, ax = _norm_kind(x, ord, axis)
    if kind == "vector":
        gz = expand(g, x, axis, keepdims)
        zz = expand(z, x, axis, keepdims)
        if ord is None or ord == 2:
            with np.errstate(invalid="ignore", divide="ignore"):
                return gz * np.where(zz == 0, 0.0, x / np.where(zz == 0, 1.0, zz))
        if ord == 0:                        # a count of nonzeros: constant
            return gz * np.zeros(x.shape, dtype=np.result_type(x, 0.0))
        if ord == 1:
            return gz * _unit(x)
        if ord in (np.inf, -np.inf):        # max / min of |x|: its place(s)
            return gz * _unit(x) * extremum_mask(np.abs(x), z, axis, keepdims)
        if isinstance(ord, (int, float, np.integer, np.floating)):
            with np.errstate(invalid="ignore", divide="ignore"):
                return gz * _unit(x) * np.abs(x) ** (ord - 1) / zz ** (ord - 1)
        raise NotImplementedError(f"derivative of np.linalg.norm with ord={ord!r}")
    r, c = ax
    keep = (r, c)
    ge = _norm_ones(g, x, keep, keepdims if axis is not None else False)
    if ord in (None, "fro"):
        ze = _norm_ones(z, x, keep, keepdims if axis is not None else False)
        with np.errstate(invalid="ignore", divide="ignore"):
            return ge * np.where(ze == 0, 0.0, x / np.where(ze == 0, 1.0, ze))
    if ord in (1, -1, np.inf, -np.inf):
        # 1 / -1: the largest / smallest column sum of |x| (sum over rows),
        # inf / -inf: the largest / smallest row sum; the gradient is sign(x)
        # on the column (row) attaining it, split evenly among ties
        summed, picked = (r, c) if ord in (1, -1) else (c, r)
        s = np.sum(np.abs(x), axis=summed, keepdims=True)
        ze = _norm_ones(z, x, keep, keepdims if axis is not None else False)
        mask = s == ze
        mask = mask / mask.sum(axis=picked, keepdims=True)
        return ge * _unit(x) * mask
    if ord in ("nuc", 2, -2) and x.ndim == 2:
        u, s, vt = np.linalg.svd(x, full_matrices=False)
        if ord == "nuc":
            return ge * (u @ vt)
        k = 0 if ord == 2 else -1
        return ge * np.outer(u[:, k], vt[k])
    raise NotImplementedError(f"derivative of np.linalg.norm with ord={ord!r}, axis={axis!r}")


def norm_grad_tangent(g, x, z, dx, dz, ord=None, axis=None, keepdims=False):
    """Tangent of ``norm_grad`` in x and z: the 2-norm and Frobenius norm,
    the vector p-norms of real x, and the piecewise linear norms (vector 0, 1,
    inf, -inf; matrix 1, -1, inf, -inf), whose gradient is locally constant
    (tangent 0).  The matrix 2-norm, -2-norm and nuclear norm raise."""
    kind, ax = _norm_kind(x, ord, axis)
    if kind == "matrix":
        if ord in (1, -1, np.inf, -np.inf):
            return np.zeros(np.shape(x), dtype=np.result_type(x, g, 0.0))
        if ord not in (None, "fro"):
            raise NotImplementedError(
                f"second derivative of np.linalg.norm with ord={ord!r} is not supported")
        keep = axis is not None and keepdims
        ge = _norm_ones(g, x, ax, keep)
        ze = _norm_ones(z, x, ax, keep)
        dze = _norm_ones(dz, x, ax, keep)
        safe = np.where(ze == 0, 1.0, ze)
        return np.where(ze == 0, 0.0, ge * (dx - x * dze / safe) / safe)
    if ord in (0, 1, np.inf, -np.inf):
        return np.zeros(np.shape(x), dtype=np.result_type(x, g, 0.0))
    ge = expand(g, x, axis, keepdims)
    ze = expand(z, x, axis, keepdims)
    dze = expand(dz, x, axis, keepdims)
    if ord is None or ord == 2:
        # where the norm is 0, norm_grad is the constant 0 (its subgradient
        # convention), so its tangent is 0 there too, not 0/0
        safe = np.where(ze == 0, 1.0, ze)
        return np.where(ze == 0, 0.0, ge * (dx - x * dze / safe) / safe)
    if np.iscomplexobj(x) or np.iscomplexobj(dx):
        raise NotImplementedError(
            f"second derivative of np.linalg.norm with ord={ord!r} of a complex array is not supported")
    # d/dx of sign(x) |x|^(p-1) / z^(p-1)
    p = ord
    with np.errstate(invalid="ignore", divide="ignore"):
        ax_ = np.abs(x)
        return ge * (p - 1) * (ax_ ** (p - 2) * dx / ze ** (p - 1)
                               - np.sign(x) * ax_ ** (p - 1) * dze / ze ** p)


def norm_grad_curvature(g, x, z, u, w, tx, tz, ord=None, axis=None, keepdims=False):
    """The part of the tangent of ``norm_grad_tangent(g, x, z, u, w)`` that
    comes from x and z moving (tangents tx, tz): third derivatives through
    np.linalg.norm (2-norm, Frobenius norm, vector p-norms of real x; the
    piecewise linear norms have a locally constant gradient: 0).  0 where
    the norm is 0, as norm_grad_tangent."""
    kind, _ = _norm_kind(x, ord, axis)
    if ord in ((1, -1, np.inf, -np.inf) if kind == "matrix" else (0, 1, np.inf, -np.inf)):
        return np.zeros(np.shape(x), dtype=np.result_type(x, g, 0.0))
    if kind == "matrix" and ord not in (None, "fro"):
        raise NotImplementedError(
            f"third derivative of np.linalg.norm with ord={ord!r} is not supported")
    ge, ze, we, se = _norm_expanded(x, axis, keepdims, kind, g, z, w, tz)
    if kind == "matrix" or ord is None or ord == 2:
        # d/dx, d/dz of g (u - x w / z) / z
        safe = np.where(ze == 0, 1.0, ze)
        return np.where(ze == 0, 0.0,
                        ge * (2.0 * x * we * se / safe - tx * we - u * se) / (safe * safe))
    if np.iscomplexobj(x) or np.iscomplexobj(tx):
        raise NotImplementedError(
            f"third derivative of np.linalg.norm with ord={ord!r} of a complex array is not supported")
    # d/dx, d/dz of g (p-1) (|x|^(p-2) u / z^(p-1) - sign(x) |x|^(p-1) w / z^p)
    p = ord
    with np.errstate(invalid="ignore", divide="ignore"):
        a, sg = np.abs(x), np.sign(x)
        return ge * (p - 1) * ((p - 2) * a ** (p - 3) * sg * tx * u / ze ** (p - 1)
                               - (p - 1) * a ** (p - 2) * (tx * we + u * se) / ze ** p
                               + p * sg * a ** (p - 1) * we * se / ze ** (p + 1))


def _norm_expanded(x, axis, keepdims, kind, *vs):
    """Norm-shaped values ``vs`` (the norm, its adjoint, their tangents) with
    the reduced axes of x kept, to broadcast against x."""
    if kind == "matrix":
        _, ax = _norm_kind(x, "fro", axis)
        return [_norm_ones(v, x, ax, axis is not None and keepdims) for v in vs]
    return [expand(v, x, axis, keepdims) for v in vs]


def prod_grad_tangent(g, x, z, dx, dz, axis=None, keepdims=False):
    """Tangent of ``prod_grad`` in x and z: ``g`` times the tangent of the
    products of the other entries (by division where x has no zeros, by
    prefix and suffix products otherwise: exact, no NaN)."""
    ge = expand(g, x, axis, keepdims)
    if np.all(x != 0):
        ze = _expand_reduced(z, x, axis)
        dze = _expand_reduced(dz, x, axis)
        return ge * (dze / x - ze * dx / (x * x))
    return ge * _others_product_tangent(np.asarray(x), np.asarray(dx) + np.zeros(np.shape(x)),
                                        axis)


def _expand_reduced(v, x, axis):
    """``expand`` for the product ``z`` (or its tangent) of a reduction of
    ``x``, whose keepdims may differ from the adjoint's: np.prod's forward
    rule passes a seed reduced with keepdims=True next to a ``z`` reduced
    as the user asked."""
    if np.ndim(v) == 0:
        return v
    return expand(v, x, axis, np.ndim(v) == np.ndim(x))


def _others_product_tangent(x, dx, axis, dx2=None):
    """The tangent of p_i = prod_{j != i} x_j (over ``axis``) for tangent dx,
    without dividing by the entries; with ``dx2``, the second derivative of
    p_i in the directions dx and dx2 instead (sum over j != k, both != i, of
    dx_j dx2_k prod of the rest: hyper-dual prefix and suffix products)."""
    nd = x.ndim
    axes = tuple(range(nd)) if axis is None else tuple(
        a % nd for a in (axis if isinstance(axis, (tuple, list)) else (axis,)))
    keep = [a for a in range(nd) if a not in axes]
    order = keep + list(axes)
    lead = np.transpose(x, order).shape[:len(keep)]
    n = int(np.prod(np.transpose(x, order).shape[len(keep):], dtype=int))

    def lined(v):
        return np.transpose(v, order).reshape(lead + (n,))
    xt, at = lined(x), lined(dx)
    bt = lined(dx2) if dx2 is not None else np.zeros_like(at)
    one = np.ones(lead, dtype=np.result_type(xt, at, bt, 0.0))
    zero = one * 0.0

    def times(p, i):       # the hyper-dual p times (x_i, a_i, b_i, 0)
        v, pa, pb, pab = p
        xi, ai, bi = xt[..., i], at[..., i], bt[..., i]
        return v * xi, pa * xi + v * ai, pb * xi + v * bi, pab * xi + pa * bi + pb * ai

    def product(p, q):     # the mixed part of the hyper-dual product p q
        return (p[1] * q[0] + p[0] * q[1]) if dx2 is None else \
            (p[3] * q[0] + p[1] * q[2] + p[2] * q[1] + p[0] * q[3])
    L = R = (one, zero, zero, zero)
    pre, suf = [None] * n, [None] * n
    for i in range(n):
        pre[i] = L
        L = times(L, i)
    for i in reversed(range(n)):
        suf[i] = R
        R = times(R, i)
    out = np.stack([product(pre[i], suf[i]) for i in range(n)], axis=-1)
    shaped = out.reshape(tuple(np.transpose(x, order).shape))
    return np.transpose(shaped, np.argsort(order))


def nonzero_entries(x):
    """``x``, which must have no entry exactly 0 (the fourth derivative of
    np.prod divides by the entries)."""
    if not np.all(x != 0):
        raise NotImplementedError(
            "the fourth derivative of np.prod where an entry is exactly 0 is not "
            "implemented (third derivatives there are exact)")
    return x


def prod_grad_curvature(g, x, z, u, w, dz, dx, axis=None, keepdims=False):
    """The part of the tangent of ``prod_grad_tangent(g, x, z, u, w)`` that
    comes from x and z moving (tangents dx, dz): third derivatives of
    np.prod.  By division where x has no zeros, else by hyper-dual prefix
    and suffix products (exact, no NaN)."""
    if np.all(x != 0):
        return (prod_grad_tangent(g, x, dz, u, 0.0, axis, keepdims)
                + prod_grad_tangent(g, x, w, dx, 0.0, axis, keepdims)
                + prod_grad_tangent(g, x, z, -2.0 * u * dx / x, 0.0, axis, keepdims))
    x = np.asarray(x)
    full = np.zeros(np.shape(x))
    return expand(g, x, axis, keepdims) * _others_product_tangent(
        x, np.asarray(u) + full, axis, np.asarray(dx) + full)


def norm_tangent(dx, x, z, ord=None, axis=None, keepdims=False):
    """Tangent of np.linalg.norm: <grad, dx> reduced like the norm."""
    x = np.asarray(x)
    one = np.ones_like(z, dtype=np.result_type(z, 0.0))
    return norm_reduce(norm_grad(one, x, z, ord, axis, keepdims) * dx, x, ord, axis, keepdims)


def norm_reduce(v, x, ord=None, axis=None, keepdims=False):
    """``v`` (shaped like x) summed over what np.linalg.norm(x, ord, axis,
    keepdims) reduces: linear in v (norm_tangent's reduction)."""
    if axis is None and (ord is None or np.ndim(x) == 1 or ord in ("fro", "nuc", 2)):
        return np.sum(v)
    return np.sum(v, axis=axis, keepdims=keepdims)


def norm_tangent_curvature(dx, x, z, tx, tz, ord=None, axis=None, keepdims=False):
    """The tangent of ``norm_tangent(dx, x, z)`` in x and z (tangents tx,
    tz): <tangent of norm's gradient, dx> reduced like the norm (2-norm and
    Frobenius norm, as norm_grad_tangent)."""
    x = np.asarray(x)
    one = np.ones_like(z, dtype=np.result_type(z, 0.0))
    return norm_reduce(norm_grad_tangent(one, x, z, tx, tz, ord, axis, keepdims) * dx,
                       x, ord, axis, keepdims)


def like_sequence(pieces, arrays):
    """The adjoints ``pieces`` of the members of a sequence argument, in the
    structure of ``arrays`` itself: an array for an array (``np.hstack(x)``
    of a 2-D x), a tuple for a tuple, else a list."""
    if isinstance(arrays, np.ndarray):
        out = np.zeros(arrays.shape, dtype=_float_dtype(arrays, pieces[0] if pieces else None))
        for i, p in enumerate(pieces):
            out[i] = np.reshape(p, arrays.shape[1:])
        return out
    if isinstance(arrays, tuple):
        return tuple(pieces)
    return list(pieces)


def concat_split(g, arrays, axis=0):
    """Adjoint of np.concatenate: pieces of ``g`` shaped like the inputs."""
    if axis is None:
        sizes = np.cumsum([np.size(a) for a in arrays])[:-1]
        return like_sequence([np.reshape(p, np.shape(a)) for p, a in
                              zip(np.split(np.ravel(g), sizes), arrays)], arrays)
    sizes = np.cumsum([np.shape(a)[axis] for a in arrays])[:-1]
    return like_sequence(np.split(g, sizes, axis=axis), arrays)


def stack_split(g, arrays, axis=0):
    """Adjoint of np.stack: slices of ``g`` along the new axis."""
    g = np.asarray(g)
    return like_sequence([np.take(g, i, axis=axis) for i in range(len(arrays))], arrays)


def zeros_of(values):
    """Tangents for the inactive members of a list/tuple argument."""
    return [np.zeros_like(v, dtype=np.result_type(v, 0.0)) for v in values]


def clip_mask(x, lo, hi):
    x = np.asarray(x)
    mask = np.ones(x.shape, dtype=bool)
    if lo is not None:
        mask &= x >= lo
    if hi is not None:
        mask &= x <= hi
    return mask


def where_true(cond, shape_of):
    return np.broadcast_to(cond, np.shape(shape_of))


# --- builtins over sequences ---------------------------------------------

def sum_list(items):
    """``sum`` of a list of tangents (zeros allowed); tangents of lists or
    tuples (``sum(rows, [])``) are concatenated."""
    if isinstance(items, np.ndarray):
        return np.sum(items, axis=0)
    items = list(items)
    if any(isinstance(v, (list, tuple)) for v in items):
        out = []
        for v in items:
            if not isinstance(v, (list, tuple)):
                raise TypeError(
                    "cannot differentiate sum() of lists or tuples mixed with "
                    f"{type(v).__name__}s; concatenate the lists with + instead")
            out.extend(v)
        return type(items[0])(out) if isinstance(items[0], tuple) else out
    total = 0.0
    for v in items:
        total = total + v
    return total


def sum_list_grad(g, items):
    """Adjoint of ``sum(items)``: each item receives ``g`` (unbroadcast); for
    lists or tuples concatenated (``sum(rows, start)``) each its own part of
    ``g``, counted from the end (``start`` comes first, see
    ``sum_start_grad``)."""
    if isinstance(items, np.ndarray):
        return np.broadcast_to(g, items.shape) + np.zeros(items.shape, dtype=_float_dtype(items, g))
    if any(isinstance(v, (list, tuple)) for v in items):
        offset = len(g) - sum(len(v) for v in items)
        out = []
        for v in items:
            out.append(_parts(g[offset:offset + len(v)], v))
            offset += len(v)
        return out
    return [unbroadcast(g, v) for v in items]


def sum_start_grad(g, start):
    """Adjoint of ``start`` in ``sum(items, start)``: the first entries of
    ``g`` for a list or tuple ``start``, else ``g`` unbroadcast."""
    if isinstance(start, (list, tuple)):
        return _parts(g[:len(start)], start)
    return unbroadcast(g, start)


def _extremum_owner(m, a, b):
    """Which operand (0 or 1, or index into the iterable) attains ``m``."""
    if b is None:
        for i, v in enumerate(a):
            if v is m or np.all(v == m):
                return i
        return 0
    return 0 if (a is m or np.all(a == m)) else 1


def builtin_extremum_grad(g, m, a, b, which):
    """Adjoint of builtin max/min for operand ``which`` (0: a, 1: b)."""
    owner = _extremum_owner(m, a, b)
    if b is None:
        if which == 1:
            return 0.0
        if isinstance(a, np.ndarray):
            out = np.zeros(a.shape, dtype=_float_dtype(a, g))
            out[owner] = g
            return out
        out = [zeros_like(v) for v in a]
        out[owner] = g
        return out
    return g if owner == which else zeros_like(a if which == 0 else b)


def builtin_extremum_tangent(m, a, b, da, db):
    owner = _extremum_owner(m, a, b)
    if b is None:
        return da[owner]
    return da if owner == 0 else db


def append(items, value):
    """``items + [value]`` as a new list (the functional form of
    ``items.append(value)`` that generated code uses)."""
    out = list(items)
    out.append(value)
    return out


def zero_or(t, x):
    """The tangent ``t`` of ``x``, with the scalar 0.0 standing for zeros."""
    if isinstance(t, float) and t == 0.0 and not isinstance(x, float):
        return zeros_like(x)
    return t


# --- + and * of lists and tuples (concatenation, repetition) ----------------
# Generated code uses these where an operand may hold a list or tuple (the
# static analysis of transforms/ad/sequences.py cannot rule it out); each
# decides from the operands' types at run time, exactly as Python does.

def _concatenates(x, y):
    """Does ``x + y`` concatenate (two lists or two tuples)?"""
    return isinstance(x, (list, tuple)) and isinstance(y, (list, tuple))


def _repeats(x, y):
    """Does ``x * y`` repeat the sequence ``x`` (``y`` an integer, not an
    array: ``[a] * np.array(2)`` is NumPy multiplication)?"""
    return isinstance(x, (list, tuple)) and not isinstance(y, np.ndarray)


def seq_add(x, y):
    """``x + y`` where ``x``/``y`` may be lists or tuples (the primitive the
    derivative rules of a possible concatenation are registered under)."""
    return x + y


def seq_mul(x, y):
    """``x * y`` where one operand may be a list or tuple."""
    return x * y


def add_grad_left(g, x, y):
    """Adjoint of ``x`` in ``z = x + y``: the first ``len(x)`` entries of
    ``g`` for a concatenation, else ``g`` unbroadcast to x's shape."""
    if _concatenates(x, y):
        return _parts(g[:len(x)], x)
    return unbroadcast(g, x)


def add_grad_right(g, x, y):
    """Adjoint of ``y`` in ``z = x + y``."""
    if _concatenates(x, y):
        return _parts(g[len(x):], y)
    return unbroadcast(g, y)


def add_tangent(dx, dy, x, y, z):
    """Tangent of ``z = x + y``: the tangents concatenated for sequences
    (0.0 stands for the zeros of an inactive operand)."""
    if _concatenates(x, y):
        return type(z)(list(zero_or(dx, x)) + list(zero_or(dy, y)))
    return like(_array_operand(dx) + _array_operand(dy), z)


def _array_operand(v):
    """A list/tuple tangent of an operand NumPy broadcasts (``X + [a, b]``)
    as the array NumPy makes of it (``0.0 + [da, db]`` would be an error,
    ``[da] + [db]`` a concatenation)."""
    return np.asarray(v) if isinstance(v, (list, tuple)) else v


def _parts(g, x):
    """The adjoint ``g`` of the sequence ``x`` as a sequence: an array
    adjoint (from ``np.array(seq)``) split into its rows."""
    if isinstance(g, np.ndarray):
        return _rebuild(x, [g[i] for i in range(len(x))])
    return g


def _unrepeat(g, x, n):
    """Adjoint of the sequence ``x`` in ``x * n``: the sum of the ``n``
    repeats of ``g``."""
    n = max(int(n), 0)
    m = len(x)
    if n == 0 or m == 0:
        return zeros_like(x)
    if isinstance(g, np.ndarray):
        return _parts(np.sum(np.reshape(g, (n, m) + g.shape[1:]), axis=0), x)
    out = list(g[:m])
    for k in range(1, n):
        out = [add(a, b) for a, b in zip(out, g[k * m:(k + 1) * m])]
    return _rebuild(x, out)


def mul_grad_left(g, x, y):
    """Adjoint of ``x`` in ``z = x * y``: for a repetition, the sum of the
    repeats (the count has none), else NumPy's ``unbroadcast(g * y, x)``."""
    if _repeats(x, y):
        return _unrepeat(g, x, y)
    if _repeats(y, x):
        return 0.0
    return unbroadcast(g * y, x)


def mul_grad_right(g, x, y):
    """Adjoint of ``y`` in ``z = x * y``."""
    if _repeats(y, x):
        return _unrepeat(g, y, x)
    if _repeats(x, y):
        return 0.0
    return unbroadcast(x * g, y)


def mul_grad_left_tangent(dg, dy, g, x, y):
    """Tangent of ``mul_grad_left(g, x, y)``."""
    if _repeats(x, y) or _repeats(y, x):
        return mul_grad_left(dg, x, y)
    return unbroadcast(dg * y + g * dy, x)


def mul_grad_right_tangent(dg, dx, g, x, y):
    """Tangent of ``mul_grad_right(g, x, y)``."""
    if _repeats(x, y) or _repeats(y, x):
        return mul_grad_right(dg, x, y)
    return unbroadcast(dx * g + x * dg, y)


def mul_tangent(dx, dy, x, y):
    """Tangent of ``z = x * y``: the repeated tangents for a repetition."""
    if _repeats(x, y):
        return (tuple if is_namedtuple(x) else type(x))(list(zero_or(dx, x)) * y)
    if _repeats(y, x):
        return (tuple if is_namedtuple(y) else type(y))(x * list(zero_or(dy, y)))
    return _array_operand(dx) * y + x * _array_operand(dy)


def mul_cross(a, b, ta, tb, x, y, to=None):
    """``a * tb + ta * b`` (summed down to ``to``'s shape if given): the
    part of the derivative of ``mul_tangent``/``mul_grad_*_tangent`` where
    the tangent ``(ta, tb)`` of the operands meets their first tangent or
    adjoint ``(a, b)`` (forward mode over tangent code).  Zero when ``x * y``
    repeats a sequence: the count is an integer, the repeats move only with
    their own tangent.  Bilinear in (a, tb) and (ta, b)."""
    if _repeats(x, y) or _repeats(y, x):
        if to is None:
            return zeros_like(x * y)
        return zeros_like(to) if isinstance(to, (list, tuple)) else 0.0
    out = _array_operand(a) * _array_operand(tb) + _array_operand(ta) * _array_operand(b)
    return out if to is None else unbroadcast(out, to)


# --- in-place writes (x[idx] = v) ----------------------------------------

def read_at(x, idx):
    """A copy of ``x[idx]`` (what an in-place write is about to overwrite)."""
    if isinstance(x, dict):
        return x.get(idx)
    v = x[idx]
    return np.array(v, copy=True) if isinstance(v, np.ndarray) else v


def take_at(g, idx):
    """The adjoint of the value written by ``x[idx] = v``: a copy of
    ``g[idx]`` (g the adjoint of x), except that where idx repeats a
    position only its last occurrence gets it, zeros elsewhere (NumPy keeps
    the last of repeated writes: ``a[[0, 0]] = v`` is ``a[0] = v[1]``)."""
    if isinstance(g, dict):
        return g.get(idx, 0.0)
    v = g[idx]
    if _may_repeat(idx):
        keep = _last_writes(np.shape(g), idx)
        if not keep.all():
            return np.where(arrays.like(keep, v), v, 0)
    return np.array(v, copy=True) if isinstance(v, np.ndarray) else v


def _may_repeat(idx):
    """Can ``x[idx]`` select a position twice?  Only through an integer
    array (or list) of more than one element: slices, ints, booleans and
    ``None`` cannot."""
    if isinstance(idx, tuple):
        return any(_may_repeat(i) for i in idx)
    if idx is None or idx is Ellipsis or isinstance(idx, (slice, int, np.integer, bool, np.bool_)):
        return False
    if isinstance(idx, (list, range)):
        idx = np.asarray(idx)
    dt = getattr(idx, "dtype", None)
    return dt is not None and dt.kind in "iu" and arrays.size(idx) > 1


def _last_writes(shape, idx):
    """A boolean mask shaped like ``x[idx]`` (x of this shape): True where
    that element is the one a write ``x[idx] = v`` leaves in x."""
    idx = tuple(np.asarray(i) if arrays.is_foreign(i) else i for i in idx) \
        if isinstance(idx, tuple) else (np.asarray(idx) if arrays.is_foreign(idx) else idx)
    pos = np.arange(int(np.prod(shape)), dtype=np.intp).reshape(shape)[idx]
    order = np.arange(pos.size, dtype=np.intp).reshape(pos.shape)
    last = np.empty(shape, dtype=np.intp)
    last[idx] = order                   # NumPy's own rule for repeated writes
    return last[idx] == order


def zero_at(g, idx):
    """``g[idx] = 0`` in place (g is an adjoint buffer we own)."""
    if isinstance(g, dict):
        g.pop(idx, None)
    elif isinstance(g, list):
        g[idx] = zeros_like(g[idx])
    else:
        g[idx] = 0


def zeroed_at(g, idx):
    """A copy of ``g`` with zeros at ``idx``."""
    if isinstance(g, dict):
        out = dict(g)
    elif isinstance(g, list):
        out = list(g)
    else:
        out = np.array(g, copy=True)
    zero_at(out, idx)
    return out


def copy_input(x):
    """A private copy of an argument the function writes into, so that the
    caller's array is never modified."""
    if isinstance(x, np.ndarray) or arrays.is_foreign(x):
        return x.copy()          # (a Dask array's x[i] = v would rebind the caller's)
    if isinstance(x, dict):
        return dict(x)
    if isinstance(x, list):
        return list(x)
    return x


# --- iteration -------------------------------------------------------------

def as_sequence(x):
    """What ``for v in x`` iterates, as an indexable sequence."""
    if isinstance(x, (list, tuple, np.ndarray, range)):
        return x
    return list(x)            # dict -> its keys; zip, generators, sets -> lists


def as_sequence_grad(g, x):
    if isinstance(x, dict):
        return {}             # keys carry no derivative; x[k] reads have their own
    return g                  # one adjoint per element, in iteration order


def as_sequence_tangent(t, x):
    if isinstance(x, dict):
        return list(x)        # the keys: no tangent, kept only as indices
    return t


def r_(items):
    """``np.r_[items]`` (items: arrays and numbers, no slices or strings)."""
    return np.r_[tuple(items)]


def c_(items):
    """``np.c_[items]``."""
    return np.c_[tuple(items)]


def _index_concat_grad(g, items, concat):
    """Adjoint of a concatenation ``concat`` that moves elements without
    combining them: each element's position is found by concatenating
    element numbers instead of values."""
    sizes = [np.size(v) for v in items]
    offsets = np.cumsum([0] + sizes)
    ids = concat(tuple(np.arange(o, o + n).reshape(np.shape(v))
                       for o, n, v in zip(offsets, sizes, items)))
    flat = np.zeros(offsets[-1], dtype=np.result_type(g, 0.0))
    flat[np.ravel(ids)] = np.ravel(g)
    return tuple(np.reshape(flat[o:o + n], np.shape(v)) if np.ndim(v) else flat[o]
                 for o, n, v in zip(offsets, sizes, items))


def r_grad(g, items):
    return _index_concat_grad(g, items, lambda t: np.r_[t])


def c_grad(g, items):
    return _index_concat_grad(g, items, lambda t: np.c_[t])


# --- builtins that move values: zip, enumerate, reversed, sorted -----------
# (generated code calls these list-returning forms; a dict argument stands
# for its keys, which carry no derivative)

def members_grad(g, x):
    """Adjoint of ``list(x)`` / ``tuple(x)``: the members' adjoints in x's
    structure."""
    return _members_grad(list(g), x)


def members_tangent(t, z):
    """Tangent of ``list(x)`` / ``tuple(x)`` (the result ``z``): the members
    of x's tangent in a list / tuple (a dict's keys for a dict)."""
    return type(z)(t)


def zip_(seqs):
    return list(zip(*seqs))


def _members_grad(pieces, x):
    """Adjoints of the members of ``x`` (None: no contribution), in x's
    structure; the keys of a dict carry none."""
    if isinstance(x, dict) or x is None:
        return {} if isinstance(x, dict) else None
    if isinstance(x, (range, str)):
        return None
    members = list(x)
    out = []
    for i, v in enumerate(members):
        p = pieces[i] if i < len(pieces) else None
        out.append(zeros_like(v) if p is None else p)
    return like_sequence(out, x) if isinstance(x, (np.ndarray, tuple, list)) else out


def zip_grad(g, seqs):
    """Adjoint of ``zip_``: the i-th parts of the tuples' adjoints, per sequence."""
    return tuple(_members_grad([None if t is None else t[i] for t in g], s)
                 for i, s in enumerate(seqs))


def enumerate_(x, start=0):
    return list(enumerate(x, start))


def enumerate_tangent(t):
    """Tangent of ``enumerate_(x, start)`` for x's tangent ``t``: the
    counters are constants (tangent 0.0), the members carry t's."""
    return [(0.0, v) for v in t]


def enumerate_grad(g, x):
    return _members_grad([None if t is None else t[1] for t in g], x)


def reversed_(x):
    return list(reversed(x))


def reversed_grad(g, x):
    return _members_grad(list(reversed(list(g))), x)


def _sort_order(x, key=None, reverse=False):
    seq = list(x)
    return sorted(range(len(seq)), key=(lambda i: key(seq[i])) if key is not None
                  else seq.__getitem__, reverse=reverse)


def sorted_(x, key=None, reverse=False):
    return sorted(x, key=key, reverse=reverse)


def sorted_grad(g, x, key=None, reverse=False):
    """Adjoint of ``sorted``: each element's adjoint back at its position."""
    if isinstance(x, dict):
        return {}
    order = _sort_order(x, key, reverse)
    pieces = [None] * len(order)
    for j, i in enumerate(order):
        pieces[i] = g[j]
    return _members_grad(pieces, x)


def sorted_tangent(t, x, key=None, reverse=False):
    """Tangent of ``sorted``: the tangents in the primal's sorted order."""
    if isinstance(x, dict):
        return sorted(x, key=key, reverse=reverse)
    members = list(t)
    return [members[i] for i in _sort_order(x, key, reverse)]


def dict_get(d, key, default=None):
    """``d.get(key, default)`` (the primitive ``.get`` is differentiated as)."""
    return d.get(key, default)


def dict_get_grad(g, d, key):
    """Adjoint of ``d.get(key, default)`` for ``d``: g at key when present."""
    return {key: g} if key in d else {}


def dict_get_default_grad(g, d, key, default):
    """Adjoint of ``d.get(key, default)`` for ``default``: g when key is missing."""
    return zeros_like(default) if key in d else g


def dict_items(d):
    """``d.items()`` as a list of (key, value) pairs."""
    return list(d.items())


def dict_values(d):
    return list(d.values())


def items_grad(g, d):
    """Adjoint of ``dict_items``: the value parts of the pairs' adjoints."""
    return {k: pair[1] for (k, _), pair in zip(d.items(), g)}


def values_grad(g, d):
    return dict(zip(d.keys(), g))


def items_tangent(t, d):
    """Tangent of ``dict_items``: pairs in the primal dict's order (a
    number key is a constant: tangent 0.0)."""
    return [(0.0 if isinstance(k, (numbers.Number, np.number)) else k, t[k]) for k in d]


def values_tangent(t, d):
    return [t[k] for k in d]


def project(g, x):
    """The derivative of a real ``x`` is real: drop the imaginary part that
    complex intermediates leave in its adjoint (autograd's convention); for
    a container ``x``, leaf by leaf (``g`` has its structure: ``complete``)."""
    if isinstance(x, dict) and isinstance(g, dict):
        return {k: project(g[k], v) for k, v in x.items()}
    if isinstance(x, (tuple, list)) and isinstance(g, (tuple, list)):
        return _rebuild(g, [project(u, v) for u, v in zip(g, x)])
    if is_dataclass_instance(x) and is_dataclass_instance(g):
        return build_dataclass(type(g), {f.name: project(getattr(g, f.name), getattr(x, f.name))
                                         for f in dataclasses.fields(g)})
    if np.iscomplexobj(g) and not np.iscomplexobj(x):
        return np.real(g)
    return g


def restore(redo, x, idx, old):
    """``x[idx] = old``, remembering the value it replaces (see ``redo``)."""
    redo.append((x, idx, read_at(x, idx)))
    x[idx] = old


def redo(records):
    """Re-apply, in the original order, the writes a backward sweep undid, so
    that a pullback leaves the saved arrays as it found them."""
    for x, idx, value in reversed(records):
        x[idx] = value


def check_unshared(a, others, names, message, filename=None, lineno=None, col_offset=0):
    """Refuse an in-place update of array ``a`` when one of ``others`` (the
    arrays its binding read, called ``names``) is the same array or shares
    memory with it: Python would change both."""
    if not isinstance(a, np.ndarray):
        return
    for b, name in zip(others, names):
        if isinstance(b, (list, tuple, dict)):
            # the arrays a container holds (``for w in ws: w += v``)
            items = b.values() if isinstance(b, dict) else b
            b = next((e for e in items if isinstance(e, np.ndarray)
                      and (e is a or np.may_share_memory(a, e))), None)
        if isinstance(b, np.ndarray) and (a is b or np.may_share_memory(a, b)):
            how = "is the same array as" if a is b else "may share memory with"
            raise CompileError(message.format(how=how, other=name), filename, lineno,
                               col_offset,
                               hint="ad_compiler follows y += v as y = y + v; with a shared "
                                    "array Python would change both names",
                               construct="aliased in-place update")


def check_param_unshared(a, dunder, others, names, name, filename=None, lineno=None,
                         col_offset=0):
    """Refuse a parameter ``a`` (called ``name``) that the function changes
    in place -- written into (``dunder`` None: ``a[i] = v``, ``a.append(v)``)
    or updated (``a op= v`` with that dunder, when a's type has it) -- when
    another parameter of ``others`` (called ``names``) is ``a``, holds it,
    or shares memory with it: Python would see the change through the
    other name, the derivative code (which works on a private copy, or
    follows ``a op= v`` as a new value) would not."""
    if dunder is not None and not hasattr(type(a), dunder):
        return                              # a float, an int, a tuple: rebound
    what = "array" if isinstance(a, np.ndarray) else type(a).__name__
    hint = ("the derivative code follows the parameters as separate values; "
            "pass distinct objects (a copy) when one is changed in place")
    for b, other in zip(others, names):
        msg = (f"'{name}' and '{other}' are the same {what} here (or share memory "
               f"or elements); Python would see the update of '{name}' through "
               f"'{other}', the derivative code would not; pass a copy")
        if dunder is None:                  # a write may reach a's elements
            check_not_aliased(a, b, True, msg, filename, lineno, col_offset, hint)
        else:                               # a itself vs b and b's elements
            check_not_aliased(b, a, False, msg, filename, lineno, col_offset, hint)


def check_function(f, expected, message, filename=None, lineno=None, col_offset=0):
    """The code was specialized to function ``expected`` for a name (a
    parameter's default, ``f = np.sin``, ``acts['relu']``): refuse another
    function.  A lambda or local def made again by the same code, reading
    no enclosing variable, is the same function."""
    if f is not expected and not (
            type(f) is type(expected) and getattr(f, "__code__", None) is not None
            and f.__code__ is expected.__code__ and not f.__closure__
            and f.__globals__ is expected.__globals__
            and f.__defaults__ == expected.__defaults__):
        raise CompileError(message.format(got=getattr(f, "__name__", type(f).__name__)),
                           filename, lineno, col_offset,
                           hint="the derivative code is specialized to the function this "
                                "name held when it was compiled; pass a function argument "
                                "by position (the code is then compiled for it), or call "
                                "the function directly",
                           construct="function argument")


def check_not_updated(a, dunder, message, filename=None, lineno=None, col_offset=0):
    """Refuse passing ``a`` to a helper that applies ``p op= v`` to its
    parameter when ``a`` is updated in place by that operator (an array, a
    list): Python's caller would see the change.  Floats, ints and tuples
    are rebound, not changed, and pass."""
    if dunder is None or hasattr(type(a), dunder):
        raise CompileError(message.format(kind=type(a).__name__), filename, lineno,
                           col_offset,
                           hint="return the new value from the helper and assign it here "
                                "(y = helper(y)), or pass a copy",
                           construct="argument mutation")


def check_element_unshared(container, key, message, filename=None, lineno=None,
                           col_offset=0):
    """``hs = [np.zeros(2)] * 2; hs[0] += x``: an in-place write through a
    slot of a list or dict that holds the same object (or arrays sharing
    memory) in another slot changes both in Python; the derivative code
    follows the write into one slot.  Refused at the user's line.  Numbers
    and strings pass (``+=`` rebinds them)."""
    if not isinstance(container, (list, tuple, dict)):
        return
    try:
        elem = container[key]
    except Exception:
        return                  # the write itself raises Python's error
    if isinstance(elem, (int, float, complex, str, bytes, np.generic, type(None))):
        return
    slots = list(container.values() if isinstance(container, dict) else container)
    same = sum(1 for o in slots if o is elem or (
        isinstance(o, np.ndarray) and isinstance(elem, np.ndarray)
        and np.may_share_memory(o, elem)))
    if same > 1:
        raise CompileError(message, filename, lineno, col_offset,
                           hint="build the container with a fresh object per slot "
                                "([np.zeros(2) for _ in range(n)], {k: np.zeros(3) for k in "
                                "keys}), or write slot = slot + v",
                           construct="write through a shared element")


def _element_index(container, index):
    """Does ``container[index]`` give the container's own element or memory
    (a basic index of an array: ints, slices, None, Ellipsis; an int of a
    list or tuple; any key of a dict), not a new object?"""
    def basic(i):
        if isinstance(i, tuple):
            return all(basic(e) for e in i)
        if isinstance(i, (bool, np.bool_)):
            return False
        return i is None or i is Ellipsis or isinstance(i, (int, np.integer, slice))
    if isinstance(container, np.ndarray):
        return basic(index)
    if isinstance(container, (list, tuple)):
        return isinstance(index, (int, np.integer)) and not isinstance(index, (bool, np.bool_))
    return True


def check_element_index(container, index, message, filename=None, lineno=None, col_offset=0):
    """``A[idx][0] = v`` with ``idx`` known only at run time: an advanced
    index of an array (a list, an index or mask array) or a slice of a list
    makes a copy, and Python writes into that temporary (``A`` unchanged),
    where the derivative code would store the element back into ``A``.
    Refused at the user's line."""
    if not _element_index(container, index):
        raise CompileError(message, filename, lineno, col_offset,
                           hint="index once with all the indices (A[idx, j] = v), or copy, "
                                "write and store back: t = A[idx]; t[j] = v; A[idx] = t",
                           construct="write into a copy made by indexing")


def check_not_aliased(a, b, deep, message, filename=None, lineno=None, col_offset=0,
                      hint=None):
    """Refuse a name ``a`` bound to (a view of) ``b`` when ``b`` is later
    written in place and ``a`` read again: Python's ``a`` would see the
    write, the derivative code's would not.  ``a`` is refused when it is
    ``b`` itself (a mutable object), an array sharing memory with array
    ``b``, or, for a write through an element (``deep``: ``b[k][i] = v``),
    one of ``b``'s elements at any depth (or a view of one).  When ``a`` is
    a list/tuple/dict (``rows = [Y[0], Y[1]]``), its elements at any depth
    are compared the same way.  Numbers pass."""
    def shares(u, v):
        if u is v:
            return not isinstance(u, (int, float, complex, str, bytes, np.generic,
                                      type(None)))
        return (isinstance(u, np.ndarray) and isinstance(v, np.ndarray)
                and np.may_share_memory(u, v))
    def parts(c, depth=0):
        # c and its elements at any depth (``for W, b in params``: ``W`` is
        # ``params[i][0]``; ``rows = [Y[0], Y[1]]`` holds views of ``Y``)
        yield c
        if isinstance(c, (list, tuple, dict)) and depth < 20:
            for e in (c.values() if isinstance(c, dict) else c):
                yield from parts(e, depth + 1)
    b_parts = list(parts(b)) if deep else [b]
    hit = any(shares(u, v) for u in parts(a) for v in b_parts)
    if hit:
        raise CompileError(message, filename, lineno, col_offset,
                           hint=hint or "copy it when binding it (name = ....copy()), or "
                                        "read it again from the written container after "
                                        "the write",
                           construct="aliased in-place write")


# --- deferred outer products (transforms/cleanup/batch.py) ---------------------------
#
# In an adjoint loop, ``bW += ad.matmul_grad_left(g, W, h)`` adds one outer
# product per step.  The batched form records the pair (g, h) instead, and
# ``sum_deferred`` adds all the recorded outer products with ONE matrix
# product after the loop.  A part is either such a pair (a tuple ``(u, v)``
# standing for ``np.multiply.outer(u, v)``, or ``u * v`` when u is a scalar)
# or a contribution computed at once (any other value), when the operands
# are not a matrix and a vector.

_DEFER_CHUNK = 64       # parts kept before they are summed (bounds memory: the
                        # saved operands are freed as the adjoint loop goes)


def _ndims(a, b, g):
    try:
        return a.ndim, b.ndim, g.ndim
    except AttributeError:
        return _ndim(a), _ndim(b), _ndim(g)


def _defer(parts, u, v):
    parts.append((u, v))
    if len(parts) >= _DEFER_CHUNK:
        parts[:] = [sum_deferred(parts)]
    return parts


def _defer_value(parts, value):
    parts.append(value)
    if len(parts) >= _DEFER_CHUNK:
        parts[:] = [sum_deferred(parts)]
    return parts


def defer_outer(parts, u, v):
    """Record the pair (u, v) in ``parts``: what ``defer_matmul_left`` and
    the others record once the ranks of their operands are known when
    compiling (transforms/cleanup/specialize.py writes this call for them in
    code for the NumPy interpreter)."""
    parts.append((u, v))
    if len(parts) >= _DEFER_CHUNK:
        parts[:] = [sum_deferred(parts)]


def defer_matmul_left(parts, g, x, y):
    """Record ``matmul_grad_left(g, x, y)`` in ``parts`` (appended in place;
    returns ``parts``): the pair (g, y) for a matrix or vector x and a vector
    y, else the contribution itself."""
    xd, yd, gd = _ndims(x, y, g)
    if yd == 1 and (xd == 2 or xd == 1) and gd == xd - 1:
        return _defer(parts, g if xd == 2 else np.asarray(g), y)
    return _defer_value(parts, matmul_grad_left(g, x, y))


def defer_matmul_right(parts, g, x, y):
    """Record ``matmul_grad_right(g, x, y)``: the pair (x, g) for a vector x
    and a matrix y, (g, x) for two vectors, else the contribution itself."""
    xd, yd, gd = _ndims(x, y, g)
    if xd == 1 and (yd == 2 or yd == 1) and gd == yd - 1:
        if yd == 2:
            return _defer(parts, x, g)
        return _defer(parts, np.asarray(g), x)
    return _defer_value(parts, matmul_grad_right(g, x, y))


def defer_dot_a(parts, g, a, b):
    """Record ``dot_vjp_a(g, a, b)``: the pair (g, b) for a
    matrix or vector a and a vector b, else the contribution itself."""
    ad_, bd, gd = _ndims(a, b, g)
    if bd == 1 and (ad_ == 2 or ad_ == 1) and gd == ad_ - 1:
        return _defer(parts, g, b)
    return _defer_value(parts, dot_vjp_a(g, a, b))


def defer_dot_b(parts, g, a, b):
    """Record ``dot_vjp_b(g, a, b)``: the pair (a, g) for a
    vector a and a matrix b, (g, a) for two vectors, else the contribution
    itself."""
    ad_, bd, gd = _ndims(a, b, g)
    if ad_ == 1 and (bd == 2 or bd == 1) and gd == bd - 1:
        if bd == 2:
            return _defer(parts, a, g)
        return _defer(parts, g, a)
    return _defer_value(parts, dot_vjp_b(g, a, b))


def _stacked(xs):
    """``np.array(xs)`` when every entry has the first one's type, dtype and
    shape (one stacked array), else None."""
    x0 = xs[0]
    t0 = type(x0)
    try:
        out = np.array(xs)
    except ValueError:                   # ragged
        return None
    if out.shape != (len(xs),) + np.shape(x0) or out.dtype != np.result_type(x0) \
            or any(type(x) is not t0 for x in xs):
        return None
    return out


def _sum_pairs(pairs):
    """The sum of the outer products of ``pairs``: one ``U.T @ V`` when all
    pairs have the same shapes and dtypes, one product per pair otherwise."""
    u0, v0 = pairs[0]
    us = _stacked([u for u, _ in pairs])
    vs = _stacked([v for _, v in pairs]) if us is not None else None
    if vs is not None:
        dt = np.result_type(u0, v0)      # what u0 * v0 has (float32 stays float32)
        return us.astype(dt, copy=False).T @ vs   # sum_t outer(u_t, v_t), or sum_t u_t * v_t
    total = None
    for u, v in pairs:
        part = np.multiply.outer(u, v) if np.ndim(u) else u * v
        total = part if total is None else total + part
    return total


def sum_deferred(parts, like=None):
    """The sum of what ``defer_*`` recorded in ``parts``.

    With ``like``: the value of ``b = zeros_like(like)`` after ``b += part``
    for every part (same dtype and shape), as a new array."""
    pairs = [p for p in parts if type(p) is tuple]
    total = _sum_pairs(pairs) if pairs else None
    fresh = total is not None
    if len(pairs) != len(parts):
        for p in parts:
            if type(p) is not tuple:
                if total is None:
                    total, fresh = p, False
                elif fresh and type(total) is np.ndarray and type(p) is np.ndarray \
                        and p.shape == total.shape and p.dtype == total.dtype:
                    total += p           # ours: no third array of the sum's size
                else:
                    total, fresh = total + p, True
    if like is None:
        return 0.0 if total is None else total
    out = zeros_like(like)
    if total is None:
        return out
    if fresh and isinstance(total, np.ndarray) and total.dtype == out.dtype \
            and total.shape == out.shape:
        return total
    out += total
    return out


def defer_tangent(dparts, defer, g, dg, x, dx, y, dy):
    """Tangent of ``defer(parts, g, x, y)`` (one of the ``defer_*``), which is
    bilinear in g and in x or y: the tangent parts ``dparts`` get ``defer`` of
    each tangent that is not the zero 0.0."""
    if not isinstance(dparts, list):
        dparts = []                      # (0.0: no tangent parts yet)
    if not _zero(dg):
        defer(dparts, dg, x, y)
    if not _zero(dx):
        defer(dparts, g, dx, y)
    if not _zero(dy):
        defer(dparts, g, x, dy)
    return dparts


def defer_cross(parts, defer, g, x, dx, tx, y, dy, ty):
    """Append ``defer(g, tx, y)`` and ``defer(g, x, ty)`` to ``parts`` (one of
    the ``defer_*``, bilinear in g and in x or y, the other read for its
    shape): the terms of a derivative of ``defer_tangent`` where the new
    tangent ``(tx, ty)`` of the operands meets ``g``.  ``dx``/``dy`` are the
    first tangents that ``defer_tangent`` got: the constant 0.0 marks the
    operand read for its shape (whose tangent adds nothing)."""
    if not isinstance(parts, list):
        parts = []                       # (0.0: no tangent parts yet)
    if _zero(g):
        return parts
    if not _zero(dx) and not _zero(tx):
        defer(parts, g, tx, y)
    if not _zero(dy) and not _zero(ty):
        defer(parts, g, x, ty)
    return parts


def _zero(t):
    return type(t) is float and t == 0.0


# --- calls of derivatives inside differentiated code -----------------------
# Generated code differentiates a call of a function the API returned
# (``grad(energy)(x)``, ``jvp(f, (x,), (v,))``) through these: their rules
# (rules/composition.py) call back into ad_compiler.compose, which transforms
# the derivative's own generated code again.  Composition belongs to the top
# layer and the runtime never imports it: ``compose`` fills the table
# ``composition`` below when it is imported (ad_compiler.api imports it, and
# nothing can make a derivative without the API), and these functions, which
# generated code and the rules name, look their implementation up there.

class _Composition:
    """The entries the top layer registers (``register_composition``):

    ``runtime_vjp``, ``runtime_jvp``, ``jvp_of``, ``jvp_pair_of``, ``vjp_of``
        ad_compiler.compose's implementations of the functions below;
    ``vjp``, ``jvp``, ``is_float_value``
        ad_compiler.api's (runtime_scipy's odeint rules call them);
    ``is_derivative(obj)``, ``is_maker(obj)``, ``is_vjp(obj)``, ``is_jvp(obj)``
        what the compiler asks of a callable it meets: a function the API
        returned, one of the API's functions that make derivatives (grad,
        hessian...), ad_compiler.vjp itself.  False while compose is not
        loaded: then there is no derivative anywhere.
    """

    @staticmethod
    def is_derivative(obj):
        return False

    @staticmethod
    def is_maker(obj):
        return False

    @staticmethod
    def is_vjp(obj):
        return False

    @staticmethod
    def is_jvp(obj):
        return False

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        raise RuntimeError(f"ad_compiler.runtime.composition.{name} is not registered: "
                           f"import ad_compiler.api (which loads ad_compiler.compose)")


composition = _Composition()


def register_composition(**entries):
    """Called by the top layer (ad_compiler.compose) when it is imported."""
    for name, fn in entries.items():
        setattr(composition, name, fn)


def call_derivative(fn, args, kwargs=None):
    """``fn(*args, **kwargs)``: the call of a derivative, as rules see it."""
    return fn(*args, **(kwargs or {}))


def derivative_vjp(fn, args, kwargs, ct):
    """The cotangents of ``args`` (a tuple, None for constants) for the
    call ``fn(*args, **kwargs)`` of a derivative and its cotangent ``ct``."""
    return composition.runtime_vjp(fn, args, kwargs, ct)


def derivative_jvp(fn, args, kwargs, tangents):
    """The tangent of the call ``fn(*args, **kwargs)`` of a derivative."""
    return composition.runtime_jvp(fn, args, kwargs, tangents)


def jvp_of(fn):
    """``(*args, *tangents) -> tangent of fn(*args)``, differentiable again."""
    return composition.jvp_of(fn)


def jvp_pair_of(fn):
    """``(*args, *tangents) -> (fn(*args), its tangent)``."""
    return composition.jvp_pair_of(fn)


def vjp_of(fn):
    """``(*args, ct) -> cotangents of args``, differentiable again."""
    return composition.vjp_of(fn)


def cat(a, b):
    """Two sequences (a zero 0.0 stands for one of zeros) as one tuple."""
    a = () if a is None or _zero(a) else tuple(a)
    b = () if b is None or _zero(b) else tuple(b)
    return a + b


def cat_split(g, a):
    """The parts of a cotangent of ``cat(a, b)``: (for a, for b)."""
    if g is None or _zero(g):
        return None, None
    n = len(a)
    return tuple(g[:n]), tuple(g[n:])


def tree_vdot(a, b):
    """The sum over the leaves of ``a`` and ``b`` of ``sum(a * b)``."""
    if a is None or b is None:
        return 0.0
    if isinstance(a, dict):
        return sum((tree_vdot(a[k], b[k]) for k in a), 0.0)
    if isinstance(a, (tuple, list)):
        return sum((tree_vdot(u, v) for u, v in zip(a, b)), 0.0)
    return np.sum(a * b)


def tree_sum(x):
    """The sum of all entries of all leaves of ``x``."""
    if x is None:
        return 0.0
    if isinstance(x, dict):
        return sum((tree_sum(v) for v in x.values()), 0.0)
    if isinstance(x, (tuple, list)):
        return sum((tree_sum(v) for v in x), 0.0)
    return np.sum(x)


def tree_fill(x, s):
    """``x``'s structure and shapes, every entry ``s``."""
    if x is None:
        return None
    if isinstance(x, dict):
        return {k: tree_fill(v, s) for k, v in x.items()}
    if isinstance(x, (tuple, list)):
        return type(x)(tree_fill(v, s) for v in x)
    if isinstance(x, np.ndarray):
        return np.full(x.shape, s, dtype=np.result_type(x, s, 0.0))
    return s


def tree_scale(x, s):
    """Every leaf of ``x`` times ``s``."""
    if x is None:
        return None
    if isinstance(x, dict):
        return {k: tree_scale(v, s) for k, v in x.items()}
    if isinstance(x, (tuple, list)):
        return type(x)(tree_scale(v, s) for v in x)
    return x * s


# --- checkpointed loops (grad(f, checkpoint=...), issue #11) ------------------
#
# A loop of T iterations is reversed with s snapshots of its carried state
# (binomial checkpointing, Griewank's "revolve" schedule): the primal keeps
# the state before a few iterations; the adjoint sweep restores the nearest
# snapshot, runs the body again up to the iteration it reverses (keeping new
# snapshots where the schedule says), runs that one iteration with its
# pushes, then its adjoint.  The schedule is ours: the split below was
# derived from the cost recurrence, and tests/test_checkpoint.py checks it
# against the dynamic program.

def _beta(c, r):
    """How many steps ``c`` snapshots reverse with at most ``r`` runs of
    each step: C(c + r, c)."""
    return math.comb(c + r, c) if r >= 0 else 0


def _runs(n, c):
    r = 0
    while _beta(c, r) < n:
        r += 1
    return r


_SPLITS = {}        # (n, free) -> revolve_split(n, free)


def revolve_split(n, free):
    """Where to keep the next snapshot when reversing ``n`` steps from a
    kept state with ``free`` more snapshots (offset in 1..n-1): the split of
    minimal recomputation."""
    m = _SPLITS.get((n, free))
    if m is None:
        c = free + 1
        r = _runs(n, c)
        m = max(1, min(_beta(c, r - 1), n - _beta(c - 1, r - 1), n - 1))
        if len(_SPLITS) < 100000:
            _SPLITS[n, free] = m
    return m


def revolve_cost(n, free):
    """The body runs (advances, not counting the run of each reversed step)
    of reversing ``n`` steps from a kept state with ``free`` more snapshots."""
    if n <= 1:
        return 0
    c = free + 1
    r = _runs(n, c)
    return r * n - _beta(c + 1, r - 1)


def auto_snapshots(steps):
    """``checkpoint="auto"``: the fewest snapshots with which no step runs
    more than twice in the adjoint sweep (about sqrt(2 T))."""
    s = 1
    while _beta(s, 2) < steps:
        s += 1
    return s


class Revolve:
    """The snapshots of one checkpointed loop of ``steps`` iterations.

    Generated code::

        cp = ad.Revolve(len(r), 40, (y, h))     # the state before iteration 0
        for t in r:
            <body>
            cp.keep((y, h))                     # the state after each iteration
        ...
        for i in cp.backward():                 # i = T-1, ..., 0
            y, h = cp.state                     # the snapshot at cp.start
            for t in r[cp.start:i]:             # run again up to iteration i
                <body>
                cp.keep((y, h))
            for t in r[i:i + 1]:                # iteration i, with its pushes
                <body with pushes>
            <adjoint of the body>
    """

    def __init__(self, steps, snapshots, state):
        steps = int(steps)
        if snapshots == "auto":
            snapshots = auto_snapshots(steps)
        self.snapshots = max(1, int(snapshots))
        self.steps = steps
        self.stored = {0: state}
        self.start = 0
        self.state = state
        # the primal keeps the first chain of the schedule
        lo, free, plan = 0, self.snapshots - 1, set()
        while steps - lo > 1 and free > 0:
            lo += revolve_split(steps - lo, free)
            plan.add(lo)
            free -= 1
        self._stores = plan
        self._pos = 0
        self.runs = 0           # body runs of the adjoint sweeps (for tests)
        self.peak = 1           # most snapshots held at once (for tests)

    def keep(self, state):
        """After an iteration: keep the state if the schedule says so."""
        self._pos += 1
        if self._pos in self._stores:
            self.stored[self._pos] = state
            if len(self.stored) > self.peak:
                self.peak = len(self.stored)

    def backward(self, n=None):
        """The iterations to reverse, last first; before each, ``state`` is
        the snapshot at ``start`` and the body is to be run from ``start``.
        ``n``: the iterations the primal ran (a loop left by ``break``).
        Snapshots are dropped as soon as they are no longer needed: one
        backward sweep per primal sweep.

        The schedule (binomial, recursive in Griewank's description) runs
        here on an explicit stack of ranges ``[lo, hi, free]``, ``hi``
        lowered as the steps of the range are reversed, so that its cost per
        reversed step is a few operations (a recursive generator passes
        every step up through each level of the recursion)."""
        n = self.steps if n is None else int(n)
        stored = self.stored
        kept = sorted(p for p in stored if p < n)
        self.stored = stored = {p: stored[p] for p in kept}
        hi = n
        while kept:
            lo = kept.pop()
            # (run lo -> m keeping m is merged into the next run of the body:
            # from ``first`` keeping the ``pending`` positions)
            first, pending = None, set()
            ranges = [[lo, hi, self.snapshots - len(kept) - 1]]
            while ranges:
                top = ranges[-1]
                a, b, free = top
                if b <= a:                     # reversed: its snapshot is not needed
                    ranges.pop()
                    if ranges:
                        stored.pop(a, None)
                        ranges[-1][1] = a
                    continue
                if b - a == 1 or free <= 0:    # reverse step b - 1 from a
                    if first is None:
                        self.start, self._stores = a, ()
                    else:
                        self.start, self._stores = first, pending
                        first, pending = None, set()
                    self.state = stored[self.start]
                    self._pos = self.start
                    self.runs += b - self.start
                    yield b - 1
                    top[1] = b - 1
                    continue
                m = a + revolve_split(b - a, free)
                if first is None:
                    first = a
                pending.add(m)
                ranges.append([m, b, free - 1])
            stored.pop(lo, None)
            hi = lo
        self.state = None


class _BoundedParts(list):
    """``ad.defer_*``'s list in a checkpointed loop (``bounded_parts``)."""

    __slots__ = ("limit",)

    def __init__(self):
        super().__init__()
        self.limit = None

    def append(self, part):
        list.append(self, part)
        if type(part) is tuple:
            if self.limit is None:
                u, v = np.size(part[0]), np.size(part[1])
                self.limit = max(32, (u * v) // max(1, u + v))
            if len(self) < self.limit:
                return
        elif len(self) < 2:
            return
        self[:] = [sum_deferred(self)]


def bounded_parts():
    """The list of a checkpointed loop's deferred outer products (``bW_parts
    = ad.bounded_parts()`` where a plain adjoint loop has ``bW_parts = []``,
    transforms/cleanup/batch.py): summed whenever its recorded pairs (u, v)
    would take more memory than their sum, an outer product of u and v (at
    least 32 pairs: one matrix product sums them), so that the memory of a
    checkpointed loop does not grow with its number of steps."""
    return _BoundedParts()
