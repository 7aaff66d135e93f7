"""The reference AI-coding workflow (seed 4.3) as the ``ai_coding`` worker task type.

Providers are Protocols (`GitPlatform`, `AIProvider`, `QualityGates`); shipped implementations
run on real git (`LocalGitPlatform`), a deterministic scripted AI (`ScriptedAIProvider`) and
configured commands (`CommandQualityGates`). `register_coding_workflow` puts it on a worker.
"""

from __future__ import annotations

from runtime.workflow.commands import run_in_checkout
from runtime.workflow.demo_repo import (
    DELIVERED_ISSUE,
    FAILING_BUILD_ISSUE,
    FAILING_TESTS_ISSUE,
    DemoRepository,
    create_demo_repository,
)
from runtime.workflow.errors import (
    AIProviderError,
    GateFailedError,
    GitCommandError,
    IssueFormatError,
    IssueNotFoundError,
    PatchError,
    WorkflowConfigError,
    WorkflowError,
)
from runtime.workflow.local_git import GitAuthor, LocalGitPlatform, classify_git_output, parse_issue
from runtime.workflow.patches import apply_patch, parse_patch, split_into_chunks, unified_diff
from runtime.workflow.pipeline import CodingPipeline, WorkflowRequest, WorkflowServices
from runtime.workflow.providers import (
    AIProvider,
    Analysis,
    Checkout,
    GateResult,
    GitPlatform,
    Issue,
    LineSink,
    Patch,
    PullRequest,
    QualityGates,
)
from runtime.workflow.quality_gates import CommandQualityGates
from runtime.workflow.scripted_ai import AIFailure, AIOperation, AIScript, ScriptedAIProvider
from runtime.workflow.seed_progress import SEED_PROGRESS, STEP_TITLES, overall_percentage
from runtime.workflow.task import TASK_TYPE, CodingWorkflow, register_coding_workflow

__all__ = [
    "DELIVERED_ISSUE",
    "FAILING_BUILD_ISSUE",
    "FAILING_TESTS_ISSUE",
    "SEED_PROGRESS",
    "STEP_TITLES",
    "TASK_TYPE",
    "AIFailure",
    "AIOperation",
    "AIProvider",
    "AIProviderError",
    "AIScript",
    "Analysis",
    "Checkout",
    "CodingPipeline",
    "CodingWorkflow",
    "CommandQualityGates",
    "DemoRepository",
    "GateFailedError",
    "GateResult",
    "GitAuthor",
    "GitCommandError",
    "GitPlatform",
    "Issue",
    "IssueFormatError",
    "IssueNotFoundError",
    "LineSink",
    "LocalGitPlatform",
    "Patch",
    "PatchError",
    "PullRequest",
    "QualityGates",
    "ScriptedAIProvider",
    "WorkflowConfigError",
    "WorkflowError",
    "WorkflowRequest",
    "WorkflowServices",
    "apply_patch",
    "classify_git_output",
    "create_demo_repository",
    "overall_percentage",
    "parse_issue",
    "parse_patch",
    "register_coding_workflow",
    "run_in_checkout",
    "split_into_chunks",
    "unified_diff",
]
