"""Parse and resolve: from a live Python function to a gast tree.

* the source comes from ``inspect``; line numbers are made absolute in the
  user's file so every later error points at the user's real line;
* the function's namespace (closure cells, module globals, builtins) is
  captured so that callee expressions such as ``np.linalg.norm`` resolve to
  live objects at compile time, while the generated code keeps reading the
  user's globals and closure cells live at run time.
"""
import builtins
import functools
import inspect
import linecache
import textwrap

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

    def lookup(self, ident):
        """The live object a free name refers to, or ``_MISSING``."""
        cell = self.closure.get(ident)
        if cell is not None:
            try:
                return cell.cell_contents
            except ValueError:
                return _MISSING
        if ident in self.globals:
            return self.globals[ident]
        builtins_ns = self.globals.get("__builtins__", builtins)
        if isinstance(builtins_ns, dict):
            return builtins_ns.get(ident, _MISSING)
        return getattr(builtins_ns, ident, _MISSING)

    def error(self, node, message, hint=None, construct=None):
        lineno = getattr(node, "lineno", None)
        col = getattr(node, "col_offset", None)
        line = None
        if lineno is not None:
            line = linecache.getline(self.filename, lineno).rstrip("\n") or None
        return CompileError(message, self.filename, lineno, col, line=line,
                            hint=hint, construct=construct)


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
    return fn


def parse_function(fn):
    """Parse ``fn`` into a gast FunctionDef with absolute line numbers."""
    if not inspect.isfunction(fn):
        raise TypeError(
            f"ad_compiler differentiates Python functions defined with 'def'; "
            f"got {type(fn).__name__} {fn!r}")
    code = fn.__code__
    filename = code.co_filename
    try:
        lines, start = inspect.getsourcelines(fn)
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
            construct="source") from None
    gast.increment_lineno(module, start - 1)
    node = module.body[0]
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
    # Decorators are the user's business: we transform the undecorated body.
    node.decorator_list = []
    return FunctionInfo(fn, node, filename, lines)
