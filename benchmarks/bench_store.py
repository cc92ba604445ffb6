"""Batch append and pruned scans of the event store, against peers on the same data.

    python benchmarks/bench_store.py [--events N] [--accounts A] [--es-events M] [--keep]

1. Append: one synthetic bank batch (``eventlab.examples.generate_bank_events``, default 10M
   events / 100k accounts) appended into a new store, vs DuckDB writing the same frame as
   Parquet (``COPY ... TO ... (FORMAT parquet, COMPRESSION zstd)``, once as one file and once
   Hive-partitioned like the store), vs the ``eventsourcing`` library's in-memory (POPO) event
   store recording the first ``--es-events`` events (default 200k; its events/s is measured on
   that subset and the 10M time extrapolated). Each side runs in its own process; peak RSS
   comes from sampling that process while it works.
2. Scan pruning: ``store.scan(stream_types=..., occurred_from=.., at=.. = one month)``:
   files read (from ``.explain()``) vs files in the store, and time vs a full scan and vs
   DuckDB's ``read_parquet`` over the events folder with the same filter.

Prints markdown tables. Nothing here asserts on time: benchmarks are not tests.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

SCRIPT = Path(__file__).resolve()
MONTH = (datetime(2024, 6, 1, tzinfo=UTC), datetime(2024, 6, 30, 23, 59, 59, 999999, tzinfo=UTC))


# ----------------------------------------------------------------- sides (child processes)
def side_eventlab_append(args: dict[str, Any]) -> dict[str, Any]:
    import polars as pl

    from eventlab import EventStore

    frame = pl.read_parquet(args["input"])
    shutil.rmtree(args["store"], ignore_errors=True)  # a repeated run starts from scratch
    store = EventStore.create(args["store"])
    result: dict[str, Any] = {"events": frame.height}
    with C.measure(result):
        appended = store.append(frame, progress=False)
    result["files"] = appended.files
    result["bytes"] = sum(f.bytes for f in store.files)
    return result


def side_duckdb_copy(args: dict[str, Any]) -> dict[str, Any]:
    import duckdb
    import polars as pl

    frame = pl.read_parquet(args["input"])
    target = Path(args["target"])
    shutil.rmtree(target, ignore_errors=True)
    target.unlink(missing_ok=True)
    result: dict[str, Any] = {"events": frame.height}
    con = duckdb.connect()
    con.register("frame", frame)
    if args.get("partitioned"):
        sql = (
            "COPY (SELECT *, strftime(occurred_at AT TIME ZONE 'UTC', '%Y-%m') AS occurred_month "
            f"FROM frame) TO '{target}' (FORMAT parquet, COMPRESSION zstd, "
            "PARTITION_BY (stream_type, occurred_month))"
        )
    else:
        sql = f"COPY frame TO '{target}' (FORMAT parquet, COMPRESSION zstd)"
    with C.measure(result):
        con.execute(sql)
    result["bytes"] = sum(p.stat().st_size for p in [target, *target.rglob("*")] if p.is_file())
    result["files"] = 1 if target.is_file() else sum(1 for _ in target.rglob("*.parquet"))
    return result


def _eventsourcing_account() -> Any:
    """The bank account as an ``eventsourcing`` aggregate (one method per event type)."""
    from eventsourcing.domain import Aggregate, event

    class Account(Aggregate):
        @event("AccountOpened")
        def __init__(self, owner: str, occurred_at: datetime) -> None:
            self.owner, self.balance, self.closed = owner, 0.0, False

        @event("Deposited")
        def deposit(self, amount: float, occurred_at: datetime) -> None:
            self.balance += amount

        @event("Withdrawn")
        def withdraw(self, amount: float, occurred_at: datetime) -> None:
            self.balance -= amount

        @event("OwnerChanged")
        def change_owner(self, owner: str, occurred_at: datetime) -> None:
            self.owner = owner

        @event("AccountClosed")
        def close(self, occurred_at: datetime) -> None:
            self.closed = True

    return Account


def _record(account_class: Any, rows: list[tuple[Any, ...]]) -> dict[str, Any]:
    """Trigger one aggregate event per row (the library's way: a Python call per event)."""
    accounts: dict[str, Any] = {}
    for stream_id, event_type, occurred_at, amount, owner in rows:
        if event_type == "AccountOpened":
            accounts[stream_id] = account_class(owner=owner, occurred_at=occurred_at)
            continue
        account = accounts[stream_id]
        if event_type == "Deposited":
            account.deposit(amount=amount, occurred_at=occurred_at)
        elif event_type == "Withdrawn":
            account.withdraw(amount=amount, occurred_at=occurred_at)
        elif event_type == "OwnerChanged":
            account.change_owner(owner=owner, occurred_at=occurred_at)
        else:
            account.close(occurred_at=occurred_at)
    return accounts


def side_eventsourcing_application(args: dict[str, Any]) -> dict[str, Any]:
    """Aggregates + Application.save into the default POPO (in-memory) recorder."""
    import polars as pl
    from eventsourcing.application import Application

    frame = pl.read_parquet(args["input"], n_rows=args["n"])
    rows = frame.select("stream_id", "event_type", "occurred_at", "amount", "owner").rows()
    account_class = _eventsourcing_account()
    app: Application = Application(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    result: dict[str, Any] = {"events": len(rows)}
    with C.measure(result):
        accounts = _record(account_class, rows)
        app.save(*accounts.values())
    result["recorded"] = app.recorder.max_notification_id()
    return result


def side_eventsourcing_recorder(args: dict[str, Any]) -> dict[str, Any]:
    """Only the POPO recorder inserting StoredEvents that were serialised beforehand."""
    import json
    import uuid

    import polars as pl
    from eventsourcing.persistence import StoredEvent
    from eventsourcing.popo import POPOApplicationRecorder

    frame = pl.read_parquet(args["input"], n_rows=args["n"]).with_row_index("row")
    versions = frame.select(pl.int_range(1, pl.len() + 1).over("stream_id"))
    stored = [
        StoredEvent(uuid.uuid5(uuid.NAMESPACE_URL, row["stream_id"]), version,
                    f"bank:{row['event_type']}",
                    json.dumps({"amount": row["amount"], "owner": row["owner"],
                                "occurred_at": row["occurred_at"].isoformat()}).encode())
        for row, version in zip(frame.iter_rows(named=True), versions.to_series(), strict=True)
    ]
    recorder = POPOApplicationRecorder()
    result: dict[str, Any] = {"events": len(stored)}
    with C.measure(result):
        recorder.insert_events(stored)
    result["recorded"] = recorder.max_notification_id()
    return result


def _files_in_plan(plan: str) -> int:
    """Files a Polars plan reads: ``Parquet SCAN [first, ... N other sources]``."""
    match = re.search(r"SCAN \[(.*?)(?:, \.\.\. (\d+) other sources)?\]", plan)
    if match is None:
        return 0
    return 1 + int(match.group(2) or 0)


def _duckdb_plan_counts(con: Any, sql: str) -> tuple[str, str]:
    text = con.sql("EXPLAIN ANALYZE " + sql).fetchall()[0][1]
    files = re.search(r"Total Files Read: (\d+)", text)
    groups = re.search(r"Row Groups Scanned: (\d+) / (\d+)", text)
    return (files.group(1) if files else "?",
            f"{groups.group(1)} / {groups.group(2)}" if groups else "?")


def side_scan(args: dict[str, Any]) -> dict[str, Any]:
    import duckdb

    from eventlab import EventStore

    store = EventStore.open(args["store"])
    runs = int(args["runs"])
    month = store.scan(stream_types="account", occurred_from=MONTH[0], at=MONTH[1])
    t_month, rows_month = C.best_of(runs, lambda: month.collect().height)
    t_full, rows_full = C.best_of(runs, lambda: store.scan().collect().height)
    con = duckdb.connect()
    glob = f"read_parquet('{store.root}/events/**/*.parquet', hive_partitioning=true)"
    where = (f"stream_type = 'account' AND occurred_at BETWEEN TIMESTAMPTZ '{MONTH[0]}' "
             f"AND TIMESTAMPTZ '{MONTH[1]}'")
    month_sql, full_sql = f"SELECT * FROM {glob} WHERE {where}", f"SELECT * FROM {glob}"
    t_dmonth, rows_dmonth = C.best_of(runs, lambda: con.sql(month_sql).to_arrow_table().num_rows)
    t_dfull, rows_dfull = C.best_of(runs, lambda: con.sql(full_sql).to_arrow_table().num_rows)
    d_files, d_groups = _duckdb_plan_counts(con, month_sql)
    return {
        "files_total": len(store.files), "files_month": _files_in_plan(month.explain()),
        "files_full": _files_in_plan(store.scan().explain()),
        "month": [t_month, rows_month], "full": [t_full, rows_full],
        "duckdb_month": [t_dmonth, rows_dmonth], "duckdb_full": [t_dfull, rows_dfull],
        "duckdb_files_month": d_files, "duckdb_row_groups_month": d_groups,
    }


SIDES = {
    "eventlab_append": side_eventlab_append,
    "duckdb_copy": side_duckdb_copy,
    "eventsourcing_application": side_eventsourcing_application,
    "eventsourcing_recorder": side_eventsourcing_recorder,
    "scan": side_scan,
}


# ----------------------------------------------------------------- parent: run and tabulate
def _append_rows(results: dict[str, dict[str, Any]], n_events: int) -> list[list[str]]:
    base = results["eventlab"].get("seconds")
    rows = []
    labels = {
        "eventlab": "eventlab `store.append` (new store, 1 commit)",
        "duckdb": "DuckDB `COPY TO` one Parquet file (zstd)",
        "duckdb_partitioned": "DuckDB `COPY TO` `PARTITION_BY (stream_type, month)` (zstd)",
        "es_application": "eventsourcing POPO: aggregates + `Application.save` *",
        "es_recorder": "eventsourcing POPO: `recorder.insert_events` only *",
    }
    for key, label in labels.items():
        r = results[key]
        if "error" in r:
            rows.append([label, "-", "-", "-", "-", "-", "-", f"failed: {r['error'][:80]}"])
            continue
        rate = r["events"] / r["seconds"]
        seconds_10m = n_events / rate
        note = "" if r["events"] == n_events else f"measured on {r['events']:,}, time extrapolated"
        ratio = C.fmt(seconds_10m / base) + "x" if base else "-"
        cpu = r["cpu_seconds"] * n_events / r["events"]
        rows.append([label, f"{rate:,.0f}", C.fmt(seconds_10m), ratio, C.fmt(cpu),
                     C.fmt(r["added_mb"], 0), C.fmt(r["process_peak_mb"], 0), note])
    return rows


def _scan_rows(scan: dict[str, Any]) -> list[list[str]]:
    if "error" in scan:
        return [["scan failed", scan["error"][:120], "", "", ""]]
    month_s = scan["month"][0]

    def row(label: str, key: str, files: str) -> list[str]:
        seconds, count = scan[key]
        return [label, files, f"{count:,}", C.fmt(seconds, 3), C.fmt(seconds / month_s) + "x"]

    return [
        row("eventlab `scan(stream_types, occurred_from/to = June)`", "month",
            f"{scan['files_month']} of {scan['files_total']}"),
        row("eventlab `scan()` (everything)", "full",
            f"{scan['files_full']} of {scan['files_total']}"),
        row("DuckDB `read_parquet(events/**)` same filter", "duckdb_month",
            f"{scan['duckdb_files_month']} opened, row groups {scan['duckdb_row_groups_month']}"),
        row("DuckDB `read_parquet(events/**)` everything", "duckdb_full", "all"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--accounts", type=int, default=None, help="default: events / 100")
    parser.add_argument("--es-events", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=2,
                        help="processes per append side (the fastest is kept)")
    parser.add_argument("--runs", type=int, default=5, help="scan repetitions (best is kept)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    opts = parser.parse_args()
    from eventlab.examples import generate_bank_events

    work = Path(tempfile.mkdtemp(prefix="eventlab-bench-store-"))
    try:
        n, accounts = opts.events, opts.accounts or max(1, opts.events // 100)
        source = work / "input.parquet"
        generate_bank_events(n, accounts, seed=0).write_parquet(source)
        inp = {"input": str(source)}
        es = {**inp, "n": min(opts.es_events, n)}
        def run(side: str, args: dict[str, Any]) -> dict[str, Any]:
            return C.best_run(SCRIPT, side, args, opts.repeat)

        results = {
            "eventlab": run("eventlab_append", {**inp, "store": str(work / "s")}),
            "duckdb": run("duckdb_copy", {**inp, "target": str(work / "d.parquet")}),
            "duckdb_partitioned": run(
                "duckdb_copy", {**inp, "target": str(work / "dp"), "partitioned": True}),
            "es_application": run("eventsourcing_application", es),
            "es_recorder": run("eventsourcing_recorder", es),
        }
        scan = (C.run_side(SCRIPT, "scan", {"store": str(work / "s"), "runs": opts.runs})
                if "error" not in results["eventlab"] else {"error": "no store (append failed)"})
        print(report(n, accounts, results, scan))
    finally:
        if opts.keep:
            print(f"\n(work folder kept: {work})")
        else:
            shutil.rmtree(work, ignore_errors=True)


def report(n: int, accounts: int, results: dict[str, dict[str, Any]], scan: dict[str, Any]) -> str:
    runs = max(int(r.get("runs", 1)) for r in results.values())
    header = ["side", "events/s", f"seconds for {n:,}", "time vs eventlab", "CPU seconds",
              "peak added MB", "process peak MB", "note"]
    scan_header = ["scan", "files read", "rows", "seconds (best of runs)", "time vs month scan"]
    return "\n".join([
        f"### Append: {n:,} events, {accounts:,} accounts, one batch",
        f"_{C.machine()}; load average at end {C.load_average()}_", "",
        C.markdown_table(header, _append_rows(results, n)), "",
        "\\* eventsourcing records events one Python call at a time; it is measured on the first "
        "events of the same log and its time for the full batch is extrapolated from its rate "
        "(its memory figures are for the subset). \"peak added\" = highest RSS while working "
        "minus RSS before (the input frame is already loaded); \"process peak\" includes it. "
        f"Each side ran {runs} time(s), each in a fresh process; the fastest run is shown. "
        "CPU seconds = user + system time of all the side's threads (2 cores: an idle machine "
        "gives wall time between CPU/2 and CPU).",
        "", "### Scan pruning: one month of one stream type", "",
        C.markdown_table(scan_header, _scan_rows(scan)),
    ])


if __name__ == "__main__" and not C.side_main(SIDES):
    main()
