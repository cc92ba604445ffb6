"""Notebook widgets (ipywidgets 8): thin views over eventlab's pure functions.

* :class:`HistoryScrubber` - a projection's state through valid and transaction time.
* :class:`ReadModelCompare` - two read models side by side; rows open a stream's history.
* :class:`StreamInspector` - one stream: lifeline, events, state after each event.
* :class:`ProcessScrubber` - the process map and variants through valid and transaction time.

Every output is backed by a Polars frame attribute (``.state``, ``.rows``, ``.window``, ...), and
every chart is an ``alt.JupyterChart`` rendered offline (:func:`eventlab.charts.enable_offline`).
Importing this package imports ipywidgets and altair; ``import eventlab`` does not. They come
with the ``lab`` extra (``pip install "eventlab[lab]"``); without it, importing this package
raises :class:`~eventlab.OptionalDependencyError` with that command.
"""

from eventlab.errors import require

for _module in ("ipywidgets", "anywidget", "altair", "vl_convert"):  # the [lab] extra
    require(_module, "lab")

from eventlab.widgets.compare import ReadModelCompare  # noqa: E402
from eventlab.widgets.inspector import StreamInspector  # noqa: E402
from eventlab.widgets.process import ProcessScrubber  # noqa: E402
from eventlab.widgets.scrubber import HistoryScrubber  # noqa: E402

__all__ = ["HistoryScrubber", "ProcessScrubber", "ReadModelCompare", "StreamInspector"]
