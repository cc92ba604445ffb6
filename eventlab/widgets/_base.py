"""What every widget shares: offline charts, HTML tables of frames, a status line for errors."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import wraps
from html import escape
from typing import Any, TypeVar

import altair as alt
import ipywidgets as w
import polars as pl

from eventlab import charts
from eventlab.display import fmt, frame_html
from eventlab.errors import EventlabError

F = TypeVar("F", bound=Callable[..., Any])


def chart_widget(chart: Any, offline: bool = True) -> alt.JupyterChart:
    """An ``alt.JupyterChart`` for ``chart``; with ``offline`` its JavaScript comes from the
    vl-convert bundle (no CDN), see :func:`eventlab.charts.enable_offline`."""
    if offline:
        charts.enable_offline()
    return alt.JupyterChart(chart)


def table_html(frame: pl.DataFrame, rows: int, caption: str = "") -> str:
    head = f"<div style='color:#555'>{escape(caption)}</div>" if caption else ""
    if frame.height == 0:
        return head + "<div><i>no rows</i></div>"
    return head + frame_html(frame, rows)


def numbers_html(numbers: Iterable[tuple[str, Any]]) -> str:
    """Headline numbers as a row of small cards."""
    cells = "".join(
        "<div style='display:inline-block;margin-right:18px'>"
        f"<div style='color:#555;font-size:11px'>{escape(k)}</div>"
        f"<div style='font-size:18px;font-weight:600'>{fmt(v)}</div></div>"
        for k, v in numbers
    )
    return f"<div style='font-family:system-ui,sans-serif'>{cells}</div>"


@contextmanager
def no_progress_bars() -> Iterator[None]:
    """Silence eventlab progress bars inside (``EVENTLAB_PROGRESS=0``) for library calls that
    do not pass ``progress=False`` down to every step (``build_snapshots`` folds each checkpoint
    with the automatic setting)."""
    before = os.environ.get("EVENTLAB_PROGRESS")
    os.environ["EVENTLAB_PROGRESS"] = "0"
    try:
        yield
    finally:
        if before is None:
            del os.environ["EVENTLAB_PROGRESS"]
        else:
            os.environ["EVENTLAB_PROGRESS"] = before


class StatusMixin:
    """A one-line status HTML; :func:`reports_errors` callbacks show eventlab errors there."""

    status: w.HTML

    def _init_status(self) -> None:
        self.status = w.HTML("")

    def show_error(self, error: Exception) -> None:
        self.status.value = f"<span style='color:#b00020'>{escape(str(error))}</span>"

    def clear_error(self) -> None:
        self.status.value = ""


def reports_errors(method: F) -> F:
    """Run a callback; an EventlabError (bad input, not a bug) goes to the status line instead
    of a traceback in the kernel log where nobody sees it."""

    @wraps(method)
    def run(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            result = method(self, *args, **kwargs)
        except EventlabError as exc:
            self.show_error(exc)
            return None
        self.clear_error()
        return result

    return run  # type: ignore[return-value]
