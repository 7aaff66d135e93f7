"""The reference AI-coding workflow (seed 4.3, steps 1-4), executing the spec's ``coding_pipeline`` machine.

1. Issue analysis: ``GitPlatform.get_issue`` (and a clone of the base branch), then ``AIProvider.analyze``.
2. Code generation: the provider streams a diff; every chunk goes out at once as progress
   ``{step: 2, chunk: ...}``; the diff is validated and applied with ``git apply``.
3. Build and test: ``QualityGates`` run in the checkout; their output lines stream as progress.
4. Git operations: branch, commit, push, pull request.

Every git platform and AI provider call goes through that service's circuit breaker, retry handler
and rate limiter (`runtime.resilience.ExternalService`); quality gates go through a retry handler
only, whose taxonomy rules never retry a failed build. A failure fires the machine's
``build_failed``, ``tests_failed``, ``ai_error`` or ``git_error`` and fails the task with the
matching `spec.taxonomy.FailureCode`; the worker then removes the workspace.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from runtime.resilience import (
    BreakerRegistry,
    Clock,
    Escalator,
    ExternalService,
    MonotonicClock,
    RetryHandler,
    classify,
)
from runtime.resilience.classify import counts_against_breaker
from runtime.resilience.tracing import TracedMachine, TraceSink, bind_traced
from runtime.worker.context import TaskContext
from runtime.worker.errors import TaskFailure
from runtime.workflow.errors import GateFailedError, PatchError
from runtime.workflow.local_git import ISSUE_ID
from runtime.workflow.patches import apply_patch, parse_patch, repository_path
from runtime.workflow.providers import (
    AIProvider,
    Analysis,
    Checkout,
    GateResult,
    GitPlatform,
    Issue,
    LineSink,
    QualityGates,
)
from runtime.workflow.seed_progress import PIPELINE_MACHINE, overall_percentage, seed_progress, step_title
from spec.machines.pipeline import PipelineTrigger
from spec.policies import DEFAULT_POLICIES, Policies
from spec.taxonomy import ErrorClass, FailureCode

#: The checkout's directory inside the task workspace.
CHECKOUT_DIR = "repo"
#: The seed's ``createBranch(feature/branch)``: branches are named feature/<something>.
BRANCH_PREFIX = "feature/"

#: Failure trigger of the machine -> the code the task fails with (seed 4.3 "Error Handling").
FAILURE_CODES: dict[str, FailureCode] = {
    "build_failed": FailureCode.BUILD_FAILED,
    "tests_failed": FailureCode.TEST_FAILED,
    "ai_error": FailureCode.AI_ERROR,
    "git_error": FailureCode.GIT_ERROR,
}
#: State -> the failure trigger that leaves it, read from the machine's table.
FAILURE_TRIGGER_BY_STATE: dict[str, str] = {
    state: t.trigger for t in PIPELINE_MACHINE.transitions if t.trigger in FAILURE_CODES for state in t.source
}


def _invalid(field: str, reason: str) -> TaskFailure:
    return TaskFailure(f"payload field {field!r}: {reason}", code=FailureCode.TASK_ERROR,
                       error_class=ErrorClass.VALIDATION)


@dataclass(frozen=True)
class WorkflowRequest:
    """What an ``ai_coding`` task's payload asks for: ``{"issueId": "1", "branch": "feature/x"?}``."""

    issue_id: str
    branch: str

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> WorkflowRequest:
        raw = payload.get("issueId")
        if isinstance(raw, int) and not isinstance(raw, bool):
            raw = str(raw)
        if not isinstance(raw, str) or not ISSUE_ID.match(raw):
            raise _invalid("issueId", f"must be an issue id (letters, digits, '.', '_', '-'), got {raw!r}")
        branch = payload.get("branch", f"{BRANCH_PREFIX}issue-{raw}")
        if not isinstance(branch, str) or not branch.startswith(BRANCH_PREFIX) or len(branch) <= len(BRANCH_PREFIX):
            raise _invalid("branch", f"must be a branch name starting with {BRANCH_PREFIX!r}, got {branch!r}")
        return cls(raw, branch)


class WorkflowServices:
    """The providers, each behind its resilience stack; shared by every task so breakers see them all."""

    def __init__(
        self,
        git: GitPlatform,
        ai: AIProvider,
        gates: QualityGates,
        *,
        policies: Policies = DEFAULT_POLICIES,
        breakers: BreakerRegistry | None = None,
        clock: Clock | None = None,
        escalator: Escalator | None = None,
        trace_sink: TraceSink | None = None,
    ) -> None:
        self.git = git
        self.ai = ai
        self.gates = gates
        self.policies = policies
        if clock is None:
            clock = breakers.clock if breakers is not None else MonotonicClock()
        self.clock: Clock = clock
        self.breakers = breakers if breakers is not None else BreakerRegistry(
            policies.circuit_breaker, clock=clock, is_failure=counts_against_breaker, trace_sink=trace_sink)
        self.trace_sink = trace_sink
        self.git_service = ExternalService(git.name, policies=policies, clock=clock, breakers=self.breakers,
                                           escalator=escalator, trace_sink=trace_sink)
        self.ai_service = ExternalService(ai.name, policies=policies, clock=clock, breakers=self.breakers,
                                          escalator=escalator, trace_sink=trace_sink)
        self.gate_retry = RetryHandler(policies.backoff, clock=clock, escalator=escalator, trace_sink=trace_sink,
                                       name=f"retry:{gates.name}")


def gate_failure(gate: GateResult) -> GateFailedError:
    result = gate.result
    tail = (result.stderr.strip() or result.stdout.strip())[-1500:]
    what = f"{gate.gate} command {' '.join(result.argv)[:200]!r} exited with {result.returncode}"
    if result.hit_cpu_limit or result.hit_memory_limit or result.hit_file_size_limit:
        limit = "CPU" if result.hit_cpu_limit else "memory" if result.hit_memory_limit else "file size"
        return GateFailedError(gate.gate, f"{what}: the task's {limit} limit was exceeded\n{tail}",
                               error_class=ErrorClass.SYSTEM)
    return GateFailedError(gate.gate, f"{what}\n{tail}")


class CodingPipeline:
    """One run of the four steps for one task; ``state`` is its ``coding_pipeline`` machine state."""

    def __init__(self, ctx: TaskContext, services: WorkflowServices) -> None:
        self.ctx = ctx
        self.services = services
        self.checkout = Checkout(ctx.workspace / CHECKOUT_DIR, ctx.limits, ctx.command_env())
        self.machine: TracedMachine = bind_traced(
            PIPELINE_MACHINE.name,
            component=f"pipeline:{ctx.task_id}",
            clock=services.clock,
            sink=services.trace_sink,
            data={"workflowId": ctx.workflow_id, "taskId": ctx.task_id, "workerId": ctx.worker_id},
        )
        self.percentage = 0.0
        self.done: dict[str, Any] = {}

    @property
    def state(self) -> str:
        return self.machine.state

    async def run(self) -> dict[str, Any]:
        """Run all four steps; return the task result, or raise the classified :class:`TaskFailure`."""
        request = WorkflowRequest.from_payload(self.ctx.payload)
        try:
            return await self._run(request)
        except (asyncio.CancelledError, TaskFailure):
            raise
        except Exception as exc:
            raise self._failure(exc) from exc

    # -- the steps --------------------------------------------------------------------------------

    async def _run(self, request: WorkflowRequest) -> dict[str, Any]:
        issue, analysis = await self._analyse_issue(request)
        files = await self._generate_code(analysis)
        build, tests = await self._build_and_test()
        return await self._deliver(request, issue, analysis, files, build, tests)

    async def _analyse_issue(self, request: WorkflowRequest) -> tuple[Issue, Analysis]:
        git, ai = self.services.git_service, self.services.ai_service
        self.machine.fire(PipelineTrigger.FETCH_ISSUE, issueId=request.issue_id)
        issue = await git.call(self.services.git.get_issue, request.issue_id)
        await git.call(self.services.git.clone, self.checkout)
        await self._advance("issue_fetched", issueId=issue.id, title=issue.title)
        analysis = await ai.call(self.services.ai.analyze, issue)
        await self._advance("analysis_ready", summary=analysis.summary, files=list(analysis.files))
        return issue, analysis

    async def _generate_code(self, analysis: Analysis) -> tuple[str, ...]:
        sources = await asyncio.to_thread(self._read_sources, analysis.files)

        async def generate_code() -> str:  # the operation name the worker's telemetry reports
            received: list[str] = []
            offset = 0
            async for chunk in self.services.ai.generate_code(analysis, sources):
                # offset 0 again means a retried call restarted the stream.
                await self._stream("code_chunk", {"chunk": chunk, "offset": offset}, milestone=True)
                received.append(chunk)
                offset += len(chunk)
            return "".join(received)

        patch = parse_patch(await self.services.ai_service.call(generate_code))
        await apply_patch(self.checkout, patch)
        await self._advance("code_generated", files=list(patch.files))
        return patch.files

    async def _build_and_test(self) -> tuple[GateResult, GateResult]:
        gates = self.services.gates
        build = await self._gate(gates.run_build, "build_progress", "buildProgress")
        self.machine.fire(PipelineTrigger.BUILD_PASSED)
        tests = await self._gate(gates.run_tests, "test_progress", "testProgress")
        await self._advance("tests_passed")
        return build, tests

    async def _deliver(self, request: WorkflowRequest, issue: Issue, analysis: Analysis, files: tuple[str, ...],
                       build: GateResult, tests: GateResult) -> dict[str, Any]:
        git, platform = self.services.git_service, self.services.git
        await git.call(platform.create_branch, self.checkout, request.branch)
        await self._advance("branch_created", branch=request.branch)
        message = (f"{issue.title}\n\n{analysis.summary}\n\nResolves issue #{issue.id} "
                   f"(workflow {self.ctx.workflow_id}, task {self.ctx.task_id}).\n")
        commit = await git.call(platform.commit, self.checkout, message)
        await self._advance("committed", commit=commit)
        await git.call(platform.push, self.checkout, request.branch)
        await self._advance("pushed", branch=request.branch)
        body = "\n".join([analysis.summary, "", *(f"- {r}" for r in analysis.requirements), "",
                          f"Resolves issue #{issue.id}."])
        pull_request = await git.call(platform.open_pull_request, branch=request.branch, base=platform.base_branch,
                                      title=issue.title, body=body, commit=commit)
        await self._advance("pull_request_opened", pullRequest=pull_request.number, location=pull_request.location)
        return {
            "issueId": issue.id,
            "branch": request.branch,
            "base": platform.base_branch,
            "commit": commit,
            "files": list(files),
            "pullRequest": pull_request.as_dict(),
            "buildS": round(build.result.duration_s, 3),
            "testsS": round(tests.result.duration_s, 3),
        }

    # -- pieces -----------------------------------------------------------------------------------

    def _read_sources(self, files: tuple[str, ...]) -> dict[str, str]:
        """The current text of each file the analysis names ("" for a file to be created)."""
        sources: dict[str, str] = {}
        for name in files:
            path = repository_path(name)
            if path is None:
                raise PatchError(f"the analysis names {name!r}, which is not a repository path")
            target = self.checkout.path / path
            sources[name] = target.read_text(encoding="utf-8", errors="replace") if target.is_file() else ""
        return sources

    async def _gate(self, run: Callable[[Checkout, LineSink], Awaitable[GateResult]], trigger: str,
                    key: str) -> GateResult:
        async def on_line(line: str) -> None:
            await self._stream(trigger, {key: line}, milestone=False)

        async def attempt() -> GateResult:
            try:
                gate = await run(self.checkout, on_line)
            except OSError as exc:
                raise GateFailedError(key, f"quality gate command could not start: {exc}") from exc
            if not gate.ok:
                raise gate_failure(gate)
            return gate

        return await self.services.gate_retry.execute(attempt)

    async def _advance(self, trigger: str, **data: Any) -> None:
        """Fire `trigger`, then send the seed's ``{step, progress}`` for it as a milestone."""
        self.machine.fire(trigger, **data)
        self.done[trigger] = data
        self.ctx.save_state({"pipelineState": self.state, "done": self.done})
        seed = seed_progress(trigger)
        assert seed.progress is not None, f"{trigger} reports no per-step progress"
        self.percentage = overall_percentage(seed.step, seed.progress)
        await self.ctx.progress(self.percentage, step_title(seed.step),
                                {"step": seed.step, "progress": seed.progress, **data}, milestone=True)

    async def _stream(self, trigger: str, details: dict[str, Any], *, milestone: bool) -> None:
        """Report streamed output (a code chunk, a build line); the transition fires when it went out."""
        seed = seed_progress(trigger)
        sent = await self.ctx.reporter.update(self.percentage, step_title(seed.step), {"step": seed.step, **details},
                                              milestone=milestone)
        if sent:
            self.machine.fire(trigger)

    def _failure(self, exc: Exception) -> TaskFailure:
        """Fire the failure transition of the current state and classify `exc` as the task's error."""
        error_class = classify(exc)
        state = self.state
        trigger = FAILURE_TRIGGER_BY_STATE.get(state)
        if trigger is None:
            return TaskFailure(f"pipeline failed in state {state!r}: {type(exc).__name__}: {exc}",
                               code=FailureCode.TASK_ERROR, error_class=error_class)
        code = FAILURE_CODES[trigger]
        self.machine.fire(trigger, errorClass=error_class.value, error=str(exc)[:500])
        return TaskFailure(f"{code.value} during {state}: {exc}", code=code, error_class=error_class)
