"""eventlab.process: equal to a plain-Python reference on random logs (ties, back-dated
events, several stream types and commits, random at/known_at), to pm4py's numbers on a bundled
real log, and clear about bad input."""

from __future__ import annotations

import tempfile
from collections import Counter
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventlab import EventStore, Projection
from eventlab import process as pm
from eventlab import reducers as r
from eventlab.errors import ColumnNotFoundError, InvalidArgumentError
from eventlab.importers import import_file
from eventlab.process.log import sort_events
from tests.conftest import dataset
from tests.helpers import process_reference as ref

T0 = datetime(2021, 1, 1, tzinfo=UTC)
TYPES = ["Opened", "Reviewed", "Approved", "Rejected", "Closed"]
STATUS = {"Opened": "open", "Reviewed": "review", "Approved": "open", "Closed": "closed"}
SETTINGS = settings(max_examples=25, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


@st.composite
def logs(draw: st.DrawFn) -> list[pl.DataFrame]:
    """Batches (commits) of events; occurred_at on a coarse grid (ties) in any order
    (later commits back-date events before earlier ones)."""
    n = draw(st.integers(1, 40))

    def column(values: st.SearchStrategy[Any]) -> list[Any]:
        return draw(st.lists(values, min_size=n, max_size=n))

    frame = pl.DataFrame({
        "stream_type": column(st.sampled_from(["claim", "order"])),
        "stream_id": column(st.sampled_from(list("abcdef"))),
        "event_type": column(st.sampled_from(TYPES)),
        "occurred_at": [T0 + timedelta(hours=6 * h) for h in column(st.integers(0, 30))],
    })
    cuts = sorted(set(draw(st.lists(st.integers(1, n), max_size=3))) - {n})
    return [frame.slice(a, b - a) for a, b in pairwise([0, *cuts, n])]


def build_store(batches: list[pl.DataFrame]) -> EventStore:
    clock = iter(T0 + timedelta(days=100 + 10 * i) for i in range(100))
    store = EventStore.create(Path(tempfile.mkdtemp()) / "s", clock=lambda: next(clock))
    for batch in batches:
        store.append(batch)
    return store


def rows(store: EventStore) -> list[dict[str, Any]]:
    return store.scan().collect().to_dicts()


# ----------------------------------------------------------------- frames -> reference shapes
def as_variants(frame: pl.DataFrame) -> Counter[tuple[str, tuple[str, ...]]]:
    return Counter({(k, tuple(v)): n for k, v, n in frame.select(
        "stream_type", "variant", "streams").rows()})


def micros(value: timedelta | None) -> float | None:
    return None if value is None else value / timedelta(microseconds=1)


def as_edges(frame: pl.DataFrame) -> dict[tuple[str, str, str], Any]:
    cols = ["stream_type", "source", "target", "count", "median_duration", "mean_duration",
            "p95_duration"]
    return {(k, a, b): (n, micros(m), micros(mean), micros(p))
            for k, a, b, n, m, mean, p in frame.select(cols).rows()}


def same_edges(fast: dict[Any, Any], slow: dict[Any, Any]) -> None:
    assert fast.keys() == slow.keys()
    for key, (n, *stats) in slow.items():
        got_n, *got = fast[key]
        assert got_n == n, key
        for a, b in zip(got, stats, strict=True):
            assert (a is None and b is None) or abs(a - b) <= 1, (key, got, stats)


def window(day: int | None, commits: int | None) -> dict[str, datetime | None]:
    return {"at": None if day is None else T0 + timedelta(hours=6 * day),
            "known_at": None if commits is None else T0 + timedelta(days=100 + 10 * commits)}


DAYS = st.one_of(st.none(), st.integers(0, 32))
COMMITS = st.one_of(st.none(), st.integers(0, 4))


# ----------------------------------------------------------------- properties
@SETTINGS
@given(logs(), DAYS, COMMITS, st.booleans(), st.booleans())
def test_flow_equals_reference(
    batches: list[pl.DataFrame], day: int | None, commits: int | None, filtered: bool,
    in_memory: bool,
) -> None:
    store = build_store(batches)
    w = window(day, commits)
    where = pl.col("event_type") != "Reviewed" if filtered else None
    keep = (lambda e: e["event_type"] != "Reviewed") if filtered else None
    by_stream = ref.streams(rows(store), w["at"], w["known_at"], keep)
    source: Any = pm.read_log(store) if in_memory else store
    assert as_variants(pm.variants(source, **w, where=where)) == ref.variants(by_stream)
    same_edges(as_edges(pm.directly_follows(source, **w, where=where)),
               ref.directly_follows(by_stream))
    found = pm.rework(source, **w, where=where)
    assert {(k, s, e): n for k, s, e, n in found.rows()} == ref.rework(by_stream)


@SETTINGS
@given(logs(), DAYS, COMMITS, st.booleans())
def test_durations_equal_reference(
    batches: list[pl.DataFrame], day: int | None, commits: int | None, in_memory: bool
) -> None:
    store = build_store(batches)
    w = window(day, commits)
    source: Any = pm.read_log(store) if in_memory else store
    frame = pm.durations(source, **w)
    fast = {(k, s): (a, b, n, o) for k, s, a, b, d, n, o in frame.rows()}
    assert fast == ref.durations(rows(store), w["at"], w["known_at"])
    assert (frame["end"] - frame["start"]).equals(frame["duration"], check_names=False)


@SETTINGS
@given(logs(), DAYS, COMMITS, st.sampled_from([None, "new"]), st.booleans())
def test_time_in_state_equals_reference(
    batches: list[pl.DataFrame], day: int | None, commits: int | None, default: str | None,
    with_final: bool,
) -> None:
    store = build_store(batches)
    w = window(day, commits)
    final = ("closed",) if with_final else ()
    frame = pm.time_in_state(store, status=STATUS, **w, default=default, final=final,
                             sla=timedelta(days=1))
    by_stream = ref.streams(rows(store), w["at"], w["known_at"])
    cut = w["at"] or max((e["occurred_at"] for s in by_stream.values() for e in s),
                         default=None)
    slow = ref.time_in_state(by_stream, STATUS, cut, default, final)
    fast = {(k, s, x): (micros(t), n, c) for k, s, x, t, n, c, _ in frame.rows()}
    assert fast == slow
    assert frame["over_sla"].to_list() == [t > timedelta(days=1) for t in frame["time"]]
    summary = pm.time_in_state(store, status=STATUS, **w, default=default, final=final,
                               summary=True)
    counts = Counter((k, x) for k, _, x in slow)
    assert dict(zip(zip(summary["stream_type"], summary["status"], strict=True),
                    summary["streams"], strict=True)) == counts


def test_a_back_dated_event_lands_in_valid_time_order_from_when_it_was_known(
    tmp_path: Path,
) -> None:
    clock = iter(T0 + timedelta(days=d) for d in (100, 200))
    store = EventStore.create(tmp_path / "s", clock=lambda: next(clock))
    day = timedelta(days=1)
    store.append(pl.DataFrame({"stream_type": ["claim"] * 2, "stream_id": ["c1"] * 2,
                               "event_type": ["Opened", "Closed"],
                               "occurred_at": [T0, T0 + 30 * day]}))
    store.append(pl.DataFrame({"stream_type": ["claim"], "stream_id": ["c1"],
                               "event_type": ["Reviewed"], "occurred_at": [T0 + 10 * day]}))
    now = pm.variants(store)["variant"].to_list()
    before = pm.variants(store, known_at=T0 + timedelta(days=150))["variant"].to_list()
    assert now == [["Opened", "Reviewed", "Closed"]]
    assert before == [["Opened", "Closed"]]
    edges = pm.directly_follows(store, at=T0 + 20 * day)
    assert set(zip(edges["source"], edges["target"], strict=True)) == {
        (pm.START, "Opened"), ("Opened", "Reviewed"), ("Reviewed", pm.END)}
    open_at = pm.durations(store, at=T0 + 20 * day).row(0, named=True)
    assert open_at["open"] and open_at["duration"] == 20 * day and open_at["events"] == 2


def test_streams_sharing_a_hash_are_sorted_by_their_names() -> None:
    """The 64-bit stream hash is only a fast sort key: when two streams collide (forced here:
    every stream gets key 0), the order falls back to the stream names."""
    frame = pl.DataFrame({
        "stream_type": ["t"] * 4, "stream_id": ["b", "a", "b", "a"],
        "event_type": ["x2", "y1", "x1", "y2"],
        "occurred_at": [T0 + timedelta(hours=h) for h in (2, 1, 1, 2)], "position": [1, 2, 3, 4],
    })
    out = sort_events(frame, key=pl.lit(0))
    assert out["stream_id"].to_list() == ["a", "a", "b", "b"]
    assert out["event_type"].to_list() == ["y1", "y2", "x1", "x2"]
    assert out["_stream"].n_unique() == 2


# ----------------------------------------------------------------- pm4py's numbers
@pytest.fixture(scope="module")
def receipt(tmp_path_factory: pytest.TempPathFactory) -> EventStore:
    store = EventStore.create(tmp_path_factory.mktemp("receipt") / "s")
    import_file(store, dataset("08_receipt.xes.gz"), stream_type="application")
    return store


T02, T04 = "T02 Check confirmation of receipt", "T04 Determine confirmation of receipt"


def test_receipt_log_equals_pm4py(receipt: EventStore) -> None:
    """Expected numbers computed once with pm4py 2.7.23.11 on data/08_receipt.xes.gz:
    ``df = pm4py.format_dataframe(pm4py.read_xes(path), case_id="case:concept:name",
    activity_key="concept:name", timestamp_key="time:timestamp")``, then
    ``pm4py.get_variants(df)``, ``pm4py.discover_dfg(df)``, ``pm4py.get_end_activities(df)``,
    ``pm4py.get_all_case_durations(df)`` and
    ``pm4py.discover_performance_dfg(df, perf_aggregation_key="all")``
    (benchmarks/compare_pm4py.py checks every bundled XES log in full)."""
    variants = pm.variants(receipt)
    assert variants.height == 116
    assert variants["streams"].head(5).to_list() == [713, 123, 116, 115, 75]
    assert variants["length"].head(5).to_list() == [6, 6, 1, 6, 6]
    assert variants["variant"][0][-1] == "T10 Determine necessity to stop indication"
    dfg = pm.directly_follows(receipt)
    start, end = pm.start_end(dfg)
    assert start == {"Confirmation of receipt": 1434}
    assert len(end) == 14 and end["T10 Determine necessity to stop indication"] == 828
    assert end["T05 Print and send confirmation of receipt"] == 400
    inner = dfg.filter(~pl.col("source").is_in([pm.START]) & ~pl.col("target").is_in([pm.END]))
    assert inner.height == 99 and inner["count"].sum() == 7143
    edge = inner.filter((pl.col("source") == T02) & (pl.col("target") == T04)).row(0, named=True)
    assert edge["count"] == 1119
    assert edge["median_duration"] == timedelta(seconds=27.648)
    assert abs(edge["mean_duration"] / timedelta(seconds=1) - 26183.46229579982) < 1e-6
    seconds = pm.durations(receipt)["duration"].dt.total_microseconds() / 1e6
    assert seconds.len() == 1434
    assert abs(seconds.sum() - 670056454.4790001) < 1e-3
    assert abs(seconds.median() - 2868.5834999999997) < 1e-6  # type: ignore[operator]
    assert abs(seconds.max() - 23832541.524) < 1e-6  # type: ignore[operator]


def test_top_variants_sum_the_rest_into_one_row(receipt: EventStore) -> None:
    top = pm.variants(receipt, top=3)
    assert top.height == 4 and top["variant"][3] is None
    assert top["streams"].sum() == 1434 and top["variants"][3] == 113
    assert abs(top["share"].sum() - 1.0) < 1e-9


def test_drift_ranks_what_moved(receipt: EventStore) -> None:
    drift = pm.process_drift(receipt, "2011-03-01", "2012-02-01")
    variants = drift.filter(pl.col("kind") == "variant")
    moves = variants["share_change"].abs().to_list()
    assert moves == sorted(moves, reverse=True) and variants["rank"][0] == 1
    assert variants["after"].sum() == 1434
    edges = drift.filter(pl.col("kind") == "edge")
    assert edges.height and edges["median_change"].null_count() < edges.height
    known = pm.process_drift(receipt, "2000-01-01", "2100-01-01", axis="known_at")
    assert known.filter(pl.col("kind") == "variant")["before"].sum() == 0


def test_a_process_log_and_a_view_answer_like_the_store(receipt: EventStore) -> None:
    view = receipt.project(Projection("apps", stream_types=["application"],
                                      fields={"events": r.count()}))
    assert pm.variants(view).equals(pm.variants(receipt))
    assert pm.process_drift(view, "2011-01-01", "2011-06-01").equals(
        pm.process_drift(receipt, "2011-01-01", "2011-06-01"))
    log = pm.read_log(receipt, stream_types="application")
    for at in ("2011-01-01", "2011-06-15", None):
        assert pm.directly_follows(log, at=at).equals(pm.directly_follows(receipt, at=at))
        assert pm.variants(log, at=at).equals(pm.variants(receipt, at=at))


# ----------------------------------------------------------------- bad input
def test_bad_arguments_say_what_is_valid(receipt: EventStore) -> None:
    with pytest.raises(InvalidArgumentError, match="EventStore, a ProjectionView"):
        pm.variants(pl.DataFrame())
    with pytest.raises(InvalidArgumentError, match="top= is None"):
        pm.variants(receipt, top=0)
    with pytest.raises(InvalidArgumentError, match="Polars expression"):
        pm.variants(receipt, where="event_type == 'x'")  # type: ignore[arg-type]
    with pytest.raises(ColumnNotFoundError, match="nope"):
        pm.directly_follows(receipt, where=pl.col("nope") > 1)
    with pytest.raises(InvalidArgumentError, match="non-empty mapping"):
        pm.time_in_state(receipt, status={})
    with pytest.raises(InvalidArgumentError, match="timedelta"):
        pm.time_in_state(receipt, status={"x": "y"}, sla=5)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="axis"):
        pm.process_drift(receipt, "2011-01-01", "2011-02-01", axis="position")
    log = pm.read_log(receipt, known_at="2000-01-01")
    assert log.height == 0 and pm.variants(log).height == 0
    with pytest.raises(InvalidArgumentError, match="read a newer log"):
        pm.variants(log, known_at="2100-01-01")
    with pytest.raises(InvalidArgumentError, match="holds only"):
        pm.variants(pm.read_log(receipt, stream_types="application"), stream_types="other")
