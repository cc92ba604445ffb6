"""The speculative decision engine: every pending command of every stream at once, repeated
until the guesses it decided on are confirmed.

Rounds (:func:`eventlab.write.engine.run_rounds`) cost one pass per command of the busiest
stream. Here each iteration decides ALL pending commands together, each on the state its
stream would have if the *guessed* outcomes of its predecessors were right: the state before a
command is the running merge (the reducers' own ``cumulative_merge``) of the stream's base
state and the guessed events of the earlier pending commands, found with an as-of join.

Then, per stream, the commands up to and including the first one whose new decision differs
from its guess are confirmed: every earlier guess was right, so their states were exact, so
their new decisions are final. The base state absorbs the confirmed events, the new decisions
become the next guesses, and the loop goes on with what is left. Each iteration confirms at
least one command per stream, so it ends; when decisions rarely flip (a few rejections per
stream) it ends after a handful of iterations, whatever the number of commands per stream.

The first guess accepts everything (templates evaluated on the base state, versions counted
per stream), which is exact for histories the rules do not reject.
"""

from __future__ import annotations

from dataclasses import replace

import polars as pl

from eventlab.projections.fold import partial_state
from eventlab.write.decider import Decider

STRIDE = 1 << 12  # guessed positions: seq * STRIDE + index keeps stream order


def _positions(events: pl.DataFrame, base: int) -> pl.DataFrame:
    return events.with_columns(
        position=base + 1 + pl.col("seq") * STRIDE + pl.col("index"))


def first_guess(decider: Decider, pending: pl.DataFrame, base: pl.DataFrame,
                first_position: int) -> pl.DataFrame:
    """Every pending command accepted, templates evaluated on the base state."""
    decided = decider.states_lazy(base.lazy(), pending.lazy())
    return _positions(decider.emit_lazy(decided).collect(), first_position)


def states_before(decider: Decider, keyed: object, base: pl.DataFrame, pending: pl.DataFrame,
                  guess: pl.DataFrame) -> pl.LazyFrame:
    """``pending`` rows with the partial state of their stream just before them, assuming the
    guessed events of the earlier pending commands."""
    projection = decider.projection
    contrib = partial_state(guess.lazy(), keyed).collect()  # type: ignore[arg-type]
    rows = pl.concat([base.with_columns(seq=pl.lit(-1, pl.Int64)),
                      contrib.select([*base.columns, "seq"])], how="vertical_relaxed")
    names = [c for n, r in projection.fields.items() for c in r.state(n)]
    merges = [e.over("stream_id") for n, r in projection.fields.items()
              for e in r.cumulative_merge(n)]
    running = rows.lazy().sort("stream_id", "seq").with_columns(
        e.alias(n) for n, e in zip(names, merges, strict=True)).sort("seq")
    # Both sides are sorted by seq globally, hence within every stream: safe without the check.
    return pending.lazy().sort("seq").join_asof(
        running, on="seq", by="stream_id", strategy="backward", allow_exact_matches=False,
        check_sortedness=False)


def renumber(guess: pl.DataFrame, base: pl.DataFrame) -> pl.DataFrame:
    """Versions the guessed events would have if every guess were right."""
    start = base.select("stream_id", pl.col("version").alias("__v0"))
    ordered = guess.sort("seq", "index").join(start, on="stream_id", how="left")
    return ordered.with_columns(
        version=pl.col("__v0").fill_null(0) + 1
        + pl.int_range(pl.len(), dtype=pl.Int64).over("stream_id")).drop("__v0")


def changed(new: pl.DataFrame, guess: pl.DataFrame, decider: Decider) -> pl.DataFrame:
    """The ``seq`` of every command whose new events differ from its guessed ones in number,
    type or payload (versions follow from the number of events before, see :func:`renumber`)."""
    columns = ["event_type", *decider.payload_schema]
    both = new.select("seq", "index", *columns).join(
        guess.select("seq", "index", *columns), on=["seq", "index"], how="full",
        coalesce=True, suffix="__g")
    same = pl.all_horizontal(pl.col(c).eq_missing(pl.col(f"{c}__g")) for c in columns)
    return both.filter(~same).select("seq").unique()


def run_speculative(decider: Decider, commands: pl.DataFrame, partial: pl.DataFrame, *,
                    first_position: int = 0) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """Outcomes (seq, reason, events, version) and events (unordered, guessed positions) of
    ``commands`` from ``partial``; also the number of iterations."""
    keyed = replace(decider.projection, key=("stream_id", "seq"))
    base = partial
    pending = commands.sort("seq")
    guess = first_guess(decider, pending, base, first_position)
    outcomes: list[pl.DataFrame] = []
    events: list[pl.DataFrame] = []
    iterations = 0
    while pending.height:
        iterations += 1
        guess = renumber(guess, base)
        before = decider.finish_lazy(states_before(decider, keyed, base, pending, guess))
        decided = before.with_columns(reason=decider.reason()).collect()
        new = _positions(decider.emit(decided.filter(pl.col("reason").is_null())),
                         first_position)
        moved = changed(new, guess, decider).with_columns(differs=pl.lit(True))
        flags = decided.select("seq", "stream_id", "reason", "version").join(
            moved, on="seq", how="left")
        differs = pl.col("differs").fill_null(False)
        flags = flags.sort("seq").with_columns(
            done=(differs.cast(pl.Int32).cum_sum() - differs.cast(pl.Int32)).over(
                "stream_id") == 0)
        settled = flags.filter("done")
        counts = new.group_by("seq").agg(events=pl.len().cast(pl.Int64))
        outcomes.append(settled.join(counts, on="seq", how="left").select(
            "seq", "reason", pl.col("events").fill_null(0),
            (pl.col("version") + pl.col("events").fill_null(0)).alias("version")))
        kept = new.join(settled.select("seq"), on="seq", how="semi")
        events.append(kept)
        if kept.height:
            merged = decider.merge_lazy([base.lazy(), decider.partial_lazy(kept.lazy())])
            base = _conform(merged.collect(), base)
        left = flags.filter(~pl.col("done")).select("seq")
        pending = pending.join(left, on="seq", how="semi")
        guess = new.join(left, on="seq", how="semi")
        base = base.join(pending.select("stream_id"), on="stream_id", how="semi")  # still busy
    return pl.concat(outcomes), pl.concat(events), iterations


def _conform(frame: pl.DataFrame, like: pl.DataFrame) -> pl.DataFrame:
    return frame.select([pl.col(c).cast(d) for c, d in like.schema.items()])
