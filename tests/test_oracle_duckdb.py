"""An independent oracle: DuckDB SQL over the store's Parquet files agrees with eventlab's folds on
real logs from ../shared/datasets (and at points in valid and transaction time).

Order-sensitive fields follow valid time: ``arg_max(x, (occurred_at, position))``, the latest
fact by occurred_at, ties broken by position (see eventlab/window.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from eventlab import EventStore, Projection
from eventlab import reducers as r
from eventlab.importers import import_file
from tests.conftest import ROOT, dataset

FINES_SQL = """
select stream_id,
  count(*) as events,
  coalesce(sum(amount) filter (where event_type = 'Create Fine'), 0) as fined,
  coalesce(sum(amount) filter (where event_type = 'Add penalty'), 0) as penalties,
  coalesce(sum(expense) filter (where event_type = 'Send Fine'), 0) as expenses,
  coalesce(sum("paymentAmount") filter (where event_type = 'Payment'), 0) as paid,
  arg_max(event_type, (occurred_at, position)) as last_event,
  min(occurred_at) as opened_at,
  arg_min("vehicleClass", (occurred_at, position)) filter (where "vehicleClass" is not null)
    as vehicle,
  coalesce(arg_max(case event_type
      when 'Create Fine' then 'open' when 'Payment' then 'paying'
      when 'Send for Credit Collection' then 'credit collection'
      when 'Send Appeal to Prefecture' then 'appealed' when 'Appeal to Judge' then 'appealed' end,
    (occurred_at, position)) filter (where event_type in ('Create Fine', 'Payment',
      'Send for Credit Collection', 'Send Appeal to Prefecture', 'Appeal to Judge')), 'open')
    as status
from read_parquet('{root}/events/**/*.parquet', hive_partitioning = true, union_by_name = true)
where stream_type = 'fine' and {where}
group by stream_id
"""


def duck(sql: str) -> pl.DataFrame:
    return pl.from_arrow(duckdb.sql(sql).to_arrow_table())  # type: ignore[return-value]


@pytest.fixture(scope="module")
def fines(tmp_path_factory: pytest.TempPathFactory) -> EventStore:
    store = EventStore.create(tmp_path_factory.mktemp("oracle") / "fines")
    import_file(store, dataset("roadtraffic100traces.xes"), stream_type="fine")
    return store


@pytest.mark.parametrize("at", [None, "2001-06-30 00:00:00", "2006-01-01 12:00:00"])
def test_fines_state_agrees_with_duckdb(fines: EventStore, at: str | None) -> None:
    view = fines.project(ROOT / "data" / "fines.toml", name="fines")
    ours = view.state(at=at).drop("due", "outstanding")
    where = "true" if at is None else f"occurred_at <= TIMESTAMPTZ '{at}+00:00'"
    theirs = duck(FINES_SQL.format(root=fines.root, where=where)).sort("stream_id")
    assert ours.height == theirs.height > 0
    assert_frame_equal(ours, theirs.select(ours.columns), check_dtypes=False, abs_tol=1e-6)


def test_receipt_per_department_agrees_with_duckdb(tmp_path: Path) -> None:
    """A multi-stream key (a trace attribute) on a second real log."""
    store = EventStore.create(tmp_path / "receipt")
    import_file(store, dataset("08_receipt.xes.gz"), stream_type="receipt")
    columns = store.scan().collect_schema().names()
    key = next(c for c in ("case:department", "case:channel") if c in columns)
    per_key = Projection(
        "per_key",
        key=key,
        fields={
            "events": r.count(),
            "cases": r.count_distinct("stream_id"),
            "first_seen": r.min("occurred_at"),
            "last_type": r.last("event_type"),
        },
    )
    ours = store.project(per_key).state()
    theirs = duck(f"""
        select "{key}", count(*) as events, count(distinct stream_id) as cases,
               min(occurred_at) as first_seen,
               arg_max(event_type, (occurred_at, position)) as last_type
        from read_parquet('{store.root}/events/**/*.parquet', hive_partitioning = true,
                          union_by_name = true)
        group by "{key}" order by "{key}" nulls last""")
    assert ours["events"].sum() == 8_577
    assert_frame_equal(ours.sort(key, nulls_last=True), theirs, check_dtypes=False)


def test_known_at_agrees_with_duckdb_on_recorded_at(tmp_path: Path) -> None:
    clock = iter([datetime(2030, 1, 1, tzinfo=UTC), datetime(2030, 6, 1, tzinfo=UTC)])
    store = EventStore.create(tmp_path / "s", clock=lambda: next(clock))
    import_file(store, dataset("running-example.xes"), stream_type="claim")
    import_file(store, dataset("roadtraffic100traces.xes"), stream_type="fine")
    counts = Projection(
        "counts",
        stream_types=["*"],
        key="stream_type",
        fields={"events": r.count(), "streams": r.count_distinct("stream_id")},
    )
    ours = store.project(counts).state(known_at="2030-03-01")
    theirs = duck(f"""
        select stream_type, count(*) as events, count(distinct stream_id) as streams
        from read_parquet('{store.root}/events/**/*.parquet', hive_partitioning = true,
                          union_by_name = true)
        where recorded_at <= TIMESTAMPTZ '2030-03-01 00:00:00+00:00'
        group by stream_type order by stream_type""")
    assert (
        ours.to_dicts()
        == theirs.to_dicts()
        == [{"stream_type": "claim", "events": 42, "streams": 6}]
    )


@pytest.fixture(scope="module")
def backdated(tmp_path_factory: pytest.TempPathFactory) -> tuple[EventStore, list[datetime]]:
    """The fines log, then a second commit of back-dated payments: each occurred one day
    before its fine's last event but was recorded after all of them."""
    clock = iter([datetime(2030, 1, 1, tzinfo=UTC), datetime(2030, 6, 1, tzinfo=UTC)])
    store = EventStore.create(tmp_path_factory.mktemp("oracle") / "bd", clock=lambda: next(clock))
    import_file(store, dataset("roadtraffic100traces.xes"), stream_type="fine")
    lasts = (
        store.scan().group_by("stream_id")
        .agg(pl.col("occurred_at").max().alias("last"), pl.len().alias("n"))
        .filter(pl.col("n") >= 2).sort("stream_id").head(8).collect()
    )
    late = lasts.select(
        pl.lit("fine").alias("stream_type"), "stream_id", pl.lit("Payment").alias("event_type"),
        (pl.col("last") - pl.duration(days=1)).alias("occurred_at"),
        pl.lit(1.0).alias("paymentAmount"),
    )
    store.append(late)
    return store, late["occurred_at"].sort().to_list()


@pytest.mark.parametrize("point", ["backdated", "original", None])
@pytest.mark.parametrize("known_at", [None, "2030-03-01"])
def test_backdated_events_agree_with_duckdb_exactly_at_an_event_time(
    backdated: tuple[EventStore, list[datetime]], point: str | None, known_at: str | None
) -> None:
    """``at=`` falls exactly on an event time: a back-dated payment's, or an original event's
    (`occurred_at <= at` keeps it; a `<` would drop it). Status and last_event follow valid
    time, so the back-dated payments do not make those fines "paying"."""
    store, late = backdated
    at = {"backdated": late[3], "original": late[3] + timedelta(days=1), None: None}[point]
    view = store.project(ROOT / "data" / "fines.toml", name="fines")
    ours = view.state(at=at, known_at=known_at).drop("due", "outstanding")
    where = ["true"]
    if at is not None:
        where.append(f"occurred_at <= TIMESTAMPTZ '{at.isoformat()}'")
    if known_at is not None:
        where.append(f"recorded_at <= TIMESTAMPTZ '{known_at} 00:00:00+00:00'")
    theirs = duck(FINES_SQL.format(root=store.root, where=" and ".join(where))).sort("stream_id")
    assert ours.height == theirs.height > 0
    assert_frame_equal(ours, theirs.select(ours.columns), check_dtypes=False, abs_tol=1e-6)
    if at is not None:
        assert store.scan(at=at).filter(pl.col("occurred_at") == at).collect().height >= 1
    if known_at is None and at is None:
        paying = ours.filter(pl.col("paid") > 0)
        assert paying.height >= 8 and (paying["status"] != "paying").sum() >= 1
