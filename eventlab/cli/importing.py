"""``eventlab import``: event logs into a store."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from eventlab.cli import syncing
from eventlab.cli._common import Adder, create_target, import_target, report_import, summary_line
from eventlab.errors import InputNotFoundError, ValidationError


def cmd_import(args: argparse.Namespace) -> int:
    from eventlab.sources.importer import import_parsed, read_file

    if syncing.wants(args):  # a database URL, OCEL / eventsourcing file, or --from
        return syncing.run(args)
    if not Path(args.file).exists():
        raise InputNotFoundError(
            f"{args.file} does not exist; give the path of a CSV, JSONL or XES file."
        )
    mapping = _mapping(args)
    started = time.perf_counter()
    store = import_target(args)  # a new store is created only once the file could be read
    parsed = read_file(args.file, format=args.format, stream_type=args.stream_type,
                       mapping=mapping, tz=args.tz, prefer=store.schema if store else None)
    created = store is None
    summary = import_parsed(store or create_target(args), parsed, progress=args.progress,
                            started=started)
    return report_import(args, summary, created, summary_line(summary))


def _mapping(args: argparse.Namespace) -> Any:
    from eventlab.importers import ColumnMapping

    if not (args.stream_id or args.event_type or args.timestamp):
        return None
    if not (args.stream_id and args.event_type and args.timestamp):
        raise ValidationError("a column mapping needs --stream-id, --event-type and --timestamp.")
    return ColumnMapping(
        stream_id=args.stream_id,
        event_type=args.event_type,
        timestamp=args.timestamp,
        version=args.version,
        event_id=args.event_id,
        actor=args.actor,
        stream_type=args.stream_type_column,
        timestamp_format=args.timestamp_format,
    )


MAPPING_FLAGS = {
    "stream-id": "column naming the stream (case, aggregate id); with --event-type, --timestamp",
    "event-type": "column naming what happened (activity, event type)",
    "timestamp": "column of the valid time (when it happened)",
    "version": "column of the source's version within each stream (kept and checked)",
    "event-id": "column of a source event id (re-imports skip ids already stored)",
    "actor": "column of who did it (e.g. org:resource)",
    "stream-type-column": "column naming each row's stream type",
    "timestamp-format": "strftime format of --timestamp, e.g. '%%d/%%m/%%Y %%H:%%M'",
}


def _import_parser(command: argparse.ArgumentParser) -> None:
    command.add_argument("file", metavar="SOURCE", help="event log file, OCEL file or source URL")
    command.add_argument(
        "--format", choices=["csv", "jsonl", "xes"], help="file format (default: from the suffix)"
    )
    command.add_argument("--create", action="store_true",
                         help="create STORE if it does not exist (else: eventlab init STORE)")
    command.add_argument("--json", action="store_true", help="print a JSON document")
    command.add_argument("--stream-type", help="stream type of the events (default: file stem)")
    command.add_argument("--tz", default="UTC", help="time zone of naive timestamps (UTC)")
    mapping = command.add_argument_group("column mapping (CSV / JSON Lines)")
    for flag, text in MAPPING_FLAGS.items():
        mapping.add_argument(
            f"--{flag}", metavar="COLUMN" if "format" not in flag else "FORMAT", help=text
        )
    syncing.add_arguments(command)


def register(add: Adder) -> None:
    _import_parser(add("import", cmd_import, "import a CSV, JSON Lines or XES(.gz) event log, "
                       "or sync a source (Marten, eventsourcing, KurrentDB, OCEL 2.0)"))
