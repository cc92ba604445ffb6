"""Notebook cards of the read side (projection views, diffs, changes, exported read models):
plain data handed to :mod:`eventlab.render`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import eventlab.render as render

if TYPE_CHECKING:
    from eventlab.projections.diff import Changes, Diff
    from eventlab.projections.export import ReadModel
    from eventlab.projections.view import ProjectionView


def diff_html(diff: Diff, labels: tuple[str, str] = ("A", "B")) -> str:
    a, b = labels
    counts = render.fields([
        (f"only in {a}", diff.only_in_a.height),
        (f"only in {b}", diff.only_in_b.height),
        ("changed", diff.changed.height),
    ])
    differing = diff.mismatches.filter(diff.mismatches["mismatches"] > 0)
    per_column = render.fields(differing.iter_rows())
    changed = render.table(diff.changed, rows=5) if diff.changed.height else ""
    title = "read models are equal" if diff.equal else "read models differ"
    return render.card(title, counts, render.section("mismatches per column", per_column),
                       render.section("changed rows", changed))


def changes_html(changes: Changes) -> str:
    start, end = render.value_text(changes.start), render.value_text(changes.end)
    title = f"changes on {changes.axis}: {start} → {end}"
    counts = render.fields(changes.summary().items())
    detail = render.table(changes.long(), rows=10) if changes.changed.height else ""
    return render.card(title, counts, render.section("changed fields", detail))


def read_model_html(model: ReadModel) -> str:
    rows = [
        ("path", str(model.path)),
        ("projection", model.projection),
        ("rows", model.rows),
        ("events folded", model.event_count),
        ("high-water position", model.high_water_position),
        ("built at", model.built_at),
        ("spec hash", model.spec_hash[:16]),
    ]
    return render.card("read model", render.fields(rows))


def projection_html(view: ProjectionView) -> str:
    projection = view.projection
    fields = getattr(projection, "fields", {})
    rows = [
        ("name", projection.name),
        ("key", ", ".join(projection.key)),
        ("stream types", ", ".join(projection.stream_types or ["*"])),
        ("fields", ", ".join(f"{n} ({r.kind})" for n, r in fields.items()) or "python fold"),
        ("store", str(view.store.root)),
        ("store head", view.store.head),
    ]
    return render.card("projection", render.fields(rows))
