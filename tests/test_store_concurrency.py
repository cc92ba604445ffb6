"""One writer at a time across processes; readers never block and never see a partial batch;
concurrent writers with optimistic concurrency lose nothing and duplicate nothing."""

from __future__ import annotations

import signal
from pathlib import Path

import polars as pl
import pytest
from helpers.batches import make_batch, partial_batches
from helpers.procs import start_worker, wait_for_line

from eventlab import EventStore, LockTimeoutError

WRITERS = 4
BATCHES = 8


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "store"
    EventStore.create(path).append(make_batch("base", 24))
    return path


def test_second_writer_times_out_naming_the_holder_while_readers_go_on(root: Path) -> None:
    holder = start_worker("hold-lock", root, 60)
    try:
        wait_for_line(holder, "locked")
        store = EventStore.open(root, lock_timeout=0.5)  # open skips recovery, does not wait
        with pytest.raises(LockTimeoutError) as caught:
            store.append(make_batch("blocked", 6))
        message = str(caught.value)
        assert f"pid {holder.pid} since" in message
        assert "lock_timeout=" in message and "Readers are not affected" in message
        assert isinstance(caught.value, TimeoutError)

        # readers: a fresh store, scan and info, all while the lock is held
        reader = EventStore.open(root, lock_timeout=0.2)
        assert reader.scan().collect().height == 24
        assert reader.info().events == 24
        assert reader.verify().ok
        with pytest.raises(LockTimeoutError):
            reader.compact(target_rows=10)
        assert holder.poll() is None, "the lock holder ended before the readers finished"
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.communicate(timeout=10)
    # the kernel released the dead holder's lock: the next writer goes ahead
    result = store.append(make_batch("after", 6))
    assert (result.first_position, result.last_position) == (25, 30)
    assert store.scan().filter(pl.col("batch_id") == "blocked").collect().height == 0


def test_concurrent_writers_and_a_reader(root: Path) -> None:
    """4 writer processes append to 6 shared streams with expected versions from their own
    reads, retrying on ConcurrencyError, while a reader scans continuously."""
    stop, start, barrier = root.parent / "stop", root.parent / "start", root.parent / "barrier"
    barrier.mkdir()
    reader = start_worker("stress-reader", root, stop)
    writers = [start_worker("stress-writer", root, w, BATCHES, start, barrier, WRITERS)
               for w in range(WRITERS)]
    for proc in writers:
        wait_for_line(proc, "ready")
    start.touch()  # all writers are warm: they start appending together
    outputs = []
    for proc in writers:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        outputs.append(out)
    stop.touch()
    reader_out, err = reader.communicate(timeout=60)
    assert reader.returncode == 0, err

    lines = [line.split() for out in outputs for line in out.splitlines()]
    ok = {parts[1]: int(parts[2]) for parts in lines if parts[0] == "ok"}
    conflicts = sum(1 for parts in lines if parts[0] == "conflict")
    assert len(ok) == WRITERS * BATCHES

    store = EventStore.open(root)
    shared = store.scan(stream_types="account").filter(pl.col("batch_id").str.starts_with("w"))
    events = shared.collect().sort("position")
    stored = events.group_by("batch_id").agg(pl.len().alias("rows"))
    assert dict(stored.iter_rows()) == ok, "a reported batch is missing, duplicated or partial"
    assert partial_batches(events).height == 0

    everything = store.scan().select("position", "stream_type", "stream_id", "version").collect()
    assert everything["position"].sort().to_list() == list(range(1, store.head + 1))
    gaps = everything.sort("position").with_columns(
        expected=pl.int_range(1, pl.len() + 1).over("stream_type", "stream_id")
    ).filter(pl.col("version") != pl.col("expected"))
    assert gaps.height == 0
    assert store.verify().ok

    *partials, summary = reader_out.splitlines()
    assert partials == [], partials
    _, checks, _, partial, _, rows = summary.split()
    assert int(partial) == 0 and int(checks) >= 2
    assert int(rows) == store.head  # its last scan ran after all writers finished
    # the writers really overlapped: after the barrier all four held the same version of
    # shared-0, one committed first, so each of the other three met at least one conflict
    first_conflicts = {parts[1] for parts in lines
                       if parts[0] == "conflict" and parts[1].endswith("-000")}
    assert len(first_conflicts) >= WRITERS - 1 and conflicts >= WRITERS - 1
