"""Startup, crash, recovery and graceful shutdown of the model's orchestrator (seed 4.1 and 4.4).

Driven by the spec's ``orchestrator_startup``, ``orchestrator_recovery`` and
``orchestrator_shutdown`` machines with `StartupPolicy` and `ShutdownPolicy` timings. A process
supervisor starts a failed startup or recovery again after ``topology.supervisor_restart_s``.

Startup timeouts are the spec's :class:`~spec.decisions.startup.StartupBudgets`: this module asks
it for each phase's deadline when the machine enters a state and charges the time when it leaves.
Recovery's database phase is bounded like startup's.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import simpy

from sim.orchestrator import Orchestrator
from sim.recorder import TracedMachine
from spec.decisions.liveness import HEARTBEAT_GRACE
from spec.decisions.shutdown import ORCHESTRATOR_DRAIN, ShutdownDrain
from spec.decisions.startup import StartupBudgets
from spec.machines import MACHINES
from spec.machines.recovery import OrchestratorRecoveryTrigger
from spec.machines.shutdown import OrchestratorShutdownTrigger as OT
from spec.machines.startup import StartupState, StartupTrigger
from spec.trace import TraceKey

STARTUP = MACHINES["orchestrator_startup"]
_SERVICE_STEPS = ("logger_ready", "task_queue_ready", "worker_pool_ready", "http_server_ready",
                  "websocket_server_ready", "health_checker_ready", "listening", "websocket_attached")


class _Deadline(Exception):
    """A phase ran past its timeout."""


class Lifecycle:
    def __init__(self, orchestrator: Orchestrator) -> None:
        self.orch = orchestrator
        self.world = orchestrator.world
        self.env = orchestrator.env
        self._recovering: int | None = None  # incarnation of the recovery under way

    def _wait(self, seconds: float, deadline: float) -> Generator[simpy.Event, Any, None]:
        if self.env.now + seconds > deadline:
            yield self.env.timeout(max(0.0, deadline - self.env.now))
            raise _Deadline
        if seconds > 0:
            yield self.env.timeout(seconds)

    def _db_attempts(self, machine: TracedMachine, deadline: float, retry_trigger: str | None,
                     incarnation: int) -> Generator[simpy.Event, Any, bool]:
        """The database step with StartupPolicy's attempts and backoff, bounded by `deadline`."""
        policy = self.world.policies.startup
        delays = policy.database_retry_delays_s()
        for attempt in range(1, policy.database_attempts + 1):
            op = self.env.process(self.orch.db())
            yield op | self.env.timeout(max(0.0, deadline - self.env.now))
            if incarnation != self.orch.incarnation:
                return False
            if op.triggered and op.value:
                return True
            if not op.triggered:
                raise _Deadline
            if attempt == policy.database_attempts:
                return False
            if retry_trigger is not None:
                machine.fire(retry_trigger, {TraceKey.ATTEMPT: attempt, TraceKey.DELAY_S: delays[attempt - 1]})
            yield from self._wait(delays[attempt - 1], deadline)
        return False

    # -- startup ---------------------------------------------------------------------------

    def start(self) -> None:
        self.orch.busy_lifecycle = True
        self.env.process(self._startup(self.orch.incarnation))

    def _timed_step(self, machine: TracedMachine, budgets: StartupBudgets,
                    seconds: float) -> Generator[simpy.Event, Any, None]:
        """A startup step of `seconds` in the machine's current state, under the state's budget."""
        state = machine.state
        yield from self._wait(seconds, budgets.enter(state, self.env.now))
        budgets.leave(state, self.env.now)

    def _startup(self, incarnation: int) -> Generator[simpy.Event, Any, None]:
        policy, phase = self.world.policies.startup, self.world.topology.startup_phase_s
        machine = self.world.recorder.bind("orchestrator_startup", self.world.unique("orchestrator_startup"))
        budgets = StartupBudgets(policy, began=self.env.now)
        machine.fire(StartupTrigger.START)
        try:
            yield from self._timed_step(machine, budgets, phase)
            if incarnation != self.orch.incarnation:
                return
            machine.fire(StartupTrigger.CONFIG_LOADED)
            yield from self._timed_step(machine, budgets, phase)
            machine.fire(StartupTrigger.LOGGER_READY)
            state = machine.state
            ok = yield from self._db_attempts(
                machine, budgets.enter(state, self.env.now), "database_attempt_failed", incarnation)
            if incarnation != self.orch.incarnation:
                return
            if not ok:
                machine.fire(StartupTrigger.DATABASE_FAILED)
                self._supervise(incarnation, self.start)
                return
            budgets.leave(state, self.env.now)
            machine.fire(StartupTrigger.DATABASE_READY)
            for trigger in _SERVICE_STEPS[1:]:
                yield from self._timed_step(machine, budgets, phase)
                if incarnation != self.orch.incarnation:
                    return
                machine.fire(trigger)
                if (STARTUP.name, trigger) in HEARTBEAT_GRACE:
                    self.orch.start_liveness()
            check = self.env.process(self.orch.db())
            deadline = budgets.enter(machine.state, self.env.now)
            yield check | self.env.timeout(max(0.0, deadline - self.env.now))
            if incarnation != self.orch.incarnation:
                return
            if not check.triggered:
                raise _Deadline
        except _Deadline:
            if incarnation == self.orch.incarnation:
                machine.fire(StartupTrigger.STARTUP_TIMED_OUT, {TraceKey.PHASE_STATE: machine.state})
                self._supervise(incarnation, self.start)
            return
        machine.fire(StartupTrigger.ALL_HEALTHY if check.value else StartupTrigger.SERVICE_DEGRADED)
        self.orch.busy_lifecycle = False
        self.orch.go_live()

    def _supervise(self, incarnation: int, again: Any) -> None:
        def restart(_: simpy.Event) -> None:
            if incarnation == self.orch.incarnation:
                again()

        self.env.timeout(self.world.topology.supervisor_restart_s).callbacks.append(restart)

    # -- crash and recovery ----------------------------------------------------------------

    def crash(self) -> None:
        self.world.ledger.orchestrator_crashes.append(self.env.now)
        self.orch.lose_memory()
        self.orch.busy_lifecycle = True

    def recover(self) -> None:
        if self.orch.up or self._recovering == self.orch.incarnation:
            return  # the supervisor does not restart a process that is running or recovering
        self.orch.lose_memory()  # a recovery supersedes anything the dead process was doing
        self.orch.busy_lifecycle = True
        self.world.ledger.orchestrator_restarts.append(self.env.now)
        self._recovering = self.orch.incarnation
        self.env.process(self._recovery(self.orch.incarnation))

    def _recovery(self, incarnation: int) -> Generator[simpy.Event, Any, None]:
        policy, phase = self.world.policies.startup, self.world.topology.startup_phase_s
        machine = self.world.recorder.bind("orchestrator_recovery", self.world.unique("orchestrator_recovery"))
        machine.fire(OrchestratorRecoveryTrigger.RESTART)
        try:
            # The database phase's budget, as the startup core charges it (its own, capped by the total).
            deadline = StartupBudgets(policy, began=self.env.now).enter(StartupState.STARTING_DATABASE, self.env.now)
            ok = yield from self._db_attempts(machine, deadline, None, incarnation)
        except _Deadline:
            ok = False
        if incarnation != self.orch.incarnation:
            return
        if not ok:
            machine.fire(OrchestratorRecoveryTrigger.RECOVERY_ERROR, {TraceKey.REASON: "database unreachable"})
            self._recovering = None  # this recovery is over: the supervisor's restart must not be refused
            self._supervise(incarnation, self.recover)
            return
        machine.fire(OrchestratorRecoveryTrigger.DATABASE_RESTORED)
        yield self.env.timeout(phase)
        if incarnation != self.orch.incarnation:
            return
        # resetOrphanedTasks: requests cut short by the crash leave no worker half-way; leases of
        # workers that stay silent are revoked by the sweeper once start_liveness gives them a fresh timeout.
        for worker in self.orch.workers.values():
            self.orch.settle_worker(worker)
        machine.fire(OrchestratorRecoveryTrigger.QUEUE_RECOVERED)
        yield self.env.timeout(phase)
        if incarnation != self.orch.incarnation:
            return
        machine.fire(OrchestratorRecoveryTrigger.WORKFLOWS_RESUMED)
        self.orch.start_liveness()  # HEARTBEAT_GRACE
        self.orch.busy_lifecycle = False
        self.orch.go_live()

    # -- graceful shutdown -----------------------------------------------------------------

    def shutdown(self, restart_after: float) -> None:
        if not self.orch.up or self.orch.busy_lifecycle:
            return
        self.orch.busy_lifecycle = True
        self.env.process(self._shutdown(self.orch.incarnation, restart_after))

    def _shutdown(self, incarnation: int, restart_after: float) -> Generator[simpy.Event, Any, None]:
        orch, policy, env = self.orch, self.world.policies.shutdown, self.env
        machine = self.world.recorder.bind("orchestrator_shutdown", self.world.unique("orchestrator_shutdown"))
        machine.fire(OT.STOP)
        orch.leasing = False
        orch.accepting_submissions = False
        for trigger in (OT.QUEUE_PAUSED, OT.HTTP_DRAINING, OT.WEBSOCKETS_REFUSED, OT.WORKFLOWS_SETTLED):
            machine.fire(trigger)
        drain = ShutdownDrain(ORCHESTRATOR_DRAIN, policy, began=env.now)
        while True:
            decision = drain.observe(len(orch.leased), env.now)
            if decision.trigger is not None:
                machine.fire(decision.trigger, {TraceKey.RUNNING: len(orch.leased)})
            if decision.cancel:
                for task in list(orch.leased.values()):
                    if task.holder is not None:
                        orch.cancel_hook(task.holder, task.id, task.token)
            if decision.take_back:
                for task in list(orch.leased.values()):
                    orch.revoke(task, "cancel grace expired")
            if decision.wake_at is None:
                break
            yield env.timeout(max(0.0, decision.wake_at - env.now))
            if incarnation != orch.incarnation:
                return
        for trigger in (OT.NOTIFY_CLIENTS, OT.WEBSOCKETS_CLOSED, OT.HTTP_STOPPED, OT.QUEUE_STOPPED, OT.DATABASE_CLOSED):
            machine.fire(trigger)
        orch.lose_memory()

        def start_again(_: simpy.Event) -> None:
            if not orch.up:
                self.start()

        env.timeout(restart_after).callbacks.append(start_again)
