"""Snapshots: materialised *partial* states of a projection at checkpoints.

A snapshot taken at valid time T and position P holds the merged partial state of every event
with ``occurred_at <= T`` and ``position <= P`` (T may be None: all valid time). A query
``state(at=T', known_at/at_position -> P')`` can start from any snapshot with ``T <= T'`` and
``P <= P'``: it folds only the events the snapshot does not cover and merges (reducers are
mergeable), so the result is identical to a full fold. Events recorded after the snapshot but
back-dated below its T are part of that tail; order-sensitive reducers merge by
``(occurred_at, position)``, so such an event lands where it happened (see :mod:`eventlab.window`).

Files live in ``STORE/_snapshots/<projection>-<spec hash>/`` with their (T, P) in the name and in
the Parquet metadata. A changed spec has another hash, so stale snapshots are never used.
"""

from __future__ import annotations

import time
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from eventlab.errors import ValidationError, storage_error, write_failure
from eventlab.progress import progress_bar
from eventlab.projections.fold import fold_store, merge_states
from eventlab.projections.spec import Projection
from eventlab.storage.durable import atomic_path, is_temporary
from eventlab.storage.layout import SNAPSHOT_DIR
from eventlab.timeutil import PointInTime
from eventlab.window import Covered, Window

if TYPE_CHECKING:
    from eventlab.store.core import StoreCore

_ALL = "all"


@dataclass(frozen=True)
class Snapshot:
    path: Path
    at: datetime | None
    position: int

    def covers(self, at: datetime | None, position: int) -> bool:
        """True when everything this snapshot holds is part of the query (at, position)."""
        if self.position > position:
            return False
        if self.at is None:
            return at is None
        return at is None or self.at <= at

    def load(self) -> pl.DataFrame:
        return _read(str(self.path), self.path.stat().st_mtime_ns)

    def try_load(self) -> pl.DataFrame | None:
        """The state, or None when the file is gone (pruned or dropped by ``forget`` in another
        process since it was listed): the caller then folds without it."""
        try:
            return self.load()
        except FileNotFoundError:
            return None


@lru_cache(maxsize=64)
def _read(path: str, mtime: int) -> pl.DataFrame:
    return pl.read_parquet(path)


def folder(store: StoreCore, projection: Projection) -> Path:
    return store.root / SNAPSHOT_DIR / f"{projection.name}-{projection.spec_hash[:16]}"


def _name(at: datetime | None, position: int) -> str:
    stamp = _ALL if at is None else at.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return f"at-{stamp}-p{position:012d}.parquet"


def _parse(path: Path) -> Snapshot | None:
    parts = path.stem.split("-")
    if len(parts) != 3 or parts[0] != "at" or not parts[2].startswith("p"):
        return None
    try:
        at = (
            None
            if parts[1] == _ALL
            else datetime.strptime(parts[1], "%Y%m%dT%H%M%S%fZ").replace(tzinfo=UTC)
        )
        return Snapshot(path, at, int(parts[2][1:]))
    except ValueError:
        return None


def list_snapshots(store: StoreCore, projection: Projection) -> list[Snapshot]:
    """The projection's snapshots, by (position, valid time); the listing is cached until the
    folder changes (its mtime), so a scrubber step does not re-read the folder."""
    base = folder(store, projection)
    try:
        stamp = base.stat().st_mtime_ns
    except FileNotFoundError:
        return []
    return list(_listing(str(base), stamp))


@lru_cache(maxsize=32)
def _listing(base: str, stamp: int) -> tuple[Snapshot, ...]:
    found = (_parse(p) for p in Path(base).glob("at-*.parquet"))
    return tuple(
        sorted(
            (s for s in found if s),
            key=lambda s: (s.position, s.at or datetime.max.replace(tzinfo=UTC)),
        )
    )


def best_snapshot(
    store: StoreCore, projection: Projection, at: datetime | None, position: int
) -> Snapshot | None:
    """The usable snapshot covering most: highest position, then latest valid time."""
    usable = [s for s in list_snapshots(store, projection) if s.covers(at, position)]
    return usable[-1] if usable else None


def _write(
    store: StoreCore,
    projection: Projection,
    state: pl.DataFrame,
    at: datetime | None,
    position: int,
) -> Snapshot:
    final = folder(store, projection) / _name(at, position)
    meta = {
        "eventlab.projection": projection.name,
        "eventlab.spec_hash": projection.spec_hash,
        "eventlab.at": "" if at is None else at.isoformat(),
        "eventlab.position": str(position),
    }
    try:
        with atomic_path(final) as tmp:
            try:
                state.write_parquet(tmp, metadata=meta)
            except pl.exceptions.PolarsError as exc:
                raise write_failure(tmp, exc) from exc
    except OSError as exc:  # disk full, read-only store: no partial snapshot is left
        raise storage_error(
            exc,
            f"write a snapshot into store {store.root}",
            "No snapshot was written; queries fold the events instead.",
        ) from exc
    return Snapshot(final, at, position)


def take_snapshot(
    store: StoreCore,
    projection: Projection,
    *,
    at: PointInTime | None = None,
    known_at: PointInTime | None = None,
    at_position: int | None = None,
    progress: bool | None = None,
) -> Snapshot:
    """Fold and store the partial state at (at, known_at / at_position); returns the snapshot."""
    from eventlab.projections.temporal import partial_at, resolve

    window = resolve(store, Window.build(at=at, known_at=known_at, at_position=at_position))
    state = partial_at(store, projection, window, progress=progress)
    return _write(store, projection, state, window.at, window.position)


def build_snapshots(
    store: StoreCore,
    projection: Projection,
    *,
    every: str = "1mo",
    known_at: PointInTime | None = None,
    at_position: int | None = None,
    progress: bool | None = None,
) -> list[Snapshot]:
    """Snapshots at valid-time checkpoints ``every`` apart across the store, as known at the
    store's head (or at ``known_at`` / ``at_position``: for queries about an earlier commit).

    Each checkpoint folds only the events since the previous one and merges: about the cost of
    one full fold in all. Checkpoints already built for this spec and position are reused (a
    re-run cell, a reopened widget), so only the missing ones are folded.
    """
    from eventlab.projections.temporal import resolve, time_points

    info = (
        store.scan(stream_types=projection.stream_types)
        .select(pl.col("occurred_at").min().alias("lo"), pl.col("occurred_at").max().alias("hi"))
        .collect()
    )
    if info["lo"][0] is None:
        raise ValidationError("the store has no events for this projection; nothing to snapshot.")
    points = time_points(info["lo"][0], info["hi"][0], every)
    head = resolve(store, Window.build(known_at=known_at, at_position=at_position)).position
    out = _already_built(store, projection, points, head)
    state = out[-1].load() if out else None
    previous: datetime | None = points[len(out) - 1] if out else None
    todo = points[len(out):]
    with progress_bar(len(todo), f"snapshots of {projection.name}", progress, "snapshots") as bar:
        for point in todo:
            covered = Covered(previous, head) if previous is not None else None
            chunk = fold_store(
                store, projection, window=Window(at=point, at_position=head), covered=covered,
                progress=False,
            )
            state = chunk if state is None else merge_states([state, chunk], projection).collect()
            out.append(_write(store, projection, state, point, head))
            previous = point
            if bar:
                bar(1)
    return out


def _already_built(
    store: StoreCore, projection: Projection, points: list[datetime], head: int
) -> list[Snapshot]:
    """The snapshots of the leading ``points`` that exist at position ``head`` (the longest
    prefix: building resumes from the last of them)."""
    existing = {(s.at, s.position): s for s in list_snapshots(store, projection)}
    found: list[Snapshot] = []
    for point in points:
        snapshot = existing.get((point, head))
        if snapshot is None or not snapshot.path.exists():
            break
        found.append(snapshot)
    return found


@dataclass(frozen=True)
class PruneResult:
    """What :func:`prune_snapshots` removed and kept."""

    files_removed: int
    bytes_freed: int
    kept: int


#: Temporary files younger than this may belong to a snapshot being written right now.
STALE_TMP_SECONDS = 3600


def prune_snapshots(store: StoreCore, projection: Projection, *, keep: int = 1) -> PruneResult:
    """Remove the projection's snapshots that only take space: those of its earlier specs
    (another spec hash, never read again), of the current spec all but the ``keep`` highest
    positions (``keep=0``: all), and temporary files a killed writer left (older than an hour).

    Queries stay correct whatever is removed: they fold from the best snapshot left, or from
    the events. Run it when no query is reading the store (a running scrubber may fold more).
    """
    if keep < 0:
        raise ValidationError(
            f"keep={keep} is negative; pass keep=1 (the snapshots of the newest position) or "
            "more to keep older positions, or keep=0 to remove them all."
        )
    current = folder(store, projection)
    doomed = [f for d in _older_specs(store, projection) for f in d.glob("*.parquet")]
    snaps = list_snapshots(store, projection)
    kept_positions = sorted({s.position for s in snaps})[-keep:] if keep else []
    doomed += [s.path for s in snaps if s.position not in kept_positions]
    doomed += [t for t in current.glob(".*") if _stale_temporary(t)]
    freed = sum(_remove(path) for path in doomed)
    for old in _older_specs(store, projection):
        with suppress(OSError):
            old.rmdir()  # only when empty: another process may be writing into it
    return PruneResult(len(doomed), freed, sum(1 for s in snaps if s.position in kept_positions))


def _stale_temporary(path: Path) -> bool:
    """A temporary file a killed snapshot writer left (durable's or the older ``.tmp-`` name)."""
    temporary = is_temporary(path) or path.name.startswith(".tmp-")
    return temporary and _age(path) > STALE_TMP_SECONDS


def _older_specs(store: StoreCore, projection: Projection) -> list[Path]:
    """Snapshot folders of the same projection name with another spec hash."""
    base, name = store.root / SNAPSHOT_DIR, projection.name
    if not base.is_dir():
        return []
    current = folder(store, projection).name
    return [
        d for d in base.iterdir()
        if d.is_dir() and d.name != current and d.name[: len(name) + 1] == f"{name}-"
        and _is_hash(d.name[len(name) + 1:])
    ]


def _is_hash(text: str) -> bool:
    return len(text) == 16 and all(c in "0123456789abcdef" for c in text)


def _age(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


def _remove(path: Path) -> int:
    """Delete ``path``; its size in bytes (0 when it was already gone)."""
    try:
        size = path.stat().st_size
        path.unlink()
    except FileNotFoundError:
        return 0
    except OSError as exc:
        raise storage_error(
            exc, f"remove snapshot {path}",
            "Snapshots removed so far stay removed; queries are unaffected.",
        ) from exc
    return size
