"""Batch outer-product accumulations out of adjoint loops.

The adjoint of ``z = W @ h`` in a loop adds an outer product to ``bW`` at
every step: for an n x n matrix that is an n x n array allocated, filled and
added per step.  The loop records the two vectors instead, and after the
loop ONE matrix product sums all the outer products (``U.T @ V``, U and V
the recorded vectors stacked by rows), which is how one writes such a
gradient by hand.

Before::

    bWh = ad.zeros_like(Wh)
    bwo = ad.zeros_like(wo)
    for _ in range(len(r1)):
        # adjoint of line 46: pred = np.dot(wo, h)
        bwo += adn.dot_vjp_a(bpred, wo, h)
        ...
        # adjoint of line 45: h = np.tanh(Wx @ xs[t] + Wh @ h + b)
        bWh += ad.matmul_grad_left(bt7, Wh, h)
        ...

After::

    bWh_parts = []
    bwo_parts = []
    for _ in range(len(r1)):
        # adjoint of line 46: pred = np.dot(wo, h)
        bwo_parts = ad.defer_dot_a(bwo_parts, bpred, wo, h)
        ...
        # adjoint of line 45: h = np.tanh(Wx @ xs[t] + Wh @ h + b)
        bWh_parts = ad.defer_matmul_left(bWh_parts, bt7, Wh, h)
        ...
    bWh = ad.sum_deferred(bWh_parts, Wh)
    bwo = ad.sum_deferred(bwo_parts, wo)

Shapes are known at run time only: ``ad.defer_*`` (appending in place and
returning the list) records the pair when the operands are a matrix and a
vector (or two vectors, then one factor is a scalar), and the contribution
itself otherwise; ``ad.sum_deferred`` adds everything up.  With a second
argument it returns what ``ad.zeros_like(Wh)`` would hold after the ``+=``
of each part (same dtype and shape), so the zero fill and the add go away;
when the accumulator is not a fresh zero array at the loop, the loop is
followed by ``bWh += ad.sum_deferred(bWh_parts)`` (``bWh = bWh + ...`` for
the ``bWh = bWh + ...`` form of complex code).

The pass leaves a loop's accumulation as it is unless:

* the loop is an adjoint loop (a checkpointed loop's too: there the list
  is ``ad.bounded_parts()``, which sums its pairs whenever they would take
  more memory than their sum, so that memory does not grow with the number
  of steps; ``cp.keep(state)`` only keeps references) and the statement is
  ``bW += f(g, x, y)`` or ``bW = bW + f(g, x, y)``, f one of
  ``ad.matmul_grad_left/right`` and
  ``adn.dot_vjp_a/b``, its operands names or constants, directly in the
  loop's body or in ``if`` branches of it (not in a nested loop: each loop
  is handled on its own, its list summed right after it);
* ``bW`` appears nowhere else in the loop (nor in the operands);
* the operands the list keeps (g and y, or g and x) are never updated in
  place anywhere in the function: not a target of ``+=``, of a subscript
  or attribute store, nor an argument of a call statement (``ad.add_at``,
  ``ad.zero_at``...), nor a copy of or copied to such a name; and the
  function writes into no array at all (``x[i] = v`` is undone in place by
  the adjoint sweep, and a kept vector may be a view of that array).
"""
import copy

import gast

from ad_compiler.transforms import annotations, nodes
from ad_compiler.transforms.annotations import Key

def _deferrals(runtime, runtime_numpy):
    """The contribution functions the pass batches -> the runtime helper
    that defers them."""
    return {
        runtime.matmul_grad_left: "defer_matmul_left",
        runtime.matmul_grad_right: "defer_matmul_right",
        runtime_numpy.dot_vjp_a: "defer_dot_a",
        runtime_numpy.dot_vjp_b: "defer_dot_b",
    }


# the operands (of g, x, y) that a recorded pair keeps
_KEPT = {"defer_matmul_left": (0, 2), "defer_matmul_right": (0, 1),
         "defer_dot_a": (0, 2), "defer_dot_b": (0, 1)}


def _walk_stmts(stmts):
    for s in stmts:
        yield s
        for field in ("body", "orelse"):
            yield from _walk_stmts(getattr(s, field, None) or [])


def _root(node):
    while isinstance(node, (gast.Subscript, gast.Attribute, gast.Starred)):
        node = node.value
    return node.id if isinstance(node, gast.Name) else None


def _writes_arrays(fn):
    """Does the function write into an array or container (``x[i] = v``,
    ``ad.restore``/``ad.redo``)?"""
    for node in nodes.walk(fn):
        if isinstance(node, (gast.Subscript, gast.Attribute)) and isinstance(node.ctx, gast.Store):
            return True
        if (isinstance(node, gast.Call) and isinstance(node.func, gast.Attribute)
                and node.func.attr in ("restore", "redo")):
            return True
    return False


def _updated_in_place(fn, push, keep):
    """Names whose value may be changed in place somewhere in ``fn``, closed
    over plain copies ``a = b`` (both then hold the same object)."""
    out = set()
    copies = []
    for s in _walk_stmts(fn.body):
        if isinstance(s, gast.AugAssign):
            out.add(_root(s.target))
        elif isinstance(s, gast.Assign):
            for t in s.targets:
                for n in nodes.walk(t):
                    if isinstance(n, (gast.Subscript, gast.Attribute)) \
                            and isinstance(n.ctx, gast.Store):
                        out.add(_root(n))
            if isinstance(s.value, gast.Name):
                for t in s.targets:
                    if isinstance(t, gast.Name):
                        copies.append((t.id, s.value.id))
        elif isinstance(s, gast.Expr) and isinstance(s.value, gast.Call):
            call = s.value
            args = list(call.args) + [k.value for k in call.keywords]
            if push(call):                       # ad.push(stack, v): only the stack
                args = args[:1]
            elif keep(call):                     # cp.keep(state): only cp (it keeps references)
                args = []
            for a in args:
                out |= {n.id for n in nodes.walk(a) if isinstance(n, gast.Name)}
            if isinstance(call.func, gast.Attribute):    # x.method(...)
                out.add(_root(call.func.value))
    out.discard(None)
    changed = True
    while changed:
        changed = False
        for a, b in copies:
            if (a in out) != (b in out):
                out |= {a, b}
                changed = True
    return out


class _Batcher:
    def __init__(self, fn, ctx):
        from ad_compiler import runtime_numpy
        self.fn = fn
        self.ctx = ctx
        self.runtime = ctx.runtime
        self.functions = _deferrals(ctx.runtime, runtime_numpy)
        self.unsafe = None
        self.revolves = set()

    # -- recognizing --------------------------------------------------------

    def resolve(self, func):
        return nodes.injected_object(self.ctx.injected, func)

    def is_push(self, call):
        return self.resolve(call.func) is self.runtime.push

    def revolve_names(self):
        """The names bound to ``ad.Revolve(...)`` (checkpointed loops)."""
        out = set()
        for s in _walk_stmts(self.fn.body):
            if isinstance(s, gast.Assign) and len(s.targets) == 1 \
                    and isinstance(s.targets[0], gast.Name) and isinstance(s.value, gast.Call) \
                    and self.resolve(s.value.func) is self.runtime.Revolve:
                out.add(s.targets[0].id)
        return out

    def revolve_call(self, call, method):
        """Is ``call`` ``cp.<method>(...)`` of a checkpointed loop's ``cp``?"""
        f = call.func
        return (isinstance(f, gast.Attribute) and f.attr == method
                and isinstance(f.value, gast.Name) and f.value.id in self.revolves)

    def is_keep(self, call):
        return self.revolve_call(call, "keep")

    def accumulation(self, s):
        """(accumulator, helper, call) when ``s`` is ``bW += f(g, x, y)`` or
        ``bW = bW + f(g, x, y)`` with f a batchable contribution; else None."""
        if isinstance(s, gast.AugAssign) and isinstance(s.op, gast.Add) \
                and isinstance(s.target, gast.Name):
            acc, value = s.target.id, s.value
        elif (isinstance(s, gast.Assign) and len(s.targets) == 1
              and isinstance(s.targets[0], gast.Name) and isinstance(s.value, gast.BinOp)
              and isinstance(s.value.op, gast.Add)
              and nodes.is_name(s.value.left, s.targets[0].id)):
            acc, value = s.targets[0].id, s.value.right
        else:
            return None
        if not (isinstance(value, gast.Call) and len(value.args) == 3 and not value.keywords):
            return None
        try:
            helper = self.functions.get(self.resolve(value.func))
        except TypeError:                        # an unhashable attribute
            return None
        if helper is None:
            return None
        if not all(isinstance(a, (gast.Name, gast.Constant)) for a in value.args):
            return None
        if acc in nodes.names_in(value):
            return None
        return acc, helper, value

    def candidates(self, stmts):
        """Accumulation statements of a loop body, in ``if`` branches too,
        not in nested loops."""
        for s in stmts:
            if self.accumulation(s) is not None:
                yield s
            elif isinstance(s, gast.If):
                yield from self.candidates(s.body)
                yield from self.candidates(s.orelse)

    def safe(self, acc, helper, call, loop, stmt):
        names_loop = sum(1 for n in nodes.walk(loop) if isinstance(n, gast.Name) and n.id == acc)
        names_stmt = sum(1 for n in nodes.walk(stmt) if isinstance(n, gast.Name) and n.id == acc)
        if names_loop != names_stmt:
            return False
        for i in _KEPT[helper]:
            arg = call.args[i]
            if isinstance(arg, gast.Name) and arg.id in self.unsafe:
                return False
        return True

    # -- rewriting ----------------------------------------------------------

    def ad(self, attr):
        return nodes.attr(nodes.name(self.ctx.global_name("ad", self.runtime)), attr)

    def block(self, stmts):
        out = list(stmts)
        i = 0
        while i < len(out):
            s = out[i]
            for field in ("body", "orelse"):
                sub = getattr(s, field, None)
                if sub and not isinstance(s, gast.FunctionDef):
                    setattr(s, field, self.block(sub))
            if isinstance(s, gast.For) and annotations.get(s, Key.ADJOINT, False):
                i = self.loop(out, i)
            i += 1
        return out

    def loop(self, block, i):
        """Batch the accumulations of the loop ``block[i]``; returns the new
        index of the loop in ``block``."""
        loop = block[i]
        found = {}
        for s in self.candidates(loop.body):
            found.setdefault(self.accumulation(s)[0], []).append(s)
        plans = []
        for acc in sorted(found):
            if len(found[acc]) != 1:
                continue
            stmt = found[acc][0]
            _, helper, call = self.accumulation(stmt)
            if self.safe(acc, helper, call, loop, stmt):
                plans.append((acc, helper, call, stmt))
        if not plans:
            return i
        stored_in_loop = {n.id for n in nodes.walk(loop)
                          if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store)}
        flushes = []
        for acc, helper, call, stmt in plans:
            parts = self.ctx.namer.fresh(f"{acc}_parts")
            # in the loop: parts = ad.defer_...(parts, g, x, y)
            args = [nodes.name(parts)] + [copy.deepcopy(a) for a in call.args]
            new = nodes.assign(parts, nodes.call(self.ad(helper), args))
            self.replace(loop.body, stmt, annotations.copy(stmt, self.placed(new, stmt)))
            # before the loop: the list (bounded in a checkpointed loop); after it: the sum
            if isinstance(loop.iter, gast.Call) and self.revolve_call(loop.iter, "backward"):
                empty = nodes.call(self.ad("bounded_parts"), [])
            else:
                empty = gast.List(elts=[], ctx=gast.Load())
            init = self.placed(nodes.assign(parts, empty), loop)
            zero = self.fresh_zeros(block, i, acc, stored_in_loop) \
                if isinstance(stmt, gast.AugAssign) else None
            if zero is not None:
                j, like = zero
                block[j] = init
                flush = nodes.assign(acc, nodes.call(self.ad("sum_deferred"),
                                                     [nodes.name(parts), nodes.name(like)]))
            else:
                block.insert(i, init)
                i += 1
                total = nodes.call(self.ad("sum_deferred"), [nodes.name(parts)])
                if isinstance(stmt, gast.AugAssign):
                    flush = gast.AugAssign(target=nodes.name(acc, True), op=gast.Add(), value=total)
                else:
                    flush = nodes.assign(acc, nodes.binop(nodes.name(acc), gast.Add(), total))
            flushes.append(self.placed(flush, loop))
        block[i + 1:i + 1] = flushes
        return i + len(flushes)

    @staticmethod
    def placed(new, old):
        """``new`` at the place of ``old`` (its line comment group)."""
        nodes.located(new, old)
        if annotations.get(old, Key.ADJOINT, False):
            annotations.set(new, Key.ADJOINT, True)
        return new

    def replace(self, stmts, old, new):
        for k, s in enumerate(stmts):
            if s is old:
                stmts[k] = new
                return True
            if isinstance(s, gast.If) and (self.replace(s.body, old, new)
                                           or self.replace(s.orelse, old, new)):
                return True
        return False

    def fresh_zeros(self, block, i, acc, stored_in_loop):
        """(index, X) when the last statement before the loop that mentions
        ``acc`` is ``acc = ad.zeros_like(X)`` and X keeps its value up to the
        end of the loop; else None."""
        for j in range(i - 1, -1, -1):
            s = block[j]
            if acc not in nodes.names_in(s):
                continue
            if not (isinstance(s, gast.Assign) and len(s.targets) == 1
                    and nodes.is_name(s.targets[0], acc) and isinstance(s.value, gast.Call)
                    and self.resolve(s.value.func) is self.runtime.zeros_like
                    and len(s.value.args) == 1 and not s.value.keywords
                    and isinstance(s.value.args[0], gast.Name)):
                return None
            like = s.value.args[0].id
            if like in stored_in_loop or like == acc:
                return None
            for between in block[j + 1:i]:
                if any(isinstance(n, gast.Name) and n.id == like and isinstance(n.ctx, gast.Store)
                       for n in nodes.walk(between)):
                    return None
            return j, like
        return None

    def run(self):
        if not any(isinstance(s, gast.For) and annotations.get(s, Key.ADJOINT, False)
                   for s in _walk_stmts(self.fn.body)):
            return self.fn
        if _writes_arrays(self.fn):
            return self.fn
        self.revolves = self.revolve_names()
        self.unsafe = _updated_in_place(self.fn, self.is_push, self.is_keep)
        self.fn.body = self.block(self.fn.body)
        return self.fn


def batch_outer(fn, ctx):
    """Batch the outer-product accumulations of the adjoint loops of ``fn``
    (a generated FunctionDef; ``ctx`` the compile context)."""
    return _Batcher(fn, ctx).run()
