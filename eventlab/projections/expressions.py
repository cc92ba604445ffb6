"""A tiny, safe expression language for specs written as data (TOML).

Derived fields (``outstanding = "amount - paid"``) and filters (``where = "amount > 0"``) in a
TOML spec are parsed with :mod:`ast` and translated node by node into Polars expressions. Only
names, numbers, strings, booleans, arithmetic, comparisons, ``and``/``or``/``not``, ``in`` with a
literal list, and a few whitelisted functions are accepted; nothing is ever evaluated or executed.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable
from typing import Any

import polars as pl

from eventlab.errors import ValidationError

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Mod: operator.mod,
    ast.FloorDiv: operator.floordiv,
}
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}
_FUNCTIONS: dict[str, Callable[..., pl.Expr]] = {
    "abs": lambda e: e.abs(),
    "coalesce": lambda *e: pl.coalesce(list(e)),
    "is_null": lambda e: e.is_null(),
    "is_not_null": lambda e: e.is_not_null(),
    "round": lambda e, d=0: e.round(d),
    "len": lambda e: e.list.len(),
    "year": lambda e: e.dt.year(),
}
#: (fewest, most) arguments of each function; None: any number
_ARITY: dict[str, tuple[int, int | None]] = {"coalesce": (1, None), "round": (1, 2)}
MAX_LENGTH = 2_000
#: deepest nesting of operators and calls an expression may have
MAX_DEPTH = 40


def parse_expression(text: str) -> pl.Expr:
    """Translate ``text`` (e.g. ``"amount - paid"``) into a Polars expression."""
    if not isinstance(text, str) or len(text) > MAX_LENGTH:
        raise ValidationError(f"an expression must be a string of at most {MAX_LENGTH} characters.")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise ValidationError(f"cannot parse expression {text!r}: {exc.msg}.") from None
    except (RecursionError, MemoryError, ValueError):
        raise ValidationError(
            f"expression {text[:60]!r}... is nested too deeply to parse (at most {MAX_DEPTH} "
            "levels)."
        ) from None
    _check_depth(tree.body, text)
    try:
        return _as_expr(_node(tree.body, text))
    except (TypeError, ValueError, OverflowError, ZeroDivisionError) as exc:
        if isinstance(exc, ValidationError):
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValidationError(
            f"expression {text!r} is not valid: {first}. Hint: check the operands' types "
            "(text in quotes, numbers without)."
        ) from None


def _check_depth(root: ast.AST, text: str) -> None:
    """Refuse trees deeper than MAX_DEPTH (without recursing: a deep tree is the problem)."""
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ValidationError(
                f"expression {text[:60]!r}{'...' if len(text) > 60 else ''} is nested more than "
                f"{MAX_DEPTH} levels deep. Hint: split it into derived fields."
            )
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


def _as_expr(value: Any) -> pl.Expr:
    return value if isinstance(value, pl.Expr) else pl.lit(value)


def _node(node: ast.AST, text: str) -> Any:
    handler = _HANDLERS.get(type(node))
    if handler is None:
        raise ValidationError(
            f"expression {text!r} uses {type(node).__name__}, which specs do not allow. "
            "Allowed: column names, numbers, strings, + - * / % //, comparisons, and/or/not, "
            f"'x in [..]', and the functions {sorted(_FUNCTIONS)}."
        )
    return handler(node, text)


_NAMED: dict[str, Any] = {
    "true": True, "false": False, "null": None, "True": True, "False": False, "None": None,
}


def _name(node: ast.Name, text: str) -> Any:
    return _NAMED[node.id] if node.id in _NAMED else pl.col(node.id)


def _constant(node: ast.Constant, text: str) -> Any:
    if isinstance(node.value, (int, float, str, bool)) or node.value is None:
        return node.value
    raise ValidationError(f"expression {text!r}: unsupported literal {node.value!r}.")


def _binop(node: ast.BinOp, text: str) -> Any:
    op = _BINARY.get(type(node.op))
    if op is None:
        raise ValidationError(
            f"expression {text!r}: operator {type(node.op).__name__} not allowed."
        )
    return op(_as_expr(_node(node.left, text)), _node(node.right, text))


def _unary(node: ast.UnaryOp, text: str) -> Any:
    value = _node(node.operand, text)
    if isinstance(node.op, ast.USub):
        return -value
    if isinstance(node.op, ast.Not):
        return ~_as_expr(value)
    if isinstance(node.op, ast.UAdd):
        return value
    raise ValidationError(f"expression {text!r}: unary {type(node.op).__name__} not allowed.")


def _boolop(node: ast.BoolOp, text: str) -> Any:
    values = [_as_expr(_node(v, text)) for v in node.values]
    return pl.all_horizontal(values) if isinstance(node.op, ast.And) else pl.any_horizontal(values)


def _compare(node: ast.Compare, text: str) -> Any:
    left = _as_expr(_node(node.left, text))
    parts = []
    for op, right_node in zip(node.ops, node.comparators, strict=True):
        if isinstance(op, (ast.In, ast.NotIn)):
            values = _literal_list(right_node, text)
            part = left.is_in(values)
            parts.append(~part if isinstance(op, ast.NotIn) else part)
        else:
            compare = _COMPARE.get(type(op))
            if compare is None:
                raise ValidationError(f"expression {text!r}: comparison not allowed.")
            right = _node(right_node, text)
            parts.append(compare(left, right))
            left = _as_expr(right)
    return parts[0] if len(parts) == 1 else pl.all_horizontal(parts)


def _literal_list(node: ast.AST, text: str) -> list[Any]:
    if not isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        raise ValidationError(f"expression {text!r}: 'in' needs a literal list, e.g. x in [1, 2].")
    return [_literal(e, text) for e in node.elts]


def _literal(node: ast.AST, text: str) -> Any:
    """One value of an ``in [...]`` list: a constant, a negative number or true/false/null."""
    if isinstance(node, ast.Constant):
        return _constant(node, text)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _literal(node.operand, text)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.Name) and node.id in _NAMED:
        return _NAMED[node.id]
    raise ValidationError(
        f"expression {text!r}: the list after 'in' may hold only literal values (numbers, "
        f"strings, true/false/null), not {ast.unparse(node)!r}. Hint: compare columns with "
        "== and or, e.g. (x == a) or (x == b)."
    )


def _call(node: ast.Call, text: str) -> Any:
    if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS or node.keywords:
        raise ValidationError(
            f"expression {text!r}: only the functions {sorted(_FUNCTIONS)} may be called."
        )
    low, high = _ARITY.get(node.func.id, (1, 1))
    if not low <= len(node.args) <= (high if high is not None else len(node.args)):
        wanted = f"{low}" if low == high else f"{low} or more" if high is None else f"{low}-{high}"
        raise ValidationError(
            f"expression {text!r}: {node.func.id}() takes {wanted} argument(s), got "
            f"{len(node.args)}."
        )
    args = [_node(a, text) for a in node.args]
    exprs = (
        [args[0] if isinstance(args[0], pl.Expr) else pl.lit(args[0]), *args[1:]] if args else []
    )
    return _FUNCTIONS[node.func.id](*exprs)


_HANDLERS: dict[type[ast.AST], Callable[[Any, str], Any]] = {
    ast.Name: _name,
    ast.Constant: _constant,
    ast.BinOp: _binop,
    ast.UnaryOp: _unary,
    ast.BoolOp: _boolop,
    ast.Compare: _compare,
    ast.Call: _call,
}
