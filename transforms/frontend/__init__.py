"""Front end: read the user's function (``parse``: source with absolute
line numbers, globals and closure cells) and refuse what cannot be
differentiated, up front, at the user's line (``fence``)."""
