"""Reading a source file: bytes (gzip detected by magic bytes), pieces, lines, names.

Files are split into pieces without a Python loop: the offsets of a separator byte become the
offsets of an Arrow binary array over the file's bytes, which Polars then reads as one column.
"""

from __future__ import annotations

import codecs
import gzip
import re
import threading
import zlib
from pathlib import Path

import polars as pl
import pyarrow as pa

from eventlab.errors import ImportFormatError, ValidationError

GZIP_MAGIC = b"\x1f\x8b"
UTF8_BOM = b"\xef\xbb\xbf"
MAX_RAW = 4096  # characters of offending source text kept per quarantined record
SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".xes": "xes"}
_SLUG_BAD = re.compile(r"[^A-Za-z0-9_.-]+")

_bad_positions = threading.local()


def _record_position(exc: UnicodeError) -> tuple[str, int]:
    """Codec error handler: remember where each invalid byte sequence starts, write U+FFFD."""
    assert isinstance(exc, UnicodeDecodeError)
    _bad_positions.found.append(exc.start)
    return "\ufffd", exc.end


codecs.register_error("eventlab.record_position", _record_position)


def read_bytes(path: str | Path) -> bytes:
    """The file's bytes, gunzipped when they start with the gzip magic number."""
    file = Path(path)
    if not file.is_file():
        raise ValidationError(
            f"no file at {str(file)!r}; pass the path of a .csv, .jsonl/.ndjson, .xes or "
            ".xes.gz file. Hint: check the working directory (Path.cwd())."
        )
    data = file.read_bytes()
    if data.startswith(GZIP_MAGIC):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise ImportFormatError(
                f"{file.name} starts like a gzip file but cannot be decompressed ({exc}). "
                "Hint: the download may be truncated; fetch the file again."
            ) from None
    return data


def source_stem(path: str | Path) -> str:
    """File name without ``.gz`` and the format suffix (``08_receipt.xes.gz`` -> ``08_receipt``)."""
    name = Path(path).name
    if name.lower().endswith(".gz"):
        name = name[:-3]
    stem, dot, _ = name.rpartition(".")
    return stem if dot and stem else name


def infer_format(path: str | Path) -> str:
    name = Path(path).name.lower()
    name = name[:-3] if name.endswith(".gz") else name
    suffix = "." + name.rpartition(".")[2] if "." in name else ""
    if suffix not in SUFFIXES:
        raise ImportFormatError(
            f"cannot tell the format of {Path(path).name!r} from its suffix; known suffixes are "
            f"{', '.join(SUFFIXES)} (optionally + .gz). Hint: pass format='csv', 'jsonl' or 'xes'."
        )
    return SUFFIXES[suffix]


def slug(stem: str) -> str:
    """A valid stream type made from a file stem (letters, digits, ``_ . -``; at most 64)."""
    text = _SLUG_BAD.sub("-", stem).lstrip("_.-")[:64].rstrip("-")
    return text or "events"


def as_int(value: object, default: int = 0) -> int:
    """A Polars scalar (e.g. ``series.max()``) as an int; ``default`` for null."""
    return int(value) if isinstance(value, int | float) else default


def split_bytes(data: bytes, separator: int, *, keep: str = "start") -> pl.Series:
    """``data`` cut at every ``separator`` byte, as a Polars Binary column.

    ``keep="start"``: each piece but the first starts with the separator (``<tag ...``).
    ``keep="end"``: each piece ends with its separator (lines with their ``\\n``); the last
    piece holds whatever follows the last separator (often empty).
    """
    raw = pa.py_buffer(data)
    u8 = pl.from_arrow(pa.Array.from_buffers(pa.uint8(), len(data), [None, raw]))
    assert isinstance(u8, pl.Series)
    cuts = (u8 == separator).arg_true().cast(pl.Int64)
    if keep == "end":
        cuts = cuts + 1
    offsets = pl.concat([pl.Series([0], dtype=pl.Int64), cuts,
                         pl.Series([len(data)], dtype=pl.Int64)])
    buffer = offsets.to_arrow().buffers()[1]
    array = pa.Array.from_buffers(pa.large_binary(), offsets.len() - 1, [None, buffer, raw])
    pieces = pl.from_arrow(array)
    assert isinstance(pieces, pl.Series)
    return pieces


def bad_utf8_positions(data: bytes) -> tuple[str, list[int]]:
    """Decode with U+FFFD for invalid sequences; return the text and where each one starts."""
    _bad_positions.found = []
    text = data.decode("utf-8", errors="eventlab.record_position")
    found: list[int] = _bad_positions.found
    return text, found


def first_bad_utf8(data: bytes) -> int | None:
    """1-based line of the first invalid UTF-8 byte, or None when ``data`` is valid UTF-8."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return data.count(b"\n", 0, exc.start) + 1
    return None


def read_lines(data: bytes) -> pl.DataFrame:
    """One row per physical line: ``line`` (1-based), ``text`` (no line break), ``utf8_ok``.

    Invalid UTF-8 never raises: such a line has ``utf8_ok`` false and U+FFFD in its text.
    """
    if data.startswith(UTF8_BOM):
        data = data[len(UTF8_BOM):]
    pieces = split_bytes(data, ord("\n"), keep="end")
    try:
        text = pieces.cast(pl.String)
        ok = pl.repeat(True, text.len(), eager=True)
    except pl.exceptions.ComputeError:
        lossy, positions = bad_utf8_positions(data)
        text = split_bytes(lossy.encode("utf-8"), ord("\n"), keep="end").cast(pl.String)
        newlines = (split_bytes(data, ord("\n"), keep="end").bin.size().cum_sum())
        bad_lines = newlines.search_sorted(pl.Series(positions, dtype=pl.Int64), side="right")
        ok = ~pl.int_range(0, text.len(), eager=True).is_in(bad_lines.implode())
    text = text.str.strip_suffix("\n")
    if b"\r" in data:
        text = text.str.strip_suffix("\r")
    lines = pl.DataFrame({"text": text, "utf8_ok": ok}).with_row_index("line", offset=1)
    return lines.with_columns(pl.col("line").cast(pl.Int64))
