"""The ``eventlab`` command line: the library's jobs from a terminal.

Every command has ``--help``. A user error (missing file, bad option, invalid data) prints one
line starting with ``eventlab: error:`` and exits 2; ``diff``, ``verify`` and ``verify-export``
exit 1 when they find differences or problems; Ctrl-C exits 130. Nothing prints a traceback
(``EVENTLAB_DEBUG=1`` shows one).

One module per family of commands; each has ``register(add)``, called by :func:`build_parser`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from eventlab.cli import importing, lineage, process, projections, store, temporal
from eventlab.cli._common import Handler, add_common
from eventlab.cli._errors import debugging, describe

COMMAND_FAMILIES = (store, importing, projections, process, temporal, lineage)

DESCRIPTION = "eventlab: temporal analytics over an event store, from a terminal."
EPILOG = """\
exit codes: 0 done (diff: same), 1 differences or findings (diff, verify, verify-export),
2 an error (one line on stderr: "eventlab: error: ..."), 130 interrupted (Ctrl-C).
--json prints one JSON document per command (schemas: docs/cli.md).
Run "eventlab COMMAND --help" for a command's options."""


def _version() -> str:
    import platform

    import polars as pl

    from eventlab import __version__

    return f"eventlab {__version__} (polars {pl.__version__}, Python {platform.python_version()})"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="eventlab", description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, handler: Handler, text: str, store: bool = True,
            epilog: str | None = None) -> argparse.ArgumentParser:
        command = sub.add_parser(
            name, help=text, description=text, epilog=epilog,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        if store:
            command.add_argument("store", metavar="STORE", help="store folder")
        add_common(command)
        command.set_defaults(handler=handler)
        return command

    for family in COMMAND_FAMILIES:
        family.register(add)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``eventlab`` console script (and ``python -m eventlab``)."""
    try:
        args = build_parser().parse_args(argv)
        code = int(args.handler(args))
        sys.stdout.flush()
        return code
    except KeyboardInterrupt:
        print("eventlab: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `eventlab ... | head`: the reader left; say nothing more
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except SystemExit:
        raise
    except BaseException as exc:
        if debugging():
            raise
        print(f"eventlab: error: {describe(exc)}", file=sys.stderr)
        return 2
