"""Real processes for tests: an orchestrator and workers started with ``python -m runtime``.

Everything runs on 127.0.0.1 with a temporary SQLite database (or a PostgreSQL URL). Tokens reach
the processes through 0600 token files, never the command line (``ps`` shows a command line to
every user of the machine). Waits poll for a condition up to a generous deadline instead of
sleeping, so a loaded machine only makes a test slower, never flaky.

Used by this project's end-to-end tests and by the pytest fixtures of `runtime.testing.plugin`.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx

from spec.machines import WORKER_LIFECYCLE
from spec.machines.worker_lifecycle import WorkerTrigger
from spec.trace import TraceEvent, read_trace

#: Generous upper bound for anything that should happen "soon" on a loaded machine.
DEADLINE_S = 60.0
#: Worker polling for tests: a submitted task is picked up in a fraction of a second.
FAST_POLL = ("poll.min_interval_s=0.05", "poll.max_interval_s=0.25")
#: The module a worker with handler modules runs (`runtime.testing.worker_main`).
HANDLER_WORKER_MODULE = "runtime.testing.worker_main"

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


def environment(pythonpath: Iterable[Path] = (), base: Mapping[str, str] | None = None) -> dict[str, str]:
    """`base` (default: this process's) with `pythonpath` first on PYTHONPATH and no token in the environment."""
    env = dict(os.environ if base is None else base)
    paths = [*(str(p) for p in pythonpath), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    env.pop("RUNTIME_TOKEN", None)
    return env


def _write_secret(path: Path, text: str) -> Path:
    """Write `text` to a file only its owner can read (created 0600, never world-readable in between)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(text)
    path.chmod(0o600)
    return path


def terminate(process: subprocess.Popen[Any]) -> int:
    """SIGTERM and wait for the graceful shutdown; SIGKILL only after `DEADLINE_S`. The exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=DEADLINE_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


@dataclass(frozen=True)
class Tokens:
    """The three roles' bearer tokens: admin (the test's own API calls), client, worker."""

    admin: str
    client: str
    worker: str

    @classmethod
    def generate(cls) -> Tokens:
        return cls(*(secrets.token_urlsafe(24) for _ in range(3)))


class OrchestratorProcess:
    """``python -m runtime orchestrator`` on a free port; the URL is read from its ready line."""

    def __init__(self, tmp: Path, db: Path | str | None = None, *, config: str = "",
                 config_name: str = "orchestrator.toml", tokens: Tokens | None = None,
                 env: Mapping[str, str] | None = None, pythonpath: Iterable[Path] = ()) -> None:
        """`db`: a SQLite file (default: one in `tmp`) or a PostgreSQL URL; `config`: the config file's text, TOML
        or YAML as `config_name` ends; `env`: added to the process's environment; `pythonpath`: put first on its
        PYTHONPATH (and its workers')."""
        self.tmp = tmp
        self.db = db or tmp / "orchestrator.db"
        self.trace = tmp / "orchestrator.jsonl"
        self.tokens = tokens or Tokens.generate()
        self.pythonpath = tuple(pythonpath)
        config_file = tmp / config_name
        config_file.write_text(config, encoding="utf-8")
        self.token_file = _write_secret(
            tmp / "orchestrator.tokens",
            f"admin {self.tokens.admin}\nclient {self.tokens.client}\nworker {self.tokens.worker}\n",
        )
        self.worker_token_file = _write_secret(tmp / "worker.token", self.tokens.worker + "\n")
        self.log = open(tmp / "orchestrator.err", "w", encoding="utf-8")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "runtime", "orchestrator", "--config", str(config_file), "--db", str(self.db),
             "--host", "127.0.0.1", "--port", "0", "--token-file", str(self.token_file), "--trace", str(self.trace)],
            stdout=subprocess.PIPE, stderr=self.log, text=True,
            env={**environment(self.pythonpath), **(env or {})}, cwd=tmp,
        )
        self.url = self._read_url()
        self.http = httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.tokens.admin}"},
                                 timeout=30)
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

    def events(self) -> list[TraceEvent]:
        return read_trace(self.trace) if self.trace.exists() else []

    # -- API helpers ----------------------------------------------------------------------------

    def submit(self, task_type: str, payload: dict[str, Any] | None = None) -> tuple[str, str]:
        """Submit a one-task workflow; ``(workflow id, task id)``."""
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
        """SIGTERM (a graceful stop, recorded in the trace); SIGKILL only after `DEADLINE_S`."""
        self.http.close()
        terminate(self.process)
        self.log.close()


class WorkerProcess:
    """``python -m runtime worker`` (or, with `handlers`, the same worker with the task types of those modules)."""

    def __init__(self, orchestrator: OrchestratorProcess, name: str, *args: str, workspace_root: Path | None = None,
                 worker_id: str | None = None, capabilities: Iterable[str] = (), handlers: Iterable[str] = (),
                 env: Mapping[str, str] | None = None) -> None:
        """`args`: more ``python -m runtime worker`` options; `handlers`: modules whose ``HANDLERS`` mapping
        (task type → handler) the worker runs (`runtime.testing.worker_main`)."""
        tmp = orchestrator.tmp
        self.name = name
        self.worker_id = worker_id or name
        self.trace = tmp / f"{name}.jsonl"
        self.workspace_root = workspace_root or tmp / f"{name}-workspaces"
        self.err_path = tmp / f"{name}.err"
        self.log = open(self.err_path, "a", encoding="utf-8")  # noqa: SIM115 - closed in stop()
        modules = list(handlers)
        command = ["-m", HANDLER_WORKER_MODULE, *(a for m in modules for a in ("--handlers", m))] if modules \
            else ["-m", "runtime", "worker"]
        self.process = subprocess.Popen(
            [sys.executable, *command, "--orchestrator", orchestrator.url,
             "--worker-id", self.worker_id, "--workspace-root", str(self.workspace_root),
             "--trace", str(self.trace), *(a for c in capabilities for a in ("--capability", c)),
             *(a for p in FAST_POLL for a in ("--policy", p)), *args],
            stdout=self.log, stderr=self.log, cwd=tmp,
            env={**environment(orchestrator.pythonpath), "RUNTIME_TOKEN_FILE": str(orchestrator.worker_token_file),
                 **(env or {})},
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
            accepted = WorkerTrigger.CAPABILITIES_ACCEPTED in self.triggers(WORKER_LIFECYCLE.name)
            return accepted or self.process.poll() is not None

        wait_for(registered_or_exited, f"worker {self.name} to register")
        assert self.process.poll() is None, f"worker {self.name} exited: {self.stderr()}"

    def signal(self, sig: int) -> None:
        self.process.send_signal(sig)

    def wait(self, timeout: float = DEADLINE_S) -> int:
        return self.process.wait(timeout=timeout)

    def terminate(self) -> int:
        """SIGTERM and wait for the graceful shutdown (recorded in the trace); SIGKILL after `DEADLINE_S`."""
        return terminate(self.process)

    def stop(self) -> None:
        """SIGKILL (nothing recorded: a crash), if still running."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.log.close()
