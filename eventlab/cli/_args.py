"""Argument types and checks shared by the commands: values argparse refuses with a usage line,
and the store folder a command opens (checked before the library sees it, so that errors name
the CLI's own commands)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from eventlab.errors import StoreNotFoundError

META_FILE = "_eventlab.json"


def non_negative_int(text: str) -> int:
    """``--at-position``, ``--show``, ...: a whole number >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is negative; give 0 or more")
    return value


def seconds(text: str) -> float:
    """``--lock-timeout``: a finite number of seconds >= 0 (``nan`` and ``inf`` refused)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number of seconds >= 0")
    return value


def tolerance(text: str) -> float:
    """``diff --tolerance``: a finite number >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number >= 0")
    return value


def table_output_args(command: argparse.ArgumentParser, what: str, show_help: str) -> None:
    """``--out FILE``, ``--json`` and ``--show N``: how a command that answers with a table
    gives it (state, history, timeline, changes)."""
    command.add_argument(
        "--out", metavar="FILE", help=f"write the {what} to FILE (.parquet, .csv, .json, .jsonl)"
    )
    command.add_argument("--json", action="store_true", help="print a JSON document")
    command.add_argument(
        "--show", type=non_negative_int, default=10, metavar="N", help=show_help
    )


def store_folder(path: str) -> Path:
    """The folder of an existing store, or a StoreNotFoundError whose hint is a CLI command."""
    if not path.strip():
        raise StoreNotFoundError("the store path is empty; give the folder of a store.")
    root = Path(path)
    if not root.exists():
        raise StoreNotFoundError(
            f"{path} is not an eventlab store: no such folder. Hint: check the path, or create "
            f"a store with `eventlab init {path}`."
        )
    if not root.is_dir():
        raise StoreNotFoundError(
            f"{path} is not an eventlab store: it is a file, not a folder. Hint: give the "
            f"folder that holds {META_FILE} (the folder `eventlab init` created)."
        )
    if not (root / META_FILE).is_file():
        raise StoreNotFoundError(
            f"{path} is not an eventlab store (no {META_FILE} in it). Hint: check the path, "
            f"or create a store in an empty folder with `eventlab init {path}`."
        )
    return root


def open_store(args: argparse.Namespace) -> Any:
    """``EventStore.open`` of ``args.store`` after :func:`store_folder`'s checks."""
    from eventlab import EventStore

    return EventStore.open(store_folder(args.store), lock_timeout=args.lock_timeout)


def check_points(args: argparse.Namespace) -> dict[str, Any]:
    """``--at``/``--known-at``/``--at-position`` as the library's keywords, each checked now
    (a bad value fails before any work, naming the flag)."""
    from eventlab.timeutil import to_utc

    point: dict[str, Any] = {}
    for flag, name in (("--at", "at"), ("--known-at", "known_at")):
        value = getattr(args, name, None)
        if value is not None:
            point[name] = to_utc(value, name=flag)
    if getattr(args, "at_position", None) is not None:
        point["at_position"] = args.at_position
    return point


def point_args(command: argparse.ArgumentParser, *, at: bool = True) -> None:
    """``--at``, ``--known-at`` and ``--at-position`` (``at=False``: without ``--at``)."""
    if at:
        command.add_argument(
            "--at", metavar="T", help="valid time: events that occurred at or before T"
        )
    command.add_argument(
        "--known-at", metavar="K", help="transaction time: events recorded at or before K"
    )
    command.add_argument(
        "--at-position", metavar="P", type=non_negative_int, help="events at or before position P"
    )


def point_document(store: Any, point: dict[str, Any]) -> dict[str, Any]:
    """The ``point`` object of --json documents: the three keywords (null when not given) and
    the position they resolve to (head, capped by known_at and at_position)."""
    from eventlab.projections.temporal import resolve_position

    position = resolve_position(
        store, known_at=point.get("known_at"), at_position=point.get("at_position")
    )
    return {"at": point.get("at"), "known_at": point.get("known_at"),
            "at_position": point.get("at_position"), "position": position}
