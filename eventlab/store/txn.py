"""Staging a commit so that a killed writer never leaves a visible partial batch.

A writer (holding the lock) stages data files in ``_txn/<txn>/``, writes ``intent.json`` naming
the final paths it will add and remove, moves the files into ``events/``, then creates the log
entry (the commit point), then deletes the removed files and its staging folder.

Recovery runs when the next writer takes the lock. For each leftover ``_txn/<txn>/``:

* the log has the commit: finish the clean-up (delete files it removed) -> *completed*;
* the log lacks it: delete every file it moved into ``events/`` -> *rolled back*.

Readers only ever look at files the log lists, so they never see a partial batch either way.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
from dataclasses import dataclass
from pathlib import Path

from eventlab.store.layout import LOG_DIR, TXN_DIR
from eventlab.store.log import fsync_dir

FAULT_ENV = "EVENTLAB_FAULT"


def fault(point: str) -> None:
    """Crash-test hook: SIGKILL this process at ``point`` when EVENTLAB_FAULT names it; raise
    OSError(ENOSPC) there when it is ``enospc:<point>`` (disk-full tests)."""
    wanted = os.environ.get(FAULT_ENV)
    if wanted == point:
        os.kill(os.getpid(), signal.SIGKILL)
    elif wanted == f"enospc:{point}":
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), point)


@dataclass
class Transaction:
    root: Path
    txn: str

    @property
    def folder(self) -> Path:
        return self.root / TXN_DIR / self.txn

    def staged(self, rel: str) -> Path:
        path = self.folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def write_intent(self, added: list[str], removed: list[str]) -> None:
        tmp = self.folder / "intent.json.tmp"
        tmp.write_text(json.dumps({"txn": self.txn, "added": added, "removed": removed}))
        os.replace(tmp, self.folder / "intent.json")
        fsync_dir(self.folder)

    def publish(self, added: list[str]) -> None:
        """Move staged files to their final place (same filesystem: each rename is atomic)."""
        for index, rel in enumerate(added):
            final = self.root / rel
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self.folder / rel, final)
            if index == 0:
                fault("mid_publish")
        for folder in {(self.root / rel).parent for rel in added}:
            fsync_dir(folder)

    def finish(self, removed: list[str]) -> None:
        for rel in removed:
            (self.root / rel).unlink(missing_ok=True)
        shutil.rmtree(self.folder, ignore_errors=True)


def recover(root: Path, committed: set[str], referenced: set[str]) -> list[str]:
    """Complete or roll back every interrupted transaction; return what was done."""
    actions: list[str] = []
    base = root / TXN_DIR
    if not base.exists():
        return actions
    for folder in sorted(p for p in base.iterdir() if p.is_dir()):
        intent = _read_intent(folder)
        if folder.name in committed:
            for rel in intent.get("removed", []):
                if rel not in referenced:
                    (root / rel).unlink(missing_ok=True)
            actions.append(f"completed interrupted commit {folder.name}")
        else:
            for rel in intent.get("added", []):
                if rel not in referenced:
                    (root / rel).unlink(missing_ok=True)
            actions.append(f"rolled back interrupted commit {folder.name}")
        # a kill inside write_commit leaves its temporary log entry (linked or not): drop it
        (root / LOG_DIR / f".tmp-{folder.name}.json").unlink(missing_ok=True)
        shutil.rmtree(folder, ignore_errors=True)
    return actions


def _read_intent(folder: Path) -> dict[str, list[str]]:
    try:
        data = json.loads((folder / "intent.json").read_text())
    except (OSError, ValueError):
        return {}  # no intent: nothing was moved out of the staging folder yet
    return data if isinstance(data, dict) else {}
