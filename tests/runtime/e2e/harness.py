"""Real processes for the end-to-end tests: an orchestrator and workers started with ``python -m runtime``.

Everything runs on 127.0.0.1 with a temporary SQLite database. Waits poll for a condition up to a
generous deadline instead of sleeping, so a loaded 2-core machine only makes the tests slower.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx

from spec.trace import TraceEvent, read_trace

REPO = Path(__file__).resolve().parents[3]
#: The admin token (the tests' own API calls); workers get the worker-role token. Both reach the
#: processes through token files, never the command line.
TOKEN = "e2e-token"
WORKER_TOKEN = "e2e-worker-token"
CLIENT_TOKEN = "e2e-client-token"
#: Generous upper bound for anything that should happen "soon" on a loaded machine.
DEADLINE_S = 60.0
#: Test timings: short heartbeats so a killed worker is detected in seconds (issue 3 §5).
HEARTBEAT_INTERVAL_S = 0.25
HEARTBEAT_TIMEOUT_S = 1.5

T = TypeVar("T")


def wait_for(condition: Callable[[], T | None], what: str, timeout: float = DEADLINE_S, interval: float = 0.05) -> T:
    """Poll `condition` until it returns something truthy; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    env.pop("RUNTIME_TOKEN", None)
    return env


class Orchestrator:
    """``python -m runtime orchestrator`` on a free port; the URL is read from its ready line."""

    def __init__(self, tmp: Path, db: Path | str | None = None, extra_config: str = "",
                 env: dict[str, str] | None = None) -> None:
        """`db`: a SQLite file (default: one in `tmp`) or a PostgreSQL URL; `env`: added to the process's env."""
        self.tmp = tmp
        self.db = db or tmp / "orchestrator.db"
        self.trace = tmp / "orchestrator.jsonl"
        config = tmp / "orchestrator.toml"
        config.write_text(
            f"[policies.heartbeat]\ninterval_s = {HEARTBEAT_INTERVAL_S}\ntimeout_s = {HEARTBEAT_TIMEOUT_S}\n"
            + extra_config,
            encoding="utf-8",
        )
        self.token_file = tmp / "orchestrator.tokens"
        self.token_file.write_text(f"admin {TOKEN}\nclient {CLIENT_TOKEN}\nworker {WORKER_TOKEN}\n", encoding="utf-8")
        self.token_file.chmod(0o600)
        self.worker_token_file = tmp / "worker.token"
        self.worker_token_file.write_text(WORKER_TOKEN + "\n", encoding="utf-8")
        self.worker_token_file.chmod(0o600)
        self.log = open(tmp / "orchestrator.err", "w", encoding="utf-8")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "runtime", "orchestrator", "--config", str(config), "--db", str(self.db),
             "--host", "127.0.0.1", "--port", "0", "--token-file", str(self.token_file), "--trace", str(self.trace)],
            stdout=subprocess.PIPE, stderr=self.log, text=True, env={**_env(), **(env or {})}, cwd=tmp,
        )
        self.url = self._read_url()
        self.http = httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
        wait_for(self._ready, "the orchestrator's /health/ready")

    def _read_url(self) -> str:
        found: list[str] = []
        assert self.process.stdout is not None
        stdout = self.process.stdout

        def read() -> None:
            for line in stdout:
                if "listening on" in line and not found:
                    found.append(line.split("listening on", 1)[1].strip())

        threading.Thread(target=read, daemon=True).start()
        wait_for(lambda: found or self.process.poll() is not None, "the orchestrator to start listening")
        if not found:
            raise AssertionError(f"orchestrator exited with {self.process.returncode}: {self.stderr()}")
        return found[0]

    def _ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/health/ready", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    def stderr(self) -> str:
        self.log.flush()
        return (self.tmp / "orchestrator.err").read_text(encoding="utf-8")[-4000:]

    # -- API helpers ----------------------------------------------------------------------------

    def submit(self, task_type: str, payload: dict[str, Any] | None = None) -> tuple[str, str]:
        response = self.http.post("/api/v1/workflows", json={"type": task_type, "payload": payload or {}})
        assert response.status_code in (200, 201), response.text
        body = response.json()
        return body["workflowId"], body["taskIds"][0]

    def task(self, task_id: str) -> dict[str, Any]:
        response = self.http.get(f"/api/v1/tasks/{task_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def worker(self, worker_id: str) -> dict[str, Any] | None:
        workers = self.http.get("/api/v1/workers").json()["workers"]
        return next((w for w in workers if w["workerId"] == worker_id), None)

    def saved_state(self, task_id: str) -> Any:
        """The task's saved state, read from the orchestrator's SQLite database (the API does not show it)."""
        with sqlite3.connect(self.db, timeout=30) as db:
            row = db.execute("SELECT saved_state FROM tasks WHERE id = ?", (task_id,)).fetchone()
        return json.loads(row[0]) if row and row[0] else None

    def stop(self) -> None:
        self.http.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=DEADLINE_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


class Worker:
    """``python -m runtime worker`` with test timings; its trace and stderr live in the test's tmp dir."""

    def __init__(self, orchestrator: Orchestrator, name: str, *args: str, workspace_root: Path | None = None) -> None:
        tmp = orchestrator.tmp
        self.name = name
        self.worker_id = f"e2e-{name}"
        self.trace = tmp / f"{name}.jsonl"
        self.workspace_root = workspace_root or tmp / f"{name}-workspaces"
        self.err_path = tmp / f"{name}.err"
        self.log = open(self.err_path, "a", encoding="utf-8")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "runtime", "worker", "--orchestrator", orchestrator.url,
             "--worker-id", self.worker_id, "--workspace-root", str(self.workspace_root),
             "--trace", str(self.trace), "--capability", "e2e",
             "--policy", "poll.min_interval_s=0.05", "--policy", "poll.max_interval_s=0.25", *args],
            stdout=self.log, stderr=self.log, env={**_env(), "RUNTIME_TOKEN_FILE": str(orchestrator.worker_token_file)},
            cwd=tmp,
        )

    def events(self) -> list[TraceEvent]:
        return read_trace(self.trace) if self.trace.exists() else []

    def triggers(self, machine: str) -> list[str]:
        return [e.trigger for e in self.events() if e.machine == machine]

    def stderr(self) -> str:
        self.log.flush()
        return self.err_path.read_text(encoding="utf-8")[-4000:]

    def wait_registered(self) -> None:
        def registered_or_exited() -> bool:
            return "capabilities_accepted" in self.triggers("worker_lifecycle") or self.process.poll() is not None

        wait_for(registered_or_exited, f"worker {self.name} to register")
        assert self.process.poll() is None, f"worker {self.name} exited: {self.stderr()}"

    def signal(self, sig: int) -> None:
        self.process.send_signal(sig)

    def wait(self, timeout: float = DEADLINE_S) -> int:
        return self.process.wait(timeout=timeout)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.log.close()
