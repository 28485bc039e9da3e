"""The pass manager (transforms/pipeline.py) and the pipeline it runs
(compiler.passes): analyses computed once and reused, dropped by a rewrite
that does not preserve them, forks, errors naming their pass, and the list
in the documented order."""
import re

import numpy as np
import pytest

import ad_compiler as ad
from ad_compiler import CompileError, InternalError, compiler
from ad_compiler.transforms import pipeline


# --- the manager on toy passes ---------------------------------------------

class _Ctx:
    branch = None
    analyses = None


def _counting(log):
    def compute_length(tree, ctx, a):
        log.append("length")
        return len(tree)

    def compute_double(tree, ctx, a):
        log.append("double")
        return 2 * a["length"]
    return [pipeline.analysis("length", compute_length),
            pipeline.analysis("double", compute_double, requires=["length"])]


def test_an_analysis_is_computed_once_and_reused():
    log, seen = [], []

    def read(tree, ctx, a):
        seen.append(a["double"])
        return tree
    passes = [pipeline.step("read1", read, ["double"], pipeline.ALL),
              pipeline.step("read2", read, ["double"], ["length", "double"]),
              pipeline.step("read3", read, ["length"], pipeline.ALL)]
    out = pipeline.PassManager(passes, _counting(log)).run([1, 2, 3], _Ctx())
    assert out == [1, 2, 3]
    assert log == ["length", "double"]       # once each, dependencies first
    assert seen == [6, 6, 6]


def test_a_rewrite_drops_what_it_does_not_preserve():
    log, seen = [], []

    def read(tree, ctx, a):
        seen.append(a["double"])
        return tree

    def grow(tree, ctx, a):
        return tree + [0]
    passes = [pipeline.step("read", read, ["double"], pipeline.ALL),
              pipeline.step("grow_keeps_length", grow, preserves=["length"]),
              pipeline.step("read_again", read, ["double"], pipeline.ALL),
              pipeline.step("grow", grow),
              pipeline.step("read_last", read, ["double"])]
    pipeline.PassManager(passes, _counting(log)).run([1, 2], _Ctx())
    # "length" declared preserved by the first rewrite (wrongly, on purpose:
    # the manager trusts the declaration), "double" recomputed from it; the
    # second rewrite preserves nothing: both recomputed on the new tree
    assert seen == [4, 4, 8]
    assert log == ["length", "double", "double", "length", "double"]


def test_a_fork_runs_the_rest_on_each_tree_with_its_own_analyses():
    log, order = [], []

    def fork(tree, ctx, a):
        a["length"]
        return pipeline.Fork([("short", tree[:1]), ("long", tree + tree)])

    def tail(tree, ctx, a):
        order.append((ctx.branch, a["length"]))
        return ctx.branch, len(tree)
    passes = [pipeline.step("fork", fork, preserves=["length"]),
              pipeline.step("tail", tail)]
    out = pipeline.PassManager(passes, _counting(log)).run([1, 2, 3], _Ctx())
    assert out == {"short": ("short", 1), "long": ("long", 6)}
    # (the fork said "length" still holds: each branch starts from that)
    assert order == [("short", 3), ("long", 3)]
    assert log == ["length"]


def test_an_unknown_analysis_is_refused_when_the_pipeline_is_built():
    with pytest.raises(ValueError, match="unknown analysis 'sizes'"):
        pipeline.PassManager([pipeline.step("p", lambda t, c, a: t, ["sizes"])], [])


def test_an_exception_is_blamed_on_its_pass_or_analysis():
    def broken_pass(tree, ctx, a):
        raise KeyError("k")

    def broken_analysis(tree, ctx, a):
        raise AttributeError("attr")
    known = [pipeline.analysis("bad", broken_analysis)]
    with pytest.raises(KeyError) as info:
        pipeline.PassManager([pipeline.step("p", broken_pass)], known).run([], _Ctx())
    assert info.value.ad_pass == "p pass"
    with pytest.raises(AttributeError) as info:
        pipeline.PassManager([pipeline.step("q", lambda t, c, a: t, ["bad"])],
                             known).run([], _Ctx())
    assert info.value.ad_pass == "bad analysis"


# --- the compiler's pipeline -----------------------------------------------

def _diagram():
    doc = pipeline.__doc__
    return doc[doc.index("::"):doc.index("A **pass**")]


@pytest.mark.parametrize("mode,aux", [("grad", False), ("grad", True), ("split", False),
                                      ("value_and_grad", False), ("forward", False)])
def test_the_pipeline_is_the_documented_order(mode, aux):
    names = [p.name for p in compiler.passes(mode, aux)]
    assert names[:3] == ["parse", "fence", "normalize"]
    assert names[-1] == "load"
    assert ("split_aux" in names) == aux
    assert ("specialize" in names) == (mode != "forward")
    assert ("forward" if mode == "forward" else "reverse") in names
    diagram = _diagram()
    where = []
    for n in names:
        found = [m.start() for m in re.finditer(rf"\b{n}\b", diagram)]
        assert len(found) == 1, f"pass {n} is not in the diagram once: {found}"
        where.append(found[0])
    assert where == sorted(where), (names, where)


def _loss(W, x):
    h = np.tanh(W @ x)
    s = 0.0
    for i in range(3):
        s = s + np.sum(h * h) * (i + 1.0)
    return s


def _fd_grad(f, args, k, eps=1e-6):
    args = [np.array(a, dtype=float) for a in args]
    g = np.zeros_like(args[k])
    for idx in np.ndindex(*args[k].shape):
        up = [a.copy() for a in args]
        dn = [a.copy() for a in args]
        up[k][idx] += eps
        dn[k][idx] -= eps
        g[idx] = (f(*up) - f(*dn)) / (2 * eps)
    return g


def _count(monkeypatch):
    calls = {"activity": 0, "shapes": 0}
    real_act, real_shapes = compiler.activity.analyze, compiler.shapes_analysis.analyze

    def act(*a, **k):
        calls["activity"] += 1
        return real_act(*a, **k)

    def shapes(*a, **k):
        calls["shapes"] += 1
        return real_shapes(*a, **k)
    monkeypatch.setattr(compiler.activity, "analyze", act)
    monkeypatch.setattr(compiler.shapes_analysis, "analyze", shapes)
    return calls


def test_one_reverse_compile_computes_each_analysis_once(monkeypatch):
    """Activity and shapes once per compile; the result checked against
    central finite differences."""
    calls = _count(monkeypatch)
    rng = np.random.default_rng(0)
    W, x = rng.normal(size=(3, 4)), rng.normal(size=4)
    entry = compiler.transform(_loss, "grad", ("W", "x"), {}, {})
    assert calls == {"activity": 1, "shapes": 1}
    gW, gx = entry.function(W, x)
    np.testing.assert_allclose(gW, _fd_grad(_loss, (W, x), 0), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(gx, _fd_grad(_loss, (W, x), 1), rtol=1e-6, atol=1e-8)


def test_a_vjp_forks_into_two_sweeps_sharing_the_analyses(monkeypatch):
    calls = _count(monkeypatch)
    rng = np.random.default_rng(1)
    W, x = rng.normal(size=(3, 4)), rng.normal(size=4)
    entry = compiler.transform(_loss, "split", ("W", "x"), {}, {})
    assert calls == {"activity": 1, "shapes": 1}
    assert set(entry.sources) == {"fwd", "bwd"}
    y, saved = entry.fwd(W, x)
    assert np.isclose(y, _loss(W, x))
    gW, gx = entry.bwd(saved, 2.0)
    np.testing.assert_allclose(gx, 2.0 * _fd_grad(_loss, (W, x), 1), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(gW, 2.0 * _fd_grad(_loss, (W, x), 0), rtol=1e-6, atol=1e-8)


def test_forward_mode_has_the_shape_analysis_too(monkeypatch):
    calls = _count(monkeypatch)
    seen = []
    real = compiler._AD["forward"]._run

    def spy(tree, ctx, analyses):
        seen.append("shapes" in analyses and ctx.shapes is analyses["shapes"])
        return real(tree, ctx, analyses)
    monkeypatch.setattr(compiler._AD["forward"], "_run", spy)
    rng = np.random.default_rng(2)
    W, x, dx = rng.normal(size=(3, 4)), rng.normal(size=4), rng.normal(size=4)
    entry = compiler.transform(_loss, "forward", ("x",), {}, {})
    assert seen == [True]
    assert calls == {"activity": 1, "shapes": 1}
    y, t = entry.function(W, x, **{entry.tangent_params["x"]: dx})
    assert np.isclose(y, _loss(W, x))
    assert np.isclose(t, _fd_grad(_loss, (W, x), 1) @ dx, rtol=1e-6)


def _for_broken_pass(x):
    return np.sum(np.sin(x) * x)


def _for_broken_analysis(x):
    return np.sum(np.cos(x) * x)


def test_an_unexpected_exception_in_a_pass_is_an_internal_error_naming_it(monkeypatch):
    def broken(*a, **k):
        raise KeyError("stale key")
    monkeypatch.setattr(compiler.sequences, "retarget", broken)
    with pytest.raises(InternalError, match=r"grad mode, sequences pass\): KeyError"):
        ad.grad(_for_broken_pass)(np.ones(3))


def test_an_unexpected_exception_in_an_analysis_is_an_internal_error_naming_it(monkeypatch):
    def broken(*a, **k):
        raise AttributeError("no such thing")
    monkeypatch.setattr(compiler.shapes_analysis, "analyze", broken)
    with pytest.raises(InternalError, match=r"shapes analysis\): AttributeError"):
        ad.grad(_for_broken_analysis)(np.ones(3))


def _refused(x):
    try:
        y = np.sin(x)
    except ValueError:
        y = x
    return np.sum(y)


def test_a_refusal_is_not_an_internal_error():
    with pytest.raises(CompileError) as info:
        ad.grad(_refused)(np.ones(3))
    assert not isinstance(info.value, InternalError)
    assert "'try'" in str(info.value)
    assert getattr(info.value, "ad_pass", None) is None
