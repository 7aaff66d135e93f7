"""Two orchestrator replicas in one process on one PostgreSQL database (runtime.orchestrator.leadership):
one leads and sweeps, the other stands by; when the leader stops or its session is ended, the other
takes over within ``LeadershipPolicy.failover_bound_s``; both traces together replay on the spec. On
SQLite the one orchestrator leads from its start without an election."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from runtime.config import OrchestratorSettings
from runtime.orchestrator import Orchestrator
from spec.machines.leader_election import LeaderState, LeaderTrigger
from spec.platform import PLATFORM
from spec.policies import LeadershipPolicy
from spec.trace import read_trace
from tests.postgres_server import PostgresServer
from tests.runtime.orchestrator.orch_helpers import AUTH, make_settings, until

pytestmark = pytest.mark.anyio

FAST = LeadershipPolicy(acquire_interval_s=0.1, renew_interval_s=0.2, lease_s=3.0)


def _replica(tmp_path: Path, server: PostgresServer, database: str, name: str) -> OrchestratorSettings:
    settings = make_settings(tmp_path, leadership=FAST)
    return settings.model_copy(update={"db": server.location(database), "trace": tmp_path / f"{name}.jsonl"})


async def _leadership(orch: Orchestrator) -> dict[str, object]:
    async with httpx.AsyncClient(base_url=orch.url, headers=AUTH, timeout=30) as http:
        response = await http.get("/health/ready")
    body: dict[str, object] = response.json()["leadership"]
    return body


async def test_sqlite_leads_without_an_election(orch: Orchestrator) -> None:
    assert orch.leadership.leading and not orch.leadership.elected
    assert await _leadership(orch) == {"elected": False, "state": "leading", "leading": True, "since": None}


async def test_one_replica_leads_and_the_other_takes_over_when_it_stops(
    tmp_path: Path, postgres_server: PostgresServer,
) -> None:
    database = postgres_server.create_database()
    first = Orchestrator(_replica(tmp_path, postgres_server, database, "first"))
    second = Orchestrator(_replica(tmp_path, postgres_server, database, "second"))
    try:
        await first.start()
        await until(lambda: first.leadership.leading, "the first replica to lead")
        await second.start()
        await until(lambda: second.leadership.machine is not None and second.leadership._busy_traced,
                    "the second replica to find the lock taken")
        assert not second.leadership.leading and first.consistency_task is not None
        assert second.consistency_task is None, "a standby runs no consistency checks"
        assert (await _leadership(second))["state"] == LeaderState.STANDBY
        await first.stop()
        stopped = time.monotonic()
        await until(lambda: second.leadership.leading, "the second replica to take over", FAST.failover_bound_s * 3)
        assert time.monotonic() - stopped <= FAST.failover_bound_s
        assert (await _leadership(second))["state"] == LeaderState.LEADING
    finally:
        await first.stop()
        await second.stop()
        postgres_server.drop_databases([database])
    events = sorted([*read_trace(tmp_path / "first.jsonl"), *read_trace(tmp_path / "second.jsonl")],
                    key=lambda e: e.time)
    elections = [(e.component.split(".")[0], e.trigger) for e in events if e.machine == "leader_election"]
    assert elections[0][1] == LeaderTrigger.LOCK_ACQUIRED and elections[-1][1] == LeaderTrigger.RESIGN
    assert [t for _, t in elections].count(LeaderTrigger.LOCK_BUSY) == 1, "a standby traces its first busy only"
    report = PLATFORM.check_trace(events, tolerance_s=0.5)
    assert report.ok, report.format()


async def test_a_leader_whose_session_was_ended_steps_down_and_the_standby_leads(
    tmp_path: Path, postgres_server: PostgresServer,
) -> None:
    database = postgres_server.create_database()
    first = Orchestrator(_replica(tmp_path, postgres_server, database, "first"))
    second = Orchestrator(_replica(tmp_path, postgres_server, database, "second"))
    try:
        await first.start()
        await until(lambda: first.leadership.leading, "the first replica to lead")
        await second.start()
        postgres_server.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE application_name = 'orchestrator-leader-election' "
                            "AND pid IN (SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted)",
                            database=database)
        await until(lambda: second.leadership.leading and not first.leadership.leading,
                    "the standby to lead and the old leader to step down", FAST.failover_bound_s * 3)
    finally:
        await first.stop()
        await second.stop()
        postgres_server.drop_databases([database])
    events = sorted([*read_trace(tmp_path / "first.jsonl"), *read_trace(tmp_path / "second.jsonl")],
                    key=lambda e: e.time)
    first_triggers = [e.trigger for e in events if e.machine == "leader_election" and e.component.startswith(
        first.component("x").split(".")[0])]
    assert LeaderTrigger.LOCK_LOST in first_triggers
    report = PLATFORM.check_trace(events, tolerance_s=0.5)
    assert report.ok, report.format()
