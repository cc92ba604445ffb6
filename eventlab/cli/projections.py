"""Commands over projections: state, project, snapshot, diff."""

from __future__ import annotations

import argparse
from pathlib import Path

import polars as pl

from eventlab.cli import _plan
from eventlab.cli._args import (
    check_points,
    non_negative_int,
    point_args,
    point_document,
    table_output_args,
    tolerance,
)
from eventlab.cli._common import Adder, open_store, out, projection_args
from eventlab.cli._output import (
    columns,
    document,
    out_format,
    print_json,
    records,
    show_table,
    write_table,
)
from eventlab.errors import InvalidArgumentError, UnknownProjectionError, ValidationError

STATE_EPILOG = """\
--json prints {"command": "state", "schema_version": 1, "projection", "point": {"at",
"known_at", "at_position", "position"}, "rows", "columns": [{"name", "dtype"}], "out",
"data": [one object per key] (null when --out wrote the table)}. See docs/cli.md."""
PROJECT_EPILOG = """\
--json prints {"command": "project", "schema_version": 1, "out", "read_models": [{"projection",
"mode", "events_folded", "rows", "path", "high_water_position", "store_id", "head_commit",
"head_hash", "seconds"}]}. See docs/cli.md."""
DIFF_EPILOG = """\
Columns are compared after type coercion: a CSV column is parsed as the other side's type
(timestamps with offsets, numbers, booleans); other mismatched types compare as text.
Exit 0 when A and B are the same, 1 when they differ, 2 on an error.
--json prints {"command": "diff", "schema_version": 1, "a", "b", "key", "columns", "equal",
"only_in_a", "only_in_b", "changed", "mismatches": {column: count}, "rows": {"only_in_a",
"only_in_b", "changed"} (at most --show each)}. See docs/cli.md."""


def cmd_state(args: argparse.Namespace) -> int:
    kind = out_format(args.out) if args.out else None
    point = check_points(args)
    store = open_store(args)
    view = store.project(args.spec, name=args.projection)
    state = view.state(**point, progress=args.progress)
    if args.out and kind:
        write_table(state, args.out)
    if args.json:
        print_json(document(
            "state", projection=args.projection, point=point_document(store, point),
            rows=state.height, columns=columns(state), out=args.out,
            data=None if args.out else records(state),
        ))
        return 0
    out(f"{args.projection}: {state.height:,} keys" + (f" -> {args.out}" if args.out else ""))
    show_table(state, 5 if args.out else args.show)
    return 0


def _out_folder(path: str) -> Path:
    folder = Path(path)
    blocker = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if blocker is not None and not blocker.is_dir():
        raise InvalidArgumentError(
            "--out", path, f"{blocker} is a file; project writes read models into a folder",
            "give a folder path (it is created if missing)",
        )
    return folder


def cmd_project(args: argparse.Namespace) -> int:
    from eventlab.projections import load_projections

    folder = _out_folder(args.out)
    projections = load_projections(args.spec)
    names = args.projection or list(projections)
    for name in names:
        if name not in projections:
            raise UnknownProjectionError(name, projections, source=f"spec file {args.spec}")
    store = open_store(args)
    models = []
    for name in names:
        result = store.project(projections[name]).export(
            folder, partition_by=args.partition_by, full=args.full, progress=args.progress
        )
        model = result.read_model
        models.append({
            "projection": name, "mode": result.mode, "events_folded": result.events_folded,
            "rows": model.rows, "path": model.path,
            "high_water_position": model.high_water_position, "store_id": model.store_id,
            "head_commit": model.head_commit, "head_hash": model.head_hash,
            "seconds": round(result.seconds, 3),
        })
        if not args.json:
            out(
                f"{name}: {result.mode}, folded {result.events_folded:,} events, "
                f"{model.rows:,} rows -> {model.path} (high-water position "
                f"{model.high_water_position:,}, {result.seconds:.2f} s)"
            )
    if args.json:
        print_json(document("project", out=folder, read_models=models))
    return 0


def read_table(path: str) -> pl.DataFrame:
    """A read model from Parquet (a file or a Hive folder), CSV or JSON; in text formats a
    column whose every value is an ISO 8601 timestamp is read as UTC datetimes."""
    source = Path(path)
    if not source.exists():
        raise ValidationError(f"{path} does not exist; give a .parquet file, a folder or a .csv.")
    if not (source.is_file() or source.is_dir()):
        raise ValidationError(f"{path} is not a regular file or a folder; diff reads files.")
    suffix = source.suffix.lower()
    kind = {".csv": "CSV", ".json": "JSON", ".jsonl": "JSON Lines", ".ndjson": "JSON Lines"}.get(
        suffix, "Parquet")
    try:
        if kind == "Parquet":
            return pl.read_parquet(source, hive_partitioning=source.is_dir())
        if kind == "CSV":
            frame = pl.read_csv(source, infer_schema_length=None)
        else:
            frame = pl.read_json(source) if kind == "JSON" else pl.read_ndjson(source)
        return _timestamps(frame)
    except (pl.exceptions.PolarsError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValidationError(
            f"cannot read {path} as {kind}: {first}. Hint: diff reads .parquet files or "
            "folders, .csv files with a header, and .json/.jsonl as eventlab writes them."
        ) from None


def _timestamps(frame: pl.DataFrame) -> pl.DataFrame:
    """String columns that hold only ISO 8601 timestamps, as UTC datetimes."""
    from eventlab.timeutil import parse_timestamps

    texts = [n for n, d in frame.schema.items() if d == pl.String]
    if not texts or frame.height == 0:
        return frame
    parsed = frame.select(parse_timestamps(pl.col(n)).alias(n) for n in texts)
    whole = [
        n for n in texts
        if parsed[n].null_count() == frame[n].null_count() < frame.height
        and frame[n].drop_nulls().str.contains(r"^\s*\d{4}-\d{2}-\d{2}").all()
    ]
    return frame.with_columns(parsed[n] for n in whole) if whole else frame


def cmd_diff(args: argparse.Namespace) -> int:
    from eventlab.projections import diff_frames

    a, b = read_table(args.a), read_table(args.b)
    diff = diff_frames(a, b, args.key, tolerance=args.tolerance)
    counts = diff.summary()
    mismatches = {c: n for c, n in diff.mismatches.iter_rows() if n}
    if args.json:
        print_json(document(
            "diff", a=args.a, b=args.b, key=list(diff.key), columns=list(diff.columns),
            equal=diff.equal, **counts, mismatches=mismatches,
            rows={name: records(getattr(diff, name).head(args.show))
                  for name in ("only_in_a", "only_in_b", "changed")},
        ))
        return 0 if diff.equal else 1
    out(
        f"only in A: {counts['only_in_a']:,}  only in B: {counts['only_in_b']:,}  "
        f"changed: {counts['changed']:,}"
    )
    for column, n in mismatches.items():
        out(f"  {column}: {n:,} mismatches")
    if diff.changed.height and args.show:
        show_table(diff.changed, args.show)
    return 0 if diff.equal else 1


def cmd_snapshot(args: argparse.Namespace) -> int:
    store = open_store(args)
    view = store.project(args.spec, name=args.projection)
    lo, hi = _plan.span(store.scan(stream_types=view.projection.stream_types))
    planned = _plan.estimate_points(lo, hi, args.every)
    _plan.check_size(planned, _plan.MAX_SNAPSHOTS, args.force, "snapshot files", args.every)
    progress = _plan.progress_for(args, planned, _plan.MAX_SNAPSHOTS)
    snaps = view.build_snapshots(every=args.every, progress=progress)
    out(
        f"{len(snaps)} snapshot(s) of {args.projection} every {args.every} "
        f"in {snaps[0].path.parent if snaps else '-'}"
    )
    if args.prune:
        pruned = view.prune_snapshots(keep=1)
        out(
            f"pruned {pruned.files_removed} older snapshot file(s) ({pruned.bytes_freed:,} bytes): "
            f"earlier specs and positions before {view.store.head if snaps else '-'}"
        )
    return 0


def _state_parser(command: argparse.ArgumentParser) -> None:
    projection_args(command)
    point_args(command)
    table_output_args(command, "state", "rows to print without --out (default 10)")


def _project_parser(command: argparse.ArgumentParser) -> None:
    command.add_argument("--spec", required=True, help="TOML file with [projections.<name>]")
    command.add_argument("--projection", action="append", help="only these (repeatable)")
    command.add_argument("--out", required=True, help="folder for the read models")
    command.add_argument("--partition-by", help="write a Hive-partitioned folder by COLUMN")
    command.add_argument("--full", action="store_true", help="rebuild instead of updating")
    command.add_argument("--json", action="store_true", help="print a JSON document")


def _diff_parser(command: argparse.ArgumentParser) -> None:
    command.add_argument("a", metavar="A", help="read model A (.parquet, folder, .csv, .json)")
    command.add_argument("b", metavar="B", help="read model B (.parquet, folder, .csv, .json)")
    command.add_argument("--key", required=True, action="append", help="key column(s)")
    command.add_argument(
        "--tolerance", type=tolerance, default=0.0, help="float tolerance (default 0)"
    )
    command.add_argument(
        "--show", type=non_negative_int, default=10, help="rows of each kind to print (10)"
    )
    command.add_argument("--json", action="store_true", help="print a JSON document")


def _snapshot_parser(command: argparse.ArgumentParser) -> None:
    projection_args(command)
    command.add_argument("--every", default="1mo", help="checkpoint interval (default 1mo)")
    command.add_argument(
        "--prune", action="store_true",
        help="then remove this projection's older snapshots (earlier specs and positions)",
    )
    command.add_argument(
        "--force", action="store_true",
        help=f"write more than {_plan.MAX_SNAPSHOTS:,} snapshot files (shows progress)",
    )


def register(add: Adder) -> None:
    _state_parser(add(
        "state", cmd_state, "state of a projection at a point in time", epilog=STATE_EPILOG
    ))
    _project_parser(add(
        "project", cmd_project, "export projections' read models (incremental, with lineage)",
        epilog=PROJECT_EPILOG,
    ))
    _snapshot_parser(
        add("snapshot", cmd_snapshot, "build snapshots of a projection at checkpoints")
    )
    _diff_parser(add(
        "diff", cmd_diff, "compare two read models; exit 1 when they differ", store=False,
        epilog=DIFF_EPILOG,
    ))

