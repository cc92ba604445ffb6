"""Typed source records -> a :class:`~eventlab.sources.batch.Parsed` batch (pure, vectorized).

The file readers start from text and go through :func:`eventlab.sources.batch.finish`; database
and dump sources already have typed columns (timestamps, integers, ids), so they build a
*records* frame instead and call :func:`parse_records`:

- envelope columns ``stream_type`` (null: the source's default), ``stream_id``, ``event_type``,
  ``occurred_at`` (``Datetime(us, UTC)``), ``event_id``, optional ``correlation_id``,
  ``causation_id``, ``actor``;
- payload columns (anything else);
- ``LINE``: the record's place in the source (``seq_id``, notification id, commit position, row
  number), reported as ``source_line`` in the quarantine; ``RAW``: the record as text for the
  quarantine; optional ``PRESET``: a reason the reader already found.

Rows that break a rule are quarantined with the reason; a row whose ``event_id`` appeared
earlier in the batch is a duplicate. Rows keep source order, so the store numbers each stream's
versions in source order.
"""

from __future__ import annotations

import polars as pl
import polars_hash  # noqa: F401  (registers the .chash namespace)

from eventlab.sources.batch import (
    LINE,
    PRESET,
    STREAM_TYPE_PATTERN,
    Parsed,
    empty_quarantine,
    quarantine_frame,
)
from eventlab.textformat import format_text
from eventlab.timeutil import in_range

RAW = "__eventlab_raw"
ENVELOPE_OUT = ("stream_type", "stream_id", "event_type", "occurred_at", "event_id",
                "correlation_id", "causation_id", "actor")
_ID_HEX = 32


def derived_id(*parts: pl.Expr) -> pl.Expr:
    """A deterministic event id: 32 hex digits of SHA-256 over ``parts`` (joined by \\x1f),
    computed with polars-hash (stable across Polars versions)."""
    key = pl.concat_str([p.cast(pl.String).fill_null("") for p in parts], separator="\x1f")
    return key.chash.sha2_256().str.slice(0, _ID_HEX)  # type: ignore[attr-defined]


def parse_records(
    records: pl.DataFrame, *, source: str, format: str, default_stream_type: str,
    labels: dict[str, str] | None = None,
) -> Parsed:
    """Check the records, quarantine the bad ones with a reason, drop repeated ids."""
    labels = labels or {}
    rows = records.with_columns(
        pl.coalesce(pl.col("stream_type"), pl.lit(default_stream_type)).alias("stream_type")
        if "stream_type" in records.columns
        else pl.lit(default_stream_type, pl.String).alias("stream_type"))
    rows = rows.with_columns(_reasons(rows, labels).alias("reason"))
    bad = rows.filter(pl.col("reason").is_not_null())
    good = rows.filter(pl.col("reason").is_null()).drop("reason")
    first = good["event_id"].is_first_distinct()
    duplicates = good.height - int(first.sum())
    good = good.filter(first)
    quarantine = (quarantine_frame(source, bad.select(
        pl.col(LINE).alias("source_line"), "reason", pl.col(RAW).alias("raw")))
        if bad.height else empty_quarantine())
    envelope = [c for c in ENVELOPE_OUT if c in good.columns]
    payload = [c for c in good.columns if c not in ENVELOPE_OUT and c not in (LINE, RAW, PRESET)]
    return Parsed(source=source, format=format, events=good.select(*envelope, *payload),
                  quarantine=quarantine, read=records.height, duplicates=duplicates)


def _missing(column: str) -> pl.Expr:
    return pl.col(column).is_null() | (pl.col(column).cast(pl.String).str.strip_chars() == "")


def _reasons(rows: pl.DataFrame, labels: dict[str, str]) -> pl.Expr:
    """The first problem of each row (null when the row is fine)."""
    def label(name: str) -> str:
        return f" ({labels[name]})" if name in labels else ""

    preset = pl.col(PRESET) if PRESET in rows.columns else pl.lit(None, pl.String)
    return (
        pl.when(preset.is_not_null()).then(preset)
        .when(_missing("stream_id")).then(pl.lit(f"missing stream id{label('stream_id')}"))
        .when(_missing("event_type")).then(pl.lit(f"missing event type{label('event_type')}"))
        .when(pl.col("occurred_at").is_null()).then(
            pl.lit(f"missing or unreadable timestamp{label('occurred_at')}"))
        .when(~in_range(pl.col("occurred_at"))).then(
            pl.lit(f"timestamp{label('occurred_at')} is outside the years 1..9999"))
        .when(_missing("event_id")).then(pl.lit(f"missing event id{label('event_id')}"))
        .when(~pl.col("stream_type").str.contains(STREAM_TYPE_PATTERN)).then(format_text(
            "invalid stream type '{}': 1-64 letters, digits, '_', '-' or '.', starting with a "
            "letter or digit", pl.col("stream_type")))
        .otherwise(pl.lit(None, pl.String))
    )


def raw_text(*columns: str) -> pl.Expr:
    """A record's quarantine text: ``name=value`` pairs of ``columns`` joined by ``, ``."""
    return pl.concat_str(
        [format_text(f"{c}={{}}", pl.col(c).cast(pl.String).fill_null("null")) for c in columns],
        separator=", ")


def stream_type_slug(expr: pl.Expr) -> pl.Expr:
    """A source's type name as a valid stream type: runs of other characters become ``-``,
    at most 64 characters (``"Purchase Order"`` -> ``"Purchase-Order"``)."""
    return (expr.str.replace_all(r"[^A-Za-z0-9_.-]+", "-").str.strip_chars_start("_.-")
            .str.slice(0, 64).str.strip_chars_end("-").replace("", None))
