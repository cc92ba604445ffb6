"""diff_frames across formats: text read back from CSV/JSON against the typed read model."""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl
import pytest

from eventlab import diff_frames

TYPED = pl.DataFrame({
    "id": ["a", "b", "c"],
    "at": [datetime(2024, 1, 1, 12, tzinfo=UTC), datetime(2024, 6, 1, tzinfo=UTC), None],
    "day": [date(2024, 1, 1), date(2024, 1, 2), date(2024, 1, 3)],
    "n": [1, 2, 3],
    "x": [1.5, 2.25, None],
    "ok": [True, False, None],
    "tags": [["p", "q"], [], None],
})
TEXT = pl.DataFrame({
    "id": ["a", "b", "c"],
    "at": ["2024-01-01T13:00:00+01:00", "2024-06-01T00:00:00.000000+0000", None],
    "day": ["2024-01-01", "2024-01-02", "2024-01-03"],
    "n": ["1", " 2", "3"],
    "x": ["1.5", "2.25", None],
    "ok": ["true", "FALSE", None],
    "tags": ['["p", "q"]', "[]", None],
})


@pytest.mark.parametrize("flip", [False, True])
def test_text_equals_its_typed_read_model(flip: bool) -> None:
    a, b = (TEXT, TYPED) if flip else (TYPED, TEXT)
    diff = diff_frames(a, b, "id")
    assert diff.equal, diff.changed


def test_a_changed_value_in_the_text_is_found() -> None:
    edited = TEXT.with_columns(
        at=pl.Series(["2024-01-01T12:00:01Z", "2024-06-01T00:00:00Z", None]),
        n=pl.Series(["1", "2", "three"]),
    )
    diff = diff_frames(TYPED, edited, "id")
    assert dict(diff.mismatches.iter_rows()) == {
        "at": 1, "day": 0, "n": 1, "x": 0, "ok": 0, "tags": 0}
    assert diff.changed["id"].to_list() == ["a", "c"]


def test_other_mismatched_types_meet() -> None:
    ints = pl.DataFrame({"k": [1, 2], "v": [1, 2], "t": [datetime(2024, 1, 1), None]})
    floats = pl.DataFrame({
        "k": [1, 2], "v": [1.0, 2.5],
        "t": pl.Series([datetime(2024, 1, 1, tzinfo=UTC), None], dtype=pl.Datetime("ms", "UTC")),
    })
    diff = diff_frames(ints, floats, "k")
    assert dict(diff.mismatches.iter_rows()) == {"v": 1, "t": 0}
    assert diff_frames(ints, floats, "k", tolerance=0.5).equal
    keys_as_text = pl.DataFrame({"k": ["1", "2"], "v": [1, 2], "t": ints["t"]})
    assert diff_frames(ints, keys_as_text, "k").equal


def test_what_cannot_be_parsed_compares_as_text() -> None:
    listed = pl.DataFrame({"k": [1], "v": [[1, 2]]})
    number = pl.DataFrame({"k": [1], "v": [12]})
    diff = diff_frames(listed, number, "k")
    assert diff.changed["changed_columns"].to_list() == [["v"]]
