"""The fence: refuse, up front, syntax the compiler does not differentiate.

Every refusal is a ``CompileError`` at the user's own line, naming the
construct and saying what to do instead.  What passes the fence is handled
by ``normalize`` (or is proven inactive later and passed through).
"""
import builtins

import gast

from ad_compiler.transforms import nodes

_REFUSED_STMTS = {
    gast.Try: ("try", "a 'try' statement",
               "move the try/except outside the differentiated function"),
    gast.With: ("with", "a 'with' block",
                "move the with-block outside the differentiated function"),
    gast.AsyncWith: ("async with", "an 'async with' block", None),
    gast.AsyncFor: ("async for", "an 'async for' loop", None),
    gast.AsyncFunctionDef: ("async def", "an async function", None),
    gast.Global: ("global", "a 'global' statement",
                  "pass the value as an argument and return the new value"),
    gast.Nonlocal: ("nonlocal", "a 'nonlocal' statement",
                    "pass the value as an argument and return the new value"),
    gast.Delete: ("del", "a 'del' statement", "remove the del statement"),
    gast.ClassDef: ("class", "a class definition inside the function",
                    "define the class at module level"),
    gast.FunctionDef: ("def", "a nested function definition",
                       "define the helper at module level (nested functions "
                       "are not supported yet)"),
    gast.Import: ("import", "an import inside the function",
                  "import at module level"),
    gast.ImportFrom: ("import", "an import inside the function",
                      "import at module level"),
}
if hasattr(gast, "Match"):
    _REFUSED_STMTS[gast.Match] = ("match", "a 'match' statement",
                                  "use if/elif instead")
if hasattr(gast, "TryStar"):
    _REFUSED_STMTS[gast.TryStar] = ("try", "a 'try' statement", None)

_REFUSED_EXPRS = {
    gast.Yield: ("yield", "a generator ('yield')",
                 "return a list or an array instead of yielding values"),
    gast.YieldFrom: ("yield from", "a generator ('yield from')",
                     "return a list or an array instead"),
    gast.Await: ("await", "'await'", None),
    gast.NamedExpr: (":=", "an assignment expression (':=')",
                     "assign the value in a statement of its own"),
}

_REFUSED_CALLS = {
    "exec": "exec() runs code the compiler cannot see",
    "eval": "eval() runs code the compiler cannot see",
    "globals": "globals() exposes the namespace",
    "locals": "locals() exposes the namespace",
    "vars": "vars() exposes the namespace",
    "compile": "compile() builds code the compiler cannot see",
}


def check(info, lookup):
    """Raise CompileError for the first unsupported construct in ``info``."""
    fn = info.node
    for stmt in fn.body:
        if isinstance(stmt, gast.FunctionDef):
            # a local helper: inlined at its calls by normalize (which checks
            # it); its own body must pass the fence too
            for inner in stmt.body:
                _check(info, inner, lookup)
            continue
        _check(info, stmt, lookup)


def _check(info, node, lookup):
    generated = info.filename.startswith("<ad_compiler")
    for sub in nodes.walk(node):
        if generated and isinstance(sub, gast.Delete):
            continue  # generated code frees temporaries; normalize drops it
        spec = _REFUSED_STMTS.get(type(sub)) or _REFUSED_EXPRS.get(type(sub))
        if spec is not None:
            construct, what, hint = spec
            raise info.error(sub, f"cannot differentiate {what}", hint=hint,
                             construct=construct)
        if isinstance(sub, (gast.For, gast.While)) and sub.orelse:
            raise info.error(
                sub, f"cannot differentiate a '{'for' if isinstance(sub, gast.For) else 'while'}' loop with an 'else' clause",
                hint="use a flag variable set before 'break' instead of 'else'",
                construct="loop else")
        if isinstance(sub, gast.Call) and isinstance(sub.func, gast.Name):
            ident = sub.func.id
            if ident in _REFUSED_CALLS and lookup(ident) is getattr(builtins, ident):
                raise info.error(sub, f"cannot differentiate a call to {ident}(): "
                                 f"{_REFUSED_CALLS[ident]}",
                                 hint="compute the value outside the function and "
                                      "pass it in", construct=ident)
        if isinstance(sub, (gast.Assign, gast.For)):
            targets = sub.targets if isinstance(sub, gast.Assign) else [sub.target]
            for t in targets:
                for part in nodes.walk(t):
                    if isinstance(part, gast.Starred):
                        raise info.error(part, "cannot differentiate a starred "
                                         "assignment target ('a, *b = ...')",
                                         hint="index the sequence explicitly",
                                         construct="starred assignment")
