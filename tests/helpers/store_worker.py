"""A separate process that works on a store, for crash, lock and concurrency tests.

Run as ``python tests/helpers/store_worker.py COMMAND STORE ...``; EVENTLAB_FAULT in the
environment makes the store SIGKILL this process at that point. Commands print one line per
finished step (flushed), so the parent knows exactly what was reported as done.

  append STORE BATCH_ID SIZE          append one make_batch(BATCH_ID, SIZE)
  append-loop STORE PREFIX COUNT      append batches PREFIX-0000.. of varying size; "begin ID"
                                      before each, "ok ID SIZE" after, "ready" after the first
  hold-lock STORE SECONDS             take the writer lock, print "locked", sleep
  compact STORE TARGET_ROWS           store.compact(target_rows=TARGET_ROWS)
  stress-writer STORE WORKER BATCHES STARTFILE [BARRIER WRITERS]
                                      optimistic-concurrency appends to shared streams (the
                                      first batch after a barrier that forces a conflict)
  stress-reader STORE STOPFILE        scan repeatedly until STOPFILE exists; check batches whole
"""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path

import polars as pl
from batches import T0, make_batch, partial_batches

from eventlab import ConcurrencyError, EventStore
from eventlab.storage.lock import writer_lock


def say(*parts: object) -> None:
    print(*parts, flush=True)


def cmd_append(root: str, batch_id: str, size: str) -> None:
    store = EventStore.open(root)
    result = store.append(make_batch(batch_id, int(size)))
    say(json.dumps({"commit": result.commit, "appended": result.appended}))


def cmd_append_loop(root: str, prefix: str, count: str) -> None:
    store = EventStore.open(root)
    for i in range(int(count)):
        size = 1 + (i * 97) % 600
        batch_id = f"{prefix}-{i:04d}"
        say("begin", batch_id)
        store.append(make_batch(batch_id, size))
        say("ok", batch_id, size)
        if i == 0:
            say("ready")  # imports are warm: from now on the loop only commits


def cmd_hold_lock(root: str, seconds: str) -> None:
    with writer_lock(Path(root), timeout=5):
        say("locked")
        time.sleep(float(seconds))


def cmd_compact(root: str, target_rows: str) -> None:
    store = EventStore.open(root)
    result = store.compact(target_rows=int(target_rows))
    say(json.dumps({"commit": result.commit, "added": result.files_added}))


STRESS_STREAMS = [f"shared-{i}" for i in range(6)]


def _versions(store: EventStore, ids: list[str]) -> dict[str, int]:
    store.refresh()
    found = (
        store.scan(stream_types="account", stream_ids=ids)
        .group_by("stream_id").agg(pl.col("version").max()).collect()
    )
    known = dict(zip(found["stream_id"].to_list(), found["version"].to_list(), strict=True))
    return {i: known.get(i, 0) for i in ids}


def _stress_batch(batch_id: str, per_stream: dict[str, int]) -> pl.DataFrame:
    ids = [sid for sid, n in per_stream.items() for _ in range(n)]
    size = len(ids)
    return pl.DataFrame({
        "stream_type": ["account"] * size, "stream_id": ids,
        "event_type": ["Touched"] * size, "occurred_at": [T0] * size,
        "event_id": [f"{batch_id}-{k}" for k in range(size)],
        "batch_id": [batch_id] * size, "batch_size": [size] * size,
    })


def cmd_stress_writer(
    root: str, worker: str, batches: str, startfile: str, barrier: str = "", writers: str = "0"
) -> None:
    """Each batch touches 1-3 shared streams; expected versions come from our own read.

    Prints "ready" once imports are warm, then waits for STARTFILE so that all writers overlap.
    With BARRIER and WRITERS, the first batch of every writer touches the same stream and each
    writer reads its version, then waits until all WRITERS have read it before appending: one
    wins, the others must see a conflict (overlap forced, not hoped for).
    """
    import pandera.polars  # noqa: F401  (warm up before the start line)

    rng = random.Random(int(worker))
    store = EventStore.open(root, lock_timeout=60)
    _versions(store, STRESS_STREAMS)
    say("ready")
    while not Path(startfile).exists():
        time.sleep(0.005)
    for k in range(int(batches)):
        forced = k == 0 and barrier != ""
        ids = STRESS_STREAMS[:1] if forced else rng.sample(STRESS_STREAMS, rng.randint(1, 3))
        batch_id = f"w{worker}-{k:03d}"
        batch = _stress_batch(batch_id, {sid: rng.randint(1, 3) for sid in ids})
        while True:
            expected = {("account", sid): v for sid, v in _versions(store, ids).items()}
            if forced:
                _wait_for_all(Path(barrier), worker, int(writers))
                forced = False
            try:
                result = store.append(batch, expected_version=expected)
            except ConcurrencyError:
                say("conflict", batch_id)
                continue
            say("ok", batch_id, result.appended, result.first_position, result.last_position)
            break


def _wait_for_all(barrier: Path, worker: str, writers: int) -> None:
    (barrier / worker).touch()
    while sum(1 for _ in barrier.iterdir()) < writers:
        time.sleep(0.005)


def cmd_stress_reader(root: str, stopfile: str) -> None:
    store = EventStore(Path(root))  # a plain reader: no recovery, never takes the lock
    checks = seen_partial = 0
    while True:
        stop = Path(stopfile).exists()
        store.refresh()
        frame = store.scan().select("batch_id", "batch_size").collect()
        checks += 1
        if frame.height:
            bad = partial_batches(frame)
            seen_partial += bad.height
            for row in bad.iter_rows(named=True):
                say("partial", row["batch_id"], row["rows"], row["size"])
        if stop:
            break
        time.sleep(0.02)  # leave the CPU to the writers (CI has 2 cores)
    say("checks", checks, "partial", seen_partial, "rows", frame.height)


COMMANDS = {
    "append": cmd_append, "append-loop": cmd_append_loop, "hold-lock": cmd_hold_lock,
    "compact": cmd_compact, "stress-writer": cmd_stress_writer,
    "stress-reader": cmd_stress_reader,
}

if __name__ == "__main__":
    COMMANDS[sys.argv[1]](*sys.argv[2:])
