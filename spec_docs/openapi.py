"""The ``openapi`` directive: the orchestrator's HTTP API page, from its OpenAPI document.

The document is the one the running orchestrator serves at ``/openapi.json``: the directive
builds the same FastAPI application (``create_app``) around an `Orchestrator` that is never
started, so no socket, database file or server is opened, and renders every endpoint (method,
path, summary, authentication, parameters, request and response schemas) and every schema.
Who may call each endpoint is not declared in the document; it is read from the orchestrator's
access table (``runtime.orchestrator.access``) rather than typed into the page.
"""

from __future__ import annotations

import importlib
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from spec_docs.docstring_roles import without_issue_refs
from spec_docs.examples import json_block, request_example, response_example
from spec_docs.formatting import code, table
from spec_docs.registry import directive

_SCHEMA_PREFIX = "#/components/schemas/"
_METHODS = ("get", "post", "put", "patch", "delete")


def build_app() -> Any:
    """The orchestrator's FastAPI app, built but not started (no socket, no database opened)."""
    try:
        config = importlib.import_module("runtime.config")
        orchestrator = importlib.import_module("runtime.orchestrator")
        app_module = importlib.import_module("runtime.orchestrator.app")
    except ImportError as exc:
        raise RuntimeError(f"cannot import the runtime package ({exc}); the HTTP API page is built from it") from exc
    with tempfile.TemporaryDirectory(prefix="openapi-docs-") as scratch:
        # The database path is only stored by the constructor; nothing is created there.
        settings = config.OrchestratorSettings(db=Path(scratch) / "unused.db", port=0, tokens=("docs",))
        return app_module.create_app(orchestrator.Orchestrator(settings))


def _routes(routes: list[Any]) -> Iterator[Any]:
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:  # FastAPI ≥ 0.12x keeps an included router behind a wrapper
            yield from _routes(included.routes)
        else:
            yield route


def _dependency_calls(dependant: Any) -> Iterator[Any]:
    for sub in dependant.dependencies:
        yield sub.call
        yield from _dependency_calls(sub)


def token_protected(app: Any) -> dict[tuple[str, str], tuple[str, ...]]:
    """``{(method, path): who may call it}`` from the orchestrator's access table (empty: no credential)."""
    access = importlib.import_module("runtime.orchestrator.access")
    metrics_open = not app.state.orchestrator.settings.metrics_require_token
    found: dict[tuple[str, str], tuple[str, ...]] = {}
    for route in _routes(list(app.routes)):
        methods = getattr(route, "methods", None)
        if getattr(route, "dependant", None) is None or not methods:
            continue
        for method in methods:
            found[(method.lower(), route.path)] = access.holders(
                access.required_ability(method, route.path, metrics_open=metrics_open))
    return found


def websocket_routes(app: Any) -> list[tuple[str, str]]:
    """``[(path, first docstring paragraph)]`` of the WebSocket routes (OpenAPI has no place for them)."""
    rows = []
    for route in _routes(list(app.routes)):
        if type(route).__name__ == "APIWebSocketRoute":
            # An endpoint without a docstring is described by its module's.
            module = sys.modules.get(getattr(route.endpoint, "__module__", ""))
            doc = (route.endpoint.__doc__ or getattr(module, "__doc__", None) or "").strip().split("\n\n")[0]
            rows.append((route.path, " ".join(doc.split())))
    return rows


def schema_name(ref: str) -> str:
    if not ref.startswith(_SCHEMA_PREFIX):
        raise ValueError(f"unsupported $ref {ref!r}; only {_SCHEMA_PREFIX}... references are rendered")
    return ref[len(_SCHEMA_PREFIX):]


def schema_link(name: str) -> str:
    return f"[{name}](#schema-{name.lower()})"


def type_text(schema: dict[str, Any]) -> str:
    """A short, readable type for a JSON schema: ``string``, ``list of TaskView``, ``integer or null``."""
    if "$ref" in schema:
        return schema_link(schema_name(schema["$ref"]))
    if "anyOf" in schema or "oneOf" in schema:
        return " or ".join(type_text(s) for s in schema.get("anyOf", schema.get("oneOf", [])))
    if "enum" in schema:
        return "one of " + ", ".join(code(str(v)) for v in schema["enum"])
    if "const" in schema:
        return code(str(schema["const"]))
    kind = schema.get("type")
    if kind == "array":
        return "list of " + type_text(schema.get("items", {}))
    if kind == "object":
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict) and extra:
            return "map of string to " + type_text(extra)
        return "object"
    if isinstance(kind, list):
        return " or ".join(str(k) for k in kind)
    return str(kind) if kind else "any"


def _limit(value: Any) -> str:
    """``256.0`` → ``256``: a whole-number limit reads as one (pydantic writes float bounds)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _constraints(schema: dict[str, Any]) -> str:
    words = []
    for key, label in (("minLength", "min length"), ("maxLength", "max length"), ("minimum", "≥"),
                       ("maximum", "≤"), ("exclusiveMinimum", ">"), ("exclusiveMaximum", "<"),
                       ("minItems", "min items"), ("maxItems", "max items"), ("pattern", "pattern")):
        for part in [schema, *schema.get("anyOf", [])]:
            if key in part:
                words.append(f"{label} {code(_limit(part[key]))}")
    if "default" in schema:
        words.append(f"default {code(repr(schema['default']))}")
    return ", ".join(words)


def _body_schema(holder: dict[str, Any]) -> str:
    content = holder.get("content", {})
    media = content.get("application/json")
    if media is None:
        return "—" if not content else ", ".join(code(m) for m in content)
    schema = media.get("schema", {})
    return type_text(schema) if schema else "JSON"


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document.get("paths", {}).items():
        for method in _METHODS:
            if method in item:
                yield method, path, item[method]


def _auth(protected: dict[tuple[str, str], tuple[str, ...]], method: str, path: str) -> str:
    if (method, path) not in protected:
        raise ValueError(f"{method.upper()} {path} is in the OpenAPI document but not among the app's routes")
    return ", ".join(protected[(method, path)]) or "none"


def _success(operation: dict[str, Any]) -> str:
    parts = []
    for status, response in sorted(operation.get("responses", {}).items()):
        if status.startswith("2"):
            body = _body_schema(response)
            parts.append(f"{status} {body}" if body != "—" else status)
    return ", ".join(parts) or "—"


def _endpoint_section(method: str, path: str, operation: dict[str, Any], auth: str,
                      components: dict[str, Any] | None = None) -> str:
    lines = [f"### {method.upper()} `{path}`", ""]
    summary = operation.get("summary", "")
    description = " ".join(operation.get("description", "").split())
    lines.append(f"**{summary}**. {description}".strip() if summary else description or "")
    lines += ["", f"Authentication: {auth}" + (" (`Authorization: Bearer <token>`)." if auth != "none" else ".")]
    parameters = operation.get("parameters", [])
    if parameters:
        rows = [[code(p["name"]), p["in"], "yes" if p.get("required") else "no", type_text(p.get("schema", {})),
                 " ".join(filter(None, [p.get("description", ""), _constraints(p.get("schema", {}))]))]
                for p in parameters]
        lines += ["", table(["Parameter", "In", "Required", "Type", "Notes"], rows)]
    if "requestBody" in operation:
        lines += ["", f"Request body: {_body_schema(operation['requestBody'])}."]
    responses = [[code(status), " ".join(r.get("description", "").split()), _body_schema(r)]
                 for status, r in sorted(operation.get("responses", {}).items())]
    if responses:
        lines += ["", table(["Status", "Meaning", "Body"], responses)]
    if components is not None:
        lines += ["", "Example request:", "", request_example(method, path, operation, components, auth != "none")]
        answer = response_example(operation, components)
        if answer is not None:
            lines += ["", f"Example response ({answer[0]}):", "", json_block(answer[1])]
    return "\n".join(lines)


def _schema_section(name: str, schema: dict[str, Any]) -> str:
    lines = [f"### {name} {{#schema-{name.lower()}}}", ""]
    description = " ".join(schema.get("description", "").split())
    if description:
        lines += [description, ""]
    properties = schema.get("properties", {})
    required = set(schema.get("required", []))
    if not properties:
        lines.append(f"Type: {type_text(schema)}.")
        return "\n".join(lines)
    rows = [[code(field), type_text(spec), "yes" if field in required else "no",
             " ".join(filter(None, [" ".join(spec.get("description", "").split()), _constraints(spec)]))]
            for field, spec in properties.items()]
    lines.append(table(["Field", "Type", "Required", "Notes"], rows))
    if schema.get("additionalProperties") is False:
        lines += ["", "Other fields are refused (422)."]
    return "\n".join(lines)


def render_openapi(document: dict[str, Any], protected: dict[tuple[str, str], tuple[str, ...]],
                   websockets: Sequence[tuple[str, str]] = ()) -> str:
    """Markdown for an OpenAPI 3 document: overview table, one section per endpoint, the schemas."""
    operations = list(_operations(document))
    if not operations:
        raise ValueError("the OpenAPI document has no operations")
    info = document.get("info", {})
    overview = table(
        ["Method", "Path", "Summary", "Auth", "Request", "Success"],
        [[method.upper(), code(path), op.get("summary", ""), _auth(protected, method, path),
          _body_schema(op["requestBody"]) if "requestBody" in op else "—", _success(op)]
         for method, path, op in operations],
    )
    parts = [
        f"{info.get('title', 'API')} · version {code(str(info.get('version', '?')))} · "
        f"OpenAPI {code(str(document.get('openapi', '?')))} · {len(operations)} operations.",
        " ".join(info.get("description", "").split()),
        overview,
    ]
    if websockets:
        parts += ["WebSocket endpoints (not described by OpenAPI):",
                  table(["Path", "Description"], [[code(p), d] for p, d in websockets])]
    parts.append("## Endpoints")
    components = document.get("components", {}).get("schemas", {})
    parts += [_endpoint_section(method, path, op, _auth(protected, method, path), components)
              for method, path, op in operations]
    schemas = document.get("components", {}).get("schemas", {})
    if schemas:
        parts.append("## Schemas")
        parts += [_schema_section(name, schemas[name]) for name in sorted(schemas)]
    return "\n\n".join(p for p in parts if p)


@directive
def openapi() -> str:
    """The orchestrator's HTTP API from its OpenAPI document: endpoints, authentication, schemas."""
    app = build_app()
    # Route docstrings are written for developers and cite the project's issues; readers get them without.
    # The WebSocket messages are the `asyncapi` directive's (spec_docs.asyncapi_docs).
    return without_issue_refs(render_openapi(app.openapi(), token_protected(app), websocket_routes(app)))


@directive
def access_table() -> str:
    """Who may call what: the orchestrator's access table (``runtime.orchestrator.access``), first match wins."""
    access = importlib.import_module("runtime.orchestrator.access")
    metrics_open = not importlib.import_module("runtime.config").OrchestratorSettings.model_fields[
        "metrics_require_token"].default
    rows = []
    for method, pattern, ability in access.rules():
        if metrics_open and pattern == "/metrics":
            ability = access.required_ability(method, pattern, metrics_open=True)
        rows.append([method, code(pattern), ability.value, ", ".join(access.holders(ability)) or "anyone"])
    admin = access.Ability.ADMIN
    rows.append(["any other", "any other", admin.value, ", ".join(access.holders(admin))])
    return table(["Method", "Path (regular expression)", "Needs", "Who may"], rows)
