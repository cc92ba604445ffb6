"""What ``forget`` does besides destroying a key: no copy of a subject's data in clear stays in
the store's bookkeeping.

Two folders can hold a subject's values outside the encrypted event files:

* ``_quarantine/``: rows an importer could not accept keep their source line (``raw``) and the
  values it parsed, in clear. Every row that names the subject (any text column equal to it, or
  containing it, e.g. the raw source line) is **dropped**: the store may not keep it, and it was
  never an event.
* ``_commands/`` (the command journal): a command's arguments (``payload``) and a rejection's
  ``reason`` can hold personal values. Rows of the subject (any text column equal to it, or a
  payload or reason containing it) keep their ids and outcome, so a retried command is still
  recognised, but their ``payload`` and ``reason`` become ``"[redacted]"``.

Rows are attributed to a subject by its id, the only thing ``forget`` knows (personal values are
not known to it): a quarantined line or a command about the subject that never names its id cannot
be found. Files are rewritten through :mod:`eventlab.storage.durable` (old or new, never half).
"""

from __future__ import annotations

import uuid
from pathlib import Path

import polars as pl

from eventlab.storage.durable import fsync_dir, write_with
from eventlab.storage.layout import JOURNAL_DIR, QUARANTINE_DIR
from eventlab.storage.privacy.codec import REDACTED

#: journal columns that may hold personal values (the rest are ids, types and outcomes)
FREE_TEXT = ("payload", "reason")


def mentions(frame: pl.DataFrame, subject: str) -> pl.Expr:
    """True for rows with a text column equal to ``subject`` or containing it."""
    text = [c for c, t in frame.schema.items() if t == pl.String()]
    if not text:
        return pl.lit(False)
    return pl.any_horizontal(
        pl.col(c).str.contains(subject, literal=True).fill_null(False) for c in text
    )


def _parquet_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.parquet") if not p.name.startswith(".")) \
        if folder.is_dir() else []


def drop_from_quarantine(root: Path, subject: str) -> int:
    """Remove the quarantined rows that name ``subject``; return how many."""
    dropped = 0
    for path in _parquet_files(root / QUARANTINE_DIR):
        frame = pl.read_parquet(path)
        hit = frame.select(mentions(frame, subject).alias("hit"))["hit"]
        if hit.any():
            dropped += int(hit.sum())
            kept = frame.filter(~hit)
            write_with(path, kept.write_parquet)
    return dropped


def redact_journal(root: Path, subject: str) -> int:
    """Redact the free text of the journal rows that name ``subject``; return how many."""
    redacted = 0
    for path in _parquet_files(root / JOURNAL_DIR):
        frame = pl.read_parquet(path)
        hit = frame.select(mentions(frame, subject).alias("hit"))["hit"]
        columns = [c for c in FREE_TEXT if c in frame.columns]
        if not hit.any() or not columns:
            continue
        redacted += int(hit.sum())
        out = frame.with_columns(
            pl.when(pl.lit(hit)).then(
                pl.when(pl.col(c).is_null()).then(None).otherwise(pl.lit(REDACTED))
            ).otherwise(pl.col(c)).alias(c)
            for c in columns
        )
        _replace_journal_file(path, out)
    return redacted


def _replace_journal_file(path: Path, frame: pl.DataFrame) -> None:
    """Journal files are immutable to their readers (each is read once and cached by name), so
    the redacted rows go to a new name and the old file is removed (a kill in between leaves
    both: readers keep one row of each command; ``forget`` again finishes it)."""
    stamp = path.name.split("-")[1]
    fresh = path.with_name(f"j-{stamp}-{uuid.uuid4().hex[:12]}.parquet")
    write_with(fresh, frame.write_parquet)
    path.unlink()
    fsync_dir(path.parent)
