"""The vectorized fold: partial states per chunk of events, merged, then finalized.

``partial_state`` folds any LazyFrame of events into one row of state columns per key;
``merge_states`` combines partial states of disjoint chunks; ``finalize`` turns state columns into
field values and adds derived fields. All three are pure functions over LazyFrames.

``fold_store`` runs them over a store: one partial per run of files whose position ranges follow
each other, evaluated together with ``pl.collect_all`` and merged. A time-ordered store is a
single run: no merge at all. Order-sensitive reducers follow valid-time order (see
:mod:`eventlab.window`): inside a run a stream's rows come in position order; when the run is
in valid-time order too (no back-dated event: checked once per immutable file, see
:func:`eventlab.store.scan.in_valid_order`) they take the cheap ``last()``, else one
``max_by`` over the packed ``(occurred_at, position)`` key per group.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import polars as pl

from eventlab.errors import ValidationError
from eventlab.progress import progress_bar
from eventlab.projections.reducers.base import ORDER, POS, order_key
from eventlab.projections.spec import Projection
from eventlab.projections.upcasters import upcast
from eventlab.window import UNBOUNDED, Covered, Window

if TYPE_CHECKING:
    from eventlab.store.core import StoreCore

Engine = Literal["auto", "in-memory", "streaming"]
ENGINES = ("auto", "in-memory", "streaming")
PARTS_PER_COLLECT = 8


def state_columns(projection: Projection) -> list[str]:
    return [c for name, r in projection.fields.items() for c in r.state(name)]


def prepare(
    events: pl.LazyFrame, projection: Projection, extra: Sequence[str] = ()
) -> pl.LazyFrame:
    """Upcast, filter and select the columns the fold needs (and ``extra`` ones); missing
    columns read as null."""
    frame = upcast(events, projection.upcasters)
    present = set(frame.collect_schema().names())
    missing = [c for c in projection.columns() if c not in present]
    if any(k in missing for k in projection.key):
        raise ValidationError(
            f"projection {projection.name!r} is keyed by {list(projection.key)} but the events "
            f"have no column {[k for k in projection.key if k in missing]}; available: "
            f"{sorted(present)}."
        )
    if missing:
        raise ValidationError(
            f"projection {projection.name!r} reads column(s) {missing} that no event of the "
            f"selected stream types has; available: {sorted(present)}. Hint: check the spelling, "
            "or the projection's stream_types."
        )
    if projection.where is not None:
        frame = frame.filter(projection.where.fill_null(False))
    wanted = projection.columns()
    return frame.select(*wanted, *(c for c in extra if c not in wanted))


def partial_state(
    events: pl.LazyFrame,
    projection: Projection,
    *,
    ordered: bool = False,
    final: bool = False,
    valid_order: bool = False,
) -> pl.LazyFrame:
    """One row of state columns per key. ``ordered``: rows of a key come in position order
    (``valid_order``: in valid-time order as well); ``final``: the state goes straight to
    finalize (no merge), so merge-only columns are left out."""
    return (
        with_inputs(prepare(events, projection), projection)
        .group_by(list(projection.key))
        .agg(partial_aggs(projection, ordered, final, valid_order))
    )


def with_inputs(frame: pl.LazyFrame, projection: Projection) -> pl.LazyFrame:
    """Add every reducer's row-wise input columns (``<field>__in...``), after the packed
    (occurred_at, position) key when an order-sensitive reducer reads it (computed once)."""
    if any(r.needs_order for r in projection.fields.values()):
        frame = frame.with_columns(order_key(pl.col("occurred_at"), pl.col(POS)).alias(ORDER))
    inputs = {k: v for name, r in projection.fields.items() for k, v in r.inputs(name).items()}
    return frame.with_columns(**inputs) if inputs else frame


def partial_aggs(
    projection: Projection, ordered: bool, final: bool = False, valid_order: bool = False
) -> list[pl.Expr]:
    """The partial aggregations; ``final``: only what finalize reads (the result is not merged).
    An order-sensitive reducer takes its ordered path only when rows come in its own order:
    position order for ``order="recorded"``, also valid-time order (``valid_order``) else."""
    aggs = [
        e
        for name, r in projection.fields.items()
        for e in r.partial(name, ordered and (valid_order or not r.needs_order))
    ]
    if not final:
        return aggs
    kept = {c for name, r in projection.fields.items() for c in r.final_state(name)}
    return [e for e in aggs if e.meta.output_name() in kept]


def merge_states(
    states: Sequence[pl.LazyFrame | pl.DataFrame], projection: Projection
) -> pl.LazyFrame:
    """Merge partial states of disjoint chunks (any order) into one partial state."""
    frames = [s.lazy() for s in states]
    if len(frames) == 1:
        return frames[0]
    aggs = [e for name, r in projection.fields.items() for e in r.merge(name)]
    return pl.concat(frames, how="vertical_relaxed").group_by(list(projection.key)).agg(aggs)


def finalize(state: pl.LazyFrame | pl.DataFrame, projection: Projection) -> pl.LazyFrame:
    """Field values (and derived fields) from a partial state, sorted by key."""
    values = [r.finalize(name).alias(name) for name, r in projection.fields.items()]
    out = state.lazy().select(*projection.key, *values)
    if projection.derived:
        out = out.with_columns(**projection.derived)
    return out.sort(list(projection.key))


def fold(events: pl.LazyFrame, projection: Projection, *, engine: Engine = "auto") -> pl.DataFrame:
    """State per key of any event frame (no store needed): the pure, whole-frame fold."""
    return finalize(partial_state(events, projection).collect(engine=engine), projection).collect()


def _collect(frames: list[pl.LazyFrame], engine: Engine, advance: object) -> list[pl.DataFrame]:
    out: list[pl.DataFrame] = []
    for start in range(0, len(frames), PARTS_PER_COLLECT):
        out += pl.collect_all(frames[start : start + PARTS_PER_COLLECT], engine=engine)
        if callable(advance):
            advance(min(PARTS_PER_COLLECT, len(frames) - start))
    return out


def fold_parts(
    parts: Sequence[pl.LazyFrame],
    projection: Projection,
    *,
    engine: Engine = "auto",
    progress: bool | None = None,
    rows: int = 0,
    final: bool = False,
    valid_order: Sequence[bool] = (),
) -> pl.DataFrame:
    """Partial state of the union of ``parts`` (each a chunk whose rows keep stream order;
    ``valid_order[i]``: part i's are in valid-time order too). ``final``: the result is only
    finalized, never merged or stored (cheaper with one part)."""
    if engine not in ENGINES:
        raise ValidationError(f"engine must be one of {ENGINES}, got {engine!r}.")
    if not parts:
        raise ValidationError("fold_parts needs at least one part.")
    ordered = projection.stream_keyed
    alone = final and len(parts) == 1
    timed = list(valid_order) or [False] * len(parts)
    partials = [
        partial_state(p, projection, ordered=ordered, final=alone, valid_order=t)
        for p, t in zip(parts, timed, strict=True)
    ]
    with progress_bar(
        len(partials), f"folding {projection.name}", _big(progress, rows), unit="partitions"
    ) as bar:
        collected = _collect(partials, engine, bar)
    return merge_states(collected, projection).collect(engine=engine)


def _big(progress: bool | None, rows: int) -> bool | None:
    from eventlab.progress import wanted

    return progress if progress is not None else wanted(rows, None)


def fold_store(
    store: StoreCore,
    projection: Projection,
    *,
    window: Window = UNBOUNDED,
    covered: Covered | None = None,
    stream_ids: Sequence[str] | None = None,
    position_from: int | None = None,
    engine: Engine = "auto",
    progress: bool | None = None,
    final: bool = False,
) -> pl.DataFrame:
    """Partial state of ``projection`` over the store's events up to ``window``, leaving out
    what a snapshot ``covered`` holds, limited to ``stream_ids`` and positions from
    ``position_from`` (``final``: it will only be finalized, see :func:`fold_parts`)."""
    include = projection.source_columns()
    found = store.scan_partitions(
        stream_types=projection.stream_types, include=include, window=window, covered=covered,
        stream_ids=stream_ids, position_from=position_from,
    )
    parts, rows = found.frames, found.rows
    if not parts:  # fold an empty frame of the store's schema: zero rows, right dtypes
        empty = pl.LazyFrame(
            schema=store.scan(
                stream_types=projection.stream_types, include=include
            ).collect_schema()
        )
        return partial_state(empty, projection).collect()
    return fold_parts(
        parts, projection, engine=engine, progress=progress, rows=rows, final=final,
        valid_order=found.valid_order,
    )
