"""The worker's telemetry buffer (runtime.worker.telemetry): bounded, lossy, counted, snapshots resent."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime.resilience import BreakerRegistry, CallObservation, ExternalService, FakeClock
from runtime.telemetry_protocol import CallOutcome, TelemetryAck, TelemetryBatch
from runtime.worker.telemetry import ANONYMOUS_OPERATION, WorkerTelemetry, call_outcome
from spec.policies import DEFAULT_POLICIES
from spec.taxonomy import ErrorClass

ACK = TelemetryAck(calls=0, breaker_changes=0)
REQUEST = httpx.Request("GET", "http://127.0.0.1/x")


def observation(n: int = 0, error: ErrorClass | None = None, *, refused: bool = False,
                operation: str = "analyze") -> CallObservation:
    return CallObservation("ai", operation, error, refused, float(n), ())


@given(st.integers(min_value=1, max_value=20), st.integers(min_value=0, max_value=60))
def test_the_buffer_keeps_the_newest_and_counts_every_drop(capacity: int, calls: int) -> None:
    telemetry = WorkerTelemetry(max_calls=capacity)
    for n in range(calls):
        telemetry.record_call(observation(n))
    batch = telemetry.next_batch("w1")
    if calls == 0:
        assert batch is None
        return
    assert batch is not None
    assert [c.duration_s for c in batch.calls] == [float(n) for n in range(max(0, calls - capacity), calls)]
    assert batch.dropped_calls == max(0, calls - capacity)
    TelemetryBatch.model_validate_json(batch.model_dump_json(by_alias=True))  # what the orchestrator parses


def test_outcomes_are_ok_the_error_class_or_breaker_open() -> None:
    assert call_outcome(observation()) is CallOutcome.OK
    assert call_outcome(observation(error=ErrorClass.RATE_LIMIT)) is CallOutcome.RATE_LIMIT
    assert call_outcome(observation(error=ErrorClass.NETWORK, refused=True)) is CallOutcome.BREAKER_OPEN
    telemetry = WorkerTelemetry()
    telemetry.record_call(observation(operation="<lambda>"))
    batch = telemetry.next_batch("w1")
    assert batch is not None and batch.calls[0].operation == ANONYMOUS_OPERATION


def test_a_lost_batch_is_counted_and_the_breaker_snapshot_is_sent_again_until_acknowledged() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        registry = BreakerRegistry(clock=clock)
        service = ExternalService("ai", breakers=registry)
        telemetry = WorkerTelemetry(wall_clock=lambda: 42.0)
        telemetry.watch_breakers(registry)
        telemetry.watch_service(service)

        async def analyze() -> None:
            raise httpx.ConnectError("refused", request=REQUEST)

        async def summary() -> str:
            return "fine"

        for _ in range(DEFAULT_POLICIES.circuit_breaker.failure_threshold):
            with pytest.raises(httpx.ConnectError):
                await service.call(analyze)
        first = telemetry.next_batch("w1")
        assert first is not None and first.sequence == 1
        assert first.breakers == {"ai": "open"}
        changes = [(c.source, c.dest, c.trigger, c.at) for c in first.breaker_changes]
        assert changes == [("closed", "open", "trip", 42.0)]
        assert all(c.outcome is CallOutcome.NETWORK and c.retries == DEFAULT_POLICIES.backoff.max_retries
                   for c in first.calls)
        telemetry.lost(first, "orchestrator unreachable")
        second = telemetry.next_batch("w1")
        assert second is not None and second.sequence == 2 and second.calls == [] and second.breakers == {"ai": "open"}
        assert second.dropped_calls == len(first.calls) and second.dropped_breaker_changes == 1
        telemetry.delivered(second, ACK)
        # While the breaker is open its state goes out every heartbeat (an orchestrator that restarted
        # learns it again); with every breaker closed and acknowledged, nothing is sent.
        again = telemetry.next_batch("w1")
        assert again is not None and again.calls == [] and again.breakers == {"ai": "open"}
        await clock.advance(DEFAULT_POLICIES.circuit_breaker.open_duration_s)
        assert await service.call(summary) == "fine"  # the trial succeeds: closed
        closed = telemetry.next_batch("w1")
        assert closed is not None and closed.breakers == {"ai": "closed"}
        telemetry.delivered(closed, ACK)
        assert telemetry.next_batch("w1") is None

    asyncio.run(scenario())


def test_capacities_are_checked() -> None:
    with pytest.raises(ValueError, match="max_calls"):
        WorkerTelemetry(max_calls=0)
    with pytest.raises(ValueError, match="max_breaker_changes"):
        WorkerTelemetry(max_breaker_changes=10**6)


def test_a_breaker_change_asks_for_an_early_batch() -> None:
    registry = BreakerRegistry(clock=FakeClock())
    telemetry = WorkerTelemetry()
    telemetry.watch_breakers(registry)
    registry.get("git")
    assert not telemetry.urgent.is_set()
    registry["git"].force_open()
    assert telemetry.urgent.is_set()
