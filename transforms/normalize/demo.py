"""The driver of this package's doctests: parse a function from source
text and run one normalization step on it (``show``), or all of them
(``show(source)``), printing the result with ``to_source``.  A step is ``step(normalizer,
fn, body) -> body``; the identity only parses and prints:

>>> show('''
... def f(x):
...     return np.sin(x) ** 2
... ''', lambda n, fn, body: body)
def f(x):
    return np.sin(x) ** 2
"""
import linecache
import textwrap

import gast
import numpy

from ad_compiler import runtime
from ad_compiler.transforms import names, nodes
from ad_compiler.transforms.ad import ops
from ad_compiler.transforms.backend.codegen import to_source
from ad_compiler.transforms.frontend import parse
from ad_compiler.transforms.normalize.common import local_names
from ad_compiler.transforms.normalize.pipeline import Normalizer, normalize


def show(source, step=None, **env):
    """Print the last function ``source`` defines, normalized (``step``
    None) or after ``step(normalizer, fn, body) -> body`` alone (``fn`` is
    a copy of the parsed function, ``body`` its statements).  The source's
    globals are NumPy as ``np``, the runtime as ``ad`` and ``env``."""
    fn, _ = normalized(source, step, **env)
    print(to_source(fn), end="")


def normalized(source, step=None, **env):
    """(tree, namespace) of ``show``: the normalized function and the
    globals its code reads (the source's and the injected names)."""
    source = textwrap.dedent(source).lstrip("\n")
    filename = "<demo>"
    lines = source.splitlines(True)
    linecache.cache[filename] = (len(source), None, lines, filename)
    glb = {"np": numpy, "ad": runtime, **env}
    exec(compile(source, filename, "exec"), glb)
    fns = [s for s in gast.parse(source).body if isinstance(s, gast.FunctionDef)]
    info = parse.parse_function(glb[fns[-1].name])
    namer = names.Namer(names.all_identifiers(info.node))
    locals_ = local_names(info.node)
    injected = {}

    def inject(ident, obj):
        """The name generated code reads ``obj`` under (``np``, ``ad``...)."""
        for name, have in injected.items():
            if have is obj:
                return name
        user = parse.lookup_free(info.closure, info.globals, ident)
        if ident in injected or (ident in namer.taken and not (
                user is obj and ident not in locals_)):
            ident = namer.fresh(ident)
        namer.reserve(ident)
        injected[ident] = obj
        return ident

    resolve = ops.Resolver(info, locals_, injected)
    if step is None:
        fn = normalize(info, namer, resolve, inject)
    else:
        norm = Normalizer(info, namer, resolve, inject)
        fn = nodes.copy_node(info.node)
        fn.body = step(norm, fn, fn.body)
    return fn, {**glb, **injected}
