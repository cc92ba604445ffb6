"""eventlab.process against pm4py on every bundled XES log: equal results or a listed difference.

    python benchmarks/compare_pm4py.py [--pm4py-python PATH] [--install-pm4py DIR]

For each XES log in ``../shared/datasets`` and ``data/``, one process imports it into a fresh
store and computes ``variants``, ``directly_follows`` (counts, start/end activities, median and
mean durations) and ``durations``; another process, in a separate virtualenv with pm4py
(AGPL: never a dependency of eventlab), reads the same file with ``pm4py.read_xes`` and computes
``get_variants``, ``discover_dfg``, ``discover_performance_dfg``,
``get_start_activities``/``get_end_activities`` and ``get_all_case_durations``. pm4py's frame
is first put in the order pm4py's own ``format_dataframe`` gives (case, timestamp, then file
order): the valid-time order eventlab uses (``occurred_at``, then ``position``, which is file
order). The table says, per log and per question, whether the answers are equal.

The pm4py virtualenv is found like bench_import.py's (``--pm4py-python``, ``$PM4PY_PYTHON``,
``../bench-venv``, ``.bench-venv``); ``--install-pm4py DIR`` creates one.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

SCRIPT = Path(__file__).resolve()
QUESTIONS = ("variants", "dfg", "start", "end", "durations", "edge_median", "edge_mean")


def xes_logs() -> list[Path]:
    folders = [Path(os.environ.get("EVENTLAB_DATASETS", C.ROOT.parent / "shared/datasets")),
               C.ROOT / "data"]
    found: dict[str, Path] = {}
    for folder in folders:
        for path in sorted(folder.glob("*.xes*")):
            found.setdefault(path.name, path)
    return sorted(found.values(), key=lambda p: p.name)


# ----------------------------------------------------------------- sides
def side_eventlab(args: dict[str, Any]) -> dict[str, Any]:
    import polars as pl

    import eventlab as el
    from eventlab import process
    from eventlab.importers import import_file

    with tempfile.TemporaryDirectory() as work:
        store = el.EventStore.create(f"{work}/s")
        import_file(store, args["path"], stream_type="case")
        result: dict[str, Any] = {"events": store.head}
        with C.measure(result):
            variants = process.variants(store)
            dfg = process.directly_follows(store)
            durations = process.durations(store)
    start, end = process.start_end(dfg)
    inner = dfg.filter((pl.col("source") != process.START) & (pl.col("target") != process.END))
    seconds = [pl.col(c).dt.total_microseconds() / 1e6 for c in ("median_duration",
                                                                  "mean_duration")]
    perf = inner.select("source", "target", *seconds).rows()
    result.update(
        variants=sorted([v, n] for v, n in variants.select("variant", "streams").rows()),
        dfg=sorted([a, b, n] for a, b, n in inner.select("source", "target", "count").rows()),
        start=start, end=end,
        durations=sorted((durations["duration"].dt.total_microseconds() / 1e6).to_list()),
        edge_median={f"{a}|{b}": m for a, b, m, _ in perf},
        edge_mean={f"{a}|{b}": m for a, b, _, m in perf},
    )
    return result


def side_pm4py(args: dict[str, Any]) -> dict[str, Any]:
    import pm4py

    frame = pm4py.read_xes(args["path"])
    frame = pm4py.format_dataframe(frame, case_id="case:concept:name",
                                   activity_key="concept:name", timestamp_key="time:timestamp")
    result: dict[str, Any] = {"version": pm4py.__version__, "events": len(frame)}
    with C.measure(result):
        variants = pm4py.get_variants(frame)
        dfg, start, end = pm4py.discover_dfg(frame)
        durations = pm4py.get_all_case_durations(frame)
        perf, _, _ = pm4py.discover_performance_dfg(frame, perf_aggregation_key="all")
    result.update(
        variants=sorted([list(v), int(n)] for v, n in variants.items()),
        dfg=sorted([a, b, int(n)] for (a, b), n in dfg.items()),
        start={k: int(v) for k, v in pm4py.get_start_activities(frame).items()},
        end={k: int(v) for k, v in pm4py.get_end_activities(frame).items()},
        durations=sorted(float(d) for d in durations),
        edge_median={f"{a}|{b}": float(v["median"]) for (a, b), v in perf.items()},
        edge_mean={f"{a}|{b}": float(v["mean"]) for (a, b), v in perf.items()},
        dfg_start=start, dfg_end=end,
    )
    return result


SIDES = {"eventlab": side_eventlab, "pm4py": side_pm4py}


# ----------------------------------------------------------------- comparing
def close(a: Any, b: Any) -> bool:
    """Equal, with floats (seconds) equal to the microsecond (eventlab stores microseconds)."""
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1.5e-6)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(close(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(close(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def verdicts(ours: dict[str, Any], theirs: dict[str, Any]) -> dict[str, str]:
    out = {}
    for question in QUESTIONS:
        same = close(ours[question], theirs[question])
        size = len(ours[question])
        out[question] = f"equal ({size:,})" if same else f"DIFFERENT ({size:,} vs " \
            f"{len(theirs[question]):,})"
    if theirs.get("dfg_start") != theirs["start"] or theirs.get("dfg_end") != theirs["end"]:
        out["start"] += " (pm4py's discover_dfg and get_start_activities disagree)"
    return out


def main() -> None:
    from bench_import import find_pm4py_python, install_pm4py

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pm4py-python", default=None)
    parser.add_argument("--install-pm4py", metavar="DIR", default=None)
    opts = parser.parse_args()
    if opts.install_pm4py:
        install_pm4py(Path(opts.install_pm4py))
        opts.pm4py_python = str(Path(opts.install_pm4py) / "bin/python")
    pm4py_python = find_pm4py_python(opts.pm4py_python)
    if pm4py_python is None:
        raise SystemExit("pm4py not found: run with --install-pm4py ../bench-venv "
                         "(or set PM4PY_PYTHON)")
    rows, failures = [], 0
    for path in xes_logs():
        ours = C.run_side(SCRIPT, "eventlab", {"path": str(path)})
        theirs = C.run_side(SCRIPT, "pm4py", {"path": str(path)}, pm4py_python)
        if "error" in ours or "error" in theirs:
            rows.append([path.name, ours.get("error", "") or theirs.get("error", "")])
            failures += 1
            continue
        found = verdicts(ours, theirs)
        failures += sum("DIFFERENT" in v for v in found.values())
        rows.append([path.name, f"{ours['events']:,}", *found.values(),
                     f"{C.fmt(ours['seconds'], 3)} / {C.fmt(theirs['seconds'], 3)}",
                     theirs["version"]])
    header = ["log", "events", *QUESTIONS, "seconds eventlab / pm4py", "pm4py"]
    print(f"### eventlab.process vs pm4py\n_{C.machine()}; load average {C.load_average()}_\n")
    print(C.markdown_table(header, rows))
    sys.exit(1 if failures else 0)


if __name__ == "__main__" and not C.side_main(SIDES):
    main()
