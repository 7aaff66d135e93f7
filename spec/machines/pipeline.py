"""The AI-coding pipeline a worker runs for one workflow task (seed 4.3, steps 1-4).

Issue analysis → code generation (streamed) → build → test → branch → commit → push →
pull request. Each failure is classified with the seed's event names (BUILD_FAILED,
TEST_FAILED, AI_ERROR) and then reported through the task machine's ``fail``. The seed has no
git failure branch; a push can fail, so ``git_error`` (GIT_ERROR) is added.
"""

from __future__ import annotations

from enum import StrEnum

from spec.machine import SAME, MachineSpec, StateRole, StateSpec, transition
from spec.messages import Message, call, push, reply, step
from spec.participants import (
    AI_PROVIDER,
    CLIENT,
    GIT_PLATFORM,
    ORCHESTRATOR,
    QUALITY_GATES,
    WEBSOCKET_SERVER,
    WORKER,
)


class PipelineState(StrEnum):
    """The coding_pipeline machine's states, named once for its table and every consumer."""

    READY = "ready"
    FETCHING_ISSUE = "fetching_issue"
    ANALYSING_ISSUE = "analysing_issue"
    GENERATING_CODE = "generating_code"
    BUILDING = "building"
    TESTING = "testing"
    CREATING_BRANCH = "creating_branch"
    COMMITTING = "committing"
    PUSHING = "pushing"
    OPENING_PULL_REQUEST = "opening_pull_request"
    DELIVERED = "delivered"
    FAILED = "failed"


class PipelineTrigger(StrEnum):
    """The coding_pipeline machine's triggers, named once for its table and every consumer."""

    FETCH_ISSUE = "fetch_issue"
    ISSUE_FETCHED = "issue_fetched"
    ANALYSIS_READY = "analysis_ready"
    CODE_CHUNK = "code_chunk"
    CODE_GENERATED = "code_generated"
    BUILD_PROGRESS = "build_progress"
    BUILD_PASSED = "build_passed"
    TEST_PROGRESS = "test_progress"
    TESTS_PASSED = "tests_passed"
    BRANCH_CREATED = "branch_created"
    COMMITTED = "committed"
    PUSHED = "pushed"
    PULL_REQUEST_OPENED = "pull_request_opened"
    BUILD_FAILED = "build_failed"
    TESTS_FAILED = "tests_failed"
    AI_ERROR = "ai_error"
    GIT_ERROR = "git_error"


S, T = PipelineState, PipelineTrigger

W, GIT, AI, QG, WS, CLI, ORCH = WORKER, GIT_PLATFORM, AI_PROVIDER, QUALITY_GATES, WEBSOCKET_SERVER, CLIENT, ORCHESTRATOR


def _progress(detail: str, client_sees: str) -> tuple[Message, ...]:
    return (push(W, WS, f"sendProgress(workflowId, {detail})"), push(WS, CLI, client_sees))


_GIT_STEPS = (S.FETCHING_ISSUE, S.CREATING_BRANCH, S.COMMITTING, S.PUSHING, S.OPENING_PULL_REQUEST)

PIPELINE = MachineSpec(
    name="coding_pipeline",
    title="AI-coding pipeline",
    seed_section="4.3",
    description="The four steps of the reference workflow, as run by a worker inside one task.",
    initial=S.READY,
    states=(
        StateSpec(S.READY, "Workspace allocated; nothing done yet.", StateRole.RESTING),
        StateSpec(S.FETCHING_ISSUE, "Step 1: reading the issue from the git platform."),
        StateSpec(S.ANALYSING_ISSUE, "Step 1: the AI provider analyses the issue."),
        StateSpec(S.GENERATING_CODE, "Step 2: code streams in from the AI provider."),
        StateSpec(S.BUILDING, "Step 3: the build command runs in the workspace."),
        StateSpec(S.TESTING, "Step 3: the test suite runs in the workspace."),
        StateSpec(S.CREATING_BRANCH, "Step 4: creating the feature branch."),
        StateSpec(S.COMMITTING, "Step 4: committing the generated change."),
        StateSpec(S.PUSHING, "Step 4: pushing the branch."),
        StateSpec(S.OPENING_PULL_REQUEST, "Step 4: opening the pull request."),
        StateSpec(S.DELIVERED, "Pull request open; the task can complete.", StateRole.TERMINAL),
        StateSpec(S.FAILED, "A step failed with BUILD_FAILED, TEST_FAILED, AI_ERROR or GIT_ERROR.",
                  StateRole.TERMINAL),
    ),
    transitions=(
        transition(T.FETCH_ISSUE, S.READY, S.FETCHING_ISSUE, "Step 1 begins.",
                   call(W, GIT, "getIssueDetails(issueId)")),
        transition(T.ISSUE_FETCHED, S.FETCHING_ISSUE, S.ANALYSING_ISSUE, "The issue text is in hand.",
                   reply(GIT, W, "issue details"), *_progress("{step: 1, progress: 10}", "progress update"),
                   call(W, AI, "analyzeIssue(issueDetails)")),
        transition(T.ANALYSIS_READY, S.ANALYSING_ISSUE, S.GENERATING_CODE, "Analysis done; step 2 begins.",
                   reply(AI, W, "analysis result"), *_progress("{step: 1, progress: 50}", "progress update"),
                   call(W, ORCH, "POST /api/v1/tasks/progress"),
                   call(ORCH, WS, "broadcastProgress(workflowId, step1_progress)"), push(WS, CLI, "progress update"),
                   call(W, AI, "generateCode(analysis, requirements)"), step(AI, "streamCodeGeneration()")),
        transition(T.CODE_CHUNK, S.GENERATING_CODE, SAME, "One streamed chunk of generated code.",
                   push(AI, W, "codeChunk"), *_progress("{step: 2, chunk: codeChunk}", "code chunk received")),
        transition(T.CODE_GENERATED, S.GENERATING_CODE, S.BUILDING, "Generation complete; step 3 builds.",
                   reply(AI, W, "codeGeneration complete"), *_progress("{step: 2, progress: 90}", "progress update"),
                   call(W, QG, "runBuild(workspace)"), step(QG, "executeBuildCommand()"),
                   step(QG, "monitorBuildProgress()")),
        transition(T.BUILD_PROGRESS, S.BUILDING, SAME, "Build output streams to subscribers.",
                   push(QG, W, "buildProgress"), *_progress("{step: 3, buildProgress}", "build progress")),
        transition(T.BUILD_PASSED, S.BUILDING, S.TESTING, "The build succeeded; run the tests.",
                   reply(QG, W, "buildResult"), call(W, QG, "runTests(workspace)"), step(QG, "executeTestSuite()")),
        transition(T.TEST_PROGRESS, S.TESTING, SAME, "Test output streams to subscribers.",
                   push(QG, W, "testProgress"), *_progress("{step: 3, testProgress}", "test progress")),
        transition(T.TESTS_PASSED, S.TESTING, S.CREATING_BRANCH, "Tests green; step 4 creates a branch.",
                   reply(QG, W, "testResults"), *_progress("{step: 3, progress: 100}", "step 3 complete"),
                   call(W, GIT, "createBranch(feature/branch)")),
        transition(T.BRANCH_CREATED, S.CREATING_BRANCH, S.COMMITTING, "Branch exists.",
                   reply(GIT, W, "branch created"), *_progress("{step: 4, progress: 25}", "branch created"),
                   call(W, GIT, "commitChanges(workspace)")),
        transition(T.COMMITTED, S.COMMITTING, S.PUSHING, "Commit recorded.",
                   reply(GIT, W, "commit created"), *_progress("{step: 4, progress: 50}", "commit created"),
                   call(W, GIT, "pushBranch()")),
        transition(T.PUSHED, S.PUSHING, S.OPENING_PULL_REQUEST, "Branch pushed.",
                   reply(GIT, W, "branch pushed"), *_progress("{step: 4, progress: 75}", "branch pushed"),
                   call(W, GIT, "createPullRequest()")),
        transition(T.PULL_REQUEST_OPENED, S.OPENING_PULL_REQUEST, S.DELIVERED, "Pull request created.",
                   reply(GIT, W, "pullRequest created"),
                   *_progress("{step: 4, progress: 100}", "pull request created")),
        transition(T.BUILD_FAILED, S.BUILDING, S.FAILED, "The build command failed: BUILD_FAILED.",
                   reply(QG, W, "buildFailed"), step(W, "classifyFailure(BUILD_FAILED)")),
        transition(T.TESTS_FAILED, S.TESTING, S.FAILED, "The test suite failed: TEST_FAILED.",
                   reply(QG, W, "testFailed"), step(W, "classifyFailure(TEST_FAILED)")),
        transition(T.AI_ERROR, (S.ANALYSING_ISSUE, S.GENERATING_CODE), S.FAILED,
                   "The AI provider failed, timed out or returned an unusable patch: AI_ERROR.",
                   reply(AI, W, "providerError"), step(W, "classifyFailure(AI_ERROR)")),
        transition(T.GIT_ERROR, _GIT_STEPS, S.FAILED, "A git operation failed after its retries: GIT_ERROR.",
                   reply(GIT, W, "gitError"), step(W, "classifyFailure(GIT_ERROR)")),
    ),
)
