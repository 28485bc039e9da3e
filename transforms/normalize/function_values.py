"""Function values: a call of a name or entry that holds a function the
program text determines (a parameter's default ``act=np.tanh``, a local
bound once ``f = np.sin``, ``ACTS['relu']``) is specialized to that
function, with a check when the code runs that it still holds it
(``ad.check_function``).  Also the classes of user objects reached
through attributes (``self.layers[i].forward(x)``).

>>> from ad_compiler.transforms.normalize.demo import show
>>> show('''
... def f(x, act=np.tanh):
...     return act(x)
... ''', lambda n, fn, body: n._function_parameters(fn) + n._block(body))  # doctest: +ELLIPSIS
def f(x, act=np.tanh):
    ad.check_function(act, tanh, ..., '<demo>', 1, 0)
    t1 = act(x)
    return t1
"""
import inspect

import gast

from ad_compiler import runtime
from ad_compiler.transforms import annotations, nodes
from ad_compiler.transforms.annotations import Key
from ad_compiler.transforms.frontend import parse
from ad_compiler.transforms.normalize.common import _NO_CONSTANT


class FunctionValues:
    def _function_of(self, node, depth=0):
        """The function a callee expression holds when it can be told from
        the program text: a local bound once (at the top of the body) to a
        function (``f = np.sin``), an entry with a constant key of a global
        dict or list of functions (``ACTS['relu']``) or of a local dict or
        list display bound once; None otherwise (and for plain global names,
        which the resolver handles)."""
        if depth > 8:
            return None
        if isinstance(node, gast.Name):
            if node.id not in self.locals or node.id in self.local_fns \
                    or node.id in self.resolve.types:
                return None
            checked = self._checked_functions().get(node.id)
            if checked is not None:
                return checked
            value = self._single_binding(node.id)
            if value is None:
                return None
            if isinstance(value, gast.Name) and value.id in self.locals:
                return self._function_of(value, depth + 1)
            if self._is_static_ref(value):
                obj = self.resolve(value)
                return obj if parse.is_function_value(obj) else None
            return self._function_of(value, depth + 1)
        if not isinstance(node, gast.Subscript):
            return None
        key, base = self._constant_of(node.slice), node.value
        if key is _NO_CONSTANT:
            return None
        if self._is_static_ref(base):
            container = self.resolve(base)
            if not isinstance(container, (dict, list, tuple)):
                return None
            try:
                obj = container[key]
            except (KeyError, IndexError, TypeError):
                return None
            return obj if parse.is_function_value(obj) else None
        if not isinstance(base, gast.Name) or base.id not in self.locals:
            return None
        display = self._single_binding(base.id)
        entry = None
        if isinstance(display, gast.Dict):
            for k, v in zip(display.keys, display.values):
                if isinstance(k, gast.Constant) and k.value == key and type(k.value) is type(key):
                    entry = v
        elif isinstance(display, (gast.List, gast.Tuple)) and type(key) is int \
                and -len(display.elts) <= key < len(display.elts) \
                and not any(isinstance(e, gast.Starred) for e in display.elts):
            entry = display.elts[key]
        if entry is None:
            return None
        # (a lambda in the display is made again by the generated code: not
        # the function its own code makes; a local def is, see
        # _extract_local_functions)
        if isinstance(entry, gast.Name) and entry.id in self.local_fns:
            fdef = self.local_fns[entry.id]
            return self._code_function(annotations.get(fdef, Key.LAMBDA, fdef))[0]
        if self._is_static_ref(entry):
            obj = self.resolve(entry)
            return obj if parse.is_function_value(obj) else None
        return None


    def _object_class(self, node, depth=0):
        """The user class of the object an expression holds, from the
        attribute structure of the arguments (``types`` entries such as
        ``self.layer`` and ``self.layers[]``, see parse.attribute_types):
        ``self.layer``, ``self.layers[i]``, a local bound once to one of
        them, a ``for`` target over ``self.layers``; None when unknown."""
        types = self.resolve.types
        if depth > 8:
            return None
        key = self._attribute_key(node)
        if key is not None:
            cls = types.get(key)
            return cls if isinstance(cls, type) else None
        if not isinstance(node, gast.Name) or node.id not in self.locals:
            return None
        value = self._single_binding(node.id)
        if value is not None:
            return self._object_class(value, depth + 1)
        self._single_binding("")          # (computes the counts)
        if self._binding_counts.get(node.id) != 1:
            return None
        for loop in nodes.walk(self.info.node):
            if not isinstance(loop, gast.For):
                continue
            target, it = loop.target, loop.iter
            if isinstance(it, gast.Call) and self._is_builtin(it.func, "enumerate") \
                    and len(it.args) == 1 and isinstance(target, gast.Tuple) \
                    and len(target.elts) == 2:
                target, it = target.elts[1], it.args[0]
            if nodes.is_name(target, node.id):
                key = self._attribute_key(it)
                cls = types.get(key + "[]") if key is not None else None
                return cls if isinstance(cls, type) else None
        return None


    def _bind_object_class(self, name, node, cls):
        """``name`` holds the object ``node`` holds, of class ``cls``: its
        attribute structure too (``self.head.inner`` -> ``t1.inner``)."""
        types = self.resolve.types
        key = self._attribute_key(node)
        types[name] = cls
        if key is None or key == name:
            return
        for path, c in list(types.items()):
            if isinstance(path, str) and path.startswith((key + ".", key + "[")):
                types.setdefault(name + path[len(key):], c)


    def _attribute_key(self, node, stored=False):
        """``self.layer`` -> "self.layer", ``self.layers[i]`` ->
        "self.layers[]" for a parameter ``self`` holding a user object;
        None for a path (or a part of it) the function stores into."""
        if not hasattr(self, "_stored_paths"):
            # attributes the function stores (self.layer = other): not resolved
            self._stored_paths, self._stored_paths_ready = set(), False
            self._stored_paths = {
                self._attribute_key(n, stored=True) for n in nodes.walk(self.info.node)
                if isinstance(n, (gast.Attribute, gast.Subscript))
                and isinstance(n.ctx, (gast.Store, gast.Del))}
            self._stored_paths_ready = True
        if isinstance(node, gast.Name):
            key = node.id if isinstance(self.resolve.types.get(node.id), type) else None
            value = self._single_binding(node.id) if key is None and \
                node.id in self.locals else None
            if isinstance(value, (gast.Attribute, gast.Subscript)):
                key = self._attribute_key(value)        # lay = net.layer
        elif isinstance(node, gast.Attribute):
            base = self._attribute_key(node.value)
            key = None if base is None else f"{base}.{node.attr}"
        elif isinstance(node, gast.Subscript):
            base = self._attribute_key(node.value)
            key = None if base is None else f"{base}[]"
        else:
            key = None
        if key is not None and self._stored_paths_ready and not stored and any(
                p is not None and (key == p or key.startswith((p + ".", p + "[")))
                for p in self._stored_paths):
            return None
        return key


    def _checked_functions(self):
        """Names checked by ``ad.check_function(name, f, ...)`` statements of
        the function's body (generated code transformed again: hessian)
        -> the function they are checked to hold."""
        if not hasattr(self, "_checked"):
            self._checked = {}
            for st in self.info.node.body:
                call = st.value if isinstance(st, gast.Expr) else None
                if isinstance(call, gast.Call) and len(call.args) >= 2 \
                        and isinstance(call.args[0], gast.Name) \
                        and self.resolve(call.func) is runtime.check_function:
                    obj = self.resolve(call.args[1])
                    if obj is not None:
                        self._checked[call.args[0].id] = obj
        return self._checked


    def _constant_of(self, node):
        """The str/int key of ``acts[key]`` when the text tells it: a
        constant, a local bound once to one, a module-level constant, a
        parameter's default (the call is checked when it runs, so a key
        that differs then is refused, not followed)."""
        if isinstance(node, gast.Constant):
            value = node.value
        elif isinstance(node, gast.Name) and node.id in self.locals:
            value = self._single_binding(node.id)
            if isinstance(value, gast.Constant):
                value = value.value
            else:
                value = _NO_CONSTANT
                for a, d in zip(self.info.node.args.args[::-1],
                                self.info.node.args.defaults[::-1]):
                    if a.id == node.id and isinstance(d, gast.Constant):
                        value = d.value
        elif isinstance(node, gast.Name):
            value = self.resolve(node)
        else:
            return _NO_CONSTANT
        return value if type(value) in (str, int) else _NO_CONSTANT


    def _single_binding(self, name):
        """The value of ``name = value`` when that is a statement of the
        function's body (not nested) and the only binding of the name."""
        if not hasattr(self, "_top_bindings"):
            counts = {}
            for n in nodes.walk(self.info.node):
                if isinstance(n, gast.Name) and isinstance(n.ctx, (gast.Store, gast.Param)):
                    counts[n.id] = counts.get(n.id, 0) + 1
            self._binding_counts = counts
            self._top_bindings = {
                st.targets[0].id: st.value for st in self.info.node.body
                if isinstance(st, gast.Assign) and len(st.targets) == 1
                and isinstance(st.targets[0], gast.Name) and counts.get(st.targets[0].id) == 1}
        return self._top_bindings.get(name)


    def _function_parameters(self, fn):
        """Parameters holding functions: specialized to the function the
        compile was given (``types``, from the call) or, when called in the
        body, to a function default (``act=np.tanh``) with a check at entry
        that the call did not pass another one.  A parameter the body
        rebinds is not specialized."""
        types = self.resolve.types
        stored = {n.id for n in nodes.walk(fn) if isinstance(n, gast.Name)
                  and isinstance(n.ctx, (gast.Store, gast.Del))}
        for p in [p for p, v in types.items() if isinstance(v, parse.FunctionValue)]:
            if p in stored:
                del types[p]
        try:
            sig = inspect.signature(self.info.fn, follow_wrapped=False)
        except (TypeError, ValueError):
            return []
        called = {n.func.id for n in nodes.walk(fn)
                  if isinstance(n, gast.Call) and isinstance(n.func, gast.Name)}
        out = []
        for p, param in sig.parameters.items():
            if p in types or p in stored or p not in called \
                    or not parse.is_function_value(param.default):
                continue
            out.append(self._function_guard(p, param.default, fn,
                                            f"the parameter '{p}'", "its default"))
        return out


    def _function_guard(self, name, obj, node, what, why):
        """Specialize calls of local ``name`` to function ``obj``, with a
        check that it holds ``obj`` when the code runs."""
        self.resolve.types[name] = parse.FunctionValue(obj)
        shown = getattr(obj, "__name__", "the function")
        msg = (f"{what} was differentiated as {shown} ({why}), but here it is {{got}}")
        base = parse.display_name(obj)
        ref = self.inject(base if base != "lambda" else "lambda_", obj)
        return nodes.located(gast.Expr(value=nodes.call(
            nodes.attr(nodes.name(self.inject("ad", runtime)), "check_function"),
            [nodes.name(name), nodes.name(ref), nodes.const(msg),
             nodes.const(self.info.filename), nodes.const(node.lineno),
             nodes.const(node.col_offset)])), node)
