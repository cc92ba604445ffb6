"""The commit protocol: the one interface between the storage core and a backend.

A store's history is its hash-chained commit log (:mod:`eventlab.storage.log`). A backend
decides how a writer gets the right to append the next log entry, where new data files wait
until then, and when other engines see them. Every backend passes the same contract tests
(tests/test_commit_protocol.py):

* **one writer wins each commit number**: ``writing()`` gives exclusive use (a local OS lock)
  or ``commit()`` fails with :class:`CommitConflict` when another writer took that number
  first (object storage: put-if-absent), and the caller re-checks and retries;
* **all or nothing**: a writer killed at any point leaves either the whole commit or none of it,
  for eventlab's readers and for engines reading ``events/`` directly; ``recover()`` finishes
  or discards what a killed writer left;
* **readers need no lock**: ``refresh()`` applies commits made since the last look, only those
  whose files are visible;
* **durable**: what ``commit()`` returned from survives a crash of the machine.

The store core (:mod:`eventlab.store`) builds entries with :meth:`CommitProtocol.entry` and
never touches a backend's files or its :class:`~eventlab.storage.log.LogState` otherwise.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eventlab.errors import EventlabError
from eventlab.storage.log import Commit, DataFile, LogState
from eventlab.timeutil import to_utc

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class CommitConflict(EventlabError, RuntimeError):
    """Another writer committed the number this writer prepared; refresh and try again."""


class Staging(ABC):
    """One commit in preparation: new data files are written to :meth:`path` first."""

    txn: str

    @abstractmethod
    def path(self, rel: str) -> Path:
        """A local file to write the data file ``rel`` (``events/...``) to before the commit."""

    @abstractmethod
    def discard(self) -> None:
        """Drop everything staged (the commit did not happen)."""


class CommitProtocol(ABC):
    """How commits reach a backend; see the module docstring for the contract."""

    state: LogState
    clock: Clock
    #: what recovery did since this object was made (for messages and tests)
    recovered: list[str]

    @property
    @abstractmethod
    def location(self) -> str:
        """The store's folder or URL, for messages."""

    @abstractmethod
    def refresh(self) -> LogState:
        """Apply the commits other writers made since the last look; return the state."""

    @abstractmethod
    def writing(self, action: str) -> AbstractContextManager[None]:
        """Exclusive writing (after recovery); an I/O failure inside becomes a StorageError
        saying what was rolled back. ``action`` names the job ("append to", "compact")."""

    @abstractmethod
    def stage(self) -> Staging:
        """A new staging area for one commit."""

    @abstractmethod
    def commit(self, entry: Commit, staging: Staging) -> None:
        """Make ``entry`` (sealed, numbered ``state.commit + 1``) and its staged files durable
        and visible at once, then apply it to ``state``."""

    @abstractmethod
    def recover(self) -> list[str]:
        """Finish or discard what a killed writer left; say what was done. Needs ``writing``."""

    @abstractmethod
    def data_path(self, data_file: DataFile) -> str:
        """Where a reader opens a committed data file (a local path or a URL)."""

    @property
    def storage_options(self) -> dict[str, Any] | None:
        """Options for Polars' readers (object storage credentials); None for local files."""
        return None

    # ----------------------------------------------------------------- shared helpers
    def next_recorded_at(self) -> datetime:
        """Transaction time of the next commit: the clock, never earlier than the last one."""
        now = to_utc(self.clock(), name="clock()")
        last = self.state.recorded_at
        return max(now, datetime.fromisoformat(last)) if last else now

    def entry(self, kind: str, txn: str, **fields: Any) -> Commit:
        """The next log entry (number, previous hash and transaction time filled in), sealed."""
        recorded_at = fields.pop("recorded_at", None) or self.next_recorded_at()
        return Commit(
            number=self.state.commit + 1, kind=kind, txn=txn,
            recorded_at=recorded_at.isoformat(), prev_hash=self.state.head_hash, **fields,
        ).sealed()
