"""--json and --out of the projection and temporal commands: the documented schema (docs/cli.md)
and the library's answers, byte for byte."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from eventlab import EventStore
from eventlab.cli._output import records
from tests.helpers.cli import ROOT, SPEC, run, shared_fines

DOCS = ROOT / "docs" / "cli.md"


@pytest.fixture(scope="module")
def fines(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shared_fines(tmp_path_factory)


def documented() -> dict[str, dict[str, Any]]:
    """The JSON example under each ``### `eventlab <command> ...``` heading of docs/cli.md."""
    examples: dict[str, dict[str, Any]] = {}
    for section in re.split(r"^### ", DOCS.read_text(), flags=re.MULTILINE)[1:]:
        command = section.split()[1].strip("`")
        found = re.search(r"```json\n(.*?)```", section, flags=re.DOTALL)
        assert found, f"docs/cli.md: no JSON example for {command}"
        examples[command] = json.loads(found.group(1))
    return examples


def same_shape(actual: dict[str, Any], example: dict[str, Any], where: str = "") -> None:
    """Same keys at the top and in nested objects (rows differ by projection: not compared)."""
    assert list(actual) == list(example), f"{where or 'top'}: {list(actual)} != {list(example)}"
    for key, value in example.items():
        if isinstance(value, dict) and key not in ("summary", "mismatches", "stream_types",
                                                   "event_types"):
            same_shape(actual[key], value, f"{where}.{key}")
        if key in ("read_models", "findings") and value and actual[key]:
            same_shape(actual[key][0], value[0], f"{where}.{key}[0]")


def as_json(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, dict[str, Any]]:
    code, out, err = run(capsys, *map(str, argv), "--json")
    assert code in (0, 1), err
    return code, json.loads(out)


def projection_args(fines: Path) -> list[object]:
    return [fines, "--spec", SPEC, "--projection", "fines"]


def test_every_documented_command_prints_its_documented_shape(
    fines: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    examples = documented()
    assert set(examples) >= {"state", "history", "timeline", "changes", "what-if", "project",
                             "verify-export", "diff", "info", "verify", "import"}
    base = projection_args(fines)
    exports = tmp_path / "exports"
    outputs = {
        "state": as_json(capsys, "state", *base, "--at", "2006-01-01")[1],
        "history": as_json(capsys, "history", *base, "--key", "A10466")[1],
        "timeline": as_json(capsys, "timeline", *base, "--every", "1y")[1],
        "changes": as_json(capsys, "changes", *base, "--from", "2006-01-01", "--to",
                           "2007-01-01")[1],
        "project": as_json(capsys, "project", fines, "--spec", SPEC, "--out", exports)[1],
    }
    outputs["verify-export"] = as_json(capsys, "verify-export", exports / "fines.parquet",
                                       fines)[1]
    outputs["diff"] = as_json(capsys, "diff", exports / "fines.parquet",
                              exports / "fines.parquet", "--key", "stream_id")[1]
    outputs["info"] = as_json(capsys, "info", fines)[1]
    log = tmp_path / "log.csv"
    log.write_text("case,activity,time\nc1,a,2024-01-01\nc1,b,never\n")
    outputs["import"] = as_json(capsys, "import", tmp_path / "new", log, "--create", "--stream-id",
                                "case", "--event-type", "activity", "--timestamp", "time")[1]
    outputs["verify"] = as_json(capsys, "verify", fines)[1]
    for command, output in outputs.items():
        assert output["command"] == command and output["schema_version"] == 1
        same_shape(output, examples[command], command)


def test_state_json_and_out_formats_hold_the_librarys_rows(
    fines: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    expected = EventStore.open(fines).project(SPEC, name="fines").state(at="2006-01-01")
    _, doc = as_json(capsys, "state", *projection_args(fines), "--at", "2006-01-01")
    assert doc["rows"] == expected.height == 54
    assert doc["data"] == records(expected)
    assert doc["point"] == {"at": "2006-01-01T00:00:00+00:00", "known_at": None,
                            "at_position": None, "position": 390}
    for suffix in ("parquet", "csv", "json", "jsonl", ""):
        out = tmp_path / (f"state.{suffix}" if suffix else "state")
        code, _, err = run(capsys, "state", *projection_args(fines), "--at", "2006-01-01",
                           "--out", out)
        assert code == 0 and out.exists(), err
        code, text, _ = run(capsys, "diff", out, tmp_path / "state.parquet", "--key", "stream_id")
        assert code == 0 and "changed: 0" in text, (suffix, text)
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temporary files


def test_history_timeline_changes_agree_with_the_library(
    fines: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    view = EventStore.open(fines).project(SPEC, name="fines")
    _, history = as_json(capsys, "history", *projection_args(fines), "--key", "A10466",
                         "--at-position", "300")
    assert history["data"] == records(view.history(keys=["A10466"], at_position=300))
    assert history["point"]["position"] == 300 and history["keys"] == ["A10466"]
    _, timeline = as_json(capsys, "timeline", *projection_args(fines), "--point", "2003-01-01",
                          "--point", "2006-01-01")
    expected = view.timeline(points=["2003-01-01", "2006-01-01"])
    assert timeline["data"] == records(expected) and timeline["every"] is None
    assert timeline["points"] == 2 and timeline["rows"] == expected.height
    _, changes = as_json(capsys, "changes", *projection_args(fines), "--axis", "at_position",
                         "--from", "10", "--to", "20", "--at", "2007-01-01")
    library = view.changes(10, 20, axis="at_position", at="2007-01-01")
    assert {k: changes[k] for k in ("added", "removed", "changed")} == library.summary()
    assert changes["data"]["changed"] == records(library.long())
    assert changes["point"]["at"] == "2007-01-01T00:00:00+00:00"


def test_changes_out_is_one_row_per_change(
    fines: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "changes.csv"
    code, text, err = run(capsys, "changes", *projection_args(fines), "--from", "2006-01-01",
                          "--to", "2007-01-01", "--out", out)
    assert code == 0, err
    assert "added 9, removed 0, changed 6" in text
    table = pl.read_csv(out)
    assert table.columns == ["stream_id", "change", "field", "before", "after"]
    assert table.filter(pl.col("change") == "added").height == 9
    changed = table.filter(pl.col("change") == "changed")
    assert changed.select("stream_id").n_unique() == 6
    row = changed.filter(pl.col("stream_id") == "N58044", pl.col("field") == "events")
    assert row.rows() == [("N58044", "changed", "events", "4", "5")]


def test_changes_refuses_holding_the_axis_it_moves_along(
    fines: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "changes", *projection_args(fines), "--from", "2006-01-01",
                       "--to", "2007-01-01", "--at", "2006-06-01")
    assert code == 2 and "--at=" in err and "axis" in err
    code, _, err = run(capsys, "changes", *projection_args(fines), "--axis", "at_position",
                       "--from", "ten", "--to", "20")
    assert code == 2 and "--from" in err
