"""``python -m runtime demo --ai-failure error|rate-limited``: the monitoring sees a failing AI provider (issue 13).

The workers' scripted AI provider fails every issue analysis, the way a real provider fails:
``error`` with a network error (retried with backoff, then counted against the breaker),
``rate-limited`` with 429s and a Retry-After (waited, retried once, then given up). The demo
submits workflows in waves, one per worker slot, until the orchestrator -- which only knows what
the workers report (`runtime.worker.telemetry`) -- shows the alert that failure should raise:

* ``error``: ``CircuitBreakerOpen`` for the AI provider, once a worker's breaker opened
  (``CircuitBreakerPolicy.failure_threshold`` failed calls within its window);
* ``rate-limited``: a rate limit is the answer of a healthy service, so by the taxonomy
  (``counts_against_breaker``) the breaker stays *closed*; the calls count as errors, so
  ``HighErrorRate`` for the AI provider becomes pending (it fires after the rule's ``for_s``).

Each worker gets ``failure_threshold`` slots, so one wave can open its breaker.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from enum import StrEnum

import httpx
from rich.console import Console
from rich.markup import escape

from runtime.demo.alerts import AlertSeen, read_alerts
from runtime.demo.errors import DemoError
from runtime.workflow import TASK_TYPE, AIFailure, AIOperation, AIScript
from spec.metrics import AI_PROVIDER_SERVICE
from spec.policies import DEFAULT_POLICIES, Policies
from spec.taxonomy import ErrorClass

#: The scripted AI provider's service name: its breaker and metrics are keyed by it.
AI_SERVICE = AI_PROVIDER_SERVICE
#: Workflow states after which nothing more happens to it.
_FINAL = ("completed", "failed")
_POLL_S = 0.25
#: How long a finished wave's last reports may take to reach the orchestrator before the next wave
#: (a worker sends a breaker change at once, within a round trip; the rest after its heartbeat).
_WAVE_GRACE_S = 1.0


class DemoAIFailure(StrEnum):
    """How the demo's AI provider fails (``--ai-failure``)."""

    ERROR = "error"
    RATE_LIMITED = "rate-limited"


def demo_ai_script(failure: DemoAIFailure | None) -> AIScript | None:
    """The scripted provider's behaviour for `failure`: every analysis fails (``None``: it works)."""
    if failure is DemoAIFailure.ERROR:
        return AIScript(failure=AIFailure.ERROR, during=AIOperation.ANALYZE, error_class=ErrorClass.NETWORK)
    if failure is DemoAIFailure.RATE_LIMITED:
        return AIScript(failure=AIFailure.RATE_LIMIT, during=AIOperation.ANALYZE, retry_after_s=1.0)
    return None


def expected_alert(failure: DemoAIFailure) -> tuple[str, tuple[str, ...]]:
    """The rule the failure must raise for the AI provider, and the states that count as raised."""
    if failure is DemoAIFailure.ERROR:
        return "CircuitBreakerOpen", ("firing",)
    return "HighErrorRate", ("pending", "firing")


def slots_per_worker(policies: Policies = DEFAULT_POLICIES) -> int:
    """Enough slots that one wave of failed calls opens a worker's breaker."""
    return policies.circuit_breaker.failure_threshold


@dataclass
class FailureRun:
    """What the failure demo saw."""

    failure: DemoAIFailure
    workflow_ids: list[str] = field(default_factory=list)
    waves: int = 0
    raised: AlertSeen | None = None
    alerts: list[AlertSeen] = field(default_factory=list)


async def fetch_alerts(http: httpx.AsyncClient) -> list[AlertSeen]:
    response = await http.get("/api/v1/alerts")
    if response.status_code != 200:
        raise DemoError(f"GET /api/v1/alerts answered HTTP {response.status_code}: {response.text[:200]}")
    return read_alerts(response.json())


def _raised(alerts: list[AlertSeen], failure: DemoAIFailure) -> AlertSeen | None:
    name, states = expected_alert(failure)
    for alert in alerts:
        if alert.name == name and alert.state in states and alert.labels.get("service") == AI_SERVICE:
            return alert
    return None


async def _submit_wave(http: httpx.AsyncClient, issue_id: str, count: int) -> list[str]:
    request = {"workflows": [{"type": TASK_TYPE, "payload": {"issueId": issue_id}} for _ in range(count)]}
    response = await http.post("/api/v1/workflows:batch", json=request)
    if response.status_code != 201:
        raise DemoError(f"submitting {count} workflows failed: HTTP {response.status_code} {response.text[:300]}")
    return [str(created["workflowId"]) for created in response.json()["workflows"]]


async def _all_final(http: httpx.AsyncClient, workflow_ids: list[str]) -> bool:
    for workflow_id in workflow_ids:
        status = (await http.get(f"/api/v1/workflows/{workflow_id}")).json().get("status")
        if status not in _FINAL:
            return False
    return True


async def drive_until_alert(http: httpx.AsyncClient, failure: DemoAIFailure, issue_id: str, workers: int,
                            timeout_s: float, console: Console) -> FailureRun:
    """Submit waves of workflows until the expected alert is raised for the AI provider, or time runs out."""
    run = FailureRun(failure)
    name, states = expected_alert(failure)
    deadline = time.monotonic() + timeout_s
    wave: list[str] = []
    finished_at: float | None = None
    # Without a breaker change (rate limits) the calls arrive with the worker's next heartbeat.
    grace_s = _WAVE_GRACE_S if failure is DemoAIFailure.ERROR else DEFAULT_POLICIES.heartbeat.interval_s
    while time.monotonic() < deadline:
        if wave and finished_at is None and await _all_final(http, wave):
            finished_at = time.monotonic()
        if not wave or (finished_at is not None and time.monotonic() - finished_at >= grace_s):
            finished_at = None
            wave = await _submit_wave(http, issue_id, workers * slots_per_worker())
            run.waves += 1
            run.workflow_ids.extend(wave)
            console.print(f"wave {run.waves}       {len(wave)} workflows submitted against the failing AI provider "
                          f"({failure.value})", highlight=False, soft_wrap=True)
        run.alerts = await fetch_alerts(http)
        run.raised = _raised(run.alerts, failure)
        if run.raised is not None:
            console.print(f"[red]alert[/]         {escape(run.raised.describe())}", highlight=False, soft_wrap=True)
            return run
        await asyncio.sleep(_POLL_S)
    raise DemoError(f"{name} ({'/'.join(states)}) for {AI_SERVICE} was not raised within {timeout_s:g} s "
                    f"after {run.waves} wave(s) of workflows (pass --timeout to wait longer)")


__all__ = ["AI_SERVICE", "DemoAIFailure", "FailureRun", "demo_ai_script", "drive_until_alert", "expected_alert",
           "fetch_alerts", "slots_per_worker"]
