"""Derivatives of the functions the API returns: ``grad(grad(f))``,
``jacobian(grad(f), mode="rev")``, ``hessian(g)`` where ``g`` calls
``grad``, a ``vjp`` or ``jvp`` inside differentiated code.

Everything here rests on two facts.

1. Forward mode transforms *any* code ad_compiler generates, again and
   again: the forward pass has rules for every runtime helper that
   generated code calls (``rules/runtime_rules.py``).  So the tangent of a
   derivative is always computed by transforming its generated code.

2. Reverse mode over a gradient needs no reverse-over-reverse code: a
   gradient ``g = grad_W h`` of a scalar function ``h`` has a symmetric
   Jacobian (the Hessian of ``h``), so its vector-Jacobian product is a
   Jacobian-vector product,

       vjp(g)(x)(u) = H[:, W] u = jvp(grad_all h)(x; u at the W slots),

   forward over reverse: the cost of a Hessian-vector product, about three
   gradients.  A ``vjp`` pullback is the gradient of ``<ct, f(x)>``, so the
   same holds for it.  Other derivatives (Jacobians, Hessians, tangents)
   are reversed by forward mode over their inputs, one tangent per input
   entry: exact, and as cheap as the Jacobian of a small input.

A ``Form`` is how a derivative is computed for given arguments: one
generated (or user) function called once per "extra" (a unit tangent of a
Jacobian column, a fixed seed) and a *linear* ``combine`` of the results.
Forms are closed under ``jvp_form`` (forward mode over the function), which
is what makes every nesting work to any order.
"""
import functools
import inspect
import weakref

import numpy as np

from ad_compiler import api, compiler, registry, runtime
from ad_compiler import runtime as ad
from ad_compiler.registry import forward, reverse
from ad_compiler.transforms.backend import codegen


def _is_zero(t):
    if t is None:
        return True
    if isinstance(t, (tuple, list, dict, np.ndarray)):
        return False
    try:
        return t == 0
    except Exception:
        return False


def _positional_names(fn):
    sig = inspect.signature(fn, follow_wrapped=False)
    kinds = inspect.Parameter
    return [p.name for p in sig.parameters.values()
            if p.kind in (kinds.POSITIONAL_ONLY, kinds.POSITIONAL_OR_KEYWORD)]


class Form:
    """``value(P) = combine([fn(*Q[:n], **kwargs, **dict(zip(names, Q[n:])),
    **ex) for ex in extras])`` with ``Q = pre(P)``.

    ``pre(P, tangent)`` only re-indexes (and inserts constants, which are
    None when ``tangent`` is true): it is linear, as ``combine`` is."""

    __slots__ = ("fn", "n", "names", "extras", "combine", "kwargs", "pre")

    def __init__(self, fn, n, names, extras, combine, kwargs=None, pre=None):
        self.fn = fn
        self.n = n
        self.names = list(names)
        self.extras = list(extras)
        self.combine = combine
        self.kwargs = dict(kwargs or {})
        self.pre = pre or (lambda P, tangent=False: list(P))

    def _run(self, Q, ex):
        kw = dict(self.kwargs)
        kw.update(zip(self.names, Q[self.n:]))
        kw.update(ex)
        try:
            return self.fn(*Q[:self.n], **kw)
        except Exception as exc:
            codegen.note_origin(exc)
            raise

    def call(self, P):
        Q = self.pre(list(P))
        return self.combine([self._run(Q, ex) for ex in self.extras])

    def jvp_form(self, P, T):
        """The Form of ``(value, tangent)`` over ``P + T`` (tangents that
        are None or a scalar 0 are constants)."""
        m = len(P)
        Q = self.pre(list(P))
        QT = self.pre(list(T), True)
        act = [i for i, t in enumerate(QT) if not _is_zero(t)]
        params = _positional_names(self.fn)
        wrt = []
        for i in act:
            if i < self.n:
                if i >= len(params):
                    raise TypeError("cannot differentiate through a derivative of a function "
                                    "called with more positional arguments than it names "
                                    "(*args); pass the arguments by name")
                wrt.append(params[i])
            else:
                wrt.append(self.names[i - self.n])
        types = api._user_types(params, Q[:self.n])
        entry = compiler.compile_function(self.fn, "forward", tuple(wrt), types)
        tnames = [entry.tangent_params[w] for w in wrt]
        pre, combine = self.pre, self.combine

        def pre2(P2, tangent=False):
            Q2 = pre(P2[:m], tangent)
            QT2 = pre(P2[m:], True)
            return Q2 + [api._tangent_of(Q2[i], QT2[i]) if not tangent else QT2[i]
                         for i in act]

        def combine2(outs):
            return combine([o for o, _ in outs]), combine([d for _, d in outs])

        return Form(entry.function, self.n, self.names + tnames, self.extras, combine2,
                    self.kwargs, pre2)

    def jvp(self, P, T):
        return self.jvp_form(P, T).call(list(P) + list(T))


def fix_tangents(F1, P, T, tails, combine):
    """A Form over ``P`` from ``F1 = F.jvp_form(P, T)``: the tangent slots
    take the constant values of each of ``tails`` (one list per tail, in
    the order of F1's active tangents); ``combine(groups)`` gets one list of
    F1's (value, tangent) per tail."""
    k = len(tails[0]) if tails else 0
    base_names = F1.names[:len(F1.names) - k]
    tnames = F1.names[len(F1.names) - k:]
    m = len(P)
    pre1 = F1.pre
    nT = len(T)

    def pre(P_, tangent=False):
        Q = pre1(list(P_) + [None] * nT, True) if tangent else pre1(list(P_) + list(T))
        return Q[:len(Q) - k]

    extras = [dict(ex, **dict(zip(tnames, tail))) for tail in tails for ex in F1.extras]
    per = len(F1.extras)
    inner = F1.combine

    def comb(outs):
        return combine([inner(outs[j * per:(j + 1) * per]) for j in range(len(tails))])

    assert m == len(P)
    return Form(F1.fn, F1.n, base_names, extras, comb, F1.kwargs, pre)


# --- which objects are derivatives, and their Forms --------------------------

def is_derivative(obj):
    """A function the API returned, which compiled code differentiates by
    the rules of this module rather than by reading its source."""
    return (isinstance(obj, (api._Derivative, NestedGrad, _Of))
            or getattr(obj, "__ad_compose__", None) is not None)


_MAKERS = [api.grad, api.value_and_grad, api.hessian, api.jacobian]
# (ad_compiler.convenience adds jacfwd, jacrev, elementwise_grad, hvp and
# hessian_vector_product with register_makers when it is imported)


def register_makers(*fns):
    """Declare API functions that make derivatives (``is_maker``)."""
    _MAKERS.extend(fns)


def is_maker(obj):
    """One of the API's functions that make derivatives (grad, hessian...)."""
    return any(obj is m for m in _MAKERS)


def _plain_form(f, args, kwargs):
    bound = f.__self__ if inspect.ismethod(f) else None
    fn = api.unwrap(f.__func__ if bound is not None else f)
    if not inspect.isfunction(fn):
        raise TypeError(f"cannot differentiate through {api._describe(f)}: ad_compiler "
                        f"differentiates Python functions")
    pre = None
    if bound is not None:
        def pre(P, tangent=False):
            return [None if tangent else bound] + list(P)
    n = len(args) + (bound is not None)
    return Form(fn, n, [], [{}], lambda outs: outs[0], kwargs, pre)


def _bound_pre(D):
    if D._bound is None:
        return None
    bound = D._bound

    def pre(P, tangent=False):
        return [None if tangent else bound] + list(P)
    return pre


def form_of(D, args, kwargs=None):
    """The Form computing ``D(*args, **kwargs)``, over ``args``."""
    kwargs = dict(kwargs or {})
    args = tuple(args)
    D = canonical(D, args)
    if isinstance(D, api._Derivative):
        plan = D._plan_for(args, kwargs)
        full = (D._bound,) + args if D._bound is not None else args
        gfn = D._compiled(api._user_types(D._sig.all_positional, full), plan=plan).function
        return Form(gfn, len(full), [], [{}], lambda outs: D._shape_output(outs[0], plan),
                    kwargs, _bound_pre(D))
    if isinstance(D, (NestedGrad, _Of)):
        return D._form(args, kwargs)
    spec = getattr(D, "__ad_compose__", None)
    if spec is not None:
        kind = spec[0]
        kind, f, wrt = spec    # ("hessian", grad(f), wrt), ("jacobian" | "hvp" | "egrad", f, wrt)
        return jacobian_form(f, args, kwargs, positions(f, wrt))
    return _plain_form(D, args, kwargs)


def jacobian_form(f, args, kwargs, targets):
    """The Form of the Jacobian of ``f`` (a user function or any derivative)
    with respect to the positions ``targets`` (an int, or a tuple of ints
    giving a tuple), by forward mode: one column per entry."""
    single = isinstance(targets, int)
    tlist = (targets,) if single else tuple(targets)
    F = form_of(f, args, kwargs)
    parts = []
    for i in tlist:
        x = args[i]
        basis = list(api._basis(x))
        T = [None] * len(args)
        T[i] = basis[0]
        F1 = F.jvp_form(args, T)

        def comb(groups, x=x):
            outs = [g[0] for g in groups]
            douts = [g[1] for g in groups]
            out = outs[-1]
            if isinstance(out, tuple):
                return tuple(api._stack_columns(o, [d[k] for d in douts], x)
                             for k, o in enumerate(out))
            return api._stack_columns(out, douts, x)
        parts.append(fix_tangents(F1, args, T, [[e] for e in basis], comb))
    if single:
        return parts[0]
    raise TypeError("a Jacobian with several wrt positions cannot be differentiated again; "
                    "take one position at a time")


# --- the gradient family: grad(f), value_and_grad(f), grad(grad(f)) ... ------

def _wrt_positions(D, args):
    """Positions (among the call's arguments) of the gradient's targets, and
    whether it returns one gradient."""
    if isinstance(D, NestedGrad):
        return D._positions(args), D._single
    plan = D._plan_for(tuple(args), {})
    pos = []
    for t in plan[0]:
        if not isinstance(t, str) or t not in D._sig.positional:
            raise TypeError("differentiating through grad(f) with respect to an element of "
                            "*args/**kwargs is not supported; name the parameter")
        pos.append(D._sig.positional.index(t))
    return pos, D._single


def is_gradient(D):
    if isinstance(D, NestedGrad):
        return True
    return type(D) in (api._Grad, api._ValueAndGrad) and not D._has_aux


def canonical(D, args):
    """``elementwise_grad(f)`` and ``hvp(f)`` are gradients of scalar
    functions: of ``sum(f(x))`` and of ``<grad f(x), v>``; given as such
    they reverse like every gradient (forward over reverse)."""
    spec = getattr(D, "__ad_compose__", None)
    if spec is None or spec[0] not in ("egrad", "hvp"):
        return D
    kind, f, wrt = spec
    pos = positions(f, wrt)
    if kind == "egrad":
        return _synthesized_grad(f, len(args), pos, "summed",
                                 "ad.tree_sum(f({args}))")
    if not isinstance(pos, int):
        raise TypeError("hvp with several wrt positions cannot be differentiated again; "
                        "take one position at a time")
    inner = nested_grad(f, pos) if is_derivative(f) else api.grad(f, wrt=pos)
    return _synthesized_grad(inner, len(args) - 1, pos, "hvp_potential",
                             "ad.tree_vdot(f({args}), v)", extra="v")


_SYNTHESIZED = {}


def _synthesized_grad(f, m, pos, name, body, extra=None):
    """``grad(s, wrt=pos)`` of a scalar function ``s(a0, .., a{m-1}[, extra])
    = body`` generated once per (f, m, pos) (its code calls ``f``)."""
    key = (f, m, pos, name)
    g = _SYNTHESIZED.get(key)
    if g is None:
        names = [f"a{i}" for i in range(m)]
        params = names + ([extra] if extra else [])
        src = (f"def {name}({', '.join(params)}):\n"
               f"    return {body.format(args=', '.join(names))}\n")
        s = codegen.load(src, name, None, {"f": f, "ad": runtime})
        g = _SYNTHESIZED[key] = api._Grad(s, pos, "grad")
    return g


_ALL_CACHE = weakref.WeakKeyDictionary()


def grad_all(D, positions):
    """The gradient of the same scalar function as ``D`` with respect to
    ``positions`` (a tuple: returns a tuple)."""
    positions = tuple(positions)
    cache = _ALL_CACHE.setdefault(D, {})
    g = cache.get(positions)
    if g is None:
        if isinstance(D, NestedGrad):
            g = NestedGrad(D._inner, positions)
        else:
            g = api._Grad(D.__ad_wrapped__, positions, "grad")
        cache[positions] = g
    return g


def _active(args):
    return [i for i, a in enumerate(args) if api._is_float_tree(a)]


def _gradient_jvp_form(D, args, kwargs, seeds):
    """``(F1, P, T, act)``: the jvp Form of grad_all(D) with the tangents
    ``seeds`` (one per wrt position of D) at D's wrt positions."""
    act = _active(args)
    W, _ = _wrt_positions(D, args)
    G = grad_all(D, act)
    F = form_of(G, args, kwargs)
    T = [None] * len(args)
    for w, s in zip(W, seeds):
        T[w] = s
    return F.jvp_form(args, T), T, act


def _vjp_gradient(D, args, kwargs, ct):
    """The cotangents of ``args`` for ``D(*args)`` (a gradient) and its
    cotangent ``ct``: forward over reverse (the Hessian is symmetric)."""
    W, single = _wrt_positions(D, args)
    vg = isinstance(D, api._ValueAndGrad) or (isinstance(D, NestedGrad) and D._value)
    if vg:
        bv, ct = ct
    cts = [ct] if single else list(ct)
    F1, T, act = _gradient_jvp_form(D, args, kwargs, cts)
    out, dout = F1.call(list(args) + T)
    res = [None] * len(args)
    for k, i in enumerate(act):
        res[i] = dout[k]
        if vg and not _is_zero(bv):
            res[i] = runtime.add(res[i], runtime.project(_scale(out[k], bv), args[i]))
    return tuple(res)


def _scale(g, s):
    if isinstance(g, dict):
        return {k: _scale(v, s) for k, v in g.items()}
    if isinstance(g, (tuple, list)):
        return type(g)(_scale(v, s) for v in g)
    return g * s


class NestedGrad:
    """``grad(D)`` / ``value_and_grad(D)`` for a derivative ``D`` with a
    scalar output."""

    def __init__(self, inner, wrt=0, value=False):
        functools.update_wrapper(self, inner)
        self._inner = inner
        self._value = value
        self._wrt_spec = wrt
        self._single = isinstance(wrt, int)
        if not isinstance(wrt, int) and not (isinstance(wrt, tuple) and wrt
                                              and all(isinstance(w, int) for w in wrt)):
            raise TypeError("grad of a derivative takes wrt as an int position or a tuple "
                            f"of them, got {wrt!r}")

    def __repr__(self):
        return f"<{_label(self)}>"

    def _positions(self, args):
        pos = (self._wrt_spec,) if self._single else self._wrt_spec
        out = []
        for p in pos:
            q = p + len(args) if p < 0 else p
            if not 0 <= q < len(args):
                raise ValueError(f"wrt={p} is out of range for {len(args)} argument(s)")
            if not api._is_float_tree(args[q]):
                raise TypeError(f"grad: argument {q} is {api._describe(args[q])}; "
                                f"differentiate with respect to a float or a float array")
            out.append(q)
        return out

    def _form(self, args, kwargs):
        D = self._inner
        W = self._positions(args)
        if is_gradient(D):
            WD, single = _wrt_positions(D, args)
            if not single or np.ndim(args[WD[0]]) != 0 or isinstance(D, api._ValueAndGrad) \
                    or getattr(D, "_value", False):
                raise NotScalarOutput(_NOT_SCALAR.format(D=_label(D)))
            seeds = [api._tangent_of(args[WD[0]], 1.0)]
            F1, T, act = _gradient_jvp_form(D, args, kwargs, seeds)
            tails = [[seeds[0]]]
            value = self._value

            def comb(groups):
                out, dout = groups[0]
                picked = tuple(runtime.project(dout[act.index(w)], args[w]) for w in W)
                picked = picked[0] if self._single else picked
                if value:
                    return out[act.index(WD[0])], picked
                return picked
            return fix_tangents(F1, args, T, tails, comb)
        if len(W) == 1 and not self._value:
            # a Jacobian, Hessian or tangent with a scalar output: its
            # gradient is its Jacobian, by forward mode over its input
            F = jacobian_form(D, args, kwargs, W[0])
            jac, w, single = F.combine, W[0], self._single

            def comb_jac(outs):
                g = jac(outs)
                if isinstance(g, (tuple, list, dict)) or np.shape(g) != np.shape(args[w]):
                    raise NotScalarOutput(_NOT_SCALAR.format(D=_label(D)))
                return g if single else (g,)
            return Form(F.fn, F.n, F.names, F.extras, comb_jac, F.kwargs, F.pre)
        raise TypeError(f"{_label(self)} inside another derivative is not supported: the "
                        f"{'value and ' if self._value else ''}gradient of {_label(D)} with "
                        f"respect to several arguments is reversed only when {_label(D)} is "
                        f"a gradient; take one argument at a time")

    def __call__(self, *args, **kwargs):
        D = self._inner
        if is_gradient(D):
            return self._form(args, kwargs).call(args)
        # a Jacobian, Hessian or tangent with a scalar output: reversed by
        # forward mode over its inputs
        W = self._positions(args)
        out = D(*args, **kwargs)
        if np.ndim(out) != 0 or isinstance(out, (tuple, list, dict)):
            raise NotScalarOutput(_NOT_SCALAR.format(D=_label(D)))
        cts = vjp_generic(D, args, kwargs, np.ones_like(out) if isinstance(out, np.ndarray)
                          else 1.0, W)
        picked = tuple(cts[w] for w in W)
        picked = picked[0] if self._single else picked
        return (out, picked) if self._value else picked


def _label(D):
    """``grad(f)``, ``hessian(grad(f))``...: how messages name a derivative."""
    if isinstance(D, NestedGrad):
        return f"{'value_and_grad' if D._value else 'grad'}({_label(D._inner)})"
    if isinstance(D, _Of):
        return f"{D._kind}({_label(D._D)})"
    if isinstance(D, api._Derivative):
        return f"{D._api}({getattr(D._fn, '__name__', 'f')})"
    spec = getattr(D, "__ad_compose__", None)
    if spec is not None:
        return f"{spec[0]}({_label(spec[1])})"
    return getattr(D, "__name__", None) or repr(D)


NotScalarOutput = runtime.NotScalarOutput


_NOT_SCALAR = ("grad of {D} needs a scalar output (its argument must be a scalar): "
               "for an array use jacobian(...) or grad of a function that sums it")


# --- generic: any derivative, reversed by forward mode -----------------------

def _leaves(x):
    if isinstance(x, dict):
        for v in x.values():
            yield from _leaves(v)
    elif isinstance(x, (tuple, list)):
        for v in x:
            yield from _leaves(v)
    elif x is not None:
        yield x


def _dot(a, b):
    s = 0.0
    for u, v in zip(_leaves(a), _leaves(b)):
        s = s + np.real(np.vdot(np.asarray(u), np.asarray(v)))
    return s


def _slots(a, path=()):
    """``(path, leaf)`` of the float leaves of ``a`` through tuples and
    lists (the (args, tangents) pairs of _Of objects)."""
    if isinstance(a, (tuple, list)):
        for k, v in enumerate(a):
            yield from _slots(v, path + (k,))
    elif api._is_float_value(a):
        yield path, a


def _placed(a, path, value):
    """``a``'s tuple/list structure with ``value`` at ``path`` and None
    elsewhere (a tangent with one nonzero leaf)."""
    if not path:
        return value
    return type(a)(_placed(v, path[1:], value) if k == path[0] else _nones(v)
                   for k, v in enumerate(a))


def _nones(a):
    return type(a)(_nones(v) for v in a) if isinstance(a, (tuple, list)) else None


def _assembled(a, grads, path=()):
    """``a``'s structure with the gradient of each float leaf from ``grads``
    ({path: gradient}), None for the other leaves."""
    if isinstance(a, (tuple, list)):
        return type(a)(_assembled(v, grads, path + (k,)) for k, v in enumerate(a))
    return grads.get(path)


def vjp_generic(D, args, kwargs, ct, positions=None, form=None):
    """Cotangents of ``args`` by forward mode: one tangent per entry (of
    each float leaf, for tuples and lists of arrays)."""
    F = form if form is not None else form_of(D, args, kwargs)
    res = [None] * len(args)
    for i in (positions if positions is not None else _active(args)):
        a = args[i]
        if not api._is_float_value(a) and not isinstance(a, (tuple, list)):
            if api._is_float_tree(a):
                raise TypeError("reversing a Jacobian, Hessian or tangent with respect to a "
                                "dict or record argument is not supported; pass its arrays "
                                "separately")
            continue
        grads = {}
        for path, leaf in _slots(a):
            if np.iscomplexobj(leaf):
                raise TypeError("reversing a Jacobian, Hessian or tangent of a complex "
                                "argument is not supported")
            entries = []
            for e in api._basis(leaf):
                T = [None] * len(args)
                T[i] = _placed(a, path, e)
                _, dout = F.jvp(args, T)
                entries.append(_dot(ct, dout))
            grads[path] = _shaped(entries, leaf)
        res[i] = _assembled(a, grads)
    return tuple(res)


def _shaped(entries, a):
    g = np.reshape(np.asarray(entries, dtype=np.result_type(np.asarray(a), 0.0)), np.shape(a))
    if isinstance(a, np.ndarray):
        return g
    return float(g) if isinstance(a, float) else g[()]


# An _Of object is called with two arguments, as generated code passes them:
# ``(args, tangents)`` or ``(args, ct)`` (a zero 0.0 standing for zeros);
# its Form works on them as one flat list.

def _flat(D, pair, m, tangent=False):
    A, B = (None, None) if _is_zero(pair) and not isinstance(pair, (tuple, list)) else pair
    A = [None] * m if _is_zero(A) and not isinstance(A, (tuple, list)) else list(A)
    if D._kind == "vjp":
        return A + [B]
    return A + ([None] * m if _is_zero(B) and not isinstance(B, (tuple, list)) else list(B))


def _unflat(D, flat, m):
    if D._kind == "vjp":
        return tuple(flat[:m]), flat[m]
    return tuple(flat[:m]), tuple(flat[m:])


def runtime_vjp(D, args, kwargs, ct):
    """``ad.derivative_vjp``: as generated code takes them, the cotangents
    of float arguments are values, zeros where none flows (never None: the
    adjoint helpers that receive them do not take None)."""
    return _zeros_for_none(derivative_vjp(D, args, kwargs, ct), args)


def _zeros_for_none(res, args):
    if isinstance(args, (tuple, list)) and isinstance(res, (tuple, list)) \
            and len(res) == len(args):
        return tuple(_zeros_for_none(r, a) for r, a in zip(res, args))
    if res is None and api._is_float_tree(args):
        return runtime.zeros_like(args)
    return res


def runtime_jvp(D, args, kwargs, tangents):
    """``ad.derivative_jvp``."""
    return derivative_jvp(D, args, kwargs, tangents)


def derivative_vjp(D, args, kwargs, ct):
    """The cotangents of ``args`` (one per argument, None for constants)."""
    args = tuple(args)
    if _is_zero(ct) and not isinstance(ct, (tuple, list)):
        return (None,) * len(args)
    if isinstance(D, _Of):
        m = len(args[0])
        flat = _flat(D, args, m)
        if D._kind == "vjp" and not is_derivative(D._D):
            # the pullback of f is the gradient of <ct, f(x)>: reversed as one
            act = _active(flat[:m])
            G = _pullback_gradient(D._D, m, act)
            cts = tuple(ct[i] for i in act)
            res = _vjp_gradient(G, flat, kwargs, cts)
        else:
            res = vjp_generic(D, flat, kwargs, ct, form=D._flat_form(flat, kwargs))
        return _unflat(D, res, m)
    D = canonical(D, args)
    if is_gradient(D):
        return _vjp_gradient(D, args, kwargs, ct)
    return vjp_generic(D, args, kwargs, ct)


def derivative_jvp(D, args, kwargs, tangents):
    """The tangent of ``D(*args, **kwargs)`` for ``tangents`` (one per
    argument; None or 0 for constants)."""
    args = tuple(args)
    if tangents is None or (_is_zero(tangents) and not isinstance(tangents, (tuple, list))):
        tangents = [None] * len(args)
    tangents = list(tangents)
    if len(tangents) != len(args):
        tangents = (tangents + [None] * len(args))[:len(args)]
    if isinstance(D, _Of) and D._kind == "vjp" and is_derivative(D._D) \
            and not is_gradient(canonical(D._D, args[0])):
        m = len(args[0])
        flat, dflat = _flat(D, args, m), _flat(D, tangents, m, True)
        # (the tangent of the cotangents of args: the _Of's output)
        return _jvp_of_generic_vjp(D._D, flat[:m], kwargs, flat[m], dflat[:m], dflat[m])
    F = form_of(D, args, kwargs)
    return F.jvp(args, tangents)[1]


def _jvp_of_generic_vjp(D, args, kwargs, ct, dargs, dct):
    """The tangent of ``vjp_generic(D, args, ct)``: the cotangents it sums
    are bilinear in ct and D's tangents, so the product rule applies."""
    args = list(args)
    out = [None] * len(args)
    if not _is_zero(dct):
        out = list(vjp_generic(D, args, kwargs, dct))
    if all(_is_zero(t) for t in dargs):
        return _dense_cotangents(out, args)
    second = jvp_of(D)
    for i in _active(args):
        a = args[i]
        if not api._is_float_value(a) and not isinstance(a, (tuple, list)):
            continue
        grads = {}
        for path, leaf in _slots(a):
            entries = []
            for e in api._basis(leaf):
                T = [None] * len(args)
                T[i] = _placed(a, path, e)
                d2 = derivative_jvp(second, (tuple(args), tuple(T)), kwargs,
                                    (tuple(dargs), None))
                entries.append(_dot(ct, d2))
            grads[path] = _shaped(entries, leaf)
        g = _assembled(a, grads)
        out[i] = g if out[i] is None else runtime.add(out[i], g)
    return _dense_cotangents(out, args)


def _dense_cotangents(out, args):
    """The tangent of a vjp's cotangents: generated code reads each entry
    as a number or an array, so a float argument's entry is zeros, not
    None, when nothing reaches it (BUG-34: grad(grad(f)) where a helper of
    f calls hessian(h) on values the variable does not reach)."""
    return tuple(runtime.zeros_like(a) if o is None and api._is_float_tree(a) else o
                 for o, a in zip(out, args))


class _Of:
    """``jvp_of(D)(args, tangents)`` (the tangent of D), ``jvp_pair_of(D)``
    (the value and the tangent) and ``vjp_of(D)(args, ct)`` (D's cotangents
    of its arguments), as objects compiled code can differentiate again."""

    def __init__(self, D, kind):
        self._D = D
        self._kind = kind
        self.__name__ = f"{kind}_of_{getattr(D, '__name__', 'f')}"

    def __repr__(self):
        return f"<{self._kind} of {self._D!r}>"

    def __call__(self, args, other, **kwargs):
        flat = _flat(self, (args, other), len(args))
        return self._flat_form(flat, kwargs).call(flat)

    def _form(self, pair, kwargs):
        m = len(pair[0])
        F = self._flat_form(_flat(self, pair, m), kwargs)
        pre1 = F.pre
        return Form(F.fn, F.n, F.names, F.extras, F.combine, F.kwargs,
                    lambda P, tangent=False: pre1(_flat(self, P, m, tangent), tangent))

    def _flat_form(self, P, kwargs):
        D = self._D
        if self._kind == "jvp":
            m = len(P) // 2
            args, T = list(P[:m]), list(P[m:])
            F = form_of(D, args, kwargs)
            F1 = F.jvp_form(args, T)
            comb = F1.combine
            return Form(F1.fn, F1.n, F1.names, F1.extras, lambda outs: comb(outs)[1],
                        F1.kwargs, F1.pre)
        if self._kind == "jvp_pair":
            m = len(P) // 2
            args, T = list(P[:m]), list(P[m:])
            return form_of(D, args, kwargs).jvp_form(args, T)
        # vjp: P = args + (ct,)
        args, ct = list(P[:-1]), P[-1]
        D = canonical(D, args)
        if not is_gradient(D) and is_derivative(D):
            raise TypeError(f"cannot differentiate the pullback of {D!r} a second time "
                            f"(a Jacobian, Hessian or tangent reversed twice)")
        if not is_gradient(D):
            act = _active(args)
            G = _pullback_gradient(D, len(args), act)
            F = form_of(G, list(args) + [ct], kwargs)
            comb0, m = F.combine, len(args)

            def spread(outs):
                return _spread(comb0(outs), act, m)
            return Form(F.fn, F.n, F.names, F.extras, spread, F.kwargs, F.pre)
        W, single = _wrt_positions(D, args)
        if isinstance(D, api._ValueAndGrad) or getattr(D, "_value", False):
            raise TypeError("a second derivative through the pullback of value_and_grad "
                            "inside differentiated code is not supported; use grad")
        act = _active(args)
        G = grad_all(D, act)
        F = form_of(G, args, kwargs)
        m = len(args)
        T = [None] * m
        seeds = [ct] if single else list(ct)
        for w, s in zip(W, seeds):
            T[w] = s
        F1 = F.jvp_form(args, T)
        pre1 = F1.pre

        def pre(P_, tangent=False):
            c = P_[-1]
            cs = [c] if single else (list(c) if c is not None else [None] * len(W))
            T_ = [None] * m
            for w, s in zip(W, cs):
                T_[w] = s
            return pre1(list(P_[:-1]) + T_, tangent)
        comb1 = F1.combine

        def comb(outs):
            _, dout = comb1(outs)
            res = [None] * m
            for k, i in enumerate(act):
                res[i] = dout[k]
            return tuple(res)
        return Form(F1.fn, F1.n, F1.names, F1.extras, comb, F1.kwargs, pre)


def _spread(grads, act, m):
    res = [None] * m
    for k, i in enumerate(act):
        res[i] = grads[k]
    return tuple(res)


_PULLBACK_GRADS = {}


_PRIMITIVES = {}


def primitive_function(f):
    """``def tanh(x): return f(x)`` for a callable with derivative rules
    (a ufunc: one parameter per input), or None."""
    if registry.lookup(f) is None:
        return None
    key = registry._key(f)
    fn = _PRIMITIVES.get(key)
    if fn is None:
        nin = getattr(f, "nin", None)
        if nin is None:
            try:
                sig = inspect.signature(f)
                kinds = inspect.Parameter
                nin = sum(1 for p in sig.parameters.values()
                          if p.kind in (kinds.POSITIONAL_ONLY, kinds.POSITIONAL_OR_KEYWORD)
                          and p.default is p.empty) or 1
            except (TypeError, ValueError):
                nin = 1
        name = getattr(f, "__name__", "f")
        name = name if name.isidentifier() else "f"
        params = ["x"] if nin == 1 else [f"x{i}" for i in range(nin)]
        src = f"def {name}({', '.join(params)}):\n    return f({', '.join(params)})\n"
        fn = _PRIMITIVES[key] = codegen.load(src, name, None, {"f": f})
    return fn


def _pullback_gradient(f, m, act):
    """``grad(phi, wrt=act)`` for ``phi(a0.., ct) = <ct, f(a0..)>``: the
    pullback of f as a gradient (generated once per (f, m, act))."""
    key = (f, m, tuple(act))
    g = _PULLBACK_GRADS.get(key)
    if g is None:
        names = [f"a{i}" for i in range(m)]
        src = (f"def pullback({', '.join(names + ['ct'])}):\n"
               f"    return ad.tree_vdot(ct, f({', '.join(names)}))\n")
        phi = codegen.load(src, "pullback", None, {"f": f, "ad": runtime})
        g = api._Grad(phi, tuple(act), "grad")
        _PULLBACK_GRADS[key] = g
    return g


def jvp_of(D):
    return _Of(D, "jvp")


def jvp_pair_of(D):
    return _Of(D, "jvp_pair")


def vjp_of(D):
    return _Of(D, "vjp")


# --- the API's entry points for derivatives of derivatives ------------------

def positions(f, wrt):
    """``wrt`` (positions or parameter names of ``f``) as an int position or
    a tuple of them."""
    def one(w):
        if isinstance(w, int):
            return int(w)
        if isinstance(w, str):
            target = f
            while isinstance(target, (NestedGrad, _Of)):
                target = target._inner if isinstance(target, NestedGrad) else target._D
            fn = getattr(target, "_fn", None) or getattr(target, "__ad_source_fn__", None) \
                or api.unwrap(getattr(target, "__func__", target))
            try:
                names = _positional_names(fn)
            except (TypeError, ValueError):
                names = []
            if inspect.ismethod(target) or getattr(target, "_bound", None) is not None:
                names = names[1:]
            if w in names:
                return names.index(w)
            raise ValueError(f"wrt={w!r} names no positional parameter of "
                             f"{getattr(fn, '__name__', 'the function')}")
        raise TypeError(f"wrt must be an int position or a parameter name, got {w!r}")
    if isinstance(wrt, (tuple, list)):
        return tuple(one(w) for w in wrt)
    return one(wrt)


def nested_grad(D, wrt, has_aux=False, value=False):
    """``grad(D)`` / ``value_and_grad(D)`` for a function the API returned."""
    if has_aux:
        raise TypeError("has_aux=True is not supported for the gradient of a derivative")
    if getattr(D, "_has_aux", False):
        raise TypeError(f"the gradient of {_label(D)} made with has_aux=True is not supported "
                        f"(it returns a pair); differentiate a function returning only the "
                        f"scalar, or use jacobian(...)")
    return NestedGrad(D, positions(D, wrt), value=value)


def api_jvp(D, primals, tangents):
    """``jvp(D, primals, tangents)`` for a function the API returned."""
    primals = tuple(primals)
    if len(primals) != len(tangents):
        raise ValueError(f"jvp: got {len(primals)} primals but {len(tangents)} tangents; "
                         f"give one tangent per primal (None or 0 for constants)")
    for i, (p, t) in enumerate(zip(primals, tangents)):
        if not _is_zero(t) and not api._same_structure(t, p):
            raise ValueError(f"jvp: tangent {i} does not match its primal: shape/structure "
                             f"{api._structure(t)} vs {api._structure(p)}")
    return form_of(D, primals).jvp(primals, list(tangents))


class _ComposedPullback:
    def __init__(self, D, primals, out):
        self._D, self._primals, self._out = D, primals, out

    def __call__(self, cotangent):
        if not api._same_structure(cotangent, self._out):
            raise ValueError(f"pullback: the cotangent must match the output: got "
                             f"{api._structure(cotangent)}, the output is "
                             f"{api._structure(self._out)}")
        ct = api._as_cotangent(cotangent, self._out)
        return derivative_vjp(self._D, self._primals, {}, ct)


def api_vjp(D, primals):
    """``vjp(D, *primals)`` for a function the API returned."""
    primals = tuple(primals)
    out = D(*primals)
    return out, _ComposedPullback(D, primals, out)


def jacobian_of(D, wrt):
    """``jacobian(D)`` / ``hessian`` of a function the API returned, by
    forward mode over its generated code (``mode="rev"`` gives the same
    numbers this way)."""
    pos = positions(D, wrt)

    @functools.wraps(D)
    def jac(*args, **kwargs):
        for p in (pos if isinstance(pos, tuple) else (pos,)):
            if not 0 <= p < len(args):
                raise ValueError(f"wrt={p} is out of range for {len(args)} argument(s)")
            if not api._is_float_value(args[p]):
                raise TypeError(f"jacobian: argument {p} is {api._describe(args[p])}; the "
                                f"Jacobian of a derivative is taken with respect to a float "
                                f"or a float array")
        if isinstance(pos, tuple):
            return tuple(jacobian_form(D, args, kwargs, p).call(args) for p in pos)
        return jacobian_form(D, args, kwargs, pos).call(args)
    jac.__ad_compose__ = ("jacobian", D, pos)
    jac.__ad_grad__ = getattr(D, "__ad_grad__", None) or (D if isinstance(D, api._Derivative)
                                                           else None)
    return jac


# --- ``jvp(f, primals, tangents)`` called inside differentiated code -------
# (here, not in rules/, because the rules are keyed by api.jvp itself)
d = None  # the d[x] notation of templates; never evaluated


@reverse(api.jvp, name="ad_compiler.jvp")
def jvp(z, f, primals, tangents):
    parts = ad.derivative_vjp(ad.jvp_pair_of(f), (primals, tangents), None, d[z])
    d[primals] = parts[0]
    d[tangents] = parts[1]


@forward(api.jvp, name="ad_compiler.jvp")
def jvp(z, f, primals, tangents):
    d[z] = ad.derivative_jvp(ad.jvp_pair_of(f), (primals, tangents), None,
                             (d[primals], d[tangents]))


# --- what the lower layers call back (they never import this module) ------
runtime.register_composition(
    runtime_vjp=runtime_vjp, runtime_jvp=runtime_jvp, jvp_of=jvp_of,
    jvp_pair_of=jvp_pair_of, vjp_of=vjp_of, vjp=api.vjp, jvp=api.jvp,
    is_float_value=api._is_float_value, is_derivative=is_derivative,
    is_maker=is_maker, is_vjp=lambda obj: obj is api.vjp,
    is_jvp=lambda obj: obj is api.jvp)
