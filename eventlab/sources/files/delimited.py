"""CSV (RFC 4180) -> Parsed, vectorized.

The first record is the header. A record may span several lines inside a quoted field; records
are found from the parity of quote characters. A record is accepted when it matches the RFC 4180
grammar (fields either plain - no quotes - or enclosed in quotes with inner quotes doubled) and
has as many fields as the header; otherwise it is quarantined with its first line number. Blank
lines are not records. Unquoted empty fields are null; ``""`` is the empty string. The raw
record text (without the line break) is what the deterministic event id is hashed from.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import polars as pl

from eventlab.errors import ImportFormatError, ValidationError
from eventlab.sources.batch import (
    LINE,
    ORDER,
    RECORD,
    TS,
    Labels,
    Parsed,
    finish,
    quarantine_frame,
)
from eventlab.sources.mapping import (
    ColumnMapping,
    check_mapping,
    default_mapping,
    payload_names,
    unique_name,
)
from eventlab.sources.source import read_bytes, read_lines, slug, source_stem
from eventlab.textformat import format_text

ENVELOPE_FIELDS = ("stream_id", "event_type", "version", "event_id", "actor", "stream_type")


def read_csv(
    path: str | Path,
    *,
    mapping: ColumnMapping | None = None,
    stream_type: str | None = None,
    tz: str = "UTC",
    prefer: Mapping[str, pl.DataType] | None = None,
    separator: str = ",",
) -> Parsed:
    """Read a CSV event log (pure: writes nothing); see :func:`eventlab.importers.import_file`.

    ``prefer`` maps payload column names to dtypes to keep (e.g. ``store.schema``): a column
    already stored as String is not turned into numbers.
    """
    if len(separator) != 1 or separator in '"\r\n':
        raise ValidationError(
            f"separator must be one character other than a quote or line break, got {separator!r}."
        )
    source = str(path)
    records = _records(read_lines(read_bytes(path)), separator)
    if records.height == 0:
        raise ImportFormatError(
            f"{Path(path).name} is empty: a CSV file needs a header line naming the columns, "
            "e.g. case,activity,time."
        )
    header, body = records.head(1), records.slice(1)
    names = _header(header, separator, Path(path).name)
    mapping = mapping or default_mapping(names)
    check_mapping(mapping, names)
    fields, malformed = _split_fields(body, separator, len(names))
    candidates = _candidates(fields, names, mapping)
    labels = Labels(f"column {mapping.stream_id!r}", f"column {mapping.event_type!r}",
                    f"column {mapping.timestamp!r}", f"column {mapping.version!r}")
    events, bad, duplicates = finish(
        candidates, source=source, stream_type=stream_type or slug(source_stem(path)),
        labels=labels, tz=tz, timestamp_format=mapping.timestamp_format, infer_payload=True,
        prefer=prefer,
    )
    bad_rows = bad.select(pl.col(LINE).alias("source_line"), "reason", pl.col(RECORD).alias("raw"))
    quarantine = quarantine_frame(source, pl.concat([malformed, bad_rows])).sort("source_line")
    return Parsed(source, "csv", events, quarantine, candidates.height + malformed.height,
                  duplicates, mapping.version is not None)


def _records(lines: pl.DataFrame, separator: str) -> pl.DataFrame:
    """Logical records: ``line`` (first line), ``text``, ``utf8_ok``; blank lines dropped.

    A record continues on the next line while it has an odd number of quotes (inside a quoted
    field). A multi-line group that is not a valid record - typically a stray quote in a plain
    field, or a quote that never closes - is split back into its lines, which are then judged
    one by one, so one bad quote cannot swallow the rest of the file.
    """
    quotes = pl.col("text").str.count_matches('"', literal=True)
    lines = lines.with_columns(((quotes.cum_sum() - quotes) % 2 == 0).alias("starts"))
    if lines["starts"].all():
        return lines.filter(pl.col("text") != "").select("line", "text", "utf8_ok")
    groups = lines.group_by(pl.col("starts").cum_sum().alias("rec"), maintain_order=True).agg(
        pl.col("line").first(), pl.col("text").str.join("\n"), pl.col("utf8_ok").all(),
        pl.col("line").alias("lines"), pl.col("text").alias("texts"),
        pl.col("utf8_ok").alias("oks"),
    )
    full, _ = _patterns(separator)
    text = pl.col("text")
    suspect = (text.str.count_matches('"', literal=True) % 2 == 1) | (
        (pl.col("lines").list.len() > 1) & ~text.str.contains(full))
    whole = groups.filter(~suspect).select("line", "text", "utf8_ok")
    split = groups.filter(suspect).select(
        pl.col("lines").alias("line"), pl.col("texts").alias("text"),
        pl.col("oks").alias("utf8_ok")).explode("line", "text", "utf8_ok")
    return pl.concat([whole, split]).filter(text != "").sort("line")


def _patterns(separator: str) -> tuple[str, str]:
    sep = f"\\x{{{ord(separator):X}}}"  # Rust regex escape, valid inside and outside [...]
    field = f'(?:"(?:[^"]|"")*"|[^{sep}"]*)'
    return f"^{field}(?:{sep}{field})*$", f"{sep}{field}"


def _header(header: pl.DataFrame, separator: str, name: str) -> list[str]:
    fields, malformed = _split_fields(header, separator, None)
    if malformed.height or fields.height == 0:
        raise ImportFormatError(
            f"the header line of {name} is not a valid CSV record (bad quoting or invalid "
            "UTF-8). Hint: the first line must name the columns, e.g. case,activity,time."
        )
    raw = fields.row(0)[3:]
    taken: set[str] = set()
    names = []
    for index, value in enumerate(raw, start=1):
        text = (value or "").strip() or f"column_{index}"
        names.append(unique_name(text, taken))
        taken.add(names[-1])
    return names


def _split_fields(records: pl.DataFrame, separator: str, expected: int | None) -> tuple[
    pl.DataFrame, pl.DataFrame
]:
    """Well-formed records as columns ``f0, f1, ...`` (plus line, text, order) and the malformed
    ones as quarantine rows."""
    full, one = _patterns(separator)
    text = pl.col("text")
    parts = (pl.lit(separator) + text).str.extract_all(one)
    checked = records.with_columns(parts.alias("parts")).with_columns(
        pl.when(~pl.col("utf8_ok")).then(pl.lit("invalid UTF-8 (bad bytes shown as U+FFFD)"))
        .when(~text.str.contains(full)).then(pl.lit(
            "malformed CSV quoting: a field containing quotes must be enclosed in quotes, "
            "with inner quotes doubled"))
        .when(pl.lit(expected is not None) & (pl.col("parts").list.len() != (expected or 0)))
        .then(format_text(f"expected {expected} fields, found {{}}", pl.col("parts").list.len()))
        .alias("reason")
    )
    malformed = checked.filter(pl.col("reason").is_not_null()).select(
        pl.col("line").alias("source_line"), "reason", pl.col("text").alias("raw"))
    good = checked.filter(pl.col("reason").is_null())
    width = expected if expected is not None else (good["parts"].list.len().max() or 0)
    assert isinstance(width, int)
    columns = [_unquote(pl.col("parts").list.get(i, null_on_oob=True)).alias(f"f{i}")
               for i in range(width)]
    return good.select("line", "text", pl.col("line").alias("order"), *columns), malformed


def _unquote(part: pl.Expr) -> pl.Expr:
    value = part.str.slice(1)
    quoted = value.str.slice(1, value.str.len_chars() - 2).str.replace_all('""', '"', literal=True)
    return (pl.when(value.str.starts_with('"')).then(quoted)
            .when(value == "").then(pl.lit(None, pl.String)).otherwise(value))


def _candidates(fields: pl.DataFrame, names: list[str], mapping: ColumnMapping) -> pl.DataFrame:
    column = {name: f"f{i}" for i, name in enumerate(names)}
    envelope = [pl.col(column[src]).alias(field) for field, src in mapping.columns().items()
                if field != "timestamp"]
    payload = [pl.col(column[src]).alias(dst) for src, dst in payload_names(names, mapping).items()]
    return fields.select(
        pl.col("order").cast(pl.Int64).alias(ORDER), pl.col("line").cast(pl.Int64).alias(LINE),
        pl.col("text").alias(RECORD), pl.col(column[mapping.timestamp]).alias(TS),
        *envelope, *payload,
    )
