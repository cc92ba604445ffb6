"""How streams flow: variants (the sequence of event types of a stream), directly-follows
edges (which event type follows which, and how long it takes) and rework (repeated steps).

Every function takes a store, a projection view or a :class:`~eventlab.process.ProcessLog`,
and the window keywords ``stream_types``, ``at`` (valid time), ``known_at`` (transaction time)
and ``where`` (a Polars filter on events). Order inside a stream is valid time: ``occurred_at``,
ties broken by ``position``.
"""

from __future__ import annotations

import polars as pl

from eventlab.errors import InvalidArgumentError
from eventlab.process.index import follows_at
from eventlab.process.log import (
    END,
    KEY,
    START,
    ProcessLog,
    Source,
    Types,
    ordered_events,
    stream_bounds,
    utc_or_none,
    window_events,
)
from eventlab.timeutil import PointInTime

SEP = "\x1f"  #: joins a variant's event types into one sortable text (never in a result)
DURATION = pl.Duration("us")


def _check_top(top: int | None) -> None:
    if top is not None and (not isinstance(top, int) or isinstance(top, bool) or top < 1):
        raise InvalidArgumentError("top", top, "top= is None (all) or an int >= 1")


def variants(
    source: Source, *, stream_types: Types = None, at: PointInTime | None = None,
    known_at: PointInTime | None = None, where: pl.Expr | None = None, top: int | None = None,
) -> pl.DataFrame:
    """The variants (a stream's event types in valid-time order) and how many streams follow
    each: ``stream_type``, ``variant`` (list of event types), ``length``, ``streams``,
    ``share`` (of the stream type's streams), ``variants`` (how many variants the row stands
    for: 1, or more for the "other" row). Sorted by stream type, then ``streams`` descending.

    ``top=N`` keeps the N most frequent variants of each stream type and sums the rest into
    one row whose ``variant`` is null.
    """
    _check_top(top)
    events = ordered_events(source, stream_types=stream_types, at=at, known_at=known_at,
                            where=where)
    per_stream = events.group_by(KEY).agg(
        pl.col("stream_type").first(), pl.col("event_type").cast(pl.String).alias("variant")
    )
    counted = (
        per_stream.group_by("stream_type", "variant").agg(pl.len().cast(pl.Int64).alias("streams"))
        .with_columns(
            pl.col("variant").list.len().cast(pl.Int64).alias("length"),
            (pl.col("streams") / pl.col("streams").sum().over("stream_type")).alias("share"),
            pl.lit(1, pl.Int64).alias("variants"),
            pl.col("variant").list.join(SEP).alias("_text"),
        )
        .sort(["stream_type", "streams", "_text"], descending=[False, True, False])
    )
    if top is not None:
        counted = _top_variants(counted, top)
    return counted.select("stream_type", "variant", "length", "streams", "share", "variants")


def _top_variants(counted: pl.DataFrame, top: int) -> pl.DataFrame:
    rank = pl.int_range(pl.len()).over("stream_type")
    ranked = counted.with_columns(rank.alias("_rank"))
    rest = (
        ranked.filter(pl.col("_rank") >= top).group_by("stream_type")
        .agg(pl.col("streams").sum(), pl.col("share").sum(), pl.len().cast(pl.Int64)
             .alias("variants"))
        .with_columns(pl.lit(None, pl.List(pl.String)).alias("variant"),
                      pl.lit(None, pl.Int64).alias("length"), pl.lit(None, pl.String)
                      .alias("_text"), pl.lit(top, pl.Int64).alias("_rank"))
    )
    kept = ranked.filter(pl.col("_rank") < top)
    return pl.concat([kept, rest.select(kept.columns)]).sort("stream_type", "_rank")


def _duration_stats(micros: pl.Expr) -> list[pl.Expr]:
    """median / mean / p95 (linear interpolation, as numpy) of durations in microseconds."""
    def back(value: pl.Expr, name: str) -> pl.Expr:
        return value.round(0).cast(pl.Int64).cast(DURATION).alias(name)

    return [
        back(micros.median(), "median_duration"),
        back(micros.mean(), "mean_duration"),
        back(micros.quantile(0.95, interpolation="linear"), "p95_duration"),
    ]


def directly_follows(
    source: Source, *, stream_types: Types = None, at: PointInTime | None = None,
    known_at: PointInTime | None = None, where: pl.Expr | None = None,
) -> pl.DataFrame:
    """Directly-follows edges: ``stream_type``, ``source``, ``target``, ``count`` and the
    ``median_duration``, ``mean_duration``, ``p95_duration`` between the two events.

    ``target`` directly follows ``source`` when it is the next event of the same stream in
    valid-time order. Edges from :data:`START` count the streams starting with an event type
    (pm4py's start activities), edges to :data:`END` those ending with one (end activities);
    they have no durations. Sorted by stream type, then ``count`` descending.
    """
    if isinstance(source, ProcessLog) and source.index is not None and known_at is None \
            and where is None and source.covers(stream_types):
        found = follows_at(source.index, utc_or_none(at, "at"), _duration_stats(pl.col("_us")))
        return _sorted_edges(found)
    events = stream_bounds(ordered_events(
        source, stream_types=stream_types, at=at, known_at=known_at, where=where
    ))
    edges = (
        events.lazy()
        .with_columns(
            pl.col("event_type").shift(-1).alias("target"),
            (pl.col("occurred_at").shift(-1) - pl.col("occurred_at")).dt.total_microseconds()
            .alias("_us"),
        )
        .filter(~pl.col("_last"))
        .group_by("stream_type", pl.col("event_type").alias("source"), "target")
        .agg(pl.len().cast(pl.Int64).alias("count"), *_duration_stats(pl.col("_us")))
        .with_columns(pl.col("source", "target").cast(pl.String))
    )
    ends = [
        _pseudo(events, "_first", source=pl.lit(START), target=pl.col("event_type")),
        _pseudo(events, "_last", source=pl.col("event_type"), target=pl.lit(END)),
    ]
    return _sorted_edges(pl.concat([edges.collect(), *ends], how="diagonal_relaxed"))


def _sorted_edges(edges: pl.DataFrame) -> pl.DataFrame:
    stats = ("median_duration", "mean_duration", "p95_duration")
    return edges.select(
        "stream_type", "source", "target", "count", *(pl.col(c).cast(DURATION) for c in stats)
    ).sort(["stream_type", "count", "source", "target"], descending=[False, True, False, False])


def _pseudo(events: pl.DataFrame, flag: str, *, source: pl.Expr, target: pl.Expr) -> pl.DataFrame:
    return (
        events.lazy().filter(pl.col(flag))
        .group_by("stream_type", source.cast(pl.String).alias("source"),
                  target.cast(pl.String).alias("target"))
        .agg(pl.len().cast(pl.Int64).alias("count"))
        .with_columns(pl.lit(None, DURATION).alias(c)
                      for c in ("median_duration", "mean_duration", "p95_duration"))
        .collect()
    )


def start_end(dfg: pl.DataFrame) -> tuple[dict[str, int], dict[str, int]]:
    """pm4py's start and end activities (``{event_type: streams}``) from a
    :func:`directly_follows` frame of one stream type."""
    starts = dfg.filter(pl.col("source") == START)
    ends = dfg.filter(pl.col("target") == END)
    return (
        dict(zip(starts["target"].to_list(), starts["count"].to_list(), strict=True)),
        dict(zip(ends["source"].to_list(), ends["count"].to_list(), strict=True)),
    )


def rework(
    source: Source, *, stream_types: Types = None, at: PointInTime | None = None,
    known_at: PointInTime | None = None, where: pl.Expr | None = None,
) -> pl.DataFrame:
    """Streams where an event type occurs more than once: ``stream_type``, ``stream_id``,
    ``event_type``, ``occurrences`` (>= 2). Sorted by ``occurrences`` descending."""
    events = window_events(source, stream_types=stream_types, at=at, known_at=known_at,
                           where=where)
    return (
        events.group_by("stream_type", "stream_id", "event_type")
        .agg(pl.len().cast(pl.Int64).alias("occurrences"))
        .filter(pl.col("occurrences") > 1)
        .with_columns(pl.col("event_type").cast(pl.String))
        .collect()
        .sort(["occurrences", "stream_type", "stream_id", "event_type"],
              descending=[True, False, False, False])
    )
