"""Pure, vectorized steps that turn a validated batch into rows ready to commit.

Expected versions (optimistic concurrency) are given per stream as:

* ``ANY`` ("any"): no check;
* ``NO_STREAM`` ("no_stream", or 0): the stream must not exist yet;
* ``STREAM_EXISTS`` ("exists"): the stream must have at least one event;
* an int ``n``: the stream's current version must be exactly ``n``.

``expected_version`` is one of those for every stream of the batch, or a mapping from
``stream_id`` or ``(stream_type, stream_id)`` to one of those (streams not in the mapping: any).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Literal

import polars as pl

from eventlab.errors import ConcurrencyError, ValidationError
from eventlab.textformat import format_text

ANY: Literal["any"] = "any"
NO_STREAM: Literal["no_stream"] = "no_stream"
STREAM_EXISTS: Literal["exists"] = "exists"
KEYS = ["stream_type", "stream_id"]
ExpectedOne = int | Literal["any", "no_stream", "exists"]
ExpectedVersion = (
    ExpectedOne | Mapping[str, ExpectedOne] | Mapping[tuple[str, str], ExpectedOne]
)

_EXISTS_CODE = -1  # internal encoding: null = any, 0 = no stream, -1 = exists, n = exactly n


def _code(value: ExpectedOne) -> int | None:
    if value == ANY:
        return None
    if value == NO_STREAM:
        return 0
    if value == STREAM_EXISTS:
        return _EXISTS_CODE
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise ValidationError(
        f"expected version {value!r} is not valid; use an int >= 0, 'any', 'no_stream' or "
        "'exists' (eventlab.ANY, eventlab.NO_STREAM, eventlab.STREAM_EXISTS)."
    )


def expected_frame(expected: ExpectedVersion, streams: pl.DataFrame) -> pl.DataFrame:
    """One row per stream of the batch: stream_type, stream_id, expected (Int64, null = any)."""
    if not isinstance(expected, Mapping):
        return streams.with_columns(expected=pl.lit(_code(expected), pl.Int64))
    rows = [(*_split_key(k), _code(v)) for k, v in expected.items()]
    given = pl.DataFrame(
        rows, schema={"stream_type": pl.String, "stream_id": pl.String, "expected": pl.Int64},
        orient="row",
    )
    by_id = given.filter(pl.col("stream_type").is_null()).drop("stream_type")
    by_key = given.filter(pl.col("stream_type").is_not_null())
    out = streams.join(by_key, on=KEYS, how="left").join(
        by_id, on="stream_id", how="left", suffix="_by_id"
    )
    return out.select(*KEYS, pl.coalesce("expected", "expected_by_id").alias("expected"))


def _split_key(key: object) -> tuple[str | None, str]:
    if isinstance(key, tuple) and len(key) == 2:
        return str(key[0]), str(key[1])
    return None, str(key)


def check_expected(expected: pl.DataFrame, actual: pl.DataFrame) -> None:
    """Raise ConcurrencyError naming every stream whose actual version is not the expected one."""
    joined = expected.join(actual, on=KEYS, how="left").with_columns(
        pl.col("actual").fill_null(0)
    )
    code = pl.col("expected")
    bad = joined.filter(
        code.is_not_null()
        & pl.when(code == _EXISTS_CODE).then(pl.col("actual") == 0)
        .otherwise(pl.col("actual") != code)
    )
    if bad.height:
        raise ConcurrencyError(_conflict_message(bad), conflicts=bad.sort(KEYS))


def _conflict_message(bad: pl.DataFrame) -> str:
    def describe(code: int) -> str:
        return {0: "no stream", _EXISTS_CODE: "an existing stream"}.get(code, f"version {code}")

    lines = [
        f"stream {r['stream_type']}/{r['stream_id']}: expected {describe(r['expected'])}, "
        f"actual version {r['actual']}"
        for r in bad.sort(KEYS).head(5).iter_rows(named=True)
    ]
    more = f" (and {bad.height - 5} more)" if bad.height > 5 else ""
    return (
        f"{bad.height} stream(s) changed since they were read; nothing of the batch was "
        f"appended{more}:\n  " + "\n  ".join(lines)
        + "\nHint: reload those streams and retry, or pass expected_version='any' to skip the "
        "check."
    )


def assign_versions(batch: pl.DataFrame, actual: pl.DataFrame) -> pl.DataFrame:
    """Fill or check ``version``: gapless, continuing each stream, in batch row order."""
    single_type = batch["stream_type"].n_unique() == 1  # then grouping by stream_id is cheaper
    rank = pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over(
        "stream_id" if single_type else KEYS
    )
    if actual.height == 0:  # only new streams (e.g. a new store): no join needed
        with_actual = batch.with_columns(actual=pl.lit(0, pl.Int64))
    else:
        with_actual = batch.join(actual, on=KEYS, how="left", maintain_order="left")
        with_actual = with_actual.with_columns(pl.col("actual").fill_null(0))
    if "version" not in batch.columns or batch["version"].null_count() == batch.height:
        return with_actual.with_columns(version=pl.col("actual") + rank).drop("actual")
    if batch["version"].null_count():
        raise ValidationError("version has nulls; give every row a version or leave it out.")
    first = pl.col("version").first().over(KEYS)
    stale = with_actual.filter(first - 1 != pl.col("actual"))
    if stale.height:
        streams = stale.group_by(KEYS).agg(
            (pl.col("version").first() - 1).alias("expected"), pl.col("actual").first()
        )
        raise ConcurrencyError(_conflict_message(streams), conflicts=streams.sort(KEYS))
    gaps = with_actual.with_row_index("row").filter(pl.col("version") != first - 1 + rank)
    if gaps.height:
        rows = gaps["row"].head(5).to_list()
        raise ValidationError(
            f"versions must be gapless and increasing in batch order within each stream; "
            f"{gaps.height} row(s) break this, e.g. rows {rows}. Hint: sort the batch by "
            "(stream_id, version), or drop the version column to let the store assign it.",
            failures=gaps.select("row", *KEYS, "version"),
        )
    return with_actual.drop("actual")


def assign_positions(
    batch: pl.DataFrame, *, start: int, recorded_at: datetime, id_prefix: str
) -> pl.DataFrame:
    """Add ``position`` (start+1 ... in batch order), ``recorded_at``, and missing event ids."""
    position = pl.int_range(start + 1, start + 1 + pl.len(), dtype=pl.Int64)
    out = batch.with_columns(
        position=position, recorded_at=pl.lit(recorded_at).dt.cast_time_unit("us")
    )
    generated = format_text("{}-{}", pl.lit(id_prefix), pl.col("position"))
    if "event_id" in out.columns and out["event_id"].null_count() == 0:
        return out  # every id given: formatting ids for all rows would be wasted work
    if "event_id" in out.columns:
        return out.with_columns(pl.coalesce("event_id", generated).alias("event_id"))
    return out.with_columns(generated.alias("event_id"))


def repeated_ids(ids: pl.Series) -> pl.Series:
    """The distinct values of ``ids`` that occur more than once (empty when all are unique).

    Distinct 64-bit hashes prove distinct ids, so the common all-unique case costs one hash and
    one integer ``n_unique`` (about 15x faster than ``is_duplicated`` on 10M strings); only a
    batch with a repeated hash pays for the exact check.
    """
    if ids.hash().n_unique() == ids.len():
        return ids.clear()
    return ids.filter(ids.is_duplicated()).unique()
