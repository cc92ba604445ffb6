"""The event envelope: the columns every stored event has, their dtypes, and batch normalisation.

==================  =======================  ==============================================
column              dtype                    meaning
==================  =======================  ==============================================
event_id            String                   unique in the store; generated when absent
stream_type         String                   kind of stream ("fine", "account"); partition key
stream_id           String                   identity of the stream within its type
version             Int64                    1-based, gapless per (stream_type, stream_id)
position            Int64                    global commit order, gapless and unique (store)
event_type          String                   "Create Fine", "Deposited", ...
schema_version      Int32                    version of the payload shape (for upcasters)
occurred_at         Datetime(us, UTC)        valid time: when it happened in the domain
recorded_at         Datetime(us, UTC)        transaction time: when the store committed it
correlation_id      String                   groups events of one business transaction
causation_id        String                   id of the command/event that caused this one
actor               String                   who did it (user, system, org:resource)
<payload columns>   any supported dtype      typed, nullable; differ per stream type
==================  =======================  ==============================================
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from eventlab.errors import SchemaError, ValidationError

UTC_DATETIME = pl.Datetime("us", "UTC")

ENVELOPE: dict[str, pl.DataType] = {
    "event_id": pl.String(),
    "stream_type": pl.String(),
    "stream_id": pl.String(),
    "version": pl.Int64(),
    "position": pl.Int64(),
    "event_type": pl.String(),
    "schema_version": pl.Int32(),
    "occurred_at": UTC_DATETIME,
    "recorded_at": UTC_DATETIME,
    "correlation_id": pl.String(),
    "causation_id": pl.String(),
    "actor": pl.String(),
}
ENVELOPE_COLUMNS: tuple[str, ...] = tuple(ENVELOPE)
REQUIRED_INPUT: tuple[str, ...] = ("stream_id", "event_type", "occurred_at")
STORE_ASSIGNED: tuple[str, ...] = ("position", "recorded_at")
OPTIONAL_INPUT: tuple[str, ...] = (
    "event_id", "version", "schema_version", "correlation_id", "causation_id", "actor",
)
#: Columns that only exist in the folder layout, never in a batch or a scan.
PARTITION_ONLY: tuple[str, ...] = ("occurred_month",)

_SIMPLE_DTYPES: dict[str, pl.DataType] = {
    "String": pl.String(), "Boolean": pl.Boolean(), "Date": pl.Date(), "Time": pl.Time(),
    "Int8": pl.Int8(), "Int16": pl.Int16(), "Int32": pl.Int32(), "Int64": pl.Int64(),
    "UInt8": pl.UInt8(), "UInt16": pl.UInt16(), "UInt32": pl.UInt32(), "UInt64": pl.UInt64(),
    "Float32": pl.Float32(), "Float64": pl.Float64(), "Binary": pl.Binary(),
    "Datetime(us, UTC)": UTC_DATETIME, "Duration(us)": pl.Duration("us"),
}


def _inner(dtype: pl.List) -> pl.DataType:
    inner = dtype.inner
    return inner() if isinstance(inner, type) else inner


def dtype_to_str(dtype: pl.DataType) -> str:
    """Serialise a storable dtype to the short string kept in the commit log."""
    if isinstance(dtype, pl.List):
        return f"List({dtype_to_str(_inner(dtype))})"
    for name, known in _SIMPLE_DTYPES.items():
        if dtype == known:
            return name
    raise SchemaError(
        f"dtype {dtype} cannot be stored; valid dtypes are {', '.join(_SIMPLE_DTYPES)} "
        "and List of those. Hint: cast the column, or encode it as a JSON string."
    )


def dtype_from_str(text: str) -> pl.DataType:
    """Inverse of :func:`dtype_to_str` (never evaluates code)."""
    if text.startswith("List(") and text.endswith(")"):
        return pl.List(dtype_from_str(text[5:-1]))
    try:
        return _SIMPLE_DTYPES[text]
    except KeyError:
        raise SchemaError(f"unknown dtype {text!r} in the store's commit log") from None


def payload_columns(columns: list[str] | tuple[str, ...]) -> list[str]:
    """The columns of ``columns`` that are payload (not envelope, not partition)."""
    return [c for c in columns if c not in ENVELOPE and c not in PARTITION_ONLY]


def _storable(dtype: pl.DataType) -> pl.DataType:
    """The dtype a payload column is stored as (UTC datetimes, strings for categoricals)."""
    if isinstance(dtype, pl.Datetime):
        return UTC_DATETIME
    if isinstance(dtype, pl.Duration):
        return pl.Duration("us")
    if isinstance(dtype, (pl.Categorical, pl.Enum, pl.Null)):
        return pl.String()
    if isinstance(dtype, pl.List):
        return pl.List(_storable(_inner(dtype)))
    return dtype


def _to_utc(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """Naive datetimes are taken as UTC; aware ones are converted to UTC."""
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is None:
        return expr.dt.replace_time_zone("UTC").dt.cast_time_unit("us")
    if isinstance(dtype, pl.Datetime):
        return expr.dt.convert_time_zone("UTC").dt.cast_time_unit("us")
    return expr.cast(_storable(dtype))


def _check_columns(df: pl.DataFrame, stream_type: str | None) -> None:
    missing = [c for c in REQUIRED_INPUT if c not in df.columns]
    if "stream_type" not in df.columns and stream_type is None:
        missing.append("stream_type")
    if missing:
        raise ValidationError(
            f"the batch lacks required column(s) {missing}; a batch needs "
            f"{list(REQUIRED_INPUT)} and stream_type (a column, or append(..., stream_type=...))."
        )
    assigned = [c for c in (*STORE_ASSIGNED, *PARTITION_ONLY) if c in df.columns]
    if assigned:
        raise ValidationError(
            f"column(s) {assigned} are set by the store when it commits and must not be in the "
            "batch. Hint: drop them, e.g. df.drop(" + ", ".join(repr(c) for c in assigned) + ")."
        )
    if not isinstance(df.schema["occurred_at"], pl.Datetime):
        raise ValidationError(
            f"occurred_at must be a Datetime column, got {df.schema['occurred_at']}. Hint: "
            "pl.col('occurred_at').str.to_datetime(time_zone='UTC') parses ISO 8601 strings."
        )


def normalize_batch(df: pl.DataFrame, stream_type: str | None = None) -> pl.DataFrame:
    """Return ``df`` with envelope columns present, in envelope dtypes, datetimes in UTC.

    The caller's frame is not modified. ``version`` and ``event_id`` stay absent when the batch
    does not provide them (the store assigns them); ``position`` and ``recorded_at`` are added by
    the store at commit.
    """
    _check_columns(df, stream_type)
    exprs: list[pl.Expr] = []
    if "stream_type" not in df.columns:
        exprs.append(pl.lit(stream_type, pl.String()).alias("stream_type"))
    defaults: dict[str, pl.Expr] = {
        "schema_version": pl.lit(1, pl.Int32()),
        "correlation_id": pl.lit(None, pl.String()),
        "causation_id": pl.lit(None, pl.String()),
        "actor": pl.lit(None, pl.String()),
    }
    exprs += [default.alias(name) for name, default in defaults.items() if name not in df.columns]
    out = df.with_columns(exprs) if exprs else df
    casts = []
    for name, dtype in out.schema.items():
        if name in ENVELOPE and name != "occurred_at":
            casts.append(pl.col(name).cast(ENVELOPE[name], strict=True))
        else:
            casts.append(_to_utc(pl.col(name), dtype))
    try:
        return out.with_columns(casts)
    except pl.exceptions.PolarsError as exc:
        raise ValidationError(
            f"an envelope column has values of the wrong type: {str(exc).splitlines()[0]}. "
            "Valid dtypes: " + ", ".join(f"{k}={v}" for k, v in ENVELOPE.items())
        ) from exc


def merge_schema(stored: Mapping[str, pl.DataType], batch: Mapping[str, pl.DataType]) -> dict[
    str, pl.DataType
]:
    """Payload columns of ``batch`` that are new to the store; raise on a dtype conflict."""
    new: dict[str, pl.DataType] = {}
    for name in payload_columns(list(batch)):
        if name in stored and batch[name] == pl.Null():
            continue  # an all-null column fits any stored dtype
        dtype = _storable(batch[name])
        if name not in stored:
            dtype_to_str(dtype)  # raises a SchemaError for unsupported dtypes
            new[name] = dtype
        elif stored[name] != dtype and not _castable(dtype, stored[name]):
            raise SchemaError(
                f"payload column {name!r} is stored as {stored[name]} but this batch has "
                f"{dtype}. Hint: cast it with pl.col({name!r}).cast(pl.{stored[name]}) or use "
                "a new column name (old files are never rewritten)."
            )
    return new


def _castable(source: pl.DataType, target: pl.DataType) -> bool:
    """Lossless widenings accepted on append (the batch is cast to the stored dtype)."""
    if source == target:
        return True
    if source.is_integer() and (target.is_float() or target == pl.Int64()):
        return True
    return source == pl.Float32() and target == pl.Float64()
