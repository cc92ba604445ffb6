"""Process drift: how variant shares and edge durations moved between two moments."""

from __future__ import annotations

from typing import Any

import polars as pl

from eventlab.errors import InvalidArgumentError
from eventlab.process.flow import END, START, directly_follows, variants
from eventlab.process.log import Source, Types
from eventlab.timeutil import PointInTime

ARROW = " → "
AXES = ("at", "known_at")


def process_drift(
    source: Source, t1: PointInTime, t2: PointInTime, *, axis: str = "at",
    stream_types: Types = None, at: PointInTime | None = None,
    known_at: PointInTime | None = None, where: pl.Expr | None = None,
) -> pl.DataFrame:
    """Variants and directly-follows edges at ``t1`` ("before") and ``t2`` ("after") on one
    time axis (``axis="at"``: valid time; ``"known_at"``: transaction time, the other axis held
    by ``at=``/``known_at=``), ranked by how much they moved.

    Columns: ``kind`` ("variant" or "edge"), ``stream_type``, ``item`` (event types joined by
    " → "), ``before``/``after`` (streams following the variant, or transitions on the edge),
    ``share_before``/``share_after``/``share_change`` (of the stream type's streams, or of its
    transitions), ``median_before``/``median_after``/``median_change`` (edges), ``rank`` within
    the kind: variants by the size of ``share_change``, edges by that of ``median_change``
    (then ``share_change``). Sorted by kind, then rank.
    """
    if axis not in AXES:
        raise InvalidArgumentError("axis", axis, "axis is 'at' (valid time) or 'known_at'")
    fixed: dict[str, Any] = {"stream_types": stream_types, "where": where,
             "known_at" if axis == "at" else "at": known_at if axis == "at" else at}
    points = [{**fixed, axis: t} for t in (t1, t2)]
    variant_rows = _variant_drift(*(variants(source, **p) for p in points))
    edge_rows = _edge_drift(*(directly_follows(source, **p) for p in points))
    return pl.concat([variant_rows, edge_rows], how="diagonal_relaxed").select(
        "kind", "stream_type", "item", "before", "after", "share_before", "share_after",
        "share_change", "median_before", "median_after", "median_change", "rank",
    )


def _joined(before: pl.DataFrame, after: pl.DataFrame, on: list[str]) -> pl.DataFrame:
    return before.join(after, on=on, how="full", coalesce=True, suffix="_after")


def _variant_drift(before: pl.DataFrame, after: pl.DataFrame) -> pl.DataFrame:
    def prepared(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.select("stream_type", pl.col("variant").list.join(ARROW).alias("item"),
                            pl.col("streams").alias("before"), pl.col("share"))

    both = _joined(prepared(before), prepared(after), ["stream_type", "item"])
    return _ranked(
        both.select(
            pl.lit("variant").alias("kind"), "stream_type", "item",
            pl.col("before").fill_null(0), pl.col("before_after").fill_null(0).alias("after"),
            pl.col("share").fill_null(0.0).alias("share_before"),
            pl.col("share_after").fill_null(0.0),
        ).with_columns((pl.col("share_after") - pl.col("share_before")).alias("share_change")),
        [pl.col("share_change").abs()],
    )


def _edge_drift(before: pl.DataFrame, after: pl.DataFrame) -> pl.DataFrame:
    def prepared(frame: pl.DataFrame) -> pl.DataFrame:
        inner = frame.filter((pl.col("source") != START) & (pl.col("target") != END))
        total = pl.col("count").sum().over("stream_type")
        return inner.select(
            "stream_type", pl.concat_str("source", pl.lit(ARROW), "target").alias("item"),
            pl.col("count").alias("before"), (pl.col("count") / total).alias("share"),
            pl.col("median_duration").alias("median"),
        )

    both = _joined(prepared(before), prepared(after), ["stream_type", "item"])
    out = both.select(
        pl.lit("edge").alias("kind"), "stream_type", "item",
        pl.col("before").fill_null(0), pl.col("before_after").fill_null(0).alias("after"),
        pl.col("share").fill_null(0.0).alias("share_before"),
        pl.col("share_after").fill_null(0.0),
        pl.col("median").alias("median_before"), pl.col("median_after"),
    ).with_columns(
        (pl.col("share_after") - pl.col("share_before")).alias("share_change"),
        (pl.col("median_after") - pl.col("median_before")).alias("median_change"),
    )
    return _ranked(out, [pl.col("median_change").abs(), pl.col("share_change").abs()])


def _ranked(frame: pl.DataFrame, keys: list[pl.Expr]) -> pl.DataFrame:
    ordered = frame.sort([*keys, pl.col("stream_type"), pl.col("item")],
                         descending=[True] * len(keys) + [False, False], nulls_last=True)
    return ordered.with_columns(pl.int_range(1, pl.len() + 1).cast(pl.Int64).alias("rank"))
