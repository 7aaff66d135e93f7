"""Seed 4.3: a workflow from submission to pull request, streamed to a WebSocket client."""

from __future__ import annotations

from spec.participants import (
    AI_PROVIDER,
    CLIENT,
    GIT_PLATFORM,
    LOAD_BALANCER,
    ORCHESTRATOR,
    QUALITY_GATES,
    RESOURCE_MANAGER,
    TASK_QUEUE,
    WEBSOCKET_SERVER,
    WORKER,
)
from spec.policies import DEFAULT_POLICIES
from spec.story import Branch, Note, Step, Story, alt, branch, loop, steps

WF, WS, T, P, W = "workflow_lifecycle", "websocket_session", "task_lifecycle", "coding_pipeline", "worker_lifecycle"
_RUNNING = {T: "running", WF: "running"}
_LIMIT = DEFAULT_POLICIES.resources.max_duration_s


def _failure(label: str, pipeline_state: str, trigger: str) -> Branch:
    return branch(label, Step(P, trigger), Step(T, "fail"), Step(WF, "fail"),
                  given={**_RUNNING, P: pipeline_state})


EXECUTION_STORY = Story(
    name="task_execution",
    title="Task execution and progress reporting",
    seed_section="4.3",
    description="A client submits a workflow and watches it over WebSocket while a worker runs the four-step "
    "AI-coding pipeline.",
    machines=(WF, WS, W, T, P),
    given={W: "idle"},
    participants=(CLIENT, ORCHESTRATOR, WEBSOCKET_SERVER, TASK_QUEUE, LOAD_BALANCER, WORKER, RESOURCE_MANAGER,
                  GIT_PLATFORM, AI_PROVIDER, QUALITY_GATES),
    items=(
        Note("Task Execution and Progress Reporting", (CLIENT, QUALITY_GATES)),
        Step(WF, "submit"),
        *steps(WS, "connect", "authenticated", "subscribe"),
        Note("Task Assignment and Execution", (ORCHESTRATOR, QUALITY_GATES)),
        Step(W, "poll"),
        Step(T, "assign"),
        Step(W, "task_received"),
        Step(T, "start"),
        Step(WF, "task_started"),
        Note("Step 1: Issue Analysis", (ORCHESTRATOR, QUALITY_GATES)),
        *steps(P, "fetch_issue", "issue_fetched", "analysis_ready"),
        Note("Step 2: Code Generation", (ORCHESTRATOR, QUALITY_GATES)),
        loop("Code Generation Streaming", Step(P, "code_chunk")),
        Step(P, "code_generated"),
        Note("Step 3: Build and Test", (ORCHESTRATOR, QUALITY_GATES)),
        loop("Build Progress", Step(P, "build_progress")),
        Step(P, "build_passed"),
        loop("Test Progress", Step(P, "test_progress")),
        Step(P, "tests_passed"),
        Note("Step 4: Git Operations", (ORCHESTRATOR, QUALITY_GATES)),
        *steps(P, "branch_created", "committed", "pushed", "pull_request_opened"),
        Note("Task Completion", (ORCHESTRATOR, QUALITY_GATES)),
        Step(T, "complete"),
        Step(W, "task_finished"),
        Step(WF, "complete"),
        Note("Error Handling During Execution", (CLIENT, QUALITY_GATES)),
        alt(
            _failure("Build Failure", "building", "build_failed"),
            _failure("Test Failure", "testing", "tests_failed"),
            _failure("AI Provider Error", "generating_code", "ai_error"),
            _failure("Git Error", "pushing", "git_error"),
            branch(f"Task exceeds {_LIMIT:g} s", Step(T, "time_out"), Step(WF, "fail"), given=_RUNNING),
        ),
    ),
)
