"""The per-workflow event log behind the WebSocket stream (seed 4.3 ``broadcastEvent``).

Events are rows in the same transaction as the state change they announce, so a client that
resumes from its last event id (issue 3 §3) sees exactly what the database committed.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from runtime.protocol import Event, EventType
from runtime.store.changes import ChangeLog
from runtime.store.models import EventRow


def to_event(row: EventRow) -> Event:
    return Event(
        id=row.id, type=EventType(row.type), workflow_id=row.workflow_id, task_id=row.task_id, time=row.time,
        payload=row.payload,
    )


async def append_event(
    session: AsyncSession,
    changes: ChangeLog,
    event_type: EventType,
    workflow_id: str,
    task_id: str | None,
    now: float,
    payload: dict[str, Any] | None = None,
) -> None:
    """Add the event row; its increasing id comes with the transaction's next flush (one INSERT per batch)."""
    row = EventRow(workflow_id=workflow_id, task_id=task_id, type=event_type.value, time=now, payload=payload or {})
    session.add(row)
    changes.event_rows.append(row)


async def events_since(session: AsyncSession, workflow_id: str, last_event_id: int, limit: int) -> list[Event]:
    """Events after `last_event_id`, oldest first; at most the `limit` most recent of them."""
    query = (
        select(EventRow)
        .where(EventRow.workflow_id == workflow_id, EventRow.id > last_event_id)
        .order_by(EventRow.id.desc())
        .limit(limit)
    )
    rows = (await session.scalars(query)).all()
    return [to_event(r) for r in reversed(rows)]
