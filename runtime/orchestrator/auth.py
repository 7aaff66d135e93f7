"""Bearer-token authentication for workers and clients (issue 3 §2).

Tokens come from configuration; comparison is constant-time. Without a valid token the
answer is 401 naming the ``Authorization`` header. WebSocket clients may pass the token as
``?token=`` because browsers cannot set headers on a WebSocket handshake.
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING

from fastapi import Request

from runtime.errors import ApiError

if TYPE_CHECKING:
    from runtime.orchestrator.orchestrator import Orchestrator


class UnauthorizedError(ApiError):
    status_code = 401


def token_from(authorization: str | None, query_token: str | None = None) -> str | None:
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        return None
    return query_token


def is_valid(orch: Orchestrator, token: str | None) -> bool:
    if not token:
        return False
    return any(hmac.compare_digest(token.encode(), t.encode()) for t in orch.settings.tokens)


async def require_token(request: Request) -> None:
    orch: Orchestrator = request.app.state.orchestrator
    header = request.headers.get("authorization")
    token = token_from(header)
    if not is_valid(orch, token):
        reason = "missing bearer token" if not header else "invalid bearer token"
        raise UnauthorizedError(reason, field="Authorization")
