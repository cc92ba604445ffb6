"""Paths of the sample data bundled in the source checkout's ``data/`` folder.

``ROAD_FINES`` is a 100-case sample of the Italian road-traffic fines log (XES), ``RECEIPT`` the
receipt-phase log of a Dutch municipality (XES, gzip), ``FINES_SPEC`` eventlab's projection spec
for the fines log, ``OCEL_EXAMPLE`` pm4py's tiny OCEL 2.0 JSON example. Origins and licences:
``data/README.md``.
"""

from __future__ import annotations

from pathlib import Path

from eventlab.errors import InputNotFoundError

DATA = Path(__file__).resolve().parents[1] / "data"
ROAD_FINES = DATA / "roadtraffic100traces.xes"
RECEIPT = DATA / "08_receipt.xes.gz"
FINES_SPEC = DATA / "fines.toml"
OCEL_EXAMPLE = DATA / "ocel20_example.jsonocel"
#: the shared real-log folder next to the checkout (tests and notebooks use it when present)
SHARED_DATASETS = DATA.parents[1] / "shared" / "datasets"


def sample(name: str) -> Path:
    """A bundled file by name; a clear error when eventlab runs outside a source checkout."""
    path = DATA / name
    if not path.exists():
        raise InputNotFoundError(
            f"sample {name!r} is not at {path}; the samples ship with the source checkout "
            "(git clone), not with a wheel."
        )
    return path
