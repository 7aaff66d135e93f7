"""Startup phase budgets (spec.decisions.startup)."""

from __future__ import annotations

import pytest

from spec.decisions.startup import StartupBudget, StartupBudgets, budget_of
from spec.policies import StartupPolicy


def test_the_logger_is_charged_to_the_shared_services_budget() -> None:
    """Disagreement 4: the logger is a service of "Service Initialization", not part of config loading."""
    assert budget_of("loading_config") is StartupBudget.CONFIG
    assert budget_of("starting_logger") is StartupBudget.SERVICES
    assert budget_of("starting_database") is StartupBudget.DATABASE
    assert budget_of("attaching_websocket") is StartupBudget.SERVICES
    assert budget_of("running_health_checks") is StartupBudget.HEALTH_CHECKS


def test_services_share_one_budget_and_the_database_is_not_charged_to_it() -> None:
    policy = StartupPolicy()
    budgets = StartupBudgets(policy, began=0.0)
    assert budgets.enter("loading_config", 0.0) == 10.0
    budgets.leave("loading_config", 1.0)
    assert budgets.enter("starting_logger", 1.0) == 61.0
    budgets.leave("starting_logger", 11.0)  # 10 s of the 60 s services budget
    assert budgets.enter("starting_database", 11.0) == 41.0
    budgets.leave("starting_database", 31.0)
    assert budgets.enter("starting_task_queue", 31.0) == 81.0  # 50 s left, not a fresh 60 s
    budgets.leave("starting_task_queue", 71.0)
    assert budgets.enter("starting_worker_pool", 71.0) == 81.0


def test_every_deadline_is_capped_by_the_total() -> None:
    budgets = StartupBudgets(StartupPolicy(), began=0.0)
    assert budgets.enter("running_health_checks", 110.0) == 120.0


def test_a_state_without_a_timeout_is_refused() -> None:
    with pytest.raises(ValueError, match="has no timeout"):
        budget_of("running")
