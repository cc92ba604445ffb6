"""An independent oracle for the point-in-time rules: it shares no code with eventlab.

It reads a store the way another engine would: the commit log's JSON entries in order (which
files each commit added and removed, its recorded_at and its positions) and the raw Parquet files
they leave live, with pyarrow. Then it applies the rules of a query itself, in plain Python:

* ``at`` (valid time): events with ``occurred_at <= at``;
* ``known_at`` (transaction time): events of commits recorded at or before ``known_at``;
* ``at_position``: events with ``position <= at_position``;

upcasts and filters events in plain Python, and folds each key's events with plain Python
reducers in valid-time order: ``(occurred_at, position)``; the latest fact in valid time wins,
ties broken by position. NaN follows Polars' documented rules (``sum`` and ``mean`` propagate it,
``min`` / ``max`` skip it unless nothing else is there, comparisons order it above every number).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

Event = dict[str, Any]
Fold = Callable[[list[Event]], Any]


# ------------------------------------------------------------------ reading the store
def _partition(path: str) -> str:
    """The stream type of a data file, from its Hive folder ``stream_type=<value>``."""
    from urllib.parse import unquote

    folder = next(p for p in path.split("/") if p.startswith("stream_type="))
    return unquote(folder.split("=", 1)[1])


def commits(root: Path) -> list[dict[str, Any]]:
    """The commit log's entries, in order."""
    return [json.loads(p.read_text()) for p in sorted((root / "_log").glob("*.json"))]


def commit_times(root: Path) -> list[datetime]:
    return [datetime.fromisoformat(c["recorded_at"]) for c in commits(root)]


def committed_events(root: Path) -> list[Event]:
    """Every committed event, read from the live files of the log with pyarrow; ``known_from``
    is the recorded_at of the commit that holds its position."""
    live: dict[str, None] = {}
    spans: list[tuple[int, int, datetime]] = []
    for entry in commits(root):
        for path in entry.get("removed", []):
            live.pop(path, None)
        for added in entry.get("added", []):
            live[added["path"]] = None
        if entry["events"]:
            spans.append((entry["first_position"], entry["last_position"],
                          datetime.fromisoformat(entry["recorded_at"])))
    events: list[Event] = []
    for path in live:
        stream_type = _partition(path)
        for row in pq.ParquetFile(root / path).read().to_pylist():
            row["stream_type"] = stream_type
            row["known_from"] = next(t for lo, hi, t in spans if lo <= row["position"] <= hi)
            events.append(row)
    return sorted(events, key=lambda e: e["position"])


def visible(
    events: Iterable[Event],
    *,
    at: datetime | None = None,
    known_at: datetime | None = None,
    at_position: int | None = None,
) -> list[Event]:
    """The events a query at (at, known_at, at_position) may see."""
    return [
        e for e in events
        if (at is None or e["occurred_at"] <= at)
        and (known_at is None or e["known_from"] <= known_at)
        and (at_position is None or e["position"] <= at_position)
    ]


def valid_order(event: Event) -> tuple[datetime, int]:
    return (event["occurred_at"], event["position"])


# ------------------------------------------------------------------ plain reducers
def is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def count(events: list[Event], keep: Callable[[Event], bool] = lambda e: True) -> int:
    return sum(1 for e in events if keep(e))


def total(values: Iterable[Any]) -> float:
    return sum((v for v in values if v is not None), 0.0)


def mean(values: Iterable[Any]) -> float | None:
    given = [v for v in values if v is not None]
    return sum(given) / len(given) if given else None


def extreme(values: Iterable[Any], pick: Callable[..., Any]) -> Any:
    given = [v for v in values if v is not None]
    numbers = [v for v in given if not is_nan(v)]
    if numbers:
        return pick(numbers)
    return given[0] if given else None  # only NaN: NaN


def latest(events: list[Event], value: Callable[[Event], Any], *, recorded: bool = False,
           earliest: bool = False) -> Any:
    """The value of the latest (``earliest``: first) event with a non-null value, in valid-time
    order (``recorded``: by position alone)."""
    given = [e for e in events if value(e) is not None]
    if not given:
        return None
    order: Callable[[Event], Any] = (lambda e: e["position"]) if recorded else valid_order
    chosen = (min if earliest else max)(given, key=order)
    return value(chosen)


def column(name: str) -> Callable[[Event], Any]:
    return lambda e: e.get(name)


def on(types: Sequence[str], value: Callable[[Event], Any]) -> Callable[[Event], Any]:
    return lambda e: value(e) if e["event_type"] in types else None


def greater(value: Any, than: float) -> bool:
    """Polars' comparison: NaN is above every number; null compares to nothing."""
    return value is not None and (is_nan(value) or value > than)


# ------------------------------------------------------------------ projections
@dataclass(frozen=True)
class Rename:
    """Upcast events of ``event_type`` at ``from_version``: ``new = old``, ``old = None`` and
    ``changes`` (column -> function of the event) applied."""

    event_type: str
    from_version: int
    rename: Mapping[str, str] = field(default_factory=dict)
    changes: Mapping[str, Callable[[Event], Any]] = field(default_factory=dict)

    def apply(self, event: Event) -> Event:
        if event["event_type"] != self.event_type or event["schema_version"] != self.from_version:
            return event
        out = dict(event)
        for old, new in self.rename.items():
            out[new], out[old] = event.get(old), None
        for name, change in self.changes.items():
            out[name] = change(event)
        out["schema_version"] = self.from_version + 1
        return out


@dataclass(frozen=True)
class Spec:
    """A projection in plain Python: ``key`` columns, ``fields`` (name -> fold of a key's events
    in valid-time order), optional ``stream_types``, ``where`` and ``upcasts``."""

    key: tuple[str, ...]
    fields: Mapping[str, Fold]
    stream_types: tuple[str, ...] | None = None
    where: Callable[[Event], bool] | None = None
    upcasts: tuple[Rename, ...] = ()

    def prepared(self, events: Iterable[Event]) -> list[Event]:
        out = []
        for event in events:
            if self.stream_types is not None and event["stream_type"] not in self.stream_types:
                continue
            for upcast in self.upcasts:
                event = upcast.apply(event)
            if self.where is None or self.where(event):
                out.append(event)
        return out

    def groups(self, events: Iterable[Event]) -> dict[tuple[Any, ...], list[Event]]:
        groups: dict[tuple[Any, ...], list[Event]] = {}
        for event in sorted(self.prepared(events), key=valid_order):
            groups.setdefault(tuple(event.get(k) for k in self.key), []).append(event)
        return groups

    def state(self, events: Iterable[Event]) -> list[dict[str, Any]]:
        """One row per key (sorted, nulls first), each field folded from the key's events."""
        rows = [
            {**dict(zip(self.key, k, strict=True)), **{n: f(evs) for n, f in self.fields.items()}}
            for k, evs in self.groups(events).items()
        ]
        return sorted(rows, key=lambda r: sort_key(tuple(r[c] for c in self.key)))


def sort_key(values: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple((v is not None, v) for v in values)


# ------------------------------------------------------------------ comparing
def same_value(a: Any, b: Any, tol: float = 1e-9) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return a is b
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return abs(a - b) <= tol * max(1.0, abs(a), abs(b))
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def assert_rows(actual: list[dict[str, Any]], expected: list[dict[str, Any]], what: str) -> None:
    """``actual`` (eventlab's rows) equal ``expected`` (the oracle's) on the oracle's columns."""
    assert len(actual) == len(expected), f"{what}: {len(actual)} rows, oracle {len(expected)}"
    for got, want in zip(actual, expected, strict=True):
        for name, value in want.items():
            assert same_value(got[name], value), (
                f"{what}: {name} = {got[name]!r}, oracle {value!r}\n got  {got}\n want {want}"
            )
