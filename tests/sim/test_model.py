"""The model runs the spec's machines: traces replay on them, render, and are deterministic."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

from sim import RunResult, resolve, run_scenario
from spec.machines import MACHINES
from spec.render import render_trace
from spec.trace import read_trace, write_trace

ROOT = Path(__file__).resolve().parents[2]


def test_baseline_completes_every_task_through_the_spec_machines(runs: dict[str, RunResult]) -> None:
    run = runs["baseline"]
    assert run.settled
    assert Counter(run.final_task_states.values()) == {"completed": run.scenario.workload.tasks}
    machines = {e.machine for e in run.entries}
    assert {"orchestrator_startup", "worker_lifecycle", "task_lifecycle", "circuit_breaker"} <= machines


def test_every_traced_transition_is_legal_on_its_machine(runs: dict[str, RunResult]) -> None:
    for run in runs.values():
        state: dict[str, str] = {}
        for e in run.entries:
            spec = MACHINES[e.machine]
            assert state.get(e.component, e.source) == e.source, (run.scenario.name, e)
            assert spec.next_state(e.source, e.trigger) == e.dest
            state[e.component] = e.dest


def test_trace_events_round_trip_and_render(runs: dict[str, RunResult], tmp_path: Path) -> None:
    run = runs["worker_crash"]
    events = run.recorder.events(run.entries[:300])
    path = tmp_path / "trace.jsonl"
    write_trace(path, events)
    assert read_trace(path) == events
    diagram = render_trace(events)
    assert diagram.startswith("sequenceDiagram")
    assert "POST /api/v1/workers/register" in diagram


def test_same_seed_same_trace_other_seed_other_trace() -> None:
    scenario = resolve("network_loss")
    first, second = run_scenario(scenario), run_scenario(scenario)
    assert first.digest == second.digest
    assert [tuple(e) for e in first.entries] == [tuple(e) for e in second.entries]
    assert run_scenario(scenario, seed=scenario.seed + 1).digest != first.digest


def test_trace_hash_does_not_depend_on_python_hash_seed() -> None:
    code = "from sim import resolve, run_scenario; print(run_scenario(resolve('bad_day')).digest)"
    digests = set()
    for hash_seed in ("0", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(ROOT)}
        out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True,
                             check=True, timeout=300)
        digests.add(out.stdout.strip())
    assert len(digests) == 1


def test_crashed_worker_task_is_fenced_not_completed_twice(runs: dict[str, RunResult]) -> None:
    run = runs["network_loss"]
    completes = Counter(e.component for e in run.entries if e.trigger == "complete")
    assert completes and max(completes.values()) == 1
    requeued = {e.component for e in run.entries if e.trigger == "lease_lost"}
    assert requeued, "the lossy link should cost some leases"
    assert all(run.final_task_states[c.removeprefix("task:")] in ("completed", "failed") for c in requeued)
