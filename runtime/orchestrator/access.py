"""What each credential may do: one table from (method, path) to the ability it needs.

`runtime.orchestrator.middleware.GuardMiddleware` consults it before a body is read, so a caller
without the ability is answered 401/403 at constant cost. Which *worker* a worker operation is
about is in its body or query, so that last check (`Credential.may_act_for`) is made by the route
once the request is parsed — see `require_worker`.
"""

from __future__ import annotations

import re
from enum import StrEnum

from fastapi import Request

from runtime.errors import ApiError
from runtime.orchestrator.credentials import Credential, Role


class Ability(StrEnum):
    OPEN = "open"  # no credential (probes, the OpenAPI and AsyncAPI documents)
    READ = "read"  # tasks, workflows, workers, alerts, metrics; WebSocket subscriptions
    SUBMIT = "submit"  # new workflows, and cancelling them
    REGISTER = "register"  # worker registration
    WORK = "work"  # heartbeat, telemetry, escalations, poll, lease reports, deregistration — for one's own worker id
    ADMIN = "admin"  # anything else (operator actions, unknown paths)


_ABILITIES: dict[Role, frozenset[Ability]] = {
    Role.ADMIN: frozenset(Ability),
    Role.CLIENT: frozenset({Ability.OPEN, Ability.READ, Ability.SUBMIT}),
    Role.WORKER: frozenset({Ability.OPEN, Ability.REGISTER, Ability.WORK}),
}

_API = "/api/v1"
_ID = r"[^/]+"
#: First match wins; anything unmatched needs an admin credential.
_RULES: tuple[tuple[str, re.Pattern[str], Ability], ...] = tuple(
    (method, re.compile(pattern + r"\Z"), ability) for method, pattern, ability in (
        ("GET", r"/health/(live|ready)", Ability.OPEN),
        ("GET", r"/(openapi\.json|asyncapi\.json|docs|docs/oauth2-redirect|redoc)", Ability.OPEN),
        ("GET", r"/metrics", Ability.READ),
        ("GET", _API + r"/alerts", Ability.READ),
        ("GET", _API + r"/config", Ability.ADMIN),  # the effective configuration: operators only
        ("POST", _API + r"/workflows", Ability.SUBMIT),
        ("POST", _API + r"/workflows:batch", Ability.SUBMIT),
        ("GET", _API + rf"/workflows/{_ID}", Ability.READ),
        ("POST", _API + rf"/workflows/{_ID}/cancel", Ability.SUBMIT),
        ("POST", _API + r"/workers/register", Ability.REGISTER),
        ("POST", _API + r"/workers/heartbeat", Ability.WORK),
        ("POST", _API + r"/workers/(telemetry|escalations)", Ability.WORK),
        ("DELETE", _API + rf"/workers/{_ID}", Ability.WORK),
        ("GET", _API + r"/workers", Ability.READ),
        ("GET", _API + r"/tasks/poll", Ability.WORK),
        ("POST", _API + r"/tasks/(started|progress|completed|failed|interrupted|reports)", Ability.WORK),
        ("GET", _API + r"/tasks", Ability.READ),
        ("GET", _API + rf"/tasks/{_ID}", Ability.READ),
        ("GET", r"/ws", Ability.READ),
    )
)


def rules() -> tuple[tuple[str, str, Ability], ...]:
    """The access table as ``(method, path pattern, ability)``, first match wins (for the docs)."""
    return tuple((method, pattern.pattern.removesuffix(r"\Z"), ability) for method, pattern, ability in _RULES)


def required_ability(method: str, path: str, *, metrics_open: bool = True) -> Ability:
    """What `method` on `path` needs; ``/metrics`` is open unless `metrics_open` is false
    (``OrchestratorSettings.metrics_require_token``: Prometheus scrapers rarely carry tokens)."""
    method = "GET" if method == "HEAD" else method
    open_path = False
    for rule_method, pattern, ability in _RULES:
        if not pattern.match(path):
            continue
        if metrics_open and path == "/metrics":
            ability = Ability.OPEN
        if rule_method == method:
            return ability
        open_path = open_path or ability is Ability.OPEN
    # Another method on an open path: the router answers 405, which reveals nothing.
    return Ability.OPEN if open_path else Ability.ADMIN


def allows(credential: Credential, ability: Ability) -> bool:
    if ability is Ability.WORK and credential.role is Role.WORKER and credential.worker_id is None:
        return False  # a configured worker credential registers; the worker token it gets does the work
    return ability in _ABILITIES[credential.role]


def holders(ability: Ability) -> tuple[str, ...]:
    """Who may use `ability`, in words (the HTTP API page and docs/security.md show these)."""
    if ability is Ability.OPEN:
        return ()
    names = []
    for role in Role:
        if ability in _ABILITIES[role]:
            names.append("the worker's own workerToken" if role is Role.WORKER and ability is Ability.WORK
                         else f"{role.value} token")
    return tuple(names)


def refusal(credential: Credential, ability: Ability) -> str:
    """Why `credential` may not use `ability`, in words a caller can act on."""
    if credential.role is Role.WORKER and credential.worker_id is None:
        return ("a worker credential may only register (POST /api/v1/workers/register); "
                "use the workerToken the registration answered with")
    return f"a {credential.role.value} credential may not {ability.value}; this needs an admin credential" \
        if ability is Ability.ADMIN else f"a {credential.role.value} credential may not {ability.value}"


class ForbiddenError(ApiError):
    status_code = 403


def credential_of(request: Request) -> Credential:
    """The caller, as `GuardMiddleware` authenticated it."""
    credential = request.scope.get("credential")
    if not isinstance(credential, Credential):  # a route outside the guard: never serve it unauthenticated
        raise ForbiddenError("no credential was checked for this request", field="Authorization")
    return credential


def require_worker(credential: Credential, worker_id: str, field: str = "workerId") -> None:
    """403 unless `credential` is `worker_id`'s own token or an admin's."""
    if not credential.may_act_for(worker_id):
        holder = f"worker {credential.worker_id!r}" if credential.worker_id else f"a {credential.role.value} credential"
        raise ForbiddenError(
            f"this request acts for worker {worker_id!r}, but its bearer token belongs to {holder}; "
            f"send {worker_id!r}'s own workerToken", field=field)
