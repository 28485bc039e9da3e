"""The numba backend: the generated derivative function, rewritten into
the subset of Python numba compiles, run by ``numba.njit``.

``compiled(function)`` returns a callable with the generated function's
signature.  The rewrite (``rewrite``) only changes what numba cannot type:

* the one stack ``stack`` of saved values, which holds values of every
  type, becomes one list per saved variable (``ad.push(stack, h)`` ->
  ``stack_h.append(h)``, ``h = ad.pop(stack)`` -> ``h = stack_h.pop()``);
* the deferred parts of a matrix product's adjoint in a loop (``P = []``,
  ``P = ad.defer_matmul_left(P, g, x, y)``, ``ad.sum_deferred(P, W)``)
  become an accumulator shaped like ``W``, added to in place;
* ``del`` statements go (numba frees what it no longer needs).

Everything else is the NumPy code as printed by ``source()``, with ``ad``
bound to ``numba_runtime`` (numba implementations of the helpers).  Code
that calls a helper ``numba_runtime`` lacks, calls other generated
functions (a differentiated callee), uses containers, complex numbers...
is not rewritten or does not type: the NumPy function runs instead, with
one ``BackendFallbackWarning`` per generated function saying why.
Numba reads the module globals and closure cells the code uses (constants
like ``REST = -0.5``) once, when it compiles.
"""
import ast
import builtins
import functools
import hashlib
import importlib.util
import linecache
import os
import sys
import types
import warnings
import weakref

import numba
import numpy as np
from numba.core.errors import NumbaError

from ad_compiler.backends import numba_runtime


class Unsupported(Exception):
    """The generated code uses something the numba backend cannot compile."""


_PUSH, _POP = "push", "pop"
_DEFER = {"defer_matmul_left", "defer_matmul_right", "defer_dot_a", "defer_dot_b"}


def _ad_call(node, name=None):
    """``ad.NAME(...)``: NAME, else None."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
            isinstance(node.func.value, ast.Name) and node.func.value.id == "ad":
        if name is None or node.func.attr == name:
            return node.func.attr
    return None


def _fresh(base, taken):
    name, i = base, 1
    while name in taken:
        i += 1
        name = f"{base}_{i}"
    taken.add(name)
    return name


def rewrite(source):
    """The numba dialect of a generated function's source (see the module
    docstring); raises ``Unsupported`` with the reason."""
    tree = ast.parse(source)
    fn = tree.body[0]
    if not isinstance(fn, ast.FunctionDef) or len(tree.body) != 1:
        raise Unsupported("not a single function")
    a = fn.args
    params = {p.arg for p in a.posonlyargs + a.args + a.kwonlyargs}
    if a.vararg or a.kwarg:
        raise Unsupported("*args/**kwargs parameters")
    taken = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} | params

    # which variables go on which stack; which names hold deferred parts
    pushed = {}                 # stack -> [variable, ...]
    parts_like = {}             # parts -> parameter it is shaped like
    special = set()             # nodes handled below
    for node in ast.walk(fn):
        attr = _ad_call(node)
        if node is not None and isinstance(node, ast.Attribute) and \
                isinstance(node.value, ast.Name) and node.value.id == "ad":
            if node.attr not in numba_runtime.SUPPORTED and node.attr not in (_PUSH, _POP):
                raise Unsupported(f"ad.{node.attr}")
        if attr == _PUSH:
            stack, value = node.args if len(node.args) == 2 else (None, None)
            if not (isinstance(stack, ast.Name) and isinstance(value, ast.Name)):
                raise Unsupported("ad.push of an expression")
            names = pushed.setdefault(stack.id, [])
            if value.id not in names:
                names.append(value.id)
        elif attr == "sum_deferred":
            if len(node.args) != 2 or not all(isinstance(x, ast.Name) for x in node.args) \
                    or node.args[1].id not in params:
                raise Unsupported("ad.sum_deferred without a parameter to shape it")
            parts_like[node.args[0].id] = node.args[1].id
    stack_of = {(s, v): _fresh(f"{s}_{v}", taken) for s, vs in pushed.items() for v in vs}

    class Rewrite(ast.NodeTransformer):
        def visit_Delete(self, node):
            return None

        def visit_Expr(self, node):
            if _ad_call(node.value, _PUSH):
                s, v = node.value.args[0].id, node.value.args[1].id
                special.add(s)
                return ast.parse(f"{stack_of[s, v]}.append({v})").body[0]
            return self.generic_visit(node)

        def visit_Assign(self, node):
            target = node.targets[0] if len(node.targets) == 1 else None
            if _ad_call(node.value, _POP):
                arg = node.value.args[0] if len(node.value.args) == 1 else None
                if not (isinstance(target, ast.Name) and isinstance(arg, ast.Name)
                        and (arg.id, target.id) in stack_of):
                    raise Unsupported("ad.pop into something not pushed")
                return ast.parse(f"{target.id} = {stack_of[arg.id, target.id]}.pop()").body[0]
            if isinstance(target, ast.Name) and isinstance(node.value, ast.List) \
                    and not node.value.elts:
                if target.id in pushed:
                    special.add(target.id)
                    return [ast.parse(f"{stack_of[target.id, v]} = []").body[0]
                            for v in pushed[target.id]]
                if target.id in parts_like:
                    return ast.parse(f"{target.id} = ad.parts_like({parts_like[target.id]})"
                                     ).body[0]
            return self.generic_visit(node)

        def visit_Call(self, node):
            # np.multiply.outer (numba has no ufunc methods) -> ad.multiply_outer
            f = node.func
            if isinstance(f, ast.Attribute) and f.attr == "outer" and \
                    isinstance(f.value, ast.Attribute) and f.value.attr == "multiply" and \
                    isinstance(f.value.value, ast.Name) and f.value.value.id == "np":
                node.func = ast.Attribute(value=ast.Name(id="ad", ctx=ast.Load()),
                                          attr="multiply_outer", ctx=ast.Load())
            return self.generic_visit(node)

        def visit_Name(self, node):
            if node.id in pushed:
                raise Unsupported(f"other use of the stack {node.id!r}")
            return node

    new = Rewrite().visit(tree)
    for node in ast.walk(new):               # (a body emptied of its del lines)
        for field in ("body", "orelse"):
            body = getattr(node, field, None)
            if isinstance(body, list) and not body and field == "body":
                body.append(ast.Pass())
    ast.fix_missing_locations(new)
    return ast.unparse(new) + "\n"


def _closure_values(generated):
    values = {}
    for name, cell in zip(generated.__code__.co_freevars, generated.__closure__ or ()):
        try:
            values[name] = cell.cell_contents
        except ValueError:
            raise Unsupported(f"the closure variable {name!r} is not set") from None
    values["ad"] = numba_runtime
    return values


def _load(source, generated):
    """The function ``source`` defines, reading the generated function's
    globals and closure values, with ``ad`` bound to ``numba_runtime``."""
    values = _closure_values(generated)
    free = generated.__code__.co_freevars
    name = generated.__name__
    filename = f"<ad_compiler-numba:{name}:{id(generated):x}>"
    factory = f"def __ad_factory__({', '.join(free)}):\n" + "".join(
        "    " + line + "\n" for line in source.splitlines()) + f"    return {name}\n"
    scratch = {}
    exec(compile(factory, filename, "exec"), scratch)
    inner = scratch["__ad_factory__"](*([None] * len(free)))
    cells = tuple(types.CellType(values[v]) for v in inner.__code__.co_freevars)
    fn = types.FunctionType(inner.__code__, generated.__globals__, name,
                            generated.__defaults__, cells)
    fn.__kwdefaults__ = generated.__kwdefaults__
    lines = factory.splitlines(True)
    linecache.cache[filename] = (len(factory), None, lines, filename)
    return fn


# --- the on-disk cache ----------------------------------------------------
# Numba caches machine code only for functions defined in a file.  When
# every global and closure value the code reads is a number or a module, the
# rewritten source is written, with those values as literals and imports, to
# a module named by the hash of its text, and compiled with cache=True: a
# later process loads the machine code instead of compiling (a changed
# constant, a changed ad_compiler or numba gives another file or index).

def cache_dir():
    """``$AD_COMPILER_NUMBA_CACHE`` ("" or "0": no cache), else
    ``$XDG_CACHE_HOME/ad_compiler/numba`` (``~/.cache/...``)."""
    env = os.environ.get("AD_COMPILER_NUMBA_CACHE")
    if env is not None:
        return None if env in ("", "0") else env
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "ad_compiler", "numba")


def _literal(value):
    """Source text for a global or closure value, or None."""
    if type(value) in (bool, int) or isinstance(value, np.integer):
        return repr(int(value)) if not isinstance(value, (bool, np.bool_)) else repr(bool(value))
    if type(value) is float or isinstance(value, np.floating):
        v = float(value)
        return repr(v) if np.isfinite(v) else f"float({str(v)!r})"
    return None


def _module_text(source, generated):
    """The text of a cacheable module defining the function, or None."""
    values = _closure_values(generated)
    tree = ast.parse(source)
    fn = tree.body[0]
    local = {n.id for n in ast.walk(fn) if isinstance(n, ast.Name)
             and isinstance(n.ctx, (ast.Store, ast.Del))}
    a = fn.args
    local |= {p.arg for p in a.posonlyargs + a.args + a.kwonlyargs}
    lines = []
    for ident in sorted({n.id for n in ast.walk(fn) if isinstance(n, ast.Name)} - local):
        if ident in values:
            value = values[ident]
        elif ident in generated.__globals__:
            value = generated.__globals__[ident]
        elif hasattr(builtins, ident):
            continue
        else:
            return None
        if getattr(builtins, ident, None) is value:
            continue
        builtin = getattr(value, "__name__", None)
        if isinstance(builtin, str) and getattr(builtins, builtin, None) is value:
            lines.append(f"from builtins import {builtin} as {ident}")
        elif value is numba_runtime:
            lines.append(f"from ad_compiler.backends import numba_runtime as {ident}")
        elif isinstance(value, types.ModuleType) and sys.modules.get(value.__name__) is value:
            lines.append(f"import {value.__name__} as {ident}")
        else:
            text = _literal(value)
            if text is None:
                return None
            lines.append(f"{ident} = {text}")
    if generated.__defaults__ or generated.__kwdefaults__:
        return None
    import ad_compiler
    header = (f"# generated by ad_compiler {ad_compiler.__version__} for numba "
              f"{numba.__version__}; runtime {_runtime_hash()}\n")
    return header + "\n".join(lines) + "\n\n\n" + source


@functools.lru_cache(maxsize=1)
def _runtime_hash():
    with open(numba_runtime.__file__, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:16]


def _load_cached(source, generated, folder):
    """The function from a module file in ``folder`` (see above), or None."""
    text = _module_text(source, generated)
    if text is None:
        return None
    name = generated.__name__
    digest = hashlib.sha256(text.encode()).hexdigest()[:20]
    path = os.path.join(folder, f"{name}_{digest}.py")
    try:
        if not os.path.exists(path):
            os.makedirs(folder, exist_ok=True)
            tmp = f"{path}.{os.getpid()}.tmp"
            with open(tmp, "w") as f:
                f.write(text)
            os.replace(tmp, path)
    except OSError:
        return None
    modname = f"_ad_compiler_numba_{digest}"
    module = sys.modules.get(modname)
    if module is None:
        spec = importlib.util.spec_from_file_location(modname, path)
        module = importlib.util.module_from_spec(spec)
        # (numba finds the module of a cached function by its name)
        sys.modules[modname] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[modname]
            raise
    return getattr(module, name)


class _Compiled:
    """Calls the numba-compiled function; on a numba error (compiling for
    the first arguments of a type), runs and keeps to the NumPy one."""

    # (the generated function weakly: it is the key of _CACHE, whose entry
    # goes with it)
    __slots__ = ("_python", "numba_source", "dispatcher", "reason", "__weakref__")

    def __init__(self, python):
        self._python = weakref.ref(python)
        self.numba_source = None
        self.dispatcher = None
        self.reason = None
        try:
            source = getattr(python, "__ad_source__", None)
            if source is None:          # (AD_COMPILER_CHECK's comparing wrapper)
                raise Unsupported("not a generated function (AD_COMPILER_CHECK mode?)")
            self.numba_source = rewrite(source)
            folder = cache_dir()
            fn = _load_cached(self.numba_source, python, folder) if folder else None
            self.dispatcher = numba.njit(cache=True)(fn) if fn is not None else \
                numba.njit(_load(self.numba_source, python))
        except Unsupported as exc:
            self._fall_back(str(exc))
        except SyntaxError as exc:                    # (not expected)
            self._fall_back(f"rewrite failed: {exc}")

    @property
    def python(self):
        return self._python()

    def _fall_back(self, reason):
        from ad_compiler.backends import BackendFallbackWarning
        self.reason = reason
        self.dispatcher = None
        warnings.warn(f"backend='numba': {self.python.__name__} runs as NumPy code: {reason}",
                      BackendFallbackWarning, stacklevel=4)

    def __call__(self, *args, **kwargs):
        if self.dispatcher is None:
            return self.python(*args, **kwargs)
        try:
            return self.dispatcher(*args, **kwargs)
        except NumbaError as exc:
            lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()
                     and not ln.startswith(("Failed in ", "During:", "File ", "    "))]
            self._fall_back(f"numba cannot compile it ({type(exc).__name__}: "
                            f"{lines[0] if lines else ''})")
            return self.python(*args, **kwargs)


_CACHE = weakref.WeakKeyDictionary()


def compiled(function):
    """The numba version of a generated function (made once per function)."""
    out = _CACHE.get(function)
    if out is None:
        out = _CACHE[function] = _Compiled(function)
    return out
