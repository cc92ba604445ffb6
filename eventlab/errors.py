"""The exception hierarchy.

Every error eventlab raises derives from :class:`EventlabError` and also from the builtin that a
caller would naturally catch (``ValueError`` for bad input, ``RuntimeError`` for a conflict, ...).
Messages say what is wrong, what is valid, and what to do about it.
"""

from __future__ import annotations

import errno
import os
import re
from typing import Any


class EventlabError(Exception):
    """Base class of every error raised by eventlab."""


class StoreNotFoundError(EventlabError, FileNotFoundError):
    """The folder is not an eventlab store (or does not exist)."""


class InputNotFoundError(EventlabError, FileNotFoundError):
    """A file eventlab was asked to read (a log, a spec, a bundled sample) does not exist."""


class StoreExistsError(EventlabError, FileExistsError):
    """``EventStore.create`` was pointed at a folder that already holds data."""


class ValidationError(EventlabError, ValueError):
    """A batch, a spec or an argument is invalid. ``failures`` lists failing rows when known."""

    def __init__(self, message: str, failures: Any = None) -> None:
        super().__init__(message)
        self.failures = failures


class SchemaError(ValidationError):
    """A column's dtype conflicts with the dtype already stored under that name."""


def _listed(values: Any, limit: int = 12) -> str:
    items = sorted(str(v) for v in values)
    shown = ", ".join(repr(v) for v in items[:limit])
    return shown + (f", ... ({len(items)} in all)" if len(items) > limit else "")


class ColumnNotFoundError(ValidationError):
    """A column that was asked for does not exist; ``missing`` and ``available`` name them."""

    def __init__(
        self, missing: Any, available: Any, *, where: str = "the events", hint: str = ""
    ) -> None:
        self.missing = [missing] if isinstance(missing, str) else list(missing)
        self.available = sorted(str(c) for c in available)
        message = f"{where} has no column {_listed(self.missing)}; available: " + (
            f"{_listed(self.available)}."
        )
        super().__init__(message + (f" Hint: {hint}" if hint else ""))


class InvalidIntervalError(ValidationError):
    """An interval string (``every="1mo"``) is not valid."""

    def __init__(self, value: Any, *, name: str = "every") -> None:
        self.value = value
        super().__init__(
            f"{name}={value!r} is not a valid interval; use a positive Polars duration such as "
            "'1h', '1d', '1w', '1mo', '1q' or '1y' (units: ns us ms s m h d w mo q y)."
        )


class MappingError(ValidationError):
    """A column mapping does not fit the file: ``hint`` in Python's words, ``cli_hint`` in the
    command line's (the CLI shows that one)."""

    def __init__(self, message: str, *, hint: str, cli_hint: str) -> None:
        self.cli_hint = f"{message} Hint: {cli_hint}"
        super().__init__(f"{message} Hint: {hint}")


class InvalidArgumentError(ValidationError):
    """An argument has a value outside what is valid: ``name``, ``value``, ``valid``."""

    def __init__(self, name: str, value: Any, valid: str, hint: str = "") -> None:
        self.name, self.value = name, value
        message = f"{name}={value!r} is not valid; {valid}."
        super().__init__(message + (f" Hint: {hint}" if hint else ""))


class UnknownProjectionError(ValidationError, LookupError):
    """A projection name that the spec (or the registry) does not define."""

    def __init__(self, name: Any, available: Any, *, source: str = "the spec") -> None:
        self.name, self.available = name, sorted(str(a) for a in available)
        super().__init__(
            f"{source} defines no projection {name!r}; it defines {_listed(self.available)}. "
            "Hint: check the name, or list the spec's [projections.<name>] tables."
        )


class CommandRejected(EventlabError, ValueError):
    """Raised by ``Outcome.raise_if_rejected()``; ``outcome`` holds the rejected Outcome."""

    def __init__(self, message: str, outcome: Any = None) -> None:
        super().__init__(message)
        self.outcome = outcome


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


class StorageError(EventlabError, OSError):
    """The store's folder could not be written (disk full, file too large, read-only, no
    permission). Nothing half-written is visible: the log never lists a file of the failed
    commit. ``errno`` is the operating system's error number when known."""


_STORAGE_HINTS = {
    errno.ENOSPC: "the disk is full. Free some space and retry (appends are idempotent)",
    errno.EDQUOT: "the disk quota is exhausted. Free some space and retry",
    errno.EFBIG: "a file would exceed the size limit for this process (ulimit -f). Raise the "
    "limit or append smaller batches",
    errno.EROFS: "the file system is mounted read-only. Open a writable copy to change it",
    errno.EACCES: "this user may not write there (read-only folder?). Check `ls -ld` of the "
    "store and its subfolders, or open a writable copy",
    errno.EPERM: "the operation is not permitted. Check the folder's permissions",
}
_OS_ERROR = re.compile(r"os error (\d+)")


def io_errno(exc: BaseException) -> int | None:
    """The errno of an I/O failure: an OSError, or a Polars error wrapping one ("os error N")."""
    if isinstance(exc, EventlabError):
        return None
    if isinstance(exc, OSError) and exc.errno is not None:
        return exc.errno
    found = _OS_ERROR.search(str(exc))  # Polars: PermissionError("... (os error 13)"), ...
    if found:
        return int(found.group(1))
    return 0 if isinstance(exc, OSError) else None


def write_failure(path: os.PathLike[str] | str, exc: Exception) -> OSError:
    """The OSError behind a failed Polars write of ``path`` (Polars raises ComputeError,
    sometimes without the OS error number, e.g. "Invalid thrift: transport error": then one
    more byte is written where it stopped to learn it; EIO if that works)."""
    code = io_errno(exc)
    if code is None:
        try:
            with open(path, "ab") as handle:
                handle.write(b"\0")
                handle.flush()
        except OSError as probe:
            code = probe.errno
    code = code or errno.EIO
    return OSError(code, f"{os.strerror(code)} (Polars: {str(exc).splitlines()[0]})", str(path))


def storage_error(exc: BaseException, action: str, outcome: str) -> StorageError:
    """A StorageError for ``exc`` (see :func:`io_errno`): ``cannot <action>: <errno name>
    (<strerror>, at <file>). <outcome> Hint: ...``; ``action`` names the folder."""
    code = io_errno(exc) or 0
    name = errno.errorcode.get(code, f"errno {code}")
    hint = _STORAGE_HINTS.get(code, "check the disk and the folder's permissions, then retry")
    where = getattr(exc, "filename", None)
    error = StorageError(
        f"cannot {action}: {name} ({os.strerror(code) if code else exc}"
        f"{f', at {where}' if where else ''}). {outcome} Hint: {hint}."
    )
    error.errno = code or None
    return error


class ImportFormatError(EventlabError, ValueError):
    """An input file cannot be read as the requested format."""


class SourceConnectionError(EventlabError, ConnectionError):
    """A source (database, event store server) could not be reached or read. The message
    never contains credentials."""


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
