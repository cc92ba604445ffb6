"""The vectorized decision engine: a frame of commands over many streams, decided in rounds.

Commands of one stream are decided in input order, each on the state its predecessors left.
Round ``k`` takes the ``k``-th command of every stream at once: it joins them to their streams'
finalized state, evaluates the decider's rejection rules and event templates as expressions,
then evolves the state by folding the new events with the projection's own partial/merge steps.
The number of rounds is the largest number of commands for one stream; a stream leaves the
working state after its last command, so late rounds touch only busy streams. When one stream
has many commands, :func:`run` uses the speculative engine instead
(:mod:`eventlab.write.speculative`), which needs a few passes whatever that number.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import polars as pl

from eventlab.errors import ValidationError
from eventlab.write.decider import Decider

OUTCOME_SCHEMA = {"seq": pl.Int64(), "reason": pl.String(), "events": pl.Int64(),
                  "version": pl.Int64()}


@dataclass(frozen=True)
class Decisions:
    """``outcomes``: seq, reason (null = accepted), events (count), version (after);
    ``events``: the new events (event schema + seq, index) in command order, positions from
    first_position+1."""

    outcomes: pl.DataFrame
    events: pl.DataFrame
    rounds: int  # rounds, or iterations of the speculative engine


def conform(partial: pl.DataFrame, decider: Decider) -> pl.DataFrame:
    """Partial state cast to the decider's partial schema (the store may hold other dtypes)."""
    if partial.height == 0:
        return pl.DataFrame(schema=decider.partial_schema)
    casts = [pl.col(c).cast(d) for c, d in decider.partial_schema.items()
             if c in partial.columns and partial.schema[c] != d]
    return partial.with_columns(casts).select(list(decider.partial_schema))


Method = Literal["auto", "rounds", "speculative"]
#: ``auto`` decides in rounds up to this many commands for one stream, speculatively above
#: (a round costs a fixed ~5-10 ms; a speculative pass costs in proportion to what is pending).
ROUNDS_UP_TO = 64


def run(decider: Decider, commands: pl.DataFrame, partial: pl.DataFrame, *,
        first_position: int = 0, method: Method = "auto") -> Decisions:
    """Decide ``commands`` (valid, normalized rows of ``decider``'s command types, with ``seq``)
    starting from ``partial`` (partial states of their streams; missing streams are new).
    ``method``: "rounds", "speculative" (:mod:`eventlab.write.speculative`) or "auto"; both
    give the same decisions and events."""
    if method not in ("auto", "rounds", "speculative"):
        raise ValidationError(f"method must be 'auto', 'rounds' or 'speculative', not {method!r}")
    if commands.height == 0:
        empty = decider.emit(commands.head(0).with_columns(version=pl.lit(0, pl.Int64)))
        return Decisions(pl.DataFrame(schema=OUTCOME_SCHEMA), empty, 0)
    busiest = commands.group_by("stream_id").len()["len"].max()
    if method == "speculative" or (method == "auto" and int(busiest) > ROUNDS_UP_TO):  # type: ignore[arg-type]
        from eventlab.write.speculative import run_speculative

        outcomes, events, passes = run_speculative(
            decider, commands, conform(partial, decider), first_position=first_position)
        return _decisions(outcomes, [events], first_position, passes)
    return run_rounds(decider, commands, partial, first_position=first_position)


def _decisions(outcomes: pl.DataFrame, events: list[pl.DataFrame], first_position: int,
               passes: int) -> Decisions:
    ordered_events = pl.concat(events).sort("seq", "index").with_columns(  # command order
        position=pl.int_range(first_position + 1, first_position + 1 + pl.len(),
                              dtype=pl.Int64))
    return Decisions(outcomes.sort("seq"), ordered_events, passes)


def run_rounds(decider: Decider, commands: pl.DataFrame, partial: pl.DataFrame, *,
               first_position: int = 0) -> Decisions:
    """The round engine (see the module docstring)."""
    ordered = commands.sort("seq").with_columns(
        rank=pl.int_range(pl.len(), dtype=pl.Int64).over("stream_id"),
        total=pl.len().over("stream_id"),
    )
    groups = ordered.partition_by("rank", as_dict=True, include_key=False)
    state = conform(partial, decider)
    position = first_position
    outcomes: list[pl.DataFrame] = []
    events: list[pl.DataFrame] = []
    for k in range(len(groups)):
        batch = groups[(k,)]
        decided = decider.states_lazy(state.lazy(), batch.lazy()).with_columns(
            reason=decider.reason()).collect()
        emitted = decider.emit(decided.filter(pl.col("reason").is_null())).with_columns(
            position=pl.int_range(position + 1, position + 1 + pl.len(), dtype=pl.Int64))
        position += emitted.height
        outcomes.append(_outcomes(decided.select("seq", "reason", "version"), emitted))
        events.append(emitted)
        alive = batch.filter(pl.col("total") > k + 1).select("stream_id")
        if alive.height:
            merged = decider.merge_lazy([state.lazy(), decider.partial_lazy(emitted.lazy())])
            state = conform(merged.join(alive.lazy(), on="stream_id", how="semi").collect(),
                            decider)
    return _decisions(pl.concat(outcomes), events, first_position, len(groups))


def _outcomes(decided: pl.DataFrame, emitted: pl.DataFrame) -> pl.DataFrame:
    counts = emitted.group_by("seq").agg(events=pl.len().cast(pl.Int64))
    return decided.join(counts, on="seq", how="left").select(
        "seq", "reason", pl.col("events").fill_null(0),
        (pl.col("version") + pl.col("events").fill_null(0)).alias("version"),
    )

