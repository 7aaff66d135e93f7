"""Workflows of several tasks (issue 12): which DAGs are accepted, and what each task outcome sets off.

One rule for the orchestrator's store (submission, lease reports, lease loss, cancellation) and
for anything checking it:

* a submitted graph is refused, naming the task and the field path (``tasks.1.dependsOn``), when
  it has more than ``WorkflowPolicy.max_tasks`` tasks, a duplicate id, a dependency on an id
  it does not declare (or twice on one), or a cycle (a self-dependency included);
* a task with dependencies starts ``blocked`` and is released to ``queued`` when its last
  dependency completes;
* a task that fails ends its workflow per the workflow's `FailurePolicy`: ``fail_fast`` fails it
  at once and cancels every other task (waiting ones at once, leased ones through their
  worker); ``finish_independent`` skips every task that depends on the failed one, directly or
  not, and lets the rest finish;
* the workflow settles when no task is left open: completed if every task completed, failed
  otherwise; a cancel ends it ``cancelled`` the same way fail_fast ends the others;
* a lease that ends (expired, worker lost, interrupted) after its workflow is over does not
  re-queue its task: the task ends ``cancelled``.

`WorkflowTasks` costs O(dependents) per completion and O(tasks) only when it cancels or skips,
so a workflow's whole run stays linear in its size.
"""

from __future__ import annotations

import graphlib
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from spec.errors import SpecError
from spec.machine import StateRole
from spec.machines.task_lifecycle import LEASED_STATES, TASK_LIFECYCLE, TaskState, TaskTrigger
from spec.machines.workflow_lifecycle import WorkflowTrigger

#: Task states no transition leaves.
SETTLED_STATES: frozenset[str] = frozenset(s.name for s in TASK_LIFECYCLE.states if s.role is StateRole.TERMINAL)
#: Task states that wait in the orchestrator for a worker: a cancel ends these at once.
WAITING_STATES: frozenset[str] = frozenset({TaskState.QUEUED, TaskState.BLOCKED})

#: The request fields the refusals name (camelCase, as on the wire).
TASKS_FIELD, ID_FIELD, DEPENDS_ON_FIELD = "tasks", "id", "dependsOn"


class FailurePolicy(StrEnum):
    """What a failed task does to the rest of its workflow (``failurePolicy`` of a submission)."""

    FAIL_FAST = "fail_fast"
    FINISH_INDEPENDENT = "finish_independent"


class TaskGraphError(SpecError, ValueError):
    """A submitted task graph is refused: `field` is the request path, `task_id` the task it names."""

    def __init__(self, field: str, reason: str, task_id: str | None = None) -> None:
        self.field = field
        self.reason = reason
        self.task_id = task_id
        super().__init__(f"{field}: {reason}")


@dataclass(frozen=True)
class TaskGraph:
    """Tasks and their dependencies, every id once, in submission order; acyclic by construction."""

    depends_on: Mapping[str, tuple[str, ...]]
    dependents: Mapping[str, tuple[str, ...]]

    @classmethod
    def of(cls, edges: Mapping[str, Sequence[str]]) -> TaskGraph:
        """The graph of `edges` (task id → its dependencies), already validated (stored rows)."""
        dependents: dict[str, list[str]] = {task: [] for task in edges}
        for task, needs in edges.items():
            for need in needs:
                dependents[need].append(task)
        return cls({t: tuple(n) for t, n in edges.items()}, {t: tuple(d) for t, d in dependents.items()})

    @property
    def tasks(self) -> tuple[str, ...]:
        return tuple(self.depends_on)

    def initial_state(self, task_id: str) -> str:
        """``blocked`` for a task with dependencies, else ``queued``."""
        return TaskState.BLOCKED if self.depends_on[task_id] else TaskState.QUEUED


def validate_graph(tasks: Sequence[tuple[str, Sequence[str]]], max_tasks: int) -> TaskGraph:
    """The graph of `tasks` (``(id, dependsOn)`` in request order), or the `TaskGraphError` of its first problem."""
    if len(tasks) > max_tasks:
        raise TaskGraphError(TASKS_FIELD, f"{len(tasks)} tasks; a workflow may have at most {max_tasks} "
                             "(WorkflowPolicy.max_tasks)")
    index: dict[str, int] = {}
    for i, (task_id, _) in enumerate(tasks):
        if task_id in index:
            raise TaskGraphError(f"{TASKS_FIELD}.{i}.{ID_FIELD}", f"duplicate task id {task_id!r} (also "
                                 f"{TASKS_FIELD}.{index[task_id]}.{ID_FIELD}); give every task its own id", task_id)
        index[task_id] = i
    for i, (task_id, needs) in enumerate(tasks):
        field = f"{TASKS_FIELD}.{i}.{DEPENDS_ON_FIELD}"
        seen: set[str] = set()
        for need in needs:
            if need not in index:
                raise TaskGraphError(field, f"task {task_id!r} depends on {need!r}, which is not one of this "
                                     f"workflow's task ids", task_id)
            if need in seen:
                raise TaskGraphError(field, f"task {task_id!r} lists {need!r} twice", task_id)
            seen.add(need)
    sorter = graphlib.TopologicalSorter({task_id: needs for task_id, needs in tasks})
    try:
        sorter.prepare()
    except graphlib.CycleError as exc:
        cycle: list[str] = exc.args[1]  # [a, b, ..., a]: each depends on the one after it
        first = min(cycle, key=index.__getitem__)
        path = " -> ".join(cycle)
        raise TaskGraphError(f"{TASKS_FIELD}.{index[first]}.{DEPENDS_ON_FIELD}",
                             f"task {first!r} is part of a dependency cycle ({path}); a workflow must be acyclic",
                             first) from None
    return TaskGraph.of({task_id: list(needs) for task_id, needs in tasks})


@dataclass(frozen=True)
class Settlement:
    """What one outcome (or a cancel) sets off, for the driver to fire on each task and the workflow.

    `release` fire ``release`` (blocked → queued), `skip` fire ``skip``, `cancel` fire ``cancel``
    (waiting tasks), `interrupt` are leased tasks whose worker is asked to stop (their lease end
    then fires ``cancel``/``abandon``, see `lease_end_trigger`); `workflow` is the workflow
    trigger to fire, if any.
    """

    release: tuple[str, ...] = ()
    skip: tuple[str, ...] = ()
    cancel: tuple[str, ...] = ()
    interrupt: tuple[str, ...] = ()
    workflow: WorkflowTrigger | None = None


class WorkflowTasks:
    """The tasks of one active workflow, fed their outcomes; answers what each sets off.

    `states` are the tasks' current `task_lifecycle` states; the driver reports each task it
    settles (`settled`) and fires what the answer says, which this object has already applied
    to its own copy of the states.
    """

    __slots__ = ("_open", "graph", "policy", "states")

    def __init__(self, graph: TaskGraph, states: Mapping[str, str], policy: FailurePolicy) -> None:
        self.graph = graph
        self.policy = policy
        self.states = dict(states)
        self._open = sum(1 for s in self.states.values() if s not in SETTLED_STATES)

    def settled(self, task_id: str, state: str) -> Settlement:
        """Task `task_id` reached terminal `state` (completed or failed) while the workflow is active."""
        if self.states[task_id] not in SETTLED_STATES:
            self._open -= 1
        self.states[task_id] = state
        if state == TaskState.COMPLETED:
            release = tuple(d for d in self.graph.dependents[task_id] if self._ready(d))
            for d in release:
                self.states[d] = TaskState.QUEUED
            return Settlement(release=release, workflow=self._outcome())
        if self.policy is FailurePolicy.FAIL_FAST:
            return self._stop(WorkflowTrigger.FAIL)
        skip = self._blocked_dependents_of(task_id)
        self._end(skip, TaskState.SKIPPED)
        return Settlement(skip=skip, workflow=self._outcome())

    def cancel(self) -> Settlement:
        """The client cancels the workflow."""
        return self._stop(WorkflowTrigger.CANCEL)

    def _stop(self, trigger: WorkflowTrigger) -> Settlement:
        settlement = stop(self.states, trigger)
        self._end(settlement.cancel, TaskState.CANCELLED)
        return settlement

    def _ready(self, task_id: str) -> bool:
        return self.states[task_id] == TaskState.BLOCKED and all(
            self.states[n] == TaskState.COMPLETED for n in self.graph.depends_on[task_id])

    def _blocked_dependents_of(self, task_id: str) -> tuple[str, ...]:
        """Every task depending on `task_id`, directly or not, that still waits (breadth first)."""
        found: dict[str, None] = {}
        frontier = deque(self.graph.dependents[task_id])
        while frontier:
            task = frontier.popleft()
            if task in found or self.states[task] != TaskState.BLOCKED:
                continue
            found[task] = None
            frontier.extend(self.graph.dependents[task])
        return tuple(found)

    def _end(self, tasks: tuple[str, ...], state: str) -> None:
        for task in tasks:
            self.states[task] = state
        self._open -= len(tasks)

    def _outcome(self) -> WorkflowTrigger | None:
        if self._open:
            return None
        if all(s == TaskState.COMPLETED for s in self.states.values()):
            return WorkflowTrigger.COMPLETE
        return WorkflowTrigger.FAIL


def stop(states: Mapping[str, str], trigger: WorkflowTrigger) -> Settlement:
    """End a workflow by `trigger` (``cancel``, or ``fail`` under fail_fast): cancel what waits, interrupt what runs."""
    return Settlement(cancel=tuple(t for t, s in states.items() if s in WAITING_STATES),
                      interrupt=tuple(t for t, s in states.items() if s in LEASED_STATES), workflow=trigger)


def lease_end_trigger(workflow_active: bool) -> TaskTrigger:
    """The trigger a leased task fires when its lease ends without an outcome.

    Active workflow: ``lease_lost`` (re-queued). A workflow already over (cancelled, failed fast):
    ``abandon`` — the task ends cancelled. An interruption moves a running task to
    ``interrupted`` first, which `interrupted_trigger` then settles.
    """
    return TaskTrigger.LEASE_LOST if workflow_active else TaskTrigger.ABANDON


def interrupted_trigger(workflow_active: bool) -> TaskTrigger:
    """An interrupted task is re-queued (``requeue``) unless its workflow is over (``cancel``)."""
    return TaskTrigger.REQUEUE if workflow_active else TaskTrigger.CANCEL
