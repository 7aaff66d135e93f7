"""A worker's lease reports, coalesced into ``POST /tasks/reports`` requests (issue 12, "the fast path").

One request per report cost the product's worker about 3 ms per report, a quarter of Celery's
throughput. Here every ``started``, ``completed`` and ``failed`` report of the worker's tasks
waits at most ``PollPolicy.report_delay_s`` for others, and up to ``PollPolicy.report_batch_max``
of them go out in one request, in the order they were made; the lease of the worker's free slots
rides along on the same request, so a busy worker needs about two requests per batch of tasks
(the ``started`` reports, then the outcomes plus the next lease).

Nothing about a report's meaning changes: the orchestrator applies each report of a batch
exactly as its single endpoint would, in order, and answers each with the status that endpoint
would have sent. So a caller still learns, per report, accepted (``True``), lease lost
(`LeaseLostError`, from a 404/409 outcome) or never got through (``False``, after the same
`BackoffPolicy`/`RateLimitPolicy` retries as a single report). A retried batch is safe: a
redelivered report from the lease holder is answered as the first one was.

Only one request is in flight at a time, so reports stay in order: a task's ``completed`` is
always queued after its ``started`` was answered.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from runtime.protocol import (
    MAX_BATCH_REPORTS,
    BatchedReport,
    LeaseReport,
    ReportKind,
    TaskAssignment,
    TaskCompleted,
    TaskFailed,
    TaskStarted,
)
from runtime.worker.client import OrchestratorClient
from runtime.worker.errors import LeaseLostError, NotFoundError, OrchestratorError, RateLimitedError
from spec.machines.task_lifecycle import TaskState
from spec.policies import Policies

log = logging.getLogger("runtime.worker")

#: The report kinds the batch endpoint carries; progress and interruptions keep their own endpoints.
BATCHED_KINDS: dict[type[LeaseReport], ReportKind] = {
    TaskStarted: ReportKind.STARTED,
    TaskCompleted: ReportKind.COMPLETED,
    TaskFailed: ReportKind.FAILED,
}
#: A batched report's answer codes that mean "the task is someone else's now" (the single endpoints' 404/409).
LEASE_LOST_CODES = frozenset({404, 409})


def batched_report(report: TaskStarted | TaskCompleted | TaskFailed) -> BatchedReport:
    return BatchedReport.model_construct(kind=BATCHED_KINDS[type(report)], **dict(report))


def encode_report(report: BatchedReport) -> str:
    """The report as one entry of a batch; raises ``PydanticSerializationError`` for a result that is not JSON."""
    return report.model_dump_json(by_alias=True, exclude_defaults=True)


@dataclass
class _Queued:
    report: LeaseReport
    batched: BatchedReport
    encoded: str
    answer: asyncio.Future[bool] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class ReportBatcher:
    """Queues reports and sends them in batches; asks the worker how many tasks to lease along the way."""

    def __init__(
        self,
        client: OrchestratorClient,
        policies: Policies,
        *,
        worker_id: Callable[[], str],
        lease_wanted: Callable[[list[BatchedReport]], int] = lambda batch: 0,
        on_leased: Callable[[list[TaskAssignment], list[BatchedReport]], None] = lambda tasks, batch: None,
    ) -> None:
        self._client = client
        self._policies = policies
        self._worker_id = worker_id
        #: Slots to fill from the same request, given its reports (0: lease nothing); asked before each request.
        self._lease_wanted = lease_wanted
        self._on_leased = on_leased
        self._max = max(1, min(policies.poll.report_batch_max, MAX_BATCH_REPORTS))
        self._queue: list[_Queued] = []
        self._sender: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self.requests = 0
        #: Tasks whose failure the orchestrator answered by re-queueing them for a retry (status
        #: ``queued``, `spec.decisions.task_retry`); the runner takes its id out when it records that.
        self.retried: set[str] = set()

    @property
    def pending(self) -> int:
        """Reports queued or in flight, not yet answered."""
        return len(self._queue) + (0 if self._sender is None or self._sender.done() else 1)

    async def deliver(self, report: TaskStarted | TaskCompleted | TaskFailed) -> bool:
        """Send `report` in the next batch: True once accepted, False if it never got through.

        Raises `LeaseLostError` when the orchestrator refused it as not this worker's lease, and
        ``PydanticSerializationError`` (before queueing anything) when its result is not JSON.
        """
        batched = batched_report(report)
        queued = _Queued(report, batched, encode_report(batched))
        self._queue.append(queued)
        if len(self._queue) >= self._max:
            self._start_sending()
        elif self._timer is None and (self._sender is None or self._sender.done()):
            self._timer = asyncio.get_running_loop().call_later(self._policies.poll.report_delay_s,
                                                                self._start_sending)
        return await asyncio.shield(queued.answer)

    async def flush(self) -> None:
        """Send everything queued now and wait for the answers (graceful shutdown, before deregistering)."""
        self._start_sending()
        while self._sender is not None and not self._sender.done():
            await asyncio.shield(self._sender)

    def close(self) -> None:
        """Forced stop: answer whatever is still queued with False (the leases expire on the orchestrator)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._sender is not None:
            self._sender.cancel()
        for queued in self._queue:
            if not queued.answer.done():
                queued.answer.set_result(False)
        self._queue.clear()

    def _start_sending(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._queue and (self._sender is None or self._sender.done()):
            self._sender = asyncio.create_task(self._send_queued())

    async def _send_queued(self) -> None:
        # Reports queued while a request was in flight already waited at least that long: send them at once.
        while self._queue:
            batch, self._queue = self._queue[: self._max], self._queue[self._max:]
            try:
                await self._send(batch)
            except BaseException:
                for queued in batch:
                    if not queued.answer.done():
                        queued.answer.set_result(False)
                raise

    async def _send(self, batch: list[_Queued]) -> None:
        backoff, rate_limit = self._policies.backoff, self._policies.rate_limit
        retries = rate_limited = 0
        lease_max = self._lease_wanted([q.batched for q in batch])
        while True:
            try:
                self.requests += 1
                answer = await self._client.report_batch([q.encoded for q in batch], worker_id=self._worker_id(),
                                                         lease_max=lease_max)
                break
            except (LeaseLostError, NotFoundError) as exc:
                if lease_max:  # the lease half was refused (worker forgotten or deregistered): reports alone
                    lease_max = 0
                    continue
                self._answer_all(batch, LeaseLostError(str(exc), status=exc.status))
                return
            except RateLimitedError as exc:
                if rate_limited >= rate_limit.max_retries:
                    self._give_up(batch, f"rate limited: {exc}")
                    return
                rate_limited += 1
                await asyncio.sleep(rate_limit.wait_s(exc.retry_after_s))
            except OrchestratorError as exc:
                if not exc.retryable or not backoff.should_retry(retries):
                    self._give_up(batch, str(exc))
                    return
                retries += 1
                # A retry leases nothing: if the lost answer carried leases, they expire on their own.
                lease_max = 0
                await asyncio.sleep(backoff.delay_s(retries))
        if answer.tasks:
            self._on_leased(answer.tasks, [q.batched for q in batch])
        for queued, outcome in zip(batch, answer.outcomes, strict=False):
            if outcome.code == 200:
                if queued.batched.kind is ReportKind.FAILED and outcome.status == TaskState.QUEUED:
                    self.retried.add(outcome.task_id)
                queued.answer.set_result(True)
                continue
            reason = outcome.error.reason if outcome.error is not None else f"code {outcome.code}"
            if outcome.code in LEASE_LOST_CODES:
                queued.answer.set_exception(LeaseLostError(f"POST /api/v1/tasks/reports -> {outcome.code} for "
                                                           f"task {outcome.task_id}: {reason}", status=outcome.code))
            else:
                log.warning("report %s for task %s refused (%d): %s", type(queued.report).__name__,
                            outcome.task_id, outcome.code, reason)
                queued.answer.set_result(False)
        self._give_up([q for q in batch if not q.answer.done()], "the orchestrator answered fewer outcomes than sent")

    def _answer_all(self, batch: list[_Queued], error: LeaseLostError) -> None:
        for queued in batch:
            queued.answer.set_exception(error)

    def _give_up(self, batch: list[_Queued], why: str) -> None:
        for queued in batch:
            log.warning("giving up on %s for task %s: %s", type(queued.report).__name__, queued.report.task_id, why)
            queued.answer.set_result(False)
