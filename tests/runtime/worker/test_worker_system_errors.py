"""A worker's answers to system errors (runtime.worker.system_errors): emergency shutdown or recovery, else degraded."""

from __future__ import annotations

import asyncio
import errno
from pathlib import Path

from runtime.escalation_config import WorkerEscalationRoutes
from runtime.protocol import WorkerHealth
from runtime.resilience import CallbackHook, Escalation
from runtime.worker.escalation import worker_escalator
from runtime.worker.system_errors import SystemErrorResponder, measured_usage
from runtime.worker.workspace import WorkspaceRoot
from spec.decisions.system_errors import SystemErrorDecision
from spec.policies import DEFAULT_POLICIES, SystemErrorPolicy
from spec.system_resources import SystemResource
from spec.taxonomy import ErrorClass, category

ENOSPC = OSError(errno.ENOSPC, "No space left on device")


class _Fixture:
    def __init__(self, tmp_path: Path, policy: SystemErrorPolicy = DEFAULT_POLICIES.system_errors) -> None:
        self.now = 0.0
        self.usage: dict[SystemResource, float | None] = {}
        self.escalations: list[Escalation] = []
        self.emergencies: list[SystemErrorDecision] = []
        self.cleanups = 0
        escalator = worker_escalator(WorkerEscalationRoutes(via_orchestrator=False), DEFAULT_POLICIES.alerts,
                                     client=lambda: None, worker_id=lambda: "w1")
        for level in escalator.levels:
            escalator.add_hook(level, CallbackHook(self.escalations.append))
        self.responder = SystemErrorResponder(
            policy, escalator, worker_id=lambda: "w1", workspaces=WorkspaceRoot(tmp_path), clean_up=self._clean_up,
            on_emergency=self.emergencies.append, clock=lambda: self.now, measure=lambda r: self.usage.get(r))

    async def _clean_up(self) -> int:
        self.cleanups += 1
        return 0


def test_a_full_disk_hands_the_task_back_escalates_once_and_requests_the_shutdown(tmp_path: Path) -> None:
    async def scenario() -> None:
        fixture = _Fixture(tmp_path)
        responder = fixture.responder
        reason = responder.task_failed("t1", ENOSPC)
        assert reason is not None and "disk exhausted" in reason and "w1" in reason
        assert responder.task_failed("t2", OSError(errno.EDQUOT, "Disk quota exceeded")) is not None
        await responder.settle(5)
        assert len(fixture.emergencies) == 1 and responder.emergency is fixture.emergencies[0]
        (escalation,) = fixture.escalations
        assert escalation.level == category(ErrorClass.SYSTEM).escalation_level
        assert escalation.details["taskId"] == "t1" and escalation.details["resource"] == "disk"
        assert "No space left on device" in escalation.reason and not responder.may_lease
        assert fixture.cleanups == 0  # an emergency is no recovery attempt

    asyncio.run(scenario())


def test_other_errors_are_the_tasks_own(tmp_path: Path) -> None:
    async def scenario() -> None:
        fixture = _Fixture(tmp_path)
        assert fixture.responder.task_failed("t1", ValueError("bad input")) is None
        assert fixture.responder.task_failed("t1", OSError(errno.ENOENT, "missing")) is None
        await fixture.responder.settle(5)
        assert fixture.escalations == [] and fixture.emergencies == [] and fixture.responder.may_lease

    asyncio.run(scenario())


def test_a_failed_recovery_degrades_until_the_resource_measures_well_again(tmp_path: Path) -> None:
    policy = SystemErrorPolicy(degraded_min_s=30.0, recovered_below_percent=90.0)

    async def scenario() -> None:
        fixture = _Fixture(tmp_path, policy)
        responder, healthy = fixture.responder, WorkerHealth()
        fixture.usage[SystemResource.MEMORY] = 40.0
        assert responder.task_failed("t1", MemoryError()) is None  # the task fails as before
        await responder.settle(5)
        assert fixture.cleanups == 1 and responder.may_lease and responder.apply(healthy).status == "healthy"

        fixture.usage[SystemResource.MEMORY] = 97.0
        fixture.now = 1.0
        assert responder.task_failed("t2", MemoryError()) is None
        await responder.settle(5)
        assert fixture.cleanups == 2 and not responder.may_lease
        assert responder.apply(healthy).status == "unhealthy"
        fixture.usage[SystemResource.MEMORY] = 20.0
        fixture.now = 30.0
        assert responder.apply(healthy).status == "unhealthy"  # held for degraded_min_s
        fixture.now = 31.0
        assert responder.apply(healthy).status == "healthy" and responder.may_lease
        assert fixture.escalations == [] and fixture.emergencies == []  # the failed task escalates, not this

    asyncio.run(scenario())


def test_a_cleanup_that_fails_leaves_the_decision_to_the_measurement(tmp_path: Path) -> None:
    async def scenario() -> None:
        fixture = _Fixture(tmp_path)

        async def broken() -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

        fixture.responder._clean_up = broken
        fixture.usage[SystemResource.FILE_DESCRIPTORS] = 99.0
        fixture.responder.task_failed("t1", OSError(errno.EMFILE, "Too many open files"))
        await fixture.responder.settle(5)
        assert not fixture.responder.may_lease

    asyncio.run(scenario())


def test_measured_usage_is_a_percentage_or_unmeasurable(tmp_path: Path) -> None:
    root = WorkspaceRoot(tmp_path)
    for resource in (SystemResource.DISK, SystemResource.MEMORY):
        value = measured_usage(resource, root)
        assert value is not None and 0.0 <= value <= 100.0
    fds = measured_usage(SystemResource.FILE_DESCRIPTORS, root)
    assert fds is None or 0.0 <= fds <= 100.0
    assert measured_usage(SystemResource.NETWORK_BUFFERS, root) is None
    vanished = WorkspaceRoot(tmp_path / "gone")
    vanished.path.rmdir()
    assert measured_usage(SystemResource.DISK, vanished) is None
