"""Restart budgets of supervised services (issue 14), without running anything."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from spec.policies import DEFAULT_POLICIES, SupervisionPolicy
from spec.supervision import EXHAUSTED_ESCALATION_LEVEL, RestartBudget

POLICY = SupervisionPolicy(max_restarts=3, window_s=100.0, restart_delay_s=0.5)


def test_crashes_restart_until_the_budget_is_spent_then_never_again() -> None:
    budget = RestartBudget(POLICY)
    decisions = [budget.crashed(float(t)) for t in range(5)]
    assert [d.restart for d in decisions] == [True, True, True, False, False]
    assert [d.restarts_in_window for d in decisions[:3]] == [1, 2, 3]
    assert decisions[0].delay_s == POLICY.restart_delay_s and budget.exhausted
    assert budget.crashed(10_000.0).restart is False, "an exhausted budget stays exhausted"
    assert EXHAUSTED_ESCALATION_LEVEL == 4


def test_restarts_older_than_the_window_no_longer_count() -> None:
    budget = RestartBudget(POLICY)
    for t in (0.0, 1.0, 2.0):
        assert budget.crashed(t).restart
    assert budget.crashed(100.5).restart and budget.restarts_in_window(100.5) == 3


@given(st.lists(st.floats(min_value=0, max_value=50), min_size=1, max_size=60))
def test_no_window_ever_holds_more_restarts_than_the_policy_allows(gaps: list[float]) -> None:
    budget = RestartBudget(POLICY)
    now = 0.0
    restarted: list[float] = []
    for gap in gaps:
        now += gap
        if budget.crashed(now).restart:
            restarted.append(now)
    for start in restarted:
        assert sum(1 for t in restarted if start <= t < start + POLICY.window_s) <= POLICY.max_restarts


def test_the_default_budget_is_per_hour() -> None:
    assert DEFAULT_POLICIES.supervision.window_s == 3600.0
