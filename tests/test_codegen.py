"""Generated code as loaded: ``# line N:`` comments cannot be broken out of
by line separators in the user's line, tracebacks point at the lines of
``source(df)``, and an exception raised while a derivative runs carries a
note naming the user's file and line.  Numbers are checked against central
finite differences (tests/reference.py)."""
import importlib.util
import inspect
import sys
import traceback

import numpy as np
import pytest

from ad_compiler import grad, jvp, source, vjp
from ad_compiler.transforms.backend import codegen
from tests.reference import fd_jacobian

X = np.array([0.3, -1.2, 0.7])
T = np.array([0.5, 1.0, -2.0])

# every character str.splitlines or the tokenizer may take for a line end
SEPARATORS = ["\r", "\n", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]


def close(a, b, tol=1e-6):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=tol, atol=tol)


@pytest.mark.parametrize("sep", SEPARATORS)
def test_comment_text_is_one_line(sep):
    text = f"y = x * 2.0  # a{sep}x = x * 100.0; import os"
    safe = codegen.comment_text(text)
    assert len(safe.splitlines()) == 1
    assert safe.isprintable()
    assert "x = x * 100.0; import os" in safe       # shown, escaped, not dropped
    assert codegen.comment_text("z = X @ w  # naïve, ü\t") == "z = X @ w  # naïve, ü\t"


# a user line holding a separator after which code is written, in a comment
# and in a string literal (Python sees one line; splitlines sees two)
INJECTED = '''\
import numpy as np


def f(x):
    y = x * 2.0  # note{sep}    x = x * 100.0; import os
    s = "{sep_escape}"
    return np.sum(y * y) + len(s)
'''


def _module_with(tmp_path, sep, name, in_string):
    text = INJECTED.replace("{sep}", sep)
    # (a string literal may hold the raw character unless the tokenizer
    # ends the line at it)
    text = text.replace("{sep_escape}", sep + "; x = 0" if in_string else "")
    path = tmp_path / f"{name}.py"
    path.write_bytes(text.encode("utf-8"))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("in_string", [False, True])
@pytest.mark.parametrize("sep", [s for s in SEPARATORS if s not in "\r\n"])
def test_line_separators_in_user_lines_do_not_inject_code(tmp_path, sep, in_string):
    module = _module_with(tmp_path, sep, f"injected_{ord(sep)}_{in_string}", in_string)
    ref = fd_jacobian(module.f, (X,), 0)
    close(ref, 8 * X)
    close(grad(module.f)(X), ref)
    close(jvp(module.f, (X,), (T,))[1], ref @ T)
    out, pull = vjp(module.f, X)
    close(pull(1.0)[0], ref)
    for text in (source(grad(module.f)), source(module.f, mode="fwd"),
                 source(module.f, mode="vjp")):
        compile(text, "<generated>", "exec")
        for line in text.splitlines():
            if "import os" in line:
                assert line.lstrip().startswith("#"), line
        assert "\\u" in text or "\\x" in text


def _failing(w, X):
    z = X @ w
    return np.sum(z ** 2)


def _divides(w, k):
    t = np.sum(w)
    return t / k


def _helper(w, X):
    return X @ w


def _calls_helper(w, X):
    z = _helper(w, X)
    return np.sum(z)


def _innermost(exc):
    tb = exc.__traceback__
    while tb.tb_next is not None:
        tb = tb.tb_next
    return tb


def _raise(call):
    with pytest.raises(Exception) as err:
        call()
    return err.value


@pytest.mark.parametrize("mode", ["grad", "jvp", "vjp"])
def test_traceback_lines_are_those_of_the_source(mode):
    w, bad = np.ones(3), np.ones((2, 4))
    if mode == "grad":
        g = grad(_failing)
        exc = _raise(lambda: g(w, bad))
        text = source(g)                   # (the code specialized to these shapes)
    elif mode == "jvp":
        exc = _raise(lambda: jvp(_failing, (w, bad), (w, None)))
        text = source(_failing, mode="fwd")
    else:
        exc = _raise(lambda: vjp(_failing, w, bad))
        text = None
    tb = _innermost(exc)
    generated = tb.tb_frame.f_code
    assert generated.co_filename.startswith("<ad_compiler-")
    own = inspect.getsource(generated)           # the registered text
    assert text is None or own == text
    line = own.splitlines()[tb.tb_lineno - generated.co_firstlineno]
    assert line.strip() == "z = X @ w"
    shown = "".join(traceback.format_exception(exc))
    assert "z = X @ w" in shown


@pytest.mark.skipif(sys.version_info < (3, 11), reason="exception notes are 3.11+")
def test_exceptions_in_derivatives_name_the_users_line():
    w = np.ones(3)
    line = inspect.getsourcelines(_failing)[1] + 1
    where = f"{__file__}:{line}: z = X @ w"
    exc = _raise(lambda: grad(_failing)(w, np.ones((2, 4))))
    assert isinstance(exc, ValueError)
    assert exc.__notes__ == [f"in the derivative of _failing, from {where}"]
    exc = _raise(lambda: jvp(_failing, (w, np.ones((2, 4))), (w, None)))
    assert exc.__notes__ == [f"in the derivative of _failing, from {where}"]
    # raised in the adjoint sweep
    line = inspect.getsourcelines(_divides)[1] + 2
    exc = _raise(lambda: grad(_divides)(w, 0))
    assert isinstance(exc, ZeroDivisionError)
    assert exc.__notes__ == [f"in the derivative of _divides, from the adjoint of "
                             f"{__file__}:{line}: return t / k"]
    # in a pullback
    out, pull = vjp(_divides, w, 2.0)
    with np.errstate(all="raise"):
        pass
    with pytest.raises(ValueError) as err:
        pull(np.ones(4))
    assert not getattr(err.value, "__notes__", None)   # our own check, no note
    # through a helper: one note per generated frame, outermost first
    exc = _raise(lambda: grad(_calls_helper)(w, np.ones((2, 4))))
    helper_line = inspect.getsourcelines(_helper)[1] + 1
    caller_line = inspect.getsourcelines(_calls_helper)[1] + 1
    assert exc.__notes__ == [
        f"in the derivative of _calls_helper, from {__file__}:{caller_line}: z = _helper(w, X)",
        f"in the derivative of _helper, from {__file__}:{helper_line}: return X @ w"]


def test_generated_source_is_what_inspect_and_linecache_show():
    g = grad(_failing)
    g(np.ones(3), np.ones((2, 3)))
    fn = g._compiled().function
    fn = getattr(fn, "__ad_checked__", (fn,))[0]      # (AD_COMPILER_CHECK=1)
    assert inspect.getsource(fn) == source(g)
    assert fn.__code__.co_firstlineno == 1


# --- the gast -> ast conversion of to_source ----------------------------------

_SYNTAX = '''
async def a(x, /, y=1, *args, z, w=2, **kw) -> int:
    """doc"""
    global g
    async with m as (p, q), n:
        await f(x)
    async for i in range(3):
        yield i
    return [v async for v in aiter()]


@deco(1)
def f(x: float, *, k=-1.5) -> float:
    nonlocal_like = lambda a, *b, c=3, **d: (a, b, c, d)
    try:
        y = {1: -0.0, **kw}[x] if x else {*s, 2}
    except (KeyError, ValueError) as err:
        raise RuntimeError(f"{x!r:>10} and {y}") from err
    except Exception:
        pass
    else:
        del y
    finally:
        assert x, "msg"
    for i, (j, *k) in enumerate(z):
        x += i ** -2
        x[1:2, ::3, ...] = -x[-1]
        continue
    else:
        print(x @ y, not x, x is not None, -x < y <= z, (x := 3))
    while x:
        break
    with open(p) as h, q:
        import os.path as osp
        from . import m as mm
    match x:
        case [1, *rest] | {"k": _, **r} if rest:
            pass
        case Point(x=0, y=yy) as pt:
            pass
    return (yield from g)


class C(B, metaclass=M):
    a: int = 3
    def m(self):
        return super().m(*self.args, **{'a': [i for i in range(3) if i]})
'''


def test_to_ast_is_gasts_conversion():
    """to_source's converter gives the tree gast.gast_to_ast gives (fields
    and positions), on every kind of statement and expression, and on
    generated code."""
    import ast
    import gast
    from tests.corpus import CASES
    trees = [gast.parse(_SYNTAX)]
    for name in sorted(CASES)[::7]:
        c = CASES[name]
        try:
            trees.append(gast.parse(source(c.target(), mode="vjp", wrt=tuple(c.diff))))
        except Exception:
            continue
    assert len(trees) > 10
    for tree in trees:
        ours = codegen._to_ast(tree)
        theirs = gast.gast_to_ast(tree)
        assert ast.dump(ours, include_attributes=True) == \
            ast.dump(theirs, include_attributes=True)
        assert ast.unparse(ours) == ast.unparse(theirs)


def test_negative_constants_are_parenthesized():
    import gast
    from ad_compiler.transforms import nodes
    text = codegen.to_source(gast.parse("y = -1.5 ** 2\nz = (-0.0) * x\n"))
    assert text == "y = -1.5 ** 2\nz = -0.0 * x\n"
    # (a negative constant made by a pass: a negation in parentheses)
    tree = gast.Module(body=[nodes.assign("y", nodes.binop(nodes.const(-1.5), gast.Pow(),
                                                           nodes.const(2)))],
                       type_ignores=[])
    assert codegen.to_source(tree) == "y = (-1.5) ** 2\n"
    assert eval(codegen.to_source(tree)[4:]) == 2.25


def test_parse_is_gasts_parse():
    """nodes.parse (the frontend's and the templates' parser) gives
    gast.parse's tree, positions included; nodes.increment_lineno moves
    it as gast.increment_lineno does."""
    import gast
    import tests.corpus
    from ad_compiler.transforms import nodes
    with open(tests.corpus.__file__) as f:
        corpus_text = f.read()
    for text in (_SYNTAX, corpus_text):
        ours, theirs = nodes.parse(text), gast.parse(text)
        assert gast.dump(ours, include_attributes=True) == \
            gast.dump(theirs, include_attributes=True)
        nodes.increment_lineno(ours, 41)
        gast.increment_lineno(theirs, 41)
        assert gast.dump(ours, include_attributes=True) == \
            gast.dump(theirs, include_attributes=True)


def test_blocks_left_empty_get_pass():
    import gast
    from ad_compiler.transforms import nodes
    loop = nodes.for_("i", nodes.name("r"), [nodes.if_(nodes.name("c"), [])])
    loop.body[0].body = []          # (a pass dropped every statement)
    text = codegen.to_source([loop, gast.While(test=nodes.name("c"), body=[], orelse=[])])
    assert text == "for i in r:\n    if c:\n        pass\nwhile c:\n    pass\n"
    compile(text, "<test>", "exec")
