"""eventlab: temporal analytics over event-sourced data.

``import eventlab`` is light: widgets, charts (Altair) and validation (pandera) load on first use.
"""

from eventlab import reducers
from eventlab.api import EventStore
from eventlab.errors import (
    ConcurrencyError,
    CorruptStoreError,
    EventlabError,
    ImportFormatError,
    LockTimeoutError,
    OptionalDependencyError,
    SchemaError,
    StorageError,
    StoreExistsError,
    StoreNotFoundError,
    ValidationError,
)
from eventlab.projections import (
    Changes,
    Diff,
    Projection,
    ProjectionView,
    PythonFold,
    ReadModel,
    Upcaster,
    diff_frames,
    load_projection,
    load_projections,
)
from eventlab.projections.related import related_events
from eventlab.store import ANY, NO_STREAM, STREAM_EXISTS, AppendResult, StoreCore, StoreInfo
from eventlab.store.compact import CompactResult
from eventlab.store.verify import Finding, VerifyReport, verify_store
from eventlab.textformat import format_text
from eventlab.version import __version__

#: Subpackages loaded on first attribute access (``eventlab.widgets``), so that
#: ``import eventlab`` does not import ipywidgets, altair, pandera or cryptography.
_LAZY = ("charts", "examples", "importers", "privacy", "process", "sources", "samples", "widgets",
         "write")


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return importlib.import_module(f"eventlab.{name}")
    raise AttributeError(f"module 'eventlab' has no attribute {name!r}")

__all__ = [
    "ANY",
    "NO_STREAM",
    "STREAM_EXISTS",
    "AppendResult",
    "Changes",
    "CompactResult",
    "ConcurrencyError",
    "CorruptStoreError",
    "Diff",
    "EventStore",
    "EventlabError",
    "Finding",
    "ImportFormatError",
    "LockTimeoutError",
    "OptionalDependencyError",
    "Projection",
    "ProjectionView",
    "PythonFold",
    "ReadModel",
    "SchemaError",
    "StorageError",
    "StoreCore",
    "StoreExistsError",
    "StoreInfo",
    "StoreNotFoundError",
    "Upcaster",
    "ValidationError",
    "VerifyReport",
    "__version__",
    "diff_frames",
    "format_text",
    "load_projection",
    "load_projections",
    "reducers",
    "related_events",
    "verify_store",
]
