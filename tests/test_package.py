"""Package-level promises: a light import, one error hierarchy, a typed public API."""

from __future__ import annotations

import subprocess
import sys

import eventlab


def test_import_is_light() -> None:
    code = (
        "import sys, eventlab; heavy = [m for m in ('altair', 'pandera', 'ipywidgets', "
        "'eventlab.widgets', 'duckdb', 'tqdm') if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_public_api_is_listed() -> None:
    for name in eventlab.__all__:
        assert hasattr(eventlab, name), name


def test_errors_inherit_matching_builtins() -> None:
    assert issubclass(eventlab.ConcurrencyError, RuntimeError)
    assert issubclass(eventlab.ValidationError, ValueError)
    assert issubclass(eventlab.LockTimeoutError, TimeoutError)
    assert issubclass(eventlab.StoreNotFoundError, FileNotFoundError)
    for name in eventlab.__all__:
        obj = getattr(eventlab, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, eventlab.EventlabError)


def test_subpackages_load_lazily_on_attribute_access() -> None:
    code = (
        "import sys, eventlab; before = 'eventlab.widgets' in sys.modules; "
        "scrubber = eventlab.widgets.HistoryScrubber; importer = eventlab.importers.import_file; "
        "print(before, 'eventlab.widgets' in sys.modules, 'altair' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True", "True"]
