"""OCEL 2.0 connector: counts against an independent reading (sqlite3 / json), projections per
object type, the order-across-its-items view, incremental sync and a SIGKILL mid-sync."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import polars as pl
import pytest
from conftest import dataset
from helpers.procs import ROOT, worker_env

from eventlab import EventStore, Projection, reducers
from eventlab.projections.related import related_events
from eventlab.sources.connect import import_source
from eventlab.sources.files.ocel import read_ocel


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> tuple[EventStore, Path]:
    path = dataset("running-example.sqlite")
    store = EventStore.create(tmp_path_factory.mktemp("ocel") / "store")
    summary = import_source(store, path)
    assert summary.balanced and summary.quarantined == 0
    return store, path


def sql(path: Path, query: str) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute(query).fetchall()


def test_sqlite_counts_per_object_type_match_an_independent_reading(running) -> None:
    store, path = running
    relations = dict(sql(path, "SELECT o.ocel_type, count(*) FROM (SELECT DISTINCT "
                               "ocel_event_id, ocel_object_id FROM event_object) r JOIN object o "
                               "ON o.ocel_id = r.ocel_object_id GROUP BY 1"))
    tables = dict(sql(path, "SELECT ocel_type, ocel_type_map FROM object_map_type"))
    changes = {t: sql(path, f'SELECT count(*) FROM "object_{m}"')[0][0] for t, m in tables.items()}
    links = dict(sql(path, "SELECT o.ocel_type, count(*) FROM object_object r JOIN object o ON "
                           "o.ocel_id = r.ocel_source_id GROUP BY 1"))
    stored = store.scan().group_by("stream_type", "event_type").len().collect()
    per_type = {
        t: {
            "relations": stored.filter((pl.col("stream_type") == t) & ~pl.col("event_type")
                                       .is_in(["AttributesChanged", "ObjectRelated"]))["len"].sum(),
            "changes": stored.filter((pl.col("stream_type") == t)
                                     & (pl.col("event_type") == "AttributesChanged"))["len"].sum(),
            "links": stored.filter((pl.col("stream_type") == t)
                                   & (pl.col("event_type") == "ObjectRelated"))["len"].sum(),
        } for t in tables
    }
    for t in tables:
        assert per_type[t] == {"relations": relations.get(t, 0), "changes": changes[t],
                               "links": links.get(t, 0)}, t
    # each OCEL event is stored once per related object, all copies share its id
    copies = (store.scan().filter(pl.col("correlation_id") == "e1").select("stream_id")
              .collect()["stream_id"].sort().to_list())
    expected = sorted(str(r[0]) for r in sql(path, "SELECT DISTINCT ocel_object_id FROM "
                                                   "event_object WHERE ocel_event_id = 'e1'"))
    assert copies == expected


def test_several_qualifiers_of_one_pair_are_kept(running) -> None:
    store, _ = running
    row = (store.scan(stream_types="employees").filter(pl.col("correlation_id") == "e94")
           .select("qualifier").collect())
    assert row["qualifier"].to_list() == ["forwarder; shipper"]


def test_a_projection_per_object_type_matches_the_attribute_tables(running) -> None:
    store, path = running
    products = Projection("products", {"price": reducers.last("price", on=[
        "AttributesChanged"]), "changes": reducers.count(on=["AttributesChanged"])},
        stream_types=("products",))
    state = store.project(products).state().sort("stream_id")
    expected = sql(path, "SELECT ocel_id, price FROM object_Products p WHERE rowid = (SELECT "
                         "max(rowid) FROM object_Products q WHERE q.ocel_id = p.ocel_id AND "
                         "q.ocel_time = (SELECT max(ocel_time) FROM object_Products r WHERE "
                         "r.ocel_id = p.ocel_id)) ORDER BY ocel_id")
    assert list(zip(state["stream_id"], state["price"], strict=True)) == expected
    counts = dict(sql(path, "SELECT ocel_id, count(*) FROM object_Products GROUP BY 1"))
    assert dict(zip(state["stream_id"], state["changes"], strict=True)) == counts
    for otype in ("orders", "items", "packages", "customers", "employees"):
        view = Projection(otype, {"events": reducers.count()}, stream_types=(otype,))
        assert store.project(view).state().height == sql(
            path, f"SELECT count(*) FROM object WHERE ocel_type = '{otype}'")[0][0]


def test_events_of_one_order_across_its_items(running) -> None:
    store, path = running
    rows = related_events(store, "orders", "990001", via="items", columns=["qualifier"])
    items = [str(r[0]) for r in sql(path, "SELECT ocel_target_id FROM object_object WHERE "
                                          "ocel_source_id = '990001' AND ocel_qualifier = "
                                          "'comprises'")]
    objects = ["990001", *items]
    marks = ",".join(f"'{o}'" for o in objects)
    expected = (sql(path, f"SELECT count(*) FROM (SELECT DISTINCT ocel_event_id, ocel_object_id "
                          f"FROM event_object WHERE ocel_object_id IN ({marks}))")[0][0]
                + sql(path, f"SELECT count(*) FROM object_object WHERE ocel_source_id IN "
                            f"({marks})")[0][0]
                + sql(path, "SELECT count(*) FROM object_Orders WHERE ocel_id = 990001")[0][0]
                + sql(path, f"SELECT count(*) FROM object_Items WHERE ocel_id IN ({marks})")[0][0])
    assert rows.height == expected
    assert sorted(rows["stream_id"].unique().to_list()) == sorted(objects)
    assert rows["occurred_at"].is_sorted()


def json_counts(doc: dict) -> tuple[int, int, int]:
    pairs = {(e["id"], r["objectId"]) for e in doc["events"] for r in e.get("relationships", [])}
    times = {(o["id"], a["time"]) for o in doc["objects"] for a in o.get("attributes", [])}
    links = sum(len(o.get("relationships", [])) for o in doc["objects"])
    return len(pairs), len(times), links


def test_json_counts_match_an_independent_reading(tmp_path: Path) -> None:
    path = dataset("ocel20_example.jsonocel")
    doc = json.loads(path.read_text())
    store = EventStore.create(tmp_path / "store")
    summary = import_source(store, path)
    relations, changes, links = json_counts(doc)
    assert (summary.read, summary.imported) == (relations + changes + links,) * 2
    r3 = (store.scan(stream_types="Invoice", stream_ids="R3", event_types="AttributesChanged")
          .sort("occurred_at").collect())
    assert r3["is_blocked"].to_list() == ["No", "Yes", "No"]
    assert r3["changed_field"].to_list() == ["is_blocked"] * 3
    assert set(store.scan().select("stream_type").unique().collect()["stream_type"]) == {
        "Invoice", "Payment", "Purchase-Order", "Purchase-Requisition"}


def test_incremental_sync_quarantine_and_full(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonocel"
    doc = json.loads(dataset("ocel20_example.jsonocel").read_text())
    doc["events"].append({"id": "lonely", "type": "Audit", "time": "2022-03-01T00:00:00Z"})
    doc["events"].append({"id": "bad", "type": "Audit", "time": "2022-03-01T00:00:00Z",
                          "relationships": [{"objectId": "nobody", "qualifier": "x"}]})
    path.write_text(json.dumps(doc))
    store = EventStore.create(tmp_path / "store")
    first = import_source(store, path)
    relations, changes, links = json_counts(doc)
    assert (first.read, first.quarantined) == (relations + changes + links + 1, 2)
    reasons = pl.read_parquet(first.quarantine_path)["reason"].sort().to_list()
    assert reasons == ["OCEL event 'lonely' relates to no object; eventlab stores each OCEL "
                       "event in the streams of its objects",
                       "object 'nobody' is not in the object table"]
    again = import_source(store, path)
    assert (again.read, again.imported, again.batches) == (0, 0, 0)
    doc["events"].append({"id": "e99", "type": "Insert Payment", "time": "2022-04-01T00:00:00Z",
                          "relationships": [{"objectId": "R1", "qualifier": "again"}]})
    path.write_text(json.dumps(doc))
    grown = import_source(store, path)
    assert (grown.imported, grown.quarantined) == (1, 0)
    # the 36 stored events and the 2 rows already quarantined are skipped
    assert (grown.read, grown.skipped_duplicate) == (first.read + 1, first.read)
    assert grown.balanced
    full = import_source(store, path, full=True)
    assert (full.imported, full.quarantined, full.skipped_duplicate) == (0, 0, full.read)
    saved = pl.read_parquet(list((store.root / "_quarantine").glob("*.parquet")))
    assert saved.height == 2  # never quarantined twice


def cli(*args: str, fault: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "eventlab", *args], env=worker_env(fault),
                          cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("fault", ["after_stage", "sync_before_checkpoint"])
def test_killed_mid_sync_leaves_nothing_partial_and_resumes(tmp_path: Path, fault: str) -> None:
    path = tmp_path / "log.jsonocel"
    shutil.copy(dataset("ocel20_example.jsonocel"), path)
    total = read_ocel(path).read
    killed = cli("import", str(tmp_path / "store"), str(path), "--create", fault=fault)
    assert killed.returncode == -9, killed.stderr
    store = EventStore.open(tmp_path / "store")
    stored = store.scan().select(pl.len()).collect().item()
    assert stored == (0 if fault == "after_stage" else total)
    assert not (store.root / "_sources").exists() or not any((store.root / "_sources").iterdir())
    rerun = cli("import", str(tmp_path / "store"), str(path))
    assert rerun.returncode == 0, rerun.stderr
    imported = total - stored
    assert f"read {total} = imported {imported} + quarantined 0 + skipped {stored}" in rerun.stdout
    assert EventStore.open(tmp_path / "store").scan().select(pl.len()).collect().item() == total
    assert "read 0 = imported 0" in cli("import", str(tmp_path / "store"), str(path)).stdout
