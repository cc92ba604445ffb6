"""The bank-account write model: commands, a decider and its read model, for the events that
:func:`eventlab.examples.generate_bank_events` produces.

.. code-block:: python

    from eventlab.examples.bank_domain import Deposit, bank_decider
    from eventlab.write import handle

    decider = bank_decider(overdraft_limit=0.0)     # the invariant: no overdraft at all
    handle(store, Deposit("acc-1", amount=500.0), decider)

``bank_decider(overdraft_limit=None)`` has no balance rule, so it accepts every generated
history (the generator draws withdrawals at random); a limit makes it stricter, which is what
a what-if back-test compares. ``bank_commands`` turns a generated log into the commands that
would have produced it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import polars as pl

from eventlab import reducers as r
from eventlab.projections.spec import Projection
from eventlab.textformat import format_text
from eventlab.write.commands import CommandType, Field
from eventlab.write.decider import Decider, Emit, Handler, RejectIf, reject_if

STREAM_TYPE = "account"
OpenAccount = CommandType("OpenAccount", owner=Field(str, min_length=1))
Deposit = CommandType("Deposit", amount=Field(float, gt=0))
Withdraw = CommandType("Withdraw", amount=Field(float, gt=0))
ChangeOwner = CommandType("ChangeOwner", owner=Field(str, min_length=1))
CloseAccount = CommandType("CloseAccount")
#: Which command each event type of the bank log records (same-named payload fields).
AS_COMMANDS = {
    "AccountOpened": "OpenAccount", "Deposited": "Deposit", "Withdrawn": "Withdraw",
    "OwnerChanged": "ChangeOwner", "AccountClosed": "CloseAccount",
}

ACCOUNTS = Projection(
    "accounts",
    fields={
        "status": r.status({"AccountOpened": "open", "AccountClosed": "closed"}, default="none"),
        "holder": r.last("owner", on=["AccountOpened", "OwnerChanged"]),
        "deposited": r.sum("amount", on="Deposited"),
        "withdrawn": r.sum("amount", on="Withdrawn"),
        "events": r.count(),
    },
    stream_types=(STREAM_TYPE,),
    derived={"balance": pl.col("deposited") - pl.col("withdrawn")},
)
EVENTS: dict[str, dict[str, Any]] = {
    "AccountOpened": {"owner": pl.String}, "Deposited": {"amount": pl.Float64},
    "Withdrawn": {"amount": pl.Float64}, "OwnerChanged": {"owner": pl.String},
    "AccountClosed": {},
}


def _must_be_open() -> RejectIf:
    return reject_if(pl.col("status") != "open",
                     format_text("account is not open (status: {})", pl.col("status")))


def bank_decider(*, overdraft_limit: float | None = None,
                 close_with_balance: bool = True) -> Decider:
    """Accounts: open once, then deposit/withdraw/change owner/close while open.

    ``overdraft_limit``: a withdrawal may not take the balance below ``-overdraft_limit``
    (None: no balance rule). ``close_with_balance=False``: only an empty account may close.
    """
    open_rule = _must_be_open()
    withdraw_rules = [open_rule]
    if overdraft_limit is not None:
        withdraw_rules.append(reject_if(
            pl.col("balance") - pl.col("amount") < -float(overdraft_limit),
            format_text("insufficient funds: balance {} minus {} is below the overdraft limit {}",
                      pl.col("balance").round(2), pl.col("amount").round(2),
                      pl.lit(-float(overdraft_limit))),
        ))
    close_rules = [open_rule]
    if not close_with_balance:
        close_rules.append(reject_if(pl.col("balance") != 0, format_text(
            "the balance must be 0 to close, it is {}", pl.col("balance").round(2))))
    return Decider(
        STREAM_TYPE, events=EVENTS, state=ACCOUNTS,
        handlers=[
            Handler(OpenAccount, emit=[Emit("AccountOpened", owner=pl.col("owner"))],
                    reject=[reject_if(pl.col("version") > 0, "the account already exists")]),
            Handler(Deposit, emit=[Emit("Deposited", amount=pl.col("amount"))],
                    reject=[open_rule]),
            Handler(Withdraw, emit=[Emit("Withdrawn", amount=pl.col("amount"))],
                    reject=withdraw_rules),
            Handler(ChangeOwner, emit=[Emit("OwnerChanged", owner=pl.col("owner"))],
                    reject=[open_rule]),
            Handler(CloseAccount, emit=[Emit("AccountClosed")], reject=close_rules),
        ],
    )


def bank_commands(
    n_commands: int = 100_000, n_accounts: int = 10_000, *, seed: int = 0,
    start: datetime = datetime(2024, 1, 1, tzinfo=UTC), span_days: float = 365,
) -> pl.DataFrame:
    """A command frame (one command per event of a generated bank log, in time order) with
    ids ``c<seed>-<n>``: handled by ``bank_decider()`` it reproduces that log."""
    from eventlab.examples.bank import generate_bank_events

    events = generate_bank_events(n_commands, n_accounts, seed=seed, start=start,
                                  span_days=span_days)
    return events.with_row_index("n").select(
        format_text("c{}-{}", pl.lit(seed), pl.col("n")).alias("command_id"),
        pl.col("event_type").replace_strict(AS_COMMANDS).alias("command_type"),
        "stream_id", "occurred_at", "amount", "owner",
    )
