"""Activity analysis: which variables need derivatives.

A variable is *varied* when it depends, through differentiable operations,
on an input we differentiate with respect to, and *useful* when the output
depends on it through differentiable operations.  Only variables that are
both (*active*) get tangents or adjoints.  The analysis is flow-insensitive
over the normalized function (a name is active everywhere or nowhere), which
keeps it simple and sound; a name reused for unrelated values only costs
some extra derivative work.

It also refuses, at the user's line, an active value flowing into something
we cannot differentiate (a function with no rule, a lambda...).
"""
import inspect

import gast
import numpy as np

from ad_compiler import runtime
from ad_compiler.registry import qualified_name, refusal
from ad_compiler.transforms.ad import ops
from ad_compiler.transforms.frontend.parse import _MISSING, lookup_free
from ad_compiler.transforms.normalize import check_no_argument_mutation


class Activity:
    def __init__(self, varied, useful, ops_by_stmt, outputs, tape_stacks=frozenset()):
        self.varied = varied
        self.useful = useful
        self.active = varied & useful
        self.ops = ops_by_stmt   # id(stmt) -> Op
        self.outputs = outputs
        # tape stacks of a split reverse sweep (only pushed here: the forward
        # sweep's, returned; or only popped: the backward sweep's, received)
        self.tape_stacks = tape_stacks

    def is_active(self, ident):
        return ident in self.active


def _walk_stmts(stmts):
    for s in stmts:
        yield s
        for field in ("body", "orelse"):
            yield from _walk_stmts(getattr(s, field, []) or [])


def analyze(fn, wrt, resolve, info):
    flows = []        # (target, [sources], stmt)
    mutating = []     # (stmt, op) of np.copyto(dst, ...) and friends
    ops_by_stmt = {}
    outputs = []
    pushes, pops = [], []     # flows through the tape stacks of reverse-mode code
    for stmt in _walk_stmts(fn.body):
        if isinstance(stmt, gast.Assign):
            target = stmt.targets[0]
            op = ops.classify(stmt.value, resolve)
            ops_by_stmt[id(stmt)] = op
            differentiable = op.kind in ("copy", "prim", "user", "container",
                                         "unknown", "opaque")
            srcs = op.diff if differentiable else []
            if op.kind == "pop" and op.args and isinstance(target, gast.Name):
                pops.append((target.id, ops.operand_names(op.args[0]), stmt))
            if isinstance(target, gast.Name):
                flows.append((target.id, srcs, stmt))
            elif isinstance(target, gast.Subscript) and isinstance(target.value, gast.Name):
                flows.append((target.value.id, srcs, stmt))
        elif isinstance(stmt, gast.Return):
            outputs += ops.operand_names(stmt.value)
        elif isinstance(stmt, gast.Expr):
            op = ops_by_stmt[id(stmt)] = ops.classify(stmt.value, resolve)
            if op.kind == "user":
                check_no_argument_mutation(info, stmt, op, resolve.locals)
            call = stmt.value
            if isinstance(call, gast.Call) and any(k.arg == "out" for k in call.keywords):
                raise info.error(stmt, "cannot differentiate a call that writes its result "
                                 "into an 'out=' argument",
                                 hint="assign the result instead: buf = np.add(x, 1.0)",
                                 construct="out=")
            if _writes_into_argument(op.fn) and op.args and isinstance(op.args[0], gast.Name):
                mutating.append((stmt, op))
            if op.kind == "push" and len(op.args) == 2 and isinstance(op.args[0], gast.Name):
                stack = op.args[0].id
                pushes.append((stack, [stack] + ops.operand_names(op.args[1]), stmt))
            if op.fn in (runtime.add_at, runtime.zero_at) and isinstance(op.args[0], gast.Name):
                # in-place updates in reverse-mode code: buf <- buf, g
                buf = op.args[0].id
                extra = ops.operand_names(op.args[2]) if op.fn is runtime.add_at else []
                flows.append((buf, [buf] + extra, stmt))
            if op.fn is runtime.restore and len(call.args) == 4 \
                    and isinstance(call.args[1], gast.Name):
                # a split sweep's ad.restore(redo, x, idx, old): x[idx] = old
                # (ad.restore is nondifferentiable: op.args is empty)
                x = call.args[1].id
                flows.append((x, [x] + ops.operand_names(call.args[3]), stmt))

    # A stack pushed and popped here (a gradient's own tape) restores each
    # name it saved: no flow.  A split sweep's stack (pushed only, or popped
    # only) carries its values between two functions: pushed values flow
    # into it, popped values out of it, so forward mode gives it a tangent
    # stack (transforms/ad/forward.py).
    pushed = {p[0] for p in pushes}
    popped = {n for p in pops for n in p[1]}
    tape_stacks = frozenset(pushed ^ popped)
    flows += [p for p in pushes if p[0] in tape_stacks]
    flows += [p for p in pops if set(p[1]) <= tape_stacks]
    # varied: what the inputs flow into; useful: what flows into the outputs
    # (worklists over the flow graph: linear, where sweeping all the flows
    # until nothing changes took one sweep per statement of a long function)
    readers, sources = {}, {}
    for tgt, srcs, _ in flows:
        for s in srcs:
            readers.setdefault(s, []).append(tgt)
        sources.setdefault(tgt, []).extend(srcs)
    varied = _closure(set(wrt), readers)
    useful = _closure(set(outputs), sources)
    act = Activity(varied, useful, ops_by_stmt, outputs, tape_stacks)
    params = {a.id for a in fn.args.posonlyargs + fn.args.args + fn.args.kwonlyargs}
    for stmt, op in mutating:
        dst = op.args[0].id
        if dst in params or any(n in varied for a in op.args for n in ops.operand_names(a)):
            raise info.error(stmt, f"cannot differentiate {op.label}, which writes into its "
                             f"argument '{dst}' in place",
                             hint=f"compute the new array and assign it instead "
                                  f"({dst} = ...)",
                             construct=op.label)
    # Refuse attribute writes into a differentiated object (p.W = v on a
    # dataclass): later reads of p.W would not see the derivative of v.
    for stmt in _walk_stmts(fn.body):
        if isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Attribute):
            root = stmt.targets[0].value
            while isinstance(root, (gast.Attribute, gast.Subscript)):
                root = root.value
            if isinstance(root, gast.Name) and root.id in varied:
                attr = stmt.targets[0].attr
                raise info.error(stmt, f"cannot differentiate a write to the attribute "
                                 f".{attr} of '{root.id}', a differentiated value",
                                 hint=f"build a new object instead: "
                                      f"{root.id} = dataclasses.replace({root.id}, {attr}=...) "
                                      f"(or {root.id}._replace({attr}=...) for a NamedTuple)",
                                 construct="attribute write")
    # Refuse active values flowing into what we cannot differentiate.
    for tgt, srcs, stmt in flows:
        op = ops_by_stmt[id(stmt)]
        if isinstance(stmt, gast.Expr) or op.kind not in ("unknown", "opaque"):
            continue
        if tgt in act.active and any(s in act.active for s in srcs):
            raise unsupported(info, stmt, op)
    return act


def _closure(names, edges):
    """``names`` and everything reachable from them along ``edges``."""
    todo = list(names)
    while todo:
        for n in edges.get(todo.pop(), ()):
            if n not in names:
                names.add(n)
                todo.append(n)
    return names


def _writes_into_argument(fn):
    """np.copyto, np.fill_diagonal, np.put... and ufunc.at (np.add.at):
    NumPy functions that write into their first argument."""
    if fn is None:
        return False
    if getattr(fn, "__name__", None) == "at" and isinstance(getattr(fn, "__self__", None), np.ufunc):
        return True
    return any(fn is getattr(np, n, None) for n in (
        "copyto", "fill_diagonal", "put", "place", "putmask", "put_along_axis")) \
        or fn is np.random.shuffle


def unsupported(info, stmt, op):
    node = op.node if getattr(op.node, "lineno", None) else stmt
    if op.kind == "opaque":
        return info.error(node, f"cannot differentiate through {op.label}",
                          hint="write it as a loop or a named helper function",
                          construct=op.label)
    if op.label.startswith("method"):
        return info.error(node, f"no derivative rule for {op.label} on a "
                          f"differentiated value",
                          hint="call the NumPy function instead, or register "
                               "a rule (see CONTRIBUTING.md, 'add a derivative rule')",
                          construct=op.label)
    name = op.label
    fn = op.fn
    refused = refusal(fn) if fn is not None else None
    if refused is not None:
        return info.error(node, f"cannot differentiate {refused[0]}() with respect to "
                          f"{refused[1]}", hint=refused[2], construct=refused[0] + "()")
    if fn is not None:
        name = qualified_name(fn) + "()"
        if (not inspect.isfunction(fn) and inspect.isfunction(getattr(fn, "__wrapped__", None))
                and type(fn).__name__ != "_ArrayFunctionDispatcher"):
            # (NumPy's own dispatchers, np.polyfit, wrap a Python function
            # too, but calling __wrapped__ would not help: no rule either)
            # a decorator returning an object (functools.lru_cache / cache)
            return info.error(node, f"no derivative rule for {name}: it is a "
                              f"{type(fn).__name__} object wrapping a Python function, "
                              f"which ad_compiler cannot look into",
                              hint=f"call {op.label[:-2]}.__wrapped__(...) instead if the "
                                   f"wrapper does not change values (a cache does not)",
                              construct=name)
    func = getattr(op.node, "func", None)
    if fn is None and isinstance(func, gast.Name) and func.id + "()" == name:
        if lookup_free(info.closure, info.globals, func.id) is _MISSING:
            # a local variable or parameter holding a function (issue #10)
            return info.error(
                node, f"no derivative rule for {name}: '{func.id}' holds a function that is "
                      f"not known when the code is compiled",
                hint="calls of a function argument are compiled for the function passed: "
                     "pass it directly (apply(np.tanh, x), a module-level function, a "
                     "lambda reading no local variable), not one chosen at run time "
                     "(a loop over functions, a computed value)", construct=name)
    return info.error(node, f"no derivative rule for {name}",
                      hint="register one with ad_compiler.reverse/forward "
                           "(see CONTRIBUTING.md, 'add a derivative rule'), "
                           "or wrap the call in stop_gradient if no derivative "
                           "should flow", construct=name)
