"""``store.project(spec)``: a projection bound to a store, the notebook's entry point."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from eventlab.errors import ValidationError
from eventlab.projections import temporal
from eventlab.projections.fold import Engine
from eventlab.projections.reference import PythonFold
from eventlab.projections.spec import Projection, load_projection
from eventlab.timeutil import PointInTime
from eventlab.window import Order

if TYPE_CHECKING:
    from eventlab.projections.diff import Changes
    from eventlab.projections.export import ExportResult
    from eventlab.projections.snapshots import PruneResult, Snapshot
    from eventlab.store.core import StoreCore


@dataclass(frozen=True)
class ProjectionView:
    """A projection over one store. Every method is a pure query; nothing is cached here."""

    store: StoreCore
    projection: Projection | PythonFold

    @classmethod
    def bind(cls, store: StoreCore, projection: Any, name: str | None = None) -> ProjectionView:
        if isinstance(projection, (Projection, PythonFold)):
            return cls(store, projection)
        if isinstance(projection, (str, Path)):
            if name is None:
                raise ValidationError("pass name= to choose a projection of the spec file.")
            return cls(store, load_projection(projection, name))
        raise ValidationError(
            f"cannot project {type(projection).__name__}; pass a Projection, a PythonFold, or a "
            "TOML spec path with name=."
        )

    @property
    def name(self) -> str:
        return self.projection.name

    def __repr__(self) -> str:
        fields = getattr(self.projection, "fields", None)
        shape = f"{len(fields)} fields" if fields is not None else "python fold"
        return (f"ProjectionView({self.name!r}, key={list(self.projection.key)}, {shape}, "
                f"store={str(self.store.root)!r})")

    def state(
        self,
        *,
        at: PointInTime | None = None,
        known_at: PointInTime | None = None,
        at_position: int | None = None,
        use_snapshots: bool = True,
        engine: Engine = "auto",
        progress: bool | None = None,
    ) -> pl.DataFrame:
        """State of every key at the point (valid time ``at``, transaction time ``known_at``):
        for order-sensitive fields, the latest fact in valid time at or before ``at``."""
        return temporal.state(
            self.store,
            self.projection,
            at=at,
            known_at=known_at,
            at_position=at_position,
            use_snapshots=use_snapshots,
            engine=engine,
            progress=progress,
        )

    def history(
        self,
        *,
        keys: Sequence[Any] | None = None,
        at: PointInTime | None = None,
        known_at: PointInTime | None = None,
        at_position: int | None = None,
        order: Order | None = None,
    ) -> pl.DataFrame:
        """The state of its key after every event (audit trail), in valid-time order
        (``order="recorded"``: in commit order)."""
        return temporal.history(
            self.store,
            self.projection,
            keys=keys,
            at=at,
            known_at=known_at,
            at_position=at_position,
            order=order,
        )

    def timeline(
        self,
        *,
        every: str | None = None,
        points: Sequence[PointInTime] | None = None,
        metrics: Mapping[str, pl.Expr] | None = None,
        start: PointInTime | None = None,
        end: PointInTime | None = None,
        known_at: PointInTime | None = None,
        at_position: int | None = None,
        keys: Sequence[Any] | None = None,
    ) -> pl.DataFrame:
        """State at many points (tidy), or ``metrics`` aggregated over keys per point;
        ``every`` points lie on the calendar grid (month starts, midnights UTC)."""
        return temporal.timeline(
            self.store,
            self._mergeable(),
            every=every,
            points=points,
            metrics=metrics,
            start=start,
            end=end,
            known_at=known_at,
            at_position=at_position,
            keys=keys,
        )

    def changes(
        self,
        start: PointInTime | int,
        end: PointInTime | int,
        *,
        axis: str = "at",
        at: PointInTime | None = None,
        known_at: PointInTime | None = None,
        at_position: int | None = None,
    ) -> Changes:
        """Keys added, removed and changed between two points on ``axis``; the other axes are
        held by their keywords."""
        return temporal.changes(
            self.store,
            self.projection,
            start,
            end,
            axis=axis,
            at=at,
            known_at=known_at,
            at_position=at_position,
        )

    def snapshot(
        self,
        *,
        at: PointInTime | None = None,
        known_at: PointInTime | None = None,
        at_position: int | None = None,
        progress: bool | None = None,
    ) -> Snapshot:
        from eventlab.projections.snapshots import take_snapshot

        return take_snapshot(
            self.store,
            self._mergeable(),
            at=at,
            known_at=known_at,
            at_position=at_position,
            progress=progress,
        )

    def build_snapshots(
        self,
        *,
        every: str = "1mo",
        known_at: PointInTime | None = None,
        at_position: int | None = None,
        progress: bool | None = None,
    ) -> list[Snapshot]:
        """Snapshots every ``every`` of valid time, as known at the head (or an earlier point)."""
        from eventlab.projections.snapshots import build_snapshots

        return build_snapshots(
            self.store,
            self._mergeable(),
            every=every,
            known_at=known_at,
            at_position=at_position,
            progress=progress,
        )

    def prune_snapshots(self, *, keep: int = 1) -> PruneResult:
        """Remove snapshots of earlier specs and of all but the ``keep`` newest positions."""
        from eventlab.projections.snapshots import prune_snapshots

        return prune_snapshots(self.store, self._mergeable(), keep=keep)

    def export(
        self,
        out: str | Path,
        *,
        partition_by: str | list[str] | None = None,
        full: bool = False,
        progress: bool | None = None,
    ) -> ExportResult:
        from eventlab.projections.export import export

        return export(
            self.store,
            self._mergeable(),
            out,
            partition_by=partition_by,
            full=full,
            progress=progress,
        )

    def _mergeable(self) -> Projection:
        if isinstance(self.projection, PythonFold):
            raise ValidationError(
                f"{self.projection.name!r} is a PythonFold: it has no mergeable state, so it "
                "cannot snapshot, export incrementally or build timelines. Express it with "
                "reducers (eventlab.reducers) to get those."
            )
        return self.projection

    def _repr_html_(self) -> str:
        from eventlab.projections.cards import projection_html

        return projection_html(self)


def as_view(
    source: Any, projection: Any = None, name: str | None = None, *,
    default: Projection | PythonFold | None = None,
) -> ProjectionView:
    """The one coercion to a :class:`ProjectionView` (every widget takes what this takes):
    a ProjectionView as it is, or a store plus a projection (a Projection, a PythonFold, or a
    TOML spec path with ``name``), ``default`` standing in when none is given."""
    from eventlab.store.core import StoreCore

    if isinstance(source, ProjectionView):
        return source
    if isinstance(source, StoreCore):
        chosen = projection if projection is not None else default
        if chosen is None:
            raise ValidationError(
                "pass projection= (a Projection, a PythonFold, or a TOML spec path with name=) "
                "to view this store through."
            )
        if isinstance(chosen, ProjectionView):
            return chosen
        return ProjectionView.bind(source, chosen, name)
    raise ValidationError(
        f"expected an EventStore or a ProjectionView (store.project(...)), got "
        f"{type(source).__name__}."
    )
