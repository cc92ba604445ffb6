"""Every failure as one line: what main() prints after ``eventlab: error:``.

eventlab's own errors already say what is wrong and what to do; operating-system errors name
the file; Polars errors (a spec expression on the wrong type, a file Polars cannot read) and
anything unexpected are summed up in one line too. ``EVENTLAB_DEBUG=1`` re-raises instead, for
a traceback.
"""

from __future__ import annotations

import os

from eventlab.errors import EventlabError

MAX_MESSAGE = 2_000
DEBUG_ENV = "EVENTLAB_DEBUG"


def debugging() -> bool:
    return os.environ.get(DEBUG_ENV, "") not in ("", "0")


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else ""


def _os_error(exc: OSError) -> str:
    what = exc.strerror or _first_line(str(exc)) or type(exc).__name__
    where = exc.filename
    return f"{what}: {where}" if where is not None else what


def describe(exc: BaseException) -> str:
    """One line (at most MAX_MESSAGE characters) saying what went wrong."""
    name = type(exc).__name__
    if isinstance(exc, EventlabError):
        text = _first_line(getattr(exc, "cli_hint", None) or str(exc)) or name
    elif isinstance(exc, OSError):
        text = _os_error(exc)
    elif isinstance(exc, RecursionError):
        text = "the input is nested too deeply to be read (RecursionError)"
    elif isinstance(exc, MemoryError):
        text = "out of memory. Hint: ask for less at once (a shorter range, fewer keys)"
    elif _is_polars(exc):
        text = (
            f"Polars could not compute this ({name}: {_first_line(str(exc))}). Hint: check that "
            "the spec's columns and expressions match the stored types (`eventlab info STORE`)"
        )
    else:
        text = (
            f"unexpected {name}: {_first_line(str(exc))}. This is a bug in eventlab: please "
            f"report it with the command you ran ({DEBUG_ENV}=1 shows the traceback)"
        )
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + "..."


def _is_polars(exc: BaseException) -> bool:
    module = type(exc).__module__ or ""
    return module.startswith(("polars", "pyo3_runtime")) or type(exc).__name__ == "PanicException"
