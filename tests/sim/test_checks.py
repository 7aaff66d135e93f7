"""Every check passes on the catalogue run it is about, and fails when the trace is tampered with."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim import RunResult, catalogue, evaluate, run_checks, run_scenario, scenario_from_mapping
from sim.catalogue import CHECK_SEEDS
from sim.checks import (
    check_breaker,
    check_exactly_once,
    check_graceful_shutdown,
    check_heartbeat_detection,
    check_rate_limit_wait,
    check_recovery_bound,
    check_retry_schedule,
    check_startup_timeouts,
    recovery_bounds,
)
from sim.fuzz import DEFAULT_BASE
from sim.recorder import Entry
from spec.policies import DEFAULT_POLICIES
from spec.trace import TraceKey


def _shift(run: RunResult, match: object, delta: float) -> RunResult:
    """Delay the first entry for which `match(entry)` holds."""
    entries = list(run.entries)
    index = next(i for i, e in enumerate(entries) if match(e))  # type: ignore[operator]
    entries[index] = entries[index]._replace(time=entries[index].time + delta)
    return replace(run, entries=entries)


@pytest.mark.parametrize("name", ["baseline", "ai_provider_5xx", "rate_limit_retry_after", "worker_crash",
                                  "graceful_shutdown", "orchestrator_crash", "startup_timeout", "network_loss"])
def test_catalogue_runs_pass_every_check(runs: dict[str, RunResult], name: str) -> None:
    failed = [(c.name, c.violations) for c in run_checks(runs[name]) if c.failed]
    assert failed == []


def test_retry_schedule_measures_the_policy_delays_and_catches_a_wrong_one(runs: dict[str, RunResult]) -> None:
    run = runs["ai_provider_5xx"]
    ok = check_retry_schedule(run)
    assert ok.status == "pass" and "[1.0, 2.0, 4.0]" in ok.measured
    bad = check_retry_schedule(_shift(run, lambda e: e.machine == "retry" and e.trigger == "retry", 0.5))
    assert bad.status == "fail" and "expected delay 1 s, got 1.5 s" in bad.violations[0]


def test_breaker_opens_on_the_threshold_and_stays_open(runs: dict[str, RunResult]) -> None:
    run = runs["ai_provider_5xx"]
    assert check_breaker(run).status == "pass"
    # Drop one counted failure before the trip: the trip then happens on failure 4.
    entries = list(run.entries)
    trip = next(i for i, e in enumerate(entries) if e.trigger == "trip")
    last_failure = max(i for i, e in enumerate(entries[:trip]) if e.trigger == "record_failure")
    del entries[last_failure]
    assert "expected trip on failure 5 within 60 s, got failure 4" in check_breaker(
        replace(run, entries=entries)).violations[0]
    early = _shift(run, lambda e: e.trigger == "probe", -100.0)
    assert any("trial allowed too early" in v for v in check_breaker(early).violations)


def test_breaker_allows_exactly_one_trial(runs: dict[str, RunResult]) -> None:
    run = runs["ai_provider_5xx"]
    probe = next(e for e in run.entries if e.trigger == "probe")
    entries = list(run.entries)
    at = entries.index(probe)
    # A second trial admitted while the first is in flight.
    entries.insert(at + 1, probe._replace(source="open", dest="half_open"))
    assert any("a second trial while one is in flight" in v
               for v in check_breaker(replace(run, entries=entries)).violations)


def test_rate_limited_calls_wait_retry_after(runs: dict[str, RunResult]) -> None:
    run = runs["rate_limit_retry_after"]
    ok = check_rate_limit_wait(run)
    assert ok.status == "pass" and "[7.0]" in ok.measured
    bad = check_rate_limit_wait(_shift(run, lambda e: e.machine == "rate_limit" and e.trigger == "retry", -2.0))
    assert bad.status == "fail" and "retried before Retry-After: expected >= 7 s" in bad.violations[0]


def test_crash_detected_within_window_and_tasks_requeued(runs: dict[str, RunResult]) -> None:
    run = runs["worker_crash"]
    ok = check_heartbeat_detection(run)
    low, high = DEFAULT_POLICIES.heartbeat.detection_window_s()
    assert ok.status == "pass" and "1 detections" in ok.measured
    late = check_heartbeat_detection(_shift(run, lambda e: e.trigger == "heartbeats_missed", 5.0))
    assert any(f"window is [{low:g}, {high:g}]" in v for v in late.violations)
    entries = [e for e in run.entries if not (e.trigger == "lease_lost" and (e.data or {}).get("reason")
                                              == "worker unhealthy")]
    assert any("not re-queued" in v for v in check_heartbeat_detection(replace(run, entries=entries)).violations)
    undetected = [e for e in run.entries if e.trigger != "heartbeats_missed"]
    assert any("not detected" in v for v in check_heartbeat_detection(replace(run, entries=undetected)).violations)


def test_exactly_once_catches_lost_and_duplicated_tasks(runs: dict[str, RunResult]) -> None:
    run = runs["worker_crash"]
    assert check_exactly_once(run).status == "pass"
    complete = next(e for e in run.entries if e.trigger == "complete")
    duplicated = replace(run, entries=[*run.entries, complete._replace(time=run.sim_time_s)])
    assert "completed 2 times" in check_exactly_once(duplicated).violations[0]
    states = dict(run.final_task_states)
    states[next(iter(states))] = "queued"
    assert "lost" in check_exactly_once(replace(run, final_task_states=states)).violations[0]


def test_failed_task_needs_a_reason(runs: dict[str, RunResult]) -> None:
    run = runs["ai_provider_5xx"]
    assert check_exactly_once(run).status == "pass"
    entries = [e._replace(data={}) if e.trigger == "fail" else e for e in run.entries]
    assert "without a reason" in check_exactly_once(replace(run, entries=entries)).violations[0]


def test_graceful_shutdown_deadline_and_no_lease_after_stop(runs: dict[str, RunResult]) -> None:
    run = runs["graceful_shutdown"]
    assert check_graceful_shutdown(run).status == "pass"
    slow = _shift(run, lambda e: e.dest == "stopped" and e.machine == "orchestrator_shutdown", 30.0)
    assert "deadline 70 s" in check_graceful_shutdown(slow).violations[0]
    stop = next(e for e in run.entries if e.machine == "orchestrator_shutdown")
    lease = Entry(stop.time + 1, "task:t999", "task_lifecycle", "assign", "queued", "assigned", {"worker": "worker-1"})
    leaked = replace(run, entries=[*run.entries, lease])
    assert any("after shutdown began" in v for v in check_graceful_shutdown(leaked).violations)


def test_startup_phases_respect_their_timeouts(runs: dict[str, RunResult]) -> None:
    run = runs["startup_timeout"]
    ok = check_startup_timeouts(run)
    assert ok.status == "pass" and "100%" in ok.measured  # the database phase used all of its 30 s
    over = _shift(run, lambda e: e.machine == "orchestrator_startup" and e.trigger == "startup_timed_out", 3.0)
    assert any("timed out in starting_database after 33" in v for v in check_startup_timeouts(over).violations)
    early = _shift(run, lambda e: e.machine == "orchestrator_startup" and e.trigger == "startup_timed_out", -3.0)
    assert any("after 27.000 s, its database_timeout_s budget allowed 30.000 s" in v
               for v in check_startup_timeouts(early).violations)


def test_recovery_bound_is_derived_from_policies(runs: dict[str, RunResult]) -> None:
    startup, hb = DEFAULT_POLICIES.startup, DEFAULT_POLICIES.heartbeat
    machine, orphans = recovery_bounds(DEFAULT_POLICIES)
    assert machine == startup.database_timeout_s + startup.services_timeout_s
    assert orphans == machine + hb.timeout_s + hb.sweep_interval_s
    run = runs["orchestrator_crash"]
    assert check_recovery_bound(run).status == "pass"
    slow = _shift(run, lambda e: e.machine == "orchestrator_recovery" and e.dest == "recovered", machine)
    assert any("recovery took" in v for v in check_recovery_bound(slow).violations)
    never = replace(run, entries=[e for e in run.entries if not (e.trigger == "lease_lost" and
                                                                 (e.data or {}).get("reason") == "worker unhealthy")])
    assert any("orphaned on worker-2" in v for v in check_recovery_bound(never).violations)


def test_exercised_checks_must_not_be_vacuous(runs: dict[str, RunResult]) -> None:
    run = runs["baseline"]
    expect = run.scenario.expect.model_copy(update={"exercises": ("breaker",)})
    scenario = run.scenario.model_copy(update={"expect": expect})
    results = {c.name: c for c in run_checks(replace(run, scenario=scenario))}
    assert results["breaker"].status == "fail"


@pytest.mark.parametrize("seed", [None, *CHECK_SEEDS], ids=lambda seed: f"seed-{seed or 'own'}")
def test_whole_catalogue_passes_with_its_expectations(seed: int | None) -> None:
    """Under each scenario's own seed and `sim.catalogue.CHECK_SEEDS` (issue 11: a check holds for every seed)."""
    failed = {}
    for scenario in catalogue():
        outcome = evaluate(scenario, seed, determinism=False)
        bad = [(c.name, c.violations[:2]) for c in outcome.checks if c.failed]
        if bad:
            failed[scenario.name] = bad
    assert failed == {}


def test_expected_transitions_that_never_fire_fail_the_run(runs: dict[str, RunResult]) -> None:
    run = runs["baseline"]
    expect = run.scenario.expect.model_copy(update={"transitions": ("circuit_breaker.trip",)})
    results = {c.name: c for c in run_checks(replace(run, scenario=run.scenario.model_copy(update={"expect": expect})))}
    assert results["expected_transitions"].violations == ["circuit_breaker.trip never fired"]


def test_backoff_jitter_stays_within_the_policy_spread() -> None:
    from sim import resolve

    base = resolve("database_outage")
    backoff = base.policies.backoff.model_copy(update={"jitter": 0.5})
    scenario = base.model_copy(update={"policies": base.policies.model_copy(update={"backoff": backoff})})
    run = run_scenario(scenario)
    result = check_retry_schedule(run)
    assert result.status == "pass"
    delays = [(e.data or {}).get(TraceKey.DELAY_S) for e in run.entries if e.trigger == "fail_retryable"]
    assert len(set(delays)) > 3  # jittered, not the bare 1/2/4
    assert run_scenario(scenario).digest == run.digest  # jitter comes from the seeded stream


# -- a worker that crashes while the orchestrator is down (regression: python -m sim fuzz) ---------

def _worker_crash(at: float, down_s: float | None) -> dict[str, object]:
    fault: dict[str, object] = {"at": at, "kind": "worker_crash", "worker": 1}
    return fault if down_s is None else {**fault, "restart_after": down_s}


def _fuzz_run(faults: list[dict[str, object]], replicas: int = 1) -> RunResult:
    return run_scenario(scenario_from_mapping(
        {**DEFAULT_BASE, "topology": {"workers": 3, "replicas": replicas}, "faults": faults}, source="<test>"))


def _orchestrator_down_run(worker_down_s: float | None, replicas: int = 1) -> RunResult:
    """The schedule ``python -m sim fuzz`` shrank: the orchestrator is down from 121 to 241 s and
    worker-1 crashes at 177 s, for `worker_down_s` (None: for good)."""
    return _fuzz_run([_worker_crash(0.0, 1.0), {"at": 121.0, "kind": "orchestrator_crash", "restart_after": 120.0},
                      _worker_crash(177.0, worker_down_s)], replicas)


def test_a_worker_back_before_the_orchestrator_is_not_expected_to_be_detected() -> None:
    """Worker-1's last heartbeat reached the orchestrator at 111 s, before it crashed at 121 s; the
    check used to expect a detection at 151 s — before the worker even crashed, and while nothing
    swept. The window starts again at the recovery's grace (241.1 s), and the worker is back at 238 s."""
    for replicas in (1, 2):
        checked = check_heartbeat_detection(_orchestrator_down_run(61.0, replicas=replicas))
        assert not checked.failed, checked.violations


def test_a_worker_still_down_after_the_restart_is_detected_one_window_after_the_grace() -> None:
    """The restarted orchestrator sweeps with a fresh timeout for every worker: a worker that stays
    down is detected within the window of the recovery's ``workflows_resumed``, and the check holds
    the simulator to it."""
    run = _orchestrator_down_run(None)
    checked = check_heartbeat_detection(run)
    assert checked.status == "pass" and "1 detections" in checked.measured, checked.violations
    resumed = next(e.time for e in run.entries if e.trigger == "workflows_resumed" and e.time > 121.0)
    detected = next(e.time for e in run.entries if e.trigger == "heartbeats_missed")
    assert DEFAULT_POLICIES.heartbeat.detection_window_s()[0] <= detected - resumed
    undetected = replace(run, entries=[e for e in run.entries if e.trigger != "heartbeats_missed"])
    due = resumed + DEFAULT_POLICIES.heartbeat.detection_window_s()[1]
    assert check_heartbeat_detection(undetected).violations == [
        f"worker-1: crashed at 177.000, not detected by {due:.3f} (40 s after its last heartbeat or the "
        "restart's grace)"]


@settings(max_examples=25, deadline=None)
@given(orchestrator_at=st.floats(5, 400).map(lambda t: round(t, 1)),
       orchestrator_down=st.floats(1, 150).map(lambda t: round(t, 1)),
       worker_at=st.floats(5, 450).map(lambda t: round(t, 1)),
       worker_down=st.one_of(st.none(), st.floats(1, 200).map(lambda t: round(t, 1))))
def test_heartbeat_detection_holds_whenever_a_worker_and_the_orchestrator_crash(
        orchestrator_at: float, orchestrator_down: float, worker_at: float, worker_down: float | None) -> None:
    """Any crash of worker-1 against any orchestrator outage on one replica: the simulator detects
    what the spec says is due (`LivenessRules.detection_due`), never earlier than the window."""
    checked = check_heartbeat_detection(_fuzz_run([
        {"at": orchestrator_at, "kind": "orchestrator_crash", "restart_after": orchestrator_down},
        _worker_crash(worker_at, worker_down)]))
    assert not checked.failed, checked.violations
