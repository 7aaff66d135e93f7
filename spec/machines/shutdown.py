"""Graceful shutdown of the orchestrator and of a worker (seed 4.4).

Departures from the seed (docs/departures.md):

* The seed requests task cancellation on *every* "tasks still running" poll. Here the
  orchestrator waits up to ``ShutdownPolicy.drain_deadline_s`` first, and requests
  cancellation once, when the deadline passes; interrupted tasks are re-queued durably.
* A second stop signal forces termination from any state (``force_stop``): the seed asks for
  "force termination procedures" without drawing them.
* The seed's worker unregisters *before* settling its current task. Deregistration re-queues a
  worker's leased tasks (seed 4.2: "redistributeTasks"), so the interruption report that follows
  would then be refused by the lease's fencing token. Here the worker stops polling first (it
  takes no new work), gives its task ``worker_task_deadline_s`` to finish or interrupts it, and
  only then deregisters with the worker lifecycle's ``deregister`` (DELETE /api/v1/workers/{id}).
"""

from __future__ import annotations

from enum import StrEnum

from spec.machine import SAME, MachineSpec, StateRole, StateSpec, transition
from spec.messages import call, push, reply, step
from spec.participants import (
    ADMIN,
    DATABASE,
    HTTP_SERVER,
    ORCHESTRATOR,
    RESOURCE_MANAGER,
    TASK_QUEUE,
    WEBSOCKET_SERVER,
    WORKER,
)


class OrchestratorShutdownState(StrEnum):
    """The orchestrator_shutdown machine's states, named once for its table and every consumer."""

    RUNNING = "running"
    PAUSING_QUEUE = "pausing_queue"
    DRAINING_HTTP = "draining_http"
    REFUSING_WEBSOCKETS = "refusing_websockets"
    AWAITING_WORKFLOWS = "awaiting_workflows"
    AWAITING_TASKS = "awaiting_tasks"
    CANCELLING_TASKS = "cancelling_tasks"
    TASKS_DRAINED = "tasks_drained"
    CLOSING_WEBSOCKETS = "closing_websockets"
    STOPPING_HTTP = "stopping_http"
    STOPPING_QUEUE = "stopping_queue"
    CLOSING_DATABASE = "closing_database"
    STOPPED = "stopped"
    FORCED_STOP = "forced_stop"


class OrchestratorShutdownTrigger(StrEnum):
    """The orchestrator_shutdown machine's triggers, named once for its table and every consumer."""

    STOP = "stop"
    QUEUE_PAUSED = "queue_paused"
    HTTP_DRAINING = "http_draining"
    WEBSOCKETS_REFUSED = "websockets_refused"
    WORKFLOWS_STILL_RUNNING = "workflows_still_running"
    WORKFLOWS_SETTLED = "workflows_settled"
    TASKS_STILL_RUNNING = "tasks_still_running"
    TASKS_FINISHED = "tasks_finished"
    DRAIN_DEADLINE_REACHED = "drain_deadline_reached"
    TASKS_INTERRUPTED = "tasks_interrupted"
    NOTIFY_CLIENTS = "notify_clients"
    WEBSOCKETS_CLOSED = "websockets_closed"
    HTTP_STOPPED = "http_stopped"
    QUEUE_STOPPED = "queue_stopped"
    DATABASE_CLOSED = "database_closed"
    FORCE_STOP = "force_stop"


class WorkerShutdownState(StrEnum):
    """The worker_shutdown machine's states, named once for its table and every consumer."""

    RUNNING = "running"
    CHECKING_CURRENT_TASK = "checking_current_task"
    FINISHING_TASK = "finishing_task"
    INTERRUPTING_TASK = "interrupting_task"
    DEREGISTERING = "deregistering"
    CLEANING_WORKSPACES = "cleaning_workspaces"
    STOPPING_SERVICES = "stopping_services"
    STOPPED = "stopped"
    FORCED_STOP = "forced_stop"


class WorkerShutdownTrigger(StrEnum):
    """The worker_shutdown machine's triggers, named once for its table and every consumer."""

    STOP = "stop"
    NO_CURRENT_TASK = "no_current_task"
    TASK_IN_PROGRESS = "task_in_progress"
    TASK_FINISHED = "task_finished"
    TASK_DEADLINE_REACHED = "task_deadline_reached"
    TASK_INTERRUPTED = "task_interrupted"
    DEREGISTERED = "deregistered"
    CLEANED = "cleaned"
    SERVICES_STOPPED = "services_stopped"
    FORCE_STOP = "force_stop"


OS, OT = OrchestratorShutdownState, OrchestratorShutdownTrigger
KS, KT = WorkerShutdownState, WorkerShutdownTrigger

ORCH, TQ, HTTP, WS, DB = ORCHESTRATOR, TASK_QUEUE, HTTP_SERVER, WEBSOCKET_SERVER, DATABASE
W, RES = WORKER, RESOURCE_MANAGER

_ORCH_STOPPING = (
    OS.PAUSING_QUEUE, OS.DRAINING_HTTP, OS.REFUSING_WEBSOCKETS, OS.AWAITING_WORKFLOWS, OS.AWAITING_TASKS,
    OS.CANCELLING_TASKS, OS.TASKS_DRAINED, OS.CLOSING_WEBSOCKETS, OS.STOPPING_HTTP, OS.STOPPING_QUEUE,
    OS.CLOSING_DATABASE,
)

ORCHESTRATOR_SHUTDOWN = MachineSpec(
    name="orchestrator_shutdown",
    title="Orchestrator graceful shutdown",
    seed_section="4.4",
    description="Stop taking work, let running tasks finish (or cancel them at the deadline), tell clients, then "
    "close WebSocket, HTTP, queue and database in that order.",
    initial=OS.RUNNING,
    states=(
        StateSpec(OS.RUNNING, "Serving normally.", StateRole.RESTING),
        StateSpec(OS.PAUSING_QUEUE, "No new leases are granted from here on."),
        StateSpec(OS.DRAINING_HTTP, "New HTTP requests are refused with 503; in-flight ones finish."),
        StateSpec(OS.REFUSING_WEBSOCKETS, "New WebSocket connections are refused."),
        StateSpec(OS.AWAITING_WORKFLOWS, "Waiting for active workflows to settle."),
        StateSpec(OS.AWAITING_TASKS, "Waiting for running tasks, up to the drain deadline."),
        StateSpec(OS.CANCELLING_TASKS, "Deadline passed: workers asked to interrupt their tasks."),
        StateSpec(OS.TASKS_DRAINED, "No task runs any more."),
        StateSpec(OS.CLOSING_WEBSOCKETS, "Shutdown notice sent; connections closing."),
        StateSpec(OS.STOPPING_HTTP, "Closing the HTTP listener."),
        StateSpec(OS.STOPPING_QUEUE, "Stopping queue background processing."),
        StateSpec(OS.CLOSING_DATABASE, "Closing the connection pool."),
        StateSpec(OS.STOPPED, "Clean exit.", StateRole.TERMINAL),
        StateSpec(OS.FORCED_STOP, "Second signal: exit at once; leases recover on restart.", StateRole.TERMINAL),
    ),
    transitions=(
        transition(OT.STOP, OS.RUNNING, OS.PAUSING_QUEUE, "SIGTERM/SIGINT or stop() from the admin.",
                   call(ADMIN, ORCH, "stop()"), call(ORCH, TQ, "pause()"), step(TQ, "stopAcceptingNewTasks()")),
        transition(OT.QUEUE_PAUSED, OS.PAUSING_QUEUE, OS.DRAINING_HTTP, "The queue grants no more leases.",
                   reply(TQ, ORCH, "queue paused"), call(ORCH, HTTP, "setDrainingMode()"),
                   step(HTTP, "stopAcceptingNewRequests()")),
        transition(OT.HTTP_DRAINING, OS.DRAINING_HTTP, OS.REFUSING_WEBSOCKETS, "HTTP refuses new requests.",
                   reply(HTTP, ORCH, "draining mode set"), call(ORCH, WS, "stopAcceptingNewConnections()"),
                   step(WS, "closeNewConnections()")),
        transition(OT.WEBSOCKETS_REFUSED, OS.REFUSING_WEBSOCKETS, OS.AWAITING_WORKFLOWS, "No new WebSocket clients.",
                   reply(WS, ORCH, "new connections refused"), step(ORCH, "getActiveWorkflows()"),
                   step(ORCH, "getRunningTasks()")),
        transition(OT.WORKFLOWS_STILL_RUNNING, OS.AWAITING_WORKFLOWS, SAME, "Check again after checkInterval.",
                   step(ORCH, "checkWorkflowStatus()"), step(ORCH, "wait(checkInterval)")),
        transition(OT.WORKFLOWS_SETTLED, OS.AWAITING_WORKFLOWS, OS.AWAITING_TASKS, "No workflow is mid-step.",
                   step(ORCH, "checkWorkflowStatus()")),
        transition(OT.TASKS_STILL_RUNNING, OS.AWAITING_TASKS, SAME, "Tasks run and the deadline is not reached.",
                   call(ORCH, TQ, "getRunningTasks()"), reply(TQ, ORCH, "runningTasks"),
                   step(ORCH, "wait(checkInterval)")),
        transition(OT.TASKS_FINISHED, OS.AWAITING_TASKS, OS.TASKS_DRAINED, "Every running task ended on its own.",
                   call(ORCH, TQ, "getRunningTasks()"), reply(TQ, ORCH, "no running tasks")),
        transition(OT.DRAIN_DEADLINE_REACHED, OS.AWAITING_TASKS, OS.CANCELLING_TASKS,
                   "ShutdownPolicy.drain_deadline_s passed with tasks still running.",
                   push(ORCH, W, "requestTaskCancellation()")),
        transition(OT.TASKS_INTERRUPTED, OS.CANCELLING_TASKS, OS.TASKS_DRAINED,
                   "Workers reported their tasks interrupted, or cancel_grace_s passed; they are re-queued.",
                   call(ORCH, TQ, "getRunningTasks()"), reply(TQ, ORCH, "running tasks interrupted")),
        transition(OT.NOTIFY_CLIENTS, OS.TASKS_DRAINED, OS.CLOSING_WEBSOCKETS, "Tell WebSocket clients, then close.",
                   call(ORCH, WS, "closeAllConnections()"), step(WS, "sendShutdownNotice()"),
                   step(WS, "closeConnections()")),
        transition(OT.WEBSOCKETS_CLOSED, OS.CLOSING_WEBSOCKETS, OS.STOPPING_HTTP, "All WebSocket clients gone.",
                   reply(WS, ORCH, "connections closed"), call(ORCH, HTTP, "stop()"), step(HTTP, "closeServer()")),
        transition(OT.HTTP_STOPPED, OS.STOPPING_HTTP, OS.STOPPING_QUEUE, "The listener is closed.",
                   reply(HTTP, ORCH, "server stopped"), call(ORCH, TQ, "stop()"), step(TQ, "stopProcessing()")),
        transition(OT.QUEUE_STOPPED, OS.STOPPING_QUEUE, OS.CLOSING_DATABASE, "Queue loops stopped.",
                   reply(TQ, ORCH, "queue stopped"), call(ORCH, DB, "closeConnections()"),
                   step(DB, "closeConnectionPool()")),
        transition(OT.DATABASE_CLOSED, OS.CLOSING_DATABASE, OS.STOPPED, "Everything is closed.",
                   reply(DB, ORCH, "connections closed"), step(ORCH, "cleanupResources()"),
                   reply(ORCH, ADMIN, "shutdown complete")),
        transition(OT.FORCE_STOP, _ORCH_STOPPING, OS.FORCED_STOP, "A second signal: terminate immediately.",
                   call(ADMIN, ORCH, "stop() again"), step(ORCH, "forceTerminate()"),
                   reply(ORCH, ADMIN, "forced shutdown")),
    ),
)

_WORKER_STOPPING = (
    KS.CHECKING_CURRENT_TASK, KS.FINISHING_TASK, KS.INTERRUPTING_TASK, KS.DEREGISTERING, KS.CLEANING_WORKSPACES,
    KS.STOPPING_SERVICES,
)

WORKER_SHUTDOWN = MachineSpec(
    name="worker_shutdown",
    title="Worker graceful shutdown",
    seed_section="4.4",
    description="Stop polling, finish or interrupt the current task, deregister, clean every workspace, stop "
    "background loops.",
    initial=KS.RUNNING,
    states=(
        StateSpec(KS.RUNNING, "Working normally.", StateRole.RESTING),
        StateSpec(KS.CHECKING_CURRENT_TASK, "Polling stopped; is a task in hand?"),
        StateSpec(KS.FINISHING_TASK, "Letting the current task finish, up to worker_task_deadline_s."),
        StateSpec(KS.INTERRUPTING_TASK, "Deadline passed: stopping the task and saving its state."),
        StateSpec(KS.DEREGISTERING, "No task runs any more; leaving the registry (DELETE)."),
        StateSpec(KS.CLEANING_WORKSPACES, "Removing workspaces and releasing resources."),
        StateSpec(KS.STOPPING_SERVICES, "Stopping heartbeat and monitoring loops."),
        StateSpec(KS.STOPPED, "Clean exit.", StateRole.TERMINAL),
        StateSpec(KS.FORCED_STOP, "Second signal: exit at once; the lease expires on the orchestrator.",
                  StateRole.TERMINAL),
    ),
    transitions=(
        transition(KT.STOP, KS.RUNNING, KS.CHECKING_CURRENT_TASK, "SIGTERM/SIGINT: take no new work.",
                   step(W, "stop()"), step(W, "stopPolling()"), step(W, "getCurrentTask()")),
        transition(KT.NO_CURRENT_TASK, KS.CHECKING_CURRENT_TASK, KS.DEREGISTERING, "Nothing to wait for.",
                   step(W, "noCurrentTask()")),
        transition(KT.TASK_IN_PROGRESS, KS.CHECKING_CURRENT_TASK, KS.FINISHING_TASK, "A task is running.",
                   step(W, "awaitTaskCompletion(deadline)")),
        transition(KT.TASK_FINISHED, KS.FINISHING_TASK, KS.DEREGISTERING, "The task ended before the deadline.",
                   step(W, "taskFinished()")),
        transition(KT.TASK_DEADLINE_REACHED, KS.FINISHING_TASK, KS.INTERRUPTING_TASK,
                   "ShutdownPolicy.worker_task_deadline_s passed.", step(W, "interruptTask()")),
        transition(KT.TASK_INTERRUPTED, KS.INTERRUPTING_TASK, KS.DEREGISTERING, "Interruption recorded.",
                   step(W, "taskInterrupted()")),
        transition(KT.DEREGISTERED, KS.DEREGISTERING, KS.CLEANING_WORKSPACES, "The registry forgot this worker.",
                   call(W, RES, "cleanupAll()"), step(RES, "cleanupWorkspaces()"), step(RES, "releaseAllResources()")),
        transition(KT.CLEANED, KS.CLEANING_WORKSPACES, KS.STOPPING_SERVICES, "Workspaces removed.",
                   reply(RES, W, "cleanup complete"), step(W, "stopBackgroundServices()"), step(W, "stopHeartbeat()"),
                   step(W, "stopMonitoring()")),
        transition(KT.SERVICES_STOPPED, KS.STOPPING_SERVICES, KS.STOPPED, "Done.",
                   reply(W, W, "services stopped"), push(W, ADMIN, "worker shutdown complete")),
        transition(KT.FORCE_STOP, _WORKER_STOPPING, KS.FORCED_STOP, "A second signal: exit immediately.",
                   step(W, "forceTerminate()")),
    ),
)
