"""How long streams and statuses last: case durations and time in state, with SLAs.

``at=`` is the moment of the question: a stream with events after ``at`` is still open then,
its duration runs to ``at``; statuses are cut at ``at`` (or, with no ``at``, at the latest
event of the selection: the data's own "now").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

import polars as pl

from eventlab.errors import InvalidArgumentError
from eventlab.process.log import (
    KEY,
    Source,
    Types,
    later_streams,
    ordered_events,
    stream_bounds,
    utc_or_none,
    window_events,
)
from eventlab.timeutil import PointInTime

DURATION = pl.Duration("us")
UTC = pl.Datetime("us", "UTC")
Sla = timedelta | Mapping[str, timedelta] | None


def durations(
    source: Source, *, stream_types: Types = None, at: PointInTime | None = None,
    known_at: PointInTime | None = None, where: pl.Expr | None = None,
) -> pl.DataFrame:
    """One row per stream: ``stream_type``, ``stream_id``, ``start`` (first event), ``end``,
    ``duration``, ``events`` (up to ``at``), ``open``.

    With ``at``, a stream that has events after ``at`` (as known at ``known_at``) was still
    open then: its ``end`` is ``at`` and ``open`` is true. Otherwise ``end`` is its last event
    (pm4py's case duration: last minus first timestamp). Sorted by stream type and id.
    """
    when = utc_or_none(at, "at")
    window: dict[str, Any] = {"stream_types": stream_types, "known_at": known_at, "where": where}
    per_stream = (
        window_events(source, at=when, **window)
        .group_by("stream_type", "stream_id")
        .agg(pl.col("occurred_at").min().alias("start"), pl.col("occurred_at").max()
             .alias("end"), pl.len().cast(pl.Int64).alias("events"))
        .collect()
    )
    if when is None:
        per_stream = per_stream.with_columns(pl.lit(False).alias("open"))
    else:
        later = later_streams(source, when, **window).with_columns(pl.lit(True).alias("open"))
        per_stream = per_stream.join(later, on=["stream_type", "stream_id"], how="left")
        per_stream = per_stream.with_columns(
            pl.col("open").fill_null(False),
            pl.when(pl.col("open")).then(pl.lit(when, UTC)).otherwise(pl.col("end"))
            .alias("end"),
        )
    return per_stream.select(
        "stream_type", "stream_id", "start", "end",
        (pl.col("end") - pl.col("start")).cast(DURATION).alias("duration"), "events", "open",
    ).sort("stream_type", "stream_id")


def _status_events(
    events: pl.DataFrame, status: Mapping[str, Any], default: Any
) -> pl.DataFrame:
    """Events that set a status (mapped types; with ``default``, also a stream's first event
    when unmapped), with ``status`` as text."""
    mapped = pl.col("event_type").cast(pl.String).replace_strict(
        {str(k): str(v) for k, v in status.items()}, default=None, return_dtype=pl.String
    )
    if default is not None:
        mapped = pl.when(pl.col("_first") & mapped.is_null()).then(pl.lit(str(default))) \
            .otherwise(mapped)
    return stream_bounds(events).with_columns(mapped.alias("status")).filter(
        pl.col("status").is_not_null()
    )


def _check_status(status: Mapping[str, Any]) -> None:
    if not isinstance(status, Mapping) or not status:
        raise InvalidArgumentError(
            "status", status, "status= is a non-empty mapping from event types to statuses",
            "e.g. status={'Create Fine': 'open', 'Payment': 'paid'} (as the status reducer)",
        )


def time_in_state(
    source: Source, *, status: Mapping[str, Any], stream_types: Types = None,
    at: PointInTime | None = None, known_at: PointInTime | None = None,
    where: pl.Expr | None = None, default: Any = None, final: Sequence[str] = (),
    sla: Sla = None, summary: bool = False,
) -> pl.DataFrame:
    """Time each stream spent in each status up to ``at``: ``stream_type``, ``stream_id``,
    ``status``, ``time``, ``entered`` (times it entered the status), ``current`` (its status
    at the cut), and with ``sla=`` ``over_sla`` (time above the threshold).

    ``status`` maps event types to statuses, as the ``status`` reducer: an event of a mapped
    type sets the status until the next mapped event; with ``default``, a stream is in that
    status from its first event until a mapped one. The last interval is cut at ``at`` (or the
    latest event of the selection). Statuses in ``final`` end a stream: no time is counted in
    them (they still show as ``current``). ``sla`` is a ``timedelta`` for every status or a
    mapping status -> timedelta. ``summary=True`` returns :func:`state_summary` of the result.
    """
    _check_status(status)
    events = ordered_events(source, stream_types=stream_types, at=at, known_at=known_at,
                            where=where)
    when = utc_or_none(at, "at")
    cut = when if when is not None else events["occurred_at"].max()
    stints = _stints(_status_events(events, status, default), cut, [str(f) for f in final])
    out = (
        stints.group_by("stream_type", "stream_id", "status")
        .agg(pl.col("_us").sum().cast(DURATION).alias("time"),
             pl.col("_entry").sum().cast(pl.Int64).alias("entered"),
             pl.col("_current").any().alias("current"))
        .sort("stream_type", "stream_id", "status")
    )
    out = _flag_sla(out, sla)
    return state_summary(out) if summary else out


def _stints(marks: pl.DataFrame, cut: Any, final: list[str]) -> pl.DataFrame:
    """One row per status-setting event: the time until the next one (or the cut)."""
    last = pl.col(KEY) != pl.col(KEY).shift(-1)
    last = last.fill_null(True)
    until = pl.when(last).then(pl.lit(cut, UTC)).otherwise(pl.col("occurred_at").shift(-1))
    entry = pl.col("_first") | (pl.col(KEY) != pl.col(KEY).shift(1)).fill_null(True) | (
        pl.col("status") != pl.col("status").shift(1)
    )
    micros = (until - pl.col("occurred_at")).dt.total_microseconds()
    return marks.with_columns(
        pl.when(pl.col("status").is_in(final)).then(0).otherwise(micros).alias("_us"),
        entry.alias("_entry"),
        last.alias("_current"),
    )


def _flag_sla(frame: pl.DataFrame, sla: Sla) -> pl.DataFrame:
    if sla is None:
        return frame
    if isinstance(sla, timedelta):
        limit: pl.Expr = pl.lit(sla, DURATION)
    elif isinstance(sla, Mapping) and all(isinstance(v, timedelta) for v in sla.values()):
        limits = {str(k): v for k, v in sla.items()}
        limit = pl.col("status").replace_strict(limits, default=None, return_dtype=DURATION)
    else:
        raise InvalidArgumentError(
            "sla", sla, "sla= is a timedelta, or a mapping status -> timedelta",
            "e.g. sla=timedelta(days=5) or sla={'waiting': timedelta(days=2)}",
        )
    return frame.with_columns((pl.col("time") > limit).fill_null(False).alias("over_sla"))


def state_summary(per_stream: pl.DataFrame) -> pl.DataFrame:
    """Per stream type and status: ``streams`` that were in it, ``median``, ``p95`` and
    ``mean`` time, ``current`` (streams in it at the cut) and, with an SLA, ``over_sla``."""
    micros = pl.col("time").dt.total_microseconds()

    def back(value: pl.Expr, name: str) -> pl.Expr:
        return value.round(0).cast(pl.Int64).cast(DURATION).alias(name)

    extra = [pl.col("over_sla").sum().cast(pl.Int64)] if "over_sla" in per_stream.columns \
        else []
    return (
        per_stream.group_by("stream_type", "status")
        .agg(pl.len().cast(pl.Int64).alias("streams"), back(micros.median(), "median"),
             back(micros.quantile(0.95, interpolation="linear"), "p95"),
             back(micros.mean(), "mean"), pl.col("current").sum().cast(pl.Int64), *extra)
        .sort("stream_type", "status")
    )


