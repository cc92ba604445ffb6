"""One writer at a time across processes: an OS file lock (released by the kernel if the holder
dies, even by SIGKILL) plus a small note of who holds it, for error messages."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from filelock import FileLock, Timeout

from eventlab.errors import LockTimeoutError
from eventlab.storage.layout import LOCK_FILE, PID_FILE


@contextmanager
def writer_lock(root: Path, timeout: float) -> Iterator[None]:
    """Hold the store's writer lock; wait up to ``timeout`` seconds (0 = try once)."""
    lock = FileLock(
        str(root / LOCK_FILE), timeout=timeout, preserve_lock_file=True, fallback_to_soft=False
    )
    started = time.monotonic()
    try:
        _acquire(lock, root, timeout)
    except Timeout:
        waited = time.monotonic() - started
        raise LockTimeoutError(
            f"another writer holds the lock of store {root} ({_holder(root)}); waited "
            f"{waited:.1f} s. Readers are not affected. Retry when it finishes, or pass a longer "
            "lock_timeout= (CLI: --lock-timeout)."
        ) from None
    try:
        (root / PID_FILE).write_text(
            f"pid {os.getpid()} since {datetime.now(UTC).isoformat(timespec='seconds')}"
        )
        yield
    finally:
        lock.release()


def _acquire(lock: FileLock, root: Path, timeout: float) -> None:
    """Take the lock; if someone else holds it and we may wait, say so once on the
    ``eventlab`` logger (stderr when nothing else is configured) before waiting."""
    try:
        lock.acquire(blocking=False)
        return
    except Timeout:
        if timeout == 0:
            raise
    logging.getLogger("eventlab").warning(
        "eventlab: waiting up to %.0f s for the writer lock of %s (%s); Ctrl-C stops",
        timeout, root, _holder(root),
    )
    lock.acquire()


def _holder(root: Path) -> str:
    try:
        return (root / PID_FILE).read_text().strip() or "unknown holder"
    except OSError:
        return "unknown holder"
