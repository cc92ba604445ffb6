"""Commands that look after a store: init, info, compact, verify, forget, demo."""

from __future__ import annotations

import argparse
from pathlib import Path

import polars as pl

from eventlab.cli._common import Adder, open_store, out, summary_line
from eventlab.cli._output import document, print_json
from eventlab.errors import InputNotFoundError
from eventlab.samples import FINES_SPEC, ROAD_FINES

INFO_EPILOG = """\
--json prints {"command": "info", "schema_version": 1, "path", "events", "streams",
"stream_types", "event_types", "first_occurred_at", "last_occurred_at", "last_recorded_at",
"files", "bytes", "commits", "head_hash", "store_id"}. See docs/cli.md."""
VERIFY_EPILOG = """\
--json prints {"command": "verify", "schema_version": 1, "ok", "head_hash", "commits", "events",
"files", "findings": [{"kind", "where", "detail"}]}. See docs/cli.md."""


def cmd_init(args: argparse.Namespace) -> int:
    from eventlab import EventStore, StoreExistsError

    root = Path(args.store)
    if root.is_dir() and any(root.iterdir()):
        what = "an eventlab store" if (root / "_eventlab.json").exists() else "a folder with files"
        raise StoreExistsError(
            f"{root} is already {what}; init needs a new or empty folder. Hint: use the store "
            f"as it is (`eventlab info {root}`), or give another path."
        )
    store = EventStore.create(root)
    out(f"created an empty store in {store.root}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from eventlab.store.identity import store_id

    store = open_store(args)
    data = {**store.info().to_dict(), "store_id": store_id(store.root)}
    if args.json:
        print_json(document("info", **data))
        return 0
    for key, value in data.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k} ({v:,})" for k, v in list(value.items())[:10])
        out(f"{key:>18}: {value}")
    return 0


def cmd_compact(args: argparse.Namespace) -> int:
    store = open_store(args)
    result = store.compact(progress=args.progress)
    if result.commit is None:
        out("nothing to compact: every partition already has one file per row target")
    else:
        out(
            f"compacted {result.partitions} partition(s): {result.files_before} -> "
            f"{result.files_after} files, events unchanged (content sha256 "
            f"{result.content_sha256[:16]}...)"
        )
    from eventlab.write.journal import compact as compact_journal

    merged, commands = compact_journal(store.root)
    if merged:
        out(f"command journal: {merged} files -> 1 ({commands:,} commands)")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from eventlab.store.verify import verify_store

    # not through EventStore.open: it refuses a broken hash chain, which verify must report
    report = verify_store(args.store, anchor=args.expect_anchor, progress=args.progress)
    if args.anchor:
        out(report.head_hash)
        return 0 if report.ok else 1
    if args.json:
        print_json(document(
            "verify", ok=report.ok, head_hash=report.head_hash, commits=report.commits,
            events=report.events, files=report.files, findings=report.to_frame().to_dicts(),
        ))
    elif report.ok:
        out(
            f"ok: {report.events:,} events in {report.files:,} files, {report.commits:,} "
            f"commits; head hash {report.head_hash}"
        )
    else:
        for finding in report.findings:
            out(f"{finding.kind}: {finding.where}: {finding.detail}")
        out(f"FAILED: {len(report.findings)} finding(s)")
    return 0 if report.ok else 1


def cmd_forget(args: argparse.Namespace) -> int:
    result = open_store(args).forget(args.subject)
    out(
        f"forgot subject {result.subject!r}: key {result.key_id} "
        f"{'destroyed' if result.had_key else 'had never been created (tombstone written)'}; "
        f"personal values of its {result.events:,} event(s) now read as [redacted]; "
        f"{result.snapshots_removed} snapshot file(s) removed, {result.quarantine_rows_dropped} "
        f"quarantined row(s) dropped, {result.journal_rows_redacted} journal row(s) redacted. "
        "Event files and log are unchanged; read models exported earlier keep their old values "
        "until re-exported."
    )
    return 0


def cmd_declare_personal(args: argparse.Namespace) -> int:
    store = open_store(args)
    store.declare_personal(args.stream_type, args.column, subject=args.subject)
    out(
        f"{args.stream_type}: column(s) {', '.join(args.column)} are personal from now on, "
        f"encrypted per {args.subject!r}; `eventlab forget {args.store} SUBJECT` makes them "
        "read as [redacted]"
    )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from eventlab import EventStore
    from eventlab.importers import import_file

    source, spec = ROAD_FINES, FINES_SPEC
    if not source.exists():
        raise InputNotFoundError(
            f"the bundled sample {source} is missing; run from a source checkout (git clone)."
        )
    root = Path(args.store)
    store = EventStore.open(root) if (root / "_eventlab.json").exists() else EventStore.create(root)
    summary = import_file(store, source, stream_type="fine")
    out(
        "eventlab demo: Italian road-traffic fines (100 real cases, CC BY 4.0, see data/README.md)"
    )
    out(summary_line(summary))
    info = store.info()
    out(
        f"store: {info.events:,} events, {info.streams:,} streams, {info.files} Parquet files "
        f"in {store.root / 'events'}"
    )
    state = store.project(spec, name="fines").state()
    open_fines = state.filter(pl.col("outstanding") > 0)
    out(
        f"projection 'fines': {state.height} fines, {open_fines.height} with money "
        f"outstanding, {open_fines['outstanding'].sum():,.2f} EUR in total"
    )
    out(
        f"try: eventlab info {root} --json  |  eventlab state {root} --spec {spec} "
        f"--projection fines --out fines.parquet  |  make lab"
    )
    return 0


def register(add: Adder) -> None:
    add("init", cmd_init, "create an empty store")
    add("info", cmd_info, "summarise a store", epilog=INFO_EPILOG).add_argument(
        "--json", action="store_true", help="print a JSON document"
    )
    add("compact", cmd_compact, "merge small event files (events unchanged) and journal files")
    verify = add("verify", cmd_verify, "check files, hash chain and events; exit 1 on findings",
                 epilog=VERIFY_EPILOG)
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
    declare = add("declare-personal", cmd_declare_personal, "encrypt personal columns of a "
                  "stream type per subject from now on (needs eventlab[crypto])")
    declare.add_argument("--stream-type", required=True, help="stream type whose events hold them")
    declare.add_argument("--column", required=True, action="append",
                         help="a personal payload column, or actor (repeatable)")
    declare.add_argument("--subject", default="stream_id",
                         help="column naming the person (a surrogate id; default stream_id)")
    demo = add("demo", cmd_demo, "import the bundled sample log and print a summary", store=False)
    demo.add_argument("store", nargs="?", default="demo-store", help="store folder (demo-store)")
