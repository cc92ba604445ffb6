"""Command handling: ids on events, idempotency, rejections, concurrent writers, crashes."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from eventlab import ConcurrencyError, EventStore
from eventlab.examples.bank_domain import Deposit, OpenAccount, Withdraw, bank_decider
from eventlab.write import CommandRejected, handle, handle_many, load_state
from eventlab.write import journal as J

ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2024, 1, 1, tzinfo=UTC)
DECIDER = bank_decider(overdraft_limit=0.0)
WORKER = """
import json, sys
from eventlab import EventStore
from eventlab.examples.bank_domain import Deposit, Withdraw, bank_decider
from eventlab.write import handle
root, kind, stream, amount, cid = sys.argv[1:6]
command = {"Deposit": Deposit, "Withdraw": Withdraw}[kind](stream, amount=float(amount),
                                                           command_id=cid)
if len(sys.argv) > 6:  # wait for the go file, so that two workers start together
    import pathlib, time
    while not pathlib.Path(sys.argv[6]).exists():
        time.sleep(0.005)
out = handle(EventStore.open(root), command, bank_decider(overdraft_limit=0.0))
print(json.dumps({"accepted": out.accepted, "duplicate": out.duplicate, "reason": out.reason,
                  "events": out.events["event_id"].to_list(), "attempts": out.attempts}))
"""


def env(fault: str | None = None) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if k != "EVENTLAB_FAULT"}
    out.update(PYTHONPATH=str(ROOT), EVENTLAB_PROGRESS="0", TZ="UTC", POLARS_MAX_THREADS="1")
    if fault:
        out["EVENTLAB_FAULT"] = fault
    return out


def worker(root: Path, *args: object, fault: str | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", WORKER, str(root), *map(str, args)],
                            env=env(fault), cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def opened(store: EventStore, stream: str = "a1", balance: float = 100.0) -> None:
    handle(store, OpenAccount(stream, owner="Ada", command_id=f"open-{stream}",
                              occurred_at=T0), DECIDER).raise_if_rejected()
    if balance:
        handle(store, Deposit(stream, amount=balance, command_id=f"seed-{stream}",
                              occurred_at=T0 + timedelta(hours=1)), DECIDER).raise_if_rejected()


def caused_by(store: EventStore, command_id: str) -> pl.DataFrame:
    store.refresh()
    return store.scan().filter(pl.col("causation_id") == command_id).collect()


# ----------------------------------------------------------------------------- basics
def test_accepted_command_stamps_ids_time_and_version(store: EventStore) -> None:
    opened(store)
    when = T0 + timedelta(days=2)
    out = handle(store, Withdraw("a1", amount=30.0, command_id="w-1", correlation_id="case-9",
                                 actor="teller-4", occurred_at=when), DECIDER)
    assert (out.accepted, out.duplicate, out.version, out.attempts) == (True, False, 3, 1)
    stored = caused_by(store, "w-1")
    assert stored.select("event_id", "event_type", "version", "correlation_id", "actor",
                         "occurred_at", "amount").rows() == [
        ("w-1:0", "Withdrawn", 3, "case-9", "teller-4", when, 30.0)]
    assert caused_by(store, "open-a1")["correlation_id"].to_list() == ["open-a1"]  # default
    assert load_state(store, DECIDER, ["a1", "zz"]).select("stream_id", "balance",
                                                           "version").rows() == [
        ("a1", 70.0, 3), ("zz", 0.0, 0)]


def test_rejections_append_nothing_and_raise_on_request(store: EventStore) -> None:
    opened(store)
    head = store.head
    out = handle(store, Withdraw("a1", amount=500.0, command_id="big"), DECIDER)
    assert not out.accepted and out.stage == "decision" and out.events.height == 0
    assert out.reason == "insufficient funds: balance 100.0 minus 500.0 is below the " \
                         "overdraft limit -0.0"
    bad = handle(store, Withdraw("a1", amount=-1.0, command_id="neg"), DECIDER)
    assert (bad.stage, bad.reason) == ("validation", "field 'amount' must be > 0 (got -1.0)")
    with pytest.raises(CommandRejected, match=r"rejected: field 'amount' must be > 0") as info:
        bad.raise_if_rejected()
    assert isinstance(info.value, ValueError) and info.value.outcome is bad
    store.refresh()
    assert store.head == head
    logged = J.read(store.root).filter(pl.col("command_id").is_in(["big", "neg"]))
    assert sorted(logged.select("command_id", "outcome", "stage").rows()) == [
        ("big", "rejected", "decision"), ("neg", "rejected", "validation")]


def test_the_same_command_twice_yields_the_first_outcome(store: EventStore) -> None:
    opened(store, balance=10.0)
    first = handle(store, Withdraw("a1", amount=50.0, command_id="w"), DECIDER)
    handle(store, Deposit("a1", amount=100.0, command_id="d"), DECIDER)
    again = handle(store, Withdraw("a1", amount=50.0, command_id="w"), DECIDER)
    assert not first.accepted and not again.accepted and again.duplicate
    assert again.reason == first.reason  # the first outcome, though funds now suffice
    ok = handle(store, Deposit("a1", amount=5.0, command_id="d2"), DECIDER)
    head = store.head
    repeat = handle(store, Deposit("a1", amount=5.0, command_id="d2"), DECIDER)
    assert repeat.accepted and repeat.duplicate and store.head == head
    assert repeat.events["event_id"].to_list() == ok.events["event_id"].to_list() == ["d2:0"]
    assert repeat.version == ok.version
    assert caused_by(store, "d2").height == 1


# ----------------------------------------------------------------------------- batches
def test_handle_many_one_commit_in_input_order_with_duplicates(store: EventStore) -> None:
    opened(store, "a1", balance=0.0)
    frame = pl.DataFrame({
        "command_id": ["o2", "d1", "w1", "d1", "w2", "x", "open-a1", "d3"],
        "command_type": ["OpenAccount", "Deposit", "Withdraw", "Deposit", "Withdraw",
                         "Deposit", "OpenAccount", "Deposit"],
        "stream_id": ["a2", "a1", "a1", "a1", "a2", "a2", "a1", "a2"],
        "amount": [None, 40.0, 30.0, 40.0, 5.0, -3.0, None, 7.0],
        "owner": ["Bo", None, None, None, None, None, "Ada", None],
        "occurred_at": [T0 + timedelta(minutes=i) for i in range(8)],
    })
    result = handle_many(store, frame, DECIDER)
    assert result.append is not None and result.append.commit is not None
    assert result.append.appended == 4  # o2, d1, w1, d3: one atomic commit
    rows = result.outcomes.select("command_id", "outcome", "duplicate", "version").rows()
    assert rows == [
        ("o2", "accepted", False, 1), ("d1", "accepted", False, 2),
        ("w1", "accepted", False, 3), ("d1", "accepted", True, 2),
        ("w2", "rejected", False, 1), ("x", "rejected", False, None),
        ("open-a1", "accepted", True, 1), ("d3", "accepted", False, 2)]
    assert result.outcomes["reason"][4].startswith("insufficient funds: balance 0.0")
    stored = store.scan(stream_ids=["a2"]).collect().sort("version")
    assert stored.select("event_id", "version").rows() == [("o2:0", 1), ("d3:0", 2)]
    again = handle_many(store, frame, DECIDER)
    assert again.append is None and again.duplicates == 8
    assert again.outcomes.drop("duplicate").equals(result.outcomes.drop("duplicate"))


def test_handle_many_equals_handling_one_by_one(tmp_path: Path) -> None:
    from eventlab.examples.bank_domain import bank_commands

    commands = bank_commands(40, 4, seed=5)
    batch = EventStore.create(tmp_path / "batch")
    single = EventStore.create(tmp_path / "single")
    strict = bank_decider(overdraft_limit=0.0)
    handle_many(batch, commands, strict)
    from eventlab.write.commands import Command

    for row in commands.iter_rows(named=True):
        data = {k: row[k] for k in ("amount", "owner") if row[k] is not None}
        handle(single, Command(row["command_type"], row["stream_id"], data, row["command_id"],
                               row["occurred_at"]), strict)
    columns = ["event_id", "stream_id", "version", "event_type", "occurred_at", "amount",
               "owner", "causation_id"]
    a = batch.scan().collect().select(columns).sort("event_id")
    b = single.scan().collect().select(columns).sort("event_id")
    assert a.height > 10 and a.equals(b)


# ----------------------------------------------------------------------------- concurrency
class RacingStore(EventStore):
    """A real store; before some appends, another writer commits to the same stream."""

    race: list[Any]

    def append(self, events: pl.DataFrame, **options: Any) -> Any:
        if self.race:
            self.race.pop(0)()
        return super().append(events, **options)


def test_concurrent_writer_makes_handle_retry_on_fresh_state(tmp_path: Path) -> None:
    store = RacingStore.create(tmp_path / "s")
    store.race = []
    opened(store, balance=100.0)
    store.race = [lambda: finish(worker(store.root, "Withdraw", "a1", 50, "other"))]
    out = handle(store, Withdraw("a1", amount=80.0, command_id="mine"), DECIDER)
    assert out.attempts == 2 and not out.accepted  # first attempt: stale balance 100
    assert out.reason == ("insufficient funds: balance 50.0 minus 80.0 is below the overdraft "
                          "limit -0.0")
    assert caused_by(store, "mine").height == 0 and caused_by(store, "other").height == 1


def test_handle_many_retries_the_whole_batch_on_fresh_state(tmp_path: Path) -> None:
    store = RacingStore.create(tmp_path / "s")
    store.race = []
    opened(store, "a1", balance=100.0)
    opened(store, "a2", balance=100.0)
    rival = EventStore.open(tmp_path / "s")
    store.race = [lambda: handle(rival, Withdraw("a2", amount=90.0, command_id="rival"),
                                 DECIDER)]
    frame = pl.DataFrame({"command_id": ["x1", "x2", "x3"],
                          "command_type": ["Withdraw", "Withdraw", "Deposit"],
                          "stream_id": ["a1", "a2", "a2"], "amount": [60.0, 50.0, 5.0]})
    result = handle_many(store, frame, DECIDER)
    assert result.attempts == 2 and result.append is not None
    assert result.outcomes.select("command_id", "outcome", "version").rows() == [
        ("x1", "accepted", 3), ("x2", "rejected", 3), ("x3", "accepted", 4)]
    assert load_state(store, DECIDER, ["a1", "a2"])["balance"].to_list() == [40.0, 15.0]


def test_retries_are_bounded_and_nothing_is_appended(tmp_path: Path) -> None:
    store = RacingStore.create(tmp_path / "s")
    store.race = []
    opened(store, balance=100.0)
    rival = EventStore.open(tmp_path / "s")
    counter = iter(range(100))

    def rival_deposit() -> None:
        handle(rival, Deposit("a1", amount=1.0, command_id=f"r{next(counter)}"), DECIDER)

    store.race = [rival_deposit] * 3
    with pytest.raises(ConcurrencyError, match="gave up after 3 attempts") as info:
        handle(store, Deposit("a1", amount=5.0, command_id="mine"), DECIDER, retries=2)
    assert info.value.conflicts["stream_id"].to_list() == ["a1"]
    assert caused_by(store, "mine").height == 0
    assert not J.read(store.root)["command_id"].is_in(["mine"]).any()


def test_two_processes_handling_the_same_command_append_it_once(tmp_path: Path) -> None:
    store = EventStore.create(tmp_path / "s")
    opened(store, balance=10.0)
    go = tmp_path / "go"
    procs = [worker(store.root, "Deposit", "a1", 25, "same-cmd", go) for _ in range(2)]
    go.touch()
    results = [finish(p) for p in procs]
    assert all(r["accepted"] for r in results)
    assert [r["events"] for r in results] == [["same-cmd:0"], ["same-cmd:0"]]
    assert sum(r["duplicate"] for r in results) == 1
    assert caused_by(store, "same-cmd").height == 1
    assert load_state(store, DECIDER, ["a1"])["balance"].to_list() == [35.0]


@pytest.mark.parametrize("point", ["after_commit", "after_switch"])
def test_killed_after_commit_before_journal_is_repaired_on_retry(
    tmp_path: Path, point: str
) -> None:
    """Killed once the commit is logged (after_commit: not yet visible, the retry's recovery
    publishes it; after_switch: visible): the retry finds the events and journals them once."""
    store = EventStore.create(tmp_path / "s")
    opened(store, balance=10.0)
    proc = worker(store.root, "Deposit", "a1", 5, "crashy", fault=point)
    proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL
    visible = ["crashy:0"] if point == "after_switch" else []
    assert caused_by(store, "crashy")["event_id"].to_list() == visible
    head = store.head
    store = EventStore.open(store.root)  # recovery publishes a logged commit
    assert store.head == head + (1 if point == "after_commit" else 0)
    assert caused_by(store, "crashy")["event_id"].to_list() == ["crashy:0"]
    assert not J.read(store.root)["command_id"].is_in(["crashy"]).any()
    head = store.head
    out = handle(store, Deposit("a1", amount=5.0, command_id="crashy"), DECIDER)
    assert out.accepted and out.duplicate and store.head == head
    assert out.events["event_id"].to_list() == ["crashy:0"]
    assert J.read(store.root).filter(pl.col("command_id") == "crashy")["outcome"].to_list() == [
        "accepted"]


# ----------------------------------------------------------------------------- state loading
def test_state_for_decisions_starts_from_a_snapshot(store: EventStore) -> None:
    opened(store, balance=100.0)
    view = store.project(DECIDER.projection)
    snap = view.snapshot()
    handle(store, Deposit("a1", amount=1.0, command_id="after"), DECIDER)
    assert load_state(store, DECIDER, ["a1"])["balance"].to_list() == [101.0]
    # Prove the snapshot is read: a doctored snapshot changes the loaded state.
    doctored = pl.read_parquet(snap.path).with_columns(pl.col("deposited") + 1000)
    doctored.write_parquet(snap.path)
    os.utime(snap.path, ns=(1, 1))  # new mtime: bypass the snapshot read cache
    assert load_state(store, DECIDER, ["a1"])["balance"].to_list() == [1101.0]
    out = handle(store, Withdraw("a1", amount=500.0, command_id="w"), DECIDER)
    assert out.accepted  # decided on the (doctored) snapshot state


def test_journal_keeps_the_command_payload(store: EventStore) -> None:
    handle(store, OpenAccount("a9", owner="Zoe", command_id="o9", occurred_at=T0), DECIDER)
    row = J.read(store.root).filter(pl.col("command_id") == "o9").row(0, named=True)
    assert json.loads(row["payload"])["owner"] == "Zoe"
    assert (row["outcome"], row["stream_type"], row["occurred_at"]) == ("accepted", "account",
                                                                       T0)


# ----------------------------------------------------------------------------- notebook face
def test_outcome_and_result_html(store: EventStore) -> None:
    from eventlab.write.display import handle_result_html, outcome_html

    opened(store, balance=5.0)
    out = handle(store, Withdraw("a1", amount=9.0, command_id="w<9>"), DECIDER)
    html = outcome_html(out)
    assert out._repr_html_() == html
    assert "rejected (decision)" in html and "w&lt;9&gt;" in html and "balance 5.0" in html
    frame = pl.DataFrame({"command_type": ["Deposit", "Deposit"], "stream_id": ["a1", "a1"],
                          "amount": [1.0, -1.0]})
    result = handle_many(store, frame, DECIDER)
    html = handle_result_html(result)
    assert result._repr_html_() == html
    assert re.search(r">accepted</t[dh]>\s*<td[^>]*>1</td>", html), html  # the count row
    assert "field &#x27;amount&#x27; must be &gt; 0" in html  # top rejection reasons


def test_misuse_is_reported_with_what_to_do(store: EventStore) -> None:
    from eventlab import ValidationError

    with pytest.raises(ValidationError, match="handle_many for a frame"):
        handle(store, pl.DataFrame({"x": [1]}), DECIDER)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="Polars DataFrame or Command values"):
        handle_many(store, [{"command_type": "Deposit"}], DECIDER)  # type: ignore[list-item]
    with pytest.raises(ValidationError, match="expected Decider"):
        handle_many(store, [Deposit("a", amount=1.0)], ["not a decider"])  # type: ignore[list-item]
    everything = load_state(store, DECIDER)
    assert everything.height == 0 and "balance" in everything.columns


# ----------------------------------------------------------------------------- journal upkeep
COMPACT_JOURNAL = """
import sys
from eventlab import EventStore
from eventlab.write import compact_journal
print(compact_journal(EventStore.open(sys.argv[1])))
"""


def journal_files(store: EventStore) -> list[Path]:
    return sorted(J.folder(store.root).glob("j-*.parquet"))


def handled_one_by_one(store: EventStore) -> pl.DataFrame:
    opened(store, balance=10.0)
    handle(store, Withdraw("a1", amount=50.0, command_id="too-much"), DECIDER)
    handle(store, Deposit("a1", amount=-1.0, command_id="negative"), DECIDER)
    handle(store, Deposit("a1", amount=2.0, command_id="fine"), DECIDER)
    assert len(journal_files(store)) == 5
    return J.read(store.root)


def test_compacting_the_journal_keeps_every_first_outcome(store: EventStore) -> None:
    from eventlab.cli import main
    from eventlab.write import compact_journal

    before = handled_one_by_one(store)
    result = compact_journal(store)
    assert (result.files_merged, result.commands) == (5, 5)
    assert len(journal_files(store)) == 1
    assert J.read(store.root).equals(before)
    again = handle(store, Withdraw("a1", amount=50.0, command_id="too-much"), DECIDER)
    assert again.duplicate and not again.accepted and "insufficient" in (again.reason or "")
    handle(store, Deposit("a1", amount=3.0, command_id="later"), DECIDER)
    assert main(["compact", str(store.root)]) == 0
    assert len(journal_files(store)) == 1
    assert J.read(store.root)["command_id"].to_list() == [*before["command_id"], "later"]
    assert compact_journal(store).files_merged == 0  # one file: nothing to merge


@pytest.mark.parametrize("point", ["journal_merged", "journal_partly_removed"])
def test_a_killed_journal_compaction_loses_and_doubles_nothing(
    store: EventStore, point: str
) -> None:
    before = handled_one_by_one(store)
    proc = subprocess.run([sys.executable, "-c", COMPACT_JOURNAL, str(store.root)],
                          env=env(point), cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    left = journal_files(store)
    assert 1 < len(left) <= 6  # the merged file next to (some of) the originals
    rows = pl.concat([pl.read_parquet(p) for p in left])
    assert rows.height > before.height  # rows are there twice on disk ...
    assert J.read(store.root).equals(before)  # ... and once for readers
    again = handle(store, Deposit("a1", amount=-1.0, command_id="negative"), DECIDER)
    assert again.duplicate and again.reason == before.filter(
        pl.col("command_id") == "negative")["reason"].item()
    done = subprocess.run([sys.executable, "-c", COMPACT_JOURNAL, str(store.root)],
                          env=env(), cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert len(journal_files(store)) == 1 and J.read(store.root).equals(before)
