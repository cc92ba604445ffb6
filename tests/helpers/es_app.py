"""A small ``eventsourcing`` application whose events the connector tests import.

Aggregates ``Account`` and ``Customer`` with events carrying a Decimal, a UUID, a nested dict
and a list, written by the real library (``Application.save``) to SQLite or Postgres.
"""

from __future__ import annotations

import os
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event


class Account(Aggregate):
    @event("Opened")
    def __init__(self, owner: str, branch: dict[str, Any]) -> None:
        self.owner = owner
        self.branch = branch
        self.balance = Decimal(0)

    @event("Deposited")
    def deposit(self, amount: Decimal, tags: list[str]) -> None:
        self.balance += amount

    @event("Closed")
    def close(self, reason: str) -> None:
        self.closed = True


class Customer(Aggregate):
    @event("Registered")
    def __init__(self, name: str, account_id: UUID) -> None:
        self.name = name
        self.account_id = account_id


class Bank(Application):
    pass


def write(env: dict[str, str], accounts: int, deposits: int) -> tuple[Bank, int]:
    """``accounts`` accounts (Opened, ``deposits`` x Deposited, every 10th Closed) and one
    Customer per account, saved in chunks; returns the app and the number of events."""
    app = Bank(env=env)
    total = 0
    for start in range(0, accounts, 2000):
        batch: list[Aggregate] = []
        for i in range(start, min(start + 2000, accounts)):
            account = Account(f"owner {i}", {"city": ["Oslo", "Lyon"][i % 2], "no": i % 7})
            for d in range(deposits):
                account.deposit(Decimal(f"{d}.50"), ["web", f"d{d}"])
            if i % 10 == 0:
                account.close("moved")
            batch += [account, Customer(f"customer {i}", account.id)]
            total += 2 + deposits + (i % 10 == 0)
        app.save(*batch)
    return app, total


def sqlite_env(path: str) -> dict[str, str]:
    return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": path}


def postgres_env(url_parts: dict[str, str]) -> dict[str, str]:
    return {"PERSISTENCE_MODULE": "eventsourcing.postgres", **url_parts}


if __name__ == "__main__":  # a quick look: python tests/helpers/es_app.py /tmp/bank.db
    import sys

    print(write(sqlite_env(sys.argv[1]), int(os.environ.get("N", "100")), 3)[1])
