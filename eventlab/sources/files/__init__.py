"""Readers of event-log files: CSV (delimited.py), JSON Lines (jsonl.py), XES (xes.py)."""
