"""How long each orchestrator startup phase may take (seed 4.1, "Timeouts"), as a sans-I/O core.

The seed's phases and budgets, read once:

* ``loading_config`` runs under ``config_timeout_s`` ("Configuration loading: 10 seconds");
* ``starting_database`` under ``database_timeout_s``, all attempts and backoff waits together;
* every other service of the seed's "Service Initialization" phase -- the logger first, then
  task queue, worker pool, HTTP and WebSocket servers, health checker -- and the "Server
  Startup" steps (binding the listener, attaching the WebSocket) *share* one
  ``services_timeout_s`` budget ("Service initialization: 60 seconds" is the phase's, not each
  service's); time spent in the database phase is not charged to it;
* ``running_health_checks`` under ``health_check_timeout_s``;
* and every deadline is capped by ``total_timeout_s`` from the start.

Drivers call :meth:`StartupBudgets.enter` when the machine enters a state and
:meth:`StartupBudgets.leave` when it leaves it; ``enter`` returns the deadline the phase must
meet, after which the driver fires ``startup_timed_out``.
"""

from __future__ import annotations

from enum import StrEnum

from spec.machines.startup import STARTUP
from spec.policies import DEFAULT_POLICIES, StartupPolicy


class StartupBudget(StrEnum):
    """Which ``StartupPolicy`` budget a startup state is charged to."""

    CONFIG = "config_timeout_s"
    DATABASE = "database_timeout_s"
    SERVICES = "services_timeout_s"
    HEALTH_CHECKS = "health_check_timeout_s"


#: The states with a budget of their own; every other in-progress state shares the services budget.
_OWN_BUDGET = {
    "loading_config": StartupBudget.CONFIG,
    "starting_database": StartupBudget.DATABASE,
    "running_health_checks": StartupBudget.HEALTH_CHECKS,
}
#: States that may time out: the sources of ``startup_timed_out`` in the machine's table.
TIMED_STATES: tuple[str, ...] = STARTUP.transition_for("loading_config", "startup_timed_out").source


def budget_of(state: str) -> StartupBudget:
    """The budget a startup state is charged to; a state that cannot time out is refused."""
    if state not in TIMED_STATES:
        raise ValueError(f"startup state {state!r} has no timeout; timed states: {', '.join(TIMED_STATES)}")
    return _OWN_BUDGET.get(state, StartupBudget.SERVICES)


class StartupBudgets:
    """The deadlines of one startup that began at ``began``."""

    __slots__ = ("policy", "total_deadline", "services_left_s", "_entered")

    def __init__(self, policy: StartupPolicy = DEFAULT_POLICIES.startup, *, began: float) -> None:
        self.policy = policy
        self.total_deadline = began + policy.total_timeout_s
        self.services_left_s = policy.services_timeout_s
        self._entered: tuple[str, float] | None = None

    def enter(self, state: str, now: float) -> float:
        """The machine entered `state` at `now`: the time by which it must have left it."""
        budget = budget_of(state)
        self._entered = (state, now)
        allowance = self.services_left_s if budget is StartupBudget.SERVICES else float(getattr(self.policy, budget))
        return min(self.total_deadline, now + max(0.0, allowance))

    def leave(self, state: str, now: float) -> None:
        """The machine left `state` at `now`: charge the time to its budget."""
        if self._entered is None or self._entered[0] != state:
            raise ValueError(f"left startup state {state!r} without entering it")
        if budget_of(state) is StartupBudget.SERVICES:
            self.services_left_s -= now - self._entered[1]
        self._entered = None
