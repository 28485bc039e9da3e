"""ANF (administrative normal form): one operation per statement.  Every
operand becomes an atom (a name, a constant, a constant-rooted attribute
such as ``np.pi``, a tuple of atoms) bound by its own statement to a fresh
temporary (``t1``, ``t2``...); tuple assignments evaluate every right-hand
side first; ``z[i] += v`` reads, computes and stores; a conditional
expression or ``and``/``or`` becomes an ``if`` on a name.  Calls of local
functions, lambdas and comprehensions met on the way are inlined
(inline.py), ``for``/``while`` go to loops.py, and calls of helpers that
update their arguments get run-time guards (mutations.py).  ``xs.append(v)``
becomes ``xs = ad.append(xs, v)`` and ``y.sort()`` ``y = np.sort(y)``.

>>> from ad_compiler.transforms.normalize.demo import show
>>> show('''
... def f(x, y):
...     x, y = y, x
...     z = np.sin(x * y) + x[0]
...     z[1] += y
...     return z.sum() if y > 0 else 0.0
... ''', lambda n, fn, body: n._block(body))
def f(x, y):
    t1 = y
    t2 = x
    x = t1
    y = t2
    t3 = x * y
    t4 = np.sin(t3)
    t5 = x[0]
    z = t4 + t5
    t6 = z[1]
    t7 = t6 + y
    z[1] = t7
    t9 = y > 0
    if t9:
        t8 = z.sum()
    else:
        t8 = 0.0
    return t8
"""
import copy

import gast
import numpy

from ad_compiler import runtime
from ad_compiler.transforms import annotations, nodes
from ad_compiler.transforms.annotations import Key
from ad_compiler.transforms.ad.ops import describe
from ad_compiler.transforms.normalize.common import _INPLACE_METHODS, _OPAQUE, _target_leaves

# list methods that change the list in place (besides append, sort, reverse)
_LIST_MUTATORS = {"extend", "insert", "clear", "pop", "remove"}


_NUMPY_1 = int(numpy.__version__.split(".")[0]) < 2


def _basic_index(e):
    """Is the index ``e`` ints, slices, None and ... only (no index array)?"""
    if isinstance(e, gast.Tuple):
        return all(_basic_index(x) for x in e.elts)
    if isinstance(e, gast.Slice):
        return all(x is None or _basic_index(x) for x in (e.lower, e.upper, e.step))
    if isinstance(e, gast.Constant):
        return e.value is None or e.value is Ellipsis or type(e.value) is int
    return _int_constant(e) is not None


def _int_constant(e):
    """The value of an int literal (``3``, ``-2``), else None."""
    sign = 1
    if isinstance(e, gast.UnaryOp) and isinstance(e.op, gast.USub):
        e, sign = e.operand, -1
    if isinstance(e, gast.Constant) and type(e.value) is int:
        return sign * e.value
    return None


class Anf:
    def _block(self, stmts):
        out = []
        for stmt in stmts:
            for new in self._stmt(stmt):
                out.append(nodes.located(new, stmt))
        return out


    def _stmt(self, stmt):
        if isinstance(stmt, gast.Assign):
            return self._assign(stmt.targets, stmt.value)
        if isinstance(stmt, gast.AnnAssign):
            if stmt.value is None:
                return []
            return self._assign([stmt.target], stmt.value)
        if isinstance(stmt, gast.AugAssign):
            return self._augassign(stmt)
        if isinstance(stmt, gast.Expr):
            if isinstance(stmt.value, gast.Constant):
                return []
            v = stmt.value
            if (isinstance(v, gast.Call) and isinstance(v.func, gast.Attribute)
                    and v.func.attr == "append" and isinstance(v.func.value, gast.Name)
                    and v.func.value.id in self.locals and len(v.args) == 1 and not v.keywords):
                # xs.append(v) -> xs = ad.append(xs, v): a new list, so that
                # the adjoint sweep can restore the old one
                lst = v.func.value.id
                return self._append(lst, v.args[0])
            if (isinstance(v, gast.Call) and isinstance(v.func, gast.Attribute)
                    and isinstance(v.func.value, gast.Name) and v.func.value.id in self.locals
                    and v.func.attr in _LIST_MUTATORS and self._is_list(v.func.value.id, v)):
                return self._list_method(v)
            if (isinstance(v, gast.Call) and isinstance(v.func, gast.Attribute)
                    and isinstance(v.func.value, gast.Name) and v.func.value.id in self.locals
                    and v.func.attr in _INPLACE_METHODS | {"reverse"}):
                return self._inplace_method(v)
            pre, op = self._simplify(stmt.value)
            return pre + [gast.Expr(value=op)]
        if isinstance(stmt, gast.If):
            pre, test = self._atomize(stmt.test)
            body = self._block(stmt.body)
            orelse = self._block(stmt.orelse)
            if isinstance(test, gast.Constant):
                return pre + (body if test.value else orelse)
            return pre + [nodes.if_(test, body, orelse)]
        if isinstance(stmt, gast.While):
            return self._while(stmt)
        if isinstance(stmt, gast.For):
            return self._for(stmt)
        if isinstance(stmt, gast.Return):
            if stmt.value is None:
                return [gast.Return(value=nodes.const(None))]
            pre, atom = self._atomize(stmt.value)
            return pre + [gast.Return(value=atom)]
        if isinstance(stmt, (gast.Pass, gast.Delete)):
            return []   # (del only passes the fence in generated code)
        if isinstance(stmt, (gast.Break, gast.Continue, gast.Assert, gast.Raise)):
            return [stmt]
        raise self.info.error(stmt, f"cannot differentiate a "
                              f"'{type(stmt).__name__}' statement",
                              construct=type(stmt).__name__)


    def _assign(self, targets, value):
        if len(targets) > 1:
            pre, atom = self._atomize(value)
            out = pre
            for t in targets:
                out += self._assign([t], copy.deepcopy(atom))
            return out
        target = targets[0]
        if isinstance(target, gast.Name):
            pre, op = self._simplify(value)
            if not self._is_atom(op) and target.id in nodes.loaded_names(op):
                tmp = self._temp()
                return pre + [nodes.assign(tmp, op),
                              nodes.assign(target.id, nodes.name(tmp))]
            return pre + [nodes.assign(target.id, op)]
        if isinstance(target, (gast.Tuple, gast.List)):
            if isinstance(value, (gast.Tuple, gast.List)) and len(value.elts) == len(target.elts):
                # a, b = b, a: evaluate all right-hand sides first
                pre = []
                atoms = []
                for v in value.elts:
                    p, a = self._atomize(v)
                    pre += p
                    if isinstance(a, gast.Name):
                        tmp = self._temp()
                        pre.append(nodes.assign(tmp, a))
                        a = nodes.name(tmp)
                    atoms.append(a)
                out = pre + self._stale_tuple_checks(target, value, atoms)
                for t, a in zip(target.elts, atoms):
                    out += self._assign([t], a)
                return out
            pre, atom = self._atomize(value)
            if not isinstance(atom, gast.Name):
                tmp = self._temp()
                pre.append(nodes.assign(tmp, atom))
                atom = nodes.name(tmp)
            out = pre
            for i, t in enumerate(target.elts):
                elem = gast.Subscript(value=nodes.name(atom.id), slice=nodes.const(i),
                                      ctx=gast.Load())
                out += self._assign([t], elem)
            return out
        if isinstance(target, gast.Subscript):
            chain = self._store_chain(target)
            if chain is not None:
                p3, val = self._atomize(value)
                return chain[0] + p3 + self._chain_writes(chain[1], chain[2], val, chain[3])
            if (_NUMPY_1 and isinstance(value, gast.Name) and isinstance(target.value, gast.Name)
                    and value.id == target.value.id and not _basic_index(target.slice)):
                # NumPy < 2 writes y[idx] = y entry by entry, reading entries
                # already overwritten (NumPy 2 reads y first, as the
                # derivative does)
                raise self.info.error(target, "cannot differentiate an array written into an "
                                      "index array of itself with NumPy < 2",
                                      hint=f"write {value.id}[...] = {value.id}.copy()",
                                      construct="self-assignment")
            pre, base = self._atomize(target.value)
            p2, index = self._index(target.slice)
            p3, val = self._atomize(value)
            store = gast.Subscript(value=base, slice=index, ctx=gast.Store())
            return pre + p2 + p3 + [nodes.assign(store, val)]
        if isinstance(target, gast.Attribute):
            pre, base = self._atomize(target.value)
            p3, val = self._atomize(value)
            store = gast.Attribute(value=base, attr=target.attr, ctx=gast.Store())
            return pre + p3 + [nodes.assign(store, val)]
        raise self.info.error(target, "cannot differentiate an assignment to "
                              f"{type(target).__name__}", construct="assignment")


    def _stale_tuple_checks(self, target, value, atoms):
        """``A[0], A[1] = A[1], A[0]``: Python evaluates the right side
        first, but a basic subscript of an array is a view, and the targets
        are assigned left to right: ``A[1]`` receives what ``A[0]`` holds
        after the first write (both rows become the old ``A[1]``).  The
        derivative code follows each right-hand value as it was read.  For
        each right-hand value that may share memory with an array an
        earlier target writes into, a run-time check (``ad.check_not_aliased``:
        numbers, copies and list elements pass; a view is refused at the
        user's line)."""
        if self.info.filename.startswith("<ad_compiler"):
            return []
        out = []
        written = []            # roots written by the targets so far
        for t, v, a in zip(target.elts, value.elts, atoms):
            if written and isinstance(a, gast.Name):
                for root in sorted(set(written) & self._alias_roots(v)):
                    ad = self.inject("ad", runtime)
                    msg = (f"tuple assignment: a right-hand value may be a view of "
                           f"'{root}', which an earlier target of the same assignment "
                           f"writes into: Python assigns left to right, so this value "
                           f"would already show that write; the derivative code would not")
                    out.append(gast.Expr(value=nodes.call(
                        nodes.attr(nodes.name(ad), "check_not_aliased"),
                        [nodes.name(a.id), nodes.name(root), nodes.const(False),
                         nodes.const(msg), nodes.const(self.info.filename),
                         nodes.const(target.lineno), nodes.const(target.col_offset),
                         nodes.const(f"copy the right-hand views of '{root}' first "
                                     f"(A[0], A[1] = A[1].copy(), A[0].copy())")])))
            for leaf in _target_leaves(t):
                base = leaf
                while isinstance(base, (gast.Subscript, gast.Attribute)):
                    base = base.value
                if base is not leaf and isinstance(base, gast.Name):
                    written.append(base.id)
        return out


    def _store_chain(self, target, check=True):
        """``a[k][i] = v`` (two or more subscripts rooted at a local name):
        (statements, root, [index atoms], (checks, target)) or None for a single subscript
        or a root that is not a local name.  A chain through an attribute
        (``self.W[0] = v``, ``x.T[0] = v``, ``x.flat[0] = v``) writes into
        an array the function does not own: refused.  With ``check=False``
        only say whether ``target`` is such a chain (nothing refused).
        The fourth element, ``(checks, target)``, says which inner indices
        need a run-time check that they index the container's own element
        (``_chain_writes``); an inner index that is statically advanced
        (``A[[0, 1]][0] = v``: a copy) is refused here."""
        parts = []
        node = target
        through = None
        while isinstance(node, (gast.Subscript, gast.Attribute)):
            if isinstance(node, gast.Attribute):
                through = through or node
            parts.append(node)
            node = node.value
        if not (isinstance(node, gast.Name) and node.id in self.locals):
            return None
        if through is not None:
            if not check:
                return False
            raise self.info.error(
                target, f"cannot differentiate an in-place write through the attribute "
                f"'.{through.attr}' of '{node.id}': it writes into an array that other "
                f"names (or the caller) hold",
                hint=f"copy it first and write into the copy, e.g. w = {node.id}."
                     f"{through.attr}.copy(); w[...] = v",
                construct="write through an attribute")
        if len(parts) < 2:
            return None
        if not check:
            return True
        pre = []
        steps = []
        checks = []
        inner = list(reversed(parts))[:-1]
        for part in reversed(parts):
            if any(part is q for q in inner) and self._advanced_index(part.slice):
                # A[[0, 1]][0] = v: A[[0, 1]] is a new array, Python writes
                # into that temporary and A is unchanged
                raise self.info.error(
                    target, f"cannot differentiate an in-place write through an advanced "
                    f"index of '{node.id}' (a list, an index or mask array): that "
                    f"subscript makes a copy, Python writes into the temporary copy and "
                    f"'{node.id}' is unchanged",
                    hint="index once with all the indices (A[idx, j] = v), or copy, "
                         "write and store back: t = A[idx]; t[j] = v; A[idx] = t",
                    construct="write into a copy made by indexing")
            p, index = self._index(part.slice)
            pre += p
            steps.append(index)
            checks.append(any(part is q for q in inner) and not (
                isinstance(part.slice, gast.Constant)
                and isinstance(part.slice.value, (int, str))
                and not isinstance(part.slice.value, bool)))
        return pre, node.id, steps, (checks, target)


    def _index_kind(self, index):
        """``index`` as an atom for ``ad.check_element_index``: each slice
        becomes ``...``, which is an element index exactly when a slice is
        (basic for an array, a copy for a list), and a slice is no operand."""
        if isinstance(index, gast.Slice):
            return nodes.const(Ellipsis)
        if isinstance(index, gast.Tuple):
            return gast.Tuple(elts=[self._index_kind(e) for e in index.elts], ctx=gast.Load())
        return copy.deepcopy(index)


    def _chain_writes(self, root, steps, val, checked=([], None)):
        """Store ``val`` at ``root[s1][s2]...[sn]`` without writing into memory
        the function does not own: each intermediate element is read and
        copied (``t1 = ad.copy_input(root[s1])``), written, and stored back
        into its container (``root[s1] = t1``), so the write is a chain of
        ordinary subscript stores that the AD passes follow and the caller's
        nested arrays and dicts are never modified (the root itself gets its
        private copy from _copy_written_inputs/_copy_aliased_writes)."""
        ad = self.inject("ad", runtime)
        out = []
        holders = [nodes.name(root)]
        checks, target = checked
        for k, index in enumerate(steps[:-1]):
            if k < len(checks) and checks[k] and target is not None \
                    and not self.info.filename.startswith("<ad_compiler"):
                # an index known only at run time: the element must be the
                # container's own (an element of a list or dict, a basic
                # index of an array), not a copy (A[idx][0] = v, L[1:][0] = v)
                out.append(gast.Expr(value=nodes.call(
                    nodes.attr(nodes.name(ad), "check_element_index"),
                    [copy.deepcopy(holders[-1]), self._index_kind(index),
                     nodes.const(f"cannot differentiate an in-place write through a subscript "
                                 f"of '{root}' that makes a copy (an advanced index of an "
                                 f"array, a slice of a list): Python writes into the "
                                 f"temporary copy and '{root}' is unchanged"),
                     nodes.const(self.info.filename), nodes.const(target.lineno),
                     nodes.const(target.col_offset)])))
            t = self._temp()
            out.append(nodes.assign(t, gast.Subscript(value=copy.deepcopy(holders[-1]),
                                                      slice=copy.deepcopy(index), ctx=gast.Load())))
            out.append(nodes.assign(t, nodes.call(nodes.attr(nodes.name(ad), "copy_input"),
                                                  [nodes.name(t)])))
            holders.append(nodes.name(t))
        value = val
        for holder, index in reversed(list(zip(holders, steps))):
            out.append(nodes.assign(gast.Subscript(value=nodes.name(holder.id),
                                                   slice=copy.deepcopy(index), ctx=gast.Store()),
                                    copy.deepcopy(value)))
            value = holder
        return out


    def _augassign(self, stmt):
        target = stmt.target
        if isinstance(target, gast.Name):
            value = gast.BinOp(left=nodes.name(target.id), op=stmt.op, right=stmt.value)
            guard = self._unshared_guard(stmt, target.id)
            return guard + self._assign([nodes.name(target.id, store=True)], value)
        if isinstance(target, gast.Subscript) and self._store_chain(target, check=False):
            # a[k][i] += v: read the element, then store the new value
            # through the chain (see _chain_writes)
            pre, root, steps, checked = self._store_chain(target)
            read = nodes.name(root)
            for index in steps:
                old = self._temp()
                pre.append(nodes.assign(old, gast.Subscript(value=read, slice=copy.deepcopy(index),
                                                            ctx=gast.Load())))
                read = nodes.name(old)
            p3, val = self._atomize(stmt.value)
            new = self._temp()
            pre += p3 + [nodes.assign(new, gast.BinOp(left=read, op=stmt.op, right=val))]
            return pre + self._chain_writes(root, steps, nodes.name(new), checked)
        if isinstance(target, gast.Subscript):
            pre, base = self._atomize(target.value)
            p2, index = self._index(target.slice)
            read = gast.Subscript(value=copy.deepcopy(base), slice=copy.deepcopy(index),
                                  ctx=gast.Load())
            old = self._temp()
            new = self._temp()
            p3, val = self._atomize(stmt.value)
            store = gast.Subscript(value=base, slice=index, ctx=gast.Store())
            return (pre + p2 + p3 + [nodes.assign(old, read),
                                     nodes.assign(new, gast.BinOp(left=nodes.name(old), op=stmt.op, right=val)),
                                     nodes.assign(store, nodes.name(new))])
        if isinstance(target, gast.Attribute):
            pre, base = self._atomize(target.value)
            read = gast.Attribute(value=copy.deepcopy(base), attr=target.attr, ctx=gast.Load())
            old = self._temp()
            new = self._temp()
            p3, val = self._atomize(stmt.value)
            store = gast.Attribute(value=base, attr=target.attr, ctx=gast.Store())
            return (pre + p3 + [nodes.assign(old, read),
                                nodes.assign(new, gast.BinOp(left=nodes.name(old), op=stmt.op, right=val)),
                                nodes.assign(store, nodes.name(new))])
        raise self.info.error(stmt, "cannot differentiate this augmented assignment",
                              construct="augmented assignment")


    def _atoms(self, exprs, allow_seq=True):
        pre = []
        out = []
        for e in exprs:
            p, a = self._atomize(e, allow_seq)
            pre += p
            out.append(a)
        return pre, out


    def _atomize(self, expr, allow_seq=False):
        """(statements, atom) computing ``expr``."""
        if isinstance(expr, gast.Name):
            return [], nodes.name(expr.id)
        if isinstance(expr, gast.Constant):
            return [], expr
        if isinstance(expr, gast.UnaryOp) and isinstance(expr.op, (gast.USub, gast.UAdd)) \
                and isinstance(expr.operand, gast.Constant) \
                and isinstance(expr.operand.value, (int, float, complex)) \
                and not isinstance(expr.operand.value, bool):
            v = expr.operand.value
            return [], nodes.const(-v if isinstance(expr.op, gast.USub) else v)
        if isinstance(expr, gast.Attribute) and self._is_static_ref(expr):
            return [], expr
        if allow_seq and isinstance(expr, (gast.Tuple, gast.List)) \
                and not any(isinstance(e, gast.Starred) for e in expr.elts):
            pre, elts = self._atoms(expr.elts)
            return pre, type(expr)(elts=elts, ctx=gast.Load())
        pre, op = self._simplify(expr)
        if self._is_atom(op):
            return pre, op
        tmp = self._temp()
        if not (self._alias_roots(op) - self._fresh_temps()):
            # a new array no other name holds (np.tanh(x), its views): a
            # helper may write into it (check_no_argument_mutation)
            self._fresh_temps().add(tmp)
        return pre + [nodes.assign(tmp, op)], nodes.name(tmp)


    def _index(self, index):
        if isinstance(index, gast.Slice):
            pre = []
            parts = []
            for p in (index.lower, index.upper, index.step):
                if p is None:
                    parts.append(None)
                else:
                    s, a = self._atomize(p)
                    pre += s
                    parts.append(a)
            return pre, gast.Slice(lower=parts[0], upper=parts[1], step=parts[2])
        if isinstance(index, gast.Tuple):
            pre = []
            elts = []
            for e in index.elts:
                s, a = self._index(e)
                pre += s
                elts.append(a)
            return pre, nodes.tuple_(elts)
        return self._atomize(index, allow_seq=True)


    def _simplify(self, expr):
        """(statements, op): ``op`` is one operation on atoms."""
        if isinstance(expr, (gast.Name, gast.Constant)):
            return [], expr
        if isinstance(expr, gast.BinOp):
            p1, left = self._atomize(expr.left)
            p2, right = self._atomize(expr.right)
            return p1 + p2, gast.BinOp(left=left, op=expr.op, right=right)
        if isinstance(expr, gast.UnaryOp):
            if isinstance(expr.operand, gast.Constant) and isinstance(expr.op, (gast.USub, gast.UAdd)):
                return self._atomize(expr)
            p, operand = self._atomize(expr.operand)
            return p, gast.UnaryOp(op=expr.op, operand=operand)
        if isinstance(expr, gast.Compare):
            if len(expr.ops) == 1:
                p1, left = self._atomize(expr.left)
                p2, right = self._atomize(expr.comparators[0], allow_seq=True)
                return p1 + p2, gast.Compare(left=left, ops=expr.ops, comparators=[right])
            # a < b < c  ->  (a < b) and (b < c), b evaluated once
            pre, left = self._atomize(expr.left)
            parts = []
            operands = [left]
            for c in expr.comparators:
                p, a = self._atomize(c)
                pre += p
                operands.append(a)
            for i, op in enumerate(expr.ops):
                parts.append(gast.Compare(left=copy.deepcopy(operands[i]), ops=[op],
                                          comparators=[copy.deepcopy(operands[i + 1])]))
            p, op = self._simplify(gast.BoolOp(op=gast.And(), values=parts))
            return pre + p, op
        if isinstance(expr, gast.BoolOp):
            result = self._temp()
            return self._boolop(expr.op, expr.values, result), nodes.name(result)
        if isinstance(expr, gast.IfExp):
            result = self._temp()
            pre, test = self._atomize(expr.test)
            b1, v1 = self._simplify(expr.body)
            b2, v2 = self._simplify(expr.orelse)
            return pre + [nodes.if_(test, b1 + [nodes.assign(result, v1)],
                                    b2 + [nodes.assign(result, v2)])], nodes.name(result)
        if isinstance(expr, gast.Call):
            if isinstance(expr.func, gast.Name) and expr.func.id in self.local_fns:
                return self._inline_call(self.local_fns[expr.func.id], expr)
            if isinstance(expr.func, gast.Lambda):
                return self._inline_call(self._lambda_def(expr.func, "lambda"), expr)
            return self._call(expr)
        if isinstance(expr, (gast.ListComp, gast.GeneratorExp)):
            return self._comprehension(expr)
        if isinstance(expr, gast.Subscript):
            p1, value = self._atomize(expr.value)
            p2, index = self._index(expr.slice)
            return p1 + p2, gast.Subscript(value=value, slice=index, ctx=gast.Load())
        if isinstance(expr, gast.Attribute):
            if self._is_static_ref(expr):
                return [], expr
            p, value = self._atomize(expr.value)
            return p, gast.Attribute(value=value, attr=expr.attr, ctx=gast.Load())
        if isinstance(expr, (gast.Tuple, gast.List)):
            if any(isinstance(e, gast.Starred) for e in expr.elts):
                return [], expr
            pre, elts = self._atoms(expr.elts)
            return pre, type(expr)(elts=elts, ctx=gast.Load())
        if isinstance(expr, gast.Dict):
            if any(k is None for k in expr.keys):
                return [], expr
            p1, keys = self._atoms(expr.keys)
            p2, values = self._atoms(expr.values)
            return p1 + p2, gast.Dict(keys=keys, values=values)
        if isinstance(expr, _OPAQUE):
            return [], expr
        if isinstance(expr, gast.Starred):
            raise self.info.error(expr, "cannot differentiate a starred expression here",
                                  construct="starred")
        raise self.info.error(expr, f"cannot differentiate a '{type(expr).__name__}' expression",
                              construct=type(expr).__name__)


    def _inplace_method(self, call):
        """``y.sort(axis)`` sorts in place: rewritten ``y = np.sort(y, axis)``;
        on a list (``lst = [...]`` or ``lst.sort(key=k, reverse=r)``), ``lst =
        ad.sorted_(lst, key=k, reverse=r)``; ``lst.reverse()`` is ``lst =
        ad.reversed_(lst)`` (arrays have no .reverse()).  Other in-place
        array methods are refused."""
        name = call.func.value.id
        meth = call.func.attr
        if meth == "reverse" or (meth == "sort" and self._is_list(name, call)):
            if call.args or (meth == "reverse" and call.keywords):
                raise self.info.error(call, f"unsupported arguments for list.{meth}()",
                                      construct=f".{meth}()")
            ad = self.inject("ad", runtime)
            new = gast.Call(func=nodes.attr(nodes.name(ad), "reversed_" if meth == "reverse"
                                            else "sorted_"),
                            args=[nodes.name(name)], keywords=call.keywords)
            return self._assign([nodes.name(name, store=True)], new)
        if meth not in ("sort",):
            raise self.info.error(call, f"cannot differentiate the in-place method .{meth}()",
                                  hint=f"assign a new array instead (e.g. {name} = "
                                       f"np.full_like({name}, v) for .fill(v))",
                                  construct=f".{meth}()")
        np_name = self.inject("np", numpy)
        new = gast.Call(func=nodes.attr(nodes.name(np_name), meth),
                        args=[nodes.name(name)] + list(call.args), keywords=call.keywords)
        return self._assign([nodes.name(name, store=True)], new)


    def _list_method(self, call):
        """The other in-place list methods on a local list, as statements,
        rebind the name to a new list as ``lst.append(v)`` does (so the
        adjoint sweep can restore the old one): ``lst.extend(e)`` is ``lst =
        lst + list(e)``, ``lst.insert(i, v)`` is ``lst = lst[:i] + [v] +
        lst[i:]``, ``lst.clear()`` is ``lst = []``, ``lst.pop()`` /
        ``lst.pop(k)`` (k a constant) drop that member; ``lst.remove(v)``
        (a search by equality) and ``lst.pop(i)`` with a computed index are
        refused (they were silently ignored)."""
        name, meth, args = call.func.value.id, call.func.attr, list(call.args)

        def refuse(why):
            raise self.info.error(call, f"cannot differentiate list.{meth}() here: {why}",
                                  hint=f"rebind the list instead, e.g. {name} = "
                                       f"{name}[:i] + {name}[i + 1:]",
                                  construct=f"list.{meth}()")

        def part(lower, upper):
            return gast.Subscript(value=nodes.name(name), ctx=gast.Load(), slice=gast.Slice(
                lower=None if lower is None else nodes.const(lower) if isinstance(lower, int)
                else lower,
                upper=None if upper is None else nodes.const(upper) if isinstance(upper, int)
                else upper, step=None))

        def plus(*xs):
            out = xs[0]
            for x in xs[1:]:
                out = gast.BinOp(left=out, op=gast.Add(), right=x)
            return out
        if call.keywords or any(isinstance(a, gast.Starred) for a in args):
            refuse("keyword or starred arguments")
        pre = []
        if meth == "extend" and len(args) == 1:
            new = plus(nodes.name(name), gast.Call(func=nodes.name("list"), args=args,
                                                   keywords=[]))
        elif meth == "insert" and len(args) == 2:
            pre, i = self._atomize(args[0])
            new = plus(part(None, i), gast.List(elts=[args[1]], ctx=gast.Load()), part(i, None))
        elif meth == "clear" and not args:
            new = gast.List(elts=[], ctx=gast.Load())
        elif meth == "pop" and len(args) <= 1:
            k = -1 if not args else _int_constant(args[0])
            if k is None:
                refuse("the index is computed (only a constant index is followed)")
            new = part(None, -1) if k == -1 else plus(part(None, k), part(k + 1, None))
        else:
            refuse("its search by equality is not followed" if meth == "remove"
                   else "unsupported arguments")
        return pre + self._assign([nodes.name(name, store=True)], new)

    def _is_list(self, name, call):
        """Is ``name`` (receiving ``.sort()``) a list: keywords only
        list.sort takes, or a binding of the function that makes it one?"""
        if any(k.arg in ("key", "reverse") for k in call.keywords):
            return True
        if getattr(self, "_list_names", None) is None:
            from ad_compiler.transforms.ad.sequences import sequence_names
            self._list_names = sequence_names(self.info.node)
        return name in self._list_names


    def _append(self, lst, value):
        pre, atom = self._atomize(value)
        ad = self.inject("ad", runtime)
        call = nodes.call(nodes.attr(nodes.name(ad), "append"), [nodes.name(lst), atom])
        return pre + self._assign([nodes.name(lst, store=True)], call)


    def _boolop(self, op, values, result):
        pre, first = self._simplify(values[0])
        out = pre + [nodes.assign(result, first)]
        if len(values) == 1:
            return out
        rest = self._boolop(op, values[1:], result)
        if isinstance(op, gast.And):
            out.append(nodes.if_(nodes.name(result), rest))
        else:
            out.append(nodes.if_(nodes.name(result), [gast.Pass()], rest))
        return out


    _SEQUENCE_BUILTINS = {"zip": "zip_", "enumerate": "enumerate_", "reversed": "reversed_",
                          "sorted": "sorted_"}


    def _sequence_builtin(self, expr):
        """``zip(a, b)``, ``zip(*t)``, ``enumerate(x)``, ``reversed(x)``,
        ``sorted(x)`` move values: a call of the runtime's list-returning
        form (``ad.zip_((a, b))``, ``ad.zip_(t)``...), which has derivative
        rules, or None for other calls."""
        f = expr.func
        if not (isinstance(f, gast.Name) and f.id in self._SEQUENCE_BUILTINS
                and self._is_builtin(f, f.id)):
            return None
        fn = nodes.attr(nodes.name(self.inject("ad", runtime)), self._SEQUENCE_BUILTINS[f.id])
        args = list(expr.args)
        if any(k.arg is None for k in expr.keywords):
            return None
        if f.id == "zip":
            if expr.keywords:
                return None       # zip(..., strict=True): left to Python
            if len(args) == 1 and isinstance(args[0], gast.Starred):
                args = [args[0].value]
            elif any(isinstance(a, gast.Starred) for a in args):
                return None
            else:
                args = [gast.Tuple(elts=args, ctx=gast.Load())]
        elif any(isinstance(a, gast.Starred) for a in args):
            return None
        return gast.Call(func=fn, args=args, keywords=list(expr.keywords))


    def _call(self, expr):
        seq = self._sequence_builtin(expr)
        if seq is not None:
            expr = seq
        expr = self._functions_passed(expr)
        pre = []
        func = expr.func
        label = None
        if isinstance(func, gast.Attribute) and not self._is_static_ref(func):
            cls = self._object_class(func.value)
            p, recv = self._atomize(func.value)
            pre += p
            if cls is not None and isinstance(recv, gast.Name) \
                    and self.resolve.types.get(recv.id, cls) is cls:
                self._bind_object_class(recv.id, func.value, cls)   # self.layer.forward(x)
            func = gast.Attribute(value=recv, attr=func.attr, ctx=gast.Load())
        elif isinstance(func, gast.Call) and self._static_derivative(func) is not None:
            # grad(energy)(x): the derivative is made now, read as a global
            made = self._static_derivative(func)
            func = nodes.name(self.inject(self._derivative_name(func), made))
        elif self._function_of(func) is not None:
            # f = np.sin; f(x) / acts['relu'](x): specialized, checked when run
            obj, written = self._function_of(func), expr.func
            if not isinstance(func, gast.Name):
                p, func = self._atomize(func)
                pre += p
            pre.append(self._function_guard(func.id, obj, expr, f"'{describe(written)}'",
                                            "what it held when compiled"))
        elif not (isinstance(func, gast.Name) or self._is_static_ref(func)):
            written = expr.func
            p, func = self._atomize(func)
            pre += p
            # messages name what the user wrote, not the temporary
            label = f"{describe(written)}(...)"
        args = []
        for a in expr.args:
            if isinstance(a, gast.Starred):
                p, v = self._atomize(a.value)
                pre += p
                args.append(gast.Starred(value=v, ctx=gast.Load()))
            else:
                p, v = self._atomize(a, allow_seq=True)
                pre += p
                args.append(v)
        keywords = []
        for k in expr.keywords:
            p, v = self._atomize(k.value, allow_seq=True)
            pre += p
            keywords.append(gast.keyword(arg=k.arg, value=v))
        call = gast.Call(func=func, args=args, keywords=keywords)
        if label is not None:
            annotations.set(call, Key.LABEL, label)
        return pre + self._update_guards(expr, call), call
