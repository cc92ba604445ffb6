"""Which payload columns are personal data, per stream type: ``STORE/_privacy.json``.

.. code-block:: json

    {"format": 1, "forget_epoch": 2,
     "personal": {"customer": {"columns": ["email", "name"], "subject": "stream_id"}}}

``subject`` names the column whose value identifies the person (``stream_id``, or a payload
column such as ``customer_id``); its values are stored in clear, so use a surrogate id, never
personal data itself. ``forget_epoch`` counts ``forget`` calls: exports record it and rebuild
instead of updating when it changed. Declarations only grow (a column cannot be undeclared:
its stored values stay encrypted).

This file and ``_keys/`` are configuration, not history: the hash-chained commit log does not
cover them (verify checks events, not keys). Every change is also appended to the audit file
``_privacy_log.jsonl``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eventlab.errors import CorruptStoreError, ValidationError
from eventlab.storage.durable import append_line, write_json

CONFIG_FILE = "_privacy.json"
#: envelope columns that may be declared personal: who did it (often a person's name or login,
#: from ``org:resource`` in process-mining logs); the store needs no other envelope column in clear
PERSONAL_ENVELOPE = ("actor",)
AUDIT_FILE = "_privacy_log.jsonl"
FORMAT = 1


@dataclass(frozen=True)
class Personal:
    """The personal columns of one stream type and the column naming their subject."""

    columns: tuple[str, ...]
    subject: str


@dataclass(frozen=True)
class PrivacyConfig:
    personal: dict[str, Personal] = field(default_factory=dict)
    forget_epoch: int = 0

    def columns(self) -> dict[str, tuple[str, ...]]:
        """Personal column -> stream types declaring it."""
        out: dict[str, list[str]] = {}
        for stream_type, spec in sorted(self.personal.items()):
            for column in spec.columns:
                out.setdefault(column, []).append(stream_type)
        return {c: tuple(types) for c, types in out.items()}

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT, "forget_epoch": self.forget_epoch,
            "personal": {t: {"columns": list(p.columns), "subject": p.subject}
                         for t, p in sorted(self.personal.items())},
        }


def _parse(path: Path, text: str) -> PrivacyConfig:
    try:
        data = json.loads(text)
        personal = {
            str(t): Personal(tuple(str(c) for c in p["columns"]), str(p["subject"]))
            for t, p in data.get("personal", {}).items()
        }
        return PrivacyConfig(personal, int(data.get("forget_epoch", 0)))
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise CorruptStoreError(
            f"{path} is not a valid privacy configuration ({exc}). It lists the personal "
            "columns per stream type; restore it from a backup (its declarations only grow)."
        ) from None


def load_config(root: Path) -> PrivacyConfig:
    """The store's privacy configuration (empty when it declares nothing). Read afresh every
    time (a small file): a ``forget`` by another process must count at once."""
    path = root / CONFIG_FILE
    try:
        text = path.read_text()
    except FileNotFoundError:
        return PrivacyConfig()
    return _parse(path, text)


def save_config(root: Path, config: PrivacyConfig) -> None:
    """Replace ``_privacy.json`` atomically and durably (eventlab.storage.durable)."""
    write_json(root / CONFIG_FILE, config.to_json())


def audit(root: Path, action: str, **details: Any) -> None:
    """Append one line to ``_privacy_log.jsonl`` (one ``write`` call, then fsync)."""
    line = json.dumps({"at": datetime.now(UTC).isoformat(), "action": action, **details})
    append_line(root / AUDIT_FILE, line)


def read_audit(root: Path) -> list[dict[str, Any]]:
    """The audit lines of ``_privacy_log.jsonl`` (declarations and forgets), oldest first."""
    path = root / AUDIT_FILE
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def check_declaration(stream_type: str, columns: list[str], subject: str) -> None:
    from eventlab.envelope import ENVELOPE, PARTITION_ONLY
    from eventlab.storage.layout import check_stream_types

    check_stream_types([stream_type])
    if not columns or not all(isinstance(c, str) and c for c in columns):
        raise ValidationError("columns must be a non-empty list of payload column names (or "
                              "'actor').")
    reserved = [c for c in columns
                if (c in ENVELOPE and c not in PERSONAL_ENVELOPE) or c in PARTITION_ONLY]
    if reserved:
        raise ValidationError(
            f"{reserved} are envelope columns the store needs in clear; personal columns are "
            f"payload columns or {list(PERSONAL_ENVELOPE)}. Hint: keep personal data in payload "
            "columns and use a surrogate id as stream_id."
        )
    if subject in columns:
        raise ValidationError(
            f"the subject column {subject!r} cannot be personal itself: its values name the "
            "keys. Hint: use a surrogate id (a customer number) as the subject."
        )
