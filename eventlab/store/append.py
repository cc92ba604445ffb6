"""Appending a batch: normalise, validate, skip stored ids, check expected versions, assign
versions and positions, write the files to the commit's staging area, commit.

Everything before the writer lock is pure (:mod:`eventlab.store.batch`, validation); inside it
the pipeline reads the store's current versions and ids, then hands the staged files and the log
entry to the store's commit protocol (:mod:`eventlab.storage.protocol`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import polars as pl

from eventlab.envelope import dtype_to_str, merge_schema, normalize_batch
from eventlab.errors import ValidationError
from eventlab.progress import progress_bar
from eventlab.storage.layout import check_stream_types
from eventlab.storage.log import DataFile
from eventlab.storage.privacy.codec import encrypt_personal
from eventlab.storage.protocol import Staging
from eventlab.store import batch as B
from eventlab.store.validation import validate_batch

if TYPE_CHECKING:
    from eventlab.store.core import StoreCore


@dataclass(frozen=True)
class AppendResult:
    """What one ``append`` did. ``skipped`` events were already stored (same event_id)."""

    commit: int | None
    appended: int
    skipped: int
    first_position: int | None
    last_position: int | None
    recorded_at: datetime | None
    streams: int
    files: int
    skipped_ids: tuple[str, ...] = field(default=(), repr=False)

    def _repr_html_(self) -> str:
        from eventlab.store.cards import append_result_html

        return append_result_html(self)


def append_rows(
    store: StoreCore,
    events: pl.DataFrame,
    *,
    expected: B.ExpectedVersion,
    stream_type: str | None,
    schemas: Mapping[tuple[str, str], Any],
    progress: bool | None,
) -> AppendResult:
    """The whole append of ``events`` (see :meth:`StoreCore.append`)."""
    rows = normalize_batch(events, stream_type)
    check_stream_types(rows["stream_type"].unique().to_list())
    validate_batch(rows, schemas)
    with store.protocol.writing("append to"):
        return _commit(store, rows, expected, progress)


def _commit(
    store: StoreCore, rows: pl.DataFrame, expected: B.ExpectedVersion, progress: bool | None
) -> AppendResult:
    rows, skipped_ids = _drop_stored_ids(store, rows)
    if rows.height == 0:
        return AppendResult(None, 0, len(skipped_ids), None, None, None, 0, 0, skipped_ids)
    rows = encrypt_personal(store.root, rows)  # personal columns (eventlab.privacy)
    streams = rows.select(B.KEYS).unique()
    actual = _current_versions(store, streams)
    B.check_expected(B.expected_frame(expected, streams), actual)
    rows = B.assign_versions(rows, actual)
    new_columns = merge_schema(store.log_state.schema, rows.schema)
    rows = _cast_payload(store, rows)
    protocol = store.protocol
    staging = protocol.stage()
    recorded_at = protocol.next_recorded_at()
    rows = B.assign_positions(
        rows, start=store.head, recorded_at=recorded_at, id_prefix=staging.txn[:16]
    )
    added = _stage(rows, protocol.state.commit + 1, staging, progress)
    entry = protocol.entry(
        "append", staging.txn, recorded_at=recorded_at, first_position=store.head + 1,
        last_position=store.head + rows.height, events=rows.height, added=tuple(added),
        columns={k: dtype_to_str(v) for k, v in new_columns.items()},
    )
    protocol.commit(entry, staging)
    return AppendResult(
        entry.number, rows.height, len(skipped_ids), entry.first_position, entry.last_position,
        recorded_at, streams.height, len(added), skipped_ids,
    )


def _stage(
    rows: pl.DataFrame, commit: int, staging: Staging, progress: bool | None
) -> list[DataFile]:
    from eventlab.store.writer import write_partitions

    with progress_bar(rows.height, "writing events", progress) as bar:
        return write_partitions(
            rows, commit=commit, txn=staging.txn, staged=staging.path, progress=bar
        )


def _drop_stored_ids(
    store: StoreCore, rows: pl.DataFrame
) -> tuple[pl.DataFrame, tuple[str, ...]]:
    if "event_id" not in rows.columns or rows["event_id"].null_count() == rows.height:
        return rows, ()
    ids = rows["event_id"].drop_nulls()
    dupes = B.repeated_ids(ids)
    if dupes.len():
        raise ValidationError(
            f"event_id must be unique within a batch; {dupes.len()} id(s) repeat, e.g. "
            f"{dupes.head(3).to_list()}. Hint: df.unique('event_id', keep='first')."
        )
    if store.head == 0:
        return rows, ()
    stored = (
        store.scan().select("event_id").filter(pl.col("event_id").is_in(ids.implode()))
        .collect()["event_id"]
    )
    if stored.len() == 0:
        return rows, ()
    return rows.filter(~pl.col("event_id").is_in(stored.implode())), tuple(stored.sort())


def _current_versions(store: StoreCore, streams: pl.DataFrame) -> pl.DataFrame:
    empty = streams.with_columns(actual=pl.lit(0, pl.Int64)).clear()
    if store.head == 0:
        return empty
    types = streams["stream_type"].unique().to_list()
    ids = streams["stream_id"].unique()
    return (
        store.scan(stream_types=types)
        .filter(pl.col("stream_id").is_in(ids.implode()))
        .group_by(B.KEYS)
        .agg(pl.col("version").max().alias("actual"))
        .collect()
    )


def _cast_payload(store: StoreCore, rows: pl.DataFrame) -> pl.DataFrame:
    stored = store.log_state.schema
    casts = [pl.col(c).cast(stored[c]) for c in rows.columns if c in stored]
    return rows.with_columns(casts) if casts else rows
