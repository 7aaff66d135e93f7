"""Issue 11, "fault kinds declared once": the runtime conformance suite's process faults come from
`spec.injected_faults.ProcessFault`, and each names its simulator counterpart (or has none)."""

from __future__ import annotations

from hypothesis import given

from spec.injected_faults import SIMULATED_AS, InjectedFault, ProcessFault
from tests.conformance.schedules import FAULT_KINDS, Schedule, schedules


def test_the_suite_draws_exactly_the_declared_process_faults() -> None:
    assert set(FAULT_KINDS) == set(ProcessFault)
    assert set(SIMULATED_AS) == set(ProcessFault)
    assert {kind for kind in SIMULATED_AS.values() if kind is not None} <= set(InjectedFault)


@given(schedule=schedules())
def test_every_generated_fault_is_a_declared_kind(schedule: Schedule) -> None:
    assert all(isinstance(fault.kind, ProcessFault) for fault in schedule.faults)
