"""Where the pipeline stands, as the seed reports it: ``{step: N, progress: P}`` per transition.

The seed's numbers (step 1 at 10 and 50, step 2 at 90, step 3 at 100, step 4 at 25/50/75/100)
are written once, in the ``sendProgress`` messages of `spec.machines` ``coding_pipeline``; they
are read from there, not typed again. Step titles come from the notes of the seed 4.3 story.

The seed's figures are per step; the task's overall percentage gives each of the four steps an
equal quarter, so it only ever rises and ends at exactly 100.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from spec.machine import MachineSpec
from spec.machines import MACHINES
from spec.machines.pipeline import PipelineTrigger
from spec.sequences.execution import EXECUTION_STORY
from spec.story import Note

PIPELINE_MACHINE = MACHINES["coding_pipeline"]

_PROGRESS = re.compile(r"sendProgress\(workflowId, \{step: (?P<step>\d+)(, progress: (?P<progress>\d+))?")
_STEP_NOTE = re.compile(r"^Step (?P<step>\d+): (?P<title>.+)$")


@dataclass(frozen=True)
class SeedProgress:
    """The progress message a transition sends: its step, and its per-step percentage if it has one."""

    step: int
    progress: float | None


def _progress_by_trigger(machine: MachineSpec) -> dict[str, SeedProgress]:
    found: dict[str, SeedProgress] = {}
    for transition in machine.transitions:
        for message in transition.messages:
            match = _PROGRESS.match(message.label)
            if match:
                value = match["progress"]
                found[transition.trigger] = SeedProgress(int(match["step"]), float(value) if value else None)
    return found


SEED_PROGRESS: dict[str, SeedProgress] = _progress_by_trigger(PIPELINE_MACHINE)
STEP_TITLES: dict[int, str] = {
    int(m["step"]): m["title"]
    for item in EXECUTION_STORY.items
    if isinstance(item, Note) and (m := _STEP_NOTE.match(item.text))
}
STEPS = len(STEP_TITLES)

_T = PipelineTrigger
for _trigger in (_T.ISSUE_FETCHED, _T.ANALYSIS_READY, _T.CODE_CHUNK, _T.CODE_GENERATED, _T.BUILD_PROGRESS,
                 _T.TEST_PROGRESS, _T.TESTS_PASSED, _T.BRANCH_CREATED, _T.COMMITTED, _T.PUSHED, _T.PULL_REQUEST_OPENED):
    if _trigger not in SEED_PROGRESS:  # pragma: no cover - guards against a change of the spec's labels
        raise LookupError(f"spec machine coding_pipeline: transition {_trigger!r} sends no "
                          "'sendProgress(workflowId, {step: N, ...})' message the workflow can read")
if sorted(STEP_TITLES) != list(range(1, STEPS + 1)) or not STEPS:  # pragma: no cover - same guard
    raise LookupError("spec story task_execution: expected notes 'Step 1: ...' to 'Step N: ...'")


def seed_progress(trigger: str) -> SeedProgress:
    """The seed's progress message for `trigger` (a KeyError names the triggers that have one)."""
    try:
        return SEED_PROGRESS[trigger]
    except KeyError:
        raise KeyError(f"transition {trigger!r} sends no progress; these do: {', '.join(SEED_PROGRESS)}") from None


def overall_percentage(step: int, step_progress: float) -> float:
    """The task's percentage when `step` (1-based) is `step_progress` percent done."""
    if not 1 <= step <= STEPS or not 0 <= step_progress <= 100:
        raise ValueError(f"step must be 1..{STEPS} and step progress 0..100, got step {step} at {step_progress}")
    return round((step - 1 + step_progress / 100.0) * 100.0 / STEPS, 6)


def step_title(step: int) -> str:
    return STEP_TITLES[step]
