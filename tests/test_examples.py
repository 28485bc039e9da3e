"""Every script in examples/ runs to completion and prints what it should.

Each example checks its AD gradients against finite differences itself and
exits with a non-zero status on disagreement, so running it is a real test.
New examples are picked up automatically (examples/*.py, except files whose
name starts with "_"); list their expected output in EXPECTED_OUTPUT.
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(p for p in (ROOT / "examples").glob("*.py")
                  if not p.name.startswith("_"))

# Text each example must print (all of it); unknown examples must just print
# something and exit 0.
EXPECTED_OUTPUT = {
    "logistic_regression.py": ["gradient check: max |AD - FD|", "epoch",
                               "accuracy"],
    "bouncing_oscillator.py": ["d/dc", "AD", "FD",
                               "all gradients match finite differences"],
    "tiny_rnn.py": ["max |AD - FD|",
                    "all gradients match finite differences"],
    "mlp_digits.py": ["gradient check: max |AD - FD|", "epoch 12/12 [####",
                      "final test accuracy"],
    "scipy_minimize.py": ["gradient check: max |AD - FD|", "Hessian-vector product",
                          "trust-ncg (jac, hessp)", "BFGS (no derivatives)"],
    "grad_accumulation.py": ["gradient check: max |AD - FD|",
                             "max |accumulated - full-batch gradient|",
                             "accumulated gradients match the full-batch gradient"],
    "newton_hessian.py": ["gradient check: max |AD - FD|", "Hessian check",
                          "converged quadratically"],
    "energy_force.py": ["force check: max |AD - FD|", "force-loss gradient check",
                        "force matching reduced the loss"],
    "dask_logistic.py": ["gradient check: max |AD - hand-written Dask gradient|",
                         "iteration  8  loss", "loss went from"],
    "maml.py": ["meta-gradient check: max |AD - FD|", "meta-step 30",
                "meta-training lowered the held-out loss"],
}

# Modules an example needs beyond the test extra: its test skips without them.
REQUIRES = {"mlp_digits.py": ["sklearn"], "dask_logistic.py": ["dask", "distributed"]}

TIMEOUT = 300


def run_example(path, *args):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return subprocess.run(
        [sys.executable, str(path), *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT)


def _report(proc):
    return (f"exit code {proc.returncode}\n--- stdout ---\n{proc.stdout}"
            f"\n--- stderr ---\n{proc.stderr}")


def test_examples_exist():
    names = {p.name for p in EXAMPLES}
    assert set(EXPECTED_OUTPUT) <= names, set(EXPECTED_OUTPUT) - names


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_runs(path):
    for module in REQUIRES.get(path.name, []):
        pytest.importorskip(module)
    proc = run_example(path)
    assert proc.returncode == 0, _report(proc)
    assert proc.stdout.strip(), _report(proc)
    for text in EXPECTED_OUTPUT.get(path.name, []):
        assert text in proc.stdout, f"missing {text!r}\n" + _report(proc)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_has_main(path):
    text = path.read_text(encoding="utf-8")
    assert "def main(argv=None)" in text
    assert 'if __name__ == "__main__":' in text


def test_logistic_regression_source_only_on_request():
    path = ROOT / "examples" / "logistic_regression.py"
    plain = run_example(path)
    shown = run_example(path, "--show-source")
    assert plain.returncode == 0, _report(plain)
    assert shown.returncode == 0, _report(shown)
    assert "def " not in plain.stdout, _report(plain)
    assert "def " in shown.stdout, _report(shown)
    assert len(shown.stdout) > len(plain.stdout)
