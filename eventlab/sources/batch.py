"""From source records to a batch ready for ``store.append`` plus a quarantine (pure, vectorized).

Every reader builds a *candidates* frame: one row per source record in source order, with the
envelope fields as strings (``stream_id``, ``event_type``, the raw timestamp in ``TS``, optional
``stream_type``, ``version``, ``event_id``, ``actor``), the payload columns, and three bookkeeping
columns: ``ORDER`` (source order), ``LINE`` (where a quarantined row is reported) and ``RECORD``
(the source record the deterministic event id is hashed from). :func:`finish` checks the rows,
quarantines the failures with a reason, assigns ids and versions and sorts the batch.

Event ids are the first 32 hex digits of SHA-256 over (stream_type, stream_id, record, occurrence
number of identical records within the stream), computed with polars-hash (stable across Polars
versions), so importing the same file twice adds nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl
import polars_hash as plh

from eventlab.errors import ValidationError
from eventlab.sources.source import MAX_RAW
from eventlab.textformat import format_text
from eventlab.timeutil import check_time_zone, in_range, parse_timestamps

ORDER, LINE = "__eventlab_order", "__eventlab_line"
RECORD, TS = "__eventlab_record", "__eventlab_ts"
PRESET = "__eventlab_reason"  # optional: a reason the reader already found (structure problems)
INTERNAL = (ORDER, LINE, RECORD, TS, PRESET)
STREAM = ["stream_type", "stream_id"]
OUTPUT_ENVELOPE = ("stream_type", "stream_id", "version", "event_type", "occurred_at", "event_id",
                   "actor")
QUARANTINE_SCHEMA = {"source": pl.String(), "source_line": pl.Int64(), "reason": pl.String(),
                     "raw": pl.String()}
STREAM_TYPE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_FAST_FORMATS = ("%Y-%m-%dT%H:%M:%S%.f%:z", "%Y-%m-%d %H:%M:%S%.f%:z")
_HASH = "__eventlab_hash"
_ID_HEX = 32


@dataclass(frozen=True)
class Parsed:
    """What a reader made of one file.

    ``events`` is ready for ``store.append``; ``quarantine`` has one row per rejected record
    (columns source, source_line, reason, raw); ``duplicates`` counts records dropped because
    the same record (same event id) appeared earlier in the file. Always
    ``read == events.height + quarantine.height + duplicates``.
    """

    source: str
    format: str
    events: pl.DataFrame
    quarantine: pl.DataFrame
    read: int
    duplicates: int = 0
    versions_from_source: bool = False

    @property
    def streams(self) -> int:
        """Distinct (stream_type, stream_id) among the accepted events."""
        return self.events.select(STREAM).n_unique() if self.events.height else 0


@dataclass(frozen=True)
class Labels:
    """How the reader names the source of each envelope field in quarantine reasons."""

    stream_id: str
    event_type: str
    timestamp: str
    version: str = "version"


def quarantine_frame(source: str, rows: pl.DataFrame) -> pl.DataFrame:
    """Quarantine rows from a frame with ``source_line``, ``reason`` and ``raw`` columns (raw text
    cut to ``MAX_RAW`` characters)."""
    return rows.select(
        pl.lit(source, pl.String).alias("source"),
        pl.col("source_line").cast(pl.Int64),
        pl.col("reason").cast(pl.String),
        pl.col("raw").cast(pl.String).str.slice(0, MAX_RAW),
    )


def empty_quarantine() -> pl.DataFrame:
    return pl.DataFrame(schema=QUARANTINE_SCHEMA)


def parse_times(raw: pl.Series, *, tz: str, fmt: str | None = None) -> pl.Series:
    """Timestamps as ``Datetime(us, UTC)``; null where a value cannot be parsed.

    ``fmt`` given: that strftime format (naive results are read in ``tz``). Otherwise the common
    ISO 8601 shapes are tried first, the rest goes through ``eventlab.timeutil.parse_timestamps``.
    """
    check_time_zone(tz)
    if fmt is not None:
        return _parse_with_format(raw, fmt, tz)
    out = pl.Series(raw.name, [None] * raw.len(), dtype=pl.Datetime("us", "UTC"))
    todo = raw.is_not_null()
    for fast in _FAST_FORMATS:
        if not todo.any():
            return out
        idx = todo.arg_true()
        parsed = raw.gather(idx).str.to_datetime(fast, strict=False, time_zone="UTC",
                                                 time_unit="us")
        out = out.scatter(idx, parsed)
        todo = todo & out.is_null()
    if todo.any():
        idx = todo.arg_true()
        rest = raw.gather(idx).to_frame("t").select(parse_timestamps(pl.col("t"), tz=tz))
        out = out.scatter(idx, rest.to_series())
    return out


def _parse_with_format(raw: pl.Series, fmt: str, tz: str) -> pl.Series:
    try:
        parsed = raw.str.to_datetime(fmt, strict=False, time_unit="us")
    except pl.exceptions.PolarsError as exc:
        raise ValidationError(
            f"timestamp_format {fmt!r} is not a valid strftime format ({str(exc).splitlines()[0]})."
            " Hint: e.g. '%d/%m/%Y %H:%M:%S' or '%Y-%m-%d %H:%M:%S%z'."
        ) from None
    dtype = parsed.dtype
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None:
        return parsed.dt.convert_time_zone("UTC")
    local = parsed.dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null")
    return local.dt.convert_time_zone("UTC")


def _missing(column: str) -> pl.Expr:
    return pl.col(column).is_null() | (pl.col(column).str.strip_chars() == "")


def _reasons(frame: pl.DataFrame, labels: Labels, fmt: str | None) -> pl.Expr:
    """The first problem of each row (null when the row is fine)."""
    ts = pl.col(TS)
    preset = pl.col(PRESET) if PRESET in frame.columns else pl.lit(None, pl.String)
    expr = (
        pl.when(preset.is_not_null()).then(preset)
        .when(_missing("stream_id")).then(pl.lit(f"missing stream id ({labels.stream_id})"))
        .when(_missing("event_type")).then(pl.lit(f"missing event type ({labels.event_type})"))
        .when(_missing(TS)).then(pl.lit(f"missing timestamp ({labels.timestamp})"))
        .when(pl.col("occurred_at").is_null()).then(format_text(
            f"unparseable timestamp ({labels.timestamp}) '{{}}': " + (
                f"it does not match timestamp_format {fmt!r}" if fmt else "expected ISO 8601, "
                "e.g. 2012-03-01T10:30:00+01:00, 2012-03-01 10:30:00 or 2012-03-01"), ts))
        .when(~in_range(pl.col("occurred_at"))).then(format_text(
            f"timestamp ({labels.timestamp}) '{{}}' is outside the years 1..9999", ts))
        .when(~pl.col("stream_type").str.contains(STREAM_TYPE_PATTERN)).then(format_text(
            "invalid stream type '{}': 1-64 letters, digits, '_', '-' or '.', starting with a "
            "letter or digit", pl.col("stream_type")))
    )
    if "version" in frame.columns:
        expr = expr.when(pl.col("__version").is_null() | (pl.col("__version") < 1)).then(
            format_text(f"version ({labels.version}) '{{}}' is not an integer >= 1",
                      pl.col("version").fill_null("")))  # a null in format() gives null
    return expr.otherwise(pl.lit(None, pl.String))


def finish(
    candidates: pl.DataFrame,
    *,
    source: str,
    stream_type: str,
    labels: Labels,
    tz: str = "UTC",
    timestamp_format: str | None = None,
    infer_payload: bool = False,
    prefer: Mapping[str, pl.DataType] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """Check, identify, version and sort candidate rows.

    Returns ``(events, bad, duplicates)``: ``bad`` holds ``ORDER``, ``LINE``, ``RECORD`` and
    ``reason`` of every rejected row (the reader turns it into quarantine rows).
    """
    rows = candidates.sort(ORDER)
    default_type = pl.lit(stream_type, pl.String)
    rows = rows.with_columns(
        (pl.coalesce(pl.col("stream_type").str.strip_chars().replace("", None), default_type)
         if "stream_type" in rows.columns else default_type).alias("stream_type"),
        parse_times(rows[TS], tz=tz, fmt=timestamp_format).alias("occurred_at"),
    )
    if "version" in rows.columns:
        rows = rows.with_columns(
            pl.col("version").str.strip_chars().str.to_integer(strict=False).alias("__version"))
    rows = rows.with_columns(_reasons(rows, labels, timestamp_format).alias("reason"))
    bad = rows.filter(pl.col("reason").is_not_null()).select(ORDER, LINE, RECORD, "reason")
    good = rows.filter(pl.col("reason").is_null()).drop("reason")
    if "version" in good.columns:
        good = good.with_columns(pl.col("__version").alias("version")).drop("__version")
    good, clashes, duplicates = _assign_ids(good)
    events = _order_and_version(good)
    if infer_payload:
        events = infer_types(events, [c for c in events.columns if c not in OUTPUT_ENVELOPE
                                      and c not in INTERNAL], prefer or {})
    envelope = [c for c in OUTPUT_ENVELOPE if c in events.columns]
    payload = [c for c in events.columns if c not in OUTPUT_ENVELOPE and c not in INTERNAL]
    return events.select(*envelope, *payload), pl.concat([bad, clashes]), duplicates


def _assign_ids(rows: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """Deterministic ids; with source ids, drop exact repeats and quarantine conflicting ones."""
    parts = [pl.col("stream_type"), pl.col("stream_id"), pl.col(RECORD)]
    occurrence = _occurrence(rows.select(parts))
    key = pl.concat_str([*parts, pl.lit(occurrence).cast(pl.String)], separator="\x1f")
    rows = rows.with_columns(key.alias(_HASH)).with_columns(
        plh.col(_HASH).chash.sha2_256().str.slice(0, _ID_HEX).alias(_HASH))
    if "event_id" not in rows.columns:
        return rows.rename({_HASH: "event_id"}), _no_bad(), 0
    rows = rows.with_columns(
        pl.coalesce(pl.col("event_id").str.strip_chars().replace("", None), pl.col(_HASH))
        .alias("event_id")
    ).drop(_HASH)
    if not rows["event_id"].is_duplicated().any():
        return rows, _no_bad(), 0
    first = pl.col("event_id").is_first_distinct()
    same = pl.col(RECORD) == pl.col(RECORD).first().over("event_id")
    marked = rows.with_columns(
        pl.when(first).then(pl.lit(None, pl.String)).when(same).then(pl.lit("duplicate"))
        .otherwise(format_text("event_id '{}' was already used by the record at line {} with "
                             "different content", pl.col("event_id"),
                             pl.col(LINE).first().over("event_id"))).alias("reason"))
    duplicates = marked.filter(pl.col("reason") == "duplicate").height
    clashes = marked.filter(pl.col("reason").is_not_null() & (pl.col("reason") != "duplicate"))
    kept = marked.filter(pl.col("reason").is_null()).drop("reason")
    return kept, clashes.select(ORDER, LINE, RECORD, "reason"), duplicates


def _occurrence(keys: pl.DataFrame) -> pl.Series:
    """0 for the first row of each distinct key, 1 for its second row, ... (in row order).

    Identical records are rare, so a 64-bit hash finds the few candidate rows and only those
    are grouped by their exact values.
    """
    out = pl.repeat(0, keys.height, dtype=pl.Int64, eager=True)
    maybe = keys.select(pl.struct(keys.columns).hash().is_duplicated()).to_series()
    if not maybe.any():
        return out
    index = maybe.arg_true()
    ranks = keys[index].select(pl.int_range(pl.len(), dtype=pl.Int64).over(keys.columns))
    return out.scatter(index, ranks.to_series())


def _no_bad() -> pl.DataFrame:
    return pl.DataFrame(schema={ORDER: pl.Int64, LINE: pl.Int64, RECORD: pl.String,
                                "reason": pl.String})


def _order_and_version(rows: pl.DataFrame) -> pl.DataFrame:
    """Sort the batch so positions follow time and versions increase within each stream.

    Without source versions: version = rank by (occurred_at, source order) within the stream.
    With source versions: each stream keeps its versions; a row sorts at the latest
    occurred_at seen so far in its stream (in version order), so back-dated events keep their
    place in the stream.
    """
    if "version" not in rows.columns:
        rows = rows.sort("occurred_at", maintain_order=True)  # rows come in source order
        keys = ["stream_id"] if rows["stream_type"].n_unique() == 1 else STREAM
        return rows.with_columns(
            pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over(keys).alias("version"))
    by_version = rows.sort(*STREAM, "version", ORDER)
    keyed = by_version.with_columns(pl.col("occurred_at").cum_max().over(STREAM).alias("__key"))
    return keyed.sort("__key", "version", ORDER).drop("__key")


def infer_types(frame: pl.DataFrame, columns: list[str],
                prefer: Mapping[str, pl.DataType] | None = None) -> pl.DataFrame:
    """String columns become Int64, Float64 or Boolean when every non-null value converts.

    ``prefer`` (e.g. the store's schema) wins when it fits: a column it lists as String stays
    String, one it lists as Int64 / Float64 / Boolean is tried as that type first.
    """
    prefer = prefer or {}
    columns = [c for c in columns if frame.schema[c] == pl.String and prefer.get(c) != pl.String()]
    if not columns or frame.height == 0:
        return frame
    stats = frame.select(
        expr for c in columns for expr in (
            pl.col(c).null_count().alias(f"n|{c}"),
            *(convert(c).null_count().alias(f"{kind}|{c}") for kind, convert in _CONVERT.items()),
        )
    ).row(0, named=True)
    casts = []
    for c in columns:
        nulls = stats[f"n|{c}"]
        if nulls == frame.height:
            continue
        kinds = sorted(_CONVERT, key=lambda k: _DTYPES[k] != prefer.get(c))
        for kind in kinds:
            if stats[f"{kind}|{c}"] == nulls:
                casts.append(_CONVERT[kind](c).alias(c))
                break
    return frame.with_columns(casts) if casts else frame


def _as_int(c: str) -> pl.Expr:
    return pl.col(c).str.strip_chars().str.to_integer(strict=False)


def _as_float(c: str) -> pl.Expr:
    return pl.col(c).str.strip_chars().cast(pl.Float64, strict=False)


def _as_bool(c: str) -> pl.Expr:
    low = pl.col(c).str.strip_chars().str.to_lowercase()
    return pl.when(low == "true").then(True).when(low == "false").then(False)


_CONVERT = {"i": _as_int, "f": _as_float, "b": _as_bool}
_DTYPES: dict[str, pl.DataType] = {"i": pl.Int64(), "f": pl.Float64(), "b": pl.Boolean()}
