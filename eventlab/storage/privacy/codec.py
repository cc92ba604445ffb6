"""Encrypting personal values on append, decrypting them on every read (crypto-shredding).

A personal value is stored as the text ``enc:v1:<key id>:<base64url(nonce || ciphertext)>``:
AES-256-GCM with the subject's key (see :mod:`eventlab.storage.privacy.keys`), a random
96-bit nonce, and associated data ``eventlab/v1|<key id>|<column>`` that binds it to its
subject and column (moved to another column or re-labelled with another key id, it does not
decrypt). Values are stored
and read back as text (an Int64 personal column comes back as String); nulls stay null.

Equal values of one subject in one column within one batch share a ciphertext: the batch's
distinct (subject, value) pairs are encrypted once each, so the Python loop runs over distinct
personal values, never over events. Reading decrypts each distinct ciphertext of the rows a
query keeps once (a Polars UDF that Polars prunes when the column is not selected).

A value whose subject was forgotten reads as ``"[redacted]"`` (:data:`REDACTED`): one literal,
so projections, exports and widgets show it without knowing about encryption. Grouping by a
personal column therefore puts all forgotten subjects into one ``"[redacted]"`` group.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import polars as pl
from polars_hash import CryptographicHashingNameSpace

from eventlab.errors import CorruptStoreError, ValidationError, require
from eventlab.storage.privacy.config import load_config
from eventlab.storage.privacy.keys import KeyStore

PREFIX = "enc:v1:"
REDACTED = "[redacted]"
NONCE_BYTES = 12
_KEY_ID = re.compile(r"[0-9a-f]{32}")  # never a path: forged values cannot name other files
_SUBJECT, _VALUE, _TOKEN = "__eventlab_subject", "__eventlab_value", "__eventlab_token"


def _aesgcm() -> Any:
    module = require("cryptography.hazmat.primitives.ciphers.aead", "crypto")
    return module.AESGCM


def associated_data(kid: str, column: str) -> bytes:
    return f"eventlab/v1|{kid}|{column}".encode()


def key_ids(subjects: pl.Expr) -> pl.Expr:
    """Vectorized :func:`eventlab.storage.privacy.keys.key_id`."""
    salted = pl.lit("eventlab-subject\x1f") + subjects
    return CryptographicHashingNameSpace(salted).sha2_256().str.slice(0, 32)


def encrypt_value(cipher: Any, kid: str, column: str, value: str) -> str:
    """``cipher``: ``AESGCM(key)`` of the subject's key (see :func:`cipher`)."""
    nonce = os.urandom(NONCE_BYTES)
    sealed = cipher.encrypt(nonce, value.encode(), associated_data(kid, column))
    return f"{PREFIX}{kid}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"


def cipher(key: bytes) -> Any:
    return _aesgcm()(key)


def decrypt_value(cipher: Any, column: str, token: str) -> str:
    """The plaintext of one token; CorruptStoreError if it was altered or belongs elsewhere."""
    kid, blob = _split(token, column)
    return _open(cipher, kid, blob, column)


def _open(cipher: Any, kid: str, blob: bytes, column: str) -> str:
    from cryptography.exceptions import InvalidTag

    try:
        plain: bytes = cipher.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:],
                                      associated_data(kid, column))
    except InvalidTag:
        raise CorruptStoreError(
            f"a value of personal column {column!r} does not decrypt with the key of its "
            f"subject (key id {kid}): the key file or the stored value was altered or moved. "
            "Run `eventlab verify STORE` for the events and restore _keys/ from a backup."
        ) from None
    return plain.decode()


def _split(token: str, column: str) -> tuple[str, bytes]:
    kid, _, text = token[len(PREFIX):].partition(":")
    try:
        blob = base64.urlsafe_b64decode(text.encode())
    except (binascii.Error, ValueError):
        blob = b""
    if not _KEY_ID.fullmatch(kid) or len(blob) < NONCE_BYTES + 16:
        raise CorruptStoreError(
            f"personal column {column!r} holds a malformed encrypted value {token[:40]!r}...: "
            "the event files were altered. Run `eventlab verify STORE`."
        )
    return kid, blob


# ----------------------------------------------------------------------------- writing
def encrypt_personal(root: Path, rows: pl.DataFrame) -> pl.DataFrame:
    """``rows`` with the personal values of declared stream types encrypted (no-op when the
    store declares none). Runs under the writer lock, after validation, before staging."""
    config = load_config(root)
    if not config.personal:
        return rows
    present = set(rows["stream_type"].unique().to_list())
    declared = {t: p for t, p in config.personal.items()
                if t in present and any(c in rows.columns for c in p.columns)}
    keys = KeyStore(root)
    for column in sorted({c for p in declared.values() for c in p.columns if c in rows.columns}):
        subjects = {t: p.subject for t, p in declared.items() if column in p.columns}
        rows = _encrypt_column(rows, column, subjects, keys)
    return rows


def _subject_expr(rows: pl.DataFrame, column: str, subjects: Mapping[str, str]) -> pl.Expr:
    missing = sorted({s for s in subjects.values() if s not in rows.columns})
    if missing:
        raise ValidationError(
            f"personal column {column!r} is keyed by subject column(s) {missing}, which the "
            "batch lacks. Hint: add the subject column (a surrogate id of the person)."
        )
    expr = pl.lit(None, pl.String)
    for stream_type, subject in subjects.items():
        expr = pl.when(pl.col("stream_type") == stream_type).then(
            pl.col(subject).cast(pl.String)).otherwise(expr)
    return expr


def _as_text(rows: pl.DataFrame, column: str) -> pl.Expr:
    dtype = rows.schema[column]
    if dtype.is_nested() or dtype == pl.Binary():
        raise ValidationError(
            f"personal column {column!r} has dtype {dtype}; personal values are encrypted as "
            "text, so they must be scalars (strings, numbers, dates). Hint: encode it as a JSON "
            "string first."
        )
    return pl.col(column).cast(pl.String)


def _encrypt_column(rows: pl.DataFrame, column: str, subjects: Mapping[str, str],
                    keys: KeyStore) -> pl.DataFrame:
    frame = rows.with_columns(_subject_expr(rows, column, subjects).alias(_SUBJECT),
                              _as_text(rows, column).alias(_VALUE))
    todo = pl.col("stream_type").is_in(list(subjects)) & pl.col(_VALUE).is_not_null()
    no_subject = pl.col(_SUBJECT).is_null() | (pl.col(_SUBJECT) == "")  # "" cannot be forgotten
    orphans = frame.with_row_index("row").filter(todo & no_subject)
    if orphans.height:
        raise ValidationError(
            f"{orphans.height} row(s) have a personal value in {column!r} but no subject, "
            f"e.g. rows {orphans['row'].head(5).to_list()}; every personal value needs its "
            "subject to be encrypted and later forgotten.",
            failures=orphans.select("row", "stream_type", _SUBJECT),
        )
    pairs = frame.filter(todo).select(_SUBJECT, _VALUE).unique()
    if pairs.height == 0:
        return rows.with_columns(frame[_VALUE].alias(column))
    pairs = pairs.with_columns(key_ids(pl.col(_SUBJECT)).alias("kid"))
    tokens = _tokens(pairs, column, keys)
    out = frame.join(tokens, on=[_SUBJECT, _VALUE], how="left", maintain_order="left")
    return out.with_columns(pl.when(todo).then(pl.col(_TOKEN)).otherwise(pl.col(_VALUE))
                            .alias(column)).drop(_SUBJECT, _VALUE, _TOKEN)


def _tokens(pairs: pl.DataFrame, column: str, keys: KeyStore) -> pl.DataFrame:
    """One ciphertext per distinct (subject, value): the loop runs over distinct values."""
    kids = pairs.select(_SUBJECT, "kid").unique()
    forgotten = [(s, at) for s, k in kids.iter_rows() if (at := keys.forgotten_at(k))]
    if forgotten:
        shown = ", ".join(f"{s!r} (forgotten {at})" for s, at in forgotten[:3])
        raise ValidationError(
            f"{len(forgotten)} subject(s) of this batch were forgotten: {shown}; their personal "
            f"data ({column!r}) cannot be stored again. Hint: append without the personal "
            "columns (null), or under a new subject id."
        )
    aead = _aesgcm()
    ciphers = {k: aead(key) for k, key in keys.get_or_create(kids["kid"].to_list()).items()}
    sealed = [encrypt_value(ciphers[k], k, column, v)
              for k, v in zip(pairs["kid"].to_list(), pairs[_VALUE].to_list(), strict=True)]
    return pairs.select(_SUBJECT, _VALUE, pl.Series(_TOKEN, sealed, dtype=pl.String))


# ----------------------------------------------------------------------------- reading
def decode_personal(root: Path, frame: pl.LazyFrame,
                    schema: Mapping[str, pl.DataType]) -> pl.LazyFrame:
    """``frame`` (a store scan) with personal columns decrypted or redacted."""
    config = load_config(root)
    if not config.personal:
        return frame
    wanted = {c: types for c, types in config.columns().items()
              if c in schema and schema[c] == pl.String()}
    if not wanted:
        return frame
    return frame.with_columns(
        pl.struct("stream_type", c).map_batches(
            partial(_decode, root, c, types), return_dtype=pl.String, is_elementwise=True
        ).alias(c)
        for c, types in wanted.items()
    )


def _decode(root: Path, column: str, types: Sequence[str], packed: pl.Series) -> pl.Series:
    parts = packed.struct.unnest()
    values = parts[column]
    mask = parts["stream_type"].is_in(list(types)) & values.str.starts_with(PREFIX).fill_null(
        False)
    if not mask.any():
        return values
    tokens = values.filter(mask).unique()
    plain = decrypt_tokens(root, column, tokens.to_list())
    replaced = values.replace(tokens, pl.Series(plain, dtype=pl.String))
    return pl.select(pl.when(mask).then(replaced).otherwise(values)).to_series().alias(column)


#: (store folder, forget epoch) -> key id -> AESGCM, or None for a forgotten subject. A forget
#: bumps the epoch (after destroying the key), so a cached key is never used after forget returns.
_CIPHERS: dict[tuple[str, int], dict[str, Any]] = {}


def _ciphers(root: Path) -> dict[str, Any]:
    slot = (str(root.resolve()), load_config(root).forget_epoch)
    if slot not in _CIPHERS:
        for old in [s for s in _CIPHERS if s[0] == slot[0]]:
            del _CIPHERS[old]
        if len(_CIPHERS) > 16:
            _CIPHERS.clear()
        _CIPHERS[slot] = {}
    return _CIPHERS[slot]


def decrypt_tokens(root: Path, column: str, tokens: Sequence[str]) -> list[str]:
    """Plaintexts of distinct tokens; REDACTED where the subject's key is gone."""
    keys, aead, ciphers = KeyStore(root), _aesgcm(), _ciphers(root)
    out = []
    for token in tokens:
        kid, blob = _split(token, column)
        if kid not in ciphers:
            key = keys.load(kid)
            ciphers[kid] = None if key is None else aead(key)
        found = ciphers[kid]
        out.append(REDACTED if found is None else _open(found, kid, blob, column))
    return out
