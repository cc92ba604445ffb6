"""``eventlab import STORE SOURCE`` for the connectors (databases, KurrentDB, OCEL).

Called by :mod:`eventlab.cli.importing` when SOURCE is a URL, an OCEL or eventsourcing file,
or ``--from`` is given; everything else is a CSV / JSON Lines / XES file for ``import_file``.
"""

from __future__ import annotations

import argparse
from typing import Any

KINDS = ("marten", "eventsourcing", "kurrentdb", "ocel")


def add_arguments(command: argparse.ArgumentParser) -> None:
    group = command.add_argument_group(
        "sources (postgresql://, kurrentdb:// URLs, OCEL and eventsourcing files)")
    group.add_argument("--from", dest="source_kind", choices=KINDS,
                       help="what SOURCE holds (needed for postgresql:// URLs and dumps)")
    group.add_argument("--full", action="store_true",
                       help="read everything again, not only what is new since the checkpoint")
    group.add_argument("--batch-size", type=int, default=250_000, metavar="N",
                       help="events per atomic append (default 250,000)")
    group.add_argument("--schema", help="Postgres schema of the tables (default public)")
    group.add_argument("--table", help="eventsourcing: the stored events table")
    group.add_argument("--engine", choices=("auto", "adbc", "connectorx", "psycopg"),
                       help="how rows are read from Postgres (default: auto)")
    group.add_argument("--valid-time", metavar="FIELD",
                       help="a data field holding the valid time (Marten, KurrentDB)")


def wants(args: argparse.Namespace) -> bool:
    from eventlab.sources.connect import is_sync_source

    return is_sync_source(args.file, args.source_kind)


def _options(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for name in ("schema", "table", "engine", "valid_time"):
        value = getattr(args, name, None)
        if value is not None:
            options[name] = value
    if args.stream_type is not None:
        options["default_stream_type"] = args.stream_type
    return options


def run(args: argparse.Namespace) -> int:
    from eventlab.cli._common import create_target, import_target, report_import
    from eventlab.sources.connect import import_source

    store = import_target(args)
    created = store is None
    store = store or create_target(args)
    summary = import_source(store, args.file, kind=args.source_kind, full=args.full,
                            batch_size=args.batch_size, progress=args.progress, **_options(args))
    return report_import(args, summary, created, sync_line(summary))


def _short(position: object) -> str:
    text = str(position)
    return text[:12] + "..." if isinstance(position, str) and len(text) > 16 else text


def sync_line(summary: Any) -> str:
    since = "everything (--full)" if summary.full else (
        "new since checkpoint " + _short(summary.previous) if summary.previous is not None
        else "everything (first sync)")
    text = (f"{summary.source}: {since}: read {summary.read:,} = imported {summary.imported:,}"
            f" + quarantined {summary.quarantined:,} + skipped {summary.skipped_duplicate:,} "
            f"({summary.streams:,} streams, {summary.batches} batch(es), {summary.seconds:.2f} s)"
            f"; checkpoint {_short(summary.checkpoint)}")
    if summary.quarantine_path:
        text += f"\n  quarantined rows with reasons: {summary.quarantine_path}"
    return text
