"""Wire models of multi-task workflows (issue 12): a DAG submission and the body ``POST /api/v1/workflows`` takes.

Apart from `runtime.protocol` (whose `WorkflowRequest` each task extends) so the one-task
protocol stays as it was; the views and assignments carry their graph fields there
(``TaskView.key``/``dependsOn``, ``TaskAssignment.dependencies``, ``WorkflowView.failurePolicy``).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Discriminator, Field, Tag

from runtime.protocol import WireModel, WorkflowRequest
from spec.decisions.task_graph import FailurePolicy

#: A task's id within its workflow's submission (``tasks[].id``, ``dependsOn``).
TaskKey = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]


class WorkflowTaskRequest(WorkflowRequest):
    """One task of a multi-task workflow: a `WorkflowRequest` with its id and the ids it depends on."""

    id: TaskKey
    depends_on: list[TaskKey] = Field(default_factory=list)


#: The workflow type a multi-task workflow is stored and shown with (its tasks carry their own types).
GRAPH_WORKFLOW_TYPE = "dag"


class WorkflowGraphRequest(WireModel):
    """A workflow of several tasks run in dependency order (a DAG), and what a failure does to it.

    Duplicate ids, unknown ``dependsOn`` ids and cycles are refused (422 naming the task's field,
    ``tasks.1.dependsOn``); at most `spec.policies.WorkflowPolicy.max_tasks` tasks.
    """

    tasks: list[WorkflowTaskRequest] = Field(min_length=1)
    failure_policy: FailurePolicy = FailurePolicy.FAIL_FAST


def _submission_shape(value: Any) -> str:
    return "graph" if isinstance(value, dict) and "tasks" in value else "task"


#: Union tags of `WorkflowSubmission`; the error handler leaves them out of a refused field's path.
SUBMISSION_TAGS = ("task", "graph")

#: ``POST /api/v1/workflows``: one task (`WorkflowRequest`) or several (`WorkflowGraphRequest`, has ``tasks``).
WorkflowSubmission = Annotated[
    Annotated[WorkflowRequest, Tag("task")] | Annotated[WorkflowGraphRequest, Tag("graph")],
    Discriminator(_submission_shape),
]
