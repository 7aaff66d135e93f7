"""Binds ``workflowId``, ``taskId`` and ``workerId`` of each API request to its log lines.

An application-wide FastAPI dependency: it runs in the request's own context after FastAPI
parsed the body (``Request.json()`` is then cached, so nothing is parsed twice), and takes the
ids from the path, the query string and the JSON body, in that order.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import HTTPConnection, Request

from runtime.monitoring.logs import ID_FIELDS, bind_ids

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


async def bind_request_ids(connection: HTTPConnection) -> None:
    found: dict[str, str | None] = {}
    body: Any = None
    if isinstance(connection, Request) and connection.method in _BODY_METHODS:
        try:
            body = await connection.json()
        except ValueError:  # empty or malformed: FastAPI answers 422 itself
            body = None
    for name in ID_FIELDS:
        found[name] = (
            _text(connection.path_params.get(name))
            or _text(connection.query_params.get(name))
            or (_text(body.get(name)) if isinstance(body, dict) else None)
        )
    bind_ids(workflow_id=found["workflowId"], task_id=found["taskId"], worker_id=found["workerId"])
