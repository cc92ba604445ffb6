"""`make mutation`: run mutmut over the point-in-time core and write a report.

    python tests/helpers/mutation.py run [eventlab/store/scan.py ...]   # all of [tool.mutmut]
    python tests/helpers/mutation.py report > test-artifacts/mutation-report.md

``run`` calls ``mutmut run`` (two workers: the machine has two cores) limited to the given
modules; ``report`` reads mutmut's per-file results (``mutants/**/*.py.meta``) and prints, per
module, how many mutants the tests killed, and the diff of every survivor. Not part of
``make test``: a full run takes hours on two shared cores.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MUTMUT = [sys.executable, "-m", "mutmut"]
#: statuses (mutmut.stats.status_by_exit_code) that count as detected
DETECTED = {"killed", "timeout", "caught by type check", "segfault"}


def run(modules: list[str]) -> int:
    names = [m.removesuffix(".py").replace("/", ".") + ".*" for m in modules]
    return subprocess.call([*MUTMUT, "run", "--max-children", "2", *names], cwd=ROOT)


def results() -> dict[str, dict[str, int | None]]:
    found = {}
    for meta in sorted((ROOT / "mutants").rglob("*.py.meta")):
        module = str(meta.relative_to(ROOT / "mutants")).removesuffix(".meta")
        found[module] = json.loads(meta.read_text()).get("exit_code_by_key", {})
    return found


def show(name: str) -> str:
    out = subprocess.run([*MUTMUT, "show", name], cwd=ROOT, capture_output=True, text=True)
    return out.stdout.strip()


def report() -> str:
    lines = ["# Mutation report (mutmut)", "",
             "| module | mutants | killed | survived | not reached / not run | kill rate |",
             "|---|---|---|---|---|---|"]
    survivors: list[str] = []
    from mutmut.stats import status_by_exit_code

    for module, codes in results().items():
        if not codes:
            continue
        status = {k: status_by_exit_code[c] for k, c in codes.items()}
        killed = sum(1 for s in status.values() if s in DETECTED)
        alive = [k for k, s in status.items() if s == "survived"]
        other = len(codes) - killed - len(alive)
        tried = killed + len(alive)
        rate = f"{100 * killed / tried:.1f} %" if tried else "-"
        lines.append(f"| {module} | {len(codes)} | {killed} | {len(alive)} | {other} | {rate} |")
        survivors += alive
    lines += ["", f"## Surviving mutants ({len(survivors)})", ""]
    for name in survivors:
        lines += [f"### {name}", "", "```diff", show(name), "```", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "run":
        sys.exit(run(sys.argv[2:]))
    if len(sys.argv) == 2 and sys.argv[1] == "report":
        print(report())
        sys.exit(0)
    sys.exit(__doc__)
