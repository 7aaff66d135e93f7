"""``python -m runtime orchestrator --db postgresql://...`` with real workers (issue 16): the orchestrator
migrates an empty database itself, a worker SIGKILLed mid-task loses nothing, every task completes
exactly once, an orchestrator SIGKILLed and restarted on the same database recovers its queue (a new
worker finishes it: the old ones knew only the old port), and
the password (in ``PGPASSWORD``, not the URL) shows up in no command line, log or trace."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path

from spec.trace import read_trace
from tests.postgres_server import PASSWORD, PostgresServer
from tests.runtime.e2e.harness import DEADLINE_S, Orchestrator, Worker, _env, wait_for

TASKS = 30


def _all_completed(orch: Orchestrator, task_ids: list[str]) -> bool:
    return all(orch.task(t)["status"] == "completed" for t in task_ids)


def test_an_orchestrator_on_postgresql_completes_every_task_exactly_once_through_crashes(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    database = postgres_server.create_database(migrated=False)  # the orchestrator runs the migrations
    url = postgres_server.url(database, password=False)
    env = {"PGPASSWORD": PASSWORD}
    orch = Orchestrator(tmp_path, db=url, env=env)
    workers: list[Worker] = []
    try:
        doomed = Worker(orch, "doomed", "--tasks-per-poll", "2")
        steady = Worker(orch, "steady", "--tasks-per-poll", "2")
        workers += [doomed, steady]
        for worker in workers:
            worker.wait_registered()
        task_ids = [orch.submit("sleep", {"seconds": 0.2, "steps": 1})[1] for _ in range(TASKS)]
        wait_for(lambda: any(e.trigger == "start" for e in doomed.events()), "the doomed worker to start a task")
        doomed.signal(signal.SIGKILL)
        doomed.wait()
        first_half = task_ids[: TASKS // 2]
        wait_for(lambda: _all_completed(orch, first_half), "the steady worker to finish the first half",
                 interval=0.2)
        # The orchestrator dies too, mid-run, and restarts on the same database: recovery after a crash.
        orch.process.send_signal(signal.SIGKILL)
        orch.process.wait()
        orch.stop()
        orch = Orchestrator(tmp_path, db=url, env=env)  # on a new port: the old workers cannot find it
        steady.stop()
        rescuer = Worker(orch, "rescuer", "--tasks-per-poll", "2")
        workers.append(rescuer)
        rescuer.wait_registered()
        wait_for(lambda: _all_completed(orch, task_ids), "every task to complete", interval=0.2)
        trace = read_trace(orch.trace)
        assert "restart" in [e.trigger for e in trace if e.machine == "orchestrator_recovery"]
        completions = Counter(e.component for e in trace if e.machine == "task_lifecycle" and e.trigger == "complete")
        assert {f"task:{t}" for t in task_ids} == set(completions), "every accepted task completed"
        assert set(completions.values()) == {1}, "no task completed twice"
        command_line = Path(f"/proc/{orch.process.pid}/cmdline").read_bytes().decode()
        assert database in command_line and PASSWORD not in command_line
    finally:
        for worker in workers:
            worker.stop()
        orch.stop()
        postgres_server.drop_databases([database])
    assert not (tmp_path / "orchestrator.db").exists(), "the orchestrator used a SQLite file, not PostgreSQL"
    for written in [*tmp_path.glob("*.err"), *tmp_path.glob("*.jsonl")]:
        assert PASSWORD not in written.read_text(encoding="utf-8"), f"the password reached {written.name}"


def test_an_unreachable_server_stops_startup_with_the_setting_and_the_reason(tmp_path: Path) -> None:
    """Bounded: the startup policy's attempts, each bounded by the connect timeout; the password is not printed."""
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    secret = "not-printed-5e1b"
    token_file = tmp_path / "tokens"
    token_file.write_text("admin e2e-token\n", encoding="utf-8")
    token_file.chmod(0o600)
    done = subprocess.run(
        [sys.executable, "-m", "runtime", "orchestrator", "--db", f"postgresql://orch:{secret}@127.0.0.1:{port}/q",
         "--port", "0", "--token-file", str(token_file), "--log-format", "text"],
        capture_output=True, text=True, timeout=DEADLINE_S, cwd=tmp_path, env=_env())
    assert done.returncode == 1, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and f"127.0.0.1:{port}/q" in last, last
    assert "the db setting: --db, ORCH_DB" in last and "ConnectionRefusedError" in last, last
    assert secret not in done.stdout + done.stderr
