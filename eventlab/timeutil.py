"""Timestamps: everything inside eventlab is ``Datetime("us", "UTC")``.

Two jobs live here: turning one user-supplied point in time (``at=``, ``known_at=``) into an aware
UTC ``datetime``, and parsing a column of timestamp strings (mixed UTC offsets, ``Z``, naive
values, date-only values) into UTC, vectorized.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl

from eventlab.errors import ValidationError

PointInTime = datetime | date | str

_WITH_OFFSET = (
    "%Y-%m-%dT%H:%M:%S%.f%:z",
    "%Y-%m-%dT%H:%M:%S%.f%z",
    "%Y-%m-%dT%H:%M%:z",
)
_NAIVE = ("%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%d")
MIN_YEAR, MAX_YEAR = 1, 9999


def check_time_zone(tz: str) -> str:
    """Return ``tz`` if it is a valid IANA time zone name, else raise a ValidationError."""
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(
            f"unknown time zone {tz!r}; use an IANA name such as 'UTC' or 'Europe/Rome'."
        ) from None
    return tz


def to_utc(value: PointInTime, *, tz: str = "UTC", name: str = "at") -> datetime:
    """One point in time as an aware UTC datetime; naive values are read in ``tz``."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValidationError(
                f"{name}={value!r} is not an ISO 8601 timestamp; valid examples: "
                "'2012-03-01', '2012-03-01T10:30:00', '2012-03-01T10:30:00+01:00'."
            ) from None
    if not isinstance(value, datetime):
        if isinstance(value, date):
            value = datetime(value.year, value.month, value.day)
        else:
            raise ValidationError(
                f"{name} must be a datetime, a date or an ISO 8601 string, got "
                f"{type(value).__name__}."
            )
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(check_time_zone(tz)))
    try:
        return value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ValidationError(
            f"{name}={value.isoformat()!r} falls outside the years {MIN_YEAR:04d}-{MAX_YEAR} "
            "once converted to UTC; give a point in time inside them."
        ) from None


def parse_timestamps(expr: pl.Expr, *, tz: str = "UTC") -> pl.Expr:
    """Parse ISO-8601-like strings to UTC; unparseable values become null (callers quarantine).

    Values with an offset are converted to UTC; naive values are interpreted in ``tz``.
    """
    text = (
        expr.cast(pl.String)
        .str.strip_chars()
        .str.replace(r"^(\d{4}-\d{2}-\d{2})[ T]", "${1}T")
        .str.replace(r"(?i)Z$", "+00:00")
    )
    aware = [text.str.to_datetime(f, strict=False, time_zone="UTC", time_unit="us")
             for f in _WITH_OFFSET]
    naive = [text.str.to_datetime(f, strict=False, time_unit="us") for f in _NAIVE]
    local = pl.coalesce(naive).dt.replace_time_zone(
        check_time_zone(tz), ambiguous="earliest", non_existent="null"
    )
    return pl.coalesce([*aware, local.dt.convert_time_zone("UTC")])


def in_range(expr: pl.Expr) -> pl.Expr:
    """True where a UTC datetime lies in the years eventlab stores (0001-9999)."""
    year = expr.dt.year()
    return (year >= MIN_YEAR) & (year <= MAX_YEAR)
