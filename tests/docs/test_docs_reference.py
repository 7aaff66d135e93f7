"""Reference pages: the ``api_reference`` and ``openapi`` directives (spec_docs)."""

from __future__ import annotations

import importlib
from typing import Any

import pytest

from spec_docs.api_reference import public_api
from spec_docs.expand import expand
from spec_docs.openapi import build_app, render_openapi, token_protected, type_text
from spec_docs.registry import DirectiveError


@pytest.mark.parametrize("package", ["spec", "runtime", "sim"])
def test_every_exported_name_is_documented_once_from_its_defining_module(package: str) -> None:
    exported = importlib.import_module(package).__all__
    grouped = public_api(package)
    documented = [name for names in grouped.values() for name in names]
    assert sorted(documented) == sorted(exported)
    for module, names in grouped.items():
        defined = importlib.import_module(module)
        for name in names:
            assert getattr(defined, name) is getattr(importlib.import_module(package), name), (module, name)
    text = expand(f'{{{{ api_reference("{package}") }}}}', "docs/reference/x.md")
    for module in grouped:
        assert f"::: {module}\n    options:\n      members:\n" in text


def test_a_name_clash_between_a_module_and_an_export_resolves_to_the_export() -> None:
    # spec.machine is a module; spec.machine (the export) is the function from spec.machines.
    assert "machine" in public_api("spec")["spec.machines"]


def test_an_unknown_package_is_refused_with_the_documented_ones() -> None:
    with pytest.raises(DirectiveError, match="unknown package 'os'; documented packages: spec, runtime, sim"):
        expand('{{ api_reference("os") }}', "docs/p.md")


def test_the_http_page_lists_every_operation_with_its_authentication() -> None:
    app = build_app()
    document = app.openapi()
    protected = token_protected(app)
    text = expand("{{ openapi() }}", "docs/reference/http-api.md")
    for path, item in document["paths"].items():
        for method in item:
            auth = ", ".join(protected[(method, path)]) or "none"
            assert f"| {method.upper()} | `{path}` | {item[method]['summary']} | {auth} |" in text
            assert f"### {method.upper()} `{path}`" in text
    assert protected[("get", "/health/live")] == ()
    assert protected[("post", "/api/v1/workers/register")] == ("admin token", "worker token")
    assert protected[("post", "/api/v1/tasks/completed")] == ("admin token", "the worker's own workerToken")
    assert protected[("post", "/api/v1/workflows")] == ("admin token", "client token")
    for name in document["components"]["schemas"]:
        assert f"### {name} {{#schema-{name.lower()}}}" in text
    assert "| `/ws` |" in text  # the WebSocket endpoint, which OpenAPI cannot describe


DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "T", "version": "9"},
    "paths": {"/things/{id}": {"get": {
        "summary": "Thing",
        "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 8}}],
        "responses": {"200": {"description": "OK", "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/Thing"}}}}},
    }}},
    "components": {"schemas": {"Thing": {"type": "object", "required": ["id"], "properties": {
        "id": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "parent": {"anyOf": [{"$ref": "#/components/schemas/Thing"}, {"type": "null"}]},
    }}}},
}


def test_a_hand_made_document_renders_endpoints_parameters_and_schemas() -> None:
    text = render_openapi(DOCUMENT, {("get", "/things/{id}"): ("admin token",)})
    assert "| GET | `/things/{id}` | Thing | admin token | — | 200 [Thing](#schema-thing) |" in text
    assert "| `id` | path | yes | string | max length `8` |" in text
    assert "| `tags` | list of string | no |" in text
    assert "| `parent` | [Thing](#schema-thing) or null | no |" in text


def test_an_operation_missing_from_the_routes_or_an_external_ref_is_an_error() -> None:
    with pytest.raises(ValueError, match="GET /things/{id} is in the OpenAPI document but not among the app's routes"):
        render_openapi(DOCUMENT, {})
    with pytest.raises(ValueError, match="unsupported \\$ref 'other.json#/X'"):
        type_text({"$ref": "other.json#/X"})
    with pytest.raises(ValueError, match="no operations"):
        render_openapi({"paths": {}}, {})


@pytest.mark.parametrize(
    ("docstring", "rendered"),
    [(":class:`~spec.trace.TraceEvent` lines", "`spec.trace.TraceEvent` lines"),
     ("by :mod:`spec` and :py:func:`read_trace`.", "by `spec` and `read_trace`."),
     ("``literal`` and :unknown:`x` stay", "``literal`` and :unknown:`x` stay")],
)
def test_sphinx_roles_in_docstrings_become_code_spans(docstring: str, rendered: str) -> None:
    from spec_docs.docstring_roles import plain_roles

    assert plain_roles(docstring) == rendered
