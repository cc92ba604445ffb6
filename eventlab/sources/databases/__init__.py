"""Event stores in databases: Marten and eventsourcing (Postgres, SQLite), KurrentDB."""
