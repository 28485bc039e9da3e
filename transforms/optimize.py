"""Clean-up passes on generated code, run to a fixed point.

* ``copy_propagation``: after ``bt2 = bt3``, later reads of ``bt2`` in the
  same block read ``bt3`` (when both are assigned once);
* ``free_dead_values``: ``del`` large temporaries after their last use;
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

from transforms import nodes

# (the defer_* helpers append to their list argument: transforms/batch.py)
_IMPURE_RUNTIME = {"push", "pop", "add_at", "scalar_seed", "defer_matmul_left",
                   "defer_matmul_right", "defer_dot_a", "defer_dot_b", "defer_tangent"}


def _is_pure(node, pure_roots):
    for sub in gast.walk(node):
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


def dead_code(fn, pure_roots):
    """One sweep of dead-assignment removal; returns True if it changed."""
    loaded = nodes.loaded_names(fn)
    changed = [False]

    def block(stmts):
        out = []
        for s in stmts:
            if (isinstance(s, gast.Assign) and len(s.targets) == 1
                    and isinstance(s.targets[0], gast.Name)
                    and s.targets[0].id not in loaded
                    and _is_pure(s.value, pure_roots)):
                changed[0] = True
                continue
            for field in ("body", "orelse"):
                sub = getattr(s, field, None)
                if sub and not isinstance(s, gast.FunctionDef):
                    new = block(sub)
                    if field == "body" and not new:
                        new = [gast.Pass()]
                    setattr(s, field, new)
            out.append(s)
        return out

    fn.body = block(fn.body)
    return changed[0]


def _assign_counts(fn):
    counts = {}
    for node in gast.walk(fn):
        if isinstance(node, gast.Name) and isinstance(node.ctx, (gast.Store, gast.Param)):
            counts[node.id] = counts.get(node.id, 0) + 1
    return counts


def copy_propagation(fn):
    """``a = b`` followed by uses of ``a`` in the same block: use ``b``.

    Only when both names are assigned once in the whole function and every
    use of ``a`` comes after the copy in its block (then a and b hold the same
    value at each use, in loops too).  Returns True if it changed."""
    counts = _assign_counts(fn)
    changed = [False]

    def uses_outside(block, i, name):
        for j, s in enumerate(block):
            if j > i:
                continue
            if j == i:
                continue
            if any(isinstance(n, gast.Name) and n.id == name and isinstance(n.ctx, gast.Load)
                   for n in gast.walk(s)):
                return True
        return False

    def all_loads(name):
        return sum(1 for n in gast.walk(fn) if isinstance(n, gast.Name) and n.id == name
                   and isinstance(n.ctx, gast.Load))

    def block(stmts):
        for i, s in enumerate(stmts):
            if (isinstance(s, gast.Assign) and len(s.targets) == 1
                    and isinstance(s.targets[0], gast.Name) and isinstance(s.value, gast.Name)):
                a, b = s.targets[0].id, s.value.id
                if counts.get(a) == 1 and counts.get(b) == 1 and a != b \
                        and not uses_outside(stmts, i, a):
                    later = stmts[i + 1:]
                    inside = sum(1 for t in later for n in gast.walk(t)
                                 if isinstance(n, gast.Name) and n.id == a
                                 and isinstance(n.ctx, gast.Load))
                    if inside and inside == all_loads(a):
                        for t in later:
                            for n in gast.walk(t):
                                if isinstance(n, gast.Name) and n.id == a and isinstance(n.ctx, gast.Load):
                                    n.id = b
                        changed[0] = True
            for field in ("body", "orelse"):
                sub = getattr(s, field, None)
                if sub and not isinstance(s, gast.FunctionDef):
                    block(sub)

    block(fn.body)
    return changed[0]


def free_dead_values(fn, keep=()):
    """``del a, b`` after the block of statements (one user line) that last
    reads them, so that large temporaries do not all live until the function
    returns (the peak memory of a gradient call).  Only names assigned by a
    top-level statement (so certainly bound) and never read again."""
    body = fn.body
    params = {a.id for a in fn.args.posonlyargs + fn.args.args + fn.args.kwonlyargs}
    last_use = {}
    for i, stmt in enumerate(body):
        for n in gast.walk(stmt):
            if isinstance(n, gast.Name):
                last_use[n.id] = i

    def group(stmt):
        return (getattr(stmt, "lineno", None), getattr(stmt, "_ad_adjoint", False))

    bound = set()
    out = []
    for i, stmt in enumerate(body):
        out.append(stmt)
        if isinstance(stmt, gast.Assign):
            for t in stmt.targets:
                if isinstance(t, gast.Name):
                    bound.add(t.id)
        nxt = body[i + 1] if i + 1 < len(body) else None
        if nxt is None or isinstance(nxt, gast.Return) or group(nxt) == group(stmt):
            if nxt is not None and not isinstance(nxt, gast.Return):
                continue
            if nxt is None or isinstance(nxt, gast.Return):
                continue
        dead = sorted(n for n in bound if last_use.get(n, -1) <= i and n not in params
                      and n not in keep)
        if dead:
            out.append(gast.Delete(targets=[nodes.name(n) for n in dead]))
            for d in out[-1].targets:
                d.ctx = gast.Del()
            bound -= set(dead)
    fn.body = out
    return fn


def optimize(fn, pure_roots=()):
    """Run the clean-up passes to a fixed point, then free dead values."""
    pure = set(pure_roots)
    while copy_propagation(fn) | dead_code(fn, pure):
        pass
    return free_dead_values(fn)
