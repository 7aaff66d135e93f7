"""The AI-coding pipeline a worker runs for one workflow task (seed 4.3, steps 1-4).

Issue analysis → code generation (streamed) → build → test → branch → commit → push →
pull request. Each failure is classified with the seed's event names (BUILD_FAILED,
TEST_FAILED, AI_ERROR) and then reported through the task machine's ``fail``. The seed has no
git failure branch; a push can fail, so ``git_error`` (GIT_ERROR) is added.
"""

from __future__ import annotations

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

W, GIT, AI, QG, WS, CLI, ORCH = WORKER, GIT_PLATFORM, AI_PROVIDER, QUALITY_GATES, WEBSOCKET_SERVER, CLIENT, ORCHESTRATOR


def _progress(detail: str, client_sees: str) -> tuple[Message, ...]:
    return (push(W, WS, f"sendProgress(workflowId, {detail})"), push(WS, CLI, client_sees))


_GIT_STEPS = ("fetching_issue", "creating_branch", "committing", "pushing", "opening_pull_request")

PIPELINE = MachineSpec(
    name="coding_pipeline",
    title="AI-coding pipeline",
    seed_section="4.3",
    description="The four steps of the reference workflow, as run by a worker inside one task.",
    initial="ready",
    states=(
        StateSpec("ready", "Workspace allocated; nothing done yet.", StateRole.RESTING),
        StateSpec("fetching_issue", "Step 1: reading the issue from the git platform."),
        StateSpec("analysing_issue", "Step 1: the AI provider analyses the issue."),
        StateSpec("generating_code", "Step 2: code streams in from the AI provider."),
        StateSpec("building", "Step 3: the build command runs in the workspace."),
        StateSpec("testing", "Step 3: the test suite runs in the workspace."),
        StateSpec("creating_branch", "Step 4: creating the feature branch."),
        StateSpec("committing", "Step 4: committing the generated change."),
        StateSpec("pushing", "Step 4: pushing the branch."),
        StateSpec("opening_pull_request", "Step 4: opening the pull request."),
        StateSpec("delivered", "Pull request open; the task can complete.", StateRole.TERMINAL),
        StateSpec("failed", "A step failed with BUILD_FAILED, TEST_FAILED, AI_ERROR or GIT_ERROR.",
                  StateRole.TERMINAL),
    ),
    transitions=(
        transition("fetch_issue", "ready", "fetching_issue", "Step 1 begins.",
                   call(W, GIT, "getIssueDetails(issueId)")),
        transition("issue_fetched", "fetching_issue", "analysing_issue", "The issue text is in hand.",
                   reply(GIT, W, "issue details"), *_progress("{step: 1, progress: 10}", "progress update"),
                   call(W, AI, "analyzeIssue(issueDetails)")),
        transition("analysis_ready", "analysing_issue", "generating_code", "Analysis done; step 2 begins.",
                   reply(AI, W, "analysis result"), *_progress("{step: 1, progress: 50}", "progress update"),
                   call(W, ORCH, "POST /api/v1/tasks/progress"),
                   call(ORCH, WS, "broadcastProgress(workflowId, step1_progress)"), push(WS, CLI, "progress update"),
                   call(W, AI, "generateCode(analysis, requirements)"), step(AI, "streamCodeGeneration()")),
        transition("code_chunk", "generating_code", SAME, "One streamed chunk of generated code.",
                   push(AI, W, "codeChunk"), *_progress("{step: 2, chunk: codeChunk}", "code chunk received")),
        transition("code_generated", "generating_code", "building", "Generation complete; step 3 builds.",
                   reply(AI, W, "codeGeneration complete"), *_progress("{step: 2, progress: 90}", "progress update"),
                   call(W, QG, "runBuild(workspace)"), step(QG, "executeBuildCommand()"),
                   step(QG, "monitorBuildProgress()")),
        transition("build_progress", "building", SAME, "Build output streams to subscribers.",
                   push(QG, W, "buildProgress"), *_progress("{step: 3, buildProgress}", "build progress")),
        transition("build_passed", "building", "testing", "The build succeeded; run the tests.",
                   reply(QG, W, "buildResult"), call(W, QG, "runTests(workspace)"), step(QG, "executeTestSuite()")),
        transition("test_progress", "testing", SAME, "Test output streams to subscribers.",
                   push(QG, W, "testProgress"), *_progress("{step: 3, testProgress}", "test progress")),
        transition("tests_passed", "testing", "creating_branch", "Tests green; step 4 creates a branch.",
                   reply(QG, W, "testResults"), *_progress("{step: 3, progress: 100}", "step 3 complete"),
                   call(W, GIT, "createBranch(feature/branch)")),
        transition("branch_created", "creating_branch", "committing", "Branch exists.",
                   reply(GIT, W, "branch created"), *_progress("{step: 4, progress: 25}", "branch created"),
                   call(W, GIT, "commitChanges(workspace)")),
        transition("committed", "committing", "pushing", "Commit recorded.",
                   reply(GIT, W, "commit created"), *_progress("{step: 4, progress: 50}", "commit created"),
                   call(W, GIT, "pushBranch()")),
        transition("pushed", "pushing", "opening_pull_request", "Branch pushed.",
                   reply(GIT, W, "branch pushed"), *_progress("{step: 4, progress: 75}", "branch pushed"),
                   call(W, GIT, "createPullRequest()")),
        transition("pull_request_opened", "opening_pull_request", "delivered", "Pull request created.",
                   reply(GIT, W, "pullRequest created"),
                   *_progress("{step: 4, progress: 100}", "pull request created")),
        transition("build_failed", "building", "failed", "The build command failed: BUILD_FAILED.",
                   reply(QG, W, "buildFailed"), step(W, "classifyFailure(BUILD_FAILED)")),
        transition("tests_failed", "testing", "failed", "The test suite failed: TEST_FAILED.",
                   reply(QG, W, "testFailed"), step(W, "classifyFailure(TEST_FAILED)")),
        transition("ai_error", ("analysing_issue", "generating_code"), "failed",
                   "The AI provider failed, timed out or returned an unusable patch: AI_ERROR.",
                   reply(AI, W, "providerError"), step(W, "classifyFailure(AI_ERROR)")),
        transition("git_error", _GIT_STEPS, "failed", "A git operation failed after its retries: GIT_ERROR.",
                   reply(GIT, W, "gitError"), step(W, "classifyFailure(GIT_ERROR)")),
    ),
)
