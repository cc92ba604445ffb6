"""Exporting a projection's read model as Parquet, incrementally, with lineage any engine reads.

``export(store, projection, "exports/")`` writes ``exports/<name>.parquet`` (or, with
``partition_by``, a Hive folder ``exports/<name>/``) whose Parquet key-value metadata holds the
lineage: ``eventlab.projection``, ``eventlab.spec_hash``, ``eventlab.high_water_position`` (last
position folded), ``eventlab.event_count``, ``eventlab.version``, ``eventlab.built_at``, and the
store state it was built from: ``eventlab.store_id`` (see :mod:`eventlab.store.identity`),
``eventlab.head_commit`` and ``eventlab.head_hash`` (the hash chain's head when the store was at
the high-water position; :func:`eventlab.projections.lineage.verify_export` checks them).
Beside it, ``exports/_eventlab/<name>.state.parquet`` keeps the mergeable partial state.

A second export folds only events after the high-water mark and merges; a changed spec (or a
state file that does not match the read model) rebuilds from scratch. The read model is replaced
atomically (``os.replace``; a folder swap for partitioned exports), so an interrupted export
leaves the previous one intact.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from eventlab.errors import ValidationError, io_errno, storage_error, write_failure
from eventlab.projections.fold import finalize, fold_store, merge_states
from eventlab.projections.spec import Projection
from eventlab.storage.durable import (
    atomic_path,
    make_dirs,
    replace_folder,
    restore_folder,
    temporary_name,
)
from eventlab.storage.faults import fault
from eventlab.storage.privacy.config import load_config
from eventlab.store.identity import ChainHead, chain_head, recorded_hash, store_id
from eventlab.version import __version__
from eventlab.window import Window

if TYPE_CHECKING:
    from eventlab.projections.lineage import LineageReport
    from eventlab.store.core import StoreCore

PREFIX = "eventlab."
STATE_DIR = "_eventlab"


@dataclass(frozen=True)
class ReadModel:
    """An exported read model and its lineage (read from the Parquet metadata)."""

    path: Path
    projection: str
    spec_hash: str
    high_water_position: int
    event_count: int
    version: str
    built_at: str
    rows: int
    store_id: str = ""  # empty: exported before lineage had the store state
    head_commit: int = 0
    head_hash: str = ""

    @classmethod
    def open(cls, path: str | Path) -> ReadModel:
        target = Path(path)
        if not target.exists():
            raise ValidationError(f"read model {target} does not exist.")
        meta = _lineage(target)
        if meta is None:
            raise ValidationError(f"{target} is not an eventlab export (no lineage metadata).")
        return cls(
            path=target,
            projection=meta["projection"],
            spec_hash=meta["spec_hash"],
            high_water_position=int(meta["high_water_position"]),
            event_count=int(meta["event_count"]),
            version=meta["version"],
            built_at=meta["built_at"],
            rows=int(meta.get("rows", 0)),
            store_id=meta.get("store_id", ""),
            head_commit=int(meta.get("head_commit", 0)),
            head_hash=meta.get("head_hash", ""),
        )

    def read(self) -> pl.DataFrame:
        return pl.read_parquet(self.path, hive_partitioning=self.path.is_dir())

    def lag(self, store: StoreCore) -> int:
        """Events committed to the store after this read model's high-water mark."""
        return max(0, store.head - self.high_water_position)

    def verify(self, store: str | Path | StoreCore, *, projection: Projection | None = None
               ) -> LineageReport:
        """Prove which store state produced this read model (``projection``: fold it again and
        compare the rows too); see :func:`eventlab.projections.lineage.verify_export`."""
        from eventlab.projections.lineage import verify_export

        return verify_export(self, store, projection=projection)

    def _repr_html_(self) -> str:
        from eventlab.projections.cards import read_model_html

        return read_model_html(self)


@dataclass(frozen=True)
class ExportResult:
    read_model: ReadModel
    mode: str  # "full", "incremental" or "up-to-date"
    events_folded: int
    seconds: float


def _lineage(target: Path) -> dict[str, str] | None:
    files = sorted(target.rglob("*.parquet")) if target.is_dir() else [target]
    if not files or not files[0].exists():
        return None
    try:
        raw = pq.read_metadata(files[0]).metadata or {}
    except (OSError, pa.ArrowException) as exc:
        raise ValidationError(
            f"{files[0]} is not a readable Parquet file ({str(exc).splitlines()[0]}); an "
            "exported read model is a .parquet file or a folder of them."
        ) from None
    meta = {k.decode(): v.decode() for k, v in raw.items() if k.decode().startswith(PREFIX)}
    return {k[len(PREFIX) :]: v for k, v in meta.items()} or None


def target_path(out: Path, projection: Projection, partition_by: list[str] | None) -> Path:
    return out / (projection.name if partition_by else f"{projection.name}.parquet")


def _state_path(out: Path, projection: Projection) -> Path:
    return out / STATE_DIR / f"{projection.name}.state.parquet"


def _previous(
    out: Path, target: Path, projection: Projection, epoch: str, root: Path
) -> pl.DataFrame | None:
    """The stored partial state, when it matches the read model, the spec and the privacy
    epoch (after a ``forget`` the old state may hold decrypted values: rebuild)."""
    restore_folder(target)
    lineage, state_file = _lineage(target), _state_path(out, projection)
    if lineage is None or not state_file.exists():
        return None
    state_meta = _lineage(state_file) or {}
    same = (
        lineage.get("spec_hash") == projection.spec_hash == state_meta.get("spec_hash")
        and lineage.get("high_water_position") == state_meta.get("high_water_position")
        and (lineage.get("privacy_epoch", "0") == epoch)
        and _same_store(root, lineage)
    )
    return pl.read_parquet(state_file) if same else None


def _same_store(root: Path, lineage: dict[str, str]) -> bool:
    """False when the read model was built from another store, or from a state of this store
    that its log no longer holds (history rewritten): then only a full rebuild is right."""
    if "store_id" not in lineage:
        return True  # exported before lineage named the store
    if lineage["store_id"] != store_id(root):
        return False
    return recorded_hash(root, int(lineage.get("head_commit", 0))) == lineage.get("head_hash")


def export(
    store: StoreCore,
    projection: Projection,
    out: str | Path,
    *,
    partition_by: str | list[str] | None = None,
    full: bool = False,
    progress: bool | None = None,
) -> ExportResult:
    """Write (or update) the read model of ``projection`` under folder ``out``."""
    started = time.perf_counter()
    folder, parts = Path(out), [partition_by] if isinstance(partition_by, str) else partition_by
    target = target_path(folder, projection, parts)
    epoch = str(load_config(store.root).forget_epoch)
    previous = None if full else _previous(folder, target, projection, epoch, store.root)
    mark = chain_head(store)  # one consistent reading of position, commit and hash
    head = mark.position
    if previous is not None:
        old = ReadModel.open(target)
        if old.high_water_position == head:
            return ExportResult(old, "up-to-date", 0, time.perf_counter() - started)
        since = old.high_water_position + 1
        tail = fold_store(
            store, projection, window=Window(at_position=head), position_from=since,
            progress=progress,
        )
        state = merge_states([previous, tail], projection).collect()
        folded, mode, count = _count(store, projection, head, since), "incremental", old.event_count
    else:
        state = fold_store(store, projection, window=Window(at_position=head), progress=progress)
        folded, mode, count = _count(store, projection, head), "full", 0
    meta = _metadata(projection, head, count + folded, state.height, epoch)
    meta |= _lineage_of(store, mark)
    _write_state(folder, projection, state, meta)
    fault("export_after_state")
    _write_model(finalize(state, projection).collect(), target, parts, meta)
    return ExportResult(ReadModel.open(target), mode, folded, time.perf_counter() - started)


def _count(store: StoreCore, projection: Projection, head: int, since: int | None = None) -> int:
    frame = store.scan(stream_types=projection.stream_types, at_position=head, position_from=since)
    return int(frame.select(pl.len()).collect().item())


def _metadata(
    projection: Projection, head: int, events: int, rows: int, epoch: str = "0"
) -> dict[str, str]:
    values = {
        "projection": projection.name,
        "spec_hash": projection.spec_hash,
        "high_water_position": str(head),
        "event_count": str(events),
        "version": __version__,
        "built_at": datetime.now(UTC).isoformat(),
        "rows": str(rows),
        "key": json.dumps(list(projection.key)),
        "privacy_epoch": epoch,
    }
    return {PREFIX + k: v for k, v in values.items()}


def _lineage_of(store: StoreCore, mark: ChainHead) -> dict[str, str]:
    values = {"store_id": store_id(store.root), "head_commit": str(mark.commit),
              "head_hash": mark.hash}
    return {PREFIX + k: v for k, v in values.items()}


@contextmanager
def _storage_errors(out: Path, cleanup: Path | None = None) -> Iterator[None]:
    """Disk full or read-only folder: remove ``cleanup`` (a temporary folder) and raise a
    StorageError (atomic_path removes its own temporary file)."""
    try:
        yield
    except Exception as exc:
        if io_errno(exc) is None:
            raise
        if cleanup is not None:
            shutil.rmtree(cleanup, ignore_errors=True)
        raise storage_error(
            exc,
            f"export to {out}",
            "The previous read model (if any) is unchanged and nothing half-written is left.",
        ) from exc


def _write_state(
    out: Path, projection: Projection, state: pl.DataFrame, meta: dict[str, str]
) -> None:
    path = _state_path(out, projection)
    with _storage_errors(out), atomic_path(path) as tmp:
        _write_parquet(state, tmp, meta)


def _write_parquet(frame: pl.DataFrame, path: Path, meta: dict[str, str]) -> None:
    try:
        frame.write_parquet(path, metadata=meta)
    except pl.exceptions.PolarsError as exc:
        raise write_failure(path, exc) from exc


def _write_model(
    frame: pl.DataFrame, target: Path, parts: list[str] | None, meta: dict[str, str]
) -> None:
    if not parts:
        with _storage_errors(target.parent), atomic_path(target) as tmp:
            _write_parquet(frame, tmp, meta)
            fault("export_before_replace")
        return
    missing = [p for p in parts if p not in frame.columns]
    if missing:
        raise ValidationError(
            f"partition_by {missing} is not a column of the read model (columns: {frame.columns})."
        )
    with_nul = [
        p for p in parts if frame[p].cast(pl.String).str.contains("\x00", literal=True).any()
    ]
    if with_nul:
        raise ValidationError(
            f"partition_by column(s) {with_nul} hold values with a NUL character, which cannot "
            "be part of a folder name (pyarrow would cut the value there and mix partitions). "
            "Hint: partition by another column, or replace NUL in that field."
        )
    table = frame.to_arrow()
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), **meta})
    tmp = temporary_name(target)
    with _storage_errors(target.parent, cleanup=tmp):
        make_dirs(target.parent)
        pq.write_to_dataset(table, tmp, partition_cols=parts)
        replace_folder(tmp, target, midway=lambda: fault("export_mid_swap"))


