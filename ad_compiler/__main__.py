"""Command line: ``python -m ad_compiler`` (or ``ad-compiler``).

    python -m ad_compiler rules                       # every rule in the registry
    python -m ad_compiler rules --import mypkg.rules  # ... including a user module's
    python -m ad_compiler rules --targets FILE        # status of each name in FILE
    python -m ad_compiler rules --targets FILE --missing   # only the unregistered ones
    python -m ad_compiler source MODULE:FUNC [--mode rev|fwd|vjp] [--wrt N]...

``rules`` prints one line per primitive: its qualified name, whether it has
a reverse rule and a forward rule, and where the rule comes from (built in,
or a user module); then the totals.  A targets file holds one qualified name
a line (``numpy.sin``, ``scipy.stats.norm.cdf``); with ``--missing`` the
command lists the targets that lack a rule in either mode and exits with
status 1 if there are any.  Names that do not exist in the installed
packages are listed apart, as skipped.

``source`` prints the code generated for ``FUNC`` of ``MODULE`` (a dotted
module name, or a path to a .py file): its gradient (``rev``, the default),
its forward-mode derivative (``fwd``) or its vjp sweeps (``vjp``), with
respect to the positional argument(s) given by ``--wrt`` (positions or
names; default 0).
"""
import argparse
import importlib
import importlib.util
import inspect
import os
import sys

import ad_compiler.rules as builtin_rules
from ad_compiler import api, compiler, registry
from ad_compiler.errors import CompileError


def _rows():
    rows = []
    for prim in registry.all_primitives():
        origin = "built-in"
        for tpl in (prim.reverse, prim.forward):
            mod = getattr(tpl, "__module__", "") or ""
            if tpl is not None and not mod.startswith("ad_compiler."):
                origin = f"user ({mod})"
        rows.append((prim.name, prim.reverse is not None, prim.forward is not None, origin))
    rows.sort(key=lambda r: r[0])
    return rows


def _yes(flag):
    return "yes" if flag else "no"


def resolve_name(name):
    """The live object a qualified name denotes, or None if it does not exist."""
    parts = name.split(".")
    if len(parts) == 1:
        import builtins
        return getattr(builtins, name, None)
    for i in range(len(parts) - 1, 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except Exception:
            continue
        for attr in parts[i:]:
            try:
                obj = getattr(obj, attr)
            except AttributeError:
                obj = None
                break
        if obj is not None:
            return obj
    return None


def read_targets(path):
    with open(path, encoding="utf-8") as fh:
        return [line.strip() for line in fh
                if line.strip() and not line.lstrip().startswith("#")]


def target_status(names):
    """[(name, status)]: status is "ok", "missing reverse", "missing forward",
    "missing both", "non-differentiable" or "not installed"."""
    out = []
    for name in names:
        obj = resolve_name(name)
        if obj is None:
            out.append((name, "not installed"))
            continue
        prim = registry.lookup(obj)
        if prim is None:
            status = ("non-differentiable" if registry.is_nondifferentiable(obj)
                      else "missing both")
        elif prim.reverse is None and prim.forward is None:
            status = "missing both"
        elif prim.reverse is None:
            status = "missing reverse"
        elif prim.forward is None:
            status = "missing forward"
        else:
            status = "ok"
        out.append((name, status))
    return out


def cmd_rules(args, out):
    for mod in args.imports:
        importlib.import_module(mod)

    if args.targets:
        statuses = target_status(read_targets(args.targets))
        shown = [(n, s) for n, s in statuses
                 if not args.missing or s not in ("ok", "not installed")]
        width = max([len(n) for n, _ in shown] + [6])
        for name, status in shown:
            print(f"{name:<{width}}  {status}", file=out)
        skipped = [n for n, s in statuses if s == "not installed"]
        missing = [n for n, s in statuses if s not in ("ok", "not installed")]
        done = len(statuses) - len(skipped) - len(missing)
        print(f"\n{len(statuses)} targets: {done} with both rules, {len(missing)} missing, "
              f"{len(skipped)} not in the installed packages (skipped)", file=out)
        if args.missing and skipped:
            print("skipped: " + ", ".join(skipped), file=out)
        return 1 if (args.missing and missing) else 0
    if args.missing:
        print("error: --missing needs --targets FILE", file=sys.stderr)
        return 2

    rows = _rows()
    if args.grep:
        rows = [r for r in rows if args.grep.lower() in r[0].lower()]
    width = max([len(r[0]) for r in rows] + [9])
    print(f"{'primitive':<{width}}  reverse  forward  origin", file=out)
    for name, rev, fwd, origin in rows:
        print(f"{name:<{width}}  {_yes(rev):<7}  {_yes(fwd):<7}  {origin}", file=out)
    n_rev = sum(r[1] for r in rows)
    n_fwd = sum(r[2] for r in rows)
    print(f"\n{len(rows)} primitives: {n_rev} with a reverse rule, {n_fwd} with a forward "
          f"rule, {sum(r[1] and r[2] for r in rows)} with both; "
          f"{len(registry.all_nondifferentiable())} callables declared non-differentiable",
          file=out)
    for mod, why in sorted(builtin_rules.SKIPPED.items()):
        print(f"rules module {mod} skipped: {why}", file=out)
    return 0


def load_function(spec):
    """``MODULE:FUNC`` -> the function; MODULE is dotted or a .py path."""
    if ":" not in spec:
        raise SystemExit(f"error: expected MODULE:FUNC, got {spec!r}")
    modname, _, funcname = spec.rpartition(":")
    if modname.endswith(".py") or os.sep in modname or "/" in modname:
        path = os.path.abspath(modname)
        if not os.path.exists(path):
            raise SystemExit(f"error: no such file: {modname}")
        name = os.path.splitext(os.path.basename(path))[0]
        sys.path.insert(0, os.path.dirname(path))
        mspec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(mspec)
        sys.modules[name] = module
        mspec.loader.exec_module(module)
    else:
        if "" not in sys.path and os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())
        module = importlib.import_module(modname)
    obj = module
    for attr in funcname.split("."):
        try:
            obj = getattr(obj, attr)
        except AttributeError:
            raise SystemExit(f"error: {modname} has no attribute {funcname!r}") from None
    if not callable(obj):
        raise SystemExit(f"error: {spec} is not a function")
    return obj


def _wrt(values):
    items = []
    for v in values or ["0"]:
        for part in v.split(","):
            part = part.strip()
            if part:
                items.append(int(part) if part.lstrip("-").isdigit() else part)
    return items[0] if len(items) == 1 else tuple(items)


def cmd_source(args, out):
    fn = load_function(args.function)
    wrt = _wrt(args.wrt)
    if args.mode == "rev":
        print(api.source(api.grad(fn, wrt=wrt)), file=out)
        return 0
    params = [p.name for p in inspect.signature(fn).parameters.values()
              if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    names = []
    for w in (wrt if isinstance(wrt, tuple) else (wrt,)):
        if isinstance(w, int):
            if not -len(params) <= w < len(params):
                raise SystemExit(f"error: --wrt {w} is out of range: {fn.__name__} takes "
                                 f"{len(params)} positional argument(s)")
            names.append(params[w])
        elif w in params:
            names.append(w)
        else:
            raise SystemExit(f"error: {fn.__name__} has no parameter {w!r}")
    if args.mode == "fwd":
        entry = compiler.compile_function(fn, "forward", tuple(names))
        print(entry.sources["jvp"], file=out)
    else:
        entry = compiler.compile_function(fn, "split", tuple(names))
        print(entry.sources["fwd"] + "\n\n" + entry.sources["bwd"], file=out)
    return 0


def build_parser():
    parser = argparse.ArgumentParser(
        prog="ad-compiler",
        description="ad_compiler: inspect the rule registry and generated derivative code")
    sub = parser.add_subparsers(dest="command", required=True)

    rules = sub.add_parser("rules", help="list the derivative rules in the registry")
    rules.add_argument("--targets", metavar="FILE",
                       help="a file of qualified names (one a line) to check coverage of")
    rules.add_argument("--missing", action="store_true",
                       help="with --targets: show only the targets without both rules "
                            "(exit status 1 if there are any)")
    rules.add_argument("--import", dest="imports", action="append", default=[],
                       metavar="MODULE", help="import MODULE first (to list its user rules)")
    rules.add_argument("--grep", metavar="TEXT", help="only primitives whose name contains TEXT")
    rules.set_defaults(run=cmd_rules)

    source = sub.add_parser("source", help="print the generated derivative code of a function")
    source.add_argument("function", metavar="MODULE:FUNC",
                        help="dotted module name or path to a .py file, ':', function name")
    source.add_argument("--mode", choices=("rev", "fwd", "vjp"), default="rev",
                        help="rev: the gradient (default); fwd: forward mode (jvp); "
                             "vjp: the forward and backward sweeps")
    source.add_argument("--wrt", action="append", metavar="N",
                        help="argument position or name to differentiate (repeatable, "
                             "or comma-separated; default 0)")
    source.set_defaults(run=cmd_source)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.run(args, sys.stdout)
    except CompileError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except BrokenPipeError:          # e.g. piped into head
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 0


if __name__ == "__main__":
    sys.exit(main())
