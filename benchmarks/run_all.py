"""Run every benchmark one after the other and print their tables.

    python benchmarks/run_all.py [--events N] [--update-readme]

Runs every ``benchmarks/bench_*.py`` and ``profile_*.py``. ``--events`` is passed to the
scripts that take it (bench_store.py, bench_folds.py, profile_append.py; default 10M each).
``--update-readme`` writes the tables into benchmarks/README.md between the ``results``
markers, with the machine and date.
Benchmarks are not tests: nothing asserts on time.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
README = HERE / "README.md"
START, END = "<!-- results:start -->", "<!-- results:end -->"


def scripts(events: int | None) -> list[tuple[str, list[str]]]:
    """Every ``bench_*.py`` then ``profile_*.py`` here; ``--events`` goes to those that take it."""
    found = []
    for path in sorted([*HERE.glob("bench_*.py"), *HERE.glob("profile_*.py")]):
        takes_events = events is not None and '"--events"' in path.read_text()
        found.append((path.name, ["--events", str(events)] if takes_events else []))
    return found


def run(name: str, args: list[str]) -> str:
    command = [sys.executable, str(HERE / name), *args]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    shown = " ".join(["python", f"benchmarks/{name}", *args])
    if done.returncode:
        return f"`{shown}` failed (exit {done.returncode}):\n\n```\n{done.stderr[-2000:]}\n```"
    return f"`{shown}` ({elapsed:.0f} s in all)\n\n{done.stdout.strip()}"


def update_readme(text: str) -> None:
    readme = README.read_text()
    if START not in readme or END not in readme:
        raise SystemExit(f"{README} lacks the {START} / {END} markers")
    head, rest = readme.split(START, 1)
    tail = rest.split(END, 1)[1]
    README.write_text(f"{head}{START}\n{text}\n{END}{tail}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=None)
    parser.add_argument("--update-readme", action="store_true")
    opts = parser.parse_args()
    parts = []
    for name, args in scripts(opts.events):
        print(f"running {name} ...", file=sys.stderr, flush=True)
        parts.append(run(name, args))
        print(parts[-1] + "\n", flush=True)
    if opts.update_readme:
        update_readme("\n\n".join(parts))
        print(f"updated {README}", file=sys.stderr)


if __name__ == "__main__":
    main()
