"""Drives `orchestrator_startup` (seed 4.1, "Orchestrator Startup Workflow").

Phases run in the machine's order, each under its `StartupPolicy` timeout and all of them
under ``total_timeout_s``: config and logger under ``config_timeout_s``; the database under
``database_timeout_s`` with ``database_attempts`` attempts separated by
``database_retry_delays_s()``; each service phase under ``services_timeout_s``; the startup
health checks under ``health_check_timeout_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
from collections.abc import Awaitable, Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import uvicorn

from runtime.config import OrchestratorSettings
from runtime.errors import PortInUseError, RuntimeConfigError, StartupFailedError
from runtime.monitoring.logs import configure_logging
from runtime.orchestrator.health_watch import health_round
from runtime.orchestrator.monitor import run_health_monitor
from runtime.orchestrator.recovery import run_recovery
from runtime.store.locations import PostgresLocation
from runtime.store.registry import grant_heartbeat_grace, worker_token_digests
from runtime.store.runs import begin_run, end_run
from runtime.tracing import TraceWriter
from spec.decisions.health import HealthVerdict
from spec.decisions.startup import StartupBudgets, budget_of
from spec.machine import MachineInstance
from spec.machines import STARTUP
from spec.machines.startup import StartupTrigger

if TYPE_CHECKING:
    from runtime.orchestrator.orchestrator import Orchestrator

log = logging.getLogger("runtime.orchestrator")


class _QuietServer(uvicorn.Server):
    """uvicorn without its own signal handlers: the orchestrator's shutdown machine owns signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class _Phases:
    """Fires the startup machine and enforces the spec's startup budgets (`spec.decisions.startup`).

    Which budget a phase is charged to — its own, the shared services budget, the total cap — is
    the spec core's decision; this driver only times the work of the state the machine is in.
    """

    def __init__(self, orch: Orchestrator, machine: MachineInstance) -> None:
        self.orch = orch
        self.machine = machine
        self.budgets = StartupBudgets(orch.policies.startup, began=orch.monotonic())

    async def run(self, work: Callable[[], Awaitable[Any]]) -> Any:
        state = self.machine.state
        began = self.orch.monotonic()
        deadline = self.budgets.enter(state, began)
        try:
            return await asyncio.wait_for(work(), max(deadline - began, 0.0))
        except TimeoutError:
            self.machine.fire(StartupTrigger.STARTUP_TIMED_OUT)
            raise StartupFailedError(
                f"startup phase {state!r} exceeded its budget (StartupPolicy.{budget_of(state).value}, "
                f"capped by total_timeout_s): {deadline - began:.1f} s were left") from None
        finally:
            if self.machine.state == state:
                self.budgets.leave(state, self.orch.monotonic())


async def run_startup(orch: Orchestrator) -> None:
    try:
        orch.trace = TraceWriter(orch.settings.trace, clock=orch.now)
    except RuntimeConfigError as exc:
        raise StartupFailedError(str(exc)) from None
    machine = STARTUP.bind(listener=orch.trace.listener(orch.component("startup")))
    orch.startup = machine
    phases = _Phases(orch, machine)
    try:
        await _drive(orch, machine, phases)
    except BaseException:
        await _release(orch)
        raise


async def _drive(orch: Orchestrator, machine: MachineInstance, phases: _Phases) -> None:
    settings = orch.settings

    machine.fire(StartupTrigger.START)
    problem = await phases.run(lambda: _check_config(orch))
    if problem:
        machine.fire(StartupTrigger.CONFIG_FAILED)
        raise StartupFailedError(f"configuration failed: {problem}")
    machine.fire(StartupTrigger.CONFIG_LOADED)

    await phases.run(lambda: _setup_logger(orch))
    machine.fire(StartupTrigger.LOGGER_READY)

    await phases.run(lambda: _open_database(orch, machine))
    machine.fire(StartupTrigger.DATABASE_READY)

    try:
        await phases.run(lambda: _start_task_queue(orch))
    except StartupFailedError:
        raise
    except Exception as exc:
        machine.fire(StartupTrigger.TASK_QUEUE_FAILED)
        raise StartupFailedError(f"task queue initialisation failed: {exc}") from exc
    machine.fire(StartupTrigger.TASK_QUEUE_READY)

    await phases.run(lambda: _start_worker_pool(orch))
    machine.fire(StartupTrigger.WORKER_POOL_READY)

    from runtime.orchestrator.app import create_app

    orch.app = await phases.run(lambda: _async(create_app, orch))
    machine.fire(StartupTrigger.HTTP_SERVER_READY)
    # The WebSocket route is part of the app; the hub starts refusing until attached.
    orch.hub.accepting = False
    machine.fire(StartupTrigger.WEBSOCKET_SERVER_READY)
    await phases.run(lambda: _async(orch.health.register_default_checks))
    machine.fire(StartupTrigger.HEALTH_CHECKER_READY)

    try:
        sock = _bind(settings.host, settings.port)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            machine.fire(StartupTrigger.PORT_IN_USE)
            raise PortInUseError(settings.host, settings.port) from None
        raise StartupFailedError(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror}") from None
    orch.port = int(sock.getsockname()[1])
    await phases.run(lambda: _serve(orch, sock))
    machine.fire(StartupTrigger.LISTENING)

    orch.hub.accepting = True
    machine.fire(StartupTrigger.WEBSOCKET_ATTACHED)

    verdict = await phases.run(lambda: _startup_health_round(orch))
    if not verdict.degraded:
        machine.fire(StartupTrigger.ALL_HEALTHY)
        log.info("orchestrator started successfully on %s", orch.url)
    else:
        machine.fire(StartupTrigger.SERVICE_DEGRADED)
        log.warning("orchestrator started degraded: %s", verdict.reason())


async def _startup_health_round(orch: Orchestrator) -> HealthVerdict:
    """Seed 4.1 phase 4: every service check, and the configured external services' connections."""
    async with httpx.AsyncClient(follow_redirects=False) as http:
        return await health_round(orch, http, startup=True)


def _bind(host: str, port: int) -> socket.socket:
    """Bind the listener with ``proto=IPPROTO_TCP``.

    asyncio only sets TCP_NODELAY on accepted sockets whose protocol is IPPROTO_TCP; a socket
    from ``socket.create_server`` has protocol 0, and Nagle plus delayed ACKs would then add
    ~40 ms to every response whose headers and body are written separately.
    """
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except BaseException:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


async def _async(fn: Callable[..., Any], *args: Any) -> Any:
    return fn(*args)


async def _check_config(orch: Orchestrator) -> str | None:
    return config_problem(orch.settings, orch.settings.role_tokens())


def config_problem(settings: OrchestratorSettings, roles: Mapping[str, tuple[str, ...]]) -> str | None:
    """What makes valid `settings` unusable for an orchestrator (at startup, and for a reload)."""
    if not any(roles.values()):
        return ("no bearer tokens configured: pass --token-file PATH (or --token TOKEN, --client-token, "
                "--worker-token; ORCH_TOKENS='[\"TOKEN\"]')")
    if isinstance(settings.db, Path) and not settings.db.parent.exists():
        return f"database directory {settings.db.parent} does not exist"
    return None


async def _setup_logger(orch: Orchestrator) -> None:
    """Seed 4.1 ``setupOutputs()`` and ``setupRedactors()``: JSON (or text) lines, tokens masked."""
    settings = orch.settings
    secrets = [token for tokens in settings.role_tokens().values() for token in tokens]
    if isinstance(settings.db, PostgresLocation) and settings.db.password:
        secrets.append(settings.db.password)  # masked already; this catches a driver that repeats it
    configure_logging(settings.log_level, settings.log_format, secrets)


async def _open_database(orch: Orchestrator, machine: MachineInstance) -> None:
    policy = orch.policies.startup
    delays = policy.database_retry_delays_s()
    for attempt in range(1, policy.database_attempts + 1):
        try:
            await orch.db.open()
            return
        except Exception as exc:
            log.warning("database attempt %d/%d failed: %s", attempt, policy.database_attempts, exc)
            if attempt == policy.database_attempts:
                machine.fire(StartupTrigger.DATABASE_FAILED)
                raise StartupFailedError(
                    f"database {orch.settings.db}: {policy.database_attempts} attempts failed; last error: {exc}"
                ) from exc
            machine.fire(StartupTrigger.DATABASE_ATTEMPT_FAILED)
            await orch.clock.sleep(delays[attempt - 1])


async def _start_task_queue(orch: Orchestrator) -> None:
    async def _begin(session: Any, _changes: Any) -> tuple[int, bool]:
        return await begin_run(session, orch.now())

    orch.run_id, crashed = await orch.transact(_begin)
    orch.recovered_from_crash = crashed
    if crashed and await orch.leadership.claim_recovery():
        await run_recovery(orch)


async def _start_worker_pool(orch: Orchestrator) -> None:
    """Seed 4.1 ``setupRegistry()``: workers' own tokens, and a heartbeat timeout of grace after a restart."""
    async def _grace(session: Any, _changes: Any) -> list[tuple[str, str]]:
        await grant_heartbeat_grace(session, orch.now())
        return await worker_token_digests(session)

    orch.credentials.load_workers(await orch.transact(_grace))
    async def database_answers() -> bool:
        await orch.db.ping()
        return True

    orch.monitor_task = orch.supervisor.start("health-monitor", lambda: run_health_monitor(orch), database_answers)


async def _serve(orch: Orchestrator, sock: socket.socket) -> None:
    assert orch.app is not None
    config = uvicorn.Config(
        orch.app, log_level="warning", access_log=False, lifespan="off",
        timeout_graceful_shutdown=max(1, round(orch.policies.shutdown.cancel_grace_s)),
    )
    orch.server = _QuietServer(config)
    orch.server_task = asyncio.create_task(orch.server.serve(sockets=[sock]), name="http-server")
    while not orch.server.started:
        if orch.server_task.done():
            orch.server_task.result()
            raise StartupFailedError("HTTP server stopped during startup")
        await asyncio.sleep(0.01)


async def _release(orch: Orchestrator) -> None:
    """Undo a partial startup so a failed start leaves no task or connection behind."""
    if orch.monitor_task is not None:
        orch.monitor_task.cancel()
        with contextlib.suppress(BaseException):
            await orch.monitor_task
    if orch.server is not None and orch.server_task is not None:
        orch.server.should_exit = True
        with contextlib.suppress(BaseException):
            await orch.server_task
    if orch.run_id is not None and orch.db.engine is not None:
        run_id = orch.run_id

        async def _end(session: Any, _changes: Any) -> None:
            await end_run(session, run_id, orch.now())

        with contextlib.suppress(Exception):
            await orch.transact(_end)
    await orch.leadership.resign()
    await orch.db.close()
    orch.trace.close()
