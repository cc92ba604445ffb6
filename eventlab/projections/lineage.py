"""Which store state produced an exported read model: ``verify_export(read_model, store)``.

An export's Parquet metadata names the store (``store_id``) and the state it was built from:
the high-water position and the hash-chain head at it (``head_commit``, ``head_hash``). The hash
of a commit covers its content and, through ``prev_hash``, every commit before it, so checking
the store's log up to that commit proves the store still holds exactly the history the read
model was folded from. Findings (``kind``):

* ``no_lineage``: the lineage is from before it named the store state (export it again);
* ``other_store``: the store's id differs (another store, or one re-created from the same data);
* ``commit_missing``: the log ends before the recorded commit (history truncated or replaced);
* ``chain_broken``: an entry up to that commit does not hash to its content or does not link to
  the one before (history edited);
* ``hash_mismatch``: the commit is there but its hash differs (history rewritten);
* ``position_mismatch``: the log's last position at that commit is not the high-water mark;
* ``spec_mismatch`` / ``content_differs`` (``recompute=True``): folding the store again up to
  the high-water position with the spec gives another read model.

Later commits are fine: the read model then lags the store (``lag`` events).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eventlab.errors import StoreNotFoundError
from eventlab.storage.layout import META_FILE, commit_number, log_file
from eventlab.storage.log import GENESIS_HASH, hash_body
from eventlab.store.identity import store_id

if TYPE_CHECKING:
    from eventlab.projections.export import ReadModel
    from eventlab.projections.spec import Projection
    from eventlab.store.core import StoreCore


@dataclass(frozen=True)
class LineageFinding:
    kind: str
    detail: str


@dataclass(frozen=True)
class LineageReport:
    """The result of :func:`verify_export`: ``ok`` when the read model's recorded store state
    is the store's (and, with ``recomputed``, folding it again gives the same rows)."""

    ok: bool
    read_model: str
    projection: str
    store: str
    store_id: str
    recorded_store_id: str
    head_commit: int
    head_hash: str
    high_water_position: int
    store_commits: int
    lag: int
    recomputed: bool
    findings: tuple[LineageFinding, ...]

    def to_dict(self) -> dict[str, Any]:
        data = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "findings"}
        data["findings"] = [{"kind": f.kind, "detail": f.detail} for f in self.findings]
        return data

    def summary(self) -> str:
        """One line: what was proven, or the first problem."""
        if self.ok:
            extra = " and its rows were folded again and match" if self.recomputed else ""
            return (
                f"ok: {self.read_model} was built from store {self.store_id} at commit "
                f"{self.head_commit} (position {self.high_water_position:,}, head hash "
                f"{self.head_hash[:16]}...){extra}; the store has {self.lag:,} event(s) since."
            )
        first = self.findings[0]
        return f"FAILED: {first.kind}: {first.detail}"

    def _repr_html_(self) -> str:
        from html import escape

        return f"<pre>{escape(self.summary())}</pre>"


def _walk_chain(root: Path, upto: int) -> tuple[LineageFinding | None, str, int]:
    """Read the log's entries 1..upto, recomputing hashes and links: (finding or None, hash
    of ``upto``, last position at ``upto``)."""
    prev, position = GENESIS_HASH, 0
    for number in range(1, upto + 1):
        path = log_file(root, number)
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError:
            return LineageFinding("commit_missing", f"the store's log has no commit {number}; "
                                  f"the read model was built at commit {upto}: its history "
                                  "was truncated or replaced"), prev, position
        except (OSError, ValueError) as exc:
            return LineageFinding("chain_broken", f"commit {number} is unreadable ({exc})"), \
                prev, position
        body = {k: v for k, v in raw.items() if k != "hash"} if isinstance(raw, dict) else {}
        if not body or hash_body(body) != raw.get("hash") or raw.get("prev_hash") != prev:
            return LineageFinding("chain_broken", f"commit {number} does not hash to its content "
                                  "or does not follow the one before: the store's history was "
                                  "edited (run `eventlab verify`)"), prev, position
        prev = str(raw["hash"])
        if raw.get("last_position") is not None:
            position = int(raw["last_position"])
    return None, prev, position


def _chain_findings(model: ReadModel, root: Path) -> list[LineageFinding]:
    finding, head, position = _walk_chain(root, model.head_commit)
    if finding is not None:
        return [finding]
    if head != model.head_hash:
        return [LineageFinding(
            "hash_mismatch", f"commit {model.head_commit} hashes to {head[:16]}... but the read "
            f"model was built when it was {model.head_hash[:16]}...: the store's history was "
            "rewritten since")]
    if position != model.high_water_position:
        return [LineageFinding(
            "position_mismatch", f"the store was at position {position:,} at commit "
            f"{model.head_commit}, the read model says {model.high_water_position:,}")]
    return []


def _last_position(root: Path, commits: list[int]) -> int:
    """The store's last position: that of its newest commit that added events."""
    for number in sorted(commits, reverse=True):
        try:
            raw = json.loads(log_file(root, number).read_text())
        except (OSError, ValueError):
            return 0
        if isinstance(raw, dict) and raw.get("last_position") is not None:
            return int(raw["last_position"])
    return 0


def _lineage_findings(model: ReadModel, root: Path, actual_id: str) -> list[LineageFinding]:
    if not model.store_id or not model.head_hash:
        return [LineageFinding("no_lineage", "the read model records no store state (exported "
                               "by an eventlab before 0.2); export it again to get lineage")]
    if model.store_id != actual_id:
        return [LineageFinding("other_store", f"the read model was built from store "
                               f"{model.store_id}, this is store {actual_id}")]
    return _chain_findings(model, root)


def _recompute(model: ReadModel, store: StoreCore, projection: Projection) -> list[LineageFinding]:
    from eventlab.projections.diff import diff_frames
    from eventlab.projections.fold import finalize, fold_store
    from eventlab.window import Window

    if projection.spec_hash != model.spec_hash:
        return [LineageFinding("spec_mismatch", f"the spec given for {projection.name!r} is not "
                               "the one the read model was built with (spec hashes differ)")]
    state = fold_store(store, projection, window=Window(at_position=model.high_water_position))
    again = finalize(state, projection).collect()
    diff = diff_frames(again, model.read(), list(projection.key))
    if diff.equal:
        return []
    counts = diff.summary()
    return [LineageFinding("content_differs", f"folding the store again up to position "
                           f"{model.high_water_position:,} gives other rows: {counts} "
                           "(the read model was edited, or built otherwise)")]


def verify_export(
    read_model: str | Path | ReadModel,
    store: str | Path | StoreCore,
    *,
    projection: Projection | None = None,
) -> LineageReport:
    """Check that ``read_model`` was built from ``store`` at the state its lineage names (see
    the module docstring). With ``projection`` (the spec it was built with) the store is folded
    again up to the high-water position and the rows are compared too."""
    from eventlab.projections.export import ReadModel

    model = read_model if isinstance(read_model, ReadModel) else ReadModel.open(read_model)
    root = Path(store) if isinstance(store, (str, Path)) else store.root
    if not (root / META_FILE).is_file():
        raise StoreNotFoundError(f"{root} is not an eventlab store (no {META_FILE}).")
    actual_id = store_id(root)
    findings = _lineage_findings(model, root, actual_id)
    commits = [n for p in (root / "_log").iterdir() if (n := commit_number(p.name)) is not None]
    if not findings and projection is not None:
        from eventlab.store.core import StoreCore

        opened = store if not isinstance(store, (str, Path)) else StoreCore.open(root)
        findings = _recompute(model, opened, projection)
    head = _last_position(root, commits) if not findings else 0
    return LineageReport(
        ok=not findings, read_model=str(model.path), projection=model.projection, store=str(root),
        store_id=actual_id, recorded_store_id=model.store_id, head_commit=model.head_commit,
        head_hash=model.head_hash, high_water_position=model.high_water_position,
        store_commits=max(commits, default=0), lag=max(0, head - model.high_water_position),
        recomputed=projection is not None and not findings, findings=tuple(findings),
    )
