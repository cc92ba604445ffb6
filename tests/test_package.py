"""Package-level promises: a light import, one error hierarchy, a typed public API."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import eventlab

ROOT = Path(__file__).resolve().parents[1]


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


BLOCK = '''
import sys
BLOCKED = set(sys.argv[1].split(","))
class Missing:  # as if the extra was not installed
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, Missing())
'''


def run_without(modules: str, code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", BLOCK + code, modules], capture_output=True,
                          text=True, timeout=120)


LAB = "altair,ipywidgets,anywidget,vl_convert,jupyterlab"


def test_widgets_and_charts_without_the_lab_extra_name_the_pip_command() -> None:
    code = '''
import polars as pl, eventlab
for attempt in (lambda: eventlab.widgets.HistoryScrubber,
                lambda: eventlab.charts.event_rate(pl.DataFrame({"occurred_at": []}))):
    try:
        attempt()
    except eventlab.OptionalDependencyError as exc:
        assert isinstance(exc, ImportError)
        print(exc)
'''
    out = run_without(LAB, code)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 2, out.stdout
    for line in lines:
        assert line.endswith('Install it with: pip install "eventlab[lab]"'), line


def test_the_library_without_the_lab_extra_stores_folds_and_shows_cards(tmp_path: Path) -> None:
    code = f'''
import sys
from datetime import datetime, UTC
import polars as pl, eventlab as el
from eventlab import reducers as r
store = el.EventStore.create({str(tmp_path / "s")!r})
store.append(pl.DataFrame({{"stream_type": "a", "stream_id": ["x", "y"], "event_type": "E",
                           "occurred_at": [datetime(2024, 1, 1, tzinfo=UTC)] * 2,
                           "amount": [12345.67, 386.98]}}))
state = store.project(el.Projection("p", fields={{"total": r.sum("amount")}})).state()
assert state["total"].to_list() == [12345.67, 386.98]
card = store._repr_html_()
assert "eventlab store" in card and "<svg" not in card  # no chart without the extra
print(sorted(m for m in ("altair", "ipywidgets", "anywidget") if m in sys.modules))
'''
    out = run_without(LAB, code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_the_package_ships_its_type_information() -> None:
    import tomllib

    assert (ROOT / "eventlab" / "py.typed").is_file()
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "py.typed" in config["tool"]["setuptools"]["package-data"]["eventlab"]


def test_core_dependencies_are_the_library_and_extras_the_rest() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {re.split(r"[<>=\[ ]", d)[0] for d in project["dependencies"]}
    assert {"polars", "pyarrow", "pandera", "great-tables"} <= names
    assert not names & {"jupyterlab", "ipywidgets", "anywidget", "altair", "vl-convert-python",
                        "cryptography", "duckdb", "mkdocs"}
    extras = project["optional-dependencies"]
    lab = {re.split(r"[<>=\[ ]", d)[0] for d in extras["lab"]}
    assert lab == {"jupyterlab", "ipywidgets", "anywidget", "altair", "vl-convert-python",
                   "duckdb"}
    assert any(d.startswith("cryptography") for d in extras["crypto"])
    assert {"mkdocs", "mkdocs-material", "mkdocstrings"} <= {
        re.split(r"[<>=\[ ]", d)[0] for d in extras["docs"]}
    assert any(d.startswith("eventlab[") and "lab" in d for d in extras["test"])


def test_errors_are_built_in_one_place() -> None:
    """Issue 11 item 5: no bare ValueError/EventlabError raised in eventlab/, and the error
    classes with constructors say what exists (a column that is not there lists the columns)."""
    import ast

    from eventlab.errors import ColumnNotFoundError, InvalidIntervalError, UnknownProjectionError

    bare = []
    for path in sorted((Path(__file__).resolve().parents[1] / "eventlab").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                name = getattr(node.exc.func, "id", "")
                if name in ("ValueError", "TypeError", "KeyError", "RuntimeError",
                            "EventlabError", "Exception"):
                    bare.append(f"{path.name}:{node.lineno} {name}")
    assert bare == []
    error = ColumnNotFoundError(["amout"], ["amount", "stream_id"], where="the events",
                                hint="check the spelling")
    assert str(error) == ("the events has no column 'amout'; available: 'amount', 'stream_id'. "
                          "Hint: check the spelling")
    assert isinstance(error, ValueError)
    assert "'1mo'" in str(InvalidIntervalError("soon"))
    assert isinstance(UnknownProjectionError("x", ["a"]), LookupError)
