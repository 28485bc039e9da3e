"""Analyses: facts about the normalized function that the AD passes read and
never change (``activity``: which values need derivatives; ``shapes``:
ranks and dimensions for shape-specialized code)."""
