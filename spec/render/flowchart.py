"""Mermaid ``flowchart TD`` of error classification and handling (seed 4.5, issue 2).

The seed draws this flowchart by hand; here it is generated from `spec.taxonomy.TAXONOMY`
(one handler per error class, with the class's handling steps) and from the policies that
bound its loops (`BackoffPolicy` for exponential backoff, `RateLimitPolicy` for 429s), so the
retry limits, delays and escalation periods on the chart are the ones the runtime enforces.
Changing a policy value changes the chart.

Each handler's shape follows its class's retry strategy:

* exponential backoff / Retry-After: "Is retryable?", the first handling step, then the
  retry-count decision (``Retry attempts < max?`` with the policy's max and delays), the
  remaining steps, and "Succeeded?" looping back; exhausted retries escalate. Rate limits
  escalate only after the policy's escalation period, as the seed's "Rate Limit Persisted?";
* re-authentication: the handling steps, "New credentials provided?", one retry;
* system errors (the seed's flowchart G, `spec.decisions.system_errors`): clean up, then "Critical
  resource exhausted?" with ``SystemErrorPolicy.critical_resources``: yes, emergency shutdown and the
  escalation; no, a recovery attempt within the policy's budget, "Recovered?" with its threshold,
  else graceful degradation;
* no retry: the handling steps, then the escalation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from spec.policies import DEFAULT_POLICIES, BackoffPolicy, Policies, RateLimitPolicy, SystemErrorPolicy
from spec.render.mermaid_text import FLOWCHART_UNSAFE, escape_text
from spec.taxonomy import TAXONOMY, ErrorCategory, ErrorClass, RetryStrategy

INDENT = "    "
_P = TypeVar("_P", BackoffPolicy, RateLimitPolicy)
#: Longest backoff schedule written out in full on the chart.
MAX_DELAYS_SHOWN = 6


def format_seconds(seconds: float) -> str:
    """``60 s``, ``1.5 s``, ``5 min``: whole minutes from two minutes up, seconds below."""
    if seconds >= 120 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


def backoff_wait_label(policy: BackoffPolicy) -> str:
    """``wait 1 s, 2 s, 4 s (cap 30 s)`` from the policy's schedule."""
    delays = [format_seconds(d) for d in policy.schedule()]
    if len(delays) > MAX_DELAYS_SHOWN:
        delays = [*delays[: MAX_DELAYS_SHOWN - 1], "...", delays[-1]]
    return f"wait {', '.join(delays) or 'nothing'} (cap {format_seconds(policy.max_delay_s)})"


def rate_limit_wait_label(policy: RateLimitPolicy) -> str:
    default = format_seconds(policy.default_delay_s)
    return f"wait Retry-After, default {default}" if policy.honour_retry_after else f"wait {default}"


class _Chart:
    """Nodes and edges of one flowchart, in the order they are added."""

    def __init__(self) -> None:
        self.lines: list[str] = ["flowchart TD"]

    def box(self, node: str, *label: str) -> str:
        return self._node(node, '["', '"]', label)

    def decision(self, node: str, *label: str) -> str:
        return self._node(node, '{"', '"}', label)

    def rounded(self, node: str, *label: str) -> str:
        return self._node(node, '(["', '"])', label)

    def edge(self, source: str, dest: str, label: str | None = None) -> None:
        arrow = "-->" if label is None else f'-->|"{escape_text(label, FLOWCHART_UNSAFE)}"|'
        self.lines.append(f"{INDENT}{source} {arrow} {dest}")

    def chain(self, source: str, prefix: str, steps: Sequence[str], first: int = 1) -> str:
        """Boxes for `steps` linked one after the other from `source`; returns the last node."""
        last = source
        for number, text in enumerate(steps, start=first):
            node = self.box(f"{prefix}_step_{number}", text)
            self.edge(last, node)
            last = node
        return last

    def _node(self, node: str, opening: str, closing: str, label: Sequence[str]) -> str:
        text = "<br/>".join(escape_text(part, FLOWCHART_UNSAFE) for part in label)
        self.lines.append(f"{INDENT}{node}{opening}{text}{closing}")
        return node


def render_error_flowchart(
    taxonomy: Sequence[ErrorCategory] = TAXONOMY, policies: Policies = DEFAULT_POLICIES
) -> str:
    """The classification and handling flowchart, ending with a newline."""
    chart = _Chart()
    start = chart.rounded("error_occurred", "Error occurred")
    classify = chart.decision("classify", "Classify error")
    chart.edge(start, classify)
    for row in taxonomy:
        prefix = row.error_class.value
        strategy = "not retried" if row.strategy is RetryStrategy.NONE else row.strategy.value.replace("_", " ")
        handler = chart.box(f"{prefix}_handler", f"{row.title} handler", strategy)
        chart.edge(classify, handler, row.title)
        escalate = chart.box(f"{prefix}_escalate", "Escalate", row.escalation)
        if row.strategy is RetryStrategy.EXPONENTIAL_BACKOFF:
            backoff = _policy(row, policies, BackoffPolicy)
            _retry_loop(chart, row, handler, escalate, backoff.max_retries, backoff_wait_label(backoff), None)
        elif row.strategy is RetryStrategy.RETRY_AFTER:
            limit = _policy(row, policies, RateLimitPolicy)
            persisted = f"Rate-limited for more than {format_seconds(limit.escalate_after_s)}?"
            _retry_loop(chart, row, handler, escalate, limit.max_retries, rate_limit_wait_label(limit), persisted)
        elif row.strategy is RetryStrategy.REAUTHENTICATE:
            _reauthenticate(chart, row, handler, escalate)
        elif row.error_class is ErrorClass.SYSTEM:
            _system_error(chart, row, handler, escalate, policies.system_errors)
        else:
            chart.edge(chart.chain(handler, prefix, row.handling), escalate)
    return "\n".join(chart.lines) + "\n"


def _policy(row: ErrorCategory, policies: Policies, kind: type[_P]) -> _P:
    value = getattr(policies, row.policy, None) if row.policy else None
    if not isinstance(value, kind):
        raise ValueError(
            f"taxonomy row {row.error_class.value!r}: strategy {row.strategy.value!r} needs a {kind.__name__}, "
            f"but its policy field {row.policy!r} names {type(value).__name__}"
        )
    return value


def _retry_loop(
    chart: _Chart,
    row: ErrorCategory,
    handler: str,
    escalate: str,
    max_retries: int,
    wait_label: str,
    persisted_question: str | None,
) -> None:
    prefix = row.error_class.value
    retryable = chart.decision(f"{prefix}_retryable", "Is retryable?")
    chart.edge(handler, retryable)
    chart.edge(retryable, escalate, "No")
    first, rest = row.handling[:1], row.handling[1:]
    before: str = retryable
    label: str | None = "Yes"
    for text in first:
        before, label = chart.box(f"{prefix}_step_1", text), None
        chart.edge(retryable, before, "Yes")
    retries = chart.decision(f"{prefix}_retries_left", f"Retry attempts < {max_retries}?")
    chart.edge(before, retries, label)
    chart.edge(retries, escalate, "No")
    last, label = retries, f"Yes, {wait_label}"
    for number, text in enumerate(rest, start=2):
        node = chart.box(f"{prefix}_step_{number}", text)
        chart.edge(last, node, label)
        last, label = node, None
    succeeded = chart.decision(f"{prefix}_succeeded", "Succeeded?")
    chart.edge(last, succeeded, label)
    chart.edge(succeeded, chart.rounded(f"{prefix}_continue", "Continue operation"), "Yes")
    if persisted_question is None:
        chart.edge(succeeded, retryable, "No")
        return
    persisted = chart.decision(f"{prefix}_persisted", persisted_question)
    chart.edge(succeeded, persisted, "No")
    chart.edge(persisted, escalate, "Yes")
    chart.edge(persisted, retryable, "No")


def _reauthenticate(chart: _Chart, row: ErrorCategory, handler: str, escalate: str) -> None:
    prefix = row.error_class.value
    *preparation, retry = row.handling or ("Retry with new credentials",)
    provided = chart.decision(f"{prefix}_credentials", "New credentials provided?")
    chart.edge(chart.chain(handler, prefix, preparation), provided)
    chart.edge(provided, escalate, "No")
    retried = chart.box(f"{prefix}_step_{len(preparation) + 1}", retry)
    chart.edge(provided, retried, "Yes")
    succeeded = chart.decision(f"{prefix}_succeeded", "Authenticated?")
    chart.edge(retried, succeeded)
    # "No" first: dagre then places the escalation on the side the edge leaves from, so the two
    # labels do not meet where the edges would otherwise cross (measured at 1440x900 in Chromium).
    chart.edge(succeeded, escalate, "No")
    chart.edge(succeeded, chart.rounded(f"{prefix}_continue", "Continue operation"), "Yes")


#: The handling steps a system-error row names, in this order, for `_system_error` to draw.
SYSTEM_ERROR_STEPS = 5


def _system_error(chart: _Chart, row: ErrorCategory, handler: str, escalate: str, policy: SystemErrorPolicy) -> None:
    prefix = row.error_class.value
    if len(row.handling) != SYSTEM_ERROR_STEPS:
        raise ValueError(f"taxonomy row {prefix!r}: a system error names {SYSTEM_ERROR_STEPS} handling steps (clean "
                         "up, emergency shutdown, recovery, degradation, logging the failure), got "
                         f"{len(row.handling)}")
    clean_up, shutdown, recovery, degradation, log_failure = row.handling
    critical_names = ", ".join(r.value.replace("_", " ") for r in policy.critical_resources) or "none"
    critical = chart.decision(f"{prefix}_critical", "Critical resource exhausted?", f"({critical_names})")
    chart.edge(chart.box(f"{prefix}_step_1", clean_up), critical)
    chart.edge(handler, f"{prefix}_step_1")
    deadline = format_seconds(policy.emergency_task_deadline_s)
    stop = chart.box(f"{prefix}_step_2", shutdown)
    chart.edge(critical, stop, "Yes")
    hand_back = chart.box(f"{prefix}_hand_back", f"Running tasks get {deadline}", "then go back with their saved state")
    chart.edge(stop, hand_back)
    chart.edge(hand_back, escalate)
    budget = chart.decision(f"{prefix}_budget", f"Fewer than {policy.max_recoveries} recoveries",
                            f"in {format_seconds(policy.window_s)}?")
    chart.edge(critical, budget, "No")
    attempt = chart.box(f"{prefix}_step_3", recovery)
    chart.edge(budget, attempt, "Yes")
    threshold = f"{policy.recovered_below_percent:g} %"
    recovered = chart.decision(f"{prefix}_recovered", f"Below {threshold} in use?")
    chart.edge(attempt, recovered, "clean up, measure again")
    chart.edge(recovered, chart.rounded(f"{prefix}_continue", "Continue operation"), "Yes")
    degrade = chart.box(f"{prefix}_step_4", degradation)
    chart.edge(recovered, degrade, "No")
    chart.edge(budget, degrade, "No")
    held = chart.box(f"{prefix}_degraded", f"Unhealthy for at least {format_seconds(policy.degraded_min_s)}",
                     f"back once below {threshold}")
    chart.edge(degrade, held)
    degrade = held
    chart.edge(degrade, chart.box(f"{prefix}_step_5", log_failure))
