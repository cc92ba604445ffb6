"""Order-sensitive reducers (first, last, status): they keep the position of their value, so
merging partial states never depends on the order of the chunks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import polars as pl

from eventlab.errors import ValidationError
from eventlab.projections.reducers.base import POS, Reducer


@dataclass(frozen=True)
class Last(Reducer):
    """The last non-null input in stream order. State: the value and its position."""

    kind: ClassVar[str] = "last"
    pick_last: ClassVar[bool] = True

    def state(self, name: str) -> list[str]:
        return [name, f"{name}__pos"]

    def final_state(self, name: str) -> list[str]:
        return [name]

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

    def _values(self) -> list[Any]:
        """The distinct statuses; the state holds their 1-based code (cheap to aggregate)."""
        return list(dict.fromkeys(self.mapping.values()))

    def input(self) -> pl.Expr:
        """The status code of each event (a when/then chain: cheaper than replace_strict)."""
        codes = {value: i for i, value in enumerate(self._values(), start=1)}
        event_type = pl.col("event_type")
        chain: Any = pl.when(pl.lit(False)).then(pl.lit(None, pl.UInt16))
        for kind, status in self.mapping.items():
            chain = chain.when(event_type == kind).then(pl.lit(codes[status], pl.UInt16))
        result: pl.Expr = chain
        return result

    def _decode(self, codes: pl.Expr) -> pl.Expr:
        values = self._values()
        decoded = codes.replace_strict(list(range(1, len(values) + 1)), values, default=None)
        return decoded.fill_null(self.default) if self.default is not None else decoded

    def mask(self) -> pl.Expr | None:
        mapped = pl.col("event_type").is_in(list(self.mapping))
        base = super().mask()
        return mapped if base is None else mapped & base

    def columns(self) -> set[str]:
        return super().columns() | {"event_type"}

    def finalize(self, name: str) -> pl.Expr:
        return self._decode(pl.col(name))

    def cumulative(self, name: str) -> pl.Expr:
        return self._decode(super().cumulative(name))

    def py_final(self, acc: Any) -> Any:
        return self.default if acc is None else self._values()[acc - 1]

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "map": dict(self.mapping), "default": self.default}
