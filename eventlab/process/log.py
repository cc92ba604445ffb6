"""The event log a process question reads: selected events in valid-time order.

Every function of :mod:`eventlab.process` reads its events through :func:`ordered_events`:
the store's scan with the point-in-time keywords (``at=``: events that occurred at or before T;
``known_at=``: events recorded at or before K), an optional ``where=`` filter on events, then one
sort into the valid-time order of a stream: ``occurred_at``, ties broken by ``position``.

A :class:`ProcessLog` keeps that sorted frame in memory (a snapshot of the process state of one
transaction time): every function also accepts it, and answers ``at=T`` by a filter on the
sorted frame instead of a new scan and sort - what a scrubber stepping through time wants.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import polars as pl

from eventlab.envelope import ENVELOPE
from eventlab.errors import ColumnNotFoundError, InvalidArgumentError
from eventlab.timeutil import PointInTime, to_utc

if TYPE_CHECKING:
    from eventlab.process.index import FollowsIndex
    from eventlab.store.core import StoreCore as EventStore

#: the pseudo-activities that start and end every stream in :func:`directly_follows`
START, END = "▶ start", "■ end"
KEY = "_stream"  #: a 64-bit hash of (stream_type, stream_id): the sort key of a stream
COLUMNS = ("stream_type", "stream_id", "event_type", "occurred_at", "position")
Types = Sequence[str] | str | None


@dataclass(frozen=True)
class ProcessLog:
    """Selected events of a store as known at one position, sorted in valid-time order
    (stream, ``occurred_at``, ``position``); ``event_type`` is Categorical.

    Build it with :func:`read_log`; pass it instead of a store to any process function.
    ``index`` (every event's successor) answers ``directly_follows(log, at=T)`` without a sort.
    """

    events: pl.DataFrame
    store: EventStore
    position: int
    stream_types: tuple[str, ...] | None
    index: FollowsIndex | None = None

    def covers(self, stream_types: Types) -> bool:
        """Whether ``stream_types`` selects the whole log (None, or exactly its types)."""
        wanted = _types(stream_types)
        return wanted is None or (self.stream_types is not None
                                  and set(wanted) == set(self.stream_types))

    @property
    def height(self) -> int:
        return self.events.height

    def __repr__(self) -> str:
        return (
            f"ProcessLog({self.events.height:,} events, position {self.position:,}, "
            f"stream_types={self.stream_types})"
        )


Source = Any  # EventStore | ProjectionView | ProcessLog (typed loosely: no import cycle)


def _store_of(source: Source, stream_types: Types) -> tuple[EventStore, Types]:
    from eventlab.projections.view import ProjectionView
    from eventlab.store.core import StoreCore as EventStore

    if isinstance(source, EventStore):
        return source, stream_types
    if isinstance(source, ProjectionView):
        return source.store, stream_types if stream_types is not None else \
            source.projection.stream_types
    raise InvalidArgumentError(
        "source", type(source).__name__,
        "pass an EventStore, a ProjectionView (store.project(...)) or a ProcessLog",
        "eventlab.process.read_log(store) keeps a sorted log in memory",
    )


def _types(value: Types) -> tuple[str, ...] | None:
    if value is None:
        return None
    return (value,) if isinstance(value, str) else tuple(value)


def where_columns(where: pl.Expr | None) -> list[str]:
    """Payload columns a ``where=`` expression reads (envelope columns are always there)."""
    if where is None:
        return []
    if not isinstance(where, pl.Expr):
        raise InvalidArgumentError(
            "where", where, "where= takes a Polars expression over event columns",
            "e.g. where=pl.col('case:channel') == 'Internet'",
        )
    return [c for c in dict.fromkeys(where.meta.root_names()) if c not in ENVELOPE]


def _check_columns(needed: Sequence[str], available: Sequence[str]) -> None:
    missing = [c for c in needed if c not in available]
    if missing:
        raise ColumnNotFoundError(
            missing, available, where="the selected events",
            hint="where= may name envelope columns and payload columns the store holds.",
        )


def scan_events(
    store: EventStore, *, stream_types: Types, at: datetime | None, known_at: PointInTime | None,
    where: pl.Expr | None, occurred_after: datetime | None = None,
) -> pl.LazyFrame:
    """The store's events in the window (unsorted), filtered by ``where``, narrowed to
    :data:`COLUMNS` (event_type as Categorical)."""
    extra = where_columns(where)
    _check_columns(extra, list(store.schema))
    frame = store.scan(
        stream_types=stream_types, at=at, known_at=known_at, occurred_from=occurred_after,
        include=extra,
    )
    if occurred_after is not None:
        frame = frame.filter(pl.col("occurred_at") > occurred_after)
    if where is not None:
        frame = frame.filter(where)
    return frame.select(*COLUMNS[:2], pl.col("event_type").cast(pl.Categorical), *COLUMNS[3:])


def stream_hash() -> pl.Expr:
    """A 64-bit hash of a stream's (stream_type, stream_id)."""
    return pl.col("stream_id").hash(17) ^ pl.col("stream_type").hash(29)


def sort_events(frame: pl.LazyFrame | pl.DataFrame, key: pl.Expr | None = None) -> pl.DataFrame:
    """Events in valid-time order: by stream (its 64-bit hash), ``occurred_at``, ``position``.

    Sorting on three integers is several times faster than on the stream's strings. Two
    streams sharing a hash would interleave: that is detected (a stream id changing inside one
    hash run) and the frame is then sorted by the strings instead. ``key`` replaces the hash
    (tests force collisions with it).
    """
    key = (stream_hash() if key is None else key).cast(pl.UInt64).alias(KEY)
    ordered = frame.lazy().with_columns(key).sort(KEY, "occurred_at", "position")
    out = ordered.collect(engine="in-memory")  # the streaming engine sorts ~3x slower here
    same_key = pl.col(KEY) == pl.col(KEY).shift(1)
    other_id = (pl.col("stream_id") != pl.col("stream_id").shift(1)) | (
        pl.col("stream_type") != pl.col("stream_type").shift(1)
    )
    if out.height and out.select((same_key & other_id).any()).item():
        out = out.sort("stream_type", "stream_id", "occurred_at", "position").with_columns(
            pl.struct("stream_type", "stream_id").rank("dense").cast(pl.UInt64).alias(KEY)
        )
    return out


def read_log(
    source: Source, *, stream_types: Types = None, known_at: PointInTime | None = None,
    where: pl.Expr | None = None, index: bool = True,
) -> ProcessLog:
    """The selected events (as known at ``known_at``) sorted in valid-time order, in memory,
    with a directly-follows index (``index=False`` leaves it out: less memory, slower
    ``directly_follows(log, at=T)``)."""
    from eventlab.process.index import build_index

    store, types = _store_of(source, stream_types)
    position = store.position_at(known_at) if known_at is not None else store.head
    frame = scan_events(store, stream_types=types, at=None, known_at=known_at, where=where)
    events = sort_events(frame.filter(pl.col("position") <= position))
    built = build_index(events) if index else None
    return ProcessLog(events, store, position, _types(types), built)


def _log_window(
    log: ProcessLog, *, stream_types: Types, at: datetime | None, known_at: PointInTime | None,
    where: pl.Expr | None,
) -> pl.DataFrame:
    """A ProcessLog narrowed to a window: filters keep the valid-time order."""
    frame = log.events
    conditions: list[pl.Expr] = []
    wanted = _types(stream_types)
    if wanted is not None:
        if log.stream_types is not None and not set(wanted) <= set(log.stream_types):
            raise InvalidArgumentError(
                "stream_types", list(wanted), f"the log holds only {list(log.stream_types)}",
                "read a log with those stream types",
            )
        conditions.append(pl.col("stream_type").is_in(list(wanted)))
    if at is not None:
        conditions.append(pl.col("occurred_at") <= at)
    if known_at is not None:
        conditions.append(pl.col("position") <= _known_position(log, known_at))
    if where is not None:
        _check_columns(where_columns(where), frame.columns)
        conditions.append(where)
    return frame.filter(pl.all_horizontal(conditions)) if conditions else frame


def _known_position(log: ProcessLog, known_at: PointInTime) -> int:
    position = log.store.position_at(known_at)
    if position > log.position:
        raise InvalidArgumentError(
            "known_at", str(known_at),
            f"this log was read at position {log.position:,}; known_at may not go past it",
            "read a newer log: eventlab.process.read_log(store)",
        )
    return position


def utc_or_none(value: PointInTime | None, name: str) -> datetime | None:
    return None if value is None else to_utc(value, name=name)


def ordered_events(
    source: Source, *, stream_types: Types = None, at: PointInTime | None = None,
    known_at: PointInTime | None = None, where: pl.Expr | None = None,
) -> pl.DataFrame:
    """The events a process question reads, in valid-time order (see the module docstring)."""
    when = utc_or_none(at, "at")
    if isinstance(source, ProcessLog):
        return _log_window(source, stream_types=stream_types, at=when, known_at=known_at,
                           where=where)
    store, types = _store_of(source, stream_types)
    return sort_events(
        scan_events(store, stream_types=types, at=when, known_at=known_at, where=where)
    )


def later_streams(
    source: Source, at: datetime, *, stream_types: Types, known_at: PointInTime | None,
    where: pl.Expr | None,
) -> pl.DataFrame:
    """(stream_type, stream_id) of the streams with an event after ``at`` (still open at it)."""
    if isinstance(source, ProcessLog):
        frame = _log_window(source, stream_types=stream_types, at=None, known_at=known_at,
                            where=where).lazy().filter(pl.col("occurred_at") > at)
    else:
        store, types = _store_of(source, stream_types)
        frame = scan_events(store, stream_types=types, at=None, known_at=known_at, where=where,
                            occurred_after=at)
    return frame.select("stream_type", "stream_id").unique().collect()


def stream_bounds(events: pl.DataFrame) -> pl.DataFrame:
    """``first``/``last``: whether each row starts/ends its stream (events in valid-time
    order)."""
    key = pl.col(KEY)
    return events.with_columns(
        (key != key.shift(1)).fill_null(True).alias("_first"),
        (key != key.shift(-1)).fill_null(True).alias("_last"),
    )


def window_events(
    source: Source, *, stream_types: Types = None, at: PointInTime | None = None,
    known_at: PointInTime | None = None, where: pl.Expr | None = None,
) -> pl.LazyFrame:
    """The same events as :func:`ordered_events`, unsorted (for order-free questions)."""
    when = utc_or_none(at, "at")
    if isinstance(source, ProcessLog):
        return _log_window(source, stream_types=stream_types, at=when, known_at=known_at,
                           where=where).lazy()
    store, types = _store_of(source, stream_types)
    return scan_events(store, stream_types=types, at=when, known_at=known_at, where=where)
