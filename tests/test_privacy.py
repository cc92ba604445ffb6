"""Crypto-shredding: personal columns encrypted per subject; forget destroys the subject's key,
after which every reader shows "[redacted]" while event files and log stay unchanged."""

from __future__ import annotations

import base64
import json
import stat
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from eventlab import (
    CorruptStoreError,
    EventStore,
    OptionalDependencyError,
    Projection,
    ValidationError,
)
from eventlab import reducers as r
from eventlab.cli import main
from eventlab.privacy import REDACTED, key_id, load_config, read_audit
from eventlab.privacy.forget import forget_result_html
from eventlab.projections.export import ReadModel
from eventlab.storage.privacy.codec import PREFIX, cipher, decrypt_tokens, decrypt_value
from eventlab.storage.privacy.keys import KEYS_DIR

T0 = datetime(2024, 3, 1, tzinfo=UTC)
CUSTOMERS = Projection("customers", stream_types=("customer",), fields={
    "name": r.last("name"), "email": r.last("email"), "orders": r.count(),
    "spent": r.sum("amount"),
})


def customers(ids: list[str], names: list[str], amounts: list[float] | None = None,
              start: datetime = T0, **extra: list[object]) -> pl.DataFrame:
    n = len(ids)
    return pl.DataFrame({
        "stream_type": ["customer"] * n, "stream_id": ids, "event_type": ["Ordered"] * n,
        "occurred_at": [start + timedelta(days=i) for i in range(n)],
        "name": names, "email": [f"{x.lower()}@example.org" for x in names],
        "amount": amounts or [10.0] * n, **extra,
    })


def event_bytes(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for folder in ("events", "_log") for p in (root / folder).rglob("*") if p.is_file()}


@pytest.fixture
def store(tmp_path: Path) -> EventStore:
    store = EventStore.create(tmp_path / "store")
    store.declare_personal("customer", columns=["name", "email"], subject="stream_id")
    store.append(customers(["c1", "c2", "c1", "c3"], ["Ada", "Bob", "Ada", "Cy"],
                           [5.0, 7.0, 1.0, 2.0]))
    return store


def test_round_trip_reads_plaintext_and_stores_only_ciphertext(store: EventStore) -> None:
    events = store.scan().sort("position").collect()
    assert events["name"].to_list() == ["Ada", "Bob", "Ada", "Cy"]
    assert events["email"].to_list()[1] == "bob@example.org"
    raw = pl.concat([pl.read_parquet(store.root / f.path) for f in store.files])
    assert raw["name"].str.starts_with(PREFIX).all() and raw["email"].str.starts_with(PREFIX).all()
    assert raw["amount"].sort().to_list() == [1.0, 2.0, 5.0, 7.0]  # not personal: in clear
    blob = b"".join(event_bytes(store.root).values())
    for secret in (b"Ada", b"Bob", b"example.org"):
        assert secret not in blob
    # equal (subject, value) pairs of one batch share a ciphertext; other subjects never do
    by_id = raw.sort("position").group_by("stream_id").agg(pl.col("name").n_unique())
    assert dict(by_id.iter_rows()) == {"c1": 1, "c2": 1, "c3": 1}
    assert raw["name"].n_unique() == 3


def test_keys_live_in_the_key_store_never_in_event_files(store: EventStore) -> None:
    folder = store.root / KEYS_DIR
    keys = sorted(folder.glob("*.key"))
    assert [k.stem for k in keys] == sorted(key_id(s) for s in ("c1", "c2", "c3"))
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    blob = b"".join(event_bytes(store.root).values())
    for key_file in keys:
        key = key_file.read_bytes()
        assert len(key) == 32 and stat.S_IMODE(key_file.stat().st_mode) == 0o600
        for form in (key, base64.b64encode(key), base64.urlsafe_b64encode(key), key.hex().encode()):
            assert form not in blob


def test_forget_redacts_state_history_export_and_scan(store: EventStore, tmp_path: Path) -> None:
    view = store.project(CUSTOMERS)
    out = tmp_path / "exports"
    before_export = view.export(out).read_model
    assert before_export.read().filter(pl.col("stream_id") == "c1")["name"].item() == "Ada"
    files_before = event_bytes(store.root)
    anchor = store.verify().head_hash

    result = store.forget("c1")
    assert (result.had_key, result.events, result.key_id) == (True, 2, key_id("c1"))

    state = view.state().sort("stream_id")
    assert state["name"].to_list() == [REDACTED, "Bob", "Cy"]
    assert state["email"].to_list() == [REDACTED, "bob@example.org", "cy@example.org"]
    assert state["spent"].to_list() == [6.0, 7.0, 2.0]  # non-personal fields are untouched
    history = view.history(keys=["c1"])
    assert history["name"].to_list() == [REDACTED, REDACTED]
    assert store.scan(stream_ids="c1").collect()["email"].to_list() == [REDACTED, REDACTED]
    # the log is immutable and still verifies, up to the anchor an auditor kept
    assert event_bytes(store.root) == files_before
    report = store.verify(anchor=anchor)
    assert report.ok and report.head_hash == anchor
    # an export written before keeps its values (documented); the next export rebuilds
    assert ReadModel.open(before_export.path).read().filter(
        pl.col("stream_id") == "c1")["name"].item() == "Ada"
    again = view.export(out)
    assert again.mode == "full"  # not merged with the old decrypted state
    names = dict(again.read_model.read().select("stream_id", "name").iter_rows())
    assert names == {"c1": REDACTED, "c2": "Bob", "c3": "Cy"}


def test_forget_is_audited_with_a_tombstone_and_is_idempotent(store: EventStore) -> None:
    store.forget("c2")
    folder = store.root / KEYS_DIR
    kid = key_id("c2")
    assert not (folder / f"{kid}.key").exists()
    assert "forgotten_at" in json.loads((folder / f"{kid}.forgotten").read_text())
    assert load_config(store.root).forget_epoch == 1
    again = store.forget("c2")
    assert (again.had_key, again.events) == (False, 1)
    actions = [(a["action"], a.get("key_id")) for a in read_audit(store.root)]
    assert actions == [("declare", None), ("forget", kid), ("forget", kid)]
    assert "c2" not in (store.root / "_privacy_log.jsonl").read_text()  # only the key id


def test_appending_personal_data_of_a_forgotten_subject_is_refused(store: EventStore) -> None:
    store.forget("c1")
    with pytest.raises(ValidationError, match=r"'c1' \(forgotten .*cannot be stored again"):
        store.append(customers(["c1"], ["Ada"]))
    without = customers(["c1"], ["x"]).with_columns(
        pl.lit(None, pl.String).alias("name"), pl.lit(None, pl.String).alias("email"))
    assert store.append(without).appended == 1  # events without personal values are fine
    assert store.scan(stream_ids="c1").collect()["name"].to_list() == [REDACTED, REDACTED, None]


def test_wrong_subject_key_cannot_decrypt(store: EventStore) -> None:
    raw = pl.concat([pl.read_parquet(store.root / f.path) for f in store.files])
    token_c1 = raw.filter(pl.col("stream_id") == "c1")["name"][0]
    folder = store.root / KEYS_DIR
    key_c1 = (folder / f"{key_id('c1')}.key").read_bytes()
    key_c2 = (folder / f"{key_id('c2')}.key").read_bytes()
    assert decrypt_value(cipher(key_c1), "name", token_c1) == "Ada"
    with pytest.raises(CorruptStoreError, match="does not decrypt with the key of its subject"):
        decrypt_value(cipher(key_c2), "name", token_c1)
    with pytest.raises(CorruptStoreError):  # bound to its column too
        decrypt_value(cipher(key_c1), "email", token_c1)
    # swapped key files: every read of those values fails loudly instead of showing garbage
    (folder / f"{key_id('c1')}.key").write_bytes(key_c2)
    with pytest.raises(CorruptStoreError, match="key id"):
        store.scan().collect()
    with pytest.raises(CorruptStoreError, match="malformed"):
        decrypt_tokens(store.root, "name", [PREFIX + "abc:xyz"])
    forged = PREFIX + "../../../../../../../etc/passwd:" + "A" * 40  # 32 characters, not hex
    with pytest.raises(CorruptStoreError, match="malformed"):
        decrypt_tokens(store.root, "name", [forged])


def test_snapshots_are_dropped_by_forget(store: EventStore) -> None:
    view = store.project(CUSTOMERS)
    assert view.build_snapshots(every="1d")
    assert view.state()["name"].to_list().count("Ada") == 1
    result = store.forget("c1")
    assert result.snapshots_removed >= 1
    assert not (store.root / "_snapshots").exists()
    assert view.state().filter(pl.col("stream_id") == "c1")["name"].item() == REDACTED
    view.build_snapshots(every="1d")
    assert view.state().equals(view.state(use_snapshots=False))


def test_compaction_keeps_ciphertexts_and_verify_passes(store: EventStore) -> None:
    store.append(customers(["c4", "c2"], ["Di", "Bob"], start=T0 + timedelta(days=9)))
    store.forget("c3")
    assert store.compact(target_rows=1000).files_removed == 2
    assert store.verify().ok
    names = dict(store.project(CUSTOMERS).state().select("stream_id", "name").iter_rows())
    assert names == {"c1": "Ada", "c2": "Bob", "c3": REDACTED, "c4": "Di"}


def test_subject_from_a_payload_column_and_values_of_any_scalar_type(tmp_path: Path) -> None:
    store = EventStore.create(tmp_path / "store")
    store.declare_personal("order", columns=["address", "birth_year"], subject="customer_id")
    orders = pl.DataFrame({
        "stream_id": ["o1", "o2", "o3"], "event_type": ["Placed"] * 3,
        "occurred_at": [T0] * 3, "customer_id": [7, 8, 7],
        "address": ["Main St 1", "Elm St 2", None], "birth_year": [1980, 1990, 1980],
    })
    store.append(orders, stream_type="order")
    events = store.scan().sort("position").collect()
    assert events["address"].to_list() == ["Main St 1", "Elm St 2", None]  # null stays null
    assert events["birth_year"].to_list() == ["1980", "1990", "1980"]  # read back as text
    store.forget("7")
    events = store.scan().sort("position").collect()
    assert events["address"].to_list() == [REDACTED, "Elm St 2", None]
    assert events["birth_year"].to_list() == [REDACTED, "1990", REDACTED]
    with pytest.raises(ValidationError, match="no subject"):
        store.append(orders.with_columns(customer_id=pl.lit(None, pl.Int64)), stream_type="order")
    with pytest.raises(ValidationError, match="lacks"):
        store.append(orders.drop("customer_id"), stream_type="order")
    nested = orders.with_columns(address=pl.lit(["a"]), event_id=pl.lit("n"))
    with pytest.raises(ValidationError, match="must be scalars"):
        store.append(nested.head(1), stream_type="order")


def test_filters_on_personal_columns_see_plaintext(store: EventStore) -> None:
    ada = store.scan().filter(pl.col("name") == "Ada").collect()
    assert ada["stream_id"].to_list() == ["c1", "c1"]
    only = Projection("adas", stream_types=("customer",), where=pl.col("name") == "Ada",
                      fields={"orders": r.count()})
    assert store.project(only).state()["orders"].to_list() == [2]


def test_declarations_are_checked(tmp_path: Path) -> None:
    store = EventStore.create(tmp_path / "store")
    store.append(customers(["c1"], ["Ada"]))
    with pytest.raises(ValidationError, match=r"already hold values stored in clear"):
        store.declare_personal("customer", columns=["name"])
    with pytest.raises(ValidationError, match="envelope columns the store needs in clear"):
        store.declare_personal("customer", columns=["event_type"])
    with pytest.raises(ValidationError, match="cannot be personal itself"):
        store.declare_personal("customer", columns=["phone", "cid"], subject="cid")
    with pytest.raises(ValidationError, match="invalid stream_type"):
        store.declare_personal("../etc", columns=["phone"])
    store.declare_personal("customer", columns=["phone"])
    with pytest.raises(ValidationError, match="cannot change it"):
        store.declare_personal("customer", columns=["fax"], subject="cid")
    store.declare_personal("customer", columns=["fax"])  # declarations grow
    assert load_config(store.root).personal["customer"].columns == ("fax", "phone")


def test_missing_cryptography_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = EventStore.create(tmp_path / "store")
    monkeypatch.setitem(sys.modules, "cryptography", None)
    with pytest.raises(OptionalDependencyError) as caught:
        store.declare_personal("customer", columns=["name"])
    assert 'pip install "eventlab[crypto]"' in str(caught.value)
    assert isinstance(caught.value, ImportError)


def test_cli_forget(store: EventStore, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["forget", str(store.root), "c3"]) == 0
    out = capsys.readouterr().out
    assert f"forgot subject 'c3': key {key_id('c3')} destroyed" in out
    assert "1 event(s) now read as [redacted]" in out
    assert main(["verify", str(store.root)]) == 0
    assert main(["forget", str(store.root), ""]) == 2
    assert "subject must be a non-empty string" in capsys.readouterr().err


def test_widgets_show_forgotten_values_as_redacted(store: EventStore) -> None:
    from eventlab.widgets import StreamInspector

    before = StreamInspector(store, "c1", CUSTOMERS)
    assert "Ada" in before.events_table.html and "Ada" in before.history_table.html
    store.forget("c1")
    after = StreamInspector(store, "c1", CUSTOMERS)
    for html in (after.events_table.html, after.history_table.html):
        assert REDACTED in html and "Ada" not in html and "example.org" not in html


@pytest.mark.parametrize("subject", ["../../etc/passwd", "a/b", "a\\b", "nul\x00byte", "s" * 5000,
                                     "."])
def test_hostile_subjects_never_name_files(tmp_path: Path, subject: str) -> None:
    store = EventStore.create(tmp_path / "store")
    store.declare_personal("order", columns=["address"], subject="customer")
    batch = pl.DataFrame({"stream_id": ["o1"], "event_type": ["Placed"], "occurred_at": [T0],
                          "customer": [subject], "address": ["Main St 1"]})
    with pytest.raises(ValidationError, match="no subject"):  # "" could never be forgotten
        store.append(batch.with_columns(customer=pl.lit("")), stream_type="order")
    store.append(batch, stream_type="order")
    assert store.scan().collect()["address"].to_list() == ["Main St 1"]
    names = [p.name for p in (store.root / KEYS_DIR).iterdir()]
    assert names == [f"{key_id(subject)}.key"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store"]
    store.forget(subject)
    assert store.scan().collect()["address"].to_list() == [REDACTED]


def test_forget_result_is_a_frozen_value_with_html(store: EventStore) -> None:
    import dataclasses

    result = store.forget("c2")
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.events = 0  # type: ignore[misc]
    html = result._repr_html_()
    assert "<b>forget</b>" in html and key_id("c2") in html and "destroyed" in html
    assert ">1<" in html  # one event of c2 is now redacted
    assert "&lt;b&gt;" in forget_result_html(dataclasses.replace(result, subject="<b>"))


# ----------------------------------------------------------------- the actor (issue 10 item 7)
def actions(actors: list[str | None], ids: list[str]) -> pl.DataFrame:
    n = len(ids)
    return pl.DataFrame({
        "stream_type": ["case"] * n, "stream_id": ids, "event_type": ["Step"] * n,
        "occurred_at": [T0 + timedelta(hours=i) for i in range(n)], "actor": actors,
    })


def test_the_actor_column_can_be_personal(tmp_path: Path) -> None:
    """org:resource (the actor) is the most common personal field of audit logs."""
    store = EventStore.create(tmp_path / "store")
    store.declare_personal("case", columns=["actor"])
    store.append(actions(["Maria Rossi", "Luca Bianchi", None], ["k1", "k2", "k1"]))
    assert store.scan().sort("position").collect()["actor"].to_list() == [
        "Maria Rossi", "Luca Bianchi", None]
    raw = pl.concat([pl.read_parquet(store.root / f.path) for f in store.files])
    assert raw["actor"].drop_nulls().str.starts_with(PREFIX).all()
    assert b"Rossi" not in b"".join(event_bytes(store.root).values())
    store.forget("k1")
    assert store.scan().sort("position").collect()["actor"].to_list() == [
        REDACTED, "Luca Bianchi", None]
    assert store.verify().ok


def test_an_actor_stored_in_clear_cannot_be_declared_afterwards(tmp_path: Path) -> None:
    store = EventStore.create(tmp_path / "store")
    store.append(actions(["Maria Rossi"], ["k1"]))
    with pytest.raises(ValidationError, match=r"\['actor'\] of 'case' already hold values"):
        store.declare_personal("case", columns=["actor"])
    store.declare_personal("other", columns=["actor"])  # nothing of it is stored yet


def test_cli_declares_personal_columns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "store"
    EventStore.create(root)
    assert main(["declare-personal", str(root), "--stream-type", "case", "--column", "actor",
                 "--column", "email"]) == 0
    assert "actor, email are personal" in capsys.readouterr().out
    assert load_config(root).personal["case"].columns == ("actor", "email")
    assert main(["declare-personal", str(root), "--stream-type", "case", "--column",
                 "stream_id"]) == 2
    assert "needs in clear" in capsys.readouterr().err


# ----------------------------------------------------------------- no plaintext left (16 item 1)
def every_text(root: Path) -> str:
    """Every file of the store, as raw bytes (decoded leniently) and, for Parquet files, as the
    values they decode to: what someone with the folder can read."""
    parts: list[str] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        parts.append(path.read_bytes().decode("utf-8", "replace"))
        if path.suffix == ".parquet":
            frame = pl.read_parquet(path, hive_partitioning=False)
            parts.append(frame.select(pl.all().cast(pl.String)).write_csv())
    return "\n".join(parts)


def test_forget_leaves_no_plaintext_in_quarantine_or_journal(tmp_path: Path) -> None:
    from eventlab.importers import import_file
    from eventlab.write.journal import SCHEMA, write

    store = EventStore.create(tmp_path / "store")
    store.declare_personal("customer", columns=["name", "email"])
    store.append(customers(["c1", "c2"], ["Ada Lovelace", "Bob"]))
    log = tmp_path / "customers.csv"
    log.write_text("cid,kind,at,name,email\n"
                   "c1,Ordered,not-a-time,Ada Lovelace,ada@secret.example\n"
                   "c2,Ordered,also-bad,Bob,bob@example.org\n")
    summary = import_file(store, log, stream_type="customer", mapping=_mapping())
    assert summary.quarantined == 2
    schema = {c: d for c, d in SCHEMA.items() if c != "journal_order"}
    rows = {c: [None, None] for c in schema} | {
        "command_id": ["k1", "k2"], "stream_id": ["c1", "c2"], "outcome": ["rejected"] * 2,
        "payload": ['{"name": "Ada Lovelace"}', '{"name": "Bob"}'],
        "reason": ["Ada Lovelace is blocked", None]}
    write(store.root, pl.DataFrame(rows, schema=schema))
    assert "Ada Lovelace" in every_text(store.root)  # the test can fail: the values are there

    result = store.forget("c1")
    assert (result.quarantine_rows_dropped, result.journal_rows_redacted) == (1, 1)
    text = every_text(store.root)
    for secret in ("Ada Lovelace", "ada@secret.example", "Lovelace"):
        assert secret not in text
    assert "Bob" in text and "bob@example.org" in text  # other subjects keep theirs
    from eventlab.write.journal import read

    journal = read(store.root).sort("command_id")
    assert journal["command_id"].to_list() == ["k1", "k2"]  # retries stay recognised
    assert journal["payload"].to_list() == [REDACTED, '{"name": "Bob"}']
    assert store.verify().ok


def _mapping() -> object:
    from eventlab.importers import ColumnMapping

    return ColumnMapping(stream_id="cid", event_type="kind", timestamp="at")


# ----------------------------------------------------------------- keys (16 item 3)
def test_a_missing_key_is_an_error_not_a_forget(store: EventStore) -> None:
    (store.root / KEYS_DIR / f"{key_id('c2')}.key").unlink()
    with pytest.raises(CorruptStoreError, match=r"missing .* never forgotten"):
        store.scan().collect()
    report = store.verify()
    assert report.kinds() == {"key_missing"}
    assert report.findings[0].where == f"{KEYS_DIR}/{key_id('c2')}.key"


def test_a_damaged_key_is_found_by_verify(store: EventStore) -> None:
    (store.root / KEYS_DIR / f"{key_id('c3')}.key").write_bytes(b"short")
    with pytest.raises(CorruptStoreError, match="damaged"):
        store.scan().collect()
    assert store.verify().kinds() == {"key_damaged"}
    store.forget("c3")  # forgetting the subject is a way out: its values read as redacted
    assert store.scan().collect()["name"].to_list().count(REDACTED) == 1
    assert store.verify().ok
