"""A client's WebSocket session (seed 4.3): connect, authenticate, subscribe, receive events.

The seed only draws the happy path. A demanding client also needs: authentication failure,
resuming from the last event id after a reconnect, being dropped when it reads too slowly
(bounded buffers, ``WebSocketPolicy.subscriber_buffer``) and the shutdown notice (seed 4.4).
"""

from __future__ import annotations

from spec.machine import SAME, MachineSpec, StateRole, StateSpec, transition
from spec.messages import call, push, reply, step
from spec.participants import CLIENT, WEBSOCKET_SERVER

WS, CLI = WEBSOCKET_SERVER, CLIENT

_OPEN = ("connected", "subscribed")

WEBSOCKET_SESSION = MachineSpec(
    name="websocket_session",
    title="WebSocket client session",
    seed_section="4.3",
    description="One client connection to /ws: authentication, subscriptions, event delivery and closing.",
    initial="disconnected",
    states=(
        StateSpec("disconnected", "No connection yet.", StateRole.RESTING),
        StateSpec("authenticating", "Connection open; credentials being checked."),
        StateSpec("connected", "Authenticated; no subscription yet.", StateRole.RESTING),
        StateSpec("subscribed", "Receiving a workflow's events.", StateRole.RESTING),
        StateSpec("closed", "Connection closed (by either side).", StateRole.TERMINAL),
    ),
    transitions=(
        transition("connect", "disconnected", "authenticating", "The client opens /ws with its token.",
                   call(CLI, WS, "connect()"), step(WS, "authenticate(client)")),
        transition("authenticated", "authenticating", "connected", "The token is valid.",
                   reply(WS, CLI, "connected")),
        transition("authentication_failed", "authenticating", "closed", "Missing or invalid token.",
                   reply(WS, CLI, "close(4401 unauthorized)")),
        transition("subscribe", _OPEN, "subscribed", "Subscribe to a workflow's events.",
                   call(CLI, WS, "subscribe(workflowId)"), step(WS, "addSubscription(workflowId, client)"),
                   reply(WS, CLI, "subscribed")),
        transition("resume", _OPEN, "subscribed", "Subscribe again after a reconnect, replaying missed events.",
                   call(CLI, WS, "subscribe(workflowId, lastEventId)"), step(WS, "replayEventsSince(lastEventId)"),
                   reply(WS, CLI, "subscribed")),
        transition("event", "subscribed", SAME, "An event of a subscribed workflow is delivered.",
                   push(WS, CLI, "event {id, type, payload}")),
        transition("buffer_overflow", _OPEN, "closed", "The client reads too slowly; drop it, not the server.",
                   step(WS, "dropSlowSubscriber()"), push(WS, CLI, "close(1008 buffer overflow)")),
        transition("server_shutdown", _OPEN, "closed", "The orchestrator is shutting down.",
                   push(WS, CLI, "shutdown notice"), push(WS, CLI, "close(1001 going away)")),
        transition("disconnect", _OPEN, "closed", "The client closes the connection.",
                   call(CLI, WS, "close()")),
    ),
)
