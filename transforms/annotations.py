"""Annotations: facts a pass leaves on an AST node for a later pass.

Every annotation has a member of ``Key`` (documented there: what it means,
who sets it, who reads it) and lives in one dict attribute of the node, so a
pass that rebuilds a node carries all of them with one call::

    new = nodes.assign(n, value)
    annotations.copy(old, new)          # new replaces old: keep its facts

instead of copying ad-hoc ``_ad_*`` attributes by hand (a pass that forgot
``_ad_adjoint`` silently turned batching off: issue #12).

    annotations.set(stmt, Key.ADJOINT, True)
    if annotations.get(stmt, Key.ADJOINT, False): ...

The dict is replaced, never updated in place, on every change, so a shallow
``copy.copy`` of a node never sees later changes made to the other one; deep
copies (``nodes.copy_node``, ``copy.deepcopy``) copy it with the node.

Not node annotations (so not here): the ``__ad_*__`` markers on Python
functions (``__ad_nondiff__``...), ``_ad_noted`` / ``_ad_decorator_explained``
on exceptions (codegen.note_origin, compiler._explain_decorator), the
``__ad_comment_N__`` placeholders of codegen and the ``_ad_index`` name the
normalizer emits.
"""
import enum

__all__ = ["Key", "get", "set", "has", "delete", "copy", "items"]

_ATTR = "_ad_annotations"       # the one attribute (a dict Key -> value)


class Key(enum.Enum):
    """The annotations.  Each member's ``__doc__`` says what it means, who
    sets it and who reads it (``tests/test_annotations.py`` checks that
    every member says all three)."""

    def __new__(cls, value, doc):
        member = object.__new__(cls)
        member._value_ = value
        member.__doc__ = doc
        return member

    # -- generated code (read by clean-ups and the backend) -------------------

    ADJOINT = ("adjoint", """True on a statement of the adjoint sweep.
    Set by: transforms/ad/reverse.py (``loc``, marker rewrites, restores),
    transforms/ad/checkpoint.py (through ``loc``), carried by
    transforms/cleanup/batch.py and optimize.py when they rebuild a
    statement.  Read by: transforms/backend/codegen.py (``# adjoint of line
    N`` instead of ``# line N``) and transforms/cleanup/batch.py (which
    ``for`` loops are adjoint loops, whose accumulations it batches).""")

    NOTE = ("note", """A pass's remark on a statement (str), printed as a
    comment above it.  Set by: transforms/ad/reverse.py (a checkpointed
    helper's recomputed forward sweep), transforms/ad/checkpoint.py
    (checkpointed loops).  Read by: transforms/backend/codegen.py
    (``annotate``).""")

    BUILTIN = ("builtin", """True on a Name of a builtin that generated code
    calls (``slice``), bound to the builtin under a free name when the code is
    loaded.  Set by: transforms/ad/templates.py (``index_as_value``).  Read
    by: ad_compiler/compiler.py (``_load``).""")

    BEARING = ("bearing", """True on the nodes of a rule template's ``d[p]``
    once filled in (they carry a derivative), so a call whose derivative
    operands are all known zeros folds to zero.  Set by:
    transforms/ad/templates.py (``_Filler``).  Read by:
    transforms/ad/templates.py (``_ZeroSimplifier.visit_Call``).""")

    # -- bookkeeping of the reverse pass (on the normalized statements) -------

    MARKER = ("marker", """(kind, var, key) on a placeholder statement of a
    save (``"save"``) or restore (``"restore"``) of ``var`` under save key
    ``key``; replaced at the end by a push/pop or a copy to a fresh name, or
    dropped when nothing needs the value.  Set by: transforms/ad/reverse.py
    (``_marker``).  Read by: transforms/ad/reverse.py (``_sweeps``' rewrite),
    transforms/ad/checkpoint.py (``strip_markers``, ``adjoint_loop``).""")

    TAPED = ("taped", """True on a save marker inside the re-run of a
    checkpointed loop's iteration in the adjoint code: a push of the primal
    sweep, so its rewrite is not marked ADJOINT.  Set by:
    transforms/ad/checkpoint.py (``adjoint_loop``).  Read by:
    transforms/ad/reverse.py (``_sweeps``' rewrite).""")

    RERUN = ("rerun", """True on the loops of a checkpointed loop's adjoint
    that run primal iterations again (what they assign comes from snapshots,
    not from saves).  Set by: transforms/ad/checkpoint.py
    (``adjoint_loop``).  Read by: transforms/ad/checkpoint.py
    (``needed_names``).""")

    KEY = ("key", """The save key (int) of the value an assignment
    overwrites, or of a ``for`` loop's variable (None: not saved).  Set by:
    transforms/ad/reverse.py (``save_marker``, ``for_primal``).  Read by:
    transforms/ad/reverse.py (``adjoint_stmt``, ``loop_adjoint``: the
    restore marker).""")

    TAPE_KEY = ("tape_key", """The save key (int) of the tape of a call of a
    user function inside a loop.  Set by: transforms/ad/reverse.py
    (``user_primal``).  Read by: transforms/ad/reverse.py
    (``adjoint_stmt``).""")

    CALLEE = ("callee", """(callee, tape name) of a call of a user function
    differentiated by its own split vjp.  Set by: transforms/ad/reverse.py
    (``user_primal``).  Read by: transforms/ad/reverse.py
    (``assign_adjoint``).""")

    OLD = ("old", """(statement, name) on ``x[idx] = v`` into an active
    array: the statement ``name = ad.read_at(x, idx)`` that keeps the
    overwritten part, restored by the adjoint.  Set by:
    transforms/ad/reverse.py (``store_primal``).  Read by:
    transforms/ad/reverse.py (``adjoint_stmt``, ``store_adjoint``).""")

    COND_COPY = ("cond_copy", """On an ``if`` whose branches rebind its own
    condition: the statement ``c = cond`` that copies the condition before
    it (its adjoint follows the if's).  Set by: transforms/ad/reverse.py
    (``primal_stmt``).  Read by: transforms/ad/reverse.py
    (``adjoint_stmt``).""")

    COUNTER = ("counter", """(counter name, save key or None) of a ``while``
    loop or a ``for`` loop with ``break`` (its trip count, for the adjoint
    loop); None for other for loops.  Set by: transforms/ad/reverse.py
    (``for_primal``, ``while_primal``).  Read by: transforms/ad/reverse.py
    (``loop_adjoint``), transforms/ad/checkpoint.py (``adjoint_loop``).""")

    CKPT = ("ckpt", """(checkpoint name, state names, primal body) of an
    outermost ``for`` loop that is checkpointed (``grad(f,
    checkpoint=...)``); None otherwise.  Set by: transforms/ad/reverse.py
    (``for_primal``).  Read by: transforms/ad/reverse.py
    (``loop_adjoint``), transforms/ad/checkpoint.py (``adjoint_loop``).""")

    # -- the normalizer (transforms/normalize/) ------------------------------

    USER_NAME = ("user_name", """On a Name the normalizer renamed (inlining,
    a local function used as a value): the name the user wrote, for
    messages.  Set and read by: transforms/normalize/.""")

    LAMBDA = ("lambda", """On the FunctionDef made from ``f = lambda ...``:
    the Lambda node it came from.  Set and read by:
    transforms/normalize/.""")

    ANCHOR = ("anchor", """On a synthetic binding made by unpacking (tuple
    assignment, ``for`` target): the statement it stands for.  Set and read
    by: transforms/normalize/ (aliasing checks).""")

    UNPACKED = ("unpacked", """True on a synthetic ``name = source[...]``
    binding made by unpacking (a view of, or the very array held by, the
    source).  Set and read by: transforms/normalize/ (aliasing checks).""")

    ALIAS = ("alias", """(a, b) on an assignment that makes name ``a`` share
    memory with ``b``.  Set and read by: transforms/normalize/ (in-place
    write checks).""")

    LABEL = ("label", """On a Call of a computed callee: what the user
    wrote (str), for messages.  Set by: transforms/normalize/.  Read by:
    transforms/ad/ops.py (``classify``: an ``unknown`` op with that
    label).""")


# The normalizer still sets these as ``_ad_<value>`` attributes until it is
# converted to this module; get/has/copy read them too.  (Transition only:
# remove with the last ``_ad_`` attribute of transforms/normalize/.)
_LEGACY = {k: "_ad_" + k.value for k in (Key.USER_NAME, Key.LAMBDA, Key.ANCHOR,
                                         Key.UNPACKED, Key.ALIAS, Key.LABEL)}

_EMPTY = {}
_MISSING = object()


def _table(node):
    return node.__dict__.get(_ATTR, _EMPTY)


def get(node, key, default=None):
    """The value of annotation ``key`` on ``node``, or ``default``."""
    value = node.__dict__.get(_ATTR, _EMPTY).get(key, _MISSING)
    if value is _MISSING:
        legacy = _LEGACY.get(key)
        return default if legacy is None else node.__dict__.get(legacy, default)
    return value


def has(node, key):
    """Is annotation ``key`` set on ``node`` (to any value, None included)?"""
    if key in _table(node):
        return True
    legacy = _LEGACY.get(key)
    return legacy is not None and legacy in node.__dict__


def set(node, key, value):   # noqa: A001 (annotations.set, as in the issue)
    """Set annotation ``key`` of ``node`` to ``value``; returns ``node``."""
    if not isinstance(key, Key):
        raise TypeError(f"annotation keys are annotations.Key members, not {key!r}")
    table = dict(_table(node))
    table[key] = value
    node.__dict__[_ATTR] = table
    return node


def delete(node, key):
    """Remove annotation ``key`` from ``node`` (nothing if it is not set)."""
    table = _table(node)
    if key in table:
        table = dict(table)
        del table[key]
        node.__dict__[_ATTR] = table
    legacy = _LEGACY.get(key)
    if legacy is not None:
        node.__dict__.pop(legacy, None)


def items(node):
    """{Key: value} of all the annotations of ``node`` (a new dict)."""
    out = {k: node.__dict__[a] for k, a in _LEGACY.items() if a in node.__dict__}
    out.update(_table(node))
    return out


def copy(src, dst):
    """Give ``dst`` every annotation of ``src`` (``src``'s win over ``dst``'s
    own); returns ``dst``.  For a pass that builds ``dst`` to replace
    ``src``.  Values are shared, not copied (a node an annotation refers to
    is the same node); ``nodes.copy_node`` copies them with the tree."""
    found = items(src)
    if found:
        table = dict(_table(dst))
        table.update(found)
        dst.__dict__[_ATTR] = table
    return dst
