"""The HTTP API page's examples are valid messages of the protocol they illustrate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")

import runtime.graph_protocol as graph_protocol  # noqa: E402
import runtime.protocol as protocol  # noqa: E402
import runtime.stream_protocol as stream_protocol  # noqa: E402
import runtime.telemetry_protocol as telemetry_protocol  # noqa: E402
from runtime.orchestrator.asyncapi import asyncapi_document  # noqa: E402
from spec_docs.asyncapi_docs import check_payload_keys, message_example  # noqa: E402
from spec_docs.examples import (  # noqa: E402
    event_payload_keys,
    example,
    request_example,
    response_example,
)
from spec_docs.openapi import build_app  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
#: The modules the HTTP API's request and response models are declared in.
MODEL_MODULES = (protocol, graph_protocol, telemetry_protocol)


def _model(ref: str) -> Any:
    """The model a ``#/components/schemas/Name`` reference names, from whichever protocol module has it."""
    name = ref.rsplit("/", 1)[-1]
    found = [getattr(module, name) for module in MODEL_MODULES if hasattr(module, name)]
    assert found, f"{name} is in no protocol module ({', '.join(m.__name__ for m in MODEL_MODULES)})"
    return found[0]


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    app = build_app()
    spec: dict[str, Any] = app.openapi()
    return spec


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m, p, op) for p, item in document["paths"].items() for m, op in item.items()]


def test_every_request_example_is_accepted_by_its_protocol_model(document: dict[str, Any]) -> None:
    components = document["components"]["schemas"]
    checked = 0
    for _method, _path, op in _operations(document):
        schema = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
        if schema is None:
            continue
        for shape in schema.get("oneOf", [schema]):  # a body of several shapes: each one's example
            _model(shape["$ref"]).model_validate(example(shape, components))
            checked += 1
    assert checked >= 8


def test_every_response_example_is_a_valid_response_model(document: dict[str, Any]) -> None:
    components = document["components"]["schemas"]
    for _method, _path, op in _operations(document):
        answer = response_example(op, components)
        ref = next((r["content"]["application/json"]["schema"].get("$ref") for s, r in op["responses"].items()
                    if s.startswith("2") and "application/json" in r.get("content", {})), None)
        if answer is not None and ref is not None:
            _model(ref).model_validate(answer[1])


def test_request_examples_fill_path_parameters_and_send_the_token(document: dict[str, Any]) -> None:
    components = document["components"]["schemas"]
    op = document["paths"]["/api/v1/workers/{workerId}"]["delete"]
    text = request_example("delete", "/api/v1/workers/{workerId}", op, components, True)
    assert "-X DELETE" in text and "Bearer $TOKEN" in text and "/api/v1/workers/worker-1" in text
    assert "{workerId}" not in text


def test_every_event_type_is_emitted_somewhere_and_its_example_is_a_valid_event() -> None:
    keys = event_payload_keys(ROOT / "runtime")
    assert set(keys) == {t.value for t in protocol.EventType}
    assert "percentage" in keys["TASK_PROGRESS"]
    document = asyncapi_document("t", "1")
    for event_type in protocol.EventType:
        event = protocol.Event.model_validate(message_example(document, event_type.value))
        assert event.type is event_type
        stream_protocol.event_payload(event)  # the example payload fits the type's model
    stream_protocol.SubscribedMessage.model_validate(message_example(document, "subscribed"))
    stream_protocol.StreamErrorMessage.model_validate(message_example(document, "error"))


def test_an_event_type_nobody_emits_or_a_drifted_payload_fails_the_page() -> None:
    with pytest.raises(ValueError, match="EventType.NEW_KIND"):
        check_payload_keys({}, {"NEW_KIND": []})
    with pytest.raises(ValueError, match=r"EventType.TASK_STARTED: the runtime emits payload keys \['attempt'\]"):
        check_payload_keys({"TASK_STARTED": ["attempt"]}, {"TASK_STARTED": ["attempt", "workerId"]})


def test_the_subscribe_example_is_a_valid_subscribe_message() -> None:
    schema = protocol.SubscribeMessage.model_json_schema(by_alias=True)
    protocol.SubscribeMessage.model_validate(example(schema, {}))
