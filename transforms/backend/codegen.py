"""From gast to Python source, and from source to a live function.

``to_source`` is the one unparser of the project (the standard library's
``ast.unparse``); it turns line markers into ``# line N: ...`` comments that
tie each block of generated code to the user's line.  ``load`` compiles the
text under a unique file name registered with ``linecache``, so tracebacks,
``inspect.getsource`` and pdb show the generated code, and builds the
function with the user's own globals dict (read live, never written) and
closure cells.
"""
import ast
import linecache
import math
import re
import types
import weakref

import gast

from ad_compiler.transforms import annotations, nodes
from ad_compiler.transforms.annotations import Key

_MARK = "__ad_comment_{}__"
_MARK_RE = re.compile(r"^(\s*)(?:'|\"\"\")__ad_comment_(\d+)__(?:'|\"\"\")$", re.M)


class Comments:
    """Line comments carried through the AST as string statements."""

    def __init__(self):
        self.texts = []

    def marker(self, text):
        self.texts.append(comment_text(text))
        return nodes.expr_stmt(nodes.const(_MARK.format(len(self.texts) - 1)))


def comment_text(text):
    """``text`` made safe to follow ``#`` on one line of generated code: every
    character that ends a line for ``str.splitlines`` or the tokenizer
    (``\\r``, ``\\x0b``, ``\\x0c``, ``\\x1c``-``\\x1e``, ``\\x85``,
    U+2028, U+2029) or is not printable (but the tab) is written as its
    escape (``\\u2028``), as ``repr`` would."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() or ch == "\t" else
                   ch.encode("unicode_escape").decode("ascii") for ch in text)


def to_source(tree, comments=None):
    """Unparse a gast tree (or a list of statements) to Python source."""
    if isinstance(tree, list):
        tree = gast.Module(body=tree, type_ignores=[])
    py = _to_ast(tree)
    _negative_constants(py)             # (and a block left empty by a pass: 'pass')
    text = ast.unparse(py)
    if comments is not None:
        texts = comments.texts
        text = _MARK_RE.sub(lambda m: f"{m.group(1)}# {texts[int(m.group(2))]}"
                            if int(m.group(2)) < len(texts) else m.group(0), text)
    return text + "\n"


def _negative_constants(py):
    """A negative number constant (passes make them: ``-1.5``, ``-0.0``) is
    written as a negation of a positive one, which ``ast.unparse`` puts in
    parentheses where precedence needs it: ``(-1.5) ** 2``, not ``-1.5 ** 2``
    (which is ``-(1.5 ** 2)``).

    Statements without a ``lineno`` get 0: ``ast.unparse`` reads no
    positions but a statement's ``lineno`` (to look up type-ignore comments,
    of which there are none), so this replaces a walk of
    ``ast.fix_missing_locations``.  A block a pass left empty gets a
    ``pass``."""
    AST, Constant, stmt = ast.AST, ast.Constant, ast.stmt
    todo = [py]
    for node in todo:
        if isinstance(node, stmt):
            if not hasattr(node, "lineno"):
                node.lineno = 0
            if isinstance(node, _BLOCKS) and not node.body:
                node.body = [ast.Pass()]
        for field in node._fields:
            value = getattr(node, field, None)
            if isinstance(value, AST):
                if type(value) is Constant and _negative(value.value):
                    setattr(node, field, _negated(value.value))
                else:
                    todo.append(value)
            elif isinstance(value, list):
                for i, v in enumerate(value):
                    if isinstance(v, AST):
                        if type(v) is Constant and _negative(v.value):
                            value[i] = _negated(v.value)
                        else:
                            todo.append(v)


_BLOCKS = (ast.For, ast.While, ast.If, ast.FunctionDef)


def _negative(v):
    return type(v) in (int, float) and (v < 0 or (v == 0 and math.copysign(1.0, v) < 0))


def _negated(v):
    return ast.UnaryOp(op=ast.USub(), operand=ast.Constant(value=-v))


def _to_ast(tree):
    return nodes.to_ast(tree)


_counter = [0]
# generated file name -> (user function name, user file name, its first
# line), while the generated code lives (for the notes on exceptions, see
# ``note_origin``, and for errors met compiling it again, ``user_origin``)
_ORIGINS = {}


def load(source, fn_name, user_fn, injected):
    """Compile ``source`` (one ``def fn_name``) into a live function.

    ``injected``: name -> object the generated code reads (numpy, the
    runtime, derivative functions of callees).  The user's closure cells are
    shared, not copied, so the generated function sees what the user's
    function sees.

    The text is registered with ``linecache`` under a unique file name and
    compiled with its own line and column numbers (the enclosing factory
    that makes the closure cells is added to the tree, not to the text), so
    tracebacks, pdb and ``inspect.getsource`` show the lines of ``source``;
    the registration is dropped when the code object dies.
    """
    _counter[0] += 1
    filename = f"<ad_compiler-{_counter[0]}:{fn_name}>"
    free = sorted(injected)
    user_free = list(user_fn.__code__.co_freevars) if user_fn is not None else []
    params = sorted(set(free) | set(user_free))
    module = ast.parse(source, filename)
    factory = ast.parse(f"def __ad_factory__({', '.join(params)}):\n"
                        f"    return {fn_name}\n").body[0]
    factory.body[:0] = module.body
    module.body = [factory]
    code = compile(module, filename, "exec")
    scratch = {}
    exec(code, scratch)
    inner = scratch["__ad_factory__"](*([None] * len(params)))
    inner_code = inner.__code__
    cells = []
    user_cells = {}
    if user_fn is not None and user_fn.__closure__:
        user_cells = dict(zip(user_fn.__code__.co_freevars, user_fn.__closure__))
    for var in inner_code.co_freevars:
        if var in injected:
            cells.append(types.CellType(injected[var]))
        else:
            cells.append(user_cells[var])
    globals_ = user_fn.__globals__ if user_fn is not None else {"__builtins__": __builtins__}
    fn = types.FunctionType(inner_code, globals_, fn_name, None, tuple(cells))
    fn.__ad_source__ = source
    fn.__ad_filename__ = filename
    fn.__ad_user_free__ = tuple(v for v in inner_code.co_freevars if v not in injected)
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    if user_fn is not None:
        _ORIGINS[filename] = (user_fn.__name__, user_fn.__code__.co_filename,
                              user_fn.__code__.co_firstlineno)
    weakref.finalize(inner_code, _forget, filename)
    return fn


def _forget(filename):
    linecache.cache.pop(filename, None)
    _ORIGINS.pop(filename, None)


def rebind(generated, user_fn):
    """``generated`` (made by ``load`` for a closure of the same code as
    ``user_fn``) reading ``user_fn``'s closure cells, globals and defaults."""
    pair = getattr(generated, "__ad_checked__", None)
    if pair is not None:        # AD_COMPILER_CHECK: both variants (ad_compiler/check.py)
        return generated.__ad_recheck__(rebind(pair[0], user_fn), rebind(pair[1], user_fn))
    pair = getattr(generated, "__ad_checked__", None)
    if pair is not None:        # AD_COMPILER_CHECK: both variants (ad_compiler/check.py)
        return generated.__ad_recheck__(*(rebind(g, user_fn) for g in pair))
    user_cells = dict(zip(user_fn.__code__.co_freevars, user_fn.__closure__ or ()))
    own = generated.__ad_user_free__
    cells = tuple(user_cells[v] if v in own else c
                  for v, c in zip(generated.__code__.co_freevars, generated.__closure__ or ()))
    fn = types.FunctionType(generated.__code__, user_fn.__globals__, generated.__name__,
                            None, cells)
    fn.__dict__.update(generated.__dict__)
    fn.__defaults__ = user_fn.__defaults__
    fn.__kwdefaults__ = dict(user_fn.__kwdefaults__) if user_fn.__kwdefaults__ else None
    return fn


_COMMENT_RE = re.compile(r"^(\s*)# (?:adjoint of )?line (\d+): ")


def note_origin(exc):
    """Add to ``exc``, raised while running generated code, a note naming
    the user's line each generated frame was computing, e.g. ``in the
    derivative of loss, from model.py:12: z = X @ w`` (from the ``# line
    N:`` comments).  Python 3.11+ (``add_note``); nothing on 3.10."""
    if not hasattr(exc, "add_note") or getattr(exc, "_ad_noted", False):
        return
    try:
        exc._ad_noted = True
    except AttributeError:
        return
    notes = []
    tb = exc.__traceback__
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        origin = _ORIGINS.get(filename)
        if origin is not None:
            where = _user_line(filename, tb.tb_lineno)
            if where is not None:
                adjoint, lineno = where
                name, user_file, _ = origin
                text = linecache.getline(user_file, lineno).strip()
                kind = "the adjoint of " if adjoint else ""
                notes.append(f"in the derivative of {name}, from {kind}"
                             f"{user_file}:{lineno}: {text}")
        tb = tb.tb_next
    for note in notes:
        exc.add_note(note)


def user_origin(filename, lineno):
    """(user file, user line) that line ``lineno`` of generated code
    ``filename`` was computing (its ``# line N:`` comment, else the first
    line of the function it came from), following generated code made from
    generated code (a derivative of a derivative: its comments name lines
    of the generated code it came from) down to the user's own file; None
    if ``filename`` is no generated code of ours."""
    seen = set()
    while filename in _ORIGINS and filename not in seen:
        seen.add(filename)
        where = _user_line(filename, lineno)
        _, source, first = _ORIGINS[filename]
        lineno = first if where is None else where[1]
        filename = source
    if not seen or filename in seen or filename.startswith("<ad_compiler"):
        return None
    return filename, lineno


def _user_line(filename, lineno):
    """(adjoint?, user line) of the ``# line N:`` comment that line
    ``lineno`` of generated code is under: the nearest one above it that is
    not indented deeper."""
    lines = linecache.getlines(filename)
    if not 0 < lineno <= len(lines):
        return None
    line = lines[lineno - 1]
    depth = len(line) - len(line.lstrip())
    for i in range(lineno - 2, -1, -1):
        m = _COMMENT_RE.match(lines[i])
        if m and len(m.group(1)) <= depth:
            return "adjoint of line" in lines[i], int(m.group(2))
    return None


def annotate(fn, filename, comments):
    """Insert ``# line N: <user source>`` comments before each group of
    statements that comes from user line N (``# adjoint of line N`` in the
    adjoint sweep)."""

    def block(stmts):
        out = []
        last = None
        for s in stmts:
            lineno = getattr(s, "lineno", None)
            kind = "adjoint of line" if annotations.get(s, Key.ADJOINT, False) else "line"
            key = (kind, lineno)
            if lineno is not None and key != last:
                text = linecache.getline(filename, lineno).strip()
                if len(text) > 70:
                    text = text[:67] + "..."
                out.append(comments.marker(f"{kind} {lineno}: {text}"))
                last = key
            note = annotations.get(s, Key.NOTE)    # a pass's remark on a statement
            if note:
                out.append(comments.marker(note))
            for field in ("body", "orelse"):
                sub = getattr(s, field, None)
                if sub and not isinstance(s, (gast.FunctionDef,)):
                    setattr(s, field, block(sub))
            out.append(s)
        return out

    fn.body = block(fn.body)
    return fn
