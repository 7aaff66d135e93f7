"""The four steps end to end on real git: delivery, and each failure the seed names."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from runtime.resilience import FakeClock, MonotonicClock
from runtime.worker.errors import TaskFailure
from runtime.workflow import (
    DELIVERED_ISSUE,
    FAILING_BUILD_ISSUE,
    FAILING_TESTS_ISSUE,
    AIFailure,
    AIOperation,
    AIScript,
    CodingPipeline,
    DemoRepository,
    GitCommandError,
    LocalGitPlatform,
    ScriptedAIProvider,
    WorkflowServices,
    parse_patch,
)
from runtime.workflow.local_git import GitAuthor, isolated_git_env
from spec.conformance import check_trace
from spec.policies import DEFAULT_POLICIES, BackoffPolicy, CircuitBreakerPolicy, Policies, ProgressPolicy
from spec.taxonomy import ErrorClass, FailureCode
from spec.trace import TraceEvent

SEED_SEQUENCE = [(1, 10.0), (1, 50.0), (2, 90.0), (3, 100.0), (4, 25.0), (4, 50.0), (4, 75.0), (4, 100.0)]
#: Every line counts as due, so build and test output is reported line by line.
CHATTY = DEFAULT_POLICIES.model_copy(update={"progress": ProgressPolicy(interval_s=1e-9, milestone_min_gap_s=0)})


def services_for(demo: DemoRepository, ai: ScriptedAIProvider, clock: Any, trace: list[TraceEvent] | None = None,
                 *, policies: Policies = DEFAULT_POLICIES, git: LocalGitPlatform | None = None) -> WorkflowServices:
    return WorkflowServices(git or demo.platform(), ai, demo.quality_gates(), policies=policies, clock=clock,
                            trace_sink=trace.append if trace is not None else None)


def run(pipeline: CodingPipeline) -> dict[str, Any]:
    return asyncio.run(pipeline.run())


def fail(pipeline: CodingPipeline) -> TaskFailure:
    with pytest.raises(TaskFailure) as caught:
        run(pipeline)
    return caught.value


def git_out(*args: str) -> str:
    return subprocess.run(["git", *args], capture_output=True, text=True, check=True,
                          env=isolated_git_env(GitAuthor())).stdout


def pipeline_triggers(trace: list[TraceEvent]) -> list[str]:
    return [e.trigger for e in trace if e.machine == "coding_pipeline"]


def test_delivers_a_branch_commit_push_and_pull_request(demo: DemoRepository, make_task: Any, clock: FakeClock,
                                                         trace: list[TraceEvent]) -> None:
    rig = make_task({"issueId": DELIVERED_ISSUE}, policies=CHATTY)
    ai = ScriptedAIProvider(chunk_size=40, clock=clock)
    pipeline = CodingPipeline(rig.ctx, services_for(demo, ai, clock, trace, policies=CHATTY))

    result = run(pipeline)

    assert pipeline.state == "delivered"
    assert trace[-1].machine == "coding_pipeline" and trace[-1].dest == "delivered"
    # The branch really is in the bare repository, at the commit the task reports, on top of main.
    branch = f"feature/issue-{DELIVERED_ISSUE}"
    assert result["branch"] == branch
    assert demo.branch_commit(branch) == result["commit"]
    assert git_out("--git-dir", str(demo.remote), "rev-parse", f"{branch}~1") == git_out(
        "--git-dir", str(demo.remote), "rev-parse", "main")
    calc = git_out("--git-dir", str(demo.remote), "show", f"{branch}:calc.py")
    assert "def multiply(a: int, b: int) -> int:" in calc and "def add" in calc
    assert "Add a multiply function" in git_out("--git-dir", str(demo.remote), "log", "-1", "--format=%s", branch)
    # The pull request is recorded next to the bare repository.
    record = json.loads((demo.pulls_dir / "1.json").read_text())
    assert record["number"] == result["pullRequest"]["number"] == 1
    assert (record["branch"], record["base"], record["commit"]) == (branch, "main", result["commit"])
    assert result["pullRequest"]["location"] == str(demo.pulls_dir / "1.json")
    # Progress: the seed's per-step figures in order, an overall percentage that never falls and ends at 100.
    assert rig.seed_progress() == SEED_SEQUENCE
    percentages = [u.percentage for u in rig.sent]
    assert percentages == sorted(percentages) and percentages[-1] == 100.0
    # Streamed chunks, in order, are exactly the patch that was applied.
    streamed = "".join(rig.details_with("chunk"))
    assert parse_patch(streamed).files == ("calc.py", "tests/test_calc.py")
    assert all(u.milestone for u in rig.sent if "chunk" in u.details)
    # Build and test output streamed line by line: one line per unit test from unittest -v.
    assert any("Compiling" in line for line in rig.details_with("buildProgress"))
    assert any("test_multiply" in line and "ok" in line for line in rig.details_with("testProgress"))
    triggers = pipeline_triggers(trace)
    assert triggers[:3] == ["fetch_issue", "issue_fetched", "analysis_ready"]
    assert triggers.count("code_chunk") == len(rig.details_with("chunk"))
    assert triggers[-4:] == ["branch_created", "committed", "pushed", "pull_request_opened"]
    assert rig.ctx.saved_state["pipelineState"] == "delivered"
    # The whole trace (pipeline, retry, rate-limit and breaker machines) replays on the spec.
    report = check_trace(trace)
    assert report.ok, report.format()


def test_build_failure_fails_with_build_failed_and_pushes_nothing(demo: DemoRepository, make_task: Any,
                                                                   clock: FakeClock) -> None:
    rig = make_task({"issueId": FAILING_BUILD_ISSUE})
    pipeline = CodingPipeline(rig.ctx, services_for(demo, ScriptedAIProvider(clock=clock), clock))
    failure = fail(pipeline)
    assert failure.code is FailureCode.BUILD_FAILED
    assert failure.error_class is ErrorClass.VALIDATION
    assert "SyntaxError" in str(failure) or "invalid syntax" in str(failure) or "expected ':'" in str(failure)
    assert pipeline.state == "failed"
    assert demo.branch_commit(f"feature/issue-{FAILING_BUILD_ISSUE}") is None
    assert clock.sleeps == []  # a failing build is never retried


def test_test_failure_fails_with_test_failed_after_streaming_the_test_output(
    demo: DemoRepository, make_task: Any, clock: FakeClock, trace: list[TraceEvent]
) -> None:
    rig = make_task({"issueId": FAILING_TESTS_ISSUE}, policies=CHATTY)
    pipeline = CodingPipeline(rig.ctx, services_for(demo, ScriptedAIProvider(clock=clock), clock, trace,
                                                    policies=CHATTY))
    failure = fail(pipeline)
    assert failure.code is FailureCode.TEST_FAILED
    assert "test_subtract" in str(failure)
    assert pipeline.state == "failed"
    assert pipeline_triggers(trace)[-1] == "tests_failed"
    assert any("FAIL" in line for line in rig.details_with("testProgress"))
    assert "build_passed" in pipeline_triggers(trace)
    assert not list(demo.pulls_dir.iterdir())


@pytest.mark.parametrize("during", list(AIOperation))
def test_a_failing_ai_provider_is_retried_on_the_backoff_schedule_then_fails_with_ai_error(
    demo: DemoRepository, make_task: Any, clock: FakeClock, during: AIOperation
) -> None:
    rig = make_task({"issueId": DELIVERED_ISSUE})
    ai = ScriptedAIProvider(AIScript(AIFailure.ERROR, during=during), clock=clock)
    pipeline = CodingPipeline(rig.ctx, services_for(demo, ai, clock))
    failure = fail(pipeline)
    assert failure.code is FailureCode.AI_ERROR
    assert failure.error_class is ErrorClass.NETWORK
    assert ai.calls[during] == DEFAULT_POLICIES.backoff.max_retries + 1
    assert clock.sleeps == DEFAULT_POLICIES.backoff.schedule()
    assert pipeline.state == "failed"


def test_a_timing_out_ai_provider_fails_with_ai_error(demo: DemoRepository, make_task: Any, clock: FakeClock) -> None:
    rig = make_task({"issueId": DELIVERED_ISSUE})
    script = AIScript(AIFailure.TIMEOUT, during=AIOperation.ANALYZE, timeout_s=45.0)
    ai = ScriptedAIProvider(script, clock=clock)
    pipeline = CodingPipeline(rig.ctx, services_for(demo, ai, clock))
    failure = fail(pipeline)
    assert failure.code is FailureCode.AI_ERROR and failure.error_class is ErrorClass.NETWORK
    assert "timed out after 45 s" in str(failure)
    assert clock.sleeps.count(45.0) == DEFAULT_POLICIES.backoff.max_retries + 1


@pytest.mark.parametrize(("failure_mode", "reason"), [(AIFailure.GARBAGE, "not a unified diff"),
                                                       (AIFailure.UNAPPLIABLE, "does not apply")])
def test_garbage_or_a_patch_that_does_not_apply_fails_with_ai_error_and_leaves_the_checkout_clean(
    demo: DemoRepository, make_task: Any, clock: FakeClock, failure_mode: AIFailure, reason: str
) -> None:
    rig = make_task({"issueId": DELIVERED_ISSUE})
    ai = ScriptedAIProvider(AIScript(failure_mode), clock=clock)
    pipeline = CodingPipeline(rig.ctx, services_for(demo, ai, clock))
    failure = fail(pipeline)
    assert failure.code is FailureCode.AI_ERROR and failure.error_class is ErrorClass.VALIDATION
    assert reason in str(failure)
    assert ai.calls[AIOperation.GENERATE] == 1  # bad output is not a transient fault: no retry
    assert pipeline.state == "failed"
    status = git_out("-C", str(pipeline.checkout.path), "status", "--porcelain")
    assert status == ""  # refused whole: not a single hunk was applied


def test_a_rate_limited_ai_provider_is_retried_after_its_retry_after(demo: DemoRepository, make_task: Any,
                                                                      clock: FakeClock,
                                                                      trace: list[TraceEvent]) -> None:
    rig = make_task({"issueId": DELIVERED_ISSUE})
    ai = ScriptedAIProvider(AIScript(AIFailure.RATE_LIMIT, times=1, retry_after_s=7.0), clock=clock)
    pipeline = CodingPipeline(rig.ctx, services_for(demo, ai, clock, trace))
    run(pipeline)
    assert pipeline.state == "delivered"
    assert ai.calls[AIOperation.GENERATE] == 2
    assert clock.sleeps == [7.0]
    limited = [e for e in trace if e.machine == "rate_limit" and e.trigger == "limited_with_retry_after"]
    assert [e.data["retryAfterS"] for e in limited] == [7.0]
    report = check_trace(trace)  # also checks the retry came no earlier than the Retry-After
    assert report.ok, report.format()


def test_retry_after_is_never_cut_short_on_the_real_clock(demo: DemoRepository, make_task: Any) -> None:
    wait_s = 0.3
    rig = make_task({"issueId": DELIVERED_ISSUE})
    ai = ScriptedAIProvider(AIScript(AIFailure.RATE_LIMIT, during=AIOperation.ANALYZE, times=1, retry_after_s=wait_s))
    pipeline = CodingPipeline(rig.ctx, services_for(demo, ai, MonotonicClock()))
    started = time.monotonic()
    run(pipeline)
    assert pipeline.state == "delivered"
    assert time.monotonic() - started >= wait_s


def test_an_ai_provider_failing_repeatedly_opens_its_breaker_and_then_fails_fast(
    demo: DemoRepository, make_task: Any, clock: FakeClock
) -> None:
    policies = DEFAULT_POLICIES.model_copy(update={
        "circuit_breaker": CircuitBreakerPolicy(failure_threshold=2), "backoff": BackoffPolicy(max_retries=0)})
    ai = ScriptedAIProvider(AIScript(AIFailure.ERROR, during=AIOperation.ANALYZE), clock=clock)
    services = services_for(demo, ai, clock, policies=policies)
    for n in range(2):
        failure = fail(CodingPipeline(make_task({"issueId": DELIVERED_ISSUE}, task_id=f"t{n}").ctx, services))
        assert failure.code is FailureCode.AI_ERROR
    assert services.breakers.states()[ai.name] == "open"
    assert ai.calls[AIOperation.ANALYZE] == 2
    pipeline = CodingPipeline(make_task({"issueId": DELIVERED_ISSUE}, task_id="t3").ctx, services)
    failure = fail(pipeline)
    assert failure.code is FailureCode.AI_ERROR
    assert "Circuit breaker is open" in str(failure)
    assert ai.calls[AIOperation.ANALYZE] == 2  # refused without calling the provider
    assert pipeline.state == "failed"
    assert services.breakers.states()[demo.platform().name] == "closed"  # the git platform is fine


def _reject_pushes(remote: Path) -> Path:
    counter = remote / "pushes-seen"
    hook = remote / "hooks" / "pre-receive"
    hook.write_text(f"#!/bin/sh\necho x >> {counter}\necho 'push refused by policy' >&2\nexit 1\n")
    hook.chmod(0o755)
    return counter


def test_a_rejected_push_fails_with_git_error_without_retrying(demo: DemoRepository, make_task: Any,
                                                               clock: FakeClock, trace: list[TraceEvent]) -> None:
    counter = _reject_pushes(demo.remote)
    rig = make_task({"issueId": DELIVERED_ISSUE})
    pipeline = CodingPipeline(rig.ctx, services_for(demo, ScriptedAIProvider(clock=clock), clock, trace))
    failure = fail(pipeline)
    assert failure.code is FailureCode.GIT_ERROR and failure.error_class is ErrorClass.VALIDATION
    assert "push refused by policy" in str(failure)
    assert counter.read_text().count("x") == 1
    assert pipeline.state == "failed"
    assert pipeline_triggers(trace)[-2:] == ["committed", "git_error"]
    assert rig.seed_progress()[-1] == (4, 50.0)
    report = check_trace(trace)
    assert report.ok, report.format()


class FlakyNetworkPlatform(LocalGitPlatform):
    """The real local platform, whose first push meets a dropped connection."""

    pushes = 0

    async def push(self, checkout: Any, branch: str) -> None:
        self.pushes += 1
        if self.pushes == 1:
            raise GitCommandError(["git", "push"], 128, "fatal: the remote end hung up unexpectedly",
                                  ErrorClass.NETWORK)
        await super().push(checkout, branch)


def test_a_network_failure_of_a_push_is_retried_and_the_workflow_delivers(demo: DemoRepository, make_task: Any,
                                                                          clock: FakeClock,
                                                                          trace: list[TraceEvent]) -> None:
    git = FlakyNetworkPlatform(demo.remote, issues_dir=demo.issues_dir, pulls_dir=demo.pulls_dir)
    rig = make_task({"issueId": DELIVERED_ISSUE})
    pipeline = CodingPipeline(rig.ctx, services_for(demo, ScriptedAIProvider(clock=clock), clock, trace, git=git))
    result = run(pipeline)
    assert pipeline.state == "delivered" and git.pushes == 2
    assert clock.sleeps == DEFAULT_POLICIES.backoff.schedule()[:1]
    assert [e.trigger for e in trace if e.machine == "retry"].count("fail_retryable") == 1
    report = check_trace(trace)
    assert report.ok, report.format()
    assert demo.branch_commit(result["branch"]) == result["commit"]


def test_an_unknown_issue_fails_with_git_error_naming_the_known_issues(demo: DemoRepository, make_task: Any,
                                                                      clock: FakeClock) -> None:
    pipeline = CodingPipeline(make_task({"issueId": "404"}).ctx,
                              services_for(demo, ScriptedAIProvider(clock=clock), clock))
    failure = fail(pipeline)
    assert failure.code is FailureCode.GIT_ERROR and failure.error_class is ErrorClass.VALIDATION
    assert "issue '404' not found" in str(failure) and "1, 2, 3" in str(failure)
    assert clock.sleeps == []


def test_validation_errors_do_not_open_the_git_platform_breaker(demo: DemoRepository, make_task: Any,
                                                               clock: FakeClock) -> None:
    services = services_for(demo, ScriptedAIProvider(clock=clock), clock)
    for n in range(DEFAULT_POLICIES.circuit_breaker.failure_threshold + 1):
        failure = fail(CodingPipeline(make_task({"issueId": "404"}, task_id=f"t{n}").ctx, services))
        assert "not found" in str(failure)
    assert services.breakers.states()[demo.platform().name] == "closed"
    run(CodingPipeline(make_task({"issueId": DELIVERED_ISSUE}, task_id="ok").ctx, services))


@pytest.mark.parametrize(("payload", "field"), [({}, "issueId"), ({"issueId": "../x"}, "issueId"),
                                                ({"issueId": "1", "branch": "main"}, "branch")])
def test_a_bad_payload_fails_before_the_pipeline_starts(demo: DemoRepository, make_task: Any, clock: FakeClock,
                                                        payload: dict[str, Any], field: str) -> None:
    pipeline = CodingPipeline(make_task(payload).ctx, services_for(demo, ScriptedAIProvider(clock=clock), clock))
    failure = fail(pipeline)
    assert failure.code is FailureCode.TASK_ERROR and failure.error_class is ErrorClass.VALIDATION
    assert f"payload field {field!r}" in str(failure)
    assert pipeline.state == "ready"


def test_a_retried_task_replaces_its_branch_and_keeps_one_pull_request(demo: DemoRepository, make_task: Any,
                                                                       clock: FakeClock) -> None:
    services = services_for(demo, ScriptedAIProvider(clock=clock), clock)
    first = run(CodingPipeline(make_task({"issueId": DELIVERED_ISSUE}, task_id="a").ctx, services))
    second = run(CodingPipeline(make_task({"issueId": DELIVERED_ISSUE}, task_id="b").ctx, services))
    assert first["pullRequest"]["number"] == second["pullRequest"]["number"] == 1
    assert demo.branch_commit(second["branch"]) == second["commit"] != first["commit"]
    assert json.loads((demo.pulls_dir / "1.json").read_text())["commit"] == second["commit"]
