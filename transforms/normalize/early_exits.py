"""Early exits as flags: an early ``return``, ``break`` and ``continue``
become assignments of flags (``go``: the rest of this block runs; ``brk``:
leave the loop; ``retval``: the value returned), the statements after them
run under ``if go:``, and a loop that can be left early ends with
``if brk: break``.  Every block is then structured (one exit, at its end),
so the reverse sweep can replay it backwards.  (Inlined local functions get
flags of their own: inline.py calls ``_lower_returns`` on their bodies.)

>>> from ad_compiler.transforms.normalize.demo import show
>>> show('''
... def f(x, n):
...     for i in range(n):
...         if x > 10.0:
...             return 0.0
...         if x < 0.0:
...             continue
...         x = x * 2.0
...     return x
... ''', lambda n, fn, body: n._lower_returns(body))
def f(x, n):
    retval = None
    go = True
    brk = False
    for i in range(n):
        go_1 = True
        if x > 10.0:
            retval = 0.0
            go = False
            go_1 = False
            brk = True
        if go_1:
            if x < 0.0:
                go_1 = False
            if go_1:
                x = x * 2.0
        if brk:
            break
    if go:
        retval = x
        go = False
    return retval
"""
import gast

from ad_compiler.transforms import nodes
from ad_compiler.transforms.normalize.common import _contains


class _LoopCtx:
    def __init__(self, go, brk):
        self.go = go
        self.brk = brk


class EarlyExits:
    def _lower_returns(self, body):
        """Lower early returns, break and continue to flags."""
        needs_ret = self._has_early_return(body)
        self.retval = self.ret_go = None
        if needs_ret:
            self.retval = self._fresh("retval")
            self.ret_go = self._fresh("go")
        loops = []
        out, _ = self._lower_block(body, self.ret_go, loops)
        if needs_ret:
            first = body[0] if body else None
            pre = [nodes.located(nodes.assign(self.retval, nodes.const(None)), first),
                   nodes.located(nodes.assign(self.ret_go, nodes.const(True)), first)]
            out = pre + out + [nodes.located(gast.Return(value=nodes.name(self.retval)), body[-1])]
        return out


    def _has_early_return(self, body):
        if not body:
            return False
        for i, stmt in enumerate(body):
            last = i == len(body) - 1
            if isinstance(stmt, gast.Return):
                if not last:
                    return True
                continue
            if _contains([stmt], gast.Return, stop=(gast.FunctionDef, gast.Lambda)):
                return True
        return False


    def _lower_block(self, stmts, flag, loops):
        out = []
        stopped = False
        for i, stmt in enumerate(stmts):
            new, may_stop = self._lower_stmt(stmt, flag, loops)
            out.extend(new)
            if may_stop:
                stopped = True
                rest = stmts[i + 1:]
                if rest:
                    rest_out, _ = self._lower_block(rest, flag, loops)
                    if rest_out:
                        out.append(nodes.located(nodes.if_(nodes.name(flag), rest_out), rest[0]))
                break
        return out, stopped


    def _lower_stmt(self, stmt, flag, loops):
        loc = lambda n: nodes.located(n, stmt)  # noqa: E731
        if isinstance(stmt, gast.Return) and self.retval is not None:
            out = [loc(nodes.assign(self.retval, stmt.value or nodes.const(None))),
                   loc(nodes.assign(self.ret_go, nodes.const(False)))]
            if loops:
                out += [loc(nodes.assign(loops[-1].go, nodes.const(False))),
                        loc(nodes.assign(loops[-1].brk, nodes.const(True)))]
            return out, True
        if isinstance(stmt, gast.Break):
            lp = loops[-1]
            return [loc(nodes.assign(lp.go, nodes.const(False))),
                    loc(nodes.assign(lp.brk, nodes.const(True)))], True
        if isinstance(stmt, gast.Continue):
            return [loc(nodes.assign(loops[-1].go, nodes.const(False)))], True
        if isinstance(stmt, gast.If):
            body, s1 = self._lower_block(stmt.body, flag, loops)
            orelse, s2 = self._lower_block(stmt.orelse, flag, loops)
            stmt.body = body or [gast.Pass()]
            stmt.orelse = orelse
            return [stmt], s1 or s2
        if isinstance(stmt, (gast.For, gast.While)):
            jumps = _contains(stmt.body, (gast.Break, gast.Continue),
                              stop=(gast.For, gast.While, gast.FunctionDef, gast.Lambda))
            returns = self.retval is not None and _contains(
                stmt.body, gast.Return, stop=(gast.FunctionDef, gast.Lambda))
            if not (jumps or returns):
                # nothing leaves this loop early; nested loops may still break
                stmt.body, _ = self._lower_block(stmt.body, flag, loops + [None])
                return [stmt], False
            lp = _LoopCtx(self._fresh("go"), self._fresh("brk"))
            body, _ = self._lower_block(stmt.body, lp.go, loops + [lp])
            stmt.body = ([loc(nodes.assign(lp.go, nodes.const(True)))] + body +
                         [loc(nodes.if_(nodes.name(lp.brk), [gast.Break()]))])
            out = [loc(nodes.assign(lp.brk, nodes.const(False))), stmt]
            if returns:
                if loops:
                    outer = loops[-1]
                    out.append(loc(nodes.if_(
                        gast.UnaryOp(op=gast.Not(), operand=nodes.name(self.ret_go)),
                        [loc(nodes.assign(outer.go, nodes.const(False))),
                         loc(nodes.assign(outer.brk, nodes.const(True)))])))
                return out, True
            return out, False
        return [stmt], False
