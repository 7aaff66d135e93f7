"""Workflows of several tasks over HTTP (issue 12): DAG submission, dependency order, failure policies, cancel."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from runtime.config import OrchestratorSettings
from runtime.orchestrator import Orchestrator
from runtime.store.event_log import events_since
from spec.policies import WorkflowPolicy
from tests.runtime.orchestrator.orch_helpers import assert_conforms, lease_body, make_settings, poll, register

pytestmark = pytest.mark.anyio

WORKFLOWS = "/api/v1/workflows"
CLIENT_TOKEN = "dag-client-token"
WORKER_TOKEN = "dag-worker-token"
ERROR = {"code": "TASK_ERROR", "errorClass": "task", "message": "boom"}
DIAMOND = [{"id": "a", "type": "noop", "payload": {"n": 1}}, {"id": "b", "type": "noop", "dependsOn": ["a"]},
           {"id": "c", "type": "noop", "dependsOn": ["a"]}, {"id": "d", "type": "noop", "dependsOn": ["b", "c"]}]


@pytest.fixture
def settings(tmp_path: Path) -> OrchestratorSettings:
    return make_settings(tmp_path, workflow=WorkflowPolicy(max_tasks=8)).model_copy(
        update={"client_tokens": (CLIENT_TOKEN,), "worker_tokens": (WORKER_TOKEN,)})


async def submit_dag(client: httpx.AsyncClient, tasks: list[dict[str, Any]], **extra: Any) -> tuple[str, list[str]]:
    response = await client.post(WORKFLOWS, json={"tasks": tasks, **extra})
    assert response.status_code == 201, response.text
    return response.json()["workflowId"], response.json()["taskIds"]


async def states(client: httpx.AsyncClient, workflow_id: str) -> tuple[str, dict[str, str]]:
    view = (await client.get(f"{WORKFLOWS}/{workflow_id}")).json()
    return view["status"], {t["key"]: t["status"] for t in view["tasks"]}


async def run(client: httpx.AsyncClient, task: dict[str, Any], worker_id: str, outcome: str = "completed",
              **body: Any) -> httpx.Response:
    assert (await client.post("/api/v1/tasks/started", json=lease_body(task, worker_id))).status_code == 200
    return await client.post(f"/api/v1/tasks/{outcome}", json=lease_body(task, worker_id, **body))


async def lease(client: httpx.AsyncClient, worker_id: str, n: int = 4) -> dict[str, dict[str, Any]]:
    """The tasks leased to `worker_id`, by their keys in the submission."""
    leased = (await poll(client, worker_id, max=n)).json()["tasks"]
    view_keys: dict[str, str] = {}
    for task in leased:
        view = (await client.get(f"/api/v1/tasks/{task['taskId']}")).json()
        view_keys[view["key"]] = task["taskId"]
    return {key: next(t for t in leased if t["taskId"] == task_id) for key, task_id in view_keys.items()}


async def test_diamond_runs_in_dependency_order_and_passes_results_on(
    orch: Orchestrator, client: httpx.AsyncClient
) -> None:
    workflow_id, task_ids = await submit_dag(client, DIAMOND)
    view = (await client.get(f"{WORKFLOWS}/{workflow_id}")).json()
    assert view["type"] == "dag" and view["failurePolicy"] == "fail_fast"
    assert [t["taskId"] for t in view["tasks"]] == task_ids
    assert [(t["key"], t["status"], t["dependsOn"]) for t in view["tasks"]] == [
        ("a", "queued", []), ("b", "blocked", ["a"]), ("c", "blocked", ["a"]), ("d", "blocked", ["b", "c"])]
    await register(client, "w1", ["python"], maxConcurrency=4)
    first = await lease(client, "w1")
    assert set(first) == {"a"} and first["a"]["dependencies"] == {} and first["a"]["payload"] == {"n": 1}
    await run(client, first["a"], "w1", result={"from": "a"})
    middle = await lease(client, "w1")
    assert set(middle) == {"b", "c"}
    assert all(t["dependencies"] == {"a": {"from": "a"}} for t in middle.values())
    await run(client, middle["b"], "w1", result={"from": "b"})
    assert (await states(client, workflow_id))[1]["d"] == "blocked"  # c has not completed yet
    await run(client, middle["c"], "w1", result={"from": "c"})
    last = await lease(client, "w1")
    assert last["d"]["dependencies"] == {"b": {"from": "b"}, "c": {"from": "c"}}
    await run(client, last["d"], "w1", result={"from": "d"})
    assert await states(client, workflow_id) == ("completed", dict.fromkeys("abcd", "completed"))
    await orch.stop()
    assert_conforms(orch.settings)


@pytest.mark.parametrize(("tasks", "field", "named"), [
    ([{"id": "a", "type": "noop"}, {"id": "a", "type": "noop"}], "tasks.1.id", "'a'"),
    ([{"id": "a", "type": "noop"}, {"id": "b", "type": "noop", "dependsOn": ["x"]}], "tasks.1.dependsOn", "'x'"),
    ([{"id": "a", "type": "noop", "dependsOn": ["b"]}, {"id": "b", "type": "noop", "dependsOn": ["a"]}],
     "tasks.0.dependsOn", "cycle"),
    ([{"id": "a", "type": "noop", "dependsOn": ["a"]}], "tasks.0.dependsOn", "cycle"),
    ([{"id": "a", "type": "noop"}, {"id": "b", "type": "noop", "dependsOn": ["a", "a"]}], "tasks.1.dependsOn",
     "twice"),
    ([{"id": f"t{i}", "type": "noop"} for i in range(9)], "tasks", "WorkflowPolicy.max_tasks"),
    ([{"id": "a", "type": "bad type!"}], "tasks.0.type", "pattern"),
    ([{"type": "noop"}], "tasks.0.id", "required"),
    ([], "tasks", "at least 1"),
])
async def test_invalid_graph_is_refused_naming_the_task_and_nothing_is_stored(
    orch: Orchestrator, client: httpx.AsyncClient, tasks: list[dict[str, Any]], field: str, named: str
) -> None:
    response = await client.post(WORKFLOWS, json={"tasks": tasks})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["field"] == field and named in error["reason"]
    assert (await client.get("/api/v1/tasks")).json()["tasks"] == []
    await orch.stop()
    assert_conforms(orch.settings)  # the refusal is a workflow ``reject``


async def test_unknown_failure_policy_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post(WORKFLOWS, json={"tasks": DIAMOND, "failurePolicy": "retry_forever"})
    assert response.status_code == 422 and response.json()["error"]["field"] == "failurePolicy"


async def test_single_task_form_is_unchanged(client: httpx.AsyncClient) -> None:
    response = await client.post(WORKFLOWS, json={"type": "noop", "payload": {"x": 1}})
    assert response.status_code == 201
    view = (await client.get(f"{WORKFLOWS}/{response.json()['workflowId']}")).json()
    assert view["type"] == "noop" and view["tasks"][0]["key"] is None and view["tasks"][0]["dependsOn"] == []
    refused = await client.post(WORKFLOWS, json={"type": "noop", "priority": 99})
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "priority"


async def test_fail_fast_cancels_the_rest(orch: Orchestrator, client: httpx.AsyncClient) -> None:
    tasks = [{"id": "a", "type": "noop"}, {"id": "b", "type": "noop", "dependsOn": ["a"]},
             {"id": "c", "type": "noop"}, {"id": "e", "type": "noop"}]
    workflow_id, _ = await submit_dag(client, tasks)
    await register(client, "w1", ["python"], maxConcurrency=2)
    leased = await lease(client, "w1", n=2)  # a and one of c, e; the other stays queued
    assert "a" in leased and len(leased) == 2
    (other,) = set(leased) - {"a"}
    response = await run(client, leased["a"], "w1", "failed", error=ERROR)
    assert response.json()["status"] == "failed"
    status, by_key = await states(client, workflow_id)
    queued = ({"c", "e"} - {other}).pop()
    assert status == "failed" and by_key["b"] == "cancelled" and by_key[queued] == "cancelled"
    assert by_key[other] == "assigned"
    beat = (await client.post("/api/v1/workers/heartbeat", json={"workerId": "w1"})).json()
    assert beat["cancelTaskIds"] == [leased[other]["taskId"]]
    answer = await client.post("/api/v1/tasks/interrupted", json=lease_body(leased[other], "w1"))
    assert answer.json()["status"] == "cancelled"
    assert (await states(client, workflow_id))[1][other] == "cancelled"
    await orch.stop()
    assert_conforms(orch.settings)


async def test_finish_independent_skips_dependents_and_finishes_the_rest(
    orch: Orchestrator, client: httpx.AsyncClient
) -> None:
    tasks = [{"id": "a", "type": "noop"}, {"id": "b", "type": "noop", "dependsOn": ["a"]},
             {"id": "c", "type": "noop", "dependsOn": ["b"]}, {"id": "x", "type": "noop"},
             {"id": "y", "type": "noop", "dependsOn": ["x"]}]
    workflow_id, _ = await submit_dag(client, tasks, failurePolicy="finish_independent")
    await register(client, "w1", ["python"], maxConcurrency=4)
    roots = await lease(client, "w1")
    await run(client, roots["a"], "w1", "failed", error=ERROR)
    status, by_key = await states(client, workflow_id)
    assert status == "running" and by_key["b"] == by_key["c"] == "skipped" and by_key["y"] == "blocked"
    await run(client, roots["x"], "w1", result={"x": 1})
    await run(client, (await lease(client, "w1"))["y"], "w1", result={})
    assert await states(client, workflow_id) == ("failed", {"a": "failed", "b": "skipped", "c": "skipped",
                                                            "x": "completed", "y": "completed"})
    async with orch.db.read() as session:
        events = await events_since(session, workflow_id, 0, 100)
    failed = [e for e in events if e.type == "WORKFLOW_FAILED"]
    assert len(failed) == 1 and failed[0].task_id == roots["a"]["taskId"] and failed[0].payload["error"]["code"]
    assert sorted(e.payload["failedTaskId"] for e in events if e.type == "TASK_SKIPPED") == [
        roots["a"]["taskId"]] * 2
    await orch.stop()
    assert_conforms(orch.settings)


async def test_cancel_ends_waiting_tasks_at_once_and_running_ones_through_their_worker(
    orch: Orchestrator, client: httpx.AsyncClient
) -> None:
    workflow_id, _ = await submit_dag(client, DIAMOND)
    await register(client, "w1", ["python"], maxConcurrency=4)
    first = await lease(client, "w1")
    await client.post("/api/v1/tasks/started", json=lease_body(first["a"], "w1"))
    async with httpx.AsyncClient(base_url=orch.url, headers={"Authorization": f"Bearer {CLIENT_TOKEN}"}) as user:
        response = await user.post(f"{WORKFLOWS}/{workflow_id}/cancel")
        assert response.status_code == 200, response.text
        view = response.json()
        assert view["status"] == "cancelled"
        assert {t["key"]: t["status"] for t in view["tasks"]} == {"a": "running", "b": "cancelled",
                                                                  "c": "cancelled", "d": "cancelled"}
        again = await user.post(f"{WORKFLOWS}/{workflow_id}/cancel")
        assert again.status_code == 200 and again.json()["status"] == "cancelled"  # idempotent
        assert (await user.post(f"{WORKFLOWS}/wf-unknown/cancel")).status_code == 404
    beat = (await client.post("/api/v1/workers/heartbeat", json={"workerId": "w1"})).json()
    assert beat["cancelTaskIds"] == [first["a"]["taskId"]]
    answer = await client.post("/api/v1/tasks/interrupted", json=lease_body(first["a"], "w1", state={"at": 1}))
    assert answer.status_code == 200 and answer.json()["status"] == "cancelled"
    assert await states(client, workflow_id) == ("cancelled", dict.fromkeys("abcd", "cancelled"))
    assert (await poll(client, "w1")).status_code == 204  # nothing of it is leased again
    await orch.stop()
    assert_conforms(orch.settings)


async def test_cancel_of_a_settled_workflow_is_a_conflict(client: httpx.AsyncClient) -> None:
    workflow_id, _ = await submit_dag(client, [{"id": "a", "type": "noop"}])
    await register(client, "w1", ["python"])
    task = (await poll(client, "w1")).json()["tasks"][0]
    await run(client, task, "w1", result={})
    response = await client.post(f"{WORKFLOWS}/{workflow_id}/cancel")
    assert response.status_code == 409 and response.json()["error"]["field"] == "workflowId"
    assert "completed" in response.json()["error"]["reason"]


async def test_a_lease_lost_after_cancel_is_not_requeued(orch: Orchestrator, client: httpx.AsyncClient) -> None:
    workflow_id, _ = await submit_dag(client, DIAMOND)
    await register(client, "w1", ["python"])
    (await lease(client, "w1"))["a"]
    await client.post(f"{WORKFLOWS}/{workflow_id}/cancel")
    response = await client.delete("/api/v1/workers/w1")  # its lease ends without an outcome
    assert response.status_code in (200, 204), response.text
    assert (await states(client, workflow_id))[1]["a"] == "cancelled"
    await orch.stop()
    assert_conforms(orch.settings)


async def test_a_worker_credential_may_not_cancel(orch: Orchestrator) -> None:
    async with httpx.AsyncClient(base_url=orch.url, headers={"Authorization": f"Bearer {WORKER_TOKEN}"}) as worker:
        response = await worker.post(f"{WORKFLOWS}/wf-x/cancel")
    assert response.status_code == 403
