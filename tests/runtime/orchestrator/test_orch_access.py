"""The access table: which ability a request needs, decided from its method and path alone."""

from __future__ import annotations

import pytest

from runtime.orchestrator.access import Ability, allows, holders, required_ability, rules
from runtime.orchestrator.credentials import Credential, Role


@pytest.mark.parametrize(("method", "path", "metrics_open", "needed"), [
    ("GET", "/health/live", True, Ability.OPEN),
    ("HEAD", "/health/ready", True, Ability.OPEN),
    ("TRACE", "/health/live", True, Ability.OPEN),  # the router's 405 reveals nothing
    ("GET", "/metrics", True, Ability.OPEN),
    ("TRACE", "/metrics", True, Ability.OPEN),
    ("GET", "/metrics", False, Ability.READ),
    ("TRACE", "/metrics", False, Ability.ADMIN),
    ("POST", "/api/v1/workflows", True, Ability.SUBMIT),
    ("GET", "/api/v1/tasks/t-1", True, Ability.READ),
    ("GET", "/api/v1/tasks/poll", True, Ability.WORK),
    ("DELETE", "/api/v1/workers/w-1", True, Ability.WORK),
    ("DELETE", "/api/v1/tasks/t-1", True, Ability.ADMIN),
    ("GET", "/api/v1/tasks/t-1/extra", True, Ability.ADMIN),
    ("GET", "/not/a/route", True, Ability.ADMIN),
])
def test_the_ability_a_request_needs(method: str, path: str, metrics_open: bool, needed: Ability) -> None:
    assert required_ability(method, path, metrics_open=metrics_open) is needed


def test_a_worker_credential_registers_and_its_issued_token_works() -> None:
    configured, issued = Credential(Role.WORKER), Credential(Role.WORKER, worker_id="w-1")
    assert allows(configured, Ability.REGISTER) and not allows(configured, Ability.WORK)
    assert allows(issued, Ability.WORK) and not allows(issued, Ability.READ)
    assert not allows(Credential(Role.CLIENT), Ability.WORK)
    assert all(allows(Credential(Role.ADMIN), ability) for ability in Ability)


def test_every_rule_names_who_may_use_it() -> None:
    for _, _, ability in rules():
        assert (holders(ability) == ()) is (ability is Ability.OPEN)
    assert holders(Ability.ADMIN) == ("admin token",)
