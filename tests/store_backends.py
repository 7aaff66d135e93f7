"""The two store backends the tests run on (issue 16): a SQLite file, or a database on the session's PostgreSQL server.

A test that takes the ``store_backend`` fixture (tests/conftest.py) runs once per backend and asks
it for fresh, empty, migrated databases; the backend removes them when the test ends.
"""

from __future__ import annotations

import itertools
from pathlib import Path

from runtime.store.database import Database
from runtime.store.locations import DatabaseLocation
from tests.postgres_server import PostgresServer

BACKENDS = ("sqlite", "postgresql")


class StoreBackend:
    """Fresh databases on one backend: files under `root`, or databases on `server`."""

    def __init__(self, name: str, root: Path, server: PostgresServer | None = None) -> None:
        self.name = name
        self.root = root
        self.server = server
        self._numbers = itertools.count(1)
        self._databases: list[str] = []

    @property
    def is_postgres(self) -> bool:
        return self.server is not None

    def fresh(self) -> DatabaseLocation:
        """The location of a new, empty database (migrated on PostgreSQL; SQLite migrates at open)."""
        if self.server is None:
            return self.root / f"store{next(self._numbers)}.db"
        name = self.server.create_database()
        self._databases.append(name)
        return self.server.location(name)

    async def open_fresh(self) -> Database:
        db = Database.at(self.fresh())
        await db.open()
        return db

    def cleanup(self) -> None:
        if self.server is not None:
            self.server.drop_databases(self._databases)
        self._databases.clear()
