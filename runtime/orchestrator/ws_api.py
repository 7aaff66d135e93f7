"""The ``/ws`` endpoint (issue 3 §3): authenticate, subscribe, resume, receive events.

Each connection is a `websocket_session` machine, traced under ``ws:<n>``. Client messages::

    {"type": "subscribe", "workflowId": "wf-...", "lastEventId": 12}

``lastEventId`` resumes after that event (omitted: from the oldest retained event, at most
``WebSocketPolicy.replay_buffer`` of them). Bad messages get ``{"type": "error", "error":
{"field", "reason"}}`` and the connection stays open.
"""

from __future__ import annotations

import json
import logging

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import ValidationError

from runtime.errors import NotFoundError
from runtime.orchestrator.auth import is_valid, token_from
from runtime.orchestrator.hub import Subscriber
from runtime.orchestrator.orchestrator import Orchestrator
from runtime.protocol import Event, SubscribeMessage
from runtime.store.event_log import events_since
from runtime.store.queue import get_workflow
from spec.machines import WEBSOCKET_SESSION

log = logging.getLogger("runtime.orchestrator.ws")
router = APIRouter()

UNAUTHORIZED_CLOSE_CODE = 4401
TRY_AGAIN_LATER_CLOSE_CODE = 1013


def _error(field: str | None, reason: str) -> dict[str, object]:
    return {"type": "error", "error": {"field": field, "reason": reason}}


@router.websocket("/ws")
async def websocket_endpoint(websocket: WebSocket) -> None:
    orch: Orchestrator = websocket.app.state.orchestrator
    hub = orch.hub
    if not hub.accepting:
        await websocket.close(TRY_AGAIN_LATER_CLOSE_CODE, "orchestrator is not accepting WebSocket connections")
        return
    client_id = hub.new_client_id()
    session = WEBSOCKET_SESSION.bind(listener=orch.trace.listener(client_id))
    session.fire("connect")
    await websocket.accept()
    token = token_from(websocket.headers.get("authorization"), websocket.query_params.get("token"))
    if not is_valid(orch, token):
        session.fire("authentication_failed")
        await websocket.close(UNAUTHORIZED_CLOSE_CODE, "missing or invalid bearer token")
        return
    session.fire("authenticated")
    subscriber = Subscriber(client_id, websocket, session, hub.subscriber_buffer)
    hub.add(subscriber)
    try:
        while True:
            text = await websocket.receive_text()
            await _handle(orch, subscriber, text)
    except WebSocketDisconnect:
        pass
    except RuntimeError:  # the server closed the socket (overflow, shutdown) while we were reading
        pass
    finally:
        hub.remove(subscriber)
        if session.can_fire("disconnect"):
            session.fire("disconnect")
        await subscriber.close(1000, "bye")


async def _handle(orch: Orchestrator, subscriber: Subscriber, text: str) -> None:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        await subscriber.send_json(_error("message", f"malformed JSON: {exc.msg}"))
        return
    try:
        message = SubscribeMessage.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        await subscriber.send_json(_error(".".join(str(p) for p in first["loc"]) or "message", first["msg"]))
        return
    try:
        async with orch.db.read() as session:
            await get_workflow(session, message.workflow_id)
    except NotFoundError as exc:
        await subscriber.send_json(_error(exc.field, exc.reason))
        return
    trigger = "resume" if message.last_event_id is not None else "subscribe"
    if not subscriber.session.can_fire(trigger):
        return
    subscriber.session.fire(trigger)
    orch.hub.subscribe(subscriber, message.workflow_id)
    await subscriber.send_json({"type": "subscribed", "workflowId": message.workflow_id})
    limit = orch.policies.websocket.replay_buffer

    async def fetch(workflow_id: str, after: int) -> list[Event]:
        async with orch.db.read() as session:
            return await events_since(session, workflow_id, after, limit)

    await subscriber.replay(message.workflow_id, message.last_event_id or 0, fetch)
