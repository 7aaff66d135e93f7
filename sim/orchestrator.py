"""The orchestrator of the model: task queue with fenced leases, worker registry, health sweeps.

Tasks and workers are driven by the spec's ``task_lifecycle`` and ``worker_lifecycle`` machines
(seed 4.2/4.3). Queue, leases and registry are durable (they live in the database and survive a
crash); heartbeat times and waiting polls are in memory and are lost with the process. Startup,
recovery and graceful shutdown live in `sim.orchestrator_lifecycle`.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Generator
from functools import partial
from typing import Any

import simpy

from sim.recorder import TracedMachine
from sim.world import DB_ID, ORCH_ID, Reply, World
from spec.machines.task_lifecycle import TaskState, TaskTrigger
from spec.machines.worker_lifecycle import LIVE_STATES, WorkerState, WorkerTrigger
from spec.trace import TraceKey

LIVE = LIVE_STATES
LEASED = frozenset({TaskState.ASSIGNED, TaskState.RUNNING})
#: Report kinds a worker sends about its task, mapped to the task_lifecycle trigger they fire.
FINAL_REPORTS = frozenset({TaskTrigger.COMPLETE, TaskTrigger.FAIL, TaskTrigger.TIME_OUT, TaskTrigger.ALLOCATION_FAILED})


#: What a long poll's event carries when its timer ran out before a task came.
EXPIRED = object()


def _expire(event: simpy.Event, _timer: simpy.Event) -> None:
    """The long-poll timer: end the wait unless a lease (or a crash) ended it first.

    A plain callback on the timer rather than ``event | timer``: a SimPy condition costs several
    times an event, and a fleet of idle workers long-polls constantly.
    """
    if not event.triggered:
        event.succeed(EXPIRED)


class TaskEntry:
    __slots__ = ("id", "machine", "work_s", "holder", "token", "renewed", "final")

    def __init__(self, task_id: str, machine: TracedMachine, work_s: float) -> None:
        self.id = task_id
        self.machine = machine
        self.work_s = work_s
        self.holder: str | None = None
        self.token = 0
        self.renewed = 0.0
        self.final: tuple[int, str] | None = None


class WorkerEntry:
    __slots__ = ("id", "machine", "last_seen", "held")

    def __init__(self, worker_id: str, machine: TracedMachine, now: float) -> None:
        self.id = worker_id
        self.machine = machine
        self.last_seen = now
        self.held: list[str] = []


class Orchestrator:
    def __init__(self, world: World) -> None:
        self.world = world
        self.env = world.env
        self.up = False
        self.leasing = False
        self.accepting_submissions = False
        self.incarnation = 0
        self.tasks: dict[str, TaskEntry] = {}
        self.leased: dict[str, TaskEntry] = {}
        self.queue: deque[str] = deque()
        self.workers: dict[str, WorkerEntry] = {}
        self.pollers: deque[tuple[WorkerEntry, simpy.Event]] = deque()
        self.settled = 0
        self.busy_lifecycle = False  # a startup, recovery or shutdown is under way
        self.cancel_hook: Callable[[str, str, int], None] = lambda worker, task, token: None
        #: Whether some replica leads and so sweeps; one orchestrator always does (`sim.replicas`).
        self.has_leader: Callable[[], bool] = lambda: True
        self._next_token = 0
        self._oldest_seen = -math.inf  # see sweep

    # -- infrastructure -------------------------------------------------------------------

    def db(self) -> Generator[simpy.Event, Any, bool]:
        """One database operation: False when the database is down, unreachable or we died meanwhile."""
        world, env = self.world, self.env
        incarnation = self.incarnation
        if world.faults.database_down(env.now):
            return False
        out_ok, out = world.transit(ORCH_ID, DB_ID, None)
        back_ok, back = world.transit(DB_ID, ORCH_ID, None)
        if not (out_ok and back_ok):
            yield env.timeout(world.topology.request_timeout_s)
            return False
        cost = out + back + world.topology.db_op_s
        if cost > 0:
            yield env.timeout(cost)
        return incarnation == self.incarnation

    def lose_memory(self) -> None:
        """A crash or stop: waiting polls die with the process."""
        self.incarnation += 1
        self.up = False
        self.leasing = False
        self.accepting_submissions = False
        while self.pollers:
            _, event = self.pollers.popleft()
            if not event.triggered:
                event.succeed(None)

    def start_liveness(self) -> None:
        """The worker pool starts (``HEARTBEAT_GRACE_TRIGGER``): heartbeat times were lost with the old
        process, so every worker gets a fresh timeout, and sweeping begins."""
        for worker in self.workers.values():
            worker.last_seen = self.env.now
        self._oldest_seen = self.env.now
        self.env.process(self._sweep_loop(self.incarnation))

    def grant_heartbeat_grace(self) -> None:
        """A replica took the sweeps over (``leader_election`` ``lock_acquired``): every worker gets a
        fresh timeout, as in `spec.decisions.liveness.HEARTBEAT_GRACE`."""
        for worker in self.workers.values():
            worker.last_seen = self.env.now
        self._oldest_seen = self.env.now

    def go_live(self) -> None:
        """Serve again: leases, submissions, polls."""
        self.up = True
        self.leasing = True
        self.accepting_submissions = True
        self._dispatch()

    # -- queue and leases -------------------------------------------------------------------

    def _lease(self, worker: WorkerEntry) -> tuple[str, int, float]:
        task = self.tasks[self.queue.popleft()]
        self._next_token += 1
        task.token = self._next_token
        task.holder = worker.id
        task.renewed = self.env.now
        self.leased[task.id] = task
        worker.held.append(task.id)
        task.machine.fire(TaskTrigger.ASSIGN, {TraceKey.WORKER_ID: worker.id, TraceKey.TOKEN: task.token})
        worker.machine.fire(WorkerTrigger.TASK_RECEIVED, {TraceKey.TASK_ID: task.id})
        return task.id, task.token, task.work_s

    def _dispatch(self) -> None:
        while self.queue and self.pollers and self.leasing:
            worker, event = self.pollers.popleft()
            if event.triggered or worker.machine.state != WorkerState.POLLING:
                continue
            event.succeed(self._lease(worker))

    def _enqueue(self, task: TaskEntry) -> None:
        self.queue.append(task.id)
        self._dispatch()

    def _release(self, task: TaskEntry) -> WorkerEntry | None:
        holder = self.workers.get(task.holder) if task.holder is not None else None
        if holder is not None and task.id in holder.held:
            holder.held.remove(task.id)
        self.leased.pop(task.id, None)
        task.holder = None
        return holder

    def revoke(self, task: TaskEntry, reason: str) -> None:
        """Take a lease back and re-queue the task; the old fencing token is now stale."""
        if task.machine.state not in LEASED:
            return
        self._release(task)
        task.machine.fire(TaskTrigger.LEASE_LOST, {TraceKey.REASON: reason})
        self._enqueue(task)

    def revoke_all(self, worker: WorkerEntry, reason: str) -> None:
        for task_id in list(worker.held):
            self.revoke(self.tasks[task_id], reason)

    # -- health -----------------------------------------------------------------------------

    def _sweep_loop(self, incarnation: int) -> Generator[simpy.Event, Any, None]:
        interval = self.world.policies.heartbeat.sweep_interval_s
        while True:
            yield self.env.timeout(interval)
            if incarnation != self.incarnation:
                return
            if self.has_leader():  # with replicas, only while one of them leads (`sim.replicas`)
                self.sweep()

    def sweep(self) -> None:
        """Detect silent workers and expired leases (the spec's `LivenessRules`)."""
        now = self.env.now
        rules = self.world.liveness
        # Every write of a last_seen stores the current time, so the oldest last_seen the previous
        # scan saw is a lower bound for all of them: while even that is not yet silent, no worker
        # can be due and the scan of the whole registry is skipped.
        if rules.is_silent(self._oldest_seen, now):
            oldest = now
            for worker in self.workers.values():
                seen = worker.last_seen
                if rules.is_silent(seen, now) and worker.machine.state in LIVE:
                    worker.machine.fire(WorkerTrigger.HEARTBEATS_MISSED, {TraceKey.LAST_SEEN: seen})
                    self.revoke_all(worker, "worker unhealthy")
                oldest = min(oldest, seen)
            self._oldest_seen = oldest
        for task in [t for t in self.leased.values() if rules.lease_expired(t.renewed, now)]:
            self.revoke(task, "lease expired")

    def heartbeat(self, worker_id: str) -> None:
        """A heartbeat arrived (in memory; needs no database)."""
        if not self.up:
            return
        worker = self.workers.get(worker_id)
        if worker is None:
            return
        state = worker.machine.state
        if state == WorkerState.UNHEALTHY:
            worker.machine.fire(WorkerTrigger.HEALTH_RESTORED)
        elif state in LIVE:
            worker.machine.fire(WorkerTrigger.HEARTBEAT)
        else:
            return
        worker.last_seen = self.env.now

    # -- request handlers ------------------------------------------------------------------

    def submit(self, task_id: str, work_s: float) -> Generator[simpy.Event, Any, tuple[Reply, Any]]:
        if not self.accepting_submissions:
            return Reply.UNAVAILABLE, None
        if not (yield from self.db()):
            return Reply.UNAVAILABLE, None
        if task_id in self.tasks:
            return Reply.OK, None  # the client's retry of a submission whose answer was lost
        task = TaskEntry(task_id, self.world.recorder.bind("task_lifecycle", f"task:{task_id}"), work_s)
        self.tasks[task_id] = task
        self.world.ledger.accepted[task_id] = self.env.now
        self._enqueue(task)
        return Reply.OK, None

    def register(self, worker_id: str) -> Generator[simpy.Event, Any, tuple[Reply, Any]]:
        if not (yield from self.db()):
            return Reply.UNAVAILABLE, None
        worker = self.workers.get(worker_id)
        if worker is None:
            worker = WorkerEntry(worker_id, self.world.recorder.bind("worker_lifecycle", f"worker:{worker_id}"),
                                 self.env.now)
            self.workers[worker_id] = worker
            worker.machine.fire(WorkerTrigger.REGISTER)
            worker.machine.fire(WorkerTrigger.CAPABILITIES_ACCEPTED)
            return Reply.OK, None
        # A restarted process: whatever the old one held is gone with it.
        self.revoke_all(worker, "worker restarted")
        self.settle_worker(worker)
        if worker.machine.state == WorkerState.UNHEALTHY:
            worker.machine.fire(WorkerTrigger.HEALTH_RESTORED)
        worker.machine.fire(WorkerTrigger.HEARTBEAT)
        worker.last_seen = self.env.now
        return Reply.OK, None

    def deregister(self, worker_id: str) -> Generator[simpy.Event, Any, tuple[Reply, Any]]:
        """A worker leaves for good (``deregister``); whatever it still holds goes back to the queue."""
        if not (yield from self.db()):
            return Reply.UNAVAILABLE, None
        worker = self.workers.pop(worker_id, None)
        if worker is None:
            return Reply.CONFLICT, None
        worker.machine.fire(WorkerTrigger.DEREGISTER)
        self.revoke_all(worker, "worker deregistered")
        return Reply.OK, None

    def settle_worker(self, worker: WorkerEntry) -> None:
        """Bring a worker whose earlier request was cut short back to idle."""
        state = worker.machine.state
        if state == WorkerState.POLLING:
            worker.machine.fire(WorkerTrigger.NO_TASK_AVAILABLE)
        elif state == WorkerState.BUSY and not worker.held:
            worker.machine.fire(WorkerTrigger.TASK_FINISHED)

    def poll(self, worker_id: str) -> Generator[simpy.Event, Any, tuple[Reply, Any]]:
        worker = self.workers.get(worker_id)
        if worker is None:
            return Reply.CONFLICT, None
        if worker.machine.state == WorkerState.UNHEALTHY or not self.leasing:
            return Reply.NO_TASK, None
        if worker.machine.state == WorkerState.BUSY:
            self.revoke_all(worker, "worker abandoned its lease")
        self.settle_worker(worker)
        if not (yield from self.db()):
            return Reply.UNAVAILABLE, None
        if worker.machine.state != WorkerState.IDLE or not self.leasing:
            return Reply.NO_TASK, None
        worker.machine.fire(WorkerTrigger.POLL)
        if self.queue:
            return Reply.OK, self._lease(worker)
        long_poll = self.world.policies.poll.long_poll_s
        if long_poll > 0:
            # One event ends the wait: a lease from _dispatch, None from lose_memory, or EXPIRED from
            # the long-poll timer. A triggered event is also how _dispatch knows the wait is over.
            event = self.env.event()
            pollers = self.pollers
            while pollers and pollers[0][1].triggered:
                pollers.popleft()  # ended waits (all long polls last alike, so they end in order)
            pollers.append((worker, event))
            self.env.timeout(long_poll).callbacks.append(partial(_expire, event))
            value = yield event
            if value is not EXPIRED:
                return (Reply.OK, value) if value is not None else (Reply.UNAVAILABLE, None)
        if worker.machine.state == WorkerState.POLLING:
            worker.machine.fire(WorkerTrigger.NO_TASK_AVAILABLE)
        return Reply.NO_TASK, None

    def report(
        self, worker_id: str, task_id: str, token: int, kind: str, reason: str | None = None
    ) -> Generator[simpy.Event, Any, tuple[Reply, Any]]:
        """A worker's task report; stale fencing tokens are refused (409)."""
        if not (yield from self.db()):
            return Reply.UNAVAILABLE, None
        task = self.tasks.get(task_id)
        if task is None:
            return Reply.CONFLICT, None
        if task.holder != worker_id or task.token != token:
            duplicate = task.final is not None and task.final == (token, kind)
            return (Reply.OK if duplicate else Reply.CONFLICT), None
        state = task.machine.state
        now = self.env.now
        if kind == TaskTrigger.START:
            if state == TaskState.ASSIGNED:
                task.machine.fire(TaskTrigger.START, {TraceKey.WORKER_ID: worker_id})
            task.renewed = now
            return Reply.OK, None
        if kind == TaskTrigger.PROGRESS:
            if state != TaskState.RUNNING:
                return Reply.CONFLICT, None
            task.machine.fire(TaskTrigger.PROGRESS)
            task.renewed = now
            return Reply.OK, None
        if kind == TaskTrigger.INTERRUPT:
            holder = self._release(task)
            if state == TaskState.RUNNING:
                task.machine.fire(TaskTrigger.INTERRUPT)
                task.machine.fire(TaskTrigger.REQUEUE)
            else:
                task.machine.fire(TaskTrigger.LEASE_LOST, {TraceKey.REASON: "interrupted before start"})
            self._finish_worker(holder)
            self._enqueue(task)
            return Reply.OK, None
        if kind in FINAL_REPORTS:
            expected = TaskState.ASSIGNED if kind == TaskTrigger.ALLOCATION_FAILED else TaskState.RUNNING
            if state != expected:
                return Reply.CONFLICT, None
            holder = self._release(task)
            data: dict[str, Any] = {TraceKey.WORKER_ID: worker_id}
            if reason is not None:
                data[TraceKey.REASON] = reason
            task.machine.fire(kind, data)
            task.final = (token, kind)
            self.settled += 1
            self._finish_worker(holder)
            return Reply.OK, None
        raise ValueError(f"unknown report kind {kind!r}")

    @staticmethod
    def _finish_worker(holder: WorkerEntry | None) -> None:
        if holder is not None and holder.machine.state == WorkerState.BUSY and not holder.held:
            holder.machine.fire(WorkerTrigger.TASK_FINISHED)
