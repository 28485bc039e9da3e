"""Normalization: rewrite the parsed function into the small language the
AD passes read (single exit, early exits as flags, one operation per
statement, explicit loop indexes, local functions and comprehensions
inlined, aliasing checked).  ``normalize(info, ...)`` runs them in order
(pipeline.py); each step is a module of this package."""
from ad_compiler.transforms.normalize.mutations import check_no_argument_mutation  # noqa: F401
from ad_compiler.transforms.normalize.common import local_names  # noqa: F401
from ad_compiler.transforms.normalize.pipeline import normalize  # noqa: F401
