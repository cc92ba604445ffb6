"""``store.compact()`` changes no event and survives SIGKILL at every fault point;
``store.verify()`` detects every kind of tampering, and works on stores ``open`` refuses."""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from conftest import events
from helpers.batches import make_batch
from helpers.procs import (
    FAULT_POINTS,
    ROLLED_FORWARD,
    files_on_disk,
    killed,
    run_worker,
    txn_leftovers,
)
from polars.testing import assert_frame_equal

from eventlab import CorruptStoreError, EventStore, StoreNotFoundError, ValidationError
from eventlab.storage.log import GENESIS_HASH, hash_body
from eventlab.store import compact as C
from eventlab.store.verify import MAX_PER_KIND, Finding, VerifyReport, verify_store
from eventlab.store.writer import file_sha256

Entry = dict[str, Any]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 commits of 24 events, 12 files each (3 stream types x 4 months)."""
    root = tmp_path_factory.mktemp("template") / "store"
    store = EventStore.create(root)
    for name in ("b1", "b2", "b3"):
        store.append(make_batch(name, 24))
    return root


@pytest.fixture
def root(template: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "store"
    shutil.copytree(template, copy, symlinks=True)  # keep events/ a link
    return copy


def all_events(root: Path) -> pl.DataFrame:
    return EventStore(root).scan().collect().sort("position")


def findings(report: VerifyReport, kind: str) -> list[Finding]:
    return [f for f in report.findings if f.kind == kind]


def log_entries(root: Path) -> list[Entry]:
    return [json.loads(p.read_text()) for p in sorted((root / "_log").glob("*.json"))]


def write_log(root: Path, entries: list[Entry], *, reseal: bool) -> None:
    """Write entries back; ``reseal`` recomputes every hash and prev_hash (a careful forger)."""
    prev = GENESIS_HASH
    for entry in entries:
        if reseal:
            entry["prev_hash"] = prev
            entry["hash"] = hash_body({k: v for k, v in entry.items() if k != "hash"})
            prev = entry["hash"]
        (root / "_log" / f"{entry['number']:020d}.json").write_text(json.dumps(entry))


def first_file(root: Path, commit: int, stream_type: str = "account") -> str:
    entry = log_entries(root)[commit - 1]
    return next(f["path"] for f in entry["added"] if f["stream_type"] == stream_type)


def rewrite_file(root: Path, rel: str, change: Callable[[pl.DataFrame], pl.DataFrame]) -> None:
    path = root / rel
    change(pl.read_parquet(path)).write_parquet(path)


# ----------------------------------------------------------------- compact
def test_compact_merges_files_and_changes_no_event(root: Path) -> None:
    store = EventStore.open(root)
    before, old_files = all_events(root), {f.path for f in store.files}
    known = [store.scan(known_at=c["recorded_at"]).collect().sort("position")
             for c in log_entries(root)]
    assert len(old_files) == 36

    result = store.compact()
    assert (result.commit, result.files_before, result.files_after) == (4, 36, 12)
    assert (result.files_removed, result.files_added, result.partitions) == (36, 12, 12)
    assert result.events_rewritten == 72 and result.bytes_after < result.bytes_before
    assert_frame_equal(all_events(root), before)
    for commit, then in zip(log_entries(root)[:3], known, strict=True):
        assert_frame_equal(store.scan(known_at=commit["recorded_at"]).collect().sort("position"),
                           then)
    entry = log_entries(root)[-1]
    assert (entry["kind"], entry["events"], entry["first_position"]) == ("compact", 0, None)
    assert set(entry["removed"]) == old_files
    assert entry["info"]["content_sha256"] == result.content_sha256
    assert files_on_disk(root) == {f.path for f in store.files} == {
        f["path"] for f in entry["added"]
    }
    assert store.head == 72 and store.verify().ok
    assert store.append(make_batch("after", 3)).first_position == 73
    assert EventStore.open(root).verify().ok


def test_content_hash_is_that_of_the_events_before(root: Path) -> None:
    store = EventStore.open(root)
    schema = C.store_schema(store.log_state)
    digest = C.content_sha256(C.file_hashes(root, store.files, schema))
    assert store.compact().content_sha256 == digest
    assert C.content_sha256(C.file_hashes(root, store.files, schema)) == digest


def test_a_reader_opened_before_compaction_refreshes(root: Path) -> None:
    reader = EventStore.open(root)
    before = reader.scan().collect().sort("position")
    EventStore.open(root).compact()
    reader.refresh()
    assert len(reader.files) == 12
    assert_frame_equal(reader.scan().collect().sort("position"), before)


def test_compact_keeps_files_below_the_row_target(tmp_path: Path) -> None:
    store = EventStore.create(tmp_path / "store")
    for _ in range(10):
        store.append(events(["a"] * 10))  # one partition, 10 files of 10 rows
    store.append(events(["b"] * 40))  # one file already above the target
    result = store.compact(target_rows=25)
    rows = sorted(f.rows for f in store.files)
    assert rows == [20, 20, 20, 20, 20, 40]
    assert (result.files_removed, result.files_added) == (10, 5)
    assert store.verify().ok


def test_compact_with_nothing_to_merge_commits_nothing(tmp_path: Path) -> None:
    store = EventStore.create(tmp_path / "store")
    store.append(make_batch("only", 24))
    logs = sorted((store.root / "_log").iterdir())
    result = store.compact()
    assert result.commit is None and result.content_sha256 is None
    assert result.files_before == result.files_after == 12
    assert sorted((store.root / "_log").iterdir()) == logs
    assert "nothing to merge" in result._repr_html_()


def test_compact_refuses_to_reseal_tampered_files(root: Path) -> None:
    rel = first_file(root, 2)
    rewrite_file(root, rel, lambda f: f.with_columns(pl.col("amount") * 100))
    store = EventStore.open(root)
    logs = sorted((root / "_log").iterdir())
    refused = r"differ from the commit log.*store.verify\(\)"
    with pytest.raises(CorruptStoreError, match=refused) as caught:
        store.compact()
    assert rel in str(caught.value)
    assert sorted((root / "_log").iterdir()) == logs and txn_leftovers(root) == []
    assert findings(store.verify(), "file_sha256")[0].where == rel


def test_content_guard_refuses_different_events(root: Path) -> None:
    """The last line of defence: before/after hashes differ -> nothing staged stays."""
    store = EventStore.open(root)
    frame = store.scan().collect()
    staging = store.protocol.stage()
    staging.path("events/x.parquet").write_bytes(b"staged")
    changed = frame.with_columns(
        pl.when(pl.col("position") == 5).then(None).otherwise("amount").alias("amount")
    )
    with pytest.raises(CorruptStoreError, match="would change the store's events"):
        C._same_content([C.row_hashes(frame)], [C.row_hashes(changed)], staging)
    assert txn_leftovers(root) == []


@pytest.mark.parametrize(
    ("a", "b"),
    [([1.0], [float("nan")]), ([None], [float("nan")]), ([0.0], [-0.0]), ([b"a"], [b"b"]),
     ([[1, 2]], [[2, 1]]), (["x"], [None])],
)
def test_row_hash_tells_apart(a: list[Any], b: list[Any]) -> None:
    def digest(values: list[Any]) -> str:
        frame = pl.DataFrame({"position": [1], "v": values})
        return C.content_sha256([C.row_hashes(frame)])

    assert digest(a) != digest(b)


def test_row_hash_ignores_memory_layout() -> None:
    """The same rows hash the same however Polars holds them (chunks, row order of the input:
    hashes are taken in position order), or compaction would see changed events."""
    rows = pl.DataFrame({"position": [1, 2, 3], "v": ["x", None, "z"], "n": [1.5, 2.0, -0.5]})
    chunked = pl.concat([rows.slice(0, 1), rows.slice(1, 2)], rechunk=False)
    assert chunked.n_chunks() == 2
    shuffled = rows.reverse()
    digests = {C.content_sha256([C.row_hashes(f)]) for f in (rows, chunked, shuffled)}
    assert len(digests) == 1
    split = C.content_sha256([C.row_hashes(rows.slice(2, 1)), C.row_hashes(rows.slice(0, 2))])
    assert split in digests


@pytest.mark.parametrize("bad", [0, 1, -5, 2.5, True, "many"])
def test_compact_rejects_a_bad_target(root: Path, bad: Any) -> None:
    with pytest.raises(ValidationError, match=r"target_rows=.* is not valid"):
        EventStore.open(root).compact(target_rows=bad)


def test_compact_result_is_a_frozen_value_with_html(root: Path) -> None:
    result = EventStore.open(root).compact()
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.commit = 9  # type: ignore[misc]
    html = result._repr_html_()
    assert "36 → 12" in html and result.content_sha256 is not None
    assert result.content_sha256 in html


@pytest.mark.parametrize("point", FAULT_POINTS)
def test_killed_compaction_shows_old_or_new_files_never_both(root: Path, point: str) -> None:
    before, old = all_events(root), files_on_disk(root)
    assert killed(run_worker("compact", root, 1000, fault=point))
    # through the log (no recovery yet) the events are the same: never both file sets, and
    # engines reading events/ see exactly the same files
    assert_frame_equal(all_events(root), before)
    reader = EventStore(root)
    assert files_on_disk(root) == {f.path for f in reader.files}
    if point == "after_switch":  # switched: the 12 merged files replaced the 36 at once
        assert len(files_on_disk(root)) == 12 and not files_on_disk(root) & old
    else:
        assert files_on_disk(root) == old
    assert len(txn_leftovers(root)) == (0 if point == "before_stage" else 1), "not mid-commit"

    store = EventStore.open(root)
    assert_frame_equal(all_events(root), before)
    live = {f.path for f in store.files}
    assert files_on_disk(root) == live
    merged = point in (*ROLLED_FORWARD, "after_switch")
    assert (live == old) != merged and len(live) == (12 if merged else 36)
    assert txn_leftovers(root) == []
    assert [a.split()[0] for a in store.recovered] == (
        ["completed"] if point in ROLLED_FORWARD
        else [] if point in ("before_stage", "after_switch") else ["rolled"]
    )
    assert store.verify().ok
    again = store.compact()
    assert (again.commit is None) == merged
    assert_frame_equal(all_events(root), before)
    assert len(store.files) == 12 and store.verify().ok


# ----------------------------------------------------------------- verify
def test_clean_store_verifies(root: Path) -> None:
    report = EventStore.open(root).verify()
    assert report.ok and report.findings == ()
    assert (report.commits, report.events, report.files) == (3, 72, 36)
    assert report.head_hash == log_entries(root)[-1]["hash"]
    assert "verify: ok" in report._repr_html_()
    assert report.to_frame().height == 0


def test_modified_file_bytes(root: Path) -> None:
    rel = first_file(root, 2)
    data = bytearray((root / rel).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (root / rel).write_bytes(bytes(data))
    report = verify_store(root)
    assert not report.ok
    (sha,) = findings(report, "file_sha256")
    assert sha.where == rel and file_sha256(root / rel) in sha.detail


def test_deleted_file(root: Path) -> None:
    rel = first_file(root, 2)  # account, 2024-01 of commit 2: seq 0 and 12 of batch b2
    (root / rel).unlink()
    report = verify_store(root)
    assert [f.where for f in findings(report, "file_missing")] == [rel]
    assert [f.where for f in findings(report, "position_gap")] == [
        "positions 25..25", "positions 37..37"
    ]
    assert report.kinds() == {"file_missing", "position_gap", "version_gap"}


def test_replaced_file_same_rows_other_values(root: Path) -> None:
    rel = first_file(root, 3)
    rewrite_file(root, rel, lambda f: f.with_columns(pl.col("amount") + 1))
    report = verify_store(root)
    assert report.kinds() == {"file_sha256"}
    assert report.findings[0].where == rel


def test_replaced_file_with_fewer_rows(root: Path) -> None:
    rel = first_file(root, 3)
    rewrite_file(root, rel, lambda f: f.head(1))
    report = verify_store(root)
    assert report.kinds() == {"file_sha256", "file_rows", "position_gap"}
    assert "holds 1 rows, the log recorded 2" in findings(report, "file_rows")[0].detail


def test_injected_file(root: Path) -> None:
    rel = first_file(root, 1)
    injected = rel.replace(".parquet", "-extra.parquet")
    shutil.copy(root / rel, root / injected)
    report = verify_store(root)
    assert report.kinds() == {"file_unlisted"}
    assert report.findings[0].where == injected
    assert EventStore.open(root).scan().collect().height == 72  # the store ignores it


def test_many_findings_are_capped(root: Path) -> None:
    rel = first_file(root, 1)
    for i in range(MAX_PER_KIND + 5):
        shutil.copy(root / rel, root / rel.replace(".parquet", f"-x{i}.parquet"))
    unlisted = findings(verify_store(root), "file_unlisted")
    assert len(unlisted) == MAX_PER_KIND + 1
    assert unlisted[-1].detail == "5 more finding(s) of this kind"


def test_edited_log_entry(root: Path) -> None:
    entries = log_entries(root)
    entries[1]["added"][0]["rows"] = 3  # hide an event, keep the stored hash
    write_log(root, entries, reseal=False)
    report = verify_store(root)
    (mismatch,) = findings(report, "hash_mismatch")
    assert mismatch.where == "commit 2 (_log/00000000000000000002.json)"
    assert "edited" in mismatch.detail
    EventStore.open(root)  # LogState trusts stored hashes: open works, verify is how you find out


def test_edited_log_entry_with_its_hash_recomputed(root: Path) -> None:
    entries = log_entries(root)
    entries[1]["recorded_at"] = "2020-01-01T00:00:00+00:00"
    entries[1]["hash"] = hash_body({k: v for k, v in entries[1].items() if k != "hash"})
    write_log(root, entries, reseal=False)
    with pytest.raises(CorruptStoreError, match="broken chain"):
        EventStore.open(root)
    report = verify_store(root)
    assert report.kinds() == {"chain_broken"}
    assert report.findings[0].where.startswith("commit 3 ")


def test_deleted_log_entry(root: Path) -> None:
    removed = log_entries(root)[1]
    (root / "_log" / "00000000000000000002.json").unlink()
    with pytest.raises(CorruptStoreError):
        EventStore.open(root)
    report = verify_store(root)
    assert [f.where for f in findings(report, "log_missing")] == ["commit 2"]
    assert findings(report, "chain_broken")[0].where.startswith("commit 3 ")
    assert {f.where for f in findings(report, "file_unlisted")} == {
        f["path"] for f in removed["added"]
    }
    assert "first position 49 does not follow the last committed position 24" in {
        f.detail for f in findings(report, "commit_inconsistent")
    }
    assert [f.where for f in findings(report, "position_gap")] == ["positions 25..48"]


def test_reordered_log_entries(root: Path) -> None:
    log = root / "_log"
    second, third = log / "00000000000000000002.json", log / "00000000000000000003.json"
    second.rename(log / "swap")
    third.rename(second)
    (log / "swap").rename(third)
    with pytest.raises(CorruptStoreError):
        EventStore.open(root)
    report = verify_store(root)
    assert [f.where.split(" (")[0] for f in findings(report, "log_misnamed")] == [
        "commit 2", "commit 3"
    ]
    assert findings(report, "chain_broken")


def test_consistent_rewrite_is_caught_only_by_an_anchor(root: Path) -> None:
    anchor = EventStore.open(root).info().head_hash
    rel = first_file(root, 1)
    rewrite_file(root, rel, lambda f: f.with_columns(pl.col("amount") * 0))
    entries = log_entries(root)
    for data_file in entries[0]["added"]:
        if data_file["path"] == rel:
            data_file.update(sha256=file_sha256(root / rel), bytes=(root / rel).stat().st_size)
    write_log(root, entries, reseal=True)
    assert verify_store(root).ok  # a forger who rewrites the whole chain is invisible...
    report = verify_store(root, anchor=anchor)  # ...to a reader who kept an old head hash
    assert report.kinds() == {"anchor_missing"}
    assert verify_store(root, anchor=verify_store(root).head_hash).ok


def test_event_level_checks_behind_a_consistent_log(root: Path) -> None:
    """A forged file whose log entry was resealed: positions, versions and ids still tell."""
    rel = first_file(root, 3)
    other_id = all_events(root)["event_id"][0]
    row = pl.int_range(pl.len())
    rewrite_file(root, rel, lambda f: f.with_columns(
        version=pl.col("version") + 10,
        event_id=pl.when(row == 0).then(pl.lit(other_id)).otherwise("event_id"),
        position=pl.when(row == 1).then(pl.lit(1, pl.Int64)).otherwise("position"),
    ))
    entries = log_entries(root)
    for data_file in entries[2]["added"]:
        if data_file["path"] == rel:
            data_file.update(sha256=file_sha256(root / rel), bytes=(root / rel).stat().st_size)
    write_log(root, entries, reseal=True)
    report = verify_store(root)
    assert report.kinds() == {
        "position_duplicate", "position_gap", "version_gap", "event_id_duplicate"
    }
    assert findings(report, "position_duplicate")[0].where == "position 1"
    assert findings(report, "event_id_duplicate")[0].where == f"event_id {other_id!r}"
    assert all(f.where.startswith("stream account/") for f in findings(report, "version_gap"))


def test_interrupted_commit_is_pending_not_injected(root: Path) -> None:
    """Killed after its log entry: verify names the unpublished commit and its staging folder,
    and finds nothing foreign in events/ (nor in the half-updated spare tree)."""
    assert killed(run_worker("append", root, "crash", 24, fault="after_publish"))
    report = verify_store(root)
    assert report.kinds() == {"txn_pending"}
    wheres = sorted(f.where for f in report.findings)
    assert wheres[0] == "_txn/" + txn_leftovers(root)[0] and wheres[1] == "commit 4"
    assert "not yet visible in events/" in findings(report, "txn_pending")[1].detail
    assert report.events == 72  # the three visible commits
    assert EventStore.open(root).verify().ok


def test_an_injected_file_in_the_spare_tree_is_found(root: Path) -> None:
    """The spare publication tree becomes events/ at the next commit: verify checks it too."""
    spare = [p for p in (root / "_tree").iterdir() if p.resolve() != (root / "events").resolve()]
    (folder,) = spare
    victim = next(folder.rglob("*.parquet"))
    (victim.parent / "extra.parquet").write_bytes(victim.read_bytes())
    (folder / "stream_type=evil").mkdir()
    report = verify_store(root)
    assert report.kinds() == {"file_unlisted", "folder_unlisted"}
    assert findings(report, "file_unlisted")[0].where.startswith(f"_tree/{folder.name}/")


def test_links_and_stray_folders_in_events_are_found(root: Path) -> None:
    """Polars and DuckDB follow a symlinked folder inside events/: verify must see it."""
    outside = root.parent / "elsewhere"
    outside.mkdir()
    (root / "events" / "stream_type=account" / "sneaky").symlink_to(outside)
    (root / "events" / "stream_type=ghost").mkdir()
    report = verify_store(root)
    assert report.kinds() == {"link_in_events", "folder_unlisted"}
    assert findings(report, "link_in_events")[0].where == "events/stream_type=account/sneaky"
    assert findings(report, "folder_unlisted")[0].where == "events/stream_type=ghost"


def test_stray_and_unreadable_log_files(root: Path) -> None:
    (root / "_log" / "notes.txt").write_text("hello")
    (root / "_log" / "00000000000000000004.json").write_text("{not json")
    report = verify_store(root)
    assert [f.where for f in findings(report, "log_stray")] == ["_log/notes.txt"]
    assert findings(report, "log_unreadable")[0].where.startswith("commit 4 ")


def test_compaction_keeps_verify_green_and_new_files_are_checked(root: Path) -> None:
    store = EventStore.open(root)
    store.compact()
    assert store.verify().ok
    rel = store.files[0].path
    rewrite_file(root, rel, lambda f: f.with_columns(pl.col("amount") - 1))
    assert [f.where for f in findings(store.verify(), "file_sha256")] == [rel]


def test_verify_needs_a_store(tmp_path: Path) -> None:
    with pytest.raises(StoreNotFoundError, match="not an eventlab store"):
        verify_store(tmp_path)


def test_report_html_escapes_and_lists_findings() -> None:
    finding = Finding("version_gap", "stream a/<script>", "x & y")
    report = VerifyReport(False, (finding,), GENESIS_HASH, 1, 2, 3)
    html = report._repr_html_()
    assert "PROBLEMS FOUND" in html and "&lt;script&gt;" in html and "<script>" not in html
    assert report.to_frame().rows() == [("version_gap", "stream a/<script>", "x & y")]


def test_cli_verify_reports_a_store_that_open_refuses(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from eventlab.cli import main

    assert main(["verify", str(root)]) == 0
    (root / "_log" / "00000000000000000002.json").unlink()
    assert main(["verify", str(root)]) == 1
    out = capsys.readouterr().out
    assert "log_missing: commit 2" in out and "chain_broken" in out
