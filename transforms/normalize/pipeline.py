"""The normalization pipeline: ``normalize(info, namer, resolve, inject)``
runs the steps of this package's modules in order (see ``normalize``).
After it, the function is in the small grammar the AD passes read:

* ``name = op`` where ``op`` is one operation on atoms (names, constants,
  constant-rooted attributes such as ``np.pi``, tuples of atoms): a call, a
  binary/unary operation, a comparison, a subscript, an attribute, a
  tuple/list/dict display, or an opaque expression (lambda, comprehension,
  f-string) that must turn out inactive; the target never appears in ``op``;
* ``atom[index] = atom`` and ``atom.attr = atom`` stores;
* ``if name:`` and ``while name:`` (the condition is recomputed at the end of
  the body), ``for name in name:`` over a ``range`` bound to a name;
* ``break`` only as the last statement of a loop body, guarded by a flag;
  no ``continue``; a single ``return`` at the end;
* expression statements (``print(...)``), ``assert`` and ``raise`` unchanged.

Before and after (all the steps):

>>> from ad_compiler.transforms.normalize.demo import show
>>> show('''
... def f(x, n):
...     for i in range(n):
...         if np.sum(x) > 10.0:
...             break
...         x = np.sin(x) * 2.0 + x.T
...     return x.sum()
... ''')
def f(x, n):
    brk = False
    r1 = range(n)
    for i in r1:
        go = True
        t1 = np.sum(x)
        t2 = t1 > 10.0
        if t2:
            go = False
            brk = True
        if go:
            t3 = np.sin(x)
            t4 = t3 * 2.0
            t5 = x.T
            x = t4 + t5
        if brk:
            break
    t6 = x.sum()
    return t6
"""
import gast

from ad_compiler.transforms import nodes
from ad_compiler.transforms.normalize.aliasing import Aliasing
from ad_compiler.transforms.normalize.closures import Closures
from ad_compiler.transforms.normalize.anf import Anf
from ad_compiler.transforms.normalize.common import NormalizerBase
from ad_compiler.transforms.normalize.derivatives import Derivatives
from ad_compiler.transforms.normalize.early_exits import EarlyExits
from ad_compiler.transforms.normalize.function_values import FunctionValues
from ad_compiler.transforms.normalize.inline import Inline
from ad_compiler.transforms.normalize.loops import Loops
from ad_compiler.transforms.normalize.mutations import MutationGuards


class Normalizer(EarlyExits, Anf, Loops, Inline, Aliasing, Closures, Derivatives,
                 FunctionValues, MutationGuards, NormalizerBase):
    """One normalization of one function.  The steps are mixins over one
    shared state, because the ANF walk is re-entrant: it inlines local
    functions, lambdas and comprehensions at their calls (inline.py), which
    lowers the inlined body's early exits (early_exits.py) and runs ANF on
    it again, and it asks the aliasing analyses (aliasing.py) and the
    function-value resolution (function_values.py) as it goes."""


def _drop_docstring(body):
    if body and isinstance(body[0], gast.Expr) and isinstance(body[0].value, gast.Constant) \
            and isinstance(body[0].value.value, str):
        return body[1:]
    return body


def _single_exit(fn, body):
    """``fn`` with ``body``, a final ``return`` (``return None`` if the body
    has none) and no annotations."""
    if not body or not isinstance(body[-1], gast.Return):
        body.append(gast.Return(value=nodes.const(None)))
    fn.body = body
    fn.returns = None
    for a in fn.args.args + fn.args.posonlyargs + fn.args.kwonlyargs:
        a.annotation = None
    return fn


def normalize(info, namer, resolve, inject):
    """The normalized copy of ``info.node``: the steps, in order."""
    norm = Normalizer(info, namer, resolve, inject)
    fn = nodes.copy_node(info.node)
    body = _drop_docstring(fn.body)
    # map(h, xs) -> [h(v) for v in xs]                                (inline)
    body = norm._rewrite_maps(body)
    # grad(lambda v: loss(v, X))(w) -> grad(lambda_lifted)(w, X): closures
    # given to a derivative take the locals they read as parameters (closures)
    body = norm._lift_closures(body)
    # dE = grad(E): calls dE(x) call the derivative; y, pb = vjp(f, x): the
    # calls pb(v) call compose.vjp_of(f)                         (derivatives)
    body = norm._rewrite_derivative_values(body)
    # local defs and lambdas bound to a name are set aside, to be inlined at
    # their calls by ANF; used as values, they become the function their
    # code makes                                                      (inline)
    body = norm._extract_local_functions(body)
    # parameters written in place get private copies, aliased writes are
    # refused or checked at run time                                (aliasing)
    body = norm._copy_written_inputs(fn, body)
    # early return, break and continue -> flags                  (early_exits)
    body = norm._lower_returns(body)
    # function-valued parameters called in the body: specialized, with a
    # check at entry                                         (function_values)
    guards = norm._function_parameters(fn)
    # ANF: one operation per statement (anf), loops over explicit indexes
    # (loops), calls of local functions, lambdas and comprehensions inlined
    # (inline), run-time guards of in-place updates (mutations, aliasing)
    body = guards + norm._block(body)
    return _single_exit(fn, body)
