"""The CLI under hostile argument lists and small hostile files (property-based).

Hypothesis draws a command, then positional arguments and options from pools that mix valid
values with hostile ones: paths to empty, garbage and wrong-format files, a file where a
folder belongs, devices, NUL bytes, huge and negative numbers, NaN, times past the calendar's
ends, malformed intervals and module paths, and generated spec files with hostile expressions.
Whatever the input: the exit code is 0, 1 or 2, nothing escapes ``main`` (no traceback), and an
error is one ``eventlab: error:`` line (or argparse's usage + error).

``--force`` is never drawn: with it, a tiny interval legitimately runs for hours. Runs in a
scratch folder (``demo`` without STORE writes ./demo-store). CI (``CI=true``) replays a fixed
sequence of inputs; local runs explore new ones every time.
"""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from eventlab.cli import build_parser, main
from tests.helpers.cli import SPEC, copy_store, shared_fines

SETTINGS = settings(
    max_examples=int(os.environ.get("EVENTLAB_CLI_FUZZ_EXAMPLES", "30")), deadline=None,
    database=None, phases=[Phase.explicit, Phase.generate],
    derandomize=os.environ.get("CI") == "true",
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                           HealthCheck.data_too_large],
)
SKIPPED = {"demo"}  # imports the bundled sample: slow, and covered by test_cli.py
EXPRESSIONS = [
    "paid - fined", "amount > 0", "x in [1, y]", "-" * 60 + "1", "(" * 30 + "a" + ")" * 30,
    "round(amount, 'a')", "abs()", "event_type > 5", "amount + 'x'", "__import__('os')",
    "lambda: 1", "1/0", "year(amount)", "'\x00'", "coalesce(a, b)", "not not amount",
]
VALUES = [
    "", "0", "1", "-1", "10", "390", "9" * 30, "nan", "inf", "-inf", "1e400", "0.5", "x",
    "\x00", "é", "fines", "stream_id", "A10466", "2006-01-01", "9999-12-31T23:59:59-05:00",
    "0001-01-01T00:00:00+01:00", "2007-02-30", "1mo", "1y", "0d", "-1d", "1q", "mo",
    "at", "known_at", "at_position", "journal", "events", "KEY=VALUE", "overdraft_limit=0",
    "eventlab.examples.bank_domain:bank_decider", "os:path", "no.such:thing", "sys:exit",
    "Deposited=Deposit", "=",
]


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Stores and hostile files the drawn arguments point at."""
    from eventlab import EventStore

    base = tmp_path_factory.mktemp("cli-fuzz")
    store = copy_store(shared_fines(tmp_path_factory), base / "store")
    files = {
        "store": store, "spec": SPEC, "missing": base / "missing", "folder": base,
        "dev_zero": Path("/dev/zero"), "dev_null": Path("/dev/null"),
        "under_file": Path("/dev/null/x.parquet"), "plain": base / "plain.txt",
        "empty_csv": base / "empty.csv", "empty_parquet": base / "empty.parquet",
        "garbage_parquet": base / "garbage.parquet", "garbage_toml": base / "garbage.toml",
        "out_parquet": base / "out" / "o.parquet", "out_csv": base / "out" / "o.csv",
        "out_dir": base / "exports", "journal": store / "_commands",
        "model": base / "exports" / "fines.parquet", "state_csv": base / "state.csv",
        "events_csv": base / "events.csv",
    }
    files["plain"].write_text("not a store\n")
    files["empty_csv"].write_bytes(b"")
    files["empty_parquet"].write_bytes(b"")
    files["garbage_parquet"].write_bytes(b"PAR1\x00\xff garbage PAR1")
    files["garbage_toml"].write_bytes(b"[projections.x\n\xff\xfe")
    files["events_csv"].write_text("case,activity,time\nA1,Payment,2001-06-01T00:00:00Z\n"
                                   "A2,Payment,not a time\n")
    (store / "_commands").mkdir(exist_ok=True)
    (store / "_commands" / "j-00000000000000000001-aaaaaaaaaaaa.parquet").write_bytes(b"")
    view = EventStore.open(store).project(SPEC, name="fines")
    view.export(base / "exports")
    view.state().write_csv(files["state_csv"])
    return files


def likely(files: dict[str, Path]) -> dict[str, st.SearchStrategy[str]]:
    """Mostly-valid values per argument (by argparse dest), so that most drawn commands get
    past argument parsing into the command itself."""
    path = {k: str(v) for k, v in files.items()}
    return {
        "store": st.sampled_from([path["store"]] * 12 + [path["plain"], path["missing"],
                                                          path["dev_null"], path["folder"]]),
        "spec": st.one_of(st.just(path["spec"]), st.just(path["spec"]), st.just(path["spec"]),
                          spec_file(files["folder"]),
                          st.sampled_from([path["dev_zero"], path["garbage_toml"]])),
        "projection": st.sampled_from(["fines"] * 6 + ["p", "nope", ""]),
        "key": st.sampled_from(["stream_id", "A10466", "nope", ""]),
        "start": st.sampled_from(["2006-01-01", "10", "0", "-1", "9999-12-31T23:59:59-05:00"]),
        "end": st.sampled_from(["2007-01-01", "20", "x", "0001-01-01T00:00:00+01:00"]),
        "a": st.sampled_from([path["model"], path["state_csv"], path["empty_csv"],
                              path["garbage_parquet"], path["dev_zero"], path["folder"]]),
        "b": st.sampled_from([path["model"], path["state_csv"], path["empty_parquet"],
                              path["missing"]]),
        "read_model": st.sampled_from([path["model"], path["out_dir"], path["garbage_parquet"],
                                       path["state_csv"]]),
        "decider": st.sampled_from(["eventlab.examples.bank_domain:bank_decider", "os:path",
                                    "no.such:thing", "bad path", "eventlab.examples:nope"]),
        "file": st.sampled_from([path["events_csv"], path["empty_csv"], path["garbage_parquet"],
                                 path["dev_null"], path["state_csv"]]),
        "out": st.sampled_from([path["out_parquet"], path["out_csv"], path["out_dir"],
                                path["under_file"], path["dev_null"]]),
    }


@st.composite
def spec_file(draw: st.DrawFn, folder: Path) -> str:
    """A small TOML spec with hostile parts: expressions, wrong kinds of values."""
    expression = draw(st.sampled_from(EXPRESSIONS))
    part = draw(st.sampled_from([
        f'derived = {{ d = "{expression}" }}', f'where = "{expression}"',
        "stream_types = 5", 'key = ["stream_id", 3]', "fields = 7", "",
        f'[projections.p.fields.extra]\nreducer = "{draw(st.sampled_from(["sum", "x", "last"]))}"'
        '\ncolumn = "amount"',
    ]))
    text = ('[projections.p]\nstream_types = ["fine"]\n' + part.replace('"', '"') + "\n"
            + '[projections.p.fields]\nn = { reducer = "count" }\n')
    if draw(st.booleans()):
        text = text[: draw(st.integers(0, len(text)))]  # cut anywhere
    path = folder / f"spec-{abs(hash(text))}.toml"
    path.write_text(text, errors="replace")
    return str(path)


def commands() -> dict[str, Any]:
    parser = build_parser()
    sub = parser._subparsers._group_actions[0]  # type: ignore[union-attr]
    return {n: p for n, p in sub.choices.items() if n not in SKIPPED}  # type: ignore[union-attr]


@st.composite
def argv(draw: st.DrawFn, files: dict[str, Path]) -> list[str]:
    parser = commands()
    name = draw(st.sampled_from(sorted(parser)))
    command = parser[name]
    paths = st.sampled_from(sorted(str(p) for p in files.values()))
    values = st.one_of(st.sampled_from(VALUES), paths, st.text(max_size=12))
    good = likely(files)

    def value(dest: str) -> str:
        if dest in good and draw(st.integers(0, 9)) > 0:
            return draw(good[dest])
        return draw(values)

    args = [name]
    for action in command._actions:
        if not (action.required or not action.option_strings) or draw(st.integers(0, 19)) == 0:
            continue  # optional flags come below; a required argument is rarely left out
        if action.option_strings:
            args.append(action.option_strings[0])
        args.append(value(action.dest))
    flags = [o for a in command._actions for o in a.option_strings
             if o.startswith("--") and o not in ("--help", "--force")]
    for flag in draw(st.lists(st.sampled_from(flags), max_size=4)):
        action = command._option_string_actions[flag]
        args.append(flag)
        if action.nargs != 0:
            args.append(value(action.dest))
    return args


def test_the_cli_never_shows_a_traceback(
    sandbox: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(sandbox["folder"])
    monkeypatch.setenv("EVENTLAB_PROGRESS", "0")
    monkeypatch.delenv("EVENTLAB_DEBUG", raising=False)

    @SETTINGS
    @given(args=argv(sandbox))
    def check(args: list[str]) -> None:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(args)
            except SystemExit as done:  # argparse: usage errors (2), --help/--version (0)
                code = done.code if isinstance(done.code, int) else 2
        text = err.getvalue()
        assert code in (0, 1, 2), (args, code, text)
        assert "Traceback" not in text, (args, text)
        if code == 2 and not text.startswith("usage:"):  # progress bars (--progress) may come
            last = text.rstrip("\n").rsplit("\n", 1)[-1].rsplit("\r", 1)[-1]  # first
            assert last.startswith("eventlab: error: "), (args, text)
            assert text.count("eventlab: error:") == 1 and text.endswith("\n"), (args, text)

    check()
