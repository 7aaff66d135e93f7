"""Regression tests of the simulator's drivers for the disagreements settled in `spec.decisions`."""

from __future__ import annotations

from runtime.worker import Worker
from sim import resolve, run_scenario
from spec.decisions.backoff import BackoffSchedule
from spec.decisions.startup import TIMED_STATES, StartupBudget, budget_of


def test_startup_services_share_one_budget_with_the_logger() -> None:
    """Disagreement 4: eight service steps of 0.05 s each overrun a shared 0.3 s budget, though none
    alone does; the time-out lands in a services state once 0.3 s of them have passed."""
    base = resolve("baseline")
    startup = base.policies.startup.model_copy(update={"services_timeout_s": 0.3})
    scenario = base.model_copy(update={"policies": base.policies.model_copy(update={"startup": startup}),
                                       "duration_s": 30.0})
    run = run_scenario(scenario)
    first = [e for e in run.entries if e.machine == "orchestrator_startup"]
    first = first[: next(i for i, e in enumerate(first) if e.trigger == "startup_timed_out") + 1]
    timed_out = first[-1]
    assert budget_of(timed_out.source) is StartupBudget.SERVICES
    in_services = [after.time - before.time for before, after in zip(first, first[1:], strict=False)
                   if before.dest in TIMED_STATES and budget_of(before.dest) is StartupBudget.SERVICES]
    assert max(in_services) < 0.3 and abs(sum(in_services) - 0.3) < 1e-6
    assert first[2].source == "starting_logger"  # charged to the services budget too


def test_failed_registrations_back_off_on_the_backoff_policy() -> None:
    """Disagreement 7: a worker that finds the orchestrator still starting waits BackoffPolicy's first
    delay (not PollPolicy's idle wait) before it registers again."""
    run = run_scenario(resolve("baseline"))
    policies = run.scenario.policies
    first_registration = min(e.time for e in run.entries if e.trigger == "capabilities_accepted")
    ready = next(e.time for e in run.entries if e.machine == "orchestrator_startup" and e.dest == "running")
    assert ready < policies.poll.min_interval_s < BackoffSchedule(policies.backoff).registration_delay_s(1)
    assert first_registration >= BackoffSchedule(policies.backoff).registration_delay_s(1)


def test_the_runtime_worker_waits_the_same_registration_schedule() -> None:
    """Disagreement 7, the runtime side: the worker agent's registration delays are the core's."""
    worker = Worker("http://127.0.0.1:9", token="t")
    schedule = BackoffSchedule(worker.policies.backoff)
    assert [worker._delay(n) for n in range(1, 80)] == [schedule.registration_delay_s(n) for n in range(1, 80)]
