"""KurrentDB (EventStoreDB): ``$all`` from a dump file or a live server -> eventlab events.

The records are read as the official Python client ``kurrentdbclient`` gives them
(``RecordedEvent``: ``id``, ``type``, ``data``, ``metadata``, ``content_type``,
``stream_name``, ``stream_position``, ``commit_position``, ``prepare_position``,
``recorded_at``). A *dump* is those fields, one record per line (JSON Lines) or per row
(Parquet): :func:`dump_records` writes one from ``client.read_all()``. The names KurrentDB's SQL
interface uses are accepted too (``log_position``, ``stream``, ``stream_revision``,
``event_type``, ``created``, ``record_id``). In JSON Lines, ``data`` and ``metadata`` are the
JSON text (or an embedded JSON value); non-JSON payloads are base64 in ``data_base64``.

Mapping: the stream category (the part of the stream name before the first ``-``, as
KurrentDB's ``$by_category`` does) is the stream type and the rest the stream id
(``order-42`` -> ``order`` / ``42``; a name without ``-`` goes to ``default_stream_type``);
``type`` is the event type, ``id`` the event id, ``recorded_at`` the valid time unless
``valid_time`` names a data field; metadata ``$correlationId`` / ``$causationId`` become
``correlation_id`` / ``causation_id``; ``data`` and ``metadata`` (as ``metadata_<key>``) become
payload columns; ``stream_name``, ``stream_position`` (0-based) and ``commit_position`` are kept.
The commit position is the checkpoint. System events (``$...``) are not imported.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import polars as pl

from eventlab.envelope import ENVELOPE, PARTITION_ONLY
from eventlab.errors import ImportFormatError, SourceConnectionError, ValidationError, require
from eventlab.sources.batch import LINE, PRESET, Parsed
from eventlab.sources.databases.postgres import redact
from eventlab.sources.jsonflat import flatten_documents, flatten_repeated
from eventlab.sources.records import RAW, parse_records, raw_text, stream_type_slug
from eventlab.sources.source import read_bytes, read_lines
from eventlab.sources.sync import Position, SourceBatch
from eventlab.storage.durable import write_with

UTC = pl.Datetime("us", "UTC")
FIELDS: dict[str, pl.DataType] = {
    "id": pl.String(), "type": pl.String(), "stream_name": pl.String(),
    "stream_position": pl.Int64(), "commit_position": pl.Int64(),
    "prepare_position": pl.Int64(), "recorded_at": pl.String(), "content_type": pl.String(),
    "data": pl.String(), "metadata": pl.String(), "data_base64": pl.String(),
}
ALIASES = {"log_position": "commit_position", "stream": "stream_name",
           "stream_revision": "stream_position", "event_type": "type", "created": "recorded_at",
           "record_id": "id", "event_id": "id"}
KEPT = ("stream_name", "stream_position", "commit_position")
SCHEMES = ("kurrentdb", "kurrentdb+discover", "esdb", "esdb+discover", "kdb", "kdb+discover")


# ----------------------------------------------------------------------------- dump writing
def record_row(event: Any) -> dict[str, Any]:
    """One ``RecordedEvent`` as a dump row (JSON-able)."""
    is_json = event.content_type == "application/json"
    data, meta = bytes(event.data or b""), bytes(event.metadata or b"")
    return {
        "id": str(event.id), "type": event.type, "stream_name": event.stream_name,
        "stream_position": event.stream_position, "commit_position": event.commit_position,
        "prepare_position": event.prepare_position,
        "recorded_at": event.recorded_at.isoformat() if event.recorded_at else None,
        "content_type": event.content_type,
        "data": data.decode("utf-8") if is_json else None,
        "data_base64": None if is_json else base64.b64encode(data).decode(),
        "metadata": meta.decode("utf-8", "replace") if meta else None,
    }


def records_frame(events: Iterable[Any]) -> pl.DataFrame:
    """RecordedEvents as a frame of the dump's columns."""
    return pl.DataFrame([record_row(e) for e in events], schema=FIELDS, orient="row")


def dump_records(events: Iterable[Any], path: str | Path) -> int:
    """Write RecordedEvents (e.g. ``client.read_all()``) to a JSON Lines or ``.parquet`` dump,
    atomically; return the number of records."""
    target = Path(path)
    frame = records_frame(events)
    if target.suffix == ".parquet":
        write_with(target, lambda tmp: frame.write_parquet(tmp))
    else:
        write_with(target, lambda tmp: frame.write_ndjson(tmp))
    return frame.height


# ----------------------------------------------------------------------------- dump reading
def read_dump(path: Path) -> pl.DataFrame:
    """A dump's records in the dump columns plus LINE (1-based line or row) and RAW."""
    if not path.is_file():
        raise ValidationError(f"no file at {str(path)!r}; pass a KurrentDB dump (.jsonl or "
                              ".parquet with id, type, stream_name, commit_position, ...).")
    if path.suffix == ".parquet":
        frame = pl.read_parquet(path)
        frame = frame.rename({c: ALIASES[c] for c in frame.columns if c in ALIASES
                              and ALIASES[c] not in frame.columns})
        frame = frame.with_columns(pl.int_range(1, pl.len() + 1).alias(LINE))
        columns = [_column(frame, name, dtype) for name, dtype in FIELDS.items()]
        out = frame.select(LINE, *columns)
        return out.with_columns(raw_text("id", "type", "stream_name", "commit_position")
                                .alias(RAW))
    lines = read_lines(read_bytes(path)).filter(pl.col("text").str.strip_chars() != "")
    picks = {name: _pick(name, dtype) for name, dtype in FIELDS.items()}
    out = lines.select(pl.col("line").alias(LINE), pl.col("text").alias(RAW), **picks)
    return out


def _pick(name: str, dtype: pl.DataType) -> pl.Expr:
    names = [name, *[a for a, b in ALIASES.items() if b == name]]
    value = pl.coalesce([pl.col("text").str.json_path_match(f"$.{n}") for n in names])
    return value.cast(dtype, strict=False) if dtype != pl.String() else value


def _column(frame: pl.DataFrame, name: str, dtype: pl.DataType) -> pl.Expr:
    if name not in frame.columns:
        return pl.lit(None, dtype).alias(name)
    column = frame.schema[name]
    if column == pl.Binary():
        return pl.col(name).cast(pl.String).alias(name)
    if isinstance(column, pl.Datetime):
        return pl.col(name).dt.to_string("%Y-%m-%dT%H:%M:%S%.f%:z").alias(name)
    return pl.col(name).cast(dtype, strict=False).alias(name)


def kurrentdb_records(rows: pl.DataFrame, *, source: str, default_stream_type: str = "stream",
                      valid_time: str | None = None) -> Parsed:
    """Dump rows (FIELDS + LINE + RAW) -> a parsed batch."""
    rows = rows.filter(~pl.col("type").fill_null("").str.starts_with("$"))
    reserved = set(ENVELOPE) | set(PARTITION_ONLY) | set(KEPT)
    data = flatten_documents(rows["data"].fill_null(pl.lit(None, pl.String)), rows["type"],
                             reserved=reserved)
    meta = flatten_repeated(rows["metadata"].fill_null("{}"), prefix="metadata_",
                            reserved=reserved, what="metadata").payload
    ids = {"correlation_id": "metadata_$correlationId", "causation_id": "metadata_$causationId"}
    envelope = [meta[c].cast(pl.String).alias(k) for k, c in ids.items() if c in meta.columns]
    meta = meta.drop([c for c in ids.values() if c in meta.columns])
    name = pl.col("stream_name")
    has_category = name.str.contains("-")
    binary = pl.col("data_base64").is_not_null() & pl.col("data").is_null()
    reason = (pl.when(pl.col("commit_position").is_null() & pl.col("id").is_null())
              .then(pl.lit("not a KurrentDB record (no id, no commit_position)"))
              .when(binary).then(pl.concat_str(pl.lit("binary data (content type "),
                                               pl.col("content_type").fill_null("?"),
                                               pl.lit("): only JSON data is imported")))
              .otherwise(pl.lit(data.reasons)))
    records = rows.with_columns(
        pl.when(has_category).then(stream_type_slug(name.str.split("-").list.first()))
        .alias("stream_type"),
        pl.when(has_category).then(name.str.splitn("-", 2).struct.field("field_1"))
        .otherwise(name).alias("stream_id"),
        pl.col("type").alias("event_type"), pl.col("id").alias("event_id"),
        _parse_time(pl.col("recorded_at")).alias("occurred_at"), reason.alias(PRESET),
        *envelope,
    ).drop("id", "type", "recorded_at", "content_type", "data", "metadata", "data_base64",
           "prepare_position")
    records = pl.concat([records, data.payload, meta], how="horizontal")
    if valid_time is not None and valid_time in records.columns:
        records = records.with_columns(pl.coalesce(
            _parse_time(pl.col(valid_time).cast(pl.String)), pl.col("occurred_at"))
            .alias("occurred_at"))
    return parse_records(records, source=source, format="kurrentdb",
                         default_stream_type=default_stream_type,
                         labels={"stream_id": "stream_name", "occurred_at": "recorded_at",
                                 "event_id": "id"})


def _parse_time(expr: pl.Expr) -> pl.Expr:
    return expr.str.to_datetime(time_zone="UTC", time_unit="us", strict=False)


@dataclass(frozen=True)
class KurrentDumpSource:
    """A dump file of ``$all`` (JSON Lines or Parquet); the checkpoint is the commit position."""

    path: Path
    default_stream_type: str = "stream"
    valid_time: str | None = None
    kind: str = "kurrentdb"

    @property
    def key(self) -> str:
        return f"kurrentdb:{self.path.resolve()}"

    @property
    def name(self) -> str:
        return self.path.name

    def batches(self, after: Position | None, *, batch_size: int) -> Iterator[SourceBatch]:
        rows = read_dump(self.path)
        if after is not None:
            rows = rows.filter(pl.col("commit_position") > int(after))
        rows = rows.sort("commit_position", LINE, nulls_last=True)
        for start in range(0, rows.height, batch_size):
            chunk = rows.slice(start, batch_size)
            top = chunk["commit_position"].max()
            yield SourceBatch(kurrentdb_records(chunk, source=self.name,
                                                default_stream_type=self.default_stream_type,
                                                valid_time=self.valid_time),
                              int(top) if isinstance(top, int) else int(after or 0))


@dataclass(frozen=True)
class KurrentLiveSource:
    """A running KurrentDB server (``kurrentdb://user:password@host:2113?tls=false``), read
    through the official client (``pip install "eventlab[kurrentdb]"``)."""

    url: str
    default_stream_type: str = "stream"
    valid_time: str | None = None
    timeout: float = 30.0
    kind: str = "kurrentdb"

    @property
    def name(self) -> str:
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.hostname}:{parts.port or 2113}"

    @property
    def key(self) -> str:
        return f"kurrentdb:{self.name}"

    def batches(self, after: Position | None, *, batch_size: int) -> Iterator[SourceBatch]:
        client = self._client()
        position = None if after is None else int(after)
        try:
            while True:
                events = list(client.read_all(commit_position=position, limit=batch_size,
                                              timeout=self.timeout))
                rows = records_frame(events)
                if position is not None:
                    rows = rows.filter(pl.col("commit_position") > position)
                if rows.height == 0:
                    return
                rows = rows.with_columns(pl.col("commit_position").alias(LINE),
                                         raw_text("id", "type", "stream_name",
                                                  "commit_position").alias(RAW))
                position = int(rows["commit_position"].max())  # type: ignore[arg-type]
                yield SourceBatch(kurrentdb_records(
                    rows, source=self.name, default_stream_type=self.default_stream_type,
                    valid_time=self.valid_time), position)
                if len(events) < batch_size:
                    return
        except Exception as exc:
            if isinstance(exc, SourceConnectionError | ImportFormatError | ValidationError):
                raise
            raise SourceConnectionError(
                f"cannot read {self.name}: {redact(str(exc).splitlines()[0] if str(exc) else type(exc).__name__, self.url)}"  # noqa: E501
                ". Hint: check the URL (tls=false for an insecure server), user and password."
            ) from None
        finally:
            client.close()

    def _client(self) -> Any:
        module = require("kurrentdbclient", "kurrentdb")
        try:
            return module.KurrentDBClient(self.url)
        except Exception as exc:
            raise SourceConnectionError(
                f"cannot connect to {self.name}: {redact(str(exc), self.url)}. Hint: a "
                "KurrentDB URL looks like kurrentdb://admin:changeit@localhost:2113?tls=false."
            ) from None


def parse_json(text: str) -> Any:
    """Helper for tests and notebooks: a dump line as a dict."""
    return json.loads(text)
