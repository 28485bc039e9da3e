"""Pytree utilities: nested containers of arrays treated as one value.

A *pytree* is a leaf or a container of pytrees.  The containers are

* ``dict`` (and its subclasses ``collections.OrderedDict`` and
  ``collections.defaultdict``; other subclasses are rebuilt by calling their
  type with a list of ``(key, value)`` pairs): children in **insertion
  order**, exactly as Python iterates the dict.  Two dicts with the same keys
  in different orders have the same structure for ``tree_map`` (values are
  matched by key; the result follows the first tree's order), but not for
  ``tree_flatten`` / ``tree_unflatten``, whose leaf order is the first tree's
  insertion order.
* ``list`` and ``tuple`` (kept apart: a list is never rebuilt as a tuple);
* ``NamedTuple`` / ``collections.namedtuple`` instances: children in field
  order, rebuilt as the same type;
* dataclass instances: children in field order (every field is a child),
  rebuilt as the same type;
* ``None``: an empty container (no leaves), so ``tree_map`` leaves it as
  ``None``, like JAX.

Everything else (arrays, Python and NumPy scalars, strings, other objects) is
a leaf.  The functions here never modify their arguments.

``ravel(tree)`` packs the floating-point leaves of a tree into one float64
vector and returns the function that unpacks such a vector into a tree of
the original structure, shapes and dtypes (for ``scipy.optimize``).
"""
import collections
import dataclasses

import numpy as np

__all__ = ["TreeDef", "TreeStructureError", "tree_flatten", "tree_unflatten", "tree_leaves", "leaf_paths",
           "tree_structure", "tree_map", "tree_add", "tree_sub", "tree_scale",
           "tree_zeros_like", "tree_vdot", "ravel"]


def _is_namedtuple(x):
    return isinstance(x, tuple) and hasattr(type(x), "_fields")


def _is_dataclass_instance(x):
    return dataclasses.is_dataclass(x) and not isinstance(x, type)


def _node(x):
    """``(kind, meta, children)`` for a container, ``None`` for a leaf.

    ``meta`` is hashable and, with ``kind``, enough to rebuild the node."""
    if x is None:
        return "none", None, ()
    if isinstance(x, dict):
        extra = x.default_factory if isinstance(x, collections.defaultdict) else None
        return "dict", (type(x), tuple(x), extra), tuple(x.values())
    if isinstance(x, list):
        return "list", type(x), tuple(x)
    if _is_namedtuple(x):
        return "namedtuple", type(x), tuple(x)
    if isinstance(x, tuple):
        return "tuple", type(x), tuple(x)
    if _is_dataclass_instance(x):
        names = tuple(f.name for f in dataclasses.fields(x))
        return "dataclass", (type(x), names), tuple(getattr(x, n) for n in names)
    return None


def _rebuild(kind, meta, children):
    if kind == "none":
        return None
    if kind == "dict":
        cls, keys, factory = meta
        items = list(zip(keys, children))
        if cls is dict:
            return dict(items)
        if issubclass(cls, collections.defaultdict):
            out = cls(factory)
            out.update(items)
            return out
        return cls(items)
    if kind == "list":
        return list(children) if meta is list else meta(children)
    if kind == "namedtuple":
        return meta(*children)
    if kind == "tuple":
        return tuple(children) if meta is tuple else meta(children)
    cls, names = meta                      # dataclass
    values = dict(zip(names, children))
    init = {f.name: values[f.name] for f in dataclasses.fields(cls) if f.init}
    out = cls(**init)
    for f in dataclasses.fields(cls):
        if not f.init:
            object.__setattr__(out, f.name, values[f.name])
    return out


class TreeDef:
    """The structure of a pytree (everything but its leaves).

    Immutable, hashable and comparable: two trees have equal ``TreeDef`` s
    exactly when ``tree_unflatten`` would rebuild the same containers (same
    types, same dict keys in the same order).  ``num_leaves`` is the number of
    leaves ``tree_unflatten`` expects."""

    __slots__ = ("kind", "meta", "children", "num_leaves", "_hash")

    def __init__(self, kind, meta, children):
        self.kind = kind
        self.meta = meta
        self.children = tuple(children)
        self.num_leaves = (1 if kind == "leaf"
                           else sum(c.num_leaves for c in self.children))
        try:
            self._hash = hash((kind, meta, self.children))
        except TypeError:              # e.g. an unhashable defaultdict factory
            self._hash = hash((kind, self.children))

    def __eq__(self, other):
        return (isinstance(other, TreeDef) and self.kind == other.kind
                and self.meta == other.meta and self.children == other.children)

    def __hash__(self):
        return self._hash

    def __repr__(self):
        return f"TreeDef({self._show()})"

    def _show(self):
        kind, meta, ch = self.kind, self.meta, self.children
        if kind == "leaf":
            return "*"
        if kind == "none":
            return "None"
        if kind == "dict":
            body = ", ".join(f"{k!r}: {c._show()}" for k, c in zip(meta[1], ch))
            return "{" + body + "}" if meta[0] is dict else f"{meta[0].__name__}({{{body}}})"
        if kind == "list":
            return "[" + ", ".join(c._show() for c in ch) + "]"
        if kind == "tuple":
            body = ", ".join(c._show() for c in ch)
            return "(" + body + ("," if len(ch) == 1 else "") + ")"
        names = meta._fields if kind == "namedtuple" else meta[1]
        cls = meta if kind == "namedtuple" else meta[0]
        body = ", ".join(f"{n}={c._show()}" for n, c in zip(names, ch))
        return f"{cls.__name__}({body})"

    def unflatten(self, leaves):
        """Same as ``tree_unflatten(self, leaves)``."""
        return tree_unflatten(self, leaves)


_LEAF = TreeDef("leaf", None, ())


def _flatten(x, leaves):
    node = _node(x)
    if node is None:
        leaves.append(x)
        return _LEAF
    kind, meta, children = node
    return TreeDef(kind, meta, [_flatten(c, leaves) for c in children])


def tree_flatten(tree):
    """``(leaves, treedef)``: the leaves of ``tree`` in order (depth first;
    dicts in insertion order) and its structure.  ``None`` has no leaves."""
    leaves = []
    treedef = _flatten(tree, leaves)
    return leaves, treedef


def tree_leaves(tree):
    """The leaves of ``tree`` in ``tree_flatten`` order."""
    return tree_flatten(tree)[0]


def tree_structure(tree):
    """The ``TreeDef`` of ``tree``."""
    return tree_flatten(tree)[1]


def tree_unflatten(treedef, leaves):
    """The tree of structure ``treedef`` with the given leaves (in
    ``tree_flatten`` order); the inverse of ``tree_flatten``."""
    if not isinstance(treedef, TreeDef):
        raise TypeError(f"tree_unflatten: expected a TreeDef (from tree_flatten) "
                        f"as the first argument, got {type(treedef).__name__}")
    leaves = list(leaves)
    if len(leaves) != treedef.num_leaves:
        raise ValueError(f"tree_unflatten: {treedef} has {treedef.num_leaves} "
                         f"leaves, got {len(leaves)}")
    it = iter(leaves)

    def build(td):
        if td.kind == "leaf":
            return next(it)
        return _rebuild(td.kind, td.meta, [build(c) for c in td.children])
    return build(treedef)


def _path_str(path):
    """``path``: (is_attribute, key) pairs from the root."""
    return "".join(f".{k}" if attr else f"[{k!r}]" for attr, k in path) or "the root"


def leaf_paths(tree):
    """The location of every leaf of ``tree`` in ``tree_flatten`` order, as
    text: ``['W1']``, ``[0].b`` (``.name``: a NamedTuple or dataclass
    field), ``the root`` for a tree that is a single leaf."""
    out = []

    def walk(x, path):
        node = _node(x)
        if node is None:
            out.append(_path_str(path))
            return
        kind, meta, children = node
        for label, c in zip(_labels(kind, meta, children), children):
            walk(c, path + (label,))
    walk(tree, ())
    return out


def _labels(kind, meta, children):
    if kind == "dict":
        return [(False, k) for k in meta[1]]
    if kind in ("dataclass", "namedtuple"):
        return [(True, n) for n in (meta[1] if kind == "dataclass" else meta._fields)]
    return [(False, j) for j in range(len(children))]


def _describe(x):
    node = _node(x)
    if node is None:
        return f"a leaf ({type(x).__name__})"
    kind, meta, children = node
    if kind == "dict":
        return f"a {meta[0].__name__} with keys {list(meta[1])!r}"
    if kind == "none":
        return "None"
    if kind == "dataclass":
        return f"a {meta[0].__name__} dataclass"
    return f"a {type(x).__name__} of length {len(children)}"


class TreeStructureError(ValueError):
    """Trees that should have the same structure do not.  ``where`` is the
    path of the first difference (``['W'][0]``, ``the root``), ``expected``
    and ``got`` describe the two subtrees there, ``index`` is the position
    of the differing tree among ``tree_map``'s trees (1 = the second)."""

    def __init__(self, index, where, expected, got):
        super().__init__(
            f"tree_map: tree {index + 1} does not have the structure of the first "
            f"tree at {where}: expected {expected}, got {got}")
        self.index, self.where, self.expected, self.got = index, where, expected, got


def _mismatch(i, path, x, y):
    return TreeStructureError(i + 1, _path_str(path), _describe(x), _describe(y))


def _map(f, x, rest, path):
    node = _node(x)
    if node is None:
        for i, y in enumerate(rest):
            if _node(y) is not None:
                raise _mismatch(i, path, x, y)
        return f(x, *rest)
    kind, meta, children = node
    others = []
    for i, y in enumerate(rest):
        ynode = _node(y)
        if ynode is None or ynode[0] != kind:
            raise _mismatch(i, path, x, y)
        if kind == "dict":
            if set(meta[1]) != set(ynode[1][1]):
                raise _mismatch(i, path, x, y)
            others.append([y[k] for k in meta[1]])
        else:
            if ynode[1] != meta or len(ynode[2]) != len(children):
                raise _mismatch(i, path, x, y)
            others.append(ynode[2])
    labels = _labels(kind, meta, children)
    out = [_map(f, c, [o[j] for o in others], path + (label,))
           for j, (c, label) in enumerate(zip(children, labels))]
    return _rebuild(kind, meta, out)


def tree_map(f, tree, *rest):
    """The tree of ``f(leaf, *matching leaves of rest)``, shaped like ``tree``.

    Every tree in ``rest`` must have the structure of ``tree`` (the same
    containers; dict keys matched by name, in any order; a leaf where
    ``tree`` has a leaf, never a container or ``None``); a ``ValueError``
    (a ``TreeStructureError``) names the first place where they differ.
    Returns a new tree: no
    container of the arguments is reused or modified."""
    if not callable(f):
        raise TypeError(f"tree_map: the first argument must be a function, got "
                        f"{type(f).__name__}")
    return _map(f, tree, rest, ())


def tree_add(a, b):
    """Leafwise ``a + b``."""
    return tree_map(lambda x, y: x + y, a, b)


def tree_sub(a, b):
    """Leafwise ``a - b``."""
    return tree_map(lambda x, y: x - y, a, b)


def tree_scale(tree, s):
    """Every leaf multiplied by the scalar ``s``."""
    return tree_map(lambda x: x * s, tree)


def tree_zeros_like(tree):
    """A tree of zeros with the structure, shapes and dtypes of ``tree``
    (Python float leaves become ``0.0``)."""
    return tree_map(_zeros_like, tree)


def _zeros_like(x):
    if isinstance(x, (float, int, complex)) and not isinstance(x, bool):
        return type(x)(0)
    return np.zeros_like(x)


def tree_vdot(a, b):
    """``sum over leaves of np.vdot(a_leaf, b_leaf)`` (a Python float for real
    trees): the inner product of two trees of the same structure."""
    total = 0.0
    for p in tree_leaves(tree_map(lambda u, v: np.vdot(np.asarray(u), np.asarray(v)),
                                  a, b)):
        total = total + p
    return total.item() if isinstance(total, np.generic) else total


def ravel(tree):
    """``(vector, unravel)``: the leaves of ``tree`` concatenated into one
    1-D float64 vector, and the function mapping such a vector back to a tree
    with the structure, leaf shapes and leaf dtypes of ``tree``.

    Leaves must be floating point (float16/32/64 arrays or scalars, Python
    floats); Python float leaves come back as Python floats, NumPy arrays as
    new arrays of their original dtype (never views of the vector).  Made
    for ``scipy.optimize.minimize(fun, x0, jac=...)`` on a tree of
    parameters::

        x0, unravel = ravel(params)
        res = minimize(lambda v: loss(unravel(v)), x0,
                       jac=lambda v: ravel(grad(loss)(unravel(v)))[0])
        params = unravel(res.x)
    """
    leaves, treedef = tree_flatten(tree)
    specs = []
    for i, leaf in enumerate(leaves):
        if isinstance(leaf, float):
            specs.append((float, (), None))
            continue
        a = np.asarray(leaf) if isinstance(leaf, (np.ndarray, np.generic)) else None
        if a is None or not np.issubdtype(a.dtype, np.floating):
            what = (f"an array of dtype {a.dtype}" if a is not None
                    else f"of type {type(leaf).__name__}")
            raise TypeError(
                f"ravel: the leaf at {leaf_paths(tree)[i]} is {what}; ravel packs floating-"
                f"point leaves only (float arrays, NumPy float scalars, Python "
                f"floats): keep integer, complex and other values out of the "
                f"tree you ravel")
        specs.append((type(leaf) if isinstance(leaf, np.generic) else np.ndarray,
                      a.shape, a.dtype))
    sizes = [int(np.prod(s[1], dtype=np.int64)) for s in specs]
    total = sum(sizes)
    vector = (np.concatenate([np.asarray(x, dtype=np.float64).ravel() for x in leaves])
              if leaves else np.zeros(0))

    def unravel(v):
        v = np.asarray(v)
        if v.ndim != 1 or v.shape[0] != total:
            raise ValueError(f"unravel: expected a 1-D vector of length {total}, "
                             f"got shape {v.shape}")
        if not (np.issubdtype(v.dtype, np.floating)
                or np.issubdtype(v.dtype, np.integer)):
            raise TypeError(f"unravel: expected a real vector, got dtype {v.dtype}")
        out, start = [], 0
        for (kind, shape, dtype), n in zip(specs, sizes):
            chunk = v[start:start + n]
            start += n
            if kind is float:
                out.append(float(chunk[0]))
            elif kind is np.ndarray:
                out.append(chunk.reshape(shape).astype(dtype, copy=True))
            else:
                out.append(dtype.type(chunk[0]))
        return tree_unflatten(treedef, out)

    return vector, unravel
