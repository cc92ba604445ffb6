"""Hostile input for ``store.append`` (property-based) and for every name that becomes a path.

Generated batches mix valid rows with hostile values: stream types and payload column names
that look like paths (``../``, ``/``, ``\\``, NUL, 65+ characters), huge strings, NUL bytes,
wrong and nested dtypes, nulls in required columns, timestamps at and past the ends of the
calendar, duplicate event ids, versions with gaps, repeats or going backwards, and a second
append of overlapping rows. For every batch: the append returns or raises an EventlabError;
the store stays consistent (head grows by exactly what was appended, ``verify`` passes, a
scan returns head rows) and nothing is written outside the store folder.

Specs are data: expressions are parsed, never executed, and eventlab never unpickles
(``test_no_code_from_data``).
"""

from __future__ import annotations

import ast
import json
import os
import tempfile
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from eventlab import EventlabError, EventStore, Projection, ValidationError, load_projections
from eventlab import reducers as r
from eventlab.projections.export import export

ROOT = Path(__file__).resolve().parents[1]
SUMMARY = ROOT / "test-artifacts" / "fuzz-append-summary.json"
CASES: Counter[str] = Counter()
# CI (CI=true) replays a fixed sequence of inputs; local runs explore new ones every time
SETTINGS = settings(max_examples=150, deadline=None, database=None,
                    phases=[Phase.explicit, Phase.generate],
                    derandomize=os.environ.get("CI") == "true",
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
HOSTILE_NAMES = ["../x", "../../etc", "/abs", "a/b", "a\\b", "..", ".", "", "a\x00b", "x" * 65,
                 ".hidden", "_log", "stream_type=x", "é", " spaced", "-dash"]


@pytest.fixture(scope="module", autouse=True)
def _write_summary() -> Iterator[None]:
    yield
    SUMMARY.parent.mkdir(parents=True, exist_ok=True)
    SUMMARY.write_text(json.dumps(dict(sorted(CASES.items())), indent=1))


# ----------------------------------------------------------------------------- batches
T0 = datetime(2024, 1, 1, tzinfo=UTC)
INSTANTS = st.one_of(
    st.integers(0, 400).map(lambda d: T0 + timedelta(days=d, seconds=d * 37)),
    st.sampled_from([datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, tzinfo=UTC),
                     datetime(1970, 1, 1, tzinfo=UTC), datetime(1969, 12, 31, 23, 59, tzinfo=UTC)]),
)
TEXTS = st.one_of(st.sampled_from(["s1", "s2", "s3"]), st.sampled_from(HOSTILE_NAMES),
                  st.text(max_size=8), st.integers(1_000, 50_000).map(lambda n: "y" * n))
PAYLOADS: dict[str, st.SearchStrategy[Any]] = {
    "String": st.one_of(st.none(), TEXTS),
    "Int64": st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)),
    "Float64": st.one_of(st.none(), st.floats()),
    "Boolean": st.one_of(st.none(), st.booleans()),
    "Date": st.one_of(st.none(), st.dates(date(1, 1, 1), date(9999, 12, 31))),
    "List": st.one_of(st.none(), st.lists(st.integers(-5, 5), max_size=3)),
    "Struct": st.one_of(st.none(), st.fixed_dictionaries({"a": st.integers(0, 3)})),
    "Binary": st.one_of(st.none(), st.binary(max_size=8)),
}


@st.composite
def batches(draw: st.DrawFn) -> pl.DataFrame:
    """Each column is clean (valid values only) with probability 0.7, else mixes in hostile
    values, so both accepted and refused batches are common."""
    n = draw(st.integers(1, 12))

    def column(valid: st.SearchStrategy[Any], hostile: st.SearchStrategy[Any]) -> list[Any]:
        values = valid if draw(st.integers(0, 9)) < 7 else st.one_of(valid, hostile)
        return draw(st.lists(values, min_size=n, max_size=n))

    ids = st.sampled_from(["s1", "s2", "s3", "../../etc", "a/b", "\x00", "é"])
    columns: dict[str, Any] = {
        "stream_type": column(st.sampled_from(["account", "fine"]),
                              st.one_of(st.none(), st.sampled_from(HOSTILE_NAMES))),
        "stream_id": column(ids, st.one_of(TEXTS, st.none())),
        "event_type": column(st.sampled_from(["Opened", "Paid"]), st.one_of(TEXTS, st.none())),
        "occurred_at": column(INSTANTS, st.none()),
    }
    if draw(st.booleans()):
        columns["event_id"] = column(st.sampled_from(["e1", "e2", "e3", "e4", "e5"]),
                                     st.one_of(st.none(), TEXTS))
    if draw(st.integers(0, 3)) == 0:
        columns["version"] = column(st.integers(1, 4), st.one_of(st.integers(-1, 0), st.none()))
    for _ in range(draw(st.integers(0, 3))):
        name = draw(st.one_of(st.sampled_from(["amount", "note", "amount", "note", "position",
                                               "occurred_month", "recorded_at", *HOSTILE_NAMES]),
                              st.text(max_size=6)))
        kind = draw(st.sampled_from(sorted(PAYLOADS)))
        columns[name] = draw(st.lists(PAYLOADS[kind], min_size=n, max_size=n))
    try:
        return pl.DataFrame(columns, strict=False)
    except (pl.exceptions.PolarsError, TypeError, ValueError, OverflowError):
        return pl.DataFrame(columns | {c: [str(v) for v in columns[c]] for c in columns
                                       if c not in ("occurred_at",)}, strict=False)


def files_below(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*")}


def attempt(store: EventStore, batch: pl.DataFrame, expected: Any = "any") -> int:
    """Append; return how many events were appended (0 when refused with an EventlabError)."""
    head = store.head
    try:
        result = store.append(batch, expected_version=expected)
    except EventlabError as exc:
        assert str(exc).strip()
        CASES[f"refused: {type(exc).__name__}"] += 1
        assert store.head == head
        return 0
    CASES["appended" if result.appended else "all skipped (duplicate ids)"] += 1
    assert store.head == head + result.appended
    if result.appended:  # no payload column is silently dropped
        kept = [c for c in batch.columns if batch[c].null_count() < batch.height]
        assert set(kept) <= set(store.schema), set(kept) - set(store.schema)
    return result.appended


@SETTINGS
@given(batches(), batches(), st.sampled_from(["any", "no_stream", "exists", 0, 1, 3]))
def test_append_fuzz(first: pl.DataFrame, second: pl.DataFrame, expected: Any) -> None:
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        store = EventStore.create(base / "store")
        appended = attempt(store, first) + attempt(store, second, expected)
        appended += attempt(store, first)  # the same rows again: duplicates are skipped
        CASES["cases"] += 1
        assert files_below(base) == {"store"} | {f"store/{p}" for p in files_below(base / "store")}
        for path in (base / "store").rglob("*"):
            assert path.resolve().is_relative_to((base / "store").resolve())
        reopened = EventStore.open(base / "store")
        assert reopened.head == appended
        assert reopened.scan().collect().height == appended
        report = reopened.verify()
        assert report.ok, report.findings
        folders = {p.name for p in (base / "store" / "events").iterdir()}
        assert folders <= {"stream_type=account", "stream_type=fine"}


# ----------------------------------------------------------------------------- names as paths
@pytest.mark.parametrize("name", HOSTILE_NAMES[:12])
def test_path_like_stream_types_are_refused(tmp_path: Path, name: str) -> None:
    store = EventStore.create(tmp_path / "store")
    batch = pl.DataFrame({"stream_type": [name], "stream_id": ["s"], "event_type": ["E"],
                          "occurred_at": [T0]})
    with pytest.raises(ValidationError, match="invalid stream_type"):
        store.append(batch)
    with pytest.raises(ValidationError, match="invalid stream_type"):
        store.append(batch.drop("stream_type"), stream_type=name)
    empty_trees = {"store/_tree", "store/_tree/a.00000000000000000000",
                   "store/_tree/b.00000000000000000000"}  # the store's empty publication trees
    assert files_below(tmp_path) == files_below(tmp_path) & {"store", "store/events", "store/_log",
                                                             "store/_eventlab.json",
                                                             "store/_writer.lock",
                                                             "store/_writer.pid", "store/_txn",
                                                             *empty_trees}
    assert store.head == 0


@pytest.mark.parametrize("name", ["../../x", "a/b", "a\\b", "x\x00", "", ".", "z" * 65])
def test_path_like_projection_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValidationError, match="projection name"):
        Projection(name, fields={"n": r.count()})
    spec = tmp_path / "spec.toml"
    spec.write_text(f'[projections.{json.dumps(name)}]\nfields.n = {{ reducer = "count" }}\n')
    with pytest.raises(ValidationError, match="projection name"):
        load_projections(spec)


def test_partition_values_stay_inside_the_export_folder(tmp_path: Path) -> None:
    store = EventStore.create(tmp_path / "store")
    regions = ["../../escape", "a/b", "c\\d", "..", "plain"]
    store.append(pl.DataFrame({
        "stream_type": "account", "stream_id": [f"s{i}" for i in range(5)], "event_type": "E",
        "occurred_at": [T0] * 5, "region": regions,
    }))
    by_region = Projection("regions", key=("region",), fields={"n": r.count()})
    out = tmp_path / "out"
    model = export(store, by_region, out, partition_by="region").read_model
    for path in tmp_path.rglob("*.parquet"):
        assert path.resolve().is_relative_to(out.resolve()) or "store" in path.parts
    assert sorted(model.read()["region"].cast(pl.String).to_list()) == sorted(regions)
    store.append(pl.DataFrame({"stream_type": "account", "stream_id": "s9", "event_type": "E",
                               "occurred_at": [T0], "region": ["nul\x00byte"]}))
    with pytest.raises(ValidationError, match="NUL character"):
        export(store, by_region, out, partition_by="region")
    assert read_model_rows(model.path) == 5  # the previous read model is intact


def read_model_rows(path: Path) -> int:
    return pl.read_parquet(path, hive_partitioning=True).height


# ----------------------------------------------------------------------------- code from data
def test_spec_expressions_are_parsed_never_executed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    attacks = [
        f"__import__('os').system('touch {marker}')",
        f"open('{marker}', 'w')",
        "(lambda: 1)()",
        "[x for x in ().__class__.__base__.__subclasses__()]",
        "amount.__class__",
        "eval('1')",
    ]
    for attack in attacks:
        spec = tmp_path / "spec.toml"
        spec.write_text(
            "[projections.p]\nkey = \"stream_id\"\n"
            f"where = {json.dumps(attack)}\n[projections.p.fields]\nn = {{ reducer = \"count\" }}\n"
        )
        with pytest.raises(ValidationError):
            load_projections(spec)
    assert not marker.exists()


FORBIDDEN_CALLS = {"eval", "exec", "compile", "__import__"}
FORBIDDEN_MODULES = {"pickle", "cPickle", "marshal", "shelve", "dill", "cloudpickle", "joblib"}


def test_no_code_from_data() -> None:
    """No module of eventlab unpickles, evaluates strings or deserializes Polars plans (which
    may carry pickled Python functions)."""
    found = []
    for path in sorted((ROOT / "eventlab").rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                found += [f"{path.name}: import {n}" for n in names
                          if n.split(".")[0] in FORBIDDEN_MODULES]
            if isinstance(node, ast.Call):
                func = node.func
                if isinstance(func, ast.Name) and func.id in FORBIDDEN_CALLS:
                    found.append(f"{path.name}:{node.lineno}: {func.id}()")
                if isinstance(func, ast.Attribute) and func.attr in {"deserialize", "load",
                                                                     "loads"} and isinstance(
                        func.value, ast.Name) and func.value.id in {"pickle", "pl", "yaml"}:
                    found.append(f"{path.name}:{node.lineno}: {func.value.id}.{func.attr}()")
    assert found == []


def test_columns_the_store_sets_are_refused_not_dropped(tmp_path: Path) -> None:
    """Found by the fuzzer: an ``occurred_month`` column (the partition key the store derives)
    was accepted and silently dropped."""
    store = EventStore.create(tmp_path / "store")
    for column in ("occurred_month", "position", "recorded_at"):
        batch = pl.DataFrame({"stream_type": ["a"], "stream_id": ["x"], "event_type": ["E"],
                              "occurred_at": [T0], column: ["2024-01"]})
        with pytest.raises(ValidationError, match=f"'{column}'.*set by the store"):
            store.append(batch)
    assert store.head == 0
