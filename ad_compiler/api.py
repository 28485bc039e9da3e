"""The public API: grad, value_and_grad, jvp, vjp, jacobian, hessian, source."""
import functools
import inspect
import numbers

from typing import Any, Callable, Optional, Sequence, Tuple, Union

import numpy as np

from ad_compiler import arrays, backends, compiler, runtime, tree
from ad_compiler.transforms.backend.codegen import note_origin
from ad_compiler.transforms.frontend.parse import (FunctionValue, attribute_types, is_function_value,
                                          missing_source, unwrap)

#: a position, a parameter name, or a tuple of them
Wrt = Union[int, str, Sequence[Union[int, str]]]


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
    if isinstance(x, np.ndarray) or arrays.is_foreign(x):   # (Dask, CuPy...)
        return x.dtype.kind in "fc"
    return False


def _leaves(x):
    """The leaves of a pytree: dicts, lists, tuples (NamedTuples too) and
    dataclass instances are containers."""
    if isinstance(x, dict):
        for v in x.values():
            yield from _leaves(v)
    elif isinstance(x, (tuple, list)):
        for v in x:
            yield from _leaves(v)
    elif runtime.is_dataclass_instance(x):
        for f in runtime.record_fields(x):
            yield from _leaves(getattr(x, f))
    else:
        yield x


def _is_container(x):
    return isinstance(x, (dict, tuple, list)) or runtime.is_dataclass_instance(x)


def _is_constant_leaf(v):
    """A leaf of a differentiated pytree that has no derivative: None, an
    int or bool (its gradient is zeros, its tangent None or 0)."""
    return v is None or isinstance(v, (bool, numbers.Integral, np.integer, np.bool_)) or (
        arrays.is_array(v) and v.dtype.kind in "biu")


# array attributes the compiler reads as such (no derivative, or .T...): a
# record field of that name would not be differentiated
_ARRAY_ATTRS = ("shape", "ndim", "size", "dtype", "itemsize", "nbytes", "strides",
                "flags", "T", "mT", "real", "imag", "flat", "base", "ctypes")


def _check_record_fields(x):
    if isinstance(x, dict):
        for v in x.values():
            _check_record_fields(v)
        return
    fields = runtime.record_fields(x) if (isinstance(x, tuple) or
                                          runtime.is_dataclass_instance(x)) else None
    if fields:
        clash = [f for f in fields if f in _ARRAY_ATTRS]
        if clash:
            raise TypeError(
                f"cannot differentiate with respect to a {type(x).__name__}: its field "
                f"{clash[0]!r} has the name of an array attribute, which ad_compiler reads "
                f"as the array's (p.{clash[0]} would get no or the wrong derivative); "
                f"rename the field")
    if isinstance(x, (tuple, list)):
        for v in x:
            _check_record_fields(v)
    elif fields:
        for f in fields:
            _check_record_fields(getattr(x, f))


def _is_float_tree(x):
    """A float, a float array, or a pytree (dict, list, tuple, NamedTuple,
    dataclass) with at least one float leaf whose other leaves are None,
    ints or bools (no derivative)."""
    if _is_container(x):
        leaves = list(_leaves(x))
        if not any(_is_float_value(v) for v in leaves) or not all(
                _is_float_value(v) or _is_constant_leaf(v) for v in leaves):
            return False
        _check_record_fields(x)
        return True
    return _is_float_value(x)


def _same_structure(t, p):
    if isinstance(p, dict):
        return isinstance(t, dict) and set(t) == set(p) and all(
            _same_structure(t[k], p[k]) for k in p)
    if isinstance(p, (tuple, list)):
        return isinstance(t, (tuple, list)) and len(t) == len(p) and all(
            _same_structure(a, b) for a, b in zip(t, p))
    if runtime.is_dataclass_instance(p):
        return type(t) is type(p) and all(
            _same_structure(getattr(t, f), getattr(p, f)) for f in runtime.record_fields(p))
    if p is None:
        return t is None or (not _is_container(t) and np.ndim(t) == 0)
    if isinstance(t, (dict,)) or runtime.is_dataclass_instance(t):
        return False
    if isinstance(t, (list, tuple)):     # a nested list of numbers for an array
        try:
            arr = np.asarray(t)
        except (ValueError, TypeError):
            return False
        return arr.dtype.kind in "biufc" and arr.shape == np.shape(p)
    return np.shape(t) == np.shape(p)


def _describe(x):
    if isinstance(x, np.ndarray):
        return f"an array of dtype {x.dtype} and shape {x.shape}"
    if arrays.is_foreign(x):
        return f"a {type(x).__module__}.{type(x).__name__} of dtype {x.dtype} and shape {x.shape}"
    return f"{type(x).__name__} {x!r}"[:80]


class _Via:
    """A wrt name of the function a decorator's wrapper wraps (the signature
    users see): which argument of the wrapper it is depends on the call
    (``bind_targets``).  ``index``: its position among the wrapped
    function's positional parameters (None for keyword-only)."""

    __slots__ = ("name", "index")

    def __init__(self, name, index):
        self.name, self.index = name, index

    def __eq__(self, other):
        return isinstance(other, _Via) and other.name == self.name

    def __hash__(self):
        return hash(self.name)

    def __repr__(self):
        return repr(self.name)


class _Signature:
    """Cheap access to the parameters of a user function (without ``self``
    for a bound method: ``skip_first``).

    A wrt *target* is a parameter name, or ``(pack, key)`` for one element
    of ``*args`` (key: its index among the extra positional arguments) or of
    ``**kwargs`` (key: the keyword).  For a decorator's wrapper taking
    ``*args``/``**kwargs`` (``functools.wraps``), a name of the wrapped
    function is a ``_Via``, bound to the wrapper's arguments per call."""

    def __init__(self, fn, skip_first=False):
        self.fn = fn
        # a decorator's wrapper (a function) has its own signature; a
        # derivative object (grad(f)) has f's
        sig = inspect.signature(fn, follow_wrapped=not inspect.isfunction(fn))
        self.sig = sig
        self.params = list(sig.parameters)
        kinds = inspect.Parameter
        self.all_positional = [p.name for p in sig.parameters.values()
                               if p.kind in (kinds.POSITIONAL_ONLY, kinds.POSITIONAL_OR_KEYWORD)]
        self.positional = self.all_positional[1:] if skip_first else list(self.all_positional)
        if skip_first:
            self.params = self.params[1:]
        self.vararg = next((p.name for p in sig.parameters.values()
                            if p.kind is kinds.VAR_POSITIONAL), None)
        self.varkw = next((p.name for p in sig.parameters.values()
                           if p.kind is kinds.VAR_KEYWORD), None)
        self.has_varargs = self.vararg is not None or self.varkw is not None
        self._stub = None
        self._from_end = None       # (api, wrt): a negative position was given
        # the wrapped function's parameters, which users name (what
        # inspect.signature(f) shows), for a wrapper forwarding *args/**kwargs
        self.seen_params, self.seen_positional = self.params, self.positional
        if self.has_varargs and inspect.isfunction(fn) and hasattr(fn, "__wrapped__"):
            try:
                seen = inspect.signature(fn)
            except (TypeError, ValueError):
                seen = sig
            if seen != sig:
                self.seen_params = list(seen.parameters)
                self.seen_positional = [
                    p.name for p in seen.parameters.values()
                    if p.kind in (kinds.POSITIONAL_ONLY, kinds.POSITIONAL_OR_KEYWORD)]
                if skip_first:
                    self.seen_params = self.seen_params[1:]
                    self.seen_positional = self.seen_positional[1:]

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
                fixed = getattr(self.fn, "__ad_partial__", None)
                if fixed is not None and w in fixed[2]:
                    raise ValueError(
                        f"{api}: wrt={w!r} names an argument the functools.partial fixes "
                        f"({w}=...); differentiate {fixed[0].__name__} itself with "
                        f"wrt={w!r}, or leave {w} out of the partial")
                if w in (self.vararg, self.varkw):
                    kind = "*" if w == self.vararg else "**"
                    raise ValueError(
                        f"{api}: wrt={w!r} names the packed parameter {kind}{w}; give the "
                        f"position of one of the extra arguments (or, for **kwargs, the "
                        f"keyword of one)")
                if w in self.params:
                    names.append(w)
                elif w in self.seen_params:
                    names.append(_Via(w, self.seen_positional.index(w)
                                      if w in self.seen_positional else None))
                elif self.varkw is not None:
                    names.append((self.varkw, w))
                else:
                    raise ValueError(
                        f"{api}: '{self.fn.__name__}' has no parameter named {w!r}; its "
                        f"parameters are {', '.join(self.seen_params)}")
            else:
                w = int(w)
                n = len(self.positional)
                if self.vararg is not None and w >= n:
                    names.append((self.vararg, w - n))
                    continue
                if self.vararg is not None and w < 0:
                    raise ValueError(
                        f"{api}: wrt={w}: negative positions are ambiguous for "
                        f"'{self.fn.__name__}', which takes *{self.vararg}; give a "
                        f"position counted from 0")
                if not -n <= w < n:
                    raise ValueError(
                        f"{api}: wrt={w} is out of range: '{self.fn.__name__}' takes {n} "
                        f"positional argument(s) ({', '.join(self.positional)})")
                if w < 0:
                    self._from_end = (api, w)
                names.append(self.positional[w])
        if len(set(names)) != len(names):
            raise ValueError(f"{api}: wrt names the same argument twice: {wrt!r}")
        return tuple(names), single

    def bind_targets(self, targets, args, kwargs, api, wrt=None):
        """The targets for this call: a name of the wrapped function
        (``_Via``) becomes the wrapper's argument that carries it (an
        element of *args when passed by position, of **kwargs by keyword).
        ``args`` without a bound method's object."""
        if not any(isinstance(t, _Via) for t in targets):
            return targets
        out = []
        n = len(self.positional)
        for t in targets:
            if isinstance(t, _Via):
                if t.index is not None and t.index < len(args):
                    i = t.index
                    if i < n:
                        t = self.positional[i]
                    elif self.vararg is not None:
                        t = (self.vararg, i - n)
                    else:
                        raise TypeError(f"{api}: wrt={t.name!r}: {self.fn.__name__}() takes "
                                        f"{n} positional argument(s)")
                elif t.name in kwargs:
                    if t.name in self.params:
                        t = t.name
                    elif self.varkw is not None:
                        t = (self.varkw, t.name)
                    else:
                        raise TypeError(f"{api}: wrt={t.name!r}: {self.fn.__name__}() "
                                        f"takes no keyword argument {t.name!r}")
                else:
                    raise TypeError(
                        f"{api}: wrt={t.name!r}: {self.fn.__name__}() was called without "
                        f"the argument {t.name!r}; its decorator's wrapper takes "
                        f"*{self.vararg or ''}/**{self.varkw or ''}, so the argument to "
                        f"differentiate must be passed explicitly (by position or keyword)")
            out.append(t)
        if len(set(out)) != len(out):
            raise ValueError(f"{api}: wrt names the same argument twice: "
                             f"{wrt if wrt is not None else targets!r}")
        return tuple(out)

    def value_of(self, name, args, kwargs):
        if isinstance(name, tuple):          # an element of *args / **kwargs
            pack, key = name
            if pack == self.vararg:
                i = len(self.positional) + key
                if i < len(args):
                    return args[i]
                raise TypeError(
                    f"wrt={i} is out of range: {self.fn.__name__}() was called with "
                    f"{len(args)} positional argument(s)")
            if key in kwargs:
                return kwargs[key]
            raise TypeError(f"wrt={key!r}: {self.fn.__name__}() was called without the "
                            f"keyword argument {key!r}")
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

    def check_call(self, args, kwargs):
        """Raise Python's own TypeError, naming the user's function, when the
        arguments do not fit its signature (the generated function would
        name itself instead).  ``args`` include a bound method's object."""
        try:
            self.sig.bind(*args, **kwargs)
        except TypeError:
            if self._stub is None:
                self._stub = _arity_stub(self.fn, self.sig)
            self._stub(*args, **kwargs)
            raise
        if self._from_end is not None:
            _check_from_end(self, args)

    def element_position(self, target):
        """The position among all positional arguments of a target (a
        parameter name or an element of *args), None for keywords."""
        if isinstance(target, tuple):
            pack, key = target
            return len(self.all_positional) + key if pack == self.vararg else None
        if target in self.all_positional:
            return self.all_positional.index(target)
        return None


def _arity_stub(fn, sig):
    """A do-nothing function with ``fn``'s parameters and name: calling it
    with arguments that do not fit raises the TypeError Python would raise
    for ``fn``."""
    empty = inspect.Parameter.empty
    params = [p.replace(annotation=empty,
                        default=None if p.default is not empty else empty)
              for p in sig.parameters.values()]
    text = str(sig.replace(parameters=params, return_annotation=empty))
    ns = {}
    exec(f"def _stub{text}:\n    pass\n", ns)   # noqa: S102 (our own text)
    stub = ns["_stub"]
    code = stub.__code__.replace(co_name=fn.__name__)
    if hasattr(code, "co_qualname"):
        code = code.replace(co_qualname=getattr(fn, "__qualname__", fn.__name__))
    stub.__code__ = code
    stub.__name__ = fn.__name__
    stub.__qualname__ = getattr(fn, "__qualname__", fn.__name__)
    return stub


def _compile_names(targets):
    """The parameters generated code differentiates for these targets
    (the pack itself for elements of *args/**kwargs), in order."""
    out = []
    for t in targets:
        name = t[0] if isinstance(t, tuple) else t
        if name not in out:
            out.append(name)
    return tuple(out)


def _picks(targets, names):
    """How to select the targets from gradients per compiled name: None
    when they are the same list."""
    if all(isinstance(t, str) for t in targets):
        return None
    return tuple((names.index(t[0]), t[1]) if isinstance(t, tuple) else (names.index(t), None)
                 for t in targets)


def _label(target):
    if isinstance(target, tuple):
        pack, key = target
        return f"{pack}[{key!r}]"
    return target


def _check_wrt_values(sig, names, args, kwargs, api, arrays_only=False):
    for target in names:
        try:
            v = sig.value_of(target, args, kwargs)
        except TypeError as exc:
            raise TypeError(f"{api}: {exc}") from None
        name = _label(target)
        if arrays_only and _is_container(v):
            raise TypeError(
                f"{api}: '{name}' is a {type(v).__name__} (a pytree); {api} differentiates "
                f"with respect to a float or a float array: pass the array as its own "
                f"argument (e.g. a wrapper taking the leaf), or use grad/jvp, which "
                f"accept pytrees")
        if not _is_float_tree(v):
            if isinstance(v, (bool, numbers.Integral, np.integer, np.bool_)) or (
                    arrays.is_array(v) and v.dtype.kind in "biu"):
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
        if is_function_value(a):      # a function argument: specialized to it
            out.append((name, FunctionValue(a)))
            continue
        if not isinstance(a, _PLAIN_TYPES) and not callable(a) and \
                type(a).__module__ not in ("builtins", "numpy") and \
                not arrays.is_foreign(a):     # (a Dask/CuPy array's methods are NumPy's)
            out.append((name, type(a)))
            out += attribute_types(name, a)   # self.layer.forward(x) (transforms/frontend/parse.py)
    return tuple(out)


def _any_complex(args, kwargs):
    """Whether any leaf of the arguments is complex (cheap for the common
    call with real arrays and floats: it runs on every gradient call)."""
    for a in args:
        t = type(a)
        if t is np.ndarray:
            if a.dtype.kind == "c":
                return True
        elif t is not float and t is not int and not (t is tuple and all(
                type(v) is float or type(v) is int for v in a)) and any(
                np.iscomplexobj(v) for v in _leaves(a)):
            return True
    return any(np.iscomplexobj(v) for a in kwargs.values() for v in _leaves(a))


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
        elif t is tuple and 0 < len(a) <= 32 and all(type(v) is float or type(v) is int
                                                     for v in a):
            key.append(tuple(map(type, a)))     # a tuple of Python numbers (a state)
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
    from ad_compiler.transforms.cleanup import scalars     # Python floats: plain float code
    kinds = scalars.python_kinds(args)
    key = (tuple(positional), raw, kinds)
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
        sig = tuple(out) + scalars.signature_entry(positional, kinds)
        if len(_SIGNATURES) > 4096:
            _SIGNATURES.clear()
        _SIGNATURES[key] = sig
    return sig


MAX_SPECIALIZATIONS = compiler.MAX_SPECIALIZATIONS


class _Derivative:
    """Base of the callables the API returns."""

    _mode = None
    _backend = None             # backends.check(backend=...): None is NumPy

    def __init__(self, fn, wrt, api, has_aux=False):
        functools.update_wrapper(self, fn)
        self._has_aux = bool(has_aux)
        if has_aux:
            self._mode = self._mode + "+aux"
        self.__ad_wrapped__ = fn
        self._bound = fn.__self__ if inspect.ismethod(fn) else None
        self._fn = unwrap(fn.__func__ if inspect.ismethod(fn) else fn)
        self._sig = _Signature(self._fn, skip_first=self._bound is not None)
        self._wrt, self._single = self._sig.resolve_wrt(wrt, api)
        self._api = api
        self._plans = {}
        # one plan, unless names of the wrapped function are bound to a
        # wrapper's *args/**kwargs per call (source() then assumes they are
        # passed by position)
        dynamic = any(isinstance(t, _Via) for t in self._wrt)
        self._static = None
        if dynamic:
            vias = [t for t in self._wrt if isinstance(t, _Via)]
            n = 1 + max((t.index for t in vias if t.index is not None), default=-1)
            try:
                self._plan = self._make_plan((None,) * n, {t.name: None for t in vias})
            except TypeError:
                self._plan = self._make_plan((), {t.name: None for t in vias})
        else:
            self._plan = self._static = self._make_plan((), {})
        self._entries = {}
        self._fast = {}
        self._key = ((), (), self._plan)

    def _plan_for(self, args, kwargs):
        """``(targets, compiled names, picks)`` for a call (``args`` without
        a bound method's object)."""
        if self._static is not None:
            return self._static
        key = (len(args), tuple(kwargs))
        plan = self._plans.get(key)
        if plan is None:
            plan = self._make_plan(args, kwargs)
            if len(self._plans) > 64:
                self._plans.clear()
            self._plans[key] = plan
        return plan

    def _make_plan(self, args, kwargs):
        targets = self._sig.bind_targets(self._wrt, args, kwargs, self._api)
        names = _compile_names(targets)
        return targets, names, _picks(targets, names)

    def _compiled(self, types=None, signature=(), plan=None):
        if types is None:
            types, signature, plan = self._key
            if not types and self._bound is not None:
                types = _user_types(self._sig.all_positional[:1], (self._bound,))
        plan = plan or self._plan
        key = (types, signature, plan[1])
        entry = self._entries.get(key)
        if entry is None or not entry.valid(self._fn):
            if entry is None and signature and len(self._entries) >= MAX_SPECIALIZATIONS:
                return self._compiled(types, (), plan)
            entry = self._entries[key] = compiler.compile_function(
                self._fn, self._mode, plan[1], types, signature)
            self._key = (types, signature, plan)
        return entry

    def _function_for(self, args, kwargs):
        """The generated function for these arguments, the arguments to
        call it with, the plan, and True when no argument is complex (False:
        not known).  Calls whose arguments have the types, dtypes and
        shapes of an earlier call skip the checks: a dict keyed by those
        finds the compiled entry directly (about 1 µs instead of 4)."""
        raw = _raw_key(args) if not kwargs and self._bound is None else None
        if raw is not None:
            hit = self._fast.get(raw)
            if hit is not None and hit[0].valid(self._fn):     # (not stale: freshness)
                return hit[0].function, args, hit[1], hit[2]
        plan = self._plan_for(args, kwargs)
        args, types, signature = self._prepare(args, kwargs, plan)
        entry = self._compiled(types, signature, plan)
        if raw is not None:
            if len(self._fast) > 256:
                self._fast.clear()
            # (the key has every array's dtype: whether any argument is
            # complex is known, and ``_real`` is skipped on later calls)
            real = not any(isinstance(k, np.dtype) and k.kind == "c" for k in raw)
            self._fast[raw] = (entry, plan, real)
        return entry.function, args, plan, False

    def _prepare(self, args, kwargs, plan):
        if self._bound is not None:
            args = (self._bound,) + args
        self._sig.check_call(args, kwargs)
        _check_wrt_values(self._sig, plan[0], args[1:] if self._bound is not None
                          else args, kwargs, self._api)
        positional = self._sig.all_positional
        signature = _shape_signature(positional, args)
        from ad_compiler.transforms.cleanup import scalars
        if self._backend is not None:
            # the plain-float rewrite (transforms/cleanup/scalars.py) speeds
            # up the interpreter; a compiled backend wants the array code
            signature = tuple(e for e in signature if e[0] != scalars.SIGNATURE_KEY)
        elif signature and signature[-1][0] != scalars.SIGNATURE_KEY:
            # code for the NumPy interpreter even without Python numbers:
            # its tape and deferred products are plain list operations
            # (scalars.py, specialize.py); generated code differentiated
            # again uses the array code (compiler._ArrayTwin)
            signature = signature + ((scalars.SIGNATURE_KEY, ()),)
        return args, _user_types(positional, args), signature

    def __get__(self, obj, objtype=None):
        if obj is None:
            return self
        return functools.partial(self, obj)


class _Grad(_Derivative):
    _mode = "grad"

    def __call__(self, *args, **kwargs):
        function, args, plan, real = self._function_for(args, kwargs)
        if self._backend is not None:
            function = backends.compiled(function, self._backend)
        try:
            out = function(*args, **kwargs)
        except Exception as exc:
            note_origin(exc)    # the user's line the failing code came from
            raise
        if self._has_aux:
            grads, aux = out
            grads = self._shape(grads, plan)
            return (grads if real else self._real(grads, args, kwargs, plan)), aux
        if real:
            return self._shape(out, plan)
        return self._real(self._shape(out, plan), args, kwargs, plan)

    def _real(self, grads, args, kwargs, plan):
        """Real gradients for real arguments when another argument is
        complex (the generated code only projects when it sees complex
        constants or functions itself)."""
        if not _any_complex(args, kwargs):
            return grads
        if self._bound is not None:
            args = args[1:]
        values = [self._sig.value_of(t, args, kwargs) for t in plan[0]]
        if self._single:
            return runtime.project(grads, values[0])
        return type(grads)(runtime.project(g, v) for g, v in zip(grads, values))

    def _shape_output(self, out, plan):
        """What calling this derivative returns, from the generated code's
        output (or its tangent)."""
        if isinstance(self, _ValueAndGrad):
            value, grads = out
            return value, self._shape(grads, plan)
        if self._has_aux:
            grads, aux = out
            return self._shape(grads, plan), aux
        return self._shape(out, plan)

    def _shape(self, out, plan=None):
        # generated code returns a bare gradient for one wrt, a tuple for more
        _, names, picks = plan or self._plan
        if picks is not None:
            return self._pick(out, names, picks)
        if len(names) == 1 and not self._single:
            return (out,)
        return out

    def _pick(self, out, names, picks):
        # elements of *args / **kwargs: the generated code returns the
        # gradient of the whole pack
        grads = (out,) if len(names) == 1 else out
        picked = tuple(grads[i] if key is None else grads[i][key] for i, key in picks)
        return picked[0] if self._single else picked


class _ValueAndGrad(_Grad):
    _mode = "value_and_grad"

    def __call__(self, *args, **kwargs):
        function, args, plan, real = self._function_for(args, kwargs)
        if self._backend is not None:
            function = backends.compiled(function, self._backend)
        try:
            value, grads = function(*args, **kwargs)
        except Exception as exc:
            note_origin(exc)
            raise
        if real:
            return value, self._shape(grads, plan)
        return value, self._real(self._shape(grads, plan), args, kwargs, plan)   # value is (out, aux) with has_aux


class _DefaultWrt(int):
    """The default ``wrt=0``, told apart from an explicit ``wrt=0`` so that
    giving both ``wrt`` and ``argnums`` is an error."""

    def __repr__(self):
        return "0"


_WRT0 = _DefaultWrt(0)


def grad(f: Optional[Callable] = None, wrt: Wrt = _WRT0,
         has_aux: bool = False, *, argnums=None, checkpoint=None,
         backend=None) -> Callable[..., Any]:
    """Return a function computing the gradient of scalar-valued ``f``.

    ``wrt`` is a position, a parameter name or a tuple of them (a tuple gives
    a tuple of gradients).  Usable bare (``@grad``) or as ``@grad(wrt=1)``.
    With ``has_aux=True``, ``f`` returns ``(output, aux)``; the gradient of
    the output is returned as ``(gradient, aux)``, aux undifferentiated.
    ``argnums`` (JAX's name: an int position or a tuple of them) is an
    alias of ``wrt``.  ``checkpoint="auto"`` or a number of snapshots:
    loops keep their state at that many snapshots instead of pushing every
    iteration's values, and run iterations again in the backward sweep
    (binomial checkpointing; "auto": about sqrt(2 n) for n iterations).
    ``backend="numba"`` runs the generated code compiled by numba where
    numba supports it (ad_compiler/backends), else as NumPy code.
    """
    wrt = _wrt_or_argnums(wrt, argnums, "grad")
    snapshots = _checkpoint_option(checkpoint, "grad")
    engine = backends.check(backend, "grad")
    f = _as_function(f)
    if f is None:
        return lambda fn: grad(fn, wrt, has_aux, checkpoint=checkpoint, backend=backend)
    if _composes(f):                 # grad(grad(f)), grad of a Hessian...
        return compose.nested_grad(f, wrt, has_aux, value=False)
    _check_callable(f, "grad")
    return _with_backend(_with_checkpoint(_Grad(f, wrt, "grad", has_aux), snapshots), engine)


def _checkpoint_option(checkpoint, api):
    """The ``checkpoint=`` keyword: None, "auto" or a number of snapshots."""
    if checkpoint is None or checkpoint is False:
        return None
    if checkpoint == "auto":
        return "auto"
    if isinstance(checkpoint, numbers.Integral) and not isinstance(checkpoint, bool) \
            and checkpoint >= 1:
        return int(checkpoint)
    raise ValueError(f"{api}: checkpoint must be None, 'auto' or a number of snapshots "
                     f">= 1, got {checkpoint!r}")


def _with_backend(d, engine):
    d._backend = engine
    return d


def _with_checkpoint(d, snapshots):
    if snapshots is not None:       # (the compiler reads the mode's suffix)
        d._mode = f"{d._mode}@checkpoint={snapshots}"
    return d


def value_and_grad(f: Optional[Callable] = None, wrt: Wrt = _WRT0,
                   has_aux: bool = False, *, argnums=None,
                   checkpoint=None, backend=None) -> Callable[..., Any]:
    """Like ``grad`` but returns ``(f(*args), gradient)``; with
    ``has_aux=True``: ``((output, aux), gradient)``."""
    wrt = _wrt_or_argnums(wrt, argnums, "value_and_grad")
    snapshots = _checkpoint_option(checkpoint, "value_and_grad")
    engine = backends.check(backend, "value_and_grad")
    f = _as_function(f)
    if f is None:
        return lambda fn: value_and_grad(fn, wrt, has_aux, checkpoint=checkpoint,
                                         backend=backend)
    if _composes(f):
        return compose.nested_grad(f, wrt, has_aux, value=True)
    _check_callable(f, "value_and_grad")
    return _with_backend(_with_checkpoint(
        _ValueAndGrad(f, wrt, "value_and_grad", has_aux), snapshots), engine)


def _as_function(f):
    """A NumPy/SciPy function with derivative rules (``np.tanh``,
    ``np.linalg.det``) as a Python function calling it, so that
    ``grad(np.tanh)`` works as in JAX and autograd; anything else as is."""
    if f is None or inspect.isfunction(f) or inspect.ismethod(f) or _composes(f):
        return f
    return compose.primitive_function(f) or f


def _composes(f):
    """A function the API returned (grad(f), hessian(f)...), which the
    API differentiates through ad_compiler.compose."""
    return compose.is_derivative(f)


def _check_callable(f, api):
    if not callable(f):
        raise TypeError(f"{api} expects a function, got {_describe(f)}")
    if inspect.isfunction(getattr(f, "__func__", f)):
        missing = missing_source(getattr(f, "__func__", f))   # (REPL, exec: short, no
        if missing is not None:                                # frames of the compiler)
            raise missing from None
    if not (inspect.isfunction(f) or inspect.ismethod(f) or isinstance(f, _Derivative)
            or hasattr(f, "__ad_wrapped__")):
        name = getattr(f, "__name__", type(f).__name__)
        if isinstance(f, functools.partial):
            # made a plain function with the partial's remaining parameters
            # (transforms/frontend/parse.py: partial_function); its callable checked
            _check_callable(f.func, api)
            unwrap(f)
            return
        if inspect.isfunction(getattr(f, "__wrapped__", None)):   # functools.lru_cache...
            raise TypeError(
                f"{api} cannot look into {name!r}, a {type(f).__name__} object wrapping a "
                f"Python function (not a function itself); if the wrapper does not "
                f"change values (a cache such as functools.lru_cache does not), "
                f"differentiate {name}.__wrapped__")
        raise TypeError(
            f"{api} differentiates Python functions (def) whose source it can read; "
            f"{name!r} is a {type(f).__name__}. Wrap it in a function: "
            f"def f(x): return {name}(x)")


def _active_names(fn, sig, primals, tangents, api):
    """The parameters to differentiate for these primals, in order (the
    ``*args`` pack when one of its elements is active)."""
    n = len(sig.positional)
    if len(primals) > n and sig.vararg is None:
        raise TypeError(f"{api}: '{fn.__name__}' takes {n} positional "
                        f"argument(s) but {len(primals)} primals were given")
    names = []
    for i, p in enumerate(primals):
        t = tangents[i] if tangents is not None else True
        if t is None or not _is_float_tree(p):
            continue
        name = sig.positional[i] if i < n else sig.vararg
        if name not in names:
            names.append(name)
    return tuple(names)


def _tangent_of(p, t):
    """A tangent as generated code takes it: None (a constant) becomes zeros
    (only elements of *args get here), an array primal gets an array."""
    if t is None or not _is_float_tree(p):
        return runtime.zeros_like(p)
    if isinstance(p, np.ndarray) and not isinstance(t, np.ndarray):
        return np.asarray(t, dtype=p.dtype)
    if _is_container(p):
        return _tree_tangent(p, t)
    return t


def _tree_tangent(p, t):
    """The tangent ``t`` of a pytree ``p`` (``_same_structure``) in p's own
    structure (a tuple given for a NamedTuple becomes the NamedTuple);
    leaves without a derivative (None, ints) get None / zeros and must be
    given as None or 0."""
    if isinstance(p, dict):
        return {k: _tree_tangent(v, t[k]) for k, v in p.items()}
    if isinstance(p, (tuple, list)):
        items = [_tree_tangent(v, u) for v, u in zip(p, t)]
        return type(p)._make(items) if runtime.is_namedtuple(p) else type(p)(items)
    if runtime.is_dataclass_instance(p):
        return runtime.build_dataclass(type(p), {f: _tree_tangent(getattr(p, f), getattr(t, f))
                                                 for f in runtime.record_fields(p)})
    if _is_constant_leaf(p):
        if t is not None and np.any(np.asarray(t) != 0):
            raise TypeError(f"jvp: a leaf {_describe(p)} of a pytree primal has no "
                            f"derivative (None, int or bool); give None or 0 as its "
                            f"tangent, got {_describe(t)}")
        return runtime.zeros_like(p)
    if isinstance(p, np.ndarray) and not isinstance(t, np.ndarray):
        return np.asarray(t, dtype=p.dtype)
    return t


def _forward_call(fn, sig, args, kwargs, tangents):
    """Run forward-mode code: ``tangents`` maps parameters (or packs) to
    their tangents; returns ``(out, tangent of out)``.  Compiled per shape
    signature of the arguments, as grad is (bounded by MAX_SPECIALIZATIONS)."""
    positional = sig.all_positional
    entry = compiler.compile_function(fn, "forward", tuple(tangents),
                                      _user_types(positional, args),
                                      _shape_signature(positional, args))
    kw = dict(kwargs)
    for name, t in tangents.items():
        kw[entry.tangent_params[name]] = t
    try:
        return entry.function(*args, **kw)
    except Exception as exc:
        note_origin(exc)
        raise


def jvp(f: Callable, primals: Sequence, tangents: Sequence) -> Tuple[Any, Any]:
    """Forward mode: ``(f(*primals), J(primals) @ tangents)``."""
    f = _as_function(f)
    _check_callable(f, "jvp")
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise TypeError("jvp(f, primals, tangents): primals and tangents must be tuples, "
                        "e.g. jvp(f, (x,), (dx,))")
    if _composes(f) and not isinstance(f, _Derivative):
        return compose.api_jvp(f, primals, tangents)
    if len(primals) != len(tangents):
        raise ValueError(f"jvp: got {len(primals)} primals but {len(tangents)} tangents; "
                         f"give one tangent per primal (None or 0 for constants)")
    primals = tuple(primals)
    if inspect.ismethod(f):          # a bound method: self is a constant
        primals = (f.__self__,) + primals
        tangents = (None,) + tuple(tangents)
        f = f.__func__
    derivative = None
    if isinstance(f, _Derivative):   # forward over reverse: the generated code
        derivative = f
        plan = f._plan_for(primals, {})
        if f._bound is not None:
            primals = (f._bound,) + primals
            tangents = (None,) + tuple(tangents)
        f._sig.check_call(primals, {})
        f = f._compiled(_user_types(f._sig.all_positional, primals), plan=plan).function
    fn = unwrap(f)
    sig = _Signature(fn)
    sig.check_call(primals, {})
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
    wrt = _active_names(fn, sig, primals, tangents, "jvp")
    n = len(sig.positional)
    by_name = {}
    for name in wrt:
        if name == sig.vararg:
            by_name[name] = tuple(_tangent_of(primals[i], tangents[i])
                                  for i in range(n, len(primals)))
        else:
            i = sig.positional.index(name)
            by_name[name] = _tangent_of(primals[i], tangents[i])
    out, dout = _forward_call(fn, sig, primals, {}, by_name)
    if derivative is not None:      # (grad's own selection of its gradients)
        return derivative._shape_output(out, plan), derivative._shape_output(dout, plan)
    return out, dout


def _structure(x):
    if isinstance(x, dict):
        return {k: _structure(v) for k, v in x.items()}
    if runtime.is_namedtuple(x) or runtime.is_dataclass_instance(x):
        inner = ", ".join(f"{f}={_structure(getattr(x, f))}" for f in runtime.record_fields(x))
        return _Shown(f"{type(x).__name__}({inner})")
    if isinstance(x, (tuple, list)):
        return type(x)(_structure(v) for v in x)
    if x is None:
        return None
    return np.shape(x)


class _Shown(str):
    """A structure shown in a message as written (no quotes)."""

    def __repr__(self):
        return str(self)


def _as_cotangent(ct, out):
    """A cotangent as the generated code expects it: of the output's kind
    (a Python float or int for a 0-d NumPy output becomes a NumPy value,
    integer cotangents of float outputs become floats)."""
    if isinstance(out, dict) and isinstance(ct, dict):
        return {k: _as_cotangent(ct[k], v) for k, v in out.items()}
    if isinstance(out, (tuple, list)) and isinstance(ct, (tuple, list)):
        items = [_as_cotangent(c, o) for c, o in zip(ct, out)]
        return type(ct)._make(items) if runtime.is_namedtuple(ct) else type(ct)(items)
    if runtime.is_dataclass_instance(out) and type(ct) is type(out):
        return runtime.build_dataclass(type(out), {
            f: _as_cotangent(getattr(ct, f), getattr(out, f)) for f in runtime.record_fields(out)})
    if out is None:
        return None
    if isinstance(out, (np.ndarray, np.generic)):
        arr = np.asarray(ct)
        if arr.dtype.kind not in "fc":
            kind = out.dtype if out.dtype.kind in "fc" else np.float64
            arr = arr.astype(kind)
        return arr if isinstance(out, np.ndarray) else arr[()]
    if isinstance(out, (float, int)) and not isinstance(out, bool) \
            and isinstance(ct, (numbers.Integral, np.integer)) and not isinstance(ct, bool):
        return float(ct)
    return ct


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
        try:
            grads = self._entry.bwd(self._saved, _as_cotangent(cotangent, self._out))
        except Exception as exc:
            note_origin(exc)
            raise
        by_name = dict(zip(self._wrt, grads))
        n = len(self._sig.positional)
        out = []
        for i, p in enumerate(self._primals):
            if i < n:
                out.append(by_name.get(self._sig.positional[i]))
            elif self._sig.vararg in by_name and _is_float_tree(p):
                out.append(by_name[self._sig.vararg][i - n])
            else:
                out.append(None)
        if any(np.iscomplexobj(v) for p in self._primals for v in _leaves(p)):
            out = [g if g is None else runtime.project(g, p)   # (real primals: real)
                   for g, p in zip(out, self._primals)]
        return tuple(out[self._skip:])


def _split_call(fn, sig, args, kwargs, names):
    """Run the forward sweep of split-mode code: ``(entry, out, saved)``."""
    # (the pullback checks that cotangents have the output's shape, so the
    # code can be specialized to the primals' shapes)
    entry = compiler.compile_function(fn, "split", names,
                                      _user_types(sig.all_positional, args),
                                      _shape_signature(sig.all_positional, args))
    try:
        out, saved = entry.fwd(*args, **kwargs)
    except Exception as exc:
        note_origin(exc)
        raise
    return entry, out, saved


def vjp(f: Callable, *primals: Any) -> Tuple[Any, Callable[[Any], tuple]]:
    """Reverse mode: ``(out, pullback)``; ``pullback(ct)`` returns one
    cotangent per primal (None for integer/boolean primals)."""
    f = _as_function(f)
    _check_callable(f, "vjp")
    if _composes(f):                 # vjp of grad(f): forward over reverse
        return compose.api_vjp(f, primals)
    bound = inspect.ismethod(f)
    if bound:                        # a bound method: self is a constant
        primals = (f.__self__,) + primals
        f = f.__func__
    fn = unwrap(f)
    sig = _Signature(fn)
    sig.check_call(primals, {})
    wrt = _active_names(fn, sig, primals, None, "vjp")
    entry, out, saved = _split_call(fn, sig, primals, {}, wrt)
    return out, _Pullback(entry, saved, primals, wrt, sig, out, skip=int(bound))


def _pack_tangent(sig, target, full, kwargs, t):
    """``(parameter, tangent)`` seeding ``t`` at a wrt target: for an
    element of *args/**kwargs, the pack's tangent with zeros elsewhere."""
    if isinstance(target, str):
        return target, t
    pack, key = target
    if pack == sig.vararg:
        extra = full[len(sig.all_positional):]
        return pack, tuple(t if j == key else runtime.zeros_like(v) for j, v in enumerate(extra))
    return pack, {k: (t if k == key else runtime.zeros_like(v))
                  for k, v in kwargs.items() if k not in sig.params}


def _select(sig, target, grads_of_name):
    return grads_of_name if isinstance(target, str) else grads_of_name[target[1]]


def jacobian(f: Callable, wrt: Wrt = _WRT0, mode: str = "rev", *,
             argnums=None) -> Callable[..., Any]:
    """Return a function computing the Jacobian ``out.shape + arg.shape``.

    For a complex output of a real argument both modes give the complex
    Jacobian (d Re(out)/dx + i d Im(out)/dx).  ``argnums`` is an alias of
    ``wrt``.  Pytrees (dicts, lists, tuples) give JAX's nesting: the
    output's structure, whose leaves are the argument's structure (a tuple
    of them for a tuple ``wrt``), whose leaves are the blocks
    ``out_leaf.shape + arg_leaf.shape``."""
    return _jacobian(f, _wrt_or_argnums(wrt, argnums, "jacobian"), mode, "jacobian")


def _jacobian(f, wrt, mode, api):
    f = _as_function(f)
    _check_callable(f, api)
    if mode not in ("rev", "fwd"):
        raise ValueError(f"{api}: mode must be 'rev' or 'fwd', got {mode!r}")
    if type(f) is _Grad and not f._has_aux and mode == "fwd":
        return _jacobian_of_grad(f, wrt, mode)
    if _composes(f):                 # of any derivative: by forward mode (mode="rev" too)
        return compose.jacobian_of(f, wrt)
    bound = f.__self__ if inspect.ismethod(f) else None
    fn = unwrap(f.__func__ if bound is not None else f)
    sig = _Signature(fn, skip_first=bound is not None)
    wrt_targets, single = sig.resolve_wrt(wrt, api)

    @functools.wraps(fn)
    def jac(*args, **kwargs):
        full = (bound,) + args if bound is not None else args
        sig.check_call(full, kwargs)
        targets = sig.bind_targets(wrt_targets, args, kwargs, api, wrt)
        _check_wrt_values(sig, targets, args, kwargs, api)
        results = []
        for target in targets:
            x = sig.value_of(target, args, kwargs)
            if mode == "fwd":
                def run(t, target=target):
                    name, tan = _pack_tangent(sig, target, full, kwargs, t)
                    return _forward_call(fn, sig, full, kwargs, {name: tan})
                results.append(_jac_fwd_tree(run, x, api))
            else:
                name = target if isinstance(target, str) else target[0]
                entry, out, saved = _split_call(fn, sig, full, kwargs, (name,))

                def pull(ct, target=target, entry=entry, saved=saved):
                    try:
                        return _select(sig, target, entry.bwd(saved, ct)[0])
                    except Exception as exc:
                        note_origin(exc)
                        raise
                results.append(_jac_rev_tree(pull, out, x, api))
        return _nest_jacobians(results, single)

    jac.__ad_source_fn__ = fn
    jac.__ad_mode__ = mode if mode == "fwd" else "vjp"
    jac.__ad_wrt__ = wrt
    jac.__ad_compose__ = ("jacobian", f, wrt)
    return jac


def _jacobian_of_grad(g, wrt, mode):
    """``jacobian(grad(f), mode='fwd')``: forward mode over the generated
    gradient code (as ``hessian`` does); ``wrt`` names f's parameters."""
    if mode != "fwd":
        raise TypeError(
            "jacobian(grad(f), mode='rev') would be reverse mode over reverse-mode code, "
            "which is not supported; use jacobian(grad(f), mode='fwd') or hessian(f) "
            "(forward over reverse)")
    if type(g) is not _Grad or g._has_aux:
        raise TypeError(
            "jacobian differentiates the function returned by grad(f) (without has_aux); "
            "for value_and_grad or has_aux=True use jacobian(grad(f), mode='fwd') on the "
            "scalar function itself")
    sig = g._sig
    wrt_targets, single = sig.resolve_wrt(wrt, "jacobian")

    @functools.wraps(g)
    def jac(*args, **kwargs):
        full = (g._bound,) + args if g._bound is not None else args
        sig.check_call(full, kwargs)
        targets = sig.bind_targets(wrt_targets, args, kwargs, "jacobian", wrt)
        _check_wrt_values(sig, targets, args, kwargs, "jacobian", arrays_only=True)
        plan = g._plan_for(args, kwargs)
        _check_wrt_values(sig, plan[0], args, kwargs, "jacobian")
        gfn = g._compiled(_user_types(sig.all_positional, full), plan=plan).function
        gsig = _Signature(gfn)
        results = []
        for target in targets:
            def run(t, target=target):
                name, tan = _pack_tangent(sig, target, full, kwargs, t)
                out, dout = _forward_call(gfn, gsig, full, kwargs, {name: tan})
                return g._shape(out, plan), g._shape(dout, plan)
            results.append(_jac_fwd(run, sig.value_of(target, args, kwargs)))
        return results[0] if single else tuple(results)

    jac.__ad_grad__ = g
    jac.__ad_compose__ = ("jacobian", g, wrt)
    return jac


def _basis(x):
    """Unit tangents for the entries of ``x`` (one zero tangent when x is
    empty, which still gives the output's shape)."""
    arr = np.asarray(x)
    dtype = np.result_type(arr, 0.0)
    if arr.size == 0:
        yield np.zeros(arr.shape, dtype=dtype)
        return
    for k in range(arr.size):
        t = np.zeros(arr.shape, dtype=dtype)
        t.reshape(-1)[k] = 1.0
        if not arr.shape and not isinstance(x, np.ndarray):
            t = dtype.type(1.0) if dtype != np.float64 else 1.0
        yield t


def _jac_fwd(run, x):
    """The Jacobian by forward mode: ``run(t)`` returns ``(out, tangent)``;
    a tuple output (the gradients of grad(f, wrt=(0, 1))) gives a tuple."""
    outs, douts = [], []
    for t in _basis(x):
        out, dout = run(t)
        outs.append(out)
        douts.append(dout)
    out = outs[-1]
    if isinstance(out, tuple):
        return tuple(_stack_columns(o, [d[k] for d in douts], x) for k, o in enumerate(out))
    return _stack_columns(out, douts, x)


def _stack_columns(out, cols, x):
    xshape = np.shape(x)
    cols = [np.asarray(c) for c in cols]
    out = np.asarray(out)
    if np.size(x) == 0:
        return np.zeros(out.shape + xshape, dtype=np.result_type(out, cols[0], 0.0))
    J = np.stack([np.broadcast_to(c, out.shape) for c in cols], axis=-1)
    return J.reshape(out.shape + xshape)


def _jac_rev(pull, out, x):
    """The Jacobian by reverse mode, one pullback per output entry; a
    complex output of a real ``x`` takes two (real and imaginary parts)."""
    out = np.asarray(out)
    xshape = np.shape(x)
    dtype = np.result_type(out, 0.0)
    complex_of_real = dtype.kind == "c" and np.result_type(np.asarray(x), 0.0).kind != "c"

    def row(ct):
        g = pull(ct)
        return np.zeros(xshape) if g is None else np.broadcast_to(np.asarray(g), xshape)

    rows = []
    for k in range(out.size):
        ct = np.zeros(out.shape, dtype=dtype)
        ct.reshape(-1)[k] = 1.0
        r = row(ct)
        if complex_of_real:
            # the pullback of a real input keeps the real part, Re(ct J):
            # ct = 1j gives -Im(J)
            ct = np.zeros(out.shape, dtype=dtype)
            ct.reshape(-1)[k] = 1j
            r = np.real(r) - 1j * np.real(row(ct))
        rows.append(r)
    if not rows:
        return np.zeros(out.shape + xshape, dtype=np.result_type(dtype, np.asarray(x)))
    J = np.stack(rows, axis=0)
    return J.reshape(out.shape + xshape)


def hessian(f: Callable, wrt: Union[int, str] = _WRT0, *, argnums=None) -> Callable[..., Any]:
    """Return a function computing the Hessian (forward over reverse);
    ``argnums`` is an alias of ``wrt``."""
    wrt = _wrt_or_argnums(wrt, argnums, "hessian")
    f = _as_function(f)
    _check_callable(f, "hessian")
    if _composes(f):                 # the Jacobian of grad(f) by forward mode
        primary = compose.jacobian_of(compose.nested_grad(f, wrt, False, value=False), wrt)

        @functools.wraps(primary)
        def hess_of_derivative(*args, **kwargs):
            try:
                return primary(*args, **kwargs)
            except compose.NotScalarOutput:
                # f's output is not a scalar (hessian(grad(f)) of an array,
                # JAX's jacfwd(jacrev(g))): the Jacobian of its Jacobian
                return jacobian(jacobian(f, wrt=wrt), wrt=wrt)(*args, **kwargs)
        hess_of_derivative.__ad_compose__ = primary.__ad_compose__
        hess_of_derivative.__ad_grad__ = primary.__ad_grad__
        return hess_of_derivative
    bound = f.__self__ if inspect.ismethod(f) else None
    fn = unwrap(f.__func__ if bound is not None else f)
    sig = _Signature(fn, skip_first=bound is not None)
    targets, single = sig.resolve_wrt(wrt, "hessian")
    if not single:
        raise ValueError("hessian: give a single wrt (an int position or a name)")
    g = grad(f, wrt=wrt)

    @functools.wraps(fn)
    def hess(*args, **kwargs):
        full = (bound,) + args if bound is not None else args
        sig.check_call(full, kwargs)
        target, = sig.bind_targets(targets, args, kwargs, "hessian", wrt)
        _check_wrt_values(sig, (target,), args, kwargs, "hessian", arrays_only=True)
        plan = g._plan_for(args, kwargs)
        gfn = g._compiled(_user_types(sig.all_positional, full), plan=plan).function
        gsig = _Signature(gfn)

        def run(t):
            name, tan = _pack_tangent(sig, target, full, kwargs, t)
            out, dout = _forward_call(gfn, gsig, full, kwargs, {name: tan})
            return g._shape(out, plan), g._shape(dout, plan)
        try:
            return _jac_fwd(run, sig.value_of(target, args, kwargs))
        except runtime.NotScalarOutput:
            # a vector-valued f: the Jacobian of its Jacobian (JAX's
            # hessian, jacfwd(jacrev(f)))
            return jacobian(jacobian(f, wrt=wrt), wrt=wrt)(*args, **kwargs)

    hess.__ad_grad__ = g
    hess.__ad_compose__ = ("hessian", g, wrt)
    return hess


def source(df: Callable, mode: Optional[str] = None, wrt: Wrt = 0) -> str:
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
        # a bound method's receiver is known: its class resolves self.method()
        types = _user_types(sig.all_positional[:1], (df.__self__,)) \
            if inspect.ismethod(df) else ()
        if mode == "rev":
            return compiler.compile_function(fn, "grad", names, types).sources["grad"]
        if mode == "vjp":
            e = compiler.compile_function(fn, "split", names, types)
            return e.sources["fwd"] + "\n\n" + e.sources["bwd"]
        return compiler.compile_function(fn, "forward", names, types).sources["jvp"]
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


# --- JAX's argnums, pytree Jacobians (jacobian, jacfwd, jacrev) --------------

def _wrt_or_argnums(wrt, argnums, api):
    """``wrt``, or ``argnums`` (JAX's name for it: an int position or a
    sequence of int positions) when given instead."""
    if argnums is None:
        return wrt
    if wrt is not _WRT0:
        raise TypeError(f"{api}: give either wrt or argnums (argnums is an alias of wrt), "
                        f"not both: got wrt={wrt!r}, argnums={argnums!r}")
    items = argnums if isinstance(argnums, (tuple, list)) else (argnums,)
    for a in items:
        if isinstance(a, (bool, np.bool_)) or not isinstance(a, (numbers.Integral, np.integer)):
            hint = f"; to name a parameter use wrt={a!r}" if isinstance(a, str) else ""
            raise TypeError(f"{api}: argnums must be an int position or a tuple of int "
                            f"positions; got {argnums!r}{hint}")
    return tuple(int(a) for a in argnums) if isinstance(argnums, (tuple, list)) \
        else int(argnums)


def _tree_split(x):
    """``(leaves, treedef)`` of dicts (insertion order), lists, tuples,
    NamedTuples, dataclasses and None (no leaves, as in JAX); the rest are
    leaves (ad_compiler.tree)."""
    return tree.tree_flatten(x)


def _tree_join(tdef, leaves):
    return tree.tree_unflatten(tdef, list(leaves))


def _numeric_leaves(leaves, api):
    """Whether each output leaf is a float/complex value (else an int or
    bool: a constant, zero blocks); other leaves are an error."""
    kinds = []
    for v in leaves:
        if isinstance(v, (np.ndarray, np.generic, numbers.Number)):
            kinds.append(np.asarray(v).dtype.kind in "fc")
        else:
            raise TypeError(f"{api}: the function's output has a leaf that is "
                            f"{_describe(v)}; a Jacobian needs outputs whose leaves are "
                            f"numbers or numeric arrays (dicts/lists/tuples of them)")
    return kinds


def _jac_rev_tree(pull, out, x, api):
    """``(output treedef, [per output leaf: the blocks in x's structure])``
    by reverse mode: one pullback per output entry (two for a complex
    output and real leaves of x).  Plain arrays: ``_jac_rev``."""
    if not (out is None or _is_container(out)) and not _is_container(x):
        _numeric_leaves([out], api)
        return None, [_jac_rev(pull, out, x)]
    outs, odef = _tree_split(out)
    floats = _numeric_leaves(outs, api)
    xs, xdef = _tree_split(x)
    xshapes = [np.shape(v) for v in xs]
    x_real = [np.result_type(np.asarray(v), 0.0).kind != "c" for v in xs]
    dtypes = [np.result_type(np.asarray(o), 0.0) for o in outs]
    zeros = [np.zeros(np.shape(o), dtype=d) for o, d in zip(outs, dtypes)]

    def grads(j, k, value):
        leaves = list(zeros)
        leaves[j] = c = zeros[j].copy()
        c.reshape(-1)[k] = value
        g = pull(_as_cotangent(_tree_join(odef, leaves), out))
        gs = [None] * len(xs) if g is None else _tree_split(g)[0]
        return [np.zeros(s) if v is None else np.broadcast_to(np.asarray(v), s)
                for v, s in zip(gs, xshapes)]

    per_out = []
    for j, o in enumerate(outs):
        oshape = np.shape(o)
        rows = []
        if floats[j]:
            for k in range(int(np.prod(oshape, dtype=int))):
                r = grads(j, k, 1.0)
                if dtypes[j].kind == "c" and any(x_real):
                    # the pullback of a real leaf keeps Re(ct J): ct = 1j gives -Im(J)
                    r_im = grads(j, k, 1j)
                    r = [np.real(a) - 1j * np.real(b) if real else a
                         for a, b, real in zip(r, r_im, x_real)]
                rows.append(r)
        blocks = []
        for i, (v, s) in enumerate(zip(xs, xshapes)):
            if rows:
                blocks.append(np.stack([r[i] for r in rows], axis=0).reshape(oshape + s))
            else:
                dtype = np.result_type(dtypes[j], np.asarray(v)) if floats[j] else np.float64
                blocks.append(np.zeros(oshape + s, dtype=dtype))
        per_out.append(_tree_join(xdef, blocks))
    return odef, per_out


def _jac_fwd_tree(run, x, api):
    """``(output treedef, [per output leaf: the blocks in x's structure])``
    by forward mode: one tangent per entry of each leaf of x.  Plain
    arrays: ``_jac_fwd``."""
    if not _is_container(x):
        cols = [run(t) for t in _basis(x)]
        out = cols[-1][0]
        if not (out is None or _is_container(out)):
            _numeric_leaves([out], api)
            return None, [_stack_columns(out, [d for _, d in cols], x)]
        outs, odef = _tree_split(out)
        floats = _numeric_leaves(outs, api)
        douts = [_tree_split(d)[0] if d is not None else [None] * len(outs) for _, d in cols]
        return odef, [_stack_columns(o, [d[j] if floats[j] and d[j] is not None else 0.0
                                         for d in douts], x)
                      for j, o in enumerate(outs)]
    xs, xdef = _tree_split(x)
    zeros = [runtime.zeros_like(v) if isinstance(v, np.ndarray) else 0.0 * v for v in xs]
    odef, outs, floats = None, None, None
    columns = []               # per leaf of x: per output leaf: its columns
    for i, v in enumerate(xs):
        per_leaf = None
        for t in _basis(v):
            leaves = list(zeros)
            leaves[i] = t
            out, dout = run(_tree_join(xdef, leaves))
            if odef is None:
                outs, odef = _tree_split(out)
                floats = _numeric_leaves(outs, api)
            ds = _tree_split(dout)[0] if dout is not None else [None] * len(outs)
            if per_leaf is None:
                per_leaf = [[] for _ in outs]
            for j in range(len(outs)):
                per_leaf[j].append(ds[j] if floats[j] and ds[j] is not None else 0.0)
        columns.append(per_leaf)
    return odef, [_tree_join(xdef, [_stack_columns(o, columns[i][j], xs[i])
                                     for i in range(len(xs))])
                  for j, o in enumerate(outs)]


def _nest_jacobians(results, single):
    """JAX's nesting of ``(output treedef, per output leaf)`` results, one
    per wrt: the output's structure outside, a tuple over wrt inside."""
    odef = results[0][0]
    if single:
        per_out = results[0][1]
    else:
        per_out = [tuple(r[1][j] for r in results) for j in range(len(results[0][1]))]
    return per_out[0] if odef is None else _tree_join(odef, per_out)


def _check_from_end(sig, args):
    """A negative wrt/argnums counts from the end of f's positional
    parameters; JAX counts from the end of the positional arguments of the
    call.  The two agree when the call passes every positional parameter
    by position; otherwise say so instead of picking one of them."""
    api, w = sig._from_end
    n = len(sig.positional)
    passed = len(args) - (len(sig.all_positional) - n)
    if passed != n:
        raise TypeError(
            f"{api}: wrt/argnums={w} counts from the end of the positional arguments, "
            f"but this call passes {passed} of the {n} positional parameters of "
            f"'{sig.fn.__name__}' ({', '.join(sig.positional)}) by position, so it would "
            f"name '{sig.positional[w]}' here and a different argument in JAX; pass all "
            f"{n} by position, or give a position counted from 0 or a parameter name")


from ad_compiler import compose  # noqa: E402  (it builds on this module)
