"""``GET /api/v1/config`` (admin only, issue 14): the configuration in effect, secrets masked.

It shows what a reload changed and what it refused: the effective settings (every layer applied,
tokens masked by field name and by value, `runtime.config_reload.redacted`), the file being
watched, which fields reload and which need a restart (`runtime.config_reload.RELOAD_RULES`),
and the time (RFC 3339) and outcome of the last reload — for a refused edit, its message names
the file and the field.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import Field

from runtime.config_reload import RELOAD_RULES, redacted
from runtime.orchestrator.auth import Caller
from runtime.orchestrator.deps import Orch, error_responses
from runtime.protocol import WireModel

router = APIRouter(prefix="/api/v1", tags=["configuration"], responses=error_responses(401, 403))


class ReloadView(WireModel):
    at: str = Field(description="When the reload ended, RFC 3339 (UTC).")
    outcome: str = Field(description="The config_reload trigger that ended it: applied, unchanged, invalid "
                         "or restart_required.")
    message: str = Field(description="What happened; for a refused edit, the file and the field.")
    fields: list[str] = Field(description="Fields applied, or refused because they need a restart.")


class ConfigView(WireModel):
    config: dict[str, Any] = Field(description="The effective configuration; secrets are masked.")
    file: str | None = Field(description="The configuration file watched for hot reload (null: none).")
    reloadable: list[str] = Field(description="Fields (dotted prefixes) a reload may change.")
    restart_required: list[str] = Field(description="Fields (dotted prefixes) whose change a reload refuses.")
    watching: bool = Field(description="Whether the file watch is running.")
    last_reload: ReloadView | None = Field(description="The last reload since startup (null: none yet).")


@router.get("/config", response_model=ConfigView)
async def effective_config(orch: Orch, _credential: Caller) -> ConfigView:
    """The configuration in effect and the last reload (the access table asks for an admin credential)."""
    reloader = orch.config_reloader
    last = reloader.last if reloader is not None else None
    task = orch.config_watch_task
    return ConfigView(
        config=redacted(orch.settings),
        file=str(reloader.source.path) if reloader is not None and reloader.source.path is not None else None,
        reloadable=list(RELOAD_RULES.fields(reloadable=True)),
        restart_required=list(RELOAD_RULES.fields(reloadable=False)),
        watching=task is not None and not task.done(),
        last_reload=ReloadView(**last.to_json()) if last is not None else None,
    )
