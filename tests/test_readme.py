"""The README's API example runs as written (docs that cannot rot)."""
import pathlib
import re

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_readme_api_example_runs(tmp_path):
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    example = next(b for b in blocks if "hessian(f)(x, y)" in b)
    # the compiler needs real source: run the block from a file
    path = tmp_path / "readme_example.py"
    path.write_text(example)
    ns = {"__name__": "readme_example", "__file__": str(path)}
    exec(compile(example, str(path), "exec"), ns)
    x, y = ns["x"], ns["y"]
    np.testing.assert_allclose(ns["gx"], np.cos(x) * y)
    np.testing.assert_allclose(ns["gy"], np.sin(x))
    np.testing.assert_allclose(ns["tangent"], np.sum(np.cos(x) * y))
    np.testing.assert_allclose(ns["bx"], np.cos(x) * y)
    np.testing.assert_allclose(ns["J"], np.diag(np.cos(x) * x + np.sin(x)))
    np.testing.assert_allclose(ns["H"], np.diag(-np.sin(x) * y))


def test_readme_composition_example_runs(tmp_path):
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    example = "import numpy as np\n" + next(b for b in blocks if "force_loss" in b)
    path = tmp_path / "readme_composition.py"
    path.write_text(example)
    ns = {"__name__": "readme_composition", "__file__": str(path)}
    exec(compile(example, str(path), "exec"), ns)
    x = ns["x"]

    def force_loss(x):      # by hand: the forces of the chain, then the loss
        d = x[1:] - x[:-1]
        g = np.zeros_like(x)
        g[1:] += 4 * d ** 3
        g[:-1] -= 4 * d ** 3
        return np.sum(g ** 2)
    h = 1e-6
    fd = np.array([(force_loss(x + h * e) - force_loss(x - h * e)) / (2 * h)
                   for e in np.eye(len(x))])
    np.testing.assert_allclose(ns["dloss"], fd, rtol=1e-6)
    t = np.tanh(0.3)
    np.testing.assert_allclose(ns["d3"], -2 * (1 - t ** 2) * (1 - 3 * t ** 2), rtol=1e-12)
    assert ns["H3"].shape == (4, 4, 4)
    np.testing.assert_allclose(ns["H3"], np.transpose(ns["H3"], (1, 0, 2)), atol=1e-9)


def test_readme_training_loop_runs(tmp_path):
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    loop = next(b for b in blocks if "optim.adam" in b)
    example = (
        "import numpy as np\n"
        "def loss(p, X, y):\n"
        "    return np.mean((X @ p['w'] + p['b'] - y) ** 2)\n"
        "rng = np.random.default_rng(0)\n"
        "w_true = np.array([1.0, -2.0, 0.5])\n"
        "params = {'w': np.zeros(3), 'b': 0.0}\n"
        "batches = []\n"
        "for _ in range(300):\n"
        "    X = rng.normal(size=(16, 3))\n"
        "    batches.append((X, X @ w_true + 0.3))\n" + loop)
    path = tmp_path / "readme_training.py"
    path.write_text(example)
    ns = {"__name__": "readme_training", "__file__": str(path)}
    exec(compile(example, str(path), "exec"), ns)
    # 300 Adam steps on a noiseless linear problem come close to the truth
    np.testing.assert_allclose(ns["params"]["w"], [1.0, -2.0, 0.5], atol=0.15)
