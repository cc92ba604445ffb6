"""One AES-256 key per subject, in ``STORE/_keys/`` (folder 0700, files 0600).

A subject's key id is the first 32 hex digits of SHA-256 over ``"eventlab-subject\\x1f" +
subject``; ``_keys/<key id>.key`` holds the 32 key bytes. ``forget`` writes the tombstone
``_keys/<key id>.forgotten`` (when, no key material) and then deletes the key file: from then on
the subject's ciphertexts read as redacted, and appending personal values for that subject is
refused (a new key could never read the old values, and the subject asked to be forgotten).

Keys are created atomically (exclusive temporary file, fsync, ``link``), under the store's
writer lock like every append.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path

from eventlab.errors import CorruptStoreError

KEYS_DIR = "_keys"
KEY_BYTES = 32


def key_id(subject: str) -> str:
    return hashlib.sha256(f"eventlab-subject\x1f{subject}".encode()).hexdigest()[:32]


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class KeyStore:
    """The key files of one store. Reads are not cached across calls: a ``forget`` in another
    process takes effect on the next scan."""

    def __init__(self, root: Path) -> None:
        self.folder = root / KEYS_DIR
        self._base = str(self.folder) + os.sep  # plain strings: thousands of keys per batch

    def _key_path(self, kid: str) -> Path:
        return self.folder / f"{kid}.key"

    def _tombstone(self, kid: str) -> Path:
        return self.folder / f"{kid}.forgotten"

    def load(self, kid: str) -> bytes | None:
        """The key, or None when the subject was forgotten (or never had one)."""
        if os.path.exists(f"{self._base}{kid}.forgotten"):
            return None
        try:
            with open(f"{self._base}{kid}.key", "rb") as handle:
                key = handle.read()
        except FileNotFoundError:
            return None
        if len(key) != KEY_BYTES:
            raise CorruptStoreError(
                f"key file {self._key_path(kid)} holds {len(key)} bytes, not {KEY_BYTES}: it was "
                "damaged. Restore _keys/ from a backup; without the key its values read as "
                "redacted only once the subject is forgotten (eventlab forget)."
            )
        return key

    def forgotten_at(self, kid: str) -> str | None:
        try:
            data = json.loads(self._tombstone(kid).read_text())
        except FileNotFoundError:
            return None
        except ValueError:
            return "unknown time"
        return str(data.get("forgotten_at", "unknown time"))

    def get_or_create(self, kids: list[str]) -> dict[str, bytes]:
        """The keys of ``kids``; missing ones are created (random, 0600) and made durable with
        one file-system sync before they are returned (so before any commit uses them)."""
        keys = {kid: self.load(kid) for kid in kids}
        missing = [kid for kid, key in keys.items() if key is None]
        if missing:
            self.folder.mkdir(mode=0o700, exist_ok=True)
            created = {kid: self._create(kid) for kid in missing}
            _sync(self.folder, [f"{self._base}{kid}.key" for kid in missing])
            keys.update(created)
        return {kid: key for kid, key in keys.items() if key is not None}

    def _create(self, kid: str) -> bytes | None:
        tmp = f"{self._base}.{kid}.{uuid.uuid4().hex}.tmp"
        key = os.urandom(KEY_BYTES)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, key)
        finally:
            os.close(fd)
        try:
            os.link(tmp, f"{self._base}{kid}.key")
        except FileExistsError:
            return self.load(kid)  # created meanwhile: use that one
        finally:
            os.unlink(tmp)
        return key

    def forget(self, kid: str) -> bool:
        """Write the tombstone, then destroy the key; True when there was a key."""
        self.folder.mkdir(mode=0o700, exist_ok=True)
        stone = self._tombstone(kid)
        if not stone.exists():
            tmp = self.folder / f".{kid}.{uuid.uuid4().hex}.tmp"
            tmp.write_text(json.dumps({"forgotten_at": datetime.now(UTC).isoformat()}))
            os.replace(tmp, stone)
        path = self._key_path(kid)
        had_key = path.exists()
        if had_key:
            _overwrite(path)
            path.unlink()
        _fsync_dir(self.folder)
        return had_key


def _sync(folder: Path, files: list[str]) -> None:
    """Make new key files durable: one ``syncfs`` of their file system (Linux), else an fsync
    per file; then the folder (their names)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        if _syncfs(fd) != 0:
            for path in files:
                with open(path, "rb") as handle:
                    os.fsync(handle.fileno())
        os.fsync(fd)
    finally:
        os.close(fd)


def _syncfs(fd: int) -> int:
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.syncfs(fd))
    except (OSError, AttributeError):
        return -1


def _overwrite(path: Path) -> None:
    """Overwrite the key bytes in place before unlinking (best effort: file systems with
    copy-on-write or journaling may keep old blocks; see the privacy docs)."""
    with open(path, "r+b") as handle:
        handle.write(b"\0" * KEY_BYTES)
        handle.flush()
        os.fsync(handle.fileno())
