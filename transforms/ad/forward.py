"""Forward mode: emit a tangent statement beside each active statement.

Before (normalized)::

    def f(x, y):
        t1 = np.sin(x)
        t2 = t1 * y
        return t2

After (tangents ``dx``, ``dy`` are keyword-only parameters)::

    def f_jvp(x, y, *, dx, dy):
        # line 2: return np.sin(x) * y
        t1 = np.sin(x)
        dt1 = dx * np.cos(x)
        t2 = t1 * y
        dt2 = dt1 * y + t1 * dy
        return t2, dt2

Control flow is kept as it is.  Tangents known to be zero are not computed:
the pass tracks which tangents are live and, where control flow joins paths
that disagree, initializes the missing ones with zeros.

Where the shape analysis (transforms/analyses/shapes.py, from the call's
shape signature) knows ranks and dims, the runtime's shape-generic helpers
are specialized as the tangents are emitted (a tangent has its primal's
shape: jvp checks the tangents it is given, and every rule keeps it)::

    dt7 = ad.like(dt6, t7)                  # t7 = 1.0 + t6, same shape
    dz = ad.zeros_like(x)                   # x a float64 (n, m) array
    dt3 = ad.matmul_grad_left(dg, W, h)     # W (n, n), h (n,)

become::

    dt7 = dt6
    dz = np.zeros_like(x)
    dt3 = np.multiply.outer(dg, h)
"""
import copy

import gast

from ad_compiler.transforms import annotations, nodes
from ad_compiler.transforms.ad import ops, templates
from ad_compiler.transforms.analyses import shapes as shape_rules
from ad_compiler.transforms.names import restore, snapshot


class _State:
    __slots__ = ("live", "defined")

    def __init__(self, live, defined):
        self.live = set(live)
        self.defined = set(defined)

    def copy(self):
        return _State(self.live, self.defined)


class ForwardPass:
    def __init__(self, ctx, fn, activity, shapes=None):
        self.ctx = ctx              # compile context (namer, inject, info...)
        self.fn = fn
        self.act = activity
        # shapes.Shapes of fn (the pass manager's analysis), or None
        self.shapes = shapes if shapes is not None else getattr(ctx, "shapes", None)
        self._primal_of = {}      # tangent name -> its primal's name
        self.tangents = {}
        self.seen = {a.id for a in fn.args.posonlyargs + fn.args.args + fn.args.kwonlyargs}
        self.unbound_ok = set()   # primal names pre-bound to None
        self._fixed = {}          # (loop, live, defined) -> live tangents at its top
        self._dry = 0             # > 0 inside a loop's dry runs

    def tangent(self, ident):
        if ident not in self.tangents:
            self.tangents[ident] = self.ctx.namer.fresh("d" + ident)
            self._primal_of[self.tangents[ident]] = ident
        return self.tangents[ident]

    # -- entry -------------------------------------------------------------

    def run(self, wrt, tangent_names=None):
        fn = self.fn
        for p, t in (tangent_names or {}).items():
            self.tangents[p] = t
            self._primal_of[t] = p
        params = [a.id for a in fn.args.posonlyargs + fn.args.args + fn.args.kwonlyargs]
        tparams = [self.tangent(p) for p in wrt]
        state = _State(wrt, params)
        body, state = self.block(fn.body, state)
        fn.args.kwonlyargs = list(fn.args.kwonlyargs) + [nodes.name(t, store=False) for t in tparams]
        for a in fn.args.kwonlyargs[-len(tparams):] if tparams else []:
            a.ctx = gast.Param()
        fn.args.kw_defaults = list(fn.args.kw_defaults) + [None] * len(tparams)
        # names whose zero tangent is set on a path where they may be unbound
        fn.body = [nodes.assign(v, nodes.const(None)) for v in sorted(self.unbound_ok)] + body
        return fn, dict(zip(wrt, tparams))

    # -- statements --------------------------------------------------------

    def block(self, stmts, state):
        out = []
        for stmt in stmts:
            new, state = self.stmt(stmt, state)
            out.extend(new)
        return out, state

    def stmt(self, stmt, state):
        if isinstance(stmt, gast.Assign):
            target = stmt.targets[0]
            if isinstance(target, gast.Name):
                return self.assign(stmt, target.id, state)
            if isinstance(target, gast.Subscript) and isinstance(target.value, gast.Name) \
                    and self.act.is_active(target.value.id):
                return self.setitem(stmt, target, state)
            return [stmt], state
        if isinstance(stmt, gast.If):
            maybe = set(self.seen)
            s1 = state.copy()
            s2 = state.copy()
            body, s1 = self.block(stmt.body, s1)
            orelse, s2 = self.block(stmt.orelse, s2)
            for v in sorted(s1.live - s2.live):
                if v in maybe or v in s2.defined:
                    if v not in state.defined and v not in s2.defined:
                        self.unbound_ok.add(v)
                    orelse.append(self.zero_init(v, stmt))
            for v in sorted(s2.live - s1.live):
                if v in maybe or v in s1.defined:
                    if v not in state.defined and v not in s1.defined:
                        self.unbound_ok.add(v)
                    body.append(self.zero_init(v, stmt))
            new = gast.If(test=stmt.test, body=body or [gast.Pass()], orelse=orelse)
            return [annotations.copy(stmt, new)], _State(s1.live | s2.live, s1.defined & s2.defined)
        if isinstance(stmt, (gast.For, gast.While)):
            return self.loop(stmt, state)
        if isinstance(stmt, gast.Return):
            out = stmt.value
            tangent = self.tangent_expr(out, state, for_output=True)
            return [annotations.copy(stmt, gast.Return(value=nodes.tuple_([out, tangent])))], state
        if isinstance(stmt, gast.Expr):
            op = self.act.ops.get(id(stmt))
            if op is not None and op.fn in (self.ctx.runtime.add_at, self.ctx.runtime.zero_at):
                return self.inplace(stmt, op, state)
            if op is not None and op.fn is self.ctx.runtime.restore \
                    and len(stmt.value.args) == 4:
                return self.restore_write(stmt, state)
            if op is not None and op.kind == "push" and self._tape_stack(op.args[0]):
                return self.tape_push(stmt, op, state)
            if op is not None and op.kind == "push":
                # a gradient's own tape: the tangent of an active value is
                # pushed after it, popped before it (same name, same activity)
                value = op.args[1]
                if isinstance(value, gast.Name) and self.act.is_active(value.id):
                    tan = self.tangent_expr(value, state)
                    push = nodes.expr_stmt(nodes.call(nodes.copy_node(stmt.value.func),
                                                      [nodes.copy_node(op.args[0]), tan]))
                    return [stmt, nodes.located(push, stmt)], state
            return [stmt], state
        return [stmt], state

    # -- the tape stacks of a split reverse sweep ----------------------------
    #
    # The forward sweep ``f_fwd`` of a helper pushes its values on a stack
    # that it returns in its tape; ``f_bwd`` pops them.  Forward mode over
    # them (hessian, grad of grad) compiles each for its own active
    # arguments, so a value may be active in one and not in the other.  The
    # tangent of such a stack is a stack of its own, ``dstack``, with one
    # entry per entry (zeros for the values whose tangent is zero):
    #
    #     ad.push(stack, W)        ->   ad.push(stack, W)
    #                                   ad.push(dstack, ad.zeros_like(W))
    #     W = ad.pop(stack)        ->   W = ad.pop(stack)
    #                                   dW = ad.pop(dstack)
    #
    # so the two functions agree whatever each one's activity.

    def _tape_stack(self, node):
        return isinstance(node, gast.Name) and node.id in self.act.tape_stacks

    def tape_push(self, stmt, op, state):
        stack, value = op.args
        if not self.act.is_active(stack.id):
            return [stmt], state
        out = []
        state = state.copy()
        if stack.id not in state.live:
            out.append(self.zero_init(stack.id, stmt))
            state.live.add(stack.id)
        push = nodes.expr_stmt(nodes.call(nodes.copy_node(stmt.value.func),
                                          [nodes.name(self.tangent(stack.id)),
                                           self.tangent_expr(value, state)]))
        return out + [stmt, nodes.located(push, stmt)], state

    def tape_pop(self, stmt, op, target, state):
        stack = op.args[0].id
        state = state.copy()
        state.defined.add(target)
        if stack not in state.live:
            state.live.discard(target)
            return [stmt], state
        pop = nodes.call(nodes.copy_node(stmt.value.func), [nodes.name(self.tangent(stack))])
        if self.act.is_active(target):
            new = nodes.assign(self.tangent(target), pop)
            state.live.add(target)
        else:
            new = nodes.expr_stmt(pop)
            state.live.discard(target)
        return [stmt, nodes.located(new, stmt)], state

    def inplace(self, stmt, op, state):
        """``ad.add_at(buf, idx, g)`` / ``ad.zero_at(buf, idx)`` update buf in
        place (reverse-mode code); its tangent is updated functionally:
        ``dbuf = ad.added_at(dbuf, idx, dg)`` / ``ad.zeroed_at(dbuf, idx)``."""
        rt = self.ctx.runtime
        buf, idx = op.args[0], op.args[1]
        g = op.args[2] if op.fn is rt.add_at else None
        if not (isinstance(buf, gast.Name) and self.act.is_active(buf.id)):
            return [stmt], state
        live_g = isinstance(g, gast.Name) and g.id in state.live
        if not live_g and buf.id not in state.live:
            return [stmt], state
        ad = self.ctx.global_name("ad", self.ctx.runtime)
        if g is not None:
            call = nodes.call(nodes.attr(nodes.name(ad), "added_at"),
                              [self.tangent_expr(buf, state), nodes.copy_node(idx),
                               self.tangent_expr(g, state)])
        else:
            call = nodes.call(nodes.attr(nodes.name(ad), "zeroed_at"),
                              [self.tangent_expr(buf, state), nodes.copy_node(idx)])
        state = state.copy()
        state.live.add(buf.id)
        return [stmt, nodes.located(nodes.assign(self.tangent(buf.id), call), stmt)], state

    def restore_write(self, stmt, state):
        """``ad.restore(redo, x, idx, old)``, the split backward sweep's
        ``x[idx] = old`` (it puts back what an in-place write overwrote): x's
        tangent is put back too, ``dx = ad.updated(dx, idx, dold)``.  (The
        ``ad.redo(redo)`` that ends the sweep needs no tangent: x is not read
        after it, and the tape keeps its own tangent of x.)"""
        x, idx, old = stmt.value.args[1:]
        if not (isinstance(x, gast.Name) and self.act.is_active(x.id)):
            return [stmt], state
        live_old = isinstance(old, gast.Name) and old.id in state.live
        if not live_old and x.id not in state.live:
            return [stmt], state
        ad = self.ctx.global_name("ad", self.ctx.runtime)
        dx = self.tangent_expr(x, state) if x.id in state.live else self.zeros_like(
            nodes.name(x.id))
        call = nodes.call(nodes.attr(nodes.name(ad), "updated"),
                          [dx, nodes.copy_node(idx), self.tangent_expr(old, state)])
        state = state.copy()
        state.live.add(x.id)
        return [stmt, nodes.located(nodes.assign(self.tangent(x.id), call), stmt)], state

    def zero_init(self, v, where):
        return nodes.located(nodes.assign(self.tangent(v), self.zeros_like(nodes.name(v))), where)

    def zeros_like(self, node):
        if isinstance(node, gast.Name) and self._float_array(node.id):
            return nodes.call(self.np("zeros_like"), [nodes.name(node.id)])
        ad = self.ctx.global_name("ad", self.ctx.runtime)
        return nodes.call(nodes.attr(nodes.name(ad), "zeros_like"), [nodes.copy_node(node)])

    # -- shape specialization ------------------------------------------------

    def np(self, attr):
        return nodes.attr(nodes.name(self.ctx.global_name("np", self.ctx.numpy)), attr)

    def _shape(self, ident):
        """The shape of primal ``ident`` (of the primal of tangent
        ``ident``) when its rank is known: a tuple of dims (an int, a symbol
        or None each), else None (unknown, or a parameter's opaque shape)."""
        if self.shapes is None:
            return None
        s = self.shapes.shape(self._primal_of.get(ident, ident))
        return s if type(s) is tuple else None

    def _float_array(self, ident):
        """Is primal ``ident`` provably a float64 array of rank >= 1 (so
        ``ad.zeros_like`` of it is ``np.zeros_like``)?"""
        s = self._shape(ident)
        return bool(s) and self.shapes.dtype(ident) == "d"

    def _expr_shape(self, node):
        """The shape of an elementwise tangent expression (names, numbers,
        + - * / and signs), or None."""
        if isinstance(node, gast.Name):
            return self._shape(node.id)
        if isinstance(node, gast.Constant) and type(node.value) in (int, float):
            return ()
        if isinstance(node, gast.UnaryOp) and isinstance(node.op, (gast.USub, gast.UAdd)):
            return self._expr_shape(node.operand)
        if isinstance(node, gast.BinOp) and isinstance(
                node.op, (gast.Add, gast.Sub, gast.Mult, gast.Div)):
            left, right = self._expr_shape(node.left), self._expr_shape(node.right)
            if left is None or right is None:
                return None
            return shape_rules.broadcast(left, right)
        return None

    def _rank(self, node):
        s = self._shape(node.id) if isinstance(node, gast.Name) else None
        return None if s is None else len(s)

    def specialize_primal(self, stmt, op):
        """A primal call of a runtime shape helper (in forward mode over
        gradient code: ``bW = ad.matmul_grad_left(g, W, h)``) specialized as
        its tangent is (the same values: the helper's own branch)."""
        if self.shapes is None or op.kind != "prim" or not isinstance(stmt.value, gast.Call):
            return stmt
        rt = self.ctx.runtime
        try:
            helper = op.fn in (rt.like, rt.zeros_like) or op.fn in _Specializer.products()
        except TypeError:           # an unhashable callable
            return stmt
        if not helper:
            return stmt
        value = self.specialize(nodes.copy_node(stmt.value))
        new = nodes.assign(nodes.copy_node(stmt.targets[0]), value)
        return annotations.copy(stmt, nodes.located(new, stmt))

    def specialize(self, node):
        """``node`` (an expression or statement of tangent code) with the
        runtime's shape helpers replaced where the shapes are known:
        ``ad.like(t, z)`` is t when t has z's shape, ``ad.zeros_like(x)`` of a
        float64 array is ``np.zeros_like(x)``, the products' adjoint helpers
        (``ad.matmul_grad_left``... in forward over reverse) of known ranks
        are the NumPy expression they evaluate (transforms/cleanup/specialize.py)."""
        if self.shapes is None:
            return node
        return _Specializer(self).visit(node)

    def tangent_expr(self, atom, state, for_output=False):
        """The tangent of an operand, zeros if it has none."""
        if isinstance(atom, gast.Name) and atom.id in state.live:
            return nodes.name(self.tangent(atom.id))
        if isinstance(atom, (gast.Tuple, gast.List)):
            return type(atom)(elts=[self.tangent_expr(e, state) for e in atom.elts],
                              ctx=gast.Load())
        if isinstance(atom, gast.Dict):
            return gast.Dict(keys=[nodes.copy_node(k) for k in atom.keys],
                             values=[self.tangent_expr(v, state) for v in atom.values])
        return self.zeros_like(atom)

    def deriv_node(self, atom, state):
        if isinstance(atom, gast.Name):
            if atom.id in state.live:
                return nodes.name(self.tangent(atom.id))
            return nodes.name(templates.ZERO)
        if isinstance(atom, (gast.Tuple, gast.List)):
            # (nested displays: np.array([[x, y], [z, 1.0]]))
            if not any(n in state.live for n in ops.operand_names(atom)):
                return nodes.name(templates.ZERO)
            return type(atom)(elts=[self.tangent_expr(e, state) for e in atom.elts],
                              ctx=gast.Load())
        return nodes.name(templates.ZERO)

    def assign(self, stmt, target, state):
        self.seen.add(target)
        op = self.act.ops[id(stmt)]
        state = state.copy()
        out = []
        if op.kind == "pop" and self._tape_stack(op.args[0]):
            return self.tape_pop(stmt, op, target, state)
        if op.kind == "pop":
            if self.act.is_active(target):
                pop = nodes.assign(self.tangent(target), nodes.copy_node(stmt.value))
                out.append(nodes.located(pop, stmt))
                state.live.add(target)
            out.append(stmt)
            state.defined.add(target)
            return out, state
        if not self.act.is_active(target):
            state.live.discard(target)
            state.defined.add(target)
            return [stmt], state
        dt = None
        pre = []
        if op.kind == "copy":
            src = op.node.id
            if src in state.live:
                dt = nodes.name(self.tangent(src))
        elif op.kind == "container":
            if target in self.act.tape_stacks and isinstance(op.node, gast.List) \
                    and not op.node.elts:
                dt = gast.List(elts=[], ctx=gast.Load())     # stack = []: dstack = []
            elif any(n in state.live for n in op.diff):
                dt = self.tangent_expr(op.node, state) if not isinstance(op.node, gast.Dict) else \
                    gast.Dict(keys=[nodes.copy_node(k) for k in op.node.keys],
                              values=[self.tangent_expr(v, state) for v in op.node.values])
        elif op.kind == "prim":
            dt, pre = self.prim(stmt, op, target, state)
        elif op.kind == "user":
            if any(n in state.live for n in op.diff):
                return self.user_call(stmt, op, target, state)
        out = [self.specialize_primal(stmt, op)]
        out += [nodes.located(s, stmt) for s in pre]
        state.defined.add(target)
        if dt is None:
            state.live.discard(target)
        else:
            out.append(nodes.located(nodes.assign(self.tangent(target), dt), stmt))
            state.live.add(target)
        return out, state

    def prim(self, stmt, op, target, state):
        if not any(n in state.live for n in op.diff):
            return None, []
        rule = op.prim.forward
        if rule is None:
            raise self.ctx.info.error(stmt, f"no forward-mode rule for {op.prim.name}",
                                      hint="use reverse mode (grad/vjp), or register a "
                                           "forward rule (see CONTRIBUTING.md)",
                                      construct=op.prim.name)
        if op.starred:
            raise self.ctx.info.error(stmt, f"cannot differentiate {op.label} called with *args/**kwargs",
                                      construct="starred call")
        tpl = templates.get_template(rule)
        try:
            binding = templates.bind(tpl, op.args, op.keywords)
        except templates.BindError as exc:
            raise self.ctx.info.error(stmt, f"unsupported arguments for {op.prim.name}: {exc}",
                                      construct=op.prim.name) from None
        result = nodes.name(target)
        # A rule that ignores an argument's tangent would silently give zero.
        # (Helpers of reverse-mode code that read an argument only for its
        # shape have no reverse rule and are not checked.)
        for p, actual in binding.items():
            live = [n for n in ops.operand_names(actual) if n in state.live]
            if live and p not in tpl.read and p not in tpl.nondiff and op.prim.reverse is not None:
                raise self.ctx.info.error(
                    stmt, f"the forward rule of {op.prim.name} gives no derivative for its "
                    f"argument '{p}', which is differentiated here",
                    hint="pass that argument as a constant, or use d[...] of it in the rule",
                    construct=op.prim.name)

        def deriv(p):
            if p == tpl.result:
                return nodes.name(self.tangent(target))
            return self.deriv_node(binding[p], state)

        items = templates.instantiate(tpl, binding, result, deriv, self.ctx.namer.temp,
                                      self.ctx.global_name, "forward")
        pre = []
        dt = None
        for it in items:
            if it[0] == "stmt":
                pre.append(self.specialize(templates.replace_zero(it[1], lambda: nodes.const(0.0))))
            else:
                if not templates.is_zero(it[2]):
                    dt = self.specialize(templates.replace_zero(it[2], lambda: nodes.const(0.0)))
        return dt, pre

    def user_call(self, stmt, op, target, state):
        callee = self.ctx.callee(stmt, op, "forward",
                                 [n for n in op.diff if self.act.is_active(n)], self.shapes)
        kw = []
        for param, actual in callee.bound.items():
            if param in callee.tangent_params:
                kw.append((callee.tangent_params[param], self.tangent_expr(actual, state)))
        call = nodes.call(nodes.name(callee.name), [nodes.copy_node(a) for a in op.args],
                          [(k, nodes.copy_node(v)) for k, v in op.keywords])
        call.keywords = list(call.keywords) + [gast.keyword(arg=k, value=v) for k, v in kw]
        new = nodes.assign(nodes.tuple_([nodes.name(target, True),
                                         nodes.name(self.tangent(target), True)], store=True), call)
        state = state.copy()
        state.live.add(target)
        state.defined.add(target)
        return [nodes.located(new, stmt)], state

    def setitem(self, stmt, target, state):
        base = target.value.id
        value = stmt.value
        ad = self.ctx.global_name("ad", self.ctx.runtime)
        state = state.copy()
        if base not in state.live and not (isinstance(value, gast.Name) and value.id in state.live):
            return [stmt], state
        dbase = nodes.name(self.tangent(base)) if base in state.live else self.zeros_like(nodes.name(base))
        upd = nodes.call(nodes.attr(nodes.name(ad), "updated"),
                         [dbase, templates.index_as_value(target.slice), self.tangent_expr(value, state)])
        state.live.add(base)
        return [stmt, nodes.located(nodes.assign(self.tangent(base), upd), stmt)], state

    def loop(self, stmt, state):
        maybe = set(self.seen)
        entry = state.copy()
        # Fixed point: which tangents are live at the top of the body.  The
        # trials are dry runs (their code is dropped); a loop met again with
        # the same state reuses its fixed point, and inside a dry run only
        # the state after the loop is needed, so nested loops cost linear
        # time, not 2**depth body passes.
        key = (id(stmt), frozenset(entry.live), frozenset(entry.defined))
        live = self._fixed.get(key, (None,))[0]
        if live is None:
            live = set(entry.live)
            snap = snapshot(self.ctx.namer)
            self._dry += 1
            try:
                while True:
                    trial = _State(live, entry.defined)
                    _, after = self.block(stmt.body, trial)
                    new = live | after.live
                    if new == live:
                        break
                    live = new
            finally:
                self._dry -= 1
            restore(self.ctx.namer, snap)
            self._fixed[key] = (live, stmt)     # (stmt kept: its id stays its own)
        live = set(live)
        if self._dry:
            for v in live - entry.live:
                if v in maybe and v not in entry.defined:
                    self.unbound_ok.add(v)
            return [], _State(live, entry.defined)
        # tangent names created in the dry run are kept (deterministic)
        body_state = _State(live, entry.defined)
        body, after = self.block(stmt.body, body_state)
        pre = []
        for v in sorted(live - entry.live):
            if v in maybe:
                if v not in entry.defined:
                    self.unbound_ok.add(v)
                pre.append(self.zero_init(v, stmt))
        for v in sorted(live - after.live):
            body.append(self.zero_init(v, stmt))
        new = copy.copy(stmt)
        new.body = body
        out_state = _State(live, entry.defined)
        return pre + [new], out_state


class _Specializer(nodes.Transformer):
    """ForwardPass.specialize's rewrite (calls innermost first)."""

    def __init__(self, fp):
        self.fp = fp
        self.table = self.products()

    @staticmethod
    def products():
        """runtime helper -> (rank of x, rank of y) -> builder of its NumPy
        expression (the table of transforms/cleanup/specialize.py)."""
        from ad_compiler.transforms.cleanup import specialize
        return specialize._helpers()

    def visit_Call(self, node):
        self.generic_visit(node)
        fp = self.fp
        if node.keywords:
            return node
        try:
            fn = nodes.injected_object(fp.ctx.injected, node.func)
            table = self.table.get(fn)
        except TypeError:           # an unhashable attribute
            return node
        rt = fp.ctx.runtime
        args = node.args
        if fn is rt.like and len(args) == 2 and isinstance(args[1], gast.Name):
            z = fp._shape(args[1].id)
            if z is not None and shape_rules.equal(fp._expr_shape(args[0]), z):
                return args[0]
        elif fn is rt.zeros_like and len(args) == 1 and isinstance(args[0], gast.Name) \
                and fp._float_array(args[0].id):
            return nodes.call(fp.np("zeros_like"), [args[0]])
        elif table is not None and len(args) == 3:
            g, x, y = args
            build = table.get((fp._rank(x), fp._rank(y)))
            if build is not None:
                return build(g, x, y, lambda: nodes.name(fp.ctx.global_name("np", fp.ctx.numpy)))
        return node
