"""Process managers: the order -> payment -> shipment saga, checkpoints, compensation, and
exactly-once effects when a run is killed and run again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from eventlab import EventStore, ValidationError
from eventlab import reducers as r
from eventlab.examples import orders as O
from eventlab.projections.spec import Projection
from eventlab.write import handle_many
from eventlab.write.process import ProcessManager

ROOT = Path(__file__).resolve().parents[1]
RUNNER = """
import sys
from eventlab import EventStore
from eventlab.examples import orders as O
O.fulfilment().run(EventStore.open(sys.argv[1]), O.deciders())
"""


def placed(tmp_path: Path, n: int, name: str = "s") -> EventStore:
    store = EventStore.create(tmp_path / name)
    handle_many(store, O.order_commands(n), O.deciders())
    return store


def expected(n: int) -> dict[str, set[str]]:
    """Which orders end how, from the generator's rules (independent of the saga)."""
    orders = O.order_commands(n)
    declined = orders.filter(pl.col("amount") > 500)["stream_id"]
    po_box = orders.filter(pl.col("address").str.contains("PO Box"))["stream_id"]
    everyone = set(orders["stream_id"])
    refunded = set(po_box) - set(declined)
    return {"declined": set(declined), "refunded": refunded,
            "completed": everyone - set(declined) - refunded}


def streams_with(store: EventStore, event_type: str) -> list[str]:
    store.refresh()
    return store.scan(event_types=[event_type]).collect()["stream_id"].sort().to_list()


def test_saga_charges_ships_completes_and_compensates(tmp_path: Path) -> None:
    store = placed(tmp_path, 35)
    run = O.fulfilment().run(store, O.deciders())
    want = expected(35)
    assert set(streams_with(store, "OrderCompleted")) == want["completed"]
    assert set(streams_with(store, "PaymentRefunded")) == want["refunded"]
    cancelled = store.scan(event_types=["OrderCancelled"]).collect()
    assert set(cancelled["stream_id"]) == want["declined"] | want["refunded"]
    whys = dict(cancelled.select("stream_id", "why").rows())
    assert all(whys[s].startswith("payment failed: card declined") for s in want["declined"])
    assert all(whys[s] == "shipment failed: the carrier does not deliver to PO boxes"
               for s in want["refunded"])
    refunds = store.scan(event_types=["PaymentRefunded"]).collect().join(
        O.order_commands(35).select("stream_id", "amount"), on="stream_id", suffix="_order")
    assert (refunds["amount"] == refunds["amount_order"]).all()  # from the saga's memory
    assert run.compensations == 2 * len(want["refunded"]) + len(want["declined"])
    assert (run.rejected, run.duplicates, run.checkpoint) == (
        len(want["declined"]) + len(want["refunded"]), 0, store.head)


def test_correlation_and_causation_follow_the_saga(tmp_path: Path) -> None:
    store = placed(tmp_path, 5)
    O.fulfilment().run(store, O.deciders())
    events = store.scan().collect().sort("position")
    per_order = events.group_by("stream_id").agg(pl.col("correlation_id").unique())
    assert per_order["correlation_id"].list.len().max() == 1
    first = events.filter(pl.col("stream_id") == "ord-00000")
    assert set(first["correlation_id"]) == {"place-0"}
    placed_id = first.filter(pl.col("event_type") == "OrderPlaced")["event_id"][0]
    charge = first.filter(pl.col("event_type") == "PaymentCharged")
    assert charge["causation_id"].to_list() == [f"fulfilment:{placed_id}:0"]
    assert charge["actor"].to_list() == ["process:fulfilment"]


def test_checkpoint_rerun_is_a_no_op_and_new_events_are_picked_up(tmp_path: Path) -> None:
    store = placed(tmp_path, 6)
    saga = O.fulfilment()
    saga.run(store, O.deciders())
    head = store.head
    again = saga.run(store, O.deciders())
    assert (again.rounds, again.issued, store.head) == (0, 0, head)
    assert saga.checkpoint(EventStore.open(store.root)) == head
    more = O.order_commands(8).tail(2)
    handle_many(store, more, O.deciders())
    later = saga.run(store, O.deciders())
    assert later.checkpoint_before == head and later.issued == 6  # charge, ship, complete x2
    assert set(later.commands["stream_id"]) == set(more["stream_id"])


def run_killed(store: EventStore, fault: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "EVENTLAB_FAULT"}
    env.update(PYTHONPATH=str(ROOT), EVENTLAB_PROGRESS="0", TZ="UTC", POLARS_MAX_THREADS="1",
               EVENTLAB_FAULT=fault)
    proc = subprocess.run([sys.executable, "-c", RUNNER, str(store.root)], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == -signal.SIGKILL, proc.stderr


def ids(store: EventStore) -> list[tuple[str, str, str]]:
    store.refresh()
    return sorted(store.scan().select("event_id", "event_type", "stream_id").collect().rows())


@pytest.mark.parametrize("rounds_first", [0, 1])
def test_killed_run_resumes_with_exactly_once_effects(tmp_path: Path, rounds_first: int) -> None:
    """Killed right after a commit (before journal and checkpoint): charging (round 1) or
    shipping with rejections (round 2, compensation not yet issued). The resumed run ends with
    exactly the events of an uninterrupted run."""
    clean = placed(tmp_path, 12, "clean")
    O.fulfilment().run(clean, O.deciders())
    store = placed(tmp_path, 12, "crashy")
    if rounds_first:
        O.fulfilment().run(store, O.deciders(), max_rounds=rounds_first)
    before = store.head
    run_killed(store, "after_switch")  # committed and visible, not journaled
    store.refresh()
    assert store.head > before  # the killed run did commit
    resumed = O.fulfilment().run(store, O.deciders())
    assert resumed.duplicates > 0
    assert ids(store) == ids(clean)


def test_process_definition_errors() -> None:
    with pytest.raises(ValidationError, match="plain, non-empty file name"):
        ProcessManager("a/b", on=[])
    with pytest.raises(ValidationError, match="keyed by correlation_id"):
        ProcessManager("p", on=[], state=Projection("m", fields={"n": r.count()}))


def test_process_run_html(tmp_path: Path) -> None:
    from eventlab.write.display import process_run_html

    store = placed(tmp_path, 3)
    run = O.fulfilment().run(store, O.deciders())
    html = process_run_html(run)
    assert run._repr_html_() == html and "Process manager fulfilment" in html
    assert f"0 → {store.head}" in html
