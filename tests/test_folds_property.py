"""Property tests: the vectorized folds equal the Python reference fold on random event logs.

Logs are random (several streams and stream types, back-dated events, nulls, several commits
with increasing transaction time); projections use every reducer. Each property compares the
fast path with :func:`reference_state` over the same events filtered the same way.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from eventlab import EventStore, Projection
from eventlab import reducers as r
from eventlab.projections import (
    finalize,
    fold,
    merge_states,
    partial_state,
    reference_state,
)
from eventlab.projections.temporal import resolve_position

T0 = datetime(2021, 1, 1, tzinfo=UTC)
TYPES = ["Opened", "Deposited", "Withdrawn", "Renamed", "Closed"]
SETTINGS = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
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
        "opened_at": r.min("occurred_at"),
        "status": r.status({"Opened": "open", "Closed": "closed"}, default="unknown"),
        "owners": r.distinct("owner"),
        "n_owners": r.count_distinct("owner"),
        "big": r.count(where=pl.col("amount") > 5),
        "abs_total": r.custom("amount", agg=lambda e: e.abs().sum(), combine=lambda s: s.sum()),
    },
    derived={"net": pl.col("balance") - pl.col("smallest").fill_null(0)},
)
BY_OWNER = Projection(
    "by_owner",
    key="owner",
    fields={
        "events": r.count(),
        "last_type": r.last("event_type"),
        "total": r.sum("amount"),
        "first_stream": r.first("stream_id"),
    },
)


@st.composite
def logs(draw: st.DrawFn) -> list[pl.DataFrame]:
    """A list of batches (commits) of events."""
    n = draw(st.integers(1, 40))
    rows = {
        "stream_type": draw(st.lists(st.sampled_from(["acct", "loan"]), min_size=n, max_size=n)),
        "stream_id": draw(st.lists(st.sampled_from(list("abcde")), min_size=n, max_size=n)),
        "event_type": draw(st.lists(st.sampled_from(TYPES), min_size=n, max_size=n)),
        "occurred_at": [
            T0 + timedelta(days=d)
            for d in draw(st.lists(st.integers(0, 90), min_size=n, max_size=n))
        ],
        "amount": draw(
            st.lists(
                st.one_of(st.none(), st.integers(-20, 20).map(lambda v: v / 2)),
                min_size=n,
                max_size=n,
            )
        ),
        "owner": draw(
            st.lists(
                st.one_of(st.none(), st.sampled_from(["ann", "bob", "cy"])), min_size=n, max_size=n
            )
        ),
    }
    frame = pl.DataFrame(rows, schema_overrides={"amount": pl.Float64, "owner": pl.String})
    cuts = sorted(set(draw(st.lists(st.integers(1, n), max_size=3))) - {n})
    bounds = [0, *cuts, n]
    return [frame.slice(a, b - a) for a, b in pairwise(bounds)]


def build_store(batches: list[pl.DataFrame]) -> EventStore:
    clock = iter(T0 + timedelta(days=100 + 10 * i) for i in range(100))
    store = EventStore.create(Path(tempfile.mkdtemp()) / "s", clock=lambda: next(clock))
    for batch in batches:
        store.append(batch)
    return store


def same(fast: pl.DataFrame, slow: pl.DataFrame) -> None:
    if slow.height == 0:
        assert fast.height == 0
        return
    assert_frame_equal(fast.select(slow.columns), slow, check_dtypes=False, abs_tol=1e-9)


def oracle(store: EventStore, projection: Projection, **window: object) -> pl.DataFrame:
    events = store.scan(
        stream_types=projection.stream_types,
        include=projection.source_columns(),
        **window,  # type: ignore[arg-type]
    )
    return reference_state(events, projection)


@SETTINGS
@given(logs())
def test_full_state_equals_reference(batches: list[pl.DataFrame]) -> None:
    store = build_store(batches)
    for projection in (PROJECTION, BY_OWNER):
        view = store.project(projection)
        same(view.state(), oracle(store, projection))


@SETTINGS
@given(logs(), st.integers(0, 95), st.integers(0, 5), st.integers(0, 45))
def test_point_in_time_equals_reference(
    batches: list[pl.DataFrame], day: int, commits: int, position: int
) -> None:
    store = build_store(batches)
    at = T0 + timedelta(days=day)
    known_at = T0 + timedelta(days=100 + 10 * commits)
    view = store.project(PROJECTION)
    fast = view.state(at=at, known_at=known_at, at_position=position)
    same(fast, oracle(store, PROJECTION, at=at, known_at=known_at, at_position=position))


@SETTINGS
@given(
    logs(),
    st.lists(
        st.tuples(st.one_of(st.none(), st.integers(0, 95)), st.integers(0, 45)),
        min_size=1,
        max_size=3,
    ),
    st.integers(0, 95),
)
def test_snapshots_give_identical_results(
    batches: list[pl.DataFrame], checkpoints: list[tuple[int | None, int]], day: int
) -> None:
    store = build_store(batches)
    view = store.project(PROJECTION)
    for snap_day, snap_position in checkpoints:
        at = None if snap_day is None else T0 + timedelta(days=snap_day)
        view.snapshot(at=at, at_position=snap_position)
    for at in (T0 + timedelta(days=day), None):
        with_snapshots = view.state(at=at)
        without = view.state(at=at, use_snapshots=False)
        same(with_snapshots, without)
        same(with_snapshots, oracle(store, PROJECTION, at=at))


@SETTINGS
@given(logs(), st.lists(st.integers(0, 3), min_size=40, max_size=40))
def test_partial_states_merge_in_any_split(batches: list[pl.DataFrame], labels: list[int]) -> None:
    """Mergeability: partials of arbitrary disjoint chunks merge to the state of all events."""
    store = build_store(batches)
    events = store.scan(include=PROJECTION.source_columns()).collect()
    chunk = pl.Series("chunk", labels[: events.height])
    parts = [partial_state(events.filter(chunk == i).lazy(), PROJECTION) for i in range(4)]
    merged = finalize(merge_states([p.collect() for p in parts], PROJECTION), PROJECTION)
    same(merged.collect(), reference_state(events, PROJECTION))


@SETTINGS
@given(logs())
def test_engines_agree(batches: list[pl.DataFrame]) -> None:
    store = build_store(batches)
    events = store.scan(include=PROJECTION.source_columns())
    streaming = fold(events, PROJECTION, engine="streaming")
    in_memory = fold(events, PROJECTION, engine="in-memory")
    same(streaming, in_memory)
    same(store.project(PROJECTION).state(engine="streaming"), in_memory)


@SETTINGS
@given(logs())
def test_incremental_export_equals_full(batches: list[pl.DataFrame]) -> None:
    store = build_store(batches[:1])
    view = store.project(PROJECTION)
    out = Path(tempfile.mkdtemp())
    view.export(out / "inc")
    for batch in batches[1:]:
        store.append(batch)
        result = view.export(out / "inc")
        assert result.mode == "incremental"
        assert result.events_folded == batch.height
    full = view.export(out / "full", full=True)
    incremental = pl.read_parquet(out / "inc" / "accounts.parquet")
    assert_frame_equal(incremental, full.read_model.read(), abs_tol=1e-9)
    assert full.read_model.high_water_position == store.head == resolve_position(store)


@SETTINGS
@given(logs())
def test_history_ends_in_state_and_timeline_matches_points(batches: list[pl.DataFrame]) -> None:
    store = build_store(batches)
    view = store.project(PROJECTION)
    trail = view.history()
    last_rows = trail.sort("occurred_at", "position").group_by("stream_id").last()
    same(last_rows.sort("stream_id").drop("stream_type", strict=False), oracle(store, PROJECTION))
    points = [T0 + timedelta(days=d) for d in (0, 30, 60, 90)]
    line = view.timeline(points=points)
    for point in points:
        expected = oracle(store, PROJECTION, at=point)
        same(line.filter(pl.col("at") == point).drop("at"), expected)
