"""Commands over projections: state, project, snapshot, diff."""

from __future__ import annotations

import argparse
from pathlib import Path

import polars as pl

from eventlab.cli._common import Adder, open_store, out, projection_args
from eventlab.errors import EventlabError


def cmd_state(args: argparse.Namespace) -> int:
    view = open_store(args).project(args.spec, name=args.projection)
    state = view.state(
        at=args.at, known_at=args.known_at, at_position=args.at_position, progress=args.progress
    )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    state.write_parquet(args.out)
    out(f"{args.projection}: {state.height:,} keys -> {args.out}")
    with pl.Config(tbl_rows=5, tbl_cols=8):
        out(str(state.head(5)))
    return 0


def cmd_project(args: argparse.Namespace) -> int:
    from eventlab.projections import load_projections

    store = open_store(args)
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
        out(
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
    out(
        f"only in A: {counts['only_in_a']:,}  only in B: {counts['only_in_b']:,}  "
        f"changed: {counts['changed']:,}"
    )
    for column, n in diff.mismatches.filter(pl.col("mismatches") > 0).iter_rows():
        out(f"  {column}: {n:,} mismatches")
    if diff.changed.height:
        with pl.Config(tbl_rows=args.show, tbl_cols=10):
            out(str(diff.changed.head(args.show)))
    return 0 if diff.equal else 1


def cmd_snapshot(args: argparse.Namespace) -> int:
    view = open_store(args).project(args.spec, name=args.projection)
    snaps = view.build_snapshots(every=args.every, progress=args.progress)
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


def register(add: Adder) -> None:
    _state_parser(add("state", cmd_state, "state of a projection at a point in time -> Parquet"))
    _project_parser(add("project", cmd_project, "export projections' read models (incremental)"))
    snapshot = add("snapshot", cmd_snapshot, "build snapshots of a projection at checkpoints")
    projection_args(snapshot)
    snapshot.add_argument("--every", default="1mo", help="checkpoint interval (default 1mo)")
    snapshot.add_argument(
        "--prune", action="store_true",
        help="then remove this projection's older snapshots (earlier specs and positions)",
    )
    _diff_parser(
        add("diff", cmd_diff, "compare two read models; exit 1 when they differ", store=False)
    )
