"""The notebooks: committed clean, public API only, and each runs top to bottom in a real kernel.

Every ``notebooks/*.ipynb`` is executed with nbclient in the ``python3`` kernel of this venv, with
the notebooks folder as working directory, exactly as JupyterLab would run it. The executed
copies and their run times go to ``test-artifacts/notebooks/`` (gitignored).
"""

from __future__ import annotations

import ast
import json
import sys
import time
import tomllib
from functools import cache
from importlib.metadata import PackageNotFoundError, distribution, packages_distributions
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import eventlab

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
ARTIFACTS = ROOT / "test-artifacts" / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
REQUIRED = (
    "01_quickstart",
    "02_replay_audit_dataset",
    "03_temporal_queries",
    "04_compare_read_models",
    "05_export_projections",
    "06_commands_and_what_if",
    "08_connect_your_store",
)
MAX_BYTES = 200_000
CELL_TIMEOUT = 60  # seconds per cell
NOTEBOOK_TIMEOUT = 120  # seconds per notebook, kernel start included (each should take < 60 s)
#: eventlab's public modules: the package, reducers, and the subpackages it loads lazily
#: (``eventlab.widgets``, ``eventlab.importers``, ...; see eventlab/__init__.py).
PUBLIC_MODULES = {"eventlab", "eventlab.reducers", *(f"eventlab.{m}" for m in eventlab._LAZY)}
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
#: the tag of the code cell in which a notebook asserts the numbers it shows
CHECK_TAG = "check"


def ids(paths: list[Path]) -> list[str]:
    return [p.stem for p in paths]


def code_of(cell: nbformat.NotebookNode) -> str:
    """A code cell's source with IPython magics and shell escapes blanked out."""
    lines = cell.source.splitlines()
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in lines)


def private_uses(source: str) -> list[str]:
    """What a notebook's code reaches beyond eventlab's public API: imports of modules outside
    PUBLIC_MODULES, imported names starting with ``_``, and ``._private`` attribute access."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [
                f"import {a.name}" for a in node.names
                if a.name.split(".")[0] == "eventlab" and a.name not in PUBLIC_MODULES
            ]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "eventlab":
            if node.module not in PUBLIC_MODULES:
                found.append(f"from {node.module} import ...")
            found += [f"from {node.module} import {a.name}" for a in node.names
                      if a.name.startswith("_")]
        elif isinstance(node, ast.Attribute) and _is_private(node.attr):
            found.append(f".{node.attr}")
    return found


def imported_names(source: str) -> set[str]:
    """Full names of the modules a notebook imports from (``eventlab.widgets``, ...)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def imported_modules(source: str) -> set[str]:
    """Top-level names of the modules a notebook imports."""
    return {name.split(".")[0] for name in imported_names(source)}


@cache
def installed_by_make_lab() -> set[str]:
    """Distributions `make lab` installs (``pip install -e ".[lab]"``): pyproject's dependencies
    and the lab extra (no other extra of eventlab, but the extras they ask for, as in
    ``pandera[polars]``) and theirs, recursively."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert '-e ".[lab]"' in (ROOT / "Makefile").read_text(), "make lab installs the lab extra"
    roots = [*project["dependencies"], *project["optional-dependencies"]["lab"]]
    todo = [Requirement(r) for r in roots]
    seen = {canonicalize_name(project["name"])}
    done: set[tuple[str, frozenset[str]]] = set()
    while todo:
        wanted = todo.pop()
        name = canonicalize_name(wanted.name)
        if (name, frozenset(wanted.extras)) in done:
            continue
        done.add((name, frozenset(wanted.extras)))
        seen.add(name)
        try:
            requires = distribution(name).requires or []
        except PackageNotFoundError:
            continue
        extras = [{"extra": e} for e in ("", *wanted.extras)]
        for text in requires:
            req = Requirement(text)
            if req.marker is None or any(req.marker.evaluate(e) for e in extras):
                todo.append(req)
    return seen


@cache
def _providers() -> dict[str, list[str]]:
    return dict(packages_distributions())


def notebook_source(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    return "\n".join(code_of(c) for c in nb.cells if c.cell_type == "code")


def check_cells(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    """The code cells tagged CHECK_TAG that assert something."""
    return [
        c for c in nb.cells
        if c.cell_type == "code" and CHECK_TAG in c.metadata.get("tags", [])
        and any(isinstance(n, ast.Assert) for n in ast.walk(ast.parse(code_of(c))))
    ]


def execute(nb: nbformat.NotebookNode, path: Path) -> None:
    """Run every cell in a real kernel (cwd ``path``); a failing check cell fails with the
    assertion that failed, any other failing cell with nbclient's CellExecutionError."""
    client = NotebookClient(
        nb, timeout=CELL_TIMEOUT, kernel_name="python3", resources={"metadata": {"path": str(path)}}
    )
    try:
        client.execute()
    except CellExecutionError:
        for cell in check_cells(nb):
            errors = [o for o in cell.get("outputs", []) if o.output_type == "error"]
            if errors:
                raise AssertionError(
                    f"a tagged {CHECK_TAG!r} cell failed: {errors[0].ename}: {errors[0].evalue}"
                    f"\n{cell.source}"
                ) from None
        raise


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def repo_files() -> set[str]:
    """Files a notebook could leave behind in the checkout (not caches, venv or artifacts)."""
    skip = {".git", ".venv", "test-artifacts", ".pytest_cache", ".mypy_cache", ".ruff_cache",
            ".hypothesis", "__pycache__", ".ipynb_checkpoints"}
    found = {p.name for p in ROOT.iterdir() if p.name not in skip}
    for folder in (NOTEBOOK_DIR, ROOT / "data"):
        found |= {
            str(p.relative_to(ROOT)) for p in folder.rglob("*")
            if not skip.intersection(p.relative_to(ROOT).parts)
        }
    return found


# --------------------------------------------------------------------------- the checker itself
def test_private_uses_catches_what_the_notebooks_must_not_do() -> None:
    bad = (
        "import eventlab.store.scan\n"
        "from eventlab.projections.fold import fold\n"
        "from eventlab import _private\n"
        "x = store._state\n"
    )
    assert private_uses(bad) == [
        "import eventlab.store.scan",
        "from eventlab.projections.fold import ...",
        "from eventlab import _private",
        "._state",
    ]
    good = "import eventlab as el\nfrom eventlab.importers import import_file\nel.__version__\n"
    assert private_uses(good) == []


# --------------------------------------------------------------------------- committed form
def test_the_issue_notebooks_exist() -> None:
    missing = [name for name in REQUIRED if not (NOTEBOOK_DIR / f"{name}.ipynb").exists()]
    assert not missing, f"notebooks missing from notebooks/: {missing}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_committed_without_outputs_and_small(path: Path) -> None:
    assert path.stat().st_size < MAX_BYTES, f"{path.name} is {path.stat().st_size:,} bytes"
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"
    dirty = [
        i for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
    ]
    assert not dirty, f"{path.name}: clear the outputs of cells {dirty} before committing"
    assert "widgets" not in nb.metadata, f"{path.name}: saved widget state; clear it"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_asserts_its_key_numbers_in_a_check_cell(path: Path) -> None:
    """Each notebook says what it shows: a code cell tagged "check" asserts its numbers (run,
    like every cell, by test_runs_top_to_bottom)."""
    nb = nbformat.read(path, as_version=4)
    checks = check_cells(nb)
    assert checks, (
        f"{path.name} has no code cell tagged {CHECK_TAG!r} with assertions of the numbers it "
        "shows; add one at the end (cell metadata: {\"tags\": [\"check\"]})"
    )
    asserts = sum(isinstance(n, ast.Assert) for c in checks for n in ast.walk(ast.parse(c.source)))
    assert asserts >= 3, f"{path.name}: its check cell asserts {asserts} thing(s); say more"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_uses_only_the_public_api(path: Path) -> None:
    assert private_uses(notebook_source(path)) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_imports_only_what_make_lab_installs(path: Path) -> None:
    """A new user has only `make lab`'s install: every third-party module a notebook imports
    must come with eventlab's dependencies (not the test extra)."""
    providers = _providers()
    available = installed_by_make_lab()
    third_party = imported_modules(notebook_source(path)) - set(sys.stdlib_module_names)
    missing = {
        module for module in third_party - {"eventlab"}
        if not {canonicalize_name(d) for d in providers.get(module, [])} & available
    }
    assert not missing, (
        f"{path.name} imports {sorted(missing)}, which `make lab` does not install; add them to "
        "[project].dependencies or the lab extra in pyproject.toml"
    )


# --------------------------------------------------------------------------- execution
@pytest.mark.timeout(NOTEBOOK_TIMEOUT)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_runs_top_to_bottom(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    before = repo_files()
    started = time.perf_counter()
    try:
        execute(nb, NOTEBOOK_DIR)
    finally:
        seconds = time.perf_counter() - started
        _keep_artifacts(path, nb, seconds)
    warnings = [
        (i, out.text) for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
        for out in cell.outputs if out.output_type == "stream" and out.name == "stderr"
        and "Warning" in out.text
    ]
    assert not warnings, f"{path.name} printed warnings: {warnings}"
    assert all(
        c.execution_count is not None for c in nb.cells if c.cell_type == "code"
    ), "a code cell did not run"
    assert repo_files() == before, "the notebook left files in the checkout; use tempfile"
    if "eventlab.widgets" in imported_names(notebook_source(path)):
        views = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs
                 if WIDGET_MIME in out.get("data", {})]
        assert views, f"{path.name} uses eventlab.widgets but displayed no widget"


def _keep_artifacts(path: Path, nb: nbformat.NotebookNode, seconds: float) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, ARTIFACTS / path.name)
    times = ARTIFACTS / "times.json"
    record = json.loads(times.read_text()) if times.exists() else {}
    record[path.stem] = round(seconds, 1)
    times.write_text(json.dumps(record, indent=1, sort_keys=True))


def test_a_failing_cell_fails_the_run(tmp_path: Path) -> None:
    """The harness is not blind: an error in any cell surfaces as CellExecutionError."""
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("x = 1"),
        nbformat.v4.new_code_cell("import eventlab as el\nel.EventStore.open('no-such-store')"),
    ])
    client = NotebookClient(
        nb, timeout=CELL_TIMEOUT, kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    with pytest.raises(CellExecutionError, match="StoreNotFoundError"):
        client.execute()


def test_a_failing_check_fails_the_run_and_says_which(tmp_path: Path) -> None:
    """The harness is not blind to the check cell: a wrong number fails with its assertion."""
    check = nbformat.v4.new_code_cell("assert total == 3, f'total is {total}'")
    check.metadata["tags"] = [CHECK_TAG]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("total = 1 + 1"), check])
    assert check_cells(nb) == [check]
    with pytest.raises(AssertionError, match="tagged 'check' cell failed: AssertionError: total"):
        execute(nb, tmp_path)
    untagged = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("assert 1 == 1")])
    assert check_cells(untagged) == []
