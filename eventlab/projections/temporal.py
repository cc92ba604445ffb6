"""Temporal queries on any projection: state at a point, history, timeline, changes.

One vocabulary everywhere (defined in :mod:`eventlab.window`): ``at=`` is valid time (events with
``occurred_at <= at``), ``known_at=`` is transaction time (events recorded at or before it),
``at_position=`` is a commit position. They combine: ``state(at=T, known_at=K)`` answers "what
did we know on K about T", so a back-dated correction changes the answer only from the moment it
was recorded, and lands where it happened in valid time (order-sensitive fields take the latest
fact by ``(occurred_at, position)``).

The public functions here are the edge: they build one :class:`~eventlab.window.Window` from the
keywords and resolve ``known_at`` to a position once (:func:`resolve`); everything below takes
the resolved window.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import polars as pl

from eventlab.errors import InvalidIntervalError, ValidationError
from eventlab.projections.fold import Engine, finalize, fold_store, merge_states, prepare
from eventlab.projections.reference import PythonFold
from eventlab.projections.spec import Projection
from eventlab.timeutil import PointInTime, to_utc
from eventlab.window import Covered, Order, Window, check_order

if TYPE_CHECKING:
    from eventlab.projections.diff import Changes
    from eventlab.store.core import StoreCore

AnyProjection = Projection | PythonFold
META = ("event_id", "position", "version", "occurred_at", "recorded_at", "event_type")
GRID_LIMIT = 5_000_000
_ORDER_BY: dict[Order, list[str]] = {
    "valid": ["occurred_at", "position"],
    "recorded": ["position"],
}


def resolve(store: StoreCore, window: Window) -> Window:
    """``window`` with ``known_at`` turned into a position bound (at most the store's head):
    the one place a query's transaction time becomes a position."""
    store.refresh()
    return window.resolve(store.head, store.position_at)


def resolve_position(
    store: StoreCore, *, known_at: PointInTime | None = None, at_position: int | None = None
) -> int:
    """The highest position a query may see: head, capped by known_at and at_position."""
    return resolve(store, Window.build(known_at=known_at, at_position=at_position)).position


def partial_at(
    store: StoreCore,
    projection: Projection,
    window: Window,
    *,
    use_snapshots: bool = True,
    engine: Engine = "auto",
    progress: bool | None = None,
    final: bool = False,
) -> pl.DataFrame:
    """Partial state of the events in the resolved ``window`` (occurred_at <= at, position <=
    its position), from the best snapshot when there is one (``final``: only to be finalized,
    so merge-only state columns may be left out). A snapshot's tail may hold back-dated events
    below the snapshot's valid time: the merge orders by (occurred_at, position), so they land
    where they happened."""
    from eventlab.projections.snapshots import best_snapshot

    snapshot = best_snapshot(store, projection, window.at, window.position) if (
        use_snapshots) else None
    head = snapshot.try_load() if snapshot is not None else None
    if snapshot is None or head is None:
        return fold_store(
            store, projection, window=window, engine=engine, progress=progress, final=final
        )
    tail = fold_store(
        store,
        projection,
        window=window,
        covered=Covered(snapshot.at, snapshot.position),
        engine=engine,
        progress=progress,
    )
    return merge_states([head, tail], projection).collect(engine=engine)


def state(
    store: StoreCore,
    projection: AnyProjection,
    *,
    at: PointInTime | None = None,
    known_at: PointInTime | None = None,
    at_position: int | None = None,
    use_snapshots: bool = True,
    engine: Engine = "auto",
    progress: bool | None = None,
) -> pl.DataFrame:
    """The state of every key at the given point, sorted by key."""
    window = resolve(store, Window.build(at=at, known_at=known_at, at_position=at_position))
    return state_in(
        store, projection, window, use_snapshots=use_snapshots, engine=engine, progress=progress
    )


def state_in(
    store: StoreCore,
    projection: AnyProjection,
    window: Window,
    *,
    use_snapshots: bool = True,
    engine: Engine = "auto",
    progress: bool | None = None,
) -> pl.DataFrame:
    """:func:`state` for a resolved window."""
    if isinstance(projection, PythonFold):
        return projection.fold(store.scan(stream_types=projection.stream_types, window=window))
    partial = partial_at(
        store,
        projection,
        window,
        use_snapshots=use_snapshots,
        engine=engine,
        progress=progress,
        final=True,
    )
    return finalize(partial, projection).collect()


def _events(
    store: StoreCore, projection: AnyProjection, keys: Sequence[Any] | None, window: Window
) -> pl.LazyFrame:
    stream_keyed = projection.key in (("stream_id",),)
    ids = [str(k) for k in keys] if keys is not None and stream_keyed else None
    include = projection.source_columns() if isinstance(projection, Projection) else ()
    frame = store.scan(
        stream_types=projection.stream_types, stream_ids=ids, include=include, window=window
    )
    if keys is not None and not stream_keyed:
        if len(projection.key) != 1:
            raise ValidationError("keys= filters single-column keys; filter the result instead.")
        frame = frame.filter(pl.col(projection.key[0]).is_in(list(keys)))
    return frame


def history(
    store: StoreCore,
    projection: AnyProjection,
    *,
    keys: Sequence[Any] | None = None,
    at: PointInTime | None = None,
    known_at: PointInTime | None = None,
    at_position: int | None = None,
    order: Order | None = None,
) -> pl.DataFrame:
    """The state of its key after every event (the audit trail), one row per event.

    ``order="valid"`` (the default): rows in valid-time order, ``(occurred_at, position)``, each
    the state as of that event's time. ``order="recorded"``: rows in commit order, each the
    state the store knew right after recording that event (order-sensitive fields still pick the
    latest fact in valid time among the events known then). A PythonFold defaults to its own
    order. ``keys`` limits it to some keys (stream ids for stream-keyed projections).
    """
    window = resolve(store, Window.build(at=at, known_at=known_at, at_position=at_position))
    events = _events(store, projection, keys, window)
    if isinstance(projection, PythonFold):
        if order is not None and order != projection.order:
            from dataclasses import replace

            projection = replace(projection, order=check_order(order))
        return projection.history(events)
    by = _ORDER_BY[check_order(order or "valid")]
    frame = prepare(events, projection, extra=META).sort(by)
    values = [
        r.cumulative(n).over(list(projection.key)).alias(n) for n, r in projection.fields.items()
    ]
    out = frame.select(*projection.key, *META, *values)
    if projection.derived:
        out = out.with_columns(**projection.derived)
    return out.collect(engine="in-memory")


def _boundary(point: datetime, every: str, up: bool) -> datetime:
    """``point`` truncated to the calendar grid of ``every`` (``up``: the first grid point at or
    after it)."""
    series = pl.Series([point], dtype=pl.Datetime("us", "UTC"))
    down = series.dt.truncate(every)
    if up and down[0] != point:
        down = down.dt.offset_by(every)
    value: datetime = down[0]
    return value


def time_points(start: datetime, end: datetime, every: str) -> list[datetime]:
    """Points on the calendar grid of ``every`` ("1h", "1d", "1w", "1mo", "1y"; aligned like
    Polars' ``dt.truncate``: days at midnight UTC, weeks on Monday, months on the 1st), from the
    first at or after ``start`` to the first at or after ``end``: each point is the end of a
    period, and the last one covers ``end``."""
    try:
        first, last = _boundary(start, every, up=True), _boundary(end, every, up=True)
        return pl.datetime_range(first, last, every, eager=True, time_zone="UTC").to_list()
    except pl.exceptions.PolarsError as exc:
        raise InvalidIntervalError(every) from exc


def timeline(
    store: StoreCore,
    projection: Projection,
    *,
    every: str | None = None,
    points: Sequence[PointInTime] | None = None,
    start: PointInTime | None = None,
    end: PointInTime | None = None,
    known_at: PointInTime | None = None,
    at_position: int | None = None,
    keys: Sequence[Any] | None = None,
    metrics: Mapping[str, pl.Expr] | None = None,
) -> pl.DataFrame:
    """State at many points as a tidy frame (``at``, key, fields), or with ``metrics`` one row
    per point of aggregates over all keys, e.g. ``{"open": (pl.col("status") == "open").sum()}``.

    ``every`` makes points on the calendar grid (month starts for "1mo", midnights UTC for
    "1d"), from the first grid point at or after the first event (or ``start``) to the first at
    or after the last one (or ``end``): each point is the state at the end of a period.

    A key appears from the first point after its first event. One vectorized pass: events are
    bucketed by the first point at or after them, folded per (key, bucket), then merged
    cumulatively across buckets (in valid-time order, like every state).
    """
    from eventlab.projections.timeline import timeline_frame

    window = resolve(store, Window.build(known_at=known_at, at_position=at_position))
    events = _events(store, projection, keys, window)
    chosen = _points(events, every, points, start, end)
    return timeline_frame(events, projection, chosen, metrics=metrics, limit=GRID_LIMIT)


def _points(
    events: pl.LazyFrame,
    every: str | None,
    points: Sequence[PointInTime] | None,
    start: PointInTime | None,
    end: PointInTime | None,
) -> list[datetime]:
    if points is not None:
        return sorted({to_utc(p, name="points") for p in points})
    if every is None:
        raise ValidationError("timeline needs every= (e.g. '1d') or points=[...].")
    span = events.select(
        pl.col("occurred_at").min().alias("lo"), pl.col("occurred_at").max().alias("hi")
    ).collect()
    lo = to_utc(start, name="start") if start is not None else span["lo"][0]
    hi = to_utc(end, name="end") if end is not None else span["hi"][0]
    if lo is None or hi is None:
        return []
    return time_points(lo, hi, every)


def changes(
    store: StoreCore,
    projection: AnyProjection,
    start: PointInTime | int,
    end: PointInTime | int,
    *,
    axis: str = "at",
    at: PointInTime | None = None,
    known_at: PointInTime | None = None,
    at_position: int | None = None,
) -> Changes:
    """What changed between two points on one axis ("at", "known_at" or "at_position"), the
    other axes held by their keywords: keys added, removed, and changed with before/after
    values."""
    from eventlab.projections.diff import Changes, diff_frames

    if axis not in ("at", "known_at", "at_position"):
        raise ValidationError(f"axis must be 'at', 'known_at' or 'at_position', got {axis!r}.")
    fixed: dict[str, Any] = {"at": at, "known_at": known_at, "at_position": at_position}
    if fixed[axis] is not None:
        raise ValidationError(
            f"{axis}= is the axis that changes (from start to end); hold only the other axes."
        )
    before, after = (
        state_in(store, projection, resolve(store, Window.build(**{**fixed, axis: point})))
        for point in (start, end)
    )
    return Changes.from_diff(diff_frames(before, after, list(projection.key)), start, end, axis)
