"""One trace vocabulary (`spec.trace.TraceKey`): the checker reads what both writers write.

Disagreement 5: the simulator used to write ``retry_after_s`` where the runtime writes
``retryAfterS``, so the Retry-After rule was silently skipped on simulator traces. Both traces
now conform, and the same tampering -- a tripled Retry-After -- is caught in either.
"""

from __future__ import annotations

import asyncio

from runtime.resilience import FakeClock, RateLimitHandler
from sim import resolve, run_scenario
from sim.recorder import to_event
from spec.conformance import check_trace
from spec.trace import TraceEvent, TraceKey


def _tripled_retry_after(events: list[TraceEvent]) -> list[TraceEvent]:
    """The same trace with the first honoured Retry-After multiplied by 3."""
    index = next(i for i, e in enumerate(events) if TraceKey.RETRY_AFTER_S in e.data)
    event = events[index]
    data = {**event.data, TraceKey.RETRY_AFTER_S: 3 * float(event.data[TraceKey.RETRY_AFTER_S])}
    return [*events[:index], event.model_copy(update={"data": data}), *events[index + 1:]]


def _assert_caught_when_tripled(events: list[TraceEvent]) -> None:
    assert check_trace(events).ok, check_trace(events).format()
    tampered = check_trace(_tripled_retry_after(events))
    assert tampered.divergence is not None and tampered.divergence.reason == "retried before Retry-After"


def test_a_simulator_trace_with_a_tripled_retry_after_fails_conformance() -> None:
    run = run_scenario(resolve("rate_limit_retry_after"))
    events = [to_event(e) for e in run.entries if e.machine == "rate_limit"]
    assert any(TraceKey.RETRY_AFTER_S in e.data for e in events)
    _assert_caught_when_tripled(events)


def test_a_runtime_trace_with_a_tripled_retry_after_fails_conformance() -> None:
    class Limited(Exception):
        status_code = 429
        retry_after_s = 7.0

    async def run() -> list[TraceEvent]:
        events: list[TraceEvent] = []
        handler = RateLimitHandler(service="svc", clock=FakeClock(), trace_sink=events.append)
        answers = iter([Limited(), None])

        async def call() -> str:
            answer = next(answers)
            if answer is not None:
                raise answer
            return "ok"

        await handler.execute(call)
        return events

    _assert_caught_when_tripled(asyncio.run(run()))


def test_a_retry_after_wait_without_its_retry_after_is_a_divergence() -> None:
    """A writer that drops the key no longer makes the rule vacuous."""
    run = run_scenario(resolve("rate_limit_retry_after"))
    events = [to_event(e) for e in run.entries if e.machine == "rate_limit"]
    stripped = [e.model_copy(update={"data": {}}) for e in events]
    report = check_trace(stripped)
    assert report.divergence is not None and "without its Retry-After" in report.divergence.reason
