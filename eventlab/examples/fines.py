"""Road-traffic fines: the write model of the Italian police log bundled in
``data/roadtraffic100traces.xes`` (imported with ``stream_type="fine"``).

One command per activity of the real log (``CreateFine`` records "Create Fine", ...), with the
log's payload attributes as typed fields; the decider emits the same events with the same
payload, so replaying the real log through ``fines_decider()`` reproduces it exactly (a what-if
with zero differences). Its rules are the ones the real process obeys: a fine exists once, is
sent before its notification is inserted, and notified before a penalty is added.

Stricter rules to back-test (all off by default):

* ``send_deadline_days=90``: a fine must be sent within N days of the offence (Italian law asks
  for notification within 90 days); a late "Send Fine" is rejected, and so is what followed it;
* ``collect_only_when_due=True``: no credit collection for a fine that is paid in full.

``fine_commands`` generates synthetic fines that follow the same process.
"""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from eventlab import reducers as r
from eventlab.projections.spec import Projection
from eventlab.textformat import format_text
from eventlab.write.commands import CommandType, Field
from eventlab.write.decider import Decider, Emit, Handler, RejectIf, reject_if

STREAM_TYPE = "fine"
OPTIONAL_TEXT = Field(str, required=False)
CREATE = {"amount": Field(float, gt=0), "points": Field(int, ge=0, required=False),
          "article": Field(int, required=False), "vehicleClass": OPTIONAL_TEXT,
          "dismissal": OPTIONAL_TEXT,
          "totalPaymentAmount": Field(float, ge=0, required=False)}
#: event type -> (command type, command fields; the event carries the same payload)
ACTIVITIES: dict[str, tuple[str, dict[str, Field]]] = {
    "Create Fine": ("CreateFine", CREATE),
    "Send Fine": ("SendFine", {"expense": Field(float, ge=0, required=False)}),
    "Insert Fine Notification": ("InsertFineNotification", {
        "notificationType": OPTIONAL_TEXT, "lastSent": OPTIONAL_TEXT}),
    "Add penalty": ("AddPenalty", {"amount": Field(float, gt=0)}),
    "Payment": ("Payment", {"paymentAmount": Field(float, gt=0),
                            "totalPaymentAmount": Field(float, ge=0, required=False)}),
    "Send for Credit Collection": ("SendForCreditCollection", {}),
    "Insert Date Appeal to Prefecture": ("InsertDateAppealToPrefecture", {}),
    "Send Appeal to Prefecture": ("SendAppealToPrefecture", {"dismissal": OPTIONAL_TEXT}),
    "Receive Result Appeal from Prefecture": ("ReceiveResultAppealFromPrefecture", {}),
    "Notify Result Appeal to Offender": ("NotifyResultAppealToOffender", {}),
    "Appeal to Judge": ("AppealToJudge", {"dismissal": OPTIONAL_TEXT}),
}
COMMANDS = {event: CommandType(name, **fields) for event, (name, fields) in ACTIVITIES.items()}
AS_COMMANDS = {event: name for event, (name, _) in ACTIVITIES.items()}

FINES = Projection(
    "fines",
    stream_types=(STREAM_TYPE,),
    fields={
        "events": r.count(),
        "fined": r.sum("amount", on=["Create Fine"]),
        "penalties": r.sum("amount", on=["Add penalty"]),
        "expenses": r.sum("expense", on=["Send Fine"]),
        "paid": r.sum("paymentAmount", on=["Payment"]),
        "sent": r.count(on=["Send Fine"]),
        "notified": r.count(on=["Insert Fine Notification"]),
        "offence_at": r.min("occurred_at", on=["Create Fine"]),
        "status": r.status({"Create Fine": "open", "Payment": "paying",
                            "Send for Credit Collection": "credit collection",
                            "Send Appeal to Prefecture": "appealed",
                            "Appeal to Judge": "appealed"}, default="none"),
    },
    derived={"due": pl.col("fined") + pl.col("penalties") + pl.col("expenses"),
             "outstanding": pl.col("fined") + pl.col("penalties") + pl.col("expenses")
             - pl.col("paid")},
)


def _rules(event_type: str, send_deadline_days: int | None,
           collect_only_when_due: bool) -> list[RejectIf]:
    if event_type == "Create Fine":
        return [reject_if(pl.col("version") > 0, "the fine exists already")]
    rules = [reject_if(pl.col("version") == 0, "there is no such fine")]
    if event_type == "Send Fine" and send_deadline_days is not None:
        days = (pl.col("occurred_at") - pl.col("offence_at")).dt.total_days()
        rules.append(reject_if(days > send_deadline_days, format_text(
            "sent {} days after the offence; the deadline is {} days", days,
            pl.lit(send_deadline_days))))
    if event_type == "Insert Fine Notification":
        rules.append(reject_if(pl.col("sent") == 0, "the fine was not sent"))
    if event_type == "Add penalty":
        rules.append(reject_if(pl.col("notified") == 0, "the offender was not notified"))
    if event_type == "Send for Credit Collection" and collect_only_when_due:
        rules.append(reject_if(pl.col("outstanding") <= 0, format_text(
            "nothing is due (outstanding {})", pl.col("outstanding"))))
    return rules


def fines_decider(*, send_deadline_days: int | None = None,
                  collect_only_when_due: bool = False) -> Decider:
    """The fines decider; the defaults accept the real log as it happened (see module)."""
    handlers = [
        Handler(COMMANDS[event], reject=_rules(event, send_deadline_days, collect_only_when_due),
                emit=[Emit(event, **{f: pl.col(f) for f in fields})])
        for event, (_, fields) in ACTIVITIES.items()
    ]
    events = {event: {f: spec.dtype for f, spec in fields.items()}
              for event, (_, fields) in ACTIVITIES.items()}
    return Decider(STREAM_TYPE, events=events, state=FINES, handlers=handlers)


def _u(purpose: int, seed: int) -> pl.Expr:
    """A uniform number in [0, 1) per fine, fixed by (seed, purpose, fine)."""
    bucket = pl.col("fine").hash(seed=seed * 7919 + purpose) % 1_000_003
    return bucket.cast(pl.Float64) / 1_000_003


def fine_commands(n_fines: int = 1_000, *, seed: int = 0,
                  start: datetime = datetime(2010, 1, 1, tzinfo=UTC),
                  span_days: int = 730) -> pl.DataFrame:
    """Commands for ``n_fines`` synthetic fines in time order, following the real process:
    create; 30% pay at once; else send (10-160 days later), notify (5-20 days), 60% get a
    penalty (60 days) and of those half pay, half go to credit collection (1-2 years).
    Fine ids ``S<seed>-<n>``; same arguments, same frame (for a given Polars version)."""
    day = pl.duration(days=1)
    fines = pl.int_range(n_fines, dtype=pl.Int64, eager=True).alias("fine").to_frame()
    fines = fines.with_columns(
        stream_id=format_text("S{}-{}", pl.lit(seed), pl.col("fine")),
        t0=pl.lit(start) + day * (_u(1, seed) * span_days).cast(pl.Int64),
        amount=(20 + (_u(2, seed) * 30).floor() * 5).cast(pl.Float64),
        pays_now=_u(3, seed) < 0.3, send=10 + (_u(4, seed) * 150).cast(pl.Int64),
        notify=5 + (_u(5, seed) * 15).cast(pl.Int64), penalty=_u(6, seed) < 0.6,
        collect=_u(7, seed) < 0.5, late=365 + (_u(8, seed) * 365).cast(pl.Int64),
    )
    sent = pl.col("t0") + day * pl.col("send")
    noted = sent + day * pl.col("notify")
    fined = pl.col("penalty") & ~pl.col("pays_now")
    steps: list[tuple[str, pl.Expr, pl.Expr, dict[str, pl.Expr]]] = [
        ("CreateFine", pl.lit(True), pl.col("t0"), {
            "amount": pl.col("amount"), "points": pl.lit(0), "article": pl.lit(157),
            "vehicleClass": pl.lit("A"), "dismissal": pl.lit("NIL"),
            "totalPaymentAmount": pl.lit(0.0)}),
        ("Payment", pl.col("pays_now"), pl.col("t0") + day * 7, {
            "paymentAmount": pl.col("amount"), "totalPaymentAmount": pl.col("amount")}),
        ("SendFine", ~pl.col("pays_now"), sent, {"expense": pl.lit(11.0)}),
        ("InsertFineNotification", ~pl.col("pays_now"), noted, {
            "notificationType": pl.lit("P"), "lastSent": pl.lit("P")}),
        ("AddPenalty", fined, noted + day * 60, {"amount": pl.col("amount")}),
        ("Payment", fined & ~pl.col("collect"), noted + day * 90, {
            "paymentAmount": pl.col("amount") * 2 + 11, "totalPaymentAmount":
            pl.col("amount") * 2 + 11}),
        ("SendForCreditCollection", fined & pl.col("collect"), noted + day * pl.col("late"), {}),
    ]
    parts = [fines.filter(when).select(
        format_text("{}:{}", pl.col("stream_id"), pl.lit(n)).alias("command_id"),
        pl.lit(kind).alias("command_type"), "stream_id", at.alias("occurred_at"),
        *(e.alias(f) for f, e in fields.items()))
        for n, (kind, when, at, fields) in enumerate(steps)]
    return pl.concat(parts, how="diagonal_relaxed").sort("occurred_at", "command_id")
