"""Backends that run the generated derivative code.

``"numpy"`` (the default) runs the generated Python function as printed by
``source()``.  ``"numba"`` compiles it with ``numba.njit`` where numba
supports everything it does (float scalars and float arrays of 1 or 2
dimensions, loops, branches, the runtime helpers in ``numba_runtime``) and
runs the NumPy code otherwise, with one ``BackendFallbackWarning`` per
generated function (numba missing: one per process).  Numba compiles at
the first call with new argument types (about a second or more); install
it with ``pip install "ad_compiler[numba]"``.
"""

BACKENDS = ("numpy", "numba")


class BackendFallbackWarning(RuntimeWarning):
    """``backend="numba"`` ran the NumPy code instead (numba is missing, or
    the generated code uses something it cannot compile)."""


def check(backend, api):
    """The ``backend=`` keyword: None or "numpy" (None), or "numba"."""
    if backend is None or backend == "numpy":
        return None
    if backend == "numba":
        return "numba"
    raise ValueError(f"{api}: backend must be 'numpy' or 'numba', got {backend!r}")


_MISSING = []


def _numba_missing():
    import warnings
    if not _MISSING:
        try:
            import numba  # noqa: F401
            _MISSING.append(False)
        except ImportError as exc:
            _MISSING.append(True)
            warnings.warn(f"backend='numba': numba is not installed ({exc}); the generated "
                          f"NumPy code runs instead (pip install numba)",
                          BackendFallbackWarning, stacklevel=4)
    return _MISSING[0]


def compiled(function, backend):
    """What to call for the generated ``function`` under ``backend``."""
    if backend == "numba" and not _numba_missing():
        from ad_compiler.backends import numba_jit
        return numba_jit.compiled(function)
    return function
