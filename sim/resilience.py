"""A worker's calls to external services: circuit breaker, retry, rate limit and re-authentication.

The call path of seed 4.5's circuit-breaker diagram (breaker -> retry handler -> service), each
layer driven by its spec machine (``circuit_breaker``, ``retry``, ``rate_limit``, ``auth_error``)
and its policy. One breaker per external service is shared by the worker pool, as an egress
proxy would hold it, so concurrent calls meet the half-open single-trial rule.

What counts as a breaker failure: a call that exhausted its retries against 5xx answers or lost
messages. Rate-limit and authentication failures are answers from a healthy service and do not
count; while half-open, any failure of the trial re-opens the breaker.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import simpy

from sim.recorder import TracedMachine
from sim.retrying import Verdict, retrying
from sim.world import AI_ID, WORKER_ID, ServiceAnswer, World
from spec.taxonomy import FailureCode

_FAILURE_CODE = {AI_ID: FailureCode.AI_ERROR.value}


@dataclass(frozen=True)
class CallOutcome:
    ok: bool
    reason: str = ""
    counts_for_breaker: bool = False


class SharedBreaker:
    def __init__(self, world: World, service: str) -> None:
        self.machine: TracedMachine = world.recorder.bind("circuit_breaker", f"breaker:{service}")
        self.failures: deque[float] = deque()
        self.opened_at = 0.0


class ServiceCaller:
    """One worker's view of the external services; breakers are shared through `breakers`."""

    def __init__(self, world: World, worker_id: str, worker_index: int, breakers: dict[str, SharedBreaker]) -> None:
        self.world = world
        self.env = world.env
        self.worker_id = worker_id
        self.worker_index = worker_index
        self.breakers = breakers
        self.credentials_since: dict[str, float] = {}
        self.limited_since: dict[str, float] = {}

    def _failure_code(self, service: str) -> str:
        return _FAILURE_CODE.get(service, FailureCode.GIT_ERROR.value)

    def call(self, service: str) -> Generator[simpy.Event, Any, CallOutcome]:
        breaker = self.breakers[service]
        policy = self.world.policies.circuit_breaker
        state = breaker.machine.state
        now = self.env.now
        trial = False
        if state == "open":
            if now - breaker.opened_at < policy.open_duration_s:
                breaker.machine.fire("reject", {"worker": self.worker_id})
                return CallOutcome(False, f"{self._failure_code(service)}: circuit open")
            breaker.machine.fire("probe", {"worker": self.worker_id})
            trial = True
        elif state == "half_open":
            breaker.machine.fire("reject_during_trial", {"worker": self.worker_id})
            return CallOutcome(False, f"{self._failure_code(service)}: circuit half-open, trial in flight")
        else:
            breaker.machine.fire("admit", {"worker": self.worker_id})
        outcome = yield from self._call_with_retries(service)
        now = self.env.now
        if trial:
            if outcome.ok:
                breaker.failures.clear()
                breaker.machine.fire("trial_succeeded")
            else:
                breaker.opened_at = now
                breaker.machine.fire("trial_failed")
            return outcome
        if breaker.machine.state != "closed":
            return outcome  # another worker's failure opened it meanwhile; nothing to record here
        if outcome.ok:
            breaker.machine.fire("record_success")
        elif outcome.counts_for_breaker:
            window = breaker.failures
            window.append(now)
            while window and now - window[0] > policy.window_s:
                window.popleft()
            if len(window) >= policy.failure_threshold:
                breaker.opened_at = now
                breaker.machine.fire("trip", {"failures": list(window)})
                window.clear()
            else:
                breaker.machine.fire("record_failure")
        return outcome

    def _call_with_retries(self, service: str) -> Generator[simpy.Event, Any, CallOutcome]:
        def attempt() -> Generator[simpy.Event, Any, ServiceAnswer]:
            answer, retry_after = yield from self._send(service)
            if answer is ServiceAnswer.RATE_LIMITED:
                answer, retry_after = yield from self._wait_out_rate_limit(service, retry_after)
            if answer is ServiceAnswer.UNAUTHORIZED:
                answer = yield from self._reauthenticate(service)
            return answer

        def classify(answer: ServiceAnswer) -> Verdict:
            if answer is ServiceAnswer.OK:
                return Verdict.OK
            if answer in (ServiceAnswer.SERVER_ERROR, ServiceAnswer.LOST):
                return Verdict.RETRY
            return Verdict.STOP

        answer = yield from retrying(
            self.world, f"call:{self.worker_id}:{service}", attempt, classify, reason=lambda a: str(a.value)
        )
        code = self._failure_code(service)
        if answer is ServiceAnswer.OK:
            return CallOutcome(True)
        if answer is ServiceAnswer.RATE_LIMITED:
            return CallOutcome(False, f"{code}: still rate limited after Retry-After")
        if answer is ServiceAnswer.UNAUTHORIZED:
            return CallOutcome(False, f"{code}: authentication failed")
        return CallOutcome(False, f"{code}: {answer.value} after {self.world.policies.backoff.max_retries} retries",
                           counts_for_breaker=True)

    def _send(self, service: str) -> Generator[simpy.Event, Any, tuple[ServiceAnswer, float | None]]:
        world, env = self.world, self.env
        out_ok, out = world.transit(WORKER_ID, service, self.worker_index)
        if not out_ok:
            yield env.timeout(world.topology.request_timeout_s)
            return ServiceAnswer.LOST, None
        if out > 0:
            yield env.timeout(out)
        answer, retry_after = world.answer_of(service, env.now, self.credentials_since.get(service, 0.0))
        work = world.topology.service_call_s
        if work > 0:
            yield env.timeout(work)
        back_ok, back = world.transit(service, WORKER_ID, self.worker_index)
        if not back_ok:
            yield env.timeout(max(0.0, world.topology.request_timeout_s - out - work))
            return ServiceAnswer.LOST, None
        if back > 0:
            yield env.timeout(back)
        if answer is not ServiceAnswer.RATE_LIMITED:
            self.limited_since.pop(service, None)
        return answer, retry_after

    def _wait_out_rate_limit(
        self, service: str, retry_after: float | None
    ) -> Generator[simpy.Event, Any, tuple[ServiceAnswer, float | None]]:
        policy = self.world.policies.rate_limit
        since = self.limited_since.setdefault(service, self.env.now)
        machine = self.world.recorder.bind("rate_limit", self.world.unique(f"ratelimit:{self.worker_id}:{service}"))
        machine.fire("request")
        wait = policy.wait_s(retry_after)
        if retry_after is not None:
            machine.fire("limited_with_retry_after", {"retry_after_s": retry_after, "wait_s": wait})
        else:
            machine.fire("limited_without_retry_after", {"wait_s": wait})
        yield self.env.timeout(wait)
        machine.fire("retry")
        answer, again = yield from self._send(service)
        if answer is ServiceAnswer.RATE_LIMITED:
            persisted = self.env.now - since > policy.escalate_after_s
            machine.fire("limit_persisted" if persisted else "still_limited")
            return answer, again
        machine.fire("retry_succeeded")
        return answer, again

    def _reauthenticate(self, service: str) -> Generator[simpy.Event, Any, ServiceAnswer]:
        machine = self.world.recorder.bind("auth_error", self.world.unique(f"auth:{self.worker_id}:{service}"))
        machine.fire("request")
        machine.fire("unauthorized")
        revoked = self.world.faults.auth_failure(service, self.env.now)
        if revoked is None or revoked.reauth_after_s is None:
            machine.fire("no_credentials")
            return ServiceAnswer.UNAUTHORIZED
        yield self.env.timeout(revoked.reauth_after_s)
        self.credentials_since[service] = self.env.now
        machine.fire("credentials_provided")
        answer, _ = yield from self._send(service)
        if answer is ServiceAnswer.UNAUTHORIZED:
            machine.fire("unauthorized_again")
            return answer
        machine.fire("retry_succeeded")
        return answer
