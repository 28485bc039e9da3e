"""The command line: ``python -m ad_compiler rules`` and ``... source``."""
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run(*args, cwd=None):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return subprocess.run([sys.executable, "-m", "ad_compiler", *args], cwd=cwd or ROOT,
                          env=env, capture_output=True, text=True, timeout=120)


class Result:
    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def call(*args, cwd=None, capsys=None):
    """Run the CLI in this process (fast); ``run`` is the subprocess version."""
    from ad_compiler.__main__ import main
    old = os.getcwd()
    if cwd:
        os.chdir(cwd)
        sys.path.insert(0, str(cwd))
    try:
        try:
            code = main(list(args))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
            if not isinstance(exc.code, int) and exc.code:
                print(exc.code, file=sys.stderr)
    finally:
        os.chdir(old)
        if cwd:
            sys.path.remove(str(cwd))
    out = capsys.readouterr()
    return Result(code, out.out, out.err)


@pytest.fixture(scope="module")
def user_module(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    path = folder / "cli_user_mod.py"
    path.write_text(textwrap.dedent('''\
        import numpy as np
        from ad_compiler import forward, reverse

        d = None


        def loss(w, x):
            return np.sum(np.sin(w * x))


        def clip_gradient(x):
            return x


        @reverse(clip_gradient)
        def _clip_rev(z, x):
            d[x] = np.clip(d[z], -1.0, 1.0)


        @forward(clip_gradient)
        def _clip_fwd(z, x):
            d[z] = d[x]
        '''), encoding="utf-8")
    return path


def test_rules_lists_registry_with_totals():
    proc = run("rules")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split()[:3] == ["primitive", "reverse", "forward"]
    sin = [ln for ln in lines if ln.split()[:1] == ["numpy.sin"]]
    assert sin and sin[0].split()[1:3] == ["yes", "yes"]
    assert any("primitives:" in ln and "with a reverse rule" in ln for ln in lines)


def test_rules_grep_and_scipy_names(capsys):
    pytest.importorskip("scipy")
    proc = call("rules", "--grep", "scipy.stats.norm", capsys=capsys)
    assert proc.returncode == 0, proc.stderr
    names = [ln.split()[0] for ln in proc.stdout.splitlines()[1:] if ln.startswith("scipy")]
    assert "scipy.stats.norm.cdf" in names and len(names) == 6


def test_rules_import_shows_user_rules(user_module, capsys):
    env_dir = str(user_module.parent)
    proc = call("rules", "--import", "cli_user_mod", "--grep", "clip_gradient", cwd=env_dir,
                capsys=capsys)
    assert proc.returncode == 0, proc.stderr
    row = [ln for ln in proc.stdout.splitlines() if ln.startswith("cli_user_mod.clip_gradient")]
    assert row, proc.stdout
    assert row[0].split()[1:3] == ["yes", "yes"]
    assert "user (cli_user_mod)" in row[0]


def test_rules_missing_targets(tmp_path, capsys):
    targets = tmp_path / "targets.txt"
    targets.write_text("numpy.sin\nnumpy.no_such_function\nnumpy.floor\n"
                       "numpy.sum\n# a comment\n", encoding="utf-8")
    proc = call("rules", "--targets", str(targets), capsys=capsys)
    assert proc.returncode == 0, proc.stderr
    assert "numpy.sin" in proc.stdout and "ok" in proc.stdout
    assert "not installed" in proc.stdout
    proc = run("rules", "--targets", str(targets), "--missing")   # exit status: subprocess
    assert proc.returncode == 1
    out = proc.stdout
    assert "numpy.sin " not in out            # registered: not listed
    assert "numpy.floor" in out and "non-differentiable" in out
    assert "skipped: numpy.no_such_function" in out
    targets.write_text("numpy.sin\nnumpy.sum\n", encoding="utf-8")
    proc = call("rules", "--targets", str(targets), "--missing", capsys=capsys)
    assert proc.returncode == 0
    assert "2 targets: 2 with both rules, 0 missing" in proc.stdout


def test_rules_missing_needs_targets(capsys):
    proc = call("rules", "--missing", capsys=capsys)
    assert proc.returncode == 2
    assert "--targets" in proc.stderr


def test_source_reverse_forward_vjp(user_module, capsys):
    spec = f"{user_module}:loss"
    rev = run("source", spec)                                  # subprocess
    assert rev.returncode == 0, rev.stderr
    assert "def grad_loss(w, x):" in rev.stdout and "bw" in rev.stdout
    rev1 = call("source", spec, "--wrt", "1", capsys=capsys)
    assert "bx" in rev1.stdout and "return bx" in rev1.stdout
    both = call("source", spec, "--wrt", "0,1", capsys=capsys)
    assert "return (bw, bx)" in both.stdout
    fwd = call("source", spec, "--mode", "fwd", "--wrt", "x", capsys=capsys)
    assert fwd.returncode == 0, fwd.stderr
    assert "def loss_jvp(w, x, *, dx):" in fwd.stdout
    vjp = call("source", spec, "--mode", "vjp", capsys=capsys)
    assert vjp.returncode == 0, vjp.stderr
    assert "def loss_fwd(" in vjp.stdout and "def loss_bwd(" in vjp.stdout


def test_source_dotted_module_name(user_module):
    proc = run("source", "cli_user_mod:loss", cwd=str(user_module.parent))   # subprocess
    assert proc.returncode == 0, proc.stderr
    assert "def grad_loss" in proc.stdout


def test_source_errors(user_module, capsys):
    proc = run("source", f"{user_module}:nope")                # subprocess
    assert proc.returncode != 0 and "no attribute 'nope'" in proc.stderr
    proc = call("source", "no_colon_here", capsys=capsys)
    assert proc.returncode != 0 and "MODULE:FUNC" in proc.stderr
    proc = call("source", f"{user_module}:loss", "--mode", "fwd", "--wrt", "7", capsys=capsys)
    assert proc.returncode != 0 and "out of range" in proc.stderr


@pytest.mark.skipif(shutil.which("ad-compiler") is None and
                    not (Path(sys.executable).parent / "ad-compiler").exists(),
                    reason="console script not installed")
def test_console_script():
    exe = shutil.which("ad-compiler") or str(Path(sys.executable).parent / "ad-compiler")
    proc = subprocess.run([exe, "rules", "--grep", "numpy.sin"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "numpy.sin" in proc.stdout
