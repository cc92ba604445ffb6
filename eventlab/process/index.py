"""A directly-follows index of a :class:`~eventlab.process.ProcessLog`: every event's successor
in its stream, found once, so that ``directly_follows(log, at=T)`` is filters and one integer
group-by, with no sort and no shift per question.

In valid-time order a successor never occurred before its event, so at any ``T`` the edge
(event, next) is in the graph exactly when the next event occurred at or before ``T``; an event
ends its stream at ``T`` when it occurred by ``T`` and its successor (if any) after ``T``.
This holds for the log's full window only: questions with ``known_at=``, ``where=`` or narrower
``stream_types`` take the general path.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import polars as pl

from eventlab.process.log import stream_bounds

UTC = pl.Datetime("us", "UTC")


@dataclass(frozen=True)
class FollowsIndex:
    """``edges``: one row per (event, successor) pair: ``_edge`` (code of stream type, source,
    target), ``_next_at``, ``_us`` (the gap); ``labels``: the code's stream_type, source,
    target; ``events``: stream_type, event_type, occurred_at, ``_next_at`` (null for a
    stream's last event) and ``_first``."""

    edges: pl.DataFrame
    labels: pl.DataFrame
    events: pl.DataFrame


def build_index(events: pl.DataFrame) -> FollowsIndex:
    """The index of events sorted in valid-time order (see :func:`~eventlab.process.log.
    sort_events`)."""
    marked = stream_bounds(events).select(
        "stream_type", "event_type", "occurred_at", "_first",
        pl.when(~pl.col("_last")).then(pl.col("occurred_at").shift(-1)).alias("_next_at"),
        pl.when(~pl.col("_last")).then(pl.col("event_type").shift(-1)).alias("target"),
    )
    pairs = marked.filter(pl.col("_next_at").is_not_null())
    labels = (
        pairs.select("stream_type", pl.col("event_type").alias("source"), "target").unique()
        .sort("stream_type", "source", "target")
        .with_columns(pl.int_range(pl.len()).cast(pl.UInt32).alias("_edge"))
    )
    edges = pairs.join(labels, left_on=["stream_type", "event_type", "target"],
                       right_on=["stream_type", "source", "target"], how="left").select(
        "_edge", "_next_at",
        (pl.col("_next_at") - pl.col("occurred_at")).dt.total_microseconds().alias("_us"),
    )
    return FollowsIndex(edges, labels.with_columns(pl.col("source", "target").cast(pl.String)),
                        marked.drop("target"))


def follows_at(index: FollowsIndex, at: datetime | None, stats: list[pl.Expr]) -> pl.DataFrame:
    """Inner edges at ``at`` (``stats`` aggregate ``_us``), then the start and end edges."""
    edges = index.edges if at is None else index.edges.filter(pl.col("_next_at") <= at)
    counted = edges.group_by("_edge").agg(pl.len().cast(pl.Int64).alias("count"), *stats)
    inner = counted.join(index.labels, on="_edge").drop("_edge")
    seen = index.events if at is None else index.events.filter(pl.col("occurred_at") <= at)
    ends = seen.filter(pl.col("_next_at").is_null() | (pl.col("_next_at") > pl.lit(at, UTC))) \
        if at is not None else seen.filter(pl.col("_next_at").is_null())
    return pl.concat([inner, _pseudo(seen.filter(pl.col("_first")), True),
                      _pseudo(ends, False)], how="diagonal_relaxed")


def _pseudo(rows: pl.DataFrame, start: bool) -> pl.DataFrame:
    from eventlab.process.log import END, START

    kind = pl.col("event_type").cast(pl.String)
    counted = rows.group_by("stream_type", "event_type").agg(pl.len().cast(pl.Int64)
                                                             .alias("count"))
    return counted.select(
        "stream_type",
        (pl.lit(START) if start else kind).alias("source"),
        (kind if start else pl.lit(END)).alias("target"), "count",
    )

