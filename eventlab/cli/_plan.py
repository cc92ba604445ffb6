"""How big a job is before it starts: the number of checkpoints ``--every`` makes over a span.

``snapshot --every 1s`` over 13 years would write 410 million files and a timeline of it would
hold as many rows; both are refused above a limit unless the user passes ``--force``. The
count is estimated from the span and the interval's length (calendar units at their shortest:
a month as 28 days), so it never under-counts and costs nothing to compute.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import polars as pl

from eventlab.errors import InvalidArgumentError, InvalidIntervalError

#: snapshot files one command writes without --force
MAX_SNAPSHOTS = 1_000
#: points of a timeline without --force
MAX_POINTS = 10_000
_UNIT_SECONDS = {
    "ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3_600.0, "d": 86_400.0,
    "w": 604_800.0, "mo": 28 * 86_400.0, "q": 89 * 86_400.0, "y": 365 * 86_400.0,
}
_PART = re.compile(r"(\d+)(ns|us|ms|mo|[smhdwqy])")


def interval_seconds(every: str, name: str = "--every") -> float:
    """The shortest length of ``every`` ("1mo", "1d12h") in seconds; invalid -> an error."""
    text = every.strip() if isinstance(every, str) else ""
    parts = _PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise InvalidIntervalError(every, name=name)
    total = sum(int(n) * _UNIT_SECONDS[u] for n, u in parts)
    if total <= 0:
        raise InvalidIntervalError(every, name=name)
    return total


def estimate_points(start: datetime | None, end: datetime | None, every: str) -> int:
    """At most how many checkpoints ``every`` apart lie from ``start`` to ``end`` (both in)."""
    step = interval_seconds(every)
    if start is None or end is None:
        return 0
    return int(max(0.0, (end - start).total_seconds()) // step) + 2


def span(frame: pl.LazyFrame) -> tuple[datetime | None, datetime | None]:
    """Earliest and latest ``occurred_at`` of a scan."""
    row = frame.select(
        pl.col("occurred_at").min().alias("lo"), pl.col("occurred_at").max().alias("hi")
    ).collect()
    return row["lo"][0], row["hi"][0]


def check_size(count: int, limit: int, force: bool, what: str, every: str) -> None:
    """Refuse a plan of more than ``limit`` items unless ``force``."""
    if count > limit and not force:
        raise InvalidArgumentError(
            "--every", every, f"it makes about {count:,} {what}, more than the {limit:,} this "
            "command makes without --force",
            "choose a longer interval (e.g. --every 1mo), or pass --force to go ahead "
            "(progress is shown)",
        )


def progress_for(args: Any, count: int, limit: int) -> bool | None:
    """Show progress for a forced big plan unless the user said --no-progress."""
    if args.progress is None and count > limit:
        return True
    progress: bool | None = args.progress
    return progress
