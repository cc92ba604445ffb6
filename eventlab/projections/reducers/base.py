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
``status``) carry the ``(occurred_at, position)`` of the value they keep, so merging never depends
on chunk order.

Their order is valid-time order, ``(occurred_at, position)``, as defined in
:mod:`eventlab.window`; ``order="recorded"`` asks for commit order (``position``) instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import polars as pl

from eventlab.envelope import UTC_DATETIME
from eventlab.errors import ValidationError

POS = "position"
AT = "occurred_at"
#: positions stay below 2**40 (about 1.1 trillion events), so the packed key is exact
_SHIFT = 1 << 40


#: the column :func:`~eventlab.projections.fold.with_inputs` adds once for every ordered reducer
ORDER = "__order"


def order_key(at: pl.Expr, position: pl.Expr) -> pl.Expr:
    """``(occurred_at, position)`` packed into one Int128 that sorts like the pair (valid-time
    order, ties by position): a single ``max_by`` / ``cum_max`` then picks the latest fact."""
    return at.dt.epoch("us").cast(pl.Int128) * _SHIFT + position.cast(pl.Int128)


def key_parts(key: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """The (occurred_at, position) of an :func:`order_key`."""
    at = (key // _SHIFT).cast(pl.Int64).cast(UTC_DATETIME)
    return at, (key % _SHIFT).cast(pl.Int64)


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
    #: inputs read the packed (occurred_at, position) key column ORDER
    needs_order: ClassVar[bool] = False

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

    def final_state(self, name: str) -> list[str]:
        """The state columns ``finalize`` reads (a final fold that is never merged needs only
        these; e.g. ``last`` drops the position it keeps for merging)."""
        return self.state(name)

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
        """Value after each event, for rows in valid-time order within a key (used with over);
        order-sensitive reducers accept any row order."""
        raise NotImplementedError

    def cumulative_merge(self, name: str) -> list[pl.Expr]:
        """Running merge of partial states sorted by time bucket within a key (with over)."""
        return [pl.col(name).cumulative_eval(self.merge(name)[0].implode().first())]

    # -- reference (Python) fold, used as the oracle in tests -------------------------------
    def py_init(self) -> Any:
        return None

    def py_step(self, acc: Any, value: Any, order: tuple[Any, int]) -> Any:
        """One event: ``value`` its input, ``order`` its (occurred_at, position)."""
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
