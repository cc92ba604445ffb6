"""Where things live inside a store folder.

::

    STORE/
      _eventlab.json                       store metadata (format version, created_at)
      _log/00000000000000000001.json       commit log, one JSON file per commit (hash chain)
      _writer.lock, _writer.pid            the single-writer lock and who holds it
      _txn/<txn>/                          staging area of a commit in progress (crash recovery)
      _tree/a.<commit>/, _tree/b.<commit>/ publication trees: hard links of the committed files
      _quarantine/<import>.parquet         rows an importer could not accept, with the reason
      _snapshots/, _keys/, ...             other bookkeeping (all start with "_")
      events -> _tree/a.<commit>           Hive-partitioned Parquet, readable by any engine
                                           (a link to the tree of the last commit, see
                                           storage/trees.py):
        stream_type=<type>/occurred_month=<YYYY-MM>/c<commit>-<txn>-<n>.parquet

Partition keys are ``stream_type`` and the UTC month of ``occurred_at``; neither is stored inside
the files (``include_key=False``), so pyarrow.dataset, DuckDB and Polars read ``events/`` directly.
Inside a file rows are sorted by ``(stream_id, version)`` so row-group statistics prune by stream.
"""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl

from eventlab.errors import ValidationError

FORMAT_VERSION = 2  # 2: events/ links to a publication tree (1: events/ was a plain folder)
EVENTS_DIR = "events"
TREE_DIR = "_tree"
LOG_DIR = "_log"
TXN_DIR = "_txn"
META_FILE = "_eventlab.json"
LOCK_FILE = "_writer.lock"
PID_FILE = "_writer.pid"
QUARANTINE_DIR = "_quarantine"
SNAPSHOT_DIR = "_snapshots"
JOURNAL_DIR = "_commands"
HIVE_SCHEMA: dict[str, pl.DataType] = {"stream_type": pl.String(), "occurred_month": pl.String()}
ROW_GROUP_SIZE = 128 * 1024

_STREAM_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def check_stream_types(names: list[str | None]) -> None:
    """Refuse stream types that are empty or could escape or confuse the partition folders."""
    bad = [n for n in names if n is None or not _STREAM_TYPE.fullmatch(n)]
    if bad:
        shown = ", ".join(repr(b) for b in bad[:5])
        raise ValidationError(
            f"invalid stream_type value(s): {shown}. A stream type is 1-64 characters of letters, "
            "digits, '_', '-' or '.', starting with a letter or digit (it names a folder). "
            "Hint: slugify it, e.g. 'road-fines'."
        )


def month_expr(column: str = "occurred_at") -> pl.Expr:
    """The partition value ``YYYY-MM`` of a UTC datetime column."""
    return pl.col(column).dt.strftime("%Y-%m").alias("occurred_month")


def partition_dir(stream_type: str, month: str) -> str:
    """Relative folder of one partition (posix separators, relative to the store root)."""
    return f"{EVENTS_DIR}/stream_type={stream_type}/occurred_month={month}"


def data_file_name(commit: int, txn: str, index: int) -> str:
    """Unique per commit, so a new batch never overwrites an existing file."""
    return f"c{commit:012d}-{txn[:12]}-{index:04d}.parquet"


def log_file(root: Path, commit: int) -> Path:
    return root / LOG_DIR / f"{commit:020d}.json"


def commit_number(name: str) -> int | None:
    """The commit number of a log file name, or None for anything else in ``_log/``."""
    stem, _, ext = name.partition(".")
    return int(stem) if ext == "json" and stem.isdigit() and len(stem) == 20 else None
