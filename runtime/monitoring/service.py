"""The orchestrator's monitoring (seed 4.5 "Monitoring and Alerting", issue 4 §2).

One :class:`MonitoringService` per orchestrator holds its metrics, its circuit breakers and its
alert evaluator, and connects them: breaker state changes and retries update the metrics;
calls, breakers and the workers' reported resource use feed the alert rules; a rule that starts
firing is logged (by the evaluator), escalated at its level, and published as an ``ALERT`` event
to every connected WebSocket client. Rules are evaluated every ``alert_eval_interval_s``;
breaker changes are evaluated at once, so an open breaker alerts without waiting for a tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import func, select

from runtime.monitoring.alerts import (
    BREAKER_OPEN_METRIC,
    FIRING,
    INACTIVE,
    AlertChange,
    AlertEvaluator,
    CallWindow,
    escalate_firing,
    watch_breakers,
)
from runtime.monitoring.metrics import OrchestratorMetrics
from runtime.protocol import Event, EventType
from runtime.resilience.circuit_breaker import BreakerRegistry
from runtime.resilience.clock import Clock
from runtime.resilience.escalation import EscalationOutcome, Escalator
from runtime.resilience.service import ExternalService
from runtime.store.changes import ChangeLog, task_component, workflow_component
from runtime.store.database import Database
from runtime.store.models import WorkerRow
from runtime.store.queue import count_queued
from runtime.store.registry import IN_ROTATION
from spec.machines import TASK_LIFECYCLE, WORKFLOW_LIFECYCLE
from spec.metrics import RATE_WINDOW_S
from spec.policies import AlertPolicy, Policies

T = TypeVar("T")
P = ParamSpec("P")
log = logging.getLogger("runtime.monitoring")

#: Spec metric the ``HighResourceUtilisation`` rule reads, and the heartbeat fields behind it.
RESOURCE_METRIC = "resource_utilisation"
HEALTH_FIELDS = {"cpu": "cpuPercent", "memory": "memoryPercent", "disk": "diskPercent"}
#: WebSocket ``workflowId`` of alert events: they belong to no workflow, and ids count per workflowId.
ALERT_STREAM = ""
#: Task outcomes without a known type (an orchestrator restarted while the task ran).
UNKNOWN_TYPE = "unknown"


class MonitoredService:
    """An external service called through its breaker, retries and rate limit, with metrics.

    Each call counts in ``orchestration_external_calls_total`` and its duration in the latency
    histogram, and feeds the error-rate and latency alert rules for ``(service, operation)``.
    """

    def __init__(self, monitoring: MonitoringService, name: str) -> None:
        self.monitoring = monitoring
        self.name = name
        self.external = ExternalService(
            name,
            policies=monitoring.policies,
            clock=monitoring.clock,
            breakers=monitoring.breakers,
            escalator=monitoring.escalator,
        )
        self.external.retry.on_attempt(functools.partial(monitoring.metrics.on_retry, name))
        monitoring.metrics.record_breaker_state(name, self.external.breaker.state)

    async def call(self, operation: str, fn: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs) -> T:
        clock = self.monitoring.clock
        started = clock.now()
        try:
            result = await self.external.call(fn, *args, **kwargs)
        except Exception:
            self.monitoring.record_call(self.name, operation, ok=False, duration_s=clock.now() - started)
            raise
        self.monitoring.record_call(self.name, operation, ok=True, duration_s=clock.now() - started)
        return result


class MonitoringService:
    """Metrics, breakers and alert evaluation of one orchestrator."""

    def __init__(
        self,
        policies: Policies,
        *,
        clock: Clock | None = None,
        escalator: Escalator | None = None,
        publish: Callable[[Event], None] | None = None,
    ) -> None:
        self.policies = policies
        self.metrics = OrchestratorMetrics()
        self.breakers = BreakerRegistry(policies.circuit_breaker, clock=clock)
        self.clock: Clock = self.breakers.clock
        self.escalator = escalator if escalator is not None else Escalator(policies.alerts)
        #: Where ALERT events go; the orchestrator wires it to ``Hub.broadcast``.
        self.publish = publish
        self.escalations: list[EscalationOutcome] = []
        self._alert_ids = itertools.count(1)
        self._escalating: set[asyncio.Task[None]] = set()
        self._unescalated: list[AlertChange] = []
        self._resource_series: set[tuple[str, str]] = set()
        self._started: dict[str, tuple[float, str | None]] = {}
        self._workflow_types: dict[str, str] = {}
        self._loop: asyncio.Task[None] | None = None
        self.breakers.on_state_change(self.metrics.on_breaker_change)
        self._install_alert_rules(policies.alerts)

    def _install_alert_rules(self, alerts: AlertPolicy) -> None:
        evaluator = AlertEvaluator(alerts, logger=log)

        def on_change(change: AlertChange) -> None:
            # An evaluator replaced by a reload may still hear breaker changes; only the current one reports.
            if evaluator is self.evaluator:
                self._on_alert_change(change)

        evaluator.listener = on_change
        self.evaluator = evaluator
        self.calls = CallWindow(RATE_WINDOW_S, alerts)
        # A policy without a breaker rule (operators may drop it) simply leaves breakers unwatched.
        self._report_breakers: Callable[[], list[AlertChange]] = (
            watch_breakers(self.breakers, evaluator) if BREAKER_OPEN_METRIC in evaluator.metrics else list
        )

    def apply_alert_rules(self, policies: Policies) -> None:
        """Evaluate `policies`' alert rules from now on (a configuration reload, issue 14).

        Every series starts afresh under the new rules, so a changed threshold or duration takes
        effect at the next sample; an alert that was firing fires again if its breach lasts. The
        escalation levels are the escalator's and need a restart (``runtime.config_reload``).
        """
        before, self.policies = self.policies.alerts.rules, policies
        self._install_alert_rules(policies.alerts)
        self.metrics.set_alerts_firing({rule.name: 0 for rule in before + policies.alerts.rules})

    # -- external calls ---------------------------------------------------------------------

    def service(self, name: str) -> MonitoredService:
        """A monitored client stack for external service `name` (its breaker is ``breakers[name]``)."""
        return MonitoredService(self, name)

    def record_call(self, service: str, operation: str, *, ok: bool, duration_s: float) -> None:
        self.metrics.record_call(service, operation, ok=ok, duration_s=duration_s)
        self.calls.record(service=service, operation=operation, ok=ok, duration_s=duration_s, at=self.clock.now())

    # -- tasks ------------------------------------------------------------------------------

    def observe_changes(self, changes: ChangeLog, events: list[Event]) -> None:
        """Task durations from a committed transaction's events (start → completion or failure).

        The ``outcome`` label is the `task_lifecycle` trigger that ended the task: ``complete``,
        ``fail`` or ``time_out``.
        """
        outcomes: dict[str, str] = {}
        for change in changes.transitions:
            record = change.record
            if record.machine == WORKFLOW_LIFECYCLE.name and record.source == WORKFLOW_LIFECYCLE.initial:
                task_type = change.data.get("type")
                if isinstance(task_type, str):
                    self._workflow_types[change.component.removeprefix(workflow_component(""))] = task_type
            elif record.machine == TASK_LIFECYCLE.name:
                # The trigger, not the state: ``time_out`` and ``fail`` both end in the failed state.
                outcomes[change.component] = record.trigger
        for event in events:
            if event.type is EventType.TASK_STARTED and event.task_id is not None:
                worker = event.payload.get("workerId")
                self._started[event.task_id] = (event.time, worker if isinstance(worker, str) else None)
            elif event.type in (EventType.TASK_COMPLETED, EventType.TASK_FAILED) and event.task_id is not None:
                self._finish_task(event, outcomes.get(task_component(event.task_id), event.type.value.lower()))
            elif event.type is EventType.TASK_REQUEUED and event.task_id is not None:
                self._started.pop(event.task_id, None)
            elif event.type in (EventType.WORKFLOW_COMPLETED, EventType.WORKFLOW_FAILED):
                self._workflow_types.pop(event.workflow_id, None)

    def _finish_task(self, event: Event, outcome: str) -> None:
        assert event.task_id is not None
        start = self._started.pop(event.task_id, None)
        if start is None:
            return  # started before this process: its duration is unknown
        began, worker_id = start
        duration = max(0.0, event.time - began)
        task_type = self._workflow_types.get(event.workflow_id, UNKNOWN_TYPE)
        self.metrics.record_task(task_type, outcome, duration)
        log.info(
            "task %s (%s) ended by %s after %.3f s", event.task_id, task_type, outcome, duration,
            extra={"workflowId": event.workflow_id, "taskId": event.task_id, "workerId": worker_id,
                   "taskType": task_type, "outcome": outcome, "durationSeconds": round(duration, 6)},
        )

    # -- the store --------------------------------------------------------------------------

    async def refresh(self, db: Database) -> None:
        """Queue depth, workers by state and resource use, read from the store."""
        async with db.read() as session:
            depth = await count_queued(session)
            by_state = {
                str(status): int(count)
                for status, count in (
                    await session.execute(select(WorkerRow.status, func.count()).group_by(WorkerRow.status))
                ).all()
            }
            health = (
                await session.execute(select(WorkerRow.id, WorkerRow.health).where(WorkerRow.status.in_(IN_ROTATION)))
            ).all()
        self.metrics.set_queue(depth, by_state)
        samples: list[tuple[str, str, float]] = []
        for worker_id, reported in health:
            for resource, field in HEALTH_FIELDS.items():
                value = reported.get(field) if isinstance(reported, dict) else None
                if isinstance(value, int | float):
                    samples.append((str(worker_id), resource, float(value) / 100.0))
        self.metrics.set_resources(samples)
        self._observe_resources(samples)
        for breaker in self.breakers:
            self.metrics.record_breaker_state(breaker.service, breaker.state)

    def _observe_resources(self, samples: list[tuple[str, str, float]]) -> None:
        if RESOURCE_METRIC not in self.evaluator.metrics:
            return
        at = self.clock.now()
        seen = set()
        for worker_id, resource, ratio in samples:
            seen.add((worker_id, resource))
            self.evaluator.observe(RESOURCE_METRIC, ratio, at=at, labels={"worker_id": worker_id, "resource": resource})
        for worker_id, resource in self._resource_series - seen:
            # Out of rotation: nothing to alert about any more.
            self.evaluator.observe(RESOURCE_METRIC, 0.0, at=at, labels={"worker_id": worker_id, "resource": resource})
        self._resource_series = seen

    # -- alerts -----------------------------------------------------------------------------

    async def evaluate(self) -> None:
        """One evaluation: the call window's samples, pending rules whose time has come, breakers."""
        at = self.clock.now()
        for sample in self.calls.samples(at):
            self.evaluator.observe_sample(sample)
        self.evaluator.evaluate(at)
        self._report_breakers()
        pending, self._unescalated = self._unescalated, []
        if pending:
            await self._escalate(pending)
        if self._escalating:
            await asyncio.gather(*self._escalating, return_exceptions=True)

    def alerts(self) -> list[dict[str, Any]]:
        """Every alert series that is pending or firing, firing first."""
        active = [s for s in self.evaluator.statuses() if s.state != INACTIVE]
        active.sort(key=lambda s: s.state != FIRING)
        return [s.to_json() for s in active]

    def _on_alert_change(self, change: AlertChange) -> None:
        # The evaluator calls this after the series' machine moved, so firing() already counts it.
        firing: dict[str, int] = {rule.name: 0 for rule in self.policies.alerts.rules}
        for status in self.evaluator.firing():
            firing[status.rule.name] += 1
        self.metrics.set_alerts_firing(firing)
        if change.dest != FIRING and change.source != FIRING:
            return
        if change.dest == FIRING:
            self._schedule_escalation(change)
        else:
            log.info("alert %s resolved (labels %s)", change.rule.name, dict(change.labels),
                     extra={"alert": change.rule.name, "labels": dict(change.labels)})
        if self.publish is not None:
            self.publish(self._alert_event(change))

    def _alert_event(self, change: AlertChange) -> Event:
        rule = change.rule
        return Event(
            id=next(self._alert_ids),
            type=EventType.ALERT,
            workflow_id=ALERT_STREAM,
            time=time.time(),
            payload={
                "alert": rule.name,
                "state": change.dest,
                "previousState": change.source,
                "labels": dict(change.labels),
                "value": change.value,
                "threshold": rule.threshold,
                "forSeconds": rule.for_s,
                "summary": rule.summary,
                "escalationLevel": rule.escalation_level,
            },
        )

    def _schedule_escalation(self, change: AlertChange) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._unescalated.append(change)  # no loop (a synchronous caller): the next evaluation escalates
            return
        task = loop.create_task(self._escalate([change]))
        self._escalating.add(task)
        task.add_done_callback(self._escalating.discard)

    async def _escalate(self, changes: list[AlertChange]) -> None:
        self.escalations.extend(await escalate_firing(changes, self.escalator))
        del self.escalations[: max(0, len(self.escalations) - self.escalator.history_limit)]

    # -- the evaluation loop ----------------------------------------------------------------

    def start(self, db: Database, interval_s: float,
              spawn: Callable[[str, Callable[[], Awaitable[None]]], asyncio.Task[None]] | None = None) -> None:
        """Refresh from the store and evaluate the rules every `interval_s` until :meth:`stop`.

        `spawn` runs the loop under a supervisor (the orchestrator's restarts it after a crash).
        """
        if self._loop is None or self._loop.done():
            if spawn is not None:
                self._loop = spawn("alert-evaluation", lambda: self._run(db, interval_s))
            else:
                self._loop = asyncio.create_task(self._run(db, interval_s), name="alert-evaluation")

    def cancel(self) -> None:
        """Stop evaluating now, without waiting (the database may close right after)."""
        if self._loop is not None:
            self._loop.cancel()

    async def stop(self) -> None:
        """Cancel the evaluation loop and wait for it and for escalations in flight."""
        loop, self._loop = self._loop, None
        if loop is not None:
            loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loop
        if self._escalating:
            await asyncio.gather(*self._escalating, return_exceptions=True)

    async def _run(self, db: Database, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.refresh(db)
                await self.evaluate()
            except asyncio.CancelledError:
                raise
            except Exception:  # one failed evaluation (a locked database) must not end alerting
                log.exception("alert evaluation failed; retrying in %s s", interval_s)
