"""Replicas in the simulator (sim.replicas) and the failover check (sim.lifecycle_checks.check_failover):
the leader_failover scenario takes over within the bound and replays on the spec; a late takeover, two
leaders at once and a replica crash without replicas are caught; one orchestrator elects nobody."""

from __future__ import annotations

import dataclasses

import pytest

from sim import ScenarioError, resolve, run_scenario
from sim.lifecycle_checks import check_failover
from sim.model import RunResult
from sim.recorder import Entry
from sim.scenario import scenario_from_mapping
from spec.machines.leader_election import LeaderTrigger
from spec.platform import PLATFORM


@pytest.fixture(scope="module")
def failover_run() -> RunResult:
    return run_scenario(resolve("leader_failover"))


def _takeover(run: RunResult) -> Entry:
    crash = next(f.at for f in run.scenario.faults if getattr(f, "replica", None) is not None)
    return next(e for e in run.entries if e.machine == "leader_election" and e.time >= crash
                and e.trigger == LeaderTrigger.LOCK_ACQUIRED)


def test_the_standby_takes_over_within_the_bound_and_the_trace_replays_on_the_spec(failover_run: RunResult) -> None:
    checked = check_failover(failover_run)
    assert checked.status == "pass", checked.violations
    policy = failover_run.scenario.policies.leadership
    crash = next(f.at for f in failover_run.scenario.faults if getattr(f, "replica", None) is not None)
    delay = _takeover(failover_run).time - crash
    assert 0 < delay <= policy.acquire_interval_s  # a crashed process's session ends at once
    report = dataclasses.replace(PLATFORM, policies=failover_run.scenario.policies).check_trace(
        failover_run.recorder.events())
    assert report.ok, report.format()


def test_a_late_takeover_is_a_violation(failover_run: RunResult) -> None:
    late = _takeover(failover_run)
    bound = failover_run.scenario.policies.leadership.failover_bound_s
    entries = [e._replace(time=e.time + bound + 1) if e is late else e for e in failover_run.entries]
    checked = check_failover(dataclasses.replace(failover_run, entries=sorted(entries, key=lambda e: e.time)))
    assert checked.status == "fail" and "another replica led after" in checked.violations[0]


def test_two_leaders_at_once_is_a_violation(failover_run: RunResult) -> None:
    first = next(e for e in failover_run.entries if e.trigger == LeaderTrigger.LOCK_ACQUIRED)
    rogue = first._replace(component="replica-2#1.leader_election", time=first.time + 1)
    checked = check_failover(dataclasses.replace(
        failover_run, entries=sorted([*failover_run.entries, rogue], key=lambda e: e.time)))
    assert checked.status == "fail" and "while replica-1#1.leader_election led" in checked.violations[0]


def test_a_replica_crash_needs_two_replicas_and_names_the_field() -> None:
    raw = {"name": "x", "description": "d", "duration_s": 100, "topology": {"replicas": 1},
           "faults": [{"kind": "replica_crash", "at": 5, "replica": 1}]}
    with pytest.raises(ScenarioError, match=r"faults\[0\]\.replica.*topology.replicas >= 2"):
        scenario_from_mapping(raw, source="x.yaml")
    raw["topology"] = {"replicas": 2}
    raw["faults"] = [{"kind": "replica_crash", "at": 5, "replica": 3}]
    with pytest.raises(ScenarioError, match="replica 3 does not exist; topology has 2"):
        scenario_from_mapping(raw, source="x.yaml")


def test_one_orchestrator_elects_nobody_and_the_check_is_not_applicable() -> None:
    run = run_scenario(resolve("baseline"))
    assert not [e for e in run.entries if e.machine == "leader_election"]
    assert check_failover(run).status == "n/a"


def test_a_leader_cut_off_from_the_database_steps_down_when_its_lease_ends() -> None:
    raw = {"name": "x", "description": "d", "duration_s": 120, "topology": {"workers": 1, "replicas": 2},
           "workload": {"tasks": 0}, "faults": [{"kind": "database_outage", "at": 30, "duration": 40}]}
    run = run_scenario(scenario_from_mapping(raw, source="x.yaml"))
    lease = run.scenario.policies.leadership.lease_s
    expired = [e for e in run.entries if e.trigger == LeaderTrigger.LEASE_EXPIRED]
    assert expired and 30 + lease - 2 <= expired[0].time <= 30 + lease + 1
    assert check_failover(run).status != "fail"
    report = dataclasses.replace(PLATFORM, policies=run.scenario.policies).check_trace(run.recorder.events())
    assert report.ok, report.format()


def test_a_leader_that_crashes_while_the_database_is_down_is_replaced_once_it_answers() -> None:
    """Regression (``python -m sim fuzz --seed 10``): the database is down from 59.1 to 117.9 s and the
    leader crashes at 62.3 s, still within its lease; nobody can take the lock before 117.9 s, and the
    check used to call the takeover at 118 s late. The bound counts from the database's return
    (`spec.decisions.leadership.takeover_due`)."""
    run = run_scenario(scenario_from_mapping({
        "name": "outage_then_leader_crash", "description": "the leader crashes during a database outage",
        "duration_s": 600, "topology": {"workers": 3, "replicas": 2},
        "workload": {"tasks": 30, "rate_per_s": 0.1, "mean_service_s": 20},
        "faults": [{"kind": "database_outage", "at": 59.1, "duration": 58.8},
                   {"kind": "replica_crash", "replica": 1, "at": 62.3, "restart_after": 163.1}]}, source="<test>"))
    checked = check_failover(run)
    assert checked.status == "pass", checked.violations
    takeover = _takeover(run).time
    assert 117.9 <= takeover <= 117.9 + run.scenario.policies.leadership.failover_bound_s
