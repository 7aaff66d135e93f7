"""Event-log retention (``RetentionPolicy``): delete the events of workflows that finished long ago.

Every statement walks the events' primary key, so a sweep costs what it deletes, not the size of
the log: event ids grow with time, so the newest event older than the cutoff is found by a binary
search over ids (a handful of primary-key seeks), and only events up to it are candidates. Of those,
the ones whose workflow is settled (a terminal state of ``workflow_lifecycle``) and finished before
the cutoff are deleted, oldest first, at most ``batch`` per call. Candidates that stay (a workflow
still running after the whole retention period) are few and are looked at again next sweep.

Ids are only nearly in time order across replicas (each stamps its own clock): an event stamped a
little out of order is deleted one sweep later, never one that is still retained.
"""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from runtime.store.models import EventRow, WorkflowRow
from spec.machine import StateRole
from spec.machines import WORKFLOW_LIFECYCLE

#: Workflow states after which no event is written any more: their events may expire.
SETTLED = tuple(s.name for s in WORKFLOW_LIFECYCLE.states if s.role is StateRole.TERMINAL)


async def last_event_before(session: AsyncSession, cutoff: float) -> int | None:
    """The id of the newest event stamped before `cutoff`, by binary search over ids; ``None`` if none is."""
    low, high = (await session.execute(select(func.min(EventRow.id), func.max(EventRow.id)))).one()
    if low is None or high is None:
        return None
    first = await session.scalar(select(EventRow.time).where(EventRow.id == low))
    if first is None or first >= cutoff:
        return None
    while low < high:  # invariant: the event `low` is before the cutoff; the answer is in [low, high]
        middle = (low + high + 1) // 2
        found = (await session.execute(
            select(EventRow.id, EventRow.time).where(EventRow.id >= middle).order_by(EventRow.id).limit(1))).first()
        if found is not None and found[1] < cutoff:
            low = found[0]
        else:
            high = middle - 1
    return int(low)


async def delete_expired_events(session: AsyncSession, cutoff: float, batch: int) -> int:
    """Delete up to `batch` events of workflows settled before `cutoff` (epoch seconds); how many were deleted."""
    newest = await last_event_before(session, cutoff)
    if newest is None:
        return 0
    expired = (
        select(EventRow.id)
        .join(WorkflowRow, WorkflowRow.id == EventRow.workflow_id)
        .where(EventRow.id <= newest, WorkflowRow.status.in_(SETTLED), WorkflowRow.updated_at < cutoff)
        .order_by(EventRow.id)
        .limit(batch)
    )
    ids = list((await session.scalars(expired)).all())
    if ids:
        await session.execute(delete(EventRow).where(EventRow.id.in_(ids)))
    return len(ids)


__all__ = ["SETTLED", "delete_expired_events", "last_event_before"]
