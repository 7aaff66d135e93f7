"""Hot reload of the orchestrator's configuration (seed 4.1 phase 1, issue 14), traced as `config_reload`.

:meth:`ConfigReloader.watch` is a supervised background service: it waits (``watchfiles``) for a
change to the configuration file or the token file and calls :meth:`ConfigReloader.reload`,
which drives the `config_reload` machine. The directories are watched, not the files, so an
editor that saves by renaming a new file over the old one is seen too.

A reload reads every layer again (`runtime.config_reload.ConfigSource`). An invalid result keeps
the running configuration and logs the error, which names the file and the field. A valid one is
judged by `spec.decisions.config_reload.decide_reload` against `RELOAD_RULES`; if applied, every
change takes effect in one synchronous step (no ``await`` in between), so no request ever sees
half of an edit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from watchfiles import Change, awatch

from runtime.config import OrchestratorSettings
from runtime.config_reload import RELOAD_RULES, ConfigSource, comparable
from runtime.errors import RuntimeConfigError
from runtime.monitoring.logs import configure_logging
from runtime.orchestrator.startup import config_problem
from spec.decisions.config_reload import ReloadDecision, decide_reload
from spec.machines.config_reload import CONFIG_RELOAD, ConfigReloadState, ConfigReloadTrigger
from spec.trace import TraceKey

if TYPE_CHECKING:
    from runtime.orchestrator.orchestrator import Orchestrator

log = logging.getLogger("runtime.orchestrator.config")


@dataclass(frozen=True)
class ReloadReport:
    """The last reload: when (wall clock), which trigger ended it, and what it says."""

    at: float
    outcome: ConfigReloadTrigger
    message: str
    fields: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "at": datetime.fromtimestamp(self.at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "outcome": self.outcome.value,
            "message": self.message,
            "fields": list(self.fields),
        }


class ConfigReloader:
    """One orchestrator's `config_reload` machine and the last reload's report."""

    def __init__(self, orch: Orchestrator, source: ConfigSource) -> None:
        self.orch = orch
        self.source = source
        self.machine = CONFIG_RELOAD.bind()
        self.component = orch.component(CONFIG_RELOAD.name)
        self.last: ReloadReport | None = None
        #: What is in effect, as compared: taken when applied, since the token file may change under it.
        self._in_effect = comparable(orch.settings, orch.settings.role_tokens())

    def _fire(self, trigger: ConfigReloadTrigger, data: dict[str, Any] | None = None) -> None:
        record = self.machine.fire(trigger)
        self.orch.trace.record(record, self.component, data)

    def reload(self) -> ReloadReport:
        """Read, validate, decide and (maybe) apply; never raises for a bad file."""
        assert self.machine.state == ConfigReloadState.WATCHING
        self._fire(ConfigReloadTrigger.FILE_CHANGED)
        where = self.source.describe()
        try:
            settings = self.source.load()
            roles = settings.role_tokens()  # read once: the token file may change again under us
            candidate = comparable(settings, roles)
            problem = config_problem(settings, roles)
            if problem is not None:
                raise RuntimeConfigError(problem)
        except RuntimeConfigError as exc:
            message = str(exc) if str(exc).startswith(where) else f"{where}: {exc}"
            log.error("configuration reload rejected, the running configuration stays: %s", message)
            return self._report(ConfigReloadTrigger.INVALID, message, ())
        decision = decide_reload(self._in_effect, candidate, RELOAD_RULES)
        message = decision.message(where)
        if decision.trigger is ConfigReloadTrigger.APPLIED:
            self._apply(settings, roles)
            self._in_effect = candidate
            log.info("configuration reloaded: %s", message)
        elif decision.trigger is ConfigReloadTrigger.RESTART_REQUIRED:
            log.error("configuration reload refused: %s", message)
        return self._report(decision.trigger, message, _fields_of(decision))

    def _report(self, outcome: ConfigReloadTrigger, message: str, fields: tuple[str, ...]) -> ReloadReport:
        self._fire(outcome, {TraceKey.REASON.value: message, TraceKey.FIELDS.value: list(fields)})
        self.last = ReloadReport(self.orch.now(), outcome, message, fields)
        return self.last

    def _apply(self, settings: OrchestratorSettings, roles: dict[str, tuple[str, ...]]) -> None:
        # Synchronous on purpose: between two awaits nothing else runs, so the edit lands whole.
        # Nothing below reads a file or can fail on the settings' values: they were validated.
        orch = self.orch
        if settings.policies.alerts != orch.policies.alerts:
            orch.monitoring.apply_alert_rules(settings.policies)
        orch.credentials.configure(roles["admin"], roles["client"], roles["worker"])
        configure_logging(settings.log_level, settings.log_format, [t for ts in roles.values() for t in ts])
        orch.health_watch.policy = settings.policies.health
        orch.settings = settings
        orch.policies = settings.policies

    async def watch(self) -> None:
        """Reload after each change to a watched file, until cancelled (a supervised service).

        A reload that names a token file elsewhere moves the watch there.
        """
        while True:
            targets = frozenset(self.source.watched(self.orch.settings))
            if not targets:
                return
            directories = sorted({str(p.parent) for p in targets})

            def concerns_us(_change: Change, path: str, targets: frozenset[Path] = targets) -> bool:
                return Path(path) in targets

            log.info("watching %s for configuration changes", ", ".join(sorted(str(p) for p in targets)))
            async for _changes in awatch(*directories, watch_filter=concerns_us, recursive=False):
                self.reload()
                if frozenset(self.source.watched(self.orch.settings)) != targets:
                    break


def _fields_of(decision: ReloadDecision) -> tuple[str, ...]:
    return decision.refused if decision.trigger is ConfigReloadTrigger.RESTART_REQUIRED else decision.changed
