"""The CLI fits a shell: --version, python -m eventlab, plain --help, one-line errors for hostile
arguments and files (never a traceback), Ctrl-C -> 130, a closed pipe is not an error."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

import eventlab
from eventlab.cli import build_parser, main
from tests.helpers.cli import SPEC, copy_store, one_line_error, run, run_process, shared_fines

RST = re.compile(r"``|:(func|mod|class|meth|attr):|\.\. code-block|^\s*\.\. ", re.MULTILINE)


@pytest.fixture(scope="module")
def fines(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shared_fines(tmp_path_factory)


def commands() -> list[str]:
    action = build_parser()._subparsers._group_actions[0]  # type: ignore[union-attr]
    return sorted(action.choices)  # type: ignore[arg-type]


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    text = capsys.readouterr().out.strip()
    assert text.startswith(f"eventlab {eventlab.__version__} (polars {pl.__version__}")
    shell = run_process("--version")
    assert (shell.returncode, shell.stdout.strip()) == (0, text)


def test_python_dash_m_is_the_same_command(tmp_path: Path) -> None:
    def module(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "eventlab", *argv], capture_output=True,
                              text=True, timeout=120)

    assert module("--version").stdout.startswith(f"eventlab {eventlab.__version__}")
    made = module("init", str(tmp_path / "s"))
    assert made.returncode == 0 and "created an empty store" in made.stdout
    again = module("init", str(tmp_path / "s"))
    assert again.returncode == 2 and one_line_error(again.stderr)


@pytest.mark.parametrize("command", [None, *commands()])
def test_help_is_plain_text(command: str | None, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--help"] if command is None else [command, "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    assert not RST.search(text), f"RST markup in --help of {command}: {RST.search(text)}"
    if command is None:
        assert "exit codes" in text and "docs/cli.md" in text


@pytest.mark.parametrize(
    "command",
    ["state", "project", "diff", "history", "timeline", "changes", "what-if", "verify-export",
     "info", "verify"],
)
def test_json_commands_state_their_schema_in_help(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--json" in text and f'"command": "{command}", "schema_version": 1' in text


# --------------------------------------------------------------------------- one-line errors
def hostile_cases(fines: Path, tmp: Path) -> list[tuple[list[str], str]]:
    plain = tmp / "plain.txt"
    plain.write_text("not a store\n")
    spec = tmp / "specs"
    spec.mkdir(exist_ok=True)
    deep = spec / "deep.toml"
    deep.write_text(f'[projections.p]\nfields = {{ n = {{ reducer = "count" }} }}\n'
                    f'derived = {{ d = "{"-" * 200}n" }}\n')
    typed = spec / "typed.toml"
    typed.write_text('[projections.p]\nfields = { n = { reducer = "count" } }\n'
                     'derived = { d = "n + \'text\'" }\n')
    where = spec / "where.toml"
    where.write_text('[projections.p]\nwhere = "event_type > 5"\n'
                     'fields = { n = { reducer = "count" } }\n')
    listed = spec / "listed.toml"
    listed.write_text('[projections.p]\nwhere = "event_type in [\'Payment\', amount]"\n'
                      'fields = { n = { reducer = "count" } }\n')
    state = ["state", str(fines), "--spec", str(SPEC), "--projection", "fines"]
    return [
        ([*state, "--at", "9999-12-31T23:59:59-05:00"], "outside the years 0001-9999"),
        ([*state, "--known-at", "0001-01-01T00:00:00+01:00"], "outside the years 0001-9999"),
        ([*state, "--out", "/dev/null/x.parquet"], "/dev/null is a file"),
        ([*state, "--out", str(tmp / "x.xlsx")], "suffix must be one of"),
        (["info", str(plain)], "it is a file, not a folder"),
        (["state", str(plain), "--spec", str(SPEC), "--projection", "fines"], "it is a file"),
        (["compact", str(plain)], "it is a file"),
        (["history", str(tmp / "nowhere"), "--spec", str(SPEC), "--projection", "f"],
         "no such folder"),
        (["init", str(plain)], "Not a directory"),
        (["state", str(fines), "--spec", "/dev/zero", "--projection", "p"], "not a regular file"),
        (["state", str(fines), "--spec", str(deep), "--projection", "p"], "nested more than"),
        (["state", str(fines), "--spec", str(typed), "--projection", "p"], "Polars could not"),
        (["state", str(fines), "--spec", str(where), "--projection", "p"], "Polars could not"),
        (["state", str(fines), "--spec", str(listed), "--projection", "p"], "only literal"),
        (["project", str(fines), "--spec", str(SPEC), "--out", str(plain)], "is a file"),
        (["diff", str(plain), str(plain), "--key", "k"], "cannot read"),
        (["verify-export", str(plain), str(fines)], "not a readable Parquet file"),
        (["timeline", str(fines), "--spec", str(SPEC), "--projection", "fines", "--every", "1s"],
         "--force"),
        (["snapshot", str(fines), "--spec", str(SPEC), "--projection", "fines", "--every",
          "1h"], "--force"),
        (["what-if", str(fines), "no.such.module:decider"], "no module"),
        (["what-if", str(fines), "os:path"], "not a Decider"),
        (["what-if", str(fines), "eventlab.examples.orders:order_decider", "--source", "events"],
         "has no AS_COMMANDS"),
        (["init", str(fines)], "already an eventlab store"),
    ]


def test_hostile_arguments_fail_in_one_line(
    fines: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for argv, message in hostile_cases(fines, tmp_path):
        code, _, err = run(capsys, *argv)
        assert code == 2 and one_line_error(err), (argv, err)
        assert message in err, (argv, err)


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--at-position", "-1"), ("--at-position", "x"), ("--lock-timeout", "nan"),
     ("--lock-timeout", "inf"), ("--lock-timeout", "-1")],
)
def test_bad_numbers_are_usage_errors(
    fines: Path, flag: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as done:
        main(["state", str(fines), "--spec", str(SPEC), "--projection", "fines", flag, value])
    err = capsys.readouterr().err
    assert done.value.code == 2 and f"argument {flag}:" in err and "Traceback" not in err


def test_spec_from_a_device_fails_at_once(fines: Path) -> None:
    started = time.monotonic()
    done = run_process("state", fines, "--spec", "/dev/zero", "--projection", "p", timeout=60)
    assert done.returncode == 2 and one_line_error(done.stderr)
    assert time.monotonic() - started < 60


def test_garbage_in_the_command_journal(
    fines: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = copy_store(fines, tmp_path / "store")
    journal = store / "_commands"
    journal.mkdir()
    (journal / "j-00000000000000000001-aaaaaaaaaaaa.parquet").write_bytes(b"")
    (journal / "j-00000000000000000002-bbbbbbbbbbbb.parquet").write_bytes(b"PAR1 garbage")
    code, _, err = run(capsys, "compact", store)
    assert code == 2 and one_line_error(err) and "is not a journal file" in err
    assert len(list(journal.iterdir())) == 2  # nothing merged away or removed


def test_an_unexpected_failure_is_one_line_and_debug_shows_the_traceback(
    fines: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from eventlab.cli import store as store_commands

    def broken(_: object) -> int:
        raise KeyError("boom")

    monkeypatch.setattr(store_commands, "compute_info", broken, raising=False)
    monkeypatch.setattr("eventlab.store.info.compute_info", broken)
    code, _, err = run(capsys, "info", fines)
    assert code == 2 and one_line_error(err)
    assert "unexpected KeyError" in err and "EVENTLAB_DEBUG=1" in err
    monkeypatch.setenv("EVENTLAB_DEBUG", "1")
    with pytest.raises(KeyError):
        main(["info", str(fines)])


# --------------------------------------------------------------------------- signals and pipes
@pytest.mark.skipif(not hasattr(signal, "SIGINT"), reason="needs POSIX signals")
def test_ctrl_c_exits_130_without_a_traceback(fines: Path, tmp_path: Path) -> None:
    from eventlab.storage.lock import writer_lock

    store = copy_store(fines, tmp_path / "store")
    exe = Path(sys.executable).parent / "eventlab"
    with writer_lock(store, timeout=5):  # the CLI below waits for this lock
        child = subprocess.Popen(
            [str(exe), "compact", str(store), "--lock-timeout", "120"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        assert child.stderr is not None
        notice = child.stderr.readline()  # said once, just before it starts to wait
        assert notice.startswith("eventlab: waiting up to 120 s for the writer lock"), notice
        assert "Ctrl-C stops" in notice and f"pid {os.getpid()}" in notice
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=60)
    assert child.returncode == 130, (out, err)
    assert err == "eventlab: interrupted\n"


def test_a_closed_pipe_is_not_a_traceback(fines: Path) -> None:
    exe = Path(sys.executable).parent / "eventlab"
    with subprocess.Popen(
        [str(exe), "history", str(fines), "--spec", str(SPEC), "--projection", "fines", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    ) as child:
        assert child.stdout is not None and child.stderr is not None
        assert child.stdout.read(10) == b'{\n  "comma'
        child.stdout.close()  # like `| head -c 10`
        err = child.stderr.read().decode()
        assert child.wait(timeout=120) in (0, 141)
    assert "Traceback" not in err and "Exception ignored" not in err
