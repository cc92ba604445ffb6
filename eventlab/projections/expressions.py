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
MAX_LENGTH = 2_000


def parse_expression(text: str) -> pl.Expr:
    """Translate ``text`` (e.g. ``"amount - paid"``) into a Polars expression."""
    if not isinstance(text, str) or len(text) > MAX_LENGTH:
        raise ValidationError(f"an expression must be a string of at most {MAX_LENGTH} characters.")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise ValidationError(f"cannot parse expression {text!r}: {exc.msg}.") from None
    return _as_expr(_node(tree.body, text))


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


def _name(node: ast.Name, text: str) -> Any:
    constants = {
        "true": True,
        "false": False,
        "null": None,
        "True": True,
        "False": False,
        "None": None,
    }
    return constants[node.id] if node.id in constants else pl.col(node.id)


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
    if not isinstance(node, (ast.List, ast.Tuple)):
        raise ValidationError(f"expression {text!r}: 'in' needs a literal list, e.g. x in [1, 2].")
    return [_constant(e, text) for e in node.elts if isinstance(e, ast.Constant)]


def _call(node: ast.Call, text: str) -> Any:
    if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS or node.keywords:
        raise ValidationError(
            f"expression {text!r}: only the functions {sorted(_FUNCTIONS)} may be called."
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
