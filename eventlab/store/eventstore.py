"""The append-only event store: create, open, append, scan."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from eventlab.envelope import ENVELOPE, dtype_to_str, merge_schema, normalize_batch
from eventlab.errors import (
    LockTimeoutError,
    StorageError,
    StoreExistsError,
    StoreNotFoundError,
    ValidationError,
    io_errno,
    storage_error,
)
from eventlab.privacy.codec import encrypt_personal
from eventlab.progress import progress_bar
from eventlab.store import batch as B
from eventlab.store.layout import (
    EVENTS_DIR,
    FORMAT_VERSION,
    LOG_DIR,
    META_FILE,
    check_stream_types,
)
from eventlab.store.lock import writer_lock
from eventlab.store.log import Commit, DataFile, LogState, read_commits, write_commit
from eventlab.store.txn import Transaction, fault, recover
from eventlab.store.validation import validate_batch
from eventlab.timeutil import PointInTime, to_utc

if TYPE_CHECKING:
    from eventlab.privacy import ForgetResult
    from eventlab.projections.view import ProjectionView
    from eventlab.store.compact import CompactResult
    from eventlab.store.info import StoreInfo
    from eventlab.store.verify import VerifyReport

Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


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
        from eventlab.display import append_result_html

        return append_result_html(self)


class EventStore:
    """A folder of Hive-partitioned Parquet files plus a hash-chained commit log.

    Use :meth:`create` or :meth:`open`; many readers and one writer (across processes) at a time.
    """

    def __init__(self, root: Path, *, lock_timeout: float = 10.0, clock: Clock = _utc_now):
        self.root = root
        self.lock_timeout = lock_timeout
        self.clock = clock
        self._state = LogState()
        self._payload_schemas: dict[tuple[str, str], Any] = {}
        self.recovered: list[str] = []
        self.refresh()

    # ----------------------------------------------------------------- lifecycle
    @classmethod
    def create(cls, path: str | Path, **options: Any) -> EventStore:
        """Create an empty store in ``path`` (a new or empty folder) and open it."""
        root = Path(path)
        if (root / META_FILE).exists() or (root.exists() and any(root.iterdir())):
            raise StoreExistsError(
                f"{root} is not empty; a store needs a new or empty folder. "
                f"Hint: EventStore.open({str(root)!r}) opens an existing store."
            )
        meta = {"format": FORMAT_VERSION, "created_at": _utc_now().isoformat(),
                "layout": "events/stream_type=<type>/occurred_month=<YYYY-MM>/*.parquet"}
        try:
            for sub in (EVENTS_DIR, LOG_DIR):
                (root / sub).mkdir(parents=True, exist_ok=True)
            (root / META_FILE).write_text(json.dumps(meta, indent=1))  # last: then it is a store
        except OSError as exc:
            raise storage_error(exc, f"create store {root}", "No store was created.") from exc
        return cls(root, **options)

    @classmethod
    def open(cls, path: str | Path, **options: Any) -> EventStore:
        """Open an existing store; finish or roll back a commit a killed writer left behind."""
        root = Path(path)
        if not (root / META_FILE).is_file():
            raise StoreNotFoundError(
                f"{root} is not an eventlab store (no {META_FILE}). Hint: create one with "
                f"EventStore.create({str(root)!r}) or `eventlab init {root}`."
            )
        store = cls(root, **options)
        store._try_recover()
        return store

    def refresh(self) -> None:
        """Read commits made since this object last looked (by any process)."""
        for commit in read_commits(self.root, after=self._state.commit):
            self._state.apply(commit)

    def _try_recover(self) -> None:
        try:
            with writer_lock(self.root, timeout=0):
                self._recover()
        except LockTimeoutError:
            pass  # a live writer holds the lock: whatever is staged is its own
        except OSError:
            pass  # a read-only store: nothing can be recovered, and readers ignore _txn/

    def _recover(self) -> None:
        self.refresh()
        self.recovered += recover(self.root, self._state.txns, set(self._state.files))

    # ----------------------------------------------------------------- reading
    @property
    def head(self) -> int:
        """Position of the last committed event (0 for an empty store)."""
        return self._state.position

    @property
    def files(self) -> list[DataFile]:
        return sorted(self._state.files.values(), key=lambda f: f.path)

    @property
    def schema(self) -> dict[str, pl.DataType]:
        """Envelope plus every payload column ever stored, with their dtypes."""
        return {**ENVELOPE, **self._state.schema}

    def scan(
        self,
        *,
        stream_types: Sequence[str] | str | None = None,
        stream_ids: Sequence[str] | str | None = None,
        event_types: Sequence[str] | str | None = None,
        occurred_from: PointInTime | None = None,
        occurred_to: PointInTime | None = None,
        position_from: int | None = None,
        position_to: int | None = None,
        at: PointInTime | None = None,
        known_at: PointInTime | None = None,
        at_position: int | None = None,
        include: Sequence[str] = (),
    ) -> pl.LazyFrame:
        """Committed events as a LazyFrame; filters prune partitions and files before reading.

        Windows are inclusive. ``at`` (valid time), ``known_at`` (transaction time) and
        ``at_position`` keep events up to that point. Row order is not guaranteed: sort by
        ``position`` when order matters. ``include`` names payload columns to add (as typed
        nulls) even if the selected stream types never stored them.
        """
        from eventlab.store.scan import ScanFilter, build_scan

        self.refresh()  # see commits (appends, compactions) made since the last look
        wanted = ScanFilter.build(
            stream_types=stream_types, stream_ids=stream_ids, event_types=event_types,
            occurred_from=occurred_from, occurred_to=occurred_to, position_from=position_from,
            position_to=position_to, at=at, known_at=known_at, at_position=at_position,
        )
        return build_scan(self.root, self._state, wanted, include)

    def scan_partitions(
        self, *, covered: tuple[datetime | None, int] | None = None,
        include: Sequence[str] = (), **filters: Any,
    ) -> tuple[list[pl.LazyFrame], int]:
        """Like :meth:`scan`, as several LazyFrames (runs of files whose position ranges follow
        each other), plus the number of rows in the files read. Inside each frame a stream's rows
        are in position order, which lets folds skip per-group sorting. ``covered=(T, P)``
        leaves out events a snapshot at valid time T and position P already holds."""
        from eventlab.store.scan import ScanFilter, build_partition_scans

        self.refresh()
        wanted = ScanFilter.build(covered=covered, **filters)
        return build_partition_scans(self.root, self._state, wanted, include)

    def position_at(self, known_at: PointInTime) -> int:
        """The last position committed at or before ``known_at`` (transaction time)."""
        from eventlab.store.scan import known_position

        return known_position(self._state, to_utc(known_at, name="known_at"))

    def project(self, projection: Any, name: str | None = None) -> ProjectionView:
        """Bind a projection (a Projection, a PythonFold, or a TOML spec path plus ``name``) to
        this store: ``store.project(spec).state(at=...)``."""
        from eventlab.projections.view import ProjectionView

        return ProjectionView.bind(self, projection, name)

    def info(self) -> StoreInfo:
        from eventlab.store.info import compute_info

        return compute_info(self)

    def _repr_html_(self) -> str:
        from eventlab.display import store_html

        return store_html(self)

    def __repr__(self) -> str:
        return f"EventStore({str(self.root)!r}, events={self.head}, commits={self._state.commit})"

    # ----------------------------------------------------------------- writing
    def register_schema(self, stream_type: str, event_type: str, schema: Any) -> None:
        """Validate the payload of (stream_type, event_type) events with a pandera schema."""
        self._payload_schemas[(stream_type, event_type)] = schema

    def append(
        self,
        events: pl.DataFrame,
        *,
        expected_version: B.ExpectedVersion = B.ANY,
        stream_type: str | None = None,
        progress: bool | None = None,
    ) -> AppendResult:
        """Append a batch (any number of streams) atomically: all of it is committed, or none.

        Rows are committed in batch order. Events whose ``event_id`` is already stored are
        skipped and counted in ``AppendResult.skipped``. See :mod:`eventlab.store.batch` for
        ``expected_version``.
        """
        if not isinstance(events, pl.DataFrame):
            raise ValidationError(
                f"append takes a Polars DataFrame, got {type(events).__name__}. "
                "Hint: pl.DataFrame(rows) or lazyframe.collect()."
            )
        rows = normalize_batch(events, stream_type)
        check_stream_types(rows["stream_type"].unique().to_list())
        validate_batch(rows, self._payload_schemas)
        with self._locked_write("append to"):
            return self._commit(rows, expected_version, progress)

    @contextmanager
    def _locked_write(self, action: str) -> Iterator[None]:
        """Hold the writer lock (after recovery); an I/O failure (disk full, read-only folder)
        becomes a StorageError once the partial commit is rolled back."""
        try:
            with writer_lock(self.root, timeout=self.lock_timeout):
                self._recover()
                before = self._state.commit
                try:
                    yield
                except Exception as exc:
                    if io_errno(exc) is None:
                        raise
                    outcome = self._roll_back_failed_write(before)
                    raise storage_error(exc, f"{action} store {self.root}", outcome) from exc
        except Exception as exc:
            if isinstance(exc, StorageError) or io_errno(exc) is None:
                raise
            raise storage_error(exc, f"{action} store {self.root}", "Nothing was changed.") from exc

    def _roll_back_failed_write(self, before: int) -> str:
        try:
            self._recover()  # rolls back whatever the failed commit staged or published
        except Exception:
            return ("Nothing of it is visible: the log lists none of its files; the next writer "
                    "removes its leftovers in _txn/.")
        if self._state.commit > before:
            return "The commit itself was written (the log lists it); only its clean-up failed."
        return "Nothing of it was committed, and the files it had written were removed."

    def _commit(
        self, rows: pl.DataFrame, expected: B.ExpectedVersion, progress: bool | None
    ) -> AppendResult:
        rows, skipped_ids = self._drop_stored_ids(rows)
        if rows.height == 0:
            return AppendResult(None, 0, len(skipped_ids), None, None, None, 0, 0, skipped_ids)
        rows = encrypt_personal(self.root, rows)  # personal columns (eventlab.privacy)
        streams = rows.select(B.KEYS).unique()
        actual = self._current_versions(streams)
        B.check_expected(B.expected_frame(expected, streams), actual)
        rows = B.assign_versions(rows, actual)
        new_columns = merge_schema(self._state.schema, rows.schema)
        rows = self._cast_payload(rows)
        txn = uuid.uuid4().hex
        recorded_at = self._next_recorded_at()
        rows = B.assign_positions(
            rows, start=self.head, recorded_at=recorded_at, id_prefix=txn[:16]
        )
        commit = self._state.commit + 1
        added = self._stage(rows, commit, txn, progress)
        entry = Commit(
            number=commit, kind="append", txn=txn, recorded_at=recorded_at.isoformat(),
            first_position=self.head + 1, last_position=self.head + rows.height,
            events=rows.height, added=tuple(added),
            columns={k: dtype_to_str(v) for k, v in new_columns.items()},
            prev_hash=self._state.head_hash,
        ).sealed()
        self._publish(entry, Transaction(self.root, txn))
        return AppendResult(
            commit, rows.height, len(skipped_ids), entry.first_position, entry.last_position,
            recorded_at, streams.height, len(added), skipped_ids,
        )

    def _stage(self, rows: pl.DataFrame, commit: int, txn: str, progress: bool | None) -> list[
        DataFile
    ]:
        from eventlab.store.writer import write_partitions

        transaction = Transaction(self.root, txn)
        fault("before_stage")
        with progress_bar(rows.height, "writing events", progress) as bar:
            added = write_partitions(
                rows, commit=commit, txn=txn, staged=transaction.staged, progress=bar
            )
        fault("after_stage")
        return added

    def _publish(self, entry: Commit, transaction: Transaction) -> None:
        """Move staged files into place and write the log entry (the commit point)."""
        paths = [f.path for f in entry.added]
        transaction.write_intent(paths, list(entry.removed))
        fault("after_intent")
        transaction.publish(paths)
        fault("after_publish")
        write_commit(self.root, entry)
        fault("after_commit")
        self._state.apply(entry)
        transaction.finish(list(entry.removed))

    def _drop_stored_ids(self, rows: pl.DataFrame) -> tuple[pl.DataFrame, tuple[str, ...]]:
        if "event_id" not in rows.columns or rows["event_id"].null_count() == rows.height:
            return rows, ()
        ids = rows["event_id"].drop_nulls()
        dupes = B.repeated_ids(ids)
        if dupes.len():
            raise ValidationError(
                f"event_id must be unique within a batch; {dupes.len()} id(s) repeat, e.g. "
                f"{dupes.head(3).to_list()}. Hint: df.unique('event_id', keep='first')."
            )
        if self.head == 0:
            return rows, ()
        stored = (
            self.scan().select("event_id").filter(pl.col("event_id").is_in(ids.implode()))
            .collect()["event_id"]
        )
        if stored.len() == 0:
            return rows, ()
        return rows.filter(~pl.col("event_id").is_in(stored.implode())), tuple(stored.sort())

    def _current_versions(self, streams: pl.DataFrame) -> pl.DataFrame:
        empty = streams.with_columns(actual=pl.lit(0, pl.Int64)).clear()
        if self.head == 0:
            return empty
        types = streams["stream_type"].unique().to_list()
        ids = streams["stream_id"].unique()
        return (
            self.scan(stream_types=types)
            .filter(pl.col("stream_id").is_in(ids.implode()))
            .group_by(B.KEYS)
            .agg(pl.col("version").max().alias("actual"))
            .collect()
        )

    def _cast_payload(self, rows: pl.DataFrame) -> pl.DataFrame:
        stored = self._state.schema
        casts = [pl.col(c).cast(stored[c]) for c in rows.columns if c in stored]
        return rows.with_columns(casts) if casts else rows

    def _next_recorded_at(self) -> datetime:
        """Transaction time of the next commit: the clock, never earlier than the last commit."""
        now = to_utc(self.clock(), name="clock()")
        last = self._state.recorded_at
        return max(now, datetime.fromisoformat(last)) if last else now

    # ----------------------------------------------------------------- privacy
    def declare_personal(
        self, stream_type: str, columns: Sequence[str], subject: str = "stream_id"
    ) -> None:
        """Encrypt ``columns`` of ``stream_type`` per subject (the ``subject`` column's value)
        from now on; see :mod:`eventlab.privacy`. Needs ``pip install "eventlab[crypto]"``."""
        from eventlab.privacy import declare_personal

        declare_personal(self, stream_type, list(columns), subject)

    def forget(self, subject: str) -> ForgetResult:
        """Destroy ``subject``'s key: its personal values read as "[redacted]" everywhere;
        events and log stay unchanged (verify passes). See :mod:`eventlab.privacy.forget`."""
        from eventlab.privacy import forget

        return forget(self, subject)

    # ----------------------------------------------------------------- maintenance
    def compact(
        self, *, target_rows: int | None = None, progress: bool | None = None
    ) -> CompactResult:
        """Merge the small files of each partition; events are proven unchanged (content hash).

        Atomic and crash-safe like ``append``; holds the writer lock. See
        :mod:`eventlab.store.compact`.
        """
        from eventlab.store.compact import DEFAULT_TARGET_ROWS, compact

        rows = DEFAULT_TARGET_ROWS if target_rows is None else target_rows
        return compact(self, target_rows=rows, progress=progress)

    def verify(self, *, anchor: str | None = None, progress: bool | None = None) -> VerifyReport:
        """Check files, log hash chain and events for tampering; see :mod:`eventlab.store.verify`.

        ``anchor``: a ``head_hash`` recorded earlier that must still be in the chain.
        """
        from eventlab.store.verify import verify_store

        return verify_store(self.root, anchor=anchor, progress=progress)
