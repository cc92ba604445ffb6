"""Comparing two read models (two states, two projection versions, a projection and an external
table): keys only in A, only in B, and changed rows with both values."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import polars as pl

from eventlab.errors import ColumnNotFoundError, ValidationError


@dataclass(frozen=True)
class Diff:
    """Result of :func:`diff_frames`. ``changed`` has the key, then ``<col>_a`` / ``<col>_b`` for
    every compared column, and ``changed_columns`` (list of the columns that differ)."""

    key: tuple[str, ...]
    columns: tuple[str, ...]
    only_in_a: pl.DataFrame
    only_in_b: pl.DataFrame
    changed: pl.DataFrame
    mismatches: pl.DataFrame  # column, mismatches (count)

    @property
    def equal(self) -> bool:
        return not (self.only_in_a.height or self.only_in_b.height or self.changed.height)

    def __repr__(self) -> str:
        counts = ", ".join(f"{k}={v:,}" for k, v in self.summary().items())
        return f"Diff(key={list(self.key)}, {counts}, columns={len(self.columns)})"

    def summary(self) -> dict[str, int]:
        return {
            "only_in_a": self.only_in_a.height,
            "only_in_b": self.only_in_b.height,
            "changed": self.changed.height,
        }

    def _repr_html_(self) -> str:
        from eventlab.projections.cards import diff_html

        return diff_html(self)


def _check(frame: pl.DataFrame, key: Sequence[str], side: str) -> None:
    missing = [k for k in key if k not in frame.columns]
    if missing:
        raise ColumnNotFoundError(
            missing, frame.columns, where=f"read model {side}",
            hint="name a key column both read models have.",
        )
    dupes = frame.select(key).is_duplicated().sum()
    if dupes:
        raise ValidationError(
            f"read model {side} has {dupes} rows with a repeated key {list(key)}; a read model "
            "needs one row per key. Hint: choose a key that is unique, or deduplicate first."
        )


def _align(
    a: pl.DataFrame, b: pl.DataFrame, columns: list[str]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Give each column one dtype on both sides (see :mod:`eventlab.projections.coerce`)."""
    from eventlab.projections.coerce import align

    return align(a, b, columns)


def diff_frames(
    a: pl.DataFrame,
    b: pl.DataFrame,
    key: str | Sequence[str],
    *,
    columns: Sequence[str] | None = None,
    tolerance: float = 0.0,
) -> Diff:
    """Rows only in ``a``, only in ``b``, and changed (same key, some compared column differs).

    Columns compared: ``columns`` or all non-key columns the two frames share. Where the two
    sides hold a column in different dtypes (a CSV read as text against Parquet), both are
    coerced to one (see :mod:`eventlab.projections.coerce`). Floats are equal when within
    ``tolerance``; nulls equal nulls.
    """
    keys = [key] if isinstance(key, str) else list(key)
    _check(a, keys, "A")
    _check(b, keys, "B")
    shared = [c for c in (columns or a.columns) if c in b.columns and c not in keys]
    a, b = _align(a, b, [*keys, *shared])
    _check(a, keys, "A")  # coercion may have merged keys ("1" and "01" read as numbers)
    _check(b, keys, "B")
    joined = (
        a.select(*keys, *shared)
        .join(b.select(*keys, *shared), on=keys, how="inner", suffix="_b", nulls_equal=True)
        .rename({c: f"{c}_a" for c in shared})
    )
    flags = [_differs(c, joined.schema[f"{c}_a"], tolerance).alias(c) for c in shared]
    marked = joined.with_columns(pl.struct(flags).alias("__flags")) if flags else joined
    changed = _changed_rows(marked, keys, shared)
    return Diff(
        key=tuple(keys),
        columns=tuple(shared),
        only_in_a=a.join(b.select(keys), on=keys, how="anti", nulls_equal=True).sort(keys),
        only_in_b=b.join(a.select(keys), on=keys, how="anti", nulls_equal=True).sort(keys),
        changed=changed,
        mismatches=pl.DataFrame(
            {
                "column": shared,
                "mismatches": [int(joined.select(f).sum().item()) for f in flags] if flags else [],
            },
            schema={"column": pl.String, "mismatches": pl.Int64},
        ),
    )


def _differs(column: str, dtype: pl.DataType, tolerance: float) -> pl.Expr:
    left, right = pl.col(f"{column}_a"), pl.col(f"{column}_b")
    if dtype.is_float() and tolerance > 0:
        close = (left - right).abs() <= tolerance
        return ~(close.fill_null(False) | (left.is_null() & right.is_null()))
    return left.ne_missing(right)


def _changed_rows(marked: pl.DataFrame, keys: list[str], shared: list[str]) -> pl.DataFrame:
    if not shared:
        return marked.select(keys).clear()
    flag_cols = pl.col("__flags").struct.unnest()
    rows = marked.filter(pl.any_horizontal(flag_cols))
    names = [pl.when(pl.col("__flags").struct.field(c)).then(pl.lit(c)) for c in shared]
    ordered = [c for s in shared for c in (f"{s}_a", f"{s}_b")]
    return (
        rows.with_columns(pl.concat_list(names).list.drop_nulls().alias("changed_columns"))
        .select(*keys, "changed_columns", *ordered)
        .sort(keys)
    )


@dataclass(frozen=True)
class Changes:
    """What changed between two points: ``added`` and ``removed`` keys (full rows), ``changed``
    rows with ``<col>_before`` / ``<col>_after`` and ``changed_columns``."""

    axis: str
    start: object
    end: object
    key: tuple[str, ...]
    added: pl.DataFrame
    removed: pl.DataFrame
    changed: pl.DataFrame

    @classmethod
    def from_diff(cls, diff: Diff, start: object, end: object, axis: str) -> Changes:
        names = {
            c: c[:-2] + ("_before" if c.endswith("_a") else "_after")
            for c in diff.changed.columns
            if c.endswith(("_a", "_b")) and c not in diff.key
        }
        return cls(
            axis, start, end, diff.key, diff.only_in_b, diff.only_in_a, diff.changed.rename(names)
        )

    def __repr__(self) -> str:
        counts = ", ".join(f"{k}={v:,}" for k, v in self.summary().items())
        return f"Changes({self.axis}: {self.start!s} -> {self.end!s}, {counts})"

    def summary(self) -> dict[str, int]:
        return {
            "added": self.added.height,
            "removed": self.removed.height,
            "changed": self.changed.height,
        }

    def long(self) -> pl.DataFrame:
        """One row per (key, changed field): field, before, after (values as strings)."""
        rows = self.changed.explode("changed_columns").rename({"changed_columns": "field"})
        fields = rows["field"].unique().to_list()

        def pick(suffix: str) -> pl.Expr:
            texts: list[pl.Expr] = [
                pl.when(pl.col("field") == f).then(as_text(f"{f}{suffix}", rows.schema))
                for f in fields
            ]
            return pl.coalesce(texts or [pl.lit(None, pl.String)])

        return rows.select(
            *self.key, "field", pick("_before").alias("before"), pick("_after").alias("after")
        ).sort([*self.key, "field"])

    def _repr_html_(self) -> str:
        from eventlab.projections.cards import changes_html

        return changes_html(self)


def as_text(column: str, schema: Mapping[str, pl.DataType]) -> pl.Expr:
    """A column as readable strings (lists joined with ", ")."""
    if isinstance(schema[column], pl.List):
        return pl.col(column).list.eval(pl.element().cast(pl.String)).list.join(", ")
    return pl.col(column).cast(pl.String)
