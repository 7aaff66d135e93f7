"""Alembic migrations of the orchestrator store, run programmatically by `runtime.store.database`."""

from __future__ import annotations
