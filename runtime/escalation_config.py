"""Where escalations go, per level, as configuration (seed 4.5 "Escalation Procedures", issue 13).

The levels and their actions are the spec's (``AlertPolicy.escalation_levels``); *where* a level
goes is deployment configuration: webhook URLs (an on-call pager, a chat channel) and optionally
a command, per level. The orchestrator reads it from its settings (``escalation``, e.g.
``[escalation.levels.4] webhooks = ["https://…"]`` or ``ORCH_ESCALATION__LEVELS='{"4": {...}}'``);
a worker from ``--escalation-config FILE`` (or ``$RUNTIME_ESCALATION_CONFIG``). A worker escalates
*through the orchestrator* by default (``via_orchestrator``), which routes by its own
configuration, so one place says who is paged; routes in the worker's file are used as well.

Webhook URLs are secrets (they often hold a token): they are ``SecretStr`` here, so neither a
settings repr nor a validation error shows them, and the hooks built from them show only the
redacted form (`runtime.resilience.escalation.redacted_url`). Every escalation is also logged.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from runtime.errors import RuntimeConfigError
from runtime.resilience.errors import ResilienceConfigError
from runtime.resilience.escalation import CommandHook, Escalator, WebhookHook, redacted_url
from spec.policies import DEFAULT_POLICIES, AlertPolicy

#: Environment variable naming a worker's escalation file when no ``--escalation-config`` is given.
WORKER_ESCALATION_ENV = "RUNTIME_ESCALATION_CONFIG"
_LEVELS = tuple(sorted(e.level for e in DEFAULT_POLICIES.alerts.escalation_levels))


class EscalationRoute(BaseModel):
    """Where one level goes: webhooks (POSTed the escalation as JSON) and a command (given it on stdin)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    webhooks: tuple[SecretStr, ...] = Field((), max_length=16, description="URLs POSTed the escalation as JSON.")
    command: tuple[str, ...] = Field((), max_length=64,
                                     description="argv run with the escalation as JSON on stdin (no shell).")

    @field_validator("webhooks")
    @classmethod
    def _absolute_http(cls, urls: tuple[SecretStr, ...]) -> tuple[SecretStr, ...]:
        for index, url in enumerate(urls):
            try:
                WebhookHook(url.get_secret_value())
            except ResilienceConfigError:
                raise ValueError(f"webhook {index} ({redacted_url(url.get_secret_value())}) must be an absolute "
                                 "http:// or https:// URL") from None
        return urls

    @field_validator("command")
    @classmethod
    def _argv(cls, argv: tuple[str, ...]) -> tuple[str, ...]:
        if argv and not all(argv):
            raise ValueError("command: every argument must be a non-empty string")
        return argv


class EscalationRoutes(BaseModel):
    """Escalation level → route; levels without a route are logged only."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    levels: dict[int, EscalationRoute] = Field(default_factory=dict, description="Escalation level (1-4) → route.")
    timeout_s: float = Field(10.0, gt=0, le=300, description="Longest one webhook or command may take.")

    @field_validator("levels")
    @classmethod
    def _known_levels(cls, levels: dict[int, EscalationRoute]) -> dict[int, EscalationRoute]:
        for level in levels:
            if level not in _LEVELS:
                raise ValueError(f"unknown escalation level {level}; levels are {', '.join(map(str, _LEVELS))}")
        return levels


class WorkerEscalationRoutes(EscalationRoutes):
    """A worker's routes, and whether it also hands every escalation to the orchestrator."""

    via_orchestrator: bool = Field(True, description="Also POST every escalation to the orchestrator, "
                                                     "which routes it by its own configuration.")


def build_escalator(routes: EscalationRoutes, policy: AlertPolicy = DEFAULT_POLICIES.alerts) -> Escalator:
    """An escalator that logs every level and delivers each to the routes configured for it."""
    escalator = Escalator(policy)
    for level, route in routes.levels.items():
        for url in route.webhooks:
            escalator.add_hook(level, WebhookHook(url.get_secret_value(), timeout_s=routes.timeout_s))
        if route.command:
            escalator.add_hook(level, CommandHook(route.command, timeout_s=routes.timeout_s))
    return escalator


def load_worker_routes(path: Path | None) -> WorkerEscalationRoutes:
    """A worker's routes from `path` (TOML, YAML or JSON); none given: escalate through the orchestrator only."""
    if path is None:
        return WorkerEscalationRoutes()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RuntimeConfigError(f"escalation config {path}: cannot read it ({exc.strerror})") from None
    try:
        data: Any = (tomllib.loads(text) if path.suffix == ".toml" else
                     yaml.safe_load(text) if path.suffix in (".yaml", ".yml") else json.loads(text))
    except (ValueError, yaml.YAMLError) as exc:
        raise RuntimeConfigError(f"escalation config {path}: not valid {path.suffix.lstrip('.') or 'JSON'} "
                                 f"({type(exc).__name__})") from None
    try:
        return WorkerEscalationRoutes.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "<root>"
        raise RuntimeConfigError(f"escalation config {path}: field {field!r}: {first['msg']}") from None


__all__ = [
    "WORKER_ESCALATION_ENV",
    "EscalationRoute",
    "EscalationRoutes",
    "WorkerEscalationRoutes",
    "build_escalator",
    "load_worker_routes",
]
