"""HistoryScrubber: play a projection's state through time, on both time axes.

A step (new point on the slider) is one :func:`eventlab.projections.browse.scrub_step`: one
``view.state(at=T, at_position=P)`` - with snapshots that folds only the events after the nearest
snapshot - plus one narrow scan (the events of the step); its result is one frozen
:class:`~eventlab.projections.browse.ScrubStep` (``scrubber.now``). The metric series is computed
once (``view.timeline(points=...)``) and only the chart's rule moves per step (a Vega-Lite param,
no data resent).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import ipywidgets as w
import polars as pl

from eventlab import charts, render
from eventlab.api import EventStore
from eventlab.envelope import UTC_DATETIME
from eventlab.errors import ValidationError
from eventlab.projections import browse as B
from eventlab.projections.reference import PythonFold
from eventlab.projections.view import ProjectionView, as_view
from eventlab.timeutil import PointInTime, to_utc
from eventlab.widgets._base import StatusMixin, chart_widget, reports_errors
from eventlab.widgets._table import FrameTable


class HistoryScrubber(StatusMixin, w.VBox):
    """Scrub a projection's state through valid time (slider, Play, date picker) and
    transaction time (the "known at" slider: what the store knew at a commit).

    At each point: the state table (``top`` rows a page; click a header or use ``sort_by`` to
    sort, the pager to page, ``filter`` to keep stream ids containing a text), headline
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

    Each step's outputs are one frozen :class:`~eventlab.projections.browse.ScrubStep`,
    ``now``; ``state``, ``window`` (events of the step), ``numbers`` (the headline numbers),
    ``events_so_far`` and ``events_in_step`` read it. ``rows`` is the page of the state table on
    screen, ``series`` the metrics over time.
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
        view = as_view(source, projection, name, default=B.streams_projection())
        self.view, self.store = view, view.store
        self.key = list(view.projection.key)
        self.top, self.window_rows, self.use_snapshots = top, window_rows, use_snapshots
        self.snapshots, self._snapshotted = snapshots, {self.store.head}
        if snapshots:
            view.build_snapshots(every=snapshots, progress=False)
        self.commits = B.commit_points(self.store)
        self.points = B.step_points(self.store, view.projection.stream_types, step, self.store.head)
        self._chart_points = chart_points
        self._syncing = False
        self._init_status()
        first = self._point_index(start) if start is not None else 0
        columns = self._fold(self.points[first], self._known_position(None))
        self.metrics = dict(metrics) if metrics else B.default_metrics(columns, self.key)
        self._build_controls(first, known_at, metric, sort_by, descending, interval, columns)
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
        sort_by: str | None, descending: bool, interval: int, state: pl.DataFrame,
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
        columns = state.columns
        names = list(self.metrics)
        _check_choice("sort_by", sort_by, columns)
        _check_choice("metric", metric, names)
        self.sort_by = w.Dropdown(options=columns, value=sort_by or self.key[0],
                                  description="sort by")
        self.descending = w.Checkbox(value=descending, description="descending", indent=False)
        self.filter = w.Text(value="", placeholder="stream id contains…", description="filter")
        self.metric = w.Dropdown(options=names, value=metric or _pick_metric(names),
                                 description="metric")
        self.numbers_html = w.HTML()
        self.table = FrameTable(key=self.key, page_rows=self.top, sort=self.sort_by.value,
                                descending=descending)
        self.window_table = FrameTable(page_rows=self.window_rows)

    def _layout(self) -> list[w.Widget]:
        return [
            w.HBox([self.play, self.slider, self.point_label]),
            w.HBox([self.date, self.known, self.known_label]),
            self.numbers_html,
            w.HBox([self.metric]),
            self.chart,
            w.HBox([self.sort_by, self.descending, self.filter]),
            self.table,
            self.window_table,
            self.status,
        ]

    def _wire(self) -> None:
        w.link((self.play, "value"), (self.slider, "value"))
        self.slider.observe(lambda c: self.step_to(c["new"]), names="value")
        self.date.observe(lambda c: self._jump(c["new"]), names="value")
        self.known.observe(lambda c: self._known_changed(), names="value")
        w.link((self.sort_by, "value"), (self.table, "sort"))  # a header click sorts too
        w.link((self.descending, "value"), (self.table, "descending"))
        self.filter.observe(lambda c: self._show_table(), names="value")
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
        chosen = B.spread(self.points, self._chart_points)
        return self.view.timeline(points=chosen, at_position=self.position, metrics=self.metrics)

    def _metric_chart(self) -> Any:
        chart = charts.metric_over_time(self.series, self.metric.value, at=self.point)
        return chart.properties(width=480, height=200)

    def _event_times(self) -> pl.Series:
        return B.event_times(self.store, self.view.projection.stream_types, self.position)

    # ----------------------------------------------------------------- the step's value
    @property
    def state(self) -> pl.DataFrame:
        """The projection's state at the current point (as known at the current commit)."""
        return self.now.state

    @property
    def window(self) -> pl.DataFrame:
        """The first events of the current step (after the previous point, up to this one)."""
        return self.now.window

    @property
    def numbers(self) -> dict[str, Any]:
        """The headline numbers: streams, events so far, the chosen metric."""
        return dict(self.now.numbers)

    @property
    def events_so_far(self) -> int:
        return self.now.events_so_far

    @property
    def events_in_step(self) -> int:
        return self.now.events_in_step

    # ----------------------------------------------------------------- updates
    @reports_errors
    def step_to(self, index: int) -> None:
        """Show the state at point ``index`` (what moving the slider does)."""
        if self.slider.value != index:
            self.slider.value = index  # observer calls back here
            return
        name = self.metric.value
        self.now = B.scrub_step(self.view, self.points, index, self.position, times=self._times,
                                metric=(name, self.metrics[name]), window_rows=self.window_rows,
                                use_snapshots=self.use_snapshots)
        self._show_point(self.now.at)
        self._show_numbers()
        self._show_table()
        self._show_window()

    def _show_point(self, at: datetime) -> None:
        self.point_label.value = f"<b>{render.value_text(at)}</b> UTC"
        self._syncing = True
        try:
            self.date.value = at
        finally:
            self._syncing = False
        setattr(self.chart.params, charts.CURSOR, charts.iso(at))  # moves the rule only

    def _show_numbers(self) -> None:
        self.numbers_html.value = render.numbers(self.now.numbers.items())

    @property
    def rows(self) -> pl.DataFrame:
        """The rows of the state table on screen (one page, sorted and filtered)."""
        return self.table.rows

    @reports_errors
    def _show_table(self) -> None:
        contains = self.filter.value
        matching = f", {contains!r} in the id" if contains else ""
        caption = f"state: {render.plural(self.state.height, 'row')} at this point{matching}"
        self.table.show(self.state, caption, contains=contains,
                        page=self.table.page if contains == self.table.contains else 0)

    def _show_window(self) -> None:
        previous = self.now.previous
        since = f"after {render.value_text(previous)}" if previous is not None \
            else "from the start"
        caption = f"{render.plural(self.events_in_step, 'event')} {since} up to this point"
        self.window_table.show(self.window, caption)

    def _jump(self, value: datetime | None) -> None:
        if self._syncing or value is None:
            return
        self.step_to(self._point_index(value))

    def _show_known(self) -> None:
        recorded = self.commits["recorded_at"][self.known.value] if self.commits.height else None
        self.known_label.value = (
            f"{render.value_text(recorded)} UTC · position {self.position:,}"
            if recorded is not None else "(empty store)"
        )

    def _snapshot_known(self) -> None:
        """Snapshots for the chosen commit's position (by default ``build_snapshots`` makes
        them at the store's head): each checkpoint folds on from the previous one."""
        position = self.position
        if not self.snapshots or not self.use_snapshots or position in self._snapshotted:
            return
        if isinstance(self.view.projection, PythonFold) or self._times.len() == 0:
            return
        self.view.build_snapshots(every=self.snapshots, at_position=position, progress=False)
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
        name = self.metric.value
        self.now = self.now.with_metric(name, self.metrics[name])
        self._show_numbers()


def _check_choice(name: str, value: str | None, valid: list[str]) -> None:
    if value is not None and value not in valid:
        raise ValidationError(f"{name}={value!r} is not one of {valid}.")


def _pick_metric(names: list[str]) -> str:
    totals = [n for n in names if n.startswith("total ")]
    return totals[0] if totals else names[0]

