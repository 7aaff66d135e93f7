"""The reference platform's catalogue: the seed's machines, stories and participants as one `Spec`.

Its service start order check (`spec.checks.check_service_order`) is an extra check of this
catalogue only; another system's catalogue has no ``orchestrator_startup`` to check.
"""

from __future__ import annotations

from spec.checks import CheckResult, check_service_order
from spec.machines import MACHINES
from spec.participants import PARTICIPANTS
from spec.policies import DEFAULT_POLICIES
from spec.sequences import STORIES
from spec.specification import Spec
from spec.timing_rules import PLATFORM_TIMING_RULES


def _service_order(spec: Spec) -> CheckResult:
    return check_service_order(spec.machines)


PLATFORM = Spec(
    name="platform",
    machines=MACHINES,
    stories=STORIES,
    declared_participants=PARTICIPANTS,
    timing_rules=PLATFORM_TIMING_RULES,
    extra_checks=(_service_order,),
    policies=DEFAULT_POLICIES,
    error_flowchart=True,
)
