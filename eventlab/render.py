"""HTML for notebooks from plain data: cards, key/value fields and tables.

Floor 1 (see ARCHITECTURE): this module knows no eventlab type. A value's ``_repr_html_`` hands
it plain data (a title, ``(label, value)`` pairs, Polars frames) and gets HTML back. Every table,
the key/value ones included, is drawn by great-tables (static HTML, no script, no network);
nothing here writes a table tag by hand.

How values read (one vocabulary for every card, table and widget):

* integers with thousands separators (``12,345``);
* floats exactly as stored, never rounded nor in scientific notation (``12,345.67``,
  ``386.98``, ``0.000015``), padded with zeros to the most decimals of their column on the page
  (at most :data:`PAD_DECIMALS`) so the decimal points line up;
* points in time in one format, ``2024-01-31 13:05:00`` (UTC; microseconds are not shown);
  dates ``2024-01-31``;
* missing values ``—``; lists ``a, b``; numbers and times right-aligned, text left-aligned.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from html import escape
from typing import Any

import polars as pl

MISSING = "—"
PAD_DECIMALS = 6  #: pad a column's floats to its most decimals when that is at most this many
PAGE_ROWS = 20  #: rows a table shows at once
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
DATE_FORMAT = "%Y-%m-%d"
MAX_HEIGHT = 420  #: pixels; a longer table scrolls inside its box
CARD_STYLE = (
    "font-family:system-ui,sans-serif;font-size:13px;border:1px solid #d0d7de;"
    "border-radius:6px;padding:8px 12px;display:inline-block;max-width:100%;box-sizing:border-box"
)
NOTE_STYLE = "color:#555;font-size:12px;margin:4px 0"


# ------------------------------------------------------------------ values as text
def number_text(value: float | int | Decimal, decimals: int = 0) -> str:
    """A number as shown: thousands separators, floats with every digit they have (their
    shortest round-trip form, ``repr``), at least ``decimals`` decimals, never ``1e+04``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != value:
            return "NaN"
        if value in (float("inf"), float("-inf")):
            return "∞" if value > 0 else "-∞"
        value, decimals = Decimal(repr(value)), max(decimals, 1)  # a float reads as one: 10.0
    text = f"{value:,f}"
    have = len(text) - text.index(".") - 1 if "." in text else 0
    if have < decimals:
        text += ("" if have else ".") + "0" * (decimals - have)
    return text


def decimals_of(value: Any) -> int:
    """How many decimals a float has as stored (``386.98`` -> 2, ``1e-05`` -> 5)."""
    if not isinstance(value, float) or value != value or value in (float("inf"), float("-inf")):
        return 0
    exponent = Decimal(repr(value)).normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def value_text(value: Any, decimals: int = 0) -> str:
    """Any value as shown in a card or a table cell (see the module docstring)."""
    if value is None:
        return MISSING
    if isinstance(value, (bool, int, float, Decimal)):
        return number_text(value, decimals)
    if isinstance(value, datetime):
        utc = value.astimezone(UTC) if value.tzinfo is not None else value
        return utc.strftime(TIME_FORMAT)
    if isinstance(value, date):
        return value.strftime(DATE_FORMAT)
    if isinstance(value, (time, timedelta)):
        return str(value)
    if isinstance(value, (list, tuple)):
        return ", ".join(value_text(v) for v in value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {value_text(v)}" for k, v in value.items()) + "}"
    return str(value)


def is_right_aligned(dtype: pl.DataType) -> bool:
    """Numbers and points in time are right-aligned; text, lists and flags left."""
    return (dtype.is_numeric() or dtype.is_temporal()) and dtype != pl.Boolean


def frame_text(frame: pl.DataFrame) -> pl.DataFrame:
    """Every cell of ``frame`` as the text shown (String columns, same names and order).

    Meant for what is on screen (a page of rows): it formats value by value."""
    columns = {}
    for name, dtype in frame.schema.items():
        values = frame[name].to_list()
        pad = 0
        if dtype.is_float():
            most = max((decimals_of(v) for v in values), default=0)
            pad = most if most <= PAD_DECIMALS else 0
        columns[name] = pl.Series(name, [value_text(v, pad) for v in values], dtype=pl.String)
    return pl.DataFrame(columns, schema=dict.fromkeys(frame.columns, pl.String))


# ------------------------------------------------------------------ tables
def _table_id(*parts: Any) -> str:
    """A stable id for a table (great-tables scopes its CSS by it): same data, same HTML."""
    digest = hashlib.sha1(repr(parts).encode(), usedforsecurity=False).hexdigest()
    return "el" + digest[:12]


def _gt(text: pl.DataFrame, right: Sequence[str], table_id: str, note: str = "") -> str:
    from great_tables import GT

    table = GT(text, id=table_id)
    if right:
        table = table.cols_align("right", columns=list(right))
    left = [c for c in text.columns if c not in right]
    if left:
        table = table.cols_align("left", columns=left)
    table = table.tab_options(
        table_font_size="13px", data_row_padding="2px", column_labels_padding="4px",
        table_margin_left="0", table_margin_right="0", container_padding_y="0",
        table_border_top_style="none", source_notes_font_size="12px",
        # one scrolling box (scroll_box), not a second one inside it at the table's bottom
        container_overflow_x="visible", container_overflow_y="visible",
        # one line per row: a wide table scrolls sideways instead of wrapping every cell
        table_additional_css=[f"#{table_id} .gt_row, #{table_id} .gt_col_heading "
                              "{ white-space: nowrap; }"],
    )
    if note:
        table = table.tab_source_note(note)
    return table.as_raw_html()


def scroll_box(html: str, max_height: int = MAX_HEIGHT) -> str:
    """``html`` in a box that scrolls both ways when the table is wider or longer."""
    return (f"<div class='eventlab-scroll' style='overflow:auto;max-width:100%;"
            f"max-height:{max_height}px'>{html}</div>")


def page_note(offset: int, shown: int, total: int) -> str:
    """``rows 21–40 of 1,234`` (or ``3 rows`` when everything is shown)."""
    if shown == total and offset == 0:
        return plural(total, "row")
    return f"rows {offset + 1:,}–{offset + shown:,} of {total:,}"


def table(frame: pl.DataFrame, *, rows: int = PAGE_ROWS, empty: str = "no rows") -> str:
    """The first ``rows`` rows of ``frame`` as a table (see :func:`page`); a note says how
    many more there are."""
    return page(frame.head(rows), total=frame.height, empty=empty)


def page(
    page: pl.DataFrame,
    *,
    offset: int = 0,
    total: int | None = None,
    labels: dict[str, str] | None = None,
    empty: str = "no rows",
) -> str:
    """Rows ``offset + 1`` to ``offset + page.height`` of a longer frame (``total`` rows,
    default just these) as a great-tables table in a box that scrolls when the table is wider
    or longer, with a note saying which rows of how many are shown. ``labels`` renames column
    headers (e.g. a sort arrow)."""
    total = page.height if total is None else total
    if page.width == 0 or total == 0:
        return note(empty)
    text = frame_text(page)
    if labels:
        text = text.rename({k: v for k, v in labels.items() if k in text.columns})
    right = [(labels or {}).get(c, c) for c, t in page.schema.items() if is_right_aligned(t)]
    table_id = _table_id(text.to_dicts(), text.columns, offset, total)
    footer = page_note(offset, page.height, total) if total > page.height else ""
    return scroll_box(_gt(text, right, table_id, footer))


def fields(rows: Iterable[tuple[str, Any]]) -> str:
    """Labelled values, one per row (``[("events", 390), ("path", "...")]``), as a two-column
    great-tables table without headers; numbers and times right-aligned."""
    pairs = list(rows)
    if not pairs:
        return ""
    labels = [str(k) for k, _ in pairs]
    texts = [value_text(v) for _, v in pairs]
    frame = pl.DataFrame({"field": labels, "value": texts}, schema={"field": pl.String,
                                                                  "value": pl.String})
    numeric = [i for i, (_, v) in enumerate(pairs) if isinstance(v, (int, float, Decimal,
                                                                     datetime, date))]
    return _gt_fields(frame, numeric, _table_id(labels, texts, "fields"))


def _gt_fields(frame: pl.DataFrame, numeric: list[int], table_id: str) -> str:
    from great_tables import GT, loc, style

    table = GT(frame, id=table_id).cols_align("left").tab_options(
        column_labels_hidden=True, table_font_size="13px", data_row_padding="1px",
        table_margin_left="0", table_border_top_style="none", table_border_bottom_style="none",
        table_body_border_bottom_style="none", container_padding_y="0",
    ).tab_style(style.text(weight="bold"), loc.body(columns="field"))
    if numeric:
        table = table.tab_style(style.text(align="right"), loc.body(columns="value", rows=numeric))
    return table.as_raw_html()


# ------------------------------------------------------------------ cards and pieces
def card(title: str, *parts: str) -> str:
    """A bordered box with a bold title over ``parts`` (HTML made by this module)."""
    return f"<div style='{CARD_STYLE}'><b>{escape(title)}</b>{''.join(parts)}</div>"


def note(text: str) -> str:
    """A small grey line of text (a caption, a hint)."""
    return f"<div style='{NOTE_STYLE}'>{escape(text)}</div>"


def section(title: str, body: str) -> str:
    """A caption over a part of a card (``body`` is HTML made by this module)."""
    return f"<div style='margin-top:6px'>{note(title)}{body}</div>" if body else ""


def plural(count: int, word: str) -> str:
    """``1 row``, ``1,234 rows``."""
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def counts_text(counts: dict[str, int], limit: int = 8) -> str:
    """``Create Fine (100), Payment (65), … 3 more``."""
    items = list(counts.items())
    shown = ", ".join(f"{k} ({v:,})" for k, v in items[:limit])
    return shown + (f", … {len(items) - limit} more" if len(items) > limit else "")


def numbers(items: Iterable[tuple[str, Any]]) -> str:
    """Headline numbers side by side: a small label over a large value."""
    cells = "".join(
        "<div style='display:inline-block;margin-right:18px'>"
        f"<div style='color:#555;font-size:11px'>{escape(k)}</div>"
        f"<div style='font-size:18px;font-weight:600'>{escape(value_text(v))}</div></div>"
        for k, v in items
    )
    return f"<div style='font-family:system-ui,sans-serif'>{cells}</div>"


def figure(svg: str) -> str:
    """An inline SVG picture (a chart drawn locally) below a card's fields."""
    return f"<div style='margin-top:6px'>{svg}</div>" if svg else ""


def error(text: str) -> str:
    """A red line (a widget's status line)."""
    return f"<span style='color:#b00020'>{escape(text)}</span>"


def span_text(first: datetime | None, last: datetime | None) -> str:
    """A time span in the largest sensible unit (``3.2 years``, ``5 days``, ``40 minutes``)."""
    if first is None or last is None:
        return MISSING
    seconds = (last - first).total_seconds()
    for unit, size in (("years", 31_556_952), ("days", 86_400), ("hours", 3_600),
                       ("minutes", 60)):
        if seconds >= 2 * size:
            return f"{seconds / size:,.1f} {unit}"
    return f"{seconds:,.0f} seconds"
