"""Where the time of one big ``store.append`` goes, step by step.

    python benchmarks/profile_append.py [--events N] [--accounts A]

Appends one synthetic bank batch (default 10M events) into a new store under ``cProfile`` and
prints the wall time spent in each step of the append path (cumulative time of the function
that does the step; Polars work runs in native calls, so it is charged to the Python function
that made the call). Steps that no longer exist print "-". Not a test.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

# (label, function name, file suffix, only when called from this function or None)
STEPS: list[tuple[str, str, str, str | None]] = [
    ("normalise (envelope dtypes, UTC)", "normalize_batch", "envelope.py", None),
    ("stream type check (unique types)", "check_stream_types", "layout.py", None),
    ("validation (pandera envelope schema)", "validate_batch", "validation.py", None),
    ("writer lock + recovery check", "recover", "local.py", None),
    ("event id uniqueness (+ stored ids)", "_drop_stored_ids", "append.py", None),
    ("distinct streams of the batch", "unique", "frame.py", "_commit"),
    ("current versions (scan of the store)", "_current_versions", "append.py", None),
    ("expected-version check", "check_expected", "batch.py", None),
    ("version assignment (int_range over streams)", "assign_versions", "batch.py", None),
    ("payload schema merge + casts", "_cast_payload", "append.py", None),
    ("positions, recorded_at, event ids", "assign_positions", "batch.py", None),
    ("writer: partition order (stream ranks, sort key)", "_partition_order", "writer.py", None),
    ("writer: gather each partition's rows", "__getitem__", "frame.py", "write_partitions"),
    ("writer: sortedness check per file", "_sorted_by_stream", "writer.py", None),
    ("writer: Parquet encode + write (zstd)", "write_parquet", "frame.py", None),
    ("writer: SHA-256 of each file", "file_sha256", "writer.py", None),
    ("commit (fsync staged files, log entry, tree switch)", "commit", "local.py", None),
]


def cumulative(stats: pstats.Stats, name: str, suffix: str, caller: str | None) -> float | None:
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total, found = 0.0, False
    for (file, _line, func), (_cc, _nc, _tt, ct, callers) in raw.items():
        if func != name or not file.endswith(suffix):
            continue
        found = True
        if caller is None:
            total += ct
        else:
            total += sum(v[3] for (_f, _l, fn), v in callers.items() if fn == caller)
    return total if found else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--accounts", type=int, default=None, help="default: events / 100")
    opts = parser.parse_args()
    from eventlab import EventStore
    from eventlab.examples import generate_bank_events

    n, accounts = opts.events, opts.accounts or max(1, opts.events // 100)
    frame = generate_bank_events(n, accounts)
    work = Path(tempfile.mkdtemp(prefix="eventlab-profile-append-"))
    try:
        store = EventStore.create(work / "s")
        profile = cProfile.Profile()
        started = time.perf_counter()
        profile.runcall(store.append, frame, progress=False)
        total = time.perf_counter() - started
    finally:
        shutil.rmtree(work, ignore_errors=True)
    stats = pstats.Stats(profile)
    rows, accounted = [], 0.0
    for label, name, suffix, caller in STEPS:
        seconds = cumulative(stats, name, suffix, caller)
        accounted += seconds or 0.0
        share = f"{100 * seconds / total:.0f}%" if seconds is not None else "-"
        rows.append([label, C.fmt(seconds, 3) if seconds is not None else "-", share])
    rows.append(["everything else", C.fmt(total - accounted, 3),
                 f"{100 * (total - accounted) / total:.0f}%"])
    rows.append([f"**total** ({n / total:,.0f} events/s)", C.fmt(total, 3), "100%"])
    print(f"### Append path profile: {n:,} events, {accounts:,} accounts, one batch")
    print(f"_{C.machine()}; load average at end {C.load_average()}_\n")
    print(C.markdown_table(["step", "seconds", "share"], rows))


if __name__ == "__main__":
    main()
