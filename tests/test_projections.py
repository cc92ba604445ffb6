"""Projection specs, temporal queries, upcasters and diffs: scenarios a user would try."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from eventlab import (
    EventStore,
    Projection,
    PythonFold,
    Upcaster,
    ValidationError,
    diff_frames,
    load_projections,
)
from eventlab import reducers as r
from eventlab.projections.expressions import parse_expression

SPEC = """
[projections.fines]
stream_types = ["fine"]
key = "stream_id"
[projections.fines.fields]
events      = { reducer = "count" }
amount      = { reducer = "sum", column = "amount", on = ["Create Fine", "Add penalty"] }
paid        = { reducer = "sum", column = "paymentAmount", on = ["Payment"] }
last_event  = { reducer = "last", column = "event_type" }
opened_at   = { reducer = "min", column = "occurred_at" }
status      = { reducer = "status", map = { "Create Fine" = "open", "Payment" = "paid" } }
kinds       = { reducer = "count_distinct", column = "event_type" }
[projections.fines.derived]
outstanding = "amount - paid"
"""
D = datetime(2020, 1, 1, tzinfo=UTC)


def fines(store: EventStore) -> None:
    store.append(
        pl.DataFrame(
            {
                "stream_type": "fine",
                "stream_id": ["A", "A", "B", "A", "B"],
                "event_type": ["Create Fine", "Payment", "Create Fine", "Add penalty", "Payment"],
                "occurred_at": [
                    D,
                    D + timedelta(days=31),
                    D + timedelta(days=4),
                    D + timedelta(days=60),
                    D + timedelta(days=61),
                ],
                "amount": [10.0, None, 5.0, 2.0, None],
                "paymentAmount": [None, 4.0, None, None, 5.0],
            }
        )
    )


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    path = tmp_path / "spec.toml"
    path.write_text(SPEC)
    return path


def test_issue_toml_spec_folds_a_ledger(store: EventStore, spec: Path) -> None:
    fines(store)
    state = store.project(spec, name="fines").state()
    assert state.to_dicts() == [
        {
            "stream_id": "A",
            "events": 3,
            "amount": 12.0,
            "paid": 4.0,
            "last_event": "Add penalty",
            "opened_at": D,
            "status": "paid",
            "kinds": 3,
            "outstanding": 8.0,
        },
        {
            "stream_id": "B",
            "events": 2,
            "amount": 5.0,
            "paid": 5.0,
            "last_event": "Payment",
            "opened_at": D + timedelta(days=4),
            "status": "paid",
            "kinds": 2,
            "outstanding": 0.0,
        },
    ]
    early = store.project(spec, name="fines").state(at=D + timedelta(days=10))
    assert early["outstanding"].to_list() == [10.0, 5.0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[projections.x]\nkey = 'stream_id'\n", "needs a [projections.x.fields]"),
        ("[projections.x.fields]\na = { reducer = 'median', column = 'v' }\n", "unknown reducer"),
        ("[projections.x.fields]\na = { reducer = 'sum' }\n", "needs an input"),
        ("[projections.x.fields]\na = { reducer = 'count', colour = 'v' }\n", "keys ['colour']"),
        ("[projections.x.fields]\na = { reducer = 'status' }\n", "needs a mapping"),
        ("[projections.x.fields]\na = 3\n", "must be a table"),
        ("nothing = 1\n", "has no [projections.<name>] table"),
        ("[projections.x\n", "is not valid TOML"),
    ],
)
def test_bad_specs_are_clear_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ValidationError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_projections(path)


def test_unknown_projection_and_unknown_column(store: EventStore, spec: Path) -> None:
    fines(store)
    with pytest.raises(ValidationError, match=r"it defines 'fines'"):
        store.project(spec, name="tickets")
    typo = Projection("t", fields={"x": r.sum("amout")})
    with pytest.raises(ValidationError, match="amout"):
        store.project(typo).state()


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os').system('true')",
        "amount.__class__",
        "[x for x in y]",
        "lambda: 1",
        "amount[0]",
        "open('f')",
        "x if y else z",
        "{'a': 1}",
    ],
)
def test_spec_expressions_are_data_never_executed(text: str) -> None:
    with pytest.raises(ValidationError):
        parse_expression(text)


def test_spec_expressions_translate_to_polars() -> None:
    frame = pl.DataFrame({"a": [1.0, None, 3.0], "b": [1.0, 2.0, None], "t": ["x", "y", "z"]})
    out = frame.select(
        parse_expression("coalesce(a, 0) - b * 2").alias("m"),
        parse_expression("t in ['x', 'z'] and not is_null(a)").alias("f"),
        parse_expression("-abs(a) >= -1 or t == 'y'").alias("g"),
    )
    assert out.to_dict(as_series=False) == {
        "m": [-1.0, -4.0, None],
        "f": [True, False, True],
        "g": [True, True, False],
    }


def test_backdated_correction_is_seen_only_from_when_it_was_recorded(tmp_path: Path) -> None:
    """Bitemporal: what did we know on K about T."""
    now = [datetime(2024, 3, 1, tzinfo=UTC)]
    store = EventStore.create(tmp_path / "s", clock=lambda: now[0])
    rows = {"stream_type": "account", "stream_id": "acc-1"}
    store.append(
        pl.DataFrame(
            {
                **rows,
                "event_type": ["Opened", "Deposited"],
                "occurred_at": [D, D + timedelta(days=10)],
                "amount": [None, 100.0],
            }
        )
    )
    now[0] = datetime(2024, 6, 1, tzinfo=UTC)  # three months later we learn of a withdrawal...
    store.append(
        pl.DataFrame(
            {
                **rows,
                "event_type": ["Withdrawn"],
                "occurred_at": [D + timedelta(days=5)],
                "amount": [30.0],
            }
        )
    )
    balance = Projection(
        "balance",
        fields={
            "balance": r.sum(
                pl.when(pl.col("event_type") == "Withdrawn")
                .then(-pl.col("amount"))
                .otherwise(pl.col("amount"))
            )
        },
    )
    view = store.project(balance)
    day20 = D + timedelta(days=20)
    assert view.state(at=day20, known_at="2024-04-01")["balance"].to_list() == [100.0]
    assert view.state(at=day20, known_at="2024-07-01")["balance"].to_list() == [70.0]
    assert view.state(at=D + timedelta(days=7))["balance"].to_list() == [-30.0]
    learned = view.changes("2024-04-01", "2024-07-01", axis="known_at", at=day20)
    assert learned.summary() == {"added": 0, "removed": 0, "changed": 1}
    assert learned.long().row(0) == ("acc-1", "balance", "100.0", "70.0")


def test_upcasters_chain_when_reading_and_never_rewrite_files(store: EventStore) -> None:
    store.append(
        pl.DataFrame(
            {
                "stream_type": "fine",
                "stream_id": ["A", "B"],
                "event_type": "Payment",
                "occurred_at": [D, D],
                "paymentAmount": [4.0, 6.0],
            }
        )
    )
    store.append(
        pl.DataFrame(
            {
                "stream_type": "fine",
                "stream_id": ["A"],
                "event_type": "Payment",
                "occurred_at": [D],
                "schema_version": [3],
                "amount_cents": [250],
            }
        )
    )
    before = {f.path: f.sha256 for f in store.files}
    paid = Projection(
        "paid",
        fields={"paid": r.sum("amount_cents")},
        upcasters=(
            Upcaster("Payment", 1, rename={"paymentAmount": "amount"}),
            Upcaster("Payment", 2, set={"amount_cents": (pl.col("amount") * 100).cast(pl.Int64)}),
        ),
    )
    assert store.project(paid).state().to_dicts() == [
        {"stream_id": "A", "paid": 650},
        {"stream_id": "B", "paid": 600},
    ]
    assert {f.path: f.sha256 for f in store.files} == before


def test_python_fold_is_the_escape_hatch(store: EventStore) -> None:
    fines(store)

    def step(state: dict[str, float], event: dict[str, object]) -> dict[str, float]:
        amount = event["amount"] or 0.0
        return {"peak": max(state["peak"], state["now"] + amount), "now": state["now"] + amount}

    peak = PythonFold("peak", init=lambda: {"peak": 0.0, "now": 0.0}, step=step)
    view = store.project(peak)
    assert view.state().to_dicts() == [
        {"stream_id": "A", "peak": 12.0, "now": 12.0},
        {"stream_id": "B", "peak": 5.0, "now": 5.0},
    ]
    # history rows come in valid-time order (A, B, A, A, B by occurred_at); commit order on demand
    assert view.history()["peak"].to_list() == [10.0, 5.0, 10.0, 12.0, 5.0]
    assert view.history(order="recorded")["peak"].to_list() == [10.0, 10.0, 5.0, 12.0, 5.0]
    with pytest.raises(ValidationError, match="PythonFold"):
        view.export(store.root.parent / "out")


def test_timeline_metrics_and_grid_limit(store: EventStore, spec: Path) -> None:
    fines(store)
    view = store.project(spec, name="fines")
    metrics = view.timeline(
        every="1mo",
        metrics={
            "outstanding": pl.col("outstanding").sum(),
            "open": (pl.col("status") == "open").sum(),
        },
    )
    assert metrics["outstanding"].to_list() == [10.0, 11.0, 13.0, 8.0]
    assert metrics["open"].to_list() == [1, 1, 1, 0]
    from eventlab.projections.timeline import timeline_frame

    assert isinstance(view.projection, Projection)
    events = store.scan(include=view.projection.source_columns())
    with pytest.raises(ValidationError, match="over the limit"):
        timeline_frame(events, view.projection, [D, D + timedelta(days=90)], limit=1)


def test_diff_against_an_external_csv_read_model(
    store: EventStore, spec: Path, tmp_path: Path
) -> None:
    fines(store)
    ours = store.project(spec, name="fines").state().select("stream_id", "paid", "status")
    external = tmp_path / "prod.csv"
    external.write_text("stream_id,paid,status\nA,4.0,paid\nB,3.0,paid\nC,1.0,open\n")
    diff = diff_frames(ours, pl.read_csv(external, infer_schema=False), "stream_id")
    assert diff.summary() == {"only_in_a": 0, "only_in_b": 1, "changed": 1}
    assert diff.changed.row(0, named=True) == {
        "stream_id": "B",
        "changed_columns": ["paid"],
        "paid_a": 5.0,
        "paid_b": 3.0,
        "status_a": "paid",
        "status_b": "paid",
    }
    assert dict(diff.mismatches.iter_rows()) == {"paid": 1, "status": 0}
    assert "read models differ" in diff._repr_html_()
    with pytest.raises(ValidationError, match="repeated key"):
        diff_frames(ours, pl.concat([ours, ours]), "stream_id")


def test_ordered_runs_chain_only_files_that_follow_each_other() -> None:
    from eventlab.storage.log import DataFile
    from eventlab.store.scan import ordered_runs

    def f(name: str, lo: int, hi: int) -> DataFile:
        return DataFile(name, "t", "2020-01", hi - lo + 1, 1, "", lo, hi, "", "")

    runs = ordered_runs([f("jan", 1, 10), f("feb", 11, 20), f("mar-a", 5, 30), f("mar-b", 31, 40)])
    assert [[x.path for x in run] for run in runs] == [["jan", "feb", "mar-b"], ["mar-a"]]


def test_a_time_ordered_store_folds_as_one_run(store: EventStore) -> None:
    months = [D + timedelta(days=31 * i) for i in range(6)]
    store.append(
        pl.DataFrame(
            {
                "stream_type": "fine",
                "stream_id": ["A", "B"] * 3,
                "event_type": "Payment",
                "occurred_at": months,
                "paymentAmount": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            }
        )
    )
    parts, rows = store.scan_partitions(stream_types=["fine"])
    assert (len(parts), rows, len(store.files)) == (1, 6, 6)
    last = Projection("p", fields={"paid": r.last("paymentAmount")})
    assert store.project(last).state()["paid"].to_list() == [5.0, 6.0]


def test_snapshots_for_an_earlier_commit_and_no_progress_output(
    store: EventStore, capsys: pytest.CaptureFixture[str]
) -> None:
    fines(store)
    store.append(
        pl.DataFrame(
            {
                "stream_type": "fine",
                "stream_id": ["A"],
                "event_type": "Payment",
                "occurred_at": [D + timedelta(days=5)],
                "paymentAmount": [6.0],
            }
        )
    )
    view = store.project(
        Projection("paid", stream_types=["fine"], fields={"paid": r.sum("paymentAmount")})
    )
    snaps = view.build_snapshots(every="1mo", at_position=5, progress=False)
    assert {s.position for s in snaps} == {5}
    from eventlab.projections.snapshots import best_snapshot

    at = D + timedelta(days=40)
    newest = max(s.at for s in snaps if s.at is not None and s.at <= at)
    for position in (5, 6):  # the position-5 snapshot serves queries at P >= 5
        best = best_snapshot(store, view.projection, at, position)  # type: ignore[arg-type]
        assert best is not None and (best.at, best.position) == (newest, 5)
    assert best_snapshot(store, view.projection, at, 4) is None  # type: ignore[arg-type]
    assert view.state(at=at, at_position=5)["paid"].to_list() == [4.0, 0.0]
    assert view.state(at=at)["paid"].to_list() == [10.0, 0.0]
    assert view.state(at=at, use_snapshots=False)["paid"].to_list() == [10.0, 0.0]
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


def test_prune_snapshots_keeps_the_newest_position_and_drops_older_specs(
    store: EventStore,
) -> None:
    import os

    from eventlab.projections.snapshots import folder

    fines(store)
    paid = Projection("paid", stream_types=["fine"], fields={"paid": r.sum("paymentAmount")})
    older_spec = Projection("paid", stream_types=["fine"], fields={"paid": r.max("paymentAmount")})
    neighbour = Projection("paid-b", stream_types=["fine"], fields={"n": r.count()})
    view = store.project(paid)
    at_first = view.build_snapshots(every="1mo", progress=False)
    stale = store.project(older_spec).build_snapshots(every="1mo", progress=False)
    kept_neighbour = store.project(neighbour).build_snapshots(every="1mo", progress=False)
    store.append(pl.DataFrame({
        "stream_type": "fine", "stream_id": ["B"], "event_type": "Payment",
        "occurred_at": [D + timedelta(days=3)], "paymentAmount": [1.0],
    }))
    at_head = view.build_snapshots(every="1mo", progress=False)
    base = folder(store, paid)
    old_tmp, new_tmp = base / ".tmp-old.parquet", base / ".tmp-new.parquet"
    for tmp in (old_tmp, new_tmp):
        tmp.write_bytes(b"half a snapshot")
    os.utime(old_tmp, (0, 0))
    doomed = [s.path for s in at_first + stale] + [old_tmp]
    size = sum(p.stat().st_size for p in doomed)

    result = view.prune_snapshots()

    assert (result.files_removed, result.bytes_freed, result.kept) == (
        len(doomed), size, len(at_head))
    assert not any(p.exists() for p in doomed)
    assert not folder(store, older_spec).exists()
    assert all(s.path.exists() for s in at_head + kept_neighbour) and new_tmp.exists()
    assert view.state(at=D + timedelta(days=40)).equals(
        view.state(at=D + timedelta(days=40), use_snapshots=False))
    assert view.state(at=D + timedelta(days=70), at_position=5)["paid"].to_list() == [4.0, 5.0]
    everything = view.prune_snapshots(keep=0)
    assert (everything.files_removed, everything.kept) == (len(at_head), 0)
    assert view.state().equals(view.state(use_snapshots=False))
    with pytest.raises(ValidationError, match=r"keep=-1 is negative.*keep=0"):
        view.prune_snapshots(keep=-1)


def test_a_snapshot_pruned_by_another_process_after_listing_is_folded_around(
    store: EventStore,
) -> None:
    """The listing is cached by the folder's mtime; a file removed behind it (another process
    pruning in the same second) must not fail a query: it folds from the events instead."""
    import os

    from eventlab.projections.snapshots import best_snapshot, folder

    fines(store)
    paid = Projection("paid", stream_types=["fine"], fields={"paid": r.sum("paymentAmount")})
    view = store.project(paid)
    view.build_snapshots(every="1mo", progress=False)
    at = D + timedelta(days=62)
    chosen = best_snapshot(store, paid, at, store.head)
    assert chosen is not None
    base = folder(store, paid)
    stamp = base.stat()
    chosen.path.unlink()
    os.utime(base, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))  # the race: listing still cached
    assert best_snapshot(store, paid, at, store.head) == chosen
    assert view.state(at=at)["paid"].to_list() == [4.0, 5.0]


def test_building_snapshots_again_reuses_the_ones_already_built(store: EventStore) -> None:
    """A re-run cell or a reopened widget folds only the checkpoints that are missing."""
    fines(store)
    store.append(pl.DataFrame({
        "stream_type": "fine", "stream_id": ["A", "C"], "event_type": "Payment",
        "occurred_at": [D + timedelta(days=70), D + timedelta(days=100)],
        "paymentAmount": [7.0, 8.0],
    }))
    view = store.project(
        Projection("paid", stream_types=["fine"], fields={"paid": r.sum("paymentAmount")})
    )
    first = view.build_snapshots(every="1w", progress=False)
    assert len(first) > 3
    stamps = {s.path: s.path.stat().st_mtime_ns for s in first}
    again = view.build_snapshots(every="1w", progress=False)
    assert again == first
    assert {s.path: s.path.stat().st_mtime_ns for s in again} == stamps  # nothing rewritten
    # lose the last two: only those are folded again, from the one before, with the same state
    expected = [s.load() for s in first]
    for lost in first[-2:]:
        lost.path.unlink()
    rebuilt = view.build_snapshots(every="1w", progress=False)
    assert [s.path for s in rebuilt] == [s.path for s in first]
    assert all(s.path.stat().st_mtime_ns == stamps[s.path] for s in rebuilt[:-2])
    assert all(a.load().equals(b) for a, b in zip(rebuilt, expected, strict=True))
    # a new commit is another position: all checkpoints are built for it
    store.append(pl.DataFrame({
        "stream_type": "fine", "stream_id": ["A"], "event_type": "Payment",
        "occurred_at": [D + timedelta(days=2)], "paymentAmount": [1.0],
    }))
    newer = view.build_snapshots(every="1w", progress=False)
    assert {s.position for s in newer} == {store.head}
    assert newer[-1].load()["paid"].sum() == expected[-1]["paid"].sum() + 1.0
