"""JSON documents (one per event) -> typed, flat payload columns (vectorized per event type).

The naming rule: keys of nested objects are joined with ``_`` (``{"customer": {"address":
{"city": "Oslo"}}}`` becomes the column ``customer_city``'s parent ``customer_address_city``);
arrays of scalars stay lists (``List(Int64)``, ``List(String)``, ...); arrays of objects become
lists of JSON texts; a name already taken gets ``_2``, ``_3``, ... Each event type is decoded on
its own (Polars infers one struct per type from *all* its rows), so a field's dtype is the one
its values share; values of mixed kinds (a number in one event, an object in another) are kept
as JSON text. Rows that are not a JSON object are reported, not dropped: the caller quarantines
them with the reason.

Transcoded values of the ``eventsourcing`` library (``{"_type_": "datetime_iso", "_data_":
"2024-..."}``) become their value: datetimes are ``Datetime(us, UTC)``, other types their
``_data_`` (``uuid_hex``, ``decimal_str`` as text).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import polars as pl

from eventlab.sources.mapping import RENAMED_PREFIX, unique_name

SEPARATOR = "_"
TYPED = ("_data_", "_type_")
_ROW = "__eventlab_json_row"


@dataclass(frozen=True)
class Flattened:
    """``payload``: one row per input row (same order), flat typed columns; ``reasons``: null,
    or why the row's document could not be read (the caller quarantines those rows)."""

    payload: pl.DataFrame
    reasons: pl.Series


def flatten_repeated(
    texts: pl.Series, *, reserved: Iterable[str] = (), prefix: str = "", what: str = "data",
) -> Flattened:
    """Like :func:`flatten_documents` for documents that repeat a lot (headers, metadata):
    each distinct text is decoded once."""
    codes = texts.cast(pl.String).to_frame("text").with_columns(
        pl.col("text").rank("dense").cast(pl.Int64).fill_null(0).alias("code"))
    distinct = codes.unique("code").sort("code")
    flat = flatten_documents(distinct["text"], pl.repeat("all", distinct.height, eager=True),
                             reserved=reserved, prefix=prefix, what=what)
    decoded = pl.DataFrame({"code": distinct["code"], "__reason": flat.reasons,
                            **{c: flat.payload[c] for c in flat.payload.columns}})
    spread = codes.select("code").join(decoded, on="code", how="left", maintain_order="left")
    return Flattened(spread.drop("code", "__reason"), spread["__reason"])


def flatten_documents(
    texts: pl.Series, groups: pl.Series, *, reserved: Iterable[str] = (), prefix: str = "",
    what: str = "data",
) -> Flattened:
    """Decode ``texts`` (JSON objects) group by group (``groups``: the event type of each row)
    into flat columns; names in ``reserved`` (and names taken earlier) get ``_2``, ``_3``..."""
    frame = pl.DataFrame({"text": texts.cast(pl.String), "group": groups.cast(pl.String)})
    frame = frame.with_row_index(_ROW)
    is_object = pl.col("text").str.strip_chars_start().str.starts_with("{")
    reason = (pl.when(pl.col("text").is_null()).then(pl.lit(f"{what} is missing (null)"))
              .when(~is_object).then(pl.lit(f"{what} is not a JSON object"))
              .otherwise(pl.lit(None, pl.String)))
    frame = frame.with_columns(reason.alias("reason"))
    parts: list[pl.DataFrame] = []
    bad: list[pl.DataFrame] = []
    for _, rows in frame.filter(pl.col("reason").is_null()).group_by("group",
                                                                      maintain_order=True):
        decoded, invalid = _decode_group(rows)
        parts.append(decoded)
        bad.append(invalid)
    taken = set(reserved)
    flats = [_rename_flat(_flatten(part.drop(_ROW)), prefix, taken) for part in parts]
    columns = _common_dtypes(flats)
    payload = _stack(parts, flats, columns, frame.height)
    reasons = frame["reason"]
    for invalid in bad:
        if invalid.height:
            reasons = reasons.scatter(invalid[_ROW], invalid["reason"])
    return Flattened(payload, reasons)


def _decode_group(rows: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The group's documents decoded to one struct (rows that are no valid JSON are returned
    with a reason instead)."""
    try:
        decoded = rows["text"].str.json_decode(infer_schema_length=None)
        return _unnest(rows[_ROW], decoded), rows.clear().select(_ROW, "reason")
    except pl.exceptions.PolarsError:
        return _decode_slowly(rows)


def _decode_slowly(rows: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Fallback for a group Polars cannot decode in one go (invalid JSON in some rows, or a key
    holding an object in one event and a scalar in another): parse each document, keep values
    of mixed kinds as JSON text, then decode the normalised documents."""
    docs: list[dict[str, object] | None] = []
    errors: list[str | None] = []
    for text in rows["text"].to_list():
        try:
            doc = json.loads(text)
        except ValueError as exc:
            docs.append(None)
            errors.append(f"invalid JSON: {exc}")
            continue
        ok = isinstance(doc, dict)
        docs.append(doc if ok else None)
        errors.append(None if ok else "data is not a JSON object")
    mixed = _mixed_keys(d for d in docs if d is not None)
    texts = [None if d is None else json.dumps(
        {k: json.dumps(v) if k in mixed and v is not None else v for k, v in d.items()})
        for d in docs]
    good = pl.Series(texts, dtype=pl.String)
    keep = good.is_not_null()
    decoded = good.filter(keep).str.json_decode(infer_schema_length=None)
    invalid = pl.DataFrame({_ROW: rows[_ROW], "reason": pl.Series(errors, dtype=pl.String)})
    return _unnest(rows[_ROW].filter(keep), decoded), invalid.filter(pl.col("reason").is_not_null())


def _mixed_keys(docs: Iterable[dict[str, object]]) -> set[str]:
    kinds: dict[str, set[str]] = {}
    for doc in docs:
        for key, value in doc.items():
            if value is not None:
                kinds.setdefault(key, set()).add(_kind(value))
    return {k for k, v in kinds.items() if len(v) > 1 and not v <= {"number", "string"}}


def _kind(value: object) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, bool):
        return "bool"
    return "number" if isinstance(value, int | float) else "string"


def _unnest(rows: pl.Series, decoded: pl.Series) -> pl.DataFrame:
    if not isinstance(decoded.dtype, pl.Struct) or not decoded.dtype.fields:
        return pl.DataFrame({_ROW: rows})
    return decoded.struct.unnest().with_columns(rows.alias(_ROW))


def _flatten(frame: pl.DataFrame, path: str = "") -> dict[str, pl.Series]:
    """Nested structs -> ``parent_child`` columns; transcoded values -> their value."""
    out: dict[str, pl.Series] = {}
    for name in frame.columns:
        series = frame[name]
        key = unique_name(f"{path}{SEPARATOR}{name}" if path else name, set(out))
        dtype = series.dtype
        if isinstance(dtype, pl.Struct):
            fields = {f.name for f in dtype.fields}
            if fields and fields <= set(TYPED) and "_type_" in fields:
                out[key] = _transcoded(series)
            elif fields:
                out.update(_flatten(series.struct.unnest(), key))
        elif isinstance(dtype, pl.List):
            out[key] = _list_value(series)
        else:
            out[key] = series
    return out


def _transcoded(series: pl.Series) -> pl.Series:
    """``{"_type_": ..., "_data_": ...}`` -> a datetime for ``datetime_iso``, else the data."""
    kinds = series.struct.field("_type_").drop_nulls().unique().to_list()
    if "_data_" not in {f.name for f in series.dtype.fields}:  # type: ignore[attr-defined]
        return pl.Series(series.name, [None] * series.len(), dtype=pl.String)
    data = series.struct.field("_data_")
    if kinds == ["datetime_iso"] and data.dtype == pl.String:
        parsed = data.str.to_datetime(time_zone="UTC", time_unit="us", strict=False)
        if parsed.null_count() == data.null_count():
            return parsed
    return _as_text(data)


def _list_value(series: pl.Series) -> pl.Series:
    inner = series.dtype.inner  # type: ignore[attr-defined]
    if isinstance(inner, pl.Struct):
        return series.list.eval(pl.element().struct.json_encode())
    if isinstance(inner, pl.List) and not _scalar_leaves(inner):
        return _as_text(series)
    return series


def _scalar_leaves(dtype: pl.DataType) -> bool:
    while isinstance(dtype, pl.List):
        dtype = dtype.inner  # type: ignore[assignment]
    return not isinstance(dtype, pl.Struct | pl.Array)


def _as_text(series: pl.Series) -> pl.Series:
    """Any value as its JSON text (strings as they are)."""
    if series.dtype == pl.String:
        return series
    if series.dtype == pl.Null:
        return series.cast(pl.String)
    wrapped = pl.DataFrame({"v": series}).select(pl.struct("v").struct.json_encode()).to_series()
    return wrapped.str.strip_prefix('{"v":').str.strip_suffix("}").alias(series.name)


def _rename_flat(flat: dict[str, pl.Series], prefix: str, taken: set[str]) -> dict[str, pl.Series]:
    """Prefix the names; a reserved name becomes ``source_<name>`` (then ``_2``, ...)."""
    out: dict[str, pl.Series] = {}
    for name, series in flat.items():
        target = f"{prefix}{name}"
        if target in taken:
            target = unique_name(RENAMED_PREFIX + target, taken)
        out[target] = series.alias(target)
    return out


def _common_dtypes(flats: list[dict[str, pl.Series]]) -> dict[str, pl.DataType]:
    """One dtype per column across groups: the shared one, a numeric supertype, else text."""
    seen: dict[str, set[pl.DataType]] = {}
    for flat in flats:
        for name, series in flat.items():
            if series.dtype != pl.Null:
                seen.setdefault(name, set()).add(series.dtype)
    out: dict[str, pl.DataType] = {}
    for flat in flats:
        for name in flat:
            kinds = seen.get(name, set())
            out[name] = _supertype(kinds)
    return out


def _supertype(kinds: set[pl.DataType]) -> pl.DataType:
    if not kinds:
        return pl.Null()
    if len(kinds) == 1:
        return next(iter(kinds))
    if all(k.is_numeric() for k in kinds):
        return pl.Float64() if any(k.is_float() for k in kinds) else pl.Int64()
    return pl.String()


def _stack(parts: list[pl.DataFrame], flats: list[dict[str, pl.Series]],
           columns: Mapping[str, pl.DataType], height: int) -> pl.DataFrame:
    """Concatenate the groups' columns in the common dtypes, then put rows back in input order."""
    frames = []
    for part, flat in zip(parts, flats, strict=True):
        cols = {name: _cast(series, columns[name]) for name, series in flat.items()}
        frames.append(pl.DataFrame({_ROW: part[_ROW], **cols}))
    rows = pl.concat(frames, how="diagonal_relaxed") if len(frames) > 1 else (
        frames[0] if frames else pl.DataFrame({_ROW: pl.Series([], dtype=pl.UInt32)}))
    rows = rows.with_columns(pl.col(_ROW).cast(pl.UInt32))
    missing = pl.int_range(0, height, dtype=pl.UInt32, eager=True)
    missing = missing.filter(~missing.is_in(rows[_ROW].implode()))
    stacked = pl.concat([rows, pl.DataFrame({_ROW: missing})], how="diagonal_relaxed")
    names = sorted({n for flat in flats for n in flat}, key=list(columns).index)
    return stacked.sort(_ROW).select(names)


def _cast(series: pl.Series, dtype: pl.DataType) -> pl.Series:
    if series.dtype == dtype or dtype == pl.Null:
        return series
    if dtype == pl.String:
        return _as_text(series)
    return series.cast(dtype, strict=False)
