"""HTML for notebook-facing values. Each ``_repr_html_`` is a thin shell over a function here."""

from __future__ import annotations

from collections.abc import Iterable
from html import escape
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from eventlab.store.append import AppendResult
    from eventlab.store.info import StoreInfo

STYLE = (
    "font-family:system-ui,sans-serif;font-size:13px;border:1px solid #d0d7de;"
    "border-radius:6px;padding:8px 12px;display:inline-block"
)


def fmt(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.4g}"
    if hasattr(value, "isoformat"):
        return escape(value.isoformat(sep=" ", timespec="seconds"))
    return escape("—" if value is None else str(value))


def table(rows: Iterable[tuple[str, Any]]) -> str:
    cells = "".join(
        f"<tr><th style='text-align:left;padding-right:12px'>{escape(k)}</th><td>{fmt(v)}</td></tr>"
        for k, v in rows
    )
    return f"<table>{cells}</table>"


def card(title: str, body: str) -> str:
    return f"<div style='{STYLE}'><b>{escape(title)}</b>{body}</div>"


def top_counts(counts: dict[str, int], limit: int = 8) -> str:
    items = list(counts.items())
    shown = ", ".join(f"{escape(k)} ({v:,})" for k, v in items[:limit])
    return shown + (f", … {len(items) - limit} more" if len(items) > limit else "")


def info_html(info: StoreInfo) -> str:
    rows = [
        ("path", info.path),
        ("events", info.events),
        ("streams", info.streams),
        ("stream types", len(info.stream_types)),
        ("event types", len(info.event_types)),
        ("first occurred", info.first_occurred_at),
        ("last occurred", info.last_occurred_at),
        ("last recorded", info.last_recorded_at),
        ("files", info.files),
        ("size", f"{info.bytes / 1e6:,.1f} MB"),
        ("commits", info.commits),
    ]
    types = f"<div><i>event types:</i> {top_counts(info.event_types)}</div>"
    return card("eventlab store", table(rows) + types)


def span_text(first: Any, last: Any) -> str:
    """A time span in the largest sensible unit ("3.2 years", "5 days", "40 minutes")."""
    if first is None or last is None:
        return "—"
    seconds = (last - first).total_seconds()
    for unit, size in (("years", 31_556_952), ("days", 86_400), ("hours", 3_600),
                       ("minutes", 60)):
        if seconds >= 2 * size:
            return f"{seconds / size:,.1f} {unit}"
    return f"{seconds:,.0f} seconds"


def store_html(info: StoreInfo, chart: str = "") -> str:
    """The store's overview card: counts, time span, event types, and the event rate chart
    (``chart``: an inline SVG, drawn by the caller)."""
    rows = [
        ("path", info.path),
        ("events", info.events),
        ("streams", info.streams),
        ("stream types", ", ".join(info.stream_types) or None),
        ("event types", len(info.event_types)),
        ("first occurred", info.first_occurred_at),
        ("last occurred", info.last_occurred_at),
        ("time span", span_text(info.first_occurred_at, info.last_occurred_at)),
        ("last recorded", info.last_recorded_at),
        ("commits", info.commits),
    ]
    types = f"<div><i>event types:</i> {top_counts(info.event_types)}</div>"
    figure = f"<div style='margin-top:6px'>{chart}</div>" if chart else ""
    return card("eventlab store", table(rows) + types + figure)


def append_result_html(result: AppendResult) -> str:
    rows = [
        ("commit", result.commit),
        ("appended", result.appended),
        ("skipped (already stored)", result.skipped),
        ("streams", result.streams),
        (
            "positions",
            f"{result.first_position}–{result.last_position}" if result.appended else None,
        ),
        ("recorded at", result.recorded_at),
        ("files", result.files),
    ]
    return card("append", table(rows))


def frame_html(frame: Any, rows: int = 10) -> str:
    """A small HTML table of the first rows of a Polars frame."""
    head = frame.head(rows)
    header = "".join(f"<th>{escape(str(c))}</th>" for c in head.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{fmt(v)}</td>" for v in row) + "</tr>" for row in head.iter_rows()
    )
    more = f"<div><i>… {frame.height - rows:,} more rows</i></div>" if frame.height > rows else ""
    return f"<table><tr>{header}</tr>{body}</table>{more}"


def diff_html(diff: Any) -> str:
    counts = table(
        [
            ("only in A", diff.only_in_a.height),
            ("only in B", diff.only_in_b.height),
            ("changed", diff.changed.height),
        ]
    )
    per_column = table(
        (r["column"], r["mismatches"])
        for r in diff.mismatches.iter_rows(named=True)
        if r["mismatches"]
    )
    body = counts + (f"<div><i>mismatches per column</i>{per_column}</div>" if per_column else "")
    if diff.changed.height:
        body += frame_html(diff.changed, 5)
    return card("read models are equal" if diff.equal else "read models differ", body)


def changes_html(changes: Any) -> str:
    title = f"changes on {changes.axis}: {fmt(changes.start)} → {fmt(changes.end)}"
    counts = table(changes.summary().items())
    detail = frame_html(changes.long(), 10) if changes.changed.height else ""
    return card(title, counts + detail)


def read_model_html(model: Any) -> str:
    rows = [
        ("path", str(model.path)),
        ("projection", model.projection),
        ("rows", model.rows),
        ("events folded", model.event_count),
        ("high-water position", model.high_water_position),
        ("built at", model.built_at),
        ("spec hash", model.spec_hash[:16]),
    ]
    return card("read model", table(rows))


def projection_html(view: Any) -> str:
    projection = view.projection
    fields = getattr(projection, "fields", {})
    rows = [
        ("name", projection.name),
        ("key", ", ".join(projection.key)),
        ("stream types", ", ".join(projection.stream_types or ["*"])),
        ("fields", ", ".join(f"{n} ({r.kind})" for n, r in fields.items()) or "python fold"),
        ("store", str(view.store.root)),
        ("store head", view.store.head),
    ]
    return card("projection", table(rows))
