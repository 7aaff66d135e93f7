"""Database faults on a running orchestrator (issue 14): a lock held by another process, a full filesystem.

Both start real processes: the orchestrator (and a worker) through ``python -m runtime``, a second
process that holds ``BEGIN IMMEDIATE`` on the database, and a 2 MiB tmpfs under the database
that the test fills and frees. The orchestrator must answer 503 with ``Retry-After`` and the
cause, turn not-ready, and come back by itself, losing nothing it acknowledged.
"""

from __future__ import annotations

import errno
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from spec.trace import read_trace
from tests.runtime.e2e.harness import DEADLINE_S, Orchestrator, Worker, wait_for

#: Holds the database's write lock until a line arrives on stdin (or the test kills it).
_HOLDER = (
    "import sqlite3, sys\n"
    "db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)\n"
    "db.execute('BEGIN IMMEDIATE')\n"
    "print('locked', flush=True)\n"
    "sys.stdin.readline()\n"
    "db.execute('ROLLBACK')\n"
)


class _LockHolder:
    def __init__(self, db: Path) -> None:
        self.process = subprocess.Popen([sys.executable, "-c", _HOLDER, str(db)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line.strip() == "locked", f"lock holder did not take the lock: {line!r}"

    def release(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.write("\n")
            self.process.stdin.close()
            try:
                self.process.wait(timeout=DEADLINE_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _ready(orch: Orchestrator) -> httpx.Response:
    return httpx.get(f"{orch.url}/health/ready", timeout=30)


def _ready_with(orch: Orchestrator, fault: str | None) -> dict[str, Any] | None:
    response = _ready(orch)
    body: dict[str, Any] = response.json()
    if fault is None:
        return body if response.status_code == 200 and body["database"] == {"state": "writable"} else None
    return body if response.status_code == 503 and body["database"].get("fault") == fault else None


def test_a_lock_held_by_another_process_answers_503_while_the_event_loop_keeps_serving(
    orchestrator: Orchestrator,
) -> None:
    holder = _LockHolder(orchestrator.db)
    answered: dict[str, Any] = {}
    live: list[tuple[float, float]] = []  # (latency, finished at)
    try:
        def write() -> None:
            answered["response"] = orchestrator.http.post("/api/v1/workflows", json={"type": "noop"})
            answered["at"] = time.monotonic()

        writer = threading.Thread(target=write)
        writer.start()
        while writer.is_alive():  # the write answers after DatabasePolicy.lock_wait_s (httpx timeout bounds it)
            started = time.monotonic()
            assert httpx.get(f"{orchestrator.url}/health/live", timeout=30).status_code == 200
            live.append((time.monotonic() - started, time.monotonic()))
        writer.join()
        response: httpx.Response = answered["response"]
        assert response.status_code == 503, response.text
        assert "another process holds the database's write lock" in response.json()["error"]["reason"]
        assert int(response.headers["Retry-After"]) >= 1
        # The loop served /health/live while the write waited for the lock (before: nothing for 10 s).
        assert sum(1 for _, at in live if at < answered["at"]) >= 3, live
        body = _ready_with(orchestrator, "locked")
        assert body is not None and body["checks"]["database"] is False and "write lock" in body["reason"]
    finally:
        holder.release()
    wait_for(lambda: _ready_with(orchestrator, None), "ready again once the other process let go of the lock")
    workflow_id, _ = orchestrator.submit("noop")
    assert orchestrator.http.get(f"/api/v1/workflows/{workflow_id}").status_code == 200
    print(f"/health/live during the held lock: {len(live)} answers, max {max(t for t, _ in live) * 1000:.1f} ms")


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs, unmounted afterwards; skipped where mounting is not permitted."""
    mount = tmp_path / "dbfs"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        if subprocess.run(["umount", str(mount)], capture_output=True, check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(directory: Path, mode: str = "wb") -> Path:
    """Write a file until the filesystem is full (``mode="ab"``: top it up again); return it."""
    filler = directory / "filler"
    chunk = b"\0" * 512
    with open(filler, mode, buffering=0) as out:
        try:
            for _ in range(80_000):  # 40 MB: far more than the 2 MiB the filesystem holds
                out.write(chunk)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
        else:
            raise AssertionError(f"{directory} never filled up")
    return filler


def test_a_full_database_filesystem_answers_503_not_ready_and_recovers_without_a_restart(
    tmp_path: Path, tmpfs: Path,
) -> None:
    # Consistency validation every half second: the fault and the recovery must not break an invariant.
    orch = Orchestrator(tmp_path, db=tmpfs / "orchestrator.db",
                        extra_config="[policies.database]\nconsistency_interval_s = 0.5\n")
    worker: Worker | None = None
    try:
        worker = Worker(orch, "filler")
        worker.wait_registered()
        acknowledged = [orch.submit("sleep", {"seconds": 0.01})[0]]
        filler = _fill(tmpfs)

        refused: httpx.Response | None = None
        for _ in range(500):  # each accepted workflow takes space the filesystem does not have
            response = orch.http.post("/api/v1/workflows", json={"type": "sleep", "payload": {"seconds": 0.01}})
            if response.status_code == 201:
                acknowledged.append(response.json()["workflowId"])
                continue
            refused = response
            break
        assert refused is not None, "500 workflows fitted on a full 2 MiB filesystem"
        assert refused.status_code == 503, refused.text
        assert "the database's filesystem is full" in refused.json()["error"]["reason"]
        assert int(refused.headers["Retry-After"]) >= 1
        # A worker's small report may still fit in a WAL page freed by a checkpoint; that success
        # truncates the WAL, which frees space: keep the filesystem full until the fault is seen.
        def full_and_reported() -> dict[str, Any] | None:
            _fill(tmpfs, "ab")
            return _ready_with(orch, "disk_full")

        not_ready = wait_for(full_and_reported, "/health/ready to report the full disk")
        assert not_ready["status"] == "unavailable" and "free space" in not_ready["reason"]

        filler.unlink()
        wait_for(lambda: _ready_with(orch, None), "ready again once space is free, without a restart")
        acknowledged.append(orch.submit("sleep", {"seconds": 0.01})[0])

        def all_completed() -> bool:
            states = [orch.http.get(f"/api/v1/workflows/{w}").json()["status"] for w in acknowledged]
            return all(s == "completed" for s in states)

        wait_for(all_completed, f"the {len(acknowledged)} acknowledged workflows to complete")
        assert orch.process.poll() is None, "the orchestrator must not have restarted"
        completions: Counter[str] = Counter(
            e.component for e in read_trace(orch.trace) if e.machine == "workflow_lifecycle" and e.trigger == "complete"
        )
        assert all(completions[f"workflow:{w}"] == 1 for w in acknowledged), completions
        checked = wait_for(lambda: _ready(orch).json()["consistency"]["checkedAt"], "a consistency validation")
        assert _ready(orch).json()["consistency"]["findings"] == [], checked
        assert "consistency:" not in (tmp_path / "orchestrator.err").read_text(encoding="utf-8")
        print(f"acknowledged {len(acknowledged)} workflows; refused with {refused.json()['error']['reason']}")
    finally:
        if worker is not None:
            worker.stop()
        orch.stop()
