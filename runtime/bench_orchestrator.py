"""The orchestrator process every benchmark runs: ``python -m runtime orchestrator`` as users run it.

One copy for `runtime.bench`, `runtime.bench_submit` and `runtime.bench_workers`. The tokens go
through a token file (mode 0600, in the benchmark's scratch directory), never the command line.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

#: The admin token the benchmarks submit with, and the worker token their workers register with.
ADMIN_TOKEN = "bench-admin-token"
WORKER_TOKEN = "bench-worker-token"


def write_token_file(path: Path, line: str) -> Path:
    """`line` in a file only its owner reads: how the benchmarks hand a token to a process."""
    path.write_text(line + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path


def start_orchestrator(db: Path | str, trace: bool = False, *, scratch: Path | None = None,
                       name: str | None = None, password: str | None = None) -> tuple[subprocess.Popen[str], str]:
    """The orchestrator on `db` and a free port; its URL from the ready line it prints.

    `db` is a SQLite file (its token file and trace go beside it) or a PostgreSQL URL without a
    password: then its files go to `scratch` under `name` (one per replica), and `password`
    reaches it as ``PGPASSWORD``, never on the command line.
    """
    if isinstance(db, Path):
        scratch, name = scratch or db.parent, name or db.stem
    elif scratch is None or name is None:
        raise ValueError("an orchestrator on a database URL needs a scratch directory and a name for its files")
    tokens = write_token_file(scratch / f"{name}-tokens", f"{ADMIN_TOKEN}\nworker {WORKER_TOKEN}")
    trace_args = ["--trace", str(scratch / f"{name}.jsonl")] if trace else []
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    if password is not None:
        env["PGPASSWORD"] = password
    proc = subprocess.Popen(
        [sys.executable, "-m", "runtime", "orchestrator", "--db", str(db), "--port", "0",
         "--token-file", str(tokens), "--log-level", "WARNING", *trace_args],
        stdout=subprocess.PIPE, text=True, env=env,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("orchestrator listening on "):
            return proc, line.split()[-1]
    raise SystemExit(f"the orchestrator did not start (exit code {proc.wait()})")


def stop(proc: subprocess.Popen[str], timeout_s: float = 120.0) -> None:
    """SIGTERM (a graceful shutdown), then wait for the exit."""
    proc.terminate()
    proc.wait(timeout_s)
