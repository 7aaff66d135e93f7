"""One workflow's events over ``/ws``, resumed from the last event id after any disconnect.

The stream subscribes with ``lastEventId`` = the last event it yielded, so the orchestrator
replays exactly what was missed (`WebSocketPolicy.replay_buffer` at most); an event whose id is
not above the last one yielded is dropped, so a replay overlapping the live stream yields nothing
twice. Reconnections wait per the caller's `spec.policies.BackoffPolicy` and give up (`StreamError`)
after its ``max_retries`` consecutive failures; a subscription that succeeds resets the count.
A refused token (close 4401/4403) is not retried: it raises `CredentialError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass

import websockets
from pydantic import ValidationError
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from runtime.client.credentials import Credential
from runtime.client.errors import CredentialError, StreamError
from runtime.protocol import Event, EventType, SubscribeMessage
from spec.decisions.failover import EndpointChoice
from spec.machines.websocket_session import SessionState
from spec.policies import BackoffPolicy

#: Events that settle a workflow: `Client.events` ends after one (a cancelled workflow's running tasks
#: may still report their end; `Client.get` shows it).
SETTLING = frozenset({EventType.WORKFLOW_COMPLETED, EventType.WORKFLOW_FAILED, EventType.WORKFLOW_CANCELLED})
#: Close codes of a refused credential (`runtime.orchestrator.ws_api`).
CREDENTIAL_CLOSE_CODES = frozenset({4401, 4403})


class _HandshakeRedactor(logging.Filter):
    """websockets logs every handshake header at DEBUG: the ``Authorization`` value is masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 2 and str(args[0]).lower() == "authorization":
            record.args = (args[0], "[redacted]")
        return True


#: The logger the WebSocket connections log to (instead of ``websockets.client``), token masked.
log = logging.getLogger("runtime.client.websocket")
log.addFilter(_HandshakeRedactor())


def websocket_url(base_url: str) -> str:
    """``http://host:port`` → ``ws://host:port/ws`` (``https`` → ``wss``)."""
    if base_url.startswith("https://"):
        return "wss://" + base_url.removeprefix("https://") + "/ws"
    return "ws://" + base_url.removeprefix("http://") + "/ws"


@dataclass
class EventStream:
    """How to reach ``/ws``: the URL, the credential, the reconnect policy and the clock to wait on."""

    endpoints: EndpointChoice
    credential: Credential
    reconnect: BackoffPolicy
    open_timeout_s: float
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    @property
    def url(self) -> str:
        """The ``/ws`` URL of the orchestrator replica in use."""
        return websocket_url(self.endpoints.current)

    async def events(self, workflow_id: str, after: int | None, until_settled: bool) -> AsyncGenerator[Event, None]:
        last = after
        failures = 0
        while True:
            replica = self.endpoints.current
            try:
                async with contextlib.aclosing(self._connection(workflow_id, last)) as connection:
                    async for event in connection:
                        if event is None:  # subscribed: the stream works again
                            failures = 0
                            continue
                        last = event.id
                        yield event
                        if until_settled and event.type in SETTLING:
                            return
                problem = "the orchestrator closed the stream"
            except ConnectionClosed as exc:
                code = exc.rcvd.code if exc.rcvd is not None else None
                if code in CREDENTIAL_CLOSE_CODES:
                    reason = exc.rcvd.reason if exc.rcvd is not None else ""
                    raise CredentialError(f"{self.url} closed the event stream ({code}: {reason}); "
                                          f"check the token from {self.credential.origin}") from None
                problem = f"the connection closed ({code or 'no close frame'})"
            except InvalidStatus as exc:
                problem = f"the handshake was answered {exc.response.status_code}"
            except (OSError, InvalidHandshake, TimeoutError) as exc:
                problem = f"cannot connect ({exc})"
                self.endpoints.failed(replica)  # reconnect to the next replica; resume works on any
            if not self.reconnect.should_retry(failures):
                raise StreamError(f"the event stream of workflow {workflow_id} at {self.url} could not be resumed "
                                  f"after {failures + 1} attempt(s): {problem}; last event id {last}")
            failures += 1
            await self.sleep(self.reconnect.delay_s(failures))

    async def _connection(self, workflow_id: str, after: int | None) -> AsyncGenerator[Event | None, None]:
        """One connection's events of `workflow_id` after `after` (``None`` marks the subscription's answer)."""
        subscribe = SubscribeMessage(type="subscribe", workflow_id=workflow_id, last_event_id=after)
        async with websockets.connect(self.url, additional_headers=self.credential.header,
                                      open_timeout=self.open_timeout_s, logger=log) as ws:
            await ws.send(subscribe.model_dump_json(by_alias=True, exclude_none=True))
            async for raw in ws:
                message = json.loads(raw)
                kind = message.get("type") if isinstance(message, dict) else None
                if kind == SessionState.SUBSCRIBED:
                    yield None
                    continue
                if kind == "error":
                    error = message.get("error") or {}
                    raise StreamError(f"{self.url} refused the subscription to workflow {workflow_id}: "
                                      f"{error.get('field')}: {error.get('reason')}")
                try:
                    event = Event.model_validate(message)
                except ValidationError as exc:
                    raise StreamError(f"{self.url} sent a message that is not an event: {exc}") from None
                if event.type is EventType.SHUTDOWN:
                    return  # the server closes next (1001): reconnect and resume
                if event.workflow_id != workflow_id or (after is not None and event.id <= after):
                    continue  # alerts (every connection gets them) and replayed duplicates
                after = event.id
                yield event
