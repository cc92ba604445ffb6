"""mkdocs hook: the notebooks in ../notebooks as pages, without executing them.

Markdown cells stay markdown, code cells become Python code blocks (the notebooks are committed
without outputs), and each page links the .ipynb file, which is published next to it. Reading
the JSON here instead of going through nbconvert keeps ``mkdocs build`` fast: nbconvert's
import alone (jsonschema's format checkers) cost about 6 s of CPU.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def notebook_markdown(notebook: dict[str, Any], name: str) -> str:
    """A notebook as a markdown page: its cells in order, then a link to download it."""
    parts = []
    for cell in notebook.get("cells", []):
        source = "".join(cell.get("source", "")).rstrip()
        if not source:
            continue
        if cell.get("cell_type") == "markdown":
            parts.append(source)
        elif cell.get("cell_type") == "code":
            parts.append(f"```python\n{source}\n```")
    parts.append(f"[Download the notebook]({name}) and open it in JupyterLab to run it "
                 "(`make lab` opens the first one).")
    return "\n\n".join(parts) + "\n"


def on_files(files: Files, config: Any) -> Files:
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        text = path.read_text(encoding="utf-8")
        page = notebook_markdown(json.loads(text), path.name)
        files.append(File.generated(config, f"notebooks/{path.stem}.md", content=page))
        files.append(File.generated(config, f"notebooks/{path.name}", content=text))
    return files
