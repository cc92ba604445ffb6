"""Valid-time order (issue 10 item 1): a valid-time question is answered by the latest fact in
valid time at or before T, ties broken by position; ``known_at`` limits which facts are known.

The scenario of the outside trial: an incident queued in 2011-03, closed in 2011-11 and again in
2012-05, then a back-dated "Queued" that occurred in 2011-06 recorded after all of them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from eventlab import EventStore, Projection, PythonFold
from eventlab import reducers as r
from eventlab.errors import ValidationError

RECORDED = [datetime(2013, 1, 1, tzinfo=UTC), datetime(2013, 2, 1, tzinfo=UTC)]
STATUS = {"Queued": "queued", "Accepted": "accepted", "Closed": "closed"}
INCIDENTS = Projection(
    "incidents",
    fields={
        "status": r.status(STATUS),
        "last_event": r.last("event_type"),
        "first_event": r.first("event_type"),
        "recorded_last": r.last("event_type", order="recorded"),
        "events": r.count(),
    },
)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def incident(types: list[str], times: list[str], stream_id: str = "INC-1") -> pl.DataFrame:
    return pl.DataFrame({
        "stream_type": "incident",
        "stream_id": stream_id,
        "event_type": types,
        "occurred_at": [utc(t) for t in times],
    })


@pytest.fixture
def backdated(tmp_path: Path) -> EventStore:
    clock = iter(RECORDED)
    store = EventStore.create(tmp_path / "s", clock=lambda: next(clock))
    store.append(incident(["Accepted", "Closed", "Closed"],
                          ["2011-03-01", "2011-11-15", "2012-05-02"]))
    store.append(incident(["Queued"], ["2011-06-10"]))  # back-dated: recorded last
    return store


def one(frame: pl.DataFrame, column: str) -> object:
    assert frame.height == 1
    return frame[column][0]


def test_backdated_event_does_not_win_by_commit_order(backdated: EventStore) -> None:
    view = backdated.project(INCIDENTS)
    now, then = view.state(), view.state(at="2012-01-01")
    assert (one(now, "status"), one(now, "last_event")) == ("closed", "Closed")
    assert (one(then, "status"), one(then, "last_event")) == ("closed", "Closed")
    assert one(view.state(at="2011-08-01"), "status") == "queued"  # the back-dated fact
    assert one(now, "first_event") == "Accepted"
    assert one(view.state(at="2011-05-01"), "first_event") == "Accepted"


def test_commit_order_stays_available_when_asked_for(backdated: EventStore) -> None:
    view = backdated.project(INCIDENTS)
    assert one(view.state(), "recorded_last") == "Queued"
    assert one(view.state(known_at=RECORDED[0]), "recorded_last") == "Closed"


def test_known_at_limits_the_facts(backdated: EventStore) -> None:
    view = backdated.project(INCIDENTS)
    before = view.state(at="2011-08-01", known_at=RECORDED[0])
    after = view.state(at="2011-08-01", known_at=RECORDED[1])
    assert (one(before, "status"), one(after, "status")) == ("accepted", "queued")


def test_ties_in_valid_time_are_broken_by_position(tmp_path: Path) -> None:
    store = EventStore.create(tmp_path / "s")
    store.append(incident(["Closed", "Queued"], ["2011-01-01", "2011-01-01"]))
    store.append(incident(["Accepted"], ["2011-01-01"]))
    view = store.project(INCIDENTS)
    state = view.state()
    assert (one(state, "last_event"), one(state, "first_event")) == ("Accepted", "Closed")
    store.append(incident(["Queued"], ["2010-12-31"]))
    state = view.state()
    assert (one(state, "last_event"), one(state, "first_event")) == ("Accepted", "Queued")


def test_snapshot_below_a_backdated_event(tmp_path: Path) -> None:
    """The snapshot holds 2011-11 "Closed"; the back-dated "Queued" (2011-06, recorded later)
    lies below it in valid time and must not win when merged on top of it."""
    clock = iter(RECORDED)
    store = EventStore.create(tmp_path / "s", clock=lambda: next(clock))
    store.append(incident(["Accepted", "Closed"], ["2011-03-01", "2011-11-15"]))
    view = store.project(INCIDENTS)
    snapshot = view.snapshot(at="2012-01-01")
    store.append(incident(["Queued"], ["2011-06-10"]))
    with_snapshot = view.state(at="2012-02-01")
    assert with_snapshot.equals(view.state(at="2012-02-01", use_snapshots=False))
    assert one(with_snapshot, "status") == "closed"
    assert one(with_snapshot, "events") == 3
    assert snapshot.path.exists()  # it was there to be used
    built = view.build_snapshots(every="1mo", progress=False)
    assert one(view.state(at="2011-08-01"), "status") == "queued"
    assert one(view.state(at=built[-1].at), "status") == "closed"


def test_history_is_in_valid_time_order(backdated: EventStore) -> None:
    trail = backdated.project(INCIDENTS).history()
    assert trail["occurred_at"].is_sorted()
    assert trail["status"].to_list() == ["accepted", "queued", "closed", "closed"]
    assert trail["last_event"][-1] == "Closed"
    # as of 2011-06-10 the back-dated Queued (position 4) is the last recorded fact, and stays so
    assert trail["recorded_last"].to_list() == ["Accepted", "Queued", "Queued", "Queued"]


def test_history_in_recorded_order_when_asked(backdated: EventStore) -> None:
    trail = backdated.project(INCIDENTS).history(order="recorded")
    assert trail["position"].to_list() == [1, 2, 3, 4]
    # after the 4th event the store knows all four: the valid-time answer is still "closed"
    assert trail["status"].to_list() == ["accepted", "closed", "closed", "closed"]
    assert trail["recorded_last"].to_list() == ["Accepted", "Closed", "Closed", "Queued"]
    with pytest.raises(ValidationError, match="order"):
        backdated.project(INCIDENTS).history(order="commit")


def test_timeline_and_changes_use_valid_time(backdated: EventStore) -> None:
    view = backdated.project(INCIDENTS)
    points = ["2011-08-01", "2012-01-01", "2012-06-01"]
    line = view.timeline(points=points)
    assert line["status"].to_list() == ["queued", "closed", "closed"]
    assert line["last_event"].to_list() == ["Queued", "Closed", "Closed"]
    for point in points:
        assert line.filter(pl.col("at") == utc(point)).drop("at").equals(view.state(at=point))
    moved = view.changes("2011-08-01", "2012-01-01")
    assert moved.changed["status_after"].to_list() == ["closed"]
    learned = view.changes(RECORDED[0], RECORDED[1], axis="known_at", at="2012-01-01")
    assert sorted(learned.changed["changed_columns"][0]) == ["events", "recorded_last"]
    assert learned.changed["status_after"].to_list() == ["closed"]


def test_python_fold_steps_in_valid_time_order(backdated: EventStore) -> None:
    latest = PythonFold("latest", init=dict, step=lambda s, e: {"type": e["event_type"]})
    recorded = PythonFold("latest", init=dict, step=lambda s, e: {"type": e["event_type"]},
                          order="recorded")
    assert one(backdated.project(latest).state(), "type") == "Closed"
    assert one(backdated.project(recorded).state(), "type") == "Queued"
    assert backdated.project(latest).history()["occurred_at"].is_sorted()


def test_unknown_order_is_refused() -> None:
    with pytest.raises(ValidationError, match="order must be 'valid' or 'recorded'"):
        r.last("event_type", order="commit")  # type: ignore[arg-type]


def test_toml_spec_takes_order(tmp_path: Path, backdated: EventStore) -> None:
    spec = tmp_path / "p.toml"
    spec.write_text("""
[projections.p]
[projections.p.fields]
latest = { reducer = "last", column = "event_type" }
recorded = { reducer = "last", column = "event_type", order = "recorded" }
""")
    state = backdated.project(spec, name="p").state()
    assert (one(state, "latest"), one(state, "recorded")) == ("Closed", "Queued")


def test_many_streams_split_over_runs_agree(tmp_path: Path) -> None:
    """Back-dated events in many streams, over several unsorted commits (several file runs)."""
    store = EventStore.create(tmp_path / "s")
    base = utc("2020-01-01")
    ids = [f"s{i}" for i in range(6)]
    for batch in range(3):
        frame = pl.DataFrame({
            "stream_type": "incident",
            "stream_id": ids * 2,
            "event_type": ["Queued", "Closed"] * 6,
            "occurred_at": [base + timedelta(days=30 - 10 * batch + i) for i in range(12)],
        })
        store.append(frame.reverse())
    full = store.project(INCIDENTS).state()
    events = store.scan().collect().sort("occurred_at", "position")
    expected = events.group_by("stream_id").agg(pl.col("event_type").last()).sort("stream_id")
    assert full["last_event"].to_list() == expected["event_type"].to_list()


def test_runs_in_valid_order_take_the_cheap_path_and_back_dated_ones_do_not(
    tmp_path: Path,
) -> None:
    """The fold picks with last() only on runs whose streams are in valid-time order (checked
    once per immutable file); a back-dated event, across files or inside one, turns it off."""
    store = EventStore.create(tmp_path / "s")
    store.append(incident(["Accepted", "Closed"], ["2011-03-01", "2011-11-15"]))
    store.append(incident(["Closed"], ["2012-05-02"], stream_id="INC-2"))
    assert store.scan_partitions().valid_order == [True]
    frames, rows = store.scan_partitions()  # still unpacks as (frames, rows)
    assert (len(frames), rows) == (1, 3)
    store.append(incident(["Queued"], ["2011-06-10"]))  # back-dated across files
    assert store.scan_partitions().valid_order == [False]
    state = store.project(INCIDENTS).state()
    assert one(state.filter(pl.col("stream_id") == "INC-1"), "status") == "closed"
    inside = EventStore.create(tmp_path / "t")
    inside.append(incident(["Closed", "Queued"], ["2011-11-15", "2011-06-10"]))  # one file
    assert inside.scan_partitions().valid_order == [False]
    assert one(inside.project(INCIDENTS).state(), "status") == "closed"
