"""Plain Python folds: the documented slow escape hatch, and the oracle the fast path is checked
against. This is the one place in eventlab that loops over events in Python.

* :class:`PythonFold` is a projection written as ``step(state, event) -> state`` for logic that
  has no vectorized form; events come in valid-time order, ``(occurred_at, position)`` (see
  :mod:`eventlab.window`), or in commit order with ``order="recorded"``. It works with the
  same temporal queries (``state``, ``history``, ``timeline``, ``changes``) but cannot use
  snapshots or incremental export (it is not mergeable).
* :func:`reference_state` folds a :class:`~eventlab.projections.spec.Projection` one event at a
  time in valid-time order using each reducer's ``py_step``; tests compare it with the
  vectorized fold (tests/oracle.py is a second oracle that shares no code with eventlab).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from eventlab.projections.fold import prepare
from eventlab.projections.spec import Projection
from eventlab.window import Order, check_order


@dataclass(frozen=True)
class PythonFold:
    """``step(state, event_dict) -> state`` per key, in valid-time order (``occurred_at``, then
    ``position``; ``order="recorded"``: position order); ``result(state) -> dict``.

    ``init()`` makes the state of a key before its first event.
    """

    name: str
    init: Callable[[], Any]
    step: Callable[[Any, dict[str, Any]], Any]
    result: Callable[[Any], dict[str, Any]] = field(default=lambda s: dict(s))
    key: tuple[str, ...] = ("stream_id",)
    stream_types: tuple[str, ...] | None = None
    order: Order = "valid"

    def __post_init__(self) -> None:
        check_order(self.order)
        if isinstance(self.key, str):
            object.__setattr__(self, "key", (self.key,))
        if isinstance(self.stream_types, str):
            object.__setattr__(self, "stream_types", (self.stream_types,))

    def _rows(self, events: pl.LazyFrame) -> Iterator[dict[str, Any]]:
        by = ["position"] if self.order == "recorded" else ["occurred_at", "position"]
        yield from events.sort(by).collect().iter_rows(named=True)

    def fold(self, events: pl.LazyFrame) -> pl.DataFrame:
        states: dict[tuple[Any, ...], Any] = {}
        for event in self._rows(events):
            k = tuple(event[c] for c in self.key)
            states[k] = self.step(states[k] if k in states else self.init(), event)
        return self._frame(states)

    def history(self, events: pl.LazyFrame) -> pl.DataFrame:
        """The state after every event (one row per event, in the fold's order)."""
        states: dict[tuple[Any, ...], Any] = {}
        rows = []
        for event in self._rows(events):
            k = tuple(event[c] for c in self.key)
            states[k] = self.step(states[k] if k in states else self.init(), event)
            meta = {c: event[c] for c in ("position", "occurred_at", "event_type")}
            rows.append({**dict(zip(self.key, k, strict=True)), **meta, **self.result(states[k])})
        return (
            pl.DataFrame(rows) if rows else pl.DataFrame(schema=dict.fromkeys(self.key, pl.String))
        )

    def _frame(self, states: dict[tuple[Any, ...], Any]) -> pl.DataFrame:
        rows = [
            {**dict(zip(self.key, k, strict=True)), **self.result(s)} for k, s in states.items()
        ]
        if not rows:
            return pl.DataFrame(schema=dict.fromkeys(self.key, pl.String))
        return pl.DataFrame(rows).sort(list(self.key))


def reference_state(events: pl.LazyFrame | pl.DataFrame, projection: Projection) -> pl.DataFrame:
    """Fold ``projection`` one event at a time (the oracle). Inputs are evaluated by Polars, the
    fold itself is a Python loop in valid-time order, ``(occurred_at, position)``."""
    selected = {name: r.selected().alias(name) for name, r in projection.fields.items()}
    frame = (
        prepare(events.lazy(), projection, extra=("occurred_at",))
        .select(*projection.key, "occurred_at", "position", *selected.values())
        .sort("occurred_at", "position")
        .collect()
    )
    states: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in frame.iter_rows(named=True):
        k = tuple(row[c] for c in projection.key)
        acc = states.setdefault(k, {n: r.py_init() for n, r in projection.fields.items()})
        for name, reducer in projection.fields.items():
            order = (row["occurred_at"], row["position"])
            acc[name] = reducer.py_step(acc[name], row[name], order)
    rows = [
        {
            **dict(zip(projection.key, k, strict=True)),
            **{n: r.py_final(acc[n]) for n, r in projection.fields.items()},
        }
        for k, acc in states.items()
    ]
    out = pl.DataFrame(rows, infer_schema_length=None) if rows else pl.DataFrame()
    if projection.derived and rows:
        out = out.with_columns(**projection.derived)
    return out.sort(list(projection.key)) if rows else out
