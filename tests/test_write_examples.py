"""The example write models: generated commands follow each domain's rules."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from eventlab import EventStore
from eventlab.examples import bank_domain as B
from eventlab.examples import fines as F
from eventlab.write import handle_many, what_if


def test_fine_commands_are_deterministic_and_all_accepted(tmp_path: Path) -> None:
    commands = F.fine_commands(300, seed=1)
    assert commands.equals(F.fine_commands(300, seed=1))
    assert not commands.equals(F.fine_commands(300, seed=2))
    store = EventStore.create(tmp_path / "s")
    result = handle_many(store, commands, F.fines_decider())
    assert result.rejected == 0 and result.accepted == commands.height
    kinds = dict(commands.group_by("command_type").len().rows())
    assert kinds["CreateFine"] == 300
    assert kinds["SendFine"] == kinds["InsertFineNotification"] == 300 - kinds["Payment"] + (
        kinds["AddPenalty"] - kinds.get("SendForCreditCollection", 0))
    state = store.project(F.FINES).state()
    assert (state["fined"] > 0).all() and state.height == 300


def test_deadline_back_test_on_generated_fines_matches_the_commands(tmp_path: Path) -> None:
    commands = F.fine_commands(400, seed=3)
    store = EventStore.create(tmp_path / "s")
    handle_many(store, commands, F.fines_decider())
    created = commands.filter(pl.col("command_type") == "CreateFine").select(
        "stream_id", t0="occurred_at")
    sends = commands.filter(pl.col("command_type") == "SendFine").join(created, on="stream_id")
    late = sends.filter((pl.col("occurred_at") - pl.col("t0")).dt.total_days() > 90)
    followers = commands.filter(
        pl.col("stream_id").is_in(late["stream_id"].implode())
        & pl.col("command_type").is_in(["InsertFineNotification", "AddPenalty"]))
    report = what_if(store, F.fines_decider(send_deadline_days=90), source="journal")
    assert report.changed.height == late.height + followers.height > 0
    assert set(report.changed["stream_id"]) == set(late["stream_id"])


def test_bank_commands_open_each_account_first() -> None:
    commands = B.bank_commands(5_000, 400, seed=9)
    firsts = commands.group_by("stream_id", maintain_order=True).first()
    assert set(firsts["command_type"]) == {"OpenAccount"}
    assert commands["command_id"].n_unique() == 5_000
