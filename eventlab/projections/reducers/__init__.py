"""Reducers: how one field of a projection folds the events of a key into a value.

See :mod:`eventlab.projections.reducers.base` for the contract (inputs, partial, merge, finalize)
and why every reducer is mergeable.
"""

from __future__ import annotations

from eventlab.projections.reducers.base import POS, Reducer
from eventlab.projections.reducers.numeric import Count, Max, Mean, Min, Sum
from eventlab.projections.reducers.ordered import First, Last, Status
from eventlab.projections.reducers.sets import CountDistinct, Custom, Distinct

REDUCERS: dict[str, type[Reducer]] = {
    cls.kind: cls
    for cls in (Count, Sum, Min, Max, Mean, First, Last, Status, Distinct, CountDistinct)
}

__all__ = [
    "POS",
    "REDUCERS",
    "Count",
    "CountDistinct",
    "Custom",
    "Distinct",
    "First",
    "Last",
    "Max",
    "Mean",
    "Min",
    "Reducer",
    "Status",
    "Sum",
]
