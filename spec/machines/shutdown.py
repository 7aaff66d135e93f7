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

ORCH, TQ, HTTP, WS, DB = ORCHESTRATOR, TASK_QUEUE, HTTP_SERVER, WEBSOCKET_SERVER, DATABASE
W, RES = WORKER, RESOURCE_MANAGER

_ORCH_STOPPING = (
    "pausing_queue", "draining_http", "refusing_websockets", "awaiting_workflows", "awaiting_tasks",
    "cancelling_tasks", "tasks_drained", "closing_websockets", "stopping_http", "stopping_queue", "closing_database",
)

ORCHESTRATOR_SHUTDOWN = MachineSpec(
    name="orchestrator_shutdown",
    title="Orchestrator graceful shutdown",
    seed_section="4.4",
    description="Stop taking work, let running tasks finish (or cancel them at the deadline), tell clients, then "
    "close WebSocket, HTTP, queue and database in that order.",
    initial="running",
    states=(
        StateSpec("running", "Serving normally.", StateRole.RESTING),
        StateSpec("pausing_queue", "No new leases are granted from here on."),
        StateSpec("draining_http", "New HTTP requests are refused with 503; in-flight ones finish."),
        StateSpec("refusing_websockets", "New WebSocket connections are refused."),
        StateSpec("awaiting_workflows", "Waiting for active workflows to settle."),
        StateSpec("awaiting_tasks", "Waiting for running tasks, up to the drain deadline."),
        StateSpec("cancelling_tasks", "Deadline passed: workers asked to interrupt their tasks."),
        StateSpec("tasks_drained", "No task runs any more."),
        StateSpec("closing_websockets", "Shutdown notice sent; connections closing."),
        StateSpec("stopping_http", "Closing the HTTP listener."),
        StateSpec("stopping_queue", "Stopping queue background processing."),
        StateSpec("closing_database", "Closing the connection pool."),
        StateSpec("stopped", "Clean exit.", StateRole.TERMINAL),
        StateSpec("forced_stop", "Second signal: exit at once; leases recover on restart.", StateRole.TERMINAL),
    ),
    transitions=(
        transition("stop", "running", "pausing_queue", "SIGTERM/SIGINT or stop() from the admin.",
                   call(ADMIN, ORCH, "stop()"), call(ORCH, TQ, "pause()"), step(TQ, "stopAcceptingNewTasks()")),
        transition("queue_paused", "pausing_queue", "draining_http", "The queue grants no more leases.",
                   reply(TQ, ORCH, "queue paused"), call(ORCH, HTTP, "setDrainingMode()"),
                   step(HTTP, "stopAcceptingNewRequests()")),
        transition("http_draining", "draining_http", "refusing_websockets", "HTTP refuses new requests.",
                   reply(HTTP, ORCH, "draining mode set"), call(ORCH, WS, "stopAcceptingNewConnections()"),
                   step(WS, "closeNewConnections()")),
        transition("websockets_refused", "refusing_websockets", "awaiting_workflows", "No new WebSocket clients.",
                   reply(WS, ORCH, "new connections refused"), step(ORCH, "getActiveWorkflows()"),
                   step(ORCH, "getRunningTasks()")),
        transition("workflows_still_running", "awaiting_workflows", SAME, "Check again after checkInterval.",
                   step(ORCH, "checkWorkflowStatus()"), step(ORCH, "wait(checkInterval)")),
        transition("workflows_settled", "awaiting_workflows", "awaiting_tasks", "No workflow is mid-step.",
                   step(ORCH, "checkWorkflowStatus()")),
        transition("tasks_still_running", "awaiting_tasks", SAME, "Tasks run and the deadline is not reached.",
                   call(ORCH, TQ, "getRunningTasks()"), reply(TQ, ORCH, "runningTasks"),
                   step(ORCH, "wait(checkInterval)")),
        transition("tasks_finished", "awaiting_tasks", "tasks_drained", "Every running task ended on its own.",
                   call(ORCH, TQ, "getRunningTasks()"), reply(TQ, ORCH, "no running tasks")),
        transition("drain_deadline_reached", "awaiting_tasks", "cancelling_tasks",
                   "ShutdownPolicy.drain_deadline_s passed with tasks still running.",
                   push(ORCH, W, "requestTaskCancellation()")),
        transition("tasks_interrupted", "cancelling_tasks", "tasks_drained",
                   "Workers reported their tasks interrupted, or cancel_grace_s passed; they are re-queued.",
                   call(ORCH, TQ, "getRunningTasks()"), reply(TQ, ORCH, "running tasks interrupted")),
        transition("notify_clients", "tasks_drained", "closing_websockets", "Tell WebSocket clients, then close.",
                   call(ORCH, WS, "closeAllConnections()"), step(WS, "sendShutdownNotice()"),
                   step(WS, "closeConnections()")),
        transition("websockets_closed", "closing_websockets", "stopping_http", "All WebSocket clients gone.",
                   reply(WS, ORCH, "connections closed"), call(ORCH, HTTP, "stop()"), step(HTTP, "closeServer()")),
        transition("http_stopped", "stopping_http", "stopping_queue", "The listener is closed.",
                   reply(HTTP, ORCH, "server stopped"), call(ORCH, TQ, "stop()"), step(TQ, "stopProcessing()")),
        transition("queue_stopped", "stopping_queue", "closing_database", "Queue loops stopped.",
                   reply(TQ, ORCH, "queue stopped"), call(ORCH, DB, "closeConnections()"),
                   step(DB, "closeConnectionPool()")),
        transition("database_closed", "closing_database", "stopped", "Everything is closed.",
                   reply(DB, ORCH, "connections closed"), step(ORCH, "cleanupResources()"),
                   reply(ORCH, ADMIN, "shutdown complete")),
        transition("force_stop", _ORCH_STOPPING, "forced_stop", "A second signal: terminate immediately.",
                   call(ADMIN, ORCH, "stop() again"), step(ORCH, "forceTerminate()"),
                   reply(ORCH, ADMIN, "forced shutdown")),
    ),
)

_WORKER_STOPPING = (
    "checking_current_task", "finishing_task", "interrupting_task", "deregistering", "cleaning_workspaces",
    "stopping_services",
)

WORKER_SHUTDOWN = MachineSpec(
    name="worker_shutdown",
    title="Worker graceful shutdown",
    seed_section="4.4",
    description="Stop polling, finish or interrupt the current task, deregister, clean every workspace, stop "
    "background loops.",
    initial="running",
    states=(
        StateSpec("running", "Working normally.", StateRole.RESTING),
        StateSpec("checking_current_task", "Polling stopped; is a task in hand?"),
        StateSpec("finishing_task", "Letting the current task finish, up to worker_task_deadline_s."),
        StateSpec("interrupting_task", "Deadline passed: stopping the task and saving its state."),
        StateSpec("deregistering", "No task runs any more; leaving the registry (DELETE)."),
        StateSpec("cleaning_workspaces", "Removing workspaces and releasing resources."),
        StateSpec("stopping_services", "Stopping heartbeat and monitoring loops."),
        StateSpec("stopped", "Clean exit.", StateRole.TERMINAL),
        StateSpec("forced_stop", "Second signal: exit at once; the lease expires on the orchestrator.",
                  StateRole.TERMINAL),
    ),
    transitions=(
        transition("stop", "running", "checking_current_task", "SIGTERM/SIGINT: take no new work.",
                   step(W, "stop()"), step(W, "stopPolling()"), step(W, "getCurrentTask()")),
        transition("no_current_task", "checking_current_task", "deregistering", "Nothing to wait for.",
                   step(W, "noCurrentTask()")),
        transition("task_in_progress", "checking_current_task", "finishing_task", "A task is running.",
                   step(W, "awaitTaskCompletion(deadline)")),
        transition("task_finished", "finishing_task", "deregistering", "The task ended before the deadline.",
                   step(W, "taskFinished()")),
        transition("task_deadline_reached", "finishing_task", "interrupting_task",
                   "ShutdownPolicy.worker_task_deadline_s passed.", step(W, "interruptTask()")),
        transition("task_interrupted", "interrupting_task", "deregistering", "Interruption recorded.",
                   step(W, "taskInterrupted()")),
        transition("deregistered", "deregistering", "cleaning_workspaces", "The registry forgot this worker.",
                   call(W, RES, "cleanupAll()"), step(RES, "cleanupWorkspaces()"), step(RES, "releaseAllResources()")),
        transition("cleaned", "cleaning_workspaces", "stopping_services", "Workspaces removed.",
                   reply(RES, W, "cleanup complete"), step(W, "stopBackgroundServices()"), step(W, "stopHeartbeat()"),
                   step(W, "stopMonitoring()")),
        transition("services_stopped", "stopping_services", "stopped", "Done.",
                   reply(W, W, "services stopped"), push(W, ADMIN, "worker shutdown complete")),
        transition("force_stop", _WORKER_STOPPING, "forced_stop", "A second signal: exit immediately.",
                   step(W, "forceTerminate()")),
    ),
)
