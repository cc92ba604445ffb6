"""The commit protocol's contract (eventlab/storage/protocol.py), run against every backend, and
the local backend's publication trees: adopting a store of the older layout, and what other
engines see at each step."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest
from helpers.batches import make_batch, partial_batches
from helpers.procs import files_on_disk, txn_leftovers

from eventlab import EventStore
from eventlab.storage import trees
from eventlab.storage.layout import META_FILE

Backend = Callable[[Path], EventStore]
BACKENDS: dict[str, Backend] = {"local": lambda path: EventStore.create(path)}


@pytest.fixture(params=sorted(BACKENDS))
def fresh(request: pytest.FixtureRequest, tmp_path: Path) -> EventStore:
    return BACKENDS[request.param](tmp_path / "store")


def engine_count(root: Path) -> int:
    query = f"select count(*) from read_parquet('{root}/events/**/*.parquet')"
    ((count,),) = duckdb.sql(query).fetchall()
    return int(count)


# ----------------------------------------------------------------- the contract
def test_a_stale_writer_gets_the_next_number_not_a_fork(fresh: EventStore) -> None:
    other = EventStore.open(fresh.root)  # looked before the first commit
    first = fresh.append(make_batch("a", 10))
    second = other.append(make_batch("b", 5))
    assert (first.commit, second.commit) == (1, 2)
    assert (second.first_position, second.last_position) == (11, 15)
    assert other.verify().ok


def test_readers_see_whole_commits_only(fresh: EventStore) -> None:
    reader = EventStore.open(fresh.root)
    for i in range(3):
        fresh.append(make_batch(f"b{i}", 20 + i))
        events = reader.scan().collect()
        assert partial_batches(events).height == 0 and events.height == reader.head
    assert reader.head == 63


def test_compaction_is_one_switch_for_other_engines(fresh: EventStore) -> None:
    for i in range(4):
        fresh.append(make_batch(f"b{i}", 12))
    before = engine_count(fresh.root)
    result = fresh.compact()
    assert result.files_removed > result.files_added
    assert engine_count(fresh.root) == before == fresh.head
    assert files_on_disk(fresh.root) == {f.path for f in fresh.files}


# ----------------------------------------------------------------- local: trees
def test_a_new_store_links_events_to_a_tree(tmp_path: Path) -> None:
    store = EventStore.create(tmp_path / "s")
    link = store.root / "events"
    assert link.is_symlink() and os.readlink(link) == "_tree/a.00000000000000000000"
    store.append(make_batch("x", 7))
    assert trees.active_version(store.root) == 1
    assert sorted(t.name for t in trees.trees(store.root)) == [
        "a.00000000000000000000", "b.00000000000000000001",
    ]
    assert engine_count(store.root) == 7


def make_older_layout(store: EventStore) -> None:
    """Turn a store into the layout of format 1: events/ a plain folder, no trees."""
    root = store.root
    real = root / "events.real"
    shutil.copytree(root / "events", real)  # follows the link: a plain copy of the files
    (root / "events").unlink()
    shutil.rmtree(root / "_tree")
    real.rename(root / "events")
    meta = json.loads((root / META_FILE).read_text())
    (root / META_FILE).write_text(json.dumps({**meta, "format": 1}))


def test_a_store_of_the_older_layout_is_adopted_on_first_write(tmp_path: Path) -> None:
    store = EventStore.create(tmp_path / "old")
    store.append(make_batch("a", 24))
    make_older_layout(store)
    # an interrupted commit of the older protocol: a published file the log does not list
    orphan = store.root / "events" / "stream_type=account" / "occurred_month=2024-01"
    orphan.mkdir(parents=True, exist_ok=True)
    shutil.copy(next((store.root / "events").rglob("*.parquet")), orphan / "c9-orphan.parquet")
    txn = store.root / "_txn" / "deadbeef"
    txn.mkdir(parents=True)
    rel = "events/stream_type=account/occurred_month=2024-01/c9-orphan.parquet"
    (txn / "intent.json").write_text(json.dumps({"txn": "deadbeef", "added": [rel],
                                                 "removed": []}))

    reader = EventStore(store.root)  # readers of the older layout still work, no recovery
    assert reader.head == 24 and trees.active_version(store.root) is None

    opened = EventStore.open(store.root)
    assert [a.split()[0] for a in opened.recovered] == ["rolled", "moved"]
    assert (store.root / "events").is_symlink() and txn_leftovers(store.root) == []
    assert engine_count(store.root) == 24 == opened.head
    opened.append(make_batch("b", 6))
    assert engine_count(store.root) == 30 and opened.verify().ok


def test_adoption_killed_between_rename_and_link_is_finished(tmp_path: Path) -> None:
    store = EventStore.create(tmp_path / "old")
    store.append(make_batch("a", 9))
    make_older_layout(store)
    root = store.root
    trees.adopt_folder(root, EventStore(root).log_state.files, 1)
    (root / "events").unlink()  # as if killed right after renaming the old folder away
    opened = EventStore.open(root)
    assert opened.recovered[0].startswith("linked events/")
    assert engine_count(root) == 9 and opened.verify().ok


def test_unpublished_commit_is_hidden_from_readers_until_recovered(tmp_path: Path) -> None:
    """A log entry whose switch never happened: readers stop before it, like other engines."""
    store = EventStore.create(tmp_path / "s")
    store.append(make_batch("a", 5))
    store.append(make_batch("b", 5))
    root = store.root
    # point events/ back at the tree of commit 1, as a writer killed before the switch leaves it
    older = next(t for t in trees.trees(root) if t.version == 1)
    trees._switch(root, older)
    assert EventStore(root).head == 5 == engine_count(root)
    opened = EventStore.open(root)
    assert opened.head == 10 == engine_count(root) and opened.verify().ok
    assert opened.recovered == ["completed interrupted commit 2"]
