"""Hostile input for every importer (property-based, hypothesis).

Generated CSV, JSON Lines and XES files mix valid records with malformed ones: wrong types,
missing required fields, huge strings, NUL bytes, invalid UTF-8, out-of-range timestamps,
duplicate event ids, versions with gaps or going backwards, bad quoting, XML entity expansion,
unclosed or misnested tags, deeply nested JSON. For every input:

* the reader raises nothing but an EventlabError subclass (a refusal with a message), or
* every record is accounted for: ``read == events + quarantined + duplicates``, and ``read`` is
  the number of records the generator wrote (counted independently);
* the accepted events are a valid batch: a fresh store appends them (``import_file``), the
  summary balances and ``verify`` passes.

Case counts per importer go to test-artifacts/fuzz-summary.json.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from eventlab import ConcurrencyError, EventlabError, EventStore, ValidationError
from eventlab.importers import import_file, read_file

ROOT = Path(__file__).resolve().parents[1]
SUMMARY = ROOT / "test-artifacts" / "fuzz-summary.json"
CASES: Counter[str] = Counter()
# no shrinking: a failure prints its (unshrunk) input at once instead of minutes later in CI;
# CI (CI=true) replays a fixed sequence of inputs, local runs explore new ones every time
FAST = settings(max_examples=100, deadline=None, database=None,
                phases=[Phase.explicit, Phase.generate], derandomize=os.environ.get("CI") == "true",
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
STORE_FAST = settings(FAST, max_examples=30)


@pytest.fixture(scope="module", autouse=True)
def _write_summary() -> Iterator[None]:
    yield
    SUMMARY.parent.mkdir(parents=True, exist_ok=True)
    SUMMARY.write_text(json.dumps(dict(sorted(CASES.items())), indent=1))


def check(data: bytes, suffix: str, records: int | None, tag: str, *, store: bool = False) -> None:
    """Read (and optionally import) ``data``; assert the invariants; count the outcome."""
    CASES[f"{tag}: cases"] += 1
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"input{suffix}"
        path.write_bytes(data)
        try:
            parsed = read_file(path)
        except EventlabError as exc:
            assert str(exc).strip(), "an error without a message"
            CASES[f"{tag}: refused"] += 1
            return
        assert parsed.read == parsed.events.height + parsed.quarantine.height + parsed.duplicates
        if records is not None:
            assert parsed.read == records, (parsed.read, records)
        assert parsed.quarantine["reason"].null_count() == 0
        CASES[f"{tag}: read"] += 1
        CASES[f"{tag}: records"] += parsed.read
        CASES[f"{tag}: quarantined"] += parsed.quarantine.height
        if store:
            target = EventStore.create(Path(folder) / "store")
            try:
                summary = import_file(target, path)  # what the reader accepted, the store takes
            except (ConcurrencyError, ValidationError) as exc:
                # source versions that do not run 1, 2, 3 ... per stream: the whole file is
                # refused with the streams named (nothing appended), never a partial import
                assert isinstance(exc, ConcurrencyError) or str(exc).startswith(
                    "versions must be gapless"), exc
                assert parsed.versions_from_source and target.head == 0
                CASES[f"{tag}: import refused (source versions)"] += 1
                return
            assert summary.balanced and summary.read == parsed.read
            assert target.head == summary.imported
            assert target.verify().ok
            again = import_file(target, path)  # re-import: nothing new, all accounted for
            assert again.imported == 0 and again.balanced
            CASES[f"{tag}: imported into a store"] += 1


# ----------------------------------------------------------------------------- shared atoms
VALID_TIMES = st.sampled_from([
    "2024-01-01T10:00:00Z", "2024-02-29 23:59:59+01:00", "2024-03-01", "2012-03-01T10:30:00.123",
    "1970-01-01T00:00:00-05:00", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"])
BAD_TIMES = st.sampled_from([
    "0000-01-01T00:00:00Z", "10000-01-01T00:00:00Z", "-0001-01-01", "9999-12-31T23:59:59Z",
    "0001-01-01T00:00:00Z", "2024-13-45T25:61:61Z", "1e9", "yesterday", "", " ", "NaN",
    "2024-01-01T00:00:00+99:00", "2024-01-01T10:00:00\x00Z",
])
TIMES = st.one_of(VALID_TIMES, VALID_TIMES, BAD_TIMES)
HUGE = st.integers(1_000, 20_000).map(lambda n: "x" * n)
WORDS = st.sampled_from(["open", "pay", "close", "a b", "é", "../../etc", "\x00", "null", "1"])
TEXT = st.one_of(WORDS, st.text(max_size=12), HUGE)
NUMBER = st.one_of(st.integers(-5, 5), st.integers(-(2**70), 2**70), st.floats())


GOOD = {
    "stream_id": st.sampled_from(["s1", "s2", "s3"]),
    "case:concept:name": st.sampled_from(["s1", "s2", "s3"]),
    "event_type": st.sampled_from(["open", "pay", "close"]),
    "concept:name": st.sampled_from(["open", "pay", "close"]),
    "occurred_at": st.sampled_from(["2024-01-01T10:00:00Z", "2024-01-02", "2023-12-31 23:00:00"]),
    "time:timestamp": st.sampled_from(["2024-01-01T10:00:00Z", "2024-01-02T00:00:00+02:00"]),
    "event_id": st.sampled_from(["e1", "e2", "e3", "e4", ""]),
    "version": st.sampled_from(["1", "2", "3", "1", "5", ""]),
    "amount": st.sampled_from(["1", "2.5", "", "x"]),
    "org:resource": st.sampled_from(["ann", "", "bob"]),
    "stream_type": st.sampled_from(["fine", "", "../x", "a/b"]),
    "note": TEXT,
}


def _csv_field(value: str, quote: bool) -> str:
    return '"' + value.replace('"', '""') + '"' if quote else value


# ----------------------------------------------------------------------------- CSV
#: names the readers use for their own columns: a source key with such a name must not clash
OWN_NAMES = ["line", "text", "order", "event_no", "trace_no", "tr_depth", "__eventlab_order",
             "__eventlab_record", "__eventlab_value_0"]
CSV_HEADERS = [
    ["stream_id", "event_type", "occurred_at", "event_id", "version", "amount"],
    ["case:concept:name", "concept:name", "time:timestamp", "org:resource"],
    ["stream_id", "event_type", "occurred_at", "stream_type", "note"],
]


@st.composite
def csv_files(draw: st.DrawFn) -> tuple[bytes, int | None]:
    header = draw(st.sampled_from(CSV_HEADERS))
    rows, plain = [], True
    for _ in range(draw(st.integers(0, 25))):
        if draw(st.booleans()):  # a plausible record: small id sets make duplicates, gaps
            values = [draw(GOOD[name]) for name in header]
        else:
            width = len(header) + draw(st.sampled_from([0, 0, 0, -1, 1, -len(header) + 1]))
            values = [draw(st.one_of(TIMES, TEXT, NUMBER.map(str), st.sampled_from(
                ["e1", "e1", "e2", "3", "1", "0", "-1", "2.5", "x/..", "a\\b", ""])))
                for _ in range(width)]
        quote = draw(st.booleans())
        fields = [_csv_field(v, quote) for v in values]
        if draw(st.integers(0, 9)) == 0:  # a stray quote in a plain field
            fields = [*fields[:-1], 'he said "hi"'] if fields else ['"']
        row = ",".join(fields).encode("utf-8", "surrogatepass")
        if draw(st.integers(0, 9)) == 0:
            row += b"\xff\xfe"  # invalid UTF-8
        plain = plain and b'"' not in row and b"\n" not in row and b"\r" not in row
        rows.append(row)
    ending = draw(st.sampled_from([b"\n", b"\r\n"]))
    bom = draw(st.sampled_from([b"", b"\xef\xbb\xbf"]))
    data = bom + ending.join([",".join(header).encode(), *rows]) + draw(st.sampled_from(
        [b"", ending]))
    blank = sum(1 for row in rows if not row)
    return data, (len(rows) - blank if plain else None)


@FAST
@given(csv_files())
def test_csv_fuzz(case: tuple[bytes, int | None]) -> None:
    data, records = case
    check(data, ".csv", records, "csv")


@STORE_FAST
@given(csv_files())
def test_csv_fuzz_into_a_store(case: tuple[bytes, int | None]) -> None:
    data, records = case
    check(data, ".csv", records, "csv", store=True)


@FAST
@given(st.binary(max_size=400))
def test_csv_random_bytes(data: bytes) -> None:
    check(b"stream_id,event_type,occurred_at\n" + data, ".csv", None, "csv (random bytes)")


# ----------------------------------------------------------------------------- JSON Lines
JSON_VALUE = st.recursive(
    st.one_of(st.none(), st.booleans(), NUMBER, TEXT, TIMES),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=6,
)


@st.composite
def jsonl_records(draw: st.DrawFn) -> bytes:
    kind = draw(st.integers(0, 9))
    if kind <= 5:  # an object with the envelope keys, each maybe missing or of a wrong type
        obj = {}
        for key, good in (("stream_id", WORDS), ("event_type", WORDS), ("occurred_at", TIMES),
                          ("event_id", st.sampled_from(["e1", "e1", "e2"])),
                          ("version", st.sampled_from([1, 2, 3, 1, 0, -1, "2", 1.5]))):
            if draw(st.integers(0, 5)):
                obj[key] = draw(good if draw(st.integers(0, 3)) else JSON_VALUE)
        extra = draw(st.dictionaries(st.sampled_from(["amount", "note", "version ", "position",
                                                      "", "a\x00b", *OWN_NAMES]),
                                     JSON_VALUE, max_size=3))
        return json.dumps({**obj, **extra}, ensure_ascii=draw(st.booleans())).encode(
            "utf-8", "surrogatepass")
    if kind == 6:  # deeply nested
        depth = draw(st.integers(1, 3000))
        opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
        inner = opener * depth + "1" + closer * depth
        head = '{"stream_id":"s","event_type":"e","occurred_at":"2024-01-01","deep":'
        return f"{head}{inner}}}".encode()
    if kind == 7:  # not an object
        return json.dumps(draw(JSON_VALUE)).encode() if draw(st.booleans()) else b"[1, 2"
    if kind == 8:  # broken bytes
        return b"{" + draw(st.binary(max_size=40)).replace(b"\n", b" ") + b"\xff}"
    return b'{"stream_id": "s\x00", "event_type": "e", "occurred_at": "2024-01-01", "n": 1'


@st.composite
def jsonl_files(draw: st.DrawFn) -> tuple[bytes, int]:
    lines = draw(st.lists(jsonl_records(), max_size=20))
    lines = [line.replace(b"\n", b" ").replace(b"\r", b" ") for line in lines]
    blank = draw(st.lists(st.sampled_from([b"", b"  ", b"\t"]), max_size=3))
    data = b"\n".join([*lines, *blank])
    counted = sum(1 for line in lines if line.decode("utf-8", "replace").strip())
    return data, counted


@FAST
@given(jsonl_files())
def test_jsonl_fuzz(case: tuple[bytes, int]) -> None:
    data, records = case
    check(data, ".jsonl", records, "jsonl")


@STORE_FAST
@given(jsonl_files())
def test_jsonl_fuzz_into_a_store(case: tuple[bytes, int]) -> None:
    data, records = case
    check(data, ".jsonl", records, "jsonl", store=True)


@FAST
@given(st.binary(max_size=400))
def test_jsonl_random_bytes(data: bytes) -> None:
    check(data, ".jsonl", None, "jsonl (random bytes)")


# ----------------------------------------------------------------------------- XES
XES_ATTR = st.one_of(
    st.tuples(st.sampled_from(["string", "date", "int", "float", "boolean", "id"]),
              st.sampled_from(["concept:name", "time:timestamp", "org:resource", "amount",
                               "position", "note", "a.b", *OWN_NAMES]),
              st.one_of(TEXT, TIMES, NUMBER.map(str))),
)


def _escape(value: str) -> str:
    return (value.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;")
            .replace("\x00", "&#0;"))


@st.composite
def xes_event(draw: st.DrawFn) -> str:
    attrs = []
    for tag, key, value in draw(st.lists(XES_ATTR, max_size=5)):
        attrs.append(f'<{tag} key="{key}" value="{_escape(value)}"/>')
    if draw(st.integers(0, 3)):
        attrs.append(f'<string key="concept:name" value="{_escape(draw(WORDS))}"/>')
    if draw(st.integers(0, 3)):
        attrs.append(f'<date key="time:timestamp" value="{_escape(draw(TIMES))}"/>')
    if draw(st.integers(0, 8)) == 0:
        attrs.append('<list key="items"><string key="i" value="1"/><string key="i" value="2"/>'
                     "</list>")
    if draw(st.integers(0, 8)) == 0:
        attrs.append('<string value="no key"/>')
    if draw(st.integers(0, 8)) == 0:
        attrs.append("<string key='single' value='quoted &#x1F600; &#xD800; &#99999999;'/>")
    return "<event>" + "".join(attrs) + "</event>"


@st.composite
def xes_files(draw: st.DrawFn) -> tuple[bytes, int | None]:
    traces, events = [], 0
    for t in range(draw(st.integers(0, 5))):
        name = draw(st.one_of(st.none(), WORDS, st.just(f"case-{t}")))
        body = [xes_event_text for xes_event_text in draw(st.lists(xes_event(), max_size=6))]
        events += len(body)
        head = "" if name is None else f'<string key="concept:name" value="{_escape(name)}"/>'
        traces.append("<trace>" + head + "".join(body) + "</trace>")
    hostile = draw(st.integers(0, 11))
    prolog = '<?xml version="1.0" encoding="UTF-8"?>\n'
    counted: int | None = events
    if hostile == 0:  # billion laughs
        prolog += ('<!DOCTYPE log [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">'
                   '<!ENTITY c "&b;&b;&b;&b;&b;&b;">]>\n')
        traces.insert(0, '<trace><event><string key="concept:name" value="&c;"/></event></trace>')
        counted = None
    text = prolog + '<log xes.version="1.0">' + "\n".join(traces) + "</log>"
    if hostile == 1:  # truncated
        text, counted = text[: draw(st.integers(0, len(text)))], None
    elif hostile == 2:  # misnested
        text, counted = text.replace("</trace>", "</event></trace>", 1), None
    elif hostile == 3:  # an event outside any trace
        text, counted = text.replace("</log>", '<event><string key="concept:name" value="x"/>'
                                     "</event></log>"), events + 1
    elif hostile == 4:  # comment and CDATA sections with markup inside
        text = text.replace("<log ", "<!-- <event> --><log ", 1).replace(
            "</log>", "<![CDATA[<event></event>]]></log>")
    data = text.encode("utf-8", "surrogatepass")
    if hostile == 5:
        data, counted = data.replace(b"value=", b"value=\xff", 1), None
    return data, counted


@FAST
@given(xes_files())
def test_xes_fuzz(case: tuple[bytes, int | None]) -> None:
    data, records = case
    check(data, ".xes", records, "xes")


@STORE_FAST
@given(xes_files())
def test_xes_fuzz_into_a_store(case: tuple[bytes, int | None]) -> None:
    data, records = case
    check(data, ".xes", records, "xes", store=True)


@FAST
@given(st.binary(max_size=400))
def test_xes_random_bytes(data: bytes) -> None:
    check(b"<log>" + data + b"</log>", ".xes", None, "xes (random bytes)")


def test_entity_expansion_is_refused_without_expanding(tmp_path: Path) -> None:
    laughs = ['<!ENTITY l0 "ha">'] + [
        f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10)]
    data = ('<?xml version="1.0"?><!DOCTYPE log [' + "".join(laughs) + "]><log><trace><event>"
            '<string key="concept:name" value="&l9;"/></event></trace></log>')
    path = tmp_path / "bomb.xes"
    path.write_text(data)
    with pytest.raises(EventlabError, match="DOCTYPE/ENTITY declaration"):
        read_file(path)


@pytest.mark.parametrize(("suffix", "text"), [
    (".jsonl", '{"stream_id": "a", "event_type": "e", "occurred_at": "2024-01-01", "version": 1}\n'
               '{"stream_id": "b", "event_type": "e", "occurred_at": "2024-01-01"}\n'
               '{"stream_id": "c", "event_type": "e", "occurred_at": "2024-01-01", '
               '"version": null}\n'),
    (".csv", "stream_id,event_type,occurred_at,version\na,e,2024-01-01,1\nb,e,2024-01-01,\n"
             'c,e,2024-01-01,""\n'),
])
def test_a_missing_source_version_is_quarantined(tmp_path: Path, suffix: str, text: str) -> None:
    """Found by the fuzzer: a null version made the quarantine reason null (format() of a
    null), so the row was accepted with version null and the store refused the whole file."""
    path = tmp_path / f"log{suffix}"
    path.write_text(text)
    summary = import_file(EventStore.create(tmp_path / "store"), path)
    assert (summary.read, summary.imported, summary.quarantined) == (3, 1, 2)
    where = "column 'version'" if suffix == ".csv" else "key 'version'"
    assert summary.quarantine_path is not None
    reasons = pl.read_parquet(summary.quarantine_path)["reason"].to_list()
    assert reasons == [f"version ({where}) '' is not an integer >= 1"] * 2


DEEP_READER = """
import sys
from eventlab.importers import read_jsonl
parsed = read_jsonl(sys.argv[1])
print(parsed.read, parsed.events.height, "|".join(parsed.quarantine["reason"].to_list()))
"""


def test_nested_json_lines_do_not_hang_the_reader(tmp_path: Path) -> None:
    """Found by the fuzzer: two lines nested 30 and 29 deep made Polars' JSON schema inference
    run for minutes (exponential in the depth). Run in a subprocess: a hang in native code
    cannot be interrupted in-process."""
    import subprocess
    import sys

    def line(depth: int, day: int) -> str:
        deep = "[" * depth + "1" + "]" * depth
        return (f'{{"stream_id": "s", "event_type": "e", "occurred_at": "2024-01-0{day}", '
                f'"deep": {deep}, "text": "[[[[{{{{ not nesting"}}')

    path = tmp_path / "deep.jsonl"
    path.write_text("\n".join(line(d, 1 + i) for i, d in enumerate([60, 59, 30, 29, 3, 200])))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", DEEP_READER, str(path)], capture_output=True,
                          text=True, timeout=60, cwd=ROOT, env=env)
    assert done.returncode == 0, done.stderr
    read, accepted, reasons = done.stdout.split(" ", 2)
    assert (int(read), int(accepted)) == (6, 5)
    assert reasons.strip() == "JSON nested deeper than 128 levels is not supported"


@pytest.mark.parametrize(("suffix", "text"), [
    (".jsonl", '{"stream_id": "s", "event_type": "e", "occurred_at": "2024-01-01", "line": 1, '
               '"text": "t", "__eventlab_order": 2, "__eventlab_value_0": 3}\n'),
    (".xes", '<log><trace><string key="trace_no" value="t"/><event>'
             '<string key="concept:name" value="e"/><date key="time:timestamp" value="2024-01-01"/>'
             '<int key="event_no" value="1"/><string key="tr_depth" value="d"/>'
             '<string key="__eventlab_order" value="o"/></event></trace></log>'),
    (".csv", "stream_id,event_type,occurred_at,line,text,order,f0,__eventlab_order\n"
             "s,e,2024-01-01,1,t,o,f,x\n"),
])
def test_source_keys_named_like_the_readers_own_columns(
    tmp_path: Path, suffix: str, text: str
) -> None:
    """Found by the fuzzer: a JSON key "text" or an XES attribute "event_no" collided with a
    column the reader uses itself (DuplicateError: an unhandled exception)."""
    path = tmp_path / f"log{suffix}"
    path.write_text(text)
    summary = import_file(EventStore.create(tmp_path / "store"), path)
    assert (summary.read, summary.imported) == (1, 1)
    assert any(c.startswith("source___eventlab") for c in read_file(path).events.columns)
