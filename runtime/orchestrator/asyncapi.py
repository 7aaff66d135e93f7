"""The event protocol as an AsyncAPI 3 document, served at ``/asyncapi.json`` beside ``/openapi.json``.

Generated from the protocol models (`runtime.protocol`, `runtime.stream_protocol`), never typed:
one channel (``/ws``), the client's ``subscribe`` message, the server's ``subscribed`` and
``error`` answers, and one message per `EventType` whose schema is `Event` with that ``type``
and that type's payload model. Open like the OpenAPI document (`runtime.orchestrator.access`):
it describes the protocol, not any data.
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from runtime.orchestrator import ws_api
from runtime.protocol import Event, EventType, SubscribeMessage
from runtime.stream_protocol import EVENT_PAYLOADS, StreamErrorMessage, SubscribedMessage

ASYNCAPI_VERSION = "3.0.0"
PATH = "/asyncapi.json"
CHANNEL = "events"
_SCHEMAS = "#/components/schemas/"
_CLIENT_MESSAGES: tuple[tuple[str, type[BaseModel]], ...] = (("subscribe", SubscribeMessage),)
_SERVER_MESSAGES: tuple[tuple[str, type[BaseModel]], ...] = (
    ("subscribed", SubscribedMessage), ("error", StreamErrorMessage))


def event_schema_name(event_type: EventType) -> str:
    """``TASK_STARTED`` → ``TaskStartedEvent``: the schema of that event on the wire."""
    return "".join(word.capitalize() for word in event_type.value.split("_")) + "Event"


def _schemas() -> dict[str, Any]:
    outgoing: list[type[BaseModel]] = [model for _, model in _SERVER_MESSAGES]
    outgoing += [Event, *EVENT_PAYLOADS.values()]
    models: list[tuple[type[BaseModel], Any]] = [(model, "validation") for _, model in _CLIENT_MESSAGES]
    models += [(model, "serialization") for model in outgoing]
    _, top = models_json_schema(models, by_alias=True, ref_template=_SCHEMAS + "{model}")
    schemas: dict[str, Any] = top["$defs"]
    for event_type, payload in EVENT_PAYLOADS.items():
        schema = copy.deepcopy(schemas[Event.__name__])
        schema["title"] = event_schema_name(event_type)
        schema["description"] = " ".join((payload.__doc__ or "").split())
        schema["properties"]["type"] = {"const": event_type.value, "type": "string"}
        schema["properties"]["payload"] = {"$ref": _SCHEMAS + payload.__name__}
        schema["required"] = sorted({*schema.get("required", []), "type", "payload"})
        schemas[event_schema_name(event_type)] = schema
    return schemas


def _message(name: str, schema: str, summary: str) -> dict[str, Any]:
    return {"name": name, "title": name, "summary": summary, "contentType": "application/json",
            "payload": {"$ref": _SCHEMAS + schema}}


def asyncapi_document(title: str, version: str, host: str = "127.0.0.1:8080") -> dict[str, Any]:
    """The AsyncAPI 3 document of ``/ws`` on `host` (the served one names the host it was fetched from)."""
    schemas = _schemas()
    messages: dict[str, Any] = {}
    for name, model in (*_CLIENT_MESSAGES, *_SERVER_MESSAGES):
        messages[name] = _message(name, model.__name__, " ".join((model.__doc__ or "").split()))
    for event_type in EVENT_PAYLOADS:
        messages[event_type.value] = _message(event_type.value, event_schema_name(event_type),
                                              schemas[event_schema_name(event_type)]["description"])
    refs = {name: {"$ref": f"#/components/messages/{name}"} for name in messages}

    def channel_refs(names: list[str]) -> list[dict[str, str]]:
        return [{"$ref": f"#/channels/{CHANNEL}/messages/{name}"} for name in names]

    received = [name for name in messages if name not in dict(_CLIENT_MESSAGES)]
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {"title": f"{title}: event stream", "version": version,
                 "description": " ".join((ws_api.__doc__ or "").split("\n\n")[0].split())},
        "defaultContentType": "application/json",
        "servers": {"orchestrator": {
            "host": host, "protocol": "ws",
            "security": [{"$ref": "#/components/securitySchemes/bearer"},
                         {"$ref": "#/components/securitySchemes/queryToken"}]}},
        "channels": {CHANNEL: {
            "address": "/ws", "title": "Workflow events",
            "description": "Subscribe to workflows; receive their events, stored ones after `lastEventId` first.",
            "messages": refs}},
        "operations": {
            "subscribe": {"action": "send", "channel": {"$ref": f"#/channels/{CHANNEL}"},
                          "summary": "Subscribe to a workflow, resuming after lastEventId.",
                          "messages": channel_refs([name for name, _ in _CLIENT_MESSAGES])},
            "receive": {"action": "receive", "channel": {"$ref": f"#/channels/{CHANNEL}"},
                        "summary": "Subscription answers and the workflows' events.",
                        "messages": channel_refs(received)},
        },
        "components": {
            "schemas": schemas,
            "messages": messages,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "A client or admin token: `Authorization: Bearer <token>`."},
                "queryToken": {"type": "httpApiKey", "in": "query", "name": "token",
                               "description": "The same token as `?token=`, for browsers (they cannot set "
                                              "headers on a WebSocket handshake)."},
            },
        },
    }


router = APIRouter()


@router.get(PATH, include_in_schema=False)
async def asyncapi(request: Request) -> JSONResponse:
    """The AsyncAPI document, naming the host the caller reached."""
    app = request.app
    host = request.headers.get("host") or f"{request.url.hostname}:{request.url.port}"
    return JSONResponse(asyncapi_document(app.title, app.version, host))
