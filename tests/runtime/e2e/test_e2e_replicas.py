"""Two orchestrator replicas (``python -m runtime orchestrator --db postgresql://...``, password in
``PGPASSWORD``) on one PostgreSQL database, four workers split across them, a few hundred tasks
submitted to both; the leader replica is SIGKILLed mid-run and the other one keeps going: it takes
the cluster-wide sweeps over within ``LeadershipPolicy.failover_bound_s`` (its trace says when), the
workers of the dead replica are taken out of rotation and their leases re-queued, every
acknowledged task completes, and none completes twice."""

from __future__ import annotations

import dataclasses
import signal
import time
from collections import Counter
from pathlib import Path

from spec.machines.leader_election import LeaderTrigger
from spec.platform import PLATFORM
from spec.policies import HeartbeatPolicy, LeadershipPolicy, Policies
from spec.trace import TraceEvent, read_trace
from tests.postgres_server import PASSWORD, PostgresServer
from tests.runtime.e2e.harness import HEARTBEAT_INTERVAL_S, HEARTBEAT_TIMEOUT_S, Orchestrator, Worker, wait_for

TASKS = 240
LEADERSHIP = LeadershipPolicy(acquire_interval_s=0.2, renew_interval_s=0.5, lease_s=3.0)
CONFIG = (f"[policies.leadership]\nacquire_interval_s = {LEADERSHIP.acquire_interval_s}\n"
          f"renew_interval_s = {LEADERSHIP.renew_interval_s}\nlease_s = {LEADERSHIP.lease_s}\n")
#: Scheduling slack on a loaded 2-core machine, on top of the policy's bound.
SLACK_S = 2.0


def _elections(trace: Path) -> list[TraceEvent]:
    return [e for e in read_trace(trace) if e.machine == "leader_election"] if trace.exists() else []


def _completed(server: PostgresServer, database: str) -> int:
    return int(server.sql("SELECT count(*) FROM tasks WHERE status = 'completed'", database=database))


def test_two_replicas_share_the_queue_and_the_survivor_takes_over_when_the_leader_is_killed(
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
        wait_for(lambda: any(e.trigger == LeaderTrigger.LOCK_ACQUIRED for e in _elections(leader.trace)),
                 "the first replica to lead")
        survivor = Orchestrator(tmp_path / "b", db=url, env=env, extra_config=CONFIG)
        wait_for(lambda: any(e.trigger == LeaderTrigger.LOCK_BUSY for e in _elections(survivor.trace)),
                 "the second replica to stand by")
        assert survivor.http.get("/health/ready").json()["leadership"]["state"] == "standby"
        workers += [Worker(leader, f"a{n}", "--tasks-per-poll", "4") for n in (1, 2)]
        workers += [Worker(survivor, f"b{n}", "--tasks-per-poll", "4") for n in (1, 2)]
        for worker in workers:
            worker.wait_registered()
        task_ids = [(leader if n % 2 else survivor).submit("sleep", {"seconds": 0.02, "steps": 1})[1]
                    for n in range(TASKS)]
        wait_for(lambda: _completed(postgres_server, database) >= TASKS // 4, "a quarter of the tasks to complete",
                 interval=0.2)
        leader.process.send_signal(signal.SIGKILL)
        killed = time.time()
        leader.process.wait()
        took_over = wait_for(
            lambda: next((e.time for e in _elections(survivor.trace) if e.trigger == LeaderTrigger.LOCK_ACQUIRED),
                         None),
            "the survivor to take the sweeps over")
        assert took_over - killed <= LEADERSHIP.failover_bound_s + SLACK_S, took_over - killed
        ready = survivor.http.get("/health/ready").json()["leadership"]
        assert ready["state"] == "leading" and ready["leading"] is True
        wait_for(lambda: _completed(postgres_server, database) == TASKS, "every acknowledged task to complete",
                 interval=0.3)
        assert all(survivor.task(t)["status"] == "completed" for t in task_ids)
        # The dead replica's workers cannot heartbeat: the survivor's sweeps take them out of rotation.
        wait_for(lambda: all(survivor.worker(f"e2e-{name}")["status"] == "unhealthy" for name in ("a1", "a2")),
                 "the survivor's health monitor to take the dead replica's workers out of rotation")
    finally:
        for worker in workers:
            worker.stop()
        leader.stop()
        if survivor is not None:
            survivor.stop()
        postgres_server.drop_databases([database])
    events = sorted([*read_trace(leader.trace), *read_trace(survivor.trace)], key=lambda e: e.time)
    completions = Counter(e.component for e in events if e.machine == "task_lifecycle" and e.trigger == "complete")
    assert {f"task:{t}" for t in task_ids} == set(completions), "every acknowledged task completed"
    assert set(completions.values()) == {1}, "no task completed twice"
    assert Counter(e.component.split(":")[0] for e in events if e.trigger == "assign"), "tasks were leased"
    policies = Policies(heartbeat=HeartbeatPolicy(interval_s=HEARTBEAT_INTERVAL_S, timeout_s=HEARTBEAT_TIMEOUT_S),
                        leadership=LEADERSHIP)
    report = dataclasses.replace(PLATFORM, policies=policies).check_trace(events, tolerance_s=SLACK_S)
    assert report.ok, report.format()
    for written in [*tmp_path.rglob("*.err"), *tmp_path.rglob("*.jsonl")]:
        assert PASSWORD not in written.read_text(encoding="utf-8"), f"the password reached {written.name}"
