"""Altair charts of event data: pure functions, aggregated in Polars before anything is embedded.

Every chart embeds at most :data:`MAX_ROWS` rows (well under Altair's 5,000-row limit): events
are counted per period / pair / column first, long series are thinned evenly, and dotted charts
show a bounded number of streams. Timestamps are embedded as ISO 8601 UTC strings and drawn on
UTC scales.

Offline: with no internet, Altair's notebook renderers load their JavaScript from a CDN and draw
nothing. :func:`enable_offline` switches ``alt.JupyterChart`` (used by :mod:`eventlab.widgets`)
and the ``jupyter`` renderer to the JavaScript bundled in vl-convert; :func:`to_svg` draws a chart
as a static inline SVG (used by the store's ``_repr_html_``).

.. code-block:: python

    from eventlab import charts
    charts.enable_offline()
    charts.event_rate(store.scan(), every="1w")
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import polars as pl

from eventlab.errors import (
    ColumnNotFoundError,
    InvalidIntervalError,
    OptionalDependencyError,
    ValidationError,
    require,
)

if TYPE_CHECKING:
    import altair as alt

    from eventlab.projections.diff import Diff

Frame = pl.LazyFrame | pl.DataFrame

MAX_ROWS = 3_000  #: rows any chart embeds at most
CURSOR = "cursor"  #: name of the param holding the current point of metric_over_time
OTHER = "(other)"
STREAM = ["stream_type", "stream_id"]
#: Candidate periods for every=None, finest first.
EVERY_LADDER = ("1m", "10m", "1h", "6h", "1d", "1w", "1mo", "3mo", "1y", "10y")
_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 604800, "mo": 2629746, "y": 31556952}
UTC_SCALE: dict[str, Any] = {"type": "utc"}


# ------------------------------------------------------------------ plumbing
def _alt() -> Any:
    return require("altair", "lab")


def _lazy(frame: Frame, name: str, needed: Sequence[str]) -> pl.LazyFrame:
    if not isinstance(frame, (pl.LazyFrame, pl.DataFrame)):
        raise ValidationError(
            f"{name} takes a Polars DataFrame or LazyFrame of events, got {type(frame).__name__}."
            " Hint: store.scan() gives one."
        )
    lazy = frame.lazy()
    missing = [c for c in needed if c not in lazy.collect_schema().names()]
    if missing:
        raise ColumnNotFoundError(
            missing, lazy.collect_schema().names(), where=f"the frame given to {name}",
            hint="pass events from store.scan() (every envelope column is there).",
        )
    return lazy


def embeddable(frame: pl.DataFrame) -> pl.DataFrame:
    """The frame as charts embed it: datetimes as ISO 8601 UTC strings, NaN as null, nested
    values as text. (Handing Altair a frame puts it in the spec's ``datasets`` unvalidated: a
    hundred times faster than validating a list of row dicts.)"""
    fixes = []
    for name, dtype in frame.schema.items():
        if isinstance(dtype, pl.Datetime):
            utc = pl.col(name)
            utc = utc if dtype.time_zone is None else utc.dt.convert_time_zone("UTC")
            fixes.append(utc.dt.to_string("%Y-%m-%dT%H:%M:%S%.3fZ"))
        elif isinstance(dtype, pl.Date):
            fixes.append(pl.col(name).dt.to_string("%Y-%m-%d"))
        elif dtype.is_float():
            fixes.append(pl.col(name).fill_nan(None))
        elif isinstance(dtype, (pl.List, pl.Struct, pl.Duration, pl.Time, pl.Binary)):
            fixes.append(pl.col(name).cast(pl.String, strict=False))
    return frame.with_columns(fixes) if fixes else frame


def values(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """Rows ready to embed (see :func:`embeddable`) as dicts."""
    return embeddable(frame).to_dicts()


def iso(point: datetime) -> str:
    """A point in time as the ISO string charts embed (``2024-01-01T00:00:00.000Z``)."""
    return values(pl.DataFrame({"t": [point]}, schema={"t": pl.Datetime("us", "UTC")}))[0]["t"]


def _check_rows(rows: int, what: str, hint: str) -> None:
    if rows > MAX_ROWS:
        raise ValidationError(
            f"{what} would embed {rows:,} rows; charts embed at most {MAX_ROWS:,}. Hint: {hint}."
        )


def thin(frame: pl.DataFrame, limit: int = MAX_ROWS) -> pl.DataFrame:
    """At most ``limit`` rows, evenly spaced, always keeping the first and the last."""
    if frame.height <= limit:
        return frame
    index = pl.linear_space(0, frame.height - 1, limit, eager=True).round().cast(pl.Int64)
    return frame[index.unique(maintain_order=True)]


def auto_every(start: datetime | None, end: datetime | None, target: int = 60) -> str:
    """The finest period of :data:`EVERY_LADDER` giving at most ``target`` periods."""
    if start is None or end is None:
        return "1d"
    span = (end - start).total_seconds()
    for every in EVERY_LADDER:
        number, unit = int(every.rstrip("mowdhy")), every.lstrip("0123456789")
        if span / (number * _SECONDS[unit]) <= target:
            return every
    return EVERY_LADDER[-1]


def _top_labels(counts: pl.DataFrame, column: str, top: int) -> pl.DataFrame:
    """Replace all but the ``top`` most frequent values of ``column`` by "(other)"."""
    totals = counts.group_by(column).agg(pl.col("events").sum()).sort(
        ["events", column], descending=[True, False], nulls_last=True
    )
    keep = totals[column].head(top).implode()
    label = pl.when(pl.col(column).is_in(keep)).then(pl.col(column).cast(pl.String))
    return counts.with_columns(label.otherwise(pl.lit(OTHER)).alias(column))


# ------------------------------------------------------------------ charts
def event_rate(
    events: Frame, every: str | None = "1mo", by: str | None = "event_type", *, top: int = 8
) -> alt.Chart:
    """Events per period (``every``: "1h", "1d", "1w", "1mo", or None to choose), stacked by
    ``by`` (its ``top`` most frequent values; the rest as "(other)")."""
    alt = _alt()
    lazy = _lazy(events, "event_rate", ["occurred_at", *([by] if by else [])])
    if every is None:
        span = lazy.select(pl.col("occurred_at").min().alias("lo"),
                           pl.col("occurred_at").max().alias("hi")).collect()
        every = auto_every(span["lo"][0], span["hi"][0])
    try:
        period = pl.col("occurred_at").dt.truncate(every).alias("period")
        counts = lazy.group_by(period, *([by] if by else [])).agg(pl.len().alias("events"))
        data = counts.collect()
    except pl.exceptions.PolarsError as exc:
        raise InvalidIntervalError(every) from exc
    if by:
        data = _top_labels(data, by, top).group_by("period", by).agg(pl.col("events").sum())
    data = data.sort("period", *([by] if by else []))
    _check_rows(data.height, "event_rate", f"use a longer every= than {every!r}")
    encoding: dict[str, Any] = {
        "x": alt.X("period:T", title=f"period ({every})", scale=UTC_SCALE),
        "y": alt.Y("events:Q", title="events", stack=True),
        "tooltip": ["period:T", "events:Q", *([f"{by}:N"] if by else [])],
    }
    if by:
        encoding["color"] = alt.Color(f"{by}:N", title=by)
    return (
        alt.Chart(embeddable(data), title=f"events per {every}")
        .mark_bar()
        .encode(**encoding)
    )


def metric_over_time(
    timeline: pl.DataFrame, y: str | Sequence[str], at: datetime | None = None, *, x: str = "at"
) -> alt.LayerChart:
    """A line of ``y`` (one column or several) over ``x`` of a timeline frame (e.g.
    ``view.timeline(every="1d", metrics={...})``), with a rule at ``at``.

    The rule's position is the chart param :data:`CURSOR` (an ISO string, or None for no rule):
    a widget moves it by setting ``jupyter_chart.params.cursor``, without resending the data.
    Series longer than :data:`MAX_ROWS` are thinned evenly.
    """
    alt = _alt()
    names = [y] if isinstance(y, str) else list(y)
    if not isinstance(timeline, pl.DataFrame):
        raise ValidationError(
            f"metric_over_time takes a Polars DataFrame (a timeline), got "
            f"{type(timeline).__name__}. Hint: view.timeline(every='1d', metrics={{...}})."
        )
    missing = [c for c in [x, *names] if c not in timeline.columns]
    if missing or not names:
        raise ValidationError(
            f"metric_over_time: column(s) {missing or names} are not in the timeline; it has "
            f"{timeline.columns}. Hint: y= names a metric of view.timeline(metrics=...)."
        )
    data = thin(timeline.select(x, *names).sort(x), (MAX_ROWS - 1) // len(names))
    long = data.unpivot(index=x, on=names, variable_name="metric", value_name="value")
    line = alt.Chart(embeddable(long)).mark_line(point=data.height <= 200).encode(
        x=alt.X(f"{x}:T", title=x, scale=UTC_SCALE),
        y=alt.Y("value:Q", title=names[0] if len(names) == 1 else "value"),
        color=alt.Color("metric:N", legend=alt.Legend(title=None) if len(names) > 1 else None),
        tooltip=[f"{x}:T", "metric:N", "value:Q"],
    )
    cursor = alt.param(name=CURSOR, value=None if at is None else iso(at))
    rule = (
        alt.Chart(alt.Data(values=[{}]))
        .transform_filter(f"{CURSOR} != null")
        .transform_calculate(**{x: f"toDate({CURSOR})"})
        .mark_rule(color="#d62728", strokeWidth=2)
        .encode(x=alt.X(f"{x}:T", scale=UTC_SCALE))
    )
    return alt.layer(line, rule, title=", ".join(names)).add_params(cursor)


def dotted_chart(events: Frame, max_streams: int = 40) -> alt.Chart:
    """One row per stream (the ``max_streams`` that start first), a dot per event at its
    occurred_at, coloured by event type. At most :data:`MAX_ROWS` dots."""
    alt = _alt()
    if not isinstance(max_streams, int) or max_streams < 1:
        raise ValidationError(f"max_streams must be an int >= 1, got {max_streams!r}.")
    lazy = _lazy(events, "dotted_chart", [*STREAM, "occurred_at", "event_type", "position"])
    per_stream = (
        lazy.group_by(STREAM).agg(pl.col("occurred_at").min().alias("start"), pl.len().alias("n"))
        .sort(["start", *STREAM]).collect()
    )
    chosen = per_stream.head(max_streams)
    chosen = chosen.filter(pl.col("n").cum_sum() <= MAX_ROWS) if chosen["n"].sum() > MAX_ROWS \
        else chosen
    chosen = chosen if chosen.height else per_stream.head(1)
    dots = (
        lazy.join(chosen.lazy().select(STREAM), on=STREAM, how="semi")
        .select(*STREAM, "position", "occurred_at", "event_type").collect()
        .sort("occurred_at", "position")
    )
    dots = thin(dots)
    order = chosen["stream_id"].unique(maintain_order=True).to_list()
    title = f"{chosen.height:,} of {per_stream.height:,} streams, by first event"
    return alt.Chart(embeddable(dots), title=title).mark_circle(size=30).encode(
        x=alt.X("occurred_at:T", title="occurred at", scale=UTC_SCALE),
        y=alt.Y("stream_id:N", sort=order, title="stream"),
        color=alt.Color("event_type:N", title="event type"),
        tooltip=["stream_id:N", "event_type:N", "occurred_at:T", "position:Q"],
    )


def diff_bars(diff: Diff, labels: tuple[str, str] = ("A", "B")) -> alt.Chart:
    """Mismatches per compared column of a :class:`~eventlab.Diff` (``diff_frames(a, b, key)``);
    the title carries the only-in-A / only-in-B / changed counts, named by ``labels`` (the read
    models' names). Counts are drawn on whole-number ticks."""
    alt = _alt()
    if not hasattr(diff, "mismatches") or not hasattr(diff, "summary"):
        raise ValidationError(
            f"diff_bars takes a Diff (eventlab.diff_frames(a, b, key)), got {type(diff).__name__}."
        )
    data = diff.mismatches.sort(["mismatches", "column"], descending=[True, False])
    _check_rows(data.height, "diff_bars", "pass columns=[...] to diff_frames")
    counts, (a, b) = diff.summary(), labels
    title = (
        f"only in {a}: {counts['only_in_a']:,} · only in {b}: {counts['only_in_b']:,} · "
        f"changed: {counts['changed']:,}"
    )
    return alt.Chart(embeddable(data), title=title).mark_bar().encode(
        x=alt.X("mismatches:Q", title=f"rows whose value differs between {a} and {b}",
                axis=alt.Axis(format=",d", tickCount=_whole_ticks(data["mismatches"]))),
        y=alt.Y("column:N", sort=data["column"].to_list(), title="column"),
        tooltip=["column:N", "mismatches:Q"],
    )


def _whole_ticks(counts: pl.Series, most: int = 8) -> int:
    """A tick count that keeps an axis of counts on whole numbers: 0, 1, 2 for a largest count
    of 2 (Vega would draw 0, 0.5, ... and tickMinStep is ignored by vl-convert's renderer)."""
    largest = int(counts.max() or 0) if counts.len() else 0  # type: ignore[arg-type]
    return max(1, min(largest, most))


def follows_counts(events: Frame, top: int = 20) -> pl.DataFrame:
    """Counts of directly-follows pairs (``from`` -> ``to``: consecutive event types within a
    stream, in position order), the ``top`` most frequent event types kept by name."""
    lazy = _lazy(events, "directly_follows", [*STREAM, "event_type", "position"])
    pairs = (
        lazy.select(*STREAM, "position", "event_type")
        .with_columns(pl.col("event_type").shift(-1).over(STREAM, order_by="position").alias("to"))
        .filter(pl.col("to").is_not_null())
        .group_by(pl.col("event_type").alias("from"), "to")
        .agg(pl.len().alias("events"))
        .collect()
    )
    totals = pl.concat([
        pairs.select(pl.col("from").alias("type"), "events"),
        pairs.select(pl.col("to").alias("type"), "events"),
    ]).group_by("type").agg(pl.col("events").sum())
    totals = totals.sort(["events", "type"], descending=[True, False])
    keep = totals["type"].head(top).implode()
    relabel = [pl.when(pl.col(c).is_in(keep)).then(pl.col(c)).otherwise(pl.lit(OTHER)).alias(c)
               for c in ("from", "to")]
    return (
        pairs.with_columns(relabel).group_by("from", "to").agg(pl.col("events").sum())
        .rename({"events": "count"}).sort(["count", "from", "to"], descending=[True, False, False])
    )


def directly_follows(events: Frame, top: int = 20) -> alt.LayerChart:
    """Heatmap of how often event type ``to`` directly follows ``from`` within a stream."""
    alt = _alt()
    if not isinstance(top, int) or top < 1:
        raise ValidationError(f"top must be an int >= 1, got {top!r}.")
    data = follows_counts(events, top)
    order = (
        data.group_by("from").agg(pl.col("count").sum())
        .sort(["count", "from"], descending=[True, False])["from"].to_list()
    )
    base = alt.Chart(embeddable(data), title="directly follows (within streams)")
    rect = base.mark_rect().encode(
        x=alt.X("to:N", title="next event type", sort=order),
        y=alt.Y("from:N", title="event type", sort=order),
        color=alt.Color("count:Q", scale=alt.Scale(scheme="blues"), title="count"),
        tooltip=["from:N", "to:N", "count:Q"],
    )
    text = base.mark_text(fontSize=10).encode(
        x=alt.X("to:N", sort=order), y=alt.Y("from:N", sort=order), text="count:Q"
    )
    return alt.layer(rect, text)


def lifeline(events: Frame) -> alt.LayerChart:
    """The events of one stream over valid time: a lane per event type, joined in version
    order; the tooltip has position, version and recorded_at (transaction time)."""
    alt = _alt()
    lazy = _lazy(events, "lifeline", [*STREAM, "event_type", "position", "version",
                                      "occurred_at", "recorded_at"])
    data = (
        lazy.select(*STREAM, "position", "version", "event_type", "occurred_at", "recorded_at")
        .collect().sort("position")
    )
    streams = data.select(STREAM).unique()
    if streams.height > 1:
        raise ValidationError(
            f"lifeline draws one stream; the events belong to {streams.height} streams. Hint: "
            "store.scan(stream_ids=['<id>'], stream_types=['<type>'])."
        )
    data = thin(data)
    lanes = data["event_type"].unique(maintain_order=True).to_list()
    name = data["stream_id"][0] if data.height else "(no events)"
    base = alt.Chart(embeddable(data), title=f"stream {name}")
    x = alt.X("occurred_at:T", title="occurred at", scale=UTC_SCALE)
    y = alt.Y("event_type:N", sort=lanes, title="event type")
    path = base.mark_line(color="#999", strokeDash=[3, 3]).encode(x=x, y=y, order="version:Q")
    dots = base.mark_circle(size=90).encode(
        x=x, y=y, color=alt.Color("event_type:N", legend=None),
        tooltip=["version:Q", "position:Q", "event_type:N", "occurred_at:T", "recorded_at:T"],
    )
    return alt.layer(path, dots)


# ------------------------------------------------------------------ rendering
def rate_svg(events: Frame, start: datetime | None, end: datetime | None,
             width: int = 460, height: int = 150) -> str:
    """Events over time by type as an inline SVG (drawn by vl-convert: no script, no network),
    for a card: "" when the charts extra (altair, vl-convert) is not installed, so the card
    still shows, without its picture."""
    try:
        chart = event_rate(events, every=auto_every(start, end))
        return to_svg(chart.properties(width=width, height=height))
    except OptionalDependencyError:
        return ""


def enable_offline() -> None:
    """Render charts without internet: ``alt.JupyterChart`` (the widgets' charts) and the
    ``jupyter`` renderer load the JavaScript bundled in vl-convert instead of a CDN.

    Costs a few seconds once per kernel (bundling); adds about 1 MB to a saved notebook.
    """
    alt = _alt()
    require("vl_convert", "lab")
    require("anywidget", "lab")
    alt.JupyterChart.enable_offline()
    alt.renderers.enable("jupyter", offline=True)


def to_svg(chart: Any) -> str:
    """The chart as a static SVG string, drawn locally by vl-convert (no browser, no network)."""
    vlc = require("vl_convert", "lab")
    spec = chart.to_dict() if hasattr(chart, "to_dict") else chart
    return str(vlc.vegalite_to_svg(spec))


def embedded_rows(chart: Any) -> int:
    """How many data rows a chart embeds (all inline datasets and layers added up)."""
    spec = chart.to_dict() if hasattr(chart, "to_dict") else chart
    total = sum(len(rows) for rows in spec.get("datasets", {}).values())

    def walk(node: Any) -> int:
        if isinstance(node, dict):
            own = len(node["data"].get("values", [])) if isinstance(node.get("data"), dict) else 0
            return own + sum(walk(v) for k, v in node.items() if k != "data")
        if isinstance(node, list):
            return sum(walk(v) for v in node)
        return 0

    return total + walk(spec)
