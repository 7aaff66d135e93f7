from __future__ import annotations

import pytest

from sim import RunResult, resolve, run_scenario


@pytest.fixture(scope="session")
def runs() -> dict[str, RunResult]:
    """One run per catalogue scenario the check tests tamper with (computed once)."""
    names = ["baseline", "ai_provider_5xx", "rate_limit_retry_after", "worker_crash", "graceful_shutdown",
             "orchestrator_crash", "startup_timeout", "network_loss"]
    return {name: run_scenario(resolve(name)) for name in names}
