"""Errors raised by ad_compiler.

Every refusal of the compiler is a ``CompileError`` that points at the user's
own file and absolute line, shows the line and puts a caret under the
construct, e.g.::

    model.py:33:9: cannot differentiate a 'try' statement
        try:
        ^
    hint: move the try/except outside the differentiated function.
"""
import linecache


class CompileError(Exception):
    """The compiler cannot differentiate a construct of the user's code.

    Attributes: ``filename``, ``lineno`` (absolute, 1-based line in the
    user's file), ``col_offset`` (0-based), ``line`` (the line's text),
    ``construct`` (a short name of what was refused) and ``hint``.
    """

    def __init__(self, message, filename=None, lineno=None, col_offset=None,
                 line=None, hint=None, construct=None):
        self.message = message
        self.filename = filename
        self.lineno = lineno
        self.col_offset = col_offset
        if line is None and filename and lineno:
            line = linecache.getline(filename, lineno).rstrip("\n") or None
        self.line = line
        self.hint = hint
        self.construct = construct
        super().__init__(self._render())

    def _render(self):
        where = ""
        if self.filename:
            where = f"{self.filename}:{self.lineno}:{(self.col_offset or 0) + 1}: "
        text = f"{where}{self.message}"
        if self.line:
            stripped = self.line.lstrip()
            indent = len(self.line) - len(stripped)
            text += f"\n    {stripped}"
            if self.col_offset is not None and self.col_offset >= indent:
                text += "\n    " + " " * (self.col_offset - indent) + "^"
        if self.hint:
            text += f"\nhint: {self.hint}"
        return text

    def relocate(self, filename, lineno, where):
        """Point the error at the user's ``filename``:``lineno`` (it was
        raised in code ad_compiler wrote: a derivative being differentiated
        again, a ``functools.partial`` wrapper); ``where`` says what that
        code was, with its line, and is added to the message."""
        self.message = f"{self.message} ({where})"
        self.filename = filename
        self.lineno = lineno
        self.line = linecache.getline(filename, lineno).rstrip("\n") or None
        self.col_offset = (len(self.line) - len(self.line.lstrip())) if self.line else 0
        self.args = (self._render(),)

    def __reduce__(self):
        return (CompileError, (self.message, self.filename, self.lineno,
                               self.col_offset, self.line, self.hint,
                               self.construct))


class InternalError(CompileError):
    """A bug of ad_compiler itself met while compiling the user's function.

    Raised instead of a raw KeyError/AttributeError from deep inside the
    compiler; the message names the function and asks for a report."""


class CheckError(AssertionError):
    """``AD_COMPILER_CHECK=1``: the generated code after the clean-up passes
    and the same code without them disagree (ad_compiler/check.py).  Always
    a bug of ad_compiler."""
