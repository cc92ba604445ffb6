"""Table renderers for notebook widgets: great-tables (what eventlab.render uses) against
itables and Polars' own HTML, on a read-model-like frame (id, int, two floats, text, UTC time).

    python benchmarks/bench_tables.py [--rows 1000 100000]

Prints one markdown row per (rows, renderer): best time of 3 (1 for whole 100k-row tables) and
the size of the HTML or widget payload. itables is measured only when installed
(``pip install itables``); great-tables is not run on a whole 100k-row table (~150 s). A
FrameTable step (top-k sort + one great-tables page) is timed too. Nothing asserts on time.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import polars as pl

from eventlab import render


def frame(n: int) -> pl.DataFrame:
    return pl.DataFrame({
        "stream_id": [f"C{i:06d}" for i in range(n)],
        "events": pl.int_range(n, eager=True) % 7 + 1,
        "fined": pl.int_range(n, eager=True) * 37.13 + 12345.67,
        "paid": [386.98 + (i % 5) for i in range(n)],
        "status": ["open", "paid", "paying"] * (n // 3) + ["open"] * (n % 3),
        "last_at": [datetime(2006, 1, 1, tzinfo=UTC) + timedelta(hours=i) for i in range(n)],
    })


def best(fn: Callable[[], str], reps: int) -> tuple[float, str]:
    times, out = [], ""
    for _ in range(reps):
        started = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - started)
    return min(times), out


def polars_html(df: pl.DataFrame) -> str:
    with pl.Config(tbl_rows=df.height, thousands_separator=",", fmt_float="full"):
        return str(df._repr_html_())


def renderers(df: pl.DataFrame) -> dict[str, Callable[[], str]]:
    found: dict[str, Callable[[], str]] = {
        "great-tables via render.table, whole frame": lambda: render.table(df, rows=df.height),
        "great-tables via render.table, one page of 20": lambda: render.table(df, rows=20),
        "Polars _repr_html_, whole frame": lambda: polars_html(df),
        "Polars _repr_html_, 20 rows": lambda: polars_html(df.head(20)),
    }
    if importlib.util.find_spec("itables"):
        from itables import to_html_datatable
        from itables.javascript import get_itables_extension_arguments

        found["itables to_html_datatable (offline)"] = lambda: to_html_datatable(
            df, connected=False, maxBytes=0)
        found["itables ITable widget payload"] = lambda: json.dumps(
            get_itables_extension_arguments(df, maxBytes=0)[0], default=str)
    return found


def frame_table_step(df: pl.DataFrame) -> Callable[[], str]:
    """One scrubber step of a state table: a new state shown (top-k sort, one page drawn)."""
    from eventlab.widgets._table import FrameTable

    table = FrameTable(df, key=["stream_id"], page_rows=15, sort="fined", descending=True)
    changed = df.with_columns(pl.col("fined") + 1)

    def step() -> str:
        table.show(changed, "state")
        return table.html

    return step


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000, 100_000])
    args = parser.parse_args()
    print("| rows | renderer | best time | output |\n|---|---|---|---|")
    for n in args.rows:
        df = frame(n)
        for name, fn in renderers(df).items():
            whole = "whole" in name or "itables" in name
            if n > 20_000 and name.startswith("great-tables") and whole:
                continue
            seconds, out = best(fn, 1 if n > 20_000 and whole else 3)
            print(f"| {n:,} | {name} | {seconds * 1000:,.1f} ms | {len(out):,} B |", flush=True)
        seconds, out = best(frame_table_step(df), 5)
        print(f"| {n:,} | FrameTable step (sort + page of 15) | {seconds * 1000:,.1f} ms | "
              f"{len(out):,} B |", flush=True)


if __name__ == "__main__":
    main()
