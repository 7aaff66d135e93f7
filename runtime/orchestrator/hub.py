"""WebSocket fan-out with bounded per-client buffers (issue 3 §3, seed 4.3 ``broadcastEvent``).

Publishing never awaits a client: each client has a queue of at most
``WebSocketPolicy.subscriber_buffer`` events drained by its own sender task. A client whose
queue is full is disconnected with close code 1008 and a reason (`websocket_session`
``buffer_overflow``), so one slow reader cannot stall the orchestrator.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable

from starlette.websockets import WebSocket, WebSocketState

from runtime.protocol import Event, EventType
from spec.machine import MachineInstance
from spec.machines.websocket_session import SessionTrigger

log = logging.getLogger("runtime.orchestrator.hub")

OVERFLOW_CLOSE_CODE = 1008
GOING_AWAY_CLOSE_CODE = 1001

#: Event payload keys that name a lease holder or its fencing token: withheld from client credentials.
LEASE_KEYS = frozenset({"workerId", "fencingToken"})

#: Fetches a workflow's stored events after an id (the replay on resume).
Replay = Callable[[str, int], Awaitable[list[Event]]]


class Subscriber:
    """One connected client: its socket, session machine, buffer and sender task."""

    def __init__(self, client_id: str, websocket: WebSocket, session: MachineInstance, buffer: int, *,
                 leases: bool = True) -> None:
        self.client_id = client_id
        #: Lease holders in event payloads are shown to admin credentials only (docs/security.md).
        self.leases = leases
        self.websocket = websocket
        self.session = session
        self.buffer = buffer
        self.queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=buffer)
        self.last_sent: dict[str, int] = {}
        self._send_lock = asyncio.Lock()
        self._replaying = asyncio.Lock()
        self._sender: asyncio.Task[None] | None = None
        self.closed = asyncio.Event()

    def start(self) -> None:
        self._sender = asyncio.create_task(self._drain(), name=f"ws-sender-{self.client_id}")

    def offer(self, event: Event) -> bool:
        """Queue `event` without waiting; False when the buffer is full."""
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            return False
        return True

    async def send_json(self, data: dict[str, object]) -> None:
        async with self._send_lock:
            await self.websocket.send_json(data)

    async def _deliver(self, event: Event) -> None:
        if event.id <= self.last_sent.get(event.workflow_id, 0):
            return  # already delivered by the replay
        data = event.model_dump(mode="json", by_alias=True)
        if not self.leases:
            data["payload"] = {k: v for k, v in data["payload"].items() if k not in LEASE_KEYS}
        await self.send_json(data)
        self.last_sent[event.workflow_id] = event.id
        if self.session.can_fire(SessionTrigger.EVENT):
            self.session.fire(SessionTrigger.EVENT)

    async def _drain(self) -> None:
        while True:
            event = await self.queue.get()
            async with self._replaying:
                await self._deliver(event)

    async def replay(self, workflow_id: str, after: int, fetch: Replay) -> None:
        """Send stored events after `after`; live events wait until the replay is done."""
        async with self._replaying:
            self.last_sent[workflow_id] = max(after, self.last_sent.get(workflow_id, 0))
            for event in await fetch(workflow_id, after):
                await self._deliver(event)

    async def close(self, code: int, reason: str) -> None:
        if self._sender is not None:
            self._sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._sender
        if self.websocket.application_state != WebSocketState.DISCONNECTED:
            with contextlib.suppress(Exception):
                await self.websocket.close(code, reason)
        self.closed.set()


class Hub:
    """Subscriptions by workflow id; `publish` is synchronous and bounded."""

    def __init__(self, subscriber_buffer: int, client_prefix: str = "ws-") -> None:
        self.subscriber_buffer = subscriber_buffer
        self.client_prefix = client_prefix
        self.accepting = False
        self._ids = itertools.count(1)
        self._subscribers: dict[str, Subscriber] = {}
        self._by_workflow: dict[str, set[Subscriber]] = defaultdict(set)
        self._closing: set[asyncio.Task[None]] = set()

    def new_client_id(self) -> str:
        return f"{self.client_prefix}{next(self._ids)}"

    @property
    def clients(self) -> int:
        return len(self._subscribers)

    def add(self, subscriber: Subscriber) -> None:
        self._subscribers[subscriber.client_id] = subscriber
        subscriber.start()

    def subscribe(self, subscriber: Subscriber, workflow_id: str) -> None:
        self._by_workflow[workflow_id].add(subscriber)

    def remove(self, subscriber: Subscriber) -> None:
        self._subscribers.pop(subscriber.client_id, None)
        for subs in self._by_workflow.values():
            subs.discard(subscriber)

    def publish(self, event: Event) -> None:
        for subscriber in list(self._by_workflow.get(event.workflow_id, ())):
            if not subscriber.offer(event):
                self._drop(subscriber)

    def broadcast(self, event: Event) -> None:
        """Offer `event` to every authenticated client, subscribed or not (ALERT events, issue 4 §2).

        Broadcast events use their own ``workflowId`` (``""`` for alerts) and id sequence, so
        they never collide with a workflow's replayable events.
        """
        for subscriber in list(self._subscribers.values()):
            if not subscriber.offer(event):
                self._drop(subscriber)

    def _drop(self, subscriber: Subscriber) -> None:
        self.remove(subscriber)
        if subscriber.session.can_fire(SessionTrigger.BUFFER_OVERFLOW):
            subscriber.session.fire(SessionTrigger.BUFFER_OVERFLOW)
        reason = f"subscriber buffer overflow: more than {subscriber.buffer} undelivered events"
        log.warning("dropping slow WebSocket client %s: %s", subscriber.client_id, reason)
        task = asyncio.create_task(subscriber.close(OVERFLOW_CLOSE_CODE, reason))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def close_all(self) -> int:
        """Shutdown: send every client the SHUTDOWN notice, then close with 1001 (seed 4.4)."""
        subscribers = list(self._subscribers.values())
        for subscriber in subscribers:
            self.remove(subscriber)
            if subscriber.session.can_fire(SessionTrigger.SERVER_SHUTDOWN):
                subscriber.session.fire(SessionTrigger.SERVER_SHUTDOWN)
            workflows = sorted(subscriber.last_sent) or [""]
            with contextlib.suppress(Exception):
                for workflow_id in workflows:
                    notice = Event(id=0, type=EventType.SHUTDOWN, workflow_id=workflow_id, time=time.time(),
                                   payload={"reason": "orchestrator shutting down"})
                    await subscriber.send_json(notice.model_dump(mode="json", by_alias=True))
            await subscriber.close(GOING_AWAY_CLOSE_CODE, "orchestrator shutting down")
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
        return len(subscribers)
