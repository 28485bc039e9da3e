"""What the normalizations share: the tables of NumPy functions and methods
(views, allocators, in-place methods), ``local_names``, and
``NormalizerBase`` (the state of one normalization: the function, fresh
names, the resolver, the names injected into generated code).  Not a step:

>>> import gast
>>> sorted(local_names(gast.parse("def f(x, *a): y, (i, j) = x, a").body[0]))
['a', 'i', 'j', 'x', 'y']
"""
import builtins

import gast

from ad_compiler.transforms import nodes

_INDEX_ARRAYS = {"array", "arange", "asarray", "argsort", "flatnonzero", "argwhere"}
_NO_COPY = {"asarray", "asanyarray", "ascontiguousarray", "asfortranarray"}
_OPSYMS = {gast.Add: "+", gast.Sub: "-", gast.Mult: "*", gast.Div: "/", gast.Pow: "**"}
_ALLOCATORS = {"zeros", "ones", "empty", "full", "zeros_like", "ones_like", "empty_like",
               "full_like", "array", "copy", "arange", "linspace", "eye", "identity",
               "concatenate", "stack", "vstack", "hstack", "tile", "repeat", "outer"}
_INPLACE_METHODS = {"sort", "fill", "partition", "resize", "put", "itemset", "byteswap",
                    "setfield"}
_VIEWS = {"reshape", "ravel", "squeeze", "transpose", "swapaxes", "moveaxis", "view",
          "expand_dims", "broadcast_to", "diagonal", "asarray", "asanyarray",
          "atleast_1d", "atleast_2d", "atleast_3d", "real", "imag"}
# NumPy functions (and array methods) whose result holds views of their input
_VIEW_LISTS = {"split", "array_split", "hsplit", "vsplit", "dsplit", "broadcast_arrays",
               "flip", "fliplr", "flipud", "rot90", "unstack", "meshgrid"}
# methods whose result holds the receiver's elements (copy: of a dict or list)
_HOLDING_METHODS = {"get", "setdefault", "pop", "values", "items", "copy"}
_OPAQUE = (gast.Lambda, gast.SetComp, gast.DictComp, gast.JoinedStr, gast.Set)
_MUTATING_METHODS = {"append", "extend", "insert", "pop", "remove", "clear", "update",
                     "setdefault", "popitem", "reverse", "add", "discard"} | _INPLACE_METHODS
_MUTATING_NUMPY = {"copyto", "fill_diagonal", "put", "place", "putmask", "put_along_axis",
                   "shuffle", "at"}
_AUG_DUNDER = {gast.Add: "__iadd__", gast.Sub: "__isub__", gast.Mult: "__imul__",
               gast.Div: "__itruediv__", gast.FloorDiv: "__ifloordiv__", gast.Mod: "__imod__",
               gast.Pow: "__ipow__", gast.MatMult: "__imatmul__", gast.BitAnd: "__iand__",
               gast.BitOr: "__ior__", gast.BitXor: "__ixor__", gast.LShift: "__ilshift__",
               gast.RShift: "__irshift__"}

_NO_CONSTANT = object()


def local_names(fn):
    """Parameters and every name the function body assigns."""
    out = set()
    args = fn.args
    for a in list(args.posonlyargs) + list(args.args) + list(args.kwonlyargs):
        out.add(a.id)
    if args.vararg is not None:
        out.add(args.vararg.id)
    if args.kwarg is not None:
        out.add(args.kwarg.id)
    for node in nodes.walk(fn):
        if isinstance(node, gast.Name) and isinstance(node.ctx, gast.Store):
            out.add(node.id)
    return out



def _contains(nodes_, types, stop=()):
    for node in nodes_:
        stack = [node]
        while stack:
            n = stack.pop()
            if isinstance(n, types):
                return True
            if isinstance(n, stop):
                continue
            stack.extend(gast.iter_child_nodes(n))
    return False


def _stored_names(target):
    """The names an assignment target binds (``v0, (a, b)`` binds three)."""
    return {n.id for n in nodes.walk(target)
            if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store)}


def _target_leaves(target):
    """The single targets of an assignment target, through tuple and list
    unpacking (``A[0], (b, d["k"]) = ...``: ``A[0]``, ``b``, ``d["k"]``)."""
    if isinstance(target, (gast.Tuple, gast.List)):
        return [leaf for e in target.elts for leaf in _target_leaves(e)]
    if isinstance(target, gast.Starred):
        return _target_leaves(target.value)
    return [target]


class NormalizerBase:
    """The state the normalization steps share (see pipeline.Normalizer)."""

    def __init__(self, info, namer, resolve, inject):
        self.info = info
        self.namer = namer
        self.resolve = resolve  # callable(node) -> live object or None
        self.inject = inject    # callable(ident, obj) -> name in generated code
        self.locals = local_names(info.node)
        self.local_fns = {}
        self.retval = self.ret_go = None


    def _temp(self, prefix="t"):
        name = self.namer.temp(prefix)
        self.locals.add(name)
        return name


    def _fresh(self, base):
        name = self.namer.fresh(base)
        self.locals.add(name)
        return name


    def _builtin(self, name):
        """A builtin the generated code calls (range, len, min), under a
        name the user's function does not rebind."""
        return nodes.name(self.inject(name, getattr(builtins, name)))


    def _is_builtin(self, node, name):
        # by what the name resolves to: an alias (e = enumerate) is the builtin too
        return (isinstance(node, gast.Name) and node.id not in self.locals
                and self.resolve(node) is getattr(builtins, name))


    def _is_static_ref(self, node):
        """A Name/Attribute chain rooted at a non-local name (np.pi, math.e)."""
        while isinstance(node, gast.Attribute):
            node = node.value
        return isinstance(node, gast.Name) and node.id not in self.locals


    def _is_atom(self, node):
        return isinstance(node, (gast.Name, gast.Constant)) or (
            isinstance(node, gast.Attribute) and self._is_static_ref(node))


    def _fresh_temps(self):
        """The temporaries bound to fresh values (read once, by the
        expression they were made for), shared with later passes."""
        if not hasattr(self.info, "fresh_temps"):
            self.info.fresh_temps = set()
        return self.info.fresh_temps
