"""np.einsum in every form: subscripts strings with 1-4 operands (explicit and
implicit output, repeated subscripts, summed-away subscripts, ellipses with
broadcasting), the (operand, sublist) form with and without an output
sublist, ``optimize=``, complex and float32 operands.

Random valid specs come from a small generator (seeded: deterministic); each
is written as a real function into a module file and differentiated through
the public API (``grad``, ``vjp``, ``jvp``), against central finite
differences in float64 (``reference.fd_jacobian``) and, where it runs, HIPS
autograd.
"""
import importlib.util
import os
import string
import sys

import numpy as np
import pytest

import ad_compiler
from ad_compiler import CompileError, grad, hessian, hvp, jvp, vjp

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from reference import fd_hessian, fd_jacobian  # noqa: E402

try:
    import autograd
    import autograd.numpy as anp
except ImportError:  # pragma: no cover
    autograd = None

_PARAMS = ("a", "b", "c", "e")
_ALPHABET = string.ascii_uppercase + string.ascii_lowercase


# --------------------------------------------------------------------------
# a generator of valid einsum specs
# --------------------------------------------------------------------------

def _random_spec(rng):
    """(subscripts string, operand shapes) of a random valid einsum call."""
    while True:
        n_ops = int(rng.integers(1, 5))
        letters = "ijklm"[: int(rng.integers(1, 6))]
        size = {c: int(rng.integers(1, 4)) for c in letters}
        ell = bool(rng.random() < 0.25)
        batch = [int(rng.integers(1, 3)) for _ in range(int(rng.integers(0, 3)))] if ell else []
        subs, shapes = [], []
        for _ in range(n_ops):
            k = int(rng.integers(0, 4))
            s = "".join(rng.choice(list(letters), size=k)) if k else ""
            shape = []
            for c in s:
                # size-1 broadcasting of a subscript, now and then
                shape.append(1 if (size[c] > 1 and rng.random() < 0.1) else size[c])
            if ell:
                nb = int(rng.integers(0, len(batch) + 1))
                bshape = [1 if rng.random() < 0.3 else d for d in batch[len(batch) - nb:]]
                s = "..." + s
                shape = bshape + shape
            subs.append(s)
            shapes.append(tuple(shape))
        used = sorted(set("".join(subs).replace(".", "")))
        if rng.random() < 0.3:
            spec = ",".join(subs)                      # implicit output
        else:
            out = [c for c in used if rng.random() < 0.5]
            rng.shuffle(out)
            spec = ",".join(subs) + "->" + ("..." if ell else "") + "".join(out)
        # repeated subscripts need equal sizes: fix the shapes up
        fixed = []
        for s, shape in zip(subs, shapes):
            core = s.replace("...", "")
            shape = list(shape)
            off = len(shape) - len(core)
            first = {}
            for k, c in enumerate(core):
                if c in first:
                    shape[off + k] = shape[off + first[c]]
                else:
                    first[c] = k
            fixed.append(tuple(shape))
        try:
            np.einsum(spec, *[np.ones(s) for s in fixed])
        except ValueError:
            continue
        if sum(int(np.prod(s)) for s in fixed) > 60:
            continue
        return spec, fixed


def _sublists(spec):
    """The (operand, sublist) form of a subscripts string: lists of ints with
    Ellipsis, and the output sublist or None."""
    lhs, _, rhs = spec.partition("->")

    def conv(s):
        out = []
        if s.startswith("..."):
            out.append(Ellipsis)
            s = s[3:]
        # ints in the ASCII order of the letters: implicit outputs agree
        return out + [_ALPHABET.index(c) for c in s]
    return [conv(s) for s in lhs.split(",")], (conv(rhs) if "->" in spec else None)


_RNG = np.random.default_rng(20260410)
SPECS = [_random_spec(_RNG) for _ in range(36)]
FIXED = [
    ("ij,jk,kl->il", [(2, 3), (3, 2), (2, 2)]),
    ("i,i,i->", [(3,), (3,), (3,)]),
    ("ij,jk,kl", [(2, 3), (3, 2), (2, 3)]),
    ("ii->", [(3, 3)]),
    ("ii,i->i", [(3, 3), (3,)]),
    ("iij,j->ij", [(2, 2, 3), (3,)]),
    ("...ij,...jk->...ik", [(2, 2, 3), (1, 3, 2)]),
    ("...ij,jk", [(2, 1, 3), (3, 2)]),
    ("ij,k->i", [(2, 3), (2,)]),
    ("i->", [(4,)]),
    (",i->i", [(), (3,)]),
    ("ij,ij->ij", [(1, 3), (2, 3)]),
    ("ij,j->i", [(2, 3), (1,)]),
    ("ijk,ik->j", [(2, 3, 2), (2, 2)]),
    ("ab,bc,cd,de->ae", [(2, 2), (2, 3), (3, 2), (2, 2)]),
]
ALL = FIXED + SPECS


def _src(k, spec, shapes, sublist, kw=""):
    params = ", ".join(_PARAMS[: len(shapes)])
    if not sublist:
        call = f"np.einsum({spec!r}, {params}{kw})"
    else:
        subs, out = _sublists(spec)
        parts = []
        for p, s in zip(_PARAMS, subs):
            parts += [p, repr(s).replace("Ellipsis", "...")]
        if out is not None:
            parts.append(repr(out).replace("Ellipsis", "..."))
        call = f"np.einsum({', '.join(parts)}{kw})"
    return f"def f{k}({params}):\n    return {call}\n\n\n"


def _module(tmp_dir, name, cases):
    text = "import numpy as np\n\n\n" + "".join(
        _src(k, spec, shapes, sub, kw) for k, (spec, shapes, sub, kw) in enumerate(cases))
    path = os.path.join(tmp_dir, name + ".py")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def _args(shapes, rng, complex_=False, dtype=np.float64):
    out = []
    for s in shapes:
        x = rng.uniform(-1.5, 1.5, s)
        if complex_:
            x = x + 1j * rng.uniform(-1.5, 1.5, s)
        out.append(np.asarray(x, dtype=dtype) if not complex_ else x)
    return tuple(out)


@pytest.fixture(scope="module")
def mods(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("einsum_mods"))
    cases = {"str": [(s, sh, False, "") for s, sh in ALL],
             "sub": [(s, sh, True, "") for s, sh in ALL]}
    return {form: _module(d, f"_einsum_{form}", c) for form, c in cases.items()}


def _check_all_modes(f, args, rng, tol=1e-6):
    out = np.asarray(f(*args))
    n = len(args)
    # vjp, with a random cotangent, against FD
    ct = rng.standard_normal(out.shape)
    value, pullback = vjp(f, *args)
    np.testing.assert_allclose(value, out, rtol=1e-12, atol=1e-12)
    cts = pullback(ct)
    # jvp with random tangents
    ts = tuple(rng.standard_normal(np.shape(a)) for a in args)
    _, tan = jvp(f, args, ts)
    # grad of sum(W * f)
    W = rng.standard_normal(out.shape)
    gs = grad(_loss_of(f), wrt=tuple(range(1, n + 1)))(W, *args)
    expected_t = np.zeros(out.shape)
    for p in range(n):
        J = fd_jacobian(f, args, p).reshape(out.size, -1)
        np.testing.assert_allclose(np.ravel(cts[p]), ct.reshape(-1) @ J, rtol=tol, atol=tol,
                                   err_msg=f"vjp, operand {p}")
        np.testing.assert_allclose(np.ravel(gs[p]), W.reshape(-1) @ J, rtol=tol, atol=tol,
                                   err_msg=f"grad, operand {p}")
        assert np.shape(cts[p]) == np.shape(args[p])
        assert np.shape(gs[p]) == np.shape(args[p])
        expected_t = expected_t + (J @ np.ravel(ts[p])).reshape(out.shape)
    np.testing.assert_allclose(tan, expected_t, rtol=tol, atol=tol, err_msg="jvp")
    assert np.shape(tan) == out.shape
    return cts


_LOSSES = {}


def _loss_of(f):
    """A compiled-once scalar loss sum(W * f(...)) for ``f`` (a real function
    in a module file, so that ad_compiler can read it)."""
    return _LOSSES[f]


@pytest.fixture(scope="module")
def losses(tmp_path_factory, mods):
    d = str(tmp_path_factory.mktemp("einsum_losses"))
    for form, mod in mods.items():
        text = f"import numpy as np\nfrom {mod.__name__} import *\n\n\n"
        for k, (_, shapes) in enumerate(ALL):
            params = ", ".join(_PARAMS[: len(shapes)])
            text += f"def loss{k}(W, {params}):\n    return np.sum(W * f{k}({params}))\n\n\n"
        name = f"_einsum_loss_{form}"
        path = os.path.join(d, name + ".py")
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
        spec = importlib.util.spec_from_file_location(name, path)
        lm = importlib.util.module_from_spec(spec)
        sys.modules[name] = lm
        spec.loader.exec_module(lm)
        for k in range(len(ALL)):
            _LOSSES[getattr(mod, f"f{k}")] = getattr(lm, f"loss{k}")
    return _LOSSES


@pytest.mark.parametrize("form", ["str", "sub"])
@pytest.mark.parametrize("k", range(len(ALL)), ids=[s for s, _ in ALL])
def test_einsum_against_fd_and_autograd(mods, losses, form, k):
    spec, shapes = ALL[k]
    rng = np.random.default_rng(k)
    f = getattr(mods[form], f"f{k}")
    args = _args(shapes, rng)
    cts = _check_all_modes(f, args, rng)
    if autograd is not None and form == "str":
        out = f(*args)
        ct = np.random.default_rng(k).standard_normal(np.shape(out))
        for p in range(len(args)):
            def fp(x, p=p):
                xs = list(args)
                xs[p] = x
                return anp.sum(ct * anp.einsum(spec, *xs))
            try:
                ref = autograd.grad(fp)(args[p])
            except ValueError:   # autograd cannot do repeated subscripts ('ii')
                continue
            if np.shape(ref) != np.shape(args[p]):
                continue         # autograd does not broadcast a size-1 subscript back
            mine = vjp(f, *args)[1](ct)[p]
            np.testing.assert_allclose(mine, ref, rtol=1e-10, atol=1e-10)
    del cts


@pytest.mark.parametrize("k", range(0, len(ALL), 3), ids=[s for s, _ in ALL[::3]])
def test_einsum_complex(mods, k):
    """Complex operands: a holomorphic multilinear map, so vjp(ct) = ct @ J and
    jvp(t) = J @ t with J the complex Jacobian (FD along the real parts)."""
    spec, shapes = ALL[k]
    rng = np.random.default_rng(100 + k)
    for form in ("str", "sub"):
        f = getattr(mods[form], f"f{k}")
        args = _args(shapes, rng, complex_=True)
        out = np.asarray(f(*args))
        ct = rng.standard_normal(out.shape) + 1j * rng.standard_normal(out.shape)
        ts = tuple(rng.standard_normal(np.shape(a)) + 1j * rng.standard_normal(np.shape(a))
                   for a in args)
        _, pullback = vjp(f, *args)
        cts = pullback(ct)
        _, tan = jvp(f, args, ts)
        expected_t = np.zeros(out.shape, complex)
        for p in range(len(args)):
            J = _complex_fd(f, args, p).reshape(out.size, -1)
            np.testing.assert_allclose(np.ravel(cts[p]), ct.reshape(-1) @ J, atol=1e-6)
            expected_t = expected_t + (J @ np.ravel(ts[p])).reshape(out.shape)
        np.testing.assert_allclose(tan, expected_t, atol=1e-6)
        if autograd is not None and form == "str":
            for p in range(len(args)):
                def fp(x, p=p):
                    xs = list(args)
                    xs[p] = x
                    return anp.real(anp.sum(ct * anp.einsum(spec, *xs)))
                try:
                    ref = autograd.grad(fp)(args[p])
                except ValueError:   # autograd cannot do repeated subscripts
                    continue
                if np.shape(ref) != np.shape(args[p]):
                    continue     # autograd does not broadcast a size-1 subscript back
                # d Re(sum(ct * f)) in autograd's convention is ct @ J
                np.testing.assert_allclose(cts[p], ref, rtol=1e-10, atol=1e-10)


def _complex_fd(f, args, p, h=1e-6):
    x = np.asarray(args[p], dtype=complex)
    out = np.asarray(f(*args))
    J = np.zeros(out.shape + x.shape, complex)
    for i in range(x.size):
        e = np.zeros(x.size, complex)
        e[i] = h
        e = e.reshape(x.shape)
        xs_p = list(args)
        xs_m = list(args)
        xs_p[p] = x + e
        xs_m[p] = x - e
        col = (np.asarray(f(*xs_p)) - np.asarray(f(*xs_m))) / (2 * h)
        J.reshape(out.shape + (-1,))[..., i] = col
    return J


@pytest.mark.parametrize("k", range(0, len(ALL), 4), ids=[s for s, _ in ALL[::4]])
def test_einsum_float32_keeps_dtype(mods, losses, k):
    spec, shapes = ALL[k]
    rng = np.random.default_rng(200 + k)
    for form in ("str", "sub"):
        f = getattr(mods[form], f"f{k}")
        args = _args(shapes, rng, dtype=np.float32)
        out = np.asarray(f(*args))
        assert out.dtype == np.float32
        _, pullback = vjp(f, *args)
        cts = pullback(np.ones(out.shape, np.float32))
        _, tan = jvp(f, args, tuple(np.ones_like(a) for a in args))
        assert np.result_type(tan) == np.float32, (spec, form)
        for p, c in enumerate(cts):
            assert np.result_type(c) == np.float32, (spec, form, p)


_EXTRA = """\
import numpy as np


def opt_true(a, b, c):
    return np.einsum('ij,jk,kl->il', a, b, c, optimize=True)


def opt_greedy(a, b, c):
    return np.einsum(a, [0, 1], b, [1, 2], c, [2, 3], [0, 3], optimize='greedy')


def opt_false_sub(a, b):
    return np.einsum(a, [Ellipsis, 0, 1], b, [1, 2], optimize=False)


def cubic(x):
    return np.einsum('ij,jk,ki->', x, x, x)


def cubic_sub(x):
    return np.einsum(x, [0, 1], x, [1, 2], x, [2, 0])


def diag_mix(x, v):
    return np.sum(np.einsum('ii,i->i', x * x, v) ** 2)


def many(a):
    return np.einsum('i,i,i,i,i,i,i,i,i,i->', a, a, a, a, a, a, a, a, a, a)


def too_many(a):
    return np.einsum('i,i,i,i,i,i,i,i,i,i,i,i,i,i,i,i->', a, a, a, a, a, a, a, a,
                     a, a, a, a, a, a, a, a)


def with_out(a, b):
    r = np.zeros((2, 2))
    np.einsum('ij,jk->ik', a, b, out=r)
    return r
"""


@pytest.fixture(scope="module")
def extra(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("einsum_extra"))
    path = os.path.join(d, "_einsum_extra.py")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(_EXTRA)
    spec = importlib.util.spec_from_file_location("_einsum_extra", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["_einsum_extra"] = mod
    spec.loader.exec_module(mod)
    return mod


def _fd_check(f, args, rng):
    out = np.asarray(f(*args))
    ct = rng.standard_normal(out.shape)
    ts = tuple(rng.standard_normal(np.shape(a)) for a in args)
    cts = vjp(f, *args)[1](ct)
    tan = jvp(f, args, ts)[1]
    exp_t = 0.0
    for p in range(len(args)):
        J = fd_jacobian(f, args, p).reshape(out.size, -1)
        np.testing.assert_allclose(np.ravel(cts[p]), ct.reshape(-1) @ J, atol=1e-6)
        exp_t = exp_t + (J @ np.ravel(ts[p])).reshape(out.shape)
    np.testing.assert_allclose(tan, exp_t, atol=1e-6)


def test_einsum_optimize_keyword(extra):
    rng = np.random.default_rng(7)
    _fd_check(extra.opt_true, _args([(2, 3), (3, 2), (2, 2)], rng), rng)
    _fd_check(extra.opt_greedy, _args([(2, 3), (3, 2), (2, 2)], rng), rng)
    _fd_check(extra.opt_false_sub, _args([(2, 2, 3), (3, 2)], rng), rng)


def test_einsum_same_operand_many_times_and_hessian(extra):
    rng = np.random.default_rng(8)
    x = rng.uniform(-1, 1, (3, 3))
    for f in (extra.cubic, extra.cubic_sub):
        g = grad(f)(x)
        np.testing.assert_allclose(g, fd_jacobian(f, (x,), 0), atol=1e-7)
        np.testing.assert_allclose(hessian(f)(x), fd_hessian(f, (x,), 0), atol=1e-5)
        if autograd is not None:
            ref = autograd.grad(lambda y: anp.einsum('ij,jk,ki->', y, y, y))(x)
            np.testing.assert_allclose(g, ref, rtol=1e-12, atol=1e-12)
    v = rng.uniform(-1, 1, 3)
    for p in (0, 1):
        np.testing.assert_allclose(grad(extra.diag_mix, wrt=p)(x, v),
                                   fd_jacobian(extra.diag_mix, (x, v), p), atol=1e-7)
    np.testing.assert_allclose(hessian(extra.diag_mix)(x, v),
                               fd_hessian(extra.diag_mix, (x, v), 0), atol=1e-5)


def test_einsum_ten_operands(extra):
    a = np.random.default_rng(9).uniform(0.5, 1.5, 3)
    np.testing.assert_allclose(grad(extra.many)(a), fd_jacobian(extra.many, (a,), 0),
                               rtol=1e-7)
    np.testing.assert_allclose(jvp(extra.many, (a,), (np.ones(3),))[1],
                               fd_jacobian(extra.many, (a,), 0).sum(), rtol=1e-7)


def test_einsum_too_many_operands_is_a_compile_error(extra):
    a = np.ones(2)
    with pytest.raises(CompileError, match="at most 15 operands") as info:
        grad(extra.too_many)(a)
    assert info.value.lineno is not None
    with pytest.raises(CompileError, match="at most 15 operands"):
        jvp(extra.too_many, (a,), (a,))


def test_einsum_out_is_refused(extra):
    a = np.ones((2, 2))
    with pytest.raises(CompileError, match="out="):
        jvp(extra.with_out, (a, a), (a, a))


def test_generated_code_shows_the_call():
    """The rules pass sixteen argument slots; generated code shows only the
    user's arguments."""
    import textwrap
    src = ad_compiler.source(_SRC_MOD.two, mode="fwd")
    assert "None" not in src, src
    g = vjp(_SRC_MOD.two, np.ones((2, 3)), np.ones((3, 2)))
    src = ad_compiler.source(g[1])
    assert "None" not in src, textwrap.indent(src, "  ")
    assert "adn.einsum_vjp(" in src


def _load_src_mod():
    import tempfile
    d = tempfile.mkdtemp(prefix="einsum_src")
    path = os.path.join(d, "_einsum_src.py")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("import numpy as np\n\n\ndef two(a, b):\n"
                 "    return np.einsum(a, [0, 1], b, [1, 2], [0, 2])\n")
    spec = importlib.util.spec_from_file_location("_einsum_src", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["_einsum_src"] = mod
    spec.loader.exec_module(mod)
    return mod


_SRC_MOD = _load_src_mod()


# Third and fourth derivatives through einsum (BUG-26b): grad of code calling
# hvp(h) differentiates the forward rule of einsum_vjp, whose terms
# (einsum_vjp_at, one per substituted operand slot) are differentiated again.
_A3 = np.random.default_rng(11).uniform(-1, 1, (2, 3))


def _einsum_three(x):
    return (np.einsum("ij,j,k->ik", _A3, np.tanh(x), x).sum()
            + np.einsum("i,i,i->", x, x, np.sin(x)))


def _hvp_squared(x):
    return np.sum(hvp(_einsum_three)(x, np.cos(x)) ** 2)


def _einsum_scalar(t):
    return np.einsum("i,i,i->", np.sin(t) * np.ones(2), t * np.ones(2), np.cos(t) * np.ones(2))


def test_einsum_third_and_fourth_derivatives():
    x = np.array([0.3, -1.2, 2.0])
    g = grad(_hvp_squared)(x)
    np.testing.assert_allclose(g, fd_jacobian(_hvp_squared, (x,), 0), rtol=1e-6, atol=1e-6)
    H = hessian(_hvp_squared)(x)
    np.testing.assert_allclose(H, fd_jacobian(grad(_hvp_squared), (x,), 0),
                               rtol=1e-5, atol=1e-5)
    d3 = grad(grad(grad(_einsum_scalar)))
    d4 = grad(d3)
    np.testing.assert_allclose(d4(0.7), (d3(0.7 + 1e-5) - d3(0.7 - 1e-5)) / 2e-5,
                               rtol=1e-6)
    if autograd is not None:
        def a_three(y):
            return (anp.einsum("ij,j,k->ik", _A3, anp.tanh(y), y).sum()
                    + anp.einsum("i,i,i->", y, y, anp.sin(y)))

        def a_squared(y):
            return anp.sum(autograd.hessian_vector_product(a_three)(y, anp.cos(y)) ** 2)
        np.testing.assert_allclose(g, autograd.grad(a_squared)(x), rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(H, autograd.hessian(a_squared)(x), rtol=1e-10, atol=1e-10)

        def a_scalar(t):
            return anp.einsum("i,i,i->", anp.sin(t) * anp.ones(2), t * anp.ones(2),
                              anp.cos(t) * anp.ones(2))
        a4 = autograd.grad(autograd.grad(autograd.grad(autograd.grad(a_scalar))))
        np.testing.assert_allclose(d4(0.7), a4(0.7), rtol=1e-10)
