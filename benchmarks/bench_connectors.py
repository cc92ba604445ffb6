"""Import throughput from Postgres (Marten tables): columnar readers vs row-by-row psycopg.

    python benchmarks/bench_connectors.py [--marten-events 500000] [--batch 250000]

Starts a throw-away PostgreSQL server (Debian's postgresql package, as the tests do:
tests/helpers/pgserver.py), fills Marten-shaped tables with ``--marten-events`` events in SQL
(three aggregate types, three tenants, nested jsonb objects and arrays), then, per engine,
measures one full read of ``mt_events`` joined with ``mt_streams``:

- read: the query's rows as a Polars frame (ADBC, connectorx: Arrow, no per-row Python;
  psycopg: Python tuples, the baseline);
- map: those rows -> eventlab events (JSON flattening per event type, checks, ids);
- import: ``import_source`` into a new store (read + map + append + checkpoint).

Events/s = events / seconds (wall; CPU seconds are shown too: the machine is shared).
Benchmarks are not tests: nothing asserts on time.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))
import _common as C  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--marten-events", type=int, default=500_000)
    parser.add_argument("--batch", type=int, default=250_000)
    parser.add_argument("--engines", default="adbc,connectorx,psycopg")
    args = parser.parse_args()
    import psycopg
    from helpers import marten_fill
    from helpers.pgserver import start_server

    server = start_server()
    try:
        streams = max(1, args.marten_events // 5)
        with psycopg.connect(server.url, autocommit=True) as conn:
            marten_fill.create(conn)
            started = time.perf_counter()
            events = marten_fill.fill(conn, streams=streams, per_stream=5)
            conn.execute("ANALYZE")
            fill = time.perf_counter() - started
        rows = [run(server.url, engine, events, args.batch) for engine in
                args.engines.split(",")]
    finally:
        server.stop()
    print(f"Marten import from Postgres, {events:,} events (fill {fill:.1f} s); "
          f"{C.machine()}; load average {C.load_average()}\n")
    print(C.markdown_table(
        ["engine", "read s", "read events/s", "map s", "read+map events/s", "import s",
         "import events/s", "import CPU s"], rows))


def run(url: str, engine: str, events: int, batch: int) -> list[object]:
    from eventlab import EventStore
    from eventlab.sources.connect import import_source
    from eventlab.sources.databases.marten import MartenSource, _schema
    from eventlab.sources.databases.postgres import PgUrl, read_query

    source = MartenSource(PgUrl.parse(url), engine=engine, settle_seconds=0)
    layout = source._layout()
    read: dict[str, float] = {}
    with C.measure(read):
        frame = read_query(source.url, source._sql(layout, 0, events + 10), _schema(layout),
                           engine=engine)
    mapped: dict[str, float] = {}
    with C.measure(mapped):
        source.parse(frame, conjoined=layout.conjoined)
    imported: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as folder:
        store = EventStore.create(Path(folder) / "store")
        with C.measure(imported):
            summary = import_source(store, url, kind="marten", engine=engine,
                                    settle_seconds=0, batch_size=batch, progress=False)
        assert summary.imported == events, summary
    both = read["seconds"] + mapped["seconds"]
    return [engine, C.fmt(read["seconds"]), f"{events / read['seconds']:,.0f}",
            C.fmt(mapped["seconds"]), f"{events / both:,.0f}", C.fmt(imported["seconds"]),
            f"{events / imported['seconds']:,.0f}", C.fmt(imported["cpu_seconds"])]


if __name__ == "__main__":
    main()
