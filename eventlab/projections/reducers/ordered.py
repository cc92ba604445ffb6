"""Order-sensitive reducers (first, last, status) in valid-time order (see :mod:`eventlab.window`).

Each keeps the ``(occurred_at, position)`` of its value (state columns ``<field>__at`` and
``<field>__pos``), so merging partial states never depends on the order of the chunks: a
back-dated event in a later chunk (a snapshot's tail, an incremental export) lands where it
happened. In the fold the pair is one Int128 key (:func:`order_key`), so picking the value is a
plain ``max_by`` / ``min_by``. ``order="recorded"`` picks by position alone (commit order).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import polars as pl

from eventlab.errors import ValidationError
from eventlab.projections.reducers.base import AT, ORDER, POS, Reducer, key_parts, order_key
from eventlab.window import Order, check_order


@dataclass(frozen=True)
class Last(Reducer):
    """The last non-null input in valid-time order (``order="recorded"``: in commit order).
    State: the value, its occurred_at (valid order only) and its position."""

    order: Order = "valid"

    kind: ClassVar[str] = "last"
    pick_last: ClassVar[bool] = True

    def __post_init__(self) -> None:
        super().__post_init__()
        check_order(self.order)

    def state(self, name: str) -> list[str]:
        if self.order == "recorded":
            return [name, f"{name}__pos"]
        return [name, f"{name}__at", f"{name}__pos"]

    def final_state(self, name: str) -> list[str]:
        return [name]

    def columns(self) -> set[str]:
        return super().columns() | ({POS} if self.order == "recorded" else {AT, POS})

    def _key(self, at: pl.Expr, position: pl.Expr) -> pl.Expr:
        return position if self.order == "recorded" else order_key(at, position)

    def _best(self, key: pl.Expr) -> pl.Expr:
        return key.max() if self.pick_last else key.min()

    def _pick(self, value: pl.Expr, key: pl.Expr) -> pl.Expr:
        """The value at the highest (last) / lowest (first) key; null keys never win."""
        return value.max_by(key) if self.pick_last else value.min_by(key)

    def _key_state(self, name: str, key: pl.Expr) -> list[pl.Expr]:
        """The state columns after the value: the parts of the chosen key."""
        if self.order == "recorded":
            return [key.alias(f"{name}__pos")]
        at, position = key_parts(key)
        return [at.alias(f"{name}__at"), position.alias(f"{name}__pos")]

    def _state_key(self, name: str) -> pl.Expr:
        return self._key(pl.col(f"{name}__at"), pl.col(f"{name}__pos")) if (
            self.order == "valid") else pl.col(f"{name}__pos")

    @property
    def needs_order(self) -> bool:  # type: ignore[override]
        return self.order == "valid"

    def inputs(self, name: str) -> dict[str, pl.Expr]:
        """The value, and where it is not null its key, occurred_at and position (a fold reads
        only the columns its path needs; the others are never computed)."""
        value = self.selected()
        known = value.is_not_null()
        position = {f"{name}__inpos": pl.when(known).then(pl.col(POS))}
        if self.order == "recorded":
            return {f"{name}__in": value, f"{name}__inkey": position[f"{name}__inpos"], **position}
        return {
            f"{name}__in": value,
            f"{name}__inkey": pl.when(known).then(pl.col(ORDER)),
            f"{name}__inat": pl.when(known).then(pl.col(AT)),
            **position,
        }

    def partial(self, name: str, ordered: bool) -> list[pl.Expr]:
        """``ordered``: a key's rows come in this reducer's order (valid-time or commit order),
        so the pick is the last (first) non-null row; else a ``max_by`` (``min_by``) over the
        order key."""
        value = pl.col(f"{name}__in")
        if not ordered:
            key = pl.col(f"{name}__inkey")
            return [self._pick(value, key).alias(name), *self._key_state(name, self._best(key))]
        at, pos = pl.col(f"{name}__inat"), pl.col(f"{name}__inpos")
        end = (lambda e: e.last(ignore_nulls=True)) if self.pick_last else (
            lambda e: e.first(ignore_nulls=True))
        out = [end(value).alias(name)]
        if self.order == "valid":
            out.append(end(at).alias(f"{name}__at"))
        return [*out, end(pos).alias(f"{name}__pos")]

    def merge(self, name: str) -> list[pl.Expr]:
        key = self._state_key(name)
        return [self._pick(pl.col(name), key).alias(name), *self._key_state(name, self._best(key))]

    def _running(self, key: pl.Expr) -> pl.Expr:
        return key.cum_max() if self.pick_last else key.cum_min()

    def cumulative(self, name: str) -> pl.Expr:
        """Rows in any order (valid-time or commit order): the value whose key is the best so
        far."""
        value = self.selected()
        key = pl.when(value.is_not_null()).then(self._key(pl.col(AT), pl.col(POS)))
        return pl.when(key == self._running(key)).then(value).forward_fill()

    def cumulative_merge(self, name: str) -> list[pl.Expr]:
        key = self._state_key(name)
        best = self._running(key)
        value = pl.when(key == best).then(pl.col(name)).forward_fill()
        return [value, *self._key_state(name, best.forward_fill())]

    def py_step(self, acc: Any, value: Any, order: tuple[Any, int]) -> Any:
        """``acc``: (key, value) of the pick so far; ``order``: (occurred_at, position)."""
        if value is None:
            return acc
        key = order[1] if self.order == "recorded" else order
        if acc is None or (key > acc[0] if self.pick_last else key < acc[0]):
            return (key, value)
        return acc

    def py_final(self, acc: Any) -> Any:
        return None if acc is None else acc[1]

    def describe(self) -> dict[str, Any]:
        data = super().describe()
        return data if self.order == "valid" else {**data, "order": self.order}


@dataclass(frozen=True)
class First(Last):
    """The first non-null input in valid-time order (``order="recorded"``: commit order)."""

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
        return self.default if acc is None else self._values()[acc[1] - 1]

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "map": dict(self.mapping), "default": self.default}
