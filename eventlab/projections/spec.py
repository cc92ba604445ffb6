"""Projection definitions: in Python, or as data in a TOML file (never executed).

.. code-block:: toml

    [projections.fines]
    stream_types = ["fine"]        # or ["*"]
    key = "stream_id"              # or any column(s): multi-stream read models
    where = "event_type != 'Noise'" # optional event filter (safe expression, see expressions.py)
    [projections.fines.fields]
    events     = { reducer = "count" }
    amount     = { reducer = "sum", column = "amount", on = ["Create Fine", "Add penalty"] }
    paid       = { reducer = "sum", column = "paymentAmount", on = ["Payment"] }
    last_event = { reducer = "last", column = "event_type" }
    opened_at  = { reducer = "min", column = "occurred_at" }
    status     = { reducer = "status", map = { "Create Fine" = "open", "Payment" = "paid" } }
    [projections.fines.derived]
    outstanding = "amount - paid"
"""

from __future__ import annotations

import hashlib
import json
import re
import stat
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from eventlab.errors import UnknownProjectionError, ValidationError
from eventlab.projections.expressions import parse_expression
from eventlab.projections.reducers import REDUCERS, Reducer, Status
from eventlab.projections.upcasters import Upcaster, upcaster_from_toml

RESERVED_SUFFIX = "__"
#: Version of the partial-state layout (part of every spec hash: stored snapshots and exports of
#: an older layout are rebuilt instead of merged). 2: status keeps a UInt16 code. 3: first, last
#: and status keep the (occurred_at, position) of their value (valid-time order).
STATE_FORMAT = 3
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_FIELD_KEYS = {"reducer", "column", "on", "where", "map", "default", "expr", "order"}
_ORDERED = {"first", "last", "status"}


@dataclass(frozen=True)
class Projection:
    """A read model: for each ``key``, one value per field, folded from the events.

    ``fields`` maps a field name to a :class:`Reducer`; ``derived`` maps a name to an expression
    over the fields, computed after the fold. ``stream_types=None`` (or ``["*"]``) reads all.
    """

    name: str
    fields: Mapping[str, Reducer]
    key: tuple[str, ...] = ("stream_id",)
    stream_types: tuple[str, ...] | None = None
    derived: Mapping[str, pl.Expr] = field(default_factory=dict, compare=False)
    where: pl.Expr | None = field(default=None, compare=False)
    upcasters: tuple[Upcaster, ...] = ()

    def __post_init__(self) -> None:
        key = (self.key,) if isinstance(self.key, str) else tuple(self.key)
        object.__setattr__(self, "key", key)
        types = self.stream_types
        if isinstance(types, str):
            types = (types,)
        object.__setattr__(
            self, "stream_types", None if not types or "*" in types else tuple(types)
        )
        self._check_names()

    def _check_names(self) -> None:
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            raise ValidationError(
                f"projection name {self.name!r} is not valid: 1-64 letters, digits, '_', '-' or "
                "'.', starting with a letter or digit (it names snapshot and export files, so "
                "'/', '..' or NUL could escape their folders). Hint: e.g. 'open-fines'."
            )
        if not self.fields:
            raise ValidationError(f"projection {self.name!r} has no fields; add at least one.")
        names = [*self.fields, *self.derived]
        clashes = [n for n in names if n in self.key or RESERVED_SUFFIX in n]
        if clashes or len(set(names)) != len(names):
            raise ValidationError(
                f"projection {self.name!r}: field names must be unique, differ from the key "
                f"{list(self.key)} and not contain '__': {clashes or names}."
            )
        for name, reducer in self.fields.items():
            if not isinstance(reducer, Reducer):
                raise ValidationError(
                    f"field {name!r} of projection {self.name!r} is {type(reducer).__name__}, "
                    "not a reducer; use eventlab.reducers.sum('amount') and friends."
                )

    @property
    def stream_keyed(self) -> bool:
        """True when each key is one stream, so files sorted by stream keep key order."""
        return self.key in (("stream_id",), ("stream_type", "stream_id"))

    def columns(self) -> list[str]:
        """Event columns the fold reads (projection pushdown)."""
        needed = {"position", *self.key}  # order-sensitive reducers add occurred_at
        for reducer in self.fields.values():
            needed |= reducer.columns()
        if self.where is not None:
            needed |= set(self.where.meta.root_names())
        return sorted(needed)

    def source_columns(self) -> list[str]:
        """Columns to read from the store: what the fold reads plus what upcasters read."""
        sources = set(self.columns())
        for upcaster in self.upcasters:
            sources |= set(upcaster.rename)
            sources |= {n for e in upcaster.set.values() for n in e.meta.root_names()}
        return sorted(sources)

    def describe(self) -> dict[str, Any]:
        return {
            "state_format": STATE_FORMAT,
            "name": self.name,
            "key": list(self.key),
            "stream_types": None if self.stream_types is None else list(self.stream_types),
            "fields": {n: r.describe() for n, r in self.fields.items()},
            "derived": {n: e.meta.serialize(format="json") for n, e in self.derived.items()},
            "where": None if self.where is None else self.where.meta.serialize(format="json"),
            "upcasters": [u.describe() for u in self.upcasters],
        }

    @property
    def spec_hash(self) -> str:
        """SHA-256 of the definition: a changed spec means a rebuild."""
        text = json.dumps(self.describe(), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()


def projection_from_toml(name: str, table: Mapping[str, Any]) -> Projection:
    """Build one projection from its TOML table (data only)."""
    fields_table = table.get("fields")
    if not isinstance(fields_table, Mapping) or not fields_table:
        raise ValidationError(
            f"projection {name!r} needs a [projections.{name}.fields] table with at least one "
            'field, e.g. events = { reducer = "count" }.'
        )
    fields = {f: reducer_from_toml(name, f, spec) for f, spec in fields_table.items()}
    derived = {d: parse_expression(text) for d, text in dict(table.get("derived", {})).items()}
    where = table.get("where")
    upcasters = tuple(upcaster_from_toml(u) for u in table.get("upcasters", []))
    return Projection(
        name=name,
        fields=fields,
        key=_key(table.get("key", "stream_id")),
        stream_types=table.get("stream_types"),
        derived=derived,
        where=parse_expression(where) if where else None,
        upcasters=upcasters,
    )


def _key(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, Sequence) and value and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ValidationError(f"key must be a column name or a list of names, got {value!r}.")


def reducer_from_toml(projection: str, name: str, spec: Any) -> Reducer:
    where = f"field {name!r} of projection {projection!r}"
    if not isinstance(spec, Mapping) or "reducer" not in spec:
        raise ValidationError(
            f'{where} must be a table with a reducer, e.g. {{ reducer = "count" }}.'
        )
    unknown = set(spec) - _FIELD_KEYS
    kind = spec["reducer"]
    if unknown or kind not in REDUCERS:
        raise ValidationError(
            f"{where}: unknown reducer {kind!r} or keys {sorted(unknown)}; reducers: "
            f"{sorted(REDUCERS)}; keys: {sorted(_FIELD_KEYS)}."
        )
    args: dict[str, Any] = {"on": tuple(spec["on"]) if "on" in spec else None}
    if "column" in spec:
        args["column"] = spec["column"]
    if "expr" in spec:
        args["expr"] = parse_expression(spec["expr"])
    if "where" in spec:
        args["where"] = parse_expression(spec["where"])
    if kind == "status":
        args |= {"mapping": dict(spec.get("map", {})), "default": spec.get("default")}
    if "order" in spec:
        if kind not in _ORDERED:
            raise ValidationError(
                f"{where}: order= applies to the order-sensitive reducers {sorted(_ORDERED)}, "
                f"not {kind!r}; remove it."
            )
        args["order"] = spec["order"]
    try:
        return REDUCERS[kind](**args) if kind != "status" else Status(**args)
    except ValidationError as exc:
        raise ValidationError(f"{where}: {exc}") from None


#: largest spec file read (a spec is a few kilobytes; this refuses devices and mistakes)
MAX_SPEC_BYTES = 1_000_000


def read_spec_text(source: Path) -> str:
    """The text of a spec file: a regular UTF-8 file of at most MAX_SPEC_BYTES (so that
    ``/dev/zero``, a FIFO or a huge file fails at once instead of being read forever)."""
    try:
        info = source.stat()
    except FileNotFoundError:
        raise ValidationError(f"spec file {source} does not exist.") from None
    except OSError as exc:
        raise ValidationError(f"cannot read spec file {source}: {exc.strerror or exc}.") from None
    if not stat.S_ISREG(info.st_mode):
        raise ValidationError(
            f"spec file {source} is not a regular file (a folder, device or pipe); give a .toml "
            "file."
        )
    too_big = ValidationError(
        f"spec file {source} is larger than {MAX_SPEC_BYTES:,} bytes; a spec is a small TOML "
        "file. Hint: check that the path names the spec, not a data file."
    )
    if info.st_size > MAX_SPEC_BYTES:
        raise too_big
    try:
        with open(source, "rb") as handle:
            data = handle.read(MAX_SPEC_BYTES + 1)
    except OSError as exc:
        raise ValidationError(f"cannot read spec file {source}: {exc.strerror or exc}.") from None
    if len(data) > MAX_SPEC_BYTES:
        raise too_big
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationError(f"spec file {source} is not UTF-8 text; is it a TOML file?") from None


def load_projections(path: str | Path) -> dict[str, Projection]:
    """All projections of a TOML spec file, by name."""
    source = Path(path)
    text = read_spec_text(source)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValidationError(f"spec file {source} is not valid TOML: {exc}.") from None
    except RecursionError:
        raise ValidationError(f"spec file {source} nests tables or arrays too deeply.") from None
    tables = data.get("projections")
    if not isinstance(tables, Mapping) or not tables:
        raise ValidationError(
            f"spec file {source} has no [projections.<name>] table; see the README for an example."
        )
    return {name: _projection(source, name, table) for name, table in tables.items()}


def _projection(source: Path, name: str, table: Any) -> Projection:
    """One projection of a spec file; a value of the wrong kind anywhere in its table (a number
    where a list belongs, ...) is a ValidationError naming the projection."""
    if not isinstance(table, Mapping):
        raise ValidationError(
            f"spec file {source}: projections.{name} must be a table ([projections.{name}]), "
            f"not {type(table).__name__}."
        )
    try:
        return projection_from_toml(name, table)
    except ValidationError:
        raise
    except (TypeError, ValueError, AttributeError, KeyError) as exc:
        raise ValidationError(
            f"spec file {source}: projection {name!r} has a value of the wrong kind ({exc}). "
            "Hint: compare it with the spec example in the README."
        ) from None


def load_projection(path: str | Path, name: str) -> Projection:
    projections = load_projections(path)
    if name not in projections:
        raise UnknownProjectionError(name, projections, source=str(path))
    return projections[name]
