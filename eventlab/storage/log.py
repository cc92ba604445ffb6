"""The commit log: the single source of truth of which files hold committed events.

Each commit is one JSON file ``_log/<20-digit number>.json``. It lists the data files it added
(with their SHA-256, row count and statistics) and removed (compaction), the payload columns it
introduced, and the hash of the previous commit: the entries form a hash chain, so rewriting,
dropping or reordering history is detectable. A commit becomes visible the moment its log file
is created (an atomic ``link``, see :mod:`eventlab.storage.durable`); the commit protocol
(:mod:`eventlab.storage.local`) then makes its files visible to other engines.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from eventlab.envelope import dtype_from_str
from eventlab.errors import CorruptStoreError
from eventlab.storage.durable import write_json
from eventlab.storage.layout import LOG_DIR, commit_number, log_file

GENESIS_HASH = "0" * 64


@dataclass(frozen=True)
class DataFile:
    """One immutable Parquet file of committed events and what the log knows about it."""

    path: str
    stream_type: str
    month: str
    rows: int
    bytes: int
    sha256: str
    min_position: int
    max_position: int
    min_occurred_at: str
    max_occurred_at: str
    columns: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DataFile:
        return cls(**{**data, "columns": tuple(data.get("columns", ()))})


@dataclass(frozen=True)
class Commit:
    """One entry of the log. ``hash`` covers every other field, including ``prev_hash``."""

    number: int
    kind: str
    txn: str
    recorded_at: str
    first_position: int | None
    last_position: int | None
    events: int
    added: tuple[DataFile, ...] = ()
    removed: tuple[str, ...] = ()
    columns: dict[str, str] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    prev_hash: str = GENESIS_HASH
    hash: str = ""

    def body(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("hash")
        return data

    def sealed(self) -> Commit:
        """This commit with ``hash`` computed over its body."""
        return replace(self, hash=hash_body(self.body()))

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Commit:
        added = tuple(DataFile.from_json(f) for f in data.get("added", ()))
        return cls(**{**data, "added": added, "removed": tuple(data.get("removed", ()))})


def hash_body(body: Mapping[str, Any]) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass
class LogState:
    """What the log implies now: live files, payload schema, and the head of the chain."""

    files: dict[str, DataFile] = field(default_factory=dict)
    schema: dict[str, pl.DataType] = field(default_factory=dict)
    commit: int = 0
    position: int = 0
    head_hash: str = GENESIS_HASH
    recorded_at: str | None = None
    txns: set[str] = field(default_factory=set)
    #: (recorded_at, last position) of every commit that added events, in commit order
    marks: list[tuple[datetime, int]] = field(default_factory=list)

    def apply(self, commit: Commit) -> None:
        if commit.number != self.commit + 1 or commit.prev_hash != self.head_hash:
            raise CorruptStoreError(
                f"commit {commit.number} does not follow commit {self.commit} (broken chain). "
                "Run `eventlab verify STORE` for details."
            )
        for path in commit.removed:
            self.files.pop(path, None)
        for data_file in commit.added:
            self.files[data_file.path] = data_file
        for name, dtype in commit.columns.items():
            self.schema[name] = dtype_from_str(dtype)
        self.commit, self.head_hash = commit.number, commit.hash
        if commit.last_position is not None:
            self.position = commit.last_position
            self.marks.append((datetime.fromisoformat(commit.recorded_at), self.position))
        self.recorded_at = commit.recorded_at
        self.txns.add(commit.txn)

    def columns_of(self, stream_types: Iterable[str] | None) -> list[str]:
        """Payload columns present in the files of ``stream_types`` (all when None)."""
        wanted = None if stream_types is None else set(stream_types)
        present: set[str] = set()
        for data_file in self.files.values():
            if wanted is None or data_file.stream_type in wanted:
                present.update(data_file.columns)
        return [c for c in self.schema if c in present]


def read_commit(path: Path) -> Commit:
    try:
        return Commit.from_json(json.loads(path.read_text()))
    except (OSError, ValueError, TypeError) as exc:
        raise CorruptStoreError(
            f"commit log file {path} is unreadable ({exc}). Run `eventlab verify` on the store."
        ) from exc


def commit_numbers(root: Path) -> list[int]:
    numbers = (commit_number(p.name) for p in (root / LOG_DIR).iterdir())
    return sorted(n for n in numbers if n is not None)


def read_commits(root: Path, after: int = 0, upto: int | None = None) -> list[Commit]:
    """Commits numbered above ``after`` (and at most ``upto``), in order."""
    return [
        read_commit(log_file(root, n))
        for n in commit_numbers(root)
        if n > after and (upto is None or n <= upto)
    ]


def write_commit(root: Path, commit: Commit) -> None:
    """Create the log file of ``commit`` durably; fail if that number already exists."""
    try:
        write_json(log_file(root, commit.number), asdict(commit), exclusive=True)
    except FileExistsError:
        raise CorruptStoreError(
            f"commit {commit.number} already exists: another process wrote to the store "
            "without holding its writer lock."
        ) from None
