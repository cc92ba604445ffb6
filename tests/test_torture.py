"""Crash torture: writer processes SIGKILLed at random moments during append, compact, snapshot
builds and export; after every kill the store is opened (recovery) and verified.

Each lane (tests/helpers/torture_worker.py) owns one store and cycles through the operations; the
lanes run in parallel. After each kill the lane's checker reports facts, asserted here:

* ``EventStore.open`` + ``verify()`` find nothing wrong; no ``_txn/`` leftover; no file under
  ``events/`` the log does not list (engines reading the folder see no partial batch);
* positions are exactly 1..head; no batch is partial; every batch the worker was told is
  committed (its ledger) is stored whole; at most one committed batch per kill is unknown to the
  ledger (killed between the commit point and the ledger line);
* events committed before the kill are unchanged (content hash), compaction included;
* snapshots: ``state()`` with snapshots equals ``state()`` without, at 5 valid times;
* exports: each read model equals a full fold at its recorded high-water position (so it is
  the old or the new one, never a mix).

``make test`` runs >= 200 kills; ``make torture`` (EVENTLAB_TORTURE_SCALE=10) runs 10x more. A
summary with the counts goes to test-artifacts/torture-summary.json.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from helpers.procs import ROOT, worker_env

from eventlab.storage.faults import COMMIT_POINTS

LANE = Path(__file__).with_name("helpers") / "torture_worker.py"
LANES = 3  # 2 cores: lanes sleep (random delays) and wait on fsync, so 3 keep both busy
OPS = ("append", "compact", "snapshot", "export")
SCALE = int(os.environ.get("EVENTLAB_TORTURE_SCALE", "1"))
KILLS_PER_LANE = 72 * SCALE  # 3 lanes x 72 = 216 kills, 54 per operation
SUMMARY = ROOT / "test-artifacts" / "torture-summary.json"
#: what opening the store must report after a worker killed itself at each commit point
EXPECTED_RECOVERY = {
    "before_stage": [], "after_stage": ["rolled"], "after_commit": ["completed"],
    "mid_publish": ["completed"], "after_publish": ["completed"], "after_switch": [],
}


def run_lanes(tmp_path: Path, kills: int, ops: tuple[str, ...]) -> list[dict[str, Any]]:
    """Run the lanes in parallel; their output goes to files (a full pipe would block them)."""
    procs = []
    for lane in range(LANES):
        folder = tmp_path / f"lane{lane}"
        folder.mkdir()
        with open(folder / "out.txt", "w") as out, open(folder / "err.txt", "w") as err:
            procs.append((folder, subprocess.Popen(
                [sys.executable, str(LANE), str(folder), str(1000 + lane), str(kills),
                 ",".join(ops)],
                env=worker_env(), cwd=LANE.parent, stdout=out, stderr=err,
            )))
    results: list[dict[str, Any]] = []
    for folder, proc in procs:
        proc.wait(timeout=150 * SCALE + 240)
        out, err = (folder / "out.txt").read_text(), (folder / "err.txt").read_text()
        assert proc.returncode == 0, err[-4000:]
        lines = out.splitlines()
        assert lines and lines[-1] == "done", (out[-2000:], err[-4000:])
        results += [json.loads(line) for line in lines[:-1]]
    return results


def problems(kill: dict[str, Any]) -> list[str]:
    """Every broken invariant of one kill (empty when all hold)."""
    if "checker_failed" in kill:
        return ["the checker crashed (see stderr)"]
    checks = {
        "worker was killed while running": kill["started"] and kill["ended"] == "killed",
        "verify passes": kill["verify_ok"],
        "no _txn leftover after open": kill["txn_left"] == [],
        "no unlisted or missing file under events/": kill["orphans"] == [],
        "positions are 1..head": kill["positions_gapless"],
        "no partial batch": kill["partial"] == [],
        "no reported batch lost": kill["lost"] == [],
        "only the in-flight batch may be unreported": len(kill["unreported"]) <= 1
        and kill["unreported_not_in_flight"] == [],
        "earlier events unchanged": kill.get("history_unchanged", True),
        "snapshots change no state": kill.get("snapshot_points_differing", []) == [],
        "single-file export is old or new": "WRONG" not in kill.get("export_single", ""),
        "partitioned export is old or new": "WRONG" not in kill.get("export_partitioned", ""),
    }
    return [name for name, ok in checks.items() if not ok]


def summarize(kills: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    by_op: dict[str, Counter[str]] = {op: Counter() for op in OPS}
    for kill in kills:
        counts = by_op[kill["op"]]
        counts["kills"] += 1
        counts["invariant failures"] += bool(problems(kill))
        for action in kill.get("recovered", []):
            counts[f"recovery: {action}"] += 1
        counts["committed but unreported (adopted)"] += len(kill.get("unreported", []))
        if kill.get("fault"):
            counts[f"killed itself at {kill['fault']}"] += 1
        for kind in ("single", "partitioned"):
            if f"export_{kind}" in kill:
                counts[f"export {kind}: {kill[f'export_{kind}']}"] += 1
        if kill["op"] == "snapshot":
            counts["snapshot files present"] += kill.get("snapshots", 0) > 0
    return {"kills": len(kills), "seconds": round(seconds, 1), "lanes": LANES,
            "by_operation": {op: dict(sorted(c.items())) for op, c in by_op.items()}}


@pytest.mark.slow
@pytest.mark.timeout(600 * SCALE)
def test_random_kills_never_break_the_store(tmp_path: Path) -> None:
    started = time.perf_counter()
    kills = run_lanes(tmp_path, KILLS_PER_LANE, OPS)
    summary = summarize(kills, time.perf_counter() - started)
    SUMMARY.parent.mkdir(parents=True, exist_ok=True)
    SUMMARY.write_text(json.dumps(summary, indent=1))

    assert len(kills) == LANES * KILLS_PER_LANE >= 200
    broken = [(k["op"], k["tag"], problems(k)) for k in kills if problems(k)]
    assert broken == [], broken[:10]
    by_op = summary["by_operation"]
    # the kills really hit writers mid-commit (else the invariants above would be vacuous): a
    # quarter of them are at commit points (tests/helpers/torture_worker.py fault_of), each
    # with exactly the recovery its point requires, whatever the machine's speed
    faulted = [k for k in kills if k["fault"] is not None]
    rule = [k for k in range(KILLS_PER_LANE)  # torture_worker.fault_of: odd rounds of these ops
            if OPS[k % len(OPS)] in ("append", "compact") and (k // len(OPS)) % 2 == 1]
    assert len(faulted) == LANES * len(rule) > 0
    assert all(k["fault_hit"] for k in faulted), [k for k in faulted if not k["fault_hit"]][:3]
    wrong = [(k["tag"], k["fault"], k["recovered"]) for k in faulted
             if k["recovered"] != EXPECTED_RECOVERY[k["fault"]]]
    assert wrong == []
    assert {k["fault"] for k in faulted} == set(COMMIT_POINTS)
    assert by_op["snapshot"].get("snapshot files present", 0) >= 10, by_op
    exported = [k for k in kills if k["op"] == "export"]
    assert sum("whole" in k.get("export_single", "") for k in exported) >= 10, by_op
    assert sum("whole" in k.get("export_partitioned", "") for k in exported) >= 10, by_op
    assert max(k["head"] for k in kills) > 300  # the stores kept growing through the kills


def test_the_checker_sees_each_broken_invariant(tmp_path: Path) -> None:
    """The lane's checker is what the torture test trusts: break each invariant by hand and
    check that it is reported (else the torture test could not fail)."""
    import polars as pl
    import pyarrow.parquet as pq

    sys.path.insert(0, str(LANE.parent))
    import torture_worker as tw

    lane = tmp_path / "lane"
    tw._setup(lane)
    store = tw.EventStore.open(lane / "store")
    view = store.project(tw.PROJECTION)
    view.build_snapshots(every="1mo")
    tw.export(store, tw.PROJECTION, lane / "exports-single")
    clean = tw.check("export", lane, {})
    assert problems({**clean, "op": "export", "started": True, "ended": "killed"}) == []
    assert clean["export_single"] == "whole"

    with open(lane / "ledger", "a") as ledger:
        ledger.write("ok ghost 5\n")  # reported as committed, never stored
    data_file = store.files[0].path
    copy = (lane / "store" / data_file).with_name("injected.parquet")
    copy.write_bytes((lane / "store" / data_file).read_bytes())  # an unlisted file
    model = lane / "exports-single" / "batches.parquet"
    meta = {k.decode(): v.decode() for k, v in pq.read_metadata(model).metadata.items()}
    pl.read_parquet(model).with_columns(pl.col("events") + 1).write_parquet(model, metadata=meta)
    snapshot = sorted((lane / "store" / "_snapshots").rglob("at-*.parquet"))[-1]
    pl.read_parquet(snapshot).with_columns(pl.col("events") * 0).write_parquet(snapshot)

    broken = tw.check("export", lane, clean)
    found = set(problems({**broken, "op": "export", "started": True, "ended": "killed"}))
    assert {"verify passes", "no unlisted or missing file under events/", "no reported batch lost",
            "single-file export is old or new"} <= found, broken
    snap = tw.check("snapshot", lane, clean)
    assert snap["snapshot_points_differing"], snap
    copy.unlink()
    path = lane / "store" / data_file
    pl.read_parquet(path).slice(1).write_parquet(path)  # a committed event destroyed
    gone = tw.check("append", lane, clean)
    assert {"positions are 1..head", "no partial batch", "earlier events unchanged"} <= set(
        problems({**gone, "op": "append", "started": True, "ended": "killed"})), gone


EXPORT_SCRIPT = """
import sys
sys.path.insert(0, "tests/helpers")
from torture_worker import PROJECTION
from eventlab import EventStore
from eventlab.projections.export import export
export(EventStore.open(sys.argv[1]), PROJECTION, sys.argv[2], partition_by="stream_type")
"""


def test_a_partitioned_export_killed_mid_swap_shows_a_whole_read_model(tmp_path: Path) -> None:
    """The folder swap is one atomic exchange (renameat2): a kill between its steps leaves
    the new read model in place, never no read model (readers of the folder see old or new)."""
    import polars as pl

    sys.path.insert(0, str(LANE.parent))
    import torture_worker as tw

    lane = tmp_path / "lane"
    tw._setup(lane)
    store = tw.EventStore.open(lane / "store")
    out = lane / "exports"
    tw.export(store, tw.PROJECTION, out, partition_by="stream_type")
    store.append(tw.make_batch("more", 30))
    env = {**worker_env(), "EVENTLAB_FAULT": "export_mid_swap"}
    done = subprocess.run([sys.executable, "-c", EXPORT_SCRIPT, str(lane / "store"), str(out)],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == -9, done.stderr
    target = out / "batches"
    assert not target.with_name(".batches.old").exists()
    model = tw.ReadModel.open(target)
    assert model.high_water_position == store.head  # the new one, whole
    expected = store.project(tw.PROJECTION).state(use_snapshots=False)
    got = model.read().with_columns(pl.col("stream_type").cast(pl.String))
    assert got.select(sorted(got.columns)).sort("stream_type", "stream_id").equals(
        expected.select(sorted(expected.columns)).sort("stream_type", "stream_id"))
