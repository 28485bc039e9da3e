"""Reverse mode: a primal sweep, then an adjoint sweep that replays the
primal backwards.

Before (normalized)::

    def f(x, y):
        t1 = np.sin(x)
        t2 = t1 * y
        return t2

After (``grad`` with respect to both)::

    def grad_f(x, y):
        t1 = np.sin(x)
        t2 = t1 * y
        bt2 = ad.scalar_seed(t2)
        bt1 = ad.unbroadcast(bt2 * y, t1)
        by = ad.unbroadcast(t1 * bt2, y)
        bx = bt1 * np.cos(x)
        return bx, by

There is no tape.  The primal sweep saves only what the adjoint sweep reads
and what is overwritten before it is read: a value assigned in a loop is
pushed on a stack before it is overwritten and popped after its adjoint has
been computed; an overwritten value outside loops is kept in a fresh
variable.  Branches taken are the flags the normalizer made; loop trip
counts are counted only for loops that can exit early.  Adjoints known to be
zero are not computed: the pass tracks which adjoints are live, and where
paths join it initializes the missing ones with zeros.
"""
import builtins
import copy
import operator

import gast
import numpy

from ad_compiler.transforms.ad import checkpoint, sequences, templates
from ad_compiler.transforms import annotations, nodes
from ad_compiler.transforms.annotations import Key
from ad_compiler.transforms.analyses import shapes
from ad_compiler.transforms.ad.ops import Op, operand_names as ops_names
from ad_compiler.transforms.names import restore, snapshot

_SAVE = "save"
_RESTORE = "restore"


_CHEAP = (gast.Add, gast.Sub, gast.Mult, gast.Div)


def _cheap_operands(value):
    """The names read by ``value`` when it is one ``+ - * /`` of names and
    numbers or a negated name (cheap to compute again), else None."""
    if isinstance(value, gast.BinOp) and isinstance(value.op, _CHEAP):
        parts = [value.left, value.right]
    elif isinstance(value, gast.UnaryOp) and isinstance(value.op, gast.USub):
        parts = [value.operand]
    else:
        return None
    out = []
    for p in parts:
        if isinstance(p, gast.Name):
            out.append(p.id)
        elif not (isinstance(p, gast.Constant) and type(p.value) in (int, float)):
            return None
    return out


def _marker(kind, var, key):
    node = nodes.expr_stmt(nodes.const(None))
    return annotations.set(node, Key.MARKER, (kind, var, key))


class _State:
    """Which adjoints are live (hold a value) and which of those are owned
    (a fresh array no other variable refers to, safe to update in place)."""
    __slots__ = ("live", "owned")

    def __init__(self, live, owned=()):
        self.live = set(live)
        self.owned = set(owned) & self.live

    def copy(self):
        return _State(self.live, self.owned)


def _copy_op(ident):
    return Op("copy", nodes.name(ident), diff=[ident])


def _axes(axes):
    if len(axes) == 1:
        return nodes.const(axes[0])
    return gast.Tuple(elts=[nodes.const(a) for a in axes], ctx=gast.Load())


def _walk(stmts):
    for s in stmts:
        yield s
        for field in ("body", "orelse"):
            yield from _walk(getattr(s, field, []) or [])


class ReversePass:
    def __init__(self, ctx, fn, activity, shape_facts):
        self.ctx = ctx
        self.fn = fn
        self.act = activity
        self.adjoints = {}
        self.params = [a.id for a in fn.args.posonlyargs + fn.args.args + fn.args.kwonlyargs]
        # *args (a tuple) and **kwargs (a dict) are parameters and containers
        packed = [a.id for a in (fn.args.vararg, fn.args.kwarg) if a is not None]
        self.params += packed
        self.defined_before = {}
        self.containers = set(packed)
        self.defcount = {}
        self.stack = None
        self.saves = {}     # key -> (var, in_loop)
        self.seen = set()   # names assigned so far, in program order
        self.maybe_before = {}   # statement -> names possibly bound before it
        self.unbound_ok = set()  # names pre-bound to None (zeros_like(None) is None)
        self._fixed = {}    # (loop, live, owned) -> its fixed point (loop_adjoint)
        self._dry = 0       # > 0 inside a loop's dry runs
        self._key = 0
        self._prepare()
        self.shapes = shape_facts     # shapes.Shapes of fn (the pass manager's analysis)
        self.complex_ = self._uses_complex()
        # grad(f, checkpoint="auto" | s): outermost for loops keep snapshots
        # of their state instead of pushing (transforms/ad/checkpoint.py)
        self.checkpoint = getattr(ctx, "checkpoint", None)
        self.ckpt_unbound = set()

    # -- names ---------------------------------------------------------------

    def adj(self, ident):
        if ident not in self.adjoints:
            self.adjoints[ident] = self.ctx.namer.fresh("b" + ident)
        return self.adjoints[ident]

    def g(self, ident, obj):
        return self.ctx.global_name(ident, obj)

    def ad(self, attr):
        return nodes.attr(nodes.name(self.g("ad", self.ctx.runtime)), attr)

    def builtin(self, name):
        """A builtin generated code calls, under a name the user's function
        does not rebind (a parameter or local named ``range``...)."""
        return nodes.name(self.g(name, getattr(builtins, name)))

    def np(self, attr):
        return nodes.attr(nodes.name(self.g("np", self.ctx.numpy)), attr)

    # -- analyses ------------------------------------------------------------

    def _prepare(self):
        for stmt in _walk(self.fn.body):
            if isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name):
                t = stmt.targets[0].id
                self.defcount[t] = self.defcount.get(t, 0) + 1
                op = self.act.ops.get(id(stmt))
                if op is not None and (op.kind in ("container", "user") or (
                        op.kind == "prim" and op.fn in self._container_results())
                        or sequences.returns_numpy_sequence(op)):
                    self.containers.add(t)
            elif isinstance(stmt, gast.For):
                t = stmt.target.id
                self.defcount[t] = self.defcount.get(t, 0) + 1
        # Names that may hold containers (lists, tuples, dicts of arrays),
        # whose adjoints are accumulated with ad.add (``+`` would concatenate
        # lists): parameters that are indexed, iterated or passed to a
        # function of the user's (unless the shape signature says they are
        # arrays), and whatever is computed from a container by copying,
        # indexing or the sequence helpers.
        arrays = set(self.ctx.signature)
        # a parameter's other names (``ps = params`` where an inlined local
        # function binds its parameter) are the same object
        param_names = set(self.params)
        grown = True
        while grown:
            grown = False
            for stmt in _walk(self.fn.body):
                if isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name) \
                        and isinstance(stmt.value, gast.Name) and stmt.value.id in param_names \
                        and stmt.targets[0].id not in param_names:
                    param_names.add(stmt.targets[0].id)
                    grown = True
        for stmt in _walk(self.fn.body):
            op = self.act.ops.get(id(stmt))
            if op is None or op.kind not in ("prim", "user"):
                continue
            if op.kind == "user":
                cands = [a for a in list(op.args) + [v for _, v in op.keywords]]
            elif op.fn is operator.getitem or op.fn in self._sequence_helpers():
                cands = op.args[:1]
            else:
                continue
            for a in cands:
                for n in ops_names(a):
                    if n in param_names and n not in arrays:
                        self.containers.add(n)
        changed = True
        while changed:
            changed = False
            for stmt in _walk(self.fn.body):
                if isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name):
                    t = stmt.targets[0].id
                    v = stmt.value
                    if t in self.containers:
                        # a plain copy is the same object: its source's
                        # adjoint accumulates the same container
                        if isinstance(v, gast.Name) and v.id not in self.containers \
                                and v.id not in arrays:
                            self.containers.add(v.id)
                            changed = True
                        continue
                    src = None
                    if isinstance(v, gast.Name):
                        src = [v.id]
                    else:
                        op = self.act.ops.get(id(stmt))
                        if op is not None and op.kind == "prim" and op.args and (
                                op.fn is operator.getitem or op.fn in self._sequence_helpers()):
                            src = ops_names(op.args[0])
                        elif op is not None and op.kind == "prim" and op.fn in (
                                self.ctx.runtime.seq_add, self.ctx.runtime.seq_mul):
                            src = [n for a in op.args for n in ops_names(a)]
                        elif op is not None and op.kind == "prim" and op.fn is sum \
                                and len(op.args) > 1:     # sum(rows, start): start's kind
                            if isinstance(op.args[1], (gast.List, gast.Tuple)):
                                self.containers.add(t)
                                changed = True
                                continue
                            src = ops_names(op.args[1])
                    if src and any(n in self.containers for n in src):
                        self.containers.add(t)
                        changed = True

    def _sequence_helpers(self):
        """Functions whose result is a container when their argument is."""
        rt = self.ctx.runtime
        return (rt.as_sequence, rt.dict_items, rt.dict_values, rt.dict_get, rt.append,
                rt.zip_, rt.enumerate_, rt.reversed_, rt.sorted_, list, tuple,
                rt.field, rt.replace_fields)

    def _container_results(self):
        """Functions whose result is a list, tuple or record whatever their
        argument is (list(x) of an array is a list: its adjoint is
        accumulated with ad.add, never with + or +=)."""
        rt = self.ctx.runtime
        return (list, tuple, rt.zip_, rt.enumerate_, rt.reversed_, rt.sorted_, rt.append,
                rt.dict_items, rt.dict_values, rt.record, rt.replace_fields)

    def may_overwrite(self, var, in_loop):
        """Can this assignment overwrite a value the adjoint may still read?"""
        return in_loop or var in self.params or var in self.seen

    def new_key(self):
        self._key += 1
        return self._key

    # -- the primal sweep ----------------------------------------------------

    def primal(self, stmts, in_loop, defined):
        out = []
        for stmt in stmts:
            out.extend(self.primal_stmt(stmt, in_loop, defined))
        return out

    def save_marker(self, stmt, var, in_loop):
        overwrite = self.may_overwrite(var, in_loop)
        self.seen.add(var)
        if not overwrite:
            return [], None
        key = self.new_key()
        self.saves[key] = (var, in_loop)
        annotations.set(stmt, Key.KEY, key)
        return [nodes.located(_marker(_SAVE, var, key), stmt)], key

    def primal_stmt(self, stmt, in_loop, defined):
        if isinstance(stmt, gast.Assign):
            target = stmt.targets[0]
            if isinstance(target, gast.Name):
                pre, _ = self.save_marker(stmt, target.id, in_loop)
                op = self.act.ops.get(id(stmt))
                if op is not None and op.kind == "user" and self.act.is_active(target.id) \
                        and any(self.act.is_active(n) for n in op.diff):
                    return pre + self.user_primal(stmt, op, target.id, in_loop, defined)
                defined.add(target.id)
                return pre + [stmt]
            if isinstance(target, gast.Subscript) and isinstance(target.value, gast.Name) \
                    and self.act.is_active(target.value.id):
                return self.store_primal(stmt, target, in_loop, defined)
            return [stmt]
        if isinstance(stmt, gast.If):
            pre = []
            stored = {n.id for n in nodes.walk(gast.Module(body=stmt.body + stmt.orelse, type_ignores=[]))
                      if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store)}
            if isinstance(stmt.test, gast.Name) and stmt.test.id in stored:
                # the branch changes its own condition: test a copy
                cond = self.ctx.namer.temp("c")
                copy_stmt = nodes.located(nodes.assign(cond, nodes.name(stmt.test.id)), stmt)
                self.act.ops[id(copy_stmt)] = _copy_op(stmt.test.id)
                pre = self.primal_stmt(copy_stmt, in_loop, defined)
                stmt.test = nodes.name(cond)
                annotations.set(stmt, Key.COND_COPY, copy_stmt)
            self.defined_before[id(stmt)] = set(defined)
            self.maybe_before[id(stmt)] = set(self.seen) | set(self.params)
            d1 = set(defined)
            d2 = set(defined)
            body = self.primal(stmt.body, in_loop, d1)
            orelse = self.primal(stmt.orelse, in_loop, d2)
            defined |= (d1 & d2)
            return pre + [nodes.located(nodes.if_(stmt.test, body, orelse), stmt)]
        if isinstance(stmt, gast.For):
            return self.for_primal(stmt, in_loop, defined)
        if isinstance(stmt, gast.While):
            return self.while_primal(stmt, in_loop, defined)
        if isinstance(stmt, gast.Expr):
            op = self.act.ops.get(id(stmt))
            if op is not None and op.kind in ("push", "pop"):
                raise self.ctx.info.error(stmt, "reverse mode over reverse-mode code is "
                                          "not supported; use hessian (forward over reverse)",
                                          construct="reverse over reverse")
        return [stmt]

    def store_primal(self, stmt, target, in_loop, defined):
        """``x[idx] = v`` on an active array: keep the overwritten part
        (``old = ad.read_at(x, idx)``) so the adjoint sweep can put it back."""
        old = self.ctx.namer.temp("old")
        read = nodes.call(self.ad("read_at"), [nodes.name(target.value.id),
                                               templates.index_as_value(target.slice)])
        old_stmt = nodes.located(nodes.assign(old, read), stmt)
        self.act.ops[id(old_stmt)] = Op("nondiff", read)
        annotations.set(stmt, Key.OLD, (old_stmt, old))
        return self.primal_stmt(old_stmt, in_loop, defined) + [stmt]

    def store_adjoint(self, stmt, target, state):
        """Adjoint of ``x[idx] = v``: v gets bx[idx]; bx[idx] becomes zero (the
        old values there did not reach the output); then x[idx] is restored."""
        state = state.copy()
        base = target.value.id
        idx = templates.index_as_value(target.slice)
        value = stmt.value
        out = []
        bx = self.adj(base)
        if base in state.live:
            into_value = []
            if isinstance(value, gast.Name) and self.act.is_active(value.id):
                g = self.ctx.namer.temp("g")
                out.append(self.loc(nodes.assign(g, nodes.call(
                    self.ad("take_at"), [nodes.name(bx), nodes.copy_node(idx)])), stmt))
                into_value = [(value.id, nodes.call(self.ad("unbroadcast"), [
                    nodes.name(g), nodes.name(value.id)]))]
            # x[idx] = x (x[::-1] = x): the value's adjoint goes into bx
            # itself, so after the zeroing of bx[idx], which would erase it
            value_is_base = isinstance(value, gast.Name) and value.id == base
            if not value_is_base:
                for name, expr in into_value:
                    out += self.contribute(name, expr, state, stmt)
            if base in state.owned:
                out.append(self.loc(nodes.expr_stmt(nodes.call(
                    self.ad("zero_at"), [nodes.name(bx), nodes.copy_node(idx)])), stmt))
            else:
                out.append(self.loc(nodes.assign(bx, nodes.call(
                    self.ad("zeroed_at"), [nodes.name(bx), nodes.copy_node(idx)])), stmt))
                state.owned.add(base)
            if value_is_base:
                for name, expr in into_value:
                    out += self.contribute(name, expr, state, stmt)
        old_stmt, old = annotations.get(stmt, Key.OLD)
        restore_ = gast.Subscript(value=nodes.name(base), slice=nodes.copy_node(target.slice),
                                  ctx=gast.Store())
        out.append(self.loc(nodes.assign(restore_, nodes.name(old)), stmt))
        more, state = self.adjoint_stmt(old_stmt, state)
        return out + more, state

    def user_primal(self, stmt, op, target, in_loop, defined):
        callee = self.ctx.callee(stmt, op, "split",
                                 [n for n in op.diff if self.act.is_active(n)], self.shapes)
        tape = self.ctx.namer.fresh(f"{target}_tape")
        annotations.set(stmt, Key.CALLEE, (callee, tape))
        self.defcount[tape] = 2 if in_loop else 1
        if op.checkpoint:
            # checkpoint(helper): the primal calls the helper itself and keeps
            # no tape; the adjoint sweep runs helper_fwd again on the
            # arguments (saved like any value the adjoint reads)
            defined.add(target)
            return [stmt]
        pre, _ = ([], None)
        if in_loop:
            key = self.new_key()
            self.saves[key] = (tape, True)
            annotations.set(stmt, Key.TAPE_KEY, key)
            pre = [nodes.located(_marker(_SAVE, tape, key), stmt)]
        call = nodes.call(nodes.name(callee.name), [nodes.copy_node(a) for a in op.args],
                          [(k, nodes.copy_node(v)) for k, v in op.keywords])
        new = nodes.assign(nodes.tuple_([nodes.name(target, True), nodes.name(tape, True)],
                                        store=True), call)
        defined.add(target)
        defined.add(tape)
        return pre + [nodes.located(new, stmt)]

    @staticmethod
    def _has_break(body):
        for s in _walk(body):
            if isinstance(s, gast.Break):
                return True
        return False

    def for_primal(self, stmt, in_loop, defined):
        self.defined_before[id(stmt)] = set(defined)
        self.maybe_before[id(stmt)] = set(self.seen) | set(self.params)
        pre = []
        var = stmt.target.id
        key_i = None
        if self.may_overwrite(var, in_loop) or var in defined:
            key_i = self.new_key()
            self.saves[key_i] = (var, in_loop)
            pre.append(nodes.located(_marker(_SAVE, var, key_i), stmt))
        annotations.set(stmt, Key.KEY, key_i)
        body_defined = set(defined) | {var}
        body = self.primal(stmt.body, True, body_defined)
        ckpt_state = None
        if self.checkpoint is not None and not in_loop:
            ckpt_state = checkpoint.plan_loop(self, stmt, body)
        plain = body
        counter = None
        if self._has_break(stmt.body):
            counter = self.ctx.namer.temp("n")
            self.defcount[counter] = 1
            key_n = None
            if in_loop:
                key_n = self.new_key()
                self.saves[key_n] = (counter, True)
                pre.append(nodes.located(_marker(_SAVE, counter, key_n), stmt))
            pre.append(nodes.located(nodes.assign(counter, nodes.const(0)), stmt))
            body = [nodes.located(nodes.assign(counter, nodes.binop(
                nodes.name(counter), gast.Add(), nodes.const(1))), stmt)] + body
            annotations.set(stmt, Key.COUNTER, (counter, key_n))
        else:
            annotations.set(stmt, Key.COUNTER, None)
        loop = gast.For(target=nodes.name(var, True), iter=stmt.iter, body=body, orelse=[],
                        type_comment=None)
        defined.add(var)
        if ckpt_state is not None:
            cp, made = checkpoint.primal_loop(self, stmt, loop, ckpt_state, plain)
            annotations.set(stmt, Key.CKPT, (cp, ckpt_state, plain))
            return pre + [nodes.located(m, stmt) for m in made]
        annotations.set(stmt, Key.CKPT, None)
        return pre + [nodes.located(loop, stmt)]

    def while_primal(self, stmt, in_loop, defined):
        if self.checkpoint is not None and not in_loop:
            checkpoint.refuse_while(self, stmt)
        self.defined_before[id(stmt)] = set(defined)
        self.maybe_before[id(stmt)] = set(self.seen) | set(self.params)
        pre = []
        counter = self.ctx.namer.temp("n")
        self.defcount[counter] = 1
        key_n = None
        if in_loop:
            key_n = self.new_key()
            self.saves[key_n] = (counter, True)
            pre.append(nodes.located(_marker(_SAVE, counter, key_n), stmt))
        pre.append(nodes.located(nodes.assign(counter, nodes.const(0)), stmt))
        body = self.primal(stmt.body, True, set(defined))
        body = [nodes.located(nodes.assign(counter, nodes.binop(
            nodes.name(counter), gast.Add(), nodes.const(1))), stmt)] + body
        annotations.set(stmt, Key.COUNTER, (counter, key_n))
        loop = gast.While(test=stmt.test, body=body, orelse=[])
        return pre + [nodes.located(loop, stmt)]

    # -- the adjoint sweep -------------------------------------------------------

    def adjoint(self, stmts, state):
        out = []
        for stmt in reversed(stmts):
            new, state = self.adjoint_stmt(stmt, state)
            out.extend(new)
        return out, state

    def loc(self, node, stmt):
        node = nodes.located(node, stmt)
        return annotations.set(node, Key.ADJOINT, True)

    def adjoint_stmt(self, stmt, state):
        if isinstance(stmt, gast.Assign):
            target = stmt.targets[0]
            if isinstance(target, gast.Subscript) and annotations.has(stmt, Key.OLD):
                return self.store_adjoint(stmt, target, state)
            if not isinstance(target, gast.Name):
                return [], state
            out, state = self.assign_adjoint(stmt, target.id, state)
            # restores run in the reverse order of the saves
            tk = annotations.get(stmt, Key.TAPE_KEY)
            if tk is not None:
                out.append(self.loc(_marker(_RESTORE, self.saves[tk][0], tk), stmt))
            key = annotations.get(stmt, Key.KEY)
            if key is not None:
                out.append(self.loc(_marker(_RESTORE, target.id, key), stmt))
            return out, state
        if isinstance(stmt, gast.If):
            if len(stmt.body) == 1 and isinstance(stmt.body[0], gast.Break) and not stmt.orelse:
                return [], state
            copy_stmt = annotations.get(stmt, Key.COND_COPY)
            if copy_stmt is not None:
                annotations.delete(stmt, Key.COND_COPY)
                out, state = self.adjoint_stmt(stmt, state)
                more, state = self.adjoint_stmt(copy_stmt, state)
                annotations.set(stmt, Key.COND_COPY, copy_stmt)
                return out + more, state
            before = self.maybe_before.get(id(stmt), set())
            self.unbound_ok |= before - self.defined_before.get(id(stmt), set())
            b1, s1 = self.adjoint(stmt.body, state.copy())
            b2, s2 = self.adjoint(stmt.orelse, state.copy())
            live = s1.live | s2.live
            for v in sorted(s1.live - s2.live):
                if v in before:
                    b2.append(self.loc(self.zero_init(v), stmt))
                    s2.owned.add(v)
                else:
                    live.discard(v)
            for v in sorted(s2.live - s1.live):
                if v in before:
                    b1.append(self.loc(self.zero_init(v), stmt))
                    s1.owned.add(v)
                else:
                    live.discard(v)
            joined = _State(live, s1.owned & s2.owned)
            if not b1 and not b2:
                return [], joined
            return [self.loc(nodes.if_(stmt.test, b1, b2), stmt)], joined
        if isinstance(stmt, (gast.For, gast.While)):
            return self.loop_adjoint(stmt, state)
        return [], state

    def zero_init(self, v):
        # ad.zeros_like: arrays, scalars and containers (lists of pairs...);
        # a container's adjoint buffer is updated in place by ad.add_at, so a
        # tuple's is a list (ad.zeros_buffer)
        fn = "zeros_buffer" if v in self.containers else "zeros_like"
        return nodes.assign(self.adj(v), nodes.call(self.ad(fn), [nodes.name(v)]))

    def contribute(self, name, expr, state, stmt, fresh=False):
        """Accumulate ``expr`` into the adjoint of ``name``.

        ``fresh``: expr is a newly allocated value nothing else refers to."""
        if not self.act.is_active(name):
            return []
        b = self.adj(name)
        if name in state.live and name in state.owned and name not in self.containers \
                and not self.complex_:
            # an array we own: accumulate in place (no new array per step)
            aug = gast.AugAssign(target=nodes.name(b, store=True), op=gast.Add(), value=expr)
            return [self.loc(aug, stmt)]
        if name in state.live:
            if name in self.containers:
                value = nodes.call(self.ad("add"), [nodes.name(b), expr])
            else:
                value = nodes.binop(nodes.name(b), gast.Add(), expr)
            state.owned.add(name)       # a + b is a new array
        else:
            value = expr
            state.live.add(name)
            if fresh:
                state.owned.add(name)
            else:
                state.owned.discard(name)
        return [self.loc(nodes.assign(b, value), stmt)]

    def contribute_at(self, name, idx, g, state, stmt):
        """The adjoint of ``z = name[idx]``: scatter ``g`` into the adjoint of
        ``name``, in place when we own it (no O(n) copy per element read)."""
        if not self.act.is_active(name):
            return []
        b = self.adj(name)
        if name in state.live and name in state.owned:
            call = nodes.call(self.ad("add_at"), [nodes.name(b), idx, g])
            return [self.loc(nodes.expr_stmt(call), stmt)]
        scatter = nodes.call(self.ad("scatter"), [g, nodes.name(name), idx])
        return self.contribute(name, scatter, state, stmt, fresh=True)

    def assign_adjoint(self, stmt, target, state):
        state = state.copy()
        if not self.act.is_active(target) or target not in state.live:
            state.live.discard(target)
            return [], state
        op = self.act.ops[id(stmt)]
        bt = nodes.name(self.adj(target))
        out = []
        state.live.discard(target)
        if op.kind == "copy":
            out += self.contribute(op.node.id, bt, state, stmt)
        elif op.kind == "container":
            out += self.unpack_adjoint(op.node, bt, state, stmt)
        elif op.kind == "prim":
            out += self.prim_adjoint(stmt, op, target, bt, state)
        elif op.kind == "user":
            callee, tape = annotations.get(stmt, Key.CALLEE, (None, None))
            if callee is not None:
                if op.checkpoint:
                    out += self.recompute_callee(stmt, op, callee, tape)
                grads = [self.ctx.namer.temp("g") for _ in callee.order]
                call = nodes.call(nodes.name(callee.bwd_name), [nodes.name(tape), bt])
                if len(grads) == 1:
                    tgt = nodes.tuple_([nodes.name(grads[0], True)], store=True)
                else:
                    tgt = nodes.tuple_([nodes.name(gn, True) for gn in grads], store=True)
                out.append(self.loc(nodes.assign(tgt, call), stmt))
                for param, gname in zip(callee.order, grads):
                    # a name, or the tuple / dict display a *args / **kwargs
                    # parameter received
                    actual = callee.bound[param]
                    out += self.unpack_adjoint(actual, nodes.name(gname), state, stmt)
        return out, state

    def recompute_callee(self, stmt, op, callee, tape):
        """``_, tape = helper_fwd(args)`` for a checkpointed helper: its
        forward sweep again, on the arguments of the call, for its tape."""
        call = nodes.call(nodes.name(callee.name), [nodes.copy_node(a) for a in op.args],
                          [(k, nodes.copy_node(v)) for k, v in op.keywords])
        again = self.ctx.namer.fresh("_")
        new = self.loc(nodes.assign(nodes.tuple_([nodes.name(again, True), nodes.name(tape, True)],
                                                 store=True), call), stmt)
        annotations.set(new, Key.NOTE, f"checkpoint: {op.label[:-2]}'s forward sweep is "
                                       f"recomputed here (its values were not kept)")
        return [new]

    def unpack_adjoint(self, node, bnode, state, stmt):
        """Adjoint of a tuple/list/dict display: each element gets its part of
        the display's adjoint (nested displays recursively)."""
        out = []
        if isinstance(node, gast.Name):
            return self.contribute(node.id, bnode, state, stmt)
        if isinstance(node, gast.Dict):
            pairs = list(zip(node.keys, node.values))
        elif isinstance(node, (gast.Tuple, gast.List)):
            pairs = [(nodes.const(i), e) for i, e in enumerate(node.elts)]
        else:
            return out
        for key, value in pairs:
            if not any(self.act.is_active(n) for n in nodes.names_in(value)):
                continue
            item = gast.Subscript(value=nodes.copy_node(bnode), slice=nodes.copy_node(key),
                                  ctx=gast.Load())
            out += self.unpack_adjoint(value, item, state, stmt)
        return out

    def prim_adjoint(self, stmt, op, target, bt, state):
        if op.prim.reverse is None:
            raise self.ctx.info.error(stmt, f"no reverse-mode rule for {op.prim.name}",
                                      hint="use forward mode (jvp), or register a reverse "
                                           "rule (see CONTRIBUTING.md)", construct=op.prim.name)
        if op.starred:
            raise self.ctx.info.error(stmt, f"cannot differentiate {op.label} called with "
                                      "*args/**kwargs", construct="starred call")
        tpl = templates.get_template(op.prim.reverse)
        try:
            binding = templates.bind(tpl, op.args, op.keywords)
        except templates.BindError as exc:
            raise self.ctx.info.error(stmt, f"unsupported arguments for {op.prim.name}: {exc}",
                                      construct=op.prim.name) from None
        if op.fn is operator.getitem and isinstance(op.args[0], gast.Name):
            idx = templates.index_as_value(op.args[1])
            return self.contribute_at(op.args[0].id, idx, nodes.copy_node(bt), state, stmt)
        keep = set()
        for p, actual in binding.items():
            # a name, or a (nested) tuple/list display of atoms
            if p not in tpl.nondiff and any(self.act.is_active(n) for n in ops_names(actual)):
                keep.add(p)

        missing = sorted(p for p in keep if p not in tpl.assigned)
        if missing:
            raise self.ctx.info.error(
                stmt, f"the reverse rule of {op.prim.name} gives no derivative for its "
                f"argument '{missing[0]}', which is differentiated here",
                hint="pass that argument as a constant (it is not differentiable here), "
                     "or add d[...] for it to the rule", construct=op.prim.name)

        def deriv(p):
            if p == tpl.result:
                return nodes.copy_node(bt)
            raise ValueError(f"rule {tpl.name} reads d[{p}] in reverse mode")

        items = templates.instantiate(tpl, binding, nodes.name(target), deriv,
                                      self.ctx.namer.temp, self.ctx.global_name, "reverse")
        items = templates.prune(items, keep)
        out = []
        for it in items:
            if it[0] == "stmt":
                out.append(self.loc(it[1], stmt))
                continue
            _, p, expr = it
            actual = binding[p]
            expr = self._shape_aware(expr, target)
            if isinstance(actual, gast.Name):
                out += self.contribute(actual.id, expr, state, stmt)
            elif isinstance(actual, (gast.Tuple, gast.List)):
                tmp = self.ctx.namer.temp("g")
                out.append(self.loc(nodes.assign(tmp, expr), stmt))
                # g[i] (g[i][j] for nested displays) to each active member
                out += self.unpack_adjoint(actual, nodes.name(tmp), state, stmt)
        return out

    def _shape_aware(self, expr, target):
        """Shape-aware forms of the runtime's shape helpers (see
        transforms/analyses/shapes.py): ``ad.unbroadcast(g, x)`` is g itself when x
        provably has the shape of the result, an explicit ``g.sum(axis=...)``
        when both shapes are known; ``ad.mean_grad``/``ad.expand`` build their
        result from the arguments' shapes instead of reading x."""
        if self._is_ad_call(expr, "unbroadcast", 2) and isinstance(expr.args[1], gast.Name):
            if self.complex_:
                return expr     # (the runtime drops the imaginary part of a real x's adjoint)
            g, x = expr.args
            xs, ts = self.shapes.shape(x.id), self.shapes.shape(target)
            if shapes.equal(xs, ts):
                return g
            axes = shapes.reduction_axes(ts, xs)
            if axes is not None:
                # (the ndarray method: np.sum's Python layer costs ~1 us)
                lead, keep = axes
                sign = False
                if isinstance(g, gast.UnaryOp) and isinstance(g.op, gast.USub):
                    sign, g = True, g.operand    # -(g.sum()): negate the smaller array
                g = self._reduce_to(g, xs, lead, keep)
                return gast.UnaryOp(op=gast.USub(), operand=g) if sign else g
            return expr
        return self._shape_helpers(expr)

    @staticmethod
    def _reduce_to(g, xs, lead, keep):
        """``g`` summed over leading axes ``lead`` and, keeping them, ``keep``."""
        if not xs:
            return nodes.call(nodes.attr(g, "sum"))
        if lead:
            g = nodes.call(nodes.attr(g, "sum"), [], [("axis", _axes(lead))])
        if keep:
            g = nodes.call(nodes.attr(g, "sum"), [], [("axis", _axes(keep)),
                                                      ("keepdims", nodes.const(True))])
        return g

    def _is_ad_call(self, expr, attr, nargs):
        return (isinstance(expr, gast.Call)
                and nodes.injected_object(self.ctx.injected, expr.func) is getattr(self.ctx.runtime, attr)
                and len(expr.args) in (nargs if isinstance(nargs, tuple) else (nargs,))
                and not expr.keywords)

    def _shape_helpers(self, expr):
        """``ad.mean_grad(g, x)`` -> ``np.full(shape, g / n)`` and
        ``ad.expand(g, x, ...)`` -> ``np.full``/``np.broadcast_to`` when x is
        a float64 array of a shape known from the arguments."""
        for node in list(nodes.walk(expr)):
            for field, value in gast.iter_fields(node):
                if isinstance(value, list):
                    for i, v in enumerate(value):
                        new = self._shape_helper(v)
                        if new is not None:
                            value[i] = new
                else:
                    new = self._shape_helper(value)
                    if new is not None:
                        setattr(node, field, new)
        return self._shape_helper(expr) or expr

    def _shape_helper(self, expr):
        mean = self._is_ad_call(expr, "mean_grad", 2)
        if not (mean or self._is_ad_call(expr, "expand", (2, 3, 4))):
            return None
        x = expr.args[1]
        if not isinstance(x, gast.Name) or self.shapes.dtype(x.id) != "d":
            return None
        xs = self.shapes.shape(x.id)
        shape = self.shapes.shape_expr(xs)
        if shape is None or not xs:
            return None
        g = expr.args[0]
        if mean:
            n = None
            for d in xs:
                e = self.shapes.dim_expr(d)
                n = e if n is None else gast.BinOp(left=n, op=gast.Mult(), right=e)
            return nodes.call(self.np("full"), [shape, gast.BinOp(left=g, op=gast.Div(), right=n)])
        axis = expr.args[2] if len(expr.args) > 2 else nodes.const(None)
        keep = expr.args[3] if len(expr.args) > 3 else nodes.const(False)
        if not (isinstance(axis, (gast.Constant, gast.Tuple)) and isinstance(keep, gast.Constant)):
            return None
        if isinstance(axis, gast.Constant) and axis.value is None:
            if keep.value:
                return nodes.call(self.ad("broadcast_to"), [g, shape])
            return nodes.call(self.np("full"), [shape, g])
        if not keep.value:
            # g[:, None] for np.expand_dims(g, 1)
            axes = [e.value for e in axis.elts] if isinstance(axis, gast.Tuple) else [axis.value]
            n = len(xs)
            if not all(isinstance(a, int) and -n <= a < n for a in axes):
                return None
            axes = {a % n for a in axes}
            index = [nodes.const(None) if i in axes else gast.Slice(lower=None, upper=None, step=None)
                     for i in range(n)]
            g = gast.Subscript(value=g, slice=gast.Tuple(elts=index, ctx=gast.Load()), ctx=gast.Load())
        return nodes.call(self.ad("broadcast_to"), [g, shape])

    def loop_adjoint(self, stmt, state):
        entry = state.copy()
        before = self.maybe_before.get(id(stmt), set())
        self.unbound_ok |= before - self.defined_before.get(id(stmt), set())
        # The fixed point's trials are dry runs (their code is dropped); a
        # loop met again in the same state reuses its fixed point, and a dry
        # run needs only the state after the loop: nested loops cost linear
        # time, not 2**depth passes over the innermost body.
        key = (id(stmt), frozenset(entry.live), frozenset(entry.owned))
        fixed = self._fixed.get(key)
        if fixed is None:
            live = set(entry.live)
            # zero-initialized before the loop or at the end of the body: owned
            owned = set(entry.owned)
            snap = snapshot(self.ctx.namer)
            self._dry += 1
            try:
                while True:
                    _, after = self.adjoint(stmt.body, _State(live, owned))
                    new_live = live | after.live
                    new_owned = (owned | (new_live - entry.live) | (new_live - after.live)) & \
                        (after.owned | (new_live - after.live))
                    if new_live == live and new_owned == owned:
                        break
                    live, owned = new_live, new_owned
                    restore(self.ctx.namer, snap)
            finally:
                self._dry -= 1
            restore(self.ctx.namer, snap)
            # (stmt kept in the value: its id stays its own)
            fixed = self._fixed[key] = (frozenset(live), frozenset(owned), stmt)
        live, owned = set(fixed[0]), set(fixed[1])
        if self._dry:
            return [], _State(live, owned)
        body, after = self.adjoint(stmt.body, _State(live, owned))
        pre = []
        for v in sorted(live - entry.live):
            if v in before:
                pre.append(self.loc(self.zero_init(v), stmt))
        for v in sorted(live - after.live):
            body.append(self.loc(self.zero_init(v), stmt))
        if not body:
            body = []
        counter = annotations.get(stmt, Key.COUNTER)
        ckpt = isinstance(stmt, gast.For) and annotations.get(stmt, Key.CKPT) and body
        if ckpt:
            pass
        elif isinstance(stmt, gast.For):
            var = stmt.target.id
            rng = stmt.iter
            needs_var = var in nodes.loaded_names(gast.Module(body=body, type_ignores=[]))
            if counter is not None:
                seq = gast.Subscript(value=nodes.copy_node(rng),
                                     slice=gast.Slice(lower=None, upper=nodes.name(counter[0]), step=None),
                                     ctx=gast.Load())
            else:
                seq = nodes.copy_node(rng)
            if needs_var:
                it = nodes.call(self.builtin("reversed"), [seq])
                target = nodes.name(var, True)
            else:
                it = nodes.call(self.builtin("range"), [nodes.call(self.builtin("len"), [seq])]) \
                    if counter is None else nodes.call(self.builtin("range"), [nodes.name(counter[0])])
                target = nodes.name(self.ctx.namer.fresh("_"), True)
        else:
            it = nodes.call(self.builtin("range"), [nodes.name(counter[0])])
            target = nodes.name(self.ctx.namer.fresh("_"), True)
        out = []
        if ckpt:        # run again from snapshots, then reversed (transforms/ad/checkpoint.py)
            out = checkpoint.adjoint_loop(self, stmt, body, pre)
        elif body:
            loop = gast.For(target=target, iter=it, body=body, orelse=[], type_comment=None)
            out = pre + [self.loc(loop, stmt)]
        if counter is not None and counter[1] is not None:
            out.append(self.loc(_marker(_RESTORE, counter[0], counter[1]), stmt))
        key_i = annotations.get(stmt, Key.KEY) if isinstance(stmt, gast.For) else None
        if key_i is not None:
            out.append(self.loc(_marker(_RESTORE, stmt.target.id, key_i), stmt))
        return out, _State(live, owned)

    # -- assembling ----------------------------------------------------------------

    def _sweeps(self, wrt, seed):
        """(primal statements, output atom, adjoint statements, gradient nodes)."""
        body = self.fn.body
        ret = body[-1]
        assert isinstance(ret, gast.Return)
        primal = self.primal(body[:-1], False, set(self.params))
        out = ret.value
        state = _State(())
        adjoint = []
        if isinstance(out, gast.Name) and self.act.is_active(out.id):
            bout = self.adj(out.id)
            seed_stmt = seed(out, bout)
            if seed_stmt is not None:
                adjoint.append(self.loc(seed_stmt, ret))
            state.live.add(out.id)
            adj, state = self.adjoint(body[:-1], state)
            adjoint += adj
        grads = []
        for p in wrt:
            if p in state.live and self.complex_ and p not in self.containers:
                grads.append(nodes.call(self.ad("project"), [nodes.name(self.adj(p)), nodes.name(p)]))
            elif p in state.live and p in self.containers:
                g = nodes.call(self.ad("complete"), [nodes.name(self.adj(p)), nodes.name(p)])
                if self.complex_:    # real leaves of a pytree get real gradients too
                    g = nodes.call(self.ad("project"), [g, nodes.name(p)])
                grads.append(g)
            elif p in state.live:
                grads.append(nodes.name(self.adj(p)))
            elif p in self.defcount:
                # the parameter was rebound: zeros shaped like the argument
                orig = self.ctx.namer.fresh(f"{p}_arg")
                primal.insert(0, nodes.assign(orig, nodes.name(p)))
                grads.append(nodes.call(self.ad("zeros_like"), [nodes.name(orig)]))
            else:
                grads.append(nodes.call(self.ad("zeros_like"), [nodes.name(p)]))
        primal, adjoint = self._resolve_markers(primal, adjoint)
        return primal, out, adjoint, grads

    def _uses_complex(self):
        """Does the function compute with complex values (fft, complex
        constants, real/imag/conj/angle)?  Then gradients of real inputs are
        projected on the reals."""
        for stmt in self.fn.body:       # (each node once: nested blocks too)
            for n in nodes.walk(stmt):
                if isinstance(n, gast.Constant) and isinstance(n.value, complex):
                    return True
        for stmt in _walk(self.fn.body):
            op = self.act.ops.get(id(stmt))
            fn = getattr(op, "fn", None)
            mod = getattr(fn, "__module__", "") or ""
            if mod.startswith("numpy.fft") or mod.startswith("scipy.fft") or fn in (
                    numpy.real, numpy.imag, numpy.conj, numpy.conjugate, numpy.angle):
                return True
        return False

    def _rematerialize(self, primal, adjoint, needed):
        """Values a loop would push only to read them back, which one cheap
        operation recomputes from values the adjoint sweep restores anyway:
        ``t = c * x`` with ``x`` saved for its own sake and ``c`` never
        overwritten.  Instead of ``ad.push(stack, t)`` / ``t = ad.pop(stack)``,
        the adjoint sweep computes ``t = c * x`` again just before its first
        read of t: one array less per iteration on the tape (the peak memory
        of a loop's gradient), one elementwise operation more per iteration.

        Valid because at any point of the adjoint of the statements from
        ``t = ...`` to its last reader, every variable holds the value it had
        in the primal sweep at that statement, restored by its own saves, and
        the operands are not assigned between the two.  Conditions: t is
        bound only there, read only by later statements of the same block
        (not by the next iteration), its adjoint reads are in the adjoint of
        that block before its restore; each operand is never overwritten or
        is restored anyway (read by the adjoint sweep), and is assigned
        neither between t's assignment and its last reader nor in the
        adjoint sweep.  Returns the keys of the saves made unnecessary
        (their markers are dropped by the caller)."""
        saves_at, restores_at = {}, {}

        def index(stmts, kind, table):
            for s in stmts:
                mk = annotations.get(s, Key.MARKER)
                if mk is not None:
                    if mk[0] == kind:
                        table.setdefault(mk[2], []).append((stmts, s))
                    continue
                for field in ("body", "orelse"):
                    sub = getattr(s, field, None)
                    if isinstance(sub, list):
                        index(sub, kind, table)

        index(primal, _SAVE, saves_at)
        index(adjoint, _RESTORE, restores_at)

        def counts(stmts):
            loads, stores = {}, {}
            for n in nodes.walk(gast.Module(body=list(stmts), type_ignores=[])):
                if isinstance(n, gast.Name):
                    table = loads if isinstance(n.ctx, gast.Load) else stores
                    table[n.id] = table.get(n.id, 0) + 1
            return loads, stores

        p_loads, p_stores = counts(primal)
        a_loads, a_stores = counts(adjoint)
        # reads of a value only for its shape, which specialization may drop
        # (then the save goes, and recomputing it, or keeping its operands
        # for it, would cost instead of save)
        shape_only = {}
        shape_args = {getattr(self.ctx.runtime, h, None): i for h, i in (
            ("unbroadcast", 1), ("scalar_seed", 0), ("zeros_like", 0),
            ("zeros_buffer", 0), ("mean_grad", 1), ("expand", 1))}
        for n in nodes.walk(gast.Module(body=list(adjoint), type_ignores=[])):
            if isinstance(n, gast.Call):
                i = shape_args.get(nodes.injected_object(self.ctx.injected, n.func))
                if i is not None and i < len(n.args) and isinstance(n.args[i], gast.Name):
                    shape_only[n.args[i].id] = shape_only.get(n.args[i].id, 0) + 1
        real_reads = {v: c - shape_only.get(v, 0) for v, c in a_loads.items()}
        keys_of = {}
        for k, (var, _) in self.saves.items():
            keys_of.setdefault(var, []).append(k)
        # bound once by a top-level assignment (before any loop reading it)
        top_once = {s.targets[0].id for s in primal
                    if isinstance(s, gast.Assign) and len(s.targets) == 1
                    and isinstance(s.targets[0], gast.Name)
                    and p_stores.get(s.targets[0].id) == 1}

        def restored(o):
            """Does ``o`` hold, all through the adjoint sweep, the value the
            primal sweep had at the same point?  When every assignment of it
            is undone by a restore (its saves are kept: the adjoint sweep
            reads it), or when it is never assigned, or once at the top
            level.  (A loop index without saves keeps its last value.)"""
            if o in keys_of:
                return real_reads.get(o, 0) > 0
            return not p_stores.get(o) or o in top_once

        done, remat_vars, remat_operands = set(), set(), set()
        for key in sorted(self.saves):
            var, in_loop = self.saves[key]
            if not in_loop or real_reads.get(var, 0) <= 0 or var in self.params \
                    or len(keys_of[var]) != 1 or var in remat_operands \
                    or len(saves_at.get(key, ())) != 1 or len(restores_at.get(key, ())) != 1:
                continue
            block, marker = saves_at[key][0]
            i = next(j for j, s in enumerate(block) if s is marker)
            stmt = block[i + 1] if i + 1 < len(block) else None
            if not (isinstance(stmt, gast.Assign) and len(stmt.targets) == 1
                    and isinstance(stmt.targets[0], gast.Name) and stmt.targets[0].id == var):
                continue
            operands = _cheap_operands(stmt.value)
            if operands is None or var in operands or p_stores.get(var) != 1 \
                    or a_stores.get(var) or any(o in remat_vars for o in operands):
                continue
            # read only after it, in its block
            later = block[i + 2:]
            reads = [counts([s])[0].get(var, 0) for s in later]
            if sum(reads) != p_loads.get(var, 0) or not any(reads):
                continue
            last = max(j for j, r in enumerate(reads) if r)
            _, between = counts(later[:last + 1])
            if any(between.get(o) or a_stores.get(o) or not restored(o) for o in operands):
                continue
            # the adjoint reads it in the adjoint of its block, before its restore
            ablock, restore_marker = restores_at[key][0]
            r = next(j for j, s in enumerate(ablock) if s is restore_marker)
            areads = [counts([s])[0].get(var, 0) for s in ablock[:r]]
            if sum(areads) != a_loads.get(var, 0) or not any(areads):
                continue
            first = next(j for j, c in enumerate(areads) if c)
            again = nodes.located(nodes.assign(var, nodes.copy_node(stmt.value)), stmt)
            annotations.set(again, Key.ADJOINT, True)
            ablock.insert(first, again)
            done.add(key)
            remat_vars.add(var)
            remat_operands.update(operands)
        return done

    def _resolve_markers(self, primal, adjoint):
        needed = set()
        zero_inited = set()
        for n in nodes.walk(gast.Module(body=adjoint, type_ignores=[])):
            if isinstance(n, gast.Name):
                if isinstance(n.ctx, gast.Load):
                    needed.add(n.id)
            elif isinstance(n, gast.Assign) and isinstance(n.value, gast.Call) \
                    and isinstance(n.value.func, gast.Attribute) \
                    and n.value.func.attr in ("zeros_like", "zeros_buffer") \
                    and n.value.args and isinstance(n.value.args[0], gast.Name):
                zero_inited.add(n.value.args[0].id)
        if self.checkpoint is not None:     # (a checkpointed loop's runs of its body)
            needed = checkpoint.needed_names(adjoint)
        remat = set() if self.checkpoint is not None else \
            self._rematerialize(primal, adjoint, needed)
        active_keys = {k for k, (var, _) in self.saves.items()
                       if var in needed and k not in remat}
        pre_init = sorted({self.saves[k][0] for k in active_keys
                           if self.saves[k][0] not in self.params}
                          | ((self.unbound_ok & zero_inited) - set(self.params)))
        saved_names = {}

        def stack():
            if self.stack is None:
                self.stack = self.ctx.namer.fresh("stack")
            return self.stack

        def rewrite(stmts, is_primal):
            out = []
            for s in stmts:
                mk = annotations.get(s, Key.MARKER)
                if mk is not None:
                    kind, var, key = mk
                    if key not in active_keys:
                        continue
                    in_loop = self.saves[key][1]
                    if in_loop:
                        if kind == _SAVE:
                            new = nodes.expr_stmt(nodes.call(self.ad("push"),
                                                             [nodes.name(stack()), nodes.name(var)]))
                        else:
                            new = nodes.assign(var, nodes.call(self.ad("pop"), [nodes.name(stack())]))
                    else:
                        if key not in saved_names:
                            saved_names[key] = self.ctx.namer.fresh(f"{var}_prev")
                        if kind == _SAVE:
                            new = nodes.assign(saved_names[key], nodes.name(var))
                        else:
                            new = nodes.assign(var, nodes.name(saved_names[key]))
                    new = nodes.located(new, s)
                    if not is_primal and not annotations.get(s, Key.TAPED, False):
                        annotations.set(new, Key.ADJOINT, True)
                    out.append(new)
                    continue
                for field in ("body", "orelse"):
                    sub = getattr(s, field, None)
                    if sub:
                        setattr(s, field, rewrite(sub, is_primal) or ([gast.Pass()] if field == "body" else []))
                out.append(s)
            return out

        primal = rewrite(primal, True)
        adjoint = rewrite(adjoint, False)
        self.pre_init = set(pre_init)
        # (the state of a checkpointed loop, where it may be unbound)
        pre_init = sorted(set(pre_init) | self.ckpt_unbound)
        inits = [nodes.assign(v, nodes.const(None)) for v in pre_init]
        if self.stack is not None:
            inits.append(nodes.assign(self.stack, gast.List(elts=[], ctx=gast.Load())))
        return inits + primal, adjoint

    def _float_scalar(self, out):
        """Is the output provably a float64 scalar (then its seed is 1.0 and
        needs no check)?"""
        return (isinstance(out, gast.Name) and self.shapes.shape(out.id) == ()
                and self.shapes.dtype(out.id) == "d")

    def run_combined(self, wrt, with_value, aux=None):
        def seed(out, bout):
            if self._float_scalar(out):
                return nodes.assign(bout, nodes.const(1.0))
            return nodes.assign(bout, nodes.call(self.ad("scalar_seed"), [nodes.copy_node(out)]))

        # the seed is also the scalar check, so emit it even for constant outputs
        primal, out, adjoint, grads = self._sweeps(wrt, seed)
        if not (isinstance(out, gast.Name) and self.act.is_active(out.id)) \
                and not self._float_scalar(out):
            primal.append(nodes.expr_stmt(nodes.call(self.ad("scalar_seed"), [nodes.copy_node(out)])))
        result = grads[0] if len(grads) == 1 else nodes.tuple_(grads)
        if aux is not None:
            kept = self.ctx.namer.fresh("aux_value")
            primal.append(nodes.assign(kept, nodes.name(aux)))
            aux = kept
            if not with_value:
                result = nodes.tuple_([result, nodes.name(aux)])
        if with_value:
            # the adjoint sweep may restore the output's name: keep the value
            value = self.ctx.namer.fresh("value")
            primal.append(nodes.assign(value, nodes.copy_node(out)))
            if aux is not None:
                result = nodes.tuple_([nodes.tuple_([nodes.name(value), nodes.name(aux)]), result])
            else:
                result = nodes.tuple_([nodes.name(value), result])
        fn = copy.copy(self.fn)
        fn.body = primal + adjoint + [gast.Return(value=result)]
        return fn

    def _record_restores(self, stmts, redo):
        """``x[i] = old`` -> ``ad.restore(redo, x, i, old)`` (records x[i])."""
        out = []
        for st in stmts:
            if (isinstance(st, gast.Assign) and isinstance(st.targets[0], gast.Subscript)
                    and isinstance(st.targets[0].value, gast.Name)):
                t = st.targets[0]
                call = nodes.call(self.ad("restore"), [nodes.name(redo), nodes.name(t.value.id),
                                                       templates.index_as_value(t.slice), st.value])
                new = nodes.located(nodes.expr_stmt(call), st)
                annotations.copy(st, new)       # (new replaces st, adjoint code)
                annotations.set(new, Key.ADJOINT, True)
                out.append(new)
                continue
            for field in ("body", "orelse"):
                sub = getattr(st, field, None)
                if sub:
                    setattr(st, field, self._record_restores(sub, redo))
            out.append(st)
        return out

    def run_split(self, wrt, base):
        primal, out, adjoint, grads = self._sweeps(wrt, lambda out, bout: None)
        loaded = set()
        for node in nodes.walk(gast.Module(body=adjoint + [gast.Return(value=nodes.tuple_(grads))],
                                          type_ignores=[])):
            if isinstance(node, gast.Name) and isinstance(node.ctx, gast.Load):
                loaded.add(node.id)
        assigned = set(self.params)
        for node in nodes.walk(gast.Module(body=primal, type_ignores=[])):
            if isinstance(node, gast.Name) and isinstance(node.ctx, gast.Store):
                assigned.add(node.id)
        adjoint_assigned = set()
        for node in nodes.walk(gast.Module(body=adjoint, type_ignores=[])):
            if isinstance(node, gast.Name) and isinstance(node.ctx, gast.Store):
                adjoint_assigned.add(node.id)
        saved = sorted((loaded & assigned) - {self.adj(n) for n in self.adjoints}
                       - (adjoint_assigned - assigned))
        saved = [s for s in saved if s != self.stack] + ([self.stack] if self.stack else [])
        # values saved from inside branches may be unbound on the path taken
        primal = [nodes.assign(v, nodes.const(None))
                  for v in saved if v not in self.params and v not in self.pre_init
                  and v != self.stack] + primal
        saved_name = self.ctx.namer.fresh("saved")
        fwd = copy.copy(self.fn)
        fwd.name = self.ctx.namer.fresh(f"{base}_fwd")
        fwd.body = primal + [gast.Return(value=nodes.tuple_([nodes.copy_node(out),
                                                             nodes.tuple_([nodes.name(s) for s in saved])]))]
        bout_name = self.adj(out.id) if isinstance(out, gast.Name) else self.ctx.namer.fresh("bout")
        unpack = []
        if saved:
            unpack.append(nodes.assign(nodes.tuple_([nodes.name(s, True) for s in saved], store=True),
                                       nodes.name(saved_name)))
            if self.stack:
                unpack.append(nodes.assign(self.stack, nodes.call(self.builtin("list"),
                                                                  [nodes.name(self.stack)])))
        # The sweep restores overwritten elements in place; the pullback may be
        # called again, so it records what it undoes and redoes it at the end
        # (views of the arrays stay consistent, unlike with copies).
        redo = None
        restores = [st for st in nodes.walk(gast.Module(body=adjoint, type_ignores=[]))
                    if isinstance(st, gast.Assign) and isinstance(st.targets[0], gast.Subscript)
                    and isinstance(st.targets[0].value, gast.Name)]
        if restores:
            redo = self.ctx.namer.fresh("redo")
            adjoint = self._record_restores(adjoint, redo)
            unpack.append(nodes.assign(redo, gast.List(elts=[], ctx=gast.Load())))
        args = gast.arguments(args=[nodes.name(saved_name), nodes.name(bout_name)],
                              posonlyargs=[], vararg=None, kwonlyargs=[], kw_defaults=[],
                              kwarg=None, defaults=[])
        for a in args.args:
            a.ctx = gast.Param()
        tail = [nodes.expr_stmt(nodes.call(self.ad("redo"), [nodes.name(redo)]))] if redo else []
        bwd = nodes.function_def(self.ctx.namer.fresh(f"{base}_bwd"), args,
                                 unpack + adjoint + tail + [gast.Return(value=nodes.tuple_(grads))])
        return fwd, bwd
