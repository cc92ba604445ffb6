"""The Python ``eventsourcing`` library's stored events (SQLite and Postgres) -> eventlab events.

Its recorders keep one row per domain event: ``originator_id``, ``originator_version``,
``topic`` (``module:Aggregate.Event``), ``state`` (the event's attributes, transcoded JSON
bytes) and an order: ``notification_id`` on Postgres (a bigserial; the table is
``<application name>_events``), the ``rowid`` on SQLite (table ``stored_events``). Mapping:

====================  ===============================================================
eventsourcing         eventlab
====================  ===============================================================
topic                 stream_type = the aggregate class (``Account``), event_type = the
                      event class (``Deposited``); the topic is kept as ``topic``
originator_id         stream_id
originator_version    ``source_version`` (the store numbers versions in notification order)
state.timestamp       occurred_at
other state fields    payload (``{"_type_": ..., "_data_": ...}`` values decoded, nested
                      objects flattened as in :mod:`eventlab.sources.jsonflat`)
notification id       the checkpoint; payload ``notification_id``
====================  ===============================================================

Event ids are derived from (originator_id, originator_version), so a re-import skips what is
stored. States written with a compressor (``COMPRESSOR_TOPIC``) or a cipher (``CIPHER_TOPIC``,
``CIPHER_KEY``) are not JSON: a batch of only such states raises an ImportFormatError naming
the option; single unreadable states are quarantined.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from eventlab.envelope import ENVELOPE, PARTITION_ONLY
from eventlab.errors import ImportFormatError, SourceConnectionError, ValidationError
from eventlab.sources.batch import LINE, PRESET, Parsed
from eventlab.sources.databases.postgres import PgUrl, identifier, read_query
from eventlab.sources.jsonflat import flatten_documents
from eventlab.sources.records import RAW, derived_id, parse_records, raw_text, stream_type_slug
from eventlab.sources.sync import Position, SourceBatch

NEEDED = {"originator_id", "originator_version", "topic", "state"}
METADATA = ("notification_id", "source_version", "topic")
COLUMNS: dict[str, pl.DataType] = {
    "notification_id": pl.Int64(), "originator_id": pl.String(),
    "originator_version": pl.Int64(), "topic": pl.String(), "state": pl.Binary(),
}
ZLIB_HEADERS = (b"\x78\x01", b"\x78\x5e", b"\x78\x9c", b"\x78\xda")
COMPRESSED = ("state is zlib-compressed: the application was run with "
              "COMPRESSOR_TOPIC=eventsourcing.compressor:ZlibCompressor")
NOT_JSON = ("state is not JSON: the application was probably run with a cipher "
            "(CIPHER_TOPIC, CIPHER_KEY), which encrypts every state")


@dataclass(frozen=True)
class EventsourcingSource:
    """Stored events of an ``eventsourcing`` application: a SQLite file or a Postgres URL."""

    location: PgUrl | Path
    table: str | None = None
    schema: str = "public"
    default_stream_type: str = "aggregate"
    engine: str = "auto"
    kind: str = "eventsourcing"

    @property
    def key(self) -> str:
        return f"eventsourcing:{self._where()}"

    @property
    def name(self) -> str:
        return f"{self.location.name} (eventsourcing, table {self._table()})"

    def _where(self) -> str:
        if isinstance(self.location, PgUrl):
            return f"{self.location.name}/{self.schema}.{self._table()}"
        return f"{self.location.resolve()}#{self._table()}"

    def _table(self) -> str:
        return self.table or ("stored_events" if isinstance(self.location, Path) else
                              self._find_pg_table())

    def batches(self, after: Position | None, *, batch_size: int) -> Iterator[SourceBatch]:
        position = int(after or 0)
        while True:
            rows = self._read(position, batch_size)
            if rows.height == 0:
                return
            position = int(rows["notification_id"].max())  # type: ignore[arg-type]
            yield SourceBatch(self.parse(rows), position)
            if rows.height < batch_size:
                return

    def parse(self, rows: pl.DataFrame) -> Parsed:
        return eventsourcing_records(rows, source=self.name,
                                     default_stream_type=self.default_stream_type)

    def _read(self, after: int, limit: int) -> pl.DataFrame:
        table = identifier(self._table(), "table")
        if isinstance(self.location, PgUrl):
            sql = (f"SELECT notification_id, originator_id::text AS originator_id, "
                   f"originator_version, topic, state FROM {identifier(self.schema, 'schema')}."
                   f"{table} WHERE notification_id > {int(after)} ORDER BY notification_id "
                   f"LIMIT {int(limit)}")
            return read_query(self.location, sql, COLUMNS, engine=self.engine)
        return self._read_sqlite(table, after, limit)

    def _read_sqlite(self, table: str, after: int, limit: int) -> pl.DataFrame:
        path = self.location
        assert isinstance(path, Path)
        if not path.is_file():
            raise ValidationError(f"no file at {str(path)!r}; pass the SQLite database of an "
                                  "eventsourcing application (SQLITE_DBNAME).")
        sql = (f"SELECT rowid, originator_id, originator_version, topic, state FROM {table} "
               f"WHERE rowid > {int(after)} ORDER BY rowid LIMIT {int(limit)}")
        try:
            with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
                rows = conn.execute(sql).fetchall()
        except sqlite3.Error as exc:
            raise ImportFormatError(
                f"cannot read the eventsourcing table {table} of {path.name}: {exc}. Hint: the "
                "application recorder's table is stored_events (pass table=... for another; an "
                "aggregate recorder's WITHOUT ROWID table has no notification order)."
            ) from None
        return pl.DataFrame(rows, schema=COLUMNS, orient="row")

    def _find_pg_table(self) -> str:
        assert isinstance(self.location, PgUrl)
        schema = identifier(self.schema, "schema").strip('"')
        found = read_query(self.location, (
            "SELECT table_name, column_name FROM information_schema.columns "
            f"WHERE table_schema = '{schema}'"),
            {"table_name": pl.String(), "column_name": pl.String()}, engine=self.engine)
        tables = (found.group_by("table_name").agg(pl.col("column_name"))
                  .filter(pl.col("column_name").list.set_intersection(
                      [*NEEDED, "notification_id"]).list.len() == len(NEEDED) + 1))
        names = sorted(tables["table_name"].to_list())
        if len(names) != 1:
            raise SourceConnectionError(
                f"{self.location.name} has {len(names)} eventsourcing event tables in schema "
                f"{self.schema!r} ({', '.join(names) or 'none'}). Hint: pass table=... "
                "(--table); the library names it <application name>_events.")
        return str(names[0])


def json_text(state: pl.Series, starts: pl.Series) -> pl.Series:
    """The states that start with ``{`` as text (null for the others and for invalid UTF-8)."""
    picked = state.zip_with(starts, pl.Series([None] * state.len(), dtype=pl.Binary))
    try:
        return picked.cast(pl.String)
    except pl.exceptions.ComputeError:  # invalid UTF-8 somewhere: decode row by row (rare)
        return pl.Series([None if b is None else b.decode("utf-8", "replace") if
                          _valid_utf8(b) else None for b in picked.to_list()], dtype=pl.String)


def _valid_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def split_topic(topic: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """``module:Account.Deposited`` -> (``Account``, ``Deposited``); no class part -> null."""
    parts = topic.str.split(":").list.last().str.split(".")
    owner = pl.when(parts.list.len() > 1).then(parts.list.get(-2, null_on_oob=True))
    return stream_type_slug(owner), parts.list.last()


def eventsourcing_records(rows: pl.DataFrame, *, source: str,
                          default_stream_type: str = "aggregate") -> Parsed:
    """Stored-event rows (notification_id, originator_id, originator_version, topic, state)."""
    state = rows["state"]
    starts = state.bin.starts_with(b"{").fill_null(False)
    text = json_text(state, starts)
    compressed = pl.select(pl.any_horizontal(
        [state.bin.starts_with(h) for h in ZLIB_HEADERS]).fill_null(False)).to_series()
    if rows.height and not starts.any():
        cause = COMPRESSED if compressed.all() else NOT_JSON
        raise ImportFormatError(
            f"{source}: {cause}. eventlab reads the library's JSON states only. Hint: export "
            "the events with the application (it decodes them), or import from a copy "
            "written without the compressor/cipher.")
    reserved = set(ENVELOPE) | set(PARTITION_ONLY) | set(METADATA)
    stream_type, event_type = split_topic(pl.col("topic"))
    data = flatten_documents(text, rows["topic"], reserved=reserved - {"timestamp"},
                             what="state")
    payload = data.payload
    occurred = (payload["timestamp"] if "timestamp" in payload.columns and isinstance(
        payload["timestamp"].dtype, pl.Datetime) else pl.Series([None] * rows.height,
                                                               dtype=pl.Datetime("us", "UTC")))
    payload = payload.drop("timestamp", strict=False)
    reason = (pl.when(pl.lit(compressed) & pl.lit(~starts)).then(pl.lit(COMPRESSED))
              .otherwise(pl.lit(data.reasons)))
    records = rows.with_columns(
        stream_type.alias("stream_type"), event_type.alias("event_type"),
        pl.col("originator_id").alias("stream_id"), pl.lit(occurred).alias("occurred_at"),
        derived_id(pl.lit("eventsourcing"), pl.col("originator_id"),
                   pl.col("originator_version")).alias("event_id"),
        pl.col("originator_version").alias("source_version"),
        pl.col("notification_id").alias(LINE), reason.alias(PRESET),
        raw_text("notification_id", "originator_id", "originator_version", "topic").alias(RAW),
    ).drop("state", "originator_id", "originator_version")
    records = pl.concat([records, payload], how="horizontal")
    return parse_records(records, source=source, format="eventsourcing",
                         default_stream_type=default_stream_type,
                         labels={"stream_id": "originator_id", "occurred_at": "state.timestamp"})
