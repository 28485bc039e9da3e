"""The one place where gast nodes are built by hand.

Everything else builds code from source templates (``parse_stmts``,
``parse_expr``) or with these small helpers, so a change of gast's node
signatures touches this file only.
"""
import ast
import copy

import gast
from gast import ast3 as _gast_ast3


def name(id_, store=False):
    ctx = gast.Store() if store else gast.Load()
    return gast.Name(id=id_, ctx=ctx, annotation=None, type_comment=None)


def const(value):
    return gast.Constant(value=value, kind=None)


def attr(value, attr_name):
    return gast.Attribute(value=value, attr=attr_name, ctx=gast.Load())


def dotted(path):
    """``dotted("np.linalg.norm")`` -> the Attribute chain for that path."""
    parts = path.split(".")
    node = name(parts[0])
    for part in parts[1:]:
        node = attr(node, part)
    return node


def call(func, args=(), keywords=()):
    if isinstance(func, str):
        func = dotted(func)
    kws = [gast.keyword(arg=k, value=v) for k, v in keywords]
    return gast.Call(func=func, args=list(args), keywords=kws)


def assign(target, value):
    if isinstance(target, str):
        target = name(target, store=True)
    return gast.Assign(targets=[target], value=value, type_comment=None)


def binop(left, op, right):
    return gast.BinOp(left=left, op=op, right=right)


def tuple_(elts, store=False):
    return gast.Tuple(elts=list(elts),
                      ctx=gast.Store() if store else gast.Load())


def if_(test, body, orelse=()):
    return gast.If(test=test, body=list(body) or [gast.Pass()],
                   orelse=list(orelse))


def for_(target, iter_, body):
    if isinstance(target, str):
        target = name(target, store=True)
    return gast.For(target=target, iter=iter_, body=list(body), orelse=[],
                    type_comment=None)


def expr_stmt(value):
    return gast.Expr(value=value)


def parse_stmts(src):
    return parse(src).body


def parse_expr(src):
    return parse(src).body[0].value


_MISSING = object()


def _fast(translator, to):
    """gast's ``translator`` class (``ast`` <-> ``gast``, with its own
    methods for the nodes that differ, e.g. parameters ``arg`` <-> ``Name``)
    with a dispatch cached per class and a cheaper generic case (no string
    building, ``hasattr`` or exception per field): the same trees."""

    class Fast(translator):
        _specs = {}     # class -> (class of ``to`` or None, fields, attributes)

        def __init__(self):
            self._methods = {}

        def visit(self, node):
            cls = type(node)
            method = self._methods.get(cls)
            if method is None:
                method = self._methods[cls] = getattr(self, "visit_" + cls.__name__,
                                                      self.generic_visit)
            return method(node)

        def _visit(self, node):
            if isinstance(node, ast.AST):
                return self.visit(node)
            if isinstance(node, list):
                return [self._visit(n) for n in node]
            return node

        def generic_visit(self, node):
            cls = type(node)
            spec = self._specs.get(cls)
            if spec is None:
                spec = self._specs[cls] = (getattr(to, cls.__name__, None), cls._fields,
                                           cls._attributes)
            target, fields, attributes = spec
            if target is None:          # (not a node of the AST)
                return None
            visit = self._visit
            kwargs = {}
            for field in fields:
                value = getattr(node, field, _MISSING)
                if value is not _MISSING:
                    kwargs[field] = visit(value)
            new = target(**kwargs)
            for attr in attributes:
                value = getattr(node, attr, _MISSING)
                if value is not _MISSING:
                    setattr(new, attr, value)
            return new

    return Fast


_ToGast = _fast(_gast_ast3.Ast3ToGAst, gast)
_ToAst = _fast(_gast_ast3.GAstToAst3, ast)


def parse(src, filename="<unknown>"):
    """``gast.parse``: the same tree, converted faster."""
    return _ToGast().visit(ast.parse(src, filename))


def to_ast(tree):
    """``gast.gast_to_ast``: the same tree, converted faster."""
    return _ToAst().visit(tree)


def increment_lineno(tree, n):
    """``gast.increment_lineno``."""
    for child in walk(tree):
        attributes = child._attributes
        if "lineno" in attributes:
            child.lineno = (getattr(child, "lineno", 0) or 0) + n
        if "end_lineno" in attributes:
            child.end_lineno = (getattr(child, "end_lineno", 0) or 0) + n
    return tree


_ATOMIC = frozenset([str, int, float, bool, type(None), complex, bytes])


def copy_node(node, memo=None):
    """A deep copy of ``node`` (a gast tree, a list of them or None): the
    same result as ``copy.deepcopy`` (annotations (transforms/annotations.py)
    included, nodes shared inside the tree stay shared), about ten times
    faster on gast trees, which ``copy.deepcopy`` copies through its generic
    reduce protocol.  Other annotation values go to ``copy.deepcopy`` with
    the same memo."""
    if memo is None:
        memo = {}
    return _copy(node, memo)


def _copy(value, memo):
    cls = type(value)
    if cls in _ATOMIC:
        return value
    if isinstance(value, gast.AST):
        done = memo.get(id(value))
        if done is not None:
            return done
        new = cls.__new__(cls)
        memo[id(value)] = new
        atomic = _ATOMIC
        new.__dict__.update({k: v if type(v) in atomic else _copy(v, memo)
                             for k, v in value.__dict__.items()})
        return new
    if cls is list:
        done = memo.get(id(value))
        if done is not None:
            return done
        new = []
        memo[id(value)] = new
        new.extend([_copy(v, memo) for v in value])
        return new
    if cls is dict:             # (the annotations of a node: Key -> value)
        done = memo.get(id(value))
        if done is not None:
            return done
        new = {}
        memo[id(value)] = new
        new.update({k: _copy(v, memo) for k, v in value.items()})
        return new
    return copy.deepcopy(value, memo)


def located(new, old):
    """Give ``new`` (and its children) the source location of ``old``."""
    if old is None or getattr(old, "lineno", None) is None:
        return new
    for sub in walk(new):
        if "lineno" in getattr(sub, "_attributes", ()):
            if getattr(sub, "lineno", None) is None:
                sub.lineno = old.lineno
                sub.col_offset = getattr(old, "col_offset", 0)
                sub.end_lineno = getattr(old, "end_lineno", old.lineno)
                sub.end_col_offset = getattr(old, "end_col_offset", 0)
    return new


def set_ctx(node, store):
    """Fix Load/Store contexts of a substituted target expression."""
    ctx = gast.Store() if store else gast.Load()
    if isinstance(node, (gast.Name, gast.Attribute, gast.Subscript)):
        node.ctx = ctx
    if isinstance(node, (gast.Tuple, gast.List)):
        node.ctx = ctx
        for elt in node.elts:
            set_ctx(elt, store)
    return node


def is_name(node, id_=None):
    return isinstance(node, gast.Name) and (id_ is None or node.id == id_)


def names_in(node):
    """All identifiers (loaded or stored) in ``node``."""
    return {n.id for n in walk(node) if isinstance(n, gast.Name)}


def loaded_names(node):
    return {n.id for n in walk(node)
            if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Load)}


def arguments(params):
    """Plain positional parameters (gast Name nodes or identifiers)."""
    return gast.arguments(
        args=[gast.Name(id=p, ctx=gast.Param(), annotation=None, type_comment=None)
              if isinstance(p, str) else p for p in params],
        posonlyargs=[], vararg=None, kwonlyargs=[], kw_defaults=[], kwarg=None, defaults=[])


def function_def(name, args, body):
    """A FunctionDef with no decorators or annotations (type_params on the
    Python versions whose gast has them)."""
    fields = dict(name=name, args=args, body=body, decorator_list=[], returns=None,
                  type_comment=None)
    if "type_params" in gast.FunctionDef._fields:
        fields["type_params"] = []
    return gast.FunctionDef(**fields)


def injected_object(injected, func):
    """What ``func`` of generated code, of the form ``ad.name``, refers to
    (``injected``: name -> object the generated code is given), or None."""
    if (isinstance(func, gast.Attribute) and isinstance(func.value, gast.Name)
            and func.value.id in injected):
        return getattr(injected[func.value.id], func.attr, None)
    return None


# (class name, field) that never hold nodes: walks skip them
_SCALAR_FIELDS = frozenset([
    ("Name", "id"), ("Attribute", "attr"), ("keyword", "arg"), ("Constant", "value"),
    ("Constant", "kind"), ("FunctionDef", "name"), ("AsyncFunctionDef", "name"),
    ("ClassDef", "name"), ("alias", "name"), ("alias", "asname"), ("ImportFrom", "module"),
    ("ImportFrom", "level"), ("comprehension", "is_async"), ("FormattedValue", "conversion"),
])
_CHILD_FIELDS = {}      # node class -> its fields that may hold nodes


def _child_fields(cls):
    fields = _CHILD_FIELDS.get(cls)
    if fields is None:
        fields = _CHILD_FIELDS[cls] = tuple(
            f for f in cls._fields
            if f != "type_comment" and (cls.__name__, f) not in _SCALAR_FIELDS)
    return fields


def walk(node):
    """``gast.walk``: ``node`` and everything under it, in the same
    (breadth-first) order, with less overhead per node (fields that only
    hold names and numbers are not looked at)."""
    AST = gast.AST
    child_fields = _CHILD_FIELDS
    todo = [node]
    for node in todo:           # (the list grows while it is read)
        fields = child_fields.get(type(node))
        if fields is None:
            fields = _child_fields(type(node))
        for field in fields:
            value = getattr(node, field, None)
            if isinstance(value, AST):
                todo.append(value)
            elif isinstance(value, list):
                todo.extend([v for v in value if isinstance(v, AST)])
        yield node


class Transformer(gast.NodeTransformer):
    """``gast.NodeTransformer`` with the same results (``visit_<Class>``
    methods, children replaced, dropped when None, spliced when a list) and
    less overhead per node: the passes that rewrite every template and every
    statement of long functions spend most of their time there."""

    def visit(self, node):
        visitor = getattr(self, "visit_" + node.__class__.__name__, None)
        if visitor is None:
            return self.generic_visit(node)
        return visitor(node)

    def generic_visit(self, node):
        AST = gast.AST
        fields = _CHILD_FIELDS.get(type(node))
        if fields is None:
            fields = _child_fields(type(node))
        for field in fields:
            try:
                old = getattr(node, field)
            except AttributeError:
                continue
            if isinstance(old, list):
                new_values = []
                for value in old:
                    if isinstance(value, AST):
                        value = self.visit(value)
                        if value is None:
                            continue
                        if not isinstance(value, AST):
                            new_values.extend(value)
                            continue
                    new_values.append(value)
                old[:] = new_values
            elif isinstance(old, AST):
                new = self.visit(old)
                if new is None:
                    delattr(node, field)
                else:
                    setattr(node, field, new)
        return node
