"""Scrubber responsiveness (widgets issue): latency of one HistoryScrubber step on a big store.

    python benchmarks/bench_scrubber.py [--events 1000000] [--accounts 10000] [--steps 60]

Drives the widget from Python the way the browser does: set ``slider.value`` and time until the
callback returns, by which point the state table, the headline numbers, the events-of-the-step
table and the chart's rule are all updated (callbacks run synchronously). Two motions: "play"
(the next day, as the Play button does) and "jump" (a random day, as dragging the slider or the
date picker does). Three set-ups:

* naive - what a straightforward widget would do per step: a full fold of the state
  (``use_snapshots=False``), the step's events and the count so far from a full scan up to the
  point, and the chart rebuilt and resent with the rule at the new point.
* widget, no snapshots - HistoryScrubber(use_snapshots=False): a full fold, but narrow scans
  and a chart that only moves its rule (a Vega-Lite param).
* widget + snapshots - HistoryScrubber(snapshots="1w"): each step folds only the events after
  the nearest weekly snapshot and merges. Also stepping event by event (step="event"), and at
  an earlier "known at" commit (the widget then snapshots that commit's position too).

Then where a step's time goes (each part timed alone, median). Prints markdown. Not a test.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from eventlab import EventStore, Projection, charts  # noqa: E402
from eventlab import reducers as r  # noqa: E402
from eventlab.examples.bank import write_bank_store  # noqa: E402
from eventlab.widgets import HistoryScrubber  # noqa: E402

DATA = ROOT / "benchmarks" / "_data"
ACCOUNTS = Projection(
    "scrubbed_accounts",
    stream_types=["account"],
    fields={
        "balance": r.sum(
            pl.when(pl.col("event_type") == "Withdrawn")
            .then(-pl.col("amount"))
            .otherwise(pl.col("amount"))
        ),
        "owner": r.last("owner"),
        "status": r.status({"AccountOpened": "open", "AccountClosed": "closed"}),
        "events": r.count(),
    },
)
METRICS = {"total balance": pl.col("balance").sum(), "open": (pl.col("status") == "open").sum()}


def store_for(events: int, accounts: int) -> EventStore:
    """A bank store of its own (snapshots other benchmarks build must not help or hurt)."""
    path = DATA / f"scrubber-bank-{events}-{accounts}"
    if (path / "_eventlab.json").exists():
        return EventStore.open(path)
    DATA.mkdir(parents=True, exist_ok=True)
    print(f"building {path} ...", file=sys.stderr)
    return write_bank_store(path, n_events=events, n_accounts=accounts, batches=10,
                            progress=False)


def clear_snapshots(store: EventStore) -> None:
    for path in (store.root / "_snapshots").glob(f"{ACCOUNTS.name}-*/*.parquet"):
        path.unlink()


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def motions(points: int, steps: int, seed: int = 7) -> dict[str, list[int]]:
    rng = random.Random(seed)
    start = rng.randrange(points // 4, points // 2)
    return {
        "play": [start + i for i in range(1, steps + 1)],
        "jump": [rng.randrange(points) for _ in range(steps)],
    }


def drive(scrub: HistoryScrubber, targets: list[int]) -> list[float]:
    """Time each ``slider.value = i`` and check the outputs moved to the new point."""
    times = []
    for index in targets:
        if scrub.slider.value == index:
            index = (index + 1) % scrub.points.len()
        seconds, _ = timed(lambda i=index: setattr(scrub.slider, "value", i))
        assert scrub.chart.params.cursor == charts.iso(scrub.points[index])
        assert scrub.status.value == "", scrub.status.value
        times.append(seconds)
    return times


class Naive:
    """The per-step work of a widget without the shortcuts (for comparison only)."""

    def __init__(self, scrub: HistoryScrubber) -> None:
        self.scrub, self.store, self.view = scrub, scrub.store, scrub.view

    def step(self, index: int) -> None:
        at = self.scrub.points[index]
        previous = self.scrub.points[index - 1] if index else None
        state = self.view.state(at=at, use_snapshots=False, progress=False)
        seen = self.store.scan(stream_types=["account"], at=at).collect()
        window = seen if previous is None else seen.filter(pl.col("occurred_at") > previous)
        window.sort("occurred_at", "position").head(20)
        state.sort("stream_id").head(15)
        chart = charts.metric_over_time(self.scrub.series, "total balance", at=at)
        self.scrub.chart.chart = chart  # whole spec rebuilt and resent

    def drive(self, targets: list[int]) -> list[float]:
        return [timed(lambda i=i: self.step(i))[0] for i in targets]


def stats(times: list[float]) -> str:
    ms = sorted(t * 1000 for t in times)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    return f"{statistics.median(ms):.0f} | {p95:.0f} | {ms[-1]:.0f}"


def breakdown(scrub: HistoryScrubber, targets: list[int]) -> list[tuple[str, float]]:
    """Median time of each part of a step, timed alone."""
    parts: dict[str, list[float]] = {"state fold": [], "events of the step (narrow scan)": [],
                                     "counts (binary search)": [], "table + numbers": [],
                                     "chart rule": []}
    position = scrub.position
    for index in targets:
        at = scrub.points[index]
        parts["state fold"].append(timed(lambda a=at: scrub._fold(a, position))[0])
        query = scrub._window_query(index, position)
        parts["events of the step (narrow scan)"].append(timed(query.collect)[0])
        parts["counts (binary search)"].append(timed(lambda i=index: scrub._counts(i))[0])
        parts["table + numbers"].append(timed(lambda: (scrub._show_numbers(),
                                                       scrub._show_table()))[0])
        parts["chart rule"].append(timed(lambda a=at: setattr(
            scrub.chart.params, charts.CURSOR, charts.iso(a)))[0])
    return [(name, statistics.median(t) * 1000) for name, t in parts.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=60)
    args = parser.parse_args()
    store = store_for(args.events, args.accounts)
    clear_snapshots(store)
    charts.enable_offline()  # once per kernel; not part of any widget's cost below
    kwargs: dict[str, Any] = {"step": "day", "metrics": METRICS, "metric": "total balance",
                              "sort_by": "balance", "descending": True}
    once: dict[str, float] = {}
    once["widget built (no snapshots)"], plain = timed(
        lambda: HistoryScrubber(store, ACCOUNTS, use_snapshots=False, **kwargs))
    once["metric series: view.timeline, 120 points"], _ = timed(plain._series)
    once["weekly snapshots: view.build_snapshots"], _ = timed(
        lambda: store.project(ACCOUNTS).build_snapshots(every="1w", progress=False))
    clear_snapshots(store)
    once["widget built, snapshots='1w' (builds them)"], snap = timed(
        lambda: HistoryScrubber(store, ACCOUNTS, snapshots="1w", **kwargs))
    once["widget reopened, snapshots='1w' (reuses them)"], _ = timed(
        lambda: HistoryScrubber(store, ACCOUNTS, snapshots="1w", **kwargs))
    once["widget built (step=event)"], events = timed(
        lambda: HistoryScrubber(store, ACCOUNTS, **{**kwargs, "step": "event"}))
    plan = motions(snap.points.len(), args.steps)
    rows = [("naive (full re-fold)", m, stats(Naive(plain).drive(t))) for m, t in plan.items()]
    for name, widget in (("widget, no snapshots", plain), ("widget + snapshots (1w)", snap)):
        drive(widget, plan["play"][:3])  # warm-up
        rows += [(name, m, stats(drive(widget, t))) for m, t in plan.items()]
    by_event = motions(events.points.len(), args.steps)["play"]
    rows.append(("widget + snapshots (1w), step=event", "play", stats(drive(events, by_event))))
    once["known-at change: series + weekly snapshots for that commit"], _ = timed(
        lambda: setattr(snap.known, "value", snap.known.max - 1))
    rows.append(("widget + snapshots (1w), known at an earlier commit", "jump",
                 stats(drive(snap, plan["jump"]))))
    snap.known.value = snap.known.max
    print(f"### HistoryScrubber step latency: {args.events:,} events, {args.accounts:,} accounts,"
          f" {snap.points.len()} daily points ({events.points.len():,} event points), "
          f"{args.steps} steps per motion; {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f} at the end (wall times: other processes slow them down)\n")
    print("| set-up | motion | p50 ms | p95 ms | max ms |")
    print("|---|---|---:|---:|---:|")
    for name, motion, figures in rows:
        print(f"| {name} | {motion} | {figures} |")
    print("\n| one-off cost | seconds |\n|---|---:|")
    for name, seconds in once.items():
        print(f"| {name} | {seconds:.1f} |")
    print("\n| part of a step (widget + snapshots, jumps) | median ms |")
    print("|---|---:|")
    for name, ms in breakdown(snap, plan["jump"][:20]):
        print(f"| {name} | {ms:.1f} |")


if __name__ == "__main__":
    main()
