"""What every widget shares: offline charts, a status line for errors."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import altair as alt
import ipywidgets as w

from eventlab import charts, render
from eventlab.errors import EventlabError

F = TypeVar("F", bound=Callable[..., Any])


def chart_widget(chart: Any, offline: bool = True) -> alt.JupyterChart:
    """An ``alt.JupyterChart`` for ``chart``; with ``offline`` its JavaScript comes from the
    vl-convert bundle (no CDN), see :func:`eventlab.charts.enable_offline`."""
    if offline:
        charts.enable_offline()
    return alt.JupyterChart(chart, embed_options={"renderer": "svg"})  # text stays text


class StatusMixin:
    """A one-line status HTML; :func:`reports_errors` callbacks show eventlab errors there."""

    status: w.HTML

    def _init_status(self) -> None:
        self.status = w.HTML("")

    def show_error(self, error: Exception) -> None:
        self.status.value = render.error(str(error))

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
