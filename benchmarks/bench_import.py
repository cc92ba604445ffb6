"""XES import: eventlab vs pm4py on the same ~262k-event file.

    python benchmarks/bench_import.py [--copies 31] [--repeat 2] [--pm4py-python PATH]
                                      [--install-pm4py DIR]

The file is made by repeating the traces of ``../shared/datasets/08_receipt.xes.gz`` (1,434
traces, 8,577 events) ``--copies`` times with new trace names (``case-10011`` ->
``case-10011-r7``), gzip-compressed like the logs people download: 31 copies = 265,887 events,
the size of BPI Challenge 2012 (262,200 events).

Sides (one process each): eventlab ``import_file(store, path)`` into a new store (parse, check,
append, commit), eventlab ``read_xes(path)`` alone (parse only), and ``pm4py.read_xes(path)``
(pandas DataFrame). pm4py is AGPL and heavy (numpy, pandas, scipy, matplotlib, lxml, cvxopt), so
it is no dependency of eventlab, not even an extra: it runs from its own virtualenv, found at
``--pm4py-python``, ``$PM4PY_PYTHON``, ``../bench-venv`` or ``.bench-venv``. Create one with
``--install-pm4py DIR`` (runs ``python -m venv DIR && DIR/bin/pip install pm4py psutil``).
"""

from __future__ import annotations

import argparse
import gzip
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

SCRIPT = Path(__file__).resolve()
SOURCE_NAME = "08_receipt.xes.gz"
TRACE = re.compile(r"<trace>.*?</trace>", re.S)
TRACE_NAME = re.compile(r'(<string key="concept:name" value=")([^"]*)(")')


# ----------------------------------------------------------------- the input file
def find_source() -> Path:
    for folder in (Path(os.environ.get("EVENTLAB_DATASETS", C.ROOT.parent / "shared/datasets")),
                   C.ROOT / "data"):
        if (folder / SOURCE_NAME).exists():
            return folder / SOURCE_NAME
    raise SystemExit(f"{SOURCE_NAME} not found in ../shared/datasets or data/ "
                     "(set EVENTLAB_DATASETS to the folder that has it)")


def _renamed(trace: str, copy: int) -> str:
    """The trace with its own concept:name (before its first event) suffixed ``-r<copy>``."""
    cut = trace.find("<event")
    head, rest = (trace, "") if cut < 0 else (trace[:cut], trace[cut:])
    return TRACE_NAME.sub(rf"\g<1>\g<2>-r{copy}\g<3>", head, count=1) + rest


def make_xes(source: Path, target: Path, copies: int) -> int:
    """Write ``copies`` repetitions of the source's traces (copy 0 keeps its names)."""
    text = gzip.decompress(source.read_bytes()).decode("utf-8")
    first, last = text.index("<trace>"), text.rindex("</trace>") + len("</trace>")
    traces = TRACE.findall(text, first, last)
    body = "\n\t".join(t if k == 0 else _renamed(t, k) for k in range(copies) for t in traces)
    with gzip.open(target, "wt", encoding="utf-8", compresslevel=6) as out:
        out.write(text[:first] + body + text[last:])
    return sum(t.count("<event>") + t.count("<event/>") for t in traces) * copies


# ----------------------------------------------------------------- sides (child processes)
def side_eventlab_import(args: dict[str, Any]) -> dict[str, Any]:
    from eventlab import EventStore
    from eventlab.importers import import_file

    shutil.rmtree(args["store"], ignore_errors=True)  # a repeated run starts from scratch
    store = EventStore.create(args["store"])
    result: dict[str, Any] = {}
    with C.measure(result):
        summary = import_file(store, args["path"], progress=False)
    result.update(events=summary.imported, quarantined=summary.quarantined,
                  read=summary.read, streams=summary.streams)
    return result


def side_eventlab_read(args: dict[str, Any]) -> dict[str, Any]:
    from eventlab.importers import read_xes

    result: dict[str, Any] = {}
    with C.measure(result):
        parsed = read_xes(args["path"])
    result.update(events=parsed.events.height, quarantined=parsed.quarantine.height,
                  columns=parsed.events.width)
    return result


def side_pm4py_read(args: dict[str, Any]) -> dict[str, Any]:
    import pm4py

    result: dict[str, Any] = {"version": pm4py.__version__}
    with C.measure(result):
        frame = pm4py.read_xes(args["path"])
    result.update(events=len(frame), columns=len(frame.columns))
    return result


SIDES = {
    "eventlab_import": side_eventlab_import,
    "eventlab_read": side_eventlab_read,
    "pm4py_read": side_pm4py_read,
}


# ----------------------------------------------------------------- parent
def find_pm4py_python(given: str | None) -> str | None:
    venvs = [C.ROOT.parent / "bench-venv", C.ROOT / ".bench-venv"]
    candidates = [given, os.environ.get("PM4PY_PYTHON"), *(str(v / "bin/python") for v in venvs)]
    for candidate in candidates:
        if candidate and Path(candidate).exists():
            check = subprocess.run([candidate, "-c", "import pm4py"], capture_output=True,
                                   check=False)
            if check.returncode == 0:
                return candidate
    return None


def install_pm4py(folder: Path) -> None:
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
    subprocess.run([str(folder / "bin/pip"), "install", "-q", "pm4py", "psutil"], check=True)


def report(events: int, size_mb: float, results: dict[str, dict[str, Any]]) -> str:
    labels = {
        "eventlab_import": "eventlab `import_file(store, path)` (parse + append + commit)",
        "eventlab_read": "eventlab `read_xes(path)` (parse only)",
        "pm4py_read": "pm4py `read_xes(path)` (pandas DataFrame)",
    }
    base = results["eventlab_import"].get("seconds")
    rows = []
    for key, label in labels.items():
        r = results[key]
        if "error" in r:
            rows.append([label, "-", "-", "-", "-", "-", "-", r["error"][:120]])
            continue
        note = f"pm4py {r['version']}" if "version" in r else (
            f"{r.get('quarantined', 0)} quarantined" if r.get("quarantined") else "")
        rows.append([label, f"{r['events']:,}", C.fmt(r["seconds"]),
                     f"{r['events'] / r['seconds']:,.0f}",
                     C.fmt(r["seconds"] / base) + "x" if base else "-", C.fmt(r["cpu_seconds"]),
                     C.fmt(r["process_peak_mb"], 0), note])
    header = ["side", "events", "seconds", "events/s", "time vs eventlab import",
              "CPU seconds", "process peak MB", "note"]
    runs = max(int(r.get("runs", 1)) for r in results.values())
    return "\n".join([
        f"### XES import: {events:,} events ({size_mb:.1f} MB .xes.gz, 08_receipt traces "
        "repeated with new names)",
        f"_{C.machine()}; load average at end {C.load_average()}_", "",
        C.markdown_table(header, rows), "",
        f"Each side ran {runs} time(s), each in a fresh process; the fastest run is shown.",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=31)
    parser.add_argument("--pm4py-python", default=None)
    parser.add_argument("--repeat", type=int, default=2,
                        help="processes per side (the fastest is kept)")
    parser.add_argument("--install-pm4py", metavar="DIR", default=None,
                        help="create a virtualenv with pm4py in DIR first, then use it")
    opts = parser.parse_args()
    if opts.install_pm4py:
        install_pm4py(Path(opts.install_pm4py))
        opts.pm4py_python = str(Path(opts.install_pm4py) / "bin/python")
    work = Path(tempfile.mkdtemp(prefix="eventlab-bench-import-"))
    try:
        path = work / f"receipt_x{opts.copies}.xes.gz"
        events = make_xes(find_source(), path, opts.copies)
        args = {"path": str(path)}
        pm4py_python = find_pm4py_python(opts.pm4py_python)
        results = {
            "eventlab_import": C.best_run(SCRIPT, "eventlab_import",
                                          {**args, "store": str(work / "s")}, opts.repeat),
            "eventlab_read": C.best_run(SCRIPT, "eventlab_read", args, opts.repeat),
            "pm4py_read": C.best_run(SCRIPT, "pm4py_read", args, opts.repeat, pm4py_python)
            if pm4py_python else {"error": "pm4py not found: run with --install-pm4py "
                                  "../bench-venv (or set PM4PY_PYTHON)"},
        }
        print(report(events, path.stat().st_size / C.MB, results))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__" and not C.side_main(SIDES):
    main()
