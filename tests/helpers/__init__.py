"""Helpers for the store tests: batch builders and subprocess workers (crash, lock, stress)."""
