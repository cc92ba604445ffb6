"""Lineage of exported read models: store ids, the hash-chain head at the high-water position,
and verify_export / `eventlab verify-export` proving (or refusing) the store state."""

from __future__ import annotations

import json
import shutil
import tomllib
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from eventlab import EventStore, Projection, ReadModel
from eventlab import reducers as r
from eventlab.projections.lineage import verify_export
from eventlab.projections.spec import projection_from_toml
from eventlab.storage.log import hash_body
from eventlab.store.identity import derived_store_id, store_id
from tests.helpers.cli import one_line_error, run

D = datetime(2023, 3, 1, tzinfo=UTC)
SPEC = """
[projections.paid]
stream_types = ["account"]
[projections.paid.fields]
n = { reducer = "count" }
total = { reducer = "sum", column = "amount" }
"""
PAID = projection_from_toml("paid", tomllib.loads(SPEC)["projections"]["paid"])


def batch(ids: list[str], day: int = 0) -> pl.DataFrame:
    return pl.DataFrame({
        "stream_type": "account", "stream_id": ids, "event_type": "Deposited",
        "occurred_at": [D + timedelta(days=day, minutes=i) for i in range(len(ids))],
        "amount": [float(i + 1) for i in range(len(ids))],
    })


@pytest.fixture
def exported(tmp_path: Path) -> tuple[EventStore, ReadModel]:
    store = EventStore.create(tmp_path / "store")
    store.append(batch(["a", "b", "c"]))
    store.append(batch(["a", "d"], day=1))
    return store, store.project(PAID).export(tmp_path / "exports").read_model


def kinds(report: object) -> list[str]:
    return [f.kind for f in report.findings]  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- store identity
def test_a_store_keeps_one_id(tmp_path: Path) -> None:
    store = EventStore.create(tmp_path / "s")
    written = json.loads((store.root / "_eventlab.json").read_text())["store_id"]
    assert uuid.UUID(written).version == 4
    assert store_id(store.root) == store_id(EventStore.open(tmp_path / "s").root) == written
    other = EventStore.create(tmp_path / "t")
    assert store_id(other.root) != written


def test_a_store_from_before_ids_derives_the_same_id_every_time(tmp_path: Path) -> None:
    roots = []
    for name, created in (("old", "2024-01-01T00:00:00+00:00"), ("older", "2023-01-01T00:00:00")):
        root = EventStore.create(tmp_path / name).root
        meta = json.loads((root / "_eventlab.json").read_text())
        meta.pop("store_id")
        meta["created_at"] = created
        (root / "_eventlab.json").write_text(json.dumps(meta))
        roots.append(root)
    first = store_id(roots[0])
    derived = derived_store_id({"created_at": "2024-01-01T00:00:00+00:00"})
    assert first == store_id(roots[0]) == derived
    assert uuid.UUID(first).version == 5 and first != store_id(roots[1])
    before = (roots[0] / "_eventlab.json").read_bytes()
    EventStore.open(roots[0]).append(batch(["z"]))
    assert (roots[0] / "_eventlab.json").read_bytes() == before  # nothing written to learn it


# --------------------------------------------------------------------------- export lineage
def test_export_records_the_store_state(exported: tuple[EventStore, ReadModel]) -> None:
    store, model = exported
    raw = pq.read_metadata(model.path).metadata or {}
    meta = {k.decode(): v.decode() for k, v in raw.items()}
    assert meta["eventlab.store_id"] == model.store_id == store_id(store.root)
    assert meta["eventlab.head_commit"] == "2" and model.head_commit == 2
    assert model.head_hash == meta["eventlab.head_hash"] == store.info().head_hash
    assert model.high_water_position == store.head == 5
    report = verify_export(model.path, store.root)
    assert report.ok and report.lag == 0 and report.findings == ()


def test_later_commits_and_compaction_keep_the_proof(
    exported: tuple[EventStore, ReadModel],
) -> None:
    store, model = exported
    store.append(batch(["e", "f"], day=2))
    store.compact(target_rows=100)
    report = verify_export(model, store)
    assert report.ok and report.lag == 2 and report.store_commits == 4
    again = store.project(PAID).export(model.path.parent).read_model
    assert (again.head_commit, again.high_water_position) == (4, 7)
    assert verify_export(again, store).ok


def test_another_store_with_the_same_events_is_not_the_same_store(
    exported: tuple[EventStore, ReadModel], tmp_path: Path
) -> None:
    _, model = exported
    twin = EventStore.create(tmp_path / "twin")
    twin.append(batch(["a", "b", "c"]))
    twin.append(batch(["a", "d"], day=1))
    assert kinds(verify_export(model, twin)) == ["other_store"]


def rehash(path: Path, change: dict[str, object], seal: bool = True) -> None:
    entry = json.loads(path.read_text())
    entry.update(change)
    if seal:
        entry["hash"] = hash_body({k: v for k, v in entry.items() if k != "hash"})
    path.write_text(json.dumps(entry))


def test_rewritten_edited_or_truncated_history_is_refused(
    exported: tuple[EventStore, ReadModel], tmp_path: Path
) -> None:
    store, model = exported
    log = store.root / "_log"
    cases = {
        "hash_mismatch": lambda root: rehash(root / "_log" / log_name(2), {"recorded_at": "x"}),
        "chain_broken": lambda root: rehash(root / "_log" / log_name(1), {"events": 9}, False),
        "commit_missing": lambda root: (root / "_log" / log_name(2)).unlink(),
    }
    for kind, damage in cases.items():
        copy = tmp_path / kind
        shutil.copytree(store.root, copy)
        damage(copy)
        report = verify_export(model, copy)
        assert not report.ok and kinds(report) == [kind], (kind, report.findings)
    assert sorted(p.name for p in log.iterdir()) == [log_name(1), log_name(2)]
    assert verify_export(model, store).ok  # the original is untouched


def log_name(commit: int) -> str:
    return f"{commit:020d}.json"


def test_recompute_catches_an_edited_read_model_and_another_spec(
    exported: tuple[EventStore, ReadModel], tmp_path: Path
) -> None:
    store, model = exported
    assert verify_export(model, store, projection=PAID).recomputed
    table = pq.read_table(model.path)
    kv = pq.read_metadata(model.path).metadata or {}
    lineage = {k: v for k, v in kv.items() if k.startswith(b"eventlab.")}
    edited = pl.from_arrow(table).with_columns(total=pl.col("total") + 1)  # type: ignore[union-attr]
    pq.write_table(edited.to_arrow().replace_schema_metadata(lineage), model.path)
    report = verify_export(model.path, store, projection=PAID)
    assert kinds(report) == ["content_differs"] and not report.recomputed
    other = Projection("paid", stream_types=["account"], fields={"n": r.count()})
    assert kinds(verify_export(model.path, store, projection=other)) == ["spec_mismatch"]


def test_an_export_without_store_lineage_says_so(
    exported: tuple[EventStore, ReadModel],
) -> None:
    store, model = exported
    table = pq.read_table(model.path)
    kv = pq.read_metadata(model.path).metadata or {}
    dropped = {b"eventlab.store_id", b"eventlab.head_commit", b"eventlab.head_hash"}
    old = {k: v for k, v in kv.items() if k.startswith(b"eventlab.") and k not in dropped}
    pq.write_table(table.replace_schema_metadata(old), model.path)
    assert ReadModel.open(model.path).store_id == ""
    assert kinds(verify_export(model.path, store)) == ["no_lineage"]


def test_an_incremental_export_never_merges_another_stores_state(tmp_path: Path) -> None:
    a, b = EventStore.create(tmp_path / "a"), EventStore.create(tmp_path / "b")
    a.append(batch(["x", "y"]))
    b.append(batch(["p", "q"]))
    out = tmp_path / "exports"
    a.project(PAID).export(out)
    result = b.project(PAID).export(out)  # same spec, same head position, another store
    assert result.mode == "full"
    assert result.read_model.read().sort("stream_id")["stream_id"].to_list() == ["p", "q"]
    assert result.read_model.store_id == store_id(b.root)


# --------------------------------------------------------------------------- the command
def test_verify_export_command(
    exported: tuple[EventStore, ReadModel], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store, model = exported
    spec = tmp_path / "paid.toml"
    spec.write_text(SPEC)
    code, out, _ = run(capsys, "verify-export", model.path, store.root, "--spec", spec)
    assert code == 0 and out.startswith("ok: ") and "folded again and match" in out
    code, out, _ = run(capsys, "verify-export", model.path, store.root, "--json")
    doc = json.loads(out)
    assert code == 0 and doc["ok"] and doc["store_id"] == model.store_id
    twin = EventStore.create(tmp_path / "twin").root
    code, out, _ = run(capsys, "verify-export", model.path, twin)
    assert code == 1 and out.startswith("FAILED: other_store")
    code, _, err = run(capsys, "verify-export", tmp_path / "missing.parquet", store.root)
    assert code == 2 and one_line_error(err) and "does not exist" in err
    code, _, err = run(capsys, "verify-export", model.path, tmp_path / "nowhere")
    assert code == 2 and one_line_error(err) and "not an eventlab store" in err


def test_project_json_reports_lineage(
    exported: tuple[EventStore, ReadModel], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store, model = exported
    spec = tmp_path / "paid.toml"
    spec.write_text(SPEC)
    code, out, err = run(capsys, "project", store.root, "--spec", spec, "--out",
                         model.path.parent, "--json")
    assert code == 0, err
    (entry,) = json.loads(out)["read_models"]
    assert entry["mode"] == "up-to-date"
    assert (entry["store_id"], entry["head_commit"], entry["head_hash"]) == (
        model.store_id, model.head_commit, model.head_hash)
