"""Process analytics: eventlab.process vs pm4py on the same logs, in one run.

    python benchmarks/bench_process.py [--events 10000000] [--copies 31] [--skip-large]
                                       [--pm4py-python PATH] [--install-pm4py DIR]

Logs: the largest bundled XES log (helpdesk, 21k events), the ~262k-event XES made by
bench_import.py (08_receipt's traces repeated 31 times: the size of BPI Challenge 2012, which is
not bundled), and ``--events`` generated events (a process of 20 activities, ~10 events per
case; deterministic). Each side runs in its own process (``_common.run_side``):

* eventlab: ``variants(store)``, ``directly_follows(store)``, ``durations(store)`` on a store
  holding the log (the time includes reading the Parquet files); then
  ``directly_follows(store, at=T)`` and, after ``read_log(store)`` (the sorted log kept in
  memory, the snapshot of process state the ProcessScrubber uses), ``directly_follows(log,
  at=T)``, T the middle of the log's time span (best of 3).
* pm4py (its own virtualenv: AGPL, never a dependency of eventlab): ``get_variants``,
  ``discover_dfg``, ``get_all_case_durations`` on the frame of ``pm4py.read_xes`` (XES logs) or
  of ``pandas.read_parquet`` (generated log), after ``format_dataframe``; reading is not timed.

Prints a markdown table of seconds and ratios (pm4py / eventlab). Nothing asserts on time.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

SCRIPT = Path(__file__).resolve()
DATA = C.ROOT / "benchmarks" / "_data"
QUESTIONS = ("variants", "directly_follows", "durations")
T0 = datetime(2024, 1, 1, tzinfo=UTC)


# ----------------------------------------------------------------- generated log
def generate_process(n_events: int, seed: int = 0) -> Any:
    """About ``n_events`` events of cases with 3-17 steps through 20 activities (a drifting
    path with loops), timestamps over one year; exactly ``n_events`` rows."""
    import polars as pl

    cases = n_events // 8 + 1
    lengths = (pl.int_range(cases, eager=True).hash(seed) % 15 + 3).cast(pl.Int64)
    frame = pl.DataFrame({"case": pl.int_range(cases, eager=True), "steps": lengths})
    events = (
        frame.with_columns(pl.int_ranges(0, "steps").alias("step")).explode("step")
        .head(n_events)
        .with_columns(pl.int_range(pl.len()).alias("i"))
    )
    bits = pl.col("i").hash(seed + 1)
    activity = ((pl.col("step") * 2 + bits % 3 + pl.col("case") % 2) % 20)
    gap_s = (bits // 7 % 86_400 * (1 + bits // 11 % 5)).cast(pl.Int64)
    start_s = (pl.col("case").hash(seed + 2) % (365 * 86_400)).cast(pl.Int64)
    return events.select(
        pl.concat_str(pl.lit("case-"), pl.col("case").cast(pl.String)).alias("stream_id"),
        pl.concat_str(pl.lit("A"), activity.cast(pl.String).str.zfill(2)).alias("event_type"),
        (pl.lit(T0) + pl.duration(seconds=start_s + gap_s.cum_sum().over("case")))
        .alias("occurred_at"),
    )


def generated_store(n_events: int) -> tuple[Path, Path]:
    """A store and a Parquet file (for pm4py) of the generated log, cached in _data/."""
    from eventlab import EventStore

    folder = DATA / f"process-{n_events}"
    store_path, parquet = folder / "store", folder / "events.parquet"
    if not (folder / "done").exists():
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        frame = generate_process(n_events)
        EventStore.create(store_path).append(frame, stream_type="case")
        frame.rename({"stream_id": "case:concept:name", "event_type": "concept:name",
                      "occurred_at": "time:timestamp"}).write_parquet(parquet)
        (folder / "done").write_text("ok")
    return store_path, parquet


def xes_store(path: Path, work: Path) -> Path:
    from eventlab import EventStore
    from eventlab.importers import import_file

    store = EventStore.create(work / f"store-{path.stem}")
    import_file(store, path, stream_type="case", progress=False)
    return store.root


# ----------------------------------------------------------------- sides
def side_eventlab(args: dict[str, Any]) -> dict[str, Any]:
    from eventlab import EventStore, process

    store = EventStore.open(args["store"])
    result: dict[str, Any] = {"events": store.head}
    calls = {"variants": process.variants, "directly_follows": process.directly_follows,
             "durations": process.durations}
    with C.measure(result):
        for name, call in calls.items():
            started = time.perf_counter()
            call(store)
            result[name] = time.perf_counter() - started
    span = store.scan().select("occurred_at").collect()["occurred_at"]
    at = span.min() + (span.max() - span.min()) / 2  # type: ignore[operator]
    result["dfg_at_store"], _ = C.best_of(3, lambda: process.directly_follows(store, at=at))
    started = time.perf_counter()
    log = process.read_log(store)
    result["read_log"] = time.perf_counter() - started
    result["dfg_at_log"], dfg = C.best_of(3, lambda: process.directly_follows(log, at=at))
    result["at"] = at.isoformat()
    result["edges_at"] = dfg.height
    return result


def side_pm4py(args: dict[str, Any]) -> dict[str, Any]:
    import pandas as pd
    import pm4py

    if args["path"].endswith(".parquet"):
        frame = pd.read_parquet(args["path"])
    else:
        frame = pm4py.read_xes(args["path"])
    frame = pm4py.format_dataframe(frame, case_id="case:concept:name",
                                   activity_key="concept:name", timestamp_key="time:timestamp")
    result: dict[str, Any] = {"version": pm4py.__version__, "events": len(frame)}
    calls = {"variants": pm4py.get_variants, "directly_follows": pm4py.discover_dfg,
             "durations": pm4py.get_all_case_durations}
    with C.measure(result):
        for name, call in calls.items():
            started = time.perf_counter()
            call(frame)
            result[name] = time.perf_counter() - started
    return result


SIDES = {"eventlab": side_eventlab, "pm4py": side_pm4py}


# ----------------------------------------------------------------- parent
def rows_for(name: str, ours: dict[str, Any], theirs: dict[str, Any]) -> list[list[str]]:
    if "error" in ours:
        return [[name, "eventlab failed: " + ours["error"][:100]]]
    rows = []
    for question in (*QUESTIONS, "seconds"):
        label = "all three" if question == "seconds" else question
        mine, other = ours[question], theirs.get(question)
        ratio = f"{other / mine:,.1f}x" if other else theirs.get("error", "-")[:60]
        rows.append([name, f"{ours['events']:,}", label, C.fmt(mine, 3),
                     C.fmt(other, 3) if other else "-", ratio])
    rows.append([name, f"{ours['events']:,}", f"directly_follows(at=T) from the store / "
                 f"from a ProcessLog (read_log {C.fmt(ours['read_log'], 2)} s)",
                 f"{ours['dfg_at_store'] * 1000:,.0f} / {ours['dfg_at_log'] * 1000:,.0f} ms",
                 "-", "-"])
    return rows


def main() -> None:
    from bench_import import find_pm4py_python, find_source, install_pm4py, make_xes

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--copies", type=int, default=31)
    parser.add_argument("--skip-large", action="store_true", help="only the XES logs")
    parser.add_argument("--pm4py-python", default=None)
    parser.add_argument("--install-pm4py", metavar="DIR", default=None)
    opts = parser.parse_args()
    if opts.install_pm4py:
        install_pm4py(Path(opts.install_pm4py))
        opts.pm4py_python = str(Path(opts.install_pm4py) / "bin/python")
    pm4py_python = find_pm4py_python(opts.pm4py_python)
    work = Path(tempfile.mkdtemp(prefix="eventlab-bench-process-"))
    logs: list[tuple[str, Path, Path]] = []
    try:
        helpdesk = find_source().parent / "helpdesk.xes.gz"
        if helpdesk.exists():
            logs.append(("helpdesk.xes.gz", xes_store(helpdesk, work), helpdesk))
        big = work / f"receipt_x{opts.copies}.xes.gz"
        make_xes(find_source(), big, opts.copies)
        logs.append((f"08_receipt x{opts.copies}", xes_store(big, work), big))
        if not opts.skip_large:
            store, parquet = generated_store(opts.events)
            logs.append(("generated", store, parquet))
        rows: list[list[str]] = []
        for name, store, source in logs:
            ours = C.run_side(SCRIPT, "eventlab", {"store": str(store)})
            theirs = C.run_side(SCRIPT, "pm4py", {"path": str(source)}, pm4py_python) \
                if pm4py_python else {"error": "pm4py not found (--install-pm4py DIR)"}
            rows += rows_for(name, ours, theirs)
            print(f"{name}: load average {C.load_average()}", file=sys.stderr, flush=True)
        header = ["log", "events", "question", "eventlab s", "pm4py s", "pm4py / eventlab"]
        print(f"### eventlab.process vs pm4py\n_{C.machine()}; load average at end "
              f"{C.load_average()}_\n")
        print(C.markdown_table(header, rows))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__" and not C.side_main(SIDES):
    main()
