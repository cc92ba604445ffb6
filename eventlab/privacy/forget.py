"""Declaring personal columns and forgetting subjects (crypto-shredding).

``store.declare_personal("customer", columns=["name", "email"], subject="stream_id")`` makes
every later append encrypt those columns of ``customer`` events with the key of the row's
subject. ``store.forget("c-42")`` (CLI: ``eventlab forget STORE c-42``) destroys that subject's
key: state, history, exports and widgets then show ``"[redacted]"`` for its personal values,
while the event files and the hash-chained log stay byte for byte the same (``verify`` passes).

What forget does, under the writer lock: writes the tombstone ``_keys/<key id>.forgotten``,
overwrites and deletes ``_keys/<key id>.key``, deletes every snapshot (``_snapshots/`` are
caches of decrypted state; they are rebuilt on demand), drops the quarantined rows and redacts
the command-journal arguments that name the subject (:mod:`eventlab.privacy.scrub`), bumps
``forget_epoch`` in
``_privacy.json`` (an incremental export then rebuilds instead of merging old decrypted state),
and appends an audit line to ``_privacy_log.jsonl``.

What it cannot do: read models exported before (files outside the store, copies, backups of
``_keys/``) keep what they held; re-export them, and keep key backups under the same policy.
Deleting a file does not scrub the disk blocks it used (copy-on-write or journaling file
systems, SSDs): the key file is overwritten first, which is the usual best effort. A snapshot
build running in another process while ``forget`` runs may write a snapshot it decrypted just
before: run ``forget`` again once it ends (forget is idempotent and drops every snapshot).
Processes cache decrypting keys per ``forget_epoch``; a forget bumps it, so every read that
starts after ``forget`` returned shows the redaction.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import polars as pl

from eventlab.errors import ValidationError, require
from eventlab.storage.privacy.config import (
    PERSONAL_ENVELOPE,
    Personal,
    audit,
    check_declaration,
    load_config,
    save_config,
)
from eventlab.storage.privacy.keys import KeyStore, key_id

if TYPE_CHECKING:
    from eventlab.store.core import StoreCore

from eventlab.privacy.scrub import drop_from_quarantine, redact_journal
from eventlab.storage.layout import SNAPSHOT_DIR


@dataclass(frozen=True)
class ForgetResult:
    """What ``forget`` did. ``events`` counts the subject's events in declared stream types."""

    subject: str
    key_id: str
    had_key: bool
    events: int
    snapshots_removed: int
    #: quarantined rows naming the subject, dropped (see :mod:`eventlab.privacy.scrub`)
    quarantine_rows_dropped: int = 0
    #: command journal rows of the subject whose payload and reason were redacted
    journal_rows_redacted: int = 0

    def _repr_html_(self) -> str:
        return forget_result_html(self)


def forget_result_html(result: ForgetResult) -> str:
    """Pure HTML for a ForgetResult (a card with one row per fact)."""
    import eventlab.render as render

    rows = [
        ("subject", result.subject), ("key id", result.key_id),
        ("key", "destroyed" if result.had_key else "none existed (tombstone written)"),
        ("events now redacted", result.events), ("snapshots removed", result.snapshots_removed),
        ("quarantined rows dropped", result.quarantine_rows_dropped),
        ("journal rows redacted", result.journal_rows_redacted),
        ("event files and log", "unchanged (verify passes)"),
    ]
    return render.card("forget", render.fields(rows))


def declare_personal(store: StoreCore, stream_type: str, columns: list[str] | tuple[str, ...],
                     subject: str = "stream_id") -> None:
    """Declare ``columns`` of ``stream_type`` personal, keyed by the ``subject`` column."""
    require("cryptography", "crypto")
    columns = [columns] if isinstance(columns, str) else list(columns)
    check_declaration(stream_type, columns, subject)
    with store.protocol.writing("declare personal columns in"):
        config = load_config(store.root)
        old = config.personal.get(stream_type)
        if old is not None and old.subject != subject:
            raise ValidationError(
                f"stream type {stream_type!r} already names its subject by {old.subject!r}; "
                "a declaration cannot change it (stored values are keyed by it)."
            )
        new = [c for c in columns if old is None or c not in old.columns]
        stored = {c for f in store.log_state.files.values() if f.stream_type == stream_type
                  for c in f.columns} | _envelope_in_clear(store, stream_type, new)
        clear = sorted(c for c in new if c in stored)
        if clear:
            raise ValidationError(
                f"column(s) {clear} of {stream_type!r} already hold values stored in clear, "
                "which stay in the immutable log; declaring them personal now would promise a "
                "forget that cannot work. Hint: declare personal columns before the first "
                "append, or use a new column name for personal data from now on."
            )
        merged = sorted({*(old.columns if old else ()), *columns})
        personal = {**config.personal, stream_type: Personal(tuple(merged), subject)}
        save_config(store.root, replace(config, personal=personal))
        audit(store.root, "declare", stream_type=stream_type, columns=merged, subject=subject)


def _envelope_in_clear(store: StoreCore, stream_type: str, columns: list[str]) -> set[str]:
    """Envelope columns (``actor``) among ``columns`` that stored events already hold."""
    wanted = [c for c in columns if c in PERSONAL_ENVELOPE]
    if not wanted or store.head == 0:
        return set()
    counts = store.scan(stream_types=stream_type).select(
        pl.col(c).is_not_null().sum() for c in wanted).collect()
    return {c for c in wanted if counts[c].item()}


def forget(store: StoreCore, subject: str) -> ForgetResult:
    """Destroy the key of ``subject``; see the module docstring for every effect."""
    if not isinstance(subject, str) or not subject:
        raise ValidationError("subject must be a non-empty string (the value of the subject "
                              "column, e.g. a stream_id).")
    kid = key_id(subject)
    with store.protocol.writing("forget a subject in"):
        config = load_config(store.root)
        events = _events_of(store, subject)
        had_key = KeyStore(store.root).forget(kid)
        removed = _drop_snapshots(store)
        dropped = drop_from_quarantine(store.root, subject)
        redacted = redact_journal(store.root, subject)
        save_config(store.root, replace(config, forget_epoch=config.forget_epoch + 1))
        audit(store.root, "forget", key_id=kid, had_key=had_key, events=events,
              snapshots_removed=removed, quarantine_rows_dropped=dropped,
              journal_rows_redacted=redacted)
    return ForgetResult(subject, kid, had_key, events, removed, dropped, redacted)


def _events_of(store: StoreCore, subject: str) -> int:
    total = 0
    for stream_type, spec in load_config(store.root).personal.items():
        frame = store.scan(stream_types=stream_type, include=[spec.subject])
        if spec.subject in frame.collect_schema().names():
            matches = frame.filter(pl.col(spec.subject).cast(pl.String) == subject)
            total += int(matches.select(pl.len()).collect().item())
    return total


def _drop_snapshots(store: StoreCore) -> int:
    folder = store.root / SNAPSHOT_DIR
    if not folder.exists():
        return 0
    count = sum(1 for p in folder.rglob("*.parquet"))
    shutil.rmtree(folder)
    return count
