"""Publication trees: how a local store shows a commit's files to other engines all at once.

``STORE/events`` is a symbolic link to one of two folders ``_tree/<slot>.<version>`` (slots
``a`` and ``b``). Each is a whole Hive tree (``stream_type=<t>/occurred_month=<m>/*.parquet``)
of hard links to the immutable data files, named after the commit it shows (``version``).
To make commit N visible, a writer (holding the lock, after the log entry of N exists):

1. brings the other tree up to N: links the files that the commits since its version added and
   unlinks the ones they removed (idempotent: a killed update is simply done again);
2. renames it to ``<slot>.<N>`` and swaps the link to it (``rename`` of a new link over the old:
   atomic). Every engine reading ``events/`` now sees all of commit N at once.

So a killed writer never leaves part of a batch, or a file the log does not list, where other
engines look; eventlab's own readers stop at the linked version too (:func:`active_version`), so
they agree with DuckDB at every moment. The cost is a few links per commit, not a copy.

A listing that is in progress while the link is swapped may mix the two trees (an engine
resolves ``events/`` again at every folder it opens); a listing made while no commit is
switching is exact. Stores written before this layout (``events/`` a real folder) are moved
into trees by :func:`adopt_folder` the first time a writer takes the lock.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from eventlab.errors import CorruptStoreError
from eventlab.storage.durable import fsync_dir, make_dirs, temporary_name
from eventlab.storage.faults import fault
from eventlab.storage.layout import EVENTS_DIR, TREE_DIR
from eventlab.storage.log import Commit

SLOTS = ("a", "b")


@dataclass(frozen=True)
class Tree:
    slot: str
    version: int

    @property
    def name(self) -> str:
        return f"{self.slot}.{self.version:020d}"

    def path(self, root: Path) -> Path:
        return root / TREE_DIR / self.name


def _parse(name: str) -> Tree | None:
    slot, _, version = name.partition(".")
    if slot in SLOTS and version.isdigit() and len(version) == 20:
        return Tree(slot, int(version))
    return None


def trees(root: Path) -> list[Tree]:
    """The trees on disk, oldest version first."""
    folder = root / TREE_DIR
    if not folder.is_dir():
        return []
    found = (_parse(p.name) for p in folder.iterdir() if p.is_dir())
    return sorted((t for t in found if t is not None), key=lambda t: (t.version, t.slot))


def active(root: Path) -> Tree | None:
    """The tree ``events/`` links to; None when ``events/`` is a plain folder (older layout)
    or missing."""
    link = root / EVENTS_DIR
    if not link.is_symlink():
        return None
    tree = _parse(Path(os.readlink(link)).name)
    if tree is None:
        raise CorruptStoreError(
            f"{link} links to {os.readlink(link)!r}, not to a publication tree under "
            f"{TREE_DIR}/. Run `eventlab verify {root}`."
        )
    return tree


def active_version(root: Path) -> int | None:
    """The last commit other engines see in ``events/``; None for the older layout."""
    tree = active(root)
    return None if tree is None else tree.version


def create(root: Path) -> None:
    """Empty trees for a new store and ``events/`` linked to one of them."""
    for slot in SLOTS:
        make_dirs(Tree(slot, 0).path(root))
    _switch(root, Tree(SLOTS[0], 0))


def tree_path(tree_root: Path, rel: str) -> Path:
    """Where the data file ``rel`` (``events/...``, as the log names it) sits in a tree."""
    return tree_root / Path(rel).relative_to(EVENTS_DIR)


Source = Callable[[Commit, str], Path]


def net_change(commits: Iterable[Commit]) -> tuple[dict[str, Commit], set[str]]:
    """Files to link (with the commit that added them) and to unlink, after ``commits``."""
    added: dict[str, Commit] = {}
    removed: set[str] = set()
    for commit in commits:
        for rel in commit.removed:
            if added.pop(rel, None) is None:
                removed.add(rel)
        for data_file in commit.added:
            added[data_file.path] = commit
    return added, removed


def publish(
    root: Path, commits_after: Callable[[int], list[Commit]], source: Source
) -> Tree:
    """Bring the inactive tree up to the log's head (``commits_after(version)`` lists the
    commits it lacks) and switch ``events/`` to it; return the new active tree."""
    current = active(root)
    if current is None:
        raise CorruptStoreError(f"{root / EVENTS_DIR} is not a link to a publication tree.")
    spare = _spare(root, current)
    pending = commits_after(spare.version)
    target = Tree(spare.slot, pending[-1].number) if pending else spare
    added, removed = net_change(pending)
    touched = _apply(spare.path(root), added, removed, source)
    for folder in sorted(touched, key=lambda f: len(f.parts), reverse=True):
        fsync_dir(folder)
    if spare != target:
        os.replace(spare.path(root), target.path(root))
        fsync_dir(root / TREE_DIR)
    fault("after_publish")
    _switch(root, target)
    return target


def _spare(root: Path, current: Tree) -> Tree:
    others = [t for t in trees(root) if t.slot != current.slot]
    if len(others) != 1:
        raise CorruptStoreError(
            f"{root / TREE_DIR} should hold one tree besides {current.name}, found "
            f"{[t.name for t in others]}. Run `eventlab verify {root}`."
        )
    return others[0]


def _apply(
    tree_root: Path, added: dict[str, Commit], removed: set[str], source: Source
) -> set[Path]:
    """Link and unlink; return every folder whose entries changed (each to fsync once)."""
    touched: set[Path] = set()
    for index, (rel, commit) in enumerate(sorted(added.items())):
        final = tree_path(tree_root, rel)
        if not final.exists():
            touched |= _make_parents(final)
            os.link(source(commit, rel), final)
            touched.add(final.parent)
        if index == 0:
            fault("mid_publish")
    for rel in sorted(removed):
        final = tree_path(tree_root, rel)
        final.unlink(missing_ok=True)
        touched.add(final.parent)
    return touched


def _make_parents(path: Path) -> set[Path]:
    """Create the missing folders above ``path``; return the folders that gained an entry."""
    changed: set[Path] = set()
    folder = path.parent
    missing: list[Path] = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for new in reversed(missing):
        new.mkdir()
        changed.add(new.parent)
    return changed


def _switch(root: Path, tree: Tree) -> None:
    """Point ``events/`` at ``tree`` with one atomic rename, then make it durable."""
    link = root / EVENTS_DIR
    tmp = temporary_name(link)
    os.symlink(f"{TREE_DIR}/{tree.name}", tmp)
    os.replace(tmp, link)
    fsync_dir(root)


def adopt_folder(root: Path, live: Iterable[str], version: int) -> list[str]:
    """Move a store of the older layout (``events/`` a real folder) into publication trees.

    Both trees get hard links of the ``live`` files (those the log lists; anything else under
    the old folder was never committed and is dropped). Safe to redo after a kill: the old
    folder is only renamed away once both trees are complete."""
    link = root / EVENTS_DIR
    if link.is_symlink():
        return []
    if not link.exists():
        return _relink(root)
    shutil.rmtree(root / TREE_DIR, ignore_errors=True)
    files = sorted(live)
    for slot in SLOTS:
        tree_root = Tree(slot, version).path(root)
        make_dirs(tree_root)
        for rel in files:
            final = tree_path(tree_root, rel)
            make_dirs(final.parent)
            os.link(root / rel, final)
    old = root / f"{TREE_DIR}/old-events"
    os.replace(link, old)
    _switch(root, Tree(SLOTS[0], version))
    shutil.rmtree(old, ignore_errors=True)
    return [f"moved events/ into publication trees ({len(files)} files)"]


def _relink(root: Path) -> list[str]:
    """``events/`` is missing (killed between renaming the old folder and linking)."""
    found = trees(root)
    if not found:
        return []
    _switch(root, found[-1])
    shutil.rmtree(root / f"{TREE_DIR}/old-events", ignore_errors=True)
    return [f"linked events/ to {found[-1].name}"]
