"""Notebook-facing values: each ``_repr_html_`` is a thin shell over a pure, tested function."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from eventlab import EventStore, Projection, ReadModel, diff_frames
from eventlab import reducers as r
from eventlab.projections.cards import changes_html, diff_html, projection_html, read_model_html
from eventlab.render import card, fields, table, value_text
from eventlab.store.cards import append_result_html, info_html
from tests.helpers.html_tables import body, header

D = datetime(2023, 3, 1, tzinfo=UTC)
P = Projection("accounts", fields={"n": r.count(), "owner": r.last("owner")})


@pytest.fixture
def filled(store: EventStore) -> EventStore:
    store.append(pl.DataFrame({
        "stream_type": "account", "stream_id": ["a", "b", "a"], "event_type": "Opened",
        "occurred_at": [D, D + timedelta(days=1), D + timedelta(days=40)],
        "owner": ["<ann>", "bob & co", "cy"],
    }))
    return store


def test_values_are_escaped_and_formatted() -> None:
    assert value_text(1234567) == "1,234,567"
    assert value_text(None) == "—"
    assert value_text(D) == "2023-03-01 00:00:00"
    html = card("a <title>", fields([("k<", 1), ("v", "x&y")]))
    assert "a &lt;title&gt;" in html and "k&lt;" in html and "x&amp;y" in html
    assert "<script" not in html


def test_table_shows_head_and_how_many_rows_there_are() -> None:
    html = table(pl.DataFrame({"x": list(range(15)), "s": ["<i>"] * 15}), rows=10)
    assert header(html) == ["x", "s"]
    assert body(html) == [[str(i), "<i>"] for i in range(10)]
    assert "rows 1–10 of 15" in html and "&lt;i&gt;" in html


def test_store_info_and_append_result(filled: EventStore) -> None:
    info = filled.info()
    html = info_html(info)
    assert "eventlab store" in html and ">3<" in html and "Opened (3)" in html
    assert info._repr_html_().startswith("<div")
    result = filled.append(pl.DataFrame({
        "stream_type": "account", "stream_id": ["c"], "event_type": "Opened",
        "occurred_at": [D], "owner": ["dee"]}))
    html = append_result_html(result)
    assert "4–4" in html and "appended" in html
    assert result._repr_html_() == html


def test_store_repr_html_is_offline(filled: EventStore) -> None:
    html = filled._repr_html_()
    assert "eventlab store" in html
    assert "cdn." not in html and "unpkg" not in html and "<script" not in html


def test_projection_diff_changes_and_read_model(filled: EventStore, tmp_path: Path) -> None:
    view = filled.project(P)
    html = projection_html(view)
    assert "accounts" in html and "n (count)" in html and "owner (last)" in html
    assert view._repr_html_() == html

    a = view.state(at=D + timedelta(days=2))
    b = view.state()
    diff = diff_frames(a, b, "stream_id")
    assert "read models differ" in diff_html(diff) and ">1<" in diff_html(diff)
    same = diff_frames(b, b, "stream_id")
    assert "read models are equal" in diff_html(same)

    changes = view.changes(D + timedelta(days=2), D + timedelta(days=41))
    html = changes_html(changes)
    assert "changes on at" in html and "&lt;ann&gt;" in html and "cy" in html

    model = view.export(tmp_path).read_model
    assert isinstance(model, ReadModel)
    html = read_model_html(model)
    assert "read model" in html and "accounts" in html and ">3<" in html
    assert model._repr_html_() == html


def test_reprs_of_stores_views_and_results_are_one_short_line(filled: EventStore) -> None:
    view = filled.project(P)
    diff = diff_frames(view.state(at=D), view.state(), "stream_id")
    changes = view.changes(D, D + timedelta(days=41))
    shown = {
        repr(filled): f"EventStore({str(filled.root)!r}, events=3, commits=1)",
        repr(view): f"ProjectionView('accounts', key=['stream_id'], 2 fields, "
                    f"store={str(filled.root)!r})",
        repr(filled.info()): f"StoreInfo({str(filled.root)!r}, events=3, streams=2, "
                             "stream_types=1, event_types=1, commits=1)",
        repr(diff): "Diff(key=['stream_id'], only_in_a=0, only_in_b=1, changed=1, columns=2)",
        repr(changes): "Changes(at: 2023-03-01 00:00:00+00:00 -> 2023-04-11 00:00:00+00:00, "
                       "added=1, removed=0, changed=1)",
    }
    for got, expected in shown.items():
        assert got == expected
        assert "\n" not in got and len(got) < 200


def test_summaries_are_dicts_of_counts(filled: EventStore) -> None:
    view = filled.project(P)
    diff = diff_frames(view.state(at=D), view.state(), "stream_id")
    for summary in (diff.summary(), view.changes(D, D + timedelta(days=41)).summary()):
        assert isinstance(summary, dict)
        assert all(isinstance(k, str) and type(v) is int for k, v in summary.items())
