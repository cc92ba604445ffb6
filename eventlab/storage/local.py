"""The commit protocol for a store in a local folder.

A commit, holding the store's writer lock (an OS lock the kernel releases if the holder dies):

1. ``stage``: new data files are written to ``_txn/<txn>/events/...``, invisible to everyone;
2. ``commit``: the staged files and their folders are fsync-ed, then the log entry is created
   (``_log/<number>.json``, exclusive and durable): **the commit point**. From here recovery
   rolls the commit forward;
3. the files are published through a publication tree (:mod:`eventlab.storage.trees`): one
   atomic switch of ``events/`` makes all of them visible to every engine at once;
4. the staging folder is removed.

``recover`` (run by the next writer, and by ``open`` when no writer is active) rolls a commit
whose log entry exists forward (its files are still staged) and discards every other staging
folder. Readers (``refresh``) apply only commits up to the version ``events/`` shows, so they
never see a commit before other engines do.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from eventlab.errors import CorruptStoreError, LockTimeoutError, StorageError, io_errno
from eventlab.errors import storage_error as _storage_error
from eventlab.storage import trees
from eventlab.storage.durable import fsync_dir, fsync_file, is_temporary
from eventlab.storage.faults import fault
from eventlab.storage.layout import EVENTS_DIR, LOG_DIR, TXN_DIR
from eventlab.storage.lock import writer_lock
from eventlab.storage.log import Commit, DataFile, LogState, read_commits, write_commit
from eventlab.storage.protocol import Clock, CommitProtocol, Staging, utc_now


@dataclass
class LocalStaging(Staging):
    folder: Path
    txn: str

    def path(self, rel: str) -> Path:
        path = self.folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def discard(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    def make_durable(self) -> None:
        """fsync every staged file, then every staging folder (deepest first)."""
        if not self.folder.exists():
            return
        folders = [self.folder, *(p for p in self.folder.rglob("*") if p.is_dir())]
        for path in self.folder.rglob("*"):
            if path.is_file():
                fsync_file(path)
        for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
            fsync_dir(folder)


class LocalCommitProtocol(CommitProtocol):
    """Commits to a folder: OS writer lock, staging, log entry, publication-tree switch."""

    def __init__(
        self, root: Path, *, lock_timeout: float = 10.0, clock: Clock = utc_now
    ) -> None:
        self.root = root
        self.lock_timeout = lock_timeout
        self.clock = clock
        self.state = LogState()
        self.recovered: list[str] = []

    @property
    def location(self) -> str:
        return str(self.root)

    def refresh(self) -> LogState:
        visible = trees.active_version(self.root)
        for entry in read_commits(self.root, after=self.state.commit, upto=visible):
            self.state.apply(entry)
        return self.state

    def data_path(self, data_file: DataFile) -> str:
        return str(self.root / data_file.path)

    # ----------------------------------------------------------------- writing
    @contextmanager
    def writing(self, action: str) -> Iterator[None]:
        try:
            with writer_lock(self.root, timeout=self.lock_timeout):
                self.recover()
                before = self.state.commit
                try:
                    yield
                except Exception as exc:
                    if io_errno(exc) is None:
                        raise
                    outcome = self._roll_back_failed_write(before)
                    raise _storage_error(exc, f"{action} store {self.root}", outcome) from exc
        except Exception as exc:
            if isinstance(exc, StorageError) or io_errno(exc) is None:
                raise
            outcome = "Nothing was changed."
            raise _storage_error(exc, f"{action} store {self.root}", outcome) from exc

    def _roll_back_failed_write(self, before: int) -> str:
        try:
            self.recover()  # rolls the failed commit forward (log entry exists) or discards it
        except Exception:
            if read_commits(self.root, after=before):
                return ("The commit itself was written (the log lists it) but is not visible yet; "
                        "EventStore.open or the next writer publishes it once the disk allows.")
            return ("Nothing of it is visible: events/ still shows the previous commit; the next "
                    "writer removes what it left in _txn/.")
        if self.state.commit > before:
            return "The commit itself was written (the log lists it) and is now visible."
        return "Nothing of it was committed, and the files it had staged were removed."

    def stage(self) -> LocalStaging:
        fault("before_stage")
        txn = uuid.uuid4().hex
        return LocalStaging(self.root / TXN_DIR / txn, txn)

    def commit(self, entry: Commit, staging: Staging) -> None:
        assert isinstance(staging, LocalStaging) and entry.number == self.state.commit + 1
        staging.make_durable()
        fault("after_stage")
        write_commit(self.root, entry)
        fault("after_commit")
        self._publish()
        fault("after_switch")
        staging.discard()

    def _publish(self) -> None:
        """Switch events/ to the log's head (rolling forward every logged commit)."""
        def commits_after(version: int) -> list[Commit]:
            return read_commits(self.root, after=version)

        def source(entry: Commit, rel: str) -> Path:
            if entry.number <= self.state.commit:
                return self.root / rel  # already visible: link from the active tree
            staged = self.root / TXN_DIR / entry.txn / rel
            if not staged.exists():
                raise CorruptStoreError(
                    f"commit {entry.number} lists {rel}, but its staged copy is gone from "
                    f"{TXN_DIR}/{entry.txn}/; the store cannot finish publishing it. Run "
                    f"`eventlab verify {self.root}`."
                )
            return staged

        trees.publish(self.root, commits_after, source)
        self.refresh()

    # ----------------------------------------------------------------- recovery
    def recover(self) -> list[str]:
        """Adopt the older layout, roll a logged commit forward, discard other staging."""
        actions: list[str] = []
        events = self.root / EVENTS_DIR
        if not events.is_symlink():  # older layout (a plain folder), or killed while adopting
            self.refresh()  # no publication tree yet: every logged commit counts
            if events.is_dir():
                actions += _recover_legacy(self.root, self.state.txns, set(self.state.files))
            actions += trees.adopt_folder(self.root, self.state.files, self.state.commit)
        self.refresh()
        if read_commits(self.root, after=self.state.commit):
            self._publish()
            actions.append(f"completed interrupted commit {self.state.commit}")
        actions += self._discard_staging()
        self.recovered += actions
        return actions

    def _discard_staging(self) -> list[str]:
        actions: list[str] = []
        base = self.root / TXN_DIR
        for folder in sorted(p for p in base.iterdir() if p.is_dir()) if base.exists() else []:
            shutil.rmtree(folder, ignore_errors=True)
            if folder.name not in self.state.txns:
                actions.append(f"rolled back interrupted commit {folder.name}")
        log = self.root / LOG_DIR
        for stray in (p for p in log.iterdir() if is_temporary(p) or p.name.startswith(".tmp-")):
            stray.unlink(missing_ok=True)  # a log entry a killed writer had not linked yet
        return actions


def _recover_legacy(root: Path, txns: set[str], referenced: set[str]) -> list[str]:
    """Interrupted commits of the older protocol (files moved into a plain events/ folder
    before the log entry): remove the files of those the log lacks."""
    actions: list[str] = []
    base = root / TXN_DIR
    for folder in sorted(p for p in base.iterdir() if p.is_dir()) if base.exists() else []:
        intent = _read_intent(folder)
        doomed = intent.get("removed" if folder.name in txns else "added", [])
        for rel in doomed:
            if rel not in referenced:
                (root / rel).unlink(missing_ok=True)
        shutil.rmtree(folder, ignore_errors=True)
        done = "completed" if folder.name in txns else "rolled back"
        actions.append(f"{done} interrupted commit {folder.name}")
    return actions


def _read_intent(folder: Path) -> dict[str, list[str]]:
    try:
        data = json.loads((folder / "intent.json").read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def try_recover(protocol: LocalCommitProtocol) -> None:
    """Recover at open when no writer is active (a live writer's staging is its own)."""
    try:
        with writer_lock(protocol.root, timeout=0):
            protocol.recover()
    except LockTimeoutError:
        pass  # a live writer holds the lock: whatever is staged is its own
    except OSError:
        pass  # a read-only store: nothing can be recovered, and readers ignore _txn/
