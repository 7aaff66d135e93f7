"""A worker's calls to external services: circuit breaker, retry, rate limit and re-authentication.

The call path of seed 4.5's circuit-breaker diagram (breaker -> retry handler -> service), each
layer driven by its spec machine (``circuit_breaker``, ``retry``, ``rate_limit``, ``auth_error``)
and its policy. One breaker per external service is shared by the worker pool, as an egress
proxy would hold it, so concurrent calls meet the half-open single-trial rule.

The rules are the spec's cores: :class:`~spec.decisions.circuit_breaker.BreakerCore` decides
admissions, trips and trials, :class:`~spec.decisions.rate_limit.RateLimitCore` the waits after a
429 and when a persistent limit escalates, and each answer's taxonomy class (:data:`ANSWER_CLASS`)
whether it is retried (``retries_with_backoff``) and whether it counts against the breaker
(``counts_against_breaker``): 5xx answers and lost messages do; a rate limit or rejected
credentials are answers of a healthy service and count as its success, also for a trial.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import simpy

from sim.recorder import TracedMachine
from sim.retrying import Verdict, retrying
from sim.world import AI_ID, WORKER_ID, ServiceAnswer, World
from spec.decisions.circuit_breaker import Admission, BreakerCore
from spec.decisions.rate_limit import RateLimitCore
from spec.machines.auth_error import AuthTrigger
from spec.machines.circuit_breaker import BreakerTrigger
from spec.machines.rate_limit import RateLimitTrigger
from spec.taxonomy import ErrorClass, FailureCode, category
from spec.trace import TraceKey

#: The taxonomy class of each failed answer of a modelled service.
ANSWER_CLASS: dict[ServiceAnswer, ErrorClass] = {
    ServiceAnswer.SERVER_ERROR: ErrorClass.NETWORK,
    ServiceAnswer.LOST: ErrorClass.NETWORK,
    ServiceAnswer.RATE_LIMITED: ErrorClass.RATE_LIMIT,
    ServiceAnswer.UNAUTHORIZED: ErrorClass.AUTHENTICATION,
}

_FAILURE_CODE = {AI_ID: FailureCode.AI_ERROR.value}


@dataclass(frozen=True)
class CallOutcome:
    ok: bool
    reason: str = ""
    counts_for_breaker: bool = False


def counts_against_breaker(answer: ServiceAnswer) -> bool:
    error_class = ANSWER_CLASS.get(answer)
    return error_class is not None and category(error_class).counts_against_breaker


def retry_verdict(answer: ServiceAnswer) -> Verdict:
    if answer is ServiceAnswer.OK:
        return Verdict.OK
    return Verdict.RETRY if category(ANSWER_CLASS[answer]).retries_with_backoff else Verdict.STOP


class SharedService:
    """One external service as the worker pool shares it: its breaker (the spec's core and its traced
    machine) and its rate limit, as an egress proxy would hold them."""

    def __init__(self, world: World, service: str) -> None:
        self.env = world.env
        self.machine: TracedMachine = world.recorder.bind("circuit_breaker", f"breaker:{service}")
        self.core = BreakerCore(world.policies.circuit_breaker)
        self.rate_limit = RateLimitCore(world.policies.rate_limit)

    def admit(self, worker_id: str) -> Admission:
        """Ask the breaker whether `worker_id`'s call may go through now; fires what the core decided."""
        admission = self.core.admit(self.env.now)
        if admission.trigger is not None:
            self.machine.fire(admission.trigger, {TraceKey.WORKER_ID: worker_id})
        return admission

    def record(self, admission: Admission, *, counts_as_failure: bool) -> None:
        """An admitted call ended now; fires what the core decided (nothing for a stale outcome)."""
        trigger = self.core.record(admission, self.env.now, counts_as_failure=counts_as_failure)
        if trigger is not None:
            self.machine.fire(trigger)


class ServiceCaller:
    """One worker's view of the external services; breakers are shared through `breakers`."""

    def __init__(self, world: World, worker_id: str, worker_index: int, breakers: dict[str, SharedService]) -> None:
        self.world = world
        self.env = world.env
        self.worker_id = worker_id
        self.worker_index = worker_index
        self.breakers = breakers
        self.credentials_since: dict[str, float] = {}

    def _failure_code(self, service: str) -> str:
        return _FAILURE_CODE.get(service, FailureCode.GIT_ERROR.value)

    def call(self, service: str) -> Generator[simpy.Event, Any, CallOutcome]:
        shared = self.breakers[service]
        admission = shared.admit(self.worker_id)
        if not admission.admitted:
            why = "circuit open" if admission.trigger is BreakerTrigger.REJECT else "circuit half-open, trial in flight"
            return CallOutcome(False, f"{self._failure_code(service)}: {why}")
        outcome = yield from self._call_with_retries(service)
        shared.record(admission, counts_as_failure=outcome.counts_for_breaker)
        return outcome

    def _call_with_retries(self, service: str) -> Generator[simpy.Event, Any, CallOutcome]:
        def attempt() -> Generator[simpy.Event, Any, ServiceAnswer]:
            answer, retry_after = yield from self._send(service)
            if answer is ServiceAnswer.RATE_LIMITED:
                answer, retry_after = yield from self._wait_out_rate_limit(service, retry_after)
            if answer is ServiceAnswer.UNAUTHORIZED:
                answer = yield from self._reauthenticate(service)
            return answer

        answer = yield from retrying(
            self.world, f"call:{self.worker_id}:{service}", attempt, retry_verdict, reason=lambda a: str(a.value)
        )
        code = self._failure_code(service)
        if answer is ServiceAnswer.OK:
            return CallOutcome(True)
        if answer is ServiceAnswer.RATE_LIMITED:
            return CallOutcome(False, f"{code}: still rate limited after Retry-After")
        if answer is ServiceAnswer.UNAUTHORIZED:
            return CallOutcome(False, f"{code}: authentication failed")
        return CallOutcome(False, f"{code}: {answer.value} after {self.world.policies.backoff.max_retries} retries",
                           counts_for_breaker=counts_against_breaker(answer))

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
            self.breakers[service].rate_limit.answered()
        return answer, retry_after

    def _wait_out_rate_limit(
        self, service: str, retry_after: float | None
    ) -> Generator[simpy.Event, Any, tuple[ServiceAnswer, float | None]]:
        limit = self.breakers[service].rate_limit
        machine = self.world.recorder.bind("rate_limit", self.world.unique(f"ratelimit:{self.worker_id}:{service}"))
        machine.fire(RateLimitTrigger.REQUEST)
        decision = limit.limited(self.env.now, retry_after)
        if decision.trigger is RateLimitTrigger.RETRY_AFTER_TOO_LONG:
            machine.fire(decision.trigger, {TraceKey.RETRY_AFTER_S: decision.retry_after_s})
            return ServiceAnswer.RATE_LIMITED, retry_after
        data: dict[str, Any] = {TraceKey.WAIT_S: decision.wait_s}
        if decision.retry_after_s is not None:
            data[TraceKey.RETRY_AFTER_S] = decision.retry_after_s
        machine.fire(decision.trigger, data)
        yield self.env.timeout(decision.wait_s)
        machine.fire(RateLimitTrigger.RETRY)
        answer, again = yield from self._send(service)
        if answer is ServiceAnswer.RATE_LIMITED:
            machine.fire(limit.limited_again(self.env.now))
            return answer, again
        machine.fire(RateLimitTrigger.RETRY_SUCCEEDED)
        return answer, again

    def _reauthenticate(self, service: str) -> Generator[simpy.Event, Any, ServiceAnswer]:
        machine = self.world.recorder.bind("auth_error", self.world.unique(f"auth:{self.worker_id}:{service}"))
        machine.fire(AuthTrigger.REQUEST)
        machine.fire(AuthTrigger.UNAUTHORIZED)
        revoked = self.world.faults.auth_failure(service, self.env.now)
        if revoked is None or revoked.reauth_after_s is None:
            machine.fire(AuthTrigger.NO_CREDENTIALS)
            return ServiceAnswer.UNAUTHORIZED
        yield self.env.timeout(revoked.reauth_after_s)
        self.credentials_since[service] = self.env.now
        machine.fire(AuthTrigger.CREDENTIALS_PROVIDED)
        answer, _ = yield from self._send(service)
        if answer is ServiceAnswer.UNAUTHORIZED:
            machine.fire(AuthTrigger.UNAUTHORIZED_AGAIN)
            return answer
        machine.fire(AuthTrigger.RETRY_SUCCEEDED)
        return answer
