"""Pure frame helpers behind the widgets (no ipywidgets here): every widget output is one of
these frames, so tests check them directly."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from eventlab.envelope import UTC_DATETIME
from eventlab.errors import ValidationError
from eventlab.projections.diff import as_text
from eventlab.timeutil import to_utc

if TYPE_CHECKING:
    from eventlab.projections.spec import Projection
    from eventlab.store.core import StoreCore

STEP_ALIASES = {"hour": "1h", "day": "1d", "week": "1w", "month": "1mo", "quarter": "3mo",
                "year": "1y"}
WINDOW_COLUMNS = ("position", "occurred_at", "stream_type", "stream_id", "event_type")


def default_projection(store: StoreCore) -> Projection:
    """What a store shows without a projection: per stream, events, first/last time, last type."""
    from eventlab import reducers as r
    from eventlab.projections.spec import Projection

    return Projection(
        "streams",
        key=("stream_type", "stream_id"),
        fields={
            "events": r.count(),
            "first_at": r.min("occurred_at"),
            "last_at": r.max("occurred_at"),
            "last_event": r.last("event_type"),
        },
    )


def step_points(
    store: StoreCore,
    stream_types: Sequence[str] | None,
    step: str | Sequence[Any],
    position: int,
) -> pl.Series:
    """The points a scrubber steps through: every distinct event time (``"event"``), a regular
    grid (``"hour"``, ``"day"``, ``"week"``, ``"month"`` or a Polars interval such as ``"6h"``),
    or a list of points. Sorted, unique, UTC."""
    from eventlab.projections.temporal import time_points

    if not isinstance(step, str):
        points = sorted({to_utc(p, name="step") for p in step})
        if not points:
            raise ValidationError("step= is an empty list; give at least one point in time.")
        return pl.Series("at", points, dtype=UTC_DATETIME)
    times = store.scan(stream_types=stream_types, at_position=position).select("occurred_at")
    if step == "event":
        series = times.unique().collect()["occurred_at"].sort()
    else:
        span = times.select(pl.col("occurred_at").min().alias("lo"),
                            pl.col("occurred_at").max().alias("hi")).collect()
        lo, hi = span["lo"][0], span["hi"][0]
        try:
            grid = [] if lo is None else time_points(lo, hi, STEP_ALIASES.get(step, step))
        except ValidationError:
            raise ValidationError(
                f"step={step!r} is not a valid step; use 'event', one of "
                f"{sorted(STEP_ALIASES)}, a Polars interval such as '6h' or '2w', or a list of "
                "points in time."
            ) from None
        series = pl.Series("at", grid, dtype=UTC_DATETIME)
    if series.len() == 0:
        raise ValidationError(
            "the store has no events for this projection, so there is nothing to step through. "
            "Hint: append events, or check the projection's stream_types."
        )
    return series.rename("at")


def commit_points(store: StoreCore) -> pl.DataFrame:
    """One row per transaction time: ``recorded_at`` and the last ``position`` known then."""
    return (
        store.scan().group_by("recorded_at").agg(pl.col("position").max())
        .sort("recorded_at").collect()
    )


def spread(points: pl.Series, limit: int) -> list[datetime]:
    """At most ``limit`` of ``points``, evenly spaced, first and last included."""
    if points.len() <= limit:
        return points.to_list()
    index = pl.linear_space(0, points.len() - 1, limit, eager=True).round().cast(pl.Int64)
    return points.gather(index.unique(maintain_order=True)).to_list()


def stream_column(key: Sequence[str]) -> str:
    """The key column that names streams (``stream_id`` if present, else the first)."""
    return "stream_id" if "stream_id" in key else key[0]


def top_rows(
    state: pl.DataFrame,
    *,
    key: Sequence[str],
    sort_by: str | None = None,
    descending: bool = False,
    contains: str = "",
    n: int = 15,
) -> pl.DataFrame:
    """The first ``n`` rows of a state, filtered (stream id contains ``contains``) and sorted
    (nulls last, ties by key): ``rows.sort(...).head(n)`` at the cost of a top-k selection."""
    rows = state
    if contains:
        column = stream_column(key)
        rows = rows.filter(pl.col(column).cast(pl.String).str.contains(contains, literal=True))
    if sort_by and sort_by not in state.columns:
        raise ValidationError(f"cannot sort by {sort_by!r}; columns: {state.columns}.")
    by = [sort_by] if sort_by else []
    by += [k for k in key if k not in by]
    try:
        valid = rows.filter(pl.col(by[0]).is_not_null())
        top = valid.top_k(n, by=by, reverse=not descending)
    except pl.exceptions.PolarsError:  # a dtype top_k cannot rank (lists): sort it all
        return rows.sort(by, descending=descending, nulls_last=True).head(n)
    top = top.sort(by, descending=descending, nulls_last=True)
    if top.height == n:
        return top
    nulls = rows.filter(pl.col(by[0]).is_null()).sort(by, descending=descending, nulls_last=True)
    return pl.concat([top, nulls.head(n - top.height)])


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


def read_model(source: Any, label: str) -> pl.DataFrame:
    """A read model as a DataFrame: a frame, a LazyFrame, a ProjectionView (its current state),
    an export (ReadModel or ExportResult), or a Parquet / CSV path (file or folder of Parquet)."""
    from eventlab.projections.export import ExportResult, ReadModel
    from eventlab.projections.view import ProjectionView

    if isinstance(source, pl.DataFrame):
        return source
    if isinstance(source, pl.LazyFrame):
        return source.collect()
    if isinstance(source, ProjectionView):
        return source.state(progress=False)
    if isinstance(source, ExportResult):
        return source.read_model.read()
    if isinstance(source, ReadModel):
        return source.read()
    if isinstance(source, (str, Path)):
        return _read_path(Path(source), label)
    raise ValidationError(
        f"read model {label} is a {type(source).__name__}; pass a Polars DataFrame or LazyFrame,"
        " a ProjectionView (store.project(...)), or a path to a .parquet / .csv file."
    )


def _read_path(path: Path, label: str) -> pl.DataFrame:
    if not path.exists():
        raise ValidationError(
            f"read model {label}: {path} does not exist. Hint: check the path, or export one "
            "with view.export(folder)."
        )
    try:
        if path.is_dir():
            return pl.read_parquet(path / "**" / "*.parquet", hive_partitioning=True)
        if path.suffix.lower() == ".csv":
            return pl.read_csv(path, try_parse_dates=True)
        if path.suffix.lower() in (".parquet", ".pq"):
            return pl.read_parquet(path)
    except pl.exceptions.PolarsError as exc:
        raise ValidationError(
            f"read model {label}: cannot read {path}: {str(exc).splitlines()[0]}."
        ) from exc
    raise ValidationError(
        f"read model {label}: {path.name} is neither .parquet nor .csv (nor a folder of Parquet)."
    )


def pick_key(frames: Sequence[pl.DataFrame], sources: Sequence[Any]) -> list[str]:
    """The key to compare on when none is given: a ProjectionView's key, else ``stream_id``."""
    for source in sources:
        projection = getattr(source, "projection", None)
        if projection is not None and hasattr(projection, "key"):
            return list(projection.key)
    if all("stream_id" in f.columns for f in frames):
        return ["stream_id"]
    raise ValidationError(
        "pass key= (the column(s) identifying a row in both read models); neither is a "
        "ProjectionView and they do not both have a stream_id column."
    )


def row_detail(changed_row: pl.DataFrame, columns: Sequence[str]) -> pl.DataFrame:
    """One changed row of a Diff as (column, a, b, differs) rows, values as text."""
    row = changed_row.head(1)
    differs = set(row["changed_columns"].explode().drop_nulls().to_list()) \
        if "changed_columns" in row.columns else set()
    return pl.DataFrame({
        "column": list(columns),
        "a": [row.select(as_text(f"{c}_a", row.schema)).item() for c in columns],
        "b": [row.select(as_text(f"{c}_b", row.schema)).item() for c in columns],
        "differs": [c in differs for c in columns],
    }, schema={"column": pl.String, "a": pl.String, "b": pl.String, "differs": pl.Boolean})
