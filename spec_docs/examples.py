"""Example requests, responses and WebSocket events for the HTTP API page, generated from the schemas.

An example is built from a JSON schema (the OpenAPI document's, which FastAPI writes from the
protocol models in ``runtime.protocol``): a field's default when it has one, the first value of
an enum, a value of the right type otherwise, named after the field (``workerId`` →
``"worker-1"``). Every field is filled, optional ones too, so the example shows the whole shape.
The docs tests validate each request example against its protocol model.

WebSocket messages are the `asyncapi` directive's (`spec_docs.asyncapi_docs`), built with the
same `example`; `event_payload_keys` reads the payload keys the runtime's own source emits per
``EventType.X`` (each call with a literal payload dict), which that directive checks against the
payload models.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

_SCHEMA_PREFIX = "#/components/schemas/"
#: A field's example by the end of its name (camelCase wire names).
_BY_NAME = (
    ("workflowId", "wf-1"), ("taskId", "t-1"), ("workerId", "worker-1"), ("Capabilities", "python"),
    ("capabilities", "python"), ("hostname", "build-host-1"), ("type", "ai_coding"), ("status", "queued"),
    ("step", "code_generation"), ("reason", "connection reset"), ("field", "capabilities"), ("code", "BUILD_FAILED"),
    ("message", "the build failed"),
)
_LITERAL_PATTERN = re.compile(r"^\^([A-Za-z0-9_]+)\$$")


def _resolve(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith(_SCHEMA_PREFIX):
        resolved: dict[str, Any] = components[ref[len(_SCHEMA_PREFIX):]]
        return resolved
    return schema


def _string(name: str, schema: dict[str, Any]) -> str:
    literal = _LITERAL_PATTERN.match(str(schema.get("pattern", "")))
    if literal:
        return literal.group(1)
    for suffix, value in _BY_NAME:
        if name.endswith(suffix):
            return value
    return name or "text"


def example(schema: dict[str, Any], components: dict[str, Any], name: str = "", depth: int = 0) -> Any:
    """A JSON value matching `schema` (``$ref``, ``anyOf``, enums, objects, arrays, scalars)."""
    schema = _resolve(schema, components)
    if depth > 6:
        return None
    if "default" in schema and schema["default"] not in (None, [], {}, ""):
        return schema["default"]
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [s for s in schema[key] if _resolve(s, components).get("type") != "null"]
            return example(options[0], components, name, depth + 1) if options else None
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties", {})
        if not properties:
            extra = schema.get("additionalProperties")
            if isinstance(extra, dict) and extra:
                return {"key": example(extra, components, "value", depth + 1)}
            return {}
        return {field: example(spec, components, field, depth + 1) for field, spec in properties.items()}
    if kind == "array":
        items = example(schema.get("items", {}), components, name, depth + 1)
        return [items] if items is not None else []
    if kind == "integer":
        return max(int(schema.get("minimum", 1)), 1)
    if kind == "number":
        return float(schema.get("minimum", 0.0)) or 0.5
    if kind == "boolean":
        return True
    if kind == "string":
        return _string(name, schema)
    return None


def json_block(value: Any) -> str:
    return "```json\n" + json.dumps(value, indent=2) + "\n```"


def _path_with_examples(path: str, parameters: list[dict[str, Any]], components: dict[str, Any]) -> str:
    query = []
    for p in parameters:
        value = example(p.get("schema", {}), components, p["name"])
        if p["in"] == "path":
            path = path.replace("{" + p["name"] + "}", str(value))
        elif p["in"] == "query" and p.get("required"):
            query.append(f"{p['name']}={value}")
    return path + ("?" + "&".join(query) if query else "")


def request_example(method: str, path: str, operation: dict[str, Any], components: dict[str, Any],
                    authenticated: bool) -> str:
    """A ``curl`` command for the operation, with an example body if it takes one."""
    url = "http://127.0.0.1:8080" + _path_with_examples(path, operation.get("parameters", []), components)
    parts = ["curl -s"]
    if method != "get":
        parts.append(f"-X {method.upper()}")
    if authenticated:
        parts.append('-H "Authorization: Bearer $TOKEN"')
    body_schema = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
    lines = [" ".join(parts) + " \\"]
    if body_schema:
        body = json.dumps(example(body_schema, components))
        lines.append("  -H 'Content-Type: application/json' -d '" + body.replace("'", "'\\''") + "' \\")
    lines.append(f"  {url}")
    return "```bash\n" + "\n".join(lines) + "\n```"


def response_example(operation: dict[str, Any], components: dict[str, Any]) -> tuple[str, Any] | None:
    """``(status, body)`` of the first 2xx response with a JSON schema, or None."""
    for status, response in sorted(operation.get("responses", {}).items()):
        schema = response.get("content", {}).get("application/json", {}).get("schema")
        if status.startswith("2") and schema:
            return status, example(schema, components)
    return None


def event_payload_keys(runtime_dir: Path) -> dict[str, list[str]]:
    """``{EVENT_TYPE: [payload keys]}`` from each call in the runtime emitting ``EventType.X`` with a dict literal."""
    found: dict[str, list[str]] = {}
    for source in sorted(runtime_dir.rglob("*.py")):
        tree = ast.parse(source.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            values = [*node.args, *(k.value for k in node.keywords)]
            kinds = [a.attr for a in values if isinstance(a, ast.Attribute) and isinstance(a.value, ast.Name)
                     and a.value.id == "EventType"]
            payloads = [a for a in values if isinstance(a, ast.Dict)]
            if len(kinds) == 1 and payloads:
                keys = [k.value for k in payloads[0].keys if isinstance(k, ast.Constant) and isinstance(k.value, str)]
                merged = found.setdefault(kinds[0], [])
                merged += [k for k in keys if k not in merged]
    return found
