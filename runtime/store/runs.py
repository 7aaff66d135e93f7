"""Which orchestrator process last owned the database, and whether it stopped cleanly.

A run row without ``stopped_at`` means the previous process died (SIGKILL, power loss): the
next start drives `orchestrator_recovery` before serving (seed 4.4 "Recovery After Unexpected
Shutdown").
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from runtime.store.models import RunRow


async def begin_run(session: AsyncSession, now: float) -> tuple[int, bool]:
    """Record a new run; return its id and whether the previous run crashed."""
    previous = await session.scalar(select(RunRow).order_by(RunRow.id.desc()).limit(1))
    crashed = previous is not None and previous.stopped_at is None
    run = RunRow(started_at=now)
    session.add(run)
    await session.flush()
    return run.id, crashed


async def end_run(session: AsyncSession, run_id: int, now: float) -> None:
    run = await session.get(RunRow, run_id)
    if run is not None:
        run.stopped_at = now


async def touch_run(session: AsyncSession, run_id: int) -> None:
    """A write that changes nothing: the trial write of database recovery (`runtime.orchestrator.db_recovery`)."""
    await session.execute(update(RunRow).where(RunRow.id == run_id).values(started_at=RunRow.started_at))
