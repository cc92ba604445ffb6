"""Crash torture lane: forks workers that loop over one store operation, SIGKILLs each at a random
moment (0-300 ms after the worker finished its first operation, so that the kill lands in a
later one), then forks a checker that opens, recovers and verifies the store and reports facts.

Run as ``python tests/helpers/torture_worker.py LANE_DIR SEED KILLS OPS`` (OPS: comma-separated of
append, compact, snapshot, export). Prints one JSON line per kill (op, delay, how the worker ended,
and the checker's facts), then ``done``. tests/test_torture.py asserts on those facts.

Why a lane process: starting an interpreter with Polars and pandera costs ~0.7 s of CPU, so 200
kills would take minutes on 2 cores. The lane imports everything once and forks; it never runs a
Polars query itself (a child forked from a process with a busy Polars thread pool can hang), only
its children do.

Every worker appends a line ``ok BATCH_ID SIZE`` to LANE_DIR/ledger only after ``append`` returned,
so the ledger is exactly what a client was told is committed. A kill between the commit point and
the ledger write leaves one committed batch the ledger does not know: the checker adopts it
(``adopt`` line) and reports it, so the test can check there is at most one per kill.
"""

from __future__ import annotations

import importlib
import json
import os
import random
import select
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import pandera.polars  # noqa: F401  (warm: the store validates batches with it)
import polars as pl
from batches import STREAM_TYPES, make_batch

# imported here so that forked workers find them loaded (see _warm_up for the rest)
import eventlab.store.compact
import eventlab.store.scan
import eventlab.store.verify
import eventlab.store.writer  # noqa: F401
from eventlab import EventStore, Projection
from eventlab import reducers as r
from eventlab.projections.export import ReadModel, export
from eventlab.projections.snapshots import SNAPSHOT_DIR
from eventlab.storage.durable import restore_folder
from eventlab.storage.faults import COMMIT_POINTS, FAULT_ENV
from eventlab.store.compact import content_sha256, row_hashes

export_module = sys.modules["eventlab.projections.export"]
OPS = ("append", "compact", "snapshot", "export")
MAX_DELAY = 0.3  # seconds between the worker's marker (first operation done) and its SIGKILL
CHECK_TIMEOUT = 300.0  # seconds
PROJECTION = Projection(
    "batches",
    key=("stream_type", "stream_id"),
    fields={"events": r.count(), "amount": r.sum("amount"), "last_batch": r.last("batch_id")},
)
EXPORTS = {"single": None, "partitioned": "stream_type"}


# ----------------------------------------------------------------------------- workers
class Ledger:
    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def begin(self, batch_id: str, size: int) -> None:
        os.write(self.fd, f"begin {batch_id} {size}\n".encode())  # one write: never partial

    def committed(self, batch_id: str, size: int) -> None:
        os.write(self.fd, f"ok {batch_id} {size}\n".encode())


def _append(store: EventStore, ledger: Ledger, batch_id: str, rng: random.Random,
            most: int = 120) -> None:
    size = rng.randint(1, most)
    ledger.begin(batch_id, size)
    store.append(make_batch(batch_id, size, streams=5, months=rng.randint(1, 4)))
    ledger.committed(batch_id, size)


def work(op: str, lane: Path, tag: str, rng: random.Random, marker: int) -> None:
    """Loop over ``op`` forever (until SIGKILLed)."""
    store = EventStore.open(lane / "store")
    ledger = Ledger(lane / "ledger")
    for i in range(10**9):
        if i == 1:  # one whole operation done: the store grows even on a slow machine
            os.write(marker, b"r")
        batch_id = f"{tag}-{i:04d}"
        if op == "append":
            _append(store, ledger, batch_id, rng)
        elif op == "compact":
            for j in range(rng.randint(1, 3)):
                _append(store, ledger, f"{batch_id}.{j}", rng, most=30)
            store.compact(target_rows=rng.choice([40, 400, 10**6]))
        elif op == "snapshot":
            if rng.random() < 0.5:
                _append(store, ledger, batch_id, rng, most=30)
            store.project(PROJECTION).build_snapshots(every=rng.choice(["1mo", "2w", "1w"]))
        elif op == "export":
            if rng.random() < 0.5:
                _append(store, ledger, batch_id, rng, most=30)
            kind = rng.choice(sorted(EXPORTS))
            export(store, PROJECTION, lane / f"exports-{kind}", partition_by=EXPORTS[kind],
                   full=rng.random() < 0.2)


# ----------------------------------------------------------------------------- checker
def _ledger(path: Path) -> tuple[dict[str, int], set[str]]:
    """Batches the client was told are committed (``ok``, or adopted by an earlier check), and
    the batches begun but never reported (in flight when a worker was killed)."""
    done: dict[str, int] = {}
    begun: set[str] = set()
    for line in path.read_text().splitlines():
        kind, batch_id, size = line.split()
        if kind == "begin":
            begun.add(batch_id)
        else:
            done[batch_id] = int(size)
    return done, begun - set(done)


def _files_on_disk(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in (root / "events").rglob("*") if p.is_file()}


def _sorted(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.select(sorted(frame.columns)).sort("stream_type", "stream_id")


def _snapshot_facts(store: EventStore, facts: dict[str, Any]) -> None:
    view = store.project(PROJECTION)
    facts["snapshots"] = len(list((store.root / SNAPSHOT_DIR).rglob("at-*.parquet")))
    at = pl.col("occurred_at")
    lo, hi = store.scan().select(at.min().alias("lo"), at.max().alias("hi")).collect().row(0)
    points = [None, lo, hi, lo + (hi - lo) / 3, lo + (hi - lo) * 2 / 3]
    facts["snapshot_points_differing"] = [
        str(p) for p in points
        if not view.state(at=p).equals(view.state(at=p, use_snapshots=False))
    ]


def _export_facts(store: EventStore, lane: Path, facts: dict[str, Any]) -> None:
    view = store.project(PROJECTION)
    for kind, parts in EXPORTS.items():
        target = export_module.target_path(lane / f"exports-{kind}", PROJECTION,
                                           [parts] if parts else None)
        state = "absent"
        if not target.exists() and target.with_name(f".{target.name}.old").exists():
            state = "mid-swap (restored by the next export)"
            restore_folder(target)
        if target.exists():
            model = ReadModel.open(target)
            expected = view.state(at_position=model.high_water_position, use_snapshots=False)
            got = model.read().with_columns(pl.col("stream_type").cast(pl.String))
            same = _sorted(got).equals(_sorted(expected))
            state = ("whole" if same else "WRONG") + (" after swap" if "swap" in state else "")
            facts[f"export_{kind}_hwm"] = model.high_water_position
        facts[f"export_{kind}"] = state


def check(op: str, lane: Path, prev: dict[str, Any]) -> dict[str, Any]:
    """Open (recover) and verify the store; compare with the ledger and the previous check."""
    root = lane / "store"
    store = EventStore.open(root)
    report = store.verify()
    facts: dict[str, Any] = {
        "recovered": [a.split()[0] for a in store.recovered],
        "verify_ok": report.ok,
        "findings": [f"{f.kind}: {f.where}" for f in report.findings[:5]],
        "txn_left": sorted(p.name for p in (root / "_txn").iterdir())
        if (root / "_txn").exists() else [],
        "orphans": sorted(_files_on_disk(root) ^ {f.path for f in store.files})[:5],
        "head": store.head,
    }
    events = store.scan().collect()
    positions = events["position"].sort()
    facts["positions_gapless"] = positions.to_list() == list(range(1, store.head + 1))
    stored = dict(events.group_by("batch_id").agg(pl.len()).iter_rows())
    sizes = dict(events.group_by("batch_id").agg(pl.col("batch_size").first()).iter_rows())
    facts["partial"] = sorted(b for b, n in stored.items() if n != sizes[b])
    ledger, in_flight = _ledger(lane / "ledger")
    facts["lost"] = sorted(b for b, n in ledger.items() if stored.get(b) != n)
    facts["unreported"] = sorted(b for b in stored if b not in ledger)
    facts["unreported_not_in_flight"] = sorted(set(facts["unreported"]) - in_flight)
    with open(lane / "ledger", "a") as handle:  # adopt them: the next check knows them
        handle.writelines(f"adopt {b} {stored[b]}\n" for b in facts["unreported"])
    if prev.get("head"):
        before = row_hashes(store.scan(at_position=prev["head"]))
        facts["history_unchanged"] = content_sha256([before]) == prev["content"]
    facts["content"] = content_sha256([row_hashes(store.scan())])
    facts["files"] = len(store.files)
    if op == "snapshot":
        _snapshot_facts(store, facts)
    if op == "export":
        _export_facts(store, lane, facts)
    return facts


# ----------------------------------------------------------------------------- the lane
def _in_child(body: Any, *args: Any) -> int:
    """Fork; the child runs ``body(*args)`` and leaves with os._exit (status 1 on an error)."""
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            body(*args)
        except BaseException:
            traceback.print_exc()
            code = 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    return pid


def _checked(op: str, lane: Path, prev: dict[str, Any]) -> dict[str, Any]:
    read, write = os.pipe()

    def run() -> None:
        os.close(read)
        data = json.dumps(check(op, lane, prev)).encode()
        with os.fdopen(write, "wb") as out:
            out.write(data)

    pid = _in_child(run)
    os.close(write)
    chunks, deadline = [], time.monotonic() + CHECK_TIMEOUT
    with os.fdopen(read, "rb") as handle:
        while select.select([handle], [], [], max(0.0, deadline - time.monotonic()))[0]:
            chunk = os.read(handle.fileno(), 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
        else:  # a hung checker must fail the test, not hang it
            os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    data = b"".join(chunks)
    if status != 0 or not data:
        return {"checker_failed": status}
    facts: dict[str, Any] = json.loads(data)
    return facts


def _setup(lane: Path) -> None:
    store = EventStore.create(lane / "store")
    ledger = Ledger(lane / "ledger")
    store.append(make_batch("base", 3 * len(STREAM_TYPES) * 4))
    ledger.committed("base", 3 * len(STREAM_TYPES) * 4)


def kill_one(
    op: str, lane: Path, tag: str, rng: random.Random, fault: str | None = None
) -> dict[str, Any]:
    """Run a worker of ``op`` and kill it: ``fault`` names a commit point where the worker kills
    itself (in its first commit; the test then knows exactly what recovery must do), else a
    SIGKILL at a random moment after its first whole operation."""
    read, write = os.pipe()
    seed = rng.randrange(2**32)

    def run() -> None:
        os.close(read)
        if fault is not None:
            os.environ[FAULT_ENV] = fault
        work(op, lane, tag, random.Random(seed), write)

    pid = _in_child(run)
    os.close(write)
    delay = rng.uniform(0, MAX_DELAY)
    status = None
    if fault is None:
        ready, _, _ = select.select([read], [], [], 60)
        started = bool(ready) and os.read(read, 1) == b"r"
        if started:
            time.sleep(delay)
    else:
        status = _exit_status(pid, 60)
        started = status is not None
    if status is None:
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
    os.close(read)
    ended = "killed" if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL else (
        f"exited {os.waitstatus_to_exitcode(status)}")
    return {"op": op, "tag": tag, "started": started, "delay": round(delay, 3), "ended": ended,
            "fault": fault, "fault_hit": fault is not None and started and ended == "killed"}


def _exit_status(pid: int, seconds: float) -> int | None:
    """The wait status once ``pid`` exits (it kills itself at its fault point), or None if it
    is still running after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        time.sleep(0.01)
    return None


def _warm_up(lane: Path) -> None:
    """Run every operation once in a child on a scratch store, then import here every module it
    imported lazily (pandera's backends, hypothesis, ...): forked workers start warm."""
    read, write = os.pipe()
    scratch = lane / "warm-up"

    def run() -> None:
        os.close(read)
        before = set(sys.modules)
        _setup(scratch)
        store = EventStore.open(scratch / "store")
        ledger, rng = Ledger(scratch / "ledger"), random.Random(0)
        _append(store, ledger, "warm", rng)
        store.compact(target_rows=40)
        store.project(PROJECTION).build_snapshots(every="1mo")
        for kind, parts in EXPORTS.items():
            export(store, PROJECTION, scratch / kind, partition_by=parts)
        check("export", scratch, {})
        check("snapshot", scratch, {})
        with os.fdopen(write, "w") as out:
            out.write("\n".join(sorted(set(sys.modules) - before)))

    pid = _in_child(run)
    os.close(write)
    with os.fdopen(read) as handle:
        names = handle.read().split()
    os.waitpid(pid, 0)
    for name in names:
        try:
            importlib.import_module(name)
        except Exception:
            continue


def fault_of(k: int, ops: list[str]) -> str | None:
    """Every other round of append and compact kills, the worker kills itself at a commit point
    (cycling through them all), so mid-commit kills do not depend on the machine's speed."""
    op, round_ = ops[k % len(ops)], k // len(ops)
    if op not in ("append", "compact") or round_ % 2 == 0:
        return None
    return COMMIT_POINTS[(round_ // 2) % len(COMMIT_POINTS)]


def lane_main(lane: Path, seed: int, kills: int, ops: list[str]) -> None:
    rng = random.Random(seed)
    _warm_up(lane)
    pid = _in_child(_setup, lane)
    _, status = os.waitpid(pid, 0)
    if status:
        print(json.dumps({"setup_failed": status}), flush=True)
        return
    prev: dict[str, Any] = {}
    for k in range(kills):
        op = ops[k % len(ops)]
        outcome = kill_one(op, lane, f"L{seed}-{k:03d}", rng, fault_of(k, ops))
        facts = _checked(op, lane, prev)
        prev = facts
        print(json.dumps({**outcome, **facts}), flush=True)
    print("done", flush=True)


if __name__ == "__main__":
    _lane, _seed, _kills, _ops = sys.argv[1:5]
    lane_main(Path(_lane), int(_seed), int(_kills), _ops.split(","))
