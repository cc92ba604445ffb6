"""Process managers (sagas): react to events after a checkpoint, issue commands to other
streams, compensate when one of them is rejected.

.. code-block:: python

    fulfilment = ProcessManager(
        "fulfilment",
        on=[On("OrderPlaced", [Issue("ChargePayment", amount=pl.col("amount"))]),
            On("PaymentCharged", [Issue("ShipOrder", address=pl.col("ship_to"))])],
        compensate=[Compensate("ShipOrder", [Issue("RefundPayment", amount=pl.col("total"))])],
        state=Projection("fulfilment", key="correlation_id", fields={...}),
    )
    run = fulfilment.run(store, deciders=[orders, payments, shipments])

Each run reads the events after the process's checkpoint (``STORE/_processes/<name>.json``),
turns them into commands with expressions (vectorized, one frame per round), handles them with
:func:`~eventlab.write.handle_many`, issues the compensations of rejected ones, then moves the
checkpoint, and repeats until no new event is left (events it caused are read next round).

Exactly once in effect: a reaction's command id is ``<process>:<event id>:<n>`` and a
compensation's is ``<command id>:undo:<n>``, so a run killed anywhere and run again re-issues the
same ids, which handling answers with their first outcome and no new events. ``state`` is an
optional projection keyed by ``correlation_id`` (the saga's memory, e.g. the order's address),
folded from the store and joined to the events and rejected commands the expressions see.
Only one runner of a process works at a time (a file lock).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
from filelock import FileLock

from eventlab.errors import ValidationError
from eventlab.projections.fold import fold
from eventlab.projections.spec import Projection
from eventlab.storage.durable import write_json
from eventlab.textformat import format_text
from eventlab.write.handling import Deciders, handle_many

if TYPE_CHECKING:
    from eventlab.store.core import StoreCore

PROCESS_DIR = "_processes"


@dataclass(frozen=True, init=False)
class Issue:
    """A command to issue: its type, target ``stream_id`` (default: the triggering row's) and
    fields, all expressions over the triggering row; ``when`` (null: skip) filters rows."""

    command_type: str
    stream_id: pl.Expr = field(compare=False)
    fields: Mapping[str, pl.Expr] = field(compare=False)
    when: pl.Expr | None = field(default=None, compare=False)

    def __init__(self, command_type: str, *, stream_id: pl.Expr | str = "stream_id",
                 when: pl.Expr | None = None, **fields: Any) -> None:
        target = pl.col(stream_id) if isinstance(stream_id, str) else stream_id
        values = {k: v if isinstance(v, pl.Expr) else pl.lit(v) for k, v in fields.items()}
        object.__setattr__(self, "command_type", command_type)
        object.__setattr__(self, "stream_id", target)
        object.__setattr__(self, "fields", values)
        object.__setattr__(self, "when", when)

    def columns(self) -> set[str]:
        exprs = [self.stream_id, *self.fields.values(), *([self.when] if self.when is not None
                                                          else [])]
        return {n for e in exprs for n in e.meta.root_names()}

    def frame(self, rows: pl.DataFrame, command_id: pl.Expr) -> pl.DataFrame:
        if self.when is not None:
            rows = rows.filter(self.when.fill_null(False))
        return rows.select(
            command_id.alias("command_id"), pl.lit(self.command_type).alias("command_type"),
            self.stream_id.cast(pl.String).alias("stream_id"), "occurred_at", "correlation_id",
            "causation_id", *(e.alias(n) for n, e in self.fields.items()))


@dataclass(frozen=True)
class On:
    """React to events of ``event_type`` (of ``stream_type`` when given) by issuing commands."""

    event_type: str
    issue: Sequence[Issue]
    stream_type: str | None = None


@dataclass(frozen=True)
class Compensate:
    """When a ``command_type`` command this process issued is rejected, issue ``issue``
    (expressions see the rejected command's fields, ``reason`` and the saga state)."""

    command_type: str
    issue: Sequence[Issue]


@dataclass(frozen=True)
class ProcessRun:
    """What one ``run`` did; ``commands`` has one outcome row per issued command."""

    name: str
    rounds: int
    events_read: int
    checkpoint_before: int
    checkpoint: int
    commands: pl.DataFrame = field(repr=False)

    def _count(self, expr: pl.Expr) -> int:
        return int(self.commands.select(expr.sum()).item()) if self.commands.height else 0

    @property
    def issued(self) -> int:
        return self.commands.height

    @property
    def accepted(self) -> int:
        return self._count(pl.col("outcome") == "accepted")

    @property
    def rejected(self) -> int:
        return self._count(pl.col("outcome") == "rejected")

    @property
    def compensations(self) -> int:
        return self._count(pl.col("kind") == "compensation")

    @property
    def duplicates(self) -> int:
        return self._count(pl.col("duplicate"))

    def _repr_html_(self) -> str:
        from eventlab.write.display import process_run_html

        return process_run_html(self)


class ProcessManager:
    """A saga over several streams; see the module docstring."""

    def __init__(self, name: str, *, on: Sequence[On], compensate: Sequence[Compensate] = (),
                 state: Projection | None = None) -> None:
        if not name or "/" in name or name.startswith("."):
            raise ValidationError(f"process name {name!r} must be a plain, non-empty file name.")
        if state is not None and state.key != ("correlation_id",):
            raise ValidationError(
                f"process {name!r}: its state projection must be keyed by correlation_id "
                f"(the saga instance), not {list(state.key)}.")
        self.name = name
        self.reactions = tuple(on)
        self.compensations = {c.command_type: c for c in compensate}
        self.state = state

    # ------------------------------------------------------------------ checkpoint
    def _path(self, store: StoreCore) -> Path:
        return store.root / PROCESS_DIR / f"{self.name}.json"

    def checkpoint(self, store: StoreCore) -> int:
        """The last store position this process has fully reacted to (0: none)."""
        path = self._path(store)
        return int(json.loads(path.read_text())["position"]) if path.exists() else 0

    def _save(self, store: StoreCore, position: int) -> None:
        write_json(self._path(store), {"position": position}, indent=None)

    # ------------------------------------------------------------------ running
    def run(self, store: StoreCore, deciders: Deciders, *, max_rounds: int = 100) -> ProcessRun:
        """React to every event after the checkpoint, round after round, until none is left."""
        (store.root / PROCESS_DIR).mkdir(exist_ok=True)
        with FileLock(str(store.root / PROCESS_DIR / f"{self.name}.lock")):
            start = position = self.checkpoint(store)
            outcomes: list[pl.DataFrame] = []
            read = rounds = 0
            while rounds < max_rounds:
                store.refresh()
                head = store.head
                if head <= position:
                    break
                events = self._events(store, position, head)
                read += events.height
                outcomes += self._react(store, events, deciders)
                position = head
                self._save(store, position)
                rounds += 1
        frame = pl.concat(outcomes, how="diagonal_relaxed") if outcomes else pl.DataFrame(
            schema={"command_id": pl.String, "outcome": pl.String, "duplicate": pl.Boolean,
                    "kind": pl.String})
        return ProcessRun(self.name, rounds, read, start, position, frame)

    def _events(self, store: StoreCore, after: int, head: int) -> pl.DataFrame:
        types = sorted({r.event_type for r in self.reactions})
        needed = {c for r in self.reactions for i in r.issue for c in i.columns()}
        known = set(self.state.fields) if self.state is not None else set()
        scan = store.scan(event_types=types, position_from=after + 1, at_position=head,
                          include=sorted(needed - known - {"reason"}))
        return scan.collect().sort("position")

    def _with_state(self, store: StoreCore, rows: pl.DataFrame) -> pl.DataFrame:
        if self.state is None or rows.height == 0:
            return rows
        clash = [f for f in self.state.fields if f in rows.columns]
        if clash:
            raise ValidationError(
                f"process {self.name!r}: state field(s) {clash} are also event/command columns; "
                "rename them (e.g. ship_to instead of address).")
        ids = rows["correlation_id"].drop_nulls().unique()
        events = store.scan(stream_types=self.state.stream_types,
                            include=self.state.source_columns())
        memory = fold(events.filter(pl.col("correlation_id").is_in(ids.implode())), self.state)
        return rows.join(memory, on="correlation_id", how="left")

    def _react(self, store: StoreCore, events: pl.DataFrame, deciders: Deciders) -> list[
        pl.DataFrame
    ]:
        if events.height == 0:
            return []
        events = self._with_state(store, events.with_columns(
            correlation_id=pl.coalesce("correlation_id", "event_id"),
            causation_id=pl.col("event_id")))
        parts = []
        for reaction in self.reactions:
            mine = events.filter(pl.col("event_type") == reaction.event_type)
            if reaction.stream_type is not None:
                mine = mine.filter(pl.col("stream_type") == reaction.stream_type)
            for n, issue in enumerate(reaction.issue):
                ids = format_text("{}:{}:{}", pl.lit(self.name), pl.col("event_id"), pl.lit(n))
                parts.append(issue.frame(mine, ids))
        commands = pl.concat(parts, how="diagonal_relaxed") if parts else pl.DataFrame()
        if commands.height == 0:
            return []
        done = self._handle(store, commands, deciders, "reaction")
        undo = self._compensations(store, commands, done)
        return [done] if undo.height == 0 else [done, self._handle(
            store, undo, deciders, "compensation")]

    def _handle(self, store: StoreCore, commands: pl.DataFrame, deciders: Deciders,
                kind: str) -> pl.DataFrame:
        frame = commands.with_columns(actor=pl.lit(f"process:{self.name}"))
        result = handle_many(store, frame, deciders)
        return result.outcomes.with_columns(kind=pl.lit(kind))

    def _compensations(self, store: StoreCore, commands: pl.DataFrame,
                       outcomes: pl.DataFrame) -> pl.DataFrame:
        failed = outcomes.filter(
            (pl.col("outcome") == "rejected")
            & pl.col("command_type").is_in(list(self.compensations))
        ).select("command_id", "reason")
        if failed.height == 0:
            return pl.DataFrame()
        rows = self._with_state(store, commands.join(failed, on="command_id"))
        rows = rows.with_columns(causation_id=pl.col("command_id"))
        parts = []
        for name, spec in self.compensations.items():
            mine = rows.filter(pl.col("command_type") == name)
            for n, issue in enumerate(spec.issue):
                ids = format_text("{}:undo:{}", pl.col("command_id"), pl.lit(n))
                parts.append(issue.frame(mine, ids))
        return pl.concat(parts, how="diagonal_relaxed")
