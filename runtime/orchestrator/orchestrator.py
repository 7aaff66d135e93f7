"""The orchestrator process: its services, its transactions and its lifecycle (issue 3 §1, §7, §8).

``Orchestrator(settings)`` is what ``python -m runtime orchestrator`` runs and what tests run
in-process: ``await orch.start()`` drives `orchestrator_startup` (and `orchestrator_recovery`
after a crash), ``await orch.stop()`` drives `orchestrator_shutdown`.

Every state change goes through :meth:`transact`: the store validates it on the spec machine,
the transaction commits, and only then are the transitions traced and the events published —
a 2xx answer is sent after the commit, so nothing acknowledged is lost to a crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import uuid
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import TypeVar

import uvicorn
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from runtime.config import OrchestratorSettings
from runtime.config_reload import ConfigSource
from runtime.escalation_config import build_escalator
from runtime.monitoring.service import MonitoringService
from runtime.orchestrator.config_watch import ConfigReloader
from runtime.orchestrator.credentials import CredentialStore
from runtime.orchestrator.db_recovery import run_database_recovery
from runtime.orchestrator.dispatch import LeaseDispatcher
from runtime.orchestrator.health import HealthChecker
from runtime.orchestrator.health_watch import run_health_watch
from runtime.orchestrator.hub import Hub
from runtime.orchestrator.leadership import Leadership
from runtime.orchestrator.replica_feed import ReplicaFeed
from runtime.orchestrator.retention import run_event_retention
from runtime.orchestrator.shutdown import run_shutdown
from runtime.orchestrator.startup import run_startup
from runtime.orchestrator.supervisor import Supervisor
from runtime.resilience.circuit_breaker import BreakerRegistry
from runtime.resilience.clock import Clock, MonotonicClock
from runtime.store.changes import ChangeLog
from runtime.store.consistency import Finding
from runtime.store.database import Database
from runtime.tracing import TraceWriter
from spec.decisions.health import HealthWatch
from spec.decisions.memory_growth import MemoryGrowth
from spec.machine import MachineInstance, StateRole
from spec.machines import STARTUP
from spec.machines.shutdown import OrchestratorShutdownTrigger
from spec.rate_gates import ProgressGates

T = TypeVar("T")
log = logging.getLogger("runtime.orchestrator")

#: Startup states in which the orchestrator serves (``running``, ``degraded``).
SERVING = tuple(s.name for s in STARTUP.states if s.role is StateRole.RESTING and s.name != STARTUP.initial)


class Orchestrator:
    """One orchestrator: settings, store, queue dispatcher, WebSocket hub, HTTP server."""

    def __init__(self, settings: OrchestratorSettings, source: ConfigSource | None = None, *,
                 clock: Clock | None = None) -> None:
        """`source` (the file and flags `settings` came from) turns on hot reload of that file.

        `clock` is the time of every decision the orchestrator makes (heartbeat silence, lease
        expiry, startup budgets, the shutdown drain) and of its trace; a test passes a
        `runtime.resilience.clock.FakeClock` to run those on virtual time. Network waits (the HTTP
        server, long polls) stay on real time.
        """
        self.settings = settings
        self.clock: Clock = clock if clock is not None else MonotonicClock()
        self.policies = settings.policies
        #: Distinguishes this process's machine instances in a trace shared across restarts.
        self.instance = uuid.uuid4().hex[:8]
        self.trace = TraceWriter(None)
        #: Configured tokens by role and the per-worker tokens (docs/security.md).
        self.credentials = CredentialStore(**settings.role_tokens())
        #: Per-task progress rate, enforced (`ProgressPolicy`, the gate workers apply themselves).
        self.progress_gates = ProgressGates(self.policies.progress)
        self.db = Database.at(settings.db, self.policies.database)
        self.dispatcher = LeaseDispatcher()
        self.hub = Hub(self.policies.websocket.subscriber_buffer, client_prefix=f"ws-{self.instance}-")
        self.health = HealthChecker(self)
        #: The verdict of the health checks that keep running after startup (`runtime.orchestrator.health_watch`).
        self.health_watch = HealthWatch(self.policies.health)
        self.health_watch_task: asyncio.Task[None] | None = None
        #: Resident-set samples of this process, taken by the health rounds (`spec.decisions.memory_growth`).
        self.memory_growth = MemoryGrowth(self.policies.memory_growth)
        #: Metrics, breakers and alert rules (issue 4 §2); alerts go to every WebSocket client.
        self.monitoring = MonitoringService(self.policies, publish=self.hub.broadcast,
                                            escalator=build_escalator(settings.escalation, self.policies.alerts))
        self.app: FastAPI | None = None
        self.server: uvicorn.Server | None = None
        self.server_task: asyncio.Task[None] | None = None
        self.monitor_task: asyncio.Task[None] | None = None
        #: Restarts crashed background services within `SupervisionPolicy`'s budget.
        self.supervisor = Supervisor(self.policies.supervision)
        #: The last consistency validation's findings and time (`runtime.orchestrator.db_recovery`).
        self.consistency_findings: list[Finding] = []
        self.consistency_checked_at: float | None = None
        #: Trial writes while the database is faulted (`runtime.orchestrator.db_recovery`).
        self.db_recovery_task: asyncio.Task[None] | None = None
        self.consistency_task: asyncio.Task[None] | None = None
        #: Hot reload of the configuration file (`runtime.orchestrator.config_watch`), when it came from one.
        self.config_reloader = ConfigReloader(self, source) if source is not None else None
        self.config_watch_task: asyncio.Task[None] | None = None
        #: Deletes the events of long-finished workflows, on the leader (`runtime.orchestrator.retention`).
        self.retention_task: asyncio.Task[None] | None = None
        #: Whether this replica runs the cluster-wide sweeps (`runtime.orchestrator.leadership`).
        self.leadership = Leadership(self)
        #: Tells the other replicas on the database what this one committed (`runtime.orchestrator.replica_feed`).
        self.feed = ReplicaFeed(self)
        self.startup: MachineInstance | None = None
        self.shutdown: MachineInstance | None = None
        self.run_id: int | None = None
        self.recovered_from_crash = False
        self.port: int = settings.port
        #: Set from the start of a graceful shutdown; heartbeats tell workers.
        self.shutting_down = False
        #: HTTP refuses new work with 503 (shutdown ``draining_http``).
        self.draining = False
        self._stop_requested = asyncio.Event()
        self._stopped = asyncio.Event()
        self._signals = 0

    # -- services ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        host = self.settings.host
        return f"http://{'[' + host + ']' if ':' in host else host}:{self.port}"

    @property
    def breakers(self) -> BreakerRegistry:
        """The circuit breakers of the external services this orchestrator calls (shown in metrics and alerts)."""
        return self.monitoring.breakers

    @property
    def ready(self) -> bool:
        return (
            self.startup is not None
            and self.startup.state in SERVING
            and not self.shutting_down
            and self.db.health.writable
        )

    async def transact(self, work: Callable[[AsyncSession, ChangeLog], Awaitable[T]]) -> T:
        """Run `work` in one write transaction; after the commit, trace and publish its changes."""
        changes = ChangeLog()
        async with self.db.write() as session:
            result = await work(session, changes)
            await self.feed.announce(session, changes)
        self.announce(changes)
        return result

    def announce(self, changes: ChangeLog) -> None:
        for change in changes.transitions:
            self.trace.record(change.record, change.component, change.data)
        events = changes.events
        for event in events:
            self.hub.publish(event)
        self.monitoring.observe_changes(changes, events)
        if changes.tasks_queued:
            self.dispatcher.notify()

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Drive `orchestrator_startup`; raise `StartupFailedError` (or `PortInUseError`) on failure."""
        await run_startup(self)
        self.db_recovery_task = self.supervisor.start("database-recovery", lambda: run_database_recovery(self))
        self.health_watch_task = self.supervisor.start("health-watch", lambda: run_health_watch(self))
        if self.config_reloader is not None:
            self.config_watch_task = self.supervisor.start("config-watch", self.config_reloader.watch)
        self.retention_task = self.supervisor.start("event-retention", lambda: run_event_retention(self))
        self.leadership.start()  # the sweeps: at once on SQLite, once elected on PostgreSQL
        self.feed.start()

    @property
    def _background_tasks(self) -> tuple[asyncio.Task[None] | None, ...]:
        """The supervised services `start` adds after startup (the monitor and the alert loop stop on their own;
        the consistency check is the leader's, `runtime.orchestrator.leadership`)."""
        return (self.db_recovery_task, self.consistency_task, self.config_watch_task, self.health_watch_task,
                self.retention_task)

    async def stop(self) -> None:
        """Drive `orchestrator_shutdown` to ``stopped`` (idempotent)."""
        if self.shutdown is not None:
            await self._stopped.wait()
            return
        self.monitoring.cancel()  # synchronously: run_shutdown must claim `self.shutdown` before any await
        self.leadership.cancel()
        self.feed.cancel()
        for task in self._background_tasks:
            if task is not None:
                task.cancel()
        try:
            await run_shutdown(self)
        finally:
            try:
                await self.leadership.resign()
                await self.feed.stop()
                await self.monitoring.stop()
                for task in self._background_tasks:
                    if task is not None:
                        with contextlib.suppress(asyncio.CancelledError):
                            await task
            finally:
                self._stopped.set()

    def request_stop(self) -> None:
        self._stop_requested.set()

    async def wait_stop_requested(self) -> None:
        await self._stop_requested.wait()

    async def serve_until_signalled(self, on_ready: Callable[[Orchestrator], None] | None = None) -> None:
        """CLI mode: start, serve until SIGTERM/SIGINT, shut down; a second signal forces exit."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_signal, sig)
        await self.start()
        if on_ready is not None:
            on_ready(self)
        await self._stop_requested.wait()
        await self.stop()

    def _on_signal(self, sig: int) -> None:
        self._signals += 1
        if self._signals == 1:
            log.info("received %s: shutting down gracefully (send it again to force)", signal.Signals(sig).name)
            self.request_stop()
            return
        self.force_stop(sig)

    def force_stop(self, sig: int) -> None:
        """Second signal: record ``force_stop`` and exit at once; recovery handles the rest."""
        if self.shutdown is not None and self.shutdown.can_fire(OrchestratorShutdownTrigger.FORCE_STOP):
            self.shutdown.fire(OrchestratorShutdownTrigger.FORCE_STOP)
        self.trace.close()
        os._exit(128 + sig)

    async def __aenter__(self) -> Orchestrator:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    def component(self, machine: str) -> str:
        """Trace component of one of the orchestrator's own machines: ``orchestrator-<id>.<machine>``."""
        return f"orchestrator-{self.instance}.{machine}"

    def now(self) -> float:
        """Wall time in epoch seconds, as the store and the trace record it."""
        return self.clock.wall_time().timestamp()

    def monotonic(self) -> float:
        """Seconds for durations: budgets, deadlines, per-caller rates (progress gates, subscriptions)."""
        return self.clock.now()
