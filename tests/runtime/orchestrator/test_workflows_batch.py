"""``POST /api/v1/workflows:batch``: all or nothing, items named by index, bounded, one wake-up per batch."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from runtime.config import OrchestratorSettings
from runtime.orchestrator import Orchestrator
from runtime.protocol import MAX_BATCH_WORKFLOWS, MAX_BODY_BYTES, WorkflowBatchRequest
from spec.trace import read_trace
from tests.runtime.orchestrator.orch_helpers import assert_conforms, make_settings, poll, register, until

pytestmark = pytest.mark.anyio

BATCH = "/api/v1/workflows:batch"
CLIENT_TOKEN = "batch-client-token"
WORKER_TOKEN = "batch-worker-token"


@pytest.fixture
def settings(tmp_path: Path) -> OrchestratorSettings:
    return make_settings(tmp_path).model_copy(update={"client_tokens": (CLIENT_TOKEN,),
                                                      "worker_tokens": (WORKER_TOKEN,)})


async def count_tasks(client: httpx.AsyncClient) -> int:
    return len((await client.get("/api/v1/tasks", params={"limit": 1000})).json()["tasks"])


async def test_batch_is_stored_in_order_and_leasable(orch: Orchestrator, client: httpx.AsyncClient) -> None:
    items = [{"type": "noop", "payload": {"n": i}, "priority": i % 3, "requiredCapabilities": ["python"] * (i % 2)}
             for i in range(5)]
    response = await client.post(BATCH, json={"workflows": items})
    assert response.status_code == 201, response.text
    created = response.json()["workflows"]
    assert len(created) == 5 and len({c["workflowId"] for c in created}) == 5
    for item, ids in zip(items, created, strict=True):
        view = (await client.get(f"/api/v1/workflows/{ids['workflowId']}")).json()
        assert view["status"] == "pending" and view["payload"] == item["payload"]
        assert [t["taskId"] for t in view["tasks"]] == ids["taskIds"]
        assert view["tasks"][0]["requiredCapabilities"] == item["requiredCapabilities"]
    await register(client, "w1", ["python"], maxConcurrency=5)
    leased = (await poll(client, "w1", max=5)).json()["tasks"]
    assert {t["taskId"] for t in leased} == {c["taskIds"][0] for c in created}
    await orch.stop()
    assert_conforms(orch.settings)


@pytest.mark.parametrize(("index", "item", "field"), [
    (0, {"type": "bad type!"}, "workflows.0.type"),
    (3, {"type": "noop", "payload": [1]}, "workflows.3.payload"),
    (2, {"type": "noop", "priority": 11}, "workflows.2.priority"),
    (1, {"type": "noop", "colour": "red"}, "workflows.1.colour"),
    (4, {"type": "noop", "requiredCapabilities": ["Not Valid"]}, "workflows.4.requiredCapabilities.0"),
])
async def test_an_invalid_item_refuses_the_whole_batch_naming_its_index(
    orch: Orchestrator, client: httpx.AsyncClient, index: int, item: dict[str, Any], field: str
) -> None:
    items: list[dict[str, Any]] = [{"type": "noop"} for _ in range(5)]
    items[index] = item
    response = await client.post(BATCH, json={"workflows": items})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field
    assert await count_tasks(client) == 0
    # Refused as a whole, it is one workflow_lifecycle reject in the trace, as a refused single submit is.
    rejects = [e for e in read_trace(orch.settings.trace) if e.machine == "workflow_lifecycle"]  # type: ignore[arg-type]
    assert [(e.trigger, e.data["field"]) for e in rejects] == [("reject", field)]


async def test_batch_size_is_bounded(client: httpx.AsyncClient) -> None:
    too_many = await client.post(BATCH, json={"workflows": [{"type": "n"}] * (MAX_BATCH_WORKFLOWS + 1)})
    assert too_many.status_code == 422 and too_many.json()["error"]["field"] == "workflows"
    assert str(MAX_BATCH_WORKFLOWS) in too_many.json()["error"]["reason"]
    empty = await client.post(BATCH, json={"workflows": []})
    assert empty.status_code == 422 and empty.json()["error"]["field"] == "workflows"
    huge = {"workflows": [{"type": "noop", "payload": {"blob": "x" * (MAX_BODY_BYTES // 4)}}] * 5}
    oversize = await client.post(BATCH, json=huge)
    assert oversize.status_code == 413 and oversize.json()["error"]["field"] == "body"
    assert await count_tasks(client) == 0


async def test_batch_needs_a_client_or_admin_credential(orch: Orchestrator, client: httpx.AsyncClient) -> None:
    body = {"workflows": [{"type": "noop"}]}
    async with httpx.AsyncClient(base_url=orch.url, timeout=30) as anonymous:
        assert (await anonymous.post(BATCH, json=body)).status_code == 401
        worker = await anonymous.post(BATCH, json=body, headers={"Authorization": f"Bearer {WORKER_TOKEN}"})
        assert worker.status_code == 403 and worker.json()["error"]["field"] == "Authorization"
        as_client = await anonymous.post(BATCH, json=body, headers={"Authorization": f"Bearer {CLIENT_TOKEN}"})
        assert as_client.status_code == 201, as_client.text
    assert await count_tasks(client) == 1


async def test_one_wake_up_per_batch(orch: Orchestrator, client: httpx.AsyncClient) -> None:
    """Long-polling workers are woken once for the batch, not once per workflow."""
    wakes = 0
    notify = orch.dispatcher.notify

    def counting() -> None:
        nonlocal wakes
        wakes += 1
        notify()

    orch.dispatcher.notify = counting  # type: ignore[method-assign]
    await register(client, "w1", ["python"], maxConcurrency=8)
    waiting = asyncio.create_task(poll(client, "w1", wait=20, max=8))
    await until(lambda: orch.dispatcher.waiting == 1, "the poll to park in the dispatcher")
    response = await client.post(BATCH, json={"workflows": [{"type": "noop"}] * 50})
    assert response.status_code == 201
    leased = await asyncio.wait_for(waiting, 30)
    assert leased.status_code == 200 and len(leased.json()["tasks"]) >= 1
    assert wakes == 1


_BAD_ITEMS: list[tuple[dict[str, Any], str]] = [
    ({"type": ""}, "type"), ({"type": "a b"}, "type"), ({"type": "noop", "priority": -1}, "priority"),
    ({"type": "noop", "priority": True}, "priority"), ({"type": "noop", "payload": "x"}, "payload"),
    ({"type": "noop", "extra": 1}, "extra"), ({"payload": {}}, "type"),
]
_GOOD_ITEM = st.fixed_dictionaries(
    {"type": st.from_regex(r"\A[A-Za-z0-9._-]{1,20}\Z")},
    optional={"priority": st.integers(0, 10), "payload": st.dictionaries(st.text(max_size=5), st.integers())})


@given(items=st.lists(st.one_of(_GOOD_ITEM.map(lambda d: (d, None)), st.sampled_from(_BAD_ITEMS)),
                      min_size=1, max_size=30))
def test_validation_names_the_first_invalid_item(items: list[tuple[dict[str, Any], str | None]]) -> None:
    """Whatever the mix, a batch with a bad item is refused at that item's index and field; else accepted whole."""
    body = {"workflows": [item for item, _ in items]}
    bad = [(i, field) for i, (_, field) in enumerate(items) if field is not None]
    try:
        parsed = WorkflowBatchRequest.model_validate(body)
    except ValidationError as exc:
        assert bad, exc
        first = exc.errors()[0]["loc"]
        assert first[:3] == ("workflows", bad[0][0], bad[0][1])
        return
    assert not bad and len(parsed.workflows) == len(items)
