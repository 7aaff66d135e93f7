"""Lease reports (``started``, ``completed``, ``failed``) applied as a set (seed 4.3, issue 3 "Performance").

The single endpoints and ``/tasks/reports`` both come here: a report is a batch of one. A
batch reads every row it needs in three queries, applies the reports in order to those rows in
memory — each through the `task_lifecycle` machine, with the same checks and in the same order
as before: unknown task, unknown worker, stale lease (409), illegal transition (409) — and
writes the result back with one ``executemany`` per table. Through the ORM unit of work the
same work cost ~1.5 ms per task, most of the orchestrator's time (docs/runtime.md, "Performance").

A failure report is decided by `spec.decisions.task_retry`: a failure the task's retry policy
retries goes back to ``queued`` (``retry``) with a not-before time and a bumped fencing token,
so the attempt's late reports are refused like any stale lease's; any other failure fails it.

A refused report changes nothing: it is checked against the rows as the earlier reports of
the batch left them, and only applied reports touch those rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from runtime.errors import ApiError, ConflictError
from runtime.protocol import BatchedReport, Event, EventType, ReportKind
from runtime.store.changes import ChangeLog, task_component, workflow_component
from runtime.store.queue import (
    COMPLETED,
    RUNNING,
    TASK,
    WF_ACTIVE,
    WF_PENDING,
    WORKFLOW,
    check_lease,
    failure_trigger,
    free_slot,
    unknown_task,
    unknown_worker,
)
from runtime.store.queue_rows import QueueRows, SqliteQueueRows, TaskOutcome, queue_rows
from runtime.store.task_graphs import StoredGraph, stored_graphs
from spec.decisions.task_graph import FailurePolicy, TaskGraph, WorkflowTasks
from spec.decisions.task_retry import TaskRetryDecision, TaskRetryRules
from spec.errors import IllegalTransitionError
from spec.machine import StateRole
from spec.machines import TASK_LIFECYCLE
from spec.machines.task_lifecycle import TaskTrigger
from spec.machines.workflow_lifecycle import WorkflowTrigger
from spec.trace import TraceKey

#: Task states no report leaves: a completed or failed report about one is a redelivery, or refused.
SETTLED = tuple(s.name for s in TASK_LIFECYCLE.states if s.role is StateRole.TERMINAL)


@dataclass(frozen=True)
class ReportApplied:
    """An accepted report: the task's new status and its (unchanged) fencing token."""

    task_id: str
    status: str
    fencing_token: int


@dataclass(frozen=True)
class ReportRefused:
    """A refused report and the error its single endpoint raises (`ApiError` or 409 illegal transition)."""

    task_id: str
    error: ApiError | IllegalTransitionError


ReportAnswer = ReportApplied | ReportRefused


@dataclass(slots=True)
class _Task:
    id: str
    workflow_id: str
    status: str
    lease_worker: str | None
    fencing_token: int
    attempt: int
    #: Columns to write back, with their new values.
    changed: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class _Worker:
    id: str
    status: str
    running: int
    incarnation: int
    changed: bool = False


@dataclass(slots=True)
class _Workflow:
    id: str
    status: str
    changed: bool = False


class _Batch:
    """The rows one batch touches, the changes made to them, and the events to insert."""

    def __init__(self, changes: ChangeLog, now: float, ttl: float, retry: TaskRetryRules) -> None:
        self.changes = changes
        self.now = now
        self.ttl = ttl
        self.retry = retry
        #: The failing tasks' own retry fields (loaded only for tasks a failure report is about).
        self.retry_overrides: dict[str, dict[str, Any]] = {}
        self.tasks: dict[str, _Task] = {}
        self.siblings: dict[str, list[_Task]] = {}
        self.workers: dict[str, _Worker] = {}
        self.workflows: dict[str, _Workflow] = {}
        self.events: list[dict[str, Any]] = []
        self.outcomes: dict[str, TaskOutcome] = {}
        #: Multi-task workflows' graphs (`runtime.store.task_graphs`), and their trackers once a task settles.
        self.graphs: dict[str, StoredGraph] = {}
        self.trackers: dict[str, WorkflowTasks] = {}

    async def load(self, rows: QueueRows, reports: Sequence[BatchedReport]) -> None:
        # Every task of the reported tasks' workflows: "was that the workflow's last task?" needs no query.
        for row in await rows.tasks_of_workflows_of(list({r.task_id for r in reports})):
            task = _Task(*row)
            self.tasks[task.id] = task
            self.siblings.setdefault(task.workflow_id, []).append(task)
        worker_ids = {r.worker_id for r in reports} | {t.lease_worker for t in self.tasks.values() if t.lease_worker}
        for w in await rows.workers(list(worker_ids)):
            self.workers[w.id] = _Worker(w.id, w.status, w.running, w.incarnation)
        for workflow_id, status in await rows.workflows(list(self.siblings)):
            self.workflows[workflow_id] = _Workflow(workflow_id, status)
        # Outcome reports about tasks already settled: redeliveries to compare (rare, so loaded only then).
        settled = [r.task_id for r in reports if r.kind is not ReportKind.STARTED and r.task_id in self.tasks
                   and self.tasks[r.task_id].status in SETTLED]
        if settled:
            self.outcomes = await rows.outcomes(settled)
        failing = [r.task_id for r in reports if r.kind is ReportKind.FAILED and r.task_id in self.tasks]
        if failing:
            self.retry_overrides = await rows.retry_overrides(failing)

    def apply(self, report: BatchedReport) -> ReportAnswer:
        try:
            task = self._leased_task(report)
            if report.kind is ReportKind.STARTED:
                self._start(task, report)
            elif report.kind is ReportKind.COMPLETED:
                self._complete(task, report)
            else:
                self._fail(task, report)
        except (ApiError, IllegalTransitionError) as exc:
            return ReportRefused(report.task_id, exc)
        return ReportApplied(task.id, task.status, task.fencing_token)

    def _leased_task(self, report: BatchedReport) -> _Task:
        task = self.tasks.get(report.task_id)
        if task is None:
            raise unknown_task(report.task_id)
        if report.worker_id not in self.workers:
            raise unknown_worker(report.worker_id)
        check_lease(task.id, task.lease_worker, task.fencing_token, report)
        return task

    def _advance_task(self, task: _Task, trigger: str, data: dict[str, Any]) -> None:
        """Fire `trigger` (raises `IllegalTransitionError` before anything changes)."""
        task.status = self.changes.advance(TASK, task_component(task.id), task.status, trigger, data)
        task.changed["status"] = task.status
        task.changed["updated_at"] = self.now

    def _start(self, task: _Task, report: BatchedReport) -> None:
        """A redelivered ``started`` from the lease holder (its answer was lost) only renews the lease."""
        if task.status != RUNNING:
            self._advance_task(task, "start", {"workerId": report.worker_id})
            workflow = self.workflows[task.workflow_id]
            if workflow.status == WF_PENDING:
                self._advance_workflow(workflow, "task_started")
            self._event(EventType.TASK_STARTED, task.workflow_id, task.id,
                        {"workerId": report.worker_id, "attempt": task.attempt})
        task.changed["lease_expires_at"] = self.now + self.ttl
        task.changed["updated_at"] = self.now

    def _redelivered(self, task: _Task, report: BatchedReport) -> bool:
        """A repeated outcome report from the lease holder whose first answer was lost (issue: SIGKILL after commit).

        Same content: answered as the first one was (200), nothing changes. Different content:
        409 naming the field that differs — the task settled otherwise.
        """
        if task.status not in SETTLED or task.id not in self.outcomes:
            return False
        result, error = self.outcomes[task.id]
        if report.kind is ReportKind.COMPLETED:
            if task.status == COMPLETED and result == report.result:
                return True
            field = "result" if task.status == COMPLETED else "kind"
        else:
            sent = report.error.model_dump(by_alias=True) if report.error is not None else None
            if task.status != COMPLETED and error == sent:
                return True
            field = "error" if task.status != COMPLETED else "kind"
        raise ConflictError(f"task {task.id} already {task.status} with another {field} under this lease; "
                            "the first report was applied, this one changes nothing", field=field)

    def _complete(self, task: _Task, report: BatchedReport) -> None:
        if self._redelivered(task, report):
            return
        self._advance_task(task, "complete", {})
        task.changed.update(result=dict(report.result), progress=100.0)
        self._release_lease(task)
        self._event(EventType.TASK_COMPLETED, task.workflow_id, task.id, {"result": report.result,
                                                                          "attempt": task.attempt})
        self._settle(task, None)

    def _fail(self, task: _Task, report: BatchedReport) -> None:
        assert report.error is not None  # BatchedReport validates it
        if self._redelivered(task, report):
            return
        decision = self.retry.decide(task_id=task.id, attempt=max(1, task.attempt), now=self.now,
                                     error_class=report.error.error_class, override=self.retry_overrides.get(task.id))
        if decision.retry and self.workflows[task.workflow_id].status in WF_ACTIVE:
            # (a task of a workflow already cancelled or failed fast is not retried: it ends failed)
            self._retry(task, report, decision)
            return
        self._advance_task(task, failure_trigger(task.status, report.error.code), {"code": report.error.code})
        error = report.error.model_dump(by_alias=True)
        task.changed["error"] = error
        self._release_lease(task)
        self._event(EventType.TASK_FAILED, task.workflow_id, task.id, {"error": error, "attempt": task.attempt})
        self._settle(task, error)

    def _settle(self, task: _Task, error: dict[str, Any] | None) -> None:
        """`task` completed or failed: fire what `spec.decisions.task_graph` says it sets off in its workflow."""
        workflow = self.workflows[task.workflow_id]
        if workflow.status not in WF_ACTIVE:
            return  # cancelled or failed fast already: a late outcome changes nothing else
        stored = self.graphs.get(workflow.id)
        if error is not None and stored is not None:
            stored.errors[task.id] = error
        tracker = self.trackers.get(workflow.id)
        if tracker is None:
            siblings = self.siblings[workflow.id]
            graph = stored.graph(t.id for t in siblings) if stored is not None else TaskGraph.of(
                {t.id: [] for t in siblings})
            policy = stored.policy if stored is not None else FailurePolicy.FAIL_FAST
            tracker = self.trackers[workflow.id] = WorkflowTasks(graph, {t.id: t.status for t in siblings}, policy)
        settlement = tracker.settled(task.id, task.status)
        for task_id in settlement.release:
            self._advance_task(self.tasks[task_id], TaskTrigger.RELEASE, {"after": task.id})
            self.changes.tasks_queued += 1
        for task_id in settlement.skip:
            self._advance_task(self.tasks[task_id], TaskTrigger.SKIP, {"failedTaskId": task.id})
            self._event(EventType.TASK_SKIPPED, workflow.id, task_id, {"failedTaskId": task.id})
        reason = f"task {task.id} failed and the workflow fails fast"
        for task_id in settlement.cancel:
            self._advance_task(self.tasks[task_id], TaskTrigger.CANCEL, {"reason": reason})
            self._event(EventType.TASK_CANCELLED, workflow.id, task_id, {"reason": reason})
        for task_id in settlement.interrupt:
            self.tasks[task_id].changed["cancel_requested"] = True
        if settlement.workflow is WorkflowTrigger.COMPLETE:
            self._advance_workflow(workflow, "complete")
            self._event(EventType.WORKFLOW_COMPLETED, workflow.id, None, {})
        elif settlement.workflow is WorkflowTrigger.FAIL:
            # The workflow failed for its first failed task (ids are in submission order).
            errors = stored.errors if stored is not None else {task.id: error or {}}
            failed = min(errors)
            self._advance_workflow(workflow, "fail", {"taskId": failed, "code": errors[failed].get("code")})
            self._event(EventType.WORKFLOW_FAILED, workflow.id, failed, {"error": errors[failed]})

    def _retry(self, task: _Task, report: BatchedReport, decision: TaskRetryDecision) -> None:
        """Back to the queue, leasable from ``decision.not_before``; the attempt's lease is fenced."""
        assert report.error is not None and decision.not_before is not None
        self._advance_task(task, TaskTrigger.RETRY, {
            "code": report.error.code, TraceKey.REASON: decision.reason, TraceKey.ATTEMPT: task.attempt,
            TraceKey.DELAY_S: decision.delay_s})
        self._release_lease(task)
        task.fencing_token += 1
        task.lease_worker = None
        task.changed.update(fencing_token=task.fencing_token, lease_worker=None, not_before=decision.not_before)
        self.changes.tasks_queued += 1
        self._event(EventType.TASK_REQUEUED, task.workflow_id, task.id,
                    {"reason": decision.reason, "attempt": task.attempt, "notBefore": decision.not_before,
                     "error": report.error.model_dump(by_alias=True)})

    def _release_lease(self, task: _Task) -> None:
        """Free the worker's slot; a busy worker with no task left becomes idle (``task_finished``)."""
        task.changed.update(lease_expires_at=None, cancel_requested=False)
        worker = self.workers.get(task.lease_worker) if task.lease_worker else None
        if worker is None:
            return
        worker.status, worker.running = free_slot(self.changes, worker.id, worker.incarnation, worker.status,
                                                  worker.running)
        worker.changed = True

    def _advance_workflow(self, workflow: _Workflow, trigger: str, data: dict[str, Any] | None = None) -> None:
        workflow.status = self.changes.advance(WORKFLOW, workflow_component(workflow.id), workflow.status, trigger,
                                               data)
        workflow.changed = True

    def _event(self, event_type: EventType, workflow_id: str, task_id: str | None, payload: dict[str, Any]) -> None:
        self.events.append({"workflow_id": workflow_id, "task_id": task_id, "type": event_type.value,
                            "time": self.now, "payload": payload})

    async def write(self, rows: QueueRows) -> None:
        """One ``executemany`` per table and per set of changed task columns."""
        by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for task in self.tasks.values():
            if task.changed:
                by_columns.setdefault(tuple(sorted(task.changed)), []).append({"id": task.id, **task.changed})
        for columns, changed in by_columns.items():
            await rows.update_tasks(columns, changed)
        workflows = [(w.id, w.status, self.now) for w in self.workflows.values() if w.changed]
        if workflows:
            await rows.update_workflows(workflows)
        workers = [(w.id, w.status, w.running) for w in self.workers.values() if w.changed]
        if workers:
            await rows.update_workers(workers)
        if self.events:
            # Ids are matched back by (workflow, task, type), unique within a batch: a task starts,
            # completes or fails at most once per batch, and a workflow settles at most once.
            ids = {(w, t, kind): i for i, w, t, kind in await rows.insert_events(self.events)}
            self.changes.add_events(
                Event(id=ids[e["workflow_id"], e["task_id"], e["type"]], type=EventType(e["type"]),
                      workflow_id=e["workflow_id"], task_id=e["task_id"], time=e["time"], payload=e["payload"])
                for e in self.events)


#: The retry rules of the default policies, for callers that configure none.
DEFAULT_RETRY_RULES = TaskRetryRules.from_policies()


async def apply_reports(
    session: AsyncSession, changes: ChangeLog, reports: Sequence[BatchedReport], now: float, lease_ttl_s: float,
    retry: TaskRetryRules = DEFAULT_RETRY_RULES,
) -> list[ReportAnswer]:
    """Check and apply `reports` in order, in the caller's transaction; one answer per report.

    `retry` decides what a failure report leads to (the orchestrator's `TaskRetryPolicy` and backoff).
    """
    if not reports:
        return []
    rows = await queue_rows(session)
    batch = _Batch(changes, now, lease_ttl_s, retry)
    await batch.load(rows, reports)
    if any(r.kind is not ReportKind.STARTED for r in reports):
        batch.graphs = await stored_graphs(session, [w for w, tasks in batch.siblings.items() if len(tasks) > 1],
                                           rows.db if isinstance(rows, SqliteQueueRows) else None)
    answers = [batch.apply(report) for report in reports]
    await batch.write(rows)
    return answers


async def apply_report(
    session: AsyncSession, changes: ChangeLog, report: BatchedReport, now: float, lease_ttl_s: float,
    retry: TaskRetryRules = DEFAULT_RETRY_RULES,
) -> ReportApplied:
    """One report, as the single endpoints take it: refused means raised."""
    (answer,) = await apply_reports(session, changes, [report], now, lease_ttl_s, retry)
    if isinstance(answer, ReportRefused):
        raise answer.error
    return answer
