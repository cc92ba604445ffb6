"""Deterministic test batches that span several stream types, streams and months.

Every row carries ``batch_id`` and ``batch_size`` in its payload, so a reader can prove it never
sees part of a batch: per batch_id, the count of stored rows is 0 or batch_size.
"""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from eventlab.textformat import format_text

STREAM_TYPES = ("account", "fine", "order")
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def make_batch(batch_id: str, size: int, streams: int = 5, months: int = 4) -> pl.DataFrame:
    """``size`` events: stream type cycles over STREAM_TYPES, occurred_at over ``months`` months.

    With size >= 3 * months the batch touches 3 * months partitions (one file each).
    """
    seq = pl.int_range(0, size, dtype=pl.Int64, eager=True).alias("seq")
    month = ((pl.col("seq") // 3) % months) * 31
    return pl.DataFrame(seq).with_columns(
        stream_type=(pl.col("seq") % 3).replace_strict(
            {i: t for i, t in enumerate(STREAM_TYPES)}, return_dtype=pl.String
        ),
        stream_id=format_text("s{}", (pl.col("seq") // 3) % streams),
        event_type=pl.lit("Recorded"),
        occurred_at=pl.lit(T0) + pl.duration(days=month, minutes="seq"),
        event_id=format_text("{}-{}", pl.lit(batch_id), "seq"),
        batch_id=pl.lit(batch_id),
        batch_size=pl.lit(size, pl.Int64),
        amount=pl.col("seq").cast(pl.Float64) * 1.5,
    )


def batch_counts(frame: pl.DataFrame) -> pl.DataFrame:
    """Rows per batch_id next to the size the batch declared (sorted by batch_id)."""
    return (
        frame.group_by("batch_id")
        .agg(pl.len().alias("rows"), pl.col("batch_size").first().alias("size"))
        .sort("batch_id")
    )


def partial_batches(frame: pl.DataFrame) -> pl.DataFrame:
    """Batches whose stored row count differs from their declared size (must be empty)."""
    return batch_counts(frame).filter(pl.col("rows") != pl.col("size"))
