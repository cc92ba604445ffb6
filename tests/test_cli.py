"""The CLI as a user drives it: every command, its --help, exit codes and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from eventlab.cli import build_parser, main
from tests.conftest import ROOT, dataset

SPEC = ROOT / "data" / "fines.toml"
COMMANDS = [
    "init",
    "import",
    "info",
    "compact",
    "verify",
    "state",
    "project",
    "snapshot",
    "diff",
    "demo",
]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def fines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    store = tmp_path / "fines"
    code, _, err = run(
        capsys,
        "import",
        str(store),
        str(dataset("roadtraffic100traces.xes")),
        "--stream-type",
        "fine",
        "--create",
    )
    assert code == 0, err
    return store


def test_every_command_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    for command in COMMANDS:
        with pytest.raises(SystemExit) as done:
            main([command, "--help"])
        assert done.value.code == 0
        assert command in capsys.readouterr().out
    assert set(COMMANDS) <= set(build_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]


def test_console_script_runs_as_a_subprocess(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "eventlab"
    assert exe.exists(), "the eventlab console script is not installed in this environment"
    done = subprocess.run([str(exe), "init", str(tmp_path / "s")], capture_output=True, text=True)
    assert done.returncode == 0 and "created an empty store" in done.stdout
    again = subprocess.run([str(exe), "init", str(tmp_path / "s")], capture_output=True, text=True)
    assert again.returncode == 2
    assert again.stderr.count("\n") == 1 and again.stderr.startswith("eventlab: error:")
    assert "Traceback" not in again.stderr


def test_import_info_json_and_reimport(fines: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "info", str(fines), "--json")
    info = json.loads(out)
    assert code == 0
    assert {
        "events",
        "streams",
        "stream_types",
        "event_types",
        "first_occurred_at",
        "last_occurred_at",
        "files",
        "bytes",
    } <= set(info)
    assert (info["events"], info["streams"]) == (390, 100)
    assert info["event_types"]["Create Fine"] == 100
    code, out, _ = run(
        capsys,
        "import",
        str(fines),
        str(dataset("roadtraffic100traces.xes")),
        "--stream-type",
        "fine",
    )
    assert code == 0 and "imported 0 " in out and "duplicates 390" in out


def test_csv_import_with_a_mapping(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "tickets.csv"
    source.write_text(
        "ticket,what,when,who,prio\nT1,opened,2024-01-01T10:00:00+01:00,ann,1\n"
        "T1,closed,2024-01-02 09:00:00,bob,\nT2,opened,not a date,cy,2\n"
    )
    store = tmp_path / "s"
    code, out, err = run(
        capsys,
        "import",
        str(store),
        str(source),
        "--create",
        "--stream-id",
        "ticket",
        "--event-type",
        "what",
        "--timestamp",
        "when",
        "--actor",
        "who",
        "--stream-type",
        "ticket",
    )
    assert code == 0, err
    assert "read 3 = imported 2 + quarantined 1 + duplicates 0" in out
    assert "_quarantine" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["import", "{store}", "{missing}"], "does not exist"),
        (
            [
                "import",
                "{store}",
                "{csv}",
                "--create",
                "--stream-id",
                "nope",
                "--event-type",
                "what",
                "--timestamp",
                "when",
            ],
            "nope",
        ),
        (
            ["import", "{store}", "{csv}", "--create", "--stream-id", "ticket"],
            "needs --stream-id, --event-type",
        ),
        (["info", "{missing}"], "not an eventlab store"),
        (
            ["state", "{fines}", "--spec", "{spec}", "--projection", "nope", "--out", "{out}"],
            "it defines 'fines'",
        ),
        (
            [
                "state",
                "{fines}",
                "--spec",
                "{spec}",
                "--projection",
                "fines",
                "--at",
                "yesterday",
                "--out",
                "{out}",
            ],
            "not an ISO 8601 timestamp",
        ),
        (["diff", "{missing}", "{missing}", "--key", "k"], "does not exist"),
    ],
)
def test_user_errors_are_one_line_and_exit_2(
    fines: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    csv = tmp_path / "t.csv"
    csv.write_text("ticket,what,when\nT1,opened,2024-01-01\n")
    values = {
        "store": str(tmp_path / "new"),
        "missing": str(tmp_path / "missing.xes"),
        "csv": str(csv),
        "fines": str(fines),
        "spec": str(SPEC),
        "out": str(tmp_path / "o"),
    }
    code, _, err = run(capsys, *[a.format(**values) for a in argv])
    assert code == 2
    assert err.startswith("eventlab: error:") and err.count("\n") == 1
    assert message in err


def test_state_at_points_and_project_incrementally(
    fines: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "state.parquet"
    code, text, _ = run(
        capsys,
        "state",
        str(fines),
        "--spec",
        str(SPEC),
        "--projection",
        "fines",
        "--at",
        "2006-01-01",
        "--out",
        str(out),
    )
    assert code == 0 and "54 keys" in text
    assert pl.read_parquet(out).height == 54
    code, _, _ = run(
        capsys,
        "state",
        str(fines),
        "--spec",
        str(SPEC),
        "--projection",
        "fines",
        "--at-position",
        "10",
        "--known-at",
        "2100-01-01",
        "--out",
        str(out),
    )
    assert code == 0 and pl.read_parquet(out)["events"].sum() == 10
    exports = tmp_path / "exports"
    code, text, _ = run(capsys, "project", str(fines), "--spec", str(SPEC), "--out", str(exports))
    assert code == 0 and "fines: full, folded 390 events, 100 rows" in text
    code, text, _ = run(capsys, "project", str(fines), "--spec", str(SPEC), "--out", str(exports))
    assert code == 0 and "fines: up-to-date" in text


def test_diff_exit_codes(fines: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    for path in (a, b):
        run(
            capsys,
            "state",
            str(fines),
            "--spec",
            str(SPEC),
            "--projection",
            "fines",
            "--out",
            str(path),
        )
    assert run(capsys, "diff", str(a), str(b), "--key", "stream_id")[0] == 0
    frame = pl.read_parquet(b)
    frame.with_columns(
        paid=pl.when(pl.col("stream_id") == frame["stream_id"][0])
        .then(pl.col("paid") + 1)
        .otherwise("paid")
    ).write_parquet(b)
    code, text, _ = run(capsys, "diff", str(a), str(b), "--key", "stream_id")
    assert code == 1 and "changed: 1" in text and "paid: 1 mismatches" in text


def test_compact_and_verify(fines: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, text, _ = run(capsys, "verify", str(fines))
    assert code == 0 and text.startswith("ok: 390 events")
    code, anchor, _ = run(capsys, "verify", str(fines), "--anchor")
    assert code == 0 and len(anchor.strip()) == 64
    assert run(capsys, "compact", str(fines))[0] == 0
    assert run(capsys, "verify", str(fines), "--expect-anchor", anchor.strip())[0] == 0
    victim = next((fines / "events").rglob("*.parquet"))
    victim.write_bytes(victim.read_bytes()[:-20] + b"0" * 20)
    code, text, _ = run(capsys, "verify", str(fines))
    assert code == 1 and "FAILED" in text and victim.name in text


def test_demo_prints_summary_and_where_files_are(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, text, _ = run(capsys, "demo", str(tmp_path / "demo"))
    assert code == 0
    assert "imported 390" in text and str(tmp_path / "demo" / "events") in text
    assert "74 with money outstanding" in text


def test_snapshot_builds_then_prunes_older_positions(
    fines: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ("snapshot", str(fines), "--spec", str(SPEC), "--projection", "fines", "--every", "1y")
    code, out, err = run(capsys, *args)
    assert code == 0, err
    built = int(out.split()[0])
    assert built > 5 and "snapshot(s) of fines every 1y in" in out
    folder = Path(out.strip().rsplit(" in ", 1)[1])
    assert len(list(folder.glob("at-*.parquet"))) == built
    extra = tmp_path / "late.csv"
    extra.write_text("case,activity,time\nA1,Payment,2001-06-01T00:00:00Z\n")
    code, _, err = run(capsys, "import", str(fines), str(extra), "--stream-type", "fine",
                       "--stream-id", "case", "--event-type", "activity", "--timestamp", "time")
    assert code == 0, err
    code, out, err = run(capsys, *args, "--prune")
    assert code == 0, err
    assert f"pruned {built} older snapshot file(s)" in out
    assert len(list(folder.glob("at-*.parquet"))) == built  # only the new position's set
    positions = {p.name.rsplit("-p", 1)[1] for p in folder.glob("at-*.parquet")}
    assert positions == {"000000000391.parquet"}  # 390 events of the log, then the late one


# ---------------------------------------------------------------- import as a shell command
CASE_MAPPING = ("--stream-id", "case", "--event-type", "activity", "--timestamp", "time")


def test_import_never_creates_a_store_from_a_typo(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "log.csv"
    source.write_text("case,activity,time\nc1,a,2024-01-01\n")
    typo = tmp_path / "stroe"
    code, out, err = run(capsys, "import", str(typo), str(source))
    assert code == 2 and out == "" and not typo.exists()
    assert "is not an eventlab store yet" in err and f"eventlab init {typo}" in err
    assert "--create" in err
    code, out, err = run(capsys, "import", str(typo), str(source), "--create")
    assert code == 2 and "Hint: name your columns with --stream-id COLUMN" in err  # CLI words
    assert "ColumnMapping" not in err and not typo.exists()  # nothing read, nothing created
    code, out, err = run(capsys, "import", str(typo), str(source), "--stream-id", "case",
                         "--event-type", "activity", "--timestamp", "time", "--create")
    assert code == 0, err
    assert out.splitlines()[0] == f"created store {typo.resolve()}"
    assert "read 1 = imported 1" in out


def test_import_json_document(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "log.csv"
    source.write_text("case,activity,time\nc1,a,2024-01-01\nc1,b,never\n")
    code, out, err = run(capsys, "import", str(tmp_path / "s"), str(source), "--create", "--json",
                         *CASE_MAPPING)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["command"] == "import" and doc["created"] is True
    assert (doc["read"], doc["imported"], doc["quarantined"], doc["skipped_duplicate"]) == (
        2, 1, 1, 0)
    assert doc["format"] == "csv" and doc["commit"] == 1
    assert Path(doc["quarantine_path"]).is_file()


def test_import_where_every_record_fails_exits_2_with_reasons(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "log.csv"
    source.write_text("case,activity,time\nc1,a,never\nc2,b,\nc3,c,later\n")
    code, out, err = run(capsys, "import", str(tmp_path / "s"), str(source), "--create",
                         *CASE_MAPPING)
    assert code == 2
    assert "read 3 = imported 0 + quarantined 3" in out  # the counts still go to stdout
    assert err.startswith(f"eventlab: error: none of the 3 records of {source} could be imported")
    assert "first reasons: missing timestamp (column 'time') (1); unparseable timestamp" in err
    quarantine = err.rsplit("Every record and its reason: ", 1)[1].strip()
    assert pl.read_parquet(quarantine).height == 3
    # a partial import is not an error
    source.write_text("case,activity,time\nc1,a,2024-01-01\nc2,b,never\n")
    code, out, err = run(capsys, "import", str(tmp_path / "s"), str(source), *CASE_MAPPING)
    assert code == 0 and err == "" and "imported 1 + quarantined 1" in out


def test_mapping_flags_have_help(capsys: pytest.CaptureFixture[str]) -> None:
    from eventlab.cli.importing import MAPPING_FLAGS

    with pytest.raises(SystemExit):
        main(["import", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for flag, words in MAPPING_FLAGS.items():
        assert f"--{flag} " in text and " ".join(words.replace("%%", "%").split()) in text
    assert "'%d/%m/%Y %H:%M'" in text and "``" not in text and ":func:" not in text


def test_import_mapping_options_reach_the_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "log.txt"  # no telling suffix: --format decides
    source.write_text("id,case,kind,what,when,n\n"
                      "e1,c1,ticket,opened,01/03/2024 10:00,1\n"
                      "e2,c1,ticket,closed,02/03/2024 11:30,2\n"
                      "e3,x9,order,placed,02/03/2024 12:00,1\n")
    args = ["import", str(tmp_path / "s"), str(source), "--create", "--format", "csv",
            "--stream-id", "case", "--event-type", "what", "--timestamp", "when",
            "--timestamp-format", "%d/%m/%Y %H:%M", "--tz", "Europe/Amsterdam",
            "--event-id", "id", "--version", "n", "--stream-type-column", "kind"]
    code, out, err = run(capsys, *args)
    assert code == 0 and "read 3 = imported 3" in out, (out, err)
    from eventlab import EventStore

    rows = EventStore.open(tmp_path / "s").scan().sort("position").collect()
    assert rows["event_id"].to_list() == ["e1", "e2", "e3"]
    assert rows["stream_type"].to_list() == ["ticket", "ticket", "order"]
    assert rows["version"].to_list() == [1, 2, 1]
    assert rows["occurred_at"][0].isoformat() == "2024-03-01T09:00:00+00:00"  # CET -> UTC
    code, out, _ = run(capsys, *args)  # the same ids again: all duplicates
    assert code == 0 and "imported 0 + quarantined 0 + duplicates 3" in out
