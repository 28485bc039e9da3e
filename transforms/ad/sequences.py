"""Which ``+`` and ``*`` may act on lists or tuples (concatenation and
repetition), so that they get the derivative rules of sequences.

``[x, 2 * x] + [y]`` concatenates and ``[x] * 3`` repeats: their adjoints
split the result's adjoint back to the parts and sum the repeats, which
the rules of NumPy's ``+``/``*`` (unbroadcast) do not.  Operand types are
known only at run time in general, so a statement whose operands may be
sequences gets the primitives ``ad.seq_add`` / ``ad.seq_mul``, whose
rules decide from the operands' types at run time; a statement whose
operands are provably arrays or numbers keeps the NumPy rules (and their
shape specialization), so array code is unchanged::

    t2 = [x, t1]                      t2 = [x, t1]
    a = t2 + t4        rules of       a = t2 + t4   (ad.seq_add: the adjoint
    b = x + y          ------->       b = x + y      is ad.add_grad_left/right)
                                                    (operator.add, unchanged)

Facts per name, flow-insensitive (the join over its binding sites, a least
fixed point from "never bound"): ``(may be a list/tuple, may be a Python
int)``.  A parameter in the shape signature is an array or a number
(``api._shape_signature``); others are unknown.  Results of NumPy/SciPy
functions (but those returning lists/tuples: ``np.split``...) and of
``- / ** @`` are arrays or numbers; displays are sequences; what else is
not modelled (user calls, attributes, indexing of unknown values, runtime
helpers) is unknown.  ``x + y`` concatenates only when both operands are
sequences; ``x * y`` repeats when one is a sequence and the other an int.
"""
import dataclasses
import inspect
import operator
import weakref

import gast
import numpy as np

from ad_compiler import registry, runtime
from ad_compiler.transforms import nodes
from ad_compiler.transforms.frontend import parse

UNKNOWN = (True, True)
ARRAY = (False, False)       # an array, NumPy scalar or Python float
INT = (False, True)          # an int (or an array)
SEQ = (True, False)

# NumPy functions that return lists or tuples
_NUMPY_SEQUENCES = {
    "split", "array_split", "hsplit", "vsplit", "dsplit", "meshgrid",
    "broadcast_arrays", "gradient", "atleast_1d", "atleast_2d", "atleast_3d",
    "unique", "histogram", "histogram2d", "histogramdd", "eig", "eigh", "svd",
    "qr", "slogdet", "lstsq", "nonzero", "unravel_index", "ix_", "divmod",
    "frexp", "modf", "where", "unstack", "unique_all", "unique_counts",
    "unique_inverse", "indices", "lu", "lu_factor", "cho_factor",
}
_ARRAY_OPERATORS = {operator.sub, operator.truediv, operator.pow, operator.mod,
                    operator.matmul, operator.neg, operator.pos}


def _walk(stmts):
    for s in stmts:
        yield s
        for field in ("body", "orelse"):
            yield from _walk(getattr(s, field, []) or [])


def _is_numpy(fn):
    if isinstance(fn, np.ufunc):
        return True
    mod = (getattr(fn, "__module__", None) or "").split(".")[0]
    return mod in ("numpy", "scipy") and getattr(fn, "__name__", "") not in _NUMPY_SEQUENCES


def _is_numpy_sequence(fn):
    mod = (getattr(fn, "__module__", None) or "").split(".")[0]
    return mod in ("numpy", "scipy") and getattr(fn, "__name__", "") in _NUMPY_SEQUENCES


def _join(a, b):
    return (a[0] or b[0], a[1] or b[1])


def _add(a, b):
    return (a[0] and b[0], a[1] and b[1])


def _mul(a, b):
    return ((a[0] and b[1]) or (a[1] and b[0]), a[1] and b[1])


def retarget(fn, act, signature, forward=False):
    """Give ``ad.seq_add`` / ``ad.seq_mul`` to the active ``+``/``*``
    statements whose operands may be sequences (in ``act.ops``).  In forward
    mode ``*`` keeps its rule: ``d[x] * y`` repeats a list's tangent as the
    primal is repeated."""
    rt = runtime
    args = fn.args
    plain = [a.id for a in args.posonlyargs + args.args + args.kwonlyargs]
    params = {}
    evidence = set()      # names with a reason to hold a list or tuple
    for p in plain:
        sig = signature.get(p)
        if sig is None:
            params[p] = UNKNOWN
            if signature:        # not an array or number in this call
                evidence.add(p)
        else:
            dtype, dims = sig
            params[p] = INT if (dtype == "l" and not dims) else ARRAY
    if args.vararg is not None:
        params[args.vararg.id] = SEQ
        evidence.add(args.vararg.id)
    if args.kwarg is not None:
        params[args.kwarg.id] = ARRAY                # a dict: never + or *'d
    assigns = []
    unknown = set()
    loop_ints = set()
    for stmt in _walk(fn.body):
        if isinstance(stmt, gast.Assign):
            t = stmt.targets[0]
            if isinstance(t, gast.Name):
                assigns.append(stmt)
            elif not isinstance(t, gast.Subscript):   # unpacking
                unknown |= {n.id for n in nodes.walk(t) if isinstance(n, gast.Name)}
        elif isinstance(stmt, gast.For):     # normalized loops count indexes
            loop_ints |= {n.id for n in nodes.walk(stmt.target) if isinstance(n, gast.Name)}
        elif isinstance(stmt, gast.AugAssign) and isinstance(stmt.target, gast.Name):
            unknown.add(stmt.target.id)
    facts = {s.targets[0].id: (False, False) for s in assigns}   # never bound yet
    facts.update(params)
    for n in unknown:
        facts[n] = UNKNOWN
    for n in loop_ints - unknown:
        facts[n] = _join(facts.get(n, (False, False)), INT)
    # names known to hold ints (literals, len(), loop indexes): what a list
    # is repeated by
    ints = {p for p, v in params.items() if v == INT} | (loop_ints - unknown)
    # the facts of the elements of names bound only to displays (and copies,
    # appends of them), with their evidence: pair[0] of pair = (x * 2.0, y)
    elems = {s.targets[0].id: ((False, False), False) for s in assigns}
    for n in list(params) + list(unknown):     # no evidence for elements of these
        elems[n] = (ARRAY, False) if facts[n] == ARRAY else (UNKNOWN, False)
    # parameters used as containers (indexed, iterated, passed to the user's
    # functions) may be lists of lists
    for stmt in assigns:
        op = act.ops.get(id(stmt))
        if op is None:
            continue
        if op.kind == "user":
            cands = list(op.args) + [v for _, v in op.keywords]
        elif op.kind == "prim" and (op.fn is operator.getitem or op.fn is rt.as_sequence):
            cands = op.args[:1]
        else:
            continue
        evidence |= {a.id for a in cands if isinstance(a, gast.Name) and a.id in params
                     and params[a.id] == UNKNOWN}

    def of(atom):
        if isinstance(atom, gast.Name):
            return facts.get(atom.id, UNKNOWN)      # globals, closures: unknown
        if isinstance(atom, gast.Constant):
            v = atom.value
            if isinstance(v, int):                  # bool too
                return INT
            if isinstance(v, (float, complex)):
                return ARRAY
            return UNKNOWN                          # strings, None
        if isinstance(atom, (gast.List, gast.Tuple)):
            return SEQ
        return UNKNOWN

    def is_int(atom):
        if isinstance(atom, gast.Constant):
            return isinstance(atom.value, int)
        return isinstance(atom, gast.Name) and atom.id in ints and facts[atom.id] == INT

    def binds_int(op):
        if op.kind in ("copy", "const"):
            return is_int(op.node)
        if op.kind in ("nondiff", "prim", "unknown") and op.fn in (len, int, round, operator.index):
            return True
        if op.kind == "prim" and op.fn in (operator.add, operator.sub, operator.mul,
                                           operator.mod, operator.neg, operator.pos):
            return all(is_int(a) for a in op.args)
        return isinstance(op.node, gast.BinOp) and isinstance(op.node.op, gast.FloorDiv) \
            and is_int(op.node.left) and is_int(op.node.right)

    def has_evidence(atom):
        return (isinstance(atom, gast.Name) and atom.id in evidence) or \
            isinstance(atom, (gast.List, gast.Tuple))

    def elem_of(atom):
        if isinstance(atom, gast.Name):
            return elems.get(atom.id, (UNKNOWN, False))
        if isinstance(atom, (gast.List, gast.Tuple)):
            return display_elems(atom)
        return UNKNOWN, False

    def display_elems(node):
        val, ev = (False, False), False
        for e in node.elts:
            val, ev = _join(val, of(e)), ev or has_evidence(e)
        return val, ev

    def elements(op):
        """(facts, evidence) of the elements of the value an operation binds."""
        if op.kind == "copy":
            return elem_of(op.node)
        if op.kind == "container" and not isinstance(op.node, gast.Dict):
            return display_elems(op.node)
        if op.kind == "prim" and op.fn is rt.append and len(op.args) == 2:
            (v, e), w = elem_of(op.args[0]), op.args[1]
            return _join(v, of(w)), e or has_evidence(w)
        if op.kind == "prim" and op.args and (op.fn in (list, tuple, rt.as_sequence) or (
                op.fn is operator.getitem and isinstance(op.args[1], gast.Slice))):
            return elem_of(op.args[0])
        if op.kind == "prim" and _is_numpy(op.fn):
            return ARRAY, False
        return UNKNOWN, False

    def binding(op):
        """(facts, evidence) of the value an operation binds."""
        if op.kind == "copy":
            return of(op.node), has_evidence(op.node)
        if op.kind == "const":
            return (of(op.node) if isinstance(op.node, gast.Constant) else UNKNOWN), False
        if op.kind == "container":
            return (ARRAY, False) if isinstance(op.node, gast.Dict) else (SEQ, True)
        if op.kind == "nondiff" and op.fn is not None:
            if _is_numpy(op.fn):
                return ARRAY, False
            if op.fn in (len, int, round, operator.index):
                return INT, False
            return UNKNOWN, False
        if op.kind == "user" and _returns_sequence(op.fn):
            return UNKNOWN, True     # a helper that may return a list or tuple
        if op.kind != "prim":   # other user calls: helpers mostly return arrays
            return UNKNOWN, False
        f = op.fn
        vals = [of(a) for a in op.args]
        ev = any(has_evidence(a) for a in op.args[:2])
        if f in (operator.add, rt.seq_add) and len(vals) == 2:
            return _add(*vals), ev
        if f in (operator.mul, rt.seq_mul) and len(vals) == 2:
            return _mul(*vals), ev
        if f in _ARRAY_OPERATORS:
            ints = all(v[1] for v in vals) and f not in (operator.truediv, operator.matmul)
            return (False, ints), False
        if f in (operator.getitem, rt.as_sequence, rt.dict_get):
            if vals and vals[0] == ARRAY:
                return ARRAY, False
            if f is operator.getitem and isinstance(op.args[1], gast.Slice):
                return vals[0], has_evidence(op.args[0])
            return elem_of(op.args[0]) if f is not rt.as_sequence else (vals[0], has_evidence(op.args[0]))
        if f in (list, tuple) or f in _sequence_helpers(rt):
            return SEQ, True
        if _is_numpy(f):
            return ARRAY, False
        if _is_numpy_sequence(f):
            return UNKNOWN, True
        if (getattr(f, "__module__", None) or "") == "math":
            return INT, False
        return UNKNOWN, False

    changed = True
    while changed:
        changed = False
        for stmt in assigns:
            t = stmt.targets[0].id
            if t in unknown:
                continue
            op = act.ops.get(id(stmt))
            val, ev = binding(op) if op is not None else (UNKNOWN, False)
            new = _join(facts[t], val)
            if new != facts[t] or (ev and t not in evidence):
                facts[t] = new
                if ev:
                    evidence.add(t)
                changed = True
            if t not in ints and op is not None and binds_int(op) and facts[t] in (INT, (False, False)):
                ints.add(t)
                changed = True
            (ev0, e0), (ev1, e1) = elems[t], elements(op) if op is not None else (UNKNOWN, True)
            new = (_join(ev0, ev1), e0 or e1)
            if new != elems[t]:
                elems[t] = new
                changed = True

    for stmt in assigns:
        op = act.ops.get(id(stmt))
        if op is None or op.kind != "prim" or len(op.args) != 2 \
                or not act.is_active(stmt.targets[0].id):
            continue
        (l, r), (fl, fr) = op.args, (of(op.args[0]), of(op.args[1]))
        # a helper's parameters of unknown type (compiled for its callers'
        # arguments, lists included): ``return a + b``, ``a * n``
        unknown_params = [a for a in (l, r) if isinstance(a, gast.Name) and a.id in params
                          and of(a) == UNKNOWN]
        if op.fn is operator.add:
            both_active = all(isinstance(a, gast.Name) and act.is_active(a.id) for a in (l, r))
            if not (((has_evidence(l) or has_evidence(r))
                     or (len(unknown_params) == 2 and not (forward and both_active)))
                    and fl[0] and fr[0]):
                continue
            op.fn = rt.seq_add
        elif op.fn is operator.mul and not forward:
            if not ((has_evidence(l) and fl[0] and is_int(r)) or (has_evidence(r) and fr[0] and is_int(l))):
                continue
            op.fn = rt.seq_mul
        else:
            continue
        op.prim = registry.lookup(op.fn)


def _sequence_helpers(rt):
    return (rt.zip_, rt.enumerate_, rt.reversed_, rt.sorted_, rt.append, rt.dict_items,
            rt.dict_values)


_RETURNS_SEQUENCE = weakref.WeakKeyDictionary()     # code -> bool
_SEQUENCE_CALLS = {"list", "tuple", "sorted"}
_LIST_METHODS = {"append", "extend", "insert"}


def _returns_sequence(fn):
    """Whether the user's function ``fn`` may return a list or tuple, read
    from its source: a ``return`` of a display, a comprehension, ``list()``,
    ``tuple()``, ``sorted()``, a concatenation/repetition of those, or of a
    local name bound to one (or appended to).  Used as evidence only: the
    ``+``/``*`` of its result get the rules that decide at run time."""
    fn = getattr(fn, "__func__", fn)
    code = getattr(fn, "__code__", None)
    if code is None:
        return False
    try:
        return _RETURNS_SEQUENCE[code]
    except (KeyError, TypeError):
        pass
    try:
        tree = parse.parse_function(fn).node
    except Exception:        # errors are reported where the call is compiled
        return False
    out = _sequence_returns(tree)
    try:
        _RETURNS_SEQUENCE[code] = out
    except TypeError:
        pass
    return out


def _own_nodes(tree):
    """The nodes of a function's body, not of the functions it defines."""
    todo = list(tree.body)
    while todo:
        node = todo.pop()
        yield node
        for child in gast.iter_child_nodes(node):
            if not isinstance(child, (gast.FunctionDef, gast.AsyncFunctionDef,
                                      gast.Lambda, gast.ClassDef)):
                todo.append(child)


def _sequence_returns(tree):
    nodes = list(_own_nodes(tree))
    seqs, is_seq = _sequence_names(nodes)
    return any(isinstance(node, gast.Return) and node.value is not None and is_seq(node.value)
               for node in nodes)


def sequence_names(tree):
    """The local names of function ``tree`` that some binding shows to be a
    list or tuple (a display, a comprehension, ``list()``, ``sorted()``,
    ``lst.append(v)``...), syntactic evidence only."""
    return _sequence_names(list(_own_nodes(tree)))[0]


def _sequence_names(nodes):
    seqs = set()

    def is_seq(e):
        if isinstance(e, (gast.List, gast.Tuple, gast.ListComp)):
            return True
        if isinstance(e, gast.Call) and isinstance(e.func, gast.Name):
            return e.func.id in _SEQUENCE_CALLS
        if isinstance(e, gast.BinOp) and isinstance(e.op, (gast.Add, gast.Mult)):
            return is_seq(e.left) or is_seq(e.right)
        if isinstance(e, gast.IfExp):
            return is_seq(e.body) or is_seq(e.orelse)
        return isinstance(e, gast.Name) and e.id in seqs

    for node in nodes:      # lst.append(v) ...: lst is a list
        if isinstance(node, gast.Call) and isinstance(node.func, gast.Attribute) \
                and node.func.attr in _LIST_METHODS and isinstance(node.func.value, gast.Name):
            seqs.add(node.func.value.id)
    changed = True
    while changed:
        changed = False
        for node in nodes:
            if isinstance(node, gast.Assign) and is_seq(node.value):
                new = {t.id for t in node.targets if isinstance(t, gast.Name)} - seqs
            elif isinstance(node, (gast.AugAssign, gast.AnnAssign)) and node.value is not None \
                    and isinstance(node.target, gast.Name) and is_seq(node.value):
                new = {node.target.id} - seqs
            else:
                continue
            if new:
                seqs |= new
                changed = True
    return seqs, is_seq


# --- records: NamedTuples and dataclasses ------------------------------------
# Attribute reads on local values (``p.W``), constructor calls of NamedTuple
# and dataclass classes (``Params(W, b=b)``), ``p._replace(W=v)`` and
# ``dataclasses.replace(p, W=v)`` are classified (in ops.classify, with these) as
# the runtime primitives ``ad.field(p, 'W')``, ``ad.record(Params, ('W',
# 'b'), (W, b))`` and ``ad.replace_fields(p, ('W',), (v,))``, whose rules are
# in ad_compiler/rules/operators.py.  The statement itself is unchanged.

# attributes of arrays that are never fields read through ad.field (refused
# at compile time when differentiated, as before)
ARRAY_ONLY_ATTRS = {"flat", "base", "ctypes", "__array_interface__",
                    "__array_struct__"}


def fields_tuple(names):
    return gast.Tuple(elts=[nodes.const(n) for n in names], ctx=gast.Load())


def plain_dataclass_init(cls):
    """Whether the dataclass ``cls``'s constructor only stores its arguments
    (the generated __init__, no __post_init__, no InitVar)."""
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.init or hasattr(cls, "__post_init__"):
        return False
    init = getattr(cls, "__init__", None)
    code = getattr(init, "__code__", None)
    if code is None or code.co_filename != "<string>":      # written by the user
        return False
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    try:
        sig = list(inspect.signature(init).parameters)[1:]
    except (TypeError, ValueError):
        return False
    return sig == names


def record_kind(obj):
    """"namedtuple", "dataclass" for such a class, else None."""
    if not isinstance(obj, type):
        return None
    if issubclass(obj, tuple) and hasattr(obj, "_fields"):
        return "namedtuple"
    if hasattr(obj, "__dataclass_fields__"):
        return "dataclass"
    return None


def returns_numpy_sequence(op):
    """Whether the classified call ``op`` is a NumPy/SciPy function that
    returns a list or tuple (``np.split``, ``np.linalg.svd``...): its
    result's adjoint is a container (``np.where(c, a, b)`` and
    ``np.atleast_1d(x)`` of one argument return arrays)."""
    if op.kind != "prim" or not _is_numpy_sequence(op.fn):
        return False
    name = getattr(op.fn, "__name__", "")
    n = len(op.args) + len(op.keywords)
    if name == "where":
        return n == 1
    if name.startswith("atleast_"):
        return n > 1
    return True
