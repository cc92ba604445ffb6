"""Commands: typed intents addressed to one stream, validated (vectorized) before any decision.

.. code-block:: python

    from eventlab.write import CommandType, Field

    Deposit = CommandType("Deposit", amount=Field(float, gt=0))
    cmd = Deposit("acc-1", amount=50.0, command_id="c-1")   # one Command value
    frame = commands_frame([cmd, Deposit("acc-2", amount=-5.0)])   # a Polars frame of them

A command frame has the envelope columns ``command_id``, ``command_type``, ``stream_id``,
``occurred_at`` (when it was issued; events it causes get this valid time), ``correlation_id``,
``causation_id``, ``actor``, plus one column per payload field (the union over command types).
:func:`validate` adds a ``reason`` column, null for a valid command, else a message naming the
field and the rule, e.g. ``field 'amount' must be > 0 (got -5.0)``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import polars as pl

from eventlab.envelope import UTC_DATETIME
from eventlab.errors import ValidationError
from eventlab.textformat import format_text

META: dict[str, pl.DataType] = {
    "command_id": pl.String(),
    "command_type": pl.String(),
    "stream_id": pl.String(),
    "occurred_at": UTC_DATETIME,
    "correlation_id": pl.String(),
    "causation_id": pl.String(),
    "actor": pl.String(),
}
#: Names a payload field may not use: command envelope, state version, and internal columns.
RESERVED = (*META, "stream_type", "version", "seq", "reason", "stage", "outcome", "event_type",
            "event_id", "position", "recorded_at", "schema_version")
_PY_TYPES: dict[type, pl.DataType] = {
    float: pl.Float64(), int: pl.Int64(), str: pl.String(), bool: pl.Boolean(),
    datetime: UTC_DATETIME,
}
Check = Callable[[pl.Expr], pl.Expr]


def as_dtype(dtype: pl.DataType | type) -> pl.DataType:
    """A Polars dtype from a Polars dtype (class or instance) or a Python type."""
    if isinstance(dtype, type) and dtype in _PY_TYPES:
        return _PY_TYPES[dtype]
    if isinstance(dtype, pl.DataType):
        return UTC_DATETIME if isinstance(dtype, pl.Datetime) else dtype
    if isinstance(dtype, type) and issubclass(dtype, pl.DataType):
        return UTC_DATETIME if dtype is pl.Datetime else dtype()
    raise ValidationError(
        f"{dtype!r} is not a field type; use float, int, str, bool, datetime or a Polars dtype."
    )


@dataclass(frozen=True)
class Rule:
    """A named check on one field: ``check(column) -> bool expression``, True when valid."""

    text: str
    check: Check = field(compare=False)


@dataclass(frozen=True)
class Field:
    """A typed payload field. Rules apply to non-null values; ``required`` forbids nulls.

    ``Field(float, gt=0)``, ``Field(str, one_of=("EUR", "USD"))``, ``Field(str, pattern=r"^A")``,
    ``Field(int, required=False, ge=0, rules=[Rule("must be even", lambda c: c % 2 == 0)])``.
    """

    dtype: Any
    required: bool = True
    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None
    one_of: tuple[Any, ...] | None = None
    pattern: str | None = None
    min_length: int | None = None
    rules: tuple[Rule, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "dtype", as_dtype(self.dtype))
        object.__setattr__(self, "rules", tuple(self.rules))
        if self.one_of is not None:
            object.__setattr__(self, "one_of", tuple(self.one_of))

    def all_rules(self) -> list[Rule]:
        """The declared bounds as rules (in a fixed order), then the custom rules."""
        out = [Rule(f"must be {op} {value}", _bound(op, value)) for value, op in
               ((self.gt, ">"), (self.ge, ">="), (self.lt, "<"), (self.le, "<="))
               if value is not None]
        if self.one_of is not None:
            values = list(self.one_of)
            out.append(Rule(f"must be one of {values}", lambda c: c.is_in(values)))
        if self.pattern is not None:
            pattern = self.pattern
            out.append(Rule(f"must match {pattern!r}", lambda c: c.str.contains(pattern)))
        if self.min_length is not None:
            n = self.min_length
            out.append(Rule(f"must have at least {n} character(s)",
                            lambda c: c.str.len_chars() >= n))
        return [*out, *self.rules]


def _bound(op: str, value: float) -> Check:
    checks: dict[str, Check] = {
        ">": lambda c: c > value, ">=": lambda c: c >= value,
        "<": lambda c: c < value, "<=": lambda c: c <= value,
    }
    return checks[op]


@dataclass(frozen=True)
class Command:
    """One command: its type, target stream, payload and envelope. Immutable."""

    command_type: str
    stream_id: str
    data: Mapping[str, Any]
    command_id: str
    occurred_at: datetime | None = None
    correlation_id: str | None = None
    causation_id: str | None = None
    actor: str | None = None

    def to_frame(self) -> pl.DataFrame:
        return commands_frame([self])


class CommandType:
    """A kind of command with typed fields: ``Deposit = CommandType("Deposit", amount=Field(
    float, gt=0))``; calling it makes a :class:`Command`."""

    def __init__(self, name: str, **fields: Field) -> None:
        if not name:
            raise ValidationError("a command type needs a non-empty name.")
        bad = [f for f in fields if f in RESERVED]
        if bad:
            raise ValidationError(
                f"command type {name!r}: field name(s) {bad} are reserved (command envelope or "
                f"internal columns: {list(RESERVED)}). Hint: rename them."
            )
        wrong = [f for f, spec in fields.items() if not isinstance(spec, Field)]
        if wrong:
            raise ValidationError(
                f"command type {name!r}: {wrong} must be Field(...) values, e.g. Field(float)."
            )
        self.name = name
        self.fields: dict[str, Field] = dict(fields)

    @property
    def schema(self) -> dict[str, pl.DataType]:
        return {name: spec.dtype for name, spec in self.fields.items()}

    def __call__(
        self,
        stream_id: str,
        *,
        command_id: str | None = None,
        occurred_at: datetime | None = None,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        actor: str | None = None,
        **data: Any,
    ) -> Command:
        return Command(
            self.name, stream_id, dict(data), command_id or f"cmd-{uuid.uuid4().hex}",
            occurred_at, correlation_id, causation_id, actor,
        )

    def __repr__(self) -> str:
        fields = ", ".join(f"{n}: {f.dtype}" for n, f in self.fields.items())
        return f"CommandType({self.name!r}, {fields})"


def commands_frame(commands: Iterable[Command]) -> pl.DataFrame:
    """A command frame from Command values (fields of mixed types become strings and are
    reported by :func:`validate`)."""
    rows = []
    for cmd in commands:
        meta = {"command_id": cmd.command_id, "command_type": cmd.command_type,
                "stream_id": cmd.stream_id, "occurred_at": cmd.occurred_at,
                "correlation_id": cmd.correlation_id, "causation_id": cmd.causation_id,
                "actor": cmd.actor}
        data = {k: [v] for k, v in cmd.data.items() if k not in meta}
        rows.append(pl.DataFrame({**{k: [v] for k, v in meta.items()}, **data}, strict=False))
    if not rows:
        raise ValidationError("no commands given; pass at least one Command.")
    return pl.concat(rows, how="diagonal_relaxed")


def field_schema(types: Sequence[CommandType]) -> dict[str, pl.DataType]:
    """The union of the fields of ``types``; a field name must have one dtype everywhere."""
    schema: dict[str, pl.DataType] = {}
    for ctype in types:
        for name, dtype in ctype.schema.items():
            if name in schema and schema[name] != dtype:
                raise ValidationError(
                    f"field {name!r} is {schema[name]} in one command type and {dtype} in "
                    f"{ctype.name!r}; a field name needs one dtype across the command types "
                    "handled together. Hint: rename one of them."
                )
            schema[name] = dtype
    return schema


def _cast(column: pl.Expr, source: pl.DataType, target: pl.DataType) -> pl.Expr:
    if source == pl.String() and isinstance(target, pl.Datetime):
        return column.str.to_datetime(time_zone="UTC", strict=False).dt.cast_time_unit("us")
    if isinstance(source, pl.Datetime) and isinstance(target, pl.Datetime):
        naive = source.time_zone is None
        utc = column.dt.replace_time_zone("UTC") if naive else column.dt.convert_time_zone("UTC")
        return utc.dt.cast_time_unit("us")
    return column.cast(target, strict=False)


def normalize(frame: pl.DataFrame, types: Sequence[CommandType], *, now: datetime,
              id_prefix: str | None = None) -> pl.DataFrame:
    """Envelope columns present and typed, ``seq`` (input order), raw field values kept in
    ``<field>__raw`` next to the typed ``<field>`` (null where the cast failed)."""
    missing = [c for c in ("command_type", "stream_id") if c not in frame.columns]
    if missing:
        raise ValidationError(
            f"the command frame lacks column(s) {missing}; it needs command_type and stream_id "
            "(and usually command_id, occurred_at and one column per payload field)."
        )
    prefix = id_prefix or f"cmd-{uuid.uuid4().hex[:16]}"
    out = frame.with_row_index("seq").with_columns(pl.col("seq").cast(pl.Int64))
    fill: dict[str, pl.Expr] = {
        "command_id": format_text("{}-{}", pl.lit(prefix), pl.col("seq")),
        "occurred_at": pl.lit(now).dt.cast_time_unit("us"),
        "correlation_id": pl.col("command_id"),
    }
    for name, dtype in META.items():
        column = pl.col(name) if name in out.columns else pl.lit(None, dtype)
        typed = _cast(column, out.schema.get(name, dtype), dtype)
        if name == "occurred_at":  # kept to report an unreadable time
            out = out.with_columns(column.cast(pl.String).alias("occurred_at__raw"),
                                   (column.is_not_null() & typed.is_null()).alias("__bad_time"))
        out = out.with_columns(typed.alias(name))
        if name in fill:
            out = out.with_columns(pl.coalesce(name, fill[name]).alias(name))
    casts = []
    for name, dtype in field_schema(types).items():
        source = out.schema.get(name, dtype)
        raw = pl.col(name) if name in out.columns else pl.lit(None, dtype)
        casts += [raw.alias(f"{name}__raw"), _cast(raw, source, dtype).alias(name)]
    return out.with_columns(casts)


def _format(text: str, value: pl.Expr) -> pl.Expr:
    return format_text(text.replace("{", "{{").replace("}", "}}") + " (got {})",
                     value.cast(pl.String).fill_null("null"))


def invalid_reason(types: Sequence[CommandType], columns: Sequence[str]) -> pl.Expr:
    """Reason (String) a normalized command is invalid, null when valid: the first failing
    check of: stream id, known type, unknown fields, then per field type, required, rules."""
    known = [t.name for t in types]
    ctype = pl.col("command_type")
    chain: Any = pl.when(pl.col("stream_id").is_null() | (pl.col("stream_id") == "")).then(
        pl.lit("field 'stream_id' is required (a command addresses one stream)")
    )
    chain = chain.when(pl.col("__bad_time")).then(_format(
        "field 'occurred_at' must be a datetime (UTC, or ISO 8601 text)",
        pl.col("occurred_at__raw")))
    chain = chain.when(~ctype.is_in(known).fill_null(False)).then(
        format_text("command type {} is unknown; known types: {}", ctype.fill_null("null"),
                  pl.lit(", ".join(known)))
    )
    fields = {f for t in types for f in t.fields}
    for ctype_spec in types:
        is_type = ctype == ctype_spec.name
        for name in sorted(fields - set(ctype_spec.fields)):
            raw = pl.col(f"{name}__raw")
            chain = chain.when(is_type & raw.is_not_null()).then(_format(
                f"field {name!r} is not a field of {ctype_spec.name} (fields: "
                f"{', '.join(ctype_spec.fields) or 'none'})", raw))
        chain = _field_checks(chain, is_type, ctype_spec)
    extra = [c for c in columns if c not in RESERVED and c not in fields]
    for name in extra:
        chain = chain.when(pl.col(name).is_not_null()).then(
            _format(f"field {name!r} is not a field of any known command type", pl.col(name)))
    return chain.otherwise(pl.lit(None, pl.String))


def _field_checks(chain: Any, is_type: pl.Expr, ctype: CommandType) -> Any:
    for name, spec in ctype.fields.items():
        value, raw = pl.col(name), pl.col(f"{name}__raw")
        chain = chain.when(is_type & raw.is_not_null() & value.is_null()).then(
            _format(f"field {name!r} must be a {spec.dtype}", raw))
        if spec.required:
            chain = chain.when(is_type & value.is_null()).then(
                pl.lit(f"field {name!r} is required (missing or null)"))
        for rule in spec.all_rules():
            failed = is_type & value.is_not_null() & ~rule.check(value).fill_null(False)
            chain = chain.when(failed).then(_format(f"field {name!r} {rule.text}", value))
    return chain


def validate(frame: pl.DataFrame, types: Sequence[CommandType], *, now: datetime) -> pl.DataFrame:
    """Normalize ``frame`` and add ``reason`` (null for valid commands). Never raises for a bad
    row: every invalid command gets its own message."""
    normalized = normalize(frame, types, now=now)
    reason = invalid_reason(types, frame.columns)
    raws = [c for c in normalized.columns if c.endswith("__raw") or c == "__bad_time"]
    return normalized.with_columns(reason=reason).drop(raws)
