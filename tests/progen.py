"""Random Python + NumPy programs for differential testing of ad_compiler.

Two generators share one grammar engine (``_Gen``):

* ``programs(cfg)`` -- a hypothesis strategy of programs written in the
  *supported subset*: straight-line NumPy with broadcasting over the shapes
  ``(), (2,), (3,), (2, 3), (3, 2), (1, 3), (2, 1)``, smooth elementwise
  functions on safe domains, reductions (axis / keepdims), ``@`` / ``dot`` /
  ``outer`` / ``stack`` / ``concatenate``, indexing, slicing, fancy indexing,
  ``None`` / ``...``, methods (``.sum()``, ``.T``, ``.reshape``, ...),
  ``if``/``elif``/``else`` and conditional expressions on data,
  ``for i in range(k)``, ``for row in X``, ``enumerate``, ``zip``, capped
  ``while`` loops with a data-dependent exit, ``break``, ``continue``,
  early ``return``, augmented assignment (also into items), tuple unpacking
  and calls of module-level helpers (two levels, keyword arguments, an
  active keyword argument).  Values stay bounded (tanh / sin / cos around
  loop-carried updates, divisions by ``1 + e**2``, ``exp`` of bounded
  arguments) and the generator never aliases an array it later updates in
  place (so plain Python semantics is the reference).
* ``fence_programs(cfg)`` -- the same programs with "foreign" statements and
  expressions mixed in (``EXOTIC_STMTS`` / ``EXOTIC_EXPRS``: try, with,
  yield, global, nonlocal, lambda, comprehensions, del, class, match,
  walrus, nested async def, starred targets and displays, f-strings,
  dict/set displays, nested defs, exec/eval, chained comparisons, ellipsis,
  assert/raise, item assignment, aliasing + in-place update, list
  mutation, annotated assignment, while-else, ``out=``, in-place methods,
  unregistered NumPy functions, ...).

Both also mix in, at modest rates (``Config.extra`` per expression /
statement, ``Config.specials`` per module-level construct), the constructs
of ``EXTRA_FEATURES``: unary ``-``/``+`` in any operand position, double
negation, negative literals, ``y = -x; -y * -x - (-x)``; ``*args`` helpers
(``cat(W, *args)``, ``total(*xs)``); pytree parameters (a list of (W, b)
tuples, a dict) passed twice to one helper and read by two helpers,
``dict.get`` with and without default; nested list displays, ``np.r_``,
``np.c_``, ``vstack`` / ``hstack`` / ``column_stack``, ``zip(*helper(p))``;
helpers updating an array argument in place and writes through dict
subscripts of a parameter (oracle: plain Python, or a well-located
refusal); ``functools.wraps`` and plain decorators on helpers and on the
entry point; a global alias (``act = np.tanh``) and a helper rebound in the
module between calls (``Program.rebind``: checked before and after);
parameters / locals renamed to builtin names (``sum``, ``range``...);
complex intermediates with a real result (the gradient must be real).

``Config.avoid`` leaves out constructs by feature name; ``KNOWN_BUG_AVOID``
(and ``KNOWN_BUG_AVOID_FENCE``) name the constructs behind the known bugs
so that tests and long runs can look for new ones.

A generated ``Program`` is a whole module's source text.  ``load()`` writes
it into a real ``.py`` file (the compiler reads source with ``inspect``) and
imports it.

The oracle (``check_program`` / ``check_fence_program``) compares every
derivative the API computes with central finite differences in float64
(over every leaf of pytree arguments, through a wrapper that deep-copies
the inputs), and the primal values it returns with the plain run; each API
call gets its own deep copy of the arguments, which must come back
unmodified.  Points near a branch
switch (finite differences with two step sizes disagree, or the stencil
midpoint disagrees with the value) are rejected (``Discard``) and another
point is tried.  ``minimize()`` reduces a failing program (AST-level
deletion / replacement while the same failure signature persists).

Every choice goes through a chooser: ``HypothesisChooser`` (every choice a
hypothesis draw, shrinkable) or ``RandomChooser`` (a seeded
``random.Random``; ``programs()`` draws the seed from hypothesis, and
``tests/fuzz_long.py`` uses it directly).
"""
import dataclasses
import importlib.util
import itertools
import os
import random
import sys
import tempfile
import traceback
import warnings
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

# --------------------------------------------------------------------------
# choosers
# --------------------------------------------------------------------------


class RandomChooser:
    def __init__(self, seed):
        self.rng = random.Random(seed)

    def integer(self, lo, hi):
        return self.rng.randint(lo, hi)


class HypothesisChooser:
    def __init__(self, draw):
        from hypothesis import strategies as st
        self._st = st
        self.draw = draw

    def integer(self, lo, hi):
        return self.draw(self._st.integers(lo, hi))


# --------------------------------------------------------------------------
# shapes and templates
# --------------------------------------------------------------------------

SHAPES = [(), (3,), (2, 3), (2,), (1, 3), (2, 1), (3, 2)]
ARRAY_SHAPES = [s for s in SHAPES if s]


def _bcast(a, b):
    try:
        return tuple(np.broadcast_shapes(a, b))
    except ValueError:
        return None


BCAST_PAIRS = {S: [(a, b) for a in SHAPES for b in SHAPES if _bcast(a, b) == S]
               for S in SHAPES}

# (from, to, template, feature) -- unary shape transforms of an expression
_IDX = {"r2": ["0", "1", "-1"], "c3": ["0", "1", "2", "-1"], "c2": ["0", "1", "-1"],
        "r3": ["0", "1", "2", "-1"]}
TRANSFORMS = [
    # views, indexing, slicing, methods
    ((2, 3), (3, 2), "{e}.T", "attr_T"),
    ((3, 2), (2, 3), "{e}.T", "attr_T"),
    ((2, 3), (3, 2), "np.transpose({e})", "transpose"),
    ((3, 2), (2, 3), "{e}.reshape(2, 3)", "method_reshape"),
    ((2, 3), (3, 2), "np.reshape({e}, (3, 2))", "reshape"),
    ((3, 2), (2, 3), "{e}.reshape((2, 3))", "method_reshape"),
    ((2, 3), (3,), "{e}[{r2}]", "index"),
    ((2, 3), (2,), "{e}[:, {c3}]", "index"),
    ((2, 3), (2, 3), "{e}[::-1]", "slice"),
    ((2, 3), (1, 3), "{e}[1:]", "slice"),
    ((2, 3), (2, 1), "{e}[:, 1:2]", "slice"),
    ((2, 3), (), "{e}[{r2}, {c3}]", "index"),
    ((2, 3), (2,), "{e}[:, ::2][:, 1]", "slice"),
    ((3, 2), (3,), "{e}[:, {c2}]", "index"),
    ((3, 2), (2,), "{e}[{r3}]", "index"),
    ((3, 2), (2, 2 + 0), "{e}[1:]", "slice"),
    ((3,), (), "{e}[{r3}]", "index"),
    ((3,), (2,), "{e}[1:]", "slice"),
    ((3,), (2,), "{e}[:-1]", "slice"),
    ((3,), (2,), "{e}[::2]", "slice"),
    ((3,), (3,), "{e}[::-1]", "slice"),
    ((3,), (1, 3), "{e}.reshape(1, 3)", "method_reshape"),
    ((3,), (1, 3), "{e}[None, :]", "newaxis"),
    ((3,), (1, 3), "np.expand_dims({e}, 0)", "expand_dims"),
    ((2,), (), "{e}[{r2}]", "index"),
    ((2,), (2, 1), "{e}.reshape(2, 1)", "method_reshape"),
    ((2,), (2, 1), "{e}[:, None]", "newaxis"),
    ((2,), (2, 1), "np.expand_dims({e}, 1)", "expand_dims"),
    ((2,), (2,), "{e}[::-1]", "slice"),
    ((1, 3), (3,), "{e}[0]", "index"),
    ((1, 3), (3,), "{e}.reshape(3)", "method_reshape"),
    ((1, 3), (3,), "np.squeeze({e})", "squeeze"),
    ((1, 3), (3,), "{e}.ravel()", "method_ravel"),
    ((1, 3), (), "{e}[0, {c3}]", "index"),
    ((2, 1), (2,), "{e}[:, 0]", "index"),
    ((2, 1), (2,), "{e}.ravel()", "method_ravel"),
    ((2, 1), (2,), "np.ravel({e})", "ravel"),
    ((2, 1), (), "{e}[{r2}, 0]", "index"),
    # reductions
    ((2, 3), (3,), "np.sum({e}, axis=0)", "sum_axis"),
    ((2, 3), (3,), "np.mean({e}, axis=0)", "mean_axis"),
    ((2, 3), (3,), "{e}.sum(axis=0)", "method_sum"),
    ((2, 3), (3,), "np.max({e}, axis=0)", "max_axis"),
    ((2, 3), (2,), "np.sum({e}, axis=1)", "sum_axis"),
    ((2, 3), (2,), "np.mean({e}, axis=-1)", "mean_axis"),
    ((2, 3), (2,), "{e}.max(axis=1)", "method_max"),
    ((2, 3), (2,), "np.min({e}, axis=1)", "min_axis"),
    ((2, 3), (1, 3), "np.sum({e}, axis=0, keepdims=True)", "keepdims"),
    ((2, 3), (1, 3), "np.max({e}, axis=0, keepdims=True)", "keepdims"),
    ((2, 3), (1, 3), "{e}.mean(axis=0, keepdims=True)", "keepdims"),
    ((2, 3), (2, 1), "np.sum({e}, axis=1, keepdims=True)", "keepdims"),
    ((2, 3), (2, 1), "np.mean({e}, axis=1, keepdims=True)", "keepdims"),
    ((2, 3), (2, 1), "np.max({e}, axis=-1, keepdims=True)", "keepdims"),
    ((3, 2), (2,), "np.sum({e}, axis=0)", "sum_axis"),
    ((3, 2), (3,), "np.mean({e}, axis=1)", "mean_axis"),
    ((1, 3), (3,), "np.sum({e}, axis=0)", "sum_axis"),
    ((2, 1), (2,), "np.mean({e}, axis=1)", "mean_axis"),
    ((1, 3), (3,), "{e}.flatten()", "method_flatten"),
    ((2, 1), (2,), "{e}.squeeze()", "method_squeeze"),
    ((3,), (1, 3), "{e}[np.newaxis, :]", "newaxis"),
    ((2,), (2, 1), "{e}[..., None]", "ellipsis_index"),
    ((2, 3), (2,), "{e}.min(axis=1)", "method_min"),
    ((3, 2), (3,), "{e}.prod(axis=1)", "method_prod"),
    ((2, 3), (2, 3), "{e}.copy()", "method_copy"),
    ((3,), (3,), "{e}.astype(float)", "method_astype"),
    ((3, 2), (3, 2), "{e}.clip(-1.0, 1.0)", "method_clip"),
    ((2, 3), (3,), "{e}[-1, :]", "index"),
    ((2, 3), (2, 2), "{e}[:, 1:]", "slice"),
    ((2, 3), (2,), "{e}[[0, 1], [2, 0]]", "fancy_index"),
    ((3,), (2,), "{e}[np.array([2, 0])]", "fancy_index"),
]
TRANSFORMS = [t for t in TRANSFORMS if t[1] in SHAPES]
REDUCE_ALL = [
    ("{e}.min()", "method_min"), ("{e}.prod()", "method_prod"),
    ("np.sum({e})", "sum"), ("np.mean({e})", "mean"), ("{e}.sum()", "method_sum"),
    ("{e}.mean()", "method_mean"), ("np.max({e})", "max"), ("{e}.max()", "method_max"),
    ("np.min({e})", "min"), ("np.prod({e})", "prod"), ("np.linalg.norm({e})", "norm"),
]
# (a, b, out, template, feature)
MATMUL = [
    ((3,), (3,), (), "{a} @ {b}", "matmul"),
    ((3,), (3,), (), "np.dot({a}, {b})", "dot"),
    ((3,), (3,), (), "{a}.dot({b})", "method_dot"),
    ((2,), (2,), (), "{a} @ {b}", "matmul"),
    ((2, 3), (3,), (2,), "{a} @ {b}", "matmul"),
    ((2, 3), (3,), (2,), "np.dot({a}, {b})", "dot"),
    ((2, 3), (3,), (2,), "{a}.dot({b})", "method_dot"),
    ((2,), (2, 3), (3,), "{a} @ {b}", "matmul"),
    ((3, 2), (2,), (3,), "{a} @ {b}", "matmul"),
    ((2, 1), (1, 3), (2, 3), "{a} @ {b}", "matmul"),
    ((2,), (3,), (2, 3), "np.outer({a}, {b})", "outer"),
    ((3,), (2,), (3, 2), "np.outer({a}, {b})", "outer"),
    ((2, 3), (3, 2), (2, 2 + 0), "{a} @ {b}", "matmul"),
    ((3,), (3,), (2, 3), "np.stack(({a}, {b}))", "stack"),
    ((3,), (3,), (3, 2), "np.stack(({a}, {b}), axis=1)", "stack"),
    ((1, 3), (1, 3), (2, 3), "np.concatenate(({a}, {b}))", "concatenate"),
    ((2,), (2,), (2,), "np.concatenate(({a}, {b}))[1:3]", "concatenate"),
]
MATMUL = [m for m in MATMUL if m[2] in SHAPES]
# elementwise, shape preserving; all bounded for bounded inputs
UNARY = [
    ("np.sin({e})", "sin"), ("np.cos({e})", "cos"), ("np.tanh({e})", "tanh"),
    ("np.exp(np.tanh({e}))", "exp"), ("np.exp(-np.square({e}))", "exp"),
    ("np.log(1.0 + np.square({e}))", "log"), ("np.log1p(({e}) * ({e}))", "log1p"),
    ("np.sqrt(1.0 + ({e}) ** 2)", "sqrt"), ("np.square({e})", "square"),
    ("({e}) ** 2", "pow"), ("np.arctan({e})", "arctan"),
    ("1.0 / (1.0 + np.square({e}))", "div"), ("-({e})", "neg"),
    ("0.5 * ({e})", "scale"), ("np.sinh(np.sin({e}))", "sinh"),
    ("np.cosh(np.tanh({e}))", "cosh"), ("({e}) ** 3", "pow"),
    ("np.expm1(np.tanh({e}))", "expm1"), ("np.power({e}, 2)", "power"),
    ("np.abs({e})", "abs"), ("np.maximum({e}, 0.0)", "relu"),
    ("np.clip({e}, -0.5, 0.5)", "clip"),
]
# binary elementwise: a and b of shapes broadcasting to the target
BINARY = [
    ("{a} + {b}", "add"), ("{a} - {b}", "sub"), ("{a} * {b}", "mul"),
    ("{a} / (1.0 + np.square({b}))", "div"), ("np.add({a}, {b})", "np_add"),
    ("np.multiply({a}, {b})", "np_mul"), ("np.subtract({a}, {b})", "np_sub"),
    ("np.maximum({a}, {b})", "maximum"), ("np.minimum({a}, {b})", "minimum"),
]
CONSTS = ["0.0", "0.25", "-0.5", "0.5", "1.0", "-0.25"]
COEFS = ["0.5", "0.3", "0.9", "1.5", "0.1", "2.0"]


def shape_src(S):
    return repr(tuple(S))


def const_array(S, k):
    n = int(np.prod(S))
    sh = str(S[0]) if len(S) == 1 else shape_src(S)
    forms = [f"np.ones({sh})", f"np.full({shape_src(S)}, 0.75)",
             f"np.linspace(-1.0, 1.0, {n})" if len(S) == 1 else
             f"np.linspace(-1.0, 1.0, {n}).reshape({sh})",
             f"np.arange({n})" if len(S) == 1 else f"np.arange({n}).reshape({sh})"]
    return forms[k % len(forms)]


# --------------------------------------------------------------------------
# programs
# --------------------------------------------------------------------------

@dataclass
class Leaf:
    """A float leaf of a pytree parameter's structure (``Param.spec``)."""
    shape: tuple = ()


@dataclass
class Param:
    name: str
    kind: str        # "float" | "int" | "tree"
    shape: tuple = ()
    value: int = 0   # for ints
    spec: object = None   # for trees: dict / list / tuple of specs, or Leaf


class PTup(NamedTuple):
    """A NamedTuple record of parameters (imported by generated programs)."""
    W: object
    b: object


@dataclass
class PRec:
    """A dataclass record of parameters (imported by generated programs)."""
    W: object
    b: object


def _is_rec(v):
    """A NamedTuple or dataclass instance."""
    return (isinstance(v, tuple) and hasattr(type(v), "_fields")) or \
        (dataclasses.is_dataclass(v) and not isinstance(v, type))


def _rec_items(v):
    """(key, value) of a record: index for NamedTuples, field name for dataclasses."""
    if isinstance(v, tuple):
        return list(enumerate(v))
    return [(f.name, getattr(v, f.name)) for f in dataclasses.fields(v)]


def _tree_make(spec, rng):
    if isinstance(spec, Leaf):
        return float(rng.uniform(-1.5, 1.5)) if spec.shape == () else rng.uniform(-1.5, 1.5, spec.shape)
    if _is_rec(spec):
        return type(spec)(*[_tree_make(v, rng) for _, v in _rec_items(spec)])
    if isinstance(spec, dict):
        return {k: _tree_make(v, rng) for k, v in spec.items()}
    return type(spec)(_tree_make(v, rng) for v in spec)


def _spec_of(value):
    if _is_rec(value):
        return type(value)(*[_spec_of(v) for _, v in _rec_items(value)])
    if isinstance(value, dict):
        return {k: _spec_of(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_spec_of(v) for v in value)
    return Leaf(tuple(np.shape(value)))


def _tree_paths(value, path=()):
    """Paths (tuples of keys / indices) of the leaves of a pytree, in order."""
    if _is_rec(value):
        return [q for k, v in _rec_items(value) for q in _tree_paths(v, path + (k,))]
    if isinstance(value, dict):
        return [q for k, v in value.items() for q in _tree_paths(v, path + (k,))]
    if isinstance(value, (list, tuple)):
        return [q for k, v in enumerate(value) for q in _tree_paths(v, path + (k,))]
    return [path]


def _tree_get(value, path):
    for k in path:
        value = getattr(value, k) if isinstance(k, str) and _is_rec(value) else value[k]
    return value


def _tree_set(value, path, leaf):
    """A copy of the containers along ``path`` with ``leaf`` at ``path``."""
    if not path:
        return leaf
    k = path[0]
    if _is_rec(value):
        vals = [_tree_set(v, path[1:], leaf) if j == k else v for j, v in _rec_items(value)]
        return type(value)(*vals)
    if isinstance(value, dict):
        out = dict(value)
        out[k] = _tree_set(value[k], path[1:], leaf)
        return out
    items = list(value)
    items[k] = _tree_set(items[k], path[1:], leaf)
    return type(value)(items)


def _tree_equal(a, b):
    if _is_rec(a) or _is_rec(b):
        return type(a) is type(b) and all(_tree_equal(x, y) for (_, x), (_, y) in
                                          zip(_rec_items(a), _rec_items(b)))
    if isinstance(a, dict) or isinstance(b, dict):
        return isinstance(a, dict) and isinstance(b, dict) and list(a) == list(b) and \
            all(_tree_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and \
            all(_tree_equal(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and np.array_equal(np.asarray(a), np.asarray(b))


@dataclass
class Program:
    source: str
    name: str
    params: list
    out: str                     # "scalar" | "array" | "any"
    features: set = field(default_factory=set)
    seed: int = 0                # seed of the input values
    first_line: int = 1          # line range of the entry function in the file
    last_line: int = 1
    args: tuple = None           # fixed inputs (hand-written repros)
    # module globals rebound after a first check, as (name, source of the new
    # value evaluated in the module); the derivative is checked again after
    rebind: tuple = ()
    # the module attribute differentiated (a lambda or functools.partial
    # wrapping ``name``), or None for ``name`` itself
    entry: str = None
    # also check second derivatives (oracle mode "grad2")
    grad2: bool = False

    def make_args(self, seed=None):
        if self.args is not None:
            return _copy(self.args)
        rng = np.random.default_rng(self.seed if seed is None else seed)
        args = []
        for p in self.params:
            if p.kind == "int":
                args.append(p.value)
            elif p.kind == "tree":
                args.append(_tree_make(p.spec, rng))
            elif p.shape == ():
                args.append(float(rng.uniform(-1.5, 1.5)))
            else:
                args.append(rng.uniform(-1.5, 1.5, p.shape))
        return tuple(args)

    @property
    def float_positions(self):
        """Positions of the differentiable parameters (floats and pytrees)."""
        return [i for i, p in enumerate(self.params) if p.kind in ("float", "tree")]

    def __str__(self):
        return self.source

    def __repr__(self):
        sig = ", ".join(f"{p.name}: {p.kind}{list(p.shape) if p.kind == 'float' else '=' + str(p.value)}"
                        for p in self.params)
        return f"<Program {self.name}({sig}) seed={self.seed}>\n{self.source}"


def program_from_source(source, args, name="f", out="any"):
    """A ``Program`` for hand-written source with fixed arguments."""
    params = []
    names = _param_names(source, name)
    for pname, a in zip(names, args):
        if isinstance(a, (bool, int, np.integer)):
            params.append(Param(pname, "int", (), int(a)))
        elif isinstance(a, (dict, list, tuple)) or _is_rec(a):
            params.append(Param(pname, "tree", (), 0, _spec_of(a)))
        else:
            params.append(Param(pname, "float", np.shape(a)))
    first, last = _entry_range(source, name)
    return Program(source, name, params, out, set(), 0, first, last, tuple(args))


def _param_names(source, name):
    import ast
    for n in ast.parse(source).body:
        if isinstance(n, ast.FunctionDef) and n.name == name:
            return [a.arg for a in n.args.args]
    raise ValueError(f"no function {name!r} in source")


@dataclass
class Config:
    control: bool = True       # if / elif / else, conditional expressions
    loops: bool = True         # for loops, break / continue
    whiles: bool = True
    helpers: bool = True
    early_return: bool = True
    out: str = "scalar"        # "scalar" | "array"
    max_stmts: int = 5
    exotic: float = 0.0        # probability weight of foreign constructs
    max_depth: int = 2
    # features never generated (exploration around known bugs): template
    # features (e.g. "attr_T") and "for_iter_rebind", "while_and_break",
    # "param_rebind"
    avoid: frozenset = frozenset()
    # the constructs of EXTRA_FEATURES (unary operators, pytrees, *args
    # helpers, displays and stacking, in-place helpers, decorators, global
    # rebinding, builtin shadowing, complex intermediates): probability per
    # expression / statement, and of each module-level special
    extra: float = 0.04
    specials: float = 0.12
    # the constructs of WIDE_FEATURES (enumerate with start, derivatives
    # called in the program, records, callables as values, einsum / append /
    # select / insert / delete, svd / qr, lambda or partial entry, the
    # oracle's second-derivative mode): probability per expression /
    # statement and, times 4, of each module-level one.  0 draws nothing
    # (the programs of a seed are those of before)
    wide: float = 0.0
    # probability of the second-derivative oracle mode ("grad2") when wide
    # is on; None: wide * 3 (the draw is the same, so a seed keeps its program)
    grad2: float = None


class _Scope:
    def __init__(self, vars=None, ints=None):
        self.vars = dict(vars or {})   # name -> shape (float values)
        self.ints = list(ints or [])   # names of int values

    def copy(self):
        return _Scope(self.vars, self.ints)


class _Helper:
    def __init__(self, name, params, kw, ret):
        self.name = name
        self.params = params          # [(name, shape)]
        self.kw = kw                  # (name, default) or None: a float keyword
        self.ret = ret                # shape, or tuple of two shapes


class _Gen:
    def __init__(self, chooser, cfg):
        self.c = chooser
        self.cfg = cfg
        self.counter = itertools.count()
        self.features = set()
        self.nonfresh = set()         # names that may alias another value
        self.helpers = []             # helpers callable from the function being built
        self.params = set()
        self.in_helper = False
        self.module_lines = []        # extra module-level lines (exotic)
        self.module_globals = set()
        self.n_lines = 0
        self.frozen = set()           # names that must not be rebound (avoid)
        self.mod = set()              # module-level extra constructs (specials())
        self.act = None
        self.rebind = ()
        self.wmod = set()             # module-level wide constructs (wide_specials())
        self.hs = None                # (shape of the scalar helper hs's parameter)
        self.grad2 = False

    # ---------------------------------------------------------------- choices
    def integer(self, lo, hi):
        return self.c.integer(lo, hi)

    def choice(self, seq):
        seq = list(seq)
        return seq[self.integer(0, len(seq) - 1)]

    def coin(self, p):
        """True with probability ``p``; shrinks towards False."""
        return self.integer(0, 999) >= int(round((1.0 - p) * 1000))

    def fresh(self, prefix):
        return f"{prefix}{next(self.counter)}"

    def feat(self, name):
        self.features.add(name)

    # ------------------------------------------------------------ expressions
    # An expression is (src, views): ``views`` names the variables whose
    # memory the value may share (empty when the value is a fresh array).

    def shape(self, scope):
        """A shape for a new value: mostly one already in scope."""
        have = sorted(set(scope.vars.values()))
        if have and self.coin(0.7):
            return self.choice(have)
        return self.choice(SHAPES)

    def fill(self, tpl, **kw):
        idx = {k: self.choice(v) for k, v in _IDX.items() if "{" + k + "}" in tpl}
        return tpl.format(**kw, **idx)

    def leaf(self, S, scope):
        same = [n for n, s in scope.vars.items() if s == S]
        if same and (self.coin(0.75) or len(scope.vars) == len(same)):
            n = self.choice(same)
            if self.cfg.extra and "unary_ops" not in self.cfg.avoid and self.coin(self.cfg.extra / 2):
                self.feat("unary_ops")
                form = self.choice(["-{n}", "+{n}", "-(-{n})", "- -{n}", "-+{n}"])
                return form.format(n=n), set()
            return n, {n}
        others = list(scope.vars.items())
        if not others:
            if S == ():
                return self.choice(CONSTS), set()
            return const_array(S, self.integer(0, 3)), set()
        n, F = self.choice(others)
        return self.adapt((n, {n}), F, S, scope)

    def adapt(self, e, F, S, scope):
        """An expression of shape S built from expression e of shape F."""
        src, views = e
        if F == S:
            return e
        direct = [t for t in TRANSFORMS if t[0] == F and t[1] == S and t[3] not in self.cfg.avoid]
        if direct and self.coin(0.7):
            t = self.choice(direct)
            self.feat(t[3])
            return self.fill(t[2], e=_par(src)), (views if t[3] in VIEW_FEATURES else set())
        if S == ():
            tpl, f = self.choice(REDUCE_ALL)
            self.feat(f)
            return self.fill(tpl, e=_par(src)), set()
        if F == () or _bcast(F, S) == S:
            self.feat("broadcast_const")
            return f"({src} * {const_array(S, self.integer(0, 3))})", set()
        # via a scalar
        tpl, f = self.choice(REDUCE_ALL[:4])
        self.feat(f)
        return self.adapt((self.fill(tpl, e=_par(src)), set()), (), S, scope)

    def expr(self, S, scope, d):
        if d <= 0 or self.coin(0.35):
            return self.leaf(S, scope)
        kinds = ["unary", "binary", "binary", "transform", "matmul"]
        if self.cfg.control:
            kinds += ["ifexp", "where"]
        if scope.ints:
            kinds.append("int")
        if S == ():
            kinds.append("reduce")
        helpers = [h for h in self.helpers if not isinstance(h.ret, list) and h.ret == S]
        if helpers:
            kinds += ["call", "call"]
        if self.cfg.exotic and self.coin(self.cfg.exotic):
            r = self.exotic_expr(S, scope, d)
            if r is not None:
                return r
        if self.cfg.extra and self.coin(self.cfg.extra * (4 if self.mod - {"deco"} else 1)):
            r = self.extra_expr(S, scope, d)
            if r is not None:
                return r
        if self.cfg.wide and self.coin(self.cfg.wide * (3 if self.wmod else 1)):
            r = _wide_expr(self, S, scope, d)
            if r is not None:
                return r
        k = self.choice(kinds)
        if k == "unary":
            tpl, f = self.choice([u for u in UNARY if u[1] not in self.cfg.avoid])
            self.feat(f)
            a, _ = self.expr(S, scope, d - 1)
            return self.fill(tpl, e=a), set()
        if k == "binary":
            A, B = (S, S) if self.coin(0.5) else self.choice(BCAST_PAIRS[S])
            tpl, f = self.choice([b for b in BINARY if b[1] not in self.cfg.avoid])
            self.feat(f)
            if A != S or B != S:
                self.feat("broadcasting")
            a, _ = self.expr(A, scope, d - 1)
            b, _ = self.expr(B, scope, d - 1)
            return "(" + self.fill(tpl, a=_par(a), b=_par(b)) + ")", set()
        if k == "transform":
            cands = [t for t in TRANSFORMS if t[1] == S and t[3] not in self.cfg.avoid]
            if not cands:
                return self.leaf(S, scope)
            t = self.choice(cands)
            self.feat(t[3])
            a, views = self.expr(t[0], scope, d - 1)
            return self.fill(t[2], e=_par(a)), (views if t[3] in VIEW_FEATURES else set())
        if k == "reduce":
            F = self.choice(ARRAY_SHAPES)
            tpl, f = self.choice(REDUCE_ALL)
            self.feat(f)
            a, _ = self.expr(F, scope, d - 1)
            a = a if _is_atom(a) else f"({a})"
            return self.fill(tpl, e=a), set()
        if k == "matmul":
            cands = [m for m in MATMUL if m[2] == S and m[4] not in self.cfg.avoid]
            if not cands:
                return self.expr(S, scope, d - 1)
            A, B, _, tpl, f = self.choice(cands)
            self.feat(f)
            a, _ = self.expr(A, scope, d - 1)
            b, _ = self.expr(B, scope, d - 1)
            a = a if _is_atom(a) else f"({a})"
            b = b if _is_atom(b) else f"({b})"
            return "(" + tpl.format(a=a, b=b) + ")", set()
        if k == "ifexp":
            self.feat("ifexp")
            c = self.cond(scope, d - 1)
            a, va = self.expr(S, scope, d - 1)
            b, vb = self.expr(S, scope, d - 1)
            return f"({a} if {c} else {b})", va | vb
        if k == "where":
            self.feat("where")
            C = self.choice([s for s in SHAPES if _bcast(s, S) == S])
            c, _ = self.expr(C, scope, d - 1)
            a, _ = self.expr(S, scope, d - 1)
            B = S if "where_broadcast" in self.cfg.avoid else \
                self.choice([s for s in SHAPES if _bcast(s, S) == S])    # BUG-17
            b, _ = self.expr(B, scope, d - 1)
            return f"np.where({c} > {self.choice(CONSTS)}, {a}, {b})", set()
        if k == "int":
            self.feat("int_arith")
            i = self.choice(scope.ints)
            a, _ = self.expr(S, scope, d - 1)
            form = self.integer(0, 6)
            if form == 5:
                self.feat("int_power")
                return f"np.tanh({a}) ** ({i} + 1)", set()
            if form == 6:
                arrays = [n for n, s in scope.vars.items() if s != ()]
                if arrays:
                    self.feat("shape_arith")
                    n = self.choice(arrays)
                    return f"({a}) * ({n}.shape[0] + len({n}) - {n}.ndim)", set()
            if form == 0:
                return f"({a}) * ({i} + 1)", set()
            if form == 1:
                return f"({a}) / ({i} + 2.0)", set()
            if form == 2:
                return f"np.sin(({a}) * {i})", set()
            if form == 3 and S == ():
                x3 = [n for n, s in scope.vars.items() if s == (3,)]
                if x3:
                    self.feat("int_index")
                    return f"{self.choice(x3)}[{i} % 3]", set()
            return f"({a}) * float({i})", set()
        if k == "call":
            h = self.choice(helpers)
            return self.call(h, scope, d), set(scope.vars)
        raise AssertionError(k)

    def call(self, h, scope, d):
        args = [self.expr(s, scope, max(d - 1, 0))[0] for _, s in h.params]
        style = self.integer(0, 2)
        parts = []
        if style == 0:
            parts = list(args)
        elif style == 1:
            self.feat("kwargs")
            parts = args[:1] + [f"{n}={a}" for (n, _), a in zip(h.params[1:], args[1:])]
        else:
            self.feat("kwargs_reordered")
            kws = [f"{n}={a}" for (n, _), a in zip(h.params, args)]
            parts = kws[::-1]
        if h.kw is not None and self.coin(0.6):
            self.feat("kw_default_override")
            if self.coin(0.5) and "active_kwarg" not in self.cfg.avoid:    # BUG-18
                self.feat("active_kwarg")
                val = f"np.tanh({self.expr((), scope, 1)[0]})"
            else:
                val = self.choice(COEFS)
            parts.append(f"{h.kw[0]}={val}")
        self.feat("helper_call")
        return f"{h.name}({', '.join(parts)})"

    def cond(self, scope, d):
        form = self.integer(0, 7)
        c = self.choice(CONSTS)
        if form == 0 or form == 1:
            a, _ = self.expr((), scope, max(d, 0))
            return f"{a} > {c}" if form == 0 else f"{a} < {c}"
        if form in (2, 3):
            arrays = [n for n, s in scope.vars.items() if s != ()]
            a = self.choice(arrays) if arrays else self.leaf(self.choice(ARRAY_SHAPES), scope)[0]
            if form == 2:
                return f"np.sum({a}) > {c}"
            return f"np.max({a}) < {self.choice(['0.5', '1.0', '1.2'])}"
        if form == 4:
            self.feat("boolop")
            return f"({self.cond(scope, d - 1)}) {self.choice(['and', 'or'])} ({self.cond(scope, d - 1)})"
        if form == 5:
            self.feat("not")
            return f"not ({self.cond(scope, d - 1)})"
        if form == 6 and scope.ints:
            i = self.choice(scope.ints)
            return self.choice([f"{i} % 2 == 0", f"{i} > 0", f"{i} == 1"])
        a, _ = self.expr((), scope, max(d - 1, 0))
        b, _ = self.expr((), scope, max(d - 1, 0))
        return f"{a} > {b}"

    # -------------------------------------------------------------- statements
    # A block is a list of (indent, text) lines; ``ctx`` holds:
    # loop (inside a loop), depth (nesting), ret (shape of the function's
    # return value, or None when early returns are not allowed)

    def block(self, scope, ctx, n):
        lines = []
        for _ in range(n):
            if self.budget <= 0 and lines:
                break
            lines += self.stmt(scope, ctx)
            if lines and lines[-1][0] == 0 and lines[-1][1].split(" ")[0] in ("return", "break", "continue"):
                break
        if not lines:
            if "pass_body" in self.cfg.avoid:
                lines = [(0, f"{self.fresh('k')} = 0")]
            else:
                self.feat("pass_body")
                lines = [(0, "pass")]
        return lines

    def bounded(self, name, S, scope, d):
        """RHS for a loop-carried reassignment of ``name``."""
        e, _ = self.expr(S, scope, d)
        form = self.integer(0, 3)
        if form == 0:
            return f"np.tanh({e})"
        if form == 1:
            return f"0.5 * {name} + 0.5 * np.sin({e})"
        if form == 2:
            return f"{name} * {self.choice(['0.9', '0.5', '0.7'])} + 0.1 * np.tanh({e})"
        return f"np.cos({e}) * 0.5"

    def assign(self, name, S, src, views, scope, ctx):
        scope.vars[name] = S
        if views or name in self.params:
            self.nonfresh.add(name)
            self.nonfresh.update(views)
        elif ctx["depth"] == 0:
            self.nonfresh.discard(name)

    def stmt(self, scope, ctx):
        cfg = self.cfg
        kinds = ["new", "new", "new", "reassign", "aug", "tuple", "setitem"]
        if cfg.control and ctx["depth"] < 2:
            kinds += ["if", "if"] if ctx["depth"] == 0 else ["if"]
        if cfg.loops and ctx["depth"] < 2:
            kinds += ["for", "for_iter"] if ctx["depth"] == 0 else ["for"]
        if cfg.whiles and ctx["depth"] < 2 and not ctx["loop"]:
            kinds += ["while"]
        if self.helpers:
            kinds += ["call_stmt"]
        if ctx["loop"] and cfg.control and not ctx.get("no_break") and not (
                ctx.get("loops", 1) >= 2 and "nested_loop_break" in cfg.avoid):
            kinds += ["brk"]
        if ctx["ret"] is not None and cfg.early_return and cfg.control and ctx["depth"] < 2 and \
                not (ctx["depth"] > 0 and "nested_early_return" in cfg.avoid):
            kinds += ["early_ret"]
        if cfg.exotic and self.coin(cfg.exotic):
            r = self.exotic_stmt(scope, ctx)
            if r is not None:
                return r
        if cfg.extra and self.coin(cfg.extra * (3 if self.mod & STMT_SPECIALS else 0.5)):
            r = self.extra_stmt(scope, ctx)
            if r is not None:
                return r
        if cfg.wide and self.coin(cfg.wide * (2 if self.wmod else 1)):
            r = _wide_stmt(self, scope, ctx)
            if r is not None:
                self.budget -= 1
                return r
        if self.budget < 6:
            kinds = [k for k in kinds if k not in ("if", "for", "for_iter", "while")]
        k = self.choice(kinds)
        self.budget -= {"if": 2, "while": 4, "brk": 2, "early_ret": 2}.get(k, 1)
        d = self.cfg.max_depth
        if k == "new" or (k in ("reassign", "aug") and not scope.vars):
            S = self.shape(scope)
            name = self.fresh("v")
            src, views = self.expr(S, scope, d)
            self.assign(name, S, src, views, scope, ctx)
            return [(0, f"{name} = {src}")]
        if k == "reassign":
            targets = [(n, s) for n, s in scope.vars.items() if n not in self.frozen
                       and not (n in self.params and "param_rebind" in cfg.avoid)]
            if not targets:
                return []
            name, S = self.choice(targets)
            self.feat("reassign")
            if ctx["loop"]:
                src, views = self.bounded(name, S, scope, d - 1), set()
            else:
                src, views = self.expr(S, scope, d)
            self.assign(name, S, src, views, scope, ctx)
            return [(0, f"{name} = {src}")]
        if k == "aug":
            ok = [(n, s) for n, s in scope.vars.items()
                  if (n not in self.nonfresh or (n in self.params and s == ())) and n not in self.frozen]
            if not ok:
                return self.stmt(scope, ctx) if self.coin(0.5) else []
            name, S = self.choice(ok)
            B = self.choice([b for b in SHAPES if _bcast(b, S) == S])
            op = self.choice(["+=", "-=", "*=", "/="])
            self.feat("aug" + op)
            e, _ = self.expr(B, scope, d - 1)
            if op == "/=":
                e = f"(1.0 + np.square({e}))"
            elif op == "*=":
                e = f"np.cos({e})"
            elif ctx["loop"]:
                e = f"0.2 * np.tanh({e})"
            return [(0, f"{name} {op} {e}")]
        if k == "setitem":
            ok = [(n, s) for n, s in scope.vars.items() if s != () and n not in self.nonfresh
                  and n not in self.frozen]
            if not ok or "setitem" in cfg.avoid:
                return []
            name, S = self.choice(ok)
            self.feat("setitem")
            # (integer-array indices may repeat a position: NumPy keeps the
            # last write there)
            forms = {(3,): [("[{r3}]", ()), ("[1:]", (2,)), ("[::2]", (2,)),
                            ("[[{r3}, {r3}, {r3}]]", (3,))],
                     (2,): [("[{r2}]", ()), ("[:1]", ())],
                     (2, 3): [("[{r2}]", (3,)), ("[:, {c3}]", (2,)), ("[{r2}, {c3}]", ()),
                              ("[:, 1:]", (2, 1)), ("[[{r2}, {r2}], [{c3}, {c3}]]", (2,)),
                              ("[[{r2}, {r2}]]", (2, 3))],
                     (3, 2): [("[{r3}]", (2,)), ("[1:, 0]", (2,))],
                     (1, 3): [("[0]", (3,)), ("[0, 1:]", (2,))],
                     (2, 1): [("[:, 0]", (2,)), ("[1]", ())]}[S]
            idx, T = self.choice(forms)
            idx = self.fill(idx)
            rhs_scope = scope
            if "setitem_self" in cfg.avoid:     # (BUG-16, fixed) v[i] op= f(v) in vjp
                op = "="
                rhs_scope = scope.copy()
                del rhs_scope.vars[name]
            else:
                op = self.choice(["=", "+=", "*="])
            e, _ = self.expr(T, rhs_scope, d - 1)
            if op == "*=":
                e = f"np.cos({e})"
            elif ctx["loop"]:
                e = f"np.tanh({e})"
            return [(0, f"{name}{idx} {op} {e}")]
        if k == "tuple":
            self.feat("tuple_unpack")
            same = {}
            for n, s in scope.vars.items():
                same.setdefault(s, []).append(n)
            pairs = [[n for n in v if n not in self.frozen] for v in same.values()]
            pairs = [v for v in pairs if len(v) >= 2]
            if pairs and self.coin(0.4):
                a, b = self.choice(pairs)[:2]
                S = scope.vars[a]
                self.feat("swap")
                e, views = (self.bounded(b, S, scope, 1), set()) if ctx["loop"] else \
                    self.expr(S, scope, 1)
                self.nonfresh.update((a, b))
                self.nonfresh.update(views)     # b may now share memory with them
                return [(0, f"{a}, {b} = {b}, {e}")]
            S1, S2 = self.shape(scope), self.shape(scope)
            e1, v1 = self.expr(S1, scope, d - 1)
            e2, v2 = self.expr(S2, scope, d - 1)
            n1, n2 = self.fresh("v"), self.fresh("v")
            self.assign(n1, S1, e1, v1, scope, ctx)
            self.assign(n2, S2, e2, v2, scope, ctx)
            return [(0, f"{n1}, {n2} = {e1}, {e2}")]
        if k == "call_stmt":
            h = self.choice(self.helpers)
            src = self.call(h, scope, d)
            if isinstance(h.ret, list):
                self.feat("tuple_return")
                n1, n2 = self.fresh("v"), self.fresh("v")
                for n, s in zip((n1, n2), h.ret):
                    self.assign(n, s, src, set(scope.vars) | {n}, scope, ctx)
                return [(0, f"{n1}, {n2} = {src}")]
            n = self.fresh("v")
            self.assign(n, h.ret, src, set(scope.vars) | {n}, scope, ctx)
            return [(0, f"{n} = {src}")]
        if k == "brk":
            self.feat("break_continue")
            word = self.choice(["break", "continue"] if ctx.get("cont_ok", True) else ["break"])
            self.feat(word)
            c = self.cond(scope, 1)
            body = []
            if self.coin(0.5):
                body = self.stmt(scope.copy(), dict(ctx, depth=ctx["depth"] + 1))
            return [(0, f"if {c}:")] + _indent(body + [(0, word)])
        if k == "early_ret":
            self.feat("early_return")
            c = self.cond(scope, 1)
            e, _ = self.expr(ctx["ret"], scope, d - 1)
            return [(0, f"if {c}:"), (1, f"return {e}")]
        if k == "if":
            return self.if_stmt(scope, ctx)
        if k in ("for", "for_iter"):
            return self.for_stmt(scope, ctx, k)
        if k == "while":
            return self.while_stmt(scope, ctx)
        raise AssertionError(k)

    def branch_body(self, scope, ctx, outs):
        sub = scope.copy()
        c2 = dict(ctx, depth=ctx["depth"] + 1)
        body = self.block(sub, c2, self.integer(1, 2))
        last = body[-1][1].split(" ")[0] if body and body[-1][0] == 0 else ""
        if last not in ("return", "break", "continue"):
            if ctx["ret"] is not None and self.cfg.early_return and self.coin(0.15) and \
                    "nested_early_return" not in self.cfg.avoid:
                self.feat("early_return")
                e, _ = self.expr(ctx["ret"], sub, 2)
                body.append((0, f"return {e}"))
            else:
                for name, S in outs:
                    self.budget -= 1
                    e, views = self.expr(S, sub, 2)
                    body.append((0, f"{name} = {e}"))
                    self.nonfresh.update(views)
                    if views:
                        self.nonfresh.add(name)
        return body

    def if_stmt(self, scope, ctx):
        self.feat("if")
        outs = [(self.fresh("v"), self.shape(scope)) for _ in range(self.integer(0, 2))]
        n_elif = self.integer(0, 2) if self.coin(0.4) else 0
        has_else = bool(outs) or self.coin(0.5)
        if n_elif:
            self.feat("elif")
        if has_else:
            self.feat("else")
        lines = [(0, f"if {self.cond(scope, 1)}:")] + _indent(self.branch_body(scope, ctx, outs))
        for _ in range(n_elif):
            lines += [(0, f"elif {self.cond(scope, 1)}:")] + _indent(self.branch_body(scope, ctx, outs))
        if has_else:
            lines += [(0, "else:")] + _indent(self.branch_body(scope, ctx, outs))
        for name, S in outs:
            scope.vars[name] = S
            if ctx["depth"] > 0:
                self.nonfresh.add(name)
        return lines

    def loop_body(self, scope, ctx, n=None, cont_ok=True):
        sub = scope.copy()
        c2 = dict(ctx, depth=ctx["depth"] + 1, loop=True, cont_ok=cont_ok,
                  loops=ctx.get("loops", 0) + 1)
        n = n or self.integer(1, 2)
        return self.block(sub, c2, n)

    def for_stmt(self, scope, ctx, kind):
        sub = scope.copy()
        if kind == "for_iter":
            arrays = [(n, s) for n, s in scope.vars.items() if s != () and s[1:] in SHAPES]
            if arrays:
                n, S = self.choice(arrays)
                row = self.fresh("r")
                self.nonfresh.update((n, row))
                sub.vars[row] = S[1:]
                if "for_iter_rebind" in self.cfg.avoid:
                    was_frozen = n in self.frozen
                    self.frozen.add(n)
                    try:
                        return self._for_iter(sub, ctx, n, S, row)
                    finally:
                        if not was_frozen:
                            self.frozen.discard(n)
                return self._for_iter(sub, ctx, n, S, row)
        return self._for_range(scope, sub, ctx)

    def _for_iter(self, sub, ctx, n, S, row):
        form = self.integer(0, 5)
        others = [m for m, t in sub.vars.items() if t == S and m != n]
        if form == 4 and others and "for_zip" not in self.cfg.avoid:
            self.feat("for_zip")
            m = self.choice(others)
            row2 = self.fresh("r")
            sub.vars[row2] = S[1:]
            self.nonfresh.update((m, row2))
            if "for_iter_rebind" in self.cfg.avoid:
                self.frozen.add(m)
            head = f"for {row}, {row2} in zip({n}, {m}):"
        elif form == 3 and len(S) == 1:
            self.feat("for_enumerate")
            i = self.fresh("i")
            sub.ints.append(i)
            head = f"for {i}, {row} in enumerate({n}):"
            if self.cfg.wide and self.ok("enumerate_start") and self.coin(0.5):
                self.feat("enumerate_start")
                head = self.choice([f"for {i}, {row} in enumerate({n}, {self.integer(1, 3)}):",
                                    f"for {i}, {row} in list(enumerate({n})):",
                                    f"for {i}, {row} in enumerate({n}, start=2):"])
        else:
            self.feat("for_iter")
            head = f"for {row} in {n}:"
        return [(0, head)] + _indent(self.loop_body(sub, ctx))

    def _for_range(self, scope, sub, ctx):
        self.feat("for_range")
        i = self.fresh("i")
        ints = [x for x in scope.ints if x == "n"]
        form = self.integer(0, 4)
        if form == 1 and ints:
            self.feat("range_n")
            rng = "range(n)"
        elif form == 2:
            vecs = [nm for nm, s in scope.vars.items() if len(s) == 1]
            rng = f"range(len({self.choice(vecs)}))" if vecs else "range(2)"
        elif form == 3:
            rng = f"range(1, {self.integer(2, 4)})"
        else:
            rng = f"range({self.integer(1, 4)})"
        sub.ints.append(i)
        return [(0, f"for {i} in {rng}:")] + _indent(self.loop_body(sub, ctx))

    def while_stmt(self, scope, ctx):
        self.feat("while")
        it = self.fresh("it")
        cap = self.integer(1, 5)
        sub = scope.copy()
        sub.ints.append(it)
        form = self.integer(0, 2)
        if form == 0:
            c = self.cond(scope, 1)
            body = self.loop_body(sub, dict(ctx, no_break="while_and_break" in self.cfg.avoid),
                                  self.integer(1, 2), cont_ok=False)
            return [(0, f"{it} = 0"), (0, f"while ({c}) and {it} < {cap}:")] + \
                _indent(body + [(0, f"{it} += 1")])
        if form == 1:
            self.feat("while_true")
            body = self.loop_body(sub, ctx, self.integer(1, 2), cont_ok=False)
            c = self.cond(sub, 1)
            return [(0, f"{it} = 0"), (0, "while True:")] + _indent(
                body + [(0, f"{it} += 1"), (0, f"if ({c}) or {it} >= {cap}:"), (1, "break")])
        body = self.loop_body(sub, ctx, self.integer(1, 2))
        c = self.cond(sub, 1)
        return [(0, f"{it} = 0"), (0, f"while {it} < {cap}:"), (1, f"{it} += 1")] + \
            _indent(body) + [(1, f"if {c}:"), (2, "break")]

    # --------------------------------------------------------------- functions
    def function(self, name, params, ret, n_stmts, kw=None, budget=17):
        """Lines of a function; params: [(name, shape or 'int')]."""
        self.budget = budget
        scope = _Scope()
        self.nonfresh = set()
        self.params = set()
        for p, s in params:
            if s == "int":
                scope.ints.append(p)
            elif isinstance(s, tuple) and len(s) == 2 and s[0] == "tree":
                for pv, shape in s[1]:      # read-only subscripts of a pytree
                    scope.vars[pv] = shape
                    self.params.add(pv)
                    self.nonfresh.add(pv)
                    self.frozen.add(pv)
            else:
                scope.vars[p] = s
                self.params.add(p)
                self.nonfresh.add(p)
        sig = [p for p, _ in params]
        if kw is not None:
            scope.vars[kw[0]] = ()
            self.params.add(kw[0])
            sig.append(f"{kw[0]}={kw[1]}")
        ctx = {"loop": False, "depth": 0, "ret": ret if not isinstance(ret, list) else None}
        body = []
        if not self.in_helper:
            for t, shape in (("params", self.choice([(3,), ()])), ("d", self.choice([(2,), ()]))):
                if t in self.mod:      # the tree parameter is used at least once
                    v = self.fresh("v")
                    e, views = self.extra_expr_forced(shape, scope, t)
                    self.assign(v, shape, e, views, scope, ctx)
                    body.append((0, f"{v} = {e}"))
            if "rec" in self.wmod:         # so is the record parameter
                v = self.fresh("v")
                e, _ = self.expr((3,), scope, 1)
                self.assign(v, (2,), "", set(), scope, ctx)
                body.append((0, f"{v} = reclin(p, {e})"))
        body += self.block(scope, ctx, n_stmts)
        last = body[-1][1].split(" ")[0] if body[-1][0] == 0 else ""
        if last != "return":
            if isinstance(ret, list):
                es = [self.expr(s, scope, 2)[0] for s in ret]
                body.append((0, f"return {', '.join(es)}"))
            else:
                e, _ = self.expr(ret, scope, self.cfg.max_depth)
                body.append((0, f"return {e}"))
        return [(0, f"def {name}({', '.join(sig)}):")] + _indent(body)

    def module(self):
        cfg = self.cfg
        lines = []
        self.helpers = []
        self.mod = self.specials()
        self.wmod = _wide_specials(self) if cfg.wide else set()
        if "hs" in self.wmod:
            self.hs = self.choice([(), (2,), (3,)])
            saved_wmod, self.wmod = self.wmod, set()
            # (hs is differentiated twice inside f, three times by grad(f):
            # the third derivative of svd/qr/eigh is a documented refusal,
            # LIMITATIONS "Open bugs": no linalg_multi_output in hs)
            self.in_hs = True
            hs = self._make_helper("hs", [], like=_Helper("hs", [("u", self.hs)], None, ()))
            self.wmod, self.in_hs = saved_wmod, False
            lines += hs[0] + [(0, "")]
            if "dHs" in self.wmod:
                lines += [(0, "dHs = grad(hs)"), (0, "")]
        if cfg.helpers and self.coin(0.6):
            # level 2 helper
            h2 = self._make_helper("helper_b", [])
            lines += h2[0] + [(0, "")]
            if self.coin(0.6):
                h1 = self._make_helper("helper_a", [h2[1]])
                lines += h1[0] + [(0, "")]
                self.helpers = [h1[1], h2[1]] if self.coin(0.5) else [h1[1]]
            else:
                self.helpers = [h2[1]]
            if self.special("helper_rebind", 0.5):
                alt = self._make_helper("helper_b_v2", [], like=h2[1])
                lines += alt[0] + [(0, "")]
                self.mod.add("helper_b_v2")
        # the entry point
        nfloat = self.integer(1, 3)
        params = []
        for k in range(nfloat):
            params.append(Param("xyz"[k], "float", self.choice(SHAPES)))
        trees = [t for t in ("params", "d") if t in self.mod]
        for t in trees:
            at = self.integer(0, len(params))
            params.insert(at, Param(t, "tree", (), 0, TREE_SPECS[t](self)))
        if "rec" in self.wmod:
            at = self.integer(0, len(params))
            cls = PTup if self.coin(0.5) else PRec
            self.feat("record_namedtuple" if cls is PTup else "record_dataclass")
            params.insert(at, Param("p", "tree", (), 0, cls(Leaf((2, 3)), Leaf((2,)))))
        if cfg.wide and cfg.out == "scalar" and self.ok("grad2") and \
                self.coin(cfg.wide * 3 if cfg.grad2 is None else cfg.grad2):
            self.feat("grad2")
            self.grad2 = True
            params[[q.kind for q in params].index("float")].shape = ()
        if self.coin(0.3):
            params.append(Param("n", "int", (), self.integer(1, 3)))
        if cfg.out == "scalar":
            ret = ()
        else:
            ret = self.choice(ARRAY_SHAPES)
        plist = [(p.name, "int" if p.kind == "int" else
                  ("tree", _pseudo_vars(p)) if p.kind == "tree" else p.shape) for p in params]
        saved_cfg = self.cfg
        body = self.function("f", plist, ret, self.integer(1, cfg.max_stmts))
        self.cfg = saved_cfg
        if "deco" in self.mod and self.coin(0.4):
            if self.ok("decorated_entry_wraps") and self.coin(0.5):
                self.feat("decorated_entry_wraps")
                body = [(0, f"@scaled({self.choice(['2.0', '0.5', '-1.0'])})")] + body
            elif self.ok("decorated_entry_plain"):
                self.feat("decorated_entry_plain")
                body = [(0, "@keep")] + body
        head = ["import numpy as np", "import math", "import contextlib"]
        if "deco" in self.mod or "entry_partial" in self.wmod:
            head.append("import functools")
        if "rec" in self.wmod:
            head += ["import dataclasses", "from progen import PTup, PRec"]
        if "hs" in self.wmod or "he" in self.wmod:
            head.append("from ad_compiler import (elementwise_grad, grad, hessian, hvp, jvp, "
                        "value_and_grad, vjp)")
        head.append("")
        head += [t for _, t in self.module_lines]
        if self.module_lines:
            head.append("")
        for name in SNIPPET_ORDER:
            if name in self.mod and name in SNIPPETS:
                head += SNIPPETS[name].splitlines() + ["", ""]
        if "act" in self.mod:
            head += [f"act = {self.act[0]}", "", ""]
        for name in WIDE_SNIPPET_ORDER:
            if name in self.wmod and name in WIDE_SNIPPETS:
                head += WIDE_SNIPPETS[name].splitlines() + ["", ""]
        if "he" in self.wmod:
            head += ["def he(u):", f"    return {self.he}", "", ""]
        text = head + [("    " * i) + t for i, t in lines] + [""]
        first = len(text) + 1
        text += [("    " * i) + t for i, t in body]
        last = len(text)
        if body[0][1].startswith("@"):
            first += 1
        src = "\n".join(text) + "\n"
        self.rebind = ()
        if "global_alias" in self.features and "act" in self.mod and self.ok("global_rebind"):
            self.feat("global_rebind")
            self.rebind += (("act", self.act[1]),)
        if "helper_b_v2" in self.mod and src.count("helper_b(") > 1:
            self.feat("helper_rebind")
            self.rebind += (("helper_b", "helper_b_v2"),)
        self.entry = None
        if self.wmod & {"entry_lambda", "entry_partial"} and not self.rebind and \
                not body[0][1].startswith("@"):
            sig = ", ".join(p.name for p in params)
            if "entry_lambda" in self.wmod:
                self.feat("entry_lambda")
                k = self.choice(["", "2.0 * ", "-"])
                src += f"\n\nf_entry = lambda {sig}: {k}f({sig})\n"
                self.entry = "f_entry"
            else:
                self.feat("entry_partial")
                src += (f"\n\ndef f_k(k, {sig}):\n    return k * f({sig})\n\n\n"
                        f"f_entry = functools.partial(f_k, {self.choice(['0.5', '2.0', '-1.0'])})\n")
                self.entry = "f_entry"
        return src, params, first, last

    def special(self, feature, scale=1.0):
        """Whether a module-level special with ``feature`` is used."""
        return bool(self.cfg.specials) and self.ok(feature) and \
            self.coin(self.cfg.specials * scale)

    def specials(self):
        """The module-level constructs of this program (names in SNIPPETS,
        "act", "deco", "params", "d")."""
        mod = set()
        if self.special("global_alias"):
            mod.add("act")
            self.act = self.choice(ACT_ALIASES)
        if self.special("varargs_cat", 0.5):
            mod.add("cat")
        if self.special("varargs_sum", 0.5):
            mod.add("total")
        if self.special("zip_star", 0.5):
            mod.add("pairs")
        if self.special("inplace_helper_arg", 0.5):
            mod.update(("scale_", "bump_"))
        if self.special("tree_list_param"):
            mod.update(("params", "net", "first_bias"))
        if self.special("tree_dict_param"):
            mod.update(("d", "lin", "d_norm"))
        if self.cfg.helpers and self.special("decorators"):
            mod.add("deco")
        return mod

    def _make_helper(self, name, callees, like=None):
        if like is not None:        # same signature as helper ``like``
            params, kw, ret = like.params, like.kw, like.ret
        else:
            nparams = self.integer(1, 2)
            params = [(f"{'uv'[k]}", self.choice(SHAPES)) for k in range(nparams)]
            kw = ("scale", self.choice(["0.5", "1.0", "2.0"])) if self.coin(0.7) else None
            if self.coin(0.25):
                ret = [self.choice(SHAPES), self.choice(SHAPES)]
            else:
                ret = self.choice(SHAPES)
        saved = self.helpers
        self.helpers = callees
        old = self.cfg
        self.cfg = Config(**{**old.__dict__, "max_stmts": 3, "whiles": False,
                             "max_depth": 2})
        self.in_helper = True
        lines = self.function(name, params, ret, self.integer(0, 3), kw=kw, budget=7)
        self.in_helper = False
        self.cfg = old
        self.helpers = saved
        if "deco" in self.mod and like is None and self.coin(0.5):
            if not isinstance(ret, list) and self.ok("decorated_helper_wraps") and self.coin(0.5):
                self.feat("decorated_helper_wraps")
                lines = [(0, f"@scaled({self.choice(['2.0', '0.5', '-1.0'])})")] + lines
            elif self.ok("decorated_helper_plain"):
                self.feat("decorated_helper_plain")
                lines = [(0, "@keep")] + lines
        return lines, _Helper(name, params, kw, ret)

    # ------------------------------------------------------------------ extras
    # Constructs behind silently wrong derivatives found outside the fuzzer
    # (EXTRA_FEATURES); each is behind a feature name usable in Config.avoid.

    def ok(self, feature):
        return feature not in self.cfg.avoid

    def extra_expr(self, S, scope, d):
        """An expression of shape S with one of the extra constructs, or None."""
        m = self.mod
        cands = []
        if self.ok("unary_ops"):
            cands += ["unary_ops"] * 2
        if self.ok("neg_literal"):
            cands.append("neg_literal")
        if self.ok("complex_real"):
            cands.append("complex_real")
        disp = [t for t in DISPLAYS if t[0] == S and self.ok(t[3])]
        if disp:
            cands.append("display")
        if "cat" in m and S in CAT_FORMS and self.ok("varargs_cat"):
            cands.append("varargs_cat")
        if "total" in m and self.ok("varargs_sum"):
            cands.append("varargs_sum")
        if "act" in m and self.ok("global_alias"):
            cands.append("global_alias")
        if "scale_" in m and S == () and self.ok("inplace_helper_arg"):
            cands.append("inplace_call")
        if "params" in m and not self.in_helper:
            if S == (3,):
                cands += ["net", "tree_twice"] if self.ok("tree_twice") else ["net"]
            if S == ():
                cands.append("first_bias")
                if self.ok("param_two_helpers"):
                    cands.append("param_two_helpers")
        if "d" in m and not self.in_helper:
            if S == (2,):
                cands += ["lin", "tree_twice_d"] if self.ok("tree_twice") else ["lin"]
            if S == () and self.ok("param_two_helpers"):
                cands.append("d_two_helpers")
            if S in ((2, 3), (2,), ()) and self.ok("dict_get"):
                cands.append("dict_get")
        if not cands:
            return None
        specific = [c for c in cands if c not in GENERIC_EXTRAS]
        k = self.choice(specific if specific and self.coin(0.8) else cands)
        sub = max(d - 1, 0)

        def e(shape, depth=sub):
            return self.expr(shape, scope, depth)[0]
        if k == "unary_ops":
            self.feat("unary_ops")
            a, b = _par(e(S)), _par(e(S))
            form = self.integer(0, 7)
            if form == 0:
                return f"-{e(S)}", set()            # raw: binds tighter / looser
            return ["", "(-{a} * -{b})", "({a} - -{b})", "(-{a} - (-{b}))", "(-(-{a}) + +{b})",
                    "(-{a} ** 2)", "(- -{a} * {b})", "((-{a}) ** 2 - -{b})"][form].format(a=a, b=b), set()
        if k == "neg_literal":
            self.feat("neg_literal")
            a = _par(e(S))
            return self.choice([f"({a} * -2.0)", f"(-2.0 * {a})", f"({a} - -0.5)",
                                f"({a} / -2.0)", f"(-0.5 + {a} * -1.5)"]), set()
        if k == "complex_real":
            self.feat("complex_real")
            a, b = _par(e(S)), _par(e(S))
            return self.choice([
                f"np.real(np.exp(1j * {a}) * {b})",
                f"(np.abs({a} + 1j * {b}) ** 2)",
                f"np.imag(({a} + 1j) ** 2)",
                f"(({a} + 1j * {b}) * np.conj({a} - 0.5j)).real",
                f"np.abs(np.exp(1j * {a}) * (1.5 + {b} * 1j)) ** 2",
            ]), set()
        if k == "display":
            _, tpl, shapes, f = self.choice(disp)
            self.feat(f)
            depth = 0 if len(shapes) > 3 else sub
            return tpl.format(*[e(t, depth) for t in shapes]), set()
        if k == "varargs_cat":
            self.feat("varargs_cat")
            W, parts = self.choice(CAT_FORMS[S])
            return f"cat({', '.join([e(W)] + [e(t, min(sub, 1)) for t in parts])})", set()
        if k == "varargs_sum":
            self.feat("varargs_sum")
            n = self.integer(1, 3)
            return f"total({', '.join(e(S) for _ in range(n))})", set()
        if k == "global_alias":
            self.feat("global_alias")
            return f"act({e(S)})", set()
        if k == "inplace_call":
            arrays = [n for n, t in scope.vars.items() if t != () and n not in self.frozen]
            if not arrays:
                return None
            self.feat("inplace_helper_arg")
            A = self.choice(arrays)
            return f"scale_({A}, 1.0 + np.square({e(())}))", set()
        if k == "net":
            self.feat("tree_list_param")
            return f"net(params, {e((3,))})", set()
        if k == "tree_twice":
            self.feat("tree_twice")
            a = e((3,))
            return self.choice([f"(net(params, {a}) + net(params, 2.0 * {_par(a)}))",
                                f"(net(params, {a}) * net(params, {e((3,))}))"]), set()
        if k == "first_bias":
            self.feat("tree_list_param")
            return "first_bias(params)", set()
        if k == "param_two_helpers":
            self.feat("param_two_helpers")
            return f"(np.sum(net(params, {e((3,))})) + first_bias(params))", set()
        if k == "lin":
            self.feat("tree_dict_param")
            return f"lin(d, {e((3,))})", set()
        if k == "tree_twice_d":
            self.feat("tree_twice")
            a = e((3,))
            return f"(lin(d, {a}) - lin(d, -{_par(a)}))", set()
        if k == "d_two_helpers":
            self.feat("param_two_helpers")
            return f"(np.sum(lin(d, {e((3,))})) + d_norm(d))", set()
        if k == "dict_get":
            self.feat("dict_get")
            if S == (2, 3):      # the caller's array itself: may alias
                return "d.get('W')", {"d"}
            if S == (2,):
                return self.choice(["d.get('b')", "d.get('b', 0.0)"]), {"d"}
            return self.choice(["d.get('c', 0.5)", "np.sum(d.get('b', 1.0))"]), set()
        raise AssertionError(k)

    def extra_expr_forced(self, S, scope, tree):
        """An expression of shape S that reads the tree parameter ``tree``."""
        for _ in range(20):
            saved = self.mod
            self.mod = {tree} | (saved - {"params", "d", "act", "cat", "total", "scale_"})
            try:
                r = self.extra_expr(S, scope, 2)
            finally:
                self.mod = saved
            if r is not None and tree in r[0]:
                return r
        return ("first_bias(params)", set()) if tree == "params" else ("d_norm(d)", set())

    def extra_stmt(self, scope, ctx):
        """Statements with one of the extra constructs, or None."""
        m = self.mod
        cands = []
        if self.ok("neg_alias"):
            cands.append("neg_alias")
        if "pairs" in m and self.ok("zip_star"):
            cands.append("zip_star")
        if "bump_" in m and self.ok("inplace_helper_arg"):
            cands.append("bump")
        if "d" in m and not self.in_helper and self.ok("dict_subscript_write"):
            cands.append("dict_write")
        if not cands:
            return None
        specific = [c for c in cands if c != "neg_alias"]
        k = self.choice(specific if specific and self.coin(0.8) else cands)
        d = self.cfg.max_depth - 1
        if k == "neg_alias":
            names = [n for n in scope.vars if n.isidentifier()]
            if not names:
                return None
            self.feat("neg_alias")
            n = self.choice(names)
            S = scope.vars[n]
            a, b = self.fresh("v"), self.fresh("v")
            scope.vars[a] = S
            scope.vars[b] = S
            return [(0, f"{a} = -{n}"), (0, f"{b} = -{a} * -{n} - (-{n})")]
        if k == "zip_star":
            self.feat("zip_star")
            p, q, v = self.fresh("p"), self.fresh("q"), self.fresh("v")
            e3, _ = self.expr((3,), scope, d)
            scope.vars[v] = ()
            rhs = self.choice([f"{p}[0] * {q}[1] - {p}[1] * {q}[0]",
                               f"np.sum(np.array({p}) * np.array({q}))"])
            return [(0, f"{p}, {q} = zip(*pairs({e3}))"), (0, f"{v} = {rhs}")]
        if k == "bump":
            arrays = [(n, t) for n, t in scope.vars.items() if t != () and n not in self.frozen]
            if not arrays:
                return None
            self.feat("inplace_helper_arg")
            A, S = self.choice(arrays)
            B = self.choice([b for b in SHAPES if _bcast(b, S) == S])
            e, _ = self.expr(B, scope, d)
            self.nonfresh.add(A)
            if self.coin(0.5):
                return [(0, f"bump_({A}, 0.1 * np.tanh({e}))")]
            v = self.fresh("v")
            scope.vars[v] = S
            self.nonfresh.add(v)
            return [(0, f"{v} = bump_({A}, 0.1 * np.tanh({e}))")]
        if k == "dict_write":
            self.feat("dict_subscript_write")
            form = self.integer(0, 2)
            if form == 0:
                e, _ = self.expr((3,), scope, d)
                return [(0, f"d['W'][{self.choice(['0', '1', '-1'])}] = np.tanh({e})")]
            if form == 1:
                e, _ = self.expr(self.choice([(2, 3), (3,), (), (1, 3)]), scope, d)
                return [(0, f"d['W'] += 0.1 * np.tanh({e})")]
            e, _ = self.expr((2,), scope, d)
            return [(0, f"d['b'] = np.sin({e})")]
        raise AssertionError(k)

    # ---------------------------------------------------------------- exotics
    def exotic_expr(self, S, scope, d):
        return _exotic_expr(self, S, scope, d)

    def exotic_stmt(self, scope, ctx):
        return _exotic_stmt(self, scope, ctx)


# --------------------------------------------------------------------------
# wide constructs (Config.wide; see WIDE_FEATURES): what round 3 added and
# found outside the fuzzer -- enumerate with a start and counters used in
# arithmetic, number keys of d.items(), derivatives called inside the
# program (grad / value_and_grad / jvp / vjp + pullback / hessian /
# elementwise_grad / hvp of a module-level helper, bound in the body or at
# module level), views of d['W'] around d['W'] += e, NamedTuple / dataclass
# parameters and values, multi-output linalg, callables as values (lambdas,
# local defs, NumPy functions passed to a helper, map, function defaults),
# a lambda or functools.partial as the differentiated function, and the
# new rules (einsum sublist form / 3 operands, append, select, insert,
# delete)
# --------------------------------------------------------------------------

# result shape -> [(template, operand shapes, feature)]
NEW_RULES = {
    (3,): [("np.einsum({0}, [0, 1], {1}, [0], [1])", [(2, 3), (2,)], "einsum_sublist"),
           ("np.einsum('ij,jk,k->j', {0}, {1}, {2})", [(2, 3), (3, 2), (2,)], "einsum_3"),
           ("np.append({0}, {1})", [(2,), ()], "np_append"),
           ("np.insert({0}, 1, {1})", [(2,), ()], "np_insert"),
           ("np.delete({0}.ravel(), [0, 2, 4])", [(2, 3)], "np_delete")],
    (2,): [("np.einsum('ij,jk,k->i', {0}, {1}, {2})", [(2, 3), (3, 2), (2,)], "einsum_3"),
           ("np.einsum({0}, [0, 1], {1}, [1])", [(2, 3), (3,)], "einsum_sublist"),
           ("np.delete({0}, 1)", [(3,)], "np_delete"),
           ("np.delete({0}, [0])", [(3,)], "np_delete"),
           ("np.insert({0}, 0, {1})", [(), ()], "np_insert")],
    (): [("np.einsum('ij,j,i->', {0}, {1}, {2})", [(2, 3), (3,), (2,)], "einsum_3"),
         ("np.einsum({0}, [0], {1}, [0], [])", [(3,), (3,)], "einsum_sublist"),
         ("np.sum(np.append({0}, {1}, axis=0))", [(1, 3), (2, 3)], "np_append")],
    (2, 3): [("np.append({0}, {1}, axis=0)", [(1, 3), (1, 3)], "np_append"),
             ("np.insert({0}, 0, {1}, axis=0)", [(1, 3), (3,)], "np_insert"),
             ("np.einsum('ij,j,i->ij', {0}, {1}, {2})", [(2, 3), (3,), (2,)], "einsum_3"),
             ("np.einsum({0}, [Ellipsis, 1], {1}, [1], [Ellipsis, 1])", [(2, 3), (3,)],
              "einsum_sublist")],
    (1, 3): [("np.delete({0}, 1, axis=0)", [(2, 3)], "np_delete")],
    (3, 2): [("np.einsum({0}, [0, 1], [1, 0])", [(2, 3)], "einsum_sublist")],
    (2, 1): [("np.delete({0}, [1, 2], axis=1)", [(2, 3)], "np_delete")],
}
# np.linalg.norm with an ord: matrix norms of a 2-D array (axis=None) and
# vector norms along an axis (the matrix norms were differentiated as
# elementwise vector norms; outside-style code found it, the grammar had
# only the default 2-norm)
NORM_ORD = {
    (): [("np.linalg.norm({0}, 1)", [(2, 3)], "norm_ord"),
         ("np.linalg.norm({0}, -np.inf)", [(2, 3)], "norm_ord"),
         ("np.linalg.norm({0}, ord=np.inf)", [(3,)], "norm_ord"),
         ("np.linalg.norm({0}, 3)", [(3,)], "norm_ord")],
    (2,): [("np.linalg.norm({0}, 1, axis=1)", [(2, 3)], "norm_ord")],
    (3,): [("np.linalg.norm({0}, np.inf, axis=0)", [(2, 3)], "norm_ord")],
}
# integer casts of a differentiated value: the fractional part (s - s.astype(int))
# and an index computed from it (the cast's rule passed the derivative through,
# so s - s.astype(int) had derivative 0; the grammar cast only to float)
INT_CAST = {
    (3,): [("(({0}) * 2.0 - (({0}) * 2.0).astype(int))", [(3,)], "astype_int")],
    (): [("np.sum({0}[np.clip((np.abs({1}) * 2.0).astype(int), 0, 2)] * ({1} - {1}.astype(np.int64)))",
          [(3,), (3,)], "astype_int")],
}
for _extra in (NORM_ORD, INT_CAST):
    for _shape, _entries in _extra.items():
        NEW_RULES.setdefault(_shape, []).extend(_entries)
COMPOSE_FEATURES = ["compose_grad", "compose_value_and_grad", "compose_jvp", "compose_vjp",
                    "compose_hessian", "compose_hvp", "compose_bound_grad",
                    "compose_module_grad", "compose_closure"]
WIDE_SNIPPETS = {
    "rec": '''\
def reclin(q, u):
    return np.tanh(q.W @ u + q.b)


def mkrec(u):
    return PTup(np.outer(u[:2], u), u[:2] * 2.0)


def recsum(q):
    return np.sum(q.W * q.W) + np.sum(np.sin(q.b))''',
    "apply": '''\
def apply(fn, u):
    return fn(u) + 0.5 * u''',
    "layer": '''\
def layer(u, act=np.tanh):
    return act(u) * 0.5 + u''',
}
WIDE_SNIPPET_ORDER = ["rec", "apply", "layer"]
WIDE_FEATURES = sorted(set(COMPOSE_FEATURES) | {
    "enumerate_start", "enumerate_list_array", "enumerate_loop_counter",
    "dict_items_number_keys", "compose_elementwise_grad", "map_call", "grad2",
    "dict_view_write", "record_namedtuple", "record_dataclass", "record_replace",
    "record_construct", "record_value", "linalg_multi_output", "entry_lambda",
    "entry_partial", "apply_lambda", "apply_local_def", "apply_np_fn", "default_fn_arg",
    "einsum_sublist", "einsum_3", "np_append", "np_select", "np_insert", "np_delete",
    "norm_ord", "astype_int"})


def _wide_specials(g):
    """The module-level wide constructs of this program (names in
    WIDE_SNIPPETS, "hs" / "dHs" / "he" helpers, "entry_lambda" /
    "entry_partial")."""
    mod = set()
    p = min(1.0, g.cfg.wide * 4)
    if any(g.ok(f) for f in COMPOSE_FEATURES) and g.coin(p):
        mod.add("hs")
        if g.ok("compose_module_grad") and g.coin(0.4):
            mod.add("dHs")
    if (g.ok("compose_elementwise_grad") or g.ok("map_call")) and g.coin(p * 0.7):
        mod.add("he")
        u = [t for t in UNARY if t[1] not in ("neg", "scale")]
        g.he = g.choice(u)[0].format(e=g.choice(u)[0].format(e="u"))
    if (g.ok("record_namedtuple") or g.ok("record_dataclass")) and g.coin(p * 0.7):
        if g.ok("record_namedtuple") and g.ok("record_dataclass"):
            mod.add("rec")
    if any(g.ok(f) for f in ("apply_lambda", "apply_local_def", "apply_np_fn")) and g.coin(p * 0.7):
        mod.add("apply")
    if g.ok("default_fn_arg") and g.coin(p * 0.5):
        mod.add("layer")
    if g.coin(p * 0.7):
        ok = [f for f in ("entry_lambda", "entry_partial") if g.ok(f)]
        if ok:
            mod.add(g.choice(ok))
    return mod


def _rec_name(g):
    return "PTup" if "record_namedtuple" in g.features else "PRec"


def _wide_expr(g, S, scope, d):
    """An expression of shape S with one of the wide constructs, or None."""
    m = g.wmod
    sub = max(d - 1, 0)

    def e(shape, depth=sub):
        return g.expr(shape, scope, depth)[0]
    cands = [t for t in NEW_RULES.get(S, []) if g.ok(t[2])]
    if g.ok("np_select"):
        cands.append("np_select")
    if S in ((3, 2), (3,)) and g.ok("enumerate_list_array"):
        cands.append("enumerate_list_array")
    if not g.in_helper:
        HS = g.hs
        if "hs" in m:
            if S == HS:
                cands += [f for f in ("compose_grad", "compose_value_and_grad", "compose_hvp")
                          if g.ok(f)]
                if "dHs" in m:
                    cands.append("compose_module_grad")
                if len(HS) == 1 and g.ok("compose_hessian"):
                    cands.append("compose_hessian")
            if S == ():
                cands += [f for f in ("compose_value_and_grad", "compose_jvp", "compose_hessian")
                          if g.ok(f)]
            if S in (HS, ()) and g.ok("compose_closure") and _closure_vars(scope, HS):
                cands.append("compose_closure")
        if "he" in m:
            if g.ok("compose_elementwise_grad"):
                cands.append("compose_elementwise_grad")
            if g.ok("map_call") and S in ((), (2,), (3,)):
                cands.append("map_call")
        if "rec" in m:
            if S == (2,):
                cands += [f for f in ("record_replace", "record_construct") if g.ok(f)]
            if S == () and g.ok("record_value"):
                cands.append("record_value")
        if "apply" in m:
            cands += [f for f in ("apply_lambda", "apply_np_fn") if g.ok(f)]
        if "layer" in m and g.ok("default_fn_arg"):
            cands.append("default_fn_arg")
    if not cands:
        return None
    specific = [c for c in cands if isinstance(c, str) and c not in
                ("np_select", "enumerate_list_array")]
    k = g.choice(specific if specific and g.coin(0.7) else cands)
    if isinstance(k, tuple):
        tpl, shapes, f = k
        g.feat(f)
        return tpl.format(*[e(t, min(sub, 1)) for t in shapes]), set()
    g.feat(k)
    if k == "np_select":
        c, _ = g.leaf(S, scope)
        dflt = g.choice(["0.0", "-0.25", e((), 0)])
        return (f"np.select([{_par(c)} > 0.5, {_par(c)} < -0.5], [{e(S)}, {e(S)}], "
                f"default={dflt})"), set()
    if k == "enumerate_list_array":
        start = g.choice(["", ", 1", ", 2", ", start=3"])
        a = e((3,))
        if S == (3, 2):
            return f"np.array(list(enumerate({a}{start})))", set()
        return f"(np.array(list(enumerate({a}{start}))) @ np.array([0.5, 1.0]))", set()
    if k == "compose_grad":
        return f"grad(hs)({e(g.hs)})", set()
    if k == "compose_value_and_grad":
        return f"value_and_grad(hs)({e(g.hs)})[{0 if S == () else 1}]", set()
    if k == "compose_hvp":
        return f"hvp(hs)({e(g.hs)}, {e(g.hs, 0)})", set()
    if k == "compose_module_grad":
        return f"dHs({e(g.hs)})", set()
    if k == "compose_jvp":
        return f"jvp(hs, ({e(g.hs)},), ({e(g.hs, 0)},))[1]", set()
    if k == "compose_hessian":
        if S == ():
            return (f"hessian(hs)({e(g.hs)})" if g.hs == () else
                    f"np.sum(hessian(hs)({e(g.hs)}))"), set()
        return f"(hessian(hs)({e(g.hs)}) @ {_par(e(g.hs, 0))})", set()
    if k == "compose_closure":
        # a lambda reading a local of the entry function (lifted by
        # transforms/normalize/closures.py): grad / jvp of it
        c = g.choice(_closure_vars(scope, g.hs))
        body = g.choice([f"hs(cv * {c})", f"hs(cv + {c}) * {c}", f"hs(np.sin(cv) * {c})"])
        if S == ():
            return f"jvp(lambda cv: {body}, ({e(g.hs)},), ({e(g.hs, 0)},))[1]", set()
        return f"grad(lambda cv: {body})({e(g.hs)})", set()
    if k == "compose_elementwise_grad":
        return f"elementwise_grad(he)({e(S)})", set()
    if k == "map_call":
        if S == ():
            return f"sum(map(he, [{e(())}, {e((), 0)}]))", set()
        fn = g.choice(["he", "lambda t: t * np.sin(t)", "np.tanh"])
        return f"np.array(list(map({fn}, {e(S)})))", set()
    if k == "record_replace":
        if "p" not in scope.vars and not any(n.startswith("p.") for n in scope.vars):
            return None
        rep = (lambda kw: f"p._replace({kw})") if _rec_name(g) == "PTup" else \
            (lambda kw: f"dataclasses.replace(p, {kw})")
        if g.coin(0.5):
            return f"({rep('b=np.tanh(' + e((2,)) + ')')}.b * p.b)", set()
        return f"reclin({rep('W=' + e((2, 3)))}, {e((3,))})", set()
    if k == "record_construct":
        cls = g.choice(["PTup", "PRec"])
        if g.coin(0.5):
            return f"reclin({cls}({e((2, 3))}, {e((2,))}), {e((3,))})", set()
        return f"reclin({cls}(b={e((2,))}, W={e((2, 3))}), {e((3,))})", set()
    if k == "record_value":
        return f"recsum(mkrec({e((3,))}))", set()
    if k == "apply_lambda":
        lam = g.choice(["lambda t: np.sin(t) * t", "lambda t: t * t - 0.5",
                        "lambda t, c=2.0: np.tanh(c * t)"])
        return f"apply({lam}, {e(S)})", set()
    if k == "apply_np_fn":
        return f"apply({g.choice(['np.tanh', 'np.sin', 'np.cos'])}, {e(S)})", set()
    if k == "default_fn_arg":
        return g.choice([f"layer({e(S)})", f"layer({e(S)}, act=np.sin)",
                         f"layer({e(S)}, np.cos)"]), set()
    raise AssertionError(k)


def _closure_vars(scope, shape):
    """Local variables a lambda given to grad/jvp can read (compose_closure):
    plain names of shape () or ``shape``."""
    return sorted(n for n, sh in scope.vars.items()
                  if n.isidentifier() and n != "cv" and sh in ((), shape))


def _wide_stmt(g, scope, ctx):
    """Statements with one of the wide constructs, or None."""
    m = g.wmod
    d = max(g.cfg.max_depth - 1, 0)
    vecs = [n for n, s in scope.vars.items() if len(s) == 1 and n.isidentifier()]
    cands = []
    if vecs and g.ok("enumerate_loop_counter") and g.cfg.loops:
        cands.append("enumerate_loop_counter")
    if g.ok("dict_items_number_keys") and g.cfg.loops:
        cands.append("dict_items_number_keys")
    if g.ok("linalg_multi_output") and not getattr(g, "in_hs", False):
        cands.append("linalg_multi_output")
    if not g.in_helper:
        if "hs" in m:
            cands += [f for f in ("compose_vjp", "compose_bound_grad") if g.ok(f)]
        if "apply" in m and g.ok("apply_local_def") and ctx["depth"] == 0:
            cands.append("apply_local_def")
        if "d" in g.mod and g.ok("dict_view_write") and ctx["depth"] == 0:
            cands.append("dict_view_write")
    if not cands:
        return None
    k = g.choice(cands)
    g.feat(k)
    if k == "enumerate_loop_counter":
        a = g.choice(vecs)
        s, i, t = g.fresh("v"), g.fresh("i"), g.fresh("r")
        it = g.choice([f"enumerate({a}, {g.integer(1, 3)})", f"enumerate({a})",
                       f"list(enumerate({a}, start=2))"])
        body = g.choice([f"{s} = {s} + {i} * {t}", f"{s} = {s} + np.sin({t}) * ({i} + 0.5)",
                         f"{s} = {s} + {t} ** 2 * {i}"])
        g.nonfresh.add(a)
        scope.vars[s] = ()
        return [(0, f"{s} = 0.0"), (0, f"for {i}, {t} in {it}:"), (1, body)]
    if k == "dict_items_number_keys":
        S = g.shape(scope)
        dd, s, kk, t = g.fresh("dd"), g.fresh("v"), g.fresh("k"), g.fresh("r")
        keys = g.choice([("1", "2"), ("0", "3"), ("2", "0.5")])
        vals = [g.expr(S, scope, d)[0] for _ in keys]
        scope.vars[s] = S
        g.nonfresh.add(s)
        return [(0, f"{dd} = {{{keys[0]}: {vals[0]}, {keys[1]}: {vals[1]}}}"),
                (0, f"{s} = 0.0"), (0, f"for {kk}, {t} in {dd}.items():"),
                (1, f"{s} = {s} + {kk} * {t}")]
    if k == "linalg_multi_output":
        v = g.fresh("v")
        form = g.integer(0, 2)
        # well separated singular values (a generated matrix may have rank 1:
        # np.outer, broadcast constants), whatever the generated part
        W23 = "np.array([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]])"
        if form == 0:
            A = g.choice([f"{W23} + 0.1 * np.tanh({g.expr((2, 3), scope, d)[0]})",
                          f"{W23}.T + 0.1 * np.tanh({g.expr((3, 2), scope, d)[0]})"])
            u, sv, vt = g.fresh("u"), g.fresh("s"), g.fresh("vt")
            use = g.choice([f"np.sum(({u} * {sv}) @ {vt})", f"{sv}[0] * {sv}[1]",
                            f"np.sum({sv})"])
            lines = [(0, f"{u}, {sv}, {vt} = np.linalg.svd({A}, full_matrices=False)"),
                     (0, f"{v} = {use}")]
        elif form == 1:
            A = f"{W23} + 0.1 * np.tanh({g.expr((2, 3), scope, d)[0]})"
            tt = g.fresh("t")
            lines = [(0, f"{tt} = tuple(np.linalg.svd({A}))"), (0, f"{v} = np.sum({tt}[1])")]
        else:
            A = f"{W23}.T + 0.1 * np.tanh({g.expr((3, 2), scope, d)[0]})"
            q, r = g.fresh("q"), g.fresh("r")
            use = g.choice([f"np.sum({q} @ {r})", f"np.sum({r} * {r})"])
            lines = [(0, f"{q}, {r} = np.linalg.qr({A})"), (0, f"{v} = {use}")]
        scope.vars[v] = ()
        return lines
    if k == "compose_vjp":
        y, pb, gv = g.fresh("v"), g.fresh("pb"), g.fresh("v")
        a = g.expr(g.hs, scope, d)[0]
        ct = g.choice(["1.0", "0.5", g.expr((), scope, 1)[0]])
        scope.vars[y] = ()
        scope.vars[gv] = g.hs
        g.nonfresh.add(gv)
        tail = g.choice([f"{gv} = {pb}({ct})[0]", f"{gv}, = {pb}({ct})"])
        return [(0, f"{y}, {pb} = vjp(hs, {a})"), (0, tail)]
    if k == "compose_bound_grad":
        dh, v = g.fresh("dh"), g.fresh("v")
        a = g.expr(g.hs, scope, d)[0]
        scope.vars[v] = g.hs
        return [(0, f"{dh} = grad(hs)"), (0, f"{v} = {dh}({a})")]
    if k == "apply_local_def":
        loc, v = g.fresh("loc"), g.fresh("v")
        S = g.shape(scope)
        a = g.expr(S, scope, d)[0]
        body = g.choice(["np.cos(t) * t", "t * t + 0.5", "np.tanh(2.0 * t)"])
        scope.vars[v] = S
        return [(0, f"def {loc}(t):"), (1, f"return {body}"), (0, f"{v} = apply({loc}, {a})")]
    if k == "dict_view_write":
        vw, v = g.fresh("vw"), g.fresh("v")
        view = g.choice(["d['W'][:, 1:2]", "d['W'][0]", "d['W'].T[0]", "d['W'][1, :]"])
        e1 = g.expr(g.choice([(), (3,), (2, 3)]), scope, d)[0]
        e2 = g.expr((), scope, 1)[0]
        scope.vars[v] = ()
        return [(0, f"{vw} = {view}"), (0, f"d['W'] += 0.1 * np.tanh({e1})"),
                (0, f"{v} = np.sum({vw} * {_par(e2)})")]
    raise AssertionError(k)


# transforms whose result may share memory with their operand
VIEW_FEATURES = {"attr_T", "transpose", "method_reshape", "reshape", "index", "slice",
                 "newaxis", "expand_dims", "squeeze", "method_ravel", "ravel",
                 "method_squeeze", "ellipsis_index"}


def _par(s):
    return s if _is_atom(s) else f"({s})"


def _is_atom(s):
    return s.replace("_", "").isalnum() or (s.startswith("(") and s.endswith(")") and _balanced(s[1:-1]))


def _balanced(s):
    depth = 0
    for ch in s:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


def _indent(lines, k=1):
    return [(i + k, t) for i, t in lines]


# --------------------------------------------------------------------------
# extra constructs (see _Gen.extra_expr / extra_stmt / specials)
# --------------------------------------------------------------------------

# (shape, template, operand shapes, feature): displays and stacking
DISPLAYS = [
    ((2, 3), "np.array([[{0}, {1}, {2}], [{3}, {4}, {5}]])", [()] * 6, "nested_list_array"),
    ((2, 3), "np.array([{0}, {1}])", [(3,), (3,)], "nested_list_array"),
    ((2, 3), "np.array([[{0}, {1}, {2}], {3}])", [(), (), (), (3,)], "nested_list_array"),
    ((2, 3), "np.vstack([{0}, {1}])", [(3,), (3,)], "stack_list"),
    ((2, 3), "np.vstack(({0}, {1}))", [(3,), (3,)], "stack_1d"),
    ((2, 3), "np.c_[{0}, {1}, {2}]", [(2,)] * 3, "np_c_"),
    ((3, 2), "np.column_stack(({0}, {1}))", [(3,), (3,)], "stack_1d"),
    ((3, 2), "np.column_stack([{0}, {1}])", [(3,), (3,)], "stack_list"),
    ((3, 2), "np.c_[{0}, {1}]", [(3,), (3,)], "np_c_"),
    ((3, 2), "np.array([[{0}, {1}], [{2}, {3}], [{4}, {5}]])", [()] * 6, "nested_list_array"),
    ((3,), "np.r_[{0}, {1}]", [(2,), ()], "np_r_"),
    ((3,), "np.r_[{0}, {1}, {2}]", [(), (), ()], "np_r_"),
    ((3,), "np.hstack([{0}, {1}, {2}])", [(), (), ()], "stack_list"),
    ((3,), "np.hstack(({0}, {1}))", [(2,), ()], "stack_1d"),
    ((3,), "np.array([{0}, {1}, {2}])", [(), (), ()], "nested_list_array"),
    ((2,), "np.r_[{0}, {1}]", [(), ()], "np_r_"),
    ((2,), "np.hstack(({0}, {1}))", [(), ()], "stack_1d"),
    ((2,), "np.array([{0}, {1}])", [(), ()], "nested_list_array"),
    ((1, 3), "np.array([[{0}, {1}, {2}]])", [()] * 3, "nested_list_array"),
    ((1, 3), "np.vstack([{0}])", [(3,)], "stack_list"),
    ((2, 1), "np.array([[{0}], [{1}]])", [(), ()], "nested_list_array"),
    ((2, 1), "np.c_[{0}]", [(2,)], "np_c_"),
    ((2, 1), "np.vstack(({0}, {1}))", [(), ()], "stack_1d"),
]
# result shape -> [(W shape, shapes of the *args)] for cat(W, *args)
CAT_FORMS = {
    (): [((2,), [(), ()]), ((3,), [(), (), ()]), ((3,), [(2,), ()])],
    (3,): [((2, 3), [(), ()])],
    (2,): [((3, 2), [(), (), ()])],
}
# (initial value, value after the rebind) of the global alias ``act``
ACT_ALIASES = [("np.tanh", "np.sin"), ("np.sin", "np.cos"), ("np.cos", "np.tanh"),
               ("np.arctan", "np.tanh")]
SNIPPETS = {
    "deco": '''\
def scaled(k):
    def deco(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            return k * fn(*args, **kwargs)
        return wrapper
    return deco


def keep(fn):
    return fn''',
    "cat": '''\
def cat(W, *args):
    return np.hstack(args) @ W''',
    "total": '''\
def total(*xs):
    s = 0
    for v in xs:
        s = s + v
    return s''',
    "pairs": '''\
def pairs(u):
    return [(u[0], u[1]), (u[2], u[0] * u[1])]''',
    "scale_": '''\
def scale_(v, s):
    v /= s
    return np.sum(v)''',
    "bump_": '''\
def bump_(A, e):
    A += e
    A *= 2.0
    return A''',
    "net": '''\
def net(layers, h):
    for W, b in layers:
        h = np.tanh(W @ h + b)
    return h''',
    "first_bias": '''\
def first_bias(layers):
    W, b = layers[0]
    return np.sum(b * b) + np.sum(W[0])''',
    "lin": '''\
def lin(p, u):
    return np.tanh(p['W'] @ u + p.get('b'))''',
    "d_norm": '''\
def d_norm(p):
    return np.sum(p['W'] * p['W']) + np.sum(p.get('b', 0.0))''',
}
SNIPPET_ORDER = ["deco", "cat", "total", "pairs", "scale_", "bump_", "net", "first_bias",
                 "lin", "d_norm"]
TREE_SPECS = {
    "params": lambda g: [(Leaf((2, 3)), Leaf((2,))), (Leaf((3, 2)), Leaf((3,)))],
    "d": lambda g: ({"W": Leaf((2, 3)), "b": Leaf((2,)), "c": Leaf(())} if g.coin(0.5)
                    else {"W": Leaf((2, 3)), "b": Leaf((2,))}),
}


def _pseudo_vars(prm):
    """Subscripts of a tree parameter used as (read-only) values."""
    if prm.name == "params":
        return [("params[0][1]", (2,)), ("params[1][0]", (3, 2))]
    if _is_rec(prm.spec):
        return [(f"{prm.name}.W", (2, 3)), (f"{prm.name}.b", (2,))]
    return [(f"{prm.name}[{k!r}]", spec.shape) for k, spec in prm.spec.items()]


# the feature names of the extra constructs (each usable in Config.avoid)
EXTRA_FEATURES = sorted({
    "unary_ops", "neg_literal", "neg_alias", "complex_real", "varargs_cat", "varargs_sum",
    "tree_list_param", "tree_dict_param", "tree_twice", "param_two_helpers", "dict_get",
    "nested_list_array", "np_r_", "np_c_", "stack_1d", "stack_list", "zip_star",
    "inplace_helper_arg", "dict_subscript_write", "decorators", "decorated_helper_wraps",
    "decorated_helper_plain", "decorated_entry_wraps", "decorated_entry_plain",
    "global_alias", "global_rebind", "helper_rebind", "shadow_builtin"})
GENERIC_EXTRAS = {"unary_ops", "neg_literal", "complex_real", "display"}
STMT_SPECIALS = {"pairs", "bump_", "d"}
SHADOWED_BUILTINS = ["min", "len", "range", "list", "slice", "reversed", "sum", "abs"]


def _shadow_builtin(g, src, params):
    """Rename one parameter or local of the entry function (module-wide, all
    its NAME tokens) to a builtin name the module never uses."""
    import io
    import keyword
    import tokenize
    toks = list(tokenize.generate_tokens(io.StringIO(src).readline))
    names = {t.string for t in toks if t.type == tokenize.NAME}
    free = [b for b in SHADOWED_BUILTINS if b not in names and g.ok("shadow_builtin")]
    entry = src[src.index("\ndef f("):]
    mine = sorted({t.string for t in tokenize.generate_tokens(io.StringIO(entry).readline)
                   if t.type == tokenize.NAME and not keyword.iskeyword(t.string)
                   and (t.string in {p.name for p in params if p.kind != "tree"}
                        or t.string[:1] in "virq" and t.string[1:].isdigit())})
    if not free or not mine:
        return src, params
    old, new = g.choice(mine), g.choice(free)
    g.feat("shadow_builtin")
    out = [tokenize.TokenInfo(t.type, new, t.start, t.end, t.line)
           if t.type == tokenize.NAME and t.string == old else t for t in toks]
    src = tokenize.untokenize(out)
    params = [dataclasses.replace(p, name=new) if p.name == old else p for p in params]
    return src, params


# --------------------------------------------------------------------------
# foreign constructs (fence fuzzing)
# --------------------------------------------------------------------------

EXOTIC_EXPRS = ['x_lambda_call', 'x_generator_expr', 'x_chained_compare', 'x_walrus', 'x_eval', 'x_starred_display', 'x_dict_display', 'x_ellipsis', 'x_math_module', 'x_builtin_minmax', 'x_builtin_abs_pow', 'x_fstring', 'x_set_display', 'x_unregistered_np', 'x_is_in', 'x_astype_copy', 'x_item', 'x_np_float64', 'x_dict_values']
EXOTIC_STMTS = ['x_try', 'x_try_finally', 'x_with', 'x_yield', 'x_global', 'x_nonlocal', 'x_lambda', 'x_listcomp_stmt', 'x_dictcomp', 'x_del', 'x_class', 'x_match', 'x_walrus_if', 'x_async_def', 'x_starred_target', 'x_nested_def', 'x_exec', 'x_assert', 'x_raise', 'x_setitem', 'x_inplace_alias', 'x_list_mutation', 'x_annassign', 'x_while_else', 'x_np_out_kwarg', 'x_inplace_method', 'x_tuple_index', 'x_pass_print']


def _pick_var(g, scope, shapes=None):
    c = [(n, s) for n, s in scope.vars.items() if shapes is None or s in shapes]
    return g.choice(c) if c else (None, None)


def _exotic_expr(g, S, scope, d):
    """A foreign expression of shape S (or None)."""
    allowed = [i for i, n in enumerate(EXOTIC_EXPRS) if n not in g.cfg.avoid]
    k = allowed[g.integer(0, len(allowed) - 1)]
    a, _ = g.leaf(S, scope)
    if k == 0:
        g.feat("x_lambda_call")
        return f"(lambda t: t * 2.0)({a})", set()
    if k == 1:
        n, F = _pick_var(g, scope, [(3,), (2,)])
        if n is not None and S == ():
            g.feat("x_generator_expr")
            return f"sum(t * t for t in {n})", set()
        if n is not None and S == F:
            g.feat("x_listcomp")
            return f"np.array([t * 2.0 for t in {n}])", set()
        return None
    if k == 2:
        g.feat("x_chained_compare")
        b, _ = g.leaf((), scope)
        return f"({a} if -1.0 < {b} < 1.0 else -({a}))", set()
    if k == 3:
        g.feat("x_walrus")
        w = g.fresh("w")
        return f"(({w} := {a}) * {w})", set()
    if k == 4:
        g.feat("x_eval")
        return f"({a} * eval('2.0'))", set()
    if k == 5 and S != ():
        g.feat("x_starred_display")
        n, F = _pick_var(g, scope, [S])
        if F is not None and len(S) == 1:
            return f"np.array([*{n}])", {n}
        return None
    if k == 6:
        g.feat("x_dict_display")
        return f"{{'a': {a}, 'b': 1.0}}['a']", {a} if a.isidentifier() else set()
    if k == 7:
        g.feat("x_ellipsis")
        if S == (2,) or S == (3,):
            n, F = _pick_var(g, scope, [(2, 3)])
            if n is not None:
                return (f"{n}[..., 0]" if S == (2,) else f"{n}[0, ...]"), {n}
        if S == ():
            return None
        return f"{_par(a)}[...]", {a} if a.isidentifier() else set()
    if k == 8 and S == ():
        g.feat("x_math_module")
        return f"math.sin({a})", set()
    if k == 9 and S == ():
        g.feat("x_builtin_minmax")
        b, _ = g.leaf((), scope)
        return f"{g.choice(['max', 'min'])}({a}, {b})", set()
    if k == 10 and S == ():
        g.feat("x_builtin_abs_pow")
        return g.choice([f"abs({a})", f"pow({a}, 2)", f"float({a})"]), set()
    if k == 11:
        g.feat("x_fstring")
        return f"({a} * len(f'{{{a}}}') / len(f'{{{a}}}'))", set()
    if k == 12:
        g.feat("x_set_display")
        return f"({a} * len({{1, 2, 2}}))", set()
    if k == 13 and S == ():
        g.feat("x_unregistered_np")
        n, F = _pick_var(g, scope, ARRAY_SHAPES)
        if n is not None:
            return g.choice([f"np.cumsum({n})[-1]", f"np.sum(np.arctan2({n}, 2.0))", f"np.trace(np.atleast_2d({n}))",
                             f"np.sort({n}.ravel())[0]", f"np.var({n})", f"np.std({n})",
                             f"np.einsum('...->', {n})", f"np.average({n})"]), set()
        return None
    if k == 14:
        g.feat("x_is_in")
        return f"({a} if {g.choice(['1 in (1, 2)', 'None is None', 'a is not None'])} else 0.0 * {a})" \
            .replace("a is not None", f"{a} is not None"), set()
    if k == 15:
        g.feat("x_astype_copy")
        if S == ():
            return f"float({a})", set()
        return g.choice([f"{a}.astype(float)", f"{a}.copy()", f"np.asarray({a})",
                         f"np.array({a})"]), set()
    if k == 17 and S == ():
        g.feat("x_np_float64")
        return f"np.float64({a})", set()
    if k == 18 and S == ():
        g.feat("x_dict_values")
        b, _ = g.leaf((), scope)
        return f"sum({{'p': {a}, 'q': {b}}}.values())", set()
    if k == 16 and S == ():
        g.feat("x_item")
        if a.isidentifier() and scope.vars.get(a) == ():
            return f"{a}.item()", set()
        return None
    return None


def _exotic_stmt(g, scope, ctx):
    """Foreign statements; returns lines or None."""
    allowed = [i for i, n in enumerate(EXOTIC_STMTS) if n not in g.cfg.avoid]
    k = allowed[g.integer(0, len(allowed) - 1)]
    S = g.choice(SHAPES)
    e, _ = g.expr(S, scope, 2)
    name = g.fresh("v")
    out = None
    if k == 0:
        g.feat("x_try")
        exc = g.choice(["Exception", "ZeroDivisionError", "(ValueError, TypeError)"])
        out = [(0, "try:"), (1, f"{name} = {e}"), (0, f"except {exc}:"), (1, f"{name} = {e}")]
    elif k == 1:
        g.feat("x_try_finally")
        out = [(0, "try:"), (1, f"{name} = {e}"), (0, "finally:"), (1, "pass")]
    elif k == 2:
        g.feat("x_with")
        cm = g.choice(["contextlib.nullcontext()", "np.errstate(all='ignore')"])
        out = [(0, f"with {cm}:"), (1, f"{name} = {e}")]
    elif k == 3:
        g.feat("x_yield")
        out = [(0, f"{name} = {e}"), (0, f"yield {name}")]
    elif k == 4:
        g.feat("x_global")
        gname = "G_STATE"
        if "G_STATE" not in g.module_globals:
            g.module_globals.add(gname)
            g.module_lines.append((0, "G_STATE = 0.5"))
        if g.coin(0.5):
            out = [(0, f"global {gname}"), (0, f"{gname} = {gname} * 1.0"),
                   (0, f"{name} = {e}")]
        else:
            scope.vars[name] = ()
            return [(0, f"{name} = G_STATE * 2.0")]
    elif k == 5:
        g.feat("x_nonlocal")
        inner = g.fresh("inner")
        acc = g.fresh("acc")
        n, F = _pick_var(g, scope, [()])
        if n is None:
            return None
        scope.vars[acc] = ()
        return [(0, f"{acc} = 0.0"), (0, f"def {inner}():"), (1, f"nonlocal {acc}"),
                (1, f"{acc} = {acc} + {n}"), (0, f"{inner}()")]
    elif k == 6:
        g.feat("x_lambda")
        lam = g.fresh("lam")
        out = [(0, f"{lam} = lambda t, s=2.0: t * s + 1.0"), (0, f"{name} = {lam}({e})")]
    elif k == 7:
        g.feat("x_listcomp_stmt")
        n, F = _pick_var(g, scope, [(2, 3), (3,), (2,), (3, 2)])
        if n is None:
            return None
        if len(F) == 1:
            scope.vars[name] = F
            g.nonfresh.add(name)
            return [(0, f"{name} = np.array([np.sin(t) for t in {n} if t > -10.0])")]
        scope.vars[name] = ()
        return [(0, f"{name} = sum([np.sum(r * r) for r in {n}])")]
    elif k == 8:
        g.feat("x_dictcomp")
        n, F = _pick_var(g, scope, [(3,), (2,)])
        if n is None:
            return None
        scope.vars[name] = ()
        return [(0, f"{name} = sum({{k: t for k, t in enumerate({n})}}.values())")]
    elif k == 9:
        g.feat("x_del")
        tmp = g.fresh("tmp")
        out = [(0, f"{tmp} = {e}"), (0, f"{name} = {tmp} * 1.0"), (0, f"del {tmp}")]
    elif k == 10:
        g.feat("x_class")
        cls = g.fresh("C")
        out = [(0, f"class {cls}:"), (1, "k = 2.0"), (0, f"{name} = {e} * {cls}.k")]
    elif k == 11 and sys.version_info >= (3, 10):
        g.feat("x_match")
        i = scope.ints[0] if scope.ints else "2"
        out = [(0, f"match {i}:"), (1, "case 1:"), (2, f"{name} = {e}"), (1, "case _:"),
               (2, f"{name} = -({e})")]
    elif k == 12:
        g.feat("x_walrus_if")
        w = g.fresh("w")
        s, _ = g.expr((), scope, 1)
        out = [(0, f"if ({w} := {s}) > 0.0:"), (1, f"{name} = {e} * {w}"), (0, "else:"),
               (1, f"{name} = {e}")]
    elif k == 13:
        g.feat("x_async_def")
        inner = g.fresh("coro")
        out = [(0, f"async def {inner}():"), (1, "return 1.0"), (0, f"{name} = {e}")]
    elif k == 14:
        g.feat("x_starred_target")
        n, F = _pick_var(g, scope, [(3,), (2,), (2, 3)])
        if n is None:
            return None
        a, b = g.fresh("v"), g.fresh("v")
        scope.vars[a] = F[1:]
        g.nonfresh.update((a, n))
        return [(0, f"{a}, *{b} = {n}")]
    elif k == 15:
        g.feat("x_nested_def")
        inner = g.fresh("inner")
        out = [(0, f"def {inner}(t, c=1.5):"), (1, "return np.sin(t) * c"),
               (0, f"{name} = {inner}({e})")]
    elif k == 16:
        g.feat("x_exec")
        out = [(0, "exec('pass')"), (0, f"{name} = {e}")]
    elif k == 17:
        g.feat("x_assert")
        out = [(0, f"{name} = {e}"), (0, f"assert np.all(np.isfinite({name})), 'bad'")]
    elif k == 18:
        g.feat("x_raise")
        out = [(0, f"{name} = {e}"), (0, f"if np.any(np.abs({name}) > 1e9):"),
               (1, "raise ValueError('too big')")]
    elif k == 19:
        g.feat("x_setitem")
        n, F = _pick_var(g, scope, [(3,), (2,), (2, 3), (3, 2)])
        if n is None:
            return None
        scope.vars[name] = F
        g.nonfresh.add(name)
        idx = "0" if len(F) == 1 else "0, 1"
        src = "1" if len(F) == 1 else "1, 0"
        op = g.choice(["=", "+=", "*="])
        return [(0, f"{name} = {n} * 1.0"), (0, f"{name}[{idx}] {op} np.sin({name}[{src}])")]
    elif k == 20:
        g.feat("x_inplace_alias")
        n, F = _pick_var(g, scope, ARRAY_SHAPES)
        if n is None or n in g.params:
            return None
        al = g.fresh("al")
        g.nonfresh.update((n, al))
        scope.vars[al] = F
        return [(0, f"{al} = {n}"), (0, f"{al} += 0.5")]
    elif k == 21:
        g.feat("x_list_mutation")
        lst = g.fresh("lst")
        out = [(0, f"{lst} = []"), (0, f"{lst}.append({e})"), (0, f"{lst}.append({e})"),
               (0, f"{name} = {lst}[0] + {lst}[-1]")]
    elif k == 22:
        g.feat("x_annassign")
        out = [(0, f"{name}: float = {e}")]
    elif k == 23:
        g.feat("x_while_else")
        it = g.fresh("it")
        out = [(0, f"{name} = {e}"), (0, f"{it} = 0"), (0, f"while {it} < 2:"),
               (1, f"{name} = np.sin({name})"), (1, f"{it} += 1"), (0, "else:"),
               (1, f"{name} = {name} * 1.0")]
    elif k == 24:
        g.feat("x_np_out_kwarg")
        if S == ():
            return None
        out = [(0, f"{name} = np.zeros({shape_src(S)})"), (0, f"np.add({e}, 1.0, out={name})")]
    elif k == 25:
        g.feat("x_inplace_method")
        if S == ():
            return None
        out = [(0, f"{name} = {e} * 1.0"), (0, f"{name}.sort(axis=-1)")]
    elif k == 26:
        g.feat("x_tuple_index")
        tup = g.fresh("tup")
        out = [(0, f"{tup} = ({e}, 2.0)"), (0, f"{name} = {tup}[0] * {tup}[1]")]
    elif k == 27:
        g.feat("x_pass_print")
        out = [(0, "pass"), (0, f"{name} = {e}")]
    if out is None:
        return None
    scope.vars[name] = S
    g.nonfresh.add(name)
    return out


# --------------------------------------------------------------------------
# generation entry points
# --------------------------------------------------------------------------

def generate(chooser, cfg=None):
    cfg = cfg or Config()
    g = _Gen(chooser, cfg)
    src, params, first, last = g.module()
    if cfg.specials and g.ok("shadow_builtin") and ("for " in src or "while " in src) and \
            g.coin(cfg.specials):
        src, params = _shadow_builtin(g, src, params)
    seed = chooser.integer(0, 2 ** 31 - 1)
    return Program(src, "f", params, cfg.out, g.features, seed, first, last, None, g.rebind,
                   g.entry, g.grad2)


def programs(cfg=None, structural=True, seeded=True):
    """Hypothesis strategy of ``Program`` in the supported subset.

    Two generators behind one strategy: ``structural`` draws every choice
    from hypothesis (shrinks to small programs, but hypothesis' draws favour
    small values, so programs are simple); ``seeded`` draws one seed and runs
    the grammar with ``random.Random`` (the distribution of
    ``tests/fuzz_long.py``: bigger programs; reduce failures with
    ``minimize``)."""
    from hypothesis import strategies as st

    @st.composite
    def _structural(draw):
        return generate(HypothesisChooser(draw), cfg)

    def _seeded(seed):
        return generate(RandomChooser(seed), cfg)

    parts = []
    # seeded first: hypothesis favours the first alternative, and the richer
    # seeded programs find more bugs
    if seeded:
        parts.append(st.integers(0, 2 ** 32 - 1).map(_seeded))
    if structural:
        parts.append(_structural())
    return st.one_of(*parts)


FENCE_CFG = Config(exotic=0.1, max_stmts=5)


def fence_programs(cfg=FENCE_CFG, structural=True, seeded=True):
    """Hypothesis strategy of programs with foreign constructs mixed in.

    The structural half uses a higher rate of foreign constructs: its
    programs are smaller (hypothesis favours small draws)."""
    from hypothesis import strategies as st
    parts = []
    if seeded:
        parts.append(programs(cfg, structural=False))
    if structural:
        parts.append(programs(dataclasses.replace(cfg, exotic=max(cfg.exotic, 0.3)),
                              seeded=False))
    return st.one_of(*parts)


# Constructs behind the bugs already found (see tests/test_random_programs.py,
# KNOWN_BUGS); exploration runs avoid them to find new ones.
KNOWN_BUG_AVOID = frozenset({
    "param_rebind",            # BUG-2
    "nested_early_return",     # BUG-3 (early return in a nested block)
    "pass_body",               # BUG-4
    "while_and_break",         # BUG-6
    "nested_loop_break",       # BUG-12
    "where_broadcast",         # BUG-17
    "active_kwarg",            # BUG-18
    # found by the extra constructs (test_random_programs.KNOWN_BUGS):
    "decorated_entry_wraps",   # BUG-20 (grad of a functools.wraps wrapper: TypeError)
})
# fixed since: "attr_T" (BUG-1), "for_iter_rebind" (BUG-5), "setitem_self" (BUG-16),
# "neg_alias" / "unary_ops" (BUG-19, BUG-19b), "complex_real" (BUG-21, BUG-22),
# "entry_partial" (a refusal through a partial entry pointed at '<functools.partial ...>')
# "grad2" (BUG-25, BUG-27, BUG-27b, BUG-30, BUG-32, BUG-33: second derivatives),
# the compose_* constructs of the wide grammar (BUG-26b einsum under hvp,
# BUG-28 vjp output read, BUG-29 grad(h)(hessian(h)(x)), BUG-31 grad of a
# constant helper: nan)
EXPLORE_CFG = Config(avoid=KNOWN_BUG_AVOID)

# foreign constructs behind known bugs (fence fuzzing)
KNOWN_BUG_AVOID_FENCE = KNOWN_BUG_AVOID | {
    "x_np_float64",            # BUG-7
    "x_starred_display",       # BUG-9
    "x_np_out_kwarg",          # BUG-14
    "x_inplace_alias",         # BUG-15
}
# fixed since: "x_dict_values" (BUG-8), "x_inplace_method" (BUG-13)
FENCE_EXPLORE_CFG = Config(exotic=0.1, max_stmts=5, avoid=KNOWN_BUG_AVOID_FENCE)

CATEGORY_CONFIGS = {
    "straight_line": Config(control=False, loops=False, whiles=False, helpers=False),
    "branches": Config(loops=False, whiles=False, helpers=False),
    "for_loops": Config(whiles=False, helpers=False, wide=0.06),
    "while_loops": Config(loops=False, helpers=False, max_stmts=4),
    "helpers": Config(control=False, loops=False, whiles=False, wide=0.06),
    "mixed": Config(wide=0.06),
    "array_out": Config(out="array", wide=0.06),
}


# --------------------------------------------------------------------------
# loading
# --------------------------------------------------------------------------

_TMPDIR = None
_COUNT = itertools.count()


def tmpdir():
    """The directory of the generated modules; removed at exit unless
    PROGEN_KEEP=1 (failure messages carry the whole source anyway)."""
    global _TMPDIR
    if _TMPDIR is None:
        _TMPDIR = tempfile.mkdtemp(prefix="ad_progen_")
        if os.environ.get("PROGEN_KEEP") != "1":
            import atexit
            import shutil
            atexit.register(shutil.rmtree, _TMPDIR, True)
    return _TMPDIR


def load(prog, directory=None):
    """Write ``prog`` into a fresh .py file, import it, return (fn, path)."""
    directory = directory or tmpdir()
    modname = f"prog_{os.getpid()}_{next(_COUNT)}"
    path = os.path.join(directory, modname + ".py")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(prog.source)
    spec = importlib.util.spec_from_file_location(modname, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[modname] = mod
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SyntaxWarning)
        spec.loader.exec_module(mod)
    return getattr(mod, prog.entry or prog.name), path


def unload(path):
    modname = os.path.splitext(os.path.basename(path))[0]
    sys.modules.pop(modname, None)


# --------------------------------------------------------------------------
# the oracle
# --------------------------------------------------------------------------

def _exc_kind(exc):
    name = type(exc).__name__
    if exc.__cause__ is not None and name == "InternalError":
        name += f"({type(exc.__cause__).__name__})"
    return name


def _exc_text(exc):
    """The exception's message, normalised (numbers, names of temporaries
    and temp files dropped), to tell failures apart."""
    import re
    text = str(exc).splitlines()[0] if str(exc) else ""
    if type(exc).__name__ == "InternalError" and exc.__cause__ is not None:
        text = str(exc.__cause__).splitlines()[0] if str(exc.__cause__) else ""
    text = re.sub(r"\S+\.py\S*", "<file>", text)
    text = re.sub(r"<ad_compiler-\d+:\w+>", "<generated>", text)
    text = re.sub(r"\d+", "N", text)
    text = re.sub(r"'(b|d|t|v|r|i)\w*N'", "'<name>'", text)
    return text[:80]


def _is_refusal(exc):
    """A CompileError that is a refusal -- not an InternalError (a compiler
    bug wrapped as a CompileError subclass)."""
    import ad_compiler
    internal = getattr(ad_compiler, "InternalError", None)
    return isinstance(exc, ad_compiler.CompileError) and not (
        internal is not None and isinstance(exc, internal))


class Timeout(Exception):
    pass


class time_limit:
    """Raise ``Timeout`` in the block after ``seconds`` (main thread only)."""

    def __init__(self, seconds):
        self.seconds = seconds

    def __enter__(self):
        import signal
        import threading
        self.active = threading.current_thread() is threading.main_thread()
        if self.active:
            def handler(signum, frame):
                raise Timeout(f"timed out after {self.seconds}s")
            self.old = signal.signal(signal.SIGALRM, handler)
            signal.setitimer(signal.ITIMER_REAL, self.seconds)
        return self

    def __exit__(self, *exc):
        if self.active:
            import signal
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.old)
        return False


PLAIN_TIMEOUT = 2.0
CHECK_TIMEOUT = 20.0


class Discard(Exception):
    """The program / point cannot be checked (plain run fails, branch switch
    too close, ...).  Not a bug."""


class Mismatch(AssertionError):
    """A wrong derivative or value, or an unexpected exception.

    ``sig`` is a short signature (mode, kind) used to tell distinct failures
    apart and by the reducer to keep a failure while shrinking a program."""

    def __init__(self, msg, sig=("?", "?")):
        super().__init__(msg)
        self.sig = sig


class Refused(Exception):
    """The compiler raised CompileError."""

    def __init__(self, err, mode):
        super().__init__(f"{mode}: {err}")
        self.err = err
        self.mode = mode


H1, H2 = 1e-4, 1e-5
ERRSTATE = dict(divide="raise", over="raise", invalid="raise", under="ignore")
RTOL = 1e-5
FD_AGREE = 1e-6


def _deepcopy(a):
    if isinstance(a, np.ndarray):
        return a.copy()
    if _is_rec(a):
        return type(a)(*[_deepcopy(v) for _, v in _rec_items(a)])
    if isinstance(a, dict):
        return {k: _deepcopy(v) for k, v in a.items()}
    if isinstance(a, (list, tuple)):
        return type(a)(_deepcopy(v) for v in a)
    return a


def _copy(args):
    """A deep copy of the arguments (arrays, and pytrees of arrays)."""
    return tuple(_deepcopy(a) for a in args)


def _flat_keys(prog, args):
    """(position, path) of every differentiable leaf of the arguments."""
    keys = []
    for p, prm in enumerate(prog.params):
        if prm.kind == "float":
            keys.append((p, ()))
        elif prm.kind == "tree":
            keys += [(p, path) for path in _tree_paths(args[p])]
    return keys


def _with_leaves(args, keys, leaves):
    """A deep copy of ``args`` with the leaves at ``keys`` replaced."""
    out = list(_copy(args))
    for (p, path), v in zip(keys, leaves):
        out[p] = _tree_set(out[p], path, _deepcopy(v))
    return tuple(out)


def _as_out(v):
    return np.asarray(v, dtype=np.float64)


def _shift(args, p, k, delta):
    x = args[p]
    if isinstance(x, np.ndarray):
        x = x.copy()
        x.reshape(-1)[k] += delta
    else:
        x = float(x) + delta
    return args[:p] + (x,) + args[p + 1:]


def fd_jacobian(fn, args, positions, h, center=None):
    """{p: J of shape out.shape + arg.shape} by central differences.

    With ``center`` (the value at ``args``), also checks that the midpoint
    of each stencil agrees with it: a branch that switches exactly at the
    point (e.g. a condition decided by rounding noise) shows up there."""
    out = {}
    for p in positions:
        x = np.asarray(args[p], dtype=np.float64)
        cols = []
        for k in range(max(x.size, 1)):
            fp = _as_out(fn(*_shift(args, p, k, h)))
            fm = _as_out(fn(*_shift(args, p, k, -h)))
            if fp.shape != fm.shape:
                raise Discard("output shape changes near the point")
            if center is not None:
                if fp.shape != center.shape:
                    raise Discard("output shape changes near the point")
                mid = 0.5 * (fp + fm)
                if not np.all(np.abs(mid - center) <= 1e-7 * (1.0 + np.abs(center))):
                    raise Discard("the point sits on a branch switch (midpoint test)")
            cols.append((fp - fm) / (2 * h))
        J = np.stack(cols, axis=-1)
        out[p] = J.reshape(J.shape[:-1] + x.shape)
    return out


def _close(a, b, scale):
    if np.iscomplexobj(a):        # the derivative of a real function is real
        return False
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return False
    if not np.all(np.isfinite(a)):
        return False
    return bool(np.all(np.abs(a - b) <= RTOL * np.abs(b) + 1e-6 * scale))


def _fmt_args(args):
    with np.printoptions(precision=17):
        return "(" + ", ".join(repr(a) for a in args) + ",)"


def reference(fn, args, positions):
    """Plain value and FD Jacobians at a point, or raise Discard."""
    try:
        with np.errstate(**ERRSTATE), time_limit(PLAIN_TIMEOUT):
            val = fn(*_copy(args))
            if np.iscomplexobj(val):
                raise ValueError("complex result")
            v = _as_out(val)
    except Exception as exc:      # the program itself fails: not our business
        raise Discard(f"plain run raised {type(exc).__name__}: {exc}")
    if v.dtype.kind not in "fiub" or not np.all(np.isfinite(v)) or np.max(np.abs(v), initial=0) > 1e6:
        raise Discard("value not finite / too large")
    try:
        with np.errstate(**ERRSTATE):
            J1 = fd_jacobian(fn, args, positions, H1, center=v)
            J2 = fd_jacobian(fn, args, positions, H2, center=v)
    except Discard:
        raise
    except Exception as exc:
        raise Discard(f"FD run raised {type(exc).__name__}")
    for p in positions:
        if not np.all(np.isfinite(J1[p])) or not np.all(np.isfinite(J2[p])):
            raise Discard("FD not finite")
        scale = 1.0 + np.max(np.abs(J2[p]), initial=0.0)
        if not np.all(np.abs(J1[p] - J2[p]) <= FD_AGREE * scale + 1e-4 * np.abs(J2[p])):
            raise Discard("near a branch switch (FD steps disagree)")
    return val, J2


def _grads_to_tuple(g):
    return g if isinstance(g, tuple) else (g,)


class Checker:
    """Runs the API on one program and raises Mismatch / Refused / Discard.

    Arguments may be pytrees (``Param.kind == "tree"``): finite differences
    run over every float leaf (``J`` is keyed by (position, path)), through a
    wrapper that deep-copies its inputs first, so a program that updates its
    inputs in place is checked against plain Python semantics.  Every API
    call gets its own deep copy of the arguments, compared afterwards with
    the original: the derivative must never modify the caller's inputs."""

    def __init__(self, prog, fn, path, modes):
        self.prog = prog
        self.fn = fn
        self.path = path
        self.modes = modes

    def fail(self, what, args, extra="", sig=None):
        raise Mismatch(f"{what}\n{extra}\n--- program ({self.path}) ---\n"
                       f"{self.prog.source}--- args ---\n{_fmt_args(args)}\n",
                       sig or (what.split(" ")[0].rstrip(":"), "wrong derivative"))

    def point(self, tries=4):
        prog = self.prog
        last = None
        for t in range(tries):
            args = prog.make_args(prog.seed + 7919 * t)
            keys = _flat_keys(prog, args)
            leaves = tuple(_deepcopy(_tree_get(args[p], path)) for p, path in keys)

            def flat_fn(*lv, args=args, keys=keys):
                return self.fn(*_with_leaves(args, keys, lv))
            try:
                val, J = reference(flat_fn, leaves, list(range(len(keys))))
                return args, val, {keys[k]: j for k, j in J.items()}
            except Discard as d:
                last = d
                if "plain run raised" in str(d) and t == 0:
                    raise
        raise last

    def run(self, point=None):
        args, val, J = point or self.point()
        v = _as_out(val)
        scale = 1.0 + max(np.max(np.abs(v), initial=0.0),
                          max((np.max(np.abs(j), initial=0.0) for j in J.values()), default=0.0))
        for mode in self.modes:
            call = _copy(args)
            try:
                with time_limit(CHECK_TIMEOUT):
                    getattr(self, "check_" + mode)(call, v, J, scale)
            except (Mismatch, Discard):
                raise
            except Exception as exc:
                if _is_refusal(exc):
                    raise Refused(exc, mode) from None
                tb = traceback.format_exc()
                self.fail(f"{mode}: unexpected {type(exc).__name__}: {exc}", args, tb,
                          sig=(mode, _exc_kind(exc) + ": " + _exc_text(exc)))
            if not all(_tree_equal(a, b) for a, b in zip(call, args)):
                self.fail(f"{mode}: the derivative function mutated its inputs", args,
                          sig=(mode, "mutated inputs"))
        return args, v, J, scale

    def _value(self, mode, got, v, args):
        if np.iscomplexobj(got):
            self.fail(f"{mode}: complex primal value {got!r} (plain value {v!r})", args,
                      sig=(mode, "wrong value"))
        g = _as_out(got)
        if g.shape != v.shape or not np.allclose(g, v, rtol=1e-9, atol=1e-12):
            self.fail(f"{mode}: primal value {g!r} != plain value {v!r}", args,
                      sig=(mode, "wrong value"))

    def _compare(self, mode, p, got, J, scale, args, ct=None, what="got"):
        """``got`` (the derivative for parameter ``p``, a pytree for a tree
        parameter) against the FD reference, leaf by leaf."""
        prm = self.prog.params[p]
        paths = [k[1] for k in J if k[0] == p]
        for path in paths:
            ref = J[(p, path)]
            if ct is not None:
                ref = np.tensordot(np.asarray(ct, dtype=float), ref, axes=np.ndim(ct))
            try:
                leaf = _tree_get(got, path)
            except Exception:
                self.fail(f"{mode} wrt {prm.name}: result {got!r} has no leaf at {path!r}", args,
                          sig=(mode, "wrong structure"))
            if np.shape(leaf) != ref.shape or not _close(leaf, ref, scale):
                at = f"{prm.name}{''.join(f'[{k!r}]' for k in path)}"
                self.fail(f"{mode} wrt {at}: {what}\n{leaf!r}\nexpected (FD)\n{ref!r}", args)

    def check_grad(self, args, v, J, scale):
        from ad_compiler import grad
        if v.shape != ():
            return
        pos = self.prog.float_positions
        names = tuple(self.prog.params[p].name for p in pos)
        g = grad(self.fn, wrt=names)(*args)
        g = _grads_to_tuple(g)
        if len(g) != len(pos):
            self.fail(f"grad: returned {len(g)} gradients for wrt={names}", args)
        for p, gp in zip(pos, g):
            self._compare("grad", p, gp, J, scale, args)

    def check_value_and_grad(self, args, v, J, scale):
        from ad_compiler import value_and_grad
        if v.shape != ():
            return
        p = self.prog.float_positions[-1]
        val, g = value_and_grad(self.fn, wrt=p)(*args)
        self._value("value_and_grad", val, v, args)
        self._compare("value_and_grad", p, g, J, scale, args)

    def check_vjp(self, args, v, J, scale):
        from ad_compiler import vjp
        out, pull = vjp(self.fn, *args)
        self._value("vjp", out, v, args)
        rng = np.random.default_rng(self.prog.seed + 1)
        ct = rng.standard_normal(v.shape) if v.shape else 1.0
        if v.shape == () and isinstance(out, np.ndarray):
            ct = np.ones(())
        cts = pull(ct)
        if len(cts) != len(args):
            self.fail(f"vjp: pullback returned {len(cts)} cotangents for {len(args)} primals",
                      args)
        for p, prm in enumerate(self.prog.params):
            if prm.kind == "int":
                if cts[p] is not None:
                    self.fail(f"vjp: cotangent of int argument {prm.name} is {cts[p]!r}", args)
                continue
            if cts[p] is None:
                self.fail(f"vjp wrt {prm.name} (ct={ct!r}): got None", args)
            self._compare("vjp", p, cts[p], J, scale, args, ct=ct,
                          what=f"(ct={ct!r}) got")

    def check_jvp(self, args, v, J, scale):
        from ad_compiler import jvp
        rng = np.random.default_rng(self.prog.seed + 2)
        tangents = []
        ref = np.zeros(v.shape)
        for p, prm in enumerate(self.prog.params):
            if prm.kind == "int":
                tangents.append(None)
                continue
            t = args[p]
            for path in _tree_paths(args[p]):
                leaf = _tree_get(args[p], path)
                tl = float(rng.standard_normal()) if np.shape(leaf) == () else \
                    rng.standard_normal(np.shape(leaf))
                t = _tree_set(t, path, tl)
                ref = ref + np.tensordot(J[(p, path)], np.asarray(tl), axes=np.ndim(leaf))
            tangents.append(t)
        out, tan = jvp(self.fn, args, tuple(tangents))
        self._value("jvp", out, v, args)
        if np.shape(tan) != ref.shape or not _close(tan, ref, scale * 3):
            self.fail(f"jvp: got tangent\n{tan!r}\nexpected (FD)\n{ref!r}\n"
                      f"tangents={tangents!r}", args)

    def check_grad2(self, args, v, J, scale):
        """Second derivatives with respect to the first scalar parameter:
        grad(grad(f)), hessian(f) and jacobian(grad(f), mode="rev") against
        central differences of our own grad(f) (itself checked against
        finite differences of f by the "grad" mode).  Points where the two
        step sizes disagree (a kink of the gradient) are skipped."""
        from ad_compiler import grad, hessian, jacobian
        if v.shape != ():
            return
        pos = [p for p in self.prog.float_positions
               if self.prog.params[p].kind == "float" and self.prog.params[p].shape == ()]
        if not pos:
            return
        p = pos[0]
        name = self.prog.params[p].name
        g = grad(self.fn, wrt=name)

        def gp(delta):
            a = list(_copy(args))
            a[p] = float(args[p]) + delta
            with np.errstate(**ERRSTATE):
                return float(_as_out(g(*a)))
        g0 = gp(0.0)
        refs = []
        for h in (1e-4, 1e-5):
            up, dn = gp(h), gp(-h)
            if abs(0.5 * (up + dn) - g0) > 1e-6 * (1.0 + abs(g0)):
                return                    # the gradient jumps at the point
            refs.append((up - dn) / (2 * h))
        if abs(refs[0] - refs[1]) > 1e-5 * (1.0 + abs(refs[1])):
            return
        ref = np.asarray(refs[1])
        sc = 1.0 + abs(g0) + abs(refs[1])
        for what, make in (("grad(grad(f))", lambda: grad(g, wrt=name)),
                           ("hessian(f)", lambda: hessian(self.fn, wrt=name)),
                           ("jacobian(grad(f), mode='rev')",
                            lambda: jacobian(g, wrt=name, mode="rev"))):
            try:
                got = make()(*_copy(args))
            except TypeError as exc:
                # a nesting the API documents as unsupported (LIMITATIONS,
                # composition), refused with a TypeError saying what to do
                if "is not supported" in str(exc):
                    return
                raise
            if np.shape(got) != () or not _close(got, ref, sc * 10):
                self.fail(f"grad2: {what} wrt {name}: got\n{got!r}\nexpected (FD of grad)\n"
                          f"{ref!r}", args, sig=("grad2", "wrong derivative"))

    def check_rebind(self):
        """Programs with ``rebind``: a derivative function made (and called)
        before module globals are rebound must give, after the rebind, the
        derivative of the NEW function; so must new derivative functions."""
        from ad_compiler import grad
        prog = self.prog
        pos = prog.float_positions
        names = tuple(prog.params[p].name for p in pos)
        args, v, J, scale = self.run()
        keep = grad(self.fn, wrt=names) if v.shape == () else None
        try:
            if keep is not None:
                keep(*_copy(args))
        except Exception as exc:
            if _is_refusal(exc):
                raise Refused(exc, "grad") from None
            raise
        ns = self.fn.__globals__
        for name, src in prog.rebind:
            ns[name] = eval(src, ns)
        point = self.point()
        args, v, J, scale = self.run(point)
        if keep is None:
            return
        try:
            with time_limit(CHECK_TIMEOUT):
                g = _grads_to_tuple(keep(*_copy(args)))
        except Exception as exc:
            if _is_refusal(exc):
                raise Refused(exc, "grad") from None
            self.fail(f"grad after rebind: unexpected {type(exc).__name__}: {exc}", args,
                      traceback.format_exc(), sig=("grad", _exc_kind(exc) + ": " + _exc_text(exc)))
        for p, gp in zip(pos, g):
            self._compare("grad-after-rebind", p, gp, J, scale, args)


# Compile errors on constructs of the supported subset that are accepted for
# now, as (feature, substring of the message).  Keep this list short and
# report it.
ALLOWED_REFUSALS = [
    # helpers that update an array argument in place and writes through dict
    # subscripts of a parameter: plain Python semantics, or a well-located
    # refusal (both acceptable; never a wrong number)
    ("inplace_helper_arg", ""),
    ("dict_subscript_write", ""),
    # a functools.wraps wrapper around the differentiated function or a helper
    # (arbitrary code around the call): a refusal is acceptable
    ("decorated_entry_wraps", ""),
    ("decorated_helper_wraps", ""),
    # a degenerate swap binding two names to one array (x, v0 = v0, v0), then
    # x *= e: Python changes both names; refused at run time as documented
    # (LIMITATIONS: y += v where y is the same array as another name)
    ("swap", "which is the same array as"),
    # a view of d['W'] bound before d['W'] += e and read after it (BUG-24,
    # fixed by refusing): the documented refusal, never a wrong number
    ("dict_view_write", "in-place write into"),
    # ... and the same write when the entry is a lambda or partial calling the
    # program's function (f_entry = lambda x, d: -f(x, d)): f writes into its
    # argument d, the documented refusal of helpers that write into their
    # arguments (fuzz seed 10606, array_out 10606032096)
    ("dict_view_write", "writes into its argument"),
]


def refusal_allowed(prog, err):
    msg = str(err)
    return any(f in prog.features and s in msg for f, s in ALLOWED_REFUSALS)


SUPPORTED_MODES = ("grad", "value_and_grad", "vjp", "jvp")


def check_program(prog, modes=SUPPORTED_MODES, directory=None):
    """Oracle for programs of the supported subset.

    Returns "ok" or "allowed-refusal: ..."; raises Discard for points that
    cannot be checked and Mismatch for bugs (with the program's source).
    """
    fn, path = load(prog, directory)
    if prog.grad2 and "grad" in modes and "grad2" not in modes:
        modes = tuple(modes) + ("grad2",)
    try:
        checker = Checker(prog, fn, path, modes)
        try:
            if prog.rebind:
                checker.check_rebind()
            else:
                checker.run()
        except Refused as r:
            if refusal_allowed(prog, r.err):
                _check_error_location(prog, r.err, path)
                return f"allowed-refusal: {r}"
            raise Mismatch(f"CompileError on a construct of the supported subset:\n{r}\n"
                           f"--- program ({path}) ---\n{prog.source}",
                           sig=(r.mode, "CompileError")) from None
        return "ok"
    finally:
        unload(path)


def check_fence_program(prog, modes=("grad",), directory=None):
    """Oracle for programs with foreign constructs.

    Returns "ok" (correct derivative) or "refused" (a well-located
    CompileError); raises Discard when the program itself fails when run
    plainly, and Mismatch for anything else.
    """
    from ad_compiler import CompileError, grad
    try:
        fn, path = load(prog, directory)
    except Exception as exc:
        raise Discard(f"module does not load: {exc}")
    try:
        args = prog.make_args()
        try:
            with np.errstate(**ERRSTATE), time_limit(PLAIN_TIMEOUT):
                plain = fn(*_copy(args))
        except Exception as exc:
            raise Discard(f"plain run raised {type(exc).__name__}")
        numeric = isinstance(plain, (float, int, np.floating, np.ndarray)) and \
            not isinstance(plain, bool)
        if not numeric or np.asarray(plain).dtype.kind not in "fi":
            # e.g. a generator: the only acceptable outcome is a refusal
            try:
                pos = prog.float_positions
                names = tuple(prog.params[p].name for p in pos)
                with time_limit(CHECK_TIMEOUT):
                    grad(fn, wrt=names)(*_copy(args))
            except CompileError as err:
                if not _is_refusal(err):
                    raise Mismatch(f"non-numeric program: grad raised an internal error: {err}\n"
                                   f"--- program ({path}) ---\n{prog.source}",
                                   sig=("grad", "InternalError")) from None
                _check_error_location(prog, err, path)
                return "refused"
            except TypeError as exc:
                if "requires the function to return a scalar" in str(exc):
                    return "refused"      # the API's own error for a non-scalar result
                raise Mismatch(f"non-numeric program ({type(plain).__name__}): grad raised "
                               f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}\n"
                               f"--- program ({path}) ---\n{prog.source}",
                               sig=("grad", "TypeError: " + _exc_text(exc))) from None
            except Exception as exc:
                raise Mismatch(f"non-numeric program ({type(plain).__name__}): grad raised "
                               f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}\n"
                               f"--- program ({path}) ---\n{prog.source}",
                               sig=("grad", _exc_kind(exc) + ": " + _exc_text(exc))) from None
            raise Mismatch(f"non-numeric program ({type(plain).__name__}) differentiated "
                           f"without error\n--- program ({path}) ---\n{prog.source}",
                           sig=("grad", "non-numeric accepted"))
        checker = Checker(prog, fn, path, modes)
        try:
            if prog.rebind:
                checker.check_rebind()
            else:
                checker.run()
        except Refused as r:
            _check_error_location(prog, r.err, path)
            return "refused"
        return "ok"
    finally:
        unload(path)


def _function_ranges(source):
    """Line ranges of the module's functions (and of module-level lambdas:
    a refusal of a call made by the lambda entry may point there)."""
    import ast
    tree = ast.parse(source)
    return [(n.lineno, n.end_lineno) for n in tree.body
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) or
            (isinstance(n, ast.Assign) and isinstance(n.value, ast.Lambda))]


def _check_error_location(prog, err, path):
    ranges = _function_ranges(prog.source)
    ok_line = isinstance(err.lineno, int) and any(a <= err.lineno <= b for a, b in ranges)
    ok_file = os.path.basename(path) in str(err)
    if not (ok_line and ok_file):
        raise Mismatch(f"badly located CompileError (lineno={err.lineno!r}, "
                       f"filename={err.filename!r}; functions span {ranges}):\n{err}\n"
                       f"--- program ({path}) ---\n{prog.source}",
                       sig=("grad", "badly located CompileError"))


def show(prog):
    """The program's source with line numbers (for reports)."""
    return "\n".join(f"{i + 1:3d}  {l}" for i, l in enumerate(prog.source.splitlines()))


# --------------------------------------------------------------------------
# reducing a failing program (for reports and tests/fuzz_long.py)
# --------------------------------------------------------------------------

def _entry_range(source, name):
    import ast
    for n in ast.parse(source).body:
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == name:
            return n.lineno, n.end_lineno
    return 1, 1


def with_source(prog, source):
    first, last = _entry_range(source, prog.name)
    return Program(source, prog.name, prog.params, prog.out, set(prog.features), prog.seed,
                   first, last, prog.args, prog.rebind, prog.entry, prog.grad2)


def _stmt_lists(tree):
    import ast
    for node in ast.walk(tree):
        for fld in ("body", "orelse", "finalbody"):
            lst = getattr(node, fld, None)
            if isinstance(lst, list) and lst and isinstance(lst[0], ast.stmt):
                yield node, fld
        if isinstance(node, ast.Try):
            for h in node.handlers:
                yield h, "body"
        if hasattr(ast, "Match") and isinstance(node, ast.Match):
            for c in node.cases:
                yield c, "body"


def _candidates(source, entry):
    """Smaller variants of ``source``, biggest cuts first (lazily)."""
    import ast

    def variants(edit):
        tree = ast.parse(source)
        try:
            if edit(tree) is False:
                return None
            ast.fix_missing_locations(tree)
            out = ast.unparse(tree) + "\n"
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", SyntaxWarning)
                compile(out, "<candidate>", "exec")
        except Exception:
            return None
        return out if out != source else None

    tree0 = ast.parse(source)
    # 1. drop module-level functions other than the entry
    for i, n in enumerate(tree0.body):
        if isinstance(n, ast.FunctionDef) and n.name != entry:
            def edit(t, i=i):
                del t.body[i]
            v = variants(edit)
            if v:
                yield v
    # 2. statements: delete, or replace a compound statement by one of its bodies
    lists = list(_stmt_lists(tree0))
    for li in range(len(lists)):
        node0, fld = lists[li]
        if isinstance(node0, ast.Module):
            continue
        for si in range(len(getattr(node0, fld))):
            def delete(t, li=li, si=si):
                node, f = list(_stmt_lists(t))[li]
                lst = getattr(node, f)
                del lst[si]
                if not lst:
                    if f in ("orelse", "finalbody"):
                        return None
                    lst.append(ast.Pass())
            v = variants(delete)
            if v:
                yield v
            st0 = getattr(node0, fld)[si]
            for sub in ("body", "orelse", "finalbody"):
                if isinstance(st0, (ast.If, ast.For, ast.While, ast.With, ast.Try)) and \
                        getattr(st0, sub, None):
                    def inline(t, li=li, si=si, sub=sub):
                        node, f = list(_stmt_lists(t))[li]
                        lst = getattr(node, f)
                        lst[si:si + 1] = getattr(lst[si], sub)
                    v = variants(inline)
                    if v:
                        yield v
            if isinstance(st0, (ast.If, ast.For, ast.While)) and st0.orelse:
                def drop_else(t, li=li, si=si):
                    node, f = list(_stmt_lists(t))[li]
                    getattr(node, f)[si].orelse = []
                v = variants(drop_else)
                if v:
                    yield v
    # 3. expressions: replace by a child expression, a constant or a parameter
    def _exprs(t):
        funcs = {id(n.func) for n in ast.walk(t) if isinstance(n, ast.Call)}
        return [n for n in ast.walk(t) if isinstance(n, ast.expr) and id(n) not in funcs
                and not isinstance(n, ast.Slice)
                and not isinstance(getattr(n, "ctx", None), (ast.Store, ast.Del))]
    exprs = _exprs(tree0)
    for ei in range(len(exprs)):
        e0 = exprs[ei]
        kids = [c for c in ast.iter_child_nodes(e0) if isinstance(c, ast.expr)]
        if isinstance(e0, ast.Call):
            kids = list(e0.args) + [k.value for k in e0.keywords]
        options = [("kid", j) for j in range(len(kids))]
        if not isinstance(e0, ast.Constant):
            options.append(("const", 0.5))
        if isinstance(e0, ast.Call):
            for j in range(len(e0.keywords)):
                options.append(("dropkw", j))
        for opt in options:
            def repl(t, ei=ei, opt=opt):
                e = _exprs(t)[ei]
                if opt[0] == "dropkw":
                    del e.keywords[opt[1]]
                    return
                if opt[0] == "const":
                    new = ast.Constant(opt[1])
                else:
                    ks = [c for c in ast.iter_child_nodes(e) if isinstance(c, ast.expr)]
                    if isinstance(e, ast.Call):
                        ks = list(e.args) + [k.value for k in e.keywords]
                    new = ks[opt[1]]
                for parent in ast.walk(t):
                    for fld, val in ast.iter_fields(parent):
                        if val is e:
                            setattr(parent, fld, new)
                            return
                        if isinstance(val, list):
                            for k, item in enumerate(val):
                                if item is e:
                                    val[k] = new
                                    return
                return False
            v = variants(repl)
            if v:
                yield v


def reduce_program(prog, still_fails, max_checks=1500):
    """Greedy reduction: the smallest variant of ``prog`` for which
    ``still_fails(variant)`` holds."""
    cur = prog
    checks = 0
    seen = set()
    progress = True
    while progress and checks < max_checks:
        progress = False
        for src in _candidates(cur.source, cur.name):
            if src in seen:
                continue
            seen.add(src)
            checks += 1
            cand = with_source(cur, src)
            try:
                ok = still_fails(cand)
            except Exception:
                ok = False
            if ok:
                cur = cand
                progress = True
                break
            if checks >= max_checks:
                break
    return cur


def same_failure(sig, modes=SUPPORTED_MODES, fence=False):
    """A ``still_fails`` predicate: the variant fails with signature ``sig``."""
    def pred(p):
        try:
            if fence:
                check_fence_program(p, modes=modes)
            else:
                check_program(p, modes=modes)
        except Mismatch as m:
            return m.sig == sig
        except Discard:
            return False
        return False
    return pred


def minimize(prog, fence=False, modes=None, max_checks=1500):
    """(reduced program, signature) for a failing program, or None."""
    modes = modes or (("grad",) if fence else SUPPORTED_MODES)
    try:
        if fence:
            check_fence_program(prog, modes=modes)
        else:
            check_program(prog, modes=modes)
        return None
    except Mismatch as m:
        sig = m.sig
    except Discard:
        return None
    mode_only = (sig[0],) if sig[0] in SUPPORTED_MODES else modes
    return reduce_program(prog, same_failure(sig, mode_only, fence), max_checks), sig
