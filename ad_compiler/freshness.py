"""What a compiled derivative depends on, checked on every cache hit.

Compiling resolves free names of the user's function to live objects: which
function ``act`` is picks the derivative rule, which function ``helper`` is
picks the callee compiled and called.  Generated code that called the old
``np.tanh`` rule after ``act = np.sin`` would be silently wrong, so each
compile records, for every free name, attribute chain and method of a user
class it resolved to *code* (a function, class, module, or nothing), what it
found (``FunctionInfo.resolved``/``attributes``/``methods`` in
``transforms/frontend/parse.py``), and a cache hit first checks that the names still
resolve to the same objects.  Data (arrays, floats, dicts) is not recorded:
generated code reads it live, so rebinding it needs no recompile.

A check is ``(target, kind, arg, expected)``; ``target`` None means "the
function looked up" (so the same compiled code serves every closure made
from one ``def``, checked against that closure's cells), otherwise a callee
function.  ``expected`` is compared by identity (``SELF``: the function
itself, so that a recursive function does not keep itself alive).
"""
import builtins
import re
import types

from ad_compiler import registry
from ad_compiler.transforms.frontend.parse import _MISSING

GLOBAL, BUILTIN, CELL, ATTR, METHOD, CODE = "global", "builtin", "cell", "attr", "method", "code"
SELF = object()

# modules whose attributes are not rebound in practice: a check of the
# module name itself (``np`` is still numpy) covers ``np.tanh``
_LIBRARY_ROOTS = frozenset({"numpy", "scipy", "math", "cmath", "builtins", "operator",
                            "functools", "ad_compiler"})


def _ident(obj):
    """Bound methods are made afresh by each attribute access: their function."""
    return obj.__func__ if type(obj) is types.MethodType else obj


def relative_checks(info):
    """The checks of one compile of ``info.fn``, relative to the function."""
    fn = info.fn
    freevars = fn.__code__.co_freevars

    def where(ident):
        if ident in info.closure:
            return CELL, freevars.index(ident)
        return (GLOBAL if ident in info.globals else BUILTIN), ident

    def expected(obj):
        return SELF if obj is fn else obj

    checks = []
    for ident, obj in info.resolved.items():
        kind, arg = where(ident)
        checks.append((None, kind, arg, expected(obj)))
    for (ident, path), obj in info.attributes.items():
        root = info.resolved.get(ident, _MISSING)
        if isinstance(root, types.ModuleType) and \
                root.__name__.partition(".")[0] in _LIBRARY_ROOTS:
            continue
        kind, arg = where(ident)
        checks.append((None, ATTR, (kind, arg, path), expected(_ident(obj))))
    for (cls, name), obj in info.methods.items():
        checks.append((None, METHOD, (cls, name), expected(obj)))
    return tuple(checks)


def absolute(fn, checks):
    """``checks`` relative to ``fn`` made absolute (for a caller's list)."""
    out = [(fn, CODE, None, fn.__code__)]
    for target, kind, arg, exp in checks:
        out.append((fn if target is None else target, kind, arg, fn if exp is SELF else exp))
    return out


def _static(cls, name):
    for klass in cls.__mro__:
        if name in klass.__dict__:
            return klass.__dict__[name]
    return None


def _builtins_of(g):
    ns = g.get("__builtins__", builtins)
    return ns if isinstance(ns, dict) else ns.__dict__


def validator(checks, globals_, generation=None, code=None):
    """A function ``valid(fn)``: whether every check still finds its expected
    object (``globals_``: those of the function the relative checks are
    for); given the registry's ``generation`` when the compile began, that
    no rule was registered since; given a weak reference to a ``code``
    object, that ``fn`` still runs it.  Generated as one boolean expression:
    a cache hit costs a few dict lookups and identity tests."""
    env = {"_M": _MISSING, "_static": _static, "_ident": _ident, "_registry": registry}
    terms = []
    if code is not None:
        env["_code"] = code
        terms.append("fn.__code__ is _code()")
    if generation is not None:     # no derivative rule registered since
        terms.append(f"_registry.generation == {int(generation)}")

    def value(i, target, kind, arg, exp=None):
        g = "g" if target is None else f"t{i}.__globals__"
        if kind == GLOBAL:         # (a KeyError: not valid)
            return f"{g}[{arg!r}]" if exp is not _MISSING else f"{g}.get({arg!r}, _M)"
        if kind == BUILTIN:
            # (the builtins of the module when the compile ran: a module
            # that swaps its __builtins__ later is not followed)
            env[f"_B{i}"] = _builtins_of(target.__globals__ if target is not None else globals_)
            return f"({g}[{arg!r}] if {arg!r} in {g} else _B{i}.get({arg!r}, _M))"
        if kind == CELL:
            t = "fn" if target is None else f"t{i}"
            return f"{t}.__closure__[{arg}].cell_contents"
        raise AssertionError(kind)

    for i, (target, kind, arg, exp) in enumerate(checks):
        t = "fn"
        if target is not None:
            t = f"t{i}"
            env[t] = target
        e = t if exp is SELF else f"e{i}"
        env[f"e{i}"] = exp
        if kind == CODE:
            terms.append(f"{t}.__code__ is {e}")
        elif kind == METHOD:
            env[f"c{i}"] = arg[0]
            terms.append(f"_static(c{i}, {arg[1]!r}) is {e}")
        elif kind == ATTR:
            root_kind, root_arg, path = arg
            expr = value(i, target, root_kind, root_arg)
            for attr in path:
                expr = f"{expr}.{attr}" if attr.isidentifier() else f"getattr({expr}, {attr!r})"
            terms.append(f"_ident({expr}) is {e}")
        elif kind == BUILTIN and exp is _MISSING:      # a name nobody binds
            g = "g" if target is None else f"t{i}.__globals__"
            env[f"_B{i}"] = _builtins_of(target.__globals__ if target is not None else globals_)
            terms.append(f"{arg!r} not in {g} and {arg!r} not in _B{i}")
        else:
            terms.append(f"{value(i, target, kind, arg, exp)} is {e}")
    body = "\n                and ".join(terms or ["True"])
    prelude = "        g = fn.__globals__\n" if re.search(r"\bg\b", body) else ""
    text = (f"def valid(fn):\n    try:\n{prelude}        return ({body})\n"
            f"    except Exception:\n        return False\n")
    exec(compile(text, "<ad_compiler freshness>", "exec"), env)   # noqa: S102 (our text)
    valid = env["valid"]
    valid.__ad_source__ = text
    return valid


def stale(fn, checks):
    """The first check that fails, described (for tests and debugging)."""
    for i, check in enumerate(checks):
        if not validator([check], fn.__globals__)(fn):
            return f"{check[1]} {check[2]!r}"
    return None
