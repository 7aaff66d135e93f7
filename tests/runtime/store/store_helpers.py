"""Helpers for store tests: a real SQLite file, transactions with a change log."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from runtime.store.changes import ChangeLog
from runtime.store.database import Database

T = TypeVar("T")


async def transact(db: Database, work: Callable[[AsyncSession, ChangeLog], Awaitable[T]]) -> tuple[T, ChangeLog]:
    changes = ChangeLog()
    async with db.write() as session:
        result = await work(session, changes)
    return result, changes
