"""The pipeline, the compile context and the cache.

``transform`` is the whole compiler in one short list of steps.  Everything
it calls lives in ``transforms/``.
"""
import builtins
import copy
import functools
import gc
import inspect
import linecache
import sys
import weakref

import gast
import numpy

from ad_compiler import check, freshness, registry, runtime
from ad_compiler import rules  # noqa: F401  (registers the built-in rules)
from ad_compiler.errors import CompileError, InternalError
from ad_compiler.transforms import pipeline
from ad_compiler.transforms.analyses import activity
from ad_compiler.transforms.analyses import shapes as shapes_analysis
from ad_compiler.transforms.backend import codegen
from ad_compiler.transforms.cleanup import scalars
from ad_compiler.transforms.frontend import fence, parse
from ad_compiler.transforms import annotations, names, nodes, normalize
from ad_compiler.transforms.ad import ops, sequences


class Context:
    """What one compilation shares between passes: the function, its
    namespace and names (set by the parse pass), the globals generated code
    reads, and the pass manager's analyses (``analyses``)."""

    numpy = numpy
    runtime = runtime
    checkpoint = None           # grad(f, checkpoint="auto" | snapshots)

    def __init__(self, info=None, namer=None, types=None, signature=None, fn=None,
                 mode=None, wrt=()):
        self.fn = fn
        self.mode = mode            # "forward", "grad", "value_and_grad", "split"
        self.wrt = tuple(wrt)
        self.types = dict(types or {})   # parameter -> class of a user object
        self.signature = dict(signature or {})  # parameter -> (dtype, dims), see api
        self.injected = {}          # name in generated code -> object
        self.deps = []              # (callee, its code) and callees' checks (freshness)
        self.comments = codegen.Comments()
        self.analyses = None        # pipeline.Analyses of the tree being compiled
        self.branch = None          # pipeline.Fork label of that tree
        self.aux = None             # has_aux: the name holding aux
        self.tangent_names = None   # forward mode: parameter -> tangent parameter
        self.tangent_params = {}
        self.pure = []              # names of pure modules (set before clean-up)
        self.reference = None       # AD_COMPILER_CHECK=1: the tree before clean-up
        self.info = self.namer = self.locals = self.resolver = None
        if info is not None:
            self.start(info, namer)

    @property
    def shapes(self):
        """The shape analysis (``transforms.analyses.shapes.Shapes``) of the
        normalized function if the pass manager holds it (a pass that reads
        it declares ``requires=["shapes"]``), else None."""
        a = self.analyses
        return a.get("shapes") if a is not None else None

    def start(self, info, namer):
        """The parsed function (``parse.FunctionInfo``) and its namer."""
        self.info = info
        self.namer = namer
        self.locals = normalize.local_names(info.node)
        self.resolver = ops.Resolver(info, self.locals, self.injected, self.types)

    def global_name(self, ident, obj):
        """The name under which generated code reads ``obj``."""
        for name, have in self.injected.items():
            if have is obj:
                self.namer.reserve(name)   # (a dry run may have reset the namer)
                return name
        if ident in self.injected:          # taken by another object
            ident = self.namer.fresh(ident)
        # (not a dependency of the compiled code: injected names are its own
        # closure cells, whatever the user binds under the name later)
        user = parse.lookup_free(self.info.closure, self.info.globals, ident)
        if ident in self.namer.taken and not (user is obj and ident not in self.locals):
            ident = self.namer.fresh(ident)
        self.namer.reserve(ident)
        self.injected[ident] = obj
        return ident

    def callee(self, stmt, op, mode, active_names, shapes=None):
        return _callee(self, stmt, op, mode, active_names, shapes)


class Callee:
    def __init__(self, name, bound, tangent_params=None, bwd_name=None, order=()):
        self.name = name
        self.bound = bound
        self.tangent_params = tangent_params or {}
        self.bwd_name = bwd_name
        self.order = list(order)


_COMPILING = set()


def _callee_signature(bound, shapes):
    """The shape signature of a call's arguments, in the callee's own terms,
    from the caller's shape analysis (see api._shape_signature): arguments
    whose shape is fully known get an entry."""
    out, first = [], {}
    for param, arg in bound.items():
        if not isinstance(arg, gast.Name):
            continue
        shape = shapes.shape(arg.id)
        if not isinstance(shape, tuple) or type(shape) is not tuple \
                or any(d is None for d in shape):
            continue
        char = {"d": "d", "l": "l"}.get(shapes.dtype(arg.id), "?")
        dims = tuple(1 if d == 1 else first.setdefault(d, (param, i))
                     for i, d in enumerate(shape))
        out.append((param, (char, dims)))
    return tuple(out)


def _callee(ctx, stmt, op, mode, active_names, shapes=None):
    fn = op.fn
    if op.starred:
        raise ctx.info.error(stmt, f"cannot differentiate a call of {op.label} with *args/**kwargs",
                             construct="starred call")
    try:
        sig = inspect.signature(fn, follow_wrapped=False)
        bound = sig.bind(*op.args, **dict(op.keywords)).arguments
    except TypeError as exc:
        raise ctx.info.error(stmt, f"call of {op.label} does not match its signature: {exc}",
                             construct="call") from None
    bound = _packed_arguments(sig, bound)
    wrt = tuple(p for p, a in bound.items()
                if any(n in active_names for n in nodes.names_in(a)))
    normalize.check_no_argument_mutation(ctx.info, stmt, op, ctx.locals)
    # user objects passed on keep their class (self.method calls resolve)
    types = _argument_types(ctx, sig, bound)
    key = (fn.__code__, mode, wrt, types)
    base = parse.display_name(fn)
    if key in _COMPILING:
        # recursion: call through a trampoline that finds the finished entry
        if mode == "forward":
            name = ctx.global_name(f"{base}_jvp", _Trampoline(fn, mode, wrt, types, "function"))
            return Callee(name, dict(bound), tangent_names(fn, wrt))
        fwd = ctx.global_name(f"{base}_fwd", _Trampoline(fn, mode, wrt, types, "fwd"))
        bwd = ctx.global_name(f"{base}_bwd", _Trampoline(fn, mode, wrt, types, "bwd"))
        return Callee(fwd, bound, bwd_name=bwd, order=wrt)
    signature = _callee_signature(bound, shapes) if shapes is not None else ()
    entry = compile_function(fn, mode, wrt, types, signature)
    ctx.deps.append((fn, fn.__code__))
    ctx.deps.extend(entry.deps)
    if mode == "forward":
        name = ctx.global_name(f"{base}_jvp", entry.function)
        return Callee(name, dict(bound), entry.tangent_params)
    fwd = ctx.global_name(f"{base}_fwd", entry.fwd)
    bwd = ctx.global_name(f"{base}_bwd", entry.bwd)
    return Callee(fwd, bound, bwd_name=bwd, order=wrt)


def _argument_types(ctx, sig, bound):
    """What the callee is specialized to: (parameter, class) of user objects
    passed on (``self.method`` calls resolve), and (parameter,
    ``parse.FunctionValue``) of functions passed (``apply(np.tanh, x)``,
    a global function, a function parameter passed on) or left to a
    function default (``act=np.tanh``)."""
    out = {}
    resolver = ops.Resolver(ctx.info, ctx.locals, ctx.injected, ctx.types)
    for p, a in bound.items():
        if isinstance(a, gast.Name) and a.id in ctx.types:
            out[p] = ctx.types[a.id]
            for path, cls in ctx.types.items():     # its attributes (self.layer)
                if path.startswith((a.id + ".", a.id + "[")):
                    out[p + path[len(a.id):]] = cls
        elif isinstance(a, (gast.Name, gast.Attribute)):
            obj = resolver(a)
            if obj is not None and parse.is_function_value(obj):
                out[p] = parse.FunctionValue(obj)
    for p, param in sig.parameters.items():
        if p not in bound and parse.is_function_value(param.default):
            out[p] = parse.FunctionValue(param.default)
    return tuple(sorted(out.items()))


def _packed_arguments(sig, bound):
    """The arguments a ``*args`` / ``**kwargs`` parameter receives, as one
    tuple / dict display (whose elements the derivative code unpacks)."""
    out = {}
    for param, arg in bound.items():
        kind = sig.parameters[param].kind
        if kind is inspect.Parameter.VAR_POSITIONAL:
            arg = gast.Tuple(elts=list(arg), ctx=gast.Load())
        elif kind is inspect.Parameter.VAR_KEYWORD:
            arg = gast.Dict(keys=[nodes.const(k) for k in arg], values=list(arg.values()))
        out[param] = arg
    return out


class _Trampoline:
    """Calls the derivative of a function still being compiled (recursion).
    Holds the function weakly: the compiled code it is injected into is
    cached under the function's code object, which must be free to die."""

    def __init__(self, fn, mode, wrt, types, attr):
        self._fn = weakref.ref(fn)
        self.args = (mode, wrt, types)
        self.attr = attr
        self.__name__ = f"{parse.display_name(fn)}_{attr}"

    def _target(self):
        fn = self._fn()
        if fn is None:
            raise RuntimeError(f"ad_compiler: the recursive function behind {self.__name__} "
                               f"no longer exists; differentiate it again")
        return getattr(compile_function(fn, *self.args), self.attr)

    def __call__(self, *args, **kwargs):
        return self._target()(*args, **kwargs)

    def __ad_trampoline__(self):
        """The generated function it calls (for transforming generated code
        again, e.g. hessian through a recursive function)."""
        return self._target()


def tangent_names(fn, wrt):
    """The keyword names of the tangent parameters of ``fn``'s forward-mode
    derivative: ``dx`` for ``x`` unless the function already uses it."""
    info = parse.parse_function(fn)
    namer = names.Namer(names.all_identifiers(info.node))
    return {p: namer.fresh("d" + p) for p in wrt}


class Compiled:
    """The product of one compilation, bound to one function.

    Holds the function and its code weakly (the cache is keyed by the code
    object and must not keep it alive).  ``checks``: what the compile
    depended on, relative to the function (see ``freshness``); ``deps``: the
    same made absolute, with the callees' own, for the callers' checks."""

    def __init__(self, fn, mode, wrt):
        self._fn = weakref.ref(fn)
        self._code = weakref.ref(fn.__code__)
        self.mode = mode
        self.wrt = wrt
        self.function = None    # the derivative function (grad / jvp)
        self.fwd = None         # vjp: forward sweep
        self.bwd = None         # vjp: backward sweep
        self.sources = {}
        self.tangent_params = {}
        self.checks = ()
        self.callee_deps = []
        # valid(fn): whether this is the derivative of fn as it is now (its
        # code, what its free names resolve to, callees): freshness.validator
        self.valid = None

    @property
    def fn(self):
        return self._fn()

    @property
    def deps(self):
        fn = self._fn()
        return (freshness.absolute(fn, self.checks) if fn is not None else []) + self.callee_deps

    def valid_for(self, fn):
        """Whether this code is the derivative of ``fn`` as it is now (its
        code, and what its free names resolve to)."""
        return self.valid(fn)

    def fresh(self):
        fn = self._fn()
        return fn is not None and self.valid(fn)

    def rebind(self, fn):
        """The same code for another function with the same code object (a
        closure made again by the same 'def'): the generated functions read
        the new closure's cells and globals."""
        out = copy.copy(self)
        out._fn = weakref.ref(fn)
        for attr in ("function", "fwd", "bwd"):
            generated = getattr(self, attr)
            if generated is not None:
                setattr(out, attr, codegen.rebind(generated, fn))
        return out


# code object -> {(mode, wrt, types, signature): [Compiled, ...]} (code objects
# compare by value: entries are matched to a function by identity): several
# entries where closures of one 'def' resolve names to different functions
_CACHE = weakref.WeakKeyDictionary()
_PER_KEY = 4
# shape signatures one function is specialized to (per mode, wrt and types)
# before further calls use its shape-generic code
MAX_SPECIALIZATIONS = 8


def compile_function(fn, mode, wrt, types=(), signature=()):
    """Cached compile of ``fn`` in ``mode`` ("forward", "grad",
    "value_and_grad", "split", "+aux" variants) with respect to parameter
    names ``wrt``; ``types``: (parameter, class) of user objects passed in,
    so that ``self.method(...)`` calls resolve; ``signature``: (parameter,
    (dtype, dims)) of array arguments (``api._shape_signature``), which the
    generated code is specialized to.

    The cache is keyed by ``fn``'s code object: another closure of the same
    'def' whose free names resolve to the same functions reuses the code,
    bound to its own cells.  An entry whose names now resolve to other
    functions (a callee or alias rebound, a method replaced) is not used."""
    fn = getattr(fn, "__ad_checked__", (fn,))[0]     # (AD_COMPILER_CHECK: the product)
    twin = getattr(fn, "__ad_array_twin__", None)
    if twin is not None:
        # plain-float code (transforms/cleanup/scalars.py) keeps its tape in
        # a Python list (stack.append / stack.pop), which forward mode does
        # not see: differentiating it would silently drop the tangents of
        # everything saved.  Differentiate the array code of the same
        # derivative instead (same parameters, same results).
        fn = twin()
    if not inspect.isfunction(fn):
        raise TypeError(
            f"ad_compiler differentiates Python functions defined with 'def'; got "
            f"{type(fn).__name__} {fn!r}. Wrap it: def f(x): return {getattr(fn, '__name__', 'fn')}(x)")
    code = fn.__code__
    per_code = _CACHE.get(code)
    if per_code is None:
        per_code = _CACHE[code] = {}
    key = (mode, tuple(wrt), tuple(types), signature, check.enabled())
    entries = per_code.get(key)
    if entries is None and signature and sum(
            1 for k in per_code if k[:3] == key[:3] and k[3]) >= MAX_SPECIALIZATIONS:
        # many shape patterns: the code for any shape serves the others
        return compile_function(fn, mode, wrt, types)
    if entries and any(e._code() is not code for e in entries):
        # (equal code objects share a key: drop entries whose code died)
        entries[:] = [e for e in entries if e._code() is not None]
    for i, entry in enumerate(entries or ()):
        if entry.valid_for(fn):
            if entry.fn is not fn:
                entry = entries[i] = entry.rebind(fn)
            return entry
    marker = (code, mode, tuple(wrt), tuple(types))
    _COMPILING.add(marker)
    try:
        entry = transform(fn, mode, tuple(wrt), dict(types), dict(signature))
    except CompileError as exc:
        _relocate(fn, exc)
        _explain_decorator(fn, exc)
        raise
    except Exception as exc:  # a compiler bug: never a raw KeyError for users
        where = getattr(exc, "ad_pass", None)     # (set by the pass manager)
        raise InternalError(
            f"internal error of ad_compiler while compiling '{fn.__name__}' "
            f"({mode} mode{', ' + where if where else ''}): {type(exc).__name__}: {exc}",
            code.co_filename, code.co_firstlineno, 0,
            hint="this is a bug of ad_compiler, please report it with this "
                 "function; meanwhile try the other mode",
            construct="internal error") from exc
    finally:
        _COMPILING.discard(marker)
    if any(k == _PLAIN_FLOATS_KEY for k, _ in signature):
        _mark_plain_floats(entry, fn, mode, tuple(wrt), tuple(types), signature)
    entries = per_code.setdefault(key, [])
    entries.insert(0, entry)
    del entries[_PER_KEY:]
    return entry


def _relocate(fn, exc):
    """A refusal located in code ad_compiler wrote itself -- generated code
    differentiated again (``grad`` of code calling ``hessian(h)``), the
    wrapper of a ``functools.partial`` -- points at the user's line that
    code came from instead, and quotes the line it was met on."""
    if not exc.filename or not exc.lineno:
        return
    text = (exc.line or "").strip()
    origin = codegen.user_origin(exc.filename, exc.lineno)
    if origin is not None:
        exc.relocate(*origin, f"in the derivative code generated from this line, "
                              f"at: {text}" if text else "in the derivative code "
                              "generated from this line")
        return
    fixed = getattr(fn, "__ad_partial__", None)
    if fixed is None or exc.filename != fn.__code__.co_filename:
        return
    inner = parse.unwrap(fixed[0])
    if not inspect.isfunction(inner):
        return      # (a builtin or C function: no line of the user's to show)
    inner = inner.__code__
    if linecache.getline(inner.co_filename, inner.co_firstlineno).strip():
        exc.relocate(inner.co_filename, inner.co_firstlineno,
                     f"in the wrapper ad_compiler made for functools.partial of "
                     f"{fn.__name__}, at: {text}")


_PLAIN_FLOATS_KEY = scalars.SIGNATURE_KEY


class _ArrayTwin:
    """``__ad_array_twin__`` of each function of plain-float code: returns
    the same function of the code compiled without the Python-number
    signature entry (the array code that forward mode can differentiate)."""

    def __init__(self, fn, mode, wrt, types, signature, attr):
        self._fn = weakref.ref(fn)
        self.args = (mode, wrt, types,
                     tuple(e for e in signature if e[0] != _PLAIN_FLOATS_KEY))
        self.attr = attr

    def __call__(self):
        fn = self._fn()
        if fn is None:
            raise TypeError("this generated plain-float code belongs to a function that "
                            "no longer exists; differentiate the function itself")
        return getattr(compile_function(fn, *self.args), self.attr)


def _mark_plain_floats(entry, fn, mode, wrt, types, signature):
    for attr in ("function", "fwd", "bwd"):
        function = getattr(entry, attr)
        if function is not None:
            function.__ad_array_twin__ = _ArrayTwin(fn, mode, wrt, types, signature, attr)


def _explain_decorator(fn, exc):
    """A refusal inside a decorator's wrapper: say that the wrapper is what
    is differentiated (it is what runs)."""
    inner = getattr(fn, "__wrapped__", None)
    code = fn.__code__
    if inner is None or getattr(exc, "_ad_decorator_explained", False) \
            or exc.filename != code.co_filename or exc.lineno is None:
        return
    lines = [line for _, _, line in code.co_lines() if line is not None]
    if not lines or not code.co_firstlineno <= exc.lineno <= max(lines):
        return
    where = f"{code.co_filename}:{code.co_firstlineno}"
    note = (f"'{fn.__name__}' is a wrapper made by a decorator ({code.co_qualname if hasattr(code, 'co_qualname') else code.co_name} "
            f"at {where}); ad_compiler differentiates the wrapper, which is what runs. If the "
            f"decorator does not change values, differentiate {fn.__name__}.__wrapped__ instead")
    exc.hint = f"{exc.hint}\n{note}" if exc.hint else note
    exc.args = (exc._render(),)
    exc._ad_decorator_explained = True


# Python frames a compile may need: the passes recurse through expressions
# (gast's conversion takes ~4 frames per level of ``x + x + ... + x``)
_RECURSION_LIMIT = 30000


def _recursion_room(compile_):
    """Run ``compile_`` with room for deeply nested expressions (500 terms
    of a sum, 80 nested calls); deeper ones are refused with a CompileError."""
    @functools.wraps(compile_)
    def run(fn, *args, **kwargs):
        old = sys.getrecursionlimit()
        if old < _RECURSION_LIMIT:
            sys.setrecursionlimit(_RECURSION_LIMIT)
        # the cyclic garbage collector is paused while compiling: a compile
        # leaves no cyclic garbage (gc.collect() finds none after a 2000-line
        # function), and its collections, which traverse every node alive,
        # made the compile time of long functions grow faster than their
        # length (a fifth of a 2000-line function's compile time)
        collecting = gc.isenabled()
        gc.disable()
        try:
            return compile_(fn, *args, **kwargs)
        except RecursionError:
            code = fn.__code__
            raise CompileError(
                f"an expression of '{fn.__name__}' is nested too deeply to differentiate",
                code.co_filename, code.co_firstlineno, 0,
                hint="split the expression into several statements",
                construct="deep expression") from None
        finally:
            if collecting:
                gc.enable()
            if old < _RECURSION_LIMIT:
                sys.setrecursionlimit(old)
    return run


# --- the pipeline -----------------------------------------------------------
#
# Each pass is ``run(tree, ctx, analyses) -> tree`` (transforms/pipeline.py):
# ``requires`` names the analyses it reads, ``preserves`` those still true of
# the tree it returns (the manager drops the others).

def _parse(fn, ctx, analyses):
    """The user's function -> a gast FunctionDef with absolute line numbers;
    the context gets its namespace, names and resolver."""
    info = parse.parse_function(fn)
    namer = names.Namer(names.all_identifiers(info.node))
    if ctx.mode == "forward":           # tangent parameters: known names
        ctx.tangent_names = tangent_names(fn, ctx.wrt)
        for t in ctx.tangent_names.values():
            namer.reserve(t)
    ctx.start(info, namer)
    return info.node


def _fence(tree, ctx, analyses):
    """Refuse what we cannot differentiate, up front."""
    fence.check(ctx.info, resolver_lookup(ctx.info, ctx))
    return tree


def _normalize(tree, ctx, analyses):
    """Flags for early exits, ANF, explicit loop indexes."""
    norm = normalize.normalize(ctx.info, ctx.namer, ctx.resolver, ctx.global_name)
    ctx.locals |= normalize.local_names(norm)   # the resolver shares this set
    return norm


def _split_aux_pass(tree, ctx, analyses):
    """has_aux: differentiate the output only, pass aux through."""
    ctx.aux = _split_aux(ctx, tree)
    return tree


def _sequences(tree, ctx, analyses):
    """+ and * that may concatenate/repeat lists get the rules of sequences
    (it edits the activity analysis' ops, which stays valid)."""
    sequences.retarget(tree, analyses["activity"], ctx.signature,
                       forward=(ctx.mode == "forward"))
    return tree


def _forward(tree, ctx, analyses):
    from ad_compiler.transforms.ad import forward
    tree, ctx.tangent_params = forward.ForwardPass(ctx, tree, analyses["activity"]).run(
        list(ctx.wrt), ctx.tangent_names)
    tree.name = ctx.namer.fresh(f"{ctx.info.display_name}_jvp")
    return pipeline.Fork([(("function", "jvp", "forward mode"), tree)])


def _reverse(tree, ctx, analyses):
    from ad_compiler.transforms.ad import reverse
    rp = reverse.ReversePass(ctx, tree, analyses["activity"], analyses["shapes"])
    if ctx.mode == "split":
        fwd_tree, bwd_tree = rp.run_split(list(ctx.wrt), ctx.info.display_name)
        return pipeline.Fork([(("fwd", "fwd", "vjp forward sweep"), fwd_tree),
                              (("bwd", "bwd", "vjp backward sweep"), bwd_tree)])
    tree = rp.run_combined(list(ctx.wrt), with_value=(ctx.mode == "value_and_grad"),
                           aux=ctx.aux)
    prefix = "value_and_grad" if ctx.mode == "value_and_grad" else "grad"
    tree.name = ctx.namer.fresh(f"{prefix}_{ctx.info.display_name}")
    return pipeline.Fork([(("function", ctx.mode, f"{ctx.mode} mode"), tree)])


def _cleanup_inputs(tree, ctx, analyses):
    """What the clean-up passes start from: the names of modules whose
    functions are pure (numpy, the runtime: optimize drops unused calls),
    and with ``AD_COMPILER_CHECK=1`` a copy of the tree, loaded without
    clean-up and compared with the cleaned one (ad_compiler/check.py)."""
    ctx.pure = [n for n, obj in ctx.injected.items()
                if obj is numpy or obj is runtime or getattr(obj, "__name__", "").startswith(
                    ("numpy", "ad_compiler.runtime"))]
    what = ctx.branch[2] if ctx.branch is not None else None
    ctx.reference = copy.deepcopy(tree) if what is not None and check.enabled() else None
    return tree


def _batch(tree, ctx, analyses):
    """Adjoint loops: one product for all outer products."""
    from ad_compiler.transforms.cleanup import batch
    return batch.batch_outer(tree, ctx)


def _specialize(tree, ctx, analyses):
    """Product adjoints of known ranks: plain NumPy."""
    from ad_compiler.transforms.cleanup import specialize
    return specialize.specialize(tree, ctx, analyses["shapes"])


def _optimize(tree, ctx, analyses):
    """Copy propagation, dead code, common subexpressions..."""
    from ad_compiler.transforms.cleanup import optimize
    return optimize.optimize(tree, ctx.pure)


def _load_pass(tree, ctx, analyses):
    """Unparse and load: the Python function (with ``AD_COMPILER_CHECK=1``
    one that runs the cleaned and the reference code and compares them)."""
    fn = ctx.fn
    if ctx.reference is None:
        return _load(ctx, tree, fn, ctx.injected)
    out = _load(ctx, tree, fn, {k: check.variant(v, 0) for k, v in ctx.injected.items()})
    ref = _load(ctx, ctx.reference, fn, {k: check.variant(v, 1) for k, v in ctx.injected.items()})
    return check.checked(out, ref, ctx.branch[0], ctx.branch[2])


step = pipeline.step
# the analyses (computed when a pass first needs them, on the tree it gets)
ANALYSES = [
    # which variables need derivatives (and each statement's Op)
    pipeline.analysis("activity", lambda tree, ctx, a: activity.analyze(
        tree, ctx.wrt, ctx.resolver, ctx.info)),
    # shapes and dtypes of the normalized function's names (both modes)
    pipeline.analysis("shapes", lambda tree, ctx, a: shapes_analysis.analyze(
        tree, a["activity"], ctx.signature), requires=["activity"]),
]
# the derivative passes keep the primal names and their shapes
_AD = {"forward": step("forward", _forward, ["activity", "shapes"], ["shapes"]),
       "reverse": step("reverse", _reverse, ["activity", "shapes"], ["shapes"])}


def passes(mode, aux=False):
    """The pipeline of ``mode`` ("forward", "grad", "value_and_grad",
    "split"), in the order the passes run."""
    forward = mode == "forward"
    return [p for p in [
        step("parse", _parse),                          # fn -> gast tree, namespace
        step("fence", _fence, preserves=pipeline.ALL),  # refuse unsupported syntax
        step("normalize", _normalize),                  # early exits, ANF, loop indexes
        step("split_aux", _split_aux_pass) if aux else None,    # has_aux
        step("sequences", _sequences, ["activity"], ["activity"]),  # list + and *
        _AD["forward" if forward else "reverse"],       # derivative tree(s): fork
        step("cleanup_inputs", _cleanup_inputs, preserves=pipeline.ALL),
        step("batch", _batch, preserves=["shapes"]),    # adjoint loops: one product
        None if forward else step("specialize", _specialize, ["shapes"]),   # known ranks
        step("optimize", _optimize),                    # copy propagation, dead code, CSE
        step("load", _load_pass),                       # unparse, load: a function
    ] if p is not None]


@_recursion_room
def transform(fn, mode, wrt, types=None, signature=None):
    """The pipeline: from a user function to its derivative function(s)."""
    generation = registry.generation      # (rules registered later: recompile)
    mode, _, snapshots = mode.partition("@checkpoint=")    # grad(f, checkpoint=...)
    aux = mode.endswith("+aux")
    mode = mode[:-4] if aux else mode
    ctx = Context(None, None, types, signature, fn=fn, mode=mode, wrt=wrt)
    if snapshots:       # reverse mode keeps loops' state at snapshots (ad.Revolve)
        ctx.checkpoint = snapshots if snapshots == "auto" else int(snapshots)
    loaded = pipeline.PassManager(passes(mode, aux), ANALYSES).run(fn, ctx)
    out = Compiled(fn, mode, wrt)
    out.tangent_params = ctx.tangent_params
    for (attr, source_key, _), function in loaded.items():
        setattr(out, attr, function)
        out.sources[source_key] = function.__ad_source__
    out.checks = freshness.relative_checks(ctx.info)
    out.callee_deps = _callee_checks(ctx.deps)
    out.valid = freshness.validator(out.checks + tuple(out.callee_deps), fn.__globals__,
                                    generation, out._code)
    return out


def _callee_checks(deps):
    """The callees' checks, (callee, code) pairs as code checks, each once."""
    out, seen = [], set()
    for d in deps:
        check = (d[0], freshness.CODE, None, d[1]) if len(d) == 2 else d
        k = (id(check[0]), check[1], repr(check[2]), id(check[3]))
        if k not in seen:
            seen.add(k)
            out.append(check)
    return out


def _split_aux(ctx, fn):
    """has_aux: the function returns (output, aux); differentiate the output
    only and pass aux through.  Returns the name holding aux."""
    ret = fn.body[-1]
    value = ret.value
    prev = fn.body[-2] if len(fn.body) > 1 else None
    if (isinstance(value, gast.Name) and isinstance(prev, gast.Assign)
            and isinstance(prev.targets[0], gast.Name) and prev.targets[0].id == value.id
            and isinstance(prev.value, (gast.Tuple, gast.List)) and len(prev.value.elts) == 2):
        out_atom, aux_atom = prev.value.elts
        fn.body = fn.body[:-2]
    else:
        # checked at run time to be a pair: value[0] of an array would
        # silently differentiate one element
        pair = ctx.namer.fresh("pair")
        check = nodes.call(nodes.attr(nodes.name(ctx.global_name("ad", runtime)), "aux_pair"),
                           [value])
        out_atom = gast.Subscript(value=nodes.name(pair), slice=nodes.const(0), ctx=gast.Load())
        aux_atom = gast.Subscript(value=nodes.name(pair), slice=nodes.const(1), ctx=gast.Load())
        fn.body = fn.body[:-1] + [nodes.located(nodes.assign(pair, check), ret)]
    o = ctx.namer.fresh("out")
    a = ctx.namer.fresh("aux")
    fn.body += [nodes.located(nodes.assign(o, out_atom), ret),
                nodes.located(nodes.assign(a, aux_atom), ret),
                nodes.located(gast.Return(value=nodes.name(o)), ret)]
    return a


def resolver_lookup(info, ctx):
    return lambda ident: (ctx.injected[ident] if ident in ctx.injected else info.lookup(ident))


def _load(ctx, tree, fn, injected):
    builtin = annotations.Key.BUILTIN
    for node in nodes.walk(tree):      # builtins emitted without a context (slice)
        if type(node) is gast.Name and annotations.get(node, builtin, False):
            node.id = ctx.global_name(node.id, getattr(builtins, node.id))
            injected.setdefault(node.id, ctx.injected[node.id])
    defaults = fn.__defaults__
    kwdefaults = fn.__kwdefaults__
    _strip_defaults(tree)
    codegen.annotate(tree, ctx.info.filename, ctx.comments)
    src = codegen.to_source(tree, ctx.comments)
    out = codegen.load(src, tree.name, fn, injected)
    out.__defaults__ = defaults
    out.__kwdefaults__ = dict(kwdefaults) if kwdefaults else None
    return out


def _strip_defaults(tree):
    """Defaults are set from the user's function objects, not re-evaluated."""
    args = tree.args
    args.defaults = []
    args.kw_defaults = [None] * len(args.kwonlyargs)
    for a in args.posonlyargs + args.args + args.kwonlyargs:
        a.annotation = None
    if args.vararg is not None:
        args.vararg.annotation = None
    if args.kwarg is not None:
        args.kwarg.annotation = None


def normalized(fn):
    """The normalized form of ``fn`` as a live function (for tests and for
    reading what the AD passes see)."""
    def rename(tree, ctx, analyses):
        tree.name = f"{ctx.info.display_name}_normalized"
        return tree
    steps = [p for p in passes("grad") if p.name in ("parse", "fence", "normalize")]
    steps += [step("rename", rename)]
    steps += [p for p in passes("forward") if p.name in (
        "cleanup_inputs", "batch", "optimize", "load")]
    return pipeline.PassManager(steps, ANALYSES).run(fn, Context(fn=fn, mode="normalized"))
