"""Closure lifting: a lambda or local ``def`` that reads variables of the
enclosing function, given to one of the API's derivative makers and called
at once (``grad(lambda v: loss(v, X, y))(w)``, ``hessian(h)(x)``) or to
``jvp`` (``jvp(lambda v: f(v, s), (x,), (t,))``, tangents None for them), becomes
a function of its own with those variables as extra trailing parameters,
passed at the call (``grad(lifted)(w, X, y)``).  The derivative of the call
then sees them as inputs, so an outer derivative with respect to ``X``
flows through the inner gradient (JAX's and autograd's closures do the
same).  Python reads a closure's variables when it is called: passing
their values at the call is the same.

Lifted: the locals of the enclosing function the closure reads, and the
enclosing function's own closure variables that hold data (numbers,
arrays, tuples or lists of them; those holding functions, classes, modules
or other objects stay closure variables): the compiled code is reused for
other closures of the same 'def', which must not read the cells of the
first.  Outermost first: the closures given to derivatives inside a lifted
closure stay in its body, where they read its parameters, and are lifted
when the derivative of the lifted function is compiled (any depth).  A
closure given to a derivative inside a local function that is not lifted
(``h = lambda b: grad(lambda c: b * c)(b)``) is a CompileError naming the
variable.  Left alone, and refused later with the reason: a function with defaults,
``*args``, keyword-only parameters or decorators; one that reads another
local function; a call with keywords or ``*args``; a derivative kept in a
name (``dh = grad(h)``); ``jvp`` with primals or tangents that are not
tuple displays; ``vjp`` of a closure.

>>> from ad_compiler.transforms.normalize.demo import show
>>> import ad_compiler
>>> show('''
... def f(w, X):
...     def loss(v):
...         return np.sum((X @ v) ** 2)
...     return grad(loss)(w) + grad(lambda v: np.sum(v * X[0]))(w)
... ''', lambda n, fn, body: n._lift_closures(body), grad=ad_compiler.grad)
def f(w, X):
<BLANKLINE>
    def loss(v):
        return np.sum((X @ v) ** 2)
    return grad(loss_lifted)(w, X) + grad(lambda_lifted)(w, X)
"""
import gast
import numpy as np

from ad_compiler.runtime import composition
from ad_compiler.transforms import nodes
from ad_compiler.transforms.backend import codegen
from ad_compiler.transforms.frontend import parse


class Closures:
    def _lift_closures(self, body):
        """``MAKER(F, **kw)(a, b)`` with ``F`` a closure over locals ``u, v``
        of this function -> ``MAKER(F_lifted, **kw)(a, b, u, v)`` (before the
        vector of ``hvp``, which comes last)."""
        local_defs = {}
        for stmt in body:
            if isinstance(stmt, gast.FunctionDef):
                local_defs[stmt.name] = stmt
            elif (isinstance(stmt, gast.Assign) and len(stmt.targets) == 1
                  and isinstance(stmt.targets[0], gast.Name)
                  and isinstance(stmt.value, gast.Lambda)):
                local_defs[stmt.targets[0].id] = stmt.value
        stores = {}
        for n in nodes.walk(self.info.node):
            if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store):
                stores[n.id] = stores.get(n.id, 0) + 1
        for n in nodes.walk(self.info.node):
            if isinstance(n, gast.FunctionDef) and n is not self.info.node:
                stores[n.name] = stores.get(n.name, 0) + 1
        normalizer = self

        def lifted_name(fn):
            """(the injected name of the lifted function, its extra
            parameters) for the closure ``fn``, or None."""
            if isinstance(fn, gast.Lambda):
                lam, label = fn, "lambda"
            elif (isinstance(fn, gast.Name) and fn.id in local_defs
                  and stores.get(fn.id) == 1):
                lam, label = local_defs[fn.id], fn.id
            else:
                return None
            lifted = normalizer._lifted_function(lam, label)
            if lifted is None:
                return None
            function, extra = lifted
            return (nodes.located(nodes.name(normalizer.inject(f"{label}_lifted", function)),
                                  fn), extra)

        class Lift(nodes.Transformer):
            # Outermost first: a closure is lifted as written, the closures
            # given to derivatives inside it left in its body, where they
            # read its parameters; lifted in turn when the derivative of the
            # lifted function is compiled (``grad(lambda b: grad(lambda c:
            # f(a, b, c))(b))(a)``, any depth).  Lifting the inner ones
            # first would leave them reading locals of the enclosing lambda.
            def visit_Call(self, node):
                if (len(node.args) == 3 and not node.keywords
                        and all(isinstance(a, gast.Tuple) for a in node.args[1:])
                        and len(node.args[1].elts) == len(node.args[2].elts)
                        and normalizer._is_static_ref(node.func)
                        and composition.is_jvp(normalizer.resolve(node.func))):
                    # jvp(F, (a,), (t,)) -> jvp(F_lifted, (a, u), (t, None))
                    lifted = lifted_name(node.args[0])
                    if lifted is None:
                        return self.generic_visit(node)
                    name, extra = lifted
                    node.args[0] = name
                    self.generic_visit(node)
                    primals, tangents = node.args[1], node.args[2]
                    node.args = [
                        name,
                        nodes.located(nodes.tuple_(
                            primals.elts + [nodes.name(v) for v in extra]), primals),
                        nodes.located(nodes.tuple_(
                            tangents.elts + [nodes.const(None) for _ in extra]), tangents)]
                    return node
                made = node.func
                if not (isinstance(made, gast.Call) and made.args
                        and not node.keywords
                        and not any(isinstance(a, gast.Starred) for a in node.args)
                        and normalizer._is_static_ref(made.func)):
                    return self.generic_visit(node)
                maker = normalizer.resolve(made.func)
                if maker is None or not composition.is_maker(maker):
                    return self.generic_visit(node)
                lifted = lifted_name(made.args[0])
                if lifted is None:
                    return self.generic_visit(node)
                made.args[0], extra = lifted
                self.generic_visit(node)
                args = list(node.args)
                at = len(args) - 1 if getattr(maker, "__name__", "") in (
                    "hvp", "hessian_vector_product") else len(args)
                args[at:at] = [nodes.located(nodes.name(v), node) for v in extra]
                node.args = args
                return node

        module = Lift().visit(gast.Module(body=body, type_ignores=[]))
        return module.body

    def _lifted_function(self, node, label):
        """(function, lifted variables) for the local def or lambda ``node``
        that reads locals of the enclosing function, or None."""
        code = parse.nested_code(self.info.fn.__code__, node,
                                 getattr(self.info, "col_shift", 0))
        if code is None:
            return None
        cells = set(self.info.fn.__code__.co_cellvars)
        outer = set(self.info.fn.__code__.co_freevars)
        between = [v for v in code.co_freevars if v not in cells and v not in outer]
        if between:
            # a variable of a def or lambda between this function and the
            # closure (the closure's own enclosing function was not lifted)
            raise self.info.error(
                node, f"cannot differentiate {'a lambda' if label == 'lambda' else repr(label)} "
                      f"given to a derivative inside another local function: it reads "
                      + ", ".join(f"'{v}'" for v in between) + " of that function",
                hint="give the enclosing lambda or def to grad/jvp/... itself, "
                     "or define the closure's function at module level",
                construct="closure")
        # the enclosing function's own closure variables holding data (not
        # functions, classes or modules, which compiling checks) are lifted
        # too: the lifted function must not keep the cells of the closure it
        # was compiled for (the code is reused for other closures of the
        # same 'def', with cells of their own)
        extra = [v for v in code.co_freevars
                 if v in cells or (v in outer and _is_data(self.info.closure.get(v)))]
        a = node.args
        if ((not extra and not code.co_cellvars) or a.vararg or a.kwarg or a.kwonlyargs or a.posonlyargs or a.defaults
                or getattr(node, "decorator_list", None)
                or any(isinstance(n, (gast.Nonlocal, gast.Global)) for n in nodes.walk(node))
                or any(self._is_local_function(v) for v in extra)):
            return None
        body = ([nodes.located(gast.Return(value=nodes.copy_node(node.body)), node)]
                if isinstance(node, gast.Lambda) else nodes.copy_node(node).body)
        params = nodes.arguments([nodes.copy_node(p) for p in a.args] + extra)
        for p in params.args:
            p.annotation = None
        name = f"{label}_lifted"
        tree = nodes.located(nodes.function_def(name, params, body), node)
        comments = codegen.Comments()
        codegen.annotate(tree, self.info.filename, comments)
        source = codegen.to_source(tree, comments)
        return codegen.load(source, name, self.info.fn, {}), extra

    def _is_local_function(self, name):
        """``name`` is bound to a def or lambda somewhere in the function."""
        for n in nodes.walk(self.info.node):
            if isinstance(n, gast.FunctionDef) and n is not self.info.node and n.name == name:
                return True
            if (isinstance(n, gast.Assign) and isinstance(n.value, gast.Lambda)
                    and any(nodes.is_name(t, name) for t in n.targets)):
                return True
        return False


def _is_data(cell):
    """A closure cell holding a number, an array or a tuple/list of them
    (or not yet bound)."""
    try:
        value = cell.cell_contents
    except (ValueError, AttributeError):
        return cell is not None
    return _data_value(value)


def _data_value(value):
    if isinstance(value, (tuple, list)):
        return all(_data_value(v) for v in value)
    return isinstance(value, (bool, int, float, complex, np.ndarray, np.generic))
