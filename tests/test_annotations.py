"""transforms/annotations.py: node annotations under documented keys, kept
when a pass copies or rebuilds a node (issue #12)."""
import copy
import os
import re

import gast
import numpy as np
import pytest

import ad_compiler as ad
from ad_compiler.transforms import annotations, nodes
from ad_compiler.transforms.annotations import Key

_HERE = os.path.dirname(os.path.abspath(__file__))
_TRANSFORMS = os.path.join(os.path.dirname(_HERE), "transforms")


@pytest.mark.parametrize("key", list(Key), ids=lambda k: k.name)
def test_every_key_is_documented(key):
    doc = key.__doc__ or ""
    assert doc != Key.__doc__, f"{key.name} has no docstring of its own"
    assert len(doc.split()) >= 12, doc
    assert "Set" in doc and "read" in doc.lower(), doc       # who sets it, who reads it


def test_keys_are_distinct():
    assert len({k.value for k in Key}) == len(Key)


def test_get_set_has_delete():
    node = nodes.name("x")
    assert annotations.get(node, Key.ADJOINT) is None
    assert annotations.get(node, Key.ADJOINT, False) is False
    assert not annotations.has(node, Key.COUNTER)
    assert annotations.set(node, Key.COUNTER, None) is node
    assert annotations.has(node, Key.COUNTER)             # (set to None is set)
    assert annotations.get(node, Key.COUNTER, "missing") is None
    annotations.delete(node, Key.COUNTER)
    assert not annotations.has(node, Key.COUNTER)
    annotations.delete(node, Key.COUNTER)                 # (not set: nothing)
    with pytest.raises(TypeError):
        annotations.set(node, "_ad_adjoint", True)


def test_copy_carries_every_annotation():
    old = nodes.assign("a", nodes.name("b"))
    for i, key in enumerate(Key):
        annotations.set(old, key, i)
    new = nodes.assign("a", nodes.name("c"))
    annotations.set(new, Key.NOTE, "own")
    assert annotations.copy(old, new) is new
    assert annotations.items(new) == {key: i for i, key in enumerate(Key)}
    # an empty source leaves the destination's own annotations
    other = nodes.name("z")
    annotations.set(other, Key.BEARING, True)
    annotations.copy(nodes.name("y"), other)
    assert annotations.items(other) == {Key.BEARING: True}


def test_shallow_copy_does_not_share_later_changes():
    node = nodes.name("x")
    annotations.set(node, Key.BEARING, True)
    twin = copy.copy(node)
    annotations.set(twin, Key.NOTE, "twin only")
    annotations.delete(twin, Key.BEARING)
    assert annotations.items(node) == {Key.BEARING: True}
    assert annotations.items(twin) == {Key.NOTE: "twin only"}


@pytest.mark.parametrize("deep", [nodes.copy_node, copy.deepcopy], ids=["copy_node", "deepcopy"])
def test_deep_copies_keep_annotations(deep):
    """A deep copy has the annotations, with node values pointing into the
    copy (one node referred to twice stays one node)."""
    tree = gast.parse("def f(x):\n    a, b = x\n    return a * b\n")
    fdef = tree.body[0]
    annotations.set(fdef.body[1].value, Key.BEARING, True)
    annotations.set(fdef.body[1], Key.OLD, (fdef.body[0], "a"))
    annotations.set(fdef.body[1], Key.COND_COPY, fdef.body[0])
    new = deep(tree)
    ret = new.body[0].body[1]
    assert annotations.get(ret.value, Key.BEARING) is True
    old_stmt, name = annotations.get(ret, Key.OLD)
    assert name == "a" and old_stmt is new.body[0].body[0]
    assert annotations.get(ret, Key.COND_COPY) is old_stmt
    # the copy's annotations are its own
    annotations.set(ret, Key.NOTE, "copy")
    assert not annotations.has(fdef.body[1], Key.NOTE)


def test_legacy_normalizer_attributes_are_read():
    """Until transforms/normalize/ uses this module, its ``_ad_<key>``
    attributes are read (and carried) through it."""
    call = nodes.call("f")
    call._ad_label = "g()"
    assert annotations.get(call, Key.LABEL) == "g()"
    assert annotations.has(call, Key.LABEL)
    new = annotations.copy(call, nodes.call("f"))
    assert annotations.get(new, Key.LABEL) == "g()"


def test_no_ad_attributes_outside_this_module():
    """Passes use annotations.get/set, not ``node._ad_x`` attributes
    (transforms/normalize/ is converted separately; ``_ad_noted`` is an
    exception's flag, ``_is_ad_call`` a method)."""
    pattern = re.compile(r"""(\._ad_[a-z]\w*[a-z](?!\w*__)\b|["']_ad_[a-z]\w*[a-z]["']|ad_builtin)""")
    allowed = {"._ad_noted", '"_ad_noted"', "._is_ad_call"}
    found = []
    for root, _, files in os.walk(_TRANSFORMS):
        if os.sep + "normalize" in root:
            continue
        for fname in files:
            if not fname.endswith(".py") or fname == "annotations.py":
                continue
            path = os.path.join(root, fname)
            with open(path) as f:
                for lineno, line in enumerate(f, 1):
                    for m in pattern.finditer(line):
                        if m.group(0) not in allowed:
                            found.append(f"{path}:{lineno}: {m.group(0)}")
    assert not found, found


def test_adjoint_comments_survive_the_cleanups():
    """The ``# adjoint of line N`` comments come from Key.ADJOINT: every
    statement after the seed of a gradient is adjoint code (optimize's
    rewrites keep the annotation), and the gradient is right."""
    def f(x, y):
        a = -x
        s = np.sum(a * y)
        return s + np.sum(x * x)

    g = ad.grad(f, wrt=(0, 1))
    x, y = np.array([1.0, 2.0, 3.0]), np.array([0.5, -1.0, 2.0])
    gx, gy = g(x, y)
    np.testing.assert_allclose(gx, -y + 2 * x)
    np.testing.assert_allclose(gy, -x)
    src = ad.source(g)
    assert "# adjoint of line" in src
    assert src.index("# adjoint of line") < src.index("return")


def test_batch_sees_adjoint_loops():
    """Batching finds the adjoint loops through Key.ADJOINT: a loop of
    outer-product accumulations becomes one deferred product."""
    def f(W, xs):
        s = 0.0
        for t in range(3):
            s = s + np.sum(np.tanh(W @ xs[t]))
        return s

    rng = np.random.default_rng(0)
    W, xs = rng.normal(size=(4, 4)), rng.normal(size=(3, 4))
    g = ad.grad(f)
    got = g(W, xs)
    eps = 1e-6
    num = np.zeros_like(W)
    for i in range(4):
        for j in range(4):
            E = np.zeros_like(W)
            E[i, j] = eps
            num[i, j] = (f(W + E, xs) - f(W - E, xs)) / (2 * eps)
    np.testing.assert_allclose(got, num, rtol=1e-6, atol=1e-8)
    assert "sum_deferred" in ad.source(g)
