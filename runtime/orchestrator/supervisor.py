"""Supervised background services (seed "Self-Healing Mechanisms: Service Restart", issue 14).

:meth:`Supervisor.start` runs a service coroutine as a task. When it raises, the service's
`spec.supervision.RestartBudget` decides: wait ``SupervisionPolicy.restart_delay_s``, run the
service's health check, and start it again; or, once more than ``max_restarts`` crashes fell
within ``window_s``, stop restarting it, log the escalation (level
`EXHAUSTED_ESCALATION_LEVEL`) and leave the orchestrator degraded (``/health/ready`` says so).
A failed health check before a restart counts as another crash.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from spec.policies import SupervisionPolicy
from spec.supervision import EXHAUSTED_ESCALATION_LEVEL, RestartBudget, ServiceState

log = logging.getLogger("runtime.orchestrator.supervisor")

Service = Callable[[], Awaitable[None]]
HealthCheck = Callable[[], Awaitable[bool]]


class HealthCheckFailedError(Exception):
    """A crashed service's health check failed, so it was not restarted this time."""


class Supervisor:
    """Runs named services, restarts them on a crash within their restart budget."""

    def __init__(self, policy: SupervisionPolicy, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self.clock = clock
        self.states: dict[str, ServiceState] = {}
        self.budgets: dict[str, RestartBudget] = {}
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.last_errors: dict[str, str] = {}
        #: Restarts done, per service.
        self.restarts: dict[str, int] = {}

    def start(self, name: str, service: Service, check: HealthCheck | None = None) -> asyncio.Task[None]:
        if name in self.tasks and not self.tasks[name].done():
            raise ValueError(f"service {name!r} is already supervised and running")
        self.budgets[name] = RestartBudget(self.policy)
        self.restarts[name] = 0
        self.states[name] = ServiceState.RUNNING
        task = asyncio.create_task(self._run(name, service, check), name=name)
        self.tasks[name] = task
        return task

    @property
    def degraded(self) -> list[str]:
        """Services whose restart budget is exhausted."""
        return sorted(n for n, s in self.states.items() if s is ServiceState.EXHAUSTED)

    def describe(self) -> dict[str, dict[str, object]]:
        """The ``services`` entry of ``/health/ready``."""
        return {
            name: {"state": state.value, "restarts": self.restarts[name],
                   **({"lastError": self.last_errors[name]} if name in self.last_errors else {})}
            for name, state in sorted(self.states.items())
        }

    async def _run(self, name: str, service: Service, check: HealthCheck | None) -> None:
        budget = self.budgets[name]
        restarting = False
        while True:
            try:
                if restarting:
                    if check is not None and not await check():
                        raise HealthCheckFailedError(f"health check of {name} failed before its restart")
                    self.restarts[name] += 1
                    log.warning("service %s restarted (%d so far)", name, self.restarts[name])
                self.states[name] = ServiceState.RUNNING
                await service()
                self.states[name] = ServiceState.STOPPED
                return
            except asyncio.CancelledError:
                self.states[name] = ServiceState.STOPPED
                raise
            except Exception as exc:
                self.last_errors[name] = f"{type(exc).__name__}: {exc}"
                decision = budget.crashed(self.clock())
                if not decision.restart:
                    self.states[name] = ServiceState.EXHAUSTED
                    log.error(
                        "service %s crashed again (%s); restart budget of %d per %.0f s exhausted: "
                        "escalation level %s, the orchestrator is degraded",
                        name, self.last_errors[name], self.policy.max_restarts, self.policy.window_s,
                        EXHAUSTED_ESCALATION_LEVEL,
                    )
                    return
                self.states[name] = ServiceState.RESTARTING
                log.exception("service %s crashed; restart %d of %d within %.0f s in %.1f s", name,
                              decision.restarts_in_window, self.policy.max_restarts, self.policy.window_s,
                              decision.delay_s)
                restarting = True
                await asyncio.sleep(decision.delay_s)

    async def stop(self) -> None:
        """Cancel every service and wait for them."""
        tasks = [t for t in self.tasks.values() if not t.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
