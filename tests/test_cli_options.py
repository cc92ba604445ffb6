"""Every CLI option is exercised by some test, and each of these checks what the option does
(not only that the command ran)."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import polars as pl
import pytest

from eventlab import EventStore, ReadModel
from eventlab.cli import _plan, build_parser
from eventlab.examples import generate_bank_events
from tests.helpers.cli import ROOT, SPEC, copy_store, one_line_error, run, shared_fines

#: commands whose options are exempt (none)
NOT_HERE: set[str] = set()


@pytest.fixture(scope="module")
def fines(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shared_fines(tmp_path_factory)


def options() -> list[tuple[str, str]]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    found = []
    for name, command in sub.choices.items():
        for action in command._actions:
            found += [(name, o) for o in action.option_strings if o.startswith("--")
                      and o != "--help"]
    return found


def test_every_option_of_every_command_is_used_by_a_test() -> None:
    sources = {p.name: p.read_text() for p in (ROOT / "tests").glob("test_*.py")}
    common = {"--lock-timeout", "--progress", "--no-progress"}  # the same on every command
    missing = [
        (command, option) for command, option in options()
        if command not in NOT_HERE and not any(
            f'"{option}"' in text and (option in common or f'"{command}"' in text)
            for text in sources.values()
        )
    ]
    assert not missing, f"options no test uses: {missing}"


def test_verify_json(fines: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "verify", fines, "--json")
    doc = json.loads(out)
    assert code == 0 and doc["ok"] is True and doc["findings"] == []
    assert len(doc["head_hash"]) == 64


def test_project_projection_partition_by_and_full(
    fines: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "two.toml"
    spec.write_text(SPEC.read_text() + '\n[projections.kinds]\nstream_types = ["fine"]\n'
                    'key = "event_type"\n[projections.kinds.fields]\nn = { reducer = "count" }\n')
    out = tmp_path / "exports"
    code, text, err = run(capsys, "project", fines, "--spec", spec, "--out", out,
                          "--projection", "kinds", "--partition-by", "event_type")
    assert code == 0, err
    assert "kinds: full" in text and "fines" not in text  # --projection: only that one
    folders = sorted(p.name for p in (out / "kinds").iterdir())
    kinds = EventStore.open(fines).info().event_types
    assert folders == sorted(f"event_type={k.replace(' ', '%20')}" for k in kinds)
    assert ReadModel.open(out / "kinds").read()["n"].sum() == 390
    code, text, _ = run(capsys, "project", fines, "--spec", spec, "--out", out,
                        "--projection", "kinds", "--partition-by", "event_type")
    assert "kinds: up-to-date" in text
    code, text, _ = run(capsys, "project", fines, "--spec", spec, "--out", out,
                        "--projection", "kinds", "--partition-by", "event_type", "--full")
    assert "kinds: full, folded 390 events" in text
    code, _, err = run(capsys, "project", fines, "--spec", spec, "--out", out,
                       "--projection", "nope")
    assert code == 2 and one_line_error(err) and "defines no projection 'nope'" in err


def test_diff_tolerance_and_show(
    fines: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    state = EventStore.open(fines).project(SPEC, name="fines").state()
    state.write_parquet(a)
    state.with_columns(paid=pl.col("paid") + 0.004).write_parquet(b)
    code, text, _ = run(capsys, "diff", a, b, "--key", "stream_id", "--show", "2")
    assert code == 1 and "changed: 100" in text and "shape: (2," in text
    code, text, _ = run(capsys, "diff", a, b, "--key", "stream_id", "--tolerance", "0.01")
    assert code == 0 and "changed: 0" in text
    code, text, _ = run(capsys, "diff", a, b, "--key", "stream_id", "--tolerance", "0.001",
                        "--show", "0", "--json")
    doc = json.loads(text)
    assert code == 1 and doc["mismatches"] == {"paid": 100} and doc["rows"]["changed"] == []


def test_diff_csv_with_datetimes_against_parquet(
    fines: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 10.6: a CSV with a datetime column against the Parquet read model."""
    model = tmp_path / "model.parquet"
    state = EventStore.open(fines).project(SPEC, name="fines").state()
    state.write_parquet(model)
    csv = tmp_path / "model.csv"
    state.write_csv(csv)  # Polars' own CSV: opened_at as 2007-03-18T23:00:00.000000+0000
    assert "opened_at" in pl.read_csv(csv, try_parse_dates=False).columns
    for left, right in ((csv, model), (model, csv), (csv, csv)):
        code, text, err = run(capsys, "diff", left, right, "--key", "stream_id")
        assert (code, err) == (0, "") and "changed: 0" in text
    edited = tmp_path / "edited.csv"
    edited.write_text(csv.read_text().replace("2007-03-18T23:00:00.000000+0000",
                                              "2007-03-19T00:00:00.000000+0100"))
    assert run(capsys, "diff", edited, model, "--key", "stream_id")[0] == 0  # same instant
    edited.write_text(csv.read_text().replace("2007-03-18T23:00:00", "2007-03-18T23:00:01"))
    code, text, _ = run(capsys, "diff", edited, model, "--key", "stream_id")
    assert code == 1 and "opened_at: 1 mismatches" in text


def test_lock_timeout(fines: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from eventlab.storage.lock import writer_lock

    store = copy_store(fines, tmp_path / "store")
    with writer_lock(store, timeout=5):
        code, _, err = run(capsys, "compact", store, "--lock-timeout", "0.3")
    assert code == 2 and one_line_error(err) and "another writer holds the lock" in err
    assert "waited 0." in err
    code, _, err = run(capsys, "compact", store, "--lock-timeout", "0")
    assert code == 0, err


def test_progress_flags(fines: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ("state", fines, "--spec", SPEC, "--projection", "fines", "--show", "0")
    code, _, err = run(capsys, *args, "--progress")
    assert code == 0 and "folding fines" in err
    code, _, err = run(capsys, *args, "--no-progress")
    assert code == 0 and err == ""


def test_changes_show(fines: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, text, _ = run(capsys, "changes", fines, "--spec", SPEC, "--projection", "fines",
                        "--from", "2006-01-01", "--to", "2007-01-01", "--show", "2")
    assert code == 0 and "changed 6" in text and "shape: (2, 5)" in text


def test_state_show_and_history_key(fines: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, text, _ = run(capsys, "state", fines, "--spec", SPEC, "--projection", "fines",
                        "--show", "3")
    assert code == 0 and text.startswith("fines: 100 keys\n") and "shape: (3, 12)" in text
    code, text, _ = run(capsys, "history", fines, "--spec", SPEC, "--projection", "fines",
                        "--key", "A10466", "--key", "A182")
    assert code == 0 and text.startswith("fines: 10 rows")


def test_timeline_points_start_end_and_force(
    fines: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    base = ("timeline", fines, "--spec", SPEC, "--projection", "fines", "--key", "A10466")
    out = tmp_path / "t.parquet"
    code, _, err = run(capsys, *base, "--every", "1y", "--start", "2007-01-01", "--end",
                       "2010-01-01", "--out", out)
    assert code == 0, err
    table = pl.read_parquet(out)
    assert table["at"].dt.year().to_list() == [2008, 2009, 2010]  # from its first event on
    view = EventStore.open(fines).project(SPEC, name="fines")
    assert table.equals(view.timeline(every="1y", start="2007-01-01", end="2010-01-01",
                                      keys=["A10466"]))
    code, _, err = run(capsys, *base, "--every", "1d", "--point", "2008-01-01")
    assert code == 2 and "not both" in err
    monkeypatch.setattr(_plan, "MAX_POINTS", 3)
    code, _, err = run(capsys, *base, "--every", "1y", "--start", "2007-01-01", "--end",
                       "2010-01-01")
    assert code == 2 and "--force" in err
    code, text, _ = run(capsys, *base, "--every", "1y", "--start", "2007-01-01", "--end",
                        "2010-01-01", "--force")
    assert code == 0 and text.startswith("fines: ")


def test_snapshot_plan_asks_for_force_and_shows_progress(
    fines: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = copy_store(fines, tmp_path / "store")
    args = ("snapshot", store, "--spec", SPEC, "--projection", "fines", "--every", "1y")
    monkeypatch.setattr(_plan, "MAX_SNAPSHOTS", 5)  # the fines span 13 years: 14 checkpoints
    code, _, err = run(capsys, *args)
    assert code == 2 and one_line_error(err) and "about 15 snapshot files" in err
    assert not (store / "_snapshots").exists()
    code, out, err = run(capsys, *args, "--force")
    assert code == 0 and "snapshot(s) of fines" in out
    assert "snapshots of fines" in err  # the progress bar
    built = int(out.split()[0])
    assert len(list((store / "_snapshots").rglob("at-*.parquet"))) == built > 5


def bank_store(folder: Path) -> Path:
    store = EventStore.create(folder)
    store.append(generate_bank_events(300, 20, seed=3))
    return folder


def test_what_if_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from eventlab.examples.bank_domain import AS_COMMANDS, bank_decider
    from eventlab.write import what_if

    store = bank_store(tmp_path / "bank")
    decider = "eventlab.examples.bank_domain:bank_decider"
    expected = what_if(EventStore.open(store), bank_decider(overdraft_limit=0.0), source="events",
                       as_commands=AS_COMMANDS)
    out = tmp_path / "decisions.parquet"
    code, text, err = run(capsys, "what-if", store, decider, "--option", "overdraft_limit=0",
                          "--source", "events", "--label", "no overdraft", "--json")
    assert code == 0, err
    doc = json.loads(text)
    assert doc["label"] == "no overdraft" and doc["commands"] == 300
    assert doc["summary"] == expected.summary()
    assert doc["changed"] == expected.changed.height > 0
    pairs = [a for event, command in AS_COMMANDS.items() for a in ("--as-command",
                                                                   f"{event}={command}")]
    code, text, err = run(capsys, "what-if", store, decider, "--option", "overdraft_limit=0",
                          "--source", "events", *pairs, "--out", out, "--show", "1")
    assert code == 0, err
    assert pl.read_parquet(out).height == 300 and f"{expected.changed.height:,} decisions" in text
    code, text, _ = run(capsys, "what-if", store, decider, "--source", "events", "--baseline",
                        decider)
    assert code == 0 and "0 decisions differ" in text
    code, _, err = run(capsys, "what-if", store, decider, "--option", "overdraft_limit",
                       "--source", "events")
    assert code == 2 and "KEY=VALUE" in err


def test_help_epilogs_name_no_option_that_does_not_exist() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, command in sub.choices.items():
        known = {o for a in command._actions for o in a.option_strings}
        named = set(re.findall(r"(?<![\w-])--[a-z][a-z-]+", command.epilog or ""))
        assert named <= known, (name, named - known)


def test_declare_personal_subject(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from eventlab.storage.privacy.config import load_config

    root = EventStore.create(tmp_path / "store").root
    code, out, err = run(capsys, "declare-personal", root, "--stream-type", "customer",
                         "--column", "email", "--subject", "customer_no")
    assert code == 0, err
    assert "encrypted per 'customer_no'" in out
    declared = load_config(root).personal["customer"]
    assert (declared.columns, declared.subject) == (("email",), "customer_no")
    code, _, err = run(capsys, "declare-personal", root, "--stream-type", "customer",
                       "--column", "email", "--subject", "email")
    assert code == 2 and one_line_error(err) and "cannot be personal itself" in err


@pytest.mark.parametrize("command", ["variants", "flow", "durations"])
def test_process_commands_rows(
    fines: Path, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    def printed(rows: str) -> int:
        code, out, err = run(capsys, command, fines, "--rows", rows)
        assert code == 0 and "shape: (" in out, err
        lines = [line for line in out.splitlines() if line.startswith("│ ")]
        return len(lines) - 3  # the header is name, ---, dtype

    assert printed("3") == 4  # 3 rows and the "…" line
    assert printed("6") > 4  # more asked, more printed
