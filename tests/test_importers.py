"""CSV and JSON Lines import, import_file, quarantine files and ImportSummary.

Every import checks the accounting invariant read == imported + quarantined + skipped_duplicate.
"""

from __future__ import annotations

import gzip
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from eventlab import EventStore, ImportFormatError, SchemaError, ValidationError
from eventlab.importers import (
    ColumnMapping,
    ImportSummary,
    import_file,
    import_summary_html,
    read_csv,
    read_jsonl,
    read_quarantine,
    read_xes,
)
from eventlab.sources.batch import Parsed
from tests.conftest import dataset

MAPPING = ColumnMapping(stream_id="case", event_type="activity", timestamp="time")


def balanced(result: Parsed | ImportSummary) -> bool:
    if isinstance(result, Parsed):
        return result.read == result.events.height + result.quarantine.height + result.duplicates
    return result.read == result.imported + result.quarantined + result.skipped_duplicate


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


# ----------------------------------------------------------------------------- CSV
def test_running_example_csv_equals_its_xes_twin() -> None:
    csv = read_csv(dataset("running-example.csv"))
    xes = read_xes(dataset("running-example.xes"))
    assert (csv.read, csv.events.height, csv.streams, csv.quarantine.height) == (42, 42, 6, 0)
    columns = ["stream_id", "version", "event_type", "occurred_at", "actor"]
    assert csv.events.select(columns).sort("stream_id", "version").equals(
        xes.events.select(columns).sort("stream_id", "version"))
    assert csv.events.schema["Costs"] == pl.Int64 and csv.events.schema["column_1"] == pl.Int64
    assert csv.events["case:creator"].unique().to_list() == ["Fluxicon Nitro"]


def test_csv_malformed_records_go_to_quarantine_with_line_numbers(tmp_path: Path) -> None:
    lines = [
        b"case,activity,time,amount,note",
        b'c1,open,2024-01-01T10:00:00Z,5,"multi',  # a quoted field over two lines: one record
        b'line ""quoted"" note"',
        b"c1,pay,2024-01-02T10:00:00Z,2.5",  # 4 fields
        b'c2,open,2024-01-01T09:00:00Z,1,bad"quote',
        b"c2,\xffbad,2024-01-01T09:00:00Z,1,x",  # invalid UTF-8
        b"",
        b"c2,close,2024-01-03,3,",
        b"c3,open,2024-01-01,1,x,extra",
    ]
    parsed = read_csv(write(tmp_path, "log.csv", b"\r\n".join(lines) + b"\r\n"), mapping=MAPPING)
    assert balanced(parsed) and parsed.read == 6
    quarantine = parsed.quarantine
    assert quarantine["source_line"].to_list() == [4, 5, 6, 9]
    reasons = quarantine["reason"].to_list()
    assert reasons[0] == "expected 5 fields, found 4"
    assert reasons[1].startswith("malformed CSV quoting")
    assert reasons[2].startswith("invalid UTF-8")
    assert reasons[3] == "expected 5 fields, found 6"
    assert quarantine["raw"][0] == "c1,pay,2024-01-02T10:00:00Z,2.5"
    assert quarantine["raw"][2] == "c2,\ufffdbad,2024-01-01T09:00:00Z,1,x"
    events = parsed.events.sort("stream_id", "version")
    assert events["note"].to_list() == ['multi\nline "quoted" note', None]
    assert events["amount"].to_list() == [5, 3] and events.schema["amount"] == pl.Int64


def test_csv_quote_that_never_closes_costs_only_its_line(tmp_path: Path) -> None:
    text = 'case,activity,time\nc1,a,2024-01-01\nc1,"b,2024-01-02\nc1,c,2024-01-03\n'
    parsed = read_csv(write(tmp_path, "log.csv", text), mapping=MAPPING)
    assert parsed.events["event_type"].to_list() == ["a", "c"] and balanced(parsed)
    assert parsed.quarantine["source_line"].to_list() == [3]
    assert parsed.quarantine["reason"].item().startswith("malformed CSV quoting")


def test_csv_required_fields_and_timestamps(tmp_path: Path) -> None:
    text = "\n".join([
        "case,activity,time",
        ",open,2024-01-01",
        "c1,,2024-01-01",
        "c1,open,",
        "c1,open,next tuesday",
        "c1,open,0000-05-01",
        "c1,open,2024-03-31T02:30:00",  # naive, in a DST gap in Europe/Rome
        "c1,a,2024-01-01T10:00:00+01:00",
        "c1,b,2024-01-01 10:00:00Z",
        "c1,c,2024-01-01",
        "c1,d,2024-07-01T12:00:00",
    ])
    parsed = read_csv(write(tmp_path, "log.csv", text), mapping=MAPPING, tz="Europe/Rome")
    reasons = dict(zip(parsed.quarantine["source_line"], parsed.quarantine["reason"], strict=True))
    assert reasons[2] == "missing stream id (column 'case')"
    assert reasons[3] == "missing event type (column 'activity')"
    assert reasons[4] == "missing timestamp (column 'time')"
    assert reasons[5].startswith("unparseable timestamp (column 'time') 'next tuesday'")
    assert reasons[6] == "timestamp (column 'time') '0000-05-01' is outside the years 1..9999"
    assert reasons[7].startswith("unparseable timestamp")
    got = dict(zip(parsed.events["event_type"], parsed.events["occurred_at"], strict=True))
    assert got == {
        "a": datetime(2024, 1, 1, 9, tzinfo=UTC), "b": datetime(2024, 1, 1, 10, tzinfo=UTC),
        "c": datetime(2023, 12, 31, 23, tzinfo=UTC), "d": datetime(2024, 7, 1, 10, tzinfo=UTC),
    }
    assert parsed.events["version"].to_list() == [1, 2, 3, 4]
    assert parsed.events["event_type"].to_list() == ["c", "a", "b", "d"]  # sorted by time
    assert balanced(parsed)


def test_csv_timestamp_format(tmp_path: Path) -> None:
    text = "case,activity,time\nc1,a,31/12/2023 23:30\nc1,b,01/13/2024 00:00\n"
    mapping = ColumnMapping("case", "activity", "time", timestamp_format="%d/%m/%Y %H:%M")
    parsed = read_csv(write(tmp_path, "log.csv", text), mapping=mapping, tz="Europe/Rome")
    assert parsed.events["occurred_at"].to_list() == [datetime(2023, 12, 31, 22, 30, tzinfo=UTC)]
    assert parsed.quarantine["source_line"].to_list() == [3]
    assert parsed.quarantine["reason"].item() == (
        "unparseable timestamp (column 'time') '01/13/2024 00:00': it does not match "
        "timestamp_format '%d/%m/%Y %H:%M'")


def test_csv_payload_typing(tmp_path: Path) -> None:
    text = "\n".join([
        "case,activity,time,n,x,flag,code,mixed,empty",
        'c1,a,2024-01-01,1,1.5,true,007,1,',
        'c1,b,2024-01-02,2,2,False,"",x,',
        'c1,c,2024-01-03,,-3e2,TRUE,8,2.5,',
    ])
    events = read_csv(write(tmp_path, "log.csv", text), mapping=MAPPING).events
    schema = events.schema
    assert (schema["n"], schema["x"], schema["flag"]) == (pl.Int64, pl.Float64, pl.Boolean)
    assert schema["code"] == pl.String  # "" is a value, not a number
    assert schema["mixed"] == pl.String
    assert events["n"].to_list() == [1, 2, None] and events["x"].to_list() == [1.5, 2.0, -300.0]
    assert events["flag"].to_list() == [True, False, True]
    assert events["empty"].null_count() == 3


def test_csv_reserved_and_unnamed_columns(tmp_path: Path) -> None:
    text = ",case,activity,time,position,version,recorded_at,stream_id\n0,c1,a,2024-01-01,p,v,r,s\n"
    events = read_csv(write(tmp_path, "log.csv", text), mapping=MAPPING).events
    assert {"column_1", "source_position", "source_version", "source_recorded_at",
            "source_stream_id"} <= set(events.columns)
    assert events["stream_id"].item() == "c1" and events["version"].item() == 1


def test_csv_mapping_errors_list_available_columns(tmp_path: Path) -> None:
    path = write(tmp_path, "log.csv", "case,activity,time\nc1,a,2024-01-01\n")
    with pytest.raises(ValidationError, match=r"timestamp='Time'.*Available columns: \['case'"):
        read_csv(path, mapping=ColumnMapping("case", "activity", "Time"))
    with pytest.raises(ValidationError, match="neither a process-mining export"):
        read_csv(path)
    with pytest.raises(ImportFormatError, match="is empty: a CSV file needs a header"):
        read_csv(write(tmp_path, "empty.csv", ""))


def test_csv_eventlab_export_is_recognised(tmp_path: Path) -> None:
    text = ("stream_type,stream_id,version,event_type,occurred_at,event_id,actor,amount\n"
            "account,a1,1,Opened,2024-01-01T00:00:00Z,e1,ann,5\n"
            "account,a1,2,Deposited,2024-01-02T00:00:00Z,e2,bob,7\n")
    parsed = read_csv(write(tmp_path, "export.csv", text))
    assert parsed.versions_from_source
    row = parsed.events.row(1, named=True)
    assert (row["stream_type"], row["event_id"], row["actor"], row["version"]) == (
        "account", "e2", "bob", 2)


# ----------------------------------------------------------------------------- source ids, versions
def test_source_event_ids_dedupe_and_conflict(tmp_path: Path, store: EventStore) -> None:
    text = "\n".join([
        "id,case,activity,time",
        "e1,c1,a,2024-01-01",
        "e1,c1,a,2024-01-01",  # the same record again: a duplicate
        "e1,c1,b,2024-01-02",  # same id, other content: quarantined
        ",c1,c,2024-01-03",  # no id: a deterministic one
    ])
    mapping = ColumnMapping("case", "activity", "time", event_id="id")
    path = write(tmp_path, "log.csv", text)
    parsed = read_csv(path, mapping=mapping)
    assert (parsed.events.height, parsed.duplicates, parsed.quarantine.height) == (2, 1, 1)
    assert parsed.quarantine["reason"].item() == (
        "event_id 'e1' was already used by the record at line 2 with different content")
    summary = import_file(store, path, mapping=mapping)
    assert (summary.imported, summary.skipped_duplicate, summary.quarantined) == (2, 1, 1)
    assert balanced(summary) and "e1" in store.scan().collect()["event_id"].to_list()


def test_source_versions_are_kept_and_checked(tmp_path: Path, store: EventStore) -> None:
    mapping = ColumnMapping("case", "activity", "time", version="v")
    text = "case,activity,time,v\nc1,b,2024-01-01,2\nc1,a,2024-01-02,1\nc1,c,2024-01-03,x\n"
    parsed = read_csv(write(tmp_path, "log.csv", text), mapping=mapping)
    assert parsed.events["event_type"].to_list() == ["a", "b"]  # version order wins in a stream
    assert parsed.quarantine["reason"].item() == "version (column 'v') 'x' is not an integer >= 1"
    gap = write(tmp_path, "gap.csv", "case,activity,time,v\nc1,a,2024-01-01,1\nc1,b,2024-01-02,3\n")
    with pytest.raises(ValidationError, match="gapless"):
        import_file(store, gap, mapping=mapping)
    assert store.head == 0 and not (store.root / "_quarantine").exists()


def test_grown_file_continues_streams(tmp_path: Path, store: EventStore) -> None:
    head = "case,activity,time\nc1,a,2024-01-01\nc2,a,2024-01-01\n"
    path = write(tmp_path, "log.csv", head)
    assert import_file(store, path, mapping=MAPPING).imported == 2
    write(tmp_path, "log.csv", head + "c1,b,2024-01-02\nc3,a,2024-01-03\n")
    again = import_file(store, path, mapping=MAPPING)
    assert (again.imported, again.skipped_duplicate, again.read) == (2, 2, 4)
    rows = store.scan().collect().sort("stream_id", "version")
    assert rows.select("stream_id", "version", "event_type").rows() == [
        ("c1", 1, "a"), ("c1", 2, "b"), ("c2", 1, "a"), ("c3", 1, "a")]


def test_stream_type_column_and_argument(tmp_path: Path) -> None:
    text = ("kind,case,activity,time\nfine,c1,a,2024-01-01\n,c2,a,2024-01-01\n"
            "bad type,c3,a,2024-01-01\n")
    mapping = ColumnMapping("case", "activity", "time", stream_type="kind")
    parsed = read_csv(write(tmp_path, "my log.csv", text), mapping=mapping)
    assert dict(zip(parsed.events["stream_id"], parsed.events["stream_type"], strict=True)) == {
        "c1": "fine", "c2": "my-log"}
    assert parsed.quarantine["reason"].item().startswith("invalid stream type 'bad type'")
    other = read_csv(write(tmp_path, "x.csv", text), mapping=mapping, stream_type="claims")
    assert "claims" in other.events["stream_type"].to_list()


# ----------------------------------------------------------------------------- JSON Lines
def test_jsonl_values_nested_and_malformed(tmp_path: Path) -> None:
    lines = [
        json.dumps({"stream_id": "a", "event_type": "Opened", "occurred_at": "2024-01-01T10:00:00Z",
                    "amount": 5, "meta": {"x": [1, {"y": "}"}]}, "tags": ["t"], "ok": True}),
        json.dumps({"stream_id": "a", "event_type": "Paid", "occurred_at": "2024-01-02",
                    "amount": 2.5, "note": 'has {brace} and "quote"', "kéy": 1, "ok": False}),
        "",
        "not json",
        "[1, 2]",
        '"{\\"stream_id\\": 1}"',
        "null",
        '{"stream_id": "b", "event_type": "Opened"}',
        '{"stream_id": 7, "event_type": "Opened", "occurred_at": "2024-01-05", "amount": "x"}',
    ]
    data = "\n".join(lines).encode() + b'\n{"stream_id": "\xff"}\n{"a": 1,}\n{"a": 1}{"b": 2}\n'
    parsed = read_jsonl(write(tmp_path, "log.jsonl", data))
    assert balanced(parsed) and parsed.read == 11
    reasons = dict(zip(parsed.quarantine["source_line"], parsed.quarantine["reason"], strict=True))
    assert reasons == {
        4: "invalid JSON", 5: "the JSON value is not an object",
        6: "the JSON value is not an object", 7: "the JSON value is not an object",
        8: "missing timestamp (key 'occurred_at')",
        10: "invalid UTF-8 (bad bytes shown as U+FFFD)", 11: "invalid JSON", 12: "invalid JSON",
    }
    events = parsed.events.sort("occurred_at")
    assert events["meta"][0] == '{"x": [1, {"y": "}"}]}' and events["tags"][0] == '["t"]'
    assert events["note"][1] == 'has {brace} and "quote"' and events["kéy"][1] == 1
    assert events.schema["amount"] == pl.String  # 5, 2.5 and "x"
    assert events.schema["ok"] == pl.Boolean and events["stream_id"][2] == "7"


def test_jsonl_values_whose_shapes_conflict(tmp_path: Path) -> None:
    """An array in one line and an object in another: Polars cannot infer one type for them."""
    rows = [{"case": "c", "activity": "a", "time": "2024-01-01", "k": [1, "x"]},
            {"case": "c", "activity": "b", "time": "2024-01-02", "k": {"b": {"c": None}}},
            {"case": "c", "activity": "c", "time": "2024-01-03", "k": 3}]
    text = "\n".join(json.dumps(r) for r in rows)
    parsed = read_jsonl(write(tmp_path, "log.jsonl", text), mapping=MAPPING)
    assert parsed.quarantine.height == 0 and balanced(parsed)
    assert [json.loads(v) for v in parsed.events["k"]] == [[1, "x"], {"b": {"c": None}}, 3]


def test_jsonl_mapping_and_suffixes(tmp_path: Path, store: EventStore) -> None:
    line = json.dumps({"case": "c1", "activity": "a", "time": "2024-01-01"})
    path = write(tmp_path, "log.ndjson", line + "\n")
    with pytest.raises(ValidationError, match="Available columns"):
        import_file(store, path, mapping=ColumnMapping("case", "activity", "when"))
    summary = import_file(store, path, mapping=MAPPING)
    assert summary.format == "jsonl" and summary.imported == 1 and balanced(summary)
    gz = tmp_path / "log.jsonl.gz"
    gz.write_bytes(gzip.compress((line + "\n").encode()))
    assert read_jsonl(gz, mapping=MAPPING).events.height == 1


def test_empty_jsonl_imports_nothing(tmp_path: Path, store: EventStore) -> None:
    summary = import_file(store, write(tmp_path, "empty.jsonl", "\n\n"))
    assert (summary.read, summary.imported, summary.commit, summary.quarantine_path) == (
        0, 0, None, None)


# ----------------------------------------------------------------------------- import_file
def test_quarantine_file_is_written_only_when_needed(tmp_path: Path, store: EventStore) -> None:
    clean = import_file(store, write(tmp_path, "clean.csv", "case,activity,time\nc,a,2024-01-01\n"),
                        mapping=MAPPING)
    assert clean.quarantine_path is None
    text = "case,activity,time\nc,a,2024-01-02\nc,,2024-01-03\nc,b\n"
    summary = import_file(store, write(tmp_path, "dirty.csv", text), mapping=MAPPING)
    assert summary.quarantined == 2 and balanced(summary)
    path = summary.quarantine_path
    assert path is not None and path.parent == store.root / "_quarantine"
    assert path.name.endswith("-dirty.parquet") and path.name[:8].isdigit()
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left
    saved = read_quarantine(path)
    assert saved.schema == {"source": pl.String, "source_line": pl.Int64, "reason": pl.String,
                            "raw": pl.String}
    assert saved["source_line"].to_list() == [3, 4] and saved["raw"][1] == "c,b"


def test_raw_text_is_truncated(tmp_path: Path) -> None:
    text = "case,activity,time,blob\n" + "c,a,never," + "x" * 10_000 + "\n"
    quarantine = read_csv(write(tmp_path, "log.csv", text), mapping=MAPPING).quarantine
    assert quarantine["raw"].str.len_chars().item() == 4096


def test_import_file_argument_errors(tmp_path: Path, store: EventStore) -> None:
    csv = write(tmp_path, "log.csv", "case,activity,time\nc,a,2024-01-01\n")
    with pytest.raises(ImportFormatError, match="cannot tell the format"):
        import_file(store, write(tmp_path, "log.txt", "x"))
    with pytest.raises(ValidationError, match="format='parquet' is not supported"):
        import_file(store, csv, format="parquet")
    with pytest.raises(ValidationError, match="invalid stream_type"):
        import_file(store, csv, mapping=MAPPING, stream_type="../escape")
    with pytest.raises(ValidationError, match="no file at"):
        import_file(store, tmp_path / "missing.csv")
    with pytest.raises(ValidationError, match="unknown time zone"):
        import_file(store, csv, mapping=MAPPING, tz="Mars/Olympus")
    with pytest.raises(ValidationError, match="mapping applies to CSV and JSON Lines only"):
        import_file(store, dataset("running-example.xes"), mapping=MAPPING)
    with pytest.raises(ImportFormatError, match="cannot be decompressed"):
        import_file(store, write(tmp_path, "broken.xes.gz", b"\x1f\x8b\x08garbage"))
    assert store.head == 0


def test_default_stream_type_is_the_file_stem(store: EventStore) -> None:
    summary = import_file(store, dataset("08_receipt.xes.gz"))
    assert store.info().stream_types == {"08_receipt": 8_577} and balanced(summary)


def test_format_argument_overrides_suffix(tmp_path: Path, store: EventStore) -> None:
    path = write(tmp_path, "events.log", "case,activity,time\nc,a,2024-01-01\n")
    assert import_file(store, path, format="csv", mapping=MAPPING).imported == 1


def test_typed_payload_fits_text_already_stored(store: EventStore) -> None:
    """running-example.xes stores Costs as text; the CSV twin would infer Int64."""
    import_file(store, dataset("running-example.xes"), stream_type="xes")
    summary = import_file(store, dataset("running-example.csv"), stream_type="csv")
    assert summary.imported == 42 and store.schema["Costs"] == pl.String
    conflict = pl.DataFrame({"stream_id": ["s"], "event_type": ["e"], "Costs": [1.5],
                             "occurred_at": [datetime(2024, 1, 1, tzinfo=UTC)]})
    with pytest.raises(SchemaError):
        store.append(conflict, stream_type="other")  # the store itself still refuses conflicts


def test_summary_html_and_invariant(tmp_path: Path, store: EventStore) -> None:
    text = "case,activity,time\nc,a,2024-01-01\nc,a,\n"
    summary = import_file(store, write(tmp_path, "log.csv", text), mapping=MAPPING)
    html = import_summary_html(summary)
    assert html == summary._repr_html_()
    for label, value in (("read", "2"), ("imported", "1"), ("quarantined", "1"),
                         ("skipped (duplicates)", "0"), ("format", "csv")):
        row = rf">{re.escape(label)}</td>\s*<td[^>]*>{value}</td>"
        assert re.search(row, html), (label, value)
    assert summary.balanced and balanced(summary)
    with pytest.raises(AttributeError):
        summary.read = 3  # type: ignore[misc]


@pytest.mark.parametrize("separator", [";", "\t", "|"])
def test_csv_other_separators(tmp_path: Path, separator: str) -> None:
    rows = ["case,activity,time,amount", 'c1,"a, with comma",2024-01-01,"1,5"']
    text = "\n".join(r.replace(",", separator) if separator != "," else r for r in rows)
    text = text.replace(f"a{separator} with comma", "a, with comma")
    text = text.replace(f"1{separator}5", "1,5")
    parsed = read_csv(write(tmp_path, "log.csv", text), mapping=MAPPING, separator=separator)
    assert parsed.events.select("event_type", "amount").rows() == [("a, with comma", "1,5")]
    with pytest.raises(ValidationError, match="separator"):
        read_csv(write(tmp_path, "log.csv", text), mapping=MAPPING, separator='"')
