"""Hostile specs and points in time: bounded reads, clear errors, nothing dropped silently."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from eventlab import ValidationError, load_projections
from eventlab.projections import spec as spec_module
from eventlab.projections.expressions import MAX_DEPTH, parse_expression
from eventlab.timeutil import to_utc

GOOD = '[projections.p]\nfields = { n = { reducer = "count" } }\n'


def test_a_device_a_pipe_or_a_folder_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "spec.fifo"
    os.mkfifo(fifo)  # opening it for reading would block until a writer comes
    started = time.monotonic()
    for path in (Path("/dev/zero"), fifo, tmp_path):
        with pytest.raises(ValidationError, match="not a regular file"):
            load_projections(path)
    assert time.monotonic() - started < 5


def test_an_oversized_or_binary_spec_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = tmp_path / "big.toml"
    big.write_text(GOOD + "# " + "x" * 2_000 + "\n")
    monkeypatch.setattr(spec_module, "MAX_SPEC_BYTES", 1_000)
    with pytest.raises(ValidationError, match="larger than 1,000 bytes"):
        load_projections(big)
    monkeypatch.undo()
    assert list(load_projections(big)) == ["p"]
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe[projections]")
    with pytest.raises(ValidationError, match="not UTF-8"):
        load_projections(binary)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("projections.p = 5\n", "must be a table"),
        ('[projections.p]\nstream_types = 5\nfields = { n = { reducer = "count" } }\n',
         "wrong kind"),
        ('[projections.p]\nfields = { n = { reducer = "count", on = 5 } }\n', "wrong kind"),
        ('[projections.p]\nderived = 5\nfields = { n = { reducer = "count" } }\n',
         "wrong kind"),
        ('[projections.p]\nupcasters = 5\nfields = { n = { reducer = "count" } }\n',
         "wrong kind"),
        ("a = " + "[" * 3_000 + "]" * 3_000 + "\n", "too deeply"),
    ],
)
def test_wrong_kinds_of_values_are_validation_errors(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "spec.toml"
    path.write_text(text)
    with pytest.raises(ValidationError, match=message):
        load_projections(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("-" * (MAX_DEPTH + 5) + "1", "nested more than"),
        ("1" + "+1" * (MAX_DEPTH + 5), "nested more than"),
        ("(" * 300 + "x" + ")" * 300, "too deeply|nested more than|parse"),
        ("-'text'", "not valid: bad operand"),
        ("round(x, 'a')", "not valid"),
        ("abs()", r"abs\(\) takes 1 argument"),
        ("round(x, 1, 2)", r"round\(\) takes 1-2"),
        ("coalesce()", r"coalesce\(\) takes 1 or more"),
        ("x in [1, y]", "only literal values"),
        ("x in [f(1)]", "only literal values"),
        ("x in [[1]]", "only literal values"),
    ],
)
def test_hostile_expressions_are_validation_errors(text: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        parse_expression(text)


def test_in_lists_keep_every_literal() -> None:
    frame = pl.DataFrame({"x": [-1, 0, 2, None], "s": ["a", "b", None, "c"]})
    kept = frame.filter(parse_expression("x in [-1, +2]"))["x"].to_list()
    assert kept == [-1, 2]
    assert frame.filter(parse_expression("s in ('a', 'c')"))["s"].to_list() == ["a", "c"]
    assert frame.filter(parse_expression("x not in [0, null]"))["x"].to_list() == [-1, 2]


@pytest.mark.parametrize(
    "value", ["9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+01:00",
              datetime(9999, 12, 31, 23, 0).isoformat() + "-03:00"],
)
def test_points_past_the_calendar_after_conversion_are_validation_errors(value: str) -> None:
    with pytest.raises(ValidationError, match="outside the years 0001-9999"):
        to_utc(value, name="known_at")
    assert to_utc("9999-12-31T23:59:59+00:00") == datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
