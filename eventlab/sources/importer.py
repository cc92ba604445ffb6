"""import_file: read a CSV, JSON Lines or XES file into a store, quarantining what cannot be read.

One file is one atomic ``store.append``: either every accepted event is committed or none is.
Rejected records are written to ``STORE/_quarantine/<UTC time>-<file stem>.parquet`` (columns
source, source_line, reason, raw) after the append succeeds, and only when there are any.
Re-importing a file adds nothing: event ids are derived from the records (see
:mod:`eventlab.sources.batch`) and the store skips ids it already has.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from eventlab.envelope import ENVELOPE
from eventlab.errors import ValidationError, io_errno, storage_error, write_failure
from eventlab.sources.batch import Parsed
from eventlab.sources.files.delimited import read_csv
from eventlab.sources.files.jsonl import read_jsonl
from eventlab.sources.files.xes import read_xes
from eventlab.sources.mapping import ColumnMapping
from eventlab.sources.source import infer_format, slug, source_stem
from eventlab.sources.summary import ImportSummary
from eventlab.storage.durable import atomic_path
from eventlab.storage.layout import QUARANTINE_DIR, check_stream_types
from eventlab.store.core import StoreCore
from eventlab.timeutil import check_time_zone

FORMATS = ("csv", "jsonl", "xes")


def import_file(
    store: StoreCore,
    path: str | Path,
    *,
    format: str | None = None,
    stream_type: str | None = None,
    mapping: ColumnMapping | None = None,
    tz: str = "UTC",
    progress: bool | None = None,
) -> ImportSummary:
    """Import one event log file into ``store`` as a single atomic append.

    ``format`` is ``"csv"``, ``"jsonl"`` or ``"xes"`` (default: from the suffix; ``.gz`` files
    are recognised by their content). ``stream_type`` defaults to the file stem made safe
    (``08_receipt.xes.gz`` -> ``08_receipt``). ``mapping`` names the envelope columns of a CSV /
    JSON Lines file (default: process-mining or eventlab column names). Naive timestamps are
    read in ``tz``. Without source versions the store continues existing streams, so a grown
    file can be re-imported; with a mapped version column the source versions are kept (the
    store checks they continue each stream without gaps).

    If the append fails (ValidationError, SchemaError, ConcurrencyError from the store) nothing
    is written: no events and no quarantine file. Raises ValidationError for bad arguments
    (unknown format, missing file, mapping naming absent columns) and ImportFormatError for a
    file that cannot be read at all (e.g. an XES file with a DOCTYPE, or truncated).
    """
    started = time.perf_counter()
    parsed = read_file(path, format=format, stream_type=stream_type, mapping=mapping, tz=tz,
                       prefer=store.schema)
    return import_parsed(store, parsed, progress=progress, started=started)


def import_parsed(
    store: StoreCore, parsed: Parsed, *, progress: bool | None = None,
    started: float | None = None,
) -> ImportSummary:
    """Append what a reader parsed (one atomic append), then write its quarantine.

    The one path from a reader's :class:`Parsed` to the store, shared by the file importers and
    the database / dump sources (:mod:`eventlab.sources.sync`).
    """
    started = time.perf_counter() if started is None else started
    events = fit_to_schema(parsed.events, store.schema)
    if not parsed.versions_from_source:
        events = events.drop("version", strict=False)
    appended, skipped, commit = 0, 0, None
    if events.height:
        result = store.append(events, progress=progress)
        appended, skipped, commit = result.appended, result.skipped, result.commit
    quarantine_path = write_quarantine(store.root, parsed) if parsed.quarantine.height else None
    return ImportSummary(
        source=parsed.source, format=parsed.format, read=parsed.read, imported=appended,
        quarantined=parsed.quarantine.height, skipped_duplicate=parsed.duplicates + skipped,
        streams=parsed.streams, quarantine_path=quarantine_path, commit=commit,
        seconds=time.perf_counter() - started,
    )


def read_file(
    path: str | Path,
    *,
    format: str | None = None,
    stream_type: str | None = None,
    mapping: ColumnMapping | None = None,
    tz: str = "UTC",
    prefer: Mapping[str, pl.DataType] | None = None,
) -> Parsed:
    """Parse a file with the reader of its format (nothing is written anywhere)."""
    kind = _format(path, format)
    check_time_zone(tz)
    if stream_type is not None:
        check_stream_types([stream_type])
    if kind == "xes":
        if mapping is not None:
            raise ValidationError(
                "mapping applies to CSV and JSON Lines only; XES names its fields itself "
                "(concept:name, time:timestamp, org:resource). Hint: drop mapping=."
            )
        return read_xes(path, stream_type=stream_type, tz=tz)
    reader: Callable[..., Parsed] = read_csv if kind == "csv" else read_jsonl
    return reader(path, mapping=mapping, stream_type=stream_type, tz=tz, prefer=prefer)


def fit_to_schema(events: pl.DataFrame, schema: Mapping[str, pl.DataType]) -> pl.DataFrame:
    """Payload columns the store already holds as String are cast to String (a typed XES or
    JSON value next to stored text); other differences are left for the store to judge."""
    casts = [pl.col(c).cast(pl.String) for c, dtype in events.schema.items()
             if c in schema and c not in ENVELOPE and schema[c] == pl.String()
             and dtype != pl.String() and dtype != pl.Null()]
    return events.with_columns(casts) if casts else events


def _format(path: str | Path, format: str | None) -> str:
    if format is None:
        return infer_format(path)
    if format not in FORMATS:
        raise ValidationError(
            f"format={format!r} is not supported; use one of {', '.join(FORMATS)} "
            "(or leave it out to infer it from the file suffix)."
        )
    return format


def write_quarantine(root: Path, parsed: Parsed) -> Path:
    """Write the quarantine atomically and durably (eventlab.storage.durable); return its path."""
    folder = root / QUARANTINE_DIR
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise storage_error(exc, f"write the quarantine into store {root}", "The file's "
                            "accepted events were committed; its rejected records were not "
                            "saved.") from exc
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    base = f"{stamp}-{slug(source_stem(parsed.source))}"
    target = folder / f"{base}.parquet"
    n = 2
    while target.exists():
        target = folder / f"{base}-{n}.parquet"
        n += 1
    try:
        with atomic_path(target) as tmp:
            try:
                parsed.quarantine.write_parquet(tmp)
            except pl.exceptions.PolarsError as exc:
                raise write_failure(tmp, exc) from exc
    except Exception as exc:
        if io_errno(exc) is None:
            raise
        raise storage_error(
            exc, f"write the quarantine of {parsed.source} into store {root}",
            f"The file's accepted events were committed; its {parsed.quarantine.height} "
            "rejected record(s) were not saved (re-importing the file adds no event again).",
        ) from exc
    return target


def read_quarantine(path: str | Path) -> pl.DataFrame:
    """A quarantine file as a DataFrame (source, source_line, reason, raw)."""
    return pl.read_parquet(path)
