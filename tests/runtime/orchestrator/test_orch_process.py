"""The orchestrator as a real process: SIGKILL + restart loses nothing, SIGTERM shuts down in order."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from spec.conformance import check_trace
from spec.machines import ORCHESTRATOR_RECOVERY
from spec.trace import read_trace
from tests.runtime.orchestrator.orch_helpers import AUTH, TOKEN

REPO = Path(__file__).resolve().parents[3]
FAST_ENV = {"ORCH_POLICIES__HEARTBEAT__INTERVAL_S": "0.2", "ORCH_POLICIES__HEARTBEAT__TIMEOUT_S": "0.6",
            "ORCH_POLICIES__SHUTDOWN__CHECK_INTERVAL_S": "0.05"}


class OrchestratorProcess:
    def __init__(self, db: Path, trace: Path, *extra: str, port: int = 0) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO), **FAST_ENV}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "runtime", "orchestrator", "--db", str(db), "--port", str(port), "--token", TOKEN,
             "--trace", str(trace), *extra],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def url(self, timeout_s: float = 60) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.proc.poll() is not None:
                    stderr = self.proc.stderr.read() if self.proc.stderr else ""
                    raise AssertionError(f"orchestrator exited: {stderr}") from None
                continue
            if line.startswith("orchestrator listening on "):
                return line.split()[-1]
        raise AssertionError("orchestrator did not start in time")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(30)


@pytest.fixture
def processes() -> Iterator[list[OrchestratorProcess]]:
    started: list[OrchestratorProcess] = []
    yield started
    for p in started:
        p.stop()


def test_sigkill_then_restart_loses_no_accepted_workflow(tmp_path: Path, processes: list[OrchestratorProcess]) -> None:
    db, trace = tmp_path / "orch.db", tmp_path / "trace.jsonl"
    first = OrchestratorProcess(db, trace)
    processes.append(first)
    url = first.url()
    accepted: list[str] = []
    with httpx.Client(base_url=url, headers=AUTH, timeout=10) as client:
        client.post("/api/v1/workers/register", json={"workerId": "w1", "capabilities": ["python"]}).raise_for_status()
        client.post("/api/v1/workflows", json={"type": "noop"}).raise_for_status()
        orphan = client.get("/api/v1/tasks/poll", params={"workerId": "w1"}).json()["tasks"][0]

        stop = threading.Event()

        def submit_until_killed() -> None:
            while not stop.is_set():
                try:
                    response = client.post("/api/v1/workflows", json={"type": "noop", "payload": {"n": len(accepted)}})
                except httpx.HTTPError:
                    return
                if response.status_code == 201:
                    accepted.append(response.json()["workflowId"])

        submitter = threading.Thread(target=submit_until_killed)
        submitter.start()
        deadline = time.monotonic() + 60
        while len(accepted) < 20 and time.monotonic() < deadline:
            time.sleep(0.01)
        first.proc.send_signal(signal.SIGKILL)
        first.proc.wait(30)
        stop.set()
        submitter.join(30)
    assert len(accepted) >= 20

    second = OrchestratorProcess(db, trace)
    processes.append(second)
    with httpx.Client(base_url=second.url(), headers=AUTH, timeout=10) as client:
        for workflow_id in accepted:
            response = client.get(f"/api/v1/workflows/{workflow_id}")
            assert response.status_code == 200, workflow_id
            assert response.json()["status"] == "pending"
        # The crashed run's lease is recovered once w1 stays silent past the heartbeat timeout.
        deadline = time.monotonic() + 30
        while client.get(f"/api/v1/tasks/{orphan['taskId']}").json()["status"] != "queued":
            assert time.monotonic() < deadline, "orphaned task was never re-queued"
            time.sleep(0.05)
    recovery = [e.dest for e in read_trace(trace) if e.machine == ORCHESTRATOR_RECOVERY.name]
    assert recovery == ["restoring_database", "recovering_queue", "restoring_workflows", "recovered"]
    assert check_trace(read_trace(trace), check_timing=False).divergence is None


def test_sigterm_shuts_down_in_the_spec_order(tmp_path: Path, processes: list[OrchestratorProcess]) -> None:
    db, trace = tmp_path / "orch.db", tmp_path / "trace.jsonl"
    proc = OrchestratorProcess(db, trace)
    processes.append(proc)
    with httpx.Client(base_url=proc.url(), headers=AUTH, timeout=10) as client:
        client.post("/api/v1/workflows", json={"type": "noop"}).raise_for_status()
    proc.proc.send_signal(signal.SIGTERM)
    assert proc.proc.wait(60) == 0
    states = [e.dest for e in read_trace(trace) if e.machine == "orchestrator_shutdown"]
    assert states == [
        "pausing_queue", "draining_http", "refusing_websockets", "awaiting_workflows", "awaiting_tasks",
        "tasks_drained", "closing_websockets", "stopping_http", "stopping_queue", "closing_database", "stopped",
    ]
    # A clean stop: the next start does not run recovery.
    again = OrchestratorProcess(db, trace)
    processes.append(again)
    again.url()
    assert not [e for e in read_trace(trace) if e.machine == ORCHESTRATOR_RECOVERY.name]
    assert check_trace(read_trace(trace), check_timing=False).divergence is None


def test_port_in_use_exits_non_zero_with_one_line_naming_the_port(
    tmp_path: Path, processes: list[OrchestratorProcess]
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        proc = OrchestratorProcess(tmp_path / "orch.db", tmp_path / "trace.jsonl", port=port)
        processes.append(proc)
        assert proc.proc.wait(60) != 0
        assert proc.proc.stderr is not None
        errors = [line for line in proc.proc.stderr.read().splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and f"port {port}" in errors[0]


def test_second_signal_forces_exit(tmp_path: Path, processes: list[OrchestratorProcess]) -> None:
    db, trace = tmp_path / "orch.db", tmp_path / "trace.jsonl"
    # A long drain deadline and a running task: only the second signal can end the process quickly.
    proc = OrchestratorProcess(db, trace)
    processes.append(proc)
    with httpx.Client(base_url=proc.url(), headers=AUTH, timeout=10) as client:
        client.post("/api/v1/workers/register", json={"workerId": "w1", "capabilities": ["python"]}).raise_for_status()
        client.post("/api/v1/workflows", json={"type": "noop"}).raise_for_status()
        task = client.get("/api/v1/tasks/poll", params={"workerId": "w1"}).json()["tasks"][0]
        lease = {"taskId": task["taskId"], "workerId": "w1", "fencingToken": task["fencingToken"]}
        client.post("/api/v1/tasks/started", json=lease).raise_for_status()
    proc.proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 60
    while "tasks_still_running" not in trace.read_text():
        assert time.monotonic() < deadline and proc.proc.poll() is None
        time.sleep(0.05)
    proc.proc.send_signal(signal.SIGTERM)
    assert proc.proc.wait(30) == 128 + signal.SIGTERM
    events = read_trace(trace)
    assert events[-1].trigger == "force_stop" and events[-1].dest == "forced_stop"
