"""JAX- and autograd-style entry points built on the core API.

* ``jacfwd(f, argnums=0)`` / ``jacrev(f, argnums=0)``: JAX's names for
  ``jacobian(f, wrt, mode="fwd" / "rev")``;
* ``elementwise_grad(f, wrt=0)``: autograd's, the vector-Jacobian product
  with a cotangent of ones (the gradient of ``sum(f(x))``);
* ``hvp(f, wrt=0)`` (alias ``hessian_vector_product``, autograd's name):
  ``hvp(f)(*args, v)`` is the Hessian of scalar ``f`` times ``v``, by
  forward mode over the generated gradient code (the Hessian is never
  formed).

Every function takes ``wrt`` (a position, a parameter name or a tuple of
them) or, equivalently, ``argnums`` (JAX's name: int positions only), not
both.
"""
import functools
import inspect

import numpy as np

from ad_compiler import api, compose, runtime
from ad_compiler.api import _WRT0, _wrt_or_argnums
from ad_compiler.transforms.backend.codegen import note_origin
from ad_compiler.transforms.frontend.parse import unwrap

__all__ = ["jacfwd", "jacrev", "elementwise_grad", "hvp", "hessian_vector_product"]


def jacfwd(f, argnums=_WRT0, *, wrt=None):
    """The Jacobian by forward mode (one pass per input entry), JAX's shapes:
    ``out.shape + arg.shape``; a tuple ``argnums`` gives a tuple; pytree
    arguments and outputs nest as in ``jax.jacfwd`` (see ``jacobian``).

    >>> def f(x):
    ...     return np.sin(x) * x[0]
    >>> jacfwd(f)(np.array([1.0, 2.0])).shape
    (2, 2)

    ``wrt=`` (positions or parameter names) may be given instead of
    ``argnums``.  ``jacfwd(grad(f))`` is the Hessian (forward over reverse).
    """
    return api._jacobian(f, _argnums_or_wrt(argnums, wrt, "jacfwd"), "fwd", "jacfwd")


def jacrev(f, argnums=_WRT0, *, wrt=None):
    """The Jacobian by reverse mode (one pullback per output entry), JAX's
    shapes: ``out.shape + arg.shape``; a tuple ``argnums`` gives a tuple;
    pytree arguments and outputs nest as in ``jax.jacrev``.

    >>> def f(x, W):
    ...     return np.tanh(W @ x)
    >>> Jx, JW = jacrev(f, argnums=(0, 1))(np.ones(3), np.ones((2, 3)))
    >>> Jx.shape, JW.shape
    ((2, 3), (2, 2, 3))

    ``wrt=`` (positions or parameter names) may be given instead of
    ``argnums``.
    """
    return api._jacobian(f, _argnums_or_wrt(argnums, wrt, "jacrev"), "rev", "jacrev")


def _argnums_or_wrt(argnums, wrt, name):
    """jacfwd/jacrev take JAX's ``argnums`` first; ``wrt`` is the alias."""
    if wrt is None:
        return _wrt_or_argnums(_WRT0, None if argnums is _WRT0 else argnums, name)
    if argnums is not _WRT0:
        raise TypeError(f"{name}: give either argnums or wrt (wrt is an alias of "
                        f"argnums), not both: got argnums={argnums!r}, wrt={wrt!r}")
    return wrt


def _plain_function(f, name):
    """``(bound object or None, function, signature)`` of a function or a
    bound method to differentiate in reverse mode."""
    api._check_callable(f, name)
    if isinstance(f, api._Derivative):
        raise TypeError(
            f"{name} of a function returned by grad/value_and_grad would be reverse "
            f"over reverse, which is not supported; give {name} the function itself")
    bound = f.__self__ if inspect.ismethod(f) else None
    fn = unwrap(f.__func__ if bound is not None else f)
    return bound, fn, api._Signature(fn, skip_first=bound is not None)


def _ones_cotangent(out, name):
    """Ones of the output's structure, shapes and dtypes (zeros for integer
    and boolean leaves, which are constants)."""
    leaves, tdef = api._tree_split(out)
    floats = api._numeric_leaves(leaves, name)
    cts = []
    for v, is_float in zip(leaves, floats):
        dtype = np.asarray(v).dtype if is_float else np.float64
        cts.append(np.full(np.shape(v), 1.0 if is_float else 0.0, dtype=dtype))
    return api._as_cotangent(api._tree_join(tdef, cts), out)


def elementwise_grad(f, wrt=_WRT0, *, argnums=None):
    """autograd's ``elementwise_grad``: ``x ↦ (∂/∂x sum(f(x)))``, the
    vector-Jacobian product of ``f`` with a cotangent of ones.  For ``f``
    applied elementwise this is the derivative of each output entry with
    respect to its own input entry, with ``x``'s shape.

    >>> def f(x):
    ...     return np.tanh(x) * 2.0
    >>> elementwise_grad(f)(np.array([0.0, 1.0]))      # 2 (1 - tanh(x)^2)
    array([2.        , 0.83994868])

    ``wrt`` is a position, a parameter name or a tuple of them (a tuple
    gives a tuple); ``argnums`` is an alias.  Outputs may be pytrees (ones
    for every leaf); the arguments differentiated may be pytrees.
    """
    name = "elementwise_grad"
    wrt = _wrt_or_argnums(wrt, argnums, name)
    if _is_derivative(f):
        return _elementwise_grad_of_derivative(f, wrt)
    f = api._as_function(f)
    bound, fn, sig = _plain_function(f, name)
    wrt_targets, single = sig.resolve_wrt(wrt, name)

    @functools.wraps(fn)
    def egrad(*args, **kwargs):
        full = (bound,) + args if bound is not None else args
        sig.check_call(full, kwargs)
        targets = sig.bind_targets(wrt_targets, args, kwargs, name, wrt)
        api._check_wrt_values(sig, targets, args, kwargs, name)
        names = api._compile_names(targets)
        entry, out, saved = api._split_call(fn, sig, full, kwargs, names)
        try:
            grads = entry.bwd(saved, _ones_cotangent(out, name))
        except Exception as exc:
            note_origin(exc)
            raise
        by_name = dict(zip(names, grads))
        result = []
        complex_args = api._any_complex(args, kwargs)
        for t in targets:
            g = api._select(sig, t, by_name[t if isinstance(t, str) else t[0]])
            if complex_args:        # real gradients for real arguments
                g = runtime.project(g, sig.value_of(t, args, kwargs))
            result.append(g)
        return result[0] if single else tuple(result)

    egrad.__ad_source_fn__ = fn          # source(elementwise_grad(f)): both sweeps
    egrad.__ad_mode__ = "vjp"
    egrad.__ad_wrt__ = wrt
    egrad.__ad_compose__ = ("egrad", f, wrt)   # (differentiable again)
    return egrad


def hvp(f, wrt=_WRT0, *, argnums=None):
    """The Hessian-vector product of scalar-valued ``f``: ``hvp(f)`` returns
    ``h(*args, v, **kwargs) = H(args) @ v``, ``v`` (of the differentiated
    argument's shape, or pytree structure) given after f's own positional
    arguments, as autograd's ``hessian_vector_product(f)(x, v)``.

    Forward mode over the generated reverse-mode gradient code: one pass,
    about the cost of a few gradients, and the Hessian is never formed.

    >>> def f(x):
    ...     return np.sum(x ** 3)
    >>> hvp(f)(np.array([1.0, 2.0]), np.array([1.0, 0.0]))   # diag(6x) @ v
    array([6., 0.])

    ``wrt`` is a position or a parameter name (``argnums`` an alias); a
    tuple ``wrt`` takes a tuple ``v`` (one tangent per argument) and gives
    the tuple of blocks ``(sum_j H_ij v_j)_i``.
    """
    name = "hvp"
    wrt = _wrt_or_argnums(wrt, argnums, name)
    f = api._as_function(f)
    if _is_derivative(f):               # a third derivative: through ad_compiler.compose
        return _hvp_of_derivative(f, wrt)
    api._check_callable(f, name)
    g = api._Grad(f, wrt, name)          # (errors about wrt name hvp)
    sig = g._sig

    @functools.wraps(g._fn)
    def hv(*args, **kwargs):
        if not args:
            raise TypeError(f"{name}(f) returns h(*args, v): give f's positional arguments "
                            f"followed by the vector v")
        args, v = args[:-1], args[-1]
        full = (g._bound,) + args if g._bound is not None else args
        sig.check_call(full, kwargs)
        plan = g._plan_for(args, kwargs)
        targets = plan[0]
        api._check_wrt_values(sig, targets, args, kwargs, name)
        if g._single:
            vs = (v,)
        elif isinstance(v, (tuple, list)) and len(v) == len(targets):
            vs = tuple(v)
        else:
            raise TypeError(f"{name}: with wrt={wrt!r}, v must be a tuple of {len(targets)} "
                            f"tangents, one per differentiated argument; got "
                            f"{api._describe(v)}")
        seeds = {}
        for t, vi in zip(targets, vs):
            x = sig.value_of(t, args, kwargs)
            vi = _tangent_like(x, vi, name, t)
            pname, tan = api._pack_tangent(sig, t, full, kwargs, vi)
            if pname in seeds:          # two elements of one *args / **kwargs pack
                tan = _merge_pack(seeds[pname], tan, t[1])
            seeds[pname] = tan
        gfn = g._compiled(api._user_types(sig.all_positional, full), plan=plan).function
        _, dout = api._forward_call(gfn, api._Signature(gfn), full, kwargs, seeds)
        return g._shape(dout, plan)

    hv.__ad_grad__ = g
    hv.__ad_compose__ = ("hvp", f, wrt)   # (differentiable again)
    return hv


def _hvp_of_derivative(D, wrt):
    """``hvp(D)`` for a function the API returned (``hvp(grad(f))``...):
    the tangent of ``grad(D)`` (ad_compiler.compose)."""
    pos = compose.positions(D, wrt)
    if not isinstance(pos, int):
        raise TypeError("hvp of a function returned by the API takes one wrt position")
    G = compose.nested_grad(D, pos)

    def hv(*args, **kwargs):
        if not args:
            raise TypeError("hvp(f) returns h(*args, v): give f's positional arguments "
                            "followed by the vector v")
        args, v = args[:-1], args[-1]
        tangents = [None] * len(args)
        tangents[pos] = v
        return compose.form_of(G, args, kwargs).jvp(args, tangents)[1]
    hv.__ad_compose__ = ("hvp", D, pos)
    return hv


def _is_derivative(f):
    """A function the API returned (grad(f), jacobian(f)...), which is
    differentiated through the API rather than by reading its source."""
    composes = getattr(api, "_composes", None)
    return isinstance(f, api._Derivative) or (composes is not None and composes(f))


def _elementwise_grad_of_derivative(D, wrt):
    """``elementwise_grad(grad(f))`` and the like: the API's ``vjp`` of the
    derivative with a cotangent of ones (positional arguments only)."""
    name = "elementwise_grad"
    single = not isinstance(wrt, (tuple, list))
    items = (wrt,) if single else tuple(wrt)
    if not all(isinstance(w, int) for w in items):
        raise TypeError(f"{name} of a function returned by the API takes wrt as int "
                        f"positions; got wrt={wrt!r}")

    def egrad(*args, **kwargs):
        if kwargs:
            raise TypeError(f"{name} of a function returned by the API takes positional "
                            f"arguments only; got keyword(s) {', '.join(kwargs)}")
        n = len(args)
        for w in items:
            if not -n <= w < n:
                raise ValueError(f"{name}: wrt={w} is out of range for a call with {n} "
                                 f"positional argument(s)")
        out, pullback = api.vjp(D, *args)
        cts = pullback(_ones_cotangent(out, name))
        grads = tuple(cts[w] for w in items)
        return grads[0] if single else grads

    egrad.__ad_compose__ = ("egrad", D, wrt)
    return egrad


#: autograd's name for ``hvp``
hessian_vector_product = hvp


def _tangent_like(x, v, name, target):
    """``v`` as a tangent of ``x``: the same structure and shapes, each leaf
    of x's dtype (a Python float for a Python float)."""
    if not api._same_structure(v, x):
        raise ValueError(f"{name}: v must have the shape/structure of "
                         f"'{api._label(target)}': got {api._structure(v)}, expected "
                         f"{api._structure(x)}")
    xs, xdef = api._tree_split(x)
    vs = api._tree_split(v)[0]
    out = []
    for xl, vl in zip(xs, vs):
        if np.iscomplexobj(vl) and not np.iscomplexobj(xl):
            raise TypeError(f"{name}: v is complex but '{api._label(target)}' is real; "
                            f"give a real v")
        if isinstance(xl, np.ndarray):
            out.append(np.asarray(vl, dtype=xl.dtype))
        elif isinstance(xl, (np.generic,)):
            out.append(xl.dtype.type(vl))
        else:
            out.append(complex(vl) if isinstance(xl, complex) else float(vl))
    return api._tree_join(xdef, out)


def _merge_pack(seen, tan, key):
    """The tangent of a *args / **kwargs pack seeded at two elements."""
    if isinstance(seen, dict):
        return {k: (tan[k] if k == key else v) for k, v in seen.items()}
    return tuple(tan[j] if j == key else v for j, v in enumerate(seen))


compose.register_makers(jacfwd, jacrev, elementwise_grad, hvp, hessian_vector_product)
