"""Checkpointed loops in reverse mode (``grad(f, checkpoint="auto" | s)``).

A ``for`` loop whose iterations push values for the adjoint sweep keeps,
instead, its carried state at a few snapshots (``ad.Revolve``, binomial
checkpointing); the adjoint sweep runs each iteration again from the
nearest snapshot before reversing it.

Before (the reverse pass's usual code)::

    for t in r1:
        ad.push(stack, y)
        y = g(y)
    ...
    for _ in range(len(r1)):
        y = ad.pop(stack)
        by = <adjoint of y = g(y)>

After::

    cp1 = ad.Revolve(len(r1), 140, (y,))
    for t in r1:
        y = g(y)
        cp1.keep((y,))
    ...
    for i1 in cp1.backward():
        (y,) = cp1.state
        for t in r1[cp1.start:i1]:      # run again up to iteration i1
            y = g(y)
            cp1.keep((y,))
        for t in r1[i1:i1 + 1]:         # iteration i1, with its pushes
            ad.push(stack, y)
            y = g(y)
        y = ad.pop(stack)
        by = <adjoint of y = g(y)>

The loop state is the names the body assigns that it reads before
assigning them in an iteration (carried from the previous one) or that
were bound before the loop (the adjoint of earlier code reads them).  Only
the outermost loops are checkpointed (an inner loop is part of one
iteration).  Refused with a CompileError: ``while`` loops and loops whose
body writes into a carried value in place (a snapshot holds references).
"""
import copy

import gast

from ad_compiler.transforms import annotations, nodes
from ad_compiler.transforms.annotations import Key


def _walk(stmts):
    for s in stmts:
        yield s
        for field in ("body", "orelse"):
            yield from _walk(getattr(s, field, []) or [])


def _loads(node):
    return {n.id for n in nodes.walk(node) if isinstance(n, gast.Name)
            and isinstance(n.ctx, gast.Load)}


def _stores(node):
    return {n.id for n in nodes.walk(node) if isinstance(n, gast.Name)
            and isinstance(n.ctx, gast.Store)}


def _exposed(stmts, assigned):
    """Names read before this iteration assigns them (``assigned`` grows
    with the names every path assigns)."""
    out = set()
    for s in stmts:
        if isinstance(s, gast.If):
            out |= _loads(s.test) - assigned
            a1, a2 = set(assigned), set(assigned)
            out |= _exposed(s.body, a1) | _exposed(s.orelse, a2)
            assigned |= a1 & a2
        elif isinstance(s, (gast.For, gast.While)):
            head = s.iter if isinstance(s, gast.For) else s.test
            out |= _loads(head) - assigned
            # (conservative: anything the inner loop reads and may not have
            # been assigned before it)
            out |= _loads(gast.Module(body=s.body, type_ignores=[])) - assigned
        else:
            out |= _loads(s) - assigned
            assigned |= _stores(s)
    return out


def _active_assignment(rp, body):
    for s in _walk(body):
        if isinstance(s, gast.Assign) and any(rp.act.is_active(n) for n in _stores(s.targets[0])):
            return True
    return False


def strip_markers(stmts):
    """A copy of primal statements without their save markers (the body as
    it runs where nothing is pushed)."""
    out = []
    for s in stmts:
        if annotations.has(s, Key.MARKER):
            continue
        s = copy.deepcopy(s)
        for field in ("body", "orelse"):
            sub = getattr(s, field, None)
            if sub:
                setattr(s, field, strip_markers(sub) or ([gast.Pass()] if field == "body" else []))
        out.append(s)
    return out


def refuse_while(rp, stmt):
    if _active_assignment(rp, stmt.body):
        raise rp.ctx.info.error(
            stmt, "cannot checkpoint a 'while' loop: its number of iterations is not "
                  "known when it starts",
            hint="write it as a 'for' loop over range(n) (with a break), or call grad "
                 "without checkpoint=", construct="checkpointed while loop")


def plan_loop(rp, stmt, body):
    """Checkpoint this outermost ``for`` loop?  Returns the names of its
    state, or None (nothing of the body is differentiated)."""
    if not _active_assignment(rp, body):
        return None
    if not isinstance(stmt.iter, gast.Name):
        raise rp.ctx.info.error(stmt, "cannot checkpoint this loop: it does not iterate "
                                      "over a sequence with a length",
                                hint="loop over range(n)", construct="checkpointed loop")
    var = stmt.target.id
    assigned = set()
    for s in _walk(body):
        if isinstance(s, gast.Assign):
            assigned |= _stores(s.targets[0])
        elif isinstance(s, gast.For):
            assigned.add(s.target.id)
    before = rp.maybe_before.get(id(stmt), set())
    state = sorted(((_exposed(body, {var}) & assigned) | (assigned & before)) - {var})
    for s in _walk(body):
        if isinstance(s, gast.Assign) and isinstance(s.targets[0], gast.Subscript):
            base = s.targets[0]
            while isinstance(base, (gast.Subscript, gast.Attribute)):
                base = base.value
            if isinstance(base, gast.Name) and base.id in state:
                raise rp.ctx.info.error(
                    s, f"cannot checkpoint a loop whose body writes into '{base.id}' in "
                       f"place: '{base.id}' is carried from one iteration to the next, "
                       f"and its snapshots would change",
                    hint=f"build a new array ({base.id} = ...), or call grad without "
                         f"checkpoint=", construct="checkpointed loop")
    return state


def _state_tuple(state, store=False):
    return nodes.tuple_([nodes.name(v, store) for v in state], store=store)


def primal_loop(rp, stmt, loop, state, plain):
    """``cp = ad.Revolve(len(r), s, state)`` and the loop without pushes,
    keeping the state after each iteration."""
    cp = rp.ctx.namer.fresh("cp")
    defined = rp.defined_before.get(id(stmt), set())
    rp.ckpt_unbound |= {v for v in state if v not in defined and v not in rp.params}
    make = nodes.call(rp.ad("Revolve"), [
        nodes.call(rp.builtin("len"), [nodes.name(stmt.iter.id)]),
        nodes.const(rp.checkpoint), _state_tuple(state)])
    first = nodes.located(nodes.assign(cp, make), stmt)
    annotations.set(first, Key.NOTE, f"checkpointed loop: its state ({', '.join(state)}) "
                                     f"is kept at snapshots, nothing is pushed")
    keep = nodes.expr_stmt(nodes.call(nodes.attr(nodes.name(cp), "keep"), [_state_tuple(state)]))
    counter = loop.body[:len(loop.body) - len(plain)]   # (n = n + 1 of a loop with break)
    loop.body = counter + strip_markers(plain) + [keep]
    return cp, [first, loop]


def adjoint_loop(rp, stmt, body, pre):
    """The adjoint sweep of a checkpointed loop: run again, then reverse,
    one iteration at a time, last first."""
    cp, state, taped = annotations.get(stmt, Key.CKPT)
    var = stmt.target.id
    rng = stmt.iter.id
    i = rp.ctx.namer.fresh("i")
    counter = annotations.get(stmt, Key.COUNTER)
    args = [nodes.name(counter[0])] if counter is not None else []
    steps = nodes.call(nodes.attr(nodes.name(cp), "backward"), args)
    inner = []
    if state:
        inner.append(nodes.assign(_state_tuple(state, True), nodes.attr(nodes.name(cp), "state")))
    # (no line of its own: no '# line' comment)
    keep = nodes.expr_stmt(nodes.call(nodes.attr(nodes.name(cp), "keep"), [_state_tuple(state)]))
    again = gast.Subscript(value=nodes.name(rng), slice=gast.Slice(
        lower=nodes.attr(nodes.name(cp), "start"), upper=nodes.name(i), step=None), ctx=gast.Load())
    inner.append(gast.For(target=nodes.name(var, True), iter=again,
                          body=strip_markers(taped) + [keep], orelse=[], type_comment=None))
    one = gast.Subscript(value=nodes.name(rng), slice=gast.Slice(
        lower=nodes.name(i), upper=nodes.binop(nodes.name(i), gast.Add(), nodes.const(1)),
        step=None), ctx=gast.Load())
    taped = copy.deepcopy(taped)
    for s in _walk(taped):
        if annotations.has(s, Key.MARKER):
            annotations.set(s, Key.TAPED, True)          # a push of the primal sweep, in the adjoint's code
    inner.append(gast.For(target=nodes.name(var, True), iter=one, body=taped,
                          orelse=[], type_comment=None))
    for s in inner[-2:]:
        annotations.set(s, Key.RERUN, True)
    loop = gast.For(target=nodes.name(i, True), iter=steps, body=inner + body, orelse=[],
                    type_comment=None)
    loop = rp.loc(loop, stmt)
    annotations.set(loop, Key.NOTE, "checkpointed loop: each iteration is run again from "
                                    "the nearest snapshot, with its pushes, then reversed")
    return pre + [loop]


def needed_names(adjoint):
    """The names the adjoint sweep reads, for the save markers: inside the
    runs of a checkpointed loop's body only what the body reads and does not
    assign (its inputs from outside the loop); what the body assigns comes
    from the snapshots or from running the body."""
    out = set()

    def visit(node):
        if annotations.get(node, Key.RERUN, False):
            sub = gast.Module(body=[node], type_ignores=[])
            out.update(_loads(sub) - _stores(sub))
            return
        if isinstance(node, gast.Name) and isinstance(node.ctx, gast.Load):
            out.add(node.id)
        for child in gast.iter_child_nodes(node):
            visit(child)

    for s in adjoint:
        visit(s)
    return out
