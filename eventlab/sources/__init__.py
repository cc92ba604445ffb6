"""Sources: CSV, JSON Lines and XES event logs -> store batches, quarantine, ImportSummary;
connectors (Marten, eventsourcing, KurrentDB, OCEL 2.0) synced with ``import_source``.

``import_file(store, path)`` reads a file, appends its events in one atomic batch and writes the
records it could not accept to ``STORE/_quarantine/``. The readers (``read_csv``, ``read_jsonl``,
``read_xes``) are pure: they return a :class:`Parsed` value and write nothing.

Accounting: every source record is imported, quarantined or counted as a duplicate, so
``read == imported + quarantined + skipped_duplicate``. A quarantine row has ``source``,
``source_line`` (1-based line of the record in the file; for XES the line of the ``<event>`` tag),
``reason`` and ``raw`` (the record's text, at most 4,096 characters).
"""

from eventlab.sources.batch import Parsed
from eventlab.sources.connect import import_source, open_source
from eventlab.sources.databases.kurrentdb import dump_records
from eventlab.sources.files.delimited import read_csv
from eventlab.sources.files.jsonl import read_jsonl
from eventlab.sources.files.xes import read_xes
from eventlab.sources.importer import import_file, read_file, read_quarantine
from eventlab.sources.mapping import ColumnMapping
from eventlab.sources.summary import ImportSummary, import_summary_html
from eventlab.sources.sync import SyncSummary, list_checkpoints, sync

__all__ = [
    "ColumnMapping",
    "ImportSummary",
    "Parsed",
    "SyncSummary",
    "dump_records",
    "import_file",
    "import_source",
    "import_summary_html",
    "list_checkpoints",
    "open_source",
    "read_csv",
    "read_file",
    "read_jsonl",
    "read_quarantine",
    "read_xes",
    "sync",
]
