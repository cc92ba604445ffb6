"""Under CI=true a missing prerequisite fails the run instead of skipping the tests behind it
(issue 18 item 3): run a dataset test in a fresh pytest with the datasets folder pointed away."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import dataset

ROOT = Path(__file__).resolve().parents[1]
TEST = "tests/test_no_silent_skips.py::test_probe_a_shared_dataset"


def test_probe_a_shared_dataset() -> None:
    """The probe the two tests below run in a fresh pytest (it passes here: the data is there)."""
    assert dataset("running-example.csv").stat().st_size > 0


def run(ci: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CI": ci, "EVENTLAB_DATASETS": str(ROOT / "no-such-folder"), "TZ": "UTC"}
    return subprocess.run(
        [sys.executable, "-m", "pytest", TEST, "-q", "-p", "no:cacheprovider", "-rs"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )


def test_a_missing_dataset_fails_under_ci() -> None:
    done = run("true")
    assert done.returncode == 1, done.stdout[-2000:]
    assert "CI must provide it" in done.stdout and "1 failed" in done.stdout


def test_a_missing_dataset_skips_on_a_developer_machine() -> None:
    done = run("")
    assert done.returncode == 0, done.stdout[-2000:]
    assert "1 skipped" in done.stdout and "running-example.csv not found" in done.stdout
