"""An order fulfilment saga: order -> payment -> shipment, refund when the shipment fails.

Three deciders (stream types ``order``, ``payment``, ``shipment``; the payment and shipment of
an order use the order's id as stream id) and one process manager:

==========================  =========================================================
event                       the process issues
==========================  =========================================================
OrderPlaced                 ChargePayment(amount, customer)
PaymentCharged              ShipOrder(address from the saga state)
ShipmentDispatched          CompleteOrder
ChargePayment rejected      CancelOrder(why="payment failed: ...")
ShipOrder rejected          RefundPayment(amount) and CancelOrder(why="shipment failed: ...")
==========================  =========================================================

A payment above ``credit_limit`` is declined; a shipment without an address or to a PO box is
rejected. :func:`order_commands` makes PlaceOrder commands where every 7th order is too
expensive and every 5th has an undeliverable address.
"""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from eventlab import reducers as r
from eventlab.projections.spec import Projection
from eventlab.textformat import format_text
from eventlab.write.commands import CommandType, Field
from eventlab.write.decider import Decider, Emit, Handler, reject_if
from eventlab.write.process import Compensate, Issue, On, ProcessManager

PlaceOrder = CommandType("PlaceOrder", customer=Field(str, min_length=1),
                         amount=Field(float, gt=0), address=Field(str, required=False))
CancelOrder = CommandType("CancelOrder", why=Field(str))
CompleteOrder = CommandType("CompleteOrder")
ChargePayment = CommandType("ChargePayment", amount=Field(float, gt=0), customer=Field(str))
RefundPayment = CommandType("RefundPayment", amount=Field(float, gt=0))
ShipOrder = CommandType("ShipOrder", address=Field(str, required=False))


def _status(mapping: dict[str, str]) -> Projection:
    return Projection("status", fields={"status": r.status(mapping, default="none")})


def order_decider() -> Decider:
    state = Projection("orders", fields={
        "status": r.status({"OrderPlaced": "placed", "OrderCancelled": "cancelled",
                            "OrderCompleted": "completed"}, default="none"),
        "total": r.sum("amount", on="OrderPlaced"),
    })
    open_order = reject_if(pl.col("status") != "placed",
                           format_text("the order is {}", pl.col("status")))
    return Decider("order", state=state, events={
        "OrderPlaced": {"customer": pl.String, "amount": pl.Float64, "address": pl.String},
        "OrderCancelled": {"why": pl.String}, "OrderCompleted": {},
    }, handlers=[
        Handler(PlaceOrder, reject=[reject_if(pl.col("version") > 0, "the order exists")],
                emit=[Emit("OrderPlaced", customer=pl.col("customer"), amount=pl.col("amount"),
                           address=pl.col("address"))]),
        Handler(CancelOrder, reject=[open_order], emit=[Emit("OrderCancelled",
                                                             why=pl.col("why"))]),
        Handler(CompleteOrder, reject=[open_order], emit=[Emit("OrderCompleted")]),
    ])


def payment_decider(*, credit_limit: float = 500.0) -> Decider:
    state = _status({"PaymentCharged": "charged", "PaymentRefunded": "refunded"})
    return Decider("payment", state=state, events={
        "PaymentCharged": {"amount": pl.Float64, "customer": pl.String},
        "PaymentRefunded": {"amount": pl.Float64},
    }, handlers=[
        Handler(ChargePayment, reject=[
            reject_if(pl.col("version") > 0, "the order was charged already"),
            reject_if(pl.col("amount") > credit_limit, format_text(
                "card declined: {} is above the credit limit {}", pl.col("amount"),
                pl.lit(credit_limit))),
        ], emit=[Emit("PaymentCharged", amount=pl.col("amount"), customer=pl.col("customer"))]),
        Handler(RefundPayment, reject=[reject_if(
            pl.col("status") != "charged", format_text("nothing to refund: payment is {}",
                                                     pl.col("status")))],
            emit=[Emit("PaymentRefunded", amount=pl.col("amount"))]),
    ])


def shipment_decider() -> Decider:
    state = _status({"ShipmentDispatched": "dispatched"})
    address = pl.col("address")
    return Decider("shipment", state=state, events={"ShipmentDispatched": {"address": pl.String}},
                   handlers=[Handler(ShipOrder, reject=[
                       reject_if(pl.col("version") > 0, "already shipped"),
                       reject_if(address.is_null() | (address.str.strip_chars() == ""),
                                 "no delivery address"),
                       reject_if(address.str.contains("(?i)po box"),
                                 "the carrier does not deliver to PO boxes"),
                   ], emit=[Emit("ShipmentDispatched", address=address)])])


def fulfilment() -> ProcessManager:
    """The saga; its state remembers each order's address and total by correlation id."""
    memory = Projection("fulfilment", key=("correlation_id",), stream_types=("order",), fields={
        "ship_to": r.first("address", on="OrderPlaced"),
        "order_total": r.first("amount", on="OrderPlaced"),
    })
    return ProcessManager("fulfilment", state=memory, on=[
        On("OrderPlaced", [Issue("ChargePayment", amount=pl.col("amount"),
                                 customer=pl.col("customer"))], stream_type="order"),
        On("PaymentCharged", [Issue("ShipOrder", address=pl.col("ship_to"))],
           stream_type="payment"),
        On("ShipmentDispatched", [Issue("CompleteOrder")], stream_type="shipment"),
    ], compensate=[
        Compensate("ChargePayment", [Issue("CancelOrder", why=format_text(
            "payment failed: {}", pl.col("reason")))]),
        Compensate("ShipOrder", [
            Issue("RefundPayment", amount=pl.col("order_total")),
            Issue("CancelOrder", why=format_text("shipment failed: {}", pl.col("reason"))),
        ]),
    ])


def deciders(*, credit_limit: float = 500.0) -> list[Decider]:
    return [order_decider(), payment_decider(credit_limit=credit_limit), shipment_decider()]


def order_commands(n: int = 100, *, start: datetime = datetime(2024, 1, 1, tzinfo=UTC)
                   ) -> pl.DataFrame:
    """``n`` PlaceOrder commands (ids ``place-<i>``, orders ``ord-<i>``), one minute apart."""
    i = pl.int_range(n, dtype=pl.Int64, eager=True).alias("i")
    return i.to_frame().select(
        format_text("place-{}", "i").alias("command_id"),
        pl.lit("PlaceOrder").alias("command_type"),
        format_text("ord-{}", pl.col("i").cast(pl.String).str.zfill(5)).alias("stream_id"),
        (pl.lit(start) + pl.duration(minutes=pl.col("i"))).alias("occurred_at"),
        format_text("customer-{}", pl.col("i") % 17).alias("customer"),
        pl.when(pl.col("i") % 7 == 3).then(900.0).otherwise(
            20.0 + (pl.col("i") * 37 % 300).cast(pl.Float64)).alias("amount"),
        pl.when(pl.col("i") % 5 == 4).then(pl.lit("PO Box 12")).otherwise(
            format_text("{} Main Street", pl.col("i"))).alias("address"),
    )
