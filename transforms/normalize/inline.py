"""Inlining: local functions (``def``) and lambdas bound to a name are set aside
(``_extract_local_functions``) and inlined at their calls by the ANF walk,
with their names renamed (``h_v``, ``h_out``) and early exits of their own;
a local function used as a value (passed to a helper) must read no
variable of the enclosing function and becomes the function its code
makes.  Comprehensions become loops appending to a fresh list, and
``map(h, xs)`` a comprehension (``_rewrite_maps``, before everything else).

>>> from ad_compiler.transforms.normalize.demo import show
>>> show('''
... def f(xs):
...     def h(v):
...         return np.sin(v) * 2.0
...     return [h(v) for v in xs]
... ''', lambda n, fn, body: n._block(n._extract_local_functions(body)))
def f(xs):
    items1 = []
    seq1 = ad.as_sequence(xs)
    n1 = len(seq1)
    r1 = range(n1)
    for i1 in r1:
        v_1 = seq1[i1]
        h_v = v_1
        t1 = np.sin(h_v)
        h_out = t1 * 2.0
        t2 = ad.append(items1, h_out)
        items1 = t2
    return items1
>>> show('''
... def f(xs):
...     return list(map(lambda v: v * 2.0, xs))
... ''', lambda n, fn, body: n._rewrite_maps(body))
def f(xs):
    return list([(lambda v: v * 2.0)(item) for item in xs])
"""
import copy

import gast

from ad_compiler import runtime
from ad_compiler.transforms import annotations, nodes
from ad_compiler.transforms.annotations import Key
from ad_compiler.transforms.frontend import parse
from ad_compiler.transforms.normalize.common import local_names
from ad_compiler.transforms.normalize.mutations import _mutations_of, _user_text


class Inline:
    def _extract_local_functions(self, body):
        """Nested defs and lambdas bound to a name are inlined at their calls."""
        out = []
        for stmt in body:
            if isinstance(stmt, gast.FunctionDef):
                self._check_inlinable(stmt)
                self._local_aliases(stmt)
                self.local_fns[stmt.name] = stmt
                continue
            if (isinstance(stmt, gast.Assign) and len(stmt.targets) == 1
                    and isinstance(stmt.targets[0], gast.Name)
                    and isinstance(stmt.value, gast.Lambda)):
                fdef = self._lambda_def(stmt.value, stmt.targets[0].id)
                annotations.set(fdef, Key.LAMBDA, stmt.value)
                self._check_inlinable(fdef, stmt)
                self.local_fns[fdef.name] = fdef
                continue
            out.append(stmt)
        # a local function is inlined where it is called; used as a value
        # (passed to a helper, sorted(key=h)), it must read no variable of
        # the enclosing function: it is then the function its code makes
        for name in self.local_fns:
            called = set()
            for node in nodes.walk(gast.Module(body=out, type_ignores=[])):
                if isinstance(node, gast.Call) and nodes.is_name(node.func, name):
                    called.add(id(node.func))
            for node in nodes.walk(gast.Module(body=out, type_ignores=[])):
                if nodes.is_name(node, name) and id(node) not in called:
                    fdef = self.local_fns[name]
                    made, why = self._code_function(annotations.get(fdef, Key.LAMBDA, fdef))
                    if made is None:
                        raise self.info.error(
                            node, f"the local function '{name}' is used as a value{why}; "
                                  f"such a function can only be called directly (it is "
                                  f"then inlined)",
                            hint="pass those values as parameters, or define the function "
                                 "at module level", construct="closure")
                    annotations.set(node, Key.USER_NAME, name)
                    node.id = self.inject(name, made)
        return out


    def _code_function(self, node):
        """``(function, "")`` for a local def or lambda ``node`` that reads
        no variable of the enclosing function and has constant defaults:
        the function its code object makes (equal to the one Python makes
        at run time); else ``(None, why)``."""
        code = parse.nested_code(self.info.fn.__code__, node,
                                 getattr(self.info, "col_shift", 0))
        if code is None:
            return None, ""
        if code.co_freevars:
            return None, (" and reads " + ", ".join(f"'{v}'" for v in code.co_freevars)
                          + " of the enclosing function")
        defaults = node.args.defaults
        if not all(isinstance(d, gast.Constant) for d in defaults) or any(
                d is not None for d in node.args.kw_defaults) or getattr(
                node, "decorator_list", None):
            return None, " with defaults that are not constants (or decorators)"
        made = parse.function_from_code(code, self.info.globals,
                                        tuple(d.value for d in defaults) or None)
        return made, ""


    def _rewrite_maps(self, body):
        """``map(h, xs, ys)`` -> ``[h(a, b) for a, b in zip(xs, ys)]`` when
        ``h`` is a name, a dotted reference or a lambda (evaluated once in
        Python; here the function is called by name, so a local def or a
        lambda is inlined and a module-level function is a call)."""
        normalizer = self

        class Maps(nodes.Transformer):
            def visit_Call(self, node):
                self.generic_visit(node)
                if not (normalizer._is_builtin(node.func, "map") and len(node.args) >= 2
                        and not node.keywords
                        and not any(isinstance(a, gast.Starred) for a in node.args)):
                    return node
                fn = node.args[0]
                if not (isinstance(fn, (gast.Name, gast.Lambda))
                        or normalizer._is_static_ref(fn)):
                    return node
                its = node.args[1:]
                items = [normalizer.namer.fresh("item") for _ in its]
                target = (nodes.name(items[0], store=True) if len(items) == 1 else
                          nodes.tuple_([nodes.name(i, store=True) for i in items], store=True))
                it = its[0] if len(its) == 1 else nodes.call(normalizer._builtin("zip"), its)
                elt = nodes.located(gast.Call(func=fn, args=[nodes.name(i) for i in items],
                                              keywords=[]), node)
                comp = gast.comprehension(target=target, iter=it, ifs=[], is_async=0)
                return nodes.located(gast.ListComp(elt=elt, generators=[comp]), node)

        return [Maps().visit(stmt) for stmt in body]


    def _local_aliases(self, fdef):
        """The aliasing checks of the function body (_copy_aliased_writes),
        applied to the body of a local function with its own parameters
        (``def h(v): w = v[1:]; w[0] = e; return np.sum(v)``)."""
        params = {a.id for a in fdef.args.args}
        saved = (set(self.locals), getattr(self, "_bindings", None))
        self.locals |= params
        try:
            fdef.body = self._copy_aliased_writes(fdef.body, params)
        finally:
            self.locals, self._bindings = saved


    def _lambda_def(self, lam, name):
        fdef = nodes.function_def(name, lam.args,
                                  [nodes.located(gast.Return(value=lam.body), lam)])
        return nodes.located(fdef, lam)


    def _check_inlinable(self, fdef, where=None):
        where = where or fdef
        args = fdef.args
        if fdef.decorator_list:
            raise self.info.error(where, f"cannot differentiate the decorated local function "
                                  f"'{fdef.name}'", hint="define it at module level",
                                  construct="nested def")
        if args.vararg or args.kwarg or args.kwonlyargs or args.posonlyargs:
            raise self.info.error(where, f"cannot differentiate the local function "
                                  f"'{fdef.name}' with *args, **kwargs or keyword-only "
                                  f"parameters", hint="define it at module level",
                                  construct="nested def")
        stored = sum(1 for n in nodes.walk(self.info.node)
                     if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store)
                     and n.id == fdef.name)
        if stored > (0 if isinstance(where, gast.FunctionDef) else 1):
            raise self.info.error(where, f"the local function '{fdef.name}' is rebound; "
                                  f"cannot inline it", construct="nested def")
        for node in nodes.walk(fdef):
            if isinstance(node, gast.Call) and nodes.is_name(node.func, fdef.name):
                raise self.info.error(node, f"cannot differentiate the recursive local "
                                      f"function '{fdef.name}'",
                                      hint="define it at module level", construct="recursion")


    def _inline_call(self, fdef, call):
        """Inline a call of a local function: its body, renamed, in ANF."""
        inner = local_names(fdef)
        params = [a.id for a in fdef.args.args]
        rename = {n: self._fresh(f"{fdef.name}_{n}" if fdef.name != "lambda" else n)
                  for n in sorted(inner)}
        self.locals |= set(rename.values())

        class Renamer(nodes.Transformer):
            def visit_Name(self, node):
                if node.id in rename:
                    annotations.set(node, Key.USER_NAME,
                                    annotations.get(node, Key.USER_NAME, node.id))
                    node.id = rename[node.id]
                return node

        body = [Renamer().visit(copy.deepcopy(s)) for s in fdef.body]
        # the helper's own bindings (``w = v``), for the guards of its
        # in-place updates (_unshared_guard): a scope while its body is lowered
        scope_bindings = {}
        for node in self._bindings_of(body):
            if isinstance(node, gast.Assign) and len(node.targets) == 1 \
                    and isinstance(node.targets[0], gast.Name):
                scope_bindings.setdefault(node.targets[0].id, []).append(node)
        scope = (scope_bindings, {rename[p] for p in params if p in rename}, body)
        pre = []
        bound = {}
        if any(isinstance(a, gast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
            raise self.info.error(call, "cannot inline a call with *args/**kwargs",
                                  construct="starred call")
        for p, a in zip(params, call.args):
            bound[p] = a
        if len(call.args) > len(params):
            raise self.info.error(call, f"too many arguments for '{fdef.name}'", construct="call")
        for k in call.keywords:
            if k.arg not in params or k.arg in bound:
                raise self.info.error(call, f"bad keyword argument '{k.arg}' for '{fdef.name}'",
                                      construct="call")
            bound[k.arg] = k.value
        defaults = dict(zip(params[len(params) - len(fdef.args.defaults):], fdef.args.defaults))
        for p in params:
            value = bound.get(p, defaults.get(p))
            if value is None:
                raise self.info.error(call, f"missing argument '{p}' for '{fdef.name}'",
                                      construct="call")
            pre += self._assign([nodes.name(rename[p], store=True)], copy.deepcopy(value))
        pre += self._inline_mutation_guards(fdef, call, params, bound, defaults, rename)
        # lower the inner returns with flags of its own
        saved = (self.retval, self.ret_go)
        try:
            lowered = self._lower_returns(body)
        finally:
            self.retval, self.ret_go = saved
        result = self._fresh(f"{fdef.name}_out" if fdef.name != "lambda" else "lambda_out")
        self.locals.add(result)
        if lowered and isinstance(lowered[-1], gast.Return):
            last = lowered.pop()
            lowered.append(nodes.located(nodes.assign(
                result, last.value if last.value is not None else nodes.const(None)), last))
        else:
            lowered.append(nodes.assign(result, nodes.const(None)))
        self._inline_scopes = getattr(self, "_inline_scopes", []) + [scope]
        try:
            pre += self._block(lowered)
        finally:
            self._inline_scopes = self._inline_scopes[:-1]
        return pre, nodes.name(result)


    def _inline_mutation_guards(self, fdef, call, params, bound, defaults, rename):
        """The inlined parameter of a local function is a second name for the
        caller's argument (``h_v = y``): a write into it (``v[0] = e``,
        ``v.append(e)``, ``v.sort()``) changes the caller's object in Python
        and is refused unless the argument is a fresh array; ``v op= e`` is
        checked when the call runs, as for module-level helpers (arrays and
        lists refused, floats fine)."""
        out = []
        what = ("the lambda" if fdef.name == "lambda" else
                f"the local function '{fdef.name}'")
        for p, (kind, dunder, _, lineno) in sorted(
                _mutations_of(fdef, self.info.filename, None).items()):
            if p not in rename:
                continue
            value = bound.get(p, defaults.get(p))
            if kind == "write" and not self._allocates(value) and self._alias_roots(value):
                                raise self.info.error(
                    call, f"{what} writes into its parameter '{p}' in place (line {lineno}), "
                    f"which here is '{_user_text(value)}': Python would change it, and the "
                    f"inlined code would not follow the change",
                    hint=f"return the new value from {fdef.name} and assign it here, or "
                         f"pass a copy ({_user_text(value)}.copy())",
                    construct="argument mutation")
            if kind == "update" and self._alias_roots(value):
                                out.append(nodes.located(self._update_guard(
                    rename[p], dunder, call, what, p, f"line {lineno}",
                    shown=_user_text(value)), call))
        return out


    def _comprehension(self, expr):
        """[f(x) for x in xs if c(x)] -> a loop that appends to a fresh list."""
        rename = {}
        for gen in expr.generators:
            for n in nodes.walk(gen.target):
                if isinstance(n, gast.Name):
                    rename.setdefault(n.id, self._fresh(n.id))
        self.locals |= set(rename.values())

        class Renamer(nodes.Transformer):
            def visit_Name(self, node):
                if node.id in rename:
                    annotations.set(node, Key.USER_NAME,
                                    annotations.get(node, Key.USER_NAME, node.id))
                    node.id = rename[node.id]
                return node

        expr = copy.deepcopy(expr)
        gens = expr.generators
        first_iter = gens[0].iter          # evaluated in the enclosing scope
        expr = Renamer().visit(expr)
        gens = expr.generators
        gens[0].iter = first_iter
        result = self._temp("items")
        self.locals.add(result)
        self.inject("ad", runtime)
        inner = [nodes.located(gast.Expr(value=nodes.call(
            nodes.attr(nodes.name(result), "append"), [expr.elt])), expr)]
        for gen in reversed(gens):
            if getattr(gen, "is_async", 0):
                raise self.info.error(expr, "cannot differentiate an async comprehension",
                                      construct="async")
            for cond in reversed(gen.ifs):
                inner = [nodes.located(nodes.if_(cond, inner), expr)]
            inner = [nodes.located(gast.For(target=gen.target, iter=gen.iter, body=inner,
                                            orelse=[], type_comment=None), expr)]
        stmts = [nodes.located(nodes.assign(result, gast.List(elts=[], ctx=gast.Load())), expr)] + inner
        return self._block(stmts), nodes.name(result)


    def _functions_passed(self, expr):
        """A lambda passed to a user function (``apply(lambda v: v**2, x)``)
        is the function its code makes when it reads no local variable, so
        that the helper is compiled for it (compiler._argument_types)."""
        if not any(isinstance(a, gast.Lambda) for a in expr.args) and not any(
                isinstance(k.value, gast.Lambda) for k in expr.keywords):
            return expr
        if self._callee_of(expr, expr)[0] is None:
            return expr

        def made(value):
            if isinstance(value, gast.Lambda):
                fn, _ = self._code_function(value)
                if fn is not None:
                    return nodes.located(nodes.name(self.inject("lambda_", fn)), value)
            return value
        return nodes.located(gast.Call(func=expr.func, args=[made(a) for a in expr.args],
                                       keywords=[gast.keyword(arg=k.arg, value=made(k.value))
                                                 for k in expr.keywords]), expr)
