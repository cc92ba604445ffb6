"""One entry point for every connector: ``import_source(store, SOURCE)``.

SOURCE is a URL or a file:

- ``postgresql://user:password@host:5432/db`` with ``kind="marten"`` or ``"eventsourcing"``;
- ``kurrentdb://user:password@host:2113?tls=false`` (also ``esdb://``, ``kdb://``): a live
  KurrentDB server;
- an OCEL 2.0 ``.sqlite`` or ``.jsonocel`` / ``.json`` file (recognised by content);
- an ``eventsourcing`` SQLite database (recognised by its ``stored_events`` table);
- a KurrentDB dump (``.jsonl`` / ``.parquet``) with ``kind="kurrentdb"``.

The first call imports everything; later calls import only what is new since the checkpoint
the store keeps for that source; ``full=True`` reads everything again (stored events are
skipped). See :mod:`eventlab.sources.sync`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from eventlab.errors import InvalidArgumentError, ValidationError
from eventlab.sources.databases.eventsourcing import EventsourcingSource
from eventlab.sources.databases.kurrentdb import SCHEMES as KURRENT_SCHEMES
from eventlab.sources.databases.kurrentdb import KurrentDumpSource, KurrentLiveSource
from eventlab.sources.databases.marten import MartenSource
from eventlab.sources.databases.postgres import SCHEMES as PG_SCHEMES
from eventlab.sources.databases.postgres import PgUrl, redact
from eventlab.sources.files.ocel import SQLITE_MAGIC, OcelSource, is_ocel, sqlite_tables
from eventlab.sources.sync import SyncSource, SyncSummary, sync
from eventlab.store.core import StoreCore

KINDS = ("marten", "eventsourcing", "kurrentdb", "ocel")


def is_url(source: str | Path) -> bool:
    return isinstance(source, str) and "://" in source


def is_sync_source(source: str | Path, kind: str | None = None) -> bool:
    """True when ``source`` is for :func:`import_source` rather than the file importers."""
    if kind is not None or is_url(source):
        return True
    path = Path(source)
    return path.is_file() and (is_ocel(path) or _is_eventsourcing_sqlite(path))


def open_source(source: str | Path, *, kind: str | None = None, **options: Any) -> SyncSource:
    """The connector for ``source`` (see the module docstring); ``options`` go to it
    (``schema``, ``table``, ``engine``, ``default_stream_type``, ``valid_time``, ...)."""
    if kind is not None and kind not in KINDS:
        raise InvalidArgumentError("kind", kind, f"one of {', '.join(KINDS)}",
                                   "e.g. --from marten for a Marten database")
    if is_url(source):
        return _url_source(str(source), kind, options)
    path = Path(source)
    if not path.is_file():
        raise ValidationError(f"no file at {str(path)!r}; pass a postgresql:// or kurrentdb:// "
                              "URL, an OCEL 2.0 .sqlite/.jsonocel file, an eventsourcing "
                              "SQLite database or a KurrentDB dump (with kind='kurrentdb').")
    if kind == "marten":
        raise InvalidArgumentError("kind", kind, "Marten is read from its Postgres database: "
                                   "pass a postgresql://user:password@host:5432/db URL")
    if kind == "kurrentdb":
        return KurrentDumpSource(path, **options)
    if kind == "eventsourcing" or (kind is None and _is_eventsourcing_sqlite(path)):
        return EventsourcingSource(path, **options)
    if kind in (None, "ocel") and is_ocel(path):
        return OcelSource(path, **options)
    raise ValidationError(
        f"{path.name} is not a source eventlab can sync: not OCEL 2.0 (SQLite or JSON), not an "
        "eventsourcing SQLite database. Hint: a KurrentDB dump needs kind='kurrentdb' "
        "(--from kurrentdb); CSV, JSON Lines and XES files go through import_file.")


def _url_source(url: str, kind: str | None, options: dict[str, Any]) -> SyncSource:
    scheme = urlsplit(url).scheme
    if scheme in PG_SCHEMES:
        if kind not in ("marten", "eventsourcing"):
            raise InvalidArgumentError(
                "kind", kind, "a postgresql:// URL needs kind 'marten' or 'eventsourcing'",
                "--from marten (mt_events tables) or --from eventsourcing (stored events)")
        if kind == "marten":
            return MartenSource(PgUrl.parse(url), **options)
        return EventsourcingSource(PgUrl.parse(url), **options)
    if scheme in KURRENT_SCHEMES:
        return KurrentLiveSource(url, **options)
    raise InvalidArgumentError("source", redact(url, url), "a postgresql://, kurrentdb://, "
                               "esdb:// or kdb:// URL, or a file path")


def _is_eventsourcing_sqlite(path: Path) -> bool:
    with path.open("rb") as handle:
        if handle.read(16) != SQLITE_MAGIC:
            return False
    return "stored_events" in sqlite_tables(path) and not is_ocel(path)


def import_source(
    store: StoreCore, source: str | Path, *, kind: str | None = None, full: bool = False,
    batch_size: int = 250_000, progress: bool | None = None, **options: Any,
) -> SyncSummary:
    """Import ``source`` into ``store``: everything the first time, then only what is new since
    the store's checkpoint for it (``full=True``: everything again, duplicates skipped)."""
    connector = open_source(source, kind=kind, **options)
    return sync(store, connector, full=full, batch_size=batch_size, progress=progress)
