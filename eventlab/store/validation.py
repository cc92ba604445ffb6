"""Batch validation with pandera's Polars backend.

The envelope schema is always checked; payload schemas are optional, one per
``(stream_type, event_type)``, registered on the store (``store.register_schema``). A failing batch
raises :class:`~eventlab.errors.ValidationError` whose ``failures`` frame lists every failing row
(``row`` = 0-based row of the batch), column, check and value. pandera is imported on first use.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

from eventlab.envelope import UTC_DATETIME
from eventlab.errors import ValidationError
from eventlab.timeutil import MAX_YEAR, MIN_YEAR, in_range

ROW = "__row"
FAILURE_COLUMNS = ("row", "stream_type", "event_type", "column", "check", "value")


def envelope_schema(columns: list[str]) -> Any:
    """The pandera schema of a normalised batch (only the envelope columns it has)."""
    import pandera.polars as pa

    text = [pa.Check.str_length(min_value=1)]
    spec = {
        "stream_type": pa.Column(str, nullable=False),
        "stream_id": pa.Column(str, text, nullable=False),
        "event_type": pa.Column(str, text, nullable=False),
        "schema_version": pa.Column(pl.Int32, pa.Check.ge(1), nullable=False),
        "occurred_at": pa.Column(UTC_DATETIME, nullable=False),  # years: _year_failures
        "version": pa.Column(pl.Int64, pa.Check.ge(1), nullable=False),
        "event_id": pa.Column(str, text, nullable=True),
    }
    return pa.DataFrameSchema({k: v for k, v in spec.items() if k in columns}, strict=False)


def _year_failures(rows: pl.DataFrame) -> pl.DataFrame:
    """Rows whose occurred_at lies outside years 1-9999, checked in Polars: pandera cannot turn
    such a value into a Python datetime, so its failure case would lose the row number."""
    if not isinstance(rows.schema.get("occurred_at"), pl.Datetime):
        return pl.DataFrame(schema={c: (pl.Int64 if c == "row" else pl.String)
                                    for c in FAILURE_COLUMNS})
    return rows.filter(~in_range(pl.col("occurred_at"))).select(
        pl.col(ROW).cast(pl.Int64).alias("row"),
        pl.col("stream_type").cast(pl.String),
        pl.col("event_type").cast(pl.String),
        pl.lit("occurred_at").alias("column"),
        pl.lit(f"year_between_{MIN_YEAR}_and_{MAX_YEAR}").alias("check"),
        pl.col("occurred_at").cast(pl.String).alias("value"),
    )


def validate_batch(df: pl.DataFrame, payload_schemas: Mapping[tuple[str, str], Any]) -> None:
    """Raise a ValidationError listing every failing row; return None when the batch is valid."""
    indexed = df.with_row_index(ROW)
    failures = [*_failures(envelope_schema(df.columns), indexed), _year_failures(indexed)]
    for (stream_type, event_type), schema in payload_schemas.items():
        rows = indexed.filter(
            (pl.col("stream_type") == stream_type) & (pl.col("event_type") == event_type)
        )
        if rows.height:
            failures.extend(_failures(schema, rows))
    found = [f for f in failures if f.height]
    if found:
        report = pl.concat(found, how="vertical_relaxed").sort("row")
        raise ValidationError(_message(report), failures=report)


def _failures(schema: Any, rows: pl.DataFrame) -> list[pl.DataFrame]:
    import pandera.errors as pe

    try:
        schema.validate(rows.drop(ROW), lazy=True)
    except pe.SchemaErrors as exc:
        return [_report(exc.failure_cases, rows)]
    except pe.SchemaError as exc:
        return [_report(getattr(exc, "failure_cases", None), rows, str(exc))]
    return []


def _report(cases: Any, rows: pl.DataFrame, fallback: str = "") -> pl.DataFrame:
    """pandera failure cases mapped back to batch rows, with the stream and event type."""
    if not isinstance(cases, pl.DataFrame) or "index" not in cases.columns:
        return pl.DataFrame(
            {"row": [None], "stream_type": [None], "event_type": [None], "column": [None],
             "check": [fallback or "schema"], "value": [None]},
            schema={c: (pl.Int64 if c == "row" else pl.String) for c in FAILURE_COLUMNS},
        )
    lookup = rows.select(ROW, "stream_type", "event_type").with_row_index("index")
    joined = cases.with_columns(pl.col("index").cast(pl.UInt32)).join(
        lookup, on="index", how="left"
    )
    return joined.select(
        pl.col(ROW).cast(pl.Int64).alias("row"),
        pl.col("stream_type").cast(pl.String),
        pl.col("event_type").cast(pl.String),
        pl.col("column").cast(pl.String),
        pl.col("check").cast(pl.String),
        pl.col("failure_case").cast(pl.String).alias("value"),
    )


def _message(report: pl.DataFrame) -> str:
    lines = [
        f"row {r['row']}: column {r['column']!r} fails {r['check']} (value {r['value']!r})"
        for r in report.head(10).iter_rows(named=True)
    ]
    more = f"\n  ... and {report.height - 10} more" if report.height > 10 else ""
    return (
        f"the batch is invalid: {report.height} failing check(s); nothing was appended.\n  "
        + "\n  ".join(lines) + more
        + "\nHint: the `failures` attribute of this error is a DataFrame of every failing row."
    )
