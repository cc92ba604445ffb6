"""ImportSummary: what one import did (a notebook-facing immutable value)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import eventlab.render as render


@dataclass(frozen=True)
class ImportSummary:
    """Counts of one :func:`~eventlab.importers.import_file` call.

    Always ``read == imported + quarantined + skipped_duplicate``: every source record is
    imported, quarantined (see ``quarantine_path``) or a duplicate (already in the store, or the
    same record earlier in the file). ``streams`` counts the distinct streams of the file's
    accepted events; ``commit`` is None when nothing new was appended.
    """

    source: str
    format: str
    read: int
    imported: int
    quarantined: int
    skipped_duplicate: int
    streams: int
    quarantine_path: Path | None
    commit: int | None
    seconds: float

    @property
    def balanced(self) -> bool:
        return self.read == self.imported + self.quarantined + self.skipped_duplicate

    def _repr_html_(self) -> str:
        return import_summary_html(self)


def summary_rows(summary: ImportSummary, *middle: tuple[str, Any]) -> list[tuple[str, Any]]:
    """The rows of an import or sync card: source and counts, then ``middle``, then where the
    quarantine went, the commit and the time taken."""
    return [
        ("source", summary.source), ("format", summary.format), ("read", summary.read),
        ("imported", summary.imported), ("quarantined", summary.quarantined),
        ("skipped (duplicates)", summary.skipped_duplicate), ("streams", summary.streams),
        *middle,
        ("quarantine file", summary.quarantine_path), ("commit", summary.commit),
        ("seconds", round(summary.seconds, 3)),
    ]


def import_summary_html(summary: ImportSummary) -> str:
    """Pure HTML for an ImportSummary (a card with one row per count)."""
    return render.card("import", render.fields(summary_rows(summary)))
