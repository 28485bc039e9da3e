"""Specs of SciPy rules at complex arguments, for ``tests/test_rules.py``
(its checker differentiates complex inputs in autograd's convention;
``ad_compiler.testing.check_grads``, used by test_rules_scipy, does not)."""
import numpy as np
from scipy import special as sp  # noqa: F401  (skips the module without SciPy)

HEADER = """\
import numpy as np
from scipy import special as sp
"""

SPECS = [
    # ive = iv * exp(-|Re x|): the scaling is not holomorphic
    dict(name="scipy.special.ive", src="def f(x):\n    return sp.ive(1.5, x)",
         args=(np.array([0.7 + 0.4j, -1.2 + 0.3j, 0.5 - 0.8j]),), order=1),
    dict(name="scipy.special.ive", src="def f(x, y):\n    return sp.ive(2.0, x * y)",
         args=(np.array([[0.3 - 1.1j, 1.4 + 0.2j]]), np.array([[0.9 + 0.5j], [-0.8 + 0.1j]])),
         order=1),
]
