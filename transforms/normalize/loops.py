"""Loops over explicit indexes: ``for`` over anything (an array, a list,
``enumerate``, ``zip``, a dict) becomes ``for i in r:`` over a ``range``
bound to a name, reading the elements by index from ``ad.as_sequence``
of each iterated value; ``while c:`` recomputes its condition into a name
at the end of the body.  (Part of the ANF walk, anf.py.)

>>> from ad_compiler.transforms.normalize.demo import show
>>> show('''
... def f(xs, ys):
...     s = 0.0
...     for i, (a, b) in enumerate(zip(xs, ys)):
...         s = s + i * a * b
...     while s > 1.0:
...         s = s / 2.0
...     return s
... ''', lambda n, fn, body: n._block(body))
def f(xs, ys):
    s = 0.0
    seq1 = ad.as_sequence(xs)
    seq2 = ad.as_sequence(ys)
    n1 = len(seq1)
    n2 = len(seq2)
    n3 = min(n1, n2)
    r1 = range(n3)
    for i in r1:
        a = seq1[i]
        b = seq2[i]
        t1 = i * a
        t2 = t1 * b
        t3 = s + t2
        s = t3
    t4 = s > 1.0
    c1 = t4
    while c1:
        t5 = s / 2.0
        s = t5
        t6 = s > 1.0
        c1 = t6
    return s
"""
import copy

import gast

from ad_compiler import runtime
from ad_compiler.transforms import nodes


class Loops:
    def _while(self, stmt):
        pre, test = self._atomize(stmt.test)
        body = self._block(stmt.body)
        if isinstance(test, gast.Constant):
            if not test.value:
                return pre
            return pre + [gast.While(test=test, body=body, orelse=[])]
        cond = self._temp("c")
        pre = pre + [nodes.assign(cond, test)]
        again, test2 = self._atomize(copy.deepcopy(stmt.test))
        again = [nodes.located(s, stmt) for s in again + [nodes.assign(cond, test2)]]
        last = body[-1] if body else None
        if (isinstance(last, gast.If) and len(last.body) == 1
                and isinstance(last.body[0], gast.Break) and isinstance(last.test, gast.Name)):
            # the loop can break: re-evaluate the condition only when it does
            # not, and keep 'if brk: break' last (a structured body for the
            # reverse sweep)
            guarded = nodes.located(nodes.if_(nodes.name(last.test.id), [gast.Pass()], again), stmt)
            return pre + [gast.While(test=nodes.name(cond), body=body[:-1] + [guarded, last],
                                     orelse=[])]
        return pre + [gast.While(test=nodes.name(cond), body=body + again, orelse=[])]


    def _for(self, stmt):
        it = stmt.iter
        target = stmt.target
        pre = []
        unpack = []
        if isinstance(it, gast.Call) and self._is_builtin(it.func, "range") and not it.keywords:
            p, args = self._atoms(it.args)
            pre += p
            rng = self._temp("r")
            pre.append(nodes.assign(rng, nodes.call(self._builtin("range"), args)))
            if isinstance(target, gast.Name):
                index = target.id
            else:
                index = self._temp("i")
                unpack = self._assign([target], nodes.name(index))
        else:
            inner_it, inner_target = it, target
            if isinstance(it, gast.Call) and self._is_builtin(it.func, "enumerate") \
                    and len(it.args) == 1 and not it.keywords \
                    and isinstance(target, gast.Tuple) and len(target.elts) == 2:
                inner_it, inner_target = it.args[0], target.elts[1]
                if isinstance(target.elts[0], gast.Name):
                    index = target.elts[0].id
                else:
                    index = self._temp("i")
                    unpack += self._assign([target.elts[0]], nodes.name(index))
            else:
                index = self._temp("i")
            if isinstance(inner_it, gast.Call) and self._is_builtin(inner_it.func, "zip") \
                    and not inner_it.keywords and isinstance(inner_target, gast.Tuple) \
                    and len(inner_target.elts) == len(inner_it.args):
                parts = list(inner_it.args)
                elem_targets = list(inner_target.elts)
            else:
                parts = [inner_it]
                elem_targets = [inner_target]
            seqs = []
            for part in parts:
                p, seq = self._sequence(part)
                pre += p
                seqs.append(seq)
            lens = []
            for s in seqs:
                n = self._temp("n")
                pre.append(nodes.assign(n, nodes.call(self._builtin("len"), [copy.deepcopy(s)])))
                lens.append(nodes.name(n))
            if len(lens) > 1:
                n = self._temp("n")
                pre.append(nodes.assign(n, nodes.call(self._builtin("min"), lens)))
                lens = [nodes.name(n)]
            rng = self._temp("r")
            pre.append(nodes.assign(rng, nodes.call(self._builtin("range"), lens)))
            for s, t in zip(seqs, elem_targets):
                elem = gast.Subscript(value=copy.deepcopy(s), slice=nodes.name(index),
                                      ctx=gast.Load())
                unpack += self._assign([t], elem)
        body = [nodes.located(s, stmt) for s in unpack] + self._block(stmt.body)
        loop = gast.For(target=nodes.name(index, store=True), iter=nodes.name(rng),
                        body=body, orelse=[], type_comment=None)
        return [nodes.located(s, stmt) for s in pre] + [loop]


    def _sequence(self, expr):
        """An indexable sequence with the elements ``for`` would iterate:
        arrays, lists and tuples as they are; dicts give their keys,
        ``d.items()`` its pairs, anything else (zip, generators) a list."""
        pre, atom = self._atomize(expr)
        ad = self.inject("ad", runtime)
        seq = self._temp("seq")
        call = nodes.call(nodes.attr(nodes.name(ad), "as_sequence"), [atom])
        return pre + [nodes.assign(seq, call)], nodes.name(seq)
