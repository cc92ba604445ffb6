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
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from eventlab.errors import ValidationError
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


def load_projections(path: str | Path) -> dict[str, Projection]:
    """All projections of a TOML spec file, by name."""
    source = Path(path)
    try:
        data = tomllib.loads(source.read_text())
    except FileNotFoundError:
        raise ValidationError(f"spec file {source} does not exist.") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValidationError(f"spec file {source} is not valid TOML: {exc}.") from None
    tables = data.get("projections")
    if not isinstance(tables, Mapping) or not tables:
        raise ValidationError(
            f"spec file {source} has no [projections.<name>] table; see the README for an example."
        )
    return {name: projection_from_toml(name, table) for name, table in tables.items()}


def load_projection(path: str | Path, name: str) -> Projection:
    projections = load_projections(path)
    if name not in projections:
        raise ValidationError(
            f"projection {name!r} is not in {path}; it defines {sorted(projections)}."
        )
    return projections[name]
