"""Shared helpers of the benchmarks: one subprocess per measured side, peak memory, tables.

Every side runs in its own Python process (``run_side``) so that peak RSS figures never mix and
one library's caches or thread pools cannot help or hurt another. A side is a function
``side(args: dict) -> dict`` in a benchmark module; it calls :func:`measure` around the work it
times. The child prints one JSON line, which the parent reads back.

Benchmarks are not tests: nothing here asserts on time.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULT_PREFIX = "BENCH-RESULT "
MB = 1024 * 1024


def _rss() -> int:
    """Resident set size of this process now, in bytes (psutil if present, else /proc)."""
    try:
        import psutil

        return int(psutil.Process().memory_info().rss)
    except ImportError:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _cpu() -> float:
    """User + system CPU seconds of this process so far (all threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _max_rss() -> int:
    """Peak RSS of this process over its whole life, in bytes (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@contextmanager
def measure(result: dict[str, Any], sample_every: float = 0.005) -> Iterator[None]:
    """Time the block and sample RSS while it runs (native code releases the GIL, so the
    sampler thread sees the peaks). Adds ``seconds`` (wall), ``cpu_seconds`` (user + system of
    all threads: the work done, which competing load on the machine inflates far less),
    ``rss_before_mb``,
    ``peak_during_mb`` (highest sample), ``added_mb`` (peak minus before) and
    ``process_peak_mb`` (the kernel's lifetime peak of the process, which includes loading the
    input)."""
    before = _rss()
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _rss())
            done.wait(sample_every)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started, cpu = time.perf_counter(), _cpu()
    try:
        yield
    finally:
        result["seconds"] = time.perf_counter() - started
        result["cpu_seconds"] = _cpu() - cpu
        done.set()
        sampler.join()
        peak[0] = max(peak[0], _rss())
        result["rss_before_mb"] = before / MB
        result["peak_during_mb"] = peak[0] / MB
        result["added_mb"] = (peak[0] - before) / MB
        result["process_peak_mb"] = max(_max_rss(), peak[0]) / MB


def run_side(
    script: Path, side: str, args: dict[str, Any], python: str | None = None,
    timeout: float = 3600,
) -> dict[str, Any]:
    """Run ``side`` of ``script`` in a fresh process and return its result dict.

    A failing side returns ``{"error": ...}`` instead of raising, so one missing peer never
    hides the other rows of a table.
    """
    command = [python or sys.executable, str(script), "--side", side, "--args", json.dumps(args)]
    env = {**os.environ, "EVENTLAB_PROGRESS": "0", "PYTHONPATH": str(ROOT)}
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, env=env, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            return dict(json.loads(line[len(RESULT_PREFIX):]))
    tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
    return {"error": f"exit {done.returncode}: " + " | ".join(tail)}


def best_run(
    script: Path, side: str, args: dict[str, Any], repeat: int, python: str | None = None
) -> dict[str, Any]:
    """Run a side ``repeat`` times (a fresh process each) and keep the fastest run: on a shared
    machine the slowest runs measure the neighbours, not the code. ``runs`` records how many."""
    results = [run_side(script, side, args, python) for _ in range(max(1, repeat))]
    timed = [r for r in results if "seconds" in r]
    if not timed:
        return results[-1]
    best = min(timed, key=lambda r: float(r["seconds"]))
    return {**best, "runs": len(timed)}


def side_main(sides: Mapping[str, Callable[[dict[str, Any]], dict[str, Any]]]) -> bool:
    """If this process was started by :func:`run_side`, run the side and return True."""
    if "--side" not in sys.argv:
        return False
    name = sys.argv[sys.argv.index("--side") + 1]
    args = json.loads(sys.argv[sys.argv.index("--args") + 1])
    result = sides[name](args)
    print(RESULT_PREFIX + json.dumps(result, default=str), flush=True)
    return True


def best_of(runs: int, work: Callable[[], Any]) -> tuple[float, Any]:
    """Smallest wall time of ``runs`` calls of ``work`` (warm caches), and the last result."""
    best, value = float("inf"), None
    for _ in range(runs):
        started = time.perf_counter()
        value = work()
        best = min(best, time.perf_counter() - started)
    return best, value


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def fmt(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def machine() -> str:
    """One line naming the machine and the versions measured (for the README)."""
    import duckdb
    import polars as pl

    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    return (
        f"{datetime.now(UTC):%Y-%m-%d}, {os.cpu_count()} cores ({cpu}), {memory:.0f} GiB RAM, "
        f"Python {platform.python_version()}, Polars {pl.__version__}, DuckDB {duckdb.__version__}"
    )


def load_average() -> str:
    """The 1-minute load average: other work on the machine makes timings noisy."""
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:
        return "?"
