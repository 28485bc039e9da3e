"""Built-in derivative rules.  Importing this package registers them all.

Every module of this package is imported; a module whose optional
dependency is missing (scipy) registers nothing and says so in
``SKIPPED``.
"""
import importlib
import pkgutil

SKIPPED = {}

for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if _info.name.startswith("_"):
        continue
    try:
        importlib.import_module(f"{__name__}.{_info.name}")
    except ImportError as exc:  # optional dependency missing
        SKIPPED[_info.name] = str(exc)
