"""Built-in derivative rules.  Importing this package registers them all."""
from ad_compiler.rules import operators, numpy_core, nondiff, runtime_rules  # noqa: F401
