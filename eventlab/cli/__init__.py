"""The ``eventlab`` command line: the library's jobs from a terminal.

Every command has ``--help``. A user error (missing file, bad option, invalid data) prints one
line starting with ``eventlab: error:`` and exits 2; ``diff`` and ``verify`` exit 1 when they
find differences or problems.

One module per family of commands; each has ``register(add)``, called by :func:`build_parser`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from eventlab.cli import importing, process, projections, store
from eventlab.cli._common import Handler, add_common
from eventlab.errors import EventlabError

COMMAND_FAMILIES = (store, importing, projections, process)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="eventlab", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, handler: Handler, text: str, store: bool = True) -> argparse.ArgumentParser:
        command = sub.add_parser(name, help=text, description=text)
        if store:
            command.add_argument("store", metavar="STORE", help="store folder")
        add_common(command)
        command.set_defaults(handler=handler)
        return command

    for family in COMMAND_FAMILIES:
        family.register(add)
    return parser


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
