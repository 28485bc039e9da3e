"""Derivatives held in local names, when every use calls them:
``dE = grad(energy)`` (arguments known when compiling) is made now and
the calls ``dE(x)`` call it by a global name; ``y, pb = vjp(f, a)``
becomes ``y = f(a)`` with the arguments kept in names, and the calls
``pb(v)`` call ``vjp_of(f)((a,), v)`` (ad_compiler.compose).  Anything
else (a pullback stored or returned) is left alone and refused where a
derivative reaches it.  The API's makers (grad, vjp...) and ``vjp_of`` are
reached through ``runtime.composition``, which ad_compiler.compose fills
when it is imported: the transforms never import the API.

>>> from ad_compiler.transforms.normalize.demo import show
>>> import ad_compiler
>>> show('''
... def energy(x):
...     return np.sum(x ** 2)
...
... def f(x):
...     dE = grad(energy)
...     y, pb = vjp(energy, x)
...     return dE(x) + pb(1.0)
... ''', lambda n, fn, body: n._rewrite_derivative_values(body), grad=ad_compiler.grad, vjp=ad_compiler.vjp)
def f(x):
    pb_a0 = x
    y = energy(pb_a0)
    return grad_energy(x) + vjp_energy((pb_a0,), 1.0)
"""
import gast

from ad_compiler.runtime import composition
from ad_compiler.transforms import nodes
from ad_compiler.transforms.ad.ops import describe


class Derivatives:
    def _rewrite_derivative_values(self, body):
        """Derivatives held in local names, when every use calls them:

        * ``dE = grad(energy)`` (made from what is known when compiling):
          the calls ``dE(x)`` call the derivative itself;
        * ``y, pb = vjp(f, a, b)``: ``pb_a, pb_b = a, b`` and ``y = f(a, b)``;
          the calls ``pb(v)`` become calls of ``vjp_of(f)((pb_a, pb_b), v)``,
          a derivative with its arguments in view (ad_compiler.compose).

        Anything else (a pullback stored, returned, or made from a local
        function) is left alone, and refused where a derivative reaches it."""
        module = gast.Module(body=body, type_ignores=[])
        stores, callee_loads, loads = {}, {}, {}
        for n in nodes.walk(module):
            if isinstance(n, gast.Name):
                if isinstance(n.ctx, gast.Store):
                    stores[n.id] = stores.get(n.id, 0) + 1
                elif isinstance(n.ctx, gast.Load):
                    loads[n.id] = loads.get(n.id, 0) + 1
            if isinstance(n, gast.Call) and isinstance(n.func, gast.Name):
                one_arg = len(n.args) == 1 and not n.keywords \
                    and not isinstance(n.args[0], gast.Starred)
                callee_loads.setdefault(n.func.id, []).append(one_arg)
        params = {a.id for a in self.info.node.args.args + self.info.node.args.posonlyargs
                  + self.info.node.args.kwonlyargs if isinstance(a, gast.Name)}

        def only_called(name, one_arg=False):
            uses = callee_loads.get(name, [])
            return (stores.get(name) == 1 and name not in params
                    and len(uses) == loads.get(name, 0) and (all(uses) or not one_arg))

        made = {}      # local name -> (derivative's global name, argument aliases)
        normalizer = self

        def visit_block(stmts):
            out = []
            for stmt in stmts:
                for field in ("body", "orelse"):
                    if isinstance(getattr(stmt, field, None), list) and \
                            not isinstance(stmt, (gast.FunctionDef, gast.Lambda)):
                        setattr(stmt, field, visit_block(getattr(stmt, field)))
                out += rewrite(stmt)
            return out

        def rewrite(stmt):
            if not (isinstance(stmt, gast.Assign) and len(stmt.targets) == 1
                    and isinstance(stmt.value, gast.Call)):
                return [stmt]
            target, call = stmt.targets[0], stmt.value
            if isinstance(target, gast.Name) and only_called(target.id):
                d = normalizer._static_derivative(call) \
                    if normalizer._is_static_ref(call.func) else None
                if d is not None:
                    made[target.id] = (normalizer.inject(
                        normalizer._derivative_name(call), d), None)
                    return []
            if not (isinstance(target, gast.Tuple) and len(target.elts) == 2
                    and isinstance(target.elts[1], gast.Name)
                    and normalizer._is_static_ref(call.func)
                    and composition.is_vjp(normalizer.resolve(call.func)) and call.args
                    and not call.keywords
                    and not any(isinstance(a, gast.Starred) for a in call.args)
                    and only_called(target.elts[1].id, one_arg=True)):
                return [stmt]
            f = call.args[0]
            fobj = normalizer.resolve(f) if normalizer._is_static_ref(f) else None
            if fobj is None:
                return [stmt]
            pb = target.elts[1].id
            aliases = [normalizer._fresh(f"{pb}_a{i}") for i in range(len(call.args) - 1)]
            new = [nodes.located(nodes.assign(a, v), stmt)
                   for a, v in zip(aliases, call.args[1:])]
            value = gast.Call(func=f, args=[nodes.name(a) for a in aliases], keywords=[])
            new.append(nodes.located(gast.Assign(targets=[target.elts[0]], value=value,
                                                 type_comment=None), stmt))
            name = getattr(f, "id", None) or getattr(f, "attr", "f")
            made[pb] = (normalizer.inject(f"vjp_{name}", composition.vjp_of(fobj)), aliases)
            return new

        body = visit_block(list(body))
        if not made:
            return body

        class Calls(nodes.Transformer):
            def visit_Call(self, node):
                self.generic_visit(node)
                if isinstance(node.func, gast.Name) and node.func.id in made:
                    name, aliases = made[node.func.id]
                    node.func = nodes.located(nodes.name(name), node.func)
                    if aliases is not None:   # vjp_of(f)((pb_a, pb_b), v)
                        node.args = [nodes.located(gast.Tuple(
                            elts=[nodes.name(a) for a in aliases], ctx=gast.Load()),
                            node)] + list(node.args)
                return node
        module = Calls().visit(gast.Module(body=body, type_ignores=[]))
        return module.body


    def _static_derivative(self, call):
        """``grad(f, wrt=1)`` (or another function of the API) called with
        arguments known when compiling: the derivative it returns, else
        None."""
        if not self._is_static_ref(call.func):
            return None
        maker = self.resolve(call.func)
        if maker is None or not composition.is_maker(maker):
            return None

        def value(n):
            if isinstance(n, gast.Constant):
                return n.value
            if isinstance(n, (gast.Tuple, gast.List)):
                return tuple(value(e) for e in n.elts)
            if isinstance(n, (gast.Name, gast.Attribute)) and self._is_static_ref(n):
                obj = self.resolve(n)
                if obj is not None:
                    return obj
            raise LookupError
        try:
            args = [value(a) for a in call.args]
            kw = {k.arg: value(k.value) for k in call.keywords if k.arg is not None}
        except LookupError:
            return None
        if len(kw) != len(call.keywords):
            return None
        made = self.__dict__.setdefault("_made", {})
        if id(call) not in made:
            try:
                made[id(call)] = (call, maker(*args, **kw))
            except (TypeError, ValueError) as exc:
                raise self.info.error(call, f"{describe(call)}: {exc}") from None
        return made[id(call)][1]


    @staticmethod
    def _derivative_name(call):
        base = getattr(call.func, "attr", None) or getattr(call.func, "id", "d")
        inner = call.args[0] if call.args else None
        inner = getattr(inner, "id", None) or getattr(inner, "attr", None)
        return f"{base}_{inner}" if inner else base
