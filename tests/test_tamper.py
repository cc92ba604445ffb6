"""Reordered events: the tampering kinds tests/test_compact_verify.py does not cover yet.

verify names the file (its bytes are hashed in the log), the stream and position (versions must
run 1..n in position order) and, against a kept anchor, the rewritten chain.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from helpers.batches import make_batch

from eventlab import EventStore, verify_store
from eventlab.cli import main
from eventlab.storage.log import GENESIS_HASH, hash_body
from eventlab.store.writer import file_sha256


@pytest.fixture
def root(tmp_path: Path) -> Path:
    store = EventStore.create(tmp_path / "store")
    for name in ("b1", "b2"):
        store.append(make_batch(name, 24))
    store.append(make_batch("b3", 12, streams=1, months=1))  # files with 4 events of a stream
    return store.root


def entries(root: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted((root / "_log").glob("*.json"))]


def reseal(root: Path, log: list[dict[str, Any]]) -> None:
    """Rewrite every log entry with recomputed hashes (a forger who rewrites the whole chain)."""
    prev = GENESIS_HASH
    for entry in log:
        for data_file in entry["added"]:
            path = root / data_file["path"]
            data_file.update(sha256=file_sha256(path), bytes=path.stat().st_size)
        entry["prev_hash"] = prev
        entry["hash"] = prev = hash_body({k: v for k, v in entry.items() if k != "hash"})
        (root / "_log" / f"{entry['number']:020d}.json").write_text(json.dumps(entry))


def biggest_file(root: Path) -> str:
    store = EventStore.open(root)
    return max(store.files, key=lambda f: (f.rows, f.path)).path


def test_rows_of_a_file_reordered(root: Path) -> None:
    rel = biggest_file(root)
    frame = pl.read_parquet(root / rel)
    frame.reverse().write_parquet(root / rel)  # same events, other order
    report = verify_store(root)
    assert report.kinds() == {"file_sha256"}
    assert [f.where for f in report.findings] == [rel]


def test_positions_of_two_events_swapped_behind_a_resealed_log(root: Path) -> None:
    anchor = verify_store(root).head_hash
    rel = biggest_file(root)
    frame = pl.read_parquet(root / rel).sort("position")
    stream = frame["stream_id"][0]
    rows = frame.with_row_index("i").filter(pl.col("stream_id") == stream)["i"].head(2).to_list()
    assert len(rows) == 2
    a, b = frame["position"][rows[0]], frame["position"][rows[1]]
    va, vb = frame["version"][rows[0]], frame["version"][rows[1]]
    i = pl.int_range(pl.len())
    frame.with_columns(position=pl.when(i == rows[0]).then(b).when(i == rows[1]).then(a)
                       .otherwise("position")).write_parquet(root / rel)
    reseal(root, entries(root))
    report = verify_store(root)
    stream_type = rel.split("stream_type=")[1].split("/")[0]
    assert report.kinds() == {"version_gap"}
    assert report.findings[0].where == f"stream {stream_type}/{stream}"
    assert f"position {a} has version {vb}, expected {va}" in report.findings[0].detail
    with_anchor = verify_store(root, anchor=anchor)
    assert with_anchor.kinds() == {"version_gap", "anchor_missing"}
    assert main(["verify", str(root), "--expect-anchor", anchor]) == 1


def test_an_event_moved_to_another_file(root: Path) -> None:
    log = entries(root)
    first, second = (f["path"] for f in log[1]["added"][:2])
    source, target = pl.read_parquet(root / first), pl.read_parquet(root / second)
    moved = source.head(1)
    source.slice(1).write_parquet(root / first)
    pl.concat([target, moved], how="diagonal_relaxed").write_parquet(root / second)
    report = verify_store(root)
    assert report.kinds() == {"file_sha256", "file_rows"}
    assert {f.where for f in report.findings} == {first, second}
