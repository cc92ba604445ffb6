"""Deciders: the per-command path, the vectorized engine and a hand-written oracle agree."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventlab import Projection, ValidationError
from eventlab import reducers as r
from eventlab.examples.bank_domain import (
    ChangeOwner,
    CloseAccount,
    Deposit,
    OpenAccount,
    Withdraw,
    bank_decider,
)
from eventlab.write import CommandType, Decider, Emit, Field, Handler, Rejected, reject_if
from eventlab.write.commands import commands_frame, validate
from eventlab.write.engine import Method, run

T0 = datetime(2024, 1, 1, tzinfo=UTC)
NOW = datetime(2024, 6, 1, tzinfo=UTC)
TYPES = {"OpenAccount": OpenAccount, "Deposit": Deposit, "Withdraw": Withdraw,
         "ChangeOwner": ChangeOwner, "CloseAccount": CloseAccount}


def oracle(commands: list[tuple[str, str, Any]], limit: float | None) -> list[str | None]:
    """The bank rules written out by hand: the reason per command (None = accepted)."""
    accounts: dict[str, dict[str, Any]] = {}
    out: list[str | None] = []
    for stream, kind, value in commands:
        acc = accounts.setdefault(stream, {"status": "none", "balance": 0.0, "version": 0})
        reason = None
        if kind in ("Deposit", "Withdraw") and value <= 0:
            reason = f"field 'amount' must be > 0 (got {float(value)})"
        elif kind == "OpenAccount":
            reason = "the account already exists" if acc["version"] else None
        elif acc["status"] != "open":
            reason = f"account is not open (status: {acc['status']})"
        elif kind == "Withdraw" and limit is not None and acc["balance"] - value < -limit:
            reason = "insufficient funds"
        out.append(reason)
        if reason is None:
            acc["version"] += 1
            acc["status"] = {"OpenAccount": "open", "CloseAccount": "closed"}.get(
                kind, acc["status"])
            acc["balance"] += {"Deposit": value, "Withdraw": -value}.get(kind, 0.0)
    return out


def as_commands(spec: list[tuple[str, str, Any]]) -> list[Any]:
    out = []
    for i, (stream, kind, value) in enumerate(spec):
        data = {"amount": float(value)} if kind in ("Deposit", "Withdraw") else (
            {"owner": f"Owner {value}"} if kind in ("OpenAccount", "ChangeOwner") else {})
        out.append(TYPES[kind](stream, command_id=f"c{i}", occurred_at=T0 + timedelta(hours=i),
                               **data))
    return out


def short(reason: str | None) -> str | None:
    return None if reason is None else reason.split(":")[0] if reason.startswith(
        "insufficient") else reason


commands_strategy = st.lists(
    st.tuples(st.sampled_from(["a", "b", "c"]),
              st.sampled_from(["OpenAccount", "Deposit", "Withdraw", "Withdraw", "Deposit",
                               "ChangeOwner", "CloseAccount"]),
              st.integers(min_value=-2, max_value=60)),
    min_size=1, max_size=14)


def engine_reasons(decider: Decider, commands: list[Any], method: Method = "auto"
                   ) -> tuple[list[str | None], pl.DataFrame]:
    checked = validate(commands_frame(commands), decider.command_types, now=NOW)
    valid = checked.filter(pl.col("reason").is_null()).drop("reason")
    done = run(decider, valid, pl.DataFrame(schema=decider.partial_schema), method=method)
    merged = checked.select("seq", invalid="reason").join(done.outcomes, on="seq", how="left")
    reasons = merged.sort("seq").select(pl.coalesce("invalid", "reason"))
    return reasons.to_series().to_list(), done.events


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=commands_strategy, limit=st.sampled_from([None, 0.0, 25.0]),
       method=st.sampled_from(["rounds", "speculative"]))
def test_vectorized_engine_equals_hand_written_oracle(spec: list[Any], limit: float | None,
                                                      method: Method) -> None:
    decider = bank_decider(overdraft_limit=limit)
    reasons, events = engine_reasons(decider, as_commands(spec), method)
    assert [short(x) for x in reasons] == oracle(spec, limit)
    accepted = [f"c{i}" for i, x in enumerate(reasons) if x is None]
    assert sorted(events["causation_id"].to_list()) == sorted(accepted)
    versions = events.sort("position").group_by("stream_id", maintain_order=True).agg("version")
    for row in versions.iter_rows(named=True):  # gapless per stream, in decision order
        assert row["version"] == list(range(1, len(row["version"]) + 1))


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=commands_strategy)
def test_per_command_decide_path_agrees_with_the_engine(spec: list[Any]) -> None:
    """decide(command, state) one at a time, evolving state with state_of, equals run()."""
    decider = bank_decider(overdraft_limit=10.0)
    commands = as_commands(spec)
    batch_reasons, batch_events = engine_reasons(decider, commands)
    history: list[dict[str, Any]] = []
    for command, expected in zip(commands, batch_reasons, strict=True):
        stream = [e for e in history if e["stream_id"] == command.stream_id]
        state = None
        if stream:
            state = decider.state_of(pl.DataFrame(stream)).drop("stream_id").row(0, named=True)
        decided = decider.decide(command, state, now=NOW)
        if isinstance(decided, Rejected):
            assert decided.reason == expected
        else:
            assert expected is None
            history += decided
    mine = pl.DataFrame(history, schema=decider.event_schema) if history else None
    if mine is not None:
        assert mine["event_id"].to_list() == batch_events.sort("position")["event_id"].to_list()
        assert mine["version"].to_list() == batch_events.sort("position")["version"].to_list()


def test_decide_returns_events_with_causation_and_version() -> None:
    decider = bank_decider(overdraft_limit=0.0)
    events = decider.decide(Withdraw("a", amount=30.0, command_id="w", correlation_id="k"),
                            {"status": "open", "deposited": 50.0, "version": 4})
    assert isinstance(events, list)
    # every declared column but the store-assigned position, with the other payload left null
    assert list(events[0]) == [c for c in decider.event_schema if c != "position"]
    assert (events[0]["stream_type"], events[0]["event_type"], events[0]["owner"]) == (
        "account", "Withdrawn", None)
    assert (events[0]["event_id"], events[0]["version"], events[0]["causation_id"],
            events[0]["correlation_id"], events[0]["amount"]) == ("w:0", 5, "w", "k", 30.0)
    rejected = decider.decide(Withdraw("a", amount=60.0), {"status": "open", "deposited": 50.0,
                                                          "version": 4})
    assert rejected == Rejected(
        "insufficient funds: balance 50.0 minus 60.0 is below the overdraft limit -0.0")
    assert decider.decide(Deposit("a", amount=5.0)) == Rejected(
        "account is not open (status: none)")
    assert decider.decide(Deposit("a", amount=0.0)).stage == "validation"  # type: ignore[union-attr]


def test_conditional_templates_and_state_dependent_payloads() -> None:
    Charge = CommandType("Charge", amount=Field(float, gt=0))
    state = Projection("tab", fields={"spent": r.sum("amount", on="Charged")})
    decider = Decider("tab", state=state, events={"Charged": {"amount": pl.Float64},
                                                  "LimitReached": {"total": pl.Float64}},
                      handlers=[Handler(Charge, emit=[
                          Emit("Charged", amount=pl.col("amount")),
                          Emit("LimitReached", total=pl.col("spent") + pl.col("amount"),
                               when=pl.col("spent") + pl.col("amount") >= 100),
                      ], reject=[reject_if(pl.col("spent") >= 100, "the tab is closed")])])
    spec = [Charge("t", amount=a, command_id=f"c{i}") for i, a in enumerate([60.0, 50.0, 5.0])]
    reasons, events = engine_reasons(decider, spec)
    assert reasons == [None, None, "the tab is closed"]
    assert events.sort("position").select("event_type", "total", "event_id").rows() == [
        ("Charged", None, "c0:0"), ("Charged", None, "c1:0"), ("LimitReached", 110.0, "c1:1")]


def test_null_rule_condition_rejects_fail_closed() -> None:
    Set = CommandType("Set", value=Field(float, required=False))
    decider = Decider("x", state=Projection("x", fields={"n": r.count()}),
                      events={"Set": {"value": pl.Float64}},
                      handlers=[Handler(Set, emit=[Emit("Set", value=pl.col("value"))],
                                        reject=[reject_if(pl.col("value") > 10, "too big")])])
    assert decider.decide(Set("s", value=None)) == Rejected("too big")
    assert isinstance(decider.decide(Set("s", value=3.0)), list)


def test_initial_state_defaults_and_overrides() -> None:
    assert bank_decider().initial_state() == {
        "status": "none", "holder": None, "deposited": 0.0, "withdrawn": 0.0, "events": 0,
        "version": 0, "balance": 0.0}
    state = Projection("p", fields={"level": r.last("x")})
    decider = Decider("p", state=state, events={"E": {"x": pl.Int64}}, initial={"level": 3},
                      handlers=[])
    assert decider.initial_state()["level"] == 3


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"state": Projection("p", key="other", fields={"n": r.count()})}, "keyed by stream_id"),
    ({"state": Projection("p", fields={"amount": r.count()})}, "clash"),
    ({"state": Projection("p", fields={"version": r.count()})}, "clash"),
    ({"events": {"Other": {}}}, "undeclared event types"),
    ({"events": {"Deposited": {"total": pl.Float64}}}, "payload columns"),
    ({"initial": {"nope": 1}}, "unknown state fields"),
    ({"events": {"Deposited": {"amount": pl.Float64}, "X": {"amount": pl.Int64}}}, "two dtypes"),
])
def test_decider_definition_errors(kwargs: dict[str, Any], match: str) -> None:
    args: dict[str, Any] = {
        "state": Projection("p", fields={"n": r.count()}),
        "events": {"Deposited": {"amount": pl.Float64}},
        "handlers": [Handler(Deposit, emit=[Emit("Deposited", amount=pl.col("amount"))])],
    }
    with pytest.raises(ValidationError, match=match):
        Decider("acc", **(args | kwargs))


def test_registry_rejects_a_command_type_in_two_deciders() -> None:
    from eventlab.write.decider import registry

    with pytest.raises(ValidationError, match="one decider"):
        registry([bank_decider(), bank_decider()])


@pytest.mark.parametrize("limit", [None, 0.0])
def test_speculative_and_round_engines_agree_on_a_skewed_log(limit: float | None) -> None:
    """The generated bank log has accounts with dozens of commands; the speculative engine
    needs far fewer passes than rounds, and gives the same outcomes and events."""
    from eventlab.examples.bank_domain import bank_commands

    decider = bank_decider(overdraft_limit=limit)
    checked = validate(bank_commands(3_000, 100, seed=2), decider.command_types, now=NOW)
    valid = checked.drop("reason")
    empty = pl.DataFrame(schema=decider.partial_schema)
    rounds = run(decider, valid, empty, method="rounds", first_position=7)
    fast = run(decider, valid, empty, method="speculative", first_position=7)
    assert fast.outcomes.equals(rounds.outcomes) and fast.events.equals(rounds.events)
    assert rounds.rounds > 60 and fast.rounds < rounds.rounds // 4
    assert (fast.outcomes["reason"].null_count() < 3_000) == (limit is not None)


def test_speculative_engine_with_state_dependent_templates() -> None:
    """Templates reading the state make first guesses wrong; iterations fix them."""
    Charge = CommandType("Charge", amount=Field(float, gt=0))
    state = Projection("tab", fields={"spent": r.sum("amount", on="Charged"),
                                      "last": r.last("total")})
    decider = Decider("tab", state=state, events={
        "Charged": {"amount": pl.Float64, "total": pl.Float64}},
        handlers=[Handler(Charge, emit=[Emit("Charged", amount=pl.col("amount"),
                                             total=pl.col("spent") + pl.col("amount"))],
                          reject=[reject_if(pl.col("spent") + pl.col("amount") > 100,
                                            "over the limit")])])
    amounts = [30.0, 50.0, 40.0, 10.0, 5.0, 20.0, 1.0] * 3
    spec = [Charge(f"t{i % 3}", amount=a, command_id=f"c{i}") for i, a in enumerate(amounts)]
    slow_reasons, slow = engine_reasons(decider, spec, "rounds")
    fast_reasons, fast = engine_reasons(decider, spec, "speculative")
    assert fast_reasons == slow_reasons and fast.equals(slow)
    # t0 gets 30, 10, 1, 40, 20 (101: rejected), 50 (131: rejected), 5
    assert fast.filter(pl.col("stream_id") == "t0")["total"].to_list() == [
        30.0, 40.0, 41.0, 81.0, 86.0]
    assert fast_reasons[12] == fast_reasons[15] == "over the limit"
