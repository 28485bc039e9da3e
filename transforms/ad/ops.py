"""Classification of the one operation on the right of a normalized
assignment: which primitive it is, which operands carry derivatives.

Shared by the activity analysis and both AD passes, so that all three agree
on what an operation is.
"""
import ast
import builtins
import dataclasses
import inspect
import operator

import gast
import numpy as np

from ad_compiler import checkpointing as _checkpoint, registry, runtime
from ad_compiler.runtime import composition
from ad_compiler.transforms import annotations, nodes
from ad_compiler.transforms.ad import sequences
from ad_compiler.transforms.frontend.parse import _MISSING
from ad_compiler.transforms.annotations import Key

BINOPS = {
    gast.Add: operator.add, gast.Sub: operator.sub, gast.Mult: operator.mul,
    gast.Div: operator.truediv, gast.Pow: operator.pow,
    gast.MatMult: operator.matmul, gast.Mod: operator.mod,
}
NONDIFF_BINOPS = (gast.FloorDiv, gast.BitAnd, gast.BitOr, gast.BitXor,
                  gast.LShift, gast.RShift)
UNARYOPS = {gast.USub: operator.neg, gast.UAdd: operator.pos}

# ndarray attributes that carry no derivative
NONDIFF_ATTRS = {"shape", "ndim", "size", "dtype", "itemsize", "nbytes",
                 "strides", "flags"}
# ndarray attributes that are functions of the array
DIFF_ATTRS = {"T": "transpose", "mT": "matrix_transpose", "real": "real",
              "imag": "imag"}
NONDIFF_METHODS = {"argmax", "argmin", "argsort", "nonzero", "any", "all",
                   "searchsorted", "__len__", "count", "index", "keys"}
# dict methods whose results carry the values' derivatives
DICT_METHODS = {"items": "dict_items", "values": "dict_values"}
# method name -> numpy function name, where they differ
METHOD_ALIASES = {"flatten": "ravel", "conjugate": "conj", "copy": "copy",
                  "astype": "asarray"}
VARARG_METHODS = {"reshape", "transpose"}
_NOT_USER_PACKAGES = {"numpy", "scipy", "autograd", "torch", "jax", "math",
                      "builtins", "functools", "operator", "cmath", "random"}


class Op:
    """One classified operation.

    kind: "copy", "const", "prim", "nondiff", "user", "container",
          "unknown" (no rule), "opaque" (lambda, comprehension...)
    """
    __slots__ = ("kind", "fn", "prim", "args", "keywords", "diff", "label",
                 "node", "starred", "checkpoint")

    def __init__(self, kind, node, fn=None, prim=None, args=(), keywords=(),
                 diff=(), label=""):
        self.kind = kind
        self.node = node
        self.fn = fn
        self.prim = prim
        self.args = list(args)
        self.keywords = list(keywords)
        self.diff = list(diff)          # names whose derivative flows
        self.label = label
        self.starred = False
        self.checkpoint = False          # a call of a checkpoint()ed helper


def operand_names(node):
    """Names in an operand (atom or tuple/list of atoms)."""
    if isinstance(node, gast.Name):
        return [node.id]
    if isinstance(node, (gast.Tuple, gast.List)):
        out = []
        for e in node.elts:
            out += operand_names(e)
        return out
    if isinstance(node, gast.Starred):
        return operand_names(node.value)
    if isinstance(node, gast.Dict):      # the keywords of a derivative's call
        out = []
        for e in node.values:
            out += operand_names(e)
        return out
    return []


class Resolver:
    """Resolve callee expressions to live objects at compile time."""

    def __init__(self, info, locals_, injected, types=None):
        self.info = info
        self.locals = locals_
        self.injected = injected  # name -> object the generated code gets
        self.types = types if types is not None else {}  # parameter -> class of a user object (shared with the compile context)

    def __call__(self, node):
        path = []
        while isinstance(node, gast.Attribute):
            path.append(node.attr)
            node = node.value
        if isinstance(node, gast.Name) and not path and hasattr(
                self.types.get(node.id), "obj"):
            return self.types[node.id].obj    # a function argument specialized to
        if not isinstance(node, gast.Name) or node.id in self.locals:
            return None
        if node.id in self.injected:
            obj = self.injected[node.id]
        else:
            obj = self.info.lookup(node.id)
        if obj is _missing():
            return None
        for attr in reversed(path):
            try:
                obj = getattr(obj, attr)
            except Exception:
                return None
        if path and node.id not in self.injected:   # compiled code depends on it
            self.info.note_attribute(node.id, path[::-1], obj)
        return obj

    def is_local_root(self, node):
        while isinstance(node, gast.Attribute):
            node = node.value
        return isinstance(node, gast.Name) and node.id in self.locals


def _root(node):
    while isinstance(node, (gast.Attribute, gast.Subscript)):
        node = node.value
    return node


def _missing():
    return _MISSING


def describe(node):
    try:
        return gast.unparse(node) if hasattr(gast, "unparse") else _unparse(node)
    except Exception:
        return type(node).__name__


def _unparse(node):
    return ast.unparse(gast.gast_to_ast(node))


def is_user_function(obj):
    if not inspect.isfunction(obj):
        return False
    mod = (getattr(obj, "__module__", None) or "").split(".")[0]
    return mod not in _NOT_USER_PACKAGES and not mod.startswith("ad_compiler")


def classify(op, resolve):
    """Classify the value ``op`` of a normalized assignment."""
    if isinstance(op, gast.Name):
        return Op("copy", op, diff=[op.id])
    if isinstance(op, gast.Constant):
        return Op("const", op)
    if isinstance(op, gast.BinOp):
        fn = BINOPS.get(type(op.op))
        names = operand_names(op.left) + operand_names(op.right)
        if fn is None:
            return Op("nondiff", op, label=type(op.op).__name__)
        return Op("prim", op, fn=fn, prim=registry.lookup(fn),
                  args=[op.left, op.right], diff=names,
                  label=f"operator {_OPSYM.get(type(op.op), '?')}")
    if isinstance(op, gast.UnaryOp):
        fn = UNARYOPS.get(type(op.op))
        if fn is None:
            return Op("nondiff", op)
        return Op("prim", op, fn=fn, prim=registry.lookup(fn), args=[op.operand],
                  diff=operand_names(op.operand), label="unary minus")
    if isinstance(op, (gast.Compare,)):
        return Op("nondiff", op, label="comparison")
    if isinstance(op, gast.Subscript):
        if not resolve.is_local_root(op.value):
            special = _index_concatenation(op, resolve)
            if special is not None:
                return special
        fn = operator.getitem
        return Op("prim", op, fn=fn, prim=registry.lookup(fn),
                  args=[op.value, op.slice], diff=operand_names(op.value),
                  label="indexing")
    if isinstance(op, gast.Attribute):
        if not resolve.is_local_root(op):
            return Op("const", op)
        base = op.value
        if op.attr in NONDIFF_ATTRS:
            return Op("nondiff", op, label=f".{op.attr}")
        if op.attr in DIFF_ATTRS:
            fn = getattr(np, DIFF_ATTRS[op.attr], None)
            prim = registry.lookup(fn) if fn is not None else None
            return Op("prim" if prim else "unknown", op, fn=fn, prim=prim,
                      args=[base], diff=operand_names(base),
                      label=f"attribute .{op.attr}")
        return _attribute_op(          # NamedTuple/dataclass fields
            op, base, f"attribute .{op.attr}")
    if isinstance(op, (gast.Tuple, gast.List)):
        if any(isinstance(e, gast.Starred) for e in op.elts):
            return Op("opaque", op, diff=operand_names(op), label="a starred element in a display ([*x])")
        return Op("container", op, diff=operand_names(op), label="tuple")
    if isinstance(op, gast.Dict):
        names = []
        for v in op.values:
            names += operand_names(v)
        return Op("container", op, diff=names, label="dict")
    if isinstance(op, gast.Call):
        return _classify_call(op, resolve)
    names = sorted(n.id for n in nodes.walk(op)
                   if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Load))
    label = {gast.Lambda: "a lambda", gast.ListComp: "a list comprehension",
             gast.SetComp: "a set comprehension", gast.DictComp: "a dict comprehension",
             gast.GeneratorExp: "a generator expression",
             gast.JoinedStr: "an f-string"}.get(type(op), type(op).__name__)
    return Op("opaque", op, diff=names, label=label)


def _index_concatenation(op, resolve):
    """``np.r_[a, b]`` / ``np.c_[a, b]``: concatenations written as indexing."""
    obj = resolve(op.value)
    fn = {id(np.r_): runtime.r_, id(np.c_): runtime.c_}.get(id(obj))
    if fn is None:
        return None
    index = op.slice
    items = list(index.elts) if isinstance(index, gast.Tuple) else [index]
    names = operand_names(gast.Tuple(elts=items, ctx=gast.Load()))
    label = f"{describe(op.value)}[...]"
    if any(isinstance(i, gast.Slice) or (isinstance(i, gast.Constant) and isinstance(i.value, str))
           for i in items):
        # ranges (np.r_[0:3, x]) and directive strings ("0,2"): not modelled
        return Op("unknown", op, diff=names, label=label)
    return Op("prim", op, fn=fn, prim=registry.lookup(fn),
              args=[gast.Tuple(elts=items, ctx=gast.Load())], diff=names, label=label)


def _integer_dtype(node, resolve):
    """Is ``node`` (a dtype argument as written) an integer or boolean dtype
    known from the program text (``int``, ``bool``, ``np.int64``,
    ``'int32'``)?"""
    if node is None:
        return False
    if isinstance(node, gast.Constant):
        obj = node.value
        if obj is None:
            return False
    elif isinstance(node, (gast.Name, gast.Attribute)):
        try:
            obj = resolve(node)
        except Exception:          # noqa: BLE001 - not resolvable: not known
            return False
        if obj is None:
            return False
    else:
        return False
    try:
        return np.dtype(obj).kind in "biu"
    except (TypeError, ValueError):
        return False


def _casts_to_integer(fn, args, keywords, resolve):
    """A call of np.asarray / np.array / np.astype (and friends) that makes
    an integer or boolean array."""
    if fn in _DTYPE_SECOND and len(args) >= 2:
        return _integer_dtype(args[1], resolve)
    if fn in _DTYPE_SECOND or fn in _DTYPE_KEYWORD:
        return _integer_dtype(dict(keywords).get("dtype"), resolve)
    return False


_DTYPE_SECOND = tuple(f for f in (np.asarray, np.array, np.ascontiguousarray,
                                   np.asfortranarray, getattr(np, "astype", None))
                      if f is not None)
_DTYPE_KEYWORD = (np.asanyarray,)


_OPSYM = {gast.Add: "+", gast.Sub: "-", gast.Mult: "*", gast.Div: "/",
          gast.Pow: "**", gast.MatMult: "@", gast.Mod: "%"}


def _classify_call(op, resolve):
    args = list(op.args)
    keywords = [(k.arg, k.value) for k in op.keywords]
    names = []
    for a in args:
        names += operand_names(a)
    for _, v in keywords:
        names += operand_names(v)
    starred = any(isinstance(a, gast.Starred) for a in args) or any(
        k is None for k, _ in keywords)
    func = op.func
    if isinstance(func, gast.Attribute) and resolve.is_local_root(func):
        # a method call on a local value: x.sum(axis=0)
        recv = func.value
        meth = func.attr
        all_names = operand_names(recv) + names
        cls = resolve.types.get(recv.id) if isinstance(recv, gast.Name) else None
        if cls is not None:
            method = inspect.getattr_static(cls, meth, None)
            resolve.info.note_method(cls, meth, method)
            if isinstance(method, staticmethod):
                method = method.__func__
                o = Op("user", op, fn=method, args=args, keywords=keywords, diff=names,
                       label=f"{cls.__name__}.{meth}()")
                o.starred = starred
                return o
            if inspect.isfunction(method):
                o = Op("user", op, fn=_checkpoint.inner(method), args=[recv] + args,
                       keywords=keywords, diff=all_names, label=f"{cls.__name__}.{meth}()")
                o.starred = starred
                o.checkpoint = _checkpoint.is_checkpointed(method)
                return o
        if meth in NONDIFF_METHODS:
            return Op("nondiff", op, label=f"method .{meth}()")
        if meth == "astype" and _integer_dtype(
                args[0] if args else dict(keywords).get("dtype"), resolve):
            # x.astype(int): an integer (or boolean) array has no derivative
            return Op("nondiff", op, label=f"method .{meth}()")
        if meth == "_replace":                  # a NamedTuple's
            return _replace_method_op(op, recv, args, keywords, all_names,
                                      f"method .{meth}()")
        if meth in DICT_METHODS and not args and not keywords:
            fn = getattr(runtime, DICT_METHODS[meth])
            return Op("prim", op, fn=fn, prim=registry.lookup(fn), args=[recv],
                      diff=all_names, label=f"method .{meth}()")
        if meth == "get" and args and not keywords:
            # d.get(key, default): the derivative reaches d[key] or default
            fn = runtime.dict_get
            return Op("prim", op, fn=fn, prim=registry.lookup(fn), args=[recv] + args,
                      diff=all_names, label="method .get()")
        np_name = METHOD_ALIASES.get(meth, meth)
        fn = getattr(np, np_name, None)
        if meth == "item":
            fn = float
        prim = registry.lookup(fn) if fn is not None else None
        if prim is None:
            if fn is not None and registry.is_nondifferentiable(fn):
                return Op("nondiff", op, label=f"method .{meth}()")
            return Op("unknown", op, diff=all_names, label=f"method .{meth}()")
        if meth in VARARG_METHODS and len(args) > 1:
            args = [gast.Tuple(elts=args, ctx=gast.Load())]
        if meth == "astype":
            args = args[:1]
            keywords = [("dtype", args.pop())] if args else keywords
        if meth == "clip":
            # x.clip(lo) / x.clip(max=hi): the method's bounds are optional
            # and named min/max; np.clip's are a_min/a_max
            keywords = [({"min": "a_min", "max": "a_max"}.get(k, k), v) for k, v in keywords]
            given = len(args) + len(keywords)
            if given < 2 and "a_max" not in dict(keywords):
                keywords = keywords + [("a_max", nodes.const(None))]
            elif given < 2:
                keywords = keywords + [("a_min", nodes.const(None))]
        o = Op("prim", op, fn=fn, prim=prim, args=[recv] + args,
               keywords=keywords, diff=all_names, label=f"method .{meth}()")
        o.starred = starred
        return o
    obj = resolve(func)
    label = describe(func)
    if resolve.is_local_root(func):
        # a callee computed by the function (a pullback, a closure made
        # inside): its result depends on the callee's value too
        names = names + operand_names(func if isinstance(func, gast.Name) else _root(func))
    written = annotations.get(op, Key.LABEL)     # a computed callee: what the user wrote
    if written is not None:
        return Op("unknown", op, fn=None, args=args, keywords=keywords, diff=names,
                  label=written)
    if hasattr(obj, "__ad_trampoline__"):
        obj = obj.__ad_trampoline__()
    if _checkpoint.is_checkpointed(obj):
        # checkpoint(helper): differentiated as the helper, recomputed in
        # the backward sweep (transforms/ad/reverse.py)
        inner = _checkpoint.inner(obj)
        if is_user_function(inner):
            o = Op("user", op, fn=inner, args=args, keywords=keywords, diff=names,
                   label=f"{label}()")
            o.starred = starred
            o.checkpoint = True
            return o
        obj = inner
    if obj is runtime.pop:
        return Op("pop", op, fn=obj, args=args, label="ad.pop()")
    if obj is runtime.push:
        return Op("push", op, fn=obj, args=args, label="ad.push()")
    if obj is None:
        return Op("unknown", op, diff=names, label=f"{label}()")
    record = _record_call_op(       # NamedTuple/dataclass constructors
        op, obj, args, keywords, names, label)
    if record is not None:
        return record
    if composition.is_derivative(obj):
        # grad(energy)(x), a Hessian...: differentiated by ad_compiler.compose
        fn = runtime.call_derivative
        kw = gast.Dict(keys=[nodes.const(k) for k, _ in keywords],
                       values=[v for _, v in keywords]) if keywords else nodes.const(None)
        o = Op("prim", op, fn=fn, prim=registry.lookup(fn),
               args=[func, gast.Tuple(elts=args, ctx=gast.Load())],
               keywords=[("kwargs", kw)], diff=names, label=f"{label}()")
        o.starred = starred
        return o
    prim = registry.lookup(obj)
    if prim is not None and _casts_to_integer(obj, args, keywords, resolve):
        # np.asarray(x, dtype=int), np.astype(x, np.int64): no derivative
        return Op("nondiff", op, fn=obj, label=f"{label}()")
    if prim is not None:
        o = Op("prim", op, fn=obj, prim=prim, args=args, keywords=keywords,
               diff=names, label=f"{label}()")
        o.starred = starred
        return o
    if registry.is_nondifferentiable(obj):
        return Op("nondiff", op, fn=obj, label=f"{label}()")
    if is_user_function(obj):
        o = Op("user", op, fn=obj, args=args, keywords=keywords, diff=names,
               label=f"{label}()")
        o.starred = starred
        return o
    if obj in (builtins.list, builtins.tuple):
        return Op("prim", op, fn=obj, prim=registry.lookup(obj), args=args,
                  diff=names, label=f"{label}()") if registry.lookup(obj) else \
            Op("unknown", op, fn=obj, diff=names, label=f"{label}()")
    return Op("unknown", op, fn=obj, args=args, keywords=keywords, diff=names,
              label=f"{label}()")


# --- NamedTuple/dataclass records (transforms/ad/sequences.py has the facts:
# fields_tuple, record_kind...; the rules of ad.field, ad.record and
# ad.replace_fields are in ad_compiler/rules/operators.py) ---------------------

def _attribute_op(op, base, label):
    """``x.attr`` on a local value: the primitive ``ad.field``."""
    rt = runtime
    if op.attr in sequences.ARRAY_ONLY_ATTRS:
        return Op("unknown", op, diff=operand_names(base), label=label)
    return Op("prim", op, fn=rt.field, prim=registry.lookup(rt.field),
              args=[base, nodes.const(op.attr)], diff=operand_names(base), label=label)


def _record_call_op(op, obj, args, keywords, names, label):
    """The Op of a call of a NamedTuple/dataclass class or of
    ``dataclasses.replace``, else None (not such a call)."""
    rt = runtime
    starred = any(isinstance(a, gast.Starred) for a in args) or any(k is None for k, _ in keywords)
    if obj is dataclasses.replace:
        if starred or len(args) != 1:
            return Op("unknown", op, diff=names, label=f"{label}()")
        return Op("prim", op, fn=rt.replace_fields, prim=registry.lookup(rt.replace_fields),
                  args=[args[0], sequences.fields_tuple([k for k, _ in keywords]),
                        gast.Tuple(elts=[v for _, v in keywords], ctx=gast.Load())],
                  diff=names, label=f"{label}()")
    kind = sequences.record_kind(obj)
    if kind is None:
        return None
    if kind == "namedtuple":
        order = list(obj._fields)
    elif sequences.plain_dataclass_init(obj):
        order = [f.name for f in dataclasses.fields(obj) if f.init]
    else:
        return Op("unknown", op, diff=names,
                  label=f"the constructor of the dataclass {obj.__name__}, which runs code "
                        f"of its own (__init__ or __post_init__)")
    given = order[:len(args)] + [k for k, _ in keywords]
    if starred or len(args) > len(order) or len(set(given)) != len(given) \
            or any(k not in order for k in given):
        return Op("unknown", op, diff=names, label=f"{label}()")
    return Op("prim", op, fn=rt.record, prim=registry.lookup(rt.record),
              args=[op.func, sequences.fields_tuple(given),
                    gast.Tuple(elts=list(args) + [v for _, v in keywords], ctx=gast.Load())],
              diff=names, label=f"{label}()")


def _replace_method_op(op, recv, args, keywords, names, label):
    """``p._replace(W=v)`` on a local value: ``ad.replace_fields``."""
    rt = runtime
    if args or any(k is None for k, _ in keywords):
        return Op("unknown", op, diff=names, label=label)
    return Op("prim", op, fn=rt.replace_fields, prim=registry.lookup(rt.replace_fields),
              args=[recv, sequences.fields_tuple([k for k, _ in keywords]),
                    gast.Tuple(elts=[v for _, v in keywords], ctx=gast.Load())],
              diff=names, label=label)
