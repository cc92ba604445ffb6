"""ProcessScrubber: the process map, variants and headline numbers through time.

A thin view over :mod:`eventlab.process`: the selected events are read and sorted once (a
:class:`~eventlab.process.ProcessLog`, re-read when the "known at" slider picks another
commit); each step is ``directly_follows(log, at=T)`` and ``variants(log, at=T)``, filters on
the sorted log in memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import ipywidgets as w
import polars as pl

from eventlab import charts, process, render
from eventlab.api import EventStore
from eventlab.charts import process as process_charts
from eventlab.errors import OptionalDependencyError, ValidationError
from eventlab.projections import browse as B
from eventlab.projections.view import ProjectionView
from eventlab.store.core import StoreCore
from eventlab.timeutil import PointInTime
from eventlab.widgets._base import StatusMixin, chart_widget, reports_errors


def _drawing(backend: str) -> str:
    """"graphviz" when the map can be drawn as SVG here, else "altair"."""
    if backend not in ("auto", "graphviz", "altair"):
        raise ValidationError(f"backend={backend!r} is not valid; use 'auto', 'graphviz' or "
                              "'altair'.")
    if backend == "altair":
        return "altair"
    try:
        process_charts.process_svg(
            pl.DataFrame(schema={"stream_type": pl.String, "source": pl.String,
                                 "target": pl.String, "count": pl.Int64,
                                 **dict.fromkeys(process_charts.METRICS[1:], pl.Duration("us"))}))
    except OptionalDependencyError:
        if backend == "graphviz":
            raise
        return "altair"
    return "graphviz"


class ProcessScrubber(StatusMixin, w.VBox):
    """Scrub a process through valid time (slider, Play) and transaction time ("known at").

    At each point ``T``: the directly-follows map of the events that occurred up to ``T``
    (Graphviz SVG when the ``graph`` extra and Graphviz's ``dot`` are installed, else an Altair
    adjacency matrix), the ``top`` variants, and headline numbers. Frames behind the outputs:
    ``dfg`` (:func:`eventlab.process.directly_follows`), ``variants``; ``numbers`` is a dict.

    ``step``: "event", "hour", "day", "week", "month", a Polars interval, or a list of points.
    """

    def __init__(
        self, source: EventStore | ProjectionView, *, stream_types: Sequence[str] | str |
        None = None, step: str | Sequence[PointInTime] = "week", where: pl.Expr | None = None,
        top: int = 10, edges: int | None = 40, backend: str = "auto", interval: int = 500,
        offline: bool = True,
    ) -> None:
        self.store, self.stream_types = _store_and_types(source, stream_types)
        self.where, self.top, self.edges = where, top, edges
        self.backend = _drawing(backend)
        self.commits = B.commit_points(self.store)
        self.points = B.step_points(self.store, _types(self.stream_types), step, self.store.head)
        self.process_log = process.read_log(self.store, stream_types=self.stream_types,
                                            where=where)
        self._init_status()
        last = self.points.len() - 1
        self.slider = w.IntSlider(value=last, min=0, max=last, readout=False,
                                  layout=w.Layout(width="420px"))
        self.play = w.Play(value=last, min=0, max=last, interval=interval)
        self.known = w.IntSlider(value=max(0, self.commits.height - 1), min=0,
                                 max=max(0, self.commits.height - 1), readout=False,
                                 description="known at")
        self.point_label, self.known_label = w.HTML(), w.HTML()
        self.numbers_html, self.variants_html, self.map_html = w.HTML(), w.HTML(), w.HTML()
        self._compute(self.points[last])
        self.chart = chart_widget(self._matrix(), offline) if self.backend == "altair" else None
        super().__init__(children=self._layout())
        w.link((self.play, "value"), (self.slider, "value"))
        self.slider.observe(lambda c: self.step_to(c["new"]), names="value")
        self.known.observe(lambda c: self._known_changed(), names="value")
        self._show()

    def _layout(self) -> list[w.Widget]:
        drawing = self.chart if self.chart is not None else self.map_html
        return [w.HBox([self.play, self.slider, self.point_label]),
                w.HBox([self.known, self.known_label]), self.numbers_html, drawing,
                self.variants_html, self.status]

    @property
    def point(self) -> datetime:
        point: datetime = self.points[self.slider.value]
        return point

    def _compute(self, at: datetime) -> None:
        self.dfg = process.directly_follows(self.process_log, at=at)
        self.variants = process.variants(self.process_log, at=at, top=self.top)
        inner = self.dfg.filter((pl.col("source") != process.START)
                                & (pl.col("target") != process.END))
        streams = int(self.variants["streams"].sum())
        self.numbers = {
            "streams": streams,
            "events": streams + int(inner["count"].sum()),  # a stream of n events has n-1 edges
            "variants": int(self.variants["variants"].sum()),
            "edges": inner.height,
        }

    def _matrix(self) -> Any:
        return process_charts.follows_matrix(self.dfg, top=self.edges).properties(
            width=420, height=420)

    @reports_errors
    def step_to(self, index: int) -> None:
        """Show the process up to point ``index`` (what moving the slider does)."""
        if self.slider.value != index:
            self.slider.value = index  # the observer calls back here
            return
        self._compute(self.points[index])
        self._show()

    def _show(self) -> None:
        self.point_label.value = f"<b>{charts.iso(self.point)[:19].replace('T', ' ')}</b> UTC"
        recorded = self.commits["recorded_at"][self.known.value] if self.commits.height else None
        position = self.process_log.position
        self.known_label.value = "(empty store)" if recorded is None else \
            f"{charts.iso(recorded)[:19].replace('T', ' ')} UTC · position {position:,}"
        self.numbers_html.value = render.numbers(self.numbers.items())
        shown = self.variants.with_columns(pl.col("variant").list.join(" → "),
                                           (pl.col("share") * 100).round(1).alias("percent"))
        self.variants_html.value = render.section(
            "variants", render.table(shown.select("variant", "streams", "percent"),
                                     rows=self.top + 1))
        if self.chart is not None:
            self.chart.chart = self._matrix()
        else:
            self.map_html.value = process_charts.process_svg(self.dfg, top=self.edges)

    @reports_errors
    def _known_changed(self) -> None:
        known_at = self.commits["recorded_at"][self.known.value]
        self.process_log = process.read_log(self.store, stream_types=self.stream_types,
                                    known_at=known_at, where=self.where)
        self._compute(self.point)
        self._show()


def _types(value: Sequence[str] | str | None) -> list[str] | None:
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)


def _store_and_types(
    source: EventStore | ProjectionView, stream_types: Sequence[str] | str | None
) -> tuple[StoreCore, Sequence[str] | str | None]:
    if isinstance(source, ProjectionView):
        return source.store, stream_types or source.projection.stream_types
    if isinstance(source, EventStore):
        return source, stream_types
    raise ValidationError(
        f"expected an EventStore or a ProjectionView (store.project(...)), got "
        f"{type(source).__name__}."
    )
