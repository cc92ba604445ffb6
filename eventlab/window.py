"""The point in time of a query, and what a valid-time question means (the one definition).

Three keywords name a point, everywhere in eventlab: ``at=`` is valid time (when things happened:
events with ``occurred_at <= at``), ``known_at=`` is transaction time (what the store knew: events
recorded at or before it), ``at_position=`` is a commit position (events with ``position <=``
it). They combine: ``state(at=T, known_at=K)`` answers "what did we know on K about T".

**Valid-time order.** Of the facts known at the query's transaction point (``known_at`` /
``at_position``), the answer to a valid-time question is the latest fact in valid time at or
before ``at``: order-sensitive fields (``last``, ``first``, ``status``), histories, timelines,
snapshots and PythonFolds order events by ``(occurred_at, position)``, so an event that happened
earlier but was recorded later (a back-dated correction) lands where it happened and never wins
just because it was committed last. Ties in ``occurred_at`` are broken by ``position`` (commit
order). Commit order alone stays available when asked for explicitly: ``order="recorded"`` on a
reducer (``r.last("x", order="recorded")``), on ``history`` and on a ``PythonFold``.

:class:`Window` carries ``at`` / ``known_at`` / ``at_position`` as one frozen value: built once at
the public edge (``Window.build``), passed down typed, and resolved once
(:meth:`Window.resolve`: ``known_at`` becomes a position bound, exactly once per query).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal, NamedTuple

from eventlab.errors import ValidationError
from eventlab.timeutil import PointInTime, to_utc

Order = Literal["valid", "recorded"]
ORDERS: tuple[Order, ...] = ("valid", "recorded")


def check_order(order: Any) -> Order:
    """``order`` if it is "valid" or "recorded", else a ValidationError."""
    if order not in ORDERS:
        raise ValidationError(
            f"order must be 'valid' or 'recorded', got {order!r}. 'valid' (the default) orders "
            "events by (occurred_at, position), so a back-dated event lands where it happened; "
            "'recorded' orders them by position (commit order)."
        )
    return order


def _position(value: object, name: str) -> int:
    try:
        if isinstance(value, bool):
            raise TypeError
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise ValidationError(
            f"{name} must be an integer commit position (0 = before the first event), got "
            f"{value!r}. Hint: store.head is the last position."
        ) from None


@dataclass(frozen=True)
class Window:
    """A point in time: valid time ``at``, transaction time ``known_at`` and a commit position
    ``at_position``; None means "no bound". Datetimes are aware UTC (use :meth:`build`)."""

    at: datetime | None = None
    known_at: datetime | None = None
    at_position: int | None = None

    @classmethod
    def build(
        cls,
        *,
        at: PointInTime | None = None,
        known_at: PointInTime | None = None,
        at_position: int | None = None,
    ) -> Window:
        """The window of the public keywords, checked and in UTC."""
        return cls(
            at=None if at is None else to_utc(at, name="at"),
            known_at=None if known_at is None else to_utc(known_at, name="known_at"),
            at_position=None if at_position is None else _position(at_position, "at_position"),
        )

    @property
    def resolved(self) -> bool:
        """True when ``known_at`` has been turned into a position bound (see :meth:`resolve`)."""
        return self.known_at is None and self.at_position is not None

    def resolve(self, head: int, position_of: Callable[[datetime], int]) -> Window:
        """The same point with ``known_at`` turned into a position: ``at_position`` becomes the
        lowest of ``head``, ``position_of(known_at)`` and ``at_position`` (at least 0), and
        ``known_at`` is dropped. A resolved window is returned unchanged."""
        if self.resolved:
            return self
        bounds = [head]
        if self.known_at is not None:
            bounds.append(position_of(self.known_at))
        if self.at_position is not None:
            bounds.append(self.at_position)
        return Window(at=self.at, at_position=max(0, min(bounds)))

    @property
    def position(self) -> int:
        """The position bound of a resolved window."""
        if not self.resolved:
            raise ValidationError("resolve the window first (window.resolve(head, position_of)).")
        assert self.at_position is not None
        return self.at_position

    def with_at(self, at: datetime | None) -> Window:
        return replace(self, at=at)


#: no bound on any axis: every event the store holds
UNBOUNDED = Window()


class Covered(NamedTuple):
    """What a snapshot taken at valid time ``at`` (None: all) and position ``position`` holds:
    the events with ``occurred_at <= at`` and ``position <= position``."""

    at: datetime | None
    position: int
