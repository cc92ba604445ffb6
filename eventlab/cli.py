"""The ``eventlab`` command line: the library's jobs from a terminal.

Every command has ``--help``. A user error (missing file, bad option, invalid data) prints one
line starting with ``eventlab: error:`` and exits 2; ``diff`` and ``verify`` exit 1 when they
find differences or problems.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from eventlab.errors import EventlabError
from eventlab.samples import FINES_SPEC, ROAD_FINES

Handler = Callable[[argparse.Namespace], int]


def _out(text: str = "") -> None:
    print(text)


def _store(args: argparse.Namespace) -> Any:
    from eventlab import EventStore

    return EventStore.open(args.store, lock_timeout=args.lock_timeout)


# ----------------------------------------------------------------------------- store commands
def cmd_init(args: argparse.Namespace) -> int:
    from eventlab import EventStore

    store = EventStore.create(args.store)
    _out(f"created an empty store in {store.root}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from eventlab import EventStore
    from eventlab.importers import ColumnMapping, import_file

    if not Path(args.file).exists():
        raise EventlabError(
            f"{args.file} does not exist; give the path of a CSV, JSONL or XES file."
        )
    created = not (Path(args.store) / "_eventlab.json").exists()
    store = (EventStore.create if created else EventStore.open)(
        args.store, lock_timeout=args.lock_timeout
    )
    mapping = None
    if args.stream_id or args.event_type or args.timestamp:
        if not (args.stream_id and args.event_type and args.timestamp):
            raise EventlabError("a column mapping needs --stream-id, --event-type and --timestamp.")
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
        _out(f"created store {store.root}")
    _out(_summary_line(summary))
    return 0


def _summary_line(summary: Any) -> str:
    text = (
        f"{summary.source}: read {summary.read:,} = imported {summary.imported:,} + "
        f"quarantined {summary.quarantined:,} + duplicates {summary.skipped_duplicate:,} "
        f"({summary.streams:,} streams, {summary.seconds:.2f} s)"
    )
    if summary.quarantine_path:
        text += f"\n  quarantined rows with reasons: {summary.quarantine_path}"
    return text


def cmd_info(args: argparse.Namespace) -> int:
    info = _store(args).info()
    if args.json:
        _out(json.dumps(info.to_dict(), indent=2))
        return 0
    for key, value in info.to_dict().items():
        if isinstance(value, dict):
            value = ", ".join(f"{k} ({v:,})" for k, v in list(value.items())[:10])
        _out(f"{key:>18}: {value}")
    return 0


def cmd_compact(args: argparse.Namespace) -> int:
    store = _store(args)
    result = store.compact(progress=args.progress)
    if result.commit is None:
        _out("nothing to compact: every partition already has one file per row target")
    else:
        _out(
            f"compacted {result.partitions} partition(s): {result.files_before} -> "
            f"{result.files_after} files, events unchanged (content sha256 "
            f"{result.content_sha256[:16]}...)"
        )
    from eventlab.write.journal import compact as compact_journal

    merged, commands = compact_journal(store.root)
    if merged:
        _out(f"command journal: {merged} files -> 1 ({commands:,} commands)")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from eventlab.store.verify import verify_store

    # not through EventStore.open: it refuses a broken hash chain, which verify must report
    report = verify_store(args.store, anchor=args.expect_anchor, progress=args.progress)
    if args.anchor:
        _out(report.head_hash)
        return 0 if report.ok else 1
    if args.json:
        _out(
            json.dumps(
                {
                    "ok": report.ok,
                    "head_hash": report.head_hash,
                    "findings": report.to_frame().to_dicts(),
                },
                indent=2,
            )
        )
    elif report.ok:
        _out(
            f"ok: {report.events:,} events in {report.files:,} files, {report.commits:,} "
            f"commits; head hash {report.head_hash}"
        )
    else:
        for finding in report.findings:
            _out(f"{finding.kind}: {finding.where}: {finding.detail}")
        _out(f"FAILED: {len(report.findings)} finding(s)")
    return 0 if report.ok else 1


def cmd_forget(args: argparse.Namespace) -> int:
    result = _store(args).forget(args.subject)
    _out(
        f"forgot subject {result.subject!r}: key {result.key_id} "
        f"{'destroyed' if result.had_key else 'had never been created (tombstone written)'}; "
        f"personal values of its {result.events:,} event(s) now read as [redacted]; "
        f"{result.snapshots_removed} snapshot file(s) removed. Event files and log are "
        "unchanged; read models exported earlier keep their old values until re-exported."
    )
    return 0


# ----------------------------------------------------------------------- projection commands
def _point(value: str | None) -> str | None:
    return value


def cmd_state(args: argparse.Namespace) -> int:
    view = _store(args).project(args.spec, name=args.projection)
    state = view.state(
        at=args.at, known_at=args.known_at, at_position=args.at_position, progress=args.progress
    )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    state.write_parquet(args.out)
    _out(f"{args.projection}: {state.height:,} keys -> {args.out}")
    with pl.Config(tbl_rows=5, tbl_cols=8):
        _out(str(state.head(5)))
    return 0


def cmd_project(args: argparse.Namespace) -> int:
    from eventlab.projections import load_projections

    store = _store(args)
    projections = load_projections(args.spec)
    names = args.projection or list(projections)
    unknown = [n for n in names if n not in projections]
    if unknown:
        raise EventlabError(
            f"projection(s) {unknown} are not in {args.spec}; it defines {sorted(projections)}."
        )
    for name in names:
        result = store.project(projections[name]).export(
            args.out, partition_by=args.partition_by, full=args.full, progress=args.progress
        )
        model = result.read_model
        _out(
            f"{name}: {result.mode}, folded {result.events_folded:,} events, "
            f"{model.rows:,} rows -> {model.path} (high-water position "
            f"{model.high_water_position:,}, {result.seconds:.2f} s)"
        )
    return 0


def _read_table(path: str) -> pl.DataFrame:
    source = Path(path)
    if not source.exists():
        raise EventlabError(f"{path} does not exist.")
    if source.suffix.lower() == ".csv":
        return pl.read_csv(source, infer_schema_length=10_000)
    try:
        return pl.read_parquet(source, hive_partitioning=source.is_dir())
    except pl.exceptions.PolarsError as exc:
        raise EventlabError(f"cannot read {path} as Parquet or CSV: {exc}") from None


def cmd_diff(args: argparse.Namespace) -> int:
    from eventlab.projections import diff_frames

    diff = diff_frames(_read_table(args.a), _read_table(args.b), args.key, tolerance=args.tolerance)
    counts = diff.summary()
    _out(
        f"only in A: {counts['only_in_a']:,}  only in B: {counts['only_in_b']:,}  "
        f"changed: {counts['changed']:,}"
    )
    for column, n in diff.mismatches.filter(pl.col("mismatches") > 0).iter_rows():
        _out(f"  {column}: {n:,} mismatches")
    if diff.changed.height:
        with pl.Config(tbl_rows=args.show, tbl_cols=10):
            _out(str(diff.changed.head(args.show)))
    return 0 if diff.equal else 1


def cmd_snapshot(args: argparse.Namespace) -> int:
    view = _store(args).project(args.spec, name=args.projection)
    snaps = view.build_snapshots(every=args.every, progress=args.progress)
    _out(
        f"{len(snaps)} snapshot(s) of {args.projection} every {args.every} "
        f"in {snaps[0].path.parent if snaps else '-'}"
    )
    if args.prune:
        pruned = view.prune_snapshots(keep=1)
        _out(
            f"pruned {pruned.files_removed} older snapshot file(s) ({pruned.bytes_freed:,} bytes): "
            f"earlier specs and positions before {view.store.head if snaps else '-'}"
        )
    return 0


# ------------------------------------------------------------------------------------- demo
def cmd_demo(args: argparse.Namespace) -> int:
    from eventlab import EventStore
    from eventlab.importers import import_file

    source, spec = ROAD_FINES, FINES_SPEC
    if not source.exists():
        raise EventlabError(f"the bundled sample {source} is missing; run from a source checkout.")
    root = Path(args.store)
    store = EventStore.open(root) if (root / "_eventlab.json").exists() else EventStore.create(root)
    summary = import_file(store, source, stream_type="fine")
    _out(
        "eventlab demo: Italian road-traffic fines (100 real cases, CC BY 4.0, see data/README.md)"
    )
    _out(_summary_line(summary))
    info = store.info()
    _out(
        f"store: {info.events:,} events, {info.streams:,} streams, {info.files} Parquet files "
        f"in {store.root / 'events'}"
    )
    state = store.project(spec, name="fines").state()
    open_fines = state.filter(pl.col("outstanding") > 0)
    _out(
        f"projection 'fines': {state.height} fines, {open_fines.height} with money "
        f"outstanding, {open_fines['outstanding'].sum():,.2f} EUR in total"
    )
    _out(
        f"try: eventlab info {root} --json  |  eventlab state {root} --spec {spec} "
        f"--projection fines --out fines.parquet  |  make lab"
    )
    return 0


# ----------------------------------------------------------------------------------- parser
def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--lock-timeout",
        type=float,
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


def _projection_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--spec", required=True, help="TOML file with [projections.<name>]")
    parser.add_argument("--projection", required=True, help="name of the projection")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="eventlab", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, handler: Handler, text: str, store: bool = True) -> argparse.ArgumentParser:
        command = sub.add_parser(name, help=text, description=text)
        if store:
            command.add_argument("store", metavar="STORE", help="store folder")
        _common(command)
        command.set_defaults(handler=handler)
        return command

    add("init", cmd_init, "create an empty store")
    _import_parser(add("import", cmd_import, "import a CSV, JSON Lines or XES(.gz) event log"))
    add("info", cmd_info, "summarise a store").add_argument(
        "--json", action="store_true", help="print a JSON object"
    )
    add("compact", cmd_compact, "merge small event files (events unchanged) and journal files")
    verify = add("verify", cmd_verify, "check files, hash chain and events; exit 1 on findings")
    verify.add_argument(
        "--anchor",
        action="store_true",
        help="print the head hash to keep elsewhere (exit 1 if verify fails)",
    )
    verify.add_argument(
        "--expect-anchor",
        metavar="HASH",
        help="fail unless this earlier head hash is still in the chain",
    )
    verify.add_argument("--json", action="store_true", help="print findings as JSON")
    add("forget", cmd_forget, "destroy a subject's key: its personal values read as "
        "[redacted] (crypto-shredding)").add_argument(
        "subject", metavar="SUBJECT", help="value of the subject column (e.g. a stream_id)")
    _state_parser(add("state", cmd_state, "state of a projection at a point in time -> Parquet"))
    _project_parser(add("project", cmd_project, "export projections' read models (incremental)"))
    snapshot = add("snapshot", cmd_snapshot, "build snapshots of a projection at checkpoints")
    _projection_args(snapshot)
    snapshot.add_argument("--every", default="1mo", help="checkpoint interval (default 1mo)")
    snapshot.add_argument(
        "--prune", action="store_true",
        help="then remove this projection's older snapshots (earlier specs and positions)",
    )
    _diff_parser(
        add("diff", cmd_diff, "compare two read models; exit 1 when they differ", store=False)
    )
    demo = add("demo", cmd_demo, "import the bundled sample log and print a summary", store=False)
    demo.add_argument("store", nargs="?", default="demo-store", help="store folder (demo-store)")
    return parser


def _import_parser(command: argparse.ArgumentParser) -> None:
    command.add_argument("file", metavar="FILE", help="event log to import")
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


def _state_parser(command: argparse.ArgumentParser) -> None:
    _projection_args(command)
    command.add_argument("--at", help="valid time: events that occurred at or before T")
    command.add_argument("--known-at", help="transaction time: events recorded at or before K")
    command.add_argument("--at-position", type=int, help="events at or before position P")
    command.add_argument("--out", required=True, help="Parquet file to write")


def _project_parser(command: argparse.ArgumentParser) -> None:
    command.add_argument("--spec", required=True, help="TOML file with [projections.<name>]")
    command.add_argument("--projection", action="append", help="only these (repeatable)")
    command.add_argument("--out", required=True, help="folder for the read models")
    command.add_argument("--partition-by", help="write a Hive-partitioned folder by COLUMN")
    command.add_argument("--full", action="store_true", help="rebuild instead of updating")


def _diff_parser(command: argparse.ArgumentParser) -> None:
    command.add_argument("a", metavar="A", help="read model A (.parquet, folder or .csv)")
    command.add_argument("b", metavar="B", help="read model B (.parquet, folder or .csv)")
    command.add_argument("--key", required=True, action="append", help="key column(s)")
    command.add_argument("--tolerance", type=float, default=0.0, help="float tolerance")
    command.add_argument("--show", type=int, default=10, help="changed rows to print")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``eventlab`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except (EventlabError, FileNotFoundError, PermissionError, IsADirectoryError) as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"eventlab: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("eventlab: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
