"""A worker as the registry sees it (seed 4.2): register, heartbeat, poll, health, deregister.

Departures from the seed's 4.2 diagram (docs/departures.md):

* The seed's poll loop has the Task Queue ask the Load Balancer to ``selectBestWorker(task)``,
  but the worker is already known: it is the one polling. Here a poll asks the load balancer
  to select the best *task* for that worker (capability match, priority with aging); the
  least-loaded choice happens across workers polling concurrently.
* The seed answers every poll with "task assigned" and only then branches on availability.
  Here ``poll`` is one state and the answer is either ``task_received`` or ``no_task_available``.
* Invalid capabilities reject the registration (``capabilities_rejected``); the seed only
  draws the valid case.
* A worker removed from rotation can come back with a healthy heartbeat (``health_restored``);
  missed heartbeats (``heartbeats_missed``) remove it just like a reported unhealthy status.
"""

from __future__ import annotations

from enum import StrEnum

from spec.machine import SAME, MachineSpec, StateRole, StateSpec, transition
from spec.messages import call, reply, step
from spec.participants import (
    CAPABILITY_MANAGER,
    HEALTH_MONITOR,
    LOAD_BALANCER,
    REGISTRATION_API,
    TASK_QUEUE,
    WORKER,
)

W, REG, CAP, TQ, HM, LB = WORKER, REGISTRATION_API, CAPABILITY_MANAGER, TASK_QUEUE, HEALTH_MONITOR, LOAD_BALANCER


class WorkerState(StrEnum):
    """The worker_lifecycle machine's states, named once for its table and every consumer."""

    OFFLINE = "offline"
    REGISTERING = "registering"
    IDLE = "idle"
    POLLING = "polling"
    BUSY = "busy"
    UNHEALTHY = "unhealthy"
    REJECTED = "rejected"
    DEREGISTERED = "deregistered"


class WorkerTrigger(StrEnum):
    """The worker_lifecycle machine's triggers, named once for its table and every consumer."""

    REGISTER = "register"
    CAPABILITIES_ACCEPTED = "capabilities_accepted"
    CAPABILITIES_REJECTED = "capabilities_rejected"
    HEARTBEAT = "heartbeat"
    HEALTH_REPORTED = "health_reported"
    REPORTED_UNHEALTHY = "reported_unhealthy"
    HEARTBEATS_MISSED = "heartbeats_missed"
    HEALTH_RESTORED = "health_restored"
    POLL = "poll"
    TASK_RECEIVED = "task_received"
    NO_TASK_AVAILABLE = "no_task_available"
    TASK_FINISHED = "task_finished"
    DEREGISTER = "deregister"


S, T = WorkerState, WorkerTrigger

WORKER_LIFECYCLE = MachineSpec(
    name="worker_lifecycle",
    title="Worker registration, polling and health",
    seed_section="4.2",
    description="A worker registers with validated capabilities, heartbeats, polls for work, is taken out of "
    "rotation when unhealthy and finally deregisters.",
    initial=S.OFFLINE,
    states=(
        StateSpec(S.OFFLINE, "Process not yet registered.", StateRole.RESTING),
        StateSpec(S.REGISTERING, "Registration sent; capabilities under validation."),
        StateSpec(S.IDLE, "Registered and healthy, no task in hand.", StateRole.RESTING),
        StateSpec(S.POLLING, "A poll request is waiting for an answer."),
        StateSpec(S.BUSY, "Executing a leased task."),
        StateSpec(S.UNHEALTHY, "Out of rotation: missed heartbeats or reported unhealthy; its tasks re-queued.",
                  StateRole.RESTING),
        StateSpec(S.REJECTED, "Registration refused: invalid capabilities.", StateRole.TERMINAL),
        StateSpec(S.DEREGISTERED, "Removed from the registry; its tasks re-queued.", StateRole.TERMINAL),
    ),
    transitions=(
        transition(T.REGISTER, S.OFFLINE, S.REGISTERING, "The worker starts and registers its capabilities.",
                   step(W, "start()"), step(W, "detectCapabilities()"), step(W, "generateWorkerId()"),
                   call(W, REG, "POST /api/v1/workers/register"),
                   call(REG, CAP, "validateCapabilities(capabilities)")),
        transition(T.CAPABILITIES_ACCEPTED, S.REGISTERING, S.IDLE, "Capabilities valid; the worker joins rotation.",
                   reply(CAP, REG, "capabilities valid"), call(REG, TQ, "registerWorker(workerId, capabilities)"),
                   reply(TQ, REG, "worker registered"), reply(REG, W, "registration successful"),
                   call(W, HM, "startHeartbeat(workerId)")),
        transition(T.CAPABILITIES_REJECTED, S.REGISTERING, S.REJECTED, "Unknown or malformed capability names.",
                   reply(CAP, REG, "capabilities invalid"), reply(REG, W, "422 registration rejected")),
        transition(T.HEARTBEAT, (S.IDLE, S.POLLING, S.BUSY), SAME, "A periodic heartbeat keeps the worker alive.",
                   call(HM, REG, "POST /api/v1/workers/heartbeat"), call(REG, TQ, "updateWorkerHeartbeat(workerId)"),
                   reply(TQ, REG, "heartbeat updated"), reply(REG, HM, "heartbeat acknowledged"),
                   step(HM, "wait(heartbeatInterval)")),
        transition(T.HEALTH_REPORTED, (S.IDLE, S.POLLING, S.BUSY), SAME,
                   "The worker's self-check result travels in the heartbeat.",
                   call(HM, W, "checkSystemHealth()"), step(W, "checkResourceUsage()"), step(W, "checkTaskExecution()"),
                   call(HM, REG, "health status in heartbeat"), call(REG, TQ, "updateWorkerHealth(workerId, health)")),
        transition(T.REPORTED_UNHEALTHY, (S.IDLE, S.POLLING, S.BUSY), S.UNHEALTHY,
                   "The heartbeat reports the worker unhealthy.",
                   call(TQ, LB, "removeWorkerFromRotation(workerId)"), step(LB, "redistributeTasks(workerId)")),
        transition(T.HEARTBEATS_MISSED, (S.IDLE, S.POLLING, S.BUSY), S.UNHEALTHY,
                   "No heartbeat for HeartbeatPolicy.timeout_s.",
                   step(TQ, "detectMissedHeartbeats(workerId)"), call(TQ, LB, "removeWorkerFromRotation(workerId)"),
                   step(LB, "redistributeTasks(workerId)")),
        transition(T.HEALTH_RESTORED, S.UNHEALTHY, S.IDLE, "A healthy heartbeat returns the worker to rotation.",
                   call(HM, REG, "POST /api/v1/workers/heartbeat"), call(REG, TQ, "updateWorkerHealth(workerId, ok)"),
                   call(TQ, LB, "addWorkerToRotation(workerId)")),
        transition(T.POLL, S.IDLE, S.POLLING, "The worker asks for work.",
                   call(W, TQ, "GET /api/v1/tasks/poll?workerId")),
        transition(T.TASK_RECEIVED, S.POLLING, S.BUSY, "A task was leased to this worker.",
                   reply(TQ, W, "200 task assigned (lease, fencing token)")),
        transition(T.NO_TASK_AVAILABLE, S.POLLING, S.IDLE, "Nothing fits: 204, back off before polling again.",
                   reply(TQ, W, "204 No Content"), step(W, "wait(pollInterval)")),
        transition(T.TASK_FINISHED, S.BUSY, S.IDLE, "The task ended (completed, failed or interrupted).",
                   step(W, "freeTaskSlot()")),
        transition(T.DEREGISTER, (S.IDLE, S.POLLING, S.BUSY, S.UNHEALTHY), S.DEREGISTERED,
                   "The worker leaves; anything it held goes back to the queue.",
                   call(W, REG, "DELETE /api/v1/workers/{workerId}"), call(REG, TQ, "unregisterWorker(workerId)"),
                   call(TQ, LB, "removeWorker(workerId)"), step(LB, "redistributeTasks(workerId)"),
                   reply(REG, W, "deregistration complete")),
    ),
)

#: States of a worker in rotation: the ones a missed heartbeat can take it out of.
LIVE_STATES: frozenset[str] = frozenset(WORKER_LIFECYCLE.transition_for(S.IDLE, T.HEARTBEATS_MISSED).source)
#: Triggers that prove a worker alive and restart its heartbeat timeout.
LIVENESS_TRIGGERS: frozenset[str] = frozenset({T.CAPABILITIES_ACCEPTED, T.HEARTBEAT, T.HEALTH_RESTORED})
