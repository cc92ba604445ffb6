"""Read models to compare, from whatever a user has at hand: frames, views, exports, files.
The pure functions behind the read-model comparison (no widget needed)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from eventlab.errors import ValidationError
from eventlab.projections.diff import Diff, as_text

KINDS = ("changed", "only_in_a", "only_in_b")  #: kinds of differing rows (Diff.summary() keys)


def read_model(source: Any, label: str) -> pl.DataFrame:
    """A read model as a DataFrame: a frame, a LazyFrame, a ProjectionView (its current state),
    an export (ReadModel or ExportResult), or a Parquet / CSV path (file or folder of Parquet)."""
    from eventlab.projections.export import ExportResult, ReadModel
    from eventlab.projections.view import ProjectionView

    if isinstance(source, pl.DataFrame):
        return source
    if isinstance(source, pl.LazyFrame):
        return source.collect()
    if isinstance(source, ProjectionView):
        return source.state(progress=False)
    if isinstance(source, ExportResult):
        return source.read_model.read()
    if isinstance(source, ReadModel):
        return source.read()
    if isinstance(source, (str, Path)):
        return _read_path(Path(source), label)
    raise ValidationError(
        f"read model {label} is a {type(source).__name__}; pass a Polars DataFrame or LazyFrame,"
        " a ProjectionView (store.project(...)), or a path to a .parquet / .csv file."
    )


def _read_path(path: Path, label: str) -> pl.DataFrame:
    if not path.exists():
        raise ValidationError(
            f"read model {label}: {path} does not exist. Hint: check the path, or export one "
            "with view.export(folder)."
        )
    try:
        if path.is_dir():
            return pl.read_parquet(path / "**" / "*.parquet", hive_partitioning=True)
        if path.suffix.lower() == ".csv":
            return pl.read_csv(path, try_parse_dates=True)
        if path.suffix.lower() in (".parquet", ".pq"):
            return pl.read_parquet(path)
    except pl.exceptions.PolarsError as exc:
        raise ValidationError(
            f"read model {label}: cannot read {path}: {str(exc).splitlines()[0]}."
        ) from exc
    raise ValidationError(
        f"read model {label}: {path.name} is neither .parquet nor .csv (nor a folder of Parquet)."
    )


def pick_key(frames: Sequence[pl.DataFrame], sources: Sequence[Any]) -> list[str]:
    """The key to compare on when none is given: a ProjectionView's key, else ``stream_id``."""
    for source in sources:
        projection = getattr(source, "projection", None)
        if projection is not None and hasattr(projection, "key"):
            return list(projection.key)
    if all("stream_id" in f.columns for f in frames):
        return ["stream_id"]
    raise ValidationError(
        "pass key= (the column(s) identifying a row in both read models); neither is a "
        "ProjectionView and they do not both have a stream_id column."
    )


def differing_rows(diff: Diff, kind: str, column: str | None = None) -> pl.DataFrame:
    """The rows of one ``kind`` (see :data:`KINDS`); for changed rows and a ``column``, only
    those where that column differs, with its two values."""
    if kind == "only_in_a":
        return diff.only_in_a
    if kind == "only_in_b":
        return diff.only_in_b
    if column is None:
        return diff.changed
    return diff.changed.filter(pl.col("changed_columns").list.contains(column)).select(
        *diff.key, "changed_columns", f"{column}_a", f"{column}_b")


def row_detail(changed_row: pl.DataFrame, columns: Sequence[str]) -> pl.DataFrame:
    """One changed row of a Diff as (column, a, b, differs) rows, values as text."""
    row = changed_row.head(1)
    differs = set(row["changed_columns"].explode().drop_nulls().to_list()) \
        if "changed_columns" in row.columns else set()
    return pl.DataFrame({
        "column": list(columns),
        "a": [row.select(as_text(f"{c}_a", row.schema)).item() for c in columns],
        "b": [row.select(as_text(f"{c}_b", row.schema)).item() for c in columns],
        "differs": [c in differs for c in columns],
    }, schema={"column": pl.String, "a": pl.String, "b": pl.String, "differs": pl.Boolean})


@dataclass(frozen=True)
class Selection:
    """What the comparison shows at one moment: the ``rows`` of one ``kind`` (and ``column``),
    and the ``detail`` of the row opened (empty until one is)."""

    kind: str
    column: str | None
    rows: pl.DataFrame
    detail: pl.DataFrame


def select_rows(diff: Diff, kind: str, column: str | None = None) -> Selection:
    if kind not in KINDS:
        raise ValidationError(f"kind={kind!r} is not one of {list(KINDS)}.")
    return Selection(kind, column, differing_rows(diff, kind, column), pl.DataFrame())


def open_row(diff: Diff, selection: Selection, index: int) -> Selection:
    """``selection`` with the detail of its ``index``-th row: both values side by side for a
    changed row, the row itself otherwise."""
    row = selection.rows.slice(index, 1)
    if selection.kind == "changed":
        changed = diff.changed.join(row.select(diff.key), on=list(diff.key), how="semi")
        detail = row_detail(changed, diff.columns)
    else:
        detail = row
    return Selection(selection.kind, selection.column, selection.rows, detail)
