"""Folds benchmark (Projections issue): full state of every account, and state(at=T).

    python benchmarks/bench_folds.py [--events 10000000] [--accounts 100000]

One synthetic bank log (eventlab.examples.bank) in one store; every side reads the same data:
the full state {balance = signed sum, owner = last, status from event types, version = max,
count} by eventlab, by DuckDB SQL over the store's Parquet files, by a plain Python dict loop, and
by the `eventsourcing` library replaying aggregates (the last two on a subset, extrapolated, as the
table says). Then state(at=T) at random T with and without snapshots, and the fold's peak memory
against the in-memory size of the columns it reads. Prints a markdown table. Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from eventlab import EventStore, Projection  # noqa: E402
from eventlab import reducers as r  # noqa: E402
from eventlab.examples.bank import write_bank_store  # noqa: E402

DATA = ROOT / "benchmarks" / "_data"
BANK = Projection(
    "accounts",
    stream_types=["account"],
    fields={
        "balance": r.sum(
            pl.when(pl.col("event_type") == "Withdrawn")
            .then(-pl.col("amount"))
            .otherwise(pl.col("amount"))
        ),
        "owner": r.last("owner"),
        "status": r.status({"AccountOpened": "open", "AccountClosed": "closed"}),
        "version": r.max("version"),
        "events": r.count(),
    },
)
SQL = """
SELECT stream_id,
  sum(CASE WHEN event_type = 'Withdrawn' THEN -amount ELSE amount END) AS balance,
  arg_max(owner, position) FILTER (WHERE owner IS NOT NULL) AS owner,
  arg_max(CASE event_type WHEN 'AccountOpened' THEN 'open' ELSE 'closed' END, position)
    FILTER (WHERE event_type IN ('AccountOpened', 'AccountClosed')) AS status,
  max(version) AS version, count(*) AS events
FROM read_parquet('{root}/events/**/*.parquet', hive_partitioning = true, union_by_name = true)
WHERE stream_type = 'account' {where}
GROUP BY stream_id
"""
PEAK = """
import json, sys
sys.path.insert(0, {root!r})
from benchmarks.bench_folds import BANK
from eventlab import EventStore

def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1]) * 1024

store = EventStore.open({store!r})
store.project(BANK).state(use_snapshots=False, at_position=1000, progress=False)  # warm up
open("/proc/self/clear_refs", "w").write("5")  # reset the peak (VmHWM) to the current RSS
base = status("VmRSS:")
if {columns}:
    frame = store.scan(stream_types=["account"]).select(BANK.columns()).collect()
    size = frame.estimated_size()
else:
    store.project(BANK).state(use_snapshots=False, progress=False)
    size = 0
print(json.dumps({{"base": base, "peak": status("VmHWM:"), "size": size}}))
"""


def best(fn: Callable[[], Any], repeat: int = 3) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return min(times), result


def store_for(events: int, accounts: int) -> EventStore:
    path = DATA / f"bank-{events}-{accounts}"
    if (path / "_eventlab.json").exists():
        return EventStore.open(path)
    DATA.mkdir(parents=True, exist_ok=True)
    print(f"building {path} ...", file=sys.stderr)
    return write_bank_store(path, n_events=events, n_accounts=accounts, progress=False)


def duckdb_state(store: EventStore, where: str = "") -> pl.DataFrame:
    import duckdb

    con = duckdb.connect()
    table = con.sql(SQL.format(root=store.root, where=where)).to_arrow_table()
    return pl.from_arrow(table)  # type: ignore[return-value]


def python_loop(frame: pl.DataFrame) -> dict[str, dict[str, Any]]:
    """A plain Python fold; it includes turning the events into Python objects, which any
    Python-level fold has to pay for."""
    state: dict[str, dict[str, Any]] = {}
    rows = frame.select("stream_id", "event_type", "amount", "owner", "version").iter_rows()
    for stream_id, event_type, amount, owner, version in rows:
        s = state.get(stream_id)
        if s is None:
            s = state[stream_id] = {
                "balance": 0.0,
                "owner": None,
                "status": None,
                "version": 0,
                "events": 0,
            }
        if amount is not None:
            s["balance"] += -amount if event_type == "Withdrawn" else amount
        if owner is not None:
            s["owner"] = owner
        if event_type == "AccountOpened":
            s["status"] = "open"
        elif event_type == "AccountClosed":
            s["status"] = "closed"
        s["version"] = version
        s["events"] += 1
    return state


def eventsourcing_rate(subset: pl.DataFrame) -> float:
    """Events/s of the eventsourcing library replaying the subset's aggregates from its store."""
    from eventsourcing.application import Application
    from eventsourcing.domain import Aggregate, event

    class Account(Aggregate):
        @event("Opened")
        def __init__(self, owner: str | None) -> None:
            self.owner, self.balance, self.status = owner, 0.0, "open"

        @event("Deposited")
        def deposit(self, amount: float) -> None:
            self.balance += amount

        @event("Withdrawn")
        def withdraw(self, amount: float) -> None:
            self.balance -= amount

        @event("OwnerChanged")
        def change_owner(self, owner: str | None) -> None:
            self.owner = owner

        @event("Closed")
        def close(self) -> None:
            self.status = "closed"

    app: Application = Application()
    ids = []
    for _, group in subset.sort("position").group_by("stream_id", maintain_order=True):
        account = None
        for event_type, amount, owner in group.select("event_type", "amount", "owner").rows():
            if account is None:
                account = Account(owner)
                continue
            if event_type == "Deposited":
                account.deposit(amount)
            elif event_type == "Withdrawn":
                account.withdraw(amount)
            elif event_type == "OwnerChanged":
                account.change_owner(owner)
            elif event_type == "AccountClosed":
                account.close()
        if account is not None:
            app.save(account)
            ids.append(account.id)
    started = time.perf_counter()
    for aggregate_id in ids:
        app.repository.get(aggregate_id)
    return subset.height / (time.perf_counter() - started)


def peak_memory(store: EventStore, columns: bool) -> dict[str, int]:
    code = PEAK.format(root=str(ROOT), store=str(store.root), columns=columns)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def point_queries(store: EventStore, n: int, snapshots: bool) -> list[float]:
    view = store.project(BANK)
    info = (
        store.scan(stream_types=["account"])
        .select(pl.col("occurred_at").min().alias("lo"), pl.col("occurred_at").max().alias("hi"))
        .collect()
    )
    lo, hi = info["lo"][0], info["hi"][0]
    rng = random.Random(7)
    times = []
    for _ in range(n):
        at = lo + timedelta(seconds=rng.uniform(0, (hi - lo).total_seconds()))
        started = time.perf_counter()
        view.state(at=at, use_snapshots=snapshots, progress=False)
        times.append(time.perf_counter() - started)
    return times


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--subset", type=int, default=500_000, help="events for the slow peers")
    parser.add_argument("--points", type=int, default=40, help="random T for state(at=T)")
    parser.add_argument("--every", default="1w", help="snapshot interval")
    args = parser.parse_args()
    store = store_for(args.events, args.accounts)
    view = store.project(BANK)

    ours_t, ours = best(lambda: view.state(use_snapshots=False, progress=False))
    duck_t, theirs = best(lambda: duckdb_state(store))
    check = (
        ours.sort("stream_id")
        .drop("balance")
        .equals(theirs.sort("stream_id").select(ours.columns).drop("balance"))
    )
    subset = store.scan(stream_types=["account"], at_position=args.subset).collect()
    ordered = subset.sort("position")
    loop_t, _ = best(lambda: python_loop(ordered), repeat=1)
    loop_full = loop_t * args.events / subset.height
    es_rate = eventsourcing_rate(subset)
    es_full = args.events / es_rate

    started = time.perf_counter()
    snaps = view.build_snapshots(every=args.every, progress=False)
    snap_build = time.perf_counter() - started
    snap_bytes = sum(s.path.stat().st_size for s in snaps)
    with_snap = point_queries(store, args.points, snapshots=True)
    without = point_queries(store, max(5, args.points // 4), snapshots=False)
    fold_mem, cols_mem = peak_memory(store, columns=False), peak_memory(store, columns=True)
    fold_peak = fold_mem["peak"] - fold_mem["base"]
    size = cols_mem["size"]

    print(
        f"\n### Folds: {args.events:,} events, {args.accounts:,} accounts, "
        f"{len(store.files)} files (results equal to DuckDB: {check})\n"
    )
    print("| measure | eventlab | peer | eventlab / peer | goal |")
    print("|---|---|---|---|---|")
    print(
        f"| full state vs DuckDB SQL (same Parquet) | {ours_t:.3f} s | {duck_t:.3f} s | "
        f"{ours_t / duck_t:.2f} | <= 0.8 |"
    )
    print(
        f"| full state vs Python dict loop (timed on {subset.height:,} events, scaled) | "
        f"{ours_t:.3f} s | {loop_full:.1f} s | 1/{loop_full / ours_t:.0f} | - |"
    )
    print(
        f"| full state vs eventsourcing replay ({es_rate:,.0f} events/s on {subset.height:,} "
        f"events, scaled) | {ours_t:.3f} s | {es_full:.0f} s | 1/{es_full / ours_t:.0f} | "
        f">= 200x faster |"
    )
    print(
        f"| state(at=T), snapshots every {args.every}: p50 / p95 ({len(with_snap)} random T) | "
        f"{pct(with_snap, 50) * 1000:.0f} / {pct(with_snap, 95) * 1000:.0f} ms | without: "
        f"{pct(without, 50) * 1000:.0f} / {pct(without, 95) * 1000:.0f} ms | "
        f"{pct(with_snap, 95) / pct(without, 95):.2f} | p95 <= 50 ms |"
    )
    print(
        f"| peak memory of the full fold vs size of the columns it reads | "
        f"{fold_peak / 1e6:,.0f} MB | {size / 1e6:,.0f} MB | {fold_peak / size:.2f} | <= 2 |"
    )
    print(f"\nsnapshots: {len(snaps)} built in {snap_build:.1f} s, {snap_bytes / 1e6:,.0f} MB; "
          f"{os.cpu_count()} cores, load average (1 min) at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
