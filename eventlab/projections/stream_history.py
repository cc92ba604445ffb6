"""One stream's history: its events, the projection's state after each event, and which event
changed which field. The pure queries behind the stream inspector; :func:`stream_history`
gathers them into one frozen :class:`StreamHistory`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import polars as pl

from eventlab.envelope import ENVELOPE
from eventlab.errors import ValidationError
from eventlab.projections.diff import as_text

if TYPE_CHECKING:
    from eventlab.projections.view import ProjectionView
    from eventlab.store.core import StoreCore

EVENT_COLUMNS = ("position", "version", "event_type", "occurred_at", "recorded_at", "actor")
META = ("event_id", "stream_type", *EVENT_COLUMNS)


def stream_events(store: StoreCore, stream_id: str, stream_type: str | None) -> pl.DataFrame:
    """The events of one stream in position order; payload columns it never sets are dropped."""
    frame = store.scan(stream_ids=[stream_id], stream_types=stream_type).collect().sort("position")
    types = frame["stream_type"].unique().sort().to_list()
    if len(types) > 1:
        raise ValidationError(
            f"stream id {stream_id!r} exists in stream types {types}; pass stream_type= to "
            "choose one."
        )
    payload = [
        c for c in frame.columns if c not in ENVELOPE and frame[c].null_count() < frame.height
    ]
    return frame.select("stream_type", "stream_id", *EVENT_COLUMNS, "event_id", *payload)


def field_changes(history: pl.DataFrame, key: Sequence[str], fields: Sequence[str]) -> pl.DataFrame:
    """Which event changed which field: one row per (event, changed field) with the values
    before and after (as text), in the history's valid-time order (``occurred_at``, then
    ``position``). The first event of a key changes every field it sets."""
    by = [c for c in ("occurred_at", "position") if c in history.columns]
    frame = history.sort(by).with_row_index("__r")
    floats = [c for c in fields if frame.schema[c].is_float()]
    frame = frame.with_columns(pl.col(floats).round(9)) if floats else frame  # 98.4, not 98.39..
    base = [*key, *(c for c in ("position", "version", "event_type") if c in frame.columns), "__r"]
    parts = [
        frame.filter(pl.col(f).ne_missing(pl.col(f).shift(1).over(list(key))))
        .select(*base, pl.lit(f).alias("field"),
                as_text(f, frame.schema).shift(1).over(list(key)).alias("before"),
                as_text(f, frame.schema).alias("after"))
        for f in fields
    ]
    schema: dict[str, pl.DataType] = {c: frame.schema[c] for c in base if c != "__r"}
    schema |= {"field": pl.String(), "before": pl.String(), "after": pl.String()}
    if not parts:
        return pl.DataFrame(schema=schema)
    order = {f: i for i, f in enumerate(fields)}
    return (
        pl.concat(parts, how="vertical_relaxed")
        .with_columns(pl.col("field").replace_strict(order, return_dtype=pl.Int32).alias("__o"))
        .sort("__r", "__o").drop("__r", "__o")
    )


@dataclass(frozen=True)
class StreamHistory:
    """What the inspector shows of one stream: ``events``, and with a projection ``history``
    (the state after each event) and ``changes`` (see :func:`field_changes`); both are empty
    frames without one."""

    stream_id: str
    stream_type: str | None
    events: pl.DataFrame
    history: pl.DataFrame
    changes: pl.DataFrame


def stream_history(store: StoreCore, stream_id: str, view: ProjectionView | None = None,
                   stream_type: str | None = None) -> StreamHistory:
    """Everything about ``stream_id``; raises when the store has no event of it."""
    events = stream_events(store, stream_id, stream_type)
    if events.height == 0:
        raise ValidationError(
            f"no events for stream {stream_id!r}"
            + (f" of type {stream_type!r}" if stream_type else "")
            + ". Hint: store.info() lists stream types; ids are case-sensitive."
        )
    if view is None:
        return StreamHistory(stream_id, stream_type, events, pl.DataFrame(), pl.DataFrame())
    history = view.history(keys=[stream_id])
    if stream_type is not None and "stream_type" not in view.projection.key:
        history = history.join(events.select("position"), on="position", how="semi")
    key = list(view.projection.key)
    fields = [c for c in history.columns if c not in (*key, *META)]
    return StreamHistory(stream_id, stream_type, events, history,
                         field_changes(history, key, fields))


def check_stream_keyed(view: ProjectionView) -> ProjectionView:
    """``view`` if it is keyed by stream_id (a per-stream history needs that), else an error."""
    if tuple(view.projection.key) != ("stream_id",):
        raise ValidationError(
            f"StreamInspector shows per-stream history, so the projection must be keyed by "
            f"stream_id; {view.projection.name!r} is keyed by {list(view.projection.key)}. "
            "Hint: inspect with a stream-keyed projection (key = \"stream_id\")."
        )
    return view
