"""Participants are declared once; taxonomy and services are complete."""

from __future__ import annotations

import pytest

from spec.errors import UnknownParticipantError
from spec.participants import PARTICIPANTS, participant
from spec.services import SEED_SERVICE_ORDER, shutdown_order, startup_order
from spec.taxonomy import TAXONOMY, ErrorClass, category

SEED_NAMES = [
    "Admin", "Orchestrator", "Config Manager", "Database", "Task Queue", "Worker Pool", "HTTP Server",
    "WebSocket Server", "Logger", "Health Checker", "Worker", "Registration API", "Capability Manager",
    "Load Balancer", "Health Monitor", "Client", "Task Executor", "Resource Manager", "Git Platform",
    "AI Provider", "Quality Gates", "Service", "Circuit Breaker", "Retry Handler", "Monitor",
]


def test_every_seed_participant_is_declared_once() -> None:
    names = [p.name for p in PARTICIPANTS]
    for wanted in SEED_NAMES:
        assert sum(1 for n in names if n.split("/")[0] == wanted) == 1, wanted
    assert len({p.id for p in PARTICIPANTS}) == len(PARTICIPANTS)


def test_lookup_and_unknown() -> None:
    assert participant("task_queue").name == "Task Queue"
    with pytest.raises(UnknownParticipantError, match="declared participants: .*worker"):
        participant("taskq")


def test_taxonomy_covers_every_class() -> None:
    assert {row.error_class for row in TAXONOMY} == set(ErrorClass)
    assert category("network").retryable and not category(ErrorClass.AUTHENTICATION).retryable
    assert not category("validation").retryable and not category("system").retryable


def test_service_orders() -> None:
    assert startup_order() == SEED_SERVICE_ORDER
    assert shutdown_order()[0] == "healthChecker" and shutdown_order()[-1] == "config"
