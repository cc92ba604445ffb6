"""Process analytics as temporal folds: variants, directly-follows, durations, time in state,
rework and drift, at any point of valid time (``at=``) and transaction time (``known_at=``).

Every function takes a store (or ``store.project(...)``, or an in-memory :class:`ProcessLog`)
and returns a Polars DataFrame::

    from eventlab import process
    process.variants(store, stream_types="application", top=10)
    process.directly_follows(store, at="2011-06-01")
    process.durations(store, at="2011-06-01", known_at="2011-07-01")

Inside a stream, events are in valid-time order: ``occurred_at``, ties broken by ``position``
(the order in which they were committed). pm4py users: ``variants`` is ``get_variants``,
``directly_follows`` is ``discover_dfg`` (with performance) plus start and end activities,
``durations`` is ``get_all_case_durations``.
"""

from eventlab.process.drift import process_drift
from eventlab.process.flow import directly_follows, rework, start_end, variants
from eventlab.process.log import END, START, ProcessLog, read_log
from eventlab.process.timing import durations, state_summary, time_in_state

__all__ = [
    "END",
    "START",
    "ProcessLog",
    "directly_follows",
    "durations",
    "process_drift",
    "read_log",
    "rework",
    "start_end",
    "state_summary",
    "time_in_state",
    "variants",
]
