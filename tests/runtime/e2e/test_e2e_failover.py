"""A worker given several orchestrator URLs uses the one that answers (issue 16, replicas).

Real processes: the first URL has nothing listening (a replica that is down), the second is a
real orchestrator. The worker registers, heartbeats and completes tasks through the second; the
first is tried again only when the second stops answering (`spec.decisions.failover`).
"""

from __future__ import annotations

import socket
from collections.abc import Callable

from tests.runtime.e2e.harness import Orchestrator, Worker, wait_for


def _dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # closed again: connections to it are refused


def test_a_worker_fails_over_to_the_replica_that_answers(
    orchestrator: Orchestrator, start_worker: Callable[..., Worker],
) -> None:
    worker = start_worker("failover", "--orchestrator", f"{_dead_url()},{orchestrator.url}")
    worker.wait_registered()
    ids = [orchestrator.submit("noop", {})[1] for _ in range(5)]
    wait_for(lambda: all(orchestrator.task(t)["status"] == "completed" for t in ids), "the five tasks to complete")
    assert {orchestrator.task(t)["leaseWorker"] for t in ids} == {worker.worker_id}
