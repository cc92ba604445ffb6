"""What-if: replay recorded history through a changed decider and see which decisions differ.

.. code-block:: python

    report = what_if(store, bank_decider(overdraft_limit=0), source="events",
                     as_commands=AS_COMMANDS, label="no overdraft")
    report.summary()          # commands per change: {"same": 2900, "rejected now": 12, ...}
    report.by_change()        # the same counts as a frame (change, commands)
    report.by_stream()        # per stream: how many decisions changed, and when first
    report.over_time("1mo")   # changes per period; report.chart() draws it

``source="journal"`` replays the recorded commands (rejected ones too) with their recorded
outcomes; ``source="events"`` re-reads stored events as the commands that caused them (one
command per ``causation_id``, or per event when it has none; ``as_commands`` maps event types to
command types, fields are the same-named event columns). Commands are replayed per stream in
recorded order from an empty state, on the *counterfactual* state: after a command is rejected
now, later decisions see a history without it, exactly as if the rule had been in force.
Nothing is written. ``baseline=`` compares against a replay through another decider instead of
the recorded outcomes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import polars as pl

from eventlab.errors import InvalidIntervalError, ValidationError
from eventlab.write import engine, journal
from eventlab.write.commands import META, field_schema, validate
from eventlab.write.decider import Decider

if TYPE_CHECKING:
    from eventlab.store.core import StoreCore

CHANGES = ("same", "rejected now", "accepted now", "different events", "other reason")


def events_as_commands(events: pl.DataFrame, as_commands: Mapping[str, str],
                       decider: Decider) -> pl.DataFrame:
    """Stored events (sorted by position) as the commands that caused them."""
    fields = field_schema(decider.command_types)
    mapped = events.filter(pl.col("event_type").is_in(list(as_commands))).with_columns(
        command_id=pl.coalesce("causation_id", "event_id"))
    firsts = mapped.sort("position").unique("command_id", keep="first", maintain_order=True)
    return firsts.select(
        "command_id", pl.col("event_type").replace_strict(dict(as_commands)).alias("command_type"),
        "stream_id", "occurred_at", "correlation_id", "actor",
        *(pl.col(f) if f in events.columns else pl.lit(None, d).alias(f)
          for f, d in fields.items()))


def signatures(events: pl.DataFrame, decider: Decider, by: str) -> pl.DataFrame:
    """Per ``by`` value: the event types (list) and a comparable signature of its events (type
    and declared payload, in order)."""
    chain: Any = pl.lit("{}")
    for event_type, columns in decider.events.items():
        present = {c: d for c, d in columns.items()}
        payload = pl.struct(
            [(pl.col(c) if c in events.columns else pl.lit(None)).cast(d).alias(c)
             for c, d in present.items()]
        ).struct.json_encode() if present else pl.lit("{}")
        chain = pl.when(pl.col("event_type") == event_type).then(payload).otherwise(chain)
    sig = pl.concat_str(pl.col("event_type"), pl.lit(" "), chain)
    order = "version" if "version" in events.columns else "index"
    return events.sort(by, order).group_by(by, maintain_order=True).agg(
        event_types=pl.col("event_type"), signature=sig.str.join(" | "))


def _recorded_from_events(store: StoreCore, decider: Decider, as_commands: Mapping[str, str]
                          ) -> tuple[pl.DataFrame, pl.DataFrame]:
    stored = store.scan(stream_types=[decider.stream_type], include=list(
        {*decider.payload_schema, *field_schema(decider.command_types)})).collect()
    commands = events_as_commands(stored, as_commands, decider)
    recorded = signatures(stored.with_columns(
        command_id=pl.coalesce("causation_id", "event_id")), decider, "command_id")
    outcomes = commands.select("command_id").join(recorded, on="command_id", how="left").select(
        "command_id", outcome=pl.lit("accepted"), reason=pl.lit(None, pl.String),
        event_types="event_types", signature="signature")
    return commands, outcomes


def _recorded_from_journal(store: StoreCore, decider: Decider) -> tuple[pl.DataFrame,
                                                                         pl.DataFrame]:
    fields = field_schema(decider.command_types)
    rows = journal.read(store.root).filter(
        pl.col("command_type").is_in(list(decider.handlers))
    ).unique("command_id", keep="first", maintain_order=True)
    payload = pl.col("payload").str.json_decode(pl.Struct(fields)) if fields else None
    commands = rows.select(*META, *([payload.alias("__p")] if payload is not None else []))
    if payload is not None:
        commands = commands.unnest("__p")
    stored = store.scan(stream_types=[decider.stream_type], include=["causation_id"]).filter(
        pl.col("causation_id").is_in(rows["command_id"].implode())).collect()
    recorded = signatures(stored, decider, "causation_id").rename({"causation_id": "command_id"})
    outcomes = rows.select("command_id", "outcome", "reason").join(
        recorded, on="command_id", how="left")
    return commands, outcomes


def replay(decider: Decider, commands: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Decide ``commands`` in order from empty state; per command outcome and the events."""
    checked = validate(commands, decider.command_types, now=datetime.now(UTC))
    valid = checked.filter(pl.col("reason").is_null()).drop("reason")
    done = engine.run(decider, valid, pl.DataFrame(schema=decider.partial_schema))
    sigs = signatures(done.events, decider, "seq")
    outcomes = checked.select("seq", "command_id", invalid="reason").join(
        done.outcomes.select("seq", "reason"), on="seq", how="left").join(
        sigs, on="seq", how="left").select(
        "seq", "command_id",
        outcome=pl.when(pl.col("invalid").is_null() & pl.col("reason").is_null())
        .then(pl.lit("accepted")).otherwise(pl.lit("rejected")),
        reason=pl.coalesce("invalid", "reason"), event_types="event_types",
        signature="signature")
    return outcomes, done.events


def _change(a: str, b: str) -> pl.Expr:
    """How decision ``b`` (replayed) differs from ``a`` (recorded/baseline)."""
    was, now = pl.col(f"{a}_outcome"), pl.col(f"{b}_outcome")
    return (
        pl.when((was == "accepted") & (now == "rejected")).then(pl.lit("rejected now"))
        .when((was == "rejected") & (now == "accepted")).then(pl.lit("accepted now"))
        .when((now == "accepted") & ~pl.col(f"{a}_signature").eq_missing(
            pl.col(f"{b}_signature"))).then(pl.lit("different events"))
        .when((now == "rejected") & ~pl.col(f"{a}_reason").eq_missing(pl.col(f"{b}_reason")))
        .then(pl.lit("other reason")).otherwise(pl.lit("same"))
    )


def what_if(store: StoreCore, decider: Decider, *, source: str = "journal",
            as_commands: Mapping[str, str] | None = None, baseline: Decider | None = None,
            label: str | None = None) -> WhatIf:
    """Back-test ``decider`` on the store's recorded history (see the module docstring)."""
    store.refresh()
    if source == "events":
        if not as_commands:
            raise ValidationError(
                "source='events' needs as_commands={event type: command type}, e.g. "
                "{'Deposited': 'Deposit'}, to re-read events as the commands that caused them.")
        commands, recorded = _recorded_from_events(store, decider, as_commands)
    elif source == "journal":
        commands, recorded = _recorded_from_journal(store, decider)
    else:
        raise ValidationError(f"source must be 'journal' or 'events', got {source!r}.")
    if commands.height == 0:
        raise ValidationError(
            f"no recorded {source} for stream type {decider.stream_type!r} in this store; "
            "nothing to replay.")
    replayed, events = replay(decider, commands)
    if baseline is not None:
        recorded = replay(baseline, commands)[0].drop("seq")
    decisions = _compare(commands, recorded, replayed)
    return WhatIf(label or f"{decider.stream_type} decider on recorded {source}", decisions,
                  events, decider)


def _compare(commands: pl.DataFrame, recorded: pl.DataFrame, replayed: pl.DataFrame
             ) -> pl.DataFrame:
    rec = recorded.select("command_id", *(pl.col(c).alias(f"recorded_{c}") for c in
                                          ("outcome", "reason", "event_types", "signature")))
    rep = replayed.select("seq", "command_id", *(pl.col(c).alias(f"replayed_{c}") for c in
                                                 ("outcome", "reason", "event_types",
                                                  "signature")))
    joined = commands.select("command_id", "command_type", "stream_id", "occurred_at").join(
        rep, on="command_id").join(rec, on="command_id", how="left")
    return joined.with_columns(change=_change("recorded", "replayed")).sort("seq").select(
        "command_id", "command_type", "stream_id", "occurred_at", "change",
        "recorded_outcome", "replayed_outcome", "recorded_reason", "replayed_reason",
        "recorded_event_types", "replayed_event_types")


@dataclass(frozen=True)
class WhatIf:
    """The decisions of a replay against the recorded ones; see :func:`what_if`."""

    label: str
    decisions: pl.DataFrame = field(repr=False)
    events: pl.DataFrame = field(repr=False)
    decider: Decider = field(repr=False)

    def summary(self) -> dict[str, int]:
        """Commands per kind of change (every kind, in :data:`CHANGES` order), like every
        ``summary()`` in eventlab: a dict of counts."""
        return dict(self.by_change().iter_rows())

    def by_change(self) -> pl.DataFrame:
        """Commands per kind of change as a frame (``change``, ``commands``)."""
        counts = self.decisions.group_by("change").agg(commands=pl.len().cast(pl.Int64))
        kinds = pl.DataFrame({"change": list(CHANGES)})
        return kinds.join(counts, on="change", how="left").with_columns(
            pl.col("commands").fill_null(0))

    @property
    def changed(self) -> pl.DataFrame:
        return self.decisions.filter(pl.col("change") != "same")

    def by_stream(self) -> pl.DataFrame:
        """Per stream: commands, changed decisions per kind, first change, most changed first."""
        changed = pl.col("change") != "same"
        kinds = [(pl.col("change") == k).sum().cast(pl.Int64).alias(k.replace(" ", "_"))
                 for k in CHANGES[1:]]
        return self.decisions.group_by("stream_id").agg(
            pl.len().cast(pl.Int64).alias("commands"), changed.sum().cast(pl.Int64).alias(
                "changed"), *kinds,
            pl.col("occurred_at").filter(changed).min().alias("first_change_at"),
        ).sort(["changed", "stream_id"], descending=[True, False])

    def over_time(self, every: str = "1mo") -> pl.DataFrame:
        """Changed decisions per period (``every``: "1d", "1w", "1mo", "1y") and kind."""
        try:
            period = pl.col("occurred_at").dt.truncate(every)
            frame = self.decisions.with_columns(period=period)
        except pl.exceptions.PolarsError as exc:
            raise InvalidIntervalError(every) from exc
        return frame.group_by("period", "change").agg(commands=pl.len().cast(pl.Int64)).sort(
            "period", "change")

    def chart(self, every: str = "1mo") -> Any:
        """Altair stacked bars: changed decisions per period, coloured by kind."""
        from eventlab.errors import require

        alt = require("altair", "lab")
        unit = "%Y" if every.endswith("y") else "%Y-%m" if every.endswith("mo") else "%Y-%m-%d"
        data = self.over_time(every).filter(pl.col("change") != "same").with_columns(
            label=pl.col("period").dt.strftime(unit))
        return alt.Chart(data).mark_bar().encode(
            x=alt.X("label:O", title=f"when the command was issued (per {every})"),
            y=alt.Y("commands:Q", title="decisions that differ"),
            color=alt.Color("change:N", scale=alt.Scale(domain=list(CHANGES[1:]))),
            tooltip=["label:O", "change:N", "commands:Q"],
        ).properties(title=f"What if: {self.label}", width=600, height=220)

    def replayed_state(self) -> pl.DataFrame:
        """The read model of the counterfactual history (decider state per stream)."""
        return self.decider.state_of(self.events.sort("position"))

    def _repr_html_(self) -> str:
        from eventlab.write.display import whatif_html

        return whatif_html(self)
