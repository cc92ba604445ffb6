"""eventlab.charts: the data each chart embeds (checked through ``chart.to_dict()``), the row cap,
and offline rendering (no CDN, static SVG drawn locally)."""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pytest

from eventlab import EventStore, ValidationError, charts, diff_frames
from eventlab.examples import generate_bank_events
from eventlab.importers import import_file
from tests.conftest import ROOT

T0 = datetime(2024, 1, 1, tzinfo=UTC)
# URLs that are identifiers, never fetched: XML namespaces, schema ids, links in error messages.
NOT_FETCHED = re.compile(
    r"^https?://(www\.w3\.org/|vega\.github\.io/schema/|vega\.github\.io/editor|github\.com/vega/)"
)
CDNS = ("cdn.jsdelivr", "unpkg", "esm.sh", "cdnjs")


def fetched_urls(text: str) -> set[str]:
    """Every http(s) address in ``text`` that a browser could load (not a namespace / id)."""
    return {u for u in re.findall(r"https?://[^\s\"'()<>`\\]+", text) if not NOT_FETCHED.match(u)}


def assert_offline(text: str) -> None:
    assert not [c for c in CDNS if c in text]
    assert fetched_urls(text) == set()


def data_of(chart: Any, layer: int | None = None) -> list[dict[str, Any]]:
    spec = chart.to_dict()
    node = spec if layer is None else spec["layer"][layer]
    data = node.get("data") or spec.get("data")
    named = "name" in data
    rows: list[dict[str, Any]] = spec["datasets"][data["name"]] if named else data["values"]
    return rows


def ev(rows: list[tuple[str, int, str, datetime]], stream_type: str = "s") -> pl.DataFrame:
    """Events (stream_id, position, event_type, occurred_at) with the envelope the charts read."""
    return pl.DataFrame(
        [(stream_type, s, p, p, e, t, t) for s, p, e, t in rows],
        schema={"stream_type": pl.String, "stream_id": pl.String, "position": pl.Int64,
                "version": pl.Int64, "event_type": pl.String,
                "occurred_at": pl.Datetime("us", "UTC"), "recorded_at": pl.Datetime("us", "UTC")},
        orient="row",
    )


@pytest.fixture(scope="module")
def bank() -> pl.DataFrame:
    events = generate_bank_events(60_000, 3_000, seed=3)
    return events.with_columns(
        position=pl.int_range(1, pl.len() + 1), version=pl.lit(1),
        recorded_at=pl.col("occurred_at"),
    )


@pytest.fixture(scope="module")
def fines(tmp_path_factory: pytest.TempPathFactory) -> EventStore:
    store = EventStore.create(tmp_path_factory.mktemp("charts") / "fines")
    import_file(store, ROOT / "data" / "roadtraffic100traces.xes", stream_type="fine")
    return store


# ------------------------------------------------------------------ event_rate
def test_event_rate_counts_events_per_period_and_type() -> None:
    day = timedelta(days=1)
    frame = ev([("a", 1, "Open", T0), ("a", 2, "Pay", T0 + 3 * day),
                ("b", 3, "Open", T0 + 40 * day), ("b", 4, "Open", T0 + 41 * day)])
    chart = charts.event_rate(frame.lazy(), every="1mo")
    rows = {(r["period"], r["event_type"]): r["events"] for r in data_of(chart)}
    assert rows == {
        ("2024-01-01T00:00:00.000Z", "Open"): 1, ("2024-01-01T00:00:00.000Z", "Pay"): 1,
        ("2024-02-01T00:00:00.000Z", "Open"): 2,
    }
    enc = chart.to_dict()["encoding"]
    assert enc["x"]["field"] == "period" and enc["x"]["scale"] == {"type": "utc"}
    assert enc["color"]["field"] == "event_type"
    total = charts.event_rate(frame, every="1y", by=None)
    assert data_of(total) == [{"period": "2024-01-01T00:00:00.000Z", "events": 4}]


def test_event_rate_keeps_top_types_and_lumps_the_rest(bank: pl.DataFrame) -> None:
    chart = charts.event_rate(bank, every="1mo", top=2)
    rows = data_of(chart)
    assert {r["event_type"] for r in rows} == {"Deposited", "Withdrawn", charts.OTHER}
    assert sum(r["events"] for r in rows) == bank.height
    others = sum(r["events"] for r in rows if r["event_type"] == charts.OTHER)
    assert others == bank.filter(~pl.col("event_type").is_in(["Deposited", "Withdrawn"])).height


def test_event_rate_chooses_a_period_when_every_is_none(bank: pl.DataFrame) -> None:
    rows = data_of(charts.event_rate(bank, every=None))
    periods = {r["period"] for r in rows}
    assert 12 <= len(periods) <= 60  # one year of data: weekly periods
    assert charts.auto_every(T0, T0 + timedelta(days=365)) == "1w"
    assert charts.auto_every(T0, T0 + timedelta(hours=5)) == "10m"
    assert charts.auto_every(None, None) == "1d"


def test_event_rate_rejects_bad_input(bank: pl.DataFrame) -> None:
    with pytest.raises(ValidationError, match="every='fortnight' is not a valid interval"):
        charts.event_rate(bank, every="fortnight")
    with pytest.raises(ValidationError, match="at most 3,000"):
        charts.event_rate(bank, every="1h")  # a year of hours x 5 types
    with pytest.raises(ValidationError, match=r"event_rate has no column 'colour'; available"):
        charts.event_rate(bank, by="colour")
    with pytest.raises(ValidationError, match="Polars DataFrame or LazyFrame"):
        charts.event_rate(bank.to_dicts())  # type: ignore[arg-type]


# ------------------------------------------------------------------ metric_over_time
def timeline(n: int) -> pl.DataFrame:
    at = pl.datetime_range(T0, T0 + timedelta(hours=n - 1), "1h", eager=True, time_zone="UTC")
    return pl.DataFrame({"at": at, "open": pl.int_range(n, eager=True), "paid": [1.5] * n})


def test_metric_over_time_draws_the_series_and_a_rule_at_the_point() -> None:
    frame = timeline(5)
    chart = charts.metric_over_time(frame, "open", at=frame["at"][2])
    spec = chart.to_dict()
    assert data_of(chart, 0) == [
        {"at": f"2024-01-01T0{i}:00:00.000Z", "metric": "open", "value": i} for i in range(5)
    ]
    assert spec["params"] == [{"name": charts.CURSOR, "value": "2024-01-01T02:00:00.000Z"}]
    rule = spec["layer"][1]
    assert rule["mark"]["type"] == "rule"
    assert {"calculate": f"toDate({charts.CURSOR})", "as": "at"} in rule["transform"]
    none = charts.metric_over_time(frame, ["open", "paid"]).to_dict()
    assert none["params"] == [{"name": charts.CURSOR, "value": None}]
    line = none["datasets"][none["layer"][0]["data"]["name"]]
    assert {r["metric"] for r in line} == {"open", "paid"}


def test_metric_over_time_thins_long_series_keeping_both_ends() -> None:
    frame = timeline(20_000)
    rows = data_of(charts.metric_over_time(frame, "open"), 0)
    assert len(rows) == charts.MAX_ROWS - 1  # and the rule's one row
    assert rows[0]["value"] == 0 and rows[-1]["value"] == 19_999
    assert [r["value"] for r in rows] == sorted(r["value"] for r in rows)


def test_metric_over_time_rejects_unknown_columns() -> None:
    with pytest.raises(ValidationError, match=r"\['closed'\] are not in the timeline"):
        charts.metric_over_time(timeline(3), "closed")
    with pytest.raises(ValidationError, match="takes a Polars DataFrame"):
        charts.metric_over_time(timeline(3).lazy(), "open")  # type: ignore[arg-type]


# ------------------------------------------------------------------ dotted chart
def test_dotted_chart_shows_the_streams_that_start_first() -> None:
    frame = ev([("late", 1, "A", T0 + timedelta(days=9)), ("early", 2, "A", T0),
                ("early", 3, "B", T0 + timedelta(days=10)), ("mid", 4, "A", T0 + timedelta(days=5)),
                ("mid", 5, "C", T0 + timedelta(days=6))])
    chart = charts.dotted_chart(frame, max_streams=2)
    rows = data_of(chart)
    assert [(r["stream_id"], r["event_type"]) for r in rows] == [
        ("early", "A"), ("mid", "A"), ("mid", "C"), ("early", "B")
    ]
    assert chart.to_dict()["encoding"]["y"]["sort"] == ["early", "mid"]
    assert "2 of 3 streams" in chart.to_dict()["title"]
    with pytest.raises(ValidationError, match="max_streams"):
        charts.dotted_chart(frame, max_streams=0)


def test_every_chart_embeds_at_most_max_rows_of_a_large_log(bank: pl.DataFrame) -> None:
    one = bank.filter(pl.col("stream_id") == bank["stream_id"][0])
    made = [
        charts.event_rate(bank, every="1d"),
        charts.dotted_chart(bank, max_streams=3_000),
        charts.directly_follows(bank),
        charts.lifeline(one),
        charts.metric_over_time(timeline(50_000), "open"),
    ]
    for chart in made:
        assert 0 < charts.embedded_rows(chart) <= charts.MAX_ROWS
        assert chart.to_dict()  # Altair's own 5,000-row check would raise here


# ------------------------------------------------------------------ diff bars
def test_diff_bars_counts_mismatches_per_column() -> None:
    a = pl.DataFrame({"id": [1, 2, 3, 4], "x": [1, 2, 3, 4], "y": ["a", "b", "c", "d"]})
    b = pl.DataFrame({"id": [1, 2, 3, 5], "x": [1, 9, 9, 5], "y": ["a", "b", "z", "e"]})
    chart = charts.diff_bars(diff_frames(a, b, "id"))
    assert data_of(chart) == [{"column": "x", "mismatches": 2}, {"column": "y", "mismatches": 1}]
    assert chart.to_dict()["title"] == "only in A: 1 · only in B: 1 · changed: 2"
    with pytest.raises(ValidationError, match="takes a Diff"):
        charts.diff_bars(a)  # type: ignore[arg-type]


def test_diff_bars_names_the_read_models_and_ticks_whole_counts() -> None:
    a = pl.DataFrame({"id": [1, 2, 3], "x": [1, 2, 3]})
    b = pl.DataFrame({"id": [1, 2, 3], "x": [1, 9, 9]})
    chart = charts.diff_bars(diff_frames(a, b, "id"), labels=("live", "rebuilt"))
    assert chart.to_dict()["title"] == "only in live: 0 · only in rebuilt: 0 · changed: 2"
    svg = charts.to_svg(chart)
    texts = re.findall(r"<text[^>]*>([^<]*)</text>", svg)
    assert "rows whose value differs between live and rebuilt" in texts
    ticks = [t for t in texts if re.fullmatch(r"[\d.,]+", t)]
    assert ticks == ["0", "1", "2"], texts  # not 0.0, 0.2, ... 2.0


# ------------------------------------------------------------------ directly follows
def test_directly_follows_counts_pairs_within_streams_in_position_order() -> None:
    frame = ev([("s1", 3, "C", T0), ("s1", 1, "A", T0), ("s2", 4, "A", T0), ("s1", 2, "B", T0),
                ("s2", 5, "C", T0), ("s3", 6, "A", T0)])
    counts = charts.follows_counts(frame)
    assert sorted(counts.iter_rows()) == [("A", "B", 1), ("A", "C", 1), ("B", "C", 1)]
    chart = charts.directly_follows(frame)
    assert sorted((r["from"], r["to"], r["count"]) for r in data_of(chart, 0)) == sorted(
        counts.iter_rows())
    assert chart.to_dict()["layer"][0]["mark"]["type"] == "rect"


def test_directly_follows_matches_a_python_walk_of_a_real_log(fines: EventStore) -> None:
    events = fines.scan().collect()
    expected: Counter[tuple[str, str]] = Counter()
    by_stream: dict[str, list[tuple[int, str]]] = {}
    for row in events.iter_rows(named=True):
        by_stream.setdefault(row["stream_id"], []).append((row["position"], row["event_type"]))
    for steps in by_stream.values():
        kinds = [e for _, e in sorted(steps)]
        expected.update(itertools.pairwise(kinds))
    counts = charts.follows_counts(fines.scan(), top=100)
    assert {(f, t): n for f, t, n in counts.iter_rows()} == dict(expected)
    lumped = charts.follows_counts(fines.scan(), top=3)
    assert lumped["count"].sum() == sum(expected.values())
    assert charts.OTHER in lumped["from"].to_list()


# ------------------------------------------------------------------ lifeline
def test_lifeline_draws_one_stream_in_version_order(fines: EventStore) -> None:
    stream = fines.scan(stream_ids=["C13687"]).collect()
    chart = charts.lifeline(stream.reverse())
    dots = data_of(chart, 1)
    assert [d["position"] for d in dots] == sorted(stream["position"].to_list())
    spec = chart.to_dict()
    assert spec["layer"][0]["encoding"]["order"]["field"] == "version"
    assert spec["layer"][1]["encoding"]["y"]["sort"] == [
        "Create Fine", "Send Fine", "Insert Fine Notification", "Add penalty",
        "Send for Credit Collection"]
    with pytest.raises(ValidationError, match="one stream; the events belong to 100 streams"):
        charts.lifeline(fines.scan())


# ------------------------------------------------------------------ offline rendering
def test_to_svg_draws_locally_with_the_rule_and_nothing_to_fetch() -> None:
    frame = timeline(10)
    with_rule = charts.to_svg(charts.metric_over_time(frame, "open", at=frame["at"][4]))
    without = charts.to_svg(charts.metric_over_time(frame, "open"))
    assert with_rule.startswith("<svg") and "<script" not in with_rule
    assert with_rule.count('stroke="#d62728"') == 1 and 'stroke="#d62728"' not in without
    assert_offline(with_rule)


def test_enable_offline_bundles_the_chart_javascript() -> None:
    import altair as alt
    from altair.jupyter.jupyter_chart import load_js_src

    assert fetched_urls(load_js_src()), "the online source imports from a CDN: the check can fail"
    charts.enable_offline()
    widget = alt.JupyterChart(charts.event_rate(ev([("a", 1, "A", T0)]), every="1d"))
    state = widget.get_state()
    assert_offline(state["_esm"] + str(state["spec"]))
    assert alt.renderers.active == "jupyter"
    assert_offline(str(alt.Chart(alt.Data(values=[{"a": 1}])).mark_point()._repr_mimebundle_()))


def test_importing_charts_does_not_import_altair() -> None:
    code = "import sys, eventlab.charts; print('altair' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
