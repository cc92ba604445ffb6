"""``eventlab import``: event logs into a store."""

from __future__ import annotations

import argparse
from pathlib import Path

from eventlab.cli import syncing
from eventlab.cli._common import Adder, out, summary_line
from eventlab.errors import InputNotFoundError, ValidationError


def cmd_import(args: argparse.Namespace) -> int:
    from eventlab import EventStore
    from eventlab.importers import ColumnMapping, import_file

    if syncing.wants(args):  # a database URL, OCEL / eventsourcing file, or --from
        return syncing.run(args)
    if not Path(args.file).exists():
        raise InputNotFoundError(
            f"{args.file} does not exist; give the path of a CSV, JSONL or XES file."
        )
    created = not (Path(args.store) / "_eventlab.json").exists()
    store = (EventStore.create if created else EventStore.open)(
        args.store, lock_timeout=args.lock_timeout
    )
    mapping = None
    if args.stream_id or args.event_type or args.timestamp:
        if not (args.stream_id and args.event_type and args.timestamp):
            raise ValidationError(
                "a column mapping needs --stream-id, --event-type and --timestamp."
            )
        mapping = ColumnMapping(
            stream_id=args.stream_id,
            event_type=args.event_type,
            timestamp=args.timestamp,
            version=args.version,
            event_id=args.event_id,
            actor=args.actor,
            stream_type=args.stream_type_column,
            timestamp_format=args.timestamp_format,
        )
    summary = import_file(
        store,
        args.file,
        format=args.format,
        stream_type=args.stream_type,
        mapping=mapping,
        tz=args.tz,
        progress=args.progress,
    )
    if created:
        out(f"created store {store.root}")
    out(summary_line(summary))
    return 0


def _import_parser(command: argparse.ArgumentParser) -> None:
    command.add_argument("file", metavar="SOURCE", help="event log file, OCEL file or source URL")
    command.add_argument(
        "--format", choices=["csv", "jsonl", "xes"], help="file format (default: from the suffix)"
    )
    command.add_argument("--stream-type", help="stream type of the events (default: file stem)")
    command.add_argument("--tz", default="UTC", help="time zone of naive timestamps (UTC)")
    mapping = command.add_argument_group("column mapping (CSV / JSON Lines)")
    for flag in (
        "stream-id",
        "event-type",
        "timestamp",
        "version",
        "event-id",
        "actor",
        "stream-type-column",
        "timestamp-format",
    ):
        mapping.add_argument(f"--{flag}", metavar="COLUMN" if "format" not in flag else "FORMAT")
    syncing.add_arguments(command)


def register(add: Adder) -> None:
    _import_parser(add("import", cmd_import, "import a CSV, JSON Lines or XES(.gz) event log, "
                       "or sync a source (Marten, eventsourcing, KurrentDB, OCEL 2.0)"))
