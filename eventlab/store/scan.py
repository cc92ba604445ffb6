"""Turning scan filters into a pruned Polars LazyFrame over the committed files.

Pruning happens twice: the commit log's per-file statistics (stream type, month, position and
occurred_at ranges) choose which files are read at all; the remaining row filter is pushed into
the Parquet reader, where row-group statistics skip more (files are sorted by stream_id).
"""

from __future__ import annotations

import bisect
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import lru_cache
from itertools import pairwise
from pathlib import Path
from typing import Any

import polars as pl

from eventlab.envelope import ENVELOPE, ENVELOPE_COLUMNS
from eventlab.errors import ValidationError
from eventlab.storage.layout import HIVE_SCHEMA
from eventlab.storage.log import DataFile, LogState
from eventlab.storage.privacy.codec import decode_personal
from eventlab.timeutil import PointInTime, to_utc
from eventlab.window import UNBOUNDED, Covered, Window


def _names(value: Sequence[str] | str | None, what: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return (value,)
    try:
        return tuple(str(v) for v in value)
    except TypeError:
        raise ValidationError(f"{what} must be a string or a list of strings.") from None


def _earliest(*values: datetime | None) -> datetime | None:
    given = [v for v in values if v is not None]
    return min(given) if given else None


def _lowest(*values: int | None) -> int | None:
    given = [v for v in values if v is not None]
    return min(given) if given else None


def _deprecated(old: str, new: str) -> None:
    warnings.warn(
        f"scan({old}=...) is deprecated; use {new}=..., the point-in-time keyword used "
        "everywhere (at= valid time, known_at= transaction time, at_position= position).",
        DeprecationWarning,
        stacklevel=4,  # the caller of EventStore.scan
    )


def window_of(
    window: Window | None,
    *,
    at: PointInTime | None = None,
    known_at: PointInTime | None = None,
    at_position: int | None = None,
    occurred_to: PointInTime | None = None,
    position_to: int | None = None,
) -> Window:
    """The scan's point in time: ``window`` (typed, from inside eventlab) or the public keywords;
    ``occurred_to`` / ``position_to`` are deprecated aliases of ``at`` / ``at_position``."""
    given = Window.build(at=at, known_at=known_at, at_position=at_position)
    if window is not None:
        if given != Window():
            raise ValidationError("pass either window= or at= / known_at= / at_position=.")
        given = window
    if occurred_to is not None:
        _deprecated("occurred_to", "at")
        given = replace(given, at=_earliest(given.at, to_utc(occurred_to, name="occurred_to")))
    if position_to is not None:
        _deprecated("position_to", "at_position")
        bound = Window.build(at_position=position_to).at_position
        given = replace(given, at_position=_lowest(given.at_position, bound))
    return given


@dataclass(frozen=True)
class ScanFilter:
    """Normalised scan filters; all bounds inclusive, datetimes aware UTC. The upper bounds are
    the query's :class:`~eventlab.window.Window`; ``occurred_from`` / ``position_from`` are lower
    bounds (a range of events, not a point in time)."""

    stream_types: tuple[str, ...] | None = None
    stream_ids: tuple[str, ...] | None = None
    event_types: tuple[str, ...] | None = None
    occurred_from: datetime | None = None
    position_from: int | None = None
    window: Window = UNBOUNDED
    #: leave out what a snapshot at (T, P) already holds: occurred_at <= T (any time when T is
    #: None) and position <= P
    covered: Covered | None = None

    @classmethod
    def build(
        cls,
        *,
        stream_types: Sequence[str] | str | None = None,
        stream_ids: Sequence[str] | str | None = None,
        event_types: Sequence[str] | str | None = None,
        occurred_from: PointInTime | None = None,
        position_from: int | None = None,
        window: Window = UNBOUNDED,
        covered: Covered | tuple[datetime | None, int] | None = None,
    ) -> ScanFilter:
        return cls(
            stream_types=_names(stream_types, "stream_types"),
            stream_ids=_names(stream_ids, "stream_ids"),
            event_types=_names(event_types, "event_types"),
            occurred_from=None if occurred_from is None else to_utc(
                occurred_from, name="occurred_from"
            ),
            position_from=position_from,
            window=window,
            covered=None if covered is None else Covered(*covered),
        )

    def keeps(self, data_file: DataFile) -> bool:
        """False when the log's statistics prove the file holds no matching event."""
        at, at_position = self.window.at, self.window.at_position
        if self.stream_types is not None and data_file.stream_type not in self.stream_types:
            return False
        if self.position_from is not None and data_file.max_position < self.position_from:
            return False
        if at_position is not None and data_file.min_position > at_position:
            return False
        if self.occurred_from is not None and (
            datetime.fromisoformat(data_file.max_occurred_at) < self.occurred_from
        ):
            return False
        if self.covered is not None and self._covers(data_file):
            return False
        return at is None or datetime.fromisoformat(data_file.min_occurred_at) <= at

    def _covers(self, data_file: DataFile) -> bool:
        assert self.covered is not None
        until, position = self.covered
        if data_file.max_position > position:
            return False
        return until is None or datetime.fromisoformat(data_file.max_occurred_at) <= until

    def predicate(self) -> pl.Expr | None:
        at, at_position = self.window.at, self.window.at_position
        conditions: list[pl.Expr] = []
        if self.stream_ids is not None:
            conditions.append(pl.col("stream_id").is_in(list(self.stream_ids)))
        if self.event_types is not None:
            conditions.append(pl.col("event_type").is_in(list(self.event_types)))
        if self.occurred_from is not None:
            conditions.append(pl.col("occurred_at") >= self.occurred_from)
        if at is not None:
            conditions.append(pl.col("occurred_at") <= at)
        if self.position_from is not None:
            conditions.append(pl.col("position") >= self.position_from)
        if at_position is not None:
            conditions.append(pl.col("position") <= at_position)
        if self.covered is not None:
            until, position = self.covered
            inside = pl.col("position") <= position
            if until is not None:
                inside = inside & (pl.col("occurred_at") <= until)
            conditions.append(~inside)
        return pl.all_horizontal(conditions) if conditions else None


def known_position(state: LogState, known_at: datetime) -> int:
    """The last position committed at or before ``known_at`` (recorded_at is monotonic)."""
    times = [t for t, _ in state.marks]
    index = bisect.bisect_right(times, known_at)
    return state.marks[index - 1][1] if index else 0


def _resolve(state: LogState, wanted: ScanFilter) -> ScanFilter:
    """Turn known_at into a position bound (exact: recorded_at grows with position). Queries
    of eventlab's read side arrive resolved already (see :meth:`Window.resolve`); only a direct
    ``scan(known_at=...)`` is resolved here."""
    if wanted.window.known_at is None:
        return wanted
    window = wanted.window.resolve(state.position, lambda k: known_position(state, k))
    return replace(wanted, window=window)


def _schema(
    state: LogState, wanted: ScanFilter, include: Sequence[str] = ()
) -> dict[str, pl.DataType]:
    """Envelope + payload columns of the selected stream types + ``include`` columns the store
    knows (they read as typed nulls where a file lacks them)."""
    payload = state.columns_of(wanted.stream_types)
    payload += [c for c in include if c in state.schema and c not in payload]
    return {c: ENVELOPE[c] for c in ENVELOPE_COLUMNS} | {c: state.schema[c] for c in payload}


def _scan_files(
    files: list[Path], schema: dict[str, pl.DataType], wanted: ScanFilter
) -> pl.LazyFrame:
    in_files = {k: v for k, v in schema.items() if k != "stream_type"}
    frame = pl.scan_parquet(
        files,
        schema=in_files,
        hive_partitioning=True,
        hive_schema=HIVE_SCHEMA,
        missing_columns="insert",
        extra_columns="ignore",
    ).select(list(schema))
    condition = wanted.predicate()
    return frame if condition is None else frame.filter(condition)


def kept_files(state: LogState, wanted: ScanFilter) -> list[DataFile]:
    """Files that may hold matching events, in commit order."""
    return sorted(
        (f for f in state.files.values() if wanted.keeps(f)), key=lambda f: (f.min_position, f.path)
    )


def build_scan(
    root: Path, state: LogState, wanted: ScanFilter, include: Sequence[str] = ()
) -> pl.LazyFrame:
    wanted = _resolve(state, wanted)
    schema = _schema(state, wanted, include)
    files = [root / f.path for f in kept_files(state, wanted)]
    if not files:
        return pl.LazyFrame(schema=schema)
    return decode_personal(root, _scan_files(files, schema, wanted), schema)


def ordered_runs(files: Sequence[DataFile]) -> list[list[DataFile]]:
    """Chain files into runs where each file starts after the previous one ends (positions).

    Each file is sorted by (stream_id, version), so concatenating a run keeps every stream's
    rows in position order. A time-ordered batch spread over many month partitions is one run;
    files whose position ranges overlap (one unsorted batch) start further runs.
    """
    runs: list[list[DataFile]] = []
    for data_file in sorted(files, key=lambda f: (f.min_position, f.path)):
        run = next((r for r in runs if r[-1].max_position < data_file.min_position), None)
        if run is None:
            runs.append([data_file])
        else:
            run.append(data_file)
    return runs


@lru_cache(maxsize=65536)
def _streams_in_valid_order(path: str) -> bool:
    """True when each stream's rows in this file (sorted by stream_id, version) also come in
    occurred_at order, i.e. no back-dated event inside it. Files never change: cached."""
    time, stream = pl.col("occurred_at"), pl.col("stream_id")
    back = (time < time.shift(1)) & (stream == stream.shift(1))
    found = pl.scan_parquet(path).select(back.any()).collect(engine="in-memory").item()
    return not found


def in_valid_order(root: Path, run: Sequence[DataFile]) -> bool:
    """True when every stream's rows of the run (position order) are in valid-time order too:
    each file's, and no file's events occurred before the previous file's last one."""
    for before, after in pairwise(run):
        start = datetime.fromisoformat(after.min_occurred_at)
        if start < datetime.fromisoformat(before.max_occurred_at):
            return False
    return all(_streams_in_valid_order(str(root / f.path)) for f in run)


@dataclass(frozen=True)
class Partitions:
    """What :func:`build_partition_scans` returns: one frame per ordered run, the rows of the
    files read, and per run whether its streams' rows are in valid-time order as well (then
    order-sensitive folds take ``last()``). Unpacks as ``frames, rows``."""

    frames: list[pl.LazyFrame]
    rows: int
    valid_order: list[bool]

    def __iter__(self) -> Iterator[Any]:
        return iter((self.frames, self.rows))


def build_partition_scans(
    root: Path, state: LogState, wanted: ScanFilter, include: Sequence[str] = ()
) -> Partitions:
    """One LazyFrame per ordered run of files (see :func:`ordered_runs`), the rows of the
    files read, and which runs are in valid-time order. Inside each frame every stream's rows
    come in position order."""
    wanted = _resolve(state, wanted)
    schema = _schema(state, wanted, include)
    files = kept_files(state, wanted)
    runs = ordered_runs(files)
    frames = [
        decode_personal(root, _scan_files([root / f.path for f in run], schema, wanted), schema)
        for run in runs
    ]
    return Partitions(frames, sum(f.rows for f in files), [in_valid_order(root, r) for r in runs])
