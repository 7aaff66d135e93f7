"""The circuit breaker (seed 4.5): closed, open, half-open.

``CircuitBreakerPolicy`` decides *when*: ``trip`` fires on the ``failure_threshold``-th failure
within ``window_s``; ``probe`` fires on the first call after ``open_duration_s``; while half-open
exactly ``half_open_max_trials`` call is let through and others are rejected.
"""

from __future__ import annotations

from spec.machine import SAME, MachineSpec, StateRole, StateSpec, transition
from spec.messages import call, reply, step
from spec.participants import CIRCUIT_BREAKER, CLIENT, RETRY_HANDLER, SERVICE

CB, RETRY, SVC, CLI = CIRCUIT_BREAKER, RETRY_HANDLER, SERVICE, CLIENT

_UNAVAILABLE = (reply(CB, SVC, "circuit open"), reply(SVC, CLI, "Service Unavailable"))

CIRCUIT_BREAKER_MACHINE = MachineSpec(
    name="circuit_breaker",
    title="Circuit breaker",
    seed_section="4.5",
    description="Counts failures of calls to one external service and fails fast while it is down.",
    initial="closed",
    states=(
        StateSpec("closed", "Calls pass through; failures are counted in a sliding window.", StateRole.RESTING),
        StateSpec("open", "Calls fail fast with 'Circuit breaker is open' until open_duration_s passes.",
                  StateRole.RESTING),
        StateSpec("half_open", "One trial call is in flight; other calls are rejected."),
    ),
    transitions=(
        transition("admit", "closed", SAME, "A call enters while closed.",
                   call(CLI, SVC, "request()"), call(SVC, CB, "execute()"), call(CB, RETRY, "attemptOperation()")),
        transition("record_success", "closed", SAME, "The call (with its retries) succeeded.",
                   reply(RETRY, CB, "success"), step(CB, "recordSuccess()"), reply(CB, SVC, "success"),
                   reply(SVC, CLI, "response")),
        transition("record_failure", "closed", SAME, "The call failed; still below the threshold.",
                   reply(RETRY, CB, "failure"), step(CB, "recordFailure()"), step(CB, "checkFailureThreshold()"),
                   reply(CB, SVC, "failure"), reply(SVC, CLI, "error")),
        transition("trip", "closed", "open", "The threshold-th failure within the window.",
                   reply(RETRY, CB, "failure"), step(CB, "recordFailure()"), step(CB, "checkFailureThreshold()"),
                   step(CB, "openCircuit()"), *_UNAVAILABLE),
        transition("reject", "open", SAME, "A call while the open duration has not elapsed.",
                   call(CLI, SVC, "request()"), call(SVC, CB, "execute()"), step(CB, "checkTimeout()"),
                   *_UNAVAILABLE),
        transition("probe", "open", "half_open", "The first call after the open duration becomes the trial.",
                   call(CLI, SVC, "request()"), call(SVC, CB, "execute()"), step(CB, "checkTimeout()"),
                   step(CB, "halfOpenCircuit()"), call(CB, RETRY, "attemptOperation()")),
        transition("reject_during_trial", "half_open", SAME, "Only one trial at a time.",
                   call(CLI, SVC, "request()"), call(SVC, CB, "execute()"), *_UNAVAILABLE),
        transition("trial_succeeded", "half_open", "closed", "The service is back.",
                   reply(RETRY, CB, "success"), step(CB, "closeCircuit()"),
                   reply(CB, SVC, "success"), reply(SVC, CLI, "response")),
        transition("trial_abandoned", "half_open", "open",
                   "The trial was cancelled: it says nothing about the service, so the breaker reopens "
                   "without restarting the open duration and the next call is the new trial.",
                   step(CB, "abandonTrial()"), step(CB, "reopenCircuit()")),
        transition("trial_failed", "half_open", "open", "Still down: open again for open_duration_s.",
                   reply(RETRY, CB, "failure"), step(CB, "openCircuit()"), *_UNAVAILABLE),
    ),
)
