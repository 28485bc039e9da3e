"""Normalization: rewrite the parsed function into the small language the
AD passes read (single exit, early exits as flags, one operation per
statement, explicit loop indexes, local functions and comprehensions
inlined, aliasing checked).  ``normalize(info, ...)`` runs them in order."""
from ad_compiler.transforms.normalize.core import (  # noqa: F401
    check_no_argument_mutation, local_names, normalize)
