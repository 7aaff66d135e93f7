"""Orchestrator configuration: defaults < file (TOML or YAML) < environment (``ORCH_``) < CLI flags.

Issue 3 §1 asks for layered configuration validated with clear errors. Timings and limits are
not re-declared here: ``policies`` *is* :class:`spec.policies.Policies`, so a config file or an
environment variable overrides a spec policy field by its spec name, e.g.
``ORCH_POLICIES__HEARTBEAT__INTERVAL_S=0.2`` or ``[policies.heartbeat] interval_s = 0.2``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
    YamlConfigSettingsSource,
)

from runtime.errors import RuntimeConfigError
from runtime.escalation_config import EscalationRoutes
from runtime.store.locations import DatabaseLocation, parse_location
from runtime.token_files import read_role_tokens
from spec.policies import DEFAULT_POLICIES, Policies

#: Environment variable naming a config file when no ``--config`` flag is given.
CONFIG_FILE_ENV = "ORCH_CONFIG_FILE"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
#: ``json``: one JSON object per line with workflowId/taskId/workerId (issue 4 §2); ``text``: for a terminal.
LOG_FORMATS = ("json", "text")

_config_file: ContextVar[Path | None] = ContextVar("_config_file", default=None)


class OrchestratorSettings(BaseSettings):
    """Everything an orchestrator process is configured with."""

    model_config = SettingsConfigDict(
        env_prefix="ORCH_", env_nested_delimiter="__", extra="forbid", frozen=True, validate_default=True
    )

    db: Annotated[DatabaseLocation, BeforeValidator(parse_location)] = Field(
        Path("orchestrator.db"), union_mode="left_to_right",
        description="SQLite database file (created if missing), or postgresql://user@host:port/dbname "
                    "(password from PGPASSWORD or a password file, never the URL, preferably).")
    host: str = Field("127.0.0.1", min_length=1, description="Interface the HTTP listener binds to.")
    port: int = Field(8080, ge=0, le=65535, description="HTTP port; 0 picks a free one.")
    tokens: tuple[str, ...] = Field((), description="Admin bearer tokens: every ability (docs/security.md).")
    client_tokens: tuple[str, ...] = Field((), description="Client bearer tokens: submit, read, subscribe.")
    worker_tokens: tuple[str, ...] = Field(
        (), description="Worker bearer tokens: register only; registration answers with the worker's own token.")
    token_file: Path | None = Field(
        None, description="File of tokens, one per line as 'TOKEN' (admin) or 'ROLE TOKEN' (admin, client, worker).")
    trace: Path | None = Field(None, description="Append every machine transition to this .jsonl file.")
    log_level: str = Field("INFO", description="One of DEBUG, INFO, WARNING, ERROR.")
    log_format: str = Field("json", description="Log lines as 'json' (one object per line) or 'text'.")
    metrics_require_token: bool = Field(
        False, description="Ask for the bearer token on GET /metrics too (Prometheus then needs it configured)."
    )
    alert_eval_interval_s: float = Field(
        15.0, gt=0, le=3600, description="How often alert rules are evaluated (Prometheus' usual evaluation_interval)."
    )
    policies: Policies = Field(DEFAULT_POLICIES, description="Spec policies (timings, limits) with overrides.")
    escalation: EscalationRoutes = Field(
        default_factory=EscalationRoutes,
        description="Webhook URLs (secret) and a command per escalation level; workers' escalations arrive "
                    "here too (runtime.escalation_config).")

    @field_validator("tokens", "client_tokens", "worker_tokens")
    @classmethod
    def _tokens_non_blank(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        for value in values:
            if not value.strip() or any(c.isspace() for c in value):
                raise ValueError("tokens must be non-empty and contain no whitespace")
        return values

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        upper = value.upper()
        if upper not in LOG_LEVELS:
            raise ValueError(f"unknown log level {value!r}; use one of {', '.join(LOG_LEVELS)}")
        return upper

    @field_validator("log_format")
    @classmethod
    def _known_format(cls, value: str) -> str:
        lower = value.lower()
        if lower not in LOG_FORMATS:
            raise ValueError(f"unknown log format {value!r}; use one of {', '.join(LOG_FORMATS)}")
        return lower

    def role_tokens(self) -> dict[str, tuple[str, ...]]:
        """Every configured token by role (``admin``, ``client``, ``worker``), the token file's included."""
        from_file = read_role_tokens(self.token_file) if self.token_file is not None else {}
        return {
            "admin": self.tokens + from_file.get("admin", ()),
            "client": self.client_tokens + from_file.get("client", ()),
            "worker": self.worker_tokens + from_file.get("worker", ()),
        }

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Earlier sources win: CLI flags (init) > environment > file > field defaults.
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = _config_file.get()
        if path is not None:
            if path.suffix == ".toml":
                sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
            else:
                sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=path))
        return tuple(sources)

    @classmethod
    def load(cls, config_file: Path | str | None = None, **flags: Any) -> OrchestratorSettings:
        """Build settings from every layer, or raise :class:`RuntimeConfigError` naming the field.

        `flags` are CLI values; ``None`` means "flag not given" and is dropped so lower layers
        show through.
        """
        if config_file is None and os.environ.get(CONFIG_FILE_ENV):
            config_file = os.environ[CONFIG_FILE_ENV]
        path = Path(config_file) if config_file is not None else None
        if path is not None:
            if path.suffix not in (".toml", ".yaml", ".yml"):
                raise RuntimeConfigError(f"{path}: config files must end in .toml, .yaml or .yml")
            if not path.is_file():
                raise RuntimeConfigError(f"{path}: config file not found")
        given = {k: v for k, v in flags.items() if v is not None}
        with _reading(path):
            try:
                settings = cls(**given)
                settings.role_tokens()  # an unreadable or malformed token file fails here, naming its line
                return settings
            except ValidationError as exc:
                raise RuntimeConfigError(describe_validation_error(exc, path)) from None
            except (ValueError, OSError) as exc:  # unparsable TOML/YAML or JSON in an env var
                where = f"{path}: " if path is not None else ""
                raise RuntimeConfigError(f"{where}cannot read configuration ({exc})") from None


def describe_validation_error(exc: ValidationError, path: Path | None) -> str:
    first = exc.errors()[0]
    field = ".".join(str(p) for p in first["loc"]) or "<root>"
    origin = f" (layers: defaults < {path} < ORCH_* environment < flags)" if path else ""
    more = f"; and {exc.error_count() - 1} more error(s)" if exc.error_count() > 1 else ""
    return f"invalid configuration: field {field!r}: {first['msg']}{more}{origin}"


@contextmanager
def _reading(path: Path | None) -> Iterator[None]:
    token = _config_file.set(path)
    try:
        yield
    finally:
        _config_file.reset(token)
