"""The ``/ws`` endpoint (seed 4.3 ``connect``/``authenticate``/``subscribe``): subscribe, resume, receive events.

Each authenticated connection is a `websocket_session` machine, traced under ``ws:<n>``. The
token is checked before anything is traced, so an unauthenticated connection costs one hash and
writes nothing (it is closed with 4401; a worker token gets 4403). Client messages::

    {"type": "subscribe", "workflowId": "wf-...", "lastEventId": 12}

``lastEventId`` resumes after that event (omitted: from the oldest retained event, at most
``WebSocketPolicy.replay_buffer`` of them). Each connection may subscribe ``subscribe_burst``
times at once, then ``subscribes_per_s`` (each one a replay from the store), to at most
``max_subscriptions`` workflows; a repeated subscription to a workflow already streaming reads
nothing. Bad messages — binary frames, malformed or non-strict JSON, invalid fields, too many
subscriptions — get ``{"type": "error", "error": {"field", "reason"}}`` and the connection stays open.
A workflow whose events retention deleted (``RetentionPolicy``) is refused the same way, saying so.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import ValidationError
from starlette.websockets import WebSocketState

from runtime.errors import NotFoundError
from runtime.orchestrator.access import Ability, allows
from runtime.orchestrator.auth import token_from
from runtime.orchestrator.hub import Subscriber
from runtime.orchestrator.ingress import check_json
from runtime.orchestrator.orchestrator import Orchestrator
from runtime.protocol import Event, SubscribeMessage
from runtime.store.event_log import events_since
from runtime.store.queue import get_workflow
from runtime.store.retention import SETTLED
from spec.machines import WEBSOCKET_SESSION
from spec.machines.websocket_session import SessionTrigger
from spec.rate_gates import TokenBucket

log = logging.getLogger("runtime.orchestrator.ws")
router = APIRouter()

UNAUTHORIZED_CLOSE_CODE = 4401
FORBIDDEN_CLOSE_CODE = 4403
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
    token = token_from(websocket.headers.get("authorization"), websocket.query_params.get("token"))
    credential = orch.credentials.authenticate(token)
    if credential is None or not allows(credential, Ability.READ):
        await websocket.accept()
        if credential is None:
            await websocket.close(UNAUTHORIZED_CLOSE_CODE, "missing or invalid bearer token")
        else:
            await websocket.close(FORBIDDEN_CLOSE_CODE, f"a {credential.role.value} credential may not subscribe")
        return
    client_id = hub.new_client_id()
    session = WEBSOCKET_SESSION.bind(listener=orch.trace.listener(client_id))
    session.fire(SessionTrigger.CONNECT)
    await websocket.accept()
    session.fire(SessionTrigger.AUTHENTICATED)
    subscriber = Subscriber(client_id, websocket, session, hub.subscriber_buffer, leases=credential.sees_leases)
    policy = orch.policies.websocket
    budget = TokenBucket(policy.subscribes_per_s, policy.subscribe_burst, orch.monotonic())
    hub.add(subscriber)
    try:
        while websocket.application_state == WebSocketState.CONNECTED:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
            text = message.get("text")
            if text is None:
                await subscriber.send_json(_error("message", "binary frames are not accepted; send JSON text"))
                continue
            await _handle(orch, subscriber, budget, text)
    except WebSocketDisconnect:
        pass
    except RuntimeError:  # the server closed the socket (overflow, shutdown) while we were reading
        pass
    finally:
        hub.remove(subscriber)
        if session.can_fire(SessionTrigger.DISCONNECT):
            session.fire(SessionTrigger.DISCONNECT)
        await subscriber.close(1000, "bye")


async def _handle(orch: Orchestrator, subscriber: Subscriber, budget: TokenBucket, text: str) -> None:
    problem = check_json(text, root="message")
    if problem is not None:
        await subscriber.send_json(_error(problem.field, problem.reason))
        return
    try:
        message = SubscribeMessage.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        await subscriber.send_json(_error(".".join(str(p) for p in first["loc"]) or "message", first["msg"]))
        return
    workflow_id = message.workflow_id
    after = message.last_event_id or 0
    policy = orch.policies.websocket
    if workflow_id in subscriber.last_sent and after >= subscriber.last_sent[workflow_id]:
        # Already streaming, and nothing stored that the client has not been sent: nothing to read.
        await subscriber.send_json({"type": "subscribed", "workflowId": workflow_id})
        return
    if workflow_id not in subscriber.last_sent and len(subscriber.last_sent) >= policy.max_subscriptions:
        await subscriber.send_json(_error("workflowId", f"at most {policy.max_subscriptions} subscriptions per "
                                                        "connection (WebSocketPolicy.max_subscriptions)"))
        return
    admission = budget.take(orch.monotonic())
    if not admission.allowed:
        await subscriber.send_json(_error(
            "type", f"too many subscriptions: at most {policy.subscribes_per_s:g} per second per connection "
                    f"(WebSocketPolicy.subscribes_per_s); retry in {admission.retry_after_s:.2f} s"))
        return
    try:
        async with orch.db.read() as session:
            workflow = await get_workflow(session, workflow_id)
    except NotFoundError as exc:
        await subscriber.send_json(_error(exc.field, exc.reason))
        return
    if workflow.status in SETTLED and orch.policies.retention.expired(workflow.updated_at, orch.now()):
        await subscriber.send_json(_error("lastEventId" if message.last_event_id is not None else "workflowId", (
            f"the events of workflow {workflow_id} were deleted: it ended ({workflow.status}) more than "
            f"RetentionPolicy.finished_events_s = {orch.policies.retention.finished_events_s:g} s ago; "
            f"GET /api/v1/workflows/{workflow_id} shows how it ended")))
        return
    trigger = "resume" if message.last_event_id is not None else "subscribe"
    if not subscriber.session.can_fire(trigger):
        return
    subscriber.session.fire(trigger)
    orch.hub.subscribe(subscriber, workflow_id)
    await subscriber.send_json({"type": "subscribed", "workflowId": workflow_id})
    limit = policy.replay_buffer

    async def fetch(workflow_id: str, after: int) -> list[Event]:
        async with orch.db.read() as session:
            return await events_since(session, workflow_id, after, limit)

    await subscriber.replay(workflow_id, after, fetch)
