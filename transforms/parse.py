"""Parse and resolve: from a live Python function to a gast tree.

* the source comes from ``inspect``; line numbers are made absolute in the
  user's file so every later error points at the user's real line;
* the function's namespace (closure cells, module globals, builtins) is
  captured so that callee expressions such as ``np.linalg.norm`` resolve to
  live objects at compile time, while the generated code keeps reading the
  user's globals and closure cells live at run time.
"""
import __future__
import builtins
import dis
import functools
import inspect
import linecache
import os
import textwrap
import weakref

import gast

from ad_compiler.errors import CompileError

_MISSING = object()


class FunctionInfo:
    """A user function, parsed, with where it came from and what it sees."""

    def __init__(self, fn, node, filename, source_lines):
        self.fn = fn
        self.node = node                      # gast.FunctionDef, absolute lines
        self.filename = filename
        self.source_lines = source_lines
        self.globals = fn.__globals__
        code = fn.__code__
        self.closure = {}
        for var, cell in zip(code.co_freevars, fn.__closure__ or ()):
            self.closure[var] = cell
        # What compiling depended on (see ad_compiler/freshness.py): free
        # name -> object, (name, attribute path) -> object and (class,
        # method name) -> object, for the objects that are code (functions,
        # classes, modules: the rules and callees were chosen by them), not
        # data, which generated code reads live.
        self.resolved = {}
        self.attributes = {}
        self.methods = {}

    def lookup(self, ident):
        """The live object a free name refers to, or ``_MISSING``."""
        obj = lookup_free(self.closure, self.globals, ident)
        if is_code_dependency(obj):
            self.resolved[ident] = obj
        return obj

    def note_attribute(self, ident, path, obj):
        """``ident.path`` (a free name's attribute chain) resolved to ``obj``."""
        if is_code_dependency(obj):
            self.attributes[(ident, tuple(path))] = obj

    def note_method(self, cls, name, obj):
        """The method ``name`` of user class ``cls`` resolved to ``obj``."""
        self.methods[(cls, name)] = obj

    def error(self, node, message, hint=None, construct=None):
        lineno = getattr(node, "lineno", None)
        col = getattr(node, "col_offset", None)
        line = None
        if lineno is not None:
            line = linecache.getline(self.filename, lineno).rstrip("\n") or None
        return CompileError(message, self.filename, lineno, col, line=line,
                            hint=hint, construct=construct)


def lookup_free(closure, globals_, ident):
    """A free name as Python resolves it: closure cell, module global,
    builtin; ``_MISSING`` if unbound."""
    cell = closure.get(ident)
    if cell is not None:
        try:
            return cell.cell_contents
        except ValueError:
            return _MISSING
    if ident in globals_:
        return globals_[ident]
    builtins_ns = globals_.get("__builtins__", builtins)
    if not isinstance(builtins_ns, dict):           # the module (in __main__)
        builtins_ns = getattr(builtins_ns, "__dict__", {})
    return builtins_ns.get(ident, _MISSING)


def is_code_dependency(obj):
    """Whether compiled code depends on which object ``obj`` is (functions,
    classes, modules, unbound names) rather than reading it live (data)."""
    return obj is _MISSING or callable(obj) or inspect.ismodule(obj)


def unwrap(fn):
    """The plain Python function behind decorators we know of."""
    seen = set()
    while id(fn) not in seen:
        seen.add(id(fn))
        if isinstance(fn, functools.partial):
            raise TypeError(
                "ad_compiler cannot differentiate a functools.partial object; "
                "differentiate the underlying function and pass the fixed "
                "arguments explicitly")
        break
    if inspect.ismethod(fn):
        fn = fn.__func__
    # (AD_COMPILER_CHECK: generated code checked against its unoptimized
    # form is transformed as the optimized code, see ad_compiler/check.py)
    return getattr(fn, "__ad_checked__", (fn,))[0]


def parse_function(fn):
    """Parse ``fn`` into a gast FunctionDef with absolute line numbers."""
    if not inspect.isfunction(fn):
        raise TypeError(
            f"ad_compiler differentiates Python functions defined with 'def'; "
            f"got {type(fn).__name__} {fn!r}")
    code = fn.__code__
    filename = code.co_filename
    try:
        # from the code object: inspect would follow ``__wrapped__`` from a
        # decorator's wrapper to the function it wraps, which is not what runs
        lines, start = inspect.getsourcelines(code)
    except (OSError, TypeError) as exc:
        raise CompileError(
            f"cannot read the source of function '{fn.__name__}' "
            f"(defined in {filename!r}): {exc}",
            filename, code.co_firstlineno, 0,
            hint="ad_compiler transforms source code: define the function in "
                 "a .py file (or a notebook cell) instead of with exec() or "
                 "at the interactive prompt",
            construct="missing source") from None
    src = textwrap.dedent("".join(lines))
    try:
        module = gast.parse(src)
    except SyntaxError as exc:
        raise CompileError(
            f"cannot parse the source of '{fn.__name__}': {exc.msg}",
            filename, start + (exc.lineno or 1) - 1, 0,
            hint="if the file was edited after it was imported, reload the module",
            construct="source") from None
    gast.increment_lineno(module, start - 1)
    node = module.body[0]
    if source_changed(code, lines):
        raise CompileError(
            f"the source of '{fn.__name__}' in {filename} is not the code that runs: "
            f"the file was edited after it was imported",
            filename, start, 0, line=lines[0].rstrip("\n") if lines else None,
            hint="reload the module (importlib.reload) or re-run the cell that "
                 "defines the function, then differentiate it again",
            construct="stale source")
    if isinstance(node, gast.AsyncFunctionDef):
        raise CompileError(f"cannot differentiate async function "
                           f"'{fn.__name__}'", filename, node.lineno,
                           node.col_offset, construct="async def")
    if not isinstance(node, gast.FunctionDef):
        raise CompileError(
            f"'{fn.__name__}' is not defined by a plain 'def' statement "
            f"(lambdas are not supported as the differentiated function)",
            filename, start, 0, construct="lambda",
            hint="write the function with 'def'")
    # The decorators of this 'def' ran when it was defined; ``fn`` is what
    # they returned with this code (a wrapper is transformed as itself).
    node.decorator_list = []
    return FunctionInfo(fn, node, filename, lines)


_FUTURE_FLAGS = 0
for _feature in __future__.all_feature_names:
    _FUTURE_FLAGS |= getattr(__future__, _feature).compiler_flag
_CHECKED = weakref.WeakKeyDictionary()     # code -> (text, changed?)


def source_changed(code, lines):
    """Whether ``lines``, the text ``inspect`` read for ``code``, are no
    longer what ``code`` was compiled from (the file was edited after the
    import).  The text is compiled again inside ``def``/``class`` statements
    reproducing the function's nesting (its qualified name) so that free
    variables and name mangling compile the same way, and the two code
    objects are compared without their line numbers; text that compiles
    but no longer defines the function has changed too.  (Cached per code
    object and text: ``tangent_names`` and callers parse the same function
    again.)  When this cannot be
    done (no ``co_qualname`` before Python 3.11, a name that is not a plain
    nesting), nothing is reported."""
    qualname = getattr(code, "co_qualname", None)
    filename = code.co_filename
    if qualname is None or filename.startswith("<") or not os.path.isfile(filename):
        return False       # not read from a file that can change on disk
    text = "".join(lines)
    hit = _CHECKED.get(code)
    if hit is not None and hit[0] == text:
        return hit[1]
    twin = _recompile(code, qualname, lines)
    changed = twin is _NOT_FOUND or (twin is not None and _fingerprint(twin) != _fingerprint(code))
    _CHECKED[code] = (text, changed)
    return changed


def _recompile(code, qualname, lines):
    parts = qualname.split(".")
    if any(not p.isidentifier() for p in parts if p != "<locals>"):
        return None
    first = lines[0]
    indent = first[:len(first) - len(first.lstrip())]
    # one header per enclosing def/class, indented 0, 1, 2... spaces, and
    # the lines themselves unchanged (so string constants stay the same)
    enclosing = [(p, i + 1 < len(parts) and parts[i + 1] == "<locals>")
                 for i, p in enumerate(parts[:-1]) if p != "<locals>"]
    if not enclosing and indent:
        enclosing = [("1", None)]           # 'if 1:' for an indented def
    if len(indent) < len(enclosing):
        return None
    innermost = max((j for j, (_, is_def) in enumerate(enclosing) if is_def), default=None)
    free = [v for v in code.co_freevars if v != "__class__"]
    header = []
    for j, (part, is_def) in enumerate(enclosing):
        header.append(" " * j + (f"def {part}():" if is_def else
                                 "if 1:" if is_def is None else f"class {part}:"))
        if j == innermost and free:
            # the free variables: locals of the innermost enclosing function
            pad = indent if j == len(enclosing) - 1 else " " * (j + 1)
            header.append(f"{pad}{', '.join(free)} = {', '.join(['None'] * len(free))}")
    text = "".join(h + "\n" for h in header) + "".join(lines)
    try:
        module = compile(text, code.co_filename, "exec",
                         flags=code.co_flags & _FUTURE_FLAGS, dont_inherit=True)
    except (SyntaxError, ValueError):
        return None
    stack = [module]
    while stack:
        c = stack.pop()
        if c.co_qualname == qualname and c.co_name == code.co_name:
            # it must be the text's own def, starting on its first line
            return c if c.co_firstlineno == len(header) + 1 else _NOT_FOUND
        stack.extend(k for k in c.co_consts if inspect.iscode(k))
    return _NOT_FOUND      # the text no longer defines the function


_NOT_FOUND = object()


def _fingerprint(code):
    """A code object without its line and column numbers, and with method
    loads in one spelling (CPython compiles ``np.sum(x)`` as a plain
    attribute load when ``np`` is imported in the same file, which the
    function's text alone does not show)."""
    instructions = list(dis.get_instructions(code))
    kept = [ins for ins in instructions if ins.opname not in _NOISE]
    index = {}                 # offset -> position of the next kept instruction
    position = len(kept)
    for ins in reversed(instructions):
        if ins.opname not in _NOISE:
            position -= 1
        index[ins.offset] = position
    ops = []
    for ins in kept:
        name = _SAME_OP.get(ins.opname, ins.opname)
        if ins.opcode in dis.hasjrel or ins.opcode in dis.hasjabs:
            arg = index.get(ins.argval)
        else:
            arg = _constant(ins.argval)
        ops.append((name, arg))
    consts = tuple(_fingerprint(c) if inspect.iscode(c) else _constant(c)
                   for c in code.co_consts)
    return (tuple(ops), code.co_names, code.co_varnames, code.co_freevars,
            code.co_cellvars, code.co_argcount, code.co_posonlyargcount,
            code.co_kwonlyargcount, consts)


def _constant(c):
    if inspect.iscode(c):
        return "<code>"
    if isinstance(c, (tuple, frozenset)):   # (a frozenset's order is per run)
        items = [_constant(v) for v in c]
        return (type(c).__name__, tuple(sorted(items, key=repr) if isinstance(c, frozenset)
                                        else items))
    return (type(c).__name__, repr(c))


_SAME_OP = {"LOAD_METHOD": "LOAD_ATTR"}
# instructions whose presence depends on the above or on jump distances
_NOISE = {"PUSH_NULL", "EXTENDED_ARG", "NOP", "CACHE"}
