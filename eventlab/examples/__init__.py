"""Synthetic example data for notebooks, tests and benchmarks (generated, deterministic)."""

from eventlab.examples.bank import EVENT_TYPES, generate_bank_events, write_bank_store

__all__ = ["EVENT_TYPES", "generate_bank_events", "write_bank_store"]

# Write-side example domains (commands, deciders, read models, generators): bank accounts,
# road-traffic fines matching data/roadtraffic100traces.xes, and the order fulfilment saga.
from eventlab.examples import bank_domain, fines, orders

__all__ += ["bank_domain", "fines", "orders"]
