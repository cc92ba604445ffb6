"""Synthetic example data for notebooks, tests and benchmarks (generated, deterministic)."""

from eventlab.examples.bank import EVENT_TYPES, generate_bank_events, write_bank_store

__all__ = ["EVENT_TYPES", "generate_bank_events", "write_bank_store"]
