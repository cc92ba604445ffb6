"""ReadModelCompare: two read models side by side (``eventlab.diff_frames``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ipywidgets as w
import polars as pl

from eventlab import charts, render
from eventlab.api import EventStore
from eventlab.errors import ValidationError
from eventlab.projections import read_models as M
from eventlab.projections.browse import stream_column
from eventlab.projections.diff import diff_frames
from eventlab.projections.view import ProjectionView, as_view
from eventlab.widgets._base import StatusMixin, chart_widget, reports_errors
from eventlab.widgets._table import FrameTable
from eventlab.widgets.inspector import StreamInspector

ANY_COLUMN = "(any column)"
KINDS = M.KINDS  # values of ``kind`` (keys of Diff.summary())
MAX_CHOICES = 500  # rows offered in the row picker


class ReadModelCompare(StatusMixin, w.VBox):
    """Compare read models ``a`` and ``b`` (DataFrames, LazyFrames, ProjectionViews - their
    current state - ReadModel exports, or Parquet/CSV paths) on ``key``.

    Shows the only-in-A / only-in-B / changed counts, mismatches per column (a bar chart), and
    the differing rows with both values (``<col>_a`` / ``<col>_b``). Choosing a row (``pick``,
    or :meth:`select_row`) opens that stream's :class:`StreamInspector` when ``store`` is given,
    else the row's values side by side. What is shown is one frozen
    :class:`~eventlab.projections.read_models.Selection`, ``now`` (``rows``, ``detail``);
    ``a``, ``b`` and ``diff`` are the inputs.
    """

    def __init__(
        self,
        a: Any,
        b: Any,
        key: str | Sequence[str] | None = None,
        *,
        store: EventStore | None = None,
        projection: Any = None,
        name: str | None = None,
        labels: tuple[str, str] = ("A", "B"),
        columns: Sequence[str] | None = None,
        tolerance: float = 0.0,
        rows: int = 20,
        offline: bool = True,
    ) -> None:
        self.a, self.b = M.read_model(a, labels[0]), M.read_model(b, labels[1])
        keys = [key] if isinstance(key, str) else list(key) if key else M.pick_key(
            [self.a, self.b], [a, b])
        self.diff = diff_frames(self.a, self.b, keys, columns=columns, tolerance=tolerance)
        self.key, self.labels, self.max_rows = keys, labels, rows
        self.store = store
        self.projection = _inspector_projection(store, projection, name, (a, b))
        self.inspector: StreamInspector | None = None
        self._refilling = False
        self._init_status()
        self.counts_html = w.HTML(self._counts())
        self.chart = chart_widget(charts.diff_bars(self.diff, labels=labels), offline)
        kinds = ["changed", f"only in {labels[0]}", f"only in {labels[1]}"]
        self.kind = w.ToggleButtons(options=list(zip(kinds, KINDS, strict=True)), value=KINDS[0])
        differing = self.diff.mismatches.filter(pl.col("mismatches") > 0)["column"].to_list()
        self.column = w.Dropdown(options=[ANY_COLUMN, *differing], value=ANY_COLUMN,
                                 description="column")
        self.table = FrameTable(key=self.key, page_rows=rows)
        self.pick = w.Dropdown(options=[], value=None, description="open row")
        self.detail_box = w.VBox()
        super().__init__(children=[
            self.counts_html, self.chart, w.HBox([self.kind, self.column]), self.table,
            self.pick, self.detail_box, self.status,
        ])
        self.kind.observe(lambda c: self._show_rows(), names="value")
        self.column.observe(lambda c: self._show_rows(), names="value")
        self.pick.observe(lambda c: self._open(c["new"]), names="value")
        self._show_rows()

    @property
    def rows(self) -> pl.DataFrame:
        """The differing rows of the kind (and column) chosen."""
        return self.now.rows

    @property
    def detail(self) -> pl.DataFrame:
        """The row opened: both values per column, or the stream's events with a store."""
        return self.now.detail

    def _counts(self) -> str:
        a, b = self.labels
        counts = self.diff.summary()
        return render.fields([
            (f"only in {a}", counts["only_in_a"]), (f"only in {b}", counts["only_in_b"]),
            ("changed", counts["changed"]), ("compared columns", len(self.diff.columns)),
            ("key", ", ".join(self.key)),
        ])

    # ----------------------------------------------------------------- rows
    @reports_errors
    def _show_rows(self) -> None:
        column = None if self.column.value == ANY_COLUMN else self.column.value
        self.now = M.select_rows(self.diff, self.kind.value, column)
        caption = f"{render.plural(self.rows.height, 'row')} ({self.kind.label})"
        self.table.show(self.rows, caption)
        labels = [
            ", ".join(str(v) for v in row) for row in
            self.rows.head(MAX_CHOICES).select(self.key).iter_rows()
        ]
        self._refilling = True
        try:
            self.pick.options = [(label, i) for i, label in enumerate(labels)]
            self.pick.value = None
        finally:
            self._refilling = False

    def select_row(self, index: int) -> None:
        """Open the ``index``-th row of the table shown (what choosing it in ``pick`` does)."""
        if not 0 <= index < min(self.rows.height, MAX_CHOICES):
            raise ValidationError(
                f"row {index} is not shown; the table has {self.rows.height} rows "
                f"(the first {MAX_CHOICES} can be opened)."
            )
        self.pick.value = index

    @reports_errors
    def _open(self, index: int | None) -> None:
        if index is None or self._refilling:
            return
        if self.store is not None:
            self._open_stream(self.rows.slice(index, 1))
            return
        self.now = M.open_row(self.diff, self.now, index)
        self.detail_box.children = [FrameTable(self.detail, page_rows=len(self.diff.columns) + 1)]

    def _open_stream(self, row: pl.DataFrame) -> None:
        assert self.store is not None
        stream_id = str(row[stream_column(self.key)][0])
        stream_type = str(row["stream_type"][0]) if "stream_type" in self.key else None
        if self.inspector is None:
            self.inspector = StreamInspector(self.store, stream_id, self.projection,
                                             stream_type=stream_type)
        else:
            self.inspector.stream_type = stream_type
            self.inspector.show(stream_id)
        self.now = M.Selection(self.now.kind, self.now.column, self.rows, self.inspector.events)
        self.detail_box.children = [self.inspector]


def _inspector_projection(
    store: EventStore | None, projection: Any, name: str | None, sources: Sequence[Any]
) -> ProjectionView | None:
    """The projection the row's stream is inspected with: the one given, or a compared
    ProjectionView that is keyed by stream_id."""
    if store is None:
        return None
    if projection is not None:
        return as_view(store, projection, name)
    for source in sources:
        if isinstance(source, ProjectionView) and tuple(source.projection.key) == ("stream_id",):
            return source
    return None
