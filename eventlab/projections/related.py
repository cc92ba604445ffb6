"""Events across related streams: one object and the objects it shares events with.

Object-centric logs (OCEL 2.0, see :mod:`eventlab.sources.files.ocel`) store an event once per
related object, all copies sharing the source event's id in ``correlation_id``. So "the events
of one order across its items" is: the order's events, the items that share one of them, and
every event of those items (found through shared events or object-to-object relations).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import polars as pl

from eventlab.errors import InvalidArgumentError

if TYPE_CHECKING:
    from eventlab.store.core import StoreCore

SHOWN = ("position", "occurred_at", "stream_type", "stream_id", "event_type", "correlation_id")


def related_events(
    store: StoreCore, stream_type: str, stream_id: str, *, via: Sequence[str] | str,
    columns: Sequence[str] = (),
) -> pl.DataFrame:
    """Events of stream (``stream_type``, ``stream_id``) and of the streams of type(s) ``via``
    related to it, one row per stored event, in valid-time order
    (ties by position). ``columns`` adds payload columns (e.g. ``"qualifier"``).

    Related means: sharing a ``correlation_id`` (the copies of one OCEL event), or linked by an
    ``ObjectRelated`` event (``related_type`` / ``related_id``: an OCEL object-to-object
    relation) in either direction.

    ``related_events(store, "orders", "990001", via="items")`` is the order's events and all
    events of its items; an OCEL event relating the order and two items appears three times
    (one row per stream), with one ``correlation_id``: ``.unique("correlation_id")`` counts
    OCEL events.
    """
    kinds = [via] if isinstance(via, str) else list(via)
    if not kinds:
        raise InvalidArgumentError("via", via, "name at least one related stream type",
                                   "e.g. via='items'")
    links = ("related_type", "related_id")
    own = store.scan(stream_types=stream_type, stream_ids=stream_id, include=links)
    keys = ["stream_type", "stream_id"]
    shared = (store.scan(stream_types=kinds)
              .join(own.select("correlation_id").drop_nulls().unique(), on="correlation_id",
                    how="semi").select(keys))
    named = (own.filter(pl.col("related_type").is_in(kinds))
             .select(pl.col("related_type").alias("stream_type"),
                     pl.col("related_id").alias("stream_id")))
    naming = (store.scan(stream_types=kinds, include=links)
              .filter((pl.col("related_type") == stream_type)
                      & (pl.col("related_id") == stream_id)).select(keys))
    linked = pl.concat([shared, named, naming]).unique()
    others = store.scan(stream_types=kinds).join(linked, on=keys, how="semi")
    wanted = [*SHOWN, *[c for c in columns if c not in SHOWN]]
    both = pl.concat([own.select(wanted), others.select(wanted)], how="vertical_relaxed")
    return both.unique("position").collect().sort("occurred_at", "position")
