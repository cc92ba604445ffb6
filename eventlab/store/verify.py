"""``store.verify()``: check a store against its hash-chained commit log, trusting neither.

It reads the log files itself (not through :class:`~eventlab.storage.log.LogState`, which stops at
the first broken link), so it reports on a store that ``EventStore.open`` refuses. Checks:

* the log: every entry parses, is named after its number, numbers run 1..n without gaps, each
  entry's ``hash`` matches its content and its ``prev_hash`` is the previous entry's hash, the
  counts inside each entry agree; optionally a head hash recorded earlier (``anchor``) is still
  in the chain (a consistently rewritten chain is only detectable against such an anchor);
* the files: every file the log lists exists, is readable, and has the SHA-256 and row count the
  log recorded; every file under ``events/`` is listed (an unlisted file is a partial batch for
  engines that read the folder); no interrupted commit waits in ``_txn/``;
* the events: positions unique and gapless 1..head, versions gapless 1..n per stream in position
  order, event ids unique.

Findings name the commit, file, position or stream. Run it while no writer is active: a commit in
flight shows as ``txn_pending``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from eventlab.errors import CorruptStoreError, StoreNotFoundError
from eventlab.progress import progress_bar
from eventlab.storage import trees
from eventlab.storage.layout import EVENTS_DIR, LOG_DIR, META_FILE, TXN_DIR, commit_number
from eventlab.storage.log import GENESIS_HASH, Commit, DataFile, hash_body
from eventlab.storage.privacy.config import load_config
from eventlab.storage.privacy.keys import KEYS_DIR, KeyStore
from eventlab.store.writer import file_sha256

#: every kind of finding, in the order they are checked
KINDS = (
    "log_unreadable", "log_stray", "log_misnamed", "log_missing", "hash_mismatch", "chain_broken",
    "commit_inconsistent", "anchor_missing", "file_missing", "file_unreadable", "file_sha256",
    "file_rows", "file_unlisted", "link_in_events", "folder_unlisted", "key_missing",
    "key_damaged", "txn_pending",
    "position_duplicate", "position_gap",
    "version_gap", "event_id_duplicate",
)
MAX_PER_KIND = 20  # findings listed one by one per kind; the rest are summed up in one more


@dataclass(frozen=True)
class Finding:
    """One problem: ``kind`` (one of KINDS), ``where`` (commit, file, position or stream)."""

    kind: str
    where: str
    detail: str


@dataclass(frozen=True)
class VerifyReport:
    """The result of ``verify``: ``ok`` is True when there is no finding."""

    ok: bool
    findings: tuple[Finding, ...]
    head_hash: str
    commits: int
    events: int
    files: int

    def kinds(self) -> set[str]:
        return {f.kind for f in self.findings}

    def to_frame(self) -> pl.DataFrame:
        """The findings as a DataFrame (kind, where, detail)."""
        return pl.DataFrame(
            [(f.kind, f.where, f.detail) for f in self.findings],
            schema={"kind": pl.String, "where": pl.String, "detail": pl.String}, orient="row",
        )

    def _repr_html_(self) -> str:
        return verify_report_html(self)


def verify_report_html(report: VerifyReport, limit: int = 50) -> str:
    import eventlab.render as render

    summary = render.fields([
        ("status", "ok" if report.ok else f"{len(report.findings)} finding(s)"),
        ("commits", report.commits), ("files", report.files), ("events", report.events),
        ("head hash", report.head_hash),
    ])
    details = render.table(report.to_frame(), rows=limit) if report.findings else ""
    return render.card("verify: " + ("ok" if report.ok else "PROBLEMS FOUND"), summary, details)


@dataclass
class _Log:
    """What the log files say, read leniently: entries in file order and the live files."""

    findings: list[Finding] = field(default_factory=list)
    commits: int = 0
    head_hash: str = GENESIS_HASH
    head: int = 0
    hashes: set[str] = field(default_factory=set)
    live: dict[str, DataFile] = field(default_factory=dict)
    #: every file any commit added (a spare publication tree may still hold removed ones)
    ever: set[str] = field(default_factory=set)
    #: logged commits events/ does not show yet (a killed writer's; recovery publishes them)
    unpublished: list[int] = field(default_factory=list)
    visible: int | None = None

    def add(self, kind: str, where: str, detail: str) -> None:
        self.findings.append(Finding(kind, where, detail))


def verify_store(
    path: str | Path, *, anchor: str | None = None, progress: bool | None = None
) -> VerifyReport:
    """Verify the store in ``path``; works on stores ``EventStore.open`` refuses (broken chain)."""
    root = Path(path)
    if not (root / META_FILE).is_file():
        raise StoreNotFoundError(
            f"{root} is not an eventlab store (no {META_FILE}); verify needs a store folder."
        )
    log = _read_log(root)
    if anchor is not None and anchor != GENESIS_HASH and anchor not in log.hashes:
        log.add("anchor_missing", "log", f"head hash {anchor} recorded earlier is no longer in "
                "the chain: history before it was rewritten or removed")
    events = _check_files(root, log, progress)
    pending = _check_folder(root, log) + _check_keys(root, log)
    findings = _capped(log.findings + pending) + _check_events(events, log.head)
    return VerifyReport(
        ok=not findings, findings=tuple(findings), head_hash=log.head_hash, commits=log.commits,
        events=events.height, files=len(log.live),
    )


# ----------------------------------------------------------------- the log
def _read_log(root: Path) -> _Log:
    log = _Log()
    try:
        log.visible = trees.active_version(root)
    except CorruptStoreError as exc:
        log.add("link_in_events", EVENTS_DIR, str(exc))
    folder = root / LOG_DIR
    names = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    numbered = sorted((n, name) for name in names if (n := commit_number(name)) is not None)
    for name in names:
        if commit_number(name) is None:
            log.add("log_stray", f"{LOG_DIR}/{name}", "not a commit log file (leftover of a "
                    "killed writer, or put there by hand)")
    expected, prev_hash = 1, GENESIS_HASH
    for number, name in numbered:
        where = f"commit {number} ({LOG_DIR}/{name})"
        for missing in range(expected, number):
            log.add("log_missing", f"commit {missing}", "log entry is missing (deleted?)")
        expected = number + 1
        raw = _load(folder / name, where, log)
        if raw is None:
            continue
        commit = _parse(raw, where, log)
        if commit is None:
            continue
        _check_entry(raw, commit, number, prev_hash, where, log)
        log.ever.update(f.path for f in commit.added)
        if log.visible is not None and number > log.visible:
            log.unpublished.append(number)
        else:
            _apply(commit, log)
        prev_hash = str(raw.get("hash"))
        log.commits += 1
        log.head_hash = prev_hash
        log.hashes.add(prev_hash)
    return log


def _load(path: Path, where: str, log: _Log) -> dict[str, Any] | None:
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        log.add("log_unreadable", where, f"not valid JSON: {exc}")
        return None
    if not isinstance(raw, dict):
        log.add("log_unreadable", where, "not a JSON object")
        return None
    return raw


def _parse(raw: dict[str, Any], where: str, log: _Log) -> Commit | None:
    try:
        return Commit.from_json(raw)
    except (TypeError, ValueError) as exc:
        log.add("log_unreadable", where, f"not a commit entry: {exc}")
        return None


def _check_entry(
    raw: dict[str, Any], commit: Commit, number: int, prev_hash: str, where: str, log: _Log
) -> None:
    if commit.number != number:
        log.add("log_misnamed", where, f"the file holds commit {commit.number} (renamed or "
                "reordered log entries)")
    actual = hash_body({k: v for k, v in raw.items() if k != "hash"})
    if actual != commit.hash:
        log.add("hash_mismatch", where, f"content hashes to {actual}, entry says {commit.hash} "
                "(the entry was edited)")
    if commit.prev_hash != prev_hash:
        log.add("chain_broken", where, f"prev_hash {commit.prev_hash} is not the hash of the "
                f"entry before it ({prev_hash}): an entry was removed, inserted or replaced")
    _check_counts(commit, where, log)


def _check_counts(commit: Commit, where: str, log: _Log) -> None:
    rows = sum(f.rows for f in commit.added)
    problems: list[str] = []
    if commit.kind == "compact":
        removed = sum(log.live[p].rows for p in commit.removed if p in log.live)
        if commit.events or rows != removed:
            problems.append(f"compaction adds {rows} rows but removes {removed}")
    elif commit.first_position is None or commit.last_position is None:
        problems.append(f"a {commit.kind!r} commit without a position range")
    else:
        span = commit.last_position - commit.first_position + 1
        if not commit.events == rows == span:
            problems.append(f"events={commit.events}, rows in files={rows}, positions "
                            f"{commit.first_position}..{commit.last_position} ({span})")
        if commit.first_position != log.head + 1:
            problems.append(f"first position {commit.first_position} does not follow the last "
                            f"committed position {log.head}")
    problems += [f"removes {p}, which is not a live file" for p in commit.removed
                 if p not in log.live]
    problems += [f"adds {f.path} again" for f in commit.added if f.path in log.live]
    for problem in problems:
        log.add("commit_inconsistent", where, problem)


def _apply(commit: Commit, log: _Log) -> None:
    for rel in commit.removed:
        log.live.pop(rel, None)
    for data_file in commit.added:
        log.live[data_file.path] = data_file
    if commit.last_position is not None:
        log.head = max(log.head, commit.last_position)


# ----------------------------------------------------------------- the files
_EVENT_COLUMNS = ["position", "stream_id", "version", "event_id"]
_EVENTS_SCHEMA = {"position": pl.Int64, "stream_id": pl.String, "version": pl.Int64,
                  "event_id": pl.String, "stream_type": pl.String, "file": pl.String}


def _check_files(root: Path, log: _Log, progress: bool | None) -> pl.DataFrame:
    """Check every live file; return the identity columns of the readable ones."""
    frames: list[pl.DataFrame] = []
    live = sorted(log.live.values(), key=lambda f: f.path)
    with progress_bar(len(live), "verifying files", progress, unit="files") as bar:
        for data_file in live:
            frame = _check_file(root, data_file, log)
            if frame is not None:
                frames.append(frame)
            if bar is not None:
                bar(1)
    return pl.concat(frames) if frames else pl.DataFrame(schema=_EVENTS_SCHEMA)


def _check_file(root: Path, data_file: DataFile, log: _Log) -> pl.DataFrame | None:
    path, rel = root / data_file.path, data_file.path
    if not path.is_file():
        log.add("file_missing", rel, f"listed by the log with {data_file.rows} rows, not on disk")
        return None
    sha = file_sha256(path)
    if sha != data_file.sha256:
        log.add("file_sha256", rel, f"SHA-256 is {sha}, the log recorded {data_file.sha256} "
                "(the file was modified or replaced)")
    try:
        frame = pl.read_parquet(path, columns=_EVENT_COLUMNS, hive_partitioning=False)
        frame = frame.select(
            *(pl.col(c).cast(_EVENTS_SCHEMA[c], strict=True) for c in _EVENT_COLUMNS),
            stream_type=pl.lit(data_file.stream_type, pl.String), file=pl.lit(rel, pl.String),
        )
    except (pl.exceptions.PolarsError, OSError) as exc:
        log.add("file_unreadable", rel, f"cannot be read as event Parquet: "
                f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
        return None
    if frame.height != data_file.rows:
        log.add("file_rows", rel, f"holds {frame.height} rows, the log recorded {data_file.rows}")
    return frame


def _check_folder(root: Path, log: _Log) -> list[Finding]:
    """What other engines could see besides the committed files: unlisted files, links and
    folders under events/ (and in the spare publication tree), interrupted commits."""
    staging = root / TXN_DIR
    findings = [
        Finding("txn_pending", f"{TXN_DIR}/{folder.name}", "staged files of an interrupted "
                "commit (invisible to readers); the next writer or EventStore.open removes it")
        for folder in (sorted(staging.iterdir()) if staging.is_dir() else [])
    ]
    findings += [
        Finding("txn_pending", f"commit {n}", "logged but not yet visible in events/ (its "
                "writer was killed); EventStore.open or the next write publishes it")
        for n in log.unpublished
    ]
    visible = _check_tree(root / EVENTS_DIR, set(log.live), "events/")
    spare = _spare_tree(root)
    if spare is not None:  # it becomes events/ at the next commit: nothing foreign in it
        shown = f"{spare.relative_to(root).as_posix()}/"
        seen = {(f.kind, f.where.removeprefix("events/")) for f in visible}
        visible += [f for f in _check_tree(spare, log.ever, shown)
                    if (f.kind, f.where.removeprefix(shown)) not in seen]
    return findings + visible


def _spare_tree(root: Path) -> Path | None:
    current = trees.active(root)
    if current is None:
        return None
    others = [t for t in trees.trees(root) if t.slot != current.slot]
    return others[0].path(root) if others else None


def _check_tree(tree: Path, listed: set[str], shown: str) -> list[Finding]:
    """Files, links and folders under ``tree`` that ``listed`` (paths ``events/...``) does not
    explain."""
    findings: list[Finding] = []
    folders = {parent.as_posix() for rel in listed for parent in Path(rel).parents}
    for top, dirs, names in os.walk(tree, followlinks=False):
        here = Path(EVENTS_DIR) / Path(top).relative_to(tree)
        for name in sorted(dirs + names):
            path, rel = Path(top) / name, (here / name).as_posix()
            where = shown + rel.split("/", 1)[-1]
            if path.is_symlink():
                findings.append(Finding("link_in_events", where, f"a symbolic link to "
                                        f"{os.readlink(path)!r}: engines that read the folder "
                                        "follow it (put there by hand?)"))
            elif name in dirs and rel not in folders:
                findings.append(Finding("folder_unlisted", where,
                                        "a folder that holds no committed file"))
            elif name in names and rel not in listed:
                findings.append(Finding("file_unlisted", where, "not listed by the log: engines "
                                        "that read events/ see it (injected, or left by a "
                                        "removed commit)"))
    return findings


# ----------------------------------------------------------------- the keys
def _check_keys(root: Path, log: _Log) -> list[Finding]:
    """Every key an encrypted value names is there (32 bytes) or forgotten (tombstone): a key
    that vanished would otherwise look like a forget."""
    config = load_config(root)
    kids: set[str] = set()
    for stream_type, personal in config.personal.items():
        paths = [root / f.path for f in log.live.values() if f.stream_type == stream_type]
        for path in paths:
            try:
                names = pl.read_parquet_schema(path)
            except (pl.exceptions.PolarsError, OSError):
                continue  # file_unreadable is reported by the file checks
            columns = [c for c in personal.columns if names.get(c) == pl.String()]
            if columns:
                kids |= _key_ids(pl.read_parquet(path, columns=columns, hive_partitioning=False))
    keys = KeyStore(root)
    findings = []
    for kid in sorted(kids):
        status = keys.status(kid)
        if status in ("missing", "damaged"):
            findings.append(Finding(f"key_{status}", f"{KEYS_DIR}/{kid}.key", _KEY_DETAIL[status]))
    return findings


_KEY_DETAIL = {
    "missing": "encrypted values use this key, which is gone although the subject was never "
               "forgotten (no tombstone): restore _keys/ from a backup",
    "damaged": "the key file does not hold a 32-byte key: restore it from a backup",
}


def _key_ids(frame: pl.DataFrame) -> set[str]:
    ids = frame.select(pl.concat_list(
        pl.col(c).str.extract(r"^enc:v1:([0-9a-f]{32}):", 1) for c in frame.columns
    ).explode().drop_nulls().unique().alias("kid"))
    return set(ids["kid"].to_list())


# ----------------------------------------------------------------- the events
def _check_events(events: pl.DataFrame, head: int) -> list[Finding]:
    return [
        *_position_problems(events, head), *_version_problems(events),
        *_event_id_problems(events),
    ]


def _listed(kind: str, rows: pl.DataFrame, where: str, detail: str) -> list[Finding]:
    """One finding per row (formatted with the row's columns), at most MAX_PER_KIND."""
    out = [Finding(kind, where.format(**r), detail.format(**r))
           for r in rows.head(MAX_PER_KIND).iter_rows(named=True)]
    if rows.height > MAX_PER_KIND:
        out.append(Finding(kind, "…", f"{rows.height - MAX_PER_KIND} more finding(s) of this kind"))
    return out


def _position_problems(events: pl.DataFrame, head: int) -> list[Finding]:
    positions = events["position"].sort()
    exact = positions.len() == head and (head == 0 or (
        positions[0] == 1 and positions[-1] == head and positions.n_unique() == head
    ))
    if exact:
        return []  # the common case, proven cheaply: exactly 1..head, once each
    repeated = positions.filter(positions.diff() == 0).unique()
    dupes = (
        events.filter(pl.col("position").is_in(repeated.implode()))
        .group_by("position").agg(pl.col("file").unique().sort(), pl.len()).sort("position")
    )
    present = positions.unique().to_frame()
    wanted = pl.DataFrame({"position": pl.int_range(1, head + 1, eager=True)})
    missing = wanted.join(present, on="position", how="anti").sort("position")
    ranges = (
        missing.with_columns(run=(pl.col("position").diff().fill_null(1) != 1).cum_sum())
        .group_by("run").agg(lo=pl.col("position").min(), hi=pl.col("position").max())
        .sort("lo")
    )
    beyond = present.filter((pl.col("position") > head) | (pl.col("position") < 1))
    return [
        *_listed("position_duplicate", dupes, "position {position}",
                 "{len} events have this position, in {file}"),
        *_listed("position_gap", ranges, "positions {lo}..{hi}",
                 f"committed (head is {head}) but in no readable live file"),
        *_listed("position_gap", beyond, "position {position}",
                 f"outside the committed range 1..{head}"),
    ]


def _version_problems(events: pl.DataFrame) -> list[Finding]:
    bad = (
        events.sort("position")
        .with_columns(expected=pl.int_range(1, pl.len() + 1).over("stream_type", "stream_id"))
        .filter(pl.col("version") != pl.col("expected"))
        .group_by("stream_type", "stream_id")
        .agg(pl.col("position").first(), pl.col("version").first(), pl.col("expected").first())
        .sort("stream_type", "stream_id")
    )
    return _listed(
        "version_gap", bad, "stream {stream_type}/{stream_id}",
        "versions are not 1..n in position order: position {position} has version {version}, "
        "expected {expected}",
    )


def _event_id_problems(events: pl.DataFrame) -> list[Finding]:
    ids = events["event_id"]
    if ids.null_count() == 0 and ids.hash().n_unique() == ids.len():
        return []  # distinct 64-bit hashes prove distinct ids (the common case, cheap)
    dupes = (
        events.filter(pl.col("event_id").is_duplicated())
        .group_by("event_id").agg(pl.col("position").sort()).sort("event_id")
    )
    return _listed("event_id_duplicate", dupes, "event_id {event_id!r}", "at positions {position}")


def _capped(findings: Iterable[Finding]) -> list[Finding]:
    """At most MAX_PER_KIND findings per kind, plus one that counts the rest."""
    out: list[Finding] = []
    counts: dict[str, int] = {}
    for finding in findings:
        counts[finding.kind] = counts.get(finding.kind, 0) + 1
        if counts[finding.kind] <= MAX_PER_KIND:
            out.append(finding)
    out += [Finding(kind, "…", f"{n - MAX_PER_KIND} more finding(s) of this kind")
            for kind, n in counts.items() if n > MAX_PER_KIND]
    return out
