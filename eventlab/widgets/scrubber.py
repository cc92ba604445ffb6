"""HistoryScrubber: play a projection's state through time, on both time axes.

A step (new point on the slider) costs one ``view.state(at=T, at_position=P)`` - with snapshots
that folds only the events after the nearest snapshot - plus two narrow scans (the events of the
step, the count so far). The metric series is computed once (``view.timeline(points=...)``) and
only the chart's rule moves per step (a Vega-Lite param, no data resent).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import ipywidgets as w
import polars as pl

from eventlab import charts
from eventlab.api import EventStore
from eventlab.envelope import ENVELOPE, UTC_DATETIME
from eventlab.errors import ValidationError
from eventlab.projections.reference import PythonFold
from eventlab.projections.view import ProjectionView
from eventlab.timeutil import PointInTime, to_utc
from eventlab.widgets import _frames as F
from eventlab.widgets._base import (
    StatusMixin,
    chart_widget,
    no_progress_bars,
    numbers_html,
    reports_errors,
    table_html,
)


def bind(source: EventStore | ProjectionView, projection: Any, name: str | None) -> ProjectionView:
    """A ProjectionView from a view, or a store plus a projection (default: per-stream summary)."""
    if isinstance(source, ProjectionView):
        return source
    if isinstance(source, EventStore):
        return source.project(projection or F.default_projection(source), name=name)
    raise ValidationError(
        f"expected an EventStore or a ProjectionView (store.project(...)), got "
        f"{type(source).__name__}."
    )


def default_metrics(state: pl.DataFrame, key: Sequence[str]) -> dict[str, pl.Expr]:
    """``streams`` (rows of the state) and the total of every numeric field."""
    numeric = [c for c, t in state.schema.items() if c not in key and t.is_numeric()]
    return {"streams": pl.len(), **{f"total {c}": pl.col(c).sum() for c in numeric}}


class HistoryScrubber(StatusMixin, w.VBox):
    """Scrub a projection's state through valid time (slider, Play, date picker) and
    transaction time (the "known at" slider: what the store knew at a commit).

    At each point: the state table (top rows, sortable, filterable by stream id), headline
    numbers (streams, events so far, the chosen metric), the metric over time with a rule at the
    point, and the events of the step (after the previous point, up to this one).

    ``step``: "event", "hour", "day", "week", "month", a Polars interval ("6h"), or a list of
    points. ``metrics``: name -> Polars expression over state columns (as in
    ``view.timeline(metrics=...)``). ``snapshots="1w"`` builds snapshots first (writes files in
    the store; reopening at the same commit reuses them, and ``view.prune_snapshots()`` removes
    the sets of older commits) so a step folds only the tail - and again for an earlier "known
    at" commit when one is chosen, since snapshots of the head do not cover it;
    ``use_snapshots=False`` re-folds every step. A ``PythonFold`` works too, without the metric
    series (it has no timeline).

    Frames behind the outputs: ``state``, ``rows`` (table), ``window`` (events of the step),
    ``series`` (metrics over time); ``numbers`` is a dict of the headline numbers.
    """

    def __init__(
        self,
        source: EventStore | ProjectionView,
        projection: Any = None,
        *,
        name: str | None = None,
        step: str | Sequence[PointInTime] = "day",
        start: PointInTime | None = None,
        known_at: PointInTime | None = None,
        metrics: Mapping[str, pl.Expr] | None = None,
        metric: str | None = None,
        sort_by: str | None = None,
        descending: bool = False,
        top: int = 15,
        window_rows: int = 20,
        chart_points: int = 120,
        snapshots: str | None = None,
        use_snapshots: bool = True,
        interval: int = 400,
        offline: bool = True,
    ) -> None:
        view = bind(source, projection, name)
        self.view, self.store = view, view.store
        self.key = list(view.projection.key)
        self.top, self.window_rows, self.use_snapshots = top, window_rows, use_snapshots
        self.snapshots, self._snapshotted = snapshots, {self.store.head}
        if snapshots:
            with no_progress_bars():
                view.build_snapshots(every=snapshots, progress=False)
        self.commits = F.commit_points(self.store)
        self.points = F.step_points(self.store, view.projection.stream_types, step, self.store.head)
        self._chart_points = chart_points
        self._syncing = False
        self._init_status()
        first = self._point_index(start) if start is not None else 0
        self.state = self._fold(self.points[first], self._known_position(None))
        self.metrics = dict(metrics) if metrics else default_metrics(self.state, self.key)
        self._build_controls(first, known_at, metric, sort_by, descending, interval)
        self.series, self._times = self._series(), self._event_times()
        self._snapshot_known()
        self.chart = chart_widget(self._metric_chart(), offline)
        super().__init__(children=self._layout())
        self._wire()
        self._show_known()
        self.step_to(first)

    # ----------------------------------------------------------------- controls
    def _build_controls(
        self, first: int, known_at: PointInTime | None, metric: str | None,
        sort_by: str | None, descending: bool, interval: int,
    ) -> None:
        last = self.points.len() - 1
        self.slider = w.IntSlider(value=first, min=0, max=last, readout=False,
                                  continuous_update=True, layout=w.Layout(width="420px"))
        self.play = w.Play(value=first, min=0, max=last, interval=interval)
        self.point_label = w.HTML()
        self.date = w.DatetimePicker(value=self.points[first], description="jump to")
        self.known = w.IntSlider(value=self._commit_index(known_at), min=0,
                                 max=max(0, self.commits.height - 1), readout=False,
                                 description="known at")
        self.known_label = w.HTML()
        columns = self.state.columns
        names = list(self.metrics)
        _check_choice("sort_by", sort_by, columns)
        _check_choice("metric", metric, names)
        self.sort_by = w.Dropdown(options=columns, value=sort_by or self.key[0],
                                  description="sort by")
        self.descending = w.Checkbox(value=descending, description="descending", indent=False)
        self.filter = w.Text(value="", placeholder="stream id contains…", description="filter")
        self.metric = w.Dropdown(options=names, value=metric or _pick_metric(names),
                                 description="metric")
        self.numbers_html, self.table_html, self.window_html = w.HTML(), w.HTML(), w.HTML()

    def _layout(self) -> list[w.Widget]:
        return [
            w.HBox([self.play, self.slider, self.point_label]),
            w.HBox([self.date, self.known, self.known_label]),
            self.numbers_html,
            w.HBox([self.metric]),
            self.chart,
            w.HBox([self.sort_by, self.descending, self.filter]),
            self.table_html,
            self.window_html,
            self.status,
        ]

    def _wire(self) -> None:
        w.link((self.play, "value"), (self.slider, "value"))
        self.slider.observe(lambda c: self.step_to(c["new"]), names="value")
        self.date.observe(lambda c: self._jump(c["new"]), names="value")
        self.known.observe(lambda c: self._known_changed(), names="value")
        for control in (self.sort_by, self.descending, self.filter):
            control.observe(lambda c: self._show_table(), names="value")
        self.metric.observe(lambda c: self._metric_changed(), names="value")

    # ----------------------------------------------------------------- points
    def _point_index(self, point: PointInTime) -> int:
        when = to_utc(point, name="point")
        index = self.points.search_sorted(when, side="right") - 1
        return int(min(max(index, 0), self.points.len() - 1))

    def _commit_index(self, known_at: PointInTime | None) -> int:
        if known_at is None or self.commits.height == 0:
            return max(0, self.commits.height - 1)
        when = to_utc(known_at, name="known_at")
        index = self.commits["recorded_at"].search_sorted(when, side="right") - 1
        if index < 0:
            raise ValidationError(
                f"known_at={when.isoformat()} is before the first commit "
                f"({self.commits['recorded_at'][0].isoformat()}); nothing was known then."
            )
        return int(index)

    def _known_position(self, index: int | None) -> int:
        if self.commits.height == 0:
            return 0
        row = self.commits.height - 1 if index is None else index
        return int(self.commits["position"][row])

    @property
    def point(self) -> datetime:
        """The current valid-time point."""
        point: datetime = self.points[self.slider.value]
        return point

    @property
    def position(self) -> int:
        """The last position known at the current transaction time."""
        return self._known_position(self.known.value)

    # ----------------------------------------------------------------- computing
    def _fold(self, at: datetime, position: int) -> pl.DataFrame:
        return self.view.state(at=at, at_position=position, use_snapshots=self.use_snapshots,
                               progress=False)

    def _series(self) -> pl.DataFrame:
        if isinstance(self.view.projection, PythonFold):
            return pl.DataFrame(schema={"at": UTC_DATETIME, **dict.fromkeys(self.metrics,
                                                                              pl.Float64)})
        chosen = F.spread(self.points, self._chart_points)
        return self.view.timeline(points=chosen, at_position=self.position, metrics=self.metrics)

    def _metric_chart(self) -> Any:
        chart = charts.metric_over_time(self.series, self.metric.value, at=self.point)
        return chart.properties(width=480, height=200)

    def _event_times(self) -> pl.Series:
        """Sorted occurred_at of the events known at the current position: counts per point
        become binary searches instead of scans."""
        types = self.view.projection.stream_types
        frame = self.store.scan(stream_types=types, at_position=self.position)
        return frame.select("occurred_at").collect()["occurred_at"].sort()

    def _counts(self, index: int) -> tuple[int, int]:
        """Events up to point ``index``, and in its step (after the previous point)."""
        so_far = int(self._times.search_sorted(self.points[index], side="right"))
        before = int(self._times.search_sorted(self.points[index - 1], side="right")) \
            if index else 0
        return so_far, so_far - before

    def _window_query(self, index: int, position: int) -> pl.LazyFrame:
        """The first rows of the step's events (after the previous point, up to this one)."""
        at = self.points[index]
        previous = self.points[index - 1] if index else None
        payload = [c for c in self.view.projection.source_columns() if c not in ENVELOPE] \
            if hasattr(self.view.projection, "source_columns") else []
        types = self.view.projection.stream_types
        window = self.store.scan(stream_types=types, occurred_from=previous, at=at,
                                 at_position=position, include=payload)
        if previous is not None:
            window = window.filter(pl.col("occurred_at") > previous)
        return window.select(*F.WINDOW_COLUMNS, *payload).sort("occurred_at", "position").head(
            self.window_rows)

    # ----------------------------------------------------------------- updates
    @reports_errors
    def step_to(self, index: int) -> None:
        """Show the state at point ``index`` (what moving the slider does)."""
        if self.slider.value != index:
            self.slider.value = index  # observer calls back here
            return
        at, position = self.points[index], self.position
        self.state = self._fold(at, position)
        self.window = self._window_query(index, position).collect()
        self.events_so_far, self.events_in_step = self._counts(index)
        self._show_point(at)
        self._show_numbers()
        self._show_table()
        self._show_window(index)

    def _show_point(self, at: datetime) -> None:
        self.point_label.value = f"<b>{charts.iso(at)[:19].replace('T', ' ')}</b> UTC"
        self._syncing = True
        try:
            self.date.value = at
        finally:
            self._syncing = False
        setattr(self.chart.params, charts.CURSOR, charts.iso(at))  # moves the rule only

    def _show_numbers(self) -> None:
        name = self.metric.value
        value = self.state.select(self.metrics[name].alias(name)).item() if self.state.height \
            else None
        self.numbers = {"streams": self.state.height, "events so far": self.events_so_far,
                        name: value}
        self.numbers_html.value = numbers_html(self.numbers.items())

    @reports_errors
    def _show_table(self) -> None:
        self.rows = F.top_rows(self.state, key=self.key, sort_by=self.sort_by.value,
                               descending=self.descending.value, contains=self.filter.value,
                               n=self.top)
        shown = f"top {self.rows.height} of {self.state.height:,} rows"
        self.table_html.value = table_html(self.rows, self.top, shown)

    def _show_window(self, index: int) -> None:
        previous = self.points[index - 1] if index else None
        since = f"after {charts.iso(previous)[:19]}" if previous is not None else "from the start"
        caption = f"{self.events_in_step:,} events {since} up to this point"
        self.window_html.value = table_html(self.window, self.window_rows, caption)

    def _jump(self, value: datetime | None) -> None:
        if self._syncing or value is None:
            return
        self.step_to(self._point_index(value))

    def _show_known(self) -> None:
        recorded = self.commits["recorded_at"][self.known.value] if self.commits.height else None
        self.known_label.value = (
            f"{charts.iso(recorded)[:19].replace('T', ' ')} UTC · position {self.position:,}"
            if recorded is not None else "(empty store)"
        )

    def _snapshot_known(self) -> None:
        """Snapshots for the chosen commit's position (``build_snapshots`` makes them at the
        store's head only): one per checkpoint, each folding on from the previous one."""
        from eventlab.projections.temporal import time_points

        position = self.position
        if not self.snapshots or not self.use_snapshots or position in self._snapshotted:
            return
        if isinstance(self.view.projection, PythonFold) or self._times.len() == 0:
            return
        with no_progress_bars():
            for point in time_points(self._times[0], self._times[-1], self.snapshots):
                self.view.snapshot(at=point, at_position=position)
        self._snapshotted.add(position)

    @reports_errors
    def _known_changed(self) -> None:
        self._show_known()
        self.series, self._times = self._series(), self._event_times()
        self._snapshot_known()
        self.chart.chart = self._metric_chart()
        self.step_to(self.slider.value)

    def _metric_changed(self) -> None:
        self.chart.chart = self._metric_chart()
        self._show_numbers()


def _check_choice(name: str, value: str | None, valid: list[str]) -> None:
    if value is not None and value not in valid:
        raise ValidationError(f"{name}={value!r} is not one of {valid}.")


def _pick_metric(names: list[str]) -> str:
    totals = [n for n in names if n.startswith("total ")]
    return totals[0] if totals else names[0]

