"""The synthetic bank log: shape, invariants, determinism, and a clean append into a store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from eventlab import EventStore, ValidationError
from eventlab.examples import EVENT_TYPES, generate_bank_events, write_bank_store
from eventlab.examples.bank import _bits, _splitmix_int

START = datetime(2024, 1, 1, tzinfo=UTC)
SCHEMA = {
    "event_id": pl.String(), "stream_type": pl.String(), "stream_id": pl.String(),
    "event_type": pl.String(), "occurred_at": pl.Datetime("us", "UTC"),
    "amount": pl.Float64(), "owner": pl.String(),
}


@pytest.fixture(scope="module")
def log() -> pl.DataFrame:
    return generate_bank_events(20_000, 300, seed=3)


def per_account(frame: pl.DataFrame) -> pl.DataFrame:
    """One row per account: its event types in frame order and simple facts about them."""
    return frame.group_by("stream_id").agg(
        pl.col("event_type").alias("types"),
        (pl.col("occurred_at").diff().drop_nulls() > timedelta(0)).all().alias("increasing"),
    )


def versions_follow_time(stored: pl.DataFrame) -> bool:
    """Within every account, versions are 1, 2, 3, ... in occurred_at order."""
    by_time = stored.sort("stream_id", "occurred_at")
    expected = pl.int_range(1, pl.len() + 1).over("stream_id")
    return bool(by_time.select((pl.col("version") == expected).all()).item())


def test_shape_columns_and_dtypes(log: pl.DataFrame) -> None:
    assert log.height == 20_000
    assert dict(log.schema) == SCHEMA
    assert log["stream_type"].unique().to_list() == ["account"]
    assert log["stream_id"].n_unique() == 300
    assert log["event_id"].n_unique() == log.height
    required = log.select("event_id", "stream_id", "event_type", "occurred_at")
    assert required.null_count().sum_horizontal().item() == 0


def test_every_account_opens_first_and_closes_at_most_once_last(log: pl.DataFrame) -> None:
    accounts = per_account(log)
    assert accounts["types"].list.first().eq("AccountOpened").all()
    assert accounts["types"].list.eval(pl.element().eq("AccountOpened").sum()).explode().eq(1).all()
    closes = accounts["types"].list.eval(pl.element().eq("AccountClosed").sum()).explode()
    assert closes.le(1).all()
    closed = accounts.filter(closes.eq(1))
    assert closed.height > 0, "with 300 accounts some must close (about 8%)"
    assert closed["types"].list.last().eq("AccountClosed").all()


def test_times_increase_within_accounts_and_rows_follow_occurred_at(log: pl.DataFrame) -> None:
    assert per_account(log)["increasing"].all()
    assert log["occurred_at"].is_sorted()
    assert log["occurred_at"].min() >= START  # type: ignore[operator]
    assert log["occurred_at"].max() < START + timedelta(days=365)  # type: ignore[operator]


def test_payload_columns_match_event_types(log: pl.DataFrame) -> None:
    money = log["event_type"].is_in(["Deposited", "Withdrawn"])
    named = log["event_type"].is_in(["AccountOpened", "OwnerChanged"])
    assert (log["amount"].is_not_null() == money).all()
    assert log.filter(money)["amount"].min() > 0  # type: ignore[operator]
    assert (log["owner"].is_not_null() == named).all()
    assert log.filter(named)["owner"].str.len_chars().min() > 0  # type: ignore[operator]


def test_realistic_mix_of_event_types(log: pl.DataFrame) -> None:
    share = log["event_type"].value_counts(normalize=True, name="share")
    shares = dict(zip(share["event_type"], share["share"], strict=True))
    assert set(shares) == set(EVENT_TYPES)
    assert 0.45 < shares["Deposited"] < 0.6
    assert 0.35 < shares["Withdrawn"] < 0.5
    assert 0.02 < shares["OwnerChanged"] < 0.08
    counts = log.group_by("stream_id").len()["len"]
    assert counts.max() > 5 * counts.median()  # type: ignore[operator]  # skewed activity


def test_same_seed_same_log_other_seed_other_log(log: pl.DataFrame) -> None:
    assert generate_bank_events(20_000, 300, seed=3).equals(log)
    other = generate_bank_events(20_000, 300, seed=4)
    assert not other.equals(log)
    assert other["event_id"].is_in(log["event_id"].implode()).sum() == 0


def test_pinned_output_does_not_drift() -> None:
    """A seed must give the same log on every machine, thread count and Polars version."""
    small = generate_bank_events(50, 5, seed=11)
    first = small.row(0, named=True)
    assert first["event_id"] == "b11-3-1"
    assert first["stream_id"] == "acc-3"
    assert first["occurred_at"] == datetime(2024, 2, 15, 9, 56, 48, 311929, tzinfo=UTC)
    assert first["owner"] == "Diego Kowalski"
    assert round(small["amount"].sum(), 2) == 12153.52


def test_polars_splitmix_matches_the_reference() -> None:
    index = pl.Series([0, 1, 2**40, 2**63 + 5], dtype=pl.UInt64)
    key = _splitmix_int(_splitmix_int(9) ^ 7)
    expected = [_splitmix_int((i + key) & (2**64 - 1)) for i in index.to_list()]
    assert _bits(index, 9, 7).to_list() == expected


def test_start_is_taken_as_utc_when_naive_and_converted_when_aware() -> None:
    naive = generate_bank_events(200, 10, start=datetime(2024, 1, 1))
    assert naive.equals(generate_bank_events(200, 10, start=START))
    rome_start = datetime(2024, 1, 1, 1, tzinfo=ZoneInfo("Europe/Rome"))
    rome = generate_bank_events(200, 10, start=rome_start)
    assert rome.equals(naive)
    later = generate_bank_events(200, 10, start=START + timedelta(days=1))
    assert (later["occurred_at"] - naive["occurred_at"]).unique().to_list() == [timedelta(days=1)]


def test_shortest_allowed_span_still_gives_strictly_increasing_times() -> None:
    span_days = 10 * 20_000 / 86_400_000_000  # 10 microseconds per event
    frame = generate_bank_events(20_000, 3, span_days=span_days)
    assert per_account(frame)["increasing"].all()
    assert frame["occurred_at"].max() < START + timedelta(days=span_days)  # type: ignore[operator]


def test_one_event_per_account_is_just_openings() -> None:
    frame = generate_bank_events(40, 40)
    assert frame["event_type"].unique().to_list() == ["AccountOpened"]
    assert frame["stream_id"].n_unique() == 40


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"n_events": 5, "n_accounts": 10}, "n_events must be an int >= n_accounts"),
        ({"n_events": 5, "n_accounts": 0}, "n_accounts must be an int >= 1"),
        ({"n_events": 5, "n_accounts": 1, "seed": -1}, "seed must be an int"),
        ({"n_events": 5, "n_accounts": 1, "span_days": 0}, "span_days must be a number"),
        ({"n_events": 10_000, "n_accounts": 1, "span_days": 1e-8}, "too short for 10000 events"),
    ],
)
def test_invalid_arguments_are_refused(kwargs: dict[str, int], fragment: str) -> None:
    with pytest.raises(ValidationError, match=fragment):
        generate_bank_events(**kwargs)


def test_appends_as_one_batch_with_versions_in_time_order(
    tmp_path: Path, log: pl.DataFrame
) -> None:
    store = EventStore.create(tmp_path / "store")
    result = store.append(log)
    assert (result.appended, result.skipped, result.streams) == (20_000, 0, 300)
    stored = store.scan().collect().sort("position")
    assert stored.select(log.columns).equals(log)
    assert versions_follow_time(stored)
    first_events = stored.filter(pl.col("version") == 1)["event_type"]
    assert first_events.unique().to_list() == ["AccountOpened"]
    assert store.append(log).skipped == log.height  # deterministic ids: a re-run adds nothing


def test_write_bank_store_in_batches(tmp_path: Path) -> None:
    store = write_bank_store(tmp_path / "bank", 3_000, 50, seed=1, batches=3, progress=False)
    assert store.head == 3_000
    assert len({f.path.rsplit("/", 1)[1][:13] for f in store.files}) == 3  # one commit each
    stored = store.scan().collect().sort("position")
    assert stored.select("event_id", "occurred_at").equals(
        generate_bank_events(3_000, 50, seed=1).select("event_id", "occurred_at")
    )
    assert versions_follow_time(stored)


def test_write_bank_store_refuses_bad_batches_and_used_folders(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="batches must be an int"):
        write_bank_store(tmp_path / "a", 100, 10, batches=0)
    write_bank_store(tmp_path / "b", 100, 10)
    with pytest.raises(FileExistsError, match="not empty"):
        write_bank_store(tmp_path / "b", 100, 10)


def files_in_layout_order(store: EventStore) -> bool:
    """Every file holds only its partition's events, sorted by (stream_id, version)."""
    for data_file in store.files:
        frame = pl.read_parquet(store.root / data_file.path)
        months = frame["occurred_at"].dt.strftime("%Y-%m").unique().to_list()
        ordered = frame.equals(frame.sort("stream_id", "version"))
        if months != [data_file.month] or not ordered or f"={data_file.stream_type}/" not in (
            data_file.path
        ):
            return False
    return True


def test_shuffled_batch_of_two_stream_types_lands_in_layout_order(tmp_path: Path) -> None:
    accounts = generate_bank_events(6_000, 80, seed=2)
    loans = generate_bank_events(2_000, 30, seed=9).with_columns(stream_type=pl.lit("loan"))
    shuffled = pl.concat([accounts, loans]).sample(fraction=1.0, shuffle=True, seed=5)
    store = EventStore.create(tmp_path / "store")
    store.append(shuffled.head(5_000))
    store.append(shuffled.tail(3_000))
    assert {f.stream_type for f in store.files} == {"account", "loan"}
    assert files_in_layout_order(store)
    stored = store.scan().collect().sort("position")
    assert stored["event_id"].equals(shuffled["event_id"])  # positions follow batch order
    expected = pl.int_range(1, pl.len() + 1).over("stream_type", "stream_id")
    assert stored.select((pl.col("version") == expected).all()).item()
    store.compact()  # merges each partition's two files: rows arrive out of stream order
    assert files_in_layout_order(store)
    assert store.scan().collect().sort("position").equals(stored)
