"""ad_compiler.tree: flatten/unflatten/map over dict, list, tuple, NamedTuple,
dataclass and None; ravel for scipy.optimize."""
import collections
import copy
import dataclasses
from typing import NamedTuple

import numpy as np
import pytest

from ad_compiler import grad
from ad_compiler.tree import (TreeDef, TreeStructureError, ravel, tree_add, tree_flatten, tree_leaves,
                              tree_map, tree_scale, tree_structure, tree_sub,
                              tree_unflatten, tree_vdot, tree_zeros_like)


class Layer(NamedTuple):
    W: object
    b: object


@dataclasses.dataclass
class Model:
    layers: list
    temperature: float = 1.0


@dataclasses.dataclass(frozen=True)
class Frozen:
    x: object
    y: object = dataclasses.field(default=0.0, init=False)


def sample():
    return {"z": [np.arange(3.0), (1.5, None)],
            "a": Layer(np.ones((2, 2)), np.float32(2.0)),
            "m": Model([np.full(2, 3.0)], 0.5),
            "o": collections.OrderedDict([("q", 4.0), ("p", np.zeros(1))])}


def test_flatten_order_is_insertion_order_and_roundtrips():
    t = sample()
    leaves, td = tree_flatten(t)
    assert [np.asarray(x).tolist() for x in leaves] == [
        [0.0, 1.0, 2.0], 1.5, [[1.0, 1.0], [1.0, 1.0]], 2.0, [3.0, 3.0], 0.5,
        4.0, [0.0]]
    assert td.num_leaves == 8
    back = tree_unflatten(td, leaves)
    assert type(back["a"]) is Layer and type(back["m"]) is Model
    assert type(back["o"]) is collections.OrderedDict and list(back["o"]) == ["q", "p"]
    assert isinstance(back["z"], list) and type(back["z"][1]) is tuple
    assert back["z"][1][1] is None
    assert list(back) == ["z", "a", "m", "o"]
    assert tree_structure(back) == td and hash(tree_structure(back)) == hash(td)
    assert "Layer(W=*, b=*)" in repr(td) and "None" in repr(td)


def test_none_is_an_empty_subtree():
    assert tree_leaves(None) == []
    assert tree_leaves([None, (None,)]) == []
    assert tree_map(lambda x: x + 1, {"a": None, "b": 1.0}) == {"a": None, "b": 2.0}
    leaves, td = tree_flatten(None)
    assert tree_unflatten(td, []) is None


def test_containers_are_distinguished():
    assert tree_structure((1.0, 2.0)) != tree_structure([1.0, 2.0])
    assert tree_structure((1.0, 2.0)) != tree_structure(Layer(1.0, 2.0))
    assert tree_structure({"a": 1.0, "b": 2.0}) != tree_structure({"b": 1.0, "a": 2.0})
    assert tree_structure({"a": 1.0}) != tree_structure(collections.OrderedDict(a=1.0))
    assert tree_structure([None]) != tree_structure([1.0])
    assert tree_structure(np.ones(3)) == tree_structure(5.0)      # both leaves


def test_dataclass_init_false_and_frozen():
    f = Frozen(np.ones(2))
    out = tree_map(lambda x: x * 2, f)
    assert type(out) is Frozen
    np.testing.assert_array_equal(out.x, [2.0, 2.0])
    assert out.y == 0.0
    leaves, td = tree_flatten(Frozen(1.0))
    assert tree_unflatten(td, [5.0, 6.0]).y == 6.0


def test_defaultdict_keeps_factory():
    d = collections.defaultdict(list, {"a": 1.0})
    out = tree_map(lambda x: x + 1, d)
    assert type(out) is collections.defaultdict and out.default_factory is list
    assert out["a"] == 2.0


def test_tree_map_several_trees_dict_keys_by_name():
    a = {"x": np.ones(2), "y": 1.0}
    b = {"y": 10.0, "x": np.full(2, 3.0)}
    out = tree_map(lambda u, v: u + v, a, b)
    assert list(out) == ["x", "y"]
    np.testing.assert_array_equal(out["x"], [4.0, 4.0])
    assert out["y"] == 11.0


@pytest.mark.parametrize("other, where", [
    ({"x": np.ones(2)}, "the root"),
    ({"x": np.ones(2), "y": [1.0]}, "['y']"),
    ({"x": (np.ones(2),), "y": 1.0}, "['x']"),
    ({"x": np.ones(2), "y": None}, "['y']"),
])
def test_tree_map_mismatch_names_the_place(other, where):
    a = {"x": np.ones(2), "y": 1.0}
    with pytest.raises(ValueError, match="tree 2 does not have the structure") as e:
        tree_map(lambda u, v: u, a, other)
    assert where in str(e.value)
    assert isinstance(e.value, TreeStructureError) and e.value.where == where


def test_tree_map_mismatch_in_namedtuple_field():
    with pytest.raises(ValueError, match=r"\['l'\]\.b"):
        tree_map(lambda u, v: u, {"l": Layer(1.0, [2.0])}, {"l": Layer(1.0, 2.0)})


def test_unflatten_errors():
    _, td = tree_flatten([1.0, 2.0])
    with pytest.raises(ValueError, match="2 leaves, got 3"):
        tree_unflatten(td, [1, 2, 3])
    with pytest.raises(TypeError, match="TreeDef"):
        tree_unflatten([1.0, 2.0], [1.0, 2.0])
    with pytest.raises(TypeError, match="function"):
        tree_map(3, [1.0])
    assert isinstance(td, TreeDef) and td.unflatten([3, 4]) == [3, 4]


def test_arithmetic_helpers():
    a = {"x": np.ones(2), "y": (2.0,)}
    b = {"x": np.full(2, 3.0), "y": (5.0,)}
    np.testing.assert_array_equal(tree_add(a, b)["x"], [4.0, 4.0])
    assert tree_sub(a, b)["y"] == (-3.0,)
    assert tree_scale(a, 0.5)["y"] == (1.0,)
    z = tree_zeros_like({"x": np.ones(2, np.float32), "y": 3.0})
    assert z["x"].dtype == np.float32 and z["y"] == 0.0 and type(z["y"]) is float
    assert tree_vdot(a, b) == pytest.approx(16.0)
    assert isinstance(tree_vdot(a, b), float)


def test_nothing_is_modified():
    t = sample()
    before = copy.deepcopy(t)
    tree_map(lambda x: x * 2, t)
    tree_unflatten(*reversed(tree_flatten(t)))
    v, unravel = ravel(t)
    unravel(v * 2)
    tree_map(np.testing.assert_array_equal, t, before)
    assert list(t["o"]) == ["q", "p"]


def test_ravel_restores_shapes_and_dtypes():
    t = {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "s": 2.5,
         "n": np.float16(1.5), "e": np.zeros((0, 4)), "z": np.array(7.0),
         "none": None}
    v, unravel = ravel(t)
    assert v.dtype == np.float64 and v.shape == (6 + 1 + 1 + 0 + 1,)
    np.testing.assert_array_equal(v, [0, 1, 2, 3, 4, 5, 2.5, 1.5, 7.0])
    back = unravel(v)
    assert back["w"].dtype == np.float32 and back["w"].shape == (2, 3)
    assert type(back["s"]) is float and back["s"] == 2.5
    assert type(back["n"]) is np.float16 and back["n"] == 1.5
    assert back["e"].shape == (0, 4) and back["z"].shape == () and back["none"] is None
    # new arrays, not views of the vector
    back["w"][0, 0] = 100.0
    assert v[0] == 0.0
    v2 = v.copy()
    out = unravel(v2)
    v2[:] = -1
    assert out["z"] == 7.0
    assert ravel({})[0].shape == (0,) and ravel({})[1](np.zeros(0)) == {}


def test_ravel_errors():
    with pytest.raises(TypeError, match=r"leaf at \[1\] is an array of dtype int64"):
        ravel([np.ones(2), np.arange(3)])
    with pytest.raises(TypeError, match="complex"):
        ravel([np.ones(2, dtype=complex)])
    with pytest.raises(TypeError, match="int"):
        ravel({"n": 3})
    _, unravel = ravel([np.ones(2), 1.0])
    with pytest.raises(ValueError, match="length 3"):
        unravel(np.ones(4))
    with pytest.raises(ValueError, match="length 3"):
        unravel(np.ones((3, 1)))


def test_ravel_gradient_matches_finite_differences():
    """The raveled gradient of a loss on a tree of parameters is the gradient
    of the raveled loss (central differences in float64)."""
    rng = np.random.default_rng(0)
    params = {"W": rng.normal(size=(3, 2)), "b": rng.normal(size=2), "s": 0.3}
    X = rng.normal(size=(5, 3))

    def loss(p, X):
        h = np.tanh(X @ p["W"] + p["b"])
        return np.sum(h ** 2) * p["s"] + p["s"] ** 3

    v, unravel = ravel(params)
    ad = ravel(grad(loss)(params, X))[0]
    fd = np.zeros_like(v)
    for i in range(v.size):
        e = np.zeros_like(v)
        e[i] = 1e-6
        fd[i] = (loss(unravel(v + e), X) - loss(unravel(v - e), X)) / 2e-6
    np.testing.assert_allclose(ad, fd, rtol=1e-7, atol=1e-8)


def test_leaf_paths():
    from ad_compiler.tree import leaf_paths
    t = {"a": [1.0, Layer(2.0, None)], "m": Model([3.0]), "n": None}
    assert leaf_paths(t) == ["['a'][0]", "['a'][1].W", "['m'].layers[0]",
                             "['m'].temperature"]
    assert leaf_paths(np.ones(2)) == ["the root"]
    assert len(leaf_paths(sample())) == len(tree_leaves(sample()))
