"""Writing committed-to-be rows as immutable Parquet files, one per (stream type, month)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import polars as pl

from eventlab.envelope import ENVELOPE, payload_columns
from eventlab.store.layout import (
    ROW_GROUP_SIZE,
    data_file_name,
    month_expr,
    partition_dir,
)
from eventlab.store.log import DataFile

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
    parts = rows.with_columns(month_expr()).partition_by(
        ["stream_type", "occurred_month"], as_dict=True, maintain_order=True
    )
    written: list[DataFile] = []
    for index, ((stream_type, month), part) in enumerate(sorted(parts.items())):
        rel = f"{partition_dir(str(stream_type), str(month))}/{data_file_name(commit, txn, index)}"
        written.append(write_file(part, rel, staged(rel), str(stream_type), str(month)))
        if progress is not None:
            progress(part.height)
    return written


def write_file(part: pl.DataFrame, rel: str, path: Path, stream_type: str, month: str) -> DataFile:
    payload = [c for c in payload_columns(part.columns) if part[c].null_count() < part.height]
    table = part.select(*FILE_ENVELOPE, *payload).sort("stream_id", "version")
    table.write_parquet(
        path, compression="zstd", statistics=True, row_group_size=ROW_GROUP_SIZE
    )
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
