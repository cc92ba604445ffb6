"""``store.info()``: a summary of what a store holds, as an immutable value."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import polars as pl

if TYPE_CHECKING:
    from eventlab.store.core import StoreCore


@dataclass(frozen=True)
class StoreInfo:
    path: str
    events: int
    streams: int
    stream_types: dict[str, int]
    event_types: dict[str, int]
    first_occurred_at: datetime | None
    last_occurred_at: datetime | None
    last_recorded_at: datetime | None
    files: int
    bytes: int
    commits: int
    head_hash: str

    def __repr__(self) -> str:
        return (f"StoreInfo({self.path!r}, events={self.events:,}, streams={self.streams:,}, "
                f"stream_types={len(self.stream_types)}, event_types={len(self.event_types)}, "
                f"commits={self.commits:,})")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (datetimes as ISO 8601 strings)."""
        data = asdict(self)
        for key, value in data.items():
            if isinstance(value, datetime):
                data[key] = value.isoformat()
        return data

    def _repr_html_(self) -> str:
        from eventlab.store.cards import info_html

        return info_html(self)


def compute_info(store: StoreCore) -> StoreInfo:
    frame = store.scan().select("stream_type", "stream_id", "event_type", "occurred_at")
    by_type = (
        frame.group_by("stream_type", "event_type").agg(pl.len().alias("n"))
        .collect().sort("n", "stream_type", "event_type", descending=[True, False, False])
    )
    totals = frame.select(
        pl.struct("stream_type", "stream_id").n_unique().alias("streams"),
        pl.col("occurred_at").min().alias("first"),
        pl.col("occurred_at").max().alias("last"),
    ).collect().row(0, named=True)
    stream_types = by_type.group_by("stream_type").agg(pl.col("n").sum()).sort("stream_type")
    event_types = by_type.group_by("event_type").agg(pl.col("n").sum()).sort(
        "n", "event_type", descending=[True, False]
    )
    state = store.log_state
    return StoreInfo(
        path=str(store.root),
        events=int(by_type["n"].sum()),
        streams=int(totals["streams"] or 0),
        stream_types=dict(stream_types.iter_rows()),
        event_types=dict(event_types.iter_rows()),
        first_occurred_at=totals["first"],
        last_occurred_at=totals["last"],
        last_recorded_at=datetime.fromisoformat(state.recorded_at) if state.recorded_at else None,
        files=len(state.files),
        bytes=sum(f.bytes for f in state.files.values()),
        commits=state.commit,
        head_hash=state.head_hash,
    )
