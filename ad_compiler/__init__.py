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
from ad_compiler.checkpointing import checkpoint  # noqa: E402

# The rest of the public API is loaded on first use (PEP 562), so that
# ``import ad_compiler.runtime`` (what generated code does) loads the runtime
# and not the compiler: the runtime is the bottom layer (tests/test_layers.py).
_LAZY = {
    "grad": "api", "value_and_grad": "api", "jvp": "api", "vjp": "api",
    "jacobian": "api", "hessian": "api", "source": "api",
    "jacfwd": "convenience", "jacrev": "convenience", "elementwise_grad": "convenience",
    "hvp": "convenience", "hessian_vector_product": "convenience",
    "forward": "registry", "reverse": "registry", "nondifferentiable": "registry",
    "stop_gradient": "rules.python_math",
}

__all__ = ["grad", "value_and_grad", "jvp", "vjp", "jacobian", "hessian",
           "jacfwd", "jacrev", "elementwise_grad", "hvp", "hessian_vector_product",
           "source", "stop_gradient", "checkpoint", "CompileError", "InternalError", "CheckError", "forward",
           "reverse", "nondifferentiable", "__version__"]
__version__ = "0.2.0"


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ad_compiler' has no attribute {name!r}")
    import importlib
    # the API first: it loads the compiler, the built-in rules (so that rules a
    # user registers through ad_compiler.forward/reverse come after them) and
    # ad_compiler.compose (the rules of derivatives called in derivatives)
    importlib.import_module("ad_compiler.api")
    value = getattr(importlib.import_module(f"ad_compiler.{module}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
