"""HTML for notebook-facing values. Each ``_repr_html_`` is a thin shell over a function here."""

from __future__ import annotations

from collections.abc import Iterable
from html import escape
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from eventlab.store.eventstore import AppendResult, EventStore
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
        ("path", info.path), ("events", info.events), ("streams", info.streams),
        ("stream types", len(info.stream_types)), ("event types", len(info.event_types)),
        ("first occurred", info.first_occurred_at), ("last occurred", info.last_occurred_at),
        ("last recorded", info.last_recorded_at), ("files", info.files),
        ("size", f"{info.bytes / 1e6:,.1f} MB"), ("commits", info.commits),
    ]
    types = f"<div><i>event types:</i> {top_counts(info.event_types)}</div>"
    return card("eventlab store", table(rows) + types)


def store_html(store: EventStore) -> str:
    return info_html(store.info())


def append_result_html(result: AppendResult) -> str:
    rows = [
        ("commit", result.commit), ("appended", result.appended),
        ("skipped (already stored)", result.skipped), ("streams", result.streams),
        ("positions", f"{result.first_position}–{result.last_position}"
         if result.appended else None),
        ("recorded at", result.recorded_at), ("files", result.files),
    ]
    return card("append", table(rows))
