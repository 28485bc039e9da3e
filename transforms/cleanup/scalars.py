"""Plain float arithmetic where the values are Python numbers (issue #12).

Generated code is written for arrays: ``ad.unbroadcast(g, x)`` sums a
broadcast adjoint back to x's shape, ``ad.add`` accumulates containers,
``ad.zeros_like`` makes zeros of x's kind, ``ad.push``/``ad.pop`` save
values.  On Python floats each is a function call that does nothing useful,
and a 200-step scalar simulation spends most of its gradient's time in them.

The shape signature of a call (``api._shape_signature``) records under the
key ``SIGNATURE_KEY`` which parameters are Python ``float``/``int`` objects
(not NumPy scalars or 0-d arrays: those keep the generic code, which returns
0-d arrays where they came in) and which are tuples of them.  This pass
infers, flow-insensitively over the generated function, the set of Python
types each name may hold (``float``, ``int``, ``bool``, ``complex``,
``None``; anything else or unknown: "other"), from those parameters,
literals, arithmetic, comparisons, ``math`` functions, the elements of such
tuples, module constants that are Python floats or ints when compiling
(recorded as dependencies: rebinding one recompiles), and what the tape
stacks hold.  Then, where the types prove the runtime call returns its
argument or plain arithmetic (the runtime's own branch for these types):

* ``ad.unbroadcast(g, x)`` -> ``g``         (g a real Python number, x one or None)
* ``ad.add(a, b)``         -> ``a + b``     (real Python numbers)
* ``ad.zeros_like(x)`` / ``ad.zeros_buffer(x)`` -> ``0.0``
* ``ad.scalar_seed(y)``    -> ``1.0``       (y a float or int)
* ``ad.push(s, v)`` / ``ad.pop(s)`` -> ``s.append(v)`` / ``s.pop()``
* values saved on a tape and never read by the backward sweep are not saved
  (a push and the pop restoring the same name, both removed).

Before::

    bt13 = ad.unbroadcast(bt14, t13)
    bx = ad.add(bx, ad.unbroadcast(bt13 * x, x))
    t13 = ad.pop(stack)

After::

    bt13 = bt14
    bx = bx + bt13 * x

Runs only for signatures with the ``SIGNATURE_KEY`` entry: ``grad`` and
``value_and_grad`` add it (with no Python-number facts for array arguments)
to every call run by the NumPy interpreter, so that the tape's
``ad.push``/``ad.pop`` become list methods for arrays too; compiled backends
and code that is differentiated again (``compiler._ArrayTwin``) get the code
without it.  Results are bit-identical to the generic code's.
"""
import builtins
import math

import gast
import numpy as np

from ad_compiler.transforms import nodes
from ad_compiler.transforms.frontend import parse

SIGNATURE_KEY = "*python"    # (not an identifier: no parameter has this name)
_MAX_TUPLE = 32

FLOAT, INT, BOOL, COMPLEX, NONE = "float", "int", "bool", "complex", "none"
F64 = "float64"                      # np.float64 (a float subclass: NumPy's scalar)
OTHER = None                         # any value
_EMPTY = frozenset()
_REAL = frozenset({FLOAT, INT, BOOL})
_NUMBER = _REAL | {COMPLEX, F64}
_REALISH = _REAL | {F64}

# NumPy ufuncs giving an np.float64 for real Python numbers (the rules'
# adjoints of math functions use them: ``np.cos(x)`` for ``math.sin(x)``)
_NP_FLOAT = {getattr(np, n) for n in (
    "sin", "cos", "tan", "exp", "log", "log1p", "expm1", "sqrt", "tanh", "sinh", "cosh",
    "arcsin", "arccos", "arctan", "arcsinh", "arccosh", "arctanh", "exp2", "log2", "log10",
    "cbrt", "reciprocal", "arctan2", "hypot") if hasattr(np, n)}

# math functions returning a float for real arguments
_MATH_FLOAT = {getattr(math, n) for n in (
    "sqrt", "exp", "log", "log1p", "expm1", "log2", "log10", "sin", "cos", "tan",
    "asin", "acos", "atan", "atan2", "sinh", "cosh", "tanh", "asinh", "acosh", "atanh",
    "pow", "hypot", "erf", "erfc", "gamma", "lgamma", "fabs", "copysign", "degrees",
    "radians", "fmod") if hasattr(math, n)}


# --- the signature entry (api._shape_signature) ------------------------------

def _kind(a):
    t = type(a)
    if t is float:
        return FLOAT
    if t is int:
        return INT
    if t is tuple and 0 < len(a) <= _MAX_TUPLE:
        kinds = tuple(_kind_leaf(v) for v in a)
        return kinds if None not in kinds else None
    return None


def _kind_leaf(a):
    t = type(a)
    return FLOAT if t is float else (INT if t is int else None)


def python_kinds(args):
    """What the Python-number specialization depends on, per argument: a
    cheap, hashable part of the signature's cache key."""
    return tuple(_kind(a) for a in args)


def signature_entry(positional, kinds):
    """``((SIGNATURE_KEY, ((param, kind), ...)),)`` for the parameters that
    are Python floats/ints or tuples of them, or ``()``."""
    facts = tuple((p, k) for p, k in zip(positional, kinds) if k is not None)
    return ((SIGNATURE_KEY, facts),) if facts else ()


# --- the analysis ------------------------------------------------------------

def _join(a, b):
    if a is OTHER or b is OTHER:
        return OTHER
    return a | b


def _arith(op, a, b):
    """Types of ``a op b`` for Python numbers (None operands raise)."""
    if a is OTHER or b is OTHER:
        return OTHER
    a, b = a - {NONE}, b - {NONE}
    if not a <= _NUMBER or not b <= _NUMBER:
        return OTHER
    out = set()
    for x in a:
        for y in b:
            if F64 in (x, y):
                if COMPLEX in (x, y) or not isinstance(op, (
                        gast.Add, gast.Sub, gast.Mult, gast.Div, gast.Pow, gast.FloorDiv,
                        gast.Mod)):
                    return OTHER
                out.add(F64)
            elif COMPLEX in (x, y):
                out.add(COMPLEX)
            elif isinstance(op, gast.Div):
                out.add(FLOAT)
            elif isinstance(op, gast.Pow):
                out |= {FLOAT, COMPLEX} if FLOAT in (x, y) else {INT, FLOAT}
            elif isinstance(op, (gast.Add, gast.Sub, gast.Mult, gast.FloorDiv, gast.Mod)):
                out.add(FLOAT if FLOAT in (x, y) else INT)
            else:
                return OTHER
    return frozenset(out)


def _loop_index(t):
    """The types of ``i`` in ``for i in it`` for ``it`` of types ``t``: a
    range (or None, which raises) counts ints."""
    if t is not OTHER and "range" in t and t <= {"range", NONE}:
        return frozenset({INT})
    return OTHER


class _Types:
    def __init__(self, fn, ctx, facts):
        self.ctx = ctx
        self.fn = fn
        args = fn.args
        self.params = [a.id for a in args.posonlyargs + args.args + args.kwonlyargs]
        if args.vararg is not None:
            self.params.append(args.vararg.id)
        if args.kwarg is not None:
            self.params.append(args.kwarg.id)
        self.facts = dict(facts)
        # (the tree is not changed while its types are found: walked once)
        self.nodes = list(nodes.walk(fn))
        self.bound = {n.id for n in self.nodes if isinstance(n, gast.Name)
                      and isinstance(n.ctx, (gast.Store, gast.Del))} | set(self.params)
        self.env = {}
        self.used_globals = {}          # free name -> the number relied on
        self.stacks = {}                # tape stack name -> types of what it holds

    # names
    def name(self, ident):
        if ident in self.bound:
            return self.env.get(ident, _EMPTY)
        obj = self.resolve(ident)
        t = type(obj)
        if t in (float, int, bool):
            self.used_globals[ident] = obj
            return frozenset({{float: FLOAT, int: INT, bool: BOOL}[t]})
        return OTHER

    def resolve(self, ident):
        """The object a free name of generated code refers to."""
        if ident in self.bound:
            return parse._MISSING
        if ident in self.ctx.injected:
            return self.ctx.injected[ident]
        info = self.ctx.info
        return parse.lookup_free(info.closure, info.globals, ident)

    def callee(self, func):
        if isinstance(func, gast.Name):
            return self.resolve(func.id)
        if isinstance(func, gast.Attribute) and isinstance(func.value, gast.Name):
            base = self.resolve(func.value.id)
            if base is math or base is self.ctx.runtime or base is np:
                return getattr(base, func.attr, None)
        return None

    def tape_pop(self, call, target=None):
        """What ``ad.pop(s)`` gives: with ``target``, the name it restores,
        whose own saved value it is when the stack is ``mirrored``."""
        if len(call.args) == 1 and isinstance(call.args[0], gast.Name):
            s = call.args[0].id
            if target is not None and s in self.mirrored:
                return _EMPTY       # (a value ``target`` had: nothing new)
            return self.stacks.get(s, OTHER)
        return OTHER

    # expressions
    def expr(self, e):
        if isinstance(e, gast.Constant):
            v = e.value
            if v is None:
                return frozenset({NONE})
            return {bool: frozenset({BOOL}), int: frozenset({INT}), float: frozenset({FLOAT}),
                    complex: frozenset({COMPLEX})}.get(type(v), OTHER)
        if isinstance(e, gast.Name):
            return self.name(e.id)
        if isinstance(e, gast.BinOp):
            return _arith(e.op, self.expr(e.left), self.expr(e.right))
        if isinstance(e, gast.UnaryOp):
            t = self.expr(e.operand)
            if isinstance(e.op, gast.Not):
                return frozenset({BOOL})
            if t is OTHER or not isinstance(e.op, (gast.USub, gast.UAdd)):
                return OTHER
            t = t - {NONE}
            return frozenset(INT if x == BOOL else x for x in t) if t <= _NUMBER else OTHER
        if isinstance(e, gast.Compare):
            ts = [self.expr(x) for x in [e.left] + e.comparators]
            if all(t is not OTHER and t <= _REAL | {COMPLEX, NONE} for t in ts):
                return frozenset({BOOL})
            return OTHER
        if isinstance(e, (gast.BoolOp,)):
            out = _EMPTY
            for v in e.values:
                out = _join(out, self.expr(v))
            return out
        if isinstance(e, gast.IfExp):
            return _join(self.expr(e.body), self.expr(e.orelse))
        if isinstance(e, gast.Subscript):
            return self.subscript(e)
        if isinstance(e, gast.Call) and not e.keywords:
            return self.call(e)
        return OTHER

    def subscript(self, e):
        v, idx = e.value, e.slice
        if not (isinstance(v, gast.Name) and v.id in self.facts
                and isinstance(self.facts[v.id], tuple) and v.id not in self.rebound) \
                or isinstance(idx, (gast.Slice, gast.Tuple)):
            return OTHER
        kinds = self.facts[v.id]
        if isinstance(idx, gast.Constant) and type(idx.value) is int:
            if not -len(kinds) <= idx.value < len(kinds):
                return OTHER
            return frozenset({kinds[idx.value]})
        return frozenset(kinds)         # an element (or an IndexError/TypeError)

    def call(self, e):
        fn = self.callee(e.func)
        rt = self.ctx.runtime
        args = [self.expr(a) for a in e.args]
        if any(isinstance(a, gast.Starred) for a in e.args):
            return OTHER
        if fn is rt.pop:
            return self.tape_pop(e)
        if fn is rt.unbroadcast and len(args) == 2:
            g, x = args
            if g is not OTHER and g <= _REALISH and x is not OTHER and x <= _REALISH | {NONE}:
                return g
            return OTHER
        if fn is rt.add and len(args) == 2:
            a, b = args
            if a is OTHER or b is OTHER:
                return OTHER
            out = _arith(gast.Add(), a, b)
            if out is OTHER:
                return OTHER
            return out | (b if NONE in a else _EMPTY) | (a if NONE in b else _EMPTY)
        if fn in (rt.zeros_like, rt.zeros_buffer) and len(args) == 1:
            x = args[0]
            if x is OTHER or not x <= _REAL | {NONE}:
                return OTHER
            return frozenset(({FLOAT} if x - {NONE} else set()) | ({NONE} & x))
        if fn is rt.scalar_seed and len(args) == 1:
            x = args[0]
            return frozenset({FLOAT}) if x is not OTHER and x <= {FLOAT, INT, F64} else OTHER
        if fn is builtins.len:
            return frozenset({INT})
        if fn is builtins.range:
            return frozenset({"range"})
        if fn is builtins.reversed and len(args) == 1 and args[0] == {"range"}:
            return frozenset({"range"})
        if any(a is OTHER or not a <= _REALISH | {NONE} for a in args):
            return OTHER
        try:
            if fn in _NP_FLOAT:
                return frozenset({F64})
            if fn in _MATH_FLOAT:
                return frozenset({FLOAT})
        except TypeError:           # (unhashable)
            return OTHER
        if fn is builtins.float:
            return frozenset({FLOAT})
        if fn is builtins.int:
            return frozenset({INT})
        if fn in (builtins.abs, builtins.min, builtins.max) and args:
            out = _EMPTY
            for a in args:
                out = out | a
            return frozenset(INT if x == BOOL and fn is builtins.abs else x for x in out)
        return OTHER

    # bindings
    def sites(self):
        """(name, thunk giving the types of one of its bindings)."""
        out = []
        modelled = set()
        for node in self.nodes:
            if isinstance(node, gast.Assign) and len(node.targets) == 1 \
                    and isinstance(node.targets[0], gast.Name):
                modelled.add(id(node.targets[0]))
                if id(node) in self.dead:
                    continue
                t = node.targets[0].id
                if isinstance(node.value, gast.Call) and not node.value.keywords \
                        and self.callee(node.value.func) is self.ctx.runtime.pop:
                    out.append((t, (lambda v=node.value, t=t: self.tape_pop(v, t))))
                    continue
                out.append((t, (lambda v=node.value: self.expr(v))))
            elif isinstance(node, gast.AugAssign) and isinstance(node.target, gast.Name):
                modelled.add(id(node.target))
                out.append((node.target.id, (lambda n=node: _arith(
                    n.op, self.name(n.target.id), self.expr(n.value)))))
            elif isinstance(node, gast.For) and isinstance(node.target, gast.Name):
                modelled.add(id(node.target))
                out.append((node.target.id, (lambda n=node: _loop_index(self.expr(n.iter)))))
        other = {n.id for n in self.nodes if isinstance(n, gast.Name)
                 and isinstance(n.ctx, gast.Store) and id(n) not in modelled}
        return out, other

    def tapes(self):
        """Stacks bound once to ``[]`` and only used by ad.push / ad.pop:
        name -> [value expressions pushed]."""
        rt = self.ctx.runtime
        binds, uses = {}, {}
        for node in self.nodes:
            if isinstance(node, gast.Assign) and len(node.targets) == 1 \
                    and isinstance(node.targets[0], gast.Name):
                t = node.targets[0].id
                ok = isinstance(node.value, gast.List) and not node.value.elts
                binds.setdefault(t, []).append(ok)
        pushed, fine = {}, {}
        tape_args = set()
        for node in self.nodes:
            if isinstance(node, gast.Call) and node.args and isinstance(node.args[0], gast.Name) \
                    and not node.keywords:
                fn = self.callee(node.func)
                s = node.args[0].id
                if fn is rt.push and len(node.args) == 2:
                    pushed.setdefault(s, []).append(node.args[1])
                    tape_args.add(id(node.args[0]))
                elif fn is rt.pop and len(node.args) == 1:
                    tape_args.add(id(node.args[0]))
        for node in self.nodes:
            if isinstance(node, gast.Name) and node.id in pushed:
                if isinstance(node.ctx, gast.Load) and id(node) not in tape_args:
                    uses[node.id] = False
        for s, values in pushed.items():
            fine[s] = (binds.get(s) == [True] and uses.get(s, True)
                       and s not in self.params)
        # stacks whose pushes are of names and whose pops restore the same
        # names as often: each pop gives back the value of the name it
        # restores (the reverse pass saves ``x`` before rebinding it and
        # restores ``x`` in the adjoint of that statement)
        popped = {}
        for node in self.nodes:
            if isinstance(node, gast.Assign) and len(node.targets) == 1 \
                    and isinstance(node.value, gast.Call) and node.value.args \
                    and isinstance(node.value.args[0], gast.Name) \
                    and self.callee(node.value.func) is rt.pop:
                t = node.targets[0]
                popped.setdefault(node.value.args[0].id, []).append(
                    t.id if isinstance(t, gast.Name) else None)
        self.mirrored = set()
        for s, values in pushed.items():
            names = [v.id if isinstance(v, gast.Name) else None for v in values]
            if fine[s] and None not in names and sorted(names) == sorted(
                    n or "" for n in popped.get(s, ())):
                self.mirrored.add(s)
        return {s: v for s, v in pushed.items() if fine[s]}

    def dead_prebindings(self):
        """``x = None`` statements at the top of the function whose value is
        never read: the next top-level statement that mentions x binds it
        (``x = e``, e not reading x) outside any loop or branch."""
        dead = set()
        body = self.fn.body
        prebound = [i for i, stmt in enumerate(body)
                    if isinstance(stmt, gast.Assign) and len(stmt.targets) == 1
                    and isinstance(stmt.targets[0], gast.Name)
                    and isinstance(stmt.value, gast.Constant) and stmt.value.value is None]
        if not prebound:
            return dead
        # name -> [(index of a top-level statement, its Name nodes of that
        # name in walk order)], in statement order: each statement walked once
        mentions = {}
        for j in range(prebound[0] + 1, len(body)):
            here = {}
            for n in nodes.walk(body[j]):
                if isinstance(n, gast.Name):
                    here.setdefault(n.id, []).append(n)
            for name, found in here.items():
                mentions.setdefault(name, []).append((j, found))
        for i in prebound:
            stmt = body[i]
            name = stmt.targets[0].id
            later = next(((j, found) for j, found in mentions.get(name, ()) if j > i), None)
            if later is None:
                continue
            j, found = later
            if isinstance(body[j], gast.Assign) and len(body[j].targets) == 1 \
                    and body[j].targets[0] is found[0] and len(found) == 1:
                dead.add(id(stmt))
        return dead

    def run(self):
        self.dead = self.dead_prebindings()
        self.mirrored = set()
        sites, other = self.sites()
        self.rebound = {t for t, _ in sites} | other
        for p in self.params:
            k = self.facts.get(p)
            self.env[p] = frozenset({k}) if isinstance(k, str) else OTHER
        for n in other:
            self.env[n] = OTHER
        tapes = self.tapes()
        for s in tapes:
            self.stacks[s] = _EMPTY
        changed = True
        while changed:
            changed = False
            for t, thunk in sites:
                if self.env.get(t, _EMPTY) is OTHER:
                    continue
                new = _join(self.env.get(t, _EMPTY), thunk())
                if new != self.env.get(t, _EMPTY):
                    self.env[t] = new
                    changed = True
            for s, values in tapes.items():
                if self.stacks[s] is OTHER:
                    continue
                new = self.stacks[s]
                for v in values:
                    new = _join(new, self.expr(v))
                if new != self.stacks[s]:
                    self.stacks[s] = new
                    changed = True
        return self


# --- the rewrite -------------------------------------------------------------

def plain_floats(tree, ctx):
    """Rewrite ``tree`` (a generated FunctionDef) for a signature with the
    ``SIGNATURE_KEY`` entry (code for the NumPy interpreter, with or without
    Python numbers); other trees are returned unchanged."""
    facts = ctx.signature.get(SIGNATURE_KEY)
    if facts is None or not isinstance(tree, gast.FunctionDef):
        return tree
    types = _Types(tree, ctx, facts).run()
    rt = ctx.runtime

    def real(e, extra=()):
        t = types.expr(e)
        return t is not OTHER and t <= _REAL | set(extra)

    def realish(e, extra=()):          # a Python real number or an np.float64
        return real(e, {F64} | set(extra))

    class Rewrite(nodes.Transformer):
        def visit_Call(self, node):
            self.generic_visit(node)
            if node.keywords or any(isinstance(a, gast.Starred) for a in node.args):
                return node
            fn = types.callee(node.func)
            a = node.args
            if fn is rt.unbroadcast and len(a) == 2 and realish(a[0]) \
                    and realish(a[1], {NONE}):
                return a[0]
            if fn is rt.add and len(a) == 2 and realish(a[0]) and realish(a[1]):
                return gast.BinOp(left=a[0], op=gast.Add(), right=a[1])
            if fn in (rt.zeros_like, rt.zeros_buffer) and len(a) == 1 and real(a[0]):
                return nodes.const(0.0)
            if fn is rt.scalar_seed and len(a) == 1:
                t = types.expr(a[0])
                if t is not OTHER and t and t <= {FLOAT, INT, F64}:
                    return nodes.const(1.0)
            if fn is rt.push and len(a) == 2:
                return nodes.call(nodes.attr(a[0], "append"), [a[1]])
            if fn is rt.pop and len(a) == 1:
                return nodes.call(nodes.attr(a[0], "pop"), [])
            return node

    tree = Rewrite().visit(tree)
    if getattr(ctx, "checkpoint", None) is None:
        tree = _drop_unread_saves(tree)
    tree = _bound_tape_methods(tree, ctx.namer)
    for ident, obj in types.used_globals.items():
        # the code relies on the constant being this Python number: a
        # rebinding recompiles (ad_compiler/freshness.py)
        ctx.info.resolved.setdefault(ident, obj)
    if facts:
        # (not for array code: a statement without a line, such as the
        # return, would get the def's line and its comment)
        gast.fix_missing_locations(tree)
    return tree


def _tape_op(stmt):
    """('push', stack, name) for ``s.append(n)``, ('pop', stack, name) for
    ``n = s.pop()``, else None."""
    if isinstance(stmt, gast.Expr) and isinstance(stmt.value, gast.Call):
        c = stmt.value
        if isinstance(c.func, gast.Attribute) and c.func.attr == "append" \
                and isinstance(c.func.value, gast.Name) and len(c.args) == 1 \
                and isinstance(c.args[0], gast.Name) and not c.keywords:
            return "push", c.func.value.id, c.args[0].id
    if isinstance(stmt, gast.Assign) and len(stmt.targets) == 1 \
            and isinstance(stmt.targets[0], gast.Name) and isinstance(stmt.value, gast.Call):
        c = stmt.value
        if isinstance(c.func, gast.Attribute) and c.func.attr == "pop" \
                and isinstance(c.func.value, gast.Name) and not c.args and not c.keywords:
            return "pop", c.func.value.id, stmt.targets[0].id
    return None


def _statements(body):
    for s in body:
        yield s
        for field in ("body", "orelse", "finalbody"):
            yield from _statements(getattr(s, field, None) or [])
        for h in getattr(s, "handlers", None) or []:
            yield from _statements(h.body)


def _drop_unread_saves(tree):
    """Remove the saves of a name whose restored values nobody reads: every
    ``s.append(n)`` and ``n = s.pop()`` of a name ``n`` when no statement
    from the top-level statement of the first pop on (the backward sweep)
    reads ``n`` other than to push it, and pushes and pops of ``n`` on ``s``
    come in equal numbers (the reverse pass mirrors each save by one
    restore).  Not with checkpointing, which runs forward code again in the
    backward sweep."""
    stmts = []
    top = {}            # index in stmts -> index of its top-level statement
    for k, s in enumerate(tree.body):
        for inner in _statements([s]):
            top[len(stmts)] = k
            stmts.append(inner)
    first_top = {}      # top-level index -> its first index in stmts
    for i in range(len(stmts) - 1, -1, -1):
        first_top[top[i]] = i
    ops = {id(s): _tape_op(s) for s in stmts}
    first_pop = {}
    counts = {}
    for i, s in enumerate(stmts):
        op = ops[id(s)]
        if op is None:
            continue
        kind, stack, name = op
        c = counts.setdefault((stack, name), [0, 0])
        c[kind == "pop"] += 1
        if kind == "pop":
            # (from the top-level statement holding it: a loop's backward
            # sweep reads at its next iteration what it restores here)
            first_pop.setdefault((stack, name), first_top[top[i]])
    candidates = [key for key, (pushes, pops) in counts.items()
                  if pushes == pops and key in first_pop]
    if not candidates:
        return tree
    # name -> indices in stmts (from the first candidate pop on) of the
    # statements whose own nodes load it: each statement walked once
    readers = {}
    for i in range(min(first_pop[key] for key in candidates), len(stmts)):
        for n in _own_nodes(stmts[i]):
            if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Load):
                at = readers.setdefault(n.id, [])
                if not at or at[-1] != i:
                    at.append(i)
    droppable = set()
    for key in candidates:
        stack, name = key
        read = False
        for i in readers.get(name, ()):
            if i < first_pop[key]:
                continue
            op = ops[id(stmts[i])]
            if op is not None and op[2] == name:
                continue
            read = True
            break
        if not read:
            droppable.add(key)
    if not droppable:
        return tree

    def keep(s):
        op = ops.get(id(s))
        return op is None or (op[1], op[2]) not in droppable

    def filt(body):
        out = []
        for s in body:
            if not keep(s):
                continue
            for field in ("body", "orelse", "finalbody"):
                sub = getattr(s, field, None)
                if sub:
                    setattr(s, field, filt(sub) or [gast.Pass()])
            for h in getattr(s, "handlers", None) or []:
                h.body = filt(h.body) or [gast.Pass()]
            out.append(s)
        return out

    tree.body = filt(tree.body)
    return tree


def _own_nodes(stmt):
    """The nodes of ``stmt`` outside its nested statement bodies."""
    todo = [stmt]
    for node in todo:
        for field in node._fields:
            if node is stmt and field in ("body", "orelse", "finalbody", "handlers"):
                continue
            value = getattr(node, field, None)
            if isinstance(value, gast.AST):
                todo.append(value)
            elif isinstance(value, list):
                todo.extend(v for v in value if isinstance(v, gast.AST))
    return todo


def _bound_tape_methods(tree, namer):
    """A stack bound once, at the top, to ``[]`` and only appended to and
    popped from gets its two bound methods once (``stack_push =
    stack.append``): a saved value then costs one call, no attribute
    lookup."""
    binds, uses, top = {}, {}, {}
    for i, stmt in enumerate(tree.body):
        if isinstance(stmt, gast.Assign) and len(stmt.targets) == 1 \
                and isinstance(stmt.targets[0], gast.Name) \
                and isinstance(stmt.value, gast.List) and not stmt.value.elts:
            top.setdefault(stmt.targets[0].id, i)
    methods = {}
    for node in nodes.walk(tree):
        if isinstance(node, gast.Name):
            if isinstance(node.ctx, gast.Store):
                binds[node.id] = binds.get(node.id, 0) + 1
            elif isinstance(node.ctx, gast.Load):
                uses[node.id] = uses.get(node.id, 0) + 1
        if isinstance(node, gast.Call) and isinstance(node.func, gast.Attribute) \
                and isinstance(node.func.value, gast.Name) and not node.keywords \
                and (node.func.attr, len(node.args)) in (("append", 1), ("pop", 0)):
            methods.setdefault(node.func.value.id, []).append(node)
    hoisted = {}
    for s, i in top.items():
        calls = methods.get(s, [])
        if binds.get(s) == 1 and calls and uses.get(s, 0) == len(calls):
            hoisted[s] = i
    for s, i in sorted(hoisted.items(), key=lambda kv: -kv[1]):
        push, pop = namer.fresh(s + "_push"), namer.fresh(s + "_pop")
        for call in methods[s]:
            call.func = nodes.name(push if call.func.attr == "append" else pop)
        tree.body[i + 1:i + 1] = [
            nodes.located(nodes.assign(push, nodes.attr(nodes.name(s), "append")), tree.body[i]),
            nodes.located(nodes.assign(pop, nodes.attr(nodes.name(s), "pop")), tree.body[i])]
    return tree
