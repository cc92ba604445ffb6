"""Disk full, file size limit and read-only folders: a clean StorageError naming the folder, and
nothing half-written visible.

Three real techniques, no mocks:

* ``EVENTLAB_FAULT=enospc:<point>`` makes the store raise ``OSError(ENOSPC)`` at each step of a
  commit (the same points the crash tests SIGKILL at);
* a subprocess with ``RLIMIT_FSIZE`` (SIGXFSZ ignored) gets a real ``EFBIG`` from the kernel
  when a write passes the limit: inside Polars' Parquet writer, the intent or the log entry;
* a subprocess that cannot write a ``chmod a-w`` store. Root ignores permission bits, so when
  the tests run as root the subprocess drops CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from its
  capability bounding set before exec (prctl), and the kernel enforces the bits again.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from conftest import missing
from helpers.batches import make_batch
from helpers.procs import (
    FAULT_POINTS,
    ROLLED_FORWARD,
    ROOT,
    files_on_disk,
    txn_leftovers,
    worker_env,
)

from eventlab import EventlabError, EventStore, Projection
from eventlab import reducers as r
from eventlab.errors import StorageError
from eventlab.projections.export import ReadModel, export

PROJECTION = Projection("batches", key=("stream_type", "stream_id"),
                        fields={"events": r.count(), "amount": r.sum("amount")})


def snapshot_of(root: Path) -> dict[str, bytes]:
    """Every file below ``root`` with its bytes (the lock and pid notes aside)."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*")
            if p.is_file() and p.name not in ("_writer.lock", "_writer.pid")}


def assert_unchanged_and_clean(root: Path, head: int, before: dict[str, bytes]) -> EventStore:
    assert txn_leftovers(root) == []
    assert snapshot_of(root) == before, "a file was added, changed or removed"
    store = EventStore.open(root)
    assert store.head == head
    assert files_on_disk(root) == {f.path for f in store.files}
    assert store.verify().ok
    return store


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "store"
    EventStore.create(path).append(make_batch("base", 36))
    return path


# ----------------------------------------------------------------------------- ENOSPC
BEFORE_COMMIT = FAULT_POINTS[: FAULT_POINTS.index("after_commit")]


@pytest.mark.parametrize("point", BEFORE_COMMIT)
def test_disk_full_during_append_rolls_back(
    root: Path, point: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = snapshot_of(root)
    store = EventStore.open(root)
    monkeypatch.setenv("EVENTLAB_FAULT", f"enospc:{point}")
    with pytest.raises(StorageError) as caught:
        store.append(make_batch("full", 48))
    error = caught.value
    assert isinstance(error, OSError) and isinstance(error, EventlabError)
    assert error.errno == errno.ENOSPC
    message = str(error)
    assert f"cannot append to store {root}: ENOSPC" in message
    assert "the disk is full" in message and "Nothing of it was committed" in message
    monkeypatch.delenv("EVENTLAB_FAULT")
    # rolled back at once: no staged or published file is left, not even in _txn/
    store = assert_unchanged_and_clean(root, 36, before)
    result = store.append(make_batch("full", 48))  # the retry goes through whole
    assert (result.first_position, result.last_position, result.skipped) == (37, 84, 0)


@pytest.mark.parametrize("point", [*ROLLED_FORWARD, "after_switch"])
def test_disk_full_after_the_commit_point_says_so(
    root: Path, point: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = EventStore.open(root)
    monkeypatch.setenv("EVENTLAB_FAULT", f"enospc:{point}")
    with pytest.raises(StorageError, match="The commit itself was written"):
        store.append(make_batch("late", 12))
    monkeypatch.delenv("EVENTLAB_FAULT")
    store = EventStore.open(root)
    assert store.head == 48 and txn_leftovers(root) == [] and store.verify().ok
    assert store.append(make_batch("late", 12)).skipped == 12  # a retry adds nothing


@pytest.mark.parametrize("point", BEFORE_COMMIT)
def test_disk_full_during_compaction_keeps_the_old_files(
    root: Path, point: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = EventStore.open(root)
    store.append(make_batch("more", 36))
    before = snapshot_of(root)
    monkeypatch.setenv("EVENTLAB_FAULT", f"enospc:{point}")
    with pytest.raises(StorageError, match=f"cannot compact store {root}: ENOSPC"):
        store.compact(target_rows=1000)
    monkeypatch.delenv("EVENTLAB_FAULT")
    store = assert_unchanged_and_clean(root, 72, before)
    assert store.compact(target_rows=1000).files_removed == 24


# ----------------------------------------------------------------------------- real EFBIG
SIZE_LIMITED = """
import json, resource, signal, sys
sys.path.insert(0, "tests")
from helpers.batches import make_batch
from eventlab import EventStore
store = EventStore.open(sys.argv[1])
batch = make_batch("big", int(sys.argv[3]))
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # else the kernel kills the process
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[2]), int(sys.argv[2])))
try:
    store.append(batch)
    print(json.dumps({"ok": True}))
except Exception as exc:
    print(json.dumps({"type": type(exc).__name__, "errno": getattr(exc, "errno", None),
                      "message": str(exc), "cause": repr(exc.__cause__)}))
"""


def run_script(script: str, *args: object, prepare: Callable[[], None] | None = None) -> Any:
    proc = subprocess.run(
        [sys.executable, "-c", script, *map(str, args)], env=worker_env(), cwd=ROOT,
        capture_output=True, text=True, timeout=120, preexec_fn=prepare, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


@pytest.mark.parametrize(("limit", "rows", "failing_write"), [
    (600, 3000, ".parquet"),  # the first data file of the batch passes the limit
    (20_000, 20_000, ".parquet"),  # a later, larger data file of the batch passes it
    (6_000, 48, "OSError(27"),  # every data file fits (<= 5.3 kB); the 6.4 kB log entry not
])
def test_file_size_limit_is_a_clean_error(root: Path, limit: int, rows: int,
                                          failing_write: str) -> None:
    before = snapshot_of(root)
    outcome = run_script(SIZE_LIMITED, root, limit, rows)
    assert outcome["type"] == "StorageError", outcome
    assert outcome["errno"] == errno.EFBIG
    assert f"cannot append to store {root}: EFBIG" in outcome["message"]
    assert "ulimit -f" in outcome["message"] and "Nothing of it was committed" in outcome["message"]
    assert failing_write in outcome["message"] + outcome["cause"], outcome
    assert_unchanged_and_clean(root, 36, before)


# ----------------------------------------------------------------------------- read-only
def _drop_root_override() -> None:
    """In the child before exec: root loses the capabilities that bypass permission bits."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def _can_enforce_permissions(tmp_path: Path) -> Callable[[], None] | None:
    """preexec function that makes permission bits bind (None when already bound); skip the
    test when they cannot bind here."""
    if os.geteuid() != 0:
        return None
    probe = tmp_path / "probe"
    probe.mkdir()
    probe.chmod(0o555)
    script = "import sys; open(sys.argv[1] + '/x', 'w')"
    proc = subprocess.run([sys.executable, "-c", script, str(probe)], capture_output=True,
                          text=True, preexec_fn=_drop_root_override, check=False)
    probe.chmod(0o755)
    if "PermissionError" not in proc.stderr:
        missing(f"running as root and cannot drop CAP_DAC_OVERRIDE here: {proc.stderr[-300:]}")
    return _drop_root_override


def read_only(path: Path) -> None:
    for item in [path, *path.rglob("*")]:
        mode = item.stat().st_mode
        item.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def writable(path: Path) -> None:
    for item in [path, *path.rglob("*")]:
        item.chmod(item.stat().st_mode | stat.S_IWUSR)


READ_ONLY = """
import json, sys
sys.path.insert(0, "tests")
from helpers.batches import make_batch
from eventlab import EventStore
from eventlab.importers import import_file
root, what = sys.argv[1], sys.argv[2]
out = {}
try:
    if what == "create":
        EventStore.create(root + "/new-store")
    else:
        store = EventStore.open(root)  # reading a read-only store works
        out["head"], out["rows"] = store.head, store.scan().collect().height
        out["verify_ok"] = store.verify().ok
        if what == "append":
            store.append(make_batch("ro", 12))
        elif what == "compact":
            store.compact(target_rows=1000)
        elif what == "import":
            import_file(store, sys.argv[3])
    out["ok"] = True
except Exception as exc:
    out.update(type=type(exc).__name__, errno=getattr(exc, "errno", None), message=str(exc))
print(json.dumps(out))
"""


@pytest.mark.parametrize("what", ["append", "compact"])
def test_read_only_store_reads_but_refuses_writes_cleanly(
    root: Path, tmp_path: Path, what: str
) -> None:
    prepare = _can_enforce_permissions(tmp_path)
    EventStore.open(root).append(make_batch("more", 36))  # something to compact
    before = snapshot_of(root)
    read_only(root)
    try:
        outcome = run_script(READ_ONLY, root, what, prepare=prepare)
    finally:
        writable(root)
    assert (outcome["head"], outcome["rows"], outcome["verify_ok"]) == (72, 72, True)
    assert outcome["type"] == "StorageError", outcome
    assert outcome["errno"] == errno.EACCES
    action = "append to" if what == "append" else "compact"
    assert f"cannot {action} store {root}: EACCES" in outcome["message"]
    assert "read-only folder?" in outcome["message"]
    assert_unchanged_and_clean(root, 72, before)


def test_creating_a_store_in_a_read_only_folder(tmp_path: Path) -> None:
    prepare = _can_enforce_permissions(tmp_path)
    parent = tmp_path / "ro"
    parent.mkdir()
    parent.chmod(0o555)
    try:
        outcome = run_script(READ_ONLY, parent, "create", prepare=prepare)
    finally:
        parent.chmod(0o755)
    assert outcome["type"] == "StorageError" and outcome["errno"] == errno.EACCES, outcome
    assert f"cannot create store {parent}/new-store: EACCES" in outcome["message"]
    assert list(parent.iterdir()) == []


def test_quarantine_in_a_read_only_folder(root: Path, tmp_path: Path) -> None:
    """The accepted events are committed; the quarantine cannot be written: a StorageError
    that says exactly that, and no temporary file is left."""
    prepare = _can_enforce_permissions(tmp_path)
    source = tmp_path / "log.csv"
    source.write_text("stream_id,event_type,occurred_at\na,Opened,2024-01-01T00:00:00Z\n"
                      "b,Opened,not a time\n")
    (root / "_quarantine").mkdir()
    (root / "_quarantine").chmod(0o555)
    try:
        outcome = run_script(READ_ONLY, root, "import", source, prepare=prepare)
    finally:
        (root / "_quarantine").chmod(0o755)
    assert outcome["type"] == "StorageError" and outcome["errno"] == errno.EACCES, outcome
    assert "write the quarantine of" in outcome["message"]
    assert "accepted events were committed" in outcome["message"]
    assert list((root / "_quarantine").iterdir()) == []
    store = EventStore.open(root)
    assert store.head == 37 and store.verify().ok


# ----------------------------------------------------------------------------- export
EXPORT_LIMITED = """
import json, resource, signal, sys
sys.path.insert(0, "tests")
from test_disk_errors import PROJECTION
from eventlab import EventStore
from eventlab.projections.export import export
store = EventStore.open(sys.argv[1])
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[3]), int(sys.argv[3])))
try:
    export(store, PROJECTION, sys.argv[2], partition_by=sys.argv[4] or None, full=True)
    print(json.dumps({"ok": True}))
except Exception as exc:
    print(json.dumps({"type": type(exc).__name__, "errno": getattr(exc, "errno", None),
                      "message": str(exc)}))
"""


@pytest.mark.parametrize("partition_by", ["", "stream_type"])
def test_export_on_a_full_disk_keeps_the_previous_read_model(
    root: Path, tmp_path: Path, partition_by: str
) -> None:
    out = tmp_path / "exports"
    store = EventStore.open(root)
    first = export(store, PROJECTION, out, partition_by=partition_by or None).read_model
    old = first.read()
    before = snapshot_of(out)
    big = make_batch("big", 6000, streams=3000)
    store.append(big)
    outcome = run_script(EXPORT_LIMITED, root, out, 2000, partition_by)
    assert outcome["type"] == "StorageError" and outcome["errno"] == errno.EFBIG, outcome
    assert f"cannot export to {out}" in outcome["message"]
    assert "previous read model (if any) is unchanged" in outcome["message"]
    assert snapshot_of(out) == before  # no temporary file or folder left behind
    model = ReadModel.open(first.path)
    assert model.high_water_position == 36
    assert model.read().sort("stream_type", "stream_id").equals(
        old.sort("stream_type", "stream_id"))
    assert pl.read_parquet(first.path, hive_partitioning=first.path.is_dir()).height == old.height


SNAPSHOTS_LIMITED = """
import json, resource, signal, sys
sys.path.insert(0, "tests")
from test_disk_errors import PROJECTION
from eventlab import EventStore
store = EventStore.open(sys.argv[1])
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[2]), int(sys.argv[2])))
try:
    store.project(PROJECTION).build_snapshots(every="1w")
    print(json.dumps({"ok": True}))
except Exception as exc:
    print(json.dumps({"type": type(exc).__name__, "errno": getattr(exc, "errno", None),
                      "message": str(exc)}))
"""


def test_snapshots_on_a_full_disk_leave_no_partial_file(root: Path) -> None:
    store = EventStore.open(root)
    store.append(make_batch("wide", 6000, streams=3000))
    outcome = run_script(SNAPSHOTS_LIMITED, root, 3000)
    assert outcome["type"] == "StorageError" and outcome["errno"] == errno.EFBIG, outcome
    assert f"cannot write a snapshot into store {root}: EFBIG" in outcome["message"]
    leftovers = [p.name for p in (root / "_snapshots").rglob("*") if p.is_file()]
    assert not [n for n in leftovers if not n.startswith("at-")], leftovers  # no temp file
    view = store.project(PROJECTION)
    assert view.state().equals(view.state(use_snapshots=False))  # any snapshot kept is whole
