"""The queries behind the widgets, called without any widget: browsing a projection through
time (projections/browse.py), one stream's history (projections/stream_history.py) and the
read models a comparison takes (projections/read_models.py)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from eventlab import EventStore, Projection, ValidationError, diff_frames
from eventlab import reducers as r
from eventlab.projections import browse as B
from eventlab.projections import read_models as M
from eventlab.projections.stream_history import stream_history
from eventlab.projections.view import as_view

D = datetime(2024, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)
ACCOUNTS = Projection("accounts", stream_types=["account"], fields={
    "events": r.count(), "balance": r.sum("amount")})


@pytest.fixture
def bank(tmp_path: Path) -> EventStore:
    store = EventStore.create(tmp_path / "bank")
    store.append(pl.DataFrame({
        "stream_id": ["a", "a", "b", "a"], "event_type": ["Opened", "Deposited", "Opened",
                                                        "Deposited"],
        "occurred_at": [D, D + 4 * DAY, D + 2 * DAY, D + 3 * DAY],
        "amount": [None, 10.0, None, 5.0],
    }), stream_type="account")
    return store


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("n", [1, 4, 7, 20])
def test_top_rows_equals_sorting_everything(descending: bool, n: int) -> None:
    state = pl.DataFrame({
        "stream_id": [f"s{i:02d}" for i in range(12)],
        "amount": [3.0, None, 1.0, 3.0, None, 2.0, 3.0, 1.0, None, 5.0, 2.0, 0.0],
        "tags": [[str(i)] for i in range(12)],
    })
    for sort_by in ("amount", "stream_id", None, "tags"):
        by = [sort_by or "stream_id", "stream_id"] if sort_by != "stream_id" else ["stream_id"]
        everything = state.sort(by, descending=descending, nulls_last=True)
        got = B.top_rows(state, key=["stream_id"], sort_by=sort_by, descending=descending, n=n)
        assert got.equals(everything.head(n)), (sort_by, got)
        page = B.top_rows(state, key=["stream_id"], sort_by=sort_by, descending=descending,
                          n=n, offset=3)
        assert page.equals(everything.slice(3, n)), (sort_by, page)
    only = B.top_rows(state, key=["stream_id"], sort_by="amount", contains="s1", n=n)
    assert only["stream_id"].to_list() == ["s11", "s10"][:n]


def test_a_scrub_step_is_one_frozen_value_of_the_state_events_and_counts(
    bank: EventStore,
) -> None:
    view = bank.project(ACCOUNTS)
    points = B.step_points(bank, ["account"], "day", bank.head)
    assert points.to_list() == [D + i * DAY for i in range(5)]
    times = B.event_times(bank, ["account"], bank.head)
    step = B.scrub_step(view, points, 3, bank.head, times=times, window_rows=10,
                        metric=("total balance", pl.col("balance").sum()))
    assert step.state.equals(view.state(at=D + 3 * DAY))
    assert (step.events_so_far, step.events_in_step) == (3, 1)
    assert step.window["occurred_at"].to_list() == [D + 3 * DAY]
    assert dict(step.numbers) == {"streams": 2, "events so far": 3, "total balance": 5.0}
    with pytest.raises(dataclasses.FrozenInstanceError):
        step.index = 4  # type: ignore[misc]
    other = step.with_metric("streams", pl.len())
    assert other.numbers == {"streams": 2, "events so far": 3} and other.state is step.state


def test_stream_history_and_the_one_coercion_to_a_view(bank: EventStore) -> None:
    view = as_view(bank, ACCOUNTS)
    assert as_view(view) is view and as_view(bank, view) is view
    assert as_view(bank, default=B.streams_projection()).projection.name == "streams"
    with pytest.raises(ValidationError, match="pass projection="):
        as_view(bank)
    with pytest.raises(ValidationError, match="got dict"):
        as_view({})
    now = stream_history(bank, "a", view)
    assert now.events["version"].to_list() == [1, 2, 3]
    assert now.history.equals(view.history(keys=["a"]))
    # valid-time order (issue 10.1): the deposit of 5 happened (D+3) before the one of 10 (D+4),
    # though it was recorded after it
    assert now.changes.filter(pl.col("field") == "balance")["after"].to_list() == [
        "0.0", "5.0", "15.0"]
    with pytest.raises(ValidationError, match="no events for stream 'z'"):
        stream_history(bank, "z", view)


def test_read_model_selection_and_detail(bank: EventStore) -> None:
    live = bank.project(ACCOUNTS).state()
    rebuilt = live.with_columns(pl.when(pl.col("stream_id") == "b").then(99.0)
                                .otherwise("balance").alias("balance"))
    diff = diff_frames(M.read_model(live, "A"), M.read_model(rebuilt.lazy(), "B"), "stream_id")
    chosen = M.select_rows(diff, "changed", "balance")
    assert chosen.rows.columns == ["stream_id", "changed_columns", "balance_a", "balance_b"]
    assert chosen.rows.rows() == [("b", ["balance"], 0.0, 99.0)] and chosen.detail.is_empty()
    opened = M.open_row(diff, chosen, 0)
    assert opened.detail.rows() == [("events", "1", "1", False), ("balance", "0.0", "99.0", True)]
    assert M.select_rows(diff, "only_in_a").rows.is_empty()
    with pytest.raises(ValidationError, match="kind='both' is not one of"):
        M.select_rows(diff, "both")
