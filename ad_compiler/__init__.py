"""ad_compiler: automatic differentiation of Python + NumPy by source
transformation.  See README.md."""


def _source_checkout_transforms():
    """The compiler passes live in the repository's top-level ``transforms/``
    folder and are installed as ``ad_compiler.transforms`` (setup.cfg's
    ``package_dir``).  Run from a source checkout, where ``ad_compiler/`` has
    no ``transforms`` subfolder, load that folder under the same name, so
    that only ``ad_compiler`` is ever importable (a user's own
    ``transforms.py`` is never shadowed nor imported)."""
    import importlib.util
    import os
    import sys
    if "ad_compiler.transforms" in sys.modules:
        return
    here = os.path.dirname(os.path.abspath(__file__))
    if os.path.isdir(os.path.join(here, "transforms")):
        return                          # installed: an ordinary subpackage
    folder = os.path.join(os.path.dirname(here), "transforms")
    init = os.path.join(folder, "__init__.py")
    if not os.path.isfile(init):
        return                          # broken install: the import fails below
    spec = importlib.util.spec_from_file_location(
        "ad_compiler.transforms", init, submodule_search_locations=[folder])
    module = importlib.util.module_from_spec(spec)
    sys.modules["ad_compiler.transforms"] = module
    spec.loader.exec_module(module)


_source_checkout_transforms()

from ad_compiler.errors import CheckError, CompileError, InternalError  # noqa: E402
from ad_compiler.api import (grad, value_and_grad, jvp, vjp, jacobian, hessian,  # noqa: E402
                             source)
from ad_compiler.convenience import (jacfwd, jacrev, elementwise_grad, hvp,  # noqa: E402
                                     hessian_vector_product)
from ad_compiler.registry import forward, reverse, nondifferentiable  # noqa: E402
from ad_compiler.rules.python_math import stop_gradient  # noqa: E402
from ad_compiler.checkpointing import checkpoint  # noqa: E402
from ad_compiler import compose  # noqa: E402,F401  (rules for derivatives called in derivatives)

__all__ = ["grad", "value_and_grad", "jvp", "vjp", "jacobian", "hessian",
           "jacfwd", "jacrev", "elementwise_grad", "hvp", "hessian_vector_product",
           "source", "stop_gradient", "checkpoint", "CompileError", "InternalError", "CheckError", "forward",
           "reverse", "nondifferentiable", "__version__"]
__version__ = "0.2.0"
