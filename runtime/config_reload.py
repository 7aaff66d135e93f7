"""Which orchestrator settings a running process can take from an edited file, and how it reads them again.

Seed 4.1 phase 1 watches the configuration file "for hot reload"; issue 14 lists what is
reloadable: policies, alert thresholds, log level, tokens. :data:`RELOAD_RULES` is the one table
of that, written next to the settings it names and read by the reload decision
(`spec.decisions.config_reload.decide_reload`), by ``GET /api/v1/config`` and by the docs. A field
is reloadable only where the orchestrator reads it afresh on each use (``orch.policies.lease``
per request, say); a value an object captured when it was built (the database's
``DatabasePolicy``, the circuit breakers' policy, the listener's address) needs a restart. The
longest prefix wins, and a field no rule names needs a restart.

:class:`ConfigSource` remembers how the running settings were built (the file and the CLI
flags) so a reload layers them exactly as startup did: defaults < file < ``ORCH_*`` < flags.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from runtime.config import CONFIG_FILE_ENV, OrchestratorSettings
from runtime.monitoring.logs import Redactor
from runtime.store.locations import PostgresLocation
from spec.decisions.config_reload import ReloadRules

#: The effective tokens by role, the token file's lines included (compared by digest, never shown).
ROLE_TOKENS = "role_tokens"

#: ``{dotted field: reloadable}``; the longest prefix that covers a field decides.
RELOAD_RULES = ReloadRules({
    "db": False,
    "host": False,
    "port": False,
    "trace": False,
    "alert_eval_interval_s": False,
    "log_level": True,
    "log_format": True,
    "tokens": True,
    "client_tokens": True,
    "worker_tokens": True,
    "token_file": True,
    ROLE_TOKENS: True,
    "metrics_require_token": True,
    "external_services": True,  # read by each round of health checks
    "policies": False,
    "policies.alerts.rules": True,
    "policies.health": True,  # read by each round of health checks
    "policies.heartbeat": True,
    "policies.heartbeat.sweep_interval_s": False,  # the sweep loop's period is read when it starts
    "policies.lease": True,
    "policies.poll": True,
    "policies.shutdown": True,
    "policies.shutdown.cancel_grace_s": False,  # given to the HTTP server when it starts
    "policies.websocket": True,
    "policies.websocket.subscriber_buffer": False,  # the hub's buffers are sized when it starts
})


@dataclass(frozen=True)
class ConfigSource:
    """The file and flags the running settings came from; :meth:`load` builds them again."""

    path: Path | None
    flags: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, config_file: Path | str | None = None, **flags: Any) -> ConfigSource:
        """As ``OrchestratorSettings.load`` would read it (``ORCH_CONFIG_FILE`` when no file is given)."""
        if config_file is None and os.environ.get(CONFIG_FILE_ENV):
            config_file = os.environ[CONFIG_FILE_ENV]
        return cls(Path(config_file) if config_file is not None else None, dict(flags))

    def load(self) -> OrchestratorSettings:
        """The settings from every layer now, or `RuntimeConfigError` naming the file and field."""
        return OrchestratorSettings.load(self.path, **self.flags)

    def describe(self) -> str:
        return str(self.path) if self.path is not None else "the configuration (no file)"

    def watched(self, settings: OrchestratorSettings) -> tuple[Path, ...]:
        """The files whose edits change `settings`: the config file and the token file."""
        paths = [p for p in (self.path, settings.token_file) if p is not None]
        return tuple(dict.fromkeys(p.resolve() for p in paths))


def comparable(settings: OrchestratorSettings, roles: Mapping[str, tuple[str, ...]]) -> dict[str, Any]:
    """`settings` as a nested mapping for `decide_reload`, with `roles` (``settings.role_tokens()``,
    the token file's lines included) as digests."""
    view: dict[str, Any] = _revealed(settings.model_dump(mode="python"))
    view["db"] = _revealed(settings.db)  # the dump masks a PostgreSQL password
    view[ROLE_TOKENS] = {role: sorted(_digest(t) for t in tokens) for role, tokens in roles.items()}
    return view


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def _revealed(value: Any) -> Any:
    """`value` with secrets as digests, so a changed secret (a webhook URL, a database password) is a change.

    The JSON form masks them (``SecretStr``, `PostgresLocation`), and two masked values compare equal.
    """
    if isinstance(value, Mapping):
        return {str(k): _revealed(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_revealed(v) for v in value]
    if isinstance(value, SecretStr):
        return _digest(value.get_secret_value())
    if isinstance(value, PostgresLocation):
        return _digest(value.url.render_as_string(hide_password=False))
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def redacted(settings: OrchestratorSettings) -> dict[str, Any]:
    """`settings` as JSON with every secret masked: token fields by name, any configured token by value."""
    tokens = [t for role_tokens in settings.role_tokens().values() for t in role_tokens]
    view: dict[str, Any] = Redactor(tokens).redact_value(settings.model_dump(mode="json"))
    return view
