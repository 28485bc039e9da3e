"""Aliasing: in-place writes must not reach memory the derivative code does
not follow.  A parameter written in place gets a private copy
(``x = ad.copy_input(x)``), and so does a name written in place after it
was bound to a value the function did not allocate (``W = params["W"]``);
a parameter changed in place is checked at entry against the others
(``ad.check_param_unshared``: ``f(A, A)``).  A write through one of two
names for the same memory that the other would see is refused (at
compile time when certain: ``y = z; y += 1.0``) or checked at run time
(``ad.check_not_aliased``, ``ad.check_unshared``).  The analyses here
(``_alias_roots``, ``_allocates``...) also serve the ANF walk.

>>> from ad_compiler.transforms.normalize.demo import show
>>> show('''
... def f(x, params):
...     W = params["W"]
...     W[0] = 2.0 * x
...     x[1] = 0.0
...     return W @ x
... ''', lambda n, fn, body: n._copy_written_inputs(fn, body))
def f(x, params):
    ad.check_param_unshared(x, None, (params,), ('params',), 'x', '<demo>', 4)
    x = ad.copy_input(x)
    W = params['W']
    W = ad.copy_input(W)
    W[0] = 2.0 * x
    x[1] = 0.0
    return W @ x
"""
import copy
import inspect

import gast
import numpy

from ad_compiler import runtime
from ad_compiler.transforms import annotations, nodes
from ad_compiler.transforms.annotations import Key
from ad_compiler.transforms.normalize.common import (
    _ALLOCATORS, _HOLDING_METHODS, _INDEX_ARRAYS, _MUTATING_METHODS, _NO_COPY, _OPSYMS,
    _VIEW_LISTS, _VIEWS, _stored_names, _target_leaves)
from ad_compiler.transforms.normalize.mutations import _mutations_of, written_parameters


class Aliasing:
    def _unshared_guard(self, stmt, name):
        """``y += v`` updates an array in place: if y is (a view of) an array
        another name holds, Python changes both and we would not.  Check at
        run time against every array the binding of y nearest before read
        (``y = z``, ``y = x[1:]``, ``y = np.reshape(x if c else z, ...)``):
        a CompileError at the user's line (floats and fresh arrays pass)."""
        if self.info.filename.startswith("<ad_compiler"):
            return []           # generated code updates buffers it owns
        scopes = getattr(self, "_inline_scopes", [])
        if scopes:
            # inside an inlined local function: its own (renamed) bindings,
            # its parameters and what its body binds before the update
            bindings, bound, helper_body = scopes[-1]
            bound = set(bound)
            for s in helper_body:
                if getattr(s, "lineno", 0) >= stmt.lineno:
                    break
                if isinstance(s, gast.Assign):
                    bound |= {t.id for t in s.targets if isinstance(t, gast.Name)}
        else:
            bindings = getattr(self, "_bindings", {})
            bound = self._definitely_before(stmt)
        before = [b for b in bindings.get(name, []) if b.lineno < stmt.lineno]
        if not before:
            return []
        binding = max(before, key=lambda b: b.lineno)
        names = {}
        roots = self._alias_roots(binding.value)     # (y = x * 2 shares nothing)
        for n in nodes.walk(binding.value):
            if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Load) and n.id in roots \
                    and n.id != name and n.id in self.locals and n.id in bound:
                names.setdefault(n.id, annotations.get(n, Key.USER_NAME, n.id))
        others = sorted(names)
        if not others:
            return []
        ad = self.inject("ad", runtime)
        shown = annotations.get(stmt.target, Key.USER_NAME, name)
        msg = (f"in-place update of '{shown}', which {{how}} '{{other}}' (bound at line "
               f"{binding.lineno}); write {shown} = {shown} {_OPSYMS.get(type(stmt.op), 'op')} "
               f"... or copy it first")
        return [gast.Expr(value=nodes.call(
            nodes.attr(nodes.name(ad), "check_unshared"),
            [nodes.name(name), gast.Tuple(elts=[nodes.name(o) for o in others], ctx=gast.Load()),
             gast.Tuple(elts=[nodes.const(names[o]) for o in others], ctx=gast.Load()),
             nodes.const(msg), nodes.const(self.info.filename), nodes.const(stmt.lineno),
             nodes.const(stmt.col_offset)]))]


    def _copy_written_inputs(self, fn, body):
        """``x[i] = v`` on a parameter writes into the caller's array: work on
        a private copy instead (``x = ad.copy_input(x)`` first)."""
        params = [a.id for a in fn.args.posonlyargs + fn.args.args + fn.args.kwonlyargs]
        written = [p for p, _ in written_parameters(fn, body)]
        body = self._copy_aliased_writes(body)
        first = body[0] if body else None
        checks = self._unshared_parameter_checks(params, first)
        if not written:
            return checks + body
        ad = self.inject("ad", runtime)
        pre = [nodes.located(nodes.assign(p, nodes.call(nodes.attr(nodes.name(ad), "copy_input"),
                                                        [nodes.name(p)])), first)
               for p in params if p in written]
        return checks + pre + body


    def _unshared_parameter_checks(self, params, first):
        """A parameter changed in place (``a[i] = v``, ``a += v``,
        ``a.append(v)``) that is, holds or shares memory with another
        parameter (``f(A, A, x)``, ``f(params, params["W"])``): Python would
        see the change through the other one.  A check at entry for each
        such parameter, against every other (``ad.check_param_unshared``)."""
        if len(params) < 2 or self.info.filename.startswith("<ad_compiler") \
                or self.info.node.name != getattr(self.info.fn, "__name__", None):
            return []
        mutated = _mutations_of(self.info.node, self.info.filename, self.info.fn)
        out = []
        for p in params:
            if p not in mutated:
                continue
            kind, dunder, _, line = mutated[p]
            others = [q for q in params if q != p]
            ad = self.inject("ad", runtime)
            out.append(nodes.located(gast.Expr(value=nodes.call(
                nodes.attr(nodes.name(ad), "check_param_unshared"),
                [nodes.name(p), nodes.const(dunder if kind == "update" else None),
                 gast.Tuple(elts=[nodes.name(q) for q in others], ctx=gast.Load()),
                 gast.Tuple(elts=[nodes.const(q) for q in others], ctx=gast.Load()),
                 nodes.const(p), nodes.const(self.info.filename), nodes.const(line)])),
                first))
        return out


    def _split_chained_assignments(self, stmts):
        """``a = b = e`` binds both names to the same object: an in-place
        write through one (``a += 1.0``, ``a[0] = v``) changes the other in
        Python.  Rewritten ``b = e; a = b`` (the value held by the last
        plain-name target, the others assigned from it in their order), so
        that the alias analyses see ``a`` as a second name of ``b``.  Left
        alone when no plain-name target can hold the value without changing
        what the other targets mean (``x[0] = y[0] = v``, ``d[a] = a = v``)."""
        out = []
        for s in stmts:
            for field in ("body", "orelse", "finalbody"):
                sub = getattr(s, field, None)
                if isinstance(sub, list) and sub and isinstance(sub[0], gast.stmt):
                    setattr(s, field, self._split_chained_assignments(sub))
            if not (isinstance(s, gast.Assign) and len(s.targets) > 1):
                out.append(s)
                continue
            holder = None
            for t in reversed(s.targets):
                if isinstance(t, gast.Name) and not any(
                        isinstance(n, gast.Name) and n.id == t.id
                        for o in s.targets if o is not t for n in nodes.walk(o)):
                    holder = t
                    break
            if holder is None:
                out.append(s)
                continue
            out.append(nodes.located(nodes.assign(holder, s.value), s))
            for t in s.targets:
                if t is not holder:
                    out.append(nodes.located(nodes.assign(t, nodes.name(holder.id)), s))
        return out


    def _copy_aliased_writes(self, body, params=None):
        """A name written in place (``W[0] = v``) that was bound to a value the
        function did not allocate (``W = params["W"]``, ``W = other``) could
        share memory with the caller's data or another name: give it a
        private copy right after such a binding."""
        body = self._split_chained_assignments(body)
        written = {}
        for node in nodes.walk(gast.Module(body=body, type_ignores=[])):
            targets = node.targets if isinstance(node, gast.Assign) else (
                [node.target] if isinstance(node, gast.AugAssign) else [])
            for t in [leaf for t in targets for leaf in _target_leaves(t)]:
                if isinstance(t, gast.Subscript):
                    base = t.value
                    while isinstance(base, (gast.Subscript, gast.Attribute)):
                        base = base.value
                    if isinstance(base, gast.Name):
                        written.setdefault(base.id, node)
        self._refuse_alias_updates(body, written, params)
        checks = self._alias_read_checks(body, params)
        if self.info.filename.startswith("<ad_compiler"):
            # generated gradient code (forward mode over it: hessian) writes
            # in place on purpose: its adjoint sweep puts saved values back
            # (``z = ad.pop(stack); z[1:] = old1``) into the array that the
            # views it saved (``t3 = z[:-1]``) share; a private copy there
            # would leave those views holding the overwritten values
            written = {}
        shared = self._shared_element_checks(body)
        if not written and not checks and not shared:
            return body
        allocates = self._allocates

        def block(stmts):
            out = []
            for s in stmts:
                for field in ("body", "orelse"):
                    if getattr(s, field, None):
                        setattr(s, field, block(getattr(s, field)))
                if isinstance(s, gast.For) and ("in", id(s)) in checks:
                    s.body = checks[("in", id(s))] + s.body
                out += shared.get(id(s), [])
                out.append(s)
                out += checks.get(id(s), [])
                if (isinstance(s, gast.Assign) and len(s.targets) == 1
                        and isinstance(s.targets[0], gast.Name) and s.targets[0].id in written
                        and not allocates(s.value)):
                    w = s.targets[0].id
                    ad = self.inject("ad", runtime)
                    out.append(nodes.located(nodes.assign(w, nodes.call(
                        nodes.attr(nodes.name(ad), "copy_input"), [nodes.name(w)])), s))
            return out

        return block(body)


    def _shared_element_checks(self, body):
        """``hs = [np.zeros(2)] * 2``, ``M = [[0.0] * 2] * 2``,
        ``d = dict.fromkeys(keys, np.zeros(3))``, ``lst = [y, y]``: one object
        in several slots of a container.  An in-place write through one slot
        (``hs[0] += x``, ``M[0][1] = v``) changes every slot in Python; the
        derivative code follows the write into that slot only.  Before each
        such write into a container bound that way, a run-time check
        (``ad.check_element_unshared``: numbers, which ``+=`` rebinds, pass):
        ``{id(write): [statement]}``."""
        if self.info.filename.startswith("<ad_compiler"):
            return {}
        module = gast.Module(body=body, type_ignores=[])

        def constant(e):
            return isinstance(e, gast.Constant) or (
                isinstance(e, gast.UnaryOp) and isinstance(e.operand, gast.Constant))

        def repeats(v):
            if isinstance(v, gast.BinOp) and isinstance(v.op, gast.Mult):
                for o in (v.left, v.right):
                    if isinstance(o, (gast.List, gast.Tuple)) and not all(
                            constant(e) for e in o.elts):
                        return True
                    if isinstance(o, gast.ListComp):
                        return True
                    if isinstance(o, gast.BinOp) and repeats(o):
                        return True
            if isinstance(v, gast.Call) and isinstance(v.func, gast.Attribute) \
                    and v.func.attr == "fromkeys" and len(v.args) >= 2 \
                    and not constant(v.args[1]):
                return True
            if isinstance(v, (gast.List, gast.Tuple, gast.Dict)):
                elts = v.values if isinstance(v, gast.Dict) else v.elts
                names = [e.id for e in elts if isinstance(e, gast.Name)]
                return len(names) != len(set(names))
            return False

        suspects = {}
        for node in nodes.walk(module):
            if isinstance(node, gast.Assign) and len(node.targets) == 1 \
                    and isinstance(node.targets[0], gast.Name) and repeats(node.value):
                suspects.setdefault(node.targets[0].id, node)
        if not suspects:
            return {}
        out = {}
        for node in nodes.walk(module):
            if isinstance(node, gast.Assign):
                targets = [leaf for t in node.targets for leaf in _target_leaves(t)]
            elif isinstance(node, gast.AugAssign):
                targets = [node.target]
            else:
                continue
            for t in targets:
                chain = []
                base = t
                while isinstance(base, (gast.Subscript, gast.Attribute)):
                    chain.append(base)
                    base = base.value
                if not (isinstance(base, gast.Name) and base.id in suspects and chain
                        and isinstance(chain[-1], gast.Subscript)):
                    continue
                if len(chain) < 2 and not isinstance(node, gast.AugAssign):
                    continue        # hs[0] = v rebinds the slot
                name = base.id
                ad = self.inject("ad", runtime)
                b = suspects[name]
                msg = (f"in-place write through an element of '{name}', which may hold the "
                       f"same object in several slots (bound at line {b.lineno}): Python "
                       f"would change every slot, the derivative code only this one")
                out.setdefault(id(node), []).append(nodes.located(gast.Expr(value=nodes.call(
                    nodes.attr(nodes.name(ad), "check_element_unshared"),
                    [nodes.name(name), copy.deepcopy(chain[-1].slice), nodes.const(msg),
                     nodes.const(self.info.filename), nodes.const(node.lineno),
                     nodes.const(node.col_offset)])), node))
        return out


    def _alias_read_checks(self, body, params=None):
        """A name bound to (a view of, an element of) ``R`` (``v = x[1:]``,
        ``W = params["W"]``, ``y = x``) and read again after an in-place write
        into ``R`` (``x[0] = e``, ``params["W"][0] = e``, ``x += e``,
        ``x.sort()``) sees the write in Python, not in the derivative code
        (the write is followed as a new value of R, or into a private copy
        of R's element).  For each such binding that reaches the write, a
        run-time check right after it: ``{id(binding): [statement]}``.  The
        check refuses only when the name does share memory with R (an
        element ``x[0]`` that is a number passes).  Reads after a rebinding
        of the name on every path (``for i ...: row = X[i]; X[i] = 2 * row``)
        do not count."""
        if self.info.filename.startswith("<ad_compiler"):
            return {}
        if params is None:
            params = {a.id for a in self.info.node.args.args + self.info.node.args.posonlyargs
                      + self.info.node.args.kwonlyargs}
        # every statement list, and where each node sits in them
        where = {}

        def collect(stmts, loop):
            for i, st in enumerate(stmts):
                for n in nodes.walk(st):
                    where.setdefault(id(n), []).append((stmts, i, loop))
                for field in ("body", "orelse", "finalbody"):
                    sub = getattr(st, field, None)
                    if isinstance(sub, list) and sub and isinstance(sub[0], gast.stmt):
                        collect(sub, st if isinstance(st, (gast.For, gast.While))
                                and field == "body" else None)
        collect(body, None)
        module = gast.Module(body=body, type_ignores=[])
        # in-place writes: (root, statement, key of the first subscript, deep)
        writes = []

        def stores(node):
            # (A[0], A[1] = ... writes twice: each element of a tuple target)
            if isinstance(node, gast.Assign):
                return [leaf for t in node.targets for leaf in _target_leaves(t)
                        if isinstance(leaf, (gast.Subscript, gast.Attribute))]
            if isinstance(node, gast.AugAssign):
                return [node.target]
            if isinstance(node, gast.Expr) and isinstance(node.value, gast.Call) \
                    and isinstance(node.value.func, gast.Attribute) \
                    and node.value.func.attr in _MUTATING_METHODS:
                return [node.value.func]
            return []

        for node, target in ((n, t) for n in nodes.walk(module) for t in stores(n)):
            chain = []
            base = target
            while isinstance(base, (gast.Subscript, gast.Attribute)):
                chain.append(base)
                base = base.value
            if not isinstance(base, gast.Name) or (isinstance(node, gast.Expr) and len(chain) > 1):
                continue
            key = chain[-1].slice if chain and isinstance(chain[-1], gast.Subscript) else None
            # ``d['W'] += e`` updates the array d['W'] itself in place (its
            # __iadd__), which views of it and shallow copies of d share: a
            # write through an element, as ``d['W'][0] = e``
            through = isinstance(node, gast.AugAssign) and isinstance(target, gast.Subscript)
            writes.append((base.id, node, key, len(chain) > 1 or through))
        if not writes:
            return {}
        self._refuse_loop_source_writes(module, writes)
        # bindings: plain ``name = value``, and the names bound by unpacking
        # and by for targets (synthetic ``name = source[...]``, _bindings_of)
        bindings = {}
        for node in self._bindings_of(body):
            if isinstance(node, gast.Assign) and len(node.targets) == 1 \
                    and isinstance(node.targets[0], gast.Name):
                bindings.setdefault(node.targets[0].id, []).append(node)
        loads = {}
        for node in nodes.walk(module):
            if isinstance(node, gast.Name) and isinstance(node.ctx, gast.Load):
                loads.setdefault(node.id, []).append(node)

        def killed(name, write, start, end, wrap=None):
            """Is ``name`` rebound on every path from line ``start`` to line
            ``end`` (``wrap``: through the next iteration of that loop), by a
            statement of a block that holds ``write``?"""
            for k in bindings.get(name, []):
                anchor = annotations.get(k, Key.ANCHOR, k)
                if isinstance(anchor, gast.For):
                    # a for target is bound again at the top of every
                    # iteration (the body may not run: no kill otherwise)
                    if wrap is anchor:
                        return True
                    continue
                k = anchor
                for stmts, i, loop in where.get(id(k), []):
                    if stmts[i] is not k:
                        continue
                    # k is a statement of a list that holds the write
                    if not any(lst is stmts for lst, _, _ in where.get(id(write), [])):
                        continue
                    if wrap is None and start < k.lineno < end:
                        return True
                    if wrap is not None and wrap.body is stmts and (
                            k.lineno < end or k.lineno > start):
                        return True
            return False

        def first_read(watched, w, loops):
            """The first read of ``watched`` that can see the write ``w``."""
            for n in loads.get(watched, []):
                if n.lineno > w.lineno and not killed(watched, w, w.lineno, n.lineno):
                    return n
                if any(any(m is n for m in nodes.walk(lp)) and n.lineno <= w.lineno
                       and not killed(watched, w, w.lineno, n.lineno, wrap=lp)
                       for lp in loops):
                    return n
            return None

        out = {}
        for name, binds in bindings.items():
            for b in binds:
                v = b.value
                anchor = annotations.get(b, Key.ANCHOR, b)
                holder = self._may_hold_views(v)
                roots = {r for r in self._alias_roots(v)
                         if r != name and (r in self.locals or r in params)}
                if not roots:
                    continue
                bkey = v.slice if isinstance(v, gast.Subscript) and isinstance(v.value, gast.Name) \
                    else None
                # (an attribute view ``Y = X.T``, ``X.mT``, ``X.real`` is
                # checked here, as ``np.transpose(X)`` and ``X.swapaxes(0, 1)``
                # are: _refuse_alias_updates sees only names and subscripts)
                simple = isinstance(v, gast.Name) or (
                    isinstance(v, gast.Subscript) and isinstance(v.value, gast.Name)) or (
                    isinstance(v, gast.Call) and isinstance(v.func, gast.Attribute)
                    and v.func.attr == "copy") or annotations.get(b, Key.UNPACKED, False)
                for root, w, key, deep in writes:
                    if w is anchor:
                        continue
                    if root in roots:
                        # a write into the source, read through ``name``
                        if isinstance(bkey, gast.Constant) and isinstance(key, gast.Constant) \
                                and bkey.value != key.value:
                            continue        # another key of the container
                        if not deep and isinstance(v, gast.Call) \
                                and isinstance(v.func, gast.Attribute) and v.func.attr == "copy":
                            continue        # a copy holds R's elements, not R's memory
                        pairs = [(name, root)]
                    elif root == name and deep and holder:
                        # ``rows = [Y[0], Y[1]]; rows[0][0] = e``: a write
                        # through an element of ``name``, read through a source
                        pairs = [(r, name) for r in sorted(roots)]
                    elif root == name and not deep and not simple:
                        # ``v = helper(x)`` / ``v = np.ravel(y)`` /
                        # ``v = (x if c else z)[1:]``, then ``v[0] = e``:
                        # refused when v does share memory with x, y or z
                        # (direct views and plain names: _refuse_alias_updates)
                        pairs = [(r, name) for r in sorted(roots)]
                    else:
                        continue
                    loops = [lp for _, _, lp in where.get(id(w), []) if lp is not None]
                    if b.lineno >= w.lineno and not any(
                            any(n is anchor for n in nodes.walk(lp)) for lp in loops):
                        continue        # bound after the write
                    if b.lineno < w.lineno and killed(name, w, b.lineno, w.lineno):
                        continue        # rebound before the write
                    for watched, written in pairs:
                        read = first_read(watched, w, loops)
                        if read is None:
                            continue
                        ad = self.inject("ad", runtime)
                        if watched != name and not deep:
                            msg = (f"in-place write into '{written}', which shares memory "
                                   f"with '{watched}' (bound at line {b.lineno}), and "
                                   f"'{watched}' is read again at line {read.lineno}: Python "
                                   f"would see the write there, the derivative code would not")
                        elif watched == name:
                            msg = (f"in-place write into '{written}' changes '{name}' (bound to "
                                   f"it at line {b.lineno}), which is read again at line "
                                   f"{read.lineno}: Python would see the write through "
                                   f"'{name}', the derivative code would not")
                        else:
                            msg = (f"in-place write into an element of '{name}' (bound at line "
                                   f"{b.lineno}) changes '{watched}', which is read again at "
                                   f"line {read.lineno}: Python would see the write through "
                                   f"'{watched}', the derivative code would not")
                        # after the binding statement; for a for target, first
                        # thing in the loop body
                        slot = ("in", id(anchor)) if isinstance(anchor, gast.For) else id(anchor)
                        out.setdefault(slot, []).append(nodes.located(gast.Expr(value=nodes.call(
                            nodes.attr(nodes.name(ad), "check_not_aliased"),
                            [nodes.name(watched), nodes.name(written),
                             nodes.const(deep or watched != name),
                             nodes.const(msg), nodes.const(self.info.filename),
                             nodes.const(w.lineno), nodes.const(w.col_offset)])), anchor))
                    break
        return out


    def _may_hold_views(self, value):
        """May ``value`` be a new container holding views of (or the very
        arrays of) what it reads: ``[Y[0], Y[1]]``, ``{"a": Y[0]}``,
        ``[Y[i] for i ...]``, ``list(Y)``, ``np.split(Y, 2)``, ``f(Y)``?
        Arithmetic and NumPy allocators make fresh arrays."""
        if isinstance(value, (gast.List, gast.Tuple, gast.Dict, gast.Set, gast.ListComp,
                              gast.DictComp, gast.SetComp, gast.GeneratorExp, gast.IfExp,
                              gast.BoolOp)):
            return True
        if isinstance(value, gast.BinOp):
            # list concatenation / repetition of displays
            return any(isinstance(o, (gast.List, gast.Tuple, gast.ListComp))
                       for o in (value.left, value.right))
        if isinstance(value, gast.Call):
            f = value.func
            if isinstance(f, gast.Attribute) and isinstance(f.value, gast.Name) \
                    and f.value.id in self.locals:
                # a method of a local: d.get(k), a shallow d.copy() / ys.copy()
                return f.attr in _VIEWS or f.attr in _VIEW_LISTS or f.attr in _HOLDING_METHODS
            if self._allocates(value):
                return False
            obj = self.resolve(f)
            if isinstance(obj, numpy.ufunc):
                return any(k.arg == "out" for k in value.keywords)
            if (getattr(obj, "__module__", "") or "").startswith("numpy"):
                return getattr(obj, "__name__", "") in _VIEWS | _VIEW_LISTS
            return True
        return False


    def _alias_roots(self, value, definite=False):
        """The local names (and parameters) whose memory, or whose elements,
        the value of ``value`` may share.  Only what can hand its operand
        back propagates: a name, a basic subscript, an attribute (``x.T``),
        a view function or method applied to its DIRECT operand
        (``x.reshape(..)``, ``np.ravel(x)``, ``np.asarray(x)``), a display
        or comprehension (holds what it reads), a conditional, a container
        method (``d.get(k)``), a builtin that may return an element
        (``list``, ``min``, ``next``) and a call of a user (or unknown)
        function (any argument).  Arithmetic, comparisons, ufuncs and the
        other NumPy functions make fresh arrays: ``(y * 2).reshape(3)`` and
        ``np.ravel(np.tanh(x))`` share nothing.  ``definite``: only what
        certainly shares (chains of views down to a name), for compile-time
        refusals."""
        roots = self._alias_roots
        if isinstance(value, gast.Name):
            if value.id in self.locals:
                return {value.id}
            # a global holding data (not a module, function or class)
            obj = self.resolve(value)
            return set() if obj is None or callable(obj) or inspect.ismodule(obj) \
                or isinstance(obj, (int, float, complex, str, bool)) else {value.id}
        if isinstance(value, gast.Subscript):
            if self._advanced_index(value.slice):
                return set()
            return roots(value.value, definite)
        if isinstance(value, gast.Attribute):
            if value.attr in ("shape", "size", "ndim", "dtype", "nbytes", "itemsize"):
                return set()
            return roots(value.value, definite)
        if isinstance(value, (gast.Starred, gast.NamedExpr)):
            return roots(value.value, definite)
        if definite:
            if isinstance(value, gast.Call):
                f = value.func
                if isinstance(f, gast.Attribute) and not self._is_static_ref(f):
                    return roots(f.value, True) if f.attr in _VIEWS else set()
                obj = self.resolve(f)
                if (getattr(obj, "__module__", "") or "").startswith("numpy") \
                        and getattr(obj, "__name__", "") in _VIEWS and value.args:
                    return roots(value.args[0], True)
            return set()
        if isinstance(value, gast.IfExp):
            return roots(value.body) | roots(value.orelse)
        if isinstance(value, gast.BoolOp):
            return set().union(*(roots(v) for v in value.values))
        if isinstance(value, (gast.List, gast.Tuple, gast.Set)):
            return set().union(*(roots(e) for e in value.elts))
        if isinstance(value, gast.Dict):
            return set().union(*(roots(e) for e in value.values if e is not None))
        if isinstance(value, (gast.ListComp, gast.SetComp, gast.DictComp, gast.GeneratorExp,
                              gast.Lambda)):
            return {n.id for n in nodes.walk(value) if isinstance(n, gast.Name)
                    and isinstance(n.ctx, gast.Load) and n.id in self.locals}
        if isinstance(value, gast.BinOp):
            # list / tuple concatenation and repetition of displays hold
            # their elements; arithmetic makes a fresh array
            if any(isinstance(o, (gast.List, gast.Tuple, gast.ListComp))
                   for o in (value.left, value.right)):
                return roots(value.left) | roots(value.right)
            return set()
        if not isinstance(value, gast.Call):
            return set()            # constants, unary operators, comparisons
        f = value.func
        args = list(value.args) + [k.value for k in value.keywords]
        everything = set().union(*(roots(a) for a in args)) if args else set()
        if isinstance(f, gast.Attribute) and not self._is_static_ref(f):
            # a method of a value: x.reshape(..), d.get(k, default), x.sum()
            if f.attr in _VIEWS or f.attr in _VIEW_LISTS:
                return roots(f.value)
            if f.attr in _HOLDING_METHODS:
                return roots(f.value) | everything
            return set()
        obj = self.resolve(f)
        if obj is None:
            return everything       # unknown callee: may return an argument
        if isinstance(obj, numpy.ufunc):
            out = [k.value for k in value.keywords if k.arg == "out"]
            return roots(out[0]) if out else set()
        mod = getattr(obj, "__module__", "") or ""
        name = getattr(obj, "__name__", "")
        if mod.startswith("numpy"):
            if name in ("broadcast_arrays", "meshgrid"):
                return everything
            if name in _VIEWS or name in _VIEW_LISTS or name in _NO_COPY:
                return roots(value.args[0]) if value.args else everything
            return set()
        if mod == "math" or obj in (float, int, len, abs, sum, range, bool, round, pow,
                                    isinstance, print, divmod, hash, str, repr):
            return set()
        return everything


    def _refuse_loop_source_writes(self, module, writes):
        """``for row in Y:`` (also ``enumerate``, ``zip``, ``d.items()``) reads
        the next element of ``Y`` at each iteration, and Python's next element
        includes the loop body's in-place writes into ``Y``; the derivative
        code iterates over ``Y`` as it was when the loop started.  A write
        into ``Y`` inside the loop is refused, unless it writes at the
        loop's own current index (``for i, row in enumerate(Y): Y[i] = ...``,
        ``for k, W in d.items(): d[k][0] = ...``, ``for k in d: d[k] = ...``),
        which no later iteration reads."""
        def sources(it):
            """(root name, current-index name or None) for each sequence
            the for loop ``it`` iterates (through views)."""
            if isinstance(it, gast.Call) and not it.keywords and (
                    self._is_builtin(it.func, "zip") or self._is_builtin(it.func, "enumerate")):
                return [r for a in it.args for r in sources(a)]
            if isinstance(it, gast.Call) and isinstance(it.func, gast.Attribute) \
                    and it.func.attr in ("items", "values", "keys") and not it.args:
                it = it.func.value
            return sorted(self._alias_roots(it, definite=True))

        for loop in nodes.walk(module):
            if not isinstance(loop, gast.For):
                continue
            it, target = loop.iter, loop.target
            if isinstance(it, gast.Call) and self._is_builtin(it.func, "range"):
                continue
            roots = set(sources(it))
            if not roots:
                continue
            # the name that holds the current index (or key)
            current = None
            if isinstance(it, gast.Call) and self._is_builtin(it.func, "enumerate") \
                    and isinstance(target, gast.Tuple) and target.elts \
                    and isinstance(target.elts[0], gast.Name):
                current = target.elts[0].id
            elif isinstance(it, gast.Call) and isinstance(it.func, gast.Attribute) \
                    and it.func.attr == "items" and isinstance(target, gast.Tuple) \
                    and target.elts and isinstance(target.elts[0], gast.Name):
                current = target.elts[0].id
            elif isinstance(target, gast.Name) and (
                    isinstance(it, gast.Name) or (isinstance(it, gast.Call)
                                                  and isinstance(it.func, gast.Attribute)
                                                  and it.func.attr == "keys")):
                current = target.id     # for k in d: d[k] = ... (a dict's keys)
            inside = {id(n) for st in loop.body for n in nodes.walk(st)}
            for root, w, key, deep in writes:
                if root not in roots or id(w) not in inside:
                    continue
                first = key.elts[0] if isinstance(key, gast.Tuple) and key.elts else key
                if current is not None and isinstance(first, gast.Name) and first.id == current \
                        and not any(isinstance(n, gast.Name) and n.id == current
                                    and isinstance(n.ctx, gast.Store)
                                    for st in loop.body for n in nodes.walk(st)):
                    continue
                raise self.info.error(
                    w, f"in-place write into '{root}' inside a loop over '{root}' (line "
                    f"{loop.lineno}): Python's later iterations would see the write, the "
                    f"derivative code iterates over '{root}' as it was when the loop started",
                    hint=f"loop over the indices (for i in range(len({root}))) and read "
                         f"{root}[i] in the body, or write into a copy of '{root}'",
                    construct="write into the iterated sequence")


    def _allocates(self, value):
        """Does ``value`` certainly make a new array (or container)?"""
        if isinstance(value, (gast.BinOp, gast.UnaryOp, gast.List, gast.Dict, gast.ListComp,
                              gast.DictComp, gast.Constant, gast.Tuple)):
            return True
        if isinstance(value, gast.Call):
            f = value.func
            if isinstance(f, gast.Attribute) and f.attr in ("copy", "astype", "flatten"):
                return True
            obj = self.resolve(f) if not (isinstance(f, gast.Attribute)
                                          and isinstance(f.value, gast.Name)
                                          and f.value.id in self.locals) else None
            mod = getattr(obj, "__module__", "") or ""
            name = getattr(obj, "__name__", "")
            if mod.startswith("numpy") and name in _ALLOCATORS:
                return True
        return False


    def _may_be_view(self, value):
        """Is ``value`` the memory of what it reads (``x[1:]``, ``d["W"]``,
        ``x.T``, ``x.reshape(...)``, ``np.asarray(x)``), not a new array?"""
        if isinstance(value, gast.Subscript):
            return not self._advanced_index(value.slice)
        if isinstance(value, (gast.Name, gast.Attribute)):
            return True
        if isinstance(value, gast.Call):
            f = value.func
            name = f.attr if isinstance(f, gast.Attribute) else getattr(f, "id", None)
            return name in _VIEWS
        return False


    def _refuse_stale_reads(self, body, written, bindings, params):
        """``v = x[1:]; v[0] = 2.0`` works on a private copy of the view (the
        caller's x is never modified), which is Python's result only if the
        memory the view shares is not read again: a later read of ``x``
        (``params["W"]`` for ``W = params["W"]``; another key of a dict is
        fine) would see the write in Python.  Refused."""
        loops = []

        def enclosing_loops(stmts, stack):
            for st in stmts:
                if isinstance(st, (gast.For, gast.While)):
                    loops.append(st)
                    enclosing_loops(st.body, stack + [st])
                elif hasattr(st, "body"):
                    enclosing_loops(st.body, stack)
                    enclosing_loops(getattr(st, "orelse", []) or [], stack)
        enclosing_loops(body, [])
        for name, write in written.items():
            before = [b for b in bindings.get(name, []) if b.lineno < write.lineno
                      and not annotations.get(b, Key.UNPACKED, False)]
            if not before:
                continue
            binding = max(before, key=lambda b: b.lineno)
            value = binding.value
            key = value.slice if isinstance(value, gast.Subscript) else None
            # only what certainly shares memory is refused here: a view of
            # a fresh array ((y * 2).reshape(3)) shares nothing
            sources = {r for r in self._alias_roots(value, definite=True)
                       if r in params and r != name}
            if not sources:
                continue
            # the statements that run after the write: later lines, and the
            # whole body of each loop around the write
            after = []
            for node in nodes.walk(gast.Module(body=body, type_ignores=[])):
                if isinstance(node, gast.stmt) and getattr(node, "lineno", 0) > write.lineno:
                    after.append(node)
            for lp in loops:
                inside = any(n is write for n in nodes.walk(lp))
                if inside:
                    after += lp.body
            other_keys = set()
            for st in after:
                for n in nodes.walk(st):
                    if isinstance(n, gast.Subscript) and isinstance(n.value, gast.Name) \
                            and n.value.id in sources and isinstance(n.slice, gast.Constant) \
                            and isinstance(key, gast.Constant) and n.slice.value != key.value:
                        other_keys.add(id(n.value))
            for st in after:
                for n in nodes.walk(st):
                    if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Load) \
                            and n.id in sources and id(n) not in other_keys \
                            and n.lineno != binding.lineno:
                        raise self.info.error(
                            write, f"in-place write into '{name}', which shares memory with "
                            f"'{n.id}' (bound at line {binding.lineno}), and '{n.id}' is read "
                            f"again at line {n.lineno}: Python would see the write there",
                            hint=f"make a copy first ({name} = ....copy()) and write into it, "
                                 f"or write into '{n.id}' itself",
                            construct="aliased in-place write")


    def _definitely_before(self, stmt):
        """Names certainly bound when ``stmt`` runs (cheap, conservative):
        the parameters, what the simple statements before it assign in its
        own block and in every block around it (unpacking included), and
        the targets of the ``for`` loops around it.  Blocks are found by
        line (the statement may belong to a rewritten copy of the tree)."""
        out = {a.id for a in self.info.node.args.args + self.info.node.args.posonlyargs
               + self.info.node.args.kwonlyargs}
        line = stmt.lineno
        block = self.info.node.body
        while block:
            inner = None
            for s in block:
                first = getattr(s, "lineno", 0)
                last = getattr(s, "end_lineno", None) or first
                if first >= line:
                    break
                if last >= line:            # s contains stmt's line
                    if isinstance(s, gast.For):
                        out.update(_stored_names(s.target))
                    for field in ("body", "orelse"):
                        sub = getattr(s, field, None)
                        if isinstance(sub, list) and sub and any(
                                getattr(t, "lineno", 0) <= line <= (getattr(t, "end_lineno", 0) or 0)
                                for t in sub):
                            inner = sub
                    break
                if isinstance(s, (gast.Assign, gast.AugAssign, gast.AnnAssign)):
                    targets = s.targets if isinstance(s, gast.Assign) else [s.target]
                    for t in targets:
                        out.update(_stored_names(t))
            block = inner
        return out


    def _refuse_alias_updates(self, body, written, params=None):
        """An in-place update through one of two names for the same array
        (``y = z; y += 1.0`` or ``v = y[1:]; v[0] = 2.0``) changes both in
        Python; the derivative code would see only one: refused.  ``params``:
        the parameters (default: the function's)."""
        if params is None:
            params = {a.id for a in self.info.node.args.args + self.info.node.args.posonlyargs
                      + self.info.node.args.kwonlyargs}
        aliases = {}            # name -> (other name, binding statement)
        views = {}
        bindings = {}           # name -> [binding statements]
        for node in self._bindings_of(body):
            if (isinstance(node, gast.Assign) and len(node.targets) == 1
                    and isinstance(node.targets[0], gast.Name)):
                a = node.targets[0].id
                v = node.value
                bindings.setdefault(a, []).append(node)
                if (isinstance(v, gast.Call) and len(v.args) == 1 and not v.keywords
                        and isinstance(v.args[0], gast.Name)
                        and getattr(self.resolve(v.func), "__name__", None) in _NO_COPY
                        and (getattr(self.resolve(v.func), "__module__", "") or "").startswith("numpy")):
                    v = v.args[0]          # np.asarray(x) is x itself for an array
                if isinstance(v, gast.Name) and v.id in self.locals and v.id != a:
                    aliases.setdefault(a, (v.id, node))
                    aliases.setdefault(v.id, (a, node))
                    annotations.set(node, Key.ALIAS, (a, v.id))
                elif isinstance(v, gast.Subscript) and not self._advanced_index(v.slice):
                    base = v.value
                    while isinstance(base, (gast.Subscript, gast.Attribute)):
                        base = base.value
                    if isinstance(base, gast.Name) and base.id in self.locals and base.id != a \
                            and (base.id not in params
                                 or annotations.get(node, Key.UNPACKED, False)):
                        views.setdefault(a, (base.id, node))
                        annotations.set(node, Key.ALIAS, (a, base.id))
        self._bindings = bindings
        if self.info.filename.startswith("<ad_compiler"):
            return   # generated code updates buffers it owns
        self._refuse_stale_reads(body, written, bindings, params)
        for name, node in written.items():
            if name in aliases or name in views:
                other, where = aliases.get(name) or views.get(name)
                # the binding of name nearest before the write decides
                before = [b for b in bindings.get(name, []) if b.lineno < node.lineno]
                last = max(before, key=lambda b: b.lineno) if before else None
                if last is None or not annotations.has(last, Key.ALIAS):
                    continue    # freshly allocated (or no sharing yet)
                raise self.info.error(
                    node, f"in-place write into '{name}', which may share memory with "
                    f"'{other}' (line {where.lineno})",
                    hint=f"make a copy first: {name} = ....copy()",
                    construct="aliased in-place write")


    def _bindings_of(self, body):
        """Every node of ``body``, with the names bound by unpacking
        (``a, b = x``, ``a, b = x[0], x[1]``) and by ``for`` targets
        (``for row in X``, ``for i, w in enumerate(ws)``, ``zip``) added as
        synthetic ``name = source[...]`` bindings marked ``Key.UNPACKED``:
        those elements are views of (or the very arrays held by) the
        source, and no private copy is made for them."""
        def synthetic(target, value, where):
            out = []
            if isinstance(target, gast.Name):
                node = gast.Assign(targets=[nodes.name(target.id, store=True)], value=value,
                                   type_comment=None)
                node.lineno, node.col_offset = where.lineno, where.col_offset
                annotations.set(node, Key.UNPACKED, True)
                annotations.set(node, Key.ANCHOR, where)     # the tuple assignment or the for loop
                out.append(node)
            elif isinstance(target, (gast.Tuple, gast.List)):
                if isinstance(value, (gast.Tuple, gast.List)) and len(value.elts) == len(target.elts):
                    parts = value.elts
                else:
                    parts = [gast.Subscript(value=value, slice=nodes.const(i), ctx=gast.Load())
                             for i in range(len(target.elts))]
                for t, v in zip(target.elts, parts):
                    out += synthetic(t, v, where)
            return out

        def element(seq):
            return gast.Subscript(value=seq, slice=nodes.name("_ad_index"), ctx=gast.Load())

        for node in nodes.walk(gast.Module(body=body, type_ignores=[])):
            yield node
            if isinstance(node, gast.Assign) and len(node.targets) == 1 \
                    and isinstance(node.targets[0], (gast.Tuple, gast.List)):
                yield from synthetic(node.targets[0], node.value, node)
            elif isinstance(node, gast.For):
                it, target = node.iter, node.target
                if isinstance(it, gast.Call) and self._is_builtin(it.func, "range"):
                    continue
                if isinstance(it, gast.Call) and self._is_builtin(it.func, "enumerate") \
                        and len(it.args) == 1 and isinstance(target, gast.Tuple) \
                        and len(target.elts) == 2:
                    yield from synthetic(target.elts[1], element(it.args[0]), node)
                elif isinstance(it, gast.Call) and self._is_builtin(it.func, "zip") \
                        and isinstance(target, gast.Tuple) and len(target.elts) == len(it.args):
                    for t, a in zip(target.elts, it.args):
                        yield from synthetic(t, element(a), node)
                else:
                    yield from synthetic(target, element(it), node)


    def _advanced_index(self, index):
        """Is ``index`` statically an advanced index (a list, an index or
        mask array, a comparison), which makes ``x[index]`` a copy, not a
        view?"""
        if isinstance(index, gast.Tuple):
            return any(self._advanced_index(e) for e in index.elts)
        if isinstance(index, (gast.List, gast.Compare)):
            return True
        if isinstance(index, gast.Call):
            obj = self.resolve(index.func)
            return (getattr(obj, "__name__", None) in _INDEX_ARRAYS
                    and (getattr(obj, "__module__", "") or "").startswith("numpy"))
        return False
