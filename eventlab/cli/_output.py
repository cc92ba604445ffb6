"""What commands print and write: JSON documents on stdout, tables to ``--out`` files.

``--json`` prints exactly one JSON document (see docs/cli.md for each command's schema).
Values are plain JSON: datetimes and dates as ISO 8601 strings, durations in seconds, NaN and
infinities as null, binary values as hex. ``--out FILE`` writes a table by the file's suffix
(``.parquet`` or none, ``.csv``, ``.json``, ``.jsonl``/``.ndjson``) atomically: a failed or
interrupted write leaves no partial file.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl

from eventlab.errors import InvalidArgumentError, StorageError, io_errno

#: JSON schema version of every ``--json`` document (bumped on an incompatible change)
SCHEMA_VERSION = 1
FORMATS = {
    "": "parquet",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}


def plain(value: Any) -> Any:
    """``value`` with every part turned into a JSON-ready value (see the module docstring)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset, pl.Series)):
        return [plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return str(value)


def records(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """The rows of ``frame`` as JSON-ready dicts."""
    return [plain(row) for row in frame.iter_rows(named=True)]


def columns(frame: pl.DataFrame) -> list[dict[str, str]]:
    """``[{"name": ..., "dtype": ...}]`` of ``frame``."""
    return [{"name": name, "dtype": str(dtype)} for name, dtype in frame.schema.items()]


def document(command: str, **fields: Any) -> dict[str, Any]:
    """The envelope every ``--json`` document shares: ``command`` and ``schema_version``."""
    return {"command": command, "schema_version": SCHEMA_VERSION, **fields}


def print_json(data: Mapping[str, Any]) -> None:
    print(json.dumps(plain(data), indent=2, ensure_ascii=False, allow_nan=False))


def out_format(path: str) -> str:
    """The table format ``--out PATH`` asks for, checked before any work is done."""
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in FORMATS:
        raise InvalidArgumentError(
            "--out", path, f"its suffix must be one of {', '.join(k for k in FORMATS if k)} "
            "(none: Parquet)",
            "e.g. --out state.parquet or --out state.csv",
        )
    if target.is_dir():
        raise InvalidArgumentError("--out", path, "it is a folder; give a file name in it")
    parent = next((p for p in target.parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise InvalidArgumentError(
            "--out", path, f"{parent} is a file, so no file can be written under it",
            "give a path in a folder",
        )
    return FORMATS[suffix]


def _flat(frame: pl.DataFrame) -> pl.DataFrame:
    """Nested columns (lists, structs) as JSON text: CSV has no nested values."""
    from eventlab.projections.coerce import json_text

    nested = [n for n, d in frame.schema.items() if d.is_nested() or d == pl.Object]
    return frame.with_columns(json_text(frame[n]) for n in nested) if nested else frame


def write_table(frame: pl.DataFrame, path: str) -> Path:
    """Write ``frame`` to ``path`` atomically in the format its suffix names."""
    from eventlab.errors import storage_error
    from eventlab.storage.durable import write_bytes, write_with

    kind, target = out_format(path), Path(path)
    try:
        if kind == "parquet":
            write_with(target, lambda tmp: frame.write_parquet(tmp))
        elif kind == "csv":
            write_with(target, lambda tmp: _flat(frame).write_csv(tmp))
        else:
            rows = [json.dumps(r, ensure_ascii=False) for r in records(frame)]
            text = (
                ("[\n" + ",\n".join(rows) + "\n]\n" if rows else "[]\n")
                if kind == "json" else "".join(row + "\n" for row in rows)
            )
            write_bytes(target, text.encode())
    except (OSError, pl.exceptions.PolarsError) as exc:
        if isinstance(exc, StorageError):
            raise
        if io_errno(exc) is None:
            raise StorageError(f"cannot write {path}: {str(exc).splitlines()[0]}") from exc
        raise storage_error(exc, f"write {path}", "No file was written.") from exc
    return target


def show_table(frame: pl.DataFrame, rows: int) -> None:
    """Print the first ``rows`` rows as a table as wide as the terminal (at least 120)."""
    import shutil

    width = max(120, shutil.get_terminal_size((120, 24)).columns)
    with pl.Config(tbl_rows=rows, tbl_cols=12, tbl_width_chars=width, fmt_str_lengths=40):
        print(str(frame.head(rows)))
