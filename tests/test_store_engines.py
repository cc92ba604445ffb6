"""Other engines read STORE/events/ directly and see exactly the events of ``store.scan()``.

The folder is Hive-partitioned (``stream_type=<type>/occurred_month=<YYYY-MM>/``); the partition
columns are not inside the files, and files of different stream types (or of different times) may
have different payload columns. These snippets work (the tests below run them verbatim, with
STORE replaced by a real store's folder)::

    import glob

    import duckdb
    import polars as pl
    import pyarrow as pa
    import pyarrow.dataset as ds

    # pyarrow.dataset: string hive keys, and one schema unified over all files
    part = ds.partitioning(
        pa.schema([("stream_type", pa.string()), ("occurred_month", pa.string())]), flavor="hive"
    )
    fragments = ds.dataset("STORE/events", format="parquet", partitioning=part).get_fragments()
    schema = pa.unify_schemas([f.physical_schema for f in fragments] + [part.schema])
    dataset = ds.dataset("STORE/events", format="parquet", partitioning=part, schema=schema)
    table = dataset.to_table()

    # DuckDB: union_by_name for the differing payload columns, hive keys typed as text
    relation = duckdb.sql(
        "SELECT * FROM read_parquet('STORE/events/**/*.parquet', hive_partitioning = true, "
        "union_by_name = true, "
        "hive_types = {'stream_type': 'VARCHAR', 'occurred_month': 'VARCHAR'})"
    )

    # Polars: the union of the files' schemas (the first file's schema is not enough)
    file_schema = {}
    for path in sorted(glob.glob("STORE/events/**/*.parquet", recursive=True)):
        file_schema.update(pl.read_parquet_schema(path))
    events = pl.scan_parquet(
        "STORE/events", hive_partitioning=True, schema=file_schema, missing_columns="insert",
        hive_schema={"stream_type": pl.String, "occurred_month": pl.String},
    )

Without the unified schema, pyarrow and Polars silently drop (or refuse) payload columns that the
first file lacks; without string hive types, a stream type such as ``007`` may read as the
integer 7. Every engine also returns the ``occurred_month`` partition column, which
``store.scan()`` has not. Read the folder when no writer has crashed since the last
``EventStore.open`` (recovery removes a killed writer's published-but-uncommitted files) and no
append or compaction is running.
"""

from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.dataset as ds
import pytest
from conftest import T0, events
from helpers.batches import make_batch
from polars.testing import assert_frame_equal

from eventlab import EventStore


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> EventStore:
    """Stream types with different payload columns (one named like a number), several months,
    several commits, a column added later, and one compaction."""
    store = EventStore.create(tmp_path_factory.mktemp("engines") / "store")
    store.append(make_batch("b1", 36))  # account/fine/order, 4 months, amount: Float64
    store.append(events(["x", "y"], stream_type="007", reason=["speeding", None],
                        points=[3, 2], start=T0 + timedelta(days=70)))
    store.append(events(["a"], stream_type="account", note=["late column"], amount=[1.25]))
    store.compact(target_rows=1000)
    store.append(make_batch("b2", 12))
    assert len({f.stream_type for f in store.files}) == 4
    return store


def expected(store: EventStore) -> pl.DataFrame:
    return store.scan().collect().sort("position")


def same_events(store: EventStore, frame: pl.DataFrame) -> None:
    """``frame`` (from another engine) holds exactly the store's events, column by column."""
    want = expected(store)
    assert frame["occurred_month"].to_list() == want["occurred_at"].dt.strftime("%Y-%m").to_list()
    got = frame.select(want.columns).with_columns(
        pl.col(c).cast(t) for c, t in want.schema.items() if frame.schema[c] != t
    )
    assert_frame_equal(got, want)


@pytest.fixture(scope="module")
def snippet(store: EventStore) -> dict[str, Any]:
    """The module docstring's code block, run as is on ``store``: its variables."""
    doc = __doc__ or ""
    block = doc.split("::\n", 1)[1].split("\nWithout", 1)[0]
    code = textwrap.dedent(block).replace("STORE/events", f"{store.root}/events")
    namespace: dict[str, Any] = {}
    exec(compile(code, "README snippet", "exec"), namespace)
    return namespace


def test_pyarrow_dataset(store: EventStore, snippet: dict[str, Any]) -> None:
    frame = pl.from_arrow(snippet["table"])
    assert isinstance(frame, pl.DataFrame)
    same_events(store, frame.sort("position"))


def test_duckdb(store: EventStore, snippet: dict[str, Any]) -> None:
    frame = snippet["relation"].pl()
    assert frame.schema["occurred_at"] == pl.Datetime("us", "UTC")
    same_events(store, frame.sort("position"))


def test_polars_scan_parquet(store: EventStore, snippet: dict[str, Any]) -> None:
    same_events(store, snippet["events"].collect().sort("position"))


def test_first_file_schema_is_not_enough(store: EventStore) -> None:
    """Why the snippets unify schemas: the plain calls lose or refuse payload columns."""
    events_dir = str(store.root / "events")
    plain = ds.dataset(events_dir, format="parquet", partitioning="hive")
    assert set(plain.schema.names) < set(expected(store).columns) | {"occurred_month"}
    with pytest.raises((pl.exceptions.ColumnNotFoundError, pl.exceptions.SchemaError)):
        pl.scan_parquet(Path(events_dir), hive_partitioning=True).collect()


def test_no_bookkeeping_file_under_events(store: EventStore) -> None:
    on_disk = {p.relative_to(store.root).as_posix()
               for p in (store.root / "events").rglob("*") if p.is_file()}
    assert on_disk == {f.path for f in store.files}
    assert all(Path(p).suffix == ".parquet" for p in on_disk)
