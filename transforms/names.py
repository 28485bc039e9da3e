"""Collision-free, deterministic names for generated code.

Textbook names first (``bx`` is the adjoint of ``x``, ``dx`` its tangent,
``t1`` a temporary); a number is appended only when the name is taken.
"""
import gast

from ad_compiler.transforms import nodes


class Namer:
    def __init__(self, taken=()):
        self.taken = set(taken)
        self._counters = {}

    def reserve(self, ident):
        self.taken.add(ident)

    def fresh(self, base):
        if base not in self.taken:
            self.taken.add(base)
            return base
        n = self._counters.get(base, 0)
        while True:
            n += 1
            cand = f"{base}_{n}"
            if cand not in self.taken:
                self._counters[base] = n
                self.taken.add(cand)
                return cand

    def temp(self, prefix="t"):
        """t1, t2, ... (never colliding with the user's names)."""
        n = self._counters.get("#" + prefix, 0)
        while True:
            n += 1
            cand = f"{prefix}{n}"
            if cand not in self.taken:
                self._counters["#" + prefix] = n
                self.taken.add(cand)
                return cand


def all_identifiers(tree):
    """Every identifier of a tree: names, parameters, attributes' bases."""
    out = set()
    for node in nodes.walk(tree):
        if isinstance(node, gast.Name):
            out.add(node.id)
        elif isinstance(node, (gast.FunctionDef, gast.ClassDef)):
            out.add(node.name)
        elif isinstance(node, gast.alias):
            out.add(node.asname or node.name.split(".")[0])
    return out


def snapshot(namer):
    return (set(namer.taken), dict(namer._counters))


def restore(namer, snap):
    namer.taken = set(snap[0])
    namer._counters = dict(snap[1])
