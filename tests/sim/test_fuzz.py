from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from rich.console import Console

from sim import fuzz, load_scenario
from sim.fuzz import fault_strategies, schedule_scenario, violations
from sim.scenario import scenario_from_mapping
from spec.injected_faults import InjectedFault

ROOT = Path(__file__).resolve().parents[2]


def test_search_shrinks_to_a_minimal_failing_schedule_and_writes_a_replayable_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Pretend the spec is violated whenever a worker crashes at or after 50 s.
    def violations(scenario: Any) -> list[str]:
        return ["planted"] if any(f.kind == "worker_crash" and f.at >= 50 for f in scenario.faults) else []

    monkeypatch.setattr(fuzz, "violations", violations)
    found = fuzz.search(examples=300, seed=3)
    assert found is not None
    assert len(found) == 1 and found[0]["kind"] == "worker_crash" and found[0]["at"] == 50.0
    out = tmp_path / "minimal.yaml"
    with open(tmp_path / "log", "w", encoding="utf-8") as log:
        assert fuzz.fuzz_command(Console(file=log), examples=300, seed=3, out=out) == 1
    replay = load_scenario(out)
    assert [f.kind for f in replay.faults] == ["worker_crash"]
    assert replay.faults[0].at == 50.0


def test_real_search_over_a_few_schedules_finds_no_violation() -> None:
    assert fuzz.search(examples=8, seed=11) is None


def test_a_users_scenario_is_the_base_of_the_search(tmp_path: Path) -> None:
    """``fuzz --base FILE`` (issue 17): the user's topology, workload and faults, plus the drawn
    schedule; the drawn workers exist in that topology; its expectations are not applied."""
    base = scenario_from_mapping({
        "name": "mine", "description": "a user's own scenario", "duration_s": 300, "topology": {"workers": 5},
        "workload": {"tasks": 10}, "faults": [{"kind": "database_outage", "at": 10, "duration": 5}],
        "expect": {"min_completed": 10_000},
    }, source="mine.yaml")
    drawn = [{"kind": "worker_crash", "at": 20.0, "worker": 5, "restart_after": 10.0}]
    combined = schedule_scenario(drawn, base=base)
    assert combined.topology.workers == 5 and combined.duration_s == 300
    assert [f.kind for f in combined.faults] == ["database_outage", "worker_crash"]
    assert combined.expect == type(base.expect)()
    assert violations(combined) == []  # min_completed would fail; an expectation is not a violation


@given(fault_strategies(5, 300)[InjectedFault.WORKER_CRASH])
def test_drawn_faults_fit_the_base_topology_and_horizon(fault: dict[str, Any]) -> None:
    assert 1 <= fault["worker"] <= 5 and fault["at"] <= 200


def test_the_command_line_fuzzes_on_top_of_a_scenario_file(tmp_path: Path) -> None:
    base = tmp_path / "mine.yaml"
    base.write_text("name: mine\ndescription: d\nduration_s: 200\ntopology: {workers: 2}\nworkload: {tasks: 4}\n")
    out = subprocess.run([sys.executable, "-m", "sim", "fuzz", "--base", str(base), "--examples", "3",
                          "--out", str(tmp_path / "found.yaml")], capture_output=True, text=True, timeout=300,
                         cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode in (0, 1), out.stderr
    assert "on top of mine" in out.stdout
