"""Atomic batch commit under SIGKILL: a real writer process dies at each injection point
(EVENTLAB_FAULT) or at a random moment. Then, before any eventlab process opens the store again,
DuckDB and pyarrow reading STORE/events/ directly count exactly the events eventlab's readers
see (a killed writer never leaves part of a batch, or an uncommitted file, where other engines
look); after recovery the store shows the whole batch or nothing, _txn/ is empty, and the next
append continues with gapless positions."""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.dataset as ds
import pytest
from helpers.batches import make_batch, partial_batches
from helpers.procs import (
    FAULT_POINTS,
    ROLLED_FORWARD,
    files_on_disk,
    killed,
    run_worker,
    start_worker,
    txn_leftovers,
    wait_for_line,
)

from eventlab import EventStore

BATCH = 48  # 3 stream types x 4 months = 12 files: mid_publish links some, not others


def assert_consistent(store: EventStore) -> pl.DataFrame:
    """Log, folder and events agree; returns all events sorted by position."""
    root = store.root
    assert files_on_disk(root) == {f.path for f in store.files}, "orphan or missing file"
    assert txn_leftovers(root) == []
    events = store.scan().collect().sort("position")
    assert events["position"].to_list() == list(range(1, store.head + 1))
    assert partial_batches(events).height == 0
    versions = events.with_columns(
        expected=pl.int_range(1, pl.len() + 1).over("stream_type", "stream_id")
    )
    assert (versions["version"] == versions["expected"]).all()
    report = store.verify()
    assert report.ok, report.findings
    return events


def folder_count(root: Path) -> int:
    """What an engine reading STORE/events/ directly sees (DuckDB; pyarrow must agree)."""
    query = (
        f"select count(*) from read_parquet('{root}/events/**/*.parquet', "
        "hive_partitioning=true, union_by_name=true)"
    )
    ((count,),) = duckdb.sql(query).fetchall()
    rows = ds.dataset(root / "events", format="parquet", partitioning="hive").count_rows()
    assert rows == count, f"pyarrow counts {rows}, DuckDB {count}"
    return int(count)


@pytest.fixture
def base(tmp_path: Path) -> Path:
    root = tmp_path / "store"
    EventStore.create(root).append(make_batch("base", 30))
    return root


@pytest.mark.parametrize("point", FAULT_POINTS)
def test_killed_append_shows_whole_batch_or_nothing(base: Path, point: str) -> None:
    before = files_on_disk(base)
    result = run_worker("append", base, "crash", BATCH, fault=point)
    assert killed(result), result.stderr

    # before anyone recovers: other engines see exactly what eventlab's readers see
    reader = EventStore(base)  # a reader: no lock, no recovery
    assert partial_batches(reader.scan().collect()).height == 0
    assert folder_count(base) == reader.head == (30 + BATCH if point == "after_switch" else 30)
    assert files_on_disk(base) - before == (
        {f.path for f in reader.files} - before if point == "after_switch" else set()
    )
    staged = txn_leftovers(base)
    assert len(staged) == (0 if point == "before_stage" else 1), "the kill was not mid-commit"

    store = EventStore.open(base)
    events = assert_consistent(store)
    stored = events.filter(pl.col("batch_id") == "crash").height
    txn_actions = [a.split()[0] for a in store.recovered]
    if point in ROLLED_FORWARD:  # the log entry exists: recovery publishes the commit
        assert (stored, txn_actions) == (BATCH, ["completed"])
    elif point == "after_switch":  # published: only the staging folder was left
        assert (stored, txn_actions) == (BATCH, [])
    else:
        assert stored == 0
        assert txn_actions == ([] if point == "before_stage" else ["rolled"])
    assert folder_count(base) == store.head

    # the client cannot know whether the batch landed: retrying it is safe (idempotent ids)
    retry = store.append(make_batch("crash", BATCH))
    assert (retry.appended, retry.skipped) == ((0, BATCH) if stored else (BATCH, 0))
    result = store.append(make_batch("after", 9))
    assert result.first_position == events.height + retry.appended + 1
    assert_consistent(store)
    assert folder_count(base) == store.head


def test_recovery_removes_a_log_temp_file_of_the_killed_writer(base: Path) -> None:
    """A kill while the log entry is still a temporary file must not leave that file."""
    assert killed(run_worker("append", base, "crash", BATCH, fault="after_stage"))
    (base / "_log" / ".00000000000000000002.json.0123456789ab.tmp").write_text("{}")
    store = EventStore.open(base)
    assert sorted(p.name for p in (base / "_log").iterdir()) == [
        "00000000000000000001.json"
    ]
    assert_consistent(store)


def test_writer_killed_at_random_moments(tmp_path: Path) -> None:
    """Kill a writer appending many multi-partition batches at random moments, 3 times."""
    root = tmp_path / "store"
    EventStore.create(root)
    rng = random.Random(20240601)
    reported: dict[str, int] = {}
    for round_ in range(3):
        proc = start_worker("append-loop", root, f"r{round_}", 500)
        first = wait_for_line(proc, "ready")
        time.sleep(rng.uniform(0.05, 0.8))
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        lines = [line.split() for line in (first + out).splitlines()]
        done = [parts for parts in lines if parts[0] == "ok"]
        begun = [parts[1] for parts in lines if parts[0] == "begin"]
        assert len(done) >= 1
        reported.update({batch_id: int(size) for _, batch_id, size in done})
        in_flight = {begun[-1]} - set(reported)  # begun, never reported: killed in its commit
        assert folder_count(root) == EventStore(root).head, "other engines disagree before recovery"

        store = EventStore.open(root)
        events = assert_consistent(store)
        stored = events.group_by("batch_id").agg(pl.len()).sort("batch_id")
        stored_ids = set(stored["batch_id"].to_list())
        assert set(reported) <= stored_ids, "a batch reported as committed is missing"
        unreported = stored_ids - set(reported)
        assert unreported <= in_flight, "a batch that was never begun appeared"
        reported.update(dict.fromkeys(unreported, 0))  # adopted: the next round knows it
        assert folder_count(root) == store.head
    assert store.append(make_batch("final", 5)).first_position == store.head - 4
