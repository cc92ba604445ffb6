"""Widgets driven from Python: set a control, check the frames, numbers and chart specs behind
the outputs against independent computations over the raw events."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import ipywidgets as w
import polars as pl
import pytest

from eventlab import (
    EventStore,
    Projection,
    ProjectionView,
    PythonFold,
    ValidationError,
    charts,
)
from eventlab import reducers as r
from eventlab.importers import import_file
from eventlab.projections.temporal import time_points
from eventlab.timeutil import to_utc
from eventlab.widgets import HistoryScrubber, ReadModelCompare, StreamInspector
from tests.conftest import ROOT
from tests.helpers.html_tables import body, header

SPEC = ROOT / "data" / "fines.toml"
D = datetime(2024, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)
NOT_FETCHED = re.compile(
    r"^https?://(www\.w3\.org/|vega\.github\.io/schema/|vega\.github\.io/editor|github\.com/vega/)"
)


@pytest.fixture(scope="module")
def fines(tmp_path_factory: pytest.TempPathFactory) -> EventStore:
    store = EventStore.create(tmp_path_factory.mktemp("widgets") / "fines")
    import_file(store, ROOT / "data" / "roadtraffic100traces.xes", stream_type="fine")
    return store


@pytest.fixture(scope="module")
def view(fines: EventStore) -> ProjectionView:
    return fines.project(SPEC, name="fines")


@pytest.fixture(scope="module")
def raw(fines: EventStore) -> pl.DataFrame:
    return fines.scan().collect().sort("position")


ACCOUNTS = Projection("accounts", stream_types=["account"], fields={
    "events": r.count(),
    "balance": r.sum("amount"),
    "owner": r.last("owner", on=["Opened", "OwnerChanged"]),
})


def clock(*times: datetime) -> Any:
    """A store clock returning ``times`` one commit after another."""
    queue = list(times)
    return lambda: queue.pop(0) if len(queue) > 1 else queue[0]


def batch(rows: list[tuple[str, str, datetime, float | None, str | None]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"stream_id": pl.String, "event_type": pl.String,
                                      "occurred_at": pl.Datetime("us", "UTC"),
                                      "amount": pl.Float64, "owner": pl.String}, orient="row")


@pytest.fixture
def bitemporal(tmp_path: Path) -> EventStore:
    """Commit 1 (recorded Feb 1): a opens Jan 1, deposits 10 on Jan 5; b opens Jan 3.
    Commit 2 (recorded Mar 1): a back-dated deposit of 5 on Jan 4, b deposits 7 on Feb 10."""
    k1, k2 = datetime(2024, 2, 1, tzinfo=UTC), datetime(2024, 3, 1, tzinfo=UTC)
    store = EventStore.create(tmp_path / "bt", clock=clock(k1, k2))
    store.append(batch([("a", "Opened", D, None, "Ada"),
                        ("a", "Deposited", D + 4 * DAY, 10.0, None),
                        ("b", "Opened", D + 2 * DAY, None, "Bob")]), stream_type="account")
    store.append(batch([("a", "Deposited", D + 3 * DAY, 5.0, None),
                        ("b", "Deposited", D + 40 * DAY, 7.0, None)]), stream_type="account")
    return store



def widget_tree(root: w.Widget) -> list[w.Widget]:
    out, todo = [], [root]
    while todo:
        node = todo.pop()
        out.append(node)
        todo += [c for c in getattr(node, "children", ()) if isinstance(c, w.Widget)]
    return out


def fetched_urls(text: str) -> set[str]:
    return {u for u in re.findall(r"https?://[^\s\"'()<>`\\]+", text) if not NOT_FETCHED.match(u)}


# ------------------------------------------------------------------ HistoryScrubber
def test_scrubber_shows_the_state_numbers_and_events_of_each_point(
    view: ProjectionView, raw: pl.DataFrame
) -> None:
    scrub = HistoryScrubber(view, step="month", window_rows=500)
    lo, hi = raw["occurred_at"].min(), raw["occurred_at"].max()
    assert scrub.points.to_list() == time_points(lo, hi, "1mo")  # type: ignore[arg-type]
    for index in (0, 37, 90, scrub.points.len() - 1):
        scrub.slider.value = index
        at, before = scrub.points[index], scrub.points[index - 1] if index else None
        seen = raw.filter(pl.col("occurred_at") <= at)
        assert scrub.state.equals(view.state(at=at, use_snapshots=False))
        assert scrub.numbers == {
            "streams": seen["stream_id"].n_unique(),
            "events so far": seen.height,
            "total events": seen.height,  # the sum of the projection's `events` field
        }
        step = seen if before is None else seen.filter(pl.col("occurred_at") > before)
        assert scrub.events_in_step == step.height
        assert scrub.window["position"].to_list() == step.sort("occurred_at", "position")[
            "position"].to_list()
        assert scrub.chart.params.cursor == charts.iso(at)
        assert f"{seen.height:,}" in scrub.numbers_html.value
        step = scrub.now  # every output of the step is one frozen value
        assert (step.index, step.at, step.state, step.window) == (index, at, scrub.state,
                                                                  scrub.window)
    with pytest.raises(AttributeError):
        scrub.now.state = scrub.now.state  # type: ignore[misc]


def test_scrubber_step_moves_only_the_rule_of_the_chart(view: ProjectionView) -> None:
    scrub = HistoryScrubber(view, step="week")
    spec = json.dumps(scrub.chart.spec, sort_keys=True)
    scrub.slider.value = 200
    assert json.dumps(scrub.chart.spec, sort_keys=True) == spec  # no data resent per step
    assert scrub.chart._params == {"cursor": charts.iso(scrub.points[200])}
    line = scrub.chart.spec["datasets"][scrub.chart.spec["layer"][0]["data"]["name"]]
    assert len(line) == scrub.series.height <= 120
    assert {r["metric"] for r in line} == {"total events"}


def test_scrubber_play_date_picker_and_custom_points(
    view: ProjectionView, raw: pl.DataFrame
) -> None:
    points = [datetime(2005, 1, 1), "2003-06-01", datetime(2010, 1, 1, tzinfo=UTC)]
    scrub = HistoryScrubber(view, step=points)
    assert scrub.points.to_list() == sorted(to_utc(p) for p in points)
    scrub.play.value = 2  # Play drives the slider (ipywidgets.link)
    assert scrub.slider.value == 2
    assert scrub.numbers["events so far"] == raw.filter(
        pl.col("occurred_at") <= datetime(2010, 1, 1, tzinfo=UTC)).height
    scrub.date.value = datetime(2007, 3, 1, tzinfo=UTC)  # between points: the one before
    assert scrub.slider.value == 1 and scrub.date.value == scrub.points[1]
    scrub.date.value = datetime(1999, 1, 1, tzinfo=UTC)
    assert scrub.slider.value == 0


def test_scrubber_steps_event_by_event(view: ProjectionView, raw: pl.DataFrame) -> None:
    scrub = HistoryScrubber(view, step="event")
    assert scrub.points.to_list() == raw["occurred_at"].unique().sort().to_list()
    scrub.slider.value = 10
    at = scrub.points[10]
    assert scrub.numbers["events so far"] == raw.filter(pl.col("occurred_at") <= at).height
    assert scrub.events_in_step == raw.filter(pl.col("occurred_at") == at).height >= 1


def test_scrubber_table_sorts_and_filters_without_refolding(view: ProjectionView) -> None:
    scrub = HistoryScrubber(view, step="month", top=5)
    scrub.slider.value = scrub.points.len() - 1
    state = scrub.state
    scrub.sort_by.value, scrub.descending.value = "outstanding", True
    assert scrub.rows["outstanding"].to_list() == state["outstanding"].sort(
        descending=True, nulls_last=True).head(5).to_list()
    scrub.filter.value = "S1"
    expected = state.filter(pl.col("stream_id").str.contains("S1", literal=True))
    assert set(scrub.rows["stream_id"]) <= set(expected["stream_id"])
    assert scrub.rows.height == min(5, expected.height) > 0
    assert scrub.state is state
    assert f"state: {state.height:,} rows at this point, 'S1' in the id" == scrub.table.caption
    assert f"rows 1–{scrub.rows.height} of {expected.height:,}" in scrub.table.html
    assert [row[0] for row in body(scrub.table.html)] == scrub.rows["stream_id"].to_list()


def test_scrubber_metric_choice_and_custom_metrics(view: ProjectionView) -> None:
    metrics = {"open": (pl.col("status") == "open").sum(), "owed": pl.col("outstanding").sum()}
    scrub = HistoryScrubber(view, step="month", metrics=metrics, metric="open")
    scrub.slider.value = 60
    assert scrub.numbers["open"] == scrub.state.filter(pl.col("status") == "open").height
    assert scrub.series.columns == ["at", "open", "owed"]
    scrub.metric.value = "owed"
    assert scrub.numbers["owed"] == pytest.approx(scrub.state["outstanding"].sum())
    layer = scrub.chart.spec["layer"][0]
    assert {r["metric"] for r in scrub.chart.spec["datasets"][layer["data"]["name"]]} == {"owed"}
    assert scrub.chart._params["cursor"] == charts.iso(scrub.points[60])


def test_scrubber_known_at_replays_what_the_store_knew(bitemporal: EventStore) -> None:
    scrub = HistoryScrubber(bitemporal, ACCOUNTS, step="day")
    assert scrub.known.max == 1 and scrub.known.value == 1
    scrub.slider.value = scrub._point_index(D + 10 * DAY)
    now = dict(scrub.state.select("stream_id", "balance").iter_rows())
    assert now == {"a": 15.0, "b": 0.0}
    scrub.known.value = 0  # as known on Feb 1: the back-dated deposit was not recorded yet
    assert dict(scrub.state.select("stream_id", "balance").iter_rows()) == {"a": 10.0, "b": 0.0}
    assert scrub.numbers["events so far"] == 3
    assert "position 3" in scrub.known_label.value
    last = scrub.series.filter(pl.col("at") == scrub.points[-1])
    assert last["total balance"].to_list() == [10.0]
    late = HistoryScrubber(bitemporal, ACCOUNTS, step="day", known_at="2024-02-15")
    assert late.known.value == 0
    with pytest.raises(ValidationError, match="before the first commit"):
        HistoryScrubber(bitemporal, ACCOUNTS, known_at="2023-12-01")


def test_scrubber_snapshots_give_the_same_states(tmp_path: Path, view: ProjectionView) -> None:
    store = EventStore.create(tmp_path / "fines")
    import_file(store, ROOT / "data" / "roadtraffic100traces.xes", stream_type="fine")
    snap = HistoryScrubber(store, SPEC, name="fines", step="month", snapshots="1y")
    plain = HistoryScrubber(store, SPEC, name="fines", step="month", use_snapshots=False)
    assert len(list((store.root / "_snapshots").rglob("*.parquet"))) >= 13
    for index in (5, 80, 150):
        snap.slider.value = plain.slider.value = index
        assert snap.state.equals(plain.state)


def test_scrubber_snapshots_an_earlier_known_at_commit(bitemporal: EventStore) -> None:
    snap = HistoryScrubber(bitemporal, ACCOUNTS, step="day", snapshots="1w")
    plain = HistoryScrubber(bitemporal, ACCOUNTS, step="day", use_snapshots=False)
    folder = bitemporal.root / "_snapshots"
    assert {p.name[-21:] for p in folder.rglob("*.parquet")} == {"p000000000005.parquet"}
    snap.known.value = plain.known.value = 0
    assert {p.name[-21:] for p in folder.rglob("*.parquet")} == {
        "p000000000005.parquet", "p000000000003.parquet"}
    for index in range(0, snap.points.len(), 3):
        snap.slider.value = plain.slider.value = index
        assert snap.state.equals(plain.state)


def test_scrubber_on_a_store_without_projection(bitemporal: EventStore) -> None:
    scrub = HistoryScrubber(bitemporal, step="week")
    scrub.slider.value = scrub.points.len() - 1
    assert scrub.state.columns == ["stream_type", "stream_id", "events", "first_at", "last_at",
                                   "last_event"]
    assert scrub.numbers == {"streams": 2, "events so far": 5, "total events": 5}


def test_scrubber_and_inspector_with_a_python_fold(bitemporal: EventStore) -> None:
    counting = PythonFold("counting", init=lambda: {"n": 0},
                          step=lambda s, e: {"n": s["n"] + 1}, stream_types=("account",))
    scrub = HistoryScrubber(bitemporal, counting, step="day")
    scrub.slider.value = scrub._point_index(D + 3 * DAY)
    assert dict(scrub.state.iter_rows()) == {"a": 2, "b": 1}
    assert scrub.series.is_empty()  # a PythonFold has no timeline: no metric series
    inspect = StreamInspector(bitemporal, "a", counting)
    # in valid-time order: the back-dated deposit (position 4, Jan 4) comes before Jan 5's
    assert inspect.changes.select("position", "field", "before", "after").rows() == [
        (1, "n", None, "1"), (4, "n", "1", "2"), (2, "n", "2", "3")]


def test_scrubber_rejects_what_it_cannot_show(tmp_path: Path, view: ProjectionView) -> None:
    with pytest.raises(ValidationError, match="EventStore or a ProjectionView"):
        HistoryScrubber(pl.DataFrame({"a": [1]}))  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="nothing to step through"):
        HistoryScrubber(EventStore.create(tmp_path / "empty"))
    with pytest.raises(ValidationError, match="step='fortnightly' is not a valid step"):
        HistoryScrubber(view, step="fortnightly")
    with pytest.raises(ValidationError, match="sort_by='balance' is not one of"):
        HistoryScrubber(view, step="year", sort_by="balance")
    with pytest.raises(ValidationError, match="metric='owed' is not one of"):
        HistoryScrubber(view, step="year", metric="owed")


def test_widgets_draw_no_progress_bars(
    bitemporal: EventStore, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    import eventlab.progress

    monkeypatch.setattr(eventlab.progress, "AUTO_THRESHOLD", 0)  # every job counts as large
    monkeypatch.delenv("EVENTLAB_PROGRESS", raising=False)
    live = bitemporal.project(ACCOUNTS).state()
    assert "folding accounts" in capfd.readouterr().err  # the library alone draws a bar here
    scrub = HistoryScrubber(bitemporal, ACCOUNTS, step="day", snapshots="1w",
                            use_snapshots=False)
    for index in range(0, scrub.points.len(), 7):
        scrub.slider.value = index
    StreamInspector(bitemporal, "a", ACCOUNTS)
    ReadModelCompare(bitemporal.project(ACCOUNTS), live)
    assert capfd.readouterr().err == ""


def test_frame_table_pages_sorts_and_formats_a_long_frame() -> None:
    from eventlab.widgets._table import FrameTable

    n = 1_234
    frame = pl.DataFrame({
        "stream_id": [f"s{i:05d}" for i in range(n)],
        "amount": [12345.67 if i == 7 else 386.98 + i for i in range(n)],
        "at": [D + i * DAY for i in range(n)],
    })
    table = FrameTable(frame, key=["stream_id"], page_rows=20, caption="accounts")
    assert (table.pages, table.page, table.caption) == (62, 0, "accounts")
    assert table.rows.equals(frame.head(20))
    assert body(table.html)[7] == ["s00007", "12,345.67", "2024-01-08 00:00:00"]
    assert body(table.html)[0][1] == "386.98" and "rows 1–20 of 1,234" in table.html
    table.page = 61  # the last page is short
    assert table.rows.equals(frame.tail(14)) and "rows 1,221–1,234 of 1,234" in table.html
    table.sort, table.descending = "amount", True  # what a header click sets
    assert table.page == 0 and header(table.html) == ["stream_id", "amount ▼", "at"]
    assert table.rows.equals(frame.sort("amount", descending=True).head(20))
    assert body(table.html)[0] == ["s00007", "12,345.67", "2024-01-08 00:00:00"]
    assert body(table.html)[1][1] == "1,619.98"
    table.page = 99  # past the end: the last page
    assert table.page == 61 and table.rows.equals(frame.sort("amount", descending=True).tail(14))
    table.show(frame.head(3), "three")
    assert (table.pages, table.caption, len(body(table.html))) == (1, "three", 3)


# ------------------------------------------------------------------ StreamInspector
def test_inspector_shows_events_history_and_field_changes(bitemporal: EventStore) -> None:
    inspect = StreamInspector(bitemporal, "a", ACCOUNTS)
    assert inspect.events["event_type"].to_list() == ["Opened", "Deposited", "Deposited"]
    assert inspect.events["occurred_at"].to_list() == [D, D + 4 * DAY, D + 3 * DAY]
    assert "owner" in inspect.events.columns and "amount" in inspect.events.columns
    assert inspect.history.equals(bitemporal.project(ACCOUNTS).history(keys=["a"]))
    changes = [(row["version"], row["field"], row["before"], row["after"])
               for row in inspect.changes.iter_rows(named=True)]
    # valid-time order: version 3 (back-dated to Jan 4) changed the state before version 2
    assert changes == [
        (1, "events", None, "1"), (1, "balance", None, "0.0"), (1, "owner", None, "Ada"),
        (3, "events", "1", "2"), (3, "balance", "0.0", "5.0"),
        (2, "events", "2", "3"), (2, "balance", "5.0", "15.0"),
    ]
    dots = inspect.chart.spec["datasets"][inspect.chart.spec["data"]["name"]]
    assert [d["version"] for d in dots] == [1, 2, 3]


def test_inspector_switches_streams_and_reports_unknown_ones(bitemporal: EventStore) -> None:
    inspect = StreamInspector(bitemporal, "a")
    assert inspect.history.is_empty() and "pass projection=" in inspect.history_table.caption
    assert "amount" in inspect.events.columns
    inspect.stream.value = "b"
    assert inspect.events["stream_id"].unique().to_list() == ["b"] and inspect.status.value == ""
    inspect.stream.value = "nobody"
    assert "no events for stream 'nobody'" in html.unescape(inspect.status.value)
    assert inspect.events["stream_id"].unique().to_list() == ["b"]  # the last good stream stays
    with pytest.raises(ValidationError, match="no events for stream 'nobody'"):
        StreamInspector(bitemporal, "nobody")


def test_inspector_needs_a_stream_keyed_projection_and_one_stream_type(
    bitemporal: EventStore,
) -> None:
    by_owner = Projection("owners", key="owner", fields={"events": r.count()})
    with pytest.raises(ValidationError, match="keyed by stream_id"):
        StreamInspector(bitemporal, "a", by_owner)
    bitemporal.append(batch([("a", "Opened", D, None, "Eve")]), stream_type="card")
    with pytest.raises(ValidationError, match=r"stream types \['account', 'card'\]"):
        StreamInspector(bitemporal, "a")
    card = StreamInspector(bitemporal, "a", stream_type="card")
    assert card.events["owner"].to_list() == ["Eve"]


# ------------------------------------------------------------------ ReadModelCompare
@pytest.fixture(scope="module")
def rebuilt(view: ProjectionView, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fines read model with one row missing, one added and two rows edited, as Parquet."""
    state = view.state()
    edited = state.with_columns(
        pl.when(pl.col("stream_id") == "C13687").then(pl.col("paid") + 1).otherwise("paid")
        .alias("paid"),
        pl.when(pl.col("stream_id").is_in(["C13687", "N29297"])).then(pl.lit("closed"))
        .otherwise("status").alias("status"),
    ).filter(pl.col("stream_id") != "V5222")
    extra = state.head(1).with_columns(stream_id=pl.lit("ZZZ"))
    path = tmp_path_factory.mktemp("models") / "rebuilt.parquet"
    pl.concat([edited, extra]).write_parquet(path)
    return path


def test_compare_counts_charts_and_lists_differences(view: ProjectionView, rebuilt: Path) -> None:
    cmp = ReadModelCompare(view, rebuilt)
    assert cmp.key == ["stream_id"]
    assert cmp.diff.summary() == {"only_in_a": 1, "only_in_b": 1, "changed": 2}
    bars = cmp.chart.spec["datasets"][cmp.chart.spec["data"]["name"]]
    assert {b["column"]: b["mismatches"] for b in bars if b["mismatches"]} == {"status": 2,
                                                                                 "paid": 1}
    assert cmp.rows["stream_id"].to_list() == ["C13687", "N29297"]
    cmp.column.value = "paid"
    assert cmp.rows.columns == ["stream_id", "changed_columns", "paid_a", "paid_b"]
    assert cmp.rows.row(0)[2:] == (
        view.state().filter(pl.col("stream_id") == "C13687")["paid"][0],
        view.state().filter(pl.col("stream_id") == "C13687")["paid"][0] + 1,
    )
    cmp.kind.value = "only_in_a"
    assert cmp.rows["stream_id"].to_list() == ["V5222"]
    cmp.kind.value = "only_in_b"
    assert cmp.rows["stream_id"].to_list() == ["ZZZ"]
    assert [label for label, _ in cmp.pick.options] == ["ZZZ"]


def test_compare_row_opens_the_stream_history(
    fines: EventStore, view: ProjectionView, rebuilt: Path
) -> None:
    cmp = ReadModelCompare(view, rebuilt, store=fines)
    cmp.select_row(1)
    assert cmp.inspector is not None
    assert cmp.inspector.events["stream_id"].unique().to_list() == ["N29297"]
    assert cmp.inspector.history["stream_id"].unique().to_list() == ["N29297"]  # the view's spec
    assert cmp.detail_box.children == (cmp.inspector,)
    cmp.select_row(0)
    assert cmp.inspector.events["stream_id"].unique().to_list() == ["C13687"]
    with pytest.raises(ValidationError, match="row 5 is not shown; the table has 2 rows"):
        cmp.select_row(5)


def test_compare_without_store_shows_both_values(view: ProjectionView, rebuilt: Path,
                                                 tmp_path: Path) -> None:
    csv = tmp_path / "rebuilt.csv"
    pl.read_parquet(rebuilt).select("stream_id", "paid", "status").write_csv(csv)
    cmp = ReadModelCompare(view.state().select("stream_id", "paid", "status"), csv,
                           labels=("live", "rebuilt"))
    assert "only in rebuilt" in cmp.counts_html.value
    cmp.select_row(0)
    assert cmp.detail.rows() == [("paid", str(cmp.rows["paid_a"][0]), str(cmp.rows["paid_b"][0]),
                                  True), ("status", "credit collection", "closed", True)]
    cmp.kind.value = "only_in_b"
    assert cmp.table.caption == "1 row (only in rebuilt)"
    cmp.select_row(0)
    assert cmp.detail.rows() == [("ZZZ", *cmp.rows.row(0)[1:])]


def test_compare_an_export_with_the_live_view(view: ProjectionView, tmp_path: Path) -> None:
    result = view.export(tmp_path / "exports")
    model = result.read_model
    for exported in (result, model, model.path, str(model.path)):
        cmp = ReadModelCompare(view, exported)
        assert cmp.diff.equal and cmp.rows.height == 0 and cmp.pick.options == ()
        assert "no rows" in cmp.table.html


def test_compare_rejects_unreadable_models(view: ProjectionView, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="does not exist"):
        ReadModelCompare(view, tmp_path / "missing.parquet")
    (tmp_path / "model.txt").write_text("x")
    with pytest.raises(ValidationError, match=r"neither \.parquet nor \.csv"):
        ReadModelCompare(view, tmp_path / "model.txt")
    (tmp_path / "bad.parquet").write_text("not parquet")
    with pytest.raises(ValidationError, match="cannot read"):
        ReadModelCompare(view, tmp_path / "bad.parquet")
    with pytest.raises(ValidationError, match="pass key="):
        ReadModelCompare(pl.DataFrame({"id": [1]}), pl.DataFrame({"id": [1]}))
    with pytest.raises(ValidationError, match="is a dict"):
        ReadModelCompare({"id": [1]}, view)


# ------------------------------------------------------------------ offline, store card
def test_rendered_widgets_fetch_nothing_from_the_internet(
    bitemporal: EventStore, view: ProjectionView
) -> None:
    made = [HistoryScrubber(bitemporal, ACCOUNTS, step="day"),
            StreamInspector(bitemporal, "a", ACCOUNTS),
            ReadModelCompare(view, view.state().head(50))]
    for widget in made:
        states = [json.dumps(node.get_state(), default=str) for node in widget_tree(widget)]
        text = "\n".join(states)
        assert "JupyterChart" in text or "_esm" in text
        assert not [c for c in ("cdn.jsdelivr", "unpkg", "esm.sh") if c in text]
        assert fetched_urls(text) == set()


def test_store_card_has_counts_span_and_an_inline_svg(fines: EventStore, tmp_path: Path) -> None:
    card = fines._repr_html_()
    assert "<svg" in card and "<script" not in card
    assert fetched_urls(card) == set()
    for text in ("390", "100", "13.1 years", "events per 3mo", "Create Fine (100)"):
        assert text in card
    empty = EventStore.create(tmp_path / "empty")._repr_html_()
    assert "<svg" not in empty and "—" in empty
