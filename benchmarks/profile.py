"""Where the time of each ad_compiler gradient goes.

    python -m benchmarks.profile
    python -m benchmarks.profile --workloads rnn/small,mlp/small --out /tmp/profile.md

For each workload (default: every small one plus rnn/large) the compiled
gradient is looked at in three independent ways, and the result is written
as markdown to ``--out`` (default ``benchmarks/results/profile.md``) and
printed:

1. Timing without any profiler: the plain function (forward only), the
   hand-written gradient (``benchmarks/handwritten.py``), the generated
   function called directly, and ablations of it (``ad.push``/``ad.pop``
   inlined); plus the overhead of ``grad(f)(*args)`` over the generated
   function.  Interleaved repeats, medians (``benchmarks/run.py``'s timer).
2. NumPy calls per gradient, ours vs hand-written (vs forward): an instrumented
   copy of each function counts every operation it asks NumPy to do -- ufunc
   and function calls, array methods, operators whose operand is an array or
   a NumPy scalar, indexing, ``.T`` -- also inside ad_compiler's runtime
   helpers.  ``sys.setprofile`` cannot do this: it sees neither ufunc calls
   (``np.exp``, ``np.tanh``), nor NumPy functions in C behind
   ``__array_function__`` (``np.dot``), nor operators.  Each call costs about
   0.5-2 µs of dispatch on small arrays, so on small workloads the counts
   explain most of the gap.  Only counts come from the instrumented copies;
   no time is measured on them.
3. cProfile of many warm calls of the generated function, attributed to
   categories: the generated body's self time (which includes the inline
   operators ``@ * + -``, indexing and cProfile's own per-event cost), NumPy
   C functions called from the body, NumPy Python-level functions (cumulative,
   with their C sub-calls), runtime helpers ``ad.*``/``adn.*`` (cumulative),
   the tape stack (``ad.push``/``ad.pop``) and Python builtins.  Ufuncs and
   ``__array_function__`` dispatchers are invisible to cProfile, so the
   profiled copy of the generated function sees ``np`` through a proxy that
   wraps each of them in a one-line Python function named ``np.<name>``.
   cProfile inflates call-heavy code; the "≈ µs without profiler" columns
   scale each share to the unprofiled time and are estimates.
"""
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
_ROOT = os.path.dirname(_HERE)
if sys.path and os.path.abspath(sys.path[0] or os.curdir) == _HERE:
    # ``python benchmarks/profile.py``: cProfile imports the standard library's
    # ``profile`` module, which this file would otherwise shadow.
    sys.path[0] = _ROOT
elif _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

# benchmarks.run first: it pins BLAS & co. to one thread before numpy loads.
from benchmarks import run as bench  # noqa: E402

import argparse  # noqa: E402
import ast  # noqa: E402
import collections  # noqa: E402
import cProfile  # noqa: E402
import gc  # noqa: E402
import inspect  # noqa: E402
import operator  # noqa: E402
import pstats  # noqa: E402
import re  # noqa: E402
import textwrap  # noqa: E402
import time  # noqa: E402
import types  # noqa: E402

import numpy as np  # noqa: E402

import ad_compiler  # noqa: E402
from ad_compiler import runtime as _runtime  # noqa: E402
from benchmarks import handwritten, workloads  # noqa: E402

DEFAULT_OUT = os.path.join(bench.RESULTS_DIR, "profile.md")
DEFAULT_WORKLOADS = [w.name for w in workloads.WORKLOADS if w.size == "small"] + ["rnn/large"]

_NUMPY_DIR = os.path.dirname(os.path.abspath(np.__file__)) + os.sep
_AD_DIR = os.path.dirname(os.path.abspath(ad_compiler.__file__)) + os.sep
_MODULE_ALIASES = {"ad_compiler.runtime": "ad", "ad_compiler.runtime_numpy": "adn"}

# cProfile categories, in the order of the tables
BODY = "generated body (self time)"
NP_C = "NumPy C functions and array methods, called from the body"
NP_PY = "NumPy Python-level functions, called from the body (cumulative)"
HELPERS = "runtime helpers ad.* / adn.* (cumulative)"
STACK = "tape stack: ad.push / ad.pop"
BUILTINS = "Python builtins (len, range, ...)"
OTHER = "other (e.g. generated derivatives of called user functions)"
CATEGORIES = (BODY, NP_C, NP_PY, HELPERS, STACK, BUILTINS, OTHER)
SHORT = {BODY: "generated body (self)", NP_C: "NumPy C", NP_PY: "NumPy Python-level",
         HELPERS: "runtime helper", STACK: "tape stack", BUILTINS: "Python builtin",
         OTHER: "other"}

# NumPy-call kinds of the counting pass, in the order of the tables
K_UFUNC = "ufunc calls (np.exp, np.add.reduce, ...)"
K_FUNC = "other NumPy functions (np.sum, np.zeros, np.dot, ...)"
K_METHOD = "array methods (x.sum(), ...)"
K_OP = "operators on arrays (+ - * / @ ** comparisons)"
K_SCALAR = "operators on NumPy scalars"
K_INDEX = "indexing (x[i], x[i] = v)"
K_VIEW = "view attributes (x.T)"
KINDS = (K_UFUNC, K_FUNC, K_METHOD, K_OP, K_SCALAR, K_INDEX, K_VIEW)


# --------------------------------------------------------------------------
# the functions under study
# --------------------------------------------------------------------------

def _is_ours(fn):
    code = getattr(fn, "__code__", None)
    if code is None:
        return False
    fname = code.co_filename
    return fname.startswith("<ad_compiler-") or os.path.abspath(fname).startswith(_AD_DIR)


def _closure(fn):
    return dict(zip(fn.__code__.co_freevars, (c.cell_contents for c in fn.__closure__ or ())))


def _with_cells(fn, code=None, values=None, cells=None):
    """A copy of ``fn`` (optionally with another code object whose free
    variables are a superset of fn's), with some closure cells replaced."""
    code = code or fn.__code__
    old = dict(zip(fn.__code__.co_freevars, fn.__closure__ or ()))
    cells = dict(cells or {})
    for name, value in (values or {}).items():
        cells[name] = types.CellType(value)
    closure = tuple(cells[v] if v in cells else old[v] for v in code.co_freevars)
    out = types.FunctionType(code, fn.__globals__, fn.__name__, fn.__defaults__,
                             closure or None)
    out.__kwdefaults__ = fn.__kwdefaults__
    return out


def _module_labels(fn):
    """cProfile key -> public name (``ad.matmul_grad_left``) of every function
    of the modules the generated function reads (``ad``, ``adn``, ...)."""
    labels = {}
    mods = [(alias, sys.modules[m]) for m, alias in _MODULE_ALIASES.items() if m in sys.modules]
    mods += [(var, v) for var, v in _closure(fn).items()
             if isinstance(v, types.ModuleType) and v.__name__.split(".")[0] == "ad_compiler"]
    for alias, mod in mods:
        for name, obj in vars(mod).items():
            if inspect.isfunction(obj):
                key = cProfile.label(obj.__code__)
                labels.setdefault(key, f"{alias}.{name}")
    for var, v in _closure(fn).items():       # derivatives of called user functions
        if inspect.isfunction(v):
            labels.setdefault(cProfile.label(v.__code__), var)
    return labels


# --------------------------------------------------------------------------
# 1. cProfile attribution
# --------------------------------------------------------------------------

_C_TAG, _PY_TAG = "<numpy C>", "<numpy Python>"


def _visible(name, obj, tag):
    """``obj`` wrapped in a one-line Python function cProfile can see."""
    def call(*args, **kwargs):
        return obj(*args, **kwargs)
    changes = {"co_name": f"np.{name}", "co_filename": tag}
    if sys.version_info >= (3, 11):
        changes["co_qualname"] = f"np.{name}"
    call.__code__ = call.__code__.replace(**changes)
    call.__name__ = call.__qualname__ = name
    return call


class NumpyProxy:
    """``numpy`` as the profiled copy of the generated function sees it: ufuncs
    and ``__array_function__`` dispatchers (which cProfile does not record)
    come wrapped by ``_visible``; everything else is numpy's own object."""

    def __init__(self, module=np):
        self.__dict__["_NumpyProxy__np"] = module

    def __getattr__(self, name):
        obj = getattr(self.__np, name)
        if isinstance(obj, np.ufunc):
            obj = _visible(name, obj, _C_TAG)
        elif type(obj).__name__ == "_ArrayFunctionDispatcher":
            impl = getattr(obj, "_implementation", None)
            obj = _visible(name, obj, _PY_TAG if inspect.isfunction(impl) else _C_TAG)
        self.__dict__[name] = obj            # later lookups: a plain dict hit
        return obj


def profiled_copy(direct):
    """The generated function with every closure cell holding ``numpy``
    replaced by a ``NumpyProxy`` (same code object)."""
    proxies = {var: NumpyProxy() for var, v in _closure(direct).items() if v is np}
    return _with_cells(direct, values=proxies)


_BUILTIN_RE = [
    (re.compile(r"^<built-in method ([\w.]+)>$"), lambda m: (None, m.group(1))),
    (re.compile(r"^<built-in function (\w+)>$"), lambda m: (None, m.group(1))),
    (re.compile(r"^<method '(\w+)' of '([\w.]+)' objects>$"),
     lambda m: (m.group(2), m.group(1))),
    (re.compile(r"^<built-in method (\w+) of ([\w.]+) object at 0x[0-9a-fA-F]+>$"),
     lambda m: (m.group(2), m.group(1))),
]


def _builtin_label(name):
    """cProfile's name of a C function -> (category, short label)."""
    for rx, parts in _BUILTIN_RE:
        m = rx.match(name)
        if not m:
            continue
        owner, fname = parts(m)
        if owner is None:                           # module-level: numpy.zeros, builtins.len
            mod, _, short = fname.rpartition(".")
            if mod.split(".")[0] == "numpy":
                return NP_C, f"np.{short}"
            return BUILTINS, short
        short_owner = owner.rpartition(".")[2]
        if owner.split(".")[0] == "numpy":
            return NP_C, f"{short_owner}.{fname}"
        return BUILTINS, f"{short_owner}.{fname}"
    return OTHER, name


def classify(key, labels, stack_keys):
    """cProfile key ``(file, line, name)`` of a callee -> (category, label)."""
    fname, _, name = key
    if fname == "~":
        return _builtin_label(name)
    if fname == _C_TAG:
        return NP_C, name
    if fname == _PY_TAG:
        return NP_PY, name
    if key in stack_keys:
        return STACK, labels.get(key, name)
    if key in labels:
        return (HELPERS if os.path.abspath(fname).startswith(_AD_DIR) else OTHER), labels[key]
    if os.path.abspath(fname).startswith(_NUMPY_DIR):
        return NP_PY, f"np.{name}"
    if os.path.abspath(fname).startswith(_AD_DIR):
        return HELPERS, f"{os.path.splitext(os.path.basename(fname))[0]}.{name}"
    return OTHER, f"{os.path.basename(fname)}:{name}"


def cprofile_breakdown(fn, args, seconds, min_calls=5, labels=None):
    """Profile warm calls of ``fn(*args)`` for about ``seconds``.  Returns
    ``(n_calls, total_s, rows)``: time per call under the profiler and one row
    per callee of ``fn`` (plus fn's self time) with its calls per call and its
    seconds per call (cumulative)."""
    fn(*args)                                   # warm
    labels = labels if labels is not None else _module_labels(fn)
    stack_keys = {cProfile.label(_runtime.push.__code__), cProfile.label(_runtime.pop.__code__)}
    prof = cProfile.Profile()
    n = 0
    gc.collect()
    gc_was = gc.isenabled()
    gc.disable()
    try:
        deadline = time.perf_counter() + seconds
        prof.enable()
        while n < min_calls or time.perf_counter() < deadline:
            fn(*args)
            n += 1
        prof.disable()
    finally:
        if gc_was:
            gc.enable()
    stats = pstats.Stats(prof).stats
    me = cProfile.label(fn.__code__)
    _, calls, tt, ct, _ = stats[me]
    merged = collections.OrderedDict()
    merged[(BODY, "generated body (self time)")] = [calls, tt]
    for key, (_, _, _, _, callers) in stats.items():
        if me not in callers or key == me:
            continue
        c_nc, _, _, c_ct = callers[me]
        slot = merged.setdefault(classify(key, labels, stack_keys), [0, 0.0])
        slot[0] += c_nc
        slot[1] += c_ct
    rows = [{"category": cat, "label": lab, "calls": nc / calls, "seconds": s / calls}
            for (cat, lab), (nc, s) in merged.items()]
    rows.sort(key=lambda r: -r["seconds"])
    return calls, ct / calls, rows


def by_category(rows):
    out = {c: {"calls": 0.0, "seconds": 0.0} for c in CATEGORIES}
    for r in rows:
        out[r["category"]]["calls"] += r["calls"]
        out[r["category"]]["seconds"] += r["seconds"]
    return out


# --------------------------------------------------------------------------
# 2. counting NumPy calls
# --------------------------------------------------------------------------

_COUNTER = "_adprof_counter"
_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//",
           ast.Mod: "%", ast.Pow: "**", ast.MatMult: "@", ast.BitAnd: "&", ast.BitOr: "|",
           ast.BitXor: "^", ast.LShift: "<<", ast.RShift: ">>"}
_CMPOPS = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">",
           ast.GtE: ">="}
_UNARY = {ast.USub: "-", ast.UAdd: "+", ast.Invert: "~"}
_OP_FUNCS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
             "//": operator.floordiv, "%": operator.mod, "**": operator.pow,
             "@": operator.matmul, "&": operator.and_, "|": operator.or_, "^": operator.xor,
             "<<": operator.lshift, ">>": operator.rshift, "==": operator.eq,
             "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt,
             ">=": operator.ge}
_IOP_FUNCS = {"+": operator.iadd, "-": operator.isub, "*": operator.imul,
              "/": operator.itruediv, "//": operator.ifloordiv, "%": operator.imod,
              "**": operator.ipow, "@": operator.imatmul, "&": operator.iand,
              "|": operator.ior, "^": operator.ixor, "<<": operator.ilshift,
              ">>": operator.irshift}
_UNARY_FUNCS = {"-": operator.neg, "+": operator.pos, "~": operator.invert}
_VIEW_ATTRS = frozenset({"T", "mT", "real", "imag", "flat"})


class _Instrument(ast.NodeTransformer):
    """Routes operators, indexing, ``.T`` and calls through the counter."""

    def _c(self, method, *args):
        return ast.Call(func=ast.Attribute(value=ast.Name(_COUNTER, ast.Load()), attr=method,
                                           ctx=ast.Load()), args=list(args), keywords=[])

    def _index(self, s):
        if isinstance(s, ast.Slice):
            none = ast.Constant(None)
            return self._c("make_slice", s.lower or none, s.upper or none, s.step or none)
        if isinstance(s, ast.Tuple):
            return ast.Tuple(elts=[self._index(e) for e in s.elts], ctx=ast.Load())
        return s

    def visit_FunctionDef(self, node):
        node.decorator_list = []              # the copy replaces the bare function
        self.generic_visit(node)
        return node

    def visit_BinOp(self, node):
        self.generic_visit(node)
        return self._c("binop", ast.Constant(_BINOPS[type(node.op)]), node.left, node.right)

    def visit_UnaryOp(self, node):
        self.generic_visit(node)
        if type(node.op) not in _UNARY:
            return node
        return self._c("unary", ast.Constant(_UNARY[type(node.op)]), node.operand)

    def visit_Compare(self, node):
        self.generic_visit(node)
        if len(node.ops) != 1 or type(node.ops[0]) not in _CMPOPS:
            return node
        return self._c("binop", ast.Constant(_CMPOPS[type(node.ops[0])]), node.left,
                       node.comparators[0])

    def visit_Subscript(self, node):
        self.generic_visit(node)
        if not isinstance(node.ctx, ast.Load):
            return node
        return self._c("getitem", node.value, self._index(node.slice))

    def visit_Attribute(self, node):
        self.generic_visit(node)
        if isinstance(node.ctx, ast.Load) and node.attr in _VIEW_ATTRS:
            return self._c("attr", node.value, ast.Constant(node.attr))
        return node

    def visit_Assign(self, node):
        self.generic_visit(node)
        if len(node.targets) == 1 and isinstance(node.targets[0], ast.Subscript):
            t = node.targets[0]
            return ast.Expr(self._c("setitem", t.value, self._index(t.slice), node.value))
        return node

    def visit_AugAssign(self, node):
        self.generic_visit(node)
        sym = ast.Constant(_BINOPS[type(node.op)])
        t = node.target
        if isinstance(t, ast.Name):
            return ast.Assign(targets=[ast.Name(t.id, ast.Store())],
                              value=self._c("augop", sym, ast.Name(t.id, ast.Load()),
                                            node.value))
        if isinstance(t, ast.Subscript):
            return ast.Expr(self._c("aug_setitem", t.value, self._index(t.slice), sym,
                                    node.value))
        return node

    def visit_Call(self, node):
        self.generic_visit(node)
        if isinstance(node.func, ast.Name) and node.func.id == "super":
            return node
        return ast.Call(func=ast.Attribute(value=ast.Name(_COUNTER, ast.Load()), attr="call",
                                           ctx=ast.Load()),
                        args=[node.func] + node.args, keywords=node.keywords)


def _is_np(x):
    return isinstance(x, (np.ndarray, np.generic))


def _np_name(obj):
    mod = getattr(obj, "__module__", None) or "numpy"
    sub = mod.split(".")[1] if mod.count(".") and mod.split(".")[1] in (
        "linalg", "fft", "random") else ""
    return "np." + (sub + "." if sub else "") + getattr(obj, "__name__", repr(obj))


class CallCounter:
    """Counts what instrumented code asks NumPy to do.

    ``counts[(where, kind, name)]``: ``where`` is ``"body"`` for the function
    under study, or the name of the runtime helper (``ad.matmul_grad_left``)
    whose instrumented copy made the call.  Calls of ad_compiler's own Python
    functions are followed into instrumented copies and counted in
    ``helper_calls``; any other Python function runs as is (a NumPy
    Python-level function such as ``np.sum`` counts as one call)."""

    make_slice = slice

    def __init__(self, aliases=None):
        self.counts = collections.Counter()
        self.helper_calls = collections.Counter()
        self.uninstrumented = set()
        self.aliases = dict(_MODULE_ALIASES, **(aliases or {}))
        self._where = ["body"]
        self._codes = {}

    # -- counting --------------------------------------------------------

    def _count(self, kind, name):
        self.counts[(self._where[-1], kind, name)] += 1

    def binop(self, sym, a, b):
        if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
            self._count(K_OP, f"a {sym} b")
        elif _is_np(a) or _is_np(b):
            self._count(K_SCALAR, f"a {sym} b")
        return _OP_FUNCS[sym](a, b)

    def augop(self, sym, a, b):
        if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
            self._count(K_OP, f"a {sym}= b")
        elif _is_np(a) or _is_np(b):
            self._count(K_SCALAR, f"a {sym}= b")
        return _IOP_FUNCS[sym](a, b)

    def unary(self, sym, a):
        if isinstance(a, np.ndarray):
            self._count(K_OP, f"{sym}a")
        elif _is_np(a):
            self._count(K_SCALAR, f"{sym}a")
        return _UNARY_FUNCS[sym](a)

    def getitem(self, obj, idx):
        if _is_np(obj):
            self._count(K_INDEX, "a[i]")
        return obj[idx]

    def setitem(self, obj, idx, value):
        if _is_np(obj):
            self._count(K_INDEX, "a[i] = v")
        obj[idx] = value

    def aug_setitem(self, obj, idx, sym, value):
        self.setitem(obj, idx, self.augop(sym, self.getitem(obj, idx), value))

    def attr(self, obj, name):
        if _is_np(obj):
            self._count(K_VIEW, f"a.{name}")
        return getattr(obj, name)

    def _classify(self, f):
        if isinstance(f, np.ufunc):
            return K_UFUNC, f"np.{f.__name__}"
        if type(f).__name__ == "_ArrayFunctionDispatcher":
            return K_FUNC, _np_name(f)
        if isinstance(f, types.BuiltinFunctionType):
            owner = getattr(f, "__self__", None)
            if isinstance(owner, np.ufunc):
                return K_UFUNC, f"np.{owner.__name__}.{f.__name__}"
            if _is_np(owner):
                return K_METHOD, f"{type(owner).__name__}.{f.__name__}"
            if (getattr(f, "__module__", None) or "").split(".")[0] == "numpy":
                return K_FUNC, _np_name(f)
            if isinstance(owner, types.ModuleType) and owner.__name__.split(".")[0] == "numpy":
                return K_FUNC, _np_name(f)
            return None
        if isinstance(f, types.MethodType):
            if _is_np(f.__self__):
                return K_METHOD, f"{type(f.__self__).__name__}.{f.__name__}"
            f = f.__func__
        if inspect.isfunction(f):
            if _is_ours(f):
                return "ours"
            if (f.__module__ or "").split(".")[0] == "numpy":
                return K_FUNC, _np_name(f)
            return None
        if isinstance(f, type) and f.__module__.split(".")[0] == "numpy":
            return K_FUNC, _np_name(f)
        return None

    def call(self, f, *args, **kwargs):
        what = self._classify(f)
        if what is None:
            return f(*args, **kwargs)
        if what != "ours":
            self._count(*what)
            return f(*args, **kwargs)
        func = f.__func__ if isinstance(f, types.MethodType) else f
        label = self.label(func)
        copy = self.instrument(func)
        if copy is None:
            self.uninstrumented.add(label)
            return f(*args, **kwargs)
        if isinstance(f, types.MethodType):
            args = (f.__self__,) + args
        self.helper_calls[label] += 1
        self._where.append(label)
        try:
            return copy(*args, **kwargs)
        finally:
            self._where.pop()

    def label(self, func):
        mod = getattr(func, "__module__", None) or ""
        alias = self.aliases.get(mod, mod.rpartition(".")[2] or "<generated>")
        return f"{alias}.{func.__name__}"

    # -- instrumenting ---------------------------------------------------

    def instrument(self, fn, source=None):
        """A counting copy of the Python function ``fn`` (same globals and
        closure), or None when its source cannot be had."""
        code = fn.__code__
        new_code = self._codes.get(code) if source is None else None
        if new_code is None:
            try:
                new_code = _instrumented_code(fn, source)
            except (OSError, TypeError, SyntaxError, ValueError, IndexError):
                return None
            if source is None:
                self._codes[code] = new_code
        return _with_cells(fn, code=new_code, cells={_COUNTER: types.CellType(self)})

    # -- results ---------------------------------------------------------

    def total(self, where=None):
        return sum(n for (w, _, _), n in self.counts.items()
                   if where is None or (w == "body") == (where == "body"))

    def by_kind(self, helpers_only=False):
        out = collections.Counter()
        for (w, kind, _), n in self.counts.items():
            if not helpers_only or w != "body":
                out[kind] += n
        return out

    def by_name(self):
        out = collections.Counter()
        for (_, kind, name), n in self.counts.items():
            out[name] += n
        return out


def _instrumented_code(fn, source=None):
    code = fn.__code__
    src = textwrap.dedent(source if source is not None else inspect.getsource(code))
    tree = ast.parse(src)
    fdef = tree.body[0]
    if not isinstance(fdef, (ast.FunctionDef, ast.AsyncFunctionDef)) or fdef.name != code.co_name:
        raise ValueError(f"no def {code.co_name} in the source")
    fdef = _Instrument().visit(fdef)
    # renamed: a def named like a global it calls (recursion) would make that
    # name a closure variable of the factory
    fdef.name = "_adprof_instrumented"
    params = sorted(set(code.co_freevars) | {_COUNTER})
    body = textwrap.indent(ast.unparse(ast.fix_missing_locations(fdef)), "    ")
    factory = f"def _adprof_factory({', '.join(params)}):\n{body}\n    return {fdef.name}\n"
    scratch = {}
    exec(compile(factory, f"<counting copy of {code.co_filename}:{code.co_name}>", "exec"),
         scratch)
    return scratch["_adprof_factory"](*([None] * len(params))).__code__


def count_numpy_calls(fn, args, source=None, aliases=None):
    """One call of an instrumented copy of ``fn``: ``(counter, result)``."""
    counter = CallCounter(aliases)
    copy = counter.instrument(fn, source)
    if copy is None:
        raise RuntimeError(f"cannot instrument {fn.__qualname__}: no source")
    out = copy(*args)
    return counter, out


# --------------------------------------------------------------------------
# 3. per workload
# --------------------------------------------------------------------------

def _inline_stack(direct):
    """The generated function with ``ad.push(s, v)`` / ``ad.pop(s)`` replaced by
    ``s.append(v)`` / ``s.pop()``, or None when it does not use them."""
    src = getattr(direct, "__ad_source__", "")
    aliases = [var for var, v in _closure(direct).items() if v is _runtime]
    if not aliases:
        return None
    a = re.escape(aliases[0])
    new, n1 = re.subn(rf"\b{a}\.push\((\w+), ", r"\1.append(", src)
    new, n2 = re.subn(rf"\b{a}\.pop\((\w+)\)", r"\1.pop()", new)
    if not n1 + n2:
        return None
    fdef_src = textwrap.indent(new, "    ")
    params = sorted(direct.__code__.co_freevars)
    factory = (f"def _adprof_factory({', '.join(params)}):\n{fdef_src}\n"
               f"    return {direct.__code__.co_name}\n")
    scratch = {}
    exec(compile(factory, f"<{direct.__code__.co_filename} stack inlined>", "exec"), scratch)
    inner = scratch["_adprof_factory"](*([None] * len(params))).__code__
    return _with_cells(direct, code=inner)


def profile_workload(w, opts):
    from ad_compiler import grad
    args = w.make(0)
    hand = handwritten.GRADIENTS[w.fn_name]
    g = grad(w.fn, wrt=w.wrt)
    ref = hand(*args)
    row = {"name": w.name, "dims": w.dims, "size": w.size, "checks": {}}
    row["checks"]["grad"] = bench.compare(g(*args), ref)          # compiles
    direct = g._compiled().function                  # the generated function itself
    source = direct.__ad_source__
    aliases = {}
    for var, v in _closure(direct).items():
        if isinstance(v, types.ModuleType):
            aliases[v.__name__] = var
    # the generated function called directly returns what grad returns
    row["checks"]["generated"] = bench.compare(direct(*args), ref)
    prof_fn = profiled_copy(direct)
    row["checks"]["profiled copy"] = bench.compare(prof_fn(*args), ref)
    stack_fn = _inline_stack(direct)
    if stack_fn is not None:
        row["checks"]["stack inlined"] = bench.compare(stack_fn(*args), ref)

    # -- counts ------------------------------------------------------------
    c_ours, out = count_numpy_calls(direct, args, source=source, aliases=aliases)
    row["checks"]["counting copy (ours)"] = bench.compare(out, ref)
    c_hand, out = count_numpy_calls(hand, args)
    row["checks"]["counting copy (hand)"] = bench.compare(out, ref)
    c_plain, out = count_numpy_calls(w.fn, args)
    row["checks"]["counting copy (plain f)"] = (
        0.0 if np.allclose(out, w.fn(*args), rtol=1e-12, atol=0) else float("inf"))
    row["counters"] = {"ours": c_ours, "hand": c_hand, "plain": c_plain}
    bad = {k: v for k, v in row["checks"].items() if v is None or v > bench.CHECK_RTOL}
    if bad:
        raise RuntimeError(f"{w.name}: gradient differs from the hand-written one: {bad}")

    # -- timing without profiler --------------------------------------------
    callables = {"plain": lambda: w.fn(*args), "hand": lambda: hand(*args),
                 "ours": lambda: direct(*args)}
    if stack_fn is not None:
        callables["stack"] = lambda: stack_fn(*args)
    med, spread, _ = bench.time_interleaved(callables, opts.repeats, opts.target)
    row["time_s"], row["spread_s"] = med, spread
    row["overhead_s"] = row["overhead_se_s"] = None
    if med["ours"] < 1e-3:      # a few µs drown in a longer call's noise
        ov, se, _ = bench.call_overhead(lambda: g(*args), lambda: direct(*args),
                                        opts.overhead_s)
        row["overhead_s"], row["overhead_se_s"] = ov, se

    # -- cProfile ----------------------------------------------------------
    n, per_call, rows = cprofile_breakdown(prof_fn, args, opts.profile_s,
                                           labels=_module_labels(direct))
    row["profiled_calls"], row["profiled_s"], row["callees"] = n, per_call, rows
    row["categories"] = by_category(rows)
    return row


# --------------------------------------------------------------------------
# output
# --------------------------------------------------------------------------

def _us(s):
    x = s * 1e6
    return f"{x:,.0f}" if x >= 100 else f"{x:.3g}"


def _pct(x):
    return f"{x:.1f}%" if x >= 0.05 else "<0.1%"


def _n(x):
    return f"{x:,.0f}" if abs(x - round(x)) < 1e-9 else f"{x:,.1f}"


def top_costs(row, k=3):
    total = row["profiled_s"]
    return [(r["label"], 100 * r["seconds"] / total) for r in row["callees"][:k]]


def summary_line(row):
    t = row["time_s"]
    co, ch = row["counters"]["ours"].total(), row["counters"]["hand"].total()
    tops = ", ".join(f"{lab} {p:.0f}%" for lab, p in top_costs(row))
    return (f"**{row['name']}**: ours {bench._fmt_time(t['ours'])} vs hand-written "
            f"{bench._fmt_time(t['hand'])} ({bench._fmt_ratio(t['ours'] / t['hand'])}); "
            f"NumPy calls per gradient: ours {co:,}, hand-written {ch:,}; "
            f"top costs (cProfile): {tops}.")


def render_workload(row, top):
    L = []
    t = row["time_s"]
    cs = row["counters"]
    co, ch, cp = cs["ours"].total(), cs["hand"].total(), cs["plain"].total()
    L.append(f"## {row['name']} ({row['dims']})")
    L.append("")
    L.append(summary_line(row))
    L.append("")
    L.append("### Time per call, no profiler")
    L.append("")
    L.append("| | time per call | / hand-written | NumPy calls | µs per NumPy call |")
    L.append("|---|---:|---:|---:|---:|")
    items = [("plain f (forward only)", "plain", cp), ("hand-written gradient", "hand", ch),
             ("ad_compiler: generated function", "ours", co)]
    if "stack" in t:
        items.append(("ad_compiler: generated function, `ad.push`/`ad.pop` inlined "
                      "(ablation)", "stack", co))
    for lab, key, cnt in items:
        L.append(f"| {lab} | {bench._fmt_time(t[key])} | "
                 f"{bench._fmt_ratio(t[key] / t['hand'])} | {cnt:,} | "
                 f"{t[key] * 1e6 / cnt:.2f} |" if cnt else
                 f"| {lab} | {bench._fmt_time(t[key])} | "
                 f"{bench._fmt_ratio(t[key] / t['hand'])} | 0 | — |")
    L.append("")
    ov, se = row["overhead_s"], row["overhead_se_s"]
    if ov is not None:
        L.append(f"`grad(f)(*args)` adds {bench._fmt_overhead(ov, se)} per call on top of "
                 "the generated function (argument checks and the specialization lookup; "
                 "paired calls).")
    else:
        L.append("`grad(f)(*args)`'s few µs over the generated function are not measured "
                 "here: they drown in a call this long.")
    if "stack" in t:
        d = t["ours"] - t["stack"]
        L.append(f"Inlining `ad.push`/`ad.pop` saves {_us(d)} µs per call "
                 f"({100 * d / t['ours']:.1f}% of the generated function's time).")
    if co and ch:
        L.append(f"Ours makes {bench._fmt_ratio(co / ch)} the hand-written gradient's NumPy "
                 f"calls and takes {bench._fmt_ratio(t['ours'] / t['hand'])} its time "
                 f"({t['ours'] * 1e6 / co:.2f} vs {t['hand'] * 1e6 / ch:.2f} µs per NumPy "
                 "call): where the two ratios agree, the number of calls explains the gap; "
                 "a higher time ratio means more work per call (Python-level code around "
                 "the calls, or bigger arrays).")
    L.append("")
    L.append("### NumPy calls per gradient")
    L.append("")
    L.append(f"NumPy calls per gradient: ours {co:,}, hand-written {ch:,} "
             f"(plain forward f: {cp:,}).")
    L.append("")
    kp, kh, ko, kx = (cs["plain"].by_kind(), cs["hand"].by_kind(), cs["ours"].by_kind(),
                      cs["ours"].by_kind(helpers_only=True))
    L.append("| kind | plain f | hand-written | ad_compiler | of which inside runtime "
             "helpers |")
    L.append("|---|---:|---:|---:|---:|")
    for k in KINDS:
        if kp[k] or kh[k] or ko[k]:
            L.append(f"| {k} | {kp[k]:,} | {kh[k]:,} | {ko[k]:,} | {kx[k]:,} |")
    L.append(f"| **total** | **{cp:,}** | **{ch:,}** | **{co:,}** | "
             f"**{cs['ours'].total('helpers'):,}** |")
    L.append("")
    hc = cs["ours"].helper_calls
    if hc:
        L.append("Runtime helper calls per gradient (Python function calls, each with its "
                 "own NumPy calls counted above): "
                 + ", ".join(f"`{k}` {v:,}" for k, v in hc.most_common()) + ".")
        L.append("")
    if cs["ours"].uninstrumented:
        L.append("Not instrumented (their NumPy calls are not counted): "
                 + ", ".join(sorted(cs["ours"].uninstrumented)) + ".")
        L.append("")
    nh, no = cs["hand"].by_name(), cs["ours"].by_name()
    names = sorted(set(nh) | set(no), key=lambda x: (-abs(no[x] - nh[x]), -no[x], x))
    L.append(f"Operations with the largest difference (top {min(top, len(names))} of "
             f"{len(names)}):")
    L.append("")
    L.append("| operation | hand-written | ad_compiler | difference |")
    L.append("|---|---:|---:|---:|")
    for x in names[:top]:
        L.append(f"| `{x}` | {nh[x]:,} | {no[x]:,} | {no[x] - nh[x]:+,} |")
    L.append("")
    L.append("### cProfile: where ad_compiler's time goes")
    L.append("")
    infl = row["profiled_s"] / t["ours"]
    L.append(f"{row['profiled_calls']:,} warm calls of the generated function profiled: "
             f"{bench._fmt_time(row['profiled_s'])} per call under cProfile, "
             f"{infl:.2f}× the unprofiled {bench._fmt_time(t['ours'])}. "
             "\"≈ µs without profiler\" = share × unprofiled time (an estimate: cProfile "
             "slows call-heavy parts more).")
    L.append("")
    L.append("| category | calls per gradient | µs per gradient (profiled) | share | "
             "≈ µs without profiler |")
    L.append("|---|---:|---:|---:|---:|")
    cats = row["categories"]
    total = row["profiled_s"]
    for c in CATEGORIES:
        v = cats[c]
        if v["seconds"] <= 0 and c not in (BODY,):
            continue
        share = v["seconds"] / total
        calls = "—" if c == BODY else _n(v["calls"])
        L.append(f"| {c} | {calls} | {_us(v['seconds'])} | {_pct(100 * share)} | "
                 f"{_us(share * t['ours'])} |")
    L.append(f"| **total** | | **{_us(total)}** | "
             f"**{_pct(100 * sum(v['seconds'] for v in cats.values()) / total)}** | "
             f"**{_us(t['ours'])}** |")
    inline = sum(n for (where, kind, _), n in cs["ours"].counts.items()
                 if where == "body" and kind in (K_OP, K_SCALAR, K_INDEX, K_VIEW))
    if inline:
        body = cats[BODY]["seconds"] / total * t["ours"]
        L.append("")
        L.append(f"The body's self time covers its {inline:,} inline NumPy operations per "
                 "gradient (operators on arrays or NumPy scalars, indexing, `.T`): at most "
                 f"≈ {body * 1e6 / inline:.2f} µs each, the rest being Python bookkeeping.")
    L.append("")
    rows = row["callees"]
    L.append(f"Top {min(top, len(rows))} of {len(rows)} items (callees of the generated "
             "function, cumulative, plus its self time):")
    L.append("")
    L.append("| item | category | calls per gradient | µs per gradient (profiled) | share | "
             "≈ µs without profiler |")
    L.append("|---|---|---:|---:|---:|---:|")
    for r in rows[:top]:
        share = r["seconds"] / total
        calls = "—" if r["category"] == BODY else _n(r["calls"])
        item = r["label"] if r["category"] == BODY else f"`{r['label']}`"
        L.append(f"| {item} | {SHORT[r['category']]} | {calls} | {_us(r['seconds'])} "
                 f"| {_pct(100 * share)} | {_us(share * t['ours'])} |")
    L.append("")
    return L


def render_markdown(results, meta, argv):
    L = ["# Where ad_compiler's gradient time goes", ""]
    L.append(f"Generated by `python -m benchmarks.profile{(' ' + ' '.join(argv)) if argv else ''}`"
             f" on {meta['date']}.")
    L.append("")
    L.append(f"- CPU: {meta['cpu']} ({meta['cores']} logical cores; everything runs on one "
             "thread)")
    L.append(f"- Python {meta['python']}, NumPy {meta['numpy']}"
             + (f" ({meta['blas']})" if meta["blas"] else "")
             + f", ad_compiler {meta['ad_compiler']}"
             + (f" (commit {meta['commit']})" if meta.get("commit") else ""))
    L.append(f"- {meta['platform']}")
    L.append(f"- timing: median of {meta['repeats']} interleaved repeats "
             f"(each ≈ {meta['target_s'] * 1e3:g} ms of back-to-back calls); cProfile: "
             f"≈ {meta['profile_s']:g} s of calls per workload; {meta['elapsed_s']:.0f} s in all")
    if meta.get("load_before") is not None:
        L.append(f"- 1-minute load average {meta['load_before']} at the start, "
                 f"{meta['load_after']} at the end")
    L.append("")
    L.append("How to read: *time per call* and *NumPy calls* come from unprofiled and "
             "instrumented runs respectively, the *cProfile* tables from a profiled copy; "
             "each NumPy call (a ufunc, function or method call, an operator on an array or "
             "NumPy scalar, an indexing, `.T`) costs roughly 0.5-2 µs of dispatch on small "
             "arrays whatever it computes. *generated body (self time)* is the generated "
             "function's own lines: the inline operators `@ * + -` on arrays, indexing, "
             "`.T`, loops and `del`, plus cProfile's per-event cost. The runtime helper and "
             "NumPy Python-level rows are cumulative (they include the NumPy calls they "
             "make). Every gradient profiled or counted here is first checked against the "
             "hand-written one. `benchmarks/README.md` explains the method.")
    L.append("")
    L.append("## Summary")
    L.append("")
    for row in results:
        L.append(f"- {summary_line(row)}")
    L.append("")
    for row in results:
        L.extend(render_workload(row, meta["top"]))
    return "\n".join(L)


# --------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------

def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workloads", default=",".join(DEFAULT_WORKLOADS),
                   help="comma list of workload names or prefixes (default: the small ones "
                        "and rnn/large)")
    p.add_argument("--out", default=DEFAULT_OUT, help="markdown report (default: %(default)s)")
    p.add_argument("--repeats", type=int, default=7, help="interleaved timing repeats")
    p.add_argument("--target-ms", type=float, default=20.0, help="length of one timing sample")
    p.add_argument("--profile-ms", type=float, default=1000.0,
                   help="time spent in profiled calls per workload")
    p.add_argument("--overhead-ms", type=float, default=200.0,
                   help="time spent measuring grad()'s call overhead per workload")
    p.add_argument("--top", type=int, default=12, help="rows of the per-item tables")
    opts = p.parse_args(argv)
    opts.target = opts.target_ms / 1e3
    opts.profile_s = opts.profile_ms / 1e3
    opts.overhead_s = opts.overhead_ms / 1e3
    return opts


def select(spec):
    prefixes = [x.strip() for x in spec.split(",") if x.strip()]
    chosen = [w for w in workloads.WORKLOADS
              if any(w.name == p or w.name.startswith(p.rstrip("/") + "/") for p in prefixes)]
    if not chosen:
        raise SystemExit(f"no workload matches {spec!r}; known: "
                         + ", ".join(w.name for w in workloads.WORKLOADS))
    return chosen


def run_profile(opts, argv=(), log=print):
    chosen = select(opts.workloads)
    meta = bench.machine_info()
    meta.update(repeats=opts.repeats, target_s=opts.target, profile_s=opts.profile_s,
                top=opts.top, load_before=bench._loadavg())
    t_start = time.perf_counter()
    results = []
    for w in chosen:
        t0 = time.perf_counter()
        row = profile_workload(w, opts)
        results.append(row)
        log(f"{w.name}: ours {bench._fmt_time(row['time_s']['ours'])}, hand "
            f"{bench._fmt_time(row['time_s']['hand'])}, NumPy calls "
            f"{row['counters']['ours'].total()} vs {row['counters']['hand'].total()}"
            f"   [{time.perf_counter() - t0:.1f} s]")
    meta["elapsed_s"] = time.perf_counter() - t_start
    meta["load_after"] = bench._loadavg()
    md = render_markdown(results, meta, list(argv))
    out_dir = os.path.dirname(os.path.abspath(opts.out))
    os.makedirs(out_dir, exist_ok=True)
    bench._write(opts.out, md + "\n")
    return results, md


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    opts = parse_args(argv)
    if not bench.limit_threads():
        print("threadpoolctl not installed: relying on OPENBLAS_NUM_THREADS=1 etc.")
    _, md = run_profile(opts, argv)
    print()
    print(md)
    print(f"wrote {opts.out}")


if __name__ == "__main__":
    main()
