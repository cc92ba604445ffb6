"""README.md's Python snippets run as a new user would paste them: each on its own, and twice.

Every fenced block whose info string is exactly ``python`` runs; ``python no-test`` (or any other
word after ``python``) is skipped. Each block runs in a fresh interpreter (a subprocess of this
venv's Python: it shares no variable with the blocks before it, only the files they wrote), in
order, in a temporary folder holding a copy of ``data/``; then all of them run a second time in
the same folder, as when a notebook cell or a script is run again.
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
        block = json.load(handle)
    try:
        padded = "\n" * (block["line"] - 1) + block["code"]  # tracebacks show README lines
        exec(compile(padded, "README.md", "exec"), {"__name__": "__main__"})
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


def run_block(block: Block, workdir: Path) -> subprocess.CompletedProcess[str]:
    """One block in a fresh interpreter, in ``workdir``."""
    import json

    (workdir / "_readme_block.json").write_text(json.dumps({"line": block.line,
                                                            "code": block.code}))
    (workdir / "_readme_runner.py").write_text(RUNNER)
    env = {**os.environ, "EVENTLAB_PROGRESS": "0", "PYTHONWARNINGS": "error"}
    return subprocess.run(
        [sys.executable, "_readme_runner.py", "_readme_block.json"],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=TIMEOUT,
    )


def run_blocks(blocks: list[Block], workdir: Path) -> list[subprocess.CompletedProcess[str]]:
    """Each block in its own fresh interpreter, in order; stops after the first that fails."""
    results = []
    for block in blocks:
        results.append(run_block(block, workdir))
        if results[-1].returncode:
            break
    return results


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
    blocks = python_blocks("```python\nc = 20\nassert c == 21, c\n```\n```python\nx = 1\n```\n")
    results = run_blocks(blocks, fresh_dir(tmp_path))
    assert len(results) == 1 and results[0].returncode == 1  # the next block does not run
    assert "README block at line 2 failed" in results[0].stderr
    assert 'File "README.md", line 3' in results[0].stderr
    assert "AssertionError: 20" in results[0].stderr


def test_each_block_runs_in_a_fresh_interpreter_in_the_temp_dir(tmp_path: Path) -> None:
    code = "```python\nfrom pathlib import Path\nPath('made.txt').write_text('x')\n```\n"
    work = fresh_dir(tmp_path)
    results = run_blocks(python_blocks(SAMPLE + code)[:1] + python_blocks(code), work)
    assert [r.returncode for r in results] == [0, 0], [r.stderr for r in results]
    assert (work / "made.txt").read_text() == "x"
    results = run_blocks(python_blocks(SAMPLE)[:2], work)  # b = a + 1: a is not defined there
    assert results[-1].returncode == 1 and "NameError: name 'a' is not defined" in \
        results[-1].stderr


# --------------------------------------------------------------------------- the README
def test_readme_python_blocks_run_on_their_own_and_twice(tmp_path: Path) -> None:
    blocks = python_blocks(README.read_text())
    assert blocks, "README.md has no ```python blocks: its examples are what it teaches"
    work = fresh_dir(tmp_path)
    before = set(os.listdir(ROOT))
    runs = [run_blocks(blocks, work), run_blocks(blocks, work)]  # the same folder, again
    for number, results in enumerate(runs, 1):
        failed = [r for r in results if r.returncode]
        assert not failed, f"run {number}:\n{failed[0].stderr}\n{failed[0].stdout}"
        assert len(results) == len(blocks)
        assert "390 events in 100 streams" in results[0].stdout  # a second import adds none
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
