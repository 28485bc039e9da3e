"""ad_compiler: automatic differentiation of Python + NumPy by source
transformation.  See README.md."""
from ad_compiler.errors import CompileError, InternalError
from ad_compiler.api import (grad, value_and_grad, jvp, vjp, jacobian, hessian,
                             source)
from ad_compiler.registry import forward, reverse, nondifferentiable
from ad_compiler.rules.python_math import stop_gradient

__all__ = ["grad", "value_and_grad", "jvp", "vjp", "jacobian", "hessian",
           "source", "stop_gradient", "CompileError", "InternalError", "forward", "reverse", "nondifferentiable"]
__version__ = "0.1.0"
