"""One durability policy (eventlab/storage/durable.py): atomic replace, exclusive create, and the
order of the steps that make a write survive a power cut, checked in real processes through the
EVENTLAB_FSYNC_TRACE hook (no fsync left out, none in the wrong order)."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.procs import ROOT, worker_env

from eventlab.storage import durable

PACKAGE = ROOT / "eventlab"


def test_replace_is_all_or_nothing(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "er" / "state.json"
    durable.write_json(target, {"v": 1})
    with pytest.raises(RuntimeError), durable.atomic_path(target) as tmp:
        tmp.write_text('{"v": 2, "half')
        raise RuntimeError("killed mid-write")
    assert json.loads(target.read_text()) == {"v": 1}
    assert sorted(p.name for p in target.parent.iterdir()) == ["state.json"]  # no temp left


def test_exclusive_create_refuses_an_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "entry.json"
    durable.write_text(target, "first", exclusive=True)
    with pytest.raises(FileExistsError):
        durable.write_text(target, "second", exclusive=True)
    assert target.read_text() == "first" and len(list(tmp_path.iterdir())) == 1
    assert durable.create_new(tmp_path / "k", b"a") and not durable.create_new(tmp_path / "k", b"b")
    assert (tmp_path / "k").read_bytes() == b"a"
    assert oct((tmp_path / "k").stat().st_mode)[-3:] == "600"


def test_replace_folder_swaps_whole_folders(tmp_path: Path) -> None:
    target, new = tmp_path / "model", tmp_path / ".model.new"
    (target / "p=1").mkdir(parents=True)
    (target / "p=1" / "a.parquet").write_text("old")
    (new / "p=2").mkdir(parents=True)
    (new / "p=2" / "b.parquet").write_text("new")
    durable.replace_folder(new, target)
    assert [p.relative_to(target).as_posix() for p in sorted(target.rglob("*.parquet"))] == [
        "p=2/b.parquet"
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


APPEND_AND_HANDLE = """
import sys
sys.path.insert(0, "tests")
from helpers.batches import make_batch
from eventlab import EventStore
import polars as pl
from eventlab.write.journal import SCHEMA, write
store = EventStore.create(sys.argv[1])
store.append(make_batch("one", 30))
store.append(make_batch("two", 5))
schema = {c: d for c, d in SCHEMA.items() if c != "journal_order"}
row = {c: [None] for c in schema} | {"command_id": ["c1"], "outcome": ["accepted"]}
write(store.root, pl.DataFrame(row, schema=schema))
"""


def trace_of(tmp_path: Path, script: str, *args: str) -> list[tuple[str, str]]:
    trace = tmp_path / "trace.txt"
    env = {**worker_env(), "EVENTLAB_FSYNC_TRACE": str(trace)}
    done = subprocess.run([sys.executable, "-c", script, *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return [tuple(line.split(" ", 1)) for line in trace.read_text().splitlines()]  # type: ignore[misc]


def test_a_commit_is_durable_before_it_is_visible(tmp_path: Path) -> None:
    """Power-cut order of a commit: staged data files and their folders fsync-ed, then the log
    entry linked and its folder fsync-ed, and only then events/ switched (and fsync-ed)."""
    store = tmp_path / "store"
    steps = trace_of(tmp_path, APPEND_AND_HANDLE, str(store))
    entry = str(store / "_log" / "00000000000000000002.json")
    link_at = steps.index(("link", entry))
    staged = [i for i, (step, path) in enumerate(steps)
              if step == "fsync-file" and "/_txn/" in path and path.endswith(".parquet")]
    assert staged and max(staged) < link_at, "a data file was not on disk before its log entry"
    assert steps[link_at + 1] == ("fsync-dir", str(store / "_log"))
    switches = [i for i, (step, path) in enumerate(steps)
                if step == "fsync-dir" and path == str(store) and i > link_at]
    assert switches, "events/ was not switched durably after the log entry"
    first_tree_fsync = min(i for i, (step, path) in enumerate(steps)
                           if i > link_at and step == "fsync-dir" and "/_tree/" in path)
    assert link_at < first_tree_fsync < switches[0]


def test_every_crash_sensitive_file_goes_through_the_policy(tmp_path: Path) -> None:
    """The command journal (a lost record would let a retried command run twice) is written
    file-fsync, rename, folder-fsync, like the log."""
    store = tmp_path / "store"
    steps = trace_of(tmp_path, APPEND_AND_HANDLE, str(store))
    renames = [i for i, (step, path) in enumerate(steps)
               if step == "rename" and "/_commands/" in path]
    assert renames, steps[-5:]
    i = renames[-1]
    assert steps[i - 1][0] == "fsync-file" and steps[i + 1][0] == "fsync-dir"


def test_no_fsync_or_rename_outside_the_policy_module() -> None:
    """Every fsync and atomic rename of a file that must survive a crash lives in
    storage/durable.py (storage/trees.py renames folders and links, then fsyncs through it)."""
    allowed = {PACKAGE / "storage" / "durable.py", PACKAGE / "storage" / "trees.py"}
    offenders: list[str] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path in allowed:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Attribute) and node.attr in ("fsync", "replace", "rename")
                    and isinstance(node.value, ast.Name) and node.value.id == "os"):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} os.{node.attr}")
    assert offenders == []


def test_the_trace_hook_is_off_by_default(tmp_path: Path) -> None:
    assert "EVENTLAB_FSYNC_TRACE" not in os.environ
    durable.write_text(tmp_path / "x", "y")
    assert not (tmp_path / "trace.txt").exists()
