"""A plain-Python process-mining reference (the oracle of tests/test_process.py): one loop over
events per question, nothing shared with eventlab.process but the definitions.

Events are dicts with stream_type, stream_id, event_type, occurred_at, position, recorded_at.
The window: ``at`` keeps occurred_at <= at, ``known_at`` keeps recorded_at <= known_at.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

Event = dict[str, Any]
Stream = tuple[str, str]
START, END = "▶ start", "■ end"


def known(events: list[Event], known_at: datetime | None) -> list[Event]:
    return [e for e in events if known_at is None or e["recorded_at"] <= known_at]


def streams(
    events: list[Event], at: datetime | None = None, known_at: datetime | None = None,
    where: Callable[[Event], bool] | None = None,
) -> dict[Stream, list[Event]]:
    """Each stream's events in the window, in valid-time order (occurred_at, position)."""
    out: dict[Stream, list[Event]] = defaultdict(list)
    for e in known(events, known_at):
        if (at is None or e["occurred_at"] <= at) and (where is None or where(e)):
            out[(e["stream_type"], e["stream_id"])].append(e)
    return {k: sorted(v, key=lambda e: (e["occurred_at"], e["position"])) for k, v in out.items()}


def quantile(values: list[float], q: float) -> float:
    """numpy's default (linear) quantile."""
    ordered = sorted(values)
    place = q * (len(ordered) - 1)
    low = math.floor(place)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (place - low)


def variants(by_stream: dict[Stream, list[Event]]) -> Counter[tuple[str, tuple[str, ...]]]:
    return Counter((k[0], tuple(e["event_type"] for e in v)) for k, v in by_stream.items())


def directly_follows(by_stream: dict[Stream, list[Event]]) -> dict[tuple[str, str, str], Any]:
    """(stream_type, source, target) -> (count, median_us, mean_us, p95_us); START/END edges
    have (count, None, None, None)."""
    gaps: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    ends: Counter[tuple[str, str, str]] = Counter()
    for (kind, _), seq in by_stream.items():
        ends[(kind, START, seq[0]["event_type"])] += 1
        ends[(kind, seq[-1]["event_type"], END)] += 1
        for a, b in pairwise(seq):
            gap = (b["occurred_at"] - a["occurred_at"]) / timedelta(microseconds=1)
            gaps[(kind, a["event_type"], b["event_type"])].append(gap)
    out: dict[tuple[str, str, str], Any] = {
        k: (len(v), quantile(v, 0.5), sum(v) / len(v), quantile(v, 0.95)) for k, v in gaps.items()
    }
    out.update({k: (n, None, None, None) for k, n in ends.items()})
    return out


def durations(events: list[Event], at: datetime | None, known_at: datetime | None) -> dict[
    Stream, tuple[datetime, datetime, int, bool]
]:
    """stream -> (start, end, events, open)."""
    inside = streams(events, at, known_at)
    later = {(e["stream_type"], e["stream_id"]) for e in known(events, known_at)
             if at is not None and e["occurred_at"] > at}
    out = {}
    for k, seq in inside.items():
        still_open = k in later
        end = at if still_open and at is not None else seq[-1]["occurred_at"]
        out[k] = (seq[0]["occurred_at"], end, len(seq), still_open)
    return out


def time_in_state(
    by_stream: dict[Stream, list[Event]], status: Mapping[str, str], cut: datetime | None,
    default: str | None = None, final: tuple[str, ...] = (),
) -> dict[tuple[str, str, str], tuple[float, int, bool]]:
    """(stream_type, stream_id, status) -> (microseconds, times entered, current)."""
    out: dict[tuple[str, str, str], list[Any]] = {}
    for (kind, sid), seq in by_stream.items():
        marks = []
        for i, e in enumerate(seq):
            s = status.get(e["event_type"])
            if s is None and i == 0 and default is not None:
                s = default
            if s is not None:
                marks.append((e["occurred_at"], s))
        previous = None
        for i, (t, s) in enumerate(marks):
            until = marks[i + 1][0] if i + 1 < len(marks) else cut
            micros = 0.0 if s in final else (until - t) / timedelta(microseconds=1)
            row = out.setdefault((kind, sid, s), [0.0, 0, False])
            row[0] += micros
            row[1] += s != previous
            row[2] = row[2] or i == len(marks) - 1
            previous = s
    return {k: (v[0], v[1], v[2]) for k, v in out.items()}


def rework(by_stream: dict[Stream, list[Event]]) -> dict[tuple[str, str, str], int]:
    out = {}
    for (kind, sid), seq in by_stream.items():
        for event_type, n in Counter(e["event_type"] for e in seq).items():
            if n > 1:
                out[(kind, sid, event_type)] = n
    return out
