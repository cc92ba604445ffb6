"""Command handling benchmark (write-side issue): vectorized handle_many against handle one by one.

    python benchmarks/bench_commands.py [--commands 200000] [--accounts 20000] [--single 300]

The bank-account decider (eventlab.examples.bank_domain) with its overdraft rule, on two
workloads, each into a fresh store:

* ``uniform``: a simulation where every account gets about the same number of commands
  (first OpenAccount, then deposits and withdrawals at random);
* ``bank log``: the commands behind the synthetic bank log (eventlab.examples.bank), whose
  activity per account is log-normal: a few accounts get hundreds of commands.

``handle_many`` decides vectorized: in rounds (the k-th command of every stream at once) when no
stream has more than 4 commands, else speculatively (all pending commands at once, repeated
until the guessed outcomes are confirmed); the "passes" column counts rounds or iterations, the
"max per stream" column what rounds alone would need. ``decide only`` is the engine without the
store (no state load, no append, no journal). ``one by one`` calls
``handle(store, command)`` for the first ``--single`` commands of the same workload (each call
loads the stream's state, decides, appends one commit and writes its journal file). Every side
runs in its own process. Not a test: nothing asserts on time.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _common import fmt, markdown_table, measure, run_side, side_main  # noqa: E402

from eventlab import EventStore  # noqa: E402
from eventlab.examples.bank_domain import bank_commands, bank_decider  # noqa: E402
from eventlab.textformat import format_text  # noqa: E402

START = datetime(2024, 1, 1, tzinfo=UTC)


def uniform_commands(n: int, accounts: int, seed: int = 0) -> pl.DataFrame:
    """``n`` commands spread evenly over ``accounts``: OpenAccount first, then 55% deposits."""
    i = pl.int_range(n, dtype=pl.Int64, eager=True).alias("i").to_frame()
    frame = i.with_columns(account=pl.col("i").hash(seed) % accounts).with_columns(
        rank=pl.int_range(pl.len()).over("account"))
    kind = (pl.when(pl.col("rank") == 0).then(pl.lit("OpenAccount"))
            .when(pl.col("i").hash(seed + 1) % 100 < 55).then(pl.lit("Deposit"))
            .otherwise(pl.lit("Withdraw")))
    return frame.select(
        format_text("u{}-{}", pl.lit(seed), "i").alias("command_id"),
        kind.alias("command_type"),
        format_text("acc-{}", pl.col("account").cast(pl.String).str.zfill(7)).alias("stream_id"),
        (pl.lit(START) + pl.duration(seconds=pl.col("i"))).alias("occurred_at"),
        pl.when(pl.col("rank") > 0).then(
            (pl.col("i").hash(seed + 2) % 50_000).cast(pl.Float64) / 100 + 1).alias("amount"),
        pl.when(pl.col("rank") == 0).then(format_text("Owner {}", "account")).alias("owner"),
    )


def workload(args: dict[str, Any]) -> pl.DataFrame:
    if args["workload"] == "uniform":
        return uniform_commands(args["commands"], args["accounts"])
    return bank_commands(args["commands"], args["accounts"], seed=0)


def side_vectorized(args: dict[str, Any]) -> dict[str, Any]:
    from eventlab.write import handle_many

    commands = workload(args)
    decider = bank_decider(overdraft_limit=0.0)
    store = EventStore.create(Path(tempfile.mkdtemp()) / "store")
    result: dict[str, Any] = {}
    with measure(result):
        done = handle_many(store, commands, decider)
    per_stream = commands.group_by("stream_id").len()["len"]
    result.update(commands=commands.height, streams=per_stream.len(), rounds=done.rounds,
                  busiest=int(per_stream.max() or 0),
                  accepted=done.accepted, rejected=done.rejected,
                  appended=done.append.appended if done.append else 0)
    return result


def side_decide_only(args: dict[str, Any]) -> dict[str, Any]:
    from datetime import UTC, datetime

    from eventlab.write import validate
    from eventlab.write.engine import run

    commands = workload(args)
    decider = bank_decider(overdraft_limit=0.0)
    result: dict[str, Any] = {}
    with measure(result):
        checked = validate(commands, decider.command_types, now=datetime.now(UTC))
        valid = checked.filter(pl.col("reason").is_null()).drop("reason")
        done = run(decider, valid, pl.DataFrame(schema=decider.partial_schema))
    result.update(commands=commands.height, rounds=done.rounds)
    return result


def side_one_by_one(args: dict[str, Any]) -> dict[str, Any]:
    from eventlab.write import Command, handle

    commands = workload(args).head(args["single"])
    decider = bank_decider(overdraft_limit=0.0)
    store = EventStore.create(Path(tempfile.mkdtemp()) / "store")
    items = [
        Command(row["command_type"], row["stream_id"],
                {k: row[k] for k in ("amount", "owner") if row[k] is not None},
                row["command_id"], row["occurred_at"])
        for row in commands.iter_rows(named=True)
    ]
    result: dict[str, Any] = {}
    with measure(result):
        accepted = sum(handle(store, item, decider).accepted for item in items)
    result.update(commands=len(items), accepted=accepted)
    return result


SIDES = {"vectorized": side_vectorized, "decide": side_decide_only,
         "single": side_one_by_one}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=200_000)
    parser.add_argument("--accounts", type=int, default=20_000)
    parser.add_argument("--single", type=int, default=300)
    opts = parser.parse_args()
    script = Path(__file__)
    rows = []
    for name in ("uniform", "bank log"):
        args = {"workload": name, "commands": opts.commands, "accounts": opts.accounts,
                "single": opts.single}
        many = run_side(script, "vectorized", args)
        decide = run_side(script, "decide", args)
        single = run_side(script, "single", args)
        if "error" in many or "error" in single or "error" in decide:
            rows.append([name, many.get("error") or decide.get("error") or single.get("error")])
            continue
        rate = many["commands"] / many["seconds"]
        one = single["commands"] / single["seconds"]
        rows.append([
            name, f"{many['commands']:,} / {many['streams']:,}", many["busiest"],
            many["rounds"],
            f"{many['accepted']:,} / {many['rejected']:,}",
            fmt(many["seconds"]), fmt(rate), fmt(decide["commands"] / decide["seconds"]),
            fmt(one), f"{rate / one:,.0f}x", fmt(many["peak_during_mb"], 0),
        ])
    print(markdown_table(
        ["workload", "commands / streams", "max per stream", "passes", "accepted / rejected",
         "handle_many s", "handle_many cmd/s", "decide only cmd/s", "one by one cmd/s",
         "speed-up", "peak MB"], rows))
    print(f"\nload average (1 min) at the end: {os.getloadavg()[0]:.2f}; one by one measured on "
          f"the first {opts.single} commands of each workload.")


if __name__ == "__main__" and not side_main(SIDES):
    main()
