"""Commands: typed fields, vectorized validation, messages naming the field and the rule."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from eventlab import ValidationError
from eventlab.write import Command, CommandType, Field, Rule, commands_frame, validate

NOW = datetime(2024, 5, 1, tzinfo=UTC)
Deposit = CommandType("Deposit", amount=Field(float, gt=0, le=10_000))
Rename = CommandType("Rename", owner=Field(str, min_length=2, pattern=r"^[A-Z]"),
                     title=Field(str, required=False, one_of=("Dr", "Ms", "Mr")))
Tag = CommandType("Tag", n=Field(int, required=False,
                                 rules=(Rule("must be even", lambda c: c % 2 == 0),)))
TYPES = [Deposit, Rename, Tag]


def reasons(frame: pl.DataFrame) -> list[str | None]:
    return validate(frame, TYPES, now=NOW).sort("seq")["reason"].to_list()


def test_valid_commands_have_no_reason_and_typed_fields() -> None:
    frame = commands_frame([Deposit("a", amount=5), Rename("a", owner="Ada", title="Dr"),
                            Tag("a", n=4), Tag("b")])
    checked = validate(frame, TYPES, now=NOW)
    assert checked["reason"].null_count() == 4
    assert checked.schema["amount"] == pl.Float64 and checked.schema["n"] == pl.Int64
    assert checked["occurred_at"].to_list() == [NOW] * 4  # default issue time
    assert checked["correlation_id"].to_list() == checked["command_id"].to_list()


@pytest.mark.parametrize(("command", "message"), [
    (Deposit("a", amount=-5.0), "field 'amount' must be > 0 (got -5.0)"),
    (Deposit("a", amount=20_000.0), "field 'amount' must be <= 10000 (got 20000.0)"),
    (Deposit("a", amount="lots"), "field 'amount' must be a Float64 (got lots)"),
    (Deposit("a"), "field 'amount' is required (missing or null)"),
    (Deposit("a", amount=None), "field 'amount' is required (missing or null)"),
    (Deposit("a", amount=1.0, note="x"), "field 'note' is not a field of any known command "
                                          "type (got x)"),
    (Rename("a", owner="A"), "field 'owner' must have at least 2 character(s) (got A)"),
    (Rename("a", owner="ada"), "field 'owner' must match '^[A-Z]' (got ada)"),
    (Rename("a", owner="Ada", title="Prof"),
     "field 'title' must be one of ['Dr', 'Ms', 'Mr'] (got Prof)"),
    (Tag("a", n=3), "field 'n' must be even (got 3)"),
    (Rename("a", owner="Ada", amount=5.0), "field 'amount' is not a field of Rename "
                                          "(fields: owner, title) (got 5.0)"),
    (Command("Explode", "a", {}, "c1"), "command type Explode is unknown; known types: "
                                       "Deposit, Rename, Tag"),
    (Deposit("", amount=1.0), "field 'stream_id' is required (a command addresses one stream)"),
])
def test_invalid_command_names_field_and_rule(command: Command, message: str) -> None:
    assert reasons(command.to_frame()) == [message]


def test_frame_validation_reports_each_row() -> None:
    frame = pl.DataFrame({
        "command_type": ["Deposit", "Deposit", "Tag", "Rename"],
        "stream_id": ["a", "b", "c", "d"],
        "amount": [1.0, 0.0, None, None],
        "n": [None, None, 5, None],
        "owner": [None, None, None, "Zoe"],
    })
    assert reasons(frame) == [None, "field 'amount' must be > 0 (got 0.0)",
                              "field 'n' must be even (got 5)", None]


def test_string_timestamps_and_naive_datetimes_are_read_as_utc() -> None:
    frame = pl.DataFrame({"command_type": ["Deposit"] * 2, "stream_id": ["a", "b"],
                          "amount": [1.0, 2.0],
                          "occurred_at": ["2024-01-02T03:04:05Z", "not a time"]})
    checked = validate(frame, TYPES, now=NOW).sort("seq")
    assert checked["occurred_at"][0] == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert checked["reason"].to_list() == [
        None, "field 'occurred_at' must be a datetime (UTC, or ISO 8601 text) (got not a time)"]
    naive = frame.with_columns(occurred_at=pl.lit(datetime(2024, 1, 1)))
    assert validate(naive, TYPES, now=NOW)["occurred_at"][0] == datetime(2024, 1, 1, tzinfo=UTC)


def test_definition_errors_name_what_to_fix() -> None:
    with pytest.raises(ValidationError, match="reserved"):
        CommandType("X", version=Field(int))
    with pytest.raises(ValidationError, match=r"Field\(\.\.\.\)"):
        CommandType("X", amount=float)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="not a field type"):
        Field(complex)
    with pytest.raises(ValidationError, match="one dtype across"):
        validate(Deposit("a", amount=1.0).to_frame(),
                 [Deposit, CommandType("Other", amount=Field(int))], now=NOW)
    with pytest.raises(ValidationError, match="command_type and stream_id"):
        validate(pl.DataFrame({"stream_id": ["a"]}), TYPES, now=NOW)
    with pytest.raises(ValidationError, match="no commands"):
        commands_frame([])


def test_generated_command_ids_are_unique_and_given_ones_kept() -> None:
    frame = pl.DataFrame({"command_type": ["Deposit"] * 3, "stream_id": ["a"] * 3,
                          "amount": [1.0] * 3, "command_id": ["x", None, None]})
    ids = validate(frame, TYPES, now=NOW).sort("seq")["command_id"].to_list()
    assert ids[0] == "x" and len(set(ids)) == 3 and all(ids)
    assert Deposit("a", amount=1.0).command_id != Deposit("a", amount=1.0).command_id
