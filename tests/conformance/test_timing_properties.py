"""Timing properties on the scaled clock: backoff schedule, breaker windows, heartbeat detection.

Issue 6 §2 "timing properties hold within a stated tolerance". The resilience layer runs on its
own on `RESILIENCE_SCALE` (1 s -> 10 ms) with the real monotonic clock: Hypothesis draws what a
provider answers and when calls are made; the traces are replayed by `spec.conformance` (whose
timing checks take the scaled policies) with ``RESILIENCE_TOLERANCE_S``, and the bounds the
runtime guarantees by construction are checked with no slack at all: a retry never fires before
its delay, and the delays announced are exactly the scaled ``BackoffPolicy`` schedule.
The breaker runs at ``BREAKER_SCALE``. Heartbeat detection is measured on the real orchestrator with a SIGKILLed worker.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from runtime.resilience import CLOSED, AttemptEvent, CircuitBreaker, CircuitOpenError, RateLimitHandler, RetryHandler
from spec.conformance import check_trace
from spec.policies import DEFAULT_POLICIES
from spec.scaling import scale_policies
from spec.trace import TraceEvent
from tests.conformance.properties import diagram
from tests.conformance.runtime_under_test import RuntimeUnderTest, until
from tests.conformance.scaled_clock import (
    RESILIENCE_TOLERANCE_S,
    TOLERANCE_S,
    resilience_policies,
    runtime_policies,
)

TIMING = settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_REQUEST = httpx.Request("GET", "http://provider.test/")
#: The breaker's 300 s open duration would dominate the run at 1 s -> 10 ms: it runs at 1 s -> 2 ms
#: (window 0.12 s, open 0.6 s). Its threshold and window checks are exact whatever the scale: the
#: breaker and its trace read the same clock.
BREAKER_SCALE = 0.002
#: Clock resolution slack for "never early" (monotonic floats, not scheduling jitter).
EPSILON_S = 1e-6


def _error(answer: str) -> Exception:
    if answer == "refused":
        return ConnectionRefusedError("refused")
    if answer == "timeout":
        return TimeoutError("timed out")
    status = {"503": 503, "400": 400, "429": 429, "429-ra0": 429, "429-ra1": 429}[answer]
    headers = {"429-ra0": {"Retry-After": "0"}, "429-ra1": {"Retry-After": "1"}}.get(answer, {})
    return httpx.HTTPStatusError(answer, request=_REQUEST, response=httpx.Response(status, headers=headers,
                                                                                   request=_REQUEST))


def _scripted(answers: list[str]) -> object:
    queue = list(answers)

    async def call() -> str:
        answer = queue.pop(0) if queue else "ok"
        if answer == "ok":
            return "ok"
        raise _error(answer)

    return call


def _assert_conforms(events: list[TraceEvent], what: str) -> None:
    report = check_trace(events, policies=resilience_policies(), tolerance_s=RESILIENCE_TOLERANCE_S)
    if not report.ok:
        raise AssertionError(f"{what}: {report.format()}\n{diagram(events)}")


def _waits(events: list[TraceEvent], start: str, end: str) -> list[float]:
    """Per component, the time from each `start` event to the next `end` event."""
    out, opened = [], {}
    for e in events:
        if e.trigger == start:
            opened[e.component] = e.time
        elif e.trigger == end and e.component in opened:
            out.append(e.time - opened.pop(e.component))
    return out


@TIMING
@given(answers=st.lists(st.sampled_from(["ok", "refused", "timeout", "503", "400"]), max_size=6))
def test_retries_follow_the_scaled_backoff_schedule_and_never_fire_early(answers: list[str]) -> None:
    note(f"provider answers: {answers}")
    policy = resilience_policies().backoff
    events: list[TraceEvent] = []
    attempts: list[AttemptEvent] = []

    async def scenario() -> None:
        handler = RetryHandler(policy, trace_sink=events.append)
        handler.on_attempt(attempts.append)
        script = _scripted(answers)
        for _ in range(2):  # two calls share the script: what the first leaves, the second gets
            try:
                await handler.execute(script)  # type: ignore[arg-type]
            except Exception:  # the properties are about the trace, not the outcome
                pass

    asyncio.run(scenario())
    _assert_conforms(events, "retry trace")
    by_call: dict[int, list[float]] = {}
    for a in attempts:
        by_call.setdefault(a.call_id, []).append(a.delay_s)
    for delays in by_call.values():  # exactly the policy's schedule, scaled, in order
        assert delays == policy.schedule()[: len(delays)], (delays, policy.schedule())
    waits = _waits(events, "fail_retryable", "retry")
    wanted = [d for delays in by_call.values() for d in delays]
    for waited, want in zip(waits, wanted, strict=True):
        assert waited >= want - EPSILON_S, f"retry after {waited:.4f} s, before its {want:.4f} s delay"
        assert waited <= want + RESILIENCE_TOLERANCE_S, f"retry {waited - want:.3f} s late (tolerance)"


@TIMING
@given(calls=st.lists(st.tuples(st.sampled_from([0.0, 10.0, 70.0]), st.booleans()), min_size=1, max_size=12))
def test_the_breaker_opens_on_the_threshold_within_its_window_and_waits_its_open_duration(
    calls: list[tuple[float, bool]],
) -> None:
    """Calls separated by gaps (policy seconds) fail or succeed; after the schedule, wait out the open state."""
    note(f"calls (gap policy s, fails): {calls}")
    policies = scale_policies(DEFAULT_POLICIES, BREAKER_SCALE)
    events: list[TraceEvent] = []

    async def scenario() -> None:
        breaker = CircuitBreaker("provider", policies.circuit_breaker, trace_sink=events.append)

        async def answer(fail: bool) -> str:
            if fail:
                raise ConnectionRefusedError("down")
            return "ok"

        for gap, fail in calls:
            await asyncio.sleep(gap * BREAKER_SCALE)
            try:
                await breaker.execute(answer, fail)
            except (ConnectionRefusedError, CircuitOpenError):
                pass
        if breaker.state != CLOSED:  # wait out the open state, then one trial call
            await asyncio.sleep(policies.circuit_breaker.open_duration_s)
            await breaker.execute(answer, False)

    asyncio.run(scenario())
    report = check_trace(events, policies=policies, tolerance_s=RESILIENCE_TOLERANCE_S)
    assert report.ok, f"breaker trace: {report.format()}\n{diagram(events)}"
    cb = policies.circuit_breaker
    for open_for in _waits(events, "trip", "probe"):
        assert open_for >= cb.open_duration_s - EPSILON_S, f"trial after {open_for:.3f} s open"


@TIMING
@given(answers=st.lists(st.sampled_from(["ok", "429", "429-ra0", "429-ra1", "503"]), min_size=1, max_size=3))
def test_rate_limited_calls_wait_retry_after_or_the_scaled_default(answers: list[str]) -> None:
    note(f"provider answers: {answers}")
    policies = resilience_policies()
    events: list[TraceEvent] = []

    async def scenario() -> None:
        handler = RateLimitHandler(policies.rate_limit, service="provider", trace_sink=events.append)
        script = _scripted(answers)
        for _ in range(2):
            try:
                await handler.execute(script)  # type: ignore[arg-type]
            except Exception:
                pass

    asyncio.run(scenario())
    _assert_conforms(events, "rate-limit trace")
    for e in events:  # never early: the scaled default without Retry-After, the header's value with it
        if e.trigger.startswith("limited_"):
            wanted = policies.rate_limit.wait_s(e.data.get("retryAfterS"))
            retry = next(r for r in events if r.component == e.component and r.trigger == "retry")
            assert retry.time - e.time >= wanted - EPSILON_S, f"retried {retry.time - e.time:.3f} s after a 429"


def test_a_killed_worker_is_declared_lost_within_the_heartbeat_detection_window(tmp_path: Path) -> None:
    """Seed 4.2: detection between ``timeout_s`` and ``timeout_s + interval_s`` after the last heartbeat."""
    policies = runtime_policies()
    hb = policies.heartbeat

    async def scenario() -> RuntimeUnderTest:
        run = RuntimeUnderTest(tmp_path, policies)
        try:
            await run.start_orchestrator()
            await run.start_worker("w0", ())
            await until(lambda: any(e.trigger == "heartbeat" for e in run.orchestrator_events()), "a heartbeat")
            await run.kill_worker("w0")
            await until(lambda: any(e.trigger == "heartbeats_missed" for e in run.orchestrator_events()),
                        "the orchestrator to declare w0 lost")
        finally:
            await run.close()
        return run

    run = asyncio.run(scenario())
    events = [e for e in run.orchestrator_events() if e.machine == "worker_lifecycle"]
    last_heartbeat = max(e.time for e in events if e.trigger in ("capabilities_accepted", "heartbeat"))
    detected = next(e for e in events if e.trigger == "heartbeats_missed")
    silent = detected.time - last_heartbeat
    low, high = hb.detection_window_s()
    # Trace times are taken after each commit, so both ends get the tolerance.
    assert low - TOLERANCE_S <= silent <= high + TOLERANCE_S, (
        f"w0 declared lost {silent:.3f} s after its last heartbeat; window [{low:g}, {high:g}] s "
        f"+ {TOLERANCE_S:g} s tolerance")
    report = check_trace(run.orchestrator_events(), policies=policies, tolerance_s=TOLERANCE_S)
    assert report.ok, report.format()
