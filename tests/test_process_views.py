"""Seeing eventlab.process: chart builders (checked through to_dict() and the DOT source), the
ProcessScrubber widget (driven by setting its controls) and the variants/flow/durations CLI."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from eventlab import EventStore
from eventlab import process as pm
from eventlab.charts import embedded_rows
from eventlab.charts import process as pc
from eventlab.errors import InvalidArgumentError, OptionalDependencyError
from eventlab.importers import import_file
from eventlab.widgets import ProcessScrubber
from tests.conftest import ROOT

STATUS = {"Create Fine": "open", "Send Fine": "sent", "Add penalty": "penalised",
          "Payment": "paid", "Send for Credit Collection": "collection"}


@pytest.fixture(scope="module")
def fines(tmp_path_factory: pytest.TempPathFactory) -> EventStore:
    store = EventStore.create(tmp_path_factory.mktemp("process-views") / "fines")
    import_file(store, ROOT / "data" / "roadtraffic100traces.xes", stream_type="fine")
    return store


@pytest.fixture(scope="module")
def dfg(fines: EventStore) -> pl.DataFrame:
    return pm.directly_follows(fines)


def spec_rows(chart: Any) -> list[dict[str, Any]]:
    spec = chart.to_dict()
    (rows,) = spec["datasets"].values()
    return list(rows)


# ----------------------------------------------------------------- charts
def test_dot_source_has_every_edge_with_its_count_and_median(dfg: pl.DataFrame) -> None:
    source = pc.process_dot(dfg).source
    edge = re.compile(r'^\t("?)(.+?)\1 -> ("?)(.+?)\3 \[label="?([\d,]+)', re.M)
    drawn = {(m[1], m[3]): int(m[4].replace(",", "")) for m in edge.findall(source)}
    assert drawn == {(a, b): n for a, b, n in dfg.select("source", "target", "count").rows()}
    create_send = dfg.filter((pl.col("source") == "Create Fine")
                             & (pl.col("target") == "Send Fine")).row(0, named=True)
    hours = create_send["median_duration"] / timedelta(hours=1)
    assert f'label="{create_send["count"]:,}\n{hours:,.1f} h"' in source
    top = pc.process_dot(dfg, top=3).source
    assert top.count(" -> ") == 3


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_svg_is_drawn_offline(dfg: pl.DataFrame) -> None:
    svg = pc.process_svg(dfg, top=10)
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg and "Create Fine" in svg


def test_without_dot_the_svg_names_the_install(
    dfg: pl.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(OptionalDependencyError, match="apt-get install graphviz"):
        pc.process_svg(dfg)


def test_matrix_embeds_one_row_per_edge_with_hours(dfg: pl.DataFrame) -> None:
    chart = pc.follows_matrix(dfg, metric="median_duration")
    rows = spec_rows(chart)
    assert len(rows) == dfg.height == embedded_rows(chart)
    assert sum(r["count"] for r in rows) == dfg["count"].sum()
    assert chart.to_dict()["layer"][0]["encoding"]["color"]["field"] == "median_hours"
    assert pc.process_map(dfg, backend="altair").to_dict()["layer"][0]["mark"]["type"] == "rect"
    assert hasattr(pc.process_map(dfg, backend="graphviz"), "source")
    with pytest.raises(InvalidArgumentError, match="metric is one of"):
        pc.follows_matrix(dfg, metric="speed")
    with pytest.raises(InvalidArgumentError, match="backend"):
        pc.process_map(dfg, backend="plotly")
    with pytest.raises(InvalidArgumentError, match="directly_follows"):
        pc.follows_matrix(pl.DataFrame({"a": [1]}))


def test_variants_chart_and_box_plots(fines: EventStore) -> None:
    variants = pm.variants(fines, top=5)
    rows = spec_rows(pc.variants_chart(variants))
    assert [r["streams"] for r in rows] == variants["streams"].to_list()
    assert rows[-1]["label"] == "(other variants)"
    per_stream = pm.time_in_state(fines, status=STATUS)
    stats = {r["status"]: r for r in spec_rows(pc.time_in_state_chart(per_stream))}
    assert set(stats) == set(per_stream["status"])
    paid = per_stream.filter(pl.col("status") == "sent")["time"].dt.total_microseconds() / 36e8
    assert stats["sent"]["streams"] == paid.len()
    assert abs(stats["sent"]["median"] - paid.median()) < 1e-9  # type: ignore[operator]
    assert stats["sent"]["low"] >= paid.min() and stats["sent"]["high"] <= paid.max()  # type: ignore[operator]


# ----------------------------------------------------------------- widget
def test_process_scrubber_shows_the_process_up_to_each_point(fines: EventStore) -> None:
    scrubber = ProcessScrubber(fines, step="year", backend="altair")
    last = scrubber.slider.max
    assert scrubber.dfg.equals(pm.directly_follows(fines))
    assert scrubber.numbers["events"] == fines.head
    scrubber.slider.value = 3
    at = scrubber.points[3]
    assert scrubber.dfg.equals(pm.directly_follows(fines, at=at))
    assert scrubber.variants.equals(pm.variants(fines, at=at, top=10))
    expected = fines.scan(at=at).select(pl.len()).collect().item()
    assert scrubber.numbers["events"] == expected
    rows = spec_rows(scrubber.chart.chart)
    assert sum(r["count"] for r in rows) == scrubber.dfg.head(40)["count"].sum()
    scrubber.play.value = last
    assert scrubber.slider.value == last and scrubber.numbers["events"] == fines.head


def test_process_scrubber_known_at_rereads_what_was_known(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    times = iter([t0 + timedelta(days=100), t0 + timedelta(days=200)])
    store = EventStore.create(tmp_path / "s", clock=lambda: next(times))
    store.append(pl.DataFrame({"stream_id": ["a", "a"], "event_type": ["Open", "Close"],
                               "occurred_at": [t0, t0 + timedelta(days=9)]}), stream_type="c")
    store.append(pl.DataFrame({"stream_id": ["a"], "event_type": ["Review"],
                               "occurred_at": [t0 + timedelta(days=3)]}), stream_type="c")
    scrubber = ProcessScrubber(store, step="day", backend="altair")
    assert scrubber.variants["variant"].to_list() == [["Open", "Review", "Close"]]
    scrubber.known.value = 0
    assert scrubber.variants["variant"].to_list() == [["Open", "Close"]]
    assert scrubber.process_log.position == 2


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_process_scrubber_draws_svg_with_graphviz(fines: EventStore) -> None:
    scrubber = ProcessScrubber(fines, step="year", backend="graphviz", edges=5)
    assert scrubber.chart is None and "<svg" in scrubber.map_html.value
    before = scrubber.map_html.value
    scrubber.slider.value = 1
    assert scrubber.map_html.value != before


# ----------------------------------------------------------------- CLI
def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "eventlab", *args], capture_output=True,
                          text=True, timeout=120, check=False)


def test_cli_variants_flow_durations(fines: EventStore, tmp_path: Path) -> None:
    root = str(fines.root)
    done = cli("variants", root, "--stream-type", "fine", "--json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert [r["streams"] for r in rows] == pm.variants(fines)["streams"].to_list()
    done = cli("flow", root, "--at", "2006-01-01", "--out", str(tmp_path / "flow.csv"))
    assert done.returncode == 0, done.stderr
    flow = pl.read_csv(tmp_path / "flow.csv")
    assert flow["count"].to_list() == pm.directly_follows(fines, at="2006-01-01")["count"]\
        .to_list()
    done = cli("flow", root, "--out", str(tmp_path / "map.dot"), "--top", "4")
    assert done.returncode == 0 and (tmp_path / "map.dot").read_text().count(" -> ") == 4
    done = cli("durations", root, "--at", "2006-01-01", "--out", str(tmp_path / "d.parquet"))
    assert done.returncode == 0, done.stderr
    assert pl.read_parquet(tmp_path / "d.parquet").equals(pm.durations(fines, at="2006-01-01"))
    done = cli("durations", root, "--known-at", "2000-01-01")
    assert done.returncode == 0 and "shape: (0, 7)" in done.stdout


def test_cli_user_errors_are_one_line(fines: EventStore, tmp_path: Path) -> None:
    for args in (["variants", str(fines.root), "--at", "soon"],
                 ["durations", str(fines.root), "--out", str(tmp_path / "x.txt")],
                 ["flow", str(tmp_path / "missing")]):
        done = cli(*args)
        assert done.returncode == 2 and done.stderr.startswith("eventlab: error: "), done.stderr
        assert "Traceback" not in done.stderr
