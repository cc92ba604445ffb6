"""XES import: the vectorized reader equals a stdlib-XML reading, on real logs and on tricky files.

The oracle below walks the document with ``xml.etree.ElementTree`` (a Python loop per element)
and applies the documented mapping; the fast reader must produce the same events, values, dtypes
and versions. It is slow and obviously correct, which is the point.
"""

from __future__ import annotations

import gzip
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from eventlab import EventStore, ImportFormatError
from eventlab.envelope import ENVELOPE
from eventlab.importers import import_file, read_xes
from eventlab.sources.batch import Parsed
from tests.conftest import dataset

REAL_LOGS = [  # file, streams, events (from ../shared/datasets/README.md)
    ("running-example.xes", 6, 42),
    ("roadtraffic100traces.xes", 100, 390),
    ("08_receipt.xes.gz", 1_434, 8_577),
    ("helpdesk.xes.gz", 4_580, 21_348),
    ("06_bpic2013_closed.xes.gz", 1_487, 6_660),
]
ATTRIBUTES = {"string", "date", "int", "float", "boolean", "id", "list", "container"}
RESERVED = set(ENVELOPE) | {"occurred_month"}
ENVELOPE_KEYS = {"concept:name": "event_type", "time:timestamp": "ts", "org:resource": "actor"}


# ----------------------------------------------------------------------------- the oracle
def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _flatten(element: ET.Element, prefix: str, out: list[tuple[str, str, str | None]]) -> None:
    for child in element:
        tag = _local(child.tag)
        if tag == "values":
            _flatten(child, prefix, out)
            continue
        if tag not in ATTRIBUTES:
            continue
        path = f"{prefix}.{child.get('key')}" if prefix else str(child.get("key"))
        if tag not in ("list", "container"):
            out.append((path, tag, child.get("value")))
        _flatten(child, path, out)


def _attributes(element: ET.Element) -> dict[str, tuple[str, str | None]]:
    flat: list[tuple[str, str, str | None]] = []
    _flatten(element, "", flat)
    seen: dict[str, int] = {}
    out = {}
    for path, tag, value in flat:
        seen[path] = seen.get(path, 0) + 1
        out[path if seen[path] == 1 else f"{path}#{seen[path]}"] = (tag, value)
    return out


def _date(text: str, tz: str) -> datetime | None:
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(tz))
    return value.astimezone(UTC)


def _convert(kind: str, text: str, tz: str) -> object:
    """Python conversion of one XES value; raises ValueError when it does not fit."""
    text = text.strip()
    if kind == "int" and re.fullmatch(r"[+-]?\d+", text) and abs(int(text)) < 2**63:
        return int(text)
    if kind == "float" and re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", text):
        return float(text)
    if kind == "boolean" and text.lower() in ("true", "1", "false", "0"):
        return text.lower() in ("true", "1")
    if kind == "date" and (value := _date(text, tz)) is not None:
        return value
    raise ValueError(text)


DTYPES = {"int": pl.Int64(), "float": pl.Float64(), "boolean": pl.Boolean(),
          "date": pl.Datetime("us", "UTC")}


def _typed_column(values: list[str | None], kinds: set[str], tz: str) -> pl.Series:
    if len(kinds) == 1 and (kind := next(iter(kinds))) in DTYPES:
        try:
            return pl.Series([None if v is None else _convert(kind, v, tz) for v in values],
                             dtype=DTYPES[kind])
        except ValueError:
            pass
    return pl.Series(values, dtype=pl.String)


def _traces(path: Path, limit: int | None) -> list[ET.Element]:
    """The first ``limit`` (all if None) <trace> elements, parsed by expat via ElementTree."""
    raw = path.read_bytes()
    data = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    if limit is None:
        return [t for t in ET.fromstring(data) if _local(t.tag) == "trace"]
    parser = ET.XMLPullParser(events=("end",))
    traces: list[ET.Element] = []
    for start in range(0, len(data), 1 << 16):
        parser.feed(data[start:start + (1 << 16)])
        traces += [e for _, e in parser.read_events() if _local(e.tag) == "trace"]
        if len(traces) >= limit:
            return traces[:limit]
    return traces


def stdlib_read(path: Path, tz: str = "UTC", limit: int | None = None) -> tuple[
    pl.DataFrame, int
]:
    """(accepted events sorted by stream_id, version; number of rejected events) of the first
    ``limit`` traces (all by default)."""
    rows: list[dict[str, tuple[str, str | None]]] = []
    meta: list[tuple[int, str]] = []
    for n, trace in enumerate(_traces(path, limit), start=1):
        trace_attrs = _attributes(trace)
        name = trace_attrs.pop("concept:name", ("string", None))[1]
        stream_id = name.strip() if name and name.strip() else f"trace-{n}"
        for event in (e for e in trace if _local(e.tag) == "event"):
            attrs = _attributes(event)
            attrs.update({f"case:{k}": v for k, v in trace_attrs.items()})
            rows.append(attrs)
            meta.append((len(meta) + 1, stream_id))
    envelope = {"order": [m[0] for m in meta], "stream_id": [m[1] for m in meta]}
    for key, column in ENVELOPE_KEYS.items():
        envelope[column] = [r.get(key, ("string", None))[1] for r in rows]
    frame = pl.DataFrame(envelope, schema={"order": pl.Int64, "stream_id": pl.String,
                                           "event_type": pl.String, "ts": pl.String,
                                           "actor": pl.String})
    frame = frame.with_columns(pl.Series("occurred_at", [
        None if t is None else _date(t, tz) for t in frame["ts"]],
        dtype=pl.Datetime("us", "UTC")))
    paths = dict.fromkeys(p for r in rows for p in r if p not in ENVELOPE_KEYS)
    for path in paths:
        kinds = {r[path][0] for r in rows if path in r}
        column = _typed_column([r[path][1] if path in r else None for r in rows], kinds, tz)
        frame = frame.with_columns(column.alias(f"source_{path}" if path in RESERVED else path))
    ok = (frame["event_type"].str.strip_chars().str.len_chars() > 0) & \
        frame["occurred_at"].is_not_null()
    good = frame.filter(ok.fill_null(False)).sort("occurred_at", "order").with_columns(
        pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over("stream_id").alias("version"))
    return good.drop("order", "ts").sort("stream_id", "version"), frame.height - good.height


def assert_matches_oracle(parsed: Parsed, path: Path, tz: str = "UTC",
                          limit: int | None = None) -> None:
    """The reader's events equal the oracle's (for a ``limit``: those of the first traces)."""
    expected, rejected = stdlib_read(path, tz, limit)
    assert parsed.read == parsed.events.height + parsed.quarantine.height + parsed.duplicates
    got = parsed.events.sort("stream_id", "version")
    if limit is None:
        assert parsed.quarantine.height == rejected
    else:
        got = got.filter(pl.col("stream_id").is_in(expected["stream_id"].unique().implode()))
    assert set(got.columns) - {"stream_type", "event_id"} == set(expected.columns)
    assert_frame_equal(got.select(expected.columns), expected)


# ----------------------------------------------------------------------------- real logs
@pytest.mark.parametrize(("name", "streams", "events"), REAL_LOGS)
def test_real_log_matches_stdlib_reading(name: str, streams: int, events: int) -> None:
    path = dataset(name)
    parsed = read_xes(path)
    assert (parsed.read, parsed.events.height, parsed.streams) == (events, events, streams)
    assert parsed.quarantine.height == 0 and parsed.duplicates == 0
    # helpdesk is the largest: the slow oracle reads its first 1,000 traces (~4,700 events)
    assert_matches_oracle(parsed, path, limit=1_000 if name == "helpdesk.xes.gz" else None)


def test_dst_offsets_become_utc() -> None:
    path = dataset("06_bpic2013_closed.xes.gz")
    stamps = set(read_xes(path).events["occurred_at"].to_list())
    text = gzip.decompress(path.read_bytes()).decode()
    text = text[text.index("<trace>"):]  # skip the <global> defaults
    for offset in ("+01:00", "+02:00"):  # the log switches offset with daylight saving time
        raw = re.findall(rf'key="time:timestamp" value="([^"]+{re.escape(offset)})"', text)
        assert raw, offset
        for value in (raw[0], raw[-1]):
            assert datetime.fromisoformat(value).astimezone(UTC) in stamps


def test_payload_types_follow_xes_types() -> None:
    events = read_xes(dataset("roadtraffic100traces.xes")).events
    schema = events.schema
    assert schema["amount"] == pl.Float64 and schema["points"] == pl.Int64
    assert schema["article"] == pl.Int64 and schema["vehicleClass"] == pl.String
    receipt = read_xes(dataset("08_receipt.xes.gz")).events
    assert receipt.schema["case:deadline"] == pl.Datetime("us", "UTC")
    assert receipt.schema["case:channel"] == pl.String


@pytest.mark.parametrize(("name", "streams", "events"), REAL_LOGS[:3])
def test_import_into_store_and_reimport_adds_nothing(store: EventStore, name: str, streams: int,
                                                     events: int) -> None:
    first = import_file(store, dataset(name))
    assert (first.read, first.imported, first.quarantined, first.skipped_duplicate) == (
        events, events, 0, 0)
    assert first.streams == streams and store.head == events and first.commit == 1
    stored = store.scan().select("stream_type", "stream_id").unique().collect()
    assert stored.height == streams
    again = import_file(store, dataset(name))
    assert (again.imported, again.skipped_duplicate, again.commit) == (0, events, None)
    assert again.read == again.imported + again.quarantined + again.skipped_duplicate
    assert store.head == events


def test_stored_versions_follow_time_within_each_trace(store: EventStore) -> None:
    import_file(store, dataset("08_receipt.xes.gz"))
    rows = store.scan().collect()
    by_version = rows.sort("stream_id", "version")["occurred_at"]
    by_time = rows.sort("stream_id", "occurred_at")["occurred_at"]
    assert by_version.equals(by_time)
    positions = store.scan().collect().sort("position")
    assert positions["occurred_at"].is_sorted()


# ----------------------------------------------------------------------------- tricky files
TRICKY = """<?xml version="1.0" encoding="UTF-8"?>
<!-- a comment with <angle brackets> and "quotes" -->
<log xes.version="1.0" xmlns="http://www.xes-standard.org/">
  <string key="concept:name" value="log level: not imported"/>
  <global scope="event"><string key="concept:name" value="default"/></global>
  <trace>
    <string key="concept:name" value="T&amp;1"/>
    <int key="priority" value="3"/>
    <event>
      <string key="concept:name" value="Open &lt;a&gt; &quot;x&quot; &apos;y&apos; &amp;lt;"/>
      <date key="time:timestamp" value="2024-03-01T10:00:00.000+01:00"/>
      <string key="org:resource" value="R&#233;mi &#x41;"/>
      <int key="amount" value=" 12 "/>
      <float key="rate" value="1.5E2"/>
      <boolean key="urgent" value="true"/>
      <id key="ref" value="id-1"/>
      <string key="version" value="v-from-source"/>
      <string key="note" value="tab	and
newline"/>
      <list key="items">
        <values>
          <string key="item" value="a"/>
          <string key="item" value="b"/>
        </values>
      </list>
      <container key="box"><int key="width" value="4"/></container>
      <string key="parent" value="p"><string key="child" value="c"/></string>
    </event>
    <event>
      <string value='single quoted' key='concept:name'/>
      <date key = "time:timestamp" value = "2024-03-01T09:30:00Z" />
      <int key="amount" value="not a number"/>
      <boolean key="urgent" value="0"/>
      <float key="rate" value="2"/>
    </event>
    <event>
      <string key="concept:name" value="Close"/>
      <date key="time:timestamp" value="2024-03-02"/>
      <![CDATA[ ignored <text> ]]>
      <boolean key="urgent" value="false"/>
      <int key="mixed" value="1"/>
    </event>
  </trace>
  <trace>
    <event>
      <string key="concept:name" value="Open"/>
      <date key="time:timestamp" value="2024-03-05T08:00:00"/>
      <string key="mixed" value="text"/>
    </event>
    <event/>
  </trace>
</log>
"""


def _write(tmp_path: Path, text: str, name: str = "tricky.xes", gz: bool = False) -> Path:
    path = tmp_path / name
    data = text.encode("utf-8")
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def test_tricky_file_matches_stdlib_reading(tmp_path: Path) -> None:
    path = _write(tmp_path, TRICKY)
    parsed = read_xes(path)
    assert_matches_oracle(parsed, path)
    assert parsed.read == 5 and parsed.events.height == 4 and parsed.quarantine.height == 1


def test_tricky_values_unescaped_typed_and_flattened(tmp_path: Path) -> None:
    events = read_xes(_write(tmp_path, TRICKY)).events.sort("occurred_at")
    first = events.filter(pl.col("event_type").str.starts_with("Open <")).row(0, named=True)
    assert first["event_type"] == "Open <a> \"x\" 'y' &lt;"
    assert first["stream_id"] == "T&1" and first["actor"] == "Rémi A"
    assert first["occurred_at"] == datetime(2024, 3, 1, 9, tzinfo=UTC)
    assert first["rate"] == 150.0 and first["urgent"] is True and first["ref"] == "id-1"
    assert first["note"] == "tab and newline"
    assert (first["items.item"], first["items.item#2"]) == ("a", "b")
    assert first["box.width"] == 4 and (first["parent"], first["parent.child"]) == ("p", "c")
    assert first["source_version"] == "v-from-source" and first["case:priority"] == 3
    assert events.schema["amount"] == pl.String  # "not a number" cannot be an int
    assert events.schema["mixed"] == pl.String  # int in one event, string in another
    assert events.filter(pl.col("event_type") == "single quoted")["urgent"].item() is False
    assert set(events["stream_id"]) == {"T&1", "trace-2"}
    texts = events.select(pl.col(pl.String).str.contains("log level").any()).row(0)
    assert not any(texts)  # log-level attributes are not imported
    assert events.select(pl.col("version")).to_series().to_list() == [1, 2, 3, 1]


def test_tricky_quarantine_reports_line_and_xml(tmp_path: Path) -> None:
    path = _write(tmp_path, TRICKY)
    quarantine = read_xes(path).quarantine
    row = quarantine.row(0, named=True)
    line = TRICKY.splitlines().index("    <event/>") + 1
    assert row["source_line"] == line and row["raw"] == "<event/>"
    assert row["reason"] == "missing event type (event concept:name)"
    assert row["source"] == str(path)


def test_bad_events_are_quarantined_with_reasons(tmp_path: Path) -> None:
    events = [
        ('<date key="time:timestamp" value="2024-01-01T00:00:00Z"/>', "missing event type"),
        ('<string key="concept:name" value="A"/>', "missing timestamp"),
        ('<string key="concept:name" value="A"/><date key="time:timestamp" value="yesterday"/>',
         "unparseable timestamp (event time:timestamp) 'yesterday'"),
        ('<string key="concept:name" value="A"/><date key="time:timestamp" value="0000-01-01"/>',
         "outside the years 1..9999"),
        ('<string key="concept:name" value="ok"/><date key="time:timestamp" value="2024-01-01"/>',
         None),
    ]
    body = "\n".join(f"<event>{e}</event>" for e, _ in events)
    path = _write(tmp_path, f'<log>\n<trace>\n{body}\n</trace>\n<event><string key="concept:name" '
                            'value="B"/><date key="time:timestamp" value="2024-01-01"/></event>\n'
                            "</log>\n")
    parsed = read_xes(path)
    quarantine = parsed.quarantine.sort("source_line")
    reasons = quarantine["reason"].to_list()
    for (_, expected), reason in zip(events[:4], reasons, strict=False):
        assert expected is not None and expected in reason
    assert reasons[4] == "event outside a <trace>"
    assert quarantine["source_line"].to_list() == [3, 4, 5, 6, 9]
    assert quarantine["raw"][1] == f"<event>{events[1][0]}</event>"
    assert parsed.events.height == 1 and parsed.read == 6
    assert parsed.read == parsed.events.height + parsed.quarantine.height + parsed.duplicates


def test_identical_events_in_one_trace_are_both_kept(tmp_path: Path, store: EventStore) -> None:
    event = '<event><string key="concept:name" value="Pay"/><date key="time:timestamp" ' \
            'value="2024-01-01T00:00:00Z"/><float key="amount" value="5.0"/></event>'
    path = _write(tmp_path, f"<log><trace>{event}{event}</trace><trace>{event}</trace></log>")
    parsed = read_xes(path)
    assert parsed.events.height == 3 and parsed.events["event_id"].n_unique() == 3
    first = import_file(store, path)
    again = import_file(store, path)
    assert (first.imported, again.imported, again.skipped_duplicate) == (3, 0, 3)


def test_ids_ignore_formatting_and_compression(tmp_path: Path) -> None:
    plain = read_xes(_write(tmp_path, TRICKY), stream_type="log").events
    reindented = re.sub(r"\n\s*", "\n", TRICKY).replace("/>", " />")
    gz = read_xes(_write(tmp_path, reindented, name="other.xes.gz", gz=True),
                  stream_type="log").events
    key = ["stream_id", "version"]
    assert plain.sort(key)["event_id"].to_list() == gz.sort(key)["event_id"].to_list()
    other_type = read_xes(_write(tmp_path, TRICKY), stream_type="other-log").events
    assert set(other_type["event_id"]).isdisjoint(plain["event_id"])


def test_gzip_is_detected_by_content_not_suffix(tmp_path: Path) -> None:
    hidden = read_xes(_write(tmp_path, TRICKY, name="looks-plain.xes", gz=True))
    plain_named_gz = read_xes(_write(tmp_path, TRICKY, name="not-really.xes.gz"))
    assert hidden.events.height == plain_named_gz.events.height == 4


def test_declared_latin1_encoding_is_converted(tmp_path: Path) -> None:
    text = ('<?xml version="1.0" encoding="ISO-8859-1"?>\n<log><trace><event>'
            '<string key="concept:name" value="Café"/><date key="time:timestamp" '
            'value="2024-01-01"/></event></trace></log>')
    path = tmp_path / "latin.xes"
    path.write_bytes(text.encode("latin-1"))
    assert read_xes(path).events["event_type"].to_list() == ["Café"]


@pytest.mark.parametrize("declaration", [
    '<!DOCTYPE log [<!ENTITY lol "lol">]>',
    '<!ENTITY lol "lol">',
    "<!doctype log>",
])
def test_dtd_and_entity_declarations_are_refused(tmp_path: Path, declaration: str) -> None:
    path = _write(tmp_path, f'<?xml version="1.0"?>\n{declaration}\n<log></log>')
    with pytest.raises(ImportFormatError, match=r"refusing .*DOCTYPE/ENTITY.*line 2"):
        read_xes(path)


def test_declaration_inside_a_comment_is_harmless(tmp_path: Path) -> None:
    path = _write(tmp_path, '<log><!-- <!DOCTYPE x> --><trace><event><string key="concept:name"'
                            ' value="A"/><date key="time:timestamp" value="2024-01-01"/></event>'
                            "</trace></log>")
    assert read_xes(path).events.height == 1


@pytest.mark.parametrize(("text", "message"), [
    ("<log><trace><event>", "looks truncated"),
    ("<log></trace></log>", "not well-formed"),
    ("<log><trace><trace></trace></trace></log>", "not well-formed"),
    ("case,activity\n1,a\n", "no <log> element"),
])
def test_broken_documents_are_refused(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ImportFormatError, match=message):
        read_xes(_write(tmp_path, text))


def test_invalid_utf8_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.xes"
    path.write_bytes(b"<log>\n<trace>\n<event>\xff</event></trace></log>")
    with pytest.raises(ImportFormatError, match="not valid UTF-8 \\(line 3\\)"):
        read_xes(path)


def test_naive_timestamps_use_tz(tmp_path: Path) -> None:
    path = _write(tmp_path, '<log><trace><event><string key="concept:name" value="A"/>'
                            '<date key="time:timestamp" value="2024-07-01T12:00:00"/></event>'
                            "</trace></log>")
    parsed = read_xes(path, tz="Europe/Rome")
    assert parsed.events["occurred_at"].item() == datetime(2024, 7, 1, 10, tzinfo=UTC)
    assert_matches_oracle(parsed, path, tz="Europe/Rome")


def test_attribute_without_key_quarantines_its_event(tmp_path: Path) -> None:
    path = _write(tmp_path, '<log><trace>\n<event><string key="concept:name" value="A"/>'
                            '<date key="time:timestamp" value="2024-01-01"/>'
                            '<string value="orphan"/></event>\n<event><string key="concept:name"'
                            ' value="B"/><date key="time:timestamp" value="2024-01-02"/></event>'
                            "</trace></log>")
    parsed = read_xes(path)
    assert parsed.events["event_type"].to_list() == ["B"]
    row = parsed.quarantine.row(0, named=True)
    assert row["reason"] == "an attribute element of the event has no key"
    assert row["source_line"] == 2 and 'value="orphan"' in row["raw"]
    assert "\x00keyless" not in parsed.events.columns


def test_trace_without_events_and_empty_log(tmp_path: Path) -> None:
    parsed = read_xes(_write(tmp_path, '<log><trace><string key="concept:name" value="t"/></trace>'
                                       "<trace/></log>"))
    assert (parsed.read, parsed.events.height, parsed.quarantine.height) == (0, 0, 0)


def test_namespace_prefixed_elements(tmp_path: Path) -> None:
    path = _write(tmp_path, '<x:log xmlns:x="http://www.xes-standard.org/"><x:trace>'
                            '<x:string key="concept:name" value="t1"/><x:event>'
                            '<x:string key="concept:name" value="A"/>'
                            '<x:date key="time:timestamp" value="2024-01-01T00:00:00Z"/>'
                            '<x:int key="n" value="2"/></x:event></x:trace></x:log>')
    parsed = read_xes(path)
    assert parsed.events.select("stream_id", "event_type", "n").rows() == [("t1", "A", 2)]
    assert_matches_oracle(parsed, path)
