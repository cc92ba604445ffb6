"""eventlab.render: how values read on screen, and that every table is drawn by great-tables."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from eventlab import render
from tests.helpers.html_tables import body, fields, header, tables

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(("value", "shown"), [
    (12345.67, "12,345.67"),
    (386.98, "386.98"),
    (0.1 + 0.2, "0.30000000000000004"),  # as stored, not rounded
    (1e-05, "0.00001"),
    (1e16, "10,000,000,000,000,000.0"),
    (-1234.5, "-1,234.5"),
    (float("nan"), "NaN"),
    (float("-inf"), "-∞"),
    (1234567, "1,234,567"),
    (Decimal("1234.500"), "1,234.500"),
    (True, "true"),
    (None, "—"),
    (datetime(2006, 1, 2, 3, 4, 5, 678, tzinfo=UTC), "2006-01-02 03:04:05"),
    (datetime(2006, 1, 2, 5, 4, 5, tzinfo=timezone(timedelta(hours=2))), "2006-01-02 03:04:05"),
    (datetime(2006, 1, 2), "2006-01-02 00:00:00"),
    (date(2006, 1, 2), "2006-01-02"),
    (["a", 1000], "a, 1,000"),
    ("<b>", "<b>"),  # escaping is the table's job (checked below)
])
def test_values_read_exactly(value: object, shown: str) -> None:
    assert render.value_text(value) == shown


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_a_shown_float_reads_back_as_the_same_float(value: float) -> None:
    text = render.number_text(value)
    assert "e" not in text.lower()
    assert float(text.replace(",", "")) == value


def test_a_column_pads_its_decimals_so_points_line_up() -> None:
    frame = pl.DataFrame({"x": [12345.67, 386.9, 10.0, None], "noisy": [0.1 + 0.2, 1.5, 2.0, 3.0]})
    text = render.frame_text(frame)
    assert text["x"].to_list() == ["12,345.67", "386.90", "10.00", "—"]
    assert text["noisy"].to_list() == ["0.30000000000000004", "1.5", "2.0", "3.0"]  # > 6: as is


def test_table_formats_aligns_escapes_and_says_what_is_shown() -> None:
    frame = pl.DataFrame({
        "stream_id": ["<a>", "b"], "fined": [12345.67, 386.98], "events": [1234, 2],
        "at": [datetime(2006, 1, 2, 3, 4, 5, tzinfo=UTC), None], "open": [True, False],
    })
    html = render.table(frame)
    assert header(html) == ["stream_id", "fined", "events", "at", "open"]
    assert body(html) == [["<a>", "12,345.67", "1,234", "2006-01-02 03:04:05", "true"],
                          ["b", "386.98", "2", "—", "false"]]
    assert tables(html)[0]["align"][0] == ["left", "right", "right", "right", "left"]
    assert "&lt;a&gt;" in html and "<a>" not in html
    assert "overflow:auto" in html and "<script" not in html  # scrolls inside its box
    assert render.table(frame) == html  # stable ids: the same data gives the same HTML


def test_long_tables_show_a_page_and_say_which_rows() -> None:
    frame = pl.DataFrame({"n": list(range(100_000))})
    html = render.table(frame, rows=20)
    assert len(body(html)) == 20 and "rows 1–20 of 100,000" in html
    page = render.page(frame.slice(40, 20), offset=40, total=100_000, labels={"n": "n ▲"})
    assert body(page)[0] == ["40"] and "rows 41–60 of 100,000" in page
    assert header(page) == ["n ▲"]
    assert "no rows" in render.table(frame.clear()) and "<table" not in render.table(frame.clear())


def test_fields_are_a_headerless_two_column_table() -> None:
    html = render.card("eventlab store", render.fields([
        ("events", 390), ("size", "1.2 MB"), ("first", datetime(2000, 1, 1, tzinfo=UTC)),
        ("missing", None)]))
    assert fields(html) == {"events": "390", "size": "1.2 MB", "first": "2000-01-01 00:00:00",
                            "missing": "—"}
    assert tables(html)[0]["align"][0] == ["left", "right"]  # the number is right-aligned
    assert tables(html)[0]["align"][1] == ["left", "left"]


HAND_MADE = re.compile(r"<(table|tr|td|th|thead|tbody)\b", re.IGNORECASE)


def test_nothing_in_eventlab_builds_an_html_table_by_hand() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in sorted((ROOT / "eventlab").rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if HAND_MADE.search(line)
    ]
    assert offenders == []


def test_render_knows_no_eventlab_type() -> None:
    source = (ROOT / "eventlab" / "render.py").read_text()
    assert re.findall(r"^\s*(?:from|import) eventlab", source, re.MULTILINE) == []
