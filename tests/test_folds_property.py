"""Property tests: eventlab's folds and point-in-time queries equal an independent oracle.

The oracle (tests/oracle.py) shares no code with eventlab: it reads the commit log and the raw
Parquet files with pyarrow, applies at / known_at / at_position itself and folds with plain
Python reducers in valid-time order. Logs are random: several commits (each may be followed by
a compaction), events back-dated across commits, ties in occurred_at, nulls, NaN, unicode stream
ids, two schema versions read through upcasters. Query points sit exactly on event times and
commit times and one microsecond either side, where a `<` for `<=` or an off-by-one commit
would show.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventlab import EventStore, Projection, Upcaster
from eventlab import reducers as r
from eventlab.projections import finalize, fold, merge_states, partial_state
from tests import oracle as O

T0 = datetime(2021, 1, 1, tzinfo=UTC)
US = timedelta(microseconds=1)
TYPES = ["Opened", "Deposited", "Withdrawn", "Renamed", "Closed"]
IDS = ["a", "b", "ü", "名前", "a b", "Ω-1"]
OWNERS = ["ann", "bob", "ñu"]
SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,
)
UPCASTERS = (
    Upcaster("Renamed", 1, rename={"name": "owner"}),
    Upcaster("Withdrawn", 1, set={"amount": pl.col("amount").abs()}),
)
PROJECTION = Projection(
    "accounts",
    fields={
        "events": r.count(),
        "deposits": r.count(on=["Deposited"]),
        "balance": r.sum(
            pl.when(pl.col("event_type") == "Withdrawn")
            .then(-pl.col("amount"))
            .otherwise(pl.col("amount"))
        ),
        "smallest": r.min("amount"),
        "largest": r.max("amount", on=["Deposited"]),
        "average": r.mean("amount"),
        "owner": r.last("owner"),
        "first_owner": r.first("owner"),
        "recorded_owner": r.last("owner", order="recorded"),
        "opened_at": r.min("occurred_at"),
        "status": r.status({"Opened": "open", "Closed": "closed"}, default="unknown"),
        "owners": r.distinct("owner"),
        "n_owners": r.count_distinct("owner"),
        "big": r.count(where=pl.col("amount") > 5),
        "abs_total": r.custom("amount", agg=lambda e: e.abs().sum(), combine=lambda s: s.sum()),
    },
    upcasters=UPCASTERS,
)
BY_OWNER = Projection(
    "by_owner",
    key="owner",
    stream_types=["acct"],
    where=pl.col("event_type") != "Closed",
    fields={
        "events": r.count(),
        "last_type": r.last("event_type"),
        "total": r.sum("amount"),
        "first_stream": r.first("stream_id"),
        "recorded_first": r.first("stream_id", order="recorded"),
    },
    upcasters=UPCASTERS,
)


def _upcast_amount(e: O.Event) -> Any:
    return None if e.get("amount") is None else abs(e["amount"])


ORACLE_UPCASTS = (
    O.Rename("Renamed", 1, rename={"name": "owner"}),
    O.Rename("Withdrawn", 1, changes={"amount": _upcast_amount}),
)


def _signed(e: O.Event) -> Any:
    amount = e.get("amount")
    return None if amount is None else (-amount if e["event_type"] == "Withdrawn" else amount)


EXPECTED = O.Spec(
    key=("stream_id",),
    upcasts=ORACLE_UPCASTS,
    fields={
        "events": O.count,
        "deposits": lambda evs: O.count(evs, lambda e: e["event_type"] == "Deposited"),
        "balance": lambda evs: O.total(_signed(e) for e in evs),
        "smallest": lambda evs: O.extreme((e.get("amount") for e in evs), min),
        "largest": lambda evs: O.extreme(
            (e.get("amount") for e in evs if e["event_type"] == "Deposited"), max
        ),
        "average": lambda evs: O.mean(e.get("amount") for e in evs),
        "owner": lambda evs: O.latest(evs, O.column("owner")),
        "first_owner": lambda evs: O.latest(evs, O.column("owner"), earliest=True),
        "recorded_owner": lambda evs: O.latest(evs, O.column("owner"), recorded=True),
        "opened_at": lambda evs: min(e["occurred_at"] for e in evs),
        "status": lambda evs: {"Opened": "open", "Closed": "closed", None: "unknown"}[
            O.latest(evs, O.on(["Opened", "Closed"], O.column("event_type")))
        ],
        "owners": lambda evs: sorted({e["owner"] for e in evs if e.get("owner") is not None}),
        "n_owners": lambda evs: len({e["owner"] for e in evs if e.get("owner") is not None}),
        "big": lambda evs: O.count(evs, lambda e: O.greater(e.get("amount"), 5)),
        "abs_total": lambda evs: O.total(
            abs(e["amount"]) for e in evs if e.get("amount") is not None
        ),
    },
)
EXPECTED_BY_OWNER = O.Spec(
    key=("owner",),
    stream_types=("acct",),
    where=lambda e: e["event_type"] != "Closed",
    upcasts=ORACLE_UPCASTS,
    fields={
        "events": O.count,
        "last_type": lambda evs: O.latest(evs, O.column("event_type")),
        "total": lambda evs: O.total(e.get("amount") for e in evs),
        "first_stream": lambda evs: O.latest(evs, O.column("stream_id"), earliest=True),
        "recorded_first": lambda evs: O.latest(
            evs, O.column("stream_id"), recorded=True, earliest=True
        ),
    },
)
PAIRS = ((PROJECTION, EXPECTED), (BY_OWNER, EXPECTED_BY_OWNER))


# ------------------------------------------------------------------ random logs
@st.composite
def amounts(draw: st.DrawFn) -> float | None:
    halves = st.integers(-20, 20).map(lambda v: v / 2)
    return draw(st.one_of(st.none(), st.just(float("nan")), halves))


@st.composite
def logs(draw: st.DrawFn) -> tuple[list[pl.DataFrame], list[bool]]:
    """Batches (commits) of events, and after each batch whether to compact. Occurred times
    are days (ties are common) plus 0 or 1 microsecond; later batches are often back-dated."""
    n = draw(st.integers(1, 30))

    def column(strategy: st.SearchStrategy[Any]) -> list[Any]:
        return draw(st.lists(strategy, min_size=n, max_size=n))

    types = column(st.sampled_from(TYPES))
    names = column(st.one_of(st.none(), st.sampled_from(OWNERS)))
    versions = column(st.sampled_from([1, 2]))
    old_rename = [t == "Renamed" and v == 1 for t, v in zip(types, versions, strict=True)]
    rows = {
        "stream_type": column(st.sampled_from(["acct", "loan"])),
        "stream_id": column(st.sampled_from(IDS)),
        "event_type": types,
        "schema_version": versions,
        "occurred_at": [
            T0 + timedelta(days=d) + US * u
            for d, u in zip(column(st.integers(0, 40)), column(st.integers(0, 1)), strict=True)
        ],
        "amount": column(amounts()),
        # a Renamed event of schema version 1 stored the new owner as "name"
        "owner": [None if old else o for o, old in zip(names, old_rename, strict=True)],
        "name": [o if old else None for o, old in zip(names, old_rename, strict=True)],
    }
    frame = pl.DataFrame(
        rows,
        schema_overrides={"amount": pl.Float64, "owner": pl.String, "name": pl.String,
                          "schema_version": pl.Int32},
    )
    cuts = sorted(set(draw(st.lists(st.integers(1, n), max_size=3))) - {n})
    bounds = [0, *cuts, n]
    batches = [frame.slice(a, b - a) for a, b in pairwise(bounds)]
    return batches, draw(st.lists(st.booleans(), min_size=len(batches), max_size=len(batches)))


def ticking() -> Iterator[datetime]:
    """Commit times 10 days apart, after every event time."""
    tick = T0 + timedelta(days=100)
    while True:
        yield tick
        tick += timedelta(days=10)


def build_store(batches: list[pl.DataFrame], compactions: list[bool]) -> EventStore:
    clock = ticking()
    store = EventStore.create(Path(tempfile.mkdtemp()) / "s", clock=lambda: next(clock))
    for batch, compact in zip(batches, compactions, strict=True):
        store.append(batch)
        if compact:
            store.compact()
    return store


def near(times: list[datetime]) -> list[datetime]:
    """Each time and one microsecond either side."""
    return sorted({t + d for t in times for d in (-US, 0 * US, US)})


def valid_points(events: list[O.Event]) -> list[datetime]:
    return near([e["occurred_at"] for e in events])


def known_points(store: EventStore) -> list[datetime]:
    return near(O.commit_times(store.root))


@st.composite
def windows(draw: st.DrawFn, store: EventStore, events: list[O.Event]) -> dict[str, Any]:
    """at / known_at / at_position on (or next to) event times, commit times and positions."""
    at = draw(st.one_of(st.none(), st.sampled_from(valid_points(events))))
    known_at = draw(st.one_of(st.none(), st.sampled_from(known_points(store))))
    at_position = draw(st.one_of(st.none(), st.integers(0, store.head + 1)))
    return {"at": at, "known_at": known_at, "at_position": at_position}


def check_state(store: EventStore, window: dict[str, Any], **options: Any) -> None:
    events = O.committed_events(store.root)
    for projection, expected in PAIRS:
        fast = store.project(projection).state(**window, **options)
        O.assert_rows(fast.to_dicts(), expected.state(O.visible(events, **window)),
                      f"{projection.name} at {window}")


# ------------------------------------------------------------------ properties
@SETTINGS
@given(logs(), st.data())
def test_point_in_time_equals_oracle(
    log: tuple[list[pl.DataFrame], list[bool]], data: st.DataObject
) -> None:
    store = build_store(*log)
    events = O.committed_events(store.root)
    assert len(events) == store.head == sum(b.height for b in log[0])
    check_state(store, {})
    for _ in range(3):
        check_state(store, data.draw(windows(store, events)), use_snapshots=False)


@SETTINGS
@given(logs(), st.data())
def test_snapshots_under_backdated_tails_equal_oracle(
    log: tuple[list[pl.DataFrame], list[bool]], data: st.DataObject
) -> None:
    """Snapshots taken between commits; later commits bring events back-dated below them."""
    batches, compactions = log
    store = build_store(batches[:1], compactions[:1])
    view = store.project(PROJECTION)
    for batch, compact in zip(batches[1:], compactions[1:], strict=True):
        events = O.committed_events(store.root)
        point = data.draw(st.one_of(st.none(), st.sampled_from(valid_points(events))))
        view.snapshot(at=point)
        store.project(BY_OWNER).snapshot(at=point)
        store.append(batch)
        if compact:
            store.compact()
    events = O.committed_events(store.root)
    check_state(store, {})
    for _ in range(3):
        check_state(store, data.draw(windows(store, events)))


@SETTINGS
@given(logs(), st.data())
def test_history_and_timeline_equal_oracle(
    log: tuple[list[pl.DataFrame], list[bool]], data: st.DataObject
) -> None:
    """Every history row is the oracle's state of its key as of that event: in valid-time
    order (events up to its (occurred_at, position)) or in commit order (up to its position);
    the timeline at event times and one microsecond either side is the state there."""
    store = build_store(*log)
    events = O.committed_events(store.root)
    view = store.project(PROJECTION)
    for order, upto in (
        ("valid", lambda e, row: O.valid_order(e) <= (row["occurred_at"], row["position"])),
        ("recorded", lambda e, row: e["position"] <= row["position"]),
    ):
        trail = view.history(order=order).to_dicts()
        assert len(trail) == len(events)
        for row in trail:
            mine = [e for e in events if e["stream_id"] == row["stream_id"] and upto(e, row)]
            O.assert_rows([row], EXPECTED.state(mine), f"history({order}) at {row['position']}")
    points = data.draw(st.lists(st.sampled_from(valid_points(events)), min_size=1, max_size=4))
    for projection, expected in PAIRS:
        line = store.project(projection).timeline(points=points)
        for point in sorted(set(points)):
            rows = line.filter(pl.col("at") == point).drop("at").to_dicts()
            O.assert_rows(rows, expected.state(O.visible(events, at=point)),
                          f"timeline of {projection.name} at {point}")


@SETTINGS
@given(logs(), st.lists(st.integers(0, 3), min_size=30, max_size=30))
def test_partial_states_merge_in_any_split(
    log: tuple[list[pl.DataFrame], list[bool]], labels: list[int]
) -> None:
    """Mergeability: partials of arbitrary disjoint chunks merge to the state of all events."""
    store = build_store(*log)
    frame = store.scan(include=PROJECTION.source_columns()).collect()
    chunk = pl.Series("chunk", labels[: frame.height])
    parts = [partial_state(frame.filter(chunk == i).lazy(), PROJECTION) for i in range(4)]
    merged = finalize(merge_states([p.collect() for p in parts], PROJECTION), PROJECTION)
    expected = EXPECTED.state(O.committed_events(store.root))
    O.assert_rows(merged.collect().to_dicts(), expected, "merged chunks")
    for engine in ("streaming", "in-memory"):
        O.assert_rows(fold(frame.lazy(), PROJECTION, engine=engine).to_dicts(), expected, engine)


@SETTINGS
@given(logs())
def test_incremental_export_equals_oracle(log: tuple[list[pl.DataFrame], list[bool]]) -> None:
    batches, compactions = log
    store = build_store(batches[:1], compactions[:1])
    view = store.project(PROJECTION)
    out = Path(tempfile.mkdtemp())
    view.export(out / "inc")
    for batch in batches[1:]:
        store.append(batch)
        result = view.export(out / "inc")
        assert result.mode == "incremental"
        assert result.events_folded == batch.height
    incremental = pl.read_parquet(out / "inc" / "accounts.parquet").sort("stream_id")
    expected = EXPECTED.state(O.committed_events(store.root))
    O.assert_rows(incremental.to_dicts(), expected, "incremental export")
    assert view.export(out / "full", full=True).read_model.high_water_position == store.head
