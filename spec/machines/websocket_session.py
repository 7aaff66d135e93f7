"""A client's WebSocket session (seed 4.3): connect, authenticate, subscribe, receive events.

The seed only draws the happy path. A demanding client also needs: authentication failure,
resuming from the last event id after a reconnect, being dropped when it reads too slowly
(bounded buffers, ``WebSocketPolicy.subscriber_buffer``) and the shutdown notice (seed 4.4).
"""

from __future__ import annotations

from enum import StrEnum

from spec.machine import SAME, MachineSpec, StateRole, StateSpec, transition
from spec.messages import call, push, reply, step
from spec.participants import CLIENT, WEBSOCKET_SERVER


class SessionState(StrEnum):
    """The websocket_session machine's states, named once for its table and every consumer."""

    DISCONNECTED = "disconnected"
    AUTHENTICATING = "authenticating"
    CONNECTED = "connected"
    SUBSCRIBED = "subscribed"
    CLOSED = "closed"


class SessionTrigger(StrEnum):
    """The websocket_session machine's triggers, named once for its table and every consumer."""

    CONNECT = "connect"
    AUTHENTICATED = "authenticated"
    AUTHENTICATION_FAILED = "authentication_failed"
    SUBSCRIBE = "subscribe"
    RESUME = "resume"
    EVENT = "event"
    BUFFER_OVERFLOW = "buffer_overflow"
    SERVER_SHUTDOWN = "server_shutdown"
    DISCONNECT = "disconnect"


S, T = SessionState, SessionTrigger

WS, CLI = WEBSOCKET_SERVER, CLIENT

_OPEN = (S.CONNECTED, S.SUBSCRIBED)

WEBSOCKET_SESSION = MachineSpec(
    name="websocket_session",
    title="WebSocket client session",
    seed_section="4.3",
    description="One client connection to /ws: authentication, subscriptions, event delivery and closing.",
    initial=S.DISCONNECTED,
    states=(
        StateSpec(S.DISCONNECTED, "No connection yet.", StateRole.RESTING),
        StateSpec(S.AUTHENTICATING, "Connection open; credentials being checked."),
        StateSpec(S.CONNECTED, "Authenticated; no subscription yet.", StateRole.RESTING),
        StateSpec(S.SUBSCRIBED, "Receiving a workflow's events.", StateRole.RESTING),
        StateSpec(S.CLOSED, "Connection closed (by either side).", StateRole.TERMINAL),
    ),
    transitions=(
        transition(T.CONNECT, S.DISCONNECTED, S.AUTHENTICATING, "The client opens /ws with its token.",
                   call(CLI, WS, "connect()"), step(WS, "authenticate(client)")),
        transition(T.AUTHENTICATED, S.AUTHENTICATING, S.CONNECTED, "The token is valid.",
                   reply(WS, CLI, "connected")),
        transition(T.AUTHENTICATION_FAILED, S.AUTHENTICATING, S.CLOSED, "Missing or invalid token.",
                   reply(WS, CLI, "close(4401 unauthorized)")),
        transition(T.SUBSCRIBE, _OPEN, S.SUBSCRIBED, "Subscribe to a workflow's events.",
                   call(CLI, WS, "subscribe(workflowId)"), step(WS, "addSubscription(workflowId, client)"),
                   reply(WS, CLI, "subscribed")),
        transition(T.RESUME, _OPEN, S.SUBSCRIBED, "Subscribe again after a reconnect, replaying missed events.",
                   call(CLI, WS, "subscribe(workflowId, lastEventId)"), step(WS, "replayEventsSince(lastEventId)"),
                   reply(WS, CLI, "subscribed")),
        transition(T.EVENT, S.SUBSCRIBED, SAME, "An event of a subscribed workflow is delivered.",
                   push(WS, CLI, "event {id, type, payload}")),
        transition(T.BUFFER_OVERFLOW, _OPEN, S.CLOSED, "The client reads too slowly; drop it, not the server.",
                   step(WS, "dropSlowSubscriber()"), push(WS, CLI, "close(1008 buffer overflow)")),
        transition(T.SERVER_SHUTDOWN, _OPEN, S.CLOSED, "The orchestrator is shutting down.",
                   push(WS, CLI, "shutdown notice"), push(WS, CLI, "close(1001 going away)")),
        transition(T.DISCONNECT, _OPEN, S.CLOSED, "The client closes the connection.",
                   call(CLI, WS, "close()")),
    ),
)
