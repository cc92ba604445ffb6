"""Running tests/helpers/store_worker.py in a real subprocess, and looking at a store's folder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from eventlab.storage.faults import COMMIT_POINTS

ROOT = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("store_worker.py")
FAULT_POINTS = COMMIT_POINTS  # where a commit can be killed, in order (eventlab.storage.faults)
#: kills at these points leave a logged commit that recovery rolls forward
ROLLED_FORWARD = ("after_commit", "mid_publish", "after_publish")


def worker_env(fault: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "EVENTLAB_FAULT"}
    env.update(PYTHONPATH=str(ROOT), EVENTLAB_PROGRESS="0", TZ="UTC", POLARS_MAX_THREADS="1")
    if fault is not None:
        env["EVENTLAB_FAULT"] = fault
    return env


def run_worker(
    *args: object, fault: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run the worker to the end (or to its SIGKILL) and return what it printed."""
    return subprocess.run(
        [sys.executable, str(WORKER), *map(str, args)], env=worker_env(fault), cwd=ROOT,
        capture_output=True, text=True, timeout=timeout, check=False,
    )


def start_worker(*args: object, fault: str | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), *map(str, args)], env=worker_env(fault), cwd=ROOT,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def wait_for_line(proc: subprocess.Popen[str], expected: str) -> str:
    """Block until the worker prints ``expected``; return everything it printed before.

    Fails with the worker's stderr if it exits first.
    """
    assert proc.stdout is not None and proc.stderr is not None
    seen: list[str] = []
    for line in proc.stdout:
        if line.strip() == expected:
            return "".join(seen)
        seen.append(line)
    raise AssertionError(f"worker exited before printing {expected!r}: {proc.stderr.read()}")


def killed(result: subprocess.CompletedProcess[str]) -> bool:
    return result.returncode == -signal.SIGKILL


def files_on_disk(root: Path) -> set[str]:
    """Every file under STORE/events/, relative to the store root (posix)."""
    return {p.relative_to(root).as_posix() for p in (root / "events").rglob("*") if p.is_file()}


def txn_leftovers(root: Path) -> list[str]:
    folder = root / "_txn"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []
