"""Atomic batch commit under SIGKILL: a real writer process dies at each injection point
(EVENTLAB_FAULT) or at a random moment; the store then shows the whole batch or nothing, no
orphan file stays under STORE/events/ (other engines read that folder directly), _txn/ is empty,
and the next append continues with gapless positions."""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path

import duckdb
import polars as pl
import pytest
from helpers.batches import make_batch, partial_batches
from helpers.procs import (
    FAULT_POINTS,
    files_on_disk,
    killed,
    run_worker,
    start_worker,
    txn_leftovers,
    wait_for_line,
)

from eventlab import EventStore

BATCH = 48  # 3 stream types x 4 months = 12 files: mid_publish leaves some published, some not


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
    """What an engine reading STORE/events/ directly sees."""
    query = (
        f"select count(*) from read_parquet('{root}/events/**/*.parquet', "
        "hive_partitioning=true, union_by_name=true)"
    )
    ((count,),) = duckdb.sql(query).fetchall()
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

    # the log-based view never shows a partial batch, even before recovery
    assert partial_batches(EventStore(base).scan().collect()).height == 0
    leftover = files_on_disk(base) - before
    # published-but-uncommitted files are really there before recovery (else: vacuous test)
    assert len(leftover) == {"mid_publish": 1, "after_publish": 12, "after_commit": 12}.get(
        point, 0
    )

    store = EventStore.open(base)
    events = assert_consistent(store)
    stored = events.filter(pl.col("batch_id") == "crash").height
    txn_actions = [a.split()[0] for a in store.recovered]
    if point == "after_commit":
        assert stored == BATCH
        assert txn_actions == ["completed"]
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


def test_recovery_removes_a_log_temp_file_of_the_killed_writer(base: Path) -> None:
    """A kill between writing _log/.tmp-<txn>.json and linking it must not leave the temp file."""
    assert killed(run_worker("append", base, "crash", BATCH, fault="after_publish"))
    (txn,) = txn_leftovers(base)
    (base / "_log" / f".tmp-{txn}.json").write_text("{}")
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
        done = [line.split() for line in (first + out).splitlines() if line.startswith("ok ")]
        assert len(done) >= 1
        reported.update({batch_id: int(size) for _, batch_id, size in done})

        store = EventStore.open(root)
        events = assert_consistent(store)
        stored = events.group_by("batch_id").agg(pl.len()).sort("batch_id")
        stored_ids = set(stored["batch_id"].to_list())
        assert set(reported) <= stored_ids, "a batch reported as committed is missing"
        assert len(stored_ids - set(reported)) <= 1, "more than the in-flight batch appeared"
        assert folder_count(root) == store.head
    assert store.append(make_batch("final", 5)).first_position == store.head - 4
