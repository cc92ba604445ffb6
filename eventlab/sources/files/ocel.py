"""OCEL 2.0 object-centric event logs (SQLite and JSON) -> one stream per object.

An OCEL event relates to many objects (an order, its items, a customer). It is stored once per
related object: stream type = the object's type (made a valid stream type: ``"Purchase
Order"`` -> ``Purchase-Order``), stream id = the object id, event type = the OCEL event type,
``correlation_id`` = the OCEL event id (so the copies of one OCEL event find each other), and
the payload holds the event's attributes plus ``qualifier`` (the relation's qualifier; several
qualifiers of one event-object pair are sorted and joined with ``"; "``).

Object attribute values become ``AttributesChanged`` events in the object's stream: one per row
of an ``object_<Type>`` table (SQLite) or per (object, time) of an object's ``attributes``
(JSON), with the attribute columns as payload and ``changed_field`` naming the changed field
(null for a row that sets several, such as the initial values, often dated 1970-01-01).

Object-to-object relations (``object_object``; ``relationships`` of JSON objects) have no time
in OCEL 2.0: each becomes an ``ObjectRelated`` event in the source object's stream dated at the
Unix epoch (like initial attribute values), with ``related_id``, ``related_type`` and
``qualifier``.

Cannot be mapped, so quarantined with the reason: events that relate to no object, relations
naming an event or object the log does not define, rows without a readable time.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from eventlab.envelope import ENVELOPE, PARTITION_ONLY
from eventlab.errors import ImportFormatError, ValidationError
from eventlab.sources.batch import LINE, PRESET, Parsed, parse_times
from eventlab.sources.mapping import RENAMED_PREFIX
from eventlab.sources.records import RAW, derived_id, parse_records, raw_text, stream_type_slug
from eventlab.sources.sync import Position, SourceBatch

CHANGED = "AttributesChanged"
RELATED = "ObjectRelated"
EPOCH = "1970-01-01T00:00:00+00:00"
SQLITE_MAGIC = b"SQLite format 3\x00"
OCEL_TABLES = {"event", "object", "event_object"}
JSON_KEYS = {"objectTypes", "eventTypes", "objects", "events"}
_OWN = ("qualifier", "changed_field", "related_id", "related_type")
_KIND = "__eventlab_kind"


@dataclass(frozen=True)
class OcelTables:
    """An OCEL log in one shape, whatever the file format. Every frame has LINE and RAW."""

    events: pl.DataFrame  # event_id, event_type, time (text), attributes...
    objects: pl.DataFrame  # object_id, object_type
    relations: pl.DataFrame  # event_id, object_id, qualifier
    changes: pl.DataFrame  # object_id, object_type, time (text), changed_field, attributes...
    links: pl.DataFrame  # object_id, related_id, qualifier (object-to-object relations)


def is_ocel(path: str | Path) -> bool:
    """True for an OCEL 2.0 SQLite file (by its tables) or JSON file (``.jsonocel``, or
    ``.json`` naming OCEL's keys near its start); JSON Lines files never are."""
    file = Path(path)
    if not file.is_file():
        return False
    with file.open("rb") as handle:
        head = handle.read(4096)
    if head.startswith(SQLITE_MAGIC):
        return set(sqlite_tables(file)) >= OCEL_TABLES
    if not head.lstrip().startswith(b"{"):
        return False
    suffix = file.name.lower().rpartition(".")[2]
    if suffix == "jsonocel":
        return True
    return suffix == "json" and any(f'"{k}"'.encode() in head for k in JSON_KEYS)


def sqlite_tables(path: Path) -> list[str]:
    """The tables of a SQLite file ([] when it cannot be read as one)."""
    try:
        with closing(_connect(path)) as conn:
            return [r[0] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type='table'")]
    except sqlite3.Error:
        return []


def _connect(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


# ----------------------------------------------------------------------------- reading
def read_ocel(path: str | Path, *, tz: str = "UTC", name: str | None = None) -> Parsed:
    """Parse an OCEL 2.0 file (SQLite or JSON) into a batch plus a quarantine (writes nothing)."""
    file = Path(path)
    if not file.is_file():
        raise ValidationError(f"no file at {str(file)!r}; pass an OCEL 2.0 .sqlite or "
                              ".jsonocel file. Hint: check the working directory.")
    with file.open("rb") as handle:
        is_sqlite = handle.read(16) == SQLITE_MAGIC
    tables = read_sqlite_tables(file) if is_sqlite else read_json_tables(file)
    return build(tables, source=name or file.name, tz=tz)


def _query(conn: sqlite3.Connection, sql: str) -> pl.DataFrame:
    cursor = conn.execute(sql)
    names = [d[0] for d in cursor.description]
    return pl.DataFrame(cursor.fetchall(), schema=names, orient="row", strict=False,
                        infer_schema_length=None)


def _type_tables(conn: sqlite3.Connection, kind: str) -> dict[str, str]:
    rows = conn.execute(f"SELECT ocel_type, ocel_type_map FROM {kind}_map_type").fetchall()
    present = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    return {t: f"{kind}_{m}" for t, m in rows if f"{kind}_{m}" in present}


def read_sqlite_tables(path: Path) -> OcelTables:
    """The OCEL 2.0 SQLite layout: event, object, event_object, event_<T>, object_<T>."""
    with closing(_connect(path)) as conn:
        missing = OCEL_TABLES - {r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table'")}
        if missing:
            raise ImportFormatError(f"{path.name} is a SQLite file but not an OCEL 2.0 log: it "
                                    f"lacks the table(s) {sorted(missing)}. Hint: an "
                                    "eventsourcing SQLite database is imported with "
                                    "--from eventsourcing.")
        events = _query(conn, "SELECT rowid AS l, CAST(ocel_id AS TEXT) AS event_id, "
                              "ocel_type AS event_type FROM event")
        objects = _query(conn, "SELECT CAST(ocel_id AS TEXT) AS object_id, "
                               "ocel_type AS object_type FROM object")
        relations = _query(conn, "SELECT rowid AS l, CAST(ocel_event_id AS TEXT) AS event_id, "
                                 "CAST(ocel_object_id AS TEXT) AS object_id, "
                                 "ocel_qualifier AS qualifier FROM event_object")
        times = [_query(conn, f'SELECT * FROM "{table}"').with_columns(
                     pl.col("ocel_id").cast(pl.String))
                 for table in _type_tables(conn, "event").values()]
        changes = [_object_rows(conn, otype, table)
                   for otype, table in _type_tables(conn, "object").items()]
        links = _query(conn, "SELECT rowid AS l, CAST(ocel_source_id AS TEXT) AS object_id, "
                             "CAST(ocel_target_id AS TEXT) AS related_id, "
                             "ocel_qualifier AS qualifier FROM object_object") if (
            "object_object" in sqlite_tables(path)) else None
    events = _with_attributes(events, times)
    return OcelTables(
        events=_lined(events, "event", ["event_id", "event_type"]),
        objects=objects.unique("object_id", keep="first", maintain_order=True),
        relations=_lined(relations, "event_object", ["event_id", "object_id", "qualifier"]),
        changes=pl.concat(changes, how="diagonal_relaxed") if changes else _no_changes(),
        links=_no_links() if links is None or not links.height else _lined(
            links, "object_object", ["object_id", "related_id", "qualifier"]),
    )


def _with_attributes(events: pl.DataFrame, typed: list[pl.DataFrame]) -> pl.DataFrame:
    """Join the event_<T> tables (ocel_id, ocel_time, attributes) onto the event table."""
    if not typed:
        return events.with_columns(time=pl.lit(None, pl.String))
    stacked = pl.concat(typed, how="diagonal_relaxed").rename({"ocel_time": "time"})
    stacked = stacked.with_columns(pl.col("time").cast(pl.String)).unique("ocel_id",
                                                                          keep="first")
    return events.join(stacked.rename({"ocel_id": "event_id"}), on="event_id", how="left",
                       maintain_order="left")


def _object_rows(conn: sqlite3.Connection, otype: str, table: str) -> pl.DataFrame:
    rows = _query(conn, f'SELECT rowid AS l, * FROM "{table}"')
    rows = rows.with_columns(pl.col("ocel_id").cast(pl.String),
                             pl.col("ocel_time").cast(pl.String),
                             pl.col("ocel_changed_field").cast(pl.String))
    rows = _lined(rows, table, [c for c in rows.columns if c != "l"])
    rows = rows.rename({"ocel_id": "object_id", "ocel_time": "time",
                        "ocel_changed_field": "changed_field"})
    return rows.with_columns(pl.lit(otype).alias("object_type"))


def _lined(frame: pl.DataFrame, table: str, shown: list[str]) -> pl.DataFrame:
    """``l`` becomes LINE; RAW names the table and the row's values."""
    raw = pl.concat_str([pl.lit(f"{table}: "), raw_text(*shown)])
    return frame.with_columns(pl.col("l").cast(pl.Int64).alias(LINE), raw.alias(RAW)).drop("l")


def _no_changes() -> pl.DataFrame:
    return pl.DataFrame(schema={"object_id": pl.String, "object_type": pl.String,
                                "time": pl.String, "changed_field": pl.String,
                                LINE: pl.Int64, RAW: pl.String})


def _no_links() -> pl.DataFrame:
    return pl.DataFrame(schema={"object_id": pl.String, "related_id": pl.String,
                                "qualifier": pl.String, LINE: pl.Int64, RAW: pl.String})


def read_json_tables(path: Path) -> OcelTables:
    """The OCEL 2.0 JSON layout: objectTypes, eventTypes, objects, events."""
    try:
        doc = json.loads(path.read_bytes())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ImportFormatError(f"{path.name} is not valid JSON ({exc}). Hint: an OCEL 2.0 "
                                "JSON file is one object with objects and events.") from None
    if not isinstance(doc, dict) or not {"objects", "events"} <= set(doc):
        raise ImportFormatError(f"{path.name} is JSON but not OCEL 2.0: it needs the keys "
                                f"{sorted(JSON_KEYS)}.")
    events, objects = doc.get("events") or [], doc.get("objects") or []
    ev = pl.DataFrame({"event_id": [str(e.get("id")) for e in events],
                       "event_type": [e.get("type") for e in events],
                       "time": [e.get("time") for e in events]}, schema_overrides={
                           "event_type": pl.String, "time": pl.String})
    ev = ev.with_columns(pl.int_range(1, pl.len() + 1).alias("l"))
    attrs = _json_pairs(events, "attributes", ("name", "value"))
    if attrs.height:
        wide = attrs.pivot(on="name", index="i", values="value", aggregate_function="first")
        ev = ev.with_row_index("i").join(wide, on="i", how="left").drop("i")
    rel = _json_pairs(events, "relationships", ("objectId", "qualifier"))
    rel = rel.with_columns(pl.col("i").map_batches(lambda s: ev["event_id"].gather(s)).alias(
        "event_id")) if rel.height else rel.with_columns(event_id=pl.lit(None, pl.String))
    rel = rel.rename({"objectId": "object_id"}).with_columns(
        (pl.col("i") + 1).alias("event_no"), pl.col("j").alias("l"))
    obj = pl.DataFrame({"object_id": [str(o.get("id")) for o in objects],
                        "object_type": [o.get("type") for o in objects]},
                       schema_overrides={"object_type": pl.String})
    return OcelTables(
        events=_lined(ev, "events", ["event_id", "event_type", "time"]),
        objects=obj.unique("object_id", keep="first", maintain_order=True),
        relations=_lined(rel.select("l", "event_id", "object_id", "qualifier", "event_no"),
                         "events[].relationships", ["event_no", "event_id", "object_id",
                                                    "qualifier"]).drop("event_no"),
        changes=_json_changes(objects),
        links=_json_links(objects, obj),
    )


def _json_links(objects: list[dict[str, Any]], obj: pl.DataFrame) -> pl.DataFrame:
    pairs = _json_pairs(objects, "relationships", ("objectId", "qualifier"))
    if not pairs.height:
        return _no_links()
    links = pairs.with_columns(pl.col("i").map_batches(
        lambda s: obj["object_id"].gather(s)).alias("object_id"), pl.col("j").alias("l"))
    links = links.rename({"objectId": "related_id"}).select("l", "object_id", "related_id",
                                                             "qualifier")
    return _lined(links, "objects[].relationships", ["object_id", "related_id", "qualifier"])


def _json_pairs(items: list[dict[str, Any]], key: str, fields: tuple[str, str]) -> pl.DataFrame:
    """``items[i][key]`` lists of {a, b} as rows (i, j, a, b); values as text; j numbers all."""
    rows = [(i, item_pair.get(fields[0]), _text(item_pair.get(fields[1])))
            for i, item in enumerate(items) for item_pair in (item.get(key) or [])
            if isinstance(item_pair, dict)]
    frame = pl.DataFrame(rows, schema={"i": pl.Int64, fields[0]: pl.String,
                                       fields[1]: pl.String}, orient="row")
    return frame.with_columns(pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("j"))


def _text(value: object) -> str | None:
    return None if value is None else value if isinstance(value, str) else json.dumps(value)


def _json_changes(objects: list[dict[str, Any]]) -> pl.DataFrame:
    """Object attribute values grouped by (object, time): one row each, fields as columns."""
    rows = [(str(o.get("id")), o.get("type"), a.get("time"), a.get("name"), _text(a.get("value")))
            for o in objects for a in (o.get("attributes") or [])
            if isinstance(a, dict)]
    flat = pl.DataFrame(rows, schema=["object_id", "object_type", "time", "name", "value"],
                        orient="row", schema_overrides={c: pl.String for c in (
                            "object_type", "time", "name", "value")})
    if not flat.height:
        return _no_changes()
    keys = ["object_id", "object_type", "time"]
    grouped = flat.group_by(keys, maintain_order=True).agg(
        pl.when(pl.len() == 1).then(pl.col("name").first()).alias("changed_field"),
        pl.struct("name", "value").alias("pairs"))
    wide = flat.pivot(on="name", index=keys, values="value", aggregate_function="last")
    rows_out = grouped.drop("pairs").join(wide, on=keys, how="left", maintain_order="left")
    rows_out = rows_out.with_columns(pl.int_range(1, pl.len() + 1).alias("l"))
    return _lined(rows_out, "objects[].attributes", keys)


# ----------------------------------------------------------------------------- building
def build(tables: OcelTables, *, source: str, tz: str = "UTC") -> Parsed:
    """Object-centric records -> one event per (OCEL event, object) plus attribute changes."""
    reserved = set(ENVELOPE) | set(PARTITION_ONLY) | set(_OWN)
    records = pl.concat([_relation_records(tables), _unrelated_records(tables),
                         _change_records(tables), _link_records(tables)],
                        how="diagonal_relaxed")
    records = records.with_columns(parse_times(records["time"], tz=tz).alias("occurred_at"))
    records = records.sort("occurred_at", _KIND, LINE, nulls_last=True).drop("time", _KIND)
    payload = [c for c in records.columns if c not in (*_ENVELOPE_IN, LINE, RAW, PRESET)]
    records = records.rename({c: RENAMED_PREFIX + c for c in payload if c in reserved
                              and c not in _OWN})
    return parse_records(records, source=source, format="ocel", default_stream_type="object",
                         labels={"occurred_at": "ocel_time", "stream_id": "ocel_object_id"})


_ENVELOPE_IN = ("stream_type", "stream_id", "event_type", "event_id", "correlation_id",
                "occurred_at", "object_type")


def _relation_records(tables: OcelTables) -> pl.DataFrame:
    pairs = tables.relations.group_by("event_id", "object_id", maintain_order=True).agg(
        pl.col("qualifier").drop_nulls().unique().sort().str.join("; ").replace("", None),
        pl.col(LINE).first(), pl.col(RAW).first())
    events = tables.events.drop(LINE, RAW).unique("event_id", keep="first", maintain_order=True)
    joined = (pairs.join(events.with_columns(pl.lit(True).alias("__known")), on="event_id",
                         how="left", maintain_order="left")
              .join(tables.objects, on="object_id", how="left", maintain_order="left"))
    unknown_event = pl.concat_str(pl.lit("OCEL event '"), pl.col("event_id"),
                                  pl.lit("' is not in the event table"))
    unknown_object = pl.concat_str(pl.lit("object '"), pl.col("object_id"),
                                   pl.lit("' is not in the object table"))
    preset = (pl.when(pl.col("__known").is_null()).then(unknown_event)
              .when(pl.col("object_type").is_null()).then(unknown_object)
              .otherwise(pl.lit(None, pl.String)))
    return joined.with_columns(
        preset.alias(PRESET), stream_type_slug(pl.col("object_type")).alias("stream_type"),
        pl.col("object_id").alias("stream_id"), pl.col("event_id").alias("correlation_id"),
        derived_id(pl.lit("ocel"), pl.col("event_id"), pl.col("object_id")).alias("__id"),
        pl.lit(0).alias(_KIND),
    ).drop("__known", "object_id", "object_type", "event_id").rename({"__id": "event_id"})


def _unrelated_records(tables: OcelTables) -> pl.DataFrame:
    lonely = tables.events.join(tables.relations.select("event_id").unique(), on="event_id",
                                how="anti", maintain_order="left")
    return lonely.select(
        pl.concat_str(pl.lit("OCEL event '"), pl.col("event_id"), pl.lit(
            "' relates to no object; eventlab stores each OCEL event in the streams of its "
            "objects")).alias(PRESET),
        "event_type", "time", pl.col("event_id").alias("correlation_id"),
        derived_id(pl.lit("ocel"), pl.col("event_id")).alias("event_id"),
        pl.lit(None, pl.String).alias("stream_id"), LINE, RAW, pl.lit(0).alias(_KIND))


def _change_records(tables: OcelTables) -> pl.DataFrame:
    changes = tables.changes
    values = [c for c in changes.columns if c not in ("object_id", "object_type", "time",
                                                       "changed_field", LINE, RAW)]
    content = pl.concat_str([pl.col(c).cast(pl.String).fill_null("\x00") for c in values],
                            separator="\x1f") if values else pl.lit("")
    key = [pl.col("object_type"), pl.col("object_id"), pl.col("time"),
           pl.col("changed_field"), content]
    occurrence = pl.int_range(pl.len()).over(pl.concat_str(
        [k.cast(pl.String).fill_null("\x00") for k in key], separator="\x1f"))
    return changes.with_columns(
        stream_type_slug(pl.col("object_type")).alias("stream_type"),
        pl.col("object_id").alias("stream_id"), pl.lit(CHANGED).alias("event_type"),
        derived_id(pl.lit("ocel-attributes"), *key, occurrence).alias("event_id"),
        pl.lit(1).alias(_KIND),
    ).drop("object_id", "object_type")


def _link_records(tables: OcelTables) -> pl.DataFrame:
    types = tables.objects.rename({"object_type": "__type"})
    links = (tables.links
             .join(types, on="object_id", how="left", maintain_order="left")
             .join(types.rename({"object_id": "related_id", "__type": "__related"}),
                   on="related_id", how="left", maintain_order="left"))
    missing = (pl.when(pl.col("__type").is_null()).then(pl.col("object_id"))
               .when(pl.col("__related").is_null()).then(pl.col("related_id")))
    return links.with_columns(
        pl.when(missing.is_not_null()).then(pl.concat_str(
            pl.lit("object '"), missing, pl.lit("' is not in the object table")))
        .otherwise(pl.lit(None, pl.String)).alias(PRESET),
        stream_type_slug(pl.col("__type")).alias("stream_type"),
        pl.col("object_id").alias("stream_id"), pl.lit(RELATED).alias("event_type"),
        stream_type_slug(pl.col("__related")).alias("related_type"),
        pl.lit(EPOCH).alias("time"), pl.lit(2).alias(_KIND),
        derived_id(pl.lit("ocel-o2o"), pl.col("object_id"), pl.col("related_id"),
                   pl.col("qualifier")).alias("event_id"),
    ).drop("object_id", "__type", "__related")


# ----------------------------------------------------------------------------- sync source
@dataclass(frozen=True)
class OcelSource:
    """An OCEL file as a sync source: its position is the file's SHA-256, so an unchanged
    file reads nothing and a changed one is read again (events already stored are skipped)."""

    path: Path
    tz: str = "UTC"
    kind: str = "ocel"

    @property
    def key(self) -> str:
        return f"ocel:{self.path.resolve()}"

    @property
    def name(self) -> str:
        return self.path.name

    def batches(self, after: Position | None, *, batch_size: int) -> Iterator[SourceBatch]:
        digest = hashlib.sha256(self.path.read_bytes()).hexdigest()
        if after == digest:
            return
        yield SourceBatch(read_ocel(self.path, tz=self.tz, name=self.name), digest)
