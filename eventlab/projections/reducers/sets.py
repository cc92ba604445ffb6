"""Set reducers (distinct, count_distinct) and custom reducers given by aggregation + merge."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import polars as pl

from eventlab.errors import ValidationError
from eventlab.projections.reducers.base import Reducer


@dataclass(frozen=True)
class Distinct(Reducer):
    """The set of distinct non-null inputs (a sorted list). State: the list."""

    kind: ClassVar[str] = "set"

    def partial(self, name: str, ordered: bool) -> list[pl.Expr]:
        return [pl.col(f"{name}__in").drop_nulls().unique().alias(name)]

    def merge(self, name: str) -> list[pl.Expr]:
        return [pl.col(name).explode().drop_nulls().unique()]

    def finalize(self, name: str) -> pl.Expr:
        return pl.col(name).list.sort()

    def cumulative(self, name: str) -> pl.Expr:
        value = self.selected()
        sets = value.cumulative_eval(pl.element().drop_nulls().unique().sort().implode())
        return sets.fill_null(value.head(0).implode())  # before the first value: an empty set

    def cumulative_merge(self, name: str) -> list[pl.Expr]:
        union = pl.element().explode().drop_nulls().unique().implode()
        return [pl.col(name).cumulative_eval(union)]

    def py_init(self) -> Any:
        return frozenset()

    def py_step(self, acc: Any, value: Any, order: tuple[Any, int]) -> Any:
        return acc if value is None else acc | {value}

    def py_final(self, acc: Any) -> Any:
        return sorted(acc)


@dataclass(frozen=True)
class CountDistinct(Distinct):
    """Number of distinct non-null inputs (exact). State: the set."""

    kind: ClassVar[str] = "count_distinct"

    def finalize(self, name: str) -> pl.Expr:
        return pl.col(name).list.len().cast(pl.Int64)

    def cumulative(self, name: str) -> pl.Expr:
        value = self.selected()
        return (value.is_not_null() & value.is_first_distinct()).cast(pl.Int64).cum_sum()

    def py_final(self, acc: Any) -> Any:
        return len(acc)


@dataclass(frozen=True)
class Custom(Reducer):
    """A reducer given by its aggregation and its merge (both Expr -> Expr).

    ``Custom(expr=pl.col("amount"), agg=lambda e: e.max() - e.min(), ...)`` is NOT mergeable;
    a valid custom reducer needs ``merge(partials)`` to combine partial results of disjoint
    chunks in any order, e.g. ``agg=lambda e: e.abs().sum(), merge=lambda s: s.sum()``.
    """

    agg: Callable[[pl.Expr], pl.Expr] | None = field(default=None, compare=False)
    combine: Callable[[pl.Expr], pl.Expr] | None = field(default=None, compare=False)
    final: Callable[[pl.Expr], pl.Expr] | None = field(default=None, compare=False)

    kind: ClassVar[str] = "custom"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.agg is None or self.combine is None:
            raise ValidationError(
                "a custom reducer needs agg= (chunk -> partial) and combine= (partials -> "
                "partial), e.g. Custom(column='x', agg=lambda e: e.sum(), "
                "combine=lambda s: s.sum())."
            )

    def partial(self, name: str, ordered: bool) -> list[pl.Expr]:
        assert self.agg is not None
        return [self.agg(pl.col(f"{name}__in")).alias(name)]

    def merge(self, name: str) -> list[pl.Expr]:
        assert self.combine is not None
        return [self.combine(pl.col(name))]

    def finalize(self, name: str) -> pl.Expr:
        return self.final(pl.col(name)) if self.final is not None else pl.col(name)

    def cumulative(self, name: str) -> pl.Expr:
        assert self.agg is not None
        selected = self.selected()
        value = selected.cumulative_eval(self.agg(pl.element()))
        value = value.fill_null(self.agg(selected.head(0)))  # before the first non-null input
        return self.final(value) if self.final is not None else value

    def cumulative_merge(self, name: str) -> list[pl.Expr]:
        assert self.combine is not None
        return [pl.col(name).cumulative_eval(self.combine(pl.element()))]

    def py_init(self) -> Any:
        return ()

    def py_step(self, acc: Any, value: Any, order: tuple[Any, int]) -> Any:
        return (*acc, value)

    def py_final(self, acc: Any) -> Any:
        """Oracle: apply the aggregation to all selected values of the key at once."""
        assert self.agg is not None
        values = pl.Series("v", list(acc), strict=False)
        if values.dtype == pl.Null:
            values = values.cast(pl.Float64)
        done = self.agg(pl.col("v"))
        if self.final is not None:
            done = self.final(done)
        return pl.DataFrame([values]).select(done).item()

    def describe(self) -> dict[str, Any]:
        assert self.agg is not None and self.combine is not None
        probe = pl.col("__input__")
        extra = {
            "agg": self.agg(probe).meta.serialize(format="json"),
            "combine": self.combine(probe).meta.serialize(format="json"),
        }
        if self.final is not None:
            extra["final"] = self.final(probe).meta.serialize(format="json")
        return {**super().describe(), **extra}
