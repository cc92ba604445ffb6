"""The append-only Parquet event store."""

from eventlab.store.batch import ANY, NO_STREAM, STREAM_EXISTS
from eventlab.store.eventstore import AppendResult, EventStore
from eventlab.store.info import StoreInfo

__all__ = ["ANY", "NO_STREAM", "STREAM_EXISTS", "AppendResult", "EventStore", "StoreInfo"]
