"""Which store, and which state of it: the store id and the head of the hash chain.

Every store has a stable id. ``EventStore.create`` writes a random one (a UUID) into
``_eventlab.json``; a store made before ids existed has none there, and gets one derived from
its creation time (UUID version 5), so the same folder always has the same id without being
written to (read-only stores and copies keep it). A copy of a store folder is the same store
(same id, same chain); a store re-created from the same data is another one.

A *chain head* (commit number, last position, commit hash) names one state of a store: the hash
covers that commit and, through ``prev_hash``, every commit before it. Exported read models
record both (see :mod:`eventlab.projections.lineage`).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eventlab.errors import CorruptStoreError
from eventlab.storage.layout import META_FILE

if TYPE_CHECKING:
    from eventlab.store.core import StoreCore

ID_KEY = "store_id"
#: namespace of the ids derived for stores made before ids existed
LEGACY_NAMESPACE = uuid.UUID("6f1d3c2e-5a4b-4e8f-9c7d-0e1f2a3b4c5d")


def new_store_id() -> str:
    """A fresh random store id (what ``EventStore.create`` writes)."""
    return str(uuid.uuid4())


def derived_store_id(meta: dict[str, Any]) -> str:
    """The id of a store whose metadata has none: a UUID5 of its creation time."""
    basis = meta.get("created_at") or json.dumps(meta, sort_keys=True, default=str)
    return str(uuid.uuid5(LEGACY_NAMESPACE, f"eventlab-store:{basis}"))


def store_id(root: Path) -> str:
    """The id of the store in ``root`` (written at creation, or derived; see the module)."""
    path = Path(root) / META_FILE
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise CorruptStoreError(
            f"{path} is unreadable ({exc}); it names the store. Hint: restore it from a backup."
        ) from exc
    if not isinstance(meta, dict):
        raise CorruptStoreError(f"{path} is not a JSON object; restore it from a backup.")
    value = meta.get(ID_KEY)
    return value if isinstance(value, str) and value else derived_store_id(meta)


@dataclass(frozen=True)
class ChainHead:
    """One state of a store: its last commit, last position and that commit's hash."""

    commit: int
    position: int
    hash: str


def chain_head(store: StoreCore) -> ChainHead:
    """The state ``store`` holds in memory now (one consistent reading: no refresh between)."""
    state = store.log_state
    return ChainHead(commit=state.commit, position=state.position, hash=state.head_hash)


def recorded_hash(root: Path, commit: int) -> str | None:
    """The hash the log's entry ``commit`` records (GENESIS for 0), or None when the entry is
    missing or unreadable. It does not recompute the hash: ``verify`` does that."""
    from eventlab.storage.layout import log_file
    from eventlab.storage.log import GENESIS_HASH

    if commit == 0:
        return GENESIS_HASH
    try:
        raw = json.loads(log_file(Path(root), commit).read_text())
    except (OSError, ValueError):
        return None
    value = raw.get("hash") if isinstance(raw, dict) else None
    return value if isinstance(value, str) else None
