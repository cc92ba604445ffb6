"""Deciders: how one stream type turns commands into events, declared as Polars expressions.

A :class:`Decider` has

* typed event schemas (event type -> payload columns and dtypes);
* ``state``: a :class:`~eventlab.Projection` keyed by ``stream_id`` - *evolve* is the same fold
  the read models use, so loading state for a decision is the vectorized fold (with snapshots);
  ``initial`` gives field values for a stream with no events (default: 0 for count/sum, the
  status default, else null); a ``version`` field (the stream's version) is always added;
* one :class:`Handler` per command type: ``reject`` rules (``reject_if(condition, reason)``,
  first match wins; a null condition rejects too - invariants fail closed) and ``emit``
  templates (``Emit("Withdrawn", amount=pl.col("amount"), when=...)``).

Rules and templates see one row per command: its fields, envelope (``stream_id``,
``occurred_at``, ...) and the stream's state fields. :meth:`Decider.decide` is the per-command
path (``decide(command, state) -> events | Rejected``); :mod:`eventlab.write.engine` evaluates
the same expressions over a whole frame of commands.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import polars as pl

from eventlab.errors import ValidationError
from eventlab.projections import reducers as R
from eventlab.projections.fold import merge_states, partial_state
from eventlab.projections.spec import Projection
from eventlab.textformat import format_text
from eventlab.write.commands import RESERVED, Command, CommandType, as_dtype, field_schema, validate

EVENT_META: dict[str, pl.DataType] = {
    "event_id": pl.String(), "stream_type": pl.String(), "stream_id": pl.String(),
    "version": pl.Int64(), "position": pl.Int64(), "event_type": pl.String(),
    "occurred_at": pl.Datetime("us", "UTC"), "correlation_id": pl.String(),
    "causation_id": pl.String(), "actor": pl.String(),
}


@dataclass(frozen=True)
class RejectIf:
    """Reject the command when ``condition`` is true (or null) with ``reason`` (text or a
    String expression over the command row)."""

    condition: pl.Expr = field(compare=False)
    reason: str | pl.Expr = field(compare=False)

    def reason_expr(self) -> pl.Expr:
        """The reason as a String expression, never null (a null formatted reason falls back
        to the rule's condition, so a rejection is never mistaken for an acceptance)."""
        if isinstance(self.reason, pl.Expr):
            fallback = f"rejected by rule {self.condition.meta.root_names()} (reason was null)"
            return self.reason.cast(pl.String).fill_null(pl.lit(fallback))
        return pl.lit(self.reason, pl.String)


def reject_if(condition: pl.Expr, reason: str | pl.Expr) -> RejectIf:
    return RejectIf(condition, reason)


@dataclass(frozen=True, init=False)
class Emit:
    """An event template: ``Emit("Withdrawn", amount=pl.col("amount"), when=...)``. Payload
    values are expressions over the command row (or literals); ``when`` null means no event."""

    event_type: str
    payload: Mapping[str, pl.Expr] = field(compare=False)
    when: pl.Expr | None = field(default=None, compare=False)

    def __init__(self, event_type: str, *, when: pl.Expr | None = None, **payload: Any) -> None:
        values = {k: v if isinstance(v, pl.Expr) else pl.lit(v) for k, v in payload.items()}
        object.__setattr__(self, "event_type", event_type)
        object.__setattr__(self, "payload", values)
        object.__setattr__(self, "when", when)


@dataclass(frozen=True)
class Handler:
    """How a decider handles one command type."""

    command: CommandType = field(compare=False)
    emit: Sequence[Emit] = ()
    reject: Sequence[RejectIf] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "emit", tuple(self.emit))
        object.__setattr__(self, "reject", tuple(self.reject))


@dataclass(frozen=True)
class Rejected:
    """The outcome of a rejected command: ``stage`` is "validation" or "decision"."""

    reason: str
    stage: str = "decision"


def _default(reducer: R.Reducer) -> Any:
    if isinstance(reducer, (R.Count, R.Sum, R.CountDistinct)):
        return 0
    if isinstance(reducer, R.Status):
        return reducer.default
    return None


class Decider:
    """The write model of one stream type; see the module docstring."""

    def __init__(
        self,
        stream_type: str,
        *,
        events: Mapping[str, Mapping[str, Any]],
        state: Projection,
        handlers: Sequence[Handler],
        initial: Mapping[str, Any] | None = None,
    ) -> None:
        self.stream_type = stream_type
        self.events = {t: {c: as_dtype(d) for c, d in cols.items()} for t, cols in events.items()}
        self.state = state
        self.handlers = {h.command.name: h for h in handlers}
        self.initial = dict(initial or {})
        self._check()
        self.projection = Projection(
            name=state.name, fields={**state.fields, "version": R.Max(column="version")},
            key=("stream_id",), stream_types=(stream_type,), derived=state.derived,
            upcasters=state.upcasters,
        )
        self.payload_schema = self._payload_schema()
        self.event_schema = {**EVENT_META, **self.payload_schema}
        self.partial_schema = partial_state(self.empty_events().lazy(), self.projection).collect(
        ).schema
        self._compile()

    # ------------------------------------------------------------------ definition checks
    def _check(self) -> None:
        name = f"decider {self.stream_type!r}"
        if self.state.key != ("stream_id",) or self.state.where is not None:
            raise ValidationError(
                f"{name}: the state projection must be keyed by stream_id and have no where= "
                "filter (limit reducers with on=/where= instead)."
            )
        clash = [f for f in [*self.state.fields, *self.state.derived] if f in RESERVED]
        fields = {f for h in self.handlers.values() for f in h.command.fields}
        clash += sorted(fields & {*self.state.fields, *self.state.derived})
        if clash:
            raise ValidationError(
                f"{name}: state field(s) {clash} clash with command fields or reserved names "
                f"({', '.join(RESERVED)}); decisions see both in one row. Hint: rename them."
            )
        unknown = [e.event_type for h in self.handlers.values() for e in h.emit
                   if e.event_type not in self.events]
        extra = [f"{e.event_type}.{c}" for h in self.handlers.values() for e in h.emit
                 if e.event_type in self.events for c in e.payload
                 if c not in self.events[e.event_type]]
        if unknown or extra:
            raise ValidationError(
                f"{name}: templates emit undeclared event types {unknown} or payload columns "
                f"{extra}; declared: {self.events}. Hint: add them to events=."
            )
        bad = [f for f in self.initial if f not in self.state.fields]
        if bad:
            raise ValidationError(f"{name}: initial= names unknown state fields {bad}.")

    def _payload_schema(self) -> dict[str, pl.DataType]:
        schema: dict[str, pl.DataType] = {}
        for event_type, columns in self.events.items():
            for column, dtype in columns.items():
                if column in EVENT_META or schema.get(column, dtype) != dtype:
                    raise ValidationError(
                        f"decider {self.stream_type!r}: payload column {column!r} of "
                        f"{event_type!r} is reserved or has two dtypes; one dtype per column."
                    )
                schema[column] = dtype
        return schema

    @property
    def command_types(self) -> list[CommandType]:
        return [h.command for h in self.handlers.values()]

    # ------------------------------------------------------------------ state
    def empty_events(self) -> pl.DataFrame:
        return pl.DataFrame(schema=self.event_schema)

    def _compile(self) -> None:
        """Build every expression once: rounds reuse them (building is costlier than running)."""
        fields = self.projection.fields
        self._values = [r.finalize(n).alias(n) for n, r in fields.items()]
        fresh = pl.col("version").is_null()
        self._fills = [
            pl.when(fresh).then(pl.lit(value)).otherwise(pl.col(n)).alias(n)
            for n, r in self.state.fields.items()
            if (value := self.initial.get(n, _default(r))) is not None
        ] + [pl.col("version").fill_null(0)]
        self._reason = self._reason_expr()
        self._templates = self._template_expr()

    def partial(self, events: pl.DataFrame) -> pl.DataFrame:
        """Partial (mergeable) state of the streams of ``events`` (the fold's first step)."""
        return self.partial_lazy(events.lazy()).collect()

    def partial_lazy(self, events: pl.LazyFrame) -> pl.LazyFrame:
        return partial_state(events, self.projection)

    def merge_lazy(self, partials: Sequence[pl.LazyFrame]) -> pl.LazyFrame:
        return merge_states(partials, self.projection)

    def states_lazy(self, partial: pl.LazyFrame, streams: pl.LazyFrame) -> pl.LazyFrame:
        done = partial.select("stream_id", *self._values)
        out = streams.join(done, on="stream_id", how="left").with_columns(self._fills)
        return out.with_columns(**self.state.derived) if self.state.derived else out

    def finish_lazy(self, rows: pl.LazyFrame) -> pl.LazyFrame:
        """Rows carrying partial state columns (null: a new stream) -> finalized state fields,
        initial values and derived fields; the partial-only columns are dropped."""
        extra = [c for c in self.partial_schema if c != "stream_id"
                 and c not in self.projection.fields]
        out = rows.with_columns(self._values).drop(extra).with_columns(self._fills)
        return out.with_columns(**self.state.derived) if self.state.derived else out

    def states(self, partial: pl.DataFrame, streams: pl.DataFrame) -> pl.DataFrame:
        """``streams`` (one row per stream_id) joined to their finalized state (initial values,
        ``version`` and derived fields) from partial states (streams without one are new)."""
        return self.states_lazy(partial.lazy(), streams.lazy()).collect()

    def state_of(self, events: pl.DataFrame) -> pl.DataFrame:
        """State per stream after ``events`` (evolve): the projection's fold plus initial
        values. Events without ``position``/``version`` are taken in frame order."""
        frame = events.with_row_index("__row")
        if "position" not in frame.columns:
            frame = frame.with_columns(position=pl.col("__row").cast(pl.Int64))
        if "version" not in frame.columns:
            frame = frame.with_columns(version=pl.int_range(1, pl.len() + 1).over("stream_id"))
        frame = frame.with_columns(
            pl.col(c).cast(d) if c in frame.columns else pl.lit(None, d).alias(c)
            for c, d in self.event_schema.items())
        streams = frame.select("stream_id").unique().sort("stream_id")
        partial = partial_state(frame.drop("__row").lazy(), self.projection).collect()
        return self.states(partial, streams)

    def initial_state(self) -> dict[str, Any]:
        """The state of a stream with no events (derived fields included)."""
        empty = pl.DataFrame(schema=self.partial_schema)
        return self.states(empty, pl.DataFrame({"stream_id": [""]})).drop("stream_id").row(
            0, named=True)

    # ------------------------------------------------------------------ decisions
    def _reason_expr(self) -> pl.Expr:
        chain: Any = None
        for name, handler in self.handlers.items():
            for rule in handler.reject:
                hit = (pl.col("command_type") == name) & rule.condition.fill_null(True)
                then = rule.reason_expr()
                chain = pl.when(hit).then(then) if chain is None else chain.when(hit).then(then)
        return pl.lit(None, pl.String) if chain is None else chain.otherwise(None)

    def reason(self) -> pl.Expr:
        """Rejection reason of each command row (null: accepted); first matching rule wins."""
        return self._reason

    def _template_expr(self) -> list[tuple[pl.Expr, list[pl.Expr]]]:
        """Per template: the rows it applies to, and its event_type + payload columns."""
        out = []
        number = 0
        for name, handler in self.handlers.items():
            for template in handler.emit:
                mask = pl.col("command_type") == name
                if template.when is not None:
                    mask = mask & template.when.fill_null(False)
                payload = [
                    template.payload[c].cast(d).alias(c) if c in template.payload
                    else pl.lit(None, d).alias(c) for c, d in self.payload_schema.items()
                ]
                out.append((mask, [pl.lit(number, pl.Int32).alias("__template"),
                                   pl.lit(template.event_type, pl.String).alias("event_type"),
                                   *payload]))
                number += 1
        return out

    def emit_lazy(self, accepted: pl.LazyFrame) -> pl.LazyFrame:
        keep = ["seq", "command_id", "stream_id", "occurred_at", "correlation_id", "actor",
                "version"]
        parts = [accepted.filter(mask).select(*keep, *columns)
                 for mask, columns in self._templates]
        if not parts:
            return self.empty_events().lazy().with_columns(
                seq=pl.lit(0, pl.Int64), index=pl.lit(0, pl.Int64)).select(
                *self.event_schema, "seq", "index")
        events = pl.concat(parts).sort("seq", "__template")
        index = pl.int_range(pl.len(), dtype=pl.Int64).over("seq")
        return events.with_columns(index=index).with_columns(
            event_id=format_text("{}:{}", pl.col("command_id"), pl.col("index")),
            causation_id=pl.col("command_id"),
            stream_type=pl.lit(self.stream_type, pl.String),
            version=pl.col("version") + pl.col("index") + 1,
            position=pl.lit(None, pl.Int64),
        ).select(*self.event_schema, "seq", "index")

    def emit(self, accepted: pl.DataFrame) -> pl.DataFrame:
        """Events of accepted command rows, in (seq, template) order, with ``index`` (0-based
        within the command), ``event_id`` (command_id:index), causation and version."""
        return self.emit_lazy(accepted.lazy()).collect()

    def decide(
        self, command: Command, state: Mapping[str, Any] | None = None, *,
        now: datetime | None = None,
    ) -> list[dict[str, Any]] | Rejected:
        """The per-command path: validate ``command``, decide on ``state`` (a mapping of state
        fields; default: a new stream) and return the events (dicts) or :class:`Rejected`."""
        when = now or datetime.now(UTC)
        checked = validate(command.to_frame(), self.command_types, now=when)
        if checked["reason"][0] is not None:
            return Rejected(checked["reason"][0], "validation")
        derived = set(self.state.derived)
        values = {k: v for k, v in {**self.initial_state(), **(state or {})}.items()
                  if k not in derived}
        schema = pl.DataFrame(schema=self.partial_schema).select(*self._values).schema
        row = pl.DataFrame([values], schema=schema, strict=False)
        if self.state.derived:
            row = row.with_columns(**self.state.derived)
        joined = pl.concat([checked.drop("reason"), row], how="horizontal")
        reason = joined.select(self.reason()).item()
        if reason is not None:
            return Rejected(reason)
        return self.emit(joined).drop("seq", "position", "index").to_dicts()

    def __repr__(self) -> str:
        return (f"Decider({self.stream_type!r}, commands={list(self.handlers)}, "
                f"events={list(self.events)}, state={list(self.state.fields)})")


def registry(deciders: Decider | Sequence[Decider]) -> dict[str, Decider]:
    """Command type -> decider; a command type may belong to one decider only."""
    items = [deciders] if isinstance(deciders, Decider) else list(deciders)
    out: dict[str, Decider] = {}
    for decider in items:
        if not isinstance(decider, Decider):
            raise ValidationError(f"expected Decider values, got {type(decider).__name__}.")
        for name in decider.handlers:
            if name in out and out[name] is not decider:
                raise ValidationError(
                    f"command type {name!r} is handled by deciders {out[name].stream_type!r} "
                    f"and {decider.stream_type!r}; give each command type one decider."
                )
            out[name] = decider
    field_schema([t for d in {id(d): d for d in out.values()}.values() for t in d.command_types])
    return out
