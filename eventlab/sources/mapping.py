"""Which source columns (CSV) or keys (JSON Lines) hold the envelope fields.

Every column that is not mapped becomes a payload column. Without a mapping, a process-mining
export (``case:concept:name`` / ``concept:name`` / ``time:timestamp``, plus ``org:resource`` as
the actor when present) or an eventlab export (``stream_id`` / ``event_type`` / ``occurred_at``)
is recognised.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

from eventlab.envelope import ENVELOPE, PARTITION_ONLY
from eventlab.errors import MappingError

#: Source names that cannot be payload columns (the store owns them) get this prefix.
RENAMED_PREFIX = "source_"


@dataclass(frozen=True)
class ColumnMapping:
    """Source column names of the envelope fields; unmapped columns become payload.

    ``stream_type`` names a column holding each row's stream type (empty values fall back to the
    ``stream_type`` argument of the reader). ``timestamp_format`` is a strftime format for the
    timestamp column (e.g. ``"%d/%m/%Y %H:%M"``); without it ISO 8601 variants are recognised.
    """

    stream_id: str
    event_type: str
    timestamp: str
    version: str | None = None
    event_id: str | None = None
    actor: str | None = None
    stream_type: str | None = None
    timestamp_format: str | None = None

    @classmethod
    def process_mining(cls, actor: str | None = "org:resource") -> ColumnMapping:
        """pm4py / XES-style column names (``case:concept:name``, ``concept:name``, ...)."""
        return cls("case:concept:name", "concept:name", "time:timestamp", actor=actor)

    def columns(self) -> dict[str, str]:
        """Envelope field -> source column, for the fields this mapping sets."""
        return {
            f.name: value for f in fields(self)
            if f.name != "timestamp_format" and (value := getattr(self, f.name)) is not None
        }


_ENVELOPE_OPTIONAL = ("version", "event_id", "actor", "stream_type")


def default_mapping(columns: Sequence[str]) -> ColumnMapping:
    """The mapping used when none is given, recognised from the column names."""
    present = set(columns)
    pm = ColumnMapping.process_mining()
    if {pm.stream_id, pm.event_type, pm.timestamp} <= present:
        return ColumnMapping.process_mining("org:resource" if "org:resource" in present else None)
    if {"stream_id", "event_type", "occurred_at"} <= present:
        optional = {name: name for name in _ENVELOPE_OPTIONAL if name in present}
        return ColumnMapping("stream_id", "event_type", "occurred_at", **optional)
    raise MappingError(
        f"no mapping given and the columns {_shown(columns)} are neither a process-mining "
        "export (case:concept:name, concept:name, time:timestamp) nor an eventlab export "
        "(stream_id, event_type, occurred_at).",
        hint="pass mapping=ColumnMapping(stream_id='case_id', event_type='activity', "
        "timestamp='time') with your column names.",
        cli_hint="name your columns with --stream-id COLUMN --event-type COLUMN --timestamp "
        "COLUMN (see eventlab import --help).",
    )


_CLI_FLAG = {"stream_type": "stream-type-column"}  # the mapping field -> its eventlab import flag


def check_mapping(mapping: ColumnMapping, columns: Sequence[str]) -> None:
    """Raise a ValidationError naming every mapped column the source does not have."""
    missing = {k: v for k, v in mapping.columns().items() if v not in set(columns)}
    if missing:
        wrong = ", ".join(f"{k}={v!r}" for k, v in missing.items())
        flags = ", ".join(f"--{_CLI_FLAG.get(k, k.replace('_', '-'))} {v}"
                          for k, v in missing.items())
        raise MappingError(
            f"the mapping names column(s) the file does not have: {wrong}. Available columns: "
            f"{_shown(columns)}.",
            hint="fix the ColumnMapping field(s), names are case-sensitive.",
            cli_hint=f"fix {flags} (column names are case-sensitive).",
        )


def payload_names(columns: Sequence[str], mapping: ColumnMapping) -> dict[str, str]:
    """Source column -> payload column name, for the unmapped columns.

    Names the store reserves (``position``, ``recorded_at``, ``version``, ...) are prefixed with
    ``source_`` so a source column can never overwrite an envelope field.
    """
    used = set(mapping.columns().values())
    out: dict[str, str] = {}
    taken = set(ENVELOPE) | set(PARTITION_ONLY)
    for name in columns:
        if name in used:
            continue
        reserved = name in taken or name.startswith("__eventlab")  # the readers' own columns
        target = RENAMED_PREFIX + name if reserved else name
        out[name] = unique_name(target, taken)
        taken.add(out[name])
    return out


def unique_name(name: str, taken: set[str]) -> str:
    """``name``, or ``name_2``, ``name_3`` ... whichever is not in ``taken``."""
    if name not in taken:
        return name
    n = 2
    while f"{name}_{n}" in taken:
        n += 1
    return f"{name}_{n}"


def _shown(columns: Sequence[str], limit: int = 30) -> str:
    names = ", ".join(repr(c) for c in list(columns)[:limit])
    return f"[{names}{', ...' if len(columns) > limit else ''}]"
