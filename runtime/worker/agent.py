"""The worker process (seed 4.2 and 4.4): register, heartbeat, poll with idle backoff, run tasks, stop.

Tasks run concurrently in the worker's slots (`runtime.worker.task_slots`, ``tasks_per_poll`` of
them, registered as ``maxConcurrency``): a poll leases up to the free slots, and the reports of
every task go out coalesced (`runtime.worker.report_batcher`), each outcome batch leasing the
slots it frees — the fast path of issue 12.

Three machines from `spec.machines` describe it and are driven here, never copied:

* ``worker_lifecycle`` — register, capabilities accepted/rejected, poll, task received or none,
  heartbeat, health, task finished, deregister. A worker the orchestrator forgot (404) registers
  again under a fresh instance of the machine (component ``worker:<id>#<n>``).
* ``worker_shutdown`` — SIGTERM/SIGINT: stop polling, let the current task finish up to
  ``ShutdownPolicy.worker_task_deadline_s`` or interrupt it (state saved), deregister, clean
  workspaces, stop loops. A second signal forces exit (``force_stop``): workspaces stay behind for
  ``worker_recovery`` and the lease expires on the orchestrator.
* ``worker_recovery`` — at start, when workspaces of a dead worker process are found: clean them,
  register, report their tasks interrupted so the orchestrator re-queues them at once
  (`runtime.worker.recovery`).

Only the poll loop fires the lifecycle's register/poll/task triggers; the heartbeat loop fires
``heartbeat`` and hands health changes to the poll loop, so no two coroutines race on one machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import tempfile
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx

from runtime.errors import RuntimeConfigError
from runtime.escalation_config import WorkerEscalationRoutes
from runtime.protocol import (
    HeartbeatRequest,
    RegisterRequest,
    WorkerHealth,
)
from runtime.worker.capabilities import detect_capabilities, validate_capabilities
from runtime.worker.cleanup import clean_periodically, sweep_leftovers
from runtime.worker.client import OrchestratorClient
from runtime.worker.context import CancelReason
from runtime.worker.errors import (
    AuthenticationError,
    CapabilitiesRejectedError,
    EmergencyShutdownError,
    LeaseLostError,
    NotFoundError,
    OrchestratorError,
    RequestRejectedError,
)
from runtime.worker.escalation import TaskErrorEscalation, worker_escalator
from runtime.worker.handler_call import TaskHandler
from runtime.worker.health import measure_health
from runtime.worker.limits import check_sandbox
from runtime.worker.memory_watch import MemoryWatch
from runtime.worker.recovery import register_recovering
from runtime.worker.report_batcher import ReportBatcher
from runtime.worker.system_errors import SystemErrorResponder
from runtime.worker.task_runner import TaskOutcome, TaskRunner
from runtime.worker.task_slots import TaskSlots
from runtime.worker.telemetry import TelemetrySender, WorkerTelemetry
from runtime.worker.tracing import TraceRecorder
from runtime.worker.workspace import WorkspaceRoot
from spec.decisions.shutdown import WORKER_DRAIN, ShutdownDrain
from spec.machine import MachineInstance
from spec.machines.shutdown import WorkerShutdownTrigger
from spec.machines.task_lifecycle import TaskState
from spec.machines.worker_lifecycle import WorkerState, WorkerTrigger
from spec.policies import DEFAULT_POLICIES, Policies

log = logging.getLogger("runtime.worker")


def default_workspace_root() -> Path:
    return Path(tempfile.gettempdir()) / "runtime-worker"


class Worker:
    """A worker: ``@worker.task("type")`` registers handlers; ``await worker.run()`` runs until stopped."""

    def __init__(
        self,
        orchestrator_url: str | Sequence[str],
        *,
        token: str | None = None,
        token_source: Callable[[], str | None] | None = None,
        capabilities: list[str] | None = None,
        worker_id: str | None = None,
        policies: Policies = DEFAULT_POLICIES,
        workspace_root: Path | str | None = None,
        trace_path: Path | str | None = None,
        tasks_per_poll: int = 1,
        keep_trace: bool = False,
        transport: httpx.AsyncBaseTransport | None = None,
        escalation: WorkerEscalationRoutes | None = None,
    ) -> None:
        self.capabilities = validate_capabilities(capabilities if capabilities is not None else detect_capabilities())
        self.worker_id = worker_id or f"worker-{socket.gethostname()[:40]}-{uuid.uuid4().hex[:12]}"
        self.policies = policies
        self.tasks_per_poll = tasks_per_poll
        self.handlers: dict[str, TaskHandler] = {}
        self.heartbeat_interval_s = policies.heartbeat.interval_s
        self.recorder = TraceRecorder(trace_path, keep=keep_trace)  # keep: events also in memory (tests)
        self.workspaces = WorkspaceRoot(workspace_root or default_workspace_root())
        #: How task commands are isolated, said once at start; a sandbox without `bwrap` is refused here.
        self.isolation = check_sandbox(policies.resources)
        self._url = orchestrator_url
        #: Re-reads the credential after a 401 (the CLI's token file or environment); `token` is the first value.
        self._token_source = token_source
        self._token = token if token is not None or token_source is None else token_source()
        self._transport = transport
        self._incarnation = 0
        self.lifecycle: MachineInstance = self._bind_lifecycle()
        self.shutdown = self.recorder.bind("worker_shutdown", f"worker-shutdown:{self.worker_id}")
        self._client: OrchestratorClient | None = None
        self._runner: TaskRunner | None = None
        self._stop_requested = asyncio.Event()
        self._wake = asyncio.Event()
        self._stopping = False
        self._needs_registration = False
        self._reported_status = "healthy"
        self._orchestrator_draining = False
        self._slots: TaskSlots | None = None
        self._reports: ReportBatcher | None = None
        self._main: asyncio.Task[None] | None = None
        self.forced = False
        self.completed_tasks = 0
        #: External calls and breakers of this worker's task types, sent after each heartbeat.
        self.telemetry = WorkerTelemetry()
        self._telemetry = TelemetrySender(self.telemetry, lambda: self._client, lambda: self.worker_id)
        #: Escalations of this worker's task types and of its failed tasks: through the orchestrator by
        #: default, plus the worker's own routes (`runtime.worker.escalation`).
        self.escalator = worker_escalator(escalation or WorkerEscalationRoutes(), policies.alerts,
                                          client=lambda: self._client, worker_id=lambda: self.worker_id)
        self._task_errors = TaskErrorEscalation(self.escalator, lambda: self.worker_id)
        #: Seed 4.5 flowchart G: a critical system error shuts the worker down, others degrade it.
        self.system_errors = SystemErrorResponder(
            policies.system_errors, self.escalator, worker_id=lambda: self.worker_id, workspaces=self.workspaces,
            clean_up=self._sweep_now, on_emergency=lambda _decision: self._stop_requested.set())
        #: Resident-set growth, sampled each heartbeat, escalated past the MemoryGrowth rule's threshold.
        self.memory = MemoryWatch(policies, self.escalator, lambda: self.worker_id)

    # -- public API ---------------------------------------------------------------------------

    def task(self, task_type: str) -> Callable[[TaskHandler], TaskHandler]:
        """Decorator: ``@worker.task("build") async def build(ctx) -> dict``."""

        def register(handler: TaskHandler) -> TaskHandler:
            self.add_handler(task_type, handler)
            return handler

        return register

    def add_handler(self, task_type: str, handler: TaskHandler) -> None:
        if task_type in self.handlers:
            raise ValueError(f"task type {task_type!r} already has a handler")
        self.handlers[task_type] = handler

    @property
    def state(self) -> str:
        return self.lifecycle.state

    def request_stop(self) -> None:
        """First call: graceful shutdown. Second call: force exit (seed 4.4, issue 3 §7)."""
        if self._stop_requested.is_set():
            self.force_stop()
            return
        self._stop_requested.set()

    def force_stop(self) -> None:
        self.forced = True
        if self.shutdown.can_fire(WorkerShutdownTrigger.FORCE_STOP):
            self.shutdown.fire(WorkerShutdownTrigger.FORCE_STOP)
        if self._main is not None:
            self._main.cancel()

    def run_forever(self) -> None:
        """Run in a fresh event loop until SIGTERM/SIGINT; a second signal forces exit (``self.forced``)."""

        async def main() -> None:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self.request_stop)
            try:
                await self.run()
            except asyncio.CancelledError:
                if not self.forced:
                    raise
            finally:
                for sig in (signal.SIGTERM, signal.SIGINT):
                    loop.remove_signal_handler(sig)

        asyncio.run(main())

    async def run(self) -> None:
        """Recover, register, heartbeat and poll until stopped; then shut down gracefully."""
        self._main = asyncio.current_task()
        log.info("%s", self.isolation)
        self._client = OrchestratorClient(
            self._url, token=self._token, timeout_s=self.policies.heartbeat.timeout_s, transport=self._transport
        )
        self._reports = ReportBatcher(self._client, self.policies, worker_id=lambda: self.worker_id,
                                      lease_wanted=lambda batch: slots.lease_wanted(batch),
                                      on_leased=lambda tasks, batch: slots.leased_along(tasks, batch))
        self._runner = TaskRunner(
            client=self._client, worker_id=lambda: self.worker_id, handlers=self.handlers,
            policies=self.policies, workspaces=self.workspaces, recorder=self.recorder, reports=self._reports,
            before_outcome=self._telemetry.send_task_calls, system_error=self.system_errors.task_failed,
        )
        self._slots = slots = TaskSlots(self.tasks_per_poll, self._runner.execute, lifecycle=lambda: self.lifecycle,
                                        may_lease=self._may_lease, on_finished=self._count_outcome,
                                        on_empty=self._wake.set)
        loops: list[asyncio.Task[None]] = []
        stop_waiter = asyncio.create_task(self._stop_requested.wait())
        try:
            start = asyncio.create_task(register_recovering(self.workspaces, self.recorder, self._runner,
                                                            lambda: self.worker_id, self._register))
            await asyncio.wait([stop_waiter, start], return_when=asyncio.FIRST_COMPLETED)
            if not start.done():  # stopped while still registering: nothing runs yet
                start.cancel()
                await asyncio.gather(start, return_exceptions=True)
                return
            start.result()  # registration refused or impossible: raise it
            loops = [asyncio.create_task(self._heartbeat_loop()), asyncio.create_task(self._poll_loop()),
                     asyncio.create_task(clean_periodically(self.workspaces, self._runner, lambda: self.worker_id,
                                                            self.policies.cleanup.workspace_interval_s))]
            await asyncio.wait([stop_waiter, *loops], return_when=asyncio.FIRST_COMPLETED)
            for loop in loops:  # a loop that ended on its own hit an error it cannot handle: surface it
                if loop.done() and not loop.cancelled() and (error := loop.exception()) is not None:
                    raise error
            await self._graceful_shutdown(loops)
            if (emergency := self.system_errors.emergency) is not None:
                raise EmergencyShutdownError(f"emergency shutdown of worker {self.worker_id}: {emergency.reason}; "
                                             "its tasks went back to the queue with their saved state")
        finally:
            self.system_errors.cancel()
            self.memory.cancel()
            stop_waiter.cancel()
            for task in loops:
                task.cancel()
            self._slots.cancel_all()  # only a forced stop or an error leaves tasks running here
            self._reports.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._client.close(), timeout=self.policies.shutdown.check_interval_s)
            self.recorder.close()

    # -- start, registration, recovery (seed 4.2, 4.4) -----------------------------------------

    def _bind_lifecycle(self) -> MachineInstance:
        self._incarnation += 1
        suffix = "" if self._incarnation == 1 else f"#{self._incarnation}"
        return self.recorder.bind("worker_lifecycle", f"worker:{self.worker_id}{suffix}")

    def _count_outcome(self, outcome: TaskOutcome) -> None:
        if outcome.state == TaskState.COMPLETED:
            self.completed_tasks += 1
        self._task_errors(outcome)

    async def _register(self, *, persistent: bool = False) -> None:
        """POST /workers/register, retrying an unreachable orchestrator per BackoffPolicy.

        The first registration gives up after the policy's retries, so a wrong URL fails fast;
        registering *again* (`persistent`) keeps trying at the capped delay until the worker stops,
        so workers outlive an orchestrator restart.
        """
        assert self._client is not None
        if self.lifecycle.state != WorkerState.OFFLINE:
            self.lifecycle = self._bind_lifecycle()
        self.lifecycle.fire(WorkerTrigger.REGISTER)
        # Routing by type: the orchestrator leases this worker only the types it has handlers for.
        request = RegisterRequest(worker_id=self.worker_id, capabilities=self.capabilities,
                                  max_concurrency=self.tasks_per_poll, hostname=socket.gethostname()[:255],
                                  task_types=sorted(self.handlers) or None)
        retries = 0
        while True:
            try:
                response = await self._client.register(request)
                break
            except RequestRejectedError as exc:
                self.lifecycle.fire(WorkerTrigger.CAPABILITIES_REJECTED)
                raise CapabilitiesRejectedError(f"registration refused: {exc}") from exc
            except OrchestratorError as exc:
                if not exc.retryable or not (persistent or self.policies.backoff.should_retry(retries)):
                    raise
                retries += 1
                log.warning("registration failed (%s); retry %d in %.1f s", exc, retries, self._delay(retries))
                await asyncio.sleep(self._delay(retries))
        self.worker_id = response.worker_id
        self._client.use_worker_token(response.worker_token)
        self.heartbeat_interval_s = response.heartbeat_interval_s  # the orchestrator's interval wins
        self._needs_registration = False
        self.lifecycle.fire(WorkerTrigger.CAPABILITIES_ACCEPTED)
        log.info("registered as %s with %s", self.worker_id, ", ".join(self.capabilities))

    async def _sweep_now(self) -> int:
        """A system error's recovery attempt cleans up what dead processes left (their tasks handed back)."""
        return await sweep_leftovers(self.workspaces, self._runner, self.worker_id) if self._runner else 0

    # -- heartbeat (seed 4.2 Heartbeat Loop, Health Check Loop) ---------------------------------

    def health(self) -> WorkerHealth:
        measured = measure_health(self.workspaces.path, len(self._runner.running) if self._runner else 0)
        return self.system_errors.apply(measured)  # unhealthy while degraded by a system error

    async def _heartbeat_loop(self) -> None:
        assert self._client is not None and self._runner is not None
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await self._telemetry.wait_sending_urgent(started + self.heartbeat_interval_s)
            health = self.health()
            self.memory.sample()
            try:
                response = await self._client.heartbeat(HeartbeatRequest(
                    worker_id=self.worker_id, health=health, held_task_ids=sorted(self._runner.held)))
            except OrchestratorError as exc:
                if not isinstance(exc, NotFoundError) and not self._token_refused(exc):
                    log.warning("heartbeat failed: %s", exc)
                elif not self._stopping:
                    log.warning("the orchestrator no longer knows %s or its token; registering again", self.worker_id)
                    self._needs_registration = True
                    self._wake.set()
                continue
            if self.lifecycle.can_fire(WorkerTrigger.HEARTBEAT):
                self.lifecycle.fire(WorkerTrigger.HEARTBEAT)
            if health.status != self._reported_status:
                self._reported_status = health.status
                self._wake.set()
            for task_id in response.cancel_task_ids:
                if self._runner.cancel(task_id, CancelReason.INTERRUPT):
                    log.info("task %s cancelled by the orchestrator", task_id)
            if response.shutting_down != self._orchestrator_draining:
                self._orchestrator_draining = response.shutting_down
                self._wake.set()
            await self._telemetry.send()
            log.debug("heartbeat and telemetry took %.3f s", loop.time() - started)

    # -- polling (seed 4.2 Task Polling Loop) -----------------------------------------------------

    async def _idle(self, seconds: float) -> None:
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)

    def _apply_health(self) -> bool:
        """Move between idle and unhealthy at a safe point; True if the worker may poll."""
        if self._reported_status == "unhealthy" and self.lifecycle.state == WorkerState.IDLE:
            self.lifecycle.fire(WorkerTrigger.REPORTED_UNHEALTHY)
        elif self._reported_status == "healthy" and self.lifecycle.state == WorkerState.UNHEALTHY:
            self.lifecycle.fire(WorkerTrigger.HEALTH_RESTORED)
        return self.lifecycle.state == WorkerState.IDLE

    def _may_lease(self) -> bool:
        """Healthy, in rotation, not stopping, and the orchestrator is not draining."""
        return (not self._stopping and not self._needs_registration and not self._orchestrator_draining
                and self._reported_status == "healthy" and self.system_errors.may_lease
                and self.lifecycle.state in (WorkerState.IDLE, WorkerState.BUSY))

    async def _poll_loop(self) -> None:
        assert self._client is not None and self._slots is not None
        slots = self._slots
        empty_polls = failures = 0
        while not self._stopping:
            if slots.error is not None:
                raise slots.error  # a bug, not a task failure: stop the worker rather than sit "busy" forever
            if self._needs_registration:
                if slots.running:  # their leases went with the old registration: let them end first
                    await slots.wait_for_change(self.heartbeat_interval_s)
                    continue
                await self._register(persistent=True)
            self._apply_health()
            if not self._may_lease():
                await self._idle(self.heartbeat_interval_s)
                continue
            if slots.free == 0:
                await slots.wait_for_change(self.heartbeat_interval_s)
                continue
            idle = self.lifecycle.state == WorkerState.IDLE
            if idle:
                self.lifecycle.fire(WorkerTrigger.POLL)
            try:
                tasks = await self._client.poll(self.worker_id, wait_s=self.policies.poll.long_poll_s,
                                                max_tasks=slots.free)
            except OrchestratorError as exc:
                if idle:
                    self._fire_if_legal(WorkerTrigger.NO_TASK_AVAILABLE)
                if isinstance(exc, NotFoundError | LeaseLostError) or self._token_refused(exc):
                    # forgotten (404), deregistered (409), or our workerToken no longer works (401)
                    self._needs_registration = True
                    continue
                failures += 1
                log.warning("poll failed: %s", exc)
                await self._idle(self._delay(failures))
                continue
            failures = 0
            if idle:
                self._fire_if_legal(WorkerTrigger.TASK_RECEIVED if tasks else WorkerTrigger.NO_TASK_AVAILABLE)
            if not tasks:
                empty_polls += 1
                await self._idle(self.policies.poll.idle_wait_s(empty_polls))
                continue
            empty_polls = 0
            slots.start(tasks)

    def _token_refused(self, exc: OrchestratorError) -> bool:
        """A 401 on the worker's own token: clear it, re-read the credential, register again (seed 4.5 auth flow).

        Registration itself answering 401 is final (`_register` raises): the configured credential is wrong.
        """
        if not (isinstance(exc, AuthenticationError) and exc.status == 401):
            return False
        assert self._client is not None
        self._client.use_worker_token(None)
        if self._token_source is not None:
            try:
                self._client.use_credential(self._token_source())
            except RuntimeConfigError as err:  # the file is being rewritten or went away: keep the old one
                log.warning("cannot re-read the worker credential (%s); registering with the previous one", err)
        return True

    def _delay(self, retry: int) -> float:
        """BackoffPolicy delay for `retry`, which stays at max_delay_s however long the outage lasts."""
        return self.policies.backoff.delay_s(min(retry, 64))  # delay_s caps it; 64 only avoids float overflow

    def _fire_if_legal(self, trigger: str) -> None:
        """Fire a lifecycle trigger unless shutdown or re-registration moved the machine on meanwhile."""
        if self.lifecycle.can_fire(trigger):
            self.lifecycle.fire(trigger)
        else:
            log.debug("skipping %s in lifecycle state %s", trigger, self.lifecycle.state)

    # -- graceful shutdown (seed 4.4 Worker Graceful Shutdown) ---------------------------------

    async def _graceful_shutdown(self, loops: list[asyncio.Task[None]]) -> None:
        """Stop polling, settle the current task, then deregister, clean up and stop the loops.

        The current task is settled *before* the DELETE because deregistration re-queues the
        worker's leases (see `spec.machines.shutdown`); heartbeats keep its lease alive meanwhile.
        """
        assert self._client is not None and self._runner is not None
        heartbeat, poller, cleaner = loops
        cleaner.cancel()  # a sweep's hand-backs would race the DELETE below
        policy = self.policies.shutdown
        if self.system_errors.emergency is not None:  # a critical error: the emergency deadline instead
            policy = policy.model_copy(
                update={"worker_task_deadline_s": self.policies.system_errors.emergency_task_deadline_s})
        self.shutdown.fire(WorkerShutdownTrigger.STOP)
        self._stopping = True
        assert self._slots is not None
        self._slots.accepting = False
        poller.cancel()  # a poll in flight is dropped: its lease, if any, is re-queued by the DELETE below
        slots, reports = self._slots, self._reports
        assert slots is not None and reports is not None
        clock = asyncio.get_running_loop().time
        drain = ShutdownDrain(WORKER_DRAIN, policy, began=clock())  # when to stop waiting: the spec's rule
        while True:
            decision = drain.observe(slots.running, clock())
            if decision.trigger is not None:
                self.shutdown.fire(decision.trigger)
            if decision.cancel:
                self._runner.interrupt_all()
            if decision.wake_at is None:
                break  # what still runs is re-queued by the DELETE below
            await slots.settle(max(0.0, decision.wake_at - clock()))
        # Outcomes still queued go out before the DELETE, which would re-queue their tasks.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(reports.flush(), timeout=policy.cancel_grace_s)
        await self._task_errors.settle(policy.cancel_grace_s)  # escalations still in flight, while the token works
        await self.system_errors.settle(policy.cancel_grace_s)
        await self._telemetry.send()  # the last calls and breaker states, while the token still works
        try:
            await self._client.deregister(self.worker_id)
        except OrchestratorError as exc:
            log.warning("deregistration failed (%s); the orchestrator will time this worker out", exc)
        self._fire_if_legal(WorkerTrigger.DEREGISTER)
        self.shutdown.fire(WorkerShutdownTrigger.DEREGISTERED)
        removed = self.workspaces.remove_own()
        log.info("removed %d workspace(s)", removed)
        self.shutdown.fire(WorkerShutdownTrigger.CLEANED)
        heartbeat.cancel()
        await asyncio.gather(heartbeat, poller, cleaner, return_exceptions=True)
        self.shutdown.fire(WorkerShutdownTrigger.SERVICES_STOPPED)
