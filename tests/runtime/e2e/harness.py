"""The end-to-end suite's processes: `runtime.testing.processes` with this suite's tokens and timings.

The launch code itself (``python -m runtime`` on 127.0.0.1, SQLite in a temporary directory, token
files, bounded waits) is the test kit's, shared with users' suites; what stays here is what these
tests assert about: fixed tokens of each role, short heartbeats, workers named ``e2e-<name>``
advertising the ``e2e`` capability, and this checkout first on the processes' PYTHONPATH.
"""

from __future__ import annotations

from pathlib import Path

from runtime.testing.processes import DEADLINE_S, OrchestratorProcess, Tokens, WorkerProcess, environment, wait_for

REPO = Path(__file__).resolve().parents[3]
#: The admin token (the tests' own API calls); workers get the worker-role token. Both reach the
#: processes through token files, never the command line.
TOKEN = "e2e-token"
WORKER_TOKEN = "e2e-worker-token"
CLIENT_TOKEN = "e2e-client-token"
#: Test timings: short heartbeats so a killed worker is detected in seconds (issue 3 §5).
HEARTBEAT_INTERVAL_S = 0.25
HEARTBEAT_TIMEOUT_S = 1.5

__all__ = ["CLIENT_TOKEN", "DEADLINE_S", "HEARTBEAT_INTERVAL_S", "HEARTBEAT_TIMEOUT_S", "REPO", "TOKEN",
           "WORKER_TOKEN", "Orchestrator", "Worker", "wait_for"]


def _env() -> dict[str, str]:
    return environment((REPO,))


class Orchestrator(OrchestratorProcess):
    """``python -m runtime orchestrator`` with this suite's tokens and heartbeats (`extra_config`: more TOML)."""

    def __init__(self, tmp: Path, db: Path | str | None = None, extra_config: str = "",
                 env: dict[str, str] | None = None) -> None:
        super().__init__(
            tmp, db,
            config=f"[policies.heartbeat]\ninterval_s = {HEARTBEAT_INTERVAL_S}\ntimeout_s = {HEARTBEAT_TIMEOUT_S}\n"
            + extra_config,
            tokens=Tokens(admin=TOKEN, client=CLIENT_TOKEN, worker=WORKER_TOKEN), env=env, pythonpath=(REPO,),
        )


class Worker(WorkerProcess):
    """``python -m runtime worker`` as ``e2e-<name>`` with the ``e2e`` capability; its files in the test's tmp dir."""

    def __init__(self, orchestrator: Orchestrator, name: str, *args: str, workspace_root: Path | None = None) -> None:
        super().__init__(orchestrator, name, *args, workspace_root=workspace_root, worker_id=f"e2e-{name}",
                         capabilities=("e2e",))
