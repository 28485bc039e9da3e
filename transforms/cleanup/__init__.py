"""Clean-up of generated code: ``batch`` (adjoint outer products summed after
a loop), ``specialize`` (product adjoints of known ranks) and ``optimize``
(copy/constant propagation, dead code, algebraic simplification)."""
