"""The tests' PostgreSQL server: `runtime.bench_postgres_server`, the one launcher the benchmarks use too."""

from __future__ import annotations

from runtime.bench_postgres_server import (
    NO_POSTGRES,
    PASSWORD,
    TEMPLATE,
    USER,
    PostgresServer,
    start_postgres_server,
)

__all__ = ["NO_POSTGRES", "PASSWORD", "TEMPLATE", "USER", "PostgresServer", "start_postgres_server"]
