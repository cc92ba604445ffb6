"""Shared fixtures: real stores in temp folders, real datasets from ../shared/datasets."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NoReturn

import polars as pl
import pytest
from hypothesis import Phase, settings

from eventlab import EventStore

os.environ.setdefault("TZ", "UTC")
os.environ.setdefault("EVENTLAB_PROGRESS", "0")

ROOT = Path(__file__).resolve().parents[1]
DATASETS = Path(os.environ.get("EVENTLAB_DATASETS", ROOT.parent / "shared" / "datasets"))
T0 = datetime(2024, 1, 1, tzinfo=UTC)
#: `pytest --hypothesis-profile=mutation` (make mutation): stop at the first failing example
#: instead of shrinking it; a mutant only needs to be killed, not explained
settings.register_profile("mutation", phases=[Phase.explicit, Phase.reuse, Phase.generate])


def missing(reason: str) -> NoReturn:
    """Skip a test whose prerequisite is missing on a developer's machine; under CI=true fail
    instead: CI must provide everything, and a skip there would hide the checks."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason} (CI must provide it: see .ci/run)")
    pytest.skip(reason)


def dataset(name: str) -> Path:
    """A real log from ../shared/datasets, or the bundled copy in data/; skip if neither (fail
    under CI). Call it at the start of a test (or in a fixture), never halfway through."""
    for folder in (DATASETS, ROOT / "data"):
        if (folder / name).exists():
            return folder / name
    missing(f"dataset {name} not found in {DATASETS} or data/")


def events(
    stream_ids: list[str], event_type: str = "Deposited", stream_type: str = "account",
    start: datetime = T0, **payload: list[object],
) -> pl.DataFrame:
    """A small batch: one event per entry of stream_ids, one minute apart."""
    n = len(stream_ids)
    return pl.DataFrame({
        "stream_type": [stream_type] * n,
        "stream_id": stream_ids,
        "event_type": [event_type] * n,
        "occurred_at": [start + timedelta(minutes=i) for i in range(n)],
        **payload,
    })


@pytest.fixture
def store(tmp_path: Path) -> EventStore:
    return EventStore.create(tmp_path / "store")
