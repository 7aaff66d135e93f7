"""``GET /api/v1/config`` (admin only, issue 14): the configuration in effect, secrets masked.

It shows what a reload changed and what it refused: the effective settings (every layer applied,
tokens masked by field name and by value, `runtime.config_reload.redacted`), the file being
watched, which fields reload and which need a restart (`runtime.config_reload.RELOAD_RULES`),
and the time (RFC 3339) and outcome of the last reload — for a refused edit, its message names
the file and the field.
"""

from __future__ import annotations

from fastapi import APIRouter

from runtime.config_reload import RELOAD_RULES, redacted
from runtime.orchestrator.auth import Caller
from runtime.orchestrator.deps import Orch, error_responses
from runtime.protocol import ConfigView, ReloadView

router = APIRouter(prefix="/api/v1", tags=["configuration"], responses=error_responses(401, 403))


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
