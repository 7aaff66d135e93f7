"""The worker's client with several orchestrator URLs: a request goes to the one that answered,
and to the next when that one cannot be reached (`spec.decisions.failover`)."""

from __future__ import annotations

import httpx
import pytest

from runtime.protocol import HeartbeatRequest
from runtime.worker.client import OrchestratorClient
from runtime.worker.errors import LeaseLostError, OrchestratorUnavailableError

pytestmark = pytest.mark.anyio
A, B = "http://replica-a.test", "http://replica-b.test"


def _cluster(down: set[str], seen: list[str]) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        origin = f"{request.url.scheme}://{request.url.host}"
        seen.append(origin)
        if origin in down:
            raise httpx.ConnectError("refused", request=request)
        if origin == A:
            return httpx.Response(409, json={"error": {"field": "workerId", "reason": "unknown worker"}})
        return httpx.Response(200, json={"status": "ok"})

    return httpx.MockTransport(answer)


async def test_requests_fail_over_and_stay_with_the_replica_that_answers() -> None:
    down, seen = {A}, []
    client = OrchestratorClient([A, B], timeout_s=1, transport=_cluster(down, seen))
    await client.heartbeat(HeartbeatRequest(worker_id="w1"))
    assert seen == [A, B] and client.base_url == B
    await client.heartbeat(HeartbeatRequest(worker_id="w1"))
    assert seen == [A, B, B]  # stays with B
    down.clear()
    down.add(B)
    with pytest.raises(LeaseLostError) as refused:  # A answers now, with its own error: an answer, no failover
        await client.heartbeat(HeartbeatRequest(worker_id="w1"))
    assert seen[-2:] == [B, A] and client.base_url == A and "unknown worker" in str(refused.value)
    await client.close()


async def test_every_replica_down_is_one_error_naming_each() -> None:
    client = OrchestratorClient([A, B], timeout_s=1, transport=_cluster({A, B}, []))
    with pytest.raises(OrchestratorUnavailableError, match="replica-a.test.*replica-b.test"):
        await client.heartbeat(HeartbeatRequest(worker_id="w1"))
    await client.close()
