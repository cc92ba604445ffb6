"""``eventlab verify-export``: which store state produced an exported read model."""

from __future__ import annotations

import argparse

from eventlab.cli._args import store_folder
from eventlab.cli._common import Adder, out
from eventlab.cli._output import document, print_json

EPILOG = """\
Checks the read model's lineage (written by "eventlab project") against the store: the same
store id, and the store's hash chain up to the recorded commit intact and ending in the recorded
head hash at the recorded high-water position. With --spec the store is also folded again up to
that position and the rows compared. Exit 0 proven, 1 not (the first finding is printed: another
store, history rewritten or truncated, rows differ), 2 on an error.
--json prints {"command": "verify-export", "schema_version": 1, "ok", "read_model",
"projection", "store", "store_id", "recorded_store_id", "head_commit", "head_hash",
"high_water_position", "store_commits", "lag", "recomputed", "findings": [{"kind", "detail"}]}.
See docs/cli.md."""


def cmd_verify_export(args: argparse.Namespace) -> int:
    from eventlab.projections.export import ReadModel
    from eventlab.projections.lineage import verify_export
    from eventlab.projections.spec import load_projection

    model = ReadModel.open(args.read_model)
    root = store_folder(args.store)
    projection = load_projection(args.spec, model.projection) if args.spec else None
    report = verify_export(model, root, projection=projection)
    if args.json:
        print_json(document("verify-export", **report.to_dict()))
    else:
        out(report.summary())
        for finding in report.findings[1:]:
            out(f"  also {finding.kind}: {finding.detail}")
    return 0 if report.ok else 1


def register(add: Adder) -> None:
    command = add(
        "verify-export", cmd_verify_export,
        "prove which store state produced an exported read model; exit 1 if not",
        store=False, epilog=EPILOG,
    )
    command.add_argument(
        "read_model", metavar="READ_MODEL", help="exported read model (.parquet or folder)"
    )
    command.add_argument("store", metavar="STORE", help="store folder")
    command.add_argument(
        "--spec", metavar="FILE",
        help="also fold the store again with this spec and compare the rows",
    )
    command.add_argument("--json", action="store_true", help="print a JSON document")
