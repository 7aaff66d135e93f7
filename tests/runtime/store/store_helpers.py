"""Helpers for store tests: a real SQLite file, transactions with a change log."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from runtime.protocol import RegisterRequest
from runtime.store.changes import ChangeLog
from runtime.store.database import Database
from runtime.store.registry import Registration
from spec.policies import DEFAULT_POLICIES

T = TypeVar("T")


async def transact(db: Database, work: Callable[[AsyncSession, ChangeLog], Awaitable[T]]) -> tuple[T, ChangeLog]:
    changes = ChangeLog()
    async with db.write() as session:
        result = await work(session, changes)
    return result, changes


def by_admin(request: RegisterRequest) -> Registration:
    """A registration as an admin credential makes it: it may replace any live registration."""
    return Registration(request, token_digest="admin-test-digest", may_replace=lambda _worker_id: True,
                        heartbeat_timeout_s=DEFAULT_POLICIES.heartbeat.timeout_s)
