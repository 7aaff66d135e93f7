"""Metric hygiene on a real orchestrator's ``/metrics`` (issue 13).

Children at zero for the known label values, no ``_created`` series, the process collector and
build info, bounded ``task_type`` labels, tasks by failure code, queue wait, lease expiries and
re-queues, and breaker fast-fails as their own outcome.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from runtime.monitoring import MonitoringService
from runtime.orchestrator.monitor import sweep_once
from runtime.resilience import FakeClock
from runtime.workflow.local_git import LocalGitPlatform
from runtime.workflow.providers import AIProvider, GitPlatform
from runtime.workflow.scripted_ai import ScriptedAIProvider
from spec.metrics import (
    AI_PROVIDER_SERVICE,
    ALERTS_FIRING,
    BUILD_INFO,
    CALL_DURATION,
    CALL_ERRORS,
    CALL_OUTCOMES,
    CALLS,
    FAST_FAIL,
    GIT_PLATFORM_SERVICE,
    KNOWN_CALLS,
    LEASE_EXPIRIES,
    OTHER_TASK_TYPE,
    QUEUE_WAIT,
    REQUEUES,
    RETRIES,
    TASK_FAILURES,
    TASKS_FINISHED,
)
from spec.policies import DEFAULT_POLICIES, LeasePolicy
from tests.runtime.monitoring.monitoring_helpers import run_one_task, running
from tests.runtime.orchestrator.orch_helpers import poll, register, submit

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def sample_value(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    raise AssertionError(f"no sample {name} {labels}")


def names(text: str) -> set[str]:
    return {s.name for family in text_string_to_metric_families(text) for s in family.samples}


async def test_known_children_at_zero_no_created_and_process_metrics(tmp_path: Path) -> None:
    async with running(tmp_path) as (_orch, client):
        text = (await client.get("/metrics")).text
    service, operations = next(iter(KNOWN_CALLS.items()))
    for outcome in CALL_OUTCOMES:
        assert sample_value(text, CALLS, service=service, operation=operations[0], outcome=outcome) == 0
    assert sample_value(text, RETRIES, service=service, error_class="network") == 0
    assert not [n for n in names(text) if n.endswith("_created")]
    assert "process_cpu_seconds_total" in names(text)  # the process collector (Linux /proc)
    assert sample_value(text, BUILD_INFO) == 1
    assert sample_value(text, TASKS_FINISHED, task_type="noop", outcome="fail") == 0
    for rule in DEFAULT_POLICIES.alerts.rules:
        assert sample_value(text, ALERTS_FIRING, alert=rule.name) == 0


async def test_task_outcomes_failure_codes_queue_wait_and_bounded_types(tmp_path: Path) -> None:
    async with running(tmp_path) as (_orch, client):
        await run_one_task(client, "w1", fail=True)
        await submit(client, type="made-up-by-a-client")
        text = (await client.get("/metrics")).text
    assert sample_value(text, TASKS_FINISHED, task_type="noop", outcome="fail") == 1
    assert sample_value(text, TASK_FAILURES, task_type="noop", failure_code="BUILD_FAILED") == 1
    assert sample_value(text, QUEUE_WAIT + "_count", task_type="noop") == 1
    assert "made-up-by-a-client" not in text
    assert sample_value(text, QUEUE_WAIT + "_count", task_type=OTHER_TASK_TYPE) == 0


async def test_an_expired_lease_counts_as_an_expiry_and_a_requeue(tmp_path: Path) -> None:
    clock = FakeClock(start=1_000.0, auto_advance=False)
    async with running(tmp_path, clock=clock, lease=LeasePolicy(lease_ttl_s=0.2)) as (orch, client):
        await register(client, "w1", ["python"])
        await submit(client)
        assert (await poll(client, "w1")).status_code == 200
        await sweep_once(orch)  # virtual time has not moved: the lease is still valid
        assert sample_value((await client.get("/metrics")).text, LEASE_EXPIRIES) == 0
        await clock.advance(0.3)
        await sweep_once(orch)
        text = (await client.get("/metrics")).text
    assert sample_value(text, LEASE_EXPIRIES) == 1
    assert sample_value(text, REQUEUES, reason="lease_lost") == 1
    assert sample_value(text, REQUEUES, reason="requeue") == 0


async def test_breaker_fast_fails_are_their_own_outcome_and_fire_one_alert() -> None:
    """Regression (issue 13): fast fails counted as errors, so one incident fired two alerts."""
    clock = FakeClock()
    rules = tuple(r.model_copy(update={"for_s": 0.0}) for r in DEFAULT_POLICIES.alerts.rules)
    policies = DEFAULT_POLICIES.model_copy(
        update={"alerts": DEFAULT_POLICIES.alerts.model_copy(update={"rules": rules})})
    monitoring = MonitoringService(policies, clock=clock)
    git = monitoring.service("git-platform")
    monitoring.breakers.get("git-platform").force_open()

    async def never_called() -> None:
        raise AssertionError("an open breaker must not call")

    await monitoring.evaluate()
    for _ in range(5):
        with pytest.raises(Exception, match="open"):
            await git.call("push", never_called)
        await clock.advance(1.0)
    await monitoring.evaluate()
    text = monitoring.metrics.exposition().decode()
    assert sample_value(text, CALLS, service="git-platform", operation="push", outcome=FAST_FAIL) == 5
    assert sample_value(text, CALLS, service="git-platform", operation="push", outcome="error") == 0
    # Refused calls are not timed: near-zero durations would pull the latency percentile down.
    assert sample_value(text, CALL_DURATION + "_count", service="git-platform", operation="push") == 0
    assert {a["alert"] for a in monitoring.alerts()} == {"CircuitBreakerOpen"}
    with pytest.raises(ValueError, match="outcome must be one of"):
        monitoring.record_call("git-platform", "push", ok=False, duration_s=0.1, outcome="weird")


def test_errors_count_by_error_class_and_bad_classes_are_refused() -> None:
    monitoring = MonitoringService(DEFAULT_POLICIES, clock=FakeClock())
    monitoring.record_call("git-platform", "push", ok=False, duration_s=0.1, error_class="rate_limit")
    monitoring.record_call("git-platform", "push", ok=False, duration_s=0.1)
    text = monitoring.metrics.exposition().decode()
    assert sample_value(text, CALL_ERRORS, service="git-platform", operation="push", error_class="rate_limit") == 1
    assert sample_value(text, CALL_ERRORS, service="git-platform", operation="push", error_class="unknown") == 1
    assert sample_value(text, CALL_ERRORS, service="git-platform", operation="push", error_class="network") == 0
    with pytest.raises(ValueError, match="error_class must be one of"):
        monitoring.record_call("git-platform", "push", ok=False, duration_s=0.1, error_class="gremlins")


def test_the_workflows_services_and_operations_are_the_ones_counted_from_zero(tmp_path: Path) -> None:
    """The workers report the pipeline's calls as (service name, provider method); those exact
    pairs must be in `KNOWN_CALLS`, or the first error of each is invisible to ``rate()``
    (the worker's services were named ``ai-provider:scripted`` and ``generate_code`` was ``generate``)."""
    def methods(protocol: type) -> set[str]:
        return {name for name, _ in inspect.getmembers(protocol, inspect.isfunction) if not name.startswith("_")}

    assert ScriptedAIProvider().name == AI_PROVIDER_SERVICE
    assert LocalGitPlatform(tmp_path).name == GIT_PLATFORM_SERVICE
    assert set(KNOWN_CALLS[AI_PROVIDER_SERVICE]) == methods(AIProvider)
    assert set(KNOWN_CALLS[GIT_PLATFORM_SERVICE]) == methods(GitPlatform)
