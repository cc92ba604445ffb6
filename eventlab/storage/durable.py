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
