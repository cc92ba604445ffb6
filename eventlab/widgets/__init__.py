"""Notebook widgets (ipywidgets 8): thin views over eventlab's pure functions.

* :class:`HistoryScrubber` - a projection's state through valid and transaction time.
* :class:`ReadModelCompare` - two read models side by side; rows open a stream's history.
* :class:`StreamInspector` - one stream: lifeline, events, state after each event.
* :class:`ProcessScrubber` - the process map and variants through valid and transaction time.

Every output is backed by a Polars frame attribute (``.state``, ``.rows``, ``.window``, ...), and
every chart is an ``alt.JupyterChart`` rendered offline (:func:`eventlab.charts.enable_offline`).
Importing this package imports ipywidgets and altair; ``import eventlab`` does not.
"""

from eventlab.widgets.compare import ReadModelCompare
from eventlab.widgets.inspector import StreamInspector
from eventlab.widgets.process import ProcessScrubber
from eventlab.widgets.scrubber import HistoryScrubber

__all__ = ["HistoryScrubber", "ProcessScrubber", "ReadModelCompare", "StreamInspector"]
