"""Export of read models: lineage any engine reads, incremental updates, rebuilds, and crashes."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.parquet as pq
import pytest

from eventlab import EventStore, Projection, ReadModel, ValidationError
from eventlab import reducers as r

D = datetime(2022, 5, 1, tzinfo=UTC)
ACCOUNTS = Projection(
    "accounts",
    stream_types=["account"],
    fields={
        "events": r.count(),
        "balance": r.sum("amount"),
        "owner": r.last("owner"),
        "region": r.first("region"),
    },
)
WRITER = """
import sys
from eventlab import EventStore
from tests.test_export import ACCOUNTS
store = EventStore.open(sys.argv[1])
store.project(ACCOUNTS).export(sys.argv[2], partition_by=sys.argv[3] or None)
"""


def batch(ids: list[str], day: int = 0, amount: float = 1.0) -> pl.DataFrame:
    n = len(ids)
    return pl.DataFrame(
        {
            "stream_type": "account",
            "stream_id": ids,
            "event_type": "Deposited",
            "occurred_at": [D + timedelta(days=day, minutes=i) for i in range(n)],
            "amount": [amount] * n,
            "owner": [f"o-{i}" for i in ids],
            "region": ["north" if i < "m" else "south" for i in ids],
        }
    )


@pytest.fixture
def filled(store: EventStore) -> EventStore:
    store.append(batch(["a", "b", "c", "x"]))
    return store


def test_lineage_is_readable_by_pyarrow_duckdb_and_polars(
    filled: EventStore, tmp_path: Path
) -> None:
    result = filled.project(ACCOUNTS).export(tmp_path / "out")
    path = tmp_path / "out" / "accounts.parquet"
    meta = {k.decode(): v.decode() for k, v in (pq.read_metadata(path).metadata or {}).items()}
    assert meta["eventlab.projection"] == "accounts"
    assert meta["eventlab.high_water_position"] == "4"
    assert meta["eventlab.event_count"] == "4"
    assert meta["eventlab.spec_hash"] == ACCOUNTS.spec_hash
    assert {"eventlab.version", "eventlab.built_at"} <= set(meta)
    kv = duckdb.sql(f"select decode(key), decode(value) from parquet_kv_metadata('{path}')")
    assert ("eventlab.high_water_position", "4") in kv.fetchall()
    assert pl.read_parquet(path).height == 4
    assert result.mode == "full" and result.read_model.lag(filled) == 0


def test_incremental_then_up_to_date_then_lag(filled: EventStore, tmp_path: Path) -> None:
    view = filled.project(ACCOUNTS)
    view.export(tmp_path)
    filled.append(batch(["a", "d"], day=3, amount=5.0))
    model = ReadModel.open(tmp_path / "accounts.parquet")
    assert model.lag(filled) == 2
    result = view.export(tmp_path)
    assert (result.mode, result.events_folded, result.read_model.event_count) == (
        "incremental",
        2,
        6,
    )
    assert view.export(tmp_path).mode == "up-to-date"
    rows = {row["stream_id"]: row["balance"] for row in result.read_model.read().to_dicts()}
    assert rows == {"a": 6.0, "b": 1.0, "c": 1.0, "d": 5.0, "x": 1.0}


def test_changed_spec_rebuilds(filled: EventStore, tmp_path: Path) -> None:
    filled.project(ACCOUNTS).export(tmp_path)
    changed = Projection("accounts", stream_types=["account"], fields={"events": r.count()})
    filled.append(batch(["z"], day=1))
    result = filled.project(changed).export(tmp_path)
    assert result.mode == "full"
    assert result.read_model.read().columns == ["stream_id", "events"]


def test_partitioned_export_is_a_hive_folder(filled: EventStore, tmp_path: Path) -> None:
    result = filled.project(ACCOUNTS).export(tmp_path, partition_by="region")
    folder = tmp_path / "accounts"
    assert sorted(p.name for p in folder.iterdir()) == ["region=north", "region=south"]
    count = duckdb.sql(
        f"select count(*) from read_parquet('{folder}/**/*.parquet', hive_partitioning=true)"
    ).fetchall()
    assert count == [(4,)]
    assert result.read_model.read().height == 4
    filled.append(batch(["n"], day=2))
    assert filled.project(ACCOUNTS).export(tmp_path, partition_by="region").mode == "incremental"
    with pytest.raises(ValidationError, match="not a column"):
        filled.project(ACCOUNTS).export(tmp_path / "x", partition_by="colour")


def test_not_an_export_is_a_clear_error(tmp_path: Path) -> None:
    pl.DataFrame({"a": [1]}).write_parquet(tmp_path / "plain.parquet")
    with pytest.raises(ValidationError, match="not an eventlab export"):
        ReadModel.open(tmp_path / "plain.parquet")


@pytest.mark.parametrize(
    ("point", "partition"),
    [
        ("export_after_state", ""),
        ("export_before_replace", ""),
        ("export_after_state", "region"),
        ("export_mid_swap", "region"),
    ],
)
def test_killed_export_leaves_the_previous_read_model(
    filled: EventStore, tmp_path: Path, point: str, partition: str
) -> None:
    out = tmp_path / "out"
    view = filled.project(ACCOUNTS)
    view.export(out, partition_by=partition or None)
    before = ReadModel.open(out / ("accounts" if partition else "accounts.parquet")).read()
    filled.append(batch(["a", "q"], day=5, amount=7.0))
    env = {**os.environ, "EVENTLAB_FAULT": point, "PYTHONPATH": str(Path.cwd())}
    done = subprocess.run(
        [sys.executable, "-c", WRITER, str(filled.root), str(out), partition],
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == -9, done.stderr.decode()
    target = out / ("accounts" if partition else "accounts.parquet")
    if point != "export_mid_swap":
        assert ReadModel.open(target).read().sort("stream_id").equals(before.sort("stream_id"))
    again = view.export(out, partition_by=partition or None)  # recovers, then catches up
    assert again.read_model.high_water_position == filled.head
    balances = dict(again.read_model.read().select("stream_id", "balance").iter_rows())
    assert balances["a"] == 8.0 and balances["q"] == 7.0
