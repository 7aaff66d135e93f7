"""A task context built the way the worker builds one, and a demo git platform in a temporary directory."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from runtime.protocol import TaskAssignment
from runtime.resilience import FakeClock
from runtime.worker.context import TaskContext
from runtime.worker.limits import TaskLimits
from runtime.worker.progress import ProgressReporter, ProgressUpdate
from runtime.worker.workspace import Workspace, WorkspaceRoot
from runtime.workflow import DemoRepository, create_demo_repository
from spec.policies import DEFAULT_POLICIES, Policies
from spec.trace import TraceEvent

if shutil.which("git") is None:  # pragma: no cover - git is installed wherever the suite normally runs
    pytest.skip("the workflow tests drive real git repositories and 'git' is not on PATH", allow_module_level=True)


@dataclass
class TaskRig:
    """One task as the worker would run it, with everything it reported."""

    ctx: TaskContext
    workspace: Workspace
    sent: list[ProgressUpdate] = field(default_factory=list)

    def seed_progress(self) -> list[tuple[int, float]]:
        return [(u.details["step"], u.details["progress"]) for u in self.sent if "progress" in u.details]

    def details_with(self, key: str) -> list[Any]:
        return [u.details[key] for u in self.sent if key in u.details]


@pytest.fixture
def demo(tmp_path: Path) -> DemoRepository:
    return create_demo_repository(tmp_path / "platform")


@pytest.fixture
def make_task(tmp_path: Path) -> Iterator[Any]:
    root = WorkspaceRoot(tmp_path / "workspaces")
    made: list[Workspace] = []

    def make(payload: dict[str, Any], *, policies: Policies = DEFAULT_POLICIES, task_id: str = "task-1") -> TaskRig:
        workspace = root.create(task_id, workerId="worker-1", fencingToken=1, workflowId="wf-1", type="ai_coding")
        made.append(workspace)
        rig: TaskRig

        async def send(update: ProgressUpdate) -> None:
            rig.sent.append(update)

        assignment = TaskAssignment(task_id=task_id, workflow_id="wf-1", type="ai_coding", payload=payload,
                                    priority=0, fencing_token=1, lease_expires_at=0.0, attempt=1)
        # Every milestone reaches `sent` (the gap between milestones is the reporter's business, tested there).
        reporter = ProgressReporter(send, policies.progress.model_copy(update={"milestone_min_gap_s": 0.0}))
        ctx = TaskContext(assignment, "worker-1", workspace.path, TaskLimits.from_policy(policies.resources), reporter)
        rig = TaskRig(ctx, workspace)
        return rig

    yield make
    for workspace in made:  # what the worker does after every task
        workspace.remove()


@pytest.fixture
def trace() -> list[TraceEvent]:
    return []


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
