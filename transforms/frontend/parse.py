"""Parse and resolve: from a live Python function to a gast tree.

* the source comes from ``inspect``; line numbers are made absolute in the
  user's file so every later error points at the user's real line;
* the function's namespace (closure cells, module globals, builtins) is
  captured so that callee expressions such as ``np.linalg.norm`` resolve to
  live objects at compile time, while the generated code keeps reading the
  user's globals and closure cells live at run time.
"""
import __future__
import ast
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
from ad_compiler.transforms import nodes

_MISSING = object()


class FunctionInfo:
    """A user function, parsed, with where it came from and what it sees."""

    def __init__(self, fn, node, filename, source_lines):
        self.fn = fn
        self.node = node                      # gast.FunctionDef, absolute lines
        self.filename = filename
        self.source_lines = source_lines
        self.display_name = display_name(fn)   # generated code: grad_<name>
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
    if isinstance(fn, functools.partial):
        fn = partial_function(fn)
    if inspect.ismethod(fn):
        fn = fn.__func__
    if inspect.isfunction(fn) and "__ad_checkpoint__" in fn.__dict__:
        fn = fn.__ad_checkpoint__       # checkpoint(f) differentiated itself: f
    # (AD_COMPILER_CHECK: generated code checked against its unoptimized
    # form is transformed as the optimized code, see ad_compiler/check.py)
    return getattr(fn, "__ad_checked__", (fn,))[0]


_PARTIALS = weakref.WeakKeyDictionary()    # partial object -> its function
_PARTIAL_MAKERS = {}                        # text -> (filename, factory)


def partial_function(p):
    """A plain function doing what ``functools.partial`` object ``p`` does,
    with its remaining parameters (as ``inspect.signature(p)`` shows them)::

        def loss(w, *, X=<fixed>, y=<fixed>):
            return loss(w, X=X, y=y)

    ``loss`` in the body is a closure cell holding ``p.func`` (for a bound
    method, its function, with the object in a cell of its own), fixed
    positional arguments are cells too; the text is registered with
    ``linecache`` so it can be parsed like any function.  One code object
    per shape of partial (the function's name, parameters and which
    arguments are fixed): partials made again with new values (in a
    training loop) share compiled code."""
    try:
        hit = _PARTIALS.get(p)
    except TypeError:
        hit = None
    if hit is not None:
        return hit
    func, args, keywords = p.func, tuple(p.args), dict(p.keywords)
    while isinstance(func, functools.partial):        # (subclasses are not flattened)
        args = tuple(func.args) + args
        keywords = {**func.keywords, **keywords}
        func = func.func
    if not callable(func):
        raise TypeError(f"functools.partial of a non-callable {type(func).__name__}")
    try:
        sig = inspect.signature(p)
        inner = inspect.signature(func)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"cannot read the signature of the functools.partial object "
                        f"{p!r}: {exc}") from None
    name = display_name(func)
    if name == "lambda":
        name = "partial_lambda"
    params = list(sig.parameters.values())
    taken = {q.name for q in params} | set(keywords) | {name, "_make"}
    free = {}                              # closure variable -> value

    def cell(base, value):
        ident = base
        k = 1
        while ident in taken or ident in free or not ident.isidentifier():
            ident = f"{base}{k}"
            k += 1
        free[ident] = value
        return ident

    callee = func
    lead = []
    if inspect.ismethod(func):
        callee = func.__func__
        first = next(iter(inspect.signature(callee).parameters), "self")
        lead.append(cell(first, func.__self__))
    fname = cell("func", callee)
    # fixed positional arguments, named after the parameters they fill
    inner_params = [q for q in inner.parameters.values()
                    if q.kind in (q.POSITIONAL_ONLY, q.POSITIONAL_OR_KEYWORD)]
    for i, a in enumerate(args):
        lead.append(cell(inner_params[i].name if i < len(inner_params) else f"arg{i}", a))
    call = list(lead)
    empty = inspect.Parameter.empty
    for q in params:
        if q.kind in (q.POSITIONAL_ONLY, q.POSITIONAL_OR_KEYWORD):
            call.append(q.name)
        elif q.kind is q.VAR_POSITIONAL:
            call.append("*" + q.name)
        elif q.kind is q.KEYWORD_ONLY:
            call.append(f"{q.name}={q.name}")
        else:
            call.append("**" + q.name)
    stub = sig.replace(parameters=[q.replace(annotation=empty,
                                             default=None if q.default is not empty else empty)
                                   for q in params], return_annotation=empty)
    header = f"def {name}{stub}:"
    text = (f"def _make({', '.join(free)}):\n"
            f"    {header}\n"
            f"        return {fname}({', '.join(call)})\n"
            f"    return {name}\n")
    made = _PARTIAL_MAKERS.get(text)
    if made is None:
        filename = f"<functools.partial of {name} #{len(_PARTIAL_MAKERS) + 1}>"
        lines = text.splitlines(True)
        linecache.cache[filename] = (len(text), None, lines, filename)
        ns = {}
        exec(compile(text, filename, "exec"), ns)    # noqa: S102 (our own text)
        made = _PARTIAL_MAKERS[text] = ns["_make"]
    out = made(*free.values())
    out.__defaults__ = tuple(q.default for q in params
                             if q.kind in (q.POSITIONAL_ONLY, q.POSITIONAL_OR_KEYWORD)
                             and q.default is not empty) or None
    out.__kwdefaults__ = {q.name: q.default for q in params
                          if q.kind is q.KEYWORD_ONLY and q.default is not empty} or None
    out.__qualname__ = getattr(func, "__qualname__", name)
    out.__module__ = getattr(func, "__module__", None)
    out.__doc__ = getattr(func, "__doc__", None)
    out.__ad_partial__ = (func, args, keywords)
    try:
        _PARTIALS[p] = out
    except TypeError:
        pass
    return out


# code -> (linecache entry of its file when parsed, FunctionInfo): a compile
# parses its function several times (the parse pass, forward mode's tangent
# names, callers' checks of argument mutations and returned sequences)
_PARSED = weakref.WeakKeyDictionary()


def parse_function(fn):
    """Parse ``fn`` into a gast FunctionDef with absolute line numbers.

    The parse is cached per code object, and used again while the file's
    ``linecache`` entry is the one it was read from (``linecache.checkcache``
    drops the entry of a file edited on disk, as ``inspect`` does when it
    reads the source): each call returns a fresh copy of the tree, in a
    ``FunctionInfo`` of its own for ``fn``."""
    if not inspect.isfunction(fn):
        raise TypeError(
            f"ad_compiler differentiates Python functions defined with 'def'; "
            f"got {type(fn).__name__} {fn!r}")
    code = fn.__code__
    filename = code.co_filename
    hit = _PARSED.get(code)
    if hit is not None:
        linecache.checkcache(filename)
        if linecache.cache.get(filename) is hit[0]:
            return _info_from(fn, *hit[1:])
    info = _parse_function(fn)
    entry = linecache.cache.get(filename)
    if entry is not None and len(entry) == 4:      # (not a lazy entry)
        # (the parts only: the function, its globals and cells are not kept)
        _PARSED[code] = (entry, nodes.copy_node(info.node), info.filename,
                         info.source_lines, info.display_name,
                         getattr(info, "col_shift", None))
    return info


def _info_from(fn, node, filename, source_lines, display, col_shift):
    """A FunctionInfo of ``fn`` with a copy of a cached parse."""
    out = FunctionInfo(fn, nodes.copy_node(node), filename, source_lines)
    if fn.__code__.co_name == "<lambda>":
        out.node.name = fn.__name__         # (as _parse_lambda names it)
        out.display_name = display
    if col_shift is not None:
        out.col_shift = col_shift
    return out


def _parse_function(fn):
    code = fn.__code__
    filename = code.co_filename
    if code.co_name == "<lambda>":
        return _parse_lambda(fn)
    try:
        # from the code object: inspect would follow ``__wrapped__`` from a
        # decorator's wrapper to the function it wraps, which is not what runs
        lines, start = inspect.getsourcelines(code)
    except (OSError, TypeError) as exc:
        raise _no_source(fn, exc) from None
    src = textwrap.dedent("".join(lines))
    col_shift = len(lines[0]) - len(src.splitlines(True)[0]) if lines and src else 0
    try:
        module = nodes.parse(src)
    except SyntaxError as exc:
        raise CompileError(
            f"cannot parse the source of '{fn.__name__}': {exc.msg}",
            filename, start + (exc.lineno or 1) - 1, 0,
            hint="if the file was edited after it was imported, reload the module",
            construct="source") from None
    nodes.increment_lineno(module, start - 1)
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
    info = FunctionInfo(fn, node, filename, lines)
    info.col_shift = col_shift      # columns of the tree + col_shift: the file's
    return info


class FunctionValue:
    """A function passed as an argument (``apply(np.tanh, x)``, a default
    ``act=np.tanh``), known when compiling: the code is specialized to it
    (an entry of the compile's ``types``, beside classes of user objects),
    so ``act(x)`` differentiates as ``np.tanh(x)``.  Equal by identity."""

    __slots__ = ("obj",)

    def __init__(self, obj):
        self.obj = obj

    def __eq__(self, other):
        return isinstance(other, FunctionValue) and other.obj is self.obj

    def __hash__(self):
        return id(self.obj)

    def __lt__(self, other):          # (types are sorted tuples of pairs)
        return id(self.obj) < id(getattr(other, "obj", other))

    def __repr__(self):
        return f"FunctionValue({getattr(self.obj, '__name__', self.obj)!r})"


def is_function_value(obj):
    """Whether ``obj`` is a function a call can be specialized to: a Python
    function, a builtin or NumPy function, a ufunc (not a class, not an
    object with a ``__call__``)."""
    import numpy
    return (inspect.isfunction(obj) or inspect.isbuiltin(obj)
            or isinstance(obj, numpy.ufunc)
            or type(obj).__name__ == "_ArrayFunctionDispatcher")


def nested_code(code, node, col_shift=0):
    """The code object, among those nested in ``code``, of the local
    ``def`` or lambda ``node`` (a gast node with absolute positions), or
    None: matched by name, first line, parameters and, for lambdas, the
    columns its instructions come from."""
    is_lambda = isinstance(node, gast.Lambda)
    name = "<lambda>" if is_lambda else node.name
    a = node.args
    params = [x.id for x in a.posonlyargs + a.args]
    if a.vararg is not None:
        params.append("*" + a.vararg.id)
    params += [x.id for x in a.kwonlyargs]
    if a.kwarg is not None:
        params.append("**" + a.kwarg.id)
    found, stack = [], [code]
    while stack:
        c = stack.pop()
        for k in c.co_consts:
            if not inspect.iscode(k):
                continue
            stack.append(k)
            if k.co_name == name and k.co_firstlineno == node.lineno and _code_params(k) == params:
                found.append(k)
    if is_lambda and len(found) > 1 and getattr(node.body, "end_lineno", None) is not None:
        # (the tree's columns are those of the dedented text)
        found = [k for k in found if _positions(k)
                 and all(_contains(node.body, (a, c - col_shift, b, d - col_shift))
                         for a, c, b, d in _positions(k))]
    return found[0] if len(found) == 1 else None


_MADE = weakref.WeakKeyDictionary()       # code -> function made from it


def function_from_code(code, globals_, defaults=None):
    """A function of a nested code object that reads no enclosing variable
    (no free variables), made once per code object: a local def or lambda
    passed as a value is specialized to it."""
    if code.co_freevars:
        return None
    made = _MADE.get(code)
    if made is None or made.__defaults__ != defaults:
        import types
        made = types.FunctionType(code, globals_, code.co_name, defaults)
        made.__qualname__ = getattr(code, "co_qualname", code.co_name)
        _MADE[code] = made
    return made


def _is_user_object(v):
    import numbers
    import numpy
    return not isinstance(v, (numpy.ndarray, numpy.generic, numbers.Number, str, bytes,
                              dict, list, tuple, set, frozenset, type(None), slice, range,
                              type)) \
        and not callable(v) and not inspect.ismodule(v) \
        and type(v).__module__ not in ("builtins", "numpy")


def attribute_types(name, obj, depth=2, limit=32):
    """(path, class) for the attributes of user object ``obj`` (argument
    ``name``) that are user objects themselves (``self.layer`` ->
    ``("self.layer", Dense)``) or lists/tuples of objects of one user class
    (``("self.layers[]", Dense)``), ``depth`` levels deep, so that
    ``self.layer.forward(x)`` and ``self.layers[i].forward(x)`` resolve (the
    code is compiled per such structure)."""
    out = []
    attrs = getattr(obj, "__dict__", None)
    if depth <= 0 or not isinstance(attrs, dict):
        return out
    for key, v in attrs.items():
        if len(out) >= limit or not isinstance(key, str):
            break
        path = f"{name}.{key}"
        if _is_user_object(v):
            out.append((path, type(v)))
            out += attribute_types(path, v, depth - 1, limit - len(out))
        elif isinstance(v, (list, tuple)) and v and len({type(e) for e in v}) == 1 \
                and _is_user_object(v[0]):
            out.append((path + "[]", type(v[0])))
    return out


def display_name(fn):
    """The identifier generated code is named after (``grad_<name>``,
    ``<name>_fwd``): the function's name, ``lambda`` for a lambda."""
    name = getattr(fn, "__name__", "f")
    return name if name.isidentifier() else "lambda"


def missing_source(fn):
    """The CompileError for a function whose source cannot be read at all
    (typed at the prompt before Python 3.13, made by exec or ``python -c``),
    found cheaply (no parse), or None."""
    filename = fn.__code__.co_filename
    if filename.startswith("<") and filename.endswith(">") and not linecache.getlines(filename):
        return _no_source(fn, None)
    return None


def _no_source(fn, exc):
    code = fn.__code__
    filename = code.co_filename
    what = "lambda" if code.co_name == "<lambda>" else f"function '{fn.__name__}'"
    if filename in ("<stdin>", "<console>") or filename.startswith(
            ("<python-input", "<ipython-input")):
        where = "typed at the interactive prompt"
    elif filename == "<string>":
        where = "made by exec() or python -c"
    else:
        where = f"in {filename}" + (f": {exc}" if exc is not None else "")
    return CompileError(
        f"cannot read the source of the {what} ({where})",
        filename, code.co_firstlineno, 0,
        hint="ad_compiler transforms source code: define the function in "
             "a .py file or a notebook cell (on Python 3.13+ the interactive "
             "prompt works too)",
        construct="missing source")


_FILE_TREES = {}        # filename -> (text, ast.Module) of the files lambdas come from


def _file_tree(fn, lines):
    """The whole file ``fn`` comes from, parsed (cached per text)."""
    filename = fn.__code__.co_filename
    text = "".join(lines)
    hit = _FILE_TREES.get(filename)
    if hit is not None and hit[0] == text:
        return hit[1]
    try:
        tree = ast.parse(text, filename)
    except (SyntaxError, ValueError) as exc:
        raise CompileError(
            f"cannot parse the source of the lambda: {getattr(exc, 'msg', exc)}",
            filename, getattr(exc, "lineno", None) or fn.__code__.co_firstlineno, 0,
            hint="if the file was edited after it was imported, reload the module",
            construct="source") from None
    if len(_FILE_TREES) >= 16:
        _FILE_TREES.pop(next(iter(_FILE_TREES)))
    _FILE_TREES[filename] = (text, tree)
    return tree


def _ast_params(lam):
    a = lam.args
    names = [x.arg for x in a.posonlyargs + a.args]
    if a.vararg is not None:
        names.append("*" + a.vararg.arg)
    names += [x.arg for x in a.kwonlyargs]
    if a.kwarg is not None:
        names.append("**" + a.kwarg.arg)
    return names


def _code_params(code):
    n = code.co_argcount + code.co_kwonlyargcount
    names = list(code.co_varnames[:n])
    extra = list(code.co_varnames[n:])
    if code.co_flags & inspect.CO_VARARGS:
        names.insert(code.co_argcount, "*" + extra.pop(0))
    if code.co_flags & inspect.CO_VARKEYWORDS:
        names.append("**" + extra.pop(0))
    return names


def _positions(code):
    """(line, col, end line, end col) of the code's instructions, from
    ``co_positions`` (Python 3.11+, unless disabled by -X no_debug_ranges)."""
    out = set()
    for ins in dis.get_instructions(code):
        pos = getattr(ins, "positions", None)
        if ins.opname == "RESUME" or pos is None or pos.col_offset is None \
                or pos.lineno is None or (pos.lineno, pos.col_offset) == (
                    pos.end_lineno, pos.end_col_offset):
            continue            # (no location: an empty span at column 0)
        out.add((pos.lineno, pos.col_offset, pos.end_lineno, pos.end_col_offset))
    return out


def _contains(node, pos):
    line, col, end_line, end_col = pos
    return ((node.lineno, node.col_offset) <= (line, col)
            and (end_line, end_col) <= (node.end_lineno, node.end_col_offset))


def _parse_lambda(fn):
    """A lambda: found in its file by its code object (first line,
    parameters and, where several match, the columns its instructions
    come from), and made a FunctionDef ``def <lambda>(...): return body``.

    Only the top-level statements around the lambda's line are parsed
    (``_statements_around``) when that finds one lambda whose text compiles
    to the lambda's code; anything else (no such statements, several or no
    lambdas, text that cannot be checked or has changed) is decided on the
    whole file, as the refusals below need."""
    code = fn.__code__
    filename = code.co_filename
    line = code.co_firstlineno
    try:
        lines, _ = inspect.findsource(code)
    except (OSError, TypeError) as exc:
        raise _no_source(fn, exc) from None
    params = _code_params(code)
    tree = _statements_around(lines, line)
    found = _lambdas_at(tree, code, params) if tree is not None else []
    if len(found) != 1 or _lambda_changed(code, lines, found[0]) is not False:
        tree = _file_tree(fn, lines)
        found = _lambdas_at(tree, code, params)
    text = lines[line - 1].rstrip("\n") if line <= len(lines) else None
    if len(found) > 1:
        raise CompileError(
            f"cannot tell which of the {len(found)} lambdas with parameters "
            f"({', '.join(params)}) on line {line} is the one to differentiate",
            filename, line, 0, line=text,
            hint="give the lambda a name with 'def', or put it on a line of its own",
            construct="lambda")
    if not found:
        raise CompileError(
            "the source of the lambda in {} is not the code that runs: line {} has no "
            "lambda with parameters ({})".format(filename, line, ", ".join(params)),
            filename, line, 0, line=text,
            hint="reload the module (importlib.reload) or re-run the cell that "
                 "defines the lambda, then differentiate it again",
            construct="stale source")
    lam = found[0]
    segment = lines[lam.lineno - 1:lam.end_lineno]
    if _lambda_changed(code, lines, lam):
        raise CompileError(
            f"the source of the lambda in {filename} is not the code that runs: "
            f"the file was edited after it was imported",
            filename, line, 0, line=text,
            hint="reload the module (importlib.reload) or re-run the cell that "
                 "defines the lambda, then differentiate it again",
            construct="stale source")
    glam = gast.ast_to_gast(lam)
    body = nodes.located(gast.Return(value=glam.body), glam.body)
    node = nodes.located(nodes.function_def(fn.__name__, glam.args, [body]), glam)
    info = FunctionInfo(fn, node, filename, segment)
    info.display_name = _assigned_name(tree, lam) or "lambda"
    return info


def _statements_around(lines, line):
    """The top-level statements of a file holding its line ``line``, parsed
    alone (line numbers as in the file), or None.  They start on a line
    beginning in column 0 at or above ``line`` and end before such a line
    below it; a try that does not parse (the start was inside a bracket or
    a string, or the end cut a statement) moves the start up or the end
    down, a few times."""
    if not 0 < line <= len(lines):
        return None

    def top(i):         # a line that can start a top-level statement
        c = lines[i][:1]
        return c != "" and not c.isspace() and c not in "#)]}" and not (
            i > 0 and lines[i - 1].rstrip("\r\n").endswith("\\"))

    starts = (i for i in range(line - 1, -1, -1) if top(i))
    ends = (i for i in range(line, len(lines)) if top(i))
    start, end = next(starts, None), next(ends, len(lines))
    for _ in range(8):
        if start is None:
            return None
        try:
            return ast.parse("\n" * start + "".join(lines[start:end]))
        except (SyntaxError, ValueError) as exc:
            # a bracket or string left open, or an error at the chunk's end:
            # take in more below, else above
            message = str(getattr(exc, "msg", ""))
            if end < len(lines) and "unmatched" not in message and (
                    "never closed" in message or "unterminated" in message
                    or (getattr(exc, "lineno", None) or 0) >= end):
                end = next(ends, len(lines))
            else:
                start = next(starts, None)
    return None


def _lambdas_at(tree, code, params):
    """The lambdas of ``tree`` on the code's first line with its parameters
    (where several match, those holding the columns its instructions come
    from, innermost)."""
    line = code.co_firstlineno
    found = [n for n in _nodes_on_line(tree, line) if isinstance(n, ast.Lambda)
             and n.lineno == line and _ast_params(n) == params]
    if len(found) > 1:
        positions = _positions(code)
        if positions:
            found = [n for n in found if all(_contains(n.body, p) for p in positions)]
            # a lambda inside the body of another: the innermost
            found = [n for n in found
                     if not any(m is not n and _contains(n, (m.lineno, m.col_offset,
                                                              m.end_lineno, m.end_col_offset))
                                for m in found)]
    return found


def _nodes_on_line(tree, line):
    """The nodes of ``tree`` whose lines include ``line`` (and nodes without
    line numbers on the way), in ``ast.walk`` order: a walk that skips the
    statements and expressions elsewhere in the file."""
    todo = [tree]
    out = []
    i = 0
    while i < len(todo):
        node = todo[i]
        i += 1
        first = getattr(node, "lineno", None)
        if first is not None:
            # (a def's or class's decorators are above its first line)
            first = min([first] + [d.lineno for d in getattr(node, "decorator_list", ())])
            if not first <= line <= (node.end_lineno or first):
                continue
        out.append(node)
        todo.extend(ast.iter_child_nodes(node))
    return out


def _assigned_name(tree, lam):
    """``sq`` for ``sq = lambda x: ...`` (a plain name bound to the lambda)."""
    for node in _nodes_on_line(tree, lam.lineno):
        if isinstance(node, ast.Assign) and node.value is lam and len(node.targets) == 1 \
                and isinstance(node.targets[0], ast.Name):
            return node.targets[0].id
        if isinstance(node, ast.AnnAssign) and node.value is lam \
                and isinstance(node.target, ast.Name):
            return node.target.id
    return None


def _lambda_changed(code, lines, lam):
    """``source_changed`` for a lambda: its text, compiled as ``_ = (lambda
    ...)`` inside its enclosing defs and classes, against its code; None
    where that cannot be told (no file, a qualified name that is not a plain
    nesting)."""
    qualname = getattr(code, "co_qualname", None)
    filename = code.co_filename
    if qualname is None or filename.startswith("<") or not os.path.isfile(filename):
        return None
    first = lines[lam.lineno - 1]
    indent = first[:len(first) - len(first.lstrip())]
    # (the text of its lines only: ast.get_source_segment splits all it is given)
    span = _Span(1, lam.col_offset, lam.end_lineno - lam.lineno + 1, lam.end_col_offset)
    segment = ast.get_source_segment("".join(lines[lam.lineno - 1:lam.end_lineno]), span)
    if segment is None:
        return None
    text = f"{indent}_ = ({segment})\n"
    hit = _CHECKED.get(code)
    if hit is not None and hit[0] == text:
        return hit[1]
    twin = _recompile(code, qualname, [text])
    changed = True if twin is _NOT_FOUND else None if twin is None else \
        not _same_code(twin, code)
    _CHECKED[code] = (text, changed)
    return changed


class _Span:
    """Where a node is, for ``ast.get_source_segment``."""

    def __init__(self, lineno, col_offset, end_lineno, end_col_offset):
        self.lineno, self.col_offset = lineno, col_offset
        self.end_lineno, self.end_col_offset = end_lineno, end_col_offset


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
    changed = twin is _NOT_FOUND or (twin is not None and not _same_code(twin, code))
    _CHECKED[code] = (text, changed)
    return changed


def _recompile(code, qualname, lines):
    parts = qualname.split(".")
    if any(not p.isidentifier() for p in parts[:-1] if p != "<locals>") or not (
            parts[-1].isidentifier() or parts[-1] == "<lambda>"):
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


def _same_code(a, b):
    """``_fingerprint(a) == _fingerprint(b)``, first tried on the raw code
    (equal bytecode, names and constants have equal fingerprints): the
    disassembly is only needed where they differ."""
    if _same_raw_code(a, b):
        return True
    return _fingerprint(a) == _fingerprint(b)


def _same_raw_code(a, b):
    if (a.co_code != b.co_code or a.co_names != b.co_names or a.co_varnames != b.co_varnames
            or a.co_freevars != b.co_freevars or a.co_cellvars != b.co_cellvars
            or a.co_argcount != b.co_argcount or a.co_posonlyargcount != b.co_posonlyargcount
            or a.co_kwonlyargcount != b.co_kwonlyargcount
            or len(a.co_consts) != len(b.co_consts)):
        return False
    for x, y in zip(a.co_consts, b.co_consts):
        if inspect.iscode(x) or inspect.iscode(y):
            if not (inspect.iscode(x) and inspect.iscode(y) and _same_raw_code(x, y)):
                return False
        elif _constant(x) != _constant(y):
            return False
    return True


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
