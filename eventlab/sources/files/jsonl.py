"""JSON Lines -> Parsed, vectorized.

Each non-blank line must be one JSON object; a line that is not valid JSON, is valid JSON but
not an object, or is not valid UTF-8 is quarantined with its line number. Top-level keys become
columns (values read as text, then typed like CSV); nested objects and arrays stay JSON text in
a String column. The line text is what the deterministic event id is hashed from.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from pathlib import Path

import polars as pl

from eventlab.errors import ImportFormatError
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

_STRING = r'"(?:[^"\\]|\\.)*"'
#: One innermost JSON container (no container inside, strings skipped) - or a string, kept.
_INNERMOST = f'({_STRING})|[\\[{{](?:[^\\[\\]{{}}"]|{_STRING})*[\\]}}]'
_KEY = f"{_STRING}:"
_MAX_DEPTH = 128
_CHUNK = 65_536
#: Deeper lines skip Polars' JSON schema inference, which is exponential in the nesting depth
#: (two lines nested 30 and 29 deep: minutes); they are read line by line instead.
_FAST_DEPTH = 16
_ROWS = "__eventlab_rows"


def read_jsonl(
    path: str | Path,
    *,
    mapping: ColumnMapping | None = None,
    stream_type: str | None = None,
    tz: str = "UTC",
    prefer: Mapping[str, pl.DataType] | None = None,
) -> Parsed:
    """Read a JSON Lines event log (pure: writes nothing); see
    :func:`eventlab.importers.import_file`. ``prefer`` works as in :func:`read_csv`."""
    source = str(path)
    lines = read_lines(read_bytes(path)).filter(pl.col("text").str.contains(r"[^ \t]"))
    good, values, rejected = _parse(lines)
    names = _column_names(values.columns)
    values = values.rename(dict(zip(values.columns, names, strict=True)))
    if mapping is None:
        mapping = default_mapping(names) if names else ColumnMapping(
            "stream_id", "event_type", "occurred_at")
    if good.height:
        check_mapping(mapping, names)
    candidates = _candidates(good, values, names, mapping)
    labels = Labels(f"key {mapping.stream_id!r}", f"key {mapping.event_type!r}",
                    f"key {mapping.timestamp!r}", f"key {mapping.version!r}")
    events, bad, duplicates = finish(
        candidates, source=source, stream_type=stream_type or slug(source_stem(path)),
        labels=labels, tz=tz, timestamp_format=mapping.timestamp_format, infer_payload=True,
        prefer=prefer,
    )
    bad_rows = bad.select(pl.col(LINE).alias("source_line"), "reason", pl.col(RECORD).alias("raw"))
    quarantine = quarantine_frame(source, pl.concat([rejected, bad_rows])).sort("source_line")
    return Parsed(source, "jsonl", events, quarantine, lines.height, duplicates,
                  mapping.version is not None)


def _parse(lines: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Accepted lines (line, text), their values (a String column per top-level key, same
    order) and the rejected lines as quarantine rows.

    Lines are parsed in chunks by Polars' JSON reader; only a chunk that fails is checked line
    by line (slower), so a few bad lines do not slow down the whole file.
    """
    text = pl.col("text").str.strip_chars()
    plausible = pl.col("utf8_ok") & text.str.starts_with("{") & text.str.ends_with("}")
    rejected = [_rejected(_check_lines(lines.filter(~plausible)))]
    goods: list[pl.DataFrame] = []
    values: list[pl.DataFrame] = []

    def line_by_line(chunk: pl.DataFrame) -> None:
        checked = _check_lines(chunk.with_columns(utf8_ok=pl.lit(True)))
        ok = checked.filter(pl.col("reason").is_null())
        rejected.append(_rejected(checked))
        values.append(_values(ok["text"], _top_level_keys(ok["compact"])))
        goods.append(ok.select("line", "text"))

    deep = _depth(text) > _FAST_DEPTH
    for chunk in lines.filter(plausible & ~deep).select("line", "text").iter_slices(_CHUNK):
        try:
            values.append(_read_objects(chunk["text"]))
            goods.append(chunk)
        except (pl.exceptions.PolarsError, _ChunkError):
            line_by_line(chunk)
    slow = lines.filter(plausible & deep).select("line", "text")
    if slow.height:  # Polars' schema inference would take exponential time on these
        line_by_line(slow)
    if not goods:
        return lines.select("line", "text").clear(), pl.DataFrame(), pl.concat(rejected)
    merged = pl.concat(values, how="diagonal").drop(_ROWS)
    return pl.concat(goods), merged, pl.concat(rejected)


class _ChunkError(Exception):
    """Polars read a different number of objects than the chunk has lines."""


def _depth(text: pl.Expr) -> pl.Expr:
    """Nesting depth of JSON text (brackets inside string literals do not count)."""
    brackets = text.str.replace_all(_STRING, "").str.extract_all(r"[\[\]{}]")
    steps = brackets.list.eval(pl.when(pl.element().is_in(["[", "{"])).then(1).otherwise(-1))
    return steps.list.eval(pl.element().cum_sum()).list.max().fill_null(0)


def _read_objects(texts: pl.Series) -> pl.DataFrame:
    body = texts.str.join("\n").item().encode("utf-8")
    keys = pl.scan_ndjson(io.BytesIO(body), infer_schema_length=None).collect_schema().names()
    return _values(texts, keys, body)


def _rejected(checked: pl.DataFrame) -> pl.DataFrame:
    return checked.filter(pl.col("reason").is_not_null()).select(
        pl.col("line").alias("source_line"), "reason", pl.col("text").alias("raw"))


def _check_lines(lines: pl.DataFrame) -> pl.DataFrame:
    """Add ``compact`` (the line re-serialised, null when invalid) and ``reason``."""
    text = pl.col("text").str.strip_chars()
    compact = text.str.json_path_match("$")
    valid = compact.is_not_null() | (text == "null")
    return lines.with_columns(compact.alias("compact")).with_columns(
        pl.when(~pl.col("utf8_ok")).then(pl.lit("invalid UTF-8 (bad bytes shown as U+FFFD)"))
        .when(~valid & (_depth(text) > _MAX_DEPTH)).then(
            pl.lit(f"JSON nested deeper than {_MAX_DEPTH} levels is not supported"))
        .when(~valid).then(pl.lit("invalid JSON"))
        .when(~text.str.starts_with("{")).then(pl.lit("the JSON value is not an object"))
        .alias("reason")
    )


def _top_level_keys(compact: pl.Series) -> list[str]:
    """Distinct top-level keys, in order of first appearance (escaped JSON, no quotes)."""
    inner = compact.str.slice(1, compact.str.len_chars() - 2)
    nested = inner.str.contains(r"[\[{]")
    for _ in range(_MAX_DEPTH):
        if not nested.any():
            break
        inner = pl.select(pl.when(nested).then(inner.str.replace_all(_INNERMOST, "${1}"))
                          .otherwise(inner)).to_series()
        nested = inner.str.contains(f"^(?:[^\\[{{\"]|{_STRING})*[\\[{{]")
    else:
        raise ImportFormatError(f"JSON nested deeper than {_MAX_DEPTH} levels is not supported.")
    found = inner.str.extract_all(_KEY).explode().drop_nulls().unique(maintain_order=True)
    return list(dict.fromkeys(json.loads(k[:-1]) for k in found.to_list()))


def _column_names(keys: list[str]) -> list[str]:
    taken: set[str] = set()
    names = []
    for index, key in enumerate(keys, start=1):
        names.append(unique_name(key.strip() or f"column_{index}", taken))
        taken.add(names[-1])
    return names


def _values(text: pl.Series, keys: list[str], body: bytes | None = None) -> pl.DataFrame:
    """Every top-level value as text (nested values as JSON text), one column per key, plus a
    placeholder column so that a frame of empty objects keeps its height."""
    rows = pl.repeat(None, text.len(), dtype=pl.Null, eager=True).alias(_ROWS)
    if not keys or text.len() == 0:
        return rows.to_frame()
    body = body if body is not None else text.str.join("\n").item().encode("utf-8")
    try:
        frame = pl.read_ndjson(io.BytesIO(body), schema={k: pl.String for k in keys})
    except pl.exceptions.PolarsError as exc:
        raise ImportFormatError(
            f"JSON Lines could not be read: {str(exc).splitlines()[0]}") from None
    if frame.height != text.len():
        raise _ChunkError
    return frame.with_columns(rows)


def _candidates(good: pl.DataFrame, values: pl.DataFrame, names: list[str],
                mapping: ColumnMapping) -> pl.DataFrame:
    # values under positional names: a key may be called "line", "text" or "__eventlab_order"
    safe = {c: f"__eventlab_value_{i}" for i, c in enumerate(values.columns)}

    def column(name: str) -> pl.Expr:
        return pl.col(safe[name]) if name in safe else pl.lit(None, pl.String)

    envelope = [column(src).alias(field) for field, src in mapping.columns().items()
                if field != "timestamp"]
    payload = [column(src).alias(dst) for src, dst in payload_names(names, mapping).items()]
    frame = good.select(pl.col("line").cast(pl.Int64).alias(ORDER),
                        pl.col("text").str.strip_chars().alias(RECORD))
    if values.width:
        frame = pl.concat([frame, values.rename(safe)], how="horizontal")
    return frame.select(
        ORDER, pl.col(ORDER).alias(LINE), RECORD, column(mapping.timestamp).alias(TS),
        *envelope, *payload,
    )
