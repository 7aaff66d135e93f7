"""The demo's child processes: ``python -m runtime orchestrator`` and ``python -m runtime worker``.

They are real processes talking HTTP on 127.0.0.1, started in their own session so a Ctrl-C in
the terminal reaches only the demo, which then stops them once with SIGTERM (a second signal
would make them force-exit, seed 4.4). Their output goes to log files next to the demo's output,
and every error names the log to read.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO

import httpx

from runtime.demo.errors import DemoProcessError

#: The line ``python -m runtime orchestrator`` prints once it serves.
READY_MARKER = "listening on"
#: Generous bounds for a loaded machine: starting a process, stopping one gracefully.
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 60.0
_POLL_S = 0.05


def _tail(path: Path, chars: int = 1500) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")[-chars:].strip()
    except OSError:
        return ""


class ChildProcess:
    """One ``python -m runtime ...`` process with its stdout/stderr in `log_dir`/<name>.out/.err."""

    def __init__(self, name: str, argv: list[str], log_dir: Path, env: Mapping[str, str]) -> None:
        self.name = name
        self.stdout_path = log_dir / f"{name}.out"
        self.stderr_path = log_dir / f"{name}.err"
        self._files: list[IO[str]] = [open(self.stdout_path, "w", encoding="utf-8"),  # noqa: SIM115
                                      open(self.stderr_path, "w", encoding="utf-8")]  # noqa: SIM115
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "runtime", *argv], stdin=subprocess.DEVNULL, stdout=self._files[0],
                stderr=self._files[1], env=dict(env), start_new_session=True,
            )
        except OSError as exc:
            self._close_files()
            raise DemoProcessError(f"{name}: could not start {sys.executable} -m runtime ({exc})") from exc

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def exited_error(self, doing: str) -> DemoProcessError:
        tail = _tail(self.stderr_path)
        return DemoProcessError(f"{self.name} exited with code {self.process.returncode} while {doing}; "
                                f"see {self.stderr_path}" + (f":\n{tail}" if tail else ""))

    async def wait_for_output(self, marker: str, timeout_s: float = START_TIMEOUT_S) -> str:
        """The rest of the first stdout line containing `marker`, once the process printed it."""
        deadline = time.monotonic() + timeout_s
        while True:
            for line in _tail(self.stdout_path, 100_000).splitlines():
                if marker in line:
                    return line.split(marker, 1)[1].strip()
            if not self.running:
                raise self.exited_error("starting")
            if time.monotonic() > deadline:
                raise DemoProcessError(f"{self.name} printed no {marker!r} line within {timeout_s:g} s; "
                                       f"see {self.stdout_path} and {self.stderr_path}")
            await asyncio.sleep(_POLL_S)

    async def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> int:
        """SIGTERM once and wait for a graceful exit; SIGKILL after `timeout_s`. Returns the exit code."""
        if self.running:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.to_thread(self.process.wait, timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            code = self.process.returncode
        self._close_files()
        return code

    def kill(self) -> None:
        """Last resort (a second Ctrl-C, or a process that ignores SIGTERM)."""
        if self.running:
            self.process.kill()
        self.process.wait()
        self._close_files()

    def _close_files(self) -> None:
        for stream in self._files:
            stream.close()


def child_env(token: str) -> dict[str, str]:
    """This environment, with the token for both commands (never on a command line other users can read)."""
    env = dict(os.environ)
    env["ORCH_TOKENS"] = f'["{token}"]'
    env["RUNTIME_TOKEN"] = token
    env["PYTHONUNBUFFERED"] = "1"
    root = str(Path(__file__).resolve().parents[2])  # the checkout, for a run without `pip install`
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    return env


async def wait_until_ready(http: httpx.AsyncClient, orchestrator: ChildProcess,
                           timeout_s: float = START_TIMEOUT_S) -> None:
    """Poll ``/health/ready`` until the orchestrator serves (its database is migrated and open)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if (await http.get("/health/ready")).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if not orchestrator.running:
            raise orchestrator.exited_error("starting")
        if time.monotonic() > deadline:
            raise DemoProcessError(f"orchestrator not ready within {timeout_s:g} s; see {orchestrator.stderr_path}")
        await asyncio.sleep(_POLL_S * 2)


async def wait_for_workers(http: httpx.AsyncClient, workers: list[ChildProcess], worker_ids: list[str],
                           timeout_s: float = START_TIMEOUT_S) -> None:
    """Wait until every worker id is registered with the orchestrator."""
    deadline = time.monotonic() + timeout_s
    while True:
        response = await http.get("/api/v1/workers")
        if response.status_code == 200:
            known = {w["workerId"] for w in response.json().get("workers", [])}
            if set(worker_ids) <= known:
                return
        for worker in workers:
            if not worker.running:
                raise worker.exited_error("registering")
        if time.monotonic() > deadline:
            raise DemoProcessError(f"workers {', '.join(worker_ids)} did not register within {timeout_s:g} s; "
                                   f"see {', '.join(str(w.stderr_path) for w in workers)}")
        await asyncio.sleep(_POLL_S * 2)
