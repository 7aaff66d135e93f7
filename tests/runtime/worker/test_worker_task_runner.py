"""TaskRunner against a recording MockTransport: outcomes, classification, limits, fencing."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from runtime.protocol import TaskAssignment
from runtime.worker.builtin_tasks import ShellTask, noop_task, sleep_task
from runtime.worker.client import OrchestratorClient
from runtime.worker.context import CancelReason, TaskContext
from runtime.worker.errors import TaskFailure
from runtime.worker.handler_call import TaskHandler
from runtime.worker.task_runner import MAX_REMEMBERED_REQUEUES, TaskRunner
from runtime.worker.tracing import TraceRecorder
from runtime.worker.workspace import STATE_FILE, WorkspaceRoot
from spec.conformance import check_trace
from spec.policies import BackoffPolicy, Policies, ProgressPolicy, ResourceLimits
from spec.taxonomy import ErrorClass, FailureCode

pytestmark = pytest.mark.anyio

POLICIES = Policies(
    progress=ProgressPolicy(interval_s=0.05),
    resources=ResourceLimits(max_duration_s=30),
    backoff=BackoffPolicy(base_delay_s=0.01, max_delay_s=0.02, max_retries=2),
)


class Orchestrator:
    """Records lease reports; answers 409 to reports whose path is in ``refuse``."""

    def __init__(self) -> None:
        self.reports: list[tuple[str, dict[str, Any]]] = []
        self.refuse: set[str] = set()
        self.unavailable_first = 0
        self.batches = 0
        #: Answer failure reports as the orchestrator does when its retry policy queues the task again.
        self.retry_failures = False

    def __call__(self, request: httpx.Request) -> httpx.Response:
        kind = request.url.path.rsplit("/", 1)[-1]
        if self.unavailable_first > 0:
            self.unavailable_first -= 1
            return httpx.Response(503, json={"error": {"reason": "draining"}})
        if kind == "reports":  # a batch: each report answered as its single endpoint would be
            self.batches += 1
            return httpx.Response(200, json={"outcomes": [self._batched(r) for r in json.loads(request.content)
                                                          ["reports"]], "tasks": []})
        if kind in self.refuse:
            return httpx.Response(409, json={"error": {"field": "fencingToken", "reason": "stale lease"}})
        self.reports.append((kind, json.loads(request.content)))
        return httpx.Response(200, json={"taskId": "t", "status": kind, "fencingToken": 1})

    def _batched(self, report: dict[str, Any]) -> dict[str, Any]:
        kind = report.pop("kind")
        if kind in self.refuse:
            return {"taskId": report["taskId"], "code": 409,
                    "error": {"field": "fencingToken", "reason": "stale lease"}}
        self.reports.append((kind, report))
        status = "queued" if kind == "failed" and self.retry_failures else kind
        return {"taskId": report["taskId"], "code": 200, "status": status, "fencingToken": report["fencingToken"]}

    def kinds(self) -> list[str]:
        return [k for k, _ in self.reports if k != "progress"]

    def last(self, kind: str) -> dict[str, Any]:
        return [body for k, body in self.reports if k == kind][-1]


def _assignment(task_type: str, payload: dict[str, Any] | None = None, task_id: str = "t-1") -> TaskAssignment:
    return TaskAssignment(task_id=task_id, workflow_id="wf-1", type=task_type, payload=payload or {}, priority=5,
                          fencing_token=4, lease_expires_at=time.time() + 60, attempt=1)


def _runner(tmp_path: Path, orch: Orchestrator, handlers: dict[str, TaskHandler],
            policies: Policies = POLICIES) -> tuple[TaskRunner, TraceRecorder]:
    client = OrchestratorClient("http://orch.test", timeout_s=5, transport=httpx.MockTransport(orch))
    recorder = TraceRecorder(keep=True)
    runner = TaskRunner(client=client, worker_id=lambda: "w-1", handlers=handlers, policies=policies,
                        workspaces=WorkspaceRoot(tmp_path), recorder=recorder)
    return runner, recorder


def _triggers(recorder: TraceRecorder) -> list[str]:
    return [e.trigger for e in recorder.events if e.trigger != "progress"]


async def test_a_completed_task_reports_started_progress_completed_and_removes_its_workspace(tmp_path: Path) -> None:
    orch = Orchestrator()
    seen: list[Path] = []

    async def handler(ctx: TaskContext) -> dict[str, Any]:
        seen.append(ctx.workspace)
        (ctx.workspace / "file").write_text("data")
        await ctx.progress(50, "halfway", {"n": 1}, milestone=True)
        return {"answer": 42}

    runner, recorder = _runner(tmp_path, orch, {"work": handler})
    outcome = await runner.execute(_assignment("work"))
    assert outcome.state == "completed" and outcome.result == {"answer": 42}
    assert orch.kinds() == ["started", "completed"]
    progress = orch.last("progress")
    assert progress["percentage"] == 50 and progress["step"] == "halfway" and progress["fencingToken"] == 4
    assert orch.last("completed")["result"] == {"answer": 42}
    assert not seen[0].exists() and list(tmp_path.iterdir()) == []
    assert _triggers(recorder) == ["start", "complete"]
    assert {e.component for e in recorder.events} == {"task:t-1"}


async def test_a_raising_handler_fails_with_a_classified_error(tmp_path: Path) -> None:
    orch = Orchestrator()

    async def handler(ctx: TaskContext) -> dict[str, Any]:
        raise TaskFailure("3 tests failed", code=FailureCode.TEST_FAILED, error_class=ErrorClass.VALIDATION)

    runner, recorder = _runner(tmp_path, orch, {"t": handler})
    outcome = await runner.execute(_assignment("t"))
    assert outcome.state == "failed"
    error = orch.last("failed")["error"]
    assert error == {"code": "TEST_FAILED", "errorClass": "validation", "message": "3 tests failed"}
    assert _triggers(recorder) == ["start", "fail"]


async def test_the_time_limit_fails_the_task_with_timeout_within_twice_the_limit(tmp_path: Path) -> None:
    orch = Orchestrator()
    runner, recorder = _runner(tmp_path, orch, {"sleep": sleep_task})
    began = time.monotonic()
    outcome = await runner.execute(_assignment("sleep", {"seconds": 60, "maxDurationS": 0.5}))
    elapsed = time.monotonic() - began
    assert outcome.state == "failed" and elapsed < 2 * 0.5 + 5  # generous slack for a loaded machine
    error = orch.last("failed")["error"]
    assert error["code"] == "TIMEOUT" and "timeout" in error["message"]
    assert _triggers(recorder) == ["start", "time_out"]


async def test_a_handler_that_swallows_cancellation_is_still_timed_out(tmp_path: Path) -> None:
    orch = Orchestrator()

    async def stubborn(ctx: TaskContext) -> dict[str, Any]:
        try:
            await asyncio.sleep(300)
        except asyncio.CancelledError:
            pass  # ignores the first cancellation, then keeps working
        await asyncio.sleep(2)
        return {}

    runner, _ = _runner(tmp_path, orch, {"s": stubborn})
    began = time.monotonic()
    outcome = await runner.execute(_assignment("s", {"maxDurationS": 0.3}))
    assert outcome.state == "failed" and orch.last("failed")["error"]["code"] == "TIMEOUT"
    assert time.monotonic() - began < 2 * 0.3 + 5


async def test_a_shell_command_is_killed_at_the_time_limit(tmp_path: Path) -> None:
    orch = Orchestrator()
    runner, _ = _runner(tmp_path, orch, {"shell": ShellTask({"hang": ["sleep", "300"]})})
    began = time.monotonic()
    outcome = await runner.execute(_assignment("shell", {"command": "hang", "maxDurationS": 0.5}))
    assert outcome.state == "failed" and orch.last("failed")["error"]["code"] == "TIMEOUT"
    assert time.monotonic() - began < 2 * 0.5 + 5


async def test_interrupting_reports_the_saved_state(tmp_path: Path) -> None:
    orch = Orchestrator()
    started = asyncio.Event()

    async def long(ctx: TaskContext) -> dict[str, Any]:
        ctx.save_state({"cursor": 17})
        await ctx.progress(30, "copying", milestone=True)
        started.set()
        await asyncio.sleep(300)
        return {}

    runner, recorder = _runner(tmp_path, orch, {"long": long})
    execution = asyncio.create_task(runner.execute(_assignment("long")))
    await asyncio.wait_for(started.wait(), 30)
    assert runner.interrupt_all() == 1
    outcome = await asyncio.wait_for(execution, 30)
    assert outcome.state == "interrupted"
    state = orch.last("interrupted")["state"]
    assert state["cursor"] == 17 and state["progress"]["percentage"] == 30
    assert _triggers(recorder) == ["start", "interrupt"]


async def test_a_saved_state_is_kept_in_the_workspace_while_the_task_runs(tmp_path: Path) -> None:
    """If this process dies now, the next one finds the state beside the workspace (recovery in place)."""
    orch = Orchestrator()
    saved = asyncio.Event()

    async def long(ctx: TaskContext) -> dict[str, Any]:
        ctx.save_state({"cursor": 17})
        saved.set()
        await asyncio.sleep(300)
        return {}

    runner, _ = _runner(tmp_path, orch, {"long": long})
    execution = asyncio.create_task(runner.execute(_assignment("long")))
    await asyncio.wait_for(saved.wait(), 30)
    [state_file] = list(tmp_path.glob(f"*/{STATE_FILE}"))
    assert json.loads(state_file.read_text()) == {"cursor": 17}
    runner.interrupt_all()
    await asyncio.wait_for(execution, 30)


async def test_the_sleep_task_resumes_after_the_steps_a_saved_state_says_are_done(tmp_path: Path) -> None:
    orch = Orchestrator()
    runner, _ = _runner(tmp_path, orch, {"sleep": sleep_task})
    assignment = _assignment("sleep", {"seconds": 0.04, "steps": 4}).model_copy(
        update={"saved_state": {"stepsDone": 3, "steps": 4, "reason": "worker process died"}})
    outcome = await runner.execute(assignment)
    assert outcome.state == "completed" and outcome.result == {"slept": 0.01, "steps": 4, "resumedAfter": 3}
    mismatched = assignment.model_copy(update={"saved_state": {"stepsDone": 3, "steps": 9}})
    assert (await runner.execute(mismatched)).result == {"slept": 0.04, "steps": 4, "resumedAfter": 0}


async def test_a_handler_finishing_despite_an_interrupt_completes(tmp_path: Path) -> None:
    orch = Orchestrator()
    started = asyncio.Event()

    async def tidy(ctx: TaskContext) -> dict[str, Any]:
        started.set()
        try:
            await asyncio.sleep(300)
        except asyncio.CancelledError:
            return {"finished": "early"}
        return {}

    runner, _ = _runner(tmp_path, orch, {"tidy": tidy})
    execution = asyncio.create_task(runner.execute(_assignment("tidy")))
    await asyncio.wait_for(started.wait(), 30)
    runner.cancel("t-1", CancelReason.INTERRUPT)
    assert (await asyncio.wait_for(execution, 30)).state == "completed"


async def test_a_stale_lease_on_progress_abandons_the_task_without_reporting(tmp_path: Path) -> None:
    orch = Orchestrator()
    orch.refuse = {"progress", "completed", "failed", "interrupted"}
    runner, recorder = _runner(tmp_path, orch, {"sleep": sleep_task})
    outcome = await asyncio.wait_for(runner.execute(_assignment("sleep", {"seconds": 300, "steps": 300})), 60)
    assert outcome.state == "queued"
    assert orch.kinds() == ["started"]
    assert _triggers(recorder) == ["start", "lease_lost"]
    assert list(tmp_path.iterdir()) == []


async def test_a_lease_lost_before_start_runs_nothing(tmp_path: Path) -> None:
    orch = Orchestrator()
    orch.refuse = {"started"}
    ran: list[str] = []

    async def handler(ctx: TaskContext) -> dict[str, Any]:
        ran.append(ctx.task_id)
        return {}

    runner, recorder = _runner(tmp_path, orch, {"h": handler})
    assert (await runner.execute(_assignment("h"))).state == "queued"
    assert ran == [] and _triggers(recorder) == ["lease_lost"]


async def test_reports_are_retried_while_the_orchestrator_is_unavailable(tmp_path: Path) -> None:
    orch = Orchestrator()
    orch.unavailable_first = 2
    runner, _ = _runner(tmp_path, orch, {"noop": noop_task})
    assert (await runner.execute(_assignment("noop"))).state == "completed"
    assert orch.kinds() == ["started", "completed"]


async def test_an_unknown_task_type_fails_as_a_validation_error(tmp_path: Path) -> None:
    orch = Orchestrator()
    runner, _ = _runner(tmp_path, orch, {"noop": noop_task})
    assert (await runner.execute(_assignment("compile"))).state == "failed"
    error = orch.last("failed")["error"]
    assert error["errorClass"] == "validation" and "'compile'" in error["message"] and "noop" in error["message"]


async def test_an_invalid_time_limit_in_the_payload_fails_before_start(tmp_path: Path) -> None:
    orch = Orchestrator()
    runner, recorder = _runner(tmp_path, orch, {"noop": noop_task})
    assert (await runner.execute(_assignment("noop", {"maxDurationS": "soon"}))).state == "failed"
    assert orch.kinds() == ["failed"] and "maxDurationS" in orch.last("failed")["error"]["message"]
    assert _triggers(recorder) == ["allocation_failed"]


async def test_a_failing_command_reports_its_configured_failure_code(tmp_path: Path) -> None:
    orch = Orchestrator()
    shell = ShellTask({"build": ["sh", "-c", "echo compiling; echo 'undefined symbol' >&2; exit 2"]})
    runner, _ = _runner(tmp_path, orch, {"shell": shell})
    await runner.execute(_assignment("shell", {"command": "build", "failureCode": "BUILD_FAILED"}))
    error = orch.last("failed")["error"]
    assert error["code"] == "BUILD_FAILED" and "undefined symbol" in error["message"]


async def test_a_command_runs_in_the_workspace_with_its_own_home(tmp_path: Path) -> None:
    orch = Orchestrator()
    shell = ShellTask({"where": ["sh", "-c", 'echo "$PWD $HOME"']})
    runner, _ = _runner(tmp_path / "ws", orch, {"shell": shell})
    await runner.execute(_assignment("shell", {"command": "where"}))
    cwd, home = orch.last("completed")["result"]["stdout"].split()
    assert cwd == home and cwd.startswith(str(tmp_path / "ws"))


async def test_payload_commands_need_allow_any_command(tmp_path: Path) -> None:
    orch = Orchestrator()
    runner, _ = _runner(tmp_path, orch, {"shell": ShellTask({})})
    await runner.execute(_assignment("shell", {"command": ["echo", "hi"]}))
    assert "--allow-any-command" in orch.last("failed")["error"]["message"]
    runner, _ = _runner(tmp_path, orch, {"shell": ShellTask({}, allow_any_command=True)})
    await runner.execute(_assignment("shell", {"command": ["echo", "hi"]}))
    assert orch.last("completed")["result"]["stdout"].strip() == "hi"


@pytest.mark.parametrize("result", [{"text": "\ud800"}, {"when": object()}])
async def test_a_result_that_is_not_json_fails_the_task_instead_of_the_worker(
    tmp_path: Path, result: dict[str, Any]
) -> None:
    """Issue 10: a result the orchestrator must refuse would otherwise run again forever."""
    orch = Orchestrator()

    async def handler(ctx: TaskContext) -> dict[str, Any]:
        return result

    runner, recorder = _runner(tmp_path, orch, {"t": handler})
    outcome = await runner.execute(_assignment("t"))
    assert outcome.state == "failed"
    error = orch.last("failed")["error"]
    assert (error["code"], error["errorClass"]) == ("TASK_ERROR", "validation")
    assert "not JSON" in error["message"]
    assert _triggers(recorder) == ["start", "fail"]


async def test_an_exception_text_with_a_lone_surrogate_is_still_reported(tmp_path: Path) -> None:
    orch = Orchestrator()

    async def handler(ctx: TaskContext) -> dict[str, Any]:
        raise ValueError("bad byte \ud800 in input")

    runner, _ = _runner(tmp_path, orch, {"t": handler})
    assert (await runner.execute(_assignment("t"))).state == "failed"
    assert orch.last("failed")["error"]["message"] == "ValueError: bad byte ? in input"


async def test_a_plain_def_handler_runs_in_a_thread_and_completes(tmp_path: Path) -> None:
    """Issue 12: a synchronous handler used to crash the worker and leave its task running."""
    orch = Orchestrator()
    threads: list[str] = []

    def handler(ctx: TaskContext) -> dict[str, Any]:
        threads.append(threading.current_thread().name)
        return {"doubled": ctx.payload["n"] * 2}

    runner, recorder = _runner(tmp_path, orch, {"t": handler})
    outcome = await runner.execute(_assignment("t", {"n": 21}))
    assert outcome.state == "completed"
    assert orch.last("completed")["result"] == {"doubled": 42}
    assert threads and threads[0] != threading.main_thread().name
    assert _triggers(recorder) == ["start", "complete"]


async def test_a_plain_def_handler_that_raises_fails_with_a_classified_error(tmp_path: Path) -> None:
    orch = Orchestrator()

    def handler(ctx: TaskContext) -> dict[str, Any]:
        raise KeyError("issueId")

    runner, _ = _runner(tmp_path, orch, {"t": handler})
    assert (await runner.execute(_assignment("t"))).state == "failed"
    assert orch.last("failed")["error"]["errorClass"] == "validation"


# -- handlers of every shape (issue 12): garbage and exits fail the task, never the worker -------------


def _returns(value: object) -> TaskHandler:
    def handler(ctx: TaskContext) -> Any:
        return value

    return handler


def _exits(ctx: TaskContext) -> dict[str, Any]:
    raise SystemExit(3)


def _interrupts(ctx: TaskContext) -> dict[str, Any]:
    raise KeyboardInterrupt


async def _async_exits(ctx: TaskContext) -> dict[str, Any]:
    raise SystemExit("bye")


async def _async_returns_list(ctx: TaskContext) -> Any:
    return [1, 2]


@pytest.mark.parametrize(("handler", "error_class", "words"), [
    (_returns(None), "validation", "returned NoneType, expected a dict"),
    (_returns(["a"]), "validation", "returned list, expected a dict"),
    (_returns("text"), "validation", "returned str, expected a dict"),
    (_returns({"when": object()}), "validation", "not JSON"),
    (_returns({1: "a"}), "validation", "not JSON"),
    (_returns({"nan": float("nan")}), None, None),
    (_async_returns_list, "validation", "returned list, expected a dict"),
    (_exits, "unknown", "raised SystemExit(3)"),
    (_interrupts, "unknown", "raised KeyboardInterrupt"),
    (_async_exits, "unknown", "raised SystemExit(bye)"),
], ids=["none", "list", "str", "object-value", "int-key", "nan", "async-list", "sys-exit", "keyboard-interrupt",
        "async-sys-exit"])
async def test_a_handler_returning_garbage_or_exiting_fails_its_task_and_the_runner_goes_on(
    tmp_path: Path, handler: TaskHandler, error_class: str | None, words: str | None,
) -> None:
    orch = Orchestrator()

    async def fine(ctx: TaskContext) -> dict[str, Any]:
        return {"ok": True}

    runner, recorder = _runner(tmp_path, orch, {"bad": handler, "fine": fine})
    outcome = await runner.execute(_assignment("bad"))
    if error_class is None:  # NaN goes out as null (pydantic's JSON for it): the task completes
        assert outcome.state == "completed" and orch.last("completed")["result"] == {"nan": None}
    else:
        assert outcome.state == "failed"
        error = orch.last("failed")["error"]
        assert (error["code"], error.get("errorClass", "unknown")) == ("TASK_ERROR", error_class)  # default omitted
        assert words is not None and words in error["message"]
    assert (await runner.execute(_assignment("fine", task_id="t-2"))).state == "completed"
    assert orch.last("completed")["taskId"] == "t-2"
    assert runner.running == {} and runner.held == set()


async def test_a_failure_the_orchestrator_queues_again_ends_the_attempt_with_retry(tmp_path: Path) -> None:
    """The worker's trace follows the orchestrator: a retried attempt ends in ``queued``, not ``failed``."""
    orch = Orchestrator()
    orch.retry_failures = True

    async def flaky(ctx: TaskContext) -> dict[str, Any]:
        raise ConnectionResetError("peer went away")

    runner, recorder = _runner(tmp_path, orch, {"t": flaky})
    outcome = await runner.execute(_assignment("t"))
    assert outcome.state == "queued"
    assert orch.last("failed")["error"]["errorClass"] == "network"
    assert _triggers(recorder) == ["start", "retry"]
    assert runner.reports.retried == set()

    # Leased here again: this worker's trace takes the task from ``queued`` (assign), so it replays.
    orch.retry_failures = False
    again = _assignment("t").model_copy(update={"attempt": 2, "fencing_token": 6})
    assert (await runner.execute(again)).state == "failed"
    assert _triggers(recorder) == ["start", "retry", "assign", "start", "fail"]
    report = check_trace(recorder.events, require_initial=False)
    assert report.ok, report.format()


async def test_a_task_leased_here_again_after_its_lease_was_lost_replays_too(tmp_path: Path) -> None:
    orch = Orchestrator()
    orch.refuse.add("started")

    async def fine(ctx: TaskContext) -> dict[str, Any]:
        return {}

    runner, recorder = _runner(tmp_path, orch, {"t": fine})
    assert (await runner.execute(_assignment("t"))).state == "queued"  # lease lost before start
    orch.refuse.clear()
    assert (await runner.execute(_assignment("t").model_copy(update={"attempt": 2}))).state == "completed"
    assert _triggers(recorder) == ["lease_lost", "assign", "start", "complete"]
    assert check_trace(recorder.events, require_initial=False).ok


def test_the_runner_remembers_a_bounded_number_of_requeued_tasks(tmp_path: Path) -> None:
    runner, _ = _runner(tmp_path, Orchestrator(), {})
    for n in range(MAX_REMEMBERED_REQUEUES + 5):
        runner._ended_in_queue(f"t-{n}")
    assert len(runner._requeued_here) == MAX_REMEMBERED_REQUEUES
    assert "t-0" not in runner._requeued_here and f"t-{MAX_REMEMBERED_REQUEUES + 4}" in runner._requeued_here
