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
