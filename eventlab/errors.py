"""The exception hierarchy.

Every error eventlab raises derives from :class:`EventlabError` and also from the builtin that a
caller would naturally catch (``ValueError`` for bad input, ``RuntimeError`` for a conflict, ...).
Messages say what is wrong, what is valid, and what to do about it.
"""

from __future__ import annotations

from typing import Any


class EventlabError(Exception):
    """Base class of every error raised by eventlab."""


class StoreNotFoundError(EventlabError, FileNotFoundError):
    """The folder is not an eventlab store (or does not exist)."""


class StoreExistsError(EventlabError, FileExistsError):
    """``EventStore.create`` was pointed at a folder that already holds data."""


class ValidationError(EventlabError, ValueError):
    """A batch, a spec or an argument is invalid. ``failures`` lists failing rows when known."""

    def __init__(self, message: str, failures: Any = None) -> None:
        super().__init__(message)
        self.failures = failures


class SchemaError(ValidationError):
    """A column's dtype conflicts with the dtype already stored under that name."""


class ConcurrencyError(EventlabError, RuntimeError):
    """A stream's actual version differs from the version the writer expected.

    ``conflicts`` is a Polars DataFrame with ``stream_type``, ``stream_id``, ``expected`` and
    ``actual`` columns.
    """

    def __init__(self, message: str, conflicts: Any = None) -> None:
        super().__init__(message)
        self.conflicts = conflicts


class LockTimeoutError(EventlabError, TimeoutError):
    """Another process held the store's writer lock for longer than the timeout."""


class CorruptStoreError(EventlabError, RuntimeError):
    """The store's files do not match its commit log (see ``eventlab verify``)."""


class ImportFormatError(EventlabError, ValueError):
    """An input file cannot be read as the requested format."""


class OptionalDependencyError(EventlabError, ImportError):
    """An optional extra is not installed; the message has the exact pip command."""


def require(module: str, extra: str) -> Any:
    """Import ``module`` or raise an ImportError naming the extra that provides it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise OptionalDependencyError(
            f"{module} is needed for this feature but is not installed. "
            f'Install it with: pip install "eventlab[{extra}]"'
        ) from exc
