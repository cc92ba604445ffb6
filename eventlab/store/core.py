"""The storage core: create, open, append, scan, compact, verify a store.

:class:`StoreCore` knows nothing above floor 3 (no projections, privacy operations, widgets or
rendering): the public :class:`eventlab.EventStore` (eventlab/api.py) adds those on top. It
commits through a :class:`~eventlab.storage.protocol.CommitProtocol` (the local one:
:mod:`eventlab.storage.local`) and never touches the backend's files itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import polars as pl

from eventlab.envelope import ENVELOPE
from eventlab.errors import StoreExistsError, StoreNotFoundError, ValidationError, storage_error
from eventlab.storage import trees
from eventlab.storage.durable import make_dirs, write_json
from eventlab.storage.layout import FORMAT_VERSION, LOG_DIR, META_FILE
from eventlab.storage.local import LocalCommitProtocol, try_recover
from eventlab.storage.log import DataFile, LogState
from eventlab.storage.protocol import Clock, CommitProtocol, utc_now
from eventlab.store import batch as B
from eventlab.store.append import AppendResult, append_rows
from eventlab.store.identity import new_store_id
from eventlab.timeutil import PointInTime, to_utc
from eventlab.window import UNBOUNDED, Covered, Window

if TYPE_CHECKING:
    from eventlab.store.compact import CompactResult
    from eventlab.store.info import StoreInfo
    from eventlab.store.scan import Partitions
    from eventlab.store.verify import VerifyReport

S = TypeVar("S", bound="StoreCore")


class StoreCore:
    """A folder of Hive-partitioned Parquet files plus a hash-chained commit log.

    Use :meth:`create` or :meth:`open`; many readers and one writer (across processes) at a time.
    """

    def __init__(
        self, root: Path, *, lock_timeout: float = 10.0, clock: Clock = utc_now
    ) -> None:
        self.root = root
        self.protocol: CommitProtocol = LocalCommitProtocol(
            root, lock_timeout=lock_timeout, clock=clock
        )
        self._payload_schemas: dict[tuple[str, str], Any] = {}
        self.refresh()

    # ----------------------------------------------------------------- lifecycle
    @classmethod
    def create(cls: type[S], path: str | Path, *, exist_ok: bool = False, **options: Any) -> S:
        """Create an empty store in ``path`` (a new or empty folder) and open it. With
        ``exist_ok=True`` a store already there is opened instead (a notebook cell or a script
        can then run twice); a folder holding anything else is still refused."""
        root = Path(path)
        if exist_ok and (root / META_FILE).is_file():
            return cls.open(root, **options)
        if (root / META_FILE).exists() or (root.exists() and any(root.iterdir())):
            raise StoreExistsError(
                f"{root} is not empty; a store needs a new or empty folder. "
                f"Hint: EventStore.open({str(root)!r}) opens an existing store."
            )
        meta = {"format": FORMAT_VERSION, "created_at": utc_now().isoformat(),
                "layout": "events/stream_type=<type>/occurred_month=<YYYY-MM>/*.parquet",
                "store_id": new_store_id()}
        try:
            make_dirs(root / LOG_DIR)
            trees.create(root)
            write_json(root / META_FILE, meta)  # last: then it is a store
        except OSError as exc:
            raise storage_error(exc, f"create store {root}", "No store was created.") from exc
        return cls(root, **options)

    @classmethod
    def open(cls: type[S], path: str | Path, **options: Any) -> S:
        """Open an existing store; finish or roll back a commit a killed writer left behind."""
        root = Path(path)
        if not (root / META_FILE).is_file():
            raise StoreNotFoundError(
                f"{root} is not an eventlab store (no {META_FILE}). Hint: create one with "
                f"EventStore.create({str(root)!r}) or `eventlab init {root}`."
            )
        store = cls(root, **options)
        if isinstance(store.protocol, LocalCommitProtocol):
            try_recover(store.protocol)
        return store

    def refresh(self) -> None:
        """Read commits made since this object last looked (by any process)."""
        self.protocol.refresh()

    @property
    def lock_timeout(self) -> float:
        return float(getattr(self.protocol, "lock_timeout", 0.0))

    @property
    def clock(self) -> Clock:
        return self.protocol.clock

    @property
    def recovered(self) -> list[str]:
        """What recovery did when this store was opened or written (one line per action)."""
        return self.protocol.recovered

    # ----------------------------------------------------------------- reading
    @property
    def log_state(self) -> LogState:
        """What the commit log implies now (live files, schema, head); read-only for callers."""
        return self.protocol.state

    @property
    def head(self) -> int:
        """Position of the last committed event (0 for an empty store)."""
        return self.log_state.position

    @property
    def files(self) -> list[DataFile]:
        return sorted(self.log_state.files.values(), key=lambda f: f.path)

    @property
    def schema(self) -> dict[str, pl.DataType]:
        """Envelope plus every payload column ever stored, with their dtypes."""
        return {**ENVELOPE, **self.log_state.schema}

    def scan(
        self,
        *,
        stream_types: Sequence[str] | str | None = None,
        stream_ids: Sequence[str] | str | None = None,
        event_types: Sequence[str] | str | None = None,
        at: PointInTime | None = None,
        known_at: PointInTime | None = None,
        at_position: int | None = None,
        occurred_from: PointInTime | None = None,
        position_from: int | None = None,
        include: Sequence[str] = (),
        window: Window | None = None,
        occurred_to: PointInTime | None = None,
        position_to: int | None = None,
    ) -> pl.LazyFrame:
        """Committed events as a LazyFrame; filters prune partitions and files before reading.

        Bounds are inclusive. ``at`` (valid time), ``known_at`` (transaction time) and
        ``at_position`` keep events up to that point (or pass one typed ``window``);
        ``occurred_from`` / ``position_from`` keep events from there on. Row order is not
        guaranteed: sort by ``occurred_at``, ``position`` (valid-time order) or ``position``
        (commit order) when order matters. ``include`` names payload columns to add (as typed
        nulls) even if the selected stream types never stored them. ``occurred_to`` and
        ``position_to`` are deprecated aliases of ``at`` and ``at_position``.
        """
        from eventlab.store.scan import ScanFilter, build_scan, window_of

        self.refresh()  # see commits (appends, compactions) made since the last look
        point = window_of(
            window, at=at, known_at=known_at, at_position=at_position,
            occurred_to=occurred_to, position_to=position_to,
        )
        wanted = ScanFilter.build(
            stream_types=stream_types, stream_ids=stream_ids, event_types=event_types,
            occurred_from=occurred_from, position_from=position_from, window=point,
        )
        return build_scan(self.root, self.log_state, wanted, include)

    def scan_partitions(
        self,
        *,
        window: Window = UNBOUNDED,
        covered: Covered | None = None,
        stream_types: Sequence[str] | str | None = None,
        stream_ids: Sequence[str] | str | None = None,
        position_from: int | None = None,
        include: Sequence[str] = (),
    ) -> Partitions:
        """Like :meth:`scan`, as several LazyFrames (runs of files whose position ranges follow
        each other), plus the number of rows in the files read (it unpacks as ``frames, rows``;
        ``.valid_order`` tells which runs are in valid-time order too). Inside each frame a
        stream's rows are in position order, which lets folds skip per-group sorting.
        ``covered=(T, P)`` leaves out events a snapshot at valid time T and position P already
        holds."""
        from eventlab.store.scan import ScanFilter, build_partition_scans

        self.refresh()
        wanted = ScanFilter.build(
            stream_types=stream_types, stream_ids=stream_ids, position_from=position_from,
            window=window, covered=covered,
        )
        return build_partition_scans(self.root, self.log_state, wanted, include)

    def position_at(self, known_at: PointInTime) -> int:
        """The last position committed at or before ``known_at`` (transaction time)."""
        from eventlab.store.scan import known_position

        return known_position(self.log_state, to_utc(known_at, name="known_at"))

    def info(self) -> StoreInfo:
        from eventlab.store.info import compute_info

        return compute_info(self)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({str(self.root)!r}, events={self.head}, "
                f"commits={self.log_state.commit})")

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
        return append_rows(
            self, events, expected=expected_version, stream_type=stream_type,
            schemas=self._payload_schemas, progress=progress,
        )

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
