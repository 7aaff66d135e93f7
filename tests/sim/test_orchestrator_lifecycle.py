"""The model's orchestrator lifecycle (`sim.orchestrator_lifecycle`): crash, recovery, supervision."""

from __future__ import annotations

from sim import run_checks, run_scenario, scenario_from_mapping
from sim.fuzz import DEFAULT_BASE
from spec.machines.recovery import OrchestratorRecoveryTrigger


def test_a_recovery_that_fails_is_restarted_by_the_supervisor() -> None:
    """Regression (``python -m sim fuzz --seed 10``): the orchestrator crashes again during a database
    outage, its recovery cannot reach the database and fails; the supervisor's restart was refused
    because the failed recovery still counted as under way, so the orchestrator stayed down and
    every queued task was lost. The restart must run, and the tasks complete."""
    faults = [{"at": 1.0, "kind": "orchestrator_crash", "restart_after": 1.0},
              {"at": 6.0, "kind": "database_outage", "duration": 54.0},
              {"at": 6.0, "kind": "orchestrator_crash", "restart_after": 50.0}]
    run = run_scenario(scenario_from_mapping({**DEFAULT_BASE, "faults": faults}, source="<test>"))
    recoveries = [(e.time, e.trigger) for e in run.entries if e.machine == "orchestrator_recovery"
                  and e.trigger in (OrchestratorRecoveryTrigger.RECOVERY_ERROR, OrchestratorRecoveryTrigger.RESTART)]
    failed_at = next(t for t, trigger in recoveries if trigger == OrchestratorRecoveryTrigger.RECOVERY_ERROR)
    restarted = [t for t, trigger in recoveries if trigger == OrchestratorRecoveryTrigger.RESTART and t > failed_at]
    assert restarted and restarted[0] == failed_at + run.scenario.topology.supervisor_restart_s
    assert run.ledger.orchestrator_restarts[-1] == restarted[0]
    failed = {c.name: c.violations for c in run_checks(run) if c.failed}
    assert failed == {}, failed
