"""Bearer-token authentication: where the token is read from, and the route dependency.

The check itself happens in `runtime.orchestrator.middleware.GuardMiddleware`, before any
body is read (`runtime.orchestrator.access` says which ability a route needs). Routes declare
:data:`Caller` to receive the authenticated `Credential`; it also puts the bearer scheme in the
OpenAPI document. WebSocket clients may pass the token as ``?token=`` because browsers cannot
set headers on a WebSocket handshake.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from runtime.orchestrator.access import credential_of
from runtime.orchestrator.credentials import Credential

bearer_scheme = HTTPBearer(
    auto_error=False,
    description="An admin, client or worker token from the orchestrator's configuration, or the workerToken "
    "a registration answered with (docs/security.md).",
)


def token_from(authorization: str | None, query_token: str | None = None) -> str | None:
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        return None
    return query_token


async def caller(
    request: Request, _scheme: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]
) -> Credential:
    return credential_of(request)


#: The authenticated caller of a route.
Caller = Annotated[Credential, Depends(caller)]
