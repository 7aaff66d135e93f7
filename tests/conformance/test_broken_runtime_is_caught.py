"""Issue 6 "Done when": a deliberately broken runtime transition fails conformance, readably.

The orchestrator's store is patched so that leasing a task skips ``assigned`` and stores
``running`` at once — the kind of shortcut a refactoring introduces. The same property the
runtime conformance test checks is then searched with Hypothesis (`hypothesis.find`), which
shrinks the failing schedule to the smallest one; the report must name the component, the
trigger, the expected and the actual state, and draw the component's story in Mermaid.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, find, settings
from hypothesis import strategies as st
from hypothesis.internal.conjecture import engine

from runtime.store.changes import ChangeLog
from spec.machines import TASK_LIFECYCLE
from tests.conformance.runtime_runs import RunOutcome, execute, findings, report
from tests.conformance.scaled_clock import runtime_policies
from tests.conformance.schedules import Schedule, tasks, workers

#: Hypothesis shrinks for up to five minutes; each failing run costs about a second, so the
#: demonstration caps shrinking (Hypothesis then reports the smallest failure found so far).
SHRINK_SECONDS = 30

QUEUED = TASK_LIFECYCLE.initial
ASSIGNED = TASK_LIFECYCLE.next_state(QUEUED, "assign")
RUNNING = TASK_LIFECYCLE.next_state(ASSIGNED, "start")


def _skip_assigned(original: Any) -> Any:
    def advance(self: ChangeLog, machine: str, component: str, current: str, trigger: str,
                data: dict[str, Any] | None = None) -> str:
        dest: str = original(self, machine, component, current, trigger, data)
        if machine == TASK_LIFECYCLE.name and trigger == "assign":
            change = self.transitions[-1]
            broken = type(change.record)(change.record.machine, trigger, current, RUNNING, change.record.messages)
            self.transitions[-1] = type(change)(change.component, broken, change.data)
            return RUNNING
        return dest

    return advance


def test_a_runtime_that_skips_assigned_fails_with_a_minimal_readable_example(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(ChangeLog, "advance", _skip_assigned(ChangeLog.advance))
    monkeypatch.setattr(engine, "MAX_SHRINKING_SECONDS", SHRINK_SECONDS)
    outcomes: dict[Schedule, tuple[RunOutcome, list[str]]] = {}

    def fails(schedule: Schedule) -> bool:
        root = Path(tempfile.mkdtemp(dir=tmp_path))
        outcome = asyncio.run(execute(schedule, root, runtime_policies()))
        outcomes[schedule] = (outcome, findings(schedule, outcome))
        return bool(outcomes[schedule][1])

    small = st.builds(Schedule, workers=workers(max_workers=2), tasks=tasks(max_tasks=2))
    minimal = find(small, fails, settings=settings(max_examples=5, deadline=None, database=None,
                                                   suppress_health_check=[HealthCheck.too_slow]))
    outcome, found = outcomes[minimal]
    text = report(minimal, outcome, found)
    print(f"{len(outcomes)} runs")
    print(text)  # what a developer sees; the issue asks to show it
    assert len(minimal.workers) == 1 and len(minimal.tasks) == 1, "the example did not shrink"
    assert "minimal failing schedule:" in text and "tasks: 1" in text
    assert "orchestrator trace DIVERGES from the spec at event" in text
    assert "task_lifecycle.assign): wrong destination state" in text
    assert f"expected destination '{ASSIGNED}', got '{RUNNING}'" in text
    assert "sequenceDiagram" in text
