"""Notebook cards of the write side (``_repr_html_``): plain data handed to
:mod:`eventlab.render`, one card each."""

from __future__ import annotations

from typing import TYPE_CHECKING

import eventlab.render as render

if TYPE_CHECKING:
    from eventlab.write.handling import HandleResult, Outcome
    from eventlab.write.process import ProcessRun
    from eventlab.write.whatif import WhatIf


def outcome_html(outcome: Outcome) -> str:
    verdict = "accepted" if outcome.accepted else f"rejected ({outcome.stage})"
    rows = [
        ("command", f"{outcome.command_type} {outcome.command_id}"),
        ("stream", f"{outcome.stream_type}/{outcome.stream_id}"),
        ("outcome", verdict + (" — duplicate, first outcome" if outcome.duplicate else "")),
        ("reason", outcome.reason),
        ("events", outcome.events.height),
        ("version after", outcome.version),
        ("attempts", outcome.attempts),
    ]
    events = ""
    if outcome.events.height:
        events = render.table(outcome.events.select("event_id", "event_type", "version"), rows=10)
    return render.card("Command outcome", render.fields(rows), events)


def handle_result_html(result: HandleResult) -> str:
    rows = [
        ("commands", result.outcomes.height),
        ("accepted", result.accepted),
        ("rejected", result.rejected),
        ("duplicates (first outcome)", result.duplicates),
        ("events appended", result.append.appended if result.append else 0),
        ("commit", result.append.commit if result.append else None),
        ("decision rounds", result.rounds),
        ("attempts", result.attempts),
        ("seconds", round(result.seconds, 3)),
    ]
    reasons = (
        result.outcomes.filter(result.outcomes["outcome"] == "rejected")
        .group_by("reason").len().sort("len", "reason", descending=[True, False]).head(5)
    )
    extra = render.section("top rejection reasons", render.table(reasons)) \
        if reasons.height else ""
    return render.card("Commands handled", render.fields(rows), extra)


def process_run_html(run: ProcessRun) -> str:
    rows = [
        ("process", run.name),
        ("rounds", run.rounds),
        ("events read", run.events_read),
        ("commands issued", run.issued),
        ("accepted", run.accepted),
        ("rejected", run.rejected),
        ("compensations", run.compensations),
        ("duplicates (already done)", run.duplicates),
        ("checkpoint", f"{run.checkpoint_before} → {run.checkpoint}"),
    ]
    return render.card(f"Process manager {run.name}", render.fields(rows))


def whatif_html(report: WhatIf) -> str:
    rows = list(report.summary().items())
    by_stream = report.by_stream()
    streams = by_stream.filter(by_stream["changed"] > 0).head(8).select(
        "stream_id", "commands", "changed", "first_change_at")
    body = render.fields([("commands replayed", report.decisions.height), *rows])
    changed = render.section("streams with changed decisions", render.table(streams)) \
        if streams.height else ""
    return render.card(f"What if: {report.label}", body, changed)
