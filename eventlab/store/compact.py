"""``store.compact()``: merge the small files of each partition without changing any event.

Every append writes one file per (stream type, month) it touches, so a store fed by many small
batches ends up with many small files. Compaction rewrites the small files of each partition into
one file (or a few, each at most ``target_rows`` rows) and proves it changed nothing:

1. it checks the SHA-256 of every file it will remove against the log (it never re-seals
   tampered data: run ``store.verify()``);
2. it hashes every event of the store (all columns, sorted by position) before, and again with
   the new files read back from the staging area; different hashes -> nothing is committed;
3. it commits like an append (staging, intent, publish, log entry of kind ``"compact"`` with
   ``removed`` = old paths, ``added`` = new files, ``info["content_sha256"]``), under the writer
   lock, with the same crash points (EVENTLAB_FAULT) and the same recovery.

Old files are deleted only after the commit point. A reader that opened the store before a
compaction must call ``refresh()`` before scanning again (its file list names removed files).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
from polars_hash import CryptographicHashingNameSpace

from eventlab.envelope import ENVELOPE, ENVELOPE_COLUMNS
from eventlab.errors import CorruptStoreError, ValidationError
from eventlab.progress import progress_bar
from eventlab.storage.layout import data_file_name, partition_dir
from eventlab.storage.log import DataFile, LogState
from eventlab.storage.protocol import Staging
from eventlab.store.writer import file_sha256, write_file

if TYPE_CHECKING:
    from polars._typing import PolarsDataType

    from eventlab.store.core import StoreCore

DEFAULT_TARGET_ROWS = 1_000_000
_CHUNK = 250_000


@dataclass(frozen=True)
class CompactResult:
    """What one ``compact`` did. ``commit`` is None when there was nothing to merge."""

    commit: int | None
    partitions: int
    files_before: int
    files_after: int
    files_removed: int
    files_added: int
    events_rewritten: int
    bytes_before: int
    bytes_after: int
    content_sha256: str | None

    def _repr_html_(self) -> str:
        return compact_result_html(self)


def compact_result_html(result: CompactResult) -> str:
    import eventlab.render as render

    rows = [
        ("commit", result.commit), ("partitions rewritten", result.partitions),
        ("files", f"{result.files_before:,} → {result.files_after:,}"),
        ("events rewritten", result.events_rewritten),
        ("size", f"{result.bytes_before / 1e6:,.2f} MB → {result.bytes_after / 1e6:,.2f} MB"),
        ("content sha256", result.content_sha256),
    ]
    title = "compact" if result.commit is not None else "compact: nothing to merge"
    return render.card(title, render.fields(rows))


# ----------------------------------------------------------------- planning
def plan(files: Iterable[DataFile], target_rows: int) -> list[list[DataFile]]:
    """Groups of >= 2 files of one partition to merge, each group at most ``target_rows`` rows.

    Files already at or above the target stay; the others are grouped in position order.
    """
    by_partition: dict[tuple[str, str], list[DataFile]] = {}
    for data_file in files:
        if data_file.rows < target_rows:
            key = (data_file.stream_type, data_file.month)
            by_partition.setdefault(key, []).append(data_file)
    groups: list[list[DataFile]] = []
    for key in sorted(by_partition):
        current: list[DataFile] = []
        for data_file in sorted(by_partition[key], key=lambda f: (f.min_position, f.path)):
            if current and sum(f.rows for f in current) + data_file.rows > target_rows:
                groups.append(current)
                current = []
            current.append(data_file)
        groups.append(current)
    return [g for g in groups if len(g) > 1]


# ----------------------------------------------------------------- content hash
def _canonical(expr: pl.Expr, dtype: PolarsDataType) -> pl.Expr:
    """A JSON-encodable form that keeps every distinction (NaN vs null, bytes as hex)."""
    if dtype.is_float():
        return expr.cast(pl.String)
    if dtype == pl.Binary():
        return expr.bin.encode("hex")
    if isinstance(dtype, pl.List):
        return expr.list.eval(_canonical(pl.element(), dtype.inner))
    return expr


def scan_events(
    paths: list[Path], stream_type: str, schema: dict[str, pl.DataType]
) -> pl.LazyFrame:
    """Rows of ``paths`` (one stream type) with exactly ``schema`` (missing columns as nulls)."""
    in_files = {k: v for k, v in schema.items() if k != "stream_type"}
    return (
        pl.scan_parquet(
            paths, schema=in_files, hive_partitioning=False, missing_columns="insert",
            extra_columns="ignore",
        )
        .with_columns(pl.lit(stream_type, pl.String).alias("stream_type"))
        .select(list(schema))
    )


def row_hashes(frame: pl.LazyFrame | pl.DataFrame) -> pl.DataFrame:
    """``position`` and the SHA-256 of the canonical JSON of every row (all columns)."""
    lazy = frame.lazy()
    canonical = [_canonical(pl.col(c), t).alias(c) for c, t in lazy.collect_schema().items()]
    encoded = pl.struct(canonical).struct.json_encode()
    return lazy.select(
        "position", CryptographicHashingNameSpace(encoded).sha2_256().alias("row_sha256")
    ).collect()


def content_sha256(hashes: Iterable[pl.DataFrame]) -> str:
    """One SHA-256 over the row hashes in position order (one line per event)."""
    frames = [h for h in hashes if h.height]
    digest = hashlib.sha256()
    if not frames:
        return digest.hexdigest()
    ordered = pl.concat(frames).sort("position")
    for chunk in ordered.iter_slices(_CHUNK):
        digest.update(chunk["row_sha256"].str.join("\n").item().encode())
        digest.update(b"\n")
    return digest.hexdigest()


def store_schema(state: LogState) -> dict[str, pl.DataType]:
    """Envelope plus every payload column, in a fixed order (the content hash depends on it)."""
    payload = sorted(state.schema)
    return {c: ENVELOPE[c] for c in ENVELOPE_COLUMNS} | {c: state.schema[c] for c in payload}


def file_hashes(
    root: Path,
    files: Iterable[DataFile],
    schema: dict[str, pl.DataType],
    locate: Callable[[str], Path] | None = None,
) -> list[pl.DataFrame]:
    """Row hashes of the files, one frame per stream type (``locate(rel)`` finds a file that
    is not published yet, e.g. a staged one)."""
    by_type: dict[str, list[Path]] = {}
    for data_file in files:
        path = root / data_file.path if locate is None else locate(data_file.path)
        by_type.setdefault(data_file.stream_type, []).append(path)
    return [row_hashes(scan_events(paths, t, schema)) for t, paths in sorted(by_type.items())]


# ----------------------------------------------------------------- compaction
def compact(
    store: StoreCore, *, target_rows: int = DEFAULT_TARGET_ROWS, progress: bool | None = None
) -> CompactResult:
    """Merge small files per partition; see the module docstring for the guarantees."""
    if isinstance(target_rows, bool) or not isinstance(target_rows, int) or target_rows < 2:
        raise ValidationError(
            f"target_rows={target_rows!r} is not valid; use an int >= 2 (rows per merged file, "
            f"default {DEFAULT_TARGET_ROWS:,})."
        )
    with store.protocol.writing("compact"):
        return _compact_locked(store, target_rows, progress)


def _compact_locked(store: StoreCore, target_rows: int, progress: bool | None) -> CompactResult:
    state = store.log_state
    before = list(state.files.values())
    groups = plan(before, target_rows)
    if not groups:
        return _result(None, before, [], [], None)
    removed = [f for group in groups for f in group]
    _check_unchanged(store.root, removed)
    staging = store.protocol.stage()
    schema = store_schema(state)
    gone = {f.path for f in removed}
    kept = file_hashes(store.root, (f for f in before if f.path not in gone), schema)
    old = file_hashes(store.root, removed, schema)
    with progress_bar(sum(f.rows for f in removed), "compacting", progress) as bar:
        added = _write_groups(store.root, groups, schema, state.commit + 1, staging, bar)
    new = file_hashes(store.root, added, schema, locate=staging.path)
    digest = _same_content(kept + old, kept + new, staging)
    entry = store.protocol.entry(
        "compact", staging.txn, first_position=None, last_position=None, events=0,
        added=tuple(added), removed=tuple(sorted(gone)),
        info={"content_sha256": digest, "files_removed": len(gone), "files_added": len(added)},
    )
    store.protocol.commit(entry, staging)
    return _result(entry.number, before, removed, added, digest)


def _result(
    commit: int | None,
    before: list[DataFile],
    removed: list[DataFile],
    added: list[DataFile],
    digest: str | None,
) -> CompactResult:
    size = sum(f.bytes for f in before)
    after = size - sum(f.bytes for f in removed) + sum(f.bytes for f in added)
    return CompactResult(
        commit=commit, partitions=len({(f.stream_type, f.month) for f in removed}),
        files_before=len(before), files_after=len(before) - len(removed) + len(added),
        files_removed=len(removed), files_added=len(added),
        events_rewritten=sum(f.rows for f in removed), bytes_before=size, bytes_after=after,
        content_sha256=digest,
    )


def _check_unchanged(root: Path, files: list[DataFile]) -> None:
    """Refuse to merge (and so re-seal) files whose bytes differ from what the log recorded."""
    bad = [f.path for f in files if not (root / f.path).is_file()
           or file_sha256(root / f.path) != f.sha256]
    if bad:
        raise CorruptStoreError(
            f"{len(bad)} file(s) to compact are missing or differ from the commit log, e.g. "
            f"{bad[:3]}; nothing was compacted. Run store.verify() (CLI: `eventlab verify STORE`) "
            "to see every finding."
        )


def _write_groups(
    root: Path,
    groups: list[list[DataFile]],
    schema: dict[str, pl.DataType],
    commit: int,
    staging: Staging,
    bar: Callable[[int], None] | None,
) -> list[DataFile]:
    added: list[DataFile] = []
    for index, group in enumerate(groups):
        stream_type, month = group[0].stream_type, group[0].month
        present = {c for f in group for c in f.columns}
        wanted = {c: t for c, t in schema.items() if c in ENVELOPE or c in present}
        rows = scan_events([root / f.path for f in group], stream_type, wanted).collect()
        name = data_file_name(commit, staging.txn, index)
        rel = f"{partition_dir(stream_type, month)}/{name}"
        added.append(write_file(rows, rel, staging.path(rel), stream_type, month))
        if bar is not None:
            bar(rows.height)
    return added


def _same_content(
    before: list[pl.DataFrame], after: list[pl.DataFrame], staging: Staging
) -> str:
    digest, check = content_sha256(before), content_sha256(after)
    if digest != check:
        staging.discard()
        raise CorruptStoreError(
            f"compaction would change the store's events (content sha256 {digest[:12]}… before, "
            f"{check[:12]}… after); nothing was committed and the staged files were deleted. "
            "This is a bug in eventlab: please report it with the output of store.verify()."
        )
    return digest
