"""The circuit breaker (seed 4.5): closed, open, half-open.

``CircuitBreakerPolicy`` decides *when*: ``trip`` fires on the ``failure_threshold``-th failure
within ``window_s``; ``probe`` fires on the first call after ``open_duration_s``; while half-open
exactly ``half_open_max_trials`` call is let through and others are rejected.
"""

from __future__ import annotations

from enum import StrEnum

from spec.machine import SAME, MachineSpec, StateRole, StateSpec, transition
from spec.messages import call, reply, step
from spec.participants import CIRCUIT_BREAKER, CLIENT, RETRY_HANDLER, SERVICE

CB, RETRY, SVC, CLI = CIRCUIT_BREAKER, RETRY_HANDLER, SERVICE, CLIENT


class BreakerState(StrEnum):
    """The breaker's states, named once for the table and every consumer."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class BreakerTrigger(StrEnum):
    """The breaker's triggers, named once for the table and every consumer."""

    ADMIT = "admit"
    RECORD_SUCCESS = "record_success"
    RECORD_FAILURE = "record_failure"
    TRIP = "trip"
    REJECT = "reject"
    PROBE = "probe"
    REJECT_DURING_TRIAL = "reject_during_trial"
    TRIAL_SUCCEEDED = "trial_succeeded"
    TRIAL_ABANDONED = "trial_abandoned"
    TRIAL_FAILED = "trial_failed"


S, T = BreakerState, BreakerTrigger

_UNAVAILABLE = (reply(CB, SVC, "circuit open"), reply(SVC, CLI, "Service Unavailable"))

CIRCUIT_BREAKER_MACHINE = MachineSpec(
    name="circuit_breaker",
    title="Circuit breaker",
    seed_section="4.5",
    description="Counts failures of calls to one external service and fails fast while it is down.",
    initial=S.CLOSED,
    states=(
        StateSpec(S.CLOSED, "Calls pass through; failures are counted in a sliding window.", StateRole.RESTING),
        StateSpec(S.OPEN, "Calls fail fast with 'Circuit breaker is open' until open_duration_s passes.",
                  StateRole.RESTING),
        StateSpec(S.HALF_OPEN, "One trial call is in flight; other calls are rejected."),
    ),
    transitions=(
        transition(T.ADMIT, S.CLOSED, SAME, "A call enters while closed.",
                   call(CLI, SVC, "request()"), call(SVC, CB, "execute()"), call(CB, RETRY, "attemptOperation()")),
        transition(T.RECORD_SUCCESS, S.CLOSED, SAME, "The call (with its retries) succeeded.",
                   reply(RETRY, CB, "success"), step(CB, "recordSuccess()"), reply(CB, SVC, "success"),
                   reply(SVC, CLI, "response")),
        transition(T.RECORD_FAILURE, S.CLOSED, SAME, "The call failed; still below the threshold.",
                   reply(RETRY, CB, "failure"), step(CB, "recordFailure()"), step(CB, "checkFailureThreshold()"),
                   reply(CB, SVC, "failure"), reply(SVC, CLI, "error")),
        transition(T.TRIP, S.CLOSED, S.OPEN, "The threshold-th failure within the window.",
                   reply(RETRY, CB, "failure"), step(CB, "recordFailure()"), step(CB, "checkFailureThreshold()"),
                   step(CB, "openCircuit()"), *_UNAVAILABLE),
        transition(T.REJECT, S.OPEN, SAME, "A call while the open duration has not elapsed.",
                   call(CLI, SVC, "request()"), call(SVC, CB, "execute()"), step(CB, "checkTimeout()"),
                   *_UNAVAILABLE),
        transition(T.PROBE, S.OPEN, S.HALF_OPEN, "The first call after the open duration becomes the trial.",
                   call(CLI, SVC, "request()"), call(SVC, CB, "execute()"), step(CB, "checkTimeout()"),
                   step(CB, "halfOpenCircuit()"), call(CB, RETRY, "attemptOperation()")),
        transition(T.REJECT_DURING_TRIAL, S.HALF_OPEN, SAME, "Only one trial at a time.",
                   call(CLI, SVC, "request()"), call(SVC, CB, "execute()"), *_UNAVAILABLE),
        transition(T.TRIAL_SUCCEEDED, S.HALF_OPEN, S.CLOSED, "The service is back.",
                   reply(RETRY, CB, "success"), step(CB, "closeCircuit()"),
                   reply(CB, SVC, "success"), reply(SVC, CLI, "response")),
        transition(T.TRIAL_ABANDONED, S.HALF_OPEN, S.OPEN,
                   "The trial was cancelled: it says nothing about the service, so the breaker reopens "
                   "without restarting the open duration and the next call is the new trial.",
                   step(CB, "abandonTrial()"), step(CB, "reopenCircuit()")),
        transition(T.TRIAL_FAILED, S.HALF_OPEN, S.OPEN, "Still down: open again for open_duration_s.",
                   reply(RETRY, CB, "failure"), step(CB, "openCircuit()"), *_UNAVAILABLE),
    ),
)
