"""Driving the CLI in tests: in-process (``main``) and as a real subprocess."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from eventlab.cli import main

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "data" / "fines.toml"
FINES_LOG = ROOT / "data" / "roadtraffic100traces.xes"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``eventlab argv...`` in this process: (exit code, stdout, stderr)."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def run_process(*argv: str, cwd: Path | None = None, timeout: float = 120,
                env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``eventlab argv...`` as a real console-script subprocess."""
    exe = Path(sys.executable).parent / "eventlab"
    return subprocess.run(
        [str(exe), *map(str, argv)], capture_output=True, text=True, cwd=cwd, timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def one_line_error(err: str) -> bool:
    """stderr is exactly one ``eventlab: error: ...`` line."""
    return err.startswith("eventlab: error: ") and err.count("\n") == 1


def fines_store(folder: Path) -> Path:
    """A store of the bundled road-traffic fines log (390 events, 100 fines), made through the
    library (faster than the CLI's import, which other tests cover)."""
    from eventlab import EventStore
    from eventlab.importers import import_file

    store = EventStore.create(folder)
    import_file(store, FINES_LOG, stream_type="fine")
    return folder


def shared_fines(factory: pytest.TempPathFactory) -> Path:
    """One fines store for the whole test run (built on first use). Tests that change a store
    copy it first (:func:`copy_store`)."""
    folder = factory.getbasetemp() / "shared-fines-store"
    if not (folder / "_eventlab.json").exists():
        fines_store(folder)
    return folder


def copy_store(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target
