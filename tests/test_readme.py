"""README.md's Python snippets run, in order, as a new user would paste them.

Every fenced block whose info string is exactly ``python`` runs; ``python no-test`` (or any other
word after ``python``) is skipped. The blocks share one namespace and run in a fresh temporary
folder holding a copy of ``data/``, in a subprocess of this venv's Python.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>```+|~~~+)[ \t]*(?P<info>[^\n`]*)$")
TIMEOUT = 120

RUNNER = textwrap.dedent(r'''
    import json, sys, traceback
    with open(sys.argv[1]) as handle:
        blocks = json.load(handle)
    namespace = {"__name__": "__main__"}
    for block in blocks:
        try:
            padded = "\n" * (block["line"] - 1) + block["code"]  # tracebacks show README lines
            exec(compile(padded, "README.md", "exec"), namespace)
        except BaseException:
            traceback.print_exc()
            print(f"README block at line {block['line']} failed", file=sys.stderr)
            sys.exit(1)
''')


@dataclass(frozen=True)
class Block:
    line: int  # 1-based line of the first code line
    info: str
    code: str

    @property
    def runs(self) -> bool:
        return self.info.split() == ["python"]


def code_blocks(markdown: str) -> list[Block]:
    """Fenced code blocks (``` or ~~~, possibly indented inside lists), in order."""
    blocks: list[Block] = []
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        fence, indent = opening["fence"], len(opening["indent"])
        body: list[str] = []
        j = i + 1
        while j < len(lines) and not _closes(lines[j], fence):
            body.append(lines[j][indent:] if lines[j][:indent].strip() == "" else lines[j])
            j += 1
        blocks.append(Block(i + 2, opening["info"].strip(), "\n".join(body) + "\n"))
        i = j + 1
    return blocks


def _closes(line: str, fence: str) -> bool:
    stripped = line.strip()
    return stripped.startswith(fence[0] * len(fence)) and set(stripped) == {fence[0]}


def python_blocks(markdown: str) -> list[Block]:
    return [b for b in code_blocks(markdown) if b.runs]


def run_blocks(blocks: list[Block], workdir: Path) -> subprocess.CompletedProcess[str]:
    import json

    (workdir / "_readme_blocks.json").write_text(
        json.dumps([{"line": b.line, "code": b.code} for b in blocks])
    )
    (workdir / "_readme_runner.py").write_text(RUNNER)
    env = {**os.environ, "EVENTLAB_PROGRESS": "0", "PYTHONWARNINGS": "error"}
    return subprocess.run(
        [sys.executable, "_readme_runner.py", "_readme_blocks.json"],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=TIMEOUT,
    )


def fresh_dir(tmp_path: Path) -> Path:
    work = tmp_path / "readme"
    work.mkdir()
    shutil.copytree(ROOT / "data", work / "data")
    return work


# --------------------------------------------------------------------------- the extractor
SAMPLE = """\
Intro

```python
a = 1
```

```python no-test
raise SystemExit("never runs")
```

```bash
make lab
```

1. In a list:

   ```python
   b = a + 1
   ```

~~~python
c = b * 10
~~~
"""


def test_extracts_python_blocks_in_order_and_skips_no_test() -> None:
    blocks = code_blocks(SAMPLE)
    assert [b.info for b in blocks] == ["python", "python no-test", "bash", "python", "python"]
    runnable = python_blocks(SAMPLE)
    assert [b.code for b in runnable] == ["a = 1\n", "b = a + 1\n", "c = b * 10\n"]
    assert [b.line for b in runnable] == [4, 18, 22]


def test_a_failing_block_fails_and_names_its_line(tmp_path: Path) -> None:
    blocks = python_blocks(SAMPLE + "\n```python\nassert c == 21, c\n```\n")
    result = run_blocks(blocks, fresh_dir(tmp_path))
    assert result.returncode == 1
    assert "README block at line 26 failed" in result.stderr
    assert 'File "README.md", line 26' in result.stderr
    assert "AssertionError: 20" in result.stderr


def test_blocks_share_state_and_run_in_the_temp_dir(tmp_path: Path) -> None:
    code = "```python\nfrom pathlib import Path\nPath('made.txt').write_text('x')\n```\n"
    work = fresh_dir(tmp_path)
    result = run_blocks(python_blocks(SAMPLE + code), work)
    assert result.returncode == 0, result.stderr
    assert (work / "made.txt").read_text() == "x"


# --------------------------------------------------------------------------- the README
def test_readme_python_blocks_run(tmp_path: Path) -> None:
    blocks = python_blocks(README.read_text())
    assert blocks, "README.md has no ```python blocks: its examples are what it teaches"
    work = fresh_dir(tmp_path)
    before = set(os.listdir(ROOT))
    result = run_blocks(blocks, work)
    assert result.returncode == 0, f"{result.stderr}\n{result.stdout}"
    assert set(os.listdir(ROOT)) == before, "a README block wrote into the checkout"


IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)")
MAX_IMAGE_BYTES = 300_000


def test_readme_images_are_committed_and_small() -> None:
    links = [link for link in IMAGE.findall(README.read_text()) if "://" not in link]
    for link in links:
        path = ROOT / link
        assert path.is_file(), f"README shows {link}, which does not exist"
        size = path.stat().st_size
        assert size < MAX_IMAGE_BYTES, f"{link} is {size:,} bytes; keep images under 300 KB"
        if path.suffix == ".png":
            assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{link} is not a PNG"
