"""Marten and eventsourcing on a real PostgreSQL server (started once for this module).

The server comes from Debian's postgresql package (tests/helpers/pgserver.py; .ci/run installs
it); without it the tests here skip with the reason on a developer's machine (the other
connector tests run anyway) and fail under CI.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import polars as pl
import psycopg
import pytest
from conftest import missing
from helpers import marten_fill
from helpers.es_app import postgres_env, write
from helpers.pgserver import PgServer, start_server
from helpers.procs import ROOT, worker_env

from eventlab import EventStore
from eventlab.errors import SourceConnectionError
from eventlab.sources.connect import import_source, open_source
from eventlab.sources.databases.marten import MartenSource
from eventlab.sources.databases.postgres import PgUrl

STREAMS, PER_STREAM = 24_000, 5  # 120,000 events


@pytest.fixture(scope="module")
def server() -> Iterator[PgServer]:
    try:
        pg = start_server()
    except RuntimeError as exc:
        missing(f"no PostgreSQL server for the connector tests: {exc}")
    os.environ["EVENTLAB_TEST_POSTGRES_URL"] = os.environ["DATABASE_URL"] = pg.url
    try:
        with psycopg.connect(pg.url, autocommit=True) as conn:
            marten_fill.create(conn)
            marten_fill.fill(conn, streams=STREAMS, per_stream=PER_STREAM)
            marten_fill.add_unmappable(conn)
            marten_fill.create(conn, schema="small", conjoined=False, id_type="varchar")
            marten_fill.fill(conn, streams=500, per_stream=4, schema="small", id_type="varchar")
        yield pg
    finally:
        os.environ.pop("EVENTLAB_TEST_POSTGRES_URL", None)
        os.environ.pop("DATABASE_URL", None)
        pg.stop()


@pytest.fixture(scope="module")
def marten_store(server: PgServer, tmp_path_factory: pytest.TempPathFactory) -> tuple[
        EventStore, object]:
    store = EventStore.create(tmp_path_factory.mktemp("marten") / "store")
    summary = import_source(store, server.url, kind="marten", batch_size=50_000,
                            settle_seconds=0)
    return store, summary


def query(server: PgServer, sql: str) -> list[tuple[object, ...]]:
    with psycopg.connect(server.url) as conn:
        return conn.execute(sql).fetchall()


def test_marten_import_counts_quarantine_and_mapping(server: PgServer, marten_store) -> None:
    store, summary = marten_store
    total = STREAMS * PER_STREAM
    assert (summary.read, summary.imported, summary.quarantined) == (total + 3, total, 3)
    assert summary.batches == 3 and summary.checkpoint == total + 3
    reasons = pl.read_parquet(summary.quarantine_path).sort("source_line")["reason"].to_list()
    assert [r.split(":")[0] for r in reasons] == [
        "data is not a JSON object", "binary payload (bdata)", "data is not a JSON object"]
    per_type = dict(query(server, "SELECT s.type, count(*) FROM mt_events e JOIN mt_streams s "
                                  "ON s.id = e.stream_id AND s.tenant_id = e.tenant_id GROUP BY 1"))
    stored = store.scan().group_by("stream_type").len().collect()
    assert dict(zip(stored["stream_type"], stored["len"], strict=True)) == per_type
    cities = dict(query(server, "SELECT data->'Customer'->'Address'->>'City', count(*) FROM "
                                "mt_events WHERE type = 'order_placed' GROUP BY 1"))
    got = (store.scan(event_types="order_placed").group_by("Customer_Address_City").len()
           .collect())
    assert dict(zip(got["Customer_Address_City"], got["len"], strict=True)) == cities
    sample = (store.scan(event_types="order_placed").sort("seq_id").head(1)
              .select("stream_id", "Tags", "Lines", "tenant_id", "is_archived", "source_version",
                      "version", "headers_attempt", "actor", "correlation_id").collect().row(
                  0, named=True))
    assert sample["stream_id"].startswith("*DEFAULT*/") and sample["Tags"] == ["web", "promo"]
    assert sample["Lines"][0] == '{"Qty":1,"Sku":"SKU-0"}'  # jsonb orders keys
    assert (sample["version"], sample["source_version"], sample["headers_attempt"]) == (1, 1, 1)
    assert (sample["actor"], sample["correlation_id"]) == ("user0", "corr-0")
    archived = query(server, "SELECT count(*) FROM mt_events WHERE is_archived")[0][0]
    assert store.scan().filter(pl.col("is_archived")).select(pl.len()).collect().item() == archived
    mismatch = store.scan().filter(pl.col("version") != pl.col("source_version"))
    assert mismatch.select(pl.len()).collect().item() == 0


def test_marten_incremental_sync_reads_only_new_events(server: PgServer, marten_store) -> None:
    store, first = marten_store
    with psycopg.connect(server.url, autocommit=True) as conn:
        new = marten_fill.fill(conn, streams=STREAMS, per_stream=PER_STREAM + 1,
                               first_version=PER_STREAM + 1, last_version=PER_STREAM + 1,
                               seq_offset=3)  # after the three odd rows
    again = import_source(store, server.url, kind="marten", settle_seconds=0)
    assert (again.previous, again.read, again.imported, again.skipped_duplicate) == (
        first.checkpoint, new, new, 0)
    versions = store.scan(event_types="order_shipped").select(pl.col("version").max())
    assert versions.collect().item() == PER_STREAM + 1
    assert import_source(store, server.url, kind="marten").read == 0


def test_a_fresh_gap_in_seq_id_holds_the_checkpoint(server: PgServer, tmp_path: Path) -> None:
    url = PgUrl.parse(server.url)
    with psycopg.connect(server.url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA gap")
        marten_fill.create(conn, schema="gap", conjoined=False, id_type="varchar")
        marten_fill.fill(conn, streams=10, per_stream=2, schema="gap", id_type="varchar")
        conn.execute("UPDATE gap.mt_events SET seq_id = seq_id + 5, timestamp = now() "
                     "WHERE seq_id > 15")  # 16..20 not yet committed elsewhere
    store = EventStore.create(tmp_path / "store")
    held = import_source(store, server.url, kind="marten", schema="gap")
    assert (held.read, held.checkpoint) == (15, 15)
    done = import_source(store, server.url, kind="marten", schema="gap", settle_seconds=0)
    assert (done.read, done.checkpoint) == (5, 25)
    assert MartenSource(url, schema="gap").key.endswith("/gap") and "pw-" not in str(url.name)


def test_engines_read_the_same_events(server: PgServer) -> None:
    frames = []
    for engine in ("adbc", "psycopg", "connectorx"):
        source = open_source(server.url, kind="marten", schema="small", engine=engine)
        (batch,) = list(source.batches(None, batch_size=10_000))
        frames.append(batch.parsed.events.sort("seq_id"))
    assert frames[0].height == 2000 and frames[0]["stream_id"][0] == "stream-0"
    for other in frames[1:]:
        assert other.columns == frames[0].columns and other.equals(frames[0])


def cli(*args: str, fault: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "eventlab", *args], env=worker_env(fault),
                          cwd=ROOT, capture_output=True, text=True, timeout=180, check=False)


def every_byte(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


def test_killed_mid_sync_resumes_and_credentials_never_written(server: PgServer,
                                                                tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    args = ("import", store, server.url, "--from", "marten", "--schema", "small",
            "--batch-size", "700", "--create")
    killed = cli(*args, fault="sync_after_checkpoint")  # first batch done, checkpoint saved
    assert killed.returncode == -9, killed.stderr
    between = cli(*args, fault="sync_before_checkpoint")  # second batch appended, no checkpoint
    assert between.returncode == -9, between.stderr
    assert EventStore.open(store).scan().select(pl.len()).collect().item() == 1400
    rerun = cli(*args, "--engine", "psycopg")  # another reader resumes from the same checkpoint
    assert rerun.returncode == 0, rerun.stderr
    assert "new since checkpoint 700: read 1,300 = imported 600 + quarantined 0 + skipped 700" \
        in rerun.stdout
    again = cli(*args, "--full")  # everything read again, nothing stored twice
    assert "everything (--full): read 2,000 = imported 0 + quarantined 0 + skipped 2,000" \
        in again.stdout, again.stderr
    stored = EventStore.open(store).scan().select("event_id").collect()
    assert stored.height == 2000 and stored["event_id"].n_unique() == 2000
    wrong = server.url.replace(server.password, server.password + "x")
    failed = cli("import", store, wrong, "--from", "marten")
    assert failed.returncode == 2 and failed.stderr.startswith("eventlab: error: cannot read")
    secret = server.password.encode()
    for output in (killed, between, rerun, failed):
        assert secret not in (output.stdout + output.stderr).encode()
    assert secret not in every_byte(Path(store)) and b"eventlab:" not in every_byte(
        Path(store) / "_sources")
    with pytest.raises(SourceConnectionError) as error:
        import_source(EventStore.open(store), wrong, kind="marten")
    assert server.password not in str(error.value) and error.value.__cause__ is None


def test_eventsourcing_on_postgres_written_by_the_library(server: PgServer,
                                                          tmp_path: Path) -> None:
    parts = urlsplit(server.url)
    env = postgres_env({"POSTGRES_DBNAME": "postgres", "POSTGRES_HOST": "127.0.0.1",
                        "POSTGRES_PORT": str(parts.port), "POSTGRES_USER": "eventlab",
                        "POSTGRES_PASSWORD": server.password})
    app, written = write(env, 1000, 3)
    app.close()
    store = EventStore.create(tmp_path / "store")
    summary = import_source(store, server.url, kind="eventsourcing")
    assert (summary.read, summary.imported, summary.quarantined) == (written, written, 0)
    assert query(server, "SELECT max(notification_id) FROM bank_events")[0][0] == \
        summary.checkpoint
    counts = store.scan().group_by("stream_type", "event_type").len().collect()
    pairs = zip(counts["stream_type"], counts["event_type"], strict=True)
    assert dict(zip(pairs, counts["len"], strict=True)) == {
        ("Account", "Opened"): 1000, ("Account", "Deposited"): 3000,
        ("Account", "Closed"): 100, ("Customer", "Registered"): 1000}
    assert import_source(store, server.url, kind="eventsourcing").read == 0


def test_readme_postgres_snippets_run(server: PgServer, tmp_path: Path) -> None:
    from test_readme import README, code_blocks, run_blocks

    blocks = [b for b in code_blocks(README.read_text()) if b.info.split() == [
        "python", "postgres"]]
    assert blocks, "README.md has no ```python postgres block"
    for block in blocks:
        object.__setattr__(block, "info", "python")
    results = run_blocks(blocks, tmp_path)
    assert len(results) == len(blocks) and all(r.returncode == 0 for r in results), [
        r.stderr for r in results if r.returncode]
