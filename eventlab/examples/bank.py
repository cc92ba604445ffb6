"""A synthetic bank-accounts event log, generated without a Python loop per event.

Every benchmark, notebook and many tests use it. ``generate_bank_events`` returns one Polars
frame that appends into an :class:`~eventlab.EventStore` as a single batch:

==============  =====================  ======================================================
column          dtype                  values
==============  =====================  ======================================================
event_id        String                 ``b<seed>-<account>-<n>``: deterministic, unique per log
stream_type     String                 ``"account"``
stream_id       String                 ``acc-0000042`` (zero-padded, sorts like the number)
event_type      String                 AccountOpened, Deposited, Withdrawn, OwnerChanged,
                                       AccountClosed
occurred_at     Datetime(us, UTC)      strictly increasing within an account
amount          Float64                > 0 for Deposited/Withdrawn (cents), null otherwise
owner           String                 for AccountOpened/OwnerChanged, null otherwise
==============  =====================  ======================================================

Each account's first event is AccountOpened; about 8% of accounts with two or more events end
with one AccountClosed (never anywhere else). Activity per account is skewed (log-normal
weights); between the two, about 52% deposits, 43% withdrawals, 5% owner changes. Rows are
ordered by ``(occurred_at, stream_id)``, so the versions the store assigns in batch order follow
occurred_at within each account.

Randomness is counter-based (SplitMix64 of ``(seed, purpose, row)`` computed with Polars integer
expressions), so a seed gives the same log on every machine, thread count and Polars version.
Logs made with the same seed share event ids: use another seed for a distinct log in one store.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from eventlab.errors import ValidationError

if TYPE_CHECKING:
    from eventlab.api import EventStore

EVENT_TYPES = ("AccountOpened", "Deposited", "Withdrawn", "OwnerChanged", "AccountClosed")
STREAM_TYPE = "account"
DEFAULT_START = datetime(2024, 1, 1, tzinfo=UTC)
CLOSE_SHARE = 0.08  # of accounts with at least two events
DEPOSIT_SHARE, WITHDRAW_SHARE = 0.52, 0.43  # of the events between opening and closing
_FIRST = ("Ada", "Alan", "Grace", "Linus", "Ines", "Marta", "Yuki", "Omar", "Chen", "Priya",
          "Lena", "Tomas", "Sofia", "Kwame", "Nora", "Ravi", "Elif", "Jonas", "Aiko", "Diego")
_LAST = ("Lovelace", "Turing", "Hopper", "Torvalds", "Moreau", "Rossi", "Tanaka", "Haddad",
         "Wang", "Sharma", "Novak", "Berg", "Costa", "Mensah", "Kowalski", "Iyer", "Demir",
         "Schmidt", "Sato", "Garcia")
_MASK64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_U64 = pl.UInt64()


# ------------------------------------------------------------------ counter-based randomness
def _splitmix_int(x: int) -> int:
    """SplitMix64 finaliser on a Python int (used to derive per-purpose keys)."""
    z = (x + _GOLDEN) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def _bits(index: pl.Series, seed: int, purpose: int) -> pl.Series:
    """64 random bits per value of ``index``, independent per (seed, purpose).

    The same SplitMix64 finaliser in Polars UInt64 arithmetic (it wraps; ``// 2**k`` is
    ``>> k``); one column step at a time so no subexpression is evaluated twice.
    """
    key = _splitmix_int(_splitmix_int(seed) ^ purpose)
    z = pl.col("z")

    def lit(value: int) -> pl.Expr:
        return pl.lit(value, _U64)

    frame = pl.DataFrame({"z": index.cast(_U64)})
    frame = frame.with_columns(z=z + lit((key + _GOLDEN) & _MASK64))
    frame = frame.with_columns(z=(z ^ (z // lit(1 << 30))) * lit(0xBF58476D1CE4E5B9))
    frame = frame.with_columns(z=(z ^ (z // lit(1 << 27))) * lit(0x94D049BB133111EB))
    return frame.select(z ^ (z // lit(1 << 31)))["z"]


def _uniform(bits: pl.Series, low_bit: int, width: int) -> pl.Series:
    """A uniform in the open interval (0, 1) from ``width`` bits of ``bits`` above ``low_bit``."""
    chunk = (bits // (1 << low_bit)) % (1 << width) if low_bit else bits % (1 << width)
    return (chunk.cast(pl.Float64) + 0.5) / float(1 << width)


def _normal(u1: pl.Series, u2: pl.Series) -> pl.Series:
    """A standard normal value from two uniforms (Box-Muller)."""
    return (-2.0 * u1.log()).sqrt() * (2.0 * math.pi * u2).cos()


# ------------------------------------------------------------------ accounts and events
def _accounts(n_events: int, n_accounts: int, seed: int, span_us: int) -> pl.DataFrame:
    """One row per account: event count, first row, opening time, tail gap, closes or not.

    Activity is skewed (log-normal weights, times the share of the span the account is open);
    most accounts open early in the span (u**3), so the bank grows fast, then slowly: the last
    months hold about three times the events of the first.
    """
    account = pl.int_range(n_accounts, dtype=pl.Int64, eager=True)
    bits, more = _bits(account, seed, 1), _bits(account, seed, 2)
    opened = _uniform(more, 32, 32) ** 3 * 0.85  # fraction of the span
    weight = (1.3 * _normal(_uniform(bits, 32, 32), _uniform(bits, 0, 32))).exp() * (1 - opened)
    share = (n_events - n_accounts) * weight / weight.sum()
    extra = share.floor().cast(pl.Int64)
    remainder = n_events - n_accounts - extra.sum()  # handed out by largest fractional part
    bonus = (share - share.floor()).rank("ordinal", descending=True) <= remainder
    count = 1 + extra + bonus.cast(pl.Int64)
    return pl.DataFrame({
        "count": count,
        "first_row": count.cum_sum() - count,
        "opened_us": (opened * span_us).floor().cast(pl.Int64),
        "closes": (_uniform(more, 16, 16) < CLOSE_SHARE) & (count >= 2),
        "tail": -_uniform(more, 0, 16).log(),
    })


def _events(accounts: pl.DataFrame, seed: int, span_us: int) -> pl.DataFrame:
    """One row per event in account order: account, index k, time t (us after start), type."""
    n_events = int(accounts["count"].sum())
    row = pl.int_range(n_events, dtype=pl.Int64, eager=True)
    account = (accounts["first_row"].search_sorted(row, side="right") - 1).cast(pl.Int64)
    per_event = accounts.select(pl.all().gather(account))
    bits = _bits(row, seed, 3)
    frame = per_event.with_columns(
        account=account, k=row - per_event["first_row"], u_gap=_uniform(bits, 32, 32),
        u_type=_uniform(bits, 16, 16), u_size=_uniform(bits, 0, 16),
    )
    return frame.select(
        "account", "k", "u_size", _times(span_us).alias("t"), _event_type().alias("type")
    )


def _times(span_us: int) -> pl.Expr:
    """Microseconds after start: exponential gaps from the opening, rescaled into the span.

    Rows are grouped by account, so a global cumulative sum rebased at each account's first
    row is the per-account one. Adding the event's index ``k`` makes times strictly increasing.
    """
    k, first = pl.col("k"), pl.col("first_row")
    cumulative = pl.when(k == 0).then(0.0).otherwise(-pl.col("u_gap").log()).cum_sum()
    within = cumulative - cumulative.gather(first)
    total = cumulative.gather(first + pl.col("count") - 1) - cumulative.gather(first)
    room = (span_us - pl.col("opened_us") - pl.col("count")).cast(pl.Float64)
    offset = (within / (total + pl.col("tail")) * room).floor().cast(pl.Int64)
    return pl.col("opened_us") + offset + k


def _event_type() -> pl.Expr:
    """Index into EVENT_TYPES (UInt8)."""
    last = pl.col("k") == pl.col("count") - 1
    u = pl.col("u_type")
    code = (
        pl.when(pl.col("k") == 0).then(0)
        .when(last & pl.col("closes")).then(4)
        .when(u < DEPOSIT_SHARE).then(1)
        .when(u < DEPOSIT_SHARE + WITHDRAW_SHARE).then(2)
        .otherwise(3)
    )
    return code.cast(pl.UInt8)


def _amount() -> pl.Expr:
    """Log-logistic amounts in cents: median 250 for deposits, 120 for withdrawals."""
    u = pl.col("u_size")
    median = pl.when(pl.col("type") == 1).then(250.0).otherwise(120.0)
    value = (median * (u / (1.0 - u)) ** (1.0 / 2.2)).clip(0.01, 1_000_000.0).round(2)
    return pl.when(pl.col("type").is_in([1, 2])).then(value).otherwise(None).cast(pl.Float64)


def _owner() -> pl.Expr:
    """A name for AccountOpened/OwnerChanged (the same uniform as amount: never both)."""
    names = pl.Series([f"{first} {last}" for last in _LAST for first in _FIRST])
    index = (pl.col("u_size") * len(names)).floor().cast(pl.Int64).clip(0, len(names) - 1)
    return pl.when(pl.col("type").is_in([0, 3])).then(pl.lit(names).gather(index))


# ------------------------------------------------------------------ public API
def _check(n_events: int, n_accounts: int, seed: int, span_days: float) -> None:
    problems = []
    if not isinstance(n_accounts, int) or n_accounts < 1:
        problems.append(f"n_accounts must be an int >= 1, got {n_accounts!r}")
    elif not isinstance(n_events, int) or n_events < n_accounts:
        problems.append(f"n_events must be an int >= n_accounts ({n_accounts}), got {n_events!r}"
                        " (every account has at least its AccountOpened event)")
    if not isinstance(seed, int) or not 0 <= seed <= _MASK64:
        problems.append(f"seed must be an int between 0 and 2**64-1, got {seed!r}")
    if not isinstance(span_days, (int, float)) or not 0 < span_days <= 3650 * 10:
        problems.append(f"span_days must be a number in (0, 36500], got {span_days!r}")
    elif isinstance(n_events, int) and span_days * 86_400_000_000 < 10 * n_events:
        problems.append(f"span_days={span_days!r} is too short for {n_events} events (it needs "
                        "at least 10 microseconds per event, so times can strictly increase)")
    if problems:
        raise ValidationError("; ".join(problems) + ". Hint: e.g. generate_bank_events("
                              "n_events=10_000, n_accounts=100, seed=0, span_days=365).")


def generate_bank_events(
    n_events: int = 10_000_000,
    n_accounts: int = 100_000,
    seed: int = 0,
    start: datetime = DEFAULT_START,
    span_days: float = 365,
) -> pl.DataFrame:
    """A synthetic bank event log of exactly ``n_events`` rows over ``n_accounts`` accounts.

    Events fall in ``[start, start + span_days)``; ``start`` may be naive (taken as UTC). The
    same arguments always give the same frame. See the module docstring for the columns.
    """
    _check(n_events, n_accounts, seed, span_days)
    begin = start if start.tzinfo else start.replace(tzinfo=UTC)
    span_us = int(span_days * 86_400_000_000)
    events = _events(_accounts(n_events, n_accounts, seed, span_us), seed, span_us)
    events = events.sort("t", "account")
    width = len(str(n_accounts - 1))
    ids = pl.int_range(n_accounts, eager=True).cast(pl.String).str.zfill(width)
    stream_id = pl.lit("acc-" + ids).gather(pl.col("account"))
    return events.select(
        pl.concat_str(pl.lit(f"b{seed}-"), pl.col("account").cast(pl.String), pl.lit("-"),
                      (pl.col("k") + 1).cast(pl.String)).alias("event_id"),
        pl.lit(STREAM_TYPE, pl.String).alias("stream_type"),
        stream_id.alias("stream_id"),
        pl.lit(pl.Series(EVENT_TYPES)).gather(pl.col("type")).alias("event_type"),
        (pl.lit(begin.astimezone(UTC)).dt.cast_time_unit("us")
         + pl.duration(microseconds=pl.col("t"))).alias("occurred_at"),
        _amount().alias("amount"),
        _owner().alias("owner"),
    )


def write_bank_store(
    path: str | Path,
    n_events: int = 10_000_000,
    n_accounts: int = 100_000,
    seed: int = 0,
    start: datetime = DEFAULT_START,
    span_days: float = 365,
    *,
    batches: int = 1,
    progress: bool | None = None,
    **store_options: Any,
) -> EventStore:
    """Create a store in ``path`` (new or empty folder) holding a generated bank log.

    The log is appended in ``batches`` consecutive slices (one commit each, in occurred_at
    order), so versions follow occurred_at within every account. Returns the open store.
    """
    from eventlab.api import EventStore

    if not isinstance(batches, int) or not 1 <= batches <= max(1, n_events):
        raise ValidationError(
            f"batches must be an int between 1 and n_events ({n_events}), got {batches!r}. "
            "Hint: batches=1 appends the whole log in one commit."
        )
    events = generate_bank_events(n_events, n_accounts, seed, start, span_days)
    store = EventStore.create(path, **store_options)
    size = -(-events.height // batches)
    for offset in range(0, events.height, size):
        store.append(events.slice(offset, size), progress=progress)
    return store
