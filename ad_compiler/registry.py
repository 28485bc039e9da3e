"""The registry of derivative rules.

A rule is a small template function, registered by decorator and keyed by
the live callable it differentiates.  Reverse and forward rules of one
primitive sit side by side in a rules module::

    @reverse(np.sin)
    def sin(z, x):
        d[x] = d[z] * np.cos(x)

    @forward(np.sin)
    def sin(z, x):
        d[z] = d[x] * np.cos(x)

Notation (the whole of it):

* the first parameter names the primitive's result, the others are the
  primitive's own parameters, with its defaults (``axis=None``...);
* ``d[x]`` is the derivative of ``x``: its adjoint (reverse rules, the
  generated code calls it ``bx``) or its tangent (forward rules, ``dx``);
* a reverse rule assigns ``d[p]`` for each parameter ``p`` it differentiates;
  the compiler keeps only the assignments of parameters that are active at
  the call site, and accumulates them into the adjoint;
* a forward rule assigns ``d[z]``; every ``d[p]`` of an inactive parameter
  is a known zero, which the compiler simplifies away;
* other names in the body are temporaries (renamed fresh) or globals of the
  rules module (``np``, ``ad`` for the runtime...), which the generated code
  receives under the same names.

Rules are parsed once and inlined by ``transforms.ad.templates``: the generated
code shows the rule's arithmetic, not a call to it.
"""
import inspect


class Primitive:
    """What the registry knows about one differentiable callable."""

    __slots__ = ("fn", "name", "reverse", "forward")

    def __init__(self, fn, name):
        self.fn = fn
        self.name = name
        self.reverse = None
        self.forward = None


_RULES = {}          # key(callable) -> Primitive
_NONDIFF = {}        # key(callable) -> qualified name
generation = 0       # counts registrations: compiled code made before one is stale


def _key(fn):
    try:
        hash(fn)
        return fn
    except TypeError:
        return id(fn)


def qualified_name(fn):
    owner = getattr(fn, "__self__", None)
    if type(owner).__name__ == "ufunc" and type(owner).__module__ == "numpy":
        # a ufunc method (np.logaddexp.reduce): its own __qualname__ is
        # 'ufunc.reduce', whichever ufunc it is bound to
        return f"numpy.{owner.__name__}.{fn.__name__}"
    mod = getattr(fn, "__module__", None) or ""
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None)
    if name is None:
        name = repr(fn)
    if mod in ("numpy", "numpy.core.numeric", "numpy._core.numeric",
               "numpy._core.fromnumeric", "numpy._core.multiarray"):
        mod = "numpy"
    if isinstance(fn, type(abs)) and mod == "builtins":
        return name
    return f"{mod}.{name}" if mod else name


def _builtin(template):
    """A template of ad_compiler's own rules (None: no template yet)."""
    return template is None or (getattr(template, "__module__", None) or "").startswith(
        "ad_compiler.")


def _register(fn, template, kind, name=None):
    global generation
    generation += 1
    key = _key(fn)
    prim = _RULES.get(key)
    if prim is None:
        prim = _RULES[key] = Primitive(fn, name or qualified_name(fn))
    if _builtin(template) and not _builtin(getattr(prim, kind)):
        # a rule the user registered wins over the built-in one, whatever the
        # order of imports (``import ad_compiler`` loads the rules lazily)
        return template
    setattr(prim, kind, template)
    _NONDIFF.pop(key, None)
    return template


def optional(module, path):
    """``module.path`` (e.g. ``optional(np, "linalg.svdvals")``), or None when
    this version of the library does not have it: the decorators and
    ``nondifferentiable`` skip None, so rules of functions new in NumPy 2
    register only where they exist."""
    obj = module
    for part in path.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


def reverse(*fns, name=None, static=None):
    """Register the decorated template as the reverse rule of ``fns``
    (None entries, from ``optional``, are skipped).

    ``static``: {parameter: value} the rule requires (a call passing anything
    else is refused with a CompileError naming the argument)."""
    def deco(template):
        if static:
            template.__ad_static__ = dict(static)
        for fn in fns:
            if fn is not None:
                _register(fn, template, "reverse", name)
        return template
    return deco


def forward(*fns, name=None, static=None):
    """Register the decorated template as the forward rule of ``fns``
    (``static`` as for ``reverse``)."""
    def deco(template):
        if static:
            template.__ad_static__ = dict(static)
        for fn in fns:
            if fn is not None:
                _register(fn, template, "forward", name)
        return template
    return deco


def same_rules(fn, like, name=None):
    """Register ``fn`` with the reverse and forward rules of ``like`` (e.g.
    ``math.sin`` differentiates as ``np.sin``)."""
    prim = lookup(like)
    if prim is None:
        raise KeyError(f"no rules registered for {like!r}")
    for kind in ("reverse", "forward"):
        template = getattr(prim, kind)
        if template is not None:
            _register(fn, template, kind, name)


def nondifferentiable(*fns, name=None):
    """Declare callables whose results carry no derivative (floor, argmax...)."""
    global generation
    generation += 1
    for fn in fns:
        if fn is None:
            continue
        key = _key(fn)
        if key not in _RULES and key not in _REFUSED:
            _NONDIFF[key] = name or qualified_name(fn)


_REFUSED = {}        # key(callable) -> (qualified name, reason, hint)


def refused(fn, reason, hint, name=None):
    """Declare a callable whose result depends on differentiated arguments
    in a way no rule can express (np.random.normal(loc, scale): through the
    drawn noise).  Calls with constant arguments run as written; a
    differentiated argument is refused with a CompileError saying ``reason``."""
    global generation
    generation += 1
    if fn is None:
        return
    key = _key(fn)
    _NONDIFF.pop(key, None)
    _REFUSED[key] = (name or qualified_name(fn), reason, hint)


_BUILTIN_LOADED = False


def _builtin_rules():
    """Load ad_compiler.rules (the built-in rules) before the first question
    to the registry: ``import ad_compiler`` no longer imports them (it
    loads the API lazily, so that importing the runtime stays cheap), and
    code that asks the registry directly must see them as before."""
    global _BUILTIN_LOADED
    if not _BUILTIN_LOADED:
        _BUILTIN_LOADED = True
        # same layer; rules/ imports this module, hence inside the function
        from ad_compiler import rules  # noqa: F401


def refusal(fn):
    """(name, reason, hint) of a ``refused`` callable, or None."""
    if not _BUILTIN_LOADED:
        _builtin_rules()
    try:
        return _REFUSED.get(_key(fn))
    except TypeError:
        return None


def lookup(fn):
    """The Primitive for ``fn``, or None."""
    if not _BUILTIN_LOADED:
        _builtin_rules()
    try:
        return _RULES.get(_key(fn))
    except TypeError:
        return None


def is_nondifferentiable(fn):
    if not _BUILTIN_LOADED:
        _builtin_rules()
    try:
        return _key(fn) in _NONDIFF
    except TypeError:
        return False


def all_primitives():
    _builtin_rules()
    return list(_RULES.values())


def all_nondifferentiable():
    _builtin_rules()
    return dict(_NONDIFF)


def template_params(template):
    """(result name, [parameter names]) of a rule template."""
    params = list(inspect.signature(template).parameters)
    return params[0], params[1:]
