"""Differentiation: ``ops`` classifies each statement's operation,
``templates`` inlines derivative rules, ``forward`` and ``reverse`` emit
the derivative function, ``sequences`` and ``checkpoint`` handle list
concatenation and checkpointed loops."""
