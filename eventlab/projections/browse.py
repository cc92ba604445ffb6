"""Browsing a projection through time: the pure queries behind the history scrubber.

Each function takes a store or a view and plain values and returns frames or a frozen value;
no widget is needed to call or test them. :func:`scrub_step` computes everything one step of
the scrubber shows, as one :class:`ScrubStep`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

import polars as pl

from eventlab.envelope import ENVELOPE, UTC_DATETIME
from eventlab.errors import ValidationError
from eventlab.timeutil import to_utc

if TYPE_CHECKING:
    from eventlab.projections.reference import PythonFold
    from eventlab.projections.spec import Projection
    from eventlab.projections.view import ProjectionView
    from eventlab.store.core import StoreCore

STEP_ALIASES = {"hour": "1h", "day": "1d", "week": "1w", "month": "1mo", "quarter": "3mo",
                "year": "1y"}
WINDOW_COLUMNS = ("position", "occurred_at", "stream_type", "stream_id", "event_type")


def streams_projection() -> Projection:
    """What a store shows without a projection: per stream, events, first/last time, last type."""
    from eventlab.projections import reducers as r
    from eventlab.projections.spec import Projection

    return Projection(
        "streams",
        key=("stream_type", "stream_id"),
        fields={
            "events": r.Count(column="position", on=None, where=None),
            "first_at": r.Min(column="occurred_at", on=None, where=None),
            "last_at": r.Max(column="occurred_at", on=None, where=None),
            "last_event": r.Last(column="event_type", on=None, where=None),
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


def containing(state: pl.DataFrame, key: Sequence[str], contains: str) -> pl.DataFrame:
    """The rows whose stream id (see :func:`stream_column`) contains ``contains``."""
    if not contains:
        return state
    column = stream_column(key)
    return state.filter(pl.col(column).cast(pl.String).str.contains(contains, literal=True))


def top_rows(
    state: pl.DataFrame,
    *,
    key: Sequence[str],
    sort_by: str | None = None,
    descending: bool = False,
    contains: str = "",
    n: int = 15,
    offset: int = 0,
) -> pl.DataFrame:
    """Rows ``offset`` to ``offset + n`` of a state, filtered (stream id contains ``contains``)
    and sorted (nulls last, ties by key): ``rows.sort(...).slice(offset, n)`` at the cost of a
    top-k selection."""
    rows = containing(state, key, contains)
    if sort_by and sort_by not in state.columns:
        raise ValidationError(f"cannot sort by {sort_by!r}; columns: {state.columns}.")
    by = [sort_by] if sort_by else []
    by += [k for k in key if k not in by]
    want = offset + n
    try:
        valid = rows.filter(pl.col(by[0]).is_not_null())
        top = valid.top_k(want, by=by, reverse=not descending)
    except pl.exceptions.PolarsError:  # a dtype top_k cannot rank (lists): sort it all
        return rows.sort(by, descending=descending, nulls_last=True).slice(offset, n)
    top = top.sort(by, descending=descending, nulls_last=True)
    if top.height < want:
        nulls = rows.filter(pl.col(by[0]).is_null()).sort(by, descending=descending,
                                                          nulls_last=True)
        top = pl.concat([top, nulls.head(want - top.height)])
    return top.slice(offset, n)


def default_metrics(state: pl.DataFrame, key: Sequence[str]) -> dict[str, pl.Expr]:
    """``streams`` (rows of the state) and the total of every numeric field."""
    numeric = [c for c, t in state.schema.items() if c not in key and t.is_numeric()]
    return {"streams": pl.len(), **{f"total {c}": pl.col(c).sum() for c in numeric}}


def event_times(store: StoreCore, stream_types: Sequence[str] | None,
                position: int) -> pl.Series:
    """Sorted occurred_at of the events known at ``position``: counting the events up to a
    point is then a binary search instead of a scan."""
    frame = store.scan(stream_types=stream_types, at_position=position)
    return frame.select("occurred_at").collect()["occurred_at"].sort()


def step_events(
    store: StoreCore, projection: Projection | PythonFold, previous: datetime | None,
    at: datetime, position: int, rows: int,
) -> pl.DataFrame:
    """The first ``rows`` events of a step (after ``previous``, up to ``at``, known at
    ``position``), with the projection's payload columns, in valid-time order."""
    payload = [c for c in projection.source_columns() if c not in ENVELOPE] \
        if hasattr(projection, "source_columns") else []
    window = store.scan(stream_types=projection.stream_types, occurred_from=previous,
                        at=at, at_position=position, include=payload)
    if previous is not None:
        window = window.filter(pl.col("occurred_at") > previous)
    return window.select(*WINDOW_COLUMNS, *payload).sort("occurred_at", "position").head(
        rows).collect()


@dataclass(frozen=True)
class ScrubStep:
    """Everything one step of the history scrubber shows: the state at ``at`` as known at
    ``position``, the first events of the step (``window``), how many events happened up to
    ``at`` and in the step, and the headline ``numbers``."""

    index: int
    at: datetime
    previous: datetime | None
    position: int
    state: pl.DataFrame
    window: pl.DataFrame
    events_so_far: int
    events_in_step: int
    numbers: Mapping[str, Any]

    def with_metric(self, name: str, metric: pl.Expr) -> ScrubStep:
        """The same step with the headline numbers of another metric (no refold)."""
        return replace(self, numbers=headline(self.state, self.events_so_far, name, metric))


def headline(state: pl.DataFrame, events_so_far: int, name: str,
             metric: pl.Expr) -> dict[str, Any]:
    value = state.select(metric.alias(name)).item() if state.height else None
    return {"streams": state.height, "events so far": events_so_far, name: value}


def scrub_step(
    view: ProjectionView, points: pl.Series, index: int, position: int, *,
    times: pl.Series, metric: tuple[str, pl.Expr], window_rows: int,
    use_snapshots: bool = True,
) -> ScrubStep:
    """One step of the scrubber: fold the state at ``points[index]`` as known at ``position``
    (with snapshots: only the events after the nearest one), the step's first events, and the
    counts (binary searches in ``times``, see :func:`event_times`)."""
    at = points[index]
    previous = points[index - 1] if index else None
    state = view.state(at=at, at_position=position, use_snapshots=use_snapshots,
                       progress=False)
    so_far = int(times.search_sorted(at, side="right"))
    before = int(times.search_sorted(previous, side="right")) if previous is not None else 0
    window = step_events(view.store, view.projection, previous, at, position, window_rows)
    return ScrubStep(index, at, previous, position, state, window, so_far, so_far - before,
                     headline(state, so_far, *metric))
