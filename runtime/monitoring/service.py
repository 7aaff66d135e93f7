"""The orchestrator's monitoring (seed 4.5 "Monitoring and Alerting", issue 4 §2).

One :class:`MonitoringService` per orchestrator holds its metrics, its circuit breakers and its
alert evaluator, and connects them: breaker state changes and retries update the metrics; every
evaluation samples the metrics (as a Prometheus scrape would) and evaluates the spec's rules on
them (``spec.decisions.alert_queries``); a rule that starts firing is logged (by the evaluator),
escalated at its level, and published as an ``ALERT`` event to every connected WebSocket
client. Rules are evaluated every ``alert_eval_interval_s``; breaker changes are evaluated at
once, so an open breaker alerts without waiting for a tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import func, select

from runtime.monitoring.alerts import (
    BREAKER_OPEN_METRIC,
    FIRING,
    INACTIVE,
    AlertChange,
    AlertEvaluator,
    AlertStatus,
    SelfScrape,
    escalate_firing,
)
from runtime.monitoring.fleet_telemetry import FleetTelemetry
from runtime.monitoring.metrics import OrchestratorMetrics
from runtime.monitoring.task_metrics import TaskObserver
from runtime.protocol import Event, EventType
from runtime.resilience.circuit_breaker import BreakerRegistry, StateChange
from runtime.resilience.classify import classify
from runtime.resilience.clock import Clock
from runtime.resilience.errors import CircuitOpenError
from runtime.resilience.escalation import EscalationOutcome, Escalator
from runtime.resilience.service import ExternalService
from runtime.store.changes import ChangeLog
from runtime.store.database import Database
from runtime.store.models import WorkerRow
from runtime.store.queue import count_queued
from runtime.store.registry import IN_ROTATION, live_routing, unroutable_queued
from spec.metrics import ERROR, FAST_FAIL, KNOWN_TASK_TYPES, SUCCESS
from spec.policies import Policies
from spec.render.alert_annotations import alerts_api_entry

T = TypeVar("T")
P = ParamSpec("P")
log = logging.getLogger("runtime.monitoring")

#: The heartbeat fields behind the ``resource_utilisation`` gauge (and its alert rule).
HEALTH_FIELDS = {"cpu": "cpuPercent", "memory": "memoryPercent", "disk": "diskPercent"}
#: WebSocket ``workflowId`` of alert events: they belong to no workflow, and ids count per workflowId.
ALERT_STREAM = ""


class MonitoredService:
    """An external service called through its breaker, retries and rate limit, with metrics.

    Each call counts in ``orchestration_external_calls_total`` and its duration in the latency
    histogram, and feeds the error-rate and latency alert rules for ``(service, operation)``.
    A call the open breaker refused counts as ``fast_fail``, not as an error.
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
        except CircuitOpenError:
            self.monitoring.record_call(self.name, operation, ok=False, duration_s=clock.now() - started,
                                        outcome=FAST_FAIL)
            raise
        except Exception as exc:
            self.monitoring.record_call(self.name, operation, ok=False, duration_s=clock.now() - started,
                                        error_class=classify(exc).value)
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
        task_types: Iterable[str] = KNOWN_TASK_TYPES,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.policies = policies
        self.metrics = OrchestratorMetrics(policies=policies, task_types=task_types)
        #: Wall time, for the RFC 3339 ``activeAt`` of alerts (the evaluation clock is monotonic).
        self.wall_clock = wall_clock
        self.breakers = BreakerRegistry(policies.circuit_breaker, clock=clock)
        self.clock: Clock = self.breakers.clock
        self.escalator = escalator if escalator is not None else Escalator(policies.alerts)
        #: Where ALERT events go; the orchestrator wires it to ``Hub.broadcast``.
        self.publish = publish
        self.escalations: list[EscalationOutcome] = []
        self._alert_ids = itertools.count(1)
        self._escalating: set[asyncio.Task[None]] = set()
        self._unescalated: list[AlertChange] = []
        self.tasks = TaskObserver(self.metrics, wall_clock)
        self._loop: asyncio.Task[None] | None = None
        self.evaluator = AlertEvaluator(policies.alerts, listener=self._on_alert_change, logger=log)
        self.scrape = SelfScrape(self.metrics.registry, self.evaluator)
        self.metrics.set_alerts_firing({rule.name: 0 for rule in policies.alerts.rules})
        self.breakers.on_state_change(self._on_breaker_change)
        #: The workers' external calls and breakers (``POST /api/v1/workers/telemetry``).
        self.fleet = FleetTelemetry(record_call=self.record_call, record_breaker_state=self.record_breaker_state,
                                    retries=self.metrics.retries, local_breakers=self.breakers)

    def apply_alert_rules(self, policies: Policies) -> None:
        """Evaluate `policies`' alert rules from now on (a configuration reload, issue 14).

        Every series starts afresh under the new rules, so a changed threshold or duration takes
        effect at the next evaluation; an alert that was firing fires again if its breach lasts.
        The escalation levels are the escalator's and need a restart (``runtime.config_reload``).
        """
        before, self.policies = self.policies.alerts.rules, policies
        self.evaluator = AlertEvaluator(policies.alerts, listener=self._on_alert_change, logger=log)
        self.scrape = SelfScrape(self.metrics.registry, self.evaluator)
        self.metrics.set_alerts_firing({rule.name: 0 for rule in before + policies.alerts.rules})

    # -- external calls ---------------------------------------------------------------------

    def service(self, name: str) -> MonitoredService:
        """A monitored client stack for external service `name` (its breaker is ``breakers[name]``)."""
        return MonitoredService(self, name)

    def record_call(
        self, service: str, operation: str, *, ok: bool, duration_s: float, outcome: str | None = None,
        error_class: str | None = None,
    ) -> None:
        """One external call's outcome; `outcome` (``spec.metrics.CALL_OUTCOMES``) defaults from `ok`,
        and a failed call may say its ``spec.taxonomy.ErrorClass`` value.

        Workers' telemetry and :class:`MonitoredService` both come through here; the alert rules
        read the counters at the next evaluation, as Prometheus reads them at its next scrape.
        """
        self.metrics.record_call(
            service, operation, ok=ok, duration_s=duration_s, outcome=outcome or (SUCCESS if ok else ERROR),
            error_class=error_class,
        )

    def breaker_states(self) -> dict[str, str]:
        """Service -> breaker state: the orchestrator's own breakers, then the workers' fleet states
        (in a deployment every external call, and so every breaker, lives in a worker)."""
        states = dict(self.breakers.states())
        states.update({service: str(state) for service, state in self.fleet.states().items()})
        return states

    def record_breaker_state(self, service: str, state: str) -> None:
        """A breaker's state as something else saw it (a worker's telemetry); its alert is evaluated at once."""
        self.metrics.record_breaker_state(service, state)
        self._evaluate_breakers(self.clock.now())

    def _on_breaker_change(self, change: StateChange) -> None:
        self.metrics.on_breaker_change(change)
        self._evaluate_breakers(max(change.at, self.clock.now()))

    def _evaluate_breakers(self, at: float) -> None:
        if BREAKER_OPEN_METRIC in self.evaluator.metrics:  # operators may drop the breaker rule
            self.scrape.evaluate(at, [BREAKER_OPEN_METRIC])

    # -- tasks ------------------------------------------------------------------------------

    def observe_changes(self, changes: ChangeLog, events: list[Event]) -> None:
        """Task metrics from a committed transaction (see :class:`TaskObserver`)."""
        self.tasks.observe_changes(changes, events)

    # -- the store --------------------------------------------------------------------------

    async def refresh(self, db: Database) -> None:
        """Queue depth, workers by state and resource use, read from the store."""
        async with db.read() as session:
            depth = await count_queued(session)
            unroutable = await unroutable_queued(session, await live_routing(session))
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
        self.metrics.set_unroutable(unroutable)
        samples: list[tuple[str, str, float]] = []
        for worker_id, reported in health:
            for resource, field in HEALTH_FIELDS.items():
                value = reported.get(field) if isinstance(reported, dict) else None
                if isinstance(value, int | float):
                    samples.append((str(worker_id), resource, float(value) / 100.0))
        self.metrics.set_resources(samples)
        for breaker in self.breakers:
            self.metrics.record_breaker_state(breaker.service, breaker.state)
        self.fleet.retain({str(worker_id) for worker_id, _ in health})

    # -- alerts -----------------------------------------------------------------------------

    async def evaluate(self) -> None:
        """One evaluation: sample the metrics and evaluate every rule on them, then escalate."""
        at = self.clock.now()
        self.scrape.evaluate(at)
        self.evaluator.evaluate(at)
        self.fleet.report()
        pending, self._unescalated = self._unescalated, []
        if pending:
            await self._escalate(pending)
        if self._escalating:
            await asyncio.gather(*self._escalating, return_exceptions=True)

    def active(self) -> list[AlertStatus]:
        """Every alert series that is pending or firing, firing first."""
        active = [s for s in self.evaluator.statuses() if s.state != INACTIVE]
        active.sort(key=lambda s: s.state != FIRING)
        return active

    def alerts(self) -> list[dict[str, Any]]:
        """The active series in the spec's own terms (threshold, duration, escalation level)."""
        return [s.to_json() for s in self.active()]

    def prometheus_alerts(self) -> list[dict[str, Any]]:
        """The active series as Prometheus's ``/api/v1/alerts`` lists them (``data.alerts``)."""
        offset = self.wall_clock() - self.clock.now()
        out: list[dict[str, Any]] = []
        for status in self.active():
            active_at = datetime.fromtimestamp((status.since or 0.0) + offset, UTC)
            rfc3339 = active_at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
            out.append(alerts_api_entry(status, self.policies.alerts, rfc3339))
        return out

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
                "value": change.value if math.isfinite(change.value) else None,  # JSON has no NaN
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
