"""Projections (read models) as vectorized Polars folds, and temporal queries over them."""

from eventlab.projections.diff import Changes, Diff, diff_frames
from eventlab.projections.export import ExportResult, ReadModel, export
from eventlab.projections.fold import finalize, fold, fold_store, merge_states, partial_state
from eventlab.projections.lineage import LineageReport, verify_export
from eventlab.projections.reference import PythonFold, reference_state
from eventlab.projections.snapshots import Snapshot, build_snapshots, take_snapshot
from eventlab.projections.spec import Projection, load_projection, load_projections
from eventlab.projections.temporal import changes, history, state, timeline
from eventlab.projections.upcasters import Upcaster, upcast
from eventlab.projections.view import ProjectionView

__all__ = [
    "Changes",
    "Diff",
    "ExportResult",
    "LineageReport",
    "Projection",
    "ProjectionView",
    "PythonFold",
    "ReadModel",
    "Snapshot",
    "Upcaster",
    "build_snapshots",
    "changes",
    "diff_frames",
    "export",
    "finalize",
    "fold",
    "fold_store",
    "history",
    "load_projection",
    "load_projections",
    "merge_states",
    "partial_state",
    "reference_state",
    "state",
    "take_snapshot",
    "timeline",
    "upcast",
    "verify_export",
]
