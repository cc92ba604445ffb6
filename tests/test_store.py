"""The store's guarantees on their failure paths, in one process over real Parquet files:
optimistic concurrency, idempotency, validation (pandera), schema evolution, pruning."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandera.polars as pa
import polars as pl
import pytest
from conftest import T0, events
from polars.testing import assert_frame_equal

from eventlab import (
    ANY,
    NO_STREAM,
    STREAM_EXISTS,
    ConcurrencyError,
    EventStore,
    SchemaError,
    ValidationError,
)


def snapshot(store: EventStore) -> tuple[int, list[str], list[str]]:
    """What must not change when an append is refused: head, files on disk, log entries."""
    disk = sorted(p.as_posix() for p in (store.root / "events").rglob("*.parquet"))
    log = sorted(p.name for p in (store.root / "_log").iterdir())
    return store.head, disk, log


def versions_of(store: EventStore, stream_type: str = "account") -> dict[str, int]:
    frame = store.scan(stream_types=stream_type).group_by("stream_id").agg(pl.col("version").max())
    return dict(frame.collect().iter_rows())


# ----------------------------------------------------------------- optimistic concurrency
@pytest.fixture
def two_streams(store: EventStore) -> EventStore:
    store.append(events(["a", "a", "b"]))  # a at version 2, b at version 1
    return store


def test_int_mismatch_names_stream_expected_and_actual(two_streams: EventStore) -> None:
    before = snapshot(two_streams)
    with pytest.raises(ConcurrencyError) as caught:
        two_streams.append(events(["a", "b"]), expected_version={"a": 1, "b": 1})
    message = str(caught.value)
    assert "stream account/a: expected version 1, actual version 2" in message
    assert "account/b" not in message  # b matched
    assert "nothing of the batch was appended" in message and "Hint:" in message
    expected = pl.DataFrame(
        {"stream_type": ["account"], "stream_id": ["a"], "expected": [1], "actual": [2]}
    )
    assert_frame_equal(caught.value.conflicts, expected, check_dtypes=False)
    assert snapshot(two_streams) == before
    assert isinstance(caught.value, RuntimeError)


def test_one_int_for_every_stream_of_the_batch(two_streams: EventStore) -> None:
    with pytest.raises(ConcurrencyError) as caught:
        two_streams.append(events(["a", "b"]), expected_version=2)
    assert caught.value.conflicts["stream_id"].to_list() == ["b"]
    result = two_streams.append(events(["a"]), expected_version=2)
    assert result.appended == 1 and versions_of(two_streams)["a"] == 3


def test_no_stream(two_streams: EventStore) -> None:
    before = snapshot(two_streams)
    with pytest.raises(ConcurrencyError, match="account/a: expected no stream, actual version 2"):
        two_streams.append(events(["a"]), expected_version=NO_STREAM)
    with pytest.raises(ConcurrencyError, match="expected no stream"):
        two_streams.append(events(["b"]), expected_version=0)
    assert snapshot(two_streams) == before
    assert two_streams.append(events(["c", "c"]), expected_version=NO_STREAM).appended == 2
    assert two_streams.append(events(["d"]), expected_version=0).appended == 1


def test_stream_exists(two_streams: EventStore) -> None:
    with pytest.raises(
        ConcurrencyError, match="account/new: expected an existing stream, actual version 0"
    ):
        two_streams.append(events(["a", "new"]), expected_version=STREAM_EXISTS)
    assert two_streams.append(events(["a", "b"]), expected_version="exists").appended == 2
    assert two_streams.append(events(["a", "zz"]), expected_version=ANY).appended == 2


def test_mapping_by_stream_id_and_by_type_and_id(store: EventStore) -> None:
    store.append(pl.concat([events(["x"]), events(["x", "x"], stream_type="fine")]))
    batch = pl.concat([events(["x"]), events(["x"], stream_type="fine")])
    # by (type, id): each stream its own expectation; fine/x is at 2, not 1
    with pytest.raises(ConcurrencyError) as caught:
        store.append(batch, expected_version={("account", "x"): 1, ("fine", "x"): 1})
    assert caught.value.conflicts.select("stream_type", "stream_id", "actual").rows() == [
        ("fine", "x", 2)
    ]
    # by id alone: applies to that id in every type
    with pytest.raises(ConcurrencyError) as caught:
        store.append(batch, expected_version={"x": 1})
    assert caught.value.conflicts["stream_type"].to_list() == ["fine"]
    # (type, id) wins over id; streams not in the mapping are not checked
    result = store.append(batch, expected_version={"x": 1, ("fine", "x"): 2, "other": 7})
    assert result.appended == 2
    assert versions_of(store) == {"x": 2} and versions_of(store, "fine") == {"x": 3}


def test_multi_stream_batch_is_all_or_nothing_on_conflict(two_streams: EventStore) -> None:
    before = snapshot(two_streams)
    batch = events(["a", "b", "new1", "new2"])
    with pytest.raises(ConcurrencyError) as caught:
        two_streams.append(batch, expected_version={"a": 2, "b": 5})
    assert caught.value.conflicts["stream_id"].to_list() == ["b"]
    assert snapshot(two_streams) == before
    assert two_streams.scan(stream_ids=["new1", "new2"]).collect().height == 0


@pytest.mark.parametrize("bad", [-1, "bogus", True, 1.5, {"a": -2}])
def test_invalid_expected_version(two_streams: EventStore, bad: object) -> None:
    with pytest.raises(ValidationError, match=r"expected version .* is not valid"):
        two_streams.append(events(["a"]), expected_version=bad)  # type: ignore[arg-type]


def test_version_column_continuing_stale_and_gapped(two_streams: EventStore) -> None:
    ok = events(["a", "a", "b"]).with_columns(version=pl.Series([3, 4, 2]))
    assert two_streams.append(ok).appended == 3
    before = snapshot(two_streams)
    stale = events(["a"]).with_columns(version=pl.lit(4, pl.Int64))
    with pytest.raises(ConcurrencyError, match="account/a: expected version 3, actual version 4"):
        two_streams.append(stale)
    gapped = events(["a", "a", "b"]).with_columns(version=pl.Series([5, 7, 3]))
    with pytest.raises(ValidationError, match="gapless") as caught:
        two_streams.append(gapped)
    assert caught.value.failures.select("row", "stream_id", "version").rows() == [(1, "a", 7)]
    assert snapshot(two_streams) == before


# ----------------------------------------------------------------- idempotency
def test_stored_event_ids_are_skipped_and_reported(store: EventStore) -> None:
    first = events(["a", "b", "c"], event_id=["e1", "e2", "e3"])
    store.append(first)
    before = snapshot(store)
    again = store.append(first)
    assert (again.commit, again.appended, again.skipped) == (None, 0, 3)
    assert again.skipped_ids == ("e1", "e2", "e3")
    assert snapshot(store) == before

    mixed = events(["a", "d", "b", "e"], event_id=["e1", "e4", "e2", "e5"])
    result = store.append(mixed)
    assert (result.appended, result.skipped, result.skipped_ids) == (2, 2, ("e1", "e2"))
    assert (result.first_position, result.last_position) == (4, 5)
    stored = store.scan().select("event_id").collect()["event_id"]
    assert sorted(stored.to_list()) == ["e1", "e2", "e3", "e4", "e5"]
    assert versions_of(store) == {"a": 1, "b": 1, "c": 1, "d": 1, "e": 1}


def test_duplicate_ids_inside_a_batch_are_refused(store: EventStore) -> None:
    store.append(events(["a"], event_id=["e0"]))
    before = snapshot(store)
    with pytest.raises(ValidationError, match=r"event_id must be unique within a batch.*'e1'"):
        store.append(events(["a", "b", "c"], event_id=["e1", "e2", "e1"]))
    assert snapshot(store) == before


def test_generated_ids_are_unique_and_never_reused(store: EventStore) -> None:
    store.append(events(["a", "b"]))
    store.append(events(["a", "b"], event_id=[None, "mine"]))
    ids = store.scan().select("event_id").collect()["event_id"]
    assert ids.n_unique() == 4 and ids.null_count() == 0 and "mine" in ids.to_list()


# ----------------------------------------------------------------- validation (pandera)
def test_invalid_envelope_lists_every_failing_row(store: EventStore) -> None:
    year_zero = pl.lit(datetime(1, 1, 1, tzinfo=UTC)).dt.offset_by("-1d")
    batch = events(["a", "", "c"]).with_columns(
        event_type=pl.Series(["Opened", "Opened", ""]),
        occurred_at=pl.when(pl.int_range(pl.len()) == 2).then(year_zero).otherwise("occurred_at"),
    )
    with pytest.raises(ValidationError) as caught:
        store.append(batch)
    failures = caught.value.failures
    assert {"row", "column", "check"} <= set(failures.columns)
    found = set(failures.select("row", "column").rows())
    assert {(1, "stream_id"), (2, "event_type"), (2, "occurred_at")} <= found
    assert 0 not in failures["row"].to_list()
    assert "nothing was appended" in str(caught.value)
    assert store.head == 0


def test_missing_and_store_assigned_columns(store: EventStore) -> None:
    with pytest.raises(ValidationError, match=r"lacks required column\(s\) \['occurred_at'\]"):
        store.append(events(["a"]).drop("occurred_at"))
    with pytest.raises(ValidationError, match="set by the store"):
        store.append(events(["a"]).with_columns(position=pl.lit(1)))
    with pytest.raises(ValidationError, match="occurred_at must be a Datetime"):
        store.append(events(["a"]).with_columns(pl.col("occurred_at").cast(pl.String)))
    with pytest.raises(ValidationError, match="invalid stream_type"):
        store.append(events(["a"], stream_type="../escape"))
    with pytest.raises(ValidationError, match="Polars DataFrame"):
        store.append(events(["a"]).lazy())  # type: ignore[arg-type]
    assert store.head == 0


def test_registered_payload_schema(store: EventStore) -> None:
    schema = pa.DataFrameSchema({"amount": pa.Column(pl.Int64, pa.Check.gt(0), nullable=False)})
    store.register_schema("account", "Deposited", schema)
    batch = pl.concat([
        events(["a", "b", "c"], amount=[5, 7, -3]),
        events(["d"], event_type="Withdrawn", amount=[-9]),  # other event type: not checked
    ])
    with pytest.raises(ValidationError) as caught:
        store.append(batch)
    failures = caught.value.failures
    assert failures.select("row", "event_type", "column", "value").rows() == [
        (2, "Deposited", "amount", "-3")
    ]
    assert "greater_than" in failures["check"][0]
    assert store.head == 0
    assert store.append(batch.filter(pl.col("amount") != -3)).appended == 3


# ----------------------------------------------------------------- schema evolution
def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_new_payload_columns_leave_old_files_untouched(store: EventStore) -> None:
    store.append(events(["a", "b"], amount=[1, 2]))
    old = {p: sha(p) for p in (store.root / "events").rglob("*.parquet")}
    store.append(events(["a"], note=["hello"]))
    store.append(events(["b"], amount=[3], note=["x"], flag=[True]))
    assert {p: sha(p) for p in old} == old  # old files: same bytes
    frame = store.scan().collect().sort("position")
    assert frame.select("amount", "note", "flag").rows() == [
        (1, None, None), (2, None, None), (None, "hello", None), (3, "x", True)
    ]
    assert store.schema["note"] == pl.String and store.schema["flag"] == pl.Boolean


def test_payload_columns_per_stream_type(store: EventStore) -> None:
    store.append(events(["a"], amount=[1]))
    store.append(events(["f"], stream_type="fine", reason=["speeding"]))
    assert "reason" not in store.scan(stream_types="account").collect_schema()
    fine = store.scan(stream_types="fine").collect()
    assert "amount" not in fine.columns and fine["reason"].to_list() == ["speeding"]
    both = store.scan(stream_types=["account", "fine"]).collect_schema()
    assert {"amount", "reason"} <= set(both)


def test_dtype_conflict_is_refused(store: EventStore) -> None:
    store.append(events(["a"], amount=[1]))
    before = snapshot(store)
    with pytest.raises(SchemaError, match=r"'amount' is stored as Int64 but this batch has String"):
        store.append(events(["a"], amount=["one"]))
    with pytest.raises(SchemaError, match="stored as Int64 but this batch has Float64"):
        store.append(events(["a"], amount=[1.5]))  # narrowing float -> int: refused
    assert snapshot(store) == before


def test_int_to_float_widening_is_accepted(store: EventStore) -> None:
    store.append(events(["a"], amount=[1.5]))
    store.append(events(["a"], amount=[2]))  # Int64 into a Float64 column
    store.append(events(["a"], amount=[3]).with_columns(pl.col("amount").cast(pl.Int32)))
    frame = store.scan().collect().sort("position")
    assert frame.schema["amount"] == pl.Float64
    assert frame["amount"].to_list() == [1.5, 2.0, 3.0]


# ----------------------------------------------------------------- pruning
def scanned(frame: pl.LazyFrame) -> set[str]:
    """The file names the plan will read, from explain() ('first, ... N other sources')."""
    plan = frame.explain()
    match = re.search(r"Parquet SCAN \[(.*)\]", plan)
    if match is None:
        assert "SCAN" in plan  # an empty frame: no Parquet scan at all
        return set()
    listed, _, more = match.group(1).partition(", ... ")
    names = {Path(p.strip()).name for p in listed.split(", ")}
    if more:
        count = int(more.split()[0])
        raise AssertionError(f"explain() lists {names} and {count} more: query too broad")
    return names


@pytest.fixture
def seasons(tmp_path: Path) -> EventStore:
    """2 commits x 2 types x 3 months = 12 files; commits 1 day apart (transaction time)."""
    clock_times = iter([datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 2, tzinfo=UTC)])
    store = EventStore.create(tmp_path / "seasons", clock=lambda: next(clock_times))
    for _ in range(2):
        accounts = [
            events(["a", "b", "c"], start=T0 + timedelta(days=40 * m), amount=[1, 2, 3])
            for m in range(3)
        ]
        fines = [events(["f"], stream_type="fine", start=T0 + timedelta(days=40 * m))
                 for m in range(3)]
        store.append(pl.concat(accounts + fines, how="diagonal"))
    assert len(store.files) == 12
    return store


def names(store: EventStore, **where: str) -> set[str]:
    return {Path(f.path).name for f in store.files if all(
        (getattr(f, k) == v) for k, v in where.items()
    )}


def test_pruning_by_stream_type_and_occurred_window(seasons: EventStore) -> None:
    query = seasons.scan(
        stream_types="fine", occurred_from="2024-02-01", at="2024-02-28"
    )
    assert scanned(query) == names(seasons, stream_type="fine", month="2024-02")
    assert query.collect().height == 2
    # the pruned files are really not read: move every other file away
    for f in seasons.files:
        if f.stream_type != "fine" or f.month != "2024-02":
            (seasons.root / f.path).rename(seasons.root / f.path.replace(".parquet", ".away"))
    assert query.collect()["stream_id"].to_list() == ["f", "f"]


def test_pruning_by_position_window(seasons: EventStore) -> None:
    # commit 2 holds positions 13..24; its first partition (account, 2024-01) holds 13..15
    query = seasons.scan(position_from=13, at_position=15)
    (wanted,) = [f for f in seasons.files if f.min_position == 13]
    assert scanned(query) == {Path(wanted.path).name}
    assert query.collect()["position"].sort().to_list() == [13, 14, 15]
    assert scanned(seasons.scan(at_position=3)) == {
        Path(f.path).name for f in seasons.files if f.min_position <= 3
    }


def test_pruning_by_known_at(seasons: EventStore) -> None:
    first_commit = seasons.scan(
        known_at="2025-01-01T12:00:00", stream_types="fine", at="2024-02-28"
    )
    files = scanned(first_commit)
    assert len(files) == 2 and all(name.startswith("c000000000001-") for name in files)
    assert first_commit.collect()["position"].sort().to_list() == [10, 11]
    assert seasons.scan(known_at="2024-12-31").collect().height == 0
    assert seasons.scan(known_at="2025-01-02").collect().height == 24


def test_create_refuses_a_used_folder_and_exist_ok_opens_a_store(tmp_path: Path) -> None:
    from eventlab import StoreExistsError

    store = EventStore.create(tmp_path / "s")
    store.append(pl.DataFrame({"stream_type": "a", "stream_id": ["x"], "event_type": "E",
                               "occurred_at": [datetime(2024, 1, 1, tzinfo=UTC)]}))
    with pytest.raises(StoreExistsError, match="is not empty"):
        EventStore.create(tmp_path / "s")
    assert EventStore.create(tmp_path / "s", exist_ok=True).head == 1  # opened, not emptied
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("not a store")
    with pytest.raises(StoreExistsError, match="is not empty"):
        EventStore.create(tmp_path / "other", exist_ok=True)


def test_old_scan_keywords_are_deprecated_aliases(seasons: EventStore) -> None:
    """occurred_to= / position_to= (the second vocabulary) still work, with a warning that
    names the keyword to use; combined with at= / at_position= the tighter bound wins."""
    with pytest.warns(DeprecationWarning, match=r"occurred_to=.*use at="):
        old = seasons.scan(occurred_to="2024-02-28", at="2024-03-31").collect()
    assert old.sort("position").equals(seasons.scan(at="2024-02-28").collect().sort("position"))
    with pytest.warns(DeprecationWarning, match=r"position_to=.*use at_position="):
        old = seasons.scan(position_to=15, at_position=20).collect()
    assert old["position"].sort().to_list() == list(range(1, 16))
    with pytest.raises(ValidationError, match="at_position must be an integer"):
        seasons.scan(at_position="15")  # type: ignore[arg-type]
