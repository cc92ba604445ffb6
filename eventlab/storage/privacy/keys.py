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
from datetime import UTC, datetime
from pathlib import Path

from eventlab.errors import CorruptStoreError
from eventlab.storage.durable import create_new, overwrite_and_remove, sync_files, write_json

KEYS_DIR = "_keys"
KEY_BYTES = 32


def key_id(subject: str) -> str:
    return hashlib.sha256(f"eventlab-subject\x1f{subject}".encode()).hexdigest()[:32]


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
        """The key, or None when the subject was forgotten (tombstone). A key that is neither
        there nor forgotten is an error: values must not silently read as redacted."""
        key = self._read(kid)
        if key is None and not os.path.exists(f"{self._base}{kid}.forgotten"):
            raise CorruptStoreError(
                f"the key {kid} of a subject is missing from {self.folder} and the subject was "
                "never forgotten (no tombstone): the key file was deleted or _keys/ is "
                "incomplete. Restore _keys/ from a backup; `eventlab verify STORE` lists every "
                "missing key. (To forget the subject instead: `eventlab forget STORE SUBJECT`.)"
            )
        return key

    def _read(self, kid: str) -> bytes | None:
        """The key file's bytes; None when the subject is forgotten or has no key file."""
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
                "damaged. Restore _keys/ from a backup; `eventlab verify STORE` lists every "
                "damaged key (forgetting the subject makes its values read as redacted)."
            )
        return key

    def status(self, kid: str) -> str:
        """``ok``, ``forgotten``, ``missing`` (no key, no tombstone) or ``damaged``."""
        if os.path.exists(f"{self._base}{kid}.forgotten"):
            return "forgotten"
        path = self._key_path(kid)
        if not path.exists():
            return "missing"
        return "ok" if path.stat().st_size == KEY_BYTES else "damaged"

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
        keys = {kid: self._read(kid) for kid in kids}
        missing = [kid for kid, key in keys.items() if key is None]
        if missing:
            self.folder.mkdir(mode=0o700, exist_ok=True)
            for kid in missing:
                create_new(self._key_path(kid), os.urandom(KEY_BYTES))
            sync_files(self.folder, [self._key_path(kid) for kid in missing])
            keys.update({kid: self._read(kid) for kid in missing})  # the winner's, if raced
        return {kid: key for kid, key in keys.items() if key is not None}

    def forget(self, kid: str) -> bool:
        """Write the tombstone, then destroy the key; True when there was a key."""
        self.folder.mkdir(mode=0o700, exist_ok=True)
        stone = self._tombstone(kid)
        if not stone.exists():
            write_json(stone, {"forgotten_at": datetime.now(UTC).isoformat()}, indent=None)
        path = self._key_path(kid)
        had_key = path.exists()
        if had_key:
            overwrite_and_remove(path, KEY_BYTES)
        return had_key
