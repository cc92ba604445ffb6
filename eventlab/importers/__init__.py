"""The importers' public API (an alias of :mod:`eventlab.sources`, where they live).

``from eventlab.importers import import_file`` keeps working; new code may import the same
names from ``eventlab.sources``.
"""

from eventlab.sources import (
    ColumnMapping,
    ImportSummary,
    Parsed,
    import_file,
    import_summary_html,
    read_csv,
    read_file,
    read_jsonl,
    read_quarantine,
    read_xes,
)

__all__ = [
    "ColumnMapping",
    "ImportSummary",
    "Parsed",
    "import_file",
    "import_summary_html",
    "read_csv",
    "read_file",
    "read_jsonl",
    "read_quarantine",
    "read_xes",
]
