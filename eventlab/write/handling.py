"""Command handling: load state, decide, append with the loaded version, retry on conflict.

``handle(store, command, decider)`` handles one command; ``handle_many(store, frame, deciders)``
handles a Polars frame of commands (many streams, many commands per stream) with vectorized
decisions (:mod:`eventlab.write.engine`) and ONE atomic append. Both:

* validate every command first (an invalid one is rejected, naming the field and the rule);
* are idempotent by ``command_id``: a command handled before (its events carry it as
  ``causation_id``, or the journal recorded its rejection) yields its first outcome and appends
  nothing; event ids are ``<command_id>:<index>``, so even two processes racing with the same
  command append its events once (the store skips stored event ids);
* append with explicit stream versions (the loaded version + 1...), so a concurrent writer makes
  the store raise ConcurrencyError; handling then reloads fresh state and decides again, at most
  ``retries`` more times;
* stamp events with ``causation_id`` = command id and ``correlation_id`` (the command's, or its
  id), and record every first outcome in the journal (:mod:`eventlab.write.journal`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import polars as pl

from eventlab.errors import CommandRejected, ConcurrencyError, ValidationError
from eventlab.projections.fold import fold_store, merge_states
from eventlab.window import Covered, Window
from eventlab.write import engine, journal
from eventlab.write.commands import Command, commands_frame, field_schema, validate
from eventlab.write.decider import EVENT_META, Decider, registry

if TYPE_CHECKING:
    from eventlab.store.append import AppendResult
    from eventlab.store.core import StoreCore

Deciders = Decider | Sequence[Decider]
OUTCOME_COLUMNS = ["seq", "command_id", "command_type", "stream_type", "stream_id", "outcome",
                   "reason", "stage", "events", "version", "duplicate"]


@dataclass(frozen=True)
class Outcome:
    """What handling one command did. ``duplicate``: handled before, this is the first outcome."""

    command_id: str
    command_type: str
    stream_type: str | None
    stream_id: str
    accepted: bool
    reason: str | None
    stage: str | None
    events: pl.DataFrame = field(repr=False)
    version: int | None
    duplicate: bool
    attempts: int

    def raise_if_rejected(self) -> Outcome:
        if not self.accepted:
            raise CommandRejected(
                f"command {self.command_id} ({self.command_type} on {self.stream_id}) was "
                f"rejected: {self.reason}", outcome=self)
        return self

    def _repr_html_(self) -> str:
        from eventlab.write.display import outcome_html

        return outcome_html(self)


@dataclass(frozen=True)
class HandleResult:
    """What ``handle_many`` did: one outcome row per command (input order) and the events
    appended (one atomic commit: ``append``)."""

    outcomes: pl.DataFrame = field(repr=False)
    events: pl.DataFrame = field(repr=False)
    append: AppendResult | None
    attempts: int
    rounds: int
    seconds: float

    def count(self, outcome: str) -> int:
        return int((self.outcomes["outcome"] == outcome).sum())

    @property
    def accepted(self) -> int:
        return self.count("accepted")

    @property
    def rejected(self) -> int:
        return self.count("rejected")

    @property
    def duplicates(self) -> int:
        return int(self.outcomes["duplicate"].sum())

    def _repr_html_(self) -> str:
        from eventlab.write.display import handle_result_html

        return handle_result_html(self)


# ------------------------------------------------------------------------ state loading
def _has_own_events(store: StoreCore, decider: Decider) -> bool:
    """False when no committed file holds the decider's stream type: its streams are all new
    (the store may hold other stream types, whose columns are not the decider's)."""
    return any(f.stream_type == decider.stream_type for f in store.files)


def load_partial(store: StoreCore, decider: Decider, stream_ids: pl.Series | None = None,
                 *, at_position: int | None = None) -> pl.DataFrame:
    """Partial states of ``stream_ids`` (all streams when None) at ``at_position`` (head): the
    projection's fold, starting from the best snapshot of ``decider.projection`` if any."""
    from eventlab.projections.snapshots import best_snapshot

    position = store.head if at_position is None else at_position
    if position == 0 or not _has_own_events(store, decider):
        return pl.DataFrame(schema=decider.partial_schema)
    window = Window(at_position=position)
    ids = None if stream_ids is None else stream_ids.unique().to_list()
    snapshot = best_snapshot(store, decider.projection, None, position)
    head = snapshot.try_load() if snapshot is not None else None
    if snapshot is None or head is None:
        return engine.conform(
            fold_store(store, decider.projection, window=window, stream_ids=ids), decider)
    tail = fold_store(store, decider.projection, window=window, stream_ids=ids,
                      covered=Covered(snapshot.at, snapshot.position))
    if stream_ids is not None:
        head = head.filter(pl.col("stream_id").is_in(stream_ids.implode()))
    merged = merge_states([engine.conform(head, decider), engine.conform(tail, decider)],
                          decider.projection)
    return engine.conform(merged.collect(), decider)


def load_state(store: StoreCore, decider: Decider, stream_ids: Sequence[str] | None = None
               ) -> pl.DataFrame:
    """The decision state of streams (all when None) at the store's head, as ``decide`` sees
    it: initial values for unknown streams, ``version`` and derived fields."""
    store.refresh()
    ids = None if stream_ids is None else pl.Series("stream_id", list(stream_ids), pl.String)
    partial = load_partial(store, decider, ids)
    streams = partial.select("stream_id") if ids is None else ids.to_frame().unique()
    return decider.states(partial, streams).sort("stream_id")


# ------------------------------------------------------------------------ idempotency
def prior_outcomes(store: StoreCore, frame: pl.DataFrame, types: list[str]) -> pl.DataFrame:
    """First outcomes of the frame's commands handled before: journal rows, then commands
    whose events are stored (``causation_id``) but whose journal row was lost."""
    ids = frame["command_id"].unique()
    logged = journal.first_outcomes(store.root, ids)
    cols = ["command_id", "outcome", "reason", "stage", "events", "version"]
    found = logged.select(cols).with_columns(logged_=pl.lit(True))
    if store.head == 0 or not types:
        return found
    streams = frame["stream_id"].unique()
    few = streams.to_list() if streams.len() <= 1000 else None
    stored = (
        store.scan(stream_types=types, stream_ids=few, include=["causation_id"])
        .filter(pl.col("causation_id").is_in(ids.implode()))
        .group_by("causation_id")
        .agg(events=pl.len().cast(pl.Int64), version=pl.col("version").max())
        .rename({"causation_id": "command_id"})
        .collect()
    )
    missing = stored.join(found, on="command_id", how="anti").select(
        "command_id", pl.lit("accepted").alias("outcome"), pl.lit(None, pl.String).alias("reason"),
        pl.lit(None, pl.String).alias("stage"), "events", "version", logged_=pl.lit(False))
    return pl.concat([found, missing], how="vertical_relaxed")


# ------------------------------------------------------------------------ one attempt
@dataclass
class _Plan:
    outcomes: pl.DataFrame
    events: pl.DataFrame
    journal: pl.DataFrame
    rounds: int


def _decide(store: StoreCore, rows: pl.DataFrame, deciders: dict[str, Decider]) -> tuple[
    pl.DataFrame, pl.DataFrame, int
]:
    """Decide valid, new commands per decider; outcomes by seq and the events to append."""
    outcomes, events, rounds = [], [], 0
    position = store.head
    for decider in {id(d): d for d in deciders.values()}.values():
        mine = rows.filter(pl.col("command_type").is_in(list(decider.handlers)))
        if mine.height == 0:
            continue
        partial = load_partial(store, decider, mine["stream_id"])
        done = engine.run(decider, mine, partial, first_position=position)
        position += done.events.height
        rounds = max(rounds, done.rounds)
        outcomes.append(done.outcomes)
        events.append(done.events.drop("seq", "index", "position"))
    decided = pl.concat(outcomes) if outcomes else pl.DataFrame(schema=engine.OUTCOME_SCHEMA)
    if not events:
        events = [pl.DataFrame(schema=EVENT_META).drop("position")]
    return decided, pl.concat(events, how="diagonal_relaxed"), rounds


def _prepare(store: StoreCore, frame: pl.DataFrame, deciders: dict[str, Decider],
             now: datetime) -> _Plan:
    types = sorted({d.stream_type for d in deciders.values()})
    kinds = {name: d.stream_type for name, d in deciders.items()}
    checked = validate(frame, [d.handlers[n].command for n, d in deciders.items()], now=now)
    checked = checked.with_columns(
        stream_type=pl.col("command_type").replace_strict(kinds, default=None),
        first=pl.col("command_id").is_first_distinct())
    prior = prior_outcomes(store, checked, types)
    fresh = checked.filter(pl.col("first")).join(prior, on="command_id", how="anti")
    valid = fresh.filter(pl.col("reason").is_null()).drop("reason")
    decided, events, rounds = _decide(store, valid, deciders)
    outcomes = _assemble(checked, prior, decided)
    return _Plan(outcomes, events, _journal_rows(checked, outcomes, prior, deciders, now), rounds)


def _assemble(checked: pl.DataFrame, prior: pl.DataFrame, decided: pl.DataFrame) -> pl.DataFrame:
    base = checked.select("seq", "command_id", "command_type", "stream_type", "stream_id",
                          "first", invalid="reason")
    joined = base.join(decided, on="seq", how="left").join(
        prior.drop("logged_"), on="command_id", how="left", suffix="_prior")
    own = joined.select(
        "seq", "command_id", "command_type", "stream_type", "stream_id", "first",
        outcome=pl.when(pl.col("outcome").is_not_null()).then("outcome")
        .when(pl.col("invalid").is_not_null() | pl.col("reason").is_not_null())
        .then(pl.lit("rejected")).when(pl.col("events").is_not_null()).then(pl.lit("accepted")),
        reason=pl.coalesce("reason_prior", "invalid", "reason"),
        stage=pl.when(pl.col("outcome").is_not_null()).then("stage")
        .when(pl.col("invalid").is_not_null()).then(pl.lit("validation"))
        .when(pl.col("reason").is_not_null()).then(pl.lit("decision")),
        events=pl.coalesce("events_prior", "events", pl.lit(0, pl.Int64)),
        version=pl.coalesce("version_prior", "version"),
        duplicate=pl.col("outcome").is_not_null() | ~pl.col("first"),
    )
    firsts = own.filter(pl.col("first")).select(
        "command_id", *(pl.col(c).alias(f"{c}_first") for c in
                        ("outcome", "reason", "stage", "events", "version")))
    out = own.join(firsts, on="command_id", how="left").with_columns(
        pl.when(pl.col("first")).then(pl.col(c)).otherwise(pl.col(f"{c}_first")).alias(c)
        for c in ("outcome", "reason", "stage", "events", "version"))
    return out.select(OUTCOME_COLUMNS).sort("seq")


def _journal_rows(checked: pl.DataFrame, outcomes: pl.DataFrame, prior: pl.DataFrame,
                  deciders: dict[str, Decider], now: datetime) -> pl.DataFrame:
    """Rows to journal: first outcomes decided now, and stored commands the journal lacks."""
    fields = list(field_schema([d.handlers[n].command for n, d in deciders.items()]))
    payload = pl.struct(fields).struct.json_encode() if fields else pl.lit("{}")
    repair = prior.filter(~pl.col("logged_")).select("command_id", repair=pl.lit(True))
    rows = checked.select(
        "seq", "command_id", "occurred_at", "correlation_id", "causation_id", "actor",
        payload=payload,
    ).join(outcomes.drop("command_id"), on="seq").join(repair, on="command_id", how="left")
    keep = ~pl.col("duplicate") | (pl.col("repair").fill_null(False)
                                  & pl.col("command_id").is_first_distinct())
    return rows.filter(keep).with_columns(handled_at=pl.lit(now).dt.cast_time_unit("us"))


# ------------------------------------------------------------------------ entry points
def _as_frame(commands: pl.DataFrame | Sequence[Command] | Command) -> pl.DataFrame:
    if isinstance(commands, pl.DataFrame):
        return commands
    if isinstance(commands, Command):
        return commands_frame([commands])
    if isinstance(commands, Sequence) and all(isinstance(c, Command) for c in commands):
        return commands_frame(commands)
    raise ValidationError(
        f"commands must be a Polars DataFrame or Command values, got {type(commands).__name__}."
    )


def handle_many(store: StoreCore, commands: pl.DataFrame | Sequence[Command],
                deciders: Deciders, *, retries: int = 3) -> HandleResult:
    """Handle a frame of commands (see the module docstring); one atomic append."""
    started = time.perf_counter()
    frame, table = _as_frame(commands), registry(deciders)
    now = datetime.now(UTC)
    last: ConcurrencyError | None = None
    for attempt in range(1, retries + 2):
        store.refresh()
        plan = _prepare(store, frame, table, now)
        try:
            result = store.append(plan.events) if plan.events.height else None
        except ConcurrencyError as exc:
            last = exc
            continue
        outcomes, rows = _after_append(plan, result)
        journal.write(store.root, rows)
        return HandleResult(outcomes, plan.events, result, attempt, plan.rounds,
                            time.perf_counter() - started)
    assert last is not None
    raise ConcurrencyError(
        f"gave up after {retries + 1} attempts: other writers kept changing the streams these "
        f"commands address. Last conflict: {last}\nHint: retry later, or pass a larger "
        "retries=.", conflicts=last.conflicts)


def _after_append(plan: _Plan, result: AppendResult | None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Commands whose events another process stored first (same event ids) are duplicates."""
    if result is None or not result.skipped:
        return plan.outcomes, plan.journal
    skipped = pl.Series(list(result.skipped_ids), dtype=pl.String)
    raced = plan.events.filter(pl.col("event_id").is_in(skipped.implode()))["causation_id"]
    mark = pl.col("command_id").is_in(raced.unique().implode())
    outcomes = plan.outcomes.with_columns(duplicate=pl.col("duplicate") | mark)
    return outcomes, plan.journal.filter(~mark)


def handle(store: StoreCore, command: Command, deciders: Deciders, *,
           retries: int = 3) -> Outcome:
    """Handle one command: validate, load its stream's state, decide, append (see module)."""
    if not isinstance(command, Command):
        raise ValidationError(
            f"handle takes one Command (e.g. Deposit('acc-1', amount=5.0)), got "
            f"{type(command).__name__}; use handle_many for a frame of commands.")
    result = handle_many(store, [command], deciders, retries=retries)
    row = result.outcomes.row(0, named=True)
    if row["duplicate"] and row["outcome"] == "accepted":
        events = store.scan(stream_ids=[command.stream_id]).filter(
            pl.col("causation_id") == command.command_id).collect().sort("version")
    else:
        events = result.events.filter(pl.col("causation_id") == command.command_id)
    return Outcome(
        row["command_id"], row["command_type"], row["stream_type"], row["stream_id"],
        row["outcome"] == "accepted", row["reason"], row["stage"], events, row["version"],
        row["duplicate"], result.attempts)
