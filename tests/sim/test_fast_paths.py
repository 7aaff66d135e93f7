"""The model's fast paths keep its meaning: trace hash, heartbeat timers, long polls, health sweep."""

from __future__ import annotations

from sim import Entry, RunResult, resolve, run_scenario, trace_digest
from sim.bench import fleet_scenario
from sim.model import Model


def test_trace_hash_covers_every_field_and_any_iterable(runs: dict[str, RunResult]) -> None:
    entries = runs["baseline"].entries
    digest = trace_digest(entries)
    assert trace_digest(iter(entries)) == digest == runs["baseline"].digest
    i = next(n for n, e in enumerate(entries) if e.data)
    e = entries[i]
    changed = [
        e._replace(time=e.time + 1e-9), e._replace(component=e.component + "x"), e._replace(machine="retry"),
        e._replace(trigger=e.trigger + "x"), e._replace(source=e.source + "x"), e._replace(dest=e.dest + "x"),
        e._replace(data={**(e.data or {}), "extra": 1}), e._replace(data=None),
    ]
    digests = {trace_digest([*entries[:i], c, *entries[i + 1:]]) for c in changed}
    assert len(digests) == len(changed) and digest not in digests
    assert trace_digest(entries[:-1]) != digest
    # A value that moves from one field to the next changes the hash too.
    a = Entry(1.0, "c", "m", "t", "s", "d", None)
    b = Entry(1.0, "c", "m", "t", "sd", "", None)
    assert trace_digest([a]) != trace_digest([b])


def _heartbeats(run: RunResult, worker: str) -> list[float]:
    return [e.time for e in run.entries if e.component == f"worker:{worker}" and e.trigger == "heartbeat"]


def test_a_crashed_worker_stops_heartbeating_and_a_restarted_one_resumes() -> None:
    run = run_scenario(resolve("worker_crash_restart"))
    latency = run.scenario.topology.latency_s
    interval = run.scenario.policies.heartbeat.interval_s
    beats = _heartbeats(run, "worker-1")  # crashes at 50, restarts at 140
    assert not [t for t in beats if 50 + latency < t < 140]
    before, after = [t for t in beats if t < 50], [t for t in beats if t > 140]
    # After the restart, re-registration itself counts as the first heartbeat; the timer's follow.
    registered, timed = after[0], after[1:]
    assert registered < 141 and timed
    for series in (before, timed):
        assert all(round(b - a, 6) == interval for a, b in zip(series, series[1:], strict=False))


def test_idle_workers_long_poll_until_the_timer_and_the_wait_queue_stays_small() -> None:
    scenario = fleet_scenario(workers=3, duration_s=900.0)
    model = Model(scenario)
    run = model.run()
    polls = [e for e in run.entries if e.component == "worker:worker-1" and e.trigger in ("poll", "no_task_available")]
    assert [e.trigger for e in polls[:4]] == ["poll", "no_task_available"] * 2
    long_poll = scenario.policies.poll.long_poll_s
    waits = [b.time - a.time for a, b in zip(polls[::2], polls[1::2], strict=False)]
    assert waits and all(abs(w - long_poll) < 1e-6 for w in waits)
    # Ended waits are dropped as new ones queue: about one entry per worker, not one per poll.
    assert len(model.orchestrator.pollers) <= scenario.topology.workers
    assert not [e for e in run.entries if e.trigger == "heartbeats_missed"]


def test_the_health_sweep_still_detects_a_silent_worker_among_healthy_ones(runs: dict[str, RunResult]) -> None:
    run = runs["worker_crash"]  # worker 2 crashes for good at 60 s
    timeout = run.scenario.policies.heartbeat.timeout_s
    sweep = run.scenario.policies.heartbeat.sweep_interval_s
    last = max(_heartbeats(run, "worker-2"))
    (missed,) = [e for e in run.entries if e.trigger == "heartbeats_missed"]
    assert missed.component == "worker:worker-2"
    assert last + timeout <= missed.time <= last + timeout + sweep
