"""Dump the generated source of every corpus case, to check that a refactor
leaves the generated code byte-identical.

    python -m tests.golden_sources OUT.txt              # write
    python -m tests.golden_sources OUT.txt --compare    # compare with OUT.txt

For each case: reverse mode (``grad`` or ``vjp``'s two sweeps, compiled for
the case's argument shapes, so shape-specialized code is covered) and
forward mode (``jvp``), with respect to all its differentiable arguments.
A case that cannot be compiled in a mode records the error's class and
message instead (refusals are part of the output too).
"""
import difflib
import sys

from tests.corpus import CASES


def _sources(ad, c):
    args = c.make_args()
    fn = c.target()
    wrt = tuple(c.diff)
    out = []

    def record(label, thunk):
        try:
            text = thunk()
        except Exception as e:         # a refusal is part of the output
            text = f"!! {type(e).__name__}: {e}"
        out.append(f"=== {c.name} [{label}]\n{text}\n")

    if c.out == "scalar" and "grad" not in c.exclude:
        def rev():
            g = ad.grad(fn, wrt=wrt, has_aux=c.has_aux)
            g(*args)
            return ad.source(g)
        record("grad", rev)
    if not c.has_aux:
        record("vjp", lambda: ad.source(fn, mode="vjp", wrt=wrt))
        record("fwd", lambda: ad.source(fn, mode="fwd", wrt=wrt))
    return out


def dump():
    import ad_compiler as ad
    parts = []
    for name in sorted(CASES):
        parts.extend(_sources(ad, CASES[name]))
    return "".join(parts)


def main(argv):
    if not argv or argv[0].startswith("-"):     # (-h, --help: not a file name)
        print(__doc__)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    path = argv[0]
    text = dump()
    if "--compare" in argv:
        with open(path) as f:
            old = f.read()
        if old == text:
            print(f"identical: {text.count('=== ')} sources")
            return 0
        diff = difflib.unified_diff(old.splitlines(), text.splitlines(),
                                    "before", "after", lineterm="", n=2)
        sys.stdout.writelines(line + "\n" for line in list(diff)[:400])
        return 1
    with open(path, "w") as f:
        f.write(text)
    print(f"wrote {text.count('=== ')} sources to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
