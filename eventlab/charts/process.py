"""Charts of process analytics (:mod:`eventlab.process` frames in, charts out; pure builders).

* :func:`process_map` - the directly-follows graph as a Graphviz ``Digraph`` (DOT source,
  drawn to SVG offline by Graphviz's ``dot``; the ``graph`` extra), or, without the
  ``graphviz`` package, :func:`follows_matrix`: an Altair adjacency matrix.
* :func:`variants_chart` - the most frequent variants as bars.
* :func:`time_in_state_chart` - box plots of the time streams spent in each status.

Everything is aggregated in Polars first: a chart embeds one row per edge, variant or status.
"""

from __future__ import annotations

import importlib.util
import shutil
from typing import Any

import polars as pl

from eventlab.charts import MAX_ROWS, _alt, _check_rows, embeddable
from eventlab.errors import InvalidArgumentError, OptionalDependencyError, require

START, END = "▶ start", "■ end"  # as eventlab.process.START / END (charts sit above process)
ARROW = " → "
METRICS = ("count", "median_duration", "mean_duration", "p95_duration")
HOURS = 3_600_000_000  # microseconds


def _frame(value: Any, name: str, needed: tuple[str, ...], hint: str) -> pl.DataFrame:
    if not isinstance(value, pl.DataFrame):
        raise InvalidArgumentError(name, type(value).__name__, "it takes a Polars DataFrame", hint)
    missing = [c for c in needed if c not in value.columns]
    if missing:
        raise InvalidArgumentError(name, f"a frame with {value.columns}",
                                   f"it needs the columns {list(needed)}", hint)
    return value


def _dfg(dfg: Any, top: int | None) -> pl.DataFrame:
    frame = _frame(dfg, "dfg", ("stream_type", "source", "target", *METRICS),
                   "pass eventlab.process.directly_follows(store)")
    if top is not None:
        frame = frame.sort("count", descending=True).head(top)
    return frame


def _label(frame: pl.DataFrame) -> tuple[pl.Expr, pl.Expr]:
    """Node names, prefixed by the stream type when there are several."""
    if frame["stream_type"].n_unique() <= 1:
        return pl.col("source"), pl.col("target")
    return tuple(  # type: ignore[return-value]
        pl.concat_str("stream_type", pl.lit(": "), pl.col(c)) for c in ("source", "target")
    )


def _hours(column: str) -> pl.Expr:
    return (pl.col(column).dt.total_microseconds() / HOURS).round(2)


def edge_table(dfg: Any, top: int | None = None) -> pl.DataFrame:
    """The edges a process map draws: ``source``, ``target`` (node names), ``count`` and the
    ``median_hours`` / ``mean_hours`` / ``p95_hours`` between the two events."""
    frame = _dfg(dfg, top)
    source, target = _label(frame)
    return frame.select(
        source.alias("source"), target.alias("target"), "count",
        _hours("median_duration").alias("median_hours"),
        _hours("mean_duration").alias("mean_hours"), _hours("p95_duration").alias("p95_hours"),
    ).sort(["count", "source", "target"], descending=[True, False, False])


def _edge_text(count: int, median: float | None) -> str:
    return f"{count:,}" if median is None else f"{count:,}\n{median:,.1f} h"


def process_dot(dfg: Any, *, top: int | None = None, title: str | None = None) -> Any:
    """The directly-follows graph as a ``graphviz.Digraph`` (``.source`` is the DOT text,
    ``.pipe(format="svg")`` draws it with Graphviz's ``dot``). Edge labels: transitions and
    median hours; edge width grows with the count. Needs ``pip install "eventlab[graph]"``."""
    graphviz = require("graphviz", "graph")
    edges = edge_table(dfg, top)
    graph = graphviz.Digraph("process", graph_attr={"rankdir": "LR", "label": title or ""},
                             node_attr={"shape": "box", "style": "rounded,filled",
                                        "fillcolor": "#eef3fb", "fontname": "Helvetica"})
    nodes = pl.concat([edges["source"], edges["target"]]).unique(maintain_order=True)
    for node in nodes.to_list():
        shape = {"shape": "circle", "label": node[0]} if node in (START, END) else {}
        graph.node(node, **shape)
    heaviest = max(edges["count"].max() or 1, 1)
    for row in edges.iter_rows(named=True):
        width = 1 + 4 * row["count"] / heaviest
        graph.edge(row["source"], row["target"], label=_edge_text(row["count"],
                                                                  row["median_hours"]),
                   penwidth=f"{width:.2f}")
    return graph


def process_svg(dfg: Any, *, top: int | None = None, title: str | None = None) -> str:
    """The process map drawn as SVG by Graphviz's ``dot`` (offline)."""
    if shutil.which("dot") is None:
        raise OptionalDependencyError(
            "drawing the process map as SVG needs Graphviz's `dot` program, which is not on "
            "PATH. Install it (Debian/Ubuntu: apt-get install graphviz; macOS: brew install "
            "graphviz), or use process_dot(...).source / follows_matrix(...)."
        )
    return str(process_dot(dfg, top=top, title=title).pipe(format="svg", encoding="utf-8"))


def follows_matrix(dfg: Any, *, top: int | None = None, metric: str = "count") -> Any:
    """An Altair adjacency matrix of the directly-follows graph: a cell per (source, target),
    coloured by ``metric`` (``count`` or ``median_duration``/``mean_duration``/``p95_duration``,
    shown in hours), labelled with the count."""
    if metric not in METRICS:
        raise InvalidArgumentError("metric", metric, f"metric is one of {list(METRICS)}")
    alt = _alt()
    edges = edge_table(dfg, top)
    _check_rows(edges.height, "follows_matrix", "pass top= to draw fewer edges")
    field = "count" if metric == "count" else metric.replace("_duration", "_hours")
    order = pl.concat([edges["source"], edges["target"]]).unique(maintain_order=True).to_list()
    base = alt.Chart(embeddable(edges), title="directly follows")
    cells = base.mark_rect().encode(
        x=alt.X("target:N", sort=order, title="next event type"),
        y=alt.Y("source:N", sort=order, title="event type"),
        color=alt.Color(f"{field}:Q", scale=alt.Scale(scheme="blues"),
                        title=field.replace("_", " ")),
        tooltip=["source:N", "target:N", "count:Q", "median_hours:Q", "mean_hours:Q",
                 "p95_hours:Q"],
    )
    text = base.mark_text(fontSize=10).encode(x=alt.X("target:N", sort=order),
                                              y=alt.Y("source:N", sort=order), text="count:Q")
    return alt.layer(cells, text)


def graphviz_available() -> bool:
    """The ``graphviz`` package and Graphviz's ``dot`` (which notebooks call to show a graph)."""
    return importlib.util.find_spec("graphviz") is not None and shutil.which("dot") is not None


def process_map(dfg: Any, *, top: int | None = None, backend: str = "auto") -> Any:
    """The process map: a Graphviz ``Digraph`` (``backend="graphviz"``, or ``"auto"`` when the
    ``graphviz`` package and Graphviz's ``dot`` are installed) or the Altair adjacency matrix
    (``"altair"``, or ``"auto"`` without them)."""
    if backend not in ("auto", "graphviz", "altair"):
        raise InvalidArgumentError("backend", backend, "backend is 'auto', 'graphviz' or 'altair'")
    if backend == "graphviz" or (backend == "auto" and graphviz_available()):
        return process_dot(dfg, top=top)
    return follows_matrix(dfg, top=top)


def _variant_rows(variants: Any, top: int) -> pl.DataFrame:
    frame = _frame(variants, "variants", ("variant", "streams", "share"),
                   "pass eventlab.process.variants(store)")
    label = pl.when(pl.col("variant").is_null()).then(pl.lit("(other variants)")).otherwise(
        pl.col("variant").list.join(ARROW))
    kept = frame.head(min(top, MAX_ROWS)).with_columns(label.alias("label"))
    return kept.select(
        pl.int_range(1, pl.len() + 1).alias("rank"),
        "label",
        "streams", (pl.col("share") * 100).round(2).alias("percent"),
    )


def variants_chart(variants: Any, *, top: int = 15) -> Any:
    """Horizontal bars: streams per variant (the ``top`` first rows of a variants frame)."""
    alt = _alt()
    data = _variant_rows(variants, top)
    short = pl.col("label").str.slice(0, 90)
    data = data.with_columns(
        pl.concat_str(pl.col("rank").cast(pl.String), pl.lit(". "), short).alias("variant"))
    return alt.Chart(embeddable(data), title="variants").mark_bar().encode(
        x=alt.X("streams:Q", title="streams"),
        y=alt.Y("variant:N", sort=data["variant"].to_list(), title=None),
        tooltip=["rank:Q", "label:N", "streams:Q", "percent:Q"],
    )


def box_stats(per_stream: Any) -> pl.DataFrame:
    """Per status the five numbers of a box plot of ``time`` (in hours): ``low``, ``q1``,
    ``median``, ``q3``, ``high`` (the most extreme values within 1.5 IQR), ``streams``."""
    frame = _frame(per_stream, "time_in_state", ("status", "time"),
                   "pass eventlab.process.time_in_state(store, status=...)")
    hours = pl.col("time").dt.total_microseconds() / HOURS
    quartiles = frame.group_by("status").agg(
        hours.quantile(0.25, "linear").alias("q1"), hours.median().alias("median"),
        hours.quantile(0.75, "linear").alias("q3"), pl.len().alias("streams"),
        hours.min().alias("_min"), hours.max().alias("_max"),
    )
    reach = 1.5 * (pl.col("q3") - pl.col("q1"))
    return quartiles.select(
        "status", "streams", pl.max_horizontal("_min", pl.col("q1") - reach).alias("low"),
        "q1", "median", "q3", pl.min_horizontal("_max", pl.col("q3") + reach).alias("high"),
    ).sort("status")


def time_in_state_chart(per_stream: Any) -> Any:
    """Box plots of the hours streams spent in each status (from :func:`box_stats`)."""
    alt = _alt()
    data = box_stats(per_stream)
    base = alt.Chart(embeddable(data), title="time in state (hours)")
    y = alt.Y("status:N", title="status")
    tooltip = ["status:N", "streams:Q", "low:Q", "q1:Q", "median:Q", "q3:Q", "high:Q"]
    whisker = base.mark_rule().encode(x=alt.X("low:Q", title="hours"), x2="high:Q", y=y)
    box = base.mark_bar(size=14, color="#9ecae1").encode(x="q1:Q", x2="q3:Q", y=y,
                                                          tooltip=tooltip)
    middle = base.mark_tick(color="#08306b", size=14, thickness=2).encode(x="median:Q", y=y)
    return alt.layer(whisker, box, middle)
