"""Writing committed-to-be rows as immutable Parquet files, one per (stream type, month)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import polars as pl

from eventlab.envelope import ENVELOPE, payload_columns
from eventlab.errors import write_failure
from eventlab.storage.layout import ROW_GROUP_SIZE, data_file_name, partition_dir
from eventlab.storage.log import DataFile

FILE_ENVELOPE = [c for c in ENVELOPE if c != "stream_type"]


def file_sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def write_partitions(
    rows: pl.DataFrame,
    *,
    commit: int,
    txn: str,
    staged: Callable[[str], Path],
    progress: Callable[[int], None] | None = None,
) -> list[DataFile]:
    """Write ``rows`` (a full commit) as one file per partition into the staging area.

    Files are sorted by (stream_id, version); payload columns that are entirely null in a file
    are left out of it (they read back as nulls).
    """
    order, blocks = _partition_order(rows)
    written: list[DataFile] = []
    for index, (stream_type, month, offset, length) in enumerate(blocks):
        rel = f"{partition_dir(stream_type, month)}/{data_file_name(commit, txn, index)}"
        part = rows[order.slice(offset, length)]
        written.append(write_file(part, rel, staged(rel), stream_type, month))
        if progress is not None:
            progress(length)
    return written


def _partition_order(rows: pl.DataFrame) -> tuple[pl.Series, list[tuple[str, str, int, int]]]:
    """Row numbers of ``rows`` in (UTC month, stream_type, stream_id, batch order) order, and the
    partitions as contiguous blocks of it: (stream_type, "YYYY-MM", offset, length), listed in
    (stream_type, month) order.

    Stream types and ids become their lexical ranks (a cast to an Enum of the sorted distinct
    values: no string sort over the whole batch, no join), so the sort is on one integer key.
    The sort is stable: each stream's rows stay in batch order, which is version order after
    ``assign_versions``.
    """
    types = rows["stream_type"].unique(maintain_order=True).sort()
    ids = rows["stream_id"].unique(maintain_order=True).sort()
    year, month = pl.col("occurred_at").dt.year(), pl.col("occurred_at").dt.month()
    keys = rows.select(  # 4-byte columns: the sort key is built as Int64 only inside the sort
        (year * 12 + month - 1).alias(_MONTH),
        _rank_of("stream_type", types).alias(_TYPE),
        _rank_of("stream_id", ids).alias(_RANK),
    )
    low = int(keys[_MONTH].min())  # type: ignore[arg-type]
    block = (pl.col(_MONTH).cast(pl.Int64) - low) * types.len() + pl.col(_TYPE).cast(pl.Int64)
    months = int(keys[_MONTH].max()) - low + 1  # type: ignore[arg-type]
    if months * types.len() * ids.len() < 2**62:
        by: list[pl.Expr] = [block * ids.len() + pl.col(_RANK).cast(pl.Int64)]
    else:  # too many (month, type, stream) combinations for one Int64 key
        by = [block, pl.col(_RANK)]
    order = keys.select(pl.int_range(pl.len(), dtype=pl.UInt32).sort_by(by, maintain_order=True))
    runs = keys.group_by(block.alias("block")).len().sort("block")  # blocks sort like the key
    starts = runs["len"].cum_sum() - runs["len"]
    blocks = sorted(
        (types[b % types.len()], _month_name(low + b // types.len()), start, length)
        for b, start, length in zip(runs["block"], starts, runs["len"], strict=True)
    )
    return order.to_series(), blocks


def _rank_of(column: str, sorted_values: pl.Series) -> pl.Expr:
    """Lexical rank (UInt32) of each value of ``column`` among ``sorted_values`` (its distinct
    values, sorted): the physical code of an Enum with those categories."""
    if sorted_values.len() == 1:  # one stream type, typically: nothing to look up
        return pl.lit(0, pl.UInt32)
    return pl.col(column).cast(pl.Enum(sorted_values)).to_physical()


def _month_name(index: int) -> str:
    """``YYYY-MM`` of a month index year * 12 + month - 1 (as layout.month_expr formats it)."""
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


_RANK, _TYPE, _MONTH = "stream_rank", "type_rank", "month_index"


def _sorted_by_stream(table: pl.DataFrame) -> bool:
    """True when ``table`` is already in (stream_id, version) order (a cheap vectorized check)."""
    sid, version = pl.col("stream_id"), pl.col("version")
    previous_sid = sid.shift(1)
    in_order = (sid > previous_sid) | ((sid == previous_sid) & (version >= version.shift(1)))
    return bool(table.select(in_order.slice(1).all()).item())


def write_file(part: pl.DataFrame, rel: str, path: Path, stream_type: str, month: str) -> DataFile:
    payload = [c for c in payload_columns(part.columns) if part[c].null_count() < part.height]
    table = part.select(*FILE_ENVELOPE, *payload)
    if not _sorted_by_stream(table):
        table = table.sort("stream_id", "version")
    try:
        table.write_parquet(
            path, compression="zstd", statistics=True, row_group_size=ROW_GROUP_SIZE
        )
    except pl.exceptions.PolarsError as exc:
        raise write_failure(path, exc) from exc
    stats = table.select(
        pl.col("position").min().alias("min_position"),
        pl.col("position").max().alias("max_position"),
        pl.col("occurred_at").min().alias("min_occurred_at"),
        pl.col("occurred_at").max().alias("max_occurred_at"),
    ).row(0, named=True)
    return DataFile(
        path=rel,
        stream_type=stream_type,
        month=month,
        rows=table.height,
        bytes=path.stat().st_size,
        sha256=file_sha256(path),
        min_position=int(stats["min_position"]),
        max_position=int(stats["max_position"]),
        min_occurred_at=stats["min_occurred_at"].isoformat(),
        max_occurred_at=stats["max_occurred_at"].isoformat(),
        columns=tuple(payload),
    )
