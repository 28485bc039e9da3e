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
import re
import types

import gast

from ad_compiler.transforms import nodes

_MARK = "__ad_comment_{}__"
_MARK_RE = re.compile(r"^(\s*)(?:'|\"\"\")__ad_comment_(\d+)__(?:'|\"\"\")$", re.M)


class Comments:
    """Line comments carried through the AST as string statements."""

    def __init__(self):
        self.texts = []

    def marker(self, text):
        self.texts.append(text)
        return nodes.expr_stmt(nodes.const(_MARK.format(len(self.texts) - 1)))


def to_source(tree, comments=None):
    """Unparse a gast tree (or a list of statements) to Python source."""
    if isinstance(tree, list):
        tree = gast.Module(body=tree, type_ignores=[])
    for node in gast.walk(tree):       # a block left empty by a pass: 'pass'
        if isinstance(node, (gast.For, gast.While, gast.If, gast.FunctionDef)) and not node.body:
            node.body = [gast.Pass()]
    py = gast.gast_to_ast(tree)
    ast.fix_missing_locations(py)
    text = ast.unparse(py)
    if comments is not None:
        text = _MARK_RE.sub(lambda m: f"{m.group(1)}# {comments.texts[int(m.group(2))]}", text)
    return text + "\n"


_counter = [0]


def load(source, fn_name, user_fn, injected):
    """Compile ``source`` (one ``def fn_name``) into a live function.

    ``injected``: name -> object the generated code reads (numpy, the
    runtime, derivative functions of callees).  The user's closure cells are
    shared, not copied, so the generated function sees what the user's
    function sees.
    """
    _counter[0] += 1
    filename = f"<ad_compiler-{_counter[0]}:{fn_name}>"
    free = sorted(injected)
    user_free = list(user_fn.__code__.co_freevars) if user_fn is not None else []
    params = sorted(set(free) | set(user_free))
    indented = "\n".join(("    " + line) if line else line for line in source.splitlines())
    factory_src = (f"def __ad_factory__({', '.join(params)}):\n{indented}\n"
                   f"    return {fn_name}\n")
    lines = factory_src.splitlines(True)
    linecache.cache[filename] = (len(factory_src), None, lines, filename)
    code = compile(factory_src, filename, "exec")
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
    return fn


def annotate(fn, filename, comments):
    """Insert ``# line N: <user source>`` comments before each group of
    statements that comes from user line N (``# adjoint of line N`` in the
    adjoint sweep)."""

    def block(stmts):
        out = []
        last = None
        for s in stmts:
            lineno = getattr(s, "lineno", None)
            kind = "adjoint of line" if getattr(s, "_ad_adjoint", False) else "line"
            key = (kind, lineno)
            if lineno is not None and key != last:
                text = linecache.getline(filename, lineno).strip()
                if len(text) > 70:
                    text = text[:67] + "..."
                out.append(comments.marker(f"{kind} {lineno}: {text}"))
                last = key
            for field in ("body", "orelse"):
                sub = getattr(s, field, None)
                if sub and not isinstance(s, (gast.FunctionDef,)):
                    setattr(s, field, block(sub))
            out.append(s)
        return out

    fn.body = block(fn.body)
    return fn
