"""The command journal: the first outcome of every handled command, next to the store.

``STORE/_commands/j-<time ns>-<random>.parquet`` files, one per handling call, each written to a
temporary name and renamed (readers never see a partial file; concurrent writers never clash).
A row: the command (envelope + payload fields as JSON), its outcome ("accepted"/"rejected"),
reason, stage ("validation"/"decision"), number of events and stream version after it.

It serves two purposes: idempotency for rejected commands (accepted ones are also found by their
events' ``causation_id``, so a crash between the append and the journal write loses nothing),
and what-if replay of *recorded commands*, rejected ones included.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from pathlib import Path

import polars as pl

from eventlab.envelope import UTC_DATETIME

JOURNAL_DIR = "_commands"
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
    base = folder(root)
    base.mkdir(parents=True, exist_ok=True)
    stamp = time.time_ns()
    name = f"j-{stamp:020d}-{uuid.uuid4().hex[:12]}.parquet"
    ordered = rows.with_row_index("journal_order").with_columns(
        (pl.col("journal_order").cast(pl.Int64) + stamp).alias("journal_order"))
    tmp = base / f".tmp-{name}"
    ordered.select([pl.col(c).cast(d) for c, d in SCHEMA.items()]).write_parquet(tmp)
    os.replace(tmp, base / name)
    return base / name


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
        parts = [pl.read_parquet(base / n) for n in new]
        frame = pl.concat([frame, *parts], how="vertical_relaxed").sort("journal_order")
        _cache[key] = (names, frame)
        return frame


def first_outcomes(root: Path, command_ids: pl.Series) -> pl.DataFrame:
    """The first journal row of each of ``command_ids`` that was handled before."""
    journal = read(root)
    if journal.height == 0:
        return journal
    hits = journal.filter(pl.col("command_id").is_in(command_ids.implode()))
    return hits.unique("command_id", keep="first", maintain_order=True)
