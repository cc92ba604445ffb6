"""What every command shares: printing, opening the store, common flags."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, Protocol

from eventlab.cli._args import seconds

Handler = Callable[[argparse.Namespace], int]


class Adder(Protocol):
    """``add(name, handler, help)``: a sub-command with STORE and the common flags."""

    def __call__(
        self, name: str, handler: Handler, text: str, store: bool = True,
        epilog: str | None = None,
    ) -> argparse.ArgumentParser: ...


def out(text: str = "") -> None:
    print(text)


def open_store(args: argparse.Namespace) -> Any:
    from eventlab.cli._args import open_store as checked_open

    return checked_open(args)


def summary_line(summary: Any) -> str:
    text = (
        f"{summary.source}: read {summary.read:,} = imported {summary.imported:,} + "
        f"quarantined {summary.quarantined:,} + duplicates {summary.skipped_duplicate:,} "
        f"({summary.streams:,} streams, {summary.seconds:.2f} s)"
    )
    if summary.quarantine_path:
        text += f"\n  quarantined rows with reasons: {summary.quarantine_path}"
    return text


def import_target(args: argparse.Namespace) -> Any | None:
    """The existing store ``eventlab import`` writes to, or None when it does not exist and
    ``--create`` allows a new one (a mistyped path must not silently become a new store)."""
    from pathlib import Path

    from eventlab import EventStore
    from eventlab.errors import StoreNotFoundError

    if (Path(args.store) / "_eventlab.json").exists():
        return EventStore.open(args.store, lock_timeout=args.lock_timeout)
    if not args.create:
        raise StoreNotFoundError(
            f"{args.store} is not an eventlab store yet. Hint: create it with `eventlab init "
            f"{args.store}`, or add --create to this import."
        )
    return None


def create_target(args: argparse.Namespace) -> Any:
    """The new store of ``eventlab import --create``."""
    from eventlab import EventStore

    return EventStore.create(args.store, lock_timeout=args.lock_timeout)


def report_import(args: argparse.Namespace, summary: Any, created: bool, line: str) -> int:
    """Print an import's counts (``line``, or a JSON document with --json); exit 2 when rows
    were read but every one of them went to quarantine, naming the first reasons."""
    import dataclasses

    from eventlab.cli._output import document, print_json

    if args.json:
        print_json(document("import", created=created, **dataclasses.asdict(summary)))
    else:
        if created:
            out(f"created store {summary_store(args)}")
        out(line)
    if summary.read and summary.quarantined == summary.read:
        import sys

        print(f"eventlab: error: none of the {summary.read:,} records of {summary.source} "
              f"could be imported; {first_reasons(summary.quarantine_path)}. Every record and "
              f"its reason: {summary.quarantine_path}", file=sys.stderr)
        return 2
    return 0


def summary_store(args: argparse.Namespace) -> str:
    from pathlib import Path

    return str(Path(args.store).resolve())


def first_reasons(path: Any, most: int = 3) -> str:
    """The commonest quarantine reasons of one quarantine file, with their counts."""
    import polars as pl

    counts = (pl.scan_parquet(path).group_by("reason").len()
              .sort(["len", "reason"], descending=[True, False]).head(most).collect())
    return "first reasons: " + "; ".join(
        f"{reason} ({n:,})" for reason, n in counts.iter_rows()
    )


def add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--lock-timeout",
        type=seconds,
        default=10.0,
        metavar="SECONDS",
        help="how long a writer waits for another writer (default 10)",
    )
    bars = parser.add_mutually_exclusive_group()
    bars.add_argument(
        "--progress", action="store_true", default=None, help="always show progress bars"
    )
    bars.add_argument(
        "--no-progress", dest="progress", action="store_false", help="never show progress bars"
    )


def projection_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--spec", required=True, help="TOML file with [projections.<name>]")
    parser.add_argument("--projection", required=True, help="name of the projection")
