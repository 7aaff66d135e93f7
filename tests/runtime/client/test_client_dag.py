"""`Client.submit_dag`, `cancel` and `results` against the orchestrator's ASGI app (issue 12)."""

from __future__ import annotations

import httpx
import pytest

from runtime.client import RequestRefusedError, WorkflowFailedError
from runtime.graph_protocol import WorkflowGraphRequest, WorkflowTaskRequest
from runtime.orchestrator import Orchestrator
from tests.runtime.client import worker_steps
from tests.runtime.client.test_client_http import asgi_client

pytestmark = pytest.mark.anyio

DIAMOND = [{"id": "a", "type": "noop"}, {"id": "b", "type": "noop", "dependsOn": ["a"]},
           {"id": "c", "type": "noop", "dependsOn": ["a"]}, {"id": "d", "type": "noop", "dependsOn": ["b", "c"]}]


async def test_a_dag_is_submitted_run_and_its_results_read_by_key(orch: Orchestrator, admin: httpx.AsyncClient
                                                                   ) -> None:
    async with asgi_client(orch) as client:
        created = await client.submit_dag(DIAMOND)
        view = await client.get(created.workflow_id)
        assert [t.task_id for t in view.tasks] == created.task_ids
        assert [(t.key, t.status, t.depends_on) for t in view.tasks] == [
            ("a", "queued", []), ("b", "blocked", ["a"]), ("c", "blocked", ["a"]), ("d", "blocked", ["b", "c"])]
        for _ in range(4):
            task = await worker_steps.lease_one(admin)
            await worker_steps.start(admin, task)
            await worker_steps.complete(admin, task, {"id": task["taskId"], "saw": sorted(task["dependencies"])})
        results = await client.results(created.workflow_id, timeout_s=30)
    assert set(results) == set("abcd") and results["d"]["saw"] == ["b", "c"]


async def test_models_and_a_failure_policy_are_accepted(orch: Orchestrator, admin: httpx.AsyncClient) -> None:
    request = WorkflowGraphRequest(tasks=[WorkflowTaskRequest(id="a", type="noop"),
                                          WorkflowTaskRequest(id="b", type="noop", depends_on=["a"])],
                                   failure_policy="finish_independent")
    async with asgi_client(orch) as client:
        created = await client.submit_dag(request)
        assert (await client.get(created.workflow_id)).failure_policy == "finish_independent"
        task = await worker_steps.lease_one(admin)
        await worker_steps.start(admin, task)
        await worker_steps.fail(admin, task, "BUILD_FAILED", "red")
        with pytest.raises(WorkflowFailedError) as caught:
            await client.results(created.workflow_id, timeout_s=30)
        assert [t.status for t in (await client.get(created.workflow_id)).tasks] == ["failed", "skipped"]
    assert caught.value.code == "BUILD_FAILED"


async def test_bad_graphs_are_refused_locally_or_by_the_orchestrator_naming_the_field(orch: Orchestrator) -> None:
    async with asgi_client(orch) as client:
        with pytest.raises(RequestRefusedError) as local:
            await client.submit_dag([{"id": "a"}])
        assert local.value.status is None and local.value.field == "tasks.0.type"
        with pytest.raises(RequestRefusedError) as remote:
            await client.submit_dag([{"id": "a", "type": "noop", "dependsOn": ["a"]}])
        assert remote.value.status == 422 and remote.value.field == "tasks.0.dependsOn"


async def test_cancel_is_idempotent_and_refused_once_settled(orch: Orchestrator, admin: httpx.AsyncClient) -> None:
    async with asgi_client(orch) as client:
        created = await client.submit_dag(DIAMOND)
        view = await client.cancel(created.workflow_id)
        assert view.status == "cancelled" and {t.status for t in view.tasks} == {"cancelled"}
        assert (await client.cancel(created.workflow_id)).status == "cancelled"
        with pytest.raises(WorkflowFailedError):
            await client.results(created.workflow_id, timeout_s=30)
        done = await client.submit("noop")
        task = await worker_steps.lease_one(admin)
        await worker_steps.start(admin, task)
        await worker_steps.complete(admin, task, {})
        await client.wait(done.workflow_id, timeout_s=30)
        with pytest.raises(RequestRefusedError) as refused:
            await client.cancel(done.workflow_id)
    assert refused.value.status == 409 and refused.value.field == "workflowId"
