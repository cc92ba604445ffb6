"""Progress bars for long work (import, append, projection build, export, snapshot).

``tqdm.auto`` draws a widget bar in Jupyter and a text bar in a terminal. ``progress=None`` shows a
bar only for large jobs; ``True`` always; ``False`` never. Bars write to stderr.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager

AUTO_THRESHOLD = 3_000_000  # rows: below this a job takes about a second or less


def wanted(total: int, progress: bool | None) -> bool:
    if progress is not None:
        return progress
    if os.environ.get("EVENTLAB_PROGRESS") == "0":
        return False
    return total >= AUTO_THRESHOLD


@contextmanager
def progress_bar(
    total: int, description: str, progress: bool | None = None, unit: str = "events"
) -> Iterator[Callable[[int], None] | None]:
    """Yield a callback ``advance(n)`` (or None when no bar is wanted)."""
    if not wanted(total, progress):
        yield None
        return
    from tqdm.auto import tqdm

    with tqdm(total=total, desc=description, unit=f" {unit}", unit_scale=True) as bar:
        yield bar.update
