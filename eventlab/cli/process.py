"""Process analytics from a terminal: variants, flow (directly-follows), durations."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

from eventlab.cli._common import Adder, open_store, out
from eventlab.errors import InvalidArgumentError
from eventlab.storage.durable import write_bytes

TABLE_SUFFIXES = (".parquet", ".csv", ".json")
MAP_SUFFIXES = (".dot", ".svg")


def _window(args: argparse.Namespace) -> dict[str, Any]:
    return {"stream_types": args.stream_type, "at": args.at, "known_at": args.known_at}


def plain(frame: pl.DataFrame) -> pl.DataFrame:
    """The frame as text formats hold it: durations in seconds, times as ISO 8601 (UTC),
    variants as lists (JSON) - :func:`flat` joins them for CSV."""
    fixes = []
    for name, dtype in frame.schema.items():
        if isinstance(dtype, pl.Duration):
            fixes.append(pl.col(name).dt.total_microseconds() / 1e6)
        elif isinstance(dtype, pl.Datetime):
            fixes.append(pl.col(name).dt.to_string("%Y-%m-%dT%H:%M:%S%.6fZ"))
    return frame.with_columns(fixes) if fixes else frame


def flat(frame: pl.DataFrame) -> pl.DataFrame:
    lists = [pl.col(n).list.join(" → ") for n, t in frame.schema.items()
             if isinstance(t, pl.List)]
    return frame.with_columns(lists) if lists else frame


def _write(frame: pl.DataFrame, target: Path) -> None:
    suffix = target.suffix.lower()
    target.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".parquet":
        write_bytes(target, _parquet_bytes(frame))
    elif suffix == ".csv":
        write_bytes(target, flat(plain(frame)).write_csv().encode())
    else:
        write_bytes(target, json.dumps(plain(frame).to_dicts(), ensure_ascii=False).encode())


def _parquet_bytes(frame: pl.DataFrame) -> bytes:
    import io

    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    return buffer.getvalue()


def _emit(frame: pl.DataFrame, args: argparse.Namespace, what: str,
          drawings: Callable[[Path], bool] | None = None) -> int:
    if args.json:
        out(json.dumps(plain(frame).to_dicts(), ensure_ascii=False))
        return 0
    if args.out:
        target = Path(args.out)
        if drawings is None or not drawings(target):
            suffixes = TABLE_SUFFIXES + (MAP_SUFFIXES if drawings else ())
            if target.suffix.lower() not in suffixes:
                raise InvalidArgumentError("--out", args.out, f"it ends with one of {suffixes}")
            _write(frame, target)
        out(f"{what}: {frame.height:,} rows -> {target}")
        return 0
    with pl.Config(tbl_rows=args.rows, tbl_cols=10, fmt_str_lengths=80, tbl_width_chars=160):
        out(str(flat(frame)))
    return 0


def cmd_variants(args: argparse.Namespace) -> int:
    from eventlab import process

    frame = process.variants(open_store(args), **_window(args), top=args.top)
    return _emit(frame, args, "variants")


def cmd_flow(args: argparse.Namespace) -> int:
    from eventlab import process

    frame = process.directly_follows(open_store(args), **_window(args))

    def drawings(target: Path) -> bool:
        from eventlab.charts import process as process_charts

        if target.suffix.lower() == ".dot":
            text = process_charts.process_dot(frame, top=args.top).source
        elif target.suffix.lower() == ".svg":
            text = process_charts.process_svg(frame, top=args.top)
        else:
            return False
        target.parent.mkdir(parents=True, exist_ok=True)
        write_bytes(target, text.encode())
        return True

    return _emit(frame, args, "directly-follows edges", drawings)


def cmd_durations(args: argparse.Namespace) -> int:
    from eventlab import process

    frame = process.durations(open_store(args), **_window(args))
    return _emit(frame, args, "stream durations")


def _options(command: argparse.ArgumentParser, top: str | None = None) -> None:
    command.add_argument("--stream-type", action="append", metavar="T",
                         help="only streams of this type (repeatable; default: all)")
    command.add_argument("--at", help="valid time: events that occurred at or before T")
    command.add_argument("--known-at", help="transaction time: events recorded at or before K")
    if top:
        command.add_argument("--top", type=int, default=None, metavar="N", help=top)
    command.add_argument("--rows", type=int, default=20, help="rows to print (default 20)")
    shown = command.add_mutually_exclusive_group()
    shown.add_argument("--json", action="store_true", help="print JSON rows (durations in s)")
    shown.add_argument("--out", metavar="FILE", help="write .parquet, .csv or .json")


def register(add: Adder) -> None:
    _options(add("variants", cmd_variants, "variants: each stream's event types in valid-time "
                 "order, with counts and shares"),
             top="keep the N most frequent variants, sum the rest into one row")
    flow = add("flow", cmd_flow, "directly-follows edges (counts, median/mean/p95 durations, "
               "start and end activities); --out map.svg or map.dot draws the process map")
    _options(flow, top="draw only the N most frequent edges (with --out .dot/.svg)")
    _options(add("durations", cmd_durations, "per stream: start, end, duration, events, open "
                 "(still open at --at)"))
