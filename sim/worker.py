"""A worker process of the model: register, heartbeat, poll, execute, report (seed 4.2/4.3).

Its state as the orchestrator sees it lives in the orchestrator's ``worker_lifecycle`` machine;
this process is the behaviour behind it. A crash interrupts every process of the worker and
ends its heartbeat timer; a restart runs the spec's ``worker_recovery`` machine. Reports are retried with the backoff
policy and fenced by the lease token, so a late report of a re-queued task is refused.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import simpy
from simpy.events import Initialize

from sim.orchestrator import Orchestrator
from sim.resilience import ServiceCaller, SharedService
from sim.retrying import Verdict, retrying
from sim.rpc import Handler, request
from sim.world import AI_ID, GIT_ID, ORCH_ID, WORKER_ID, Reply, World
from spec.decisions.shutdown import WORKER_DRAIN, ShutdownDrain
from spec.machines.recovery import WorkerRecoveryTrigger
from spec.machines.shutdown import WorkerShutdownTrigger
from spec.machines.task_lifecycle import TaskTrigger
from spec.taxonomy import FailureCode
from spec.trace import TraceKey


class Worker:
    def __init__(self, world: World, orchestrator: Orchestrator, index: int,
                 breakers: dict[str, SharedService]) -> None:
        self.world = world
        self.env = world.env
        self.orch = orchestrator
        self.index = index
        self.id = f"worker-{index}"
        self.alive = False
        self.incarnation = 0
        self.procs: list[simpy.Process] = []
        #: The task in hand, kept on disk: it survives a crash and is reported after restart.
        self.current: tuple[str, int] | None = None
        self.cancel: simpy.Event | None = None
        self.abandoned = False
        self.caller = ServiceCaller(world, self.id, index, breakers)
        #: Set by a graceful stop: take no new work.
        self.stopping = False
        #: Succeeds when the task in hand ends (for a graceful stop's wait).
        self.task_ended: simpy.Event | None = None

    # -- process control -------------------------------------------------------------------

    def _spawn(self, body: Generator[simpy.Event, Any, None]) -> None:
        self.procs = [p for p in self.procs if p.is_alive]
        self.procs.append(self.env.process(body))

    def boot(self) -> None:
        self.alive = True
        self._spawn(self._main(self.incarnation, recovering=False))

    def crash(self) -> None:
        if not self.alive:
            return
        self.alive = False
        self.incarnation += 1
        self.world.ledger.worker_down.setdefault(self.id, []).append((self.env.now, None))
        for proc in self.procs:
            # A process that has not run yet cannot catch an Interrupt; it sees the new incarnation instead.
            if proc.is_alive and not isinstance(proc.target, Initialize):
                proc.interrupt("crash")
        self.procs = []

    def restart(self) -> None:
        if self.alive or self.stopping:  # a worker that stopped gracefully has left for good
            return
        self.alive = True
        down = self.world.ledger.worker_down[self.id]
        down[-1] = (down[-1][0], self.env.now)
        self._spawn(self._main(self.incarnation, recovering=True))

    def stop_gracefully(self) -> None:
        """SIGTERM: `worker_shutdown`, with the spec's drain rule (`spec.decisions.shutdown`)."""
        if not self.alive or self.stopping:
            return
        self.stopping = True
        self._spawn(self._graceful_shutdown(self.incarnation))

    def _graceful_shutdown(self, incarnation: int) -> Generator[simpy.Event, Any, None]:
        world, env = self.world, self.env
        machine = world.recorder.bind("worker_shutdown", world.unique(f"worker_shutdown:{self.id}"))
        machine.fire(WorkerShutdownTrigger.STOP)
        drain = ShutdownDrain(WORKER_DRAIN, world.policies.shutdown, began=env.now)
        try:
            while True:
                decision = drain.observe(0 if self.current is None else 1, env.now)
                if decision.trigger is not None:
                    machine.fire(decision.trigger)
                if decision.cancel and self.cancel is not None and not self.cancel.triggered:
                    self.cancel.succeed()
                if decision.wake_at is None:
                    break
                ended = self.task_ended if self.task_ended is not None else env.event()
                yield env.timeout(max(0.0, decision.wake_at - env.now)) | ended
            reply, _ = yield from self._rpc(lambda: self.orch.deregister(self.id))
        except simpy.Interrupt:  # crashed while stopping
            return
        if incarnation != self.incarnation:
            return
        for trigger in (WorkerShutdownTrigger.DEREGISTERED, WorkerShutdownTrigger.CLEANED,
                        WorkerShutdownTrigger.SERVICES_STOPPED):
            machine.fire(trigger, {TraceKey.REPLY: reply.value} if trigger is WorkerShutdownTrigger.DEREGISTERED
                         else None)
        self.alive = False
        self.incarnation += 1  # ends the heartbeat chain; the stopped worker never comes back
        for proc in self.procs:
            if proc.is_alive and proc is not env.active_process and not isinstance(proc.target, Initialize):
                proc.interrupt("stopped")
        self.procs = []

    # -- requests --------------------------------------------------------------------------

    def _rpc(self, handler: Handler, extra_timeout: float = 0.0) -> Generator[simpy.Event, Any, tuple[Reply, Any]]:
        # Returns request's generator itself rather than delegating to it: one ``yield from`` level
        # less on every resume of every request.
        timeout = self.world.topology.request_timeout_s + extra_timeout
        return request(self.world, self.orch, WORKER_ID, self.index, handler, timeout)

    def _report(self, task_id: str, token: int, kind: str, reason: str | None = None) -> Generator[
            simpy.Event, Any, bool]:
        def attempt() -> Generator[simpy.Event, Any, tuple[Reply, Any]]:
            return (yield from self._rpc(lambda: self.orch.report(self.id, task_id, token, kind, reason)))

        def classify(result: tuple[Reply, Any]) -> Verdict:
            if result[0] is Reply.OK:
                return Verdict.OK
            return Verdict.STOP if result[0] is Reply.CONFLICT else Verdict.RETRY

        reply, _ = yield from retrying(self.world, f"report:{self.id}:{kind}:{task_id}", attempt, classify,
                                       reason=lambda r: str(r[0].value))
        return reply is Reply.OK

    # -- behaviour -------------------------------------------------------------------------

    def _main(self, incarnation: int, *, recovering: bool) -> Generator[simpy.Event, Any, None]:
        if incarnation != self.incarnation:
            return
        try:
            if recovering:
                if not (yield from self._recover()):
                    return
            else:
                yield from self._register()
            self._start_heartbeats(incarnation)
            yield from self._work_loop()
        except simpy.Interrupt:
            return

    def _register(self) -> Generator[simpy.Event, Any, None]:
        """Register until it works, waiting the backoff schedule between failures (as the runtime worker)."""
        retries = 0
        while True:
            reply, _ = yield from self._rpc(lambda: self.orch.register(self.id))
            if reply is Reply.OK:
                return
            retries += 1
            yield self.env.timeout(self.world.backoff.registration_delay_s(retries))

    def _recover(self) -> Generator[simpy.Event, Any, bool]:
        world = self.world
        machine = world.recorder.bind("worker_recovery", world.unique(f"worker_recovery:{self.id}"))
        machine.fire(WorkerRecoveryTrigger.RESTART)
        yield self.env.timeout(world.topology.startup_phase_s)
        machine.fire(WorkerRecoveryTrigger.WORKSPACES_RESTORED)
        reply = Reply.UNAVAILABLE
        for attempt in range(world.policies.backoff.max_retries + 1):
            reply, _ = yield from self._rpc(lambda: self.orch.register(self.id))
            if reply is Reply.OK:
                break
            if attempt < world.policies.backoff.max_retries:
                yield self.env.timeout(world.backoff.registration_delay_s(attempt + 1))
        if reply is not Reply.OK:
            machine.fire(WorkerRecoveryTrigger.REGISTRATION_FAILED, {TraceKey.REPLY: reply.value})
            incarnation = self.incarnation

            def again(_: simpy.Event) -> None:
                if incarnation == self.incarnation and self.alive:
                    self._spawn(self._main(self.incarnation, recovering=True))

            self.env.timeout(world.topology.supervisor_restart_s).callbacks.append(again)
            return False
        machine.fire(WorkerRecoveryTrigger.REGISTERED)
        if self.current is not None:
            task_id, token = self.current
            self.current = None
            yield from self._rpc(lambda: self.orch.report(self.id, task_id, token, TaskTrigger.INTERRUPT))
        machine.fire(WorkerRecoveryTrigger.INTERRUPTED_TASKS_RESUMED)
        return True

    def _start_heartbeats(self, incarnation: int) -> None:
        """Send a heartbeat every interval until this incarnation crashes.

        A chain of timer callbacks rather than a SimPy process: it waits on nothing but its own
        timer, and heartbeats are most of a fleet's events, so the process machinery (resume,
        generator switch, interrupt on crash) would be most of their cost. A crash needs no
        interrupt: the next timer sees the new incarnation and ends the chain, sending nothing,
        as the interrupted process did.
        """
        interval = self.world.policies.heartbeat.interval_s
        orch, world, index, worker_id = self.orch, self.world, self.index, self.id
        timeout = self.env.timeout

        def arrive(_: simpy.Event) -> None:
            orch.heartbeat(worker_id)

        def beat(_: simpy.Event) -> None:
            if incarnation != self.incarnation:
                return
            delivered, delay = world.transit(WORKER_ID, ORCH_ID, index)
            if delivered:
                if delay > 0:
                    timeout(delay).callbacks.append(arrive)
                else:
                    orch.heartbeat(worker_id)
            timeout(interval).callbacks.append(beat)

        timeout(interval).callbacks.append(beat)

    def _work_loop(self) -> Generator[simpy.Event, Any, None]:
        poll = self.world.policies.poll
        empty = 0
        while not self.stopping:
            reply, payload = yield from self._rpc(lambda: self.orch.poll(self.id), poll.long_poll_s)
            if self.stopping:
                return  # a lease in flight goes back to the queue with the deregistration
            if reply is Reply.OK:
                empty = 0
                yield from self._execute(*payload)
                continue
            if reply is Reply.CONFLICT:
                yield from self._register()
                continue
            empty += 1
            yield self.env.timeout(poll.idle_wait_s(empty))

    def request_cancel(self, task_id: str, token: int) -> None:
        """The orchestrator's shutdown asks this worker to interrupt `task_id`."""
        if self.alive and self.current == (task_id, token) and self.cancel is not None and not self.cancel.triggered:
            self.cancel.succeed()

    def _execute(self, task_id: str, token: int, work_s: float) -> Generator[simpy.Event, Any, None]:
        self.current = (task_id, token)
        self.task_ended = self.env.event()
        try:
            yield from self._run_task(task_id, token, work_s)
        finally:
            if self.current == (task_id, token) and self.alive:
                self.current = None
            if not self.task_ended.triggered:
                self.task_ended.succeed()

    def _run_task(self, task_id: str, token: int, work_s: float) -> Generator[simpy.Event, Any, None]:
        world, env = self.world, self.env
        if world.faults.exhausted(self.index, env.now):
            yield from self._report(task_id, token, TaskTrigger.ALLOCATION_FAILED, FailureCode.RESOURCE_EXHAUSTED.value)
            return
        if not (yield from self._report(task_id, token, TaskTrigger.START)):
            return
        started = env.now
        self.cancel = env.event()
        self.abandoned = False
        workload = world.scenario.workload
        for _ in range(workload.ai_calls):
            outcome = yield from self.caller.call(AI_ID)
            if not outcome.ok:
                yield from self._report(task_id, token, TaskTrigger.FAIL, outcome.reason)
                return
        work = work_s * world.faults.slow_factor(started)
        limit = world.policies.resources.max_duration_s - (env.now - started)
        run = min(work, max(0.0, limit))
        interval = world.policies.progress.interval_s
        done = 0.0
        while done < run:
            chunk = min(interval, run - done)
            yield env.timeout(chunk) | self.cancel
            if self.cancel.triggered:
                yield from self._report(task_id, token, TaskTrigger.INTERRUPT)
                return
            done += chunk
            if self.abandoned:
                return
            if done < run:
                self._spawn(self._progress(task_id, token))
        if work > run:
            yield from self._report(task_id, token, TaskTrigger.TIME_OUT, FailureCode.TIMEOUT.value)
            return
        for _ in range(workload.git_calls):
            outcome = yield from self.caller.call(GIT_ID)
            if not outcome.ok:
                yield from self._report(task_id, token, TaskTrigger.FAIL, outcome.reason)
                return
        yield from self._report(task_id, token, TaskTrigger.COMPLETE)

    def _progress(self, task_id: str, token: int) -> Generator[simpy.Event, Any, None]:
        try:
            reply, _ = yield from self._rpc(lambda: self.orch.report(self.id, task_id, token, TaskTrigger.PROGRESS))
        except simpy.Interrupt:
            return
        if reply is Reply.CONFLICT and self.current == (task_id, token):
            self.abandoned = True
