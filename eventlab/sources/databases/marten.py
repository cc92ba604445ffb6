"""Marten (.NET, PostgreSQL): ``mt_events`` joined with ``mt_streams`` -> eventlab events.

Mapping (Marten's schema as in JasperFx/marten ``Events/Schema/EventsTable.cs``):

=====================  ==========================================================
Marten                 eventlab
=====================  ==========================================================
mt_streams.type        stream_type (the aggregate type; null -> ``default_stream_type``)
stream_id              stream_id (conjoined tenancy: ``<tenant_id>/<stream_id>``, since
                       one id may exist in several tenants)
type                   event_type
id                     event_id (so a re-import skips what is stored)
timestamp              occurred_at, unless ``valid_time`` names a data field (then the
                       field, falling back to ``timestamp`` where it is null); also kept as
                       ``source_timestamp`` (Marten's transaction time)
correlation_id,        correlation_id, causation_id, actor
causation_id, user_name
data (jsonb)           payload: nested objects flattened (``Customer.Address.City`` ->
                       ``Customer_Address_City``), arrays kept as lists (see
                       :mod:`eventlab.sources.jsonflat`)
headers (jsonb)        payload ``headers_<key>``
seq_id, version,       payload ``seq_id``, ``source_version``, ``tenant_id``, ``is_archived``,
tenant_id, ...         ``dotnet_type``
=====================  ==========================================================

``seq_id`` is the checkpoint. Versions are numbered by the store in ``seq_id`` order (equal to
Marten's when every event imports; ``source_version`` keeps Marten's). Marten's ``tombstone``
events (placeholders for failed appends) are not read. A batch stops before a gap in ``seq_id``
younger than ``settle_seconds`` (a transaction that took the sequence number may not have
committed yet, as Marten's own high-water mark detection assumes), so no event is skipped.

Quarantined: data that is not a JSON object, binary payloads (``bdata``), rows without a stream.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import polars as pl

from eventlab.envelope import ENVELOPE, PARTITION_ONLY
from eventlab.sources.batch import LINE, PRESET, Parsed
from eventlab.sources.databases.postgres import PgUrl, identifier, read_query
from eventlab.sources.jsonflat import flatten_documents, flatten_repeated
from eventlab.sources.records import RAW, parse_records, raw_text
from eventlab.sources.sync import Position, SourceBatch

UTC = pl.Datetime("us", "UTC")
METADATA = ("seq_id", "source_version", "source_timestamp", "tenant_id", "is_archived",
            "dotnet_type")
OPTIONAL = {"correlation_id": "correlation_id", "causation_id": "causation_id",
            "user_name": "actor", "headers": "headers", "bdata": "binary",
            "is_archived": "is_archived", "mt_dotnet_type": "dotnet_type"}
COLUMNS: dict[str, pl.DataType] = {
    "seq_id": pl.Int64(), "event_id": pl.String(), "raw_stream_id": pl.String(),
    "source_version": pl.Int64(), "data": pl.String(), "event_type": pl.String(),
    "source_timestamp": UTC, "tenant_id": pl.String(), "stream_type": pl.String(),
    "fresh": pl.Boolean(), "correlation_id": pl.String(), "causation_id": pl.String(),
    "actor": pl.String(), "headers": pl.String(), "binary": pl.Boolean(),
    "is_archived": pl.Boolean(), "dotnet_type": pl.String(),
}


@dataclass(frozen=True)
class MartenSource:
    """Marten's event tables in ``schema`` of the database at ``url``."""

    url: PgUrl
    schema: str = "public"
    default_stream_type: str = "marten"
    valid_time: str | None = None
    settle_seconds: float = 3.0
    engine: str = "auto"
    include_archived: bool = True
    kind: str = "marten"

    @property
    def key(self) -> str:
        return f"marten:{self.url.name}/{self.schema}"

    @property
    def name(self) -> str:
        return f"{self.url.name} (marten, schema {self.schema})"

    def batches(self, after: Position | None, *, batch_size: int) -> Iterator[SourceBatch]:
        layout = self._layout()
        position = int(after or 0)
        while True:
            rows = read_query(self.url, self._sql(layout, position, batch_size),
                              _schema(layout), engine=self.engine)
            rows = settled(rows, position)
            if rows.height == 0:
                return
            position = int(rows["seq_id"].max())  # type: ignore[arg-type]
            yield SourceBatch(self.parse(rows, conjoined=layout.conjoined), position)
            if rows.height < batch_size:
                return

    def parse(self, rows: pl.DataFrame, *, conjoined: bool) -> Parsed:
        return marten_records(rows, source=self.name, conjoined=conjoined,
                              default_stream_type=self.default_stream_type,
                              valid_time=self.valid_time)

    def _layout(self) -> Layout:
        schema = self.schema.replace("'", "")
        identifier(self.schema, "schema")
        found = read_query(self.url, (
            "SELECT table_name, column_name FROM information_schema.columns "
            f"WHERE table_schema = '{schema}' AND table_name IN ('mt_events', 'mt_streams')"),
            {"table_name": pl.String(), "column_name": pl.String()}, engine=self.engine)
        events = set(found.filter(pl.col("table_name") == "mt_events")["column_name"])
        if not {"seq_id", "id", "stream_id", "version", "data", "type", "timestamp"} <= events:
            from eventlab.errors import SourceConnectionError

            raise SourceConnectionError(
                f"{self.url.name} has no Marten event table in schema {self.schema!r} "
                "(mt_events with seq_id, id, stream_id, version, data, type, timestamp). "
                "Hint: Marten's events live in the schema set by Events.DatabaseSchemaName; "
                "pass schema=... (--schema).")
        pk = read_query(self.url, (
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
            "AND a.attnum = ANY(i.indkey) WHERE i.indisprimary AND i.indrelid = "
            f"'{identifier(self.schema, 'schema')}.mt_streams'::regclass"),
            {"attname": pl.String()}, engine=self.engine)
        return Layout(frozenset(events), "tenant_id" in set(pk["attname"]), self.settle_seconds,
                      self.include_archived)

    def _sql(self, layout: Layout, after: int, limit: int) -> str:
        s = identifier(self.schema, "schema")
        optional = [f"e.{c}::text AS {a}" if c == "headers" else
                    f"(e.bdata IS NOT NULL) AS {a}" if c == "bdata" else f"e.{c} AS {a}"
                    for c, a in OPTIONAL.items() if c in layout.columns]
        tenant = "e.tenant_id" if "tenant_id" in layout.columns else "NULL::text"
        join = " AND s.tenant_id = e.tenant_id" if layout.conjoined else ""
        archived = ("" if layout.include_archived or "is_archived" not in layout.columns
                    else " AND NOT coalesce(e.is_archived, false)")
        return (
            "SELECT e.seq_id, e.id::text AS event_id, e.stream_id::text AS raw_stream_id, "
            "e.version AS source_version, e.data::text AS data, e.type AS event_type, "
            f"e.timestamp AS source_timestamp, {tenant} AS tenant_id, s.type AS stream_type, "
            f"(now() - e.timestamp) < interval '{float(layout.settle)} seconds' AS fresh"
            + "".join(f", {c}" for c in optional)
            + f" FROM {s}.mt_events e LEFT JOIN {s}.mt_streams s ON s.id = e.stream_id{join}"
            f" WHERE e.seq_id > {int(after)} AND e.type <> 'tombstone'{archived}"
            f" ORDER BY e.seq_id LIMIT {int(limit)}"
        )


@dataclass(frozen=True)
class Layout:
    columns: frozenset[str]
    conjoined: bool
    settle: float
    include_archived: bool


def _schema(layout: Layout) -> dict[str, pl.DataType]:
    present = {"fresh", "seq_id", "event_id", "raw_stream_id", "source_version", "data",
               "event_type", "source_timestamp", "tenant_id", "stream_type"}
    present |= {a for c, a in OPTIONAL.items() if c in layout.columns}
    return {k: v for k, v in COLUMNS.items() if k in present}


def settled(rows: pl.DataFrame, after: int) -> pl.DataFrame:
    """Rows before the first gap in ``seq_id`` whose next event is fresh (its transaction may
    still be open elsewhere; a later run reads from the gap)."""
    if rows.height == 0:
        return rows
    previous = rows["seq_id"].shift(1, fill_value=after)
    risky = ((rows["seq_id"] - previous) > 1) & rows["fresh"]
    if not risky.any():
        return rows
    return rows.head(int(risky.arg_true()[0]))


def marten_records(rows: pl.DataFrame, *, source: str, conjoined: bool,
                   default_stream_type: str = "marten", valid_time: str | None = None) -> Parsed:
    """Marten rows (as :meth:`MartenSource._sql` selects them) -> a parsed batch."""
    reserved = set(ENVELOPE) | set(PARTITION_ONLY) | set(METADATA)
    data = flatten_documents(rows["data"], rows["event_type"], reserved=reserved)
    headers = (flatten_repeated(rows["headers"].fill_null("{}"), prefix="headers_",
                                what="headers").payload
               if "headers" in rows.columns else pl.DataFrame())
    stream = (pl.concat_str(pl.col("tenant_id").fill_null("*DEFAULT*"), pl.lit("/"),
                            pl.col("raw_stream_id")) if conjoined else pl.col("raw_stream_id"))
    binary = pl.col("binary") if "binary" in rows.columns else pl.lit(False)
    reason = (pl.when(binary).then(pl.lit("binary payload (bdata): Marten's binary serializer "
                                          "is not readable here; only JSON data is imported"))
              .otherwise(data.reasons.alias("r")))
    records = rows.with_columns(
        stream.alias("stream_id"), pl.col("source_timestamp").alias("occurred_at"),
        pl.col("seq_id").alias(LINE), reason.alias(PRESET),
        raw_text("seq_id", "event_id", "raw_stream_id", "event_type", "data").alias(RAW),
    ).drop("data", "fresh", "binary", "headers", "raw_stream_id", strict=False)
    records = pl.concat([records, data.payload, headers], how="horizontal")
    if valid_time is not None and valid_time in records.columns:
        records = records.with_columns(pl.coalesce(
            _as_time(records[valid_time]), pl.col("source_timestamp")).alias("occurred_at"))
    return parse_records(records, source=source, format="marten",
                         default_stream_type=default_stream_type,
                         labels={"stream_id": "stream_id", "occurred_at": "timestamp"})


def _as_time(values: pl.Series) -> pl.Series:
    if isinstance(values.dtype, pl.Datetime):
        return values.dt.convert_time_zone("UTC") if values.dtype.time_zone else \
            values.dt.replace_time_zone("UTC")
    from eventlab.sources.batch import parse_times

    return parse_times(values.cast(pl.String), tz="UTC")
