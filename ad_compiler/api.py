"""The public API: grad, value_and_grad, jvp, vjp, jacobian, hessian, source."""
import functools
import inspect
import numbers

import numpy as np

from ad_compiler import compiler
from ad_compiler.transforms.parse import unwrap


def _is_float_value(x):
    t = type(x)
    if t is np.ndarray:
        return x.dtype.kind in "fc"
    if t is float:
        return True
    if isinstance(x, bool):
        return False
    if isinstance(x, (float, complex, np.floating, np.complexfloating)):
        return True
    if isinstance(x, np.ndarray):
        return x.dtype.kind in "fc"
    return False


def _leaves(x):
    if isinstance(x, dict):
        for v in x.values():
            yield from _leaves(v)
    elif isinstance(x, (tuple, list)):
        for v in x:
            yield from _leaves(v)
    else:
        yield x


def _is_float_tree(x):
    """A float, a float array, or a dict/list/tuple whose leaves all are."""
    if isinstance(x, (dict, tuple, list)):
        leaves = list(_leaves(x))
        return bool(leaves) and all(_is_float_value(v) for v in leaves)
    return _is_float_value(x)


def _same_structure(t, p):
    if isinstance(p, dict):
        return isinstance(t, dict) and set(t) == set(p) and all(
            _same_structure(t[k], p[k]) for k in p)
    if isinstance(p, (tuple, list)):
        return isinstance(t, (tuple, list)) and len(t) == len(p) and all(
            _same_structure(a, b) for a, b in zip(t, p))
    return np.shape(t) == np.shape(p)


def _describe(x):
    if isinstance(x, np.ndarray):
        return f"an array of dtype {x.dtype} and shape {x.shape}"
    return f"{type(x).__name__} {x!r}"[:80]


class _Signature:
    """Cheap access to the positional parameters of a user function
    (without ``self`` for a bound method: ``skip_first``)."""

    def __init__(self, fn, skip_first=False):
        self.fn = fn
        sig = inspect.signature(fn)
        self.sig = sig
        self.params = list(sig.parameters)
        kinds = inspect.Parameter
        self.all_positional = [p.name for p in sig.parameters.values()
                               if p.kind in (kinds.POSITIONAL_ONLY, kinds.POSITIONAL_OR_KEYWORD)]
        self.positional = self.all_positional[1:] if skip_first else list(self.all_positional)
        if skip_first:
            self.params = self.params[1:]
        self.has_varargs = any(p.kind in (kinds.VAR_POSITIONAL, kinds.VAR_KEYWORD)
                               for p in sig.parameters.values())

    def resolve_wrt(self, wrt, api):
        single = not isinstance(wrt, (tuple, list))
        items = [wrt] if single else list(wrt)
        if not items:
            raise ValueError(f"{api}: wrt=() names no argument; give a position or a name")
        names = []
        for w in items:
            if isinstance(w, bool) or not isinstance(w, (numbers.Integral, str)):
                raise TypeError(f"{api}: wrt must be an int position, a parameter name or a "
                                f"tuple of them; got {w!r}")
            if isinstance(w, str):
                if w not in self.params:
                    raise ValueError(
                        f"{api}: '{self.fn.__name__}' has no parameter named {w!r}; its "
                        f"parameters are {', '.join(self.params)}")
                names.append(w)
            else:
                n = len(self.positional)
                if not -n <= w < n:
                    raise ValueError(
                        f"{api}: wrt={w} is out of range: '{self.fn.__name__}' takes {n} "
                        f"positional argument(s) ({', '.join(self.positional)})")
                names.append(self.positional[w])
        if len(set(names)) != len(names):
            raise ValueError(f"{api}: wrt names the same argument twice: {wrt!r}")
        return tuple(names), single

    def value_of(self, name, args, kwargs):
        if name in kwargs:
            return kwargs[name]
        if name in self.positional:
            i = self.positional.index(name)
            if i < len(args):
                return args[i]
        p = self.sig.parameters[name]
        if p.default is not inspect.Parameter.empty:
            return p.default
        raise TypeError(f"{self.fn.__name__}() missing required argument '{name}'")


def _check_wrt_values(sig, names, args, kwargs, api):
    for name in names:
        v = sig.value_of(name, args, kwargs)
        if not _is_float_tree(v):
            if isinstance(v, (bool, numbers.Integral, np.integer, np.bool_)) or (
                    isinstance(v, np.ndarray) and v.dtype.kind in "biu"):
                raise TypeError(
                    f"{api}: cannot differentiate with respect to '{name}': it is an "
                    f"integer/boolean value ({_describe(v)}); integer arguments are "
                    f"constants. Pass a float (e.g. {name}=float(...) or "
                    f"arr.astype(float)) or choose another wrt")
            raise TypeError(
                f"{api}: cannot differentiate with respect to '{name}': expected a float "
                f"or a float array, got {_describe(v)}")


_PLAIN_TYPES = (np.ndarray, np.generic, numbers.Number, str, bytes, dict, list, tuple,
                type(None), slice, range)


_FAST_PLAIN = {np.ndarray, float, int, bool, np.float64, np.float32, tuple, list, dict,
               type(None), str}


def _user_types(positional, args):
    """(parameter, class) for arguments that are objects of user classes, so
    that ``self.method(...)`` calls inside can be resolved and compiled."""
    out = []
    for name, a in zip(positional, args):
        if type(a) in _FAST_PLAIN:
            continue
        if not isinstance(a, _PLAIN_TYPES) and not callable(a) and \
                type(a).__module__ not in ("builtins", "numpy"):
            out.append((name, type(a)))
    return tuple(out)


def _raw_key(args):
    """The types, dtypes and shapes of arguments that are all arrays, floats
    or ints (what the argument checks and the shape signature depend on),
    else None."""
    key = []
    for a in args:
        t = type(a)
        if t is np.ndarray:
            key.append(a.dtype)
            key.append(a.shape)
        elif t is float or t is int or t is np.float64:
            key.append(t)
        else:
            return None
    return tuple(key)


_SIGNATURES = {}
_SCALAR_CHARS = {float: "d", np.float64: "d", int: "l"}


def _shape_signature(positional, args):
    """The shapes of the array arguments as an equality pattern, which the
    generated code is specialized to: for each float64/int array (or Python
    float/int) parameter its dtype and dims, a dim being 1 or ``(param,
    axis)`` of the first argument dim of the same length.  Calls whose
    arguments share a pattern share code: changing a batch size does not
    recompile, but a length that starts or stops being 1, or being equal to
    another one, does."""
    raw = []
    for a in args:
        t = type(a)
        if t is np.ndarray:
            raw.append((a.dtype.char, a.shape))
        else:
            raw.append(_SCALAR_CHARS.get(t))
    raw = tuple(raw)
    key = (tuple(positional), raw)
    sig = _SIGNATURES.get(key)
    if sig is None:
        first = {}
        out = []
        for name, r in zip(positional, raw):
            if r is None:
                continue
            if isinstance(r, str):
                out.append((name, (r, ())))
                continue
            char, shape = r
            dims = []
            for axis, n in enumerate(shape):
                dims.append(1 if n == 1 else first.setdefault(n, (name, axis)))
            out.append((name, (char, tuple(dims))))
        sig = tuple(out)
        if len(_SIGNATURES) > 4096:
            _SIGNATURES.clear()
        _SIGNATURES[key] = sig
    return sig


MAX_SPECIALIZATIONS = compiler.MAX_SPECIALIZATIONS


class _Derivative:
    """Base of the callables the API returns."""

    _mode = None

    def __init__(self, fn, wrt, api, has_aux=False):
        functools.update_wrapper(self, fn)
        self._has_aux = bool(has_aux)
        if has_aux:
            self._mode = self._mode + "+aux"
        self.__ad_wrapped__ = fn
        self._bound = fn.__self__ if inspect.ismethod(fn) else None
        self._fn = unwrap(fn.__func__ if inspect.ismethod(fn) else fn)
        self._sig = _Signature(self._fn, skip_first=self._bound is not None)
        self._wrt_names, self._single = self._sig.resolve_wrt(wrt, api)
        self._api = api
        self._entries = {}
        self._fast = {}
        self._key = ((), ())

    def _compiled(self, types=None, signature=()):
        if types is None:
            types, signature = self._key
            if not types and self._bound is not None:
                types = _user_types(self._sig.all_positional[:1], (self._bound,))
        key = (types, signature)
        entry = self._entries.get(key)
        if entry is None or not entry.fresh():
            if entry is None and signature and len(self._entries) >= MAX_SPECIALIZATIONS:
                return self._compiled(types, ())
            entry = self._entries[key] = compiler.compile_function(
                self._fn, self._mode, self._wrt_names, types, signature)
            self._key = key
        return entry

    def _function_for(self, args, kwargs):
        """The generated function for these arguments and the arguments to
        call it with.  Calls whose arguments have the types, dtypes and
        shapes of an earlier call skip the checks: a dict keyed by those
        finds the compiled entry directly (about 1 µs instead of 4)."""
        raw = _raw_key(args) if not kwargs and self._bound is None else None
        if raw is not None:
            entry = self._fast.get(raw)
            if entry is not None and entry.fresh():
                return entry.function, args
        args, types, signature = self._prepare(args, kwargs)
        entry = self._compiled(types, signature)
        if raw is not None:
            if len(self._fast) > 256:
                self._fast.clear()
            self._fast[raw] = entry
        return entry.function, args

    def _prepare(self, args, kwargs):
        _check_wrt_values(self._sig, self._wrt_names, args, kwargs, self._api)
        if self._bound is not None:
            args = (self._bound,) + args
        positional = self._sig.all_positional
        return args, _user_types(positional, args), _shape_signature(positional, args)

    def __get__(self, obj, objtype=None):
        if obj is None:
            return self
        return functools.partial(self, obj)


class _Grad(_Derivative):
    _mode = "grad"

    def __call__(self, *args, **kwargs):
        function, args = self._function_for(args, kwargs)
        out = function(*args, **kwargs)
        if self._has_aux:
            grads, aux = out
            return self._shape(grads), aux
        return self._shape(out)

    def _shape(self, out):
        # generated code returns a bare gradient for one wrt, a tuple for more
        if len(self._wrt_names) == 1 and not self._single:
            return (out,)
        return out


class _ValueAndGrad(_Grad):
    _mode = "value_and_grad"

    def __call__(self, *args, **kwargs):
        function, args = self._function_for(args, kwargs)
        value, grads = function(*args, **kwargs)
        return value, self._shape(grads)   # value is (out, aux) with has_aux


def grad(f=None, wrt=0, has_aux=False):
    """Return a function computing the gradient of scalar-valued ``f``.

    ``wrt`` is a position, a parameter name or a tuple of them (a tuple gives
    a tuple of gradients).  Usable bare (``@grad``) or as ``@grad(wrt=1)``.
    With ``has_aux=True``, ``f`` returns ``(output, aux)``; the gradient of
    the output is returned as ``(gradient, aux)``, aux undifferentiated.
    """
    if f is None:
        return lambda fn: grad(fn, wrt, has_aux)
    _check_callable(f, "grad")
    return _Grad(f, wrt, "grad", has_aux)


def value_and_grad(f=None, wrt=0, has_aux=False):
    """Like ``grad`` but returns ``(f(*args), gradient)``; with
    ``has_aux=True``: ``((output, aux), gradient)``."""
    if f is None:
        return lambda fn: value_and_grad(fn, wrt, has_aux)
    _check_callable(f, "value_and_grad")
    return _ValueAndGrad(f, wrt, "value_and_grad", has_aux)


def _check_callable(f, api):
    if not callable(f):
        raise TypeError(f"{api} expects a function, got {_describe(f)}")
    if isinstance(f, _Derivative) and api in ("grad", "value_and_grad", "vjp", "hessian"):
        raise TypeError(
            f"{api} of a function returned by grad/value_and_grad would be reverse "
            f"over reverse, which is not supported; use hessian(f), or jvp(grad(f), ...) "
            f"/ jacobian(grad(f), mode='fwd') (forward over reverse)")
    if not (inspect.isfunction(f) or inspect.ismethod(f) or isinstance(f, _Derivative)
            or hasattr(f, "__ad_wrapped__")):
        name = getattr(f, "__name__", type(f).__name__)
        raise TypeError(
            f"{api} differentiates Python functions (def) whose source it can read; "
            f"{name!r} is a {type(f).__name__}. Wrap it in a function: "
            f"def f(x): return {name}(x)")


def _active_positions(fn, sig, primals, tangents, api):
    if len(primals) > len(sig.positional):
        raise TypeError(f"{api}: '{fn.__name__}' takes {len(sig.positional)} positional "
                        f"argument(s) but {len(primals)} primals were given")
    names = []
    for i, p in enumerate(primals):
        t = tangents[i] if tangents is not None else True
        if t is None or not _is_float_tree(p):
            continue
        names.append(sig.positional[i])
    return tuple(names)


def jvp(f, primals, tangents):
    """Forward mode: ``(f(*primals), J(primals) @ tangents)``."""
    _check_callable(f, "jvp")
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise TypeError("jvp(f, primals, tangents): primals and tangents must be tuples, "
                        "e.g. jvp(f, (x,), (dx,))")
    if len(primals) != len(tangents):
        raise ValueError(f"jvp: got {len(primals)} primals but {len(tangents)} tangents; "
                         f"give one tangent per primal (None or 0 for constants)")
    if inspect.ismethod(f):          # a bound method: self is a constant
        primals = (f.__self__,) + tuple(primals)
        tangents = (None,) + tuple(tangents)
        f = f.__func__
    if isinstance(f, _Derivative):   # forward over reverse: the generated code
        if f._bound is not None:
            primals = (f._bound,) + tuple(primals)
            tangents = (None,) + tuple(tangents)
        f = f._compiled(_user_types(f._sig.all_positional, primals)).function
    fn = unwrap(f)
    sig = _Signature(fn)
    tangents = list(tangents)
    for i, (p, t) in enumerate(zip(primals, tangents)):
        if t is None:
            continue
        if not _is_float_tree(p):
            if np.any(np.asarray(t) != 0) if not isinstance(t, (tuple, list, dict)) else True:
                raise TypeError(f"jvp: primal {i} is {_describe(p)}, which is not "
                                f"differentiable; give None or 0 as its tangent")
            tangents[i] = None
            continue
        if not _same_structure(t, p):
            raise ValueError(f"jvp: tangent {i} does not match its primal: shape/structure "
                             f"{_structure(t)} vs {_structure(p)}")
    wrt = _active_positions(fn, sig, primals, tangents, "jvp")
    entry = compiler.compile_function(fn, "forward", wrt, _user_types(sig.positional, primals))
    kw = {}
    for name in wrt:
        i = sig.positional.index(name)
        t = tangents[i]
        p = primals[i]
        if isinstance(p, np.ndarray) and not isinstance(t, np.ndarray):
            t = np.asarray(t, dtype=p.dtype)
        kw[entry.tangent_params[name]] = t
    return entry.function(*primals, **kw)


def _structure(x):
    if isinstance(x, dict):
        return {k: _structure(v) for k, v in x.items()}
    if isinstance(x, (tuple, list)):
        return type(x)(_structure(v) for v in x)
    return np.shape(x)


class _Pullback:
    def __init__(self, entry, saved, primals, wrt, sig, out, skip=0):
        self._skip = skip
        self._entry = entry
        self._saved = saved
        self._primals = primals
        self._wrt = wrt
        self._sig = sig
        self._out = out
        self.__ad_source__ = entry.sources["bwd"]

    def __call__(self, cotangent):
        if not _same_structure(cotangent, self._out):
            raise ValueError(f"pullback: the cotangent must match the output: got "
                             f"{_structure(cotangent)}, the output is {_structure(self._out)}")
        grads = self._entry.bwd(self._saved, cotangent)
        by_name = dict(zip(self._wrt, grads))
        out = []
        for i, p in enumerate(self._primals):
            name = self._sig.positional[i]
            out.append(by_name.get(name))
        return tuple(out[self._skip:])


def vjp(f, *primals):
    """Reverse mode: ``(out, pullback)``; ``pullback(ct)`` returns one
    cotangent per primal (None for integer/boolean primals)."""
    _check_callable(f, "vjp")
    bound = inspect.ismethod(f)
    if bound:                        # a bound method: self is a constant
        primals = (f.__self__,) + primals
        f = f.__func__
    fn = unwrap(f)
    sig = _Signature(fn)
    wrt = _active_positions(fn, sig, primals, None, "vjp")
    # (the pullback checks that cotangents have the output's shape, so the
    # code can be specialized to the primals' shapes)
    entry = compiler.compile_function(fn, "split", wrt, _user_types(sig.positional, primals),
                                      _shape_signature(sig.positional, primals))
    out, saved = entry.fwd(*primals)
    return out, _Pullback(entry, saved, primals, wrt, sig, out, skip=int(bound))


def jacobian(f, wrt=0, mode="rev"):
    """Return a function computing the Jacobian ``out.shape + arg.shape``."""
    _check_callable(f, "jacobian")
    if mode not in ("rev", "fwd"):
        raise ValueError(f"jacobian: mode must be 'rev' or 'fwd', got {mode!r}")
    bound = f.__self__ if inspect.ismethod(f) else None
    fn = unwrap(f.__func__ if bound is not None else f)
    sig = _Signature(fn, skip_first=bound is not None)
    names, single = sig.resolve_wrt(wrt, "jacobian")

    @functools.wraps(fn)
    def jac(*args, **kwargs):
        if kwargs:
            args = tuple(sig.sig.bind(*((bound,) + args if bound is not None else args),
                                      **kwargs).args)
            if bound is not None:
                args = args[1:]
        _check_wrt_values(sig, names, args, {}, "jacobian")
        full = (bound,) + tuple(args) if bound is not None else tuple(args)
        results = []
        for name in names:
            i = sig.all_positional.index(name)
            x = np.asarray(full[i])
            if mode == "fwd":
                results.append(_jac_fwd(fn, full, i, x))
            else:
                results.append(_jac_rev(fn, full, i, x))
        return results[0] if single else tuple(results)

    jac.__ad_source_fn__ = fn
    jac.__ad_mode__ = mode if mode == "fwd" else "vjp"
    jac.__ad_wrt__ = wrt
    return jac


def _jac_fwd(fn, args, i, x):
    cols = []
    out = None
    for k in range(max(x.size, 1) if x.shape else 1):
        t = np.zeros(x.shape, dtype=np.result_type(x, 0.0))
        t.reshape(-1)[k] = 1.0
        tangents = [None] * len(args)
        tangents[i] = t if x.shape else float(1.0) if not isinstance(args[i], np.ndarray) else t
        out, dout = jvp(fn, tuple(args), tuple(tangents))
        cols.append(np.asarray(dout))
    out = np.asarray(out)
    if x.size == 0:
        return np.zeros(out.shape + x.shape)
    J = np.stack([np.broadcast_to(c, out.shape) for c in cols], axis=-1)
    return J.reshape(out.shape + x.shape)


def _jac_rev(fn, args, i, x):
    out, pull = vjp(fn, *args)
    out = np.asarray(out)
    rows = []
    for k in range(max(out.size, 1)):
        ct = np.zeros(out.shape, dtype=np.result_type(out, 0.0))
        ct.reshape(-1)[k] = 1.0
        if not out.shape:
            ct = np.ones((), dtype=np.result_type(out, 0.0))
        g = pull(ct)[i]
        rows.append(np.zeros(x.shape) if g is None else np.broadcast_to(np.asarray(g), x.shape))
    J = np.stack(rows, axis=0)
    return J.reshape(out.shape + x.shape)


def hessian(f, wrt=0):
    """Return a function computing the Hessian (forward over reverse)."""
    _check_callable(f, "hessian")
    bound = f.__self__ if inspect.ismethod(f) else None
    fn = unwrap(f.__func__ if bound is not None else f)
    sig = _Signature(fn, skip_first=bound is not None)
    names, single = sig.resolve_wrt(wrt, "hessian")
    if not single:
        raise ValueError("hessian: give a single wrt (an int position or a name)")
    g = grad(f, wrt=names[0])

    @functools.wraps(fn)
    def hess(*args, **kwargs):
        if kwargs:
            args = tuple(sig.sig.bind(*((bound,) + args if bound is not None else args),
                                      **kwargs).args)
            if bound is not None:
                args = args[1:]
        _check_wrt_values(sig, names, args, {}, "hessian")
        full = (bound,) + tuple(args) if bound is not None else tuple(args)
        entry = g._compiled(_user_types(sig.all_positional, full))
        i = sig.all_positional.index(names[0])
        return _jac_fwd(entry.function, full, i, np.asarray(full[i]))

    hess.__ad_grad__ = g
    return hess


def source(df, mode=None, wrt=0):
    """The generated Python source behind a function returned by the API.

    ``source(grad(f))``, ``source(value_and_grad(f))``, ``source(pullback)``
    (both sweeps), ``source(hessian(f))`` (the gradient it differentiates),
    ``source(jacobian(f, mode=...))``.  For forward mode, which ``jvp`` runs
    directly, give the user function and the mode: ``source(f, mode="fwd",
    wrt=(0, 1))`` (or ``mode="rev"``, ``mode="vjp"``).
    """
    if mode is not None:
        if mode not in ("fwd", "rev", "vjp"):
            raise ValueError(f"source: mode must be 'fwd', 'rev' or 'vjp', got {mode!r}")
        _check_callable(df, "source")
        fn = unwrap(df.__func__ if inspect.ismethod(df) else df)
        sig = _Signature(fn, skip_first=inspect.ismethod(df))
        names, _ = sig.resolve_wrt(wrt, "source")
        if mode == "rev":
            return compiler.compile_function(fn, "grad", names).sources["grad"]
        if mode == "vjp":
            e = compiler.compile_function(fn, "split", names)
            return e.sources["fwd"] + "\n\n" + e.sources["bwd"]
        return compiler.compile_function(fn, "forward", names).sources["jvp"]
    if isinstance(df, _Derivative):
        return df._compiled().function.__ad_source__
    if isinstance(df, _Pullback):
        return df._entry.sources["fwd"] + "\n\n" + df._entry.sources["bwd"]
    g = getattr(df, "__ad_grad__", None)
    if g is not None:
        return source(g)
    src = getattr(df, "__ad_source__", None)
    if src is not None:
        return src
    fn = getattr(df, "__ad_source_fn__", None)
    if fn is not None:
        return source(fn, mode=df.__ad_mode__, wrt=df.__ad_wrt__)
    raise TypeError("source() expects a function returned by grad, value_and_grad, "
                    "hessian, jacobian or a vjp pullback; for forward mode give the "
                    "function and the mode: source(f, mode='fwd', wrt=0)")
