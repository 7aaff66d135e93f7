"""The seed's system-error branch (flowchart G) as decided by spec.decisions.system_errors."""

from __future__ import annotations

import errno

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from spec.classify import RESOURCE_ERRNOS, classify
from spec.decisions.system_errors import SystemErrorAction, SystemErrorHandler
from spec.policies import DEFAULT_POLICIES, SystemErrorPolicy
from spec.system_resources import RESOURCE_OF_ERRNO, SystemResource, exhausted_resource
from spec.taxonomy import ErrorClass, category

POLICY = SystemErrorPolicy(max_recoveries=2, window_s=100.0, degraded_min_s=10.0, recovered_below_percent=90.0)
A = SystemErrorAction


def test_a_full_disk_is_critical_and_shuts_down_at_the_taxonomys_level() -> None:
    core = SystemErrorHandler(DEFAULT_POLICIES.system_errors)
    decision = core.on_error(SystemResource.DISK, 1.0)
    assert decision.action is A.EMERGENCY_SHUTDOWN
    assert decision.escalation_level == category(ErrorClass.SYSTEM).escalation_level
    assert core.shutting_down is decision
    # Once shutting down, every later error gets the same answer: one shutdown, one escalation.
    assert core.on_error(SystemResource.MEMORY, 2.0) is decision


def test_a_non_critical_error_attempts_recovery_then_continues_or_degrades() -> None:
    core = SystemErrorHandler(POLICY)
    assert core.on_error(SystemResource.MEMORY, 0.0).action is A.ATTEMPT_RECOVERY
    assert core.recovery_measured(SystemResource.MEMORY, 40.0, 0.5).action is A.CONTINUE
    assert not core.is_degraded
    assert core.on_error(SystemResource.MEMORY, 1.0).action is A.ATTEMPT_RECOVERY
    failed = core.recovery_measured(SystemResource.MEMORY, 95.0, 1.5)
    assert failed.action is A.DEGRADE and failed.escalation_level is None and "95.0 %" in failed.reason
    assert core.is_degraded and core.shutting_down is None


def test_recovering_too_often_degrades_without_trying_again() -> None:
    core = SystemErrorHandler(POLICY)
    for at in (0.0, 1.0):
        assert core.on_error(SystemResource.FILE_DESCRIPTORS, at).action is A.ATTEMPT_RECOVERY
        core.recovery_measured(SystemResource.FILE_DESCRIPTORS, None, at)  # not measurable: recovered
    assert core.on_error(SystemResource.FILE_DESCRIPTORS, 2.0).action is A.DEGRADE
    # The window slides: 100 s after the first recovery one more is allowed.
    fresh = SystemErrorHandler(POLICY)
    fresh.on_error(SystemResource.MEMORY, 0.0)
    fresh.on_error(SystemResource.MEMORY, 1.0)
    assert fresh.on_error(SystemResource.MEMORY, 100.0).action is A.ATTEMPT_RECOVERY


def test_a_degraded_resource_is_restored_after_the_minimum_once_it_measures_well() -> None:
    core = SystemErrorHandler(POLICY)
    core.on_error(SystemResource.MEMORY, 0.0)
    core.recovery_measured(SystemResource.MEMORY, 99.0, 0.0)
    assert core.recheck({SystemResource.MEMORY: 10.0}, 9.9) == []  # held for degraded_min_s
    assert core.recheck({SystemResource.MEMORY: 95.0}, 10.0) == []  # still too full
    assert core.recheck({SystemResource.MEMORY: 10.0}, 10.0) == [SystemResource.MEMORY]
    assert not core.is_degraded


def test_the_critical_set_comes_from_the_policy() -> None:
    core = SystemErrorHandler(SystemErrorPolicy(critical_resources=(SystemResource.MEMORY,)))
    assert core.on_error(SystemResource.DISK, 0.0).action is A.ATTEMPT_RECOVERY
    assert core.on_error(SystemResource.MEMORY, 1.0).action is A.EMERGENCY_SHUTDOWN
    with pytest.raises(ValidationError, match="critical_resources names a resource twice"):
        SystemErrorPolicy(critical_resources=(SystemResource.DISK, SystemResource.DISK))
    with pytest.raises(ValidationError, match="critical_resources"):
        SystemErrorPolicy.model_validate({"critical_resources": ["cpu"]})


def test_the_resource_errnos_are_the_classifiers_system_errors() -> None:
    assert frozenset(RESOURCE_OF_ERRNO) == RESOURCE_ERRNOS
    assert exhausted_resource(OSError(errno.ENOSPC, "No space left on device")) is SystemResource.DISK
    assert exhausted_resource(MemoryError()) is SystemResource.MEMORY
    assert exhausted_resource(OSError(errno.ENOENT, "gone")) is None and exhausted_resource(ValueError()) is None
    try:
        try:
            raise OSError(errno.EMFILE, "Too many open files")
        except OSError as inner:
            raise RuntimeError("could not open the log") from inner
    except RuntimeError as wrapped:
        assert exhausted_resource(wrapped) is SystemResource.FILE_DESCRIPTORS
    looped = RuntimeError("a")
    looped.__context__ = RuntimeError("b")
    looped.__context__.__context__ = looped
    assert exhausted_resource(looped) is None


@given(code=st.sampled_from(sorted(RESOURCE_OF_ERRNO)))
def test_every_resource_errno_is_a_system_error_with_a_resource(code: int) -> None:
    exc = OSError(code, "exhausted")
    assert classify(exc) is ErrorClass.SYSTEM and exhausted_resource(exc) is RESOURCE_OF_ERRNO[code]


_EVENTS = st.lists(
    st.tuples(st.sampled_from([r for r in SystemResource if r is not SystemResource.DISK]),
              st.floats(0, 50), st.one_of(st.none(), st.floats(0, 100))),
    max_size=30)


@given(events=_EVENTS, max_recoveries=st.integers(0, 4), window=st.floats(1, 200))
def test_never_more_recoveries_in_a_window_than_the_budget(
        events: list[tuple[SystemResource, float, float | None]], max_recoveries: int, window: float) -> None:
    policy = SystemErrorPolicy(max_recoveries=max_recoveries, window_s=window)
    core = SystemErrorHandler(policy)
    now, attempts = 0.0, []
    for resource, gap, usage in events:
        now += gap
        decision = core.on_error(resource, now)
        assert decision.action in (A.ATTEMPT_RECOVERY, A.DEGRADE)  # nothing here is critical
        if decision.action is A.ATTEMPT_RECOVERY:
            attempts.append(now)
            after = core.recovery_measured(resource, usage, now)
            recovered = usage is None or usage < policy.recovered_below_percent
            assert after.action is (A.CONTINUE if recovered else A.DEGRADE)
        else:
            assert core.is_degraded and resource in core.degraded
        assert sum(1 for at in attempts if at > now - window) <= max_recoveries
    assert core.shutting_down is None
