"""Two orchestrator replicas (``python -m runtime orchestrator --db postgresql://...``, password in
``PGPASSWORD``) on one PostgreSQL database, four workers split across them, 2,000 tasks submitted
in bulk to both (issue 16, "Tests against real servers"); the leader replica is SIGKILLed mid-run
and the other one keeps going.

Three of the workers know both replicas (their own first) and fail over; one knows only the
replica that dies, so it goes silent with leases in hand. The survivor must take the cluster-wide
sweeps over within ``LeadershipPolicy.failover_bound_s`` (its trace says when), and its heartbeat
sweep must then take the stranded worker out of rotation and re-queue its leases. Every
acknowledged task completes, and none completes twice: counted per task in the store's event
log, in the orchestrators' traces and in the workers' traces (a worker records a completion only
once the orchestrator accepted it).
"""

from __future__ import annotations

import dataclasses
import signal
import time
from collections import Counter
from pathlib import Path

from runtime import SyncClient
from runtime.protocol import WorkflowRequest
from spec.machines.leader_election import LeaderTrigger
from spec.machines.task_lifecycle import TaskTrigger
from spec.machines.worker_lifecycle import WorkerTrigger
from spec.platform import PLATFORM
from spec.policies import HeartbeatPolicy, LeadershipPolicy, Policies
from spec.trace import TraceEvent, parse_trace_lines, read_trace
from spec.trace_merge import merge_traces
from tests.postgres_server import PASSWORD, PostgresServer
from tests.runtime.e2e.harness import (
    CLIENT_TOKEN,
    HEARTBEAT_INTERVAL_S,
    HEARTBEAT_TIMEOUT_S,
    Orchestrator,
    Worker,
    wait_for,
)

TASKS = 2000
#: Slots per worker: a poll leases up to this many tasks, so four workers keep the queue moving.
SLOTS = 8
LEADERSHIP = LeadershipPolicy(acquire_interval_s=0.2, renew_interval_s=0.5, lease_s=3.0)
HEARTBEAT = HeartbeatPolicy(interval_s=HEARTBEAT_INTERVAL_S, timeout_s=HEARTBEAT_TIMEOUT_S)
CONFIG = (f"[policies.leadership]\nacquire_interval_s = {LEADERSHIP.acquire_interval_s}\n"
          f"renew_interval_s = {LEADERSHIP.renew_interval_s}\nlease_s = {LEADERSHIP.lease_s}\n")
#: Scheduling slack on a loaded 2-core machine, on top of the policies' bounds.
SLACK_S = 2.0
#: The bound on the whole run after the kill: every task done well before it, on a loaded machine.
DRAIN_S = 180.0


class _TraceTail:
    """A growing trace, parsed once per line: waiting on a replica's trace re-reads only what it
    appended since (re-parsing the whole file at every poll was most of this test's CPU time)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._first: dict[tuple[str, str, str], float] = {}

    def _read(self) -> None:
        if not self.path.exists():
            return
        with self.path.open("rb") as stream:
            stream.seek(self._offset)
            chunk = stream.read()
        complete = chunk[: chunk.rfind(b"\n") + 1]  # a line still being written waits for the next poll
        self._offset += len(complete)
        for event in parse_trace_lines(complete.decode("utf-8").splitlines(), source=str(self.path)):
            self._first.setdefault((event.machine, event.trigger, event.component), event.time)
            self._first.setdefault((event.machine, event.trigger, ""), event.time)

    def first(self, machine: str, trigger: str, component: str = "") -> float | None:
        """When `trigger` of `machine` (of `component`, or of any) first fired, or None yet."""
        self._read()
        return self._first.get((machine, trigger, component))


def _completed(server: PostgresServer, database: str) -> int:
    return int(server.sql("SELECT count(*) FROM tasks WHERE status = 'completed'", database=database))


def _store_completions(server: PostgresServer, database: str) -> Counter[str]:
    """Per task, how many ``TASK_COMPLETED`` events the store's event log holds."""
    rows = server.sql("SELECT task_id, count(*) FROM events WHERE type = 'TASK_COMPLETED' GROUP BY task_id",
                      database=database)
    return Counter({task: int(n) for task, n in (line.split("|") for line in rows.splitlines() if line)})


def _trace_completions(events: list[TraceEvent]) -> Counter[str]:
    return Counter(e.component.removeprefix("task:") for e in events
                   if e.machine == "task_lifecycle" and e.trigger == TaskTrigger.COMPLETE)


def _submit(orchestrator: Orchestrator, count: int) -> list[str]:
    """`count` noop workflows through `runtime.SyncClient`'s bulk submit; their task ids."""
    with SyncClient(orchestrator.url, CLIENT_TOKEN) as client:
        created = client.submit_many([WorkflowRequest(type="noop") for _ in range(count)])
    return [task for workflow in created for task in workflow.task_ids]


def test_two_replicas_run_2000_tasks_and_the_survivor_takes_over_when_the_leader_is_killed(
    tmp_path: Path, postgres_server: PostgresServer,
) -> None:
    database = postgres_server.create_database(migrated=False)
    url = postgres_server.url(database, password=False)
    env = {"PGPASSWORD": PASSWORD}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    leader = Orchestrator(tmp_path / "a", db=url, env=env, extra_config=CONFIG)
    workers: list[Worker] = []
    survivor: Orchestrator | None = None
    try:
        leader_trace = _TraceTail(leader.trace)
        wait_for(lambda: leader_trace.first("leader_election", LeaderTrigger.LOCK_ACQUIRED),
                 "the first replica to lead")
        survivor = Orchestrator(tmp_path / "b", db=url, env=env, extra_config=CONFIG)
        survivor_trace = _TraceTail(survivor.trace)
        wait_for(lambda: survivor_trace.first("leader_election", LeaderTrigger.LOCK_BUSY),
                 "the second replica to stand by")
        assert survivor.http.get("/health/ready").json()["leadership"]["state"] == "standby"
        both_from_a, both_from_b = f"{leader.url},{survivor.url}", f"{survivor.url},{leader.url}"
        slots = ("--tasks-per-poll", str(SLOTS))
        stranded = Worker(leader, "a1", *slots)  # knows only the replica that dies
        # A second --orchestrator overrides the harness's one (argparse keeps the last): both URLs, own first.
        workers += [stranded, Worker(leader, "a2", "--orchestrator", both_from_a, *slots)]
        workers += [Worker(survivor, f"b{n}", "--orchestrator", both_from_b, *slots) for n in (1, 2)]
        for worker in workers:
            worker.wait_registered()
        task_ids = _submit(leader, TASKS // 2) + _submit(survivor, TASKS - TASKS // 2)
        assert len(set(task_ids)) == TASKS
        wait_for(lambda: _completed(postgres_server, database) >= TASKS // 4, "a quarter of the tasks to complete",
                 interval=0.2)
        leader.process.send_signal(signal.SIGKILL)
        killed = time.time()
        leader.process.wait()
        took_over = wait_for(lambda: survivor_trace.first("leader_election", LeaderTrigger.LOCK_ACQUIRED),
                             "the survivor to take the sweeps over")
        assert took_over - killed <= LEADERSHIP.failover_bound_s + SLACK_S, took_over - killed
        ready = survivor.http.get("/health/ready").json()["leadership"]
        assert ready["state"] == "leading" and ready["leading"] is True
        # The sweeps resumed: the survivor's health monitor finds the stranded worker silent, counting
        # its timeout from the takeover at the latest (`spec.decisions.liveness.HEARTBEAT_GRACE`).
        detected = wait_for(lambda: survivor_trace.first("worker_lifecycle", WorkerTrigger.HEARTBEATS_MISSED,
                                                         f"worker:{stranded.worker_id}"),
                            "the survivor's health monitor to take the stranded worker out of rotation")
        assert detected - took_over <= HEARTBEAT.detection_window_s()[1] + SLACK_S, detected - took_over
        wait_for(lambda: _completed(postgres_server, database) == TASKS, "every acknowledged task to complete",
                 timeout=DRAIN_S, interval=0.5)
        assert survivor.worker(stranded.worker_id)["status"] == "unhealthy"  # type: ignore[index]
        store = _store_completions(postgres_server, database)
    finally:
        for worker in workers:
            worker.stop()
        leader.stop()
        if survivor is not None:
            survivor.stop()
        postgres_server.drop_databases([database])
    assert set(store) == set(task_ids), "every acknowledged task completed (store)"
    assert set(store.values()) == {1}, "no task completed twice (store)"
    worker_events = [e for worker in workers for e in worker.events()]
    by_workers = _trace_completions(worker_events)
    assert set(by_workers) <= set(task_ids) and set(by_workers.values()) <= {1}, "no task completed twice (workers)"
    failed_over = workers[1]  # a2: registered with the dead replica, its token must work on the survivor
    assert _trace_completions([e for e in failed_over.events() if e.time > killed]), \
        "the worker that knows both replicas kept completing tasks on the survivor"
    # Each replica stamps a transition when it writes it, after its commit: merged along each component's
    # chain of states within the slack, not by stamp alone (`spec.trace_merge`).
    events = merge_traces([read_trace(leader.trace), read_trace(survivor.trace)], PLATFORM.machines, slack_s=SLACK_S)
    by_orchestrators = _trace_completions(events)
    assert set(by_orchestrators) <= set(task_ids) and set(by_orchestrators.values()) == {1}, \
        "no task completed twice (orchestrators' traces)"
    # A replica traces a transition after its commit: SIGKILLed in between, the leader's trace lacks
    # the completions it had just committed (the store and the workers' traces have them, above). Any
    # completion missing from the traces must be one of those: its task last seen on the leader.
    last_seen = {e.component.removeprefix("task:"): e for e in events if e.machine == "task_lifecycle"}
    missing = set(task_ids) - set(by_orchestrators)
    assert all(last_seen[t].time <= killed for t in missing if t in last_seen), \
        "only completions cut off by the kill are untraced"
    assert len(missing) <= len(task_ids) // 10, f"{len(missing)} completions missing from the traces"
    policies = Policies(heartbeat=HEARTBEAT, leadership=LEADERSHIP)
    report = dataclasses.replace(PLATFORM, policies=policies).check_trace(events, tolerance_s=SLACK_S)
    assert report.ok, report.format()
    for written in [*tmp_path.rglob("*.err"), *tmp_path.rglob("*.jsonl")]:
        assert PASSWORD not in written.read_text(encoding="utf-8"), f"the password reached {written.name}"
