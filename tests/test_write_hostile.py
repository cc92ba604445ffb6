"""The write side on hostile stores: garbage in the command journal, a store whose events are all
of other stream types."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from eventlab import CorruptStoreError, EventStore
from eventlab.examples.bank_domain import Deposit, OpenAccount, Withdraw, bank_decider
from eventlab.write import compact_journal, handle, what_if

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def fines_only(root: Path) -> EventStore:
    store = EventStore.create(root)
    store.append(pl.DataFrame({
        "stream_type": ["fine"], "stream_id": ["F1"], "event_type": ["Create Fine"],
        "occurred_at": [T0], "points": [3],
    }))
    return store


def test_a_decider_starts_on_a_store_holding_only_other_stream_types(tmp_path: Path) -> None:
    """Issue 16.13: the bank decider's first command used to raise ValidationError (its state
    columns `amount` and `owner` were unknown to the store)."""
    store = fines_only(tmp_path / "store")
    decider = bank_decider(overdraft_limit=0.0)
    opened = handle(store, OpenAccount("acc-1", owner="Ann", occurred_at=T0), decider)
    assert opened.accepted and opened.version == 1
    assert handle(store, Deposit("acc-1", amount=50.0), decider).accepted
    refused = handle(store, Withdraw("acc-1", amount=80.0), decider)
    assert not refused.accepted and "insufficient funds" in (refused.reason or "")
    refused_first = handle(store, Deposit("acc-2", amount=5.0), decider)
    assert not refused_first.accepted and "not open" in (refused_first.reason or "")
    assert store.info().stream_types == {"account": 2, "fine": 1}


@pytest.mark.parametrize("content", [b"", b"PAR1 not parquet", b"\x00" * 64])
def test_garbage_in_the_journal_is_a_clear_error(tmp_path: Path, content: bytes) -> None:
    store = fines_only(tmp_path / "store")
    decider = bank_decider()
    assert handle(store, OpenAccount("acc-1", owner="Ann"), decider).accepted  # a real file
    bad = store.root / "_commands" / "j-00000000000000000001-000000000000.parquet"
    bad.write_bytes(content)
    with pytest.raises(CorruptStoreError, match=f"{bad.name} is not a journal file"):
        handle(store, Deposit("acc-1", amount=1.0), decider)
    with pytest.raises(CorruptStoreError, match="move that file out"):
        compact_journal(store)
    with pytest.raises(CorruptStoreError, match="is not a journal file"):
        what_if(store, decider, source="journal")
    assert bad.read_bytes() == content and len(list(bad.parent.glob("j-*.parquet"))) == 2
    bad.unlink()  # the hint's remedy works
    assert handle(store, Deposit("acc-1", amount=1.0), decider).accepted


def test_a_parquet_file_of_another_table_in_the_journal(tmp_path: Path) -> None:
    store = fines_only(tmp_path / "store")
    folder = store.root / "_commands"
    folder.mkdir()
    pl.DataFrame({"x": [1]}).write_parquet(folder / "j-00000000000000000001-000000000000.parquet")
    with pytest.raises(CorruptStoreError, match="lacks the journal columns"):
        handle(store, OpenAccount("acc-1", owner="Ann"), bank_decider())
