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
