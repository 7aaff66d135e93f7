from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from sim import fuzz, load_scenario


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
