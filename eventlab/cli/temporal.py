"""Temporal commands: history, timeline, changes (of a projection) and what-if (of a decider)."""

from __future__ import annotations

import argparse
from typing import Any

import polars as pl

from eventlab.cli import _plan
from eventlab.cli._args import (
    check_points,
    point_args,
    point_document,
    table_output_args,
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
from eventlab.errors import InvalidArgumentError

HISTORY_EPILOG = """\
One row per event: the key, the event's position, times and type, and every field's value
after it. --json prints {"command": "history", "schema_version": 1, "projection", "point":
{"at", "known_at", "at_position", "position"}, "keys", "rows", "columns", "out", "data"}
(data: one object per row, null with --out). See docs/cli.md."""
TIMELINE_EPILOG = """\
The state of every key at each point (points --every apart from the first event's time, or
the --point times). --json prints {"command": "timeline", "schema_version": 1, "projection",
"point", "every", "points", "keys", "rows", "columns", "out", "data"} (data null with --out).
See docs/cli.md."""
CHANGES_EPILOG = """\
Keys added, removed and changed between --from and --to on one axis (--axis at: valid time,
known_at: transaction time, at_position: commit position); --at/--known-at/--at-position hold
the other axes. --out writes one row per change: the key, "change" (added, removed, changed),
"field", "before", "after". --json prints {"command": "changes", "schema_version": 1,
"projection", "axis", "from", "to", "point" (the axes held), "added", "removed", "changed",
"out", "data": {"added": [...], "removed": [...], "changed": [{key, "field", "before",
"after"}]}} (data null with --out). See docs/cli.md."""
WHATIF_EPILOG = """\
DECIDER is package.module:name, a Decider or a function returning one (called with the --option
values), e.g. eventlab.examples.bank_domain:bank_decider --option overdraft_limit=0. The module
is imported (its code runs): name only modules you trust. --source events re-reads stored events
as commands with --as-command EVENT=COMMAND pairs, or the module's AS_COMMANDS. Nothing is
written to the store. --json prints {"command": "what-if", "schema_version": 1, "label",
"source", "commands", "summary": {change: count}, "changed", "out", "data": [changed
decisions]} (data null with --out). See docs/cli.md."""


def _view(args: argparse.Namespace) -> tuple[Any, Any]:
    store = open_store(args)
    return store, store.project(args.spec, name=args.projection)


def _emit(args: argparse.Namespace, command: str, frame: pl.DataFrame, **fields: Any) -> None:
    if args.out:
        write_table(frame, args.out)
    if args.json:
        print_json(document(command, projection=args.projection, **fields, rows=frame.height,
                            columns=columns(frame), out=args.out,
                            data=None if args.out else records(frame)))
        return
    out(f"{args.projection}: {frame.height:,} rows" + (f" -> {args.out}" if args.out else ""))
    show_table(frame, args.show)


def cmd_history(args: argparse.Namespace) -> int:
    if args.out:
        out_format(args.out)
    point = check_points(args)
    store, view = _view(args)
    frame = view.history(keys=args.key, **point)
    _emit(args, "history", frame, point=point_document(store, point), keys=args.key)
    return 0


def _timeline_points(args: argparse.Namespace, store: Any, view: Any) -> dict[str, Any]:
    from eventlab.timeutil import to_utc

    if args.point:
        if args.every:
            raise InvalidArgumentError("--point", args.point, "give --every or --point, not both")
        return {"points": [to_utc(p, name="--point") for p in args.point]}
    every = args.every or "1mo"
    lo, hi = _plan.span(store.scan(stream_types=view.projection.stream_types))
    lo = to_utc(args.start, name="--start") if args.start else lo
    hi = to_utc(args.end, name="--end") if args.end else hi
    planned = _plan.estimate_points(lo, hi, every)
    _plan.check_size(planned, _plan.MAX_POINTS, args.force, "timeline points", every)
    return {"every": every, "start": lo, "end": hi}


def cmd_timeline(args: argparse.Namespace) -> int:
    if args.out:
        out_format(args.out)
    point = check_points(args)
    store, view = _view(args)
    chosen = _timeline_points(args, store, view)
    frame = view.timeline(**chosen, keys=args.key, **point)
    points = frame["at"].n_unique() if "at" in frame.columns else 0
    _emit(args, "timeline", frame, point=point_document(store, point),
          every=chosen.get("every"), points=points, keys=args.key)
    return 0


def _axis_value(axis: str, text: str, flag: str) -> Any:
    from eventlab.cli._args import non_negative_int as whole
    from eventlab.timeutil import to_utc

    if axis == "at_position":
        try:
            return whole(text)
        except argparse.ArgumentTypeError as exc:
            raise InvalidArgumentError(flag, text, f"on --axis at_position it is a position: {exc}"
                                       ) from None
    return to_utc(text, name=flag)


def _changes_table(changes: Any) -> pl.DataFrame:
    """One row per change: key, change, field, before, after."""
    key = list(changes.key)
    long = changes.long().with_columns(change=pl.lit("changed"))
    parts = [long.select(*key, "change", "field", "before", "after")]
    for kind in ("added", "removed"):
        frame = getattr(changes, kind).select(key)
        parts.append(frame.with_columns(
            change=pl.lit(kind), field=pl.lit(None, pl.String), before=pl.lit(None, pl.String),
            after=pl.lit(None, pl.String)))
    return pl.concat(parts, how="vertical_relaxed").sort([*key, "change", "field"],
                                                         nulls_last=True)


def cmd_changes(args: argparse.Namespace) -> int:
    if args.out:
        out_format(args.out)
    fixed = check_points(args)
    if args.axis in fixed:
        raise InvalidArgumentError(f"--{args.axis.replace('_', '-')}", fixed[args.axis],
                                   "it is the axis --from/--to move along; hold only the others")
    start = _axis_value(args.axis, args.start, "--from")
    end = _axis_value(args.axis, args.end, "--to")
    store, view = _view(args)
    changes = view.changes(start, end, axis=args.axis, **fixed)
    table = _changes_table(changes)
    if args.out:
        write_table(table, args.out)
    counts = changes.summary()
    if args.json:
        data = None if args.out else {"added": records(changes.added),
                                      "removed": records(changes.removed),
                                      "changed": records(changes.long())}
        print_json(document("changes", projection=args.projection, axis=args.axis, **{
            "from": start, "to": end}, point=point_document(store, fixed), **counts,
            out=args.out, data=data))
        return 0
    out(f"{args.projection} from {args.start} to {args.end} ({args.axis}): added "
        f"{counts['added']:,}, removed {counts['removed']:,}, changed {counts['changed']:,}"
        + (f" -> {args.out}" if args.out else ""))
    if table.height and not args.out:
        show_table(table, args.show)
    return 0


def cmd_what_if(args: argparse.Namespace) -> int:
    from eventlab.cli._decider import as_commands, load_decider, options
    from eventlab.write.whatif import what_if

    if args.out:
        out_format(args.out)
    settings = options(args.option)
    decider = load_decider(args.decider, settings)
    baseline = load_decider(args.baseline, {}, "--baseline") if args.baseline else None
    mapping = as_commands(args.as_command, args.decider) if args.source == "events" else None
    if args.source == "events" and not mapping:
        raise InvalidArgumentError(
            "--source", "events", "it reads stored events back as commands, and needs to know "
            f"which command each event type records; {args.decider.partition(':')[0]} has no "
            "AS_COMMANDS", "pass --as-command EVENT_TYPE=COMMAND_TYPE for each event type",
        )
    report = what_if(open_store(args), decider, source=args.source, as_commands=mapping,
                     baseline=baseline, label=args.label)
    if args.out:
        write_table(report.decisions, args.out)
    summary = report.summary()
    changed = report.changed
    if args.json:
        print_json(document("what-if", label=report.label, source=args.source,
                            commands=report.decisions.height, summary=summary,
                            changed=changed.height, out=args.out,
                            data=None if args.out else records(changed)))
        return 0
    out(f"what if: {report.label}: {report.decisions.height:,} commands replayed, "
        f"{changed.height:,} decisions differ" + (f" -> {args.out}" if args.out else ""))
    for kind, count in summary.items():
        out(f"  {kind}: {count:,}")
    if changed.height and not args.out:
        show_table(changed, args.show)
    return 0


def _common(command: argparse.ArgumentParser) -> None:
    table_output_args(command, "table", "rows to print (default 10)")


def _keys(command: argparse.ArgumentParser) -> None:
    command.add_argument("--key", action="append", metavar="KEY",
                         help="only this key (repeatable; a stream id for stream-keyed specs)")


def _register_projection_commands(add: Adder) -> None:
    history = add("history", cmd_history, "the state of each key after every event (audit trail)",
                  epilog=HISTORY_EPILOG)
    projection_args(history)
    point_args(history)
    _keys(history)
    _common(history)
    timeline = add("timeline", cmd_timeline, "the state of every key at many points in time",
                   epilog=TIMELINE_EPILOG)
    projection_args(timeline)
    timeline.add_argument("--every", help="interval between points (default 1mo)")
    timeline.add_argument("--point", action="append", metavar="T", help="a point (repeatable)")
    timeline.add_argument("--start", metavar="T", help="first point (default: first event)")
    timeline.add_argument("--end", metavar="T", help="last point (default: last event)")
    point_args(timeline, at=False)
    timeline.add_argument("--force", action="store_true",
                          help=f"allow more than {_plan.MAX_POINTS:,} points")
    _keys(timeline)
    _common(timeline)
    changes = add("changes", cmd_changes, "what changed between two points in time",
                  epilog=CHANGES_EPILOG)
    projection_args(changes)
    changes.add_argument("--from", dest="start", required=True, metavar="A", help="first point")
    changes.add_argument("--to", dest="end", required=True, metavar="B", help="second point")
    changes.add_argument("--axis", choices=["at", "known_at", "at_position"], default="at",
                         help="the axis A and B lie on (default at: valid time)")
    point_args(changes)
    _common(changes)


def register(add: Adder) -> None:
    _register_projection_commands(add)
    whatif = add("what-if", cmd_what_if,
                 "replay recorded history through a decider; which decisions would differ",
                 epilog=WHATIF_EPILOG)
    whatif.add_argument("decider", metavar="DECIDER", help="package.module:name of a decider")
    whatif.add_argument("--option", action="append", metavar="KEY=VALUE",
                        help="keyword argument for a decider function (repeatable)")
    whatif.add_argument("--source", choices=["journal", "events"], default="journal",
                        help="replay the command journal (default) or stored events")
    whatif.add_argument("--as-command", action="append", metavar="EVENT=COMMAND",
                        help="with --source events: which command an event type records")
    whatif.add_argument("--baseline", metavar="DECIDER",
                        help="compare with this decider's replay instead of the recorded outcomes")
    whatif.add_argument("--label", help="a name for this scenario")
    _common(whatif)
