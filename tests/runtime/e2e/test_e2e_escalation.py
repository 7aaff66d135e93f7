"""Escalation routing from configuration, with real processes and a real webhook on 127.0.0.1 (issue 13).

A worker's task fails on a critical system error (out of memory); the worker escalates through
the orchestrator (its default), and the orchestrator POSTs it to the level-4 webhook its config
names. The webhook's URL carries a token, which must appear in no log.
"""

from __future__ import annotations

import json
import shlex
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from spec.taxonomy import ErrorClass, category
from tests.runtime.e2e.harness import Orchestrator, Worker, wait_for

SECRET = "hook-secret-0e18ffa2"


class _Receiver(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        type(self).received.append({"path": self.path, "body": body})
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    handler = type("Receiver", (_Receiver,), {"received": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    try:
        yield f"http://{host!s}:{port}/hooks/{SECRET}?token={SECRET}", handler.received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=30)


@pytest.fixture
def routed_orchestrator(tmp_path: Path, webhook: tuple[str, list[dict[str, Any]]]) -> Iterator[Orchestrator]:
    url, _ = webhook
    orch = Orchestrator(tmp_path, extra_config=f'\n[escalation.levels.4]\nwebhooks = ["{url}"]\n')
    try:
        yield orch
    finally:
        orch.stop()


def test_a_workers_system_error_reaches_the_orchestrators_level_4_webhook(
        routed_orchestrator: Orchestrator, webhook: tuple[str, list[dict[str, Any]]]) -> None:
    _, received = webhook
    oom = shlex.join([sys.executable, "-c", "raise MemoryError('no memory left')"])
    worker = Worker(routed_orchestrator, "oom", "--shell-command", f"oom={oom}")
    try:
        worker.wait_registered()
        _, task_id = routed_orchestrator.submit("shell", {"command": "oom"})
        failed = wait_for(lambda: (t := routed_orchestrator.task(task_id))["status"] == "failed" and t,
                          "the task to fail")
        assert failed["error"]["code"] == "RESOURCE_EXHAUSTED", failed
        wait_for(lambda: received, "the level-4 webhook to be called")
        body = received[0]["body"]
        assert received[0]["path"] == f"/hooks/{SECRET}?token={SECRET}"
        assert body["level"] == category(ErrorClass.SYSTEM).escalation_level == 4
        assert body["source"] == f"worker {worker.worker_id}: task:{task_id}"
        assert body["details"]["workerId"] == worker.worker_id and body["details"]["code"] == "RESOURCE_EXHAUSTED"
        assert "no memory left" in body["reason"]
    finally:
        worker.stop()
    orchestrator_log, worker_log = routed_orchestrator.stderr(), worker.err_path.read_text(encoding="utf-8")
    assert "escalation level 4" in orchestrator_log and "escalation level 4" in worker_log  # both logged it ...
    assert SECRET not in orchestrator_log + worker_log  # ... and neither showed the webhook's token


def test_a_bad_escalation_is_refused_naming_the_field(routed_orchestrator: Orchestrator) -> None:
    response = routed_orchestrator.http.post("/api/v1/workers/escalations", json={
        "workerId": "w1", "level": 5, "reason": "x", "source": "y"})
    assert response.status_code == 422 and response.json()["error"]["field"] == "level"
