"""The storage core (floor 3): append, scan, info, verify, compact over a commit protocol.

The public ``EventStore`` is :class:`eventlab.EventStore` (eventlab/api.py), which adds
projections, privacy and display on top of :class:`StoreCore`.
"""

from eventlab.store.append import AppendResult
from eventlab.store.batch import ANY, NO_STREAM, STREAM_EXISTS
from eventlab.store.core import StoreCore
from eventlab.store.info import StoreInfo

__all__ = ["ANY", "NO_STREAM", "STREAM_EXISTS", "AppendResult", "StoreCore", "StoreInfo"]
