"""One dtype per column on both sides of a comparison (``diff_frames``): a read model read back
from CSV holds text where the Parquet one holds datetimes, numbers and booleans.

Per column whose dtypes differ:

* text against a type: the text is parsed as that type. Timestamps as eventlab parses them
  (ISO 8601, ``Z`` or any UTC offset; naive values are UTC), numbers after trimming spaces,
  booleans from true/false/1/0/yes/no (any case); text that does not parse becomes null, so it
  shows as a difference, never as an error;
* two temporal types (datetimes in other units or zones, dates): both become UTC datetimes;
* two numeric types: both Float64 (Int64 when both are integers);
* nested values (lists, structs) against anything else: both compared as JSON text;
* anything else: both compared as text.
"""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from typing import Any

import polars as pl

from eventlab.timeutil import parse_timestamps

UTC_US = pl.Datetime("us", "UTC")
_TRUE = ["true", "1", "yes", "t", "y"]
_FALSE = ["false", "0", "no", "f", "n"]


def _is_temporal(dtype: pl.DataType) -> bool:
    return isinstance(dtype, (pl.Datetime, pl.Date))


def _to_utc(column: str, dtype: pl.DataType) -> pl.Expr:
    col = pl.col(column)
    if dtype == pl.String:
        return parse_timestamps(col)
    if isinstance(dtype, pl.Date):
        return col.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is None:
        return col.dt.cast_time_unit("us").dt.replace_time_zone("UTC")
    return col.dt.cast_time_unit("us").dt.convert_time_zone("UTC")


def _text_as(column: str, dtype: pl.DataType) -> pl.Expr:
    """Text parsed as ``dtype`` (numeric or boolean); unparseable -> null."""
    text = pl.col(column).str.strip_chars()
    if dtype == pl.Boolean:
        lower = text.str.to_lowercase()
        return (pl.when(lower.is_in(_TRUE)).then(True)
                .when(lower.is_in(_FALSE)).then(False).otherwise(None))
    return text.cast(_numeric(dtype, dtype), strict=False)


def _numeric(a: pl.DataType, b: pl.DataType) -> pl.DataType:
    return pl.Int64() if a.is_integer() and b.is_integer() else pl.Float64()


def _default(value: Any) -> Any:
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    return str(value)


def json_text(series: pl.Series) -> pl.Series:
    """Nested values as JSON text: how ``eventlab ... --out x.csv`` writes lists and structs,
    and how a comparison reads them back."""
    values = [
        None if v is None else json.dumps(v, ensure_ascii=False, default=_default)
        for v in series.to_list()
    ]
    return pl.Series(series.name, values, pl.String)


def _as_text(frame: pl.DataFrame, column: str) -> pl.DataFrame:
    dtype = frame.schema[column]
    if dtype.is_nested():
        return frame.with_columns(json_text(frame[column]))
    if _is_temporal(dtype):
        return frame.with_columns(_to_utc(column, dtype).dt.to_string("%Y-%m-%dT%H:%M:%S%.f%:z"))
    return frame.with_columns(pl.col(column).cast(pl.String))


def _pair(da: pl.DataType, db: pl.DataType, column: str) -> tuple[Any, Any] | None:
    """Expressions giving both sides one dtype, or None: compare as text."""
    if da.is_nested() or db.is_nested():
        return None
    if _is_temporal(da) or _is_temporal(db):
        both = all(_is_temporal(d) or d == pl.String for d in (da, db))
        return (_to_utc(column, da), _to_utc(column, db)) if both else None
    if da == pl.String and (db.is_numeric() or db == pl.Boolean):
        wanted = db if db == pl.Boolean else _numeric(db, db)
        return _text_as(column, wanted), pl.col(column).cast(wanted)
    if db == pl.String and (da.is_numeric() or da == pl.Boolean):
        wanted = da if da == pl.Boolean else _numeric(da, da)
        return pl.col(column).cast(wanted), _text_as(column, wanted)
    if da.is_numeric() and db.is_numeric():
        wanted = _numeric(da, db)
        return pl.col(column).cast(wanted, strict=False), pl.col(column).cast(wanted, strict=False)
    return None


def align(
    a: pl.DataFrame, b: pl.DataFrame, columns: list[str]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``a`` and ``b`` with ``columns`` coerced to one dtype each (see the module docstring)."""
    for column in columns:
        da, db = a.schema[column], b.schema[column]
        if da == db:
            continue
        pair = _pair(da, db, column)
        if pair is not None:
            try:
                a, b = a.with_columns(pair[0].alias(column)), b.with_columns(pair[1].alias(column))
                continue
            except pl.exceptions.PolarsError:
                pass
        a, b = _as_text(a, column), _as_text(b, column)
    return a, b
