"""Clean-up passes on generated code, run to a fixed point.

* ``copy_propagation``: after ``bt2 = bt3``, later reads of ``bt2`` in the
  same block read ``bt3`` (when both are assigned once);
* ``free_dead_values``: ``del`` large temporaries after their last use;
* ``common_subexpressions``: ``t = np.cos(x)`` computed once serves later
  occurrences of ``np.cos(x)``;
* ``fold_negations``: ``-(-b * p) * t`` is ``b * p * t``, ``n = -a`` then
  ``n = n + e`` is ``n = e - a``;
* ``copy_back``: ``a = b; b = a``: the second goes;
* ``double_products``: ``g = a * b; g = g + b * a`` is ``g = 2.0 * (a * b)``;
* ``dead_code``: an assignment whose target is never read anywhere in the
  function is dropped when its value has no side effects (names, constants,
  operators, subscripts, and calls of functions known to be pure: NumPy's
  and the runtime's, except the stack and in-place helpers).

Before::

    t3 = x.T
    bt3 = ad.unbroadcast(bz, t3)     # bt3 never read
    bx = bz * 2.0

After::

    t3 = x.T
    bx = bz * 2.0
"""

import gast

from ad_compiler.transforms import annotations, nodes

# (the defer_* helpers append to their list argument: transforms/cleanup/batch.py)
_IMPURE_RUNTIME = {"push", "pop", "add_at", "scalar_seed", "defer_outer", "defer_matmul_left",
                   "defer_matmul_right", "defer_dot_a", "defer_dot_b", "defer_tangent"}


def _is_pure(node, pure_roots):
    for sub in nodes.walk(node):
        if isinstance(sub, gast.Call):
            func = sub.func
            root = func
            while isinstance(root, gast.Attribute):
                root = root.value
            if not (isinstance(root, gast.Name) and root.id in pure_roots):
                return False
            if isinstance(func, gast.Attribute) and func.attr in _IMPURE_RUNTIME:
                return False
        elif isinstance(sub, (gast.Lambda, gast.Yield, gast.Await, gast.NamedExpr,
                              gast.ListComp, gast.GeneratorExp, gast.DictComp, gast.SetComp)):
            return False
    return True


def _pure_loads(node, pure_roots):
    """The names ``node`` loads if ``_is_pure(node, pure_roots)``, else None
    (one walk for both)."""
    out = set()
    Name, Load, Call, Attribute = gast.Name, gast.Load, gast.Call, gast.Attribute
    for sub in nodes.walk(node):
        cls = type(sub)
        if cls is Name:
            if type(sub.ctx) is Load:
                out.add(sub.id)
        elif cls is Call:
            func = sub.func
            root = func
            while isinstance(root, Attribute):
                root = root.value
            if not (isinstance(root, Name) and root.id in pure_roots):
                return None
            if isinstance(func, Attribute) and func.attr in _IMPURE_RUNTIME:
                return None
        elif isinstance(sub, _IMPURE_NODES):
            return None
    return out


_IMPURE_NODES = (gast.Lambda, gast.Yield, gast.Await, gast.NamedExpr, gast.ListComp,
                 gast.GeneratorExp, gast.DictComp, gast.SetComp)


def dead_code(fn, pure_roots):
    """One sweep of dead-assignment removal; returns True if it changed.

    Mark and sweep: a name is needed when a statement with an effect reads
    it (control flow, returns, calls that may have effects, stores into
    containers...), or when a pure assignment to a needed name reads it.
    Pure assignments to names that are not needed go, including the
    loop-carried ones no effect ever reads (``total = total + x`` of a loss
    that ``grad`` does not return)."""
    reads = {}           # id(statement) -> names its value reads, if a pure assignment

    def pure_assign(s):
        # (never ``n += e``: it may write into an array another name shares)
        # (memoized for the sweep: the statements stay alive during the call)
        key = id(s)
        if key not in reads:
            reads[key] = None
            if isinstance(s, gast.Assign) and len(s.targets) == 1 \
                    and isinstance(s.targets[0], gast.Name):
                reads[key] = _pure_loads(s.value, pure_roots)
        return reads[key] is not None

    def target(s):
        return s.targets[0].id

    def loads(node):
        return {n.id for n in nodes.walk(node)
                if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Load)}

    assigns = {}         # target -> names its pure assignments read
    needed = set()

    def mark(stmts):
        for s in stmts:
            if pure_assign(s):
                assigns.setdefault(target(s), set()).update(reads[id(s)])
                continue
            subs = [f for f in ("body", "orelse", "handlers", "finalbody")
                    if getattr(s, f, None) and not isinstance(s, gast.FunctionDef)]
            if subs:
                # the statement's own expressions (test, iter...) are roots
                for field, value in gast.iter_fields(s):
                    if field not in subs:
                        for v in (value if isinstance(value, list) else [value]):
                            if isinstance(v, gast.AST):
                                needed.update(loads(v))
                for f in subs:
                    mark(getattr(s, f))
            else:
                needed.update(loads(s))
                if isinstance(s, gast.AugAssign) and isinstance(s.target, gast.Name):
                    needed.add(s.target.id)         # n += e reads n

    mark(fn.body)
    work = list(needed)
    while work:
        name = work.pop()
        for n in assigns.get(name, ()):
            if n not in needed:
                needed.add(n)
                work.append(n)
    changed = [False]

    def sweep(stmts):
        out = []
        for s in stmts:
            if pure_assign(s) and target(s) not in needed:
                changed[0] = True
                continue
            _rewrite_blocks(s, sweep)
            out.append(s)
        return out

    fn.body = sweep(fn.body)
    return changed[0]


def _rewrite_blocks(stmt, block):
    """Apply ``block`` (statements -> statements) to the nested blocks of
    ``stmt`` (not into nested functions); an emptied body becomes ``pass``."""
    for field in ("body", "orelse"):
        sub = getattr(stmt, field, None)
        if sub and not isinstance(stmt, gast.FunctionDef):
            new = block(sub)
            if field == "body" and not new:
                new = [gast.Pass()]
            setattr(stmt, field, new)


def _load_counts(fn):
    """name -> how many times the function reads it."""
    counts = {}
    for n in nodes.walk(fn):
        if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Load):
            counts[n.id] = counts.get(n.id, 0) + 1
    return counts


def _assign_counts(fn):
    counts = {}
    for node in nodes.walk(fn):
        if isinstance(node, gast.Name) and isinstance(node.ctx, (gast.Store, gast.Param)):
            counts[node.id] = counts.get(node.id, 0) + 1
    return counts


def _name_facts(fn):
    """``(_assign_counts(fn), _load_counts(fn), _mutated(fn))`` in one walk
    of the function (``optimize`` shares them between its passes until one
    of them changes the tree)."""
    stores, loads, mutated = {}, {}, set()
    Name, Load, Store, Param = gast.Name, gast.Load, gast.Store, gast.Param
    Subscript, Attribute, AugAssign, Expr, Call = (gast.Subscript, gast.Attribute,
                                                   gast.AugAssign, gast.Expr, gast.Call)
    for node in nodes.walk(fn):
        cls = type(node)
        if cls is Name:
            ctx = type(node.ctx)
            if ctx is Load:
                loads[node.id] = loads.get(node.id, 0) + 1
            elif ctx is Store or ctx is Param:
                stores[node.id] = stores.get(node.id, 0) + 1
        elif cls is Subscript or cls is Attribute:
            if isinstance(node.ctx, Store):
                base = node.value
                while isinstance(base, (Subscript, Attribute)):
                    base = base.value
                if isinstance(base, Name):
                    mutated.add(base.id)
        elif cls is AugAssign:
            if isinstance(node.target, Name):
                mutated.add(node.target.id)
        elif cls is Expr and isinstance(node.value, Call):
            mutated |= {n.id for n in nodes.walk(node.value) if isinstance(n, Name)}
    return stores, loads, mutated


class _Facts:
    """``_name_facts`` of a function, computed when first asked for and
    again after ``stale()`` (a pass changed the tree)."""

    def __init__(self, fn):
        self.fn = fn
        self._facts = None

    def stale(self):
        self._facts = None

    def get(self):
        """Fresh copies: (assign counts, load counts, mutated names)."""
        if self._facts is None:
            self._facts = _name_facts(self.fn)
        stores, loads, mutated = self._facts
        return dict(stores), dict(loads), set(mutated)


def _is_number(node):
    if isinstance(node, gast.UnaryOp) and isinstance(node.op, gast.USub):
        node = node.operand
    return isinstance(node, gast.Constant) and isinstance(node.value, (int, float)) \
        and not isinstance(node.value, bool)


def _loads_in(stmts, name):
    return sum(1 for t in stmts for n in nodes.walk(t)
               if isinstance(n, gast.Name) and n.id == name and isinstance(n.ctx, gast.Load))


class _Substitute(nodes.Transformer):
    def __init__(self, name, value):
        self.name, self.value = name, value

    def visit_Name(self, node):
        if node.id == self.name and isinstance(node.ctx, gast.Load):
            return nodes.copy_node(self.value)
        return node

    def visit_UnaryOp(self, node):
        self.generic_visit(node)
        # -(-1.0) and -(1.0): one constant
        if isinstance(node.op, gast.USub) and _is_number(node.operand):
            inner = node.operand
            if isinstance(inner, gast.UnaryOp):
                return inner.operand
            return gast.UnaryOp(op=gast.USub(), operand=inner) if inner.value >= 0 else \
                nodes.const(-inner.value)
        return node


def copy_propagation(fn, facts=None):
    """``a = b`` followed by uses of ``a`` in the same block: use ``b``; and
    ``a = 1.0`` (a number): use the number.

    Only when both names are assigned once in the whole function and every
    use of ``a`` comes after the copy in its block (then a and b hold the same
    value at each use, in loops too).  Returns True if it changed.

    Each block keeps, per name, the statements that read it (and how many
    times), so a copy costs the statements that read it, not the block."""
    if facts is not None:
        counts, loads, _ = facts.get()
    else:
        counts = _assign_counts(fn)
        loads = _load_counts(fn)
    changed = [False]

    def reads(stmt):
        out = {}
        for n in nodes.walk(stmt):
            if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Load):
                out[n.id] = out.get(n.id, 0) + 1
        return out

    def block(stmts):
        where = {}           # name -> {statement index: loads of the name there}
        per_stmt = [reads(st) for st in stmts]
        for j, names in enumerate(per_stmt):
            for name, c in names.items():
                where.setdefault(name, {})[j] = c
        for i, s in enumerate(stmts):
            if not (isinstance(s, gast.Assign) and len(s.targets) == 1
                    and isinstance(s.targets[0], gast.Name)):
                pass
            elif _is_number(s.value) or isinstance(s.value, gast.Name):
                a = s.targets[0].id
                b = s.value.id if isinstance(s.value, gast.Name) else None
                at = where.get(a, {})
                if counts.get(a) == 1 and loads.get(a) and a != b \
                        and (b is None or counts.get(b) == 1) \
                        and not any(j < i for j in at) \
                        and sum(c for j, c in at.items() if j > i) == loads[a]:
                    later = [stmts[j] for j in sorted(at) if j > i]
                    if b is None:
                        _Substitute(a, s.value).visit(gast.Module(body=later, type_ignores=[]))
                    else:
                        for t in later:
                            for n in nodes.walk(t):
                                if isinstance(n, gast.Name) and n.id == a \
                                        and isinstance(n.ctx, gast.Load):
                                    n.id = b
                        into = where.setdefault(b, {})
                        for j, c in at.items():
                            if j > i:
                                into[j] = into.get(j, 0) + c
                                per_stmt[j][b] = per_stmt[j].get(b, 0) + c
                                del per_stmt[j][a]
                        loads[b] = loads.get(b, 0) + loads[a]
                    if b is None:
                        for j in at:
                            if j > i:
                                del per_stmt[j][a]
                    where[a] = {j: c for j, c in at.items() if j <= i}
                    loads[a] = 0
                    changed[0] = True
            if getattr(s, "body", None) and not isinstance(s, gast.FunctionDef):
                _rewrite_blocks(s, block)
                # (the nested blocks may have renamed what s reads)
                for name in per_stmt[i]:
                    where[name].pop(i, None)
                per_stmt[i] = reads(s)
                for name, c in per_stmt[i].items():
                    where.setdefault(name, {})[i] = c
        return stmts

    block(fn.body)
    return changed[0]


_SMALL_ATTRS = {"shape", "ndim", "size", "dtype"}


def _small_values(fn):
    """Names that only ever hold small values not worth a ``del``: numbers,
    shapes and their entries, ``range``/``len`` results."""
    sites = {}
    for node in nodes.walk(fn):
        _note_site(node, sites)
    return _small_of(sites)


def _note_site(node, sites):
    """Record in ``sites`` (name -> values assigned to it, None for one
    that is not a plain assignment) the bindings made by ``node``."""
    if isinstance(node, gast.Assign):
        for t in node.targets:
            for n in nodes.walk(t):
                if isinstance(n, gast.Name):
                    sites.setdefault(n.id, []).append(
                        node.value if isinstance(t, gast.Name) else None)
    elif isinstance(node, (gast.For, gast.AugAssign)) and isinstance(node.target, gast.Name):
        sites.setdefault(node.target.id, []).append(None)


def _small_of(sites):
    small = set()
    changed = True
    while changed:
        changed = False
        for name, values in sites.items():
            if name not in small and all(_is_small(v, small) for v in values):
                small.add(name)
                changed = True
    return small


def _is_small(value, small):
    if value is None:
        return False
    if _is_number(value):
        return True
    if isinstance(value, gast.Attribute):
        return value.attr in _SMALL_ATTRS
    if isinstance(value, gast.Subscript):
        return isinstance(value.value, gast.Name) and value.value.id in small
    if isinstance(value, gast.Call) and isinstance(value.func, gast.Name):
        return value.func.id in ("range", "len")
    return False


def free_dead_values(fn, keep=()):
    """``del a, b`` right after the top-level statement that last reads them,
    so that large temporaries do not live until the function returns (the
    peak memory of a gradient call).  Only names assigned by a top-level
    statement (so certainly bound) and never read again; none just before
    the final ``return``."""
    body = fn.body
    params = {a.id for a in fn.args.posonlyargs + fn.args.args + fn.args.kwonlyargs}
    last_use = {}
    sites = {}              # (_small_values, in the same walk)
    Name = gast.Name
    for i, stmt in enumerate(body):
        for n in nodes.walk(stmt):
            if type(n) is Name:
                last_use[n.id] = i
            else:
                _note_site(n, sites)
    small = _small_of(sites)
    # a name bound by a top-level assignment dies after its last use (which
    # is at or after every assignment of it): linear, not a scan of all
    # bound names after each statement
    dies = {}
    for stmt in body:
        if isinstance(stmt, gast.Assign):
            for t in stmt.targets:
                if isinstance(t, gast.Name) and t.id not in params and t.id not in keep \
                        and t.id not in small:
                    dies.setdefault(last_use[t.id], set()).add(t.id)
    out = []
    pending = set()
    for i, stmt in enumerate(body):
        out.append(stmt)
        pending |= dies.get(i, set())
        nxt = body[i + 1] if i + 1 < len(body) else None
        if nxt is None or isinstance(nxt, gast.Return):
            continue
        if pending:
            out.append(gast.Delete(targets=[nodes.name(n) for n in sorted(pending)]))
            for d in out[-1].targets:
                d.ctx = gast.Del()
            pending = set()
    fn.body = out
    _free_in_blocks(fn, params | set(keep) | small)
    return fn


def _name_counts(stmt):
    """name -> number of its Name nodes in ``stmt``."""
    out = {}
    Name = gast.Name
    for n in nodes.walk(stmt):
        if type(n) is Name:
            out[n.id] = out.get(n.id, 0) + 1
    return out


def _free_in_blocks(fn, skip):
    """The same inside the bodies of loops and branches: a name whose
    mentions all lie in blocks where its first mention is a top-level
    ``name = value`` (not reading it) and every other one a load, is bound
    whenever such a block reaches its last mention there: ``del`` it after
    that statement.  Without this, a loop's temporaries of the last
    iteration live on beside everything the loop saved (the peak of a
    gradient with a loop), and one iteration's stay alive while the next
    allocates.  (A name may qualify in several blocks: a value the adjoint
    sweep computes again is one in the primal loop and one in the adjoint
    loop.)"""
    total = _name_counts(fn)
    found = {}          # name -> [(block, index of its last mention)]
    covered = {}        # name -> mentions in the blocks of ``found``

    def scan(stmts, claimed):
        first, last, count, stores, plain = {}, {}, {}, {}, {}
        for i, s in enumerate(stmts):
            for n in nodes.walk(s):
                if type(n) is gast.Name:
                    name = n.id
                    first.setdefault(name, i)
                    last[name] = i
                    count[name] = count.get(name, 0) + 1
                    if type(n.ctx) is not gast.Load:
                        stores[name] = stores.get(name, 0) + 1
            if isinstance(s, gast.Assign) and len(s.targets) == 1 \
                    and isinstance(s.targets[0], gast.Name):
                plain.setdefault(s.targets[0].id, []).append(i)
        here = set()
        for name, sites in plain.items():
            if name in skip or name in claimed:
                continue
            i = first[name]
            if sites[0] != i or stores[name] != len(sites) \
                    or name in _name_counts(stmts[i].value):
                continue
            # (last == i: the block never reads what it assigns, e.g. a value
            # the adjoint sweep computes again for a read specialization dropped)
            found.setdefault(name, []).append((stmts, last[name], last[name] == i))
            covered[name] = covered.get(name, 0) + count[name]
            here.add(name)
        inner = claimed | here
        for s in stmts:
            for field in ("body", "orelse"):
                sub = getattr(s, field, None)
                if sub and isinstance(s, (gast.For, gast.While, gast.If)):
                    scan(sub, inner)

    for s in fn.body:
        for field in ("body", "orelse"):
            sub = getattr(s, field, None)
            if sub and isinstance(s, (gast.For, gast.While, gast.If)):
                scan(sub, frozenset())
    dies = {}           # id(block) -> {index: [names]}
    unread = {}         # id(block) -> indexes of assignments nothing reads
    blocks = {}
    for name, places in found.items():
        if covered[name] != total.get(name):
            continue
        for stmts, i, dead in places:
            blocks[id(stmts)] = stmts
            if dead and _is_simple_arith(stmts[i].value):
                unread.setdefault(id(stmts), set()).add(i)
            else:
                dies.setdefault(id(stmts), {}).setdefault(i, []).append(name)
    for key, stmts in blocks.items():
        at = dies.get(key, {})
        gone = unread.get(key, set())
        for i in sorted(set(at) | gone, reverse=True):
            if i in at:
                d = gast.Delete(targets=[nodes.name(n) for n in sorted(at[i])])
                for t in d.targets:
                    t.ctx = gast.Del()
                stmts.insert(i + 1, d)
            if i in gone:
                del stmts[i]
        if not stmts:
            stmts.append(gast.Pass())


def _is_simple_arith(value):
    """Names, numbers and operators on them (no calls): no side effects,
    as ``dead_code`` assumes of operators."""
    return all(isinstance(n, (gast.Name, gast.Constant, gast.BinOp, gast.UnaryOp,
                              gast.operator, gast.unaryop, gast.expr_context))
               for n in nodes.walk(value))


def _product(node):
    """The two factors of ``a * b`` (names), or None."""
    if isinstance(node, gast.BinOp) and isinstance(node.op, gast.Mult) \
            and all(isinstance(v, gast.Name) for v in (node.left, node.right)):
        return node.left.id, node.right.id
    return None


def double_products(fn):
    """``g = a * b`` then ``g = g + b * a`` (the two terms of the adjoint of
    ``x * x``): one ``g = 2.0 * (a * b)``, exact in floating point since
    doubling is (overflow included: a * b + a * b overflows exactly when
    2.0 * (a * b) does).  Returns True if it changed."""
    changed = [False]

    def block(stmts):
        out = []
        for s in stmts:
            prev = out[-1] if out else None
            if (isinstance(s, gast.Assign) and isinstance(prev, gast.Assign)
                    and len(s.targets) == len(prev.targets) == 1
                    and isinstance(s.targets[0], gast.Name)
                    and isinstance(prev.targets[0], gast.Name)
                    and s.targets[0].id == prev.targets[0].id
                    and isinstance(s.value, gast.BinOp) and isinstance(s.value.op, gast.Add)
                    and isinstance(s.value.left, gast.Name)
                    and s.value.left.id == s.targets[0].id):
                first, second = _product(prev.value), _product(s.value.right)
                target = s.targets[0].id
                if first and second and sorted(first) == sorted(second) \
                        and target not in first:
                    # (2.0 * (a * b), not 2.0 * a * b: 2.0 * a may overflow
                    # where a * b + b * a does not)
                    prev.value = nodes.binop(nodes.const(2.0), gast.Mult(), prev.value)
                    changed[0] = True
                    continue
            _rewrite_blocks(s, block)
            out.append(s)
        return out

    fn.body = block(fn.body)
    return changed[0]


_CSE_FUNCS = {"sin", "cos", "tan", "exp", "log", "log1p", "expm1", "sqrt", "tanh", "sinh",
              "cosh", "arctan", "abs", "square", "reciprocal", "sign"}


def _cse_candidate(node, pure_roots):
    """Arithmetic and elementwise math of NumPy only (no array creation, no
    random numbers: equal expressions must mean equal, unshared results)."""
    for sub in nodes.walk(node):
        if isinstance(sub, gast.Call):
            f = sub.func
            if not (isinstance(f, gast.Attribute) and f.attr in _CSE_FUNCS
                    and isinstance(f.value, gast.Name) and f.value.id in pure_roots
                    and not sub.keywords):
                return False
        elif not isinstance(sub, (gast.BinOp, gast.UnaryOp, gast.Name, gast.Constant,
                                  gast.Attribute, gast.operator, gast.unaryop,
                                  gast.expr_context)):
            return False
    return isinstance(node, (gast.Call, gast.BinOp, gast.UnaryOp))


def _mutated(fn):
    """Names whose value may change in place: bases of subscript and
    attribute stores, ``+=`` targets, arguments of call statements."""
    out = set()
    for node in nodes.walk(fn):
        if isinstance(node, (gast.Subscript, gast.Attribute)) and isinstance(node.ctx, gast.Store):
            base = node.value
            while isinstance(base, (gast.Subscript, gast.Attribute)):
                base = base.value
            if isinstance(base, gast.Name):
                out.add(base.id)
        elif isinstance(node, gast.AugAssign) and isinstance(node.target, gast.Name):
            out.add(node.target.id)
        elif isinstance(node, gast.Expr) and isinstance(node.value, gast.Call):
            out |= {n.id for n in nodes.walk(node.value) if isinstance(n, gast.Name)}
    return out


def common_subexpressions(fn, pure_roots, facts=None):
    """A pure expression computed by a top-level ``t = expr`` is not computed
    again as part of a later expression: it reads ``t`` (``np.cos(x)`` of the
    primal sweep reused by the adjoint sweep).  Only when ``t`` and every name
    the expression reads are assigned at most once in the whole function and
    never changed in place, so they hold the same values wherever they are
    read; whole right-hand sides are not replaced (each assignment keeps a
    fresh array, which in-place accumulation may own).  Returns True if it
    changed."""
    if facts is not None:
        counts, _, mutated = facts.get()
    else:
        counts = _assign_counts(fn)
        mutated = _mutated(fn)
    known = {}           # gast.dump(expr) -> name holding its value
    shapes = set()       # _cse_shape of the expressions in known
    changed = [False]

    def stable(name):
        return counts.get(name, 0) <= 1 and name not in mutated

    class Replace(nodes.Transformer):
        def generic_visit(self, node):
            # (gast.dump only for expressions of the shape of a known one)
            if isinstance(node, (gast.Call, gast.BinOp, gast.UnaryOp)) \
                    and _cse_shape(node) in shapes:
                name = known.get(gast.dump(node))
                if name is not None:
                    changed[0] = True
                    return nodes.name(name)
            return super().generic_visit(node)

        def visit_Assign(self, node):
            # operands only: the value itself stays a fresh computation
            super().generic_visit(node.value)
            return node

    for stmt in fn.body:
        if known:           # (nothing to replace before the first candidate)
            Replace().visit(stmt)
        if (isinstance(stmt, gast.Assign) and len(stmt.targets) == 1
                and isinstance(stmt.targets[0], gast.Name) and stable(stmt.targets[0].id)
                and _cse_candidate(stmt.value, pure_roots)
                and all(stable(n.id) for n in nodes.walk(stmt.value) if isinstance(n, gast.Name)
                        and isinstance(n.ctx, gast.Load) and n.id not in pure_roots)):
            known.setdefault(gast.dump(stmt.value), stmt.targets[0].id)
            shapes.add(_cse_shape(stmt.value))
    return changed[0]


def _cse_shape(node):
    """What equal expressions (equal ``gast.dump``) have in common and is
    cheap to compute: the class, the operator or the called name, the
    number of arguments."""
    cls = type(node)
    if cls is gast.Call:
        f = node.func
        return cls, getattr(f, "attr", None) or getattr(f, "id", None), len(node.args), \
            len(node.keywords)
    return cls, type(node.op)


def _is_neg(node):
    return isinstance(node, gast.UnaryOp) and isinstance(node.op, gast.USub)


def _mentions(stmt, name, stores_only=False):
    return any(isinstance(n, gast.Name) and n.id == name
               and (not stores_only or not isinstance(n.ctx, gast.Load))
               for n in nodes.walk(stmt))


def fold_negations(fn, facts=None):
    """Negations that cancel or merge, exactly (negation is exact in
    floating point):

    * ``n = -a`` then ``n = n + e``: ``n = e - a``;
    * ``v = -w`` where ``w`` is read only there and computed by a product or
      quotient with a negated factor (``w = -b * p / t``), possibly through
      other single-use names: the inner negation goes, ``v = w``.

    Returns True if it changed."""
    if facts is not None:
        counts, loads, mutated = facts.get()
    else:
        counts = _assign_counts(fn)
        loads = _load_counts(fn)
        mutated = _mutated(fn)
    # -(-a) is a fresh array, ``a`` the same one: where anything is written
    # in place, a double negation must not become another name for ``a``
    writes = bool(mutated)
    changed = [False]

    def negated(expr, defs):
        """An expression for -expr without a negation op, or None.  It may
        be ``expr`` itself changed in place or a new node, so the caller
        must put the result where ``expr`` was; on the way it rewrites the
        single-use definitions in ``defs`` it goes through (only when it
        succeeds)."""
        if _is_neg(expr):
            if writes and isinstance(expr.operand, gast.Name):
                return None
            return expr.operand
        if isinstance(expr, gast.Constant) and _is_number(expr):
            return gast.UnaryOp(op=gast.USub(), operand=expr)
        if isinstance(expr, gast.BinOp) and isinstance(expr.op, (gast.Mult, gast.Div)):
            for side in ("left", "right"):
                inner = negated(getattr(expr, side), defs)
                if inner is not None:
                    setattr(expr, side, inner)
                    return expr
            return None
        if isinstance(expr, gast.Name) and expr.id in defs and loads.get(expr.id) == 1 \
                and counts.get(expr.id) == 1:
            d = defs[expr.id]
            inner = negated(d.value, defs)
            if inner is not None:
                d.value = inner
                return expr
        return None

    def block(stmts):
        defs = {}            # name -> its (only) assignment, earlier in this block
        out = []
        for i, s in enumerate(stmts):
            if isinstance(s, gast.Assign) and len(s.targets) == 1 \
                    and isinstance(s.targets[0], gast.Name):
                t = s.targets[0].id
                if _is_neg(s.value) and isinstance(s.value.operand, gast.Name):
                    a = s.value.operand.id
                    # (negated() changes the definitions only when it succeeds)
                    inner = None
                    if a in defs and loads.get(a) == 1 and counts.get(a) == 1:
                        inner = negated(defs[a].value, defs)
                    if inner is not None:
                        defs[a].value = inner                # w = -(its old value)
                        s.value = s.value.operand            # v = w
                        changed[0] = True
                    elif a != t and _merge_sum(stmts, i, t, a) is not None:
                        changed[0] = True
                        continue        # s goes; the later statement computes e - a
                defs[t] = s
            _rewrite_blocks(s, block)
            out.append(s)
        return out

    fn.body = block(fn.body)
    return changed[0]


def _merge_sum(stmts, i, n, a):
    """``n = -a`` at ``stmts[i]``: if the next statement that mentions n is
    ``n = n + e`` or ``n += e`` (e not reading n) and a is not rebound in
    between, rewrite that one to ``n = e - a`` and return it."""
    for j in range(i + 1, len(stmts)):
        s = stmts[j]
        if _mentions(s, a, stores_only=True) or a in _mutated(s):
            return None             # (a rebound or written in place: e - a differs)
        if not _mentions(s, n):
            continue
        e = None
        # (not ``n += e``: in place, n keeps -a's dtype, which e - a may not)
        if isinstance(s, gast.Assign) and len(s.targets) == 1 \
                and isinstance(s.targets[0], gast.Name) and s.targets[0].id == n \
                and isinstance(s.value, gast.BinOp) and isinstance(s.value.op, gast.Add) \
                and isinstance(s.value.left, gast.Name) and s.value.left.id == n:
            e = s.value.right
        if e is None or _mentions(e, n):
            return None
        new = gast.copy_location(nodes.assign(n, nodes.binop(e, gast.Sub(), nodes.name(a))), s)
        annotations.copy(s, new)      # (the "# adjoint of line N" comment...)
        stmts[j] = new
        return new
    return None


def _copy_pair(s):
    if isinstance(s, gast.Assign) and len(s.targets) == 1 \
            and isinstance(s.targets[0], gast.Name) and isinstance(s.value, gast.Name):
        return s.targets[0].id, s.value.id
    return None


def copy_back(fn):
    """``a = b`` directly followed by ``b = a``: the second assignment changes
    nothing and goes.  Returns True if it changed."""
    changed = [False]

    def block(stmts):
        out = []
        for s in stmts:
            pair, prev = _copy_pair(s), _copy_pair(out[-1]) if out else None
            if pair is not None and prev is not None and pair == prev[::-1]:
                changed[0] = True
                continue
            _rewrite_blocks(s, block)
            out.append(s)
        return out

    fn.body = block(fn.body)
    return changed[0]


def optimize(fn, pure_roots=()):
    """Run the clean-up passes to a fixed point, then free dead values."""
    pure = set(pure_roots)
    facts = _Facts(fn)          # (one walk for the passes' name counts, per change)
    steps = [lambda: copy_propagation(fn, facts), lambda: dead_code(fn, pure),
             lambda: double_products(fn), lambda: common_subexpressions(fn, pure, facts),
             lambda: fold_negations(fn, facts), lambda: copy_back(fn)]
    # the passes in turn until none changes the tree.  The same order as
    # whole rounds until a round without a change, stopped as soon as every
    # pass has run once on the current tree without changing it (the rest of
    # those rounds would run passes on a tree they already left unchanged)
    unchanged = 0           # passes run in a row without a change
    i = 0
    while unchanged < len(steps):
        if steps[i]():
            facts.stale()
            unchanged = 0
        else:
            unchanged += 1
        i = (i + 1) % len(steps)
    return free_dead_values(fn)
