"""The documentation site: every notebook has a page, a page keeps its notebook's cells, and a
broken API reference fails the strict build (``make test`` builds the whole site with
``mkdocs build --strict``)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def nav_pages(node: object) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [p for value in node.values() for p in nav_pages(value)]
    if isinstance(node, list):
        return [p for value in node for p in nav_pages(value)]
    return []


def load_config() -> dict[str, object]:
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("tag:", lambda loader, suffix, node: None)
    return yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=Loader)


def test_every_notebook_and_api_page_is_in_the_nav() -> None:
    pages = nav_pages(load_config()["nav"])
    notebooks = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert notebooks and [f"notebooks/{n}.md" for n in notebooks] == sorted(
        p for p in pages if p.startswith("notebooks/"))
    api = sorted(str(p.relative_to(ROOT / "docs")) for p in (ROOT / "docs" / "api").glob("*.md"))
    assert api == sorted(p for p in pages if p.startswith("api/"))


def test_a_notebook_page_keeps_its_cells_in_order() -> None:
    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "docs" / "hooks.py")
    assert spec and spec.loader
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    notebook = json.loads((ROOT / "notebooks" / "01_quickstart.ipynb").read_text())
    page = hooks.notebook_markdown(notebook, "01_quickstart.ipynb")
    assert page.startswith("# 01 · Quickstart")
    assert page.index("import eventlab as el") < page.index("HistoryScrubber(\n")
    assert "```python\nscrubber = HistoryScrubber(" in page
    assert page.rstrip().endswith("(`make lab` opens the first one).")


def test_a_broken_reference_fails_the_strict_build(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "index.md").write_text("# API\n\n::: eventlab.render.value_text\n\n"
                                                "::: eventlab.render.no_such_function\n")
    (tmp_path / "mkdocs.yml").write_text(textwrap.dedent(f"""
        site_name: broken
        strict: true
        plugins:
          - mkdocstrings:
              handlers:
                python:
                  paths: ["{ROOT}"]
    """))
    out = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120,
                         env={"NO_MKDOCS_2_WARNING": "1", "PATH": "/usr/bin:/bin"})
    assert out.returncode != 0
    assert "eventlab.render.no_such_function could not be found" in out.stderr
