"""StreamInspector: one stream's lifeline, its events, its state after each event, and which
event changed which field."""

from __future__ import annotations

from typing import Any

import ipywidgets as w
import polars as pl

from eventlab import charts
from eventlab.api import EventStore
from eventlab.envelope import ENVELOPE
from eventlab.errors import ValidationError
from eventlab.projections.view import ProjectionView
from eventlab.widgets import _frames as F
from eventlab.widgets._base import StatusMixin, chart_widget, reports_errors
from eventlab.widgets._table import FrameTable

EVENT_COLUMNS = ("position", "version", "event_type", "occurred_at", "recorded_at", "actor")
EMPTY = pl.DataFrame(schema={c: ENVELOPE[c] for c in ("stream_type", "stream_id", *EVENT_COLUMNS)})
META = ("event_id", "stream_type", *EVENT_COLUMNS)


def stream_events(store: EventStore, stream_id: str, stream_type: str | None) -> pl.DataFrame:
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


class StreamInspector(StatusMixin, w.VBox):
    """Everything about one stream: a lifeline chart, its events with payload and, with a
    projection keyed by ``stream_id``, its state after each event and the field changes.

    Type another id in ``stream`` (or set ``inspector.stream.value``) to inspect another stream.
    Frames behind the outputs: ``events``, ``history``, ``changes``.
    """

    def __init__(
        self,
        store: EventStore,
        stream_id: str,
        projection: Any = None,
        *,
        name: str | None = None,
        stream_type: str | None = None,
        rows: int = 50,
        offline: bool = True,
    ) -> None:
        if not isinstance(store, EventStore):
            raise ValidationError(
                f"StreamInspector needs an EventStore, got {type(store).__name__}."
            )
        self.store, self.stream_type, self.rows = store, stream_type, rows
        self.view = _stream_view(store, projection, name)
        self._init_status()
        self.stream = w.Text(value=str(stream_id), description="stream", continuous_update=False)
        self.events_table = FrameTable(page_rows=rows)
        self.history_table = FrameTable(page_rows=rows)
        self.changes_table = FrameTable(page_rows=rows)
        self.chart = chart_widget(charts.lifeline(EMPTY), offline)
        tabs = [self.events_table, self.history_table, self.changes_table]
        self.tabs = w.Tab(children=tabs, titles=("events", "state after each event",
                                                  "field changes"))
        super().__init__(children=[self.stream, self.chart, self.tabs, self.status])
        self._load(str(stream_id))  # a wrong id raises here; later ones go to the status line
        self.stream.observe(lambda c: self.show(c["new"]), names="value")

    @reports_errors
    def show(self, stream_id: str) -> None:
        """Inspect ``stream_id`` (what typing an id does)."""
        if self.stream.value != stream_id:
            self.stream.value = stream_id  # observer calls back here
            return
        self._load(stream_id)

    def _load(self, stream_id: str) -> None:
        events = stream_events(self.store, stream_id, self.stream_type)
        if events.height == 0:  # keep showing the last good stream
            raise ValidationError(
                f"no events for stream {stream_id!r}"
                + (f" of type {self.stream_type!r}" if self.stream_type else "")
                + ". Hint: store.info() lists stream types; ids are case-sensitive."
            )
        self.events = events
        self.history, self.changes = self._history(stream_id)
        self.chart.chart = charts.lifeline(self.events)
        self.events_table.show(self.events, f"{self.events.height:,} events")
        if self.view is None:
            hint = "pass projection= to see the state after each event"
            self.history_table.show(self.history, hint)
            self.changes_table.show(self.changes, hint)
            return
        self.history_table.show(self.history, f"state after each of {self.history.height:,} "
                                "events")
        self.changes_table.show(self.changes, f"{self.changes.height:,} field changes")

    def _history(self, stream_id: str) -> tuple[pl.DataFrame, pl.DataFrame]:
        if self.view is None:
            return pl.DataFrame(), pl.DataFrame()
        history = self.view.history(keys=[stream_id])
        if self.stream_type is not None and "stream_type" not in self.view.projection.key:
            history = history.join(
                self.events.select("position"), on="position", how="semi"
            )
        key = list(self.view.projection.key)
        fields = [c for c in history.columns if c not in (*key, *META)]
        return history, F.field_changes(history, key, fields)


def _stream_view(store: EventStore, projection: Any, name: str | None) -> ProjectionView | None:
    if projection is None:
        return None
    view = projection if isinstance(projection, ProjectionView) else store.project(projection, name)
    if tuple(view.projection.key) != ("stream_id",):
        raise ValidationError(
            f"StreamInspector shows per-stream history, so the projection must be keyed by "
            f"stream_id; {view.projection.name!r} is keyed by {list(view.projection.key)}. "
            "Hint: inspect with a stream-keyed projection (key = \"stream_id\")."
        )
    return view
