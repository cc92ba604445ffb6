"""Crash-test hooks: named points where a test can kill the writer or make the disk fail.

``EVENTLAB_FAULT=<point>`` SIGKILLs the process when it reaches ``fault(point)``;
``EVENTLAB_FAULT=enospc:<point>`` raises OSError(ENOSPC) there (disk-full tests). The points of
a commit, in order, are listed in :data:`COMMIT_POINTS`.
"""

from __future__ import annotations

import errno
import os
import signal

FAULT_ENV = "EVENTLAB_FAULT"

#: where a commit can be interrupted, in the order a writer passes them (storage/local.py)
COMMIT_POINTS = (
    "before_stage",   # nothing written yet
    "after_stage",    # data files staged in _txn/<txn>/ (invisible to every reader)
    "after_commit",   # log entry written: the commit will be rolled forward, not yet visible
    "mid_publish",    # the next publication tree is half updated (still invisible)
    "after_publish",  # the next tree is complete, events/ still shows the previous one
    "after_switch",   # events/ shows the new commit; staging not yet removed
)


def fault(point: str) -> None:
    """SIGKILL this process at ``point`` when EVENTLAB_FAULT names it; raise OSError(ENOSPC)
    there when it is ``enospc:<point>``."""
    wanted = os.environ.get(FAULT_ENV)
    if wanted is None:
        return
    if wanted == point:
        os.kill(os.getpid(), signal.SIGKILL)
    elif wanted == f"enospc:{point}":
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), point)
