"""The store's notebook cards (``_repr_html_``): plain data handed to :mod:`eventlab.render`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import eventlab.render as render

if TYPE_CHECKING:
    from eventlab.store.append import AppendResult
    from eventlab.store.info import StoreInfo


def info_fields(info: StoreInfo) -> list[tuple[str, Any]]:
    return [
        ("path", info.path),
        ("events", info.events),
        ("streams", info.streams),
        ("stream types", ", ".join(info.stream_types) or None),
        ("event types", len(info.event_types)),
        ("first occurred", info.first_occurred_at),
        ("last occurred", info.last_occurred_at),
        ("time span", render.span_text(info.first_occurred_at, info.last_occurred_at)),
        ("last recorded", info.last_recorded_at),
        ("files", info.files),
        ("size", f"{info.bytes / 1e6:,.1f} MB"),
        ("commits", info.commits),
    ]


def info_html(info: StoreInfo, chart_svg: str = "") -> str:
    """The store's overview card: counts, time span, event types and (when given) the event
    rate chart as an inline SVG."""
    types = render.note("event types: " + render.counts_text(info.event_types))
    return render.card("eventlab store", render.fields(info_fields(info)), types,
                       render.figure(chart_svg))


def append_result_html(result: AppendResult) -> str:
    positions = f"{result.first_position:,}–{result.last_position:,}" if result.appended \
        else None
    rows = [
        ("commit", result.commit),
        ("appended", result.appended),
        ("skipped (already stored)", result.skipped),
        ("streams", result.streams),
        ("positions", positions),
        ("recorded at", result.recorded_at),
        ("files", result.files),
    ]
    return render.card("append", render.fields(rows))
