"""The state of a projection at many points in time, in one vectorized pass."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import polars as pl

from eventlab.envelope import UTC_DATETIME
from eventlab.errors import ValidationError
from eventlab.projections.fold import partial_aggs, prepare, with_inputs
from eventlab.projections.spec import Projection


def _cumulative(events: pl.LazyFrame, projection: Projection, points: pl.Series) -> pl.LazyFrame:
    """Per (key, bucket): the merged partial state of every event up to that bucket's point."""
    key = list(projection.key)
    bucketed = (
        prepare(events, projection, extra=("occurred_at",))
        .filter(pl.col("occurred_at") <= points[-1])
        .with_columns(pl.lit(points).search_sorted(pl.col("occurred_at")).alias("bucket"))
    )
    aggs = partial_aggs(projection, ordered=False)
    running = [e.over(key) for n, r in projection.fields.items() for e in r.cumulative_merge(n)]
    per_bucket = (
        with_inputs(bucketed, projection)
        .group_by([*key, "bucket"])
        .agg(aggs)
        .sort("bucket")  # over(key) keeps this order inside each key: no string sort
    )
    names = [c for n, r in projection.fields.items() for c in r.state(n)]
    return per_bucket.with_columns(e.alias(n) for n, e in zip(names, running, strict=True))


def timeline_frame(
    events: pl.LazyFrame,
    projection: Projection,
    points: list[datetime],
    *,
    metrics: Mapping[str, pl.Expr] | None = None,
    limit: int = 5_000_000,
) -> pl.DataFrame:
    """Tidy states (``at``, key, fields) at ``points``, or ``metrics`` aggregated per point."""
    key = list(projection.key)
    if not points:
        return pl.DataFrame(schema={"at": UTC_DATETIME})
    series = pl.Series("at", points, dtype=UTC_DATETIME)
    cumulative = _cumulative(events, projection, series).collect(engine="in-memory")
    firsts = cumulative.group_by(key).agg(pl.col("bucket").min().alias("first"))
    size = int((len(points) - firsts["first"].cast(pl.Int64)).sum() or 0)
    if metrics is None and size > limit:
        raise ValidationError(
            f"this timeline has {size:,} (key, point) rows, over the limit of {limit:,}. Hint: "
            "ask for fewer keys, fewer points (a longer interval), or aggregate with metrics."
        )
    # join_asof matches no null key: join by a dense id per key instead (null keys included)
    firsts = firsts.with_row_index("__id")
    values = (
        _finalized(cumulative, projection)
        .join(firsts.select(*key, "__id"), on=key, nulls_equal=True)
        .drop(key)
        .sort("bucket")
    )
    grid = firsts.join(
        pl.DataFrame({"bucket": pl.arange(0, len(points), dtype=pl.UInt32, eager=True)}),
        how="cross",
    )
    filled = (
        grid.lazy()
        .filter(pl.col("bucket") >= pl.col("first"))
        .drop("first")
        .sort("bucket")
        .join_asof(
            values.lazy(), on="bucket", by="__id", strategy="backward", check_sortedness=False
        )  # sorted by bucket above; per key as well
        .with_columns(pl.lit(series).gather(pl.col("bucket")).alias("at"))
        .drop("bucket", "__id")
    )
    if metrics:
        return filled.group_by("at").agg(**metrics).sort("at").collect()
    fields = [c for c in values.columns if c not in ("bucket", "__id")]
    return filled.select("at", *key, *fields).sort(["at", *key]).collect()


def _finalized(cumulative: pl.DataFrame, projection: Projection) -> pl.DataFrame:
    """Key, bucket and field values (and derived fields) of each running state row."""
    values = [r.finalize(n).alias(n) for n, r in projection.fields.items()]
    out = cumulative.lazy().select(*projection.key, "bucket", *values)
    if projection.derived:
        out = out.with_columns(**projection.derived)
    return out.collect()
