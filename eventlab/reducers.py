"""Reducer factories for Python projection definitions.

.. code-block:: python

    from eventlab import Projection, reducers as r

    fines = Projection("fines", stream_types=["fine"], fields={
        "events": r.count(),
        "amount": r.sum("amount", on=["Create Fine", "Add penalty"]),
        "paid": r.sum("paymentAmount", on=["Payment"]),
        "status": r.status({"Create Fine": "open", "Payment": "paid"}),
        "balance": r.sum(pl.when(pl.col("event_type") == "Payment")
                          .then(-pl.col("paymentAmount")).otherwise(pl.col("amount"))),
    }, derived={"outstanding": pl.col("amount") - pl.col("paid")})

Inputs are a column name or any Polars expression; ``on`` limits to event types and ``where`` to
a boolean expression. ``first``, ``last`` and ``status`` follow valid time (see
:mod:`eventlab.window`): the latest fact in ``occurred_at``, ties broken by position;
``order="recorded"`` follows commit order instead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import polars as pl

from eventlab.projections import reducers as _r
from eventlab.window import Order

Input = str | pl.Expr
On = Sequence[str] | str | None


def _args(value: Input, on: On, where: pl.Expr | None) -> dict[str, Any]:
    args: dict[str, Any] = {
        "on": (on,) if isinstance(on, str) else (tuple(on) if on else None),
        "where": where,
    }
    if isinstance(value, pl.Expr):
        args["expr"] = value
    else:
        args["column"] = value
    return args


def count(*, on: On = None, where: pl.Expr | None = None) -> _r.Count:
    return _r.Count(**_args("position", on, where))


def sum(value: Input, *, on: On = None, where: pl.Expr | None = None) -> _r.Sum:
    return _r.Sum(**_args(value, on, where))


def min(value: Input, *, on: On = None, where: pl.Expr | None = None) -> _r.Min:
    return _r.Min(**_args(value, on, where))


def max(value: Input, *, on: On = None, where: pl.Expr | None = None) -> _r.Max:
    return _r.Max(**_args(value, on, where))


def mean(value: Input, *, on: On = None, where: pl.Expr | None = None) -> _r.Mean:
    return _r.Mean(**_args(value, on, where))


def first(
    value: Input, *, on: On = None, where: pl.Expr | None = None, order: Order = "valid"
) -> _r.First:
    """The first non-null value in valid time (``order="recorded"``: in commit order)."""
    return _r.First(**_args(value, on, where), order=order)


def last(
    value: Input, *, on: On = None, where: pl.Expr | None = None, order: Order = "valid"
) -> _r.Last:
    """The latest non-null value in valid time: of events that occurred at the same time, the
    one recorded last (``order="recorded"``: the one recorded last, whenever it occurred)."""
    return _r.Last(**_args(value, on, where), order=order)


def distinct(value: Input, *, on: On = None, where: pl.Expr | None = None) -> _r.Distinct:
    """The set of distinct values (a sorted list)."""
    return _r.Distinct(**_args(value, on, where))


def count_distinct(
    value: Input, *, on: On = None, where: pl.Expr | None = None
) -> _r.CountDistinct:
    return _r.CountDistinct(**_args(value, on, where))


def status(
    mapping: Mapping[str, Any],
    *,
    default: Any = None,
    where: pl.Expr | None = None,
    order: Order = "valid",
) -> _r.Status:
    """The status of the latest event in valid time whose type is in ``mapping`` (event type ->
    status); ``order="recorded"``: of the one recorded last."""
    return _r.Status(where=where, mapping=dict(mapping), default=default, order=order)


def custom(
    value: Input,
    agg: Callable[[pl.Expr], pl.Expr],
    combine: Callable[[pl.Expr], pl.Expr],
    *,
    final: Callable[[pl.Expr], pl.Expr] | None = None,
    on: On = None,
    where: pl.Expr | None = None,
) -> _r.Custom:
    """A reducer given by its aggregation (chunk -> partial) and merge (partials -> partial)."""
    return _r.Custom(**_args(value, on, where), agg=agg, combine=combine, final=final)


__all__ = [
    "count",
    "count_distinct",
    "custom",
    "distinct",
    "first",
    "last",
    "max",
    "mean",
    "min",
    "status",
    "sum",
]
