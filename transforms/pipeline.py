"""The pass manager: the compiler is one list of passes.

``ad_compiler.compiler.transform`` writes the list; this module runs it::

    fn ─ parse ─ fence ─ normalize ─ [split_aux] ─ sequences ─┬ forward ────────────┬ [fork: one tree per output]
                                                              └ reverse (grad|vjp) ─┘
       ─ cleanup_inputs ─ batch ─ [specialize] ─ optimize ─ load ─▶ one Python function per tree

         analyses (computed on demand, cached, dropped by rewrites):
           activity  <- the normalized tree, wrt           (transforms/analyses/activity.py)
           shapes    <- activity, the shape signature      (transforms/analyses/shapes.py)

A **pass** has a ``name``, ``requires`` (the analyses it reads),
``preserves`` (the analyses still true of the tree it returns) and
``run(tree, ctx, analyses) -> tree``.  ``ctx`` is the compile context
(``ad_compiler.compiler.Context``: namer, injected globals, the user's
namespace); ``analyses`` is an :class:`Analyses`, read as
``analyses["shapes"]``.

An **analysis** has a ``name``, ``requires`` and ``compute(tree, ctx,
analyses) -> result``.  The manager computes it the first time a pass
requires or reads it, on the tree that pass received, and keeps it until a
pass that does not list it in ``preserves`` has run (a pass that only checks,
like ``fence``, preserves :data:`ALL`).  Declaring what a pass reads and
keeps is what replaces the hidden order between passes (the reverse pass
used to compute the shape analysis and leave it on the context, so forward
mode never had it).

A pass may return :class:`Fork` (the two sweeps of a vjp): the passes after
it run on each tree in turn, to the end, each with its own copy of the
analyses, and :meth:`PassManager.run` returns one result per tree, keyed by
the fork's labels.

An exception other than a ``CompileError`` (a refusal) or a
``RecursionError`` (a too deep expression, refused by the caller) leaves the
manager with where it came from in its ``ad_pass`` attribute
(``"normalize pass"``, ``"shapes analysis"``: the innermost), which
``compile_function`` puts in its ``InternalError``.
"""

__all__ = ["ALL", "Analysis", "Analyses", "Fork", "Pass", "PassManager", "step", "analysis"]

ALL = frozenset(["*"])      # preserves=ALL: the pass does not change the tree


class Pass:
    """One step of the pipeline (subclass it, or give an object these
    attributes)."""
    name = None
    requires = ()       # names of the analyses ``run`` reads
    preserves = ()      # names of the analyses still valid after it (or ALL)

    def run(self, tree, ctx, analyses):
        raise NotImplementedError

    def __repr__(self):
        return f"<pass {self.name}>"


class Analysis:
    """A fact about the tree, computed on demand and cached."""
    name = None
    requires = ()       # analyses ``compute`` reads (computed first)

    def compute(self, tree, ctx, analyses):
        raise NotImplementedError


class _Step(Pass):
    def __init__(self, name, run, requires, preserves):
        self.name, self._run = name, run
        self.requires, self.preserves = tuple(requires), preserves

    def run(self, tree, ctx, analyses):
        return self._run(tree, ctx, analyses)


def step(name, run, requires=(), preserves=()):
    """A pass made of a function ``run(tree, ctx, analyses) -> tree``."""
    return _Step(name, run, requires, preserves)


class _Computed(Analysis):
    def __init__(self, name, compute, requires):
        self.name, self._compute, self.requires = name, compute, tuple(requires)

    def compute(self, tree, ctx, analyses):
        return self._compute(tree, ctx, analyses)


def analysis(name, compute, requires=()):
    """An analysis made of a function ``compute(tree, ctx, analyses)``."""
    return _Computed(name, compute, requires)


class Fork:
    """What a pass returns for several trees: ``[(label, tree), ...]``.  The
    passes after it run on each tree in turn; ``ctx.branch`` holds the label
    of the tree they are running on."""

    def __init__(self, branches):
        self.branches = list(branches)


class Analyses:
    """The analysis results valid for the current tree: ``analyses[name]``
    computes one on first use and caches it."""

    def __init__(self, known, ctx):
        self._known = known         # name -> Analysis
        self._ctx = ctx
        self._cache = {}
        self.tree = None            # the tree the current pass received
        self.computed = []          # names, in the order computed (for tests)

    def __getitem__(self, name):
        if name in self._cache:
            return self._cache[name]
        analysis = self._known.get(name)
        if analysis is None:
            raise KeyError(f"no analysis named {name!r} (known: {sorted(self._known)})")
        from ad_compiler.errors import CompileError
        try:
            for dep in analysis.requires:
                self[dep]
            result = self._cache[name] = analysis.compute(self.tree, self._ctx, self)
        except (CompileError, RecursionError):
            raise
        except Exception as exc:
            _blame(exc, f"{name} analysis")
            raise
        self.computed.append(name)
        return result

    def get(self, name):
        """The result of ``name`` if computed and still valid, else None
        (never computes)."""
        return self._cache.get(name)

    def __contains__(self, name):
        """Is ``name`` computed and still valid?"""
        return name in self._cache

    def keep(self, preserves):
        """Drop every result not in ``preserves`` (after a rewrite)."""
        if preserves is not ALL:
            self._cache = {k: v for k, v in self._cache.items() if k in preserves}

    def fork(self):
        out = Analyses(self._known, self._ctx)
        out._cache = dict(self._cache)
        out.computed = self.computed
        return out


class PassManager:
    """Runs ``passes`` in order over a tree (see the module docstring)."""

    def __init__(self, passes, analyses=()):
        self.passes = list(passes)
        self.analyses = {a.name: a for a in analyses}
        for p in self.passes:
            for name in p.requires:
                if name not in self.analyses:
                    raise ValueError(f"pass {p.name!r} requires an unknown analysis {name!r}")

    @property
    def names(self):
        return [p.name for p in self.passes]

    def run(self, tree, ctx):
        """Run the passes; returns ``{label: result}`` when a pass forked,
        else the last pass's result."""
        analyses = Analyses(self.analyses, ctx)
        return self._run(self.passes, tree, ctx, analyses)

    def _run(self, passes, tree, ctx, analyses):
        from ad_compiler.errors import CompileError
        ctx.analyses = analyses
        for i, p in enumerate(passes):
            analyses.tree = tree
            try:
                for name in p.requires:
                    analyses[name]
                tree = p.run(tree, ctx, analyses)
            except (CompileError, RecursionError):
                raise
            except Exception as exc:
                _blame(exc, f"{p.name} pass")
                raise
            analyses.keep(p.preserves)
            if isinstance(tree, Fork):
                out = {}
                for label, sub in tree.branches:
                    ctx.branch = label
                    out[label] = self._run(passes[i + 1:], sub, ctx, analyses.fork())
                ctx.analyses = analyses
                return out
        return tree


def _blame(exc, where):
    """Record in ``exc`` the pass or analysis it came from (the innermost)."""
    if getattr(exc, "ad_pass", None) is None:
        try:
            exc.ad_pass = where
        except AttributeError:      # (an exception class with __slots__)
            pass
