"""Temporal queries on any projection: state at a point, history, timeline, changes.

One vocabulary everywhere: ``at=`` is valid time (events with ``occurred_at <= at``),
``known_at=`` is transaction time (events recorded at or before it), ``at_position=`` is a commit
position. They combine: ``state(at=T, known_at=K)`` answers "what did we know on K about T", so
a back-dated correction changes the answer only from the moment it was recorded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import polars as pl

from eventlab.errors import ValidationError
from eventlab.projections.fold import Engine, finalize, fold_store, merge_states, prepare
from eventlab.projections.reference import PythonFold
from eventlab.projections.spec import Projection
from eventlab.timeutil import PointInTime, to_utc

if TYPE_CHECKING:
    from eventlab.store.core import StoreCore

AnyProjection = Projection | PythonFold
META = ("event_id", "position", "version", "occurred_at", "recorded_at", "event_type")
GRID_LIMIT = 5_000_000


def resolve_position(
    store: StoreCore, *, known_at: PointInTime | None = None, at_position: int | None = None
) -> int:
    """The highest position a query may see: head, capped by known_at and at_position."""
    bounds = [store.head]
    if known_at is not None:
        bounds.append(store.position_at(known_at))
    if at_position is not None:
        bounds.append(int(at_position))
    return max(0, min(bounds))


def partial_at(
    store: StoreCore,
    projection: Projection,
    *,
    at: datetime | None,
    position: int,
    use_snapshots: bool = True,
    engine: Engine = "auto",
    progress: bool | None = None,
    final: bool = False,
) -> pl.DataFrame:
    """Partial state of the events with occurred_at <= at and position <= position
    (``final``: only to be finalized, so merge-only state columns may be left out)."""
    from eventlab.projections.snapshots import best_snapshot

    snapshot = best_snapshot(store, projection, at, position) if use_snapshots else None
    head = snapshot.try_load() if snapshot is not None else None
    if snapshot is None or head is None:
        return fold_store(
            store,
            projection,
            at=at,
            at_position=position,
            engine=engine,
            progress=progress,
            final=final,
        )
    tail = fold_store(
        store,
        projection,
        at=at,
        at_position=position,
        engine=engine,
        covered=(snapshot.at, snapshot.position),
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
    when = None if at is None else to_utc(at, name="at")
    position = resolve_position(store, known_at=known_at, at_position=at_position)
    if isinstance(projection, PythonFold):
        events = store.scan(stream_types=projection.stream_types, at=when, at_position=position)
        return projection.fold(events)
    partial = partial_at(
        store,
        projection,
        at=when,
        position=position,
        use_snapshots=use_snapshots,
        engine=engine,
        progress=progress,
        final=True,
    )
    return finalize(partial, projection).collect()


def _events(
    store: StoreCore, projection: AnyProjection, keys: Sequence[Any] | None, **window: Any
) -> pl.LazyFrame:
    stream_keyed = projection.key in (("stream_id",),)
    ids = [str(k) for k in keys] if keys is not None and stream_keyed else None
    include = projection.source_columns() if isinstance(projection, Projection) else ()
    frame = store.scan(
        stream_types=projection.stream_types, stream_ids=ids, include=include, **window
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
) -> pl.DataFrame:
    """The state of its key after every event (the audit trail), in position order.

    ``keys`` limits it to some keys (stream ids for stream-keyed projections).
    """
    window = {"at": at, "known_at": known_at, "at_position": at_position}
    events = _events(store, projection, keys, **window)
    if isinstance(projection, PythonFold):
        return projection.history(events)
    frame = prepare(events, projection, extra=META).sort("position")
    values = [
        r.cumulative(n).over(list(projection.key)).alias(n) for n, r in projection.fields.items()
    ]
    out = frame.select(*projection.key, *META, *values)
    if projection.derived:
        out = out.with_columns(**projection.derived)
    return out.collect(engine="in-memory")


def time_points(start: datetime, end: datetime, every: str) -> list[datetime]:
    """Points from ``start`` to ``end`` (both included) ``every`` apart ("1d", "1w", "1mo")."""
    try:
        points = pl.datetime_range(start, end, every, eager=True, time_zone="UTC").to_list()
    except pl.exceptions.PolarsError as exc:
        raise ValidationError(
            f"every={every!r} is not a valid interval; use e.g. '1h', '1d', '1w', '1mo'."
        ) from exc
    return points if points and points[-1] == end else [*points, end]


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

    A key appears from the first point after its first event. One vectorized pass: events are
    bucketed by the first point at or after them, folded per (key, bucket), then merged
    cumulatively across buckets.
    """
    from eventlab.projections.timeline import timeline_frame

    window = {"known_at": known_at, "at_position": at_position}
    events = _events(store, projection, keys, **window)
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
    **fixed: Any,
) -> Any:
    """What changed between two points on one axis ("at", "known_at" or "at_position"), the
    other axes held by ``fixed``: keys added, removed, and changed with before/after values."""
    from eventlab.projections.diff import Changes, diff_frames

    if axis not in ("at", "known_at", "at_position"):
        raise ValidationError(f"axis must be 'at', 'known_at' or 'at_position', got {axis!r}.")
    before = state(store, projection, **{**fixed, axis: start})
    after = state(store, projection, **{**fixed, axis: end})
    return Changes.from_diff(diff_frames(before, after, list(projection.key)), start, end, axis)
