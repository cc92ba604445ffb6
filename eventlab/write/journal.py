"""The command journal: the first outcome of every handled command, next to the store.

``STORE/_commands/j-<time ns>-<random>.parquet`` files, one per handling call, each written to a
temporary name and renamed (readers never see a partial file; concurrent writers never clash),
through eventlab.storage.durable (fsync-ed: a power cut leaves no empty journal file).
A row: the command (envelope + payload fields as JSON), its outcome ("accepted"/"rejected"),
reason, stage ("validation"/"decision"), number of events and stream version after it.

It serves two purposes: idempotency for rejected commands (accepted ones are also found by their
events' ``causation_id``, so a crash between the append and the journal write loses nothing),
and what-if replay of *recorded commands*, rejected ones included.

One file per call adds up (a script handling commands one by one writes thousands);
:func:`compact` merges them into one (``eventlab compact`` does it too). A merge killed after
publishing its file but before removing the originals leaves rows twice: readers drop repeated
rows (same ``journal_order`` and command), so nothing is lost or doubled.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from eventlab.envelope import UTC_DATETIME
from eventlab.errors import CorruptStoreError
from eventlab.storage.durable import write_with
from eventlab.storage.faults import fault
from eventlab.storage.layout import JOURNAL_DIR

if TYPE_CHECKING:
    from eventlab.store.core import StoreCore

SCHEMA: dict[str, pl.DataType] = {
    "command_id": pl.String(), "command_type": pl.String(), "stream_type": pl.String(),
    "stream_id": pl.String(), "occurred_at": UTC_DATETIME, "correlation_id": pl.String(),
    "causation_id": pl.String(), "actor": pl.String(), "outcome": pl.String(),
    "reason": pl.String(), "stage": pl.String(), "events": pl.Int64(), "version": pl.Int64(),
    "handled_at": UTC_DATETIME, "payload": pl.String(), "journal_order": pl.Int64(),
}
_cache: dict[str, tuple[frozenset[str], pl.DataFrame]] = {}
_lock = threading.Lock()


def folder(root: Path) -> Path:
    return root / JOURNAL_DIR


def write(root: Path, rows: pl.DataFrame) -> Path | None:
    """Append ``rows`` (SCHEMA columns except journal_order) as one new journal file."""
    if rows.height == 0:
        return None
    stamp = time.time_ns()
    ordered = rows.with_row_index("journal_order").with_columns(
        (pl.col("journal_order").cast(pl.Int64) + stamp).alias("journal_order"))
    return _publish(folder(root), ordered.select([pl.col(c).cast(d) for c, d in SCHEMA.items()]),
                    stamp)


def _publish(base: Path, frame: pl.DataFrame, stamp: int) -> Path:
    """Write ``frame`` durably as ``j-<stamp>-<random>.parquet`` (eventlab.storage.durable)."""
    name = f"j-{stamp:020d}-{uuid.uuid4().hex[:12]}.parquet"
    write_with(base / name, frame.write_parquet)
    return base / name


@dataclass(frozen=True)
class JournalCompaction:
    """What :func:`compact_journal` did: ``files_merged`` files became one of ``commands`` rows."""

    files_merged: int
    commands: int


def compact_journal(store: StoreCore) -> JournalCompaction:
    """Merge the store's command journal files into one (see the module docstring)."""
    return JournalCompaction(*compact(store.root))


def compact(root: Path) -> tuple[int, int]:
    """Merge every journal file into one; returns (files merged, rows kept). Files written
    meanwhile stay as they are; a crash before the originals are removed loses nothing."""
    base = folder(root)
    names = sorted(p.name for p in base.glob("j-*.parquet")) if base.is_dir() else []
    if len(names) < 2:
        return 0, 0
    frame = _dedupe(pl.concat([_read_file(base / n) for n in names], how="vertical_relaxed"))
    _publish(base, frame, int(names[0].split("-")[1]))
    fault("journal_merged")
    for index, name in enumerate(names):
        if index == 1:
            fault("journal_partly_removed")
        (base / name).unlink(missing_ok=True)
    return len(names), frame.height


def _read_file(path: Path) -> pl.DataFrame:
    """One journal file; a file that is not a journal Parquet file (empty, garbage, another
    table) is a CorruptStoreError naming it (FileNotFoundError passes: merged away)."""
    try:
        frame = pl.read_parquet(path)
    except FileNotFoundError:
        raise
    except (pl.exceptions.PolarsError, OSError) as exc:
        why = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise _unreadable(path, why) from None
    missing = [c for c in SCHEMA if c not in frame.columns]
    if missing:
        raise _unreadable(path, f"it lacks the journal columns {missing}")
    try:
        return frame.select([pl.col(c).cast(d) for c, d in SCHEMA.items()])
    except pl.exceptions.PolarsError as exc:
        why = f"a column has the wrong type ({str(exc).splitlines()[0]})"
        raise _unreadable(path, why) from None


def _unreadable(path: Path, why: str) -> CorruptStoreError:
    return CorruptStoreError(
        f"command journal file {path} is not a journal file: {why}. Handling and what-if "
        "read every file of the journal. Hint: move that file out of "
        f"{path.parent} (the journal keeps first outcomes of commands; events are unaffected)."
    )


def _dedupe(frame: pl.DataFrame) -> pl.DataFrame:
    """Rows in handling order, each once (a killed merge may have left a row in two files)."""
    once = frame.unique(["journal_order", "command_id"], keep="first", maintain_order=True)
    return once.sort("journal_order", maintain_order=True)


def read(root: Path) -> pl.DataFrame:
    """Every journal row, in handling order (files are immutable: each is read once)."""
    base = folder(root)
    names = frozenset(p.name for p in base.glob("j-*.parquet")) if base.is_dir() else frozenset()
    key = str(root.resolve())
    with _lock:
        seen, frame = _cache.get(key, (frozenset(), pl.DataFrame(schema=SCHEMA)))
        new = sorted(names - seen)
        if not new and seen <= names:
            return frame
        if not seen <= names:  # files went away (a rebuilt store): start over
            seen, frame, new = frozenset(), pl.DataFrame(schema=SCHEMA), sorted(names)
        try:
            parts = [_read_file(base / n) for n in new]
        except FileNotFoundError:  # merged away by a compaction since the listing: list again
            _cache.pop(key, None)
        else:
            frame = _dedupe(pl.concat([frame, *parts], how="vertical_relaxed"))
            _cache[key] = (names, frame)
            return frame
    return read(root)


def first_outcomes(root: Path, command_ids: pl.Series) -> pl.DataFrame:
    """The first journal row of each of ``command_ids`` that was handled before."""
    journal = read(root)
    if journal.height == 0:
        return journal
    hits = journal.filter(pl.col("command_id").is_in(command_ids.implode()))
    return hits.unique("command_id", keep="first", maintain_order=True)
