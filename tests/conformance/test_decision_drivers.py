"""Differential tests: the runtime's and the simulator's drivers of one spec core decide alike.

Random observation sequences -- calls whose outcomes are drawn by error class, at gaps that
include the rules' own boundaries (a failure exactly ``window_s`` old, a call exactly
``open_duration_s`` after opening) -- go through the runtime's asyncio driver (on a
:class:`FakeClock`) and through the simulator's SimPy driver (on ``env.now``). Both must fire
the same triggers on their machines and report the same next deadlines: the rules live once,
in `spec.decisions`, and neither driver adds any of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Generator
from typing import Any

import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.resilience import CircuitBreaker, CircuitOpenError, FakeClock, RetryHandler
from sim import resolve
from sim.resilience import SharedService, counts_against_breaker, retry_verdict
from sim.retrying import retrying
from sim.world import ServiceAnswer, World
from spec.policies import BackoffPolicy, CircuitBreakerPolicy
from spec.trace import TraceEvent, TraceKey

BREAKER = CircuitBreakerPolicy(failure_threshold=3, window_s=60.0, open_duration_s=300.0)
#: Gaps between calls: the rules' boundaries and their neighbours, plus arbitrary ones.
GAPS = st.one_of(st.sampled_from([0.0, 0.5, 1.0, 30.0, 59.5, 60.0, 240.0, 300.0]),
                 st.floats(0.0, 400.0, allow_nan=False))
OUTCOMES = st.sampled_from([ServiceAnswer.OK, ServiceAnswer.SERVER_ERROR, ServiceAnswer.LOST,
                            ServiceAnswer.RATE_LIMITED, ServiceAnswer.UNAUTHORIZED])


class _Answer(Exception):
    """The runtime's view of a service answer: an error with the answer's HTTP status."""

    def __init__(self, status_code: int) -> None:
        super().__init__(f"HTTP {status_code}")
        self.status_code = status_code


def _runtime_error(answer: ServiceAnswer) -> Exception:
    """What the runtime's call raises for the simulator's `answer` (same taxonomy class)."""
    if answer is ServiceAnswer.LOST:
        return ConnectionResetError("lost")
    return _Answer(int(answer.value.replace("xx", "03")))


def _world(**policies: Any) -> World:
    base = resolve("baseline")
    return World(base.model_copy(update={"policies": base.policies.model_copy(update=policies)}), seed=1)


def _advance(env: simpy.Environment, gap: float) -> None:
    if env.now + gap > env.now:  # a gap below the float resolution of now moves neither clock
        env.run(until=env.now + gap)


def _runtime_breaker(observations: list[tuple[float, ServiceAnswer]]) -> tuple[list[str], list[float | None]]:
    async def run() -> tuple[list[str], list[float | None]]:
        clock, events = FakeClock(), list[TraceEvent]()
        breaker = CircuitBreaker("svc", BREAKER, clock=clock, trace_sink=events.append)
        deadlines: list[float | None] = []
        for gap, answer in observations:
            await clock.advance(gap)
            try:
                async with breaker.guard():
                    if answer is not ServiceAnswer.OK:
                        raise _runtime_error(answer)
            except (CircuitOpenError, _Answer, ConnectionError):
                pass
            deadlines.append(breaker.core.next_deadline())
        return [e.trigger for e in events], deadlines

    return asyncio.run(run())


def _sim_breaker(observations: list[tuple[float, ServiceAnswer]]) -> tuple[list[str], list[float | None]]:
    world = _world(circuit_breaker=BREAKER)
    shared = SharedService(world, "ai_provider")
    deadlines: list[float | None] = []
    for gap, answer in observations:
        _advance(world.env, gap)
        admission = shared.admit("worker-1")
        if admission.admitted:
            shared.record(admission, counts_as_failure=counts_against_breaker(answer))
        deadlines.append(shared.core.next_deadline())
    return [e.trigger for e in world.recorder.entries], deadlines


@settings(max_examples=150, deadline=None)
@given(observations=st.lists(st.tuples(GAPS, OUTCOMES), max_size=40))
def test_breaker_drivers_fire_the_same_triggers_and_deadlines(observations: list[tuple[float, ServiceAnswer]]) -> None:
    # Times are compared as the sum of the same gaps on both clocks.
    assert _runtime_breaker(observations) == _sim_breaker(observations)


def test_breaker_boundary_a_failure_exactly_window_s_old_no_longer_counts() -> None:
    """Disagreement 1, through both drivers: failures at 0, 30 and 60 s do not trip a 3-in-60 s breaker."""
    fail = ServiceAnswer.SERVER_ERROR
    observations = [(0.0, fail), (30.0, fail), (30.0, fail)]
    for triggers, _ in (_runtime_breaker(observations), _sim_breaker(observations)):
        assert triggers[-1] == "record_failure" and "trip" not in triggers
    almost = [(0.0, fail), (30.0, fail), (29.5, fail)]
    for triggers, _ in (_runtime_breaker(almost), _sim_breaker(almost)):
        assert triggers[-1] == "trip"


def test_breaker_healthy_answers_do_not_count_in_either_driver() -> None:
    """Disagreement 2, through both drivers: rate limits and rejected credentials never trip the breaker."""
    observations = [(1.0, ServiceAnswer.RATE_LIMITED), (1.0, ServiceAnswer.UNAUTHORIZED)] * 5
    for triggers, _ in (_runtime_breaker(observations), _sim_breaker(observations)):
        assert set(triggers) == {"admit", "record_success"}


def test_breaker_extra_half_open_trials_are_admitted_by_both_drivers() -> None:
    """Disagreement 3: with half_open_max_trials=2 a second call rides on the trial in both drivers."""
    policy = BREAKER.model_copy(update={"half_open_max_trials": 2, "failure_threshold": 1})
    world = _world(circuit_breaker=policy)
    shared = SharedService(world, "ai_provider")
    shared.record(shared.admit("worker-1"), counts_as_failure=True)
    _advance(world.env, 300.0)
    sim_admitted = [shared.admit(f"worker-{n}").admitted for n in (1, 2, 3)]

    async def runtime() -> list[bool]:
        clock = FakeClock()
        breaker = CircuitBreaker("svc", policy, clock=clock)
        with contextlib.suppress(ConnectionError):
            async with breaker.guard():
                raise ConnectionError("down")
        await clock.advance(300.0)
        admitted = []
        for _ in range(3):
            try:
                breaker.admit()
                admitted.append(True)
            except CircuitOpenError:
                admitted.append(False)
        return admitted

    assert sim_admitted == asyncio.run(runtime()) == [True, True, False]


def _runtime_retry(policy: BackoffPolicy, answers: list[ServiceAnswer], seed: int) -> tuple[list[str], list[float]]:
    async def run() -> tuple[list[str], list[float]]:
        events: list[TraceEvent] = []
        handler = RetryHandler(policy, clock=FakeClock(), rng=random.Random(seed), trace_sink=events.append)
        delays: list[float] = []
        handler.on_attempt(lambda attempt: delays.append(attempt.delay_s))
        script = iter(answers)

        async def call() -> str:
            answer = next(script, ServiceAnswer.OK)
            if answer is not ServiceAnswer.OK:
                raise _runtime_error(answer)
            return "ok"

        try:
            await handler.execute(call)
        except (_Answer, ConnectionError):
            pass
        return [e.trigger for e in events], delays

    return asyncio.run(run())


def _sim_retry(policy: BackoffPolicy, answers: list[ServiceAnswer], seed: int) -> tuple[list[str], list[float]]:
    world = _world(backoff=policy)
    world.jitter = random.Random(seed)
    script = iter(answers)

    def attempt() -> Generator[simpy.Event, Any, ServiceAnswer]:
        yield world.env.timeout(0)
        return next(script, ServiceAnswer.OK)

    world.env.process(retrying(world, "call", attempt, retry_verdict))
    world.env.run()
    entries = world.recorder.entries
    delays = [float(e.data[TraceKey.DELAY_S]) for e in entries if e.data and TraceKey.DELAY_S in e.data]
    # The simulator binds the retry machine at the first failure: an untraced first success.
    return ([e.trigger for e in entries] or ["attempt", "succeed"]), delays


@settings(max_examples=100, deadline=None)
@given(answers=st.lists(OUTCOMES.filter(lambda a: a is not ServiceAnswer.RATE_LIMITED), max_size=6),
       jitter=st.sampled_from([0.0, 0.25, 1.0]), max_retries=st.integers(0, 4), seed=st.integers(0, 2**16))
def test_retry_drivers_fire_the_same_triggers_and_waits(answers: list[ServiceAnswer], jitter: float,
                                                         max_retries: int, seed: int) -> None:
    """Disagreement 6, through both drivers: the same jitter draws give the same capped waits."""
    policy = BackoffPolicy(jitter=jitter, max_retries=max_retries, max_delay_s=3.0)
    assert _runtime_retry(policy, answers, seed) == _sim_retry(policy, answers, seed)
