"""Seed 4.5: circuit breaker with retry handler and monitoring; retry, rate-limit and auth handling."""

from __future__ import annotations

from spec.participants import ADMIN, CIRCUIT_BREAKER, CLIENT, LOGGER, MONITOR, RETRY_HANDLER, SERVICE
from spec.policies import DEFAULT_POLICIES, AlertRule
from spec.story import Branch, Note, Step, Story, alt, branch, happy_branch, loop

CB, R, A = "circuit_breaker", "retry", "alert_rule"
_B = DEFAULT_POLICIES.circuit_breaker
_BO = DEFAULT_POLICIES.backoff
_RL = DEFAULT_POLICIES.rate_limit
_SCHEDULE = ", ".join(f"{d:g} s" for d in _BO.schedule())


def _alert_branch(rule: AlertRule) -> Branch:
    """One alt branch per alert rule in the policy, so new rules appear in the diagram."""
    label = f"{rule.summary}: {rule.metric} > {rule.threshold:g} for {rule.for_s:g} s"
    params = {"rule": rule.name, "summary": rule.summary, "level": str(rule.escalation_level)}
    return branch(label, Step(A, "breach", params), Step(A, "sustained", params), given={A: "inactive"})


CIRCUIT_BREAKER_STORY = Story(
    name="circuit_breaker",
    title="Circuit breaker with retries and monitoring",
    seed_section="4.5",
    description="Calls pass through the breaker and the retry handler; failures open the breaker; a trial call "
    "after the open duration closes it again; outcomes feed the alert rules.",
    machines=(CB, R, A),
    participants=(CLIENT, SERVICE, CIRCUIT_BREAKER, RETRY_HANDLER, LOGGER, MONITOR),
    items=(
        Note("Circuit Breaker Pattern", (CLIENT, MONITOR)),
        alt(
            happy_branch(
                "Circuit Breaker Closed",
                Step(CB, "admit"),
                Step(R, "attempt"),
                alt(
                    happy_branch("Operation Successful", Step(R, "succeed"), Step(CB, "record_success")),
                    branch(
                        "Operation Fails",
                        alt(
                            branch(f"Retry Count < Max ({_BO.max_retries}; delays {_SCHEDULE})",
                                   Step(R, "fail_retryable"), Step(R, "retry")),
                            branch(
                                "Retry Count >= Max",
                                Step(R, "give_up"),
                                alt(
                                    branch(f"Failure Threshold Reached ({_B.failure_threshold} in {_B.window_s:g} s)",
                                           Step(CB, "trip")),
                                    branch("Below Threshold", Step(CB, "record_failure")),
                                ),
                            ),
                        ),
                    ),
                ),
            ),
            branch(
                "Circuit Breaker Open",
                alt(
                    branch(
                        f"Timeout Period Elapsed ({_B.open_duration_s:g} s)",
                        Step(CB, "probe"),
                        Step(R, "attempt"),
                        alt(
                            happy_branch("Operation Successful", Step(R, "succeed"), Step(CB, "trial_succeeded")),
                            branch("Operation Fails", Step(R, "give_up"), Step(CB, "trial_failed")),
                        ),
                    ),
                    branch("Still in Timeout", Step(CB, "reject")),
                ),
                given={CB: "open", R: "idle"},
            ),
        ),
        Note("Error Monitoring and Alerting", (CLIENT, MONITOR)),
        Step(A, "record"),
        alt(*(_alert_branch(rule) for rule in DEFAULT_POLICIES.alerts.rules)),
    ),
)

RETRY_STORY = Story(
    name="retry_backoff",
    title="Retry with exponential backoff",
    seed_section="4.5",
    description="Retryable errors are retried on the policy's schedule; everything else is raised at once.",
    machines=(R,),
    participants=(RETRY_HANDLER, SERVICE),
    items=(
        Step(R, "attempt"),
        loop(f"Retryable error, retries left (max {_BO.max_retries}; delays {_SCHEDULE}; cap {_BO.max_delay_s:g} s)",
             Step(R, "fail_retryable"), Step(R, "retry")),
        alt(
            happy_branch("Operation successful", Step(R, "succeed")),
            branch("Retries exhausted", Step(R, "give_up")),
            branch("Not retryable (validation, authentication, system)", Step(R, "fail_permanent")),
            branch("Caller cancelled", Step(R, "cancel")),
        ),
    ),
)

RL = "rate_limit"
RATE_LIMIT_STORY = Story(
    name="rate_limit",
    title="Rate-limit handling",
    seed_section="4.5",
    description="429 responses wait for Retry-After (or the default) and retry once; persistent limits escalate.",
    machines=(RL,),
    participants=(CLIENT, SERVICE, MONITOR),
    items=(
        Step(RL, "request"),
        alt(
            happy_branch("Not rate-limited", Step(RL, "succeed")),
            branch(
                "429 with Retry-After (seconds or HTTP date)",
                Step(RL, "limited_with_retry_after"),
                Step(RL, "retry"),
                alt(
                    happy_branch("Retry succeeds", Step(RL, "retry_succeeded")),
                    branch(f"Still limited (max {_RL.max_retries} retry)", Step(RL, "still_limited")),
                    branch(f"Limited for more than {_RL.escalate_after_s:g} s", Step(RL, "limit_persisted")),
                ),
            ),
            branch(f"429 without Retry-After (default {_RL.default_delay_s:g} s)",
                   Step(RL, "limited_without_retry_after"), Step(RL, "retry"), Step(RL, "retry_succeeded")),
        ),
    ),
)

AU = "auth_error"
AUTH_STORY = Story(
    name="auth_error",
    title="Authentication-error handling",
    seed_section="4.5",
    description="Credentials are cleared and re-requested; one retry with new credentials; otherwise escalate.",
    machines=(AU,),
    participants=(CLIENT, SERVICE, ADMIN, LOGGER),
    items=(
        Step(AU, "request"),
        alt(
            happy_branch("Credentials accepted", Step(AU, "succeed")),
            branch(
                "401 Unauthorized",
                Step(AU, "unauthorized"),
                alt(
                    happy_branch("User provides credentials", Step(AU, "credentials_provided"),
                           alt(happy_branch("Accepted", Step(AU, "retry_succeeded")),
                               branch("Rejected again", Step(AU, "unauthorized_again")))),
                    branch("No credentials", Step(AU, "no_credentials")),
                ),
            ),
        ),
    ),
)
