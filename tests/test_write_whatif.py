"""What-if: replaying recorded history through a changed decider, checked against counts
computed directly from the data."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from eventlab import EventStore, ValidationError
from eventlab.examples import bank_domain as B
from eventlab.examples import fines as F
from eventlab.importers import import_file
from eventlab.write import Decider, Emit, Handler, handle_many
from eventlab.write.whatif import CHANGES, WhatIf, what_if

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def fines_store(tmp_path_factory: pytest.TempPathFactory) -> EventStore:
    store = EventStore.create(tmp_path_factory.mktemp("fines") / "s")
    import_file(store, ROOT / "data" / "roadtraffic100traces.xes", stream_type="fine")
    return store


@pytest.fixture(scope="module")
def bank_store(tmp_path_factory: pytest.TempPathFactory) -> EventStore:
    store = EventStore.create(tmp_path_factory.mktemp("bank") / "s")
    handle_many(store, B.bank_commands(3_000, 300, seed=11), B.bank_decider())
    return store


def counts(report: WhatIf) -> dict[str, int]:
    summary = report.summary()
    assert summary == dict(report.by_change().iter_rows())  # the same counts, two shapes
    assert list(summary) == list(CHANGES) and all(type(v) is int for v in summary.values())
    return summary


def test_the_real_fines_log_replays_unchanged(fines_store: EventStore) -> None:
    report = what_if(fines_store, F.fines_decider(), source="events",
                     as_commands=F.AS_COMMANDS)
    assert counts(report) == {"same": 390} | {k: 0 for k in CHANGES[1:]}


def test_send_deadline_rejects_late_fines_and_what_followed(fines_store: EventStore) -> None:
    events = fines_store.scan().collect()
    offence = events.filter(pl.col("event_type") == "Create Fine").select(
        "stream_id", created="occurred_at")
    sent = events.filter(pl.col("event_type") == "Send Fine").join(offence, on="stream_id")
    late = sent.filter((pl.col("occurred_at") - pl.col("created")).dt.total_days() > 90)
    late_ids = late["stream_id"]
    after = events.filter(pl.col("stream_id").is_in(late_ids.implode()))
    expected = {
        "SendFine": late.height,
        "InsertFineNotification": after.filter(
            pl.col("event_type") == "Insert Fine Notification").height,
        "AddPenalty": after.filter(pl.col("event_type") == "Add penalty").height,
    }
    report = what_if(fines_store, F.fines_decider(send_deadline_days=90), source="events",
                     as_commands=F.AS_COMMANDS, label="90-day deadline")
    got = report.changed.group_by("command_type").len()
    assert dict(got.rows()) == expected and late.height > 10
    assert set(report.changed["change"]) == {"rejected now"}
    by_stream = report.by_stream()
    assert set(by_stream.filter(pl.col("changed") > 0)["stream_id"]) == set(late_ids)
    assert by_stream["changed"].sum() == sum(expected.values())
    reasons = report.changed.filter(pl.col("command_type") == "SendFine")["replayed_reason"]
    assert reasons.str.contains(r"^sent \d+ days after the offence; the deadline is 90").all()


def test_over_time_and_chart_add_up(fines_store: EventStore) -> None:
    report = what_if(fines_store, F.fines_decider(send_deadline_days=60), source="events",
                     as_commands=F.AS_COMMANDS)
    yearly = report.over_time("1y")
    assert yearly["commands"].sum() == report.decisions.height
    changed = yearly.filter(pl.col("change") != "same")["commands"].sum()
    assert changed == report.changed.height > 0
    spec = report.chart("1y").to_dict()
    rows = next(iter(spec["datasets"].values()))
    assert sum(r["commands"] for r in rows) == changed and spec["mark"]["type"] == "bar"
    html = report._repr_html_()
    assert "What if" in html and str(report.changed.height) in html
    with pytest.raises(ValidationError, match="not a valid interval"):
        report.over_time("sometimes")


def test_stricter_bank_rule_on_recorded_commands(bank_store: EventStore) -> None:
    report = what_if(bank_store, B.bank_decider(overdraft_limit=0.0), source="journal")
    summary = counts(report)
    assert summary["rejected now"] > 0 and summary["accepted now"] == 0
    assert set(report.changed["command_type"]) == {"Withdraw"}
    # The counterfactual history keeps the invariant at every step.
    replayed = report.events.sort("position").with_columns(
        delta=pl.when(pl.col("event_type") == "Deposited").then(pl.col("amount"))
        .when(pl.col("event_type") == "Withdrawn").then(-pl.col("amount")).otherwise(0.0))
    running = replayed.with_columns(balance=pl.col("delta").cum_sum().over("stream_id"))
    assert running["balance"].min() >= -1e-6
    assert report.replayed_state()["balance"].min() >= -1e-6
    same = what_if(bank_store, B.bank_decider(), source="journal")
    assert counts(same)["same"] == report.decisions.height == 3_000


def test_looser_rule_accepts_recorded_rejections(tmp_path: Path) -> None:
    store = EventStore.create(tmp_path / "s")
    result = handle_many(store, B.bank_commands(2_000, 200, seed=4),
                         B.bank_decider(overdraft_limit=0.0))
    insufficient = result.outcomes.filter(pl.col("reason").str.starts_with("insufficient"))
    report = what_if(store, B.bank_decider(), source="journal")
    assert counts(report)["accepted now"] == insufficient.height > 0
    assert set(report.changed["command_id"]) == set(insufficient["command_id"])
    events_view = what_if(store, B.bank_decider(), source="events", as_commands=B.AS_COMMANDS)
    assert counts(events_view)["same"] == events_view.decisions.height  # only stored ones


def test_changed_templates_show_as_different_events(bank_store: EventStore) -> None:
    base = B.bank_decider()
    fee = {**base.handlers, "Withdraw": Handler(B.Withdraw, emit=[
        Emit("Withdrawn", amount=pl.col("amount") * 1.01)])}
    with_fee = Decider("account", events=B.EVENTS, state=B.ACCOUNTS, handlers=list(fee.values()))
    report = what_if(bank_store, with_fee, source="events", as_commands=B.AS_COMMANDS)
    withdrawals = bank_store.scan(event_types=["Withdrawn"]).select(pl.len()).collect().item()
    assert counts(report)["different events"] == withdrawals
    baseline = what_if(bank_store, with_fee, source="events", as_commands=B.AS_COMMANDS,
                       baseline=with_fee)
    assert counts(baseline)["same"] == baseline.decisions.height


def test_what_if_errors(tmp_path: Path, bank_store: EventStore) -> None:
    with pytest.raises(ValidationError, match="as_commands"):
        what_if(bank_store, B.bank_decider(), source="events")
    with pytest.raises(ValidationError, match="'journal' or 'events'"):
        what_if(bank_store, B.bank_decider(), source="log")
    with pytest.raises(ValidationError, match="nothing to replay"):
        what_if(EventStore.create(tmp_path / "empty"), B.bank_decider())
