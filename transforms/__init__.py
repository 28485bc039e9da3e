"""AST passes of ad_compiler, one per module.

Analyses (``cfg``-free activity, name collection) are kept apart from the
rewrites (``normalize``, ``forward``, ``reverse``, ``optimize``).  The order in
which they run is written once, in ``ad_compiler.compiler.transform``.
"""
