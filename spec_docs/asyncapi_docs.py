"""The ``asyncapi`` directive: the WebSocket messages of the HTTP API page, from the AsyncAPI document.

The document is the one the orchestrator serves at ``/asyncapi.json``
(``runtime.orchestrator.asyncapi``, generated from the protocol models). Each message gets its
fields (from its schema) and an example built from the same schema (`spec_docs.examples.example`),
so nothing here is typed by hand. The page also fails to build if the payload keys the runtime's
own source emits for an event type (`event_payload_keys`) differ from that type's payload model:
the document and the runtime cannot drift apart unnoticed.
"""

from __future__ import annotations

import copy
import importlib
from pathlib import Path
from typing import Any

from spec_docs.examples import event_payload_keys, example, json_block
from spec_docs.formatting import code, table
from spec_docs.openapi import schema_name, type_text
from spec_docs.registry import directive

#: Example values the schema alone cannot choose well (an event id, a time); everything else comes from it.
_EVENT_ID, _EVENT_TIME = 7, 1767225600.0


def check_payload_keys(emitted: dict[str, list[str]], models: dict[str, list[str]]) -> None:
    """Raise naming the event type whose emitted payload keys differ from its payload model's fields."""
    for event_type, fields in models.items():
        if event_type not in emitted:
            raise ValueError(f"no call in the runtime emits EventType.{event_type} with a payload literal")
        if sorted(emitted[event_type]) != sorted(fields):
            raise ValueError(f"EventType.{event_type}: the runtime emits payload keys {sorted(emitted[event_type])} "
                             f"but runtime.stream_protocol's payload model has {sorted(fields)}; update the model")


def message_example(document: dict[str, Any], name: str) -> Any:
    """An example of message `name`, from its payload schema (events get a plausible id and time)."""
    schemas = document["components"]["schemas"]
    payload = document["components"]["messages"][name]["payload"]
    value = example(payload, schemas)
    if isinstance(value, dict) and "time" in value and "id" in value:
        value = {**value, "id": _EVENT_ID, "time": _EVENT_TIME}
        schema = schemas[schema_name(payload["$ref"])]
        if "null" in [s.get("type") for s in schema["properties"].get("taskId", {}).get("anyOf", [])]:
            value["taskId"] = None if name in ("WORKFLOW_COMPLETED", "SHUTDOWN", "ALERT") else "t-1"
    return value


def _fields(document: dict[str, Any], name: str) -> str:
    schemas = document["components"]["schemas"]
    schema = schemas[schema_name(document["components"]["messages"][name]["payload"]["$ref"])]
    if "payload" in schema.get("properties", {}):
        schema = schemas[schema_name(schema["properties"]["payload"]["$ref"])]
        lead = "Payload fields"
    else:
        lead = "Fields"
    properties = schema.get("properties", {})
    if not properties:
        return "The payload is empty (`{}`)."
    rows = [[code(field), type_text(spec), "yes" if field in schema.get("required", []) else "no"]
            for field, spec in properties.items()]
    return f"{lead}:\n\n" + table(["Field", "Type", "Always sent"], rows)


def render_asyncapi(document: dict[str, Any]) -> str:
    channel = next(iter(document["channels"].values()))
    messages = document["components"]["messages"]
    sent = {ref["$ref"].rsplit("/", 1)[1] for ref in document["operations"]["subscribe"]["messages"]}
    overview = table(["Message", "Direction", "Summary"],
                     [[code(name), "client → server" if name in sent else "server → client", m["summary"]]
                      for name, m in messages.items()])
    lines = [
        "## WebSocket messages", "",
        f"The event stream at {code(channel['address'])}, as the AsyncAPI {document['asyncapi']} document the "
        "orchestrator serves at `/asyncapi.json` (no token needed) describes it. Connect with "
        "`Authorization: Bearer <token>` (or `?token=`), subscribe to a workflow, and receive its events; "
        "`lastEventId` resumes after the last event seen. `runtime.Client.events` does all of this "
        "(see [the client library](../client.md)).", "",
        overview,
    ]
    for name in messages:
        lines += ["", f"### {name}", "", messages[name]["summary"], "", _fields(document, name), "",
                  json_block(message_example(document, name))]
    return "\n".join(lines)


@directive
def asyncapi() -> str:
    """The WebSocket messages from the orchestrator's AsyncAPI document: fields and an example of each."""
    module = importlib.import_module("runtime.orchestrator.asyncapi")
    stream = importlib.import_module("runtime.stream_protocol")
    protocol = importlib.import_module("runtime.protocol")
    runtime_dir = Path(str(protocol.__file__)).resolve().parent
    models = {t.value: [f.alias or n for n, f in m.model_fields.items()] for t, m in stream.EVENT_PAYLOADS.items()}
    check_payload_keys(event_payload_keys(runtime_dir), models)
    document = copy.deepcopy(module.asyncapi_document("orchestration-spec reference orchestrator", "1"))
    return render_asyncapi(document)
