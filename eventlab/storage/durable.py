"""Durability: the one way eventlab writes a file that must survive a crash or a power cut.

Every such file is written the same way, with one fsync policy:

1. the bytes go to a temporary file in the target's own folder (same file system);
2. the temporary file is flushed and ``fsync``-ed (its data is on disk);
3. it is renamed over the target (``os.replace``, atomic), or linked to it when the target
   must not exist yet (``exclusive=True``: the commit log's "create, fail if present");
4. the folder is ``fsync``-ed (the new name is on disk).

A reader therefore sees the old file or the whole new one, never a prefix; after a power cut
the file is the old or the new version, and a rename the caller reported as done stays done.
Folders made on the way are fsync-ed too (:func:`make_dirs`).

``EVENTLAB_FSYNC_TRACE=<file>`` appends one line per durability step (``fsync-file``,
``rename``, ``link``, ``fsync-dir`` with the path) so a test can check the order of the steps
in a real process (tests/test_durable.py).
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

TRACE_ENV = "EVENTLAB_FSYNC_TRACE"


def _trace(step: str, path: Path | str) -> None:
    target = os.environ.get(TRACE_ENV)
    if target:
        with open(target, "a") as handle:
            handle.write(f"{step} {path}\n")


def fsync_file(path: Path | str) -> None:
    """Flush a file's data to disk (it must exist)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    _trace("fsync-file", path)


def fsync_dir(path: Path | str) -> None:
    """Flush a folder's entries (names created, renamed or removed in it) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    _trace("fsync-dir", path)


def make_dirs(path: Path) -> None:
    """``mkdir -p`` whose new folders are durable (each parent fsync-ed after its child)."""
    missing: list[Path] = []
    current = path
    while not current.exists():
        missing.append(current)
        current = current.parent
    for folder in reversed(missing):
        folder.mkdir(exist_ok=True)
        fsync_dir(folder.parent)


def temporary_name(path: Path) -> Path:
    """A unique hidden sibling of ``path`` (``.<name>.<random>.tmp``) for staging a write."""
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")


def is_temporary(path: Path) -> bool:
    """True for a file :func:`temporary_name` made (left over by a killed writer)."""
    return path.name.startswith(".") and path.name.endswith(".tmp")


def _commit(tmp: Path, path: Path, exclusive: bool) -> None:
    fsync_file(tmp)
    if exclusive:
        try:
            os.link(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        _trace("link", path)
    else:
        os.replace(tmp, path)
        _trace("rename", path)
    fsync_dir(path.parent)


@contextmanager
def atomic_path(path: Path | str, *, exclusive: bool = False) -> Iterator[Path]:
    """Yield a temporary path to write ``path``'s new content to; on a clean exit make it
    durable and atomically visible (see the module docstring). On an error the temporary
    file is removed and ``path`` is untouched. ``exclusive``: raise FileExistsError instead of
    replacing an existing ``path``."""
    target = Path(path)
    make_dirs(target.parent)
    tmp = temporary_name(target)
    try:
        yield tmp
        _commit(tmp, target, exclusive)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes(path: Path | str, data: bytes, *, exclusive: bool = False) -> None:
    """Atomically and durably write ``data`` to ``path``."""
    with atomic_path(path, exclusive=exclusive) as tmp, open(tmp, "wb") as handle:
        handle.write(data)


def write_text(path: Path | str, text: str, *, exclusive: bool = False) -> None:
    write_bytes(path, text.encode(), exclusive=exclusive)


def write_json(
    path: Path | str, data: Any, *, exclusive: bool = False, indent: int | None = 1
) -> None:
    """Atomically and durably write ``data`` as JSON (datetimes and other objects as str)."""
    write_text(path, json.dumps(data, indent=indent, default=str), exclusive=exclusive)


def write_with(
    path: Path | str, writer: Callable[[Path], object], *, exclusive: bool = False
) -> None:
    """Atomically and durably write ``path`` with ``writer(tmp_path)``, e.g.
    ``write_with(p, lambda tmp: frame.write_parquet(tmp))``."""
    with atomic_path(path, exclusive=exclusive) as tmp:
        writer(tmp)


def append_line(path: Path | str, line: str, *, mode: int = 0o600) -> None:
    """Append one line to a log file with a single ``write`` call, then fsync it."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, mode)
    try:
        os.write(fd, (line.rstrip("\n") + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    _trace("fsync-file", path)


def _exchange(new: Path, target: Path) -> bool:
    """Swap two folders in one atomic step (Linux ``renameat2(RENAME_EXCHANGE)``). False where
    the system cannot."""
    import ctypes
    import errno

    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    at_cwd, exchange = -100, 2
    if renameat2(at_cwd, os.fsencode(new), at_cwd, os.fsencode(target), exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EXDEV):
        return False
    raise OSError(code, os.strerror(code), str(target))


def fsync_tree(folder: Path) -> None:
    """fsync every file and folder below ``folder`` (deepest first), then ``folder`` itself."""
    for top, _dirs, names in sorted(os.walk(folder), key=lambda w: -len(Path(w[0]).parts)):
        for name in names:
            fsync_file(Path(top) / name)
        fsync_dir(top)


def replace_folder(new: Path, target: Path, *, midway: Callable[[], None] | None = None) -> None:
    """Replace folder ``target`` by the complete folder ``new`` (same parent), durably.

    Where the system can exchange two folders it is one atomic step; elsewhere two renames,
    and a crash between them is undone by :func:`restore_folder`. ``midway`` runs between
    the steps (a crash-test hook)."""
    fsync_tree(new)
    if target.exists() and _exchange(new, target):
        fsync_dir(target.parent)
        if midway is not None:
            midway()
        shutil.rmtree(new, ignore_errors=True)  # ``new`` now holds the previous folder
        return
    old = target.with_name(f".{target.name}.old")
    if target.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
    if midway is not None:
        midway()
    os.replace(new, target)
    fsync_dir(target.parent)
    shutil.rmtree(old, ignore_errors=True)


def restore_folder(target: Path) -> None:
    """Undo a :func:`replace_folder` that was killed between its two renames."""
    old = target.with_name(f".{target.name}.old")
    if old.exists() and not target.exists():
        os.replace(old, target)
        fsync_dir(target.parent)


def create_new(path: Path | str, data: bytes, *, mode: int = 0o600) -> bool:
    """Create ``path`` with ``data`` unless it exists (then False), without a sync of its own:
    for many small files made durable together by :func:`sync_files`. Readers never see a
    partial file (written under a temporary name, then linked)."""
    target = Path(path)
    tmp = temporary_name(target)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    try:
        os.link(tmp, target)
    except FileExistsError:
        return False
    finally:
        os.unlink(tmp)
    return True


def sync_files(folder: Path, files: list[Path]) -> None:
    """Make many new files of one folder durable: one ``syncfs`` of their file system (Linux),
    else an fsync per file; then the folder (their names)."""
    if _syncfs(folder) != 0:
        for path in files:
            fsync_file(path)
    fsync_dir(folder)


def _syncfs(folder: Path) -> int:
    import ctypes

    fd = os.open(folder, os.O_RDONLY)
    try:
        done = int(ctypes.CDLL(None, use_errno=True).syncfs(fd))
    except (OSError, AttributeError):
        return -1
    finally:
        os.close(fd)
    _trace("syncfs", folder)
    return done


def overwrite_and_remove(path: Path, size: int) -> None:
    """Overwrite ``size`` bytes of ``path`` with zeros on disk, then remove it and make the
    removal durable (best effort against recovery of the old bytes: copy-on-write or
    journaling file systems and SSDs may keep old blocks)."""
    with open(path, "r+b") as handle:
        handle.write(b"\0" * size)
        handle.flush()
        os.fsync(handle.fileno())
    path.unlink()
    fsync_dir(path.parent)
