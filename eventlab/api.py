"""``EventStore``: the public store, on the top floor.

It is the storage core (:class:`eventlab.store.core.StoreCore`: create, open, append, scan,
compact, verify) plus what needs the floors above it: projections (``store.project(spec)``),
declaring personal columns and forgetting subjects (:mod:`eventlab.privacy`), and its HTML card
in notebooks. Modules below this floor take the core type and never import this module, so no
import points up (tests/test_architecture.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from eventlab.store.core import StoreCore

if TYPE_CHECKING:
    from eventlab.privacy import ForgetResult
    from eventlab.projections.view import ProjectionView


class EventStore(StoreCore):
    """A folder of Hive-partitioned Parquet files plus a hash-chained commit log.

    Use :meth:`create` or :meth:`open`; many readers and one writer (across processes) at a time.
    ``store.project(spec)`` binds a projection; ``declare_personal`` / ``forget`` do
    crypto-shredding.
    """

    def project(self, projection: Any, name: str | None = None) -> ProjectionView:
        """Bind a projection (a Projection, a PythonFold, or a TOML spec path plus ``name``) to
        this store: ``store.project(spec).state(at=...)``."""
        from eventlab.projections.view import ProjectionView

        return ProjectionView.bind(self, projection, name)

    def declare_personal(
        self, stream_type: str, columns: Sequence[str], subject: str = "stream_id"
    ) -> None:
        """Encrypt ``columns`` of ``stream_type`` per subject (the ``subject`` column's value)
        from now on; see :mod:`eventlab.privacy`. Needs ``pip install "eventlab[crypto]"``."""
        from eventlab.privacy import declare_personal

        declare_personal(self, stream_type, list(columns), subject)

    def forget(self, subject: str) -> ForgetResult:
        """Destroy ``subject``'s key: its personal values read as "[redacted]" everywhere;
        events and log stay unchanged (verify passes). See :mod:`eventlab.privacy.forget`."""
        from eventlab.privacy import forget

        return forget(self, subject)

    def _repr_html_(self) -> str:
        from eventlab.charts import rate_svg
        from eventlab.store.cards import info_html

        info = self.info()
        span = (info.first_occurred_at, info.last_occurred_at)
        events = self.scan().select("occurred_at", "event_type")
        return info_html(info, rate_svg(events, *span) if info.events else "")
