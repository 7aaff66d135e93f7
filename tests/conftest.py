"""Fixtures shared across the suite: the session's PostgreSQL server and the store backends (issue 16)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.postgres_server import NO_POSTGRES, PostgresServer, start_postgres_server
from tests.store_backends import BACKENDS, StoreBackend

#: The test kit's plugin (its `spec_catalogue` marker and fixtures), loaded whether or not this
#: checkout's install registered its pytest11 entry point: the docs import the tutorial's platform
#: test (`runtime.examples.test_payment_service`), whose marker must be known.
pytest_plugins = ["runtime.testing.plugin"]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the whole session, started on first use and stopped by pid at the end."""
    server = start_postgres_server()
    if server is None:
        pytest.skip(NO_POSTGRES)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=BACKENDS)
def store_backend(request: pytest.FixtureRequest) -> Iterator[StoreBackend]:
    """Runs the test once on SQLite and once on PostgreSQL; hands out fresh databases and removes them after."""
    server = request.getfixturevalue("postgres_server") if request.param == "postgresql" else None
    with tempfile.TemporaryDirectory(prefix="orch-store-") as root:
        backend = StoreBackend(request.param, Path(root), server)
        try:
            yield backend
        finally:
            backend.cleanup()
