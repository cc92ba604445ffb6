"""eventlab: temporal analytics over event-sourced data.

``import eventlab`` is light: widgets, charts (Altair) and validation (pandera) load on first use.
"""

from eventlab.errors import (
    ConcurrencyError,
    CorruptStoreError,
    EventlabError,
    ImportFormatError,
    LockTimeoutError,
    OptionalDependencyError,
    SchemaError,
    StoreExistsError,
    StoreNotFoundError,
    ValidationError,
)
from eventlab.store import ANY, NO_STREAM, STREAM_EXISTS, AppendResult, EventStore, StoreInfo

__version__ = "0.1.0"

__all__ = [
    "ANY",
    "NO_STREAM",
    "STREAM_EXISTS",
    "AppendResult",
    "ConcurrencyError",
    "CorruptStoreError",
    "EventStore",
    "EventlabError",
    "ImportFormatError",
    "LockTimeoutError",
    "OptionalDependencyError",
    "SchemaError",
    "StoreExistsError",
    "StoreInfo",
    "StoreNotFoundError",
    "ValidationError",
    "__version__",
]
