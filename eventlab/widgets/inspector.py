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
from eventlab.projections.stream_history import (
    EVENT_COLUMNS,
    StreamHistory,
    check_stream_keyed,
    stream_history,
)
from eventlab.projections.view import as_view
from eventlab.widgets._base import StatusMixin, chart_widget, reports_errors
from eventlab.widgets._table import FrameTable

EMPTY = pl.DataFrame(schema={c: ENVELOPE[c] for c in ("stream_type", "stream_id", *EVENT_COLUMNS)})


class StreamInspector(StatusMixin, w.VBox):
    """Everything about one stream: a lifeline chart, its events with payload and, with a
    projection keyed by ``stream_id``, its state after each event and the field changes.

    Type another id in ``stream`` (or set ``inspector.stream.value``) to inspect another stream.
    What is shown is one frozen :class:`~eventlab.projections.stream_history.StreamHistory`,
    ``now``; ``events``, ``history`` and ``changes`` read it.
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
        self.view = None if projection is None else check_stream_keyed(
            as_view(store, projection, name))
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

    @property
    def events(self) -> pl.DataFrame:
        return self.now.events

    @property
    def history(self) -> pl.DataFrame:
        return self.now.history

    @property
    def changes(self) -> pl.DataFrame:
        return self.now.changes

    @reports_errors
    def show(self, stream_id: str) -> None:
        """Inspect ``stream_id`` (what typing an id does)."""
        if self.stream.value != stream_id:
            self.stream.value = stream_id  # observer calls back here
            return
        self._load(stream_id)

    def _load(self, stream_id: str) -> None:
        # a stream without events raises: the last good stream stays on screen
        self.now: StreamHistory = stream_history(self.store, stream_id, self.view,
                                                 self.stream_type)
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
