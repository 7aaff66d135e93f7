"""Scoped credentials between real processes (issue 10): token files, never command lines or logs.

The harness starts the orchestrator with ``--token-file`` (admin, client and worker tokens) and
the worker with ``RUNTIME_TOKEN_FILE`` holding the worker-role token; after registering, the
worker uses the per-worker token the orchestrator issued it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.runtime.e2e.harness import CLIENT_TOKEN, TOKEN, WORKER_TOKEN, Orchestrator, Worker, wait_for

SECRETS = (TOKEN, CLIENT_TOKEN, WORKER_TOKEN)
ISSUED = re.compile(r"wt_[A-Za-z0-9_-]{16,}")


def _cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def test_tokens_reach_processes_through_files_and_nothing_shows_them(
    orchestrator: Orchestrator, start_worker: Callable[..., Worker]
) -> None:
    worker = start_worker("scoped")
    worker.wait_registered()
    _, task_id = orchestrator.submit("sleep", {"seconds": 0.1})
    wait_for(lambda: orchestrator.task(task_id)["status"] == "completed", "the task to complete")

    for pid in (orchestrator.process.pid, worker.process.pid):
        assert not any(secret in _cmdline(pid) for secret in SECRETS), _cmdline(pid)
    outputs = [orchestrator.stderr(), worker.stderr(), orchestrator.trace.read_text(encoding="utf-8"),
               worker.trace.read_text(encoding="utf-8")]
    for text in outputs:
        assert not any(secret in text for secret in SECRETS)
        assert not ISSUED.search(text), ISSUED.search(text)


def test_each_role_may_do_its_part_only(orchestrator: Orchestrator) -> None:
    url = orchestrator.url

    def call(method: str, path: str, token: str | None, **kwargs: object) -> int:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.request(method, url + path, headers=headers, timeout=30, **kwargs).status_code  # type: ignore[arg-type]

    assert call("POST", "/api/v1/workflows", None, json={"type": "noop"}) == 401
    assert call("POST", "/api/v1/workflows", CLIENT_TOKEN, json={"type": "noop"}) == 201
    assert call("POST", "/api/v1/workflows", WORKER_TOKEN, json={"type": "noop"}) == 403
    register = {"workerId": "w-roles", "capabilities": ["python"]}
    assert call("POST", "/api/v1/workers/register", CLIENT_TOKEN, json=register) == 403
    assert call("POST", "/api/v1/workers/register", WORKER_TOKEN, json=register) == 200
    assert call("DELETE", "/api/v1/workers/w-roles", CLIENT_TOKEN) == 403
    assert call("DELETE", "/api/v1/workers/w-roles", WORKER_TOKEN) == 403  # the role token, not w-roles' own
    assert call("GET", "/api/v1/workers", CLIENT_TOKEN) == 200
    assert call("GET", "/api/v1/workers", WORKER_TOKEN) == 403
    assert call("DELETE", "/api/v1/workers/w-roles", TOKEN) == 204
