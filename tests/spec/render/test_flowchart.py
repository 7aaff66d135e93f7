"""The seed 4.5 error-handling flowchart, generated from the taxonomy and the policies."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from spec.policies import DEFAULT_POLICIES, BackoffPolicy, Policies, RateLimitPolicy, SystemErrorPolicy
from spec.render import render_error_flowchart
from spec.render.flowchart import format_seconds
from spec.render.mermaid_text import unescape_text
from spec.taxonomy import TAXONOMY, ErrorCategory, ErrorClass, RetryStrategy

_NODE = re.compile(r'^    (\w+)(\["|\{"|\(\[")(.*)("\]|"\}|"\]\))$')
_EDGE = re.compile(r'^    (\w+) -->(?:\|"([^"]*)"\|)? (\w+)$')
_RAW = set('"|`#;:{}<>\n')


def check_flowchart(text: str) -> tuple[dict[str, str], list[tuple[str, str | None, str]]]:
    """Nodes (id -> shown label) and edges; every edge joins defined nodes, labels are clean."""
    lines = text.rstrip("\n").split("\n")
    assert lines[0] == "flowchart TD"
    nodes: dict[str, str] = {}
    edges: list[tuple[str, str | None, str]] = []
    for line in lines[1:]:
        if m := _NODE.match(line):
            node, label = m.group(1), m.group(3)
            assert node not in nodes, f"node {node} defined twice"
            assert not set(re.sub(r"#\d+;|<br/>", "", label)) & _RAW, f"raw character in {line!r}"
            nodes[node] = unescape_text(label)
        elif m := _EDGE.match(line):
            assert m.group(1) in nodes and m.group(3) in nodes, f"edge to an undefined node: {line!r}"
            label = m.group(2)
            assert label is None or not set(re.sub(r"#\d+;", "", label)) & _RAW
            edges.append((m.group(1), None if label is None else unescape_text(label), m.group(3)))
        else:
            raise AssertionError(f"not a node or edge: {line!r}")
    return nodes, edges


def test_default_chart_is_valid_and_deterministic() -> None:
    text = render_error_flowchart()
    assert text == render_error_flowchart()
    check_flowchart(text)


def test_every_error_class_has_a_handler_with_its_steps_and_escalation() -> None:
    nodes, edges = check_flowchart(render_error_flowchart())
    assert {e.value for e in ErrorClass} == {row.error_class.value for row in TAXONOMY}
    for row in TAXONOMY:
        handler = f"{row.error_class.value}_handler"
        assert ("classify", row.title, handler) in edges
        labels = [label for node, label in nodes.items() if node.startswith(f"{row.error_class.value}_")]
        for step in row.handling:
            assert step in labels
        assert any(row.escalation in label for label in labels)


def test_policy_numbers_appear_on_the_chart() -> None:
    nodes, edges = check_flowchart(render_error_flowchart())
    backoff, limit = DEFAULT_POLICIES.backoff, DEFAULT_POLICIES.rate_limit
    assert nodes["network_retries_left"] == f"Retry attempts < {backoff.max_retries}?" == "Retry attempts < 3?"
    edge_labels = [label for _, label, _ in edges if label]
    assert "Yes, wait 1 s, 2 s, 4 s (cap 30 s)" in edge_labels
    assert nodes["rate_limit_retries_left"] == f"Retry attempts < {limit.max_retries}?"
    assert "Yes, wait Retry-After, default 60 s" in edge_labels
    assert nodes["rate_limit_persisted"] == "Rate-limited for more than 5 min?"


def test_changing_a_policy_changes_the_chart() -> None:
    policies = Policies(
        backoff=BackoffPolicy(max_retries=5, max_delay_s=10),
        rate_limit=RateLimitPolicy(default_delay_s=90, escalate_after_s=600, honour_retry_after=False),
    )
    text = render_error_flowchart(policies=policies)
    assert text != render_error_flowchart()
    nodes, edges = check_flowchart(text)
    assert nodes["network_retries_left"] == "Retry attempts < 5?"
    edge_labels = [label for _, label, _ in edges if label]
    assert "Yes, wait 1 s, 2 s, 4 s, 8 s, 10 s (cap 10 s)" in edge_labels
    assert "Yes, wait 90 s" in edge_labels
    assert nodes["rate_limit_persisted"] == "Rate-limited for more than 10 min?"


def test_retry_loops_and_escalations_are_wired() -> None:
    _, edges = check_flowchart(render_error_flowchart())
    assert ("network_retries_left", "No", "network_escalate") in edges
    assert ("network_succeeded", "No", "network_retryable") in edges
    assert ("rate_limit_persisted", "Yes", "rate_limit_escalate") in edges
    assert ("authentication_credentials", "No", "authentication_escalate") in edges
    assert ("validation_step_3", None, "validation_escalate") in edges


def test_long_schedules_are_shortened() -> None:
    text = unescape_text(render_error_flowchart(policies=Policies(backoff=BackoffPolicy(max_retries=20))))
    assert "wait 1 s, 2 s, 4 s, 8 s, 16 s, ..., 30 s (cap 30 s)" in text


def test_a_strategy_without_its_policy_is_refused() -> None:
    broken = ErrorCategory(ErrorClass.NETWORK, "Network error", ("x",), True, RetryStrategy.EXPONENTIAL_BACKOFF,
                           "circuit_breaker", "r", "e", ("a", "b"))
    with pytest.raises(ValueError, match="'network'.*BackoffPolicy.*circuit_breaker"):
        render_error_flowchart((broken,))


@pytest.mark.parametrize(("seconds", "shown"), [(1.0, "1 s"), (1.5, "1.5 s"), (60, "60 s"), (90, "90 s"),
                                                (120, "2 min"), (300, "5 min"), (150, "150 s")])
def test_format_seconds(seconds: float, shown: str) -> None:
    assert format_seconds(seconds) == shown


@given(steps=st.lists(st.text(min_size=1, max_size=40), min_size=1, max_size=4),
       strategy=st.sampled_from(list(RetryStrategy)))
def test_any_taxonomy_text_is_escaped(steps: list[str], strategy: RetryStrategy) -> None:
    policy = {RetryStrategy.EXPONENTIAL_BACKOFF: "backoff", RetryStrategy.RETRY_AFTER: "rate_limit"}.get(strategy)
    row = ErrorCategory(ErrorClass.UNKNOWN, steps[0], ("s",), True, strategy, policy, "r", steps[-1], tuple(steps))
    nodes, _ = check_flowchart(render_error_flowchart((row,)))
    flat = [" ".join(re.split("\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]", s)) for s in steps]
    for text in flat:
        assert text in nodes.values() or any(text in label for label in nodes.values())


def test_the_system_error_branch_of_the_seed_is_drawn_from_its_policy() -> None:
    """Seed 4.5 flowchart G: critical -> emergency shutdown -> alert; else recovery, else degradation."""
    nodes, edges = check_flowchart(render_error_flowchart())
    policy = DEFAULT_POLICIES.system_errors
    assert nodes["system_critical"] == "Critical resource exhausted?<br/>(disk)"
    assert ("system_critical", "Yes", "system_step_2") in edges
    assert nodes["system_step_2"] == "Initiate emergency shutdown"
    assert ("system_hand_back", None, "system_escalate") in edges and "level 4" in nodes["system_escalate"]
    assert ("system_critical", "No", "system_budget") in edges
    assert nodes["system_budget"] == f"Fewer than {policy.max_recoveries} recoveries<br/>in 10 min?"
    assert ("system_recovered", "Yes", "system_continue") in edges
    assert ("system_recovered", "No", "system_step_4") in edges and ("system_budget", "No", "system_step_4") in edges
    assert nodes["system_degraded"] == "Unhealthy for at least 60 s<br/>back once below 90 %"
    changed = Policies(system_errors=SystemErrorPolicy(critical_resources=(), max_recoveries=7))
    other, _ = check_flowchart(render_error_flowchart(policies=changed))
    assert other["system_critical"] == "Critical resource exhausted?<br/>(none)"
    assert other["system_budget"].startswith("Fewer than 7 recoveries")


def test_a_system_error_row_without_the_branch_steps_is_refused() -> None:
    short = ErrorCategory(ErrorClass.SYSTEM, "System error", ("x",), False, RetryStrategy.NONE, None, "r", "e",
                          ("clean up",))
    with pytest.raises(ValueError, match="'system'.*5 handling steps"):
        render_error_flowchart((short,))
