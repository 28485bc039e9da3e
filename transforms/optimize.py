"""Clean-up passes on generated code, run to a fixed point.

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

_IMPURE_RUNTIME = {"push", "pop", "add_at", "scalar_seed"}


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


def optimize(fn, pure_roots=()):
    """Run the clean-up passes to a fixed point."""
    while dead_code(fn, set(pure_roots)):
        pass
    return fn
