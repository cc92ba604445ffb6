"""Upcasters: per (event type, schema_version) transforms applied when reading, before folds.

Old files are never rewritten. An upcaster turns events of ``event_type`` at ``from_version``
into ``to_version`` (default ``from_version + 1``) by renaming columns and/or setting columns from
Polars expressions evaluated on the old event. Upcasters chain: v1 -> v2 -> v3 is applied in order.

.. code-block:: python

    Upcaster("Payment", 1, rename={"paymentAmount": "amount"}, set={"currency": pl.lit("EUR")})
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from eventlab.errors import ValidationError


@dataclass(frozen=True)
class Upcaster:
    event_type: str
    from_version: int
    to_version: int | None = None
    rename: Mapping[str, str] = field(default_factory=dict)
    set: Mapping[str, pl.Expr] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.to_version is None:
            object.__setattr__(self, "to_version", self.from_version + 1)
        assert self.to_version is not None
        if self.to_version <= self.from_version:
            raise ValidationError(
                f"upcaster for {self.event_type!r}: to_version ({self.to_version}) must be "
                f"greater than from_version ({self.from_version})."
            )

    def matches(self) -> pl.Expr:
        return (pl.col("event_type") == self.event_type) & (
            pl.col("schema_version") == self.from_version
        )

    def describe(self) -> dict[str, Any]:
        return {
            "event_type": self.event_type,
            "from": self.from_version,
            "to": self.to_version,
            "rename": dict(self.rename),
            "set": {k: v.meta.serialize(format="json") for k, v in self.set.items()},
        }


def upcaster_from_toml(table: Mapping[str, Any]) -> Upcaster:
    from eventlab.projections.expressions import parse_expression

    try:
        return Upcaster(
            event_type=str(table["event_type"]),
            from_version=int(table["from_version"]),
            to_version=int(table["to_version"]) if "to_version" in table else None,
            rename=dict(table.get("rename", {})),
            set={k: parse_expression(str(v)) for k, v in dict(table.get("set", {})).items()},
        )
    except KeyError as exc:
        raise ValidationError(
            f"an upcaster needs event_type and from_version; missing {exc}."
        ) from None


def _step(frame: pl.LazyFrame, upcaster: Upcaster, columns: list[str]) -> pl.LazyFrame:
    match = upcaster.matches()

    def current(name: str) -> pl.Expr:
        return pl.col(name) if name in columns else pl.lit(None)

    changes: dict[str, pl.Expr] = {}
    for old, new in upcaster.rename.items():
        changes[new] = pl.when(match).then(current(old)).otherwise(current(new))
        changes.setdefault(old, pl.when(match).then(None).otherwise(current(old)))
    for name, expr in upcaster.set.items():
        changes[name] = pl.when(match).then(expr).otherwise(current(name))
    changes["schema_version"] = (
        pl.when(match)
        .then(pl.lit(upcaster.to_version, pl.Int32))
        .otherwise(pl.col("schema_version"))
    )
    return frame.with_columns(**changes)


def upcast(frame: pl.LazyFrame, upcasters: Sequence[Upcaster]) -> pl.LazyFrame:
    """Apply ``upcasters`` lazily (in order of from_version), returning a new LazyFrame."""
    if not upcasters:
        return frame
    columns = frame.collect_schema().names()
    for upcaster in sorted(upcasters, key=lambda u: (u.from_version, u.event_type)):
        frame = _step(frame, upcaster, columns)
        columns = [
            *columns,
            *(c for c in (*upcaster.rename.values(), *upcaster.set) if c not in columns),
        ]
    return frame
