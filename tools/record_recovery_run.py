"""Record a real crash-and-recovery run for the 4.4 recovery "spec vs actual" sections (issue 6, §3).

``python tools/record_recovery_run.py`` (part of ``nox -s record``) starts a real orchestrator and a
real worker (subprocesses on 127.0.0.1), lets the worker start a long ``sleep`` task, then kills
both with SIGKILL. It restarts the orchestrator on the same database and trace file, which runs
`orchestrator_recovery`, and the worker on the same workspace root, which runs `worker_recovery`
(it cleans the dead workspace and hands the task back). The traces of the recovery are written to
``docs/recorded/orchestrator_recovery.jsonl`` and ``docs/recorded/worker_recovery.jsonl``.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

TOOLS = Path(__file__).resolve().parent
ROOT = TOOLS.parent
for path in (str(ROOT), str(TOOLS)):
    if path not in sys.path:
        sys.path.insert(0, path)

from record_reference_run import (  # noqa: E402
    TOKEN,
    RecordingError,
    _has_trigger,
    _read_url,
    _stop,
    wait_for,
    write_recording,
)

from spec.trace import TraceEvent, read_trace  # noqa: E402


def _orchestrator(scratch: Path, env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "runtime", "orchestrator", "--db", str(scratch / "orch.db"), "--port", "0",
         "--token", TOKEN, "--trace", str(scratch / "orchestrator.jsonl"), "--log-level", "WARNING"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True,
    )
    assert process.stdout is not None
    return process, _read_url(process.stdout)


def _worker(scratch: Path, env: dict[str, str], url: str, trace: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "runtime", "worker", "--orchestrator", url, "--token", TOKEN, "--no-detect",
         "--capability", "sleep", "--worker-id", "worker-1", "--workspace-root", str(scratch / "workspaces"),
         "--trace", str(trace), "--log-level", "WARNING"],
        cwd=ROOT, env=env, text=True,
    )


def _kill(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait()


def run(scratch: Path) -> tuple[list[TraceEvent], list[TraceEvent]]:
    """(orchestrator recovery events, worker recovery events) of one crash-and-restart."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    before_trace, after_trace = scratch / "worker-before.jsonl", scratch / "worker-after.jsonl"
    processes: list[subprocess.Popen[str]] = []
    try:
        orchestrator, url = _orchestrator(scratch, env)
        processes.append(orchestrator)
        client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10.0)
        wait_for("the orchestrator to report ready", lambda: client.get("/health/ready").status_code == 200)
        created = client.post("/api/v1/workflows", json={"type": "sleep", "payload": {"seconds": 60, "steps": 1}})
        if created.status_code != 201:
            raise RecordingError(f"POST /api/v1/workflows answered {created.status_code}: {created.text}")
        worker = _worker(scratch, env, url, before_trace)
        processes.append(worker)
        wait_for("the worker to start its task", lambda: _has_trigger(before_trace, "start"))
        _kill(worker)
        _kill(orchestrator)
        restarted_at = time.time()

        orchestrator, url = _orchestrator(scratch, env)
        processes.append(orchestrator)
        client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10.0)
        wait_for("the orchestrator to recover", lambda: _has_trigger(scratch / "orchestrator.jsonl",
                                                                     "workflows_resumed"))
        worker = _worker(scratch, env, url, after_trace)
        processes.append(worker)
        wait_for("the worker to recover", lambda: _has_trigger(after_trace, "interrupted_tasks_resumed"))
        _stop(worker, "worker")
        _stop(orchestrator, "orchestrator")
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    orchestrator_events = [e for e in read_trace(scratch / "orchestrator.jsonl") if e.time >= restarted_at]
    return orchestrator_events, read_trace(after_trace)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "recorded",
                        help="directory for <story>.jsonl (default docs/recorded)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="recovery-run-") as scratch:
        try:
            recovered = run(Path(scratch))
        except RecordingError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    args.out.mkdir(parents=True, exist_ok=True)
    for story, events in zip(("orchestrator_recovery", "worker_recovery"), recovered, strict=True):
        if not write_recording(args.out, story, events):
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
