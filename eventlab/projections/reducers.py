"""Reducers: how one field of a projection folds the events of a key into a value.

Every reducer works in vectorized steps, all plain Polars expressions:

* ``inputs``: row-wise input columns, computed with ``with_columns`` before grouping (so the
  aggregation itself stays a plain ``sum``/``max``/``last``, Polars' fast path);
* ``partial``: aggregate a chunk of events (inside ``group_by(key).agg``) into *state columns*;
* ``merge``: aggregate several partial states of the same key into one (also inside ``agg``);
* ``finalize``: turn state columns into the field's value (inside ``select``).

Mergeability is the contract that powers snapshots, incremental export and partition-parallel
runs: for any split of a key's events into disjoint chunks, merging the chunks' partial states
gives the partial state of all the events. Order-sensitive reducers (``first``, ``last``,
``status``) carry the ``position`` of the value they keep, so merging never depends on chunk order.

"Stream order" is ``position`` order (commit order; within a stream it is version order).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import polars as pl

from eventlab.errors import ValidationError

POS = "position"


def _on_expr(on: Sequence[str] | None) -> pl.Expr | None:
    return None if on is None else pl.col("event_type").is_in(list(on))


@dataclass(frozen=True)
class Reducer:
    """Base class. ``column`` or ``expr`` is the input; ``on`` and ``where`` limit the events."""

    column: str | None = None
    expr: pl.Expr | None = field(default=None, compare=False)
    on: tuple[str, ...] | None = None
    where: pl.Expr | None = field(default=None, compare=False)

    kind: ClassVar[str] = "reducer"
    needs_input: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if self.on is not None and not isinstance(self.on, tuple):
            object.__setattr__(
                self, "on", (self.on,) if isinstance(self.on, str) else tuple(self.on)
            )
        if self.needs_input and self.column is None and self.expr is None:
            raise ValidationError(
                f"reducer {self.kind!r} needs an input: column='name' or expr=pl.col(...)."
            )

    # -- inputs -------------------------------------------------------------------------
    def input(self) -> pl.Expr:
        if self.expr is not None:
            return self.expr
        return pl.col(self.column) if self.column is not None else pl.col(POS)

    def mask(self) -> pl.Expr | None:
        parts = [m for m in (_on_expr(self.on), self.where) if m is not None]
        if not parts:
            return None
        return pl.all_horizontal(parts).fill_null(False)

    def selected(self) -> pl.Expr:
        """The input where the event counts for this field, else null."""
        mask = self.mask()
        return self.input() if mask is None else pl.when(mask).then(self.input())

    def columns(self) -> set[str]:
        """Event columns this reducer reads (for projection pushdown)."""
        exprs = [e for e in (self.input(), self.where) if e is not None]
        names = {n for e in exprs for n in e.meta.root_names()}
        return names | ({"event_type"} if self.on is not None else set())

    # -- the three steps ----------------------------------------------------------------
    def state(self, name: str) -> list[str]:
        return [name]

    def inputs(self, name: str) -> dict[str, pl.Expr]:
        """Row-wise columns the partial aggregates (named ``<field>__in...``)."""
        return {f"{name}__in": self.selected()}

    def partial(self, name: str, ordered: bool) -> list[pl.Expr]:
        """Aggregations over ``inputs`` columns; ``ordered``: a key's rows are in position order."""
        raise NotImplementedError

    def merge(self, name: str) -> list[pl.Expr]:
        raise NotImplementedError

    def finalize(self, name: str) -> pl.Expr:
        return pl.col(name)

    def cumulative(self, name: str) -> pl.Expr:
        """Value after each event, for rows sorted by position within a key (used with over)."""
        raise NotImplementedError

    def cumulative_merge(self, name: str) -> list[pl.Expr]:
        """Running merge of partial states sorted by time bucket within a key (with over)."""
        return [pl.col(name).cumulative_eval(self.merge(name)[0].implode().first())]

    # -- reference (Python) fold, used as the oracle in tests -------------------------------
    def py_init(self) -> Any:
        return None

    def py_step(self, acc: Any, value: Any, position: int) -> Any:
        raise NotImplementedError

    def py_final(self, acc: Any) -> Any:
        return acc

    def describe(self) -> dict[str, Any]:
        """Data description used in spec hashes and reprs."""
        data: dict[str, Any] = {"reducer": self.kind}
        if self.column is not None:
            data["column"] = self.column
        if self.expr is not None:
            data["expr"] = self.expr.meta.serialize(format="json")
        if self.on is not None:
            data["on"] = list(self.on)
        if self.where is not None:
            data["where"] = self.where.meta.serialize(format="json")
        return data


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

    def py_step(self, acc: Any, value: Any, position: int) -> Any:
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

    def py_step(self, acc: Any, value: Any, position: int) -> Any:
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

    def py_step(self, acc: Any, value: Any, position: int) -> Any:
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

    def py_step(self, acc: Any, value: Any, position: int) -> Any:
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

    def py_step(self, acc: Any, value: Any, position: int) -> Any:
        return acc if value is None else (acc[0] + float(value), acc[1] + 1)

    def py_final(self, acc: Any) -> Any:
        return acc[0] / acc[1] if acc[1] else None


@dataclass(frozen=True)
class Last(Reducer):
    """The last non-null input in stream order. State: the value and its position."""

    kind: ClassVar[str] = "last"
    pick_last: ClassVar[bool] = True

    def state(self, name: str) -> list[str]:
        return [name, f"{name}__pos"]

    def inputs(self, name: str) -> dict[str, pl.Expr]:
        value = self.selected()
        return {f"{name}__in": value, f"{name}__inpos": pl.when(value.is_not_null()).then(POS)}

    def partial(self, name: str, ordered: bool) -> list[pl.Expr]:
        value, pos = pl.col(f"{name}__in"), pl.col(f"{name}__inpos")
        chosen = (pos.max() if self.pick_last else pos.min()).alias(f"{name}__pos")
        if ordered:  # rows of a key arrive in position order: no per-group sort needed
            pick = (
                value.last(ignore_nulls=True) if self.pick_last else value.first(ignore_nulls=True)
            )
            return [pick.alias(name), chosen]
        return [self._by_position(value, pos).alias(name), chosen]

    def _by_position(self, value: pl.Expr, pos: pl.Expr) -> pl.Expr:
        """The value at the highest (last) / lowest (first) non-null position."""
        if self.pick_last:
            return value.max_by(pos.fill_null(-1))
        return value.min_by(pos.fill_null(2**62))

    def merge(self, name: str) -> list[pl.Expr]:
        pos = pl.col(f"{name}__pos")
        chosen = pos.max() if self.pick_last else pos.min()
        return [self._by_position(pl.col(name), pos), chosen]

    def cumulative(self, name: str) -> pl.Expr:
        value = self.selected()
        if self.pick_last:
            return value.forward_fill()
        first_seen = value.is_not_null().cast(pl.Int64).cum_sum() == 1
        return pl.when(first_seen & value.is_not_null()).then(value).forward_fill()

    def cumulative_merge(self, name: str) -> list[pl.Expr]:
        pos = pl.col(f"{name}__pos")
        best = (pos.cum_max() if self.pick_last else pos.cum_min()).forward_fill()
        return [pl.when(pos == best).then(pl.col(name)).forward_fill(), best]

    def py_step(self, acc: Any, value: Any, position: int) -> Any:
        if value is None:
            return acc
        return value if self.pick_last or acc is None else acc


@dataclass(frozen=True)
class First(Last):
    """The first non-null input in stream order."""

    kind: ClassVar[str] = "first"
    pick_last: ClassVar[bool] = False


@dataclass(frozen=True)
class Status(Last):
    """A status mapped from event types: the status of the last event whose type is mapped.

    ``Status({"Create Fine": "open", "Payment": "paid"}, default="unknown")``.
    """

    mapping: Mapping[str, Any] = field(default_factory=dict)
    default: Any = None

    kind: ClassVar[str] = "status"
    needs_input: ClassVar[bool] = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.mapping:
            raise ValidationError(
                "status needs a mapping from event types to statuses, e.g. "
                "map = { 'Create Fine' = 'open', 'Payment' = 'paid' }."
            )

    def input(self) -> pl.Expr:
        """The mapped status (a when/then chain: much cheaper than replace_strict here)."""
        items = list(self.mapping.items())
        event_type = pl.col("event_type")
        chain = pl.when(event_type == items[0][0]).then(pl.lit(items[0][1]))
        for kind, status in items[1:]:
            chain = chain.when(event_type == kind).then(pl.lit(status))
        return chain

    def mask(self) -> pl.Expr | None:
        mapped = pl.col("event_type").is_in(list(self.mapping))
        base = super().mask()
        return mapped if base is None else mapped & base

    def columns(self) -> set[str]:
        return super().columns() | {"event_type"}

    def finalize(self, name: str) -> pl.Expr:
        return pl.col(name).fill_null(self.default) if self.default is not None else pl.col(name)

    def cumulative(self, name: str) -> pl.Expr:
        value = super().cumulative(name)
        return value.fill_null(self.default) if self.default is not None else value

    def py_final(self, acc: Any) -> Any:
        return self.default if acc is None else acc

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "map": dict(self.mapping), "default": self.default}


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

    def py_step(self, acc: Any, value: Any, position: int) -> Any:
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

    def py_step(self, acc: Any, value: Any, position: int) -> Any:
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


REDUCERS: dict[str, type[Reducer]] = {
    cls.kind: cls
    for cls in (Count, Sum, Min, Max, Mean, First, Last, Status, Distinct, CountDistinct)
}
