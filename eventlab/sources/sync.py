"""Sync a source into a store batch by batch, resuming from a checkpoint kept in the store.

A *sync source* (Marten, eventsourcing, KurrentDB, OCEL; see :class:`SyncSource`) yields
batches in source order, each a :class:`~eventlab.sources.batch.Parsed` plus the source
position reached after it. :func:`sync` imports each batch through the one import path
(:func:`eventlab.sources.importer.import_parsed`: append, then quarantine) and only then
records the position in ``STORE/_sources/<kind>-<hash>.json`` (written through
:mod:`eventlab.storage.durable`). So:

- a kill before the append commits leaves nothing of the batch; the next run reads it again;
- a kill after the append but before the checkpoint: the next run reads the batch again and
  the store skips its events by ``event_id`` (counted as duplicates); quarantined rows already
  saved for this source (same ``source`` and ``source_line``) are not saved twice;
- the checkpoint never moves backwards (``full=True`` re-reads everything, duplicates skipped).

Checkpoints hold the source's identity without credentials (host, port, database, table), the
position and the store commit; never a user name or password.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import polars as pl

import eventlab.render as render
from eventlab.sources.batch import STREAM, Parsed
from eventlab.sources.importer import import_parsed
from eventlab.sources.source import slug
from eventlab.sources.summary import ImportSummary, summary_rows
from eventlab.storage.durable import write_json
from eventlab.storage.faults import fault
from eventlab.storage.layout import QUARANTINE_DIR
from eventlab.store.core import StoreCore

CHECKPOINT_DIR = "_sources"
Position = int | str


@dataclass(frozen=True)
class SourceBatch:
    """One batch of a source and the position reached after it."""

    parsed: Parsed
    position: Position


class SyncSource(Protocol):
    """What every connector provides: an identity for its checkpoint and batches after it."""

    @property
    def key(self) -> str:
        """Identity of the source for its checkpoint: kind + location, never credentials."""
        ...

    @property
    def name(self) -> str:
        """What reports, quarantine rows and errors call it (credentials removed)."""
        ...

    @property
    def kind(self) -> str:
        """``marten``, ``eventsourcing``, ``kurrentdb``, ``ocel``, ..."""
        ...

    def batches(self, after: Position | None, *, batch_size: int) -> Iterator[SourceBatch]:
        """Batches of the records after ``after`` (None: from the start), in source order."""
        ...


@dataclass(frozen=True)
class Checkpoint:
    """Where the last sync of a source into a store stopped."""

    key: str
    source: str
    kind: str
    position: Position
    commit: int | None
    updated_at: str


@dataclass(frozen=True)
class SyncSummary(ImportSummary):
    """What one :func:`sync` did: the counts of an import (always ``read == imported +
    quarantined + skipped_duplicate``), plus the batches and the source positions before
    (``previous``) and after (``checkpoint``) the run."""

    batches: int
    previous: Position | None
    checkpoint: Position | None
    full: bool

    def _repr_html_(self) -> str:
        return sync_summary_html(self)


def sync_summary_html(summary: SyncSummary) -> str:
    """Pure HTML for a SyncSummary (a card with one row per count)."""
    rows = summary_rows(
        summary, ("batches", summary.batches), ("checkpoint before", summary.previous),
        ("checkpoint after", summary.checkpoint), ("full re-read", summary.full),
    )
    return render.card("sync", render.fields(rows))


def sync(
    store: StoreCore, source: SyncSource, *, full: bool = False, batch_size: int = 250_000,
    progress: bool | None = None,
) -> SyncSummary:
    """Import what is new in ``source`` since its checkpoint in ``store`` (all of it with
    ``full=True``), one atomic append per batch, the checkpoint after each batch."""
    started = time.perf_counter()
    saved = load_checkpoint(store.root, source.key)
    previous = saved.position if saved else None
    counts = dict(read=0, imported=0, quarantined=0, skipped_duplicate=0, batches=0)
    streams: list[pl.DataFrame] = []
    position, commit, qpath = previous, None, None
    for batch in source.batches(None if full else previous, batch_size=batch_size):
        parsed = drop_known_quarantine(store.root, batch.parsed)
        summary = import_parsed(store, parsed, progress=progress)
        fault("sync_before_checkpoint")
        commit = summary.commit if summary.commit is not None else commit
        qpath = summary.quarantine_path or qpath
        position = save_checkpoint(store.root, source, batch.position, commit)
        fault("sync_after_checkpoint")
        for name in ("read", "imported", "quarantined", "skipped_duplicate"):
            counts[name] += getattr(summary, name)
        counts["batches"] += 1
        if parsed.events.height:
            streams.append(parsed.events.select(STREAM).unique())
    distinct = pl.concat(streams).unique().height if streams else 0
    return SyncSummary(
        source=source.name, format=source.kind, streams=distinct, previous=previous,
        checkpoint=position, full=full, quarantine_path=qpath, commit=commit,
        seconds=time.perf_counter() - started, **counts,
    )


# ----------------------------------------------------------------------------- checkpoints
def checkpoint_path(root: Path, key: str) -> Path:
    kind = key.partition(":")[0]
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return root / CHECKPOINT_DIR / f"{slug(kind)}-{digest}.json"


def load_checkpoint(root: Path, key: str) -> Checkpoint | None:
    """The checkpoint of source ``key`` in the store at ``root``, or None before its first sync."""
    path = checkpoint_path(root, key)
    if not path.is_file():
        return None
    data = json.loads(path.read_text())
    return Checkpoint(**{f: data.get(f) for f in Checkpoint.__dataclass_fields__})


def list_checkpoints(root: str | Path) -> list[Checkpoint]:
    """Every source synced into the store at ``root`` and where it stopped."""
    folder = Path(root) / CHECKPOINT_DIR
    found = [load_checkpoint(Path(root), json.loads(p.read_text())["key"])
             for p in sorted(folder.glob("*.json"))] if folder.is_dir() else []
    return [c for c in found if c is not None]


def save_checkpoint(root: Path, source: SyncSource, position: Position,
                    commit: int | None) -> Position:
    """Record ``position`` (never behind the saved one) durably; return the saved position."""
    saved = load_checkpoint(root, source.key)
    if saved is not None and _before(position, saved.position):
        return saved.position
    checkpoint = Checkpoint(
        key=source.key, source=source.name, kind=source.kind, position=position,
        commit=commit if commit is not None else (saved.commit if saved else None),
        updated_at=datetime.now(UTC).isoformat(),
    )
    write_json(checkpoint_path(root, source.key), checkpoint.__dict__)
    return position


def _before(new: Position, old: Position) -> bool:
    """True when ``new`` is behind ``old`` (positions of one source have one type)."""
    return isinstance(new, int) and isinstance(old, int) and new < old


# ----------------------------------------------------------------------------- quarantine
def drop_known_quarantine(root: Path, parsed: Parsed) -> Parsed:
    """Drop quarantine rows this source already saved (same ``source``, ``source_line``, ``raw``),
    counting them as duplicates: a re-read after a kill does not quarantine a row twice."""
    folder = root / QUARANTINE_DIR
    if not parsed.quarantine.height or not folder.is_dir():
        return parsed
    files = sorted(str(p) for p in folder.glob("*.parquet"))
    if not files:
        return parsed
    lines = parsed.quarantine["source_line"].unique()
    known = (pl.scan_parquet(files)
             .filter((pl.col("source") == parsed.source) & pl.col("source_line").is_in(
                 lines.implode()))
             .select("source_line", "raw").unique().collect())
    if known.height == 0:
        return parsed
    keep = parsed.quarantine.join(known, on=["source_line", "raw"], how="anti",
                                  maintain_order="left")
    dropped = parsed.quarantine.height - keep.height
    return replace(parsed, quarantine=keep, duplicates=parsed.duplicates + dropped)
