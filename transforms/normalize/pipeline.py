"""The normalization pipeline: ``normalize(info, namer, resolve, inject)``
runs the steps of the modules of this package in order (see ``normalize``).

PLACEHOLDER
"""
import gast

from ad_compiler.transforms import nodes
from ad_compiler.transforms.normalize.aliasing import Aliasing
from ad_compiler.transforms.normalize.anf import Anf
from ad_compiler.transforms.normalize.common import NormalizerBase
from ad_compiler.transforms.normalize.derivatives import Derivatives
from ad_compiler.transforms.normalize.early_exits import EarlyExits
from ad_compiler.transforms.normalize.function_values import FunctionValues
from ad_compiler.transforms.normalize.inline import Inline
from ad_compiler.transforms.normalize.loops import Loops
from ad_compiler.transforms.normalize.mutations import MutationGuards


class Normalizer(EarlyExits, Anf, Loops, Inline, Aliasing, Derivatives, FunctionValues,
                 MutationGuards, NormalizerBase):
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
