"""Counting and arithmetic reducers: count, sum, min, max, mean."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import polars as pl

from eventlab.projections.reducers.base import Reducer


@dataclass(frozen=True)
class Count(Reducer):
    """Number of events (limited by ``on`` / ``where``)."""

    kind: ClassVar[str] = "count"
    needs_input: ClassVar[bool] = False

    def inputs(self, name: str) -> dict[str, pl.Expr]:
        mask = self.mask()
        return {} if mask is None else {f"{name}__in": mask}

    def partial(self, name: str, ordered: bool) -> list[pl.Expr]:
        count = pl.len() if self.mask() is None else pl.col(f"{name}__in").sum()
        return [count.cast(pl.Int64).alias(name)]

    def merge(self, name: str) -> list[pl.Expr]:
        return [pl.col(name).sum().cast(pl.Int64)]

    def cumulative(self, name: str) -> pl.Expr:
        return self.selected().is_not_null().cast(pl.Int64).cum_sum()

    def cumulative_merge(self, name: str) -> list[pl.Expr]:
        return [pl.col(name).cum_sum()]

    def py_init(self) -> Any:
        return 0

    def py_step(self, acc: Any, value: Any, order: tuple[Any, int]) -> Any:
        return acc + (value is not None)


@dataclass(frozen=True)
class Sum(Reducer):
    """Sum of the non-null inputs (0 when there are none)."""

    kind: ClassVar[str] = "sum"

    def partial(self, name: str, ordered: bool) -> list[pl.Expr]:
        return [pl.col(f"{name}__in").sum().alias(name)]

    def merge(self, name: str) -> list[pl.Expr]:
        return [pl.col(name).sum()]

    def cumulative(self, name: str) -> pl.Expr:
        return self.selected().fill_null(0).cum_sum()

    def cumulative_merge(self, name: str) -> list[pl.Expr]:
        return [pl.col(name).fill_null(0).cum_sum()]

    def py_init(self) -> Any:
        return 0

    def py_step(self, acc: Any, value: Any, order: tuple[Any, int]) -> Any:
        return acc if value is None else acc + value


@dataclass(frozen=True)
class Min(Reducer):
    kind: ClassVar[str] = "min"

    def partial(self, name: str, ordered: bool) -> list[pl.Expr]:
        return [pl.col(f"{name}__in").min().alias(name)]

    def merge(self, name: str) -> list[pl.Expr]:
        return [pl.col(name).min()]

    def cumulative(self, name: str) -> pl.Expr:
        return self.selected().cum_min().forward_fill()

    def cumulative_merge(self, name: str) -> list[pl.Expr]:
        return [pl.col(name).cum_min().forward_fill()]

    def py_init(self) -> Any:
        return None

    def py_step(self, acc: Any, value: Any, order: tuple[Any, int]) -> Any:
        return value if acc is None or (value is not None and value < acc) else acc


@dataclass(frozen=True)
class Max(Reducer):
    kind: ClassVar[str] = "max"

    def partial(self, name: str, ordered: bool) -> list[pl.Expr]:
        return [pl.col(f"{name}__in").max().alias(name)]

    def merge(self, name: str) -> list[pl.Expr]:
        return [pl.col(name).max()]

    def cumulative(self, name: str) -> pl.Expr:
        return self.selected().cum_max().forward_fill()

    def cumulative_merge(self, name: str) -> list[pl.Expr]:
        return [pl.col(name).cum_max().forward_fill()]

    def py_init(self) -> Any:
        return None

    def py_step(self, acc: Any, value: Any, order: tuple[Any, int]) -> Any:
        return value if acc is None or (value is not None and value > acc) else acc


@dataclass(frozen=True)
class Mean(Reducer):
    """Mean of the non-null inputs (null when there are none). State: sum and count."""

    kind: ClassVar[str] = "mean"

    def state(self, name: str) -> list[str]:
        return [f"{name}__sum", f"{name}__n"]

    def inputs(self, name: str) -> dict[str, pl.Expr]:
        return {f"{name}__in": self.selected().cast(pl.Float64)}

    def partial(self, name: str, ordered: bool) -> list[pl.Expr]:
        value = pl.col(f"{name}__in")
        return [value.sum().alias(f"{name}__sum"), value.count().cast(pl.Int64).alias(f"{name}__n")]

    def merge(self, name: str) -> list[pl.Expr]:
        return [pl.col(f"{name}__sum").sum(), pl.col(f"{name}__n").sum()]

    def finalize(self, name: str) -> pl.Expr:
        n = pl.col(f"{name}__n")
        return pl.when(n > 0).then(pl.col(f"{name}__sum") / n)

    def cumulative(self, name: str) -> pl.Expr:
        value = self.selected().cast(pl.Float64)
        n = value.is_not_null().cast(pl.Int64).cum_sum()
        return pl.when(n > 0).then(value.fill_null(0).cum_sum() / n)

    def cumulative_merge(self, name: str) -> list[pl.Expr]:
        return [pl.col(f"{name}__sum").fill_null(0).cum_sum(), pl.col(f"{name}__n").cum_sum()]

    def py_init(self) -> Any:
        return (0.0, 0)

    def py_step(self, acc: Any, value: Any, order: tuple[Any, int]) -> Any:
        return acc if value is None else (acc[0] + float(value), acc[1] + 1)

    def py_final(self, acc: Any) -> Any:
        return acc[0] / acc[1] if acc[1] else None
